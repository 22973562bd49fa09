"""The two commands: `labkit` (students: doctor) and `labkit-instructor` (sync, release, grade): help for
every subcommand, exit codes scripts can rely on, and release end to end on a tiny synthetic repository.
(Grading end to end is in test_grade.py, the doctor's checks in test_doctor.py.)"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from labkit import doctor
from labkit.doctor import Diagnosis
from labkit.paths import REPO_ROOT
from labkit_instructor import cli as instructor_cli
from labkit_instructor import release



def run(capsys, *argv: str, main=None) -> tuple[int, str, str]:
    """Call a command line in-process (``labkit-instructor`` unless ``main`` says otherwise)."""
    try:
        code = (main or instructor_cli.main)(list(argv))
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------------
# Help and usage errors
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["release", "grade"])
def test_every_subcommand_has_help_with_its_exit_codes(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: labkit-instructor {command}") and "Exit codes:" in out


def test_top_level_help_lists_the_subcommands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("sync", "release", "grade"):
        assert f"    {command}" in out
    code, out, _ = run(capsys, "--help", main=doctor.main)
    assert code == 0 and "    doctor" in out and "labkit-instructor" in out
    code, out, _ = run(capsys, "doctor", "--help", main=doctor.main)
    assert code == 0 and out.startswith("usage: labkit doctor") and "Exit codes:" in out


def test_the_student_command_has_no_instructor_commands(capsys):
    for command in ("sync", "release", "grade"):
        code, _, err = run(capsys, command, main=doctor.main)
        assert code == 2 and "invalid choice" in err


def test_sync_help_is_the_release_module_help(capsys):
    code, out, _ = run(capsys, "sync", "--help")
    assert code == 0 and "--check" in out and "--execute" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["teleport"], "invalid choice: 'teleport'"),
        (["release", "--verbose"], "unrecognized arguments: --verbose"),
        (["grade"], "the following arguments are required: SUBMISSIONS_DIR"),
        (["grade", ".", "--timeout", "0"], "expected a positive number of seconds, got '0'"),
        (["grade", ".", "--timeout", "soon"], "expected a number of seconds, got 'soon'"),
        (["grade", ".", "--memory-mb", "100"], "expected at least 256 MB (or 0 for no limit), got '100'"),
        (["grade", ".", "--jobs", "0"], "expected a whole number >= 1, got '0'"),
    ],
    ids=["no-command", "unknown-command", "unknown-option", "grade-no-folder", "timeout-zero", "timeout-text",
         "memory-small", "jobs-zero"],
)
def test_usage_errors_exit_2_with_a_clear_message(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_grade_of_a_missing_or_empty_folder_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "grade", str(tmp_path / "nope"), "--unsafe-no-sandbox")
    assert code == 2 and "submissions folder not found" in err
    code, _, err = run(capsys, "grade", str(tmp_path), "--unsafe-no-sandbox")
    assert code == 2 and "no .ipynb files" in err


def test_grade_exit_code_1_when_a_submission_is_invalid(capsys, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "erin_01_baseline_model.ipynb").write_text("{not json", encoding="utf-8")
    code, out, _ = run(capsys, "grade", str(subs), "--out", str(tmp_path / "out"), "--unsafe-no-sandbox")
    assert code == 1
    assert "invalid        erin_01_baseline_model.ipynb: not a notebook: invalid JSON" in out
    with open(tmp_path / "out" / "gradebook.csv", encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["student"], row["01 points"], row["flags"][:18]) == ("erin", "0.0", "01: invalid: not a")


def test_the_console_scripts_point_at_main():
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"labkit": "labkit.doctor:main"}
    instructor = tomllib.loads((REPO_ROOT / "instructor" / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert instructor["name"] == "labkit-instructor"
    assert instructor["scripts"] == {"labkit-instructor": "labkit_instructor.cli:main"}


def test_python_dash_m_runs_the_command_lines():
    done = subprocess.run([sys.executable, "-m", "labkit.doctor", "doctor", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "usage: labkit doctor" in done.stdout
    done = subprocess.run([sys.executable, "-m", "labkit_instructor.cli", "release", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "usage: labkit-instructor release" in done.stdout


# --------------------------------------------------------------------------------------------------
# release
# --------------------------------------------------------------------------------------------------
def _tiny_repo(root: Path) -> Path:
    (root / "solutions").mkdir(parents=True)
    (root / "labkit").mkdir()
    (root / "labkit" / "__init__.py").write_text("", encoding="utf-8")
    (root / "README.md").write_text("make lab\nmake test\n", encoding="utf-8")
    code = 'def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nf = check("07.f", f)'
    nbformat.write(new_notebook(cells=[new_code_cell(code, id="c1")]), root / "solutions" / "07_tiny.ipynb")
    release.sync(root)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "tiny"]):
        subprocess.run(["git", "-c", "user.name=lab", "-c", "user.email=lab@example.org", "-C", str(root), *args],
                       check=True, capture_output=True)
    return root


def test_release_writes_the_zip_and_says_where(capsys, tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    code, out, _ = run(capsys, "release", "--root", str(root), "--out", str(tmp_path / "dist"), "--name", "b.zip")
    assert code == 0
    assert f"Student bundle (graded, no solutions): {tmp_path / 'dist' / 'b.zip'}" in out and "sha256 " in out
    assert (tmp_path / "dist" / "b.zip").is_file()
    code, out, _ = run(capsys, "release", "--self-study", "--root", str(root), "--out", str(tmp_path / "dist"))
    assert code == 0 and "self-study, with model answers" in out and "-self-study.zip" in out


def test_release_refuses_with_exit_1_when_notebooks_are_out_of_sync(capsys, tmp_path):
    root = _tiny_repo(tmp_path / "repo")
    (root / "solutions" / "08_new.ipynb").write_bytes((root / "solutions" / "07_tiny.ipynb").read_bytes())
    code, out, err = run(capsys, "release", "--root", str(root), "--out", str(tmp_path / "dist"))
    assert code == 1 and out == ""
    assert "labkit-instructor release: refused: the student notebooks or recorded banks are out of sync" in err
    assert "notebooks/08_new.ipynb" in err and "labkit-instructor sync" in err
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


# --------------------------------------------------------------------------------------------------
# doctor
# --------------------------------------------------------------------------------------------------
def test_doctor_exit_code_follows_the_required_checks(capsys, monkeypatch):
    fine = [Diagnosis("Python", "ok", "3.11.9"), Diagnosis("promtool", "warn", "not found", fix="apt", required=False)]
    monkeypatch.setattr(doctor, "run_checks", lambda: fine)
    code, out, _ = run(capsys, "doctor", main=doctor.main)
    assert code == 0 and "All required checks passed (1 warning(s), optional)." in out
    broken = fine + [Diagnosis("numpy", "fail", "2.0.0", "1.26.4", "pip install -r requirements.lock")]
    monkeypatch.setattr(doctor, "run_checks", lambda: broken)
    code, out, _ = run(capsys, "doctor", main=doctor.main)
    assert code == 1 and "fix: pip install -r requirements.lock" in out and "1 problem to fix" in out
    code, out, _ = run(capsys, "doctor", "--json", main=doctor.main)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and [c["status"] for c in report["checks"]] == ["ok", "warn", "fail"]


def test_doctor_in_this_environment_prints_one_screen(capsys):
    code, out, _ = run(capsys, "doctor", main=doctor.main)
    assert code in (0, 1)
    assert out.count("\n") < 45, "the report should fit on one screen"
    for name in ("Python", "pandas", "Jupyter kernel", "widgets front-end", "data file", "promtool"):
        assert f"  {name}" in out
