"""labkit's heavy functions limit their own OpenMP/BLAS threads (issue 15).

On a shared JupyterHub node, scikit-learn's OpenMP threads fighting with other work made one notebook
cell 10x slower. Each heavy function therefore runs its models on one thread, whatever the caller
set: these tests raise the limit to 2 around the call and record the limit in force *inside* it.
(The multivariate drift tests are checked in tests/test_drift.py.)
"""
from __future__ import annotations

import pytest
import shap
from sklearn.base import BaseEstimator, RegressorMixin
from threadpoolctl import threadpool_info, threadpool_limits

from labkit import analysis as an
from labkit import baseline as bl
from labkit import retraining as rt
from labkit.alerting.triggers import Policy, TimeTrigger


def _threads() -> int:
    """The most threads any loaded OpenMP/BLAS library may use now (some BLAS builds are single-threaded)."""
    return max((lib["num_threads"] for lib in threadpool_info()), default=0)


class Spy(RegressorMixin, BaseEstimator):
    """A fitted estimator that records the thread limits in force whenever it predicts."""

    def __init__(self, model, seen):
        self.model, self.seen, self.feature_names_in_ = model, seen, model.feature_names_in_

    def predict(self, X):
        self.seen.append(_threads())
        return self.model.predict(X)

    def fit(self, X, y):  # for permutation_importance's checks; never refits
        return self


@pytest.fixture(scope="module")
def small(hourly):
    base = bl.fit_baseline(hourly, max_iter=20)
    _, _, prod = bl.split_periods(hourly)
    return base, base.reference.head(24 * 10), prod.head(24 * 40).assign(prediction=base.predict(prod.head(24 * 40)))


def test_the_callers_limit_of_two_threads_is_visible_here():
    with threadpool_limits(limits=2):
        assert _threads() == 2


def test_importance_and_loss_estimation_predict_on_one_thread(small):
    base, reference, current = small
    seen = []
    spy = Spy(base.model, seen)
    with threadpool_limits(limits=2):
        an.importance_shift(spy, reference, current, n_repeats=1, max_rows=50)
        labelled = reference.assign(prediction=base.predict(reference))
        estimator = an.fit_loss_estimator(spy, labelled, max_iter=5, min_samples_leaf=20)
        an.estimate_performance(estimator, current)
    assert seen and all(s == 1 for s in seen), seen


def test_shap_drift_explains_on_one_thread(small, monkeypatch):
    base, reference, current = small
    seen, real = [], shap.TreeExplainer.shap_values

    def spy(self, *args, **kwargs):
        seen.append(_threads())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(shap.TreeExplainer, "shap_values", spy)
    with threadpool_limits(limits=2):
        an.shap_drift(base, reference, current, n_rows=10)
    assert seen and all(s == 1 for s in seen), seen


def test_backtest_fits_on_one_thread(hourly, small, monkeypatch, tmp_path):
    base = small[0]
    seen, real = [], rt._fit

    def spy(*args, **kwargs):
        seen.append(_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(rt, "_fit", spy)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")  # not the lab's runs/mlflow
    with threadpool_limits(limits=2):
        rt.backtest_retraining(hourly, base, policies=[Policy("weekly", [TimeTrigger("7D")])], start="2012-01-01",
                               end="2012-01-31", spec=rt.BacktestSpec(max_iter=5, window_days=14), progress=False)
    assert seen and all(s == 1 for s in seen), seen
