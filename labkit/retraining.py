"""What should we have done? A retraining backtest over the production period, and a model registry.

:func:`backtest_retraining` replays production day by day once per retraining
:class:`~labkit.alerting.triggers.Policy` (the same triggers as notebook 05) and measures error
against the number of retrains. Each evening a policy sees only what was known then: labels arrive
``label_delay_days`` late; the backtest's signals (:data:`BACKTEST_SIGNALS`) are the recent
labelled error of the serving version and the drift of recent inputs from its training data.
A retrained model is registered in a :class:`ModelRegistry` (MLflow's model registry: an MLflow
run and a model version per retrain), promoted at once, and rolled back if it does worse than its
parent on its first labelled days. Choices (window, model size, threads, timings): ``docs/alerting.md``.

>>> reg = ModelRegistry("demo", replace=True)      # MLflow's registry, on SQLite under runs/mlflow/
>>> v1 = reg.register("model-a", features=["temp"], trained_on=("2011-01-01", "2011-09-30"), n_rows=6500)
>>> v2 = reg.register("model-b", features=["temp"], trained_on=("2011-01-01", "2012-03-31"), n_rows=11000,
...                   parent="v1")
>>> reg.promote("v1").version, reg.promote("v2").version, reg.rollback(reason="worse").version
('v1', 'v2', 'v1')
>>> reg.to_frame()[["version", "parent", "status"]].values.tolist()
[['v1', None, 'champion'], ['v2', 'v1', 'rolled_back']]
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.request import url2pathname

import numpy as np
import pandas as pd

from labkit._validate import check_columns, check_datetimes, check_frame, check_int, check_number, check_seed, fail
from labkit._windows import window_starts
from labkit.alerting.triggers import DriftTrigger, PerformanceTrigger, Policy, TimeTrigger
from labkit.data import TARGET
from labkit.drift import wasserstein
from labkit.paths import artifacts_dir

__all__ = ["ModelVersion", "RollbackCheck", "ModelRegistry", "tracking_uri", "BacktestSpec", "BacktestResult", "BACKTEST_SIGNALS",
           "BACKTEST_MAX_ITER", "default_policies", "backtest_retraining"]

logger = logging.getLogger(__name__)

#: Boosting iterations of models retrained in the backtest (the baseline uses 300).
BACKTEST_MAX_ITER = 100

#: The metrics a policy's triggers may read in the backtest, each over the last ``signal_days``:
#: ``mae`` and ``wape`` (sum |residual| / sum y) of the labelled days served by the current version
#: (NaN until there are that many), ``drift`` (mean normed Wasserstein of the recent inputs against
#: the serving version's training inputs, over ``drift_columns``).
BACKTEST_SIGNALS = ("mae", "wape", "drift")


@dataclass(frozen=True)
class ModelVersion:
    """One registered model: version ("v1", "v2", ...), fitted model, features, target, the first and
    last training timestamps, training rows, metrics, parent version, creation time, note."""

    version: str
    model: object = field(repr=False)
    features: tuple
    target: str
    trained_on: tuple
    n_rows: int
    metrics: dict = field(default_factory=dict)
    parent: str | None = None
    created_at: str = ""
    note: str = ""

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predict for the rows of ``df`` (must hold every feature column)."""
        check_columns(check_frame(df, "df", func=f"{self.version}.predict"), list(self.features), "df",
                      func=f"{self.version}.predict")
        return np.asarray(self.model.predict(df[list(self.features)]), dtype=float)

    def to_frame(self) -> pd.DataFrame:
        """One row of metadata (metrics flattened as metric_<name>)."""
        row = {"version": self.version, "parent": self.parent, "trained_from": self.trained_on[0],
               "trained_to": self.trained_on[1], "n_rows": self.n_rows, "created_at": self.created_at,
               "note": self.note, **{f"metric_{k}": v for k, v in self.metrics.items()}}
        return pd.DataFrame([row])


@dataclass(frozen=True)
class RollbackCheck:
    """Champion vs its predecessor on a recent labelled window (:meth:`ModelRegistry.check_rollback`)."""

    champion: str
    previous: str
    champion_mae: float
    previous_mae: float
    n: int
    tolerance: float
    rolled_back: bool
    reason: str


