"""The lab's model as a service under observation, and a replay of production through it.

:class:`ModelService` wraps the baseline model: each :meth:`~ModelService.predict` call is one
request (one row or a batch), timed, logged asynchronously with
:class:`labkit.prediction_log.PredictionLogger` and counted in the Prometheus metrics of a
:class:`labkit.exporter.MetricsExporter`. Labels that arrive later go through
:meth:`~ModelService.record_labels`; :meth:`~ModelService.refresh_metrics` updates the gauges
(R²/MAE/RMSE over the latest labelled window, label coverage, per-feature drift, missing share and
freshness of the latest window).

:func:`replay` streams a period of the hourly data (by default production 2012) step by step
(by default one simulated day per request) through a service, with labels arriving
``label_delay`` after the hour they describe, in *simulated* time: the whole year takes seconds.

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
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labkit import drift as _drift
from labkit.monitoring.exporter import MetricsExporter
from labkit.monitoring.prediction_log import PredictionLogger, _resolve_path, read_log
from labkit.monitoring.windows import feature_kinds, windowed_metrics

__all__ = ["ModelService", "ReplayResult", "replay", "DEFAULT_REPLAY_LOG"]

logger = logging.getLogger(__name__)

#: The file :func:`replay` logs to when it creates the service itself (inside ``artifacts_dir("logs")``).
def _per_process(name: str) -> str:
    """``replay.sqlite`` -> ``replay-<pid>.sqlite``: two kernels replaying at once never share a file."""
    stem, _, suffix = name.rpartition(".")
    return f"{stem}-{os.getpid()}.{suffix}"


DEFAULT_REPLAY_LOG = "replay.sqlite"


def _timedelta(value, name) -> pd.Timedelta:
    try:
        td = pd.Timedelta(value)
    except (ValueError, TypeError):
        td = None
    if td is None or td is pd.NaT or td < pd.Timedelta(0):
        raise ValueError(f"{name}: expected a duration >= 0 such as '1D', '6h' or pd.Timedelta(hours=36), "
                         f"got {value!r}. Fix: pass a pandas duration string.")
    return td


class ModelService:
    """A model behind a predict endpoint, with logging and Prometheus metrics.

    Parameters
    ----------
    model : object, optional
        Anything with ``features`` (column names) and ``predict(frame) -> array``; default
        :func:`labkit.baseline.get_baseline`.
    logger : PredictionLogger, optional
        Default: a new logger on ``log_path`` (closed by :meth:`close`).
    exporter : MetricsExporter, optional
        Default: a new exporter with its own registry.
    model_version : str, optional
        Default: ``"baseline-<fingerprint>"`` for the lab's baseline, else ``"unversioned"``.
    endpoint : str, default "/predict"
        The ``endpoint`` label of ``ml_predictions_total``.
    reference : DataFrame, optional
        Data the drift and range signals compare with; default ``model.reference``.
    log_path : path, optional
        Where the default logger writes (default ``artifacts_dir("logs")/service-<pid>.sqlite``: one file
        per process, so kernels running side by side never write to the same database).
    quality_window : str, default "7D"
        Performance gauges use labelled predictions from this much event time up to the latest
        labelled one; label coverage uses predictions from this much time up to now.
    feature_window : str, default "1D"
        Drift, missing and freshness gauges use predictions from this much event time up to now.
    time_col : str, default "timestamp"
        Column of the request frame holding the event time (used when ``event_time`` is not given).
    model_threads : int or None, default 1
        Threads the model's native libraries (OpenMP, BLAS) may use during a request. Small
        requests gain nothing from threads, and on a busy 2-core machine OpenMP's spinning
        threads made scikit-learn's predict ~10x slower (a 2012 replay took 68 s instead of ~3 s).
        None leaves the libraries' defaults.
    """

    def __init__(self, model=None, *, logger: PredictionLogger | None = None,
                 exporter: MetricsExporter | None = None, model_version: str | None = None,
                 endpoint: str = "/predict", reference: pd.DataFrame | None = None, log_path=None,
                 quality_window="7D", feature_window="1D", time_col: str = "timestamp",
                 model_threads: int | None = 1):
        if model is None:
            from labkit.baseline import get_baseline

            model = get_baseline()
        if not (hasattr(model, "predict") and hasattr(model, "features")):
            raise TypeError(f"model: expected an object with .features and .predict(frame) (e.g. get_baseline()), "
                            f"got {type(model).__name__}. Fix: wrap your estimator so it has both.")
        self.model = model
        self.features = tuple(model.features)
        if model_version is None:
            fp = getattr(model, "fingerprint", "")
            model_version = f"baseline-{fp[:8]}" if fp else "unversioned"
        self.model_version = model_version
        self.endpoint = endpoint
        self.time_col = time_col
        if model_threads is not None and (not isinstance(model_threads, int) or model_threads < 1):
            raise ValueError(f"model_threads: expected an integer >= 1 or None, got {model_threads!r}. "
                             "Fix: pass 1 (default) or None.")
        self.model_threads = model_threads
        self._threadpools = None
        self.quality_window = _timedelta(quality_window, "quality_window")
        self.feature_window = _timedelta(feature_window, "feature_window")
        if reference is None:
            reference = getattr(model, "reference", None)
        if reference is not None:
            missing = [f for f in self.features if f not in reference.columns]
            if missing:
                raise ValueError(f"reference: expected the model's features {list(self.features)}, got a frame "
                                 f"without {missing}. Fix: pass the data the model was evaluated on.")
        self.reference = reference
        self._owns_logger = logger is None
        if logger is None:
            logger = PredictionLogger(_resolve_path(log_path, _per_process("service.sqlite")), features=self.features,
                                      model_version=model_version)
        elif tuple(logger.features) != self.features:
            raise ValueError(f"logger: expected a logger declared for the model's features {list(self.features)}, "
                             f"got one for {list(logger.features)}. Fix: create PredictionLogger(features=model.features).")
        self.logger = logger
        self.exporter = exporter if exporter is not None else MetricsExporter()
        self._kinds = feature_kinds(reference if reference is not None else pd.DataFrame(
            {f: pd.Series(dtype=float) for f in self.features}), self.features)
        self._ref_values = self._prepare_reference()
        # in-memory view of what was served, for the gauges
        self._chunks: list[tuple] = []          # (times_ns, {feature: values}, {feature: ages}) per request
        self._times = np.empty(0, np.int64)
        self._preds = np.empty(0)
        self._labels = np.empty(0)
        self._label_times = np.empty(0, np.int64)
        self._position: dict[str, int] = {}
        self._closed = False

    def _prepare_reference(self):
        """Per feature, the reference values and the drift statistic of windowed_metrics' drift_<f>."""
        if self.reference is None:
            return {}
        out = {}
        for f, kind in self._kinds.items():
            values = self.reference[f].dropna()
            if len(values):
                out[f] = (kind, values.to_numpy(dtype=float) if kind == "numerical" else values.astype(object).to_numpy())
        return out

    def _limit_threads(self):
        if self.model_threads is None:
            return contextlib.nullcontext()
        if self._threadpools is None:
            try:  # created after the model is loaded, so that its OpenMP runtime is found
                from threadpoolctl import ThreadpoolController

                self._threadpools = ThreadpoolController()
            except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
                self._threadpools = False
        if self._threadpools is False:  # pragma: no cover
            return contextlib.nullcontext()
        return self._threadpools.limit(limits=self.model_threads)

    # ------------------------------------------------------------------ requests
    def predict(self, rows: pd.DataFrame, *, event_time=None, observed_at=None) -> pd.DataFrame:
        """Serve one request: predict, time it, log every row, update the counters.

        Parameters
        ----------
        rows : DataFrame
            One row per prediction, holding the model's features (other columns are ignored).
        event_time : time or array-like, optional
            Default: ``rows[time_col]`` if present, else now.
        observed_at : time, array-like or DataFrame, optional
            When the inputs were observed (see :meth:`PredictionLogger.log_batch`).

        Returns
        -------
        DataFrame
            ``prediction_id`` and ``prediction``, indexed like ``rows``.
        """
        if self._closed:
            raise RuntimeError("predict(): the service is closed. Fix: create a new ModelService.")
        if not isinstance(rows, pd.DataFrame):
            raise TypeError(f"rows: expected a pandas DataFrame with columns {list(self.features)}, got "
                            f"{type(rows).__name__}. Fix: wrap a single row as pd.DataFrame([row]).")
        missing = [f for f in self.features if f not in rows.columns]
        if missing:
            raise ValueError(f"rows: expected the model's features {list(self.features)}, got a frame without "
                             f"{missing}. Fix: add the columns (did an upstream change rename them?).")
        if event_time is None and self.time_col in rows.columns:
            event_time = rows[self.time_col]
        features = rows[list(self.features)]
        with self._limit_threads():
            start = time.perf_counter()
            predictions = np.asarray(self.model.predict(features), dtype=float).reshape(-1)
            latency = time.perf_counter() - start
        ids = self.logger.log_batch(rows, predictions, event_time=event_time, latency_seconds=latency,
                                    observed_at=observed_at, model_version=self.model_version)
        self.exporter.observe_predictions(predictions, latency_seconds=latency, model_version=self.model_version,
                                          endpoint=self.endpoint)
        if ids is not None:
            self._remember(rows, predictions, ids, event_time, observed_at)
        return pd.DataFrame({"prediction_id": ids if ids is not None else [None] * len(rows),
                             "prediction": predictions}, index=rows.index)

    def _remember(self, rows, predictions, ids, event_time, observed_at):
        n = len(rows)
        times = _to_ns(event_time, n)
        values = {f: rows[f].to_numpy() for f in self.features}
        ages = {}
        if observed_at is not None:
            if isinstance(observed_at, pd.DataFrame):
                for f in observed_at.columns:
                    ages[f] = (times - _to_ns(observed_at[f], n)) / 1e9
            else:
                obs = _to_ns(observed_at, n)
                ages = {f: (times - obs) / 1e9 for f in self.features}
        base = len(self._times)
        self._position.update(zip(ids, range(base, base + n)))
        self._times = np.concatenate([self._times, times])
        self._preds = np.concatenate([self._preds, predictions])
        self._labels = np.concatenate([self._labels, np.full(n, np.nan)])
        self._label_times = np.concatenate([self._label_times, np.zeros(n, np.int64)])
        self._chunks.append((times, values, ages))
        # keep only the feature frames the feature window can still need
        if len(self._chunks) > 1:
            horizon = times.max() - self.feature_window.value
            while len(self._chunks) > 1 and self._chunks[0][0].max() < horizon:
                self._chunks.pop(0)

    def record_labels(self, prediction_ids, labels, *, label_time=None) -> int:
        """Log the true values of earlier predictions; return how many were accepted."""
        ids = list(prediction_ids)
        labels = np.asarray(labels, dtype=float).reshape(-1)
        accepted = self.logger.log_feedback_batch(ids, labels, label_time=label_time)
        pos = np.fromiter((self._position.get(i, -1) for i in ids), np.int64, len(ids))
        ok = pos >= 0
        self._labels[pos[ok]] = labels[ok]
        lt = _to_ns(label_time, len(ids))
        self._label_times[pos[ok]] = lt[ok]
        return accepted

    # ------------------------------------------------------------------ gauges
    def refresh_metrics(self, now=None, *, features: bool = True) -> dict:
        """Update the gauges from what the service has seen; return the values set.

        Windows are half-open, ``[now - window, now)``.

        Parameters
        ----------
        now : time, optional
            The current (simulated) time, exclusive: only labels with ``label_time < now`` count.
            Default: just after the latest event time served, counting every label recorded.
        features : bool, default True
            Also recompute per-feature drift, missing share and freshness (about 2 ms).
        """
        if len(self._times) == 0:
            return {}
        labelled = ~np.isnan(self._labels)
        if now is None:
            now_ns = int(self._times.max()) + 1
        else:
            now_ns = pd.Timestamp(now).value
            labelled &= self._label_times < now_ns
        out: dict[str, Any] = {}
        if labelled.any():
            last = self._times[labelled].max()
            sel = labelled & (self._times > last - self.quality_window.value) & (self._times <= last)
            # ... i.e. the quality_window of event time ending with the latest labelled prediction
            y, p = self._labels[sel], self._preds[sel]
            r = y - p
            ss_tot = float(np.sum((y - y.mean()) ** 2))
            out.update(mae=float(np.mean(np.abs(r))), rmse=float(np.sqrt(np.mean(r * r))),
                       r2=1 - float(np.sum(r * r)) / ss_tot if ss_tot > 0 and y.size > 1 else float("nan"))
        recent = (self._times >= now_ns - self.quality_window.value) & (self._times < now_ns)
        out["label_coverage"] = float(labelled[recent].mean()) if recent.any() else float("nan")
        self.exporter.set_model_quality(self.model_version, r2=out.get("r2"), mae=out.get("mae"),
                                        rmse=out.get("rmse"), label_coverage=out["label_coverage"])
        if features:
            drift, missing, age = self._feature_gauges(now_ns)
            self.exporter.set_feature_quality(drift=drift, missing=missing, age=age)
            out.update(drift=drift, missing=missing, age=age)
        return out

    def _feature_gauges(self, now_ns):
        """Drift (same statistics as windowed_metrics' drift_<f>), missing share and max age per feature."""
        lo = now_ns - self.feature_window.value
        picked = []
        for times, values, ages in self._chunks:
            keep = (times >= lo) & (times < now_ns)
            if keep.any():
                picked.append((keep, values, ages))
        drift, missing, age = {}, {}, {}
        for f in self.features:
            if not picked:
                drift[f] = missing[f] = age[f] = float("nan")
                continue
            vals = np.concatenate([v[f][k] for k, v, _ in picked])
            absent = pd.isna(vals)
            missing[f] = float(absent.mean())
            ages = np.concatenate([a[f][k] for k, _, a in picked if f in a] or [np.empty(0)])
            age[f] = float(np.max(ages[np.isfinite(ages)])) if np.isfinite(ages).any() else float("nan")
            present = vals[~absent]
            spec = self._ref_values.get(f)
            if spec is None or present.size == 0:
                drift[f] = float("nan")
            elif spec[0] == "numerical":
                drift[f] = _drift.wasserstein(spec[1], present.astype(float)).statistic
            else:
                drift[f] = _drift.js_distance(spec[1], present.astype(object), bins="categories").statistic
        return drift, missing, age

    # ------------------------------------------------------------------ reading back
    def read_log(self, **kwargs) -> pd.DataFrame:
        """Flush the logger and read the log (see :func:`labkit.prediction_log.read_log`)."""
        return self.logger.read_log(**kwargs)

    def windows(self, *, freq: str = "D", **kwargs) -> pd.DataFrame:
        """:func:`labkit.windows.windowed_metrics` of the log against the service's reference."""
        kwargs.setdefault("reference", self.reference)
        return windowed_metrics(self.read_log(), freq=freq, **kwargs)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Flush the log; close the logger if the service created it."""
        if self._closed:
            return
        self._closed = True
        if self._owns_logger:
            self.logger.close()
        else:
            self.logger.flush()

    def __enter__(self) -> "ModelService":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return (f"ModelService(model_version={self.model_version!r}, features={len(self.features)}, "
                f"served={len(self._times)}, log={str(self.logger.path)!r})")


@dataclass(frozen=True)
class ReplayResult:
    """What :func:`replay` did.

    Attributes
    ----------
    service : ModelService
        The service the rows went through (its logger holds the log).
    log_path : pathlib.Path
    start, end : pandas.Timestamp
        The replayed period (end exclusive).
    n_steps : int
        Requests sent (one per step with data).
    n_predictions, n_labels : int
        Rows predicted; labels delivered.
    n_labels_pending : int
        Labels that had not arrived by the end of the period (their predictions stay unlabelled).
    wall_seconds : float
        How long the replay took.
    """

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
        """The log of the replay (predictions joined with the labels that arrived)."""
        if self.service.logger.closed:
            return read_log(self.log_path, **kwargs)
        return self.service.read_log(**kwargs)

    def windows(self, *, freq: str = "D", **kwargs) -> pd.DataFrame:
        """:func:`labkit.windows.windowed_metrics` over the replay, against the service's reference."""
        kwargs.setdefault("reference", self.service.reference)
        return windowed_metrics(self.read_log(), freq=freq, **kwargs)


