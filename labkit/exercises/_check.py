"""What a notebook calls: ``check``, ``hint``, ``progress`` and ``answer``."""
from __future__ import annotations

import hashlib
import inspect
import sys
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import pandas as pd

from labkit._validate import close_matches, describe, fail, short_list
from labkit.exercises._bank import Bank, load_bank, make_fallback, notebooks
from labkit.exercises._compare import Comparer

MIME_TYPE = "application/vnd.labkit.check+json"
_ICONS = {"passed": "✅", "failed": "❌", "not_attempted": "⏳", "not run": "⏳"}  # progress() sorts by this order
_STATE: dict[str, str] = {}  # exercise or question id -> its last status in this session
_FAILURES: Counter = Counter()
_HINTS_SHOWN: Counter = Counter()


class UnknownExerciseError(LookupError):
    """An exercise or question id that no recorded bank defines."""


@dataclass(frozen=True)
class CheckResult:
    """A check's outcome; ``function`` is what the notebook uses next (the student's, or the fallback)."""

    exercise: str
    title: str
    status: str  # "passed", "failed" or "not_attempted"
    detail: str
    hint: str = ""
    function: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    @property
    def message(self) -> str:
        head = f"{_ICONS[self.status]} {self.title} ({self.exercise})"
        if self.status == "passed":
            return f"{head}: passed ({self.detail})."
        lines = [f"{head}: not attempted yet." if self.status == "not_attempted" else f"{head}: failed: {self.detail}"]
        return "\n".join(lines + [f"   {self.hint}"] * bool(self.hint) + [f"   The lab continues with recorded results "
                          f"of {self.exercise.split('.', 1)[1]}() for the calls this notebook makes."])


def _lookup(item_id: Any, kind: str = "exercises") -> tuple[Bank, dict]:
    bank = load_bank(str(item_id).split(".", 1)[0])
    if not isinstance(item_id, str) or item_id not in getattr(bank, kind, {}):
        known = [i for nb in notebooks() for i in getattr(load_bank(nb), kind)]
        near, mine = close_matches(item_id, known, 1), [i for i in known if i[:3] == str(item_id)[:3]] or known
        fix = (f"did you mean {near[0]!r}? " if near else "") + f"Known ids here: {short_list(mine)}"
        raise fail("check" if kind == "exercises" else "answer", "id", f"one of the lab's {kind}", item_id, fix,
                   UnknownExerciseError)
    return bank, getattr(bank, kind)[item_id]


def evaluate(exercise_id: str, candidate: Any) -> CheckResult:
    """Run ``candidate`` on the visible cases and compare with the recorded outputs (no display, no hints)."""
    (bank, ex), name = _lookup(exercise_id), exercise_id.split(".", 1)[1]

    def result(status: str, detail: str) -> CheckResult:
        chosen = candidate if status == "passed" else make_fallback(exercise_id, ex, bank)
        return CheckResult(exercise_id, ex["title"], status, detail, function=chosen)

    if candidate is None:
        return result("not_attempted", "no function was given (None)")
    if getattr(candidate, "labkit_fallback", None):
        return result("failed", f"{name} is still the recorded fallback, not your function: the def in this cell "
                                f"did not define {name} (check the name on the def line), or did not run")
    if not callable(candidate):
        return result("failed", f"expected a function, got {describe(candidate)}; pass it without calling it")
    for number, case in enumerate(ex["cases"], start=1):
        prefix = f"case {case.get('label') or '#' + str(number)!r}"
        args, kwargs = bank.value(case["args"]), bank.value(case["kwargs"])
        try:
            actual = candidate(*args, **kwargs)
        except Exception as exc:  # the student's code may raise anything: report it, never re-raise
            if isinstance(exc, NotImplementedError) and number == 1:
                return result("not_attempted", "raised NotImplementedError (the exercise is not written yet)")
            return result("failed", f"{prefix}: {_raised(exc, candidate)}")
        before = list(zip([p["name"] for p in ex["signature"]], bank.value(case["args"])))
        for (arg, old), new in zip(before + list(bank.value(case["kwargs"]).items()), [*args, *kwargs.values()]):
            changed = Comparer(0.0, 0.0, verbs=("it is now", "was", "now")).compare(old, new, "")
            if changed:
                return result("failed", f"{prefix}: changed its input {arg!r} in place ({changed}); work on a copy, "
                                        f"e.g. {arg} = {arg}.copy()")
        try:
            difference = Comparer(ex["rtol"], ex["atol"]).compare(bank.value(case["expected"]), actual, "")
        except Exception as exc:
            difference = f"the result could not be compared ({type(exc).__name__}: {exc})"
        if difference:
            return result("failed", f"{prefix}: {difference}")
    return result("passed", f"{len(ex['cases'])} cases match")


def _raised(exc: BaseException, candidate: Callable) -> str:
    file = getattr(getattr(candidate, "__code__", None), "co_filename", None)
    lines = [n for frame, n in traceback.walk_tb(exc.__traceback__) if frame.f_code.co_filename == file]
    text = " ".join(str(exc).split())[:300]
    return f"raised {type(exc).__name__}" + (f": {text}" if text else "") + (f" (line {lines[-1]})" if lines else "")


def _defined_elsewhere(candidate: Any, name: str) -> str | None:
    """Why ``candidate`` was not defined in the cell (or function) that calls ``check``; None when it was."""
    if candidate is None or getattr(candidate, "labkit_fallback", None) or not callable(candidate):
        return None
    code, frame = getattr(inspect.unwrap(candidate), "__code__", None), sys._getframe(2)
    while frame is not None and (code is None or frame.f_code.co_filename != code.co_filename):
        frame = frame.f_back
    return f"{name} was not defined in this cell: write `def {name}(...)` here and run it" if frame is None else None


