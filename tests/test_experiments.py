"""labkit.experiments: hashing assignment, paired and A/B comparisons, peeking, shadow runs, decisions."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from labkit import experiments as ex
from labkit.retraining import ModelRegistry


class Lin:
    """y = a * x + b, reading column x."""

    def __init__(self, a=1.0, b=0.0):
        self.a, self.b = a, b

    def predict(self, X):
        return self.a * np.asarray(X["x"], dtype=float) + self.b


def _stream(n_days=14, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2012-04-01", periods=24 * n_days, freq="h")
    x = rng.uniform(0, 100, t.size)
    day_effect = np.repeat(rng.normal(0, 15, n_days), 24)  # hours of a day share an error
    return pd.DataFrame({"timestamp": t, "x": x, "cnt": 1.2 * x + day_effect + rng.normal(0, 5, t.size)})


@pytest.fixture(autouse=True, scope="module")
def _mlflow_store(tmp_path_factory):
    """The registry's MLflow store: a SQLite file of this module's own, not the lab's runs/mlflow."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")
        yield


def _versions():
    reg = ModelRegistry("exp", replace=True)
    reg.register(Lin(1.0), features=["x"], trained_on=("2011-01-01", "2011-09-30"), n_rows=100)
    reg.register(Lin(1.2), features=["x"], trained_on=("2012-01-01", "2012-03-24"), n_rows=100, parent="v1")
    return reg["v1"], reg["v2"]


# --------------------------------------------------------------------------- assignment


def test_hash_bucket_is_sha256_and_stable():
    keys = ["a", "b", pd.Timestamp("2012-01-01 08:00")]
    got = ex.hash_bucket(keys, salt="s", n_buckets=1000)
    manual = [int.from_bytes(hashlib.sha256(f"s:{k}".encode()).digest()[:8], "big") % 1000
              for k in ["a", "b", "2012-01-01T08:00:00"]]
    assert got.tolist() == manual
    assert ex.hash_bucket(keys[::-1], salt="s", n_buckets=1000).tolist() == manual[::-1]  # order-free
    stamps = np.array(["2012-01-01T08:00"], dtype="datetime64[ns]")
    assert ex.hash_bucket(stamps, salt="s", n_buckets=1000)[0] == manual[2]


def test_assign_ab_shares_and_salts():
    keys = pd.date_range("2012-01-01", periods=8784, freq="h")
    a = ex.assign_ab(keys, salt="exp-1", share_b=0.3)
    share = (a == "B").mean()
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / keys.size)
    b = ex.assign_ab(keys, salt="exp-2", share_b=0.3)
    assert 0.3 < (a != b).mean() < 0.5  # a new salt reshuffles (independent: 2 * 0.3 * 0.7 = 0.42)
    assert (ex.assign_ab(keys, salt="exp-1", share_b=0.3) == a).all()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"keys": "abc", "salt": "s"}, TypeError, "keys: expected a list, array or Series of keys, got .abc."),
    ({"keys": ["a"], "salt": ""}, ValueError, "salt: expected a non-empty string"),
    ({"keys": ["a"], "salt": "s", "n_buckets": 1}, ValueError, "n_buckets: expected an int >= 2"),
], ids=["string-keys", "empty-salt", "buckets"])
def test_hash_bucket_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ex.hash_bucket(**kwargs)


# --------------------------------------------------------------------------- comparisons


def test_paired_comparison_matches_scipy_rows():
    rng = np.random.default_rng(1)
    y = rng.normal(100, 20, 300)
    pa, pb = y + rng.normal(3, 10, 300), y + rng.normal(0, 9, 300)
    c = ex.paired_comparison(y, pa, pb, n_boot=1000, seed=3)
    ea, eb = np.abs(y - pa), np.abs(y - pb)
    ref = stats.ttest_rel(ea, eb)
    assert c.t_statistic == pytest.approx(ref.statistic) and c.p_value == pytest.approx(ref.pvalue)
    assert c.improvement == pytest.approx(ea.mean() - eb.mean())
    assert c.ci_low < c.improvement < c.ci_high and c.unit == "row" and c.n_groups == 300
    again = ex.paired_comparison(y, pa, pb, n_boot=1000, seed=3)
    assert (again.ci_low, again.ci_high) == (c.ci_low, c.ci_high)
    assert ex.paired_comparison(y, pa, pb, n_boot=1000, seed=4).ci_low != c.ci_low


