"""Degradation analysis: when and why the model failed, and what could have warned earlier.

One function per question an on-call engineer is asked after an incident:

- *When did the error grow, and did drift warn first?* :func:`error_timeline`, :func:`drift_signals`,
  :func:`lagged_correlation`.
- *Is the model biased, and for whom?* :func:`residual_summary`, :func:`segment_errors`.
- *Did the model's reasoning change?* :func:`importance_shift`, :func:`shap_drift`.
- *Could we have known before labels arrived?* :func:`fit_loss_estimator` + :func:`estimate_performance`.
- *How cheap could labels have caught it?* :func:`label_sample_detection`.

Residual = ``y_true - y_pred`` (positive: the model under-predicts); argument order (reference,
current); randomness only through ``seed``. The longer discussion (what each method can and cannot
see, and why) is in ``docs/analysis.md``.

>>> import pandas as pd
>>> residual_summary([10, 20, 30], [8, 18, 31]).mean_residual
1.0
>>> t = pd.date_range("2012-01-01", periods=8, freq="D")
>>> drift = pd.Series([0, 0, 1, 0, 0, 2, 0, 0.0], index=t, name="drift")
>>> error = drift.shift(1, fill_value=0.0) * 10 + 5       # error follows drift one day later
>>> lagged_correlation(error, drift, lags=[0, 1]).leader_lag
1
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from scipy import stats

from labkit._validate import (check_choice, check_columns, check_datetimes, check_frame, check_int, check_number,
                              check_numbers, check_pair, check_probability, check_seed, check_type, fail)
from labkit._windows import window_starts

__all__ = [
    "DEFAULT_SEGMENTS",
    "error_timeline", "drift_signals",
    "LaggedCorrelation", "lagged_correlation",
    "ResidualSummary", "residual_summary",
    "SegmentErrors", "segment_errors",
    "ImportanceShift", "importance_shift", "ShapDrift", "shap_drift",
    "LossEstimator", "fit_loss_estimator", "PerformanceEstimate", "estimate_performance",
    "LabelSampleSpec", "LabelSampleDetection", "label_sample_detection",
]

logger = logging.getLogger(__name__)

#: Columns :func:`segment_errors` groups by when ``by`` is not given.
DEFAULT_SEGMENTS = ("hr", "workingday", "weathersit", "season")


def _frame(df, name: str, func: str, **columns) -> pd.DataFrame:
    """``df`` checked as a non-empty DataFrame holding the columns named by each keyword argument."""
    check_frame(df, name, func=func)
    for argument, cols in columns.items():
        check_columns(df, cols, argument, func=func, frame=name)
    return df


def _window_of(df: pd.DataFrame, name: str, time_col: str, freq, func: str) -> pd.Series:
    """Start of each row's window (the one window definition of :mod:`labkit._windows`)."""
    check_columns(df, time_col, "time_col", func=func, frame=name)
    return window_starts(check_datetimes(df[time_col], f"{name}[{time_col!r}]", func=func), freq, func=func)


def _estimator(model, features, func: str):
    """(fitted estimator, feature list) from a Baseline/ModelVersion (``.model`` + ``.features``) or an estimator."""
    if hasattr(model, "model") and hasattr(model, "features"):
        if features is not None and list(features) != list(model.features):
            raise fail(func, "features", f"None or the model's own {list(model.features)}", list(features),
                       "leave features=None for a Baseline or ModelVersion")
        return model.model, list(model.features)
    if not hasattr(model, "predict"):
        raise fail(func, "model", "a fitted estimator with predict() or a labkit Baseline", model,
                   "pass baseline or baseline.model", TypeError)
    features = features if features is not None else getattr(model, "feature_names_in_", None)
    if features is None:
        raise fail(func, "features", "the columns the model reads", None,
                   f"pass features=[...]: a plain {type(model).__name__} does not say which they are")
    return model, list(features)


# --------------------------------------------------------------------------- timelines


def error_timeline(df: pd.DataFrame, *, label_col: str = "cnt", pred_col: str = "prediction",
                   time_col: str = "timestamp", freq: str = "D") -> pd.DataFrame:
    """Error of the model per time window, on labelled rows.

    Returns a DataFrame indexed by ``window_start`` with n, mae, rmse, mean_residual (bias),
    mean_true and wape (sum |residual| / sum y_true: scale-free, so busy and quiet windows compare
    fairly). Windows are those of :func:`labkit.drift.drift_timeline`. A missing label is an error:
    drop unlabelled rows first.

    >>> df = pd.DataFrame({"timestamp": pd.to_datetime(["2012-01-01 08:00", "2012-01-01 09:00",
    ...                                                   "2012-01-02 08:00"]),
    ...                    "cnt": [10, 20, 30], "prediction": [12, 20, 20]})
    >>> error_timeline(df)[["n", "mae", "mean_residual"]]
                  n  mae  mean_residual
    window_start
    2012-01-01    2  1.0           -1.0
    2012-01-02    1 10.0           10.0
    """
    func = "error_timeline"
    _frame(df, "df", func, label_col=label_col, pred_col=pred_col)
    t, p = check_pair(df[label_col], df[pred_col], func=func, names=(f"df[{label_col!r}]", f"df[{pred_col!r}]"))
    resid = t - p
    work = pd.DataFrame({"window_start": _window_of(df, "df", time_col, freq, func).to_numpy(),
                         "ae": np.abs(resid), "se": resid ** 2, "res": resid, "y": t})
    g = work.groupby("window_start", sort=True)
    out = pd.DataFrame({"n": g.size(), "mae": g["ae"].mean(), "rmse": np.sqrt(g["se"].mean()),
                        "mean_residual": g["res"].mean(), "mean_true": g["y"].mean()})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["wape"] = g["ae"].sum() / g["y"].sum()
    return out


