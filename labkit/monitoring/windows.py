"""Windowed monitoring metrics: the lecture's four signal families, one row per time window.

:func:`windowed_metrics` cuts a prediction log (as read by :func:`labkit.prediction_log.read_log`)
into windows of *event time* (hour, day, week, ...) and computes, per window:

- **model performance** (needs labels): ``n_labelled``, ``label_coverage``, ``mae``, ``rmse``,
  ``r2``, ``bias`` (mean of label − prediction: positive = the model under-predicts),
  ``label_mean``;
- **predictions**: ``pred_mean``, ``pred_std``, ``pred_p05``, ``pred_p50``, ``pred_p95``;
- **data quality**: ``missing_share`` (share of feature cells missing), ``missing_<feature>``,
  ``out_of_range_share`` (share of rows with at least one numerical feature outside the
  reference's [min, max]), ``unseen_categories`` (distinct values of categorical features never
  seen in the reference, summed over features), ``age_<feature>`` and ``feature_age_max_seconds``
  (freshness: the oldest input, in seconds between its observation and the event time);
- **drift**: ``drift_<feature>`` (normed Wasserstein distance for numerical features,
  Jensen–Shannon distance for categorical ones: Evidently's defaults for a reference of more
  than 1000 rows, computed by :func:`labkit.drift.drift_timeline` in one vectorised pass) and
  ``n_drifted`` (features at or above the threshold, 0.1 by default);
- **system health**: ``latency_p50``, ``latency_p95``, ``latency_p99`` (seconds) and
  ``throughput_per_hour`` (predictions per hour of *event time* in the window: 1.0 for a
  complete day of the hourly bike data; a wall-clock request rate is what Prometheus'
  ``rate(ml_predictions_total[5m])`` measures).

Windows without labels (yet) have ``n_labelled == 0``, ``label_coverage == 0`` and **NaN** for
``mae``, ``rmse``, ``r2``, ``bias`` and ``label_mean``: "no data" is never shown as "no error".
``r2`` is NaN with fewer than two labels or constant labels. Without a ``reference``, the drift,
out-of-range and unseen-category columns are NaN.

Examples
--------
>>> import numpy as np, pandas as pd
>>> log = pd.DataFrame({
...     "event_time": pd.date_range("2012-01-01", periods=48, freq="h"),
...     "prediction": np.r_[np.full(24, 10.0), np.full(24, 20.0)],
...     "label": np.r_[np.arange(24) % 2 * 2 + 9.0, np.full(24, np.nan)],
...     "temp": np.r_[np.full(24, 0.3), np.full(24, 0.9)],
... })
>>> ref = pd.DataFrame({"temp": np.linspace(0.1, 0.5, 100)})
>>> w = windowed_metrics(log, features=["temp"], reference=ref)
>>> w[["n", "label_coverage", "mae", "pred_mean", "out_of_range_share"]]
              n  label_coverage  mae  pred_mean  out_of_range_share
window_start
2012-01-01   24             1.0  1.0       10.0                 0.0
2012-01-02   24             0.0  NaN       20.0                 1.0
"""
from __future__ import annotations

import logging
import os
from typing import Sequence

import numpy as np
import pandas as pd

from labkit import drift as _drift

__all__ = ["WINDOW_COLUMNS", "PER_FEATURE_PREFIXES", "windowed_metrics", "feature_kinds"]

logger = logging.getLogger(__name__)

#: The columns every result has, in order (per-feature columns follow, see PER_FEATURE_PREFIXES).
WINDOW_COLUMNS = [
    "window_end", "n", "n_labelled", "label_coverage", "mae", "rmse", "r2", "bias", "label_mean",
    "pred_mean", "pred_std", "pred_p05", "pred_p50", "pred_p95",
    "missing_share", "out_of_range_share", "unseen_categories", "n_drifted", "feature_age_max_seconds",
    "latency_p50", "latency_p95", "latency_p99", "throughput_per_hour",
]
#: Per-feature columns, one per feature each, in this order: ``drift_<f>``, ``missing_<f>``, ``age_<f>``.
PER_FEATURE_PREFIXES = ("drift_", "missing_", "age_")
_DRIFT_METHOD = {"numerical": "wasserstein", "categorical": "js_distance"}
_FUNC = "windowed_metrics"


