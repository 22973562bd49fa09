"""Instructor tooling: grade a folder of submitted notebooks by running them again.

Every exercise of the lab ends in ``check("<id>", function)``, which leaves a machine-readable record
in the cell's output (:data:`labkit.exercises.MIME_TYPE`). The grader does **not** trust the records a
student hands in (anyone can edit a notebook's JSON): it discards every submitted output, executes
the notebook again and counts only the records that this fresh run produces.

For each submission :func:`grade_submissions`

1. reads the file (status ``invalid`` when it is not a notebook) and works out the notebook number
   (``01`` ...) and the student id from the file name (:func:`identify`);
2. compares the ``check`` calls in the code with those the solution notebook of the same number
   makes (:func:`expected_exercises`) and looks for code that forges results (:func:`static_findings`):
   a removed check, a redefined ``check``, a hand-written check record, or a call of the exercise
   banks' reference implementations make the status ``tampered``;
3. executes a clean copy (outputs removed) in a separate process, with its own kernel, in a fresh
   temporary folder that is also its ``HOME``, its ``LABKIT_ARTIFACTS`` and its working directory,
   with a minimal environment (no variables of the grader's shell such as tokens or webhook URLs),
   a wall-clock time limit for the whole notebook and a memory limit (``RLIMIT_AS``; enforced on
   Linux only);
4. collects the fresh check records and turns them into one gradebook row: ``status`` (``ok``,
   ``crashed``, ``timeout``, ``invalid``, ``tampered``), one column per exercise (``passed``,
   ``failed``, ``not_attempted`` or ``missing``), ``score`` (exercises passed), ``max_score`` and a
   message.

:func:`grade_submissions` writes ``gradebook.csv``, ``summary.md``, the students' written answers
(``answers.md``) and the freshly executed notebooks (``executed/``) to the output folder. The batch
always finishes: a submission that crashes, hangs, exhausts memory or is not even JSON gets a row
saying so.

Isolation has limits: the student's code runs with the grader's user rights and can read any file
that user can read, and it can open network connections. For classes whose code you do not trust,
run the grader inside a container or VM (see ``docs/INSTRUCTOR_GUIDE.md``).

From a shell::

    labkit grade submissions/ --out grades/ --timeout 600 --memory-mb 4096 --jobs 2
"""
from __future__ import annotations

import asyncio
import csv
import dataclasses
import functools
import json
import logging
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import __version__
from labkit.paths import REPO_ROOT, artifacts_dir

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "EXERCISE_STATES",
    "STATUSES",
    "GradeReport",
    "SubmissionResult",
    "course_notebooks",
    "expected_exercises",
    "grade_notebook",
    "grade_submissions",
    "identify",
    "static_findings",
    "write_answers",
    "write_gradebook",
    "write_summary",
]

#: Submission statuses, from best to worst.
STATUSES = ("ok", "crashed", "timeout", "tampered", "invalid")
#: What a gradebook cell says about one exercise.
EXERCISE_STATES = ("passed", "failed", "not_attempted", "missing")
#: Default wall-clock seconds for one whole notebook, kernel start-up included.
DEFAULT_TIMEOUT = 600
#: Default address-space limit of the grading process and its kernel, in MiB.
DEFAULT_MEMORY_MB = 4096

