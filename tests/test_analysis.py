"""labkit.analysis: timelines, lagged correlation, residuals, segments, importance, loss estimation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

from labkit import analysis as an
from labkit import baseline as bl
from labkit.data import FEATURES
from labkit.drift import drift_timeline


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """OpenMP threads fighting over two shared cores make tree fits 5-20x slower."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def story(hourly, _one_thread):
    """The real 2012 story: a baseline (100 iterations), its 2012 predictions, a winter-only model."""
    base = bl.fit_baseline(hourly, max_iter=100)
    _, _, prod = bl.split_periods(hourly)
    prod = prod.assign(prediction=base.predict(prod))
    winter = hourly[hourly["timestamp"] < "2011-04-01"]
    winter_model = bl.make_model().set_params(max_iter=100).fit(winter[FEATURES], winter["cnt"])
    return {"baseline": base, "prod": prod, "winter_model": winter_model}


def _frame(n_days=10, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2012-01-01", periods=24 * n_days, freq="h")
    y = rng.poisson(100, t.size).astype(float)
    return pd.DataFrame({"timestamp": t, "cnt": y, "prediction": y + rng.normal(5, 10, t.size),
                         "x": rng.normal(size=t.size), "hr": t.hour, "workingday": (t.dayofweek < 5).astype(int)})


# --------------------------------------------------------------------------- error timeline and drift signals


def test_error_timeline_matches_groupby():
    df = _frame()
    et = an.error_timeline(df, freq="D")
    resid = df["cnt"] - df["prediction"]
    g = resid.groupby(df["timestamp"].dt.floor("D"))
    np.testing.assert_allclose(et["mae"], g.apply(lambda r: r.abs().mean()))
    np.testing.assert_allclose(et["rmse"], g.apply(lambda r: np.sqrt((r ** 2).mean())))
    np.testing.assert_allclose(et["mean_residual"], g.mean())
    assert et["n"].tolist() == [24] * 10


@pytest.mark.parametrize("freq", ["D", "W", "MS"])
def test_error_timeline_windows_match_drift_timeline(freq):
    df = _frame(n_days=70)
    et = an.error_timeline(df, freq=freq)
    tl = drift_timeline(df[["x"]], df, freq=freq, columns=["x"], methods=["wasserstein"])
    assert list(et.index) == list(tl["window_start"])
    sig = an.drift_signals(df, df, columns=["x"], freq=freq)
    np.testing.assert_allclose(sig["x"].to_numpy(), tl["statistic"].to_numpy())
    assert list(sig.columns) == ["x", "mean", "max"]


def test_error_timeline_refuses_missing_labels():
    df = _frame()
    df.loc[5, "cnt"] = np.nan
    with pytest.raises(ValueError, match=r"df\['cnt'\]: expected a number in every row, got <1 missing.*dropna"):
        an.error_timeline(df)


# --------------------------------------------------------------------------- lagged correlation


def _manual_lag_corr(e, s, k):
    if k > 0:
        a, b = e[k:], s[:-k]
    elif k < 0:
        a, b = e[:k], s[-k:]
    else:
        a, b = e, s
    return np.corrcoef(a, b)[0, 1]


def test_lagged_correlation_matches_numpy_at_every_lag():
    rng = np.random.default_rng(3)
    t = pd.date_range("2012-01-01", periods=60, freq="D")
    s = rng.normal(size=60)
    e = np.r_[np.zeros(2), s[:-2]] * 3 + rng.normal(size=60)
    res = an.lagged_correlation(pd.Series(e, t), pd.Series(s, t, name="temp"), lags=range(-3, 4))
    for k in range(-3, 4):
        row = res.table[res.table["lag"] == k].iloc[0]
        assert row["correlation"] == pytest.approx(_manual_lag_corr(e, s, k), abs=1e-12)
        assert row["n"] == 60 - abs(k)
    assert (res.leader, res.leader_lag, res.leads) == ("temp", 2, True)


def test_lagged_correlation_spearman_matches_scipy():
    rng = np.random.default_rng(4)
    t = pd.date_range("2012-01-02", periods=30, freq="W-MON")
    s, e = rng.normal(size=30), rng.normal(size=30)
    res = an.lagged_correlation(pd.Series(e, t), pd.Series(s, t), lags=[1], method="spearman")
    assert res.table["correlation"].iloc[0] == pytest.approx(stats.spearmanr(e[1:], s[:-1]).statistic)
    assert res.freq == "W-MON"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=6, max_size=40), st.integers(0, 10_000))
