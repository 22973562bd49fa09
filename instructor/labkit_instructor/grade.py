"""Grade submitted notebooks: each exercise's own code, in a sandbox, against hidden cases.

For every submission the grader

1. works out the student and the notebook from the file name (LMS downloads, browser copies; see
   :mod:`labkit_instructor.submissions`), keeps the latest upload per student and notebook, and
   reports a notebook handed in as another one as the *wrong notebook*;
2. reads each exercise's code **statically** (the definitions in the exercise's cell plus the
   notebook's imports; :mod:`labkit_instructor.extract`): nothing the notebook printed, displayed,
   saved or would do when run can change its score;
3. runs that code in a fresh **bubblewrap sandbox** (:mod:`labkit_instructor.sandbox`) on the visible
   cases and on **hidden cases** students never receive, and gets back what each call returned, as
   data (JSON plus ``.npy``/Parquet, never pickles, through a pipe the code does not own);
4. compares those values with the outputs the instructor's reference implementations give, computed
   in the grader's own process (the expected outputs never enter a sandbox);
5. writes a gradebook with points per exercise, per notebook and in total, Canvas and Moodle import
   files, a feedback file per student, the written answers for a TA to score, and a summary.

Work is spread over a local process pool (``jobs``) or a Dask cluster (``cluster="tcp://host:8786"``):
each task gets the submission as bytes and a *kit* (the notebook's cases and expected outputs, and a
zip of labkit that becomes the sandbox's read-only copy) and returns plain data, so both give the
same gradebook.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import inspect
import io
import json
import logging
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit.exercises import Bank, call_fingerprint, compare_values, sketches_match
from labkit.paths import REPO_ROOT
from labkit_instructor import codec, extract, sandbox
from labkit_instructor import exercises as key
from labkit_instructor.config import GradingConfig
from labkit_instructor.submissions import Roster, choose_latest, find_submissions, late_days

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_LIMITS", "GradeReport", "GradeSettings", "Kit", "build_kit", "grade_submission",
           "grade_submissions", "read_scores", "STATUSES"]

#: What a gradebook cell says about one exercise.
STATUSES = ("passed", "failed", "not_attempted", "missing")
DEFAULT_LIMITS = sandbox.Limits()
#: The optional "runs clean" check runs a whole notebook with its kernel: more memory, time and processes.
RUN_ALL_LIMITS = sandbox.Limits(memory_mb=4096, cpu_seconds=900, wall_seconds=900, processes=256, file_mb=256)
_HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------------
# The kit: everything a worker needs to grade one notebook, as bytes
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kit:
    """One notebook's grading material. ``task`` (inputs, no answers) goes into each sandbox; ``expected``
    (the references' outputs) stays in the worker; ``lab`` is a zip of labkit and the data."""

    notebook: str
    task_json: bytes
    task_npz: bytes
    expected_json: bytes
    expected_npz: bytes
    lab: bytes
    digest: str


def lab_zip(root: str | Path = REPO_ROOT) -> bytes:
    """labkit (sources and recorded banks), data/ and monitoring/, zipped: the sandbox's read-only,
    non-editable copy of what the notebooks use."""
    import labkit

    package, buffer = Path(labkit.__file__).resolve().parent, io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder, prefix in ((package, "labkit"), (Path(root) / "data", "data"),
                               (Path(root) / "monitoring", "monitoring")):
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    info = zipfile.ZipInfo(f"{prefix}/{path.relative_to(folder).as_posix()}", (1980, 1, 1, 0, 0, 0))
                    archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


class _Recorder:
    """Wraps a reference another exercise calls (``gradual_shift`` calls ``ramp``): records its results for
    the calls made, so that the sandbox can offer them as a fallback instead of the reference's code."""

    def __init__(self, exercise: key.Exercise, writer: codec.BankWriter):
        self.exercise, self.writer, self.entries = exercise, writer, []
        self.signature = inspect.signature(exercise.reference)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        k, sketch = call_fingerprint({"reads": dict(self.exercise.reads)}, bound.arguments)
        result = self.exercise.reference(*args, **kwargs)
        if not any(e["key"] == k and sketches_match(e["sketch"], sketch) for e in self.entries):
            self.entries.append({"key": k, "sketch": [float(x) for x in sketch], "result": self.writer.encode(result)})
        return result

    def meta(self) -> dict[str, Any]:
        params = [{"name": p.name, **({} if p.default is p.empty else {"default": self.writer.encode(p.default)})}
                  for p in self.signature.parameters.values()]
        return {"signature": params, "reads": dict(self.exercise.reads), "fallback": self.entries}


def build_kit(notebook: str, lab: bytes) -> Kit:
    """Run the references on the visible and hidden cases of ``notebook`` (here, in the grader)."""
    task_writer, expected_writer = codec.BankWriter(), codec.BankWriter()
    task, expected = {"notebook": notebook, "exercises": []}, {}
    siblings = {e.name: e for e in key.exercises(notebook)}
    for exercise in key.exercises(notebook):
        cases = [("visible", c) for c in exercise.visible()] + [("hidden", c) for c in exercise.hidden()]
        names = list(inspect.signature(exercise.reference).parameters)
        module = exercise.reference.__globals__
        deps = {n: _Recorder(siblings[n], task_writer) for n in exercise.reference.__code__.co_names
                if n in siblings and n != exercise.name}
        saved = {n: module[n] for n in deps}
        module.update(deps)
        try:
            outputs = [exercise.reference(*copy.deepcopy(c.args), **copy.deepcopy(dict(c.kwargs))) for _, c in cases]
        finally:
            module.update(saved)
        task["exercises"].append({
            "id": exercise.id, "name": exercise.name,
            "deps": {siblings[n].id: r.meta() for n, r in deps.items()},
            "cases": [{"args": task_writer.encode(list(c.args)), "kwargs": task_writer.encode(dict(c.kwargs)),
                       "names": names[:len(c.args)] + list(c.kwargs)} for _, c in cases]})
        expected[exercise.id] = {
            "kinds": [kind for kind, _ in cases], "labels": [c.label or f"#{i}" for i, (_, c) in enumerate(cases, 1)],
            "values": [expected_writer.encode(o) for o in outputs], "rtol": exercise.rtol, "atol": exercise.atol}
    parts = [codec.dumps(task).encode(), codec.npz_bytes(task_writer.blobs),
             codec.dumps(expected).encode(), codec.npz_bytes(expected_writer.blobs), lab]
    tools = [(_HERE / name).read_bytes() for name in ("runner.py", "codec.py")]  # a new runner: a new folder
    digest = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts + tools)).hexdigest()[:16]
    return Kit(notebook, *parts, digest)


