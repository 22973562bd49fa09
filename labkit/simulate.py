"""Inject drift into the hourly bike data, with a ground-truth record of what changed, where and when.

*What* drifts is the injector: covariate (:func:`inject_covariate_shift`, :func:`inject_covariate_scale`),
prior/label (:func:`inject_prior_shift`), concept (:func:`inject_concept_shift`) and upstream changes
(:func:`inject_unit_change`, :func:`inject_scaling_change`, :func:`inject_missing`, :func:`inject_recode`,
:func:`inject_rename`, :func:`inject_drop`, :func:`inject_stale`). *How* it unfolds in time is the
:class:`Pattern`. Every injector takes the same four arguments besides its own:

* ``df``: the hourly data with a ``timestamp`` column (:data:`TIME_COL`), as from
  :func:`labkit.data.load_hourly`; it is never modified;
* ``start`` (inclusive) and ``end`` (exclusive; ``None`` runs to the end of the data);
* ``pattern``: ``"sudden"``, ``"gradual"``, ``"incremental"``, ``"recurring"`` or a :class:`Pattern`;
* ``seed``: an int or a ``numpy.random.Generator`` for the random draws (the gradual pattern's).

and returns an :class:`Injected` ``(data, truth)``: a new frame and a :class:`DriftRecord` of the rows
changed and how strongly, to score detectors against (:meth:`DriftRecord.windows`). :func:`compose`
applies several injections and keeps every record. Conventions and their reasons: ``docs/simulate.md``.

Examples
--------
>>> from labkit.data import load_hourly
>>> df = load_hourly()
>>> data, truth = inject_covariate_shift(df, column="temp", start="2012-06-01", severity=1.5)
>>> truth.kind, truth.subtype, truth.affected_rows, truth.windows("D").loc["2012-06-01", "share"]
('covariate', 'shift', 5096, 1.0)
"""
from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from pytz.exceptions import InvalidTimeError

from labkit._validate import (as_timestamp, check_choice, check_columns, check_datetimes, check_frame, check_int,
                              check_number, check_seed, check_type, fail, short_list)
from labkit._windows import window_ids, window_starts

__all__ = [
    "TIME_COL", "PATTERN_KINDS", "VALID_RANGES", "RAW_COLUMNS", "UNIT_CHANGES", "COMMUTER_SEGMENT",
    "Pattern", "DriftRecord", "Injected",
    "inject_covariate_shift", "inject_covariate_scale", "inject_prior_shift", "inject_concept_shift",
    "inject_unit_change", "inject_scaling_change", "inject_missing", "inject_recode", "inject_rename",
    "inject_drop", "inject_stale", "INJECTORS", "compose", "DriftScenario",
]

logger = logging.getLogger(__name__)

#: The column every injector reads the time of a row from (the data module's convention).
TIME_COL = "timestamp"
#: The four drift patterns of the lecture.
PATTERN_KINDS = ("sudden", "gradual", "incremental", "recurring")

#: Physical limits: humidity stays in 0..1 (0..100 %), wind speed and counts cannot go negative.
#: Temperatures are not clipped: hotter than ever seen is exactly the drift a monitor must catch.
VALID_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType({
    "hum": (0.0, 1.0), "hum_pct": (0.0, 100.0), "windspeed": (0.0, math.inf), "windspeed_kmh": (0.0, math.inf),
    "casual": (0.0, math.inf), "registered": (0.0, math.inf), "cnt": (0.0, math.inf),
})

#: Each normalised feature and the column holding the same quantity in real units
#: (as added by :func:`labkit.data.load_hourly`).
RAW_COLUMNS: Mapping[str, str] = MappingProxyType(
    {"temp": "temp_c", "atemp": "atemp_c", "hum": "hum_pct", "windspeed": "windspeed_kmh"})

#: Unit changes :func:`inject_unit_change` knows: ``{column: {unit: (source, factor, offset)}}``;
#: the new value is ``factor * df[source] + offset``. The first unit listed is the default.
UNIT_CHANGES: Mapping[str, Mapping[str, tuple[str, float, float]]] = MappingProxyType({
    "temp_c": {"fahrenheit": ("temp_c", 1.8, 32.0)}, "temp": {"fahrenheit": ("temp_c", 1.8, 32.0)},
    "atemp_c": {"fahrenheit": ("atemp_c", 1.8, 32.0)}, "atemp": {"fahrenheit": ("atemp_c", 1.8, 32.0)},
    "windspeed_kmh": {"mph": ("windspeed_kmh", 1 / 1.609344, 0.0), "m/s": ("windspeed_kmh", 1 / 3.6, 0.0)},
    "windspeed": {"mph": ("windspeed_kmh", 1 / 1.609344, 0.0)}, "hum_pct": {"fraction": ("hum_pct", 0.01, 0.0)},
})

#: Commuting hours on working days: the segment whose demand grows in the lecture's concept-drift
#: example (``inject_concept_shift(df, segment=COMMUTER_SEGMENT, ...)``).
COMMUTER_SEGMENT: Mapping[str, Any] = MappingProxyType({"workingday": 1, "hr": (7, 8, 9, 16, 17, 18, 19)})

#: Columns that carry the stream's clock: a resampled row keeps them from the original row.
_CLOCK = (TIME_COL, "instant", "dteday")
#: Columns that add up to ``cnt`` and are rescaled with it.
_COUNT_PARTS = ("casual", "registered")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# =========================================================================== small checks
def _one_column(df: pd.DataFrame, column, func: str, argument: str = "column") -> str:
    check_type(column, str, argument, func=func, expected="one column name (str)",
               fix=f"pass e.g. {argument}='temp'")
    return check_columns(df, column, argument, func=func)[0]


def _numeric(df: pd.DataFrame, column: str, func: str, argument: str = "column") -> None:
    s = df[column]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise fail(func, argument, "a numeric column", f"<{column!r} of dtype {s.dtype}>",
                   "use a numeric column such as 'temp', or inject_recode for categories", TypeError)


def _existing(s: pd.Series, values: Iterable, argument: str, func: str, fix: str) -> None:
    """Refuse any of ``values`` that is not a value (category) of ``s``."""
    categorical = isinstance(s.dtype, pd.CategoricalDtype)
    known = list(s.cat.categories) if categorical else sorted(pd.unique(s.dropna()).tolist())
    unknown = [v for v in values if not isinstance(v, Hashable) or v not in set(known)]
    if unknown:
        raise fail(func, argument, f"values that exist in column {s.name!r}: {short_list(known, 24)}",
                   unknown if len(unknown) > 1 else unknown[0], fix)


def _stamp(value, argument: str, tz, func: str) -> pd.Timestamp:
    """A time in the data's time zone (a time given without zone is read in the data's zone)."""
    stamp = as_timestamp(value, argument, func=func)  # tz-naive; a tz-aware value in UTC
    if tz is None:
        return stamp
    if pd.Timestamp(value).tzinfo is not None:
        return stamp.tz_localize("UTC").tz_convert(tz)
    try:
        return stamp.tz_localize(tz)
    except (ValueError, InvalidTimeError):  # the hour a DST change repeats or skips
        raise fail(func, argument, f"a time that exists once in {tz}", value,
                   "give the UTC offset too, e.g. '2012-11-04 01:30-05:00'") from None


