"""labkit.exercises: the checker, the comparator, the recorded bank and its fallback, hints, progress and
self-checked questions; and that the shipped banks agree with the instructor's references."""
from __future__ import annotations

import copy
import inspect
import json
import textwrap
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labkit.exercises as ex
from labkit.exercises import (MIME_TYPE, ExerciseNotDoneError, UnknownExerciseError, call_fingerprint, check,
                              compare_values, evaluate, fingerprint, load_bank, sketches_match)
from labkit.exercises import _bank, _check
from labkit_instructor import bank as writer
from labkit_instructor.release import collect_results
from labkit_instructor import exercises as key


# --------------------------------------------------------------------------------------------------
# A toy bank, written by the instructor's writer into a temporary folder
# --------------------------------------------------------------------------------------------------
def summary(values):
    """Reference: mean and max of a list of numbers."""
    return {"mean": sum(values) / len(values), "max": max(values)}


def add_total(df, column="total"):
    """Reference: a new frame with a total column (the input is left alone)."""
    return df.assign(**{column: df["a"] + df["b"]})


FRAME = pd.DataFrame({"a": [1, 2, 3], "b": [10.0, 20.0, 30.0]})
SUMMARY = key.Exercise("99.summary", "Summary statistics", summary,
                       visible=lambda: [key.Case(args=([1, 2, 3],), label="small"),
                                        key.Case(args=([10.0, -2.0, 4.5, 7.25],), label="mixed")],
                       hidden=lambda: [key.Case(args=([5, 5],))],
                       hints=("The mean divides the total by the count.", "Use sum() and len()."))
ADD_TOTAL = key.Exercise("99.add_total", "Add a total column", add_total,
                         visible=lambda: [key.Case(args=(FRAME,), label="three rows")], hidden=lambda: [],
                         hints=("Work on a copy.",), reads={"df": ["a", "b"]})
LOOSE = key.Exercise("99.loose", "Loose", lambda x: x * 1.0, visible=lambda: [key.Case(args=(1.0,))],
                     hidden=lambda: [], hints=("One hint.",), rtol=0.01)
CHOICE = key.Question("99.q_leak", "Which column leaks?", answer="b", choices=("a", "b", "c"),
                      explanations={"a": "No: temp is known in advance.", "b": "Yes: cnt = casual + registered.",
                                    "c": "No: hr is a calendar feature."})
NUMBER = key.Question("99.q_shift", "How many degrees?", answer=0.26, digits=2,
                      explanations={"right": "0.05 standard deviations of temp is about 0.26 °C."},
                      wrong="Multiply the share of a standard deviation by temp's standard deviation in °C.")
RECORDED_CALLS = {"99.summary": [(([1, 2, 3],), {}), (([0.1, 0.2],), {})],
                  "99.add_total": [((FRAME,), {}), ((FRAME,), {"column": "sum"})]}


def _toy_bank(folder):
    w = writer.BankWriter()
    meta = {"format": 1, "notebook": "99", "exercises": {}, "questions": {}}
    for exercise in (SUMMARY, ADD_TOTAL, LOOSE):
        entry = writer.exercise_meta(exercise, w, optional=exercise is LOOSE)  # LOOSE: in "Going further"
        entry["fallback"] = []
        for args, kwargs in RECORDED_CALLS.get(exercise.id, []):
            bound = _bind(exercise, args, kwargs)
            k, sketch = call_fingerprint(entry, bound)
            result = w.encode(exercise.reference(*args, **kwargs))
            entry["fallback"].append({"key": k, "sketch": sketch, "result": result})
        meta["exercises"][exercise.id] = entry
    for question in (CHOICE, NUMBER):
        meta["questions"][question.id] = writer._question_meta(question, None)
    writer.write_bank("99", meta, w.blobs, bank_dir=folder)