_KITS: dict[tuple[str, str], Kit] = {}


def _kit(notebook: str, lab: bytes) -> Kit:
    """:func:`build_kit`, once per notebook and labkit in this process (running the references takes a while)."""
    cache_key = (notebook, hashlib.sha256(lab).hexdigest())
    if cache_key not in _KITS:
        _KITS[cache_key] = build_kit(notebook, lab)
    return _KITS[cache_key]


# --------------------------------------------------------------------------------------------------
# One submission (runs in a worker: a local process or a Dask worker)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskOptions:
    """What a worker needs besides the submission and the kit."""

    limits: sandbox.Limits = DEFAULT_LIMITS
    unsafe: bool = False
    expected_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    run_all: bool = False


def _unpacked(kit: Kit) -> Path:
    """The kit's files on this machine (made once per kit): ``lab/`` and ``task/``, readable by the sandbox."""
    base = Path(tempfile.gettempdir()) / f"labkit-grade-{kit.digest}"
    if not (base / "ready").exists():
        staging = Path(tempfile.mkdtemp(prefix=f"labkit-grade-{kit.digest}-"))
        with zipfile.ZipFile(io.BytesIO(kit.lab)) as archive:
            archive.extractall(staging / "lab")
        (staging / "task").mkdir()
        (staging / "task" / "task.json").write_bytes(kit.task_json)
        (staging / "task" / "task.npz").write_bytes(kit.task_npz)
        for name in ("runner.py", "codec.py"):
            shutil.copy(_HERE / name, staging / "task" / name)
        (staging / "ready").write_text("ok")
        _world_readable(staging)
        try:
            staging.rename(base)
        except OSError:  # another worker was quicker
            shutil.rmtree(staging, ignore_errors=True)
    return base