def _fail(argument, expected, got, fix, exc=ValueError):
    return exc(f"{_FUNC}(): {argument}: expected {expected}, got {got}. Fix: {fix}")


def feature_kinds(frame: pd.DataFrame, features: Sequence[str], numerical=None, categorical=None) -> dict:
    """Kind of each feature: listed explicitly, else "numerical" for float columns, else "categorical".

    Integer codes (season, hour, weekday, ...) are categorical unless listed in ``numerical``: the
    rule depends on the dtype only, so every window of a stream gets the same kind.

    Examples
    --------
    >>> feature_kinds(pd.DataFrame({"temp": [0.1], "hr": [3]}), ["temp", "hr"])
    {'temp': 'numerical', 'hr': 'categorical'}
    """
    numerical, categorical = set(numerical or ()), set(categorical or ())
    kinds = {}
    for f in features:
        if f in numerical:
            kinds[f] = "numerical"
        elif f in categorical:
            kinds[f] = "categorical"
        else:
            dt = frame[f].dtype
            kinds[f] = "numerical" if pd.api.types.is_float_dtype(dt) else "categorical"
    return kinds


def _as_frame(log) -> pd.DataFrame:
    if isinstance(log, pd.DataFrame):
        return log
    if hasattr(log, "read_log") and callable(log.read_log):  # a PredictionLogger (or a service's logger)
        return log.read_log()
    if isinstance(log, (str, os.PathLike)):
        from labkit.monitoring.prediction_log import read_log

        return read_log(log)
    raise _fail("log", "a DataFrame from read_log(), a PredictionLogger or a log file path",
                f"<{type(log).__name__}>", "pass logger.read_log() or the logger itself", TypeError)


def _window_bounds(starts: pd.DatetimeIndex, freq) -> tuple[pd.DatetimeIndex, pd.DateOffset, bool]:
    offset = pd.tseries.frequencies.to_offset(freq)
    try:
        step = pd.Timedelta(offset.nanos, "ns")
        return starts + step, offset, True
    except ValueError:  # calendar frequencies (W, MS, ...) are periods of varying length
        ends = (pd.Series(starts).dt.to_period(offset) + 1).dt.start_time
        return pd.DatetimeIndex(ends), offset, False


