"""Faults across the monitoring path (issue 16): each test re-creates a finding with real SQLite files,
real threads, processes and signals, and a real HTTP scrape on loopback; nothing we ship is mocked.

Each test also records what happened (records accepted / written / dead-lettered / lost) in a table
that is written to ``runs/reliability_table.md`` at the end of the module: docs/reliability.md is
that table with the reasons.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from labkit.monitoring.exporter import MetricsExporter
from labkit.monitoring.prediction_log import (
    InvalidRecordError,
    LogPolicy,
    PredictionLogger,
    WriteFailedError,
    read_log,
)
from labkit.monitoring.service import ModelService
from labkit.monitoring.windows import windowed_metrics
from labkit.paths import REPO_ROOT

FEATURES = ["temp", "hr", "weather"]
ROWS: list[tuple] = []  # (fault, what happened, accepted, written, dead-lettered, lost, test)


@pytest.fixture(scope="module", autouse=True)
def reliability_table():
    yield
    if not ROWS:
        return
    lines = ["| fault | what happens | accepted | written | dead-lettered | lost | test |",
             "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in ROWS]
    out = REPO_ROOT / "runs" / "reliability_table.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def record(fault, happens, accepted, written, dead, lost, test):
    ROWS.append((fault, happens, accepted, written, dead, lost, f"`{test}`"))


@pytest.fixture(autouse=True)
def _artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "artifacts"))


def rec(i=0):
    return {"temp": 0.1 * (i % 10), "hr": i % 24, "weather": "clear" if i % 3 else "mist"}


def rows_in(path, table="predictions") -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def dead_letters(lg) -> list[dict]:
    path = lg.dead_letter_path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def child(script: str, tmp_path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "LABKIT_ARTIFACTS": str(tmp_path / "artifacts"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def wait_for_line(proc, prefix: str, limit: float = 120.0) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"the child never printed {prefix!r}: {proc.stderr.read()[-2000:]}")


# --------------------------------------------------------------------------- values the database cannot store

UNSTORABLE = {"uint64-hash": 2 ** 63 + 5, "lone-surrogate": "caf\ud800", "bytes": b"\x00\x01raw"}


@pytest.mark.parametrize("value", list(UNSTORABLE.values()), ids=list(UNSTORABLE))
@pytest.mark.parametrize("how", ["log", "log_batch"])
def test_an_unstorable_value_is_dead_lettered_alone(tmp_path, value, how):
    """Issue 16: one such value used to lose its whole batch (up to 5,000 records) or hang flush()."""
    path = tmp_path / "log.sqlite"
    lg = PredictionLogger(path, features=FEATURES, policy=LogPolicy(on_invalid="count"))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # everything below lands in one batch of the writer
    for i in range(200):
        bad = i == 100
        values = {**rec(i), "weather": value} if bad else rec(i)
        if how == "log":
            lg.log(values, float(i), prediction_id=f"p{i}")
        else:
            lg.log_batch(pd.DataFrame([values]), [float(i)], prediction_ids=[f"p{i}"])
    blocker.execute("ROLLBACK")
    blocker.close()
    stats = lg.flush(timeout=60)
    lg.close()
    assert (stats.accepted, stats.written, stats.invalid, stats.failed, stats.unsaved) == (200, 199, 1, 0, 0)
    assert not stats.ok
    dead = dead_letters(lg)
    assert [d["record"]["prediction_id"] for d in dead] == ["p100"]
    assert any(word in dead[0]["reason"] for word in ("64 bits", "surrogates", "bytes"))
    log = read_log(path)
    assert len(log) == 199 and "p100" not in set(log["prediction_id"])
    record(f"a value SQLite cannot store ({type(value).__name__}) in a batch of 200 ({how})",
           "that record alone is dead-lettered with the reason; the others are stored", 200, 199, 1, 0,
           "test_an_unstorable_value_is_dead_lettered_alone")


def test_unstorable_value_is_reported_by_flush_under_the_raise_policy(tmp_path):
    lg = PredictionLogger(tmp_path / "log.sqlite", features=FEATURES)
    lg.log(rec(), 1.0, prediction_id="good")
    lg.log({**rec(), "hr": 2 ** 64}, 2.0, prediction_id="hash")
    with pytest.raises(InvalidRecordError, match=r"got 1 refused .*64 bits.* see the reasons in .*deadletter"):
        lg.flush(timeout=60)
    assert lg.close().written == 1


def test_bytes_while_the_database_is_locked_past_its_retries(tmp_path):
    """Issue 16: the dead-letter writer raised TypeError on bytes, lost the record and hung flush()."""
    path = tmp_path / "log.sqlite"
    lg = PredictionLogger(path, features=FEATURES, policy=LogPolicy(retries=1, backoff=0.001, busy_timeout=0.01))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        lg.log({**rec(), "weather": b"\xff"}, 1.0, prediction_id="bytes")
        lg.log(rec(), 2.0, prediction_id="plain")
        started = time.monotonic()
        with pytest.raises(WriteFailedError, match=r"2 record\(s\) could not be written .* saved in .*deadletter"):
            lg.flush(timeout=60)
        assert time.monotonic() - started < 60
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    stats = lg.close()
    assert (stats.accepted, stats.written, stats.failed, stats.unsaved) == (2, 0, 2, 0)
    assert sorted(d["record"]["prediction_id"] for d in dead_letters(lg)) == ["bytes", "plain"]
    record("bytes in a record while the database stays locked past its retries",
           "the batch is dead-lettered (bytes as their repr); flush() raises WriteFailedError, never hangs",
           2, 0, 2, 0, "test_bytes_while_the_database_is_locked_past_its_retries")


# --------------------------------------------------------------------------- times

@pytest.mark.parametrize("when, match", [
    (time.time() * 1000, "milliseconds"),
    ("3000-01-01", "1678..2261"),
    (pd.Timestamp("2262-03-01"), "1678..2261"),
    (float("inf"), "a real time"),
], ids=["milliseconds", "year-3000", "after-2262", "inf"])
def test_a_time_the_log_cannot_read_back_is_refused_at_log_time(tmp_path, when, match):
    """Issue 16: one such time used to make read_log and windowed_metrics fail for the whole file."""
    path = tmp_path / "log.sqlite"
    with PredictionLogger(path, features=FEATURES) as lg:
        lg.log(rec(), 1.0, event_time="2012-01-01 00:00")
        with pytest.raises(InvalidRecordError, match=match):
            lg.log(rec(), 2.0, event_time=when)
        times = [1.3e9, when] if isinstance(when, float) else ["2012-01-01", when]
        with pytest.raises(InvalidRecordError, match=match):
            lg.log_batch(pd.DataFrame([rec(), rec()]), [1.0, 2.0], event_time=times)
        with pytest.raises(InvalidRecordError, match=match):
            lg.log(rec(), 3.0, observed_at=when)
        pid = lg.log(rec(), 4.0, event_time="2012-01-01 01:00")
        with pytest.raises(InvalidRecordError, match=match):
            lg.log_feedback(pid, 5.0, label_time=when)
    log = read_log(path)
    assert len(log) == 2 and windowed_metrics(log)["n"].sum() == 2  # the file is not poisoned


# --------------------------------------------------------------------------- signals and crashes

SIGNAL_CHILD = """
    import os, signal, sys, time
    from labkit.monitoring.prediction_log import LogPolicy, PredictionLogger
    marker = {marker!r}
    if marker:
        def mine(signum, frame):
            open(marker, "w").write("mine ran")
            sys.exit(7)
        signal.signal(signal.{sig}, mine)
    lg = PredictionLogger({path!r}, features=["x"], policy=LogPolicy(retries=10_000, backoff=0.5, busy_timeout=0.01))
    print("ready", flush=True)
    sys.stdin.readline()                      # the parent now holds the database's lock
    for i in range(20_000):
        lg.log({{"x": i}}, float(i), prediction_id=f"id{{i}}")
    print("pending", lg.stats.pending, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT", "SIGHUP"])
@pytest.mark.parametrize("chained", [False, True], ids=["default-handler", "own-handler"])
def test_a_signal_flushes_the_queue_before_the_process_ends(tmp_path, sig, chained):
    """Issue 16: SIGTERM/SIGINT/SIGHUP lost 12,900 to 28,674 queued records."""
    path, marker = tmp_path / "sig.sqlite", (str(tmp_path / "mine") if chained else "")
    proc = child(SIGNAL_CHILD.format(path=str(path), sig=sig, marker=marker), tmp_path, stdin=subprocess.PIPE)
    wait_for_line(proc, "ready")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    proc.stdin.write("go\n")
    proc.stdin.flush()
    pending = int(wait_for_line(proc, "pending").split()[1])
    assert pending > 0  # the records really were queued, not yet written
    blocker.execute("ROLLBACK")  # the writer's next try (in up to 0.5 s) would succeed ...
    blocker.close()
    proc.send_signal(getattr(signal, sig))  # ... but the signal comes first
    proc.wait(timeout=120)
    assert rows_in(path) == 20_000
    if chained:
        assert proc.returncode == 7 and open(marker).read() == "mine ran"  # the existing handler still runs
    else:
        assert proc.returncode in (-getattr(signal, sig), 1, 130)  # ends as the signal would have
    record(f"{sig} with {pending:,} records queued ({'own handler chained' if chained else 'default handler'})",
           "the handler flushes every open logger, then the signal does what it did before", 20_000, 20_000, 0, 0,
           "test_a_signal_flushes_the_queue_before_the_process_ends")


def test_kill_9_loses_at_most_what_was_queued(tmp_path):
    """SIGKILL cannot be caught: what is lost is what was queued and not yet committed (the documented bound)."""
    path, progress = tmp_path / "kill.sqlite", tmp_path / "progress"
    progress.write_bytes(bytes(8))
    script = f"""
        import mmap
        from labkit.monitoring.prediction_log import LogPolicy, PredictionLogger
        lg = PredictionLogger({str(path)!r}, features=["x"], policy=LogPolicy(max_queue=20_000, batch_size=5000))
        handle = open({str(progress)!r}, "r+b")
        shared = mmap.mmap(handle.fileno(), 8)
        print("ready", flush=True)
        i = 0
        while True:
            lg.log({{"x": i}}, float(i), prediction_id=f"{{i:09d}}")
            i += 1
            if i % 100 == 0:
                shared[:8] = i.to_bytes(8, "little")  # at least i records were accepted
    """
    proc = child(script, tmp_path)
    wait_for_line(proc, "ready")
    deadline = time.monotonic() + 60
    while (not path.exists() or rows_in(path) < 20_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    accepted = int.from_bytes(progress.read_bytes()[:8], "little")  # up to 99 fewer than really accepted
    con = sqlite3.connect(path)
    stored, last = con.execute("SELECT COUNT(*), MAX(prediction_id) FROM predictions").fetchone()
    con.close()
    assert stored == int(last) + 1  # what was committed is a gap-free prefix of what was logged
    lost = accepted - stored
    assert stored >= 20_000 and lost <= 20_000 + 5000  # at most max_queue items waiting plus one batch committing
    record("kill -9 (SIGKILL) of a process logging as fast as it can (max_queue 20,000, batch_size 5,000)",
           "committed records survive, a gap-free prefix; lost: what was still queued (bound: max_queue items "
           "plus one batch)", f"{accepted:,}+", f"{stored:,}", 0, f"{max(lost, 0):,}+ (bound 25,000)",
           "test_kill_9_loses_at_most_what_was_queued")


def test_full_disk_says_where_the_records_really_are(tmp_path):
    """Issue 16: on a full disk WriteFailedError claimed the records were in the dead-letter file."""
    path = tmp_path / "full.sqlite"
    script = f"""
        import resource, signal
        from labkit.monitoring.prediction_log import LogPolicy, PredictionLogger, WriteFailedError
        lg = PredictionLogger({str(path)!r}, features=["x", "y"], policy=LogPolicy(retries=1, backoff=0.01))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
        for i in range(60_000):
            lg.log({{"x": i, "y": "padding" * 4}}, float(i))
        try:
            lg.close()
        except WriteFailedError as exc:
            print("error", exc, flush=True)
        s = lg.stats
        print("stats", s.accepted, s.written, s.failed, s.unsaved, flush=True)
    """
    proc = child(script, tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    error = next(line for line in out.splitlines() if line.startswith("error"))
    accepted, written, failed, unsaved = map(int, out.split("stats")[-1].split())
    assert "could not be saved in" in error and "either" in error and "only in Python's log" in error
    dead = sum(1 for line in (tmp_path / "full.sqlite.deadletter.jsonl").read_text().splitlines()
               if line.endswith("}"))
    assert accepted == 60_000 and failed > 0 and unsaved > 0
    assert written == rows_in(path) and written + failed == accepted
    assert dead + unsaved == failed  # every failed record is in the dead letter or reported as only in the log
    record("disk full (RLIMIT_FSIZE 300 kB) for the database and the dead-letter file",
           "batches are retried, then dead-lettered; what the dead letter cannot take is logged at CRITICAL and "
           "WriteFailedError says so", f"{accepted:,}", f"{written:,}", f"{dead:,}",
           f"0 ({unsaved:,} only in Python's log)", "test_full_disk_says_where_the_records_really_are")


def test_a_log_in_a_read_only_folder_is_still_read(tmp_path):
    """Issue 16: read_log in a read-only folder said the file had no 'meta' table."""
    import shutil

    if not shutil.which("bwrap"):
        pytest.skip("bubblewrap is needed for a read-only mount")
    folder = tmp_path / "ro"
    folder.mkdir()
    with PredictionLogger(folder / "log.sqlite", features=["x"]) as lg:
        lg.log({"x": 1.0}, 2.0)
    script = f"from labkit.monitoring.prediction_log import read_log; print('rows', len(read_log({str(folder / 'log.sqlite')!r})))"
    # A fresh /tmp, with the test's folder, the repository and the environment bound back (a clone may live in /tmp).
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
           "--ro-bind", str(tmp_path), str(tmp_path), "--ro-bind", sys.prefix, sys.prefix,
           "--ro-bind", str(REPO_ROOT), str(REPO_ROOT), sys.executable, "-c", script]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "LABKIT_ARTIFACTS": str(tmp_path)})
    if "rows" not in out.stdout and "Operation not permitted" in out.stderr:
        pytest.skip(f"bubblewrap cannot create a namespace here: {out.stderr[-300:]}")
    assert out.stdout.strip() == "rows 1", out.stderr[-2000:]


