"""Degradation analysis: when and why the model failed, and what could have warned earlier.

The questions an on-call engineer is asked after an incident, one function each:

- **When did the error grow, and did drift warn first?** :func:`error_timeline` (error per time
  window), :func:`drift_signals` (drift per window and feature, a wide view of
  :func:`labkit.drift.drift_timeline`) and :func:`lagged_correlation` (which signal, at which lag,
  moves with the error).
- **Is the model biased, and for whom?** :func:`residual_summary` (mean residual = systematic
  bias) and :func:`segment_errors` (error by hour, working day, weather, season, with the ratio
  of the best to the worst segment: the lecture's 80%-rule from fairness monitoring applied to
  segments; segments with too few rows are *reported*, never silently averaged).
- **Did the model's reasoning change?** :func:`importance_shift`: permutation importance on the
  reference vs on a production window, with rank changes.
- **Could we have known before labels arrived?** :func:`fit_loss_estimator` +
  :func:`estimate_performance`: direct loss estimation (a second model, trained on the
  reference, predicts the monitored model's absolute error from its inputs and prediction),
  compared per window with the realised error and with the naive estimate (reference error
  carried forward). It follows error caused by *unfamiliar inputs*; it cannot see concept drift
  (same inputs, different answer), such as the bike data's 2011→2012 growth.
- **How cheap could labels have caught it?** :func:`label_sample_detection`: how many days a
  small random labelled sample (the lecture's "label 1%") needs to detect a bias, against full
  labels, with the label delay and the repeated daily looks accounted for.

Conventions: residual = ``y_true - y_pred`` (positive: the model under-predicts); argument order
(reference, current); randomness only through ``seed``; every result is a frozen dataclass with
``to_frame()``.

Examples
--------
>>> import pandas as pd
>>> from labkit.analysis import residual_summary, lagged_correlation
>>> residual_summary([10, 20, 30], [8, 18, 31]).mean_residual
1.0
>>> t = pd.date_range("2012-01-01", periods=8, freq="D")
>>> drift = pd.Series([0, 0, 1, 0, 0, 2, 0, 0.0], index=t)
>>> error = drift.shift(1, fill_value=0.0) * 10 + 5       # error follows drift one day later
>>> lagged_correlation(error, drift.rename("drift"), lags=[0, 1]).leader_lag
1
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "error_timeline",
    "drift_signals",
    "LaggedCorrelation",
    "lagged_correlation",
    "ResidualSummary",
    "residual_summary",
    "SegmentErrors",
    "segment_errors",
    "ImportanceShift",
    "importance_shift",
    "LossEstimator",
    "fit_loss_estimator",
    "PerformanceEstimate",
    "estimate_performance",
    "LabelSampleDetection",
    "label_sample_detection",
    "DEFAULT_SEGMENTS",
]

logger = logging.getLogger(__name__)

#: Columns :func:`segment_errors` groups by when ``by`` is not given.
DEFAULT_SEGMENTS = ("hr", "workingday", "weathersit", "season")


# --------------------------------------------------------------------------- private helpers
# (also used by labkit.retraining and labkit.experiments)


def _require_frame(df, name: str, func: str, columns: Sequence[str] = ()) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{func}(): {name} must be a pandas DataFrame; got {type(df).__name__}.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        shown = list(df.columns)[:25]
        raise ValueError(
            f"{func}(): {name} lacks column(s) {missing}; it has {shown}{' ...' if df.shape[1] > 25 else ''}. "
            "Add them (e.g. df['prediction'] = baseline.predict(df)) or pass the right column names."
        )
    if len(df) == 0:
        raise ValueError(f"{func}(): {name} has no rows; there is nothing to analyse.")


def _numbers(values, name: str, func: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{func}(): {name} must hold numbers; got values that cannot be converted ({exc}).") from None
    if arr.ndim != 1:
        raise ValueError(f"{func}(): {name} must be one-dimensional; got shape {arr.shape}. Pass one column.")
    return arr


def _labels(values, name: str, func: str) -> np.ndarray:
    """Observed values as floats; missing labels are an error that says what to do."""
    arr = _numbers(values, name, func)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{func}(): {name} has {int(bad.sum())} missing label(s) of {arr.size} (first at position "
            f"{int(np.argmax(bad))}): their labels have not arrived yet. Evaluate only labelled rows, "
            "e.g. df.dropna(subset=['cnt']), or wait for the labels."
        )
    return arr


def _pair(y_true, y_pred, func: str, names=("y_true", "y_pred")) -> tuple[np.ndarray, np.ndarray]:
    t = _labels(y_true, names[0], func)
    p = _numbers(y_pred, names[1], func)
    if t.shape != p.shape:
        raise ValueError(f"{func}(): {names[0]} and {names[1]} must have the same length; got {t.size} and {p.size}.")
    if t.size == 0:
        raise ValueError(f"{func}(): {names[0]} and {names[1]} are empty; there is nothing to evaluate.")
    if not np.isfinite(p).all():
        bad = ~np.isfinite(p)
        raise ValueError(f"{func}(): {names[1]} holds {int(bad.sum())} missing or infinite prediction(s) "
                         f"(first at position {int(np.argmax(bad))}); the model must predict every row.")
    return t, p


def _times(df: pd.DataFrame, time_col: str, name: str, func: str) -> pd.Series:
    if time_col not in df.columns:
        raise ValueError(
            f"{func}(): {name} has no time column {time_col!r}; it has {list(df.columns)[:25]}. "
            "Pass time_col=... (labkit.data.load_hourly() adds 'timestamp')."
        )
    t = df[time_col]
    if not pd.api.types.is_datetime64_any_dtype(t.dtype):
        raise TypeError(f"{func}(): {name}[{time_col!r}] must hold datetimes; got dtype {t.dtype}. "
                        "Convert it with pd.to_datetime.")
    if t.isna().any():
        raise ValueError(f"{func}(): {name}[{time_col!r}] has {int(t.isna().sum())} missing timestamp(s); drop them.")
    return t


def _window_start(times: pd.Series, freq: str, func: str) -> pd.Series:
    """Start of the window each time falls in; the same windows as labkit.drift.drift_timeline."""
    from labkit.drift import _window_starts

    return _window_starts(times, freq, func)


def _unwrap_model(model, features, func: str):
    """(estimator with predict, feature list) from a Baseline/ModelVersion or an estimator."""
    if hasattr(model, "model") and hasattr(model, "features"):
        inner, feats = model.model, list(model.features)
        if features is not None and list(features) != feats:
            raise ValueError(f"{func}(): features={list(features)} differ from the model's own {feats}; "
                             "leave features=None for a Baseline/ModelVersion.")
        return inner, feats
    if not hasattr(model, "predict"):
        raise TypeError(f"{func}(): model must be a fitted estimator with predict() or a labkit Baseline; "
                        f"got {type(model).__name__}.")
    if features is None:
        feats = getattr(model, "feature_names_in_", None)
        if feats is None:
            raise ValueError(f"{func}(): pass features=[...] (the columns the model reads); a plain "
                             f"{type(model).__name__} does not say which they are.")
        return model, list(feats)
    return model, list(features)


def _check_int(value, name: str, func: str, minimum: int = 0) -> int:
    """An integer >= minimum (bools refused), or a ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{func}(): {name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _check_seed(seed, func: str) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"{func}(): seed must be a non-negative integer; got {seed!r}.")
    return int(seed)


