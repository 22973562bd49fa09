"""labkit.retraining: the model registry and the retraining backtest (policies of labkit.alerting.triggers)."""
from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.request import url2pathname

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from labkit import baseline as bl
from labkit import retraining as rt
from labkit.alerting.triggers import DataVolumeTrigger, DriftTrigger, PerformanceTrigger, Policy, TimeTrigger, \
    TriggerResult
from labkit.drift import wasserstein


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """OpenMP threads fighting over two shared cores make tree fits 5-20x slower."""
    with threadpool_limits(1):
        yield


@pytest.fixture(autouse=True, scope="module")
def _mlflow_store(tmp_path_factory):
    """The registry's MLflow store: a SQLite file of this module's own, not the lab's runs/mlflow."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")
        yield


class Const:
    """A stand-in model predicting a constant (plus 0 * hr so it reads a feature)."""

    def __init__(self, value):
        self.value = value

    def predict(self, X):
        return np.full(len(X), float(self.value))


def _window(n=48, value=100.0):
    return pd.DataFrame({"hr": np.arange(n) % 24, "cnt": np.full(n, value)})


# --------------------------------------------------------------------------- registry


def _registry():
    reg = rt.ModelRegistry("test", replace=True)
    reg.register(Const(100), features=["hr"], trained_on=("2011-01-01", "2011-09-30"), n_rows=10, metrics={"mae": 1.5})
    reg.register(Const(130), features=["hr"], trained_on=("2011-01-01", "2012-01-31"), n_rows=20, parent="v1")
    return reg


def test_registry_promote_rollback_and_history():
    reg = _registry()
    assert reg.champion is None and reg.status("v1") == "registered"
    reg.promote("v1", at="2012-01-01", reason="initial")
    reg.promote("v2", at="2012-02-01", reason="monthly")
    assert reg.champion.version == "v2" and reg.previous.version == "v1" and reg.status("v1") == "retired"
    back = reg.rollback(at="2012-02-08", reason="worse")
    assert back.version == "v1" and reg.status("v2") == "rolled_back" and reg.status("v1") == "champion"
    h = reg.history()
    assert h["action"].tolist() == ["register", "register", "promote", "promote", "rollback"]
    assert h.iloc[-1][["version", "from_version", "reason"]].tolist() == ["v1", "v2", "worse"]
    frame = reg.to_frame()
    assert frame["status"].tolist() == ["champion", "rolled_back"] and frame["metric_mae"].iloc[0] == 1.5
    assert [v.version for v in reg.versions] == ["v1", "v2"] and reg.get("v2").parent == "v1"


def test_replace_deletes_the_old_runs_and_their_model_files():
    """Rerunning a notebook replaces its registry: the old runs and model files go, so the disk does not fill."""
    reg = _registry()
    runs = [reg.client.get_run(reg.client.get_model_version("test", v).run_id).info for v in ("1", "2")]
    folders = [Path(url2pathname(run.artifact_uri.removeprefix("file://"))).parent for run in runs]
    assert all((folder / "artifacts" / "model" / "model.pkl").is_file() for folder in folders)
    fresh = rt.ModelRegistry("test", replace=True)
    assert not any(folder.exists() for folder in folders)
    assert fresh.client.search_runs([runs[0].experiment_id]) == []
    assert {r.info.lifecycle_stage for r in fresh.client.search_runs([runs[0].experiment_id], run_view_type=3)} == {"deleted"}


def test_the_sqlite_store_writes_ahead():
    """The registry's SQLite file is in WAL mode: one fsync per MLflow commit instead of several."""
    reg = _registry()
    with contextlib.closing(sqlite3.connect(reg.tracking_uri.removeprefix("sqlite:///"))) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_registry_lives_in_mlflow():
    """Runs, versions, lineage tags, aliases and events are MLflow's; a new session sees the same registry."""
    reg = _registry()
    reg.promote("v1", at="2012-01-01")
    reg.promote("v2", at="2012-02-01")
    reg.rollback(at="2012-02-08", reason="worse")
    client = reg.client
    assert {k: str(v) for k, v in client.get_registered_model("test").aliases.items()} == {"champion": "1",
                                                                                          "challenger": "2"}
    v2 = client.get_model_version("test", "2")
    assert v2.tags["parent"] == "v1" and v2.tags["status"] == "rolled_back" and v2.tags["rollback_reason"] == "worse"
    run = client.get_run(client.get_model_version("test", "1").run_id)
    assert run.data.metrics == {"mae": 1.5} and run.data.params["trained_to"] == "2011-09-30"
    again = rt.ModelRegistry("test")  # e.g. the next day, in another process
    assert again.champion.version == "v1" and again.history().equals(reg.history())
    assert again.champion.predict(_window(n=3)).tolist() == [100.0] * 3  # the model, read back from MLflow
    assert rt.ModelRegistry("test", replace=True).to_frame().empty


