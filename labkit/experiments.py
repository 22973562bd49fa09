"""Shadow deployment, A/B tests and honest comparisons of two model versions.

A retrained *candidate* should earn its place before it replaces the serving *champion*:

- :func:`shadow_run`: the candidate predicts every row next to the champion, only the champion is
  served; :meth:`ShadowResult.compare` judges both on the *same* labelled rows (paired, precise).
- :func:`assign_ab` / :func:`ab_test`: traffic split by hashing a stable key, each row served by
  one model; :meth:`ABResult.compare` compares the arms (unpaired: needs more data).
- :func:`paired_comparison`, :func:`ab_comparison`: difference in MAE with a seeded bootstrap
  interval and the matching t-test; whole days can be resampled (hours of a day are correlated).
- :func:`peeking_simulation`: why looking every day and stopping at the first "win" inflates
  false wins. :func:`promotion_decision`: promote, keep or roll back, with the reasons.

Sign convention: ``improvement = MAE(champion) - MAE(candidate)``, positive when the candidate errs
less. More on each design choice in ``docs/analysis.md``.

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

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from labkit._validate import (check_columns, check_datetimes, check_frame, check_int, check_number, check_numbers,
                              check_pair, check_probability, check_seed, check_type, fail)
from labkit._windows import window_starts

__all__ = [
    "hash_bucket", "assign_ab",
    "PairedComparison", "paired_comparison", "ABComparison", "ab_comparison",
    "ShadowResult", "shadow_run", "ABResult", "ab_test",
    "PeekingResult", "peeking_simulation",
    "PromotionDecision", "promotion_decision",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- assignment


def _key_text(key) -> str:
    return pd.Timestamp(key).isoformat() if isinstance(key, (pd.Timestamp, np.datetime64)) else str(key)


def hash_bucket(keys, *, salt: str, n_buckets: int = 10_000) -> np.ndarray:
    """Bucket 0..n_buckets-1 per key: ``int(sha256(salt + ":" + key)[:8]) % n_buckets``.

    Timestamps are written in ISO form first. The same key and salt give the same bucket in every
    process (unlike ``hash()``, salted per process for strings).

    >>> hash_bucket(["user-1", "user-2"], salt="exp-1").tolist()
    [5971, 2809]
    """
    func = "hash_bucket"
    if not isinstance(salt, str) or not salt:
        raise fail(func, "salt", "a non-empty string naming the experiment", salt, "pass e.g. salt='april-retrain'")
    n_buckets = check_int(n_buckets, "n_buckets", func=func, low=2)
    if isinstance(keys, (str, bytes)):
        raise fail(func, "keys", "a list, array or Series of keys", keys, "wrap one key in a list: [key]", TypeError)
    prefix = f"{salt}:".encode()
    return np.array([int.from_bytes(hashlib.sha256(prefix + _key_text(k).encode()).digest()[:8], "big") % n_buckets
                     for k in keys], dtype=np.int64)


def assign_ab(keys, *, salt: str = "labkit-ab", share_b: float = 0.5, n_buckets: int = 10_000) -> np.ndarray:
    """Arm "A" or "B" per stable key (a user id; here the hour): bucket < share_b * n_buckets -> "B".

    A new ``salt`` (the experiment's name) reshuffles, so experiments are independent.

    >>> arms = assign_ab(range(10_000), salt="demo", share_b=0.2)
    >>> round(float((arms == "B").mean()), 2)
    0.2
    """
    share_b = check_number(share_b, "share_b", func="assign_ab", low=0, high=1, low_open=True, high_open=True)
    return np.where(hash_bucket(keys, salt=salt, n_buckets=n_buckets) < share_b * n_buckets, "B", "A")


# --------------------------------------------------------------------------- comparisons


def _boot_ratio(num: np.ndarray, den: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap of sum(num[idx]) / sum(den[idx]) over units resampled with replacement (chunked)."""
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(num.size, 1))
    for s in range(0, n_boot, chunk):
        idx = rng.integers(0, num.size, size=(min(n_boot, s + chunk) - s, num.size))
        out[s:s + len(idx)] = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    return out


