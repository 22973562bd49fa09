"""labkit.alerting.stack: the replayed year in a real Prometheus, Prometheus' own rule engine next to
labkit's, Alertmanager routing to labkit's receiver, and every Grafana panel query answered.

The tests that need the binaries skip with an install hint when they are missing, and fail instead
when LABKIT_REQUIRE_PROMTOOL=1 (CI installs the Debian packages prometheus and prometheus-alertmanager).
"""
from __future__ import annotations

import io
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.alerting import stack
from labkit.alerting.notifiers import ConsoleNotifier
from labkit.alerting.prometheus import lab_rules
from labkit.alerting.rules import Rule, evaluate
from labkit.monitoring.exporter import MetricsExporter
from labkit.paths import REPO_ROOT

DASHBOARD = REPO_ROOT / "monitoring" / "grafana_dashboard.json"


def require(*binaries):
    names = {"alertmanager": stack.AlertmanagerServer.binary}
    missing = [b for b in binaries if not any(shutil.which(n) for n in names.get(b, (b,)))]
    if missing:
        message = f"{', '.join(missing)} not installed: {stack.INSTALL_HINT}"
        if os.environ.get("LABKIT_REQUIRE_PROMTOOL") == "1":
            pytest.fail("LABKIT_REQUIRE_PROMTOOL=1 but " + message)
        pytest.skip(message)


def _recorded(days: int = 3) -> stack.ScrapeRecorder:
    exp = MetricsExporter()
    rec = stack.ScrapeRecorder(exp, origin="2012-01-01")
    for day in range(days):
        exp.observe_predictions([100.0 + day, 20.0], latency_seconds=0.003, model_version="v1")
        exp.set_model_quality("v1", r2=0.8, mae=30.0 + day, rmse=45.0, label_coverage=float("nan") if day else 1.0)
        exp.set_feature_quality(drift={"temp": 0.1 * day, 'say "hi"': 0.0})
        rec.scrape(pd.Timestamp("2012-01-02") + pd.Timedelta(days=day))
    return rec


def test_openmetrics_file_is_timestamped_one_scrape_interval_per_step(tmp_path):
    rec = _recorded()
    text = rec.write_openmetrics(tmp_path / "x.om").read_text()
    assert text.endswith("# EOF\n") and "_created" not in text
    start = pd.Timestamp("2012-01-01").timestamp()
    samples = [line.rsplit(" ", 2) for line in text.splitlines() if not line.startswith("#")]
    mae = [(float(v), float(t) - start) for name, v, t in samples if name.startswith("ml_model_mae")]
    assert mae == [(30.0, 0.0), (31.0, 60.0), (32.0, 120.0)]
    assert [v for name, v, _ in samples if name.startswith("ml_predictions_total")] == ["2.0", "4.0", "6.0"]
    assert [v for name, v, _ in samples if name.startswith("ml_label_coverage")] == ["1.0", "NaN", "NaN"]
    assert 'ml_feature_drift_score{feature="say \\"hi\\""} 0.0' in text
    assert "# TYPE ml_predictions counter" in text and "# TYPE ml_prediction_latency_seconds histogram" in text
    frame = rec.to_frame()
    assert frame.shape[0] == 3 and rec.simulated(frame).index[0] == pd.Timestamp("2012-01-02")


def test_promtool_backfills_the_recording(tmp_path):
    require("promtool")
    tsdb = stack.backfill(_recorded(), tmp_path / "tsdb")
    assert [p for p in tsdb.iterdir() if p.is_dir()], "no TSDB block was written"


def test_the_recorder_scrapes_once_per_replay_step():
    from labkit.monitoring.service import ModelService, replay

    with ModelService() as service:
        rec = stack.ScrapeRecorder(service.exporter)
        run = replay(service=rec.wrap(service), start="2012-01-01", end="2012-01-11", progress=False)
        assert len(rec.steps) == run.n_steps == 10 and rec.steps[0] == pd.Timestamp("2012-01-02")
        series = rec.to_frame()
        assert series.filter(like="ml_predictions_total").iloc[-1, 0] == run.n_predictions


def test_missing_binaries_are_explained(monkeypatch):
    monkeypatch.setattr(stack.shutil, "which", lambda name: None)
    with pytest.raises(stack.MissingBinary, match="apt-get install prometheus"):
        stack.backfill(_recorded(), "unused")
    with pytest.raises(stack.MissingBinary, match="prometheus-alertmanager"):
        stack.AlertmanagerServer("http://127.0.0.1:1").__enter__()


# ---------------------------------------------------------------------------------------------
# the replayed year in Prometheus
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """Three months replayed, recorded, backfilled and served."""
    require("promtool", "prometheus")
    from labkit.monitoring.service import ModelService, replay

    with ModelService() as service:
        rec = stack.ScrapeRecorder(service.exporter)
        replay(service=rec.wrap(service), start="2012-01-01", end="2012-04-01", label_delay="2D",
               observed_at="timestamp", progress=False)
    tsdb = stack.backfill(rec, tmp_path_factory.mktemp("tsdb"))
    with stack.PrometheusServer(tsdb) as prom:
        yield rec, prom
    assert prom._proc.poll() is not None  # the server is gone