def test_lag0_equals_pandas_corr(values, seed):
    assume(np.ptp(values) > 1e-6)
    t = pd.date_range("2012-01-01", periods=len(values), freq="D")
    e = pd.Series(values, t)
    s = pd.Series(np.random.default_rng(seed).normal(size=len(values)), t)
    r = an.lagged_correlation(e, s, lags=[0]).table["correlation"].iloc[0]
    expected = e.corr(s)
    assert (np.isnan(r) and np.isnan(expected)) or r == pytest.approx(expected, abs=1e-9)


def test_lagged_correlation_keeps_gaps_as_gaps():
    """A window missing from both series must not shift the pairing."""
    rng = np.random.default_rng(5)
    t = pd.date_range("2012-01-01", periods=40, freq="D")
    e, s = pd.Series(rng.normal(size=40), t), pd.Series(rng.normal(size=40), t)
    drop = t[[10, 25]]
    res = an.lagged_correlation(e.drop(drop), s.drop(drop), lags=[1], freq="D")
    full_e, full_s = e.copy(), s.shift(1)
    full_e[drop] = np.nan
    full_s[drop + pd.Timedelta(days=1)] = np.nan
    ok = full_e.notna() & full_s.notna()
    assert res.table["n"].iloc[0] == ok.sum()
    assert res.table["correlation"].iloc[0] == pytest.approx(full_e[ok].corr(full_s[ok]))


def test_lagged_correlation_errors():
    t = pd.date_range("2012-01-01", periods=30, freq="D")
    e = pd.Series(np.arange(30.0), t)
    weekly = pd.Series(np.arange(5.0), pd.date_range("2012-01-02", periods=5, freq="W-MON"))
    with pytest.raises(ValueError, match="misaligned.*same freq"):
        an.lagged_correlation(e, weekly)
    gappy = e.iloc[[0, 1, 5, 6, 20]]
    with pytest.raises(ValueError, match="cannot infer the window frequency.*freq="):
        an.lagged_correlation(gappy, gappy)
    with pytest.raises(ValueError, match="no lag in"):
        an.lagged_correlation(e.iloc[:6], e.iloc[:6], lags=[4])
    with pytest.raises(TypeError, match="DatetimeIndex"):
        an.lagged_correlation(pd.Series([1.0, 2, 3]), pd.Series([1.0, 2, 3]))
    with pytest.raises(ValueError, match="method: expected one of"):
        an.lagged_correlation(e, e, method="kendall")


# --------------------------------------------------------------------------- residuals and segments


def test_residual_summary_matches_numpy():
    df = _frame()
    r = an.residual_summary(df["cnt"], df["prediction"])
    resid = (df["cnt"] - df["prediction"]).to_numpy()
    assert r.mean_residual == pytest.approx(resid.mean())
    assert r.std_residual == pytest.approx(resid.std(ddof=1))
    assert r.mae == pytest.approx(np.abs(resid).mean())
    assert r.share_under == pytest.approx((resid > 0).mean())
    assert r.direction == "over-predicts"  # predictions were 5 too high on average
    assert r.to_frame().shape == (1, 10)


@pytest.mark.parametrize("y_true, y_pred, match", [
    ([1, np.nan], [1, 2], r"y_true: expected a number in every row, got <1 missing.*label"),
    ([1, 2], [1, 2, 3], "y_pred: expected the same length as y_true"),
    ([1, 2], [1, np.inf], "y_pred: expected a number in every row, got <1 missing"),
], ids=["missing-label", "length", "bad-prediction"])
def test_residual_summary_errors(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        an.residual_summary(y_true, y_pred)


def test_segment_errors_matches_groupby_and_flags_small_segments():
    df = _frame(n_days=14)
    df["weathersit"] = 1
    df.loc[:4, "weathersit"] = 4  # five rows: too small
    r = an.segment_errors(df, by=["hr", "weathersit"], min_rows=10)
    ae = (df["cnt"] - df["prediction"]).abs()
    by_hr = ae.groupby(df["hr"]).mean()
    hr = r.table[r.table["by"] == "hr"].set_index("segment")
    np.testing.assert_allclose(hr["mae"], by_hr)
    assert hr["n"].sum() == len(df)
    d = r.disparity.set_index("by")
    assert d.loc["hr", "best"] == pytest.approx(by_hr.min())
    assert d.loc["hr", "ratio"] == pytest.approx(by_hr.min() / by_hr.max())
    # the 5-row weather segment is reported, not averaged away, and leaves one eligible segment
    assert r.too_small.values.tolist() == [["weathersit", 4, 5]]
    assert np.isnan(d.loc["weathersit", "ratio"]) and "fewer than 2 segments" in d.loc["weathersit", "note"]
    w = r.table[r.table["by"] == "weathersit"].set_index("segment")
    assert w.loc[4, "too_small"] and w.loc[4, "mae"] == pytest.approx(ae[:5].mean())


def test_segment_errors_wape_metric():
    df = pd.DataFrame({"g": ["a", "a", "b", "b"], "cnt": [10, 10, 100, 100], "prediction": [8, 8, 90, 90]})
    r = an.segment_errors(df, by="g", min_rows=1, metric="wape")
    assert r.disparity["best_segment"].iloc[0] == "b"  # 10% vs 20%, though its MAE is larger
    assert r.disparity["ratio"].iloc[0] == pytest.approx(0.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"by": ["nope"]}, r"by: expected columns of df, got <missing \['nope'\]>"),
    ({"by": ["hr"], "min_rows": 0}, "min_rows: expected an int >= 1"),
    ({"by": ["hr"], "metric": "r2"}, "metric: expected one of"),
], ids=["missing-column", "min-rows", "metric"])
def test_segment_errors_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        an.segment_errors(_frame(), **kwargs)