def _check_boot(n_boot, confidence, seed, func):
    return (check_int(n_boot, "n_boot", func=func, low=100),
            check_probability(confidence, "confidence", func=func, fix="pass e.g. 0.95"),
            check_seed(seed, func=func))


class _IntervalVerdict:
    """What both comparisons share: a verdict from the interval of the candidate's gain."""

    @property
    def winner(self) -> str:
        """'candidate' or 'champion' when the interval excludes 0, else 'undecided'."""
        return "candidate" if self.ci_low > 0 else "champion" if self.ci_high < 0 else "undecided"

    def to_frame(self) -> pd.DataFrame:
        """One row with every field and the winner."""
        return pd.DataFrame([{**self.__dict__, "winner": self.winner}])


@dataclass(frozen=True)
class PairedComparison(_IntervalVerdict):
    """Champion vs candidate on the same rows (see :func:`paired_comparison`).

    ``improvement`` = mae_champion - mae_candidate with its bootstrap interval (ci_low, ci_high);
    ``t_statistic``/``p_value`` from ``scipy.stats.ttest_rel`` per row, or per group mean when
    whole groups were resampled (``unit`` "row" or "group", ``n_groups`` resampling units).
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

    ``groups`` (one value per row, e.g. the day of each hour) resamples whole groups in the
    bootstrap and t-tests the group means: honest when rows of a group are correlated.

    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(100, 20, 500)
    >>> c = paired_comparison(y, y + rng.normal(0, 10, 500), y + rng.normal(0, 5, 500))
    >>> c.winner, c.ci_low > 0
    ('candidate', True)
    """
    func = "paired_comparison"
    n_boot, confidence, seed = _check_boot(n_boot, confidence, seed, func)
    y, pa = check_pair(y_true, pred_champion, func=func, names=("y_true", "pred_champion"))
    _, pb = check_pair(y, pred_candidate, func=func, names=("y_true", "pred_candidate"))
    ea, eb = np.abs(y - pa), np.abs(y - pb)
    d = ea - eb
    if groups is None:
        if y.size < 2:
            raise fail(func, "y_true", "at least 2 rows", y, "compare on more rows")
        num, den, t_res, unit = d, np.ones_like(d), stats.ttest_rel(ea, eb), "row"
    else:
        g = pd.Series(np.asarray(groups))
        if len(g) != y.size or g.isna().any():
            raise fail(func, "groups", f"a group for each of the {y.size} rows", f"<{len(g)} values, "
                       f"{int(g.isna().sum())} missing>", "pass e.g. df['timestamp'].dt.date")
        codes, _ = pd.factorize(g)
        k = int(codes.max()) + 1
        if k < 2:
            raise fail(func, "groups", "at least 2 groups", "<all rows in one group>", "resample e.g. 2 days or more")
        num = np.bincount(codes, weights=d, minlength=k)
        den = np.bincount(codes, minlength=k).astype(float)
        t_res = stats.ttest_rel(np.bincount(codes, weights=ea, minlength=k) / den,
                                np.bincount(codes, weights=eb, minlength=k) / den)
        unit = "group"
    boot = _boot_ratio(num, den, n_boot, np.random.default_rng(seed))
    tail = (1 - confidence) / 2
    return PairedComparison(n=int(y.size), n_groups=int(num.size), mae_champion=float(ea.mean()),
                            mae_candidate=float(eb.mean()), improvement=float(d.mean()),
                            ci_low=float(np.quantile(boot, tail)), ci_high=float(np.quantile(boot, 1 - tail)),
                            t_statistic=float(t_res.statistic), p_value=float(t_res.pvalue),
                            confidence=confidence, n_boot=n_boot, seed=seed, unit=unit)


