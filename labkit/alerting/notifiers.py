"""Notifiers: tell someone an alert fired, and never lose the alert when telling fails.

Three notifiers share one contract, ``send(notification) -> Delivery``, and **never raise**:

* :class:`ConsoleNotifier` prints the message (the only place labkit prints);
* :class:`FileNotifier` appends one JSON line per notification (default
  ``<artifacts>/alerts/notifications.jsonl``);
* :class:`WebhookNotifier` POSTs JSON to a webhook: a Slack-compatible payload by default
  (:func:`slack_payload`), or any payload builder such as :func:`pagerduty_payload`.

The webhook URL is a secret (whoever has a Slack webhook URL can post to the channel). It comes
from ``SLACK_WEBHOOK_URL`` or an explicit ``url=`` and is never printed or logged in full: every
message shows it redacted to scheme + host + ``/…`` (:func:`redact_url`). Without a URL the
notifier runs in **dry-run** mode: it says so (log message and the returned
:class:`Delivery`'s ``status="dry_run"``) and writes what it would have sent to
``<artifacts>/alerts/dry_run.jsonl``.

Failures and the dead-letter file
---------------------------------
Transient failures (HTTP 5xx, 408, 429, timeouts, connection refused or reset) are retried up
to ``max_attempts`` times with bounded exponential backoff and jitter: the wait after attempt
*k* (k = 0, 1, ...) is ``min(max_backoff, backoff * 2**k)`` shortened by a random fraction of up
to ``jitter`` (a 429's ``Retry-After`` is honoured, capped at ``max_backoff``). Permanent
failures (a malformed URL, a non-http(s) scheme, other 4xx answers, redirects) are not retried.
Whatever still failed is appended to the dead-letter file (default
``<artifacts>/alerts/dead_letter.jsonl``) with the notification, the error and the redacted
destination. **Invariant: every notification is delivered, written to the dry-run file, or in
the dead-letter file**; only if even that file cannot be written is the record logged at ERROR
level (status ``"lost"``). Sleeping and jitter are injectable (``sleep=``, ``seed=``) so tests
run instantly and deterministically.

Examples
--------
>>> from labkit.alerting.rules import Notification
>>> from labkit.alerting.notifiers import ConsoleNotifier, redact_url
>>> note = Notification.from_message("MAE is 55.0, threshold 40", severity="high",
...                                  rule="ModelErrorHigh", time="2012-03-01")
>>> ConsoleNotifier().send(note).status
2012-03-01 00:00 [FIRING] ModelErrorHigh (high)
- MAE is 55.0, threshold 40
'delivered'
>>> redact_url("https://hooks.slack.com/services/T000/B000/XXXXXXXX")
'https://hooks.slack.com/…'
"""
from __future__ import annotations

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping
from urllib.parse import urlsplit

import pandas as pd

from labkit.alerting.rules import PLAYBOOK, Notification
from labkit.paths import artifacts_dir

log = logging.getLogger(__name__)

__all__ = [
    "Delivery",
    "Notifier",
    "ConsoleNotifier",
    "FileNotifier",
    "WebhookNotifier",
    "slack_payload",
    "pagerduty_payload",
    "redact_url",
    "send_all",
    "DEFAULT_URL_ENV",
]

#: The environment variable the Slack webhook URL is read from.
DEFAULT_URL_ENV = "SLACK_WEBHOOK_URL"

_WRITE_LOCK = threading.Lock()
_RETRY_STATUS = {408, 429}
_SECRET_KEYS = ("routing_key", "token", "password", "secret")


def _fail(argument: str, expected: str, got, fix: str, exc: type[Exception] = ValueError) -> Exception:
    shown = got if isinstance(got, str) and got.startswith("<") else repr(got)
    return exc(f"{argument}: expected {expected}, got {shown}. Fix: {fix}")