_CHECK_CALL = re.compile(r"""\bcheck\(\s*(["'])(?P<id>[A-Za-z0-9_.\-]+)\1""")
_NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
# Seconds the grader waits beyond the notebook's own limit before it kills the worker process tree.
_KILL_GRACE = 30
_MESSAGE_LIMIT = 300
# Code that makes check records untrustworthy: (pattern, what it means).
_FORGERY_PATTERNS = (
    (re.compile(r"vnd\.labkit\.check"), "writes a check record by hand (the labkit MIME type appears in the code)"),
    (re.compile(r"\bMIME_TYPE\b"), "uses labkit.exercises.MIME_TYPE (check records written by hand?)"),
    (re.compile(r"^\s*def\s+check\s*\(", re.M), "defines its own check() function"),
    (re.compile(r"^\s*check\s*=(?!=)", re.M), "assigns something else to the name check"),
    (re.compile(r"\bimport\s+[\w.]+\s+as\s+check\b|\bas\s+check\s*(?:,|$)", re.M), "imports something else as check"),
    (re.compile(r"\bexercises\.check\s*=(?!=)"), "replaces labkit.exercises.check"),
    (re.compile(r"\blabkit\.exercises\.nb\d+|\bexercises\s+import\s+nb\d+|\bexercises\._core\b"),
     "imports an exercise bank (the reference implementations)"),
    (re.compile(r"\bget_exercise\s*\(|\b_REGISTRY\b|\.reference\s*\("),
     "calls an exercise's reference implementation"),
)
# Variables copied from the grader's environment into the submission's process; nothing else is.
_ENV_KEEP = (
    "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX",
    "LABKIT_DATA", "SYSTEMROOT",
)


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubmissionResult:
    """One gradebook row.

    Attributes
    ----------
    file : str
        The submission's path relative to the submissions folder.
    student : str
        The student id taken from the file name (see :func:`identify`).
    notebook : str
        The notebook number (``"01"``), or ``""`` when it could not be told.
    status : {"ok", "crashed", "timeout", "tampered", "invalid"}
    exercises : dict
        Exercise id -> ``"passed"``, ``"failed"``, ``"not_attempted"`` or ``"missing"`` (no record in
        the fresh run), for every exercise the solution notebook checks, in notebook order.
    score : int
        Exercises passed; 0 for ``tampered`` and ``invalid`` submissions (review those by hand).
    max_score : int
        Exercises the notebook has.
    seconds : float
        Wall-clock time spent on this submission.
    message : str
        What went wrong (or ``""``), in plain words.
    findings : tuple of str
        Everything :func:`static_findings` reported.
    answers : tuple of str
        The text of the submission's ``answer``-tagged markdown cells ("Check your understanding"),
        "" where the student left the placeholder; graded by hand (see :func:`write_answers`).
    """

    file: str
    student: str
    notebook: str
    status: str
    exercises: dict[str, str] = field(default_factory=dict)
    score: int = 0
    max_score: int = 0
    seconds: float = 0.0
    message: str = ""
    findings: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        bad = {k: v for k, v in self.exercises.items() if v not in EXERCISE_STATES}
        if bad:
            raise ValueError(f"exercise states must be one of {EXERCISE_STATES}, got {bad}")


@dataclass(frozen=True)
class GradeReport:
    """What :func:`grade_submissions` did.

    Attributes
    ----------
    results : tuple of SubmissionResult
        One per submission, sorted by file name.
    gradebook : Path
        The CSV file.
    summary : Path
        The markdown summary.
    answers : Path
        The students' written answers, collected for grading by hand.
    executed_dir : Path
        Folder with the freshly executed notebooks.
    seconds : float
        Wall-clock time of the whole batch.
    """

    results: tuple[SubmissionResult, ...]
    gradebook: Path
    summary: Path
    answers: Path
    executed_dir: Path
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        """Number of submissions per status (every status present, zeros included)."""
        counter = Counter(r.status for r in self.results)
        return {status: counter.get(status, 0) for status in STATUSES}

    @property
    def exit_code(self) -> int:
        """0 when every submission ran cleanly (status ``ok``), else 1; see the CLI's exit codes."""
        return 0 if all(r.status == "ok" for r in self.results) else 1


# --------------------------------------------------------------------------------------------------
# What the course expects
# --------------------------------------------------------------------------------------------------
def course_notebooks(root: str | Path = REPO_ROOT) -> dict[str, str]:
    """The course's notebooks by number, e.g. ``{"01": "01_baseline_model", ...}``.

    Read from the names in ``solutions/`` and ``notebooks/`` below ``root``.
    """
    root = Path(root)
    found: dict[str, str] = {}
    for folder in ("solutions", "notebooks"):
        for path in sorted((root / folder).glob(_NOTEBOOK_GLOB)):
            found.setdefault(path.name[:2], path.stem)
    return dict(sorted(found.items()))


def expected_exercises(number: str, root: str | Path = REPO_ROOT) -> list[str]:
    """The exercise ids notebook ``number`` checks, in the order its cells check them.

    Taken from the ``check("<id>", ...)`` calls of ``solutions/<number>_*.ipynb``; when the solutions
    are not there (a student bundle), from ``notebooks/<number>_*.ipynb``; failing both, from the
    exercise bank ``labkit.exercises.nb<number>``.

    Parameters
    ----------
    number : str
        Two digits, e.g. ``"01"``.
    root : str or Path, default the repository root

    Raises
    ------
    ValueError
        When no notebook and no exercise bank has that number.

    Examples
    --------
    >>> expected_exercises("01")
    ['01.split_by_time', '01.regression_report', '01.hour_profile_forecast']
    """
    root = Path(root)
    for folder in ("solutions", "notebooks"):
        for path in sorted((root / folder).glob(f"{number}_*.ipynb")):
            ids = _check_ids(json.loads(path.read_text(encoding="utf-8")))
            if ids:
                return ids
    from labkit.exercises import UnknownExerciseError, exercise_ids

    try:
        ids = exercise_ids(number)
    except UnknownExerciseError:
        ids = []
    if not ids:
        raise ValueError(
            f"notebook {number!r}: no solution notebook solutions/{number}_*.ipynb and no exercise bank "
            f"labkit.exercises.nb{number}; known notebooks: {', '.join(course_notebooks(root)) or 'none'}"
        )
    return ids