def _bind(exercise, args, kwargs):
    bound = inspect.signature(exercise.reference).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A session whose only recorded bank is the toy bank 99, with a fresh checker state."""
    _toy_bank(tmp_path)
    monkeypatch.setattr(_bank, "BANK_DIR", tmp_path)
    monkeypatch.setattr(_check, "_STATE", {})
    monkeypatch.setattr(_check, "_FAILURES", Counter())
    monkeypatch.setattr(_check, "_HINTS_SHOWN", Counter())
    monkeypatch.setattr(_check, "_show", lambda text, record=None: SHOWN.append((text, record)))
    load_bank.cache_clear()
    SHOWN.clear()
    yield tmp_path
    load_bank.cache_clear()


SHOWN: list = []
_SHOW = _check._show  # the real one, before a fixture replaces it


def shown() -> str:
    return "\n".join(text for text, _ in SHOWN)


# --------------------------------------------------------------------------------------------------
# evaluate: statuses and messages
# --------------------------------------------------------------------------------------------------
def test_right_answer_passes_and_returns_the_candidate(toy):
    def mine(values):
        return {"max": max(values), "mean": float(np.mean(values))}

    result = evaluate("99.summary", mine)
    assert result.status == "passed" and result.function is mine
    assert result.detail == "2 cases match"


def test_wrong_answer_describes_the_first_mismatch_and_falls_back(toy):
    result = evaluate("99.summary", lambda values: {"mean": sum(values) / (len(values) - 1), "max": max(values)})
    assert result.status == "failed"
    assert result.detail == "case 'small': key 'mean': expected 2, got 3"
    assert result.function.labkit_fallback == "99.summary"
    assert "continues with recorded results of summary()" in result.message


@pytest.mark.parametrize("candidate, detail", [
    pytest.param(lambda values: "mean=2", "case 'small': returned 'mean=2' (str), expected a dict", id="type"),
    pytest.param(lambda values: {"mean": 2.0}, "case 'small': returned a dict with 1 key, expected 2 (missing: 'max')",
                 id="missing-key"),
    pytest.param({"mean": 2}, "expected a function, got {'mean': 2}; pass it without calling it", id="not-callable"),
])
def test_failures_say_what_came_back(toy, candidate, detail):
    assert evaluate("99.summary", candidate).detail == detail


def test_raising_candidate_reports_type_message_and_line(toy):
    def mine(values):
        total = sum(values)
        return {"mean": total / 0, "max": max(values)}

    line = mine.__code__.co_firstlineno + 2
    detail = evaluate("99.summary", mine).detail
    assert detail == f"case 'small': raised ZeroDivisionError: division by zero (line {line})"


def test_not_attempted_and_a_later_not_implemented(toy):
    def untouched(values):
        raise NotImplementedError("Exercise 99.summary: not attempted yet")

    def half(values):
        if len(values) > 3:
            raise NotImplementedError("long lists")
        return summary(values)

    assert evaluate("99.summary", untouched).status == "not_attempted"
    assert evaluate("99.summary", None).status == "not_attempted"
    assert evaluate("99.summary", half).detail.startswith("case 'mixed': raised NotImplementedError: long lists")


def test_changing_an_input_in_place_fails_with_a_plain_message(toy):
    def mine(df, column="total"):
        df[column] = df["a"] + df["b"]
        return df

    detail = evaluate("99.add_total", mine).detail
    assert detail.startswith("case 'three rows': changed its input 'df' in place (")
    assert "'total'" in detail and "df = df.copy()" in detail

    def sorts(values):
        values.sort()
        return summary(values)

    assert evaluate("99.summary", sorts).detail.startswith(
        "case 'mixed': changed its input 'values' in place (item 0: was 10, now -2")


def test_tolerances_of_the_exercise_apply(toy):
    assert evaluate("99.loose", lambda x: 1.005).status == "passed"
    assert evaluate("99.loose", lambda x: 1.02).status == "failed"


# --------------------------------------------------------------------------------------------------
# check: display, refusals, graduated hints, unknown ids
# --------------------------------------------------------------------------------------------------
def test_check_shows_one_line_and_a_machine_record(toy):
    def mine(values):
        return summary(values)

    assert check("99.summary", mine) is mine
    (text, record), = SHOWN
    assert text.startswith("✅ Summary statistics (99.summary): passed")
    assert record == {"exercise": "99.summary", "status": "passed", "detail": "2 cases match"}


def test_check_in_ipython_displays_the_mime_record(monkeypatch, toy):
    import IPython.display

    monkeypatch.setattr(_check, "_show", _SHOW)
    displayed = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: displayed.append((objs, kw)))
    check("99.summary", None)
    (objs, kwargs), = displayed
    assert kwargs == {"raw": True} and objs[0]["text/plain"].startswith("⏳ Summary statistics")
    assert objs[0][MIME_TYPE] == {"exercise": "99.summary", "status": "not_attempted",
                                  "detail": "no function was given (None)"}


def test_graduated_hints_never_on_the_first_failure(toy):
    def wrong(values):
        return {"mean": 0, "max": 0}

    for _ in range(3):
        check("99.summary", wrong)
    first, second, third = (text for text, _ in SHOWN)
    assert "case 'small': key 'mean'" in first and 'run hint("99.summary")' in first and "Hint:" not in first
    assert "Hint: The mean divides the total by the count." in second
    assert "Hint: Use sum() and len()." in third
    SHOWN.clear()
    ex.hint("99.summary"), ex.hint("99.summary"), ex.hint("99.summary")
    assert [t.split(": ", 1)[0] for t, _ in SHOWN] == [
        "💡 Summary statistics (99.summary), hint 1 of 2", "💡 Summary statistics (99.summary), hint 2 of 2",
        "💡 Summary statistics (99.summary), hint 2 of 2"]


def _cell(source: str, name: str, namespace: dict) -> None:
    """Run ``source`` the way a notebook cell runs: its own file name, the notebook's namespace."""
    exec(compile(textwrap.dedent(source), name, "exec"), namespace)


