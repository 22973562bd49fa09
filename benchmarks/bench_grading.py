"""How fast the grader is: a generated class of at least 60 submissions over the six notebooks.

Grades the same class four times (hidden-case grading only, no "runs clean" check): with 1 and with 2
local worker processes, and on a real Dask cluster on 127.0.0.1 with 1 and with 2 workers. Prints the
seconds per submission, the CPU seconds per notebook (the sandbox's and the grader's, averaged), and
the speed-up from 1 to 2 workers, against the targets of issue 14:

* hidden-case grading costs at most 5 s of CPU per notebook on average;
* 2 workers give at least 1.7x the throughput of 1.

A target not reached is printed as "missed". Needs bubblewrap; the Dask part needs ``distributed``
(skipped with a note otherwise). On a machine shared with other work the speed-up is lower than on a
quiet one: say so when you quote it. Instructor tooling: this script is not part of the student zip.

    python benchmarks/bench_grading.py               # 10 students x 6 notebooks = 60 submissions
    python benchmarks/bench_grading.py --students 20 # 120
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labkit.paths import REPO_ROOT
from labkit_instructor import sandbox
from labkit_instructor.classroom import make_class
from labkit_instructor.config import default_config
from labkit_instructor.grade import GradeSettings, grade_submissions

CPU_TARGET = 5.0
SPEEDUP_TARGET = 1.7


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grade(folder: Path, out: Path, **settings) -> tuple[float, list[dict]]:
    started = time.monotonic()
    report = grade_submissions(folder, out, GradeSettings(default_config(REPO_ROOT), **settings), REPO_ROOT)
    return time.monotonic() - started, list(report.results)


class _Cluster:
    """A Dask scheduler and ``workers`` single-threaded workers on 127.0.0.1 (real processes)."""

    def __init__(self, workers: int, cwd: Path):
        self.address = f"tcp://127.0.0.1:{_port()}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        run = dict(env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                        "127.0.0.1", "--port", self.address.rsplit(":", 1)[1], "--no-dashboard"],
                                       **run)]
        self.procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", self.address,
                                         "--nthreads", "1", "--no-dashboard"], **run) for _ in range(workers)]
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)

    def __enter__(self) -> str:
        return self.address

    def __exit__(self, *exc) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10, help="students per notebook (default 10: 60 uploads)")
    parser.add_argument("--no-dask", action="store_true", help="local workers only")
    args = parser.parse_args(argv)
    if not sandbox.available():
        print("bubblewrap (bwrap) is not installed: the grader's sandbox cannot start. apt-get install bubblewrap")
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp) / "class"
        make_class(folder, students=args.students, seed=0)
        n = len({(p.name, p.parent.name) for p in folder.rglob("*.ipynb")})
        runs: dict[str, float] = {}
        seconds, results = _grade(folder, Path(tmp) / "warm", jobs=2)  # builds and caches the kits
        print(f"{len(results)} submissions graded ({n} files, resubmissions included) over 6 notebooks; "
              f"warm-up with the kits built: {seconds:.0f} s")
        for jobs in (1, 2):
            runs[f"local, {jobs} worker(s)"], results = _grade(folder, Path(tmp) / f"local{jobs}", jobs=jobs)
        cpu = [r["cpu_seconds"] for r in results]
        if not args.no_dask:
            try:
                import distributed  # noqa: F401
            except ImportError:
                print("Dask distributed is not installed: the cluster part is skipped (pip install distributed)")
            else:
                for workers in (1, 2):
                    with _Cluster(workers, Path(tmp)) as address:
                        runs[f"Dask cluster, {workers} worker(s)"], _ = _grade(
                            folder, Path(tmp) / f"dask{workers}", cluster=address)
    per = {name: s / len(results) for name, s in runs.items()}
    print("\n| run | wall-clock s | s per submission |\n|---|---|---|")
    for name, s in runs.items():
        print(f"| {name} | {s:.1f} | {per[name]:.2f} |")
    mean_cpu = sum(cpu) / len(cpu)
    verdict = "met" if mean_cpu <= CPU_TARGET else "missed"
    print(f"\nCPU per notebook (sandbox + grader), mean {mean_cpu:.2f} s, max {max(cpu):.2f} s: "
          f"target <= {CPU_TARGET:g} s {verdict}")
    for where in ("local", "Dask cluster"):
        one, two = runs.get(f"{where}, 1 worker(s)"), runs.get(f"{where}, 2 worker(s)")
        if one and two:
            speedup = one / two
            print(f"speed-up from 1 to 2 workers, {where}: {speedup:.2f}x: target >= {SPEEDUP_TARGET:g}x "
                  f"{'met' if speedup >= SPEEDUP_TARGET else 'missed'}")
    print(f"(load average while measuring: {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
