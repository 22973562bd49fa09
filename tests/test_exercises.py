"""Tests for labkit.exercises: registry, evaluate/check, the comparator and collect_results."""
from __future__ import annotations

import copy
import doctest
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labkit
import labkit.exercises as ex_pkg
from labkit.exercises import (
    MIME_TYPE,
    Case,
    CheckResult,
    Exercise,
    UnknownExerciseError,
    check,
    collect_results,
    compare_values,
    evaluate,
    exercise,
    exercise_ids,
    get_exercise,
    register,
)
from labkit.exercises import _core


# --------------------------------------------------------------------------------------------------
# A toy bank
# --------------------------------------------------------------------------------------------------
def summary(values):
    """Reference: mean and max of a list of numbers."""
    return {"mean": sum(values) / len(values), "max": max(values)}


def add_total(df):
    """Reference: a new frame with a 'total' column (the input is left alone)."""
    return df.assign(total=df["a"] + df["b"])


BUILD_CALLS = []


def _summary_cases():
    BUILD_CALLS.append(1)
    return [
        Case(args=([1, 2, 3],), label="small"),
        Case(args=([10.0, -2.0, 4.5, 7.25],), label="mixed"),
    ]


@pytest.fixture(autouse=True)
def toy_registry(monkeypatch):
    """Each test sees a private registry holding only the toy exercises."""
    monkeypatch.setattr(_core, "_REGISTRY", {})
    BUILD_CALLS.clear()
    register(Exercise("99.summary", "Summary statistics", summary, _summary_cases,
                      hint="Use sum(values) / len(values)."))
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [10.0, 20.0, 30.0]})
    register(Exercise("99.add_total", "Add a total column", add_total,
                      [Case(args=(frame,), label="three rows")]))


# --------------------------------------------------------------------------------------------------
# evaluate: the statuses
# --------------------------------------------------------------------------------------------------
def test_right_answer_passes_and_returns_the_candidate():
    def mine(values):
        return {"max": max(values), "mean": float(np.mean(values))}

    result = evaluate("99.summary", mine)
    assert result.status == "passed" and result.passed
    assert result.function is mine
    assert result.detail == "2 cases match the reference"


def test_wrong_answer_describes_the_first_mismatch():
    def mine(values):
        return {"mean": sum(values) / (len(values) - 1), "max": max(values)}

    result = evaluate("99.summary", mine)
    assert result.status == "failed"
    assert result.detail == "case 'small': key 'mean': expected 2, got 3"
    assert result.function is summary
    assert "Hint: Use sum(values) / len(values)." in result.message


def test_wrong_type_says_what_came_back():
    result = evaluate("99.summary", lambda values: "mean=2")
    assert result.status == "failed"
    assert result.detail == "case 'small': returned a str ('mean=2'), expected a dict"


def test_missing_key_is_named():
    result = evaluate("99.summary", lambda values: {"mean": 2.0})
    assert result.detail == "case 'small': returned a dict with 1 key, expected 2 (missing: 'max')"


def test_raising_candidate_reports_type_message_and_line():
    def mine(values):
        total = sum(values)
        return {"mean": total / 0, "max": max(values)}

    result = evaluate("99.summary", mine)
    assert result.status == "failed"
    line = mine.__code__.co_firstlineno + 2
    assert result.detail == f"case 'small': raised ZeroDivisionError: division by zero (line {line})"
    assert "Traceback" not in result.message


def test_not_attempted_returns_the_reference():
    def mine(values):
        raise NotImplementedError("Exercise 99.summary: not attempted yet")

    result = evaluate("99.summary", mine)
    assert result.status == "not_attempted"
    assert result.function is summary
    assert result.message.startswith("⏳ Summary statistics (99.summary): not attempted yet.")
    assert "continues with the reference version of summary()" in result.message


def test_not_implemented_on_a_later_case_is_a_failure():
    def mine(values):
        if len(values) > 3:
            raise NotImplementedError("long lists")
        return summary(values)

    result = evaluate("99.summary", mine)
    assert result.status == "failed"
    assert result.detail.startswith("case 'mixed': raised NotImplementedError: long lists")


def test_none_candidate_is_not_attempted():
    result = evaluate("99.summary", None)
    assert result.status == "not_attempted"
    assert result.function is summary


@pytest.mark.parametrize("candidate, described", [
    pytest.param({"mean": 2}, "a dict with 1 key", id="a-result-instead-of-the-function"),
    pytest.param(42, "an int (42)", id="a-number"),
])
def test_non_callable_candidate_fails(candidate, described):
    result = evaluate("99.summary", candidate)
    assert result.status == "failed"
    assert result.detail.startswith(f"expected a function, got {described}")
    assert result.function is summary


