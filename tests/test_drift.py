"""Unit and property tests for labkit.drift (agreement with Evidently/alibi: test_drift_agreement.py)."""
from __future__ import annotations

import dataclasses
import doctest
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from labkit import _drift_engine as engine
from labkit import drift, drift_adapters
from labkit.drift import (
    DriftOptions,
    DriftResult,
    adjust_p_values,
    chi_square,
    drift_table,
    drift_timeline,
    js_distance,
    kl_divergence,
    ks,
    null_threshold,
    psi,
    wasserstein,
)

REPO = Path(__file__).resolve().parents[1]
UNIVARIATE = {"ks": ks, "psi": psi, "wasserstein": wasserstein, "kl_divergence": kl_divergence,
              "js_distance": js_distance, "chi_square": chi_square}
NUMERIC = ["ks", "psi", "wasserstein", "kl_divergence", "js_distance"]


def load_bike() -> pd.DataFrame:
    from labkit.data import load_hourly  # the data ships in data/: a missing file is an error, not a skip

    return load_hourly()


@pytest.fixture(scope="module")
def bike():
    df = load_bike()
    return df[df["yr"] == 0].reset_index(drop=True), df[df["yr"] == 1].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# result type
# ---------------------------------------------------------------------------------------------
def test_result_is_frozen_with_all_fields():
    r = ks([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert isinstance(r, DriftResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.statistic = 0.0  # type: ignore[misc]
    assert list(r.to_dict()) == ["method", "statistic", "p_value", "threshold", "drifted",
                                 "n_reference", "n_current", "n_dropped"]


@pytest.mark.parametrize("name", list(UNIVARIATE))
def test_every_method_returns_plain_python_types(name):
    r = UNIVARIATE[name]([0, 1, 2, 3, 4, 5] * 3, [1, 2, 3, 4, 5, 6] * 3)
    assert r.method == name
    assert type(r.statistic) is float and type(r.drifted) is bool and type(r.threshold) is float
    assert (r.p_value is None) == (drift.METHODS[name].decision == "distance")


# ---------------------------------------------------------------------------------------------
# exact values on small cases
# ---------------------------------------------------------------------------------------------
def test_ks_equals_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=300), rng.normal(0.2, 1, size=170)
    r, s = ks(a, b), stats.ks_2samp(a, b)
    assert (r.statistic, r.p_value) == (s.statistic, s.pvalue)
    r, s = ks(a, b, method="asymp"), stats.ks_2samp(a, b, method="asymp")
    assert (r.statistic, r.p_value) == (s.statistic, s.pvalue)


def test_psi_kl_js_by_hand():
    # reference shares (.5, .5), current (.25, .75)
    assert psi([0, 0, 1, 1], [0, 1, 1, 1]).statistic == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert kl_divergence([0, 0, 1, 1], [0, 1, 1, 1]).statistic == pytest.approx(
        0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75))
    m = np.array([0.375, 0.625])
    jsd = 0.5 * (stats.entropy([0.5, 0.5], m) + stats.entropy([0.25, 0.75], m))
    assert js_distance([0, 0, 1, 1], [0, 1, 1, 1]).statistic == pytest.approx(math.sqrt(jsd))
    assert js_distance([0, 0, 1, 1], [0, 1, 1, 1], base=2).statistic == pytest.approx(math.sqrt(jsd / math.log(2)))


def test_psi_empty_bin_is_filled_with_1e_minus_4():
    # category "b" absent from current: its current share becomes 1e-4
    r = psi(["a", "b"] * 10, ["a"] * 20)
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert r.statistic == pytest.approx(expected)


def test_psi_bins_options():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(0.3, 1, size=400)
    edges = np.histogram_bin_edges(np.concatenate((a, b)), 10)
    r_int, r_edges = psi(a, b, bins=10), psi(a, b, bins=edges)
    assert r_int.statistic == pytest.approx(r_edges.statistic)
    assert psi(a, b, bins="fd").statistic > 0
    # numbers with few distinct values are binned per value under "auto"
    assert psi([1, 2, 3] * 10, [1, 2, 3] * 10).statistic == 0


def test_wasserstein_normed_by_reference_std():
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = a + 1
    assert wasserstein(a, b, normalize=False).statistic == pytest.approx(1.0)
    assert wasserstein(a, b).statistic == pytest.approx(1.0 / np.std(a))


def test_chi_square_homogeneity_equals_chi2_contingency():
    ref = ["a"] * 40 + ["b"] * 30 + ["c"] * 30
    cur = ["a"] * 20 + ["b"] * 50 + ["c"] * 10 + ["d"] * 5  # "d" unseen in the reference
    table = [[40, 30, 30, 0], [20, 50, 10, 5]]
    s = stats.chi2_contingency(table, correction=False)
    r = chi_square(ref, cur)
    assert r.statistic == pytest.approx(s.statistic) and r.p_value == pytest.approx(s.pvalue)
    two = stats.chi2_contingency([[40, 60], [20, 65]])  # Yates applies to 2 categories only
    r2 = chi_square(["a"] * 40 + ["b"] * 60, ["a"] * 20 + ["b"] * 65, yates=True)
    assert r2.statistic == pytest.approx(two.statistic) and r2.p_value == pytest.approx(two.pvalue)


def test_chi_square_two_categories_equals_two_proportion_z_test():
    n1, x1, n2, x2 = 200, 120, 150, 70
    p_pool = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(p_pool * (1 - p_pool) * (1 / n1 + 1 / n2))
    r = chi_square([1] * x1 + [0] * (n1 - x1), [1] * x2 + [0] * (n2 - x2))
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_chi_square_goodness_of_fit_and_its_smoothing():
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 30 + ["b"] * 10
    r = chi_square(ref, cur, test="goodness_of_fit")
    s = stats.chisquare([30, 10], [20, 20])
    assert r.p_value == pytest.approx(s.pvalue)
    unseen = chi_square(ref, cur + ["z"], test="goodness_of_fit")
    assert np.isfinite(unseen.statistic) and 0 < unseen.p_value < 1


# ---------------------------------------------------------------------------------------------
# threshold semantics
# ---------------------------------------------------------------------------------------------
def test_distance_methods_drift_at_statistic_equal_threshold():
    r = wasserstein([0.0, 1.0], [1.0, 2.0], normalize=False, threshold=1.0)
    assert r.statistic == 1.0 and r.drifted
    assert not wasserstein([0.0, 1.0], [1.0, 2.0], normalize=False, threshold=1.0 + 1e-9).drifted


def test_p_value_methods_drift_strictly_below_threshold():
    r = ks([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert not ks([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], threshold=r.p_value).drifted
    assert ks([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], threshold=r.p_value * 1.0001).drifted


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "high"], ids=["negative", "nan", "string"])
def test_bad_threshold_is_rejected(bad):
    with pytest.raises((ValueError, TypeError), match="threshold"):
        psi([1, 2, 3], [1, 2, 3], threshold=bad)


# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NUMERIC)
def test_nan_and_inf_are_dropped_and_counted(name):
    fn = UNIVARIATE[name]
    clean = fn([0.1, 0.5, 0.9, 0.3] * 5, [0.2, 0.6, 0.4] * 5)
    dirty = fn([0.1, 0.5, 0.9, 0.3] * 5 + [np.nan, np.inf], [0.2, 0.6, 0.4] * 5 + [-np.inf])
    assert dirty.n_dropped == 3 and dirty.n_reference == 20 and dirty.n_current == 15
    assert dirty.statistic == clean.statistic


def test_missing_categories_are_dropped_and_counted():
    r = chi_square(pd.Series(["a", "b", None, np.nan]), pd.Series(["a", pd.NA, "b"]))
    assert r.n_dropped == 3 and r.n_reference == 2 and r.n_current == 2


@pytest.mark.parametrize("which", ["reference", "current"])
@pytest.mark.parametrize("name", list(UNIVARIATE))
def test_empty_after_dropping_names_the_argument(name, which):
    good, bad = [1.0, 2.0, 3.0], [np.nan, np.nan]
    args = (bad, good) if which == "reference" else (good, bad)
    with pytest.raises(ValueError, match=fr"{which}: expected at least one value .*, got <empty after dropping 2 "):
        UNIVARIATE[name](*args)


@pytest.mark.parametrize("name", ["ks", "wasserstein"])
def test_numeric_methods_refuse_strings(name):
    with pytest.raises(TypeError, match=r"current: expected numbers, got <<U1 values such as 'a'>"):
        UNIVARIATE[name]([1.0, 2.0], ["a", "b"])


def test_numeric_methods_accept_numbers_stored_as_objects():
    assert ks(np.array([1, 2, 3], dtype=object), [1, 2, 3]).statistic == 0


def test_two_dimensional_input_is_refused():
    with pytest.raises(TypeError, match="reference: expected one column of values.*Fix: pass a single column"):
        ks(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), [1, 2])
    with pytest.raises(ValueError, match="current: expected a one-dimensional sample"):
        psi([1, 2, 3], np.ones((3, 2)))


