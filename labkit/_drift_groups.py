"""Private: every statistic for many groups of one column in one vectorised pass.

Used by ``drift_timeline`` (groups = time windows of a stream) and ``null_threshold`` (groups = random
subsets of the reference, compared with the rest of the reference). The univariate functions in
:mod:`labkit.drift` call the same kernels with a single group.
"""
from __future__ import annotations

import numpy as np

from labkit import _drift_core as core

#: Methods whose p-value decides (drifted when p < threshold); the others are distances.
P_VALUE_METHODS = ("ks", "chi_square")
BINNED_METHODS = ("psi", "kl_divergence", "js_distance")
ECDF_METHODS = ("ks", "wasserstein")


def group_statistics(
    ref: np.ndarray,
    x: np.ndarray,
    gid: np.ndarray,
    n_groups: int,
    methods,
    *,
    spec: core.BinSpec,
    ref_sorted: np.ndarray | None = None,
    ks_method: str = "auto",
    eps: float = 1e-4,
    base: float | None = None,
    yates: bool = False,
    normalize: bool = True,
    null_complement: bool = False,
    defer_ks_p: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{method: (statistic, p_value)}`` arrays of length ``n_groups``; every group must be non-empty.

    ``ref`` is the cleaned reference (float for ECDF methods), ``x``/``gid`` the cleaned group values
    and their group ids. With ``null_complement`` each group is a subset of ``ref`` whose
    pseudo-reference is the rest of ``ref``. With ``defer_ks_p`` the KS entry holds the raw
    statistic and NaN p-values (see ``_drift_core.ks_pvalues``).
    """
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    nan = np.full(n_groups, np.nan)
    N = ref.size
    ecdf = [m for m in methods if m in ECDF_METHODS]
    if ecdf:
        rs = ref_sorted if ref_sorted is not None else np.sort(ref)
        sg = core.sort_groups(rs, x, gid, n_groups)
        n = sg.n
        scale = N / (N - n) if null_complement else 1.0  # F_rest − F_sub = N/(N−M)·(F_ref − F_sub)
        if "ks" in methods:
            d = core.ks_statistic(sg, N) * scale
            if null_complement or defer_ks_p:  # deferred: the caller batches p-values over columns
                out["ks"] = (d, nan)
            else:
                d, p = core.ks_pvalues(d, N, n, ks_method)
                out["ks"] = (d, p)
        if "wasserstein" in methods:
            w = core.wasserstein_raw(sg, rs) * scale
            if normalize:
                if null_complement:
                    mu = ref.mean()
                    dev = sg.xs - mu
                    s1 = np.bincount(sg.gs, weights=dev, minlength=n_groups)
                    s2 = np.bincount(sg.gs, weights=dev * dev, minlength=n_groups)
                    tot1 = (ref - mu).sum()
                    tot2 = ((ref - mu) ** 2).sum()
                    m_rest = (tot1 - s1) / (N - n)
                    var = np.maximum((tot2 - s2) / (N - n) - m_rest**2, 0.0)
                    sd = np.sqrt(var)
                else:
                    sd = np.std(ref)
                w = w / np.maximum(sd, core.WASSERSTEIN_NORM_FLOOR)
            out["wasserstein"] = (w, nan)
    binned = [m for m in methods if m in BINNED_METHODS]
    gc_cat = None
    if binned:
        min_max = (sg.xs[sg.starts], sg.xs[sg.starts + sg.n - 1]) if ecdf else None
        gc = core.group_counts(
            spec, ref, x, gid, n_groups, ref_sorted=ref_sorted, null_complement=null_complement, group_min_max=min_max
        )
        if spec.mode == "categories":
            gc_cat = gc
        if "psi" in methods:
            out["psi"] = (core.psi_from_counts(gc, eps), nan)
        if "kl_divergence" in methods:
            out["kl_divergence"] = (core.kl_from_counts(gc, eps), nan)
        if "js_distance" in methods:
            out["js_distance"] = (core.js_from_counts(gc, base), nan)
    if "chi_square" in methods:
        if null_complement:
            raise ValueError("null thresholds are for distances; chi_square already has a p-value.")
        if gc_cat is None:
            gc_cat = core.group_counts(core.BinSpec("categories"), ref, x, gid, n_groups)
        out["chi_square"] = core.chi2_from_counts(gc_cat, yates)
    return out


def draw_null_subsets(n_ref: int, size: int, n_draws: int, seed: int) -> np.ndarray:
    """``(n_draws, size)`` row indices, each row a uniform random subset of ``range(n_ref)``.

    Seeded by ``(seed, size)`` so a window size always gets the same draws, whichever other sizes
    are asked for at the same time.
    """
    rng = np.random.default_rng([int(seed), int(size)])
    if size * 4 <= n_ref:
        idx = rng.integers(0, n_ref, size=(n_draws, size))
        srt = np.sort(idx, axis=1)
        dup_rows = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1)) if size > 1 else np.array([], int)
        for row in dup_rows:  # rare when size << n_ref
            idx[row] = rng.choice(n_ref, size=size, replace=False)
        return idx
    keys = rng.random((n_draws, n_ref))
    return np.argpartition(keys, size - 1, axis=1)[:, :size]


def null_statistics(
    ref: np.ndarray,
    sizes,
    method: str,
    *,
    n_draws: int,
    seed: int,
    spec: core.BinSpec,
    eps: float = 1e-4,
    base: float | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """``(len(sizes), n_draws)`` statistics of ``method`` under no shift.

    Draw ``size`` rows of the reference without replacement, compare them with the remaining
    ``len(ref) - size`` rows; repeat ``n_draws`` times, all draws of all sizes in one grouped pass.
    """
    sizes = [int(s) for s in sizes]
    ref_sorted = np.sort(ref) if ref.dtype.kind in "biuf" else None
    idx = np.concatenate([draw_null_subsets(ref.size, s, n_draws, seed).ravel() for s in sizes])
    gid = np.concatenate([np.repeat(np.arange(n_draws) + k * n_draws, s) for k, s in enumerate(sizes)])
    res = group_statistics(
        ref,
        ref[idx],
        gid,
        n_draws * len(sizes),
        [method],
        spec=spec,
        ref_sorted=ref_sorted,
        eps=eps,
        base=base,
        normalize=normalize,
        null_complement=True,
    )
    return res[method][0].reshape(len(sizes), n_draws)
