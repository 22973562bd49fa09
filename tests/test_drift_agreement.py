"""labkit.drift agrees with scipy, Evidently 0.7.23 and alibi-detect 0.13.0 on the bike data.

reference = the 2011 rows, current = the 2012 rows. Evidently and alibi are slow to import, so each
is imported once per module (fixtures) and Evidently's Report runs once.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from labkit import drift
from labkit.drift_adapters import from_alibi, from_evidently

REPO = Path(__file__).resolve().parents[1]
FEATURES = ["temp", "atemp", "hum", "windspeed", "hr", "weekday", "season", "weathersit", "workingday", "holiday"]
NUMERICAL = ["temp", "atemp", "hum", "windspeed", "hr"]  # Evidently 0.7: floats + ints with > 10 values
CATEGORICAL = ["weekday", "season", "weathersit", "workingday", "holiday"]
TOL = 1e-9


@pytest.fixture(scope="module")
def bike():
    from labkit.data import load_hourly  # the data ships in data/; a missing file is an error, not a skip

    df = load_hourly()
    ref = df[df["yr"] == 0].reset_index(drop=True)
    cur = df[df["yr"] == 1].reset_index(drop=True)
    return ref, cur


@pytest.fixture(scope="module")
def ev():
    """Evidently's legacy stattest functions (the ones its 0.7 Report calls)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # evidently and alibi-detect are pinned: an import that breaks must fail these tests, not skip them
        from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
        from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
        from evidently.legacy.calculations.stattests.kl_div import _kl_div
        from evidently.legacy.calculations.stattests.psi import _psi
        from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
        from evidently.legacy.calculations.stattests.z_stattest import _z_stat_test
        from evidently.legacy.core import ColumnType
    return dict(psi=_psi, js_distance=_jensenshannon, kl_divergence=_kl_div, wasserstein=_wasserstein_distance_norm,
                chisquare=_chi_stat_test, z=_z_stat_test, ColumnType=ColumnType)


