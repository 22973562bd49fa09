"""Shadow deployment, A/B tests and honest comparisons of two model versions.

A retrained *candidate* should earn its place before it replaces the *champion*:

- :func:`shadow_run`: the candidate predicts every row alongside the champion, only the champion
  is served; both predictions are logged with their ``model_version`` and compared once labels
  arrive. Both models see the same rows, so the comparison is *paired* and precise.
- :func:`assign_ab` / :func:`ab_test`: traffic split by hashing a stable key (sha256 of salt +
  key, so the same key always lands in the same arm, in any process, in any order); each row gets
  one model, so the comparison is *unpaired* and needs more data.
- :func:`paired_comparison` and :func:`ab_comparison`: difference in MAE with a seeded bootstrap
  interval and the matching t-test (``scipy.stats.ttest_rel`` / ``ttest_ind(equal_var=False)``).
  Hours of one day share weather and events, so :func:`paired_comparison` can resample whole
  days (``groups``), which gives honest, wider intervals.
- :func:`peeking_simulation`: why looking at the test every day and stopping at the first
  "significant" result inflates false wins (an A/A test: no real difference at all).
- :func:`promotion_decision`: promote / keep / rollback, with the reasons.

Sign convention: ``improvement = MAE(champion) - MAE(candidate)``; positive means the candidate
errs less.

Examples
--------
>>> from labkit.experiments import assign_ab, paired_comparison
>>> assign_ab(["2012-01-01 00:00", "2012-01-01 01:00", "2012-01-01 02:00"], salt="demo").tolist()
['B', 'B', 'A']
>>> c = paired_comparison([10, 20, 30, 40], [12, 23, 27, 45], [11, 21, 29, 42], n_boot=200)
>>> c.mae_champion, c.mae_candidate, c.improvement
(3.25, 1.25, 2.0)
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from labkit.analysis import (_check_int, _check_seed, _labels, _numbers, _pair, _require_frame, _times,
                             _unwrap_model, _welch_p)

__all__ = [
    "hash_bucket",
    "assign_ab",
    "PairedComparison",
    "paired_comparison",
    "ABComparison",
    "ab_comparison",
    "ShadowResult",
    "shadow_run",
    "ABResult",
    "ab_test",
    "PeekingResult",
    "peeking_simulation",
    "PromotionDecision",
    "promotion_decision",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- assignment


def _key_text(key) -> str:
    if isinstance(key, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(key).isoformat()
    return str(key)


def hash_bucket(keys, *, salt: str, n_buckets: int = 10_000) -> np.ndarray:
    """Deterministic bucket 0..n_buckets-1 per key: ``int(sha256(salt + ":" + key)[:8]) % n_buckets``.

    Timestamps are written in ISO form first (``2012-01-01T08:00:00``), anything else with
    ``str``. The same key and salt give the same bucket in every process and Python version
    (unlike ``hash()``, which is salted per process for strings).

    Examples
    --------
    >>> hash_bucket(["user-1", "user-2"], salt="exp-1").tolist()
    [5971, 2809]
    """
    if not isinstance(salt, str) or not salt:
        raise ValueError(f"hash_bucket(): salt must be a non-empty string naming the experiment; got {salt!r}.")
    if not isinstance(n_buckets, (int, np.integer)) or n_buckets < 2:
        raise ValueError(f"hash_bucket(): n_buckets must be an integer >= 2; got {n_buckets!r}.")
    if isinstance(keys, (str, bytes)):
        raise TypeError("hash_bucket(): keys must be a list/array/Series of keys, not one string; wrap it: [key].")
    out = np.empty(len(keys), dtype=np.int64)
    prefix = f"{salt}:".encode()
    for i, k in enumerate(keys):
        digest = hashlib.sha256(prefix + _key_text(k).encode()).digest()
        out[i] = int.from_bytes(digest[:8], "big") % int(n_buckets)
    return out


def assign_ab(keys, *, salt: str = "labkit-ab", share_b: float = 0.5, n_buckets: int = 10_000) -> np.ndarray:
    """Arm "A" or "B" per key: bucket < share_b * n_buckets -> "B".

    Parameters
    ----------
    keys : sequence
        Stable unit ids (a user id in real life; the hour's timestamp in the replay).
    salt : str, default "labkit-ab"
        Name of the experiment: a new salt reshuffles, so experiments are independent.
    share_b : float, default 0.5
        Share of buckets sent to B (the candidate), in (0, 1).
    n_buckets : int, default 10000

    Returns
    -------
    numpy.ndarray of str

    Examples
    --------
    >>> arms = assign_ab(range(10_000), salt="demo", share_b=0.2)
    >>> round(float((arms == "B").mean()), 2)
    0.2
    """
    if not (0 < share_b < 1):
        raise ValueError(f"assign_ab(): share_b must be in (0, 1) (share of traffic on B); got {share_b!r}.")
    buckets = hash_bucket(keys, salt=salt, n_buckets=n_buckets)
    return np.where(buckets < share_b * n_buckets, "B", "A")


# --------------------------------------------------------------------------- comparisons


def _boot_ratio(num: np.ndarray, den: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap of sum(num[idx]) / sum(den[idx]) over units resampled with replacement (chunked)."""
    g = num.size
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(g, 1))
    for s in range(0, n_boot, chunk):
        e = min(n_boot, s + chunk)
        idx = rng.integers(0, g, size=(e - s, g))
        out[s:e] = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return out


