"""Windowed monitoring metrics: the lecture's four signal families, one row per window of event time.

Model performance (needs labels), predictions, data quality, drift and system health: the columns
(:data:`WINDOW_COLUMNS`, then ``drift_<f>``, ``missing_<f>``, ``age_<f>`` per feature) and what each
means are listed in ``docs/monitoring.md`` ("Windowed metrics"). A window without labels has NaN
performance: "no data" is never shown as "no error". Without a ``reference`` the drift and range
columns are NaN.

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

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from labkit import drift
from labkit._validate import as_timestamp, check_columns, check_datetimes, check_frame, check_number, fail
from labkit._windows import as_offset, window_ids

__all__ = ["WINDOW_COLUMNS", "PER_FEATURE_PREFIXES", "WindowSpec", "windowed_metrics", "window_ends",
           "expected_interval", "feature_kinds"]

#: The columns every result has, in order (per-feature columns follow, see PER_FEATURE_PREFIXES).
WINDOW_COLUMNS = [
    "window_end", "n", "n_labelled", "label_coverage", "mae", "rmse", "r2", "bias", "label_mean",
    "pred_mean", "pred_std", "pred_p05", "pred_p50", "pred_p95", "completeness",
    "missing_share", "out_of_range_share", "unseen_categories", "n_drifted", "feature_age_max_seconds",
    "latency_p50", "latency_p95", "latency_p99", "throughput_per_hour",
]
#: Per-feature columns, one per feature each, in this order: ``drift_<f>``, ``missing_<f>``, ``age_<f>``.
PER_FEATURE_PREFIXES = ("drift_", "missing_", "age_")
_DRIFT_METHOD = {"numerical": "wasserstein", "categorical": "js_distance"}
_FUNC = "windowed_metrics"


@dataclass(frozen=True)
class WindowSpec:
    """Options of :func:`windowed_metrics`.

    ``numerical``/``categorical``: force a feature's kind (default: float columns numerical, the
    rest categorical, see :func:`feature_kinds`). ``drift_threshold``: a drift score at or above
    it counts in ``n_drifted``. ``include_empty``: add rows (``n == 0``) for windows without any
    prediction between the first and the last. ``expected_every``: one record is expected per this
    much event time ("h" for the hourly bike data), for ``completeness``; None leaves it NaN.
    """

    numerical: Sequence[str] = ()
    categorical: Sequence[str] = ()
    drift_threshold: float = 0.1
    include_empty: bool = False
    expected_every: str | None = "h"

    def __post_init__(self):
        check_number(self.drift_threshold, "drift_threshold", func="WindowSpec", low=0, fix="pass e.g. 0.1")
        if self.expected_every is not None:
            expected_interval(self.expected_every, func="WindowSpec")


def expected_interval(every, *, func: str) -> pd.Timedelta:
    """``every`` ("h", "15min", ...) as a fixed, positive duration: how often a record is expected."""
    offset = as_offset(every, func=func, argument="expected_every")
    try:
        return pd.Timedelta(offset.nanos, "ns")
    except ValueError:
        raise fail(func, "expected_every", "a fixed duration such as 'h' or '15min'", every,
                   "use hours or minutes, not weeks or months") from None


def feature_kinds(frame: pd.DataFrame, features: Sequence[str], numerical=(), categorical=()) -> dict:
    """Kind of each feature: as listed, else "numerical" for float columns, else "categorical".

    Integer codes (season, hour, weekday, ...) are categorical unless listed in ``numerical``: the
    rule looks at the dtype only, so every window of a stream gets the same kind.

    >>> feature_kinds(pd.DataFrame({"temp": [0.1], "hr": [3]}), ["temp", "hr"])
    {'temp': 'numerical', 'hr': 'categorical'}
    """
    numerical, categorical = set(numerical or ()), set(categorical or ())
    return {f: "numerical" if f in numerical else "categorical" if f in categorical
            else "numerical" if pd.api.types.is_float_dtype(frame[f].dtype) else "categorical" for f in features}


def window_ends(starts, freq) -> pd.DatetimeIndex:
    """Where the windows starting at ``starts`` end (exclusive): start + freq for fixed lengths,
    the next period's start for calendar frequencies (weeks, months).

    >>> window_ends(pd.DatetimeIndex(["2012-03-05"]), "W").strftime("%a %m-%d").tolist()
    ['Mon 03-12']
    """
    offset = as_offset(freq, func="window_ends")
    starts = pd.DatetimeIndex(starts)
    try:
        return starts + pd.Timedelta(offset.nanos, "ns")
    except ValueError:  # calendar frequencies are periods of varying length
        return pd.DatetimeIndex((pd.Series(starts).dt.to_period(offset) + 1).dt.start_time)


def _as_frame(log) -> pd.DataFrame:
    if isinstance(log, pd.DataFrame):
        return log
    if callable(getattr(log, "read_log", None)):  # a PredictionLogger or a ModelService
        return log.read_log()
    if isinstance(log, (str, os.PathLike)):
        from labkit.monitoring.prediction_log import read_log

        return read_log(log)
    raise fail(_FUNC, "log", "a DataFrame from read_log(), a PredictionLogger or a log file path", log,
               "pass logger.read_log() or the logger itself", TypeError)


def windowed_metrics(log, *, freq: str = "D", reference: pd.DataFrame | None = None,
                     features: Sequence[str] | None = None, as_of=None, spec: WindowSpec | None = None) -> pd.DataFrame:
    """Monitoring metrics per window of event time.

    Parameters
    ----------
    log : DataFrame, PredictionLogger or path
        Predictions with ``event_time``, ``prediction`` and the feature columns; optionally
        ``label`` (NaN until it arrived), ``label_time``, ``latency_seconds`` and ``age_<f>``, as
        :func:`labkit.monitoring.prediction_log.read_log` returns them.
    freq : str, default "D"
        Window length ("h", "D", "W", "6h", "MS", ...); windows start at ``floor(event_time, freq)``
        (calendar frequencies: the period start), as in :func:`labkit.drift.drift_timeline`.
    reference : DataFrame, optional
        The data the model was judged on (e.g. ``get_baseline().reference``): needed for the drift,
        out-of-range and unseen-category columns.
    features : list of str, optional
        Default ``log.attrs["features"]`` (set by ``read_log``).
    as_of : time, optional
        Count only labels with ``label_time <= as_of``: the metrics as they looked then.
    spec : WindowSpec, optional

    Returns
    -------
    DataFrame indexed by ``window_start``: :data:`WINDOW_COLUMNS`, then ``drift_<f>``, ``missing_<f>``
    and ``age_<f>`` for every feature.
    """
    spec = spec if spec is not None else WindowSpec()
    df = check_frame(_as_frame(log), "log", func=_FUNC, fix="log predictions first (replay(...))")
    features = list(features if features is not None else df.attrs.get("features") or [])
    if not features:
        raise fail(_FUNC, "features", "the feature names (or a frame from read_log(), which records them)", None,
                   "pass features=[...], e.g. baseline.features")
    required = ["event_time", "prediction", *features]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise fail(_FUNC, "log", f"the columns {required}", f"<a frame without {missing}>",
                   "read the log with labkit.monitoring.prediction_log.read_log(), or rename the columns")
    check_datetimes(df["event_time"], "log['event_time']", func=_FUNC)
    if reference is not None:
        check_frame(reference, "reference", func=_FUNC, fix="pass e.g. get_baseline().reference")
        check_columns(reference, features, "reference", func=_FUNC, frame="reference")

    codes, starts = window_ids(df["event_time"], freq, func=_FUNC)
    ends = window_ends(starts, freq)
    nw = len(starts)
    n = np.bincount(codes, minlength=nw).astype(float)
    out = pd.DataFrame(index=pd.DatetimeIndex(starts, name="window_start"))
    out["window_end"] = ends
    out["n"] = n.astype(np.int64)

    # ------------------------------------------------------------------ performance
    pred = df["prediction"].to_numpy(dtype=float)
    label = df["label"].to_numpy(dtype=float) if "label" in df.columns else np.full(len(df), np.nan)
    has = np.isfinite(label)
    if as_of is not None:
        if "label_time" not in df.columns:
            raise fail(_FUNC, "as_of", "a log with a 'label_time' column", "<a frame without it>",
                       "read the log with read_log(), or drop as_of")
        has &= (df["label_time"] <= as_timestamp(as_of, "as_of", func=_FUNC)).to_numpy()
    nl = np.bincount(codes, weights=has, minlength=nw)
    out["n_labelled"] = nl.astype(np.int64)
    out["label_coverage"] = nl / n
    with np.errstate(invalid="ignore", divide="ignore"):
        c, y, r = codes[has], label[has], label[has] - pred[has]
        sum_sq = np.bincount(c, weights=r * r, minlength=nw)
        y_mean = np.bincount(c, weights=y, minlength=nw) / nl
        ss_tot = np.bincount(c, weights=(y - y_mean[c]) ** 2, minlength=nw)
        none = nl == 0
        out["mae"] = np.where(none, np.nan, np.bincount(c, weights=np.abs(r), minlength=nw) / nl)
        out["rmse"] = np.where(none, np.nan, np.sqrt(sum_sq / nl))
        out["r2"] = np.where((nl >= 2) & (ss_tot > 0), 1 - sum_sq / np.where(ss_tot > 0, ss_tot, 1), np.nan)
        out["bias"] = np.where(none, np.nan, np.bincount(c, weights=r, minlength=nw) / nl)
        out["label_mean"] = np.where(none, np.nan, y_mean)
        # -------------------------------------------------------------- predictions
        pred_mean = np.bincount(codes, weights=pred, minlength=nw) / n
        out["pred_mean"] = pred_mean
        dev = np.bincount(codes, weights=(pred - pred_mean[codes]) ** 2, minlength=nw)
        out["pred_std"] = np.where(n > 1, np.sqrt(dev / np.maximum(n - 1, 1)), np.nan)
    out["pred_p05"], out["pred_p50"], out["pred_p95"] = _quantiles(pred, codes, nw, (0.05, 0.5, 0.95))

    # ------------------------------------------------------------------ data quality and drift
    kinds = feature_kinds(reference if reference is not None else df, features, spec.numerical, spec.categorical)
    miss = {f: np.bincount(codes, weights=df[f].isna().to_numpy(), minlength=nw) / n for f in features}
    every = spec.expected_every and expected_interval(spec.expected_every, func=_FUNC)
    out["completeness"] = n / np.asarray((ends - starts) / every, dtype=float) if every else np.nan
    out["missing_share"] = np.mean(np.vstack(list(miss.values())), axis=0)
    nan = np.full(nw, np.nan)
    scores = {f: nan for f in features}
    out["out_of_range_share"] = out["unseen_categories"] = out["n_drifted"] = nan
    if reference is not None:
        row_out, unseen = np.zeros(len(df), bool), np.zeros(nw)
        for f, kind in kinds.items():
            if kind == "numerical":
                ref = pd.to_numeric(reference[f], errors="coerce").to_numpy(dtype=float)
                cur = pd.to_numeric(df[f], errors="coerce").to_numpy(dtype=float)
                with np.errstate(invalid="ignore"):
                    row_out |= (cur < np.nanmin(ref)) | (cur > np.nanmax(ref))
            else:
                new = df[f].notna().to_numpy() & ~df[f].isin(pd.Index(reference[f].dropna().unique())).to_numpy()
                if new.any():
                    pairs = pd.DataFrame({"w": codes[new], "v": df[f].to_numpy()[new]}).drop_duplicates()
                    unseen += np.bincount(pairs["w"].to_numpy(), minlength=nw)
        out["out_of_range_share"] = np.bincount(codes, weights=row_out, minlength=nw) / n
        out["unseen_categories"] = unseen.astype(np.int64)
        scores = _drift_scores(reference, df, kinds, freq, starts)
        out["n_drifted"] = np.sum([s >= spec.drift_threshold for s in scores.values()], axis=0).astype(np.int64)
    ages = {f: _group_max(df[f"age_{f}"].to_numpy(dtype=float), codes, nw) if f"age_{f}" in df.columns else nan
            for f in features}
    stacked = np.vstack(list(ages.values()))
    out["feature_age_max_seconds"] = np.where(np.isnan(stacked).all(axis=0), np.nan,
                                              np.nanmax(np.where(np.isnan(stacked), -np.inf, stacked), axis=0))

    # ------------------------------------------------------------------ system health
    latency = df["latency_seconds"].to_numpy(dtype=float) if "latency_seconds" in df.columns else np.full(len(df), np.nan)
    out["latency_p50"], out["latency_p95"], out["latency_p99"] = _quantiles(latency, codes, nw, (0.5, 0.95, 0.99))
    out["throughput_per_hour"] = n / np.asarray((ends - starts) / pd.Timedelta(1, "h"), dtype=float)
    for prefix, values in (("drift_", scores), ("missing_", miss), ("age_", ages)):
        for f in features:
            out[prefix + f] = values[f]
    if spec.include_empty and nw > 1:
        out = _with_empty_windows(out, freq)
    out.attrs.update(features=features, freq=freq, kinds=kinds)
    return out


def _group_max(values: np.ndarray, codes: np.ndarray, nw: int) -> np.ndarray:
    res = np.full(nw, -np.inf)
    ok = ~np.isnan(values)
    np.maximum.at(res, codes[ok], values[ok])
    res[np.isinf(res)] = np.nan
    return res


def _quantiles(values: np.ndarray, codes: np.ndarray, nw: int, qs) -> list[np.ndarray]:
    """Linear-interpolated quantiles per window (NaN ignored), numpy's default, without a loop."""
    ok = ~np.isnan(values)
    order = np.lexsort((values[ok], codes[ok]))
    v, c = values[ok][order], codes[ok][order]
    counts = np.bincount(c, minlength=nw)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    res = []
    for q in qs:
        pos = (counts - 1) * q
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(counts - 1, 0))
        out = np.full(nw, np.nan)
        a, b = v[first[has] + lo[has]], v[first[has] + hi[has]]
        out[has] = a + (b - a) * (pos - lo)[has]
        res.append(out)
    return res


