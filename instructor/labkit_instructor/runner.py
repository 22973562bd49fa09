"""Runs one submission's exercise code inside the sandbox and sends back what it returned, as data.

This file is copied into the sandbox with ``codec.py`` (and nothing else of the instructor package):
it holds no answers. It reads everything it needs first (the task's inputs, the student's code),
then drops to an unprivileged user (when started as root), sets hard resource limits, installs an
audit hook that notes what the student's code tries (network, processes, files outside ``/tmp``,
raising limits, reading ``/proc``), and only then runs the student's code: for each exercise the
notebook's imports and the exercise cell's definitions, then the function on every case.

Results go, one JSON line per exercise, to a file descriptor the student's code does not own
(stdout and stderr of the process point at ``/dev/null``; what the code prints is counted, then
dropped). Values are encoded by ``codec.py``: JSON plus ``.npy``/Parquet, never pickles. The
grader compares them with expected outputs it computed itself; nothing here decides a score.
"""
from __future__ import annotations

import errno
import json
import os
import resource
import signal
import sys
import time
import traceback

TASK = os.environ.get("LABKIT_TASK_DIR", "/task")
_EVENTS: dict[str, str] = {}
_PRINTED = [0]
_OUT: list = []  # the result stream, once opened
_OUTPUT_CAP = 1 << 20
_WATCHED = {"open", "socket.connect", "subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.forkpty",
            "os.exec", "resource.setrlimit", "os.kill", "os.killpg"}


def _event(key: str, text: str) -> None:
    """Note something the code tried, and send it at once (the code may kill its process right after)."""
    if key in _EVENTS or len(_EVENTS) > 20:
        return
    _EVENTS[key] = text
    if _OUT:
        _OUT[0].write(json.dumps({"event": text}) + "\n")
        _OUT[0].flush()


class _Counted:
    """A sys.stdout/sys.stderr stand-in: counts what the student's code prints, keeps nothing."""

    def write(self, text: str) -> int:
        _PRINTED[0] += len(text)
        if _PRINTED[0] > _OUTPUT_CAP:
            _event("output", f"printed more than {_OUTPUT_CAP // 1024} KiB (ignored)")
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _from_student() -> bool:
    """True when the student's code is on the stack (not a library the notebook's imports load)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<exercise"):
            return True
        frame = frame.f_back
    return False


def _audit(event: str, args: tuple) -> None:
    if not (event in _WATCHED or event.startswith("ctypes.")) or not _from_student():
        return
    if event == "open" and args and isinstance(args[0], (str, bytes)):
        path, mode = os.path.abspath(os.fsdecode(args[0])), str(args[1] or "r") if len(args) > 1 else "r"
        writes = any(c in mode for c in "wax+")
        if writes and not path.startswith(("/tmp", "/dev/null")):
            _event(f"write:{path}", f"tried to write {path} (outside its sandbox)")
        if path.startswith("/proc/") and path.endswith(("environ", "cmdline")):
            _event(f"proc:{path}", f"read {path}")
    elif event == "socket.connect":
        _event("network", "tried to open a network connection")
    elif event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.forkpty", "os.exec"):
        _event("process", "started processes")
    elif event == "resource.setrlimit":
        _event("limits", "tried to change its resource limits")
    elif event in ("os.kill", "os.killpg"):
        _event("signal", "sent signals to other processes")
    elif event.startswith("ctypes."):
        _event("ctypes", "used ctypes")


def _limit(limits: dict) -> None:
    """Hard limits: the soft and the hard value are the same, so the code cannot raise them."""
    for name, value in (("RLIMIT_AS", limits["memory_mb"] << 20), ("RLIMIT_CPU", limits["cpu_seconds"]),
                        ("RLIMIT_FSIZE", limits["file_mb"] << 20), ("RLIMIT_CORE", 0),
                        ("RLIMIT_NPROC", limits["processes"])):
        resource.setrlimit(getattr(resource, name), (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file is an error for the code, not a crash


def _drop_privileges(uid: int | None) -> None:
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


class CaseTimeout(BaseException):
    """A call of the student's function ran out of time (a BaseException: ``except Exception`` misses it)."""


def _timeout(signum, frame):  # noqa: ARG001 - a signal handler's signature
    raise CaseTimeout("the call ran out of time")


def main() -> int:
    import numpy as np  # noqa: F401 - imported before the limits, like the student's own imports
    import pandas as pd  # noqa: F401

    sys.path.insert(0, TASK)
    import codec
    from labkit.exercises import Bank, compare_values, make_fallback

    with open(os.path.join(TASK, "task.json"), encoding="utf-8") as handle:
        task = json.load(handle)
    with open(os.path.join(os.environ.get("LABKIT_CODE_DIR", TASK), "code.json"), encoding="utf-8") as handle:
        code = json.load(handle)
    with np.load(os.path.join(TASK, "task.npz"), allow_pickle=False) as npz:
        bank = Bank({}, {name: npz[name] for name in npz.files})
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    _OUT.append(out)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    sys.stdout = sys.stderr = _Counted()
    _drop_privileges(code["limits"]["uid"])
    _limit(code["limits"])
    if code.get("notebook") is not None:  # the optional "runs clean" check: the whole notebook, top to bottom
        out.write(codec.dumps(_run_notebook(code["notebook"], code["limits"])) + "\n")
        out.write(codec.dumps({"done": True, "events": [], "printed": 0}) + "\n")
        out.flush()
        return 0
    signal.signal(signal.SIGALRM, _timeout)
    sys.addaudithook(_audit)
    for exercise in task["exercises"]:
        line = _run_exercise(exercise, code, bank, code["limits"], (codec, make_fallback, compare_values))
        out.write(codec.dumps(line) + "\n")
        out.flush()
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = round(sum(u.ru_utime + u.ru_stime for u in usage), 3)
    out.write(codec.dumps({"done": True, "events": sorted(set(_EVENTS.values())), "printed": _PRINTED[0],
                           "cpu_seconds": cpu}) + "\n")
    out.flush()
    return 0