def _check_boot(n_boot, confidence, func):
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"{func}(): n_boot must be an integer >= 100; got {n_boot!r}.")
    if not (0 < confidence < 1):
        raise ValueError(f"{func}(): confidence must be in (0, 1), e.g. 0.95; got {confidence!r}.")


class _IntervalVerdict:
    """What both comparisons share: a verdict from the interval of the candidate's gain (ci_low, ci_high)."""

    ci_low: float
    ci_high: float

    @property
    def winner(self) -> str:
        """'candidate' or 'champion' when the interval excludes 0, else 'undecided'."""
        if self.ci_low > 0:
            return "candidate"
        if self.ci_high < 0:
            return "champion"
        return "undecided"

    def to_frame(self) -> pd.DataFrame:
        """One row with every field and the winner."""
        return pd.DataFrame([{**self.__dict__, "winner": self.winner}])


@dataclass(frozen=True)
class PairedComparison(_IntervalVerdict):
    """Champion vs candidate on the same rows.

    Attributes
    ----------
    n : int
        Rows compared.
    n_groups : int
        Resampling units (rows, or groups such as days).
    mae_champion, mae_candidate : float
    improvement : float
        mae_champion - mae_candidate (positive: the candidate errs less).
    ci_low, ci_high : float
        Bootstrap percentile interval of the improvement.
    t_statistic, p_value : float
        Paired t-test of absolute errors (``scipy.stats.ttest_rel``): per row, or per group mean
        when groups are given.
    confidence : float
    n_boot, seed : int
    unit : str
        "row" or "group".
    """

    n: int
    n_groups: int
    mae_champion: float
    mae_candidate: float
    improvement: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    confidence: float
    n_boot: int
    seed: int
    unit: str