def _previous_segment_table(df, col):
    """The segment table the lab showed before fairlearn: a plain pandas groupby."""
    resid = df["cnt"] - df["prediction"]
    w = pd.DataFrame({"segment": df[col].to_numpy(), "ae": resid.abs().to_numpy(), "se": (resid ** 2).to_numpy(),
                      "res": resid.to_numpy(), "y": df["cnt"].to_numpy()})
    g = w.groupby("segment", sort=True)
    return pd.DataFrame({"n": g.size(), "mae": g["ae"].mean(), "rmse": np.sqrt(g["se"].mean()),
                         "mean_residual": g["res"].mean(), "wape": g["ae"].sum() / g["y"].sum()})


def test_segment_errors_metricframe_equals_the_previous_tables(story):
    """fairlearn's MetricFrame gives the numbers of the earlier groupby tables (to rounding) on 2012."""
    prod = story["prod"]
    r = an.segment_errors(prod, metric="wape")
    for col in an.DEFAULT_SEGMENTS:
        got = r.table[r.table["by"] == col].set_index("segment")
        before = _previous_segment_table(prod, col)
        assert got.index.tolist() == before.index.tolist() and got["n"].tolist() == before["n"].tolist()
        for metric in ["mae", "rmse", "mean_residual", "wape"]:
            np.testing.assert_allclose(got[metric], before[metric], rtol=1e-12)
        ok = before[before["n"] >= 30]["wape"]
        d = r.disparity.set_index("by").loc[col]
        assert d["ratio"] == pytest.approx(ok.min() / ok.max(), rel=1e-12)
        assert d["worst_segment"] == ok.idxmax() and d["flagged"] == (ok.min() / ok.max() < 0.8)
        frame = r.frames[col]  # the rule is on the MetricFrame of the segments large enough
        assert frame.ratio()["wape"] == d["ratio"] and frame.difference()["wape"] == pytest.approx(ok.max() - ok.min())
    assert r.too_small.values.tolist() == [["weathersit", 4, 2]]  # two hours of heavy rain: reported, not used


# --------------------------------------------------------------------------- importance


def test_importance_shift_equals_sklearn():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400), "c": rng.normal(size=400)})
    y = 3 * X["a"] + X["b"] + rng.normal(0, 0.1, 400)
    model = LinearRegression().fit(X, y)
    ref = X.assign(cnt=y)
    cur = X.assign(b=X["b"] * 4, cnt=3 * X["a"] + 4 * X["b"])  # b matters more now
    res = an.importance_shift(model, ref, cur, n_repeats=3, seed=7, max_rows=None)
    direct = permutation_importance(model, cur[["a", "b", "c"]], cur["cnt"], scoring="neg_mean_absolute_error",
                                    n_repeats=3, random_state=7)
    t = res.table.set_index("feature").loc[["a", "b", "c"]]
    np.testing.assert_allclose(t["importance_current"], direct.importances_mean)
    np.testing.assert_allclose(t["std_current"], direct.importances_std)
    assert t["share_reference"].sum() == pytest.approx(1)
    assert t.loc["a", "rank_reference"] == 1 and t.loc["b", "rank_current"] == 1
    assert t.loc["b", "rank_change"] == 1


def test_importance_shift_needs_features_for_plain_arrays():
    class Bare:
        def predict(self, X):
            return np.zeros(len(X))

    df = _frame()
    with pytest.raises(ValueError, match=r"pass features=\[\.\.\.\]"):
        an.importance_shift(Bare(), df, df)


