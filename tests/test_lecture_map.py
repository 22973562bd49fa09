"""docs/lecture_map.md: every mapped notebook and heading exists (solution and student version)."""
import re

import nbformat
import pytest

from labkit.paths import REPO_ROOT

MAP = REPO_ROOT / "docs" / "lecture_map.md"


def _rows():
    rows = []
    for line in MAP.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"\d\d_[a-z_]+", cells[1]):
            rows.append(tuple(cells))
    return rows


def _headings(path):
    nb = nbformat.read(path, as_version=4)
    return {line.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if line.startswith("#")}


def test_map_covers_every_notebook():
    rows = _rows()
    assert len(rows) >= 30
    assert {r[1][:2] for r in rows} == {"01", "02", "03", "04", "05", "06"}


@pytest.mark.parametrize("section, notebook, heading", _rows(), ids=lambda v: str(v)[:40])
def test_mapped_heading_exists(section, notebook, heading):
    for folder in ("solutions", "notebooks"):
        path = REPO_ROOT / folder / f"{notebook}.ipynb"
        assert path.exists(), f"{section!r} is mapped to {path}, which does not exist"
        assert heading in _headings(path), (
            f"{section!r} is mapped to the heading {heading!r} of {folder}/{notebook}.ipynb, which has no such "
            "heading any more; update docs/lecture_map.md")
