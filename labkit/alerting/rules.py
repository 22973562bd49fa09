"""Alert rules evaluated with Prometheus semantics, and the history of the alerts they raised.

A :class:`Rule` watches *signals*: columns of a windowed-metrics frame indexed by window start.
:func:`evaluate` walks the windows in time order: an alert goes **pending** when its condition
holds, **fires** once it has held for ``for_``, and **resolves** when it no longer holds (NaN: not
met). Deduplication and cooldown decide what is notified. Details: ``docs/alerting.md``.

>>> days = pd.date_range("2012-01-01", periods=6, freq="D")
>>> metrics = pd.DataFrame({"mae": [30, 45, 50, 52, 31, 30]}, index=days)
>>> rule = Rule("ModelErrorHigh", "mae", ">", 40, for_="1D", severity="high",
...             annotation="MAE is {value:.1f}, threshold {threshold}")
>>> a = evaluate([rule], metrics).alerts[0]
>>> str(a.pending_at.date()), str(a.fired_at.date()), str(a.resolved_at.date()), a.message
('2012-01-02', '2012-01-03', '2012-01-05', 'MAE is 50.0, threshold 40')
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import math
import operator
import re
import string
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from labkit._validate import check_choice, check_columns, check_duration, check_frame, check_number, fail

log = logging.getLogger(__name__)

__all__ = [
    "SEVERITIES", "PLAYBOOK", "RESPONSE_STEPS", "OPS", "Condition", "Rule", "Alert", "Notification",
    "AlertHistory", "AlertEngine", "as_rules", "plain_number", "evaluate", "detection_delay",
]

#: Severities, most severe first (the lecture's incident-response playbook).
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")

#: When each severity applies (the lecture's playbook, step 1 "assess severity").
PLAYBOOK: dict[str, str] = {
    "critical": "Model down, severe accuracy drop (>20%)",
    "high": "Moderate accuracy drop (10-20%), high latency",
    "medium": "Data drift detected, minor accuracy drop (<10%)",
    "low": "Feature freshness issues",
}

#: What to do once an alert fires: (step, time box, actions), from the lecture's playbook.
RESPONSE_STEPS: tuple[tuple[str, str, str], ...] = (
    ("Assess severity", "5 min", "Decide critical / high / medium / low (see PLAYBOOK)"),
    ("Initial investigation", "15 min",
     "Check recent deployments, upstream data pipelines, input distribution changes, system health"),
    ("Mitigation", "30 min", "Roll back to the previous model, apply a hotfix, or route traffic to a backup model"),
    ("Root cause analysis", "1-2 hours", "Analyse logs and metrics, reproduce in staging, document findings"),
    ("Permanent fix", "varies", "Retrain with new data, fix the data pipeline, update monitoring thresholds"),
)

#: The comparisons a condition may use.
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _time(value, argument: str, func: str) -> pd.Timestamp:
    """A time as ``pd.Timestamp``, keeping its time zone (alert windows may be tz-aware)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if pd.isna(ts):
        raise fail(func, argument, "a time such as '2012-06-01' or pd.Timestamp('2012-06-01 07:00')", value,
                   "pass a parseable time")
    return ts


def _check_labels(labels, argument: str, *, func: str, reserved: bool) -> dict:
    """Label name -> string value; ``reserved`` refuses ``alertname``/``severity`` (set by the rule)."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise fail(func, argument, "a mapping of label name to string value", f"<{type(labels).__name__}>",
                   "pass e.g. {'team': 'ml', 'feature': 'temp'}", TypeError)
    for key, value in labels.items():
        if not isinstance(key, str) or not _NAME_RE.match(key):
            raise fail(func, f"{argument} key", "a label name of letters, digits and underscores", key,
                       "rename it, e.g. 'team' or 'feature'")
        if reserved and key in ("alertname", "severity"):
            raise fail(func, f"{argument} key", "a label other than 'alertname' and 'severity'", key,
                       "use Rule(name=...) and Rule(severity=...) instead")
        if not isinstance(value, str):
            raise fail(func, f"{argument}[{key!r}]", "a string value", value, f"pass {key!r}: {str(value)!r}", TypeError)
    return dict(labels)


def plain_number(x: float):
    """40.0 -> 40, so a template's ``{threshold}`` reads as the user wrote it; other floats unchanged."""
    return int(x) if float(x).is_integer() and abs(x) < 1e15 else x


def _iso(ts) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).isoformat()


