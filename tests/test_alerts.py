"""Tests for labkit.alerting.rules: the rule life cycle, notification policy, detection delay, retraining triggers."""
from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.alerting.rules import (
    PLAYBOOK,
    RESPONSE_STEPS,
    SEVERITIES,
    AlertEngine,
    Condition,
    Notification,
    Rule,
    detection_delay,
    evaluate,
)
from labkit.alerting.triggers import (
    DataVolumeTrigger,
    DriftTrigger,
    PerformanceTrigger,
    Policy,
    RetrainDecision,
    TimeTrigger,
    decide,
    trigger_timeline,
)

NAN = float("nan")


def daily(start="2012-01-01", **columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range(start, periods=n, freq="D"))


def d(day: int, start="2012-01-01") -> pd.Timestamp:
    return pd.Timestamp(start) + pd.Timedelta(days=day)


# ---------------------------------------------------------------------------------------------
# life cycle
# ---------------------------------------------------------------------------------------------
def test_pending_firing_resolved_with_for_duration():
    m = daily(mae=[30, 45, 50, 52, 31, 30])
    rule = Rule("ModelErrorHigh", "mae", ">", 40, for_="1D", severity="high",
                annotation="MAE is {value:.1f}, threshold {threshold}")
    h = evaluate([rule], m)
    assert len(h) == h.n_alerts == 1
    a = h.alerts[0]
    assert (a.pending_at, a.fired_at, a.resolved_at) == (d(1), d(2), d(4))
    assert a.state == "resolved" and a.value == 50.0 and a.values == {"mae": 50.0}
    assert a.message == "MAE is 50.0, threshold 40"
    assert a.labels == {"alertname": "ModelErrorHigh", "severity": "high"}
    assert a.duration == pd.Timedelta(days=2)
    assert a.notified_at == d(2) and a.notifications == 1 and a.suppressed_by is None
    assert h.windows == 6 and (h.start, h.end) == (d(0), d(5))


def test_for_zero_fires_in_the_first_window():
    h = evaluate(Rule("R", "x", ">=", 1), daily(x=[0, 1, 0]))
    assert [(a.pending_at, a.fired_at, a.resolved_at) for a in h.alerts] == [(d(1), d(1), d(2))]


def test_for_2d_on_daily_windows_needs_three_consecutive_windows():
    rule = Rule("R", "x", ">", 0, for_="2D")
    assert evaluate(rule, daily(x=[1, 1, 0, 1, 1, 0])).n_alerts == 0
    h = evaluate(rule, daily(x=[1, 1, 1, 0]))
    assert h.alerts[0].fired_at == d(2)


def test_pending_that_clears_never_fires_and_is_kept_apart():
    h = evaluate(Rule("R", "x", ">", 0, for_="3D"), daily(x=[1, 1, 0, 0]))
    assert h.n_alerts == 0 and h.n_notifications == 0
    (p,) = h.pending_only
    assert p.state == "cleared" and p.fired_at is None and p.resolved_at == d(2) and math.isnan(p.value)
    frame = h.to_frame(include_pending=True)
    assert frame["state"].tolist() == ["cleared"]


def test_alerts_still_active_at_the_end():
    h = evaluate([Rule("Firing", "x", ">", 0), Rule("Pending", "x", ">", 0, for_="10D")], daily(x=[0, 1, 1]))
    assert [(a.rule, a.state, a.resolved_at) for a in h.alerts] == [("Firing", "firing", None)]
    assert [(a.rule, a.state) for a in h.pending_only] == [("Pending", "pending")]
    assert h.alerts[0].duration is None


def test_for_is_measured_between_window_times_not_counted_in_windows():
    # Prometheus measures `for` in time: a gap in the windows still counts as time passing.
    idx = pd.DatetimeIndex(["2012-01-01", "2012-01-02", "2012-01-06"])
    m = pd.DataFrame({"x": [1, 1, 1]}, index=idx)
    h = evaluate(Rule("R", "x", ">", 0, for_="3D"), m)
    assert h.alerts[0].fired_at == pd.Timestamp("2012-01-06")


