"""The lab's baseline model: trained once, cached, and shared by every notebook.

Notebook 01 builds the baseline step by step; every later notebook calls :func:`get_baseline`,
which loads the cached copy from the artifacts folder or, when it is missing or stale, trains
it again deterministically. Two kernels asking at once are safe: training happens under a file
lock and files are written atomically.

The split (chronological, never shuffled):

* **train**: 2011-01-01 .. 2011-09-30, what the model learns from;
* **reference**: 2011-10-01 .. 2011-12-31, unseen by the model; its predictions and errors are
  the baseline every later part compares production with;
* **production**: 2012-01-01 .. 2012-12-31, the "future" the model is deployed into.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from labkit import data as _data
from labkit._validate import check_columns, check_frame, check_int, check_pair, fail
from labkit.paths import artifacts_dir, atomic_write_bytes

__all__ = [
    "TRAIN_START", "REFERENCE_START", "PRODUCTION_START", "MODEL_PARAMS", "Baseline", "RegressionMetrics",
    "make_model", "regression_metrics", "fit_baseline", "get_baseline", "split_periods",
]

log = logging.getLogger(__name__)

TRAIN_START = "2011-01-01"
REFERENCE_START = "2011-10-01"
PRODUCTION_START = "2012-01-01"

#: Hyper-parameters of the baseline regressor (fixed, so every run trains the same model).
MODEL_PARAMS = {"loss": "squared_error", "max_iter": 300, "learning_rate": 0.05, "early_stopping": False,
                "random_state": 0}

_FORMAT_VERSION = 1


def make_model(seed: int = 0):
    """Return an unfitted baseline regressor (a scikit-learn HistGradientBoostingRegressor)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(**{**MODEL_PARAMS, "random_state": seed})


def split_periods(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split the hourly data into (train, reference, production) at the lab's fixed dates."""
    return _data.chronological_split(df, REFERENCE_START, PRODUCTION_START)


@dataclass(frozen=True)
class RegressionMetrics(Mapping):
    """The errors of a regression: ``mae``, ``rmse``, ``r2``, ``mean_residual`` (y_true - y_pred) and ``n``.

    A positive mean residual means the model under-predicts. The record is also a read-only mapping:
    ``metrics["mae"]`` is ``metrics.mae`` and ``dict(metrics)`` holds every field.
    """

    mae: float
    rmse: float
    r2: float
    mean_residual: float
    n: int

    def __getitem__(self, name: str) -> float:
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self):
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)

    def to_frame(self) -> pd.DataFrame:
        """One row with a column per metric."""
        return pd.DataFrame([dict(self)])


def regression_metrics(y_true, y_pred) -> RegressionMetrics:
    """MAE, RMSE, R² and mean residual of a regression (``y_true``, ``y_pred``: same length, finite).

    Examples
    --------
    >>> m = regression_metrics([1, 2, 3, 4], [1, 2, 3, 6])
    >>> m.mae, m.rmse, m.mean_residual
    (0.5, 1.0, -0.5)
    """
    t, p = check_pair(y_true, y_pred, func="regression_metrics")
    resid = t - p
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return RegressionMetrics(mae=float(np.mean(np.abs(resid))), rmse=float(np.sqrt(np.mean(resid ** 2))), r2=r2,
                             mean_residual=float(np.mean(resid)), n=int(t.size))


