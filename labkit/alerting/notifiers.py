"""Notifiers: tell someone an alert fired, and never lose the alert when telling fails.

Every notifier has one method, ``send(notification) -> Delivery``, and it **never raises**:
:class:`ConsoleNotifier` prints, :class:`FileNotifier` appends JSON lines, :class:`WebhookNotifier`
POSTs a Slack-compatible payload. What cannot be delivered after the retries (:class:`Retry`) goes
to a dead-letter file. The webhook URL is a secret, never printed or logged in full
(:func:`redact_url`); without one the webhook runs dry. Details: ``docs/alerting.md``.

>>> from labkit.alerting.rules import Notification
>>> note = Notification.from_message("MAE is 55.0, threshold 40", severity="high",
...                                  rule="ModelErrorHigh", time="2012-03-01")
>>> ConsoleNotifier().send(note).status
2012-03-01 00:00 [FIRING] ModelErrorHigh (high)
- MAE is 55.0, threshold 40
'delivered'
"""
from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import logging
import math
import os
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import urlsplit

import pandas as pd

from labkit._validate import check_int, check_number, fail
from labkit.alerting.rules import PLAYBOOK, Notification
from labkit.paths import artifacts_dir

log = logging.getLogger(__name__)

__all__ = ["Delivery", "Retry", "Notifier", "ConsoleNotifier", "FileNotifier", "WebhookNotifier", "slack_payload",
           "redact_url", "DEFAULT_URL_ENV"]

#: The environment variable the Slack webhook URL is read from.
DEFAULT_URL_ENV = "SLACK_WEBHOOK_URL"

_WRITE_LOCK = threading.Lock()
_RETRY_STATUS = {408, 429}
_SECRET_KEYS = ("routing_key", "token", "password", "secret")