def _code_sources(nb: Mapping) -> list[str]:
    sources = []
    for cell in nb.get("cells", []):
        if isinstance(cell, Mapping) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return sources


def _check_ids(nb: Mapping) -> list[str]:
    ids: list[str] = []
    for source in _code_sources(nb):
        for match in _CHECK_CALL.finditer(source):
            if match.group("id") not in ids:
                ids.append(match.group("id"))
    return ids


def identify(
    path: str | Path, submissions_dir: str | Path, notebooks: Mapping[str, str], *, number: str | None = None
) -> tuple[str, str | None]:
    """Tell the student id and the notebook number from a submission's file name.

    The notebook is recognised by its name (``alice_01_baseline_model.ipynb``,
    ``01_baseline_model-alice.ipynb``) or by a two-digit token that is a course notebook's number
    (``alice_01.ipynb``). What is left of the file name is the student id; when nothing is left, the
    sub-folder the file sits in (``alice/01_baseline_model.ipynb``).

    Parameters
    ----------
    path : str or Path
        The submission.
    submissions_dir : str or Path
        The folder being graded (for sub-folder names).
    notebooks : mapping
        :func:`course_notebooks`.
    number : str, optional
        Force the notebook number (``labkit grade --notebook 01``).

    Returns
    -------
    (student, number)
        ``number`` is None when the name does not say.

    Examples
    --------
    >>> nbs = {"01": "01_baseline_model", "02": "02_simulate_drift"}
    >>> identify("subs/alice_01_baseline_model.ipynb", "subs", nbs)
    ('alice', '01')
    >>> identify("subs/bob/02_simulate_drift.ipynb", "subs", nbs)
    ('bob', '02')
    >>> identify("subs/carol-02.ipynb", "subs", nbs)
    ('carol', '02')
    """
    path, base = Path(path), Path(submissions_dir)
    stem = path.stem
    found, rest = None, stem
    for num, name in notebooks.items():
        at = stem.lower().find(name.lower())
        if at >= 0:
            found, rest = num, stem[:at] + " " + stem[at + len(name):]
            break
    if found is None:
        for match in re.finditer(r"(?<![0-9A-Za-z])(\d{2})(?![0-9A-Za-z])", stem):
            if match.group(1) in notebooks:
                found, rest = match.group(1), stem[: match.start()] + " " + stem[match.end():]
                break
    student = re.sub(r"[\s_.\-]{2,}", "_", rest).strip(" _.-")
    if not student:
        try:
            parent = path.parent.resolve().relative_to(base.resolve())
            student = parent.parts[0] if parent.parts else stem
        except ValueError:
            student = path.parent.name or stem
    return student, number or found


def static_findings(nb: Mapping, expected: Sequence[str]) -> list[str]:
    """Reasons to distrust a submission's check records, found by reading its code.

    Parameters
    ----------
    nb : mapping
        The submitted notebook (JSON).
    expected : sequence of str
        The exercise ids its solution checks (:func:`expected_exercises`).

    Returns
    -------
    list of str
        Plain-words findings; empty for an honest notebook. These are heuristics: a finding means
        "look at this notebook", and the grader marks it ``tampered`` with score 0 until you do.

    Examples
    --------
    >>> nb = {"cells": [{"cell_type": "code", "source": "f = check('01.a', f)"}]}
    >>> static_findings(nb, ["01.a", "01.b"])
    ['the check of exercise 01.b was removed (no check("01.b", ...) call in the code)']
    """
    sources = _code_sources(nb)
    present = _check_ids(nb)
    findings = [
        f'the check of exercise {i} was removed (no check("{i}", ...) call in the code)'
        for i in expected if i not in present
    ]
    code = "\n".join(sources)
    for pattern, meaning in _FORGERY_PATTERNS:
        if pattern.search(code):
            findings.append(f"the code {meaning}")
    return findings


