"""Exercises of notebook 05 (alerting): reference implementations and check cases."""
from __future__ import annotations

import numpy as np
import pandas as pd

from labkit.exercises._core import Case, Exercise, register

__all__ = ["held_for", "apply_cooldown"]


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


def _cooldown_cases():
    return [
        Case(args=(list(_DAYS[[0, 1, 2, 5, 9, 10]]), "3D"), label="six alerts, 3-day cooldown"),
        Case(args=([], "1D"), label="no alerts at all"),
        Case(args=(list(_DAYS[[4, 0, 2]]), pd.Timedelta("2D")), label="unsorted times, exactly the cooldown apart"),
        Case(args=(list(pd.date_range("2012-01-01", periods=48, freq="h")), "6h"), label="hourly alerts, 6 h cooldown"),
    ]


register(Exercise(
    id="05.held_for",
    title="Exercise 1: a `for` duration",
    reference=held_for,
    cases=_held_cases,
    hint="above = (values > threshold).astype(int); a new run starts after every 0, so "
         "above.groupby((above == 0).cumsum()).cumsum() counts the current run; compare it with n.",
))

register(Exercise(
    id="05.apply_cooldown",
    title="Exercise 2: a cooldown",
    reference=apply_cooldown,
    cases=_cooldown_cases,
    hint="Sort the times; keep the first; keep each later one only when t - last_kept >= pd.Timedelta(cooldown). "
         "Return a list of pd.Timestamp.",
))
