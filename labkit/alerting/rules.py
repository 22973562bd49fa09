"""Alerting: rules evaluated with Prometheus semantics, an alert history, and retraining triggers.

A :class:`Rule` watches one or more *signals*: columns of a windowed-metrics DataFrame whose
index is the window start time (``mae``, ``drift_temp``, ``missing_share``, ``latency_p95``,
...). :func:`evaluate` walks the windows in time order and runs each rule through the life cycle
Prometheus uses:

* **inactive** → **pending** the first window the condition holds (``pending_at``);
* **pending** → **firing** at the first window where the condition has held for at least
  ``for_`` (``window time - pending_at >= for_``; ``for_=0`` fires at once). With daily windows
  ``for_="2D"`` therefore needs *three* consecutive windows (day 0, 1 and 2), exactly as a
  Prometheus rule evaluated once a day would;
* **pending** → inactive when the condition stops holding before ``for_`` is reached (the alert
  never fired: it is kept in :attr:`AlertHistory.pending_only`, state ``"cleared"``);
* **firing** → **resolved** at the first window where the condition no longer holds.

``for_`` is measured in time between window starts, not counted in windows: a gap in the
windows counts as time passing, as it does for Prometheus.

A NaN (missing) signal value means *the condition is not met*, as a Prometheus expression over
an absent series returns nothing: a window without labels never fires an error rule, and a rule
that is firing resolves on a NaN window. ``all_of`` needs every condition met (any NaN → not
met); ``any_of`` needs one met condition (NaN conditions are simply not met).

What happens to a firing alert is decided next, as Alertmanager would:

* **deduplication** (``dedup=True``, the default): an alert is notified once per episode, not at
  every window it keeps firing; two rules producing the same alert (same name and labels) are
  notified once (the later one is marked ``suppressed_by="duplicate"``). ``dedup=False`` is the
  naive loop that sends a message at every firing window;
* **silences** (:class:`Silence`): while a matching silence is active the notification is held
  back (``suppressed_by="silence"``); if the alert is still firing when the silence ends, it is
  notified then;
* **cooldown** (``Rule(cooldown=...)``): no new notification for the same alert until
  ``cooldown`` has passed since its last one (``suppressed_by="cooldown"``); held back like a
  silence. Against flapping alerts, and with ``dedup=False`` it is a reminder interval;
* **grouping** (``group_by=("severity",)``, say): alerts notified at the same window that share
  the group labels travel in one :class:`Notification`.

Every alert carries the labels ``alertname`` (the rule name) and ``severity`` plus the rule's own.
Severities are the lecture's incident-response playbook (:data:`PLAYBOOK`): ``critical``,
``high``, ``medium``, ``low``.

The :class:`AlertHistory` lists every alert (pending, fired, resolved, value at firing,
notifications) for counting alerts before and after tuning; :func:`detection_delay` measures the
time to detect known incidents. :class:`AlertEngine` is the same machinery one window at a time,
for a live monitoring loop.

Retraining triggers (:class:`PerformanceTrigger`, :class:`DriftTrigger`, :class:`TimeTrigger`,
:class:`DataVolumeTrigger`) are combined with OR logic by :func:`decide`, whose
:class:`RetrainDecision` carries the reasons (which trigger, which value, which threshold).

Examples
--------
>>> import pandas as pd
>>> from labkit.alerting.rules import Rule, evaluate
>>> days = pd.date_range("2012-01-01", periods=6, freq="D")
>>> metrics = pd.DataFrame({"mae": [30, 45, 50, 52, 31, 30]}, index=days)
>>> rule = Rule("ModelErrorHigh", "mae", ">", 40, for_="1D", severity="high",
...             annotation="MAE is {value:.1f}, threshold {threshold}")
>>> history = evaluate([rule], metrics)
>>> a = history.alerts[0]
>>> str(a.pending_at.date()), str(a.fired_at.date()), str(a.resolved_at.date()), a.message
('2012-01-02', '2012-01-03', '2012-01-05', 'MAE is 50.0, threshold 40')
"""
from __future__ import annotations

import collections
import difflib
import hashlib
import json
import logging
import math
import numbers
import operator
import re
import string
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

__all__ = [
    "SEVERITIES",
    "PLAYBOOK",
    "RESPONSE_STEPS",
    "OPS",
    "Condition",
    "Rule",
    "Silence",
    "Alert",
    "Notification",
    "AlertHistory",
    "AlertEngine",
    "evaluate",
    "detection_delay",
    "PerformanceTrigger",
    "DriftTrigger",
    "TimeTrigger",
    "DataVolumeTrigger",
    "TriggerResult",
    "RetrainDecision",
    "decide",
    "trigger_timeline",
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
_RESERVED_LABELS = ("alertname", "severity")
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


# ---------------------------------------------------------------------------------------------
# validation helpers (private)
# ---------------------------------------------------------------------------------------------
def _fail(argument: str, expected: str, got, fix: str, exc: type[Exception] = ValueError) -> Exception:
    """Build (not raise) an error in the house format: argument, expected, got, fix."""
    shown = got if isinstance(got, str) and got.startswith("<") else repr(got)
    return exc(f"{argument}: expected {expected}, got {shown}. Fix: {fix}")


def _as_number(value, argument: str, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(argument, "a finite number", value, fix, TypeError)
    if not math.isfinite(float(value)):
        raise _fail(argument, "a finite number", value, fix)
    return float(value)


def _as_duration(value, argument: str) -> pd.Timedelta:
    """A non-negative duration from '10m', '3h', '2D', a Timedelta/timedelta, a fixed offset or 0/None."""
    if value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool) and value == 0):
        return pd.Timedelta(0)
    if isinstance(value, bool) or isinstance(value, numbers.Real):
        raise _fail(argument, "a duration with a unit such as '10min', '3h' or '2D'", value,
                    f"give the unit, e.g. {argument}='{value}h' or {argument}=pd.Timedelta(hours={value})", TypeError)
    try:
        td = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise _fail(argument, "a duration such as '10min', '3h', '2D' or pd.Timedelta(days=1)", value,
                    f"pass a fixed duration (months and years vary in length and are refused; {exc})") from None
    if pd.isna(td) or td < pd.Timedelta(0):
        raise _fail(argument, "a duration >= 0", value, "pass e.g. '0s', '30min' or '1D'")
    return td


