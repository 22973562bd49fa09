"""Tests for labkit.simulate: every injector under every pattern, the truth records, the errors."""
from __future__ import annotations

import doctest
import inspect
import json
import pickle
import re
from dataclasses import FrozenInstanceError
from functools import partial

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labkit.simulate as sim
from labkit.data import load_hourly
from labkit.simulate import (
    COMMUTER_SEGMENT,
    INJECTORS,
    DriftRecord,
    DriftScenario,
    Injected,
    Pattern,
    compose,
    inject_concept_shift,
    inject_covariate_scale,
    inject_covariate_shift,
    inject_drop,
    inject_missing,
    inject_prior_shift,
    inject_recode,
    inject_rename,
    inject_scaling_change,
    inject_stale,
    inject_unit_change,
)

START, END = "2012-03-01", "2012-09-01"


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    """Shared by the module's tests: safe because no injector modifies its input (tested below)."""
    return load_hourly()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Same columns, index, dtypes and values (NaN == NaN); much faster than assert_frame_equal."""
    return a.columns.equals(b.columns) and a.index.equals(b.index) and a.equals(b)


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Rows where two aligned columns differ (NaN == NaN)."""
    both_nan = a.isna().to_numpy() & b.isna().to_numpy()
    if isinstance(a.dtype, pd.CategoricalDtype) and a.dtype == b.dtype:
        return a.cat.codes.to_numpy() != b.cat.codes.to_numpy()
    if a.dtype.kind in "biufM" and b.dtype.kind in "biufM":
        return ~both_nan & (a.to_numpy() != b.to_numpy())
    return ~both_nan & (a.to_numpy(dtype=object) != b.to_numpy(dtype=object))


def _changed_rows(before: pd.DataFrame, after: pd.DataFrame) -> np.ndarray:
    common = [c for c in before.columns if c in after.columns]
    out = np.zeros(len(before), dtype=bool)
    for c in common:
        out |= _differs(before[c], after[c])
    return out


# --------------------------------------------------------------------------- the matrix
# (injector, options, exact): exact = every affected row is changed (not only "changed ⊆ affected")
CASES = {
    "covariate_shift": (inject_covariate_shift, {"column": "temp", "severity": 1.0}, True),
    "covariate_scale": (inject_covariate_scale, {"column": "temp", "severity": 1.5}, True),
    "prior_resample": (inject_prior_shift, {"severity": 2.0}, False),
    "concept_shift": (inject_concept_shift, {"segment": {"hr": [7, 8, 9, 17, 18]}, "severity": 0.5}, False),
    "unit_change": (inject_unit_change, {"column": "temp_c"}, True),
    "scaling_change": (inject_scaling_change, {"column": "hum"}, False),
    "missing": (inject_missing, {"column": ["temp", "hum"], "severity": 0.3}, True),
    "recode": (inject_recode, {"column": "weathersit", "mapping": {1: 3, 3: 1}}, True),
    "stale": (inject_stale, {"column": "temp"}, False),
    "rename": (inject_rename, {"column": "hum", "new_name": "humidity"}, None),
    "drop": (inject_drop, {"column": "hum"}, None),
}
PATTERNS = {
    "sudden": "sudden",
    "sudden-with-end": "sudden",
    "gradual": "gradual",
    "incremental": "incremental",
    "incremental-4-steps": Pattern("incremental", steps=4),
    "recurring-weekends": "recurring",
    "recurring-period": Pattern("recurring", period="7D", duty=2 / 7),
    "recurring-rush-hours": Pattern("recurring", hours=[7, 8, 17, 18]),
}
REFUSES_INCREMENTAL = {"unit_change", "scaling_change", "recode", "stale"}
SUDDEN_ONLY = {"rename", "drop"}


def _run(case, pattern_id, data, seed=0):
    func, options, _ = CASES[case]
    pattern = PATTERNS[pattern_id]
    end = END if pattern_id in ("sudden-with-end", "gradual", "incremental", "incremental-4-steps") else None
    kwargs = dict(options, start=START, end=end, pattern=pattern)
    if case not in SUDDEN_ONLY:
        kwargs["seed"] = seed
    return func(data, **kwargs)


def _allowed(case, pattern_id):
    kind = sim._as_pattern(PATTERNS[pattern_id], "test").kind
    if case in SUDDEN_ONLY:
        return kind == "sudden"
    return not (case in REFUSES_INCREMENTAL and kind == "incremental")


MATRIX = [pytest.param(c, p, id=f"{c}-{p}") for c in CASES for p in PATTERNS if _allowed(c, p)]
REFUSED = [pytest.param(c, p, id=f"{c}-{p}") for c in CASES for p in PATTERNS if not _allowed(c, p)]


@pytest.mark.parametrize(("case", "pattern_id"), MATRIX)
def test_injector_under_pattern(hourly, case, pattern_id):
    before = hourly.copy(deep=True)
    out = _run(case, pattern_id, hourly)
    # the input is never modified
    assert _same(hourly, before)
    assert isinstance(out, Injected)
    data, truth = out
    assert data is not hourly
    # rows keep their index and order; the clock is untouched
    assert data.index.equals(hourly.index)
    pd.testing.assert_series_equal(data["timestamp"], hourly["timestamp"])
    # truth is aligned to the data and sane
    assert isinstance(truth, DriftRecord)
    assert truth.weight.index.equals(hourly.index)
    w = truth.weight.to_numpy()
    assert np.all((w >= 0) & (w <= 1))
    assert not np.any(w[(hourly["timestamp"] < START).to_numpy()])
    if pattern_id == "sudden-with-end":
        assert not np.any(w[(hourly["timestamp"] >= END).to_numpy()])
    assert 0 < truth.affected_rows < len(hourly)
    assert truth.pattern.kind == sim._as_pattern(PATTERNS[pattern_id], "test").kind
    assert truth.start == pd.Timestamp(START)
    json.dumps(truth.to_dict())  # JSON-friendly
    # only affected rows changed; for exact injectors every affected row changed
    exact = CASES[case][2]
    if exact is None:  # schema changes: checked in their own tests
        return
    changed = _changed_rows(hourly, data)
    mask = truth.mask.to_numpy()
    assert not np.any(changed & ~mask), "a row outside the truth mask changed"
    if exact:
        np.testing.assert_array_equal(changed, mask)
    else:
        assert changed[mask].mean() > 0.5
    # seeded: the same seed gives the same data and truth
    again = _run(case, pattern_id, hourly)
    assert _same(again.data, data)
    pd.testing.assert_series_equal(again.truth.weight, truth.weight)


