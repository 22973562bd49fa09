"""Turn solution notebooks into student notebooks, keep both normalised, and record the banks.

``solutions/NN_*.ipynb`` are the single source of truth. Each is committed in a normal form
(:func:`normalise_solution`) and generates ``notebooks/NN_*.ipynb`` (:func:`make_student_notebook`):

* code between a line ``### BEGIN SOLUTION`` and a line ``### END SOLUTION`` becomes, at the same
  indentation, ``# YOUR CODE HERE`` and ``raise NotImplementedError("Exercise <id>: not attempted yet")``
  (the id is taken from the ``check("<id>", ...)`` call in the same cell);
* a self-checked question's ``answer("<id>", <choice>)`` line gets ``None`` as its choice;
* markdown cells tagged ``answer`` become an empty answer (the self-study release adds the model
  answer behind a click); cells tagged ``solution-only`` are dropped;
* outputs and execution counts are removed, cell metadata is reduced to ``tags``, cell ids stay the
  same as in the solution, and the notebook metadata is a fixed kernelspec.

:func:`sync` also rewrites the recorded banks ``labkit/exercises/bank/NN.*`` (see
:mod:`labkit_instructor.bank`); with ``execute`` it runs each solution and records its fallback tables.
From a shell::

    labkit-instructor sync            # regenerate notebooks/ and the banks
    labkit-instructor sync --check    # exit 1 and list the files that are out of sync
    labkit-instructor sync --execute  # run each solution first and record its fallback tables (slow)
"""
from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import inspect
import json
import logging
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4.rwbase import rejoin_lines

logger = logging.getLogger(__name__)


def collect_results(notebook: dict) -> list[dict[str, Any]]:
    """The check records (``labkit.exercises.MIME_TYPE`` outputs) of an executed notebook, as
    ``json.load`` gives it, each with its ``cell_id``: what the student saw, for feedback and tests."""
    from labkit.exercises import MIME_TYPE

    return [{**o["data"][MIME_TYPE], "cell_id": cell.get("id")} for cell in notebook.get("cells", [])
            for o in cell.get("outputs", []) if isinstance(o.get("data", {}).get(MIME_TYPE), dict)]

__all__ = [
    "ANSWER_PLACEHOLDER",
    "collect_results",
    "MODEL_ANSWER_TAG",
    "check_exercise_cells",
    "check_ids",
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
_ANSWER_CALL = re.compile(  # answer("<id>", <choice>) on a line of its own, perhaps with ; and a comment
    r"""^(?P<head>\s*answer\(\s*(["'])[A-Za-z0-9_.\-]+\2\s*,\s*)(?P<choice>[^#]*?)(?P<tail>\s*\)\s*;?\s*(#.*)?)$""")
_ANSWER_ID = re.compile(r"""\banswer\(\s*(["'])(?P<id>[A-Za-z0-9_.\-]+)\1""")  # any call, to refuse the others
MODEL_ANSWER_TAG = "model-answer"
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


# --------------------------------------------------------------------------------------------------
# Pure transformations
# --------------------------------------------------------------------------------------------------
def make_student_notebook(solution_nb: nbformat.NotebookNode, *, self_study: bool = False) -> nbformat.NotebookNode:
    """Generate the student notebook from a solution notebook (pure and deterministic).

    Parameters
    ----------
    solution_nb : NotebookNode
        An nbformat 4 notebook; it is not modified.
    self_study : bool, default False
        Follow each emptied ``answer`` cell with the model answer in a collapsed ``<details>`` block
        (tagged ``model-answer``), for the self-study release. The committed notebooks never have it.

    Returns
    -------
    NotebookNode
        nbformat 4.5, no outputs (conftest.py gives nbval the solution's output of each
        ``# NBVAL_CHECK_OUTPUT`` cell to compare), execution counts None, cell metadata reduced to ``tags``,
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
        if self_study and cell.cell_type == "markdown" and ANSWER_TAG in tags:
            reveal = (f"<details><summary>Model answer (self-study release: click to reveal)</summary>\n\n"
                      f"{_source(cell)}\n\n</details>")
            cells.append(nbformat.v4.new_markdown_cell(reveal, id=f"{cell.id[:56]}-model",
                                                       metadata={"tags": [MODEL_ANSWER_TAG]}))
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
            if _ANSWER_ID.search(line) and not _ANSWER_CALL.match(line):
                raise ValueError(f"cell {cell_id}: line {no}: {line.strip()!r} would keep its choice in the student "
                                 f'notebook; write answer("<id>", <choice>) alone on its line (a comment may follow)')
            out.append(_ANSWER_CALL.sub(lambda m: m["head"] + "None" + m["tail"], line))
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


def _execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int, kernel_name: str,
             record: Path | None = None) -> nbformat.NotebookNode:
    """Run a notebook; with ``record``, a cell before the first and one after the last record the
    fallback tables into ``record.json``/``record.npz`` (those two cells are removed again)."""
    import nbclient

    nb = copy.deepcopy(nb)
    if record is not None:
        start = f"from labkit_instructor.bank import start_recording\nstart_recording({str(record)!r})"
        finish = "from labkit_instructor.bank import finish_recording\nfinish_recording()"
        nb.cells.insert(0, nbformat.v4.new_code_cell(start, id="labkit-recording-start"))
        nb.cells.append(nbformat.v4.new_code_cell(finish, id="labkit-recording-finish"))
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name=kernel_name, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    if record is not None:
        nb.cells = nb.cells[1:-1]
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


def check_ids(nb: nbformat.NotebookNode) -> list[str]:
    """The exercise ids a notebook checks, in cell order."""
    return list(dict.fromkeys(m.group("id") for c in nb.cells if c.cell_type == "code"
                              for m in _CHECK_CALL.finditer(_source(c))))


def optional_ids(nb: nbformat.NotebookNode) -> set[str]:
    """The exercises checked after the notebook's "Going further" heading: progress() lists, not counts, them."""
    start = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                  and re.search(r"^#+ .*going further", _source(c), re.IGNORECASE | re.MULTILINE)), len(nb.cells))
    return set(check_ids(nbformat.v4.new_notebook(cells=nb.cells[start:])))