def test_categories_of_different_types_are_refused():
    with pytest.raises(TypeError, match="current: expected numbers, like reference, got <dtype object>"):
        chi_square(np.array([1, 2, 1]), np.array(["1", "2", "1"], dtype=object))


def test_constant_inputs_documented_values():
    same, other = [3.0] * 10, [4.0] * 10
    assert (ks(same, same).statistic, ks(same, same).p_value) == (0.0, 1.0)
    assert ks(same, other).statistic == 1.0
    assert wasserstein(same, same).statistic == 0.0
    assert wasserstein(same, other).statistic == pytest.approx(1.0 / 0.001)  # std floor
    for name in ("psi", "kl_divergence", "js_distance"):
        assert UNIVARIATE[name](same, same).statistic == 0.0
    r = chi_square(same, same)
    assert (r.statistic, r.p_value, r.drifted) == (0.0, 1.0, False)


def test_unseen_categories_give_finite_drift():
    ref, cur = ["a", "b", "c"] * 20, ["a", "b", "c", "new"] * 15
    for name in ("psi", "kl_divergence", "js_distance", "chi_square"):
        r = UNIVARIATE[name](ref, cur)
        assert np.isfinite(r.statistic) and r.statistic > 0, name


def test_unknown_bins_and_options_are_rejected():
    with pytest.raises(ValueError, match="bins: expected 'auto', 'categories'.*got 'magic'"):
        psi([1.0, 2.0], [1.0, 2.0], bins="magic")
    with pytest.raises(TypeError, match="bins: expected 'auto' or 'categories' for categorical data, got 10"):
        psi(["a", "b"], ["a", "b"], bins=10)
    with pytest.raises(ValueError, match=r"eps: expected a finite number in \(0, 1\), got 0"):
        psi([1.0], [1.0], eps=0)
    with pytest.raises(ValueError, match=r"method: expected one of \['auto', 'exact', 'asymp'\], got 'fast'"):
        ks([1.0], [1.0], method="fast")
    with pytest.raises(ValueError, match=r"test: expected one of \['homogeneity', 'goodness_of_fit'\]"):
        chi_square(["a"], ["a"], test="g")
    with pytest.raises(ValueError, match="base: expected a logarithm base other than 1"):
        js_distance([1.0], [1.0], base=1)


