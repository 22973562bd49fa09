"""labkit.monitoring.windows: every windowed metric equals a direct computation on that window's rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import drift
from labkit.baseline import regression_metrics
from labkit.monitoring.prediction_log import PredictionLogger
from labkit.monitoring.windows import (
    PER_FEATURE_PREFIXES,
    WINDOW_COLUMNS,
    WindowSpec,
    feature_kinds,
    window_ends,
    windowed_metrics,
)

FEATURES = ["temp", "hr", "weather"]


@pytest.fixture(autouse=True)
def _artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))


def make_log(n_days=3, seed=0, label_share=0.7):
    rng = np.random.default_rng(seed)
    n = 24 * n_days
    t = pd.date_range("2012-03-01", periods=n, freq="h")
    pred = rng.uniform(0, 300, n)
    label = pred + rng.normal(0, 30, n)
    label[rng.random(n) > label_share] = np.nan
    temp = rng.uniform(0.1, 0.9, n)
    temp[rng.random(n) < 0.1] = np.nan
    log = pd.DataFrame({
        "event_time": t, "prediction": pred, "label": label,
        "label_time": t + pd.Timedelta("1D"), "latency_seconds": rng.uniform(0.001, 0.01, n),
        "temp": temp, "hr": t.hour, "weather": rng.choice(["clear", "mist", "snow"], n),
        "age_temp": rng.uniform(0, 7200, n),
    })
    log.loc[log["weather"] == "snow", "weather"] = None  # some missing
    log.loc[5, "weather"] = "tornado"                    # unseen in the reference
    log.attrs["features"] = FEATURES
    return log


def make_reference(seed=1):
    rng = np.random.default_rng(seed)
    n = 500
    return pd.DataFrame({"temp": rng.uniform(0.2, 0.8, n), "hr": np.arange(n) % 24,
                         "weather": rng.choice(["clear", "mist", "snow"], n)})


def test_columns_and_index():
    w = windowed_metrics(make_log(), reference=make_reference())
    per_feature = [f"{p}{f}" for p in PER_FEATURE_PREFIXES for f in FEATURES]
    assert list(w.columns) == WINDOW_COLUMNS + per_feature
    assert w.index.name == "window_start"
    assert w.index.astype(str).tolist() == ["2012-03-01", "2012-03-02", "2012-03-03"]
    assert (w["window_end"] - w.index == pd.Timedelta("1D")).all()
    assert w.attrs["features"] == FEATURES


def test_every_metric_equals_a_direct_computation():
    log, ref = make_log(), make_reference()
    w = windowed_metrics(log, reference=ref)
    for start, row in w.iterrows():
        part = log[log["event_time"].dt.floor("D") == start]
        lab = part.dropna(subset=["label"])
        m = regression_metrics(lab["label"], lab["prediction"])
        assert row["n"] == len(part) and row["n_labelled"] == len(lab)
        assert row["label_coverage"] == pytest.approx(len(lab) / len(part))
        for key in ("mae", "rmse", "r2"):
            assert row[key] == pytest.approx(m[key], rel=1e-10)
        assert row["bias"] == pytest.approx(m["mean_residual"])
        assert row["label_mean"] == pytest.approx(lab["label"].mean())
        assert row["pred_mean"] == pytest.approx(part["prediction"].mean())
        assert row["pred_std"] == pytest.approx(part["prediction"].std())
        for q, col in ((0.05, "pred_p05"), (0.5, "pred_p50"), (0.95, "pred_p95")):
            assert row[col] == pytest.approx(np.quantile(part["prediction"], q))
        for q, col in ((0.5, "latency_p50"), (0.95, "latency_p95"), (0.99, "latency_p99")):
            assert row[col] == pytest.approx(np.quantile(part["latency_seconds"], q))
        cells = part[FEATURES].isna().to_numpy()
        assert row["missing_share"] == pytest.approx(cells.mean())
        assert row["missing_temp"] == pytest.approx(part["temp"].isna().mean())
        outside = (part["temp"] < ref["temp"].min()) | (part["temp"] > ref["temp"].max())
        assert row["out_of_range_share"] == pytest.approx(outside.mean())
        assert row["unseen_categories"] == int((part["weather"] == "tornado").any())
        assert row["age_temp"] == pytest.approx(part["age_temp"].max())
        assert row["feature_age_max_seconds"] == pytest.approx(part["age_temp"].max())
        assert np.isnan(row["age_hr"])
        assert row["throughput_per_hour"] == pytest.approx(len(part) / 24)
        # drift: the same statistic as the univariate functions on this window
        assert row["drift_temp"] == pytest.approx(drift.wasserstein(ref["temp"], part["temp"].dropna()).statistic)
        assert row["drift_hr"] == pytest.approx(
            drift.js_distance(ref["hr"], part["hr"], bins="categories").statistic)
        assert row["drift_weather"] == pytest.approx(
            drift.js_distance(ref["weather"], part["weather"].dropna()).statistic)
        scores = row[[f"drift_{f}" for f in FEATURES]].to_numpy(dtype=float)
        assert row["n_drifted"] == int((scores >= 0.1).sum())


def test_drift_columns_come_from_drift_timeline():
    log, ref = make_log(), make_reference()
    w = windowed_metrics(log, reference=ref, freq="12h")
    tl = drift.drift_timeline(ref, log, time_col="event_time", freq="12h", columns=FEATURES,
                              options=drift.DriftOptions(numerical=["temp"]), categorical=["hr", "weather"],
                              methods={"temp": ["wasserstein"], "hr": ["js_distance"], "weather": ["js_distance"]})
    wide = tl.pivot(index="window_start", columns="column", values="statistic")
    for f in FEATURES:
        np.testing.assert_allclose(w[f"drift_{f}"].to_numpy(), wide[f].to_numpy(), rtol=1e-12)


def test_windows_without_labels_are_explicit_nan():
    log = make_log()
    log.loc[log["event_time"] >= "2012-03-03", "label"] = np.nan
    w = windowed_metrics(log)
    last = w.iloc[-1]
    assert last["n_labelled"] == 0 and last["label_coverage"] == 0
    assert all(np.isnan(last[c]) for c in ("mae", "rmse", "r2", "bias", "label_mean"))
    assert not np.isnan(last["pred_mean"])
    # without a reference the drift/range columns are NaN, not zero
    assert w[["out_of_range_share", "unseen_categories", "n_drifted", "drift_temp"]].isna().all().all()


def test_r2_needs_two_distinct_labels():
    log = make_log(n_days=1, label_share=1.0)
    log["label"] = np.nan
    log.loc[0, "label"] = 5.0
    row = windowed_metrics(log).iloc[0]
    assert row["n_labelled"] == 1 and row["mae"] == pytest.approx(abs(5.0 - log.loc[0, "prediction"]))
    assert np.isnan(row["r2"])


def test_as_of_counts_only_labels_that_had_arrived():
    log = make_log()
    log["label_time"] = log["event_time"] + pd.to_timedelta(np.arange(len(log)) % 48, "h")
    cut = pd.Timestamp("2012-03-02 12:00")
    w = windowed_metrics(log, as_of=cut)
    arrived = log["label"].notna() & (log["label_time"] <= cut)
    expected = arrived.groupby(log["event_time"].dt.floor("D")).sum()
    assert w["n_labelled"].tolist() == expected.tolist()


@pytest.mark.parametrize("freq, starts", [
    ("h", 72), ("6h", 12), ("W", 1), ("MS", 1),
], ids=["hour", "6-hours", "week", "month"])
def test_frequencies(freq, starts):
    w = windowed_metrics(make_log(), freq=freq)
    assert len(w) == starts and w["n"].sum() == 72
    assert (w["window_end"] > w.index).all()


def test_week_windows_start_on_monday_and_throughput_uses_the_window_length():
    log = make_log(n_days=10)
    w = windowed_metrics(log, freq="W")
    assert [d.day_name() for d in w.index] == ["Monday"] * len(w)
    assert (w["window_end"] - w.index == pd.Timedelta("7D")).all()
    assert w["throughput_per_hour"].tolist() == pytest.approx((w["n"] / (7 * 24)).tolist())


def test_include_empty_calendar_windows():
    log = make_log(n_days=21)
    log = log[(log["event_time"] < "2012-03-05") | (log["event_time"] >= "2012-03-19")]
    full = windowed_metrics(log, freq="W", spec=WindowSpec(include_empty=True))
    assert full.index.astype(str).tolist() == ["2012-02-27", "2012-03-05", "2012-03-12", "2012-03-19"]
    assert full["n"].tolist() == [96, 0, 0, 72]


def test_include_empty_windows():
    log = make_log(n_days=4)
    log = log[log["event_time"].dt.day != 3]  # 2012-03-03 has no predictions at all
    w = windowed_metrics(log)
    assert len(w) == 3
    full = windowed_metrics(log, spec=WindowSpec(include_empty=True))
    assert len(full) == 4
    gap = full.loc["2012-03-03"]
    assert gap["n"] == 0 and gap["throughput_per_hour"] == 0 and np.isnan(gap["mae"])
    assert gap["window_end"] == pd.Timestamp("2012-03-04")


def test_reads_a_logger_or_a_path(tmp_path):
    log = make_log(n_days=2)
    path = tmp_path / "w.sqlite"
    with PredictionLogger(path, features=FEATURES) as lg:
        ids = lg.log_batch(log, log["prediction"], event_time=log["event_time"],
                           latency_seconds=log["latency_seconds"])
        has = log["label"].notna().to_numpy()
        lg.log_feedback_batch(np.asarray(ids)[has], log["label"][has], label_time=log["label_time"][has])
        from_logger = windowed_metrics(lg)
    from_path = windowed_metrics(path)
    direct = windowed_metrics(log)
    pd.testing.assert_frame_equal(from_logger, from_path)
    for col in ("n", "n_labelled", "mae", "r2", "pred_p50", "latency_p95", "missing_temp"):
        np.testing.assert_allclose(from_path[col].to_numpy(float), direct[col].to_numpy(float), rtol=1e-9)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"log": make_log().drop(columns="prediction")}, ValueError,
     r"log: expected the columns \['event_time', 'prediction', 'temp', 'hr', 'weather'\], got <a frame without "
     r"\['prediction'\]>.*Fix: read the log with labkit.monitoring.prediction_log.read_log"),
    ({"log": make_log().drop(columns="temp")}, ValueError, r"without \['temp'\]"),
    ({"log": pd.DataFrame({"event_time": [], "prediction": []}), "features": ["x"]}, ValueError,
     r"log: expected a DataFrame with at least 1 row"),
    ({"log": make_log().assign(event_time="2012-01-01")}, TypeError, r"log\['event_time'\]: expected datetimes"),
    ({"log": make_log().assign(event_time=pd.NaT)}, ValueError, r"log\['event_time'\]: expected no missing times"),
    ({"log": make_log(), "features": None, "strip_attrs": True}, ValueError, r"features: expected the feature names"),
    ({"log": make_log(), "reference": make_reference().drop(columns="hr")}, ValueError,
     r"reference: expected columns of reference, got <missing \['hr'\]>"),
    ({"log": make_log(), "freq": "fortnightly"}, ValueError, r"freq: expected a positive window length .* 'fortnightly'"),
    ({"log": make_log(), "freq": "-1D"}, ValueError, r"freq: expected a positive window length .* got '-1D'"),
    ({"log": make_log(), "freq": "0D"}, ValueError, r"freq: expected a positive window length .* got '0D'"),
    ({"log": 42}, TypeError, r"log: expected a DataFrame from read_log\(\), a PredictionLogger or a log file path"),
    ({"log": make_log().drop(columns="label_time"), "as_of": "2012-03-02"}, ValueError, r"as_of: expected a log"),
], ids=["no-prediction", "no-feature", "empty", "text-times", "missing-times", "no-features", "reference-lacks",
        "bad-freq", "negative-freq", "zero-freq", "bad-type", "as-of-without-label-time"])
def test_clear_errors(kwargs, error, match):
    kwargs = dict(kwargs)
    log = kwargs.pop("log")
    if kwargs.pop("strip_attrs", False):
        log = log.copy()
        log.attrs = {}
    with pytest.raises(error, match=match):
        windowed_metrics(log, **kwargs)


def test_feature_kinds_rule():
    frame = pd.DataFrame({"a": [0.5], "b": [3], "c": ["x"], "d": pd.Categorical(["y"])})
    assert feature_kinds(frame, list("abcd")) == {"a": "numerical", "b": "categorical", "c": "categorical",
                                                  "d": "categorical"}
    assert feature_kinds(frame, ["a", "b"], numerical=["b"], categorical=["a"]) == {"a": "categorical",
                                                                                   "b": "numerical"}


def test_window_ends_and_spec():
    starts = pd.DatetimeIndex(["2012-03-05", "2012-02-27"])
    assert window_ends(starts, "W").astype(str).tolist() == ["2012-03-12", "2012-03-05"]
    assert window_ends(starts, "6h").astype(str).tolist() == ["2012-03-05 06:00:00", "2012-02-27 06:00:00"]
    assert window_ends(pd.DatetimeIndex(["2012-02-01"]), "MS").astype(str).tolist() == ["2012-03-01"]
    with pytest.raises(ValueError, match=r"WindowSpec\(\): drift_threshold: expected a finite number >= 0"):
        WindowSpec(drift_threshold=float("nan"))
    log = make_log()
    forced = windowed_metrics(log, reference=make_reference(), spec=WindowSpec(numerical=["hr"], drift_threshold=0.5))
    assert forced["drift_hr"].iloc[0] == pytest.approx(drift.wasserstein(make_reference()["hr"], log["hr"][:24]).statistic)
    assert (forced["n_drifted"] == (forced[["drift_temp", "drift_hr", "drift_weather"]] >= 0.5).sum(axis=1)).all()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.integers(1, 60), seed=st.integers(0, 2**16), freq=st.sampled_from(["h", "3h", "D"]))
def test_property_performance_matches_regression_metrics(n, seed, freq):
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2012-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 72 * 60, n)), "min")
    log = pd.DataFrame({"event_time": t, "prediction": rng.normal(100, 40, n), "x": rng.normal(size=n)})
    log["label"] = np.where(rng.random(n) < 0.6, log["prediction"] + rng.normal(0, 10, n), np.nan)
    w = windowed_metrics(log, features=["x"], freq=freq)
    assert w["n"].sum() == n
    for start, row in w.iterrows():
        part = log[log["event_time"].dt.floor(freq) == start].dropna(subset=["label"])
        if part.empty:
            assert np.isnan(row["mae"]) and row["n_labelled"] == 0
            continue
        m = regression_metrics(part["label"], part["prediction"])
        assert row["mae"] == pytest.approx(m["mae"], rel=1e-9)
        assert row["rmse"] == pytest.approx(m["rmse"], rel=1e-9)
        if np.isnan(m["r2"]) or len(part) < 2:
            assert np.isnan(row["r2"])
        else:
            assert row["r2"] == pytest.approx(m["r2"], rel=1e-9, abs=1e-9)


def test_completeness_counts_missing_rows_not_just_missing_values():
    log = make_log(n_days=4)
    log = log[~((log["event_time"] >= "2012-03-02 06:00") & (log["event_time"] < "2012-03-02 18:00"))]  # an outage
    log = log[log["event_time"].dt.day != 3]  # a whole day without any record
    w = windowed_metrics(log, spec=WindowSpec(include_empty=True))
    assert w["completeness"].tolist() == [1.0, 0.5, 0.0, 1.0]
    assert windowed_metrics(log)["completeness"].tolist() == [1.0, 0.5, 1.0]  # an absent window is not a complete one
    six = windowed_metrics(log, freq="6h", spec=WindowSpec(include_empty=True))["completeness"]
    assert six.tolist() == [1.0] * 4 + [1.0, 0.0, 0.0, 1.0] + [0.0] * 4 + [1.0] * 4
    assert windowed_metrics(log, spec=WindowSpec(expected_every="30min"))["completeness"].tolist() == [0.5, 0.25, 0.5]
    assert windowed_metrics(log, spec=WindowSpec(expected_every=None))["completeness"].isna().all()
    with pytest.raises(ValueError, match=r"expected_every: expected a fixed duration such as 'h'"):
        WindowSpec(expected_every="W")
    with pytest.raises(ValueError, match=r"expected_every: expected a positive window length"):
        WindowSpec(expected_every="-1h")


def test_time_zone_aware_event_times_across_a_dst_change():
    """Issue 16: tz-aware times across a DST change raised pandas' AmbiguousTimeError."""
    t = pd.date_range("2012-11-03 00:00", periods=72, freq="h", tz="UTC").tz_convert("America/New_York")
    log = pd.DataFrame({"event_time": t, "prediction": 1.0, "label": 2.0, "x": 0.5})
    w = windowed_metrics(log, features=["x"])
    assert w["n"].sum() == 72 and w.index.tz is None and w.index[0] == pd.Timestamp("2012-11-03")  # in UTC
    assert (w["mae"] == 1.0).all()
