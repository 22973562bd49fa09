"""Each notebook's core path fits its slot (issue 15): a reading budget per notebook.

The core path is every cell of the student notebook before its "Going further" heading (answers to the
understanding questions excluded). A student's time on it is estimated as

    words of prose / 100  +  lines of code to read / 10  +  4 per exercise   (minutes)

The rates are calibrated on the issue's own estimates for the notebooks as it found them: notebook 06
(3,384 words, 349 lines of code, 3 exercises) comes to 81 minutes ("75–90"), notebook 03 to 60
("60–80"), and the six notebooks to 4.8 hours ("4.5–5.5 h"). The slots are the course plan's: 30/20/40/40/30/30 minutes. Material
beyond the slot belongs in the optional "Going further" section at the end.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from labkit.paths import REPO_ROOT

SLOTS = {"01": 30, "02": 20, "03": 40, "04": 40, "05": 30, "06": 30}
WORDS_PER_MINUTE, CODE_LINES_PER_MINUTE, MINUTES_PER_EXERCISE = 100, 10, 4
#: Notebooks whose rooms are still moving material into "Going further" (flip when they land).
NOT_YET = {
}

_WORD = re.compile(r"[^\W_][\w'’-]*")
_EXERCISE = re.compile(r"""\bcheck\(\s*["']\d\d\.""")
_GOING_FURTHER = re.compile(r"^#+ .*going further", re.IGNORECASE | re.MULTILINE)


def core_cells(nb) -> list:
    """The cells before the "Going further" heading, without answer cells."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _GOING_FURTHER.search(cell.source):
            break
        if "answer" not in cell.get("metadata", {}).get("tags", []):
            cells.append(cell)
    return cells


def reading_budget(nb) -> dict:
    """Words of prose, lines of code to read, exercises and the estimated minutes of the core path."""
    cells = core_cells(nb)
    words = sum(len(_WORD.findall(c.source)) for c in cells if c.cell_type == "markdown")
    code = [c.source for c in cells if c.cell_type == "code"]
    lines = sum(1 for s in code for line in s.splitlines() if line.strip() and not line.strip().startswith("#"))
    exercises = sum(len(_EXERCISE.findall(s)) for s in code)
    minutes = words / WORDS_PER_MINUTE + lines / CODE_LINES_PER_MINUTE + exercises * MINUTES_PER_EXERCISE
    return {"words": words, "code_lines": lines, "exercises": exercises, "minutes": round(minutes, 1)}


def _notebook(number: str):
    (path,) = REPO_ROOT.glob(f"notebooks/{number}_*.ipynb")
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("number", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[n])) if n in NOT_YET else n
    for n in SLOTS
])
def test_core_path_fits_the_slot(number):
    budget = reading_budget(_notebook(number))
    assert budget["minutes"] <= SLOTS[number], (
        f"notebook {number}: the core path takes about {budget['minutes']} min ({budget['words']} words, "
        f"{budget['code_lines']} lines of code, {budget['exercises']} exercises) for a {SLOTS[number]}-minute "
        f"slot; move material into the optional 'Going further' section at the end")


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05", "06"])
def test_going_further_comes_last_and_says_it_is_optional(number):
    nb = _notebook(number)
    headings = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and _GOING_FURTHER.search(c.source)]
    assert len(headings) == 1, f"notebook {number} needs exactly one 'Going further' heading"
    cell = nb.cells[headings[0]].source
    assert cell.startswith("## Going further (optional)") and "grader does not ask" in cell
    later = "\n".join(c.source for c in nb.cells[headings[0] + 1:] if c.cell_type == "markdown")
    assert not re.search(r"^## ", later, re.MULTILINE), "nothing but the extras after 'Going further'"


def test_the_instructor_guide_states_each_budget_as_measured():
    """The guide's reading-budget table (words, code lines, exercises, estimate) is what this test measures."""
    guide = (REPO_ROOT / "docs" / "INSTRUCTOR_GUIDE.md").read_text(encoding="utf-8")
    for number, slot in SLOTS.items():
        row = re.search(rf"^\| {number} \| (\d+) min \| ([\d,]+) \| (\d+) \| (\d+) \| ([\d.]+) min \|", guide, re.M)
        assert row, f"docs/INSTRUCTOR_GUIDE.md has no reading-budget row for notebook {number}"
        b = reading_budget(_notebook(number))
        stated = (int(row[1]), int(row[2].replace(",", "")), int(row[3]), int(row[4]), float(row[5]))
        assert stated == (slot, b["words"], b["code_lines"], b["exercises"], b["minutes"]), (
            f"notebook {number}: the guide says {stated}, the notebook measures {b}: update the guide's table")


def test_the_estimate_counts_prose_code_and_exercises_of_the_core_path_only():
    assert reading_budget(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("word " * 3430), nbformat.v4.new_code_cell("x = 1\n" * 349),
        *[nbformat.v4.new_code_cell(f'f = check("06.e{i}", f)') for i in range(3)]]))["minutes"] == pytest.approx(
        34.3 + 34.9 + 3 * 0.1 + 12, abs=0.1)
    answer = nbformat.v4.new_markdown_cell("many words " * 50, metadata={"tags": ["answer"]})
    extra = [nbformat.v4.new_markdown_cell("## Going further (optional)"), nbformat.v4.new_code_cell("y = 2\n" * 99)]
    assert reading_budget(nbformat.v4.new_notebook(cells=[answer, *extra]))["minutes"] == 0


@pytest.mark.parametrize("number", list(SLOTS))
def test_exercises_in_going_further_and_only_they_are_optional_in_the_bank(number):
    """progress() counts the core exercises only; the bank's "optional" flag must match the notebook."""
    from labkit.exercises import load_bank

    nb = _notebook(number)
    core = "\n".join(c.source for c in core_cells(nb) if c.cell_type == "code")
    for exercise, meta in load_bank(number).exercises.items():
        assert meta.get("optional", False) == (f'check("{exercise}"' not in core), exercise


@pytest.mark.parametrize("number", list(SLOTS))
def test_the_hint_the_checker_recommends_is_imported(number):
    """Failed checks and progress() say 'run hint(...)': the notebook's setup imports it."""
    setup = next(c.source for c in _notebook(number).cells if "from labkit.exercises import" in c.source)
    imported = setup.split("from labkit.exercises import", 1)[1].splitlines()[0]
    assert "hint" in [name.strip() for name in imported.split(",")], imported
