"""Notebook 04 (monitoring dashboard): references, visible and hidden cases, hints."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from labkit_instructor.exercises import Case, Exercise, register


def window_mae(log: pd.DataFrame, freq: str) -> pd.Series:
    """Reference: MAE per window of event time over the rows whose label has arrived (NaN if none)."""
    error = (log["label"] - log["prediction"]).abs()
    windows = log["event_time"].dt.floor(freq).rename("window_start")
    return error.groupby(windows).mean()


def out_of_range_share(reference: pd.DataFrame, current: pd.DataFrame, columns) -> float:
    """Reference: share of current rows with at least one column outside the reference's [min, max]."""
    outside = np.zeros(len(current), dtype=bool)
    for column in columns:
        lo, hi = reference[column].min(), reference[column].max()
        values = current[column]
        outside |= ((values < lo) | (values > hi)).to_numpy()
    return float(outside.mean())


def _log(n_days: int, seed: int, missing_from: int | None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2012-03-01", periods=24 * n_days, freq="h")
    label = rng.poisson(180, times.size).astype(float)
    log = pd.DataFrame({"event_time": times, "prediction": label + rng.normal(0, 30, times.size), "label": label})
    if missing_from is not None:
        log.loc[log.index >= 24 * missing_from, "label"] = np.nan  # labels not arrived yet
    log.loc[rng.random(times.size) < 0.1, "label"] = np.nan        # some labels never arrive
    return log


def _mae_cases():
    return [
        Case(args=(_log(5, 0, None), "D"), label="5 days, a few labels missing"),
        Case(args=(_log(6, 1, 4), "D"), label="the last 2 days have no label yet (NaN)"),
        Case(args=(_log(2, 2, None), "6h"), label="6-hour windows"),
        Case(args=(_log(4, 3, None).pipe(lambda d: d[d["event_time"].dt.day != 2]), "D"),
             label="a day without any prediction has no window (not a NaN row)"),
    ]


def _mae_hidden():
    shuffled = _log(3, 12, None).sample(frac=1.0, random_state=4)
    return [
        Case(args=(_log(3, 10, None), "12h"), label="12-hour windows"),
        Case(args=(_log(7, 11, 5), "D"), label="a week, labels pending for 2 days"),
        Case(args=(shuffled, "D"), label="rows out of order"),
    ]


@functools.lru_cache(maxsize=1)
def _periods():
    from labkit.data import load_hourly

    df = load_hourly()
    ref = df[(df["timestamp"] >= "2011-10-01") & (df["timestamp"] < "2012-01-01")]
    return df, ref


def _range_cases():
    df, ref = _periods()
    july = df[(df["timestamp"] >= "2012-07-01") & (df["timestamp"] < "2012-08-01")]
    with_gaps = july.assign(hum=july["hum"].where(july.index % 7 != 0))
    return [
        Case(args=(ref, july, ["temp", "atemp", "hum", "windspeed"]), label="July 2012 vs the reference quarter"),
        Case(args=(ref, ref, ["temp", "hum"]), label="the reference against itself (0.0)"),
        Case(args=(ref, with_gaps, ["hum"]), label="missing values are not out of range"),
    ]


def _range_hidden():
    df, ref = _periods()
    august = df[(df["timestamp"] >= "2012-08-01") & (df["timestamp"] < "2012-09-01")]
    return [
        Case(args=(ref, august, ["temp"]), label="August 2012, temp only"),
        Case(args=(august, ref, ("atemp", "windspeed")), label="the other way round, a tuple of columns"),
    ]


register(Exercise(
    id="04.window_mae",
    title="Exercise 1: a windowed metric",
    reference=window_mae,
    visible=_mae_cases,
    hidden=_mae_hidden,
    hints=(
        "Each window's MAE averages |label - prediction| over the rows of that window whose label has arrived. "
        "A row without a label must be left out, not counted as a zero error.",
        "Floor each event time to its window and group the absolute errors by it: pandas' mean skips NaN, and "
        "gives NaN for a window without any label.",
    ),
    reads={"log": ["event_time", "prediction", "label"]},
))

register(Exercise(
    id="04.out_of_range_share",
    title="Exercise 2: a data-quality check",
    reference=out_of_range_share,
    visible=_range_cases,
    hidden=_range_hidden,
    hints=(
        "A row is out of range when at least one of the listed columns lies below that column's smallest "
        "reference value or above its largest. The answer is the share of such rows among all rows of current.",
        "Build one boolean per row and combine the columns with 'or'; NaN compares as False, so a missing value "
        "is not out of range. Return a float.",
    ),
    reads={"reference": ["@columns"], "current": ["@columns"]},
))
