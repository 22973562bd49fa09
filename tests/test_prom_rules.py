"""Tests for labkit.alerting.prometheus: the committed rules file is in sync, valid, and passes its promtool unit tests.

promtool tests skip with a clear message when promtool is missing, and fail instead when
LABKIT_REQUIRE_PROMTOOL=1 (CI sets it: .ci/run installs the Debian package `prometheus`).
"""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from labkit.alerting import prometheus as prom_rules
from labkit.alerting.rules import Rule
from labkit.alerting.prometheus import (
    RULES_FILE,
    RULES_TEST_FILE,
    check_rules,
    lab_rules,
    prometheus_duration,
    promql,
    render_rules,
    rule_expr,
    to_prometheus,
    write_rules,
)

REGENERATE = "python -m labkit.alerting.prometheus"


def require_promtool():
    """Skip (locally) or fail (CI: LABKIT_REQUIRE_PROMTOOL=1) when promtool is missing."""
    if shutil.which("promtool") is None:
        message = ("promtool is not installed, so the Prometheus rule checks cannot run. Install it with "
                   "`apt-get install --no-install-recommends prometheus` (Debian/Ubuntu; .ci/run does this).")
        if os.environ.get("LABKIT_REQUIRE_PROMTOOL") == "1":
            pytest.fail("LABKIT_REQUIRE_PROMTOOL=1 but " + message)
        pytest.skip(message)


# ---------------------------------------------------------------------------------------------
# the committed file
# ---------------------------------------------------------------------------------------------
def test_committed_rules_file_is_in_sync():
    assert RULES_FILE.exists(), f"{RULES_FILE} is missing; create it with: {REGENERATE}"
    assert RULES_FILE.read_text(encoding="utf-8") == render_rules(), (
        f"{RULES_FILE} differs from labkit.alerting.prometheus.render_rules(); regenerate it with: {REGENERATE}")


def test_committed_rules_parse_and_hold_the_lecture_rules():
    doc = yaml.safe_load(RULES_FILE.read_text())
    (group,) = doc["groups"]
    assert group["name"] == "ml_model_alerts" and group["interval"] == "30s"
    rules = {r["alert"]: r for r in group["rules"]}
    assert list(rules) == [r.name for r in lab_rules()]
    assert rules["HighPredictionLatency"]["expr"] == \
        "histogram_quantile(0.95, rate(ml_prediction_latency_seconds_bucket[5m])) > 0.5"
    assert rules["HighPredictionLatency"]["for"] == "5m"
    assert rules["ModelAccuracyLow"]["expr"] == "ml_model_accuracy < 0.75" and rules["ModelAccuracyLow"]["for"] == "10m"
    for name in ("ModelErrorHigh", "FeatureDriftHigh", "StaleFeature", "MissingValuesHigh"):
        assert name in rules
    assert {r["labels"]["severity"] for r in rules.values()} <= {"critical", "high", "medium", "low"}
    for r in rules.values():
        assert set(r["annotations"]) == {"summary", "description"}