def test_registry_errors():
    reg = _registry()
    with pytest.raises(ValueError, match="an earlier champion to roll back to"):
        reg.rollback()
    with pytest.raises(KeyError, match="no version 'v9'"):
        reg.promote("v9")
    with pytest.raises(ValueError, match="parent 'v7' is not registered"):
        reg.register(Const(1), features=["hr"], trained_on=("a", "b"), n_rows=1, parent="v7")
    with pytest.raises(ValueError, match="trained_on: expected"):
        reg.register(Const(1), features=["hr"], trained_on="2011", n_rows=1)


@pytest.mark.parametrize("truth, rolled_back", [(100.0, True), (130.0, False)], ids=["worse", "better"])
def test_check_rollback_on_a_recent_window(truth, rolled_back):
    reg = _registry()
    reg.promote("v1")
    reg.promote("v2")
    check = reg.check_rollback(_window(value=truth), at="2012-02-08")
    assert check.rolled_back is rolled_back
    assert reg.champion.version == ("v1" if rolled_back else "v2")
    assert check.champion_mae == pytest.approx(abs(truth - 130))
    assert check.previous_mae == pytest.approx(abs(truth - 100))


def test_check_rollback_needs_enough_rows_and_two_champions():
    reg = _registry()
    reg.promote("v1")
    with pytest.raises(ValueError, match="a champion and a previous champion"):
        reg.check_rollback(_window())
    reg.promote("v2")
    with pytest.raises(ValueError, match="at least min_rows=24 labelled rows, got <5 labelled rows>"):
        reg.check_rollback(_window(n=5))
    check = reg.check_rollback(_window(value=100.0), apply=False)
    assert not check.rolled_back and reg.champion.version == "v2" and check.reason.endswith(": worse")


# --------------------------------------------------------------------------- policies and signals


def test_default_policies_are_the_triggers_of_notebook_05(base):
    never, periodic, drift, perf = rt.default_policies(base)
    assert [p.name for p in (never, periodic, drift, perf)] == ["never", "periodic", "drift", "performance"]
    assert never.triggers == () and periodic.triggers == (TimeTrigger("30D"),)
    assert drift.triggers == (DriftTrigger("drift", 0.6),) and drift.cooldown == pd.Timedelta(days=30)
    ref = base.reference
    wape = np.abs(ref["cnt"] - ref["prediction"]).sum() / ref["cnt"].sum()
    assert perf.triggers[0].signal == "wape" and perf.triggers[0].threshold == pytest.approx(1.25 * wape, rel=1e-15)


def test_drift_signal_is_labkit_normed_wasserstein(hourly, base):
    sim = rt._Simulation(hourly, base, "2012-01-01", "2012-02-01", rt.BacktestSpec(drift_columns=("temp", "hum")))
    train, recent = sim.labelled_frame.iloc[100:2100], sim.prod.iloc[sim.day_start[3]:sim.day_end[9]]
    expected = np.mean([wasserstein(train[c], recent[c]).statistic for c in ("temp", "hum")])
    got = sim.signals(("drift",), 9, 0, np.zeros(len(sim.prod)), (100, 2100))
    assert got == {"drift": pytest.approx(expected, rel=1e-12)}