# ---------------------------------------------------------------------------------------------
# properties (hypothesis)
# ---------------------------------------------------------------------------------------------
floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(floats, min_size=1, max_size=40)
small_ints = st.lists(st.integers(0, 6), min_size=1, max_size=60)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(samples)
def test_identical_samples_show_no_drift(x):
    for name in NUMERIC:
        assert UNIVARIATE[name](x, x).statistic == pytest.approx(0.0, abs=1e-12), name
    assert ks(x, x).p_value == 1.0


@SETTINGS
@given(small_ints)
def test_identical_categories_show_no_drift(x):
    r = chi_square(x, x)
    assert r.statistic == pytest.approx(0.0, abs=1e-9) and r.p_value == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")
@SETTINGS
@given(samples, samples)
def test_symmetric_statistics_are_symmetric(a, b):
    assert ks(a, b).statistic == ks(b, a).statistic
    # with bins="auto" the binning rule depends on the reference's distinct values, so fix it
    for name in ("psi", "js_distance"):
        for bins in ("sturges", "categories"):
            ab = UNIVARIATE[name](a, b, bins=bins).statistic
            ba = UNIVARIATE[name](b, a, bins=bins).statistic
            assert ab == pytest.approx(ba, rel=1e-9, abs=1e-12), (name, bins)
    assert wasserstein(a, b, normalize=False).statistic == pytest.approx(
        wasserstein(b, a, normalize=False).statistic, rel=1e-9, abs=1e-9)


@SETTINGS
@given(small_ints, small_ints)
def test_chi_square_is_symmetric(a, b):
    assert chi_square(a, b).statistic == pytest.approx(chi_square(b, a).statistic, rel=1e-9, abs=1e-12)


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")
@SETTINGS
@given(samples, samples, st.randoms(use_true_random=False))
def test_statistics_ignore_row_order(a, b, rnd):
    a2, b2 = list(a), list(b)
    rnd.shuffle(a2)
    rnd.shuffle(b2)
    for name in NUMERIC:
        assert UNIVARIATE[name](a, b).statistic == pytest.approx(
            UNIVARIATE[name](a2, b2).statistic, rel=1e-9, abs=1e-12), name


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")
@SETTINGS
@given(samples, samples)
def test_ranges(a, b):
    r = ks(a, b)
    assert 0.0 <= r.statistic <= 1.0 and 0.0 <= r.p_value <= 1.0
    assert 0.0 <= js_distance(a, b).statistic <= math.sqrt(math.log(2)) + 1e-12
    assert 0.0 <= js_distance(a, b, base=2).statistic <= 1.0 + 1e-12
    assert psi(a, b).statistic >= 0 and kl_divergence(a, b).statistic >= -1e-12
    assert wasserstein(a, b).statistic >= 0


@SETTINGS
@given(small_ints, small_ints)
def test_chi_square_p_in_unit_interval(a, b):
    for test in ("homogeneity", "goodness_of_fit"):
        r = chi_square(a, b, test=test)
        assert 0.0 <= r.p_value <= 1.0 and r.statistic >= 0


# ---------------------------------------------------------------------------------------------
# multiple testing
# ---------------------------------------------------------------------------------------------
def test_bonferroni_by_hand():
    assert adjust_p_values([0.01, 0.2, 0.04]).tolist() == pytest.approx([0.03, 0.6, 0.12])
    assert adjust_p_values([0.5, 0.9], "bonferroni").tolist() == [1.0, 1.0]


def test_bh_by_hand_and_against_scipy():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 → ×4/rank = 0.04, 0.06, 0.0533, 0.5 → running min from the top
    assert adjust_p_values(p, "bh").tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.uniform(size=rng.integers(1, 30)) ** 3
        np.testing.assert_allclose(adjust_p_values(q, "bh"), stats.false_discovery_control(q, method="bh"))


def test_adjust_ignores_nan():
    out = adjust_p_values([0.01, np.nan, 0.02], "bonferroni")
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.04)


@pytest.mark.parametrize("bad,match", [([0.1, 1.5], r"expected p-values in \[0, 1\], got \[1.5\]"), ([[0.1]], "one-dimensional")],
                         ids=["out-of-range", "2-d"])
def test_adjust_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        adjust_p_values(bad)
    with pytest.raises(ValueError, match=r"method: expected one of \['bonferroni', 'bh'\], got 'holm'"):
        adjust_p_values([0.1], "holm")


# ---------------------------------------------------------------------------------------------
# drift_table
# ---------------------------------------------------------------------------------------------
def _frames(n_ref=2000, n_cur=1500, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)

    def make(n, s):
        return pd.DataFrame({
            "x": rng.normal(s, 1, n),
            "code": rng.integers(0, 4, n),
            "many": rng.integers(0, 50, n),
            "flag": rng.random(n) < 0.3 + s / 10,
            "city": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), unit="h"),
        })

    return make(n_ref, 0.0), make(n_cur, shift)