@dataclass(frozen=True)
class ABComparison(_IntervalVerdict):
    """Arm A (champion) vs arm B (candidate) on different rows (see :func:`ab_comparison`).

    ``improvement`` = mae_a - mae_b with a bootstrap interval (each arm resampled on its own) and
    Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``) on absolute errors.
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
    """Compare the served errors of arm A (champion) and arm B (candidate); ``arm`` is "A"/"B" per row.

    >>> r = ab_comparison([10, 10, 10, 10], [12, 7, 11, 10], ["A", "A", "B", "B"], n_boot=200)
    >>> r.mae_a, r.mae_b, r.improvement
    (2.5, 0.5, 2.0)
    """
    func = "ab_comparison"
    n_boot, confidence, seed = _check_boot(n_boot, confidence, seed, func)
    y, p = check_pair(y_true, y_pred, func=func)
    arm = np.asarray(arm).astype(str)
    other = sorted(set(np.unique(arm)) - {"A", "B"})
    if arm.shape != y.shape or other:
        raise fail(func, "arm", f"'A' or 'B' for each of the {y.size} rows", f"<{arm.size} values, also {other[:5]}>",
                   "use assign_ab(keys, salt=...)")
    e = np.abs(y - p)
    ea, eb = e[arm == "A"], e[arm == "B"]
    if ea.size < 2 or eb.size < 2:
        raise fail(func, "arm", "at least 2 labelled rows in each arm", f"<A={ea.size}, B={eb.size}>",
                   "wait for more labels")
    rng = np.random.default_rng(seed)
    boot = _boot_ratio(ea, np.ones_like(ea), n_boot, rng) - _boot_ratio(eb, np.ones_like(eb), n_boot, rng)
    tail = (1 - confidence) / 2
    t_res = stats.ttest_ind(ea, eb, equal_var=False)
    return ABComparison(n_a=int(ea.size), n_b=int(eb.size), mae_a=float(ea.mean()), mae_b=float(eb.mean()),
                        improvement=float(ea.mean() - eb.mean()), ci_low=float(np.quantile(boot, tail)),
                        ci_high=float(np.quantile(boot, 1 - tail)), t_statistic=float(t_res.statistic),
                        p_value=float(t_res.pvalue), confidence=confidence, n_boot=n_boot, seed=seed)


# --------------------------------------------------------------------------- shadow and A/B replays


def _predictions(model, current: pd.DataFrame, func: str, role: str) -> np.ndarray:
    """Predictions of a ModelVersion/Baseline (``.model`` + ``.features``) or an estimator fitted on a DataFrame."""
    features = getattr(model, "features", None)
    est = model.model if features is not None and hasattr(model, "model") else model
    features = features if features is not None else getattr(model, "feature_names_in_", None)
    if features is None or not hasattr(est, "predict"):
        raise fail(func, role, "a ModelVersion, a Baseline or an estimator fitted on a DataFrame",
                   model, "register the model: registry.register(model, features=[...])", TypeError)
    check_columns(current, list(features), f"{role}.features", func=func, frame="current")
    return np.asarray(est.predict(current[list(features)]), dtype=float)


def _replay(champion, candidate, current, label_col: str, time_col: str, func: str):
    """Times, labels (NaN where missing), both predictions and both version names."""
    check_frame(current, "current", func=func)
    check_columns(current, time_col, "time_col", func=func, frame="current")
    times = check_datetimes(current[time_col], f"current[{time_col!r}]", func=func)
    names = (getattr(champion, "version", None) or "champion", getattr(candidate, "version", None) or "candidate")
    if names[0] == names[1]:
        raise fail(func, "candidate", f"another version than the champion's {names[0]!r}", names[1],
                   "register them as different versions, or the log cannot tell them apart")
    y = (check_numbers(current[label_col], f"current[{label_col!r}]", func=func, missing_ok=True)
         if label_col in current.columns else np.full(len(current), np.nan))
    preds = [_predictions(m, current, func, role) for m, role in ((champion, "champion"), (candidate, "candidate"))]
    return times, y, *preds, names


@dataclass(frozen=True)
class ShadowResult:
    """A shadow run: both versions' predictions, logged, and judged once labels arrive.

    ``log``: two rows per input row: timestamp, model_version, role ("champion"/"candidate"),
    served (only the champion), prediction, label (NaN where ``current`` had none).
    """

    log: pd.DataFrame = field(repr=False)
    champion: str
    candidate: str
    n_rows: int

    def to_frame(self) -> pd.DataFrame:
        """The prediction log."""
        return self.log.copy()

    def wide(self) -> pd.DataFrame:
        """One row per input row: timestamp, label, and one prediction column per version."""
        champ = self.log[self.log["role"] == "champion"].reset_index(drop=True)
        cand = self.log[self.log["role"] == "candidate"].reset_index(drop=True)
        return pd.DataFrame({"timestamp": champ["timestamp"], "label": champ["label"],
                             self.champion: champ["prediction"], self.candidate: cand["prediction"]})

    def compare(self, *, as_of=None, label_delay_days: int = 0, group_by: str | None = "D", n_boot: int = 2000,
                confidence: float = 0.95, seed: int = 0) -> PairedComparison | None:
        """:func:`paired_comparison` on the rows whose label has arrived by ``as_of`` (None: all labelled rows).

        The label of day d arrives at the end of day d + ``label_delay_days``. ``group_by`` resamples
        whole windows (days: hours of a day are correlated; None: rows). None before 2 labels arrived.
        """
        func = "ShadowResult.compare"
        delay = check_int(label_delay_days, "label_delay_days", func=func, low=0)
        wide = self.wide()
        ok = wide["label"].notna().to_numpy()
        if as_of is not None:
            ok &= (wide["timestamp"].dt.normalize() + pd.Timedelta(days=delay + 1) <= pd.Timestamp(as_of)).to_numpy()
        if ok.sum() < 2:
            logger.info("%s: fewer than 2 labels have arrived by %s; nothing to compare", func, as_of)
            return None
        lab = wide[ok].reset_index(drop=True)
        groups = None if group_by is None else window_starts(lab["timestamp"], group_by, func=func).to_numpy()
        if groups is not None and len(np.unique(groups)) < 2:
            groups = None
            logger.info("%s: the labelled rows cover one %s window only; comparing rows", func, group_by)
        return paired_comparison(lab["label"], lab[self.champion], lab[self.candidate], groups=groups,
                                 n_boot=n_boot, confidence=confidence, seed=seed)


@threadpool_limits.wrap(limits=1)  # one thread per model: no oversubscription on a shared machine
def shadow_run(champion, candidate, current: pd.DataFrame, *, label_col: str = "cnt", time_col: str = "timestamp",
               prediction_logger=None) -> ShadowResult:
    """Run a candidate in shadow next to the champion over ``current``; judge it with ``.compare()``.

    ``champion`` and ``candidate``: registry versions (their ``.version`` names the log rows),
    Baselines or estimators fitted on a DataFrame. ``prediction_logger``: anything with
    ``log_batch(features, predictions, event_time=..., model_version=...)``, e.g. a
    ``PredictionLogger``: both versions' predictions are written to it under their own version.
    """
    func = "shadow_run"
    times, y, pc, pk, (name_c, name_k) = _replay(champion, candidate, current, label_col, time_col, func)
    if prediction_logger is not None:
        if not callable(getattr(prediction_logger, "log_batch", None)):
            raise fail(func, "prediction_logger", "an object with a log_batch(features, predictions, event_time=, "
                       "model_version=) method", prediction_logger, "pass a PredictionLogger", TypeError)
        for name, pred in ((name_c, pc), (name_k, pk)):
            prediction_logger.log_batch(current, pred, event_time=times.to_numpy(), model_version=name)
    n = len(current)
    log = pd.DataFrame({"timestamp": np.tile(times.to_numpy(), 2), "model_version": [name_c] * n + [name_k] * n,
                        "role": ["champion"] * n + ["candidate"] * n, "served": np.arange(2 * n) < n,
                        "prediction": np.concatenate([pc, pk]), "label": np.tile(y, 2)})
    return ShadowResult(log=log, champion=name_c, candidate=name_k, n_rows=n)


@dataclass(frozen=True)
class ABResult:
    """An A/B replay: each row served by the model of its arm. ``log``: timestamp, key, arm,
    model_version, prediction, label; ``share_b``: realised share of rows in arm B."""

    log: pd.DataFrame = field(repr=False)
    share_b: float
    salt: str

    def to_frame(self) -> pd.DataFrame:
        """The log."""
        return self.log.copy()

    def compare(self, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> ABComparison | None:
        """:func:`ab_comparison` on the labelled rows (None while an arm has fewer than 2)."""
        lab = self.log.dropna(subset=["label"])
        if (lab["arm"] == "A").sum() < 2 or (lab["arm"] == "B").sum() < 2:
            return None
        return ab_comparison(lab["label"], lab["prediction"], lab["arm"], n_boot=n_boot, confidence=confidence,
                             seed=seed)


@threadpool_limits.wrap(limits=1)
def ab_test(champion, candidate, current: pd.DataFrame, *, key="timestamp", salt: str = "labkit-ab",
            share_b: float = 0.5, label_col: str = "cnt", time_col: str = "timestamp") -> ABResult:
    """Split ``current`` deterministically between champion (A) and candidate (B); judge with ``.compare()``.

    ``key``: a column whose values are hashed, or the keys themselves: the unit of assignment (the
    hour randomises hours; the date keeps whole days in one arm). ``salt``, ``share_b``: as in
    :func:`assign_ab`.
    """
    func = "ab_test"
    times, y, pa, pb, (name_a, name_b) = _replay(champion, candidate, current, label_col, time_col, func)
    if isinstance(key, str):
        check_columns(current, key, "key", func=func, frame="current")
        key = current[key]
    keys = np.asarray(key)
    if len(keys) != len(current):
        raise fail(func, "key", f"a column name or one key per row ({len(current)})", f"<{len(keys)} keys>",
                   "pass e.g. key='timestamp'")
    arm = assign_ab(keys, salt=salt, share_b=share_b)
    log = pd.DataFrame({"timestamp": times.to_numpy(), "key": [_key_text(k) for k in keys], "arm": arm,
                        "model_version": np.where(arm == "B", name_b, name_a),
                        "prediction": np.where(arm == "B", pb, pa), "label": y})
    return ABResult(log=log, share_b=float((arm == "B").mean()), salt=salt)


# --------------------------------------------------------------------------- peeking


@dataclass(frozen=True)
class PeekingResult:
    """False-win rates of A/A tests looked at repeatedly (see :func:`peeking_simulation`).

    ``table``: per look n_per_arm, share_significant (p < alpha at this look) and
    share_ever_significant (at this or an earlier look: what a peeker declares). ``fpr_final``: one
    look at the planned end; ``fpr_peeking``: stop at the first win; ``fpr_bonferroni``: every look
    at alpha / n_looks.
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
    """Simulate A/A tests looked at after every batch of ``rows_per_look`` rows per arm (e.g. daily).

    Both arms draw from one distribution (``errors`` resampled, e.g. a model's real absolute
    errors; default standard normal), so every "significant" difference is false. Each look runs
    Welch's t-test on everything collected so far.

    >>> r = peeking_simulation(n_experiments=400, n_looks=20, rows_per_look=10, seed=1)
    >>> r.fpr_final < 0.1 < r.fpr_peeking, r.fpr_bonferroni <= 0.05
    (True, True)
    """
    func = "peeking_simulation"
    seed = check_seed(seed, func=func)
    n_experiments = check_int(n_experiments, "n_experiments", func=func, low=10)
    n_looks = check_int(n_looks, "n_looks", func=func, low=1)
    rows_per_look = check_int(rows_per_look, "rows_per_look", func=func, low=2)
    alpha = check_probability(alpha, "alpha", func=func)
    if errors is not None:
        errors = check_numbers(errors, "errors", func=func)
        if errors.size < 2:
            raise fail(func, "errors", "at least 2 values to resample", errors, "pass a model's absolute errors")
    a, b = _aa_draws(np.random.default_rng(seed), n_experiments, n_looks * rows_per_look, errors)
    ends = np.arange(1, n_looks + 1) * rows_per_look

    def moments(x):
        mean = np.cumsum(x, axis=1)[:, ends - 1] / ends
        var = np.clip((np.cumsum(x * x, axis=1)[:, ends - 1] - ends * mean ** 2) / (ends - 1), 0, None)
        return mean, np.sqrt(var), ends

    with np.errstate(divide="ignore", invalid="ignore"):
        p = stats.ttest_ind_from_stats(*moments(a), *moments(b), equal_var=False).pvalue
    sig = p < alpha
    table = pd.DataFrame({"look": np.arange(1, n_looks + 1), "n_per_arm": ends, "share_significant": sig.mean(axis=0),
                          "share_ever_significant": np.maximum.accumulate(sig, axis=1).mean(axis=0)})
    return PeekingResult(table=table, fpr_final=float(sig[:, -1].mean()), fpr_peeking=float(sig.any(axis=1).mean()),
                         fpr_bonferroni=float((p < alpha / n_looks).any(axis=1).mean()), alpha=alpha,
                         n_looks=n_looks, rows_per_look=rows_per_look, n_experiments=n_experiments, seed=seed)