def paired_comparison(y_true, pred_champion, pred_candidate, *, groups=None, n_boot: int = 2000,
                      confidence: float = 0.95, seed: int = 0) -> PairedComparison:
    """Compare two models' absolute errors on the same rows.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Labels (none missing).
    pred_champion, pred_candidate : array-like of shape (n,)
    groups : array-like of shape (n,), optional
        Resample whole groups (e.g. the day of each hour) in the bootstrap and t-test the group
        means: honest when rows of a group are correlated. None: rows are independent.
    n_boot : int, default 2000
    confidence : float, default 0.95
    seed : int, default 0

    Returns
    -------
    PairedComparison

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(100, 20, 500)
    >>> c = paired_comparison(y, y + rng.normal(0, 10, 500), y + rng.normal(0, 5, 500))
    >>> c.winner, c.ci_low > 0
    ('candidate', True)
    """
    func = "paired_comparison"
    seed = _check_seed(seed, func)
    _check_boot(n_boot, confidence, func)
    y, pa = _pair(y_true, pred_champion, func, ("y_true", "pred_champion"))
    _, pb = _pair(y, pred_candidate, func, ("y_true", "pred_candidate"))
    ea, eb = np.abs(y - pa), np.abs(y - pb)
    d = ea - eb
    if groups is None:
        num, den = d, np.ones_like(d)
        if y.size < 2:
            raise ValueError(f"{func}(): needs at least 2 rows; got {y.size}.")
        t_res = stats.ttest_rel(ea, eb)
        unit = "row"
    else:
        g = pd.Series(np.asarray(groups)).reset_index(drop=True)
        if len(g) != y.size:
            raise ValueError(f"{func}(): groups must have one value per row ({y.size}); got {len(g)}.")
        if g.isna().any():
            raise ValueError(f"{func}(): groups has {int(g.isna().sum())} missing value(s); every row needs a group.")
        codes, _ = pd.factorize(g)
        k = int(codes.max()) + 1
        if k < 2:
            raise ValueError(f"{func}(): all rows are in one group; resampling needs at least 2 (e.g. 2 days).")
        num = np.bincount(codes, weights=d, minlength=k)
        den = np.bincount(codes, minlength=k).astype(float)
        ma = np.bincount(codes, weights=ea, minlength=k) / den
        mb = np.bincount(codes, weights=eb, minlength=k) / den
        t_res = stats.ttest_rel(ma, mb)
        unit = "group"
    boot = _boot_ratio(num, den, int(n_boot), np.random.default_rng(seed))
    tail = (1 - confidence) / 2
    return PairedComparison(n=int(y.size), n_groups=int(num.size), mae_champion=float(ea.mean()),
                            mae_candidate=float(eb.mean()), improvement=float(d.mean()),
                            ci_low=float(np.quantile(boot, tail)), ci_high=float(np.quantile(boot, 1 - tail)),
                            t_statistic=float(t_res.statistic), p_value=float(t_res.pvalue),
                            confidence=float(confidence), n_boot=int(n_boot), seed=seed, unit=unit)


@dataclass(frozen=True)
class ABComparison(_IntervalVerdict):
    """Arm A (champion) vs arm B (candidate) on different rows (see :func:`ab_comparison`).

    Attributes
    ----------
    n_a, n_b : int
    mae_a, mae_b : float
    improvement : float
        mae_a - mae_b (positive: B, the candidate, errs less).
    ci_low, ci_high : float
        Bootstrap interval (each arm resampled on its own).
    t_statistic, p_value : float
        Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``) on absolute errors.
    confidence : float
    n_boot, seed : int
    """

    n_a: int
    n_b: int
    mae_a: float
    mae_b: float
    improvement: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    confidence: float
    n_boot: int
    seed: int

    @property
    def n(self) -> int:
        """Rows in both arms."""
        return self.n_a + self.n_b