def test_unsorted_metrics_are_sorted_first(caplog):
    m = daily(x=[0, 1, 1, 0])
    shuffled = m.iloc[[2, 0, 3, 1]]
    with caplog.at_level(logging.INFO, logger="labkit.alerting.rules"):
        h = evaluate(Rule("R", "x", ">", 0), shuffled)
    assert h.to_frame().equals(evaluate(Rule("R", "x", ">", 0), m).to_frame())
    assert "sorting" in caplog.text


# ---------------------------------------------------------------------------------------------
# NaN handling
# ---------------------------------------------------------------------------------------------
def test_nan_is_condition_not_met_and_resolves_a_firing_alert():
    h = evaluate(Rule("R", "mae", ">", 40), daily(mae=[50, NAN, 50]))
    assert [(a.fired_at, a.resolved_at) for a in h.alerts] == [(d(0), d(1)), (d(2), None)]


def test_nan_never_fires_a_less_than_rule():
    h = evaluate(Rule("AccuracyLow", "accuracy", "<", 0.8), daily(accuracy=[NAN, NAN, 0.9]))
    assert h.n_alerts == 0 and h.pending_only == ()


def test_nan_interrupts_pending():
    h = evaluate(Rule("R", "x", ">", 0, for_="1D"), daily(x=[1, NAN, 1, NAN]))
    assert h.n_alerts == 0 and len(h.pending_only) == 2


def test_pd_na_in_nullable_columns_counts_as_missing():
    m = daily(x=pd.array([1, None, 1], dtype="Float64"))
    h = evaluate(Rule("R", "x", ">", 0), m)
    assert h.n_alerts == 2


# ---------------------------------------------------------------------------------------------
# multi-signal rules
# ---------------------------------------------------------------------------------------------
def test_all_of_needs_every_condition():
    m = daily(drift_temp=[0.3, 0.3, 0.1, 0.3], mae=[30, 50, 50, NAN])
    rule = Rule("DriftWithErrorUp", all_of=[("drift_temp", ">", 0.2), Condition("mae", ">", 40)],
                annotation="drift {drift_temp:.2f} and MAE {mae:.0f} (value {value}, threshold {threshold})")
    h = evaluate(rule, m)
    assert [(a.fired_at, a.resolved_at) for a in h.alerts] == [(d(1), d(2))]
    a = h.alerts[0]
    assert a.values == {"drift_temp": 0.3, "mae": 50.0}
    assert a.value == 0.3  # the first condition's signal
    assert a.message == "drift 0.30 and MAE 50 (value 0.3, threshold 0.2)"


def test_any_of_reports_the_condition_that_holds():
    m = daily(drift_temp=[0.1, NAN, 0.5], mae=[30, 50, 30])
    rule = Rule("Either", any_of=[("drift_temp", ">", 0.2), ("mae", ">", 40)],
                annotation="{signal} = {value} > {threshold}")
    h = evaluate(rule, m)
    assert [a.message for a in h.alerts] == ["mae = 50.0 > 40"]  # one episode from day 1 to the end
    assert h.alerts[0].state == "firing"


def test_rule_check_direct():
    r = Rule("R", any_of=[("a", "<", 0), ("b", ">=", 1)])
    assert r.check({"a": -1, "b": 0})[0] and r.check({"a": 5, "b": 1}) == (True, {"a": 5.0, "b": 1.0}, 1)
    assert r.check({"a": "n/a", "b": 0})[0] is False


# ---------------------------------------------------------------------------------------------
# deduplication and cooldown
# ---------------------------------------------------------------------------------------------
def test_dedup_notifies_once_per_episode_and_naive_mode_every_window():
    m = daily(x=[1, 1, 1, 0, 1])
    rule = Rule("R", "x", ">", 0)
    h = evaluate(rule, m)
    assert h.n_alerts == 2 and h.n_notifications == 2
    naive = evaluate(rule, m, dedup=False)
    assert naive.n_alerts == 2 and naive.n_notifications == 4
    assert [a.notifications for a in naive.alerts] == [3, 1]


