"""Instructor tooling: turn solution notebooks into student notebooks and keep both normalised.

``solutions/NN_*.ipynb`` are the single source of truth. Each is committed in a normal form
(:func:`normalise_solution`) and generates ``notebooks/NN_*.ipynb`` (:func:`make_student_notebook`):

* code between a line ``### BEGIN SOLUTION`` and a line ``### END SOLUTION`` becomes, at the same
  indentation, ``# YOUR CODE HERE`` and ``raise NotImplementedError("Exercise <id>: not attempted yet")``
  (the id is taken from the ``check("<id>", ...)`` call in the same cell);
* markdown cells tagged ``answer`` become an empty answer; cells tagged ``solution-only`` are dropped;
* outputs and execution counts are removed, cell metadata is reduced to ``tags``, cell ids stay the
  same as in the solution, and the notebook metadata is a fixed kernelspec.

From a shell::

    python -m labkit.release sync            # regenerate notebooks/ from solutions/
    python -m labkit.release sync --check    # exit 1 and list the files that are out of sync
    python -m labkit.release sync --execute  # run each solution first (slow)
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4.rwbase import rejoin_lines

logger = logging.getLogger(__name__)

__all__ = [
    "ANSWER_PLACEHOLDER",
    "BEGIN_SOLUTION",
    "CHECK_OUTPUT_MARKER",
    "END_SOLUTION",
    "KERNELSPEC",
    "LANGUAGE_INFO",
    "execute_solution",
    "main",
    "make_student_notebook",
    "normalise_solution",
    "notebook_text",
    "read_notebook",
    "sync",
    "sync_notebook",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
#: Cells whose source contains this keep their outputs in the committed solution (nbval --nbval-lax).
CHECK_OUTPUT_MARKER = "# NBVAL_CHECK_OUTPUT"
ANSWER_TAG = "answer"
SOLUTION_ONLY_TAG = "solution-only"
ANSWER_PLACEHOLDER = "**Your answer:** _write it here_"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}
#: Which files in solutions/ and notebooks/ are course notebooks.
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"

_CHECK_CALL = re.compile(r"""\bcheck\(\s*(["'])(?P<id>[A-Za-z0-9_.\-]+)\1""")
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


# --------------------------------------------------------------------------------------------------
# Pure transformations
# --------------------------------------------------------------------------------------------------
def make_student_notebook(solution_nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Generate the student notebook from a solution notebook (pure and deterministic).

    Parameters
    ----------
    solution_nb : NotebookNode
        An nbformat 4 notebook; it is not modified.

    Returns
    -------
    NotebookNode
        nbformat 4.5, no outputs, execution counts None, cell metadata reduced to ``tags``,
        the same cell ids as the solution (deterministic ids where the solution has none),
        fixed kernelspec.

    Raises
    ------
    ValueError
        For unbalanced or nested ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, or when
        the generated code is not valid Python; the message names the cell and line.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> source = '''def double(x):
    ...     ### BEGIN SOLUTION
    ...     return 2 * x
    ...     ### END SOLUTION
    ...
    ... double = check("99.double", double)'''
    >>> nb = new_notebook(cells=[new_code_cell(source, id="c1")])
    >>> print(make_student_notebook(nb).cells[0].source)
    def double(x):
        # YOUR CODE HERE
        raise NotImplementedError("Exercise 99.double: not attempted yet")
    <BLANKLINE>
    double = check("99.double", double)
    """
    nb = _prepared(solution_nb)
    cells = []
    for cell in nb.cells:
        tags = _tags(cell)
        if SOLUTION_ONLY_TAG in tags:
            continue
        new = _clean_cell(cell, keep_outputs=False)
        if cell.cell_type == "markdown" and ANSWER_TAG in tags:
            new.source = ANSWER_PLACEHOLDER
            new.pop("attachments", None)
        elif cell.cell_type == "code":
            new.source = _strip_solutions(_source(cell), cell.id)
        cells.append(new)
    return _finish(nb, cells)


def normalise_solution(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The form a solution notebook is committed in (pure and deterministic; idempotent).

    Outputs are kept only in code cells whose source contains ``# NBVAL_CHECK_OUTPUT`` (the cells
    ``nbval --nbval-lax`` compares); all execution counts are cleared; cell metadata is reduced to
    ``tags``; cells without a valid, unique id get a deterministic one; the notebook metadata is the
    fixed kernelspec; nbformat 4.5.

    Raises
    ------
    ValueError
        For unbalanced solution markers (checked here too, so a broken solution is caught early).
    """
    nb = _prepared(nb)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            _strip_solutions(_source(cell), cell.id)  # validates the markers
            keep = CHECK_OUTPUT_MARKER in _source(cell)
            cells.append(_clean_cell(cell, keep_outputs=keep))
        else:
            cells.append(_clean_cell(cell, keep_outputs=False))
    return _finish(nb, cells)


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The exact text ``nbformat.write`` would save for ``nb`` (indent 1, sorted keys, final newline)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _prepared(nb: Any) -> nbformat.NotebookNode:
    if not isinstance(nb, dict) or "cells" not in nb:
        raise TypeError(f"expected a notebook (nbformat.NotebookNode), got {type(nb).__name__}")
    if nb.get("nbformat") != 4:
        raise ValueError(
            f"expected an nbformat 4 notebook, got nbformat {nb.get('nbformat')!r}; "
            "convert it with nbformat.convert(nb, 4)"
        )
    nb = rejoin_lines(nbformat.from_dict(copy.deepcopy(dict(nb))))
    _assign_ids(nb.cells)
    return nb


def _finish(nb: nbformat.NotebookNode, cells: list) -> nbformat.NotebookNode:
    out = nbformat.v4.new_notebook(
        cells=cells,
        metadata={"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)},
    )
    out.nbformat, out.nbformat_minor = 4, 5
    nbformat.validate(out)
    return out


def _assign_ids(cells: list) -> None:
    """Keep valid unique ids; give every other cell a deterministic id derived from its content."""
    taken = {c.get("id") for c in cells if isinstance(c.get("id"), str) and _CELL_ID.match(c["id"])}
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        cid = cell.get("id")
        if isinstance(cid, str) and _CELL_ID.match(cid) and cid not in seen:
            seen.add(cid)
            continue
        seed = f"{index}\0{cell.get('cell_type')}\0{_source(cell)}"
        new = hashlib.sha1(seed.encode("utf-8")).hexdigest()[:8]
        while new in taken or new in seen:
            new = hashlib.sha1(new.encode("utf-8")).hexdigest()[:8]
        logger.debug("cell %d: id %r -> %r", index, cid, new)
        cell["id"] = new
        seen.add(new)
        taken.add(new)


def _clean_cell(cell: nbformat.NotebookNode, *, keep_outputs: bool) -> nbformat.NotebookNode:
    tags = _tags(cell)
    metadata = nbformat.from_dict({"tags": tags} if tags else {})
    source = _source(cell)
    if cell.cell_type == "code":
        new = nbformat.v4.new_code_cell(source=source, metadata=metadata, id=cell.id)
        if keep_outputs:
            new.outputs = [_clean_output(o) for o in cell.get("outputs", [])]
            # nbval refuses a reference cell with outputs but no execution count ("Unrun reference
            # cell has outputs"); a constant keeps the committed file stable across runs.
            new.execution_count = 1 if new.outputs else None
        return new
    if cell.cell_type == "markdown":
        new = nbformat.v4.new_markdown_cell(source=source, metadata=metadata, id=cell.id)
    elif cell.cell_type == "raw":
        new = nbformat.v4.new_raw_cell(source=source, metadata=metadata, id=cell.id)
    else:
        raise ValueError(f"cell {cell.id}: unknown cell_type {cell.cell_type!r}")
    if cell.get("attachments"):
        new.attachments = copy.deepcopy(cell.attachments)
    return new


def _clean_output(output: dict) -> nbformat.NotebookNode:
    output = nbformat.from_dict(copy.deepcopy(dict(output)))
    output.pop("transient", None)
    if output.get("output_type") == "execute_result":
        output.execution_count = 1
    return output


def _tags(cell: dict) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _strip_solutions(source: str, cell_id: str) -> str:
    """Replace every solution block of one code cell; validate the markers."""
    lines = source.split("\n")
    calls = [(source.count("\n", 0, m.start()) + 1, m.group("id")) for m in _CHECK_CALL.finditer(source)]
    out: list[str] = []
    begin = None
    replaced = False
    for no, line in enumerate(lines, 1):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if begin is not None:
                raise ValueError(
                    f"cell {cell_id}: line {no}: {BEGIN_SOLUTION!r} inside the solution block opened on "
                    f"line {begin}; close that block with {END_SOLUTION!r} first"
                )
            begin = no
            indent = line[: len(line) - len(line.lstrip())]
        elif marker == END_SOLUTION:
            if begin is None:
                raise ValueError(
                    f"cell {cell_id}: line {no}: {END_SOLUTION!r} without a {BEGIN_SOLUTION!r} before it"
                )
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("{_not_attempted_message(calls, no)}")')
            begin = None
            replaced = True
        elif begin is None:
            out.append(line)
    if begin is not None:
        raise ValueError(
            f"cell {cell_id}: line {begin}: {BEGIN_SOLUTION!r} is never closed; add a line "
            f"{END_SOLUTION!r} after the solution code"
        )
    result = "\n".join(out)
    if replaced:
        _check_syntax(result, cell_id)
    return result


def _not_attempted_message(calls: list[tuple[int, str]], end_line: int) -> str:
    after = [i for no, i in calls if no > end_line]
    before = [i for no, i in calls if no < end_line]
    exercise_id = after[0] if after else (before[-1] if before else None)
    if exercise_id is None:
        return "Exercise not attempted yet: replace this line with your code"
    return f"Exercise {exercise_id}: not attempted yet"


def _check_syntax(source: str, cell_id: str) -> None:
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # no IPython: magics would not parse, so skip the check
        return
    code = TransformerManager().transform_cell(source)
    try:
        compile(code, f"<cell {cell_id}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ValueError(
            f"cell {cell_id}: the student version is not valid Python after replacing the solution "
            f"blocks (line {exc.lineno}: {exc.msg}); keep each block inside one indented body"
        ) from None


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------
def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook without nbformat's random id repair (ids are assigned deterministically later)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("nbformat") != 4:
        return nbformat.reads(text, as_version=4)
    return rejoin_lines(nbformat.from_dict(data))


def _write_if_changed(path: Path, text: str, *, check: bool) -> bool:
    """Return True when the file differs from ``text``; write it unless ``check``."""
    current = path.read_bytes().decode("utf-8") if path.is_file() else None
    if current == text:
        return False
    if not check:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        logger.info("wrote %s", path)
    return True


def _execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int, kernel_name: str) -> nbformat.NotebookNode:
    import nbclient

    nb = copy.deepcopy(nb)
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def execute_solution(
    path: str | Path, timeout: int = 600, *, kernel_name: str = "python3"
) -> nbformat.NotebookNode:
    """Run a solution notebook in its own folder, then normalise it and write it back.

    Parameters
    ----------
    path : str or Path
        ``solutions/NN_name.ipynb``.
    timeout : int, default 600
        Seconds allowed per cell.
    kernel_name : str, default "python3"

    Returns
    -------
    NotebookNode
        The normalised, executed notebook (what was written).

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        When a cell fails; the file is then left unchanged.
    """
    path = Path(path)
    nb = read_notebook(path)
    executed = normalise_solution(_execute(nb, path.parent.resolve(), timeout, kernel_name))
    _write_if_changed(path, notebook_text(executed), check=False)
    return executed


def sync_notebook(
    solution: str | Path,
    *,
    notebooks_dir: str | Path | None = None,
    check: bool = False,
    execute: bool = False,
    timeout: int = 600,
) -> list[Path]:
    """Normalise one solution and regenerate its student notebook.

    Parameters
    ----------
    solution : str or Path
        ``solutions/NN_name.ipynb``.
    notebooks_dir : str or Path, optional
        Where the student notebook goes; default ``notebooks/`` next to the solutions folder.
    check : bool, default False
        Write nothing; only report what is out of sync.
    execute : bool, default False
        Run the solution first (with ``check`` the run only happens in memory).
    timeout : int, default 600
        Seconds per cell when executing.

    Returns
    -------
    list of Path
        The files that were rewritten (or, with ``check``, that are out of sync).
    """
    solution = Path(solution)
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else solution.parent.parent / "notebooks"
    nb = read_notebook(solution)
    if execute:
        nb = _execute(nb, solution.parent.resolve(), timeout, "python3")
    normalised = normalise_solution(nb)
    student = make_student_notebook(normalised)
    changed = []
    for path, node in ((solution, normalised), (notebooks_dir / solution.name, student)):
        if _write_if_changed(path, notebook_text(node), check=check):
            changed.append(path)
    return changed


def sync(
    root: str | Path = ".", *, check: bool = False, execute: bool = False, timeout: int = 600
) -> list[Path]:
    """Normalise every ``solutions/NN_*.ipynb`` and regenerate ``notebooks/NN_*.ipynb``.

    Parameters
    ----------
    root : str or Path, default "."
        The repository root (the folder holding ``solutions/`` and ``notebooks/``).
    check : bool, default False
        Write nothing; return the files that are out of sync: solutions not in normal form,
        student notebooks missing or different from the generator's output, and student notebooks
        whose solution no longer exists.
    execute : bool, default False
        Run each solution first (slow).
    timeout : int, default 600
        Seconds per cell when executing.

    Returns
    -------
    list of Path
        Files rewritten, or with ``check`` the files out of sync (empty when all is in sync).
        Student notebooks without a solution are never deleted; they are listed under ``check``
        and logged as a warning otherwise.
    """
    root = Path(root)
    solutions_dir, notebooks_dir = root / "solutions", root / "notebooks"
    if not solutions_dir.is_dir():
        raise FileNotFoundError(
            f"no solutions/ folder in {root.resolve()}; run from the repository root or pass root="
        )
    changed: list[Path] = []
    for solution in sorted(solutions_dir.glob(NOTEBOOK_GLOB)):
        changed += sync_notebook(
            solution, notebooks_dir=notebooks_dir, check=check, execute=execute, timeout=timeout
        )
    for orphan in sorted(notebooks_dir.glob(NOTEBOOK_GLOB)):
        if not (solutions_dir / orphan.name).is_file():
            logger.warning("%s has no solution in %s; delete it or add the solution", orphan, solutions_dir)
            if check:
                changed.append(orphan)
    return changed


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m labkit.release sync [--check] [--execute] [--root DIR]``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m labkit.release", description="Generate student notebooks from solutions/."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sync_parser = commands.add_parser(
        "sync", help="normalise solutions/NN_*.ipynb and regenerate notebooks/NN_*.ipynb"
    )
    sync_parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of sync")
    sync_parser.add_argument("--execute", action="store_true", help="run each solution first (slow)")
    sync_parser.add_argument("--root", default=".", help="repository root (default: current folder)")
    sync_parser.add_argument("--timeout", type=int, default=600, help="seconds per cell when executing")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    root = Path(args.root)
    paths = sync(root, check=args.check, execute=args.execute, timeout=args.timeout)
    shown = [_relative(p, root) for p in paths]
    if args.check:
        if shown:
            print("Out of sync (run `python -m labkit.release sync` and commit the result):")
            print("\n".join(f"  {p}" for p in shown))
            return 1
        print("All notebooks are in sync.")
        return 0
    print("\n".join(f"wrote {p}" for p in shown) if shown else "Nothing to update.")
    return 0


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())
