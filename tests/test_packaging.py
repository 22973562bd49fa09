"""The lab installs from one lock file, the conda route installs the same pins, and the README's
two commands are the ones CI runs."""
from __future__ import annotations

import re
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from labkit.paths import REPO_ROOT

COURSE_PACKAGES = ["jupyterlab", "nbval", "pandas", "scikit-learn", "scipy", "matplotlib",
                   "evidently", "alibi-detect", "ipywidgets"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"requirements.lock line is not an exact pin: {line!r}"
        pins[_norm(name)] = version
    return pins


def test_top_level_layout():
    for name in ["notebooks", "labkit", "data", "solutions", "tests", "environment.yml", "README.md",
                 "pyproject.toml", "requirements.lock", "requirements.in", "Makefile", ".ci/run"]:
        assert (REPO_ROOT / name).exists(), f"{name} is missing from the top level"


@pytest.mark.parametrize("package", COURSE_PACKAGES + ["prometheus-client", "tqdm", "mlflow", "shap", "fairlearn"])
def test_lab_lock_pins_every_needed_package(package):
    assert _norm(package) in _lock(), f"{package} is not pinned in requirements.lock (run `make lock`)"


def test_every_requirements_in_entry_is_locked_and_satisfied():
    pins = _lock()
    for line in (REPO_ROOT / "requirements.in").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        assert _norm(req.name) in pins, f"{req.name} (requirements.in) is not in requirements.lock"
        assert req.specifier.contains(pins[_norm(req.name)], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[_norm(req.name)]}, outside {req.specifier}")


def test_pyproject_dependencies_are_satisfied_by_the_lock():
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = _lock()
    for spec in meta["dependencies"]:
        req = Requirement(spec)
        assert _norm(req.name) in pins, f"labkit needs {req.name}, which requirements.lock lacks"
        assert req.specifier.contains(pins[_norm(req.name)])


def test_python_range_is_honest():
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    spec = Requirement("python" + meta["requires-python"]).specifier
    assert spec.contains("3.11") and spec.contains("3.12")
    # alibi-detect 0.13 pins numpy<2 and numba<0.60: no wheels for Python 3.13.
    assert not spec.contains("3.13")
    assert Version(_lock()["numpy"]) < Version("2")


def test_environment_yml_installs_the_lock_and_nothing_else():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [d for d in deps if isinstance(d, dict)]
    assert sorted(conda) == ["pip", "python=3.11"], (
        f"environment.yml must name only python=3.11 and pip; the pins live in requirements.lock. Got {conda}")
    assert pip == [{"pip": ["-r requirements.lock", "-e ."]}]
    header = (REPO_ROOT / "requirements.lock").read_text().splitlines()[0]
    assert "Python 3.11" in header, "environment.yml's python must match the Python the lock was made for"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO_ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert first_block, "README.md has no code block"
    commands = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["make lab", "make test"], commands
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\b", ci, re.M), ".ci/run must call the README test command"


def test_artifacts_folder_is_git_ignored():
    ignored = (REPO_ROOT / ".gitignore").read_text().split()
    assert "runs/" in ignored


def test_running_python_is_in_range():
    assert (3, 10) <= sys.version_info[:2] <= (3, 12)


# --------------------------------------------------------------------------------------------------
# Two packages: `make lab` installs the student package only, `make test` the instructor package too
# --------------------------------------------------------------------------------------------------
def test_the_instructor_package_is_its_own_distribution():
    meta = tomllib.loads((REPO_ROOT / "instructor" / "pyproject.toml").read_text())["project"]
    assert meta["name"] == "labkit-instructor" and "labkit" in meta["dependencies"]
    assert meta["scripts"] == {"labkit-instructor": "labkit_instructor.cli:main"}
    student = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert student["tool"]["setuptools"]["packages"]["find"]["include"] == ["labkit*"]


def _make_dry_run(target: str) -> str:
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # A stamp older than its prerequisites would not change the commands: -B shows every recipe.
    run = subprocess.run(["make", "-n", "-B", target], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_make_test_installs_the_instructor_package_and_make_lab_does_not():
    assert "pip install --disable-pip-version-check --quiet --no-deps -e instructor" in _make_dry_run("test")
    lab = _make_dry_run("lab")
    assert "-e ." in lab and "instructor" not in lab


@pytest.mark.parametrize("target, command", [("notebooks", "labkit-instructor sync --execute"),
                                             ("check-notebooks", "labkit-instructor sync --check"),
                                             ("release", "labkit-instructor release")])
def test_the_maintainer_targets_call_the_instructor_command(target, command):
    assert command in _make_dry_run(target)
