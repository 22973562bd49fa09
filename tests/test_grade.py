"""The grader: static extraction, file names and the roster, late and repeated uploads, the wrong
notebook, points and the LMS files, feedback, manual scores, the unsafe switch, and a real Dask cluster
that gives the same gradebook as the local pool. (Hostile submissions: test_grade_attacks.py.)"""
from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from labkit.paths import REPO_ROOT
from labkit_instructor import cli, extract, sandbox
from labkit_instructor.classroom import make_class, make_submission, write_submission
from labkit_instructor.config import default_config, load_config, write_config
from labkit_instructor.grade import GradeSettings, grade_submissions
from labkit_instructor.submissions import Roster, Student, choose_latest, find_submissions, late_days, parse_name

NOTEBOOKS = {"01": "01_baseline_model", "02": "02_simulate_drift", "05": "05_alerting"}
RIGHT_05 = {"05.held_for": "right", "05.apply_cooldown": "right"}
needs_bwrap = pytest.mark.skipif(not sandbox.available() and not os.environ.get("LABKIT_REQUIRE_BWRAP"),
                                 reason="bubblewrap (bwrap) is not installed: apt-get install bubblewrap")


def rows_of(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------------------------------
# Reading a notebook without running it
# --------------------------------------------------------------------------------------------------
def test_only_the_exercise_cells_definitions_and_the_imports_are_taken():
    nb = make_submission("05", RIGHT_05, extra_cells=["check = lambda i, f: f  # never run by the grader",
                                                       "import os\nos.remove('/etc/passwd')"])
    got = extract.extract(nb, ["05.held_for", "05.apply_cooldown", "05.nope"])
    assert got.code["05.held_for"].startswith("def held_for(values, threshold, n):")
    assert "check(" not in got.code["05.held_for"] and "os.remove" not in "".join(got.code.values())
    assert "import os" in got.imports and got.code["05.nope"] == ""
    assert extract.findings(nb) == []  # assigning to `check` is not cheating in itself


def test_syntax_errors_and_written_answers():
    nb = make_submission("05", {"05.held_for": "def held_for(values threshold, n):\n    pass"},
                         answers=["The for duration waits."])
    got = extract.extract(nb, ["05.held_for"])
    assert got.code["05.held_for"] == "" and any("syntax error" in p for p in got.problems)
    assert extract.answers(nb) == ["The for duration waits."]
    assert extract.answers(make_submission("05")) == [""]  # the untouched placeholder is no answer


def test_the_wrong_notebook_is_recognised_by_its_exercises():
    nb = make_submission("02")
    ids = {"01": ["01.split_by_time"], "02": ["02.ramp", "02.gradual_shift", "02.daily_mae"]}
    assert extract.notebook_number(nb, ids) == "02"


# --------------------------------------------------------------------------------------------------
# File names, the roster, times
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, expected", [
    ("mike_01_baseline_model (1).ipynb", ("mike", "01", 1, False, "")),
    ("mike_01_baseline_model.ipynb", ("mike", "01", 0, False, "")),
    ("01_baseline_model-alice.ipynb", ("alice", "01", 0, False, "")),
    ("alice/01_baseline_model.ipynb", ("alice", "01", 0, False, "")),
    ("carol-02.ipynb", ("carol", "02", 0, False, "")),
    ("smithjohn_4242_998877_01_baseline_model.ipynb", ("smithjohn", "01", 0, False, "4242")),
    ("smithjohn_LATE_4242_998878_01_baseline_model-1.ipynb", ("smithjohn", "01", 1, True, "4242")),
    ("John Smith_17_assignsubmission_file_/05_alerting.ipynb", ("John Smith", "05", 0, False, "17")),
    ("John Smith_17_assignsubmission_file_05_alerting.ipynb", ("John Smith", "05", 0, False, "17")),
], ids=["browser-copy", "plain", "name-after", "folder", "short", "canvas", "canvas-late-resubmission",
        "moodle-folder", "moodle-flat"])
def test_file_names_from_browsers_and_lms_downloads(path, expected):
    assert parse_name(path, NOTEBOOKS) == expected


def test_the_roster_maps_names_aliases_and_lms_ids(tmp_path):
    (tmp_path / "roster.csv").write_text(
        "student,name,email,canvas_id,sis_user_id,sis_login_id,section,moodle_id,aliases\n"
        "jsmith,John Smith,js@uni.edu,4242,S1,jsmith,A,17,smithjohn;johnny\n"
        "mike,Mike Moe,mike@uni.edu,4243,S2,mmoe,B,18,\n", encoding="utf-8")
    roster = Roster.read(tmp_path / "roster.csv")
    assert roster.find("smithjohn", "4242") == roster.find("John Smith", "17") == roster.find("johnny") == "jsmith"
    assert roster.find("mike") == "mike" and roster.find("nobody") is None
    assert roster.students["jsmith"] == Student("jsmith", "John Smith", "js@uni.edu", "4242", "S1", "jsmith", "A",
                                                "17", ("smithjohn", "johnny"))
    (tmp_path / "bad.csv").write_text("name\nx\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs a 'student' column"):
        Roster.read(tmp_path / "bad.csv")


