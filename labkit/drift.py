"""Drift statistics: each one a short function next to the formula it computes.

Every statistic has the shape ``method(reference, current, *, options)`` and returns a :class:`DriftResult`.
**A higher statistic always means more drift.** p-value methods (ks, chi_square, mmd, domain_classifier) flag
drift when ``p_value < threshold``; distances (psi, kl_divergence, js_distance, wasserstein) when ``statistic >=
threshold``, or a threshold calibrated for the sample size (``"null"``, :func:`null_threshold`). Missing values
are dropped and counted. :func:`drift_table` tests every column of two frames; :func:`drift_timeline` every time
window of a stream, in one vectorised pass (the private ``labkit._drift_engine``, tested to give the same
numbers). Binning, input handling, how the defaults compare with Evidently and alibi-detect: ``docs/drift.md``.
"""
from __future__ import annotations

import logging
import numbers
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats
from scipy.spatial.distance import pdist, squareform
from threadpoolctl import threadpool_limits

from labkit import _drift_engine as engine
from labkit._validate import (check_choice, check_columns, check_datetimes, check_frame, check_int, check_number,
                              check_probability, check_share, fail, short_list)
from labkit._windows import window_ids

logger = logging.getLogger(__name__)

__all__ = [
    "DriftResult", "DriftTable", "DriftOptions", "METHODS", "TABLE_COLUMNS", "TIMELINE_COLUMNS",
    "ks", "psi", "kl_divergence", "js_distance", "wasserstein", "chi_square", "mmd", "domain_classifier",
    "null_threshold", "adjust_p_values", "drift_table", "drift_timeline",
]


class MethodInfo(NamedTuple):
    """How a method decides ("p_value" or "distance"), its default threshold, the column kinds it takes."""
    decision: str
    default_threshold: float
    kinds: tuple[str, ...]


#: The univariate methods of drift_table and drift_timeline.
METHODS: dict[str, MethodInfo] = {
    "ks": MethodInfo("p_value", 0.05, ("numerical",)),
    "chi_square": MethodInfo("p_value", 0.05, ("categorical", "numerical")),
    "psi": MethodInfo("distance", 0.1, ("numerical", "categorical")),
    "kl_divergence": MethodInfo("distance", 0.1, ("numerical", "categorical")),
    "js_distance": MethodInfo("distance", 0.1, ("numerical", "categorical")),
    "wasserstein": MethodInfo("distance", 0.1, ("numerical",)),
}
KS_METHODS = ("auto", "exact", "asymp")
BIN_RULES = ("sturges", "fd", "doane", "scott", "stone", "rice", "sqrt")


@dataclass(frozen=True)
class DriftResult:
    """One drift test: the ``statistic`` (higher = more drift), its ``p_value`` (None for distances),
    the ``threshold`` and the decision ``drifted``; sample sizes after dropping ``n_dropped`` values."""

    method: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    n_dropped: int

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-friendly)."""
        return asdict(self)


def _result(method, statistic, p_value, threshold, n_ref, n_cur, n_dropped) -> DriftResult:
    statistic, p_value = float(statistic), None if p_value is None else float(p_value)
    drifted = statistic >= threshold if p_value is None else p_value < threshold
    return DriftResult(method, statistic, p_value, float(threshold), bool(drifted), n_ref, n_cur, n_dropped)


def _distance(method, value, threshold, ref, cur, dropped, seed, **options) -> DriftResult:
    """A distance's result; ``threshold="null"`` is calibrated for this sample size first."""
    threshold = _distance_threshold(threshold, method)
    if threshold == "null":
        threshold = null_threshold(ref, cur.size, method=method, seed=seed, **options)
    return _result(method, value, None, threshold, ref.size, cur.size, dropped)


def _distance_threshold(threshold, func):
    if isinstance(threshold, str) and threshold != "null":
        raise fail(func, "threshold", 'a number >= 0 or "null"', threshold, 'use e.g. 0.1, or "null" to calibrate it')
    return threshold if threshold == "null" else check_number(threshold, "threshold", func=func, low=0,
                                                              fix="use e.g. 0.1 (the rule of thumb)")


def _p_threshold(threshold, func):
    return check_probability(threshold, "threshold", func=func, fix="use a significance level such as 0.05")


# ---- input: one sample, cleaned ------------------------------------------------------------------
def _one_d(values, argument, func) -> np.ndarray:
    if isinstance(values, (pd.DataFrame, str, bytes)) or values is None:
        raise fail(func, argument, "one column of values (a Series, list or 1-D array)", values,
                   "pass a single column, e.g. df['temp']", TypeError)
    try:
        arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    except ValueError:  # ragged nested lists
        raise fail(func, argument, "a 1-D sequence of values", values, "pass a flat list or array", TypeError) from None
    if arr.ndim != 1:
        raise fail(func, argument, "a one-dimensional sample", arr, "pass one column, or flatten it with np.ravel()")
    return arr


def _to_numbers(arr, argument, func) -> np.ndarray:
    if arr.dtype.kind == "O":  # numbers stored as objects are fine
        values = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = np.isnan(values) & ~pd.isna(arr)
        if not bad.any():
            return values
        arr = arr[bad]
    example = f" such as {arr[0]!r}" if arr.size else ""
    raise fail(func, argument, "numbers", f"<{arr.dtype} values{example}>",
               "convert with pd.to_numeric, or use chi_square or psi(bins='categories') for categories", TypeError)


def _present(values, argument, func, *, numeric=False) -> tuple[np.ndarray, np.ndarray]:
    """The values (numbers as floats) and a mask of the present ones: not NaN, ±inf, None or NaT."""
    arr = _one_d(values, argument, func)
    if numeric and arr.dtype.kind not in "biuf":
        arr = _to_numbers(arr, argument, func)
    if arr.dtype.kind in "biuf":
        arr = arr.astype(float)
        return arr, np.isfinite(arr)
    return arr, ~pd.isna(arr)


def _sample(values, argument, func, *, numeric=False) -> tuple[np.ndarray, int]:
    arr, keep = _present(values, argument, func, numeric=numeric)
    if not keep.any():
        raise fail(func, argument, "at least one value that is not missing",
                   f"<empty after dropping {arr.size} NaN/inf/missing value(s)>", "check what produced it")
    return arr[keep], int(arr.size - keep.sum())


