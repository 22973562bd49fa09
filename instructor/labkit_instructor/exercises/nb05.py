"""Notebook 05 (alerting): references, visible and hidden cases, hints."""
from __future__ import annotations

import numpy as np
import pandas as pd

from labkit_instructor.exercises import Case, Exercise, register


def held_for(values: pd.Series, threshold: float, n: int) -> pd.Series:
    """Reference: True where ``values > threshold`` has held for the last ``n`` windows (this one included)."""
    above = (values > threshold).astype(int)  # NaN > threshold is False: unknown never fires
    run = above.groupby((above == 0).cumsum()).cumsum()
    return run >= n


def apply_cooldown(times, cooldown) -> list:
    """Reference: keep a notification only if at least ``cooldown`` passed since the last kept one."""
    gap = pd.Timedelta(cooldown)
    kept: list[pd.Timestamp] = []
    for t in sorted(pd.Timestamp(x) for x in times):
        if not kept or t - kept[-1] >= gap:
            kept.append(t)
    return kept


_DAYS = pd.date_range("2012-01-01", periods=12, freq="D")


def _held_cases():
    rng = np.random.default_rng(5)
    noisy = pd.Series(40 + rng.normal(0, 8, 60), index=pd.date_range("2012-03-01", periods=60, freq="D"))
    return [
        Case(args=(pd.Series([30, 45, 50, 52, 31, 45, 46, 47, 48, 30, 50, 51.0], index=_DAYS), 40, 3),
             label="12 days, threshold 40, 3 windows"),
        Case(args=(pd.Series([45, np.nan, 46, 47, 48, 49, 30, 41, 42, 43, 44, 45.0], index=_DAYS), 40, 2),
             label="a missing value breaks the run"),
        Case(args=(noisy, 42.0, 1), label="n=1 fires at every breach"),
        Case(args=(noisy, 38.0, 4), label="60 noisy days, 4 windows"),
        Case(args=(pd.Series([41, 40, 41, 42, 40, 41, 41, 41, 39, 41, 42, 43.0], index=_DAYS), 40, 2),
             label="a value exactly on the threshold is not above it"),
    ]


def _held_hidden():
    rng = np.random.default_rng(15)
    weekly = pd.Series(rng.normal(100, 20, 30), index=pd.date_range("2012-01-02", periods=30, freq="W-MON"))
    return [
        Case(args=(weekly, 110.0, 2), label="30 weeks, 2 windows"),
        Case(args=(pd.Series([1.0, 2, 3, 4, 5, 6], index=_DAYS[:6]), 0.5, 6), label="fires only at the end"),
        Case(args=(pd.Series([9.0, 9, 9], index=_DAYS[:3]), 10.0, 1), label="never above"),
    ]


def _cooldown_cases():
    return [
        Case(args=(list(_DAYS[[0, 1, 2, 5, 9, 10]]), "3D"), label="six alerts, 3-day cooldown"),
        Case(args=([], "1D"), label="no alerts at all"),
        Case(args=(list(_DAYS[[4, 0, 2]]), pd.Timedelta("2D")), label="unsorted times, exactly the cooldown apart"),
        Case(args=(list(pd.date_range("2012-01-01", periods=48, freq="h")), "6h"), label="hourly alerts, 6 h cooldown"),
    ]


def _cooldown_hidden():
    return [
        Case(args=(["2012-02-01 10:00", "2012-02-01 10:30", "2012-02-01 12:00"], "1h"), label="strings, 1 h"),
        Case(args=(list(_DAYS[[11, 3, 7, 8]]), "4D"), label="unsorted, 4 days"),
        Case(args=(list(_DAYS[:1]), "30D"), label="a single alert"),
    ]


register(Exercise(
    id="05.held_for",
    title="Exercise 1: a `for` duration",
    reference=held_for,
    visible=_held_cases,
    hidden=_held_hidden,
    hints=(
        "A rule with a `for` duration fires only when its condition has held in the last n windows in a row. "
        "What you need per window is the length of the current run of breaches.",
        "A run starts again after every window that is not above the threshold (a missing value is not above "
        "it). A running count that restarts at each such window is the run length; compare it with n.",
    ),
))

register(Exercise(
    id="05.apply_cooldown",
    title="Exercise 2: a cooldown",
    reference=apply_cooldown,
    visible=_cooldown_cases,
    hidden=_cooldown_hidden,
    hints=(
        "After a notification goes out, the same alert stays quiet until the cooldown has passed since that "
        "notification, not since the last one that was held back.",
        "Go through the times in order and remember the last one you kept; compare each time with it using "
        "pd.Timedelta(cooldown). Return the kept times as a list of pd.Timestamp.",
    ),
))