def _json_float(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _fingerprint(labels: Mapping[str, str]) -> str:
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Condition:
    """One comparison of a signal with a threshold, e.g. ``mae > 40``.

    >>> c = Condition("mae", ">", 40)
    >>> str(c), c.holds(41.0), c.holds(40.0), c.holds(float("nan"))
    ('mae > 40', True, False, False)
    """

    signal: str
    op: str
    threshold: float

    def __post_init__(self):
        if not isinstance(self.signal, str) or not self.signal:
            raise fail("Condition", "signal", "a column name of the metrics frame", self.signal,
                       "pass e.g. 'mae' or 'drift_temp'", TypeError)
        check_choice(self.op, "op", list(OPS), func="Condition")
        object.__setattr__(self, "threshold", check_number(self.threshold, "threshold", func="Condition",
                                                           fix=f"pass a number, e.g. ({self.signal!r}, '>', 0.2)"))

    def holds(self, value) -> bool:
        """Is the condition met by ``value``? NaN/None is never a match."""
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        return (not math.isnan(v)) and bool(OPS[self.op](v, self.threshold))

    def __str__(self) -> str:
        return f"{self.signal} {self.op} {self.threshold:g}"


def _as_condition(obj, argument: str) -> Condition:
    if isinstance(obj, Condition):
        return obj
    if isinstance(obj, (tuple, list)) and len(obj) == 3:
        return Condition(*obj)
    raise fail("Rule", argument, "Condition(signal, op, threshold) or a (signal, op, threshold) tuple", obj,
               "write e.g. ('drift_temp', '>', 0.2)", TypeError)


@dataclass(frozen=True)
class Rule:
    """An alerting rule: a condition, a ``for`` duration, a severity, labels and a message template.

    One condition (``signal``, ``op``, ``threshold``), or ``all_of=[...]`` (every condition must
    hold: drift AND error up) or ``any_of=[...]``. ``annotation`` is a ``str.format`` template
    (fields: ``docs/alerting.md``); ``summary`` a fixed title.

    >>> r = Rule("DriftWithErrorUp", all_of=[("drift_temp", ">", 0.2), ("mae", ">", 40)],
    ...          for_="2D", severity="high")
    >>> r.signals, r.match, str(r.for_)
    (('drift_temp', 'mae'), 'all', '2 days 00:00:00')
    >>> r.check({"drift_temp": 0.3, "mae": 55.0})[0], r.check({"drift_temp": 0.3, "mae": float("nan")})[0]
    (True, False)
    """

    name: str
    signal: str | None = None
    op: str | None = None
    threshold: float | None = None
    _: KW_ONLY
    all_of: Sequence | None = None
    any_of: Sequence | None = None
    for_: Any = 0
    severity: str = "medium"
    labels: Mapping[str, str] | None = None
    annotation: str | None = None
    summary: str = ""
    cooldown: Any = 0
    keep_firing_for: Any = 0
    conditions: tuple[Condition, ...] = field(init=False, repr=False)
    match: str = field(init=False, repr=False)

    def __post_init__(self):
        func, name, set_ = "Rule", self.name, lambda k, v: object.__setattr__(self, k, v)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise fail(func, "name", "an alert name of letters, digits and underscores (Prometheus style)", name,
                       "use CamelCase, e.g. 'ModelErrorHigh'", ValueError if isinstance(name, str) else TypeError)
        single = any(x is not None for x in (self.signal, self.op, self.threshold))
        forms = [f for f, given in (("signal/op/threshold", single), ("all_of", self.all_of is not None),
                                    ("any_of", self.any_of is not None)) if given]
        if len(forms) != 1:
            raise fail(func, f"{name} condition", "exactly one of signal/op/threshold, all_of=[...] or any_of=[...]",
                       f"<{' and '.join(forms) or 'none of them'}>", "e.g. Rule('ModelErrorHigh', 'mae', '>', 40)")
        if single:
            if None in (self.signal, self.op, self.threshold):
                raise fail(func, f"{name} condition", "signal, op and threshold together",
                           (self.signal, self.op, self.threshold), f"e.g. Rule({name!r}, 'mae', '>', 40)")
            conditions, match = (Condition(self.signal, self.op, self.threshold),), "all"
            set_("threshold", conditions[0].threshold)
        else:
            match = "all" if self.all_of is not None else "any"
            raw = self.all_of if match == "all" else self.any_of
            if isinstance(raw, (str, Condition)) or not isinstance(raw, Iterable):
                raise fail(func, f"{match}_of", "a list of conditions", raw,
                           "wrap it in a list: [('mae', '>', 40), ('drift_temp', '>', 0.2)]", TypeError)
            conditions = tuple(_as_condition(c, f"{match}_of[{i}]") for i, c in enumerate(raw))
            if not conditions:
                raise fail(func, f"{match}_of", "at least one condition", [], "add a condition such as ('mae', '>', 40)")
            set_(f"{match}_of", conditions)
        check_choice(self.severity, "severity", SEVERITIES, func=func)
        set_("labels", _check_labels(self.labels, "labels", func=func, reserved=True))
        if self.annotation is None:
            joined = (" and " if match == "all" else " or ").join(str(c) for c in conditions)
            set_("annotation", "{rule}: " + joined + " (value {value:.4g})")
        if not isinstance(self.annotation, str) or not isinstance(self.summary, str):
            raise fail(func, "annotation/summary", "strings", (self.annotation, self.summary), "pass text", TypeError)
        set_("conditions", conditions)
        set_("match", match)
        set_("for_", check_duration(self.for_, "for_", func=func))
        set_("cooldown", check_duration(self.cooldown, "cooldown", func=func))
        set_("keep_firing_for", check_duration(self.keep_firing_for, "keep_firing_for", func=func))
        self._check_template()

    @property
    def signals(self) -> tuple[str, ...]:
        """The signal columns the rule reads, in order, without repeats."""
        return tuple(dict.fromkeys(c.signal for c in self.conditions))

    @property
    def alert_labels(self) -> dict:
        """The labels its alerts carry: ``alertname``, ``severity`` and the rule's own."""
        return {"alertname": self.name, "severity": self.severity, **self.labels}

    @property
    def fingerprint(self) -> str:
        """A stable id of the alert identity (name + labels): equal for duplicate rules."""
        return _fingerprint(self.alert_labels)

    def __hash__(self):
        return hash((self.name, self.conditions, self.match, self.for_, self.severity,
                     tuple(sorted(self.labels.items())), self.annotation, self.summary, self.cooldown, self.keep_firing_for))

    def __str__(self) -> str:
        joiner = " and " if self.match == "all" else " or "
        extra = f" for {self.for_}" if self.for_ > pd.Timedelta(0) else ""
        return f"{self.name} [{self.severity}]: {joiner.join(str(c) for c in self.conditions)}{extra}"

    def check(self, values: Mapping[str, float]) -> tuple[bool, dict, int]:
        """(met, the rule's signal values as floats, index of the condition reported as ``value``)."""
        vals = {}
        for s in self.signals:
            try:
                vals[s] = float(values[s])
            except KeyError:
                raise fail("Rule.check", f"rule {self.name!r}", f"a value for signal {s!r}",
                           f"<keys {sorted(values)}>", f"add a {s!r} column to the metrics") from None
            except (TypeError, ValueError):
                vals[s] = math.nan
        met = [c.holds(vals[c.signal]) for c in self.conditions]
        ok = all(met) if self.match == "all" else any(met)
        return ok, vals, met.index(True) if (ok and self.match == "any") else 0

    def _context(self, values: Mapping[str, float], primary: int = 0) -> dict:
        cond = self.conditions[primary]
        ctx = {**self.labels, **{s: values.get(s, math.nan) for s in self.signals}}
        ctx.update(value=values.get(cond.signal, math.nan), threshold=plain_number(cond.threshold),
                   signal=cond.signal, op=cond.op, rule=self.name, severity=self.severity)
        return ctx

    def render(self, values: Mapping[str, float], primary: int = 0) -> str:
        """The annotation filled in with ``values`` (a mapping signal -> value)."""
        return self.annotation.format(**self._context(values, primary))

    def _check_template(self) -> None:
        allowed = sorted(self._context({s: 1.0 for s in self.signals}))
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.annotation) if f is not None]
        except ValueError as exc:
            raise fail("Rule", "annotation", "a str.format template", self.annotation,
                       f"balance the braces; write {{{{ and }}}} for literal braces ({exc})") from None
        for f in fields:
            base = re.split(r"[.\[]", f, maxsplit=1)[0]
            if base == "" or base.isdigit():
                raise fail("Rule", "annotation", "named fields only", self.annotation, f"name it, one of {allowed}")
            if base not in allowed:
                raise fail("Rule", "annotation", f"fields among {allowed}", f"<field {{{base}}}>",
                           "use {value} for the signal's value, or add the label to labels=")
        try:
            self.render({s: 1.0 for s in self.signals})
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise fail("Rule", "annotation", "a template that formats floats", self.annotation,
                       f"values are floats: use specs such as {{value:.1f}} or {{value:.0%}} ({exc})") from None

    def replace(self, **changes) -> "Rule":
        """A copy with some arguments changed, e.g. ``rule.replace(for_="2D", cooldown="3D")``."""
        return dataclasses.replace(self, **changes)