def test_table_infers_kinds_and_methods_like_evidently():
    ref, cur = _frames()
    t = drift_table(ref, cur)
    f = t.to_frame().set_index("column")
    assert list(f.index) == ["x", "code", "many", "flag", "city"]  # datetime skipped
    assert f["kind"].to_dict() == {"x": "numerical", "code": "categorical", "many": "numerical",
                                   "flag": "categorical", "city": "categorical"}
    assert f["method"].to_dict() == {"x": "wasserstein", "code": "js_distance", "many": "wasserstein",
                                     "flag": "js_distance", "city": "js_distance"}
    assert list(t.frame.columns) == drift.TABLE_COLUMNS
    small = drift_table(ref.iloc[:1000], cur).to_frame().set_index("column")["method"].to_dict()
    assert small == {"x": "ks", "code": "chi_square", "many": "ks", "flag": "chi_square", "city": "chi_square"}


def test_table_values_equal_univariate_functions():
    ref, cur = _frames(shift=0.3)
    f = drift_table(ref, cur, method={"code": "psi", "x": "ks"}).frame.set_index("column")
    assert f.loc["x", "statistic"] == ks(ref["x"], cur["x"]).statistic
    assert f.loc["x", "p_value"] == ks(ref["x"], cur["x"]).p_value
    assert f.loc["code", "statistic"] == pytest.approx(psi(ref["code"], cur["code"], bins="categories").statistic)
    assert f.loc["many", "statistic"] == pytest.approx(wasserstein(ref["many"], cur["many"]).statistic)
    city = js_distance(ref["city"].astype(str), cur["city"].astype(str)).statistic
    assert f.loc["city", "statistic"] == pytest.approx(city)


def test_table_share_and_dataset_drift():
    ref, cur = _frames(shift=2.0)
    t = drift_table(ref, cur, columns=["x", "flag", "code"])
    assert t.frame.loc[t.frame["drifted"], "column"].tolist() == ["x", "flag"]
    assert t.share_drifted == pytest.approx(2 / 3) and t.dataset_drifted
    assert not drift_table(ref, cur, columns=["x", "flag", "code"], options=DriftOptions(drift_share=0.9)).dataset_drifted
    assert "2 drifted" in repr(t)


def test_table_correction_adjusts_p_values():
    ref, cur = _frames(n_ref=500, n_cur=500, shift=0.15, seed=4)
    plain = drift_table(ref, cur, columns=["x", "code", "many", "flag"]).frame
    bonf = drift_table(ref, cur, columns=["x", "code", "many", "flag"], correction="bonferroni").frame
    bh = drift_table(ref, cur, columns=["x", "code", "many", "flag"], correction="bh").frame
    np.testing.assert_allclose(bonf["p_adjusted"], np.minimum(plain["p_value"] * 4, 1))
    np.testing.assert_allclose(bh["p_adjusted"], stats.false_discovery_control(plain["p_value"]))
    assert (bonf["drifted"] <= bh["drifted"]).all() and (bh["drifted"] <= plain["drifted"]).all()
    assert (bonf["drifted"] == (bonf["p_adjusted"] < 0.05)).all()


def test_table_thresholds_override_and_null():
    ref, cur = _frames(shift=0.05)
    f = drift_table(ref, cur, columns=["x"], thresholds={"x": 0.5}).frame
    assert f.loc[0, "threshold"] == 0.5 and not f.loc[0, "drifted"]
    g = drift_table(ref.iloc[:1500], cur.iloc[:50], columns=["x"], thresholds={"x": "null"}).frame
    assert 0.1 < g.loc[0, "threshold"] < 1.5


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(columns=["x", "nope"]), ValueError, r"columns: expected columns of reference_df, got <missing \['nope'\]>"),
        (dict(method="ks", columns=["city"]), TypeError, "method: expected a method for categorical columns .*got <'ks' for column 'city'>"),
        (dict(method="magic"), ValueError, "method: expected one of .*got 'magic'"),
        (dict(method={"zzz": "ks"}), ValueError, r"method: expected a dict keyed by compared columns .*got <keys \['zzz'\]>"),
        (dict(correction="holm"), ValueError, r"correction: expected one of \[None, 'bonferroni', 'bh'\]"),
        (dict(options=DriftOptions(numerical=["city"])), TypeError, r"reference_df\['city'\]: expected numbers \(a numerical column\), got <dtype category>"),
        (dict(options=DriftOptions(numerical=["x"]), categorical=["x"]), ValueError, "categorical: expected columns not also listed as numerical"),
        (dict(columns=["when"]), TypeError, "columns: expected numerical or categorical columns, got <'when' of dtype datetime64"),
    ],
    ids=["missing-column", "ks-on-categorical", "unknown-method", "method-for-unknown-column",
         "bad-correction", "forced-numerical-strings", "both-kinds", "datetime-column"],
)
def test_table_errors_name_the_problem(kwargs, exc, match):
    ref, cur = _frames()
    with pytest.raises(exc, match=match):
        drift_table(ref, cur, **kwargs)


def test_table_mismatched_columns_and_dtypes():
    ref, cur = _frames()
    with pytest.raises(ValueError, match=r"columns: expected columns of current_df, got <missing \['x'\]>"):
        drift_table(ref, cur.drop(columns="x"))
    bad = cur.assign(x=cur["x"].astype(str))
    with pytest.raises(TypeError, match=r"current_df\['x'\]: expected numbers \(a numerical column\), got <dtype object>"):
        drift_table(ref, bad)
    bad = cur.assign(code=cur["code"].astype(str))
    with pytest.raises(TypeError, match=r"current_df\['code'\]: expected numbers, like reference_df\['code'\], got <dtype object>"):
        drift_table(ref, bad)
    with pytest.raises(TypeError, match="reference_df: expected a pandas DataFrame"):
        drift_table(ref["x"], cur)
    with pytest.raises(ValueError, match=r"current_df\['x'\]: expected at least one value that is not missing, got <empty after dropping"):
        drift_table(ref, cur.assign(x=np.nan), columns=["x"])


