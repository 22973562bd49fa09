"""Every notebook pair is complete: a student notebook with nothing attempted runs to the end and
says, exercise by exercise, what is left to do; its solution passes every check.

(nbval, run by the same `pytest` command, executes every notebook top to bottom and compares the
cells marked `# NBVAL_CHECK_OUTPUT`; these tests add what nbval cannot see.)
"""
from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.exercises import collect_results
from labkit.paths import REPO_ROOT

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\w+)["']""")


def _exercise_ids(nb) -> list[str]:
    return [m for cell in nb.cells if cell.cell_type == "code" for m in CHECK_CALL.findall(cell.source)]


def _execute(path, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "runs"))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def test_there_are_notebooks():
    assert SOLUTIONS, "solutions/ holds no notebooks"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_each_notebook_has_exercises_and_a_student_twin(solution):
    ids = _exercise_ids(nbformat.read(solution, as_version=4))
    assert len(ids) >= 2, f"{solution.name}: a notebook needs at least two self-checked exercises"
    assert len(set(ids)) == len(ids), f"{solution.name}: an exercise is checked twice: {ids}"
    assert (REPO_ROOT / "notebooks" / solution.name).exists(), "run `make notebooks`"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_untouched_student_notebook_runs_and_lists_what_is_left(solution, tmp_path, monkeypatch):
    expected = _exercise_ids(nbformat.read(solution, as_version=4))
    student = REPO_ROOT / "notebooks" / solution.name
    nb = _execute(student, tmp_path, monkeypatch)
    records = collect_results(nb)
    assert [r["exercise"] for r in records] == expected
    assert {r["status"] for r in records} == {"not_attempted"}
    shown = "\n".join(o.get("data", {}).get("text/plain", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert shown.count("not attempted yet") >= len(expected)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_passes_every_check(solution, tmp_path, monkeypatch):
    nb = _execute(solution, tmp_path, monkeypatch)
    records = collect_results(nb)
    assert [r["exercise"] for r in records] == _exercise_ids(nb)
    failing = [(r["exercise"], r["status"], r["detail"]) for r in records if r["status"] != "passed"]
    assert not failing, f"{solution.name}: the solution does not pass its own checks: {failing}"