def tracking_uri() -> str:
    """Where MLflow tracks runs and registers models: ``MLFLOW_TRACKING_URI`` when set (a tracking
    server such as ``http://127.0.0.1:5000``), else a SQLite file under ``runs/mlflow/``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{artifacts_dir('mlflow') / 'mlflow.db'}"


@contextlib.contextmanager
def _quiet(logger_name: str):
    """Silence a library's INFO/WARNING log lines for a moment (MLflow's table creation, pickle notice, run links)."""
    log = logging.getLogger(logger_name)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


class ModelRegistry:
    """Versions of one model (predicting ``target``) in MLflow's model registry.

    :meth:`register` logs an MLflow run (training window, rows, metrics, the model) and creates a
    model version tagged with its lineage (parent, note); the alias ``challenger`` points at the
    newest version. :meth:`promote` moves the alias ``champion`` (the version serving) and tags the
    old one ``retired``; :meth:`rollback` tags the champion ``rolled_back`` and moves ``champion``
    back to the champion before it. Each change is also an ``event.NNNN`` tag of the registered
    model (:meth:`history`). The store is :func:`tracking_uri`; ``replace=True`` first deletes a
    registered model of that name, its runs and their model files (a backtest replays from scratch).
    ``client`` is MLflow's ``MlflowClient`` on the same store. Fitted models stay in memory;
    :meth:`load` reads one back from MLflow.

    >>> ModelRegistry("empty", replace=True).rollback()
    Traceback (most recent call last):
    ValueError: rollback(): champion: expected an earlier champion to roll back to, got []. Fix: promote a version first.
    """

    def __init__(self, name: str = "bike-demand", *, target: str = TARGET, replace: bool = False):
        import mlflow

        if not isinstance(name, str) or not name.strip() or "/" in name or "'" in name:
            raise fail("ModelRegistry", "name", "a non-empty string without '/' or quotes", name,
                       "pass e.g. 'bike-demand'")
        self.name, self.target, self.tracking_uri = name, target, tracking_uri()
        db = self.tracking_uri.removeprefix("sqlite:///") if self.tracking_uri.startswith("sqlite:///") else None
        if db:  # a write-ahead log: one fsync per commit, not several; a crash still keeps every commit
            sqlite3.connect(db).execute("PRAGMA journal_mode=WAL").connection.close()
        with _quiet("mlflow"):  # the first calls create the tables and say so
            self.client = mlflow.MlflowClient(self.tracking_uri, self.tracking_uri)
            found = self.client.search_registered_models(f"name = '{name}'")
            exp = self.client.get_experiment_by_name(name)
        if found and replace:
            self.client.delete_registered_model(name)
        for run in self.client.search_runs([exp.experiment_id], max_results=50_000) if exp and replace else []:
            self.client.delete_run(run.info.run_id)  # and its model files: a notebook rerun must not fill the disk
            if run.info.artifact_uri.startswith("file:"):
                shutil.rmtree(Path(url2pathname(run.info.artifact_uri.removeprefix("file://"))).parent, ignore_errors=True)
        if not found or replace:
            self.client.create_registered_model(name, tags={"target": target})
        self._experiment = exp.experiment_id if exp else self.client.create_experiment(
            name, artifact_location=(Path(db).parent / "artifacts").as_uri() if db else None)
        self._versions: dict[str, ModelVersion] = {}  # what MLflow holds, read once; models load on first use
        for mv in sorted(self.client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)):
            t = mv.tags
            self._versions[f"v{mv.version}"] = ModelVersion(
                version=f"v{mv.version}", model=None, features=tuple(t["features"].split(",")), target=target,
                trained_on=(t["trained_from"], t["trained_to"]), n_rows=int(t["n_rows"]),
                metrics=self.client.get_run(mv.run_id).data.metrics, parent=t.get("parent") or None,
                created_at=t.get("created_at", ""), note=t.get("note", ""))
        self._n_events = sum(k.startswith("event.") for k in self._tags())

    def __getitem__(self, version: str) -> ModelVersion:
        return self.get(version)

    def _tags(self) -> dict:
        return self.client.get_registered_model(self.name).tags

    def _known(self, version: str) -> None:
        if version not in self._versions:
            raise KeyError(str(fail("ModelRegistry.get", "version", f"one of {list(self._versions)}",
                                    f"<no version {version!r}>", "register it first")))

    def get(self, version: str) -> ModelVersion:
        """The version called ``version`` (MLflow's version 2 is "v2"), with its fitted model."""
        self._known(version)
        if self._versions[version].model is None:  # registered in an earlier session
            self._versions[version] = dataclasses.replace(self._versions[version], model=self.load(version))
        return self._versions[version]

    def load(self, version: str):
        """The model of ``version`` read back from MLflow (``mlflow.sklearn.load_model``)."""
        import mlflow

        self._known(version)
        source = self.client.get_model_version(self.name, version[1:]).source
        with tempfile.TemporaryDirectory() as tmp:
            return mlflow.sklearn.load_model(mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=self.tracking_uri))

    @property
    def versions(self) -> tuple:
        """All versions, in registration order."""
        return tuple(self.get(v) for v in self._versions)

    def alias(self, alias: str) -> ModelVersion | None:
        """The version an MLflow alias ("champion", "challenger") points at, or None."""
        version = self.client.get_registered_model(self.name).aliases.get(alias)
        return None if version is None else self.get(f"v{version}")

    @property
    def champion(self) -> ModelVersion | None:
        """The version serving now: alias ``champion`` (None before the first promotion)."""
        return self.alias("champion")

    def _stack(self) -> list[str]:
        return self._tags().get("champions", "").split()

    @property
    def previous(self) -> ModelVersion | None:
        """The champion a rollback would restore (None if there is none)."""
        stack = self._stack()
        return self.get(stack[-2]) if len(stack) > 1 else None

    def status(self, version: str) -> str:
        """'registered' (never served), 'champion', 'retired' (replaced) or 'rolled_back': a version tag."""
        self._known(version)
        return self.client.get_model_version(self.name, version[1:]).tags.get("status", "registered")

    def history(self) -> pd.DataFrame:
        """Events from MLflow: at, action (register / promote / rollback / check), version, from_version, reason."""
        events = [json.loads(v) for k, v in sorted(self._tags().items()) if k.startswith("event.")]
        return pd.DataFrame(events, columns=["at", "action", "version", "from_version", "reason"])

    def to_frame(self) -> pd.DataFrame:
        """One row per version with its metadata and status."""
        if not self._versions:
            return pd.DataFrame(columns=["version", "parent", "trained_from", "trained_to", "n_rows", "created_at",
                                         "note", "status"])
        out = pd.concat([v.to_frame() for v in self._versions.values()], ignore_index=True)
        out["status"] = [self.status(v) for v in out["version"]]
        return out

    def _event(self, at, action, version, from_version=None, reason=""):
        event = {"at": "" if at is None else str(at), "action": action, "version": version,
                 "from_version": from_version, "reason": reason[:4000]}
        self.client.set_registered_model_tag(self.name, f"event.{self._n_events:04d}", json.dumps(event))
        self._n_events += 1

    def _set(self, version: str, **tags) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version[1:], key, str(value))

    def register(self, model, *, features: Sequence[str], trained_on: tuple, n_rows: int, metrics: dict | None = None,
                 parent: str | None = None, created_at=None, note: str = "") -> ModelVersion:
        """Log an MLflow run with ``model`` and register it as a new version (alias ``challenger``, not serving)."""
        import mlflow
        from mlflow.entities import Metric, Param

        func = "register"
        if isinstance(features, str) or not len(features):
            raise fail(func, "features", "a non-empty list of column names", features, "pass e.g. ['temp', 'hr']")
        if not (isinstance(trained_on, (tuple, list)) and len(trained_on) == 2):
            raise fail(func, "trained_on", "(first, last) timestamps", trained_on, "pass e.g. ('2011-01-01', '2011-09-30')")
        if parent is not None and parent not in self._versions:
            raise fail(func, "parent", f"a registered version, one of {list(self._versions)}",
                       f"<parent {parent!r} is not registered>", "register the parent first")
        tags = {"features": ",".join(features), "trained_from": str(trained_on[0]), "trained_to": str(trained_on[1]),
                "n_rows": str(int(n_rows)), "parent": parent or "", "note": note[:4000],
                "created_at": "" if created_at is None else str(created_at)}
        run = self.client.create_run(self._experiment, run_name=f"{self.name}: {note or 'register'}"[:200]).info
        run_id = run.run_id
        self.client.log_batch(run_id, params=[Param(k, v[:500]) for k, v in {"registry": self.name, **tags}.items()],
                              metrics=[Metric(k, float(v), int(time.time() * 1000), 0) for k, v in (metrics or {}).items()])
        with tempfile.TemporaryDirectory() as tmp, _quiet("mlflow"):
            # cloudpickle stores any fitted model quickly; skops (the safer default) refuses
            # HistGradientBoosting's tree nodes unless trusted and is ~10x slower (docs/alerting.md)
            mlflow.sklearn.save_model(model, f"{tmp}/model", serialization_format="cloudpickle", pip_requirements=[])
            self.client.log_artifacts(run_id, f"{tmp}/model", "model")
            self.client.set_terminated(run_id)  # against a tracking server, MLflow prints the run's address
            mv = self.client.create_model_version(self.name, f"{run.artifact_uri}/model", run_id=run_id,
                                                  tags={**tags, "status": "registered"})
        version = f"v{mv.version}"
        self._versions[version] = ModelVersion(
            version=version, model=model, features=tuple(features), target=self.target, n_rows=int(n_rows),
            trained_on=(tags["trained_from"], tags["trained_to"]), metrics=dict(metrics or {}), parent=parent,
            created_at=tags["created_at"], note=note)
        self.client.set_registered_model_alias(self.name, "challenger", mv.version)
        self._event(created_at, "register", version, parent, note)
        logger.info("registered %s (parent %s, %d rows)", version, parent, int(n_rows))
        return self._versions[version]

    def promote(self, version: str, *, at=None, reason: str = "") -> ModelVersion:
        """Make ``version`` the champion (move the alias); the old champion becomes 'retired'."""
        mv, stack = self.get(version), self._stack()
        if stack and stack[-1] == version:
            return mv
        old = stack[-1] if stack else None
        if old is not None:
            self._set(old, status="retired")
        self.client.set_registered_model_alias(self.name, "champion", version[1:])
        self.client.set_registered_model_tag(self.name, "champions", " ".join(stack + [version]))
        self._set(version, status="champion")
        self._event(at, "promote", version, old, reason)
        logger.info("promoted %s (was %s): %s", version, old, reason)
        return mv

    def rollback(self, *, at=None, reason: str = "") -> ModelVersion:
        """Tag the champion 'rolled_back', move the alias ``champion`` back to the previous champion; return it."""
        stack = self._stack()
        if len(stack) < 2:
            raise fail("rollback", "champion", "an earlier champion to roll back to", stack, "promote a version first")
        bad = stack.pop()
        self._set(bad, status="rolled_back", rolled_back_at="" if at is None else at, rollback_reason=reason[:4000])
        while len(stack) > 1 and self.status(stack[-1]) == "rolled_back":
            stack.pop()  # a version rolled back earlier is never restored implicitly
        good = stack[-1]
        self.client.set_registered_model_alias(self.name, "champion", good[1:])
        self.client.set_registered_model_tag(self.name, "champions", " ".join(stack))
        self._set(good, status="champion")
        self._event(at, "rollback", good, bad, reason)
        logger.info("rolled back %s -> %s: %s", bad, good, reason)
        return self.get(good)

    def check_rollback(self, window: pd.DataFrame, *, tolerance: float = 0.0, min_rows: int = 24, at=None,
                       apply: bool = True) -> RollbackCheck:
        """Compare the champion with the previous champion on ``window`` (labelled rows neither trained
        on); roll back (unless ``apply=False``) when ``champion_mae > previous_mae * (1 + tolerance)``."""
        func = "check_rollback"
        champ, prev = self.champion, self.previous
        if champ is None or prev is None:
            raise fail(func, "registry", "a champion and a previous champion", self._stack(), "promote two versions")
        check_columns(check_frame(window, "window", func=func), [self.target, *champ.features, *prev.features],
                      "window", func=func)
        if len(window) < min_rows:
            raise fail(func, "window", f"at least min_rows={min_rows} labelled rows", f"<{len(window)} labelled rows>",
                       "wait for more labels or lower min_rows")
        y = window[self.target].to_numpy(dtype=float)
        if not np.isfinite(y).all():
            raise fail(func, f"window[{self.target!r}]", "labels for every row", "<missing labels>", "drop them first")
        mae_c, mae_p = float(np.mean(np.abs(y - champ.predict(window)))), float(np.mean(np.abs(y - prev.predict(window))))
        worse = mae_c > mae_p * (1 + tolerance)
        reason = (f"{champ.version} MAE {mae_c:.1f} vs {prev.version} {mae_p:.1f} on {len(y)} recent labelled rows"
                  + (": worse, rolled back" if worse and apply else (": worse" if worse else ": keeps serving")))
        self._event(at, "check", champ.version, prev.version, reason)
        if worse and apply:
            self.rollback(at=at, reason=reason)
        return RollbackCheck(champ.version, prev.version, mae_c, mae_p, int(len(y)), float(tolerance),
                             bool(worse and apply), reason)


