"""Evidently and alibi-detect results in labkit's table form (:class:`labkit.drift.DriftTable`).

Neither library is imported here: the adapters read the plain data they return, so their tables and
:func:`labkit.drift.drift_table`'s sit side by side (notebook 03). How the defaults differ: ``docs/drift.md``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from labkit._validate import fail
from labkit.drift import TABLE_COLUMNS, DriftTable

__all__ = ["from_evidently", "from_alibi", "EVIDENTLY_METHODS", "ALIBI_METHODS"]

#: Evidently 0.7 display name → (labkit-style method name, decision, Evidently's comparison).
EVIDENTLY_METHODS = {
    "K-S p_value": ("ks", "p_value", "<="), "chi-square p_value": ("chi_square", "p_value", "<"),
    "Z-test p_value": ("z_test", "p_value", "<"), "Wasserstein distance (normed)": ("wasserstein", "distance", ">="),
    "Jensen-Shannon distance": ("js_distance", "distance", ">="), "PSI": ("psi", "distance", ">="),
    "Kullback-Leibler divergence": ("kl_divergence", "distance", ">="),
    "Hellinger distance": ("hellinger", "distance", ">="), "Energy-distance": ("energy_distance", "distance", ">"),
    "Anderson-Darling": ("anderson_darling", "p_value", "<"), "Cramer-von Mises": ("cramer_von_mises", "p_value", "<"),
    "Epps-Singleton": ("epps_singleton", "p_value", "<"), "Fisher's Exact test": ("fisher_exact", "p_value", "<"),
    "g_test": ("g_test", "p_value", "<"), "Mann-Whitney U-rank test": ("mann_whitney", "p_value", "<"),
    "t_test": ("t_test", "p_value", "<"), "empirical_mmd": ("mmd", "p_value", "<"),
    "Total-Variation-Distance": ("tvd", "p_value", "<"),
}
#: alibi-detect detector name → method name of its feature-wise test.
ALIBI_METHODS = {"KSDrift": "ks", "ChiSquareDrift": "chi_square", "CVMDrift": "cramer_von_mises",
                 "FETDrift": "fisher_exact"}
_KIND_OF = {"ks": "numerical", "wasserstein": "numerical", "chi_square": "categorical", "z_test": "categorical"}


def _row(column, method, statistic, p_value, threshold, drifted) -> dict:
    return {"column": column, "kind": _KIND_OF.get(method, "unknown"), "method": method, "statistic": statistic,
            "p_value": p_value, "p_adjusted": np.nan, "threshold": threshold, "drifted": bool(drifted),
            "n_reference": pd.NA, "n_current": pd.NA, "n_dropped": pd.NA}


def _snapshot_dict(snapshot) -> dict:
    out = snapshot if isinstance(snapshot, Mapping) else getattr(snapshot, "dict", lambda: None)()
    if isinstance(out, Mapping) and "metrics" in out:
        return dict(out)
    raise fail("from_evidently", "snapshot", "what Evidently 0.7's Report.run() returns, or its .dict()", snapshot,
               "pass report.run(current, reference)", TypeError)


def from_evidently(snapshot, *, drift_share: float | None = None) -> DriftTable:
    """Evidently 0.7 ``Report([DataDriftPreset()])`` result → :class:`~labkit.drift.DriftTable`.

    One row per ``ValueDrift`` metric. Evidently reports one number per column: a test's *p-value*
    (``p_value``; ``statistic`` stays NaN) or a distance (``statistic``). ``drifted`` uses Evidently's
    own comparison (``p <= threshold`` for K-S); ``kind`` is "unknown" where the method does not tell.
    The dataset-drift share comes from its ``DriftedColumnsCount`` metric unless ``drift_share`` is given.
    """
    rows, share = [], 0.5
    for metric in _snapshot_dict(snapshot).get("metrics", []):
        config = metric.get("config", {}) or {}
        kind_of_metric = str(config.get("type", ""))
        if kind_of_metric.endswith("DriftedColumnsCount") and config.get("drift_share") is not None:
            share = float(config["drift_share"])
        if not kind_of_metric.endswith("ValueDrift"):
            continue
        display, value, threshold = config.get("method"), metric.get("value"), config.get("threshold")
        if isinstance(value, Mapping):  # some versions wrap the value
            value = value.get("value")
        name, decision, op = EVIDENTLY_METHODS.get(
            display, (str(display), "p_value" if "p_value" in str(display) else "distance", "<"))
        value = float(value) if value is not None else np.nan
        threshold = float(threshold) if threshold is not None else np.nan
        if decision == "p_value":
            drifted = value <= threshold if op == "<=" else value < threshold
            rows.append(_row(config.get("column"), name, np.nan, value, threshold, drifted))
        else:
            drifted = value > threshold if op == ">" else value >= threshold
            rows.append(_row(config.get("column"), name, value, np.nan, threshold, drifted))
    if not rows:
        raise fail("from_evidently", "snapshot", "ValueDrift metrics", "<no ValueDrift metric>",
                   "run Report([DataDriftPreset()]) (or ValueDrift metrics) first")
    return DriftTable.from_frame(pd.DataFrame(rows, columns=TABLE_COLUMNS), alpha=np.nan, source="evidently",
                                 drift_share=share if drift_share is None else drift_share)


def from_alibi(result: Mapping, columns: Sequence[str], *, categorical: Sequence[str] | None = None,
               method: str | None = None, drift_share: float = 0.5) -> DriftTable:
    """alibi-detect feature-wise drift result → :class:`~labkit.drift.DriftTable`.

    ``result``: what ``predict(x)`` returns for KSDrift, ChiSquareDrift, TabularDrift, CVMDrift or
    FETDrift; ``columns``: the feature names in array order. ``statistic`` = alibi's ``distance``,
    ``p_value`` = its float32 ``p_val``, ``threshold`` = alibi's after its correction (alpha / n_features
    for Bonferroni), ``drifted`` = ``p_val < threshold``. ``categorical``: the columns TabularDrift tested
    with chi-square (the others are KS); ``method`` overrides every column's method name.
    """
    func = "from_alibi"
    if not isinstance(result, Mapping) or "data" not in result:
        raise fail(func, "result", "the dict an alibi-detect detector's predict() returns", result,
                   "pass detector.predict(x)", TypeError)
    data, name = result["data"], (result.get("meta", {}) or {}).get("name", "")
    if "p_val" not in data:
        raise fail(func, "result", "feature-wise p-values in result['data']['p_val']", "<no 'p_val'>",
                   "call predict(..., return_p_val=True)")
    p = np.atleast_1d(np.asarray(data["p_val"], dtype=float)).ravel()
    dist = data.get("distance")
    stat = np.full(p.shape, np.nan) if dist is None else np.atleast_1d(np.asarray(dist, dtype=float)).ravel()
    columns = list(columns)
    if len(columns) != p.size:
        raise fail(func, "columns", f"one name per feature ({p.size} p-values)", f"<{len(columns)} column names>",
                   "pass the names in the order of the array given to the detector")
    threshold = np.broadcast_to(np.asarray(data.get("threshold", np.nan), dtype=float), p.shape)
    categorical = set(categorical or [])
    if categorical - set(columns):
        raise fail(func, "categorical", "names among columns", sorted(categorical - set(columns)), "fix the names")
    rows = []
    for j, col in enumerate(columns):
        if method is None and name == "TabularDrift":
            name_j = "chi_square" if col in categorical else "ks"
        else:
            name_j = method or ALIBI_METHODS.get(name, name.lower() or "unknown")
        rows.append(_row(col, name_j, stat[j], p[j], threshold[j], p[j] < threshold[j]))
    return DriftTable.from_frame(pd.DataFrame(rows, columns=TABLE_COLUMNS), drift_share=drift_share, alpha=np.nan,
                                 source="alibi-detect")
