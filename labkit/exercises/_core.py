"""Self-checking exercises: the registry, the evaluation of a student's function, the comparator and
the output a notebook shows.

The public names are re-exported by :mod:`labkit.exercises`; import them from there.
"""
from __future__ import annotations

import copy
import importlib
import inspect
import json
import logging
import math
import numbers
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "MIME_TYPE",
    "Case",
    "CheckResult",
    "Exercise",
    "UnknownExerciseError",
    "check",
    "collect_results",
    "compare_values",
    "evaluate",
    "exercise",
    "exercise_ids",
    "get_exercise",
    "register",
]

#: MIME type of the machine-readable record ``check`` adds to a cell's output.
MIME_TYPE = "application/vnd.labkit.check+json"

#: The three statuses a check can end in.
STATUSES = ("passed", "failed", "not_attempted")

_ICONS = {"passed": "✅", "failed": "❌", "not_attempted": "⏳"}
_ID_PATTERN = re.compile(r"^(?P<bank>[A-Za-z0-9]+)\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
_BANK_PREFIX = "nb"
_MAX_TEXT = 300

#: Registered exercises by id. Banks add to it when they are imported.
_REGISTRY: dict[str, Exercise] = {}


# --------------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One set of inputs an exercise is checked on.

    Parameters
    ----------
    args : tuple
        Positional arguments, e.g. ``args=(y_true, y_pred)``; a single argument is ``args=(x,)``.
    kwargs : mapping, default {}
        Keyword arguments.
    label : str, default ""
        A short name shown to the student when this case fails, e.g. ``"January 2011"``.
        Unlabelled cases are called ``#1``, ``#2``, ...

    Examples
    --------
    >>> Case(args=([1, 2, 3],), label="three numbers")
    Case(args=([1, 2, 3],), kwargs={}, label='three numbers')
    """

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.args, tuple):
            raise TypeError(
                f"Case.args must be a tuple of positional arguments, got {_describe(self.args)}; "
                "for a single argument write args=(value,)"
            )
        if not isinstance(self.kwargs, Mapping) or not all(isinstance(k, str) for k in self.kwargs):
            raise TypeError(
                f"Case.kwargs must be a mapping of argument names to values, got {_describe(self.kwargs)}"
            )
        if not isinstance(self.label, str):
            raise TypeError(f"Case.label must be a str, got {_describe(self.label)}")


@dataclass(frozen=True)
class Exercise:
    """An exercise: a reference implementation and the cases a student's version is checked on.

    Parameters
    ----------
    id : str
        ``"<bank>.<name>"``, e.g. ``"01.regression_report"``; the bank ``01`` lives in the module
        ``labkit.exercises.nb01``.
    title : str
        What the student sees, e.g. ``"Regression report"``.
    reference : callable
        The correct implementation. It is used instead of the student's function when theirs is
        missing or wrong, so the rest of the lab still runs.
    cases : sequence of Case, or callable returning an iterable of Case
        A callable is called once, on the first check, so a bank can build its cases from the real
        data without doing work at import time.
    compare : callable, optional
        ``compare(expected, actual) -> str | None``: ``None`` when ``actual`` is acceptable,
        otherwise a plain-words description of the first difference. Defaults to
        :func:`compare_values` with ``rtol`` and ``atol``.
    hint : str, default ""
        Shown when the student's function fails.
    rtol, atol : float, default 1e-6, 1e-9
        Tolerances of the default comparator for numbers.
    """

    id: str
    title: str
    reference: Callable[..., Any]
    cases: Sequence[Case] | Callable[[], Iterable[Case]]
    compare: Callable[[Any, Any], str | None] | None = None
    hint: str = ""
    rtol: float = 1e-6
    atol: float = 1e-9
    _case_cache: list = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID_PATTERN.match(self.id):
            raise ValueError(
                f"Exercise id must look like '<bank>.<name>' (e.g. '01.regression_report'), "
                f"got {self.id!r}"
            )
        if not isinstance(self.title, str) or not self.title.strip():
            raise ValueError(f"Exercise {self.id}: title must be a non-empty str, got {self.title!r}")
        if not callable(self.reference):
            raise TypeError(
                f"Exercise {self.id}: reference must be a function, got {_describe(self.reference)}"
            )
        if not callable(self.cases) and not isinstance(self.cases, Sequence):
            raise TypeError(
                f"Exercise {self.id}: cases must be a list of Case or a function returning them, "
                f"got {_describe(self.cases)}"
            )
        if self.compare is not None and not callable(self.compare):
            raise TypeError(
                f"Exercise {self.id}: compare must be a function or None, got {_describe(self.compare)}"
            )
        if not isinstance(self.hint, str):
            raise TypeError(f"Exercise {self.id}: hint must be a str, got {_describe(self.hint)}")
        _validate_tolerances(self.rtol, self.atol)

    @property
    def bank(self) -> str:
        """The bank part of the id (``"01"`` for ``"01.regression_report"``)."""
        return self.id.split(".", 1)[0]

    def get_cases(self) -> tuple[Case, ...]:
        """The cases, built on first use and cached.

        Raises
        ------
        TypeError
            If the cases are not :class:`Case` objects.
        ValueError
            If there are no cases.
        """
        if not self._case_cache:
            raw = self.cases() if callable(self.cases) else self.cases
            cases = tuple(raw)
            bad = [c for c in cases if not isinstance(c, Case)]
            if bad:
                raise TypeError(
                    f"Exercise {self.id}: every case must be a labkit.exercises.Case, "
                    f"got {_describe(bad[0])}"
                )
            if not cases:
                raise ValueError(f"Exercise {self.id}: has no cases; give at least one Case")
            self._case_cache.append(cases)
        return self._case_cache[0]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking a student's function (see :func:`evaluate`).

    Attributes
    ----------
    exercise : str
        The exercise id.
    title : str
        The exercise title.
    status : {"passed", "failed", "not_attempted"}
    detail : str
        Plain words: which case failed and the first difference, or how many cases passed.
    hint : str
        The exercise's hint ("" if none).
    function : callable or None
        What the notebook should use from here on: the student's function when it passed,
        otherwise the reference implementation.
    """

    exercise: str
    title: str
    status: str
    detail: str
    hint: str = ""
    function: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def passed(self) -> bool:
        """True when the student's function passed every case."""
        return self.status == "passed"

    @property
    def message(self) -> str:
        """The human-readable text ``check`` shows, with a status icon."""
        icon = _ICONS[self.status]
        head = f"{icon} {self.title} ({self.exercise})"
        name = getattr(self.function, "__name__", None)
        continues = (
            f"   The lab continues with the reference version of {name}()."
            if name
            else "   The lab continues with the reference version."
        )
        if self.status == "passed":
            return f"{head}: passed ({self.detail})."
        if self.status == "not_attempted":
            return f"{head}: not attempted yet.\n{continues}"
        lines = [f"{head}: failed: {self.detail}"]
        if self.hint:
            lines.append(f"   Hint: {self.hint}")
        lines.append(continues)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, str]:
        """The machine-readable record graders collect (see :func:`collect_results`)."""
        from labkit import __version__

        return {
            "exercise": self.exercise,
            "status": self.status,
            "detail": self.detail,
            "labkit_version": __version__,
        }

    def __str__(self) -> str:
        return self.message


