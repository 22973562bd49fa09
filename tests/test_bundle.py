"""The student bundle: what it holds, what it must never hold, and that it still works once unpacked."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labkit import release
from labkit.bundle import BUNDLE_FOLDER, BundleError, build_bundle, bundle_files, check_no_solutions
from labkit.paths import REPO_ROOT

NEEDED = [
    "README.md", "Makefile", "pyproject.toml", "environment.yml", "requirements.lock", "requirements.in",
    "labkit/__init__.py", "labkit/exercises/_core.py", "labkit/setup_lab.py", "data/hour.csv", "data/README.md",
    "notebooks/01_baseline_model.ipynb", "monitoring/alert_rules.yml",
]
NEVER = re.compile(
    r"^(solutions|tests|docs|runs|dist|\.venv|\.git)/|(^|/)(__pycache__|\.ipynb_checkpoints|[^/]*\.egg-info)/|\.pyc$"
)


def _clean_env(bundle_root: Path) -> dict[str, str]:
    """The environment of a student who unpacked the bundle: its labkit first, its own data and runs/."""
    env = {k: v for k, v in os.environ.items() if k not in ("LABKIT_ARTIFACTS", "LABKIT_DATA", "PYTHONPATH")}
    env["PYTHONPATH"] = str(bundle_root)
    return env


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """A copy of the repository as the bundle sees it, plus the published solutions, in sync.

    Built from a copy so that solutions other developers are still writing (no student notebook yet)
    do not block these tests; tests/test_release.py checks the real repository's sync.
    """
    root = tmp_path_factory.mktemp("repo")
    for rel in bundle_files(REPO_ROOT):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    (root / "solutions").mkdir()
    for student in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        solution = REPO_ROOT / "solutions" / student.name
        if solution.is_file():
            shutil.copy2(solution, root / "solutions" / student.name)
        else:  # a student notebook without its solution would make the sync check refuse
            (root / "notebooks" / student.name).unlink()
    release.sync(root)
    return root


@pytest.fixture(scope="module")
def bundle(snapshot, tmp_path_factory):
    """(report, names in the zip, the unpacked bundle's folder)."""
    out = tmp_path_factory.mktemp("dist")
    report = build_bundle(out, root=snapshot)
    with zipfile.ZipFile(report.path) as archive:
        names = archive.namelist()
        unpacked = tmp_path_factory.mktemp("student")
        archive.extractall(unpacked)
    return report, names, unpacked / BUNDLE_FOLDER


# --------------------------------------------------------------------------------------------------
# What goes in
# --------------------------------------------------------------------------------------------------
def test_the_repository_file_list_comes_from_git_and_leaves_out_instructor_material():
    files = bundle_files(REPO_ROOT)
    assert set(NEEDED) <= set(files), f"missing: {sorted(set(NEEDED) - set(files))}"
    leaked = [f for f in files if NEVER.search(f)]
    assert not leaked, f"these must not ship to students: {leaked}"


def test_every_entry_sits_in_one_folder_and_the_needed_files_are_there(bundle):
    report, names, _ = bundle
    assert all(n.startswith(BUNDLE_FOLDER + "/") for n in names)
    inside = [n[len(BUNDLE_FOLDER) + 1:] for n in names]
    assert set(NEEDED) <= set(inside), f"missing: {sorted(set(NEEDED) - set(inside))}"
    assert list(report.files) == inside
    assert not [n for n in inside if NEVER.search(n)]


def test_executable_bits_survive(bundle):
    _, _, root = bundle
    with zipfile.ZipFile(bundle[0].path) as archive:
        mode = archive.getinfo(f"{BUNDLE_FOLDER}/.ci/run").external_attr >> 16
    assert mode & 0o111, ".ci/run must stay executable"


def test_no_solution_code_and_no_answers_anywhere_in_the_bundle(bundle, snapshot):
    _, _, root = bundle
    texts = {p: p.read_text(encoding="utf-8", errors="ignore") for p in root.rglob("*")
             if p.is_file() and p.suffix in {".py", ".ipynb", ".md", ".yml", ".toml", ".txt", ".lock", ""}}
    code_of_notebooks = {
        p: "\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
        for p in (root / "notebooks").glob("*.ipynb")
    }
    answers, solution_lines = [], []
    for solution in sorted((snapshot / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(solution, as_version=4).cells:
            tags = cell.metadata.get("tags", [])
            if "answer" in tags or "solution-only" in tags:
                answers += [line.strip() for line in cell.source.splitlines() if len(line.strip()) > 30]
            inside = False
            for line in cell.source.splitlines():
                if line.strip() == release.BEGIN_SOLUTION:
                    inside = True
                elif line.strip() == release.END_SOLUTION:
                    inside = False
                elif inside and len(line.strip()) > 25:
                    solution_lines.append(line.strip())
    assert answers and solution_lines, "the solutions should have answer cells and solution blocks to look for"
    for line in answers:
        hits = [str(p.relative_to(root)) for p, text in texts.items() if line in text]
        assert not hits, f"an answer line ships in {hits}: {line!r}"
    for line in solution_lines:
        hits = [str(p.relative_to(root)) for p, code in code_of_notebooks.items() if line in code]
        assert not hits, f"solution code ships in {hits}: {line!r}"
    for path in (root / "notebooks").glob("*.ipynb"):
        assert release.BEGIN_SOLUTION not in path.read_text(encoding="utf-8")


def test_the_readme_two_commands_are_in_the_bundle_and_make_knows_them(bundle):
    _, _, root = bundle
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^make lab\b", readme, re.M) and re.search(r"^make test\b", readme, re.M)
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^lab:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for target in ("lab", "test"):  # dry run: every file the recipe needs exists, nothing is executed
        run = subprocess.run(["make", "-n", target], cwd=root, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "pip install" in run.stdout and "requirements.lock" in run.stdout


# --------------------------------------------------------------------------------------------------
# It works once unpacked
# --------------------------------------------------------------------------------------------------
def test_the_unpacked_bundle_imports_its_own_labkit_and_data(bundle):
    _, _, root = bundle
    code = (
        "import json, labkit, labkit.data, labkit.exercises as ex;"
        "print(json.dumps([labkit.__file__, str(labkit.data.verify_data()), ex.exercise_ids('01')]))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=root, env=_clean_env(root),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    labkit_file, data_file, ids = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(labkit_file).is_relative_to(root) and Path(data_file).is_relative_to(root)
    assert ids == ["01.hour_profile_forecast", "01.regression_report", "01.split_by_time"]


def test_notebook_01_passes_nbval_inside_the_unpacked_bundle(bundle):
    """One pytest run without paths, as `make test` does: pyproject's testpaths name solutions/ and
    tests/, which the bundle lacks (pytest skips missing testpaths), and notebook 01 passes nbval.

    ``-o addopts`` keeps the nbval options but drops the doctest collection of every labkit module
    (slow, and the instructor's own suite runs those doctests); ``-k`` selects notebook 01."""
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
# Refusals and the build itself, on a tiny synthetic repository
# --------------------------------------------------------------------------------------------------
def _tiny_repo(root: Path) -> Path:
    (root / "solutions").mkdir(parents=True)
    (root / "labkit").mkdir()
    (root / "labkit" / "__init__.py").write_text("", encoding="utf-8")
    (root / "labkit" / "__pycache__").mkdir()
    (root / "labkit" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "runs").mkdir()
    (root / "runs" / "model.pkl").write_bytes(b"\0")
    (root / "README.md").write_text("make lab\nmake test\n", encoding="utf-8")
    (root / ".gitignore").write_text("runs/\n__pycache__/\n*.egg-info/\n", encoding="utf-8")
    solution = new_notebook(cells=[
        new_markdown_cell("# 01", id="m1"),
        new_code_cell('def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\n'
                      'f = check("01.f", f)', id="c1"),
        new_markdown_cell("**Answers.** the secret answer", id="a1", metadata={"tags": ["answer"]}),
    ])
    nbformat.write(solution, root / "solutions" / "01_tiny.ipynb")
    release.sync(root)
    return root


def test_the_build_refuses_when_student_notebooks_are_out_of_sync(tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    student = root / "notebooks" / "01_tiny.ipynb"
    student.write_text(student.read_text(encoding="utf-8").replace("# 01", "# 01 edited by hand"), encoding="utf-8")
    with pytest.raises(BundleError, match=r"out of sync with solutions/ \(notebooks/01_tiny.ipynb\).*labkit sync"):
        build_bundle(tmp_path / "out", root=root)
    assert not list((tmp_path / "out").glob("*.zip")) if (tmp_path / "out").exists() else True


def test_the_build_refuses_without_solutions(tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    shutil.rmtree(root / "solutions")
    with pytest.raises(BundleError, match="instructor's copy"):
        build_bundle(tmp_path / "out", root=root)


def test_the_safety_net_catches_solution_content(tmp_path):
    nb = new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", id="c1")])
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    with pytest.raises(BundleError, match=r"01_x.ipynb, cell 0 \(id c1\) still contains"):
        check_no_solutions(tmp_path, ["01_x.ipynb"])
    nb = new_notebook(cells=[new_markdown_cell("42", id="a1", metadata={"tags": ["answer"]})])
    nbformat.write(nb, tmp_path / "02_x.ipynb")
    with pytest.raises(BundleError, match="still holds the answer"):
        check_no_solutions(tmp_path, ["02_x.ipynb"])


def test_without_git_the_gitignore_patterns_apply_and_the_zip_is_reproducible(tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    assert bundle_files(root) == [".gitignore", "README.md", "labkit/__init__.py", "notebooks/01_tiny.ipynb"]
    first = build_bundle(tmp_path / "a", root=root)
    second = build_bundle(tmp_path / "b", root=root)
    assert first.sha256 == second.sha256 and first.path.read_bytes() == second.path.read_bytes()
    assert first.source.startswith(".gitignore patterns")
    with zipfile.ZipFile(first.path) as archive:
        student = json.loads(archive.read(f"{BUNDLE_FOLDER}/notebooks/01_tiny.ipynb"))
    text = json.dumps(student)
    assert "return 2 * x" not in text and "the secret answer" not in text