def _world_readable(folder: Path) -> None:
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _run_code(kit: Kit, extracted: extract.Extracted, options: TaskOptions,
              notebook: dict | None = None) -> tuple[list[dict], dict, str]:
    """Run a submission's code in a sandbox: (one result per exercise, the final line, why it stopped).
    With ``notebook``, run the whole notebook instead (the optional "runs clean" check)."""
    base = _unpacked(kit)
    sandboxed = shutil.which("bwrap") is not None
    limits = options.limits if notebook is None else RUN_ALL_LIMITS
    code = {"imports": list(extracted.imports), "exercises": extracted.code, "notebook": notebook,
            "limits": limits.for_runner(sandboxed)}
    with tempfile.TemporaryDirectory(prefix="labkit-code-") as folder:
        Path(folder, "code.json").write_text(codec.dumps(code), encoding="utf-8")
        _world_readable(Path(folder))
        env = {"PYTHONPATH": "/opt/lab", "LABKIT_TASK_DIR": "/task", "LABKIT_CODE_DIR": "/code",
               "LABKIT_ARTIFACTS": "/tmp/runs", "MPLCONFIGDIR": "/tmp", "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "DO_NOT_TRACK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"  # the kernel of the "runs clean" check
        result = sandbox.run([sys.executable, "-B", "-s", "/task/runner.py"],
                             {"/opt/lab": base / "lab", "/task": base / "task", "/code": Path(folder)}, env,
                             limits, unsafe=options.unsafe)
    lines, final, events = [], {}, []
    for raw in result.output.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict):
            continue
        if line.get("done"):
            final = line
        elif "event" in line:
            events.append(str(line["event"])[:200])
        elif "runs_clean" in line:
            events.append(f"runs clean: {str(line['runs_clean'])[:200]}")
        elif "exercise" in line:
            lines.append(line)
    ran = [e.split(": ", 1)[1] for e in events if e.startswith("runs clean: ")]
    events = [e for e in events if not e.startswith("runs clean: ")]
    done, final = bool(final), final | {"events": sorted(set(events) | set(final.get("events", [])))}
    final |= {"runs_clean": ran[0]} if ran else {}
    reason = result.stopped or ("" if done else f"ended without a result (exit status {result.returncode})")
    return lines, {"cpu_seconds": result.cpu_seconds} | final | {"seconds": result.seconds}, reason


def _score_exercise(line: dict | None, expected: dict, expected_bank: Bank, extracted_code: str) -> dict:
    """Compare one exercise's returned values with the expected ones: status, first visible mismatch,
    hidden cases passed."""
    kinds, total = expected["kinds"], expected["kinds"].count("hidden")
    out = {"status": "missing", "hidden_passed": 0, "hidden_total": total, "detail": "", "problems": []}
    if not extracted_code:
        out["detail"] = "no cell of this notebook checks this exercise"
        return out
    if line is None:
        out["detail"] = "the sandbox returned nothing for this exercise"
        return out
    out["problems"] = list(line.get("problems", []))
    if not line.get("defined"):
        out["detail"] = "the exercise's cell does not define the function (or its definition failed)"
        return out
    cases = line.get("cases", [])
    if cases and cases[0].get("not_implemented"):
        out.update(status="not_attempted", detail="not attempted (raises NotImplementedError)")
        return out
    blobs = {name: codec.read_npy_b64(text) for name, text in line.get("blobs", {}).items()}
    returned = Bank({}, blobs)
    first = ""
    for i, kind in enumerate(kinds):
        case = cases[i] if i < len(cases) else {"error": "did not run (time limit)"}
        difference = case.get("error") or case.get("mutated")
        if not difference:
            try:
                difference = compare_values(expected_bank.value(expected["values"][i]), returned.value(case["value"]),
                                            rtol=expected["rtol"], atol=expected["atol"])
            except Exception as exc:  # a returned value the comparison cannot read
                difference = f"the result could not be compared ({type(exc).__name__})"
        if kind == "hidden":
            out["hidden_passed"] += not difference
        elif difference and not first:
            first = f"case {expected['labels'][i]!r}: {difference}"
    out["status"] = "passed" if out["hidden_passed"] == total else "failed"
    out["detail"] = first or "every visible case matches"
    return out