def _welch_p(mean1, var1, n1, mean2, var2, n2):
    """Welch t statistic and two-sided p-value from moments (broadcasts; var with ddof=1).

    Equals ``scipy.stats.ttest_ind(a, b, equal_var=False)``; NaN where a sample has < 2 values
    or both variances are zero.
    """
    mean1, var1, n1, mean2, var2, n2 = np.broadcast_arrays(*(np.asarray(a, dtype=float)
                                                            for a in (mean1, var1, n1, mean2, var2, n2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        se1, se2 = var1 / n1, var2 / n2
        se = np.sqrt(se1 + se2)
        t = (mean1 - mean2) / se
        dof = (se1 + se2) ** 2 / (se1 ** 2 / (n1 - 1) + se2 ** 2 / (n2 - 1))
        p = 2 * stats.t.sf(np.abs(t), dof)
    bad = (n1 < 2) | (n2 < 2) | ~(se > 0)
    t = np.where(bad, np.nan, t)
    p = np.where(bad, np.nan, p)
    return t, p


# --------------------------------------------------------------------------- timelines


def error_timeline(df: pd.DataFrame, *, y_true: str = "cnt", y_pred: str = "prediction",
                   time_col: str = "timestamp", freq: str = "D") -> pd.DataFrame:
    """Error of the model per time window (labelled rows).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows with observed values, predictions and a datetime column.
    y_true, y_pred : str, default "cnt", "prediction"
        Columns of observed values and predictions.
    time_col : str, default "timestamp"
    freq : str, default "D"
        Window length, as in :func:`labkit.drift.drift_timeline` (same window starts).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``window_start``: n, mae, rmse, mean_residual (bias, positive = the model
        under-predicts), mean_true, wape (sum |residual| / sum y_true: a scale-free error, so a
        busy month and a quiet one compare fairly).

    Raises
    ------
    ValueError
        A label is missing (not arrived yet): drop unlabelled rows first.

    Examples
    --------
    >>> import pandas as pd
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
    _require_frame(df, "df", func, [y_true, y_pred])
    t, p = _pair(df[y_true], df[y_pred], func, (f"df[{y_true!r}]", f"df[{y_pred!r}]"))
    start = _window_start(_times(df, time_col, "df", func), freq, func)
    resid = t - p
    work = pd.DataFrame({"window_start": start.to_numpy(), "ae": np.abs(resid), "se": resid ** 2,
                         "res": resid, "y": t})
    g = work.groupby("window_start", sort=True)
    out = pd.DataFrame({
        "n": g.size(),
        "mae": g["ae"].mean(),
        "rmse": np.sqrt(g["se"].mean()),
        "mean_residual": g["res"].mean(),
        "mean_true": g["y"].mean(),
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        out["wape"] = g["ae"].sum() / g["y"].sum()
    out.index.name = "window_start"
    return out


def drift_signals(reference: pd.DataFrame, current: pd.DataFrame, *, columns: Sequence[str] | None = None,
                  method: str = "wasserstein", freq: str = "D", time_col: str = "timestamp",
                  **options) -> pd.DataFrame:
    """Drift statistic per window and feature, wide: one column per feature plus mean and max.

    A thin wrapper of :func:`labkit.drift.drift_timeline` (same windows, same statistics) that
    returns what :func:`lagged_correlation` wants as ``signal``.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        Reference data and the stream to cut into windows.
    columns : list of str, optional
        Features (default: :data:`labkit.data.NUMERICAL_FEATURES` present in both frames).
    method : str, default "wasserstein"
        One method of :func:`labkit.drift.drift_timeline` (normed Wasserstein: Evidently's
        default for large numeric samples).
    freq, time_col
        Windows, as in :func:`labkit.drift.drift_timeline`.
    **options
        Passed on to :func:`labkit.drift.drift_timeline` (e.g. ``threshold``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``window_start``; one column per feature, then ``mean`` and ``max`` across
        features. Higher means more drift.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=200)})
    >>> cur = pd.DataFrame({"timestamp": pd.date_range("2012-01-01", periods=48, freq="h"),
    ...                     "x": rng.normal(size=48) + np.repeat([0, 3], 24)})
    >>> s = drift_signals(ref, cur, columns=["x"])
    >>> list(s.columns), bool(s["x"].iloc[1] > s["x"].iloc[0])
    (['x', 'mean', 'max'], True)
    """
    from labkit import drift as _drift
    from labkit.data import NUMERICAL_FEATURES

    func = "drift_signals"
    _require_frame(reference, "reference", func)
    _require_frame(current, "current", func)
    if columns is None:
        columns = [c for c in NUMERICAL_FEATURES if c in reference.columns and c in current.columns]
        if not columns:
            raise ValueError(f"{func}(): no numerical feature of {NUMERICAL_FEATURES} is in both frames; "
                             "pass columns=[...].")
    columns = [columns] if isinstance(columns, str) else list(columns)
    if not isinstance(method, str):
        raise TypeError(f"{func}(): method must be one method name such as 'wasserstein'; got {method!r}.")
    tl = _drift.drift_timeline(reference, current, time_col=time_col, freq=freq, columns=columns,
                               methods={c: [method] for c in columns}, **options)
    wide = tl.pivot(index="window_start", columns="column", values="statistic")[columns]
    wide.columns.name = None
    wide["mean"] = wide[columns].mean(axis=1)
    wide["max"] = wide[columns].max(axis=1)
    wide.index.name = "window_start"
    return wide


@dataclass(frozen=True)
class LaggedCorrelation:
    """Correlation of each signal with the error at several lags (see :func:`lagged_correlation`).

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy: signal, lag, correlation, n (window pairs used). Lag k > 0 pairs the signal of
        window t with the error of window t + k: **the signal leads by k windows**. Lag 0:
        same window; k < 0: the error moves first.
    best : pandas.DataFrame
        Per signal: the lag with the highest correlation, that correlation and the one at lag 0.
    leader, leader_lag, leader_correlation
        The signal and lag with the highest correlation overall. A useful warning signal has a
        high *positive* correlation at a lag > 0; a negative one means more drift came with
        *less* error.
    method : str
        "pearson" or "spearman".
    freq : str
        Window frequency the lags are counted in.
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


def _as_window_series(obj, name: str, func: str) -> pd.DataFrame:
    if isinstance(obj, pd.Series):
        obj = obj.to_frame(name=obj.name if obj.name is not None else name)
    elif not isinstance(obj, pd.DataFrame):
        raise TypeError(f"{func}(): {name} must be a pandas Series (or DataFrame for several signals) "
                        f"indexed by window start; got {type(obj).__name__}.")
    if "window_start" in obj.columns:
        obj = obj.set_index("window_start")
    if not isinstance(obj.index, pd.DatetimeIndex):
        raise TypeError(f"{func}(): {name} must be indexed by window start (a DatetimeIndex); got "
                        f"{type(obj.index).__name__}. Use error_timeline(...)['mae'] or drift_signals(...).")
    if obj.index.has_duplicates:
        dup = obj.index[obj.index.duplicated()][0]
        raise ValueError(f"{func}(): {name} has several rows for window {dup}; one value per window is needed.")
    try:
        return obj.sort_index().astype(float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{func}(): {name} must hold numbers ({exc}).") from None


def lagged_correlation(error, signal, *, lags: Sequence[int] = range(-3, 4), freq: str | None = None,
                       method: str = "pearson", min_pairs: int = 5) -> LaggedCorrelation:
    """Correlate an error timeline with one or more signals at several lags.

    Parameters
    ----------
    error : pandas.Series
        Error per window, indexed by window start (e.g. ``error_timeline(df)["mae"]``).
    signal : pandas.Series or DataFrame
        One signal, or one column per signal, indexed by the **same** windows (e.g.
        :func:`drift_signals`).
    lags : sequence of int, default -3..3
        Lags in windows. Lag k > 0 compares the signal at window t with the error at t + k (the
        signal leads). Windows are placed on a regular grid first, so a window missing from both
        (no rows that day) is a gap, never a silent shift.
    freq : str, optional
        Window frequency; inferred from the index when omitted.
    method : {"pearson", "spearman"}, default "pearson"
        As ``pandas.Series.corr``.
    min_pairs : int, default 5
        Correlations on fewer window pairs are NaN.

    Returns
    -------
    LaggedCorrelation

    Raises
    ------
    ValueError
        The error and the signal cover different windows (misaligned: computed with different
        ``freq`` or periods), the frequency cannot be inferred, or a lag leaves fewer than
        ``min_pairs`` pairs for every signal.

    Notes
    -----
    Neighbouring windows are autocorrelated, so a correlation over a dozen months is weak
    evidence; no p-value is given on purpose.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.date_range("2012-01-01", periods=8, freq="D")
    >>> s = pd.Series([1, 3, 2, 5, 4, 6, 5, 8.0], index=t, name="temp")
    >>> e = s.shift(2) * 2
    >>> r = lagged_correlation(e, s, lags=[0, 1, 2])
    >>> r.leader, r.leader_lag, round(r.leader_correlation, 6)
    ('temp', 2, 1.0)
    """
    func = "lagged_correlation"
    if method not in ("pearson", "spearman"):
        raise ValueError(f"{func}(): method must be 'pearson' or 'spearman'; got {method!r}.")
    if isinstance(lags, (int, np.integer)):
        lags = [int(lags)]
    lags = [int(k) for k in lags]
    if not lags:
        raise ValueError(f"{func}(): lags is empty; pass e.g. lags=range(-3, 4).")
    if not isinstance(min_pairs, (int, np.integer)) or min_pairs < 3:
        raise ValueError(f"{func}(): min_pairs must be an integer >= 3; got {min_pairs!r}.")
    e = _as_window_series(error, "error", func)
    if e.shape[1] != 1:
        raise ValueError(f"{func}(): error must be one series; got {e.shape[1]} columns {list(e.columns)}. "
                         "Pick one, e.g. timeline['mae'].")
    e = e.iloc[:, 0]
    s = _as_window_series(signal, "signal", func)
    only_e = e.index.difference(s.index)
    only_s = s.index.difference(e.index)
    if len(only_e) or len(only_s):
        raise ValueError(
            f"{func}(): error and signal cover different windows (misaligned): error has {len(e)} windows "
            f"({e.index.min()} .. {e.index.max()}), signal {len(s)} ({s.index.min()} .. {s.index.max()}); "
            f"{len(only_e)} only in error (first {list(only_e[:2].astype(str))}), {len(only_s)} only in signal "
            f"(first {list(only_s[:2].astype(str))}). Compute both from the same rows with the same freq, "
            "or align them first, e.g. signal.reindex(error.index)."
        )
    idx = e.index
    if freq is None:
        freq = pd.infer_freq(idx) if len(idx) >= 3 else None
        if freq is None:
            raise ValueError(f"{func}(): cannot infer the window frequency from {len(idx)} windows (gaps or too "
                             "few); pass freq= as used to build them, e.g. freq='D', 'W-MON' or 'MS'.")
    grid = pd.date_range(idx[0], idx[-1], freq=freq)
    off_grid = idx.difference(grid)
    if len(off_grid):
        raise ValueError(f"{func}(): {len(off_grid)} window(s) are not on a regular {freq!r} grid (first "
                         f"{off_grid[0]}); pass the freq the windows were built with.")
    e = e.reindex(grid)
    s = s.reindex(grid)
    rows = []
    for col in s.columns:
        for k in lags:
            shifted = s[col].shift(k)
            ok = e.notna() & shifted.notna()
            n = int(ok.sum())
            with np.errstate(all="ignore"):
                r = float(e[ok].corr(shifted[ok], method=method)) if n >= min_pairs else float("nan")
            rows.append((str(col), k, r, n))
    table = pd.DataFrame(rows, columns=["signal", "lag", "correlation", "n"])
    if table["correlation"].isna().all():
        if (table["n"] >= min_pairs).any():
            raise ValueError(f"{func}(): every correlation is undefined: the error or the signal is constant "
                             "over the windows compared. A constant series cannot lead or follow anything.")
        raise ValueError(f"{func}(): no lag in {lags} leaves {min_pairs} window pairs with values "
                         f"(there are {len(grid)} windows); use smaller lags or shorter windows.")
    best_rows = []
    for col, g in table.groupby("signal", sort=False):
        g = g.dropna(subset=["correlation"])
        at0 = table[(table["signal"] == col) & (table["lag"] == 0)]["correlation"]
        if g.empty:
            best_rows.append((col, np.nan, np.nan, float(at0.iloc[0]) if len(at0) else np.nan))
            continue
        top = g.loc[g["correlation"].idxmax()]
        best_rows.append((col, int(top["lag"]), float(top["correlation"]),
                          float(at0.iloc[0]) if len(at0) else np.nan))
    best = pd.DataFrame(best_rows, columns=["signal", "best_lag", "correlation", "correlation_lag0"])
    top = best.dropna(subset=["correlation"]).sort_values("correlation", ascending=False, kind="stable").iloc[0]
    return LaggedCorrelation(table=table, best=best, leader=str(top["signal"]), leader_lag=int(top["best_lag"]),
                             leader_correlation=float(top["correlation"]), method=method, freq=str(freq))


# --------------------------------------------------------------------------- residuals


@dataclass(frozen=True)
class ResidualSummary:
    """Systematic bias and spread of the residuals ``y_true - y_pred``.

    Attributes
    ----------
    n : int
    mean_residual : float
        The bias: positive = the model under-predicts on average.
    median_residual, std_residual : float
    mae, rmse : float
    mean_true : float
    relative_bias : float
        mean_residual / mean_true (e.g. 0.35: demand 35% above the predictions on average).
    share_under : float
        Share of rows the model under-predicted (y_true > y_pred).
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
        if self.mean_residual > 0:
            return "under-predicts"
        if self.mean_residual < 0:
            return "over-predicts"
        return "unbiased"

    def to_frame(self) -> pd.DataFrame:
        """One row with every field and the direction."""
        return pd.DataFrame([{**self.__dict__, "direction": self.direction}])


def residual_summary(y_true, y_pred) -> ResidualSummary:
    """Mean residual (systematic bias) and spread of a model's errors.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Observed values (no missing labels) and predictions.

    Returns
    -------
    ResidualSummary

    Examples
    --------
    >>> s = residual_summary([100, 120, 140], [90, 100, 150])
    >>> s.mean_residual, s.mae, s.share_under, s.direction
    (6.666666666666667, 13.333333333333334, 0.6666666666666666, 'under-predicts')
    """
    func = "residual_summary"
    t, p = _pair(y_true, y_pred, func)
    r = t - p
    mean_true = float(t.mean())
    return ResidualSummary(
        n=int(r.size),
        mean_residual=float(r.mean()),
        median_residual=float(np.median(r)),
        std_residual=float(r.std(ddof=1)) if r.size > 1 else float("nan"),
        mae=float(np.abs(r).mean()),
        rmse=float(np.sqrt(np.mean(r ** 2))),
        mean_true=mean_true,
        relative_bias=float(r.mean() / mean_true) if mean_true != 0 else float("nan"),
        share_under=float(np.mean(r > 0)),
    )


@dataclass(frozen=True)
class SegmentErrors:
    """Error by segment and the best/worst disparity per segment variable.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy: by (segment variable), segment (its value), n, mae, rmse, mean_residual, wape,
        too_small. Segments with fewer than ``min_rows`` rows keep their numbers (to be seen)
        but are flagged ``too_small`` and left out of the disparity.
    disparity : pandas.DataFrame
        Per variable: best_segment, best, worst_segment, worst (the ``metric`` values), ratio =
        best / worst (1 = equal, lower = more disparity), flagged = ratio < ``ratio_threshold``,
        n_segments (eligible), n_too_small, note.
    too_small : pandas.DataFrame
        The rows of ``table`` flagged too small (by, segment, n).
    metric : str
    min_rows : int
    ratio_threshold : float
    """

    table: pd.DataFrame = field(repr=False)
    disparity: pd.DataFrame = field(repr=False)
    too_small: pd.DataFrame = field(repr=False)
    metric: str
    min_rows: int
    ratio_threshold: float

    def to_frame(self) -> pd.DataFrame:
        """The per-segment table."""
        return self.table.copy()


_SEGMENT_METRICS = ("mae", "rmse", "wape")


def segment_errors(df: pd.DataFrame, *, y_true: str = "cnt", y_pred: str = "prediction",
                   by: Sequence[str] = DEFAULT_SEGMENTS, min_rows: int = 30, metric: str = "mae",
                   ratio_threshold: float = 0.8) -> SegmentErrors:
    """Error by segment (hour, working day, weather, season, ...) with a best/worst ratio.

    The lecture's fairness check compares accuracy across groups and alerts when
    ``min / max < 0.8`` (the 80% rule). For an *error* lower is better, so the ratio here is
    ``best / worst = min(error) / max(error)`` over segments with at least ``min_rows`` rows,
    flagged below ``ratio_threshold``.

    Parameters
    ----------
    df : pandas.DataFrame
        Labelled rows with the ``by`` columns, observed values and predictions.
    y_true, y_pred : str, default "cnt", "prediction"
    by : sequence of str, default ("hr", "workingday", "weathersit", "season")
        Segment variables; each is analysed separately.
    min_rows : int, default 30
        Segments with fewer rows are reported as too small (flagged, excluded from the
        disparity), not merged into others and not averaged away.
    metric : {"mae", "rmse", "wape"}, default "mae"
        The error the disparity compares. MAE grows with demand (busy hours have larger
        errors); "wape" (sum |residual| / sum y_true) is scale-free.
    ratio_threshold : float, default 0.8

    Returns
    -------
    SegmentErrors

    Raises
    ------
    ValueError
        Missing labels, a ``by`` column missing, ``min_rows`` < 1, unknown metric.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"workingday": [0, 0, 1, 1, 1], "cnt": [10, 10, 10, 10, 10],
    ...                    "prediction": [6, 6, 9, 11, 10]})
    >>> r = segment_errors(df, by=["workingday"], min_rows=2)
    >>> for row in r.table.itertuples():
    ...     print(row.segment, row.n, round(row.mae, 3), row.too_small)
    0 2 4.0 False
    1 3 0.667 False
    >>> r.disparity[["best_segment", "worst_segment", "ratio", "flagged"]].values.tolist()
    [[1, 0, 0.16666666666666666, True]]
    """
    func = "segment_errors"
    if isinstance(by, str):
        by = [by]
    by = list(by)
    if not by:
        raise ValueError(f"{func}(): by is empty; pass segment columns, e.g. by=['hr', 'workingday'].")
    _require_frame(df, "df", func, [y_true, y_pred, *by])
    if metric not in _SEGMENT_METRICS:
        raise ValueError(f"{func}(): metric must be one of {_SEGMENT_METRICS}; got {metric!r}.")
    if isinstance(min_rows, bool) or not isinstance(min_rows, (int, np.integer)) or min_rows < 1:
        raise ValueError(f"{func}(): min_rows must be a positive integer; got {min_rows!r}.")
    if not (0 < ratio_threshold <= 1):
        raise ValueError(f"{func}(): ratio_threshold must be in (0, 1]; got {ratio_threshold!r}.")
    t, p = _pair(df[y_true], df[y_pred], func, (f"df[{y_true!r}]", f"df[{y_pred!r}]"))
    resid = t - p
    parts, disp = [], []
    for col in by:
        seg = df[col]
        if seg.isna().any():
            raise ValueError(f"{func}(): df[{col!r}] has {int(seg.isna().sum())} missing value(s); fill them "
                             "(e.g. with 'unknown') so those rows form a segment of their own.")
        w = pd.DataFrame({"segment": seg.to_numpy(), "ae": np.abs(resid), "se": resid ** 2, "res": resid, "y": t})
        g = w.groupby("segment", sort=True, observed=True)
        tab = pd.DataFrame({"n": g.size(), "mae": g["ae"].mean(), "rmse": np.sqrt(g["se"].mean()),
                            "mean_residual": g["res"].mean()})
        with np.errstate(divide="ignore", invalid="ignore"):
            tab["wape"] = g["ae"].sum() / g["y"].sum()
        tab["too_small"] = tab["n"] < min_rows
        tab = tab.reset_index()
        tab.insert(0, "by", col)
        parts.append(tab)
        ok = tab[~tab["too_small"]].dropna(subset=[metric])
        n_small = int(tab["too_small"].sum())
        if n_small:
            small = tab[tab["too_small"]]
            logger.info("%s: %d segment(s) of %r have fewer than %d rows and are left out of the disparity: %s",
                        func, n_small, col, min_rows, dict(zip(small["segment"], small["n"])))
        if len(ok) < 2:
            disp.append({"by": col, "best_segment": None, "best": np.nan, "worst_segment": None, "worst": np.nan,
                         "ratio": np.nan, "flagged": False, "n_segments": len(ok), "n_too_small": n_small,
                         "note": f"fewer than 2 segments with >= {min_rows} rows: no disparity"})
            continue
        b = ok.loc[ok[metric].idxmin()]
        wr = ok.loc[ok[metric].idxmax()]
        ratio = float(b[metric] / wr[metric]) if wr[metric] > 0 else 1.0
        disp.append({"by": col, "best_segment": b["segment"], "best": float(b[metric]),
                     "worst_segment": wr["segment"], "worst": float(wr[metric]), "ratio": ratio,
                     "flagged": bool(ratio < ratio_threshold), "n_segments": len(ok), "n_too_small": n_small,
                     "note": f"{n_small} too-small segment(s) excluded" if n_small else ""})
    table = pd.concat(parts, ignore_index=True)
    disparity = pd.DataFrame(disp)
    too_small = table.loc[table["too_small"], ["by", "segment", "n"]].reset_index(drop=True)
    return SegmentErrors(table=table, disparity=disparity, too_small=too_small, metric=metric,
                         min_rows=int(min_rows), ratio_threshold=float(ratio_threshold))


# --------------------------------------------------------------------------- importance


@dataclass(frozen=True)
class ImportanceShift:
    """Permutation importance on the reference and on a current window, side by side.

    Attributes
    ----------
    table : pandas.DataFrame
        Per feature: importance_reference, std_reference, importance_current, std_current
        (mean and std over repeats of the score drop when the feature is shuffled; with the
        default scoring in rentals of MAE), share_reference, share_current (importance / sum of
        positive importances: comparable although 2012's errors are larger), rank_reference,
        rank_current (1 = most important), rank_change (rank_reference - rank_current: positive
        = moved up). Sorted by rank_current.
    rank_correlation : float
        Spearman correlation of the two importance vectors (1 = same order).
    scoring : str
    n_repeats, n_reference, n_current, seed : int
    """

    table: pd.DataFrame = field(repr=False)
    rank_correlation: float
    scoring: str
    n_repeats: int
    n_reference: int
    n_current: int
    seed: int

    def to_frame(self) -> pd.DataFrame:
        """The per-feature table."""
        return self.table.copy()


def _subsample(df: pd.DataFrame, max_rows, rng) -> pd.DataFrame:
    if max_rows is None or len(df) <= max_rows:
        return df
    keep = np.sort(rng.choice(len(df), size=int(max_rows), replace=False))
    return df.iloc[keep]


def importance_shift(model, reference: pd.DataFrame, current: pd.DataFrame, *, features: Sequence[str] | None = None,
                     target: str = "cnt", n_repeats: int = 5, scoring: str = "neg_mean_absolute_error",
                     max_rows: int | None = 3000, seed: int = 0) -> ImportanceShift:
    """Permutation importance then (reference) vs now (current), with rank changes.

    Both are ``sklearn.inspection.permutation_importance(model, X, y, scoring=scoring,
    n_repeats=n_repeats, random_state=seed)`` on the respective rows, so the numbers are exactly
    what scikit-learn returns for the same rows and seed.

    Parameters
    ----------
    model : labkit Baseline, ModelVersion or fitted estimator
    reference, current : pandas.DataFrame
        Labelled rows holding the features and ``target``.
    features : list of str, optional
        Needed for a plain estimator without ``feature_names_in_``.
    target : str, default "cnt"
    n_repeats : int, default 5
    scoring : str, default "neg_mean_absolute_error"
    max_rows : int or None, default 3000
        A seeded random subset of at most this many rows per frame keeps it quick (None: all).
    seed : int, default 0

    Returns
    -------
    ImportanceShift
    """
    from sklearn.inspection import permutation_importance

    func = "importance_shift"
    est, feats = _unwrap_model(model, features, func)
    seed = _check_seed(seed, func)
    if not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise ValueError(f"{func}(): n_repeats must be a positive integer; got {n_repeats!r}.")
    if max_rows is not None and (not isinstance(max_rows, (int, np.integer)) or max_rows < 10):
        raise ValueError(f"{func}(): max_rows must be None or an integer >= 10; got {max_rows!r}.")
    rng = np.random.default_rng(seed)
    results, sizes = {}, {}
    for name, frame in (("reference", reference), ("current", current)):
        _require_frame(frame, name, func, [*feats, target])
        frame = _subsample(frame, max_rows, rng)
        y = _labels(frame[target], f"{name}[{target!r}]", func)
        r = permutation_importance(est, frame[feats], y, scoring=scoring, n_repeats=int(n_repeats),
                                   random_state=seed)
        results[name] = r
        sizes[name] = len(frame)
    ref, cur = results["reference"], results["current"]
    table = pd.DataFrame({
        "feature": feats,
        "importance_reference": ref.importances_mean,
        "std_reference": ref.importances_std,
        "importance_current": cur.importances_mean,
        "std_current": cur.importances_std,
    })
    for side in ("reference", "current"):
        pos = table[f"importance_{side}"].clip(lower=0)
        total = pos.sum()
        table[f"share_{side}"] = pos / total if total > 0 else np.nan
        table[f"rank_{side}"] = table[f"importance_{side}"].rank(ascending=False, method="min").astype(int)
    table["rank_change"] = table["rank_reference"] - table["rank_current"]
    table = table.sort_values(["rank_current", "feature"], kind="stable").reset_index(drop=True)
    rho = float(stats.spearmanr(table["importance_reference"], table["importance_current"]).statistic)
    return ImportanceShift(table=table, rank_correlation=rho, scoring=scoring, n_repeats=int(n_repeats),
                           n_reference=sizes["reference"], n_current=sizes["current"], seed=seed)


# --------------------------------------------------------------------------- performance estimation


_PRED_COL = "model_prediction"


@dataclass(frozen=True)
class LossEstimator:
    """A model of the monitored model's absolute error (direct loss estimation).

    Attributes
    ----------
    model : object
        The monitored model (a fitted estimator).
    estimator : object
        A HistGradientBoostingRegressor predicting ``|y_true - prediction|`` from the features
        and the monitored model's prediction (column ``model_prediction``).
    features : tuple of str
    target : str
    reference_mae : float
        The monitored model's realised MAE on the reference: the naive estimate.
    reference_estimated_mae : float
        The estimator's mean estimate on the reference (in-sample, so close to reference_mae).
    n_reference : int
    reference_period : tuple of str or None
        First and last reference timestamp, when the reference has a ``timestamp`` column.
    """

    model: object = field(repr=False)
    estimator: object = field(repr=False)
    features: tuple
    target: str
    reference_mae: float
    reference_estimated_mae: float
    n_reference: int
    reference_period: tuple | None = None

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Expected absolute error of the monitored model for each row of ``df`` (no labels needed)."""
        func = "LossEstimator.predict"
        _require_frame(df, "df", func, list(self.features))
        X = df[list(self.features)].copy()
        X[_PRED_COL] = self.model.predict(df[list(self.features)])
        return np.clip(self.estimator.predict(X), 0, None)

    def to_frame(self) -> pd.DataFrame:
        """One row describing the estimator."""
        return pd.DataFrame([{"features": list(self.features), "target": self.target,
                              "reference_mae": self.reference_mae,
                              "reference_estimated_mae": self.reference_estimated_mae,
                              "n_reference": self.n_reference, "reference_period": self.reference_period}])


def fit_loss_estimator(model, reference: pd.DataFrame, *, features: Sequence[str] | None = None,
                       target: str = "cnt", max_iter: int = 100, min_samples_leaf: int = 40,
                       seed: int = 0) -> LossEstimator:
    """Train a direct loss estimator on the reference period.

    The estimator (a gradient-boosted tree, squared loss, so it estimates the *expected*
    absolute error) learns where the monitored model errs: at which hours, weathers, predicted
    levels. In production it needs inputs only. It follows error that comes from inputs it has
    seen err before (e.g. warm, busy hours for a winter-trained model); it is blind to concept
    drift, where the same inputs now have a different answer (the 2012 growth): nothing in the
    inputs says so.

    Parameters
    ----------
    model : labkit Baseline, ModelVersion or fitted estimator
    reference : pandas.DataFrame
        Labelled rows the monitored model did *not* train on (its errors there are honest).
    features : list of str, optional
        Needed for a plain estimator without ``feature_names_in_``.
    target : str, default "cnt"
    max_iter, min_samples_leaf : int
        Size of the estimator (small and smooth: the reference is a few thousand rows).
    seed : int, default 0

    Returns
    -------
    LossEstimator
    """
    from sklearn.ensemble import HistGradientBoostingRegressor

    func = "fit_loss_estimator"
    est, feats = _unwrap_model(model, features, func)
    seed = _check_seed(seed, func)
    _require_frame(reference, "reference", func, [*feats, target])
    y = _labels(reference[target], f"reference[{target!r}]", func)
    if len(reference) < 5 * min_samples_leaf:
        raise ValueError(f"{func}(): reference has {len(reference)} rows; the estimator needs at least "
                         f"{5 * min_samples_leaf} (5 x min_samples_leaf). Use a longer reference period.")
    X = reference[feats].copy()
    X[_PRED_COL] = est.predict(reference[feats])
    abs_err = np.abs(y - X[_PRED_COL].to_numpy())
    loss_model = HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.05,
                                               min_samples_leaf=min_samples_leaf, early_stopping=False,
                                               random_state=seed).fit(X, abs_err)
    period = None
    if "timestamp" in reference.columns and pd.api.types.is_datetime64_any_dtype(reference["timestamp"]):
        period = (str(reference["timestamp"].min()), str(reference["timestamp"].max()))
    return LossEstimator(model=est, estimator=loss_model, features=tuple(feats), target=target,
                         reference_mae=float(abs_err.mean()),
                         reference_estimated_mae=float(np.clip(loss_model.predict(X), 0, None).mean()),
                         n_reference=int(len(reference)), reference_period=period)