def test_importance_shift_on_the_baseline(story):
    res = an.importance_shift(story["baseline"], story["baseline"].reference, story["prod"], n_repeats=2, max_rows=800)
    top = res.table.iloc[0]
    assert top["feature"] == "hr" and top["rank_reference"] == 1  # hour of day dominates, then and now
    assert 0 < res.rank_correlation <= 1


def _shap_world(seed=0):
    """A model of y = 3a + b; the current stream has a larger spread of b from its day 8 on."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(seed)
    t = pd.date_range("2012-01-01", periods=24 * 28, freq="h")
    X = pd.DataFrame({"a": rng.normal(size=t.size), "b": rng.normal(size=t.size)})
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, 3 * X["a"] + X["b"])
    ref = X.iloc[: 24 * 14].assign(timestamp=t[: 24 * 14])
    cur = X.iloc[24 * 14:].reset_index(drop=True).assign(timestamp=t[24 * 14:])
    cur.loc[cur["timestamp"] >= "2012-01-22", "b"] *= 4
    return model, ref, cur


def test_shap_drift_profiles_equal_shap_and_alert_on_a_moved_profile():
    model, ref, cur = _shap_world()
    r = an.shap_drift(model, ref, cur, freq="W", n_rows=100, seed=1)
    import shap  # after shap_drift, which imports it without its matplotlib deprecation warnings

    direct = np.abs(shap.TreeExplainer(model).shap_values(ref[["a", "b"]])).mean(axis=0)
    np.testing.assert_allclose(r.reference[["a", "b"]], direct, rtol=1e-9)
    t = r.to_frame()
    assert t["n"].tolist() == [24, 100, 100] and (t["threshold"] > 0).all()  # a partial first week
    assert t["alert"].tolist() == [False, False, True]  # b's share grows only in the last week
    np.testing.assert_allclose(r.shares().sum(axis=1), 1)
    assert r.shares().loc["reference", "a"] > 0.5


def test_shap_drift_on_2012(story):
    """Label-free: fires on the seasons (winter, summer), quiet in late 2012 while the error is largest."""
    base = story["baseline"]
    r = an.shap_drift(base, base.reference, story["prod"], n_rows=100)
    alert = r.table["alert"]
    assert alert.loc["2012-01-01"] and alert.loc["2012-07-01"] and not alert.loc["2012-11-01"]


# --------------------------------------------------------------------------- performance estimation


def _linear_world(seed=0):
    """Model y = 2x fitted on |x| < 1; the truth bends for larger x, so the error grows with |x|."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2012-01-01", periods=24 * 70, freq="h")
    x = np.r_[rng.uniform(-1, 1, 24 * 35), rng.uniform(-1, 1, 24 * 35) * np.repeat(np.linspace(1, 3, 35), 24)]
    y = 2 * x + 0.5 * np.abs(x) ** 3 + rng.normal(0, 0.1, x.size)
    df = pd.DataFrame({"timestamp": t, "x": x, "cnt": y})
    model = LinearRegression().fit(df[["x"]].iloc[: 24 * 35], 2 * x[: 24 * 35])
    return df.iloc[: 24 * 35], df.iloc[24 * 35:].reset_index(drop=True), model


def test_estimate_performance_follows_unfamiliar_inputs():
    ref, cur, model = _linear_world()
    le = an.fit_loss_estimator(model, ref, features=["x"])
    assert le.reference_mae == pytest.approx(np.abs(ref["cnt"] - model.predict(ref[["x"]])).mean())
    pe = an.estimate_performance(le, cur, freq="W")
    t = pe.table
    assert t["estimated_mae"].iloc[-1] > t["estimated_mae"].iloc[0]
    assert pe.estimate_correlation > 0.8 and pe.naive_gap > 0
    realised = np.abs(cur["cnt"] - model.predict(cur[["x"]])).groupby(cur["timestamp"].dt.to_period("W").dt.start_time)
    np.testing.assert_allclose(t["realised_mae"], realised.mean())
    assert (t["naive_mae"] == le.reference_mae).all()
    assert le.predict(cur).shape == (len(cur),) and le.to_frame()["label_col"].iloc[0] == "cnt"