def drift_signals(reference: pd.DataFrame, current: pd.DataFrame, *, columns: Sequence[str] | None = None,
                  method: str = "wasserstein", freq: str = "D", time_col: str = "timestamp") -> pd.DataFrame:
    """Drift statistic per window (rows) and feature (columns), plus their ``mean`` and ``max``.

    A wide view of :func:`labkit.drift.drift_timeline` (same windows, same statistics: by default
    the normed Wasserstein distance), shaped as :func:`lagged_correlation` wants its ``signal``.
    ``columns`` defaults to the numerical features present in both frames. Higher means more drift.

    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=200)})
    >>> cur = pd.DataFrame({"timestamp": pd.date_range("2012-01-01", periods=48, freq="h"),
    ...                     "x": rng.normal(size=48) + np.repeat([0, 3], 24)})
    >>> s = drift_signals(ref, cur, columns=["x"])
    >>> list(s.columns), bool(s["x"].iloc[1] > s["x"].iloc[0])
    (['x', 'mean', 'max'], True)
    """
    from labkit.data import NUMERICAL_FEATURES
    from labkit.drift import drift_timeline

    func = "drift_signals"
    _frame(reference, "reference", func)
    _frame(current, "current", func)
    if columns is None:
        columns = [c for c in NUMERICAL_FEATURES if c in reference.columns and c in current.columns]
        if not columns:
            raise fail(func, "columns", "features present in both frames", None, "pass columns=[...]")
    columns = [columns] if isinstance(columns, str) else list(columns)
    check_type(method, str, "method", func=func, expected="one method name", fix="pass e.g. method='wasserstein'")
    tl = drift_timeline(reference, current, time_col=time_col, freq=freq, columns=columns,
                        methods={c: [method] for c in columns})
    wide = tl.pivot(index="window_start", columns="column", values="statistic")[columns]
    wide.columns.name = None
    return wide.assign(mean=wide.mean(axis=1), max=wide.max(axis=1))


@dataclass(frozen=True)
class LaggedCorrelation:
    """Correlation of each signal with the error at several lags (see :func:`lagged_correlation`).

    ``table`` is tidy (signal, lag, correlation, n window pairs); lag k > 0 pairs the signal of
    window t with the error of window t + k: the signal leads by k windows. ``best`` holds, per
    signal, the lag with the highest correlation and the correlation at lag 0. ``leader`` and
    ``leader_lag`` name the best signal and lag overall (a useful warning has a high *positive*
    correlation at a lag > 0).
    """

    table: pd.DataFrame = field(repr=False)
    best: pd.DataFrame = field(repr=False)
    leader: str
    leader_lag: int
    leader_correlation: float
    method: str
    freq: str

    @property
    def leads(self) -> bool:
        """True when the best signal moves before the error (lag > 0)."""
        return self.leader_lag > 0

    def to_frame(self) -> pd.DataFrame:
        """The tidy table (signal, lag, correlation, n)."""
        return self.table.copy()


def _by_window(obj, name: str, func: str) -> pd.DataFrame:
    if isinstance(obj, pd.Series):
        obj = obj.to_frame(name=obj.name if obj.name is not None else name)
    check_type(obj, pd.DataFrame, name, func=func, expected="a Series (or DataFrame) indexed by window start",
               fix="use error_timeline(...)['mae'] or drift_signals(...)")
    if "window_start" in obj.columns:
        obj = obj.set_index("window_start")
    if not isinstance(obj.index, pd.DatetimeIndex):
        raise fail(func, name, "a DatetimeIndex of window starts", f"<{type(obj.index).__name__}>",
                   "use error_timeline(...)['mae'] or drift_signals(...)", TypeError)
    if obj.index.has_duplicates:
        raise fail(func, name, "one value per window", f"<several rows for {obj.index[obj.index.duplicated()][0]}>",
                   "aggregate to one row per window first")
    return obj.sort_index().astype(float)