def test_duplicate_rules_are_notified_once():
    rules = [Rule("ModelErrorHigh", "mae", ">", 40), Rule("ModelErrorHigh", "mae_v2", ">", 40)]
    h = evaluate(rules, daily(mae=[50, 50, 30], mae_v2=[30, 50, 30]))
    assert h.n_alerts == 2 and h.n_notifications == 1
    assert [a.suppressed_by for a in h.alerts] == [None, "duplicate"]
    assert [a.notified_at for a in h.alerts] == [d(0), None]


def test_cooldown_suppresses_a_flapping_alert():
    m = daily(mae=[50, 30, 50, 30, 50, 50, 50, 30])
    rule = Rule("ModelErrorHigh", "mae", ">", 40)
    assert evaluate(rule, m).n_notifications == 3
    h = evaluate(rule.replace(cooldown="3D"), m)
    assert h.n_alerts == 3 and h.n_notifications == 2
    assert [a.suppressed_by for a in h.alerts] == [None, "cooldown", None]
    assert [a.notified_at for a in h.alerts] == [d(0), None, d(4)]


def test_cooldown_holds_back_then_notifies_if_still_firing():
    m = daily(x=[1, 0, 1, 1, 1, 0])
    h = evaluate(Rule("R", "x", ">", 0, cooldown="3D"), m)
    second = h.alerts[1]
    assert second.fired_at == d(2) and second.notified_at == d(3) and second.suppressed_by == "cooldown"


def test_cooldown_with_naive_mode_is_a_reminder_interval():
    h = evaluate(Rule("R", "x", ">", 0, cooldown="2D"), daily(x=[1] * 7), dedup=False)
    assert [n.time for n in h.notifications] == [d(0), d(2), d(4), d(6)]


def test_send_resolved_only_for_notified_alerts():
    m = daily(x=[1, 0, 1, 0])
    h = evaluate(Rule("R", "x", ">", 0, cooldown="5D"), m, send_resolved=True)
    assert [(n.status, n.time) for n in h.notifications] == [("firing", d(0)), ("resolved", d(1))]
    assert h.notifications[1].alerts[0]["resolved_at"] == d(1).isoformat()
    assert [a.notifications for a in h.alerts] == [2, 0]


def test_every_alert_is_notified_or_says_why_not():
    m = daily(x=[1, 0, 1, 0, 1, 1, 0])
    h = evaluate([Rule("R", "x", ">", 0, cooldown="3D"), Rule("R", "x", ">", 0, cooldown="3D")], m)
    for a in h.alerts:
        assert a.notified_at is not None or a.suppressed_by in ("cooldown", "duplicate")


def test_evaluate_calls_notifiers_and_survives_a_broken_one(caplog):
    sent = []

    class Good:
        def send(self, n):
            sent.append(n.title)

    class Broken:
        def send(self, n):
            raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="labkit.alerting.rules"):
        h = evaluate(Rule("R", "x", ">", 0), daily(x=[1, 0, 1]), notifiers=[Broken(), Good()])
    assert sent == ["[FIRING] R (medium)"] * 2 and h.n_notifications == 2
    assert "Broken" in caplog.text and "continuing" in caplog.text and "LOST notification" in caplog.text
    assert caplog.text.count("[FIRING] R (medium)") == 2  # the whole notification is in the log


def test_engine_step_by_step_matches_evaluate():
    m = daily(mae=[30, 50, 50, 20, 50], drift_temp=[0, 0.3, 0.3, 0.3, 0])
    rules = [Rule("A", "mae", ">", 40, for_="1D"), Rule("B", "drift_temp", ">", 0.2)]
    engine = AlertEngine(rules)
    for t, row in m.iterrows():
        engine.step(t, row)
    assert engine.history().to_frame().equals(evaluate(rules, m).to_frame())


