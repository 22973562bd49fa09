"""Who handed in what, and when: file names from LMS downloads, the roster, late and repeated uploads.

Names the grader understands (``NN`` is a notebook number, the name part becomes the student)::

    alice_01_baseline_model.ipynb            01_baseline_model-alice.ipynb     alice/01_baseline_model.ipynb
    mike_01_baseline_model (1).ipynb         a browser's second download: mike, attempt 1
    smithjohn_4242_998877_01_baseline_model.ipynb          Canvas: user 4242, submission 998877
    smithjohn_LATE_4242_998878_01_baseline_model-1.ipynb   Canvas, late, the first resubmission
    John Smith_17_assignsubmission_file_/01_baseline_model.ipynb   Moodle (folder per student)

The student is the roster's key when the roster knows the name, an alias or the LMS id; otherwise
the name part, cleaned. The submission time is the file's modification time (``unzip`` keeps the
LMS's times), or the time a ``times.csv`` gives; Canvas's ``LATE`` mark counts as late in any case.
Of several uploads of one notebook by one student, the latest counts; the others are listed.
"""
from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

__all__ = ["Roster", "Student", "Submission", "find_submissions", "late_days", "parse_name", "choose_latest"]

_CANVAS = re.compile(r"^(?P<name>[a-z][a-z0-9\-]*)_(?:(?P<late>LATE)_)?(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_(?:file|onlinetext)_?(?P<file>.*)$")
_COPY = re.compile(r"\s*\((?P<n>\d+)\)$")           # "name (1)": a browser's second download
_CANVAS_REPEAT = re.compile(r"-(?P<n>\d+)$")        # "01_baseline_model-1": Canvas's first resubmission


@dataclass(frozen=True)
class Student:
    """A roster row: the key used in the gradebook and what the LMSs call the student."""

    key: str
    name: str = ""
    email: str = ""
    canvas_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    moodle_id: str = ""
    aliases: tuple[str, ...] = ()


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class Roster:
    """Students by key, findable by name, alias, e-mail or LMS id (a CSV with a ``student`` column)."""

    def __init__(self, students: Iterable[Student] = ()):
        self.students = {s.key: s for s in students}
        self._index: dict[str, str] = {}
        for s in self.students.values():
            for handle in (s.key, s.name, s.email, s.email.split("@")[0], *s.aliases):
                if handle:
                    self._index.setdefault(_clean(handle), s.key)
            for lms_id in (s.canvas_id, s.moodle_id):
                if lms_id:
                    self._index.setdefault(f"id:{lms_id}", s.key)

    @classmethod
    def read(cls, path: str | Path | None) -> Roster:
        """Read ``student,name,email,canvas_id,sis_user_id,sis_login_id,section,moodle_id,aliases`` (only
        ``student`` is required; ``aliases`` separated by ``;``). None gives an empty roster."""
        if path is None:
            return cls()
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        if rows and "student" not in rows[0]:
            raise ValueError(f"{path}: a roster needs a 'student' column (found {sorted(rows[0])})")
        fields = [f for f in Student.__dataclass_fields__ if f not in ("key", "aliases")]
        return cls(Student(row["student"].strip(), **{f: (row.get(f) or "").strip() for f in fields},
                           aliases=tuple(a.strip() for a in (row.get("aliases") or "").split(";") if a.strip()))
                   for row in rows if (row.get("student") or "").strip())

    def find(self, name: str, lms_id: str = "") -> str | None:
        """The key of the student a file name's name part (or LMS id) belongs to, or None."""
        return self._index.get(f"id:{lms_id}") if lms_id and f"id:{lms_id}" in self._index \
            else self._index.get(_clean(name))


@dataclass(frozen=True)
class Submission:
    """One uploaded file."""

    path: str                 # relative to the submissions folder (POSIX)
    student: str              # the roster key, or the cleaned name part
    notebook: str | None      # "01" as the file name says; None when it does not
    attempt: int = 0          # 0 first upload; n for Canvas's "-n" or a browser's " (n)"
    submitted: datetime | None = None
    late_marked: bool = False
    lms_id: str = ""
    on_roster: bool = True
    notes: tuple[str, ...] = field(default=())