@dataclass(frozen=True)
class PerformanceEstimate:
    """Estimated vs naive vs realised MAE per window (see :func:`estimate_performance`).

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by window_start: n, estimated_mae, naive_mae, n_labelled, realised_mae (NaN
        until labels arrive), estimate_error and naive_error (estimate - realised).
    reference_mae : float
        The naive estimate, carried forward.
    estimate_gap, naive_gap : float
        Mean absolute difference between each estimate and the realised MAE over labelled
        windows (lower = closer).
    estimate_correlation : float
        Pearson correlation of estimated and realised MAE across labelled windows (does the
        estimate *move* with the error?). The naive estimate is constant, so has none.
    estimate_bias : float
        Mean of estimate_error (negative: the estimate is too optimistic).
    n_windows, n_labelled_windows : int
    freq : str
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

    @property
    def estimate_beats_naive(self) -> bool:
        """True when the loss estimate tracks realised MAE more closely than the naive one."""
        return bool(self.estimate_gap < self.naive_gap)

    def to_frame(self) -> pd.DataFrame:
        """The per-window table with window_start as a column."""
        return self.table.reset_index()


def estimate_performance(estimator: LossEstimator, current: pd.DataFrame, *, freq: str = "W",
                         time_col: str = "timestamp", y_true: str | None = None) -> PerformanceEstimate:
    """Estimate MAE per window before labels arrive; compare with realised MAE where they have.

    Parameters
    ----------
    estimator : LossEstimator
        From :func:`fit_loss_estimator`.
    current : pandas.DataFrame
        Production rows with the features and a datetime column. Labels are optional: rows whose
        label is missing (NaN) count as not yet labelled.
    freq : str, default "W"
        Window length (same windows as :func:`error_timeline`).
    time_col : str, default "timestamp"
    y_true : str, optional
        Label column (default: the estimator's target when ``current`` has it). Without labels
        the realised columns stay NaN and the gaps are NaN.

    Returns
    -------
    PerformanceEstimate
    """
    func = "estimate_performance"
    if not isinstance(estimator, LossEstimator):
        raise TypeError(f"{func}(): estimator must be a LossEstimator from fit_loss_estimator(); "
                        f"got {type(estimator).__name__}.")
    _require_frame(current, "current", func, list(estimator.features))
    start = _window_start(_times(current, time_col, "current", func), freq, func)
    label_col = y_true if y_true is not None else (estimator.target if estimator.target in current.columns else None)
    if y_true is not None and y_true not in current.columns:
        raise ValueError(f"{func}(): current has no label column {y_true!r}; drop y_true= to estimate without labels.")
    X = current[list(estimator.features)].copy()
    pred = estimator.model.predict(X)
    X[_PRED_COL] = pred
    est = np.clip(estimator.estimator.predict(X), 0, None)
    work = pd.DataFrame({"window_start": start.to_numpy(), "est": est})
    if label_col is not None:
        y = _numbers(current[label_col], f"current[{label_col!r}]", func)
        work["ae"] = np.where(np.isfinite(y), np.abs(y - pred), np.nan)
    else:
        logger.info("%s: no labels in current; realised MAE stays NaN", func)
        work["ae"] = np.nan
    g = work.groupby("window_start", sort=True)
    table = pd.DataFrame({"n": g.size(), "estimated_mae": g["est"].mean()})
    table["naive_mae"] = estimator.reference_mae
    table["n_labelled"] = g["ae"].count()
    table["realised_mae"] = g["ae"].mean()
    table["estimate_error"] = table["estimated_mae"] - table["realised_mae"]
    table["naive_error"] = table["naive_mae"] - table["realised_mae"]
    table.index.name = "window_start"
    lab = table.dropna(subset=["realised_mae"])
    if len(lab):
        est_gap = float(lab["estimate_error"].abs().mean())
        naive_gap = float(lab["naive_error"].abs().mean())
        bias = float(lab["estimate_error"].mean())
        corr = float(lab["estimated_mae"].corr(lab["realised_mae"])) if len(lab) >= 3 else float("nan")
    else:
        est_gap = naive_gap = bias = corr = float("nan")
    return PerformanceEstimate(table=table, reference_mae=estimator.reference_mae, estimate_gap=est_gap,
                               naive_gap=naive_gap, estimate_correlation=corr, estimate_bias=bias,
                               n_windows=len(table), n_labelled_windows=len(lab), freq=str(freq))


# --------------------------------------------------------------------------- labelled samples


@dataclass(frozen=True)
class LabelSampleDetection:
    """How fast a random labelled sample detects a change, against full labels.

    Attributes
    ----------
    draws : pandas.DataFrame
        One row per simulated sample: draw, detected, days (days of production elapsed when the
        change was detected, NaN if never), n_labels (labelled rows seen at detection).
    rate : float
        Share of rows labelled.
    full_label_days : float
        Days to detection with every row labelled (same delay and test); NaN if never.
    full_label_n : float
        Labelled rows seen at that moment.
    median_days, q10_days, q90_days : float
        Over the draws that detected.
    share_detected : float
    median_labels : float
        Median labelled rows at detection.
    n_looks : int
        One look per day; the test at each look uses ``alpha_per_look``.
    alpha, alpha_per_look : float
    label_delay_days : int
    statistic : str
    reference_value, current_value : float
        Reference mean and full-current mean of the tested values.
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
        return pd.DataFrame([
            {"labels": f"random {self.rate:.2%}", "days_to_detect": self.median_days,
             "days_q10": self.q10_days, "days_q90": self.q90_days, "labels_used": self.median_labels,
             "share_detected": self.share_detected},
            {"labels": "all", "days_to_detect": self.full_label_days, "days_q10": self.full_label_days,
             "days_q90": self.full_label_days, "labels_used": self.full_label_n,
             "share_detected": float(np.isfinite(self.full_label_days))},
        ])


def _first_detection(values: np.ndarray, day: np.ndarray, n_days: int, masks: np.ndarray, *, ref_mean, ref_var,
                     ref_n, delay: int, alpha_look: float, min_labels: int):
    """Days to detection and labels used, per mask row (vectorised over masks and looks)."""
    order = np.argsort(day, kind="stable")
    v, d = values[order], day[order]
    m = masks[:, order]
    end = np.searchsorted(d, np.arange(n_days), side="right")  # rows with day <= k
    zeros = np.zeros((m.shape[0], 1))
    c0 = np.concatenate([zeros, np.cumsum(m, axis=1, dtype=float)], axis=1)[:, end]
    c1 = np.concatenate([zeros, np.cumsum(m * v, axis=1)], axis=1)[:, end]
    c2 = np.concatenate([zeros, np.cumsum(m * v * v, axis=1)], axis=1)[:, end]
    # look t (end of day t) sees the labels of days <= t - delay
    looks = np.arange(n_days)
    avail = looks - delay
    shape = (m.shape[0], n_days)
    n = np.zeros(shape)
    s1 = np.zeros(shape)
    s2 = np.zeros(shape)
    ok = avail >= 0
    n[:, ok], s1[:, ok], s2[:, ok] = c0[:, avail[ok]], c1[:, avail[ok]], c2[:, avail[ok]]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        var = (s2 - n * mean ** 2) / (n - 1)
    var = np.where(var < 0, 0.0, var)  # rounding
    _, p = _welch_p(mean, var, n, ref_mean, ref_var, ref_n)
    hit = (n >= min_labels) & (p < alpha_look)
    any_hit = hit.any(axis=1)
    first = hit.argmax(axis=1)
    days = np.where(any_hit, first + 1, np.nan).astype(float)
    n_at = np.where(any_hit, n[np.arange(n.shape[0]), first], np.nan)
    return days, n_at


def label_sample_detection(reference: pd.DataFrame, current: pd.DataFrame, *, y_true: str = "cnt",
                           y_pred: str = "prediction", time_col: str = "timestamp", rate: float = 0.01,
                           label_delay_days: int = 0, alpha: float = 0.05, correction: str = "bonferroni",
                           statistic: str = "mean_residual", min_labels: int = 5, n_draws: int = 200,
                           seed: int = 0) -> LabelSampleDetection:
    """Days until a small random labelled sample detects a change in the model's errors.

    Every production row is labelled independently with probability ``rate`` (the lecture's
    "label 1% of predictions"). At the end of each day the labels that have arrived (days up to
    ``today - label_delay_days``) are compared with the reference by Welch's t-test on the mean
    residual (bias) or the mean absolute error. The first day the test rejects is the detection
    day. This repeats for ``n_draws`` seeded samples, and once with every row labelled.

    Looking every day is a multiple-testing problem (see
    :func:`labkit.experiments.peeking_simulation`): with ``correction="bonferroni"`` each look
    uses ``alpha / n_looks``, which keeps the chance of *any* false alarm over the whole period
    at most ``alpha`` (conservative); ``"none"`` tests each look at ``alpha``.

    Parameters
    ----------
    reference : pandas.DataFrame
        Labelled rows with predictions, e.g. ``baseline.reference``.
    current : pandas.DataFrame
        Production rows with predictions, labels and a datetime column (the simulation hides
        the labels; it needs them all).
    y_true, y_pred, time_col : str
    rate : float, default 0.01
        Share of rows labelled, in (0, 1].
    label_delay_days : int, default 0
        A label of day d can be used from the end of day d + delay.
    alpha : float, default 0.05
    correction : {"bonferroni", "none"}, default "bonferroni"
    statistic : {"mean_residual", "abs_error"}, default "mean_residual"
        Test the bias (residual y_true - y_pred) or the mean absolute error.
    min_labels : int, default 5
        No test before this many labels.
    n_draws : int, default 200
    seed : int, default 0

    Returns
    -------
    LabelSampleDetection

    Notes
    -----
    Hours of one day have correlated errors, so the full-label test is overconfident (it treats
    24 correlated hours as 24 independent ones); a 1% sample rarely holds two hours of one day.
    Detection days count calendar days from the first day of ``current``, including the delay.
    """
    func = "label_sample_detection"
    seed = _check_seed(seed, func)
    if not (0 < rate <= 1):
        raise ValueError(f"{func}(): rate must be in (0, 1] (share of rows labelled, e.g. 0.01); got {rate!r}.")
    if not (0 < alpha < 1):
        raise ValueError(f"{func}(): alpha must be in (0, 1); got {alpha!r}.")
    if correction not in ("bonferroni", "none"):
        raise ValueError(f"{func}(): correction must be 'bonferroni' or 'none'; got {correction!r}.")
    if statistic not in ("mean_residual", "abs_error"):
        raise ValueError(f"{func}(): statistic must be 'mean_residual' or 'abs_error'; got {statistic!r}.")
    label_delay_days = _check_int(label_delay_days, "label_delay_days", func, 0)
    n_draws = _check_int(n_draws, "n_draws", func, 1)
    min_labels = _check_int(min_labels, "min_labels", func, 2)
    _require_frame(reference, "reference", func, [y_true, y_pred])
    _require_frame(current, "current", func, [y_true, y_pred])
    rt, rp = _pair(reference[y_true], reference[y_pred], func, (f"reference[{y_true!r}]", f"reference[{y_pred!r}]"))
    ct, cp = _pair(current[y_true], current[y_pred], func, (f"current[{y_true!r}]", f"current[{y_pred!r}]"))
    transform = (lambda r: r) if statistic == "mean_residual" else np.abs
    rv, cv = transform(rt - rp), transform(ct - cp)
    times = _times(current, time_col, "current", func)
    days0 = times.dt.normalize()
    day = ((days0 - days0.min()) // pd.Timedelta(days=1)).to_numpy().astype(np.int64)
    n_days = int(day.max()) + 1
    alpha_look = alpha / n_days if correction == "bonferroni" else alpha
    kw = dict(ref_mean=rv.mean(), ref_var=rv.var(ddof=1), ref_n=rv.size, delay=int(label_delay_days),
              alpha_look=alpha_look, min_labels=int(min_labels))
    full_days, full_n = _first_detection(cv, day, n_days, np.ones((1, cv.size), dtype=bool), **kw)
    rng = np.random.default_rng(seed)
    masks = rng.random((int(n_draws), cv.size)) < rate
    days, n_at = _first_detection(cv, day, n_days, masks, **kw)
    draws = pd.DataFrame({"draw": np.arange(int(n_draws)), "detected": np.isfinite(days), "days": days,
                          "n_labels": n_at})
    hit = days[np.isfinite(days)]
    q = (lambda a, x: float(np.quantile(a, x)) if a.size else float("nan"))
    return LabelSampleDetection(
        draws=draws, rate=float(rate), full_label_days=float(full_days[0]), full_label_n=float(full_n[0]),
        median_days=q(hit, 0.5), q10_days=q(hit, 0.1), q90_days=q(hit, 0.9),
        share_detected=float(np.isfinite(days).mean()),
        median_labels=q(n_at[np.isfinite(n_at)], 0.5), n_looks=n_days, alpha=float(alpha),
        alpha_per_look=float(alpha_look), label_delay_days=int(label_delay_days), statistic=statistic,
        reference_value=float(rv.mean()), current_value=float(cv.mean()),
    )