def as_rules(rules, func: str = "evaluate") -> tuple[Rule, ...]:
    """``rules`` (a Rule or a list of them) as a tuple, each checked to be a Rule."""
    if isinstance(rules, Rule):
        return (rules,)
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
        raise fail(func, "rules", "a Rule or a list of Rule", f"<{type(rules).__name__}>",
                   "pass e.g. [Rule('ModelErrorHigh', 'mae', '>', 40)]", TypeError)
    out = tuple(rules)
    for i, r in enumerate(out):
        if not isinstance(r, Rule):
            raise fail(func, f"rules[{i}]", "a labkit.alerting.rules.Rule", f"<{type(r).__name__} {r!r}>",
                       "build it with Rule(name, signal, op, threshold, ...)", TypeError)
    return out


@dataclass(frozen=True)
class Alert:
    """One alert episode, pending through firing to resolved (fields: ``docs/alerting.md``).

    ``state`` is "resolved", "firing" or "pending" (still so at the last window), or "cleared"
    (stopped holding before ``for_``: never fired). ``suppressed_by`` is the last reason a
    notification was held back: "cooldown" or "duplicate".
    """

    rule: str
    severity: str
    labels: dict
    state: str
    pending_at: pd.Timestamp
    fired_at: pd.Timestamp | None
    resolved_at: pd.Timestamp | None
    value: float
    values: dict
    message: str
    notified_at: pd.Timestamp | None
    notifications: int
    suppressed_by: str | None

    @property
    def duration(self) -> pd.Timedelta | None:
        """Time firing (``resolved_at - fired_at``); None while firing or if it never fired."""
        return None if self.fired_at is None or self.resolved_at is None else self.resolved_at - self.fired_at

    def to_dict(self) -> dict:
        """A JSON-friendly dict (times as ISO strings, NaN as None)."""
        out = {k: _iso(v) if k.endswith("_at") else v for k, v in vars(self).items()}
        return {**out, "labels": dict(self.labels), "value": _json_float(self.value),
                "values": {k: _json_float(v) for k, v in self.values.items()}}