def lagged_correlation(error, signal, *, lags: Sequence[int] = range(-3, 4), freq: str | None = None,
                       method: str = "pearson", min_pairs: int = 5) -> LaggedCorrelation:
    """Correlate an error timeline with one or more signals at several lags.

    ``error`` is one Series and ``signal`` a Series or DataFrame (one column per signal), both
    indexed by the **same** window starts. Lag k > 0 compares the signal at window t with the error
    at t + k. Windows are put on a regular ``freq`` grid first (inferred when omitted), so a missing
    window is a gap, never a silent shift. Correlations over fewer than ``min_pairs`` pairs are NaN.
    No p-value on purpose: neighbouring windows are autocorrelated.

    >>> t = pd.date_range("2012-01-01", periods=8, freq="D")
    >>> s = pd.Series([1, 3, 2, 5, 4, 6, 5, 8.0], index=t, name="temp")
    >>> r = lagged_correlation(s.shift(2) * 2, s, lags=[0, 1, 2])
    >>> r.leader, r.leader_lag, round(r.leader_correlation, 6)
    ('temp', 2, 1.0)
    """
    func = "lagged_correlation"
    check_choice(method, "method", ("pearson", "spearman"), func=func)
    lags = [int(k) for k in ([lags] if isinstance(lags, (int, np.integer)) else lags)]
    if not lags:
        raise fail(func, "lags", "at least one lag", lags, "pass e.g. lags=range(-3, 4)")
    min_pairs = check_int(min_pairs, "min_pairs", func=func, low=3)
    e = _by_window(error, "error", func)
    if e.shape[1] != 1:
        raise fail(func, "error", "one series", f"<{e.shape[1]} columns>", "pick one, e.g. timeline['mae']")
    e = e.iloc[:, 0]
    s = _by_window(signal, "signal", func)
    if not e.index.equals(s.index):
        raise fail(func, "signal", f"the error's {len(e)} windows ({e.index.min()} .. {e.index.max()})",
                   f"<{len(s)} windows, {s.index.min()} .. {s.index.max()} (misaligned)>",
                   "compute both from the same rows with the same freq, or use signal.reindex(error.index)")
    if freq is None:
        freq = pd.infer_freq(e.index) if len(e) >= 3 else None
        if freq is None:
            raise fail(func, "freq", "the window frequency", None,
                       f"cannot infer the window frequency from {len(e)} windows; pass freq= as used to build them")
    grid = pd.date_range(e.index[0], e.index[-1], freq=freq)
    if len(e.index.difference(grid)):
        raise fail(func, "freq", f"windows on a regular {freq!r} grid", f"<{e.index.difference(grid)[0]} off the grid>",
                   "pass the freq the windows were built with")
    e, s = e.reindex(grid), s.reindex(grid)
    rows = []
    for col in s.columns:
        for k in lags:
            shifted = s[col].shift(k)
            ok = e.notna() & shifted.notna()
            with np.errstate(all="ignore"):
                r = float(e[ok].corr(shifted[ok], method=method)) if ok.sum() >= min_pairs else np.nan
            rows.append((str(col), k, r, int(ok.sum())))
    table = pd.DataFrame(rows, columns=["signal", "lag", "correlation", "n"])
    if table["correlation"].isna().all():
        if (table["n"] >= min_pairs).any():
            raise fail(func, "error", "a series that varies", "<a constant error or signal>",
                       "a constant series cannot lead or follow anything")
        raise fail(func, "lags", f"lags that leave {min_pairs} window pairs", lags,
                   f"no lag in {lags} does; use smaller lags or shorter windows ({len(grid)} windows)")
    best = []
    for col, g in table.groupby("signal", sort=False):
        at0 = g.loc[g["lag"] == 0, "correlation"]
        top = g.dropna(subset=["correlation"])
        top = top.loc[top["correlation"].idxmax()] if len(top) else {"lag": np.nan, "correlation": np.nan}
        best.append((col, top["lag"], top["correlation"], float(at0.iloc[0]) if len(at0) else np.nan))
    best = pd.DataFrame(best, columns=["signal", "best_lag", "correlation", "correlation_lag0"])
    top = best.dropna(subset=["correlation"]).sort_values("correlation", ascending=False, kind="stable").iloc[0]
    return LaggedCorrelation(table=table, best=best, leader=str(top["signal"]), leader_lag=int(top["best_lag"]),
                             leader_correlation=float(top["correlation"]), method=method, freq=str(freq))


# --------------------------------------------------------------------------- residuals and segments


@dataclass(frozen=True)
class ResidualSummary:
    """Bias and spread of the residuals ``y_true - y_pred``.

    ``mean_residual`` is the bias (positive: the model under-predicts); ``relative_bias`` =
    mean_residual / mean_true; ``share_under`` = share of rows with y_true > y_pred.
    """

    n: int
    mean_residual: float
    median_residual: float
    std_residual: float
    mae: float
    rmse: float
    mean_true: float
    relative_bias: float
    share_under: float

    @property
    def direction(self) -> str:
        """'under-predicts', 'over-predicts' or 'unbiased' (mean residual exactly 0)."""
        return "under-predicts" if self.mean_residual > 0 else "over-predicts" if self.mean_residual < 0 else "unbiased"

    def to_frame(self) -> pd.DataFrame:
        """One row with every field and the direction."""
        return pd.DataFrame([{**self.__dict__, "direction": self.direction}])


def residual_summary(y_true, y_pred) -> ResidualSummary:
    """Mean residual (systematic bias) and spread of a model's errors.

    >>> s = residual_summary([100, 120, 140], [90, 100, 150])
    >>> s.mean_residual, s.mae, s.share_under, s.direction
    (6.666666666666667, 13.333333333333334, 0.6666666666666666, 'under-predicts')
    """
    t, p = check_pair(y_true, y_pred, func="residual_summary")
    r = t - p
    mean_true = float(t.mean())
    return ResidualSummary(
        n=int(r.size), mean_residual=float(r.mean()), median_residual=float(np.median(r)),
        std_residual=float(r.std(ddof=1)) if r.size > 1 else float("nan"), mae=float(np.abs(r).mean()),
        rmse=float(np.sqrt(np.mean(r ** 2))), mean_true=mean_true,
        relative_bias=float(r.mean() / mean_true) if mean_true != 0 else float("nan"),
        share_under=float(np.mean(r > 0)),
    )


@dataclass(frozen=True)
class SegmentErrors:
    """Error by segment and the best/worst disparity per segment variable (see :func:`segment_errors`).

    ``table``: by, segment, n, mae, rmse, mean_residual, wape, too_small (segments with fewer than
    ``min_rows`` rows keep their numbers, are flagged and left out of the disparity).
    ``disparity``: per variable best_segment, best, worst_segment, worst, ratio = best / worst
    (1 = equal), difference = worst - best, flagged = ratio < ``ratio_threshold``, n_segments,
    n_too_small, note. ``too_small``: by, segment, n of the flagged rows. ``frames``: per variable
    the fairlearn ``MetricFrame`` over the segments large enough (``.by_group``, ``.ratio()``, ...).
    """

    table: pd.DataFrame = field(repr=False)
    disparity: pd.DataFrame = field(repr=False)
    too_small: pd.DataFrame = field(repr=False)
    frames: dict = field(repr=False)
    metric: str
    min_rows: int
    ratio_threshold: float

    def to_frame(self) -> pd.DataFrame:
        """The per-segment table."""
        return self.table.copy()


