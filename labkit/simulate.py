"""Inject drift into the hourly bike data, with a ground-truth record of what changed, where and when.

The lecture's taxonomy, made runnable:

* **what** drifts (the injector): covariate drift (:func:`inject_covariate_shift`,
  :func:`inject_covariate_scale`), prior/label drift (:func:`inject_prior_shift`), concept drift
  (:func:`inject_concept_shift`) and upstream/pipeline changes (:func:`inject_unit_change`,
  :func:`inject_scaling_change`, :func:`inject_missing`, :func:`inject_recode`,
  :func:`inject_rename`, :func:`inject_drop`, :func:`inject_stale`);
* **how** it unfolds in time (the :class:`Pattern`): ``"sudden"``, ``"gradual"``,
  ``"incremental"`` or ``"recurring"``, between a ``start`` and an ``end`` on the frame's
  ``timestamp`` column.

Every injector returns an :class:`Injected` ``(data, truth)``: a new frame (the input is never
modified) and a :class:`DriftRecord` that says which rows were changed and how strongly, so
detectors can be scored against the truth (:meth:`DriftRecord.windows`). :func:`compose` applies
several injections in order and keeps every record.

Time conventions
----------------
``start`` is inclusive and ``end`` exclusive: ``start="2012-06-01", end="2012-07-01"`` covers
all of June. ``end=None`` runs to the last row of the data. Both must lie inside the data's time
range. For ``"sudden"`` and ``"recurring"`` the drift is on between ``start`` and ``end``; for
``"gradual"`` and ``"incremental"`` ``end`` is when the ramp reaches full strength, and the
drift then *holds* until the end of the data (``end=None``: the ramp spans the rest of the data).

Per-row weight
--------------
The truth's ``weight`` (one float per row, aligned to the data's index) is how strongly the row
was changed: 0 untouched, 1 the full change. ``"sudden"`` and ``"recurring"`` give 0/1;
``"gradual"`` draws each row as drifted (1) with a probability that ramps from 0 to 1 (a growing
*mixture* of old and new); ``"incremental"`` gives every row the ramp's fraction (the *size* of the
change grows step by step). A change that is all-or-nothing per row (a unit change, a recoding,
a stale value) has no partial size, so those injectors refuse ``"incremental"`` and say so;
rename and drop only allow ``"sudden"``. :func:`inject_missing` ramps its missing *rate* and
marks the blanked rows with weight 1, so a window's share of affected rows is its missing rate.

Examples
--------
>>> from labkit.data import load_hourly
>>> from labkit.simulate import inject_covariate_shift
>>> df = load_hourly()
>>> data, truth = inject_covariate_shift(df, column="temp", start="2012-06-01", severity=1.5)
>>> truth.kind, truth.subtype, truth.affected_rows
('covariate', 'shift', 5096)
>>> truth.windows("D").loc["2012-05-31":"2012-06-01", ["share", "drifted"]]  # doctest: +NORMALIZE_WHITESPACE
            share  drifted
window
2012-05-31    0.0    False
2012-06-01    1.0     True
"""
from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from labkit._simulate_checks import (
    check_column,
    check_columns,
    check_existing,
    check_frame,
    check_number,
    check_numeric,
    check_time,
    close_matches,
    fail,
    as_timestamp,
)

__all__ = [
    "PATTERN_KINDS",
    "VALID_RANGES",
    "RAW_COLUMNS",
    "UNIT_CHANGES",
    "COMMUTER_SEGMENT",
    "Pattern",
    "DriftRecord",
    "Injected",
    "inject_covariate_shift",
    "inject_covariate_scale",
    "inject_prior_shift",
    "inject_concept_shift",
    "inject_unit_change",
    "inject_scaling_change",
    "inject_missing",
    "inject_recode",
    "inject_rename",
    "inject_drop",
    "inject_stale",
    "INJECTORS",
    "compose",
    "DriftScenario",
]

logger = logging.getLogger(__name__)

#: The four drift patterns of the lecture.
PATTERN_KINDS = ("sudden", "gradual", "incremental", "recurring")

#: Physically valid ranges used when ``clip=True``: humidity cannot leave 0..100 %, wind speed
#: and counts cannot go negative. Temperatures are deliberately *not* clipped: a shift beyond the
#: training range (hotter than ever seen) is exactly the drift a monitor must catch.
VALID_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType({
    "hum": (0.0, 1.0),
    "hum_pct": (0.0, 100.0),
    "windspeed": (0.0, math.inf),
    "windspeed_kmh": (0.0, math.inf),
    "casual": (0.0, math.inf),
    "registered": (0.0, math.inf),
    "cnt": (0.0, math.inf),
})

#: Each normalised feature and the column holding the same quantity in real units
#: (as added by :func:`labkit.data.load_hourly`).
RAW_COLUMNS: Mapping[str, str] = MappingProxyType({
    "temp": "temp_c",
    "atemp": "atemp_c",
    "hum": "hum_pct",
    "windspeed": "windspeed_kmh",
})

#: Unit changes :func:`inject_unit_change` knows: ``{column: {unit: (source, factor, offset)}}``;
#: the new value is ``factor * df[source] + offset``. For the normalised ``temp``/``atemp``/
#: ``windspeed`` the source is the real-unit column, so the model receives raw °F (or mph) where it
#: expects a 0..1 value. The first unit listed is the default.
UNIT_CHANGES: Mapping[str, Mapping[str, tuple[str, float, float]]] = MappingProxyType({
    "temp_c": {"fahrenheit": ("temp_c", 1.8, 32.0)},
    "atemp_c": {"fahrenheit": ("atemp_c", 1.8, 32.0)},
    "temp": {"fahrenheit": ("temp_c", 1.8, 32.0)},
    "atemp": {"fahrenheit": ("atemp_c", 1.8, 32.0)},
    "windspeed_kmh": {"mph": ("windspeed_kmh", 1 / 1.609344, 0.0), "m/s": ("windspeed_kmh", 1 / 3.6, 0.0)},
    "windspeed": {"mph": ("windspeed_kmh", 1 / 1.609344, 0.0)},
    "hum_pct": {"fraction": ("hum_pct", 0.01, 0.0)},
})

#: Commuting hours on working days: the segment whose demand grows in the lecture's concept-drift
#: example (``inject_concept_shift(df, segment=COMMUTER_SEGMENT, ...)``).
COMMUTER_SEGMENT: Mapping[str, Any] = MappingProxyType({"workingday": 1, "hr": (7, 8, 9, 16, 17, 18, 19)})

_WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}


# =========================================================================== Pattern


def _as_int_tuple(values, argument: str, lo: int, hi: int, names: Mapping[str, int] | None = None):
    if values is None:
        return None
    if isinstance(values, (str, numbers.Integral)):
        values = [values]
    try:
        items = list(values)
    except TypeError:
        raise fail(argument, f"integers in {lo}..{hi} (a list)", f"<{type(values).__name__}>",
                   f"pass e.g. {argument}=[{lo}, {hi}]", TypeError) from None
    out = []
    for v in items:
        if isinstance(v, str) and names is not None:
            key = v.strip().lower()
            if key not in names:
                raise fail(argument, "weekday numbers 0..6 (Monday=0) or names such as 'sat'", v,
                           "use e.g. weekdays=['sat', 'sun'] or weekdays=[5, 6]")
            out.append(names[key])
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not lo <= int(v) <= hi:
            extra = " (Monday=0, as pandas' dayofweek; note the data's own `weekday` column has Sunday=0)" \
                if names is not None else ""
            raise fail(argument, f"integers in {lo}..{hi}{extra}", v, f"pass values between {lo} and {hi}")
        out.append(int(v))
    if not out:
        raise fail(argument, "at least one value", items, f"pass e.g. {argument}=[{lo}]")
    return tuple(sorted(set(out)))


def _to_ns(timestamps) -> tuple[np.ndarray, pd.DatetimeIndex]:
    idx = pd.DatetimeIndex(timestamps)
    return idx.as_unit("ns").asi8, idx