def test_a_misspelled_def_after_a_failed_attempt_is_not_passed(toy):
    """The name is bound to the fallback after the first run; a rerun whose def has a typo must not be ✅."""
    namespace = {"check": check}
    _cell('''
        def summary(values):
            raise NotImplementedError("not attempted yet")
        summary = check("99.summary", summary)
    ''', "<cell-1>", namespace)
    assert namespace["summary"].labkit_fallback == "99.summary"
    _cell('''
        def sumary(values):
            return {"mean": sum(values) / len(values), "max": max(values)}
        summary = check("99.summary", summary)
    ''', "<cell-1-edited>", namespace)
    assert [record["status"] for _, record in SHOWN] == ["not_attempted", "failed"]
    assert "still the recorded fallback" in SHOWN[-1][0] and "✅" not in SHOWN[-1][0]


def test_a_function_from_another_cell_or_module_is_refused(toy):
    namespace = {"check": check}
    _cell("def summary(values):\n    return {'mean': sum(values) / len(values), 'max': max(values)}",
          "<an-earlier-cell>", namespace)
    _cell("summary = check('99.summary', summary)", "<the-exercise-cell>", namespace)
    assert SHOWN[-1][1]["status"] == "failed" and "was not defined in this cell" in SHOWN[-1][0]
    assert namespace["summary"].labkit_fallback == "99.summary"
    check("99.summary", len)  # a built-in: defined nowhere near the cell
    assert "was not defined in this cell" in SHOWN[-1][0]


def test_an_unknown_id_is_reported_and_the_notebook_goes_on(toy):
    def mine(values):
        return summary(values)

    assert check("99.sumary", mine) is mine
    text, record = SHOWN[-1]
    assert text.startswith("❌ check(): id: expected one of the lab's exercises, got '99.sumary'")
    assert "did you mean '99.summary'?" in text and "'99.add_total'" in text and record["status"] == "failed"
    with pytest.raises(UnknownExerciseError, match="got 42"):
        evaluate(42, mine)


def test_a_number_missing_its_last_digit_is_shown_with_it():
    """0.06286 beside 0.062861 reads like a rounding of the same number; 0.062860 shows the difference."""
    assert ex.compare_values(0.062861, 0.06286) == "expected 0.062861, got 0.062860"
    assert ex.compare_values(2.0, 3.0) == "expected 2, got 3" and ex.compare_values(1.5, 2.0) == "expected 1.5, got 2"


