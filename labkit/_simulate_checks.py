"""Validation helpers for :mod:`labkit.simulate` (private).

Every message names the argument, what was expected, what arrived and how to fix it.
"""
from __future__ import annotations

import difflib
import numbers
from typing import Iterable

import numpy as np
import pandas as pd


def fail(argument: str, expected: str, got, fix: str, exc: type[Exception] = ValueError) -> Exception:
    """Build (not raise) an error in the house format: argument, expected, got, fix."""
    shown = got if isinstance(got, str) and got.startswith("<") else repr(got)
    return exc(f"{argument}: expected {expected}, got {shown}. Fix: {fix}")


def short_list(values: Iterable, limit: int = 12) -> str:
    values = list(values)
    text = ", ".join(repr(v) for v in values[:limit])
    if len(values) > limit:
        text += f", ... ({len(values)} in all)"
    return "[" + text + "]"


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    cands = [str(c) for c in candidates]
    lower = {c.lower(): c for c in cands}
    hits = []
    if str(name).lower() in lower:
        hits.append(lower[str(name).lower()])
    for hit in difflib.get_close_matches(str(name), cands, n=n, cutoff=0.5):
        if hit not in hits:
            hits.append(hit)
    return hits[:n]


def check_frame(df, injector: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise fail("df", "a pandas DataFrame", f"<{type(df).__name__}>",
                   f"pass the hourly frame, e.g. {injector}(labkit.data.load_hourly(), ...)", TypeError)
    if len(df) == 0:
        raise fail("df", "a frame with at least one row", "<an empty frame>",
                   "check the filter that produced it; drift needs rows to act on")
    if not df.index.is_unique:
        raise fail("df.index", "unique row labels (the truth record is aligned to them)",
                   "<an index with duplicated labels>", "call df.reset_index(drop=True) first")
    if not df.columns.is_unique:
        dups = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise fail("df.columns", "unique column names", f"<duplicated {short_list(dups)}>",
                   "rename or drop the duplicated columns first")


def check_column(df: pd.DataFrame, column, argument: str = "column") -> str:
    if not isinstance(column, str):
        raise fail(argument, "a column name (str)", f"<{type(column).__name__} {column!r}>",
                   f"pass one name, e.g. {argument}='temp'", TypeError)
    if column not in df.columns:
        hints = close_matches(column, df.columns)
        hint = f"did you mean {' or '.join(repr(h) for h in hints)}? " if hints else ""
        raise fail(argument, "a column of df", column,
                   f"{hint}df has columns {short_list(df.columns, 30)}")
    return column


def check_columns(df: pd.DataFrame, columns, argument: str = "column") -> tuple[str, ...]:
    if isinstance(columns, str):
        return (check_column(df, columns, argument),)
    try:
        names = list(columns)
    except TypeError:
        raise fail(argument, "a column name or a list of names", f"<{type(columns).__name__}>",
                   f"pass e.g. {argument}='temp' or {argument}=['temp', 'hum']", TypeError) from None
    if not names:
        raise fail(argument, "at least one column name", names, f"pass e.g. {argument}='temp'")
    if len(set(names)) != len(names):
        raise fail(argument, "distinct column names", names, "list each column once")
    return tuple(check_column(df, c, argument) for c in names)


def check_numeric(df: pd.DataFrame, column: str, injector: str) -> None:
    s = df[column]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])
                   and not pd.api.types.is_bool_dtype(df[c])]
        raise fail("column", f"a numeric column for {injector}", f"<{column!r} of dtype {s.dtype}>",
                   f"use a numeric column such as {short_list(numeric[:8])}, or inject_recode for "
                   "categories", TypeError)


def check_time(df: pd.DataFrame, time_col: str) -> pd.Series:
    check_column(df, time_col, "time_col")
    ts = df[time_col]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        raise fail("time_col", "a datetime64 column", f"<{time_col!r} of dtype {ts.dtype}>",
                   f"convert it with df[{time_col!r}] = pd.to_datetime(df[{time_col!r}]) or load the "
                   "data with labkit.data.load_hourly()", TypeError)
    if ts.isna().any():
        raise fail("time_col", "a time for every row", f"<{int(ts.isna().sum())} missing (NaT) values>",
                   "drop or fill the rows without a time first")
    return ts


def as_timestamp(value, argument: str, ts: pd.Series) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise fail(argument, "a date/time such as '2012-06-01' or pd.Timestamp('2012-06-01 07:00')",
                   value, f"pass a parseable time ({exc})") from None
    if pd.isna(stamp):
        raise fail(argument, "a date/time", value, "pass a time such as '2012-06-01'")
    tz = ts.dt.tz
    if tz is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz)
    elif tz is None and stamp.tzinfo is not None:
        raise fail(argument, "a timezone-naive time (the data's times are naive)", value,
                   "drop the timezone, e.g. pd.Timestamp(...).tz_localize(None)")
    return stamp


def check_number(value, argument: str, lo: float, hi: float, *, lo_open: bool = False,
                 hi_open: bool = False, meaning: str = "", fix: str = "") -> float:
    interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    expected = f"a number in {interval}" + (f" ({meaning})" if meaning else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(argument, expected, f"<{type(value).__name__} {value!r}>", fix or f"pass a number in {interval}",
                   TypeError)
    x = float(value)
    if not np.isfinite(x) or x < lo or x > hi or (lo_open and x == lo) or (hi_open and x == hi):
        raise fail(argument, expected, value, fix or f"pass a number in {interval}")
    return x


def existing_values(s: pd.Series) -> list:
    """The categories of a categorical column, else its distinct non-missing values (sorted)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    vals = pd.unique(s.dropna())
    try:
        return sorted(vals.tolist())
    except TypeError:
        return list(vals)


def check_existing(s: pd.Series, values: Iterable, argument: str, column: str, fix: str) -> None:
    """Raise if any of ``values`` is not a value (category) of ``s``."""
    known = existing_values(s)
    known_set = set(known)
    unknown = []
    for v in values:
        try:
            ok = v in known_set
        except TypeError:  # unhashable
            ok = False
        if not ok:
            unknown.append(v)
    if unknown:
        raise fail(argument, f"values that exist in column {column!r}: {short_list(known, 24)}",
                   unknown if len(unknown) > 1 else unknown[0], fix)