def test_engine_refuses_time_going_backwards_and_missing_signals():
    engine = AlertEngine(Rule("R", "x", ">", 0))
    engine.step("2012-01-02", {"x": 0})
    with pytest.raises(ValueError, match="increasing time order"):
        engine.step("2012-01-01", {"x": 0})
    with pytest.raises(ValueError, match=r"add \['x'\]"):
        engine.step("2012-01-03", {"y": 0})


# ---------------------------------------------------------------------------------------------
# history outputs
# ---------------------------------------------------------------------------------------------
def test_to_frame_is_tidy_and_typed():
    h = evaluate([Rule("A", "x", ">", 0), Rule("Never", "x", ">", 99)], daily(x=[1, 0, 1]))
    f = h.to_frame()
    assert list(f.columns) == ["rule", "severity", "state", "pending_at", "fired_at", "resolved_at", "duration",
                               "value", "message", "notified_at", "notifications", "suppressed_by", "labels"]
    assert str(f["fired_at"].dtype).startswith("datetime64") and str(f["duration"].dtype).startswith("timedelta64")
    assert f["rule"].tolist() == ["A", "A"]
    s = h.summary()
    assert s.loc["Never", "alerts"] == 0 and s.loc["A", "alerts"] == 2 and s.loc["A", "notifications"] == 2
    assert [len(n.alerts) for n in h.notifications] == [1, 1] and {n.status for n in h.notifications} == {"firing"}


def test_empty_history_frames():
    h = evaluate(Rule("A", "x", ">", 0), daily(x=[0, 0]))
    assert len(h.to_frame()) == 0 and h.notifications == () and len(h) == 0


def test_results_are_frozen_and_json_friendly():
    h = evaluate(Rule("A", "x", ">", 0, labels={"team": "ml"}), daily(x=[1, 0]))
    with pytest.raises(AttributeError):
        h.alerts[0].rule = "B"
    json.dumps(h.alerts[0].to_dict(), allow_nan=False)
    json.dumps(h.notifications[0].to_dict(), allow_nan=False)
    assert h.notifications[0].group_key == Notification.from_message(
        "x", severity="medium", rule="A", labels={"team": "ml"}).group_key


# ---------------------------------------------------------------------------------------------
# detection delay
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def sandy_history():
    m = daily("2012-10-20", missing_share=[0, 0.6, 0, 0, 0, 0, 0, 0, 0, 0.7, 0.9, 0.2, 0, 0])
    return evaluate(Rule("MissingValuesHigh", "missing_share", ">", 0.5, for_="1D"), m)


def test_detection_delay_dict(sandy_history):
    out = detection_delay(sandy_history, {"Hurricane Sandy": "2012-10-29"})
    assert out.loc[0, "detected"] and out.loc[0, "delay"] == pd.Timedelta(days=1)
    assert out.loc[0, "rule"] == "MissingValuesHigh" and out.loc[0, "detected_at"] == pd.Timestamp("2012-10-30")


def test_detection_delay_forms_and_misses(sandy_history):
    record = SimpleNamespace(start=pd.Timestamp("2012-10-28"), summary="upstream/missing on hum")
    frame = pd.DataFrame({"name": ["a", "b"], "start": ["2012-10-31", "2012-10-29"]})
    assert detection_delay(sandy_history, [record])["incident"].tolist() == ["upstream/missing on hum"]
    assert detection_delay(sandy_history, frame)["incident"].tolist() == ["b", "a"]  # sorted by start
    miss = detection_delay(sandy_history, ["2012-10-31"])
    assert not miss.loc[0, "detected"] and pd.isna(miss.loc[0, "delay"])
    capped = detection_delay(sandy_history, {"x": "2012-10-20"}, max_delay="5D")
    assert not capped.loc[0, "detected"]  # the 10-21 blip never fired; 10-30 is too late
    other = detection_delay(sandy_history, {"x": "2012-10-29"}, rules=["SomethingElse"])
    assert not other.loc[0, "detected"]
    via_frame = detection_delay(sandy_history.to_frame(), pd.Series({"s": "2012-10-29"}), at="pending_at")
    assert via_frame.loc[0, "delay"] == pd.Timedelta(0)