@pytest.mark.parametrize("target, match", [
    ("directory", r"path: expected a SQLite prediction log or a new file in a writable folder"),
], ids=["directory"])
def test_a_directory_as_the_log_path_is_explained(tmp_path, target, match):
    with pytest.raises(OSError, match=match):
        PredictionLogger(tmp_path, features=FEATURES)


# --------------------------------------------------------------------------- the service under threads

class Shifted:
    """A model whose prediction is temp * 100 (so labels = prediction + 1 give an MAE of exactly 1)."""

    features = ("temp", "hr", "weather")

    def predict(self, frame):
        time.sleep(0.0005)  # a little work, so requests overlap
        return frame["temp"].to_numpy(dtype=float) * 100


def test_concurrent_requests_keep_the_service_consistent_with_its_log(tmp_path):
    """Issue 16: 8 threads x 300 requests left 24,000 rows in the log but 17,940 in memory."""
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"temp": rng.uniform(0, 1, 500), "hr": rng.integers(0, 24, 500),
                              "weather": rng.choice(["clear", "mist"], 500)})
    service = ModelService(Shifted(), reference=reference, log_path=tmp_path / "svc.sqlite")
    served = [[] for _ in range(8)]

    def work(t):
        rng = np.random.default_rng(t)  # a Generator is not thread-safe: one per thread
        for r in range(300):
            rows = pd.DataFrame({"temp": rng.uniform(0, 1, 10), "hr": 3, "weather": "clear",
                                 "timestamp": pd.Timestamp("2012-01-01") + pd.Timedelta(hours=t * 300 + r)})
            served[t].append(service.predict(rows))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    answers = pd.concat([frame for part in served for frame in part])
    assert service.record_labels(answers["prediction_id"], answers["prediction"] + 1.0,
                                 label_time="2013-01-01") == 24_000
    log = service.read_log()
    assert len(log) == len(service._times) == len(service._position) == 24_000
    got = service.refresh_metrics()
    assert got["mae"] == pytest.approx(1.0) and got["label_coverage"] == 1.0  # every label on its own row
    np.testing.assert_allclose(log["label"] - log["prediction"], 1.0)
    service.close()
    record("8 threads x 300 requests into one ModelService", "log rows == in-memory rows; labels join their own "
           "predictions", 24_000, 24_000, 0, 0, "test_concurrent_requests_keep_the_service_consistent_with_its_log")