def _as_int_tuple(values, argument: str, high: int) -> tuple[int, ...] | None:
    """Hours (0..23) or weekdays (0..6, Monday=0, or names such as 'sat') as a sorted tuple."""
    if values is None:
        return None
    items = [values] if isinstance(values, (str, numbers.Integral)) else values
    items = list(items) if isinstance(items, Iterable) else []
    if not items:
        raise fail("Pattern", argument, f"a list of integers in 0..{high}", values, f"pass e.g. {argument}=[0]",
                   TypeError)
    out = []
    for v in items:
        if isinstance(v, str) and argument == "weekdays":
            day = [i for i, name in enumerate(_DAYS) if len(v.strip()) >= 3 and name.startswith(v.strip().lower())]
            if not day:
                raise fail("Pattern", argument, "weekday numbers 0..6 (Monday=0) or names such as 'sat'", v,
                           "use e.g. weekdays=['sat', 'sun'] or weekdays=[5, 6]")
            v = day[0]
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 0 <= int(v) <= high:
            extra = " (Monday=0, as pandas' dayofweek; the data's `weekday` column has Sunday=0)" if high == 6 else ""
            raise fail("Pattern", argument, f"integers in 0..{high}{extra}", v, f"pass values between 0 and {high}")
        out.append(int(v))
    return tuple(sorted(set(out)))


def _rng(seed, func: str) -> np.random.Generator:
    seed = check_seed(seed, func=func)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# =========================================================================== Pattern
@dataclass(frozen=True)
class Pattern:
    """How a drift unfolds in time: sudden, gradual, incremental or recurring.

    Injectors take the kind as a string (``pattern="gradual"``) or a ``Pattern`` when the kind has
    options (``pattern=Pattern("recurring", hours=[7, 8, 9])``); ``start``/``end`` go to the injector.

    * ``"sudden"``: fully on for ``start <= t < end``.
    * ``"gradual"``: each row drifted with probability ``p(t)`` ramping linearly from 0 at ``start``
      to 1 at ``end``, then 1 (a seeded mixture whose share grows).
    * ``"incremental"``: every row gets intensity ``p(t)``, so the change itself grows; with
      ``steps`` in equal steps (1/steps, ..., 1).
    * ``"recurring"``: on when all its conditions hold (default: weekends): the first ``duty`` share
      (default 0.5) of each ``period`` (e.g. ``"7D"``) counted from ``start``; ``weekdays`` (Monday=0,
      pandas' ``dayofweek``, or names like ``"sat"``); ``hours`` of the day (0..23).

    Examples
    --------
    >>> t = pd.date_range("2012-01-01", periods=5, freq="D")
    >>> Pattern("incremental").schedule(t, start=t[0], end=t[4]).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> Pattern("incremental", steps=2).schedule(t, start=t[0], end=t[4]).tolist()
    [0.5, 0.5, 1.0, 1.0, 1.0]
    >>> Pattern("recurring", period="2D", duty=0.5).schedule(t, start=t[0]).tolist()
    [1.0, 0.0, 1.0, 0.0, 1.0]
    >>> Pattern("gradual").weights(t, start=t[0], end=t[4], seed=1).tolist()
    [0.0, 0.0, 1.0, 0.0, 1.0]
    """

    kind: str = "sudden"
    steps: int | None = None
    period: pd.Timedelta | None = None
    duty: float | None = None
    weekdays: tuple[int, ...] | None = None
    hours: tuple[int, ...] | None = None

    def __post_init__(self):
        kind = check_choice(self.kind, "kind", PATTERN_KINDS, func="Pattern")
        for name in ("steps", "period", "duty", "weekdays", "hours"):
            owner = "incremental" if name == "steps" else "recurring"
            if kind != owner and getattr(self, name) is not None:
                raise fail("Pattern", name, f"no value: {name} applies to Pattern({owner!r}) only",
                           getattr(self, name), f"drop {name}= or use Pattern({owner!r}, {name}=...)")
        if self.steps is not None:
            object.__setattr__(self, "steps", check_int(
                self.steps, "steps", func="Pattern", low=1, fix="pass e.g. steps=4, or None for a smooth ramp"))
        if kind == "recurring":
            self._check_recurring()

    def _check_recurring(self) -> None:
        period = self.period
        if period is not None:
            try:
                period = pd.Timedelta(period)
            except (TypeError, ValueError):
                period = pd.NaT
            if pd.isna(period) or period <= pd.Timedelta(0):
                raise fail("Pattern", "period", "a positive duration such as '7D' or '12h'", self.period,
                           "pass e.g. period='7D'")
            object.__setattr__(self, "period", period)
        if self.duty is not None:
            if period is None:
                raise fail("Pattern", "duty", "no value unless period is given", self.duty,
                           "add period=..., e.g. Pattern('recurring', period='7D', duty=2/7)")
            object.__setattr__(self, "duty", check_number(
                self.duty, "duty", func="Pattern", low=0, high=1, low_open=True,
                fix="pass the share of each period that is drifted, e.g. duty=0.5"))
        elif period is not None:
            object.__setattr__(self, "duty", 0.5)
        object.__setattr__(self, "weekdays", _as_int_tuple(self.weekdays, "weekdays", 6))
        object.__setattr__(self, "hours", _as_int_tuple(self.hours, "hours", 23))
        if period is None and self.weekdays is None and self.hours is None:
            object.__setattr__(self, "weekdays", (5, 6))

    def schedule(self, timestamps, start, end=None) -> np.ndarray:
        """Planned intensity per timestamp, in [0, 1] (no random draw).

        For ``"gradual"`` this is the *probability* that a row is drifted (see :meth:`weights`).
        ``end`` is exclusive (sudden, recurring) or the time the ramp reaches 1 (gradual,
        incremental); ``None`` runs to the last timestamp.
        """
        idx = pd.DatetimeIndex(timestamps)
        t = idx.as_unit("ns").asi8
        if t.size == 0:
            return np.zeros(0)
        start_ns = _stamp(start, "start", idx.tz, "Pattern.schedule").as_unit("ns").value
        end_ns = None if end is None else _stamp(end, "end", idx.tz, "Pattern.schedule").as_unit("ns").value
        if end_ns is not None and end_ns <= start_ns:
            raise fail("Pattern.schedule", "end", f"a time after start ({pd.Timestamp(start)})", end,
                       "pass an end later than start, or end=None")
        after = t >= start_ns
        if self.kind in ("sudden", "recurring"):
            on = after if end_ns is None else after & (t < end_ns)
            if self.period is not None:
                on &= ((t - start_ns) % self.period.value) < self.duty * self.period.value
            if self.weekdays is not None:
                on &= np.isin(idx.dayofweek, self.weekdays)
            if self.hours is not None:
                on &= np.isin(idx.hour, self.hours)
            return on.astype(float)
        ramp_end = int(t.max()) if end_ns is None else end_ns
        if ramp_end <= start_ns:  # nothing to ramp over (the drift starts at the last row)
            frac = after.astype(float)
        else:
            frac = np.clip((t - start_ns) / float(ramp_end - start_ns), 0.0, 1.0)
        if self.steps is not None:
            frac = np.minimum(np.floor(frac * self.steps) + 1.0, self.steps) / self.steps
        return np.where(after, frac, 0.0)

    def weights(self, timestamps, start, end=None, *, seed=0) -> np.ndarray:
        """Realised per-row weight in [0, 1]: the schedule, with gradual rows drawn (seeded) as 0 or 1."""
        sched = self.schedule(timestamps, start, end)
        if self.kind != "gradual":
            return sched
        return (_rng(seed, "Pattern.weights").random(sched.shape[0]) < sched).astype(float)

    def to_dict(self) -> dict:
        """The kind and its non-empty options, JSON-friendly."""
        return {name: _plain(value) for name, value in vars(self).items() if value is not None}