def windowed_metrics(log, *, freq: str = "D", reference: pd.DataFrame | None = None,
                     features: Sequence[str] | None = None, numerical: Sequence[str] | None = None,
                     categorical: Sequence[str] | None = None, as_of=None, drift_threshold: float = 0.1,
                     include_empty: bool = False) -> pd.DataFrame:
    """Monitoring metrics per window of event time.

    Parameters
    ----------
    log : DataFrame, PredictionLogger or path
        Predictions with at least ``event_time`` (datetime), ``prediction`` and the feature
        columns; optionally ``label`` (NaN until it arrived), ``label_time``, ``latency_seconds``
        and ``age_<feature>`` (as :func:`labkit.prediction_log.read_log` returns).
    freq : str, default "D"
        Window length as a pandas frequency: "h", "D", "W", "6h", "MS", ...; windows start at
        ``floor(event_time, freq)`` (calendar frequencies: the period start), as in
        :func:`labkit.drift.drift_timeline`.
    reference : DataFrame, optional
        The data the model was judged on (e.g. ``get_baseline().reference``); needed for drift,
        out-of-range and unseen-category columns (NaN without it).
    features : list of str, optional
        Default: ``log.attrs["features"]`` (set by ``read_log``).
    numerical, categorical : list of str, optional
        Force a feature's kind (default: float columns of the reference numerical, the rest
        categorical; see :func:`feature_kinds`).
    as_of : time, optional
        Count only labels with ``label_time <= as_of``: the metrics as they looked at that moment.
    drift_threshold : float, default 0.1
        Drift score at or above which a feature counts in ``n_drifted``.
    include_empty : bool, default False
        Add rows (``n == 0``, ``throughput_per_hour == 0``, metrics NaN) for windows without any
        prediction between the first and last window; by default such windows are absent.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``window_start``; columns :data:`WINDOW_COLUMNS`, then ``drift_<f>`` for every
        feature, ``missing_<f>`` for every feature, ``age_<f>`` for every feature.

    Raises
    ------
    ValueError
        A required column is missing, the log is empty, or ``freq`` is not a frequency.
    TypeError
        ``event_time`` is not a datetime column, or ``log`` is of an unknown type.
    """
    df = _as_frame(log)
    if features is None:
        features = df.attrs.get("features")
        if not features:
            raise _fail("features", "the feature names (or a frame from read_log(), which records them)",
                        "None", "pass features=[...], e.g. baseline.features")
    features = list(features)
    required = ["event_time", "prediction", *features]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise _fail("log", f"the columns {required}", f"a frame without {missing} (it has {list(df.columns)})",
                    "read the log with labkit.monitoring.prediction_log.read_log(), or rename the columns")
    if len(df) == 0:
        raise _fail("log", "at least one prediction", "an empty frame", "log predictions first (replay(...))")
    if not pd.api.types.is_datetime64_any_dtype(df["event_time"]):
        raise _fail("log['event_time']", "datetimes", f"dtype {df['event_time'].dtype}",
                    "convert it with pd.to_datetime", TypeError)
    if reference is not None:
        if not isinstance(reference, pd.DataFrame):
            raise _fail("reference", "a DataFrame", f"<{type(reference).__name__}>",
                        "pass e.g. get_baseline().reference", TypeError)
        ref_missing = [f for f in features if f not in reference.columns]
        if ref_missing:
            raise _fail("reference", f"the feature columns {features}", f"a frame without {ref_missing}",
                        "pass the reference data the model was evaluated on")
    if not (isinstance(drift_threshold, (int, float)) and np.isfinite(drift_threshold)):
        raise _fail("drift_threshold", "a finite number", repr(drift_threshold), "pass e.g. 0.1")

    codes, starts = _drift._window_ids(df, "event_time", freq, _FUNC)
    ends, offset, fixed = _window_bounds(starts, freq)
    nw = len(starts)
    n = np.bincount(codes, minlength=nw).astype(float)
    out = pd.DataFrame(index=pd.DatetimeIndex(starts, name="window_start"))
    out["window_end"] = ends
    out["n"] = n.astype(np.int64)

    # ------------------------------------------------------------------ performance
    pred = df["prediction"].to_numpy(dtype=float)
    if "label" in df.columns:
        label = df["label"].to_numpy(dtype=float)
        has = np.isfinite(label)
        if as_of is not None:
            if "label_time" not in df.columns:
                raise _fail("as_of", "a log with a 'label_time' column", "a frame without it",
                            "read the log with read_log(), or drop as_of")
            has &= (df["label_time"] <= pd.Timestamp(as_of)).to_numpy()
    else:
        label = np.full(len(df), np.nan)
        has = np.zeros(len(df), bool)
    nl = np.bincount(codes, weights=has, minlength=nw)
    out["n_labelled"] = nl.astype(np.int64)
    out["label_coverage"] = nl / n
    with np.errstate(invalid="ignore", divide="ignore"):
        c, y, p = codes[has], label[has], pred[has]
        r = y - p
        sum_abs = np.bincount(c, weights=np.abs(r), minlength=nw)
        sum_sq = np.bincount(c, weights=r * r, minlength=nw)
        sum_r = np.bincount(c, weights=r, minlength=nw)
        y_mean = np.bincount(c, weights=y, minlength=nw) / nl
        ss_tot = np.bincount(c, weights=(y - y_mean[c]) ** 2, minlength=nw)
        out["mae"] = sum_abs / nl
        out["rmse"] = np.sqrt(sum_sq / nl)
        out["r2"] = np.where((nl >= 2) & (ss_tot > 0), 1 - sum_sq / np.where(ss_tot > 0, ss_tot, 1), np.nan)
        out["bias"] = sum_r / nl
        out["label_mean"] = y_mean
        for col in ("mae", "rmse", "bias", "label_mean"):
            out.loc[nl == 0, col] = np.nan

        # -------------------------------------------------------------- predictions
        pred_sum = np.bincount(codes, weights=pred, minlength=nw)
        pred_mean = pred_sum / n
        out["pred_mean"] = pred_mean
        dev = np.bincount(codes, weights=(pred - pred_mean[codes]) ** 2, minlength=nw)
        out["pred_std"] = np.where(n > 1, np.sqrt(dev / np.maximum(n - 1, 1)), np.nan)
    q = _quantiles(pred, codes, nw, (0.05, 0.5, 0.95))
    out["pred_p05"], out["pred_p50"], out["pred_p95"] = q[0], q[1], q[2]

    # ------------------------------------------------------------------ data quality
    kinds = feature_kinds(reference if reference is not None else df, features, numerical, categorical)
    miss = {}
    for f in features:
        miss[f] = np.bincount(codes, weights=df[f].isna().to_numpy(), minlength=nw) / n
    out["missing_share"] = np.mean(np.vstack(list(miss.values())), axis=0)
    if reference is not None:
        row_out = np.zeros(len(df), bool)
        unseen = np.zeros(nw)
        for f, kind in kinds.items():
            if kind == "numerical":
                ref = pd.to_numeric(reference[f], errors="coerce").to_numpy(dtype=float)
                cur = pd.to_numeric(df[f], errors="coerce").to_numpy(dtype=float)
                lo, hi = np.nanmin(ref), np.nanmax(ref)
                with np.errstate(invalid="ignore"):
                    row_out |= (cur < lo) | (cur > hi)
            else:
                seen = pd.Index(reference[f].dropna().unique())
                cur = df[f]
                new = cur.notna().to_numpy() & ~cur.isin(seen).to_numpy()
                if new.any():
                    pairs = pd.DataFrame({"w": codes[new], "v": cur.to_numpy()[new]}).drop_duplicates()
                    unseen += np.bincount(pairs["w"].to_numpy(), minlength=nw)
        out["out_of_range_share"] = np.bincount(codes, weights=row_out, minlength=nw) / n
        out["unseen_categories"] = unseen.astype(np.int64)
        drift_scores, n_drifted = _drift_columns(reference, df, features, kinds, freq, starts, drift_threshold)
    else:
        out["out_of_range_share"] = np.nan
        out["unseen_categories"] = np.nan
        drift_scores = {f: np.full(nw, np.nan) for f in features}
        n_drifted = np.full(nw, np.nan)
    out["n_drifted"] = n_drifted

    # ------------------------------------------------------------------ freshness
    ages = {}
    for f in features:
        col = f"age_{f}"
        if col in df.columns:
            ages[f] = _group_max(df[col].to_numpy(dtype=float), codes, nw)
        else:
            ages[f] = np.full(nw, np.nan)
    stacked = np.vstack(list(ages.values()))
    out["feature_age_max_seconds"] = np.where(np.isnan(stacked).all(axis=0), np.nan,
                                              np.nanmax(np.where(np.isnan(stacked), -np.inf, stacked), axis=0))

    # ------------------------------------------------------------------ system health
    if "latency_seconds" in df.columns:
        lq = _quantiles(df["latency_seconds"].to_numpy(dtype=float), codes, nw, (0.5, 0.95, 0.99))
    else:
        lq = [np.full(nw, np.nan)] * 3
    out["latency_p50"], out["latency_p95"], out["latency_p99"] = lq[0], lq[1], lq[2]
    hours = (ends - starts) / pd.Timedelta(1, "h")
    out["throughput_per_hour"] = n / np.asarray(hours, dtype=float)

    for f in features:
        out[f"drift_{f}"] = drift_scores[f]
    for f in features:
        out[f"missing_{f}"] = miss[f]
    for f in features:
        out[f"age_{f}"] = ages[f]

    if include_empty and nw > 1:
        out = _with_empty_windows(out, offset, fixed)
    out.attrs["features"] = features
    out.attrs["freq"] = freq
    return out


