"""monitoring/: promtool accepts the Prometheus config; every dashboard query names real metrics."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from labkit.monitoring.exporter import DEFAULT_PORT, MetricsExporter
from labkit.paths import REPO_ROOT

MONITORING = REPO_ROOT / "monitoring"
PROMETHEUS_YML = MONITORING / "prometheus.yml"
DASHBOARD = MONITORING / "grafana_dashboard.json"

#: PromQL words that are not metric names (functions, aggregations, keywords).
PROMQL_WORDS = {
    "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "sum", "avg", "min", "max",
    "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group", "abs", "ceil", "floor",
    "round", "clamp", "clamp_min", "clamp_max", "vector", "scalar", "time", "timestamp", "absent",
    "absent_over_time", "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "last_over_time",
    "label_replace", "label_join", "sort", "sort_desc", "by", "without", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "bool", "offset", "label_values",
}


def promtool():
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("LABKIT_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is required (LABKIT_REQUIRE_PROMTOOL=1) but not on PATH: "
                        "install the Debian package `prometheus`.")
        pytest.skip("promtool not found: install the Debian package `prometheus` to check the config "
                    "(CI sets LABKIT_REQUIRE_PROMTOOL=1 and fails instead of skipping)")
    return path


def test_promtool_accepts_the_scrape_config(tmp_path):
    tool = promtool()
    # alone, with an empty rules file next to it (the real rules are checked by their own tests)
    shutil.copy(PROMETHEUS_YML, tmp_path / "prometheus.yml")
    (tmp_path / "alert_rules.yml").write_text("groups: []\n")
    out = subprocess.run([tool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr
    if (MONITORING / "alert_rules.yml").exists():  # and as shipped, with the real rules
        out = subprocess.run([tool, "check", "config", "prometheus.yml"], cwd=MONITORING, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr


def test_scrape_config_points_at_the_exporter():
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    assert config["rule_files"] == ["alert_rules.yml"]
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"127.0.0.1:{DEFAULT_PORT}"]
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"])


def dashboard_queries() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            queries.append((f"variable {var['name']}", q))
    return queries


def metric_names(expr: str) -> set[str]:
    """Identifiers of a PromQL expression that must be metrics (label matchers, ranges, grouping removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)                    # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                   # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,\s*\w+\s*\)", r"\1", text)
    words = set(re.findall(r"(?<![\w.])[A-Za-z_:][\w:]*", text))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d+(\.\d+)?", w)}


def exposed_sample_names() -> set[str]:
    exp = MetricsExporter()
    exp.observe_predictions([12.0, 250.0], latency_seconds=0.003, model_version="v1")
    exp.set_model_quality("v1", r2=0.8, mae=30.0, rmse=45.0, label_coverage=0.9)
    exp.set_feature_quality(drift={"temp": 0.2}, missing={"temp": 0.0}, age={"temp": 60.0})
    names = set()
    for family in text_string_to_metric_families(exp.exposition()):
        names.update(s.name for s in family.samples)
    return names


def test_dashboard_is_an_importable_grafana_dashboard():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        if panel["type"] != "row":
            assert panel["datasource"]["type"] == "prometheus" and panel["targets"], panel["title"]
            assert all(t["refId"] and t["expr"].strip() for t in panel["targets"])


def test_every_dashboard_query_names_a_metric_the_exporter_exposes():
    exposed = exposed_sample_names()
    queries = dashboard_queries()
    assert len(queries) >= 10
    used = set()
    for title, expr in queries:
        names = metric_names(expr)
        assert names, f"{title}: no metric found in {expr!r}"
        unknown = names - exposed
        assert not unknown, f"{title}: {expr!r} uses {sorted(unknown)}, which the exporter does not expose"
        used |= names
    # the lecture's four queries are all there
    assert {"ml_predictions_total", "ml_prediction_latency_seconds_bucket", "ml_model_accuracy",
            "ml_prediction_score_bucket"} <= used
    # and every gauge the exporter defines is on the dashboard
    assert {"ml_model_mae", "ml_model_rmse", "ml_label_coverage_ratio", "ml_feature_drift_score",
            "ml_feature_missing_ratio", "ml_feature_age_seconds"} <= used


@pytest.mark.parametrize("expr, names", [
    ("rate(ml_predictions_total[5m])", {"ml_predictions_total"}),
    ('histogram_quantile(0.95, sum by (le) (rate(ml_prediction_latency_seconds_bucket{model_version=~"$v"}[5m])))',
     {"ml_prediction_latency_seconds_bucket"}),
    ("count(ml_feature_drift_score >= 0.1) or vector(0)", {"ml_feature_drift_score"}),
    ("a_metric / on(job) group_left(x) other_metric", {"a_metric", "other_metric"}),
    ("label_values(ml_predictions_total, model_version)", {"ml_predictions_total"}),
], ids=["rate", "quantile", "count-or", "matching", "variable"])
def test_metric_name_extraction(expr, names):
    assert metric_names(expr) == names