class UnknownExerciseError(KeyError):
    """Raised for an exercise id no bank defines. Its message is shown without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------
def register(exercise: Exercise, *, replace: bool = False) -> Exercise:
    """Add an exercise to the registry and return it.

    Parameters
    ----------
    exercise : Exercise
    replace : bool, default False
        Replace an exercise already registered under the same id instead of raising.

    Raises
    ------
    ValueError
        If the id is taken and ``replace`` is False (usually a copy-paste slip in a bank).
    """
    if not isinstance(exercise, Exercise):
        raise TypeError(f"register() expects an Exercise, got {_describe(exercise)}")
    if exercise.id in _REGISTRY and not replace:
        raise ValueError(
            f"exercise id {exercise.id!r} is already registered; give it a new id "
            "or pass replace=True"
        )
    _REGISTRY[exercise.id] = exercise
    logger.debug("registered exercise %s", exercise.id)
    return exercise


def exercise(
    id: str,
    title: str,
    *,
    cases: Sequence[Case] | Callable[[], Iterable[Case]],
    compare: Callable[[Any, Any], str | None] | None = None,
    hint: str = "",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    replace: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register the decorated function as the reference of a new exercise.

    The function itself is returned unchanged.

    Examples
    --------
    >>> @exercise("99.doc_double", "Double it", cases=[Case(args=(2,))], replace=True)
    ... def double(x):
    ...     return 2 * x
    >>> get_exercise("99.doc_double").title
    'Double it'
    """

    def decorate(reference: Callable[..., Any]) -> Callable[..., Any]:
        register(
            Exercise(id, title, reference, cases, compare=compare, hint=hint, rtol=rtol, atol=atol),
            replace=replace,
        )
        return reference

    return decorate


def get_exercise(exercise_id: str) -> Exercise:
    """Look up an exercise, importing its bank (``labkit.exercises.nb<bank>``) on first use.

    Raises
    ------
    UnknownExerciseError
        A ``KeyError`` naming the known ids, when neither the registry nor the bank defines it.
    """
    if not isinstance(exercise_id, str):
        raise TypeError(
            f"exercise id must be a str like '01.regression_report', got {_describe(exercise_id)}"
        )
    if exercise_id in _REGISTRY:
        return _REGISTRY[exercise_id]
    match = _ID_PATTERN.match(exercise_id)
    if not match:
        raise UnknownExerciseError(
            f"{exercise_id!r} is not an exercise id: ids look like '<bank>.<name>', "
            f"e.g. '01.regression_report'; known ids: {_known_text()}"
        )
    bank = match.group("bank")
    try:
        _import_bank(bank, exercise_id)
    except UnknownExerciseError:
        if not any(i.split(".", 1)[0] == bank for i in _REGISTRY):
            raise  # neither a module nor registered exercises for this bank
    if exercise_id in _REGISTRY:
        return _REGISTRY[exercise_id]
    in_bank = [i for i in sorted(_REGISTRY) if i.split(".", 1)[0] == bank]
    raise UnknownExerciseError(
        f"unknown exercise {exercise_id!r}: bank {bank!r} defines "
        f"{', '.join(repr(i) for i in in_bank) or 'no exercises'}"
    )