@dataclass(frozen=True)
class Pattern:
    """How a drift unfolds in time: sudden, gradual, incremental or recurring.

    Injectors accept the kind as a string (``pattern="gradual"``) or a ``Pattern`` when the kind
    has options (``pattern=Pattern("recurring", hours=[7, 8, 9])``). ``start``/``end`` are given to
    the injector, not to the pattern.

    Parameters
    ----------
    kind : {"sudden", "gradual", "incremental", "recurring"}, default "sudden"
        * ``"sudden"``: fully on for ``start <= t < end``.
        * ``"gradual"``: each row is drifted with probability ``p(t)`` ramping linearly from 0 at
          ``start`` to 1 at ``end``, then 1 (a seeded mixture whose share grows).
        * ``"incremental"``: every row gets intensity ``p(t)`` (the same ramp), so the change
          itself grows; with ``steps`` the ramp is a staircase.
        * ``"recurring"``: on during periodic intervals between ``start`` and ``end``.
    steps : int, optional
        ``"incremental"`` only: number of equal steps (1/steps, 2/steps, ..., 1) instead of a
        smooth ramp. The first step starts at ``start``.
    period : str or pandas.Timedelta, optional
        ``"recurring"`` only: the cycle length, e.g. ``"7D"``; the drift is on for the first
        ``duty`` fraction of each cycle, counted from ``start``.
    duty : float, optional
        ``"recurring"`` with ``period`` only: share of each cycle that is drifted, in (0, 1];
        default 0.5.
    weekdays : list of int or str, optional
        ``"recurring"`` only: days on which the drift is on, Monday=0 (pandas' ``dayofweek``) or
        names like ``"sat"``. Careful: the data's own ``weekday`` column counts Sunday=0.
    hours : list of int, optional
        ``"recurring"`` only: hours of the day (0..23) during which the drift is on.

    Notes
    -----
    A recurring pattern is on when *all* given conditions hold. ``Pattern("recurring")`` with no
    condition means weekends (``weekdays=(5, 6)``), the lecture's weekday-vs-weekend example.

    Examples
    --------
    >>> import pandas as pd
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
        kind = self.kind
        if not isinstance(kind, str) or kind not in PATTERN_KINDS:
            hints = close_matches(str(kind), PATTERN_KINDS) if isinstance(kind, str) else []
            hint = f"did you mean {hints[0]!r}? " if hints else ""
            raise fail("pattern", f"one of {list(PATTERN_KINDS)}", kind,
                       f"{hint}pass e.g. pattern='sudden' or Pattern('recurring', hours=[7, 8])")
        recurring_opts = {"period": self.period, "duty": self.duty, "weekdays": self.weekdays,
                          "hours": self.hours}
        if kind != "incremental" and self.steps is not None:
            raise fail("steps", "no value: steps applies to Pattern('incremental') only", self.steps,
                       "drop steps= or use Pattern('incremental', steps=...)")
        if kind != "recurring":
            given = [k for k, v in recurring_opts.items() if v is not None]
            if given:
                raise fail(given[0], f"no value: {given[0]} applies to Pattern('recurring') only",
                           recurring_opts[given[0]], f"drop {given[0]}= or use Pattern('recurring', ...)")
        if self.steps is not None:
            if isinstance(self.steps, bool) or not isinstance(self.steps, numbers.Integral) or self.steps < 1:
                raise fail("steps", "a positive integer (number of equal steps)", self.steps,
                           "pass e.g. steps=4, or leave it None for a smooth ramp")
            object.__setattr__(self, "steps", int(self.steps))
        if kind == "recurring":
            period = self.period
            if period is not None:
                try:
                    period = pd.Timedelta(period)
                except (TypeError, ValueError):
                    raise fail("period", "a duration such as '7D' or '12h'", period,
                               "pass e.g. period='7D'") from None
                if pd.isna(period) or period <= pd.Timedelta(0):
                    raise fail("period", "a positive duration", self.period, "pass e.g. period='7D'")
                object.__setattr__(self, "period", period)
            if self.duty is not None:
                if period is None:
                    raise fail("duty", "no value unless period is given", self.duty,
                               "add period=..., e.g. Pattern('recurring', period='7D', duty=2/7)")
                object.__setattr__(self, "duty", check_number(
                    self.duty, "duty", 0.0, 1.0, lo_open=True, meaning="share of each period that is drifted"))
            elif period is not None:
                object.__setattr__(self, "duty", 0.5)
            object.__setattr__(self, "weekdays", _as_int_tuple(self.weekdays, "weekdays", 0, 6, _WEEKDAYS))
            object.__setattr__(self, "hours", _as_int_tuple(self.hours, "hours", 0, 23))
            if period is None and self.weekdays is None and self.hours is None:
                object.__setattr__(self, "weekdays", (5, 6))

    # ----------------------------------------------------------------- constructors
    @classmethod
    def sudden(cls) -> "Pattern":
        """An abrupt change: on for ``start <= t < end``."""
        return cls("sudden")

    @classmethod
    def gradual(cls) -> "Pattern":
        """A growing mixture: each row drifted with probability ramping 0 → 1."""
        return cls("gradual")

    @classmethod
    def incremental(cls, steps: int | None = None) -> "Pattern":
        """A change whose size ramps 0 → 1, smoothly or in ``steps`` equal steps."""
        return cls("incremental", steps=steps)

    @classmethod
    def recurring(cls, *, period=None, duty=None, weekdays=None, hours=None) -> "Pattern":
        """On during periodic intervals (cycles of ``period``, given weekdays and/or hours)."""
        return cls("recurring", period=period, duty=duty, weekdays=weekdays, hours=hours)

    # ----------------------------------------------------------------- computation
    def schedule(self, timestamps, start, end=None) -> np.ndarray:
        """Planned intensity per timestamp, in [0, 1] (deterministic; no random draw).

        For ``"gradual"`` this is the *probability* that a row is drifted; use :meth:`weights`
        for the realised per-row weights.

        Parameters
        ----------
        timestamps : array-like of datetime
            One time per row (a Series, DatetimeIndex or array).
        start : datetime-like
            Inclusive start of the drift.
        end : datetime-like, optional
            Exclusive end (sudden, recurring) or the time the ramp reaches 1 (gradual,
            incremental). Default: the last timestamp (the drift runs to the end of the data).

        Returns
        -------
        numpy.ndarray of float64
        """
        t, idx = _to_ns(timestamps)
        if t.size == 0:
            return np.zeros(0)
        start_ns = _stamp_ns(start, idx, "start")
        end_ns = None if end is None else _stamp_ns(end, idx, "end")
        if end_ns is not None and end_ns <= start_ns:
            raise fail("end", f"a time after start ({pd.Timestamp(start)})", end,
                       "pass an end later than start, or end=None")
        after = t >= start_ns
        if self.kind in ("sudden", "recurring"):
            on = after if end_ns is None else after & (t < end_ns)
            if self.kind == "recurring":
                if self.period is not None:
                    period = self.period.value
                    on &= ((t - start_ns) % period) < self.duty * period
                if self.weekdays is not None:
                    on &= np.isin(idx.dayofweek, self.weekdays)
                if self.hours is not None:
                    on &= np.isin(idx.hour, self.hours)
            return on.astype(float)
        ramp_end = int(t.max()) if end_ns is None else end_ns
        if ramp_end <= start_ns:  # nothing to ramp over (drift starts at the last row)
            frac = after.astype(float)
        else:
            frac = np.clip((t - start_ns) / float(ramp_end - start_ns), 0.0, 1.0)
        if self.kind == "incremental" and self.steps is not None:
            frac = np.minimum(np.floor(frac * self.steps) + 1.0, self.steps) / self.steps
        return np.where(after, frac, 0.0)

    def weights(self, timestamps, start, end=None, *, seed=0) -> np.ndarray:
        """Realised per-row weight in [0, 1]: the schedule, with gradual rows drawn as 0 or 1.

        Parameters
        ----------
        timestamps, start, end
            As in :meth:`schedule`.
        seed : int, numpy.random.Generator or None, default 0
            Randomness for the gradual draw (unused by the other kinds).
        """
        sched = self.schedule(timestamps, start, end)
        if self.kind != "gradual":
            return sched
        rng = _rng(seed)
        return (rng.random(sched.shape[0]) < sched).astype(float)

    def to_dict(self) -> dict:
        """The kind and its non-empty options, JSON-friendly."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.steps is not None:
            out["steps"] = self.steps
        if self.period is not None:
            out["period"] = str(self.period)
            out["duty"] = self.duty
        if self.weekdays is not None:
            out["weekdays"] = list(self.weekdays)
        if self.hours is not None:
            out["hours"] = list(self.hours)
        return out


def _stamp_ns(value, idx: pd.DatetimeIndex, argument: str) -> int:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise fail(argument, "a date/time such as '2012-06-01'", value, "pass a parseable time")
    if idx.tz is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize(idx.tz)
    elif idx.tz is None and stamp.tzinfo is not None:
        raise fail(argument, "a timezone-naive time (the timestamps are naive)", value,
                   "drop the timezone, e.g. pd.Timestamp(...).tz_localize(None)")
    return stamp.as_unit("ns").value


def _as_pattern(pattern) -> Pattern:
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, str):
        return Pattern(pattern)
    raise fail("pattern", f"one of {list(PATTERN_KINDS)} or a Pattern", f"<{type(pattern).__name__}>",
               "pass e.g. pattern='gradual' or pattern=Pattern('recurring', weekdays=['sat', 'sun'])",
               TypeError)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0):
        return np.random.default_rng(seed)
    raise fail("seed", "a non-negative int, a numpy Generator or None", seed,
               "pass e.g. seed=0 (the same seed gives the same drift)", TypeError)


# =========================================================================== truth records