def _drift_scores(reference, df, kinds, freq, starts) -> dict:
    """drift_<f> per window: one vectorised :func:`labkit.drift.drift_timeline` pass."""
    features = list(kinds)
    tl = drift.drift_timeline(
        reference[features], df[["event_time", *features]], time_col="event_time", freq=freq, columns=features,
        options=drift.DriftOptions(numerical=[f for f in features if kinds[f] == "numerical"]),
        categorical=[f for f in features if kinds[f] == "categorical"],
        methods={f: [_DRIFT_METHOD[kinds[f]]] for f in features})
    pos = pd.Index(starts).get_indexer(pd.DatetimeIndex(tl["window_start"]))
    scores = {f: np.full(len(starts), np.nan) for f in features}
    for f in features:
        rows = (tl["column"] == f).to_numpy()
        scores[f][pos[rows]] = tl["statistic"].to_numpy()[rows]
    return scores


def _with_empty_windows(out: pd.DataFrame, freq) -> pd.DataFrame:
    offset = as_offset(freq, func=_FUNC)
    first, last = out.index.min(), out.index.max()
    try:
        offset.nanos
        full = pd.date_range(first, last, freq=offset)
    except ValueError:  # calendar windows: one per period
        periods = pd.Series([first, last]).dt.to_period(offset)
        full = pd.Series([periods.iloc[0] + k for k in range((periods.iloc[1] - periods.iloc[0]).n + 1)]).dt.start_time
    full = pd.DatetimeIndex(full, name="window_start")
    if len(full) == len(out):
        return out
    res = out.reindex(full)
    empty = ~full.isin(out.index)
    res.loc[empty, "window_end"] = window_ends(full[empty], freq)
    res.loc[empty, ["n", "n_labelled", "throughput_per_hour"]] = 0
    res.loc[empty, "completeness"] = np.where(out["completeness"].isna().all(), np.nan, 0.0)
    return res.astype({"n": np.int64, "n_labelled": np.int64})
