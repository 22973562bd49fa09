"""Retraining triggers: the one protocol of notebook 05 (who asks to retrain, and why) and 06 (the backtest).

A trigger's ``check(metrics, *, now, trained_at, new_labels)`` reads what it needs (a row of
windowed metrics, the model's age ``now - trained_at``, the labelled rows arrived since) and returns
a :class:`TriggerResult` with a reason. :func:`decide` combines triggers with OR logic; a
:class:`Policy` is a named set of them, which :func:`labkit.retraining.backtest_retraining` replays.
Any object with ``name``, ``signals`` and such a ``check`` is a trigger (``docs/alerting.md``).

>>> d = decide([PerformanceTrigger("mae", baseline=32.1, tolerance=0.2), TimeTrigger("90D")],
...            {"mae": 61.0}, now="2012-03-01", trained_at="2011-10-01")
>>> print(d)
retrain: performance: mae = 61 > 38.52 (baseline 32.1 worsened by more than 20%); time: model age 152 days >= 90 days
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping

import pandas as pd

from labkit._validate import as_timestamp, check_duration, check_int, check_number, fail

__all__ = ["TriggerResult", "PerformanceTrigger", "DriftTrigger", "TimeTrigger", "DataVolumeTrigger",
           "RetrainDecision", "Policy", "decide", "trigger_timeline"]

_LOWER_IS_BETTER = ("mae", "rmse", "mse", "mape", "wape", "smape", "error", "loss")
_HIGHER_IS_BETTER = ("r2", "accuracy", "f1", "precision", "recall", "auc")


@dataclass(frozen=True)
class TriggerResult:
    """One trigger's verdict: which trigger, what it measured, against what, and why (``reason``)."""

    trigger: str
    name: str
    signal: str
    value: Any
    op: str
    threshold: Any
    fired: bool
    reason: str


def _lookup(metrics, key: str, who: str) -> float:
    """``metrics[key]`` as a float (NaN when it is not a number); a clear error when it is missing."""
    try:
        raw = metrics[key]
    except (KeyError, IndexError, TypeError):
        keys = list(map(str, metrics.keys())) if hasattr(metrics, "keys") else metrics
        raise fail("decide", who, f"a value for {key!r} in the metrics", f"<keys {keys}>",
                   f"pass decide(triggers, {{{key!r}: ...}}) or change the trigger's signal") from None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _days(td: pd.Timedelta) -> str:
    return f"{td.days} day{'s' if abs(td.days) != 1 else ''}" if td % pd.Timedelta(days=1) == pd.Timedelta(0) else str(td)


def _age(now, trained_at, who: str) -> pd.Timedelta:
    if now is None or trained_at is None:
        raise fail("decide", who, "now= and trained_at= (to compute the model's age)", (now, trained_at),
                   "pass decide(..., now=<window time>, trained_at=<training time>)")
    return as_timestamp(now, "now", func="decide") - as_timestamp(trained_at, "trained_at", func="decide")