# ---------------------------------------------------------------------------------------------
# drift_timeline
# ---------------------------------------------------------------------------------------------
def _stream(seed=0, days=6, shift_from=3):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2024-03-01", periods=24 * days, freq="h")
    shift = np.where(np.arange(t.size) >= 24 * shift_from, 1.5, 0.0)
    return pd.DataFrame({
        "timestamp": t,
        "x": rng.normal(size=t.size) + shift,
        "k": rng.integers(0, 30, t.size).astype(float),  # few distinct values: per-value bins
        "c": np.where(rng.random(t.size) < 0.2 + shift / 3, "rain", "dry"),
    })


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "k": rng.integers(0, 30, 3000).astype(float),
                        "c": np.where(rng.random(3000) < 0.2, "rain", "dry")})
    stream = _stream()
    stream.loc[[3, 4, 30], "x"] = np.nan  # missing values in the first two days
    stream.loc[stream.index[24 * 5:], "k"] = np.nan  # the last day has no k at all
    return ref, stream


def test_timeline_rows_equal_univariate_functions(synthetic):
    ref, stream = synthetic
    tl = drift_timeline(ref, stream, options=DriftOptions(numerical=["x", "k"]), categorical=["c"],
                        methods=["ks", "wasserstein", "psi", "kl_divergence", "js_distance", "chi_square"])
    assert list(tl.columns) == drift.TIMELINE_COLUMNS
    days = stream["timestamp"].dt.floor("D")
    for _, row in tl.iterrows():
        cur = stream.loc[days == row["window_start"], row["column"]]
        if row["n"] == 0:
            assert np.isnan(row["statistic"]) and not row["drifted"]
            continue
        kw = {"bins": "categories"} if row["column"] == "c" and row["method"] != "chi_square" else {}
        r = UNIVARIATE[row["method"]](ref[row["column"]], cur, **kw)
        assert row["statistic"] == pytest.approx(r.statistic, rel=1e-9, abs=1e-12), tuple(row)
        if r.p_value is not None:
            assert row["p_value"] == pytest.approx(r.p_value, rel=1e-9, abs=1e-300)
        assert row["drifted"] == r.drifted
        assert row["n"] == r.n_current


def test_timeline_counts_and_detects(synthetic):
    ref, stream = synthetic
    tl = drift_timeline(ref, stream, methods=["ks"])
    x = tl[tl["column"] == "x"]
    assert x["n_dropped"].tolist() == [2, 1, 0, 0, 0, 0] and x["n"].tolist() == [22, 23, 24, 24, 24, 24]
    assert x["drifted"].tolist() == [False, False, False, True, True, True]
    k = tl[tl["column"] == "k"]
    assert k["n"].iloc[-1] == 0 and np.isnan(k["statistic"].iloc[-1]) and not k["drifted"].iloc[-1]


def test_timeline_ks_exact_and_asymp_equal_scipy(synthetic):
    ref, stream = synthetic
    for mode in ("auto", "exact", "asymp"):
        tl = drift_timeline(ref, stream, columns=["x"], methods=["ks"], options=DriftOptions(ks_method=mode))
        days = stream["timestamp"].dt.floor("D")
        for _, row in tl.iterrows():
            cur = stream.loc[days == row["window_start"], "x"].dropna()
            s = stats.ks_2samp(ref["x"], cur, method=mode)
            assert row["statistic"] == s.statistic
            assert row["p_value"] == pytest.approx(s.pvalue, rel=1e-12, abs=0)


def test_exact_ks_recursion_equals_scipy_lattice_paths():
    """The batched first-exit recursion gives scipy's exact two-sided p-values, mixed sizes in one batch."""
    from scipy.stats._stats_py import _attempt_exact_2kssamp

    rng = np.random.default_rng(11)
    m, n, h, expected = [], [], [], []
    for _ in range(60):
        a, b = sorted(int(v) for v in rng.integers(1, 200, size=2))[::-1]
        g = math.gcd(a, b)
        lcm = a // g * b
        for hh in {1, lcm, int(rng.integers(1, lcm + 1)), int(rng.integers(1, lcm + 1))}:
            ok, _, prob = _attempt_exact_2kssamp(a, b, g, hh / lcm, "two-sided")
            if ok:
                m.append(a), n.append(b), h.append(hh), expected.append(prob)
    got = engine.ks_exact_sf(np.array(m), np.array(n), np.array(h))
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=0)


@pytest.mark.parametrize("mode", ["auto", "exact", "asymp"])
def test_vectorised_ks_p_values_equal_ks_2samp(mode):
    rng = np.random.default_rng(4)
    ref = rng.normal(size=700)
    ds, n2, expected = [], [], []
    for size in [1, 2, 5, 24, 24, 24, 60, 700, 701]:
        cur = rng.normal(rng.uniform(-1, 1), 1, size)
        s = stats.ks_2samp(ref, cur, method=mode)
        ds.append(engine.ks_statistic(
            engine.sort_groups(np.sort(ref), cur, np.zeros(size, int), 1), ref.size)[0])
        n2.append(size)
        expected.append((s.statistic, s.pvalue))
    d_out, p = engine.ks_pvalues(np.array(ds), ref.size, np.array(n2), mode)
    np.testing.assert_allclose(d_out, [e[0] for e in expected], rtol=0, atol=0)
    np.testing.assert_allclose(p, [e[1] for e in expected], rtol=1e-10, atol=0)


