"""Tests for labkit.alerting.notifiers against a real HTTP server on 127.0.0.1 (accepts, fails, stalls, refuses)."""
from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.alerting.rules import Notification, Rule, evaluate
from labkit.alerting.notifiers import (
    ConsoleNotifier,
    Delivery,
    FileNotifier,
    Notifier,
    Retry,
    WebhookNotifier,
    redact_url,
    slack_payload,
)

SECRET = "T0000SECRET/B0000SECRET/xoxSECRETTOKEN"
STALL_LIMIT = 5.0  # a stalled handler gives up after this long even if the test forgot to release it


class Hook:
    """A scripted webhook server: each request takes the next action from ``script``.

    Actions: an int (answer with that HTTP status), ``("retry_after", 429, seconds)``,
    ``("redirect", url)`` or ``"stall"`` (hold the request until released). When the script is
    exhausted every request gets 200.
    """

    def __init__(self):
        self.script: list = []
        self.received: list[dict] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with hook.lock:
                    action = hook.script.pop(0) if hook.script else 200
                    hook.received.append({"path": self.path, "body": body, "action": action,
                                          "content_type": self.headers.get("Content-Type")})
                if action == "stall":
                    hook.release.wait(STALL_LIMIT)
                    action = 200
                if isinstance(action, tuple) and action[0] == "retry_after":
                    self.send_response(action[1])
                    self.send_header("Retry-After", str(action[2]))
                elif isinstance(action, tuple) and action[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", action[1])
                else:
                    self.send_response(action)
                payload = b"ok" if action == 200 else b"error"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:  # the client timed out and left
                    pass

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/services/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def delivered(self) -> list[dict]:
        """JSON bodies of requests answered with 2xx."""
        return [json.loads(r["body"]) for r in self.received if r["action"] in (200, "stall")]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/services/{SECRET}"


@pytest.fixture(autouse=True)
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "runs"))
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    return tmp_path / "runs"