def test_estimate_performance_without_and_with_partial_labels():
    ref, cur, model = _linear_world()
    le = an.fit_loss_estimator(model, ref, features=["x"])
    none = an.estimate_performance(le, cur.drop(columns="cnt"))
    assert none.table["realised_mae"].isna().all() and np.isnan(none.estimate_gap) and none.n_labelled_windows == 0
    partial = cur.copy()
    partial.loc[partial.index >= 24 * 20, "cnt"] = np.nan  # labels not arrived for the last 15 days
    pe = an.estimate_performance(le, partial, freq="W")
    assert pe.table["n_labelled"].sum() == 24 * 20
    assert pe.table["realised_mae"].isna().sum() >= 1
    full = an.estimate_performance(le, cur, freq="W")
    np.testing.assert_allclose(pe.table["estimated_mae"], full.table["estimated_mae"])


def test_loss_estimator_errors():
    ref, cur, model = _linear_world()
    with pytest.raises(ValueError, match="missing label"):
        an.fit_loss_estimator(model, ref.assign(cnt=np.nan), features=["x"])
    with pytest.raises(ValueError, match="at least 200 rows"):
        an.fit_loss_estimator(model, ref.iloc[:50], features=["x"])
    with pytest.raises(TypeError, match="expected a LossEstimator"):
        an.estimate_performance(model, cur)


def test_loss_estimation_story(story, hourly):
    """Blind to the 2012 growth, but follows a winter model's summer error (the lab's claim)."""
    base = story["baseline"]
    pe = an.estimate_performance(an.fit_loss_estimator(base, base.reference), story["prod"], freq="W")
    assert pe.estimate_bias < -30  # far too optimistic: realised MAE ~90, estimate ~37
    assert pe.estimate_correlation < 0.3
    april = hourly[(hourly["timestamp"] >= "2011-04-01") & (hourly["timestamp"] < "2011-05-01")]
    later = hourly[(hourly["timestamp"] >= "2011-05-01") & (hourly["timestamp"] < "2012-01-01")]
    le = an.fit_loss_estimator(story["winter_model"], april, features=FEATURES)
    pw = an.estimate_performance(le, later, freq="W")
    assert pw.estimate_gap < pw.naive_gap and pw.estimate_correlation > 0.5


# --------------------------------------------------------------------------- labelled samples


def _shifted_stream(shift_day=10, shift=30.0, n_days=60, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2012-01-01", periods=24 * n_days, freq="h")
    y = rng.normal(100, 10, t.size) + np.where(t >= t[0] + pd.Timedelta(days=shift_day), shift, 0)
    cur = pd.DataFrame({"timestamp": t, "cnt": y, "prediction": 100.0})
    ref = pd.DataFrame({"cnt": rng.normal(100, 10, 2000), "prediction": 100.0})
    return ref, cur


def test_label_sample_detection_full_labels_and_delay():
    ref, cur = _shifted_stream()
    d0 = an.label_sample_detection(ref, cur, rate=0.05, spec=an.LabelSampleSpec(n_draws=50))
    assert d0.full_label_days == 11  # the shift starts on day 11: detected the same evening
    d3 = an.label_sample_detection(ref, cur, rate=0.05, label_delay_days=3, spec=an.LabelSampleSpec(n_draws=50))
    assert d3.full_label_days == 14
    assert d0.median_days > d0.full_label_days and d0.share_detected > 0.9
    assert d0.alpha_per_look == pytest.approx(0.05 / 60)
    assert len(d0.to_frame()) == 50 and d0.summary().shape[0] == 2


def test_label_sample_detection_no_shift_rarely_alarms():
    ref, cur = _shifted_stream(shift=0.0)
    d = an.label_sample_detection(ref, cur, rate=0.05, spec=an.LabelSampleSpec(seed=1))
    assert d.share_detected <= 0.05 and np.isnan(d.full_label_days)


def test_label_sample_detection_errors():
    ref, cur = _shifted_stream()
    with pytest.raises(ValueError, match=r"rate: expected a finite number in \(0, 1\]"):
        an.label_sample_detection(ref, cur, rate=0)
    with pytest.raises(ValueError, match="missing label"):
        an.label_sample_detection(ref, cur.assign(cnt=np.nan))
    with pytest.raises(ValueError, match="spec.correction: expected one of"):
        an.label_sample_detection(ref, cur, spec=an.LabelSampleSpec(correction="holm"))


def test_label_sample_detection_story(story):
    d = an.label_sample_detection(story["baseline"].reference, story["prod"], rate=0.01,
                                  spec=an.LabelSampleSpec(n_draws=100))
    assert d.full_label_days <= 3  # all labels, no delay: the bias shows within days
    assert 20 < d.median_days < 200 and d.share_detected > 0.9
    assert d.current_value > 60 > 0 > d.reference_value  # mean residual: +83 in 2012 vs -7 on the reference