def _reference_wape(baseline) -> float:
    ref = baseline.reference
    return float(np.abs(ref[baseline.target] - ref["prediction"]).sum() / ref[baseline.target].sum())


def default_policies(baseline) -> list[Policy]:
    """Never; every 30 days; drift-triggered (recent inputs' mean normed Wasserstein > 0.6 against
    the serving model's training data, at most every 30 days: a week of weather always scores
    0.4-0.7 against a year's, see ``docs/alerting.md``); performance-triggered (WAPE of the last
    7 labelled days above 1.25 x the baseline's reference WAPE)."""
    return [Policy("never"), Policy("periodic", [TimeTrigger("30D")]),
            Policy("drift", [DriftTrigger("drift", threshold=0.6)], cooldown="30D"),
            Policy("performance", [PerformanceTrigger("wape", baseline=_reference_wape(baseline), tolerance=0.25)])]


@dataclass(frozen=True)
class BacktestSpec:
    """How :func:`backtest_retraining` simulates production.

    ``label_delay_days``: the label of day d is usable from the end of day d + delay.
    ``window_days``: train on the last N labelled days (None: every labelled row so far, 2011 included).
    ``signal_days`` and ``drift_columns``: the window and columns of :data:`BACKTEST_SIGNALS`.
    ``max_iter``, ``n_threads``: size of retrained models and threads per fit (None: library default).
    ``rollback_window_days`` (None: never roll back) and ``rollback_tolerance``: a new version is
    compared with its parent on its first labelled days served.
    """

    label_delay_days: int = 7
    window_days: int | None = 90
    signal_days: int = 7
    drift_columns: tuple = ("temp", "atemp", "hum", "windspeed")
    max_iter: int = BACKTEST_MAX_ITER
    n_threads: int | None = 1
    rollback_window_days: int | None = 7
    rollback_tolerance: float = 0.0

    def __post_init__(self):
        func = "BacktestSpec"
        check_int(self.label_delay_days, "label_delay_days", func=func, low=0)
        if self.window_days is not None:
            check_int(self.window_days, "window_days", func=func, low=7, fix="pass None (expanding) or >= 7 days")
        for name in ("signal_days", "max_iter") + (("rollback_window_days",) if self.rollback_window_days is not None else ()):
            check_int(getattr(self, name), name, func=func, low=1)
        check_number(self.rollback_tolerance, "rollback_tolerance", func=func)