def _plain(value):
    """Make a value JSON-friendly (numpy scalars, tuples, timestamps, mappings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
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

    Attributes
    ----------
    kind : str
        ``"covariate"``, ``"prior"``, ``"concept"``, ``"upstream"`` (or ``"composite"`` for
        :func:`compose`).
    subtype : str
        E.g. ``"shift"``, ``"scale"``, ``"resample"``, ``"segment_scale"``, ``"unit_change"``,
        ``"scaling_change"``, ``"missing"``, ``"recode"``, ``"rename"``, ``"drop"``, ``"stale"``.
    columns : tuple of str
        Columns whose values (or name) changed.
    pattern : Pattern or None
        The time pattern (``None`` for a composite).
    start : pandas.Timestamp
        Inclusive start.
    end : pandas.Timestamp or None
        Exclusive end for sudden/recurring (``None``: to the end of the data); for
        gradual/incremental the time the ramp reached full strength.
    severity : float or None
        The injector's severity (its meaning is documented per injector); 1.0 for all-or-nothing
        changes; ``None`` for a composite.
    params : dict
        Everything else needed to reproduce or explain the drift (a private copy; treat as
        read-only).
    weight : pandas.Series
        Per-row intensity in [0, 1], aligned to the data's index (0 = row untouched).
    timestamps : pandas.Series
        The time of each row (aligned likewise), used by :meth:`windows`.
    injector : str
        Name of the function that made the record.
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
    def n_rows(self) -> int:
        """Number of rows in the data the record describes."""
        return int(self.weight.shape[0])

    @property
    def summary(self) -> str:
        """One readable line, e.g. for a notebook's print()."""
        pattern = self.pattern.kind if self.pattern is not None else "mixed"
        end = "end of data" if self.end is None else str(self.end)
        sev = "" if self.severity is None else f", severity {self.severity:g}"
        return (f"{self.kind}/{self.subtype} on {', '.join(self.columns)}: {pattern} from {self.start} to "
                f"{end}{sev}; {self.affected_rows} of {self.n_rows} rows affected")

    def to_frame(self) -> pd.DataFrame:
        """Per-row truth: ``timestamp``, ``weight`` and ``affected``, aligned to the data's index."""
        return pd.DataFrame({"timestamp": self.timestamps, "weight": self.weight, "affected": self.mask})

    def to_dict(self) -> dict:
        """A JSON-friendly summary (no per-row data; use :meth:`to_frame` for that)."""
        return {
            "injector": self.injector,
            "kind": self.kind,
            "subtype": self.subtype,
            "columns": list(self.columns),
            "pattern": None if self.pattern is None else self.pattern.kind,
            "pattern_params": {} if self.pattern is None else
            {k: v for k, v in self.pattern.to_dict().items() if k != "kind"},
            "start": str(self.start),
            "end": None if self.end is None else str(self.end),
            "severity": self.severity,
            "params": _plain(self.params),
            "affected_rows": self.affected_rows,
            "n_rows": self.n_rows,
        }

    def windows(self, freq: str = "D", *, min_share: float = 0.0) -> pd.DataFrame:
        """Per time window: how much drift was present. The truth to score detectors against.

        Parameters
        ----------
        freq : str, default "D"
            A pandas frequency (``"h"``, ``"D"``, ``"W"``, ``"MS"``, ...); windows are
            ``pd.Grouper(freq=freq)`` bins of the timestamps, labelled as pandas labels them (the
            bin start for ``"h"``/``"D"``/``"MS"``, the bin end for ``"W"``/``"ME"``). Windows
            without rows are left out.
        min_share : float, default 0.0
            A window counts as ``drifted`` when its share of affected rows is above this.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``window``, with ``n_rows``, ``affected_rows``, ``share``
            (affected / n_rows), ``intensity`` (mean weight) and ``drifted`` (bool).

        Examples
        --------
        >>> import pandas as pd
        >>> t = pd.Series(pd.date_range("2012-01-01", periods=72, freq="h"))
        >>> rec = DriftRecord("covariate", "shift", ("temp",), Pattern("incremental"), t[0], t[71], 1.0,
        ...                   weight=pd.Series(Pattern("incremental").schedule(t, t[0], t[71])),
        ...                   timestamps=t)
        >>> rec.windows("D").round(3)  # doctest: +NORMALIZE_WHITESPACE
                    n_rows  affected_rows  share  intensity  drifted
        window
        2012-01-01      24             23  0.958      0.162     True
        2012-01-02      24             24  1.000      0.500     True
        2012-01-03      24             24  1.000      0.838     True
        """
        check_number(min_share, "min_share", 0.0, 1.0, hi_open=True,
                     meaning="share of affected rows above which a window counts as drifted")
        frame = pd.DataFrame({
            "t": self.timestamps.to_numpy(),
            "w": self.weight.to_numpy(dtype=float),
            "a": (self.weight.to_numpy() > 0).astype(np.int64),
        })
        try:
            grouped = frame.groupby(pd.Grouper(key="t", freq=freq))
        except (TypeError, ValueError) as exc:
            raise fail("freq", "a pandas frequency such as 'h', 'D', 'W' or 'MS'", freq, str(exc)) from None
        out = pd.DataFrame({
            "n_rows": grouped["w"].size(),
            "affected_rows": grouped["a"].sum(),
            "intensity": grouped["w"].mean(),
        })
        out = out[out["n_rows"] > 0].astype({"n_rows": "int64", "affected_rows": "int64"})
        out.insert(2, "share", out["affected_rows"] / out["n_rows"])
        out["drifted"] = out["share"] > min_share
        out.index.name = "window"
        return out


@dataclass(frozen=True)
class Injected:
    """The drifted data and its ground truth. Unpacks as ``data, truth = inject_...(...)``.

    Attributes
    ----------
    data : pandas.DataFrame
        A new frame (same index, same row order as the input).
    truth : DriftRecord
        What changed; for :func:`compose` a ``"composite"`` record whose weight is the maximum
        over the parts.
    records : tuple of DriftRecord
        The individual records, in the order applied (``(truth,)`` for a single injection).
    """

    data: pd.DataFrame = field(repr=False, compare=False)
    truth: DriftRecord
    records: tuple[DriftRecord, ...] = ()

    def __post_init__(self):
        if not self.records:
            object.__setattr__(self, "records", (self.truth,))
        else:
            object.__setattr__(self, "records", tuple(self.records))

    def __iter__(self):
        yield self.data
        yield self.truth


# =========================================================================== shared machinery


@dataclass
class _Run:
    """Validated inputs of one injection."""

    injector: str
    df: pd.DataFrame
    time_col: str
    ts: pd.Series
    pattern: Pattern
    start: pd.Timestamp
    end: pd.Timestamp | None
    rng: np.random.Generator
    seed: Any

    def weights(self) -> np.ndarray:
        return self.pattern.weights(self.ts, self.start, self.end, seed=self.rng)

    def record_end(self) -> pd.Timestamp | None:
        if self.pattern.kind in ("gradual", "incremental") and self.end is None:
            return self.ts.max()
        return self.end

    def interval(self) -> np.ndarray:
        """Rows the pattern can touch: from start to end (sudden/recurring) or to the data's end."""
        t = self.ts
        inside = (t >= self.start).to_numpy()
        if self.pattern.kind in ("sudden", "recurring") and self.end is not None:
            inside &= (t < self.end).to_numpy()
        return inside

    def record(self, kind: str, subtype: str, columns: Sequence[str], severity, params: Mapping,
               weight: np.ndarray) -> DriftRecord:
        seed = self.seed if isinstance(self.seed, numbers.Integral) or self.seed is None else "<Generator>"
        rec = DriftRecord(
            kind=kind, subtype=subtype, columns=tuple(columns), pattern=self.pattern,
            start=self.start, end=self.record_end(),
            severity=None if severity is None else float(severity),
            params={**params, "seed": seed, "time_col": self.time_col},
            weight=pd.Series(np.asarray(weight, dtype=float), index=self.df.index, name="weight"),
            timestamps=self.ts.copy(), injector=self.injector,
        )
        if rec.affected_rows == 0:
            logger.warning("%s affected no row: check start/end, the pattern and any segment or mapping "
                           "(%s)", self.injector, rec.summary)
        else:
            logger.debug("%s", rec.summary)
        return rec


_ALL = PATTERN_KINDS
_NOT_INCREMENTAL = ("sudden", "gradual", "recurring")
_WHY_NOT_INCREMENTAL = ("this change is all-or-nothing per row, so it has no partial size to ramp; use "
                        "'gradual' for a growing share of changed rows")


def _begin(injector: str, df, *, time_col: str, start, end, pattern, seed,
           allowed: Sequence[str] = _ALL, why: str = "", start_default_first: bool = False) -> _Run:
    """The one validator every injector calls first: frame, time column, pattern, window, seed."""
    check_frame(df, injector)
    ts = check_time(df, time_col)
    pat = _as_pattern(pattern)
    if pat.kind not in allowed:
        raise fail("pattern", f"one of {list(allowed)} for {injector}", pat.kind, why)
    first, last = ts.min(), ts.max()
    if start is None and start_default_first:
        start_ts = first
    else:
        if start is None:
            raise fail("start", "the time the drift begins", None, f"pass e.g. start='{_mid(first, last)}'")
        start_ts = as_timestamp(start, "start", ts)
        if not first <= start_ts <= last:
            raise fail("start", f"a time within the data ({first} .. {last})", str(start_ts),
                       "pick a start inside that range")
    end_ts = None
    if end is not None:
        end_ts = as_timestamp(end, "end", ts)
        if end_ts <= start_ts:
            raise fail("end", f"a time after start ({start_ts})", str(end_ts),
                       "swap start and end, or pass end=None to run to the end of the data")
        if end_ts > last:
            raise fail("end", f"a time within the data (up to {last}; end is exclusive)", str(end_ts),
                       "pass end=None to run to the end of the data")
    return _Run(injector, df, time_col, ts, pat, start_ts, end_ts, _rng(seed), seed)


