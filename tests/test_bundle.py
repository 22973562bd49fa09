"""The student zip: what it holds, that no file of it holds a solution (every member opened and decoded),
that it refuses untracked files, and that it still works once unpacked."""
from __future__ import annotations

import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit.paths import REPO_ROOT
from labkit_instructor import exercises as key
from labkit_instructor import release
from labkit_instructor.bundle import (BUNDLE_FOLDER, BundleError, build_bundle, bundle_files, forbidden_lines,
                                      untracked_files)

NEEDED = [
    "README.md", "Makefile", "pyproject.toml", "environment.yml", "requirements.lock", "requirements.in",
    "labkit/__init__.py", "labkit/exercises/_check.py", "labkit/exercises/bank/01.json",
    "labkit/exercises/bank/01.npz", "labkit/setup_lab.py", "data/hour.csv", "data/README.md",
    "notebooks/01_baseline_model.ipynb", "monitoring/alert_rules.yml",
]
NEVER = re.compile(r"^(solutions|tests|docs|instructor|runs|dist|\.venv|\.git)/|labkit_instructor|"
                   r"(^|/)(__pycache__|\.ipynb_checkpoints|[^/]*\.egg-info)/|\.pyc$|(^|/)(grade|bench_grading)\.py$")


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=lab", "-c", "user.email=lab@example.org", "-C", str(root), *args],
                   check=True, capture_output=True)


def _commit_all(root: Path) -> None:
    if not (root / ".git").exists():
        _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "snapshot", "--allow-empty")


def _clean_env(bundle_root: Path) -> dict[str, str]:
    """The environment of a student who unpacked the bundle: its labkit first, no instructor package."""
    env = {k: v for k, v in os.environ.items() if k not in ("LABKIT_ARTIFACTS", "LABKIT_DATA", "PYTHONPATH")}
    env["PYTHONPATH"] = str(bundle_root)
    return env


# --------------------------------------------------------------------------------------------------
# Every text a zip member holds, decoded independently of the code under test
# --------------------------------------------------------------------------------------------------
def texts_of(name: str, data: bytes) -> list[str]:
    """Open a member whatever it is: zips and .npz (recursively), .npy arrays and the Parquet tables
    stored in them, JSON and notebooks (every string in them, unescaped), and everything else as text."""
    if name.endswith((".zip", ".npz")):
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            return [t for n in inner.namelist() for t in texts_of(n, inner.read(n))]
    if name.endswith(".npy"):
        array = np.load(io.BytesIO(data), allow_pickle=False)
        found = [repr(array.tolist())]
        if array.dtype == np.uint8:
            raw = array.tobytes()
            found.append(raw.decode("latin-1"))
            if raw[:4] == b"PAR1":
                table = pd.read_parquet(io.BytesIO(raw))
                found += [" ".join(map(str, table.columns)), table.to_csv(), json.dumps(table.attrs)]
        return found
    text = data.decode("utf-8", errors="ignore")
    found = [text]
    if name.endswith((".json", ".ipynb")):
        def strings(node):
            if isinstance(node, str):
                yield node
            for item in (node.values() if isinstance(node, dict) else node if isinstance(node, list) else []):
                yield from strings(item)
        found += list(strings(json.loads(text)))
    return found


def leaks_in(zip_path: Path, forbidden: list[str]) -> list[tuple[str, str]]:
    found = []
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            text = "\n".join(" ".join(t.split()) for t in texts_of(info.filename, archive.read(info)))
            found += [(info.filename, line) for line in forbidden if line in text]
    return found


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """A git clone-like copy of the repository as the bundle sees it, plus the solutions, committed."""
    root = tmp_path_factory.mktemp("repo")
    for rel in bundle_files(REPO_ROOT):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    shutil.copytree(REPO_ROOT / "solutions", root / "solutions")
    _commit_all(root)
    return root


@pytest.fixture(scope="module")
def bundle(snapshot, tmp_path_factory):
    """(report, names in the zip, the unpacked bundle's folder)."""
    report = build_bundle(tmp_path_factory.mktemp("dist"), root=snapshot)
    with zipfile.ZipFile(report.path) as archive:
        names = archive.namelist()
        unpacked = tmp_path_factory.mktemp("student")
        archive.extractall(unpacked)
    return report, names, unpacked / BUNDLE_FOLDER


