"""labkit.monitoring.service: requests are predicted, timed, logged and counted; replay streams 2012 with late labels."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from labkit import drift
from labkit.monitoring import service as svc_module
from labkit.baseline import Baseline, regression_metrics, split_periods
from labkit.data import FEATURES
from labkit.monitoring.prediction_log import PredictionLogger, read_log
from labkit.monitoring.service import ModelService, ReplaySpec, ServiceSpec, replay
from labkit.monitoring.windows import windowed_metrics


@pytest.fixture(autouse=True)
def _artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))


@pytest.fixture(scope="module")
def quick(hourly):
    """A small, fast stand-in for the baseline (same features, same periods; trains in well under a second)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    train, reference, _ = split_periods(hourly)
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(train[FEATURES], train["cnt"])
    reference = reference.copy()
    reference["prediction"] = model.predict(reference[FEATURES])
    return Baseline(model=model, features=tuple(FEATURES), target="cnt", periods={}, metrics={},
                    reference=reference, fingerprint="quick0123456789")


@pytest.fixture
def service(quick, tmp_path):
    with ModelService(quick, log_path=tmp_path / "svc.sqlite") as s:
        yield s


def samples(exporter) -> dict:
    out = {}
    for family in text_string_to_metric_families(exporter.exposition()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(exporter, name, **labels):
    return samples(exporter)[(name, frozenset(labels.items()))]


def test_predict_times_logs_and_counts_one_request(service, hourly, quick):
    rows = hourly[(hourly["timestamp"] >= "2012-05-01") & (hourly["timestamp"] < "2012-05-02")]
    out = service.predict(rows)
    assert out.index.equals(rows.index) and list(out.columns) == ["prediction_id", "prediction"]
    np.testing.assert_allclose(out["prediction"], quick.predict(rows))
    assert out["prediction_id"].is_unique
    log = service.read_log()
    assert log["prediction_id"].tolist() == out["prediction_id"].tolist()
    assert log["event_time"].tolist() == rows["timestamp"].tolist()
    assert log["model_version"].unique().tolist() == ["baseline-quick012"]
    assert log["latency_seconds"].nunique() == 1 and log["latency_seconds"].iloc[0] > 0  # one request
    np.testing.assert_array_equal(log[FEATURES].to_numpy(float), rows[FEATURES].to_numpy(float))
    mv = {"model_version": "baseline-quick012"}
    assert value(service.exporter, "ml_predictions_total", endpoint="/predict", **mv) == 24
    assert value(service.exporter, "ml_prediction_latency_seconds_count", **mv) == 1
    assert value(service.exporter, "ml_prediction_score_count", **mv) == 24


def test_labels_and_gauges_match_direct_computations(service, hourly, quick):
    days = hourly[(hourly["timestamp"] >= "2012-07-01") & (hourly["timestamp"] < "2012-07-04")]
    served = pd.concat([service.predict(day) for _, day in days.groupby(days["timestamp"].dt.floor("D"))])
    first_two = days["timestamp"] < "2012-07-03"
    label_time = days.loc[first_two, "timestamp"] + pd.Timedelta("1D")
    assert service.record_labels(served.loc[first_two, "prediction_id"], days.loc[first_two, "cnt"],
                                 label_time=label_time) == first_two.sum()
    now = pd.Timestamp("2012-07-04")
    got = service.refresh_metrics(now=now)
    m = regression_metrics(days.loc[first_two, "cnt"], served.loc[first_two, "prediction"])
    assert got["r2"] == pytest.approx(m["r2"]) and got["mae"] == pytest.approx(m["mae"])
    assert got["rmse"] == pytest.approx(m["rmse"])
    assert got["label_coverage"] == pytest.approx(first_two.mean())
    last_day = days[days["timestamp"] >= "2012-07-03"]
    ref = quick.reference
    assert got["drift"]["temp"] == pytest.approx(drift.wasserstein(ref["temp"], last_day["temp"]).statistic)
    assert got["drift"]["hr"] == pytest.approx(
        drift.js_distance(ref["hr"], last_day["hr"], bins="categories").statistic)
    assert got["missing"]["temp"] == 0.0 and np.isnan(got["age"]["temp"])
    # the gauges equal the last window of windowed_metrics over the log
    w = windowed_metrics(service.read_log(), reference=ref)
    for f in FEATURES:
        assert got["drift"][f] == pytest.approx(w[f"drift_{f}"].iloc[-1], rel=1e-9), f
    mv = {"model_version": service.model_version}
    assert value(service.exporter, "ml_model_accuracy", **mv) == pytest.approx(m["r2"])
    assert value(service.exporter, "ml_label_coverage_ratio", **mv) == pytest.approx(first_two.mean())
    assert value(service.exporter, "ml_feature_drift_score", feature="temp") == pytest.approx(got["drift"]["temp"])
    # a moment before the labels arrived, the same service knew none of them
    assert "r2" not in service.refresh_metrics(now="2012-07-02 00:00")


def test_replay_2012_streams_every_row_with_late_labels(quick, hourly, tmp_path):
    with ModelService(quick, log_path=tmp_path / "replay.sqlite") as service:
        result = replay(hourly, service=service, label_delay="2D", progress=False)
        log = result.read_log()
        w = result.windows()
        exported = samples(service.exporter)
    production = hourly[hourly["timestamp"] >= "2012-01-01"]
    late = (production["timestamp"] + pd.Timedelta("2D")) >= pd.Timestamp("2013-01-01")
    assert result.n_steps == production["timestamp"].dt.floor("D").nunique() == 366
    assert result.n_predictions == len(production) == len(log) == 8734
    assert result.n_labels_pending == late.sum() and result.n_labels == (~late).sum()
    assert log["event_time"].tolist() == production["timestamp"].tolist()
    np.testing.assert_allclose(log["prediction"], quick.predict(production))
    labelled = log[log["labelled"]]
    assert (labelled["label_time"] - labelled["event_time"] == pd.Timedelta("2D")).all()
    np.testing.assert_array_equal(labelled["label"], production.loc[~late.to_numpy(), "cnt"].to_numpy(float))
    assert w["label_coverage"].iloc[-2:].tolist() == [0.0, 0.0] and (w["label_coverage"].iloc[:-2] == 1).all()
    assert w.loc["2012-10-29", "n"] == 1  # Hurricane Sandy
    assert exported[("ml_predictions_total", frozenset({"model_version": "baseline-quick012",
                                                        "endpoint": "/predict"}.items()))] == 8734
    assert result.wall_seconds > 0 and result.log_path == tmp_path / "replay.sqlite"


def test_replay_label_fraction_is_seeded(quick, hourly, tmp_path):
    def labelled_hours(seed, name):
        with ModelService(quick, log_path=tmp_path / name) as service:
            r = replay(hourly, service=service, start="2012-02-01", end="2012-02-08", label_delay="0h",
                       spec=ReplaySpec(label_fraction=0.5, seed=seed), progress=False)
            log = r.read_log()
        assert r.n_labels_pending == 0 and r.n_labels == log["labelled"].sum()
        return log.loc[log["labelled"], "event_time"].tolist()

    a, b, c = labelled_hours(1, "a.sqlite"), labelled_hours(1, "b.sqlite"), labelled_hours(2, "c.sqlite")
    assert a == b and a != c and 0.3 < len(a) / (7 * 24) < 0.7


def test_replay_steps_and_default_service(quick, hourly, monkeypatch, tmp_path):
    import labkit.baseline

    monkeypatch.setattr(labkit.baseline, "get_baseline", lambda **kw: quick)
    first = replay(hourly, start="2012-03-01", end="2012-03-03", label_delay="3h", spec=ReplaySpec(step="h"),
                   progress=False)
    assert first.n_steps == 48 and first.n_predictions == 48 and first.n_labels == 45
    # one file per process: two kernels replaying side by side never share a database
    assert first.log_path == tmp_path / "artifacts" / "logs" / f"replay-{os.getpid()}.sqlite"
    first.service.close()
    again = replay(hourly, start="2012-03-01", end="2012-03-15", label_delay="1D", spec=ReplaySpec(step="W"),
                   progress=False)
    again.service.close()
    assert again.n_steps == 3  # Mar 1-4 (week of Feb 27), Mar 5-11, Mar 12-14
    expected = ((hourly["timestamp"] >= "2012-03-01") & (hourly["timestamp"] < "2012-03-15")).sum()
    assert len(read_log(again.log_path)) == again.n_predictions == expected  # the file was started afresh
    # the last week's step ends after the period: labels due after Mar 15 still never arrive
    assert again.n_labels_pending == ((hourly["timestamp"] >= "2012-03-14") & (hourly["timestamp"] < "2012-03-15")).sum()


def test_replay_feature_freshness_from_a_column(quick, hourly, tmp_path):
    data = hourly[(hourly["timestamp"] >= "2012-04-01") & (hourly["timestamp"] < "2012-04-03")].copy()
    data["weather_observed"] = data["timestamp"] - pd.Timedelta("3h")
    with ModelService(quick, log_path=tmp_path / "fresh.sqlite") as service:
        replay(data, service=service, start="2012-04-01", end="2012-04-03", observed_at="weather_observed",
               progress=False)
        log = service.read_log()
        assert value(service.exporter, "ml_feature_age_seconds", feature="temp") == 3 * 3600
    assert (log["age_temp"] == 3 * 3600).all()
    w = windowed_metrics(log, reference=quick.reference)
    assert (w["feature_age_max_seconds"] == 3 * 3600).all()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"label_delay": "soon"}, ValueError, r"label_delay: expected a duration such as .* got 'soon'"),
    ({"label_delay": "-1D"}, ValueError, r"label_delay: expected a duration >= 0"),
    ({"start": "2012-05-01", "end": "2012-04-01"}, ValueError, r"start/end: expected start < end"),
    ({"start": "2015-01-01", "end": "2015-02-01"}, ValueError, r"start/end: expected a period holding data"),
    ({"spec": {"target": "rides"}}, ValueError, r"spec.target: expected columns of data, got <missing \['rides'\]>"),
    ({"observed_at": "nope"}, ValueError, r"observed_at: expected columns of data"),
    ({"observed_at": 3}, TypeError, r"observed_at: expected a column name, a DataFrame or None"),
], ids=["delay-text", "delay-negative", "reversed", "no-data", "target", "observed", "observed-type"])
def test_replay_errors(service, hourly, kwargs, error, match):
    kwargs = dict(kwargs)
    if "spec" in kwargs:
        kwargs["spec"] = ReplaySpec(**kwargs["spec"])
    with pytest.raises(error, match=match):
        replay(hourly, service=service, progress=False, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"label_fraction": 1.5}, r"label_fraction: expected a finite number in \[0, 1\]"),
    ({"pace": -1}, r"pace: expected a finite number >= 0"),
    ({"step": "fortnightly"}, r"ReplaySpec\(\): step: expected a positive window length .* got 'fortnightly'"),
    ({"step": "-1D"}, r"step: expected a positive window length"),
    ({"step": "0D"}, r"step: expected a positive window length"),
], ids=["fraction", "pace", "step", "negative-step", "zero-step"])
def test_replay_spec_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReplaySpec(**kwargs)