def test_mutating_the_input_fails_with_a_plain_message():
    def mine(df):
        df["total"] = df["a"] + df["b"]
        return df

    result = evaluate("99.add_total", mine)
    assert result.status == "failed"
    assert result.detail.startswith("case 'three rows': changed its input 'df' in place (")
    assert "'total'" in result.detail and "df = df.copy()" in result.detail
    # the stored case was protected by the deep copy
    case = get_exercise("99.add_total").get_cases()[0]
    assert list(case.args[0].columns) == ["a", "b"]


def test_mutating_a_list_is_caught():
    def mine(values):
        values.sort()
        return summary(values)

    result = evaluate("99.summary", mine)
    assert result.detail.startswith(
        "case 'mixed': changed its input 'values' in place (item 0: was 10, now -2"
    )


def test_a_correct_non_mutating_dataframe_function_passes():
    result = evaluate("99.add_total", lambda df: df.assign(total=df.a + df.b))
    assert result.passed


def test_cases_are_built_lazily_and_once():
    assert BUILD_CALLS == []
    evaluate("99.summary", summary)
    evaluate("99.summary", summary)
    assert BUILD_CALLS == [1]


def test_unlabelled_cases_are_numbered():
    ex = Exercise("99.square", "Square", lambda x: x * x, [Case(args=(2,)), Case(args=(3,))])
    assert evaluate(ex, lambda x: 4).detail == "case '#2': expected 9, got 4"


def test_custom_compare_is_used():
    def same_sign(expected, actual):
        return None if (expected > 0) == (actual > 0) else f"sign differs ({actual})"

    ex = Exercise("99.sign", "Sign", lambda x: x, [Case(args=(5,), label="five")], compare=same_sign)
    assert evaluate(ex, lambda x: 1).passed
    assert evaluate(ex, lambda x: -1).detail == "case 'five': sign differs (-1)"


def test_tolerances_of_the_exercise_apply():
    loose = Exercise("99.loose", "Loose", lambda: 1.0, [Case()], rtol=0.01)
    assert evaluate(loose, lambda: 1.005).passed
    assert not evaluate(loose, lambda: 1.02).passed


def test_a_broken_reference_is_reported_as_a_bank_bug():
    ex = Exercise("99.broken", "Broken", lambda: 1 / 0, [Case(label="only")])
    with pytest.raises(RuntimeError, match=r"reference implementation of exercise 99\.broken failed"):
        evaluate(ex, lambda: 1)


# --------------------------------------------------------------------------------------------------
# check: output and return value
# --------------------------------------------------------------------------------------------------
def test_check_without_ipython_prints_the_human_line(monkeypatch, capsys):
    monkeypatch.setattr(_core, "_get_ipython", lambda: None)
    returned = check("99.summary", lambda values: {"mean": 0, "max": 0})
    out = capsys.readouterr().out
    assert returned is summary
    assert out.startswith("❌ Summary statistics (99.summary): failed: case 'small': key 'mean'")
    assert "Hint: Use sum(values) / len(values)." in out
    assert "The lab continues with the reference version of summary()." in out


def test_check_returns_the_candidate_when_it_passes(monkeypatch, capsys):
    monkeypatch.setattr(_core, "_get_ipython", lambda: None)

    def mine(values):
        return summary(values)

    assert check("99.summary", mine) is mine
    assert capsys.readouterr().out.startswith("✅ Summary statistics (99.summary): passed")


