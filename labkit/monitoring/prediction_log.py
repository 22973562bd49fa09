"""Log predictions and late labels asynchronously, losing nothing: SQLite (WAL) by default.

A service calls :meth:`PredictionLogger.log` on its prediction path: the record is checked, put on
an in-memory queue and the call returns (about 2 µs). A background writer thread commits what is
queued in batches, one SQLite transaction each. Labels that arrive later go through
:meth:`~PredictionLogger.log_feedback` and join their prediction by ``prediction_id`` when the log
is read back with :func:`read_log`.

Every accepted record ends up in the database or, with the reason, in the dead-letter file
``<db>.deadletter.jsonl``; :meth:`~PredictionLogger.flush` and :meth:`~PredictionLogger.close`
report failures. What is stored, the policies (full queue, bad records, locked database,
sampling, signals) and the measurements are in ``docs/monitoring.md`` and ``docs/reliability.md``.

Examples
--------
>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> with PredictionLogger(f"{tmp.name}/log.sqlite", features=["temp", "hr"], model_version="v1") as lg:
...     pid = lg.log({"temp": 0.3, "hr": 8}, 120.0, prediction_id="p1", event_time="2012-01-01 08:00")
...     lg.log_feedback("p1", 131.0, label_time="2012-01-02 08:00")
True
>>> lg.stats.written, lg.stats.ok
(2, True)
>>> read_log(lg.path)[["prediction_id", "event_time", "temp", "hr", "prediction", "label"]]
  prediction_id          event_time  temp  hr  prediction  label
0            p1 2012-01-01 08:00:00   0.3   8       120.0  131.0
>>> tmp.cleanup()
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import datetime
import itertools
import json
import logging
import math
import numbers
import operator
import os
import random
import re
import signal
import sqlite3
import threading
import time
import uuid
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from labkit._validate import check_choice, check_int, check_number, describe, fail
from labkit.paths import artifacts_dir

__all__ = [
    "FORMAT_VERSION", "PredictionLogError", "InvalidRecordError", "QueueFullError", "WriteFailedError",
    "LogPolicy", "LogStats", "PredictionLogger", "resolve_log_path", "epoch_seconds", "read_log",
]

logger = logging.getLogger(__name__)

#: Version of the table layout written in the ``meta`` table.
FORMAT_VERSION = 1

# Queue items are tuples (number of records, kind, ...).
_PRED, _PRED_BATCH, _FEEDBACK_BATCH, _MARKER, _STOP = range(5)
_FIXED_COLUMNS = ("prediction_id", "event_time", "log_time", "model_version", "prediction",
                  "latency_seconds", "observed_at")
_FEEDBACK_COLUMNS = ("prediction_id", "label", "label_time", "log_time")
_RESERVED = frozenset(_FIXED_COLUMNS + _FEEDBACK_COLUMNS + ("labelled",))  # columns read_log produces
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_FEATURES = 1000  # SQLite allows 2000 columns per table
_MAX_PROBLEMS = 20
_MAX_BACKOFF = 2.0
# sqlite3 stores these as they are; anything else goes through _plain (numpy scalars would be bound
# through the buffer protocol and stored as raw bytes).
_PLAIN_TYPES = frozenset({int, float, str, type(None)})
_IDLE_MIN, _IDLE_MAX = 0.001, 0.05  # the writer's polling interval while the queue is empty (s)
# Times the log accepts, in Unix seconds: what pandas can represent (1678 to 2261).
_MIN_SECONDS = pd.Timestamp("1678-01-01").value / 1e9
_MAX_SECONDS = pd.Timestamp("2262-01-01").value / 1e9


class PredictionLogError(Exception):
    """Base class of the errors the prediction logger raises."""


class InvalidRecordError(PredictionLogError, ValueError):
    """A record is malformed; the message names the field, what was expected, what arrived and the fix."""


class QueueFullError(PredictionLogError):
    """The queue stayed full for ``block_timeout`` seconds; the record was not accepted."""


class WriteFailedError(PredictionLogError):
    """Accepted records could not be committed after all retries; they went to the dead-letter file."""


def _invalid(func: str, argument: str, expected: str, got: Any, fix: str) -> InvalidRecordError:
    return fail(func, argument, expected, got, fix, InvalidRecordError)


@dataclass(frozen=True)
class LogPolicy:
    """How a :class:`PredictionLogger` batches, waits, retries and refuses.

    ``batch_size``: most records per transaction; ``max_queue``: most items waiting for the writer.
    What each other knob does (full queue, malformed records, a locked database, signals) is the
    policy table in ``docs/monitoring.md`` ("Policies").
    """

    batch_size: int = 5000
    max_queue: int = 100_000
    block_timeout: float = 5.0
    on_full: str = "raise"
    on_invalid: str = "raise"
    retries: int = 5
    backoff: float = 0.05
    busy_timeout: float = 0.25
    handle_signals: bool = True

    def __post_init__(self):
        f = "LogPolicy"
        check_choice(self.on_full, "on_full", ("raise", "count"), func=f)
        check_choice(self.on_invalid, "on_invalid", ("raise", "count"), func=f)
        for name in ("batch_size", "max_queue", "retries"):
            check_int(getattr(self, name), name, func=f, low=0 if name == "retries" else 1)
        for name in ("block_timeout", "backoff", "busy_timeout"):
            check_number(getattr(self, name), name, func=f, low=0, fix=f"pass seconds, e.g. {name}=0.1")


@dataclass(frozen=True)
class LogStats:
    """A snapshot of what a :class:`PredictionLogger` has done, in records.

    ``accepted``: taken onto the queue (sampled-out records are not). ``written``: committed.
    ``pending``: accepted, not yet written or given up. ``rejected``: refused by a full queue
    (never accepted). ``sampled_out``: predictions skipped by sampling, and feedback for them.
    ``invalid``: malformed records counted under ``on_invalid="count"``, plus rows the database
    refused (dead-lettered). ``failed``: accepted records the database did not take after all
    retries (dead-lettered). ``retries``/``errors``: database attempts retried / batches given up.
    ``unsaved``: failed or refused records the dead-letter file could not take either (they are only in
    Python's log). ``problems``: the first messages about refused or failed records.
    """

    accepted: int
    written: int
    pending: int
    rejected: int
    sampled_out: int
    invalid: int
    failed: int
    retries: int
    errors: int
    last_error: str | None
    unsaved: int = 0
    problems: tuple = field(default=(), repr=False)
    dead_letter: str = field(default="", repr=False)
    writer_alive: bool = True
    closed: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing was rejected, invalid or failed and the writer runs (or closed cleanly)."""
        return (self.rejected == 0 and self.invalid == 0 and self.failed == 0
                and (self.writer_alive or self.closed))

    def to_dict(self) -> dict:
        """The fields (and ``ok``) as a JSON-friendly dict."""
        return {**asdict(self), "problems": list(self.problems), "ok": self.ok}


class _Counter:
    """A thread-safe counter with no lock on the hot path: ``inc()`` is one ``next()`` on an
    ``itertools.count`` (atomic under the GIL). A lock per ``log`` call from 8 threads took p99 from
    ~4 µs to ~1 ms here; ``add(n)`` (batches, rare) takes one."""

    __slots__ = ("_count", "_extra", "_lock", "inc")

    def __init__(self):
        self._count = itertools.count()
        self._extra = 0
        self._lock = threading.Lock()
        self.inc = self._count.__next__

    def add(self, n: int) -> None:
        with self._lock:
            self._extra += n

    @property
    def value(self) -> int:
        return int(repr(self._count)[6:-1]) + self._extra  # itertools.count's repr is "count(N)"


def resolve_log_path(path=None, name: str = "predictions.sqlite") -> Path:
    """Where a log lives: ``artifacts_dir("logs") / name`` by default; relative paths go there too.

    >>> resolve_log_path("x.sqlite").relative_to(artifacts_dir()).as_posix()
    'logs/x.sqlite'
    """
    if path is None:
        return artifacts_dir("logs") / name
    if not isinstance(path, (str, os.PathLike)):
        raise fail("PredictionLogger", "path", "a str or os.PathLike (or None for the artifacts folder)", path,
                   "pass e.g. 'predictions.sqlite'", TypeError)
    p = Path(path).expanduser()
    return p if p.is_absolute() else artifacts_dir("logs") / p  # the lab never writes next to its sources


def _epoch(value, argument: str, func: str = "log") -> float:
    """Unix seconds from a number (seconds), a datetime-like or a string; naive times are UTC."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        seconds = float(value)
    else:
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise _invalid(func, argument, "a time (datetime, ISO string or Unix seconds) in 1678..2261", value,
                           f"pass e.g. '2012-06-01 08:00' ({exc})") from None
        seconds = math.nan if ts is pd.NaT else ts.timestamp()  # naive times are UTC
    if not _MIN_SECONDS < seconds < _MAX_SECONDS:  # NaN fails too
        raise _invalid(func, argument, "a real time in 1678..2261 (numbers are Unix seconds)", value,
                       "pass seconds, not milliseconds (divide by 1000); a missing time cannot be logged")
    return seconds


def epoch_seconds(values, n: int, *, argument: str = "times", func: str = "epoch_seconds",
                  default: float | None = None) -> np.ndarray:
    """``n`` times as Unix seconds, read as the log reads them: one time for all rows or one per row;
    numbers are seconds, naive times UTC; None means ``default`` (or now).

    >>> epoch_seconds("2012-01-01 01:00", 2)
    array([1.3253796e+09, 1.3253796e+09])
    """
    if values is None:
        return np.full(n, time.time() if default is None else default)
    if np.isscalar(values) or isinstance(values, (pd.Timestamp, np.datetime64, datetime.date)):
        return np.full(n, _epoch(values, argument, func))
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise _invalid(func, argument, f"one time per row ({n})", f"<{arr.size} values>",
                       "pass one time for all rows, or a column as long as the frame")
    if arr.dtype.kind in "iuf":
        out = arr.astype(float)
    else:
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(arr))
        except (ValueError, TypeError, OverflowError) as exc:
            raise _invalid(func, argument, "times (datetimes, ISO strings or Unix seconds) in 1678..2261",
                           f"<values of dtype {arr.dtype}>", f"convert them with pd.to_datetime ({exc})") from None
        if idx.tz is not None:
            idx = idx.tz_convert("UTC").tz_localize(None)
        out = np.where(idx.isna(), np.nan, idx.asi8 / 1e9)
    bad = ~((out > _MIN_SECONDS) & (out < _MAX_SECONDS))
    if bad.any():
        pos = int(np.argmax(bad))
        raise _invalid(func, f"{argument}[{pos}]", "a real time in 1678..2261 in every row (numbers are Unix "
                       "seconds)", arr[pos], f"{int(bad.sum())} row(s) are missing or out of range: drop or fix "
                       "them (milliseconds? divide by 1000)")
    return out


class _Bytes:
    """Bytes in a record: SQLite would keep a blob the log cannot read back. sqlite3 cannot bind this
    wrapper, so the writer isolates the record and dead-letters it with the reason."""

    __slots__ = ("value",)

    def __init__(self, value: bytes):
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def _plain(value):
    """A value sqlite3 stores as it is: numpy scalars become Python, NaN NULL, times ISO text, bytes
    a :class:`_Bytes`, other objects their str()."""
    if isinstance(value, (bytes, bytearray)):
        return _Bytes(bytes(value))
    if value is None or isinstance(value, (str, int, float)):
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else None
        return int(value) if isinstance(value, int) else value  # bool and numpy-int subclasses -> int
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, (pd.Timestamp, datetime.date)):
        return value.isoformat()
    return None if value is pd.NaT or value is pd.NA else str(value)


def _unstorable(row) -> str | None:
    """Why SQLite would refuse or mangle a value of ``row`` (None when it stores them all)."""
    for v in row:
        if isinstance(v, _Bytes):
            return f"bytes {v.value[:20]!r} cannot be stored: decode them to str before logging"
        if isinstance(v, int) and not -2 ** 63 <= v < 2 ** 63:
            return f"int {v} does not fit SQLite's 64 bits: log it as a str (e.g. a hash) or a float"
    return None


def _observed_json(observed_at, features, func: str) -> str | None:
    """``observed_at`` as JSON: one number (every input) or ``{feature: seconds}``."""
    if isinstance(observed_at, Mapping):
        unknown = [k for k in observed_at if k not in features]
        if unknown:
            raise _invalid(func, "observed_at", f"times for declared features only ({sorted(features)})", unknown,
                           "drop the unknown names or fix their spelling")
        return json.dumps({k: _epoch(v, f"observed_at[{k!r}]", func) for k, v in observed_at.items()})
    return repr(_epoch(observed_at, "observed_at", func))


def _check_features(features) -> tuple[str, ...]:
    f, fix = "PredictionLogger", "rename the feature"
    if isinstance(features, str) or not isinstance(features, Iterable):
        raise fail(f, "features", "a list of feature names", features,
                   "pass e.g. features=baseline.features", TypeError)
    names = tuple(features)
    if not 1 <= len(names) <= _MAX_FEATURES:
        raise fail(f, "features", f"1 to {_MAX_FEATURES} feature names", f"<{len(names)} names>",
                   "declare the model's inputs")
    for name in names:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise fail(f, "features", "names of letters, digits and '_' (they become SQL columns)", name, fix)
        if name in _RESERVED or name.startswith("age_"):
            raise fail(f, "features", f"names other than the log's own columns {sorted(_RESERVED)} and age_*",
                       name, fix)
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(names):
        dups = sorted({n for n in names if lowered.count(n.lower()) > 1})
        raise fail(f, "features", "distinct names (SQL ignores upper/lower case)", f"<duplicates {dups}>",
                   "list each feature once, with one spelling")
    return names


# Why the database may refuse one row (a value it cannot store, a duplicated id): the row is dead-lettered alone.
_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError,
               UnicodeEncodeError, ValueError)


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    return sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)


def _read_features(con: sqlite3.Connection) -> tuple[str, ...] | None:
    try:
        row = con.execute("SELECT value FROM meta WHERE key = ?", ("features",)).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return tuple(json.loads(row[0])) if row else None


def _create_schema(con: sqlite3.Connection, features: tuple[str, ...]) -> None:
    feature_cols = ", ".join(f'"f_{name}"' for name in features)  # names checked by _NAME_RE
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("CREATE TABLE IF NOT EXISTS predictions (prediction_id TEXT PRIMARY KEY, event_time REAL NOT "
                    "NULL, log_time REAL NOT NULL, model_version TEXT NOT NULL, prediction REAL NOT NULL, "
                    f"latency_seconds REAL, observed_at TEXT, {feature_cols})")
        con.execute("CREATE INDEX IF NOT EXISTS predictions_event_time ON predictions (event_time)")
        con.execute("CREATE TABLE IF NOT EXISTS feedback (prediction_id TEXT PRIMARY KEY, label REAL NOT NULL, "
                    "label_time REAL NOT NULL, log_time REAL NOT NULL)")
        con.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                        [("features", json.dumps(list(features))), ("format_version", str(FORMAT_VERSION))])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


class _InsertSQL:
    """One parameterised ``INSERT ... VALUES (?, ...), (?, ...), ...`` per block of rows: about 25% faster
    than ``executemany``, and it releases the GIL once per block, so callers are not stalled."""

    def __init__(self, prefix: str, n_columns: int):
        self.prefix, self.n_columns = prefix, n_columns
        self.one = prefix + self._values(1)
        self._blocks = None

    def _values(self, n_rows: int) -> str:
        return ", ".join(["(" + ", ".join("?" * self.n_columns) + ")"] * n_rows)

    def insert(self, con: sqlite3.Connection, rows: list) -> None:
        if self._blocks is None:
            big = max(1, min(1024, con.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // self.n_columns))
            small = max(1, min(64, big))
            self._blocks = [(size, self.prefix + self._values(size)) for size in (big, small)]
        start, n = 0, len(rows)
        for size, sql in self._blocks:
            while n - start >= size:
                con.execute(sql, list(itertools.chain.from_iterable(rows[start:start + size])))
                start += size
        if start < n:
            con.executemany(self.one, rows[start:])



_OPEN_LOGGERS: weakref.WeakSet = weakref.WeakSet()
_PREVIOUS_HANDLERS: dict = {}
_SIGNAL_FLUSH_SECONDS = 10.0


def _flush_on_signal(signum, frame):
    """Flush every open logger, then let the signal do what it did before (by default: end the process)."""
    for lg in list(_OPEN_LOGGERS):
        lg._wait_for_writer(_SIGNAL_FLUSH_SECONDS)
    previous = _PREVIOUS_HANDLERS.get(signum)
    if callable(previous):  # e.g. Python's SIGINT handler, which raises KeyboardInterrupt
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_signal_handlers() -> None:
    """Once per process, from the main thread (the only one Python lets set handlers)."""
    if _PREVIOUS_HANDLERS or threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            _PREVIOUS_HANDLERS[getattr(signal, name)] = signal.signal(getattr(signal, name), _flush_on_signal)


class PredictionLogger:
    """Log predictions and late labels from any number of threads, without blocking them.

    ``path`` is the SQLite file (default ``artifacts_dir("logs")/predictions.sqlite``; relative paths
    go there too); an existing log is appended to. ``features`` are the model's input names, which
    every record carries (required for a new file). ``model_version`` is stored with each
    prediction unless ``log`` is given another. ``sample_rate`` is the share of predictions kept,
    drawn from the logger's own ``random.Random(seed)``. ``policy`` sets batching, backpressure,
    invalid records and retries. Use it as a context manager or call :meth:`close` (``atexit``
    closes loggers still open); do not share one across ``os.fork``.
    """

    def __init__(self, path=None, *, features: Sequence[str] | None = None, model_version: str = "unversioned",
                 sample_rate: float = 1.0, seed: int = 0, policy: LogPolicy | None = None):
        f = "PredictionLogger"
        self.policy = policy if policy is not None else LogPolicy()
        if not isinstance(self.policy, LogPolicy):
            raise fail(f, "policy", "a LogPolicy", policy, "pass LogPolicy(retries=10, ...)", TypeError)
        self.sample_rate = check_number(sample_rate, "sample_rate", func=f, low=0, high=1, low_open=True,
                                        fix="pass e.g. 0.1 to keep 10% of predictions")
        if not isinstance(model_version, str) or not model_version:
            raise fail(f, "model_version", "a non-empty string", model_version, "pass e.g. 'v1'")
        self.model_version = model_version
        self.path = resolve_log_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dead_letter_path = self.path.with_name(self.path.name + ".deadletter.jsonl")
        self.features = self._open_database(features)
        n = len(self.features)
        self._get_values = operator.itemgetter(*self.features) if n > 1 else (lambda d, k=self.features[0]: (d[k],))
        self._feature_set = frozenset(self.features)
        columns = ", ".join(_FIXED_COLUMNS + tuple(f'"f_{name}"' for name in self.features))
        self._prediction_sql = _InsertSQL(f"INSERT INTO predictions ({columns}) VALUES ", len(_FIXED_COLUMNS) + n)
        self._feedback_sql = _InsertSQL(f"INSERT INTO feedback ({', '.join(_FEEDBACK_COLUMNS)}) VALUES ",
                                        len(_FEEDBACK_COLUMNS))
        # caller-side state (set operations are atomic under the GIL)
        self._known, self._labelled, self._sampled = self._stored_ids(), self._stored_ids("feedback"), set()
        self._id_prefix, self._id_counter = uuid.uuid4().hex[:12], itertools.count()
        self._rng = random.Random(seed)
        self._count_lock = threading.Lock()  # rare paths only (refused records, problems)
        self._rejected = self._invalid = 0
        self._problems: list[str] = []
        self._accepted, self._sampled_out = _Counter(), _Counter()
        self._entered, self._exited = _Counter(), _Counter()  # close() waits for callers between the two
        # writer-side state (touched by the writer thread only, read as snapshots)
        self._written = self._failed = self._invalid_at_write = self._retries = self._errors = self._done = 0
        self._last_error: str | None = None
        self._reported_failed = self._reported_invalid = self._unsaved = 0
        self._unsaved_error: str | None = None
        self._con: sqlite3.Connection | None = None
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._closed = False
        self._close_lock = threading.Lock()
        self._writer = threading.Thread(target=self._run, name=f"PredictionLogger({self.path.name})", daemon=True)
        self._writer.start()
        atexit.register(self._close_at_exit)
        _OPEN_LOGGERS.add(self)
        if self.policy.handle_signals:
            _install_signal_handlers()

    # ------------------------------------------------------------------ set-up
    def _open_database(self, features) -> tuple[str, ...]:
        declared = None if features is None else _check_features(features)
        try:
            con = _connect(self.path, self.policy.busy_timeout)
            try:
                mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    logger.warning("SQLite could not switch %s to WAL mode (got %r); readers may block the writer.",
                                   self.path, mode)
                stored = _read_features(con)
                if stored is None and declared is not None:
                    _create_schema(con, declared)
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            raise fail("PredictionLogger", "path", "a SQLite prediction log or a new file in a writable folder",
                       str(self.path), f"pass another path, or move that file away ({type(exc).__name__}: {exc})",
                       OSError if isinstance(exc, sqlite3.OperationalError) else ValueError) from exc
        if stored is None and declared is None:
            raise fail("PredictionLogger", "features", f"the model's feature names for the new log {self.path}",
                       None, "pass features=baseline.features")
        if stored is not None and declared is not None and stored != declared:
            raise fail("PredictionLogger", "features", f"the features {self.path.name} was created for "
                       f"{list(stored)}", list(declared), "log to a new file for a model with other inputs")
        return stored or declared

    def _stored_ids(self, table: str = "predictions") -> set:
        con = _connect(self.path, self.policy.busy_timeout)
        try:
            return {row[0] for row in con.execute(f"SELECT prediction_id FROM {table}")}
        finally:
            con.close()

    # ------------------------------------------------------------------ caller side
    def _refuse(self, error: InvalidRecordError, n: int = 1):
        if self.policy.on_invalid == "raise":
            raise error
        with self._count_lock:
            self._invalid += n
            if len(self._problems) < _MAX_PROBLEMS:
                self._problems.append(str(error))
        logger.warning("prediction log: refused %d invalid record(s): %s", n, error)
        return None

    def _enqueue(self, item, n: int) -> bool:
        """Append to the queue without taking a lock; wait (polling) while it is full."""
        self._entered.inc()
        try:
            if self._closed:
                raise fail("log", "logger", f"an open logger for {self.path.name}", "<a closed logger>",
                           "create a new PredictionLogger (or log inside its `with` block)", PredictionLogError)
            if len(self._queue) >= self.policy.max_queue and not self._wait_for_room():
                return self._reject(n)
            self._accepted.inc() if n == 1 else self._accepted.add(n)
            self._queue.append(item)
            return True
        finally:
            self._exited.inc()

    def _wait_for_room(self) -> bool:
        deadline = time.monotonic() + self.policy.block_timeout
        while len(self._queue) >= self.policy.max_queue:
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.0005)
        return True

    def _reject(self, n: int) -> bool:
        p = self.policy
        msg = str(fail("log", "queue", f"room within {p.block_timeout} s (max_queue={p.max_queue})",
                       f"<{len(self._queue)} items waiting; {n} record(s) not accepted>",
                       "raise max_queue or block_timeout, log less (sample_rate), or check the database "
                       f"(retries={self._retries}, last_error={self._last_error!r})"))
        with self._count_lock:
            self._rejected += n
            if len(self._problems) < _MAX_PROBLEMS:
                self._problems.append(msg)
        if p.on_full == "raise":
            raise QueueFullError(msg)
        logger.warning("prediction log: %s", msg)
        return False

    def log(self, features, prediction, *, prediction_id: str | None = None, event_time=None,
            latency_seconds: float | None = None, observed_at=None, model_version: str | None = None):
        """Queue one prediction; return its id (None when refused under ``on_invalid``/``on_full="count"``).

        ``features`` is ``{name: value}`` with exactly the declared features (or the values in
        declared order); values may be missing (None/NaN). ``prediction`` must be finite.
        ``event_time`` is what the prediction is for (default now; numbers are Unix seconds);
        ``observed_at`` (a time, or ``{feature: time}``) is when the inputs were observed, for
        feature freshness. A sampled-out prediction still gets its id.
        """
        log_time = time.time()
        try:
            if type(features) is dict:
                if len(features) != len(self.features):
                    raise KeyError
                values = self._get_values(features)
            else:
                values = tuple(features)
                if len(values) != len(self.features):
                    raise KeyError
            if not _PLAIN_TYPES.issuperset(map(type, values)):
                values = tuple(map(_plain, values))
            p = float(prediction)
            if not math.isfinite(p):
                raise ValueError
            if prediction_id is None:
                pid = f"{self._id_prefix}-{next(self._id_counter):08d}"
            elif type(prediction_id) is str and prediction_id not in self._known and prediction_id not in self._sampled:
                pid = prediction_id
            else:
                raise LookupError
            et = log_time if event_time is None else (
                event_time if type(event_time) is float and _MIN_SECONDS < event_time < _MAX_SECONDS
                else _epoch(event_time, "event_time"))
            if latency_seconds is not None:
                latency_seconds = float(latency_seconds)
            obs = None if observed_at is None else _observed_json(observed_at, self._feature_set, "log")
        except InvalidRecordError as exc:
            return self._refuse(exc)
        except (KeyError, TypeError, ValueError, LookupError):
            return self._refuse(self._explain(features, prediction, prediction_id, latency_seconds))
        if self.sample_rate < 1.0 and self._rng.random() >= self.sample_rate:
            self._sampled.add(pid)
            self._sampled_out.inc()
            return pid
        row = (pid, et, log_time, model_version or self.model_version, p, latency_seconds, obs) + values
        if self._enqueue((1, _PRED, row), 1):
            self._known.add(pid)
            return pid
        return None

    def _explain(self, features, prediction, prediction_id, latency_seconds) -> InvalidRecordError:
        """The slow path: say exactly what was wrong with a record ``log`` refused."""
        declared = list(self.features)
        if isinstance(features, Mapping):
            missing = [n for n in declared if n not in features]
            extra = [k for k in features if k not in self._feature_set]
            if missing or extra:
                parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
                return _invalid("log", "features", f"exactly the declared features {declared}", f"<{'; '.join(parts)}>",
                                "send every declared feature (None for a missing value) and nothing else; "
                                "if the model's inputs changed, log to a new file")
        elif isinstance(features, (str, bytes)) or not isinstance(features, Iterable):
            return _invalid("log", "features", f"a dict or a sequence of {len(declared)} values",
                            f"<{type(features).__name__}>", f"pass {{name: value}} for {declared}")
        elif len(tuple(features)) != len(declared):
            return _invalid("log", "features", f"{len(declared)} values in the order {declared}",
                            f"<{len(tuple(features))} values>", "pass a dict {name: value}, or one value per feature")
        try:
            p = float(prediction)
        except (TypeError, ValueError):
            return _invalid("log", "prediction", "a number", prediction, "pass the model's numeric output")
        if not math.isfinite(p):
            return _invalid("log", "prediction", "a finite number", prediction,
                            "a NaN/inf prediction is a model or input bug; fix it before logging")
        if prediction_id is not None:
            if not isinstance(prediction_id, str):
                return _invalid("log", "prediction_id", "a str", f"<{type(prediction_id).__name__} {prediction_id!r}>",
                                "pass a string id, or leave it out to have one generated")
            return _invalid("log", "prediction_id", "an id not logged before", prediction_id,
                            "ids are unique: leave prediction_id out to have one generated")
        try:
            float(latency_seconds)
        except (TypeError, ValueError):
            return _invalid("log", "latency_seconds", "a number of seconds", latency_seconds, "pass e.g. 0.004")
        return _invalid("log", "record", "a loggable prediction", "<an unreadable record>", "check the arguments")

    def log_batch(self, features: pd.DataFrame, predictions, *, prediction_ids=None, event_time=None,
                  latency_seconds=None, observed_at=None, model_version: str | None = None):
        """Queue a frame of predictions as one queue item (far cheaper per row than :meth:`log`); return
        the ids (sampled-out rows too), or None when refused under ``on_invalid``/``on_full="count"``.

        ``event_time``, ``latency_seconds`` and ``observed_at`` are one value for all rows or one per
        row; ``observed_at`` may also be a frame of per-feature observation times.
        """
        log_time = time.time()
        try:
            cols, preds, ids, et, lat, obs = self._check_batch(
                features, predictions, prediction_ids, (event_time, latency_seconds, observed_at), log_time)
        except InvalidRecordError as exc:
            return self._refuse(exc, len(features) if isinstance(features, pd.DataFrame) else 1)
        kept = ids
        if self.sample_rate < 1.0 and ids:
            keep = np.fromiter((self._rng.random() < self.sample_rate for _ in ids), bool, len(ids))
            self._sampled.update(pid for pid, k in zip(ids, keep) if not k)
            self._sampled_out.add(int((~keep).sum()))
            sel = np.flatnonzero(keep)
            kept = [ids[i] for i in sel]
            cols = [[c[i] for i in sel] for c in cols]
            preds, et = preds[sel], et[sel]
            lat = lat if lat is None or np.isscalar(lat) else lat[sel]
            obs = obs if obs is None else [obs[i] for i in sel]
        if not kept:
            return ids
        item = (len(kept), _PRED_BATCH, kept, et.tolist(), log_time, model_version or self.model_version,
                preds.tolist(), lat if lat is None or np.isscalar(lat) else lat.tolist(), obs, cols)
        if self._enqueue(item, len(kept)):
            self._known.update(kept)
            return ids
        return None

    def _check_batch(self, frame, predictions, prediction_ids, times, log_time):
        f = "log_batch"
        event_time, latency_seconds, observed_at = times
        if not isinstance(frame, pd.DataFrame):
            raise _invalid(f, "features", "a pandas DataFrame with one row per prediction", f"<{type(frame).__name__}>",
                           "use log() for a single record, or pd.DataFrame(rows)")
        if frame.columns.duplicated().any():
            raise _invalid(f, "features", "a frame with unique column names",
                           f"<duplicated {sorted(set(frame.columns[frame.columns.duplicated()]))}>",
                           "rename or drop the duplicated columns")
        missing = [n for n in self.features if n not in frame.columns]
        if missing:
            raise _invalid(f, "features", f"a frame holding every declared feature {list(self.features)}",
                           f"<a frame missing {missing}>", "add the missing columns (NaN where unknown); "
                           "if the model's inputs changed, log to a new file")
        n = len(frame)
        try:
            preds = np.asarray(predictions, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise _invalid(f, "predictions", "numbers", f"<{type(predictions).__name__}>",
                           "pass the model's numeric outputs") from None
        if preds.shape[0] != n:
            raise _invalid(f, "predictions", f"one value per row ({n})", f"<{preds.shape[0]} values>",
                           "pass exactly one prediction per feature row")
        bad = ~np.isfinite(preds)
        if bad.any():
            raise _invalid(f, f"predictions[{int(np.argmax(bad))}]", "finite numbers", float(preds[np.argmax(bad)]),
                           f"{int(bad.sum())} prediction(s) are NaN/inf: a model or input bug; fix it before logging")
        ids = [f"{self._id_prefix}-{next(self._id_counter):08d}" for _ in range(n)] if prediction_ids is None \
            else self._check_ids(list(prediction_ids), n)
        et = epoch_seconds(event_time, n, argument="event_time", func=f, default=log_time)
        lat = None if latency_seconds is None else (
            float(latency_seconds) if np.isscalar(latency_seconds) else np.asarray(latency_seconds, float).reshape(-1))
        if lat is not None and not np.isscalar(lat) and lat.shape[0] != n:
            raise _invalid(f, "latency_seconds", f"one number or one per row ({n})", f"<{lat.shape[0]} values>",
                           "pass the request latency once, or one value per row")
        obs = None if observed_at is None else self._batch_observed(observed_at, n)
        cols = []
        for name in self.features:
            values = frame[name].tolist()  # numpy scalars become Python scalars
            if frame[name].dtype == object and not _PLAIN_TYPES.issuperset(map(type, values)):
                values = [_plain(v) for v in values]
            cols.append(values)
        return cols, preds, ids, et, lat, obs

    def _check_ids(self, ids: list, n: int) -> list:
        f = "log_batch"
        if len(ids) != n:
            raise _invalid(f, "prediction_ids", f"one id per row ({n})", f"<{len(ids)} ids>", "pass one id per row")
        not_str = [i for i in ids if type(i) is not str]
        if not_str:
            raise _invalid(f, "prediction_ids", "strings", f"<{type(not_str[0]).__name__} {not_str[0]!r}>",
                           "convert the ids with str()")
        if len(set(ids)) != n:
            raise _invalid(f, "prediction_ids", "distinct ids", next(i for i in ids if ids.count(i) > 1),
                           "make each id unique")
        seen = [i for i in ids if i in self._known or i in self._sampled]
        if seen:
            raise _invalid(f, "prediction_ids", "ids not logged before", seen[:3],
                           "ids are unique: leave prediction_ids out to have them generated")
        return ids

    def _batch_observed(self, observed_at, n: int) -> list:
        if isinstance(observed_at, pd.DataFrame):
            unknown = [c for c in observed_at.columns if c not in self._feature_set]
            if unknown or len(observed_at) != n:
                raise _invalid("log_batch", "observed_at", f"a frame of {n} rows whose columns are features",
                               f"<{len(observed_at)} rows, unknown columns {unknown}>",
                               "pass one observation-time column per feature, aligned with the features frame")
            per_col = {c: epoch_seconds(observed_at[c], n, argument=f"observed_at[{c!r}]", func="log_batch", default=0.0).tolist()
                       for c in observed_at.columns}
            return [json.dumps(dict(zip(per_col, values))) for values in zip(*per_col.values())]
        return [repr(v) for v in epoch_seconds(observed_at, n, argument="observed_at", func="log_batch", default=0.0).tolist()]

    def log_feedback(self, prediction_id: str, label, *, label_time=None) -> bool:
        """Queue the true value of a logged prediction; ``label_time`` is when it arrived (default now).

        Returns True when accepted; False when the prediction was sampled out or the record was
        refused under ``on_invalid``/``on_full="count"``.
        """
        return self.log_feedback_batch([prediction_id], [label], label_time=label_time) == 1

    def log_feedback_batch(self, prediction_ids, labels, *, label_time=None) -> int:
        """Queue many labels at once (``label_time``: one for all or one per label); return how many
        were accepted. Sampled-out ids are skipped; one bad label or unknown id refuses the batch."""
        log_time, f = time.time(), "log_feedback"
        ids = list(prediction_ids)
        n = len(ids)
        try:
            labs = np.asarray(labels, dtype=float).reshape(-1)
            if labs.shape[0] != n:
                raise _invalid(f, "labels", f"one label per id ({n})", f"<{labs.shape[0]} labels>",
                               "pass as many labels as prediction_ids")
            bad = ~np.isfinite(labs)
            if bad.any():
                raise _invalid(f, f"labels[{int(np.argmax(bad))}]", "finite numbers", float(labs[np.argmax(bad)]),
                               "a NaN/inf label is a data bug; log feedback once the true value is known")
            unknown = [i for i in ids if i not in self._known and i not in self._sampled]
            if unknown:
                raise _invalid(f, "prediction_ids", f"ids logged to {self.path.name}", unknown[:3],
                               "pass the ids log()/log_batch() returned (feedback joins predictions by id)")
            twice = [i for i in ids if i in self._labelled]
            if twice or len(set(ids)) != n:
                raise _invalid(f, "prediction_ids", "predictions without a label yet, each once", (twice or ids)[:3],
                               "each prediction takes one label; do not send the same feedback twice")
            lt = epoch_seconds(label_time, n, argument="label_time", func=f, default=log_time)
        except (TypeError, ValueError) as exc:
            if not isinstance(exc, InvalidRecordError):
                exc = _invalid(f, "labels", "numbers", f"<{type(labels).__name__}>", "pass the observed values")
            return self._refuse(exc, n) or 0
        keep = [k for k, i in enumerate(ids) if i in self._known]
        if len(keep) < n:
            self._sampled_out.add(n - len(keep))
            ids, labs, lt = [ids[k] for k in keep], labs[keep], lt[keep]
        if ids and self._enqueue((len(ids), _FEEDBACK_BATCH, ids, labs.tolist(), lt.tolist(), log_time), len(ids)):
            self._labelled.update(ids)
            return len(ids)
        return 0

    # ------------------------------------------------------------------ flush / close / stats
    def flush(self, timeout: float | None = None) -> LogStats:
        """Wait until everything queued so far is committed (or dead-lettered); return the stats.

        Raises :class:`WriteFailedError` when records could not be written since the last report,
        :class:`InvalidRecordError` when the database refused rows (``on_invalid="raise"``), and
        :class:`PredictionLogError` when the writer is not running or ``timeout`` expired.
        """
        if not self._writer.is_alive():
            if self._closed:
                return self.stats
            raise fail("flush", "logger", "a running writer thread", f"<stopped, {self.stats.pending} record(s) "
                       "pending>", "see the log for its error and create a new logger", PredictionLogError)
        if not self._wait_for_writer(timeout):
            raise fail("flush", "timeout", "enough seconds to write what is queued", timeout,
                       f"wait longer ({self.stats.pending} record(s) pending for {self.path.name}), or check "
                       "stats.retries and stats.last_error", PredictionLogError)
        self._raise_new_problems()
        return self.stats

    def _wait_for_writer(self, timeout: float | None) -> bool:
        """True once the writer has handled everything queued before this call (or has stopped), False
        after ``timeout`` seconds. Takes no lock: safe in a signal handler."""
        done = threading.Event()
        self._queue.append((0, _MARKER, done))
        self._wake.set()
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while not done.wait(min(0.05, max(deadline - time.monotonic(), 0))):
            if not self._writer.is_alive() or time.monotonic() >= deadline:
                return not self._writer.is_alive()
        return True

    def close(self, timeout: float | None = None) -> LogStats:
        """Flush, stop the writer and release the file; safe to call twice. Returns the final stats."""
        with self._close_lock:
            if not self._closed:
                self._closed = True
                atexit.unregister(self._close_at_exit)
                _OPEN_LOGGERS.discard(self)
                while not self._entered.value == self._exited.value:  # callers between closed-check and append
                    time.sleep(0.0001)
                self._queue.append((0, _STOP, None))
                self._wake.set()
                self._writer.join(timeout)
                if self._writer.is_alive():
                    raise fail("close", "timeout", "enough seconds to write what is queued", timeout,
                               f"wait longer: the writer keeps trying ({self.stats.pending} record(s) pending)",
                               PredictionLogError)
        self._raise_new_problems()
        return self.stats

    def _raise_new_problems(self):
        failed, invalid = self._failed, self._invalid_at_write
        if failed > self._reported_failed:
            new, self._reported_failed = failed - self._reported_failed, failed
            where = f"They are saved in {self.dead_letter_path}." if not self._unsaved else (
                f"{self._unsaved} record(s) could not be saved in {self.dead_letter_path} either "
                f"({self._unsaved_error}): they are only in Python's log (logger {__name__!r}, level CRITICAL).")
            raise WriteFailedError(
                f"{new} record(s) could not be written to {self.path} after {self.policy.retries} retries (last "
                f"error: {self._last_error}). {where} Fix: check that the disk has room and the file is writable and "
                "not locked by another program, then re-import them.")
        if invalid > self._reported_invalid and self.policy.on_invalid == "raise":
            new, self._reported_invalid = invalid - self._reported_invalid, invalid
            raise InvalidRecordError(
                f"records: expected rows the database accepts, got {new} refused (last: {self._last_error}). "
                f"Fix: see the reasons in {self.dead_letter_path}.")

    def _close_at_exit(self):
        try:
            self.close(timeout=60)
        except Exception as exc:  # never raise from atexit
            logger.error("prediction log %s: problem while closing at interpreter exit: %s", self.path, exc)

    def __enter__(self) -> "PredictionLogger":
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.close()
        except PredictionLogError as err:
            if exc_type is None:
                raise
            logger.error("prediction log %s: %s", self.path, err)  # do not hide the original error
        return False

    @property
    def stats(self) -> LogStats:
        """A :class:`LogStats` snapshot (exact once :meth:`flush` or :meth:`close` returned)."""
        with self._count_lock:
            rejected, invalid, problems = self._rejected, self._invalid, tuple(self._problems)
        accepted = self._accepted.value
        return LogStats(
            accepted=accepted, written=self._written, pending=max(accepted - self._done, 0), rejected=rejected,
            sampled_out=self._sampled_out.value, invalid=invalid + self._invalid_at_write, failed=self._failed,
            retries=self._retries, errors=self._errors, last_error=self._last_error, unsaved=self._unsaved,
            problems=problems,
            dead_letter=str(self.dead_letter_path), writer_alive=self._writer.is_alive(), closed=self._closed)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        s = self.stats
        return (f"PredictionLogger({str(self.path)!r}, {len(self.features)} features, written={s.written}, "
                f"pending={s.pending}, ok={s.ok}{', closed' if self._closed else ''})")

    def read_log(self, **kwargs) -> pd.DataFrame:
        """Flush, then :func:`read_log` of this logger's file."""
        self.flush()
        return read_log(self.path, **kwargs)

    # ------------------------------------------------------------------ writer thread
    def _run(self):
        pop, idle, stopping = self._queue.popleft, _IDLE_MIN, False
        while not stopping:
            items, taken = [], 0
            try:
                while taken < self.policy.batch_size:
                    items.append(pop())
                    taken += items[-1][0] or 1
            except IndexError:
                pass
            if not items:
                # Callers never signal (that would cost them a lock): poll, backing off while idle.
                self._wake.wait(idle)
                self._wake.clear()
                idle = min(idle * 2, _IDLE_MAX)
                continue
            idle = _IDLE_MIN
            pred_rows, fb_rows, markers = [], [], []
            for item in items:
                kind = item[1]
                if kind == _PRED:
                    pred_rows.append(item[2])
                elif kind == _PRED_BATCH:
                    _, _, ids, et, lt, mv, preds, lat, obs, cols = item
                    n = len(ids)
                    pred_rows.extend(zip(ids, et, itertools.repeat(lt, n), itertools.repeat(mv, n), preds,
                                         lat if isinstance(lat, list) else itertools.repeat(lat, n),
                                         obs if obs is not None else itertools.repeat(None, n), *cols))
                elif kind == _FEEDBACK_BATCH:
                    _, _, ids, labs, lts, lt = item
                    fb_rows.extend(zip(ids, labs, lts, itertools.repeat(lt, len(ids))))
                elif kind == _MARKER:
                    markers.append(item[2])
                else:
                    stopping = True
            try:
                if pred_rows or fb_rows:
                    self._commit(pred_rows, fb_rows)
            except Exception as exc:  # a bug: account for the records, keep the writer alive, say so
                logger.exception("prediction log writer for %s hit an unexpected error", self.path)
                self._give_up(pred_rows, fb_rows, f"{type(exc).__name__}: {exc}")
            finally:
                for m in markers:
                    m.set()
        self._drop_connection()

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            self._con = _connect(self.path, self.policy.busy_timeout)
            self._con.execute("PRAGMA synchronous=NORMAL")
        return self._con

    def _drop_connection(self):
        con, self._con = self._con, None
        with contextlib.suppress(sqlite3.Error, AttributeError):
            con.close()

    def _insert(self, pred_rows, fb_rows, careful: bool) -> list:
        """One transaction; ``careful`` inserts row by row and returns the rows the database refused."""
        con = self._connection()
        refused = []
        con.execute("BEGIN IMMEDIATE")
        try:
            if not careful:
                if pred_rows:
                    self._prediction_sql.insert(con, pred_rows)
                if fb_rows:
                    self._feedback_sql.insert(con, fb_rows)
            else:
                for table, sql, rows in (("predictions", self._prediction_sql.one, pred_rows),
                                         ("feedback", self._feedback_sql.one, fb_rows)):
                    for row in rows:
                        reason = _unstorable(row)
                        try:
                            if reason is None:
                                con.execute(sql, row)
                        except _ROW_ERRORS as exc:
                            reason = f"{type(exc).__name__}: {exc}"
                        if reason is not None:
                            refused.append((table, row, reason))
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise
        return refused

    def _commit(self, pred_rows, fb_rows):
        attempt, careful = 0, False
        while True:
            try:
                refused = self._insert(pred_rows, fb_rows, careful)
            except _ROW_ERRORS:
                if careful:  # pragma: no cover - careful mode catches these per row
                    raise
                careful = True  # a bad value or a duplicated id: insert row by row to isolate it
                continue
            except sqlite3.Error as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"
                if attempt >= self.policy.retries:
                    self._errors += 1
                    logger.error("prediction log: giving up on %d record(s) for %s after %d retries (%s)",
                                 len(pred_rows) + len(fb_rows), self.path, self.policy.retries, exc)
                    self._give_up(pred_rows, fb_rows, self._last_error)
                    self._drop_connection()
                    return
                delay = min(self.policy.backoff * 2 ** attempt, _MAX_BACKOFF)
                attempt += 1
                self._retries += 1
                logger.warning("prediction log: %s on %s; retry %d/%d in %.3g s", exc, self.path, attempt,
                               self.policy.retries, delay)
                if "locked" not in str(exc).lower() and "busy" not in str(exc).lower():
                    self._drop_connection()  # e.g. disk I/O or schema errors: reconnect before the next try
                time.sleep(delay)
                continue
            if refused:
                self._invalid_at_write += len(refused)
                self._last_error = refused[-1][2]
                logger.error("prediction log: the database refused %d row(s) (%s); saved in %s",
                             len(refused), refused[-1][2], self.dead_letter_path)
                self._dead_letter(refused)
            n = len(pred_rows) + len(fb_rows)
            self._written += n - len(refused)
            self._done += n
            return

    def _give_up(self, pred_rows, fb_rows, reason: str):
        self._failed += len(pred_rows) + len(fb_rows)
        self._done += len(pred_rows) + len(fb_rows)
        self._dead_letter([("predictions", r, reason) for r in pred_rows] + [("feedback", r, reason) for r in fb_rows])

    def _dead_letter(self, entries):
        pred_cols, saved = _FIXED_COLUMNS + self.features, 0
        try:
            with open(self.dead_letter_path, "a", encoding="utf-8") as fh:
                for table, row, reason in entries:
                    record = dict(zip(pred_cols if table == "predictions" else _FEEDBACK_COLUMNS, map(_plain, row)))
                    fh.write(json.dumps({"table": table, "reason": reason, "record": record}, default=repr) + "\n")
                    fh.flush()  # so that a full disk is noticed line by line and the count below is exact
                    saved += 1
        except OSError as exc:  # last resort: the records go to Python's log, and flush() says so
            self._unsaved += len(entries) - saved
            self._unsaved_error = f"{type(exc).__name__}: {exc}"
            logger.critical("prediction log: cannot write the dead-letter file %s (%s); the records follow: %r",
                            self.dead_letter_path, exc, entries[saved:])


def _open_for_reading(path) -> tuple[sqlite3.Connection, tuple[str, ...]]:
    p = resolve_log_path(path)
    if not p.exists():
        raise fail("read_log", "path", "a prediction log", str(p), "pass the file a PredictionLogger wrote "
                   "(logger.path); this one does not exist", FileNotFoundError)
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=5.0)
        features = _read_features(con)
    except sqlite3.OperationalError as exc:  # e.g. a read-only folder: SQLite cannot create the -shm file
        wal = Path(f"{p}-wal")
        if wal.exists() and wal.stat().st_size:
            raise fail("read_log", "path", "a log SQLite can open read-only", str(p), f"its folder is read-only and "
                       f"{wal.name} holds records not yet merged into it: copy the folder somewhere writable and read "
                       f"the copy ({exc})", OSError) from exc
        con = sqlite3.connect(f"file:{p}?immutable=1", uri=True)  # nobody can be writing to it: read it as it is
        features = _read_features(con)
    if features is None:
        con.close()
        raise fail("read_log", "path", "a prediction log written by labkit (with a 'meta' table)", str(p),
                   "pass the file a PredictionLogger wrote")
    return con, features