def check_exercise_cells(nb: nbformat.NotebookNode, number: str) -> None:
    """The solution's exercises are exactly the instructor's, in the same order, with the same signatures;
    so are its self-checked questions (its ``answer("<id>", ...)`` calls).

    Raises ValueError naming the exercise when the notebook and ``labkit_instructor.exercises`` disagree.
    """
    from labkit_instructor import exercises

    wanted = [e.id for e in exercises.exercises(number)]
    found = check_ids(nb)
    if found != wanted:
        raise ValueError(f"notebook {number} checks {found}, but labkit_instructor.exercises.nb{number} defines "
                         f"{wanted}; make them the same (same ids, same order)")
    asked = list(dict.fromkeys(m.group("id") for c in nb.cells if c.cell_type == "code"
                               for m in _ANSWER_ID.finditer(_source(c))))
    registered = [q.id for q in exercises.questions(number)]
    if asked != registered:
        raise ValueError(f"notebook {number} answers the questions {asked}, but labkit_instructor.exercises registers "
                         f"{registered}; make them the same (same ids, same order)")
    defs = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and _CHECK_CALL.search(_source(cell)):
            for node in ast.walk(ast.parse(_python(_source(cell)))):
                if isinstance(node, ast.FunctionDef):
                    defs[node.name] = [a.arg for a in node.args.args]
    for exercise in exercises.exercises(number):
        expected = list(inspect.signature(exercise.reference).parameters)
        if defs.get(exercise.name) != expected:
            raise ValueError(f"exercise {exercise.id}: the notebook's def takes {defs.get(exercise.name)}, the "
                             f"reference takes {expected}; the recorded fallback needs the same parameters")


def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _sync_bank(number: str, nb: nbformat.NotebookNode, bank_dir: Path, *, check: bool,
               recorded: dict | None) -> list[Path]:
    from labkit_instructor import bank, exercises

    if not exercises.exercises(number):
        return []
    check_exercise_cells(nb, number)
    meta, blobs = bank.build_bank(number, recorded, bank_dir=bank_dir, optional=optional_ids(nb))
    return bank.write_bank(number, meta, blobs, bank_dir=bank_dir, check=check)


