"""Compare a result with the expected one and name the first difference in plain words."""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from labkit._validate import check_number, describe


def compare_values(expected: Any, actual: Any, *, rtol: float = 1e-6, atol: float = 1e-9) -> str | None:
    """The first difference between ``expected`` and ``actual`` in plain words, or None when they match.

    Numbers match when ``|actual - expected| <= atol + rtol * |expected|`` (NaN matches NaN); int and
    float compare by value, tuples like lists, and a DataFrame's column order does not matter.

    >>> compare_values({"mae": 1.0, "rmse": 64.2134}, {"mae": 1.0, "rmse": 41.07})
    "key 'rmse': expected 64.21, got 41.07"
    """
    for name, tolerance in (("rtol", rtol), ("atol", atol)):
        check_number(tolerance, name, func="compare_values", low=0)
    return Comparer(rtol, atol).compare(expected, actual, "")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_, np.timedelta64))


def _is_missing(value: Any) -> bool:
    try:
        return np.ndim(value) == 0 and bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _same(expected: Any, actual: Any) -> bool:
    if _is_missing(expected) or _is_missing(actual):
        return _is_missing(expected) and _is_missing(actual)
    try:
        return bool(np.all(expected == actual))
    except Exception:
        return expected is actual


def _what(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} item{'s' * (len(value) != 1)}"
    text = describe(value)
    return text if text.startswith("<") else f"{text} ({type(value).__name__})"


def _at(path: str, part: str) -> str:
    return f"{path}: {part}" if path else part


def _digits(expected: Any, actual: Any) -> tuple[str, str]:
    """Numbers with just enough significant digits to look different; other values as they print."""
    expected, actual = (pd.Timestamp(v) if isinstance(v, np.datetime64) else v.item() if isinstance(v, np.generic)
                        else v for v in (expected, actual))
    if not (_is_real(expected) and _is_real(actual)):
        return describe(expected), describe(actual)
    if isinstance(expected, numbers.Integral) and isinstance(actual, numbers.Integral):
        return str(int(expected)), str(int(actual))
    pairs = ((f"{float(expected):.{d}g}", f"{float(actual):.{d}g}") for d in range(4, 18))
    e, a = next((p for p in pairs if p[0] != p[1]), (repr(float(expected)), repr(float(actual))))
    n = max(len(s.partition(".")[2]) for s in (e, a)) if "." in e and "." in a and "e" not in e + a else 0
    return (f"{float(expected):.{n}f}", f"{float(actual):.{n}f}") if n else (e, a)  # 0.062860, never 0.06286