def test_progress_lists_done_failed_and_untouched(toy):
    def mine(values):
        return summary(values)

    check("99.summary", mine)
    check("99.add_total", lambda df, column="total": df)
    ex.answer("99.q_leak", "b")
    table = ex.progress()
    assert table.set_index("id")["status"].to_dict() == {
        "99.summary": "passed", "99.add_total": "failed", "99.loose": "not run", "99.q_leak": "passed",
        "99.q_shift": "not run"}
    text = SHOWN[-1][0]
    assert text.startswith("2 of 4 done.") and "Next: 99.add_total" in text  # the optional one is not counted
    assert "⏳ 99.loose" in text and "(not run, optional: Going further)" in text
    assert table.set_index("id")["optional"].to_dict() == {
        "99.summary": False, "99.add_total": False, "99.loose": True, "99.q_leak": False, "99.q_shift": False}


def test_progress_never_sends_a_student_back_to_an_optional_exercise(toy):
    def mine(values):
        return summary(values)

    def mine_too(df, column="total"):
        return add_total(df, column)

    check("99.summary", mine)
    check("99.add_total", mine_too)
    ex.answer("99.q_leak", "b")
    ex.answer("99.q_shift", 0.26)
    ex.progress("99")                                # only the optional 99.loose is left
    assert SHOWN[-1][0].startswith("4 of 4 done.") and SHOWN[-1][0].endswith("Next: nothing left here. Well done!")


def test_progress_puts_failures_first_and_points_a_question_to_its_answer(toy):
    check("99.summary", None)                       # not attempted
    ex.answer("99.q_shift", None)                   # seen, not answered yet
    ex.answer("99.q_leak", "a")                     # failed
    table = ex.progress("99")
    assert table.set_index("id")["status"].to_dict() == {
        "99.summary": "not_attempted", "99.add_total": "not run", "99.loose": "not run", "99.q_leak": "failed",
        "99.q_shift": "not run"}
    assert SHOWN[-1][0].endswith("Next: 99.q_leak: go back to its cell (answer it).")
    ex.answer("99.q_leak", "b")
    ex.progress("99")
    assert SHOWN[-1][0].endswith('Next: 99.summary: go back to its cell (hint("99.summary") helps).')


# --------------------------------------------------------------------------------------------------
# The fallback: recorded results, looked up by a rounding-tolerant fingerprint
# --------------------------------------------------------------------------------------------------
def test_the_fallback_answers_recorded_calls_and_refuses_others(toy):
    fallback = evaluate("99.summary", None).function
    assert fallback([1, 2, 3]) == {"mean": 2.0, "max": 3}
    assert fallback(values=[1.0, 2.0, 3.0 + 1e-12]) == {"mean": 2.0, "max": 3}  # rounding-tolerant
    result = fallback([0.1, 0.2])
    result["mean"] = -1
    assert fallback([0.1, 0.2])["mean"] == pytest.approx(0.15)  # a fresh copy each time
    with pytest.raises(ExerciseNotDoneError, match=r"summary\(\): arguments: .* 99.summary must be done first"):
        fallback([4, 5, 6])
    assert str(inspect.signature(fallback)) == "(values)"


def test_the_fallback_binds_defaults_and_reads_only_the_columns_it_needs(toy):
    fallback = evaluate("99.add_total", None).function
    extra = FRAME.assign(latency=[0.1, 0.7, 0.3])  # a column the exercise does not read
    pd.testing.assert_frame_equal(fallback(FRAME, "total"), add_total(FRAME))
    pd.testing.assert_frame_equal(fallback(extra.drop(columns="latency"), column="sum"), add_total(FRAME, "sum"))
    assert list(fallback(extra).columns) == ["a", "b", "total"]
    with pytest.raises(ExerciseNotDoneError):
        fallback(FRAME.assign(a=[1, 2, 4]))