@dataclass(frozen=True)
class Notification:
    """One message: one or more alerts of the same group, firing or resolved.

    >>> n = Notification.from_message("MAE is 55.0, threshold 40", severity="high", rule="ModelErrorHigh",
    ...                               time="2012-03-01")
    >>> n.text
    '[FIRING] ModelErrorHigh (high)\\n- MAE is 55.0, threshold 40'
    """

    time: pd.Timestamp
    status: str
    severity: str
    group_labels: dict
    alerts: tuple

    @classmethod
    def from_message(cls, message: str, *, severity: str = "medium", rule: str = "ManualAlert",
                     labels: Mapping[str, str] | None = None, time=None, status: str = "firing",
                     value: float = math.nan) -> "Notification":
        """A one-alert notification built by hand (for a monitoring loop or a notifier test)."""
        func = "Notification.from_message"
        check_choice(severity, "severity", SEVERITIES, func=func)
        check_choice(status, "status", ("firing", "resolved"), func=func)
        t = pd.Timestamp.now(tz="UTC").floor("s") if time is None else _time(time, "time", func)
        full = {"alertname": rule, "severity": severity, **_check_labels(labels, "labels", func=func, reserved=True)}
        alert = {"rule": rule, "severity": severity, "labels": full, "message": str(message),
                 "value": _json_float(value), "values": {}, "pending_at": _iso(t), "fired_at": _iso(t),
                 "resolved_at": _iso(t) if status == "resolved" else None}
        return cls(time=t, status=status, severity=severity, group_labels=full, alerts=(alert,))

    def __hash__(self):
        return hash((self.time, self.status, self.group_key))

    @property
    def group_key(self) -> str:
        """A stable id of the group (same for its firing and resolved messages)."""
        return _fingerprint(self.group_labels)

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a["rule"] for a in self.alerts))

    @property
    def title(self) -> str:
        """E.g. ``[FIRING] ModelErrorHigh (high)`` or ``[FIRING:3] FeatureDriftHigh, ... (medium)``."""
        count = f":{len(self.alerts)}" if len(self.alerts) > 1 else ""
        return f"[{self.status.upper()}{count}] {', '.join(self.rules)} ({self.severity})"

    @property
    def text(self) -> str:
        """Title plus one line per alert: a plain-text message."""
        return "\n".join([self.title, *(f"- {a['message']}" for a in self.alerts)])

    def to_dict(self) -> dict:
        """JSON-friendly form (what the JSON-lines notifier writes)."""
        return {"time": _iso(self.time), "status": self.status, "severity": self.severity,
                "group_labels": dict(self.group_labels), "group_key": self.group_key, "title": self.title,
                "alerts": [dict(a) for a in self.alerts]}