# --------------------------------------------------------------------------------------------------
# What goes in, and what never does
# --------------------------------------------------------------------------------------------------
def test_the_file_list_is_what_git_tracks_without_instructor_material():
    files = bundle_files(REPO_ROOT)
    assert set(NEEDED) <= set(files), f"missing: {sorted(set(NEEDED) - set(files))}"
    assert not [f for f in files if NEVER.search(f)]


def test_every_entry_sits_in_one_folder_and_the_needed_files_are_there(bundle):
    report, names, _ = bundle
    assert all(n.startswith(BUNDLE_FOLDER + "/") for n in names)
    inside = [n[len(BUNDLE_FOLDER) + 1:] for n in names]
    assert set(NEEDED) <= set(inside) and list(report.files) == inside
    assert not [n for n in inside if NEVER.search(n)], "the instructor package, grader or solutions would ship"
    with zipfile.ZipFile(report.path) as archive:
        assert archive.getinfo(f"{BUNDLE_FOLDER}/.ci/run").external_attr >> 16 & 0o111, ".ci/run stays executable"


def test_no_solution_line_and_no_model_answer_in_any_file_of_the_zip(bundle, snapshot):
    forbidden = forbidden_lines(snapshot)
    per_notebook = {p.name[:2]: [line for line in forbidden if line in p.read_text(encoding="utf-8")]
                    for p in (snapshot / "solutions").glob("*.ipynb")}
    assert all(len(lines) >= 3 for lines in per_notebook.values()), per_notebook  # something to look for
    assert leaks_in(bundle[0].path, forbidden) == []


def test_no_hidden_case_and_no_answer_key_in_the_zip(bundle):
    labels = {c.label for nb in key.NOTEBOOKS for e in key.exercises(nb) for c in e.hidden() if len(c.label) >= 20}
    visible = {c.label for nb in key.NOTEBOOKS for e in key.exercises(nb) for c in e.visible()}
    assert labels - visible
    with zipfile.ZipFile(bundle[0].path) as archive:
        text = "\n".join(t for i in archive.infolist() for t in texts_of(i.filename, archive.read(i)))
    assert not [label for label in labels - visible if label in text]
    assert not re.search(r"^\s*### BEGIN SOLUTION\s*$", text, re.M) and "labkit_instructor.exercises" not in text


def test_no_question_explanation_and_no_chosen_answer_in_the_zip(bundle, snapshot):
    """The self-checked questions: every explanation is among the lines the leak scan looks for, and neither
    an explanation nor the solution's ``answer("<id>", <choice>)`` call is anywhere in the zip."""
    questions = [q for nb in key.NOTEBOOKS for q in key.questions(nb)]
    assert len(questions) >= 5
    explanations = [" ".join(text.split()) for q in questions for text in [*q.explanations.values(), q.wrong] if text]
    assert set(explanations) - {q.wrong for q in questions} <= set(forbidden_lines(snapshot))
    chosen = [m.group(0) for path in (snapshot / "solutions").glob("*.ipynb")
              for cell in release.read_notebook(path).cells if cell.cell_type == "code"
              for m in re.finditer(r"""answer\(\s*"[\w.]+",\s*[^N)][^)]*\)""", cell.source)]
    assert sorted(c.split('"')[1] for c in chosen) == sorted(q.id for q in questions)
    sealed = [e for e in explanations if e not in {q.wrong for q in questions}]
    assert leaks_in(bundle[0].path, sealed + chosen) == []