def test_empty_and_failed_requests_leave_no_trace(tmp_path):
    """Issue 16: after one empty request every later predict() failed; failed requests were counted as served."""
    class Flaky(Shifted):
        fail = False

        def predict(self, frame):
            if self.fail:
                raise RuntimeError("model server down")
            return super().predict(frame)

    model = Flaky()
    rows = pd.DataFrame({"temp": [0.2, 0.4], "hr": [1, 2], "weather": "clear",
                         "timestamp": pd.to_datetime(["2012-01-01 01:00", "2012-01-01 02:00"])})
    with ModelService(model, log_path=tmp_path / "svc.sqlite") as service:
        with pytest.raises(ValueError, match=r"predict\(\): rows: expected a DataFrame with at least 1 row"):
            service.predict(rows.iloc[:0])
        model.fail = True
        with pytest.raises(RuntimeError, match="model server down"):
            service.predict(rows)
        model.fail = False
        assert service.predict(rows)["prediction"].tolist() == [20.0, 40.0]
        counted = {s.name: s.value for f in text_string_to_metric_families(service.exporter.exposition())
                   for s in f.samples if s.name == "ml_predictions_total"}
        assert counted == {"ml_predictions_total": 2.0} and len(service.read_log()) == 2

    class Broken(Shifted):
        def predict(self, frame):
            return np.full(len(frame), np.nan)

    policy = LogPolicy(on_invalid="count")
    with PredictionLogger(tmp_path / "nan.sqlite", features=Shifted.features, policy=policy) as lg:
        with ModelService(Broken(), logger=lg) as service:
            out = service.predict(rows)
            assert out["prediction_id"].isna().all() and len(service._times) == 0
            assert "ml_predictions_total{" not in service.exporter.exposition()  # refused: not served
    assert lg.stats.invalid == 2


