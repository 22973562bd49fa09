"""labkit.monitoring.exporter: the metric contract, a real HTTP scrape on loopback, a registry of its own."""
from __future__ import annotations

import math
import socket
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from labkit.monitoring.exporter import LATENCY_BUCKETS, METRIC_NAMES, SCORE_BUCKETS, MetricsExporter


def parse(text: str) -> dict:
    """{sample name: {frozenset(labels): value}} and the family types."""
    samples, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return samples, types


def one(samples, name, **labels):
    return samples[name][frozenset(labels.items())]


def busy_exporter() -> MetricsExporter:
    exp = MetricsExporter()
    exp.observe_predictions([10.0, 120.0, 950.0], latency_seconds=0.004, model_version="v1")
    exp.observe_predictions([-3.0], latency_seconds=0.7, model_version="v1", endpoint="/batch")
    exp.set_model_quality("v1", r2=0.82, mae=31.5, rmse=49.0, label_coverage=0.75)
    exp.set_feature_quality(drift={"temp": 0.31, "hr": 0.02}, missing={"temp": 0.1, "hr": 0.0},
                            age={"temp": 3600.0, "hr": float("nan")})
    return exp


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode("utf-8")


def test_scrape_over_real_http_and_close():
    exp = busy_exporter()
    server = exp.serve(0)
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/metrics"
        samples, types = parse(scrape(server.url))
    finally:
        server.close()
    assert one(samples, "ml_predictions_total", model_version="v1", endpoint="/predict") == 3
    assert one(samples, "ml_predictions_total", model_version="v1", endpoint="/batch") == 1
    assert one(samples, "ml_prediction_latency_seconds_count", model_version="v1") == 2
    assert one(samples, "ml_prediction_latency_seconds_sum", model_version="v1") == pytest.approx(0.704)
    assert one(samples, "ml_prediction_latency_seconds_bucket", model_version="v1", le="0.005") == 1
    assert one(samples, "ml_prediction_latency_seconds_bucket", model_version="v1", le="0.5") == 1
    assert one(samples, "ml_prediction_latency_seconds_bucket", model_version="v1", le="1.0") == 2
    score = {dict(k)["le"]: v for k, v in samples["ml_prediction_score_bucket"].items()}
    assert score == {"0.0": 1, "25.0": 2, "50.0": 2, "100.0": 2, "200.0": 3, "300.0": 3, "400.0": 3,
                     "600.0": 3, "800.0": 3, "1000.0": 4, "+Inf": 4}
    assert one(samples, "ml_prediction_score_sum", model_version="v1") == pytest.approx(1077.0)
    assert one(samples, "ml_model_accuracy", model_version="v1") == 0.82
    assert one(samples, "ml_model_mae", model_version="v1") == 31.5
    assert one(samples, "ml_model_rmse", model_version="v1") == 49.0
    assert one(samples, "ml_label_coverage_ratio", model_version="v1") == 0.75
    assert one(samples, "ml_feature_drift_score", feature="temp") == 0.31
    assert one(samples, "ml_feature_missing_ratio", feature="temp") == 0.1
    assert one(samples, "ml_feature_age_seconds", feature="temp") == 3600.0
    assert math.isnan(one(samples, "ml_feature_age_seconds", feature="hr"))
    # the port is released: nothing listens any more
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(server.url, timeout=5)
    server.close()  # twice is harmless


def test_metric_names_and_types_are_the_contract():
    samples, types = parse(busy_exporter().exposition())
    expected = {name[: -len("_total")] if kind == "counter" else name: kind for name, kind in METRIC_NAMES.items()}
    ours = {name: kind for name, kind in types.items() if name.startswith("ml_") and not name.endswith("_created")}
    assert ours == expected
    assert {"ml_prediction_latency_seconds_bucket", "ml_prediction_latency_seconds_count",
            "ml_prediction_latency_seconds_sum", "ml_prediction_score_bucket", "ml_predictions_total"} <= set(samples)
    assert SCORE_BUCKETS == (0, 25, 50, 100, 200, 300, 400, 600, 800, 1000) and 0.5 in LATENCY_BUCKETS


def test_each_exporter_has_its_own_registry():
    a, b = MetricsExporter(), MetricsExporter()  # no "Duplicated timeseries" error
    a.observe_predictions([1.0], model_version="v1")
    sa, _ = parse(a.exposition())
    sb, _ = parse(b.exposition())
    assert one(sa, "ml_predictions_total", model_version="v1", endpoint="/predict") == 1
    assert "ml_predictions_total" not in sb
    assert REGISTRY.get_sample_value("ml_predictions_total", {"model_version": "v1", "endpoint": "/predict"}) is None


def test_unknown_values_are_nan_and_bad_values_are_refused():
    exp = MetricsExporter()
    exp.set_model_quality("v2", r2=None, mae=float("nan"))
    samples, _ = parse(exp.exposition())
    assert math.isnan(one(samples, "ml_model_accuracy", model_version="v2"))
    with pytest.raises(TypeError, match=r"r2: expected a number \(or None for unknown\), got 'good'"):
        exp.set_model_quality("v2", r2="good")
    with pytest.raises(TypeError, match=r"drift: expected a mapping \{feature: value\}"):
        exp.set_feature_quality(drift=[0.1])


def test_serve_only_on_loopback_and_clear_port_errors():
    exp = MetricsExporter()
    with pytest.raises(ValueError, match=r"host: expected a loopback address .* got '0.0.0.0'"):
        exp.serve(0, host="0.0.0.0")
    with pytest.raises(ValueError, match=r"port: expected an int in \[0, 65535\], got -1"):
        exp.serve(-1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"port: expected a free port on 127.0.0.1, got {port}.*Fix: .*port=0"):
            exp.serve(port)
    with exp.serve(0, host="localhost") as server:
        assert "# TYPE ml_predictions_total counter" in scrape(server.url)
    assert server.closed