def sync_notebook(
    solution: str | Path,
    *,
    notebooks_dir: str | Path | None = None,
    check: bool = False,
    execute: bool = False,
    timeout: int = 600,
    bank_dir: str | Path | None = None,
) -> list[Path]:
    """Normalise one solution, regenerate its student notebook and (with ``bank_dir``) its recorded bank.

    Parameters
    ----------
    solution : str or Path
        ``solutions/NN_name.ipynb``.
    notebooks_dir : str or Path, optional
        Where the student notebook goes; default ``notebooks/`` next to the solutions folder.
    check : bool, default False
        Write nothing; only report what is out of sync.
    execute : bool, default False
        Run the solution first and record the fallback tables (with ``check`` only in memory).
    timeout : int, default 600
        Seconds per cell when executing.
    bank_dir : str or Path, optional
        ``labkit/exercises/bank``; None leaves the banks alone.

    Returns
    -------
    list of Path
        The files that were rewritten (or, with ``check``, that are out of sync).
    """
    solution = Path(solution)
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else solution.parent.parent / "notebooks"
    nb = read_notebook(solution)
    number = solution.name[:2]
    recorded = None
    changed: list[Path] = []
    if execute:
        if bank_dir is not None and not check:  # the run checks against the visible cases of today
            changed += _sync_bank(number, nb, Path(bank_dir), check=False, recorded=None)
        with tempfile.TemporaryDirectory() as tmp:
            record = Path(tmp) / "recorded" if bank_dir is not None else None
            nb = _execute(nb, solution.parent.resolve(), timeout, "python3", record=record)
            if record is not None and record.with_suffix(".json").is_file():
                from labkit_instructor.bank import read_recording

                recorded = read_recording(record)
    normalised = normalise_solution(nb)
    student = make_student_notebook(normalised)
    for path, node in ((solution, normalised), (notebooks_dir / solution.name, student)):
        if _write_if_changed(path, notebook_text(node), check=check):
            changed.append(path)
    if bank_dir is not None:
        changed += [p for p in _sync_bank(number, normalised, Path(bank_dir), check=check, recorded=recorded)
                    if p not in changed]
    return changed


def sync(
    root: str | Path = ".", *, check: bool = False, execute: bool = False, timeout: int = 600
) -> list[Path]:
    """Normalise every ``solutions/NN_*.ipynb``, regenerate ``notebooks/NN_*.ipynb`` and the banks.

    Parameters
    ----------
    root : str or Path, default "."
        The repository root (the folder holding ``solutions/`` and ``notebooks/``). The recorded banks
        are synced when it has ``labkit/exercises/``.
    check : bool, default False
        Write nothing; return the files that are out of sync: solutions not in normal form,
        student notebooks missing or different from the generator's output, student notebooks
        whose solution no longer exists, and banks that differ from what the references give.
    execute : bool, default False
        Run each solution first and record its fallback tables (slow).
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
    bank_dir = root / "labkit" / "exercises" / "bank" if (root / "labkit" / "exercises").is_dir() else None
    changed: list[Path] = []
    for solution in sorted(solutions_dir.glob(NOTEBOOK_GLOB)):
        changed += sync_notebook(solution, notebooks_dir=notebooks_dir, check=check, execute=execute,
                                 timeout=timeout, bank_dir=bank_dir)
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
    """``labkit-instructor sync [--check] [--execute] [--root DIR]``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="labkit-instructor", description="Generate student notebooks and recorded banks from solutions/."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sync_parser = commands.add_parser(
        "sync", help="normalise solutions/NN_*.ipynb, regenerate notebooks/NN_*.ipynb and the recorded banks"
    )
    sync_parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of sync")
    sync_parser.add_argument("--execute", action="store_true",
                             help="run each solution first and record its fallback tables (slow)")
    sync_parser.add_argument("--root", default=".", help="repository root (default: current folder)")
    sync_parser.add_argument("--timeout", type=int, default=600, help="seconds per cell when executing")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    root = Path(args.root)
    paths = sync(root, check=args.check, execute=args.execute, timeout=args.timeout)
    shown = [_relative(p, root) for p in paths]
    if args.check:
        if shown:
            print("Out of sync (run `labkit-instructor sync` and commit the result):")
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