def test_exact_ks_falls_back_like_scipy_when_p_rounds_above_one():
    # scipy's exact routine returns p slightly > 1 here and ks_2samp switches to the asymptotic value
    d_out, p = engine.ks_pvalues(np.array([1 / 5]), 5, np.array([5]), "exact")
    with pytest.warns(RuntimeWarning, match="Exact calculation unsuccessful"):
        s = stats.ks_2samp([1, 2, 3, 4, 5], [1, 2, 3, 4, 6], method="exact")
    assert (d_out[0], p[0]) == (s.statistic, s.pvalue)


def test_timeline_weekly_windows_and_index_time():
    ref = pd.DataFrame({"x": np.random.default_rng(0).normal(size=500)})
    stream = _stream(days=21)
    weekly = drift_timeline(ref, stream, columns=["x"], methods=["psi"], freq="W")
    assert weekly["n"].sum() == 24 * 21 and len(weekly) == 4  # Fri 1 Mar .. Thu 21 Mar spans 4 weeks
    by_index = drift_timeline(ref, stream.set_index("timestamp"), time_col=None, columns=["x"], methods=["psi"])
    assert len(by_index) == 21


def test_timeline_null_thresholds_are_per_window_size(synthetic):
    ref, stream = synthetic
    tl = drift_timeline(ref, stream, columns=["x"], methods=["psi"], options=DriftOptions(threshold="null", null_draws=200))
    expected = {n: null_threshold(ref["x"], n, n_draws=200) for n in tl["n"].unique()}
    assert tl["threshold"].tolist() == pytest.approx([expected[n] for n in tl["n"]])
    fixed = drift_timeline(ref, stream, columns=["x"], methods=["psi"])
    assert fixed["drifted"].all()  # 0.1 flags every 24-row window
    assert tl["drifted"].tolist() == [False, False, False, True, True, True]


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(time_col="ts"), ValueError, r"time_col: expected columns of stream_df, got <missing \['ts'\]>"),
        (dict(time_col="x"), TypeError, r"stream_df\['x'\]: expected datetimes, got <dtype float64>"),
        (dict(methods=["magic"]), ValueError, "methods: expected one of .*got 'magic'"),
        (dict(methods={"c": ["ks"]}), TypeError, "methods: expected a method for categorical columns .*got <'ks' for column 'c'>"),
        (dict(freq="3 days please"), ValueError, "freq: expected a positive window length .*got '3 days please'"),
        (dict(options=dict(ks_method="fast")), ValueError, "ks_method: expected one of"),
        (dict(columns=["nope"]), ValueError, r"columns: expected columns of reference_df, got <missing \['nope'\]>"),
    ],
    ids=["missing-time-col", "time-col-not-datetime", "unknown-method", "ks-on-categorical", "bad-freq",
         "bad-ks-method", "unknown-column"],
)
def test_timeline_errors(synthetic, kwargs, exc, match):
    ref, stream = synthetic
    with pytest.raises(exc, match=match):
        if isinstance(kwargs.get("options"), dict):
            kwargs = {"options": DriftOptions(**kwargs["options"])}
        drift_timeline(ref, stream, **kwargs)


def test_timeline_refuses_an_empty_stream(synthetic):
    ref, stream = synthetic
    with pytest.raises(ValueError, match=r"stream_df: expected a DataFrame with at least 1 row\(s\), got <DataFrame 0×4>"):
        drift_timeline(ref, stream.iloc[:0])


def test_timeline_null_needs_windows_smaller_than_reference():
    ref = pd.DataFrame({"x": np.arange(20.0)})
    stream = _stream(days=2)
    with pytest.raises(ValueError, match="'null' only with windows smaller than the reference"):
        drift_timeline(ref, stream, columns=["x"], methods=["psi"], options=DriftOptions(threshold="null"))


# ---------------------------------------------------------------------------------------------
# null thresholds
# ---------------------------------------------------------------------------------------------
def test_null_threshold_shrinks_with_sample_size_and_is_seeded():
    ref = np.random.default_rng(2).normal(size=4000)
    t = [null_threshold(ref, n, n_draws=300) for n in (24, 100, 500)]
    assert t[0] > t[1] > t[2]
    assert null_threshold(ref, 24, n_draws=300) == t[0]
    assert null_threshold(ref, 24, n_draws=300, seed=1) != t[0]
    for method in ("kl_divergence", "js_distance", "wasserstein", "ks"):
        assert null_threshold(ref, 24, method=method, n_draws=100) > 0


def test_null_threshold_controls_false_alarms():
    """Fresh no-shift samples exceed the 0.95 null threshold about 5% of the time."""
    rng = np.random.default_rng(5)
    pool = rng.gamma(2.0, size=60_000)
    ref, fresh = pool[:5000], pool[5000:].reshape(-1, 50)[:1000]
    thr = null_threshold(ref, 50, quantile=0.95, n_draws=2000)
    rate = np.mean([psi(ref, f).statistic >= thr for f in fresh])
    assert 0.02 < rate < 0.09


def test_null_threshold_ks_statistic_matches_brute_force():
    ref = np.random.default_rng(8).normal(size=300)
    idx = engine.draw_null_subsets(300, 20, 50, seed=0)
    brute = []
    for row in idx:
        mask = np.zeros(300, bool)
        mask[row] = True
        brute.append(stats.ks_2samp(ref[~mask], ref[mask]).statistic)
    fast = engine.null_statistics(ref, [20], "ks", n_draws=50, seed=0,
                                                bins="categories")
    np.testing.assert_allclose(fast[0], brute, rtol=1e-12)