# --------------------------------------------------------------------------- the exporter

def scrape(exporter) -> dict:
    with exporter.serve(0) as server, urllib.request.urlopen(server.url, timeout=10) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_nan_predictions_and_latencies_cannot_poison_the_sums():
    """Issue 16: one NaN made *_sum NaN for good, and the NaN landed in no bucket."""
    exp = MetricsExporter()
    exp.observe_predictions([10.0, float("nan"), 30.0, float("inf")], latency_seconds=float("nan"), model_version="v1")
    exp.observe_predictions([20.0], latency_seconds=0.004, model_version="v1")
    exp.observe_predictions([5.0], latency_seconds=-1.0, model_version="v1")
    got = scrape(exp)
    v1 = (("model_version", "v1"),)
    assert got[("ml_prediction_score_sum", v1)] == 65.0 and got[("ml_prediction_score_count", v1)] == 4
    assert got[("ml_prediction_latency_seconds_sum", v1)] == 0.004
    assert got[("ml_prediction_latency_seconds_count", v1)] == 1
    assert got[("ml_prediction_invalid_total", (("model_version", "v1"), ("value", "prediction")))] == 2
    assert got[("ml_prediction_invalid_total", (("model_version", "v1"), ("value", "latency")))] == 2
    assert got[("ml_predictions_total", (("endpoint", "/predict"), ("model_version", "v1")))] == 6
    assert all(math.isfinite(v) for v in got.values())