def ab_comparison(y_true, y_pred, arm, *, n_boot: int = 2000, confidence: float = 0.95,
                  seed: int = 0) -> ABComparison:
    """Compare the served errors of arm A (champion) and arm B (candidate).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Labels and the prediction each row was served.
    arm : array-like of shape (n,)
        "A" or "B" per row (e.g. from :func:`assign_ab`).
    n_boot, confidence, seed
        As in :func:`paired_comparison`.

    Returns
    -------
    ABComparison

    Examples
    --------
    >>> r = ab_comparison([10, 10, 10, 10], [12, 7, 11, 10], ["A", "A", "B", "B"], n_boot=200)
    >>> r.mae_a, r.mae_b, r.improvement
    (2.5, 0.5, 2.0)
    """
    func = "ab_comparison"
    seed = _check_seed(seed, func)
    _check_boot(n_boot, confidence, func)
    y, p = _pair(y_true, y_pred, func)
    arm = np.asarray(arm).astype(str)
    if arm.shape != y.shape:
        raise ValueError(f"{func}(): arm must have one value per row ({y.size}); got shape {arm.shape}.")
    other = sorted(set(np.unique(arm)) - {"A", "B"})
    if other:
        raise ValueError(f"{func}(): arm values must be 'A' or 'B'; got also {other[:5]}.")
    e = np.abs(y - p)
    ea, eb = e[arm == "A"], e[arm == "B"]
    if ea.size < 2 or eb.size < 2:
        raise ValueError(f"{func}(): each arm needs at least 2 labelled rows; got A={ea.size}, B={eb.size}.")
    rng = np.random.default_rng(seed)
    ba = _boot_ratio(ea, np.ones_like(ea), int(n_boot), rng)
    bb = _boot_ratio(eb, np.ones_like(eb), int(n_boot), rng)
    boot = ba - bb
    tail = (1 - confidence) / 2
    t_res = stats.ttest_ind(ea, eb, equal_var=False)
    return ABComparison(n_a=int(ea.size), n_b=int(eb.size), mae_a=float(ea.mean()), mae_b=float(eb.mean()),
                        improvement=float(ea.mean() - eb.mean()), ci_low=float(np.quantile(boot, tail)),
                        ci_high=float(np.quantile(boot, 1 - tail)), t_statistic=float(t_res.statistic),
                        p_value=float(t_res.pvalue), confidence=float(confidence), n_boot=int(n_boot), seed=seed)


# --------------------------------------------------------------------------- shadow and A/B replays


def _predictor(model, features, func: str, role: str):
    """(predict(df) -> array, version name) for a ModelVersion, Baseline or estimator."""
    version = getattr(model, "version", None)
    est, feats = _unwrap_model(model, features, func)

    def predict(df):
        _require_frame(df, "current", func, feats)
        return np.asarray(est.predict(df[feats]), dtype=float)

    return predict, version or role


def _label_arrived(times: pd.Series, as_of, delay: int) -> np.ndarray:
    if as_of is None:
        return np.ones(len(times), dtype=bool)
    arrive = times.dt.normalize() + pd.Timedelta(days=delay + 1)  # end of day d + delay
    return (arrive <= pd.Timestamp(as_of)).to_numpy()


@dataclass(frozen=True)
class ShadowResult:
    """A shadow run: both versions' predictions, logged, and their comparison on labelled rows.

    Attributes
    ----------
    log : pandas.DataFrame
        Long form, two rows per input row: timestamp, model_version, role ("champion" /
        "candidate"), served (only the champion's prediction is served), prediction, label (NaN
        until it has arrived by ``as_of``).
    champion, candidate : str
        Version names.
    comparison : PairedComparison or None
        On the labelled rows (None before any label arrived).
    n_rows, n_labelled : int
    as_of : str or None
    """

    log: pd.DataFrame = field(repr=False)
    champion: str
    candidate: str
    comparison: PairedComparison | None
    n_rows: int
    n_labelled: int
    as_of: str | None

    def to_frame(self) -> pd.DataFrame:
        """The prediction log."""
        return self.log.copy()

    def wide(self) -> pd.DataFrame:
        """One row per input row: timestamp, label, and one prediction column per version."""
        champ = self.log[self.log["role"] == "champion"].reset_index(drop=True)
        cand = self.log[self.log["role"] == "candidate"].reset_index(drop=True)
        return pd.DataFrame({"timestamp": champ["timestamp"], "label": champ["label"],
                             self.champion: champ["prediction"], self.candidate: cand["prediction"]})