def grade_submission(data: bytes, name: str, notebook: str | None, kits: Mapping[str, Kit],
                     options: TaskOptions) -> dict:
    """Grade one submitted file (its bytes); returns plain data (no timing in what is compared)."""
    started, cpu_started = time.monotonic(), time.process_time()
    result: dict[str, Any] = {"file": name, "status": "ok", "notebook": notebook, "exercises": {}, "answers": [],
                              "flags": [], "message": "", "cpu_seconds": 0.0, "seconds": 0.0}
    try:
        nb = extract.read_notebook_bytes(data)
    except ValueError as exc:
        return result | {"status": "invalid", "message": str(exc)}
    detected = extract.notebook_number(nb, options.expected_ids)
    if notebook is None:
        notebook = detected
    elif detected is not None and detected != notebook and not set(extract.check_ids(nb)) & set(
            options.expected_ids.get(notebook, ())):
        return result | {"status": "wrong_notebook", "message": f"this is notebook {detected} (it checks "
                         f"{', '.join(extract.check_ids(nb)[:3])}), handed in as notebook {notebook}"}
    if notebook not in kits:
        return result | {"status": "invalid", "message": "cannot tell which notebook this is: name the file "
                         "<student>_<NN>_<name>.ipynb"}
    kit = kits[notebook]
    expected = json.loads(kit.expected_json)
    with np.load(io.BytesIO(kit.expected_npz), allow_pickle=False) as npz:
        expected_bank = Bank({}, {n: npz[n] for n in npz.files})
    extracted = extract.extract(nb, list(expected))
    lines, final, stopped = _run_code(kit, extracted, options)
    by_id = {line["exercise"]: line for line in lines}
    for exercise_id, spec in expected.items():
        result["exercises"][exercise_id] = _score_exercise(by_id.get(exercise_id), spec, expected_bank,
                                                           extracted.code.get(exercise_id, ""))
    flags = extract.findings(nb) + list(final.get("events", [])) + list(extracted.problems)
    if stopped:
        flags.append({"time": "stopped at the time limit", "output": "stopped: too much output"}.get(
            stopped, f"the sandbox {stopped}"))
    if options.unsafe and not sandbox.available():
        flags.append(sandbox.UNSAFE_NOTE)
    if options.run_all:
        _, ran, why = _run_code(kit, extracted, options, notebook=nb)
        result["runs_clean"] = ran.get("runs_clean") or f"no: the sandbox {why or 'returned nothing'}"
    return result | {"notebook": notebook, "answers": extract.answers(nb), "flags": sorted(set(flags)),
                     "cpu_seconds": round(final.get("cpu_seconds", 0.0) + time.process_time() - cpu_started, 3),
                     "seconds": round(time.monotonic() - started, 2)}


# Worker-side state of the local pool: the kits are sent once per worker process, not once per task.
_WORKER: dict[str, Any] = {}


def _init_worker(kits: Mapping[str, Kit], options: TaskOptions) -> None:
    _WORKER.update(kits=kits, options=options)


def _pool_task(data: bytes, name: str, notebook: str | None) -> dict:
    return grade_submission(data, name, notebook, _WORKER["kits"], _WORKER["options"])


def cluster_task(data: bytes, name: str, notebook: str | None, kits: Mapping[str, Kit], options: TaskOptions) -> dict:
    """The task a Dask worker runs (the kits arrive once per worker, scattered)."""
    return grade_submission(data, name, notebook, kits, options)


# --------------------------------------------------------------------------------------------------
# The batch
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradeSettings:
    """How to grade: the configuration and roster, sandbox limits, workers (``jobs`` local processes or a
    Dask ``cluster`` address), the unsafe switch, submission ``times`` (file -> UTC time), a file of the
    TA's ``scores`` for the written answers, and whether to also run each notebook whole (``run_all``)."""

    config: GradingConfig
    roster: Roster = field(default_factory=Roster)
    limits: sandbox.Limits = DEFAULT_LIMITS
    jobs: int = 1
    cluster: str | None = None
    unsafe: bool = False
    times: Mapping[str, Any] = field(default_factory=dict)
    scores: Path | None = None
    run_all: bool = False


@dataclass(frozen=True)
class GradeReport:
    """What :func:`grade_submissions` wrote (``files``: name -> path), one result per graded upload, one row
    per student, and the wall-clock seconds."""

    results: tuple[dict, ...]
    rows: tuple[dict, ...]
    files: dict[str, Path]
    seconds: float

    @property
    def exit_code(self) -> int:
        """0 when every upload could be graded and nothing was flagged, else 1."""
        return 0 if all(r["status"] == "ok" and not r["flags"] for r in self.results) else 1