@dataclass(frozen=True)
class PerformanceTrigger:
    """Retrain when a metric is worse than its ``baseline`` by more than ``tolerance`` (relative).

    Higher-is-better is inferred for common names (mae, wape, ... lower; r2, f1, ... higher).

    >>> t = PerformanceTrigger("mae", baseline=32.1, tolerance=0.2)
    >>> round(t.threshold, 2), t.check({"mae": 45.0}).fired, t.check({"mae": 35.0}).fired
    (38.52, True, False)
    """

    signal: str
    baseline: float
    tolerance: float = 0.05
    higher_is_better: bool | None = None
    kind: ClassVar[str] = "performance"

    def __post_init__(self):
        func, hib, low = "PerformanceTrigger", self.higher_is_better, str(self.signal).lower()
        object.__setattr__(self, "baseline", check_number(self.baseline, "baseline", func=func))
        object.__setattr__(self, "tolerance", check_number(self.tolerance, "tolerance", func=func, low=0))
        for known, value in ((_LOWER_IS_BETTER, False), (_HIGHER_IS_BETTER, True)):
            if hib is None and any(low == k or low.startswith(k + "_") or low.endswith("_" + k) for k in known):
                hib = value
        if hib is None:
            raise fail(func, "higher_is_better", "True or False for an unfamiliar metric", None,
                       f"say whether a larger {self.signal!r} is better: higher_is_better=True/False")
        object.__setattr__(self, "higher_is_better", bool(hib))

    op = property(lambda self: "<" if self.higher_is_better else ">")
    name = property(lambda self: f"{self.kind}:{self.signal}")
    signals = property(lambda self: (self.signal,))

    @property
    def threshold(self) -> float:
        """The value beyond which it fires: baseline -/+ tolerance x |baseline|."""
        step = self.tolerance * abs(self.baseline)
        return self.baseline - step if self.higher_is_better else self.baseline + step

    def __str__(self) -> str:
        sign = "-" if self.higher_is_better else "+"
        return f"{self.signal} {self.op} {self.threshold:.4g} (baseline {self.baseline:.4g} {sign}{self.tolerance:.0%})"

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> TriggerResult:
        """Judge one window's ``metrics`` (a dict or a row of the metrics frame)."""
        value, thr = _lookup(metrics, self.signal, f"PerformanceTrigger({self.signal!r})"), self.threshold
        if math.isnan(value):
            return TriggerResult(self.kind, self.name, self.signal, value, self.op, thr, False,
                                 f"{self.signal} unknown (NaN, e.g. no labels yet): cannot judge performance")
        fired = value < thr if self.higher_is_better else value > thr
        word = "dropped" if self.higher_is_better else "worsened"
        rel = f" (baseline {self.baseline:.4g} {word} by more than {self.tolerance:.0%})" if fired else ""
        sym = self.op if fired else {"<": ">=", ">": "<="}[self.op]
        return TriggerResult(self.kind, self.name, self.signal, value, self.op, thr, bool(fired),
                             f"{self.signal} = {value:.4g} {sym} {thr:.4g}{rel}")


@dataclass(frozen=True)
class DriftTrigger:
    """Retrain when a drift score (the largest of several signals) is above ``threshold``.

    >>> r = DriftTrigger(["drift_temp", "drift_hum"], threshold=0.2).check({"drift_temp": 0.05, "drift_hum": 0.31})
    >>> r.fired, r.signal, r.reason
    (True, 'drift_hum', 'drift_hum = 0.31 > 0.2')
    """

    signal: Any
    threshold: float = 0.2
    kind: ClassVar[str] = "drift"

    def __post_init__(self):
        sig = (self.signal,) if isinstance(self.signal, str) else (
            tuple(self.signal) if isinstance(self.signal, Iterable) else ())
        if not sig or not all(isinstance(s, str) and s for s in sig):
            raise fail("DriftTrigger", "signal", "a drift column name or a list of them", self.signal,
                       "pass e.g. 'drift_temp' or ['drift_temp', 'drift_hum']", TypeError)
        object.__setattr__(self, "signal", sig[0] if len(sig) == 1 else sig)
        object.__setattr__(self, "threshold", check_number(self.threshold, "threshold", func="DriftTrigger"))

    signals = property(lambda self: (self.signal,) if isinstance(self.signal, str) else self.signal)
    name = property(lambda self: f"{self.kind}:{'|'.join(self.signals)}")

    def __str__(self) -> str:
        return f"{'max of ' if len(self.signals) > 1 else ''}{', '.join(self.signals)} > {self.threshold:g}"

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> TriggerResult:
        known = {s: v for s in self.signals if not math.isnan(v := _lookup(metrics, s, f"DriftTrigger({s!r})"))}
        if not known:
            return TriggerResult(self.kind, self.name, "|".join(self.signals), math.nan, ">", self.threshold, False,
                                 f"no drift score available ({', '.join(self.signals)} all NaN)")
        top = max(known, key=known.get)
        fired = known[top] > self.threshold
        return TriggerResult(self.kind, self.name, top, known[top], ">", self.threshold, bool(fired),
                             f"{top} = {known[top]:.4g} {'>' if fired else '<='} {self.threshold:g}")