def _mid(first: pd.Timestamp, last: pd.Timestamp) -> str:
    return str((first + (last - first) / 2).normalize().date())


def _not_time(run: _Run, column: str) -> None:
    if column == run.time_col:
        raise fail("column", f"a column other than the time column {run.time_col!r}", column,
                   "pick a feature column; the truth record needs the times unchanged")


def _clip_bounds(column: str, clip) -> tuple[float, float] | None:
    if clip is True:
        return VALID_RANGES.get(column)
    if clip is False or clip is None:
        return None
    try:
        lo, hi = clip
    except (TypeError, ValueError):
        raise fail("clip", "True (physical range), False, or a (low, high) pair", clip,
                   "pass e.g. clip=(0, 1)", TypeError) from None
    lo = -math.inf if lo is None else float(lo)
    hi = math.inf if hi is None else float(hi)
    if not lo < hi:
        raise fail("clip", "a (low, high) pair with low < high", clip, "swap the bounds")
    return lo, hi


def _apply_clip(new: np.ndarray, rows: np.ndarray, bounds) -> int:
    if bounds is None:
        return 0
    before = new[rows]
    after = np.clip(before, bounds[0], bounds[1])
    new[rows] = after
    return int(np.sum((before != after) & ~np.isnan(before)))


def _rescale_counts(df: pd.DataFrame, out: pd.DataFrame, column: str, components: Sequence[str],
                    rows: np.ndarray, factor: np.ndarray) -> None:
    """Multiply ``column`` by ``factor`` on ``rows``; keep the components summing to it."""
    s = df[column]
    x = s.to_numpy(dtype=float)
    new_total = x[rows] * factor
    is_int = pd.api.types.is_integer_dtype(s)
    if is_int:
        new_total = np.round(new_total)
    total = x.copy()
    total[rows] = new_total
    out[column] = total.astype(s.dtype) if is_int else total
    if components:
        acc = np.zeros(rows.sum())
        for comp in components[:-1]:
            c = df[comp].to_numpy(dtype=float)
            new_c = np.round(c[rows] * factor) if is_int else c[rows] * factor
            acc += new_c
            full = c.copy()
            full[rows] = new_c
            out[comp] = full.astype(df[comp].dtype) if pd.api.types.is_integer_dtype(df[comp]) else full
        last = components[-1]
        c = df[last].to_numpy(dtype=float)
        c[rows] = new_total - acc
        out[last] = c.astype(df[last].dtype) if pd.api.types.is_integer_dtype(df[last]) else c


def _components(df: pd.DataFrame, column: str, components) -> tuple[str, ...]:
    if components is None:
        default = ("casual", "registered")
        return default if column == "cnt" and all(c in df.columns for c in default) else ()
    comps = () if not components else check_columns(df, components, "components")
    if column in comps:
        raise fail("components", f"columns that add up to {column!r} (not {column!r} itself)", list(comps),
                   "pass e.g. components=('casual', 'registered') or components=()")
    for c in comps:
        check_numeric(df, c, "components")
    return comps


# =========================================================================== covariate drift


def inject_covariate_shift(df: pd.DataFrame, *, column: str, start, end=None, pattern="sudden",
                           severity: float = 1.0, seed=0, clip=True, reference_std: float | None = None,
                           time_col: str = "timestamp") -> Injected:
    """Covariate drift: add ``severity`` reference standard deviations to a numeric feature.

    ``P(x)`` moves while ``P(y | x)`` stays: e.g. a hotter summer than the model has seen.

    Parameters
    ----------
    df : pandas.DataFrame
        Hourly data with a datetime ``time_col`` (e.g. :func:`labkit.data.load_hourly`).
    column : str
        Numeric feature to shift (an integer column becomes float).
    start, end : datetime-like
        See the module notes (``end`` exclusive; ``None`` runs to the end of the data).
    pattern : str or Pattern, default "sudden"
        Any of the four; with ``"incremental"`` the shift grows from 0 to its full size.
    severity : float, default 1.0
        Shift in units of the reference standard deviation, in [-10, 10].
    seed : int, numpy.random.Generator or None, default 0
        Randomness for the gradual draw.
    clip : bool or (low, high), default True
        ``True`` clips shifted values to the physical range in :data:`VALID_RANGES` (humidity
        0..1, wind speed >= 0; temperatures are not clipped); ``False`` never clips; a pair
        clips to it. Clipped rows still count as affected (``params['clipped_rows']``).
    reference_std : float, optional
        The standard deviation to shift by; default ``df[column].std()`` over the whole input.
    time_col : str, default "timestamp"

    Returns
    -------
    Injected
        ``data`` and a ``DriftRecord(kind="covariate", subtype="shift")``; ``params`` hold
        ``std`` and ``shift`` (in the column's units).

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_covariate_shift(df, column="temp", start="2012-07-01", severity=2.0)
    >>> round(out.truth.params["shift"], 4), out.truth.affected_rows
    (0.3851, 4376)
    >>> round(out.data["temp"].iloc[-1] - df["temp"].iloc[-1], 4)
    0.3851
    """
    run = _begin("inject_covariate_shift", df, time_col=time_col, start=start, end=end, pattern=pattern,
                 seed=seed)
    check_column(df, column)
    _not_time(run, column)
    check_numeric(df, column, "inject_covariate_shift")
    sev = check_number(severity, "severity", -10, 10, meaning="shift in reference standard deviations",
                       fix="pass e.g. severity=1.0 (one std up) or -0.5")
    bounds = _clip_bounds(column, clip)
    if reference_std is None:
        std = float(df[column].std())
        if not np.isfinite(std) or std <= 0:
            raise fail("column", "a column that varies (a positive standard deviation)",
                       f"<{column!r} with std {std}>", "pass reference_std=... explicitly")
    else:
        std = check_number(reference_std, "reference_std", 0.0, math.inf, lo_open=True, hi_open=True)
    w = run.weights()
    rows = w > 0
    x = df[column].to_numpy(dtype=float)
    new = x.copy()
    new[rows] = x[rows] + w[rows] * sev * std
    clipped = _apply_clip(new, rows, bounds)
    out = df.copy()
    out[column] = new
    rec = run.record("covariate", "shift", [column], sev, {
        "std": std, "shift": sev * std, "clip": bounds, "clipped_rows": clipped}, w)
    return Injected(out, rec)


def inject_covariate_scale(df: pd.DataFrame, *, column: str, start, end=None, pattern="sudden",
                           severity: float = 1.5, around: str = "zero", seed=0, clip=True,
                           time_col: str = "timestamp") -> Injected:
    """Covariate drift: multiply a numeric feature by ``severity`` (spread changes).

    Parameters
    ----------
    df, column, start, end, pattern, seed, clip, time_col
        As in :func:`inject_covariate_shift`.
    severity : float, default 1.5
        The factor at full strength, in (0, 10]; 1 changes nothing, 2 doubles. With
        ``"incremental"`` the factor ramps from 1 to ``severity``.
    around : {"zero", "mean"}, default "zero"
        ``"zero"``: ``x * factor`` (the mean moves too); ``"mean"``: ``mean + (x - mean) * factor``
        with the input column's mean (only the spread changes).

    Returns
    -------
    Injected
        ``DriftRecord(kind="covariate", subtype="scale")``.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_covariate_scale(df, column="temp", start="2012-01-01", severity=2.0, around="mean")
    >>> after = out.data.loc[out.truth.mask, "temp"]
    >>> before = df.loc[out.truth.mask, "temp"]
    >>> round(after.std() / before.std(), 3)
    2.0
    """
    run = _begin("inject_covariate_scale", df, time_col=time_col, start=start, end=end, pattern=pattern,
                 seed=seed)
    check_column(df, column)
    _not_time(run, column)
    check_numeric(df, column, "inject_covariate_scale")
    sev = check_number(severity, "severity", 0, 10, lo_open=True, meaning="the multiplying factor",
                       fix="pass e.g. severity=1.5 (50% larger) or 0.5 (halved)")
    if around not in ("zero", "mean"):
        raise fail("around", "'zero' or 'mean'", around, "pass around='mean' to change only the spread")
    bounds = _clip_bounds(column, clip)
    x = df[column].to_numpy(dtype=float)
    center = 0.0 if around == "zero" else float(np.nanmean(x))
    w = run.weights()
    rows = w > 0
    factor = 1.0 + w[rows] * (sev - 1.0)
    new = x.copy()
    new[rows] = center + (x[rows] - center) * factor
    clipped = _apply_clip(new, rows, bounds)
    out = df.copy()
    out[column] = new
    rec = run.record("covariate", "scale", [column], sev, {
        "around": around, "center": center, "clip": bounds, "clipped_rows": clipped}, w)
    return Injected(out, rec)