# --------------------------------------------------------------------------- decision


@dataclass(frozen=True)
class PromotionDecision:
    """What to do with the candidate, and why: ``action`` is "promote" (it becomes champion), "keep"
    (nothing changes, or the test goes on) or "rollback" (it was serving and is worse)."""

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

    Rules, in order: fewer than ``min_n`` labelled rows (default a week of hours): **keep**
    testing; the whole interval above ``min_improvement``: **promote**; the whole interval below 0:
    **rollback** if the candidate is serving, else **keep** (reject it); otherwise **keep**. If you
    looked several times, widen the interval first (``confidence=1 - 0.05 / n_looks``).

    >>> c = paired_comparison([10, 20, 30, 40] * 50, [13, 24, 26, 45] * 50, [11, 21, 29, 42] * 50, n_boot=200)
    >>> d = promotion_decision(c)
    >>> d.action, d.reasons[0]
    ('promote', 'candidate MAE 1.25 vs champion 4.00: better by 2.75 (95% interval 2.69 .. 2.81)')
    """
    c = check_type(comparison, (PairedComparison, ABComparison), "comparison", func="promotion_decision",
                   expected="a PairedComparison or ABComparison",
                   fix="pass the result of paired_comparison, ab_comparison or .compare() of a shadow or A/B run")
    mae_c, mae_k = (c.mae_champion, c.mae_candidate) if isinstance(c, PairedComparison) else (c.mae_a, c.mae_b)
    ci = f"{c.confidence:.0%} interval {c.ci_low:.2f} .. {c.ci_high:.2f}"
    head = f"candidate MAE {mae_k:.2f} vs champion {mae_c:.2f}"
    if c.n < min_n:
        action = "keep"
        reasons = (f"only {c.n} labelled rows, fewer than min_n={min_n}: keep testing", f"{head} ({ci})")
    elif c.ci_low > min_improvement:
        action, reasons = "promote", (f"{head}: better by {c.improvement:.2f} ({ci})",)
        if min_improvement > 0:
            reasons += (f"the whole interval is above the minimum worthwhile gain {min_improvement}",)
    elif c.ci_high < 0:
        action = "rollback" if candidate_serving else "keep"
        reasons = (f"{head}: worse by {-c.improvement:.2f} ({ci})",
                   "the candidate is serving: restore the champion" if candidate_serving else "reject the candidate")
    else:
        why = ("the interval includes 0" if c.ci_low <= 0 <= c.ci_high
               else f"the gain may be below min_improvement={min_improvement}")
        action, reasons = "keep", (f"{head}: no clear difference ({ci}; {why})",)
    return PromotionDecision(action=action, reasons=reasons, improvement=float(c.improvement),
                             ci_low=float(c.ci_low), ci_high=float(c.ci_high), n=int(c.n))