def test_detection_delay_bad_input(sandy_history):
    with pytest.raises(ValueError, match="'start' column"):
        detection_delay(sandy_history, pd.DataFrame({"when": ["2012-10-29"]}))
    with pytest.raises(ValueError, match="at: expected"):
        detection_delay(sandy_history, ["2012-10-29"], at="resolved")
    with pytest.raises(TypeError, match="AlertHistory"):
        detection_delay([1, 2], ["2012-10-29"])


# ---------------------------------------------------------------------------------------------
# clear errors
# ---------------------------------------------------------------------------------------------
def test_unknown_signal_names_the_available_columns():
    m = daily(mae=[1.0], drift_temp=[0.1])
    with pytest.raises(ValueError, match=r"signals: expected columns of metrics, got <missing \['drift_tmp'\]>.*"
                                         r"did you mean 'drift_temp'"):
        evaluate(Rule("R", "drift_tmp", ">", 0.2), m)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"severity": "warning"}, ValueError, r"severity: expected one of \['critical', 'high', 'medium', 'low'\]"),
    ({"op": "=="}, ValueError, "op: expected one of"),
    ({"threshold": "high"}, TypeError, "threshold: expected a real number"),
    ({"threshold": float("nan")}, ValueError, "threshold: expected a finite number"),
    ({"threshold": True}, TypeError, "threshold"),
    ({"for_": 5}, TypeError, "give the unit"),
    ({"for_": "-1h"}, ValueError, "duration >= 0"),
    ({"for_": "soon"}, ValueError, "for_: expected a duration"),
    ({"cooldown": "1 fortnight"}, ValueError, "cooldown"),
    ({"labels": {"severity": "high"}}, ValueError, "Rule\\(severity=...\\)"),
    ({"labels": {"team": 1}}, TypeError, r"labels\['team'\]: expected a string"),
    ({"labels": {"bad-name": "x"}}, ValueError, "label name"),
    ({"annotation": "MAE {mea}"}, ValueError, r"fields among .*'mae'"),
    ({"annotation": "MAE {value:d}"}, ValueError, "formats floats"),
    ({"annotation": "MAE {}"}, ValueError, "named fields"),
    ({"annotation": "MAE {value"}, ValueError, "balance the braces"),
], ids=["severity", "op", "threshold-str", "threshold-nan", "threshold-bool", "for-int", "for-negative",
        "for-garbage", "cooldown-garbage", "reserved-label", "label-value", "label-name", "annotation-field",
        "annotation-spec", "annotation-positional", "annotation-braces"])
def test_rule_validation(kwargs, exc, match):
    base = dict(name="R", signal="mae", op=">", threshold=40)
    base.update(kwargs)
    with pytest.raises(exc, match=match):
        Rule(**base)


def test_rule_form_errors():
    with pytest.raises(ValueError, match="exactly one of"):
        Rule("R", "mae", ">", 40, all_of=[("mae", ">", 40)])
    with pytest.raises(ValueError, match="exactly one of"):
        Rule("R")
    with pytest.raises(ValueError, match="signal, op and threshold together"):
        Rule("R", "mae", ">")
    with pytest.raises(ValueError, match="at least one condition"):
        Rule("R", all_of=[])
    with pytest.raises(TypeError, match=r"all_of\[0\]"):
        Rule("R", all_of=["mae > 40"])
    with pytest.raises(TypeError, match="wrap it in a list"):
        Rule("R", any_of=Condition("mae", ">", 40))
    with pytest.raises(ValueError, match="CamelCase"):
        Rule("MAE high", "mae", ">", 40)