@dataclass(frozen=True)
class BacktestResult:
    """Outcome of :func:`backtest_retraining`.

    ``daily`` (tidy: policy, date, n, mae, mean_residual, abs_error_sum, y_sum, version serving),
    ``events`` (retrain / rollback with reasons and training ranges), ``summary`` (per policy: mae,
    mean_residual, wape, n_retrains, n_rollbacks, fit_seconds, final_version), ``registries``
    (policy name -> :class:`ModelRegistry`), ``settings``.
    """

    daily: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    registries: dict = field(repr=False)
    settings: dict

    def to_frame(self) -> pd.DataFrame:
        """The tidy daily table."""
        return self.daily.copy()

    def by_period(self, freq: str = "W") -> pd.DataFrame:
        """MAE and mean residual per policy and period (row-weighted), tidy."""
        d = self.daily[self.daily["n"] > 0].copy()
        d["period"] = window_starts(d["date"], freq, func="by_period")
        d["res_sum"] = d["mean_residual"] * d["n"]
        out = d.groupby(["policy", "period"], sort=False)[["n", "abs_error_sum", "res_sum"]].sum().reset_index()
        out["mae"] = out["abs_error_sum"] / out["n"]
        out["mean_residual"] = out["res_sum"] / out["n"]
        return out[["policy", "period", "n", "mae", "mean_residual"]]


