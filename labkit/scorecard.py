"""Score drift detectors against the ground truth of an injected drift.

A detector is anything that flags time windows (``True`` = "drift!"). :func:`score_detector` compares
the flags with a :class:`~labkit.simulate.DriftRecord` (or per-window truth with a boolean ``drifted``
column) and reports what an on-call engineer cares about: the **detection rate** (share of drifted
windows flagged), the **false-alarm rate** (share of clean windows flagged) and the **delay** (how long
after the drift began it was first flagged).

Examples
--------
>>> import pandas as pd
>>> days = pd.date_range("2012-01-01", periods=6, freq="D")
>>> truth = pd.DataFrame({"drifted": [False, False, True, True, True, True]}, index=days)
>>> flags = pd.Series([True, False, False, True, True, True], index=days)
>>> score = score_detector(flags, truth, name="demo")
>>> score.detection_rate, score.false_alarm_rate, score.delay_windows, str(score.delay)
(0.75, 0.5, 1, '1 days 00:00:00')
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from labkit._validate import fail
from labkit._windows import window_starts

__all__ = ["DetectorScore", "score_detector", "scorecard"]


@dataclass(frozen=True)
class DetectorScore:
    """How one detector did on one drift (windows present in both the flags and the truth)."""

    detector: str
    n_windows: int
    n_drifted: int                      # truly drifted windows
    n_clean: int
    detection_rate: float               # flagged drifted windows / drifted windows (NaN if none drifted)
    false_alarm_rate: float             # flagged clean windows / clean windows (NaN if all drifted)
    first_detection: pd.Timestamp | None  # the first drifted window that was flagged
    delay_windows: int | None           # drifted windows before it (0: caught in the first one)
    delay: pd.Timedelta | None          # first_detection minus the start of the first drifted window

    def to_dict(self) -> dict:
        """The fields as a plain dict (one row of :func:`scorecard`)."""
        return asdict(self)


def _truth_windows(truth, freq: str) -> pd.Series:
    if hasattr(truth, "windows") and callable(truth.windows):
        frame = truth.windows(freq)
    elif isinstance(truth, pd.DataFrame):
        frame = truth
    elif isinstance(truth, pd.Series):
        frame = truth.to_frame("drifted")
    else:
        raise fail("score_detector", "truth", "a DriftRecord, or per-window booleans in a 'drifted' column", truth,
                   "pass the record an injector returned (injected.truth)", TypeError)
    if "drifted" not in frame.columns:
        raise fail("score_detector", "truth", "a 'drifted' column", f"<columns {list(frame.columns)}>",
                   "use DriftRecord.windows(freq) or add a boolean 'drifted' column")
    return _as_bool_series(frame["drifted"], "truth['drifted']")


def _as_bool_series(values: pd.Series, name: str) -> pd.Series:
    func = "score_detector"
    if not isinstance(values.index, pd.DatetimeIndex):
        raise fail(func, name, "a Series indexed by window start (a DatetimeIndex)",
                   f"<index of type {type(values.index).__name__}>", "e.g. .set_index('window_start')", TypeError)
    if values.isna().any():
        raise fail(func, name, "True/False for every window", f"<{int(values.isna().sum())} missing value(s)>",
                   "decide what a missing decision means (e.g. .fillna(False))")
    if not (pd.api.types.is_bool_dtype(values) or set(np.unique(values.to_numpy())) <= {0, 1}):
        raise fail(func, name, "booleans", f"<dtype {values.dtype}>", "compare with a threshold first", TypeError)
    return values.astype(bool)


def _check_windows(flags_index, truth_index, freq) -> None:
    """Flags and truth must label the same kind of window: starts of ``freq`` windows, equally spaced."""
    func = "score_detector"
    for index, name in ((flags_index, "flags"), (truth_index, "truth")):
        index = index.tz_convert(None) if index.tz is not None else index
        off = index[window_starts(pd.Series(index), freq, func=func).to_numpy() != index.to_numpy()]
        if len(off):
            raise fail(func, f"{name}.index", f"starts of {freq!r} windows", f"<times such as {off[0]}>",
                       f"one value per window, e.g. .resample({freq!r}).max(), or pass the freq they were made with")
    gaps = [pd.Timedelta(np.diff(i.sort_values().asi8).min()) for i in (flags_index, truth_index) if len(i) > 1]
    if len(gaps) == 2 and max(gaps) > 1.5 * min(gaps):
        raise fail(func, "flags", f"windows as long as the truth's (one every {gaps[1]})", f"<one every {gaps[0]}>",
                   "compute flags and truth with the same freq")


def score_detector(flags: pd.Series, truth, *, freq: str = "D", name: str | None = None) -> DetectorScore:
    """Compare one detector's per-window flags with the truth; windows present in both are scored.

    ``flags``: booleans indexed by window start, ``True`` where the detector fired. ``truth``: a
    :class:`~labkit.simulate.DriftRecord` (cut into ``freq`` windows) or per-window truth with a
    boolean ``drifted`` column. ``name`` defaults to ``flags.name``.
    """
    if not isinstance(flags, pd.Series):
        raise fail("score_detector", "flags", "a pandas Series of booleans indexed by window start", flags,
                   "for several detectors use scorecard()", TypeError)
    flags = _as_bool_series(flags, "flags")
    expected = _truth_windows(truth, freq)
    _check_windows(flags.index, expected.index, freq)
    common = flags.index.intersection(expected.index).sort_values()
    if len(common) == 0:
        raise fail("score_detector", "flags", f"windows that the truth has ({expected.index.min()}.."
                   f"{expected.index.max()})", f"<windows {flags.index.min()}..{flags.index.max()}>",
                   f"compute both with the same freq ({freq!r}) and data")
    f, t = flags.reindex(common).to_numpy(), expected.reindex(common).to_numpy()
    hits, drifted = np.flatnonzero(f & t), np.flatnonzero(t)
    first, delay_windows, delay = None, None, None
    if hits.size:
        first = common[hits[0]]
        delay_windows, delay = int(np.searchsorted(drifted, hits[0])), first - common[drifted[0]]
    return DetectorScore(
        detector=name or (str(flags.name) if flags.name is not None else "detector"), n_windows=len(common),
        n_drifted=int(t.sum()), n_clean=int((~t).sum()), detection_rate=float(f[t].mean()) if t.any() else np.nan,
        false_alarm_rate=float(f[~t].mean()) if (~t).any() else np.nan, first_detection=first,
        delay_windows=delay_windows, delay=delay)


def scorecard(flags: pd.DataFrame | Mapping[str, pd.Series], truths: Mapping[str, object], *,
              freq: str = "D") -> pd.DataFrame:
    """Score several detectors on several drifts: one row per (scenario, detector), the fields of
    :class:`DetectorScore`. ``flags``: one boolean column per detector, scored against every truth,
    or {scenario: such a frame}, scored against the truth of the same name."""
    if not isinstance(truths, Mapping) or not truths:
        raise fail("scorecard", "truths", "a non-empty dict {scenario name: DriftRecord}", truths,
                   "pass e.g. {'heat wave': injected.truth}", TypeError)
    rows = []
    for scenario, truth in truths.items():
        if isinstance(flags, pd.DataFrame):
            frame = flags
        elif isinstance(flags, Mapping):
            if scenario not in flags:
                raise fail("scorecard", "flags", f"flags for scenario {scenario!r}", f"<flags for {sorted(flags)}>",
                           "pass one DataFrame of flags per scenario of truths", KeyError)
            frame = flags[scenario]
        else:
            raise fail("scorecard", "flags", "a DataFrame or a dict of DataFrames", flags, "one column per detector",
                       TypeError)
        for detector in frame.columns:
            score = score_detector(frame[detector], truth, freq=freq, name=str(detector))
            rows.append({"scenario": scenario, **score.to_dict()})
    return pd.DataFrame(rows)