def _course_notebooks(root: Path) -> dict[str, str]:
    return {p.name[:2]: p.stem for folder in ("solutions", "notebooks")
            for p in sorted((root / folder).glob("[0-9][0-9]_*.ipynb"))}


def grade_submissions(folder: str | Path, out_dir: str | Path, settings: GradeSettings,
                      root: str | Path = REPO_ROOT) -> GradeReport:
    """Grade every ``.ipynb`` below ``folder`` and write the results to ``out_dir`` (see the module docstring).

    Raises
    ------
    FileNotFoundError
        No such folder, or no notebook in it.
    sandbox.SandboxUnavailable
        bubblewrap is missing and ``settings.unsafe`` is False.
    """
    started, folder, out, root = time.monotonic(), Path(folder), Path(out_dir), Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder not found: {folder}")
    if not settings.unsafe and not sandbox.available():
        raise sandbox.SandboxUnavailable(
            "bubblewrap (bwrap) is not installed or cannot start here, so submissions cannot be sandboxed. "
            "Install it (Debian/Ubuntu: apt-get install bubblewrap), or grade inside a Linux container "
            "(docs/INSTRUCTOR_GUIDE.md), or pass --unsafe-no-sandbox (the gradebook will say so).")
    notebooks = _course_notebooks(root)
    found = find_submissions(folder, notebooks, settings.roster, settings.times)
    if not found:
        raise FileNotFoundError(f"no .ipynb files in {folder} (or its sub-folders); nothing to grade")
    lab = lab_zip(root)
    wanted = sorted({s.notebook for s in found if s.notebook} or set(key.NOTEBOOKS))
    kits = {n: _kit(n, lab) for n in (key.NOTEBOOKS if any(s.notebook is None for s in found) else wanted)}
    options = TaskOptions(settings.limits, settings.unsafe,
                          {n: tuple(e.id for e in key.exercises(n)) for n in key.NOTEBOOKS}, settings.run_all)
    chosen = choose_latest(found)
    tasks = [((folder / s.path).read_bytes(), s.path, s.notebook) for s, _ in chosen]
    graded = _run_all(tasks, kits, options, settings)
    results = tuple(r | {"student": s.student, "late_days": late_days(s.submitted, settings.config.deadline,
                                                                       settings.config.grace_minutes, s.late_marked),
                         "submitted": s.submitted.isoformat() if s.submitted else "",
                         "other_uploads": [o.path for o in others], "on_roster": s.on_roster}
                    for (s, others), r in zip(chosen, graded))
    from labkit_instructor import gradebook

    scores = read_scores(settings.scores) if settings.scores else {}
    rows = gradebook.student_rows(results, settings.config, settings.roster, scores)
    files = gradebook.write_all(out, results, rows, settings, scores)
    return GradeReport(results, tuple(rows), files, round(time.monotonic() - started, 1))


def _run_all(tasks: Sequence[tuple[bytes, str, str | None]], kits: Mapping[str, Kit], options: TaskOptions,
             settings: GradeSettings) -> list[dict]:
    if settings.cluster:
        from distributed import Client

        with Client(settings.cluster, timeout=60) as client:
            scattered = client.scatter(dict(kits), broadcast=True)
            futures = [client.submit(cluster_task, data, name, number, scattered, options, pure=False)
                       for data, name, number in tasks]
            return client.gather(futures)
    with ProcessPoolExecutor(max_workers=settings.jobs, initializer=_init_worker, initargs=(kits, options)) as pool:
        return list(pool.map(_pool_task, *zip(*tasks))) if tasks else []


def read_scores(path: str | Path) -> dict[tuple[str, str, str], tuple[float, str]]:
    """A TA's scores of the written answers: ``written_answers.csv`` with ``points`` (and ``comment``) filled
    in, keyed by (student, notebook, question)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"student", "notebook", "question", "points"} - set(rows[0] if rows else {})
    if missing:
        raise ValueError(f"{path}: the scores file needs the columns {sorted(missing)}")
    scores = {}
    for row in rows:
        if str(row["points"]).strip():
            notebook = row["notebook"].strip().zfill(2)
            scores[(row["student"].strip(), notebook, row["question"].strip())] = (
                float(row["points"]), (row.get("comment") or "").strip())
    return scores