def exercise_ids(bank: str | None = None) -> list[str]:
    """Sorted ids of the registered exercises; with ``bank``, import that bank and list only its ids."""
    if bank is not None:
        bank = str(bank)
        try:
            _import_bank(bank, f"{bank}.*")
        except UnknownExerciseError:
            if not any(i.split(".", 1)[0] == bank for i in _REGISTRY):
                raise
        return sorted(i for i in _REGISTRY if i.split(".", 1)[0] == bank)
    return sorted(_REGISTRY)


def _import_bank(bank: str, wanted: str) -> None:
    module_name = f"{__package__}.{_BANK_PREFIX}{bank}"
    if module_name in sys.modules:
        return
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the bank exists but imports something missing: a real error, show it
        raise UnknownExerciseError(
            f"unknown exercise {wanted!r}: there is no exercise bank {bank!r} "
            f"(no module {module_name}); available banks: {', '.join(_available_banks()) or 'none'}"
        ) from None


def _available_banks() -> list[str]:
    package = sys.modules[__package__]
    return sorted(
        m.name[len(_BANK_PREFIX):]
        for m in pkgutil.iter_modules(package.__path__)
        if m.name.startswith(_BANK_PREFIX) and len(m.name) > len(_BANK_PREFIX)
    )


def _known_text() -> str:
    return ", ".join(repr(i) for i in sorted(_REGISTRY)) or "none registered yet"


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------
def evaluate(exercise: str | Exercise, candidate: Any) -> CheckResult:
    """Check a student's function against an exercise, without displaying anything.

    Each case runs on deep copies of its inputs, first through ``candidate`` and then through the
    reference; the results are compared and the first difference is described in plain words.

    Parameters
    ----------
    exercise : str or Exercise
        An exercise id such as ``"01.regression_report"``, or an :class:`Exercise`.
    candidate : callable or None
        The student's function.

    Returns
    -------
    CheckResult
        ``status`` is ``"not_attempted"`` when ``candidate`` is None or raises
        ``NotImplementedError`` on the first case; ``"failed"`` when it is not callable, raises, changes
        its inputs in place or returns something different from the reference; ``"passed"`` otherwise.
        ``function`` is the candidate when it passed, otherwise the reference.

    Raises
    ------
    UnknownExerciseError
        For an unknown id.
    RuntimeError
        When the reference itself fails on a case (a bug in the exercise bank).

    Examples
    --------
    >>> def mean(values):
    ...     return sum(values) / len(values)
    >>> ex = Exercise("99.mean", "Mean", mean, [Case(args=([1, 2, 3, 4],), label="four numbers")])
    >>> evaluate(ex, lambda values: sum(values) / len(values)).status
    'passed'
    >>> evaluate(ex, lambda values: sum(values) / (len(values) - 1)).detail
    "case 'four numbers': expected 2.5, got 3.333"
    >>> evaluate(ex, None).status
    'not_attempted'
    """
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)

    def result(status: str, detail: str) -> CheckResult:
        chosen = candidate if status == "passed" else ex.reference
        return CheckResult(ex.id, ex.title, status, detail, ex.hint, chosen)

    if candidate is None:
        return result("not_attempted", "no function was given (None)")
    if not callable(candidate):
        return result(
            "failed",
            f"expected a function, got {_describe(candidate)}; pass the function itself, without "
            "calling it",
        )

    cases = ex.get_cases()
    for number, case in enumerate(cases, start=1):
        label = case.label or f"#{number}"
        prefix = f"case {label!r}"
        args, kwargs = _copy_inputs(case)
        try:
            actual = candidate(*args, **kwargs)
        except NotImplementedError as exc:
            if number == 1:
                return result("not_attempted", "raised NotImplementedError (the exercise is not written yet)")
            return result("failed", f"{prefix}: {_describe_exception(exc, candidate)}")
        except Exception as exc:  # the student's code may raise anything; report it, never re-raise
            return result("failed", f"{prefix}: {_describe_exception(exc, candidate)}")

        mutation = _find_mutation(ex.reference, case, args, kwargs)
        if mutation:
            return result("failed", f"{prefix}: {mutation}")

        ref_args, ref_kwargs = _copy_inputs(case)
        try:
            expected = ex.reference(*ref_args, **ref_kwargs)
        except Exception as exc:
            raise RuntimeError(
                f"the reference implementation of exercise {ex.id} failed on {prefix}: "
                f"{type(exc).__name__}: {exc}. This is a bug in the exercise bank, not in the "
                "student's code."
            ) from exc

        try:
            if ex.compare is not None:
                difference = ex.compare(expected, actual)
            else:
                difference = compare_values(expected, actual, rtol=ex.rtol, atol=ex.atol)
        except Exception as exc:
            difference = f"the result could not be compared ({type(exc).__name__}: {_short(str(exc))})"
        if difference:
            return result("failed", f"{prefix}: {difference}")

    count = len(cases)
    return result("passed", f"{count} case{'s' if count != 1 else ''} match the reference")