def _same_family(ref, cur, names, func):
    if (ref.dtype.kind in "biuf") != (cur.dtype.kind in "biuf"):
        like = "numbers" if ref.dtype.kind in "biuf" else "text or other non-numeric values"
        raise fail(func, names[1], f"{like}, like {names[0]}", f"<dtype {cur.dtype}>",
                   "convert both first (.astype(str) or pd.to_numeric): categories would never match", TypeError)


def _samples(reference, current, func, *, numeric=False, names=("reference", "current")):
    """Both samples without missing values (numbers as floats), and how many values were dropped."""
    ref, d1 = _sample(reference, names[0], func, numeric=numeric)
    cur, d2 = _sample(current, names[1], func, numeric=numeric)
    _same_family(ref, cur, names, func)
    return ref, cur, d1 + d2


# ---- bins for psi, kl_divergence and js_distance -------------------------------------------------
def _binning(bins, ref, func):
    """``bins`` checked: "categories", a numpy rule, an int or edges. "auto" is Evidently's rule: Sturges
    bins over reference + current when the reference has more than 20 distinct numbers, else one bin per value."""
    numeric = ref.dtype.kind in "biuf"
    if isinstance(bins, str) and bins == "auto":
        return "sturges" if numeric and np.unique(ref).size > 20 else "categories"
    if isinstance(bins, str) and bins == "categories":
        return bins
    expected = f"'auto', 'categories', a numpy rule {BIN_RULES}, an int or increasing edges"
    if isinstance(bins, str) and bins not in BIN_RULES:
        raise fail(func, "bins", expected, bins, "use 'auto' (Evidently's rule)")
    if not numeric:
        raise fail(func, "bins", "'auto' or 'categories' for categorical data", bins, "use 'categories'", TypeError)
    if isinstance(bins, (str, numbers.Integral)):
        return bins if isinstance(bins, str) else check_int(bins, "bins", func=func, low=1)
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
        raise fail(func, "bins", expected, bins, "pass at least two finite, strictly increasing edges")
    return edges


def _bin_counts(ref, cur, bins, func):
    """How many values of each sample fall in each bin (``bins`` as :func:`_binning` returns it)."""
    bins = _binning(bins, ref, func)
    if isinstance(bins, str) and bins == "categories":  # one bin per value seen in either sample
        codes, keys = pd.factorize(np.concatenate([ref, cur]))
        return np.bincount(codes[: ref.size], minlength=len(keys)), np.bincount(codes[ref.size:], minlength=len(keys))
    if np.ndim(bins) == 1:  # fixed edges: the outer bins are open-ended
        edges = np.concatenate([[-np.inf], bins[1:-1], [np.inf]])
    else:  # a numpy rule or a number of equal-width bins, over reference + current
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins)
    return np.histogram(ref, edges)[0], np.histogram(cur, edges)[0]


def _fill_empty(shares, eps):
    """Evidently's rule for empty bins: share ``eps``, or (smallest non-zero share) / 1e6 when that is ≤ eps."""
    smallest = shares[shares > 0].min()
    return np.where(shares == 0, smallest / 1e6 if smallest <= eps else eps, shares)


def _check_eps(eps, func):
    return check_number(eps, "eps", func=func, low=0, high=1, low_open=True, high_open=True, fix="use 1e-4 (Evidently)")


# ---- the statistics ------------------------------------------------------------------------------
def ks(reference, current, *, threshold: float = 0.05, method: str = "auto") -> DriftResult:
    """Two-sample Kolmogorov–Smirnov test: the largest gap between the two empirical CDFs::

        D = max_x |F_ref(x) − F_cur(x)|          drifted when p_value < threshold

    ``method`` is ``scipy.stats.ks_2samp``'s p-value method ("auto": exact while both samples have
    ≤ 10,000 rows; "asymp" is what alibi-detect uses).

    >>> r = ks([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    >>> r.statistic, round(r.p_value, 4), r.drifted
    (1.0, 0.0079, True)
    """
    threshold = _p_threshold(threshold, "ks")
    check_choice(method, "method", KS_METHODS, func="ks")
    ref, cur, dropped = _samples(reference, current, "ks", numeric=True)
    res = stats.ks_2samp(ref, cur, method=method)
    return _result("ks", res.statistic, res.pvalue, threshold, ref.size, cur.size, dropped)


def psi(reference, current, *, bins="auto", eps: float = 1e-4, threshold=0.1, seed: int = 0) -> DriftResult:
    """Population Stability Index of the shares per bin, r (reference) and c (current)::

        PSI = Σ_bins (r − c) · ln(r / c)

    An empty bin would make the logarithm blow up: its share becomes ``eps`` (Evidently's rule).
    Symmetric, 0 for identical samples. Drifted when PSI ≥ ``threshold`` (rule of thumb: 0.1
    moderate, 0.25 major), or ``"null"``: calibrated for this sample size (:func:`null_threshold`,
    ``seed``). ``bins="auto"`` bins like Evidently (docs/drift.md).

    >>> r = psi([0, 0, 1, 1], [0, 1, 1, 1])
    >>> round(r.statistic, 4), r.drifted
    (0.2747, True)
    """
    eps = _check_eps(eps, "psi")
    ref, cur, dropped = _samples(reference, current, "psi")
    ref_counts, cur_counts = _bin_counts(ref, cur, bins, "psi")
    r = _fill_empty(ref_counts / ref.size, eps)
    c = _fill_empty(cur_counts / cur.size, eps)
    value = np.sum((r - c) * np.log(r / c))
    return _distance("psi", value, threshold, ref, cur, dropped, seed, bins=bins, eps=eps)