def test_service_errors(quick, hourly, tmp_path):
    with pytest.raises(TypeError, match=r"model: expected an object with .features and .predict"):
        ModelService(object(), log_path=tmp_path / "x.sqlite")
    with pytest.raises(ValueError, match=r"model_threads: expected an int >= 1, got 0. Fix: pass 1 \(default\) or None"):
        ServiceSpec(model_threads=0)
    with pytest.raises(ValueError, match=r"quality_window: expected a duration"):
        ServiceSpec(quality_window="a while")
    with pytest.raises(ValueError, match=r"feature_window: expected a duration > 0"):
        ServiceSpec(feature_window="0D")
    with PredictionLogger(tmp_path / "other.sqlite", features=["temp"]) as other:
        with pytest.raises(ValueError, match=r"logger: expected a logger declared for the model's features"):
            ModelService(quick, logger=other)
    with ModelService(quick, log_path=tmp_path / "y.sqlite") as service:
        with pytest.raises(ValueError, match=r"rows: expected columns of rows, got <missing \['temp'\]>"):
            service.predict(hourly.drop(columns="temp").head(3))
        with pytest.raises(TypeError, match=r"rows: expected a pandas DataFrame"):
            service.predict(hourly.iloc[0].to_dict())
    with pytest.raises(RuntimeError, match="service: expected an open service"):
        service.predict(hourly.head(1))