def check(exercise_id: str, candidate: Any) -> Callable[..., Any]:
    """Check a student's function, show the result, and return the function the lab should use.

    Shows one line with an icon (✅ passed, ❌ failed, ⏳ not attempted yet) and the title; on failure
    the first difference and the hint; when the reference is used instead of the student's function,
    a line saying so. Inside IPython/Jupyter the output also carries a machine-readable record under
    the MIME type ``application/vnd.labkit.check+json`` for graders (:func:`collect_results`).

    Parameters
    ----------
    exercise_id : str
        E.g. ``"01.regression_report"``.
    candidate : callable or None
        The student's function.

    Returns
    -------
    callable
        ``candidate`` when it passed, otherwise the reference implementation, so the rest of the
        notebook runs either way.

    Examples
    --------
    In a notebook::

        regression_report = check("01.regression_report", regression_report)
    """
    outcome = evaluate(exercise_id, candidate)
    _show(outcome)
    return outcome.function


def _show(outcome: CheckResult) -> None:
    shell = _get_ipython()
    if shell is None:
        print(outcome.message)  # student-facing checker: printing is its job
        return
    from IPython.display import display

    display({"text/plain": outcome.message, MIME_TYPE: outcome.to_dict()}, raw=True)


def _get_ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _copy_inputs(case: Case) -> tuple[tuple, dict]:
    try:
        return copy.deepcopy(case.args), copy.deepcopy(dict(case.kwargs))
    except Exception:  # un-copyable inputs (locks, generators...): pass them as they are
        logger.debug("could not deep-copy the inputs of case %r; passing them uncopied", case.label)
        return case.args, dict(case.kwargs)


def _parameter_names(function: Callable[..., Any], n_args: int) -> list[str]:
    try:
        params = [
            p.name
            for p in inspect.signature(function).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"argument {i + 1}" for i in range(n_args)]


def _find_mutation(reference: Callable[..., Any], case: Case, args: tuple, kwargs: dict) -> str | None:
    comparer = _Comparer(rtol=0.0, atol=0.0, opaque=False, words=_MUTATION_WORDS)
    names = _parameter_names(reference, len(case.args))
    pairs = list(zip(names, case.args, args)) + [(k, case.kwargs[k], kwargs.get(k)) for k in case.kwargs]
    for name, before, after in pairs:
        if before is after:
            continue  # the inputs could not be copied, so a change cannot be seen
        try:
            difference = comparer.compare(before, after, "")
        except Exception:
            continue
        if difference:
            fix = f"{name} = {name}.copy()" if name.isidentifier() else "data = data.copy()"
            return (
                f"changed its input {name!r} in place ({difference}); work on a copy instead, "
                f"e.g. {fix}"
            )
    return None


def _describe_exception(exc: BaseException, candidate: Callable[..., Any]) -> str:
    text = " ".join(str(exc).split())
    where = ""
    code = getattr(candidate, "__code__", None)
    if code is not None:
        tb = exc.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == code.co_filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        if line is not None:
            where = f" (line {line})"
    message = f"raised {type(exc).__name__}"
    if text:
        message += f": {_short(text)}"
    return message + where


# --------------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------------
def compare_values(expected: Any, actual: Any, *, rtol: float = 1e-6, atol: float = 1e-9) -> str | None:
    """Describe the first difference between ``expected`` and ``actual`` in plain words.

    Understands numbers (``|actual - expected| <= atol + rtol * |expected|``, NaN equals NaN),
    numpy arrays (shape, then values), pandas Series and DataFrames (columns, rows, index, then values;
    int/float dtypes compare by value; column order and Series names are ignored), dicts (keys, then
    values), lists and tuples (length, then items), sets, strings and bools; anything else is compared
    with ``==``.

    Parameters
    ----------
    expected, actual : object
    rtol, atol : float, default 1e-6, 1e-9
        Relative and absolute tolerance for numbers.

    Returns
    -------
    str or None
        None when ``actual`` matches, otherwise the first difference.

    Examples
    --------
    >>> compare_values({"mae": 1.0, "rmse": 64.2134}, {"mae": 1.0, "rmse": 41.07})
    "key 'rmse': expected 64.21, got 41.07"
    >>> compare_values({"mae": 1.0}, "mae=1")
    "returned a str ('mae=1'), expected a dict"
    >>> compare_values([1, 2, 3], [1, 2])
    'returned a list of 2 items, expected 3'
    >>> compare_values(0.1 + 0.2, 0.3) is None
    True
    """
    _validate_tolerances(rtol, atol)
    return _Comparer(rtol=rtol, atol=atol, opaque=True, words=_RESULT_WORDS).compare(expected, actual, "")


