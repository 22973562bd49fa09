"""The answer key: per exercise its reference implementation, visible and hidden cases, hints and
tolerances; per self-checked question its answer and explanations. Never shipped to students.

Each notebook NN has a module ``nbNN`` that registers its exercises (in notebook order) with
:func:`register`; the module ``understanding`` registers every notebook's self-checked questions with
:func:`register_question`. ``labkit-instructor sync``
records what students may see (titles, hints, visible cases with their expected outputs, the
fallback table) into ``labkit/exercises/bank/``; the grader runs the hidden cases.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Exercise", "Question", "register", "register_question", "exercises", "questions", "get",
           "NOTEBOOKS"]

#: The notebooks that have an exercise module here.
NOTEBOOKS = ("01", "02", "03", "04", "05", "06")
_EXERCISES: dict[str, Exercise] = {}
_QUESTIONS: dict[str, Question] = {}


@dataclass(frozen=True)
class Case:
    """One call of an exercise function: ``args``, ``kwargs`` and a short ``label`` students see."""

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Exercise:
    """An exercise: ``id`` is ``"<notebook>.<function name>"``.

    ``visible`` and ``hidden`` return the cases (built on demand, not at import time): the visible ones
    are recorded into the student bank with their expected outputs; the hidden ones only the grader runs.
    ``hints`` go from conceptual to concrete and never give the solution away. ``reads`` names, per
    table argument, the columns the function reads (or ``"@arg"``: the columns listed in argument
    ``arg``), so the fallback recognises a call whatever other columns the table carries.
    """

    id: str
    title: str
    reference: Callable[..., Any]
    visible: Callable[[], Iterable[Case]]
    hidden: Callable[[], Iterable[Case]]
    hints: tuple[str, ...] = ()
    rtol: float = 1e-6
    atol: float = 1e-9
    reads: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]

    @property
    def notebook(self) -> str:
        return self.id.split(".", 1)[0]


@dataclass(frozen=True)
class Question:
    """A self-checked question: ``choices`` (letters) with ``answer`` one of them, or ``choices=()`` and a
    numeric ``answer`` matched to ``digits`` significant digits. ``explanations`` maps each choice (or
    ``"right"`` for a numeric question) to what the student reads after answering; ``wrong`` is shown for
    a wrong number."""

    id: str
    title: str
    answer: Any
    explanations: Mapping[str, str]
    choices: tuple[str, ...] = ()
    digits: int = 2
    wrong: str = ""


def register(exercise: Exercise) -> Exercise:
    if exercise.id in _EXERCISES and _EXERCISES[exercise.id] is not exercise:
        raise ValueError(f"exercise id {exercise.id!r} is registered twice")
    _EXERCISES[exercise.id] = exercise
    return exercise


def register_question(question: Question) -> Question:
    _QUESTIONS[question.id] = question
    return question


def _load(notebook: str) -> None:
    if notebook in NOTEBOOKS:
        importlib.import_module(f"{__name__}.nb{notebook}")
        importlib.import_module(f"{__name__}.understanding")  # the self-checked questions of every notebook


def exercises(notebook: str) -> list[Exercise]:
    """The exercises of one notebook, in notebook order."""
    _load(notebook)
    return [e for e in _EXERCISES.values() if e.notebook == notebook]


def questions(notebook: str) -> list[Question]:
    _load(notebook)
    return [q for q in _QUESTIONS.values() if q.id.split(".", 1)[0] == notebook]


def get(exercise_id: str) -> Exercise:
    """One exercise by id (KeyError naming the known ids of that notebook when it does not exist)."""
    notebook = exercise_id.split(".", 1)[0]
    _load(notebook)
    if exercise_id not in _EXERCISES:
        raise KeyError(f"unknown exercise {exercise_id!r}; notebook {notebook} has "
                       f"{[e.id for e in exercises(notebook)]}")
    return _EXERCISES[exercise_id]
