"""Every notebook pair is complete: a student notebook with nothing attempted runs to the end and
says, exercise by exercise, what is left to do; its solution passes every check.

nbval, run by the same `pytest` command, executes every notebook top to bottom and compares the
cells marked `# NBVAL_CHECK_OUTPUT`. While it does, the hooks in the repository's `conftest.py` check
each `check(...)` cell's machine-readable record (every check passes in `solutions/`, and every check
says "not attempted yet" in the untouched `notebooks/`). A student notebook's marked cells carry the
solution's outputs, so nbval proves that the untouched notebook, running on the recorded fallbacks,
prints the same numbers. The tests here cover what needs no kernel, and prove that the hook catches a
broken contract.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from labkit.paths import REPO_ROOT

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\w+)["']""")


def _exercise_ids(nb) -> list[str]:
    return [m for cell in nb.cells if cell.cell_type == "code" for m in CHECK_CALL.findall(cell.source)]


def test_there_are_notebooks():
    assert SOLUTIONS, "solutions/ holds no notebooks"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_each_notebook_has_exercises_and_a_student_twin(solution):
    ids = _exercise_ids(nbformat.read(solution, as_version=4))
    assert len(ids) >= 2, f"{solution.name}: a notebook needs at least two self-checked exercises"
    assert len(set(ids)) == len(ids), f"{solution.name}: an exercise is checked twice: {ids}"
    assert (REPO_ROOT / "notebooks" / solution.name).exists(), "run `make notebooks`"


def test_the_nbval_hook_catches_a_broken_contract(tmp_path):
    """A solution whose check fails, and a student notebook whose check passes, both fail under nbval."""
    import subprocess
    import sys

    code = ("from labkit.exercises import check\n"
            "def split_by_time(df, a, b):\n    return None\n"
            "split_by_time = check('01.split_by_time', split_by_time)\n")
    for folder in ("solutions", "notebooks"):
        (tmp_path / folder).mkdir()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, tmp_path / folder / "01_x.ipynb")
    (tmp_path / "conftest.py").write_text((REPO_ROOT / "conftest.py").read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                             "--nbval-lax", "--nbval-current-env", "-o", "addopts=", "-o", "testpaths=",
                             "solutions", "notebooks"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "solutions/ notebook passes every check" in out and "'01.split_by_time', 'failed'" in out
    assert "notebooks/ notebook says 'not attempted yet' for every check" in out