# =========================================================================== prior / label drift


def _tilted_donors(run: _Run, x: np.ndarray, tilt: np.ndarray, rows: np.ndarray, within):
    """For each affected row, draw a donor row from its pool with a rank tilt (vectorised).

    Returns the source position per row, the rows actually replaced and the number of pools.
    """
    n = x.shape[0]
    valid = ~np.isnan(x)
    if within is None:
        group = np.zeros(n, dtype=np.int64)
        valid &= run.interval()
    else:
        if not isinstance(within, str):
            raise fail("within", "a pandas frequency such as 'D' or 'W', or None", within,
                       "pass within='D' (same day) or within=None (whole interval)", TypeError)
        try:
            group = pd.DataFrame({"t": run.ts.to_numpy()}).groupby(
                pd.Grouper(key="t", freq=within)).ngroup().to_numpy()
        except (TypeError, ValueError) as exc:
            raise fail("within", "a pandas frequency such as 'D' or 'W', or None", within, str(exc)) from None
    n_groups = int(group.max()) + 1
    cand = np.flatnonzero(valid)
    order = cand[np.lexsort((x[cand], group[cand]))]  # by pool, then by target value
    counts = np.bincount(group[order], minlength=n_groups)
    starts = np.cumsum(counts) - counts
    rows = rows & (counts[group] > 0)
    if not np.any(rows) and not np.any(valid):
        raise fail("column", "some non-missing target values inside the drift interval", "<none>",
                   "move start/end or fill the missing values first")
    g = group[rows]
    s = tilt[rows]
    u = run.rng.random(g.shape[0])
    a = 1.0 / (1.0 + np.abs(s))
    rank = np.where(s >= 0, u ** a, 1.0 - (1.0 - u) ** a)
    pick = starts[g] + np.minimum((rank * counts[g]).astype(np.int64), counts[g] - 1)
    src = np.arange(n)
    src[rows] = order[pick]
    return src, rows, int(np.count_nonzero(counts))


def inject_prior_shift(df: pd.DataFrame, *, column: str = "cnt", start, end=None, pattern="sudden",
                       severity: float = 1.0, method: str = "resample", within: str | None = "D", seed=0,
                       keep: Sequence[str] | None = None, components: Sequence[str] | None = None,
                       time_col: str = "timestamp") -> Injected:
    """Prior (label) drift: change the target's distribution.

    ``method="resample"`` (default) keeps ``P(x | y)`` intact: each affected row is replaced by a
    whole real row (features *and* target) drawn, seeded, from the rows of the same day (``within``)
    with a tilt toward that day's high-demand hours (``severity > 0``) or low-demand hours
    (``severity < 0``). The tilt works on ranks of ``column`` inside the pool: a donor's rank ``r``
    in [0, 1] has density ``(1 + s) r**s`` for ``s = weight * severity >= 0`` (mirrored for
    ``s < 0``), so ``severity=0`` is a plain bootstrap, 1 a linear tilt and 3 puts 94 % of the draws
    in the upper half. Drawing from the same day keeps the season and the day's weather, so the
    injection does not smuggle in covariate drift from other months.

    ``method="scale"`` multiplies the target by ``1 + weight * severity`` everywhere, keeping
    ``casual + registered == cnt``. Simple, but note it changes ``P(y | x)`` too (it is concept
    drift for every segment at once); prefer :func:`inject_concept_shift` to say so.

    Parameters
    ----------
    df, start, end, pattern, seed, time_col
        As in :func:`inject_covariate_shift`. With ``"incremental"`` the tilt (or the factor)
        grows with the ramp.
    column : str, default "cnt"
        The target.
    severity : float, default 1.0
        ``"resample"``: the tilt, in [-10, 10]. ``"scale"``: the relative change at full
        strength, in [-1, 10] (0.2 = +20 %).
    method : {"resample", "scale"}, default "resample"
    within : str or None, default "D"
        ``"resample"`` only: the donor pool of a row is its time window of this pandas frequency
        (``"D"`` the same day, ``"W"`` the same week); ``None`` pools the whole drift interval
        (``start`` to ``end``, mixing seasons). Rows whose window has no target value are left
        alone (weight 0).
    keep : list of str, optional
        ``"resample"`` only: columns kept from the original row, so the stream's clock stays
        intact. Default: ``time_col``, ``"instant"`` and ``"dteday"`` (those present). The donor's
        own ``hr``, ``weekday``, ``season``... come with it: on resampled rows ``hr`` need not match
        ``timestamp``, which is what a changed mix of hours looks like inside a time window.
    components : list of str, optional
        ``"scale"`` only: columns that add up to ``column`` and are rescaled with it (the last
        absorbs rounding). Default ``("casual", "registered")`` for ``column="cnt"``.

    Returns
    -------
    Injected
        ``DriftRecord(kind="prior", subtype="resample" | "scale")``; ``params`` hold the target's
        mean over the affected rows before and after. With resampling a row may draw itself, so
        an affected row can be unchanged.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_prior_shift(df, start="2012-03-01", end="2012-10-01", severity=2.0, seed=0)
    >>> p = out.truth.params
    >>> round(p["mean_before"]), round(p["mean_after"])
    (268, 452)
    >>> out.data["timestamp"].equals(df["timestamp"])
    True

    Same-day donors keep the months' temperatures (a busy hour is a bit warmer); pooling the
    whole interval mixes seasons into each month, covariate drift that was not asked for:

    >>> month = df["timestamp"].dt.to_period("M")
    >>> def temp_moved(o):
    ...     return round((o.data["temp"].groupby(month).mean() - df["temp"].groupby(month).mean()).abs().max(), 2)
    >>> pooled = inject_prior_shift(df, start="2012-03-01", end="2012-10-01", severity=2.0, within=None)
    >>> temp_moved(out), temp_moved(pooled)
    (0.04, 0.21)
    """
    run = _begin("inject_prior_shift", df, time_col=time_col, start=start, end=end, pattern=pattern, seed=seed)
    check_column(df, column)
    _not_time(run, column)
    check_numeric(df, column, "inject_prior_shift")
    if method not in ("resample", "scale"):
        hints = close_matches(str(method), ("resample", "scale"))
        raise fail("method", "'resample' or 'scale'", method,
                   (f"did you mean {hints[0]!r}? " if hints else "") + "pass method='resample'")
    x = df[column].to_numpy(dtype=float)
    if method == "scale":
        if keep is not None:
            raise fail("keep", "no value with method='scale' (nothing is resampled)", keep, "drop keep=")
        within = None
        sev = check_number(severity, "severity", -1, 10, meaning="relative change of the target for "
                           "method='scale'", fix="pass e.g. severity=0.2 for +20 %")
        comps = _components(df, column, components)
        w = run.weights()
        rows = w > 0
        out = df.copy()
        _rescale_counts(df, out, column, comps, rows, 1.0 + w[rows] * sev)
        params = {"method": "scale", "components": comps}
    else:
        if components is not None:
            raise fail("components", "no value with method='resample' (whole rows are copied, so they "
                       "stay consistent)", components, "drop components=")
        sev = check_number(severity, "severity", -10, 10, meaning="tilt toward high (+) or low (-) "
                           "target values for method='resample'", fix="pass e.g. severity=2.0")
        if keep is None:
            kept = tuple(c for c in (time_col, "instant", "dteday") if c in df.columns)
        else:
            kept = check_columns(df, keep, "keep") if not isinstance(keep, str) else (check_column(df, keep, "keep"),)
            if time_col not in kept:
                kept = (time_col, *kept)
        if column in kept:
            raise fail("keep", f"columns other than the target {column!r}", list(kept),
                       f"remove {column!r} from keep")
        w = run.weights()
        src, rows, pools = _tilted_donors(run, x, w * sev, w > 0, within)
        w = np.where(rows, w, 0.0)
        out = df.take(src)
        out.index = df.index
        for c in kept:
            out[c] = df[c]
        params = {"method": "resample", "within": within, "keep": kept, "pools": pools}
    after = out[column].to_numpy(dtype=float)
    params.update({
        "mean_before": float(np.nanmean(x[rows])) if rows.any() else float("nan"),
        "mean_after": float(np.nanmean(after[rows])) if rows.any() else float("nan"),
    })
    if method == "scale":
        changed = [column, *params["components"]]
    else:  # whole rows are copied: every column except the kept ones can change
        changed = [column, *(c for c in df.columns if c not in params["keep"] and c != column)]
    rec = run.record("prior", method, changed, sev, params, w)
    return Injected(out, rec)


# =========================================================================== concept drift