def _wape(y_true, y_pred) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.abs(y_true - y_pred).sum() / np.sum(y_true))


#: The per-segment metrics, as fairlearn's MetricFrame calls them: ``f(y_true, y_pred)``.
_SEGMENT_METRICS = {"n": lambda y, p: len(y), "mae": lambda y, p: float(np.mean(np.abs(y - p))),
                    "rmse": lambda y, p: float(np.sqrt(np.mean((y - p) ** 2))),
                    "mean_residual": lambda y, p: float(np.mean(y - p)), "wape": _wape}


def _disparity(frame, col: str, metric: str, n_small: int, min_rows: int, ratio_threshold: float) -> dict:
    """Best/worst segment of ``metric`` from the MetricFrame of the segments large enough (None: fewer than 2)."""
    row = {"by": col, "best_segment": None, "best": np.nan, "worst_segment": None, "worst": np.nan, "ratio": np.nan,
           "difference": np.nan, "flagged": False, "n_segments": 0, "n_too_small": n_small,
           "note": f"{n_small} too-small segment(s) excluded" if n_small else ""}
    values = frame.by_group[metric].dropna() if frame is not None else pd.Series(dtype=float)
    if len(values) < 2:
        return {**row, "n_segments": len(values), "note": f"fewer than 2 segments with >= {min_rows} rows: no disparity"}
    ratio = float(frame.ratio()[metric])
    return {**row, "best_segment": values.idxmin(), "best": float(values.min()), "worst_segment": values.idxmax(),
            "worst": float(values.max()), "ratio": ratio, "difference": float(frame.difference()[metric]),
            "flagged": bool(ratio < ratio_threshold), "n_segments": len(values)}


def segment_errors(df: pd.DataFrame, *, label_col: str = "cnt", pred_col: str = "prediction",
                   by: Sequence[str] = DEFAULT_SEGMENTS, min_rows: int = 30, metric: str = "mae",
                   ratio_threshold: float = 0.8) -> SegmentErrors:
    """Error by segment (hour, working day, weather, season, ...) with a best/worst ratio per variable.

    Each variable gets a fairlearn ``MetricFrame`` (n, MAE, RMSE, mean residual, WAPE by group).
    The lecture's fairness rule alerts when ``min / max < 0.8`` (the 80% rule); for an error, lower
    is better, so the ratio is the MetricFrame's ``ratio()`` = ``min(error) / max(error)`` over the
    segments with at least ``min_rows`` rows (``metric``: "mae", "rmse" or the scale-free "wape").
    Smaller segments are reported and flagged, never merged or averaged away.

    >>> df = pd.DataFrame({"workingday": [0, 0, 1, 1, 1], "cnt": [10, 10, 10, 10, 10],
    ...                    "prediction": [6, 6, 9, 11, 10]})
    >>> r = segment_errors(df, by=["workingday"], min_rows=2)
    >>> r.table[["segment", "n", "mae"]].round(3).values.tolist()
    [[0.0, 2.0, 4.0], [1.0, 3.0, 0.667]]
    >>> r.disparity[["best_segment", "worst_segment", "ratio", "flagged"]].values.tolist()
    [[1, 0, 0.16666666666666666, True]]
    """
    from fairlearn.metrics import MetricFrame

    func = "segment_errors"
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise fail(func, "by", "at least one segment column", by, "pass e.g. by=['hr', 'workingday']")
    _frame(df, "df", func, label_col=label_col, pred_col=pred_col, by=by)
    check_choice(metric, "metric", ("mae", "rmse", "wape"), func=func)
    min_rows = check_int(min_rows, "min_rows", func=func, low=1)
    ratio_threshold = check_number(ratio_threshold, "ratio_threshold", func=func, low=0, high=1, low_open=True)
    t, p = check_pair(df[label_col], df[pred_col], func=func, names=(f"df[{label_col!r}]", f"df[{pred_col!r}]"))
    parts, disp, frames = [], [], {}
    for col in by:
        seg = df[col].rename("segment").reset_index(drop=True)
        if seg.isna().any():
            raise fail(func, f"df[{col!r}]", "a segment for every row", f"<{int(seg.isna().sum())} missing>",
                       "fill them (e.g. with 'unknown') so those rows form a segment of their own")
        frames[col] = MetricFrame(metrics=_SEGMENT_METRICS, y_true=t, y_pred=p, sensitive_features=seg)
        tab = frames[col].by_group.astype({"n": int}).assign(too_small=lambda x: x["n"] < min_rows)
        small = tab.index[tab["too_small"]]
        if len(small):  # the disparity is measured without them: a MetricFrame of the large segments
            logger.info("%s: segments of %r with fewer than %d rows, left out of the disparity: %s", func, col,
                        min_rows, dict(zip(small, tab.loc[small, "n"])))
            keep = ~seg.isin(small).to_numpy()
            frames[col] = (MetricFrame(metrics=_SEGMENT_METRICS, y_true=t[keep], y_pred=p[keep],
                                       sensitive_features=seg[keep]) if keep.any() else None)
        disp.append(_disparity(frames[col], col, metric, len(small), min_rows, ratio_threshold))
        parts.append(tab.reset_index().assign(by=col))
    table = pd.concat(parts, ignore_index=True)[["by", "segment", "n", "mae", "rmse", "mean_residual", "wape",
                                                  "too_small"]]
    too_small = table.loc[table["too_small"], ["by", "segment", "n"]].reset_index(drop=True)
    return SegmentErrors(table=table, disparity=pd.DataFrame(disp), too_small=too_small, frames=frames,
                         metric=metric, min_rows=min_rows, ratio_threshold=ratio_threshold)