def test_null_threshold_errors():
    with pytest.raises(ValueError, match=r"n_current: expected fewer rows than the reference \(10 after dropping missing values\), got 10"):
        null_threshold(np.arange(10.0), 10)
    with pytest.raises(ValueError, match="method: expected one of"):
        null_threshold(np.arange(10.0), 3, method="chi_square")
    with pytest.raises(ValueError, match=r"quantile: expected a finite number in \(0, 1\), got 1.0"):
        null_threshold(np.arange(10.0), 3, quantile=1.0)


def test_psi_threshold_null_option():
    ref = np.random.default_rng(0).normal(size=3000)
    cur = np.random.default_rng(1).normal(size=24)
    fixed, null = psi(ref, cur), psi(ref, cur, threshold="null")
    assert fixed.drifted and not null.drifted
    assert null.threshold == null_threshold(ref, 24)
    assert wasserstein(ref, cur, threshold="null").threshold == null_threshold(ref, 24, method="wasserstein")


# ---------------------------------------------------------------------------------------------
# real data: fixed PSI thresholds on small windows
# ---------------------------------------------------------------------------------------------
def test_fixed_psi_cutoffs_flag_almost_every_24_row_window(bike):
    """Random 24-row subsets of 2011 compared with 2011 itself: nothing shifted, yet PSI is large.

    Measured (1000 draws, Evidently binning): mean PSI ≈ 1.2 (temp), 1.1 (hum), 0.7 (windspeed),
    1.5 (hr); every draw ≥ 0.1 and ≥ 96% ≥ 0.25; the calibrated 0.99 threshold flags ≈ 1%.
    """
    ref, _ = bike
    rng = np.random.default_rng(0)
    for col in ("temp", "hum", "windspeed", "hr"):
        values = ref[col].to_numpy(float)
        draws = [psi(values, values[rng.choice(values.size, 24, replace=False)]).statistic for _ in range(200)]
        draws = np.array(draws)
        assert draws.mean() > 0.5, col
        assert (draws >= 0.1).mean() > 0.98 and (draws >= 0.25).mean() > 0.9, col
        thr = null_threshold(values, 24)
        assert thr > 1.5
        assert (draws >= thr).mean() < 0.05, col


# ---------------------------------------------------------------------------------------------
# multivariate
# ---------------------------------------------------------------------------------------------
def test_mmd_detects_shift_and_is_seeded():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=list("abc"))
    same = pd.DataFrame(rng.normal(size=(150, 3)), columns=list("abc"))
    moved = same + [0.0, 0.0, 0.8]
    r0, r1 = drift.mmd(x, same, n_permutations=100), drift.mmd(x, moved, n_permutations=100)
    assert not r0.drifted and r1.drifted and r1.statistic > r0.statistic >= 0
    assert r1.p_value == pytest.approx(1 / 101)
    assert drift.mmd(x, same, n_permutations=100) == r0
    assert (r1.n_reference, r1.n_current) == (200, 150)


def test_mmd_input_handling():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 2))
    b = rng.normal(size=(40, 2))
    b[0, 1] = np.nan
    assert drift.mmd(a, b, n_permutations=20).n_dropped == 1
    with pytest.raises(ValueError, match=r"current: expected the columns of reference, got <missing in current: \['b'\]"):
        drift.mmd(pd.DataFrame(a, columns=["a", "b"]), pd.DataFrame(b, columns=["a", "c"]))
    with pytest.raises(TypeError, match=r"reference\['c'\]: expected numbers"):
        drift.mmd(pd.DataFrame({"c": ["x", "y"] * 5}), pd.DataFrame({"c": ["x", "y"] * 5}))
    with pytest.raises(ValueError, match=r"current: expected at least 2 complete rows, got <1 complete row\(s\)>"):
        drift.mmd(a, b[:2], n_permutations=20)


def test_domain_classifier():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["a", "b"], 400)})
    same = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["a", "b"], 300)})
    moved = same.assign(x=same["x"] + 1.5)
    r0 = drift.domain_classifier(ref, same, cv=3)
    r1 = drift.domain_classifier(ref, moved, cv=3)
    assert r0.method == "domain_classifier" and 0.35 < r0.statistic < 0.65 and not r0.drifted
    assert r1.statistic > 0.75 and r1.drifted
    with pytest.raises(ValueError, match="cv: expected an int >= 2, got 1"):
        drift.domain_classifier(ref, same, cv=1)


# ---------------------------------------------------------------------------------------------
# adapters (unit level; real libraries in test_drift_agreement.py)
# ---------------------------------------------------------------------------------------------
def test_from_evidently_reads_value_drift_metrics():
    snap = {"metrics": [
        {"config": {"type": "evidently:metric_v2:DriftedColumnsCount", "drift_share": 0.5}, "value": {"share": 0.5}},
        {"config": {"type": "evidently:metric_v2:ValueDrift", "column": "x", "method": "K-S p_value",
                    "threshold": 0.05}, "value": 0.05},
        {"config": {"type": "evidently:metric_v2:ValueDrift", "column": "c", "method": "Jensen-Shannon distance",
                    "threshold": 0.1}, "value": 0.01},
    ]}
    t = drift_adapters.from_evidently(snap)
    f = t.frame
    assert list(f.columns) == drift.TABLE_COLUMNS
    assert f["method"].tolist() == ["ks", "js_distance"]
    assert f["drifted"].tolist() == [True, False]  # Evidently's K-S rule is p <= threshold
    assert np.isnan(f.loc[0, "statistic"]) and f.loc[0, "p_value"] == 0.05
    assert t.share_drifted == 0.5 and t.dataset_drifted
    with pytest.raises(ValueError, match="snapshot: expected ValueDrift metrics"):
        drift_adapters.from_evidently({"metrics": []})
    with pytest.raises(TypeError, match="snapshot: expected what Evidently 0.7"):
        drift_adapters.from_evidently(42)