def _segment_mask(df: pd.DataFrame, segment) -> tuple[np.ndarray, Any]:
    """Boolean rows of the segment and a JSON-friendly description of it."""
    n = len(df)
    if segment is None:
        return np.ones(n, dtype=bool), "all rows"
    if isinstance(segment, Mapping):
        if not segment:
            raise fail("segment", "a non-empty {column: value or list of values} mapping", dict(segment),
                       "pass e.g. segment={'workingday': 1, 'hr': [7, 8, 9]} or segment=None for all rows")
        mask = np.ones(n, dtype=bool)
        described = {}
        for col, values in segment.items():
            check_column(df, col, "segment")
            vals = list(values) if isinstance(values, (list, tuple, set, frozenset, range, np.ndarray)) else [values]
            if not vals:
                raise fail("segment", f"at least one value for column {col!r}", values,
                           f"pass e.g. segment={{{col!r}: ...}}")
            check_existing(df[col], vals, "segment", col,
                           f"use values that occur in {col!r}, or widen the data you pass")
            mask &= df[col].isin(vals).to_numpy()
            described[col] = vals
        return mask, described
    if callable(segment):
        result = segment(df)
        name = getattr(segment, "__name__", type(segment).__name__)
        return _bool_rows(df, result, f"segment(df) from {name}"), f"callable {name}"
    return _bool_rows(df, segment, "segment"), "boolean mask"


def _bool_rows(df: pd.DataFrame, values, argument: str) -> np.ndarray:
    if isinstance(values, pd.Series):
        if not values.index.equals(df.index):
            raise fail(argument, "a boolean Series aligned to df's index", "<a Series with another index>",
                       "build it from df itself, e.g. df['hr'].between(7, 9)")
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype != bool or arr.shape != (len(df),):
        raise fail(argument, f"one boolean per row ({len(df)} values)", f"<array of dtype {arr.dtype} and "
                   f"shape {arr.shape}>", "pass e.g. segment=(df['workingday'] == 1)", TypeError)
    return arr


def inject_concept_shift(df: pd.DataFrame, *, column: str = "cnt", segment=None, start, end=None,
                         pattern="sudden", severity: float = 0.3, seed=0,
                         components: Sequence[str] | None = None, time_col: str = "timestamp") -> Injected:
    """Concept drift: ``P(y | x)`` changes. Demand in a segment grows (or shrinks) by ``severity``.

    The features stay exactly as they were, so input monitors see nothing; only the target
    moves (``cnt * (1 + weight * severity)``, rounded for integer columns). Like the real growth
    from 2011 to 2012: same weather, more riders.

    Parameters
    ----------
    df, start, end, pattern, seed, time_col
        As in :func:`inject_covariate_shift`. With ``"incremental"`` the growth ramps.
    column : str, default "cnt"
        The target to change.
    segment : mapping, boolean array/Series, callable or None, default None
        Which rows' relationship changes: ``None`` all rows; ``{column: value or values}``
        (all conditions must hold; every value must exist in its column), e.g.
        :data:`COMMUTER_SEGMENT`; a boolean per row; or a function ``df -> booleans``.
    severity : float, default 0.3
        Relative change at full strength, in [-1, 10]: 0.3 = +30 %, -0.5 = half.
    components : list of str, optional
        Columns that add up to ``column`` and are rescaled in proportion (the last absorbs the
        rounding, so ``casual + registered == cnt`` stays exact). Default ``("casual",
        "registered")`` for ``column="cnt"``; ``()`` leaves them alone.

    Returns
    -------
    Injected
        ``DriftRecord(kind="concept", subtype="segment_scale")``; weight is 0 outside the segment.
        Small counts can round to the same value, so an affected row may be unchanged.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_concept_shift(df, segment=COMMUTER_SEGMENT, start="2012-03-01", severity=0.5)
    >>> d = out.data
    >>> bool((d["casual"] + d["registered"] == d["cnt"]).all())
    True
    >>> changed = d.loc[out.truth.mask, "cnt"].sum() / df.loc[out.truth.mask, "cnt"].sum()
    >>> round(changed, 3), sorted(d.loc[out.truth.mask, "hr"].unique().tolist())
    (1.5, [7, 8, 9, 16, 17, 18, 19])
    """
    run = _begin("inject_concept_shift", df, time_col=time_col, start=start, end=end, pattern=pattern,
                 seed=seed)
    check_column(df, column)
    _not_time(run, column)
    check_numeric(df, column, "inject_concept_shift")
    sev = check_number(severity, "severity", -1, 10, meaning="relative change of the target in the segment",
                       fix="pass e.g. severity=0.3 for +30 %")
    comps = _components(df, column, components)
    seg, described = _segment_mask(df, segment)
    w = run.weights() * seg
    rows = w > 0
    out = df.copy()
    _rescale_counts(df, out, column, comps, rows, 1.0 + w[rows] * sev)
    rec = run.record("concept", "segment_scale", [column, *comps], sev, {
        "segment": described, "segment_rows": int(seg.sum()), "components": comps}, w)
    return Injected(out, rec)


# =========================================================================== upstream / pipeline


def inject_unit_change(df: pd.DataFrame, *, column: str = "temp_c", to: str | None = None, start, end=None,
                       pattern="sudden", seed=0, time_col: str = "timestamp") -> Injected:
    """Upstream change: a feature arrives in another unit (°C → °F, km/h → mph, % → fraction).

    Parameters
    ----------
    df, start, end, seed, time_col
        As in :func:`inject_covariate_shift`.
    column : str, default "temp_c"
        One of the keys of :data:`UNIT_CHANGES`. For the real-unit ``temp_c``/``atemp_c`` the
        value becomes °F. For the *normalised* ``temp``/``atemp`` the value becomes the raw °F of
        ``temp_c``/``atemp_c``: the model sees e.g. 77.0 where it expects 0..1 (a pipeline that
        skipped the normalisation *and* switched units).
    to : str, optional
        Target unit (see :data:`UNIT_CHANGES`); default the first listed for the column.
    pattern : {"sudden", "gradual", "recurring"} or Pattern, default "sudden"
        ``"gradual"`` = a growing share of converted rows (sensors upgraded one by one).
        ``"incremental"`` is refused: half a unit change is not a thing.

    Returns
    -------
    Injected
        ``DriftRecord(kind="upstream", subtype="unit_change", severity=1.0)``; ``params`` hold
        the formula.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_unit_change(df, column="temp_c", start="2012-12-31")
    >>> df["temp_c"].iloc[-1], round(out.data["temp_c"].iloc[-1], 2)
    (4.22, 39.6)
    >>> out.truth.params["formula"]
    'temp_c = 1.8 * temp_c + 32'
    """
    run = _begin("inject_unit_change", df, time_col=time_col, start=start, end=end, pattern=pattern,
                 seed=seed, allowed=_NOT_INCREMENTAL, why=_WHY_NOT_INCREMENTAL)
    check_column(df, column)
    if column not in UNIT_CHANGES:
        raise fail("column", f"a column with a known unit change: {list(UNIT_CHANGES)}", column,
                   "pick one of those, or use inject_covariate_scale for another factor")
    units = UNIT_CHANGES[column]
    unit = next(iter(units)) if to is None else to
    if unit not in units:
        raise fail("to", f"one of {list(units)} for column {column!r}", to, f"pass to={next(iter(units))!r}")
    source, factor, offset = units[unit]
    if source not in df.columns:
        raise fail("df", f"the column {source!r} to convert {column!r} from", "<a frame without it>",
                   "load the data with labkit.data.load_hourly(), which adds the real-unit columns")
    check_numeric(df, source, "inject_unit_change")
    w = run.weights()
    rows = w > 0
    new = df[column].to_numpy(dtype=float).copy()
    new[rows] = df[source].to_numpy(dtype=float)[rows] * factor + offset
    out = df.copy()
    out[column] = new
    formula = f"{column} = {factor:g} * {source}" + (f" + {offset:g}" if offset else "")
    rec = run.record("upstream", "unit_change", [column], 1.0, {
        "to": unit, "source": source, "factor": factor, "offset": offset, "formula": formula}, rows)
    return Injected(out, rec)


def inject_scaling_change(df: pd.DataFrame, *, column: str = "temp", to: str = "raw", start, end=None,
                          pattern="sudden", seed=0, time_col: str = "timestamp") -> Injected:
    """Upstream change: a normalised feature stops being normalised the way the model expects.

    Parameters
    ----------
    df, start, end, seed, time_col
        As in :func:`inject_covariate_shift`.
    column : str, default "temp"
        A normalised feature: one of the keys of :data:`RAW_COLUMNS`.
    to : {"raw", "symmetric"}, default "raw"
        ``"raw"``: the value in real units from the companion column (``temp`` gets ``temp_c``,
        ``hum`` gets ``hum_pct``...): normalisation skipped. ``"symmetric"``: ``2 * x - 1``, the
        lecture's "feature scaling changed from [0, 1] to [-1, 1]".
    pattern : {"sudden", "gradual", "recurring"} or Pattern, default "sudden"
        ``"incremental"`` is refused (all-or-nothing per row).

    Returns
    -------
    Injected
        ``DriftRecord(kind="upstream", subtype="scaling_change", severity=1.0)``.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_scaling_change(df, column="hum", start="2012-12-31")
    >>> df["hum"].iloc[-1], out.data["hum"].iloc[-1]
    (0.65, 65.0)
    """
    run = _begin("inject_scaling_change", df, time_col=time_col, start=start, end=end, pattern=pattern,
                 seed=seed, allowed=_NOT_INCREMENTAL, why=_WHY_NOT_INCREMENTAL)
    check_column(df, column)
    if column not in RAW_COLUMNS:
        raise fail("column", f"a normalised feature: one of {list(RAW_COLUMNS)}", column,
                   "pick one of those (real-unit columns have inject_unit_change)")
    if to not in ("raw", "symmetric"):
        raise fail("to", "'raw' or 'symmetric'", to, "pass to='raw' (real units) or to='symmetric' ([-1, 1])")
    x = df[column].to_numpy(dtype=float)
    if to == "raw":
        source = RAW_COLUMNS[column]
        if source not in df.columns:
            raise fail("df", f"the real-unit column {source!r} for {column!r}", "<a frame without it>",
                       "load the data with labkit.data.load_hourly(), which adds it")
        check_numeric(df, source, "inject_scaling_change")
        target = df[source].to_numpy(dtype=float)
        formula = f"{column} = {source}"
    else:
        target = 2.0 * x - 1.0
        formula = f"{column} = 2 * {column} - 1"
    w = run.weights()
    rows = w > 0
    new = x.copy()
    new[rows] = target[rows]
    out = df.copy()
    out[column] = new
    rec = run.record("upstream", "scaling_change", [column], 1.0, {"to": to, "formula": formula}, rows)
    return Injected(out, rec)