def kl_divergence(reference, current, *, bins="auto", eps: float = 1e-4, threshold=0.1, seed: int = 0) -> DriftResult:
    """Kullback–Leibler divergence of the shares per bin, p (reference) and q (current), natural log::

        KL(p ‖ q) = Σ_bins p · ln(p / q)

    Bins and empty-bin filling as :func:`psi`, then renormalised (as ``scipy.stats.entropy`` and
    Evidently). Not symmetric. Drifted when KL ≥ ``threshold`` (0.1, or "null").

    >>> round(kl_divergence([0, 0, 1, 1], [0, 1, 1, 1]).statistic, 4)
    0.1438
    """
    eps = _check_eps(eps, "kl_divergence")
    ref, cur, dropped = _samples(reference, current, "kl_divergence")
    ref_counts, cur_counts = _bin_counts(ref, cur, bins, "kl_divergence")
    p = _fill_empty(ref_counts / ref.size, eps)
    q = _fill_empty(cur_counts / cur.size, eps)
    p = p / p.sum()  # renormalise: filling empty bins added a little mass
    q = q / q.sum()
    value = np.sum(p * np.log(p / q))
    return _distance("kl_divergence", value, threshold, ref, cur, dropped, seed, bins=bins, eps=eps)


def js_distance(reference, current, *, bins="auto", base: float | None = None, threshold=0.1,
                seed: int = 0) -> DriftResult:
    """Jensen–Shannon distance of the shares per bin, p (reference) and q (current), m = (p + q) / 2::

        JS = sqrt( (KL(p ‖ m) + KL(q ‖ m)) / 2 )

    Natural log (range 0 to sqrt(ln 2) ≈ 0.833, as Evidently and scipy); ``base=2`` gives 0 to 1.
    Symmetric and bounded; no empty-bin filling needed. Drifted when JS ≥ ``threshold`` (0.1, or "null").

    >>> round(js_distance(["a", "a"], ["b", "b"], base=2).statistic, 6)
    1.0
    """
    if base is not None:
        base = check_number(base, "base", func="js_distance", low=0, low_open=True, fix="use 2, or None for ln")
        if base == 1:
            raise fail("js_distance", "base", "a logarithm base other than 1", base, "use 2, or None for ln")
    ref, cur, dropped = _samples(reference, current, "js_distance")
    ref_counts, cur_counts = _bin_counts(ref, cur, bins, "js_distance")
    p, q = ref_counts / ref.size, cur_counts / cur.size
    m = (p + q) / 2
    divergence = (special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()) / 2  # rel_entr: p·ln(p/m), 0 if p = 0
    if base is not None:
        divergence /= np.log(base)
    value = np.sqrt(max(divergence, 0.0))
    return _distance("js_distance", value, threshold, ref, cur, dropped, seed, bins=bins, base=base)


def wasserstein(reference, current, *, normalize: bool = True, threshold=0.1, seed: int = 0) -> DriftResult:
    """First Wasserstein ("earth mover's") distance, in reference standard deviations::

        W = ∫ |F_ref(x) − F_cur(x)| dx  /  max(std(reference), 0.001)

    The labkit-wide normed Wasserstein (Evidently's "wasserstein" stattest); ``normalize=False``
    gives the raw ``scipy.stats.wasserstein_distance``. Drifted when W ≥ ``threshold`` (0.1, or "null").

    >>> wasserstein([0, 1, 2, 3], [1, 2, 3, 4], normalize=False).statistic
    1.0
    """
    ref, cur, dropped = _samples(reference, current, "wasserstein", numeric=True)
    value = stats.wasserstein_distance(ref, cur)
    if normalize:
        value = value / max(float(np.std(ref)), 0.001)  # 0.001: Evidently's floor for a constant reference
    return _distance("wasserstein", value, threshold, ref, cur, dropped, seed, normalize=normalize)


def chi_square(reference, current, *, test: str = "homogeneity", yates: bool = False,
               threshold: float = 0.05) -> DriftResult:
    """Pearson's chi-square test on the counts per category, observed o against expected e::

        χ² = Σ (o − e)² / e          drifted when p_value < threshold

    ``test="homogeneity"``: the 2×K table (reference row, current row), e = row total × column
    total / n, both samples treated as samples (= ``scipy.stats.chi2_contingency``; ``yates=True``
    adds Yates' correction for two categories, as alibi-detect). ``"goodness_of_fit"``: current
    counts against the reference shares taken as exact (Evidently's "chisquare"); 0.5 is added to
    every reference count when some category has no reference rows.

    >>> r = chi_square(["a"] * 50 + ["b"] * 50, ["a"] * 80 + ["b"] * 20)
    >>> round(r.statistic, 3), r.drifted
    (19.78, True)
    """
    threshold = _p_threshold(threshold, "chi_square")
    check_choice(test, "test", ("homogeneity", "goodness_of_fit"), func="chi_square")
    ref, cur, dropped = _samples(reference, current, "chi_square")
    ref_counts, cur_counts = _bin_counts(ref, cur, "categories", "chi_square")
    if ref_counts.size < 2:  # a single category: nothing can differ
        statistic, p_value = 0.0, 1.0
    elif test == "homogeneity":
        statistic, p_value, _, _ = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=bool(yates))
    else:
        ref_counts = ref_counts + 0.5 if np.any(ref_counts == 0) else ref_counts.astype(float)
        expected = ref_counts * (cur_counts.sum() / ref_counts.sum())
        statistic, p_value = stats.chisquare(cur_counts, expected)
    return _result("chi_square", statistic, p_value, threshold, ref.size, cur.size, dropped)


# ---- multivariate tests --------------------------------------------------------------------------
def _frame(obj, name, func) -> pd.DataFrame:
    if not isinstance(obj, (pd.DataFrame, pd.Series)) and np.ndim(obj) not in (1, 2):
        raise fail(func, name, "a DataFrame or 2-D array (rows × features)", obj, "pass e.g. df[['temp', 'hum']]")
    return obj.to_frame() if isinstance(obj, pd.Series) else pd.DataFrame(obj)


def _matrices(reference, current, func, *, encode: bool):
    """Both samples as float matrices with the same columns, rows with NaN/inf dropped, and how many."""
    ref, cur = _frame(reference, "reference", func), _frame(current, "current", func)
    missing, extra = [c for c in ref.columns if c not in cur.columns], [c for c in cur.columns if c not in ref.columns]
    if missing or extra:
        raise fail(func, "current", "the columns of reference", f"<missing in current: {missing}, not in reference: "
                   f"{extra}>", "select the same columns in both")
    both = pd.concat([ref, cur[ref.columns]], ignore_index=True)
    for c in both.columns:
        if not _is_number(both[c]) and not encode:
            raise fail(func, f"reference[{c!r}]", "numbers", f"<dtype {both[c].dtype}>", "one-hot encode it or drop it",
                       TypeError)
        if not _is_number(both[c]):  # categories as codes: a tree model only needs them to be distinct
            both[c] = pd.Series(pd.factorize(both[c].astype(object))[0], dtype=float).replace(-1, np.nan)
    x, y = both.to_numpy(dtype=float)[: len(ref)], both.to_numpy(dtype=float)[len(ref):]
    keep_x, keep_y = np.isfinite(x).all(axis=1), np.isfinite(y).all(axis=1)
    for rows, name in ((keep_x.sum(), "reference"), (keep_y.sum(), "current")):
        if rows < 2:
            raise fail(func, name, "at least 2 complete rows", f"<{rows} complete row(s)>", "drop columns with NaN/inf")
    return x[keep_x], y[keep_y], int((~keep_x).sum() + (~keep_y).sum())


