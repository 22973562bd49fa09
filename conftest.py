"""pytest settings shared by the unit tests and nbval (which runs every notebook as a test).

Each pytest process (each pytest-xdist worker) gets its own artifacts folder, ``runs/pytest/<worker>``,
emptied at the start of the session. Notebook kernels inherit it, so a student notebook and its
solution running at the same time on two workers never write the same SQLite log, report or model
cache, and the suite never touches the ``runs/`` files of a learner's own session.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
_artifacts = Path(__file__).resolve().parent / "runs" / "pytest" / _worker
shutil.rmtree(_artifacts, ignore_errors=True)
_artifacts.mkdir(parents=True, exist_ok=True)
os.environ["LABKIT_ARTIFACTS"] = str(_artifacts)


# --------------------------------------------------------------------------------------------------
# Self-checks under nbval: while nbval runs a notebook cell by cell, every cell that calls
# `check("<id>", ...)` must leave its machine-readable record, with the status the folder promises:
# solutions pass every check; student notebooks, untouched, say "not attempted yet" for each.
# (One execution per notebook does both jobs: nbval's, and this contract.)
# --------------------------------------------------------------------------------------------------
import re  # noqa: E402

import pytest  # noqa: E402

_CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d\d\.[A-Za-z0-9_.\-]+)["']""")
_MIME = "application/vnd.labkit.check+json"
_PROMISE = {"solutions": ("passed", "passes"), "notebooks": ("not_attempted", "says 'not attempted yet' for")}


def _check_problem(item) -> str | None:
    source = getattr(getattr(item, "cell", None), "source", "") or ""
    wanted = _CHECK_CALL.findall(source)
    promise = _PROMISE.get(Path(str(getattr(item, "fspath", ""))).parent.name)
    if not wanted or promise is None:
        return None
    status, verb = promise
    outputs = getattr(item, "test_outputs", None) or []
    records = [o.get("data", {}).get(_MIME) for o in outputs]
    records = [r for r in records if isinstance(r, dict)]
    texts = "\n".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    found = [r.get("exercise") for r in records]
    if found != wanted:
        return f"the cell calls check() for {wanted} but recorded results for {found}"
    wrong = [(r["exercise"], r.get("status"), r.get("detail", "")) for r in records if r.get("status") != status]
    if wrong:
        return f"a {Path(str(item.fspath)).parent.name}/ notebook {verb} every check; got {wrong}"
    if status == "not_attempted" and texts.count("not attempted yet") < len(wanted):
        return f"the student must see 'not attempted yet' for {wanted}; the cell showed: {texts[:300]!r}"
    return None


# --------------------------------------------------------------------------------------------------
# Student notebooks prove their fallbacks: their outputs are not committed, so each cell marked
# `# NBVAL_CHECK_OUTPUT` in notebooks/ is compared with the same cell (same id) of the executed solution.
# With no exercise attempted, those cells run on the recorded fallbacks and must show the same numbers.
# --------------------------------------------------------------------------------------------------
def pytest_collection_modifyitems(items):
    import nbformat

    solutions: dict = {}
    for item in items:
        cell, path = getattr(item, "cell", None), Path(str(getattr(item, "fspath", "")))
        if cell is None or path.parent.name != "notebooks" or not getattr(item, "options", {}).get("check"):
            continue  # only the cells nbval compares (marked with a `# NBVAL_CHECK_OUTPUT` comment line)
        solution = path.parent.parent / "solutions" / path.name
        if solution not in solutions:
            solutions[solution] = ({c.get("id"): c for c in nbformat.read(solution, as_version=4).cells}
                                   if solution.is_file() else {})
        twin = solutions[solution].get(cell.get("id"))
        if twin is not None and twin.get("outputs"):
            cell.outputs, cell.execution_count = twin.outputs, twin.execution_count


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and report.passed:
        problem = _check_problem(item)
        if problem:
            report.outcome = "failed"
            report.longrepr = f"self-check contract broken in {item.nodeid}: {problem}"


# --------------------------------------------------------------------------------------------------
# Offline under nbval: every notebook kernel nbval starts (all six solutions and all six student
# notebooks) runs behind the network guard, tools/network_guard/sitecustomize.py, which refuses and
# records any connection to anything but loopback. A cell during which the guard refused something
# fails, even when the code swallowed the error (telemetry does). One execution per notebook.
# --------------------------------------------------------------------------------------------------
_GUARD = Path(__file__).resolve().parent / "tools" / "network_guard"
_GUARD_LOGS = _artifacts / "network_guard"
_guard_seen: dict = {}


def _guard_log(item) -> Path | None:
    path = Path(str(getattr(item, "fspath", "")))
    return _GUARD_LOGS / f"{path.parent.name}-{path.stem}.jsonl" if path.suffix == ".ipynb" else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """While nbval sets up a notebook (and starts its kernel), put the guard first on PYTHONPATH."""
    log = _guard_log(item)
    if log is None:
        yield
        return
    _GUARD_LOGS.mkdir(parents=True, exist_ok=True)
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "LABKIT_NET_GUARD_LOG")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_GUARD), saved["PYTHONPATH"]]))
    os.environ["LABKIT_NET_GUARD_LOG"] = str(log)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _blocked_during(item) -> str:
    """The guard's refusals logged since the previous cell of the same notebook."""
    log = _guard_log(item)
    if log is None or not log.exists():
        return ""
    text = log.read_text(encoding="utf-8")
    new, _guard_seen[log] = text[_guard_seen.get(log, 0):], len(text)
    return new


@pytest.hookimpl(hookwrapper=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_network_guard(item, call):
    outcome = yield
    report = outcome.get_result()
    blocked = _blocked_during(item) if call.when == "call" else ""
    if blocked:
        earlier = f"\n\n{report.longrepr}" if report.failed else ""
        report.outcome = "failed"
        report.longrepr = f"network guard: {item.nodeid} tried to reach the network (the lab must run offline):\n" \
                          f"{blocked}{earlier}"