# --------------------------------------------------------------------------- importance


@dataclass(frozen=True)
class ImportanceShift:
    """Permutation importance on the reference and on a current window (see :func:`importance_shift`).

    ``table`` has per feature importance_* and std_* (mean and std over repeats of the MAE increase
    when the feature is shuffled), share_* (importance / sum of positive importances: comparable
    although the errors differ), rank_* (1 = most important) for reference and current, and
    rank_change (positive: moved up); sorted by rank_current. ``rank_correlation``: Spearman
    correlation of the two importance vectors.
    """

    table: pd.DataFrame = field(repr=False)
    rank_correlation: float
    n_repeats: int
    n_reference: int
    n_current: int
    seed: int

    def to_frame(self) -> pd.DataFrame:
        """The per-feature table."""
        return self.table.copy()


@threadpool_limits.wrap(limits=1)  # one thread per model: no oversubscription on a shared machine
def importance_shift(model, reference: pd.DataFrame, current: pd.DataFrame, *, features: Sequence[str] | None = None,
                     label_col: str = "cnt", n_repeats: int = 5, max_rows: int | None = 3000,
                     seed: int = 0) -> ImportanceShift:
    """Permutation importance then (reference) vs now (current), with rank changes.

    Each side is exactly ``sklearn.inspection.permutation_importance(model, X, y,
    scoring="neg_mean_absolute_error", n_repeats=n_repeats, random_state=seed)`` on at most
    ``max_rows`` seeded random rows (None: all). ``label_col="prediction"`` gives the label-free
    view: how far the model's own predictions move when a feature is shuffled.
    """
    from sklearn.inspection import permutation_importance

    func = "importance_shift"
    est, feats = _estimator(model, features, func)
    seed = check_seed(seed, func=func)
    n_repeats = check_int(n_repeats, "n_repeats", func=func, low=1)
    if max_rows is not None:
        max_rows = check_int(max_rows, "max_rows", func=func, low=10, fix="pass None (all rows) or an int >= 10")
    rng = np.random.default_rng(seed)
    results, sizes = {}, {}
    for side, frame in (("reference", reference), ("current", current)):
        _frame(frame, side, func, features=feats, label_col=label_col)
        if max_rows is not None and len(frame) > max_rows:
            frame = frame.iloc[np.sort(rng.choice(len(frame), size=max_rows, replace=False))]
        y = check_numbers(frame[label_col], f"{side}[{label_col!r}]", func=func)
        results[side] = permutation_importance(est, frame[feats], y, scoring="neg_mean_absolute_error",
                                               n_repeats=n_repeats, random_state=seed)
        sizes[side] = len(frame)
    table = pd.DataFrame({"feature": feats})
    for side in ("reference", "current"):
        table[f"importance_{side}"] = results[side].importances_mean
        table[f"std_{side}"] = results[side].importances_std
    for side in ("reference", "current"):
        pos = table[f"importance_{side}"].clip(lower=0)
        table[f"share_{side}"] = pos / pos.sum() if pos.sum() > 0 else np.nan
        table[f"rank_{side}"] = table[f"importance_{side}"].rank(ascending=False, method="min").astype(int)
    table["rank_change"] = table["rank_reference"] - table["rank_current"]
    table = table.sort_values(["rank_current", "feature"], kind="stable").reset_index(drop=True)
    rho = float(stats.spearmanr(table["importance_reference"], table["importance_current"]).statistic)
    return ImportanceShift(table=table, rank_correlation=rho, n_repeats=n_repeats,
                           n_reference=sizes["reference"], n_current=sizes["current"], seed=seed)


@dataclass(frozen=True)
class ShapDrift:
    """Mean |SHAP| per feature on the reference and per window, and a label-free alert (see :func:`shap_drift`).

    ``reference``: mean |SHAP| per feature on the reference; ``profile``: the same per window
    (rows) and feature (columns), in the target's units. ``table`` per window: n (rows explained),
    distance (total variation distance between the window's and the reference's *shares* of
    mean |SHAP|: the share of attribution that moved to other features), threshold, alert.
    """

    reference: pd.Series = field(repr=False)
    profile: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    quantile: float
    n_reference: int
    seed: int

    def shares(self) -> pd.DataFrame:
        """Each profile as shares of its total: the reference first, then one row per window."""
        both = pd.concat([self.reference.to_frame("reference").T, self.profile])
        return both.div(both.sum(axis=1), axis=0)

    def to_frame(self) -> pd.DataFrame:
        """The per-window table with window_start as a column."""
        return self.table.reset_index()


