"""The ``labkit-instructor`` console command: sync, release and grade the Model Monitoring Lab.

Subcommands (each has ``--help``)::

    labkit-instructor sync [--check] [--execute]   notebooks/ and the recorded banks from solutions/
    labkit-instructor release [--self-study]       the student zip (graded: no solutions in any file)
    labkit-instructor grade SUBMISSIONS [--out DIR]  grade submitted notebooks, write a gradebook

Exit codes scripts can rely on:

====  ==========================================================================================
0     success (``grade``: every submission ran cleanly)
1     the command ran but found a problem: ``release`` refused (notebooks or banks out of sync,
      untracked files, solution content in the zip), ``grade`` wrote the gradebook but some
      submissions crashed, timed out, were invalid or tampered with, ``sync --check`` found
      files out of sync
2     usage error: unknown option, missing folder, no notebooks to grade, bad option value
====  ==========================================================================================
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

__all__ = ["EXIT_OK", "EXIT_PROBLEM", "EXIT_USAGE", "build_parser", "main"]

#: Exit code: success.
EXIT_OK = 0
#: Exit code: the command ran and found a problem (see the module docstring).
EXIT_PROBLEM = 1
#: Exit code: usage error (argparse uses 2 as well).
EXIT_USAGE = 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _memory(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of MB, got {text!r}") from None
    if value != 0 and value < 256:
        raise argparse.ArgumentTypeError(f"expected at least 256 MB (or 0 for no limit), got {text!r}")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``labkit-instructor`` command (all subcommands)."""
    parser = argparse.ArgumentParser(
        prog="labkit-instructor",
        description="Model Monitoring Lab instructor tools (never shipped to students).",
        epilog="Exit codes: 0 success, 1 the command found a problem (see its --help), 2 usage error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "sync", add_help=False, help="generate notebooks/ and the recorded banks from solutions/ (see sync --help)"
    )

    rel = commands.add_parser(
        "release",
        help="build the student bundle (zip) without solutions",
        description="Build the student bundle: student notebooks, labkit (with its recorded banks), data, "
        "environment files, Makefile and README; never solutions/, tests/, docs/, the instructor package or "
        "files git does not track. Refuses when notebooks/ or the banks are out of sync with solutions/, or "
        "when a solution line would ship. --self-study adds the solution notebooks and model answers.",
        epilog="Exit codes: 0 bundle written, 1 refused (the message says why), 2 usage error.",
    )
    rel.add_argument("--self-study", action="store_true",
                     help="a self-study zip: adds solutions/ and the model answers (says so in its README)")
    rel.add_argument("--out", metavar="DIR", help="folder for the zip (default: dist/ in the repository)")
    rel.add_argument("--root", metavar="DIR", help="repository root (default: the one labkit is installed from)")
    rel.add_argument("--name", metavar="FILE", help="zip file name (default: model-monitoring-lab-<version>.zip)")

    grade = commands.add_parser(
        "grade",
        help="grade submitted notebooks in a sandbox against hidden cases; write the gradebook",
        description="Grade every .ipynb below SUBMISSIONS_DIR: each exercise's own code (the definitions in its "
        "cell and the notebook's imports) runs in a bubblewrap sandbox (no network, read-only system, hard "
        "limits) on hidden cases, and is compared with the references' outputs computed here. Writes "
        "gradebook.csv, canvas.csv, moodle.csv, submissions.csv, written_answers.csv, feedback/ and summary.md.",
        epilog="Exit codes: 0 every upload graded and nothing flagged, 1 the gradebook was written but some uploads "
        "were invalid, the wrong notebook, or flagged, 2 usage error (missing folder, no notebooks, no sandbox).",
    )
    grade.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="folder of submitted .ipynb files")
    grade.add_argument("--out", metavar="DIR", help="output folder (default: runs/grades/<folder name>)")
    grade.add_argument("--config", metavar="YAML", help="points, written questions, deadline and late policy")
    grade.add_argument("--write-config", metavar="YAML", help="write the default configuration there and stop")
    grade.add_argument("--roster", metavar="CSV", help="student,name,email,canvas_id,sis_user_id,... (LMS ids)")
    grade.add_argument("--times", metavar="CSV", help="file,submitted_at: submission times (default: file times)")
    grade.add_argument("--scores", metavar="CSV", help="written_answers.csv with a TA's points filled in")
    grade.add_argument("--jobs", type=_jobs, default=1, metavar="N", help="local worker processes (default 1)")
    grade.add_argument("--cluster", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://10.0.0.5:8786")
    grade.add_argument("--memory-mb", type=_memory, default=3072, metavar="M",
                       help="address space of one submission's sandbox in MB (default 3072)")
    grade.add_argument("--timeout", type=_positive_float, default=180, metavar="S",
                       help="wall-clock seconds for one submission's sandbox (default 180)")
    grade.add_argument("--run-all", action="store_true",
                       help="also run each notebook top to bottom in a sandbox (a 'runs clean' column; slow)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="without bubblewrap: run submissions as plain processes (the gradebook says so)")
    grade.add_argument("--root", metavar="DIR", help="repository root with solutions/ (default: labkit's)")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``labkit-instructor`` command line; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "sync":
        from labkit_instructor import release

        return release.main(["sync", *rest])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "release":
        return _release(args)
    if args.command == "grade":
        return _grade(args)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects it first
    return EXIT_USAGE


def _release(args: argparse.Namespace) -> int:
    from labkit.paths import REPO_ROOT
    from labkit_instructor.bundle import BundleError, build_bundle

    try:
        report = build_bundle(args.out, root=args.root or REPO_ROOT, name=args.name, self_study=args.self_study)
    except BundleError as exc:
        print(f"labkit-instructor release: refused: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    notebooks = [f for f in report.files if f.startswith("notebooks/")]
    print(f"Student bundle ({'self-study, with model answers' if args.self_study else 'graded, no solutions'}): "
          f"{report.path}")
    print(f"  {len(report.files)} files ({len(notebooks)} notebooks), {report.size / 1e6:.1f} MB, from {report.source}")
    print(f"  sha256 {report.sha256}")
    print("Students unzip it and run `make lab` in the model-monitoring-lab folder.")
    return EXIT_OK


def _grade(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from labkit.paths import REPO_ROOT, artifacts_dir
    from labkit_instructor.config import load_config, write_config
    from labkit_instructor.grade import DEFAULT_LIMITS, GradeSettings, grade_submissions
    from labkit_instructor.sandbox import SandboxUnavailable
    from labkit_instructor.submissions import Roster, read_times

    root = Path(args.root or REPO_ROOT)
    try:
        config = load_config(args.config, root)
        if args.write_config:
            print(f"Wrote the default grading configuration to {write_config(config, args.write_config)}")
            return EXIT_OK
        limits = dataclasses.replace(DEFAULT_LIMITS, memory_mb=args.memory_mb or DEFAULT_LIMITS.memory_mb,
                                     wall_seconds=int(args.timeout))
        settings = GradeSettings(config, Roster.read(args.roster), limits, args.jobs, args.cluster,
                                 args.unsafe_no_sandbox, read_times(args.times),
                                 Path(args.scores) if args.scores else None, args.run_all)
        out = Path(args.out) if args.out else artifacts_dir("grades", Path(args.submissions).resolve().name)
        report = grade_submissions(args.submissions, out, settings, root)
    except (FileNotFoundError, ValueError, SandboxUnavailable) as exc:
        print(f"labkit-instructor grade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Graded {len(report.results)} uploads of {len(report.rows)} students in {report.seconds:g} s.")
    for name, path in report.files.items():
        print(f"  {name + ':':<16} {path}")
    for r in report.results:
        if r["status"] != "ok" or r["flags"]:
            print(f"  {r['status']:<14} {r['file']}: {r['message'] or '; '.join(r['flags'])}")
    return report.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
