"""Where the lab's files live: the repository, the shipped data and the artifacts folder.

Everything a notebook or test writes (models, SQLite logs, reports, dashboards) goes below one
git-ignored folder, ``runs/`` at the top of the repository. Set ``LABKIT_ARTIFACTS`` to move it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["REPO_ROOT", "artifacts_dir", "atomic_write_bytes"]

#: The top of the lab's repository (labkit is installed in editable mode from it).
REPO_ROOT = Path(__file__).resolve().parents[1]


def artifacts_dir(*parts: str, create: bool = True) -> Path:
    """Return the artifacts folder (or a sub-folder of it), creating it if needed.

    Parameters
    ----------
    *parts : str
        Optional sub-folder names, e.g. ``artifacts_dir("baseline")``.
    create : bool, default True
        Create the folder when it does not exist.

    Examples
    --------
    >>> artifacts_dir("baseline", create=False).name
    'baseline'
    """
    base = os.environ.get("LABKIT_ARTIFACTS")
    root = Path(base).expanduser() if base else REPO_ROOT / "runs"
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically: a reader sees the old file or the new one, never half.

    The bytes go to a temporary file in the same folder, which then replaces ``path``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
