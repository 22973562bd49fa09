"""The grader: one batch over tests/fixtures/submissions (good, failing, crashing, hanging, malformed,
tampered, forged and memory-hungry notebooks), plus fast unit tests of its parts."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from labkit import cli
from labkit.exercises import collect_results, exercise_ids
from labkit.grade import (
    STATUSES,
    SubmissionResult,
    course_notebooks,
    expected_exercises,
    grade_notebook,
    grade_submissions,
    identify,
    static_findings,
    write_gradebook,
)
from labkit.paths import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "submissions"
IDS = ["01.split_by_time", "01.regression_report", "01.hour_profile_forecast"]
TIMEOUT = 15  # seconds per notebook: the good ones need about 3 (more on a busy machine); dave is cut off
MEMORY_MB = 2048

# student -> (status, states of the three exercises, score)
EXPECTED = {
    "alice": ("ok", ["passed", "passed", "passed"], 3),
    "bob": ("ok", ["passed", "failed", "not_attempted"], 1),
    "carol": ("crashed", ["passed", "missing", "missing"], 1),
    "dave": ("timeout", ["passed", "missing", "missing"], 1),
    "erin": ("invalid", ["missing", "missing", "missing"], 0),
    "frank": ("tampered", ["passed", "passed", "missing"], 0),
    "grace": ("ok", ["not_attempted", "not_attempted", "not_attempted"], 0),
    "heidi": ("tampered", ["passed", "passed", "passed"], 0),
    "ivan": ("crashed", ["passed", "missing", "missing"], 1),
}
MESSAGES = {
    "carol": r"cell 3 \(id c3\) raised NameError: name 'df_train_typo' is not defined",
    "dave": rf"cell 3 \(id c3\) was still running when the {TIMEOUT} s limit ran out",
    "erin": r"not a notebook: invalid JSON \(line \d+",
    "frank": r'review by hand: the check of exercise 01.hour_profile_forecast was removed',
    "heidi": r"defines its own check\(\) function",
    "ivan": rf"MemoryError.*\(memory limit {MEMORY_MB} MB\)",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the fixture folder once, through the command line, as an instructor would."""
    out = tmp_path_factory.mktemp("grades")
    secret = "LABKIT_GRADER_SECRET"
    os.environ[secret] = "must-not-reach-submissions"
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            code = cli.main(["grade", str(FIXTURES), "--out", str(out), "--timeout", str(TIMEOUT),
                             "--memory-mb", str(MEMORY_MB), "--jobs", "2", "--no-progress"])
    finally:
        del os.environ[secret]
    with open(out / "gradebook.csv", encoding="utf-8", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    return code, stdout.getvalue(), rows, out


def test_the_batch_finishes_with_exit_code_1_and_one_row_per_submission(graded):
    code, stdout, rows, _ = graded
    assert code == 1  # some submissions had problems
    assert sorted(rows) == sorted(EXPECTED)
    assert "Graded 9 submissions" in stdout and "gradebook:" in stdout


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_the_status_and_exercise_states_it_deserves(graded, student):
    _, _, rows, _ = graded
    row = rows[student]
    status, states, score = EXPECTED[student]
    if student == "ivan" and not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS is enforced on Linux only")
    assert (row["status"], [row[i] for i in IDS], int(row["score"])) == (status, states, score), row["message"]
    assert row["notebook"] == "01" and row["max_score"] == "3"
    if student in MESSAGES:
        assert re.search(MESSAGES[student], row["message"]), row["message"]
    elif status == "ok":
        assert row["message"] == ""


def test_the_hanging_notebook_is_cut_off_near_its_time_limit(graded):
    _, _, rows, _ = graded
    assert TIMEOUT <= float(rows["dave"]["seconds"]) < TIMEOUT + 25


def test_the_gradebook_columns(graded):
    _, _, _, out = graded
    with open(out / "gradebook.csv", encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["file", "student", "notebook", "status", *IDS, "score", "max_score", "seconds", "message"]


def test_submitted_outputs_never_count(graded):
    """grace's file carries hand-edited 'passed' records; the fresh run says what her code really does."""
    _, _, rows, out = graded
    submitted = collect_results(FIXTURES / "grace_01_baseline_model.ipynb")
    assert [r["status"] for r in submitted] == ["passed"] * 3
    fresh = collect_results(out / "executed" / "grace_01_baseline_model.ipynb")
    assert [(r["exercise"], r["status"]) for r in fresh] == [(i, "not_attempted") for i in IDS]
    assert rows["grace"]["score"] == "0"


def test_submissions_run_isolated_from_the_graders_files_and_environment(graded):
    """alice fails if she sees the grader's variables, and writes marker files to HOME, cwd and runs/."""
    _, _, rows, _ = graded
    assert rows["alice"]["status"] == "ok", rows["alice"]["message"]
    for folder in (Path.home(), Path.cwd(), REPO_ROOT / "runs", FIXTURES):
        assert not (folder / "alice-was-here.txt").exists(), f"a submission wrote into {folder}"


def test_the_summary_and_the_executed_notebooks(graded):
    _, _, _, out = graded
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "**9 submissions**: 3 ok, 2 crashed, 1 timeout, 2 tampered, 1 invalid" in summary
    assert "| 01.split_by_time | 5 | 0 | 1 | 0 |" in summary  # graded automatically: ok, crashed, timeout
    assert "## To review" in summary and "erin_01_baseline_model.ipynb" in summary
    executed = sorted(p.name.split("_")[0] for p in (out / "executed").glob("*.ipynb"))
    assert executed == sorted(set(EXPECTED) - {"erin"})
    alice = nbformat.read(out / "executed" / "alice_01_baseline_model.ipynb", as_version=4)
    assert [r["status"] for r in collect_results(alice)] == ["passed"] * 3


def test_written_answers_are_collected_for_grading_by_hand(graded):
    _, _, _, out = graded
    answers = (out / "answers.md").read_text(encoding="utf-8")
    alice = answers.split("### alice (alice_01_baseline_model.ipynb)")[1].split("###")[0]
    bob = answers.split("### bob (bob_01_baseline_model.ipynb)")[1].split("###")[0]
    assert "A shuffled split puts the future into training" in alice
    assert "_no answer written_" in bob


def test_keep_going_runs_the_cells_after_an_error():
    result = grade_notebook(FIXTURES / "carol_01_baseline_model.ipynb", timeout=60, keep_going=True)
    assert result.status == "crashed" and "NameError" in result.message
    assert result.exercises == dict.fromkeys(IDS, "passed") and result.score == 3


# --------------------------------------------------------------------------------------------------
# Fast unit tests
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("subs/alice_01_baseline_model.ipynb", ("alice", "01")),
        ("subs/01_baseline_model-bob.ipynb", ("bob", "01")),
        ("subs/Smith_John_12345_02_simulate_drift.ipynb", ("Smith_John_12345", "02")),
        ("subs/carol/03_detect_drift.ipynb", ("carol", "03")),
        ("subs/dave_03.ipynb", ("dave", "03")),
        ("subs/s12_02.ipynb", ("s12", "02")),
        ("subs/erin.ipynb", ("erin", None)),
    ],
    ids=["prefix", "suffix", "lms-style", "sub-folder", "number-only", "digits-in-id", "unknown"],
)
def test_identify(path, expected):
    notebooks = {"01": "01_baseline_model", "02": "02_simulate_drift", "03": "03_detect_drift"}
    assert identify(path, "subs", notebooks) == expected


