"""labkit.monitoring.prediction_log: nothing accepted is lost, bad records are named, failures are reported."""
from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pytest

from labkit.monitoring.prediction_log import (
    InvalidRecordError,
    LogPolicy,
    PredictionLogError,
    PredictionLogger,
    QueueFullError,
    WriteFailedError,
    read_log,
)

FEATURES = ["temp", "hr", "weather"]


@pytest.fixture(autouse=True)
def _artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))


@pytest.fixture
def path(tmp_path):
    return tmp_path / "log.sqlite"


def rec(i=0):
    return {"temp": 0.1 * (i % 10), "hr": i % 24, "weather": "clear" if i % 3 else "mist"}


def count(path, table="predictions"):
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def wait_until(condition, what, limit=60.0):
    """Poll until ``condition()`` holds (a liveness wait, not a speed assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.005)


def hold_lock(path):
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("BEGIN EXCLUSIVE")
    return con


# --------------------------------------------------------------------------- round trip


def test_round_trip_single_batch_and_feedback(path):
    with PredictionLogger(path, features=FEATURES, model_version="v1") as lg:
        a = lg.log(rec(1), 10.5, event_time="2012-01-01 01:00", latency_seconds=0.01)
        frame = pd.DataFrame([rec(2), rec(3)] + [{"temp": np.nan, "hr": 4, "weather": None}])
        frame["other"] = "ignored"
        ids = lg.log_batch(frame, [20.0, 30.0, 40.0],
                           event_time=pd.date_range("2012-01-01 02:00", periods=3, freq="h"),
                           latency_seconds=0.002, model_version="v2")
        assert lg.log_feedback(a, 12.0, label_time="2012-01-02 01:00")
        assert lg.log_feedback_batch(ids[:2], [19.0, 33.0], label_time=pd.Timestamp("2012-01-03")) == 2
    assert lg.stats.written == 4 + 3 and lg.stats.pending == 0 and lg.stats.ok
    df = read_log(path)
    assert list(df.columns[:6]) == ["prediction_id", "event_time", "log_time", "model_version", "prediction",
                                    "latency_seconds"]
    assert df.attrs["features"] == FEATURES
    assert df["prediction_id"].tolist() == [a, *ids]
    assert df["event_time"].astype(str).tolist() == ["2012-01-01 01:00:00", "2012-01-01 02:00:00",
                                                      "2012-01-01 03:00:00", "2012-01-01 04:00:00"]
    assert df["model_version"].tolist() == ["v1", "v2", "v2", "v2"]
    assert df["label"].tolist()[:3] == [12.0, 19.0, 33.0] and math.isnan(df["label"].iloc[3])
    assert df["labelled"].tolist() == [True, True, True, False]
    assert df["temp"].dtype == float and math.isnan(df["temp"].iloc[3])
    assert df["hr"].tolist() == [1, 2, 3, 4]
    assert df["weather"].tolist() == ["clear", "clear", "mist", None]
    assert df["latency_seconds"].tolist() == [0.01, 0.002, 0.002, 0.002]
    assert {"age_temp", "age_hr", "age_weather"} <= set(df.columns) and df["age_temp"].isna().all()
    # what a monitor knew on Jan 2: only the first label had arrived
    known = read_log(path, as_of="2012-01-02 12:00")
    assert known["labelled"].tolist() == [True, False, False, False]
    assert read_log(path, start="2012-01-01 02:00", end="2012-01-01 04:00")["prediction"].tolist() == [20.0, 30.0]
    assert df["label_time"].astype(str).tolist()[:3] == ["2012-01-02 01:00:00", "2012-01-03 00:00:00",
                                                         "2012-01-03 00:00:00"]


def test_sequence_features_numpy_values_and_timezones(path):
    with PredictionLogger(path, features=FEATURES) as lg:
        lg.log((0.5, 7, "clear"), 1.0, prediction_id="seq", event_time=pd.Timestamp("2012-06-01 10:00", tz="Europe/Paris"))
        lg.log({"temp": np.float32(0.25), "hr": np.int64(9), "weather": "mist"}, np.float32(2.0), prediction_id="np")
        frame = pd.DataFrame({"temp": [np.float32(0.5)], "hr": pd.Series([np.int64(3)], dtype=object),
                              "weather": pd.Categorical(["clear"])})
        lg.log_batch(frame, [3.0], prediction_ids=["np-batch"])
    df = read_log(path).set_index("prediction_id")
    assert str(df.loc["seq", "event_time"]) == "2012-06-01 08:00:00"  # stored as UTC, read back naive
    assert df.loc["np", "hr"] == 9 and df.loc["np", "temp"] == 0.25 and df.loc["np", "prediction"] == 2.0
    assert df.loc["np-batch", ["temp", "hr", "weather"]].tolist() == [0.5, 3, "clear"]
    assert df["hr"].dtype.kind == "i"  # stored as integers, not as raw bytes


def test_observed_at_gives_feature_age(path):
    with PredictionLogger(path, features=FEATURES) as lg:
        lg.log(rec(), 1.0, prediction_id="a", event_time="2012-01-01 12:00", observed_at="2012-01-01 11:00")
        lg.log(rec(), 1.0, prediction_id="b", event_time="2012-01-01 12:00",
               observed_at={"temp": "2012-01-01 09:00"})
        frame = pd.DataFrame([rec(), rec()])
        obs = pd.DataFrame({"hr": pd.to_datetime(["2012-01-01 12:00", "2012-01-01 10:00"])})
        lg.log_batch(frame, [1.0, 2.0], prediction_ids=["c", "d"], event_time="2012-01-01 12:00", observed_at=obs)
    df = read_log(path).set_index("prediction_id")
    assert df.loc["a", ["age_temp", "age_hr", "age_weather"]].tolist() == [3600.0] * 3
    assert df.loc["b", "age_temp"] == 3 * 3600.0 and math.isnan(df.loc["b", "age_hr"])
    assert df.loc["c", "age_hr"] == 0.0 and df.loc["d", "age_hr"] == 2 * 3600.0


def test_relative_path_goes_to_artifacts_and_reopen(tmp_path):
    with PredictionLogger("runs.sqlite", features=FEATURES) as lg:
        lg.log(rec(), 1.0, prediction_id="old")
    assert lg.path == tmp_path / "artifacts" / "logs" / "runs.sqlite"
    # reopening reads the declared features and knows the ids already stored
    with PredictionLogger("runs.sqlite") as again:
        assert again.features == tuple(FEATURES)
        assert again.log_feedback("old", 3.0)
        with pytest.raises(InvalidRecordError, match="prediction_id: expected an id not logged before"):
            again.log(rec(), 1.0, prediction_id="old")
    assert read_log("runs.sqlite")["label"].tolist() == [3.0]
    with pytest.raises(ValueError, match=r"was created for \['temp', 'hr', 'weather'\], got \['temp'\]"):
        PredictionLogger("runs.sqlite", features=["temp"])


# --------------------------------------------------------------------------- nothing lost


def test_several_threads_lose_nothing(path):
    n_threads, n_each = 8, 2000
    lg = PredictionLogger(path, features=FEATURES, policy=LogPolicy(batch_size=500))
    ids = [[] for _ in range(n_threads)]

    def work(t):
        for i in range(n_each):
            ids[t].append(lg.log(rec(i), float(i)))
            if i % 500 == 0:
                lg.log_batch(pd.DataFrame([rec(i)] * 3), [1.0, 2.0, 3.0])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stats = lg.close()
    total = n_threads * (n_each + 4 * 3)
    assert stats.accepted == stats.written == total and stats.pending == 0 and stats.ok
    assert count(path) == total
    flat = [i for part in ids for i in part]
    assert len(set(flat)) == len(flat)


def test_close_flushes_without_explicit_flush(path):
    lg = PredictionLogger(path, features=FEATURES)
    for i in range(3000):
        lg.log(rec(i), float(i))
    assert lg.close().written == 3000
    assert count(path) == 3000
    assert lg.close().written == 3000  # closing twice is harmless
    with pytest.raises(PredictionLogError, match=r"log\(\): logger: expected an open logger .* got <a closed logger>"):
        lg.log(rec(), 1.0)


def test_records_racing_with_close_are_written_or_refused(path):
    lg = PredictionLogger(path, features=FEATURES)
    accepted = []
    started = threading.Barrier(5)

    def work():
        started.wait()
        while True:
            try:
                accepted.append(lg.log(rec(), 1.0))
            except PredictionLogError:
                return

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    started.wait()
    wait_until(lambda: len(accepted) > 1000, "the callers to get going")
    stats = lg.close()
    for th in threads:
        th.join()
    assert stats.accepted == stats.written == len(accepted) == count(path)


def test_records_queued_at_interpreter_exit_are_flushed(tmp_path):
    db = tmp_path / "exit.sqlite"
    script = textwrap.dedent(f"""
        import atexit, sqlite3
        from labkit.monitoring.prediction_log import LogPolicy, PredictionLogger
        lg = PredictionLogger({str(db)!r}, features=["x"], policy=LogPolicy(retries=500, backoff=0.001, busy_timeout=0.01))
        blocker = sqlite3.connect({str(db)!r}, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # the writer cannot commit: records stay queued
        for i in range(500):
            lg.log({{"x": i}}, float(i), prediction_id=f"id{{i}}")
        print("pending", lg.stats.pending, flush=True)
        # atexit runs last-registered first: the lock goes, then the logger's own hook flushes
        atexit.register(blocker.execute, "ROLLBACK")
    """)
    env = {**os.environ, "LABKIT_ARTIFACTS": str(tmp_path / "artifacts")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    pending = int(out.stdout.split()[-1])
    assert pending > 0  # the exit hook really had work to do
    assert count(db) == 500
    assert read_log(db)["prediction_id"].tolist() == [f"id{i}" for i in range(500)]


# --------------------------------------------------------------------------- locked and failing database


def test_locked_database_is_retried_then_succeeds(path):
    lg = PredictionLogger(path, features=FEATURES, policy=LogPolicy(retries=1000, backoff=0.001, busy_timeout=0.01))
    blocker = hold_lock(path)
    try:
        for i in range(100):
            lg.log(rec(i), float(i))
        wait_until(lambda: lg.stats.retries >= 2, "the writer to retry")
        assert lg.stats.written == 0 and "locked" in lg.stats.last_error
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    stats = lg.close()
    assert stats.written == stats.accepted == 100 and stats.failed == 0 and stats.ok
    assert count(path) == 100


def _lock(path):
    con = hold_lock(path)
    return lambda: (con.execute("ROLLBACK"), con.close())


def _drop_table(path):
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("ALTER TABLE predictions RENAME TO predictions_moved")
    return lambda: (con.execute("ALTER TABLE predictions_moved RENAME TO predictions"), con.close())


@pytest.mark.parametrize("break_db", [_lock, _drop_table], ids=["locked-too-long", "table-gone"])
def test_failing_database_is_reported_never_dropped(path, break_db, caplog):
    lg = PredictionLogger(path, features=FEATURES, policy=LogPolicy(retries=2, backoff=0.001, busy_timeout=0.01))
    lg.log(rec(), 1.0, prediction_id="before")
    lg.flush()
    repair = break_db(path)
    try:
        for i in range(20):
            lg.log(rec(i), float(i), prediction_id=f"lost{i}")
        with pytest.raises(WriteFailedError, match=r"20 record\(s\) could not be written .* after 2 retries") as err:
            lg.flush()
        assert "deadletter.jsonl" in str(err.value) and "Fix:" in str(err.value)
        stats = lg.stats
        assert (stats.failed, stats.retries, stats.errors, stats.ok) == (20, 2, 1, False)
        assert any("giving up on 20 record(s)" in r.message for r in caplog.records)
    finally:
        repair()
    lines = [json.loads(x) for x in lg.dead_letter_path.read_text().splitlines()]
    assert sorted(x["record"]["prediction_id"] for x in lines) == sorted(f"lost{i}" for i in range(20))
    assert {x["table"] for x in lines} == {"predictions"} and lines[0]["record"]["weather"] in ("clear", "mist")
    # the database works again: later records are written, the failure is reported once
    lg.log(rec(), 2.0, prediction_id="after")
    final = lg.close()
    assert final.written == 2 and final.failed == 20
    assert read_log(path)["prediction_id"].tolist() == ["before", "after"]


# --------------------------------------------------------------------------- backpressure


def test_full_queue_raises_or_counts_but_never_drops_accepted(path):
    for policy in ("raise", "count"):
        db = path.with_name(f"{policy}.sqlite")
        lg = PredictionLogger(db, features=FEATURES, policy=LogPolicy(
            max_queue=1, block_timeout=0, on_full=policy, retries=10_000, backoff=0.001, busy_timeout=0.01))
        blocker = hold_lock(db)
        accepted = rejected = 0
        try:
            for i in range(10):
                try:
                    out = lg.log(rec(i), float(i))
                except QueueFullError as exc:
                    assert policy == "raise" and "max_queue=1" in str(exc) and "Fix: raise max_queue" in str(exc)
                    out = None
                accepted += out is not None
                rejected += out is None
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        stats = lg.close()
        assert rejected >= 1 and stats.rejected == rejected and not stats.ok
        assert stats.written == stats.accepted == accepted == count(db)


# --------------------------------------------------------------------------- malformed records


@pytest.mark.parametrize("call, match", [
    (lambda lg: lg.log({"temp": 1.0, "hr": 3}, 1.0),
     r"features: expected exactly the declared features \['temp', 'hr', 'weather'\], got <missing \['weather'\]>"),
    (lambda lg: lg.log({**rec(), "windspeed": 1.0}, 1.0), r"got <unexpected \['windspeed'\]>. Fix: send every"),
    (lambda lg: lg.log((1.0, 2), 1.0), r"features: expected 3 values in the order .*, got <2 values>"),
    (lambda lg: lg.log("temp", 1.0), r"features: expected a dict or a sequence of 3 values, got <str>"),
    (lambda lg: lg.log(rec(), float("nan")), r"prediction: expected a finite number, got nan. Fix: a NaN/inf"),
    (lambda lg: lg.log(rec(), "high"), r"prediction: expected a number, got 'high'"),
    (lambda lg: lg.log(rec(), 1.0, prediction_id="p0"), r"prediction_id: expected an id not logged before, got 'p0'"),
    (lambda lg: lg.log(rec(), 1.0, prediction_id=7), r"prediction_id: expected a str, got <int 7>"),
    (lambda lg: lg.log(rec(), 1.0, event_time="yesterday-ish"), r"event_time: expected a time .* got 'yesterday-ish'"),
    (lambda lg: lg.log(rec(), 1.0, observed_at={"wind": 0.0}), r"observed_at: expected times for declared features"),
    (lambda lg: lg.log_feedback("nope", 1.0),
     r"prediction_ids: expected ids logged to log.sqlite, got \['nope'\]. Fix: pass the ids log\(\)"),
    (lambda lg: lg.log_feedback("p0", float("nan")), r"labels\[0\]: expected finite numbers, got nan"),
    (lambda lg: (lg.log_feedback("p0", 1.0), lg.log_feedback("p0", 2.0)),
     r"prediction_ids: expected predictions without a label yet, each once, got \['p0'\]"),
    (lambda lg: lg.log_batch(pd.DataFrame({"temp": [1.0]}), [1.0]),
     r"features: expected a frame holding every declared feature .* got <a frame missing \['hr', 'weather'\]>"),
    (lambda lg: lg.log_batch(pd.DataFrame([rec(), rec()]), [1.0, np.inf]),
     r"predictions\[1\]: expected finite numbers, got inf"),
    (lambda lg: lg.log_batch(pd.DataFrame([rec(), rec()]), [1.0]), r"predictions: expected one value per row \(2\)"),
    (lambda lg: lg.log_batch(pd.DataFrame([rec(), rec()]), [1.0, 2.0], event_time=[pd.NaT, "2012-01-01"]),
     r"event_time\[0\]: expected a real time in 1678..2261 in every row .*, got <NaTType NaT>"),
    (lambda lg: lg.log_batch(pd.DataFrame([rec(), rec()]), [1.0, 2.0], prediction_ids=["a", "a"]),
     r"prediction_ids: expected distinct ids, got 'a'"),
    (lambda lg: lg.log_feedback_batch(["p0", "zz"], [1.0, 2.0]), r"prediction_ids: expected ids logged to .* \['zz'\]"),
    (lambda lg: lg.log_feedback_batch(["p0"], [np.nan]), r"labels\[0\]: expected finite numbers, got nan"),
    (lambda lg: lg.log_batch(pd.DataFrame([[0.1, 2, "x", 0.3]], columns=["temp", "hr", "weather", "temp"]), [1.0]),
     r"features: expected a frame with unique column names, got <duplicated \['temp'\]>"),
    (lambda lg: lg.log_feedback_batch(["p0"], [np.inf]), r"labels\[0\]: expected finite numbers, got inf. Fix: a NaN/inf"),
], ids=["missing-feature", "extra-feature", "short-sequence", "not-a-record", "nan-prediction", "text-prediction",
        "duplicate-id", "int-id", "bad-time", "unknown-observed", "unknown-feedback-id", "nan-label",
        "second-label", "batch-missing-column", "batch-inf", "batch-length", "batch-missing-time",
        "batch-duplicate-ids", "feedback-batch-unknown", "feedback-batch-nan", "batch-duplicate-columns",
        "inf-label"])
def test_malformed_records_get_clear_errors(path, call, match):
    with PredictionLogger(path, features=FEATURES) as lg:
        lg.log(rec(), 1.0, prediction_id="p0")
        with pytest.raises(InvalidRecordError, match=match):
            call(lg)
    assert lg.stats.written >= 1


def test_malformed_records_can_be_counted_instead(path):
    with PredictionLogger(path, features=FEATURES, policy=LogPolicy(on_invalid="count")) as lg:
        assert lg.log({"temp": 1.0}, 1.0) is None
        assert lg.log(rec(), float("nan")) is None
        assert lg.log_feedback("never-logged", 1.0) is False
        assert lg.log_batch(pd.DataFrame({"temp": [1.0, 2.0]}), [1.0, 2.0]) is None
        good = lg.log(rec(), 5.0)
    stats = lg.stats
    assert stats.invalid == 1 + 1 + 1 + 2 and stats.written == 1 and not stats.ok
    assert "missing ['hr', 'weather']" in stats.problems[0] and len(stats.problems) == 4
    assert read_log(path)["prediction_id"].tolist() == [good]


def test_duplicate_ids_from_racing_threads_are_refused_by_the_database(path):
    """The caller-side check can be raced; the database's unique key catches it and the row is reported."""
    with PredictionLogger(path, features=FEATURES, policy=LogPolicy(on_invalid="count")) as lg:
        lg.log(rec(), 1.0, prediction_id="twin")
        lg._known.discard("twin")  # simulate the race: the second caller did not see the first yet
        lg.log(rec(), 2.0, prediction_id="twin")
        lg.log(rec(), 3.0, prediction_id="single")
    assert lg.stats.invalid == 1 and lg.stats.written == 2
    assert read_log(path)["prediction"].tolist() == [1.0, 3.0]
    dead = json.loads(lg.dead_letter_path.read_text())
    assert dead["record"]["prediction"] == 2.0 and "UNIQUE" in dead["reason"]


@pytest.mark.parametrize("kwargs, match", [
    ({"features": None}, r"features: expected the model's feature names for the new log"),
    ({"features": "temp"}, r"features: expected a list of feature names"),
    ({"features": ["temp", "temp"]}, r"duplicates \['temp'\]"),
    ({"features": ["temp", "Temp"]}, r"SQL ignores upper/lower case.*duplicates \['Temp', 'temp'\]"),
    ({"features": [f"f{i}" for i in range(2000)]}, r"features: expected 1 to 1000 feature names, got <2000 names>"),
    ({"features": ["bad name"]}, r"letters, digits and '_'"),
    ({"features": ["label"]}, r"names other than the log's own columns"),
    ({"features": FEATURES, "sample_rate": 0}, r"sample_rate: expected a finite number in \(0, 1\]"),
    ({"features": FEATURES, "policy": {"retries": 3}}, r"policy: expected a LogPolicy"),
], ids=["no-features", "str-features", "duplicates", "case-duplicates", "too-many", "bad-name", "reserved",
        "sample-rate", "policy-type"])
def test_bad_settings(path, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        PredictionLogger(path, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"on_full": "drop"}, r"LogPolicy\(\): on_full: expected one of \['raise', 'count'\], got 'drop'"),
    ({"max_queue": 0}, r"max_queue: expected an int >= 1, got 0"),
    ({"backoff": -1}, r"backoff: expected a finite number >= 0"),
], ids=["on-full", "max-queue", "backoff"])
def test_bad_policies(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        LogPolicy(**kwargs)


def test_not_a_database(path):
    path.write_text("hello, I am not SQLite" * 100)
    with pytest.raises(ValueError, match="path: expected a SQLite prediction log or a new file"):
        PredictionLogger(path, features=FEATURES)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_log(path.with_name("missing.sqlite"))


# --------------------------------------------------------------------------- sampling, stats, export


def _sampled_run(path, seed):
    with PredictionLogger(path, features=FEATURES, sample_rate=0.3, seed=seed) as lg:
        ids = [lg.log(rec(i), float(i), prediction_id=f"s{i}") for i in range(400)]
        batch = lg.log_batch(pd.DataFrame([rec(i) for i in range(100)]), np.arange(100.0),
                             prediction_ids=[f"b{i}" for i in range(100)])
        # feedback for every id: sampled-out ones are skipped and counted, not errors
        kept = sum(lg.log_feedback(i, 1.0) for i in ids) + lg.log_feedback_batch(batch, np.ones(100))
    return lg.stats, kept, read_log(path)["prediction_id"].tolist()


def test_sampling_is_seeded_and_feedback_for_skipped_ids_is_not_an_error(tmp_path):
    s1, kept1, ids1 = _sampled_run(tmp_path / "a.sqlite", seed=3)
    s2, kept2, ids2 = _sampled_run(tmp_path / "b.sqlite", seed=3)
    _, _, ids3 = _sampled_run(tmp_path / "c.sqlite", seed=4)
    assert ids1 == ids2 and ids1 != ids3
    assert 100 < len(ids1) < 200  # ~30% of 500
    assert kept1 == kept2 == len(ids1)
    assert s1.sampled_out == 2 * (500 - len(ids1)) and s1.written == 2 * len(ids1) and s1.ok


def test_stats_snapshot_and_repr(path):
    lg = PredictionLogger(path, features=FEATURES)
    lg.log(rec(), 1.0)
    d = lg.flush().to_dict()
    assert d["written"] == 1 and d["ok"] is True and d["writer_alive"] is True
    assert "written=1" in repr(lg) and "features" in repr(lg)
    lg.close()
    assert lg.stats.closed and not lg.stats.writer_alive and lg.stats.ok