def test_the_latest_upload_counts_and_a_canvas_late_resubmission_is_the_same_student(tmp_path):
    roster = Roster([Student("jsmith", "John Smith", canvas_id="4242", aliases=("smithjohn",))])
    nb = make_submission("05")
    write_submission(tmp_path, "smithjohn_4242_1_05_alerting.ipynb", nb, mtime=1_800_000_000)
    write_submission(tmp_path, "smithjohn_LATE_4242_2_05_alerting-1.ipynb", nb, mtime=1_800_090_000)
    write_submission(tmp_path, "mike_05_alerting.ipynb", nb, mtime=1_800_000_000)
    write_submission(tmp_path, "mike_05_alerting (1).ipynb", nb, mtime=1_800_000_500)
    found = find_submissions(tmp_path, {"05": "05_alerting"}, roster)
    chosen = {s.student: (s.path, [o.path for o in others]) for s, others in choose_latest(found)}
    assert chosen == {"jsmith": ("smithjohn_LATE_4242_2_05_alerting-1.ipynb", ["smithjohn_4242_1_05_alerting.ipynb"]),
                      "mike": ("mike_05_alerting (1).ipynb", ["mike_05_alerting.ipynb"])}
    late = [s for s in found if s.late_marked]
    assert [s.student for s in late] == ["jsmith"] and not [s for s in found if s.student == "mike"][0].on_roster


def test_late_days_and_the_late_policy():
    deadline = datetime(2026, 12, 10, 23, 59, tzinfo=timezone.utc)
    assert late_days(deadline - timedelta(hours=1), deadline) == 0
    assert late_days(deadline + timedelta(minutes=10), deadline, grace_minutes=15) == 0
    assert late_days(deadline + timedelta(hours=2), deadline) == 1
    assert late_days(deadline + timedelta(days=3, minutes=1), deadline) == 4
    assert late_days(deadline - timedelta(days=1), deadline, marked=True) == 1  # the LMS says late
    config = default_config(REPO_ROOT)
    assert [config.late_factor(d) for d in (0, 1, 3, 5, 6)] == [1.0, 0.9, 0.7, 0.5, 0.0]


