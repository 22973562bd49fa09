"""Prometheus metrics for the lab's model service, in a registry of their own, served on loopback.

The metric names are a contract: the Grafana dashboard and the alerting rules in ``monitoring/``
query them. They follow the lecture (``ml_predictions_total``, ``ml_prediction_latency_seconds``,
``ml_prediction_score``, ``ml_model_accuracy``) and add error, label-coverage and per-feature
data-quality gauges:

=================================  =========  =====================  ===========================================
name                               type       labels                 meaning
=================================  =========  =====================  ===========================================
``ml_predictions_total``           counter    model_version,         predictions served
                                              endpoint
``ml_prediction_latency_seconds``  histogram  model_version          seconds per request (one observation each)
``ml_prediction_score``            histogram  model_version          predicted rentals per hour (one per row)
``ml_model_accuracy``              gauge      model_version          R² over the latest labelled window
``ml_model_mae``                   gauge      model_version          MAE over the latest labelled window
``ml_model_rmse``                  gauge      model_version          RMSE over the latest labelled window
``ml_label_coverage_ratio``        gauge      model_version          share of recent predictions with a label
``ml_feature_drift_score``         gauge      feature                drift score of the latest window
``ml_feature_missing_ratio``       gauge      feature                share of missing values, latest window
``ml_feature_age_seconds``         gauge      feature                age of the oldest input, latest window
=================================  =========  =====================  ===========================================

Why R² is the "accuracy": the lecture's ``ml_model_accuracy`` belongs to a classifier. The lab's
model is a regressor (rentals per hour), where accuracy is undefined; R² plays its role - unitless,
1 is perfect, "higher is better", so the lecture's alert ``ml_model_accuracy < 0.85`` keeps its
shape (the baseline scores R² ≈ 0.85 on its reference period). MAE and RMSE, in rentals per hour,
are exported next to it because R² alone hides the scale of the error and moves with the variance
of demand.

The counter and histograms are cumulative, as Prometheus expects; the gauges hold the latest
value. Every exporter owns a fresh ``CollectorRegistry`` (never prometheus_client's global one),
so notebooks can create as many as they like and tests never collide.

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
import threading
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "METRIC_NAMES",
    "LATENCY_BUCKETS",
    "SCORE_BUCKETS",
    "DEFAULT_PORT",
    "MetricsExporter",
    "MetricsServer",
]

logger = logging.getLogger(__name__)

#: Every metric family the exporter defines, with its type (the contract the dashboards rely on).
METRIC_NAMES = {
    "ml_predictions_total": "counter",
    "ml_prediction_latency_seconds": "histogram",
    "ml_prediction_score": "histogram",
    "ml_model_accuracy": "gauge",
    "ml_model_mae": "gauge",
    "ml_model_rmse": "gauge",
    "ml_label_coverage_ratio": "gauge",
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


def _number_or_nan(value, name):
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number (or None for unknown), got {value!r}. "
                        "Fix: pass a float, e.g. the r2 from windowed_metrics().") from None


class MetricsExporter:
    """The lab's Prometheus metrics in a dedicated registry.

    Parameters
    ----------
    latency_buckets : sequence of float, default :data:`LATENCY_BUCKETS`
    score_buckets : sequence of float, default :data:`SCORE_BUCKETS`

    Attributes
    ----------
    registry : prometheus_client.CollectorRegistry
        The registry holding the metrics (pass it to your own HTTP handler if you like).
    """

    def __init__(self, *, latency_buckets: Iterable[float] = LATENCY_BUCKETS,
                 score_buckets: Iterable[float] = SCORE_BUCKETS):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.predictions = Counter("ml_predictions_total", "Total number of predictions served",
                                   ["model_version", "endpoint"], registry=r)
        self.latency = Histogram("ml_prediction_latency_seconds", "Prediction request latency in seconds",
                                 ["model_version"], buckets=tuple(latency_buckets), registry=r)
        self.score = Histogram("ml_prediction_score", "Distribution of predictions (rentals per hour)",
                               ["model_version"], buckets=tuple(score_buckets), registry=r)
        self.accuracy = Gauge("ml_model_accuracy",
                              "R^2 over the latest labelled window (regression stand-in for accuracy)",
                              ["model_version"], registry=r)
        self.mae = Gauge("ml_model_mae", "Mean absolute error over the latest labelled window (rentals/hour)",
                         ["model_version"], registry=r)
        self.rmse = Gauge("ml_model_rmse", "Root mean squared error over the latest labelled window (rentals/hour)",
                          ["model_version"], registry=r)
        self.label_coverage = Gauge("ml_label_coverage_ratio", "Share of recent predictions whose label arrived",
                                    ["model_version"], registry=r)
        self.drift = Gauge("ml_feature_drift_score", "Drift score of the latest window against the reference",
                           ["feature"], registry=r)
        self.missing = Gauge("ml_feature_missing_ratio", "Share of missing values in the latest window",
                             ["feature"], registry=r)
        self.age = Gauge("ml_feature_age_seconds", "Age of the oldest input value in the latest window (seconds)",
                         ["feature"], registry=r)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ updates
    def observe_predictions(self, predictions, *, latency_seconds: float | None = None, model_version: str,
                            endpoint: str = "/predict") -> None:
        """Record one request: count its predictions, observe its latency once and each prediction.

        Parameters
        ----------
        predictions : array-like of float
            The request's predictions (one or many rows).
        latency_seconds : float, optional
            How long the request took (one histogram observation per request).
        model_version : str
        endpoint : str, default "/predict"
        """
        values = np.asarray(predictions, dtype=float).reshape(-1)
        self.predictions.labels(model_version=model_version, endpoint=endpoint).inc(values.size)
        if latency_seconds is not None:
            self.latency.labels(model_version=model_version).observe(float(latency_seconds))
        hist = self.score.labels(model_version=model_version)
        for v in values.tolist():
            hist.observe(v)

    def set_model_quality(self, model_version: str, *, r2=None, mae=None, rmse=None, label_coverage=None) -> None:
        """Set the performance gauges; None (or NaN) means unknown and is exported as NaN."""
        self.accuracy.labels(model_version=model_version).set(_number_or_nan(r2, "r2"))
        self.mae.labels(model_version=model_version).set(_number_or_nan(mae, "mae"))
        self.rmse.labels(model_version=model_version).set(_number_or_nan(rmse, "rmse"))
        self.label_coverage.labels(model_version=model_version).set(
            _number_or_nan(label_coverage, "label_coverage"))

    def set_feature_quality(self, *, drift: Mapping[str, float] | None = None,
                            missing: Mapping[str, float] | None = None,
                            age: Mapping[str, float] | None = None) -> None:
        """Set the per-feature gauges from ``{feature: value}`` mappings (NaN = unknown)."""
        for gauge, values, name in ((self.drift, drift, "drift"), (self.missing, missing, "missing"),
                                    (self.age, age, "age")):
            if values is None:
                continue
            if not isinstance(values, Mapping):
                raise TypeError(f"{name}: expected a mapping {{feature: value}}, got {type(values).__name__}. "
                                "Fix: pass e.g. {'temp': 0.12}.")
            for feature, value in values.items():
                gauge.labels(feature=str(feature)).set(_number_or_nan(value, f"{name}[{feature!r}]"))

    def update_from_windows(self, windows: pd.DataFrame, *, model_version: str) -> None:
        """Set every gauge from :func:`labkit.windows.windowed_metrics` output.

        Performance gauges come from the latest window that has labels (NaN if none has); label
        coverage, drift, missing ratio and feature age from the latest window.
        """
        if not isinstance(windows, pd.DataFrame) or len(windows) == 0:
            raise ValueError("windows: expected the non-empty frame windowed_metrics() returns, got "
                             f"{type(windows).__name__} of length {len(windows) if hasattr(windows, '__len__') else '?'}. "
                             "Fix: compute windowed_metrics(log, reference=...) first.")
        need = ["n_labelled", "r2", "mae", "rmse", "label_coverage"]
        missing = [c for c in need if c not in windows.columns]
        if missing:
            raise ValueError(f"windows: expected the columns of windowed_metrics() ({need}), got a frame without "
                             f"{missing}. Fix: pass windowed_metrics(...) output unchanged.")
        labelled = windows[windows["n_labelled"] > 0]
        perf = labelled.iloc[-1] if len(labelled) else None
        last = windows.iloc[-1]
        self.set_model_quality(
            model_version,
            r2=None if perf is None else perf["r2"], mae=None if perf is None else perf["mae"],
            rmse=None if perf is None else perf["rmse"], label_coverage=last["label_coverage"])
        features = windows.attrs.get("features") or [c[len("drift_"):] for c in windows.columns
                                                     if c.startswith("drift_")]
        self.set_feature_quality(
            drift={f: last.get(f"drift_{f}") for f in features if f"drift_{f}" in windows.columns},
            missing={f: last.get(f"missing_{f}") for f in features if f"missing_{f}" in windows.columns},
            age={f: last.get(f"age_{f}") for f in features if f"age_{f}" in windows.columns})

    # ------------------------------------------------------------------ exposition
    def exposition(self) -> str:
        """The metrics in Prometheus' text format (what ``/metrics`` serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int = DEFAULT_PORT, *, host: str = "127.0.0.1") -> "MetricsServer":
        """Serve ``/metrics`` over HTTP on a loopback address, in a daemon thread.

        Parameters
        ----------
        port : int, default 8000
            0 picks a free port (see ``MetricsServer.port``). 8000 is what
            ``monitoring/prometheus.yml`` scrapes.
        host : str, default "127.0.0.1"
            Must be a loopback address: the lab never listens on the network.

        Returns
        -------
        MetricsServer
            ``.port``, ``.url``, ``.close()``; also a context manager.
        """
        from prometheus_client import start_http_server

        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"port: expected an integer in 0..65535, got {port!r}. Fix: pass 0 for a free port.")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"host: expected a loopback address (127.0.0.1, ::1 or localhost), got {host!r}. "
                             "Fix: run Prometheus on the same machine and scrape 127.0.0.1; the lab does not "
                             "expose metrics to the network.")
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise OSError(f"port: could not listen on {host}:{port} ({exc}). Fix: stop whatever uses the port, "
                          "or pass port=0 for a free one (and point prometheus.yml at it).") from exc
        bound = server.server_port
        logger.info("serving Prometheus metrics on http://%s:%d/metrics", host, bound)
        return MetricsServer(host=host, port=bound, _server=server, _thread=thread)


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
        if self.closed:
            return
        self.closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