@pytest.mark.parametrize(("case", "pattern_id"), REFUSED)
def test_refused_patterns_say_why(hourly, case, pattern_id):
    with pytest.raises(ValueError, match=r"pattern: expected one of \[.*\] for inject_\w+, got '\w+'"):
        _run(case, pattern_id, hourly)


@pytest.mark.parametrize("case", [c for c in CASES if c not in SUDDEN_ONLY])
def test_gradual_depends_on_seed(hourly, case):
    a = _run(case, "gradual", hourly, seed=1).truth.weight
    b = _run(case, "gradual", hourly, seed=2).truth.weight
    assert not a.equals(b)


# --------------------------------------------------------------------------- patterns on real rows


def test_gradual_share_ramps_up(hourly):
    truth = inject_covariate_shift(hourly, column="temp", start=START, end=END, pattern="gradual").truth
    t = hourly["timestamp"]
    mid = pd.Timestamp(START) + (pd.Timestamp(END) - pd.Timestamp(START)) / 2
    first = truth.mask[(t >= START) & (t < mid)].mean()
    second = truth.mask[(t >= mid) & (t < END)].mean()
    after = truth.mask[t >= END].mean()
    assert first == pytest.approx(0.25, abs=0.04)
    assert second == pytest.approx(0.75, abs=0.04)
    assert after == 1.0
    assert set(np.unique(truth.weight)) <= {0.0, 1.0}


def test_incremental_intensity_is_monotone_and_sizes_the_change(hourly):
    out = inject_covariate_shift(hourly, column="temp", start=START, end=END, pattern="incremental",
                                 severity=2.0)
    w = out.truth.weight.to_numpy()
    assert np.all(np.diff(w) >= 0)  # the data are sorted by time
    assert w[(hourly["timestamp"] >= END).to_numpy()].min() == 1.0
    delta = out.data["temp"] - hourly["temp"]
    np.testing.assert_allclose(delta, w * 2.0 * hourly["temp"].std(), atol=1e-12)


def test_incremental_steps_make_a_staircase(hourly):
    truth = inject_covariate_shift(hourly, column="temp", start=START, end=END,
                                   pattern=Pattern("incremental", steps=4)).truth
    inside = truth.weight[(hourly["timestamp"] >= START).to_numpy()]
    assert sorted(inside.unique()) == [0.25, 0.5, 0.75, 1.0]
    assert inside.is_monotonic_increasing


@pytest.mark.parametrize(("pattern", "expected"), [
    pytest.param("recurring", lambda t: t.dt.dayofweek >= 5, id="default-weekends"),
    pytest.param(Pattern("recurring", weekdays=["mon", "Friday"]), lambda t: t.dt.dayofweek.isin([0, 4]),
                 id="weekday-names"),
    pytest.param(Pattern("recurring", hours=[7, 8, 9]), lambda t: t.dt.hour.isin([7, 8, 9]), id="hours"),
    pytest.param(Pattern("recurring", weekdays=[5, 6], hours=[12]),
                 lambda t: (t.dt.dayofweek >= 5) & (t.dt.hour == 12), id="weekend-noons"),
    pytest.param(Pattern("recurring", period="7D", duty=2 / 7),
                 lambda t: ((t - pd.Timestamp(START)) % pd.Timedelta("7D")) < pd.Timedelta("2D"),
                 id="period-duty"),
])
def test_recurring_is_on_exactly_when_expected(hourly, pattern, expected):
    t = hourly["timestamp"]
    truth = inject_covariate_shift(hourly, column="temp", start=START, end=END, pattern=pattern).truth
    on = expected(t) & (t >= START) & (t < END)
    np.testing.assert_array_equal(truth.mask.to_numpy(), on.to_numpy())
    daily = truth.windows("D")
    assert daily["drifted"].any() and not daily["drifted"].all()


def test_sudden_end_defaults_to_the_end_of_the_data(hourly):
    truth = inject_covariate_shift(hourly, column="temp", start="2012-12-31 23:00").truth
    assert truth.affected_rows == 1 and truth.end is None
    assert bool(truth.mask.iloc[-1])


def test_an_injection_that_touches_nothing_warns(hourly, caplog):
    with caplog.at_level("WARNING", logger="labkit.simulate"):
        out = inject_concept_shift(hourly, segment=COMMUTER_SEGMENT, start=START, pattern="recurring")
    assert out.truth.affected_rows == 0
    assert "inject_concept_shift affected no row" in caplog.text


# --------------------------------------------------------------------------- the truth record


def test_windows_are_labelled_by_their_start_like_drift_timelines(hourly):
    truth = inject_covariate_shift(hourly, column="temp", start=START).truth
    weekly = truth.windows("W")
    assert (weekly.index.dayofweek == 0).all()  # weeks start on Monday, as in labkit._windows
    assert weekly.loc[weekly["drifted"]].index[0] == pd.Timestamp("2012-02-27")  # the week holding 1 March


