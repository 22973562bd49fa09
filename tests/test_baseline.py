"""labkit.baseline: metrics agree with scikit-learn, the baseline is deterministic, cached safely."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from labkit import baseline as bl
from labkit.data import FEATURES


def test_regression_metrics_agree_with_sklearn():
    rng = np.random.default_rng(1)
    y = rng.poisson(100, 300).astype(float)
    p = y + rng.normal(0, 15, 300)
    m = bl.regression_metrics(y, p)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, p), rel=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, p)), rel=1e-12)
    assert m["r2"] == pytest.approx(r2_score(y, p), rel=1e-12)
    assert m["mean_residual"] == pytest.approx(np.mean(y - p))
    assert m["n"] == 300


def test_regression_metrics_is_a_frozen_record():
    m = bl.regression_metrics([1, 2, 3, 4], [1, 2, 3, 6])
    assert isinstance(m, bl.RegressionMetrics) and (m.mae, m.rmse, m.r2) == (m["mae"], m["rmse"], m["r2"])
    assert dict(m) == {"mae": 0.5, "rmse": 1.0, "r2": m.r2, "mean_residual": -0.5, "n": 4}
    assert m.to_frame().to_dict("records") == [dict(m)] and dict(m.items()) == dict(m)
    with pytest.raises(KeyError):
        m["accuracy"]
    with pytest.raises(AttributeError):
        m.mae = 0.0


@pytest.mark.parametrize("y_true, y_pred, error, match", [
    ([1, 2], [1, 2, 3], ValueError, r"^regression_metrics\(\): y_pred: expected the same length as y_true \(2\), got <3 values>"),
    ([], [], ValueError, r"y_true: expected at least one row"),
    ([1, np.nan], [1, 2], ValueError, r"y_true: expected a number in every row, got <1 missing of 2"),
    ([1, 2], [1, np.inf], ValueError, r"y_pred: expected a number in every row, got <1 missing"),
    ([[1, 2]], [[1, 2]], ValueError, r"y_true: expected one-dimensional values, got <shape \(1, 2\)>"),
    (["a", "b"], [1, 2], TypeError, r"y_true: expected numbers, got \['a', 'b'\]"),
], ids=["length", "empty", "nan-true", "inf-pred", "2d", "strings"])
def test_regression_metrics_errors(y_true, y_pred, error, match):
    with pytest.raises(error, match=match):
        bl.regression_metrics(y_true, y_pred)


def test_fit_baseline_refuses_leaky_features(hourly):
    with pytest.raises(ValueError, match=r"fit_baseline\(\): features: .*casual \+ registered = cnt.*got <features with \['casual'\]>"):
        bl.fit_baseline(hourly, features=[*FEATURES, "casual"])


def test_fit_baseline_needs_the_columns(hourly):
    with pytest.raises(ValueError, match=r"features: expected columns of df, got <missing \['temp'\]>"):
        bl.fit_baseline(hourly.drop(columns="temp"))


@pytest.fixture(scope="module")
def fitted():
    return bl.fit_baseline()


def test_baseline_split_and_metrics(fitted):
    ref = fitted.reference
    assert ref["timestamp"].min() >= np.datetime64(bl.REFERENCE_START)
    assert ref["timestamp"].max() < np.datetime64(bl.PRODUCTION_START)
    assert fitted.metrics["n"] == len(ref)
    # a useful model: far better than predicting the mean, errors of a few dozen rentals
    assert fitted.metrics["r2"] > 0.8
    assert 20 < fitted.metrics["mae"] < 45


def test_baseline_is_deterministic(fitted, hourly):
    again = bl.fit_baseline(hourly)
    np.testing.assert_array_equal(again.reference["prediction"], fitted.reference["prediction"])
    assert again.fingerprint == fitted.fingerprint


def test_predict_checks_columns(fitted, hourly):
    with pytest.raises(ValueError, match=r"Baseline.predict\(\): df: expected the feature columns .*, got <a frame without \['hum'\]>"):
        fitted.predict(hourly.drop(columns="hum"))
    with pytest.raises(TypeError, match=r"df: expected a pandas DataFrame"):
        fitted.predict(hourly[FEATURES].to_numpy())


def test_get_baseline_caches_and_reuses(tmp_path, fitted):
    folder = tmp_path / "baseline"
    first = bl.get_baseline(folder=folder)
    mtime = (folder / "model.pkl").stat().st_mtime_ns
    second = bl.get_baseline(folder=folder)
    assert (folder / "model.pkl").stat().st_mtime_ns == mtime, "a valid cache must be reused"
    np.testing.assert_array_equal(first.reference["prediction"], second.reference["prediction"])
    np.testing.assert_array_equal(second.reference["prediction"], fitted.reference["prediction"])


def test_stale_or_damaged_cache_is_rebuilt(tmp_path):
    folder = tmp_path / "baseline"
    bl.get_baseline(folder=folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta["fingerprint"] = "stale"
    (folder / "meta.json").write_text(json.dumps(meta))
    assert bl.get_baseline(folder=folder).fingerprint != "stale"
    (folder / "model.pkl").write_bytes(b"not a pickle")
    rebuilt = bl.get_baseline(folder=folder)
    assert rebuilt.metrics["r2"] > 0.8


def test_load_without_a_saved_baseline_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="get_baseline"):
        bl.Baseline.load(tmp_path)


def test_two_processes_asking_at_once_get_the_same_baseline(tmp_path):
    folder = tmp_path / "baseline"
    code = ("import sys; from labkit.baseline import get_baseline; "
            "b = get_baseline(folder=sys.argv[1]); print(repr(round(float(b.reference['prediction'].sum()), 6)))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] and outs[0]
    assert not list(folder.glob(".*.tmp")), "no temporary files left behind"


def test_fewer_iterations_make_a_different_fingerprint(hourly):
    quick = bl.fit_baseline(hourly, max_iter=20)
    assert quick.model.max_iter == 20
    assert quick.fingerprint != bl._fingerprint(quick.features, quick.target)  # never taken for the cache
    with pytest.raises(ValueError, match=r"max_iter: expected an int >= 1, got 0"):
        bl.fit_baseline(hourly, max_iter=0)