class _Simulation:
    """Shared, read-only data of one backtest: history, production days, label delay."""

    def __init__(self, df, baseline, start, end, spec: BacktestSpec):
        func = "backtest_retraining"
        self.features, self.target, self.spec = tuple(baseline.features), baseline.target, spec
        check_columns(check_frame(df, "df", func=func), [*self.features, self.target, "timestamp"], "df", func=func)
        check_datetimes(df["timestamp"], "df['timestamp']", func=func)
        df = df.iloc[np.argsort(df["timestamp"].to_numpy(), kind="stable")].reset_index(drop=True)
        times = df["timestamp"]
        start = pd.Timestamp(start)
        end = times.max().normalize() + pd.Timedelta(days=1) if end is None else pd.Timestamp(end)
        if not start < end:
            raise fail(func, "start", f"a time before end ({end})", str(start), "swap start and end")
        hist, prod = (times < start).to_numpy(), ((times >= start) & (times < end)).to_numpy()
        if not hist.any() or not prod.any():
            raise fail(func, "df", f"rows before start={start} (to train on) and rows in [{start}, {end})",
                       f"<{hist.sum()} rows before, {prod.sum()} rows in [start, end): no rows in that period>",
                       "pass the full data (labkit.data.load_hourly()) and a period inside it")
        if not np.isfinite(df[self.target].to_numpy(float)[hist | prod]).all():
            bad = int((~np.isfinite(df[self.target].to_numpy(float)[hist | prod])).sum())
            raise fail(func, f"df[{self.target!r}]", "a label on every row", f"<{bad} missing label(s)>",
                       "drop or fill them (the backtest hides labels itself with label_delay_days)")
        self.labelled_frame = df[hist | prod].reset_index(drop=True)  # history then production
        self.n_hist, self.prod = int(hist.sum()), df[prod].reset_index(drop=True)
        self.y_prod, self.y_all = self.prod[self.target].to_numpy(float), self.labelled_frame[self.target].to_numpy(float)
        self.delay = spec.label_delay_days
        self.days = pd.date_range(start.normalize(), (end - pd.Timedelta(microseconds=1)).normalize(), freq="D")
        day_of_row = ((self.prod["timestamp"].dt.normalize() - self.days[0]) // pd.Timedelta(days=1)).to_numpy()
        self.day_start = np.searchsorted(day_of_row, np.arange(len(self.days)), side="left")
        self.day_end = np.searchsorted(day_of_row, np.arange(len(self.days)), side="right")
        self.lab_times = self.labelled_frame["timestamp"].to_numpy()
        self.reference_wape = _reference_wape(baseline)

    def day_rows(self, first: int, last: int) -> tuple[int, int]:
        """Row range [lo, hi) of production days first..last (inclusive)."""
        return (0, 0) if last < first else (int(self.day_start[first]), int(self.day_end[last]))

    def training_rows(self, t: int) -> tuple[int, int]:
        """Rows of labelled_frame usable for training at the end of day t."""
        last = t - self.delay
        hi = self.n_hist + (int(self.day_end[last]) if last >= 0 else 0)
        if self.spec.window_days is None:
            return 0, hi
        cutoff = (self.days[0] + pd.Timedelta(days=last + 1 - self.spec.window_days)).to_datetime64()
        return int(np.searchsorted(self.lab_times[:hi], cutoff, side="left")), hi

    def signals(self, names, t: int, deployed: int, preds: np.ndarray, train_rows: tuple[int, int]) -> dict:
        """The :data:`BACKTEST_SIGNALS` in ``names`` at the end of day t, for a version serving since day ``deployed``."""
        out, n = {}, self.spec.signal_days
        if {"mae", "wape"} & set(names):
            last = t - self.delay
            first = max(last - n + 1, deployed)
            lo, hi = self.day_rows(first, last) if last >= 0 and last - first + 1 >= n else (0, 0)
            y, err = self.y_prod[lo:hi], np.abs(self.y_prod[lo:hi] - preds[lo:hi])
            out["mae"] = float(err.mean()) if hi > lo else np.nan
            out["wape"] = float(err.sum() / y.sum()) if hi > lo and y.sum() > 0 else np.nan
        if "drift" in names:
            lo, hi = self.day_rows(max(t - n + 1, 0), t)
            recent, train = self.prod.iloc[lo:hi], self.labelled_frame.iloc[slice(*train_rows)]
            out["drift"] = float(np.nanmean([wasserstein(train[c], recent[c]).statistic
                                             for c in self.spec.drift_columns]))
        return out


def _fit(sim: _Simulation, lo: int, hi: int, seed: int):
    from labkit.baseline import make_model

    model = make_model(seed).set_params(max_iter=sim.spec.max_iter)
    t0 = time.perf_counter()
    model.fit(sim.labelled_frame.iloc[lo:hi][list(sim.features)], sim.y_all[lo:hi])
    return model, time.perf_counter() - t0


def backtest_retraining(df: pd.DataFrame, baseline, *, policies: Sequence[Policy] | None = None, start=None,
                        end=None, spec: BacktestSpec | None = None, seed: int = 0,
                        progress: bool = True) -> BacktestResult:
    """Replay production day by day under each retraining policy; measure error and retrains.

    ``df`` is the full hourly data: rows before ``start`` (default the production start
    2012-01-01) are the initial labelled history, rows from ``start`` to ``end`` are replayed.
    ``baseline`` serves as version v1 under every policy. ``policies`` default to
    :func:`default_policies`; ``spec`` (:class:`BacktestSpec`) holds the simulation's options.
    """
    from threadpoolctl import threadpool_limits

    from labkit.baseline import PRODUCTION_START

    func = "backtest_retraining"
    seed = check_seed(seed, func=func)
    if not all(hasattr(baseline, a) for a in ("model", "features", "reference", "target")):
        raise fail(func, "baseline", "a labkit Baseline", f"<{type(baseline).__name__}>",
                   "pass labkit.baseline.get_baseline()", TypeError)
    spec = BacktestSpec() if spec is None else spec
    policies = default_policies(baseline) if policies is None else list(policies)
    names = [p.name for p in policies if isinstance(p, Policy)]
    if len(names) != len(policies) or not policies:
        raise fail(func, "policies", "a non-empty list of Policy", policies, "pass e.g. default_policies(baseline)",
                   TypeError)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise fail(func, "policies", "unique names", f"<{dup} repeat>", "pass name=... to tell them apart")
    sim = _Simulation(df, baseline, PRODUCTION_START if start is None else start, end, spec)
    with threadpool_limits(limits=spec.n_threads):
        result = _replay(sim, baseline, policies, seed, progress)
    return result


def _replay(sim: _Simulation, baseline, policies, seed, progress) -> BacktestResult:
    from tqdm.auto import tqdm

    spec, feats = sim.spec, list(sim.features)
    X_prod = sim.prod[feats]
    train_end = baseline.periods.get("train", (None, None))[1]
    base_rows = (0, int(np.searchsorted(sim.lab_times[:sim.n_hist], pd.Timestamp(train_end).to_datetime64()))
                 if train_end else sim.n_hist)
    daily_parts, events, summaries, registries = [], [], [], {}
    n_days = len(sim.days)
    with tqdm(total=n_days * len(policies), desc="backtest", disable=not progress, leave=False) as bar:
        for policy in policies:
            reg = registries[policy.name] = ModelRegistry(f"backtest-{policy.name}", target=sim.target, replace=True)
            v1 = reg.register(baseline.model, features=feats, n_rows=base_rows[1] - base_rows[0],
                              trained_on=tuple(str(pd.Timestamp(sim.lab_times[i])) for i in (base_rows[0], base_rows[1] - 1)),
                              metrics={f"reference_{k}": v for k, v in baseline.metrics.items()},
                              created_at=sim.days[0], note="baseline")
            reg.promote(v1.version, at=sim.days[0], reason="initial deployment")
            preds, version_of_row = np.full(len(sim.prod), np.nan), np.empty(len(sim.prod), dtype=object)
            cache = {"v1": np.asarray(baseline.model.predict(X_prod), dtype=float)}
            deployed_at, train_rows = {"v1": 0}, {"v1": base_rows}
            serving, pending_check, fit_total, n_retrains, n_rollbacks = "v1", None, 0.0, 0, 0
            for t in range(n_days):
                lo, hi = sim.day_rows(t, t)
                preds[lo:hi], version_of_row[lo:hi] = cache[serving][lo:hi], serving
                at = sim.days[t] + pd.Timedelta(days=1)  # decisions at the end of the day
                # 1. a freshly promoted version proves itself on its first labelled days
                first = deployed_at[serving]
                if spec.rollback_window_days and pending_check == serving \
                        and t - sim.delay - first + 1 >= spec.rollback_window_days:
                    pending_check = None
                    clo, chi = sim.day_rows(first, first + spec.rollback_window_days - 1)
                    check = reg.check_rollback(sim.prod.iloc[clo:chi], tolerance=spec.rollback_tolerance, min_rows=1,
                                               at=at) if chi > clo else None
                    if check is not None and check.rolled_back:
                        serving = reg.champion.version
                        deployed_at[serving] = t + 1
                        n_rollbacks += 1
                        events.append({"policy": policy.name, "date": sim.days[t], "action": "rollback",
                                       "version": serving, "from_version": check.champion, "reason": check.reason,
                                       "fit_seconds": 0.0})
                # 2. the policy decides, on what is known this evening
                dep = deployed_at[serving]
                metrics = sim.signals(policy.signals, t, dep, preds, train_rows[serving])
                new_lo, new_hi = sim.day_rows(max(dep - sim.delay, 0), t - sim.delay)
                decision = policy.decide(metrics, now=at, trained_at=sim.days[0] + pd.Timedelta(days=dep),
                                           new_labels=new_hi - new_lo)
                reason = "; ".join(f"{c.trigger}: {c.reason}" for c in decision.reasons)
                tlo, thi = sim.training_rows(t)
                if decision.retrain and t < n_days - 1 and thi - tlo < 24 * 7:
                    logger.info("%s wants to retrain on %s but only %d labelled rows; skipped", policy.name,
                                sim.days[t].date(), thi - tlo)
                elif decision.retrain and t < n_days - 1:
                    model, secs = _fit(sim, tlo, thi, seed)
                    fit_total += secs
                    trained_on = (str(pd.Timestamp(sim.lab_times[tlo])), str(pd.Timestamp(sim.lab_times[thi - 1])))
                    fitted = np.asarray(model.predict(sim.labelled_frame.iloc[tlo:thi][feats]), dtype=float)
                    mv = reg.register(model, features=feats, trained_on=trained_on, n_rows=thi - tlo, parent=serving,
                                      created_at=at, note=reason,
                                      metrics={"train_mae": float(np.mean(np.abs(sim.y_all[tlo:thi] - fitted))),
                                               "max_iter": int(spec.max_iter)})
                    reg.promote(mv.version, at=at, reason=reason)
                    cache[mv.version] = np.full(len(X_prod), np.nan)  # serves from tomorrow: predict only those rows
                    cache[mv.version][sim.day_start[t + 1]:] = model.predict(X_prod.iloc[sim.day_start[t + 1]:])
                    deployed_at[mv.version], train_rows[mv.version] = t + 1, (tlo, thi)
                    serving = pending_check = mv.version
                    n_retrains += 1
                    events.append({"policy": policy.name, "date": sim.days[t], "action": "retrain",
                                   "version": mv.version, "from_version": mv.parent, "reason": reason,
                                   "trained_from": trained_on[0], "trained_to": trained_on[1], "n_rows": thi - tlo,
                                   "fit_seconds": secs})
                bar.update(1)
            daily_parts.append(_daily(sim, policy.name, preds, version_of_row))
            resid = sim.y_prod - preds
            summaries.append({"policy": policy.name, "mae": float(np.mean(np.abs(resid))),
                              "mean_residual": float(np.mean(resid)), "wape": float(np.abs(resid).sum() / sim.y_prod.sum()),
                              "n_retrains": n_retrains, "n_rollbacks": n_rollbacks, "fit_seconds": fit_total,
                              "final_version": serving})
            logger.info("backtest: %s -> MAE %.1f with %d retrains, %d rollbacks", policy.name,
                        summaries[-1]["mae"], n_retrains, n_rollbacks)
    ev_cols = ["policy", "date", "action", "version", "from_version", "reason", "trained_from", "trained_to",
               "n_rows", "fit_seconds"]
    settings = {"start": str(sim.days[0].date()), "end": str(sim.days[-1].date()), **spec.__dict__, "seed": seed,
                "reference_wape": sim.reference_wape}
    return BacktestResult(daily=pd.concat(daily_parts, ignore_index=True), events=pd.DataFrame(events, columns=ev_cols),
                          summary=pd.DataFrame(summaries), registries=registries, settings=settings)


def _daily(sim: _Simulation, name: str, preds: np.ndarray, version_of_row: np.ndarray) -> pd.DataFrame:
    """Per day: n, mae, mean residual, sums, and the version serving."""
    n_days, resid = len(sim.days), sim.y_prod - preds
    day_idx = np.repeat(np.arange(n_days), sim.day_end - sim.day_start)
    n = np.bincount(day_idx, minlength=n_days)
    ae = np.bincount(day_idx, weights=np.abs(resid), minlength=n_days)
    rs = np.bincount(day_idx, weights=resid, minlength=n_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        daily = pd.DataFrame({"policy": name, "date": sim.days, "n": n, "mae": ae / n, "mean_residual": rs / n,
                              "abs_error_sum": ae, "y_sum": np.bincount(day_idx, weights=sim.y_prod, minlength=n_days)})
    daily["version"] = [version_of_row[sim.day_start[t]] if n[t] else None for t in range(n_days)]
    return daily