def test_paired_comparison_by_group_matches_scipy_on_group_means_and_is_wider():
    df = _stream(n_days=30)
    y, pa, pb = df["cnt"].to_numpy(), Lin(1.0).predict(df), Lin(1.15).predict(df)
    days = df["timestamp"].dt.date.to_numpy()
    rows = ex.paired_comparison(y, pa, pb, seed=0)
    grouped = ex.paired_comparison(y, pa, pb, groups=days, seed=0)
    per_day = pd.DataFrame({"a": np.abs(y - pa), "b": np.abs(y - pb), "d": days}).groupby("d").mean()
    ref = stats.ttest_rel(per_day["a"], per_day["b"])
    assert grouped.p_value == pytest.approx(ref.pvalue) and grouped.n_groups == 30 and grouped.unit == "group"
    assert grouped.improvement == pytest.approx(rows.improvement)
    assert grouped.ci_high - grouped.ci_low > rows.ci_high - rows.ci_low  # correlated hours: honest = wider


def test_ab_comparison_matches_welch():
    rng = np.random.default_rng(2)
    y = rng.normal(100, 10, 400)
    arm = np.where(rng.random(400) < 0.5, "A", "B")
    pred = y + np.where(arm == "A", rng.normal(0, 12, 400), rng.normal(0, 8, 400))
    r = ex.ab_comparison(y, pred, arm, seed=0)
    e = np.abs(y - pred)
    ref = stats.ttest_ind(e[arm == "A"], e[arm == "B"], equal_var=False)
    assert r.t_statistic == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)
    assert r.n == 400 and r.ci_low < r.improvement < r.ci_high


@pytest.mark.parametrize("call, match", [
    (lambda: ex.paired_comparison([1, 2], [1, 2], [1, 2, 3]), "pred_candidate: expected the same length"),
    (lambda: ex.paired_comparison([1, np.nan], [1, 2], [1, 2]), "missing label"),
    (lambda: ex.paired_comparison([1, 2, 3], [1, 2, 3], [1, 2, 3], groups=[1, 1, 1]), "one group"),
    (lambda: ex.paired_comparison([1, 2], [1, 2], [1, 2], n_boot=10), "n_boot: expected an int >= 100"),
    (lambda: ex.ab_comparison([1, 2, 3], [1, 2, 3], ["A", "B", "C"]), "'A' or 'B'"),
    (lambda: ex.ab_comparison([1, 2, 3], [1, 2, 3], ["A", "B", "B"]), "at least 2 labelled rows"),
], ids=["length", "missing-label", "one-group", "n-boot", "arm-values", "arm-size"])
def test_comparison_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- peeking


def test_peeking_inflates_false_wins():
    r = ex.peeking_simulation(n_experiments=2000, n_looks=30, rows_per_look=24, seed=0)
    assert abs(r.fpr_final - 0.05) < 0.02  # one planned look: about alpha
    assert r.fpr_peeking > 0.15  # thirty daily looks: several times alpha
    assert r.fpr_bonferroni <= 0.05
    t = r.to_frame()
    assert t["share_ever_significant"].is_monotonic_increasing and t["n_per_arm"].iloc[-1] == 720
    assert t["share_ever_significant"].iloc[-1] == pytest.approx(r.fpr_peeking)


def test_peeking_p_values_match_scipy():
    r = ex.peeking_simulation(n_experiments=10, n_looks=3, rows_per_look=5, seed=9, errors=np.arange(50.0))
    a, b = ex._aa_draws(np.random.default_rng(9), 10, 15, np.arange(50.0))
    for look, n in enumerate([5, 10, 15]):
        sig = stats.ttest_ind(a[:, :n], b[:, :n], axis=1, equal_var=False).pvalue < 0.05
        assert r.table["share_significant"].iloc[look] == pytest.approx(sig.mean())


# --------------------------------------------------------------------------- shadow and A/B


def test_shadow_run_logs_both_versions_and_compares_labelled_rows():
    v1, v2 = _versions()
    df = _stream()
    s = ex.shadow_run(v1, v2, df)
    log = s.to_frame()
    assert len(log) == 2 * len(df) and set(log["model_version"]) == {"v1", "v2"}
    assert log.loc[log["served"], "model_version"].eq("v1").all()
    # labels of 1-5 April arrived by the 8th (end of day d + 2)
    c = s.compare(as_of="2012-04-08", label_delay_days=2)
    assert c.n == 5 * 24
    lab = df[df["timestamp"] < "2012-04-06"]
    direct = ex.paired_comparison(lab["cnt"], v1.predict(lab), v2.predict(lab),
                                  groups=lab["timestamp"].dt.floor("D").to_numpy())
    assert (c.improvement, c.ci_low, c.p_value) == pytest.approx((direct.improvement, direct.ci_low, direct.p_value))
    assert s.compare().n == len(df) and s.compare(as_of="2012-04-01") is None  # no label arrived yet
    assert list(s.wide().columns) == ["timestamp", "label", "v1", "v2"]


