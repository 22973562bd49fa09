"""Instructor tooling: build the student bundle, a zip of the lab without its solutions.

:func:`build_bundle` zips what a student needs to run the lab with the README's two commands
(``make lab`` and ``make test``): the student notebooks, ``labkit``, the data, the environment
files, the Makefile, the README and the monitoring files. It leaves out ``solutions/``, the
instructor's ``tests/`` and ``docs/``, and everything git ignores (``runs/``, ``.venv/``, caches).

What goes in is an allow-list (:data:`INCLUDE`), so a new instructor-only folder never leaks by
accident. Inside the allowed folders, git decides what counts as a source file (tracked files plus
untracked files that are not ignored, i.e. the working tree); without git the patterns of
``.gitignore`` are applied with simple glob matching.

The build refuses (:class:`BundleError`) when the student notebooks are out of sync with the
solutions (the same check as ``python -m labkit.release sync --check``), and, as a second line of
defence, when a notebook in the bundle still holds a ``### BEGIN SOLUTION`` block or a filled-in
``answer`` cell.

The zip is reproducible: the same files give the same bytes (sorted entries, fixed timestamps,
permissions kept). Every entry sits below one folder, ``model-monitoring-lab/``.

From a shell::

    labkit release                 # writes dist/model-monitoring-lab-<version>.zip
    labkit release --out /tmp/rel  # somewhere else
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import stat
import subprocess
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from labkit import __version__, release
from labkit.paths import REPO_ROOT

logger = logging.getLogger(__name__)

__all__ = [
    "BUNDLE_FOLDER",
    "EXCLUDE",
    "INCLUDE",
    "BundleError",
    "BundleReport",
    "build_bundle",
    "bundle_files",
    "check_no_solutions",
]

#: Top-level entries the student bundle may contain (folders and files; missing ones are skipped).
INCLUDE = (
    ".ci",
    ".gitattributes",
    ".gitignore",
    "LICENSE",
    "Makefile",
    "README.md",
    "benchmarks",
    "conftest.py",
    "data",
    "environment.yml",
    "labkit",
    "monitoring",
    "notebooks",
    "pyproject.toml",
    "requirements.in",
    "requirements.lock",
    "tools",
)
#: Never shipped, whatever git or the allow-list say (instructor material and build leftovers).
EXCLUDE = (
    "solutions",
    "tests",
    "docs",
    "runs",
    "dist",
    "build",
    ".venv",
    ".git",
    "*.egg-info",
    "__pycache__",
    ".ipynb_checkpoints",
    ".pytest_cache",
    ".hypothesis",
    "*.pyc",
)
#: The folder every entry of the zip sits in.
BUNDLE_FOLDER = "model-monitoring-lab"
# 1980-01-01, the earliest time a zip entry can carry: timestamps must not make two builds differ.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BundleError(RuntimeError):
    """The bundle cannot be built safely; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class BundleReport:
    """What :func:`build_bundle` wrote.

    Attributes
    ----------
    path : Path
        The zip file.
    files : tuple of str
        Paths inside the bundle, relative to its top folder, in zip order.
    size : int
        Size of the zip in bytes.
    sha256 : str
        SHA-256 of the zip (give it to students so they can check their download).
    source : str
        Where the files came from: ``"git"`` or ``".gitignore patterns"``, with the commit when known.
    """

    path: Path
    files: tuple[str, ...] = field(repr=False)
    size: int
    sha256: str
    source: str


# --------------------------------------------------------------------------------------------------
# Which files
# --------------------------------------------------------------------------------------------------
def bundle_files(root: str | Path = REPO_ROOT) -> list[str]:
    """The files of ``root`` that belong in the student bundle, as sorted POSIX paths.

    Parameters
    ----------
    root : str or Path, default the repository root
        The lab's repository (the folder holding ``notebooks/`` and ``solutions/``).

    Returns
    -------
    list of str
        Relative paths below the allowed entries (:data:`INCLUDE`), without git-ignored files and
        without anything matching :data:`EXCLUDE`.
    """
    return _listing(Path(root))[0]


def _listing(root: Path) -> tuple[list[str], str]:
    """(bundle files, where the list came from: "git" or ".gitignore patterns")."""
    listed, source = _git_files(root), "git"
    if listed is None:
        listed, source = _walk_files(root), ".gitignore patterns"
    wanted = []
    for rel in listed:
        parts = rel.split("/")
        if parts[0] not in INCLUDE or _excluded(parts):
            continue
        if (root / rel).is_file():  # git lists files deleted in the working tree, too
            wanted.append(rel)
    return sorted(set(wanted)), source


def _excluded(parts: list[str]) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in EXCLUDE)


def _git_files(root: Path) -> list[str] | None:
    """Tracked plus untracked-but-not-ignored files, or None when ``root`` is not a git work tree."""
    try:
        top = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        if Path(top).resolve() != root.resolve():
            return None  # root is a sub-folder of another repository: use root's own .gitignore
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in out.decode("utf-8").split("\0") if p]


def _walk_files(root: Path) -> list[str]:
    """All files of ``root`` not matched by its ``.gitignore`` (simple patterns, see module doc)."""
    patterns = _gitignore_patterns(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not _ignored(prefix + d, patterns, is_dir=True))
        found += [prefix + f for f in filenames if not _ignored(prefix + f, patterns, is_dir=False)]
    return found