def _to_datetime(seconds) -> pd.Series:
    s = pd.Series(seconds, dtype=float)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    ok = s.notna()
    if ok.any():
        out[ok] = pd.to_datetime(np.round(s[ok].to_numpy() * 1e6).astype("int64"), unit="us")
    return out


def _ages(observed, event_s: np.ndarray, features) -> dict:
    """Seconds between each input's observation and the event time (NaN when not logged)."""
    ages = {f: np.full(len(event_s), np.nan) for f in features}
    for i, text in enumerate(observed):
        if text is None:
            continue
        value = json.loads(text)
        for f, t in (value.items() if isinstance(value, dict) else ((f, value) for f in features)):
            if f in ages:
                ages[f][i] = event_s[i] - t
    return ages


def read_log(path=None, *, start=None, end=None, as_of=None, with_feedback: bool = True) -> pd.DataFrame:
    """Predictions joined with their feedback by ``prediction_id``, ordered by event time.

    Keeps predictions with ``start <= event_time < end``; ``as_of`` hides labels that arrived after
    it (what a monitor knew then). Columns: ``prediction_id``, ``event_time``, ``log_time``
    (naive UTC), ``model_version``, ``prediction``, ``latency_seconds``, one column per feature,
    ``age_<feature>`` (seconds since the input was observed; NaN when not logged) and, with
    feedback, ``label`` (NaN until it arrived), ``label_time``, ``labelled``.
    ``attrs["features"]`` lists the features.
    """
    con, features = _open_for_reading(path)
    try:
        columns = [f"p.{c}" for c in _FIXED_COLUMNS] + [f'p."f_{name}"' for name in features]
        sql = f"SELECT {', '.join(columns)}{', f.label, f.label_time' if with_feedback else ''} FROM predictions p"
        if with_feedback:
            sql += " LEFT JOIN feedback f ON f.prediction_id = p.prediction_id"
        where, params = [], []
        for op, bound, name in ((">=", start, "start"), ("<", end, "end")):
            if bound is not None:
                where.append(f"p.event_time {op} ?")
                params.append(_epoch(bound, name, "read_log"))
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY p.event_time, p.rowid"
        rows = con.execute(sql, params).fetchall()
    finally:
        con.close()
    names = list(_FIXED_COLUMNS) + list(features) + (["label", "label_time"] if with_feedback else [])
    df = pd.DataFrame.from_records(rows, columns=names)
    event_s = df["event_time"].to_numpy(dtype=float)
    ages = _ages(df.pop("observed_at"), event_s, features)
    df["event_time"] = _to_datetime(event_s)
    df["log_time"] = _to_datetime(df["log_time"].to_numpy(dtype=float))
    df["prediction"] = df["prediction"].astype(float)
    df["latency_seconds"] = df["latency_seconds"].astype(float)
    for f in features:  # numbers with some missing values come back as floats (text stays text)
        if df[f].dtype == object and all(isinstance(v, (int, float)) for v in df[f] if v is not None):
            df[f] = pd.to_numeric(df[f])
    for f in features:
        df[f"age_{f}"] = ages[f]
    if with_feedback:
        label_s = df["label_time"].to_numpy(dtype=float)
        if as_of is not None:
            hide = ~(label_s <= _epoch(as_of, "as_of", "read_log"))
            df.loc[hide, "label"] = np.nan
            label_s = np.where(hide, np.nan, label_s)
        df["label"] = df["label"].astype(float)
        df["label_time"] = _to_datetime(label_s)
        df["labelled"] = df["label"].notna()
    df.attrs["features"] = list(features)
    return df
