"""The one place labkit checks its arguments (private; every public module uses it).

Every error follows one house form, so a student always reads the same four things::

    psi(): threshold: expected a number >= 0, got -1. Fix: use 0.1 (moderate) or 0.25 (major).

``func(): argument: expected <what>, got <what arrived>. Fix: <what to do>.``

:func:`fail` builds such an error (``raise fail(...)``); the ``check_*`` helpers return the cleaned
value or raise one. Nothing here knows about drift, logs or alerts: lessons call down into this
module, never the other way round.
"""
from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "describe", "fail", "close_matches", "short_list",
    "check_type", "check_choice", "check_number", "check_int", "check_probability", "check_share",
    "check_seed", "check_frame", "check_columns", "check_datetimes", "as_timestamp",
]

_MAX_REPR = 60


def describe(value: Any) -> str:
    """A short picture of what arrived: ``-1``, ``'abc'``, ``<DataFrame 24×3>``, ``<ndarray (5,) float64>``.

    >>> describe(pd.DataFrame({"a": [1, 2]}))
    '<DataFrame 2×1>'
    >>> describe("x" * 100)[:12]
    "'xxxxxxxxxxx"
    """
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return value  # already a description
    if isinstance(value, pd.DataFrame):
        return f"<DataFrame {value.shape[0]}×{value.shape[1]}>"
    if isinstance(value, pd.Series):
        return f"<Series of {len(value)} {value.dtype}>"
    if isinstance(value, np.ndarray):
        return f"<ndarray {value.shape} {value.dtype}>"
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    if type(value).__module__ not in ("builtins", "numpy") and not text.startswith(type(value).__name__):
        text = f"<{type(value).__name__} {text}>"
    return text


def fail(func: str, argument: str, expected: str, got: Any, fix: str, exc: type[Exception] = ValueError) -> Exception:
    """Build (not raise) an error in the house form: function, argument, expected, got, fix.

    >>> str(fail("psi", "threshold", "a number >= 0", -1, "use 0.1"))
    'psi(): threshold: expected a number >= 0, got -1. Fix: use 0.1.'
    """
    where = f"{func}(): " if func else ""
    fix = fix.rstrip(".")
    return exc(f"{where}{argument}: expected {expected}, got {describe(got)}. Fix: {fix}.")


def short_list(values: Iterable, limit: int = 12) -> str:
    """``['a', 'b', ... (40 in all)]`` for long lists."""
    values = list(values)
    text = ", ".join(repr(v) for v in values[:limit])
    if len(values) > limit:
        text += f", ... ({len(values)} in all)"
    return "[" + text + "]"


def close_matches(name: Any, candidates: Iterable[Any], n: int = 3) -> list[str]:
    """Names that look like ``name`` (same letters in another case first), for "did you mean" fixes."""
    cands = [str(c) for c in candidates]
    lower = {c.lower(): c for c in cands}
    hits = [lower[str(name).lower()]] if str(name).lower() in lower else []
    hits += [h for h in difflib.get_close_matches(str(name), cands, n=n, cutoff=0.5) if h not in hits]
    return hits[:n]


def check_type(value: Any, types: type | tuple, argument: str, *, func: str, expected: str, fix: str) -> Any:
    """``value`` if it is an instance of ``types`` (bool never counts as a number), else a TypeError."""
    allowed = types if isinstance(types, tuple) else (types,)
    if isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed):
        return value
    raise fail(func, argument, expected, value, fix, TypeError)


def check_choice(value: Any, argument: str, choices: Sequence, *, func: str) -> Any:
    """``value`` if it is one of ``choices``."""
    if isinstance(value, (str, int, float, type(None))) and value in choices:
        return value
    near = close_matches(value, choices, 1) if isinstance(value, str) else []
    fix = f"did you mean {near[0]!r}?" if near else f"use one of {short_list(choices)}"
    raise fail(func, argument, f"one of {short_list(choices)}", value, fix)