class Sleeps(list):
    """An injected sleep: records the waits instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


def note(msg="MAE is 55.0, threshold 40", severity="high", status="firing", rule="ModelErrorHigh"):
    return Notification.from_message(msg, severity=severity, rule=rule, time="2012-03-01", status=status)


RETRY_FIELDS = ("max_attempts", "backoff", "max_backoff", "jitter", "timeout", "deadline", "max_retry_after", "seed")


def webhook(url, **kw) -> tuple[WebhookNotifier, Sleeps]:
    """A webhook notifier whose sleeps are recorded; Retry fields may be passed directly."""
    sleeps = Sleeps()
    retry = {"seed": 0, "timeout": 2.0, **{k: kw.pop(k) for k in RETRY_FIELDS if k in kw}}
    return WebhookNotifier(url, retry=Retry(sleep=sleeps, **retry), **kw), sleeps


def dead_letters(artifacts) -> list[dict]:
    path = artifacts / "alerts" / "dead_letter.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ---------------------------------------------------------------------------------------------
# delivery and retries
# ---------------------------------------------------------------------------------------------
def test_delivers_a_slack_payload(hook, artifacts):
    n, sleeps = webhook(hook.url)
    result = n.send(note())
    assert isinstance(result, Delivery) and result.status == "delivered" and result.ok
    assert result.attempts == 1 and result.http_status == 200 and sleeps == []
    (body,) = hook.delivered()
    assert body["text"].startswith(":red_circle: [FIRING] ModelErrorHigh (high)")
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "context"]
    assert hook.received[0]["content_type"] == "application/json"
    assert hook.received[0]["path"] == f"/services/{SECRET}"
    assert dead_letters(artifacts) == []


def test_500_then_200_is_retried_with_backoff(hook, artifacts):
    hook.script = [500, 503]
    n, sleeps = webhook(hook.url, backoff=0.5, max_backoff=8.0, jitter=0.5)
    result = n.send(note())
    assert result.status == "delivered" and result.attempts == 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0
    assert len(hook.delivered()) == 1 and dead_letters(artifacts) == []


def test_persistent_5xx_ends_in_the_dead_letter_file(hook, artifacts):
    hook.script = [500] * 10
    n, sleeps = webhook(hook.url, max_attempts=5, backoff=1.0, max_backoff=3.0, jitter=0.5)
    result = n.send(note())
    assert result.status == "dead_lettered" and not result.ok
    assert result.attempts == 5 and result.http_status == 500 and "HTTP 500" in result.error
    assert len(hook.received) == 5 and len(sleeps) == 4
    caps = [1.0, 2.0, 3.0, 3.0]  # bounded by max_backoff
    assert n.retry.delays() == caps
    assert all(c * 0.5 <= s <= c for s, c in zip(sleeps, caps))
    (record,) = dead_letters(artifacts)
    assert record["notifier"] == "slack" and record["attempts"] == 5 and record["http_status"] == 500
    assert record["notification"]["alerts"][0]["message"] == "MAE is 55.0, threshold 40"
    assert record["payload"]["text"].startswith(":red_circle:")
    assert result.path == str(artifacts / "alerts" / "dead_letter.jsonl")


def test_jitter_is_seeded(hook):
    hook.script = [500] * 8
    a, sleeps_a = webhook(hook.url, seed=7, max_attempts=4)
    b, sleeps_b = webhook(hook.url, seed=7, max_attempts=4)
    a.send(note())
    b.send(note())
    assert sleeps_a == sleeps_b and len(sleeps_a) == 3


def test_stalled_server_times_out_and_is_dead_lettered(hook, artifacts):
    hook.script = ["stall", "stall"]
    n, sleeps = webhook(hook.url, timeout=0.2, max_attempts=2)
    result = n.send(note())
    hook.release.set()
    assert result.status == "dead_lettered" and result.attempts == 2
    assert "timed out" in result.error and len(sleeps) == 1
    assert dead_letters(artifacts)[0]["error"] == "timed out after 0.2 s"


def test_connection_refused_is_retried_then_dead_lettered(closed_port_url, artifacts):
    n, sleeps = webhook(closed_port_url, max_attempts=3)
    result = n.send(note())
    assert result.status == "dead_lettered" and result.attempts == 3 and len(sleeps) == 2
    assert result.error == "connection refused"
    assert len(dead_letters(artifacts)) == 1


def test_client_errors_are_not_retried(hook, artifacts):
    hook.script = [404]
    n, sleeps = webhook(hook.url)
    result = n.send(note())
    assert result.status == "dead_lettered" and result.attempts == 1 and sleeps == []
    assert result.http_status == 404


def test_429_retry_after_is_waited_out_in_full(hook):
    hook.script = [("retry_after", 429, 30)]
    n, sleeps = webhook(hook.url, max_backoff=2.0)
    assert n.send(note()).status == "delivered"
    assert sleeps == [30.0]  # never earlier than the server allows


@pytest.mark.parametrize("header, waited", [
    ("Wed, 21 Oct 2015 07:28:00 GMT", [0.0]),  # an HTTP date in the past: retry at once
    ("-5", [0.0]), ("NaN", "backoff"), ("soon", "backoff"),
], ids=["http-date", "negative", "nan", "garbage"])
def test_retry_after_forms(hook, header, waited):
    hook.script = [("retry_after", 503, header)]
    n, sleeps = webhook(hook.url, backoff=1.0, jitter=0.0)
    assert n.send(note()).status == "delivered"
    assert sleeps == ([1.0] if waited == "backoff" else waited)


def test_retry_after_beyond_the_maximum_is_dead_lettered_not_retried_early(hook, artifacts):
    hook.script = [("retry_after", 429, 3600)]
    n, sleeps = webhook(hook.url, max_retry_after=60)
    result = n.send(note())
    assert result.status == "dead_lettered" and sleeps == [] and len(hook.received) == 1
    assert "asked to wait 3600 s, more than max_retry_after=60 s" in result.error


def test_a_slow_drip_server_cannot_hold_the_caller_past_the_deadline(artifacts):
    """The server answers one byte every 0.3 s: each read is quick, the whole answer is not."""
    release = threading.Event()

    class Drip(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                if release.wait(0.3):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        n, sleeps = webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", timeout=1.0, max_attempts=2)
        start = time.monotonic()
        result = n.send(note())
        assert time.monotonic() - start < 3.0 and result.status == "dead_lettered" and result.attempts == 2
        assert "timed out after 1 s" in result.error
        n, _ = webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", timeout=1.0, deadline=1.5, backoff=1.0)
        assert "would pass the 1.5 s deadline" in n.send(note()).error
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_redirects_are_not_followed(hook, artifacts):
    hook.script = [("redirect", f"http://127.0.0.1:{hook.port}/elsewhere")]
    n, _ = webhook(hook.url)
    result = n.send(note())
    assert result.status == "dead_lettered" and "redirect" in result.error
    assert [r["path"] for r in hook.received] == [f"/services/{SECRET}"]


@pytest.mark.parametrize("url", [
    "not a url",
    f"htp://hooks.example/{SECRET}",
    "http://",
    f"file:///etc/{SECRET}",
    f"http://127.0.0.1:99999/{SECRET}",
    f"http://127.0.0.1/{SECRET} with spaces",
    f"http://[::1/{SECRET}",
], ids=["no-scheme", "bad-scheme", "no-host", "file-scheme", "bad-port", "spaces", "bad-brackets"])
def test_malformed_urls_go_straight_to_the_dead_letter(url, artifacts, caplog, capsys):
    with caplog.at_level(logging.DEBUG):
        n, sleeps = webhook(url)
        result = n.send(note())
    assert result.status == "dead_lettered" and result.attempts == 0 and sleeps == []
    assert result.error.startswith("malformed webhook URL")
    assert result.destination == "<malformed URL>" or "…" in result.destination
    text = caplog.text + capsys.readouterr().out + repr(n) + repr(result) + json.dumps(dead_letters(artifacts))
    assert SECRET not in text and "SECRET" not in text


# ---------------------------------------------------------------------------------------------
# secrets: the URL never appears in full
# ---------------------------------------------------------------------------------------------
def test_url_never_appears_in_logs_output_or_files(hook, closed_port_url, artifacts, caplog, capsys):
    hook.script = [500, 500, 500, 200, 404]
    with caplog.at_level(logging.DEBUG):
        a, _ = webhook(hook.url, max_attempts=3)
        results = [a.send(note()), a.send(note()), a.send(note())]
        b, _ = webhook(closed_port_url, max_attempts=2)
        results.append(b.send(note()))
        results.extend(n.send(note()) for n in (a, b, ConsoleNotifier()))
    assert [r.status for r in results[:4]] == ["dead_lettered", "delivered", "dead_lettered", "dead_lettered"]
    captured = capsys.readouterr()
    files = "".join(p.read_text() for p in artifacts.rglob("*.jsonl"))
    everything = caplog.text + captured.out + captured.err + files + repr(a) + repr(b) + repr(results)
    assert "SECRET" not in everything
    assert f"http://127.0.0.1:{hook.port}/…" in caplog.text  # the redacted form is what is shown


def test_redact_url():
    assert redact_url(f"https://hooks.slack.com/services/{SECRET}") == "https://hooks.slack.com/…"
    assert redact_url("https://user:pass@Example.COM:8443/x?token=1") == "https://example.com:8443/…"
    assert redact_url("http://[::1]:9000/a") == "http://[::1]:9000/…"
    assert redact_url(None) == "<no URL>" and redact_url("garbage") == "<malformed URL>"


# ---------------------------------------------------------------------------------------------
# dry-run and configuration
# ---------------------------------------------------------------------------------------------
def test_without_a_url_it_runs_dry_and_says_so(hook, artifacts, caplog):
    with caplog.at_level(logging.INFO, logger="labkit.alerting.notifiers"):
        n = WebhookNotifier()
        result = n.send(note())
    assert n.dry_run and result.status == "dry_run" and result.ok and result.attempts == 0
    assert "SLACK_WEBHOOK_URL is not set" in result.message and "dry-run" in result.message
    assert "dry-run mode" in caplog.text and "SLACK_WEBHOOK_URL is not set" in caplog.text
    assert hook.received == []
    (record,) = [json.loads(x) for x in (artifacts / "alerts" / "dry_run.jsonl").read_text().splitlines()]
    assert record["payload"]["blocks"][0]["text"]["text"] == "[FIRING] ModelErrorHigh (high)"


def test_the_url_comes_from_the_environment(hook, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", hook.url)
    n, _ = webhook(None)
    assert not n.dry_run and n.destination == f"http://127.0.0.1:{hook.port}/…"
    assert n.send(note()).status == "delivered" and len(hook.delivered()) == 1
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "")
    assert WebhookNotifier().dry_run


def test_explicit_dry_run_sends_nothing(hook):
    n, _ = webhook(hook.url, dry_run=True)
    result = n.send(note())
    assert result.status == "dry_run" and "dry_run=True" in result.message and hook.received == []


def test_constructor_validation():
    with pytest.raises(ValueError, match="max_attempts"):
        Retry(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        Retry(jitter=2)
    with pytest.raises(ValueError, match="timeout"):
        Retry(timeout=0)
    with pytest.raises(TypeError, match="payload"):
        WebhookNotifier(payload="slack")
    with pytest.raises(TypeError, match="retry"):
        WebhookNotifier(retry={"max_attempts": 3})


# ---------------------------------------------------------------------------------------------
# the invariant: delivered or dead-lettered
# ---------------------------------------------------------------------------------------------
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([200, 500, 502, 503, 404, 400, 429]), max_size=12), st.integers(1, 4),
       st.integers(1, 5))
def test_every_notification_is_delivered_or_dead_lettered(hook, artifacts, script, max_attempts, n_notes):
    hook.script = list(script)
    hook.received.clear()
    path = artifacts / "alerts" / "dead_letter.jsonl"
    if path.exists():
        path.unlink()
    n, _ = webhook(hook.url, max_attempts=max_attempts)
    notes = [note(f"alert {i}") for i in range(n_notes)]
    results = [n.send(x) for x in notes]
    delivered = {b["text"] for b in hook.delivered()}
    dead = {r["notification"]["alerts"][0]["message"] for r in dead_letters(artifacts)}
    for x, r in zip(notes, results):
        msg = x.alerts[0]["message"]
        assert (r.status == "delivered") == any(t.endswith(msg) for t in delivered)
        assert (r.status == "dead_lettered") == (msg in dead)
        assert r.status in ("delivered", "dead_lettered")


def test_evaluate_with_a_failing_webhook_finishes_and_keeps_every_alert(hook, artifacts):
    hook.script = [500] * 100
    m = pd.DataFrame({"mae": [50, 30, 50, 30, 50]}, index=pd.date_range("2012-01-01", periods=5, freq="D"))
    n, _ = webhook(hook.url, max_attempts=2)
    h = evaluate(Rule("ModelErrorHigh", "mae", ">", 40), m, notifiers=[n])
    assert h.n_notifications == 3 and len(dead_letters(artifacts)) == 3


# ---------------------------------------------------------------------------------------------
# console, file
# ---------------------------------------------------------------------------------------------
def test_console_notifier_prints(capsys):
    result = ConsoleNotifier().send(note())
    assert result.status == "delivered" and result.destination == "stdout"
    assert capsys.readouterr().out == "2012-03-01 00:00 [FIRING] ModelErrorHigh (high)\n- MAE is 55.0, threshold 40\n"
    buf = io.StringIO()
    ConsoleNotifier(buf).send("plain text alert")
    assert "plain text alert" in buf.getvalue()


def test_file_notifier_writes_json_lines_under_artifacts(artifacts):
    f = FileNotifier()
    f.send(note())
    f.send(note(status="resolved"))
    lines = [json.loads(x) for x in (artifacts / "alerts" / "notifications.jsonl").read_text().splitlines()]
    assert [x["status"] for x in lines] == ["firing", "resolved"]
    assert lines[0]["group_key"] == lines[1]["group_key"] and "sent_at" in lines[0]


def test_file_notifier_failure_is_dead_lettered(tmp_path, artifacts):
    target = tmp_path / "a_directory"
    target.mkdir()
    result = FileNotifier(target).send(note())
    assert result.status == "dead_lettered" and "IsADirectoryError" in result.error
    assert len(dead_letters(artifacts)) == 1


def test_unwritable_dead_letter_file_is_logged_as_lost(tmp_path, closed_port_url, caplog):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    n, _ = webhook(closed_port_url, max_attempts=1, dead_letter=blocker / "dead.jsonl")
    with caplog.at_level(logging.ERROR, logger="labkit.alerting.notifiers"):
        result = n.send(note())
    assert result.status == "lost" and "LOST notification" in caplog.text
    assert "MAE is 55.0" in caplog.text and "SECRET" not in caplog.text


def test_a_wrong_object_is_dead_lettered_not_raised(artifacts):
    result = ConsoleNotifier(io.StringIO()).send(12345)
    assert result.status == "dead_lettered" and "Notification" in result.error


def test_base_notifier_turns_exceptions_into_dead_letters(artifacts):
    class Flaky(Notifier):
        def _deliver(self, n):
            raise OSError("disk full")

    result = Flaky("flaky").send(note())
    assert result.status == "dead_lettered" and result.error == "OSError: disk full"


# ---------------------------------------------------------------------------------------------
# payloads
# ---------------------------------------------------------------------------------------------
def test_slack_payload_escapes_and_truncates():
    n = note(msg="mae > 40 & <rising>" + "x" * 4000, severity="critical")
    p = slack_payload(n, channel="#ml-monitoring", username="ML Monitor Bot")
    assert p["channel"] == "#ml-monitoring" and p["username"] == "ML Monitor Bot"
    assert "mae &gt; 40 &amp; &lt;rising&gt;" in p["blocks"][1]["text"]["text"]
    assert len(p["text"]) <= 3000 and len(p["blocks"][1]["text"]["text"]) <= 3000
    assert p["text"].startswith(":rotating_light:")
    assert slack_payload(note(status="resolved"))["text"].startswith(":white_check_mark:")


def test_secret_payload_keys_are_redacted_in_the_dead_letter_file(hook, artifacts):
    hook.script = [500]
    n, _ = webhook(hook.url, name="pagerduty", env=None, max_attempts=1,
                   payload=lambda note: {"routing_key": "ROUTINGKEYSECRET", "summary": note.title})
    assert n.send(note()).status == "dead_lettered"
    (record,) = dead_letters(artifacts)
    assert record["payload"]["routing_key"] == "…" and "ROUTINGKEYSECRET" not in json.dumps(record)
