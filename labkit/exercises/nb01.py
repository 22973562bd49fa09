"""Exercises of notebook 01 (baseline model): reference implementations and check cases.

Cases are built from the real data on first use (not at import time).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from labkit.exercises._core import Case, Exercise, register

__all__ = ["split_by_time", "regression_report", "hour_profile_forecast"]


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
    resid = t - p
    return {
        "mae": float(np.mean(np.abs(resid))),
        "rmse": float(np.sqrt(np.mean(resid ** 2))),
        "r2": float(1 - np.sum(resid ** 2) / np.sum((t - t.mean()) ** 2)),
    }


def hour_profile_forecast(train: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Reference: predict each row with the mean ``cnt`` of its (workingday, hr) group in ``train``."""
    profile = train.groupby(["workingday", "hr"])["cnt"].mean()
    keys = pd.MultiIndex.from_frame(rows[["workingday", "hr"]])
    return profile.reindex(keys).to_numpy(dtype=float)


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


def _report_cases():
    rng = np.random.default_rng(0)
    y = rng.poisson(150, size=500).astype(float)
    return [
        Case(args=([3.0, 5.0, 2.0, 7.0], [2.5, 5.0, 4.0, 8.0]), label="four numbers"),
        Case(args=(y, y + rng.normal(0, 20, size=y.size)), label="500 noisy predictions"),
        Case(args=(pd.Series(y), pd.Series(np.full(y.size, y.mean()))), label="predicting the mean (R² = 0)"),
    ]


def _profile_cases():
    df = _hourly()
    train, rest = df[df["timestamp"] < "2011-10-01"], df[df["timestamp"] >= "2011-10-01"]
    return [
        Case(args=(train, rest.iloc[:500]), label="first 500 reference hours"),
        Case(args=(df.iloc[:2000], df.iloc[2000:2100]), label="trained on 2,000 hours"),
    ]


register(Exercise(
    id="01.split_by_time",
    title="Exercise 1: split the data in time",
    reference=split_by_time,
    cases=_split_cases,
    hint="Compare df['timestamp'] with pd.Timestamp(boundary); the middle part is start <= t < end; "
         "reset each part's index with .reset_index(drop=True).",
))

register(Exercise(
    id="01.regression_report",
    title="Exercise 2: MAE, RMSE and R²",
    reference=regression_report,
    cases=_report_cases,
    hint="Work with residuals r = y_true - y_pred: MAE = mean(|r|), RMSE = sqrt(mean(r²)), "
         "R² = 1 - sum(r²) / sum((y_true - mean(y_true))²). Return plain floats in a dict.",
))

register(Exercise(
    id="01.hour_profile_forecast",
    title="Exercise 3: a naive forecast to beat",
    reference=hour_profile_forecast,
    cases=_profile_cases,
    hint="train.groupby(['workingday', 'hr'])['cnt'].mean() is the profile; look each row up by its "
         "(workingday, hr) pair, e.g. with a merge or MultiIndex.reindex, and return a NumPy array.",
))