def test_check_in_ipython_displays_the_mime_record(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(_core, "_get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.append((objs, kw)))
    check("99.summary", None)
    (objs, kwargs), = shown
    assert kwargs == {"raw": True}
    bundle = objs[0]
    assert bundle["text/plain"].startswith("⏳ Summary statistics")
    assert bundle[MIME_TYPE] == {
        "exercise": "99.summary",
        "status": "not_attempted",
        "detail": "no function was given (None)",
        "labkit_version": labkit.__version__,
    }


def test_check_result_validates_status():
    with pytest.raises(ValueError, match="status must be one of"):
        CheckResult("99.x", "X", "maybe", "")


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------
def test_unknown_id_in_a_known_bank_lists_the_ids():
    with pytest.raises(UnknownExerciseError, match=r"unknown exercise '99\.nope': bank '99' defines "
                                                   r"'99\.add_total', '99\.summary'") as info:
        get_exercise("99.nope")
    assert isinstance(info.value, KeyError)
    assert not str(info.value).startswith('"')  # no KeyError quoting


def test_unknown_bank_is_a_clear_error():
    message = r"no exercise bank '98' \(no module labkit\.exercises\.nb98\)"
    with pytest.raises(UnknownExerciseError, match=message):
        get_exercise("98.anything")


@pytest.mark.parametrize("bad", ["regression_report", "01-x", "01.", ".x"])
def test_malformed_id(bad):
    with pytest.raises(UnknownExerciseError, match="is not an exercise id"):
        get_exercise(bad)


def test_bank_is_imported_lazily(monkeypatch, tmp_path):
    (tmp_path / "nb97.py").write_text(textwrap.dedent('''
        from labkit.exercises import Case, exercise

        @exercise("97.double", "Double it", cases=[Case(args=(2,))])
        def double(x):
            return 2 * x
    '''))
    monkeypatch.setattr(ex_pkg, "__path__", [*ex_pkg.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "labkit.exercises.nb97", raising=False)
    try:
        assert "97.double" not in exercise_ids()
        assert get_exercise("97.double").title == "Double it"
        assert exercise_ids("97") == ["97.double"]
        assert evaluate("97.double", lambda x: x + x).passed
        with pytest.raises(UnknownExerciseError, match="bank '97' defines '97.double'"):
            get_exercise("97.triple")
    finally:
        sys.modules.pop("labkit.exercises.nb97", None)


def test_duplicate_registration_is_refused_unless_replacing():
    again = Exercise("99.summary", "Again", summary, [Case(args=([1],))])
    with pytest.raises(ValueError, match="already registered"):
        register(again)
    register(again, replace=True)
    assert get_exercise("99.summary").title == "Again"


def test_decorator_returns_the_function():
    @exercise("99.triple", "Triple", cases=[Case(args=(1,))])
    def triple(x):
        return 3 * x

    assert triple(2) == 6
    assert get_exercise("99.triple").reference is triple


@pytest.mark.parametrize("kwargs, error, match", [
    pytest.param({"id": "bad id"}, ValueError, "must look like", id="bad-id"),
    pytest.param({"title": ""}, ValueError, "title must be a non-empty", id="empty-title"),
    pytest.param({"reference": 3}, TypeError, "reference must be a function", id="reference"),
    pytest.param({"cases": 3}, TypeError, "cases must be a list of Case", id="cases"),
    pytest.param({"rtol": -1.0}, ValueError, "rtol must be a finite number", id="rtol"),
])
def test_exercise_validation(kwargs, error, match):
    fields = {"id": "99.x", "title": "X", "reference": abs, "cases": [Case(args=(1,))], **kwargs}
    with pytest.raises(error, match=match):
        Exercise(**fields)


def test_case_validation():
    with pytest.raises(TypeError, match=r"Case.args must be a tuple.*args=\(value,\)"):
        Case(args=[1, 2])
    ex = Exercise("99.bad_cases", "Bad", abs, lambda: [(1,)])
    with pytest.raises(TypeError, match="every case must be a labkit.exercises.Case"):
        evaluate(ex, abs)
    with pytest.raises(ValueError, match="has no cases"):
        evaluate(Exercise("99.no_cases", "None", abs, []), abs)


# --------------------------------------------------------------------------------------------------
# Comparator
# --------------------------------------------------------------------------------------------------
FRAME = pd.DataFrame({"hr": [0, 1, 2], "cnt": [16.0, 40.0, 32.0], "season": ["w", "w", "s"]})


@pytest.mark.parametrize("expected, actual, message", [
    pytest.param(64.2134, 41.07, "expected 64.21, got 41.07", id="float"),
    pytest.param(64.2134, 64.2139, "expected 64.213, got 64.214", id="float-close-digits"),
    pytest.param(3, 4, "expected 3, got 4", id="int"),
    pytest.param(1.0, float("nan"), "expected 1, got nan", id="nan"),
    pytest.param(1.0, "1.0", "returned a str ('1.0'), expected a number", id="str-for-number"),
    pytest.param(True, 1, "returned an int (1), expected a bool (True or False)", id="int-for-bool"),
    pytest.param("abc", "abd", "expected 'abc', got 'abd'", id="str"),
    pytest.param(None, 0, "returned an int (0), expected None", id="none"),
    pytest.param({"rmse": 64.21}, {"rmse": 41.07}, "key 'rmse': expected 64.21, got 41.07", id="dict-value"),
    pytest.param({"a": 1, "b": 2}, {"a": 1, "c": 2},
                 "returned a dict with different keys (missing: 'b'; unexpected: 'c')", id="dict-keys"),
    pytest.param([1, 2, 3], (1, 2), "returned a tuple of 2 items, expected 3", id="list-length"),
    pytest.param([1, [2, {"x": 3}]], [1, [2, {"x": 4}]], "item 1: item 1: key 'x': expected 3, got 4",
                 id="nested"),
    pytest.param({1, 2}, {2, 3}, "returned a set with different items (missing: 1; unexpected: 3)", id="set"),
    pytest.param(np.arange(3.0), [0.0, 1.0, 2.0],
                 "returned a list of 3 items, expected a numpy array (convert it with np.asarray(...))",
                 id="list-for-array"),
    pytest.param(np.arange(3), np.arange(4), "returned an array of shape (4,), expected shape (3,)",
                 id="array-shape"),
    pytest.param(np.zeros((2, 2)), np.eye(2), "index (0, 0): expected 0, got 1 (2 of 4 values differ)",
                 id="array-2d"),
    pytest.param(FRAME, FRAME[["hr", "season"]],
                 "returned a DataFrame with 2 columns, expected 3 (missing: 'cnt')", id="frame-missing-column"),
    pytest.param(FRAME, FRAME.iloc[:2], "returned a DataFrame with 2 rows, expected 3", id="frame-rows"),
    pytest.param(FRAME, FRAME.assign(cnt=[16.0, 41.0, 32.0]),
                 "column 'cnt': row 1: expected 40, got 41 (1 of 3 values differ)", id="frame-value"),
    pytest.param(FRAME, FRAME.iloc[::-1], "index: the rows are in a different order than expected "
                 "(keep the original order or sort with .sort_index())", id="frame-order"),
    pytest.param(FRAME, FRAME.set_index(FRAME.index + 5),
                 "index: at row 0: expected 0, got 5 (reset it with .reset_index(drop=True))", id="frame-index"),
    pytest.param(FRAME, FRAME["cnt"], "returned a Series of length 3, expected a DataFrame "
                 "(turn it into a table with .to_frame())", id="series-for-frame"),
    pytest.param(FRAME["cnt"], FRAME["cnt"].to_numpy(), "returned a numpy array of shape (3,), expected a Series",
                 id="array-for-series"),
    pytest.param(FRAME, FRAME.assign(hr=FRAME.hr.astype(str)),
                 "column 'hr': got non-numeric values (first: '0'), expected numbers", id="frame-str-column"),
])
def test_first_mismatch_in_plain_words(expected, actual, message):
    assert compare_values(expected, actual) == message


@pytest.mark.parametrize("expected, actual", [
    pytest.param(0.1 + 0.2, 0.3, id="float-rounding"),
    pytest.param(2, 2.0, id="int-vs-float"),
    pytest.param(np.float64(1.5), 1.5, id="numpy-scalar"),
    pytest.param(float("nan"), np.nan, id="nan-equals-nan"),
    pytest.param((1, 2), [1, 2], id="tuple-vs-list"),
    pytest.param(FRAME, FRAME[["season", "cnt", "hr"]], id="column-order-ignored"),
    pytest.param(FRAME, FRAME.astype({"hr": float, "cnt": "Float64"}), id="dtype-lenient"),
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
    with pytest.raises(ValueError, match="atol must be a finite number"):
        compare_values(1, 1, atol=-1)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=20,
)


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


# --------------------------------------------------------------------------------------------------
# collect_results and doctests
# --------------------------------------------------------------------------------------------------
def _output(record):
    return {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "x", MIME_TYPE: record}}


def test_collect_results_reads_records_in_order(tmp_path):
    import json

    first = {"exercise": "01.a", "status": "passed", "detail": "", "labkit_version": "0.1.0"}
    second = {"exercise": "01.b", "status": "failed", "detail": "case '#1': ...", "labkit_version": "0.1.0"}
    nb = {"cells": [
        {"cell_type": "markdown", "id": "m", "source": "", "metadata": {}},
        {"cell_type": "code", "id": "c1", "source": "", "metadata": {},
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}, _output(first)]},
        {"cell_type": "code", "id": "c2", "source": "", "metadata": {},
         "outputs": [_output(json.dumps(second))]},  # JSON stored as text by some writers
    ]}
    expected = [{**first, "cell_id": "c1"}, {**second, "cell_id": "c2"}]
    assert collect_results(nb) == expected
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert collect_results(path) == expected
    assert collect_results(str(path)) == expected


def test_collect_results_rejects_non_notebooks():
    with pytest.raises(TypeError, match="expects a notebook"):
        collect_results([1, 2])


def test_doctests():
    result = doctest.testmod(_core, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_public_api():
    assert set(ex_pkg.__all__) == set(_core.__all__)
    assert all(hasattr(ex_pkg, name) for name in ex_pkg.__all__)