# --------------------------------------------------------------------------------------------------
# Self-checked questions: the answer is stored hashed, each explanation sealed with its own choice
# --------------------------------------------------------------------------------------------------
def test_multiple_choice_and_numeric_questions(toy):
    assert ex.answer("99.q_leak", None) is None and SHOWN[-1][0].startswith("⏳ Which column leaks? (99.q_leak)")
    assert ex.answer("99.q_leak", "a") is False and SHOWN[-1][0] == "❌ Not quite: No: temp is known in advance."
    assert ex.answer("99.q_leak", " B ") is True and SHOWN[-1][0] == "✅ Right: Yes: cnt = casual + registered."
    assert ex.answer("99.q_leak", "d") is None and "answer with 'a', 'b', 'c'" in SHOWN[-1][0]
    assert ex.answer("99.q_shift", 0.2614) is True and "about 0.26 °C" in SHOWN[-1][0]
    assert ex.answer("99.q_shift", 0.4) is False and "Multiply the share" in SHOWN[-1][0]
    assert ex.answer("99.q_shift", "a lot") is None and "answer with a number" in SHOWN[-1][0]
    assert ex.answer("99.q_nope", "a") is None and "did you mean" in SHOWN[-1][0]


def test_the_bank_does_not_hold_answers_or_explanations_in_plain_text(toy):
    text = (toy / "99.json").read_text(encoding="utf-8")
    stored = json.loads(text)["questions"]
    assert '"answer"' not in text and "0.26" not in text
    for explanation in [*CHOICE.explanations.values(), *NUMBER.explanations.values()]:
        assert explanation not in text and explanation[:12] not in text
    assert set(stored["99.q_leak"]) == {"title", "kind", "choices", "salt", "digest", "explanations", "wrong"}


# --------------------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------------------
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_a_value_and_its_copy_have_the_same_fingerprint(value):
    (k1, s1), (k2, s2) = fingerprint(value), fingerprint(copy.deepcopy(value))
    assert k1 == k2 and sketches_match(s1, s2)


def test_fingerprints_ignore_column_order_and_int_vs_float_but_not_values():
    frame = pd.DataFrame({"hr": [0, 1, 2], "cnt": [16, 40, 32], "day": pd.to_datetime(["2011-01-01"] * 3)})
    same = frame[["day", "cnt", "hr"]].astype({"cnt": float})
    (k1, s1), (k2, s2) = fingerprint(frame), fingerprint(same)
    assert k1 == k2 and sketches_match(s1, s2)
    k3, s3 = fingerprint(frame.assign(cnt=[16, 40, 33]))
    assert k3 == k1 and not sketches_match(s1, s3)
    assert fingerprint(frame.assign(day=frame["day"] + pd.Timedelta("1h")))[0] != k1
    k4, s4 = fingerprint(frame.iloc[::-1])
    assert k4 != k1 or not sketches_match(s1, s4)


# --------------------------------------------------------------------------------------------------
# The comparator
# --------------------------------------------------------------------------------------------------
COMPARED = pd.DataFrame({"hr": [0, 1, 2], "cnt": [16.0, 40.0, 32.0], "season": ["w", "w", "s"]})