def _as_pattern(pattern, func: str) -> Pattern:
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, str):
        return Pattern(check_choice(pattern, "pattern", PATTERN_KINDS, func=func))
    raise fail(func, "pattern", f"one of {list(PATTERN_KINDS)} or a Pattern", pattern,
               "pass e.g. pattern='gradual' or pattern=Pattern('recurring', weekdays=['sat', 'sun'])", TypeError)


# =========================================================================== truth records
def _plain(value):
    """Make a value JSON-friendly (numpy scalars, tuples, timestamps, mappings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


@dataclass(frozen=True)
class DriftRecord:
    """Ground truth of one injected drift: what changed, where and when.

    * ``kind``: ``"covariate"``, ``"prior"``, ``"concept"``, ``"upstream"`` (``"composite"`` for
      :func:`compose`); ``subtype``: e.g. ``"shift"``, ``"resample"``, ``"unit_change"``, ``"missing"``.
    * ``columns``: the columns whose values (or name) changed; ``pattern``: the :class:`Pattern`
      (``None`` for a composite).
    * ``start`` (inclusive) and ``end``: exclusive (``None``: to the end of the data), or for
      gradual/incremental the time the ramp reached full strength.
    * ``severity``: the injector's (1.0 for all-or-nothing changes); ``params``: what else explains
      the drift; ``injector``: the function that made the record.
    * ``weight``: per-row intensity in [0, 1], aligned to the data's index (0 = untouched);
      ``timestamps``: the time of each row (used by :meth:`windows`).
    """

    kind: str
    subtype: str
    columns: tuple[str, ...]
    pattern: Pattern | None
    start: pd.Timestamp
    end: pd.Timestamp | None
    severity: float | None
    params: dict = field(default_factory=dict, compare=False)
    weight: pd.Series = field(default=None, compare=False, repr=False)
    timestamps: pd.Series = field(default=None, compare=False, repr=False)
    injector: str = ""

    def __post_init__(self):
        object.__setattr__(self, "params", dict(self.params))  # a private copy (plain dict: picklable)

    @property
    def mask(self) -> pd.Series:
        """Boolean per row: was the row changed (weight > 0)?"""
        return (self.weight > 0).rename("affected")

    @property
    def affected_rows(self) -> int:
        """Number of rows with a non-zero weight."""
        return int((self.weight.to_numpy() > 0).sum())

    @property
    def summary(self) -> str:
        """One readable line, e.g. for a notebook's print()."""
        pattern = self.pattern.kind if self.pattern is not None else "mixed"
        end = "end of data" if self.end is None else str(self.end)
        sev = "" if self.severity is None else f", severity {self.severity:g}"
        return (f"{self.kind}/{self.subtype} on {', '.join(self.columns)}: {pattern} from {self.start} to "
                f"{end}{sev}; {self.affected_rows} of {len(self.weight)} rows affected")

    def to_frame(self) -> pd.DataFrame:
        """Per-row truth: ``timestamp``, ``weight`` and ``affected``, aligned to the data's index."""
        return pd.DataFrame({TIME_COL: self.timestamps, "weight": self.weight, "affected": self.mask})

    def to_dict(self) -> dict:
        """A JSON-friendly summary (no per-row data; use :meth:`to_frame` for that)."""
        pattern = {} if self.pattern is None else self.pattern.to_dict()
        return {
            "injector": self.injector, "kind": self.kind, "subtype": self.subtype, "columns": list(self.columns),
            "pattern": pattern.pop("kind", None), "pattern_params": pattern,
            "start": str(self.start), "end": None if self.end is None else str(self.end),
            "severity": self.severity, "params": _plain(self.params),
            "affected_rows": self.affected_rows, "n_rows": len(self.weight),
        }

    def windows(self, freq: str = "D", *, min_share: float = 0.0) -> pd.DataFrame:
        """Per time window: how much drift was present. The truth to score detectors against.

        Windows are labkit's (:func:`labkit._windows.window_starts`, labelled by their start), the
        same as a drift timeline's; windows without rows are left out. Columns: ``n_rows``,
        ``affected_rows``, ``share`` (affected / n_rows), ``intensity`` (mean weight) and
        ``drifted`` (share above ``min_share``).

        Examples
        --------
        >>> t = pd.Series(pd.date_range("2012-01-01", periods=72, freq="h"))
        >>> rec = DriftRecord("covariate", "shift", ("temp",), Pattern("incremental"), t[0], t[71], 1.0,
        ...                   weight=pd.Series(Pattern("incremental").schedule(t, t[0], t[71])), timestamps=t)
        >>> rec.windows("D").round(3)  # doctest: +NORMALIZE_WHITESPACE
                    n_rows  affected_rows  share  intensity  drifted
        window
        2012-01-01      24             23  0.958      0.162     True
        2012-01-02      24             24  1.000      0.500     True
        2012-01-03      24             24  1.000      0.838     True
        """
        func = "DriftRecord.windows"
        check_number(min_share, "min_share", func=func, low=0, high=1, high_open=True,
                     fix="pass the share of affected rows above which a window counts as drifted, e.g. 0.0")
        w = self.weight.to_numpy(dtype=float)
        frame = pd.DataFrame({"window": window_starts(self.timestamps, freq, func=func).to_numpy(),
                              "w": w, "a": (w > 0).astype(np.int64)})
        grouped = frame.groupby("window")
        out = pd.DataFrame({"n_rows": grouped["w"].size(), "affected_rows": grouped["a"].sum()})
        out["share"] = out["affected_rows"] / out["n_rows"]
        out["intensity"] = grouped["w"].mean()
        out["drifted"] = out["share"] > min_share
        return out


@dataclass(frozen=True)
class Injected:
    """The drifted data and its ground truth. Unpacks as ``data, truth = inject_...(...)``.

    ``data`` is a new frame (same index and row order as the input); ``truth`` the
    :class:`DriftRecord` (for :func:`compose` a ``"composite"`` whose weight is the maximum over the
    parts); ``records`` the individual records in the order applied (``(truth,)`` for one injection).
    """

    data: pd.DataFrame = field(repr=False, compare=False)
    truth: DriftRecord
    records: tuple[DriftRecord, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "records", tuple(self.records) or (self.truth,))

    def __iter__(self):
        return iter((self.data, self.truth))