@dataclass(frozen=True)
class Baseline:
    """A trained baseline model with the data it was judged on.

    Attributes
    ----------
    model : fitted scikit-learn regressor
    features : tuple of str
        The columns the model reads, in order.
    target : str
    periods : dict
        ``{"train": (start, end), "reference": ..., "production": ...}`` as ISO dates (end exclusive).
    metrics : RegressionMetrics
        Regression metrics on the reference period (see :func:`regression_metrics`).
    reference : DataFrame
        The reference period with a ``prediction`` column: what monitoring compares with.
    fingerprint : str
        Hash of the data, parameters and split: the cache is reused only when it matches.
    """

    model: object = field(repr=False)
    features: tuple
    target: str
    periods: dict
    metrics: RegressionMetrics
    reference: pd.DataFrame = field(repr=False)
    fingerprint: str = ""

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predict hourly demand for the rows of ``df`` (must hold every feature column)."""
        check_frame(df, "df", func="Baseline.predict", fix=f"pass a DataFrame with the columns {list(self.features)}")
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise fail("Baseline.predict", "df", f"the feature columns {list(self.features)}", f"<a frame without "
                       f"{missing}>", "did an upstream change rename or drop them? Restore the columns first")
        with threadpool_limits(limits=1):  # one thread: no OpenMP oversubscription on a shared machine
            return self.model.predict(df[list(self.features)])

    def save(self, folder: str | Path | None = None) -> Path:
        """Write the model and reference data to ``folder`` (default: ``runs/baseline``).

        Takes the same lock as :func:`get_baseline`, so a kernel loading the cache never sees
        a half-written baseline.
        """
        folder = Path(folder) if folder is not None else artifacts_dir("baseline")
        folder.mkdir(parents=True, exist_ok=True)
        with _folder_lock(folder):
            self._write(folder)
        return folder

    def _write(self, folder: Path) -> None:
        atomic_write_bytes(folder / "model.pkl", pickle.dumps(self.model))
        atomic_write_bytes(folder / "reference.pkl", pickle.dumps(self.reference))
        meta = {"format": _FORMAT_VERSION, "features": list(self.features), "target": self.target,
                "periods": self.periods, "metrics": dict(self.metrics), "fingerprint": self.fingerprint,
                "model_params": {k: self.model.get_params().get(k, v) for k, v in MODEL_PARAMS.items()}}
        # meta.json last: its presence marks a complete save.
        atomic_write_bytes(folder / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())

    @classmethod
    def load(cls, folder: str | Path) -> "Baseline":
        """Load a baseline written by :meth:`save`."""
        folder = Path(folder)
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            raise fail("Baseline.load", "folder", "a folder with a saved baseline (meta.json)", str(folder),
                       "call labkit.baseline.get_baseline() to train and cache one", FileNotFoundError)
        meta = json.loads(meta_path.read_text())
        model = pickle.loads((folder / "model.pkl").read_bytes())
        reference = pickle.loads((folder / "reference.pkl").read_bytes())
        return cls(model=model, features=tuple(meta["features"]), target=meta["target"],
                   periods={k: tuple(v) for k, v in meta["periods"].items()},
                   metrics=RegressionMetrics(**meta["metrics"]),
                   reference=reference, fingerprint=meta["fingerprint"])


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """An exclusive advisory lock on ``folder/.lock`` (held across processes and kernels)."""
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fingerprint(features, target, params=None) -> str:
    import sklearn

    h = hashlib.sha256()
    h.update(_data.EXPECTED_SHA256.encode())
    h.update(json.dumps([_FORMAT_VERSION, list(features), target, params or MODEL_PARAMS,
                         TRAIN_START, REFERENCE_START, PRODUCTION_START, sklearn.__version__],
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


def fit_baseline(df: pd.DataFrame | None = None, *, features=None, target: str = _data.TARGET,
                 seed: int = 0, max_iter: int | None = None) -> Baseline:
    """Train the baseline on the train period and evaluate it on the reference period.

    ``df`` defaults to :func:`labkit.data.load_hourly`, ``features`` to :data:`labkit.data.FEATURES`
    (``casual`` and ``registered`` are refused: they add up to the target, so a model using them
    cheats). ``max_iter`` (default 300) trades quality for speed, e.g. in tests; the fingerprint
    records it, so such a model is never mistaken for the cached baseline.
    """
    func = "fit_baseline"
    if max_iter is not None:
        check_int(max_iter, "max_iter", func=func, low=1, fix="leave it out for the lab's baseline (300 iterations)")
    params = {**MODEL_PARAMS, **({} if max_iter is None else {"max_iter": max_iter})}
    features = list(_data.FEATURES if features is None else features)
    leaky = [c for c in features if c in _data.LEAKY_COLUMNS or c == target]
    if leaky:
        raise fail(func, "features", "inputs known before the hour (casual + registered = cnt: a model reading "
                   "them learns the answer, not the demand)", f"<features with {leaky}>", f"remove {leaky}")
    df = _data.load_hourly() if df is None else check_frame(df, "df", func=func)
    check_columns(df, [*features, target, "timestamp"], "features", func=func, frame="df")
    train, reference, _ = split_periods(df)
    # One thread: on small machines (and under pytest-xdist) OpenMP threads of parallel kernels fight
    # over the cores and a 1 s fit can take 20 s; single-threaded it stays about 1 s.
    with threadpool_limits(limits=1):
        model = make_model(seed).set_params(max_iter=params["max_iter"]).fit(train[features], train[target])
    reference = reference.copy()
    reference["prediction"] = model.predict(reference[features])
    metrics = regression_metrics(reference[target], reference["prediction"])
    periods = {"train": (TRAIN_START, REFERENCE_START), "reference": (REFERENCE_START, PRODUCTION_START),
               "production": (PRODUCTION_START, "2013-01-01")}
    return Baseline(model=model, features=tuple(features), target=target, periods=periods,
                    metrics=metrics, reference=reference, fingerprint=_fingerprint(features, target, params))


def get_baseline(*, refresh: bool = False, folder: str | Path | None = None) -> Baseline:
    """Return the lab's baseline, loading the cached copy or training (and caching) it.

    Safe to call from several kernels at once: one trains while the others wait for the lock,
    then load what it wrote. The cache is reused only when its fingerprint (data checksum,
    parameters, split dates, scikit-learn version) matches.

    ``refresh=True`` trains again even when a valid cache exists; ``folder`` is the cache folder
    (default ``runs/baseline``).
    """
    folder = Path(folder) if folder is not None else artifacts_dir("baseline")
    folder.mkdir(parents=True, exist_ok=True)
    expected = _fingerprint(list(_data.FEATURES), _data.TARGET)
    with _folder_lock(folder):
        if not refresh:
            try:
                cached = Baseline.load(folder)
            except FileNotFoundError:
                cached = None
            except Exception as exc:  # a damaged cache is rebuilt, not fatal
                log.warning("Ignoring unreadable baseline cache in %s: %s", folder, exc)
                cached = None
            if cached is not None and cached.fingerprint == expected:
                return cached
        baseline = fit_baseline()
        baseline._write(folder)
        log.info("Trained and cached the baseline in %s", folder)
        return baseline
