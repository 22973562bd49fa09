"""Build the student zip: the graded release (no solution in any file) or the self-study release.

:func:`build_bundle` zips what a student needs to run the lab with the README's two commands
(``make lab`` and ``make test``): the student notebooks, ``labkit`` (with its recorded banks), the
data, the environment files, the Makefile, the README and the monitoring files. Never ``solutions/``,
``tests/``, ``docs/``, the instructor package, or anything git does not track.

What goes in is an allow-list (:data:`INCLUDE`) of files git tracks. The build refuses
(:class:`BundleError`)

* when the folder is not a git work tree, or an allowed folder holds files git does not track
  (it names them: commit them or delete them);
* when the student notebooks or the recorded banks are out of sync with ``solutions/``
  (``labkit-instructor sync --check``);
* for the graded release, when any file of the zip, opened and decoded (notebooks, JSON, ``.npz``
  arrays and the Parquet tables inside them, Python, Markdown), contains a non-trivial line of a
  solution block, of a reference implementation, a model answer, or a question's explanation
  (:func:`find_leaks`).

The *self-study* release (``self_study=True``) adds ``solutions/``, puts each model answer behind a
click in the student notebooks, and says so in ``SELF_STUDY.md`` at the top of the zip.

The zip is reproducible (sorted entries, fixed timestamps, permissions kept); every entry sits below
one folder, ``model-monitoring-lab/``. From a shell::

    labkit-instructor release                 # dist/model-monitoring-lab-<version>.zip
    labkit-instructor release --self-study    # dist/model-monitoring-lab-<version>-self-study.zip
"""
from __future__ import annotations

import fnmatch
import hashlib
import inspect
import io
import json
import logging
import re
import stat
import subprocess
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labkit import __version__
from labkit.paths import REPO_ROOT
from labkit_instructor import release

logger = logging.getLogger(__name__)

__all__ = ["BUNDLE_FOLDER", "EXCLUDE", "INCLUDE", "SELF_STUDY_README", "BundleError", "BundleReport",
           "build_bundle", "bundle_files", "find_leaks", "forbidden_lines", "member_texts", "untracked_files"]

#: Top-level entries the student bundle may contain (folders and files; missing ones are skipped).
INCLUDE = (".ci", ".gitattributes", ".gitignore", "LICENSE", "Makefile", "README.md", "benchmarks", "binder",
           "conftest.py", "data", "environment.yml", "labkit", "monitoring", "notebooks", "pyproject.toml",
           "requirements.in", "requirements.lock", "requirements-test.in", "requirements-test.lock", "tools")
#: Never shipped, whatever the allow-list says (instructor material and build leftovers).
EXCLUDE = ("solutions", "tests", "docs", "instructor", "labkit_instructor", "bench_grading.py", "runs", "dist",
           "build", ".venv", ".git", "*.egg-info", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".hypothesis",
           "*.pyc")
BUNDLE_FOLDER = "model-monitoring-lab"
SELF_STUDY_README = """# Model Monitoring Lab: self-study edition

This copy of the lab is for learning on your own, so it **includes the answers**:

* `solutions/` holds every notebook complete: the model solution of each exercise and the written
  answers, with their outputs;
* in `notebooks/`, each "Your answer" cell is followed by the model answer, folded: click
  *Model answer* to reveal it, after you have written your own.

Try each exercise before you look: the checker (`check(...)`) tells you what is wrong, and
`hint("<exercise id>")` gives a hint without the solution. Start with `make lab` (see README.md).
"""
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MIN_LINE = 16  # shorter lines ("return out", "kept = []") are too common to count as solution code