# =========================================================================== shared machinery
@dataclass
class _Run:
    """Validated inputs of one injection."""

    injector: str
    df: pd.DataFrame
    ts: pd.Series
    pattern: Pattern
    start: pd.Timestamp
    end: pd.Timestamp | None
    rng: np.random.Generator
    seed: Any

    def weights(self) -> np.ndarray:
        return self.pattern.weights(self.ts, self.start, self.end, seed=self.rng)

    def column(self, column, *, numeric: bool = False) -> str:
        """``column`` checked: one existing column, not the clock (and numeric if asked)."""
        column = _one_column(self.df, column, self.injector)
        self.not_clock(column)
        if numeric:
            _numeric(self.df, column, self.injector)
        return column

    def not_clock(self, column: str) -> None:
        if column == TIME_COL:
            raise fail(self.injector, "column", f"a column other than the clock {TIME_COL!r}", column,
                       "pick a feature column; the truth record needs the times unchanged")

    def record(self, kind: str, subtype: str, columns: Sequence[str], severity, params: Mapping,
               weight: np.ndarray) -> DriftRecord:
        seed = self.seed if isinstance(self.seed, numbers.Integral) else "<Generator>"
        end = self.ts.max() if self.pattern.kind in ("gradual", "incremental") and self.end is None else self.end
        rec = DriftRecord(
            kind=kind, subtype=subtype, columns=tuple(columns), pattern=self.pattern, start=self.start, end=end,
            severity=None if severity is None else float(severity), params={**params, "seed": seed},
            weight=pd.Series(np.asarray(weight, dtype=float), index=self.df.index, name="weight"),
            timestamps=self.ts.copy(), injector=self.injector,
        )
        if rec.affected_rows == 0:
            logger.warning("%s affected no row: check start/end, the pattern and any segment or mapping "
                           "(%s)", self.injector, rec.summary)
        return rec


_NOT_INCREMENTAL = ("sudden", "gradual", "recurring")
_WHY_NOT_INCREMENTAL = ("this change is all-or-nothing per row, so it has no partial size to ramp; use "
                        "'gradual' for a growing share of changed rows")


def _clock(df, func: str) -> pd.Series:
    """The data's times (``df[TIME_COL]``), checked: a frame with unique row labels and a full clock."""
    check_frame(df, "df", func=func, fix=f"pass the hourly frame, e.g. {func}(labkit.data.load_hourly(), ...)")
    if TIME_COL not in df.columns:
        raise fail(func, "df", f"a {TIME_COL!r} column (the time of each row)", f"<columns {short_list(df.columns)}>",
                   "load the data with labkit.data.load_hourly(), or add the column with pd.to_datetime")
    check_datetimes(df[TIME_COL], f"df[{TIME_COL!r}]", func=func)
    if not df.index.is_unique:
        raise fail(func, "df.index", "unique row labels (the truth record is aligned to them)",
                   "<an index with duplicated labels>", "call df.reset_index(drop=True) first")
    return df[TIME_COL]


def _begin(injector: str, df, start, end, pattern, seed, *, allowed: Sequence[str] = PATTERN_KINDS,
           why: str = "", start_default_first: bool = False) -> _Run:
    """The one validator every injector calls first: frame, clock, pattern, window, seed."""
    ts = _clock(df, injector)
    pat = _as_pattern(pattern, injector)
    if pat.kind not in allowed:
        raise fail(injector, "pattern", f"one of {list(allowed)} for {injector}", pat.kind, why)
    first, last, tz = ts.min(), ts.max(), ts.dt.tz
    if start is None and start_default_first:
        start_ts = first
    elif start is None:
        middle = (first + (last - first) / 2).normalize().date()
        raise fail(injector, "start", "the time the drift begins", None, f"pass e.g. start='{middle}'")
    else:
        start_ts = _stamp(start, "start", tz, injector)
        if not first <= start_ts <= last:
            raise fail(injector, "start", f"a time within the data ({first} .. {last})", str(start_ts),
                       "pick a start inside that range")
    end_ts = None if end is None else _stamp(end, "end", tz, injector)
    if end_ts is not None and end_ts <= start_ts:
        raise fail(injector, "end", f"a time after start ({start_ts})", str(end_ts),
                   "swap start and end, or pass end=None to run to the end of the data")
    if end_ts is not None and end_ts > last:
        raise fail(injector, "end", f"a time within the data (up to {last}; end is exclusive)", str(end_ts),
                   "pass end=None to run to the end of the data")
    return _Run(injector, df, ts, pat, start_ts, end_ts, _rng(seed, injector), seed)


def _with_column(df: pd.DataFrame, column: str, rows: np.ndarray, values: np.ndarray,
                 bounds: tuple[float, float] | None = None) -> tuple[pd.DataFrame, int]:
    """A copy of ``df`` whose ``column`` (as float) holds ``values`` on ``rows``, clipped to ``bounds``;
    and the number of values the clip moved."""
    new = df[column].to_numpy(dtype=float).copy()
    new[rows] = values[rows] if bounds is None else np.clip(values[rows], *bounds)
    clipped = int(np.sum((new[rows] != values[rows]) & ~np.isnan(values[rows])))
    out = df.copy()
    out[column] = new
    return out, clipped


def _rescale_counts(df: pd.DataFrame, out: pd.DataFrame, column: str, parts: Sequence[str],
                    rows: np.ndarray, factor: np.ndarray) -> None:
    """Multiply ``column`` by ``factor`` on ``rows``; keep ``parts`` summing to it (the last absorbs rounding)."""
    s = df[column]
    is_int = pd.api.types.is_integer_dtype(s)
    total = s.to_numpy(dtype=float).copy()
    new_total = total[rows] * factor
    total[rows] = np.round(new_total) if is_int else new_total
    out[column] = total.astype(s.dtype) if is_int else total
    acc = np.zeros(int(rows.sum()))
    for i, part in enumerate(parts):
        values = df[part].to_numpy(dtype=float).copy()
        if i < len(parts) - 1:
            values[rows] = np.round(values[rows] * factor) if is_int else values[rows] * factor
            acc += values[rows]
        else:
            values[rows] = total[rows] - acc
        out[part] = values.astype(df[part].dtype) if pd.api.types.is_integer_dtype(df[part]) else values


# =========================================================================== covariate drift
def inject_covariate_shift(df: pd.DataFrame, *, column: str, start, end=None, pattern="sudden",
                           severity: float = 1.0, seed=0, clip=True) -> Injected:
    """Covariate drift: add ``severity`` standard deviations of the column to a numeric feature.

    ``P(x)`` moves while ``P(y | x)`` stays: e.g. a hotter summer than the model has seen. Returns the
    data and a ``DriftRecord(kind="covariate", subtype="shift")`` whose ``params`` hold ``std`` and ``shift``.

    Parameters
    ----------
    column : str
        Numeric feature to shift (an integer column becomes float).
    severity : float, default 1.0
        The shift in standard deviations of ``df[column]``, in [-10, 10]; with ``"incremental"`` it
        grows from 0 to this.
    clip : bool, default True
        Clip to :data:`VALID_RANGES` (temperatures are never clipped); clipped rows still count.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> out = inject_covariate_shift(load_hourly(), column="temp", start="2012-07-01", severity=2.0)
    >>> round(out.truth.params["shift"], 4), out.truth.affected_rows
    (0.3851, 4376)
    """
    run = _begin("inject_covariate_shift", df, start, end, pattern, seed)
    column = run.column(column, numeric=True)
    sev = check_number(severity, "severity", func=run.injector, low=-10, high=10,
                       fix="pass the shift in standard deviations, e.g. severity=1.0 (one std up) or -0.5")
    check_type(clip, bool, "clip", func=run.injector, expected="True or False", fix="pass clip=False to never clip")
    bounds = VALID_RANGES.get(column) if clip else None
    std = float(df[column].std())
    if not np.isfinite(std) or std <= 0:
        raise fail(run.injector, "column", "a column that varies (a positive standard deviation)",
                   f"<{column!r} with std {std}>", "pick a column whose values vary")
    w = run.weights()
    out, clipped = _with_column(df, column, w > 0, df[column].to_numpy(dtype=float) + w * sev * std, bounds)
    rec = run.record("covariate", "shift", [column], sev, {
        "std": std, "shift": sev * std, "clip": bounds, "clipped_rows": clipped}, w)
    return Injected(out, rec)