def test_series_of_a_gone_version_or_feature_are_removed():
    """Issue 16: after a model-version change or a dropped feature the old series stayed exported forever."""
    exp = MetricsExporter()
    exp.set_model_quality("v1", r2=0.8, mae=30.0)
    exp.set_feature_quality(drift={"temp": 0.1, "hum": 0.2}, missing={"temp": 0.0, "hum": 0.0})
    exp.set_model_quality("v2", r2=0.9, mae=20.0)
    exp.set_feature_quality(drift={"temp": 0.3}, missing={"temp": 0.0})
    got = scrape(exp)
    assert ("ml_model_accuracy", (("model_version", "v1"),)) not in got
    assert got[("ml_model_accuracy", (("model_version", "v2"),))] == 0.9
    assert ("ml_feature_drift_score", (("feature", "hum"),)) not in got
    assert got[("ml_feature_drift_score", (("feature", "temp"),))] == 0.3


# --------------------------------------------------------------------------- property: accepted = written + dead-lettered

good_value = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=32),
                       st.integers(-2 ** 63, 2 ** 63 - 1), st.text(max_size=8))
bad_value = st.one_of(st.integers(2 ** 63, 2 ** 70), st.binary(min_size=1, max_size=4),
                      st.just("x\udc80"))
a_record = st.fixed_dictionaries({
    "features": st.fixed_dictionaries({"temp": good_value, "hr": st.one_of(good_value, bad_value),
                                       "weather": good_value}),
    "prediction": st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))),
    "event_time": st.one_of(st.floats(1.0e9, 2.0e9), st.just(1.7e12)),
})


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(a_record, min_size=1, max_size=30), batch=st.booleans())
def test_property_every_accepted_record_is_written_or_dead_lettered(tmp_path_factory, records, batch):
    path = tmp_path_factory.mktemp("prop") / "log.sqlite"
    lg = PredictionLogger(path, features=FEATURES, policy=LogPolicy(on_invalid="count"), seed=0)
    refused_at_log = 0
    for i, r in enumerate(records):
        if batch:
            out = lg.log_batch(pd.DataFrame([r["features"]], dtype=object), [r["prediction"]],
                               prediction_ids=[f"p{i}"], event_time=[r["event_time"]])
        else:
            out = lg.log(r["features"], r["prediction"], prediction_id=f"p{i}", event_time=r["event_time"])
        refused_at_log += out is None
    stats = lg.close()
    dead = dead_letters(lg)
    assert stats.accepted + refused_at_log == len(records)
    assert stats.accepted == stats.written + len(dead) and stats.unsaved == 0 and stats.pending == 0
    back = read_log(path).set_index("prediction_id")
    assert len(back) == stats.written
    for i, r in enumerate(records):  # what was written reads back as it was logged
        if f"p{i}" not in back.index:
            continue
        row = back.loc[f"p{i}"]
        assert row["prediction"] == r["prediction"]
        assert row["event_time"] == pd.Timestamp(round(r["event_time"] * 1e6), unit="us")
        for name, value in r["features"].items():
            got = row[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                assert got is None or (isinstance(got, float) and math.isnan(got))
            elif isinstance(value, str):
                assert got == value
            else:  # a column of numbers (some missing) is read back as floats
                assert float(got) == pytest.approx(float(value), rel=1e-15)