@dataclass(frozen=True)
class _Words:
    returned: str  # top-level structural mismatch: "<returned> a list of 2 items, <expected> 3"
    got: str
    expected: str


_RESULT_WORDS = _Words(returned="returned", got="got", expected="expected")
_MUTATION_WORDS = _Words(returned="it is now", got="now", expected="was")


class _Comparer:
    """Walks two values in step and returns the first difference as text (None when they match)."""

    def __init__(self, *, rtol: float, atol: float, opaque: bool, words: _Words) -> None:
        self.rtol = rtol
        self.atol = atol
        self.opaque = opaque  # compare objects the comparator does not understand with ==
        self.words = words

    # -- message helpers ------------------------------------------------------------------------------
    def _value(self, path: str, expected: str, actual: str) -> str:
        w = self.words
        return f"{_at(path)}{w.expected} {expected}, {w.got} {actual}"

    def _shape(self, path: str, actual: str, expected: str) -> str:
        w = self.words
        if path:
            return f"{path}: {w.got} {actual}, {w.expected} {expected}"
        return f"{w.returned} {actual}, {w.expected} {expected}"

    def _odd(self, path: str, actual: str) -> str:
        """A mismatch with no single expected value, e.g. "returned a dict with different keys"."""
        w = self.words
        return f"{path}: {w.got} {actual}" if path else f"{w.returned} {actual}"

    def _kind(self, path: str, actual: Any, expected: str, fix: str = "") -> str:
        return self._shape(path, _describe(actual), expected) + (f" ({fix})" if fix else "")

    def _differences(
        self, path: str, what: str, n_expected: int, n_actual: int, missing: list, extra: list, noun: str
    ) -> str:
        parts = []
        if missing:
            parts.append(f"missing: {_names(missing)}")
        if extra:
            parts.append(f"unexpected: {_names(extra)}")
        details = "; ".join(parts)
        if n_expected == n_actual:
            return self._odd(path, f"{what} with different {noun}s ({details})")
        return self._shape(path, f"{what} with {_count(n_actual, noun)}", f"{n_expected} ({details})")

    # -- dispatch -------------------------------------------------------------------------------------
    def compare(self, expected: Any, actual: Any, path: str) -> str | None:
        if expected is None:
            return None if actual is None else self._kind(path, actual, "None")
        if isinstance(expected, pd.DataFrame):
            return self._frame(expected, actual, path)
        if isinstance(expected, pd.Series):
            return self._series(expected, actual, path)
        if isinstance(expected, pd.Index):
            return self._index_value(expected, actual, path)
        if isinstance(expected, np.ndarray):
            return self._array(expected, actual, path)
        if isinstance(expected, (bool, np.bool_)):
            return self._bool(expected, actual, path)
        if _is_real(expected):
            return self._number(expected, actual, path)
        if isinstance(expected, str):
            return self._str(expected, actual, path)
        if isinstance(expected, Mapping):
            return self._mapping(expected, actual, path)
        if isinstance(expected, (list, tuple)):
            return self._sequence(expected, actual, path)
        if isinstance(expected, (set, frozenset)):
            return self._set(expected, actual, path)
        return self._other(expected, actual, path)

    # -- scalars --------------------------------------------------------------------------------------
    def _number(self, expected: Any, actual: Any, path: str) -> str | None:
        if isinstance(actual, np.ndarray) and actual.ndim == 0:
            actual = actual.item()
        if not _is_real(actual):
            return self._kind(path, actual, "a number")
        if _numbers_close(float(expected), float(actual), self.rtol, self.atol):
            return None
        return self._value(path, *_format_pair(expected, actual))

    def _bool(self, expected: Any, actual: Any, path: str) -> str | None:
        if not isinstance(actual, (bool, np.bool_)):
            return self._kind(path, actual, "a bool (True or False)")
        if bool(expected) == bool(actual):
            return None
        return self._value(path, str(bool(expected)), str(bool(actual)))

    def _str(self, expected: str, actual: Any, path: str) -> str | None:
        if not isinstance(actual, str):
            return self._kind(path, actual, "a str")
        if expected == actual:
            return None
        return self._value(path, _short_repr(expected), _short_repr(actual))

    def _other(self, expected: Any, actual: Any, path: str) -> str | None:
        if not self.opaque:
            return None
        if not isinstance(actual, type(expected)) and not isinstance(expected, type(actual)):
            return self._kind(path, actual, _article(type(expected).__name__))
        if _scalar_equal(expected, actual):
            return None
        return self._value(path, _short_repr(expected), _short_repr(actual))

    # -- containers -----------------------------------------------------------------------------------
    def _mapping(self, expected: Mapping, actual: Any, path: str) -> str | None:
        if not isinstance(actual, Mapping):
            return self._kind(path, actual, "a dict")
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing or extra:
            return self._differences(path, "a dict", len(expected), len(actual), missing, extra, "key")
        for key in expected:
            difference = self.compare(expected[key], actual[key], _join(path, f"key {key!r}"))
            if difference:
                return difference
        return None

    def _sequence(self, expected: Sequence, actual: Any, path: str) -> str | None:
        kind = type(expected).__name__
        if not isinstance(actual, (list, tuple)):
            fix = "convert it with list(...)" if isinstance(actual, (np.ndarray, pd.Series)) else ""
            return self._kind(path, actual, f"a {kind}", fix)
        if len(actual) != len(expected):
            return self._shape(
                path, f"a {type(actual).__name__} of {_count(len(actual), 'item')}", str(len(expected))
            )
        for i, (e, a) in enumerate(zip(expected, actual)):
            difference = self.compare(e, a, _join(path, f"item {i}"))
            if difference:
                return difference
        return None

    def _set(self, expected: Any, actual: Any, path: str) -> str | None:
        if not isinstance(actual, (set, frozenset)):
            return self._kind(path, actual, "a set")
        missing = sorted((x for x in expected if x not in actual), key=repr)
        extra = sorted((x for x in actual if x not in expected), key=repr)
        if missing or extra:
            return self._differences(path, "a set", len(expected), len(actual), missing, extra, "item")
        return None

    # -- numpy ----------------------------------------------------------------------------------------
    def _array(self, expected: np.ndarray, actual: Any, path: str) -> str | None:
        if not isinstance(actual, np.ndarray):
            if isinstance(actual, (pd.Series, pd.DataFrame, pd.Index)):
                fix = "convert it with .to_numpy()"
            elif isinstance(actual, (list, tuple)):
                fix = "convert it with np.asarray(...)"
            else:
                fix = ""
            return self._kind(path, actual, "a numpy array", fix)
        if actual.shape != expected.shape:
            return self._shape(path, f"an array of shape {actual.shape}", f"shape {expected.shape}")
        return self._elements(expected.ravel(), actual.ravel(), path, _array_position(expected.shape))

    # -- pandas ---------------------------------------------------------------------------------------
    def _series(self, expected: pd.Series, actual: Any, path: str) -> str | None:
        if not isinstance(actual, pd.Series):
            fix = "select one column with df[name]" if isinstance(actual, pd.DataFrame) else ""
            return self._kind(path, actual, "a Series", fix)
        if len(actual) != len(expected):
            return self._shape(path, f"a Series of length {len(actual)}", f"length {len(expected)}")
        difference = self._index(expected.index, actual.index, path)
        if difference:
            return difference
        return self._elements(
            _pandas_values(expected), _pandas_values(actual), path, _row_position(expected.index)
        )

    def _frame(self, expected: pd.DataFrame, actual: Any, path: str) -> str | None:
        if not isinstance(actual, pd.DataFrame):
            fix = "turn it into a table with .to_frame()" if isinstance(actual, pd.Series) else ""
            return self._kind(path, actual, "a DataFrame", fix)
        if not actual.columns.is_unique:
            dupes = list(dict.fromkeys(actual.columns[actual.columns.duplicated()]))
            return self._shape(
                path, "a DataFrame with duplicate column names", f"unique names ({_names(dupes)})"
            )
        missing = [c for c in expected.columns if c not in actual.columns]
        extra = [c for c in actual.columns if c not in expected.columns]
        if missing or extra:
            return self._differences(
                path, "a DataFrame", expected.shape[1], actual.shape[1], missing, extra, "column"
            )
        if len(actual) != len(expected):
            return self._shape(
                path, f"a DataFrame with {_count(len(actual), 'row')}", str(len(expected))
            )
        difference = self._index(expected.index, actual.index, path)
        if difference:
            return difference
        position = _row_position(expected.index)
        for i, column in enumerate(expected.columns):
            difference = self._elements(
                _pandas_values(expected.iloc[:, i]),
                _pandas_values(actual[column]),
                _join(path, f"column {column!r}"),
                position,
            )
            if difference:
                return difference
        return None

    def _index_value(self, expected: pd.Index, actual: Any, path: str) -> str | None:
        if not isinstance(actual, pd.Index):
            return self._kind(path, actual, "a pandas Index")
        if len(actual) != len(expected):
            return self._shape(path, f"an Index of length {len(actual)}", f"length {len(expected)}")
        return self._elements(
            _pandas_values(expected), _pandas_values(actual), path, _array_position(expected.shape)
        )

    def _index(self, expected: pd.Index, actual: pd.Index, path: str) -> str | None:
        if expected.equals(actual):
            return None
        where = _join(path, "index")
        try:
            same_labels = sorted(map(repr, expected)) == sorted(map(repr, actual))
        except Exception:
            same_labels = False
        if same_labels:
            return (
                f"{where}: the rows are in a different order than expected "
                "(keep the original order or sort with .sort_index())"
            )
        fix = ""
        if isinstance(expected, pd.RangeIndex) and expected.start == 0 and expected.step == 1:
            fix = " (reset it with .reset_index(drop=True))"
        for position, (e, a) in enumerate(zip(expected, actual)):
            if not _scalar_equal(e, a):
                return self._value(f"{where}: at row {position}", _short_repr(e), _short_repr(a)) + fix
        return None

    # -- element-wise ---------------------------------------------------------------------------------
    def _elements(
        self, expected: np.ndarray, actual: np.ndarray, path: str, position: Callable[[int], str]
    ) -> str | None:
        """Compare two flat arrays of equal length; report the first differing element."""
        e_numeric = _is_numeric_array(expected)
        a_numeric = _is_numeric_array(actual) or (e_numeric and _holds_only_numbers(actual))
        if e_numeric and a_numeric:
            e_float = expected.astype(float)
            a_float = actual.astype(float)
            with np.errstate(invalid="ignore"):
                ok = np.isclose(a_float, e_float, rtol=self.rtol, atol=self.atol, equal_nan=True)
            ok |= (e_float == a_float)  # infinities of the same sign
        elif e_numeric and expected.size and not _all_missing(actual):
            first = next(v for v in actual if not (_is_real(v) or _is_missing(v)))
            return self._shape(path, f"non-numeric values (first: {_short_repr(first)})", "numbers")
        else:
            ok = _vector_equal(expected, actual)
            for i in np.flatnonzero(~ok):  # the slow, careful path only where the fast one disagrees
                ok[i] = _scalar_equal(expected[i], actual[i], self.rtol, self.atol)
        if ok.all():
            return None
        first = int(np.flatnonzero(~ok)[0])
        e_text, a_text = _format_pair(expected[first], actual[first])
        n_bad = int((~ok).sum())
        tail = f" ({n_bad} of {len(ok)} values differ)" if len(ok) > 1 else ""
        return self._value(_join(path, position(first)), e_text, a_text) + tail


