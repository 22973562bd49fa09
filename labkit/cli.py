"""The ``labkit`` console command, for students: ``labkit doctor [--json]`` diagnoses this environment
and prints one line per check, with a fix for each problem.

Exit codes: 0 every required check passed (warnings allowed), 1 a required check failed, 2 usage error.
The instructor's commands (sync, release, grade) are ``labkit-instructor``, a separate package.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["EXIT_OK", "EXIT_PROBLEM", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``labkit`` command."""
    parser = argparse.ArgumentParser(
        prog="labkit", description="Model Monitoring Lab: student tools.",
        epilog="Exit codes: 0 success, 1 the command found a problem, 2 usage error. Instructors: see "
               "labkit-instructor --help.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doc = commands.add_parser(
        "doctor",
        help="diagnose this environment (Python, packages, kernel, widgets, data, promtool, offline settings)",
        description="Check this environment against what the lab needs and print one line per check, with a "
        "fix for each problem.",
        epilog="Exit codes: 0 every required check passed (warnings allowed), 1 a required check failed.",
    )
    doc.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``labkit`` command line; returns the process exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from labkit.doctor import format_report, run_checks, to_json

    diagnoses = run_checks()
    print(to_json(diagnoses) if args.json else format_report(diagnoses))
    return EXIT_PROBLEM if any(d.status == "fail" for d in diagnoses) else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