@pytest.mark.parametrize("expected, actual, message", [
    pytest.param(64.2134, 41.07, "expected 64.21, got 41.07", id="float"),
    pytest.param(64.2134, 64.2139, "expected 64.213, got 64.214", id="float-close-digits"),
    pytest.param(3, 4, "expected 3, got 4", id="int"),
    pytest.param(1.0, float("nan"), "expected 1, got nan", id="nan"),
    pytest.param(1.0, "1.0", "returned '1.0' (str), expected a number", id="str-for-number"),
    pytest.param(True, 1, "returned 1 (int), expected a bool (True or False)", id="int-for-bool"),
    pytest.param("abc", "abd", "expected 'abc', got 'abd'", id="str"),
    pytest.param(None, 0, "returned 0 (int), expected None", id="none"),
    pytest.param({"rmse": 64.21}, {"rmse": 41.07}, "key 'rmse': expected 64.21, got 41.07", id="dict-value"),
    pytest.param({"a": 1, "b": 2}, {"a": 1, "c": 2},
                 "returned a dict with different keys (missing: 'b'; unexpected: 'c')", id="dict-keys"),
    pytest.param([1, 2, 3], (1, 2), "returned a tuple of 2 items, expected 3", id="list-length"),
    pytest.param([1, [2, {"x": 3}]], [1, [2, {"x": 4}]], "item 1: item 1: key 'x': expected 3, got 4", id="nested"),
    pytest.param(np.arange(3.0), [0.0, 1.0, 2.0],
                 "returned a list of 3 items, expected a numpy array (convert it with np.asarray(...))",
                 id="list-for-array"),
    pytest.param(np.arange(3), np.arange(4), "returned an array of shape (4,), expected shape (3,)", id="array-shape"),
    pytest.param(np.zeros((2, 2)), np.eye(2), "index (0, 0): expected 0, got 1 (2 of 4 values differ)", id="array-2d"),
    pytest.param(COMPARED, COMPARED[["hr", "season"]],
                 "returned a DataFrame with 2 columns, expected 3 (missing: 'cnt')", id="frame-missing-column"),
    pytest.param(COMPARED, COMPARED.iloc[:2], "returned a DataFrame with 2 rows, expected 3", id="frame-rows"),
    pytest.param(COMPARED, COMPARED.assign(cnt=[16.0, 41.0, 32.0]),
                 "column 'cnt': row 1: expected 40, got 41 (1 of 3 values differ)", id="frame-value"),
    pytest.param(COMPARED, COMPARED.iloc[::-1], "index: the rows are in a different order than expected "
                 "(keep the original order or sort with .sort_index())", id="frame-order"),
    pytest.param(COMPARED, COMPARED.set_index(COMPARED.index + 5),
                 "index: at row 0: expected 0, got 5 (reset it with .reset_index(drop=True))", id="frame-index"),
    pytest.param(COMPARED, COMPARED["cnt"], "returned <Series of 3 float64>, expected a DataFrame "
                 "(turn it into a table with .to_frame())", id="series-for-frame"),
    pytest.param(COMPARED["cnt"], COMPARED, "returned <DataFrame 3×3>, expected a Series "
                 "(select one column with df[name])", id="frame-for-series"),
    pytest.param(COMPARED["cnt"], COMPARED["cnt"].to_numpy(), "returned <ndarray (3,) float64>, expected a Series",
                 id="array-for-series"),
    pytest.param(COMPARED, COMPARED.assign(hr=COMPARED.hr.astype(str)),
                 "column 'hr': got non-numeric values (first: '0'), expected numbers", id="frame-str-column"),
    pytest.param(pd.Series(pd.to_datetime(["2011-01-01", "2011-01-02"])),
                 pd.Series(pd.to_datetime(["2011-01-01", "2011-01-03"])),
                 "row 1: expected Timestamp('2011-01-02 00:00:00'), got Timestamp('2011-01-03 00:00:00') "
                 "(1 of 2 values differ)",
                 id="datetimes"),
])
def test_first_mismatch_in_plain_words(expected, actual, message):
    assert compare_values(expected, actual) == message


@pytest.mark.parametrize("expected, actual", [
    pytest.param(0.1 + 0.2, 0.3, id="float-rounding"),
    pytest.param(2, 2.0, id="int-vs-float"),
    pytest.param(np.float64(1.5), 1.5, id="numpy-scalar"),
    pytest.param(float("nan"), np.nan, id="nan-equals-nan"),
    pytest.param((1, 2), [1, 2], id="tuple-vs-list"),
    pytest.param(COMPARED, COMPARED[["season", "cnt", "hr"]], id="column-order-ignored"),
    pytest.param(COMPARED, COMPARED.astype({"hr": float, "cnt": "Float64"}), id="dtype-lenient"),
    pytest.param(pd.Series([1, None], dtype="Int64"), pd.Series([1.0, np.nan], name="x"), id="nullable-and-name"),
    pytest.param(pd.Series(pd.to_datetime(["2011-01-01", None])), pd.Series(pd.to_datetime(["2011-01-01", None])),
                 id="datetimes-with-nat"),
    pytest.param(pd.Series(["a", None]), pd.Series(["a", np.nan]), id="missing-strings"),
])
def test_equal_values_match(expected, actual):
    assert compare_values(expected, actual) is None


