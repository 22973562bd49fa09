"""The ``labkit`` console command.

``labkit sync [--check] [--execute]`` regenerates the student notebooks from ``solutions/`` (the
same as ``python -m labkit.release sync``). Further instructor subcommands are added here.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from labkit import release


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``labkit`` command line; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="labkit", description="Model Monitoring Lab instructor tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sync", add_help=False, help="generate notebooks/ from solutions/ (see labkit sync --help)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "sync":
        return release.main(["sync", *rest])
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects it first
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