@dataclass(frozen=True)
class AlertHistory:
    """What :func:`evaluate` returns: alerts that fired (``len()`` counts them), episodes that only
    went pending, the notifications sent, the rules, and the windows evaluated."""

    alerts: tuple[Alert, ...]
    pending_only: tuple[Alert, ...]
    notifications: tuple[Notification, ...]
    rules: tuple[str, ...]
    windows: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None

    _COLUMNS: ClassVar[tuple[str, ...]] = (
        "rule", "severity", "state", "pending_at", "fired_at", "resolved_at", "duration", "value",
        "message", "notified_at", "notifications", "suppressed_by", "labels")

    def __len__(self) -> int:
        return len(self.alerts)

    @property
    def n_alerts(self) -> int:
        """Number of alerts that fired."""
        return len(self.alerts)

    @property
    def n_notifications(self) -> int:
        """Number of messages sent (a grouped message counts once)."""
        return len(self.notifications)

    def to_frame(self, *, include_pending: bool = False) -> pd.DataFrame:
        """One row per alert, typed (times, durations, floats)."""
        rows = list(self.alerts) + (list(self.pending_only) if include_pending else [])
        frame = pd.DataFrame([{c: getattr(a, c) for c in self._COLUMNS} for a in rows], columns=list(self._COLUMNS))
        for col in ("pending_at", "fired_at", "resolved_at", "notified_at"):
            frame[col] = pd.to_datetime(frame[col])
        return frame.astype({"duration": "timedelta64[ns]", "value": float, "notifications": int})

    def summary(self) -> pd.DataFrame:
        """Per rule (those that never fired too): alerts, notifications, never_notified,
        pending_only episodes, first_fired_at."""
        rows = [{"rule": name, "alerts": len(mine), "notifications": sum(a.notifications for a in mine),
                 "never_notified": sum(a.notified_at is None for a in mine),
                 "pending_only": sum(a.rule == name for a in self.pending_only),
                 "first_fired_at": min((a.fired_at for a in mine), default=pd.NaT)}
                for name in self.rules for mine in [[a for a in self.alerts if a.rule == name]]]
        frame = pd.DataFrame(rows, columns=["rule", "alerts", "notifications", "never_notified", "pending_only",
                                            "first_fired_at"]).set_index("rule")
        frame["first_fired_at"] = pd.to_datetime(frame["first_fired_at"])
        return frame



    def firing(self, times) -> pd.DataFrame:
        """One row per time, one column per rule: was an alert of that rule firing then?"""
        t = pd.DatetimeIndex(times)
        out = pd.DataFrame(False, index=t, columns=list(self.rules))
        for a in self.alerts:
            out.loc[(t >= a.fired_at) & ((t < a.resolved_at) if a.resolved_at is not None else True), a.rule] = True
        return out


@dataclass
class _State:
    pending_at: pd.Timestamp
    fired_at: pd.Timestamp | None = None
    value: float = math.nan
    values: dict = field(default_factory=dict)
    message: str = ""
    notified_at: pd.Timestamp | None = None
    notifications: int = 0
    suppressed_by: str | None = None
    duplicate: bool = False
    cleared_at: pd.Timestamp | None = None  # first window the condition stopped holding (keep_firing_for)