@pytest.mark.parametrize("smuggled", ["a reference .py", "an .npz table", "a notebook"])
def test_the_leak_test_finds_what_it_looks_for(bundle, snapshot, tmp_path, smuggled):
    """A test of the test: the same scan finds a solution line smuggled into the zip in three forms."""
    forbidden = forbidden_lines(snapshot)
    source = inspect.getsource(key.get("03.psi_from_counts").reference)
    line = next(f for f in forbidden if f in " ".join(source.split()) and "np.log" in f)
    copy = tmp_path / "smuggled.zip"
    shutil.copy(bundle[0].path, copy)
    with zipfile.ZipFile(copy, "a") as archive:
        if smuggled == "a reference .py":
            archive.writestr(f"{BUNDLE_FOLDER}/labkit/exercises/nb03.py", source)
        elif smuggled == "an .npz table":
            parquet = io.BytesIO()
            pd.DataFrame({"note": [line]}).to_parquet(parquet, compression="zstd")
            npz = io.BytesIO()
            np.savez(npz, b0=np.frombuffer(parquet.getvalue(), dtype=np.uint8))
            archive.writestr(f"{BUNDLE_FOLDER}/labkit/exercises/bank/99.npz", npz.getvalue())
        else:
            nb = new_notebook(cells=[new_code_cell(f"def f():\n    {line}")])
            archive.writestr(f"{BUNDLE_FOLDER}/notebooks/99_extra.ipynb", nbformat.writes(nb))
    assert (any(found == line for _, found in leaks_in(copy, forbidden)))