def parse_name(path: str, notebooks: Mapping[str, str]) -> tuple[str, str | None, int, bool, str]:
    """``(name part, notebook, attempt, late mark, LMS id)`` from a submission's relative path.

    >>> nbs = {"01": "01_baseline_model", "02": "02_simulate_drift"}
    >>> parse_name("mike_01_baseline_model (1).ipynb", nbs)
    ('mike', '01', 1, False, '')
    >>> parse_name("smithjohn_LATE_4242_998878_01_baseline_model-2.ipynb", nbs)
    ('smithjohn', '01', 2, True, '4242')
    >>> parse_name("John Smith_17_assignsubmission_file_/01_baseline_model.ipynb", nbs)
    ('John Smith', '01', 0, False, '17')
    >>> parse_name("bob/02_simulate_drift.ipynb", nbs)
    ('bob', '02', 0, False, '')
    """
    parts = path.replace("\\", "/").split("/")
    stem, folder = parts[-1].rsplit(".", 1)[0], "/".join(parts[:-1])
    late, lms_id, attempt, name = False, "", 0, ""
    moodle = _MOODLE.match(folder.split("/")[-1]) or _MOODLE.match(stem)
    canvas = _CANVAS.match(stem)
    if moodle:
        name, lms_id = moodle["name"], moodle["uid"]
        stem = (moodle["file"] or stem) if moodle.string == stem else stem
    elif canvas:
        name, lms_id, late, stem = canvas["name"], canvas["uid"], bool(canvas["late"]), canvas["file"]
        if (repeat := _CANVAS_REPEAT.search(stem)) and not any(stem == n for n in notebooks.values()):
            attempt, stem = int(repeat["n"]), stem[: repeat.start()]
    if copy := _COPY.search(stem):
        attempt, stem = max(attempt, int(copy["n"])), stem[: copy.start()]
    number, rest = None, stem
    for num, nb_name in notebooks.items():
        at = stem.lower().find(nb_name.lower())
        if at >= 0:
            number, rest = num, stem[:at] + " " + stem[at + len(nb_name):]
            break
    if number is None:
        for match in re.finditer(r"(?<![0-9A-Za-z])(\d{2})(?![0-9A-Za-z])", stem):
            if match.group(1) in notebooks:
                number, rest = match.group(1), stem[: match.start()] + " " + stem[match.end():]
                break
    if not name:
        name = re.sub(r"[\s_.\-]+", " ", rest).strip() or (folder.split("/")[-1] if folder else stem)
    return name, number, attempt, late, lms_id


def find_submissions(folder: str | Path, notebooks: Mapping[str, str], roster: Roster,
                     times: Mapping[str, datetime] | None = None) -> list[Submission]:
    """Every ``.ipynb`` below ``folder`` (checkpoints skipped), identified (see the module docstring)."""
    folder = Path(folder)
    found = []
    for path in sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file()):
        rel = path.relative_to(folder).as_posix()
        name, number, attempt, late, lms_id = parse_name(rel, notebooks)
        key = roster.find(name, lms_id)
        stamp = (times or {}).get(rel) or datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
        found.append(Submission(rel, key or _clean(name) or "unknown", number, attempt, stamp, late, lms_id,
                                on_roster=key is not None or not roster.students))
    return found


def read_times(path: str | Path | None) -> dict[str, datetime]:
    """``file,submitted_at`` (ISO times; UTC when no zone is given) from a CSV, e.g. exported by the LMS."""
    if path is None:
        return {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {row["file"]: _utc(datetime.fromisoformat(row["submitted_at"])) for row in rows}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def choose_latest(submissions: Sequence[Submission]) -> list[tuple[Submission, list[Submission]]]:
    """For each (student, notebook), the upload that counts (the latest) and the earlier ones."""
    groups: dict[tuple[str, str | None], list[Submission]] = {}
    for s in submissions:
        groups.setdefault((s.student, s.notebook), []).append(s)
    chosen = []
    for key in sorted(groups, key=lambda k: (k[0], k[1] or "")):
        ordered = sorted(groups[key], key=lambda s: (s.submitted or datetime.min.replace(tzinfo=timezone.utc),
                                                     s.attempt, s.path))
        chosen.append((ordered[-1], ordered[:-1]))
    return chosen


def late_days(submitted: datetime | None, deadline: datetime | None, grace_minutes: float = 0,
              marked: bool = False) -> int:
    """Whole days late (started days count), 0 when on time; an LMS's late mark is at least one day.

    >>> deadline = datetime(2026, 12, 10, 23, 59, tzinfo=timezone.utc)
    >>> late_days(deadline + timedelta(minutes=10), deadline, grace_minutes=15), late_days(
    ...     deadline + timedelta(hours=25), deadline)
    (0, 2)
    """
    days = 0
    if submitted is not None and deadline is not None:
        over = submitted - _utc(deadline) - timedelta(minutes=grace_minutes)
        days = max(0, math.ceil(over / timedelta(days=1)))
    return max(days, 1 if marked else 0)
