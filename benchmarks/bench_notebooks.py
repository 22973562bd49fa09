"""Run the lab's notebooks headless three ways and check the course's timing targets (issue 15).

    python benchmarks/bench_notebooks.py                      # every solution and student notebook
    python benchmarks/bench_notebooks.py --notebooks 03 06 --kinds solution --modes quiet busy

Modes, each a fresh kernel running the whole notebook (``nbclient``, as "Run All" does):

* ``quiet``: on the machine's cores with nothing else of ours running;
* ``one-core``: the kernel pinned to one core (``os.sched_setaffinity``, inherited by the kernel);
* ``busy``: on all cores while two busy loops spin (what a shared JupyterHub node looks like).

Nothing here limits threads: labkit's heavy functions must do that themselves (threadpoolctl).
Prints, per notebook and mode, the Run All time (kernel start included) and the slowest cells, then
the targets: Run All <= 30 s on quiet cores, and busy <= 3x quiet, with "met" or "MISSED" each.
Student notebooks run with their exercises unattempted (the checker's fallbacks). Artifacts go
where the notebooks put them (``runs/``, git-ignored). The machine is shared: run only what you need.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KINDS = {"solution": "solutions", "student": "notebooks"}
MODES = ("quiet", "one-core", "busy")
QUIET_TARGET_S = 30.0
BUSY_RATIO_TARGET = 3.0


@contextlib.contextmanager
def mode(name: str):
    """Run the block on one core, with two busy loops, or as it is."""
    cores = os.sched_getaffinity(0)
    loops = []
    try:
        if name == "one-core":
            os.sched_setaffinity(0, {min(cores)})  # the kernel started inside inherits it
        elif name == "busy":
            loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
        yield
    finally:
        for loop in loops:  # only the loops this benchmark started
            loop.kill()
            loop.wait()
        os.sched_setaffinity(0, cores)


def _seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def run(path: Path, how: str, timeout: int) -> tuple[float, dict[str, float]]:
    """Run All of one notebook: wall seconds (kernel start included) and seconds per code cell id."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    with mode(how):
        t0 = time.perf_counter()
        client.execute()
        wall = time.perf_counter() - t0
    return wall, {c.get("id", str(i)): _seconds(c) for i, c in enumerate(nb.cells) if c.cell_type == "code"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", nargs="*", default=None, help="numbers such as 03 06 (default: all)")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    ap.add_argument("--cells", type=int, default=3, help="slowest cells shown per notebook")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per cell before giving up")
    args = ap.parse_args(argv)

    paths = [p for kind in args.kinds for p in sorted((REPO / KINDS[kind]).glob("0*.ipynb"))
             if args.notebooks is None or p.name[:2] in args.notebooks]
    print(f"{os.cpu_count()} cores, python {sys.version.split()[0]}; {len(paths)} notebook(s) × modes {args.modes}\n")
    times: dict[tuple[str, str], float] = {}
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for path in paths:
        name = f"{path.parent.name}/{path.stem}"
        for how in args.modes:
            try:
                times[name, how], cells[name, how] = run(path, how, args.timeout)
            except Exception as exc:  # a failing notebook is reported, the others still run
                print(f"{name:<42} {how:<9} FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}")
                continue
            slow = sorted(cells[name, how].items(), key=lambda kv: -kv[1])[: args.cells]
            print(f"{name:<42} {how:<9} {times[name, how]:7.1f} s   slowest cells: "
                  + ", ".join(f"{cid} {s:.1f} s" for cid, s in slow))

    print("\nheavy cells (the slowest in quiet mode) in each mode")
    for (name, how), per_cell in cells.items():
        if how != "quiet":
            continue
        for cid, quiet in sorted(per_cell.items(), key=lambda kv: -kv[1])[: args.cells]:
            others = "  ".join(f"{m} {cells[name, m][cid]:.1f} s ({cells[name, m][cid] / max(quiet, 1e-9):.1f}×)"
                               for m in args.modes if m != "quiet" and (name, m) in cells)
            print(f"  {name:<42} {cid}  quiet {quiet:.1f} s  {others}")

    print("\ntargets")
    met = missed = 0
    for name in dict.fromkeys(n for n, _ in times):
        checks = []
        if (name, "quiet") in times:
            checks.append((f"Run All on quiet cores <= {QUIET_TARGET_S:.0f} s", times[name, "quiet"],
                           times[name, "quiet"] <= QUIET_TARGET_S, "s"))
            if (name, "one-core") in times:
                print(f"  {name:<42} one core / quiet: {times[name, 'one-core'] / times[name, 'quiet']:.1f}× (no target)")
            if (name, "busy") in times:
                ratio = times[name, "busy"] / times[name, "quiet"]
                checks.append((f"busy / quiet <= {BUSY_RATIO_TARGET:.0f}×", ratio, ratio <= BUSY_RATIO_TARGET, "×"))
        for label, value, ok, unit in checks:
            met, missed = met + ok, missed + (not ok)
            print(f"  {name:<42} {label:<34} {value:6.1f} {unit}  {'met' if ok else 'MISSED'}")
    print(f"\n{met} target(s) met, {missed} missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