def test_metrics_errors():
    rule = Rule("R", "x", ">", 0)
    with pytest.raises(TypeError, match="DataFrame"):
        evaluate(rule, {"x": [1]})
    frame = pd.DataFrame({"timestamp": pd.date_range("2012-01-01", periods=2), "x": [1, 2]})
    with pytest.raises(TypeError, match=r"metrics.set_index\('timestamp'\)"):
        evaluate(rule, frame)
    dup = pd.DataFrame({"x": [1, 2]}, index=pd.DatetimeIndex(["2012-01-01", "2012-01-01"]))
    with pytest.raises(ValueError, match="unique window start times.*repeated times"):
        evaluate(rule, dup)
    with pytest.raises(TypeError, match="pd.to_numeric"):
        evaluate(rule, daily(x=["high", "low"]))
    with pytest.raises(TypeError, match=r"rules\[1\]"):
        evaluate([rule, "R2"], daily(x=[1]))


def test_timezone_aware_windows():
    aware = daily(x=[1, 1]).tz_localize("UTC")
    assert evaluate(Rule("R", "x", ">", 0), aware).alerts[0].notified_at == pd.Timestamp("2012-01-01", tz="UTC")
    engine = AlertEngine(Rule("R", "x", ">", 0))
    engine.step(pd.Timestamp("2012-01-01", tz="UTC"), {"x": 1})
    with pytest.raises(ValueError, match="time-zone kind"):
        engine.step("2012-01-02", {"x": 1})

def test_rule_helpers():
    r = Rule("R", "mae", ">", 40, labels={"team": "ml"})
    assert str(r) == "R [medium]: mae > 40" and str(r.replace(for_="1h")) == "R [medium]: mae > 40 for 0 days 01:00:00"
    assert r.replace(threshold=50).conditions[0].threshold == 50.0
    multi = Rule("M", any_of=[("a", ">", 1), ("b", "<", 2)])
    assert multi.replace(severity="low").conditions == multi.conditions
    assert len({r, r.replace(), multi}) == 2 and r == r.replace()
    assert r.fingerprint == Rule("R", "other", "<", 1, labels={"team": "ml"}).fingerprint
    assert r.alert_labels == {"alertname": "R", "severity": "medium", "team": "ml"}


def test_playbook_constants():
    assert tuple(PLAYBOOK) == SEVERITIES == ("critical", "high", "medium", "low")
    assert [s[0] for s in RESPONSE_STEPS][0] == "Assess severity" and len(RESPONSE_STEPS) == 5


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------
def _runs(flags):
    """(start, end) index pairs of runs of True; end None when the run reaches the end."""
    out, start = [], None
    for i, f in enumerate(flags):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, None))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([0.0, 1.0, NAN]), min_size=1, max_size=40), st.integers(0, 4))
def test_alerts_match_runs_of_the_condition(values, k):
    flags = [v == 1.0 for v in values]
    h = evaluate(Rule("R", "x", ">", 0.5, for_=f"{k}D"), daily(x=values))
    expected = [(s + k, e) for s, e in _runs(flags) if (e if e is not None else len(flags)) - s > k]
    got = [((a.fired_at - d(0)).days, None if a.resolved_at is None else (a.resolved_at - d(0)).days)
           for a in h.alerts]
    assert got == expected
    assert h.n_alerts + sum(a.state == "cleared" for a in h.pending_only) + sum(
        a.state == "pending" for a in h.pending_only) == len(_runs(flags))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(0, 6), st.booleans())
def test_notifications_respect_cooldown(flags, cooldown_days, dedup):
    h = evaluate(Rule("R", "x", ">", 0.5, cooldown=f"{cooldown_days}D"), daily(x=[float(f) for f in flags]),
                 dedup=dedup)
    times = [n.time for n in h.notifications]
    assert all(b - a >= pd.Timedelta(days=max(cooldown_days, 1)) for a, b in zip(times, times[1:]))
    if dedup:
        assert h.n_notifications <= h.n_alerts and all(a.notifications <= 1 for a in h.alerts)
    for a in h.alerts:
        assert a.notified_at is not None or a.suppressed_by == "cooldown"


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([">", ">=", "<", "<="]),
       st.floats(-1e6, 1e6))