def _values(values: pd.Series | pd.Index) -> np.ndarray:
    """Numbers (nullable ones too) as float, so that int and float compare by value; the rest as they are."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
        return values.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return values.to_numpy() if values.dtype.kind in "mM" else values.to_numpy(dtype=object)


class Comparer:
    """Walks two values in step; ``verbs`` word the message (a result, or an input changed in place)."""

    def __init__(self, rtol: float, atol: float, verbs: tuple[str, str, str] = ("returned", "expected", "got")):
        self.rtol, self.atol = rtol, atol
        self.returned, self.expected, self.got = verbs

    def _value(self, path: str, expected: str, actual: str) -> str:
        return _at(path, f"{self.expected} {expected}, {self.got} {actual}")

    def _shape(self, path: str, actual: str, expected: str, fix: str = "") -> str:
        head = f"{path}: {self.got}" if path else self.returned
        return f"{head} {actual}, {self.expected} {expected}" + (f" ({fix})" if fix else "")

    def _keys(self, path: str, what: str, expected: list, actual: list, noun: str) -> str | None:
        parts = [(label, [k for k in a if k not in b]) for label, a, b in
                 (("missing", expected, actual), ("unexpected", actual, expected))]
        details = "; ".join(f"{label}: {', '.join(map(describe, items))}" for label, items in parts if items)
        if not details:
            return None
        if len(expected) == len(actual):
            return f"{f'{path}: {self.got}' if path else self.returned} {what} with different {noun}s ({details})"
        counted = f"{what} with {len(actual)} {noun}{'s' * (len(actual) != 1)}"
        return self._shape(path, counted, f"{len(expected)} ({details})")

    def compare(self, expected: Any, actual: Any, path: str) -> str | None:
        """The first difference below ``path`` ("" at the top), or None."""
        for kinds, method in (((pd.DataFrame, pd.Series), self._pandas), (np.ndarray, self._array),
                              (Mapping, self._mapping), ((list, tuple), self._sequence)):
            if isinstance(expected, kinds):
                return method(expected, actual, path)
        if expected is None:
            return None if actual is None else self._shape(path, _what(actual), "None")
        if isinstance(expected, (bool, np.bool_)):
            if not isinstance(actual, (bool, np.bool_)):
                return self._shape(path, _what(actual), "a bool (True or False)")
            return None if bool(expected) == bool(actual) else self._value(path, str(expected), str(actual))
        if _is_real(expected):
            actual = actual.item() if isinstance(actual, np.ndarray) and actual.ndim == 0 else actual
            if not _is_real(actual):
                return self._shape(path, _what(actual), "a number")
            e, a = float(expected), float(actual)
            close = abs(a - e) <= self.atol + self.rtol * abs(e) or e == a or (math.isnan(e) and math.isnan(a))
            return None if close else self._value(path, *_digits(expected, actual))
        if not isinstance(actual, type(expected)) and not isinstance(expected, type(actual)):
            return self._shape(path, _what(actual), f"a {type(expected).__name__}")
        return None if _same(expected, actual) else self._value(path, describe(expected), describe(actual))

    def _mapping(self, expected: Mapping, actual: Any, path: str) -> str | None:
        if not isinstance(actual, Mapping):
            return self._shape(path, _what(actual), "a dict")
        difference = self._keys(path, "a dict", list(expected), list(actual), "key")
        for key in expected:
            difference = difference or self.compare(expected[key], actual[key], _at(path, f"key {key!r}"))
        return difference

    def _sequence(self, expected: list | tuple, actual: Any, path: str) -> str | None:
        if not isinstance(actual, (list, tuple)):
            fix = "convert it with list(...)" if isinstance(actual, (np.ndarray, pd.Series)) else ""
            return self._shape(path, _what(actual), f"a {type(expected).__name__}", fix)
        if len(actual) != len(expected):
            items = f"{len(actual)} item{'s' * (len(actual) != 1)}"
            return self._shape(path, f"a {type(actual).__name__} of {items}", str(len(expected)))
        differences = (self.compare(e, a, _at(path, f"item {i}")) for i, (e, a) in enumerate(zip(expected, actual)))
        return next((d for d in differences if d), None)

    def _array(self, expected: np.ndarray, actual: Any, path: str) -> str | None:
        if not isinstance(actual, np.ndarray):
            fix = ("convert it with .to_numpy()" if isinstance(actual, (pd.Series, pd.DataFrame, pd.Index))
                   else "convert it with np.asarray(...)" if isinstance(actual, (list, tuple)) else "")
            return self._shape(path, _what(actual), "a numpy array", fix)
        if actual.shape != expected.shape:
            return self._shape(path, f"an array of shape {actual.shape}", f"shape {expected.shape}")
        return self._elements(expected.ravel(), actual.ravel(), path, lambda i: "index " + (
            str(i) if expected.ndim <= 1 else str(tuple(int(j) for j in np.unravel_index(i, expected.shape)))))

    def _pandas(self, expected: pd.DataFrame | pd.Series, actual: Any, path: str) -> str | None:  # columns, rows, ...
        kind = type(expected).__name__
        if not isinstance(actual, type(expected)):
            fix = {pd.Series: "turn it into a table with .to_frame()", pd.DataFrame: "select one column with df[name]"}
            return self._shape(path, _what(actual), f"a {kind}", fix.get(type(actual), ""))
        frame = isinstance(expected, pd.DataFrame)
        difference = frame and self._keys(path, "a DataFrame", list(expected.columns), list(actual.columns), "column")
        if not difference and len(actual) != len(expected):
            return self._shape(path, f"a {kind} with {len(actual)} row{'s' * (len(actual) != 1)}", str(len(expected)))
        difference = difference or self._index(expected.index, actual.index, path)
        if difference:
            return difference
        index = expected.index
        plain = isinstance(index, pd.RangeIndex) and index.equals(pd.RangeIndex(len(index)))
        where = (lambda i: f"row {i}") if plain else (lambda i: f"row {i} (index {_digits(index[i], index[i])[0]})")
        pairs = [(c, expected.iloc[:, i], actual[c]) for i, c in enumerate(expected.columns)] if frame else \
            [(None, expected, actual)]
        differences = (self._elements(_values(e), _values(a), path if c is None else _at(path, f"column {c!r}"), where)
                       for c, e, a in pairs)
        return next((d for d in differences if d), None)

    def _index(self, expected: pd.Index, actual: pd.Index, path: str) -> str | None:
        if expected.equals(actual):
            return None
        where = _at(path, "index")
        if sorted(map(repr, expected)) == sorted(map(repr, actual)):
            return f"{where}: the rows are in a different order than expected (keep the original order or sort " \
                   "with .sort_index())"
        fix = " (reset it with .reset_index(drop=True))" if expected.equals(pd.RangeIndex(len(expected))) else ""
        i = next(i for i, (e, a) in enumerate(zip(expected, actual)) if not _same(e, a))
        return self._value(f"{where}: at row {i}", *_digits(expected[i], actual[i])) + fix

    def _elements(self, expected: np.ndarray, actual: np.ndarray, path: str, where) -> str | None:
        """Two flat arrays of equal length: the first differing element, and how many differ."""
        numeric = expected.dtype.kind in "biuf"
        odd = [] if not numeric or actual.dtype.kind in "biuf" else \
            [v for v in actual if not (_is_real(v) or _is_missing(v))]
        if odd:
            return self._shape(path, f"non-numeric values (first: {describe(odd[0])})", "numbers")
        with np.errstate(all="ignore"):
            try:  # == on whole arrays first; the careful comparison only where that says "different"
                ok = (np.isclose(actual.astype(float), expected.astype(float), rtol=self.rtol, atol=self.atol,
                                 equal_nan=True) | (actual == expected)) if numeric else \
                    np.asarray(expected == actual, dtype=bool).reshape(expected.shape)
            except Exception:
                ok = np.zeros(expected.shape, dtype=bool)
        for i in np.flatnonzero(~ok) if not numeric else ():
            ok[i] = _same(expected[i], actual[i])
        if ok.all():
            return None
        first = int(np.flatnonzero(~ok)[0])
        tail = f" ({int((~ok).sum())} of {len(ok)} values differ)" if len(ok) > 1 else ""
        return self._value(_at(path, where(first)), *_digits(expected[first], actual[first])) + tail
