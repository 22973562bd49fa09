"""The lab's model as a service under observation, and a replay of production through it.

:class:`ModelService` wraps a model: each :meth:`~ModelService.predict` call is one request, timed,
logged by a :class:`~labkit.monitoring.prediction_log.PredictionLogger` and counted by a
:class:`~labkit.monitoring.exporter.MetricsExporter`. Labels that arrive later go through
:meth:`~ModelService.record_labels`; :meth:`~ModelService.refresh_metrics` updates the gauges.

:func:`replay` streams a period of the hourly data through a service, one request per step (a
simulated day by default), labels arriving ``label_delay`` after their hour, in *simulated* time:
the whole of 2012 takes seconds.

Examples
--------
>>> import tempfile, numpy as np, pandas as pd
>>> class Mean:                      # any object with .features and .predict(frame) will do
...     features = ("temp", "hr")
...     def predict(self, frame):
...         return np.full(len(frame), 100.0)
>>> tmp = tempfile.TemporaryDirectory()
>>> data = pd.DataFrame({"timestamp": pd.date_range("2012-01-01", periods=72, freq="h"),
...                      "temp": 0.3, "hr": np.arange(72) % 24, "cnt": 90.0})
>>> with ModelService(Mean(), reference=data, log_path=f"{tmp.name}/log.sqlite") as service:
...     result = replay(data, service=service, start="2012-01-01", end="2012-01-04",
...                     label_delay="1D", progress=False)
>>> result.n_predictions, result.n_labels, result.n_labels_pending
(72, 48, 24)
>>> tmp.cleanup()
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from labkit import drift
from labkit._validate import (as_timestamp, check_columns, check_datetimes, check_duration, check_frame, check_int,
                              check_number, check_share, fail)
from labkit._windows import as_offset, window_starts
from labkit.monitoring.exporter import MetricsExporter
from labkit.monitoring.prediction_log import PredictionLogger, epoch_seconds, resolve_log_path
from labkit.monitoring.windows import expected_interval, feature_kinds, window_ends, windowed_metrics

__all__ = ["ServiceSpec", "ModelService", "ReplaySpec", "ReplayResult", "replay"]

logger = logging.getLogger(__name__)


def _per_process(name: str) -> str:
    """``replay.sqlite`` -> ``replay-<pid>.sqlite``: two kernels running at once never share a file."""
    stem, _, suffix = name.rpartition(".")
    return f"{stem}-{os.getpid()}.{suffix}"


def _ns(seconds: np.ndarray) -> np.ndarray:
    """Unix seconds -> int nanoseconds, to the microsecond (as the log stores them)."""
    return np.round(np.asarray(seconds, dtype=float) * 1e6).astype(np.int64) * 1000


@dataclass(frozen=True)
class ServiceSpec:
    """How a :class:`ModelService` serves and measures: ``endpoint`` labels ``ml_predictions_total``;
    performance gauges cover ``quality_window`` of event time up to the latest labelled prediction;
    drift, missing and freshness gauges ``feature_window`` up to now; ``time_col`` holds a request's
    event time; ``model_threads`` caps the model's native threads per request (OpenMP spinning on a
    busy 2-core machine made predict ~10x slower; None keeps the libraries' defaults); one record is
    expected per ``expected_every`` of event time, for the completeness gauge (None: no gauge)."""

    endpoint: str = "/predict"
    quality_window: str = "7D"
    feature_window: str = "1D"
    time_col: str = "timestamp"
    model_threads: int | None = 1
    expected_every: str | None = "h"

    def __post_init__(self):
        for name in ("quality_window", "feature_window"):
            check_duration(getattr(self, name), name, func="ServiceSpec", positive=True)
        if self.expected_every is not None:
            expected_interval(self.expected_every, func="ServiceSpec")
        if self.model_threads is not None:
            check_int(self.model_threads, "model_threads", func="ServiceSpec", low=1, fix="pass 1 (default) or None")


class ModelService:
    """A model behind a predict call, with logging and Prometheus metrics; safe to call from many threads.

    ``model`` is anything with ``features`` and ``predict(frame)`` (default: the lab's baseline);
    ``logger`` defaults to a new one on ``log_path`` (``artifacts_dir("logs")/service-<pid>.sqlite``),
    closed with the service; ``exporter`` to a new one; ``model_version`` to ``"baseline-<fingerprint>"``;
    ``reference`` (what drift and range signals compare with) to ``model.reference``.
    """

    def __init__(self, model=None, *, logger: PredictionLogger | None = None, exporter: MetricsExporter | None = None,
                 model_version: str | None = None, reference: pd.DataFrame | None = None, log_path=None,
                 spec: ServiceSpec | None = None):
        f = "ModelService"
        if model is None:
            from labkit.baseline import get_baseline

            model = get_baseline()
        if not (hasattr(model, "predict") and hasattr(model, "features")):
            raise fail(f, "model", "an object with .features and .predict(frame), e.g. get_baseline()",
                       f"<{type(model).__name__}>", "wrap your estimator so it has both", TypeError)
        self.model, self.features = model, tuple(model.features)
        self.spec = spec if spec is not None else ServiceSpec()
        fp = getattr(model, "fingerprint", "")
        self.model_version = model_version or (f"baseline-{fp[:8]}" if fp else "unversioned")
        self.reference = reference if reference is not None else getattr(model, "reference", None)
        if self.reference is not None:
            check_columns(self.reference, self.features, "reference", func=f, frame="reference")
        self._owns_logger = logger is None
        if logger is None:
            logger = PredictionLogger(resolve_log_path(log_path, _per_process("service.sqlite")),
                                      features=self.features, model_version=self.model_version)
        elif tuple(logger.features) != self.features:
            raise fail(f, "logger", f"a logger declared for the model's features {list(self.features)}",
                       list(logger.features), "create PredictionLogger(features=model.features)")
        self.logger = logger
        self.exporter = exporter if exporter is not None else MetricsExporter()
        self._quality_ns = check_duration(self.spec.quality_window, "quality_window", func=f).value
        self._feature_ns = check_duration(self.spec.feature_window, "feature_window", func=f).value
        self._expected = self._feature_ns / expected_interval(self.spec.expected_every, func=f).value \
            if self.spec.expected_every else math.nan  # records expected in a feature window
        empty = pd.DataFrame({name: pd.Series(dtype=float) for name in self.features})
        kinds = feature_kinds(self.reference if self.reference is not None else empty, self.features)
        self._reference_values = {}  # per feature: (kind, values) for the drift gauges
        for name, kind in kinds.items():
            values = empty[name] if self.reference is None else self.reference[name].dropna()
            if len(values):
                self._reference_values[name] = (kind, values.to_numpy(float) if kind == "numerical"
                                                else values.astype(object).to_numpy())
        self._threadpools = None
        self._lock = threading.Lock()  # guards the in-memory view below
        self._chunks: list[tuple] = []  # (times_ns, {feature: values}, {feature: ages}) per request
        self._times, self._preds = np.empty(0, np.int64), np.empty(0)
        self._labels, self._label_times = np.empty(0), np.empty(0, np.int64)
        self._position: dict[str, int] = {}
        self._closed = False

    def _limit_threads(self):
        if self.spec.model_threads is None:
            return contextlib.nullcontext()
        if self._threadpools is None:  # created after the model is loaded, so its OpenMP runtime is found
            from threadpoolctl import ThreadpoolController

            self._threadpools = ThreadpoolController()
        return self._threadpools.limit(limits=self.spec.model_threads)

    # ------------------------------------------------------------------ requests
    def predict(self, rows: pd.DataFrame, *, event_time=None, observed_at=None) -> pd.DataFrame:
        """Serve one request: predict, time it, log every row, count it; return ``prediction_id`` and
        ``prediction`` indexed like ``rows``.

        ``event_time`` defaults to ``rows[spec.time_col]`` (else now); ``observed_at`` is when the
        inputs were observed (one time, one per row, or a frame of per-feature times).
        """
        if self._closed:
            raise fail("predict", "service", "an open service", "<closed>", "create a new ModelService", RuntimeError)
        check_frame(rows, "rows", func="predict", fix="send at least one row; wrap a single row as pd.DataFrame([row])")
        check_columns(rows, self.features, "rows", func="predict", frame="rows")
        n = len(rows)
        if event_time is None and self.spec.time_col in rows.columns:
            event_time = rows[self.spec.time_col]
        times = epoch_seconds(event_time, n, argument="event_time", func="predict")
        with self._limit_threads():
            start = time.perf_counter()
            predictions = np.asarray(self.model.predict(rows[list(self.features)]), dtype=float).reshape(-1)
            latency = time.perf_counter() - start
        ids = self.logger.log_batch(rows, predictions, event_time=times, latency_seconds=latency,
                                    observed_at=observed_at, model_version=self.model_version)
        if ids is not None:
            self.exporter.observe_predictions(predictions, latency_seconds=latency, model_version=self.model_version,
                                              endpoint=self.spec.endpoint)
            self._remember(rows, predictions, ids, _ns(times), observed_at)
        return pd.DataFrame({"prediction_id": ids if ids is not None else [None] * n, "prediction": predictions},
                            index=rows.index)

    def _remember(self, rows, predictions, ids, times, observed_at):
        n = len(rows)
        values = {f: rows[f].to_numpy() for f in self.features}
        if observed_at is None:
            ages = {}
        elif isinstance(observed_at, pd.DataFrame):
            ages = {f: (times - _ns(epoch_seconds(observed_at[f], n))) / 1e9 for f in observed_at.columns}
        else:
            ages = dict.fromkeys(self.features, (times - _ns(epoch_seconds(observed_at, n))) / 1e9)
        with self._lock:
            base = len(self._times)
            self._position.update(zip(ids, range(base, base + n)))
            self._times = np.concatenate([self._times, times])
            self._preds = np.concatenate([self._preds, predictions])
            self._labels = np.concatenate([self._labels, np.full(n, np.nan)])
            self._label_times = np.concatenate([self._label_times, np.zeros(n, np.int64)])
            self._chunks.append((times, values, ages))
            horizon = self._times.max() - self._feature_ns  # keep only what the feature window can still need
            while len(self._chunks) > 1 and (len(self._chunks[0][0]) == 0 or self._chunks[0][0].max() < horizon):
                self._chunks.pop(0)

    def record_labels(self, prediction_ids, labels, *, label_time=None) -> int:
        """Log the true values of earlier predictions; return how many were accepted."""
        ids = list(prediction_ids)
        labels = np.asarray(labels, dtype=float).reshape(-1)
        label_times = epoch_seconds(label_time, len(ids), argument="label_time", func="record_labels")
        accepted = self.logger.log_feedback_batch(ids, labels, label_time=label_times)
        with self._lock:
            pos = np.fromiter((self._position.get(i, -1) for i in ids), np.int64, len(ids))
            ok = pos >= 0
            self._labels[pos[ok]] = labels[ok]
            self._label_times[pos[ok]] = _ns(label_times)[ok]
        return accepted

    # ------------------------------------------------------------------ gauges
    def refresh_metrics(self, now=None, *, features: bool = True) -> dict:
        """Update the gauges from what the service has seen; return the values set.

        ``now`` (exclusive) is the current, maybe simulated, time: only labels with
        ``label_time < now`` count; default just after the latest event served. Windows are
        half-open, ``[now - window, now)``. ``features=False`` skips drift, missing share and freshness.
        """
        with self._lock:
            times, preds, labels, label_times = self._times, self._preds, self._labels.copy(), self._label_times.copy()
            chunks = list(self._chunks)
        if len(times) == 0:
            return {}
        labelled = ~np.isnan(labels)
        now_ns = int(times.max()) + 1 if now is None else as_timestamp(now, "now", func="refresh_metrics").value
        if now is not None:
            labelled &= label_times < now_ns
        out = {}
        if labelled.any():  # the quality window of event time ending with the latest labelled prediction
            last = times[labelled].max()
            sel = labelled & (times > last - self._quality_ns) & (times <= last)
            y, p = labels[sel], preds[sel]
            r = y - p
            ss_tot = float(np.sum((y - y.mean()) ** 2))
            out.update(mae=float(np.mean(np.abs(r))), rmse=float(np.sqrt(np.mean(r * r))),
                       r2=1 - float(np.sum(r * r)) / ss_tot if ss_tot > 0 and y.size > 1 else float("nan"))
        recent = (times >= now_ns - self._quality_ns) & (times < now_ns)
        out["label_coverage"] = float(labelled[recent].mean()) if recent.any() else float("nan")
        out["completeness"] = float(((times >= now_ns - self._feature_ns) & (times < now_ns)).sum() / self._expected)
        self.exporter.set_model_quality(self.model_version, r2=out.get("r2"), mae=out.get("mae"), rmse=out.get("rmse"),
                                        label_coverage=out["label_coverage"], completeness=out["completeness"])
        if features:
            drift_, missing, age = self._feature_gauges(chunks, now_ns)
            self.exporter.set_feature_quality(drift=drift_, missing=missing, age=age)
            out.update(drift=drift_, missing=missing, age=age)
        return out

    def _feature_gauges(self, chunks, now_ns):
        """Per feature: drift (the statistic of windowed_metrics' drift_<f>), missing share, max age."""
        picked = [(keep, values, ages) for times, values, ages in chunks
                  for keep in [(times >= now_ns - self._feature_ns) & (times < now_ns)] if keep.any()]
        nan = float("nan")
        drift_, missing, age = {}, {}, {}
        for f in self.features:
            drift_[f] = missing[f] = age[f] = nan
            if not picked:
                continue
            vals = np.concatenate([v[f][k] for k, v, _ in picked])
            absent = pd.isna(vals)
            missing[f] = float(absent.mean())
            ages = np.concatenate([a[f][k] for k, _, a in picked if f in a] or [np.empty(0)])
            age[f] = float(np.max(ages[np.isfinite(ages)])) if np.isfinite(ages).any() else nan
            kind, ref = self._reference_values.get(f, (None, None))
            present = vals[~absent]
            if kind == "numerical" and present.size:
                drift_[f] = drift.wasserstein(ref, present.astype(float)).statistic
            elif kind == "categorical" and present.size:
                drift_[f] = drift.js_distance(ref, present.astype(object), bins="categories").statistic
        return drift_, missing, age

    # ------------------------------------------------------------------ reading back, lifetime
    def read_log(self, **kwargs) -> pd.DataFrame:
        """Flush the logger and read the log (see :func:`labkit.monitoring.prediction_log.read_log`)."""
        return self.logger.read_log(**kwargs)

    def windows(self, *, freq: str = "D", **kwargs) -> pd.DataFrame:
        """:func:`~labkit.monitoring.windows.windowed_metrics` of the log against the service's reference."""
        return windowed_metrics(self.read_log(), freq=freq, **{"reference": self.reference, **kwargs})

    def close(self) -> None:
        """Flush the log; close the logger if the service created it."""
        if not self._closed:
            self._closed = True
            self.logger.close() if self._owns_logger else self.logger.flush()

    def __enter__(self) -> "ModelService":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return (f"ModelService(model_version={self.model_version!r}, features={len(self.features)}, "
                f"served={len(self._times)}, log={str(self.logger.path)!r})")


@dataclass(frozen=True)
class ReplaySpec:
    """How :func:`replay` streams: one request per ``step`` ("D": 2012 in 366 requests, seconds; "h":
    each hour alone, about a minute); ``label_fraction`` of the labels ever arrive (chosen with
    ``seed``); ``target`` and ``time_col`` name the label and event-time columns; ``refresh_metrics``
    after every step; ``pace`` seconds of wall clock after each step (1.0 lets Prometheus watch)."""

    step: str = "D"
    label_fraction: float = 1.0
    seed: int = 0
    target: str = "cnt"
    time_col: str = "timestamp"
    refresh_metrics: bool = True
    pace: float | None = None

    def __post_init__(self):
        as_offset(self.step, func="ReplaySpec", argument="step")
        check_share(self.label_fraction, "label_fraction", func="ReplaySpec")
        check_int(self.seed, "seed", func="ReplaySpec", low=0)
        if self.pace is not None:
            check_number(self.pace, "pace", func="ReplaySpec", low=0, fix="pass seconds, e.g. pace=1.0")


@dataclass(frozen=True)
class ReplayResult:
    """What :func:`replay` did: the service (its logger holds the log), the period (end exclusive),
    requests sent, rows predicted, labels delivered and still pending at the end, wall time."""

    service: ModelService = field(repr=False)
    log_path: Path
    start: pd.Timestamp
    end: pd.Timestamp
    n_steps: int
    n_predictions: int
    n_labels: int
    n_labels_pending: int
    wall_seconds: float

    def read_log(self, **kwargs) -> pd.DataFrame:
        """The replay's log: predictions joined with the labels that arrived (also once the service is closed)."""
        return self.service.read_log(**kwargs)

    def windows(self, *, freq: str = "D", **kwargs) -> pd.DataFrame:
        """:func:`~labkit.monitoring.windows.windowed_metrics` of the replay against the service's reference."""
        return self.service.windows(freq=freq, **kwargs)


def replay(data: pd.DataFrame | None = None, *, service: ModelService | None = None, start="2012-01-01",
           end="2013-01-01", label_delay="2D", observed_at=None, progress: bool = True,
           spec: ReplaySpec | None = None) -> ReplayResult:
    """Stream ``[start, end)`` of ``data`` through a :class:`ModelService`, labels arriving later.

    At each step (a simulated day by default) the step's rows are predicted in one request, every
    label whose arrival (event time + ``label_delay``) falls before the step's end is delivered
    with that arrival as its ``label_time``, then the gauges are refreshed as of the step's end.
    Labels due after ``end`` never arrive (``n_labels_pending``), as in production.

    ``data`` defaults to :func:`labkit.data.load_hourly`; ``service`` to a new service around the
    baseline logging to ``artifacts_dir("logs")/replay-<pid>.sqlite`` (started afresh; left open:
    close it, or use ``with``). ``observed_at`` gives feature freshness: a column of ``data``
    holding one observation time per row, or a frame aligned with ``data`` with one column per
    feature. ``progress`` shows a progress bar.
    """
    f, t0 = "replay", time.perf_counter()
    spec = spec if spec is not None else ReplaySpec()
    if data is None:
        from labkit.data import load_hourly

        data = load_hourly()
    check_frame(data, "data", func=f)
    for name in ("time_col", "target"):
        check_columns(data, [getattr(spec, name)], f"spec.{name}", func=f, frame="data")
    delay = check_duration(label_delay, "label_delay", func=f)
    lo, hi = as_timestamp(start, "start", func=f), as_timestamp(end, "end", func=f)
    if not lo < hi:
        raise fail(f, "start/end", "start < end", f"{lo} and {hi}", "swap or widen them")
    times = check_datetimes(data[spec.time_col], f"data[{spec.time_col!r}]", func=f)  # tz-aware: in UTC
    inside = ((times >= lo) & (times < hi)).to_numpy()
    order = np.argsort(times[inside].to_numpy(), kind="stable")
    rows, times = data[inside].iloc[order], times[inside].iloc[order]
    if rows.empty:
        span = data[spec.time_col]
        raise fail(f, "start/end", f"a period holding data ({span.min()} .. {span.max()})", f"{lo} .. {hi}",
                   "choose dates inside the data")
    if isinstance(observed_at, str):
        check_columns(data, [observed_at], "observed_at", func=f, frame="data")
        observed = rows[observed_at]
    elif isinstance(observed_at, pd.DataFrame):
        observed = observed_at.reindex(rows.index)
    elif observed_at is None:
        observed = None
    else:
        raise fail(f, "observed_at", "a column name, a DataFrame or None", observed_at,
                   "pass the name of a column of observation times", TypeError)
    steps = window_starts(times, spec.step, func=f, argument="step")
    if service is None:
        path = resolve_log_path(_per_process("replay.sqlite"))
        for suffix in ("", "-wal", "-shm", ".deadletter.jsonl"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        service = ModelService(log_path=path)
    rng = np.random.default_rng(spec.seed)
    arrives = rng.random(len(rows)) < spec.label_fraction if spec.label_fraction < 1 else np.ones(len(rows), bool)
    groups = rows.groupby(steps.to_numpy(), sort=True).indices
    pending_ids, pending_labels, pending_times = [], [], []  # labels on their way, in arrival order
    delivered = 0
    target = rows[spec.target].to_numpy(dtype=float)
    step_ends = window_ends(pd.DatetimeIndex(list(groups)), spec.step)
    from tqdm.auto import tqdm

    with tqdm(total=len(groups), desc="replay", unit="step", disable=not progress, leave=False) as bar:
        for idx, step_end in zip(groups.values(), step_ends):
            chunk = rows.iloc[idx]
            served = service.predict(chunk, event_time=chunk[spec.time_col],
                                     observed_at=None if observed is None else observed.iloc[idx])
            keep = arrives[idx]
            pending_ids.extend(served["prediction_id"].to_numpy()[keep].tolist())
            pending_labels.extend(target[idx][keep].tolist())
            pending_times.extend((pd.DatetimeIndex(times.iloc[idx].to_numpy()[keep]) + delay).asi8.tolist())
            clock = min(step_end, hi)  # the step covers [its start, clock)
            due = int(np.searchsorted(np.asarray(pending_times, dtype=np.int64), clock.value, side="left"))
            if due:
                service.record_labels(pending_ids[:due], pending_labels[:due],
                                      label_time=np.asarray(pending_times[:due], dtype="datetime64[ns]"))
                delivered += due
                del pending_ids[:due], pending_labels[:due], pending_times[:due]
            if spec.refresh_metrics:
                service.refresh_metrics(now=clock)
            bar.update(1)
            if spec.pace:
                time.sleep(spec.pace)
    service.logger.flush()
    result = ReplayResult(service=service, log_path=service.logger.path, start=lo, end=hi, n_steps=len(groups),
                          n_predictions=len(rows), n_labels=delivered, n_labels_pending=len(pending_ids),
                          wall_seconds=time.perf_counter() - t0)
    logger.info("replayed %d predictions in %d steps in %.2f s (%d labels delivered, %d pending)",
                len(rows), len(groups), result.wall_seconds, delivered, len(pending_ids))
    return result