def test_the_configuration_round_trips_through_yaml(tmp_path):
    config = default_config(REPO_ROOT)
    assert config.notebooks["01"].exercises == {"01.split_by_time": 2.0, "01.regression_report": 2.0,
                                                "01.hour_profile_forecast": 2.0}
    assert len(config.notebooks["01"].questions) >= 1
    path = write_config(config, tmp_path / "grading.yml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(deadline="2026-12-10T23:59:00+01:00", late_penalty_per_day=0.25, partial_credit=True)
    data["notebooks"]["05"]["exercises"]["05.held_for"] = 5
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    loaded = load_config(path, REPO_ROOT)
    assert loaded.notebooks["05"].exercises["05.held_for"] == 5.0 and loaded.partial_credit
    assert loaded.deadline == datetime(2026, 12, 10, 22, 59, tzinfo=timezone.utc) and loaded.late_factor(2) == 0.5


# --------------------------------------------------------------------------------------------------
# A small class, graded for real
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    deadline = datetime(2027, 1, 15, 12, 0, tzinfo=timezone.utc)
    write_submission(folder, "alice_05_alerting.ipynb",
                     make_submission("05", RIGHT_05, answers=["A breach must last n windows."]),
                     mtime=(deadline - timedelta(days=1)).timestamp())
    write_submission(folder, "bob_05_alerting.ipynb", make_submission("05", {"05.held_for": "wrong"}),
                     mtime=(deadline + timedelta(hours=30)).timestamp())
    write_submission(folder, "carol_05_alerting.ipynb", make_submission("05"),
                     mtime=(deadline - timedelta(hours=2)).timestamp())
    write_submission(folder, "carol_05_alerting (1).ipynb", make_submission("05", RIGHT_05),
                     mtime=(deadline - timedelta(minutes=5)).timestamp())
    write_submission(folder, "dave_01_baseline_model.ipynb", make_submission("02"), mtime=deadline.timestamp())
    write_submission(folder, "erin_05_alerting.ipynb", b"{not json", mtime=deadline.timestamp())
    (folder / "roster.csv").write_text("student,name,email,canvas_id,section,moodle_id\n"
                                       "alice,Alice A,alice@uni.edu,101,A,201\nbob,Bob B,bob@uni.edu,102,A,202\n"
                                       "carol,Carol C,carol@uni.edu,103,B,203\nfrank,Frank F,frank@uni.edu,106,B,206\n",
                                       encoding="utf-8")
    config_path = tmp_path_factory.mktemp("config") / "grading.yml"
    data = yaml.safe_load(write_config(default_config(REPO_ROOT), config_path).read_text(encoding="utf-8"))
    data.update(deadline=deadline.isoformat())
    data["notebooks"]["05"]["canvas_assignment_id"] = "777"
    config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return folder, config_path


@pytest.fixture(scope="module")
def graded(small_class, tmp_path_factory):
    folder, config_path = small_class
    out = tmp_path_factory.mktemp("grades")
    settings = GradeSettings(load_config(config_path, REPO_ROOT), Roster.read(folder / "roster.csv"), jobs=2,
                             unsafe=not sandbox.available())
    report = grade_submissions(folder, out, settings, REPO_ROOT)
    return report, out, {r["student"]: r for r in rows_of(out / "gradebook.csv")}


@needs_bwrap
def test_points_per_exercise_notebook_and_total(graded):
    report, _, rows = graded
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin", "frank"}
    assert (rows["alice"]["05.held_for"], rows["alice"]["05.apply_cooldown"], rows["alice"]["05 points"]) == (
        "2.0", "2.0", "4.0")
    assert rows["carol"]["05 points"] == "4.0", "the latest upload counts"
    assert "carol_05_alerting.ipynb" in rows["carol"]["other uploads"]
    assert rows["frank"]["05 points"] == "0.0" and rows["frank"]["files"] == ""  # on the roster, nothing handed in
    assert report.exit_code == 1  # a wrong notebook and an invalid file


@needs_bwrap
def test_late_uploads_lose_points_by_the_policy(graded, small_class, tmp_path):
    _, _, rows = graded
    assert rows["bob"]["05 late days"] == "2" and rows["alice"]["05 late days"] == "0"
    folder, config_path = small_class
    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    data["late_penalty_per_day"] = 0.5
    (tmp_path / "late.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_config(tmp_path / "late.yml", REPO_ROOT).late_factor(2) == 0.0


@needs_bwrap
def test_the_wrong_notebook_and_an_invalid_file_are_reported(graded):
    report, _, rows = graded
    results = {r["student"]: r for r in report.results}
    assert results["dave"]["status"] == "wrong_notebook"
    assert "this is notebook 02" in results["dave"]["message"]
    assert "handed in as notebook 01" in results["dave"]["message"]
    assert results["erin"]["status"] == "invalid" and "not a notebook" in results["erin"]["message"]
    assert "wrong_notebook" in rows["dave"]["flags"] and rows["dave"]["01 points"] == "0.0"


@needs_bwrap
def test_canvas_and_moodle_files(graded):
    _, out, _ = graded
    canvas = list(csv.reader((out / "canvas.csv").open(encoding="utf-8")))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert "Lab 05: alerting (777)" in canvas[0] and canvas[1][0] == "Points Possible"
    alice = next(r for r in canvas if r[0] == "Alice A")
    assert alice[1] == "101" and alice[4] == "A" and alice[canvas[0].index("Lab 05: alerting (777)")] == "4.0"
    moodle = rows_of(out / "moodle.csv")
    assert {r["Email address"]: r["Lab 05: alerting"] for r in moodle}["alice@uni.edu"] == "4.0"


@needs_bwrap
def test_feedback_names_the_first_difference_on_a_visible_case(graded):
    _, out, _ = graded
    bob = (out / "feedback" / "bob.md").read_text(encoding="utf-8")
    assert "| 05.held_for | failed | 0 of 2 | 0 of 3 | case '12 days, threshold 40, 3 windows': returned None" in bob
    assert "2 day(s) late" in bob
    alice = (out / "feedback" / "alice.md").read_text(encoding="utf-8")
    assert "every visible case matches" in alice and "> A breach must last n windows." in alice


@needs_bwrap
def test_written_answers_export_and_scores_import(graded, small_class, tmp_path):
    report, out, _ = graded
    answers = rows_of(out / "written_answers.csv")
    by_student = {r["student"]: r for r in answers if r["question"] == "q1"}
    assert by_student["alice"]["answer"] == "A breach must last n windows." and by_student["alice"]["points"] == ""
    assert by_student["bob"]["points"] == "0" and by_student["bob"]["comment"] == "no answer written"
    assert "dave" not in by_student and "erin" not in by_student  # nothing gradable was handed in
    for row in answers:
        if row["student"] == "alice" and row["question"] == "q1":
            row["points"], row["comment"] = "1.5", "Say why it prevents flapping."
    scores = tmp_path / "scores.csv"
    with scores.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(answers[0]))
        writer.writeheader()
        writer.writerows(answers)
    folder, config_path = small_class
    settings = GradeSettings(load_config(config_path, REPO_ROOT), Roster.read(folder / "roster.csv"), jobs=2,
                             unsafe=not sandbox.available(), scores=scores)
    again = grade_submissions(folder, tmp_path / "again", settings, REPO_ROOT)
    rows = {r["student"]: r for r in rows_of(again.files["gradebook"])}
    assert rows["alice"]["05 written"] == "1.5" and rows["alice"]["05 points"] == "5.5"
    feedback = (tmp_path / "again" / "feedback" / "alice.md").read_text(encoding="utf-8")
    assert "Written answer q1: 1.5 of 2" in feedback and "Comment: Say why it prevents flapping." in feedback


def test_without_bubblewrap_grading_refuses_unless_the_unsafe_switch_is_given(small_class, tmp_path, monkeypatch,
                                                                              capsys):
    folder, _ = small_class
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    code = cli.main(["grade", str(folder), "--out", str(tmp_path / "out")])
    assert code == 2 and "bubblewrap (bwrap) is not installed" in capsys.readouterr().err
    only = tmp_path / "one"
    write_submission(only, "alice_05_alerting.ipynb", make_submission("05", RIGHT_05))
    settings = GradeSettings(default_config(REPO_ROOT), unsafe=True)
    report = grade_submissions(only, tmp_path / "unsafe", settings, REPO_ROOT)
    assert report.rows[0]["notebooks"]["05"]["points"] == 4.0
    assert any(sandbox.UNSAFE_NOTE in f for f in report.results[0]["flags"])
    assert sandbox.UNSAFE_NOTE in (tmp_path / "unsafe" / "summary.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The same class on a real Dask cluster: a scheduler and two workers on 127.0.0.1
# --------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster(tmp_path):
    import distributed  # noqa: F401  (pinned in requirements-test.lock: a broken import must fail, not skip)
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    common = ["--no-dashboard"]
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", address.rsplit(":", 1)[1], *common], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for i in range(2):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                                       "1", "--name", f"w{i}", *common], env=env, cwd=tmp_path,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    from distributed import Client

    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@needs_bwrap
def test_a_dask_cluster_gives_the_same_gradebook_as_the_local_pool(dask_cluster, tmp_path):
    folder = tmp_path / "class"
    make_class(folder, students=3, seed=1, notebooks=["05", "03"])
    config = default_config(REPO_ROOT)
    local = grade_submissions(folder, tmp_path / "local", GradeSettings(config, jobs=2), REPO_ROOT)
    cluster = grade_submissions(folder, tmp_path / "cluster", GradeSettings(config, cluster=dask_cluster), REPO_ROOT)
    for name in ("gradebook", "canvas", "moodle", "written_answers"):
        assert local.files[name].read_bytes() == cluster.files[name].read_bytes(), name
    assert [r["exercises"] for r in local.results] == [r["exercises"] for r in cluster.results]
    assert len(local.results) == 6 and sum(r["status"] == "ok" for r in local.results) == 6


@needs_bwrap
def test_runs_clean_is_an_optional_sandboxed_check(tmp_path):
    write_submission(tmp_path / "in", "alice_05_alerting.ipynb", make_submission("05", RIGHT_05))
    write_submission(tmp_path / "in", "bob_05_alerting.ipynb", make_submission("05", extra_cells=["1 / 0"]))
    report = grade_submissions(tmp_path / "in", tmp_path / "out", GradeSettings(default_config(REPO_ROOT), jobs=2,
                                                                                run_all=True), REPO_ROOT)
    rows = {r["student"]: r for r in rows_of(report.files["gradebook"])}
    assert rows["alice"]["05 runs clean"] == "yes"
    assert rows["bob"]["05 runs clean"].startswith("no: cell ") and "ZeroDivisionError" in rows["bob"]["05 runs clean"]
    assert rows["bob"]["05 points"] == "0.0" and rows["alice"]["05 points"] == "4.0"  # informational only


def test_the_command_line_writes_a_default_configuration(tmp_path, capsys):
    code = cli.main(["grade", str(tmp_path), "--write-config", str(tmp_path / "grading.yml")])
    assert code == 0 and "Wrote the default grading configuration" in capsys.readouterr().out
    data = yaml.safe_load((tmp_path / "grading.yml").read_text(encoding="utf-8"))
    assert data["notebooks"]["01"]["exercises"]["01.split_by_time"] == 2.0