def _gitignore_patterns(root: Path) -> list[str]:
    path = root / ".gitignore"
    if not path.is_file():
        return [".git/"]
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [".git/"] + [line for line in lines if line and not line.startswith(("#", "!"))]


def _ignored(rel: str, patterns: list[str], *, is_dir: bool) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        if dir_only and not is_dir:
            continue
        if "/" in pattern:  # anchored to the root
            if fnmatch.fnmatch(rel, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatch(name, pattern):
            return True
    return False


def _git_commit(root: Path) -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return commit + (" + uncommitted changes" if dirty else "")


# --------------------------------------------------------------------------------------------------
# Safety checks
# --------------------------------------------------------------------------------------------------
def check_no_solutions(root: str | Path, files: Iterable[str]) -> None:
    """Raise :class:`BundleError` when a notebook among ``files`` still holds solution content.

    Looks for a ``### BEGIN SOLUTION`` line in any cell, an ``answer``-tagged markdown cell that is not
    the empty placeholder, and a ``solution-only`` cell. This is a second line of defence behind the
    sync check: the generator already removes all three.

    Parameters
    ----------
    root : str or Path
        The folder the paths in ``files`` are relative to.
    files : iterable of str
        Relative paths; only ``.ipynb`` files are read.

    Raises
    ------
    BundleError
        Naming the notebook and cell.
    """
    root = Path(root)
    for rel in files:
        if not rel.endswith(".ipynb"):
            continue
        try:
            nb = json.loads((root / rel).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"{rel} is not a readable notebook ({exc}); fix or remove it before releasing") from None
        for index, cell in enumerate(nb.get("cells", [])):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            tags = cell.get("metadata", {}).get("tags", []) or []
            where = f"{rel}, cell {index} (id {cell.get('id', '?')})"
            problem = None
            if any(line.strip() == release.BEGIN_SOLUTION for line in source.splitlines()):
                problem = f"still contains a {release.BEGIN_SOLUTION!r} block"
            elif "answer" in tags and source.strip() != release.ANSWER_PLACEHOLDER:
                problem = "is an 'answer' cell that still holds the answer"
            elif "solution-only" in tags:
                problem = "is a 'solution-only' cell"
            if problem:
                raise BundleError(
                    f"{where} {problem}; the student bundle must not contain solutions. "
                    "Regenerate the student notebooks with `labkit sync` and release again."
                )


def _check_in_sync(root: Path) -> None:
    try:
        stale = release.sync(root, check=True)
    except FileNotFoundError as exc:
        raise BundleError(
            f"cannot check the student notebooks against the solutions: {exc}. "
            "Release from the instructor's copy of the repository (the one with solutions/)."
        ) from None
    except ValueError as exc:
        raise BundleError(f"a solution notebook cannot be turned into a student notebook: {exc}") from None
    if stale:
        names = ", ".join(_relative(p, root) for p in stale)
        raise BundleError(
            f"the student notebooks are out of sync with solutions/ ({names}); the bundle would not "
            "match the solutions you grade against. Run `labkit sync` (or `make notebooks` to "
            "re-execute the solutions first), review the diff, commit, and release again."
        )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------------
def build_bundle(
    out_dir: str | Path | None = None, *, root: str | Path = REPO_ROOT, name: str | None = None
) -> BundleReport:
    """Build the student bundle zip.

    Parameters
    ----------
    out_dir : str or Path, optional
        Where the zip goes; default ``<root>/dist`` (git-ignored). Created when missing.
    root : str or Path, default the repository root
        The instructor's repository (with ``solutions/``).
    name : str, optional
        File name of the zip; default ``model-monitoring-lab-<labkit version>.zip``.

    Returns
    -------
    BundleReport

    Raises
    ------
    BundleError
        When the student notebooks are out of sync with the solutions, a notebook in the bundle still
        holds solution content, or there are no student notebooks to ship.

    Examples
    --------
    ::

        report = build_bundle("/tmp/release")
        print(report.path, report.sha256)
    """
    root = Path(root)
    if not root.is_dir():
        raise BundleError(f"repository root {root} is not a folder; pass the folder holding notebooks/ and solutions/")
    _check_in_sync(root)
    files, source = _listing(root)
    if not any(f.startswith("notebooks/") and f.endswith(".ipynb") for f in files):
        raise BundleError(
            f"no student notebooks found in {root / 'notebooks'}; generate them with `labkit sync` first"
        )
    check_no_solutions(root, files)

    out_dir = Path(out_dir) if out_dir is not None else root / "dist"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (name or f"{BUNDLE_FOLDER}-{__version__}.zip")
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for rel in files:
            file = root / rel
            info = zipfile.ZipInfo(f"{BUNDLE_FOLDER}/{rel}", date_time=_ZIP_TIME)
            mode = 0o755 if file.stat().st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    tmp.replace(path)
    data = path.read_bytes()
    commit = _git_commit(root) if source == "git" else ""
    source += f", {commit}" if commit else ""
    report = BundleReport(path, tuple(files), len(data), hashlib.sha256(data).hexdigest(), source)
    logger.info("wrote %s (%d files, %d bytes)", path, len(files), len(data))
    return report