def test_condition_matches_python_comparison(value, op, threshold):
    import operator
    ops = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
    expected = (not math.isnan(value)) and ops[op](value, threshold)
    assert Condition("s", op, threshold).holds(value) == expected


# ---------------------------------------------------------------------------------------------
# retraining triggers
# ---------------------------------------------------------------------------------------------
def test_performance_trigger_both_directions():
    mae = PerformanceTrigger("mae", baseline=32.1, tolerance=0.2)
    assert mae.op == ">" and mae.threshold == pytest.approx(38.52)
    r = mae.check({"mae": 45.0})
    assert r.fired and r.value == 45.0 and r.threshold == pytest.approx(38.52)
    assert r.reason == "mae = 45 > 38.52 (baseline 32.1 worsened by more than 20%)"
    r2 = PerformanceTrigger("r2", baseline=0.846, tolerance=0.05)
    assert r2.higher_is_better and r2.check({"r2": 0.7}).fired and not r2.check({"r2": 0.83}).fired
    assert "<" in r2.check({"r2": 0.7}).reason
    unknown = PerformanceTrigger("mae", baseline=32.1).check({"mae": NAN})
    assert not unknown.fired and "cannot judge" in unknown.reason
    with pytest.raises(ValueError, match="higher_is_better"):
        PerformanceTrigger("smiles", baseline=1.0)
    assert PerformanceTrigger("smiles", baseline=1.0, higher_is_better=True).threshold == pytest.approx(0.95)
    with pytest.raises(ValueError, match="tolerance"):
        PerformanceTrigger("mae", baseline=1.0, tolerance=-0.1)


def test_drift_time_volume_triggers():
    drift = DriftTrigger(["drift_temp", "drift_hum"], threshold=0.2)
    r = drift.check({"drift_temp": 0.25, "drift_hum": 0.5})
    assert r.fired and r.signal == "drift_hum" and r.value == 0.5 and r.reason == "drift_hum = 0.5 > 0.2"
    assert not drift.check({"drift_temp": NAN, "drift_hum": NAN}).fired
    assert DriftTrigger("drift_temp").signal == "drift_temp"
    t = TimeTrigger("30D")
    assert t.check(now="2012-01-30", trained_at="2012-01-01").fired is False
    assert t.check(now="2012-01-31", trained_at="2012-01-01").reason == "model age 30 days >= 30 days"
    v = DataVolumeTrigger(10_000)
    assert v.check(new_labels=9_999).fired is False
    assert v.check(new_labels=10_000).reason == "new labelled rows 10,000 >= 10,000"
    with pytest.raises(TypeError, match="min_new_labels"):
        DataVolumeTrigger(2.5)
    with pytest.raises(ValueError, match=r"max_age: expected a duration > 0"):
        TimeTrigger("0D")


def test_decide_combines_with_or_and_carries_reasons():
    triggers = [PerformanceTrigger("mae", baseline=32.1, tolerance=0.2), DriftTrigger("drift_temp", 0.2),
                TimeTrigger("90D"), DataVolumeTrigger(5000)]
    quiet = decide(triggers, {"mae": 33.0, "drift_temp": 0.1}, now="2011-11-01", trained_at="2011-10-01",
                   new_labels=100)
    assert not quiet and quiet.reasons == () and str(quiet).startswith("no retraining")
    loud = decide(triggers, pd.Series({"mae": 33.0, "drift_temp": 0.4}), now="2011-11-01",
                  trained_at="2011-10-01", new_labels=6000)
    assert isinstance(loud, RetrainDecision) and loud.retrain
    assert [(r.trigger, r.signal, r.value, r.threshold) for r in loud.reasons] == [
        ("drift", "drift_temp", 0.4, 0.2), ("data_volume", "new_labels", 6000.0, 5000)]
    frame = loud.to_frame()
    assert frame["fired"].tolist() == [False, True, False, True] and "reason" in frame
    assert str(loud) == "retrain: drift: drift_temp = 0.4 > 0.2; data_volume: new labelled rows 6,000 >= 5,000"