def test_from_alibi_reads_feature_wise_result():
    result = {"meta": {"name": "TabularDrift"},
              "data": {"is_drift": 1, "p_val": np.array([1e-5, 0.3], np.float32),
                       "distance": np.array([0.2, 1.1], np.float32), "threshold": 0.025}}
    f = drift_adapters.from_alibi(result, ["x", "c"], categorical=["c"]).frame
    assert f["method"].tolist() == ["ks", "chi_square"]
    assert f["drifted"].tolist() == [True, False] and f["threshold"].tolist() == [0.025, 0.025]
    with pytest.raises(ValueError, match=r"columns: expected one name per feature \(2 p-values\), got <1 column names>"):
        drift_adapters.from_alibi(result, ["x"])
    with pytest.raises(TypeError, match="result: expected the dict"):
        drift_adapters.from_alibi([1, 2], ["x"])


# ---------------------------------------------------------------------------------------------
# docs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", [drift, drift_adapters, engine], ids=lambda m: m.__name__)
def test_doctests(module):
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and (res.attempted > 0 or module is not drift)


def test_public_surface():
    assert set(drift.__all__) >= {"DriftResult", "DriftTable", "ks", "psi", "wasserstein", "kl_divergence",
                                  "js_distance", "chi_square", "null_threshold", "adjust_p_values", "drift_table",
                                  "drift_timeline", "mmd", "domain_classifier", "DriftOptions"}
    assert set(drift_adapters.__all__) >= {"from_evidently", "from_alibi"}
    for module in (drift, drift_adapters):
        for name in module.__all__:
            assert getattr(module, name).__doc__ or isinstance(getattr(module, name), (dict, list)), name


# ---------------------------------------------------------------------------------------------
# bad input is refused with a clear error (issue 16)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold", [2, 1, 0, -0.1, float("nan")], ids=["2", "1", "0", "negative", "nan"])
def test_p_value_thresholds_out_of_range_are_refused(threshold):
    """ks(x, x, threshold=2) used to call identical samples drifted."""
    x = [1.0, 2.0, 3.0]
    for test in (ks, chi_square):
        with pytest.raises(ValueError, match=r"threshold: expected a finite number in \(0, 1\)"):
            test(x, x, threshold=threshold)


@pytest.mark.parametrize("share", [float("nan"), 2, -0.5], ids=["nan", "2", "negative"])
def test_drift_share_out_of_range_is_refused(share):
    """With drift_share NaN or 2 the dataset used to be always or never drifted."""
    with pytest.raises(ValueError, match=r"drift_share: expected a finite number in \[0, 1\]"):
        DriftOptions(drift_share=share)
    table = drift_table(*_frames(n_ref=50, n_cur=50))
    with pytest.raises(ValueError, match=r"drift_share: expected a finite number in \[0, 1\]"):
        drift.DriftTable.from_frame(table.frame, drift_share=share)
    result = {"meta": {"name": "KSDrift"}, "data": {"p_val": np.array([0.5]), "threshold": 0.05}}
    with pytest.raises(ValueError, match="drift_share"):
        drift_adapters.from_alibi(result, ["x"], drift_share=share)


@pytest.mark.parametrize("freq", ["-1D", "0D", "-6h"])
def test_timeline_refuses_negative_or_zero_windows(synthetic, freq):
    ref, stream = synthetic
    with pytest.raises(ValueError, match=f"freq: expected a positive window length .*got '{freq}'"):
        drift_timeline(ref, stream, freq=freq, methods=["ks"])


def test_duplicate_column_names_are_refused():
    ref, cur = _frames(n_ref=50, n_cur=50)
    twice = pd.concat([cur, cur["x"]], axis=1)
    with pytest.raises(ValueError, match=r"current_df.columns: expected unique column names, got <duplicated \['x'\]>"):
        drift_table(ref, twice)


def test_timeline_with_tz_aware_times_across_a_dst_change():
    """Times with a time zone are windowed in UTC: no AmbiguousTimeError at the autumn DST change."""
    t = pd.date_range("2012-10-27", "2012-10-30", freq="h", tz="Europe/London")
    stream = pd.DataFrame({"timestamp": t, "x": np.random.default_rng(0).normal(size=t.size)})
    ref = pd.DataFrame({"x": np.random.default_rng(1).normal(size=300)})
    tl = drift_timeline(ref, stream, methods=["ks"])
    assert tl["n"].sum() == t.size and tl["window_start"].dt.tz is None


def test_multivariate_tests_limit_their_threads(monkeypatch):
    """mmd and domain_classifier run their BLAS/OpenMP work with one thread (issue 15)."""
    import threadpoolctl

    seen = []
    real = threadpoolctl.threadpool_limits

    def spy(*args, **kwargs):
        seen.append(kwargs.get("limits", args[0] if args else None))
        return real(*args, **kwargs)

    monkeypatch.setattr(drift, "threadpool_limits", spy)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(60, 2))
    drift.mmd(x, y, n_permutations=20)
    drift.domain_classifier(x, y, cv=2)
    assert seen == [1, 1]