class BundleError(RuntimeError):
    """The bundle cannot be built safely; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class BundleReport:
    """What :func:`build_bundle` wrote: the zip's ``path``, its ``files`` (relative to its top folder), its
    ``size`` in bytes and ``sha256``, and ``source`` (the commit the files came from)."""

    path: Path
    files: tuple[str, ...] = field(repr=False)
    size: int
    sha256: str
    source: str


# --------------------------------------------------------------------------------------------------
# Which files
# --------------------------------------------------------------------------------------------------
def _git(root: Path, *args: str) -> list[str]:
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=True).stdout.strip()
        if Path(top).resolve() != root.resolve():
            raise BundleError(f"{root} is not the top of a git work tree (that is {top}); release from the top")
        out = subprocess.run(["git", "-C", str(root), *args, "-z"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise BundleError(f"{root} is not a git work tree: the release ships what git tracks, so release from a "
                          "clone of the course repository") from None
    return [p for p in out.decode("utf-8").split("\0") if p]


def _allowed(rel: str) -> bool:
    parts = rel.split("/")
    return parts[0] in INCLUDE and not any(fnmatch.fnmatch(p, pat) for p in parts for pat in EXCLUDE)


def bundle_files(root: str | Path = REPO_ROOT) -> list[str]:
    """The files git tracks below the allowed entries (:data:`INCLUDE`), as sorted POSIX paths."""
    root = Path(root)
    return sorted({rel for rel in _git(root, "ls-files", "--cached") if _allowed(rel) and (root / rel).is_file()})


def untracked_files(root: str | Path = REPO_ROOT) -> list[str]:
    """Files below the allowed entries that git does not track and does not ignore (the build refuses them)."""
    return sorted(rel for rel in _git(Path(root), "ls-files", "--others", "--exclude-standard") if _allowed(rel))


def _commit(root: Path) -> str:
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "git"
    return f"git {commit}" + (" + uncommitted changes to tracked files" if dirty else "")


# --------------------------------------------------------------------------------------------------
# What must never ship in a graded release, and how to find it in any file
# --------------------------------------------------------------------------------------------------
def _norm(line: str) -> str:
    return " ".join(line.split())


#: Lines that only convert an argument (``p = np.asarray(p_values, dtype=float)``) say nothing about an answer.
_BOILERPLATE = re.compile(
    r"^\w+ = (np\.asarray|np\.sort|pd\.Series|pd\.to_datetime|pd\.Timestamp)\(\w+(, dtype=\w+)?\)$")


def forbidden_lines(root: str | Path = REPO_ROOT) -> list[str]:
    """What must not ship in a graded release, as whitespace-normalised lines of at least 16 characters:
    every line of a solution block, of an ``answer``/``solution-only`` cell, of a question's explanation
    and of a reference implementation. Lines an exercise's text (markdown) shows on purpose and argument
    conversions (:data:`_BOILERPLATE`) do not count."""
    from labkit_instructor import exercises

    strict: list[str] = []
    given, references = [], []
    for path in sorted((Path(root) / "solutions").glob(release.NOTEBOOK_GLOB)):
        for cell in release.read_notebook(path).cells:
            inside = bool({"answer", "solution-only"} & set(cell.metadata.get("tags", [])))
            for line in cell.source.splitlines():
                if line.strip() in (release.BEGIN_SOLUTION, release.END_SOLUTION):
                    inside = line.strip() == release.BEGIN_SOLUTION
                elif inside:
                    strict.append(line)
        student = release.make_student_notebook(release.read_notebook(path))
        given += [_norm(line) for cell in student.cells if cell.cell_type == "markdown"
                  for line in cell.source.splitlines()]
        for exercise in exercises.exercises(path.name[:2]):
            references += inspect.getsource(exercise.reference).split('"""')[-1].splitlines()[1:]
        strict += [text for q in exercises.questions(path.name[:2]) for text in q.explanations.values()]
    shown = "\n".join(given)  # what the exercise texts show on purpose is not a leak
    lines = {_norm(line) for line in [*strict, *references]}
    return sorted(line for line in lines
                  if len(line) >= _MIN_LINE and not _BOILERPLATE.match(line) and line not in shown)