@dataclass(frozen=True)
class TimeTrigger:
    """Retrain once the model is ``max_age`` old (``now - trained_at >= max_age``).

    >>> TimeTrigger("30D").check(now="2012-03-01", trained_at="2012-01-01").reason
    'model age 60 days >= 30 days'
    """

    max_age: Any = "30D"
    kind: ClassVar[str] = "time"
    name: ClassVar[str] = "time:model_age"
    signals: ClassVar[tuple] = ()

    def __post_init__(self):
        object.__setattr__(self, "max_age", check_duration(self.max_age, "max_age", func="TimeTrigger", positive=True))

    def __str__(self) -> str:
        return f"model age >= {_days(self.max_age)}"

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> TriggerResult:
        age = _age(now, trained_at, "TimeTrigger")
        fired = age >= self.max_age
        return TriggerResult(self.kind, self.name, "model_age", age, ">=", self.max_age, bool(fired),
                             f"model age {_days(age)} {'>=' if fired else '<'} {_days(self.max_age)}")


@dataclass(frozen=True)
class DataVolumeTrigger:
    """Retrain once at least ``min_new_labels`` new labelled rows have arrived since training.

    >>> DataVolumeTrigger(1000).check(new_labels=1500).reason
    'new labelled rows 1,500 >= 1,000'
    """

    min_new_labels: int = 10_000
    kind: ClassVar[str] = "data_volume"
    name: ClassVar[str] = "data_volume:new_labels"
    signals: ClassVar[tuple] = ()

    def __post_init__(self):
        object.__setattr__(self, "min_new_labels", check_int(self.min_new_labels, "min_new_labels",
                                                             func="DataVolumeTrigger", low=1))

    def __str__(self) -> str:
        return f"new labelled rows >= {self.min_new_labels:,}"

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> TriggerResult:
        if new_labels is None:
            raise fail("decide", "DataVolumeTrigger", "new_labels= (labelled rows that arrived since training)", None,
                       "pass decide(..., new_labels=<count>)")
        n = check_number(new_labels, "new_labels", func="decide")
        fired = n >= self.min_new_labels
        return TriggerResult(self.kind, self.name, "new_labels", n, ">=", self.min_new_labels, bool(fired),
                             f"new labelled rows {n:,.0f} {'>=' if fired else '<'} {self.min_new_labels:,}")


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain (``bool(decision)``), every trigger's verdict (``checks``), and when."""

    retrain: bool
    checks: tuple[TriggerResult, ...]
    time: pd.Timestamp | None = None

    def __bool__(self) -> bool:
        return self.retrain

    @property
    def reasons(self) -> tuple[TriggerResult, ...]:
        """The triggers that fired."""
        return tuple(c for c in self.checks if c.fired)

    def __str__(self) -> str:
        if not self.retrain:
            return "no retraining: " + ("; ".join(c.reason for c in self.checks) or "no trigger asked")
        return "retrain: " + "; ".join(f"{c.trigger}: {c.reason}" for c in self.reasons)

    def to_frame(self) -> pd.DataFrame:
        """One row per trigger: trigger, name, signal, value, op, threshold, fired, reason."""
        return pd.DataFrame([vars(r) for r in self.checks], columns=list(TriggerResult.__dataclass_fields__))


def _as_triggers(triggers, func: str = "decide") -> tuple:
    """A trigger or a list of them, as a tuple; anything without ``check()`` is refused."""
    if hasattr(triggers, "check") or isinstance(triggers, str) or not isinstance(triggers, Iterable):
        triggers = (triggers,)
    for i, t in enumerate(out := tuple(triggers)):
        if not callable(getattr(t, "check", None)):
            raise fail(func, f"triggers[{i}]", "a trigger: PerformanceTrigger, DriftTrigger, TimeTrigger, "
                       "DataVolumeTrigger or an object with check()", f"<{type(t).__name__}>",
                       "pass e.g. [TimeTrigger('30D')]", TypeError)
    return out


def decide(triggers, metrics: Mapping | pd.Series | None = None, *, now=None, trained_at=None,
           new_labels: int | None = None) -> RetrainDecision:
    """Combine triggers with OR logic; the decision carries every trigger's reason.

    ``metrics`` (a dict or a row of the windowed-metrics frame) is read by performance and drift
    triggers, ``now``/``trained_at`` by :class:`TimeTrigger`, ``new_labels`` by :class:`DataVolumeTrigger`.
    """
    trigs = _as_triggers(triggers)
    if not trigs:
        raise fail("decide", "triggers", "at least one trigger", [], "pass e.g. [TimeTrigger('30D')]")
    checks = tuple(t.check(metrics, now=now, trained_at=trained_at, new_labels=new_labels) for t in trigs)
    return RetrainDecision(any(c.fired for c in checks), checks, None if now is None else as_timestamp(
        now, "now", func="decide"))


