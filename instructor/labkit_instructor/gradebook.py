"""From graded uploads to what an instructor hands on: points per student, LMS files, feedback, answers.

Files written by :func:`write_all` into the output folder:

=========================  =========================================================================
``gradebook.csv``          one row per student: points per exercise, written answers, late days and
                           penalty, points per notebook, total, flags, files
``canvas.csv``             Canvas gradebook import: Student, ID, SIS User ID, SIS Login ID, Section,
                           one column per notebook ("Lab 01: baseline model (12345)"), a Points
                           Possible row
``moodle.csv``             Moodle grade import: Email address, ID number, one column per notebook
``submissions.csv``        one row per uploaded file: who, which notebook, when, late, counted or
                           replaced by a later upload, status, flags, CPU seconds
``written_answers.csv``    the written answers, one row per student and question, with the rubric and
                           empty ``points``/``comment`` columns for a TA; pass it back with ``--scores``
``feedback/<student>.md``  per student: each exercise's status and points, the first difference on a
                           visible case, hidden cases passed, the written answers with their scores
``summary.md``             settings, counts, pass rate per exercise, everything flagged
=========================  =========================================================================

Text that comes from students (file names, answers, messages) is written so that a spreadsheet never
runs it as a formula.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from labkit_instructor import sandbox
from labkit_instructor.config import GradingConfig
from labkit_instructor.submissions import Roster

__all__ = ["student_rows", "write_all"]


def _safe(text: Any) -> str:
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _exercise_points(result: Mapping, exercise_id: str, points: float, partial: bool) -> float:
    ex = result.get("exercises", {}).get(exercise_id)
    if result.get("status") != "ok" or not ex:
        return 0.0
    if ex["status"] == "passed":
        return points
    if partial and ex["status"] == "failed" and ex["hidden_total"]:
        return round(points * ex["hidden_passed"] / ex["hidden_total"], 2)
    return 0.0


def student_rows(results: Sequence[Mapping], config: GradingConfig, roster: Roster,
                 scores: Mapping[tuple[str, str, str], tuple[float, str]]) -> list[dict]:
    """One row per student (everyone on the roster, and everyone who handed something in)."""
    notebooks = sorted({r["notebook"] for r in results if r.get("notebook") in config.notebooks})
    by_student: dict[str, dict[str, Mapping]] = {}
    for r in results:
        if r.get("notebook"):
            by_student.setdefault(r["student"], {})[r["notebook"]] = r
    rows = []
    for student in sorted(set(by_student) | set(roster.students)):
        info = roster.students.get(student)
        row: dict[str, Any] = {"student": student, "name": info.name if info else "", "notebooks": {},
                               "on_roster": info is not None or not roster.students, "flags": []}
        for number in notebooks:
            nb, r = config.notebooks[number], by_student.get(student, {}).get(number)
            exercise_points = {i: _exercise_points(r, i, p, config.partial_credit) if r else 0.0
                               for i, p in nb.exercises.items()}
            answers = list(r.get("answers", [])) if r else []
            written = {}
            for index, question in enumerate(nb.questions):
                given = scores.get((student, number, question.id))
                text = answers[index] if index < len(answers) else ""
                written[question.id] = min(question.points, given[0]) if given else (0.0 if r and not text else None)
            earned = sum(exercise_points.values()) + sum(v or 0.0 for v in written.values())
            days = r.get("late_days", 0) if r else 0
            penalty = round(earned * (1 - config.late_factor(days)), 2)
            row["notebooks"][number] = {
                "file": r["file"] if r else "", "status": r["status"] if r else "not handed in",
                "runs_clean": r.get("runs_clean", "") if r else "",
                "exercises": exercise_points, "written": written, "late_days": days, "penalty": penalty,
                "points": round(earned - penalty, 2), "max": nb.max_points,
                "other_uploads": list(r.get("other_uploads", [])) if r else []}
            row["flags"] += [f"{number}: {flag}" for flag in (r.get("flags", []) if r else [])]
            if r and r["status"] != "ok":
                row["flags"].append(f"{number}: {r['status']}: {r['message']}")
        row["total"] = round(sum(n["points"] for n in row["notebooks"].values()), 2)
        row["max_total"] = sum(n["max"] for n in row["notebooks"].values())
        if not row["on_roster"]:
            row["flags"].append("not on the roster")
        rows.append(row)
    return rows


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[_safe(v) if isinstance(v, str) else v for v in row] for row in rows])
    return path


def _gradebook(path: Path, rows: Sequence[dict], config: GradingConfig) -> Path:
    numbers = sorted({n for row in rows for n in row["notebooks"]})
    header = ["student", "name"]
    for n in numbers:
        header += [*config.notebooks[n].exercises, f"{n} written", f"{n} late days", f"{n} late penalty", f"{n} points"]
    run_all = any(nb.get("runs_clean") for row in rows for nb in row["notebooks"].values())
    header += [f"{n} runs clean" for n in numbers] * run_all
    header += ["total", "max_total", "flags", "files", "other uploads"]
    lines = []
    for row in rows:
        line: list[Any] = [row["student"], row["name"]]
        for n in numbers:
            nb = row["notebooks"][n]
            line += [*nb["exercises"].values(), sum(v or 0.0 for v in nb["written"].values()), nb["late_days"],
                     nb["penalty"], nb["points"]]
        line += [row["notebooks"][n]["runs_clean"] for n in numbers] * run_all
        line += [row["total"], row["max_total"], "; ".join(row["flags"]),
                 "; ".join(nb["file"] for nb in row["notebooks"].values() if nb["file"]),
                 "; ".join(f for nb in row["notebooks"].values() for f in nb["other_uploads"])]
        lines.append(line)
    return _write_csv(path, header, lines)


def _lms(out: Path, rows: Sequence[dict], config: GradingConfig, roster: Roster) -> list[Path]:
    numbers = sorted({n for row in rows for n in row["notebooks"]})
    titles = [config.notebooks[n].assignment + (f" ({config.notebooks[n].canvas_assignment_id})"
                                                if config.notebooks[n].canvas_assignment_id else "")
              for n in numbers]
    canvas, moodle = [], []
    for row in rows:
        s = roster.students.get(row["student"])
        points = [row["notebooks"][n]["points"] for n in numbers]
        canvas.append([s.name if s and s.name else row["student"], s.canvas_id if s else "", s.sis_user_id if s else "",
                       s.sis_login_id if s else "", s.section if s else "", *points])
        moodle.append([s.email if s else "", s.moodle_id if s else row["student"], *points])
    possible = [["Points Possible", "", "", "", "", *[config.notebooks[n].max_points for n in numbers]]]
    return [_write_csv(out / "canvas.csv", ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *titles],
                       possible + canvas),
            _write_csv(out / "moodle.csv", ["Email address", "ID number",
                                            *[config.notebooks[n].assignment for n in numbers]], moodle)]


def _submissions(path: Path, results: Sequence[dict]) -> Path:
    lines = []
    for r in results:
        lines.append([r["file"], r["student"], r.get("notebook") or "", r["submitted"], r["late_days"], "yes",
                      r["status"], r["message"], "; ".join(r["flags"]), r["cpu_seconds"]])
        lines += [[other, r["student"], r.get("notebook") or "", "", "", f"no: replaced by {r['file']}", "", "", "", ""]
                  for other in r.get("other_uploads", [])]
    return _write_csv(path, ["file", "student", "notebook", "submitted", "late days", "counted", "status", "message",
                             "flags", "cpu seconds"], lines)


def _written(path: Path, results: Sequence[dict], config: GradingConfig,
             scores: Mapping[tuple[str, str, str], tuple[float, str]]) -> Path:
    lines = []
    for r in sorted(results, key=lambda r: (r.get("notebook") or "", r["student"])):
        nb = config.notebooks.get(r.get("notebook") or "")
        for index, question in enumerate(nb.questions if nb and r["status"] == "ok" else []):
            text = r["answers"][index] if index < len(r["answers"]) else ""
            given = scores.get((r["student"], nb.number, question.id))
            points = given[0] if given else ("" if text else 0)
            comment = given[1] if given else ("" if text else "no answer written")
            lines.append([r["student"], nb.number, question.id, question.points, question.rubric, text, points,
                          comment])
    return _write_csv(path, ["student", "notebook", "question", "max_points", "rubric", "answer", "points", "comment"],
                      lines)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _feedback(folder: Path, rows: Sequence[dict], results: Sequence[dict], config: GradingConfig,
              scores: Mapping[tuple[str, str, str], tuple[float, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    by_key = {(r["student"], r.get("notebook")): r for r in results}
    for row in rows:
        lines = [f"# Feedback for {row['name'] or row['student']}", "",
                 f"**Total: {row['total']:g} of {row['max_total']:g} points.**", ""]
        for number, nb in row["notebooks"].items():
            r, spec = by_key.get((row["student"], number)), config.notebooks[number]
            lines += [f"## {spec.assignment}: {nb['points']:g} of {nb['max']:g} points", ""]
            if r is None:
                lines += ["Nothing was handed in for this notebook.", ""]
                continue
            lines += [f"Graded file: `{_md(r['file'])}`" + (f" (earlier uploads, not graded: "
                      f"{', '.join(f'`{_md(o)}`' for o in nb['other_uploads'])})" if nb["other_uploads"] else ""), ""]
            if r["status"] != "ok":
                lines += [f"**Not graded: {r['status'].replace('_', ' ')}.** {_md(r['message'])}", ""]
            if nb["runs_clean"]:
                lines += [f"Runs top to bottom in a fresh kernel: {_md(nb['runs_clean'])}", ""]
            if nb["late_days"]:
                lines += [f"Handed in {nb['late_days']} day(s) late: {nb['penalty']:g} points deducted.", ""]
            lines += ["| exercise | status | points | hidden cases passed | first difference on a visible case |",
                      "|---|---|---|---|---|"]
            for exercise_id, points in nb["exercises"].items():
                ex = r.get("exercises", {}).get(exercise_id, {})
                lines.append(f"| {exercise_id} | {ex.get('status', 'missing').replace('_', ' ')} | {points:g} of "
                             f"{spec.exercises[exercise_id]:g} | {ex.get('hidden_passed', 0)} of "
                             f"{ex.get('hidden_total', 0)} | {_md(ex.get('detail', ''))} |")
            lines.append("")
            for index, question in enumerate(spec.questions):
                text = r["answers"][index] if index < len(r.get("answers", [])) else ""
                given = scores.get((row["student"], number, question.id))
                mark = f"{given[0]:g} of {question.points:g}" if given else (
                    f"0 of {question.points:g} (no answer)" if not text else "not scored yet")
                lines += [f"### Written answer {question.id}: {mark}", "", f"> {_md(text) or '(empty)'}", "",
                          *([f"Comment: {_md(given[1])}", ""] if given and given[1] else []),
                          f"Rubric: {_md(question.rubric)}", ""]
        if row["flags"]:
            lines += ["## To discuss with your instructor", "", *[f"- {_md(f)}" for f in row["flags"]], ""]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", row["student"]) or "student"
        (folder / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")
    return folder


def _summary(path: Path, results: Sequence[dict], rows: Sequence[dict], settings: Any) -> Path:
    counts = Counter(r["status"] for r in results)
    mode = sandbox.UNSAFE_NOTE if settings.unsafe and not sandbox.available() else "bubblewrap sandbox"
    lines = ["# Grading summary", "", f"- uploads graded: {len(results)} "
             f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})",
             f"- students: {len(rows)}; isolation: {mode}",
             f"- workers: {settings.cluster or f'{settings.jobs} local process(es)'}", ""]
    by_exercise: dict[str, Counter] = {}
    for r in results:
        for exercise_id, ex in r.get("exercises", {}).items():
            by_exercise.setdefault(exercise_id, Counter())[ex["status"]] += 1
    lines += ["| exercise | passed | failed | not attempted | missing |", "|---|---|---|---|---|"]
    lines += [f"| {i} | {c['passed']} | {c['failed']} | {c['not_attempted']} | {c['missing']} |"
              for i, c in sorted(by_exercise.items())]
    flagged = [(row["student"], f) for row in rows for f in row["flags"]]
    lines += ["", "## Flagged (read these notebooks)", ""]
    lines += [f"- {_md(s)}: {_md(f)}" for s, f in flagged] or ["Nothing."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_all(out: Path, results: Sequence[dict], rows: Sequence[dict], settings: Any,
              scores: Mapping[tuple[str, str, str], tuple[float, str]]) -> dict[str, Path]:
    """Write every output file (see the module docstring); returns them by name."""
    out.mkdir(parents=True, exist_ok=True)
    canvas, moodle = _lms(out, rows, settings.config, settings.roster)
    return {"gradebook": _gradebook(out / "gradebook.csv", rows, settings.config), "canvas": canvas,
            "moodle": moodle, "submissions": _submissions(out / "submissions.csv", results),
            "written_answers": _written(out / "written_answers.csv", results, settings.config, scores),
            "feedback": _feedback(out / "feedback", rows, results, settings.config, scores),
            "summary": _summary(out / "summary.md", results, rows, settings)}