def _subsample(rows, max_samples, rng):
    if max_samples is not None and len(rows) > max_samples:
        return rows[np.sort(rng.choice(len(rows), size=max_samples, replace=False))]
    return rows


def mmd(reference, current, *, n_permutations: int = 200, seed: int = 0, threshold: float = 0.05,
        max_samples: int | None = 1000) -> DriftResult:
    """Maximum mean discrepancy of reference rows x and current rows y, with an RBF kernel::

        MMD² = mean k(x, x') + mean k(y, y') − 2·mean k(x, y),     k(a, b) = exp(−‖a − b‖² / 2σ²)

    Features are standardised with the reference mean and std; σ² is the median squared pairwise
    distance of the pooled rows (median heuristic). p-value: (1 + #{relabelled MMD² ≥ observed}) /
    (1 + ``n_permutations``) over seeded random relabellings. Samples over ``max_samples`` rows are
    subsampled (seeded). Numeric columns only; rows with NaN/inf are dropped.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(150, 3))
    >>> mmd(x, rng.normal(size=(150, 3))).drifted, mmd(x, rng.normal(size=(150, 3)) + 1).drifted
    (False, True)
    """
    threshold = _p_threshold(threshold, "mmd")
    n_permutations = check_int(n_permutations, "n_permutations", func="mmd", low=1)
    x, y, dropped = _matrices(reference, current, "mmd", encode=False)
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, max_samples, rng), _subsample(y, max_samples, rng)
    sd = x.std(axis=0)
    z = (np.vstack((x, y)) - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    n, m = len(x), len(y)
    d2 = pdist(z, "sqeuclidean")
    sigma2 = float(np.median(d2[d2 > 0])) if np.any(d2 > 0) else 1.0
    kernel = np.exp(-squareform(d2) / (2.0 * sigma2))
    w = np.concatenate((np.full(n, 1.0 / n), np.full(m, -1.0 / m)))  # MMD² = wᵀ K w
    observed = float(w @ kernel @ w)
    relabelled = w[np.stack([rng.permutation(n + m) for _ in range(n_permutations)])]
    with threadpool_limits(limits=1):  # one BLAS thread: no oversubscription on a shared machine
        null = np.einsum("pi,pi->p", relabelled @ kernel, relabelled)
    p_value = (1.0 + np.count_nonzero(null >= observed - 1e-12)) / (1.0 + n_permutations)
    return _result("mmd", max(observed, 0.0), p_value, threshold, n, m, dropped)


def domain_classifier(reference, current, *, seed: int = 0, cv: int = 5, threshold: float = 0.05,
                      max_samples: int | None = 5000, classifier=None) -> DriftResult:
    """Can a model tell current rows from reference rows? ``statistic`` = ROC AUC of its guesses::

        AUC = P(score of a current row > score of a reference row)     0.5: alike, 1: separable

    A classifier (default ``HistGradientBoostingClassifier(max_iter=100, random_state=seed)``; any
    estimator with ``predict_proba``) is fitted with ``cv``-fold stratified, shuffled (seeded) folds,
    so every row gets an out-of-fold score. p-value: one-sided Mann–Whitney U test that current rows
    score higher (AUC = U / (n·m)), treating the scores as independent. Non-numeric columns are
    encoded as codes; rows with NaN/inf dropped; samples over ``max_samples`` rows subsampled.

    >>> rng = np.random.default_rng(0)
    >>> r = domain_classifier(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + [2, 0])
    >>> r.statistic > 0.8, r.drifted
    (True, True)
    """
    from sklearn.base import clone
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    func = "domain_classifier"
    threshold = _p_threshold(threshold, func)
    cv = check_int(cv, "cv", func=func, low=2, fix="use 5 folds")
    x, y, dropped = _matrices(reference, current, func, encode=True)
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, max_samples, rng), _subsample(y, max_samples, rng)
    if min(len(x), len(y)) < cv:
        raise fail(func, "cv", f"at most the rows of each sample ({len(x)}, {len(y)})", cv, "use fewer folds")
    rows = np.vstack((x, y))
    label = np.concatenate((np.zeros(len(x), int), np.ones(len(y), int)))
    model = classifier if classifier is not None else HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    scores = np.empty(len(label))
    with threadpool_limits(limits=1):  # one OpenMP/BLAS thread: no oversubscription on a shared machine
        for train, test in StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed).split(rows, label):
            scores[test] = clone(model).fit(rows[train], label[train]).predict_proba(rows[test])[:, 1]
    auc = roc_auc_score(label, scores)
    p_value = stats.mannwhitneyu(scores[label == 1], scores[label == 0], alternative="greater").pvalue
    return _result(func, auc, p_value, threshold, len(x), len(y), dropped)


# ---- thresholds that know the sample size; many tests at once ------------------------------------
#: Options each statistic accepts in null_threshold(**options).
NULL_OPTIONS = {"psi": ("bins", "eps"), "kl_divergence": ("bins", "eps"), "js_distance": ("bins", "base"),
                "wasserstein": ("normalize",), "ks": ()}


