"""Prometheus metrics for the lab's model service, in a registry of their own, served on loopback.

The metric names (:data:`METRIC_NAMES`) are a contract: the Grafana dashboard and the alerting rules
in ``monitoring/`` query them. They follow the lecture (``ml_predictions_total``,
``ml_prediction_latency_seconds``, ``ml_prediction_score``, ``ml_model_accuracy``) and add error,
label-coverage and per-feature data-quality gauges; ``monitoring/README.md`` has the table and
``docs/monitoring.md`` why R² stands in for accuracy. Counters and histograms are cumulative; gauges
hold the latest value. Every exporter owns a fresh ``CollectorRegistry``, so notebooks can create as
many as they like and tests never collide. A NaN or negative value never reaches a sum or a bucket:
it is counted in ``ml_prediction_invalid_total``. Gauges of a model version or a feature that is no
longer reported are removed, so Prometheus never sees stale series.

Examples
--------
>>> exp = MetricsExporter()
>>> exp.observe_predictions([120.0, 35.5], latency_seconds=0.004, model_version="v1")
>>> exp.set_model_quality("v1", r2=0.81, mae=30.2, rmse=48.0, label_coverage=0.5)
>>> [line for line in exp.exposition().splitlines() if line.startswith("ml_model_accuracy")]
['ml_model_accuracy{model_version="v1"} 0.81']
"""
from __future__ import annotations

import ipaddress
import logging
import math
import numbers
import threading
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from labkit._validate import check_int, check_type, fail

__all__ = ["METRIC_NAMES", "LATENCY_BUCKETS", "SCORE_BUCKETS", "DEFAULT_PORT", "MetricsExporter", "MetricsServer"]

logger = logging.getLogger(__name__)

#: Every metric family the exporter defines, with its type (the contract the dashboards rely on).
METRIC_NAMES = {
    "ml_predictions_total": "counter",
    "ml_prediction_invalid_total": "counter",
    "ml_prediction_latency_seconds": "histogram",
    "ml_prediction_score": "histogram",
    "ml_model_accuracy": "gauge",
    "ml_model_mae": "gauge",
    "ml_model_rmse": "gauge",
    "ml_label_coverage_ratio": "gauge",
    "ml_data_completeness_ratio": "gauge",
    "ml_feature_drift_score": "gauge",
    "ml_feature_missing_ratio": "gauge",
    "ml_feature_age_seconds": "gauge",
}
#: Latency buckets (s): fine below 10 ms where the lab's model answers, 0.5 s for the lecture's alert.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Prediction buckets in rentals per hour (the data's hourly counts run from 1 to 977).
SCORE_BUCKETS = (0, 25, 50, 100, 200, 300, 400, 600, 800, 1000)
#: Where monitoring/prometheus.yml expects the exporter.
DEFAULT_PORT = 8000


def _number_or_nan(value, argument: str, func: str) -> float:
    if value is None:
        return math.nan
    check_type(value, numbers.Real, argument, func=func, expected="a number (or None for unknown)",
               fix="pass a float, e.g. the r2 from windowed_metrics()")
    return float(value)