@pytest.fixture(scope="module")
def ev_report(bike):
    """One Evidently ``Report([DataDriftPreset()])`` run on 2011 vs 2012 (and one on a 1000-row reference)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import Report
        from evidently.presets import DataDriftPreset

        ref, cur = bike
        big = Report([DataDriftPreset()]).run(cur[FEATURES], ref[FEATURES])
        small_ref = ref[FEATURES].sample(1000, random_state=0).reset_index(drop=True)
        small_cur = cur[FEATURES].sample(700, random_state=0).reset_index(drop=True)
        small = Report([DataDriftPreset()]).run(small_cur, small_ref)
    return big, small, small_ref, small_cur


@pytest.fixture(scope="module")
def alibi():
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import alibi_detect.cd as cd
    return cd


# ---------------------------------------------------------------------------------------------
# scipy
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("col", FEATURES)
def test_ks_equals_ks_2samp(bike, col):
    ref, cur = bike
    r, s = drift.ks(ref[col], cur[col]), stats.ks_2samp(ref[col], cur[col])
    assert (r.statistic, r.p_value) == (s.statistic, s.pvalue)


def test_timeline_ks_equals_ks_2samp_on_real_windows(bike):
    ref, cur = bike
    cols = ["temp", "hum", "windspeed", "hr"]
    tl = drift.drift_timeline(ref[cols], cur[cols + ["timestamp"]], methods=["ks", "wasserstein"])
    days = cur["timestamp"].dt.floor("D")
    picks = pd.to_datetime(["2012-01-01", "2012-03-15", "2012-07-04", "2012-10-29", "2012-10-30", "2012-12-25"])
    checked = 0
    for day in picks:
        window = cur[days == day]
        for col in cols:
            rows = tl[(tl["window_start"] == day) & (tl["column"] == col)].set_index("method")
            s = stats.ks_2samp(ref[col], window[col])
            assert rows.loc["ks", "statistic"] == s.statistic
            assert rows.loc["ks", "p_value"] == pytest.approx(s.pvalue, rel=1e-12, abs=0)
            w = stats.wasserstein_distance(ref[col], window[col]) / max(np.std(ref[col]), 0.001)
            assert rows.loc["wasserstein", "statistic"] == pytest.approx(w, rel=TOL, abs=TOL)
            assert rows.loc["ks", "n"] == len(window)
            checked += 1
    assert checked == 24
    assert tl.loc[tl["window_start"] == "2012-10-29", "n"].iloc[0] == 1  # Hurricane Sandy: one hourly row


# ---------------------------------------------------------------------------------------------
# Evidently's stattest functions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("col", FEATURES)
@pytest.mark.parametrize("method", ["psi", "js_distance", "kl_divergence"])
def test_binned_statistics_equal_evidently(bike, ev, col, method):
    ref, cur = bike
    ct = ev["ColumnType"]
    kind = ct.Numerical if col in NUMERICAL else ct.Categorical
    expected = ev[method](ref[col], cur[col], kind, 0.1)[0]
    bins = "auto" if col in NUMERICAL else "categories"
    assert drift.__dict__[method](ref[col], cur[col], bins=bins).statistic == pytest.approx(expected, rel=TOL, abs=TOL)


@pytest.mark.parametrize("col", NUMERICAL)
def test_normed_wasserstein_equals_evidently(bike, ev, col):
    ref, cur = bike
    expected = ev["wasserstein"](ref[col], cur[col], ev["ColumnType"].Numerical, 0.1)[0]
    assert drift.wasserstein(ref[col], cur[col]).statistic == pytest.approx(expected, rel=TOL, abs=TOL)


@pytest.mark.parametrize("col", ["weekday", "season", "weathersit"])
def test_goodness_of_fit_chi_square_equals_evidently(bike, ev, col):
    ref, cur = bike
    expected = ev["chisquare"](ref[col], cur[col], ev["ColumnType"].Categorical, 0.05)[0]
    assert drift.chi_square(ref[col], cur[col], test="goodness_of_fit").p_value == pytest.approx(expected, rel=TOL)


@pytest.mark.parametrize("col", ["workingday", "holiday"])
def test_default_chi_square_equals_evidently_z_test_on_binary_columns(bike, ev, col):
    ref, cur = bike
    expected = ev["z"](ref[col], cur[col], ev["ColumnType"].Categorical, 0.05)[0]
    assert drift.chi_square(ref[col], cur[col]).p_value == pytest.approx(expected, rel=1e-7)


def test_psi_of_small_windows_equals_evidently(bike, ev):
    """Same numbers on 24-row windows, where the empty-bin filler dominates PSI."""
    ref, cur = bike
    ct = ev["ColumnType"]
    for start in (0, 2400, 5000):
        window = cur.iloc[start : start + 24]
        for col in ("temp", "hum", "weathersit"):
            kind = ct.Numerical if col in NUMERICAL else ct.Categorical
            bins = "auto" if col in NUMERICAL else "categories"
            expected = ev["psi"](ref[col], window[col], kind, 0.1)[0]
            assert drift.psi(ref[col], window[col], bins=bins).statistic == pytest.approx(expected, rel=TOL)


# ---------------------------------------------------------------------------------------------
# Evidently's Report
# ---------------------------------------------------------------------------------------------
def test_drift_table_equals_evidently_report(bike, ev_report):
    ref, cur = bike
    big, *_ = ev_report
    ours = drift.drift_table(ref[FEATURES], cur[FEATURES]).frame.set_index("column")
    theirs = from_evidently(big).frame.set_index("column")
    assert list(theirs.index) == FEATURES
    assert (ours["method"] == theirs["method"]).all()
    np.testing.assert_allclose(ours["statistic"], theirs["statistic"], rtol=TOL, atol=TOL)
    assert (ours["drifted"] == theirs["drifted"]).all()
    assert (ours["kind"] == np.where(ours.index.isin(NUMERICAL), "numerical", "categorical")).all()


def test_drift_table_small_reference_matches_evidently_p_values(ev_report):
    _, small, small_ref, small_cur = ev_report
    theirs = from_evidently(small).frame.set_index("column")
    ours = drift.drift_table(small_ref, small_cur).frame.set_index("column")
    for col in FEATURES:
        method = theirs.loc[col, "method"]
        if method == "ks":
            assert ours.loc[col, "method"] == "ks"
            assert ours.loc[col, "p_value"] == pytest.approx(theirs.loc[col, "p_value"], rel=TOL)
        elif method == "z_test":  # two categories: labkit's chi-square gives the same p-value
            assert ours.loc[col, "method"] == "chi_square"
            assert ours.loc[col, "p_value"] == pytest.approx(theirs.loc[col, "p_value"], rel=1e-7)
        else:  # Evidently's chi-square is goodness of fit
            assert method == "chi_square"
            gof = drift.chi_square(small_ref[col], small_cur[col], test="goodness_of_fit")
            assert gof.p_value == pytest.approx(theirs.loc[col, "p_value"], rel=TOL)


# ---------------------------------------------------------------------------------------------
# alibi-detect
# ---------------------------------------------------------------------------------------------
def _f32(values):
    return np.asarray(values, dtype=np.float32)


def test_ksdrift_equals_ks_asymp(bike, alibi):
    ref, cur = bike
    x_ref, x = ref[NUMERICAL].to_numpy(float), cur[NUMERICAL].to_numpy(float)
    res = alibi.KSDrift(x_ref, p_val=0.05).predict(x, drift_type="feature")["data"]
    ours = [drift.ks(ref[c], cur[c], method="asymp") for c in NUMERICAL]
    np.testing.assert_array_equal(_f32([r.statistic for r in ours]), res["distance"])
    np.testing.assert_allclose(_f32([r.p_value for r in ours]), res["p_val"], rtol=1e-6, atol=1e-30)
    table = from_alibi(alibi.KSDrift(x_ref, p_val=0.05).predict(x), NUMERICAL).frame
    assert (table["method"] == "ks").all() and table["threshold"].iloc[0] == pytest.approx(0.05 / 5)


def test_chisquaredrift_equals_chi_square_with_yates(bike, alibi):
    ref, cur = bike
    x_ref, x = ref[CATEGORICAL].to_numpy(float), cur[CATEGORICAL].to_numpy(float)
    det = alibi.ChiSquareDrift(x_ref, p_val=0.05)  # categories inferred from the reference
    res = det.predict(x, drift_type="feature")["data"]
    ours = [drift.chi_square(ref[c], cur[c], yates=True) for c in CATEGORICAL]
    np.testing.assert_allclose(_f32([r.statistic for r in ours]), res["distance"], rtol=1e-6)
    np.testing.assert_allclose(_f32([r.p_value for r in ours]), res["p_val"], rtol=1e-6, atol=1e-30)


def test_tabulardrift_agrees_and_adapts(bike, alibi):
    ref, cur = bike
    x_ref, x = ref[FEATURES].to_numpy(float), cur[FEATURES].to_numpy(float)
    cats = {FEATURES.index(c): None for c in CATEGORICAL}
    result = alibi.TabularDrift(x_ref, p_val=0.05, categories_per_feature=cats).predict(x)
    table = from_alibi(result, FEATURES, categorical=CATEGORICAL).frame.set_index("column")
    for col in FEATURES:
        ours = drift.ks(ref[col], cur[col], method="asymp") if col in NUMERICAL else drift.chi_square(
            ref[col], cur[col], yates=True)
        assert table.loc[col, "method"] == ours.method
        assert table.loc[col, "p_value"] == pytest.approx(float(np.float32(ours.p_value)), rel=1e-6, abs=1e-30)
        assert table.loc[col, "drifted"] == (ours.p_value < 0.05 / len(FEATURES))


def test_alibi_per_window_agrees_with_timeline(bike, alibi):
    ref, cur = bike
    tl = drift.drift_timeline(ref[NUMERICAL], cur[NUMERICAL + ["timestamp"]], methods=["ks"],
                              options=drift.DriftOptions(ks_method="asymp"))
    det = alibi.KSDrift(ref[NUMERICAL].to_numpy(float), p_val=0.05)
    days = cur["timestamp"].dt.floor("D")
    for day in pd.to_datetime(["2012-02-14", "2012-08-01"]):
        res = det.predict(cur.loc[days == day, NUMERICAL].to_numpy(float), drift_type="feature")["data"]
        rows = tl[tl["window_start"] == day].set_index("column").loc[NUMERICAL]
        np.testing.assert_array_equal(_f32(rows["statistic"]), res["distance"])
        np.testing.assert_allclose(_f32(rows["p_value"]), res["p_val"], rtol=1e-6, atol=1e-30)


# ---------------------------------------------------------------------------------------------
# defaults documented in docs/drift.md (linked from the module docstring)
# ---------------------------------------------------------------------------------------------
def test_documented_default_differences_are_in_the_docs():
    assert "docs/drift.md" in drift.__doc__
    doc = (REPO / "docs" / "drift.md").read_text(encoding="utf-8")
    for phrase in ("p <= threshold", 'method="asymp"', "Yates", "goodness_of_fit", "sqrt(ln 2)",
                   "max(std(reference, ddof=0), 0.001)", "Sturges", "1e-4", "≥ 0.5"):
        assert phrase in doc, phrase