def _group_max(values: np.ndarray, codes: np.ndarray, nw: int) -> np.ndarray:
    res = np.full(nw, -np.inf)
    ok = ~np.isnan(values)
    np.maximum.at(res, codes[ok], values[ok])
    res[np.isinf(res)] = np.nan
    return res


def _quantiles(values: np.ndarray, codes: np.ndarray, nw: int, qs) -> list[np.ndarray]:
    """Linear-interpolated quantiles per window (NaN ignored), as numpy's default, without a loop."""
    ok = ~np.isnan(values)
    v, c = values[ok], codes[ok]
    order = np.lexsort((v, c))
    v, c = v[order], c[order]
    counts = np.bincount(c, minlength=nw)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    res = []
    for q in qs:
        pos = (counts - 1) * q
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(counts - 1, 0))
        frac = pos - lo
        out = np.full(nw, np.nan)
        has = counts > 0
        a = v[first[has] + lo[has]]
        b = v[first[has] + hi[has]]
        out[has] = a + (b - a) * frac[has]
        res.append(out)
    return res


def _drift_columns(reference, df, features, kinds, freq, starts, threshold):
    nw = len(starts)
    scores = {f: np.full(nw, np.nan) for f in features}
    num = [f for f in features if kinds[f] == "numerical"]
    cat = [f for f in features if kinds[f] == "categorical"]
    stream = df[["event_time", *features]]
    tl = _drift.drift_timeline(
        reference[features], stream, time_col="event_time", freq=freq, columns=features, numerical=num,
        categorical=cat, methods={f: [_DRIFT_METHOD[kinds[f]]] for f in features},
        threshold={"wasserstein": threshold, "js_distance": threshold})
    pos = pd.Index(starts).get_indexer(pd.DatetimeIndex(tl["window_start"]))
    n_drifted = np.zeros(nw)
    for f in features:
        rows = (tl["column"] == f).to_numpy()
        scores[f][pos[rows]] = tl["statistic"].to_numpy()[rows]
        n_drifted[pos[rows]] += tl["drifted"].to_numpy()[rows]
    return scores, n_drifted.astype(np.int64)


def _with_empty_windows(out: pd.DataFrame, offset, fixed: bool) -> pd.DataFrame:
    first, last = out.index.min(), out.index.max()
    if fixed:
        full = pd.date_range(first, last, freq=offset)
    else:
        periods = pd.Series([first, last]).dt.to_period(offset)
        count = (periods.iloc[1] - periods.iloc[0]).n + 1
        full = pd.Series([periods.iloc[0] + k for k in range(count)]).dt.start_time
    full = pd.DatetimeIndex(full, name="window_start")
    if len(full) == len(out):
        return out
    res = out.reindex(full)
    empty = ~full.isin(out.index)
    ends, _, _ = _window_bounds(full[empty], offset)
    res.loc[empty, "window_end"] = ends
    for col in ("n", "n_labelled", "throughput_per_hour"):
        res.loc[empty, col] = 0
    res["n"] = res["n"].astype(np.int64)
    res["n_labelled"] = res["n_labelled"].astype(np.int64)
    return res
