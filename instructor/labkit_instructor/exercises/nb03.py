"""Notebook 03 (detect drift): references, visible and hidden cases, hints."""
from __future__ import annotations

import functools

import numpy as np

from labkit_instructor.exercises import Case, Exercise, register


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


@functools.lru_cache(maxsize=1)
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


def _ks_hidden():
    ref, jan = _periods()
    rng = np.random.default_rng(23)
    return [
        Case(args=([5, 1, 3], [2, 4]), label="unsorted integers"),
        Case(args=(ref["windspeed"], jan["windspeed"]), label="windspeed: reference vs January"),
        Case(args=(rng.exponential(1, 80), rng.exponential(1.3, 120)), label="exponential samples"),
        Case(args=([1.0, 1.0, 1.0], [1.0, 1.0]), label="identical constants (0.0)"),
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


def _psi_hidden():
    ref, jan = _periods()
    edges = np.histogram_bin_edges(ref["hum"], bins=10)
    return [
        Case(args=([5, 5, 5, 5], [5, 5, 5, 5]), label="identical histograms (0.0)"),
        Case(args=(np.histogram(ref["hum"], edges)[0], np.histogram(jan["hum"], edges)[0]), label="hum, 10 bins"),
        Case(args=([0, 10, 0], [3, 4, 3]), kwargs={"eps": 0.01}, label="two empty reference bins, eps=0.01"),
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


def _bh_hidden():
    rng = np.random.default_rng(31)
    return [
        Case(args=([0.2, 0.001, 0.04, 0.011, 0.5],), label="five unsorted p-values"),
        Case(args=(rng.uniform(0, 1, 200),), kwargs={"alpha": 0.05}, label="200 null p-values"),
        Case(args=([0.049],), label="a single p-value"),
        Case(args=([0.01, 0.02, 0.03, 0.04],), kwargs={"alpha": 0.04}, label="all on the line"),
    ]


register(Exercise(
    id="03.ks_statistic",
    title="Exercise 1: the Kolmogorov–Smirnov statistic",
    reference=ks_statistic,
    visible=_ks_cases,
    hidden=_ks_hidden,
    hints=(
        "The statistic is the largest vertical distance between the two empirical CDFs. The largest gap always "
        "sits at one of the observed values, so it is enough to evaluate both CDFs there.",
        "On a sorted sample, np.searchsorted(..., side='right') counts how many values are <= x; divided by the "
        "sample size, that is the empirical CDF at x. Return a float.",
    ),
))

register(Exercise(
    id="03.psi_from_counts",
    title="Exercise 2: the population stability index",
    reference=psi_from_counts,
    visible=_psi_cases,
    hidden=_psi_hidden,
    hints=(
        "PSI compares the two histograms as proportions, not counts, bin by bin: a bin adds more the more its "
        "share moved, weighted by the log of how many times larger or smaller it became. Re-read the formula "
        "in the text with proportions in mind.",
        "An empty bin would put a zero inside the log: replace zero shares (after dividing by the total, in both "
        "histograms) by eps before taking it. Return one float.",
    ),
))

register(Exercise(
    id="03.bh_reject",
    title="Exercise 3: Benjamini–Hochberg",
    reference=bh_reject,
    visible=_bh_cases,
    hidden=_bh_hidden,
    hints=(
        "Benjamini–Hochberg compares the k-th smallest p-value with a threshold that grows with its rank k. It "
        "steps up: find the largest rank that passes, then reject every hypothesis up to that rank, even one "
        "that missed its own threshold.",
        "Work on the sorted p-values (np.argsort remembers where each came from) and give the answer back as "
        "booleans in the original order.",
    ),
))
