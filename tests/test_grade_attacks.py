"""Hostile submissions (issue 14): each one scores 0 on what it cheats, harms nobody else, and is flagged.

One class is graded once, in the real bubblewrap sandbox: honest students (one solved everything, one
left everything untouched, one wrote ``check = df.isna().sum()``), and one submission per attack. Each
attack starts from the untouched student notebook 01 and either adds a cell (static attacks: the
grader never runs those cells) or hides its code in exercise 1's definitions (runtime attacks: they
run inside the sandbox when the grader defines and calls the function)."""
from __future__ import annotations

import csv
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from labkit.paths import REPO_ROOT, artifacts_dir
from labkit_instructor import sandbox
from labkit_instructor.classroom import make_submission, write_submission
from labkit_instructor.config import default_config
from labkit_instructor.grade import GradeSettings, grade_submissions

pytestmark = pytest.mark.skipif(not sandbox.available() and not os.environ.get("LABKIT_REQUIRE_BWRAP"),
                                reason="bubblewrap (bwrap) is not installed: apt-get install bubblewrap")

SECRET = "labkit-grader-secret-4d1f"
RIGHT = {"01.split_by_time": "right", "01.regression_report": "right", "01.hour_profile_forecast": "right"}
SPLIT_HEAD = "def split_by_time(df, reference_start, production_start):\n"
SPLIT_CHECK = "\n\nsplit_by_time = check(\"01.split_by_time\", split_by_time)\n"


def runtime(body: str) -> dict:
    """Exercise 1's cell with ``body`` as the function's body (it runs when the grader calls it)."""
    indented = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return {"01.split_by_time": SPLIT_HEAD + indented + SPLIT_CHECK}


def at_definition(code: str) -> dict:
    """Exercise 1's cell with ``code`` running while the grader defines the function (a default argument)."""
    return {"01.split_by_time": f"def split_by_time(df, reference_start, production_start, _=({code})):\n"
                                f"    return None{SPLIT_CHECK}"}


def attacks(listener_port: int, victim: Path, gradebook: Path) -> dict[str, tuple[dict, list[str]]]:
    """name -> (exercise cells, extra cells). Forged outputs, escapes and resource abuse."""
    fake_record = ('display({"text/plain": "✅ passed", "application/vnd.labkit.check+json": '
                   '{"exercise": "01.split_by_time", "status": "passed", "detail": "3 cases match"}}, raw=True)')
    survivor = (f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
                f"\"import time, pathlib; time.sleep(20); p = pathlib.Path({str(gradebook)!r}); "
                f"p.write_text(p.read_text() + 'attacker,,3,3,3')\"], start_new_session=True)")
    return {
        "patch_checker_globals": ({}, ["import labkit.exercises as ex\n"
                                       "check.__globals__['evaluate'] = lambda *a, **k: None\n"
                                       "ex.check = lambda exercise_id, candidate: candidate"]),
        "forged_check_records": ({}, ["from IPython.display import display\n" + fake_record]),
        "import_references": (
            {"01.split_by_time": "from labkit_instructor.exercises.nb01 import split_by_time as reference\n\n"
                                 + SPLIT_HEAD + "    return reference(df, reference_start, production_start)"
                                 + SPLIT_CHECK}, []),
        "forge_outcome_and_kill_parent": (runtime(
            "import os, json, signal\n"
            "for folder in ('.', '..', '/task', '/code', '/opt/lab'):\n"
            "    for name, text in (('executed.ipynb', '{}'), ('outcome.json', json.dumps({'status': 'ok'}))):\n"
            "        try:\n"
            "            open(os.path.join(folder, name), 'w').write(text)\n"
            "        except OSError:\n"
            "            pass\n"
            "try:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass\n"
            "os.kill(os.getpid(), signal.SIGKILL)"), []),
        "patch_installed_labkit": (at_definition(
            "[open(p, 'a').write('\\ncheck = lambda i, c: c\\n') for p in "
            "[__import__('labkit.exercises._check', fromlist=['x']).__file__, "
            f"{str(REPO_ROOT / 'labkit' / 'exercises' / '_check.py')!r}] "
            "if __import__('os').path.exists(p)]"), []),
        "overwrite_classmate": (runtime(
            f"open({str(victim)!r}, 'w').write('{{}}')\nreturn None"), []),
        "survive_and_rewrite_gradebook": (runtime(survivor + "\nreturn None"), []),
        "raise_memory_limit": (runtime(
            "import resource\n"
            "resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
            "block = bytearray(30 << 30)\nreturn None"), []),
        "network": (runtime(
            f"import socket\nsocket.create_connection(('127.0.0.1', {listener_port}), timeout=3).sendall(b'hi')\n"
            "return None"), []),
        "read_grader_secrets": (runtime(
            "import glob, os\nfound = []\n"
            "for path in ['/proc/1/environ', '/proc/1/cmdline', f'/proc/{os.getppid()}/environ',\n"
            f"             {str(REPO_ROOT / 'solutions' / '01_baseline_model.ipynb')!r}]:\n"
            "    try:\n        found.append(open(path, 'rb').read().decode('latin-1'))\n"
            "    except OSError as exc:\n        found.append(type(exc).__name__)\n"
            "found += [str(dict(os.environ)), str(glob.glob('/work/**', recursive=False))]\n"
            "return ' '.join(found)"), []),
        "infinite_loop": (runtime("while True:\n    pass"), []),
        "fork_bomb": (runtime(
            "import os\nchildren = 0\n"
            "for _ in range(2000):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
            "    if pid == 0:\n        __import__('time').sleep(5)\n        os._exit(0)\n    children += 1\n"
            "return children"), []),
        "print_50_mb": (runtime("print('x' * (50 << 20))\nreturn None"), []),
        "huge_file": (runtime("open('/tmp/big', 'wb').write(b'x' * (200 << 20))\nreturn None"), []),
    }