def inject_covariate_scale(df: pd.DataFrame, *, column: str, start, end=None, pattern="sudden",
                           severity: float = 1.5, around: str = "zero", seed=0) -> Injected:
    """Covariate drift: multiply a numeric feature by ``severity`` (its spread changes).

    ``severity`` is the factor at full strength, in (0, 10] (with ``"incremental"`` it ramps from 1);
    ``around="zero"`` computes ``x * factor`` (the mean moves too), ``around="mean"``
    ``mean + (x - mean) * factor`` (only the spread changes). Results are clipped to
    :data:`VALID_RANGES`. Returns the data and a ``DriftRecord(kind="covariate", subtype="scale")``.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_covariate_scale(df, column="temp", start="2012-01-01", severity=2.0, around="mean")
    >>> round(out.data.loc[out.truth.mask, "temp"].std() / df.loc[out.truth.mask, "temp"].std(), 3)
    2.0
    """
    run = _begin("inject_covariate_scale", df, start, end, pattern, seed)
    column = run.column(column, numeric=True)
    sev = check_number(severity, "severity", func=run.injector, low=0, high=10, low_open=True,
                       fix="pass the multiplying factor, e.g. severity=1.5 (50% larger) or 0.5 (halved)")
    check_choice(around, "around", ("zero", "mean"), func=run.injector)
    bounds = VALID_RANGES.get(column)
    x = df[column].to_numpy(dtype=float)
    center = 0.0 if around == "zero" else float(np.nanmean(x))
    w = run.weights()
    out, clipped = _with_column(df, column, w > 0, center + (x - center) * (1.0 + w * (sev - 1.0)), bounds)
    rec = run.record("covariate", "scale", [column], sev, {
        "around": around, "center": center, "clip": bounds, "clipped_rows": clipped}, w)
    return Injected(out, rec)


# =========================================================================== prior / label drift
def _tilted_donors(run: _Run, x: np.ndarray, tilt: np.ndarray, rows: np.ndarray, within):
    """For each affected row, draw a donor row from its pool with a rank tilt (vectorised).

    Returns the source position per row, the rows actually replaced and the number of pools.
    """
    valid = ~np.isnan(x)
    if within is None:  # one pool: the rows from start to end (or to the end of the data)
        group = np.zeros(x.shape[0], dtype=np.int64)
        valid &= (run.ts >= run.start).to_numpy()
        if run.pattern.kind in ("sudden", "recurring") and run.end is not None:
            valid &= (run.ts < run.end).to_numpy()
    else:
        group = window_ids(run.ts, within, func=run.injector, argument="within")[0]
    n_groups = int(group.max()) + 1
    cand = np.flatnonzero(valid)
    order = cand[np.lexsort((x[cand], group[cand]))]  # by pool, then by target value
    counts = np.bincount(group[order], minlength=n_groups)
    starts = np.cumsum(counts) - counts
    rows = rows & (counts[group] > 0)
    g, s = group[rows], tilt[rows]
    u = run.rng.random(g.shape[0])
    a = 1.0 / (1.0 + np.abs(s))
    rank = np.where(s >= 0, u ** a, 1.0 - (1.0 - u) ** a)  # density (1 + s) r**s, mirrored for s < 0
    pick = starts[g] + np.minimum((rank * counts[g]).astype(np.int64), counts[g] - 1)
    src = np.arange(x.shape[0])
    src[rows] = order[pick]
    return src, rows, int(np.count_nonzero(counts))


def inject_prior_shift(df: pd.DataFrame, *, column: str = "cnt", start, end=None, pattern="sudden",
                       severity: float = 1.0, within: str | None = "D", seed=0) -> Injected:
    """Prior (label) drift: the target's distribution changes while ``P(x | y)`` stays.

    Each affected row is replaced by a whole real row (features *and* target) drawn, seeded, from the
    rows of its ``within`` window (``"D"`` the same day, ``"W"`` the same week, ``None`` the whole
    drift interval, mixing seasons), tilted toward the window's busy hours (``severity > 0``) or its
    quiet ones (``severity < 0``, in [-10, 10]; with ``"incremental"`` the tilt grows): 0 is a plain
    bootstrap, 1 a linear tilt on the ranks, 2 puts 88 % of the draws in the busier half. The clock
    columns (``timestamp``, ``instant``, ``dteday``) stay; the donor's ``hr``, ``weather``... come
    with it. (Scaling the target instead changes ``P(y | x)``: that is :func:`inject_concept_shift`.)
    The tilt's formula and why same-day donors matter: ``docs/simulate.md``.

    Returns the data and a ``DriftRecord(kind="prior", subtype="resample")`` whose ``params`` hold the
    target's mean over the affected rows before and after (a row may draw itself).

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> out = inject_prior_shift(load_hourly(), start="2012-03-01", end="2012-10-01", severity=2.0, seed=0)
    >>> round(out.truth.params["mean_before"]), round(out.truth.params["mean_after"])
    (268, 452)
    """
    run = _begin("inject_prior_shift", df, start, end, pattern, seed)
    column = run.column(column, numeric=True)
    kept = tuple(c for c in _CLOCK if c in df.columns)
    if column in kept:
        raise fail(run.injector, "column", f"a target, not a clock column {list(kept)}", column, "pass column='cnt'")
    sev = check_number(severity, "severity", func=run.injector, low=-10, high=10,
                       fix="pass the tilt toward high (+) or low (-) target values, e.g. severity=2.0")
    x = df[column].to_numpy(dtype=float)
    w = run.weights()
    src, rows, pools = _tilted_donors(run, x, w * sev, w > 0, within)
    w = np.where(rows, w, 0.0)
    out = df.take(src).set_axis(df.index)
    for c in kept:
        out[c] = df[c]
    after = out[column].to_numpy(dtype=float)
    params = {"within": within, "keep": kept, "pools": pools,
              "mean_before": float(np.nanmean(x[rows])) if rows.any() else float("nan"),
              "mean_after": float(np.nanmean(after[rows])) if rows.any() else float("nan")}
    changed = [column, *(c for c in df.columns if c not in kept and c != column)]
    return Injected(out, run.record("prior", "resample", changed, sev, params, w))


# =========================================================================== concept drift
def _segment_mask(df: pd.DataFrame, segment, func: str) -> tuple[np.ndarray, Any]:
    """Boolean rows of the segment and a JSON-friendly description of it."""
    if segment is None:
        return np.ones(len(df), dtype=bool), "all rows"
    if isinstance(segment, Mapping):
        if not segment:
            raise fail(func, "segment", "a non-empty {column: value or list of values} mapping", dict(segment),
                       "pass e.g. segment={'workingday': 1, 'hr': [7, 8, 9]} or segment=None for all rows")
        mask = np.ones(len(df), dtype=bool)
        described = {}
        for col, values in segment.items():
            _one_column(df, col, func, "segment")
            vals = list(values) if isinstance(values, (list, tuple, set, frozenset, range, np.ndarray)) else [values]
            if not vals:
                raise fail(func, "segment", f"at least one value for column {col!r}", values,
                           f"pass e.g. segment={{{col!r}: ...}}")
            _existing(df[col], vals, "segment", func, f"use values that occur in {col!r}")
            mask &= df[col].isin(vals).to_numpy()
            described[col] = vals
        return mask, described
    if callable(segment):
        name = getattr(segment, "__name__", type(segment).__name__)
        return _bool_rows(df, segment(df), f"segment(df) from {name}", func), f"callable {name}"
    return _bool_rows(df, segment, "segment", func), "boolean mask"