def null_threshold(reference, n_current: int, *, method: str = "psi", quantile: float = 0.99,
                   n_draws: int = 1000, seed: int = 0, **options) -> float:
    """Threshold that knows the sample size: a quantile of the statistic when nothing has shifted.

    Draws ``n_current`` rows of the reference without replacement, computes ``method`` between them
    and the *remaining* rows (two disjoint samples of one distribution), ``n_draws`` times, and
    returns the ``quantile`` (0.99: about 1% false alarms on unshifted samples of that size). Draws
    are seeded by (``seed``, ``n_current``). ``options`` are the statistic's own (``bins``, ``eps``,
    ``base``, ``normalize``); binned statistics use edges over the whole reference.

    >>> ref = np.random.default_rng(1).normal(size=2000)
    >>> t24, t500 = null_threshold(ref, 24), null_threshold(ref, 500)
    >>> t24 > 0.25 > 0.1 > t500
    True
    """
    func = "null_threshold"
    check_choice(method, "method", list(NULL_OPTIONS), func=func)
    unknown = sorted(set(options) - set(NULL_OPTIONS[method]))
    if unknown:
        raise fail(func, "options", f"options of {method} {NULL_OPTIONS[method]}", unknown, "drop them", TypeError)
    ref, _ = _sample(reference, "reference", func, numeric=method in engine.ECDF_METHODS)
    n_current = check_int(n_current, "n_current", func=func, low=1)
    if n_current >= ref.size:
        raise fail(func, "n_current", f"fewer rows than the reference ({ref.size} after dropping missing values)",
                   n_current, "for samples that large use a p-value method (ks, chi_square)")
    quantile = check_probability(quantile, "quantile", func=func, fix="use 0.99")
    n_draws = check_int(n_draws, "n_draws", func=func, low=10, fix="use 1000")
    bins = options.pop("bins", "auto")
    if method in engine.BINNED_METHODS:  # edges over the whole reference, the same for every draw
        bins = _binning(bins, ref, func)
        if isinstance(bins, str) and bins not in ("categories", "sturges"):
            bins = np.histogram_bin_edges(ref, bins)
    null = engine.null_statistics(ref, [n_current], method, n_draws=n_draws, seed=check_int(seed, "seed", func=func),
                                  bins=bins, eps=_check_eps(options.pop("eps", 1e-4), func), **options)
    return float(np.quantile(null[0], quantile))


def adjust_p_values(p_values, method: str = "bonferroni") -> np.ndarray:
    """p-values adjusted for testing m hypotheses at once; compare the result with alpha.

    "bonferroni": min(1, p·m), controls the chance of any false alarm (alibi-detect's default).
    "bh": Benjamini–Hochberg, p₍ₖ₎·m/k made monotone from the top, controls the false discovery
    rate (= ``scipy.stats.false_discovery_control``). NaN entries are ignored and stay NaN.

    >>> adjust_p_values([0.01, 0.04, 0.03, 0.5], "bonferroni").tolist()
    [0.04, 0.16, 0.12, 1.0]
    >>> adjust_p_values([0.01, 0.04, 0.03, 0.5], "bh").round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.5]
    """
    func = "adjust_p_values"
    check_choice(method, "method", ("bonferroni", "bh"), func=func)
    try:
        p = np.asarray(p_values, dtype=float)
    except (TypeError, ValueError):
        raise fail(func, "p_values", "numbers", p_values, "pass a list or array of p-values", TypeError) from None
    if p.ndim != 1:
        raise fail(func, "p_values", "a one-dimensional list of p-values", p, "flatten it")
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise fail(func, "p_values", "p-values in [0, 1]", p[ok][(p[ok] < 0) | (p[ok] > 1)][:3].tolist(),
                   "pass p-values, not statistics")
    out, values = np.full(p.shape, np.nan), p[ok]
    if values.size:
        out[ok] = np.minimum(values * values.size, 1.0) if method == "bonferroni" else \
            stats.false_discovery_control(values, method="bh")
    return out


# ---- every column of two frames: drift_table -----------------------------------------------------
TABLE_COLUMNS = ["column", "kind", "method", "statistic", "p_value", "p_adjusted", "threshold", "drifted",
                 "n_reference", "n_current", "n_dropped"]
#: Evidently 0.7 treats integer columns with at most this many distinct values as categorical.
INTEGER_CARDINALITY_LIMIT = 10
#: Evidently switches from tests to distances above this many reference rows.
SMALL_REFERENCE_ROWS = 1000


@dataclass(frozen=True)
class DriftOptions:
    """Options of :func:`drift_table` and :func:`drift_timeline` that most calls leave alone.

    numerical : columns to treat as numerical whatever their dtype.
    threshold : threshold of the distance methods: a number, "null" or {method: number or "null"}
        (default: each method's own, 0.1). p-value methods use ``alpha``.
    alpha, ks_method, yates : significance level; options of :func:`ks` and :func:`chi_square`.
    bins, eps, base : options of psi, kl_divergence, js_distance (categorical columns: one bin per category).
    drift_share : drift_table calls the dataset drifted when this share of columns drifted (Evidently: 0.5).
    null_quantile, null_draws, seed : how a "null" threshold is calibrated (:func:`null_threshold`).
    """

    numerical: Sequence[str] = ()
    threshold: float | str | Mapping[str, float | str] | None = None
    alpha: float = 0.05
    ks_method: str = "auto"
    yates: bool = False
    bins: object = "auto"
    eps: float = 1e-4
    base: float | None = None
    drift_share: float = 0.5
    null_quantile: float = 0.99
    null_draws: int = 1000
    seed: int = 0

    def __post_init__(self):
        func = "DriftOptions"
        check_probability(self.alpha, "alpha", func=func, fix="use 0.05")
        check_choice(self.ks_method, "ks_method", KS_METHODS, func=func)
        check_share(self.drift_share, "drift_share", func=func, fix="use 0.5 (Evidently)")
        _check_eps(self.eps, func)
        check_probability(self.null_quantile, "null_quantile", func=func, fix="use 0.99")
        check_int(self.null_draws, "null_draws", func=func, low=10)

    def method_options(self, method: str, kind: str) -> dict:
        """The keyword options of the statistic ``method`` on a column of this ``kind``."""
        bins = "categories" if kind == "categorical" else self.bins
        return {"ks": {"method": self.ks_method}, "chi_square": {"yates": self.yates}, "wasserstein": {},
                "psi": {"bins": bins, "eps": self.eps}, "kl_divergence": {"bins": bins, "eps": self.eps},
                "js_distance": {"bins": bins, "base": self.base}}[method]

    def threshold_for(self, method: str, func: str):
        """The threshold of ``method``: ``alpha`` for p-value methods, else ``threshold`` or the default."""
        if METHODS[method].decision == "p_value":
            return self.alpha
        threshold = self.threshold
        if isinstance(threshold, Mapping):
            unknown = [m for m in threshold if m not in METHODS]
            if unknown:
                raise fail(func, "options.threshold", f"a dict keyed by methods {list(METHODS)}", unknown, "fix them")
            threshold = threshold.get(method)
        return _distance_threshold(METHODS[method].default_threshold if threshold is None else threshold, func)