def test_every_rule_has_promtool_tests_for_pending_and_firing():
    rules = {r["alert"] for r in yaml.safe_load(RULES_FILE.read_text())["groups"][0]["rules"]}
    doc = yaml.safe_load(RULES_TEST_FILE.read_text())
    assert doc["rule_files"] == ["alert_rules.yml"]
    firing, quiet = set(), set()
    for test in doc["tests"]:
        for case in test["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    assert rules <= firing, f"rules without a firing test: {sorted(rules - firing)}"
    assert rules <= quiet, f"rules without a not-(yet)-firing test: {sorted(rules - quiet)}"


def test_promtool_check_rules():
    require_promtool()
    result = check_rules(RULES_FILE)
    assert result.available and result.ok, result.output
    assert f"SUCCESS: {len(lab_rules())} rules found" in result.output


def test_promtool_test_rules():
    require_promtool()
    result = prom_rules.test_rules(RULES_TEST_FILE)
    assert result.ok, result.output


def test_promtool_accepts_other_rule_shapes(tmp_path):
    require_promtool()
    rules = [
        Rule("EitherDrift", any_of=[("drift_temp", ">", 0.2), ("missing_hum", ">=", 0.1)], for_="36h",
             severity="low", labels={"team": "data"},
             annotation="{signal} {value:.1%} ({drift_temp:.2f}, {missing_hum})"),
        Rule("P99", "latency_p99", ">", 1, annotation="p99 {value} at {threshold:.2f}, rule {rule} {team:>6}x",
             labels={"team": "ml"}),
        Rule("Custom", "queue_depth", ">", 100, summary="Queue {deep}"),
    ]
    path = write_rules(tmp_path / "custom.yml", rules, signals={"queue_depth": "sum(ml_queue_depth)"}, group="custom",
                       interval=None)
    result = check_rules(path)
    assert result.ok, result.output + "\n" + path.read_text()


def test_promtool_missing_is_reported_not_raised(monkeypatch):
    monkeypatch.setattr(prom_rules.shutil, "which", lambda name: None)
    result = check_rules(RULES_FILE)
    assert not result.available and not result.ok and "apt-get install" in result.output
    assert not prom_rules.test_rules(RULES_TEST_FILE).available


# ---------------------------------------------------------------------------------------------
# translation
# ---------------------------------------------------------------------------------------------
def test_promql_for_signals():
    assert promql("accuracy") == promql("r2") == "ml_model_accuracy"
    assert promql("drift") == promql("drift_max") == "ml_feature_drift_score"
    assert promql("feature_age_max_seconds") == "ml_feature_age_seconds"
    assert promql("drift_temp") == 'ml_feature_drift_score{feature="temp"}'
    assert promql("age_hum") == 'ml_feature_age_seconds{feature="hum"}'
    assert promql("missing_share") == "ml_feature_missing_ratio"  # not feature "share"
    assert promql("q", signals={"q": "up"}) == "up"
    with pytest.raises(ValueError, match=r"signals=\{'latency_p42'"):
        promql("latency_p42")


def test_rule_expr_shapes():
    assert rule_expr(Rule("A", "mae", ">=", 40.5)) == "ml_model_mae >= 40.5"
    assert rule_expr(Rule("B", any_of=[("mae", ">", 40), ("rmse", ">", 60)])) == \
        "(ml_model_mae > 40) or (ml_model_rmse > 60)"
    assert rule_expr(Rule("C", "throughput", "<=", 0)) == "sum by (model_version) (rate(ml_predictions_total[5m])) <= 0"
    assert rule_expr(Rule("D", "throughput_per_hour", "<=", 0)) == \
        "sum by (model_version) (rate(ml_predictions_total[5m])) * 3600 <= 0"


@pytest.mark.parametrize("template, expected", [
    ("{value}", "{{ $value }}"),
    ("{value:.3f}", '{{ $value | printf "%.3f" }}'),
    ("{value:.0%}", "{{ $value | humanizePercentage }}"),
    ("{value:.2}", '{{ $value | printf "%.2g" }}'),
    ("{value:+8.1e}", '{{ $value | printf "%+8.1e" }}'),
    ("{threshold} / {rule} / {severity}", "40 / R / high"),
    ("{mae:.1f}", '{{ $value | printf "%.1f" }}'),
    ("{{literal}}", '{literal}'),
], ids=["plain", "fixed", "percent", "general", "sci", "static", "own-signal", "braces"])
def test_annotation_templates(template, expected):
    (entry,) = to_prometheus([Rule("R", "mae", ">", 40, severity="high", annotation=template)])
    assert entry["annotations"]["description"] == expected


def test_annotation_with_another_signal_uses_a_query():
    (entry,) = to_prometheus([Rule("R", all_of=[("drift_temp", ">", 0.2), ("mae", ">", 40)],
                                   annotation="{mae:.0f}")])
    assert entry["annotations"]["description"] == \
        '{{ with query `ml_model_mae` }}{{ . | first | value | printf "%.0f" }}{{ end }}'


def test_annotation_spec_prometheus_cannot_print():
    with pytest.raises(ValueError, match="printf"):
        to_prometheus([Rule("R", "mae", ">", 40, annotation="{value:>10.1f}")])


def test_prometheus_duration():
    assert prometheus_duration("10m") == "10m" and prometheus_duration(pd.Timedelta(days=2)) == "2d"
    assert prometheus_duration("1h30m") == "1h30m" and prometheus_duration("1500ms") == "1s500ms"
    assert prometheus_duration(0) is None
    with pytest.raises(ValueError, match="whole milliseconds"):
        prometheus_duration(pd.Timedelta(microseconds=1))


def test_for_zero_omits_for():
    (entry,) = to_prometheus([Rule("R", "mae", ">", 40)])
    assert "for" not in entry and entry["labels"] == {"severity": "medium"}


# ---------------------------------------------------------------------------------------------
# the YAML (PyYAML) round trip
# ---------------------------------------------------------------------------------------------
@given(st.text(max_size=40))
def test_yaml_strings_round_trip(text):
    rule = Rule("A", "mae", ">", 40, summary=text.replace("{", "").replace("}", ""))
    doc = yaml.safe_load(render_rules([rule], group=text, header=""))
    assert doc["groups"][0]["name"] == text
    assert doc["groups"][0]["rules"][0]["annotations"]["summary"] == (rule.summary or "mae > 40")


@pytest.mark.parametrize("text", ["30s", "10m", "1e3", "0.75", "true", "No", "null", "~", "2012-10-29", "0x1F",
                                  "- item", "a: b", "x #y", "{{ $value }}", "'quoted'", '"dq"', " pad", "",
                                  "ml_feature_drift_score{feature=\"temp\"} > 0.2", "é", "line\nbreak"])
def test_yaml_tricky_strings(text):
    doc = yaml.safe_load(render_rules([Rule("A", "x", ">", 1)], group=text, signals={"x": text or "up"}, header=""))
    assert doc["groups"][0]["name"] == text and doc["groups"][0]["rules"][0]["expr"] == f"{text or 'up'} > 1"


def test_write_rules_default_path_is_under_artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "runs"))
    path = write_rules()
    assert path == tmp_path / "runs" / "monitoring" / "alert_rules.yml"
    assert path.read_text() == render_rules()
    assert write_rules(tmp_path / "x.yml").read_text() == render_rules()