def shadow_run(champion, candidate, current: pd.DataFrame, *, features: Sequence[str] | None = None,
               target: str = "cnt", time_col: str = "timestamp", as_of=None, label_delay_days: int = 0,
               group_by: str | None = "D", n_boot: int = 2000, confidence: float = 0.95,
               seed: int = 0, prediction_logger=None) -> ShadowResult:
    """Run a candidate in shadow next to the champion over ``current`` and compare them.

    Parameters
    ----------
    champion, candidate : ModelVersion, Baseline or fitted estimator
        Version names come from ``.version`` (registry versions); otherwise "champion" and
        "candidate".
    current : pandas.DataFrame
        Rows to replay (features, time column, labels where known).
    features : list of str, optional
        For plain estimators without ``feature_names_in_``.
    target : str, default "cnt"
    time_col : str, default "timestamp"
    as_of : datetime-like, optional
        Compare only rows whose label has arrived by then (label of day d arrives at the end of
        day d + ``label_delay_days``). None: every row with a label counts.
    label_delay_days : int, default 0
    group_by : str or None, default "D"
        Resample whole windows of this frequency in the comparison (days: hours of a day are
        correlated). None: rows.
    n_boot, confidence, seed
        As in :func:`paired_comparison`.
    prediction_logger : object, optional
        Anything with ``log_batch(features, predictions, event_time=..., model_version=...)``,
        e.g. a ``labkit.prediction_log.PredictionLogger``: both versions' predictions are written
        to it, each under its own ``model_version`` (labels join later as feedback).

    Returns
    -------
    ShadowResult
    """
    func = "shadow_run"
    label_delay_days = _check_int(label_delay_days, "label_delay_days", func, 0)
    pred_c, name_c = _predictor(champion, features, func, "champion")
    pred_k, name_k = _predictor(candidate, features, func, "candidate")
    if name_c == name_k:
        raise ValueError(f"{func}(): champion and candidate are both called {name_c!r}; the log could not tell "
                         "them apart. Register them as different versions.")
    _require_frame(current, "current", func)
    times = _times(current, time_col, "current", func)
    pc, pk = pred_c(current), pred_k(current)
    if target in current.columns:
        y = _numbers(current[target], f"current[{target!r}]", func)
    else:
        y = np.full(len(current), np.nan)
    if prediction_logger is not None:
        if not callable(getattr(prediction_logger, "log_batch", None)):
            raise TypeError(f"{func}(): prediction_logger must have a log_batch(features, predictions, "
                            "event_time=, model_version=) method (e.g. a PredictionLogger); got "
                            f"{type(prediction_logger).__name__}.")
        for name, pred in ((name_c, pc), (name_k, pk)):
            prediction_logger.log_batch(current, pred, event_time=times.to_numpy(), model_version=name)
    arrived = _label_arrived(times, as_of, int(label_delay_days)) & np.isfinite(y)
    label = np.where(arrived, y, np.nan)
    n = len(current)
    log = pd.DataFrame({
        "timestamp": np.concatenate([times.to_numpy(), times.to_numpy()]),
        "model_version": [name_c] * n + [name_k] * n,
        "role": ["champion"] * n + ["candidate"] * n,
        "served": np.r_[np.ones(n, bool), np.zeros(n, bool)],
        "prediction": np.concatenate([pc, pk]),
        "label": np.concatenate([label, label]),
    })
    comparison = None
    if arrived.sum() >= 2:
        groups = None
        if group_by is not None:
            from labkit.analysis import _window_start

            groups = _window_start(times[arrived].reset_index(drop=True), group_by, func).to_numpy()
            if len(np.unique(groups)) < 2:
                groups = None
                logger.info("%s: labelled rows cover one %s window only; comparing rows", func, group_by)
        comparison = paired_comparison(y[arrived], pc[arrived], pk[arrived], groups=groups, n_boot=n_boot,
                                       confidence=confidence, seed=seed)
    else:
        logger.info("%s: no labels have arrived yet (as_of=%s); predictions logged, nothing compared", func, as_of)
    return ShadowResult(log=log, champion=name_c, candidate=name_k, comparison=comparison, n_rows=n,
                        n_labelled=int(arrived.sum()), as_of=None if as_of is None else str(pd.Timestamp(as_of)))