@dataclass(frozen=True)
class Delivery:
    """What happened to one notification at one notifier.

    Attributes
    ----------
    notifier : str
        The notifier's name (``"console"``, ``"file"``, ``"slack"``, ...).
    status : str
        ``"delivered"``, ``"dry_run"`` (nothing sent: no URL configured), ``"dead_lettered"``
        (failed, recorded in the dead-letter file) or ``"lost"`` (failed and the dead-letter file
        could not be written either: logged at ERROR level).
    attempts : int
        Delivery attempts made (0 when none could be made).
    destination : str
        Where it went, redacted (``https://hooks.slack.com/…``, a file path, ``stdout``).
    http_status : int or None
        The last HTTP status received, if any.
    error : str or None
        The last error, with the URL redacted.
    message : str
        One readable line about the outcome.
    path : str or None
        The file written (JSON lines, dry-run or dead-letter file).
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

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# URL handling
# ---------------------------------------------------------------------------------------------
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
        return f"the URL's scheme must be http or https (got {shown!r})" if parts.scheme else \
            "the URL has no scheme (expected https://...)"
    if not parts.hostname:
        return "the URL has no host"
    if port == 0:
        return "the URL's port is 0"
    return None


def redact_url(url) -> str:
    """Scheme + host (+ port) + ``/…``: safe to print or log.

    Examples
    --------
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
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme.lower()}://{host}{port}/…"


