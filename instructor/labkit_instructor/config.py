"""The grading configuration: points, written questions with rubrics, deadline and late policy, LMS names.

A YAML file (``labkit-instructor grade --config grading.yml``; ``--write-config`` writes the default
one to start from). Everything has a default taken from the answer key and the solutions: 2 points
per exercise, 2 per written question, no deadline::

    deadline: 2026-12-10T23:59:00+01:00   # ISO time; none: no late penalty
    grace_minutes: 15
    late_penalty_per_day: 0.10            # share of the notebook's points lost per started day
    late_max_days: 5                      # later than this: no points
    partial_credit: false                 # true: points x share of hidden cases passed
    notebooks:
      "01":
        assignment: "Lab 01: baseline model"   # the LMS's column name
        canvas_assignment_id: "12345"          # optional: Canvas column "name (id)"
        exercises: {01.split_by_time: 2, 01.regression_report: 2, 01.hour_profile_forecast: 2}
        questions:
          - {id: q1, points: 2, rubric: "2: right, with the reason; 1: partly; 0: missing or wrong"}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

__all__ = ["GradingConfig", "NotebookConfig", "QuestionConfig", "default_config", "load_config", "write_config"]

DEFAULT_RUBRIC = "2: right, with the reason; 1: partly right; 0: missing or wrong (model answer in solutions/)"


@dataclass(frozen=True)
class QuestionConfig:
    id: str            # "q1", "q2", ... in the order of the notebook's answer cells
    points: float = 2.0
    rubric: str = DEFAULT_RUBRIC


@dataclass(frozen=True)
class NotebookConfig:
    number: str
    assignment: str
    exercises: dict[str, float]
    questions: tuple[QuestionConfig, ...] = ()
    canvas_assignment_id: str = ""

    @property
    def max_points(self) -> float:
        return sum(self.exercises.values()) + sum(q.points for q in self.questions)


@dataclass(frozen=True)
class GradingConfig:
    notebooks: dict[str, NotebookConfig]
    deadline: datetime | None = None
    grace_minutes: float = 0.0
    late_penalty_per_day: float = 0.1
    late_max_days: int = 5
    partial_credit: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def late_factor(self, days: int) -> float:
        """The share of a notebook's points kept when it is ``days`` days late."""
        if days <= 0:
            return 1.0
        return 0.0 if days > self.late_max_days else max(0.0, 1.0 - days * self.late_penalty_per_day)


def _answer_cells(root: Path, number: str) -> int:
    import nbformat

    paths = sorted((root / "solutions").glob(f"{number}_*.ipynb"))
    if not paths:
        return 0
    nb = nbformat.read(paths[0], as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "markdown" and "answer" in c.metadata.get("tags", []))


def default_config(root: str | Path) -> GradingConfig:
    """2 points per exercise of the answer key and per answer cell of the solutions; no deadline."""
    from labkit_instructor import exercises

    notebooks = {}
    for number in exercises.NOTEBOOKS:
        names = sorted(p.stem for p in (Path(root) / "solutions").glob(f"{number}_*.ipynb"))
        notebooks[number] = NotebookConfig(
            number, f"Lab {number}: {names[0][3:].replace('_', ' ')}" if names else f"Lab {number}",
            {e.id: 2.0 for e in exercises.exercises(number)},
            tuple(QuestionConfig(f"q{i}") for i in range(1, _answer_cells(Path(root), number) + 1)))
    return GradingConfig(notebooks)


def load_config(path: str | Path | None, root: str | Path) -> GradingConfig:
    """The configuration in ``path`` on top of :func:`default_config` (None: the defaults)."""
    base = default_config(root)
    if path is None:
        return base
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    notebooks = dict(base.notebooks)
    for number, spec in (data.get("notebooks") or {}).items():
        number = f"{int(number):02d}" if str(number).isdigit() else str(number)
        old = notebooks.get(number) or NotebookConfig(number, f"Lab {number}", {})
        questions = tuple(QuestionConfig(str(q.get("id", f"q{i}")), float(q.get("points", 2)),
                                         str(q.get("rubric", DEFAULT_RUBRIC)))
                          for i, q in enumerate(spec.get("questions", []), start=1)) if "questions" in spec \
            else old.questions
        notebooks[number] = NotebookConfig(
            number, str(spec.get("assignment", old.assignment)),
            {str(k): float(v) for k, v in (spec.get("exercises") or old.exercises).items()}, questions,
            str(spec.get("canvas_assignment_id", old.canvas_assignment_id)))
    deadline = data.get("deadline")
    if isinstance(deadline, str):
        deadline = datetime.fromisoformat(deadline)
    if isinstance(deadline, datetime) and deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=timezone.utc)
    known = {"notebooks", "deadline", "grace_minutes", "late_penalty_per_day", "late_max_days", "partial_credit"}
    return GradingConfig(notebooks, deadline, float(data.get("grace_minutes", 0)),
                         float(data.get("late_penalty_per_day", 0.1)), int(data.get("late_max_days", 5)),
                         bool(data.get("partial_credit", False)), {k: v for k, v in data.items() if k not in known})


def write_config(config: GradingConfig, path: str | Path) -> Path:
    """Write ``config`` as YAML (PyYAML), to edit and pass back with ``--config``."""
    data = {"deadline": config.deadline.isoformat() if config.deadline else None,
            "grace_minutes": config.grace_minutes, "late_penalty_per_day": config.late_penalty_per_day,
            "late_max_days": config.late_max_days, "partial_credit": config.partial_credit,
            "notebooks": {n: {"assignment": nb.assignment, "canvas_assignment_id": nb.canvas_assignment_id,
                              "exercises": dict(nb.exercises),
                              "questions": [{"id": q.id, "points": q.points, "rubric": q.rubric}
                                            for q in nb.questions]}
                          for n, nb in config.notebooks.items()}}
    path = Path(path)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