class AlertEngine:
    """Evaluate rules one window at a time: what :func:`evaluate` runs, for a live monitoring loop.

    ``dedup=False`` notifies at every firing window (the naive loop); ``send_resolved`` also sends
    a "resolved" message when a notified alert resolves. Grouping and silences: Alertmanager's job.

    >>> engine = AlertEngine([Rule("LatencyHigh", "latency_p95", ">", 0.5, severity="high")])
    >>> [n.title for n in engine.step("2012-01-01 00:00", {"latency_p95": 0.7})]
    ['[FIRING] LatencyHigh (high)']
    >>> engine.step("2012-01-01 01:00", {"latency_p95": 0.9})  # still firing: deduplicated
    []
    """

    def __init__(self, rules, *, dedup: bool = True, send_resolved: bool = False):
        self.rules = as_rules(rules, "AlertEngine")
        self.dedup, self.send_resolved = bool(dedup), bool(send_resolved)
        self._states: list[_State | None] = [None] * len(self.rules)
        self._finished: list[tuple[int, Alert]] = []
        self._cleared: list[Alert] = []
        self._notifications: list[Notification] = []
        self._last_notified: dict[str, pd.Timestamp] = {}
        self._active_notified: collections.Counter = collections.Counter()
        self._first: pd.Timestamp | None = None
        self._last: pd.Timestamp | None = None
        self._windows = 0

    @property
    def signals(self) -> tuple[str, ...]:
        """Every signal column the rules read, in order of first use."""
        return tuple(dict.fromkeys(s for r in self.rules for s in r.signals))

    def _advance(self, time, values) -> pd.Timestamp:
        func, t = "AlertEngine.step", _time(time, "time", "AlertEngine.step")
        if self._last is not None and (self._last.tzinfo is None) != (t.tzinfo is None):
            raise fail(func, "time", "the same time-zone kind as earlier windows", str(t), "keep all naive or all aware")
        if self._last is not None and t <= self._last:
            raise fail(func, "time", f"a window after the previous one ({self._last})", str(t),
                       "feed windows in increasing time order (sort the frame by its index)")
        missing = [s for s in self.signals if s not in values]
        if missing:
            raise fail(func, "values", f"a value for every signal the rules read {list(self.signals)}",
                       f"<keys {sorted(map(str, values.keys()))}>", f"add {missing} (NaN when unknown)")
        self._first = t if self._first is None else self._first
        self._last, self._windows = t, self._windows + 1
        return t

    def step(self, time, values: Mapping[str, float]) -> list[Notification]:
        """Evaluate every rule on one window (``time`` increasing, ``values`` signal -> value);
        return the notifications it triggers."""
        t = self._advance(time, values)
        resolved: list[tuple[int, _State]] = []
        for i, rule in enumerate(self.rules):
            ok, vals, primary = rule.check(values)
            st = self._states[i]
            if ok:
                st = self._states[i] = st or _State(pending_at=t)
                st.cleared_at = None
                if st.fired_at is None and t - st.pending_at >= rule.for_:
                    st.fired_at, st.values = t, vals
                    st.value, st.message = vals[rule.conditions[primary].signal], rule.render(vals, primary)
            elif st is not None:
                st.cleared_at = st.cleared_at or t
                if st.fired_at is not None and t - st.cleared_at < rule.keep_firing_for:
                    continue  # Prometheus' keep_firing_for: still firing a while after the condition cleared
                self._states[i] = None
                if st.fired_at is None:
                    self._cleared.append(self._freeze(rule, st, "cleared", t))
                    continue
                resolved.append((i, st))
                if st.notified_at is not None and not st.duplicate:
                    self._active_notified[rule.fingerprint] -= 1
        groups: dict[tuple, list] = {}  # one notification per alert identity (duplicates travel together)
        for i, st in resolved:  # resolved notifications first, then firing ones
            rule = self.rules[i]
            if self.send_resolved and st.notified_at is not None:
                st.notifications += 1
                groups.setdefault(("resolved", rule.fingerprint), []).append((rule, self._snapshot(rule, st, t)))
            self._finished.append((i, self._freeze(rule, st, "resolved", t)))
        for i, rule in enumerate(self.rules):
            st = self._states[i]
            if st is not None and st.fired_at is not None and self._notify(rule, st, t):
                groups.setdefault(("firing", rule.fingerprint), []).append((rule, self._snapshot(rule, st, None)))
        out = [Notification(time=t, status=status, severity=items[0][0].severity, group_labels=items[0][0].alert_labels,
                            alerts=tuple(a for _, a in items)) for (status, _), items in groups.items()]
        self._notifications.extend(out)
        return out

    def _notify(self, rule: Rule, st: _State, t: pd.Timestamp) -> bool:
        """Should this firing alert be notified now? Records why not in ``st.suppressed_by``."""
        fp = rule.fingerprint
        if st.duplicate or (self.dedup and st.notified_at is not None):
            return False
        if self.dedup and st.notified_at is None and self._active_notified[fp] > 0:
            st.duplicate, st.suppressed_by = True, "duplicate"
            return False
        last = self._last_notified.get(fp)
        if last is not None and t - last < rule.cooldown:
            st.suppressed_by = "cooldown"
            return False
        if st.notified_at is None:
            st.notified_at = t
            self._active_notified[fp] += 1
        st.notifications += 1
        self._last_notified[fp] = t
        return True

    @staticmethod
    def _snapshot(rule: Rule, st: _State, resolved_at) -> dict:
        return {"rule": rule.name, "severity": rule.severity, "labels": rule.alert_labels, "message": st.message,
                "value": _json_float(st.value), "values": {k: _json_float(v) for k, v in st.values.items()},
                "pending_at": _iso(st.pending_at), "fired_at": _iso(st.fired_at), "resolved_at": _iso(resolved_at)}

    @staticmethod
    def _freeze(rule: Rule, st: _State, state: str, end) -> Alert:
        kept = {k: v for k, v in vars(st).items() if k not in ("duplicate", "cleared_at")}
        return Alert(rule.name, rule.severity, rule.alert_labels, state, resolved_at=end, **kept)

    def history(self) -> AlertHistory:
        """The alert history so far (alerts still firing or pending at the last window included)."""
        fired, pending = list(self._finished), list(self._cleared)
        for i, st in enumerate(self._states):
            if st is not None and st.fired_at is None:
                pending.append(self._freeze(self.rules[i], st, "pending", None))
            elif st is not None:
                fired.append((i, self._freeze(self.rules[i], st, "firing", None)))
        fired.sort(key=lambda item: (item[1].fired_at, item[0]))
        pending.sort(key=lambda a: a.pending_at)
        return AlertHistory(alerts=tuple(a for _, a in fired), pending_only=tuple(pending),
                            notifications=tuple(self._notifications),
                            rules=tuple(dict.fromkeys(r.name for r in self.rules)), windows=self._windows,
                            start=self._first, end=self._last)