def replay(data: pd.DataFrame | None = None, *, service: ModelService | None = None, start="2012-01-01",
           end="2013-01-01", step: str = "D", label_delay="2D", label_fraction: float = 1.0, seed: int = 0,
           target: str = "cnt", time_col: str = "timestamp", observed_at=None, refresh_metrics: bool = True,
           pace: float | None = None, progress: bool = True) -> ReplayResult:
    """Stream a period through a :class:`ModelService`, one request per step, labels arriving later.

    At each step ``[step_start, step_end)`` (a simulated day by default): the step's rows are
    predicted in one request (event time = each row's ``time_col``), then every label whose
    arrival time (event time + ``label_delay``) is before ``step_end`` is delivered with that
    arrival time as ``label_time``, then the gauges are refreshed as of ``step_end``. Labels due after the end of the
    period never arrive (``n_labels_pending``): the last days stay unlabelled, as they would in
    production.

    Parameters
    ----------
    data : DataFrame, optional
        Hourly rows with ``time_col``, the model's features and ``target`` (default
        :func:`labkit.data.load_hourly`).
    service : ModelService, optional
        Default: ``ModelService(log_path=artifacts_dir("logs")/"replay-<pid>.sqlite")`` around the
        baseline; an existing file of that name is replaced so a re-run starts afresh. The
        service is left open (close it, or use ``with``).
    start, end : time, default "2012-01-01", "2013-01-01"
        The period (end exclusive): production 2012 by default.
    step : str, default "D"
        Length of one request, as a pandas frequency ("D", "h", "W", ...). "D" replays 2012
        (8,734 rows, 366 requests) in about 2 s here; "h" sends each hour on its own, as a real
        service would, and takes about a minute (one model call per row).
    label_delay : duration, default "2D"
        How long after its hour a label arrives.
    label_fraction : float, default 1.0
        Share of labels that ever arrive (chosen with ``seed``).
    seed : int, default 0
    target, time_col : str
        Label and event-time columns of ``data``.
    observed_at : str, DataFrame or None
        Feature freshness: a column of ``data`` with one observation time per row, or a frame
        aligned with ``data`` with one observation-time column per feature.
    refresh_metrics : bool, default True
        Update the gauges after every step.
    pace : float, optional
        Wall-clock seconds to wait after each step (e.g. 1.0 so a real Prometheus scraping every
        second sees the year unfold); None runs as fast as possible.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    ReplayResult
    """
    t0 = time.perf_counter()
    if data is None:
        from labkit.data import load_hourly

        data = load_hourly()
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data: expected a DataFrame like labkit.data.load_hourly(), got {type(data).__name__}. "
                        "Fix: pass the hourly frame.")
    for name, col in (("time_col", time_col), ("target", target)):
        if col not in data.columns:
            raise ValueError(f"{name}: expected a column of data, got {col!r} (data has {list(data.columns)}). "
                             f"Fix: pass {name}=... or use labkit.data.load_hourly().")
    delay = _timedelta(label_delay, "label_delay")
    if not 0 <= label_fraction <= 1:
        raise ValueError(f"label_fraction: expected a share in [0, 1], got {label_fraction!r}. Fix: pass e.g. 0.5.")
    if pace is not None and not pace >= 0:
        raise ValueError(f"pace: expected seconds >= 0 or None, got {pace!r}. Fix: pass e.g. pace=1.0.")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    if not lo < hi:
        raise ValueError(f"start/end: expected start < end, got {lo} and {hi}. Fix: swap or widen them.")
    times = data[time_col]
    rows = data[(times >= lo) & (times < hi)].sort_values(time_col, kind="stable")
    if rows.empty:
        raise ValueError(f"start/end: expected a period holding data, got {lo} .. {hi} while data spans "
                         f"{times.min()} .. {times.max()}. Fix: choose dates inside the data.")
    obs_frame = obs_col = None
    if isinstance(observed_at, str):
        if observed_at not in data.columns:
            raise ValueError(f"observed_at: expected a column of data, got {observed_at!r}. "
                             "Fix: add a column of observation times, or pass a frame.")
        obs_col = observed_at
    elif isinstance(observed_at, pd.DataFrame):
        obs_frame = observed_at.reindex(rows.index)
    elif observed_at is not None:
        raise TypeError(f"observed_at: expected a column name, a DataFrame or None, got "
                        f"{type(observed_at).__name__}. Fix: see the docstring.")

    step_starts = _drift._window_starts(rows[time_col], step, "replay", argument="step")  # checks step first

    owns = service is None
    if owns:
        path = _resolve_path(_per_process(DEFAULT_REPLAY_LOG))
        for suffix in ("", "-wal", "-shm", ".deadletter.jsonl"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        service = ModelService(log_path=path)
    rng = np.random.default_rng(seed)
    arrives = rng.random(len(rows)) < label_fraction if label_fraction < 1 else np.ones(len(rows), bool)

    groups = rows.groupby(step_starts.to_numpy(), sort=True).indices
    pending_ids: list = []
    pending_labels: list = []
    pending_times: list = []
    delivered = 0
    n_pred = 0
    target_values = rows[target].to_numpy(dtype=float)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(groups), desc="replay", unit="step", disable=not progress, leave=False)
    try:
        for step_start, idx in groups.items():
            chunk = rows.iloc[idx]
            obs = chunk[obs_col] if obs_col is not None else (obs_frame.iloc[idx] if obs_frame is not None else None)
            served = service.predict(chunk, event_time=chunk[time_col], observed_at=obs)
            n_pred += len(chunk)
            keep = arrives[idx]
            pending_ids.extend(served["prediction_id"].to_numpy()[keep].tolist())
            pending_labels.extend(target_values[idx][keep].tolist())
            arrival = pd.DatetimeIndex(chunk[time_col].to_numpy()[keep]) + delay
            pending_times.extend(arrival.asi8.tolist())  # int ns, in event order (the delay is constant)
            # the step covers [step_start, clock); nothing arrives after the end of the period
            clock = min(_step_end(pd.Timestamp(step_start), step), hi)
            due = int(np.searchsorted(np.asarray(pending_times, dtype=np.int64), clock.value, side="left"))
            if due:
                service.record_labels(pending_ids[:due], pending_labels[:due],
                                      label_time=np.asarray(pending_times[:due], dtype="datetime64[ns]"))
                delivered += due
                del pending_ids[:due], pending_labels[:due], pending_times[:due]
            if refresh_metrics:
                service.refresh_metrics(now=clock)
            bar.update(1)
            if pace:
                time.sleep(pace)
    finally:
        bar.close()
    service.logger.flush()
    result = ReplayResult(service=service, log_path=service.logger.path, start=lo, end=hi, n_steps=len(groups),
                          n_predictions=n_pred, n_labels=delivered, n_labels_pending=len(pending_ids),
                          wall_seconds=time.perf_counter() - t0)
    logger.info("replayed %d predictions in %d steps in %.2f s (%d labels delivered, %d pending)",
                n_pred, len(groups), result.wall_seconds, delivered, len(pending_ids))
    return result


def _to_ns(values, n: int) -> np.ndarray:
    """Nanoseconds since the epoch (naive = UTC), read as PredictionLogger reads times (numbers = seconds)."""
    if values is None:
        return np.full(n, time.time_ns(), np.int64)
    if np.ndim(values) == 0:
        values = [values] * n
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    if arr.dtype.kind in "iuf":
        idx = pd.DatetimeIndex(pd.to_datetime(arr, unit="s"))
    else:
        idx = pd.DatetimeIndex(pd.to_datetime(values if isinstance(values, (pd.Series, pd.Index)) else arr))
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.asi8.astype(np.int64)


def _fixed(freq) -> bool:
    try:
        pd.tseries.frequencies.to_offset(freq).nanos
        return True
    except ValueError:
        return False


def _step_end(step_start: pd.Timestamp, freq) -> pd.Timestamp:
    offset = pd.tseries.frequencies.to_offset(freq)
    if _fixed(freq):
        return step_start + pd.Timedelta(offset.nanos, "ns")
    return pd.Period(step_start, freq=offset).end_time + pd.Timedelta(1, "ns")