@dataclass(frozen=True)
class ABResult:
    """An A/B replay: each row served by the model of its arm.

    Attributes
    ----------
    log : pandas.DataFrame
        timestamp, key, arm, model_version, prediction, label.
    comparison : ABComparison or None
    share_b : float
        Realised share of rows in arm B.
    salt : str
    """

    log: pd.DataFrame = field(repr=False)
    comparison: ABComparison | None
    share_b: float
    salt: str

    def to_frame(self) -> pd.DataFrame:
        """The log."""
        return self.log.copy()


def ab_test(champion, candidate, current: pd.DataFrame, *, key="timestamp", salt: str = "labkit-ab",
            share_b: float = 0.5, features: Sequence[str] | None = None, target: str = "cnt",
            time_col: str = "timestamp", n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> ABResult:
    """Split ``current`` deterministically between champion (A) and candidate (B) and compare.

    Parameters
    ----------
    champion, candidate : ModelVersion, Baseline or fitted estimator
    current : pandas.DataFrame
    key : str or array-like, default "timestamp"
        Column whose values are hashed (or the keys themselves). The unit of assignment: hash the
        hour to randomise hours, the date to keep whole days in one arm.
    salt, share_b
        As in :func:`assign_ab`.
    features, target, time_col
    n_boot, confidence, seed
        As in :func:`ab_comparison`.

    Returns
    -------
    ABResult
    """
    func = "ab_test"
    pred_a, name_a = _predictor(champion, features, func, "champion")
    pred_b, name_b = _predictor(candidate, features, func, "candidate")
    _require_frame(current, "current", func)
    times = _times(current, time_col, "current", func)
    if isinstance(key, str):
        _require_frame(current, "current", func, [key])
        keys = current[key].to_numpy()
    else:
        keys = np.asarray(key)
        if len(keys) != len(current):
            raise ValueError(f"{func}(): key must have one value per row ({len(current)}); got {len(keys)}.")
    arm = assign_ab(keys, salt=salt, share_b=share_b)
    pa, pb = pred_a(current), pred_b(current)
    pred = np.where(arm == "B", pb, pa)
    y = (_numbers(current[target], f"current[{target!r}]", func) if target in current.columns
         else np.full(len(current), np.nan))
    log = pd.DataFrame({"timestamp": times.to_numpy(), "key": [_key_text(k) for k in keys], "arm": arm,
                        "model_version": np.where(arm == "B", name_b, name_a), "prediction": pred, "label": y})
    ok = np.isfinite(y)
    comparison = None
    if ok.any() and (arm[ok] == "A").sum() >= 2 and (arm[ok] == "B").sum() >= 2:
        comparison = ab_comparison(y[ok], pred[ok], arm[ok], n_boot=n_boot, confidence=confidence, seed=seed)
    return ABResult(log=log, comparison=comparison, share_b=float((arm == "B").mean()), salt=salt)


# --------------------------------------------------------------------------- peeking


@dataclass(frozen=True)
class PeekingResult:
    """False-win rates of an A/A test looked at repeatedly (see :func:`peeking_simulation`).

    Attributes
    ----------
    table : pandas.DataFrame
        Per look: look, n_per_arm, share_significant (p < alpha at this look),
        share_ever_significant (at this or an earlier look: what a peeker would have declared).
    fpr_final : float
        Share of experiments significant at the planned end only (close to alpha).
    fpr_peeking : float
        Share significant at any look (stop at the first "win").
    fpr_bonferroni : float
        Share significant at any look with alpha / n_looks per look (at most alpha).
    alpha : float
    n_looks, rows_per_look, n_experiments, seed : int
    """

    table: pd.DataFrame = field(repr=False)
    fpr_final: float
    fpr_peeking: float
    fpr_bonferroni: float
    alpha: float
    n_looks: int
    rows_per_look: int
    n_experiments: int
    seed: int

    def to_frame(self) -> pd.DataFrame:
        """The per-look table."""
        return self.table.copy()


def _aa_draws(rng: np.random.Generator, n_experiments: int, n: int, errors):
    if errors is None:
        return rng.standard_normal((n_experiments, n)), rng.standard_normal((n_experiments, n))
    return (rng.choice(errors, size=(n_experiments, n), replace=True),
            rng.choice(errors, size=(n_experiments, n), replace=True))


def peeking_simulation(*, n_experiments: int = 1000, n_looks: int = 30, rows_per_look: int = 24,
                       alpha: float = 0.05, errors=None, seed: int = 0) -> PeekingResult:
    """Simulate A/A tests looked at after every batch (e.g. daily) to show inflated false wins.

    Both arms draw from the same distribution (``errors`` resampled with replacement, e.g. a
    model's real absolute errors; default standard normal), so every "significant" difference is
    false. Each look runs Welch's t-test on everything collected so far.

    Parameters
    ----------
    n_experiments : int, default 1000
    n_looks : int, default 30
        Looks (e.g. 30 daily looks).
    rows_per_look : int, default 24
        New rows per arm between looks (24 hours a day).
    alpha : float, default 0.05
    errors : array-like, optional
        Values to resample for both arms.
    seed : int, default 0

    Returns
    -------
    PeekingResult

    Examples
    --------
    >>> r = peeking_simulation(n_experiments=400, n_looks=20, rows_per_look=10, seed=1)
    >>> r.fpr_final < 0.1 < r.fpr_peeking, r.fpr_bonferroni <= 0.05
    (True, True)
    """
    func = "peeking_simulation"
    seed = _check_seed(seed, func)
    n_experiments = _check_int(n_experiments, "n_experiments", func, 10)
    n_looks = _check_int(n_looks, "n_looks", func, 1)
    rows_per_look = _check_int(rows_per_look, "rows_per_look", func, 2)
    if not (0 < alpha < 1):
        raise ValueError(f"{func}(): alpha must be in (0, 1); got {alpha!r}.")
    if errors is not None:
        errors = _labels(errors, "errors", func)
        if errors.size < 2:
            raise ValueError(f"{func}(): errors needs at least 2 values to resample; got {errors.size}.")
    n = int(n_looks) * int(rows_per_look)
    a, b = _aa_draws(np.random.default_rng(seed), int(n_experiments), n, errors)
    ends = np.arange(1, int(n_looks) + 1) * int(rows_per_look)

    def moments(x):
        c1 = np.cumsum(x, axis=1)[:, ends - 1]
        c2 = np.cumsum(x * x, axis=1)[:, ends - 1]
        mean = c1 / ends
        var = np.clip((c2 - ends * mean ** 2) / (ends - 1), 0, None)
        return mean, var

    ma, va = moments(a)
    mb, vb = moments(b)
    _, p = _welch_p(ma, va, ends, mb, vb, ends)
    sig = p < alpha
    table = pd.DataFrame({"look": np.arange(1, int(n_looks) + 1), "n_per_arm": ends,
                          "share_significant": sig.mean(axis=0),
                          "share_ever_significant": np.maximum.accumulate(sig, axis=1).mean(axis=0)})
    return PeekingResult(table=table, fpr_final=float(sig[:, -1].mean()), fpr_peeking=float(sig.any(axis=1).mean()),
                         fpr_bonferroni=float((p < alpha / n_looks).any(axis=1).mean()), alpha=float(alpha),
                         n_looks=int(n_looks), rows_per_look=int(rows_per_look), n_experiments=int(n_experiments),
                         seed=seed)


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class PromotionDecision:
    """What to do with the candidate, and why.

    Attributes
    ----------
    action : str
        "promote" (candidate becomes champion), "keep" (nothing changes: champion keeps serving,
        or the test goes on) or "rollback" (the candidate was serving and is worse: restore the
        champion).
    reasons : tuple of str
    improvement, ci_low, ci_high : float
        From the comparison (MAE champion - candidate).
    n : int
    """

    action: str
    reasons: tuple
    improvement: float
    ci_low: float
    ci_high: float
    n: int

    def to_frame(self) -> pd.DataFrame:
        """One row; reasons joined with '; '."""
        return pd.DataFrame([{**self.__dict__, "reasons": "; ".join(self.reasons)}])


def promotion_decision(comparison, *, candidate_serving: bool = False, min_improvement: float = 0.0,
                       min_n: int = 168) -> PromotionDecision:
    """Promote, keep or roll back, from a paired or A/B comparison.

    Rules, in order:

    1. fewer than ``min_n`` labelled rows: **keep** (not enough evidence; keep testing);
    2. the whole interval above ``min_improvement``: **promote**;
    3. the whole interval below 0 (candidate worse): **rollback** if the candidate is serving
       (``candidate_serving=True``), else **keep** (reject the candidate);
    4. otherwise **keep**: no clear difference.

    If you looked at the comparison every day, the interval must be widened for the number of
    looks (see :func:`peeking_simulation`), e.g. ``confidence=1 - 0.05 / n_looks``.

    Parameters
    ----------
    comparison : PairedComparison or ABComparison
    candidate_serving : bool, default False
        True after the candidate was promoted (or serves an A/B arm).
    min_improvement : float, default 0.0
        Smallest MAE gain worth a deployment (in the target's units).
    min_n : int, default 168
        A week of hours.

    Returns
    -------
    PromotionDecision

    Examples
    --------
    >>> c = paired_comparison([10, 20, 30, 40] * 50, [13, 24, 26, 45] * 50, [11, 21, 29, 42] * 50, n_boot=200)
    >>> d = promotion_decision(c)
    >>> d.action, d.reasons[0]
    ('promote', 'candidate MAE 1.25 vs champion 4.00: better by 2.75 (95% interval 2.69 .. 2.81)')
    """
    func = "promotion_decision"
    if not isinstance(comparison, (PairedComparison, ABComparison)):
        raise TypeError(f"{func}(): comparison must be a PairedComparison or ABComparison (from "
                        f"paired_comparison, ab_comparison, shadow_run or ab_test); got {type(comparison).__name__}.")
    if isinstance(comparison, PairedComparison):
        mae_c, mae_k = comparison.mae_champion, comparison.mae_candidate
    else:
        mae_c, mae_k = comparison.mae_a, comparison.mae_b
    ci = f"{comparison.confidence:.0%} interval {comparison.ci_low:.2f} .. {comparison.ci_high:.2f}"
    head = f"candidate MAE {mae_k:.2f} vs champion {mae_c:.2f}"
    n = int(comparison.n)
    if n < min_n:
        action = "keep"
        reasons = (f"only {n} labelled rows, fewer than min_n={min_n}: keep testing", f"{head} ({ci})")
    elif comparison.ci_low > min_improvement:
        action = "promote"
        reasons = (f"{head}: better by {comparison.improvement:.2f} ({ci})",)
        if min_improvement > 0:
            reasons += (f"the whole interval is above the minimum worthwhile gain {min_improvement}",)
    elif comparison.ci_high < 0:
        if candidate_serving:
            action = "rollback"
            reasons = (f"{head}: worse by {-comparison.improvement:.2f} ({ci})",
                       "the candidate is serving: restore the champion")
        else:
            action = "keep"
            reasons = (f"{head}: worse by {-comparison.improvement:.2f} ({ci})", "reject the candidate")
    else:
        action = "keep"
        why = ("the interval includes 0" if comparison.ci_low <= 0 <= comparison.ci_high
               else f"the gain may be below min_improvement={min_improvement}")
        reasons = (f"{head}: no clear difference ({ci}; {why})",)
    return PromotionDecision(action=action, reasons=reasons, improvement=float(comparison.improvement),
                             ci_low=float(comparison.ci_low), ci_high=float(comparison.ci_high), n=n)