def test_shadow_run_writes_both_versions_to_a_logger():
    class Recorder:
        def __init__(self):
            self.calls = []

        def log_batch(self, features, predictions, *, event_time=None, model_version=None):
            self.calls.append((model_version, len(features), np.asarray(predictions), event_time))

    v1, v2 = _versions()
    df = _stream(n_days=2)
    rec = Recorder()
    ex.shadow_run(v1, v2, df, prediction_logger=rec)
    assert [(c[0], c[1]) for c in rec.calls] == [("v1", 48), ("v2", 48)]
    np.testing.assert_allclose(rec.calls[1][2], v2.predict(df))
    with pytest.raises(TypeError, match="log_batch"):
        ex.shadow_run(v1, v2, df, prediction_logger=object())


def test_shadow_run_before_any_label_and_errors():
    v1, v2 = _versions()
    df = _stream()
    s = ex.shadow_run(v1, v2, df.drop(columns="cnt"))
    assert s.compare() is None and s.to_frame()["label"].isna().all()
    with pytest.raises(ValueError, match="candidate: expected another version than the champion.s .v1."):
        ex.shadow_run(v1, v1, df)
    with pytest.raises(ValueError, match=r"champion.features: expected columns of current, got <missing \['x'\]>"):
        ex.shadow_run(v1, v2, df.drop(columns="x"))


def test_ab_test_serves_each_arm_its_model():
    v1, v2 = _versions()
    df = _stream()
    r = ex.ab_test(v1, v2, df, salt="exp")
    log = r.to_frame()
    arm = ex.assign_ab(df["timestamp"], salt="exp")
    assert (log["arm"].to_numpy() == arm).all()
    expected = np.where(arm == "B", v2.predict(df), v1.predict(df))
    np.testing.assert_allclose(log["prediction"], expected)
    direct = ex.ab_comparison(df["cnt"], expected, arm)
    assert r.compare().improvement == pytest.approx(direct.improvement)
    assert ex.ab_test(v1, v2, df.drop(columns="cnt"), salt="exp").compare() is None  # no labels yet
    by_day = ex.ab_test(v1, v2, df, key=df["timestamp"].dt.date.astype(str), salt="exp")
    assert by_day.to_frame().groupby(df["timestamp"].dt.date)["arm"].nunique().max() == 1  # whole days


# --------------------------------------------------------------------------- decision


def _comparison(improvement, ci_low, ci_high, n=1000):
    return ex.PairedComparison(n=n, n_groups=n, mae_champion=50.0, mae_candidate=50.0 - improvement,
                               improvement=improvement, ci_low=ci_low, ci_high=ci_high, t_statistic=0.0,
                               p_value=0.5, confidence=0.95, n_boot=1000, seed=0, unit="row")


@pytest.mark.parametrize("comp, kwargs, action, reason", [
    (_comparison(5, 2, 8), {}, "promote", "better by 5.00"),
    (_comparison(5, 2, 8), {"min_improvement": 3}, "keep", "below min_improvement=3"),
    (_comparison(1, -1, 3), {}, "keep", "interval includes 0"),
    (_comparison(-5, -8, -2), {"candidate_serving": True}, "rollback", "worse by 5.00"),
    (_comparison(-5, -8, -2), {}, "keep", "worse by 5.00"),
    (_comparison(5, 2, 8, n=50), {}, "keep", "only 50 labelled rows"),
], ids=["promote", "gain-too-small", "undecided", "rollback", "reject", "too-few-rows"])
def test_promotion_decision(comp, kwargs, action, reason):
    d = ex.promotion_decision(comp, **kwargs)
    assert d.action == action and reason in "; ".join(d.reasons)
    assert d.to_frame().shape == (1, 6)


def test_promotion_decision_refuses_other_inputs():
    with pytest.raises(TypeError, match="PairedComparison or ABComparison"):
        ex.promotion_decision({"improvement": 3})
