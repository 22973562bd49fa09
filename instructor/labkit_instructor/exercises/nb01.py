"""Notebook 01 (baseline model): references, visible and hidden cases, hints."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from labkit_instructor.exercises import Case, Exercise, register


def split_by_time(df: pd.DataFrame, reference_start, production_start):
    """Reference: rows before, between and from the two boundaries of ``timestamp``."""
    ts = df["timestamp"]
    a, b = pd.Timestamp(reference_start), pd.Timestamp(production_start)
    parts = (df[ts < a], df[(ts >= a) & (ts < b)], df[ts >= b])
    return tuple(p.reset_index(drop=True) for p in parts)


def regression_report(y_true, y_pred) -> dict:
    """Reference: MAE, RMSE and R² of a regression as a dict of floats."""
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    error = t - p
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "r2": float(1 - np.sum(error ** 2) / np.sum((t - t.mean()) ** 2)),
    }


def hour_profile_forecast(train: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Reference: predict each row with the mean ``cnt`` of its (workingday, hr) group in ``train``."""
    profile = train.groupby(["workingday", "hr"])["cnt"].mean()
    keys = pd.MultiIndex.from_frame(rows[["workingday", "hr"]])
    return profile.reindex(keys).to_numpy(dtype=float)


@functools.lru_cache(maxsize=1)
def _hourly():
    from labkit.data import load_hourly

    return load_hourly()


def _split_cases():
    df = _hourly()
    small = df.iloc[:200].copy()
    return [
        Case(args=(df, "2011-10-01", "2012-01-01"), label="the lab's split (2011-10-01, 2012-01-01)"),
        Case(args=(df, "2011-07-01", "2012-07-01"), label="a mid-year split"),
        Case(args=(small, "2011-01-03", "2011-01-05 12:00"), label="200 rows, boundaries inside a day"),
    ]


def _split_hidden():
    df = _hourly()
    sample = df.sample(400, random_state=11).sort_values("timestamp")
    return [
        Case(args=(df, "2011-04-01", "2012-04-01"), label="an April split"),
        Case(args=(df.iloc[5000:5400], "2011-08-01 06:00", "2011-08-05"), label="400 rows, a boundary at 06:00"),
        Case(args=(sample, "2011-06-15", "2012-02-29 13:00"), label="a sample with its own index"),
        Case(args=(df.iloc[:50], "2010-01-01", "2010-06-01"), label="both boundaries before the data"),
    ]


def _report_cases():
    rng = np.random.default_rng(0)
    y = rng.poisson(150, size=500).astype(float)
    return [
        Case(args=([3.0, 5.0, 2.0, 7.0], [2.5, 5.0, 4.0, 8.0]), label="four numbers"),
        Case(args=(y, y + rng.normal(0, 20, size=y.size)), label="500 noisy predictions"),
        Case(args=(pd.Series(y), pd.Series(np.full(y.size, y.mean()))), label="predicting the mean (R² = 0)"),
    ]


def _report_hidden():
    rng = np.random.default_rng(41)
    y = rng.gamma(3, 60, size=300)
    return [
        Case(args=([10, 20, 30], [12, 18, 33]), label="three integers"),
        Case(args=(y, 0.8 * y + 15), label="a biased model"),
        Case(args=(pd.Series(y), y), label="a Series and an array"),
        Case(args=(y[:50], y[:50][::-1]), label="predictions in reverse order (R² < 0)"),
    ]


def _profile_cases():
    df = _hourly()
    train, rest = df[df["timestamp"] < "2011-10-01"], df[df["timestamp"] >= "2011-10-01"]
    return [
        Case(args=(train, rest.iloc[:500]), label="first 500 reference hours"),
        Case(args=(df.iloc[:2000], df.iloc[2000:2100]), label="trained on 2,000 hours"),
    ]


def _profile_hidden():
    df = _hourly()
    first_half = df[df["timestamp"] < "2011-07-01"]
    return [
        Case(args=(first_half, df.iloc[10000:10300]), label="trained on the first half of 2011"),
        Case(args=(df.iloc[3000:6000], df.iloc[:24].iloc[::-1]), label="rows in reverse order"),
        Case(args=(df.iloc[:100], df.iloc[100:400]), label="hours the short training never saw (NaN)"),
    ]


register(Exercise(
    id="01.split_by_time",
    title="Exercise 1: split the data in time",
    reference=split_by_time,
    visible=_split_cases,
    hidden=_split_hidden,
    hints=(
        "Three parts, no gaps and no overlaps: every row belongs to exactly one of 'before the first boundary', "
        "'from the first boundary up to (not including) the second' and 'from the second boundary on'. Compare "
        "the full time stamp (date and hour), not just the day.",
        "A boolean mask on df['timestamp'] selects each part, and pd.Timestamp turns a boundary into something "
        "you can compare with. Each part should be numbered 0, 1, 2, ... again (look up reset_index).",
    ),
))

register(Exercise(
    id="01.regression_report",
    title="Exercise 2: MAE, RMSE and R²",
    reference=regression_report,
    visible=_report_cases,
    hidden=_report_hidden,
    hints=(
        "All three metrics start from the residuals (truth minus prediction): MAE averages their size, RMSE "
        "averages their squares and then undoes the squaring, R² compares the squared residuals with the spread "
        "of the truth around its own mean.",
        "Turn both inputs into float NumPy arrays first (lists and Series then behave alike), and return plain "
        "Python floats under the keys 'mae', 'rmse' and 'r2'.",
    ),
))

register(Exercise(
    id="01.hour_profile_forecast",
    title="Exercise 3: a naive forecast to beat",
    reference=hour_profile_forecast,
    visible=_profile_cases,
    hidden=_profile_hidden,
    hints=(
        "The forecast for a row is the average demand the training data saw at the same hour on the same kind "
        "of day (working day or not). Build that table of averages first, then look every row up in it.",
        "A groupby on two columns gives a table with a two-level index; a left merge or a reindex looks rows up "
        "without changing their order. Return a NumPy array with one value per row.",
    ),
    reads={"train": ["workingday", "hr", "cnt"], "rows": ["workingday", "hr"]},
))