def _tv_distance(profiles: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Total variation distance between each profile's shares and the reference's: 0.5 * sum |a - b|."""
    shares = profiles / profiles.sum(axis=-1, keepdims=True)
    return 0.5 * np.abs(shares - reference / reference.sum()).sum(axis=-1)


@threadpool_limits.wrap(limits=1)
def shap_drift(model, reference: pd.DataFrame, current: pd.DataFrame, *, freq: str = "MS", n_rows: int = 200,
               quantile: float = 0.99, time_col: str = "timestamp", seed: int = 0) -> ShapDrift:
    """Explanation drift: mean |SHAP| per feature on the reference and per window of ``current``.

    ``shap.TreeExplainer`` explains every reference row and ``n_rows`` seeded random rows of each
    window (no labels needed). A window alerts when its profile of shares moved further from the
    reference's than ``quantile`` of 1000 *bootstrap windows of the reference*: as many reference
    days as the window has, drawn with replacement (hours of a day are alike), then as many rows
    as the window explained. So the threshold is the reference's own noise, not a magic number.
    """
    with warnings.catch_warnings():  # shap's colour maps use a matplotlib call that is being deprecated
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    func = "shap_drift"
    est, feats = _estimator(model, None, func)
    seed = check_seed(seed, func=func)
    n_rows = check_int(n_rows, "n_rows", func=func, low=10)
    quantile = check_probability(quantile, "quantile", func=func)
    _frame(current, "current", func, features=feats)
    ref_day = _window_of(_frame(reference, "reference", func, features=feats), "reference", time_col, "D", func)
    order = np.argsort(ref_day.to_numpy(), kind="stable")  # the hours of each reference day side by side
    explainer = shap.TreeExplainer(est)
    ref_abs = np.abs(explainer.shap_values(reference[feats].iloc[order]))
    ref_mean = ref_abs.mean(axis=0)
    _, first, n_hours = np.unique(ref_day.to_numpy()[order], return_index=True, return_counts=True)
    rng = np.random.default_rng(seed)
    rows, profiles = [], {}
    for start, part in current.groupby(_window_of(current, "current", time_col, freq, func).to_numpy(), sort=True):
        n_days = part[time_col].dt.normalize().nunique()
        part = part.iloc[np.sort(rng.choice(len(part), size=min(n_rows, len(part)), replace=False))]
        profiles[start] = np.abs(explainer.shap_values(part[feats])).mean(axis=0)
        days = rng.integers(0, len(first), size=(1000, n_days))  # 1000 bootstrap windows of reference days
        day = np.take_along_axis(days, rng.integers(0, n_days, size=(1000, len(part))), axis=1)
        boot = ref_abs[first[day] + (rng.random(day.shape) * n_hours[day]).astype(int)].mean(axis=1)
        rows.append((start, len(part), float(_tv_distance(profiles[start], ref_mean)),
                     float(np.quantile(_tv_distance(boot, ref_mean), quantile))))
    table = pd.DataFrame(rows, columns=["window_start", "n", "distance", "threshold"]).set_index("window_start")
    table["alert"] = table["distance"] > table["threshold"]
    profile = pd.DataFrame(profiles, index=feats).T.rename_axis("window_start")
    return ShapDrift(reference=pd.Series(ref_mean, index=feats), profile=profile, table=table, quantile=quantile,
                     n_reference=len(reference), seed=seed)


# --------------------------------------------------------------------------- performance estimation

_PRED_COL = "model_prediction"


@dataclass(frozen=True)
class LossEstimator:
    """A model of the monitored model's absolute error (direct loss estimation).

    ``estimator`` (gradient boosting) predicts ``|y_true - prediction|`` from the features and the
    monitored ``model``'s prediction. ``reference_mae`` is the realised MAE on the reference: the
    naive estimate carried forward.
    """

    model: object = field(repr=False)
    estimator: object = field(repr=False)
    features: tuple
    label_col: str
    reference_mae: float
    reference_estimated_mae: float
    n_reference: int
    reference_period: tuple | None = None

    def _inputs(self, df: pd.DataFrame) -> pd.DataFrame:
        X = df[list(self.features)].copy()
        X[_PRED_COL] = self.model.predict(df[list(self.features)])
        return X

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Expected absolute error of the monitored model for each row of ``df`` (no labels needed)."""
        _frame(df, "df", "LossEstimator.predict", features=list(self.features))
        return np.clip(self.estimator.predict(self._inputs(df)), 0, None)

    def to_frame(self) -> pd.DataFrame:
        """One row describing the estimator."""
        return pd.DataFrame([{"features": list(self.features), "label_col": self.label_col,
                              "reference_mae": self.reference_mae,
                              "reference_estimated_mae": self.reference_estimated_mae,
                              "n_reference": self.n_reference, "reference_period": self.reference_period}])


@threadpool_limits.wrap(limits=1)
def fit_loss_estimator(model, reference: pd.DataFrame, *, features: Sequence[str] | None = None,
                       label_col: str = "cnt", max_iter: int = 100, min_samples_leaf: int = 40,
                       seed: int = 0) -> LossEstimator:
    """Train a direct loss estimator on labelled reference rows the monitored model did not train on.

    The estimator (squared loss, so it estimates the *expected* absolute error) learns where the
    model errs given its inputs. It follows error from unfamiliar inputs; it is blind to concept
    drift, where the same inputs now have another answer (docs/analysis.md).
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    func = "fit_loss_estimator"
    est, feats = _estimator(model, features, func)
    seed = check_seed(seed, func=func)
    _frame(reference, "reference", func, features=feats, label_col=label_col)
    y = check_numbers(reference[label_col], f"reference[{label_col!r}]", func=func)
    if len(reference) < 5 * min_samples_leaf:
        raise fail(func, "reference", f"at least {5 * min_samples_leaf} rows (5 x min_samples_leaf)", reference,
                   "use a longer reference period")
    X = reference[feats].copy()
    X[_PRED_COL] = est.predict(reference[feats])
    abs_err = np.abs(y - X[_PRED_COL].to_numpy())
    loss_model = HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.05, min_samples_leaf=min_samples_leaf,
                                               early_stopping=False, random_state=seed).fit(X, abs_err)
    period = None
    if "timestamp" in reference.columns and pd.api.types.is_datetime64_any_dtype(reference["timestamp"]):
        period = (str(reference["timestamp"].min()), str(reference["timestamp"].max()))
    return LossEstimator(model=est, estimator=loss_model, features=tuple(feats), label_col=label_col,
                         reference_mae=float(abs_err.mean()),
                         reference_estimated_mae=float(np.clip(loss_model.predict(X), 0, None).mean()),
                         n_reference=int(len(reference)), reference_period=period)


@dataclass(frozen=True)
class PerformanceEstimate:
    """Estimated vs naive vs realised MAE per window (see :func:`estimate_performance`).

    ``table``: per window n, estimated_mae, naive_mae, n_labelled, realised_mae (NaN until labels
    arrive), estimate_error and naive_error (estimate - realised). ``estimate_gap``/``naive_gap``:
    mean |estimate - realised| over labelled windows; ``estimate_correlation``: does the estimate
    move with the realised MAE; ``estimate_bias``: mean estimate_error (negative: too optimistic).
    """

    table: pd.DataFrame = field(repr=False)
    reference_mae: float
    estimate_gap: float
    naive_gap: float
    estimate_correlation: float
    estimate_bias: float
    n_windows: int
    n_labelled_windows: int
    freq: str

    def to_frame(self) -> pd.DataFrame:
        """The per-window table with window_start as a column."""
        return self.table.reset_index()


@threadpool_limits.wrap(limits=1)
def estimate_performance(estimator: LossEstimator, current: pd.DataFrame, *, freq: str = "W",
                         time_col: str = "timestamp", label_col: str | None = None) -> PerformanceEstimate:
    """Estimate MAE per window before labels arrive; compare with the realised MAE where they have.

    Rows whose label (``label_col``, default the estimator's) is missing count as not labelled yet;
    without a label column the realised columns and the gaps stay NaN.
    """
    func = "estimate_performance"
    check_type(estimator, LossEstimator, "estimator", func=func, expected="a LossEstimator",
               fix="build one with fit_loss_estimator(model, reference)")
    _frame(current, "current", func, features=list(estimator.features))
    if label_col is not None:
        check_columns(current, label_col, "label_col", func=func, frame="current")
    label_col = label_col or (estimator.label_col if estimator.label_col in current.columns else None)
    X = estimator._inputs(current)
    work = pd.DataFrame({"window_start": _window_of(current, "current", time_col, freq, func).to_numpy(),
                         "est": np.clip(estimator.estimator.predict(X), 0, None), "ae": np.nan})
    if label_col is not None:
        y = check_numbers(current[label_col], f"current[{label_col!r}]", func=func, missing_ok=True)
        work["ae"] = np.where(np.isfinite(y), np.abs(y - X[_PRED_COL].to_numpy()), np.nan)
    g = work.groupby("window_start", sort=True)
    table = pd.DataFrame({"n": g.size(), "estimated_mae": g["est"].mean()})
    table["naive_mae"] = estimator.reference_mae
    table["n_labelled"] = g["ae"].count()
    table["realised_mae"] = g["ae"].mean()
    table["estimate_error"] = table["estimated_mae"] - table["realised_mae"]
    table["naive_error"] = table["naive_mae"] - table["realised_mae"]
    lab = table.dropna(subset=["realised_mae"])
    nan = float("nan")
    return PerformanceEstimate(
        table=table, reference_mae=estimator.reference_mae,
        estimate_gap=float(lab["estimate_error"].abs().mean()) if len(lab) else nan,
        naive_gap=float(lab["naive_error"].abs().mean()) if len(lab) else nan,
        estimate_correlation=float(lab["estimated_mae"].corr(lab["realised_mae"])) if len(lab) >= 3 else nan,
        estimate_bias=float(lab["estimate_error"].mean()) if len(lab) else nan,
        n_windows=len(table), n_labelled_windows=len(lab), freq=str(freq))


# --------------------------------------------------------------------------- labelled samples


@dataclass(frozen=True)
class LabelSampleSpec:
    """How :func:`label_sample_detection` tests and repeats a labelled sample.

    ``statistic``: "mean_residual" (the bias) or "abs_error"; each daily look runs Welch's t-test
    at ``alpha`` / number of looks (``correction="bonferroni"``) or at ``alpha`` ("none"), once at
    least ``min_labels`` labels have arrived; ``n_draws`` seeded random samples.
    """

    statistic: str = "mean_residual"
    alpha: float = 0.05
    correction: str = "bonferroni"
    min_labels: int = 5
    n_draws: int = 200
    seed: int = 0


@dataclass(frozen=True)
class LabelSampleDetection:
    """How fast a random labelled sample detects a change, against full labels.

    ``draws``: per simulated sample draw, detected, days (days of production elapsed at detection,
    NaN if never), n_labels (labels seen then). ``full_label_days``/``full_label_n``: the same with
    every row labelled. ``median_days``, ``q10_days``, ``q90_days``, ``median_labels``: over the
    draws that detected. ``n_looks``: one look per day, each at ``alpha_per_look``.
    """

    draws: pd.DataFrame = field(repr=False)
    rate: float
    full_label_days: float
    full_label_n: float
    median_days: float
    q10_days: float
    q90_days: float
    share_detected: float
    median_labels: float
    n_looks: int
    alpha: float
    alpha_per_look: float
    label_delay_days: int
    statistic: str
    reference_value: float
    current_value: float

    def to_frame(self) -> pd.DataFrame:
        """The per-draw table."""
        return self.draws.copy()

    def summary(self) -> pd.DataFrame:
        """Two rows, sample vs full labels: days to detection and labels used."""
        full = self.full_label_days
        return pd.DataFrame([
            {"labels": f"random {self.rate:.2%}", "days_to_detect": self.median_days, "days_q10": self.q10_days,
             "days_q90": self.q90_days, "labels_used": self.median_labels, "share_detected": self.share_detected},
            {"labels": "all", "days_to_detect": full, "days_q10": full, "days_q90": full,
             "labels_used": self.full_label_n, "share_detected": float(np.isfinite(full))},
        ])


def _first_detection(values, day, n_days, masks, ref, delay: int, alpha_look: float, min_labels: int):
    """Days to detection and labels used, per mask row (vectorised over masks and daily looks)."""
    order = np.argsort(day, kind="stable")
    v, m = values[order], masks[:, order]
    end = np.searchsorted(day[order], np.arange(n_days), side="right")  # rows with day <= k
    zeros = np.zeros((m.shape[0], 1))
    sums = [np.concatenate([zeros, np.cumsum(m * v ** k, axis=1, dtype=float)], axis=1)[:, end] for k in (0, 1, 2)]
    avail = np.arange(n_days) - delay  # the look at the end of day t sees the labels of days <= t - delay
    ok = avail >= 0
    n, s1, s2 = (np.zeros((m.shape[0], n_days)) for _ in range(3))
    n[:, ok], s1[:, ok], s2[:, ok] = (s[:, avail[ok]] for s in sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        var = np.clip((s2 - n * mean ** 2) / (n - 1), 0, None)  # clip: rounding
        p = stats.ttest_ind_from_stats(mean, np.sqrt(var), n, ref.mean(), ref.std(ddof=1), ref.size,
                                       equal_var=False).pvalue
    hit = (n >= min_labels) & (p < alpha_look)
    first = hit.argmax(axis=1)
    days = np.where(hit.any(axis=1), first + 1, np.nan).astype(float)
    return days, np.where(hit.any(axis=1), n[np.arange(n.shape[0]), first], np.nan)


def label_sample_detection(reference: pd.DataFrame, current: pd.DataFrame, *, rate: float = 0.01,
                           label_delay_days: int = 0, spec: LabelSampleSpec = LabelSampleSpec(),
                           label_col: str = "cnt", pred_col: str = "prediction",
                           time_col: str = "timestamp") -> LabelSampleDetection:
    """Days until a small random labelled sample ("label 1%") detects a change in the model's errors.

    Each production row is labelled with probability ``rate``. At the end of each day the labels
    that have arrived (days up to ``today - label_delay_days``) are compared with the reference by
    Welch's t-test (see :class:`LabelSampleSpec`); the first rejection is the detection day. This
    repeats for ``spec.n_draws`` seeded samples, and once with every row labelled. Daily looks are
    a multiple-testing problem, hence the Bonferroni correction (docs/analysis.md).
    """
    func = "label_sample_detection"
    seed = check_seed(spec.seed, "spec.seed", func=func)
    rate = check_number(rate, "rate", func=func, low=0, high=1, low_open=True, fix="pass a share such as 0.01")
    alpha = check_probability(spec.alpha, "spec.alpha", func=func)
    check_choice(spec.correction, "spec.correction", ("bonferroni", "none"), func=func)
    check_choice(spec.statistic, "spec.statistic", ("mean_residual", "abs_error"), func=func)
    delay = check_int(label_delay_days, "label_delay_days", func=func, low=0)
    n_draws = check_int(spec.n_draws, "spec.n_draws", func=func, low=1)
    min_labels = check_int(spec.min_labels, "spec.min_labels", func=func, low=2)
    values = []
    for name, frame in (("reference", reference), ("current", current)):
        _frame(frame, name, func, label_col=label_col, pred_col=pred_col)
        t, p = check_pair(frame[label_col], frame[pred_col], func=func,
                          names=(f"{name}[{label_col!r}]", f"{name}[{pred_col!r}]"))
        values.append(t - p if spec.statistic == "mean_residual" else np.abs(t - p))
    rv, cv = values
    days0 = _window_of(current, "current", time_col, "D", func)
    day = ((days0 - days0.min()) // pd.Timedelta(days=1)).to_numpy().astype(np.int64)
    n_days = int(day.max()) + 1
    alpha_look = alpha / n_days if spec.correction == "bonferroni" else alpha
    args = (rv, delay, alpha_look, min_labels)
    full_days, full_n = _first_detection(cv, day, n_days, np.ones((1, cv.size), dtype=bool), *args)
    masks = np.random.default_rng(seed).random((n_draws, cv.size)) < rate
    days, n_at = _first_detection(cv, day, n_days, masks, *args)
    hit = np.isfinite(days)
    q = (lambda a, x: float(np.quantile(a, x)) if a.size else float("nan"))
    return LabelSampleDetection(
        draws=pd.DataFrame({"draw": np.arange(n_draws), "detected": hit, "days": days, "n_labels": n_at}),
        rate=rate, full_label_days=float(full_days[0]), full_label_n=float(full_n[0]), median_days=q(days[hit], 0.5),
        q10_days=q(days[hit], 0.1), q90_days=q(days[hit], 0.9), share_detected=float(hit.mean()),
        median_labels=q(n_at[hit], 0.5), n_looks=n_days, alpha=alpha, alpha_per_look=float(alpha_look),
        label_delay_days=delay, statistic=spec.statistic, reference_value=float(rv.mean()),
        current_value=float(cv.mean()),
    )