def test_the_readme_two_commands_work_in_the_unpacked_bundle(bundle):
    _, _, root = bundle
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^make lab\b", readme, re.M) and re.search(r"^make test\b", readme, re.M)
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for target in ("lab", "test"):  # dry run: every file the recipe needs exists, nothing is executed
        run = subprocess.run(["make", "-n", target], cwd=root, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "pip install" in run.stdout and "requirements.lock" in run.stdout
        assert "instructor" not in run.stdout, "the student zip has no instructor package to install"


# --------------------------------------------------------------------------------------------------
# It works once unpacked: its own labkit, its own recorded banks, notebook 01 under nbval
# --------------------------------------------------------------------------------------------------
def test_the_unpacked_bundle_imports_its_own_labkit_and_banks(bundle):
    _, _, root = bundle
    code = ("import json, labkit, labkit.data, labkit.exercises as ex;"
            "print(json.dumps([labkit.__file__, str(labkit.data.verify_data()), list(ex.load_bank('01').exercises),"
            " str(ex.BANK_DIR)]))")
    run = subprocess.run([sys.executable, "-c", code], cwd=root, env=_clean_env(root), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    labkit_file, data_file, ids, bank_dir = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(Path(p).is_relative_to(root) for p in (labkit_file, data_file, bank_dir))
    assert ids == ["01.split_by_time", "01.regression_report", "01.hour_profile_forecast"]
    found = subprocess.run([sys.executable, "-c", "import importlib.util as u; s = u.find_spec('labkit_instructor'); "
                            "print(s.origin if s else '')"], cwd=root, env=_clean_env(root), capture_output=True,
                           text=True, timeout=60).stdout.strip()
    assert not found or not Path(found).is_relative_to(root), "the zip must not hold the instructor package"


def test_notebook_01_passes_nbval_inside_the_unpacked_bundle(bundle):
    """One pytest run, as `make test` does: notebook 01 runs on the recorded fallbacks and its marked cells
    show the solution's numbers (the root conftest compares them with... nothing: solutions/ is not
    shipped, so here nbval proves that the untouched notebook runs top to bottom)."""
    _, _, root = bundle
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "addopts=--nbval-lax --nbval-current-env --nbval-cell-timeout=600", "-k", "01_baseline_model"],
        cwd=root, env=_clean_env(root), capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\b\d+ passed", run.stdout) and "error" not in run.stdout.lower()
    assert (root / "runs").is_dir(), "the notebook's artifacts belong in the bundle's own runs/"


# --------------------------------------------------------------------------------------------------
# The self-study release
# --------------------------------------------------------------------------------------------------
def test_the_self_study_zip_ships_answers_and_says_so(snapshot, tmp_path):
    report = build_bundle(tmp_path, root=snapshot, self_study=True)
    assert report.path.name.endswith("-self-study.zip")
    with zipfile.ZipFile(report.path) as archive:
        names = [n[len(BUNDLE_FOLDER) + 1:] for n in archive.namelist()]
        readme = archive.read(f"{BUNDLE_FOLDER}/SELF_STUDY.md").decode("utf-8")
        student = json.loads(archive.read(f"{BUNDLE_FOLDER}/notebooks/01_baseline_model.ipynb"))
    assert "includes the answers" in readme and "solutions/" in readme
    assert "solutions/01_baseline_model.ipynb" in names and not [n for n in names if "instructor" in n]
    tags = [c["metadata"].get("tags", []) for c in student["cells"]]
    assert [release.MODEL_ANSWER_TAG] in tags


# --------------------------------------------------------------------------------------------------
# Refusals, on a tiny synthetic repository
# --------------------------------------------------------------------------------------------------
SOLUTION_LINE = "doubled = [2 * value for value in values]"


def _tiny_repo(root: Path) -> Path:
    (root / "solutions").mkdir(parents=True)
    (root / "labkit").mkdir()
    (root / "labkit" / "__init__.py").write_text("", encoding="utf-8")
    (root / "README.md").write_text("make lab\nmake test\n", encoding="utf-8")
    (root / ".gitignore").write_text("runs/\n__pycache__/\n*.egg-info/\n", encoding="utf-8")
    (root / "runs").mkdir()
    (root / "runs" / "model.pkl").write_bytes(b"\0")
    solution = new_notebook(cells=[
        new_markdown_cell("# 07", id="m1"),
        new_code_cell(f'def f(values):\n    ### BEGIN SOLUTION\n    {SOLUTION_LINE}\n    return doubled\n'
                      '    ### END SOLUTION\n\nf = check("07.f", f)', id="c1"),
        new_markdown_cell("**Answers.** the secret answer is forty-two", id="a1", metadata={"tags": ["answer"]}),
    ])
    nbformat.write(solution, root / "solutions" / "07_tiny.ipynb")
    release.sync(root)
    _commit_all(root)
    return root


def test_the_build_refuses_files_git_does_not_track(tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    (root / "notebooks" / "answer_key.ipynb").write_text("{}", encoding="utf-8")
    (root / "labkit" / "notes.py").write_text("x = 1\n", encoding="utf-8")
    assert untracked_files(root) == ["labkit/notes.py", "notebooks/answer_key.ipynb"]
    with pytest.raises(BundleError, match=r"not tracked by git .*: labkit/notes.py, notebooks/answer_key.ipynb"):
        build_bundle(tmp_path / "out", root=root)
    assert not (tmp_path / "out").exists()


def test_the_build_refuses_a_folder_that_is_not_a_git_work_tree(tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    shutil.rmtree(root / ".git")
    with pytest.raises(BundleError, match="not a git work tree"):
        build_bundle(tmp_path / "out", root=root)


def test_the_build_refuses_when_student_notebooks_are_out_of_sync(tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    student = root / "notebooks" / "07_tiny.ipynb"
    student.write_text(student.read_text(encoding="utf-8").replace("# 07", "# 07 edited by hand"), encoding="utf-8")
    _commit_all(root)
    with pytest.raises(BundleError, match=r"out of sync with solutions/ \(notebooks/07_tiny.ipynb\).*sync"):
        build_bundle(tmp_path / "out", root=root)


def test_the_build_refuses_to_ship_a_solution_line_in_any_file(tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    (root / "labkit" / "helpers.py").write_text(f"def f(values):\n    {SOLUTION_LINE}\n", encoding="utf-8")
    _commit_all(root)
    with pytest.raises(BundleError, match=r"solution content would ship in 1 place\(s\): labkit/helpers.py"):
        build_bundle(tmp_path / "out", root=root)


def test_the_tiny_zip_is_reproducible_and_holds_no_answer(tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    assert bundle_files(root) == [".gitignore", "README.md", "labkit/__init__.py", "notebooks/07_tiny.ipynb"]
    first = build_bundle(tmp_path / "a", root=root)
    second = build_bundle(tmp_path / "b", root=root)
    assert first.sha256 == second.sha256 and first.source.startswith("git ")
    assert leaks_in(first.path, [SOLUTION_LINE, "the secret answer is forty-two"]) == []