def inject_missing(df: pd.DataFrame, *, column, start, end=None, pattern="sudden", severity: float = 0.2,
                   seed=0, time_col: str = "timestamp") -> Injected:
    """Upstream change: values go missing (NaN) at a rate of ``severity``.

    Parameters
    ----------
    df, start, end, seed, time_col
        As in :func:`inject_covariate_shift`.
    column : str or list of str
        Column(s) to blank. With several, the *same* rows go missing in all (one feed failing).
        Integer columns become float64 (NaN needs it); categoricals keep their dtype.
    pattern : str or Pattern, default "sudden"
        Any of the four: the missing rate is ``severity * weight``, so ``"incremental"`` makes the
        rate ramp up (a sensor failing more and more often).
    severity : float, default 0.2
        Missing rate at full strength, in (0, 1].

    Returns
    -------
    Injected
        ``DriftRecord(kind="upstream", subtype="missing")``; weight is 1 on the rows blanked
        (so a window's ``share`` is its injected missing rate).

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_missing(df, column=["temp", "hum"], start="2012-01-01", severity=0.1, seed=0)
    >>> int(out.data["temp"].isna().sum()), out.truth.affected_rows
    (895, 895)
    """
    run = _begin("inject_missing", df, time_col=time_col, start=start, end=end, pattern=pattern, seed=seed)
    cols = check_columns(df, column)
    for c in cols:
        _not_time(run, c)
    sev = check_number(severity, "severity", 0, 1, lo_open=True, meaning="the missing rate",
                       fix="pass e.g. severity=0.2 for 20 % missing")
    w = run.weights()
    rows = run.rng.random(len(df)) < w * sev
    out = df.copy()
    for c in cols:
        s = df[c]
        if pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
            s = s.astype("float64")
        out[c] = s.mask(pd.Series(rows, index=df.index))
    rec = run.record("upstream", "missing", cols, sev, {"rate": sev}, rows)
    return Injected(out, rec)


def inject_recode(df: pd.DataFrame, *, column: str = "weathersit", mapping: Mapping, start, end=None,
                  pattern="sudden", seed=0, allow_new: bool = False, time_col: str = "timestamp") -> Injected:
    """Upstream change: category codes are remapped (e.g. ``weathersit`` 1 ↔ 3).

    Only ``column`` changes; companion columns (``weather`` for ``weathersit``, ``season_name``
    for ``season``) are left as they were, as when one field of a feed changes its coding.

    Parameters
    ----------
    df, start, end, seed, time_col
        As in :func:`inject_covariate_shift`.
    column : str, default "weathersit"
        The coded column (any dtype; categoricals keep their categories).
    mapping : mapping
        ``{old: new}``, applied simultaneously (so ``{1: 3, 3: 1}`` swaps). Every old and new
        value must exist in the column (or its categories).
    pattern : {"sudden", "gradual", "recurring"} or Pattern, default "sudden"
        ``"incremental"`` is refused (all-or-nothing per row).
    allow_new : bool, default False
        Allow new values that never occurred (an upstream that starts sending an unknown code);
        for a categorical they are added to its categories.

    Returns
    -------
    Injected
        ``DriftRecord(kind="upstream", subtype="recode", severity=1.0)``; only rows whose value
        actually changed are affected.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_recode(df, column="weathersit", mapping={1: 3, 3: 1}, start="2012-01-01")
    >>> out.data.loc[out.data["timestamp"] >= "2012-01-01", "weathersit"].value_counts().sort_index().tolist()
    [638, 2326, 5768, 2]
    """
    run = _begin("inject_recode", df, time_col=time_col, start=start, end=end, pattern=pattern, seed=seed,
                 allowed=_NOT_INCREMENTAL, why=_WHY_NOT_INCREMENTAL)
    check_column(df, column)
    _not_time(run, column)
    if not isinstance(mapping, Mapping) or not mapping:
        raise fail("mapping", "a non-empty {old: new} dict", mapping,
                   "pass e.g. mapping={1: 3, 3: 1} to swap codes 1 and 3", TypeError)
    s = df[column]
    check_existing(s, mapping.keys(), "mapping", column,
                   "map only values that occur in the column (they are listed above)")
    if not allow_new:
        check_existing(s, mapping.values(), "mapping", column,
                       "map onto existing values, or pass allow_new=True for a code the data never had")
    w = run.weights()
    on = w > 0
    vals = s.to_numpy(dtype=object)
    result = vals.copy()
    rows = np.zeros(len(df), dtype=bool)
    for old, new in mapping.items():
        if old == new:
            continue
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


def _schema_change(injector: str, df, column, start, end, pattern, time_col) -> tuple[_Run, np.ndarray]:
    run = _begin(injector, df, time_col=time_col, start=start, end=end, pattern=pattern, seed=0,
                 allowed=("sudden",), start_default_first=True,
                 why="a schema change happens at one moment: pass pattern='sudden' (with start/end)")
    check_column(df, column)
    _not_time(run, column)
    return run, run.weights() > 0


def inject_rename(df: pd.DataFrame, *, column: str, new_name: str, start=None, end=None, pattern="sudden",
                  time_col: str = "timestamp") -> Injected:
    """Upstream change: a column is renamed from ``start`` on.

    Parameters
    ----------
    df, time_col
        As in :func:`inject_covariate_shift`.
    column, new_name : str
        Old and new name (``new_name`` must not exist yet).
    start, end : datetime-like, optional
        ``start=None`` renames the column in the whole frame (the column is gone). Otherwise the
        frame looks like batches from before and after the change stacked with ``pd.concat``:
        ``column`` is NaN from ``start`` on (until ``end``) and ``new_name`` (inserted right after
        it) holds the values there and is NaN elsewhere. Integer columns become float (NaN).
    pattern : "sudden"
        Only ``"sudden"``: a schema changes at one moment.

    Returns
    -------
    Injected
        ``DriftRecord(kind="upstream", subtype="rename", columns=(column, new_name))``.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_rename(df, column="temp", new_name="temperature")
    >>> "temp" in out.data.columns, "temperature" in out.data.columns
    (False, True)
    >>> part = inject_rename(df, column="temp", new_name="temperature", start="2012-12-31").data
    >>> int(part["temp"].isna().sum()), int(part["temperature"].notna().sum())
    (24, 24)
    """
    run, rows = _schema_change("inject_rename", df, column, start, end, pattern, time_col)
    if not isinstance(new_name, str) or not new_name:
        raise fail("new_name", "a non-empty column name (str)", new_name, "pass e.g. new_name='temperature'",
                   TypeError)
    if new_name in df.columns:
        raise fail("new_name", "a name that is not already a column", new_name,
                   "pick a new name, or use inject_drop to remove a column")
    if rows.all():
        out = df.rename(columns={column: new_name})
        mode = "whole frame"
    else:
        out = df.copy()
        keep = pd.Series(~rows, index=df.index)
        out[column] = df[column].where(keep)
        out.insert(df.columns.get_loc(column) + 1, new_name, df[column].where(~keep))
        mode = "stacked batches"
    rec = run.record("upstream", "rename", [column, new_name], 1.0, {"new_name": new_name, "mode": mode}, rows)
    return Injected(out, rec)


