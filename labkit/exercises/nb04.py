"""Exercises of notebook 04 (monitoring dashboard): reference implementations and check cases."""
from __future__ import annotations

import numpy as np
import pandas as pd

from labkit.exercises._core import Case, Exercise, register

__all__ = ["window_mae", "out_of_range_share"]


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


def _range_cases():
    from labkit.data import load_hourly

    df = load_hourly()
    ref = df[(df["timestamp"] >= "2011-10-01") & (df["timestamp"] < "2012-01-01")]
    july = df[(df["timestamp"] >= "2012-07-01") & (df["timestamp"] < "2012-08-01")]
    with_gaps = july.assign(hum=july["hum"].where(july.index % 7 != 0))
    return [
        Case(args=(ref, july, ["temp", "atemp", "hum", "windspeed"]), label="July 2012 vs the reference quarter"),
        Case(args=(ref, ref, ["temp", "hum"]), label="the reference against itself (0.0)"),
        Case(args=(ref, with_gaps, ["hum"]), label="missing values are not out of range"),
    ]


register(Exercise(
    id="04.window_mae",
    title="Exercise 1: a windowed metric",
    reference=window_mae,
    cases=_mae_cases,
    hint="error = (log['label'] - log['prediction']).abs(); group it by log['event_time'].dt.floor(freq) and take "
         ".mean(): pandas skips NaN, and a window with no label at all gets NaN.",
))

register(Exercise(
    id="04.out_of_range_share",
    title="Exercise 2: a data-quality check",
    reference=out_of_range_share,
    cases=_range_cases,
    hint="For each column take lo, hi = reference[c].min(), reference[c].max(); a row is outside when any column is "
         "< lo or > hi (NaN compares False); return the share of such rows as a float.",
))
