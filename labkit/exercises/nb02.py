"""Exercises of notebook 02 (simulate drift): reference implementations and check cases.

Cases are built from the real data on first use (not at import time).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from labkit.exercises._core import Case, Exercise, register

__all__ = ["ramp", "gradual_shift", "daily_mae"]


def ramp(timestamps, start, end) -> np.ndarray:
    """Reference: 0 before ``start``, rising linearly to 1 at ``end``, 1 from then on."""
    t = pd.to_datetime(pd.Series(timestamps)).to_numpy("datetime64[ns]").astype("int64")
    a, b = pd.Timestamp(start).value, pd.Timestamp(end).value
    return np.clip((t - a) / (b - a), 0.0, 1.0)


def gradual_shift(df: pd.DataFrame, column: str, delta: float, start, end, seed: int):
    """Reference: add ``delta`` to a growing, seeded share of rows; return ``(new_df, drifted)``."""
    share = ramp(df["timestamp"], start, end)
    u = np.random.default_rng(seed).random(len(df))
    drifted = u < share
    out = df.copy()
    out.loc[drifted, column] = out.loc[drifted, column] + delta
    return out, drifted


def daily_mae(timestamps, y_true, y_pred) -> pd.Series:
    """Reference: the mean absolute error of each calendar day, indexed by the day (midnight)."""
    err = np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))
    days = pd.DatetimeIndex(pd.to_datetime(pd.Series(timestamps))).normalize()
    return pd.Series(err, index=days).groupby(level=0).mean()


def _hourly():
    from labkit.data import load_hourly

    return load_hourly()


def _ramp_cases():
    df = _hourly()
    return [
        Case(args=(df["timestamp"].iloc[:72], "2011-01-02", "2011-01-03"), label="three days, a one-day ramp"),
        Case(args=(df["timestamp"], "2012-03-01", "2012-06-01"), label="the whole data, a spring ramp"),
        Case(args=(pd.Series(pd.to_datetime(["2012-01-01 00:00", "2011-06-01 12:00", "2013-01-01 00:00"])),
                   "2011-06-01", "2011-06-02"), label="unsorted times, one before, inside and after"),
    ]


def _shift_cases():
    df = _hourly()
    reference = df[(df["timestamp"] >= "2011-10-01") & (df["timestamp"] < "2012-01-01")]
    return [
        Case(args=(reference, "temp", 0.3, "2011-11-01", "2011-12-01", 0), label="reference period, temp +0.3"),
        Case(args=(df.iloc[:500], "hum", -0.2, "2011-01-05", "2011-01-15", 42), label="500 rows, hum -0.2, seed 42"),
    ]


def _daily_cases():
    df = _hourly()
    rng = np.random.default_rng(1)
    part = df.iloc[:300]
    noisy = part["cnt"] + rng.normal(0, 25, size=len(part))
    gap = part[part["timestamp"].dt.normalize() != pd.Timestamp("2011-01-05")]
    return [
        Case(args=(part["timestamp"], part["cnt"], noisy), label="300 hours with noisy predictions"),
        Case(args=(df["timestamp"], df["cnt"], np.full(len(df), df["cnt"].mean())),
             label="two years, predicting the mean (days with missing hours included)"),
        Case(args=(gap["timestamp"], gap["cnt"], gap["cnt"] * 0.9), label="a day without any row (no NaN day)"),
    ]


register(Exercise(
    id="02.ramp",
    title="Exercise 1: the ramp of a gradual drift",
    reference=ramp,
    cases=_ramp_cases,
    hint="Turn times into numbers (e.g. pd.to_datetime(...).astype('int64') or seconds since start), "
         "compute (t - start) / (end - start) and clip it to [0, 1] with np.clip. Return a NumPy array.",
))

register(Exercise(
    id="02.gradual_shift",
    title="Exercise 2: a gradual covariate shift",
    reference=gradual_shift,
    cases=_shift_cases,
    hint="share = ramp(df['timestamp'], start, end); u = np.random.default_rng(seed).random(len(df)); "
         "drifted = u < share; copy the frame before changing it and add delta where drifted.",
))

register(Exercise(
    id="02.daily_mae",
    title="Exercise 3: error per day",
    reference=daily_mae,
    cases=_daily_cases,
    hint="Absolute errors in a Series indexed by the day (timestamps with .dt.normalize() or .dt.floor('D')), "
         "then .groupby(level=0).mean(). Only days that have rows appear.",
))
