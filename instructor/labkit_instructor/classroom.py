"""A synthetic class to try the grader on: submissions made from the student notebooks and the solutions.

:func:`make_submission` fills in some exercises of a student notebook (with the solution's code, or
with a wrong answer), writes the written answers and appends extra cells. :func:`make_class` writes a
whole class: every notebook, students who solved all, some or none of the exercises, file names as
browsers and LMSs produce them, resubmissions. The tests and ``benchmarks/bench_grading.py`` use it.
"""
from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from labkit.paths import REPO_ROOT

__all__ = ["make_class", "make_submission", "notebook_path", "write_submission"]

_CHECK = re.compile(r"""\bcheck\(\s*["'](?P<id>[A-Za-z0-9_.\-]+)["']""")
_NOT_YET = re.compile(r"^(?P<indent>\s*)raise NotImplementedError\(.*\)\s*$", re.M)


def notebook_path(number: str, folder: str, root: str | Path = REPO_ROOT) -> Path:
    """``<root>/<folder>/<number>_*.ipynb``."""
    paths = sorted((Path(root) / folder).glob(f"{number}_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebook {number} in {Path(root) / folder}")
    return paths[0]


def _source(cell: Mapping) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def make_submission(number: str, solved: Mapping[str, str] | None = None, answers: Sequence[str] = (),
                    extra_cells: Sequence[str] = (), root: str | Path = REPO_ROOT) -> dict:
    """A student's notebook ``number`` as JSON: ``solved`` maps exercise ids to ``"right"`` (the solution's
    cell), ``"wrong"`` (the function returns None) or a code string (the whole exercise cell); others stay
    untouched. ``answers`` fill the answer cells in order; ``extra_cells`` are appended code cells."""
    nb = json.loads(notebook_path(number, "notebooks", root).read_text(encoding="utf-8"))
    solution = json.loads(notebook_path(number, "solutions", root).read_text(encoding="utf-8"))
    solution_cells = {c["id"]: _source(c) for c in solution["cells"]}
    answer_index = 0
    for cell in nb["cells"]:
        text = _source(cell)
        ids = _CHECK.findall(text) if cell["cell_type"] == "code" else []
        for exercise_id in ids:
            how = (solved or {}).get(exercise_id)
            if how == "right":
                text = solution_cells[cell["id"]]
            elif how == "wrong":
                text = _NOT_YET.sub(lambda m: f"{m['indent']}return None", text)
            elif how:
                text = how
        if cell["cell_type"] == "markdown" and "answer" in cell.get("metadata", {}).get("tags", []):
            if answer_index < len(answers):
                text = answers[answer_index]
            answer_index += 1
        cell["source"] = text
    for code in extra_cells:
        nb["cells"].append({"cell_type": "code", "id": f"extra{len(nb['cells'])}", "metadata": {},
                            "execution_count": None, "outputs": [], "source": code})
    return nb


def write_submission(folder: str | Path, name: str, nb: Mapping | bytes, mtime: float | None = None) -> Path:
    """Write a submission file (JSON or raw bytes), optionally with a modification time."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(nb if isinstance(nb, bytes) else json.dumps(nb, indent=1).encode("utf-8"))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def make_class(folder: str | Path, students: int = 10, seed: int = 0, notebooks: Sequence[str] | None = None,
               root: str | Path = REPO_ROOT) -> list[Path]:
    """Write ``students`` submissions of each notebook into ``folder``; returns the files.

    Each student solves each exercise right (60 %), wrongly (20 %) or not at all (20 %), seeded; names
    alternate between plain, browser-copy and Canvas styles, and every fifth student uploads twice.
    """
    from labkit_instructor import exercises

    rng = random.Random(seed)
    files = []
    for number in notebooks or exercises.NOTEBOOKS:
        stem = notebook_path(number, "notebooks", root).stem
        ids = [e.id for e in exercises.exercises(number)]
        for i in range(students):
            solved = {x: rng.choices(["right", "wrong", ""], [0.6, 0.2, 0.2])[0] for x in ids}
            nb = make_submission(number, solved, answers=[f"Answer {k} of student {i}." for k in range(1, 6)],
                                 root=root)
            name = [f"student{i:03d}_{stem}.ipynb", f"student{i:03d}_{stem} (1).ipynb",
                    f"student{i:03d}_{1000 + i}_{5000 + i}_{stem}.ipynb"][i % 3]
            files.append(write_submission(folder, name, nb, mtime=1_800_000_000 + i))
            if i % 5 == 4:  # an earlier, untouched upload of the same notebook
                files.append(write_submission(folder, f"earlier/student{i:03d}_{stem}.ipynb",
                                              make_submission(number, root=root), mtime=1_700_000_000 + i))
    return files