@dataclass(frozen=True)
class Policy:
    """A named retraining policy: its triggers (OR logic) and a ``cooldown``, the least model age
    before any of them may ask again. No triggers: never retrain.

    >>> p = Policy("drift", [DriftTrigger("drift", 0.6)], cooldown="30D")
    >>> print(p)
    drift: retrain when drift > 0.6, at most every 30 days
    >>> bool(p.decide({"drift": 0.7}, now="2012-01-20", trained_at="2012-01-01"))  # too soon
    False
    """

    name: str
    triggers: tuple = ()
    cooldown: Any = 0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise fail("Policy", "name", "a non-empty name", self.name, "pass e.g. 'periodic'", TypeError)
        object.__setattr__(self, "triggers", _as_triggers(self.triggers, "Policy"))
        object.__setattr__(self, "cooldown", check_duration(self.cooldown, "cooldown", func="Policy"))

    @property
    def signals(self) -> tuple[str, ...]:
        """The metrics its triggers read."""
        return tuple(dict.fromkeys(s for t in self.triggers for s in getattr(t, "signals", ())))

    def __str__(self) -> str:
        wait = f", at most every {_days(self.cooldown)}" if self.cooldown > pd.Timedelta(0) else ""
        return f"{self.name}: " + (f"retrain when {' or '.join(map(str, self.triggers))}{wait}"
                                   if self.triggers else "never retrain")

    def decide(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> RetrainDecision:
        """:func:`decide` with the policy's triggers, after its cooldown (``now - trained_at``)."""
        if not self.triggers or (self.cooldown > pd.Timedelta(0) and _age(now, trained_at, "Policy") < self.cooldown):
            return RetrainDecision(False, (), None if now is None else as_timestamp(now, "now", func="decide"))
        return decide(self.triggers, metrics, now=now, trained_at=trained_at, new_labels=new_labels)


def trigger_timeline(triggers, metrics: pd.DataFrame, *, trained_at, new_labels: str | None = None) -> pd.DataFrame:
    """Which triggers would ask for retraining at each window (indexed by its start), had nobody
    retrained: ``retrain``, ``reasons`` and one bool column per trigger. The model's age is counted
    from ``trained_at``; ``new_labels`` names a column of labelled rows per window (summed up).

    >>> m = pd.DataFrame({"mae": [30.0, 33.0, 45.0]}, index=pd.date_range("2012-01-01", periods=3, freq="D"))
    >>> trigger_timeline([PerformanceTrigger("mae", baseline=32.1, tolerance=0.2)], m,
    ...                  trained_at="2011-10-01")["retrain"].tolist()
    [False, False, True]
    """
    func, trigs = "trigger_timeline", _as_triggers(triggers, "trigger_timeline")
    if not isinstance(metrics, pd.DataFrame) or not isinstance(metrics.index, pd.DatetimeIndex):
        raise fail(func, "metrics", "a DataFrame indexed by window start times", f"<{type(metrics).__name__}>",
                   "use metrics.set_index(<the window-start column>)", TypeError)
    frame = metrics.sort_index(kind="stable")
    if new_labels is not None and new_labels not in frame.columns:
        raise fail(func, "new_labels", f"a column of the metrics, one of {list(map(str, frame.columns))}",
                   new_labels, "name the column holding labelled rows per window")
    counts = None if new_labels is None else frame[new_labels].fillna(0).cumsum().to_numpy(dtype=float)
    rows = []
    for k, (t, row) in enumerate(zip(frame.index, frame.to_dict("records"))):
        d = decide(trigs, row, now=t, trained_at=trained_at, new_labels=None if counts is None else counts[k])
        rows.append({"retrain": d.retrain, "reasons": "; ".join(c.reason for c in d.reasons),
                     **{c.name: c.fired for c in d.checks}})
    return pd.DataFrame(rows, index=frame.index, columns=["retrain", "reasons", *dict.fromkeys(t.name for t in trigs)])