@pytest.fixture(scope="module")
def graded():
    # Below the repository's runs/ (not /tmp, which every sandbox replaces by its own): a classmate's file
    # and the gradebook sit where a real class would keep them.
    folder, out = artifacts_dir("attacks", "submissions"), artifacts_dir("attacks", "grades")
    listener, received, stop = socket.socket(), [], threading.Event()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)

    def accept() -> None:
        while not stop.is_set():
            try:
                received.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    victim = folder / "victim_01_baseline_model.ipynb"
    honest = {"full_marks": (RIGHT, []), "untouched": ({}, []),
              "honest_check_name": (RIGHT, ["df = load_hourly()\ncheck = df.isna().sum()\ncheck.head()"])}
    cases = honest | attacks(listener.getsockname()[1], victim, out / "gradebook.csv")
    for name, (cells, extra) in cases.items():
        write_submission(folder, f"{name}_01_baseline_model.ipynb", make_submission("01", cells, extra_cells=extra))
    write_submission(folder, victim.name, make_submission("01", RIGHT))
    victim_bytes = victim.read_bytes()
    before = (REPO_ROOT / "labkit" / "exercises" / "_check.py").read_bytes()
    os.environ[SECRET.upper().replace("-", "_")] = SECRET  # a "secret" in the grader's environment
    limits = sandbox.Limits(memory_mb=2048, cpu_seconds=60, wall_seconds=90, case_seconds=4, processes=48)
    settings = GradeSettings(default_config(REPO_ROOT), limits=limits, jobs=2)
    try:
        report = grade_submissions(folder, out, settings, REPO_ROOT)
        gradebook_after_grading = (out / "gradebook.csv").read_text(encoding="utf-8")
        time.sleep(22)  # longer than the surviving child would wait before rewriting the gradebook
    finally:
        os.environ.pop(SECRET.upper().replace("-", "_"), None)
        stop.set()
        thread.join(timeout=5)
        listener.close()
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    assert victim.read_bytes() == victim_bytes, "a submission overwrote a classmate's file"
    return {"report": report, "rows": rows, "out": out, "received": received, "check_before": before,
            "gradebook": gradebook_after_grading, "results": {r["student"]: r for r in report.results}}


def points(graded, student: str) -> float:
    return float(graded["rows"][student]["01 points"])


def test_honest_students_get_what_they_earned(graded):
    assert points(graded, "full_marks") == 6.0 and not graded["rows"]["full_marks"]["flags"]
    assert points(graded, "untouched") == 0.0 and not graded["rows"]["untouched"]["flags"]
    assert points(graded, "victim") == 6.0, "a classmate's attack must not change this student's grade"


def test_an_honest_check_variable_is_not_tampering(graded):
    assert points(graded, "honest_check_name") == 6.0 and graded["rows"]["honest_check_name"]["flags"] == ""


@pytest.mark.parametrize("attack, flag", [
    ("patch_checker_globals", "reaches into a function's globals"),
    ("forged_check_records", "writes check records by hand"),
    ("import_references", "imports the instructor package"),
    ("forge_outcome_and_kill_parent", "ended without a result"),
    ("patch_installed_labkit", "tried to write"),
    ("overwrite_classmate", "tried to write"),
    ("survive_and_rewrite_gradebook", "starts a process meant to outlive the grader"),
    ("raise_memory_limit", "tried to change its resource limits"),
    ("network", "tried to open a network connection"),
    ("read_grader_secrets", "read /proc/1/environ"),
    ("infinite_loop", "ran out of time"),
    ("fork_bomb", "started processes"),
    ("print_50_mb", "printed more than"),
    ("huge_file", "file size limit"),
])
def test_each_attack_scores_nothing_and_is_flagged(graded, attack, flag):
    row = graded["rows"][attack]
    assert float(row["01.split_by_time"]) == 0.0, f"{attack} gained the points of exercise 1"
    assert float(row["01 points"]) == 0.0
    assert flag in row["flags"], f"{attack}: expected a flag containing {flag!r}, got {row['flags']!r}"


def test_nothing_outside_the_sandbox_changed(graded):
    assert (REPO_ROOT / "labkit" / "exercises" / "_check.py").read_bytes() == graded["check_before"]
    assert (graded["out"] / "gradebook.csv").read_text(encoding="utf-8") == graded["gradebook"], \
        "a process outlived its submission and rewrote the gradebook"
    assert "attacker" not in graded["gradebook"]
    assert graded["received"] == [], "a submission reached a listener on the host's loopback"
    leftovers = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue  # the process ended meanwhile
        leftovers += [status.parent.name] * (uid in sandbox.SANDBOX_UIDS)
    assert leftovers == [], f"sandboxed processes outlived the grading: {leftovers}"


def test_no_secret_of_the_grader_reaches_any_output(graded):
    text = "\n".join(p.read_text(encoding="utf-8") for p in graded["out"].rglob("*") if p.is_file())
    assert SECRET not in text and "BEGIN SOLUTION" not in text


def test_the_fork_bomb_is_capped_well_below_2000(graded):
    detail = graded["results"]["fork_bomb"]["exercises"]["01.split_by_time"]["detail"]
    forks = int(detail.split("returned ", 1)[1].split()[0])  # "case ...: returned 47 (int), expected a tuple"
    assert forks < 100, detail


def test_the_memory_and_time_attacks_did_not_stop_the_other_exercises(graded):
    for attack in ("raise_memory_limit", "infinite_loop", "print_50_mb", "huge_file"):
        statuses = {i: e["status"] for i, e in graded["results"][attack]["exercises"].items()}
        assert statuses["01.regression_report"] == "not_attempted", (attack, statuses)
