"""The batched engine behind :func:`labkit.drift.drift_timeline` and :func:`labkit.drift.null_threshold` (private).

The readable statistics in :mod:`labkit.drift` compare one current sample with the reference. The
engine computes the same numbers for many *groups* at once: the time windows of a stream, or the
random no-shift draws of a null threshold. ``tests/test_drift_engine.py`` proves both give the same
numbers (1e-12). Why it is fast, and how the exact KS p-values are batched: ``docs/drift.md``.

Conventions: ``ref`` is the cleaned reference, ``x`` the cleaned values of all groups concatenated,
``gid`` the group id (0..G-1) of each value. ``bins`` is "categories", "sturges" or an int (edges
over reference + group, as ``np.histogram_bin_edges``) or an array of fixed edges (outer bins open).
"""
from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import as_strided
from scipy import special, stats

logger = logging.getLogger(__name__)

#: Evidently's normed Wasserstein divides by max(std(reference), this floor).
WASSERSTEIN_NORM_FLOOR = 0.001
#: scipy's ks_2samp switches 'auto' from exact to asymptotic above this sample size.
KS_MAX_AUTO_N = 10000
ECDF_METHODS = ("ks", "wasserstein")
BINNED_METHODS = ("psi", "kl_divergence", "js_distance")


# ---- binned counts per group ---------------------------------------------------------------------
def sturges_edges(lo: float, hi: float, size: int) -> np.ndarray:
    """``np.histogram_bin_edges(a, "sturges")`` for data with min ``lo``, max ``hi`` and ``size`` values."""
    width = (hi - lo) / (np.log2(size) + 1.0)
    n_bins = int(np.ceil((hi - lo) / width)) if width else 1
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def counts_in_edges(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin exactly as ``np.histogram(values, edges)`` (last bin closed), from sorted values."""
    return np.diff(np.concatenate((np.searchsorted(sorted_values, edges[:-1], "left"),
                                   np.searchsorted(sorted_values, edges[-1:], "right"))))


class GroupCounts(NamedTuple):
    """Per-group histograms: ``ref`` and ``cur`` are (G, K) counts, ``valid`` marks bins that count."""
    ref: np.ndarray
    cur: np.ndarray
    valid: np.ndarray
    n_ref: np.ndarray  # (G,)
    n_cur: np.ndarray  # (G,)


def group_counts(bins, ref, x, gid, n_groups, *, ref_sorted=None, null_complement=False,
                 group_min_max=None) -> GroupCounts:
    """Histograms of the reference and of every group, binned the way ``bins`` says.

    With ``null_complement`` each group is a subset of the reference and the group's pseudo-reference
    is the rest of the reference (used by null_threshold): reference counts become (all − group).
    """
    n_cur = np.bincount(gid, minlength=n_groups).astype(np.int64)
    N = ref.size
    if isinstance(bins, str) and bins == "categories":
        both = np.concatenate((ref, x))
        if both.dtype.kind == "f":
            both = both + 0.0  # one key for 0.0 and -0.0, as np.unique / value_counts
        codes, uniques = pd.factorize(both, sort=False)  # hashing: no sort needed
        k = len(uniques)
        cc = np.bincount(gid * k + codes[N:], minlength=n_groups * k).reshape(n_groups, k)
        rcm = np.broadcast_to(np.bincount(codes[:N], minlength=k), (n_groups, k))
        rcm = rcm - cc if null_complement else rcm
        return _finish(rcm, cc, (rcm > 0) | (cc > 0), N, n_cur, null_complement)

    rs = ref_sorted if ref_sorted is not None else np.sort(ref)
    if np.ndim(bins) == 1:  # fixed edges: values beyond the outer edges fall into the outer bins
        inner = np.asarray(bins, float)[1:-1]
        k = inner.size + 1
        cc = np.bincount(gid * k + np.searchsorted(inner, x, "right"), minlength=n_groups * k).reshape(n_groups, k)
        rcm = np.broadcast_to(np.bincount(np.searchsorted(inner, rs, "right"), minlength=k), (n_groups, k))
        rcm = rcm - cc if null_complement else rcm
        return _finish(rcm, cc, np.ones((n_groups, k), bool), N, n_cur, null_complement)

    # "sturges" or an int: edges over reference + group, different for every group in principle
    count = not isinstance(bins, str)
    if null_complement:
        lo, hi, size = np.full(n_groups, rs[0]), np.full(n_groups, rs[-1]), np.full(n_groups, N)
    else:
        if group_min_max is not None:
            gmin, gmax = group_min_max
        elif np.all(gid[1:] >= gid[:-1]):  # grouped already (a time-sorted stream)
            seg = np.concatenate(([0], np.flatnonzero(np.diff(gid)) + 1))
            gmin, gmax = np.minimum.reduceat(x, seg), np.maximum.reduceat(x, seg)
        else:
            gmin, gmax = np.full(n_groups, np.inf), np.full(n_groups, -np.inf)
            np.minimum.at(gmin, gid, x)
            np.maximum.at(gmax, gid, x)
        lo, hi, size = np.minimum(gmin, rs[0]), np.maximum(gmax, rs[-1]), N + n_cur
    third = np.full(n_groups, bins, dtype=np.int64) if count else np.asarray(size, np.int64)
    # distinct (lo, hi, size-or-count) edge sets, via small per-component codes (no row-wise unique)
    u_lo, c_lo = np.unique(lo, return_inverse=True)
    u_hi, c_hi = np.unique(hi, return_inverse=True)
    u_3, c_3 = np.unique(third, return_inverse=True)
    packed = (c_lo.astype(np.int64) * u_hi.size + c_hi) * u_3.size + c_3
    _, first, inv = np.unique(packed, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    # one edge set per distinct (lo, hi, size or count), not per group
    edge_sets = [np.histogram_bin_edges([lo[f], hi[f]], int(third[f])) if count
                 else sturges_edges(lo[f], hi[f], int(third[f])) for f in first]
    n_bins = np.array([e.size - 1 for e in edge_sets], np.int64)
    k_max = int(n_bins.max())
    rc = np.zeros((len(edge_sets), k_max), np.int64)
    for j, e in enumerate(edge_sets):
        rc[j, : e.size - 1] = counts_in_edges(rs, e)
    # bin every group value with its group's edges: numpy's uniform-bin arithmetic, then the same
    # ±1 corrections np.histogram applies, so the result equals searchsorted(edges, x, "right") - 1
    flat = np.concatenate(edge_sets)
    offs = np.concatenate(([0], np.cumsum(n_bins + 1)[:-1]))
    x_set = inv[gid]
    first_e = flat[offs][x_set]
    last_e = flat[offs + n_bins][x_set]
    nb = n_bins[x_set]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        position = (x - first_e) * (nb / (last_e - first_e))
    odd = ~np.isfinite(position)           # extreme ranges (e.g. near 1e308) overflow the arithmetic
    position[odd] = 0
    c_idx = position.astype(np.int64)
    np.clip(c_idx, 0, nb - 1, out=c_idx)
    base_e = offs[x_set]
    c_idx -= x < flat[base_e + c_idx]
    c_idx += (x >= flat[base_e + c_idx + 1]) & (c_idx != nb - 1)
    for i in np.flatnonzero(odd):          # rare: bin those few exactly, as np.histogram would
        edges = edge_sets[x_set[i]]
        c_idx[i] = min(max(np.searchsorted(edges, x[i], side="right") - 1, 0), edges.size - 2)
    cc = np.bincount(gid * k_max + c_idx, minlength=n_groups * k_max).reshape(n_groups, k_max)
    rcm = rc[inv]
    if null_complement:
        rcm = rcm - cc
    valid = np.arange(k_max)[None, :] < n_bins[inv][:, None]
    return _finish(rcm, cc, valid, N, n_cur, null_complement)


def _finish(rcm, cc, valid, N, n_cur, null_complement) -> GroupCounts:
    n_ref = (N - n_cur) if null_complement else np.full(n_cur.shape, N, dtype=np.int64)
    return GroupCounts(np.asarray(rcm), cc, valid, n_ref, n_cur)


# ---- statistics from grouped counts --------------------------------------------------------------
def _fill_empty(shares: np.ndarray, valid: np.ndarray, eps: float) -> np.ndarray:
    """Evidently's empty-bin rule, row by row: zeros become ``eps``, or min_nonzero/1e6 if that is ≤ eps."""
    nz = np.where(valid & (shares > 0), shares, np.inf)
    mn = nz.min(axis=1, keepdims=True)
    fill = np.where(mn <= eps, mn / 10**6, eps)
    return np.where(valid & (shares == 0), fill, shares)


def _shares(gc: GroupCounts):
    with np.errstate(invalid="ignore", divide="ignore"):
        r = gc.ref / gc.n_ref[:, None]
        c = gc.cur / gc.n_cur[:, None]
    return r, c


def psi_from_counts(gc: GroupCounts, eps: float) -> np.ndarray:
    r, c = _shares(gc)
    r = _fill_empty(r, gc.valid, eps)
    c = _fill_empty(c, gc.valid, eps)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(gc.valid, (r - c) * np.log(np.where(gc.valid, r / c, 1.0)), 0.0)
    return terms.sum(axis=1)


def kl_from_counts(gc: GroupCounts, eps: float) -> np.ndarray:
    r, c = _shares(gc)
    r = np.where(gc.valid, _fill_empty(r, gc.valid, eps), 0.0)
    c = np.where(gc.valid, _fill_empty(c, gc.valid, eps), 0.0)
    p = r / r.sum(axis=1, keepdims=True)
    q = c / c.sum(axis=1, keepdims=True)
    return np.where(gc.valid, special.rel_entr(p, np.where(gc.valid, q, 1.0)), 0.0).sum(axis=1)


def js_from_counts(gc: GroupCounts, base: float | None) -> np.ndarray:
    r, c = _shares(gc)
    r = np.where(gc.valid, r, 0.0)
    c = np.where(gc.valid, c, 0.0)
    p = r / r.sum(axis=1, keepdims=True)
    q = c / c.sum(axis=1, keepdims=True)
    m = (p + q) / 2.0
    js = special.rel_entr(p, m).sum(axis=1) + special.rel_entr(q, m).sum(axis=1)
    if base is not None:
        js /= np.log(base)
    return np.sqrt(np.maximum(js, 0.0) / 2.0)


def chi2_from_counts(gc: GroupCounts, yates: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pearson chi-square test of homogeneity per group: ``chi2_contingency(table, correction=yates)``."""
    present = gc.valid & ((gc.ref > 0) | (gc.cur > 0))
    o1 = np.where(present, gc.ref, 0).astype(float)
    o2 = np.where(present, gc.cur, 0).astype(float)
    col = o1 + o2
    t1 = o1.sum(axis=1, keepdims=True)
    t2 = o2.sum(axis=1, keepdims=True)
    total = t1 + t2
    e1 = t1 * col / total
    e2 = t2 * col / total
    dof = present.sum(axis=1) - 1
    if yates:
        corr = (dof == 1)[:, None]
        o1 = np.where(corr, o1 + np.minimum(0.5, np.abs(e1 - o1)) * np.sign(e1 - o1), o1)
        o2 = np.where(corr, o2 + np.minimum(0.5, np.abs(e2 - o2)) * np.sign(e2 - o2), o2)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(present, (o1 - e1) ** 2 / e1 + (o2 - e2) ** 2 / e2, 0.0).sum(axis=1)
    p = np.ones_like(stat)
    ok = dof > 0
    stat = np.where(ok, stat, 0.0)
    p[ok] = stats.chi2.sf(stat[ok], dof[ok])
    return stat, p


# ---- numeric, ECDF-based statistics per group ----------------------------------------------------
class SortedGroups(NamedTuple):
    """Group values sorted by (group, value) with everything the ECDF kernels share."""
    xs: np.ndarray  # values, sorted by group then value
    gs: np.ndarray  # their group ids (compact: every group non-empty)
    starts: np.ndarray  # first position of each group
    n: np.ndarray  # size of each group
    a_left: np.ndarray  # #reference < value
    a_right: np.ndarray  # #reference <= value
    cur_left: np.ndarray  # #group values < value
    cur_right: np.ndarray  # #group values <= value


def sort_groups(ref_sorted: np.ndarray, x: np.ndarray, gid: np.ndarray, n_groups: int) -> SortedGroups:
    """Sort values by (group, value) and rank them against the sorted reference and within groups."""
    order = np.lexsort((x, gid))
    xs, gs = x[order], gid[order]
    n = np.bincount(gs, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(n)[:-1]))
    new_run = np.concatenate(([True], (gs[1:] != gs[:-1]) | (xs[1:] != xs[:-1])))[: xs.size]  # runs of ties
    run_starts = np.flatnonzero(new_run)
    run_id = np.cumsum(new_run) - 1
    run_ends = np.append(run_starts[1:], xs.size) - 1
    off = starts[gs]
    return SortedGroups(xs, gs, starts, n, np.searchsorted(ref_sorted, xs, "left"),
                        np.searchsorted(ref_sorted, xs, "right"), run_starts[run_id] - off, run_ends[run_id] + 1 - off)


def ks_statistic(sg: SortedGroups, N: int) -> np.ndarray:
    """Two-sided KS statistic per group; bit-for-bit the value ``ks_2samp`` computes before rounding."""
    ng = sg.n[sg.gs]
    dplus = sg.a_left / N - sg.cur_left / ng  # F_ref - F_cur just below each group value
    dminus = sg.cur_right / ng - sg.a_right / N  # F_cur - F_ref at each group value
    max_s = np.maximum(np.maximum.reduceat(dplus, sg.starts), 0.0)
    min_s = np.clip(np.maximum.reduceat(dminus, sg.starts), 0.0, 1.0)
    return np.where(min_s > max_s, min_s, max_s)


def wasserstein_raw(sg: SortedGroups, ref_sorted: np.ndarray) -> np.ndarray:
    """First Wasserstein distance ∫|F_ref − F_group| per group, via a prefix integral G(t) = ∫ F_ref."""
    r, N = ref_sorted, ref_sorted.size
    # G at reference points: G(r_k) = sum_{i<k} F(r_i) (r_{i+1} - r_i)
    g_at = np.concatenate(([0.0], np.cumsum(np.arange(1, N) / N * np.diff(r))))

    def G(t, k):  # k = #reference <= t
        km1 = np.maximum(k - 1, 0)
        return np.where(k > 0, g_at[km1] + k / N * (t - r[km1]), 0.0)

    xs, gs, n = sg.xs, sg.gs, sg.n
    g_x = G(xs, sg.a_right)
    # left tail (F_cur = 0) up to each group's minimum
    total = g_x[sg.starts].copy()
    # inner intervals [x_p, x_{p+1}) inside each group, F_cur = (p+1)/n there
    last = sg.starts + n - 1
    p = np.setdiff1d(np.arange(xs.size), last, assume_unique=True)
    if p.size:
        a, b, gp = xs[p], xs[p + 1], gs[p]
        nn = n[gp]
        j = p - sg.starts[gp] + 1  # F_cur on the interval is j / nn
        c = j / nn
        kstar = (j * N + nn - 1) // nn - 1  # first reference index with F_ref >= c
        s = np.clip(r[kstar], a, b)
        g_s = G(s, np.searchsorted(r, s, "right"))
        val = c * (s - a) - (g_s - g_x[p]) + (g_x[p + 1] - g_s) - c * (b - s)
        total += np.bincount(gp, weights=val, minlength=n.size)
    # right tail (F_cur = 1) from each group's maximum to the reference maximum
    x_last = xs[last]
    return total + np.where(x_last < r[-1], (r[-1] - x_last) - (g_at[-1] - g_x[last]), 0.0)


# ---- KS p-values, vectorised, matching scipy.stats.ks_2samp(alternative="two-sided") -------------
try:  # scipy's compiled lattice-path routine, the one ks_2samp uses for method="exact"
    from scipy.stats._stats_py import _attempt_exact_2kssamp as _scipy_exact
except ImportError:  # pragma: no cover - only on a future scipy that moved it
    _scipy_exact = None


#: Use the batched first-exit recursion while C(m+n, n) stays far from float overflow (log < 700).
_KS_FAST_MAX_LOGC = 700.0


def ks_exact_sf(m, n, h) -> np.ndarray:
    """Exact two-sided P(D_{m,n} >= h / lcm(m, n)) for many tests at once (m >= n >= 1, h >= 1).

    The probability ``ks_2samp(method="exact")`` computes by walking the m×n lattice, here by a
    first-exit recursion over breakpoints, O(n³) per test, vectorised over tests (docs/drift.md).
    Needs C(m+n, n) < 1e300 (checked by the caller).
    """
    h = np.atleast_1d(np.asarray(h, np.int64))
    T = h.size
    if T == 0:
        return np.zeros(0)
    m = np.broadcast_to(np.asarray(m, np.int64), (T,))
    n = np.broadcast_to(np.asarray(n, np.int64), (T,))
    n_max = int(n.max())
    g = np.gcd(m, n)
    hg = (h * g)[:, None]
    k = np.arange(1, n_max + 1, dtype=np.int64)[None, :]
    mm, nn = m[:, None], n[:, None]
    real = k <= nn  # tests with n < n_max get inert padding items
    L = np.where(real, np.clip((mm * k - hg) // nn + 1, 0, mm + 1), mm + 1)
    U = np.where(real, np.clip(-((-(mm * (k - 1) + hg)) // nn) - 1, -1, mm), mm)
    c = np.concatenate((L, U + 1), axis=1)
    valid = (c >= 1) & (c <= mm)
    c = np.where(valid, c, mm + 1)
    order = np.argsort(c, axis=1, kind="stable")
    c = np.take_along_axis(c, order, axis=1)
    valid = np.take_along_axis(valid, order, axis=1)
    n_steps = int(valid.sum(axis=1).max())  # past its last real breakpoint a test can no longer exit
    c, valid = c[:, :n_steps], valid[:, :n_steps]
    # lo = #{U_k < c}, hi = #{L_k < c} per breakpoint: one searchsorted over row-offset copies
    off = (np.arange(T, dtype=np.int64) * (m.max() + 3))[:, None]
    row_n = np.arange(T, dtype=np.int64)[:, None] * n_max
    lo = np.searchsorted((U + 1 + off).ravel(), (c + off).ravel(), "right").reshape(T, -1) - row_n
    hi = np.searchsorted((L + 1 + off).ravel(), (c + off).ravel(), "right").reshape(T, -1) - row_n
    lo = np.where(valid, lo, 0).T.copy()  # (steps, T)
    hi = np.where(valid, hi, n[:, None]).T.copy()
    cT = c.T.copy()
    # 1 / C(m + n, n) per test, from a sum of log1p terms (accurate to ~1e-15 relative)
    inv_total = np.empty(T)
    for pair in np.unique(np.stack((m, n), axis=1), axis=0):
        mi, ni = int(pair[0]), int(pair[1])
        inv_total[(m == mi) & (n == ni)] = math.exp(-math.fsum(math.log1p(mi / i) for i in range(1, ni + 1)))
    s = np.arange(n_max + 1)[:, None]
    j = np.arange(1, n_max + 1, dtype=float)[:, None]
    q = n[None, :] - s  # values still to place after s of them
    # tests with more breakpoints first: at step t only a prefix of the tests is still running
    n_valid = valid.sum(axis=1)
    by_steps = np.argsort(-n_valid, kind="stable")
    cT, lo, hi, q = cT[:, by_steps], lo[:, by_steps], hi[:, by_steps], q[:, by_steps]
    m_s, inv_s = m[by_steps], inv_total[by_steps]
    active = np.searchsorted(-n_valid[by_steps], -np.arange(n_steps), side="right")
    counts = np.zeros((n_max + 1, T))  # layout (state, test)
    counts[0] = 1.0
    b_pad = np.zeros((2 * n_max + 1, T))  # b[d] at row n_max + d, zeros above: a Toeplitz view below
    st0, st1 = b_pad.strides
    prev = np.zeros(T, np.int64)
    p_sorted = np.zeros(T)
    for t in range(n_steps):
        a = int(active[t])
        ct = cT[t, :a]
        ell = (ct - prev[:a]).astype(float)
        prev[:a] = ct
        # b[d] = C(ell + d - 1, d): ways to put d values into the ell slots of this step
        b = b_pad[n_max:, :a]
        b[0] = 1.0
        np.cumprod((ell + j - 1.0) / j, axis=0, out=b[1:])
        toeplitz = as_strided(b_pad[n_max:], shape=(n_max + 1, n_max + 1, T), strides=(-st0, st0, st1))[:, :, :a]
        arrived = np.einsum("st,sut->ut", counts[:, :a], toeplitz)  # arrived[u] = sum_s counts[s] b[u - s]
        inside = (s >= lo[t, :a]) & (s <= hi[t, :a])
        if not inside.all():
            # completions C(M + q, q) / C(m + n, n), M = m - c, q = n - s values still to place
            big_m = (m_s[:a] - ct).astype(float)
            qa = q[:, :a]
            factor = np.where(qa > 0, (big_m + qa) / np.maximum(qa, 1), 1.0)
            comp = np.cumprod(factor[::-1], axis=0)[::-1] * inv_s[:a]
            comp = np.where((qa >= 0) & (big_m >= 0), comp, 0.0)
            p_sorted[:a] += np.where(inside, 0.0, arrived * comp).sum(axis=0)
            arrived *= inside
        counts[:, :a] = arrived
    p = np.empty(T)
    p[by_steps] = p_sorted
    return p


def _ks_exact_scipy(n1: int, n2: int, h: int) -> tuple[bool, float]:
    g = math.gcd(n1, n2)
    success, _, prob = _scipy_exact(n1, n2, g, h * 1.0 / ((n1 // g) * n2), "two-sided")
    return bool(success), float(prob)


def ks_pvalues(d: np.ndarray, n1, n2: np.ndarray, method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """p-values (and D as ``ks_2samp`` reports it: rounded to h / lcm in exact mode) for many (D, n1, n2).

    Reproduces ``scipy.stats.ks_2samp(alternative="two-sided")``'s method choice. Exact values from
    :func:`ks_exact_sf`, or scipy's routine for huge sizes or p within 1e-9 of 1; asymptotic ones from
    ``scipy.stats.kstwo.sf(D, round(n1·n2/(n1+n2)))``, once per distinct pair.
    """
    d, n2 = np.asarray(d, dtype=float), np.asarray(n2, dtype=np.int64)
    n1 = np.broadcast_to(np.asarray(n1, dtype=np.int64), d.shape)
    p, d_out = np.full(d.shape, np.nan), d.copy()
    g_all = np.gcd(n1, n2)
    if method == "auto":
        exact = np.maximum(n1, n2) <= KS_MAX_AUTO_N
    elif method == "exact":
        exact = ~((n1 // g_all) >= np.iinfo(np.int32).max / (n2 // g_all))
    else:
        exact = np.zeros(d.shape, bool)
    asymp = ~exact
    if exact.any():
        idx = np.flatnonzero(exact)
        lcm = (n1[idx] // g_all[idx]) * n2[idx]
        h = np.round(d[idx] * lcm).astype(np.int64)
        d_out[idx] = h * 1.0 / lcm
        big, small = np.maximum(n1[idx], n2[idx]), np.minimum(n1[idx], n2[idx])
        uniq, inv = np.unique(np.stack((big, small, h), axis=1), axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        pu, okay = np.ones(uniq.shape[0]), np.ones(uniq.shape[0], bool)
        todo = uniq[:, 2] > 0  # h == 0: p = 1 exactly
        big, small = uniq[:, 0], uniq[:, 1]
        log_c = special.gammaln(big + small + 1.0) - special.gammaln(big + 1.0) - special.gammaln(small + 1.0)
        fast = todo & (log_c < _KS_FAST_MAX_LOGC) if _scipy_exact is not None else todo
        if fast.any():  # batches of similar small-sample size (n_max <= 2 n_min), capped in memory
            rows = np.flatnonzero(fast)
            bucket = np.ceil(np.log2(small[rows])).astype(int)
            for bk in np.unique(bucket):
                sel = rows[bucket == bk]
                chunk = max(1, int(2e7 // (2 * int(small[sel].max()) ** 2)))
                for i in range(0, sel.size, chunk):
                    part = sel[i : i + chunk]
                    pu[part] = ks_exact_sf(big[part], small[part], uniq[part, 2])
        slow = np.flatnonzero((todo & ~fast) | (fast & (pu > 1.0 - 1e-9))) if _scipy_exact is not None else []
        for r in slow:  # rare: huge sizes, or p ~ 1 where scipy's own rounding decides
            okay[r], pu[r] = _ks_exact_scipy(int(big[r]), int(small[r]), int(uniq[r, 2]))
        p[idx] = pu[inv]
        failed = idx[~okay[inv]]
        if failed.size:
            logger.debug("exact KS p-value unsuccessful for %d case(s); using the asymptotic value", failed.size)
            asymp[failed] = True
    if asymp.any():
        idx = np.flatnonzero(asymp)
        m, nn = np.maximum(n1[idx], n2[idx]).astype(float), np.minimum(n1[idx], n2[idx]).astype(float)
        uniq, inv = np.unique(np.stack((d_out[idx], np.round(m * nn / (m + nn))), axis=1), axis=0, return_inverse=True)
        p[idx] = stats.kstwo.sf(uniq[:, 0], uniq[:, 1])[inv.reshape(-1)]
    return d_out, np.clip(p, 0.0, 1.0)


# ---- every statistic for many groups of one column -----------------------------------------------
def group_statistics(ref, x, gid, n_groups, methods, *, bins, ks_method="auto", eps=1e-4, base=None, yates=False,
                     normalize=True, null_complement=False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{method: (statistic, p_value)}`` arrays of length ``n_groups``; every group must be non-empty.

    ``ref`` is the cleaned reference (floats if numeric), ``x``/``gid`` the cleaned group values and
    their group ids. With ``null_complement`` each group is a subset of ``ref`` whose reference is
    the rest of ``ref`` (null thresholds). KS gets no p-value then, nor with ``ks_method=None``.
    """
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    nan = np.full(n_groups, np.nan)
    N = ref.size
    ecdf = [m for m in methods if m in ECDF_METHODS]
    rs = np.sort(ref) if ecdf or not (isinstance(bins, str) and bins == "categories") else None
    if ecdf:
        sg = sort_groups(rs, x, gid, n_groups)
        n = sg.n
        scale = N / (N - n) if null_complement else 1.0  # F_rest − F_sub = N/(N−M)·(F_ref − F_sub)
        if "ks" in methods:
            d = ks_statistic(sg, N) * scale
            out["ks"] = (d, nan) if null_complement or ks_method is None else ks_pvalues(d, N, n, ks_method)
        if "wasserstein" in methods:
            w = wasserstein_raw(sg, rs) * scale
            if normalize:
                sd = np.std(ref)
                if null_complement:  # std of the rest of the reference, from sums of deviations
                    dev = sg.xs - ref.mean()
                    s1 = np.bincount(sg.gs, weights=dev, minlength=n_groups)
                    s2 = np.bincount(sg.gs, weights=dev * dev, minlength=n_groups)
                    m_rest = ((ref - ref.mean()).sum() - s1) / (N - n)
                    sd = np.sqrt(np.maximum((((ref - ref.mean()) ** 2).sum() - s2) / (N - n) - m_rest**2, 0.0))
                w = w / np.maximum(sd, WASSERSTEIN_NORM_FLOOR)
            out["wasserstein"] = (w, nan)
    binned = [m for m in methods if m in BINNED_METHODS]
    gc_cat = None
    if binned:
        min_max = (sg.xs[sg.starts], sg.xs[sg.starts + sg.n - 1]) if ecdf else None
        gc = group_counts(bins, ref, x, gid, n_groups, ref_sorted=rs, null_complement=null_complement,
                          group_min_max=min_max)
        if isinstance(bins, str) and bins == "categories":
            gc_cat = gc
        if "psi" in methods:
            out["psi"] = (psi_from_counts(gc, eps), nan)
        if "kl_divergence" in methods:
            out["kl_divergence"] = (kl_from_counts(gc, eps), nan)
        if "js_distance" in methods:
            out["js_distance"] = (js_from_counts(gc, base), nan)
    if "chi_square" in methods:
        if null_complement:
            raise ValueError("null thresholds are for distances; chi_square already has a p-value.")
        if gc_cat is None:
            gc_cat = group_counts("categories", ref, x, gid, n_groups)
        out["chi_square"] = chi2_from_counts(gc_cat, yates)
    return out


def draw_null_subsets(n_ref: int, size: int, n_draws: int, seed: int) -> np.ndarray:
    """``(n_draws, size)`` row indices, each a random subset of ``range(n_ref)``, seeded by (seed, size)."""
    rng = np.random.default_rng([int(seed), int(size)])
    if size * 4 <= n_ref:
        idx = rng.integers(0, n_ref, size=(n_draws, size))
        srt = np.sort(idx, axis=1)
        for row in np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1)):  # rare when size << n_ref
            idx[row] = rng.choice(n_ref, size=size, replace=False)
        return idx
    keys = rng.random((n_draws, n_ref))
    return np.argpartition(keys, size - 1, axis=1)[:, :size]


def null_statistics(ref, sizes, method, *, n_draws, seed, bins, eps=1e-4, base=None, normalize=True) -> np.ndarray:
    """``(len(sizes), n_draws)`` statistics of ``method`` under no shift: ``size`` rows of the reference
    drawn without replacement against the remaining rows, ``n_draws`` times, all in one grouped pass."""
    sizes = [int(s) for s in sizes]
    idx = np.concatenate([draw_null_subsets(ref.size, s, n_draws, seed).ravel() for s in sizes])
    gid = np.concatenate([np.repeat(np.arange(n_draws) + k * n_draws, s) for k, s in enumerate(sizes)])
    res = group_statistics(ref, ref[idx], gid, n_draws * len(sizes), [method], bins=bins, eps=eps, base=base,
                           normalize=normalize, null_complement=True)
    return res[method][0].reshape(len(sizes), n_draws)