def test_windows_account_for_every_affected_row(hourly):
    truth = inject_missing(hourly, column="hum", start=START, end=END, severity=0.25, seed=3).truth
    daily = truth.windows("D")
    assert daily["affected_rows"].sum() == truth.affected_rows
    assert daily["n_rows"].sum() == len(hourly)
    assert not daily.loc[:"2012-02-29", "drifted"].any()
    assert daily.loc["2012-03-01":"2012-08-31", "share"].mean() == pytest.approx(0.25, abs=0.02)
    weekly = truth.windows("W", min_share=0.2)
    assert weekly["drifted"].sum() < len(weekly)
    assert list(daily.columns) == ["n_rows", "affected_rows", "share", "intensity", "drifted"]


def test_record_is_frozen_picklable_and_summarised(hourly):
    out = inject_covariate_shift(hourly, column="temp", start=START, severity=0.5)
    truth = out.truth
    with pytest.raises(FrozenInstanceError):
        truth.kind = "concept"
    clone = pickle.loads(pickle.dumps(out))
    assert clone.truth == truth and clone.truth.weight.equals(truth.weight)
    assert "covariate/shift on temp: sudden from 2012-03-01" in truth.summary
    frame = truth.to_frame()
    assert list(frame.columns) == ["timestamp", "weight", "affected"] and frame.index.equals(hourly.index)
    d = truth.to_dict()
    assert d["injector"] == "inject_covariate_shift" and d["affected_rows"] == truth.affected_rows
    assert d["end"] is None and d["params"]["seed"] == 0


def test_windows_rejects_bad_options(hourly):
    truth = inject_covariate_shift(hourly, column="temp", start=START).truth
    with pytest.raises(ValueError, match=r"DriftRecord.windows\(\): freq: expected a positive window length"):
        truth.windows("fortnight")
    with pytest.raises(ValueError, match=r"min_share: expected a finite number in \[0, 1\)"):
        truth.windows("D", min_share=1.5)


# --------------------------------------------------------------------------- injector specifics


def test_covariate_shift_clips_to_physical_range_by_default(hourly):
    out = inject_covariate_shift(hourly, column="hum", start=START, severity=3.0)
    assert out.data["hum"].max() == 1.0 and out.truth.params["clipped_rows"] > 0
    raw = inject_covariate_shift(hourly, column="hum", start=START, severity=3.0, clip=False)
    assert raw.data["hum"].max() > 1.0 and raw.truth.params["clipped_rows"] == 0
    hot = inject_covariate_shift(hourly, column="temp", start=START, severity=3.0)
    assert hot.data["temp"].max() > 1.0 and hot.truth.params["clip"] is None  # temperatures are never clipped


def test_covariate_scale_always_clips_to_the_physical_range(hourly):
    out = inject_covariate_scale(hourly, column="hum", start=START, severity=3.0)
    assert out.data["hum"].max() == 1.0 and out.truth.params["clipped_rows"] > 0


def test_covariate_scale_around_mean_keeps_the_center(hourly):
    out = inject_covariate_scale(hourly, column="temp", start="2011-01-01", severity=3.0, around="mean")
    assert out.data["temp"].mean() == pytest.approx(hourly["temp"].mean())
    assert out.data["temp"].std() == pytest.approx(3 * hourly["temp"].std())


@pytest.mark.parametrize("severity", [3.0, -3.0], ids=["toward-high-demand", "toward-low-demand"])
def test_prior_resample_tilts_the_target_with_real_rows(hourly, severity):
    out = inject_prior_shift(hourly, start=START, end=END, severity=severity, seed=5)
    p = out.truth.params
    assert (p["mean_after"] > 1.3 * p["mean_before"]) if severity > 0 else (p["mean_after"] < 0.7 * p["mean_before"])
    # P(x | y) intact: every resampled row is a real row of the same day (dteday is kept)
    key = ["dteday", "hr", "temp", "hum", "weathersit", "casual", "registered", "cnt"]
    real = set(map(tuple, hourly[key].to_numpy().tolist()))
    rows = out.data.loc[out.truth.mask, key]
    assert all(tuple(r) in real for r in rows.to_numpy().tolist())
    assert out.truth.params["pools"] == hourly["dteday"].nunique()
    for c in ("timestamp", "instant", "dteday"):
        pd.testing.assert_series_equal(out.data[c], hourly[c])
    pd.testing.assert_series_equal(out.data.dtypes, hourly.dtypes)


def test_prior_resample_pooled_over_the_interval(hourly):
    out = inject_prior_shift(hourly, start=START, end=END, severity=1.0, within=None, seed=1)
    key = ["hr", "temp", "hum", "weathersit", "cnt"]
    interval = hourly[(hourly["timestamp"] >= START) & (hourly["timestamp"] < END)]
    real = set(map(tuple, interval[key].to_numpy().tolist()))
    assert all(tuple(r) in real for r in out.data.loc[out.truth.mask, key].to_numpy().tolist())
    weekly = inject_prior_shift(hourly, start=START, end=END, severity=1.0, within="W", seed=1)
    assert 1 < weekly.truth.params["pools"] < out.truth.params["pools"] + 200


def test_prior_resample_same_day_donors_keep_the_season(hourly):
    """Same-day donors keep the months' temperatures; pooling the whole interval mixes seasons."""
    month = hourly["timestamp"].dt.to_period("M")

    def temp_moved(out):
        return (out.data["temp"].groupby(month).mean() - hourly["temp"].groupby(month).mean()).abs().max()

    same_day = inject_prior_shift(hourly, start="2012-03-01", end="2012-10-01", severity=2.0, seed=0)
    pooled = inject_prior_shift(hourly, start="2012-03-01", end="2012-10-01", severity=2.0, within=None)
    assert round(temp_moved(same_day), 2) == 0.04 and round(temp_moved(pooled), 2) == 0.21


