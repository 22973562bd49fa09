"""Score drift detectors against the ground truth of an injected drift.

A detector here is anything that flags time windows: a boolean per window (``True`` = "drift!").
:func:`score_detector` compares those flags with a :class:`~labkit.simulate.DriftRecord` (or any
per-window truth with a boolean ``drifted`` column) and reports what an on-call engineer cares about:

* **detection rate**: the share of truly drifted windows that were flagged (recall);
* **false-alarm rate**: the share of clean windows that were flagged;
* **delay**: how long after the drift began the first drifted window was flagged.

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

import logging
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from labkit._validate import fail

__all__ = ["DetectorScore", "score_detector", "scorecard"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorScore:
    """How one detector did on one drift.

    Attributes
    ----------
    detector : str
    n_windows, n_drifted, n_clean : int
        Windows compared (present in both the flags and the truth), truly drifted and clean ones.
    detection_rate : float
        Flagged drifted windows / drifted windows (NaN when there is no drifted window).
    false_alarm_rate : float
        Flagged clean windows / clean windows (NaN when every window is drifted).
    first_detection : pandas.Timestamp or None
        The first drifted window that was flagged.
    delay_windows : int or None
        Drifted windows before the first flagged one (0 = caught in the first drifted window).
    delay : pandas.Timedelta or None
        ``first_detection`` minus the first drifted window's start.
    """

    detector: str
    n_windows: int
    n_drifted: int
    n_clean: int
    detection_rate: float
    false_alarm_rate: float
    first_detection: pd.Timestamp | None
    delay_windows: int | None
    delay: pd.Timedelta | None

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


def score_detector(flags: pd.Series, truth, *, freq: str = "D", name: str | None = None) -> DetectorScore:
    """Compare one detector's per-window flags with the truth.

    Parameters
    ----------
    flags : pandas.Series of bool
        Indexed by window start (DatetimeIndex), ``True`` where the detector fired.
    truth : DriftRecord, pandas.DataFrame or pandas.Series
        A record from :mod:`labkit.simulate` (its :meth:`~labkit.simulate.DriftRecord.windows`
        with ``freq`` is used), or per-window truth with a boolean ``drifted`` column.
    freq : str, default "D"
        Window length, when ``truth`` is a DriftRecord; must match how ``flags`` were computed.
    name : str, optional
        Detector name (default ``flags.name`` or "detector").

    Returns
    -------
    DetectorScore
        Only windows present in both ``flags`` and the truth are scored.

    Raises
    ------
    ValueError
        When flags and truth share no window (e.g. different frequencies or periods).
    """
    if not isinstance(flags, pd.Series):
        raise fail("score_detector", "flags", "a pandas Series of booleans indexed by window start", flags,
                   "for several detectors use scorecard()", TypeError)
    flags = _as_bool_series(flags, "flags")
    expected = _truth_windows(truth, freq)
    common = flags.index.intersection(expected.index).sort_values()
    if len(common) == 0:
        raise fail("score_detector", "flags", f"windows that the truth has ({expected.index.min()}.."
                   f"{expected.index.max()})", f"<windows {flags.index.min()}..{flags.index.max()}>",
                   f"compute both with the same freq ({freq!r}) and data")
    f = flags.reindex(common).to_numpy()
    t = expected.reindex(common).to_numpy()
    n_drifted, n_clean = int(t.sum()), int((~t).sum())
    detection = float(f[t].mean()) if n_drifted else float("nan")
    false_alarm = float(f[~t].mean()) if n_clean else float("nan")
    hits = np.flatnonzero(f & t)
    drifted_positions = np.flatnonzero(t)
    if hits.size:
        first = common[hits[0]]
        delay_windows = int(np.searchsorted(drifted_positions, hits[0]))
        delay = first - common[drifted_positions[0]]
    else:
        first, delay_windows, delay = None, None, None
    return DetectorScore(
        detector=name or (str(flags.name) if flags.name is not None else "detector"),
        n_windows=len(common), n_drifted=n_drifted, n_clean=n_clean,
        detection_rate=detection, false_alarm_rate=false_alarm,
        first_detection=first, delay_windows=delay_windows, delay=delay,
    )


def scorecard(flags: pd.DataFrame | Mapping[str, pd.Series], truths: Mapping[str, object], *,
              freq: str = "D") -> pd.DataFrame:
    """Score several detectors on several drifts: one row per (drift, detector).

    Parameters
    ----------
    flags : DataFrame (one boolean column per detector) or dict {scenario: DataFrame}
        With a single DataFrame every detector is scored against every truth; with a dict, the
        flags of each scenario are scored against the truth of the same name.
    truths : dict {scenario: DriftRecord or per-window truth}
    freq : str, default "D"

    Returns
    -------
    pandas.DataFrame
        Columns: scenario, detector, n_windows, n_drifted, n_clean, detection_rate,
        false_alarm_rate, first_detection, delay_windows, delay.
    """
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
            raise fail("scorecard", "flags", "a DataFrame or a dict of DataFrames", flags, "pass one column per detector",
                       TypeError)
        for detector in frame.columns:
            score = score_detector(frame[detector], truth, freq=freq, name=str(detector))
            rows.append({"scenario": scenario, **score.to_dict()})
    return pd.DataFrame(rows)