@dataclass(frozen=True, eq=False)
class DriftTable:
    """Per-column drift results: ``frame`` has one row per column (:data:`TABLE_COLUMNS`);
    the dataset drifted when ``share_drifted >= drift_share`` (Evidently's rule). ``source`` is
    "labkit", "evidently" or "alibi-detect" (tables from :mod:`labkit.drift_adapters`)."""

    frame: pd.DataFrame
    share_drifted: float
    dataset_drifted: bool
    drift_share: float = 0.5
    correction: str | None = None
    alpha: float = 0.05
    source: str = "labkit"

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, drift_share: float = 0.5, correction: str | None = None,
                   alpha: float = 0.05, source: str = "labkit") -> "DriftTable":
        """A table from rows with the :data:`TABLE_COLUMNS`, its share and dataset decision computed."""
        drift_share = check_share(drift_share, "drift_share", func="DriftTable", fix="use 0.5 (Evidently)")
        check_columns(frame, TABLE_COLUMNS, "frame", func="DriftTable", frame="frame")
        frame = frame[TABLE_COLUMNS].reset_index(drop=True)
        share = float(frame["drifted"].mean()) if len(frame) else 0.0
        return cls(frame, share, bool(len(frame) and share >= drift_share), drift_share, correction, alpha, source)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the tidy table."""
        return self.frame.copy()

    def __repr__(self) -> str:
        return (f"DriftTable({len(self.frame)} columns, {int(self.frame['drifted'].sum())} drifted, "
                f"share_drifted={self.share_drifted:.3g}, dataset_drifted={self.dataset_drifted})")


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(series.dtype, pd.CategoricalDtype)


def _infer_kind(ref: pd.Series, cur: pd.Series) -> str | None:
    """Floats numerical, integers with ≤ 10 distinct values categorical, bool/category/text categorical."""
    dtype = ref.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_float_dtype(dtype):
        return "numerical"
    if pd.api.types.is_integer_dtype(dtype):
        distinct = pd.concat([ref, cur], ignore_index=True).nunique()
        return "categorical" if distinct <= INTEGER_CARDINALITY_LIMIT else "numerical"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "categorical"
    return None  # datetimes, timedeltas, complex numbers


def _names(value, argument, func) -> list:
    if value is None or isinstance(value, str):
        return [] if value is None else [value]
    if not isinstance(value, Iterable):
        raise fail(func, argument, "a name or a list of names", value, "pass e.g. ['temp', 'hum']", TypeError)
    return list(value)


def _column_kinds(reference_df, current_df, columns, categorical, numerical, func, names, skip=None):
    """{column: "numerical" or "categorical"} of the compared columns, with errors that name the column."""
    numerical, categorical = _names(numerical, "numerical", func), _names(categorical, "categorical", func)
    both = sorted(set(numerical) & set(categorical))
    if both:
        raise fail(func, "categorical", "columns not also listed as numerical", both, "list each column once")
    explicit = columns is not None
    columns = _names(columns, "columns", func) if explicit else [c for c in reference_df.columns if c != skip]
    for c in numerical + categorical:
        if c not in columns:
            raise fail(func, "categorical" if c in categorical else "numerical",
                       f"compared columns ({short_list(columns)})", c, "add it to columns= or drop it")
    check_columns(reference_df, columns, "columns", func=func, frame=names[0])
    check_columns(current_df, columns, "columns", func=func, frame=names[1])
    kinds = {}
    for c in columns:
        ref, cur = reference_df[c], current_df[c]
        kind = "numerical" if c in numerical else "categorical" if c in categorical else _infer_kind(ref, cur)
        if kind is None and explicit:
            raise fail(func, "columns", "numerical or categorical columns", f"<{c!r} of dtype {ref.dtype}>",
                       "drop it or convert it", TypeError)
        if kind is None:
            logger.debug("%s: skipping column %r of dtype %s", func, c, ref.dtype)
            continue
        for series, frame in ((ref, names[0]), (cur, names[1])):
            if kind == "numerical" and not _is_number(series):
                raise fail(func, f"{frame}[{c!r}]", "numbers (a numerical column)", f"<dtype {series.dtype}>",
                           "convert it with pd.to_numeric or list it in categorical=[...]", TypeError)
        kinds[c] = kind  # categories: both sides must be of one type, checked when the values are read
    if not kinds:
        raise fail(func, "columns", "at least one numerical or categorical column", columns, "pass columns=[...]")
    return kinds


def _array(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=object)
    return series.to_numpy()


def _check_method(name, kind, column, func, argument="method"):
    check_choice(name, argument, list(METHODS), func=func)
    if kind not in METHODS[name].kinds:
        fit = [m for m, info in METHODS.items() if kind in info.kinds]
        raise fail(func, argument, f"a method for {kind} columns ({fit})", f"<{name!r} for column {column!r}>",
                   f"use one of {fit}", TypeError)


def _per_column(value, kinds, argument, func) -> dict:
    if not isinstance(value, Mapping):
        return {c: value for c in kinds}
    unknown = [c for c in value if c not in kinds]
    if unknown:
        raise fail(func, argument, f"a dict keyed by compared columns {short_list(kinds)}", f"<keys {unknown}>",
                   "drop those keys or add the columns to columns=")
    return dict(value)


def _auto_method(kind, ref, cur):
    """Evidently's default: tests up to 1000 reference rows, distances above (docs/drift.md)."""
    few_values = kind == "numerical" and len(pd.unique(np.concatenate((ref, cur)))) <= 5
    if ref.size <= SMALL_REFERENCE_ROWS:
        return "ks" if kind == "numerical" and not few_values else "chi_square"
    return "wasserstein" if kind == "numerical" and not few_values else "js_distance"