def test_tolerance_is_relative_to_expected():
    assert compare_values(1000.0, 1000.5, rtol=1e-3) is None
    assert compare_values(1000.0, 1002.0, rtol=1e-3) == "expected 1000, got 1002"
    with pytest.raises(ValueError, match=r"compare_values\(\): atol: expected a finite number >= 0"):
        compare_values(1, 1, atol=-1)


@settings(max_examples=200, deadline=None)
@given(json_like)
def test_any_value_matches_its_deep_copy(value):
    assert compare_values(value, copy.deepcopy(value)) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=20), st.data())
def test_a_changed_array_element_is_reported(values, data):
    expected = np.array(values)
    i = data.draw(st.integers(0, len(values) - 1))
    actual = expected.copy()
    actual[i] = expected[i] + 1 + abs(expected[i])
    message = compare_values(expected, actual)
    assert message is not None and message.startswith(f"index {i}: expected ")


def test_collect_results_reads_records_in_order():
    first = {"exercise": "01.a", "status": "passed", "detail": ""}
    nb = {"cells": [{"cell_type": "markdown", "id": "m", "source": ""},
                    {"cell_type": "code", "id": "c1", "outputs": [
                        {"output_type": "stream", "text": "hi"},
                        {"output_type": "display_data", "data": {"text/plain": "x", MIME_TYPE: first}}]}]}
    assert collect_results(nb) == [{**first, "cell_id": "c1"}]


# --------------------------------------------------------------------------------------------------
# The shipped banks: in step with the instructor's references (fast: visible cases only)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("notebook", key.NOTEBOOKS)
def test_the_recorded_bank_agrees_with_the_references(notebook):
    load_bank.cache_clear()
    bank = load_bank(notebook)
    assert bank is not None, f"no recorded bank for notebook {notebook}: run `labkit-instructor sync`"
    exercises = key.exercises(notebook)
    assert list(bank.exercises) == [e.id for e in exercises], "run `labkit-instructor sync`"
    for exercise in exercises:
        recorded = bank.exercises[exercise.id]
        assert (recorded["title"], recorded["hints"], recorded["rtol"], recorded["atol"]) == (
            exercise.title, list(exercise.hints), exercise.rtol, exercise.atol), exercise.id
        assert len(exercise.hints) >= 2, f"{exercise.id}: give a conceptual hint and a more concrete one"
        cases = list(exercise.visible())
        assert len(cases) == len(recorded["cases"]), exercise.id
        for case, stored in zip(cases, recorded["cases"]):
            assert fingerprint(bank.value(stored["args"]))[0] == fingerprint(list(case.args))[0], exercise.id
            expected = exercise.reference(*copy.deepcopy(case.args), **copy.deepcopy(dict(case.kwargs)))
            assert compare_values(expected, bank.value(stored["expected"]), rtol=1e-12, atol=1e-12) is None
        assert recorded["fallback"], f"{exercise.id}: no recorded calls: run `labkit-instructor sync --execute`"
        for entry in recorded["fallback"]:  # every recorded result decodes
            bank.value(entry["result"])


@pytest.mark.parametrize("notebook", key.NOTEBOOKS)
def test_every_reference_passes_its_own_recorded_check(notebook):
    load_bank.cache_clear()
    for exercise in key.exercises(notebook):
        assert evaluate(exercise.id, exercise.reference).status == "passed", exercise.id


def test_the_student_package_holds_no_reference_code():
    import labkit

    text = "\n".join(p.read_text(encoding="utf-8") for p in ex.BANK_DIR.parent.glob("*.py"))
    assert "def split_by_time" not in text and "labkit_instructor" not in text
    assert not list(ex.BANK_DIR.parent.glob("nb*.py")), "reference banks belong to the instructor package"
    assert labkit.__name__ == "labkit"