def _bool_rows(df: pd.DataFrame, values, argument: str, func: str) -> np.ndarray:
    if isinstance(values, pd.Series):
        if not values.index.equals(df.index):
            raise fail(func, argument, "a boolean Series aligned to df's index", "<a Series with another index>",
                       "build it from df itself, e.g. df['hr'].between(7, 9)")
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype != bool or arr.shape != (len(df),):
        raise fail(func, argument, f"one boolean per row ({len(df)} values)",
                   f"<array of dtype {arr.dtype} and shape {arr.shape}>",
                   "pass e.g. segment=(df['workingday'] == 1)", TypeError)
    return arr


def inject_concept_shift(df: pd.DataFrame, *, column: str = "cnt", segment=None, start, end=None,
                         pattern="sudden", severity: float = 0.3, seed=0) -> Injected:
    """Concept drift: ``P(y | x)`` changes. Demand in a segment grows (or shrinks) by ``severity``.

    The features stay exactly as they were, so input monitors see nothing; only the target moves
    (``cnt * (1 + weight * severity)``, rounded for integer columns), like the real growth from 2011
    to 2012: same weather, more riders. For ``column="cnt"`` the parts ``casual`` and ``registered``
    (when present) are rescaled with it, so ``casual + registered == cnt`` stays exact.

    ``segment`` says whose relationship changes: ``None`` all rows; ``{column: value or values}`` (all
    must hold, every value must occur), e.g. :data:`COMMUTER_SEGMENT`; a boolean per row; or a function
    ``df -> booleans``. ``severity`` is the relative change at full strength, in [-1, 10]: 0.3 = +30 %,
    -0.5 = half. Returns the data and a ``DriftRecord(kind="concept", subtype="segment_scale")``, weight
    0 outside the segment (a small count can round to itself, so an affected row may be unchanged).

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_concept_shift(df, segment=COMMUTER_SEGMENT, start="2012-03-01", severity=0.5)
    >>> d, m = out.data, out.truth.mask
    >>> round(d.loc[m, "cnt"].sum() / df.loc[m, "cnt"].sum(), 3), (d["casual"] + d["registered"]).equals(d["cnt"])
    (1.5, True)
    """
    run = _begin("inject_concept_shift", df, start, end, pattern, seed)
    column = run.column(column, numeric=True)
    sev = check_number(severity, "severity", func=run.injector, low=-1, high=10,
                       fix="pass the relative change of the target in the segment, e.g. severity=0.3 for +30 %")
    parts = _COUNT_PARTS if column == "cnt" and all(c in df.columns for c in _COUNT_PARTS) else ()
    seg, described = _segment_mask(df, segment, run.injector)
    w = run.weights() * seg
    rows = w > 0
    out = df.copy()
    _rescale_counts(df, out, column, parts, rows, 1.0 + w[rows] * sev)
    rec = run.record("concept", "segment_scale", [column, *parts], sev, {
        "segment": described, "segment_rows": int(seg.sum()), "components": parts}, w)
    return Injected(out, rec)


# =========================================================================== upstream / pipeline
def _real_units(run: _Run, source: str, column: str) -> str:
    """``source``, the numeric column in real units that ``column`` is computed from."""
    if source not in run.df.columns:
        raise fail(run.injector, "df", f"the column {source!r} to compute {column!r} from", "<a frame without it>",
                   "load the data with labkit.data.load_hourly(), which adds the real-unit columns")
    _numeric(run.df, source, run.injector, "df")
    return source


def inject_unit_change(df: pd.DataFrame, *, column: str = "temp_c", to: str | None = None, start, end=None,
                       pattern="sudden", seed=0) -> Injected:
    """Upstream change: a feature arrives in another unit (°C → °F, km/h → mph, % → fraction).

    ``column`` is one of :data:`UNIT_CHANGES` and ``to`` one of its units (default the first). For the
    normalised ``temp``/``atemp`` the value becomes the raw °F of ``temp_c``/``atemp_c``: the model
    sees e.g. 77.0 where it expects 0..1. ``"gradual"`` converts a growing share of rows (sensors
    upgraded one by one); ``"incremental"`` is refused (half a unit change is not a thing). Returns the
    data and a ``DriftRecord(kind="upstream", subtype="unit_change")`` whose ``params`` hold the formula.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_unit_change(df, column="temp_c", start="2012-12-31")
    >>> df["temp_c"].iloc[-1], round(out.data["temp_c"].iloc[-1], 2), out.truth.params["formula"]
    (4.22, 39.6, 'temp_c = 1.8 * temp_c + 32')
    """
    run = _begin("inject_unit_change", df, start, end, pattern, seed, allowed=_NOT_INCREMENTAL,
                 why=_WHY_NOT_INCREMENTAL)
    column = run.column(column)
    if column not in UNIT_CHANGES:
        raise fail(run.injector, "column", f"a column with a known unit change: {list(UNIT_CHANGES)}", column,
                   "pick one of those, or use inject_covariate_scale for another factor")
    units = UNIT_CHANGES[column]
    unit = next(iter(units)) if to is None else to
    if unit not in units:
        raise fail(run.injector, "to", f"one of {list(units)} for column {column!r}", to,
                   f"pass to={next(iter(units))!r}")
    source, factor, offset = units[unit]
    _real_units(run, source, column)
    rows = run.weights() > 0
    out, _ = _with_column(df, column, rows, df[source].to_numpy(dtype=float) * factor + offset)
    formula = f"{column} = {factor:g} * {source}" + (f" + {offset:g}" if offset else "")
    rec = run.record("upstream", "unit_change", [column], 1.0, {
        "to": unit, "source": source, "factor": factor, "offset": offset, "formula": formula}, rows)
    return Injected(out, rec)


def inject_scaling_change(df: pd.DataFrame, *, column: str = "temp", to: str = "raw", start, end=None,
                          pattern="sudden", seed=0) -> Injected:
    """Upstream change: a normalised feature stops being normalised the way the model expects.

    ``column`` is one of :data:`RAW_COLUMNS`. ``to="raw"``: the value in real units from the
    companion column (``hum`` gets ``hum_pct``), the normalisation skipped; ``to="symmetric"``:
    ``2 * x - 1``, the scaling changed from [0, 1] to [-1, 1]. ``"incremental"`` is refused
    (all-or-nothing per row). Returns the data and a ``DriftRecord(kind="upstream", subtype="scaling_change")``.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_scaling_change(df, column="hum", start="2012-12-31")
    >>> df["hum"].iloc[-1], out.data["hum"].iloc[-1]
    (0.65, 65.0)
    """
    run = _begin("inject_scaling_change", df, start, end, pattern, seed, allowed=_NOT_INCREMENTAL,
                 why=_WHY_NOT_INCREMENTAL)
    column = run.column(column)
    if column not in RAW_COLUMNS:
        raise fail(run.injector, "column", f"a normalised feature: one of {list(RAW_COLUMNS)}", column,
                   "pick one of those (real-unit columns have inject_unit_change)")
    check_choice(to, "to", ("raw", "symmetric"), func=run.injector)
    x = df[column].to_numpy(dtype=float)
    if to == "raw":
        source = _real_units(run, RAW_COLUMNS[column], column)
        target, formula = df[source].to_numpy(dtype=float), f"{column} = {source}"
    else:
        target, formula = 2.0 * x - 1.0, f"{column} = 2 * {column} - 1"
    rows = run.weights() > 0
    out, _ = _with_column(df, column, rows, target)
    return Injected(out, run.record("upstream", "scaling_change", [column], 1.0, {"to": to, "formula": formula}, rows))