def _signal_arrays(metrics, signals: Sequence[str]) -> tuple[pd.DatetimeIndex, dict]:
    """The metrics' window times (sorted) and one float array per signal, after clear checks."""
    func = "evaluate"
    check_frame(metrics, "metrics", func=func, min_rows=0, fix="build one row per window, e.g. df.resample('D').mean()")
    if not isinstance(metrics.index, pd.DatetimeIndex) or metrics.index.hasnans or metrics.index.has_duplicates:
        cols = [c for c in metrics.columns if str(c) in ("window", "window_start", "timestamp", "time")]
        got = f"<{type(metrics.index).__name__}{' with NaT or repeated times' if not metrics.index.is_unique or metrics.index.hasnans else ''}>"
        raise fail(func, "metrics.index", "unique window start times (a DatetimeIndex)", got,
                   f"use metrics.set_index({cols[0] if cols else '<the window-start column>'!r}); aggregate duplicates",
                   TypeError if not isinstance(metrics.index, pd.DatetimeIndex) else ValueError)
    check_columns(metrics, signals, "the rules' signals", func=func, frame="metrics")
    if not metrics.index.is_monotonic_increasing:
        log.info("metrics are not in time order: sorting them by their index")
        metrics = metrics.sort_index(kind="stable")
    try:
        return metrics.index, {s: metrics[s].to_numpy(dtype=float, na_value=np.nan) for s in signals}
    except (TypeError, ValueError):
        raise fail(func, "metrics", "numeric signal columns", metrics[list(signals)].dtypes.to_dict(),
                   "convert them with pd.to_numeric(...)", TypeError) from None


def evaluate(rules, metrics: pd.DataFrame, *, dedup: bool = True, send_resolved: bool = False,
             notifiers: Sequence = (), interval=None, lookback="5m") -> AlertHistory:
    """Run rules over a windowed-metrics frame, window by window, and return the alert history.

    ``metrics`` has one row per window, indexed by window start, one column per signal (NaN =
    unknown = condition not met). ``dedup`` and ``send_resolved`` are those of
    :class:`AlertEngine`. Each notification goes to every one of ``notifiers`` (objects
    with ``send()``); one that raises is logged and skipped, evaluation never stops.
    With ``interval``, rules are evaluated every ``interval`` as Prometheus does: each evaluation
    sees the latest window at most ``lookback`` old, none (absent: not met) when there is none.

    >>> days = pd.date_range("2012-01-01", periods=8, freq="D")
    >>> m = pd.DataFrame({"mae": [50, 30, 50, 30, 50, 50, 50, 30]}, index=days)
    >>> naive = Rule("ModelErrorHigh", "mae", ">", 40)
    >>> evaluate(naive, m).n_alerts, evaluate(naive.replace(for_="1D"), m).n_alerts
    (3, 1)
    >>> evaluate(naive.replace(cooldown="3D"), m).n_notifications
    2
    """
    engine = AlertEngine(rules, dedup=dedup, send_resolved=send_resolved)
    notifiers = (notifiers,) if hasattr(notifiers, "send") else tuple(notifiers or ())
    index, arrays = _signal_arrays(metrics, engine.signals)
    if interval is not None and len(index):
        grid = pd.date_range(index[0], index[-1], freq=check_duration(interval, "interval", func="evaluate",
                                                                    positive=True))
        pos = index.get_indexer(grid, method="ffill", tolerance=check_duration(lookback, "lookback", func="evaluate"))
        index, arrays = grid, {s: np.where(pos >= 0, a[pos], np.nan) for s, a in arrays.items()}
    for k, t in enumerate(index):
        for note in engine.step(t, {s: a[k] for s, a in arrays.items()}):
            for notifier in notifiers:
                try:
                    notifier.send(note)
                except Exception:  # a notifier must never stop the monitoring loop; nothing is lost silently
                    log.exception("notifier %r failed; continuing. LOST notification: %s", type(notifier).__name__,
                                  json.dumps(note.to_dict(), default=str))
    return engine.history()