# --------------------------------------------------------------------------------------------------
# Grader support
# --------------------------------------------------------------------------------------------------
def collect_results(notebook: Mapping | str | os.PathLike) -> list[dict[str, Any]]:
    """Collect the machine-readable check records from an executed notebook, in cell order.

    Parameters
    ----------
    notebook : dict, NotebookNode or path
        The notebook JSON (as loaded by ``json.load`` or ``nbformat.read``) or the path of an
        ``.ipynb`` file.

    Returns
    -------
    list of dict
        One record per ``check`` output: ``exercise``, ``status`` (``"passed"``, ``"failed"`` or
        ``"not_attempted"``), ``detail``, ``labkit_version``, plus ``cell_id`` (the id of the cell the
        output belongs to, None for notebooks without cell ids).

    Examples
    --------
    >>> nb = {"cells": [{"cell_type": "code", "id": "a1", "source": "", "outputs": [
    ...     {"output_type": "display_data", "metadata": {}, "data": {
    ...         "text/plain": "...", MIME_TYPE: {"exercise": "01.x", "status": "passed",
    ...                                           "detail": "", "labkit_version": "0.1.0"}}}]}]}
    >>> [(r["exercise"], r["status"], r["cell_id"]) for r in collect_results(nb)]
    [('01.x', 'passed', 'a1')]
    """
    if isinstance(notebook, (str, os.PathLike)):
        with open(notebook, encoding="utf-8") as handle:
            notebook = json.load(handle)
    if not isinstance(notebook, Mapping) or "cells" not in notebook:
        raise TypeError(
            f"collect_results() expects a notebook (a dict with 'cells') or a path to one, "
            f"got {_describe(notebook)}"
        )
    records = []
    for cell in notebook["cells"]:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") not in ("display_data", "execute_result", "update_display_data"):
                continue
            payload = output.get("data", {}).get(MIME_TYPE)
            if payload is None:
                continue
            if isinstance(payload, (str, list)):  # older writers store JSON as (split) text
                payload = json.loads("".join(payload))
            record = dict(payload)
            record["cell_id"] = cell.get("id")
            records.append(record)
    return records


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------
def _validate_tolerances(rtol: float, atol: float) -> None:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not _is_real(value) or not value >= 0 or math.isinf(value):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _is_real(value: Any) -> bool:
    # np.timedelta64 subclasses np.signedinteger, so it would count as a number otherwise
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_, np.timedelta64))