def _column_list(run: _Run, column) -> list[str]:
    cols = list(dict.fromkeys(check_columns(run.df, column, "column", func=run.injector)))
    if not cols:
        raise fail(run.injector, "column", "at least one column name", column, "pass e.g. column='temp'")
    for c in cols:
        run.not_clock(c)
    return cols


def inject_missing(df: pd.DataFrame, *, column, start, end=None, pattern="sudden", severity: float = 0.2,
                   seed=0) -> Injected:
    """Upstream change: values of ``column`` (one or a list) go missing (NaN) at a rate of ``severity``.

    With several columns the *same* rows go missing in all (one feed failing); integer columns
    become float64. ``severity`` is the missing rate at full strength, in (0, 1]; the rate is
    ``severity * weight``, so ``"incremental"`` makes it ramp up (a sensor failing more and more
    often). Returns the data and a ``DriftRecord(kind="upstream", subtype="missing")`` with weight 1
    on the blanked rows (a window's ``share`` is its missing rate).

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> out = inject_missing(load_hourly(), column=["temp", "hum"], start="2012-01-01", severity=0.1, seed=0)
    >>> int(out.data["temp"].isna().sum()), out.truth.affected_rows
    (895, 895)
    """
    run = _begin("inject_missing", df, start, end, pattern, seed)
    cols = _column_list(run, column)
    sev = check_number(severity, "severity", func=run.injector, low=0, high=1, low_open=True,
                       fix="pass the missing rate, e.g. severity=0.2 for 20 % missing")
    rows = run.rng.random(len(df)) < run.weights() * sev
    out = df.copy()
    for c in cols:
        s = df[c]
        if pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
            s = s.astype("float64")
        out[c] = s.mask(pd.Series(rows, index=df.index))
    return Injected(out, run.record("upstream", "missing", cols, sev, {"rate": sev}, rows))


def inject_recode(df: pd.DataFrame, *, column: str = "weathersit", mapping: Mapping, start, end=None,
                  pattern="sudden", seed=0, allow_new: bool = False) -> Injected:
    """Upstream change: category codes are remapped (e.g. ``weathersit`` 1 ↔ 3).

    ``mapping`` ``{old: new}`` is applied simultaneously (``{1: 3, 3: 1}`` swaps); every old and new
    value must occur in the column unless ``allow_new=True`` (an upstream sending a code the data never
    had). Only ``column`` changes: companions (``weather`` for ``weathersit``) keep their values.
    ``"incremental"`` is refused (all-or-nothing per row). Returns the data and a
    ``DriftRecord(kind="upstream", subtype="recode")``; only rows whose value changed are affected.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_recode(df, column="weathersit", mapping={1: 3, 3: 1}, start="2012-01-01")
    >>> out.data.loc[df["timestamp"] >= "2012-01-01", "weathersit"].value_counts().sort_index().tolist()
    [638, 2326, 5768, 2]
    """
    run = _begin("inject_recode", df, start, end, pattern, seed, allowed=_NOT_INCREMENTAL,
                 why=_WHY_NOT_INCREMENTAL)
    column = run.column(column)
    if not isinstance(mapping, Mapping) or not mapping:
        raise fail(run.injector, "mapping", "a non-empty {old: new} dict", mapping,
                   "pass e.g. mapping={1: 3, 3: 1} to swap codes 1 and 3", TypeError)
    s = df[column]
    _existing(s, mapping.keys(), "mapping", run.injector, "map only values that occur in the column (listed above)")
    if not allow_new:
        _existing(s, mapping.values(), "mapping", run.injector,
                  "map onto existing values, or pass allow_new=True for a code the data never had")
    on = run.weights() > 0
    vals = s.to_numpy(dtype=object)
    result = vals.copy()
    rows = np.zeros(len(df), dtype=bool)
    for old, new in mapping.items():
        if old != new:
            sel = on & (vals == old)
            result[sel] = new
            rows |= sel
    out = df.copy()
    if isinstance(s.dtype, pd.CategoricalDtype):
        extra = [v for v in dict.fromkeys(mapping.values()) if v not in set(s.cat.categories)]
        out[column] = pd.Categorical(result, categories=[*s.cat.categories, *extra], ordered=s.cat.ordered)
    else:
        recoded = pd.Series(result, index=df.index, name=column).infer_objects()
        try:
            recoded = recoded.astype(s.dtype)
        except (TypeError, ValueError):
            pass
        out[column] = recoded
    rec = run.record("upstream", "recode", [column], 1.0, {
        "mapping": {str(k): _plain(v) for k, v in mapping.items()}, "allow_new": allow_new}, rows)
    return Injected(out, rec)


def _schema_change(injector: str, df, column, start, end, pattern) -> tuple[_Run, str, np.ndarray]:
    run = _begin(injector, df, start, end, pattern, 0, allowed=("sudden",), start_default_first=True,
                 why="a schema change happens at one moment: pass pattern='sudden' (with start/end)")
    column = run.column(column)
    return run, column, run.weights() > 0


def inject_rename(df: pd.DataFrame, *, column: str, new_name: str, start=None, end=None,
                  pattern="sudden") -> Injected:
    """Upstream change: a column is renamed from ``start`` on.

    ``start=None`` renames it in the whole frame (the old column is gone). Otherwise the frame looks
    like batches from before and after the change stacked with ``pd.concat``: ``column`` is NaN from
    ``start`` (until ``end``) and ``new_name``, inserted right after it, holds the values there and
    is NaN elsewhere. Only ``pattern="sudden"``. Returns the data and a
    ``DriftRecord(kind="upstream", subtype="rename", columns=(column, new_name))``.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> "temp" in inject_rename(df, column="temp", new_name="temperature").data.columns
    False
    >>> part = inject_rename(df, column="temp", new_name="temperature", start="2012-12-31").data
    >>> int(part["temp"].isna().sum()), int(part["temperature"].notna().sum())
    (24, 24)
    """
    run, column, rows = _schema_change("inject_rename", df, column, start, end, pattern)
    check_type(new_name, str, "new_name", func=run.injector, expected="a non-empty column name (str)",
               fix="pass e.g. new_name='temperature'")
    if not new_name or new_name in df.columns:
        raise fail(run.injector, "new_name", "a name that is not already a column", new_name,
                   "pick a new name, or use inject_drop to remove a column")
    if rows.all():
        out, mode = df.rename(columns={column: new_name}), "whole frame"
    else:
        out, mode = df.copy(), "stacked batches"
        keep = pd.Series(~rows, index=df.index)
        out[column] = df[column].where(keep)
        out.insert(df.columns.get_loc(column) + 1, new_name, df[column].where(~keep))
    rec = run.record("upstream", "rename", [column, new_name], 1.0, {"new_name": new_name, "mode": mode}, rows)
    return Injected(out, rec)


