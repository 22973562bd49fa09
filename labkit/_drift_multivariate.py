"""Private: multivariate drift tests behind :func:`labkit.drift.mmd` and :func:`labkit.drift.domain_classifier`."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import pdist

logger = logging.getLogger(__name__)


def _as_matrix(reference, current, func, *, encode_categories: bool):
    """Two float matrices with the same columns, rows with NaN/inf dropped; plus the number dropped."""
    frames = []
    for obj, name in ((reference, "reference"), (current, "current")):
        if isinstance(obj, pd.Series):
            obj = obj.to_frame()
        if isinstance(obj, pd.DataFrame):
            frames.append(obj)
            continue
        try:
            arr = np.asarray(obj)
        except ValueError as exc:
            raise TypeError(f"{func}(): {name} could not be read as a 2-D array: {exc}") from None
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"{func}(): {name} must be 2-D (rows × features); got shape {arr.shape}.")
        frames.append(pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])]))
    ref_df, cur_df = frames
    if list(ref_df.columns) != list(cur_df.columns):
        missing = [c for c in ref_df.columns if c not in cur_df.columns]
        extra = [c for c in cur_df.columns if c not in ref_df.columns]
        if missing or extra:
            raise ValueError(
                f"{func}(): reference and current must have the same columns; missing in current: {missing}, "
                f"not in reference: {extra}."
            )
        cur_df = cur_df[list(ref_df.columns)]
    ref_cols, cur_cols = [], []
    for c in ref_df.columns:
        r, k = ref_df[c], cur_df[c]
        numeric = (
            pd.api.types.is_numeric_dtype(r.dtype)
            and pd.api.types.is_numeric_dtype(k.dtype)
            and not isinstance(r.dtype, pd.CategoricalDtype)
            and not isinstance(k.dtype, pd.CategoricalDtype)
        )
        if numeric:
            ref_cols.append(r.to_numpy(dtype=float))
            cur_cols.append(k.to_numpy(dtype=float))
        elif encode_categories:
            both = pd.concat([r.astype(object), k.astype(object)], ignore_index=True)
            codes, _ = pd.factorize(both)
            codes = np.where(codes < 0, np.nan, codes).astype(float)
            ref_cols.append(codes[: len(r)])
            cur_cols.append(codes[len(r) :])
        else:
            raise TypeError(
                f"{func}(): column {c!r} must be numeric (got dtypes {r.dtype} / {k.dtype}); one-hot encode it "
                "or drop it."
            )
    X = np.column_stack(ref_cols) if ref_cols else np.empty((len(ref_df), 0))
    Y = np.column_stack(cur_cols) if cur_cols else np.empty((len(cur_df), 0))
    if X.shape[1] == 0:
        raise ValueError(f"{func}(): no feature columns to compare.")
    keep_x = np.isfinite(X).all(axis=1)
    keep_y = np.isfinite(Y).all(axis=1)
    dropped = int((~keep_x).sum() + (~keep_y).sum())
    X, Y = X[keep_x], Y[keep_y]
    for arr, name in ((X, "reference"), (Y, "current")):
        if len(arr) < 2:
            raise ValueError(
                f"{func}(): {name} has {len(arr)} complete row(s) after dropping rows with NaN/inf; need at least 2."
            )
    return X, Y, dropped, list(ref_df.columns)


def _subsample(arr, max_samples, rng):
    if max_samples is not None and len(arr) > max_samples:
        return arr[np.sort(rng.choice(len(arr), size=max_samples, replace=False))]
    return arr


def mmd(
    reference,
    current,
    *,
    n_permutations: int = 200,
    seed: int = 0,
    threshold: float = 0.05,
    max_samples: int | None = 1000,
):
    """Maximum mean discrepancy two-sample test with an RBF kernel and a permutation p-value.

    Steps: drop rows with NaN/inf (counted); if a sample has more than ``max_samples`` rows, use a
    seeded random subset of that size (the kernel matrix is (n+m)²); standardise every feature with
    the reference mean and standard deviation (features with zero spread are only centred), so no
    feature dominates by its units; RBF kernel k(x, y) = exp(−‖x − y‖² / (2σ²)) with σ the median
    pairwise distance of the pooled sample (median heuristic); statistic = biased (V-statistic)
    estimate of MMD²; p-value = (1 + #{permutations with MMD² ≥ observed}) / (1 + n_permutations)
    over seeded random relabellings of the pooled rows.

    Parameters
    ----------
    reference, current : DataFrame or 2-D array-like
        Same columns; numeric only.
    n_permutations : int, default 200
    seed : int, default 0
    threshold : float, default 0.05
        Drifted when ``p_value < threshold``.
    max_samples : int or None, default 1000
        Per-sample cap (None: no cap).

    Returns
    -------
    DriftResult
        ``method="mmd"``, ``statistic`` = MMD² (≥ 0, higher = more drift); ``n_reference`` and
        ``n_current`` are the rows actually used.

    Examples
    --------
    >>> import numpy as np
    >>> from labkit.drift import mmd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(150, 3))
    >>> mmd(x, rng.normal(size=(150, 3))).drifted, mmd(x, rng.normal(size=(150, 3)) + 1).drifted
    (False, True)
    """
    from labkit.drift import _check_threshold, _result

    func = "mmd"
    threshold = _check_threshold(threshold, func, False)
    if not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise ValueError(f"{func}(): n_permutations must be a positive int; got {n_permutations!r}.")
    X, Y, dropped, _ = _as_matrix(reference, current, func, encode_categories=False)
    rng = np.random.default_rng(seed)
    X = _subsample(X, max_samples, rng)
    Y = _subsample(Y, max_samples, rng)
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (np.vstack((X, Y)) - mu) / sd
    n, m = len(X), len(Y)
    d = pdist(Z, "sqeuclidean")
    pos = d[d > 0]
    sigma2 = float(np.median(pos)) if pos.size else 1.0  # median of squared = (median distance)²
    from scipy.spatial.distance import squareform

    K = np.exp(-squareform(d) / (2.0 * sigma2))
    np.fill_diagonal(K, 1.0)
    w = np.concatenate((np.full(n, 1.0 / n), np.full(m, -1.0 / m)))
    observed = float(w @ K @ w)
    perms = np.stack([rng.permutation(n + m) for _ in range(int(n_permutations))])
    W = w[perms]  # each row: the weights relabelled
    null = np.einsum("pi,pi->p", W @ K, W)
    p_value = (1.0 + np.count_nonzero(null >= observed - 1e-12)) / (1.0 + n_permutations)
    return _result("mmd", max(observed, 0.0), p_value, threshold, n, m, dropped)


def domain_classifier(
    reference,
    current,
    *,
    seed: int = 0,
    cv: int = 5,
    threshold: float = 0.05,
    max_samples: int | None = 5000,
    classifier=None,
):
    """Domain-classifier test: can a model tell current rows from reference rows?

    A classifier (default: scikit-learn's ``HistGradientBoostingClassifier(max_iter=100,
    random_state=seed)``) is trained to predict "row comes from current" with ``cv``-fold
    stratified, shuffled (seeded) cross-validation; every row gets an out-of-fold probability.
    ``statistic`` is the ROC AUC of those probabilities (0.5 = indistinguishable, 1 = perfectly
    separable). The p-value is the one-sided Mann–Whitney U test that current rows score higher
    than reference rows (AUC = U / (n·m)); it treats the out-of-fold scores as independent, which
    is approximately true. Rows with NaN/inf are dropped (counted); non-numeric columns are
    ordinal-encoded; samples over ``max_samples`` rows are subsampled (seeded).

    Parameters
    ----------
    reference, current : DataFrame or 2-D array-like
    seed : int, default 0
    cv : int, default 5
        Number of folds (≥ 2).
    threshold : float, default 0.05
        Drifted when ``p_value < threshold``.
    max_samples : int or None, default 5000
    classifier : scikit-learn classifier, optional
        Any estimator with ``predict_proba``; it is cloned for every fold.

    Returns
    -------
    DriftResult
        ``method="domain_classifier"``, ``statistic`` = AUC.

    Examples
    --------
    >>> import numpy as np
    >>> from labkit.drift import domain_classifier
    >>> rng = np.random.default_rng(0)
    >>> r = domain_classifier(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + [2, 0])
    >>> r.statistic > 0.8, r.drifted
    (True, True)
    """
    from sklearn.base import clone
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from labkit.drift import _check_threshold, _result

    func = "domain_classifier"
    threshold = _check_threshold(threshold, func, False)
    if not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ValueError(f"{func}(): cv must be an int >= 2; got {cv!r}.")
    X, Y, dropped, _ = _as_matrix(reference, current, func, encode_categories=True)
    rng = np.random.default_rng(seed)
    X = _subsample(X, max_samples, rng)
    Y = _subsample(Y, max_samples, rng)
    if min(len(X), len(Y)) < cv:
        raise ValueError(f"{func}(): each sample needs at least cv={cv} complete rows; got {len(X)} and {len(Y)}.")
    data = np.vstack((X, Y))
    label = np.concatenate((np.zeros(len(X), int), np.ones(len(Y), int)))
    model = classifier if classifier is not None else HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    scores = np.empty(len(label))
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    for train, test in folds.split(data, label):
        est = clone(model).fit(data[train], label[train])
        scores[test] = est.predict_proba(data[test])[:, 1]
    auc = float(roc_auc_score(label, scores))
    p_value = float(stats.mannwhitneyu(scores[label == 1], scores[label == 0], alternative="greater").pvalue)
    logger.debug("domain classifier AUC %.4f p %.3g", auc, p_value)
    return _result("domain_classifier", auc, p_value, threshold, len(X), len(Y), dropped)