def test_decide_errors_name_the_missing_input():
    with pytest.raises(ValueError, match="now= and trained_at="):
        decide([TimeTrigger("30D")], {})
    with pytest.raises(ValueError, match="new_labels="):
        decide(DataVolumeTrigger(10), {})
    with pytest.raises(ValueError, match=r"a value for 'mae'.*keys \['rmse'\]"):
        decide([PerformanceTrigger("mae", baseline=1.0)], {"rmse": 1.0})
    with pytest.raises(TypeError, match=r"triggers\[0\]"):
        decide(["mae > 40"], {})
    with pytest.raises(ValueError, match="at least one trigger"):
        decide([], {})


def test_trigger_timeline():
    m = daily(mae=[30.0, 33.0, 45.0, 31.0], drift_temp=[0.1, 0.3, 0.1, 0.1], labelled=[10, 10, 10, 10])
    triggers = [PerformanceTrigger("mae", baseline=32.1, tolerance=0.2), DriftTrigger("drift_temp"),
                TimeTrigger("96D"), DataVolumeTrigger(35)]
    tl = trigger_timeline(triggers, m, trained_at="2011-09-30", new_labels="labelled")
    assert list(tl.columns) == ["retrain", "reasons", "performance:mae", "drift:drift_temp", "time:model_age",
                                "data_volume:new_labels"]
    assert tl["retrain"].tolist() == [False, True, True, True]
    assert tl["time:model_age"].tolist() == [False, False, False, True]  # 2012-01-04 is 96 days after
    assert tl["data_volume:new_labels"].tolist() == [False, False, False, True]  # 40 >= 35 on day 4
    assert tl.loc[d(1), "reasons"] == "drift_temp = 0.3 > 0.2"
    with pytest.raises(ValueError, match="new_labels"):
        trigger_timeline(triggers, m, trained_at="2011-09-30", new_labels="labels")


def test_policy_combines_triggers_after_its_cooldown():
    p = Policy("drift", [DriftTrigger("drift", 0.6)], cooldown="30D")
    assert p.signals == ("drift",) and str(p) == "drift: retrain when drift > 0.6, at most every 30 days"
    assert not p.decide({"drift": 0.9}, now="2012-01-30", trained_at="2012-01-01")  # 29 days: cooling down
    d = p.decide({"drift": 0.9}, now="2012-01-31", trained_at="2012-01-01")
    assert d.retrain and d.reasons[0].reason == "drift = 0.9 > 0.6"
    never = Policy("never")
    assert str(never) == "never: never retrain" and not never.decide() and never.signals == ()
    both = Policy("both", [PerformanceTrigger("wape", baseline=0.2, tolerance=0.25), TimeTrigger("30D")])
    assert str(both) == "both: retrain when wape > 0.25 (baseline 0.2 +25%) or model age >= 30 days"
    assert [r.trigger for r in both.decide({"wape": 0.3}, now="2012-03-01", trained_at="2012-01-01").reasons] == [
        "performance", "time"]
    with pytest.raises(ValueError, match="now= and trained_at="):
        p.decide({"drift": 0.9})
    with pytest.raises(TypeError, match=r"triggers\[0\]"):
        Policy("bad", ["drift > 0.6"])


def test_any_object_with_check_is_a_trigger():
    class OnDates:
        name, signals = "on-dates", ()

        def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None):
            from labkit.alerting.triggers import TriggerResult
            fired = pd.Timestamp(now) == pd.Timestamp("2012-01-10")
            return TriggerResult("custom", self.name, "date", now, "==", "2012-01-10", fired, f"scheduled: {fired}")

    assert decide(OnDates(), now="2012-01-10").retrain and not decide([OnDates()], now="2012-01-11").retrain
