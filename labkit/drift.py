"""Drift statistics: univariate tests, a per-column drift table and a vectorised drift timeline.

Every statistic has the same shape, ``method(reference, current, *, options)``, and returns one
:class:`DriftResult`. **A higher statistic always means more drift.** Two kinds of decision:

- *p-value methods* (``ks``, ``chi_square``, and the multivariate ``mmd``, ``domain_classifier``):
  ``drifted`` is ``p_value < threshold`` (threshold = significance level, default 0.05).
- *distance methods* (``psi``, ``kl_divergence``, ``js_distance``, ``wasserstein``): ``p_value`` is
  ``None`` and ``drifted`` is ``statistic >= threshold`` (default 0.1, Evidently's default), or,
  with ``threshold="null"``, a threshold calibrated on the no-shift distribution for the actual
  sample size (:func:`null_threshold`).

Input handling (all functions)
------------------------------
- NaN and ±inf are dropped from each sample and counted in ``n_dropped`` (reference + current);
  ``n_reference``/``n_current`` are the sizes *after* dropping. None/NaN/NaT count as missing in
  categorical data. A sample that is empty after dropping raises ``ValueError`` naming it.
- Numeric methods refuse non-numeric data with a ``TypeError`` naming the argument; categorical
  methods refuse numbers on one side and strings on the other.
- Constant inputs: ``ks`` gives 0 (p = 1) for the same constant and 1 for different constants;
  ``wasserstein`` divides by max(std(reference), 0.001) like Evidently, so a constant reference
  turns any shift of size s into s / 0.001; ``psi``/``kl_divergence``/``js_distance``/
  ``chi_square`` see a single bin and return 0 (chi-square p = 1) when both samples hold the
  same constant.
- Unseen categories (in ``current`` only, or ``reference`` only): ``psi`` and ``kl_divergence``
  fill empty bins as Evidently does (share 1e-4, or the smallest non-zero share / 1e6 when that is
  ≤ 1e-4), ``js_distance`` needs no filling, ``chi_square`` (test of homogeneity) handles them
  natively; the ``goodness_of_fit`` variant adds 0.5 to every reference count when some category
  has no reference rows (Evidently returns p = 0 there).

Binning for psi / kl_divergence / js_distance
---------------------------------------------
``bins="auto"`` (default) is Evidently 0.7's rule: a numeric sample whose reference has more than
20 distinct values is cut into Sturges bins computed on reference + current
(``np.histogram_bin_edges(..., "sturges")``); anything else gets one bin per distinct value seen in
either sample. ``"categories"``, a numpy rule name, an int (equal-width bins over reference +
current) or an array of edges (outer bins open-ended) can be chosen instead. Because "auto" looks
at the reference only, swapping reference and current can change the bins; with a fixed rule PSI
and JS are symmetric.

Where the defaults come from, and where they differ from Evidently 0.7.23 / alibi-detect 0.13.0
-----------------------------------------------------------------------------------------------
- ``ks``: ``scipy.stats.ks_2samp(method="auto")``, exact lattice-path p-values while both samples
  have ≤ 10,000 rows (:func:`drift_timeline` computes the same exact p-values with a faster
  batched recursion, equal to ~1e-12 relative). Evidently uses the same call but flags drift at
  ``p <= threshold`` (labkit: ``p < threshold``, as alibi). alibi's KSDrift/TabularDrift use
  ``method="asymp"`` (i.e. ``kstwo.sf(D, round(n·m/(n+m)))``) and store p-values as float32:
  ``ks(..., method="asymp")`` reproduces them. alibi applies Bonferroni across features by default; labkit corrects only in
  :func:`drift_table` and only when asked (``correction=``), like Evidently.
- ``chi_square``: default is Pearson's test of homogeneity on the 2×K table (reference row,
  current row) **without** Yates' correction, the test notebook 03 derives by hand and the one that
  treats both samples as samples. It equals ``scipy.stats.chi2_contingency(table,
  correction=False)``; for two categories its p-value equals Evidently's two-proportion z-test.
  alibi's ChiSquareDrift/TabularDrift call ``chi2_contingency`` with its default Yates correction
  (only changes 2-category columns): ``yates=True`` reproduces alibi. Evidently's "chisquare" is a
  goodness-of-fit test of current counts against reference shares: ``test="goodness_of_fit"``.
- ``psi``: Evidently's binning and empty-bin rule (so values agree to 1e-9); default threshold 0.1
  (Evidently; the industry rule of thumb is 0.1 = moderate, 0.25 = major shift). Beware: under no
  shift PSI ≈ (1/N + 1/M)·χ²(bins − 1), so a fixed threshold means a different false-alarm rate
  at every sample size: random 24-row subsets of the 2011 bike data, compared with the rest of
  2011, score PSI ≈ 0.7 (windspeed) to 1.5 (hr) on average (temp ≈ 1.2) although nothing
  shifted, so 0.1 and 0.25 flag almost all of them. Use ``threshold="null"``.
- ``kl_divergence``: KL(reference ‖ current), natural log, Evidently's binning and fill (then
  renormalised, as ``scipy.stats.entropy`` does). Not symmetric.
- ``js_distance``: Jensen–Shannon *distance* (square root of the divergence) with natural log,
  like Evidently and ``scipy.spatial.distance.jensenshannon``: range [0, sqrt(ln 2) ≈ 0.833];
  ``base=2`` gives range [0, 1]. Empty bins need no filling. Symmetric.
- ``wasserstein``: first Wasserstein distance divided by max(std(reference, ddof=0), 0.001),
  exactly Evidently's "wasserstein" stattest; ``normalize=False`` gives scipy's raw distance.
- ``drift_table(method="auto")`` follows Evidently's default choice per column: with at most 1000
  reference rows (after dropping missing values) KS for numeric columns (chi-square when they have
  ≤ 5 distinct values) and chi-square for categorical ones; above 1000 rows normed Wasserstein for
  numeric columns (Jensen–Shannon when ≤ 5 distinct values) and Jensen–Shannon for categorical
  ones, threshold 0.1. Evidently uses a z-test for binary columns of small references (same
  p-value as labkit's chi-square) and its goodness-of-fit chi-square otherwise. Column kinds are
  inferred as Evidently does: floats are numerical, integers with ≤ 10 distinct values
  categorical, bool/category/strings categorical. The dataset is drifted when the share of
  drifted columns is ≥ 0.5 (Evidently); alibi instead flags the dataset when *any* feature is
  significant after correction.

Examples
--------
>>> import numpy as np
>>> from labkit.drift import ks, psi
>>> rng = np.random.default_rng(0)
>>> ref, cur = rng.normal(0, 1, 500), rng.normal(0.5, 1, 500)
>>> r = ks(ref, cur)
>>> r.method, round(r.statistic, 3), r.drifted
('ks', 0.214, True)
>>> round(psi(ref, ref).statistic, 12)
0.0
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from labkit import _drift_core as core
from labkit import _drift_groups as groups

logger = logging.getLogger(__name__)

__all__ = [
    "DriftResult",
    "DriftTable",
    "METHODS",
    "ks",
    "psi",
    "wasserstein",
    "kl_divergence",
    "js_distance",
    "chi_square",
    "null_threshold",
    "adjust_p_values",
    "drift_table",
    "drift_timeline",
    "mmd",
    "domain_classifier",
    "from_evidently",
    "from_alibi",
]


@dataclass(frozen=True)
class MethodInfo:
    """What a method returns and how it decides: ``decision`` is "p_value" or "distance"."""

    decision: str
    default_threshold: float
    kinds: tuple[str, ...]


#: The univariate methods: how each decides, its default threshold and the column kinds it accepts.
METHODS: dict[str, MethodInfo] = {
    "ks": MethodInfo("p_value", 0.05, ("numerical",)),
    "chi_square": MethodInfo("p_value", 0.05, ("categorical", "numerical")),
    "psi": MethodInfo("distance", 0.1, ("numerical", "categorical")),
    "kl_divergence": MethodInfo("distance", 0.1, ("numerical", "categorical")),
    "js_distance": MethodInfo("distance", 0.1, ("numerical", "categorical")),
    "wasserstein": MethodInfo("distance", 0.1, ("numerical",)),
}


@dataclass(frozen=True)
class DriftResult:
    """The outcome of one drift test.

    Attributes
    ----------
    method : str
        Name of the statistic ("ks", "psi", ...).
    statistic : float
        The statistic; higher always means more drift.
    p_value : float or None
        p-value for test methods, ``None`` for distances.
    threshold : float
        Significance level (p-value methods) or distance cut-off (distance methods).
    drifted : bool
        ``p_value < threshold`` or ``statistic >= threshold``.
    n_reference, n_current : int
        Sample sizes actually used (after dropping missing values).
    n_dropped : int
        NaN/inf/missing values dropped from both samples together.
    """

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
    statistic = float(statistic)
    if p_value is not None:
        p_value = float(p_value)
        drifted = bool(p_value < threshold)
    else:
        drifted = bool(statistic >= threshold)
    return DriftResult(method, statistic, p_value, float(threshold), drifted, int(n_ref), int(n_cur), int(n_dropped))


def _check_threshold(threshold, func, allow_null):
    if isinstance(threshold, str):
        if threshold == "null" and allow_null:
            return threshold
        expected = 'a number or "null"' if allow_null else "a number"
        raise ValueError(f"{func}(): threshold must be {expected}; got {threshold!r}.")
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise TypeError(f"{func}(): threshold must be a number; got {type(threshold).__name__}.") from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{func}(): threshold must be finite and >= 0; got {threshold!r}.")
    return value


# ----------------------------------------------------------------------------------------------
# univariate statistics
# ----------------------------------------------------------------------------------------------
def ks(reference, current, *, threshold: float = 0.05, method: str = "auto") -> DriftResult:
    """Two-sample Kolmogorov–Smirnov test (two-sided).

    Parameters
    ----------
    reference, current : array-like of numbers
        The two samples. NaN/inf are dropped and counted.
    threshold : float, default 0.05
        Significance level: drifted when ``p_value < threshold``.
    method : {"auto", "exact", "asymp"}, default "auto"
        p-value method of ``scipy.stats.ks_2samp``. "asymp" is what alibi-detect uses.

    Returns
    -------
    DriftResult
        ``statistic`` = D = max |F_ref − F_cur| in [0, 1], equal to ``ks_2samp``'s.

    Examples
    --------
    >>> r = ks([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    >>> r.statistic, round(r.p_value, 4), r.drifted
    (1.0, 0.0079, True)
    """
    func = "ks"
    threshold = _check_threshold(threshold, func, False)
    if method not in ("auto", "exact", "asymp"):
        raise ValueError(f"ks(): method must be 'auto', 'exact' or 'asymp'; got {method!r}.")
    ref, d1 = core.clean_numeric(reference, "reference", func)
    cur, d2 = core.clean_numeric(current, "current", func)
    res = stats.ks_2samp(ref, cur, method=method)
    return _result("ks", res.statistic, res.pvalue, threshold, ref.size, cur.size, d1 + d2)


def _binned(method, reference, current, *, bins, eps, base, threshold, seed):
    func = method
    threshold = _check_threshold(threshold, func, True)
    eps = _check_eps(eps, func)
    ref, d1 = core.clean_categorical(reference, "reference", func)
    cur, d2 = core.clean_categorical(current, "current", func)
    core.check_same_family(ref, cur, "", func)
    if core.is_numeric_array(ref):
        ref = ref.astype(float, copy=False)
        cur = cur.astype(float, copy=False)
    spec = core.resolve_bins(bins, ref, func)
    stat, _ = groups.group_statistics(
        ref, cur, np.zeros(cur.size, np.int64), 1, [method], spec=spec, eps=eps, base=base
    )[method]
    if threshold == "null":
        threshold = _null_threshold(ref, cur.size, method, 0.99, 1000, seed, spec, eps, base, True, func)
    return _result(method, stat[0], None, threshold, ref.size, cur.size, d1 + d2)


def _check_eps(eps, func):
    if not (isinstance(eps, (int, float)) and 0 < eps < 1):
        raise ValueError(f"{func}(): eps must be a number in (0, 1); got {eps!r}.")
    return float(eps)


def psi(reference, current, *, bins="auto", eps: float = 1e-4, threshold=0.1, seed: int = 0) -> DriftResult:
    """Population Stability Index, Σ (r − c)·ln(r / c) over bins of reference (r) and current (c) shares.

    Parameters
    ----------
    reference, current : array-like
        Numbers or categories. Missing values are dropped and counted.
    bins : "auto", "categories", str, int or array, default "auto"
        Binning (module docstring): "auto" is Evidently's rule.
    eps : float, default 1e-4
        Share given to empty bins (Evidently's rule: or the smallest non-zero share / 1e6 when that
        is ≤ eps).
    threshold : float or "null", default 0.1
        Drifted when PSI ≥ threshold. "null": the 0.99 quantile of PSI between random subsets of the
        reference of the current's size and the rest of the reference (:func:`null_threshold`,
        1000 draws, ``seed``).
    seed : int, default 0
        Seed of the null draws (only used with ``threshold="null"``).

    Returns
    -------
    DriftResult
        ``p_value`` is None. Symmetric in reference/current, 0 for identical samples.

    Examples
    --------
    >>> r = psi([0, 0, 1, 1], [0, 1, 1, 1])
    >>> round(r.statistic, 4), r.drifted
    (0.2747, True)
    """
    return _binned("psi", reference, current, bins=bins, eps=eps, base=None, threshold=threshold, seed=seed)


def kl_divergence(
    reference, current, *, bins="auto", eps: float = 1e-4, threshold=0.1, seed: int = 0
) -> DriftResult:
    """Kullback–Leibler divergence KL(reference ‖ current) of the binned shares, natural log.

    Same binning and empty-bin filling as :func:`psi` (then renormalised, as ``scipy.stats.entropy``
    and Evidently's "kl_div" do). Not symmetric. Drifted when the divergence ≥ ``threshold``
    (default 0.1, Evidently's; or "null", see :func:`psi`).

    Examples
    --------
    >>> round(kl_divergence([0, 0, 1, 1], [0, 1, 1, 1]).statistic, 4)
    0.1438
    """
    return _binned("kl_divergence", reference, current, bins=bins, eps=eps, base=None, threshold=threshold, seed=seed)


def js_distance(
    reference, current, *, bins="auto", base: float | None = None, threshold=0.1, seed: int = 0
) -> DriftResult:
    """Jensen–Shannon distance (square root of the JS divergence) of the binned shares.

    Parameters
    ----------
    base : float, optional
        Logarithm base; default natural log (Evidently, scipy), giving a range [0, sqrt(ln 2) ≈ 0.833].
        ``base=2`` gives [0, 1].
    bins, threshold, seed
        As in :func:`psi` (default threshold 0.1, Evidently's). No empty-bin filling is needed.

    Examples
    --------
    >>> round(js_distance(["a", "a"], ["b", "b"], base=2).statistic, 6)
    1.0
    """
    if base is not None and not (isinstance(base, (int, float)) and base > 0 and base != 1):
        raise ValueError(f"js_distance(): base must be a positive number other than 1, or None; got {base!r}.")
    return _binned("js_distance", reference, current, bins=bins, eps=1e-4, base=base, threshold=threshold, seed=seed)


def wasserstein(reference, current, *, normalize: bool = True, threshold=0.1, seed: int = 0) -> DriftResult:
    """First Wasserstein (earth mover's) distance, by default divided by the reference's std.

    Parameters
    ----------
    normalize : bool, default True
        Divide by max(std(reference, ddof=0), 0.001): Evidently's "wasserstein" stattest, in units of
        reference standard deviations. False gives ``scipy.stats.wasserstein_distance``.
    threshold : float or "null", default 0.1
        Drifted when the distance ≥ threshold (Evidently's default 0.1), or "null" (see :func:`psi`).

    Examples
    --------
    >>> wasserstein([0, 1, 2, 3], [1, 2, 3, 4], normalize=False).statistic
    1.0
    """
    func = "wasserstein"
    threshold = _check_threshold(threshold, func, True)
    ref, d1 = core.clean_numeric(reference, "reference", func)
    cur, d2 = core.clean_numeric(current, "current", func)
    dist = stats.wasserstein_distance(ref, cur)
    if normalize:
        dist = dist / max(float(np.std(ref)), core.WASSERSTEIN_NORM_FLOOR)
    if threshold == "null":
        threshold = _null_threshold(
            ref, cur.size, "wasserstein", 0.99, 1000, seed, core.BinSpec("categories"), 1e-4, None, normalize, func
        )
    return _result("wasserstein", dist, None, threshold, ref.size, cur.size, d1 + d2)


def chi_square(
    reference, current, *, test: str = "homogeneity", yates: bool = False, threshold: float = 0.05
) -> DriftResult:
    """Pearson chi-square test on category counts.

    Parameters
    ----------
    reference, current : array-like
        Categories (any hashable values; numbers are treated as category codes).
    test : {"homogeneity", "goodness_of_fit"}, default "homogeneity"
        "homogeneity": both samples are samples; the 2×K contingency table, as
        ``scipy.stats.chi2_contingency`` (alibi-detect). "goodness_of_fit": current counts against
        the reference shares as if they were known exactly, as Evidently's "chisquare"; if a
        category has no reference rows, 0.5 is added to every reference count (documented smoothing).
    yates : bool, default False
        Yates' continuity correction for 2 categories (homogeneity only); True reproduces alibi.
    threshold : float, default 0.05
        Significance level: drifted when ``p_value < threshold``.

    Returns
    -------
    DriftResult
        ``statistic`` is the chi-square statistic; 0 (p = 1) when only one category occurs.

    Examples
    --------
    >>> r = chi_square(["a"] * 50 + ["b"] * 50, ["a"] * 80 + ["b"] * 20)
    >>> round(r.statistic, 3), r.drifted
    (19.78, True)
    """
    func = "chi_square"
    threshold = _check_threshold(threshold, func, False)
    if test not in ("homogeneity", "goodness_of_fit"):
        raise ValueError(f"chi_square(): test must be 'homogeneity' or 'goodness_of_fit'; got {test!r}.")
    ref, d1 = core.clean_categorical(reference, "reference", func)
    cur, d2 = core.clean_categorical(current, "current", func)
    core.check_same_family(ref, cur, "", func)
    gc = core.group_counts(core.BinSpec("categories"), ref, cur, np.zeros(cur.size, np.int64), 1)
    if test == "homogeneity":
        stat, p = core.chi2_from_counts(gc, bool(yates))
        stat, p = stat[0], p[0]
    else:
        rc = gc.ref[0].astype(float)
        cc = gc.cur[0].astype(float)
        if np.any(rc == 0):
            logger.debug("chi_square(goodness_of_fit): unseen categories, adding 0.5 to reference counts")
            rc = rc + 0.5
        f_exp = rc * (cc.sum() / rc.sum())
        if rc.size < 2:
            stat, p = 0.0, 1.0
        else:
            stat, p = stats.chisquare(cc, f_exp)
    return _result("chi_square", stat, p, threshold, ref.size, cur.size, d1 + d2)


# ----------------------------------------------------------------------------------------------
# null thresholds
# ----------------------------------------------------------------------------------------------
_NULL_METHODS = ("psi", "kl_divergence", "js_distance", "wasserstein", "ks")


def null_threshold(
    reference,
    n_current: int,
    *,
    method: str = "psi",
    quantile: float = 0.99,
    n_draws: int = 1000,
    seed: int = 0,
    bins="auto",
    eps: float = 1e-4,
    base: float | None = None,
    normalize: bool = True,
) -> float:
    """Threshold that knows the sample size: a quantile of the statistic when nothing has shifted.

    Draws ``n_current`` rows of the reference without replacement, computes ``method`` between
    them and the *remaining* reference rows (so both sides are disjoint samples of the same
    distribution), repeats ``n_draws`` times and returns the ``quantile`` of those values
    (``np.quantile``, linear interpolation). With ``quantile=0.99`` the false-alarm rate on
    unshifted windows of that size is about 1%. All draws are computed in one vectorised pass.

    Parameters
    ----------
    reference : array-like
        Reference sample (missing values dropped).
    n_current : int
        Size of the samples the threshold is for (e.g. 24 for hourly rows in daily windows);
        must be smaller than the reference.
    method : {"psi", "kl_divergence", "js_distance", "wasserstein", "ks"}, default "psi"
        Statistic ("ks" gives a threshold on D).
    quantile : float, default 0.99
    n_draws : int, default 1000
    seed : int, default 0
        Draws are seeded by (seed, n_current): the same size always gets the same threshold.
    bins, eps, base, normalize
        Options of the statistic (see :func:`psi`, :func:`js_distance`, :func:`wasserstein`).
        Binned statistics use edges computed on the whole reference.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.random.default_rng(1).normal(size=2000)
    >>> t24, t500 = null_threshold(ref, 24), null_threshold(ref, 500)
    >>> t24 > 0.25 > 0.1 > t500
    True
    """
    func = "null_threshold"
    if method not in _NULL_METHODS:
        raise ValueError(f"{func}(): method must be one of {list(_NULL_METHODS)}; got {method!r}.")
    if method in groups.ECDF_METHODS:
        ref, _ = core.clean_numeric(reference, "reference", func)
        spec = core.BinSpec("categories")
    else:
        ref, _ = core.clean_categorical(reference, "reference", func)
        if core.is_numeric_array(ref):
            ref = ref.astype(float, copy=False)
        spec = core.resolve_bins(bins, ref, func)
    return _null_threshold(ref, n_current, method, quantile, n_draws, seed, spec, eps, base, normalize, func)


def _null_threshold(ref, n_current, method, quantile, n_draws, seed, spec, eps, base, normalize, func):
    values = _null_thresholds(ref, [n_current], method, quantile, n_draws, seed, spec, eps, base, normalize, func)
    return float(values[0])


def _null_thresholds(ref, sizes, method, quantile, n_draws, seed, spec, eps, base, normalize, func):
    for n_current in sizes:
        if not isinstance(n_current, (int, np.integer)) or isinstance(n_current, bool) or n_current < 1:
            raise ValueError(f"{func}(): n_current must be a positive int; got {n_current!r}.")
        if n_current >= ref.size:
            raise ValueError(
                f"{func}(): n_current={n_current} must be smaller than the reference ({ref.size} rows after "
                "dropping missing values) to draw disjoint subsets. For samples that large use a p-value "
                "method (ks, chi_square), whose thresholds already account for the sample size."
            )
    if not (0 < quantile < 1):
        raise ValueError(f"{func}(): quantile must be in (0, 1); got {quantile!r}.")
    if not isinstance(n_draws, (int, np.integer)) or n_draws < 10:
        raise ValueError(f"{func}(): n_draws must be an int >= 10; got {n_draws!r}.")
    null = groups.null_statistics(
        ref, sizes, method, n_draws=int(n_draws), seed=seed, spec=spec, eps=eps, base=base, normalize=normalize
    )
    return np.quantile(null, quantile, axis=1)


# ----------------------------------------------------------------------------------------------
# multiple testing
# ----------------------------------------------------------------------------------------------
def adjust_p_values(p_values, method: str = "bonferroni") -> np.ndarray:
    """Adjust p-values for multiple testing.

    Parameters
    ----------
    p_values : array-like of float
        p-values in [0, 1]; NaN entries are ignored (not counted) and stay NaN.
    method : {"bonferroni", "bh"}, default "bonferroni"
        "bonferroni": min(1, p·m), controls the family-wise error rate (alibi-detect's default,
        which compares p < alpha/m). "bh": Benjamini–Hochberg step-up adjusted p-values, control the
        false discovery rate (as ``statsmodels``' "fdr_bh" and ``scipy.stats.false_discovery_control``).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the original order; compare them with alpha.

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03, 0.5], "bonferroni").tolist()
    [0.04, 0.16, 0.12, 1.0]
    >>> adjust_p_values([0.01, 0.04, 0.03, 0.5], "bh").round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.5]
    """
    func = "adjust_p_values"
    try:
        p = np.asarray(p_values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{func}(): p_values must be numbers; got {p_values!r}.") from None
    if p.ndim != 1:
        raise ValueError(f"{func}(): p_values must be one-dimensional; got shape {p.shape}.")
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError(f"{func}(): p_values must lie in [0, 1]; got {p[ok][(p[ok] < 0) | (p[ok] > 1)][:3]}.")
    out = np.full(p.shape, np.nan)
    vals = p[ok]
    m = vals.size
    if m == 0:
        return out
    if method == "bonferroni":
        out[ok] = np.minimum(vals * m, 1.0)
    elif method == "bh":
        order = np.argsort(vals, kind="mergesort")
        ranked = vals[order] * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(ranked[::-1])[::-1]
        res = np.empty(m)
        res[order] = np.minimum(adj, 1.0)
        out[ok] = res
    else:
        raise ValueError(f"{func}(): method must be 'bonferroni' or 'bh'; got {method!r}.")
    return out


# ----------------------------------------------------------------------------------------------
# per-column drift table
# ----------------------------------------------------------------------------------------------
TABLE_COLUMNS = [
    "column",
    "kind",
    "method",
    "statistic",
    "p_value",
    "p_adjusted",
    "threshold",
    "drifted",
    "n_reference",
    "n_current",
    "n_dropped",
]

#: Evidently 0.7 treats integer columns with at most this many distinct values as categorical.
INTEGER_CARDINALITY_LIMIT = 10
#: Evidently switches from tests to distances above this many reference rows.
SMALL_REFERENCE_ROWS = 1000


@dataclass(frozen=True, eq=False)
class DriftTable:
    """Per-column drift results for two DataFrames.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per column: column, kind, method, statistic, p_value, p_adjusted, threshold,
        drifted, n_reference, n_current, n_dropped. Use :meth:`to_frame` for a copy.
    share_drifted : float
        Share of columns flagged as drifted.
    dataset_drifted : bool
        ``share_drifted >= drift_share`` (Evidently's dataset-drift rule).
    drift_share : float, default 0.5
    correction : str or None
        Multiple-testing correction applied to the p-value rows.
    alpha : float
        Significance level for p-value rows (NaN for tables adapted from other libraries).
    source : str
        "labkit", "evidently" or "alibi-detect" (see :func:`from_evidently`, :func:`from_alibi`).
    """

    frame: pd.DataFrame
    share_drifted: float
    dataset_drifted: bool
    drift_share: float = 0.5
    correction: str | None = None
    alpha: float = 0.05
    source: str = field(default="labkit")

    def to_frame(self) -> pd.DataFrame:
        """A copy of the tidy table."""
        return self.frame.copy()

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns."""
        return self.frame.loc[self.frame["drifted"], "column"].tolist()

    def __repr__(self) -> str:
        return (
            f"DriftTable({len(self.frame)} columns, {int(self.frame['drifted'].sum())} drifted, "
            f"share_drifted={self.share_drifted:.3g}, dataset_drifted={self.dataset_drifted})"
        )


def _table_from_rows(rows: pd.DataFrame, *, drift_share, correction, alpha, source="labkit") -> DriftTable:
    n = len(rows)
    share = float(rows["drifted"].sum() / n) if n else 0.0
    return DriftTable(rows, share, bool(n > 0 and share >= drift_share), drift_share, correction, alpha, source)


def _infer_kind(ref: pd.Series, cur: pd.Series) -> str | None:
    dt = ref.dtype
    if isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dt):
        return "categorical"
    if pd.api.types.is_float_dtype(dt):
        return "numerical"
    if pd.api.types.is_integer_dtype(dt):
        both = pd.concat([ref, cur], ignore_index=True)
        return "categorical" if both.nunique() <= INTEGER_CARDINALITY_LIMIT else "numerical"
    if pd.api.types.is_string_dtype(dt) or pd.api.types.is_object_dtype(dt):
        return "categorical"
    return None  # datetimes, timedeltas, complex...


def _check_frames(reference_df, current_df, func, names=("reference_df", "current_df")):
    for obj, name in zip((reference_df, current_df), names):
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(
                f"{func}(): {name} must be a pandas DataFrame; got {type(obj).__name__}. "
                "For single columns use ks(), psi(), ... directly."
            )


def _resolve_columns(reference_df, current_df, columns, numerical, categorical, func, cur_name="current_df", skip=()):
    """Column list and kind per column, with errors that name the offending column."""
    numerical = list(numerical or [])
    categorical = list(categorical or [])
    both = set(numerical) & set(categorical)
    if both:
        raise ValueError(f"{func}(): column(s) {sorted(both)} are listed as both numerical and categorical.")
    explicit = columns is not None
    if explicit:
        if isinstance(columns, str):
            columns = [columns]
        columns = list(columns)
    else:
        columns = [c for c in reference_df.columns if c not in skip]
    for c in numerical + categorical:
        if c not in columns:
            if explicit:
                raise ValueError(f"{func}(): column {c!r} is given a kind but is not in columns={columns}.")
            if c not in reference_df.columns:
                raise ValueError(f"{func}(): column {c!r} (given a kind) is not in reference_df.")
    missing_ref = [c for c in columns if c not in reference_df.columns]
    if missing_ref:
        raise ValueError(
            f"{func}(): column(s) {missing_ref} not found in reference_df; it has {list(reference_df.columns)}."
        )
    missing_cur = [c for c in columns if c not in current_df.columns]
    if missing_cur:
        raise ValueError(
            f"{func}(): column(s) {missing_cur} are in reference_df but not in {cur_name}; rename or drop them, "
            f"or pass columns=[...]. {cur_name} has {list(current_df.columns)}."
        )
    kinds = {}
    for c in columns:
        ref_s, cur_s = reference_df[c], current_df[c]
        if c in numerical:
            kind = "numerical"
        elif c in categorical:
            kind = "categorical"
        else:
            kind = _infer_kind(ref_s, cur_s)
            if kind is None:
                if explicit:
                    raise TypeError(
                        f"{func}(): column {c!r} has dtype {ref_s.dtype}, which is neither numerical nor "
                        "categorical; drop it or convert it."
                    )
                logger.debug("%s: skipping column %r of dtype %s", func, c, ref_s.dtype)
                continue
        num_r = pd.api.types.is_numeric_dtype(ref_s.dtype) and not isinstance(ref_s.dtype, pd.CategoricalDtype)
        num_c = pd.api.types.is_numeric_dtype(cur_s.dtype) and not isinstance(cur_s.dtype, pd.CategoricalDtype)
        if kind == "numerical":
            for s, name, ok in ((ref_s, "reference_df", num_r), (cur_s, cur_name, num_c)):
                if not ok:
                    raise TypeError(
                        f"{func}(): column {c!r} is numerical but has dtype {s.dtype} in {name}; convert it "
                        "with pd.to_numeric or list it in categorical=[...]."
                    )
        elif num_r != num_c and not (
            isinstance(ref_s.dtype, pd.CategoricalDtype) or isinstance(cur_s.dtype, pd.CategoricalDtype)
        ):
            raise TypeError(
                f"{func}(): column {c!r} has dtype {ref_s.dtype} in reference_df but {cur_s.dtype} in {cur_name}; "
                "categories would never match. Convert both to the same type."
            )
        kinds[c] = kind
    if not kinds:
        raise ValueError(f"{func}(): no numerical or categorical columns to compare.")
    return kinds


def _values(series: pd.Series, kind: str) -> np.ndarray:
    if isinstance(series.dtype, pd.CategoricalDtype):
        arr = series.astype(object).to_numpy()
        return arr
    if kind == "numerical" or pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy()
    return series.to_numpy(dtype=object)


def _auto_method(kind, ref, cur):
    n_values = len(pd.unique(np.concatenate((ref, cur)))) if kind == "numerical" else None
    if ref.size <= SMALL_REFERENCE_ROWS:
        if kind == "numerical":
            return "chi_square" if n_values <= 5 else "ks"
        return "chi_square"
    if kind == "numerical":
        return "js_distance" if n_values <= 5 else "wasserstein"
    return "js_distance"


def _check_method(name, kind, column, func):
    if name not in METHODS:
        raise ValueError(f"{func}(): unknown method {name!r} for column {column!r}; choose from {list(METHODS)}.")
    if kind not in METHODS[name].kinds:
        raise TypeError(
            f"{func}(): method {name!r} needs a numerical column but {column!r} is {kind}; "
            f"use one of {[m for m, i in METHODS.items() if kind in i.kinds]}."
        )


def drift_table(
    reference_df: pd.DataFrame,
    current_df: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    numerical: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    method: str | Mapping[str, str] = "auto",
    correction: str | None = None,
    alpha: float = 0.05,
    thresholds: Mapping[str, float | str] | None = None,
    drift_share: float = 0.5,
    ks_method: str = "auto",
    yates: bool = False,
) -> DriftTable:
    """Test every column of two DataFrames for drift.

    Parameters
    ----------
    reference_df, current_df : pandas.DataFrame
        Reference and current data; every compared column must be in both.
    columns : list of str, optional
        Columns to compare (default: all numerical/categorical columns of ``reference_df``;
        datetime columns are skipped).
    numerical, categorical : list of str, optional
        Force a column's kind. Otherwise inferred like Evidently: floats numerical, integers with
        ≤ 10 distinct values categorical, bool/category/strings categorical.
    method : "auto", a method name, or dict {column: method}, default "auto"
        "auto" follows Evidently's rule (module docstring); a dict overrides some columns.
    correction : {None, "bonferroni", "bh"}, default None
        Multiple-testing correction over the p-value rows (``p_adjusted``); None keeps p as is.
    alpha : float, default 0.05
        Significance level of the p-value methods.
    thresholds : dict {column: float or "null"}, optional
        Per-column threshold overrides (distance methods may use "null": :func:`null_threshold`
        with quantile 0.99, 1000 draws, seed 0).
    drift_share : float, default 0.5
        The dataset is drifted when at least this share of columns drifted.
    ks_method : {"auto", "exact", "asymp"}, default "auto"
        p-value method of the KS rows (see :func:`ks`); "asymp" is alibi-detect's.
    yates : bool, default False
        Yates' correction for two-category chi-square rows (see :func:`chi_square`); True is alibi's.

    Returns
    -------
    DriftTable

    Examples
    --------
    >>> import pandas as pd
    >>> ref = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4] * 5, "c": ["a", "b"] * 10})
    >>> cur = pd.DataFrame({"x": [0.5, 0.6, 0.7, 0.8] * 5, "c": ["a", "b"] * 10})
    >>> t = drift_table(ref, cur)
    >>> t.frame[["column", "kind", "method", "drifted"]].values.tolist()
    [['x', 'numerical', 'ks', True], ['c', 'categorical', 'chi_square', False]]
    >>> t.share_drifted, t.dataset_drifted
    (0.5, True)
    """
    func = "drift_table"
    _check_frames(reference_df, current_df, func)
    if correction not in (None, "bonferroni", "bh"):
        raise ValueError(f"{func}(): correction must be None, 'bonferroni' or 'bh'; got {correction!r}.")
    if not (0 < alpha < 1):
        raise ValueError(f"{func}(): alpha must be in (0, 1); got {alpha!r}.")
    if ks_method not in ("auto", "exact", "asymp"):
        raise ValueError(f"{func}(): ks_method must be 'auto', 'exact' or 'asymp'; got {ks_method!r}.")
    kinds = _resolve_columns(reference_df, current_df, columns, numerical, categorical, func)
    methods = dict(method) if isinstance(method, Mapping) else {}
    if not isinstance(method, Mapping) and not isinstance(method, str):
        raise TypeError(f"{func}(): method must be 'auto', a method name or a dict; got {type(method).__name__}.")
    unknown = [c for c in methods if c not in kinds]
    if unknown:
        raise ValueError(f"{func}(): method given for column(s) {unknown} that are not compared ({list(kinds)}).")
    thresholds = dict(thresholds or {})
    unknown = [c for c in thresholds if c not in kinds]
    if unknown:
        raise ValueError(f"{func}(): thresholds given for column(s) {unknown} that are not compared ({list(kinds)}).")

    rows = []
    for col, kind in kinds.items():
        what = f"column {col!r}: "
        if kind == "numerical":
            ref, d1 = core.clean_numeric(_values(reference_df[col], kind), f"reference_df[{col!r}]", func)
            cur, d2 = core.clean_numeric(_values(current_df[col], kind), f"current_df[{col!r}]", func)
        else:
            ref, d1 = core.clean_categorical(_values(reference_df[col], kind), f"reference_df[{col!r}]", func)
            cur, d2 = core.clean_categorical(_values(current_df[col], kind), f"current_df[{col!r}]", func)
            core.check_same_family(ref, cur, what, func)
            if core.is_numeric_array(ref):
                ref, cur = ref.astype(float), cur.astype(float)
        name = methods.get(col, method if isinstance(method, str) else "auto")
        if name == "auto":
            name = _auto_method(kind, ref, cur)
        _check_method(name, kind, col, func)
        info = METHODS[name]
        thr = thresholds.get(col, alpha if info.decision == "p_value" else info.default_threshold)
        thr = _check_threshold(thr, func, info.decision == "distance")
        stat, p = _one_column(name, kind, ref, cur, ks_method, bool(yates))
        if thr == "null":
            spec = core.resolve_bins("categories" if kind == "categorical" else "auto", ref, func)
            thr = _null_threshold(ref, cur.size, name, 0.99, 1000, 0, spec, 1e-4, None, True, func)
        p_value = np.nan if p is None else float(p)
        rows.append((col, kind, name, float(stat), p_value, float(thr), ref.size, cur.size, d1 + d2))
    names = ["column", "kind", "method", "statistic", "p_value", "threshold", "n_reference", "n_current", "n_dropped"]
    frame = pd.DataFrame(rows, columns=names)
    is_p = frame["method"].map(lambda m: METHODS[m].decision == "p_value").to_numpy(bool)
    p_adj = np.full(len(frame), np.nan)
    if correction is not None and is_p.any():
        p_adj[is_p] = adjust_p_values(frame["p_value"].to_numpy()[is_p], correction)
    elif is_p.any():
        p_adj[is_p] = frame["p_value"].to_numpy()[is_p]
    frame["p_adjusted"] = p_adj
    thr_values = frame["threshold"].to_numpy()
    drifted = np.where(is_p, p_adj < thr_values, frame["statistic"].to_numpy() >= thr_values)
    frame["drifted"] = drifted.astype(bool)
    frame = frame[TABLE_COLUMNS]
    return _table_from_rows(frame, drift_share=drift_share, correction=correction, alpha=alpha)


def _one_column(name, kind, ref, cur, ks_method="auto", yates=False):
    """(statistic, p_value or None) with each method's default options, on cleaned arrays."""
    if name == "ks":
        r = stats.ks_2samp(ref, cur, method=ks_method)
        return r.statistic, r.pvalue
    if name == "wasserstein":
        return stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), core.WASSERSTEIN_NORM_FLOOR), None
    if name == "chi_square":
        gc = core.group_counts(core.BinSpec("categories"), ref, cur, np.zeros(cur.size, np.int64), 1)
        s, p = core.chi2_from_counts(gc, yates)
        return s[0], p[0]
    spec = core.BinSpec("categories") if kind == "categorical" else core.resolve_bins("auto", ref, "drift_table")
    stat, _ = groups.group_statistics(ref, cur, np.zeros(cur.size, np.int64), 1, [name], spec=spec)[name]
    return stat[0], None


# ----------------------------------------------------------------------------------------------
# drift timeline
# ----------------------------------------------------------------------------------------------
DEFAULT_TIMELINE_METHODS = {
    "numerical": ("ks", "wasserstein", "psi", "js_distance"),
    "categorical": ("chi_square", "psi", "js_distance"),
}
TIMELINE_COLUMNS = [
    "window_start", "column", "method", "statistic", "p_value", "threshold", "drifted", "n", "n_dropped",
]


def _window_ids(stream_df, time_col, freq, func):
    if time_col is None:
        if not isinstance(stream_df.index, pd.DatetimeIndex):
            raise TypeError(
                f"{func}(): time_col=None needs a DatetimeIndex on stream_df; got {type(stream_df.index).__name__}."
            )
        t = pd.Series(stream_df.index, index=stream_df.index)
    else:
        if time_col not in stream_df.columns:
            raise ValueError(
                f"{func}(): time_col={time_col!r} is not a column of stream_df; it has {list(stream_df.columns)}. "
                "Pass time_col=... (labkit.data.load_hourly() adds 'timestamp'), or time_col=None to use "
                "a DatetimeIndex."
            )
        t = stream_df[time_col]
        if not pd.api.types.is_datetime64_any_dtype(t.dtype):
            raise TypeError(
                f"{func}(): column {time_col!r} must hold datetimes; got dtype {t.dtype}. "
                "Convert it with pd.to_datetime."
            )
    if t.isna().any():
        raise ValueError(
            f"{func}(): column {time_col!r} has {int(t.isna().sum())} missing timestamp(s); drop or fill them."
        )
    codes, uniques = pd.factorize(_window_starts(t, freq, func), sort=True)
    return codes.astype(np.int64), pd.DatetimeIndex(uniques)


def _window_starts(times: pd.Series, freq, func: str, argument: str = "freq") -> pd.Series:
    """Start of the window each time falls in: ``floor`` for fixed frequencies ("h", "D", "6h"),
    the period start for calendar ones ("W", "MS"). The one definition of a window in labkit
    (drift timelines, windowed metrics, analysis timelines and the replay's steps use it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas warns on some malformed strings
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"{func}(): {argument}={freq!r} is not a pandas frequency ({exc}); use e.g. 'D', 'W', 'h' or 'MS'."
            ) from None
    try:
        return times.dt.floor(offset)
    except (ValueError, TypeError):  # calendar frequencies (W, MS, ...) are not fixed: use periods
        try:
            return times.dt.to_period(offset).dt.start_time
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{func}(): {argument}={freq!r} cannot cut time windows: {exc}") from None


def drift_timeline(
    reference_df: pd.DataFrame,
    stream_df: pd.DataFrame,
    *,
    time_col: str | None = "timestamp",
    freq: str = "D",
    columns: Sequence[str] | None = None,
    numerical: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    methods: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    threshold: float | str | Mapping[str, float | str] | None = None,
    alpha: float = 0.05,
    ks_method: str = "auto",
    bins="auto",
    eps: float = 1e-4,
    base: float | None = None,
    yates: bool = False,
    null_quantile: float = 0.99,
    null_draws: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every time window of a stream against the reference, all windows in one vectorised pass.

    Per column the reference is cleaned and sorted once; the stream is sorted once by
    (window, value); ECDF values of every window come from ``np.searchsorted`` on the sorted
    reference, histograms from one ``np.bincount`` over window ids, Wasserstein distances from a
    prefix integral of the reference ECDF. KS statistics are bit-for-bit ``ks_2samp``'s. KS
    p-values follow ``ks_2samp``'s method choice ('auto': exact while both sizes ≤ 10,000); exact
    values come from a batched O(n³)-per-window recursion over all windows and columns at once
    (first exit from the band, see ``labkit._drift_core.ks_exact_sf``) that equals scipy's
    lattice-path result to ~1e-12 relative, also for tiny p-values; "asymp" is
    ``scipy.stats.kstwo`` like ``ks_2samp`` (and slower here). No Python loop runs over windows.
    Each row equals what the univariate function returns for that window.

    Parameters
    ----------
    reference_df, stream_df : pandas.DataFrame
        Reference data and the stream to cut into windows.
    time_col : str or None, default "timestamp"
        Datetime column of ``stream_df`` (None: use its DatetimeIndex).
    freq : str, default "D"
        Window length as a pandas frequency ("D", "W", "h", "MS", ...); windows start at
        ``floor(time, freq)`` (or the period start for calendar frequencies). Windows without
        rows are absent.
    columns, numerical, categorical
        As in :func:`drift_table` (default: every numerical/categorical column of the reference
        except ``time_col``).
    methods : list of str or dict {column: list}, optional
        Default: ks, wasserstein, psi, js_distance for numerical columns and chi_square, psi,
        js_distance for categorical ones. A list applies each method to the columns it suits.
    threshold : float, "null" or dict {method: float or "null"}, optional
        Threshold of the distance methods (default: each method's default, 0.1). "null" computes
        one threshold per (column, method, window size) with :func:`null_threshold`
        (``null_quantile``, ``null_draws``, ``seed``). p-value methods always use ``alpha``.
    alpha : float, default 0.05
        Significance level of ks and chi_square.
    ks_method, bins, eps, base, yates
        Options of :func:`ks` (method), :func:`psi` (bins, eps), :func:`js_distance` (base) and
        :func:`chi_square` (yates). Categorical columns are always binned by category.

    Returns
    -------
    pandas.DataFrame
        Tidy: window_start, column, method, statistic, p_value (NaN for distances), threshold,
        drifted, n (rows used), n_dropped (missing values in the window). A window whose values
        are all missing for a column gets NaN statistic and drifted False.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=500)})
    >>> t = pd.date_range("2024-01-01", periods=72, freq="h")
    >>> stream = pd.DataFrame({"timestamp": t, "x": rng.normal(size=72) + np.repeat([0, 0, 2], 24)})
    >>> tl = drift_timeline(ref, stream, methods=["ks"])
    >>> tl[["window_start", "drifted", "n"]].astype(str).values.tolist()
    [['2024-01-01', 'False', '24'], ['2024-01-02', 'False', '24'], ['2024-01-03', 'True', '24']]
    """
    func = "drift_timeline"
    _check_frames(reference_df, stream_df, func, ("reference_df", "stream_df"))
    if not (0 < alpha < 1):
        raise ValueError(f"{func}(): alpha must be in (0, 1); got {alpha!r}.")
    if ks_method not in ("auto", "exact", "asymp"):
        raise ValueError(f"{func}(): ks_method must be 'auto', 'exact' or 'asymp'; got {ks_method!r}.")
    eps = _check_eps(eps, func)
    if len(stream_df) == 0:
        raise ValueError(f"{func}(): stream_df has no rows; there is nothing to cut into windows.")
    wid, starts = _window_ids(stream_df, time_col, freq, func)
    n_windows = len(starts)
    kinds = _resolve_columns(
        reference_df, stream_df, columns, numerical, categorical, func, cur_name="stream_df", skip=(time_col,)
    )
    per_column = _timeline_methods(methods, kinds, func)
    thr_for = _timeline_thresholds(threshold, func)

    parts = {k: [] for k in ("stat", "p", "thr", "drifted", "col", "method", "n", "drop")}
    col_order = {c: i for i, c in enumerate(kinds)}
    ks_pending = []
    for col, kind in kinds.items():
        mlist = per_column[col]
        raw = _values(stream_df[col], kind)
        if kind == "numerical":
            ref, _ = core.clean_numeric(_values(reference_df[col], kind), f"reference_df[{col!r}]", func)
            vals = np.asarray(raw, dtype=float)
            keep = np.isfinite(vals)
        else:
            ref, _ = core.clean_categorical(_values(reference_df[col], kind), f"reference_df[{col!r}]", func)
            vals = raw
            keep = np.isfinite(vals) if vals.dtype.kind == "f" else ~pd.isna(vals)
            core.check_same_family(ref, vals[keep], f"column {col!r}: ", func)
            if core.is_numeric_array(ref):
                ref = ref.astype(float)
                vals = vals.astype(float)
        x = vals[keep]
        g_all = wid[keep]
        n_w = np.bincount(g_all, minlength=n_windows)
        n_drop = np.bincount(wid[~keep], minlength=n_windows)
        nonempty = np.flatnonzero(n_w)
        remap = np.full(n_windows, -1)
        remap[nonempty] = np.arange(nonempty.size)
        g = remap[g_all]
        ref_sorted = np.sort(ref) if kind == "numerical" else None
        spec = core.BinSpec("categories") if kind == "categorical" else core.resolve_bins(bins, ref, func, ref_sorted)
        if nonempty.size:
            res = groups.group_statistics(
                ref, x, g, nonempty.size, mlist, spec=spec, ref_sorted=ref_sorted, ks_method=ks_method,
                eps=eps, base=base, yates=yates, defer_ks_p=True,
            )
        else:
            res = {m: (np.empty(0), np.empty(0)) for m in mlist}
        for m in mlist:
            stat = np.full(n_windows, np.nan)
            pval = np.full(n_windows, np.nan)
            stat[nonempty], pval[nonempty] = res[m]
            thr = np.full(n_windows, np.nan)
            if m == "ks":  # p-values of all columns are computed together below
                thr[:] = alpha
                ks_pending.append((len(parts["stat"]), nonempty, ref.size, n_w[nonempty]))
                drifted = np.zeros(n_windows, bool)
            elif METHODS[m].decision == "p_value":
                thr[:] = alpha
                drifted = pval < alpha
            else:
                t = thr_for(m)
                if t == "null":
                    thr[nonempty] = _timeline_null(ref, n_w[nonempty], m, col, spec, eps, base,
                                                   null_quantile, null_draws, seed, func)
                else:
                    thr[:] = t
                drifted = stat >= thr
            parts["stat"].append(stat)
            parts["p"].append(pval)
            parts["thr"].append(thr)
            parts["drifted"].append(drifted & ~np.isnan(stat))
            parts["col"].append(np.full(n_windows, col_order[col]))
            parts["method"].append(np.full(n_windows, _METHOD_ORDER[m]))
            parts["n"].append(n_w)
            parts["drop"].append(n_drop)
    if ks_pending:
        d_all = np.concatenate([parts["stat"][slot][ne] for slot, ne, _, _ in ks_pending])
        n1_all = np.concatenate([np.full(ne.size, n1) for _, ne, n1, _ in ks_pending])
        n2_all = np.concatenate([n2 for _, _, _, n2 in ks_pending])
        d_all, p_all = core.ks_pvalues(d_all, n1_all, n2_all, ks_method)
        pos = 0
        for slot, ne, _, _ in ks_pending:
            k = ne.size
            parts["stat"][slot][ne] = d_all[pos : pos + k]
            parts["p"][slot][ne] = p_all[pos : pos + k]
            parts["drifted"][slot][ne] = p_all[pos : pos + k] < alpha
            pos += k
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    win = np.tile(np.arange(n_windows), len(parts["stat"]))
    order = np.lexsort((cat["method"], cat["col"], win))
    col_names = np.array(list(kinds), dtype=object)
    method_names = np.array(list(METHODS), dtype=object)
    return pd.DataFrame(
        {
            "window_start": starts[win[order]],
            "column": col_names[cat["col"][order]],
            "method": method_names[cat["method"][order]],
            "statistic": cat["stat"][order],
            "p_value": cat["p"][order],
            "threshold": cat["thr"][order],
            "drifted": cat["drifted"][order],
            "n": cat["n"][order],
            "n_dropped": cat["drop"][order],
        }
    )


_METHOD_ORDER = {m: i for i, m in enumerate(METHODS)}


def _timeline_null(ref, sizes_per_window, method, col, spec, eps, base, quantile, n_draws, seed, func):
    sizes = np.unique(sizes_per_window)
    too_big = sizes[sizes >= ref.size]
    if too_big.size:
        raise ValueError(
            f"{func}(): threshold='null' needs windows smaller than the reference ({ref.size} rows) but column "
            f"{col!r} has windows of {too_big.tolist()} rows; use a shorter freq or a numeric threshold."
        )
    values = _null_thresholds(ref, sizes.tolist(), method, quantile, n_draws, seed, spec, eps, base, True, func)
    return values[np.searchsorted(sizes, sizes_per_window)]


def _timeline_methods(methods, kinds, func):
    if methods is None:
        return {c: list(DEFAULT_TIMELINE_METHODS[k]) for c, k in kinds.items()}
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        unknown = [c for c in methods if c not in kinds]
        if unknown:
            raise ValueError(f"{func}(): methods given for column(s) {unknown} that are not compared ({list(kinds)}).")
        out = {}
        for c, k in kinds.items():
            ms = methods.get(c, DEFAULT_TIMELINE_METHODS[k])
            ms = [ms] if isinstance(ms, str) else list(ms)
            for m in ms:
                _check_method(m, k, c, func)
            out[c] = ms
        return out
    methods = list(methods)
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"{func}(): unknown method {m!r}; choose from {list(METHODS)}.")
    out = {c: [m for m in methods if k in METHODS[m].kinds] for c, k in kinds.items()}
    for m in methods:
        if not any(m in ms for ms in out.values()):
            raise ValueError(f"{func}(): method {m!r} applies to none of the columns {dict(kinds)}.")
    return out


def _timeline_thresholds(threshold, func):
    if threshold is None:
        return lambda m: METHODS[m].default_threshold
    if isinstance(threshold, Mapping):
        checked = {m: _check_threshold(v, func, True) for m, v in threshold.items()}
        unknown = [m for m in checked if m not in METHODS]
        if unknown:
            raise ValueError(f"{func}(): threshold given for unknown method(s) {unknown}.")
        return lambda m: checked.get(m, METHODS[m].default_threshold)
    value = _check_threshold(threshold, func, True)
    return lambda m: value


# ----------------------------------------------------------------------------------------------
# multivariate tests and adapters live in private modules; re-exported here
# ----------------------------------------------------------------------------------------------
from labkit._drift_multivariate import domain_classifier, mmd  # noqa: E402
from labkit._drift_adapters import from_alibi, from_evidently  # noqa: E402