def test_the_lectures_queries_answer_over_the_replayed_period(year):
    rec, prom = year
    rate = prom.query_range("sum(rate(ml_predictions_total[5m]))", rec.times[0], rec.times[-1])
    # one scrape interval (60 s) per simulated day: the rate per second times 60 is predictions per day
    daily = rec.simulated(rate)["value"] * 60
    assert 20 <= daily.median() <= 24
    p95 = prom.query_range("histogram_quantile(0.95, rate(ml_prediction_latency_seconds_bucket[5m]))",
                           rec.times[0], rec.times[-1])
    assert p95.notna().any().all() and (p95.dropna() > 0).all().all()
    accuracy = prom.query("ml_model_accuracy", time=rec.times[-1])
    assert len(accuracy) == 1 and -5 < accuracy["value"].iloc[0] < 1
    assert len(prom.query_range("rate(ml_prediction_score_bucket[5m])", rec.times[0], rec.times[-1]).columns) == 11
    with pytest.raises(ValueError, match=r"query\(\): promql: expected an expression Prometheus accepts"):
        prom.query("rate(ml_predictions_total[5m]")


def _panel_queries():
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


@pytest.mark.parametrize("title, expr", _panel_queries(), ids=[f"{i}-{t}" for i, (t, _) in enumerate(_panel_queries())])
def test_every_grafana_panel_query_returns_data(year, title, expr):
    rec, prom = year
    versions = prom.label_values("model_version", "ml_predictions_total")
    assert versions, "the dashboard's model_version variable has no values"
    frame = prom.query_range(expr.replace("$model_version", "|".join(versions)), rec.times[0], rec.times[-1])
    assert not frame.empty and frame.notna().any().any(), f"{title}: {expr} returned no data"


def test_prometheus_and_labkit_fire_the_lab_rules_at_the_same_times(year):
    """monitoring/alert_rules.yml, evaluated by Prometheus (promtool) and by labkit on the same gauges."""
    rec, _ = year
    series = rec.to_frame()
    signals = stack.gauge_signals(series)
    rules = [r for r in lab_rules() if set(r.signals) <= set(signals.columns)]
    prom = stack.prometheus_firing(series)
    labkit = evaluate(rules, signals, interval="30s").firing(series.index)
    assert labkit.any().sum() >= 3  # error, accuracy and drift rules fire in early 2012
    pd.testing.assert_frame_equal(labkit, prom[labkit.columns], check_freq=False)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([0.0, 1.0, 1.0, np.nan, None]), min_size=4, max_size=30),
       st.integers(0, 3), st.integers(0, 3))
def test_for_keep_firing_for_nan_and_absent_samples_match_promtool(values, for_, keep):
    """NaN is a sample that fails the condition; None is no sample: the last one stays visible for the
    lookback (5 minutes), then the condition is absent. labkit and Prometheus agree on both."""
    require("promtool")
    times = pd.date_range("2012-01-01", periods=len(values), freq="1min")
    present = [v is not None for v in values]
    series = pd.DataFrame({"x": [np.nan if v is None else v for v in values]}, index=times)[present]
    if series.empty:
        return
    rule = Rule("R", "x", ">", 0.5, for_=f"{for_}m", keep_firing_for=f"{keep}m")
    prom = stack.prometheus_firing(series, [rule])
    grid = pd.date_range(series.index[0], series.index[-1], freq="1min")
    labkit = evaluate(rule, series, interval="1m").firing(grid)
    assert labkit["R"].tolist() == prom["R"].tolist()


def test_keep_firing_for_is_exported_and_checked_by_promtool(tmp_path):
    require("promtool")
    from labkit.alerting.prometheus import check_rules, write_rules

    path = write_rules(tmp_path / "r.yml", [Rule("R", "mae", ">", 40, for_="10m", keep_firing_for="15m")])
    assert "keep_firing_for: 15m" in path.read_text() and check_rules(path).ok


# ---------------------------------------------------------------------------------------------
# Alertmanager
# ---------------------------------------------------------------------------------------------
def test_the_alertmanager_config_is_valid():
    require("amtool")
    out = shutil.which("amtool")
    import subprocess

    proc = subprocess.run([out, "check-config", str(stack.ALERTMANAGER_FILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alertmanager_groups_inhibits_silences_and_reaches_the_labkit_receiver():
    require("alertmanager")
    days = pd.date_range("2012-06-01", periods=4, freq="D")
    m = pd.DataFrame({"mae": [60, 30, 60, 30], "missing": [0.2, 0, 0.3, 0], "age": [9e5, 0, 0, 0]}, index=days)
    history = evaluate([Rule("ModelErrorHigh", "mae", ">", 50, severity="critical"),
                        Rule("ModelErrorHigh", "mae", ">", 40, severity="high"),
                        Rule("MissingValues", "missing", ">", 0.1),
                        Rule("StaleFeatures", "age", ">", 3600, severity="low")], m)
    out = io.StringIO()
    with stack.AlertmanagerReceiver([ConsoleNotifier(out)]) as receiver, stack.AlertmanagerServer(receiver.url) as am:
        am.silence({"alertname": "StaleFeatures"}, comment="the weather feed is known to be frozen")
        assert am.post(history) == 7
        receiver.wait()
    got = {(route, n.title) for route, n in zip(receiver.routes, receiver.notifications)}
    assert got == {("pager", "[FIRING:2] ModelErrorHigh (critical)"), ("chat", "[FIRING:2] MissingValues (medium)")}
    assert "[FIRING:2] ModelErrorHigh (critical)" in out.getvalue()
    assert am._proc.poll() is not None