def _run_exercise(exercise: dict, code: dict, bank, limits: dict, tools) -> dict:
    codec, make_fallback, compare_values = tools
    writer, cases, problems = codec.BankWriter(), [], []
    namespace: dict = {"__name__": "__submission__"}
    for name, dep in exercise.get("deps", {}).items():
        namespace[name.split(".", 1)[1]] = make_fallback(name, dep, bank)
    source = code.get("exercises", {}).get(exercise["id"], "")
    for statement in _needed(code.get("imports", []), source):
        try:
            exec(compile(statement, "<imports>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - anything a student's import does is reported, not raised
            problems.append(f"the import `{statement[:60]}` failed in the sandbox ({type(exc).__name__})")
    try:
        exec(compile(source, f"<exercise {exercise['id']}>", "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001
        problems.append(f"the exercise cell's definitions failed: {_describe(exc)}")
    function = namespace.get(exercise["name"])
    defined = bool(source) and callable(function)
    for case in exercise["cases"] if defined else []:
        if cases and cases[-1].get("timeout"):  # one endless call is enough: skip the rest of this exercise
            cases.append({"error": "did not run: an earlier case ran out of time", "timeout": True})
            continue
        cases.append(_run_case(function, case, bank, writer, limits, compare_values))
    blobs = {name: codec.npy_b64(array) for name, array in writer.blobs.items()}
    return {"exercise": exercise["id"], "defined": defined, "problems": problems, "cases": cases, "blobs": blobs}


def _needed(imports: list, source: str) -> list:
    """The import statements that bind a name the exercise's code uses (others are skipped: cheaper)."""
    import ast

    try:
        used = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return list(imports)
    needed = []
    for statement in imports:
        try:
            nodes = ast.parse(statement).body
        except SyntaxError:
            continue
        bound = {(a.asname or a.name).split(".")[0] for node in nodes for a in getattr(node, "names", [])}
        if "*" in bound or bound & used:
            needed.append(statement)
    return needed


def _run_notebook(notebook: dict, limits: dict) -> dict:
    """Run every cell in a fresh kernel (inside this sandbox), stopping at the first error, like Run All."""
    import nbclient
    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.from_dict(notebook)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    client = nbclient.NotebookClient(nb, timeout=limits["notebook_seconds"], kernel_name="python3",
                                     resources={"metadata": {"path": "/tmp"}})
    try:
        client.execute()
    except CellExecutionError as exc:
        index = next((i for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
                      if o.get("output_type") == "error"), None)
        return {"runs_clean": f"no: cell {index + 1 if index is not None else '?'} raised {exc.ename}: "
                              f"{' '.join(str(exc.evalue).split())[:150]}"}
    except CellTimeoutError:
        return {"runs_clean": f"no: a cell ran longer than {limits['notebook_seconds']} s"}
    except DeadKernelError:
        return {"runs_clean": "no: the kernel died (memory or process limit?)"}
    except Exception as exc:  # noqa: BLE001 - the kernel could not start, ...
        return {"runs_clean": f"no: {type(exc).__name__}: {str(exc)[:150]}"}
    return {"runs_clean": "yes"}


def _run_case(function, case: dict, bank, writer, limits: dict, compare_values) -> dict:
    args, kwargs = bank.value(case["args"]), bank.value(case["kwargs"])
    started = time.process_time()
    signal.alarm(limits["case_seconds"])
    try:
        value = function(*args, **kwargs)
    except NotImplementedError as exc:
        return {"not_implemented": True, "error": _describe(exc)}
    except CaseTimeout:
        _event("time", f"a call ran out of time ({limits['case_seconds']} s per case)")
        return {"error": f"ran out of time ({limits['case_seconds']} s)", "timeout": True}
    except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
        if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            _event("fsize", "hit the file size limit")
        if isinstance(exc, MemoryError):
            _event("memory", "hit the memory limit")
        return {"error": _describe(exc)}
    finally:
        signal.alarm(0)
    result: dict = {"seconds": round(time.process_time() - started, 3)}
    fresh = bank.value(case["args"]) + list(bank.value(case["kwargs"]).values())
    for name, old, new in zip(case["names"], fresh, [*args, *kwargs.values()]):
        try:
            changed = compare_values(old, new, rtol=0, atol=0)
        except BaseException:  # noqa: BLE001
            changed = "it cannot be compared any more"
        if changed:
            result["mutated"] = f"changed its input {name!r} in place ({changed})"
            break
    try:
        result["value"] = writer.encode(value)
    except BaseException as exc:  # noqa: BLE001
        result["error"] = f"returned something that cannot be compared ({_describe(exc)})"
    return result


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    where = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<exercise")]
    return f"raised {type(exc).__name__}" + (f": {text}" if text else "") + (f" (line {where[-1]})" if where else "")


if __name__ == "__main__":
    sys.exit(main())