def _incidents(incidents) -> list[tuple[str, Any]]:
    func = "detection_delay"
    if isinstance(incidents, pd.DataFrame):
        if "start" not in incidents.columns:
            raise fail(func, "incidents", "a DataFrame with a 'start' column (and optionally 'name')",
                       f"<columns {list(map(str, incidents.columns))}>", "rename the incident time column to 'start'")
        names = incidents.get("name", incidents.get("incident", pd.Series(incidents.index, index=incidents.index)))
        return list(zip(names.astype(str), incidents["start"]))
    if isinstance(incidents, pd.Series):
        return [(str(k), v) for k, v in incidents.items()]
    if isinstance(incidents, Mapping):
        return [(str(k), getattr(v, "start", v[0] if isinstance(v, (tuple, list)) else v)) for k, v in incidents.items()]
    if isinstance(incidents, Iterable) and not isinstance(incidents, (str, bytes)):
        return [(str(getattr(v, "summary", None) or f"incident {i}"), v.start) if hasattr(v, "start")
                else (str(pd.Timestamp(v)), v) for i, v in enumerate(incidents)]
    raise fail(func, "incidents", "a dict name -> start time, a list of start times or drift records, a Series "
               "or a DataFrame with a 'start' column", f"<{type(incidents).__name__}>",
               "pass e.g. {'Hurricane Sandy': '2012-10-29'}", TypeError)


def detection_delay(history, incidents, *, rules: Sequence[str] | None = None, max_delay=None,
                    at: str = "fired_at") -> pd.DataFrame:
    """Time to detect each incident: the first alert (of ``rules``, default any) at or after its start.

    ``incidents``: ``{"Hurricane Sandy": "2012-10-29"}``, a list of times or of
    :class:`labkit.simulate.DriftRecord`, a Series (index = name) or a DataFrame with ``start``.
    An alert later than ``start + max_delay`` does not count; ``at`` chooses which alert time
    counts ("fired_at", "notified_at" or "pending_at"). One row per incident: incident, start,
    detected, rule, detected_at, delay (NaT when not detected).

    >>> days = pd.date_range("2012-10-25", periods=8, freq="D")
    >>> m = pd.DataFrame({"missing_share": [0, 0, 0, 0, 0.6, 0.9, 0.1, 0]}, index=days)
    >>> h = evaluate(Rule("MissingValuesHigh", "missing_share", ">", 0.5, for_="1D"), m)
    >>> detection_delay(h, {"Hurricane Sandy": "2012-10-29"})[["incident", "detected", "delay"]]
              incident  detected  delay
    0  Hurricane Sandy      True 1 days
    """
    func = "detection_delay"
    check_choice(at, "at", ("fired_at", "notified_at", "pending_at"), func=func)
    if isinstance(history, AlertHistory):
        frame = history.to_frame()
    elif isinstance(history, pd.DataFrame) and {"rule", at} <= set(history.columns):
        frame = history
    else:
        raise fail(func, "history", f"an AlertHistory or its to_frame() (columns 'rule' and {at!r})",
                   f"<{type(history).__name__}>", "pass the result of evaluate(...)", TypeError)
    if rules is not None:
        frame = frame[frame["rule"].isin([rules] if isinstance(rules, str) else list(rules))]
    limit = None if max_delay is None else check_duration(max_delay, "max_delay", func=func)
    times = pd.to_datetime(frame[at])
    rows = []
    for name, start in _incidents(incidents):
        start = _time(start, f"incident {name!r} start", func)
        if len(times) and getattr(times.dt, "tz", None) is not None and start.tzinfo is None:
            start = start.tz_localize(times.dt.tz)
        ok = times.notna() & (times >= start) & ((times <= start + limit) if limit is not None else True)
        t = times[ok].min() if ok.any() else pd.NaT
        rule = frame.loc[times[ok].idxmin(), "rule"] if ok.any() else None
        rows.append({"incident": name, "start": start, "detected": bool(ok.any()), "rule": rule, "detected_at": t})
    result = pd.DataFrame(rows, columns=["incident", "start", "detected", "rule", "detected_at"])
    result["delay"] = pd.to_datetime(result["detected_at"]) - pd.to_datetime(result["start"])
    return result.sort_values("start", kind="stable").reset_index(drop=True)