def test_prior_resample_zero_severity_is_a_plain_bootstrap(hourly):
    out = inject_prior_shift(hourly, start=START, severity=0.0, seed=0)
    p = out.truth.params
    assert p["mean_after"] == pytest.approx(p["mean_before"], rel=0.05)


def test_count_rescaling_keeps_casual_plus_registered(hourly):
    out = inject_concept_shift(hourly, start=START, end=END, pattern="incremental", severity=0.4)
    d = out.data
    assert (d["casual"] + d["registered"] == d["cnt"]).all()
    assert (d[["casual", "registered", "cnt"]] >= 0).all().all()
    assert d["cnt"].dtype == hourly["cnt"].dtype
    ratio = d["cnt"].iloc[-2000:].sum() / hourly["cnt"].iloc[-2000:].sum()
    assert ratio == pytest.approx(1.4, abs=0.01)


def test_concept_shift_changes_only_the_segment_and_only_the_target(hourly):
    out = inject_concept_shift(hourly, segment={"workingday": 1, "hr": [8, 17]}, start=START, severity=1.0)
    d, mask = out.data, out.truth.mask
    assert set(d.loc[mask, "hr"]) == {8, 17} and set(d.loc[mask, "workingday"]) == {1}
    np.testing.assert_array_equal(_changed_rows(hourly, d), mask.to_numpy())
    features = [c for c in hourly.columns if c not in ("cnt", "casual", "registered")]
    pd.testing.assert_frame_equal(d[features], hourly[features])
    assert out.truth.columns == ("cnt", "casual", "registered")


def test_concept_segment_as_callable_and_as_mask(hourly):
    by_func = inject_concept_shift(hourly, segment=lambda d: d["hr"].between(7, 9), start=START)
    by_mask = inject_concept_shift(hourly, segment=hourly["hr"].between(7, 9), start=START)
    pd.testing.assert_frame_equal(by_func.data, by_mask.data)
    without_parts = inject_concept_shift(hourly.drop(columns=["casual", "registered"]), start=START)
    assert without_parts.truth.columns == ("cnt",) and without_parts.truth.params["components"] == ()


@pytest.mark.parametrize(("column", "to", "expected"), [
    ("temp_c", None, lambda d: d["temp_c"] * 1.8 + 32),
    ("temp", "fahrenheit", lambda d: d["temp_c"] * 1.8 + 32),
    ("windspeed_kmh", "m/s", lambda d: d["windspeed_kmh"] / 3.6),
    ("hum_pct", None, lambda d: d["hum_pct"] / 100),
])
def test_unit_change_formulas(hourly, column, to, expected):
    out = inject_unit_change(hourly, column=column, to=to, start=START)
    m = out.truth.mask
    np.testing.assert_allclose(out.data.loc[m, column], expected(hourly)[m])
    pd.testing.assert_series_equal(out.data.loc[~m, column], hourly.loc[~m, column])


@pytest.mark.parametrize(("to", "expected"), [
    ("raw", lambda d: d["temp_c"]),
    ("symmetric", lambda d: 2 * d["temp"] - 1),
])
def test_scaling_change(hourly, to, expected):
    out = inject_scaling_change(hourly, column="temp", to=to, start=START)
    m = out.truth.mask
    np.testing.assert_allclose(out.data.loc[m, "temp"], expected(hourly)[m])


def test_missing_rate_and_dtypes(hourly):
    out = inject_missing(hourly, column=["hr", "weather"], start="2011-01-01", severity=0.3, seed=2)
    assert out.data["hr"].dtype == "float64" and isinstance(out.data["weather"].dtype, pd.CategoricalDtype)
    np.testing.assert_array_equal(out.data["hr"].isna(), out.data["weather"].isna())
    assert out.data["hr"].isna().mean() == pytest.approx(0.3, abs=0.015)
    ramp = inject_missing(hourly, column="temp", start=START, end=END, pattern="incremental", severity=1.0)
    daily = ramp.truth.windows("D").loc[START:END, "share"]
    assert daily.iloc[:30].mean() < 0.15 < 0.85 < daily.iloc[-30:].mean()


def test_recode_swaps_codes_and_checks_categories(hourly):
    out = inject_recode(hourly, column="weathersit", mapping={1: 3, 3: 1}, start=START)
    m = out.truth.mask
    before, after = hourly.loc[m, "weathersit"], out.data.loc[m, "weathersit"]
    assert set(before) == {1, 3} and ((before == 1) == (after == 3)).all()
    assert out.data["weathersit"].dtype == hourly["weathersit"].dtype
    pd.testing.assert_series_equal(out.data["weather"], hourly["weather"])  # companion untouched


def test_recode_categorical_and_new_codes(hourly):
    out = inject_recode(hourly, column="weather", mapping={"clear": "mist"}, start=START)
    assert list(out.data["weather"].cat.categories) == list(hourly["weather"].cat.categories)
    assert (out.data.loc[out.truth.mask, "weather"] == "mist").all()
    new = inject_recode(hourly, column="weather", mapping={"mist": "fog"}, start=START, allow_new=True)
    assert "fog" in new.data["weather"].cat.categories
    coded = inject_recode(hourly, column="weathersit", mapping={4: 0}, start="2011-01-01", allow_new=True)
    assert coded.truth.affected_rows == 3 and coded.data["weathersit"].dtype == "int64"