def check_number(
    value: Any, argument: str, *, func: str, low: float | None = None, high: float | None = None,
    low_open: bool = False, high_open: bool = False, finite: bool = True, fix: str = "",
) -> float:
    """A real number as float, inside [low, high] (ends excluded with ``low_open``/``high_open``).

    >>> check_number("2", "x", func="f")
    Traceback (most recent call last):
    TypeError: f(): x: expected a real number, got '2'. Fix: pass a number such as 0.5.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise fail(func, argument, "a real number", value, fix or "pass a number such as 0.5", TypeError)
    number = float(value)
    bounds = _interval(low, high, low_open, high_open)
    bad = (finite and not math.isfinite(number)) or math.isnan(number)
    bad = bad or (low is not None and (number < low or (low_open and number == low)))
    bad = bad or (high is not None and (number > high or (high_open and number == high)))
    if bad:
        raise fail(func, argument, f"a {'finite ' if finite else ''}number {bounds}".rstrip(), value,
                   fix or f"pass a number {bounds}")
    return number


def _interval(low, high, low_open, high_open) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_int(value: Any, argument: str, *, func: str, low: int | None = None, high: int | None = None,
              fix: str = "") -> int:
    """An int (numpy ints accepted, bools and floats refused) inside [low, high]."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise fail(func, argument, "a whole number (int)", value, fix or "pass an int such as 3", TypeError)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = _interval(low, high, False, False)
        raise fail(func, argument, f"an int {bounds}", value, fix or f"pass an int {bounds}")
    return int(value)


def check_probability(value: Any, argument: str, *, func: str, fix: str = "") -> float:
    """A p-value threshold or quantile: a number strictly between 0 and 1."""
    return check_number(value, argument, func=func, low=0, high=1, low_open=True, high_open=True,
                        fix=fix or "pass a number strictly between 0 and 1, e.g. 0.05")


def check_share(value: Any, argument: str, *, func: str, fix: str = "") -> float:
    """A share or fraction: a number in [0, 1]."""
    return check_number(value, argument, func=func, low=0, high=1, fix=fix or "pass a share in [0, 1], e.g. 0.5")


def check_seed(value: Any, argument: str = "seed", *, func: str) -> int | np.random.Generator:
    """A seed: a non-negative int or a ``numpy.random.Generator``."""
    if isinstance(value, np.random.Generator):
        return value
    return check_int(value, argument, func=func, low=0, fix="pass an int seed such as 0")


def check_frame(df: Any, argument: str, *, func: str, min_rows: int = 1, fix: str = "") -> pd.DataFrame:
    """A DataFrame with at least ``min_rows`` rows and unique column names that differ in more than case."""
    if not isinstance(df, pd.DataFrame):
        raise fail(func, argument, "a pandas DataFrame", df, fix or "pass a DataFrame, e.g. labkit.data.load_hourly()",
                   TypeError)
    if len(df) < min_rows:
        raise fail(func, argument, f"a DataFrame with at least {min_rows} row(s)", df,
                   fix or "check the filter that produced it")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dups = sorted({n for n in names if names.count(n) > 1})
        raise fail(func, f"{argument}.columns", "unique column names", f"<duplicated {short_list(dups)}>",
                   "rename or drop the duplicated columns")
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        clash = sorted({n for n in names if lowered.count(n.lower()) > 1})
        raise fail(func, f"{argument}.columns", "column names that differ in more than upper/lower case",
                   f"<{short_list(clash)}>", "rename one of them (SQLite and many tools ignore case)")
    return df


def check_columns(df: pd.DataFrame, columns: Any, argument: str, *, func: str, frame: str = "df") -> list[str]:
    """A list of column names that all exist in ``df`` (a single name is accepted too)."""
    if isinstance(columns, str):
        columns = [columns]
    try:
        columns = list(columns)
    except TypeError:
        raise fail(func, argument, "a column name or a list of them", columns, "pass e.g. ['temp', 'hum']",
                   TypeError) from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        near = close_matches(missing[0], df.columns)
        fix = f"did you mean {near[0]!r}?" if near else f"{frame} has {short_list(df.columns)}"
        raise fail(func, argument, f"columns of {frame}", f"<missing {short_list(missing)}>", fix)
    return columns