def member_texts(name: str, data: bytes) -> list[str]:
    """Every text a file holds, decoded: JSON strings (notebook sources too), the arrays and Parquet tables
    inside ``.npz``/``.npy``, nested zips, and plain text."""
    import numpy as np
    import pandas as pd

    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in ("zip", "npz"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [t for n in archive.namelist() for t in member_texts(n, archive.read(n))]
    if suffix == "npy":
        array = np.load(io.BytesIO(data), allow_pickle=False)
        texts = [str(array.tolist())]
        if array.dtype == np.uint8:
            try:
                frame = pd.read_parquet(io.BytesIO(array.tobytes()))
                texts.append(frame.to_csv() + " ".join(map(str, frame.columns)))
            except Exception:
                texts.append(array.tobytes().decode("utf-8", "ignore"))
        return texts
    text = data.decode("utf-8", "ignore")
    if suffix in ("json", "ipynb"):
        def strings(node):
            if isinstance(node, str):
                yield node
            elif isinstance(node, (list, dict)):
                for item in (node.values() if isinstance(node, dict) else node):
                    yield from strings(item)
        try:
            return [text, "\n".join(strings(json.loads(text)))]
        except ValueError:
            pass
    return [text]


def find_leaks(members: Mapping[str, bytes], forbidden: Iterable[str]) -> list[tuple[str, str]]:
    """``(member, line)`` for every forbidden line found in a member's decoded texts."""
    forbidden = list(forbidden)
    found = []
    for name, data in members.items():
        text = "\n".join(_norm(t) for t in member_texts(name, data))
        found += [(name, line) for line in forbidden if line in text]
    return found


# --------------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------------
def _check_in_sync(root: Path) -> None:
    try:
        stale = release.sync(root, check=True)
    except FileNotFoundError as exc:
        raise BundleError(f"cannot check the student notebooks against the solutions: {exc}. Release from the "
                          "instructor's copy of the repository (the one with solutions/).") from None
    except ValueError as exc:
        raise BundleError(f"a solution notebook cannot be turned into a student notebook: {exc}") from None
    if stale:
        names = ", ".join(_relative(p, root) for p in stale)
        raise BundleError(f"the student notebooks or recorded banks are out of sync with solutions/ ({names}); the "
                          "bundle would not match the solutions you grade against. Run `labkit-instructor sync` "
                          "(or `make notebooks` to re-execute the solutions), review the diff, commit, and release "
                          "again.")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _contents(root: Path, files: list[str], self_study: bool) -> dict[str, bytes]:
    members = {rel: (root / rel).read_bytes() for rel in files}
    if self_study:
        for rel in _git(root, "ls-files", "--cached", "solutions"):
            if rel.endswith(".ipynb") and (root / rel).is_file():
                members[rel] = (root / rel).read_bytes()
                student = release.make_student_notebook(release.read_notebook(root / rel), self_study=True)
                members[f"notebooks/{Path(rel).name}"] = release.notebook_text(student).encode("utf-8")
        members["SELF_STUDY.md"] = SELF_STUDY_README.encode("utf-8")
    return dict(sorted(members.items()))


def build_bundle(out_dir: str | Path | None = None, *, root: str | Path = REPO_ROOT, name: str | None = None,
                 self_study: bool = False) -> BundleReport:
    """Build the student zip; see the module docstring for what goes in and when it refuses.

    Parameters
    ----------
    out_dir : str or Path, optional
        Where the zip goes; default ``<root>/dist`` (git-ignored). Created when missing.
    root : str or Path, default the repository root
        The instructor's git work tree (with ``solutions/``).
    name : str, optional
        File name of the zip; default ``model-monitoring-lab-<version>[-self-study].zip``.
    self_study : bool, default False
        Add the solutions and model answers (and ``SELF_STUDY.md`` saying so).

    Raises
    ------
    BundleError
        With what is wrong and how to fix it.
    """
    root = Path(root)
    if not root.is_dir():
        raise BundleError(f"repository root {root} is not a folder; pass the folder holding notebooks/ and solutions/")
    files = bundle_files(root)
    strays = untracked_files(root)
    if strays:
        raise BundleError(f"these files are not tracked by git and would not be in a clean clone: "
                          f"{', '.join(strays)}; commit them (git add) or delete them, then release again")
    _check_in_sync(root)
    if not any(f.startswith("notebooks/") and f.endswith(".ipynb") for f in files):
        raise BundleError(f"no student notebooks tracked in {root / 'notebooks'}; run `labkit-instructor sync` "
                          "and commit them")
    members = _contents(root, files, self_study)
    if not self_study:
        leaks = find_leaks(members, forbidden_lines(root))
        if leaks:
            shown = "; ".join(f"{m}: {line[:60]!r}" for m, line in leaks[:5])
            raise BundleError(f"solution content would ship in {len(leaks)} place(s): {shown}. Remove it from "
                              "those files (or from the solution, if it is not really an answer) and release again.")
    out_dir = Path(out_dir) if out_dir is not None else root / "dist"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (name or f"{BUNDLE_FOLDER}-{__version__}{'-self-study' if self_study else ''}.zip")
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for rel, data in members.items():
            info = zipfile.ZipInfo(f"{BUNDLE_FOLDER}/{rel}", date_time=_ZIP_TIME)
            source = root / rel
            executable = source.is_file() and source.stat().st_mode & stat.S_IXUSR
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    tmp.replace(path)
    data = path.read_bytes()
    report = BundleReport(path, tuple(members), len(data), hashlib.sha256(data).hexdigest(), _commit(root))
    logger.info("wrote %s (%d files, %d bytes)", path, len(members), len(data))
    return report