def _scrub(text: str, url: str | None) -> str:
    """Remove every trace of ``url`` (whole, or its path/query/credentials) from ``text``."""
    if not url or not isinstance(url, str):
        return text
    pieces = {url, url.rstrip("/")}
    try:
        parts = urlsplit(url)
        pieces |= {parts.path, parts.query, parts.netloc, parts.path + ("?" + parts.query if parts.query else "")}
        if parts.username:
            pieces.add(parts.username)
        if parts.password:
            pieces.add(parts.password)
    except ValueError:
        pass
    for piece in sorted((p for p in pieces if p and len(p) > 1 and p != "/"), key=len, reverse=True):
        text = text.replace(piece, "…")
    return text


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Webhooks do not redirect; following one could send the alert (and secrets) elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def _redact_payload(obj):
    if isinstance(obj, Mapping):
        return {k: ("…" if k in _SECRET_KEYS and v else _redact_payload(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact_payload(v) for v in obj]
    return obj


def _append_jsonl(path: Path, record: dict) -> None:
    line = json.dumps(record, ensure_ascii=False, default=str, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _WRITE_LOCK, open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()


def _now_iso() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat()


def _as_notification(obj) -> Notification:
    if isinstance(obj, Notification):
        return obj
    if isinstance(obj, str):
        return Notification.from_message(obj)
    raise _fail("notification", "a labkit.alerting.rules.Notification (or a message string)", f"<{type(obj).__name__}>",
                "send what evaluate()/AlertEngine.step() return, or Notification.from_message('...')", TypeError)


def _clean_floats(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_floats(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------
# notifiers
# ---------------------------------------------------------------------------------------------
class Notifier:
    """Base class: ``send()`` never raises; failures end in the dead-letter file.

    Subclasses implement ``_deliver(notification) -> Delivery`` and may raise: :meth:`send`
    turns any exception into a dead-letter record.

    Parameters
    ----------
    name : str
        Shown in deliveries, logs and dead-letter records.
    dead_letter : path, optional
        Dead-letter file (default ``<artifacts>/alerts/dead_letter.jsonl``, resolved at send time).
    """

    def __init__(self, name: str, *, dead_letter: str | os.PathLike | None = None):
        self.name = str(name)
        self._dead_letter = None if dead_letter is None else Path(dead_letter)

    @property
    def dead_letter_path(self) -> Path:
        """Where undeliverable notifications go."""
        return self._dead_letter if self._dead_letter is not None else artifacts_dir("alerts") / "dead_letter.jsonl"

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
            return self._dead_letter_record({"unreadable": repr(notification)[:2000]}, None, attempts=0,
                                            error=str(exc), http_status=None)
        try:
            return self._deliver(note)
        except Exception as exc:  # the monitoring loop must never crash because of a notifier
            error = self._scrub(f"{type(exc).__name__}: {exc}")
            log.warning("notifier %s failed on %s: %s", self.name, note.title, error)
            return self._dead_letter_record(note.to_dict(), None, attempts=1, error=error, http_status=None)

    def _deliver(self, note: Notification) -> Delivery:  # pragma: no cover - abstract
        raise NotImplementedError

    def _scrub(self, text: str) -> str:
        return text

    def _dead_letter_record(self, notification: dict, payload, *, attempts: int, error: str | None,
                            http_status: int | None) -> Delivery:
        record = {"dead_lettered_at": _now_iso(), "notifier": self.name, "destination": self.destination,
                  "attempts": attempts, "http_status": http_status, "error": error,
                  "notification": _clean_floats(notification),
                  "payload": None if payload is None else _clean_floats(_redact_payload(payload))}
        path = self.dead_letter_path
        try:
            _append_jsonl(path, record)
        except Exception as exc:  # nowhere left to put it: shout in the log, with the record
            log.error("notifier %s: could not write the dead-letter file %s (%s); LOST notification: %s",
                      self.name, path, type(exc).__name__, json.dumps(record, default=str))
            return Delivery(self.name, "lost", attempts, self.destination, http_status, error,
                            f"failed ({error}) and the dead-letter file could not be written", None)
        log.warning("notifier %s: gave up after %d attempt(s) (%s); written to dead-letter file %s",
                    self.name, attempts, error, path)
        return Delivery(self.name, "dead_lettered", attempts, self.destination, http_status, error,
                        f"not delivered ({error}); recorded in {path}", str(path))


class ConsoleNotifier(Notifier):
    """Print each notification (time, title and one line per alert).

    Parameters
    ----------
    stream : file-like, optional
        Where to print (default: ``sys.stdout`` at the time of sending).
    """

    def __init__(self, stream=None, *, name: str = "console", dead_letter=None):
        super().__init__(name, dead_letter=dead_letter)
        self._stream = stream

    @property
    def destination(self) -> str:
        return "stdout" if self._stream is None else getattr(self._stream, "name", "stream")

    def _deliver(self, note: Notification) -> Delivery:
        stream = self._stream if self._stream is not None else sys.stdout
        print(f"{note.time:%Y-%m-%d %H:%M} {note.text}", file=stream, flush=True)
        return Delivery(self.name, "delivered", 1, self.destination, message="printed")


class FileNotifier(Notifier):
    """Append each notification as one JSON line (see :meth:`Notification.to_dict`).

    Parameters
    ----------
    path : path, optional
        Default ``<artifacts>/alerts/notifications.jsonl`` (resolved at send time).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, name: str = "file", dead_letter=None):
        super().__init__(name, dead_letter=dead_letter)
        self._path = None if path is None else Path(path)

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else artifacts_dir("alerts") / "notifications.jsonl"

    @property
    def destination(self) -> str:
        return str(self.path)

    def _deliver(self, note: Notification) -> Delivery:
        path = self.path
        _append_jsonl(path, {"sent_at": _now_iso(), **_clean_floats(note.to_dict())})
        return Delivery(self.name, "delivered", 1, str(path), message=f"appended to {path}", path=str(path))


def slack_payload(notification: Notification, *, channel: str | None = None, username: str | None = None) -> dict:
    """A Slack incoming-webhook payload: fallback ``text`` plus Block Kit ``blocks``.

    ``channel``/``username`` are added only when given (legacy webhooks honour them; app
    webhooks post to their own channel).

    Examples
    --------
    >>> from labkit.alerting.rules import Notification
    >>> n = Notification.from_message("mae > 40 for 2 days", severity="critical", rule="ModelErrorHigh",
    ...                               time="2012-03-01")
    >>> p = slack_payload(n)
    >>> p["text"]
    ':rotating_light: [FIRING] ModelErrorHigh (critical): mae &gt; 40 for 2 days'
    >>> [b["type"] for b in p["blocks"]]
    ['header', 'section', 'context']
    """
    note = _as_notification(notification)
    icon = ":white_check_mark:" if note.status == "resolved" else {
        "critical": ":rotating_light:", "high": ":red_circle:", "medium": ":large_orange_circle:",
        "low": ":large_blue_circle:"}.get(note.severity, ":bell:")

    def esc(s: str) -> str:  # Slack mrkdwn control characters
        return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    first = note.alerts[0]["message"] if note.alerts else ""
    more = f" (+{len(note.alerts) - 1} more)" if len(note.alerts) > 1 else ""
    lines = [f"• *{esc(a['rule'])}* ({esc(a['severity'])}): {esc(a['message'])}" for a in note.alerts]
    context = f"labkit · window {note.time:%Y-%m-%d %H:%M} · severity *{note.severity}*"
    if note.severity in PLAYBOOK:
        context += f" ({esc(PLAYBOOK[note.severity])})"
    payload = {
        "text": _truncate(f"{icon} {esc(note.title)}: {esc(first)}{more}", 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _truncate(note.title, 150), "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _truncate("\n".join(lines) or "-", 3000)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _truncate(context, 3000)}]},
        ],
    }
    if channel is not None:
        payload["channel"] = channel
    if username is not None:
        payload["username"] = username
    return payload


_PD_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


def pagerduty_payload(notification: Notification, *, routing_key: str, source: str = "labkit",
                      component: str = "model") -> dict:
    """A PagerDuty Events API v2 event: ``trigger`` for firing, ``resolve`` for resolved.

    Severities map critical→critical, high→error, medium→warning, low→info; ``dedup_key`` is the
    notification's group key, so the resolve event closes the incident its trigger opened. POST
    it to ``https://events.pagerduty.com/v2/enqueue``, e.g. with
    ``WebhookNotifier(url, name="pagerduty", env=None,
    payload=functools.partial(pagerduty_payload, routing_key=KEY))``. The routing key is a
    secret: dead-letter and dry-run records show it as ``"…"``.

    Examples
    --------
    >>> from labkit.alerting.rules import Notification
    >>> n = Notification.from_message("p95 latency 0.8 s", severity="high", rule="HighPredictionLatency",
    ...                               time="2012-03-01")
    >>> e = pagerduty_payload(n, routing_key="R0123456789")
    >>> e["event_action"], e["payload"]["severity"], e["payload"]["summary"]
    ('trigger', 'error', '[FIRING] HighPredictionLatency (high): p95 latency 0.8 s')
    """
    note = _as_notification(notification)
    if not isinstance(routing_key, str) or not routing_key.strip():
        raise _fail("routing_key", "the PagerDuty integration key (a non-empty string)", "<missing>",
                    "pass routing_key=os.environ['PAGERDUTY_ROUTING_KEY']", TypeError)
    event = {"routing_key": routing_key, "event_action": "resolve" if note.status == "resolved" else "trigger",
             "dedup_key": note.group_key}
    if event["event_action"] == "trigger":
        first = note.alerts[0]["message"] if note.alerts else ""
        event["payload"] = {
            "summary": _truncate(f"{note.title}: {first}", 1024),
            "source": source,
            "severity": _PD_SEVERITY.get(note.severity, "warning"),
            "timestamp": note.time.isoformat(),
            "component": component,
            "group": note.group_labels.get("alertname", ", ".join(note.rules)),
            "class": ", ".join(note.rules),
            "custom_details": _clean_floats({"alerts": [dict(a) for a in note.alerts],
                                             "playbook": PLAYBOOK.get(note.severity, "")}),
        }
    return event


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class WebhookNotifier(Notifier):
    """POST notifications as JSON to a webhook (Slack by default), with retries and a dead letter.

    Parameters
    ----------
    url : str, optional
        The webhook URL. Default: the environment variable ``env`` (``SLACK_WEBHOOK_URL``). Never
        printed or logged in full.
    name : str, default "slack"
    payload : callable, default :func:`slack_payload`
        Builds the JSON body from a :class:`~labkit.alerting.rules.Notification`.
    env : str or None, default "SLACK_WEBHOOK_URL"
        Where to read the URL when ``url`` is not given (None: do not look).
    dry_run : bool, optional
        Default: True exactly when no URL is configured. Dry-run sends nothing, says so, and
        writes the payload to ``dry_run_file``.
    timeout : float, default 5.0
        Seconds per attempt (connect and read).
    max_attempts : int, default 4
        Attempts for transient failures (1 = no retry).
    backoff, max_backoff : float, default 0.5 and 8.0
        Base and cap of the exponential backoff, in seconds.
    jitter : float in [0, 1], default 0.5
        Each wait is shortened by a random fraction of up to ``jitter``.
    seed : int, optional
        Seed of the jitter's random generator (the notifier owns it).
    sleep : callable, optional
        Called with the seconds to wait (default ``time.sleep``; tests inject a recorder).
    dead_letter, dry_run_file : path, optional
        Default ``<artifacts>/alerts/dead_letter.jsonl`` and ``<artifacts>/alerts/dry_run.jsonl``.

    Examples
    --------
    >>> import logging, os
    >>> from labkit.alerting.rules import Notification
    >>> hook = WebhookNotifier(env=None)          # no URL: dry-run
    >>> hook.dry_run, hook.destination
    (True, '<no URL>')
    >>> hook = WebhookNotifier("https://hooks.slack.com/services/T0/B0/XYZ", seed=0)
    >>> hook
    WebhookNotifier(name='slack', destination='https://hooks.slack.com/…', dry_run=False)
    """

    def __init__(self, url: str | None = None, *, name: str = "slack",
                 payload: Callable[[Notification], dict] = slack_payload, env: str | None = DEFAULT_URL_ENV,
                 dry_run: bool | None = None, timeout: float = 5.0, max_attempts: int = 4, backoff: float = 0.5,
                 max_backoff: float = 8.0, jitter: float = 0.5, seed: int | None = None,
                 sleep: Callable[[float], None] | None = None, dead_letter=None, dry_run_file=None):
        super().__init__(name, dead_letter=dead_letter)
        url = url or None  # an empty string counts as "not configured"
        if url is None and env:
            url = os.environ.get(env) or None
        self._url = url
        self._env = env
        self.dry_run = (url is None) if dry_run is None else bool(dry_run)
        if not callable(payload):
            raise _fail("payload", "a function Notification -> dict", f"<{type(payload).__name__}>",
                        "pass e.g. labkit.alerting.notifiers.slack_payload", TypeError)
        self._payload = payload
        for arg, value, lo in (("timeout", timeout, 0.0), ("backoff", backoff, 0.0), ("max_backoff", max_backoff, 0.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < lo:
                raise _fail(arg, "a finite number of seconds >= 0", value, f"pass e.g. {arg}=1.0")
        if timeout <= 0:
            raise _fail("timeout", "a number of seconds > 0", timeout, "pass e.g. timeout=5.0")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise _fail("max_attempts", "a whole number >= 1", max_attempts, "pass e.g. max_attempts=4")
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
            raise _fail("jitter", "a fraction in [0, 1]", jitter, "pass e.g. jitter=0.5")
        self.timeout, self.max_attempts = float(timeout), int(max_attempts)
        self.backoff, self.max_backoff, self.jitter = float(backoff), float(max_backoff), float(jitter)
        self._rng = random.Random(seed)
        self._sleep = time.sleep if sleep is None else sleep
        self._dry_run_file = None if dry_run_file is None else Path(dry_run_file)
        self._opener = None
        if self.dry_run:
            why = "dry_run=True" if url is not None else (
                f"{env} is not set" if env else "no url was given")
            log.warning("notifier %s: dry-run mode (%s): notifications are written to a file, not sent",
                        self.name, why)
        elif _url_problem(url) is not None:
            log.warning("notifier %s: the webhook URL is unusable (%s); notifications will go to the "
                        "dead-letter file", self.name, _url_problem(url))
        else:
            proxies = urllib.request.ProxyHandler({}) if _is_loopback(url) else urllib.request.ProxyHandler()
            self._opener = urllib.request.build_opener(proxies, _NoRedirect())

    @property
    def destination(self) -> str:
        """The URL, redacted (``https://hooks.slack.com/…``)."""
        return redact_url(self._url)

    @property
    def dry_run_path(self) -> Path:
        return self._dry_run_file if self._dry_run_file is not None else artifacts_dir("alerts") / "dry_run.jsonl"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, destination={self.destination!r}, dry_run={self.dry_run})"

    def _scrub(self, text: str) -> str:
        return _scrub(text, self._url)

    def delays(self, n: int | None = None) -> list[float]:
        """The upper bounds of the waits between attempts (before jitter), for ``n`` retries."""
        n = self.max_attempts - 1 if n is None else n
        return [min(self.max_backoff, self.backoff * 2 ** k) for k in range(n)]

    def _wait(self, k: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_backoff, max(0.0, retry_after))
        cap = min(self.max_backoff, self.backoff * 2 ** k)
        return cap * (1.0 - self.jitter * self._rng.random())

    def _deliver(self, note: Notification) -> Delivery:
        payload = self._payload(note)
        body = json.dumps(_clean_floats(payload), ensure_ascii=False, allow_nan=False).encode("utf-8")
        if self.dry_run:
            path = self.dry_run_path
            _append_jsonl(path, {"time": _now_iso(), "notifier": self.name, "destination": self.destination,
                                 "notification": _clean_floats(note.to_dict()),
                                 "payload": _clean_floats(_redact_payload(payload))})
            why = "dry_run=True" if self._url is not None else (
                f"{self._env} is not set" if self._env else "no url was given")
            msg = f"dry-run ({why}): nothing was sent to {self.name}; the payload was written to {path}"
            log.info("notifier %s: %s (%s)", self.name, msg, note.title)
            return Delivery(self.name, "dry_run", 0, self.destination, message=msg, path=str(path))
        problem = _url_problem(self._url)
        if problem is not None:
            return self._dead_letter_record(note.to_dict(), payload, attempts=0,
                                            error=f"malformed webhook URL: {problem}", http_status=None)
        status, error = None, None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            status, error, retryable, retry_after = self._post_once(body)
            if error is None:
                log.info("notifier %s: delivered %s to %s (HTTP %s, attempt %d)", self.name, note.title,
                         self.destination, status, attempt)
                return Delivery(self.name, "delivered", attempt, self.destination, status, None,
                                f"delivered (HTTP {status}) after {attempt} attempt(s)")
            if not retryable or attempt == self.max_attempts:
                break
            wait = self._wait(attempt - 1, retry_after)
            log.warning("notifier %s: attempt %d/%d to %s failed (%s); retrying in %.2f s", self.name, attempt,
                        self.max_attempts, self.destination, error, wait)
            self._sleep(wait)
        return self._dead_letter_record(note.to_dict(), payload, attempts=attempt, error=error, http_status=status)

    def _post_once(self, body: bytes) -> tuple[int | None, str | None, bool, float | None]:
        """One POST: (http_status, error or None, retryable, retry_after seconds)."""
        request = urllib.request.Request(self._url, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "labkit-notify/0.1"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
                code = response.status
            if 200 <= code < 300:
                return code, None, False, None
            return code, f"HTTP {code}", code >= 500, None
        except urllib.error.HTTPError as exc:
            code = exc.code
            retry_after = None
            try:
                if exc.headers is not None and exc.headers.get("Retry-After"):
                    retry_after = float(exc.headers.get("Retry-After"))
            except ValueError:
                retry_after = None
            try:
                exc.close()
            except Exception:  # pragma: no cover - best effort
                pass
            kind = "redirect (not followed)" if 300 <= code < 400 else self._scrub(str(exc.reason))
            return code, f"HTTP {code} {kind}", code >= 500 or code in _RETRY_STATUS, retry_after
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                return None, f"timed out after {self.timeout:g} s", True, None
            if isinstance(reason, ConnectionRefusedError):
                return None, "connection refused", True, None
            return None, self._scrub(f"connection failed: {reason}"), True, None
        except (TimeoutError, socket.timeout):
            return None, f"timed out after {self.timeout:g} s", True, None
        except ConnectionRefusedError:
            return None, "connection refused", True, None
        except (ConnectionError, http.client.HTTPException) as exc:
            return None, self._scrub(f"{type(exc).__name__}: {exc}"), True, None
        except ValueError as exc:  # e.g. http.client.InvalidURL
            return None, self._scrub(f"malformed webhook URL: {type(exc).__name__}"), False, None
        except OSError as exc:
            return None, self._scrub(f"{type(exc).__name__}: {exc}"), True, None


def send_all(notifiers: Iterable, notification, *, dead_letter=None) -> list[Delivery]:
    """Send ``notification`` through every notifier; never raises.

    A notifier that does not follow the contract and raises is caught: the notification is
    written to ``dead_letter`` (default ``<artifacts>/alerts/dead_letter.jsonl``) for it.

    Examples
    --------
    >>> from labkit.alerting.rules import Notification
    >>> import io
    >>> out = io.StringIO()
    >>> [d.status for d in send_all([ConsoleNotifier(out)], Notification.from_message("hi", time="2012-01-01"))]
    ['delivered']
    """
    out = []
    for notifier in notifiers:
        try:
            result = notifier.send(notification)
            if not isinstance(result, Delivery):
                result = Delivery(getattr(notifier, "name", type(notifier).__name__), "delivered", 1,
                                  str(getattr(notifier, "destination", "?")), message="custom notifier returned")
        except Exception as exc:
            name = getattr(notifier, "name", type(notifier).__name__)
            fallback = Notifier(str(name), dead_letter=dead_letter)
            try:
                note = _as_notification(notification).to_dict()
            except TypeError:
                note = {"unreadable": repr(notification)[:2000]}
            result = fallback._dead_letter_record(note, None, attempts=1, error=f"{type(exc).__name__}",
                                                  http_status=None)
        out.append(result)
    return out