def inject_drop(df: pd.DataFrame, *, column: str, start=None, end=None, pattern="sudden") -> Injected:
    """Upstream change: a column stops arriving.

    As in :func:`inject_rename`: ``start=None`` removes the column from the frame; otherwise it is
    NaN from ``start`` (until ``end``), as when batches are stacked. Only ``pattern="sudden"``.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> int(inject_drop(load_hourly(), column="hum", start="2012-12-01").data["hum"].isna().sum())
    742
    """
    run, column, rows = _schema_change("inject_drop", df, column, start, end, pattern)
    if rows.all():
        out, mode = df.drop(columns=[column]), "whole frame"
    else:
        out, mode = df.copy(), "stacked batches"
        out[column] = df[column].where(pd.Series(~rows, index=df.index))
    return Injected(out, run.record("upstream", "drop", [column], 1.0, {"mode": mode}, rows))


def inject_stale(df: pd.DataFrame, *, column, start, end=None, pattern="sudden", seed=0) -> Injected:
    """Upstream change: a feed goes stale; values of ``column`` (one or a list) freeze.

    Each affected row repeats the value of the latest unaffected row before it (in time order): each
    recurring interval freezes at the value before it; a gradual drift repeats more and more
    readings; ``"incremental"`` is refused. Returns the data and a ``DriftRecord(kind="upstream",
    subtype="stale")`` whose ``params['frozen_from']`` is the time of the row the first affected row
    repeats. A repeat can equal the true value, so an affected row may be unchanged.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> out = inject_stale(load_hourly(), column="temp", start="2012-12-30")
    >>> out.data["temp"].iloc[-48:].nunique(), str(out.truth.params["frozen_from"])
    (1, '2012-12-29 23:00:00')
    """
    run = _begin("inject_stale", df, start, end, pattern, seed, allowed=_NOT_INCREMENTAL,
                 why=_WHY_NOT_INCREMENTAL)
    cols = _column_list(run, column)
    rows = run.weights() > 0
    order = np.argsort(run.ts.to_numpy(), kind="stable")
    on = rows[order]
    last = np.maximum.accumulate(np.where(~on, np.arange(len(df)), -1))
    if np.any(last[on] < 0):
        raise fail(run.injector, "start", f"a time after the first row ({run.ts.min()}), so there is a value "
                   "to freeze", str(run.start), "move start later than the first row")
    src = np.arange(len(df))
    src[order[on]] = order[last[on]]
    out = df.copy()
    for c in cols:
        out[c] = df[c].take(src).set_axis(df.index)
    first_on = np.flatnonzero(on)
    frozen_from = run.ts.iloc[order[last[first_on[0]]]] if first_on.size else None
    return Injected(out, run.record("upstream", "stale", cols, 1.0, {"frozen_from": frozen_from}, rows))


# =========================================================================== composition
#: The injectors by short name, for :func:`compose` steps such as ``{"injector": "missing", ...}``.
INJECTORS: Mapping[str, Callable[..., Injected]] = MappingProxyType({f.__name__.removeprefix("inject_"): f for f in (
    inject_covariate_shift, inject_covariate_scale, inject_prior_shift, inject_concept_shift, inject_unit_change,
    inject_scaling_change, inject_missing, inject_recode, inject_rename, inject_drop, inject_stale)})


def _run_step(i: int, step, data: pd.DataFrame) -> Injected:
    where = f"steps[{i}]"
    if isinstance(step, Mapping):
        spec = dict(step)
        if "injector" not in spec:
            raise fail("compose", where, "a dict with an 'injector' key (a name or an inject_... function)", step,
                       "add e.g. 'injector': 'covariate_shift'")
        inj = spec.pop("injector")
        if isinstance(inj, str):
            inj = INJECTORS[check_choice(inj.removeprefix("inject_"), f"{where}['injector']", list(INJECTORS),
                                         func="compose")]
        if not callable(inj):
            raise fail("compose", f"{where}['injector']", "a name or an inject_... function", inj,
                       "pass e.g. 'missing' or inject_missing", TypeError)
        result = inj(data, **spec)
    elif callable(step):
        result = step(data)
    else:
        raise fail("compose", where, "a dict {'injector': ..., **options} or a function df -> Injected", step,
                   "see the compose() example", TypeError)
    if not isinstance(result, Injected):
        raise fail("compose", where, "a step returning an Injected", f"<{type(result).__name__}>",
                   "use the inject_... functions, or return Injected(data, truth)", TypeError)
    if not result.data.index.equals(data.index):
        raise fail("compose", where, "a step that keeps the rows (same index, same order)", "<a changed index>",
                   "do not add, drop or reorder rows inside a drift step")
    return result


def compose(df: pd.DataFrame, steps: Iterable) -> Injected:
    """Apply several injections in order to ``df`` (never modified); keep every ground-truth record.

    Each step is a dict ``{"injector": name or function, **options}`` (names as in
    :data:`INJECTORS`) or a function ``df -> Injected`` (e.g. a ``functools.partial`` of an
    injector); each sees the output of the previous one. Returns the final data with ``records``
    (one per step) and a ``"composite"`` ``truth`` whose weight per row is the largest of the parts'.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> out = compose(load_hourly(), [
    ...     {"injector": "covariate_shift", "column": "temp", "start": "2012-06-01", "severity": 1.0},
    ...     {"injector": "missing", "column": "hum", "start": "2012-09-01", "severity": 0.05, "seed": 1},
    ... ])
    >>> out.truth.subtype, out.truth.affected_rows == out.records[0].affected_rows
    ('covariate/shift + upstream/missing', True)
    """
    ts = _clock(df, "compose")
    if isinstance(steps, (Mapping, str)) or callable(steps):
        raise fail("compose", "steps", "a list of steps", steps, "wrap it in a list: [step]", TypeError)
    steps = list(steps)
    if not steps:
        raise fail("compose", "steps", "at least one step", steps, "pass e.g. [{'injector': 'missing', ...}]")
    data, records = df, []
    for i, step in enumerate(steps):
        result = _run_step(i, step, data)
        data = result.data
        records.extend(result.records)
    weight = np.max(np.vstack([r.weight.reindex(df.index).to_numpy(dtype=float) for r in records]), axis=0)
    ends = [r.end for r in records]
    truth = DriftRecord(
        kind="composite", subtype=" + ".join(f"{r.kind}/{r.subtype}" for r in records),
        columns=tuple(dict.fromkeys(c for r in records for c in r.columns)), pattern=None,
        start=min(r.start for r in records), end=None if any(e is None for e in ends) else max(ends),
        severity=None, params={"records": [r.to_dict() for r in records]},
        weight=pd.Series(weight, index=df.index, name="weight"), timestamps=ts.copy(), injector="compose",
    )
    return Injected(data, truth, tuple(records))


@dataclass(frozen=True)
class DriftScenario:
    """A named, reusable list of injection steps (see :func:`compose`).

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> july = {"start": "2012-07-01", "end": "2012-08-01"}
    >>> heatwave = DriftScenario("heatwave", [{"injector": "covariate_shift", "column": "temp", **july},
    ...                                       {"injector": "concept_shift", "severity": -0.2, **july}])
    >>> out = heatwave.apply(load_hourly())
    >>> len(out.records), out.truth.affected_rows
    (2, 744)
    """

    name: str
    steps: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "steps", tuple(self.steps))

    def apply(self, df: pd.DataFrame) -> Injected:
        """Run the steps on ``df`` (see :func:`compose`)."""
        return compose(df, self.steps)