def check(exercise_id: str, candidate: Any) -> Callable[..., Any]:
    """Check a function defined in the calling cell, show ✅/❌/⏳, return what the notebook uses next: the
    function when it passed, else the *fallback* (recorded results for the calls this notebook makes).
    A first failure names the first difference, later ones add a hint; an unknown id shows ❌::

        regression_report = check("01.regression_report", regression_report)
    """
    try:
        refusal = _defined_elsewhere(candidate, str(exercise_id).split(".", 1)[-1])
        outcome = evaluate(exercise_id, None if refusal else candidate)
    except UnknownExerciseError as exc:
        _show(f"❌ {exc}", {"exercise": str(exercise_id), "status": "failed", "detail": str(exc)})
        return candidate
    outcome = replace(outcome, status="failed", detail=refusal) if refusal else outcome
    _STATE[exercise_id] = outcome.status
    if outcome.status == "failed":
        _FAILURES[exercise_id] += 1
        hints, n = load_bank(exercise_id.split(".")[0]).exercises[exercise_id]["hints"], _FAILURES[exercise_id]
        outcome = replace(outcome, hint=f"Hint: {hints[min(n - 2, len(hints) - 1)]}" if n > 1 and hints else
                          f'Read the first difference above; run hint("{exercise_id}") if you are stuck.')
    _show(outcome.message, {"exercise": exercise_id, "status": outcome.status, "detail": outcome.detail})
    return outcome.function


def hint(exercise_id: str) -> None:
    """Show the next conceptual hint of an exercise (each a little more concrete, never the solution)."""
    try:
        _, ex = _lookup(exercise_id)
    except UnknownExerciseError as exc:
        return _show(f"❌ {exc}")
    k = min(_HINTS_SHOWN[exercise_id], len(ex["hints"]) - 1)
    _HINTS_SHOWN[exercise_id] += 1
    _show(f"💡 {ex['title']} ({exercise_id}), hint {k + 1} of {len(ex['hints'])}: {ex['hints'][k]}")


def progress(notebook: str | None = None) -> pd.DataFrame:
    """Show which exercises and questions are done and which are left (this notebook's, or all); return them."""
    chosen = [notebook] if notebook else sorted({i.split(".", 1)[0] for i in _STATE}) or notebooks()
    rows = [(i, meta["title"], _STATE.get(i, "not run"), meta.get("optional", False)) for bank in
            map(load_bank, map(str, chosen)) if bank for i, meta in {**bank.exercises, **bank.questions}.items()]
    core = sum(not optional for *_, optional in rows)  # "Going further" exercises are listed, not counted
    todo = sorted((i for i, _, s, o in rows if s != "passed" and not o),
                  key=lambda i: list(_ICONS).index(_STATE.get(i, "not run")))
    lines = [f"  {_ICONS[s]} {i:<28} {t} ({s.replace('_', ' ')}{', optional: Going further' * o})"
             for i, t, s, o in rows]
    ask = f'hint("{todo[0]}") helps' if todo and todo[0] not in load_bank(todo[0][:2]).questions else "answer it"
    _show("\n".join([f"{core - len(todo)} of {core} done.", *lines, f"Next: {todo[0]}: go back to its "
                     f"cell ({ask})." if todo else "Next: nothing left here. Well done!"]))
    return pd.DataFrame(rows, columns=["id", "title", "status", "optional"])


def digest(question_id: str, value: str, salt: str) -> str:
    """The salted hash an answer is recorded as (the answer itself is not in the bank)."""
    return hashlib.sha256(f"{salt}|{question_id}|{value}".encode()).hexdigest()


def seal(data: bytes, key: str) -> bytes:
    """XOR with a SHA-256 key stream: sealing twice with the same key gives ``data`` back."""
    stream = b"".join(hashlib.sha256(f"{key}|{i}".encode()).digest() for i in range(len(data) // 32 + 1))
    return bytes(a ^ b for a, b in zip(data, stream))


def answer(question_id: str, choice: Any) -> bool | None:
    """Self-check a question (a letter, a number, or None for "not yet"): ✅/❌ and that choice's explanation."""
    try:
        _, q = _lookup(question_id, "questions")
    except UnknownExerciseError as exc:
        return _show(f"❌ {exc}")
    try:
        value = str(choice).strip().lower() if q["kind"] == "choice" else f"{float(choice):.{q['digits']}g}"
    except (TypeError, ValueError):
        value = None
    if choice is None or value is None or (q["kind"] == "choice" and value not in q["choices"]):
        options = ", ".join(map(repr, q["choices"])) if q["kind"] == "choice" else "a number"
        words = "⏳ {} ({}): not answered yet; replace None with" if choice is None else "❌ {} ({}): answer with"
        return _show(f"{words.format(q['title'], question_id)} {options}.")
    right = digest(question_id, value, q["salt"]) == q["digest"]
    _STATE[question_id] = "passed" if right else "failed"
    sealed = q["explanations"].get(value if q["kind"] == "choice" else "right" if right else "")
    why = seal(bytes.fromhex(sealed), f"{q['salt']}|{question_id}|{value}").decode() if sealed else q.get("wrong", "")
    _show(f"{'✅ Right' if right else '❌ Not quite'}{': ' if why else '.'}{why}")
    return right


def _show(text: str, record: dict | None = None) -> None:
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    if shell is None or record is None:
        return print(text)  # a student-facing checker: printing is its job
    from IPython.display import display

    display({"text/plain": text, MIME_TYPE: record}, raw=True)