def check_datetimes(times: Any, argument: str, *, func: str) -> pd.Series:
    """Datetimes as a tz-naive Series: tz-aware times are converted to UTC (no DST ambiguity), missing ones refused."""
    if not isinstance(times, pd.Series):
        times = pd.Series(times)
    if not pd.api.types.is_datetime64_any_dtype(times.dtype):
        raise fail(func, argument, "datetimes", f"<dtype {times.dtype}>", "convert them with pd.to_datetime", TypeError)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    if times.isna().any():
        raise fail(func, argument, "no missing times", f"<{int(times.isna().sum())} missing>",
                   "drop or fill the rows without a time")
    return times


def as_timestamp(value: Any, argument: str, *, func: str) -> pd.Timestamp:
    """A single time (str, datetime, Timestamp) as a tz-naive ``pd.Timestamp`` (tz-aware ones in UTC)."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise fail(func, argument, "a time such as '2012-01-01'", value, "pass a date string or pd.Timestamp",
                   TypeError if not isinstance(value, str) else ValueError) from None
    if ts is pd.NaT or pd.isna(ts):
        raise fail(func, argument, "a time", value, "pass a date string or pd.Timestamp")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


__all__ += ["check_numbers", "check_pair"]


def check_numbers(values: Any, argument: str, *, func: str, missing_ok: bool = False) -> np.ndarray:
    """Values as a one-dimensional float array; a missing value (NaN, inf) is refused unless ``missing_ok``.

    >>> check_numbers([1, float("nan")], "y_true", func="f")
    Traceback (most recent call last):
    ValueError: f(): y_true: expected a number in every row, got <1 missing of 2, first at position 1>. Fix: drop or fill those rows (a missing label has not arrived yet: df.dropna(subset=['cnt'])).
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise fail(func, argument, "numbers", values, "convert them to numbers first", TypeError) from None
    if arr.ndim != 1:
        raise fail(func, argument, "one-dimensional values", f"<shape {arr.shape}>", "pass one column")
    bad = ~np.isfinite(arr)
    if bad.any() and not missing_ok:
        raise fail(func, argument, "a number in every row",
                   f"<{int(bad.sum())} missing of {arr.size}, first at position {int(np.argmax(bad))}>",
                   "drop or fill those rows (a missing label has not arrived yet: df.dropna(subset=['cnt']))")
    return arr


def check_pair(y_true: Any, y_pred: Any, *, func: str, names: tuple = ("y_true", "y_pred")) -> tuple:
    """Labels and predictions as two non-empty float arrays of one length, without missing values."""
    t = check_numbers(y_true, names[0], func=func)
    p = check_numbers(y_pred, names[1], func=func)
    if p.size != t.size:
        raise fail(func, names[1], f"the same length as {names[0]} ({t.size})", f"<{p.size} values>",
                   "pass the labels and the predictions of the same rows")
    if t.size == 0:
        raise fail(func, names[0], "at least one row", "<no rows>", "check the filter that selected them")
    return t, p


def check_duration(value: Any, argument: str, *, func: str, positive: bool = False) -> pd.Timedelta:
    """A fixed duration ('10min', '3h', '2D', a Timedelta) as ``pd.Timedelta``; 0/None mean none.

    A bare number is refused (seconds? days?), and so are months and years (they vary in length).

    >>> check_duration("2D", "for_", func="Rule")
    Timedelta('2 days 00:00:00')
    >>> check_duration(5, "for_", func="Rule")
    Traceback (most recent call last):
    TypeError: Rule(): for_: expected a duration with a unit such as '10min', '3h' or '2D', got 5. Fix: give the unit, e.g. for_='5h'.
    """
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    td = pd.Timedelta(0) if value is None or (is_number and value == 0) else None
    if td is None and (is_number or isinstance(value, bool)):
        raise fail(func, argument, "a duration with a unit such as '10min', '3h' or '2D'", value,
                   f"give the unit, e.g. {argument}='{value}h'", TypeError)
    if td is None:
        try:
            td = pd.Timedelta(value)
        except (TypeError, ValueError):
            raise fail(func, argument, "a duration such as '10min', '3h' or '2D'", value,
                       "pass a fixed duration (months and years vary in length)") from None
    if pd.isna(td) or td < pd.Timedelta(0) or (positive and td == pd.Timedelta(0)):
        raise fail(func, argument, f"a duration {'> 0' if positive else '>= 0'}", value, "pass e.g. '30min' or '1D'")
    return td


__all__ += ["check_duration"]  # appended here, not above, to keep merges of this shared file simple