def test_rename_whole_frame_and_partial(hourly):
    whole = inject_rename(hourly, column="hum", new_name="humidity")
    assert "hum" not in whole.data and whole.data["humidity"].equals(hourly["hum"])
    assert whole.truth.affected_rows == len(hourly) and whole.truth.params["mode"] == "whole frame"
    part = inject_rename(hourly, column="hum", new_name="humidity", start=START, end=END)
    m = part.truth.mask.to_numpy()
    cols = list(part.data.columns)
    assert cols.index("humidity") == cols.index("hum") + 1
    assert part.data["hum"].isna().to_numpy().tolist() == m.tolist()
    assert part.data["humidity"].notna().to_numpy().tolist() == m.tolist()
    np.testing.assert_array_equal(part.data["humidity"].to_numpy()[m], hourly["hum"].to_numpy()[m])


def test_drop_whole_frame_and_partial(hourly):
    assert "hum" not in inject_drop(hourly, column="hum").data.columns
    part = inject_drop(hourly, column="hum", start=END)
    np.testing.assert_array_equal(part.data["hum"].isna(), hourly["timestamp"] >= END)


def test_stale_freezes_each_interval_at_the_value_before_it(hourly):
    out = inject_stale(hourly, column=["temp", "weather"], start=START, pattern="recurring")
    t, m = hourly["timestamp"], out.truth.mask.to_numpy()
    runs = np.flatnonzero(np.diff(np.r_[0, m.astype(int)]) == 1)  # first row of each on-interval
    assert len(runs) > 10
    for first in runs[:5]:
        length = np.argmax(~m[first:]) if (~m[first:]).any() else len(m) - first
        frozen = out.data["temp"].iloc[first:first + length]
        assert (frozen == hourly["temp"].iloc[first - 1]).all()
        assert (out.data["weather"].iloc[first:first + length] == hourly["weather"].iloc[first - 1]).all()
    assert out.truth.params["frozen_from"] == t.iloc[runs[0] - 1]


def test_stale_works_on_an_unsorted_frame(hourly):
    shuffled = hourly.sample(frac=1.0, random_state=0)
    out = inject_stale(shuffled, column="temp", start="2012-12-30")
    pd.testing.assert_frame_equal(out.data.sort_index(), inject_stale(hourly, column="temp", start="2012-12-30").data)


def test_injectors_work_with_timezone_aware_times(hourly):
    aware = hourly.assign(timestamp=hourly["timestamp"].dt.tz_localize("America/New_York", nonexistent="shift_forward",
                                                                       ambiguous="NaT"))
    aware = aware[aware["timestamp"].notna()]
    out = inject_covariate_shift(aware, column="temp", start=START, pattern="recurring")
    assert out.truth.start.tz is not None and out.truth.affected_rows > 0


# --------------------------------------------------------------------------- composition


def test_compose_keeps_every_record_and_the_input(hourly):
    before = hourly.copy(deep=True)
    out = compose(hourly, [
        {"injector": "covariate_shift", "column": "temp", "start": START, "end": END, "severity": 1.0},
        {"injector": "inject_missing", "column": "hum", "start": "2012-10-01", "severity": 0.5, "seed": 1},
        partial(inject_concept_shift, start="2012-11-01", severity=0.2),
        {"injector": inject_rename, "column": "windspeed", "new_name": "wind"},
    ])
    assert _same(hourly, before)
    assert [r.injector for r in out.records] == [
        "inject_covariate_shift", "inject_missing", "inject_concept_shift", "inject_rename"]
    stacked = np.vstack([r.weight for r in out.records])
    np.testing.assert_array_equal(out.truth.weight, stacked.max(axis=0))
    assert out.truth.kind == "composite" and out.truth.pattern is None
    assert out.truth.start == pd.Timestamp("2011-01-01") and "wind" in out.data
    assert len(out.truth.to_dict()["params"]["records"]) == 4
    json.dumps(out.truth.to_dict())
    scenario = DriftScenario("same", [{"injector": "covariate_shift", "column": "temp", "start": START}])
    assert scenario.apply(hourly).records[0].affected_rows == int((hourly["timestamp"] >= START).sum())


@pytest.mark.parametrize(("steps", "error", "match"), [
    pytest.param([], ValueError, r"steps: expected at least one step", id="empty"),
    pytest.param({"injector": "missing"}, TypeError, r"steps: expected a list of steps", id="not-a-list"),
    pytest.param([{"column": "temp"}], ValueError, r"steps\[0\]: expected a dict with an 'injector' key",
                 id="no-injector"),
    pytest.param([{"injector": "covariate_shfit"}], ValueError, r"did you mean 'covariate_shift'",
                 id="misspelt"),
    pytest.param([lambda d: d], TypeError, r"steps\[0\]: expected a step returning an Injected", id="bad-return"),
    pytest.param([42], TypeError, r"steps\[0\]: expected a dict", id="not-a-step"),
    pytest.param([{"injector": "drop", "column": "hum"}, {"injector": "missing", "column": "hum", "start": START}],
                 ValueError, r"inject_missing\(\): column: expected columns of df, got <missing \['hum'\]>",
                 id="column-dropped-earlier"),
])
def test_compose_errors(hourly, steps, error, match):
    with pytest.raises(error, match=match):
        compose(hourly, steps)


def test_injectors_registry_is_complete():
    public = {n for n in sim.__all__ if n.startswith("inject_")}
    assert {f.__name__ for f in INJECTORS.values()} == public


# --------------------------------------------------------------------------- errors


#: ``func(): argument: expected ..., got .... Fix: ....`` (labkit._validate.fail)
HOUSE_FORM = re.compile(r"^[\w.]+\(\): \S.*: expected .+, got .+\. Fix: .+\.$", re.S)