def drift_table(reference_df: pd.DataFrame, current_df: pd.DataFrame, *, columns: Sequence[str] | None = None,
                categorical: Sequence[str] | None = None, method: str | Mapping[str, str] = "auto",
                correction: str | None = None, thresholds: Mapping[str, float | str] | None = None,
                options: DriftOptions | None = None) -> DriftTable:
    """Test every column of two frames for drift, each with one of the statistics above.

    ``columns`` default to every numerical/categorical column of ``reference_df``; kinds are inferred by
    a rule close to, not equal to, Evidently's (docs/drift.md; ``categorical=[...]`` and
    ``options.numerical`` force them). ``method`` is "auto" (Evidently's choice by reference size and
    kind), a method name or {column: method}.
    ``correction`` ("bonferroni" or "bh") adjusts the p-value rows (``p_adjusted``); ``thresholds``
    overrides the threshold per column ("null" allowed for distances). Other options: :class:`DriftOptions`.

    >>> ref = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4] * 5, "c": ["a", "b"] * 10})
    >>> cur = pd.DataFrame({"x": [0.5, 0.6, 0.7, 0.8] * 5, "c": ["a", "b"] * 10})
    >>> t = drift_table(ref, cur)
    >>> t.frame[["column", "kind", "method", "drifted"]].values.tolist()
    [['x', 'numerical', 'ks', True], ['c', 'categorical', 'chi_square', False]]
    >>> t.share_drifted, t.dataset_drifted
    (0.5, True)
    """
    func = "drift_table"
    options = options if options is not None else DriftOptions()
    check_frame(reference_df, "reference_df", func=func, fix="for single columns use ks(), psi(), ... directly")
    check_frame(current_df, "current_df", func=func, fix="for single columns use ks(), psi(), ... directly")
    check_choice(correction, "correction", (None, "bonferroni", "bh"), func=func)
    if not isinstance(method, (str, Mapping)):
        raise fail(func, "method", "'auto', a method name or {column: method}", method, "use 'auto'", TypeError)
    kinds = _column_kinds(reference_df, current_df, columns, categorical, options.numerical, func,
                          ("reference_df", "current_df"))
    methods = _per_column(method, kinds, "method", func)
    thresholds = _per_column(thresholds or {}, kinds, "thresholds", func)
    rows = []
    for col, kind in kinds.items():
        ref, cur, _ = _samples(_array(reference_df[col]), _array(current_df[col]), func, numeric=kind == "numerical",
                               names=(f"reference_df[{col!r}]", f"current_df[{col!r}]"))
        name = methods.get(col, "auto")
        name = _auto_method(kind, ref, cur) if name == "auto" else name
        _check_method(name, kind, col, func)
        kw = options.method_options(name, kind)
        if METHODS[name].decision == "p_value":
            threshold = _p_threshold(thresholds.get(col, options.alpha), func)
        else:
            threshold = _distance_threshold(thresholds.get(col, options.threshold_for(name, func)), func)
            if threshold == "null":
                threshold = null_threshold(ref, cur.size, method=name, quantile=options.null_quantile,
                                           n_draws=options.null_draws, seed=options.seed, **kw)
        r = _STATISTICS[name](reference_df[col], current_df[col], threshold=threshold, **kw)
        rows.append((col, kind, name, r.statistic, np.nan if r.p_value is None else r.p_value, np.nan,
                     r.threshold, r.drifted, r.n_reference, r.n_current, r.n_dropped))
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    is_p = frame["p_value"].notna().to_numpy()
    if is_p.any():
        p = frame.loc[is_p, "p_value"].to_numpy()
        frame.loc[is_p, "p_adjusted"] = p if correction is None else adjust_p_values(p, correction)
        frame.loc[is_p, "drifted"] = frame.loc[is_p, "p_adjusted"] < frame.loc[is_p, "threshold"]
    frame["drifted"] = frame["drifted"].astype(bool)
    return DriftTable.from_frame(frame, drift_share=options.drift_share, correction=correction, alpha=options.alpha)


_STATISTICS = {f.__name__: f for f in (ks, chi_square, psi, kl_divergence, js_distance, wasserstein)}


# ---- every time window of a stream: drift_timeline -----------------------------------------------
DEFAULT_TIMELINE_METHODS = {"numerical": ("ks", "wasserstein", "psi", "js_distance"),
                            "categorical": ("chi_square", "psi", "js_distance")}
TIMELINE_COLUMNS = ["window_start", "column", "method", "statistic", "p_value", "threshold", "drifted", "n",
                    "n_dropped"]


def _timeline_methods(methods, kinds, func) -> dict:
    if methods is None:
        return {c: list(DEFAULT_TIMELINE_METHODS[k]) for c, k in kinds.items()}
    if isinstance(methods, Mapping):
        chosen = _per_column(methods, kinds, "methods", func)
        out = {c: _names(chosen.get(c, DEFAULT_TIMELINE_METHODS[k]), "methods", func) for c, k in kinds.items()}
        for c, names in out.items():
            for name in names:
                _check_method(name, kinds[c], c, func, "methods")
        return out
    methods = _names(methods, "methods", func)
    for name in methods:
        check_choice(name, "methods", list(METHODS), func=func)
        if not any(k in METHODS[name].kinds for k in kinds.values()):
            raise fail(func, "methods", f"methods that suit the columns {kinds}", name, "drop it", TypeError)
    return {c: [m for m in methods if k in METHODS[m].kinds] for c, k in kinds.items()}


def _times(stream_df, time_col, func) -> pd.Series:
    if time_col is None:
        if not isinstance(stream_df.index, pd.DatetimeIndex):
            raise fail(func, "time_col", "a datetime column, or None with a DatetimeIndex on stream_df",
                       f"<None with a {type(stream_df.index).__name__}>", "pass time_col='timestamp'", TypeError)
        return pd.Series(stream_df.index)
    check_columns(stream_df, [time_col], "time_col", func=func, frame="stream_df")
    return check_datetimes(stream_df[time_col], f"stream_df[{time_col!r}]", func=func)


