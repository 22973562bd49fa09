"""Exercises of notebook 03 (detect drift): reference implementations and check cases.

Cases are built from the real data on first use (not at import time).
"""
from __future__ import annotations

import numpy as np

from labkit.exercises._core import Case, Exercise, register

__all__ = ["ks_statistic", "psi_from_counts", "bh_reject"]


def ks_statistic(reference, current) -> float:
    """Reference: the largest vertical gap between the two empirical CDFs."""
    ref = np.sort(np.asarray(reference, dtype=float))
    cur = np.sort(np.asarray(current, dtype=float))
    grid = np.concatenate([ref, cur])
    f_ref = np.searchsorted(ref, grid, side="right") / ref.size
    f_cur = np.searchsorted(cur, grid, side="right") / cur.size
    return float(np.max(np.abs(f_ref - f_cur)))


def psi_from_counts(reference_counts, current_counts, eps: float = 1e-4) -> float:
    """Reference: PSI of two histograms over the same bins, empty shares replaced by ``eps``."""
    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    p, q = ref / ref.sum(), cur / cur.sum()
    p = np.where(p == 0, eps, p)
    q = np.where(q == 0, eps, q)
    return float(np.sum((q - p) * np.log(q / p)))


def bh_reject(p_values, alpha: float = 0.05) -> np.ndarray:
    """Reference: Benjamini–Hochberg step-up; True where the hypothesis is rejected."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    below = p[order] <= alpha * np.arange(1, m + 1) / m
    reject = np.zeros(m, dtype=bool)
    if below.any():
        k = np.flatnonzero(below).max()
        reject[order[: k + 1]] = True
    return reject


def _periods():
    from labkit.data import load_hourly

    df = load_hourly()
    ref = df[(df["timestamp"] >= "2011-10-01") & (df["timestamp"] < "2012-01-01")]
    jan = df[(df["timestamp"] >= "2012-01-01") & (df["timestamp"] < "2012-02-01")]
    return ref, jan


def _ks_cases():
    ref, jan = _periods()
    rng = np.random.default_rng(3)
    return [
        Case(args=([1.0, 2.0, 3.0, 4.0], [3.5, 4.5, 5.5]), label="two tiny samples"),
        Case(args=(ref["temp"], jan["temp"]), label="temp: reference vs January 2012"),
        Case(args=(ref["hum"], ref["hum"].sample(200, random_state=0)), label="hum: many ties, a subsample"),
        Case(args=(rng.normal(0, 1, 300), rng.normal(0.2, 1.5, 50)), label="normal samples of different sizes"),
    ]


def _psi_cases():
    ref, jan = _periods()
    edges = np.histogram_bin_edges(np.concatenate([ref["temp"], jan["temp"]]), bins="sturges")
    return [
        Case(args=([50, 30, 20], [40, 30, 30]), label="three bins"),
        Case(args=([10, 0, 90], [5, 5, 90]), label="an empty reference bin"),
        Case(args=(np.histogram(ref["temp"], edges)[0], np.histogram(jan["temp"], edges)[0]),
             label="temp: reference vs January 2012, Sturges bins"),
        Case(args=([1, 2, 3], [0, 0, 6]), kwargs={"eps": 1e-3}, label="eps=1e-3"),
    ]


def _bh_cases():
    rng = np.random.default_rng(7)
    return [
        Case(args=([0.01, 0.04, 0.03, 0.20],), label="four p-values"),
        Case(args=([0.5, 0.6, 0.04],), label="nothing survives"),
        Case(args=(np.concatenate([rng.uniform(0, 0.002, 5), rng.uniform(0, 1, 45)]),), kwargs={"alpha": 0.1},
             label="50 p-values, alpha=0.1"),
        Case(args=([0.001, 0.001, 0.02],), label="ties"),
        Case(args=([0.001, 0.03, 0.035, 0.9],), label="step-up: a later p-value rescues an earlier one"),
    ]


register(Exercise(
    id="03.ks_statistic",
    title="Exercise 1: the Kolmogorov–Smirnov statistic",
    reference=ks_statistic,
    cases=_ks_cases,
    hint="Sort both samples; at every value x of either sample, F(x) = np.searchsorted(sorted, x, side='right') "
         "/ n; return the largest |F_ref - F_cur| as a float.",
))

register(Exercise(
    id="03.psi_from_counts",
    title="Exercise 2: the population stability index",
    reference=psi_from_counts,
    cases=_psi_cases,
    hint="Shares = counts / counts.sum(); np.where(share == 0, eps, share) on both; then "
         "np.sum((cur - ref) * np.log(cur / ref)).",
))

register(Exercise(
    id="03.bh_reject",
    title="Exercise 3: Benjamini–Hochberg",
    reference=bh_reject,
    cases=_bh_cases,
    hint="Sort the p-values; find the largest rank k (1-based) with p_(k) <= alpha * k / m; reject the k smallest. "
         "Return booleans in the original order.",
))