@pytest.mark.parametrize(("call", "error", "match"), [
    pytest.param(lambda d: inject_covariate_shift(d, column="tmp", start=START), ValueError,
                 r"^inject_covariate_shift\(\): column: expected columns of df, got <missing \['tmp'\]>\. "
                 r"Fix: did you mean 'temp'", id="unknown-column"),
    pytest.param(lambda d: inject_covariate_shift(d, column=["temp"], start=START), TypeError,
                 r"column: expected one column name \(str\), got \['temp'\]", id="column-list"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=END, end=START), ValueError,
                 r"end: expected a time after start \(2012-09-01 00:00:00\), got '2012-03-01 00:00:00'\. Fix: swap",
                 id="end-before-start"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start="2010-01-01"), ValueError,
                 r"start: expected a time within the data \(2011-01-01 00:00:00 \.\. 2012-12-31 23:00:00\)",
                 id="start-outside"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=START, end="2013-01-01"), ValueError,
                 r"end: expected a time within the data .* Fix: pass end=None", id="end-outside"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start="yesterday-ish"), ValueError,
                 r"start: expected a time such as '2012-01-01', got 'yesterday-ish'", id="start-unparseable"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=None), ValueError,
                 r"start: expected the time the drift begins, got None\. Fix: pass e.g. start='2012-01-01'",
                 id="start-missing"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=START, severity=50), ValueError,
                 r"severity: expected a finite number in \[-10, 10\], got 50\. Fix: pass the shift in standard "
                 r"deviations", id="shift-severity"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=START, severity="big"), TypeError,
                 r"severity: expected a real number", id="severity-not-a-number"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=START, clip="yes"), TypeError,
                 r"clip: expected True or False", id="clip-not-a-bool"),
    pytest.param(lambda d: inject_covariate_scale(d, column="temp", start=START, severity=0), ValueError,
                 r"severity: expected a finite number in \(0, 10\]", id="scale-severity"),
    pytest.param(lambda d: inject_covariate_scale(d, column="temp", start=START, around="median"), ValueError,
                 r"around: expected one of \['zero', 'mean'\], got 'median'", id="scale-around"),
    pytest.param(lambda d: inject_prior_shift(d, start=START, severity=11), ValueError,
                 r"severity: expected a finite number in \[-10, 10\]", id="prior-severity"),
    pytest.param(lambda d: inject_prior_shift(d, start=START, within="fortnight"), ValueError,
                 r"inject_prior_shift\(\): within: expected a positive window length", id="prior-within"),
    pytest.param(lambda d: inject_prior_shift(d, column="instant", start=START), ValueError,
                 r"column: expected a target, not a clock column", id="prior-clock-target"),
    pytest.param(lambda d: inject_concept_shift(d, start=START, severity=-1.5), ValueError,
                 r"severity: expected a finite number in \[-1, 10\]", id="concept-severity"),
    pytest.param(lambda d: inject_missing(d, column="temp", start=START, severity=0), ValueError,
                 r"severity: expected a finite number in \(0, 1\], got 0\. Fix: pass the missing rate",
                 id="missing-severity"),
    pytest.param(lambda d: inject_missing(d, column=[], start=START), ValueError,
                 r"column: expected at least one column name", id="missing-no-column"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=START, pattern="gradul"), ValueError,
                 r"^inject_covariate_shift\(\): pattern: expected one of \['sudden', 'gradual', 'incremental', "
                 r"'recurring'\], got 'gradul'\. Fix: did you mean 'gradual'", id="unknown-pattern"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=START, pattern=3), TypeError,
                 r"pattern: expected one of", id="pattern-wrong-type"),
    pytest.param(lambda d: inject_covariate_shift(d.assign(timestamp=d["timestamp"].astype(str)), column="temp",
                                                  start=START), TypeError,
                 r"df\['timestamp'\]: expected datetimes, got <dtype object>\. Fix: convert them", id="time-not-datetime"),
    pytest.param(lambda d: inject_covariate_shift(d.drop(columns="timestamp"), column="temp", start=START),
                 ValueError, r"df: expected a 'timestamp' column \(the time of each row\)", id="no-time-column"),
    pytest.param(lambda d: inject_covariate_shift(d.iloc[:0], column="temp", start=START), ValueError,
                 r"df: expected a DataFrame with at least 1 row", id="empty-frame"),
    pytest.param(lambda d: inject_covariate_shift(d.to_numpy(), column="temp", start=START), TypeError,
                 r"df: expected a pandas DataFrame, got <ndarray", id="not-a-frame"),
    pytest.param(lambda d: inject_covariate_shift(pd.concat([d, d]), column="temp", start=START), ValueError,
                 r"df.index: expected unique row labels", id="duplicated-index"),
    pytest.param(lambda d: inject_covariate_shift(d, column="season_name", start=START), TypeError,
                 r"inject_covariate_shift\(\): column: expected a numeric column, got <'season_name' of dtype "
                 r"category>", id="shift-categorical"),
    pytest.param(lambda d: inject_covariate_shift(d, column="timestamp", start=START), ValueError,
                 r"column: expected a column other than the clock 'timestamp'", id="shift-time"),
    pytest.param(lambda d: inject_missing(d, column="timestamp", start=START), ValueError,
                 r"column: expected a column other than the clock", id="missing-time"),
    pytest.param(lambda d: inject_recode(d, column="weathersit", mapping={7: 1}, start=START), ValueError,
                 r"mapping: expected values that exist in column 'weathersit': \[1, 2, 3, 4\], got 7",
                 id="recode-unknown-key"),
    pytest.param(lambda d: inject_recode(d, column="weather", mapping={"clear": "sunny"}, start=START),
                 ValueError, r"got 'sunny'\. Fix: .*allow_new=True", id="recode-unknown-value"),
    pytest.param(lambda d: inject_recode(d, column="weathersit", mapping={}, start=START), TypeError,
                 r"mapping: expected a non-empty", id="recode-empty"),
    pytest.param(lambda d: inject_concept_shift(d, segment={"hr": [25]}, start=START), ValueError,
                 r"segment: expected values that exist in column 'hr'", id="segment-unknown-value"),
    pytest.param(lambda d: inject_concept_shift(d, segment={"hour": 8}, start=START), ValueError,
                 r"segment: expected columns of df, got <missing \['hour'\]>\. Fix: did you mean 'hr'",
                 id="segment-unknown-col"),
    pytest.param(lambda d: inject_concept_shift(d, segment=[True, False], start=START), TypeError,
                 r"segment: expected one boolean per row", id="segment-bad-mask"),
    pytest.param(lambda d: inject_unit_change(d, column="cnt", start=START), ValueError,
                 r"column: expected a column with a known unit change", id="unit-unknown-column"),
    pytest.param(lambda d: inject_unit_change(d, column="temp_c", to="kelvin", start=START), ValueError,
                 r"to: expected one of \['fahrenheit'\] for column 'temp_c', got 'kelvin'", id="unit-unknown-unit"),
    pytest.param(lambda d: inject_unit_change(d.drop(columns="temp_c"), column="temp", start=START), ValueError,
                 r"df: expected the column 'temp_c' to compute 'temp' from", id="unit-no-source"),
    pytest.param(lambda d: inject_scaling_change(d, column="temp_c", start=START), ValueError,
                 r"column: expected a normalised feature", id="scaling-raw-column"),
    pytest.param(lambda d: inject_scaling_change(d, column="temp", to="Raw", start=START), ValueError,
                 r"to: expected one of \['raw', 'symmetric'\], got 'Raw'\. Fix: did you mean 'raw'", id="scaling-to"),
    pytest.param(lambda d: inject_rename(d, column="hum", new_name="temp"), ValueError,
                 r"new_name: expected a name that is not already a column, got 'temp'", id="rename-clash"),
    pytest.param(lambda d: inject_rename(d, column="hum", new_name=3), TypeError,
                 r"new_name: expected a non-empty column name \(str\), got 3", id="rename-not-a-name"),
    pytest.param(lambda d: inject_rename(d, column="hum", new_name="h", pattern="gradual"), ValueError,
                 r"pattern: expected one of \['sudden'\] for inject_rename, got 'gradual'\. Fix: a schema change",
                 id="rename-not-sudden"),
    pytest.param(lambda d: inject_drop(d, column="hum", start=START, pattern="recurring"), ValueError,
                 r"pattern: expected one of \['sudden'\] for inject_drop", id="drop-not-sudden"),
    pytest.param(lambda d: inject_stale(d, column="temp", start="2011-01-01"), ValueError,
                 r"start: expected a time after the first row", id="stale-at-first-row"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=START, seed=-1), ValueError,
                 r"seed: expected an int >= 0, got -1", id="bad-seed"),
    pytest.param(lambda d: inject_covariate_shift(d, column="temp", start=START, seed=None), TypeError,
                 r"seed: expected a whole number \(int\), got None", id="seed-none"),
])
def test_bad_parameters_get_clear_errors(hourly, call, error, match):
    with pytest.raises(error, match=match) as info:
        call(hourly)
    assert HOUSE_FORM.match(str(info.value)), f"not in the house form: {info.value}"