def test_shared_logger_stays_open(quick, hourly, tmp_path):
    with PredictionLogger(tmp_path / "shared.sqlite", features=FEATURES) as lg:
        with ModelService(quick, logger=lg, model_version="v7") as service:
            service.predict(hourly.head(5))
        assert not lg.closed and len(lg.read_log()) == 5
        assert lg.read_log()["model_version"].unique().tolist() == ["v7"]


def test_event_times_as_unix_seconds_mean_the_same_as_timestamps(service, hourly):
    rows = hourly[(hourly["timestamp"] >= "2012-08-01") & (hourly["timestamp"] < "2012-08-02")]
    seconds = (rows["timestamp"] - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()
    service.predict(rows, event_time=seconds)
    assert service.read_log()["event_time"].tolist() == rows["timestamp"].tolist()
    got = service.refresh_metrics(now="2012-08-02")
    assert got["missing"]["temp"] == 0.0 and not np.isnan(got["drift"]["temp"])  # all 24 rows in the window
    assert np.isnan(service.refresh_metrics(now="2012-08-01")["drift"]["temp"])   # none before it


def test_completeness_gauge_counts_the_rows_that_arrived(quick, hourly, tmp_path):
    day = hourly[(hourly["timestamp"] >= "2012-10-29") & (hourly["timestamp"] < "2012-10-30")]  # Hurricane Sandy
    with ModelService(quick, log_path=tmp_path / "sandy.sqlite") as service:
        service.predict(day)
        got = service.refresh_metrics(now="2012-10-30")
        assert got["completeness"] == pytest.approx(len(day) / 24) and len(day) < 24
        assert value(service.exporter, "ml_data_completeness_ratio", model_version=service.model_version) == \
            pytest.approx(len(day) / 24)
    with ModelService(quick, log_path=tmp_path / "none.sqlite", spec=ServiceSpec(expected_every=None)) as service:
        service.predict(day)
        assert np.isnan(service.refresh_metrics(now="2012-10-30")["completeness"])


def test_replay_reads_time_zone_aware_times(quick, hourly, tmp_path):
    data = hourly[(hourly["timestamp"] >= "2012-11-03") & (hourly["timestamp"] < "2012-11-06")].copy()
    data["timestamp"] = data["timestamp"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    with ModelService(quick, log_path=tmp_path / "tz.sqlite") as service:
        result = replay(data, service=service, start="2012-11-03", end="2012-11-06", label_delay="1h", progress=False)
        log = result.read_log()
    assert result.n_predictions == len(data) == len(log) and result.n_steps == 3
    assert log["event_time"].iloc[0] == pd.Timestamp("2012-11-03 00:00")  # stored in UTC, read back naive