def drift_timeline(reference_df: pd.DataFrame, stream_df: pd.DataFrame, *, freq: str = "D",
                   time_col: str | None = "timestamp", columns: Sequence[str] | None = None,
                   categorical: Sequence[str] | None = None,
                   methods: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
                   options: DriftOptions | None = None) -> pd.DataFrame:
    """Every time window of a stream against the reference: one row per (window, column, method).

    Windows of length ``freq`` ("D", "W", "6h", ...) start at ``labkit._windows.window_starts`` of
    ``stream_df[time_col]`` (None: its DatetimeIndex). ``methods``: a list (each method on the
    columns it suits) or {column: [methods]}; default ks, wasserstein, psi, js_distance on numerical
    and chi_square, psi, js_distance on categorical columns. Columns and kinds as in
    :func:`drift_table`; thresholds and the statistics' options in :class:`DriftOptions`.

    Each row equals what the function of that name returns for that window, but all windows are
    computed in one vectorised pass (``labkit._drift_engine``). Columns: :data:`TIMELINE_COLUMNS`;
    a window whose values are all missing for a column gets NaN statistic and drifted False.

    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=500)})
    >>> t = pd.date_range("2024-01-01", periods=72, freq="h")
    >>> stream = pd.DataFrame({"timestamp": t, "x": rng.normal(size=72) + np.repeat([0, 0, 2], 24)})
    >>> tl = drift_timeline(ref, stream, methods=["ks"])
    >>> tl[["window_start", "drifted", "n"]].astype(str).values.tolist()
    [['2024-01-01', 'False', '24'], ['2024-01-02', 'False', '24'], ['2024-01-03', 'True', '24']]
    """
    func = "drift_timeline"
    options = options if options is not None else DriftOptions()
    check_frame(reference_df, "reference_df", func=func)
    check_frame(stream_df, "stream_df", func=func, fix="there is nothing to cut into windows")
    window, starts = window_ids(_times(stream_df, time_col, func), freq, func=func)
    kinds = _column_kinds(reference_df, stream_df, columns, categorical, options.numerical, func,
                          ("reference_df", "stream_df"), skip=time_col)
    per_column = _timeline_methods(methods, kinds, func)
    parts, ks_parts = [], []
    for col, kind in kinds.items():
        names = (f"reference_df[{col!r}]", f"stream_df[{col!r}]")
        ref, _ = _sample(_array(reference_df[col]), names[0], func, numeric=kind == "numerical")
        values, keep = _present(_array(stream_df[col]), names[1], func, numeric=kind == "numerical")
        _same_family(ref, values[keep], names, func)
        bins = "categories" if kind == "categorical" else _binning(options.bins, ref, func)
        if not (np.ndim(bins) == 1 or isinstance(bins, numbers.Integral) or bins in ("categories", "sturges")):
            raise fail(func, "options.bins", "'auto', 'sturges', 'categories', an int or edges", bins, "use 'auto'")
        n = np.bincount(window[keep], minlength=len(starts))
        present = np.flatnonzero(n)  # windows with values; the engine numbers them 0, 1, ...
        group = (np.cumsum(n > 0) - 1)[window[keep]]
        result = engine.group_statistics(ref, values[keep], group, present.size, per_column[col], bins=bins,
                                         ks_method=None, eps=options.eps, base=options.base,
                                         yates=options.yates) if present.size else {}
        for name in per_column[col]:
            statistic, p_value = np.full(len(starts), np.nan), np.full(len(starts), np.nan)
            if present.size:
                statistic[present], p_value[present] = result[name]
            if name == "ks":  # the KS p-values of all columns in one batch, below
                ks_parts.append((statistic, p_value, present, ref.size, n[present]))
            threshold = _window_thresholds(name, options, ref, n, present, bins, col, func)
            parts.append((col, name, statistic, p_value, threshold, n, np.bincount(window[~keep], minlength=n.size)))
    if ks_parts:  # one batched exact recursion for every column's windows
        d, p = engine.ks_pvalues(np.concatenate([s[w] for s, _, w, _, _ in ks_parts]),
                                 np.concatenate([np.full(w.size, size) for _, _, w, size, _ in ks_parts]),
                                 np.concatenate([sizes for *_, sizes in ks_parts]), options.ks_method)
        ends = np.cumsum([w.size for _, _, w, _, _ in ks_parts])[:-1]
        for (statistic, p_value, present, _, _), d_col, p_col in zip(ks_parts, np.split(d, ends), np.split(p, ends)):
            statistic[present], p_value[present] = d_col, p_col
    col, name, statistic, p_value, threshold, n, dropped = zip(*parts)
    order = np.lexsort((np.repeat([list(METHODS).index(m) for m in name], len(starts)),
                        np.repeat([list(kinds).index(c) for c in col], len(starts)),
                        np.tile(np.arange(len(starts)), len(parts))))  # by window, then column, then method
    out = pd.DataFrame({
        "window_start": np.tile(starts, len(parts))[order], "column": np.repeat(col, len(starts))[order],
        "method": np.repeat(name, len(starts))[order], "statistic": np.concatenate(statistic)[order],
        "p_value": np.concatenate(p_value)[order], "threshold": np.concatenate(threshold)[order], "drifted": False,
        "n": np.concatenate(n)[order], "n_dropped": np.concatenate(dropped)[order]})
    is_p = out["method"].isin([m for m, info in METHODS.items() if info.decision == "p_value"])
    out["drifted"] = np.where(is_p, out["p_value"] < out["threshold"], out["statistic"] >= out["threshold"])
    out["drifted"] &= out["statistic"].notna()
    return out


def _window_thresholds(method, options, ref, n, present, bins, col, func) -> np.ndarray:
    """The threshold of every window: fixed, or "null" calibrated once per window size."""
    threshold = options.threshold_for(method, func)
    if threshold != "null":
        return np.full(n.size, threshold)
    sizes = np.unique(n[present])
    if sizes.size and sizes[-1] >= ref.size:
        raise fail(func, "options.threshold", f"'null' only with windows smaller than the reference ({ref.size} rows)",
                   f"<windows of up to {sizes[-1]} rows in column {col!r}>", "use a shorter freq or a number")
    kw = {k: v for k, v in dict(bins=bins, eps=options.eps, base=options.base).items() if k in NULL_OPTIONS[method]}
    values = {size: null_threshold(ref, size, method=method, quantile=options.null_quantile, n_draws=options.null_draws,
                                   seed=options.seed, **kw) for size in sizes.tolist()}
    out = np.full(n.size, np.nan)
    out[present] = [values[size] for size in n[present].tolist()]
    return out