def test_identify_with_a_forced_number():
    assert identify("subs/erin.ipynb", "subs", {"01": "01_baseline_model"}, number="01") == ("erin", "01")


@pytest.mark.parametrize("number", ["01", "02", "03"])
def test_expected_exercises_match_the_exercise_banks(number):
    assert sorted(expected_exercises(number)) == exercise_ids(number)


def test_expected_exercises_fall_back_to_the_bank_then_fail_clearly(tmp_path):
    assert expected_exercises("01", root=tmp_path) == exercise_ids("01")
    with pytest.raises(ValueError, match=r"notebook '97': no solution notebook solutions/97_\*.ipynb"):
        expected_exercises("97", root=tmp_path)


def test_course_notebooks_lists_the_published_notebooks():
    assert {"01", "02", "03"} <= set(course_notebooks())


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_the_real_notebooks_raise_no_tampering_findings(folder):
    """Guards the heuristics against false alarms on the lab's own notebooks (and on 04-06 once added)."""
    for path in sorted((REPO_ROOT / folder).glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert static_findings(nb, expected_exercises(path.name[:2])) == [], path.name


@pytest.mark.parametrize(
    ("code", "finding"),
    [
        ("from labkit.exercises.nb01 import split_by_time", "imports an exercise bank"),
        ("from labkit.exercises import nb01", "imports an exercise bank"),
        ("f = get_exercise('01.split_by_time').reference", "reference implementation"),
        ("check = lambda i, f: f", "assigns something else to the name check"),
        ("from labkit.exercises import evaluate as check", "imports something else as check"),
        ("display({'application/vnd.labkit.check+json': {}}, raw=True)", "writes a check record by hand"),
        ("import labkit.exercises\nlabkit.exercises.check = print", "replaces labkit.exercises.check"),
    ],
    ids=["bank-import", "bank-module", "reference", "reassign", "import-as", "mime", "monkeypatch"],
)
def test_static_findings_spot_forgery(code, finding):
    checks = "\n".join(f'x = check("{i}", x)' for i in IDS)
    nb = {"cells": [{"cell_type": "code", "source": code}, {"cell_type": "code", "source": checks}]}
    found = static_findings(nb, IDS)
    assert any(finding in f for f in found), found


def test_a_check_in_a_markdown_cell_does_not_count():
    nb = {"cells": [{"cell_type": "markdown", "source": 'check("01.split_by_time", f)'}]}
    assert len(static_findings(nb, ["01.split_by_time"])) == 1


def test_gradebook_cells_cannot_become_spreadsheet_formulas(tmp_path):
    row = SubmissionResult("=HYPERLINK(1).ipynb", "=cmd", "01", "invalid", message="@SUM(A1)")
    path = write_gradebook([row], tmp_path / "g.csv")
    with open(path, encoding="utf-8", newline="") as handle:
        data = list(csv.DictReader(handle))[0]
    assert data["file"].startswith("'=") and data["student"] == "'=cmd" and data["message"] == "'@SUM(A1)"


def test_result_rejects_unknown_states():
    with pytest.raises(ValueError, match="status must be one of"):
        SubmissionResult("a", "a", "01", "great")
    with pytest.raises(ValueError, match="exercise states must be one of"):
        SubmissionResult("a", "a", "01", "ok", exercises={"01.x": "perfect"})
    assert STATUSES[0] == "ok"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"memory_mb": 100}, "memory_mb must be at least 256"),
        ({"jobs": 0}, "jobs must be an integer >= 1"),
        ({"number": "42"}, "not a course notebook"),
    ],
    ids=["timeout", "memory", "jobs", "number"],
)
def test_bad_options_are_rejected_before_anything_runs(tmp_path, kwargs, match):
    shutil.copy(FIXTURES / "erin_01_baseline_model.ipynb", tmp_path)
    with pytest.raises(ValueError, match=match):
        grade_submissions(tmp_path, tmp_path / "out", progress=False, **kwargs)


def test_an_empty_or_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .ipynb files"):
        grade_submissions(tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="submissions folder not found"):
        grade_submissions(tmp_path / "nope", progress=False)


def test_a_notebook_without_a_number_in_its_name_is_invalid_unless_forced(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="c1")])
    nbformat.write(nb, tmp_path / "mallory.ipynb")
    result = grade_notebook(tmp_path / "mallory.ipynb", timeout=30)
    assert result.status == "invalid" and "--notebook NN" in result.message
