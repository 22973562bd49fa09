"""Notebook 02 (simulate drift): references, visible and hidden cases, hints."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from labkit_instructor.exercises import Case, Exercise, register


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


@functools.lru_cache(maxsize=1)
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


def _ramp_hidden():
    df = _hourly()
    may = df[df["timestamp"].dt.month == 5]["timestamp"]
    return [
        Case(args=(may, "2012-05-10", "2012-05-20"), label="May, a ten-day ramp"),
        Case(args=(list(may.iloc[:30].astype(str)), "2011-05-01 10:00", "2011-05-01 20:00"), label="strings"),
        Case(args=(pd.DatetimeIndex(df["timestamp"].iloc[::97]), "2011-01-01", "2013-01-01"), label="an index"),
    ]


def _shift_cases():
    df = _hourly()
    reference = df[(df["timestamp"] >= "2011-10-01") & (df["timestamp"] < "2012-01-01")]
    return [
        Case(args=(reference, "temp", 0.3, "2011-11-01", "2011-12-01", 0), label="reference period, temp +0.3"),
        Case(args=(df.iloc[:500], "hum", -0.2, "2011-01-05", "2011-01-15", 42), label="500 rows, hum -0.2, seed 42"),
    ]


def _shift_hidden():
    df = _hourly()
    return [
        Case(args=(df.iloc[1000:1600], "windspeed", 0.05, "2011-02-20", "2011-03-01", 3), label="windspeed, seed 3"),
        Case(args=(df.iloc[9000:9300], "atemp", -0.1, "2011-01-01", "2011-02-01", 9), label="ramp over before"),
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


def _daily_hidden():
    df = _hourly()
    rng = np.random.default_rng(19)
    part = df.iloc[7000:7500]
    return [
        Case(args=(part["timestamp"], part["cnt"], part["cnt"] + rng.normal(5, 30, len(part))), label="500 hours"),
        Case(args=(list(part["timestamp"].iloc[::-1]), list(part["cnt"]), list(part["cnt"])), label="lists, reversed"),
    ]


register(Exercise(
    id="02.ramp",
    title="Exercise 1: the ramp of a gradual drift",
    reference=ramp,
    visible=_ramp_cases,
    hidden=_ramp_hidden,
    hints=(
        "The ramp says how far along the way from start to end each time is: 0 before start, 1 from end on, "
        "and a straight line in between.",
        "Times become numbers you can subtract and divide once converted (for example to nanoseconds with "
        ".astype('int64') on a datetime64 array); np.clip keeps the result inside [0, 1]. Return a NumPy array.",
    ),
))

register(Exercise(
    id="02.gradual_shift",
    title="Exercise 2: a gradual covariate shift",
    reference=gradual_shift,
    visible=_shift_cases,
    hidden=_shift_hidden,
    hints=(
        "A gradual drift is a mixture: at each time a share of the rows (the ramp's value) already follows the "
        "new behaviour. Decide for every row, with a seeded random number, whether it has switched.",
        "Draw one uniform number per row from np.random.default_rng(seed); a row has switched when its number "
        "is below its ramp value. Change a copy of the frame, never the input, and return the mask as well.",
    ),
))

register(Exercise(
    id="02.daily_mae",
    title="Exercise 3: error per day",
    reference=daily_mae,
    visible=_daily_cases,
    hidden=_daily_hidden,
    hints=(
        "Absolute errors first, one per row; then average them per calendar day. Only days that have rows "
        "appear in the result.",
        "Errors in a Series indexed by each row's day (its time stamp set to midnight) can be averaged with a "
        "groupby on the index.",
    ),
))
