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