@pytest.mark.parametrize(("kwargs", "match"), [
    pytest.param({"kind": "sudden", "steps": 3}, r"steps: expected no value: steps applies to "
                 r"Pattern\('incremental'\) only", id="steps-on-sudden"),
    pytest.param({"kind": "gradual", "hours": [1]}, r"hours: expected no value", id="hours-on-gradual"),
    pytest.param({"kind": "incremental", "steps": 0}, r"Pattern\(\): steps: expected an int >= 1", id="zero-steps"),
    pytest.param({"kind": "recurring", "duty": 0.5}, r"duty: expected no value unless period is given",
                 id="duty-without-period"),
    pytest.param({"kind": "recurring", "period": "7D", "duty": 1.5}, r"duty: expected a finite number in \(0, 1\]",
                 id="duty-too-big"),
    pytest.param({"kind": "recurring", "period": "-1D"}, r"period: expected a positive duration",
                 id="negative-period"),
    pytest.param({"kind": "recurring", "period": "weekly"}, r"period: expected a positive duration such as .7D.", id="bad-period"),
    pytest.param({"kind": "recurring", "weekdays": [7]}, r"weekdays: expected integers in 0\.\.6 \(Monday=0",
                 id="weekday-7"),
    pytest.param({"kind": "recurring", "weekdays": ["someday"]}, r"weekdays: expected weekday numbers",
                 id="weekday-name"),
    pytest.param({"kind": "recurring", "hours": [24]}, r"hours: expected integers in 0\.\.23", id="hour-24"),
    pytest.param({"kind": "Sudden"}, r"did you mean 'sudden'", id="kind-case"),
])
def test_pattern_option_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        Pattern(**kwargs)
    assert HOUSE_FORM.match(str(info.value)), f"not in the house form: {info.value}"


# --------------------------------------------------------------------------- properties (hypothesis)

_times = st.lists(st.integers(0, 24 * 60), min_size=1, max_size=200).map(
    lambda mins: pd.DatetimeIndex(pd.Timestamp("2012-01-01") + pd.to_timedelta(sorted(mins), unit="h")))
_patterns = st.one_of(
    st.sampled_from([Pattern("sudden"), Pattern("gradual"), Pattern("incremental"), Pattern("recurring")]),
    st.integers(1, 10).map(lambda k: Pattern("incremental", steps=k)),
    st.tuples(st.integers(1, 240), st.floats(0.01, 1.0)).map(
        lambda p: Pattern("recurring", period=pd.Timedelta(hours=p[0]), duty=p[1])),
    st.lists(st.integers(0, 23), min_size=1, max_size=5).map(lambda h: Pattern("recurring", hours=h)),
)