def _as_timestamp(value, argument: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise _fail(argument, "a date/time such as '2012-06-01' or pd.Timestamp('2012-06-01 07:00')", value,
                    f"pass a parseable time ({exc})") from None
    if pd.isna(ts):
        raise _fail(argument, "a date/time", value, "pass a time such as '2012-06-01'")
    return ts


def _align_tz(ts: pd.Timestamp, tz, argument: str) -> pd.Timestamp:
    """Give ``ts`` the time zone of the metrics (naive stays naive)."""
    if tz is not None and ts.tzinfo is None:
        return ts.tz_localize(tz)
    if tz is None and ts.tzinfo is not None:
        raise _fail(argument, "a timezone-naive time (the metrics' index is naive)", str(ts),
                    "drop the timezone, e.g. pd.Timestamp(...).tz_localize(None)")
    return ts


def _check_label_name(name, argument: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _fail(argument, "a label name of letters, digits and underscores, not starting with a digit",
                    name, "rename it, e.g. 'team' or 'feature'")
    return name


def _check_labels(labels, argument: str, *, reserved: bool) -> dict:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise _fail(argument, "a mapping of label name to string value", f"<{type(labels).__name__}>",
                    "pass e.g. {'team': 'ml', 'feature': 'temp'}", TypeError)
    out = {}
    for key, value in labels.items():
        _check_label_name(key, f"{argument} key")
        if reserved and key in _RESERVED_LABELS:
            raise _fail(f"{argument} key", "a label other than 'alertname' and 'severity' (set from the rule)",
                        key, "use Rule(name=...) and Rule(severity=...) instead")
        if not isinstance(value, str):
            raise _fail(f"{argument}[{key!r}]", "a string value", value,
                        f"pass str(value), e.g. {key!r}: {str(value)!r}", TypeError)
        out[key] = value
    return out


def _plain_number(x: float):
    """40.0 → 40 (so a template's ``{threshold}`` reads as the user wrote it); other floats unchanged."""
    return int(x) if float(x).is_integer() and abs(x) < 1e15 else x


def _iso(ts) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).isoformat()


def _json_float(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# ---------------------------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """One comparison of a signal with a threshold, e.g. ``mae > 40``.

    Parameters
    ----------
    signal : str
        Column of the windowed-metrics frame.
    op : {">", ">=", "<", "<="}
        The comparison.
    threshold : float

    Examples
    --------
    >>> c = Condition("mae", ">", 40)
    >>> str(c), c.holds(41.0), c.holds(40.0), c.holds(float("nan"))
    ('mae > 40', True, False, False)
    """

    signal: str
    op: str
    threshold: float

    def __post_init__(self):
        if not isinstance(self.signal, str) or not self.signal:
            raise _fail("signal", "a column name of the metrics frame (a non-empty string)", self.signal,
                        "pass e.g. 'mae' or 'drift_temp'", TypeError)
        if self.op not in OPS:
            raise _fail("op", f"one of {list(OPS)}", self.op,
                        "pass e.g. '>' (fire when the signal is above the threshold)")
        fix = f"pass a number, e.g. Condition({self.signal!r}, {self.op!r}, 0.2)"
        object.__setattr__(self, "threshold", _as_number(self.threshold, "threshold", fix))

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
    raise _fail(argument, "Condition(signal, op, threshold) or a (signal, op, threshold) tuple", obj,
                "write e.g. ('drift_temp', '>', 0.2)", TypeError)


@dataclass(frozen=True, init=False)
class Rule:
    """An alerting rule: a condition over signals, a ``for`` duration, a severity and labels.

    Parameters
    ----------
    name : str
        The alert's name (``alertname`` label), letters/digits/underscores, e.g. ``"ModelErrorHigh"``.
    signal, op, threshold : str, {">", ">=", "<", "<="}, float
        A single condition: fire when ``metrics[signal] <op> threshold``.
    all_of, any_of : sequence of Condition or (signal, op, threshold) tuples, keyword-only
        A multi-signal rule instead: every condition (``all_of``, e.g. drift AND error up) or at
        least one (``any_of``) must hold. Give exactly one of signal/op/threshold, all_of, any_of.
    for_ : duration, default 0
        How long the condition must hold before the alert fires ('30min', '3h', '2D',
        ``pd.Timedelta``). Measured between window start times, as Prometheus measures it.
    severity : {"critical", "high", "medium", "low"}, default "medium"
        See :data:`PLAYBOOK`.
    labels : dict of str to str, optional
        Extra labels (``team``, ``feature``, ...), used by grouping and silences.
    annotation : str, optional
        A ``str.format`` template rendered when the alert fires. Fields: ``value`` and
        ``threshold`` (of the first condition that holds), ``signal``, ``op``, ``rule``,
        ``severity``, every label, and every signal name of the rule (its value), e.g.
        ``"MAE is {value:.1f}, threshold {threshold}"`` or ``"drift {drift_temp:.2f}, MAE {mae:.0f}"``.
    summary : str, optional
        A fixed one-line title (exported as the Prometheus ``summary`` annotation).
    cooldown : duration, default 0
        Minimum time between two notifications of this alert (see the module notes).

    Examples
    --------
    >>> r = Rule("DriftWithErrorUp", all_of=[("drift_temp", ">", 0.2), ("mae", ">", 40)],
    ...          for_="2D", severity="high")
    >>> r.signals, r.match, str(r.for_)
    (('drift_temp', 'mae'), 'all', '2 days 00:00:00')
    >>> r.check({"drift_temp": 0.3, "mae": 55.0})[0], r.check({"drift_temp": 0.3, "mae": float("nan")})[0]
    (True, False)
    >>> r.replace(for_=0).for_
    Timedelta('0 days 00:00:00')
    """

    name: str
    conditions: tuple[Condition, ...]
    match: str
    for_: pd.Timedelta
    severity: str
    labels: dict
    annotation: str
    summary: str
    cooldown: pd.Timedelta

    def __init__(self, name: str, signal: str | None = None, op: str | None = None, threshold: float | None = None,
                 *, all_of: Sequence | None = None, any_of: Sequence | None = None, for_=0,
                 severity: str = "medium", labels: Mapping[str, str] | None = None, annotation: str | None = None,
                 summary: str = "", cooldown=0):
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise _fail("name", "an alert name of letters, digits and underscores (Prometheus style)", name,
                        "use CamelCase, e.g. 'ModelErrorHigh'", TypeError if not isinstance(name, str) else ValueError)
        single = any(x is not None for x in (signal, op, threshold))
        forms = [f for f, given in (("signal/op/threshold", single), ("all_of", all_of is not None),
                                    ("any_of", any_of is not None)) if given]
        if len(forms) != 1:
            raise _fail(f"Rule({name!r})", "exactly one of signal/op/threshold, all_of=[...] or any_of=[...]",
                        f"<{' and '.join(forms) or 'none of them'}>",
                        "e.g. Rule('ModelErrorHigh', 'mae', '>', 40) or "
                        "Rule('DriftWithErrorUp', all_of=[('drift_temp', '>', 0.2), ('mae', '>', 40)])")
        if single:
            if signal is None or op is None or threshold is None:
                raise _fail(f"Rule({name!r})", "signal, op and threshold together", (signal, op, threshold),
                            f"e.g. Rule({name!r}, 'mae', '>', 40)")
            conditions, match = (Condition(signal, op, threshold),), "all"
        else:
            match = "all" if all_of is not None else "any"
            raw = all_of if all_of is not None else any_of
            if isinstance(raw, (str, Condition)) or not isinstance(raw, Iterable):
                raise _fail(f"{match}_of", "a list of conditions", raw,
                            "wrap it in a list: [('mae', '>', 40), ('drift_temp', '>', 0.2)]", TypeError)
            conditions = tuple(_as_condition(c, f"{match}_of[{i}]") for i, c in enumerate(raw))
            if not conditions:
                raise _fail(f"{match}_of", "at least one condition", [], "add a condition such as ('mae', '>', 40)")
        if severity not in SEVERITIES:
            raise _fail("severity", f"one of {list(SEVERITIES)} (the incident-response playbook)", severity,
                        "map 'warning' to 'medium' and 'error' to 'high'; see labkit.alerting.rules.PLAYBOOK")
        labels = _check_labels(labels, "labels", reserved=True)
        if annotation is None:
            annotation = "{rule}: " + (" and " if match == "all" else " or ").join(str(c) for c in conditions) \
                + " (value {value:.4g})"
        if not isinstance(annotation, str) or not isinstance(summary, str):
            raise _fail("annotation/summary", "strings", (annotation, summary), "pass text templates", TypeError)
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "conditions", conditions)
        set_(self, "match", match)
        set_(self, "for_", _as_duration(for_, "for_"))
        set_(self, "severity", severity)
        set_(self, "labels", labels)
        set_(self, "annotation", annotation)
        set_(self, "summary", summary)
        set_(self, "cooldown", _as_duration(cooldown, "cooldown"))
        self._check_template()

    # -- derived ------------------------------------------------------------------------------
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
                     tuple(sorted(self.labels.items())), self.annotation, self.summary, self.cooldown))

    def __str__(self) -> str:
        joiner = " and " if self.match == "all" else " or "
        extra = f" for {self.for_}" if self.for_ > pd.Timedelta(0) else ""
        return f"{self.name} [{self.severity}]: {joiner.join(str(c) for c in self.conditions)}{extra}"

    # -- behaviour ----------------------------------------------------------------------------
    def check(self, values: Mapping[str, float]) -> tuple[bool, dict, int]:
        """Evaluate the condition on one window.

        Returns
        -------
        (met, values, primary) : bool, dict, int
            Whether it holds, the rule's signal values as floats (NaN when missing), and the
            index of the condition reported as ``value``/``threshold`` (the first that holds).
        """
        vals = {}
        for s in self.signals:
            try:
                vals[s] = float(values[s])
            except KeyError:
                raise _fail(f"rule {self.name!r}", f"a value for signal {s!r}", f"<keys {sorted(values)}>",
                            f"add a {s!r} column to the metrics or change the rule's signal") from None
            except (TypeError, ValueError):
                vals[s] = math.nan
        met = [c.holds(vals[c.signal]) for c in self.conditions]
        ok = all(met) if self.match == "all" else any(met)
        primary = met.index(True) if (ok and self.match == "any") else 0
        return ok, vals, primary

    def _context(self, values: Mapping[str, float], primary: int = 0) -> dict:
        cond = self.conditions[primary]
        ctx = {**self.labels, **{s: values.get(s, math.nan) for s in self.signals}}
        ctx.update(value=values.get(cond.signal, math.nan), threshold=_plain_number(cond.threshold), signal=cond.signal,
                   op=cond.op, rule=self.name, severity=self.severity)
        return ctx

    def render(self, values: Mapping[str, float], primary: int = 0) -> str:
        """The annotation filled in with ``values`` (a mapping signal → value)."""
        return self.annotation.format(**self._context(values, primary))

    def _check_template(self) -> None:
        allowed = sorted(self._context({s: 1.0 for s in self.signals}))
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.annotation) if f is not None]
        except ValueError as exc:
            raise _fail("annotation", "a str.format template", self.annotation,
                        f"balance the braces; write {{{{ and }}}} for literal braces ({exc})") from None
        for f in fields:
            base = re.split(r"[.\[]", f, maxsplit=1)[0]
            if base == "" or base.isdigit():
                raise _fail("annotation", "named fields only", self.annotation,
                            f"name the field, one of {allowed}")
            if base not in allowed:
                raise _fail("annotation", f"fields among {allowed}", f"<field {{{base}}} in {self.annotation!r}>",
                            "use {value} for the signal's value, or add the label to labels=")
        try:
            self.render({s: 1.0 for s in self.signals})
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise _fail("annotation", "a template that formats floats", self.annotation,
                        f"values are floats: use specs such as {{value:.1f}} or {{value:.0%}} ({exc})") from None

    def replace(self, **changes) -> "Rule":
        """A copy with some arguments changed, e.g. ``rule.replace(for_="2D", cooldown="3D")``."""
        kwargs: dict[str, Any] = dict(name=self.name, for_=self.for_, severity=self.severity, labels=self.labels,
                                      annotation=self.annotation, summary=self.summary, cooldown=self.cooldown)
        form_keys = {"signal", "op", "threshold", "all_of", "any_of"}
        if not form_keys & changes.keys():
            if len(self.conditions) == 1 and self.match == "all":
                c = self.conditions[0]
                kwargs.update(signal=c.signal, op=c.op, threshold=c.threshold)
            else:
                kwargs[f"{self.match}_of"] = self.conditions
        elif {"signal", "op", "threshold"} & changes.keys() and len(self.conditions) == 1:
            c = self.conditions[0]
            kwargs.update(signal=c.signal, op=c.op, threshold=c.threshold)
        kwargs.update(changes)
        return Rule(**kwargs)


def _fingerprint(labels: Mapping[str, str]) -> str:
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _as_rules(rules) -> tuple[Rule, ...]:
    if isinstance(rules, Rule):
        return (rules,)
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
        raise _fail("rules", "a Rule or a list of Rule", f"<{type(rules).__name__}>",
                    "pass e.g. [Rule('ModelErrorHigh', 'mae', '>', 40)]", TypeError)
    out = tuple(rules)
    for i, r in enumerate(out):
        if not isinstance(r, Rule):
            raise _fail(f"rules[{i}]", "a labkit.alerting.rules.Rule", f"<{type(r).__name__} {r!r}>",
                        "build it with Rule(name, signal, op, threshold, ...)", TypeError)
    return out


@dataclass(frozen=True)
class Silence:
    """Mute notifications of matching alerts between ``start`` (inclusive) and ``end`` (exclusive).

    Parameters
    ----------
    start, end : datetime-like
    matchers : dict of str to str, optional
        Label equalities an alert must all satisfy (``alertname`` and ``severity`` included),
        e.g. ``{"alertname": "FeatureDriftHigh"}`` or ``{"severity": "low"}``. Empty: every alert
        (a maintenance window).
    comment : str, optional
        Why (who silenced what, a ticket number).

    Examples
    --------
    >>> s = Silence("2012-10-29", "2012-11-01", {"severity": "low"}, comment="Hurricane Sandy")
    >>> s.matches({"alertname": "StaleFeature", "severity": "low"}, "2012-10-30")
    True
    >>> s.matches({"alertname": "StaleFeature", "severity": "low"}, "2012-11-01")
    False
    """

    start: pd.Timestamp
    end: pd.Timestamp
    matchers: dict = field(default_factory=dict)
    comment: str = ""

    def __post_init__(self):
        start, end = _as_timestamp(self.start, "Silence start"), _as_timestamp(self.end, "Silence end")
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise _fail("Silence start/end", "both naive or both timezone-aware", (str(start), str(end)),
                        "give both the same kind of time")
        if end <= start:
            raise _fail("Silence end", f"a time after start ({start})", str(end), "swap start and end")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "matchers", _check_labels(self.matchers, "matchers", reserved=False))

    def __hash__(self):
        return hash((self.start, self.end, tuple(sorted(self.matchers.items())), self.comment))

    def active(self, time) -> bool:
        """Is the silence in force at ``time``?"""
        t = _align_tz(pd.Timestamp(time), self.start.tzinfo, "time") if self.start.tzinfo else pd.Timestamp(time)
        return bool(self.start <= t < self.end)

    def matches(self, labels: Mapping[str, str], time) -> bool:
        """Does the silence mute an alert with ``labels`` at ``time``?"""
        return self.active(time) and all(labels.get(k) == v for k, v in self.matchers.items())


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    """One alert episode: from pending through firing to resolved.

    Attributes
    ----------
    rule, severity : str
    labels : dict
        ``alertname``, ``severity`` and the rule's labels.
    state : str
        ``"resolved"``, ``"firing"`` (still firing at the last window), ``"pending"`` (still
        pending at the last window) or ``"cleared"`` (stopped holding before ``for_``: never fired).
    pending_at : Timestamp
        First window of the episode (Prometheus' ``activeAt``).
    fired_at, resolved_at : Timestamp or None
        When it fired / resolved (for ``"cleared"``: the window it cleared).
    value : float
        The reported signal's value when it fired (NaN if it never fired).
    values : dict
        Every signal of the rule when it fired.
    message : str
        The annotation rendered when it fired.
    notified_at : Timestamp or None
        First notification (None: never notified).
    notifications : int
        Notifications that carried this alert (firing, reminders, resolved).
    suppressed_by : str or None
        Last reason a notification was held back: ``"silence"``, ``"cooldown"`` or
        ``"duplicate"`` (notified later if ``notified_at`` is set).
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
        """Time firing (``resolved_at - fired_at``), None while still firing or never fired."""
        if self.fired_at is None or self.resolved_at is None:
            return None
        return self.resolved_at - self.fired_at

    def to_dict(self) -> dict:
        """A JSON-friendly dict (times as ISO strings, NaN as None)."""
        return {
            "rule": self.rule, "severity": self.severity, "labels": dict(self.labels), "state": self.state,
            "pending_at": _iso(self.pending_at), "fired_at": _iso(self.fired_at),
            "resolved_at": _iso(self.resolved_at), "value": _json_float(self.value),
            "values": {k: _json_float(v) for k, v in self.values.items()}, "message": self.message,
            "notified_at": _iso(self.notified_at), "notifications": self.notifications,
            "suppressed_by": self.suppressed_by,
        }


@dataclass(frozen=True)
class Notification:
    """One message to send: one or more alerts of the same group, firing or resolved.

    Attributes
    ----------
    time : Timestamp
        The window that produced it.
    status : {"firing", "resolved"}
    severity : str
        The most severe of its alerts.
    group_labels : dict
        The labels its alerts share (the group key).
    alerts : tuple of dict
        Each alert as :meth:`Alert.to_dict`-style dict (``rule``, ``severity``, ``labels``,
        ``message``, ``value``, ``values``, ``pending_at``, ``fired_at``, ``resolved_at``).

    Examples
    --------
    >>> n = Notification.from_message("MAE is 55.0, threshold 40", severity="high", rule="ModelErrorHigh",
    ...                               time="2012-03-01")
    >>> n.title
    '[FIRING] ModelErrorHigh (high)'
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
        if severity not in SEVERITIES:
            raise _fail("severity", f"one of {list(SEVERITIES)}", severity, "see labkit.alerting.rules.PLAYBOOK")
        if status not in ("firing", "resolved"):
            raise _fail("status", "'firing' or 'resolved'", status, "pass status='firing'")
        t = pd.Timestamp.now(tz="UTC").floor("s") if time is None else _as_timestamp(time, "time")
        full = {"alertname": rule, "severity": severity, **_check_labels(labels, "labels", reserved=True)}
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
    """What :func:`evaluate` returns: the alerts that fired, the notifications sent, and more.

    Attributes
    ----------
    alerts : tuple of Alert
        Every episode that reached *firing*, in firing order. ``len(history)`` counts them.
    pending_only : tuple of Alert
        Episodes that went pending but never fired (``for_`` filtered them out).
    notifications : tuple of Notification
        The messages, after deduplication, silences, cooldown and grouping.
    rules : tuple of str
        Names of the rules evaluated (including those that never fired).
    windows : int
        Number of windows evaluated.
    start, end : Timestamp or None
        First and last window.
    """

    alerts: tuple[Alert, ...]
    pending_only: tuple[Alert, ...]
    notifications: tuple[Notification, ...]
    rules: tuple[str, ...]
    windows: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None

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

    _COLUMNS: ClassVar[tuple[str, ...]] = (
        "rule", "severity", "state", "pending_at", "fired_at", "resolved_at", "duration", "value",
        "message", "notified_at", "notifications", "suppressed_by", "labels")

    def to_frame(self, *, include_pending: bool = False) -> pd.DataFrame:
        """One row per alert (tidy): rule, severity, state, pending_at, fired_at, resolved_at,
        duration, value, message, notified_at, notifications, suppressed_by, labels."""
        rows = list(self.alerts) + (list(self.pending_only) if include_pending else [])
        frame = pd.DataFrame([{**{c: getattr(a, c) for c in self._COLUMNS if c != "duration"},
                               "duration": a.duration} for a in rows], columns=list(self._COLUMNS))
        for col in ("pending_at", "fired_at", "resolved_at", "notified_at"):
            frame[col] = pd.to_datetime(frame[col])
        frame["duration"] = pd.to_timedelta(frame["duration"])
        frame["value"] = frame["value"].astype(float)
        frame["notifications"] = frame["notifications"].astype(int)
        return frame

    def notifications_frame(self) -> pd.DataFrame:
        """One row per notification: time, status, severity, n_alerts, rules, title, group_key."""
        rows = [{"time": n.time, "status": n.status, "severity": n.severity, "n_alerts": len(n.alerts),
                 "rules": ", ".join(n.rules), "title": n.title, "group_key": n.group_key} for n in self.notifications]
        frame = pd.DataFrame(rows, columns=["time", "status", "severity", "n_alerts", "rules", "title", "group_key"])
        frame["time"] = pd.to_datetime(frame["time"])
        return frame

    def summary(self) -> pd.DataFrame:
        """Per rule: alerts fired, notifications, alerts never notified, pending-only episodes,
        first firing time. Rules that never fired are listed with zeros."""
        rows = []
        for name in self.rules:
            mine = [a for a in self.alerts if a.rule == name]
            rows.append({
                "rule": name,
                "alerts": len(mine),
                "notifications": sum(a.notifications for a in mine),
                "never_notified": sum(a.notified_at is None for a in mine),
                "pending_only": sum(a.rule == name for a in self.pending_only),
                "first_fired_at": min((a.fired_at for a in mine), default=pd.NaT),
            })
        frame = pd.DataFrame(rows, columns=["rule", "alerts", "notifications", "never_notified", "pending_only",
                                            "first_fired_at"]).set_index("rule")
        frame["first_fired_at"] = pd.to_datetime(frame["first_fired_at"])
        return frame

    def active(self, time) -> tuple[Alert, ...]:
        """Alerts firing at ``time`` (fired at or before it, not yet resolved)."""
        t = pd.Timestamp(time)
        return tuple(a for a in self.alerts
                     if a.fired_at is not None and a.fired_at <= t and (a.resolved_at is None or t < a.resolved_at))


# ---------------------------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------------------------
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


class AlertEngine:
    """Evaluate rules one window at a time (what :func:`evaluate` runs over a whole frame).

    Use it in a live monitoring loop: call :meth:`step` with each new window's metrics and send
    the notifications it returns; :meth:`history` gives the alert history so far.

    Parameters
    ----------
    rules : Rule or sequence of Rule
    silences : sequence of Silence, optional
    group_by : sequence of str or None, default None
        Labels whose values form the group of a notification. None: every alert on its own.
    dedup : bool, default True
        Notify once per alert episode (False: at every window it is firing).
    send_resolved : bool, default False
        Also send a ``"resolved"`` notification when a notified alert resolves.

    Examples
    --------
    >>> engine = AlertEngine([Rule("LatencyHigh", "latency_p95", ">", 0.5, severity="high")])
    >>> [n.title for n in engine.step("2012-01-01 00:00", {"latency_p95": 0.7})]
    ['[FIRING] LatencyHigh (high)']
    >>> engine.step("2012-01-01 01:00", {"latency_p95": 0.9})  # still firing: deduplicated
    []
    """

    def __init__(self, rules, *, silences: Sequence[Silence] = (), group_by: Sequence[str] | None = None,
                 dedup: bool = True, send_resolved: bool = False):
        self.rules = _as_rules(rules)
        if isinstance(silences, Silence):
            silences = (silences,)
        self.silences = tuple(silences)
        for i, s in enumerate(self.silences):
            if not isinstance(s, Silence):
                raise _fail(f"silences[{i}]", "a labkit.alerting.rules.Silence", f"<{type(s).__name__}>",
                            "build it with Silence(start, end, {'alertname': ...})", TypeError)
        if isinstance(group_by, str):
            group_by = (group_by,)
        self.group_by = None if group_by is None else tuple(_check_label_name(g, "group_by") for g in group_by)
        self.dedup = bool(dedup)
        self.send_resolved = bool(send_resolved)
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

    def step(self, time, values: Mapping[str, float]) -> list[Notification]:
        """Evaluate every rule on one window; return the notifications it triggers.

        Parameters
        ----------
        time : datetime-like
            The window's start; must increase from call to call.
        values : mapping
            Signal name → value (a dict, or a row of the metrics frame). NaN = condition not met.
        """
        t = _as_timestamp(time, "time")
        if self._last is not None:
            if (t.tzinfo is None) != (self._last.tzinfo is None):
                raise _fail("time", "the same time-zone kind as earlier windows", str(t),
                            "keep all windows naive or all aware")
            if t <= self._last:
                raise _fail("time", f"a window after the previous one ({self._last})", str(t),
                            "feed windows in increasing time order (sort the frame by its index)")
        else:
            for s in self.silences:
                if (s.start.tzinfo is None) != (t.tzinfo is None):
                    raise _fail("Silence start/end", "the same time-zone kind as the metrics' windows",
                                str(s.start), "localize or drop the timezone so both match")
            self._first = t
        self._last = t
        self._windows += 1
        missing = [s for s in self.signals if s not in values]
        if missing:
            raise _fail("values", f"a value for every signal the rules read {list(self.signals)}",
                        f"<keys {sorted(map(str, values.keys()))}>", f"add {missing} (NaN when unknown)")

        resolved: list[tuple[int, _State]] = []
        for i, rule in enumerate(self.rules):
            ok, vals, primary = rule.check(values)
            st = self._states[i]
            if ok:
                if st is None:
                    st = self._states[i] = _State(pending_at=t)
                if st.fired_at is None and t - st.pending_at >= rule.for_:
                    st.fired_at, st.values = t, vals
                    st.value = vals[rule.conditions[primary].signal]
                    st.message = rule.render(vals, primary)
                    log.debug("alert %s fired at %s (value %s)", rule.name, t, st.value)
            elif st is not None:
                self._states[i] = None
                if st.fired_at is None:
                    self._cleared.append(self._freeze(rule, st, "cleared", t))
                else:
                    resolved.append((i, st))
                    if st.notified_at is not None and not st.duplicate:
                        self._active_notified[rule.fingerprint] -= 1

        groups: dict[tuple, list] = {}
        # resolved notifications first, then firing ones
        for i, st in resolved:
            rule = self.rules[i]
            if self.send_resolved and st.notified_at is not None and not self._silenced(rule, t):
                st.notifications += 1
                self._add(groups, "resolved", rule, self._snapshot(rule, st, t))
            self._finished.append((i, self._freeze(rule, st, "resolved", t)))
        for i, rule in enumerate(self.rules):
            st = self._states[i]
            if st is None or st.fired_at is None or st.duplicate:
                continue
            if self.dedup and st.notified_at is not None:
                continue
            fp = rule.fingerprint
            if self.dedup and st.notified_at is None and self._active_notified[fp] > 0:
                st.duplicate, st.suppressed_by = True, "duplicate"
                continue
            if self._silenced(rule, t):
                st.suppressed_by = "silence"
                continue
            last = self._last_notified.get(fp)
            if rule.cooldown > pd.Timedelta(0) and last is not None and t - last < rule.cooldown:
                st.suppressed_by = "cooldown"
                continue
            if st.notified_at is None:
                st.notified_at = t
                self._active_notified[fp] += 1
            st.notifications += 1
            self._last_notified[fp] = t
            self._add(groups, "firing", rule, self._snapshot(rule, st, None))

        out = []
        for (status, key), items in groups.items():
            severity = min((r.severity for r, _ in items), key=_SEVERITY_RANK.__getitem__)
            out.append(Notification(time=t, status=status, severity=severity, group_labels=dict(key),
                                    alerts=tuple(a for _, a in items)))
        self._notifications.extend(out)
        return out

    def _silenced(self, rule: Rule, t: pd.Timestamp) -> bool:
        labels = rule.alert_labels
        return any(s.matches(labels, t) for s in self.silences)

    def _add(self, groups: dict, status: str, rule: Rule, snapshot: dict) -> None:
        labels = rule.alert_labels
        if self.group_by is None:
            key = tuple(sorted(labels.items()))
        else:
            key = tuple((g, labels.get(g, "")) for g in self.group_by)
        groups.setdefault((status, key), []).append((rule, snapshot))

    @staticmethod
    def _snapshot(rule: Rule, st: _State, resolved_at) -> dict:
        return {"rule": rule.name, "severity": rule.severity, "labels": rule.alert_labels, "message": st.message,
                "value": _json_float(st.value), "values": {k: _json_float(v) for k, v in st.values.items()},
                "pending_at": _iso(st.pending_at), "fired_at": _iso(st.fired_at), "resolved_at": _iso(resolved_at)}

    @staticmethod
    def _freeze(rule: Rule, st: _State, state: str, end) -> Alert:
        return Alert(rule=rule.name, severity=rule.severity, labels=rule.alert_labels, state=state,
                     pending_at=st.pending_at, fired_at=st.fired_at, resolved_at=end, value=st.value,
                     values=dict(st.values), message=st.message, notified_at=st.notified_at,
                     notifications=st.notifications, suppressed_by=st.suppressed_by)

    def history(self) -> AlertHistory:
        """The alert history so far (alerts still firing or pending at the last window included)."""
        fired = list(self._finished)
        pending = list(self._cleared)
        for i, st in enumerate(self._states):
            if st is None:
                continue
            if st.fired_at is None:
                pending.append(self._freeze(self.rules[i], st, "pending", None))
            else:
                fired.append((i, self._freeze(self.rules[i], st, "firing", None)))
        fired.sort(key=lambda item: (item[1].fired_at, item[0]))
        pending.sort(key=lambda a: a.pending_at)
        return AlertHistory(alerts=tuple(a for _, a in fired), pending_only=tuple(pending),
                            notifications=tuple(self._notifications),
                            rules=tuple(dict.fromkeys(r.name for r in self.rules)), windows=self._windows,
                            start=self._first, end=self._last)


def _metrics_arrays(metrics, signals: Sequence[str], rules: Sequence[Rule]) -> tuple[pd.DatetimeIndex, dict]:
    if not isinstance(metrics, pd.DataFrame):
        raise _fail("metrics", "a pandas DataFrame of windowed metrics indexed by window start time",
                    f"<{type(metrics).__name__}>", "build one row per window, e.g. df.resample('D').mean()", TypeError)
    if not isinstance(metrics.index, pd.DatetimeIndex):
        time_cols = [c for c in metrics.columns if str(c) in ("window", "window_start", "timestamp", "time")]
        hint = f"metrics.set_index({time_cols[0]!r})" if time_cols else "metrics.set_index(<the window-start column>)"
        raise _fail("metrics.index", "a DatetimeIndex of window start times", f"<{type(metrics.index).__name__}>",
                    f"use {hint}", TypeError)
    if metrics.index.hasnans:
        raise _fail("metrics.index", "window start times without NaT", "<an index containing NaT>",
                    "drop the rows without a time")
    if metrics.index.has_duplicates:
        dup = metrics.index[metrics.index.duplicated()][0]
        raise _fail("metrics.index", "one row per window (unique times)", f"<{dup} appears more than once>",
                    "aggregate duplicates first, e.g. metrics.groupby(level=0).mean()")
    for rule in rules:
        for s in rule.signals:
            if s not in metrics.columns:
                cols = [str(c) for c in metrics.columns]
                near = difflib.get_close_matches(s, cols, n=3, cutoff=0.5)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise _fail(f"rule {rule.name!r} signal", f"a column of the metrics frame, one of {cols}", s,
                            f"{hint}rename the rule's signal or add the column to the metrics")
    if not metrics.index.is_monotonic_increasing:
        log.info("metrics are not in time order: sorting them by their index")
        metrics = metrics.sort_index(kind="stable")
    arrays = {}
    for s in signals:
        col = metrics.loc[:, [s]]
        if col.shape[1] != 1:
            raise _fail(f"metrics[{s!r}]", "one column of that name", f"<{col.shape[1]} columns>",
                        "give the columns unique names")
        try:
            arrays[s] = col.iloc[:, 0].to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise _fail(f"metrics[{s!r}]", "numbers (a signal is compared with a threshold)",
                        f"<dtype {col.iloc[:, 0].dtype}>", "convert the column with pd.to_numeric(...)",
                        TypeError) from None
    return metrics.index, arrays


def evaluate(rules, metrics: pd.DataFrame, *, silences: Sequence[Silence] = (),
             group_by: Sequence[str] | None = None, dedup: bool = True, send_resolved: bool = False,
             notifiers: Sequence = ()) -> AlertHistory:
    """Run rules over a windowed-metrics frame, window by window, and return the alert history.

    Parameters
    ----------
    rules : Rule or sequence of Rule
    metrics : DataFrame
        One row per window, indexed by window start time (a DatetimeIndex, sorted here if it is
        not); one column per signal (NaN = unknown = condition not met).
    silences, group_by, dedup, send_resolved
        See :class:`AlertEngine` and the module notes.
    notifiers : sequence, optional
        Objects with a ``send(notification)`` method (:mod:`labkit.alerting.notifiers`), called with every
        notification as it happens. A notifier that raises is logged and skipped: evaluation
        never stops because of a notifier.

    Returns
    -------
    AlertHistory

    Examples
    --------
    >>> import pandas as pd
    >>> days = pd.date_range("2012-01-01", periods=8, freq="D")
    >>> m = pd.DataFrame({"mae": [50, 30, 50, 30, 50, 50, 50, 30]}, index=days)
    >>> naive = Rule("ModelErrorHigh", "mae", ">", 40)
    >>> evaluate(naive, m).n_alerts, evaluate(naive.replace(for_="1D"), m).n_alerts
    (3, 1)
    >>> evaluate(naive.replace(cooldown="3D"), m).n_notifications
    2
    """
    engine = AlertEngine(rules, silences=silences, group_by=group_by, dedup=dedup, send_resolved=send_resolved)
    if notifiers is not None and hasattr(notifiers, "send"):
        notifiers = (notifiers,)
    index, arrays = _metrics_arrays(metrics, engine.signals, engine.rules)
    signals = engine.signals
    for k, t in enumerate(index):
        for note in engine.step(t, {s: arrays[s][k] for s in signals}):
            for notifier in notifiers or ():
                try:
                    notifier.send(note)
                except Exception:  # a notifier must never stop the monitoring loop
                    log.exception("notifier %r failed on %s; continuing", type(notifier).__name__, note.title)
    return engine.history()


# ---------------------------------------------------------------------------------------------
# detection delay
# ---------------------------------------------------------------------------------------------
def _incident_frame(incidents) -> pd.DataFrame:
    rows: list[tuple[str, Any]] = []
    if isinstance(incidents, pd.DataFrame):
        if "start" not in incidents.columns:
            raise _fail("incidents", "a DataFrame with a 'start' column (and optionally 'name')",
                        f"<columns {list(map(str, incidents.columns))}>", "rename the incident time column to 'start'")
        names = incidents["name"] if "name" in incidents.columns else (
            incidents["incident"] if "incident" in incidents.columns else pd.Series(
                [str(i) for i in incidents.index], index=incidents.index))
        rows = list(zip(names.astype(str), incidents["start"]))
    elif isinstance(incidents, pd.Series):
        rows = [(str(k), v) for k, v in incidents.items()]
    elif isinstance(incidents, Mapping):
        for k, v in incidents.items():
            start = getattr(v, "start", v[0] if isinstance(v, (tuple, list)) else v)
            rows.append((str(k), start))
    elif isinstance(incidents, Iterable) and not isinstance(incidents, (str, bytes)):
        for i, v in enumerate(incidents):
            if hasattr(v, "start"):
                name = getattr(v, "summary", None) or f"incident {i}"
                rows.append((str(name), v.start))
            else:
                rows.append((str(pd.Timestamp(v)), v))
    else:
        raise _fail("incidents", "a dict name → start time, a list of start times or drift records, a Series "
                    "or a DataFrame with a 'start' column", f"<{type(incidents).__name__}>",
                    "pass e.g. {'Hurricane Sandy': '2012-10-29'}", TypeError)
    out = pd.DataFrame({"incident": [r[0] for r in rows],
                        "start": [_as_timestamp(r[1], f"incident {r[0]!r} start") for r in rows]})
    return out


def detection_delay(history, incidents, *, rules: Sequence[str] | None = None, max_delay=None,
                    at: str = "fired_at") -> pd.DataFrame:
    """Time to detect each incident: the first alert firing at or after its start.

    Parameters
    ----------
    history : AlertHistory or DataFrame
        From :func:`evaluate` (or its :meth:`~AlertHistory.to_frame`).
    incidents : dict, sequence, Series or DataFrame
        Known incident start times: ``{"Hurricane Sandy": "2012-10-29"}``, a list of times, a
        list of :class:`labkit.simulate.DriftRecord` (their ``start``), a Series (index = name)
        or a DataFrame with ``start`` (and optionally ``name``).
    rules : sequence of str, optional
        Only count alerts of these rules (default: any).
    max_delay : duration, optional
        An alert later than ``start + max_delay`` does not count (default: no limit).
    at : {"fired_at", "notified_at", "pending_at"}, default "fired_at"
        Which alert time counts as detection.

    Returns
    -------
    DataFrame
        One row per incident: ``incident``, ``start``, ``detected``, ``rule``, ``detected_at``,
        ``delay`` (NaT when not detected).

    Examples
    --------
    >>> import pandas as pd
    >>> days = pd.date_range("2012-10-25", periods=8, freq="D")
    >>> m = pd.DataFrame({"missing_share": [0, 0, 0, 0, 0.6, 0.9, 0.1, 0]}, index=days)
    >>> h = evaluate(Rule("MissingValuesHigh", "missing_share", ">", 0.5, for_="1D"), m)
    >>> detection_delay(h, {"Hurricane Sandy": "2012-10-29"})[["incident", "detected", "delay"]]
              incident  detected  delay
    0  Hurricane Sandy      True 1 days
    """
    if at not in ("fired_at", "notified_at", "pending_at"):
        raise _fail("at", "'fired_at', 'notified_at' or 'pending_at'", at, "pass at='fired_at'")
    if isinstance(history, AlertHistory):
        frame = history.to_frame()
    elif isinstance(history, pd.DataFrame) and {"rule", at} <= set(history.columns):
        frame = history
    else:
        raise _fail("history", f"an AlertHistory or its to_frame() (columns 'rule' and {at!r})",
                    f"<{type(history).__name__}>", "pass the result of labkit.alerting.rules.evaluate(...)", TypeError)
    if rules is not None:
        rules = [rules] if isinstance(rules, str) else list(rules)
        unknown = [r for r in rules if r not in set(frame["rule"])] if len(frame) else []
        if unknown:
            log.info("detection_delay: rule(s) %s never fired", unknown)
        frame = frame[frame["rule"].isin(rules)]
    limit = None if max_delay is None else _as_duration(max_delay, "max_delay")
    times = pd.to_datetime(frame[at])
    tz = getattr(times.dt, "tz", None) if len(times) else None
    out = _incident_frame(incidents)
    rows = []
    for name, start in zip(out["incident"], out["start"]):
        start = _align_tz(start, tz, f"incident {name!r} start") if len(times) else start
        ok = times.notna() & (times >= start)
        if limit is not None:
            ok &= times <= start + limit
        if ok.any():
            pos = times[ok].idxmin()
            t = times[pos]
            rows.append({"incident": name, "start": start, "detected": True, "rule": frame.loc[pos, "rule"],
                         "detected_at": t, "delay": t - start})
        else:
            rows.append({"incident": name, "start": start, "detected": False, "rule": None,
                         "detected_at": pd.NaT, "delay": pd.NaT})
    result = pd.DataFrame(rows, columns=["incident", "start", "detected", "rule", "detected_at", "delay"])
    result["delay"] = pd.Series([r["delay"] for r in rows], index=result.index, dtype="timedelta64[ns]")
    result["detected"] = result["detected"].astype(bool)
    return result.sort_values("start", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# retraining triggers
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TriggerResult:
    """One trigger's verdict.

    Attributes
    ----------
    trigger : str
        ``"performance"``, ``"drift"``, ``"time"`` or ``"data_volume"``.
    name : str
        ``"<trigger>:<signal>"``, unique per trigger in a decision.
    signal : str
        What was measured (``"mae"``, ``"drift_temp"``, ``"model_age"``, ``"new_labels"``).
    value : float, Timedelta or None
        The measured value (None/NaN when unknown).
    op : str
        The comparison that fires it.
    threshold : float or Timedelta
    fired : bool
    reason : str
        One readable line, e.g. ``"mae = 61.3 > 33.7 (baseline 32.1 worsened by more than 5%)"``.
    """

    trigger: str
    name: str
    signal: str
    value: Any
    op: str
    threshold: Any
    fired: bool
    reason: str


def _lookup(metrics, key: str, who: str) -> float:
    if metrics is None:
        raise _fail(who, f"metrics holding {key!r}", None, f"pass decide(triggers, {{'{key}': ...}})")
    try:
        raw = metrics[key]
    except (KeyError, IndexError):
        keys = list(map(str, metrics.keys())) if hasattr(metrics, "keys") else "?"
        raise _fail(who, f"a value for {key!r} in the metrics", f"<keys {keys}>",
                    f"add {key!r} to the metrics or change the trigger's signal") from None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


_LOWER_IS_BETTER = ("mae", "rmse", "mse", "mape", "wape", "smape", "error", "loss")
_HIGHER_IS_BETTER = ("r2", "accuracy", "f1", "precision", "recall", "auc")


@dataclass(frozen=True)
class PerformanceTrigger:
    """Retrain when a performance metric is worse than the baseline by more than ``tolerance``.

    Parameters
    ----------
    signal : str
        The metric (``"mae"``, ``"rmse"``, ``"r2"``, ...).
    baseline : float
        Its value on the reference data (``labkit.baseline`` metrics).
    tolerance : float, default 0.05
        Allowed relative worsening (the lecture: retrain below 95% of the baseline F1).
    higher_is_better : bool, optional
        Inferred for common names (mae/rmse/... lower, r2/accuracy/f1/... higher); required otherwise.

    Examples
    --------
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
        if not isinstance(self.signal, str) or not self.signal:
            raise _fail("signal", "a metric name such as 'mae'", self.signal, "pass e.g. 'mae'", TypeError)
        object.__setattr__(self, "baseline",
                           _as_number(self.baseline, "baseline", "pass the reference value, e.g. 32.1"))
        tol = _as_number(self.tolerance, "tolerance", "pass a fraction such as 0.05 (5%)")
        if tol < 0:
            raise _fail("tolerance", "a fraction >= 0", tol, "pass e.g. 0.05 for 5%")
        object.__setattr__(self, "tolerance", tol)
        hib = self.higher_is_better
        if hib is None:
            low = self.signal.lower()
            if any(low == k or low.startswith(k + "_") or low.endswith("_" + k) for k in _LOWER_IS_BETTER):
                hib = False
            elif any(low == k or low.startswith(k + "_") or low.endswith("_" + k) for k in _HIGHER_IS_BETTER):
                hib = True
            else:
                raise _fail("higher_is_better", "True or False for an unfamiliar metric", None,
                            f"say whether a larger {self.signal!r} is better: higher_is_better=True/False")
        object.__setattr__(self, "higher_is_better", bool(hib))

    @property
    def op(self) -> str:
        return "<" if self.higher_is_better else ">"

    @property
    def threshold(self) -> float:
        """The value beyond which it fires: baseline ∓ tolerance·|baseline|."""
        step = self.tolerance * abs(self.baseline)
        return self.baseline - step if self.higher_is_better else self.baseline + step

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.signal}"

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> TriggerResult:
        """Judge one window's ``metrics`` (a dict or a row of the metrics frame)."""
        value = _lookup(metrics, self.signal, f"PerformanceTrigger({self.signal!r})")
        thr = self.threshold
        word = "dropped" if self.higher_is_better else "worsened"
        if math.isnan(value):
            return TriggerResult(self.kind, self.name, self.signal, value, self.op, thr, False,
                                 f"{self.signal} unknown (NaN, e.g. no labels yet): cannot judge performance")
        fired = value < thr if self.higher_is_better else value > thr
        rel = "" if not fired else f" (baseline {self.baseline:.4g} {word} by more than {self.tolerance:.0%})"
        sym = self.op if fired else {"<": ">=", ">": "<="}[self.op]
        return TriggerResult(self.kind, self.name, self.signal, value, self.op, thr, bool(fired),
                             f"{self.signal} = {value:.4g} {sym} {thr:.4g}{rel}")


@dataclass(frozen=True)
class DriftTrigger:
    """Retrain when a drift score exceeds ``threshold`` (any of several signals).

    Parameters
    ----------
    signal : str or sequence of str
        Drift score column(s), e.g. ``"drift_temp"`` or ``["drift_temp", "drift_hum"]``.
    threshold : float, default 0.2
        Fires when the largest score is above it (the lecture: PSI > 0.2).

    Examples
    --------
    >>> t = DriftTrigger(["drift_temp", "drift_hum"], threshold=0.2)
    >>> r = t.check({"drift_temp": 0.05, "drift_hum": 0.31})
    >>> r.fired, r.signal, r.reason
    (True, 'drift_hum', 'drift_hum = 0.31 > 0.2')
    """

    signal: Any
    threshold: float = 0.2
    kind: ClassVar[str] = "drift"

    def __post_init__(self):
        sig = (self.signal,) if isinstance(self.signal, str) else tuple(self.signal) if isinstance(
            self.signal, Iterable) else None
        if not sig or not all(isinstance(s, str) and s for s in sig):
            raise _fail("signal", "a drift column name or a list of them", self.signal,
                        "pass e.g. 'drift_temp' or ['drift_temp', 'drift_hum']", TypeError)
        object.__setattr__(self, "signal", sig[0] if len(sig) == 1 else sig)
        object.__setattr__(self, "threshold", _as_number(self.threshold, "threshold", "pass e.g. 0.2"))

    @property
    def signals(self) -> tuple[str, ...]:
        return (self.signal,) if isinstance(self.signal, str) else tuple(self.signal)

    @property
    def name(self) -> str:
        return f"{self.kind}:{'|'.join(self.signals)}"

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> TriggerResult:
        values = {s: _lookup(metrics, s, f"DriftTrigger({s!r})") for s in self.signals}
        known = {s: v for s, v in values.items() if not math.isnan(v)}
        if not known:
            return TriggerResult(self.kind, self.name, "|".join(self.signals), math.nan, ">", self.threshold, False,
                                 f"no drift score available ({', '.join(self.signals)} all NaN)")
        top = max(known, key=known.get)
        value = known[top]
        fired = value > self.threshold
        return TriggerResult(self.kind, self.name, top, value, ">", self.threshold, bool(fired),
                             f"{top} = {value:.4g} {'>' if fired else '<='} {self.threshold:g}")


@dataclass(frozen=True)
class TimeTrigger:
    """Retrain when the model is older than ``max_age`` (``now - trained_at > max_age``).

    Examples
    --------
    >>> r = TimeTrigger("30D").check(now="2012-03-01", trained_at="2012-01-01")
    >>> r.fired, r.reason
    (True, 'model age 60 days > 30 days')
    """

    max_age: Any = "30D"
    kind: ClassVar[str] = "time"

    def __post_init__(self):
        age = _as_duration(self.max_age, "max_age")
        if age <= pd.Timedelta(0):
            raise _fail("max_age", "a positive duration", self.max_age, "pass e.g. '30D'")
        object.__setattr__(self, "max_age", age)

    @property
    def name(self) -> str:
        return f"{self.kind}:model_age"

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> TriggerResult:
        if now is None or trained_at is None:
            raise _fail("TimeTrigger", "now= and trained_at= (to compute the model's age)", (now, trained_at),
                        "pass decide(..., now=<window time>, trained_at=<training time>)")
        now_ts, trained = _as_timestamp(now, "now"), _as_timestamp(trained_at, "trained_at")
        age = now_ts - trained
        fired = age > self.max_age
        return TriggerResult(self.kind, self.name, "model_age", age, ">", self.max_age, bool(fired),
                             f"model age {_human(age)} {'>' if fired else '<='} {_human(self.max_age)}")


def _human(td: pd.Timedelta) -> str:
    if td % pd.Timedelta(days=1) == pd.Timedelta(0):
        d = td.days
        return f"{d} day{'s' if abs(d) != 1 else ''}"
    return str(td)


@dataclass(frozen=True)
class DataVolumeTrigger:
    """Retrain once at least ``min_new_labels`` new labelled rows have arrived since training.

    Examples
    --------
    >>> DataVolumeTrigger(1000).check(new_labels=1500).reason
    'new labelled rows 1,500 >= 1,000'
    """

    min_new_labels: int = 10_000
    kind: ClassVar[str] = "data_volume"

    def __post_init__(self):
        n = self.min_new_labels
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise _fail("min_new_labels", "a positive whole number of rows", n, "pass e.g. 10_000", TypeError
                        if not isinstance(n, numbers.Integral) or isinstance(n, bool) else ValueError)
        object.__setattr__(self, "min_new_labels", int(n))

    @property
    def name(self) -> str:
        return f"{self.kind}:new_labels"

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None) -> TriggerResult:
        if new_labels is None:
            raise _fail("DataVolumeTrigger", "new_labels= (labelled rows that arrived since training)", None,
                        "pass decide(..., new_labels=<count>)")
        n = _as_number(new_labels, "new_labels", "pass the count of new labelled rows")
        fired = n >= self.min_new_labels
        return TriggerResult(self.kind, self.name, "new_labels", n, ">=", self.min_new_labels, bool(fired),
                             f"new labelled rows {n:,.0f} {'>=' if fired else '<'} {self.min_new_labels:,}")


_TRIGGERS = (PerformanceTrigger, DriftTrigger, TimeTrigger, DataVolumeTrigger)


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, and why. ``bool(decision)`` is ``decision.retrain``.

    Attributes
    ----------
    retrain : bool
        True when at least one trigger fired (OR logic).
    checks : tuple of TriggerResult
        Every trigger's verdict, fired or not.
    time : Timestamp or None
        The ``now`` it was decided for.
    """

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
            return "no retraining: " + "; ".join(c.reason for c in self.checks)
        return "retrain: " + "; ".join(f"{c.trigger}: {c.reason}" for c in self.reasons)

    def to_frame(self) -> pd.DataFrame:
        """One row per trigger: trigger, name, signal, value, op, threshold, fired, reason."""
        cols = ["trigger", "name", "signal", "value", "op", "threshold", "fired", "reason"]
        return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in self.checks], columns=cols)


def _as_triggers(triggers) -> tuple:
    if isinstance(triggers, _TRIGGERS):
        return (triggers,)
    if not isinstance(triggers, Iterable):
        raise _fail("triggers", "a trigger or a list of triggers", f"<{type(triggers).__name__}>",
                    "pass e.g. [PerformanceTrigger('mae', baseline=32.1), TimeTrigger('30D')]", TypeError)
    out = tuple(triggers)
    if not out:
        raise _fail("triggers", "at least one trigger", [], "pass e.g. [TimeTrigger('30D')]")
    for i, t in enumerate(out):
        if not isinstance(t, _TRIGGERS):
            raise _fail(f"triggers[{i}]", "PerformanceTrigger, DriftTrigger, TimeTrigger or DataVolumeTrigger",
                        f"<{type(t).__name__}>", "build the trigger with one of those classes", TypeError)
    return out


def decide(triggers, metrics: Mapping | pd.Series | None = None, *, now=None, trained_at=None,
           new_labels: int | None = None) -> RetrainDecision:
    """Combine retraining triggers with OR logic; the decision carries every trigger's reason.

    Parameters
    ----------
    triggers : trigger or sequence of triggers
    metrics : mapping or Series, optional
        Current metric values (a row of the windowed-metrics frame), read by performance and
        drift triggers.
    now, trained_at : datetime-like, optional
        Needed by :class:`TimeTrigger`.
    new_labels : int, optional
        Labelled rows arrived since training, needed by :class:`DataVolumeTrigger`.

    Examples
    --------
    >>> d = decide([PerformanceTrigger("mae", baseline=32.1, tolerance=0.2), DriftTrigger("drift_temp", 0.2),
    ...             TimeTrigger("90D")], {"mae": 61.0, "drift_temp": 0.1}, now="2012-03-01", trained_at="2011-10-01")
    >>> bool(d), [r.trigger for r in d.reasons]
    (True, ['performance', 'time'])
    >>> print(d)
    retrain: performance: mae = 61 > 38.52 (baseline 32.1 worsened by more than 20%); time: model age 152 days > 90 days
    """
    trigs = _as_triggers(triggers)
    checks = tuple(t.check(metrics, now=now, trained_at=trained_at, new_labels=new_labels) for t in trigs)
    t = None if now is None else _as_timestamp(now, "now")
    return RetrainDecision(retrain=any(c.fired for c in checks), checks=checks, time=t)


def trigger_timeline(triggers, metrics: pd.DataFrame, *, trained_at, new_labels: str | None = None) -> pd.DataFrame:
    """Which triggers would ask for retraining at each window, had nobody retrained.

    Parameters
    ----------
    triggers : sequence of triggers
    metrics : DataFrame
        Windowed metrics indexed by window start (the time each window is judged).
    trained_at : datetime-like
        When the model was trained (the model age is ``window start - trained_at``).
    new_labels : str, optional
        Column with the number of labelled rows that arrived in each window; its running total
        from the first window is the data-volume trigger's input.

    Returns
    -------
    DataFrame
        Indexed like ``metrics``: ``retrain`` (bool), ``reasons`` (text), and one bool column per
        trigger named ``"<trigger>:<signal>"``.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"mae": [30.0, 33.0, 45.0]}, index=pd.date_range("2012-01-01", periods=3, freq="D"))
    >>> trigger_timeline([PerformanceTrigger("mae", baseline=32.1, tolerance=0.2)], m,
    ...                  trained_at="2011-10-01")["retrain"].tolist()
    [False, False, True]
    """
    trigs = _as_triggers(triggers)
    index, _ = _metrics_arrays(metrics, [], [])
    frame = metrics.sort_index(kind="stable") if not metrics.index.is_monotonic_increasing else metrics
    counts = None
    if new_labels is not None:
        if new_labels not in frame.columns:
            raise _fail("new_labels", f"a column of the metrics, one of {list(map(str, frame.columns))}", new_labels,
                        "name the column holding labelled rows per window")
        counts = frame[new_labels].fillna(0).cumsum().to_numpy(dtype=float)
    trained = _as_timestamp(trained_at, "trained_at")
    rows = []
    for k, (t, row) in enumerate(zip(index, frame.to_dict("records"))):
        d = decide(trigs, row, now=t, trained_at=trained, new_labels=None if counts is None else counts[k])
        rows.append({"retrain": d.retrain, "reasons": "; ".join(c.reason for c in d.reasons),
                     **{c.name: c.fired for c in d.checks}})
    cols = ["retrain", "reasons", *dict.fromkeys(t.name for t in trigs)]
    return pd.DataFrame(rows, index=index, columns=cols)