def test_error_signals_wait_for_enough_labelled_days(hourly, base):
    sim = rt._Simulation(hourly, base, "2012-01-01", "2012-02-01", rt.BacktestSpec(label_delay_days=3, signal_days=5))
    preds = np.zeros(len(sim.prod))
    assert np.isnan(sim.signals(("wape",), 6, 0, preds, (0, 1))["wape"])  # labelled days 0..3: only 4
    got = sim.signals(("mae", "wape"), 7, 0, preds, (0, 1))  # labelled days 0..4
    lo, hi = sim.day_rows(0, 4)
    assert got["wape"] == pytest.approx(1.0) and got["mae"] == pytest.approx(sim.y_prod[lo:hi].mean())


# --------------------------------------------------------------------------- backtest


@pytest.fixture(scope="module")
def base(hourly, _one_thread):
    return bl.fit_baseline(hourly, max_iter=50)


def _short(hourly, base, **kw):
    spec = {k: kw.pop(k) for k in list(kw) if k in rt.BacktestSpec.__dataclass_fields__}
    opts = dict(start="2012-01-01", end="2012-03-01", progress=False, spec=rt.BacktestSpec(**{"max_iter": 20, **spec}))
    return rt.backtest_retraining(hourly, base, **{**opts, **kw})


def test_backtest_never_equals_the_baseline(hourly, base):
    res = _short(hourly, base, policies=[Policy("never")])
    prod = hourly[(hourly["timestamp"] >= "2012-01-01") & (hourly["timestamp"] < "2012-03-01")]
    resid = prod["cnt"].to_numpy() - base.predict(prod)
    assert res.summary["mae"].iloc[0] == pytest.approx(np.abs(resid).mean())
    assert res.summary["n_retrains"].iloc[0] == 0 and res.events.empty
    daily = res.to_frame()
    assert len(daily) == 60 and daily["n"].sum() == len(prod) and set(daily["version"]) == {"v1"}
    weekly = res.by_period("W")
    assert weekly["n"].sum() == len(prod)
    assert (weekly["mae"] * weekly["n"]).sum() / len(prod) == pytest.approx(np.abs(resid).mean())


class OnDates:
    """A custom trigger: any object with ``name``, ``signals`` and ``check`` works in a policy."""

    name, signals, dates = "on-dates", (), (pd.Timestamp("2012-01-11"), pd.Timestamp("2012-02-06"))

    def check(self, metrics=None, *, now=None, trained_at=None, new_labels=None):
        fired = pd.Timestamp(now) in self.dates  # decisions are made at the end of the day
        return TriggerResult("schedule", self.name, "date", now, "in", self.dates, fired, "scheduled")


def test_backtest_policies_retrain_without_peeking_at_future_labels(hourly, base):
    policies = [Policy("periodic", [TimeTrigger("14D")]),
                Policy("performance", [PerformanceTrigger("wape", baseline=rt._reference_wape(base), tolerance=0.25)]),
                Policy("on-dates", [OnDates()]), Policy("volume", [DataVolumeTrigger(480)])]
    res = _short(hourly, base, policies=policies, label_delay_days=3, rollback_window_days=None, window_days=60,
                 signal_days=5)
    # the data-volume trigger counts labelled rows since deployment: labels of day d arrive after day d + 3
    first = res.events.query("policy == 'volume'")["date"].iloc[0]
    prod = hourly[hourly["timestamp"] >= "2012-01-01"]
    labelled = [(prod["timestamp"] < day - pd.Timedelta(days=2)).sum() for day in (first - pd.Timedelta(days=1), first)]
    assert labelled[0] < 480 <= labelled[1]
    s = res.summary.set_index("policy")
    assert s.loc["periodic", "n_retrains"] == 4  # days 14, 28, 42, 56 of 60
    assert s.loc["on-dates", "n_retrains"] == 2
    assert s.loc["performance", "n_retrains"] >= 1  # 2012 starts far above the reference WAPE
    ev = res.events[res.events["action"] == "retrain"]
    trained_to = pd.to_datetime(ev["trained_to"])
    # the label of day d is usable from the end of day d + 3: nothing later may be in training
    assert (trained_to < ev["date"] - pd.Timedelta(days=3) + pd.Timedelta(days=1)).all()
    assert (trained_to >= ev["date"] - pd.Timedelta(days=4)).all()  # ... and everything up to it is
    trained_from = pd.to_datetime(ev["trained_from"])
    assert (trained_from >= ev["date"] - pd.Timedelta(days=3 + 60)).all()  # sliding window
    # the new version serves from the next day on
    daily = res.daily[res.daily["policy"] == "on-dates"].set_index("date")
    assert daily.loc["2012-01-10", "version"] == "v1" and daily.loc["2012-01-11", "version"] == "v2"
    reg = res.registries["on-dates"]
    assert [v.parent for v in reg.versions] == [None, "v1", "v2"] and reg.champion.version == "v3"


