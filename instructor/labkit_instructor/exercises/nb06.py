"""Notebook 06 (degradation analysis): references, visible and hidden cases, hints."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from labkit_instructor.exercises import Case, Exercise, register


def lagged_corr(error: pd.Series, signal: pd.Series, lag: int) -> float:
    """Reference: Pearson correlation of ``error[t + lag]`` with ``signal[t]`` over windows where both exist."""
    return float(error.corr(signal.shift(lag)))


def segment_table(df: pd.DataFrame, by: str, min_rows: int = 30) -> pd.DataFrame:
    """Reference: rows, MAE and mean residual (cnt - prediction) per value of ``by``; small segments flagged."""
    residual = df["cnt"] - df["prediction"]
    work = pd.DataFrame({"segment": df[by], "abs_error": residual.abs(), "residual": residual})
    groups = work.groupby("segment", sort=True)
    out = pd.DataFrame({"n": groups.size(), "mae": groups["abs_error"].mean(),
                        "mean_residual": groups["residual"].mean()})
    out["too_small"] = out["n"] < min_rows
    return out


def estimation_gaps(table: pd.DataFrame) -> dict:
    """Reference: mean |estimate - realised| of the loss estimate and of the naive one, over labelled windows."""
    labelled = table.dropna(subset=["realised_mae"])
    return {
        "estimate_gap": float((labelled["estimated_mae"] - labelled["realised_mae"]).abs().mean()),
        "naive_gap": float((labelled["naive_mae"] - labelled["realised_mae"]).abs().mean()),
    }


@functools.lru_cache(maxsize=1)
def _story():
    """Hourly data, the baseline and 2012 with its predictions."""
    from labkit.baseline import get_baseline, split_periods
    from labkit.data import load_hourly

    df = load_hourly()
    baseline = get_baseline()
    _, _, production = split_periods(df)
    return df, baseline, production.assign(prediction=baseline.predict(production))


def _weekly(seed: int):
    t = pd.date_range("2012-01-02", periods=10, freq="W-MON")
    if seed == 0:
        return (pd.Series([5.0, 4.0, 6.0, 7.0, 12.0, 8.0, 9.0, 13.0, 6.0, 10.0], index=t),
                pd.Series([0.1, 0.4, 0.2, 0.9, 0.3, 0.5, 0.8, 0.2, 0.6, 0.7], index=t))
    rng = np.random.default_rng(seed)
    t = pd.date_range("2012-03-05", periods=20, freq="W-MON")
    signal = pd.Series(rng.random(20), index=t)
    return pd.Series(3 * signal.shift(2).fillna(0.5).to_numpy() + rng.normal(0, 0.3, 20), index=t), signal


def _lag_cases():
    from labkit.analysis import drift_signals, error_timeline

    _, baseline, production = _story()
    weekly = error_timeline(production, freq="W")
    weekly = weekly[weekly["n"] >= 100]
    drift = drift_signals(baseline.reference, production, freq="W").loc[weekly.index, "mean"]
    error, signal = _weekly(0)
    gappy = error.copy()
    gappy.iloc[3] = np.nan
    return [
        Case(args=(error, signal, 0), label="ten weeks, lag 0"),
        Case(args=(error, signal, 1), label="ten weeks, the signal leads by 1"),
        Case(args=(error, signal, -2), label="ten weeks, lag -2 (the error moves first)"),
        Case(args=(gappy, signal, 1), label="a week without an error value"),
        Case(args=(weekly["mae"], drift, 3), label="2012: weekly MAE vs weekly drift, lag 3"),
    ]


def _lag_hidden():
    error, signal = _weekly(8)
    return [
        Case(args=(error, signal, 2), label="twenty weeks, the true lag"),
        Case(args=(error, signal, -1), label="twenty weeks, lag -1"),
        Case(args=(error.where(error.index.day > 7), signal, 0), label="lag 0, first weeks of each month missing"),
    ]


def _segment_cases():
    _, baseline, production = _story()
    tiny = pd.DataFrame({"workingday": [0, 0, 1, 1, 1], "cnt": [10, 20, 30, 40, 50],
                         "prediction": [12, 15, 30, 35, 60]})
    return [
        Case(args=(tiny, "workingday"), kwargs={"min_rows": 3}, label="five rows, min_rows=3"),
        Case(args=(production, "hr"), label="2012 by hour"),
        Case(args=(production, "weathersit"), label="2012 by weather (one tiny segment)"),
        Case(args=(baseline.reference, "season"), kwargs={"min_rows": 500}, label="reference by season, min_rows=500"),
    ]


def _segment_hidden():
    _, baseline, production = _story()
    return [
        Case(args=(production, "weekday"), label="2012 by weekday"),
        Case(args=(production.iloc[:500], "holiday"), kwargs={"min_rows": 20}, label="500 hours by holiday"),
        Case(args=(baseline.reference, "mnth"), kwargs={"min_rows": 800}, label="reference by month"),
    ]


def _gap_cases():
    from labkit.analysis import estimate_performance, fit_loss_estimator

    _, baseline, production = _story()
    monthly = estimate_performance(fit_loss_estimator(baseline, baseline.reference), production, freq="MS").table
    partial = monthly.copy()
    partial.loc[partial.index[-3:], "realised_mae"] = np.nan  # labels of the last three months not arrived
    t = pd.date_range("2012-01-02", periods=4, freq="W-MON")
    small = pd.DataFrame({"estimated_mae": [30.0, 40.0, 50.0, 45.0], "naive_mae": 32.0,
                          "realised_mae": [35.0, 38.0, 70.0, np.nan]}, index=t)
    other_gap = small.assign(naive_mae=[32.0, np.nan, 32.0, 32.0])  # a missing naive value must not drop the row
    return [
        Case(args=(small,), label="four weeks, the last one unlabelled"),
        Case(args=(other_gap,), label="a missing naive estimate (only unlabelled windows are left out)"),
        Case(args=(monthly,), label="2012 by month (estimate_performance table)"),
        Case(args=(partial,), label="2012, last three months not labelled yet"),
    ]


def _gap_hidden():
    t = pd.date_range("2012-05-01", periods=6, freq="MS")
    table = pd.DataFrame({"estimated_mae": [31.0, 33, 35, 36, 40, 41], "naive_mae": [32.0] * 6,
                          "realised_mae": [np.nan, 50, 61, np.nan, 80, 77], "extra": range(6)}, index=t)
    return [
        Case(args=(table,), label="six months, two unlabelled, an extra column"),
        Case(args=(table.iloc[1:3],), label="two labelled months"),
    ]


register(Exercise(
    id="06.lagged_corr",
    title="Exercise 1: correlation at a lag",
    reference=lagged_corr,
    visible=_lag_cases,
    hidden=_lag_hidden,
    hints=(
        "A positive lag means the signal comes first: the signal of window t is compared with the error of "
        "window t + lag. Line the two series up by shifting one of them, then correlate.",
        "Series.shift moves values along the index, and Series.corr skips pairs in which either side is "
        "missing. Return a float.",
    ),
))

register(Exercise(
    id="06.segment_table",
    title="Exercise 2: error by segment",
    reference=segment_table,
    visible=_segment_cases,
    hidden=_segment_hidden,
    hints=(
        "The residual is actual minus prediction. For every value of the segment column report how many rows it "
        "has, the mean absolute residual and the mean residual (its sign tells under- from over-prediction), "
        "sorted by segment value.",
        "One groupby on the segment column gives all three; a segment with fewer than min_rows rows is "
        "too_small. Columns: n, mae, mean_residual, too_small.",
    ),
    reads={"df": ["cnt", "prediction", "@by"]},
))

register(Exercise(
    id="06.estimation_gaps",
    title="Exercise 3: how far off is each estimate?",
    reference=estimation_gaps,
    visible=_gap_cases,
    hidden=_gap_hidden,
    hints=(
        "Only windows whose realised MAE is known can say how far an estimate was off. For each of the two "
        "estimates, average its absolute distance to the realised MAE over those windows.",
        "Leave out the rows where realised_mae is missing, and only those. Return a dict with the keys "
        "'estimate_gap' and 'naive_gap', as floats.",
    ),
))
