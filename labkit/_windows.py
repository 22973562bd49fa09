"""The one definition of a time window in labkit (private).

A window of frequency ``freq`` ("h", "D", "6h", "W", "MS", ...) starts at ``floor(time, freq)``
for fixed frequencies and at the period start for calendar ones (weeks, months). Drift timelines,
windowed metrics, error timelines and the replay's steps all cut time with :func:`window_starts`.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from labkit._validate import check_datetimes, fail

__all__ = ["as_offset", "window_starts", "window_ids"]


def as_offset(freq, *, func: str, argument: str = "freq") -> pd.DateOffset:
    """``freq`` as a positive pandas offset; refuses "0D", "-1D" and strings pandas cannot read.

    >>> as_offset("D", func="f").freqstr
    'D'
    >>> as_offset("-1D", func="f")
    Traceback (most recent call last):
    ValueError: f(): freq: expected a positive window length such as 'D' or '6h', got '-1D'. Fix: drop the minus sign or the zero.
    """
    expected = "a positive window length such as 'D' or '6h'"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas warns on some malformed strings
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
        except (ValueError, TypeError):
            raise fail(func, argument, expected, freq, "use a pandas frequency: 'h', 'D', 'W', 'MS', '6h'") from None
    if offset is None or offset.n <= 0:
        raise fail(func, argument, expected, freq, "drop the minus sign or the zero")
    return offset


def window_starts(times, freq, *, func: str, argument: str = "freq") -> pd.Series:
    """Start of the window each time falls in (same index as ``times``; tz-aware times in UTC).

    >>> t = pd.Series(pd.to_datetime(["2012-01-01 05:00", "2012-01-01 23:00", "2012-01-02 00:00"]))
    >>> window_starts(t, "D", func="f").dt.strftime("%m-%d").tolist()
    ['01-01', '01-01', '01-02']
    """
    offset = as_offset(freq, func=func, argument=argument)
    times = check_datetimes(times, "times", func=func)
    try:
        return times.dt.floor(offset)
    except (ValueError, TypeError):  # calendar frequencies (W, MS, ...) are not fixed: use periods
        try:
            return times.dt.to_period(offset).dt.start_time
        except (ValueError, TypeError, AttributeError) as exc:
            raise fail(func, argument, "a frequency that cuts time into windows", freq,
                       f"use 'h', 'D', 'W' or 'MS' ({exc})") from None


def window_ids(times, freq, *, func: str, argument: str = "freq") -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Window number of each time (0, 1, ... in time order) and the sorted window starts."""
    codes, uniques = pd.factorize(window_starts(times, freq, func=func, argument=argument), sort=True)
    return codes.astype(np.int64), pd.DatetimeIndex(uniques)