@settings(max_examples=150, deadline=None)
@given(times=_times, pattern=_patterns, a=st.integers(0, 24 * 60), span=st.integers(1, 24 * 60),
       open_end=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_weights_stay_in_unit_interval_and_ramps_are_monotone(times, pattern, a, span, open_end, seed):
    start = pd.Timestamp("2012-01-01") + pd.Timedelta(hours=a)
    end = None if open_end else start + pd.Timedelta(hours=span)
    sched = pattern.schedule(times, start, end)
    w = pattern.weights(times, start, end, seed=seed)
    assert sched.shape == w.shape == (len(times),)
    assert np.all((sched >= 0) & (sched <= 1)) and np.all((w >= 0) & (w <= 1))
    assert not np.any(sched[times < start]) and not np.any(w[times < start])
    if pattern.kind in ("gradual", "incremental"):
        assert np.all(np.diff(sched) >= 0)  # times are sorted
        if end is not None:
            assert np.all(sched[times >= end] == 1)
    else:
        assert set(np.unique(sched)) <= {0.0, 1.0}
        if end is not None:
            assert not np.any(sched[times >= end])
    if pattern.kind == "gradual":
        assert set(np.unique(w)) <= {0.0, 1.0}
        assert np.all(w[sched == 1] == 1) and np.all(w[sched == 0] == 0)
    else:
        np.testing.assert_array_equal(w, sched)
    if pattern.steps is not None:
        assert len(np.unique(sched[times >= start])) <= pattern.steps


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), severity=st.floats(-3, 3))
def test_prior_resample_direction_follows_the_sign(hourly, seed, severity):
    small = hourly.iloc[-24 * 60:]
    out = inject_prior_shift(small, start=small["timestamp"].iloc[0], severity=severity, seed=seed)
    p = out.truth.params
    if severity > 1:
        assert p["mean_after"] > p["mean_before"]
    elif severity < -1:
        assert p["mean_after"] < p["mean_before"]


# --------------------------------------------------------------------------- doctests


def test_docstring_examples_run():
    result = doctest.testmod(sim, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 25


# --------------------------------------------------------------------------- bad input never crashes obscurely


def test_duplicate_or_case_colliding_columns_get_a_clear_error(hourly):
    doubled = pd.concat([hourly, hourly[["temp"]]], axis=1)
    with pytest.raises(ValueError, match=r"inject_covariate_shift\(\): df.columns: expected unique column names, "
                                         r"got <duplicated \['temp'\]>"):
        inject_covariate_shift(doubled, column="hum", start=START)
    with pytest.raises(ValueError, match=r"compose\(\): df.columns: expected column names that differ in more"):
        compose(hourly.assign(Temp=1.0), [{"injector": "missing", "column": "hum", "start": START}])


def test_times_across_a_dst_change(hourly):
    """Times in a zone with daylight saving: a start in the repeated or skipped hour is refused clearly."""
    local = hourly["timestamp"].dt.tz_localize("America/New_York", nonexistent="shift_forward", ambiguous="NaT")
    aware = hourly.assign(timestamp=local)[local.notna()].reset_index(drop=True)
    out = inject_covariate_shift(aware, column="temp", start="2012-11-03", end="2012-11-06", pattern="gradual")
    assert out.truth.affected_rows > 0 and out.truth.windows("D")["n_rows"].sum() == len(aware)
    for start in ("2012-11-04 01:30", "2012-03-11 02:30"):  # the repeated hour, the skipped hour
        with pytest.raises(ValueError, match=r"start: expected a time that exists once in America/New_York"):
            inject_covariate_shift(aware, column="temp", start=start)
    aware_start = inject_covariate_shift(aware, column="temp", start="2012-11-04 01:30-05:00").truth.start
    assert aware_start == pd.Timestamp("2012-11-04 06:30", tz="UTC")


@pytest.mark.parametrize("freq", ["-1D", "0D", "fortnight"])
def test_windows_need_a_positive_frequency(hourly, freq):
    truth = inject_covariate_shift(hourly, column="temp", start=START).truth
    with pytest.raises(ValueError, match=r"DriftRecord.windows\(\): freq: expected a positive window length"):
        truth.windows(freq)
    with pytest.raises(ValueError, match=r"inject_prior_shift\(\): within: expected a positive window length"):
        inject_prior_shift(hourly, start=START, within=freq)


_ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.lists(st.one_of(st.integers(-3, 30), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.sampled_from(["hr", "temp", 1, 3]), st.integers(-1, 30), max_size=2),
    st.sampled_from([pd.Timestamp("2012-06-01"), pd.Timedelta("1D"), np.array([1.0, 2.0]), object(), b"x",
                     "2012-06-01", "temp", "hum", "weathersit", "cnt", "timestamp", "D", "-1D", "recurring"]),
)
_VALID = {"column": "temp", "start": "2012-06-01", "mapping": {1: 3}, "new_name": "t2"}


@settings(max_examples=40, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("name", sorted(INJECTORS))
def test_any_argument_gives_a_result_or_a_house_error(hourly, name, data):
    """Fuzzing each injector's arguments one at a time: never an AttributeError, KeyError or pandas' own."""
    func = INJECTORS[name]
    params = [p for p in inspect.signature(func).parameters if p != "df"]
    kwargs = {p: v for p, v in _VALID.items() if p in params}
    if name in ("unit_change", "scaling_change"):
        kwargs["column"] = "temp"
    kwargs[data.draw(st.sampled_from(params), label="argument")] = data.draw(_ANYTHING, label="value")
    try:
        out = func(hourly.iloc[-24 * 60:], **kwargs)
    except (TypeError, ValueError) as exc:
        assert HOUSE_FORM.match(str(exc)), f"not in the house form: {exc!r}"
    else:
        assert isinstance(out, Injected) and out.data.index.equals(hourly.index[-24 * 60:])