def inject_drop(df: pd.DataFrame, *, column: str, start=None, end=None, pattern="sudden",
                time_col: str = "timestamp") -> Injected:
    """Upstream change: a column stops arriving.

    Parameters
    ----------
    df, column, start, end, pattern, time_col
        As in :func:`inject_rename`: ``start=None`` removes the column from the frame; otherwise
        it is NaN from ``start`` on (until ``end``), as when batches are stacked with
        ``pd.concat``. Only ``"sudden"``.

    Returns
    -------
    Injected
        ``DriftRecord(kind="upstream", subtype="drop")``.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> "hum" in inject_drop(df, column="hum").data.columns
    False
    >>> int(inject_drop(df, column="hum", start="2012-12-01").data["hum"].isna().sum())
    742
    """
    run, rows = _schema_change("inject_drop", df, column, start, end, pattern, time_col)
    if rows.all():
        out = df.drop(columns=[column])
        mode = "whole frame"
    else:
        out = df.copy()
        out[column] = df[column].where(pd.Series(~rows, index=df.index))
        mode = "stacked batches"
    rec = run.record("upstream", "drop", [column], 1.0, {"mode": mode}, rows)
    return Injected(out, rec)


def inject_stale(df: pd.DataFrame, *, column, start, end=None, pattern="sudden", seed=0,
                 time_col: str = "timestamp") -> Injected:
    """Upstream change: a feed goes stale; values freeze at the last value before the drift.

    Parameters
    ----------
    df, start, end, seed, time_col
        As in :func:`inject_covariate_shift`.
    column : str or list of str
        Column(s) that stop updating (any dtype).
    pattern : {"sudden", "gradual", "recurring"} or Pattern, default "sudden"
        Each affected row repeats the value of the latest unaffected row before it (in time
        order): for ``"recurring"`` every on-interval freezes at the value before it; for
        ``"gradual"`` more and more readings are repeats. ``"incremental"`` is refused.

    Returns
    -------
    Injected
        ``DriftRecord(kind="upstream", subtype="stale", severity=1.0)``; ``params['frozen_from']``
        is the time of the row whose value the first affected row repeats. A repeated value can
        equal the true one, so an affected row may be unchanged.

    Raises
    ------
    ValueError
        When the first affected row has no earlier row to take a value from.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = inject_stale(df, column="temp", start="2012-12-30")
    >>> out.data["temp"].iloc[-48:].nunique(), str(out.truth.params["frozen_from"])
    (1, '2012-12-29 23:00:00')
    """
    run = _begin("inject_stale", df, time_col=time_col, start=start, end=end, pattern=pattern, seed=seed,
                 allowed=_NOT_INCREMENTAL, why=_WHY_NOT_INCREMENTAL)
    cols = check_columns(df, column)
    for c in cols:
        _not_time(run, c)
    w = run.weights()
    rows = w > 0
    t = run.ts.to_numpy()
    order = np.argsort(t, kind="stable")
    on = rows[order]
    pos = np.where(~on, np.arange(len(df)), -1)
    last = np.maximum.accumulate(pos)
    if np.any(last[on] < 0):
        raise fail("start", f"a time after the first row ({run.ts.min()}), so there is a value to freeze",
                   str(run.start), "move start later than the first row")
    src = np.arange(len(df))
    src[order[on]] = order[last[on]]
    out = df.copy()
    for c in cols:
        out[c] = df[c].take(src).set_axis(df.index)
    first_on = np.flatnonzero(on)
    frozen_from = run.ts.iloc[order[last[first_on[0]]]] if first_on.size else None
    rec = run.record("upstream", "stale", cols, 1.0, {"frozen_from": frozen_from}, rows)
    return Injected(out, rec)


# =========================================================================== composition

#: The injectors by short name, for :func:`compose` specs such as ``{"injector": "missing", ...}``.
INJECTORS: Mapping[str, Callable[..., Injected]] = MappingProxyType({
    "covariate_shift": inject_covariate_shift,
    "covariate_scale": inject_covariate_scale,
    "prior_shift": inject_prior_shift,
    "concept_shift": inject_concept_shift,
    "unit_change": inject_unit_change,
    "scaling_change": inject_scaling_change,
    "missing": inject_missing,
    "recode": inject_recode,
    "rename": inject_rename,
    "drop": inject_drop,
    "stale": inject_stale,
})


def _run_step(i: int, step, data: pd.DataFrame) -> Injected:
    where = f"steps[{i}]"
    if isinstance(step, Mapping):
        spec = dict(step)
        if "injector" not in spec:
            raise fail(where, "a dict with an 'injector' key (a name or an inject_... function)", step,
                       "add e.g. 'injector': 'covariate_shift'")
        inj = spec.pop("injector")
        if isinstance(inj, str):
            name = inj[len("inject_"):] if inj.startswith("inject_") else inj
            if name not in INJECTORS:
                hints = close_matches(name, INJECTORS)
                raise fail(f"{where}['injector']", f"one of {list(INJECTORS)}", inj,
                           (f"did you mean {hints[0]!r}? " if hints else "") + "use a name from that list")
            inj = INJECTORS[name]
        if not callable(inj):
            raise fail(f"{where}['injector']", "a name or an inject_... function", f"<{type(inj).__name__}>",
                       "pass e.g. 'missing' or inject_missing", TypeError)
        if "df" in spec:
            raise fail(where, "no 'df' key (compose passes the data)", "<a 'df' key>", "remove it")
        result = inj(data, **spec)
    elif callable(step):
        result = step(data)
    else:
        raise fail(where, "a dict {'injector': ..., **options} or a function df -> Injected",
                   f"<{type(step).__name__}>", "see the compose() example", TypeError)
    if not isinstance(result, Injected):
        raise fail(where, "a step returning an Injected", f"<{type(result).__name__}>",
                   "use the inject_... functions, or return Injected(data, truth)", TypeError)
    if not result.data.index.equals(data.index):
        raise fail(where, "a step that keeps the rows (same index, same order)", "<a changed index>",
                   "do not add, drop or reorder rows inside a drift step")
    return result


def compose(df: pd.DataFrame, steps: Iterable, *, time_col: str = "timestamp") -> Injected:
    """Apply several injections in order; keep every ground-truth record.

    Parameters
    ----------
    df : pandas.DataFrame
        The data (never modified).
    steps : iterable
        Each either a dict ``{"injector": name or function, **options}`` (names as in
        :data:`INJECTORS`, e.g. ``"covariate_shift"``) or a function ``df -> Injected`` (e.g. a
        ``functools.partial`` of an injector). Each step sees the output of the previous one.
    time_col : str, default "timestamp"

    Returns
    -------
    Injected
        ``data`` after all steps; ``records`` one per step; ``truth`` a ``"composite"`` record
        whose weight per row is the largest weight of the parts and whose ``params['records']``
        hold each part's :meth:`DriftRecord.to_dict`.

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> df = load_hourly()
    >>> out = compose(df, [
    ...     {"injector": "covariate_shift", "column": "temp", "start": "2012-06-01", "severity": 1.0},
    ...     {"injector": "missing", "column": "hum", "start": "2012-09-01", "severity": 0.05, "seed": 1},
    ... ])
    >>> [f"{r.kind}/{r.subtype}" for r in out.records]
    ['covariate/shift', 'upstream/missing']
    >>> out.truth.subtype, out.truth.affected_rows == out.records[0].affected_rows
    ('covariate/shift + upstream/missing', True)
    """
    check_frame(df, "compose")
    ts = check_time(df, time_col)
    if isinstance(steps, (Mapping, str)) or callable(steps):
        raise fail("steps", "a list of steps", f"<{type(steps).__name__}>", "wrap it in a list: [step]", TypeError)
    steps = list(steps)
    if not steps:
        raise fail("steps", "at least one step", steps, "pass e.g. [{'injector': 'missing', ...}]")
    data = df
    records: list[DriftRecord] = []
    for i, step in enumerate(steps):
        result = _run_step(i, step, data)
        data = result.data
        records.extend(result.records)
    weight = np.max(np.vstack([r.weight.reindex(df.index).to_numpy(dtype=float) for r in records]), axis=0)
    columns = tuple(dict.fromkeys(c for r in records for c in r.columns))
    ends = [r.end for r in records]
    truth = DriftRecord(
        kind="composite",
        subtype=" + ".join(f"{r.kind}/{r.subtype}" for r in records),
        columns=columns, pattern=None,
        start=min(r.start for r in records),
        end=None if any(e is None for e in ends) else max(ends),
        severity=None,
        params={"records": [r.to_dict() for r in records]},
        weight=pd.Series(weight, index=df.index, name="weight"),
        timestamps=ts.copy(), injector="compose",
    )
    return Injected(data, truth, tuple(records))


@dataclass(frozen=True)
class DriftScenario:
    """A named, reusable list of injection steps (see :func:`compose`).

    Examples
    --------
    >>> from labkit.data import load_hourly
    >>> heatwave = DriftScenario("heatwave", [
    ...     {"injector": "covariate_shift", "column": "temp", "start": "2012-07-01",
    ...      "end": "2012-08-01", "severity": 1.0},
    ...     {"injector": "concept_shift", "start": "2012-07-01", "end": "2012-08-01", "severity": -0.2},
    ... ])
    >>> out = heatwave.apply(load_hourly())
    >>> len(out.records), out.truth.affected_rows
    (2, 744)
    """

    name: str
    steps: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "steps", tuple(self.steps))

    def apply(self, df: pd.DataFrame, *, time_col: str = "timestamp") -> Injected:
        """Run the steps on ``df`` (see :func:`compose`)."""
        return compose(df, self.steps, time_col=time_col)