def _numbers_close(expected: float, actual: float, rtol: float, atol: float) -> bool:
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return expected == actual
    return abs(actual - expected) <= atol + rtol * abs(expected)


def _scalar_equal(expected: Any, actual: Any, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Equality for single values: numbers with tolerance, missing equals missing, else ``==``."""
    if _is_real(expected) and _is_real(actual):
        return _numbers_close(float(expected), float(actual), rtol, atol)
    e_missing, a_missing = _is_missing(expected), _is_missing(actual)
    if e_missing or a_missing:
        return e_missing and a_missing
    try:
        equal = expected == actual
        if isinstance(equal, (bool, np.bool_)):
            return bool(equal)
        return bool(np.all(equal))
    except Exception:
        return expected is actual


def _vector_equal(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Element-wise ``==`` with missing equal to missing; all False where numpy cannot compare."""
    try:
        with np.errstate(all="ignore"):
            equal = expected == actual
    except Exception:
        equal = None
    if not isinstance(equal, np.ndarray) or equal.shape != expected.shape or equal.dtype != bool:
        return np.zeros(expected.shape, dtype=bool)
    try:
        equal |= np.asarray(pd.isna(expected), dtype=bool) & np.asarray(pd.isna(actual), dtype=bool)
    except Exception:
        pass
    return equal


def _is_missing(value: Any) -> bool:
    try:
        missing = pd.isna(value)
    except Exception:
        return False
    return isinstance(missing, (bool, np.bool_)) and bool(missing)


def _all_missing(values: np.ndarray) -> bool:
    return bool(pd.isna(values).all())


def _is_numeric_array(values: np.ndarray) -> bool:
    return values.dtype.kind in "biuf"


def _holds_only_numbers(values: np.ndarray) -> bool:
    """True for an object array whose items are all numbers or missing (a lenient dtype)."""
    return values.dtype == object and all(_is_real(v) or _is_missing(v) for v in values)


def _pandas_values(values: pd.Series | pd.Index) -> np.ndarray:
    """Values as a numpy array; numeric (also nullable) dtypes as float so int vs float compares by value."""
    dtype = values.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        if pd.api.types.is_bool_dtype(dtype) and not values.hasnans:
            return values.to_numpy(dtype=bool)
        return values.to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_datetime64_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return values.to_numpy()  # tz-naive datetime64/timedelta64: numpy compares them fast
    return values.to_numpy(dtype=object)


def _row_position(index: pd.Index) -> Callable[[int], str]:
    def position(i: int) -> str:
        label = index[i]
        if isinstance(index, pd.RangeIndex) and label == i:
            return f"row {i}"
        return f"row {i} (index {_short_repr(label)})"

    return position


def _array_position(shape: tuple) -> Callable[[int], str]:
    def position(i: int) -> str:
        if len(shape) <= 1:
            return f"index {i}"
        return f"index {tuple(int(j) for j in np.unravel_index(i, shape))}"

    return position


def _join(path: str, part: str) -> str:
    return f"{path}: {part}" if path else part


def _at(path: str) -> str:
    return f"{path}: " if path else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _names(items: Iterable[Any], limit: int = 5) -> str:
    items = list(items)
    text = ", ".join(_short_repr(x, 40) for x in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")




def _format_pair(expected: Any, actual: Any) -> tuple[str, str]:
    """Format two values; numbers get just enough significant digits to look different."""
    if _is_real(expected) and _is_real(actual):
        if isinstance(expected, numbers.Integral) and isinstance(actual, numbers.Integral):
            return str(int(expected)), str(int(actual))
        e, a = float(expected), float(actual)
        for digits in range(4, 18):
            e_text, a_text = f"{e:.{digits}g}", f"{a:.{digits}g}"
            if e_text != a_text:
                return e_text, a_text
        return repr(e), repr(a)
    return _short_repr(expected), _short_repr(actual)


def _short(text: str, limit: int = _MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_repr(value: Any, limit: int = 60) -> str:
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.timedelta64):
        value = pd.Timedelta(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if value is pd.NaT:
        text = "NaT"
    elif isinstance(value, (pd.Timestamp, pd.Timedelta)):
        text = str(value)
    else:
        try:
            text = repr(value)
        except Exception:
            text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return _short(text, limit)


def _article(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _describe(value: Any) -> str:
    """A short plain-words description of a value, e.g. "a DataFrame with 3 rows and 2 columns"."""
    if value is None:
        return "None"
    if isinstance(value, pd.DataFrame):
        return f"a DataFrame with {_count(value.shape[0], 'row')} and {_count(value.shape[1], 'column')}"
    if isinstance(value, pd.Series):
        return f"a Series of length {len(value)}"
    if isinstance(value, pd.Index):
        return f"a pandas Index of length {len(value)}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape}"
    if isinstance(value, (bool, np.bool_)):
        return f"a bool ({bool(value)})"
    if isinstance(value, (str, numbers.Number)):
        return f"{_article(type(value).__name__)} ({_short_repr(value, 40)})"
    if isinstance(value, Mapping):
        return f"{_article(type(value).__name__)} with {_count(len(value), 'key')}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"{_article(type(value).__name__)} of {_count(len(value), 'item')}"
    if inspect.isroutine(value):
        return "a function"
    return _article(type(value).__name__)
