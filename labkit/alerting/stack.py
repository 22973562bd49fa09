"""The real monitoring stack on loopback: the replayed year in Prometheus, its rule engine, Alertmanager.

A :class:`ScrapeRecorder` watches a replay and keeps the exporter's metrics at every simulated step,
one scrape ``interval`` apart on Prometheus' clock (step k at ``origin + k * interval``: a year of
days becomes hours of 1-minute scrapes, so the lecture's ``rate(...[5m])`` spans five days).
:func:`backfill` turns them into TSDB blocks with promtool; :class:`PrometheusServer` serves them
and answers PromQL as pandas frames; :func:`prometheus_firing` runs Prometheus' own alerting engine
(``promtool test rules``) over the same series; :class:`AlertmanagerServer` routes alerts to an
:class:`AlertmanagerReceiver`, which hands them to labkit notifiers. Binaries missing: the classes
raise :class:`MissingBinary` with an install hint (``docs/alerting.md``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterable, Mapping

import httpx
import numpy as np
import pandas as pd
import yaml

from labkit._validate import as_timestamp, check_duration, fail
from labkit.alerting.prometheus import RULES_FILE, SIGNALS, prometheus_duration, promtool, render_rules
from labkit.alerting.rules import SEVERITIES, AlertHistory, Notification
from labkit.paths import REPO_ROOT, artifacts_dir

log = logging.getLogger(__name__)

__all__ = ["INSTALL_HINT", "ALERTMANAGER_FILE", "MissingBinary", "ScrapeRecorder", "recorded_replay", "backfill",
           "PrometheusServer", "gauge_signals", "prometheus_firing", "check_query", "AlertmanagerServer",
           "AlertmanagerReceiver"]

#: How to install the binaries (Debian/Ubuntu packages; elsewhere the official tarballs or brew).
INSTALL_HINT = ("apt-get install prometheus prometheus-alertmanager (Debian/Ubuntu), brew install prometheus "
                "alertmanager (macOS), or the tarballs from https://prometheus.io/download/")
#: The lab's Alertmanager configuration (routes by severity, groups by alert name, one inhibition).
ALERTMANAGER_FILE = REPO_ROOT / "monitoring" / "alertmanager.yml"


class MissingBinary(RuntimeError):
    """A Prometheus binary is not installed (the message says how to install it)."""


def _binary(*names: str) -> str:
    for name in names:
        if shutil.which(name):
            return shutil.which(name)
    raise MissingBinary(f"{names[0]} is not installed: {INSTALL_HINT}")


def _seconds(ts: pd.Timestamp) -> float:
    return (ts.tz_convert("UTC") if ts.tzinfo else ts).value / 1e9


class ScrapeRecorder:
    """The exporter's metrics at each step of a replay, as Prometheus would have scraped them.

    >>> from labkit.monitoring.exporter import MetricsExporter
    >>> rec = ScrapeRecorder(MetricsExporter(), origin="2012-01-01")
    >>> rec.exporter.set_model_quality("v1", mae=31.5)
    >>> rec.scrape("2012-01-02"); rec.exporter.set_model_quality("v1", mae=45.0); rec.scrape("2012-01-03")
    >>> rec.to_frame()['ml_model_mae{model_version="v1"}'].tolist(), str(rec.times[1])
    ([31.5, 45.0], '2012-01-01 00:01:00')
    """

    def __init__(self, exporter, *, interval="1m", origin="2012-01-01"):
        self.exporter, self.origin = exporter, as_timestamp(origin, "origin", func="ScrapeRecorder")
        self.interval = check_duration(interval, "interval", func="ScrapeRecorder", positive=True)
        self.steps: list[pd.Timestamp] = []  # the simulated time of each scrape
        self._families: dict[str, tuple[str, str, dict]] = {}  # family -> (type, help, {series: {k: value}})

    def wrap(self, service):
        """``service`` (a ModelService) scraped after every ``refresh_metrics``: pass it to ``replay``."""
        recorder = self

        class Watched:
            def __getattr__(self, name):
                return getattr(service, name)

            def refresh_metrics(self, now=None, **options):
                out = service.refresh_metrics(now, **options)
                recorder.scrape(now)
                return out

        return Watched()

    def scrape(self, now) -> None:
        """Record every sample of the exporter now (``_created`` series are left out)."""
        k = len(self.steps)
        self.steps.append(as_timestamp(now, "now", func="scrape"))
        for family in self.exporter.registry.collect():
            series = self._families.setdefault(family.name, (family.type, family.documentation, {}))[2]
            for s in family.samples:
                if not s.name.endswith("_created"):
                    labels = ",".join(f'{k_}="{_escape(v)}"' for k_, v in s.labels.items())
                    series.setdefault(f"{s.name}{{{labels}}}" if labels else s.name, {})[k] = s.value

    @property
    def times(self) -> pd.DatetimeIndex:
        """Prometheus' time of each scrape: ``origin + k * interval``."""
        return pd.DatetimeIndex([self.origin + k * self.interval for k in range(len(self.steps))])

    def to_frame(self) -> pd.DataFrame:
        """One row per scrape (indexed by Prometheus time), one column per series (NaN: no sample)."""
        columns = {name: values for _, _, series in self._families.values() for name, values in series.items()}
        return pd.DataFrame({n: [v.get(k, np.nan) for k in range(len(self.steps))] for n, v in columns.items()},
                            index=self.times)

    def simulated(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` indexed by Prometheus time, re-indexed by the simulated step it stands for."""
        k = np.rint((frame.index - self.origin) / self.interval).astype(int)
        return frame.set_axis(pd.DatetimeIndex([self.steps[i] for i in k]), axis=0)

    def write_openmetrics(self, path) -> Path:
        """Every recorded sample, timestamped, in the OpenMetrics text format (``# EOF`` at the end)."""
        lines, times = [], [_seconds(t) for t in self.times]
        for name, (kind, doc, series) in self._families.items():
            lines += [f"# TYPE {name} {kind}", f"# HELP {name} {_escape(doc)}"]
            lines += [f"{s} {_number(v)} {times[k]:.3f}" for k in range(len(times)) for s, values in series.items()
                      if (v := values.get(k)) is not None]
        Path(path).write_text("\n".join(lines + ["# EOF"]) + "\n", encoding="utf-8")
        return Path(path)


def recorded_replay(data=None, *, interval="1m", **options):
    """:func:`~labkit.monitoring.service.replay` through a new service with a fresh log, recorded by a
    :class:`ScrapeRecorder`; returns ``(replay result, recorder)``. ``options`` go to ``replay``."""
    from labkit.monitoring.service import ModelService, replay

    path = artifacts_dir("logs") / f"recorded-{os.getpid()}.sqlite"
    for suffix in ("", "-wal", "-shm", ".deadletter.jsonl"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    service = ModelService(log_path=path)
    recorder = ScrapeRecorder(service.exporter, interval=interval, origin=options.get("start", "2012-01-01"))
    return replay(data, service=recorder.wrap(service), **options), recorder


def _escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: float) -> str:
    return "NaN" if math.isnan(v) else ("+Inf" if v == math.inf else "-Inf" if v == -math.inf else repr(float(v)))


def backfill(recorder: ScrapeRecorder, tsdb_dir) -> Path:
    """Write the recorder's samples into TSDB blocks under ``tsdb_dir`` (``promtool tsdb create-blocks-from
    openmetrics``), for a :class:`PrometheusServer` to serve."""
    _binary("promtool")
    tsdb = Path(tsdb_dir)
    if (tsdb / "replay.om").exists():  # an earlier backfill: start afresh rather than pile blocks up
        shutil.rmtree(tsdb)
    tsdb.mkdir(parents=True, exist_ok=True)
    result = promtool("tsdb", "create-blocks-from", "openmetrics", "--quiet",
                      str(recorder.write_openmetrics(tsdb / "replay.om")), str(tsdb), timeout=600)
    if not result.ok:
        raise fail("backfill", "recorder", "samples promtool can import", result.output[-500:], "see promtool's message",
                   RuntimeError)
    return tsdb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Daemon:
    """A binary listening on 127.0.0.1, started on entering a ``with`` block and always stopped on leaving it."""

    binary: tuple[str, ...] = ()

    def __init__(self, *args: str, port: int | None = None):
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="labkit-")
        self._args, self._proc = args, None
        self.client = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def __enter__(self):
        argv = [_binary(*self.binary), *self._args, f"--web.listen-address=127.0.0.1:{self.port}"]
        with open(Path(self._dir.name) / "log.txt", "wb") as log_file:
            self._proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self._proc.poll() is None:
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"{self.binary[0]} did not start: {self.log()[-800:]}")

    def log(self) -> str:
        """What the process wrote (its log)."""
        path = Path(self._dir.name) / "log.txt"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc) -> bool:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self.client.close()
        self._dir.cleanup()
        return False


class PrometheusServer(_Daemon):
    """A Prometheus server on the blocks in ``tsdb_dir`` (long retention, so 2012 is not expired),
    answering PromQL as pandas frames. ``lookback`` is how long a sample stays visible."""

    binary = ("prometheus",)

    def __init__(self, tsdb_dir, *, lookback="5m", port: int | None = None):
        super().__init__(port=port)
        config = Path(self._dir.name) / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1m\n")
        self._args = (f"--config.file={config}", f"--storage.tsdb.path={tsdb_dir}", "--storage.tsdb.retention.time=100y",
                      f"--query.lookback-delta={prometheus_duration(lookback)}", "--log.level=warn")

    def _get(self, path: str, **params) -> dict:
        body = self.client.get(path, params=params).json()
        if body.get("status") != "success":
            raise fail("query", "promql", "an expression Prometheus accepts", params.get("query"),
                       body.get("error", "see the Prometheus docs"))
        return body["data"]

    def query(self, promql: str, time=None) -> pd.DataFrame:
        """An instant query: one row per series (its labels and ``value``)."""
        params = {} if time is None else {"time": _seconds(as_timestamp(time, "time", func="query"))}
        data = self._get("/api/v1/query", query=promql, **params)
        rows = data["result"] if data["resultType"] == "vector" else [{"metric": {}, "value": data["result"]}]
        return pd.DataFrame([{**r["metric"], "value": float(r["value"][1])} for r in rows])

    def query_range(self, promql: str, start, end, step="1m") -> pd.DataFrame:
        """A range query: one row per step (Prometheus time), one column per series (its labels)."""
        data = self._get("/api/v1/query_range", query=promql, step=prometheus_duration(step),
                         start=_seconds(as_timestamp(start, "start", func="query_range")),
                         end=_seconds(as_timestamp(end, "end", func="query_range")))
        out = {",".join(f"{k}={v}" for k, v in r["metric"].items() if k != "__name__") or "value":
               pd.Series([float(v) for _, v in r["values"]], index=pd.to_datetime([t for t, _ in r["values"]], unit="s"))
               for r in data["result"]}
        return pd.DataFrame(out)

    def label_values(self, label: str, match: str) -> list[str]:
        """The values a label takes on the series ``match`` selects (Grafana's ``label_values``)."""
        return self._get(f"/api/v1/label/{label}/values", **{"match[]": match})


def gauge_signals(series: pd.DataFrame) -> pd.DataFrame:
    """The rules' gauge signals (:data:`~labkit.alerting.prometheus.SIGNALS` that name one metric) from scraped
    series, for :func:`~labkit.alerting.rules.evaluate`: the largest value over the metric's series
    (Prometheus fires one alert per series, labkit one per rule)."""
    out = {signal: series[cols].max(axis=1) for signal, metric in SIGNALS.items()
           if (cols := [c for c in series.columns if c.split("{")[0] == metric])}
    return pd.DataFrame(out, index=series.index)


_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT = {"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def prometheus_firing(series: pd.DataFrame, rules=None, *, interval="1m") -> pd.DataFrame:
    """When Prometheus' own alerting engine (``promtool test rules``) has each alert firing over ``series``.

    ``series`` has one row per scrape, ``interval`` apart (:meth:`ScrapeRecorder.to_frame`; a missing
    time is an absent sample, NaN a NaN sample) and one column per series selector. ``rules`` is a
    rules file (default ``monitoring/alert_rules.yml``) or a list of Rule (evaluated every
    ``interval``; a signal may be a column name). Returns one row per ``interval`` from the first
    scrape to the last, one bool column per alert name.
    """
    step = check_duration(interval, "interval", func="prometheus_firing", positive=True)
    ticks = np.rint((series.index - series.index[0]) / step).astype(int)
    every_tick = range(ticks[-1] + 1)
    with tempfile.TemporaryDirectory(prefix="labkit-") as tmp:
        if isinstance(rules, (list, tuple)):  # a rule's signal may name a column of ``series``
            rules_path = Path(tmp) / "rules.yml"
            rules_path.write_text(render_rules(rules, interval=interval, header="",
                                               signals={c: c for c in series.columns}))
        else:
            rules_path = Path(RULES_FILE if rules is None else rules).resolve()
        names = [r["alert"] for g in yaml.safe_load(rules_path.read_text())["groups"] for r in g["rules"] if "alert" in r]
        cells = {c: ["_"] * (ticks[-1] + 1) for c in series.columns}
        for c in series.columns:
            for k, v in zip(ticks, series[c].to_numpy(dtype=float)):
                cells[c][k] = _number(v)
        every = prometheus_duration(step)
        test = {"rule_files": [str(rules_path)], "evaluation_interval": every, "tests": [{
            "interval": every, "input_series": [{"series": c, "values": " ".join(v)} for c, v in cells.items()],
            "alert_rule_test": [{"eval_time": prometheus_duration(k * step) or "0s", "alertname": n, "exp_alerts": []}
                                for k in every_tick for n in names]}]}
        (Path(tmp) / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False, width=10**9))
        result = promtool("test", "rules", "test.yml", cwd=tmp, timeout=600)
    if not result.available:
        raise MissingBinary(f"promtool is not installed: {INSTALL_HINT}")
    fired = re.findall(r"alertname: (\S+), time: (\S+),", result.output)
    if not result.ok and not fired:
        raise fail("prometheus_firing", "rules", "rules promtool can evaluate", result.output[-500:], "fix the rules")
    out = pd.DataFrame(False, index=series.index[0] + pd.Index(every_tick) * step, columns=names)
    for name, when in fired:
        seconds = sum(int(n) * _UNIT[u] for n, u in _DURATION.findall(when))
        out.loc[series.index[0] + pd.Timedelta(seconds=seconds), name] = True
    return out


def check_query(server: PrometheusServer, make_query, expected: pd.Series, *, rtol: float = 1e-6) -> bool:
    """Self-check of a PromQL exercise: run the query ``make_query()`` returns over ``expected``'s times
    (Prometheus' clock) and compare it with ``expected``; print ✅, ❌ (with the first mismatch) or ⏳."""
    try:
        promql = make_query()
    except NotImplementedError:
        print("⏳ not attempted yet: write the query, then run this cell again")
        return False
    try:
        got = server.query_range(promql, expected.index[0], expected.index[-1])
    except ValueError as exc:
        print(f"❌ Prometheus refused the query: {exc}")
        return False
    if got.shape[1] != 1:
        print(f"❌ expected one series, got {got.shape[1]} ({list(got.columns)[:3]}): aggregate them, e.g. sum(...)")
        return False
    both = pd.concat([got.iloc[:, 0], expected], axis=1, keys=["got", "expected"]).dropna()
    bad = both[~np.isclose(both["got"], both["expected"], rtol=rtol)]
    if both.empty or len(bad):
        first = f"at {bad.index[0]}: {bad['got'].iloc[0]:.4g} instead of {bad['expected'].iloc[0]:.4g}" if len(bad) else ""
        print(f"❌ the query does not give the expected numbers {first or '(no time in common)'}")
        return False
    print(f"✅ your query matches the expected values at all {len(both)} times")
    return True


class AlertmanagerServer(_Daemon):
    """Alertmanager with the lab's configuration, its webhooks pointed at ``receiver_url``.

    :meth:`post` sends alerts (an AlertHistory's or Alertmanager-style dicts) and :meth:`silence`
    adds a silence, both through Alertmanager's HTTP API v2.
    """

    binary = ("alertmanager", "prometheus-alertmanager")

    def __init__(self, receiver_url: str, *, config=ALERTMANAGER_FILE, port: int | None = None):
        super().__init__(port=port)
        conf = yaml.safe_load(Path(config).read_text())
        for receiver in conf.get("receivers", []):
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = receiver_url.rstrip("/") + "/" + hook["url"].split("/", 3)[-1]
        path = Path(self._dir.name) / "alertmanager.yml"
        path.write_text(yaml.safe_dump(conf, sort_keys=False))
        self._args = (f"--config.file={path}", f"--storage.path={self._dir.name}", "--cluster.listen-address=",
                      "--log.level=warn")

    def post(self, alerts) -> int:
        """Send alerts as firing: an AlertHistory's (one per episode, labelled with the day it fired)
        or Alertmanager-style dicts with ``labels`` and ``annotations``."""
        if isinstance(alerts, AlertHistory):
            alerts = [{"labels": {**a.labels, "since": f"{a.fired_at:%Y-%m-%d}"},
                       "annotations": {"description": a.message}} for a in alerts.alerts]
        alerts = list(alerts)
        self.client.post("/api/v2/alerts", json=alerts).raise_for_status()
        return len(alerts)

    def silence(self, matchers: Mapping[str, str], *, comment: str, duration="1h") -> str:
        """Silence alerts whose labels equal ``matchers`` from now for ``duration``; returns its id."""
        now = pd.Timestamp.now(tz="UTC")
        body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
                "startsAt": now.isoformat(), "endsAt": (now + check_duration(duration, "duration", func="silence",
                                                                              positive=True)).isoformat(),
                "createdBy": "labkit", "comment": comment}
        response = self.client.post("/api/v2/silences", json=body)
        response.raise_for_status()
        return response.json()["silenceID"]


class AlertmanagerReceiver:
    """An Alertmanager webhook receiver on 127.0.0.1: every payload becomes a labkit
    :class:`~labkit.alerting.rules.Notification`, kept in ``notifications`` with the receiver path it
    came to (``routes``), and sent to each of ``notifiers`` (which never raise)."""

    def __init__(self, notifiers: Iterable = (), *, port: int = 0):
        self.notifiers, self.notifications, self.routes = list(notifiers), [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                receiver.receive(payload, self.path.strip("/"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def receive(self, payload: dict, route: str = "") -> Notification:
        """Turn one Alertmanager webhook payload into a Notification and send it on."""
        alerts = tuple({"rule": a["labels"].get("alertname", "?"), "severity": a["labels"].get("severity", "medium"),
                        "labels": a["labels"], "message": a["annotations"].get("description", a["annotations"].get(
                            "summary", "")), "value": None, "values": {}, "pending_at": a.get("startsAt"),
                        "fired_at": a.get("startsAt"), "resolved_at": a.get("endsAt") if a["status"] == "resolved"
                        else None} for a in payload.get("alerts", []))
        ranks = [SEVERITIES.index(a["severity"]) for a in alerts if a["severity"] in SEVERITIES]
        note = Notification(time=pd.Timestamp.now(tz="UTC").floor("s"), status=payload.get("status", "firing"),
                            severity=SEVERITIES[min(ranks, default=2)], group_labels=payload.get("groupLabels", {}),
                            alerts=alerts)
        self.notifications.append(note)
        self.routes.append(route)
        for notifier in self.notifiers:
            notifier.send(note)
        return note

    def wait(self, *, quiet: float = 2.0, timeout: float = 30.0) -> list[Notification]:
        """The notifications received, once none has come for ``quiet`` seconds (at most ``timeout``)."""
        start = last = time.monotonic()
        seen = 0
        while time.monotonic() - start < timeout and not (seen and time.monotonic() - last >= quiet):
            if len(self.notifications) != seen:
                seen, last = len(self.notifications), time.monotonic()
            time.sleep(0.1)
        return list(self.notifications)

    def __enter__(self) -> "AlertmanagerReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._server.shutdown()
        self._server.server_close()
        return False