class MetricsExporter:
    """The lab's Prometheus metrics in a dedicated ``registry`` (pass it to your own handler if you like).

    ``latency_buckets`` and ``score_buckets`` default to :data:`LATENCY_BUCKETS` and :data:`SCORE_BUCKETS`.
    """

    def __init__(self, *, latency_buckets: Iterable[float] = LATENCY_BUCKETS,
                 score_buckets: Iterable[float] = SCORE_BUCKETS):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = r = CollectorRegistry(auto_describe=True)
        version, feature = ["model_version"], ["feature"]
        self.predictions = Counter("ml_predictions_total", "Total number of predictions served",
                                   ["model_version", "endpoint"], registry=r)
        self.invalid = Counter("ml_prediction_invalid_total", "Predictions or latencies not observed "
                               "because they were NaN, infinite or negative", ["model_version", "value"], registry=r)
        self.latency = Histogram("ml_prediction_latency_seconds", "Prediction request latency in seconds", version,
                                 buckets=tuple(latency_buckets), registry=r)
        self.score = Histogram("ml_prediction_score", "Distribution of predictions (rentals per hour)", version,
                               buckets=tuple(score_buckets), registry=r)
        self.quality = {  # the model's gauges, by the keyword of set_model_quality
            "r2": Gauge("ml_model_accuracy", "R^2 over the latest labelled window (regression stand-in for "
                        "accuracy)", version, registry=r),
            "mae": Gauge("ml_model_mae", "Mean absolute error over the latest labelled window (rentals/hour)",
                         version, registry=r),
            "rmse": Gauge("ml_model_rmse", "Root mean squared error over the latest labelled window (rentals/hour)",
                          version, registry=r),
            "label_coverage": Gauge("ml_label_coverage_ratio", "Share of recent predictions whose label arrived",
                                    version, registry=r),
            "completeness": Gauge("ml_data_completeness_ratio", "Records received / expected in the latest window "
                                  "(missing rows, e.g. an outage)", version, registry=r),
        }
        self.feature_quality = {  # the per-feature gauges, by the keyword of set_feature_quality
            "drift": Gauge("ml_feature_drift_score", "Drift score of the latest window against the reference",
                           feature, registry=r),
            "missing": Gauge("ml_feature_missing_ratio", "Share of missing values in the latest window", feature,
                             registry=r),
            "age": Gauge("ml_feature_age_seconds", "Age of the oldest input value in the latest window (seconds)",
                         feature, registry=r),
        }
        self._lock = threading.Lock()
        self._shown: dict = {}  # gauge -> the label values it exports now

    def _show(self, gauge, values: Mapping[str, float]) -> None:
        """Set ``gauge`` to ``values`` {label: value} and remove the labels it had before but not now."""
        with self._lock:
            before = self._shown.get(gauge, set())
            for label, value in values.items():
                gauge.labels(label).set(value)
            for label in before - set(values):
                gauge.remove(label)
            self._shown[gauge] = set(values)

    # ------------------------------------------------------------------ updates
    def observe_predictions(self, predictions, *, latency_seconds: float | None = None, model_version: str,
                            endpoint: str = "/predict") -> None:
        """Record one request: count its predictions, observe its latency once and each prediction.

        NaN or infinite predictions, and a NaN, infinite or negative latency, are counted in
        ``ml_prediction_invalid_total`` instead of reaching the histograms.
        """
        values = np.asarray(predictions, dtype=float).reshape(-1)
        finite = np.isfinite(values)
        self.predictions.labels(model_version=model_version, endpoint=endpoint).inc(values.size)
        if not finite.all():
            self.invalid.labels(model_version=model_version, value="prediction").inc(int((~finite).sum()))
        if latency_seconds is not None:
            latency = float(latency_seconds)
            if math.isfinite(latency) and latency >= 0:
                self.latency.labels(model_version=model_version).observe(latency)
            else:
                self.invalid.labels(model_version=model_version, value="latency").inc()
        hist = self.score.labels(model_version=model_version)
        for v in values[finite].tolist():
            hist.observe(v)

    def set_model_quality(self, model_version: str, *, r2=None, mae=None, rmse=None, label_coverage=None,
                          completeness=None) -> None:
        """Set the model's gauges (None or NaN: unknown, exported as NaN); other versions' gauges go away."""
        given = {"r2": r2, "mae": mae, "rmse": rmse, "label_coverage": label_coverage, "completeness": completeness}
        for key, gauge in self.quality.items():
            self._show(gauge, {model_version: _number_or_nan(given[key], key, "set_model_quality")})

    def set_feature_quality(self, *, drift: Mapping[str, float] | None = None,
                            missing: Mapping[str, float] | None = None, age: Mapping[str, float] | None = None) -> None:
        """Set the per-feature gauges from ``{feature: value}`` (NaN = unknown); a feature left out of a
        mapping disappears from that gauge. A gauge given None is left as it is."""
        for key, values in (("drift", drift), ("missing", missing), ("age", age)):
            if values is None:
                continue
            check_type(values, Mapping, key, func="set_feature_quality", expected="a mapping {feature: value}",
                       fix="pass e.g. {'temp': 0.12}")
            self._show(self.feature_quality[key], {str(f): _number_or_nan(v, f"{key}[{f!r}]", "set_feature_quality")
                                                   for f, v in values.items()})

    # ------------------------------------------------------------------ exposition
    def exposition(self) -> str:
        """The metrics in Prometheus' text format (what ``/metrics`` serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int = DEFAULT_PORT, *, host: str = "127.0.0.1") -> "MetricsServer":
        """Serve ``/metrics`` over HTTP on a loopback address (the lab never listens on the network), in
        a daemon thread. ``port=0`` picks a free port; 8000 is what ``monitoring/prometheus.yml`` scrapes."""
        from prometheus_client import start_http_server

        check_int(port, "port", func="serve", low=0, high=65535, fix="pass 0 for a free port")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise fail("serve", "host", "a loopback address (127.0.0.1, ::1 or localhost)", host,
                       "run Prometheus on the same machine and scrape 127.0.0.1")
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise fail("serve", "port", f"a free port on {host}", port, f"stop whatever uses it, or pass port=0 for a "
                       f"free one (and point prometheus.yml at it) ({exc})", OSError) from exc
        logger.info("serving Prometheus metrics on http://%s:%d/metrics", host, server.server_port)
        return MetricsServer(host=host, port=server.server_port, _server=server, _thread=thread)


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; :meth:`close` stops it (also on leaving a ``with`` block)."""

    host: str
    port: int
    _server: object = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    closed: bool = False

    @property
    def url(self) -> str:
        """``http://host:port/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and release the port (safe to call twice)."""
        if not self.closed:
            self.closed = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout)

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
