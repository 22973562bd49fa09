"""labkit.scorecard: detection rate, false alarms and delay against an injected drift's truth."""
import numpy as np
import pandas as pd
import pytest

from labkit import simulate as sim
from labkit.scorecard import score_detector, scorecard

DAYS = pd.date_range("2012-01-01", periods=10, freq="D")


def truth_from(bits):
    return pd.DataFrame({"drifted": np.array(bits, dtype=bool)}, index=DAYS[: len(bits)])


def test_perfect_detector():
    t = truth_from([0, 0, 0, 1, 1, 1])
    s = score_detector(t["drifted"].rename("oracle"), t)
    assert (s.detector, s.detection_rate, s.false_alarm_rate, s.delay_windows) == ("oracle", 1.0, 0.0, 0)
    assert s.first_detection == DAYS[3] and s.delay == pd.Timedelta(0)


def test_silent_detector_has_no_delay():
    t = truth_from([0, 1, 1])
    s = score_detector(pd.Series(False, index=DAYS[:3]), t)
    assert s.detection_rate == 0.0 and s.first_detection is None and s.delay is None


def test_always_on_detector():
    t = truth_from([0, 0, 1, 1])
    s = score_detector(pd.Series(True, index=DAYS[:4]), t)
    assert s.detection_rate == 1.0 and s.false_alarm_rate == 1.0 and s.delay_windows == 0


def test_no_drift_gives_nan_detection_rate():
    s = score_detector(pd.Series([True, False], index=DAYS[:2]), truth_from([0, 0]))
    assert np.isnan(s.detection_rate) and s.false_alarm_rate == 0.5


def test_only_common_windows_count():
    t = truth_from([0, 1, 1, 1])
    flags = pd.Series([True, True], index=DAYS[2:4])
    s = score_detector(flags, t)
    assert s.n_windows == 2 and s.delay_windows == 0


def test_drift_record_truth(hourly):
    out = sim.inject_covariate_shift(hourly, column="temp", start="2012-06-01", severity=1.0)
    days = out.truth.windows("D").index
    flags = pd.Series(days >= pd.Timestamp("2012-06-03"), index=days)
    s = score_detector(flags, out.truth)
    assert s.detection_rate < 1 and s.false_alarm_rate == 0 and s.delay == pd.Timedelta("2D")
    assert s.delay_windows == 2


def test_scorecard_rows():
    t = truth_from([0, 0, 1, 1])
    flags = pd.DataFrame({"a": [False, False, True, True], "b": [True] * 4}, index=DAYS[:4])
    card = scorecard(flags, {"s1": t, "s2": truth_from([0, 0, 0, 1])})
    assert list(card["scenario"]) == ["s1", "s1", "s2", "s2"]
    assert list(card["detector"]) == ["a", "b", "a", "b"]
    assert card.loc[0, "detection_rate"] == 1.0 and card.loc[2, "false_alarm_rate"] == pytest.approx(1 / 3)
    per_scenario = scorecard({"s1": flags}, {"s1": t})
    assert len(per_scenario) == 2


@pytest.mark.parametrize("flags, truth, error, match", [
    ([True], truth_from([1]), TypeError, "flags: expected a pandas Series"),
    (pd.Series([True], index=[0]), truth_from([1]), TypeError, "DatetimeIndex"),
    (pd.Series([None, True], index=DAYS[:2]), truth_from([1, 1]), ValueError, "missing value"),
    (pd.Series([0.3], index=DAYS[:1]), truth_from([1]), TypeError, "expected booleans"),
    (pd.Series([True], index=DAYS[:1]), pd.DataFrame({"x": [1]}, index=DAYS[:1]), ValueError, "'drifted' column"),
    (pd.Series([True], index=DAYS[:1]), "truth", TypeError, "DriftRecord"),
    (pd.Series([True], index=DAYS[5:6]), truth_from([1]), ValueError, "flags: expected windows that the truth has"),
], ids=["list", "int-index", "missing", "floats", "no-drifted-column", "string-truth", "disjoint"])
def test_bad_input_is_explained(flags, truth, error, match):
    with pytest.raises(error, match=match):
        score_detector(flags, truth)


def test_scorecard_bad_input():
    with pytest.raises(TypeError, match="truths"):
        scorecard(pd.DataFrame(), {})
    with pytest.raises(KeyError, match="expected flags for scenario 'x'"):
        scorecard({"y": pd.DataFrame()}, {"x": truth_from([1])})


def test_hourly_flags_against_daily_truth_are_refused():
    """A detector firing 1 hour in 24 used to score detection 1.0 against daily truth."""
    hours = pd.date_range("2012-01-01", periods=24 * 4, freq="h")
    flags = pd.Series(hours.hour == 0, index=hours)
    with pytest.raises(ValueError, match=r"flags.index: expected starts of 'D' windows, got <times such as"):
        score_detector(flags, truth_from([0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"flags: expected windows as long as the truth's \(one every 1 days"):
        score_detector(flags, truth_from([0, 0, 1, 1]), freq="h")
    daily = flags.resample("D").max()  # what the error suggests
    assert score_detector(daily, truth_from([0, 0, 1, 1])).detection_rate == 1.0


def test_negative_freq_is_refused():
    t = truth_from([0, 1])
    with pytest.raises(ValueError, match="freq: expected a positive window length"):
        score_detector(t["drifted"], t, freq="-1D")