@dataclass(frozen=True)
class Delivery:
    """What happened to one notification at one notifier.

    ``status`` is "delivered", "dry_run" (no URL: nothing sent), "dead_lettered" (failed, kept in
    the dead-letter file ``path``) or "lost" (failed, and the dead-letter file could not be
    written either: logged at ERROR level). ``destination`` and ``error`` are redacted.
    """

    notifier: str
    status: str
    attempts: int
    destination: str
    http_status: int | None = None
    error: str | None = None
    message: str = ""
    path: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing needs attention (delivered or dry-run)."""
        return self.status in ("delivered", "dry_run")


@dataclass(frozen=True)
class Retry:
    """How a webhook retries transient failures (5xx, 408, 429, timeouts, refused connections).

    Up to ``max_attempts`` attempts, each abandoned after ``timeout`` seconds in all, and the whole
    send after ``deadline`` seconds; the wait after attempt k is ``min(max_backoff, backoff * 2**k)``,
    shortened by a random fraction of up to ``jitter`` (seeded by ``seed``). A ``Retry-After`` (seconds
    or an HTTP date) is waited out in full up to ``max_retry_after`` seconds; beyond it the notification
    is dead-lettered, never retried early. ``sleep`` is injectable so tests run instantly.
    """

    max_attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.5
    timeout: float = 5.0
    deadline: float = 60.0
    max_retry_after: float = 60.0
    seed: int | None = None
    sleep: Callable[[float], None] | None = None

    def __post_init__(self):
        check_int(self.max_attempts, "max_attempts", func="Retry", low=1)
        for name in ("backoff", "max_backoff", "max_retry_after"):
            check_number(getattr(self, name), name, func="Retry", low=0)
        check_number(self.jitter, "jitter", func="Retry", low=0, high=1)
        for name in ("timeout", "deadline"):
            check_number(getattr(self, name), name, func="Retry", low=0, low_open=True)

    def delays(self) -> list[float]:
        """The upper bounds of the waits between attempts (before jitter)."""
        return [min(self.max_backoff, self.backoff * 2 ** k) for k in range(self.max_attempts - 1)]


def _url_problem(url) -> str | None:
    """Why ``url`` cannot be used for a webhook (never quoting it), or None when it can."""
    if not isinstance(url, str):
        return f"the URL is a {type(url).__name__}, not a string"
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in url):
        return "the URL contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the URL cannot be parsed (bad port or brackets)"
    if parts.scheme.lower() not in ("http", "https"):
        shown = parts.scheme if parts.scheme.isalpha() and len(parts.scheme) < 10 else "?"
        return f"the URL's scheme must be http or https (got {shown!r})" if parts.scheme else "the URL has no scheme"
    if not parts.hostname or port == 0:
        return "the URL has no host" if not parts.hostname else "the URL's port is 0"
    return None


def redact_url(url) -> str:
    """Scheme + host (+ port) + ``/…``: safe to print or log.

    >>> redact_url("https://user:pw@hooks.slack.com:443/services/T0/B0/secret?x=1")
    'https://hooks.slack.com:443/…'
    >>> redact_url("not a url"), redact_url(None)
    ('<malformed URL>', '<no URL>')
    """
    if url is None:
        return "<no URL>"
    if _url_problem(url) is not None:
        return "<malformed URL>"
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme.lower()}://{host}{f':{parts.port}' if parts.port is not None else ''}/…"


def _scrub(text: str, url: str | None) -> str:
    """Remove every trace of ``url`` (whole, or its credentials and host, path or query) from ``text``."""
    try:
        pieces = [url, *urlsplit(url)[1:4]] if isinstance(url, str) else []
    except ValueError:
        pieces = [url]
    for piece in sorted((x for x in pieces if len(x) > 1), key=len, reverse=True):
        text = text.replace(piece, "…")
    return text


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Webhooks do not redirect; following one could send the alert (and secrets) elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _clean(obj):
    """JSON-safe copy: NaN/inf -> None, secret payload keys -> "…"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: ("…" if k in _SECRET_KEYS and v else _clean(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _append_jsonl(path: Path, record: dict) -> None:
    line = json.dumps(record, ensure_ascii=False, default=str, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _WRITE_LOCK, open(path, "a", encoding="utf-8") as fh:
        fh.write(line)


def _now_iso() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()


def _as_notification(obj, func: str = "send") -> Notification:
    if isinstance(obj, Notification):
        return obj
    if isinstance(obj, str):
        return Notification.from_message(obj)
    raise fail(func, "notification", "a labkit Notification (or a message string)", f"<{type(obj).__name__}>",
               "send what evaluate()/AlertEngine.step() return, or Notification.from_message('...')", TypeError)


class Notifier:
    """Base class: ``send()`` never raises; a subclass's ``_deliver(note) -> Delivery`` may, and any
    exception becomes a dead-letter record (default ``<artifacts>/alerts/dead_letter.jsonl``)."""

    def __init__(self, name: str, *, dead_letter: str | os.PathLike | None = None):
        self.name = str(name)
        self._dead_letter = None if dead_letter is None else Path(dead_letter)

    @property
    def dead_letter_path(self) -> Path:
        """Where undeliverable notifications go."""
        return self._dead_letter or artifacts_dir("alerts") / "dead_letter.jsonl"

    @property
    def destination(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, destination={self.destination!r})"

    def send(self, notification) -> Delivery:
        """Deliver ``notification``; return what happened. Never raises."""
        try:
            note = _as_notification(notification)
        except TypeError as exc:
            return self.dead_letter({"unreadable": repr(notification)[:2000]}, error=str(exc), attempts=0)
        try:
            return self._deliver(note)
        except Exception as exc:  # the monitoring loop must never crash because of a notifier
            error = self._scrub(f"{type(exc).__name__}: {exc}")
            log.warning("notifier %s failed on %s: %s", self.name, note.title, error)
            return self.dead_letter(note.to_dict(), error=error)

    def _deliver(self, note: Notification) -> Delivery:  # pragma: no cover - abstract
        raise NotImplementedError

    def _scrub(self, text: str) -> str:
        return text

    def dead_letter(self, notification: dict, payload=None, *, error: str | None, attempts: int = 1,
                    http_status: int | None = None) -> Delivery:
        """Record an undeliverable notification in the dead-letter file (or log it as lost)."""
        record = {"dead_lettered_at": _now_iso(), "notifier": self.name, "destination": self.destination,
                  "attempts": attempts, "http_status": http_status, "error": error,
                  "notification": _clean(notification), "payload": _clean(payload)}
        path = self.dead_letter_path
        try:
            _append_jsonl(path, record)
        except Exception as exc:  # nowhere left to put it: shout in the log, with the record
            log.error("notifier %s: could not write the dead-letter file %s (%s); LOST notification: %s",
                      self.name, path, type(exc).__name__, json.dumps(record, default=str))
            return Delivery(self.name, "lost", attempts, self.destination, http_status, error,
                            f"failed ({error}) and the dead-letter file could not be written")
        log.warning("notifier %s: gave up after %d attempt(s) (%s); written to dead-letter file %s",
                    self.name, attempts, error, path)
        return Delivery(self.name, "dead_lettered", attempts, self.destination, http_status, error,
                        f"not delivered ({error}); recorded in {path}", str(path))


class ConsoleNotifier(Notifier):
    """Print each notification (time, title, lines per alert) to ``stream`` (stdout) in one write: never mid-line."""

    def __init__(self, stream=None, *, name: str = "console", dead_letter=None):
        super().__init__(name, dead_letter=dead_letter)
        self._stream = stream

    @property
    def destination(self) -> str:
        return "stdout" if self._stream is None else getattr(self._stream, "name", "stream")

    def _deliver(self, note: Notification) -> Delivery:
        print(f"{note.time:%Y-%m-%d %H:%M} {note.text}\n", end="", file=self._stream or sys.stdout, flush=True)
        return Delivery(self.name, "delivered", 1, self.destination, message="printed")


class FileNotifier(Notifier):
    """Append each notification as one JSON line (default ``<artifacts>/alerts/notifications.jsonl``)."""

    def __init__(self, path: str | os.PathLike | None = None, *, name: str = "file", dead_letter=None):
        super().__init__(name, dead_letter=dead_letter)
        self._path = None if path is None else Path(path)

    @property
    def path(self) -> Path:
        return self._path or artifacts_dir("alerts") / "notifications.jsonl"

    @property
    def destination(self) -> str:
        return str(self.path)

    def _deliver(self, note: Notification) -> Delivery:
        _append_jsonl(self.path, {"sent_at": _now_iso(), **_clean(note.to_dict())})
        return Delivery(self.name, "delivered", 1, str(self.path), message=f"appended to {self.path}",
                        path=str(self.path))


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(notification: Notification, *, channel: str | None = None, username: str | None = None) -> dict:
    """A Slack incoming-webhook payload: fallback ``text`` plus Block Kit ``blocks``.

    >>> n = Notification.from_message("mae > 40 for 2 days", severity="critical", rule="ModelErrorHigh",
    ...                               time="2012-03-01")
    >>> p = slack_payload(n)
    >>> p["text"], [b["type"] for b in p["blocks"]]
    (':rotating_light: [FIRING] ModelErrorHigh (critical): mae &gt; 40 for 2 days', ['header', 'section', 'context'])
    """
    note = _as_notification(notification, "slack_payload")
    icon = ":white_check_mark:" if note.status == "resolved" else {
        "critical": ":rotating_light:", "high": ":red_circle:", "medium": ":large_orange_circle:",
        "low": ":large_blue_circle:"}.get(note.severity, ":bell:")

    def esc(s: str) -> str:  # Slack mrkdwn control characters
        return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    first = note.alerts[0]["message"] if note.alerts else ""
    more = f" (+{len(note.alerts) - 1} more)" if len(note.alerts) > 1 else ""
    lines = [f"• *{esc(a['rule'])}* ({esc(a['severity'])}): {esc(a['message'])}" for a in note.alerts]
    context = f"labkit · window {note.time:%Y-%m-%d %H:%M} · severity *{note.severity}*"
    context += f" ({esc(PLAYBOOK[note.severity])})" if note.severity in PLAYBOOK else ""
    payload = {
        "text": _truncate(f"{icon} {esc(note.title)}: {esc(first)}{more}", 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _truncate(note.title, 150), "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _truncate("\n".join(lines) or "-", 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(context, 3000)}]},
        ],
    }
    payload.update({k: v for k, v in (("channel", channel), ("username", username)) if v is not None})
    return payload


def _retry_after(header: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None when unusable."""
    try:
        seconds = float(header)
    except (TypeError, ValueError):
        try:
            seconds = (email.utils.parsedate_to_datetime(header) - pd.Timestamp.now(tz="UTC")).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


class WebhookNotifier(Notifier):
    """POST notifications as JSON to a webhook (Slack by default), with retries and a dead letter.

    The URL comes from ``url`` or the environment variable ``env``; without one (or with
    ``dry_run=True``) nothing is sent: the payload is written to ``dry_run_file`` (default
    ``<artifacts>/alerts/dry_run.jsonl``) and the delivery says so. ``payload`` builds the JSON
    body from a notification; ``retry`` says how transient failures are retried.

    >>> WebhookNotifier(env=None).dry_run
    True
    >>> WebhookNotifier("https://hooks.slack.com/services/T0/B0/XYZ")
    WebhookNotifier(name='slack', destination='https://hooks.slack.com/…', dry_run=False)
    """

    def __init__(self, url: str | None = None, *, name: str = "slack",
                 payload: Callable[[Notification], dict] = slack_payload, env: str | None = DEFAULT_URL_ENV,
                 dry_run: bool | None = None, retry: Retry | None = None, dead_letter=None, dry_run_file=None):
        super().__init__(name, dead_letter=dead_letter)
        self._url = url or (os.environ.get(env) if env else None) or None  # "" counts as not configured
        self._why_dry = "dry_run=True" if self._url else (f"{env} is not set" if env else "no url was given")
        self.dry_run = (self._url is None) if dry_run is None else bool(dry_run)
        if not callable(payload):
            raise fail("WebhookNotifier", "payload", "a function Notification -> dict", f"<{type(payload).__name__}>",
                       "pass e.g. labkit.alerting.notifiers.slack_payload", TypeError)
        self._payload, self.retry = payload, retry or Retry()
        if not isinstance(self.retry, Retry):
            raise fail("WebhookNotifier", "retry", "a Retry", self.retry, "pass e.g. Retry(max_attempts=3)", TypeError)
        self._rng = random.Random(self.retry.seed)
        self._sleep = time.sleep if self.retry.sleep is None else self.retry.sleep
        self._dry_run_file = None if dry_run_file is None else Path(dry_run_file)
        self._opener = None
        if self.dry_run:
            log.warning("notifier %s: dry-run mode (%s): notifications are written to a file, not sent",
                        self.name, self._why_dry)
        elif _url_problem(self._url) is not None:
            log.warning("notifier %s: the webhook URL is unusable (%s); notifications will go to the "
                        "dead-letter file", self.name, _url_problem(self._url))
        else:  # no proxy for loopback: a proxy would see the secret URL and cannot reach 127.0.0.1 anyway
            proxies = urllib.request.ProxyHandler({} if _is_loopback(self._url) else None)
            self._opener = urllib.request.build_opener(proxies, _NoRedirect())

    @property
    def destination(self) -> str:
        """The URL, redacted (``https://hooks.slack.com/…``)."""
        return redact_url(self._url)

    @property
    def dry_run_path(self) -> Path:
        return self._dry_run_file or artifacts_dir("alerts") / "dry_run.jsonl"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, destination={self.destination!r}, dry_run={self.dry_run})"

    def _scrub(self, text: str) -> str:
        return _scrub(text, self._url)


    def _deliver(self, note: Notification) -> Delivery:
        payload = self._payload(note)
        body = json.dumps(_clean(payload), ensure_ascii=False, allow_nan=False).encode("utf-8")
        if self.dry_run:
            path = self.dry_run_path
            _append_jsonl(path, {"time": _now_iso(), "notifier": self.name, "destination": self.destination,
                                 "notification": _clean(note.to_dict()), "payload": _clean(payload)})
            msg = f"dry-run ({self._why_dry}): nothing was sent to {self.name}; the payload was written to {path}"
            log.info("notifier %s: %s (%s)", self.name, msg, note.title)
            return Delivery(self.name, "dry_run", 0, self.destination, message=msg, path=str(path))
        if _url_problem(self._url) is not None:
            return self.dead_letter(note.to_dict(), payload, error=f"malformed webhook URL: {_url_problem(self._url)}",
                                    attempts=0)
        r, start = self.retry, time.monotonic()
        for attempt in range(1, r.max_attempts + 1):
            status, error, retryable, retry_after = self._attempt(body, min(r.timeout, r.deadline -
                                                                            (time.monotonic() - start)))
            if error is None:
                log.info("notifier %s: delivered %s to %s (HTTP %s, attempt %d)", self.name, note.title,
                         self.destination, status, attempt)
                return Delivery(self.name, "delivered", attempt, self.destination, status, None,
                                f"delivered (HTTP {status}) after {attempt} attempt(s)")
            if not retryable or attempt == r.max_attempts:
                break
            wait = r.delays()[attempt - 1] * (1.0 - r.jitter * self._rng.random()) if retry_after is None else retry_after
            if wait > r.max_retry_after or time.monotonic() - start + wait >= r.deadline:
                error += (f"; the server asked to wait {wait:g} s, more than max_retry_after={r.max_retry_after:g} s"
                          if wait > r.max_retry_after else f"; the next attempt would pass the {r.deadline:g} s deadline")
                break
            log.warning("notifier %s: attempt %d/%d to %s failed (%s); retrying in %.2f s", self.name, attempt,
                        self.retry.max_attempts, self.destination, error, wait)
            self._sleep(wait)
        return self.dead_letter(note.to_dict(), payload, error=error, attempts=attempt, http_status=status)

    def _attempt(self, body: bytes, timeout: float) -> tuple[int | None, str | None, bool, float | None]:
        """One POST given ``timeout`` seconds in all: a server that answers too slowly (even byte by byte)
        is abandoned, its connection left to time out in a background thread."""
        result = [(None, f"timed out after {timeout:g} s", True, None)]
        worker = threading.Thread(target=lambda: result.__setitem__(0, self._post_once(body, max(timeout, 0.001))),
                                  daemon=True)
        worker.start()
        worker.join(max(timeout, 0.001))
        return result[0]

    def _post_once(self, body: bytes, timeout: float) -> tuple[int | None, str | None, bool, float | None]:
        """One POST: (http_status, error or None, retryable, retry_after seconds)."""
        request = urllib.request.Request(self._url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "labkit-notify/0.1"})
        try:
            with self._opener.open(request, timeout=timeout) as response:
                response.read(65536)
                return response.status, None, False, None
        except urllib.error.HTTPError as exc:
            code, header = exc.code, exc.headers.get("Retry-After") if exc.headers is not None else None
            exc.close()
            kind = "redirect (not followed)" if 300 <= code < 400 else self._scrub(str(exc.reason))
            return code, f"HTTP {code} {kind}", code >= 500 or code in _RETRY_STATUS, _retry_after(header)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                return None, f"timed out after {timeout:g} s", True, None
            if isinstance(reason, ConnectionRefusedError):
                return None, "connection refused", True, None
            return None, self._scrub(f"connection failed: {reason}"), True, None
        except (TimeoutError, socket.timeout):
            return None, f"timed out after {timeout:g} s", True, None
        except ValueError as exc:  # e.g. http.client.InvalidURL
            return None, self._scrub(f"malformed webhook URL: {type(exc).__name__}"), False, None
        except (OSError, http.client.HTTPException) as exc:
            return None, self._scrub(f"{type(exc).__name__}: {exc}"), True, None