def test_backtest_expanding_window_and_rollback(hourly, base):
    res = _short(hourly, base, policies=[Policy("periodic", [TimeTrigger("10D")])], window_days=None,
                 rollback_window_days=3,
                 rollback_tolerance=-0.99)  # a tolerance no new version can meet: every check rolls back
    ev = res.events
    assert (pd.to_datetime(ev.loc[ev["action"] == "retrain", "trained_from"]) == hourly["timestamp"].min()).all()
    rollbacks = ev[ev["action"] == "rollback"]
    assert len(rollbacks) >= 1 and res.summary["n_rollbacks"].iloc[0] == len(rollbacks)
    reg = res.registries["periodic"]
    first = rollbacks.iloc[0]
    assert reg.status(first["from_version"]) == "rolled_back"
    assert "check" in set(reg.history()["action"])


def test_backtest_is_deterministic(hourly, base):
    periodic = [Policy("periodic", [TimeTrigger("20D")])]
    a = _short(hourly, base, policies=periodic, end="2012-02-01")
    b = _short(hourly, base, policies=periodic, end="2012-02-01")
    pd.testing.assert_frame_equal(a.daily, b.daily)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"policies": [Policy("never"), Policy("never")]}, ValueError, r"unique names, got <\['never'\] repeat>"),
    ({"policies": [object()]}, TypeError, "a non-empty list of Policy"),
    ({"window_days": 3}, ValueError, r"window_days: expected an int >= 7"),
    ({"label_delay_days": -1}, ValueError, "label_delay_days: expected an int >= 0"),
    ({"start": "2014-01-01", "end": "2014-02-01"}, ValueError, "no rows in"),
], ids=["duplicate-names", "not-a-policy", "window", "delay", "period"])
def test_backtest_errors(hourly, base, kwargs, error, match):
    with pytest.raises(error, match=match):
        _short(hourly, base, **kwargs)


def test_backtest_needs_labels_and_a_baseline(hourly, base):
    broken = hourly.copy()
    broken.loc[broken.index[-5:], "cnt"] = np.nan
    with pytest.raises(ValueError, match="5 missing label"):
        rt.backtest_retraining(broken, base, progress=False)
    with pytest.raises(TypeError, match="expected a labkit Baseline"):
        rt.backtest_retraining(hourly, base.model, progress=False)


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` with a SQLite backend on 127.0.0.1: the registry's scale path."""
    root = tmp_path_factory.mktemp("server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
           f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no background job workers
    with open(root / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("mlflow server did not start:\n" + (root / "server.log").read_text()[-3000:])
                time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_backtest_against_a_tracking_server(hourly, base, tracking_server, monkeypatch):
    """The same code, unchanged, against ``mlflow server`` (MLFLOW_TRACKING_URI): runs, versions, aliases."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    res = _short(hourly, base, policies=[Policy("periodic", [TimeTrigger("10D")])], end="2012-01-25")
    reg = res.registries["periodic"]
    assert reg.tracking_uri == tracking_server and len(reg.versions) == 3  # the baseline and two retrains
    client = mlflow.MlflowClient(tracking_server, tracking_server)
    versions = client.search_model_versions("name = 'backtest-periodic'")
    assert sorted((v.version, v.tags["parent"]) for v in versions) == [("1", ""), ("2", "v1"), ("3", "v2")]
    assert str(client.get_registered_model("backtest-periodic").aliases["champion"]) == "3"
    runs = client.search_runs([client.get_experiment_by_name("backtest-periodic").experiment_id])
    assert len(runs) == 3 and {r.data.params["registry"] for r in runs} == {"backtest-periodic"}
    loaded = reg.load("v3")  # the model travels through the server's artifact store
    X = hourly[list(base.features)].head(5)
    np.testing.assert_allclose(loaded.predict(X), reg.get("v3").model.predict(X))