# --------------------------------------------------------------------------------------------------
# Grading one notebook
# --------------------------------------------------------------------------------------------------
def grade_notebook(
    path: str | Path,
    *,
    submissions_dir: str | Path | None = None,
    notebooks: Mapping[str, str] | None = None,
    number: str | None = None,
    root: str | Path = REPO_ROOT,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    keep_going: bool = False,
    executed_dir: str | Path | None = None,
) -> SubmissionResult:
    """Grade one submitted notebook (see the module docstring for the steps).

    Parameters
    ----------
    path : str or Path
        The submitted ``.ipynb``.
    submissions_dir : str or Path, optional
        The folder being graded; default the file's folder.
    notebooks : mapping, optional
        :func:`course_notebooks` of ``root`` (computed when not given).
    number : str, optional
        Force the notebook number instead of reading it from the file name.
    root : str or Path, default the repository root
        Where the solution notebooks are.
    timeout : float, default 600
        Wall-clock seconds for the whole notebook, kernel start-up included.
    memory_mb : int or None, default 4096
        Address-space limit of the process that runs the notebook and of its kernel; None for no limit.
    keep_going : bool, default False
        Run the cells after a failing cell too (like ``nbclient --allow-errors``); by default
        execution stops at the first error, as "Restart Kernel and Run All Cells" does.
    executed_dir : str or Path, optional
        Where to save the freshly executed notebook (same file name); not saved when None.

    Returns
    -------
    SubmissionResult
        Never raises for a bad submission: every problem becomes a status and a message.
    """
    started = time.monotonic()
    path = Path(path)
    base = Path(submissions_dir) if submissions_dir is not None else path.parent
    notebooks = dict(notebooks) if notebooks is not None else course_notebooks(root)
    rel = _relative(path, base)
    student, num = identify(path, base, notebooks, number=number)

    def row(status: str, message: str, **kw: Any) -> SubmissionResult:
        return SubmissionResult(
            rel, student, num or "", status, message=_one_line(message),
            seconds=round(time.monotonic() - started, 2), **kw,
        )

    try:
        nb = _read_submission(path)
    except ValueError as exc:
        try:
            expected = expected_exercises(num, root) if num else []
        except ValueError:
            expected = []
        return row("invalid", str(exc), exercises={i: "missing" for i in expected}, max_score=len(expected))
    if num is None:
        banks = sorted({i.split(".", 1)[0] for i in _check_ids(nb)} & set(notebooks))
        if len(banks) != 1:
            return row(
                "invalid",
                "cannot tell which notebook this is: name the file <student>_<NN>_<name>.ipynb "
                f"(e.g. alice_{next(iter(notebooks), '01')}_...) or grade with --notebook NN",
            )
        num = banks[0]
    try:
        expected = expected_exercises(num, root)
    except ValueError as exc:
        return row("invalid", str(exc))

    findings = static_findings(nb, expected)
    answers = _answers(nb)
    run = _execute_isolated(
        _clean_copy(nb), timeout=timeout, memory_mb=memory_mb, keep_going=keep_going,
    )
    if executed_dir is not None and run.notebook is not None:
        target = Path(executed_dir) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(run.notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    states, notes = _exercise_states(run.notebook, expected)
    removed = set(expected) - set(_check_ids(nb))
    missing = [i for i, s in states.items() if s == "missing" and i not in removed]
    if run.status == "ok" and missing:
        findings.append(
            f"the notebook ran to the end but never checked {', '.join(missing)} "
            "(check call commented out, skipped or never reached)"
        )
    findings += [n for n in notes if n.startswith("forged")]
    notes = [n for n in notes if not n.startswith("forged")]
    score = sum(s == "passed" for s in states.values())
    if findings:
        status, score = "tampered", 0
        message = "review by hand: " + "; ".join(findings)
    elif run.status != "ok":
        status, message = run.status, run.message
    else:
        status, message = "ok", ""
    if notes:
        message = "; ".join(filter(None, [message, *notes]))
    return row(status, message, exercises=states, score=score, max_score=len(expected), findings=tuple(findings),
               answers=answers)


def _read_submission(path: Path) -> dict:
    import nbformat

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the file ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValueError("not a notebook: the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a notebook: invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not a notebook: the JSON has no list of 'cells'")
    if data.get("nbformat") != 4:
        try:
            data = nbformat.reads(json.dumps(data), as_version=4)
        except Exception as exc:
            raise ValueError(f"not an nbformat 4 notebook and cannot be converted ({exc})") from None
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise ValueError(f"not a valid notebook: cell {index} has no valid cell_type")
        if not isinstance(cell.get("source", ""), (str, list)):
            raise ValueError(f"not a valid notebook: cell {index} has a source that is not text")
    return data


def _answers(nb: Mapping) -> tuple[str, ...]:
    from labkit_instructor.release import ANSWER_PLACEHOLDER

    out = []
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "markdown" and isinstance(tags, list) and "answer" in tags:
            source = cell.get("source", "")
            text = ("".join(source) if isinstance(source, list) else str(source)).strip()
            out.append("" if text == ANSWER_PLACEHOLDER else text)
    return tuple(out)


def _clean_copy(nb: Mapping) -> dict:
    """The notebook with every output and execution count removed (the submitted ones never count)."""
    import nbformat

    cells = []
    for index, cell in enumerate(nb["cells"]):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        tags = cell.get("metadata", {}).get("tags", [])
        metadata = {"tags": [t for t in tags if isinstance(t, str)]} if isinstance(tags, list) and tags else {}
        cell_id = cell.get("id") if isinstance(cell.get("id"), str) else None
        if cell["cell_type"] == "code":
            new = nbformat.v4.new_code_cell(source=source, metadata=metadata)
        elif cell["cell_type"] == "markdown":
            new = nbformat.v4.new_markdown_cell(source=source, metadata=metadata)
        else:
            new = nbformat.v4.new_raw_cell(source=source, metadata=metadata)
        new["id"] = cell_id if cell_id and re.match(r"^[a-zA-Z0-9_-]{1,64}$", cell_id) else f"cell-{index}"
        cells.append(new)
    seen: set[str] = set()
    for index, cell in enumerate(cells):  # duplicate ids are invalid nbformat 4.5
        if cell["id"] in seen:
            cell["id"] = f"cell-{index}"
        seen.add(cell["id"])
    out = nbformat.v4.new_notebook(
        cells=cells,
        metadata={"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                  "language_info": {"name": "python"}},
    )
    return out


def _exercise_states(nb: Mapping | None, expected: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map each expected id to the last fresh record's status, or "missing"; plus notes."""
    from labkit.exercises import collect_results

    states = {i: "missing" for i in expected}
    notes: list[str] = []
    if nb is None:
        return states, notes
    try:
        records = collect_results(nb)
    except (TypeError, ValueError) as exc:
        return states, [f"forged or damaged check output ({exc})"]
    extra = []
    for record in records:
        ident, status = record.get("exercise"), record.get("status")
        if status not in ("passed", "failed", "not_attempted") :
            version = record.get("labkit_version")
            notes.append(f"forged check record for {ident!r} (status {status!r}, labkit {version!r})")
            continue
        if ident in states:
            states[ident] = status  # the last record wins (a student may re-run a check further down)
        elif ident not in extra:
            extra.append(ident)
    if extra:
        notes.append(f"checks of other notebooks ignored: {', '.join(map(str, extra))}")
    return states, notes


# --------------------------------------------------------------------------------------------------
# Running a notebook in a separate process
# --------------------------------------------------------------------------------------------------
@dataclass
class _Run:
    status: str  # ok | crashed | timeout
    message: str
    notebook: dict | None


def _child_env(work: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    source_tree = Path(__file__).resolve().parents[1]
    if (source_tree / "pyproject.toml").is_file():  # labkit from a source tree: make sure the child finds it
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source_tree), env.get("PYTHONPATH")]))
    home = work / "home"
    for sub in ("home", "tmp", "runs", "runtime"):
        (work / sub).mkdir(exist_ok=True)
    env.update(
        HOME=str(home),
        TMPDIR=str(work / "tmp"),
        LABKIT_ARTIFACTS=str(work / "runs"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
        IPYTHONDIR=str(home / ".ipython"),
        MPLCONFIGDIR=str(home / ".matplotlib"),
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        # one thread per math library: predictable memory under RLIMIT_AS and fair sharing with --jobs
        OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
        DO_NOT_TRACK="1", TRANSFORMERS_VERBOSITY="error", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        LABKIT_GRADING="1",
    )
    return env


def _execute_isolated(nb: dict, *, timeout: float, memory_mb: int | None, keep_going: bool) -> _Run:
    work = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    try:
        (work / "submission.ipynb").write_text(json.dumps(nb), encoding="utf-8")
        command = [
            sys.executable, "-m", "labkit_instructor.grade", "--worker", "submission.ipynb", "executed.ipynb",
            "outcome.json", "--timeout", str(timeout), "--memory-mb", str(memory_mb or 0),
        ] + (["--keep-going"] if keep_going else [])
        with open(work / "worker.log", "wb") as log:
            process = subprocess.Popen(
                command, cwd=work, env=_child_env(work), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            try:
                process.wait(timeout=timeout + _KILL_GRACE)
            except subprocess.TimeoutExpired:
                _kill_tree(process)
                return _Run("timeout", f"did not finish within {timeout:g} s (killed)", _load(work / "executed.ipynb"))
        outcome = _load(work / "outcome.json")
        executed = _load(work / "executed.ipynb")
        if outcome is None:
            tail = (work / "worker.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            reason = f"exit code {process.returncode}" + (f": {tail[0]}" if tail else "")
            if memory_mb and "MemoryError" in "".join(tail):
                reason += f" (memory limit {memory_mb} MB)"
            return _Run("crashed", f"the grading process failed ({reason})", executed)
        return _Run(outcome["status"], outcome.get("message", ""), executed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill the worker and everything it started (its kernel runs in a session of its own)."""
    try:
        import psutil  # installed with ipykernel

        try:
            parent = psutil.Process(process.pid)
            victims = parent.children(recursive=True) + [parent]
        except psutil.NoSuchProcess:
            victims = []
        for victim in victims:
            try:
                victim.kill()
            except psutil.NoSuchProcess:
                pass
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        import signal

        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


# --------------------------------------------------------------------------------------------------
# The worker (runs in the child process: python -m labkit.grade --worker ...)
# --------------------------------------------------------------------------------------------------
def _limit_memory(memory_mb: int) -> str:
    """Apply RLIMIT_AS to this process (inherited by the kernel); return a note when not possible."""
    try:
        import resource
    except ImportError:
        return "memory limit not enforced (no resource module on this platform)"
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    if not memory_mb:
        return ""
    limit = int(memory_mb) * 1024 * 1024
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError) as exc:
        return f"memory limit not enforced ({exc})"
    if not sys.platform.startswith("linux"):
        return "memory limit set, but RLIMIT_AS is only enforced on Linux"
    return ""


def _worker(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m labkit_instructor.grade --worker")
    parser.add_argument("source")
    parser.add_argument("executed")
    parser.add_argument("outcome")
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--keep-going", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    note = _limit_memory(args.memory_mb)

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(args.source, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=max(1, math.ceil(args.timeout)), allow_errors=args.keep_going,
        startup_timeout=max(1, min(60, math.ceil(args.timeout))), record_timing=False,
        shutdown_kernel="immediate", resources={"metadata": {"path": os.getcwd()}},
    )
    where = {"index": None}
    deadline = started + args.timeout

    async def run() -> None:
        client.reset_execution_trackers()
        async with client.async_setup_kernel():
            reply = await client.async_wait_for_reply(await _maybe_await(client.kc.kernel_info()))
            if reply is not None and "language_info" in reply["content"]:
                nb.metadata["language_info"] = reply["content"]["language_info"]
            for index, cell in enumerate(nb.cells):
                where["index"] = index
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CellTimeoutError(f"no time left before cell {index}")
                client.timeout = max(1, math.ceil(remaining))
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)

    def cell_name(index: int | None) -> str:
        if index is None:
            return "before the first cell"
        return f"cell {index} (id {nb.cells[index].get('id', '?')})"

    status, message = "ok", ""
    try:
        asyncio.run(run())
    except CellTimeoutError:
        status = "timeout"
        message = f"{cell_name(where['index'])} was still running when the {args.timeout:g} s limit ran out"
    except CellExecutionError as exc:
        status, message = "crashed", f"{cell_name(where['index'])} raised {exc.ename}: {exc.evalue}"
        if exc.ename == "MemoryError" and args.memory_mb:
            message += f" (memory limit {args.memory_mb} MB)"
    except DeadKernelError as exc:
        status = "crashed"
        message = f"the kernel died in {cell_name(where['index'])} ({exc}); out of memory or a crash in native code?"
    except Exception as exc:  # the kernel could not start, a message could not be parsed, ...
        status, message = "crashed", f"{cell_name(where['index'])}: {type(exc).__name__}: {exc}"
    if status == "ok" and args.keep_going:
        errors = [
            f"{cell_name(i)} raised {o.get('ename')}"
            for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"
        ]
        if errors:
            status, message = "crashed", "; ".join(errors)
    if note:
        message = "; ".join(filter(None, [message, note]))
    Path(args.executed).write_text(nbformat.writes(nb), encoding="utf-8")
    Path(args.outcome).write_text(json.dumps({"status": status, "message": message}), encoding="utf-8")
    return 0


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


# --------------------------------------------------------------------------------------------------
# The batch
# --------------------------------------------------------------------------------------------------
def grade_submissions(
    submissions_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int | None = DEFAULT_MEMORY_MB,
    jobs: int = 1,
    number: str | None = None,
    root: str | Path = REPO_ROOT,
    keep_going: bool = False,
    progress: bool = True,
) -> GradeReport:
    """Grade every ``.ipynb`` below ``submissions_dir``; write the gradebook and the summary.

    Parameters
    ----------
    submissions_dir : str or Path
        The folder of submissions (sub-folders are searched too; ``.ipynb_checkpoints`` are skipped).
    out_dir : str or Path, optional
        Where ``gradebook.csv``, ``summary.md`` and ``executed/`` go; default
        ``<artifacts>/grades/<name of submissions_dir>`` (``runs/`` is git-ignored: student data must
        not end up in a commit).
    timeout : float, default 600
        Wall-clock seconds per notebook.
    memory_mb : int or None, default 4096
        Address-space limit per notebook (Linux); None or 0 for no limit.
    jobs : int, default 1
        Notebooks graded at the same time (each uses about one core).
    number : str, optional
        Treat every submission as notebook ``number`` (when file names do not say).
    root : str or Path, default the repository root
        Where ``solutions/`` (the expected exercises) is.
    keep_going : bool, default False
        Run the cells after a failing cell too.
    progress : bool, default True
        Show a tqdm progress bar on stderr.

    Returns
    -------
    GradeReport

    Raises
    ------
    FileNotFoundError
        When ``submissions_dir`` does not exist or holds no ``.ipynb`` file.
    ValueError
        For a bad option value (timeout, memory_mb, jobs, number).
    """
    submissions_dir = Path(submissions_dir)
    _validate_options(timeout, memory_mb, jobs)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(
            f"submissions folder not found: {submissions_dir}; pass the folder holding the .ipynb files"
        )
    paths = sorted(
        p for p in submissions_dir.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file()
    )
    if not paths:
        raise FileNotFoundError(f"no .ipynb files in {submissions_dir} (or its sub-folders); nothing to grade")
    notebooks = course_notebooks(root)
    if number is not None and number not in notebooks:
        raise ValueError(f"--notebook {number!r}: not a course notebook; known: {', '.join(notebooks) or 'none'}")
    out = Path(out_dir) if out_dir is not None else artifacts_dir("grades", submissions_dir.resolve().name)
    executed_dir = out / "executed"
    executed_dir.mkdir(parents=True, exist_ok=True)

    from tqdm.auto import tqdm

    started = time.monotonic()
    grade: Callable[[Path], SubmissionResult] = functools.partial(
        grade_notebook, submissions_dir=submissions_dir, notebooks=notebooks, number=number, root=root,
        timeout=timeout, memory_mb=memory_mb or None, keep_going=keep_going, executed_dir=executed_dir,
    )
    results: list[SubmissionResult] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool, tqdm(
        total=len(paths), desc="grading", unit="notebook", disable=not progress, file=sys.stderr,
    ) as bar:
        futures = {pool.submit(grade, p): p for p in paths}
        for future in as_completed(futures):
            path = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a bug in the grader must not stop the batch
                logger.exception("grading %s failed", path)
                result = SubmissionResult(
                    _relative(path, submissions_dir), path.stem, "", "crashed",
                    message=_one_line(f"the grader failed on this file: {type(exc).__name__}: {exc}"),
                )
            results.append(result)
            bar.set_postfix_str(f"{result.student}: {result.status}", refresh=False)
            bar.update(1)
    results = _flag_duplicates(sorted(results, key=lambda r: r.file))
    seconds = round(time.monotonic() - started, 1)
    gradebook = write_gradebook(results, out / "gradebook.csv")
    summary = write_summary(
        results, out / "summary.md",
        settings={"submissions": str(submissions_dir), "timeout (s)": f"{timeout:g}",
                  "memory limit (MB)": str(memory_mb or "none"), "jobs": str(jobs),
                  "keep going after errors": "yes" if keep_going else "no", "labkit": __version__,
                  "wall-clock time (s)": f"{seconds:g}"},
    )
    answers = write_answers(results, out / "answers.md")
    return GradeReport(tuple(results), gradebook, summary, answers, executed_dir, seconds)


def _validate_options(timeout: float, memory_mb: int | None, jobs: int) -> None:
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0 or math.isinf(timeout):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if memory_mb is not None and (not isinstance(memory_mb, int) or isinstance(memory_mb, bool)
                                  or (memory_mb != 0 and memory_mb < 256)):
        raise ValueError(
            f"memory_mb must be at least 256 (a kernel with pandas needs several hundred MB), or 0/None for no "
            f"limit; got {memory_mb!r}"
        )
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")


def _flag_duplicates(results: list[SubmissionResult]) -> list[SubmissionResult]:
    seen = Counter((r.student, r.notebook) for r in results if r.notebook)
    out = []
    for r in results:
        if r.notebook and seen[(r.student, r.notebook)] > 1:
            note = f"student {r.student!r} handed in notebook {r.notebook} more than once"
            r = dataclasses.replace(r, message="; ".join(filter(None, [r.message, note])))
        out.append(r)
    return out


# --------------------------------------------------------------------------------------------------
# Output files
# --------------------------------------------------------------------------------------------------
def write_gradebook(results: Sequence[SubmissionResult], path: str | Path) -> Path:
    """Write one CSV row per submission.

    Columns: ``file, student, notebook, status``, one column per exercise id (all notebooks in the
    batch; empty where an exercise belongs to another notebook), ``score, max_score, seconds, message``.
    Text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) is
    prefixed with ``'``: file names and messages come from students.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    exercise_columns: list[str] = []
    for r in results:
        exercise_columns += [i for i in r.exercises if i not in exercise_columns]
    exercise_columns.sort(key=lambda i: (i.split(".", 1)[0], _first_position(results, i)))
    header = ["file", "student", "notebook", "status", *exercise_columns, "score", "max_score", "seconds", "message"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in results:
            writer.writerow([
                _safe_cell(r.file), _safe_cell(r.student), r.notebook, r.status,
                *(r.exercises.get(i, "") for i in exercise_columns),
                r.score, r.max_score, f"{r.seconds:.1f}", _safe_cell(r.message),
            ])
    return path


def _first_position(results: Sequence[SubmissionResult], ident: str) -> int:
    for r in results:
        if ident in r.exercises:
            return list(r.exercises).index(ident)
    return 0


def write_summary(
    results: Sequence[SubmissionResult], path: str | Path, *, settings: Mapping[str, str] | None = None
) -> Path:
    """Write a markdown summary: counts per status, scores, pass rate per exercise, problems to review."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = Counter(r.status for r in results)
    lines = ["# Grading summary", ""]
    if settings:
        lines += ["| setting | value |", "|---|---|"] + [f"| {k} | {_md(v)} |" for k, v in settings.items()] + [""]
    lines += [f"**{len(results)} submissions**: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES), ""]
    for number in sorted({r.notebook for r in results if r.notebook}):
        group = [r for r in results if r.notebook == number]
        graded = [r for r in group if r.status not in ("invalid", "tampered")]
        lines += [f"## Notebook {number}", ""]
        if graded:
            scores = [r.score for r in graded]
            top = max(r.max_score for r in group)
            lines += [
                f"Scores of the {len(graded)} submissions graded automatically (out of {top}): "
                f"mean {statistics.mean(scores):.2f}, median {statistics.median(scores):g}, "
                f"min {min(scores)}, max {max(scores)}.",
                "",
            ]
        ids = list(dict.fromkeys(i for r in group for i in r.exercises))
        lines += ["| exercise | passed | failed | not attempted | missing |", "|---|---|---|---|---|"]
        for ident in ids:
            c = Counter(r.exercises.get(ident) for r in graded)
            lines.append(f"| {ident} | {c['passed']} | {c['failed']} | {c['not_attempted']} | {c['missing']} |")
        lines.append("")
    problems = [r for r in results if r.status != "ok" or r.message]
    lines += ["## To review", ""]
    if problems:
        lines += ["| file | student | status | message |", "|---|---|---|---|"]
        lines += [f"| {_md(r.file)} | {_md(r.student)} | {r.status} | {_md(r.message)} |" for r in problems]
    else:
        lines.append("Nothing: every submission ran cleanly.")
    lines += [
        "",
        "Statuses: **ok** ran to the end; **crashed** stopped at an error (exercises after it are *missing*); "
        "**timeout** hit the time limit; **tampered** the code removes or fakes checks (score 0 until you "
        "review it); **invalid** not a readable notebook. The freshly executed notebooks are in `executed/`.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_answers(results: Sequence[SubmissionResult], path: str | Path) -> Path:
    """Collect every student's written answers ("Check your understanding") in one markdown file.

    The answers are not graded automatically; this puts them side by side, per notebook and student,
    so they can be read and marked in one pass (the model answers are in the solution notebooks).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written answers", "",
             "Copied from each submission's `answer` cells; model answers are in `solutions/`.", ""]
    for number in sorted({r.notebook for r in results if r.notebook}):
        lines += [f"## Notebook {number}", ""]
        for r in (r for r in results if r.notebook == number):
            lines += [f"### {r.student} ({r.file})", ""]
            texts = [t for t in r.answers if t]
            lines += ["\n\n".join(texts) if texts else "_no answer written_", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _safe_cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # ANSI colours from tracebacks
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.name


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        raise SystemExit(_worker(sys.argv[2:]))
    from labkit_instructor.cli import main

    raise SystemExit(main(["grade", *sys.argv[1:]]))
