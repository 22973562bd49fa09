"""The batched engine gives the same numbers as the readable statistics (1e-12), on random and bike data.

``labkit._drift_engine`` computes every window of a stream (and every null draw) at once; the functions
in ``labkit.drift`` compute one sample each, next to their formula. Both must agree.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import _drift_engine as engine
from labkit import drift
from labkit.data import CATEGORICAL_FEATURES, FEATURES, load_hourly

TOL = dict(rel=1e-12, abs=1e-12)
ALL = ["ks", "wasserstein", "psi", "kl_divergence", "js_distance", "chi_square"]
READABLE = {"ks": drift.ks, "wasserstein": drift.wasserstein, "psi": drift.psi,
            "kl_divergence": drift.kl_divergence, "js_distance": drift.js_distance, "chi_square": drift.chi_square}


def assert_rows_equal_readable(reference, stream, timeline, categorical=()):
    """Every row of a timeline equals the readable function on that window."""
    days = stream["timestamp"].dt.floor("D")
    checked = 0
    for (day, column), rows in timeline.groupby(["window_start", "column"]):
        window = stream.loc[days == day, column]
        for row in rows.itertuples():
            if row.n == 0:
                assert np.isnan(row.statistic) and not row.drifted
                continue
            kw = {"bins": "categories"} if column in categorical and row.method != "chi_square" else {}
            r = READABLE[row.method](reference[column], window, **kw)
            assert row.statistic == pytest.approx(r.statistic, **TOL), (day, column, row.method)
            if r.p_value is not None:
                assert row.p_value == pytest.approx(r.p_value, **TOL), (day, column, row.method)
            assert (row.drifted, row.n, row.threshold) == (r.drifted, r.n_current, r.threshold)
            checked += 1
    return checked


def random_case(seed):
    rng = np.random.default_rng(seed)
    n_ref = int(rng.integers(50, 3000))
    hours = pd.date_range("2024-01-01", periods=24 * 8, freq="h")
    size = hours.size
    shift = np.where(np.arange(size) >= size // 2, rng.uniform(0, 2), 0.0)
    reference = pd.DataFrame({
        "x": rng.normal(size=n_ref),                                   # many distinct values: Sturges bins
        "k": rng.integers(0, 12, n_ref).astype(float),                 # few values: one bin per value
        "c": rng.choice(["dry", "rain", "snow"], n_ref, p=[0.6, 0.3, 0.1]),
    })
    stream = pd.DataFrame({
        "timestamp": hours,
        "x": rng.normal(size=size) + shift,
        "k": rng.integers(0, 14, size).astype(float),                  # values the reference never saw
        "c": rng.choice(["dry", "rain", "snow", "hail"], size, p=[0.5, 0.3, 0.15, 0.05]),
    })
    stream.loc[rng.choice(size, 10, replace=False), "x"] = np.nan      # missing values
    stream.loc[stream.index[:24], "k"] = np.nan                        # a window with nothing in it
    stream = stream.iloc[rng.permutation(size)].reset_index(drop=True)  # any row order
    return reference, stream


@pytest.mark.parametrize("seed", range(6))
def test_engine_equals_readable_functions_on_random_data(seed):
    reference, stream = random_case(seed)
    timeline = drift.drift_timeline(reference, stream, categorical=["c"], methods=ALL,
                                    options=drift.DriftOptions(numerical=["x", "k"]))
    assert assert_rows_equal_readable(reference, stream, timeline, categorical=["c"]) > 100


@pytest.mark.parametrize("bins", ["sturges", 7, np.array([-1.0, -0.2, 0.0, 0.4, 1.5])], ids=["sturges", "int", "edges"])
def test_engine_equals_readable_functions_with_other_bins(bins):
    reference, stream = random_case(11)
    timeline = drift.drift_timeline(reference, stream, columns=["x"], methods=["psi", "kl_divergence", "js_distance"],
                                    options=drift.DriftOptions(bins=bins))
    days = stream["timestamp"].dt.floor("D")
    for row in timeline.itertuples():
        window = stream.loc[days == row.window_start, "x"]
        assert row.statistic == pytest.approx(READABLE[row.method](reference["x"], window, bins=bins).statistic, **TOL)


@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi", "kl_divergence", "js_distance"])
def test_null_draws_equal_readable_functions(method):
    """Each null draw (a subset against the rest of the reference) equals the readable statistic."""
    ref = np.random.default_rng(3).gamma(2.0, size=400)
    sizes = [5, 24, 100]
    null = engine.null_statistics(ref, sizes, method, n_draws=30, seed=0, bins="sturges")
    edges = np.histogram_bin_edges(ref, "sturges")  # null draws bin with edges over the whole reference
    for i, size in enumerate(sizes):
        for j, rows in enumerate(engine.draw_null_subsets(ref.size, size, 30, seed=0)):
            subset = np.zeros(ref.size, bool)
            subset[rows] = True
            kw = {"bins": edges} if method in engine.BINNED_METHODS else {}
            expected = READABLE[method](ref[~subset], ref[subset], **kw).statistic
            assert null[i, j] == pytest.approx(expected, **TOL), (size, j)


@pytest.fixture(scope="module")
def bike():
    df = load_hourly()
    return df[df["yr"] == 0].reset_index(drop=True), df[df["yr"] == 1].reset_index(drop=True)


def test_engine_equals_readable_functions_on_bike_data(bike):
    """2011 as the reference, forty days of 2012 (Hurricane Sandy included), every feature and method."""
    reference, current = bike
    days = current["timestamp"].dt.floor("D")
    picked = list(days.unique()[::10]) + [pd.Timestamp("2012-10-29"), pd.Timestamp("2012-10-30")]
    stream = current[days.isin(picked)]
    timeline = drift.drift_timeline(reference[FEATURES], stream[FEATURES + ["timestamp"]], methods=ALL)
    categorical = set(FEATURES) - set(timeline.loc[timeline["method"] == "ks", "column"])  # kinds as inferred
    assert set(categorical) < set(CATEGORICAL_FEATURES)
    assert assert_rows_equal_readable(reference, stream, timeline, categorical) > 1000


values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 1))  # ties happen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=2, max_size=60), st.lists(st.lists(values, min_size=1, max_size=12), min_size=1,
                                                             max_size=4))
def test_engine_equals_readable_functions_for_any_samples(reference, windows):
    """Property: for any reference and any daily windows, every timeline row equals the readable function."""
    times = [pd.Timestamp("2024-01-01") + pd.Timedelta(days=d, minutes=i) for d, w in enumerate(windows)
             for i in range(len(w))]
    stream = pd.DataFrame({"timestamp": times, "x": [v for w in windows for v in w]})
    reference = pd.DataFrame({"x": reference})
    timeline = drift.drift_timeline(reference, stream, methods=ALL, options=drift.DriftOptions(numerical=["x"]))
    assert assert_rows_equal_readable(reference, stream, timeline) == len(windows) * len(ALL)
