"""Private: turn Evidently snapshots and alibi-detect results into labkit's tidy :class:`DriftTable`.

Neither library is imported here: the adapters read the plain data those libraries return.
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Evidently 0.7 display name → (labkit-style method name, decision, Evidently's comparison).
EVIDENTLY_METHODS = {
    "K-S p_value": ("ks", "p_value", "<="),
    "chi-square p_value": ("chi_square", "p_value", "<"),
    "Z-test p_value": ("z_test", "p_value", "<"),
    "Wasserstein distance (normed)": ("wasserstein", "distance", ">="),
    "Jensen-Shannon distance": ("js_distance", "distance", ">="),
    "PSI": ("psi", "distance", ">="),
    "Kullback-Leibler divergence": ("kl_divergence", "distance", ">="),
    "Hellinger distance": ("hellinger", "distance", ">="),
    "Energy-distance": ("energy_distance", "distance", ">"),
    "Anderson-Darling": ("anderson_darling", "p_value", "<"),
    "Cramer-von Mises": ("cramer_von_mises", "p_value", "<"),
    "Epps-Singleton": ("epps_singleton", "p_value", "<"),
    "Fisher's Exact test": ("fisher_exact", "p_value", "<"),
    "g_test": ("g_test", "p_value", "<"),
    "Mann-Whitney U-rank test": ("mann_whitney", "p_value", "<"),
    "t_test": ("t_test", "p_value", "<"),
    "empirical_mmd": ("mmd", "p_value", "<"),
    "Total-Variation-Distance": ("tvd", "p_value", "<"),
}

#: alibi-detect detector name → method name of its feature-wise test.
ALIBI_METHODS = {
    "KSDrift": "ks",
    "ChiSquareDrift": "chi_square",
    "CVMDrift": "cramer_von_mises",
    "FETDrift": "fisher_exact",
}

_KIND_OF = {"ks": "numerical", "wasserstein": "numerical", "chi_square": "categorical", "z_test": "categorical"}


def _snapshot_dict(snapshot) -> dict:
    if isinstance(snapshot, Mapping):
        return dict(snapshot)
    for attr in ("dict", "model_dump"):
        fn = getattr(snapshot, attr, None)
        if callable(fn):
            try:
                out = fn()
            except Exception:  # pragma: no cover - defensive: other snapshot flavours
                continue
            if isinstance(out, Mapping) and "metrics" in out:
                return dict(out)
    raise TypeError(
        "from_evidently(): snapshot must be what Evidently 0.7's Report.run() returns, or its .dict(); got "
        f"{type(snapshot).__name__}."
    )


def from_evidently(snapshot, *, drift_share: float | None = None):
    """Evidently 0.7 ``Report([DataDriftPreset()])`` result → :class:`~labkit.drift.DriftTable`.

    Reads every ``ValueDrift`` metric of the snapshot (column, method, threshold, value). Evidently
    reports one number per column: the *p-value* for tests (it goes to ``p_value``, ``statistic``
    stays NaN) or the distance (``statistic``). ``drifted`` uses Evidently's own comparison
    (``p <= threshold`` for K-S, ``p < threshold`` for other tests, ``>=`` for distances).
    ``kind`` is inferred from the method where it is unambiguous ("numerical" for K-S/Wasserstein,
    "categorical" for chi-square/z-test), else "unknown". ``p_adjusted`` is NaN (Evidently does not
    correct). The dataset-drift share comes from the snapshot's ``DriftedColumnsCount`` metric
    (default 0.5).

    Parameters
    ----------
    snapshot : evidently Snapshot or dict
        ``report.run(current, reference)``'s return value, or its ``.dict()``.
    drift_share : float, optional
        Override the dataset-drift share.

    Returns
    -------
    DriftTable
    """
    from labkit.drift import TABLE_COLUMNS, _table_from_rows

    data = _snapshot_dict(snapshot)
    rows = []
    share = 0.5
    for metric in data.get("metrics", []):
        config = metric.get("config", {}) or {}
        mtype = str(config.get("type", ""))
        if mtype.endswith("DriftedColumnsCount") and config.get("drift_share") is not None:
            share = float(config["drift_share"])
        if not mtype.endswith("ValueDrift"):
            continue
        display = config.get("method")
        column = config.get("column")
        threshold = config.get("threshold")
        value = metric.get("value")
        if isinstance(value, Mapping):  # defensive: some versions wrap the value
            value = value.get("value")
        name, decision, op = EVIDENTLY_METHODS.get(
            display, (str(display), "p_value" if "p_value" in str(display) else "distance", "<")
        )
        value = float(value) if value is not None else np.nan
        threshold = float(threshold) if threshold is not None else np.nan
        if decision == "p_value":
            stat, p = np.nan, value
            drifted = p <= threshold if op == "<=" else p < threshold
        else:
            stat, p = value, np.nan
            drifted = stat > threshold if op == ">" else stat >= threshold
        rows.append(
            {
                "column": column,
                "kind": _KIND_OF.get(name, "unknown"),
                "method": name,
                "statistic": stat,
                "p_value": p,
                "p_adjusted": np.nan,
                "threshold": threshold,
                "drifted": bool(drifted),
                "n_reference": pd.NA,
                "n_current": pd.NA,
                "n_dropped": pd.NA,
            }
        )
    if not rows:
        raise ValueError(
            "from_evidently(): the snapshot has no ValueDrift metrics; run Report([DataDriftPreset()]) "
            "(or ValueDrift metrics) first."
        )
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    if drift_share is not None:
        share = float(drift_share)
    return _table_from_rows(frame, drift_share=share, correction=None, alpha=np.nan, source="evidently")


def from_alibi(
    result: Mapping,
    columns: Sequence[str],
    *,
    categorical: Sequence[str] | None = None,
    method: str | None = None,
    drift_share: float = 0.5,
):
    """alibi-detect feature-wise drift result → :class:`~labkit.drift.DriftTable`.

    ``result`` is what ``detector.predict(x)`` returns for KSDrift, ChiSquareDrift, TabularDrift,
    CVMDrift or FETDrift (``{"meta": ..., "data": {"p_val", "distance", "threshold", ...}}``).
    ``statistic`` = alibi's ``distance`` (the KS D or chi-square statistic), ``p_value`` = its
    ``p_val`` (float32 in alibi, converted to float), ``threshold`` = alibi's threshold (after its
    correction: alpha / n_features for Bonferroni, the FDR cut-off for "fdr", alpha itself with
    ``drift_type="feature"``), ``drifted`` = ``p_val < threshold``, alibi's own feature-level
    rule. ``p_adjusted`` is NaN: alibi adjusts the threshold, not the p-values.

    Parameters
    ----------
    result : dict
        The detector's ``predict`` output.
    columns : list of str
        Feature names, in the order of the array given to alibi.
    categorical : list of str, optional
        For TabularDrift: the columns alibi tested with chi-square (``categories_per_feature``);
        the others are KS.
    method : str, optional
        Override the method name for every column.
    drift_share : float, default 0.5
        Share of drifted columns for ``dataset_drifted``.

    Returns
    -------
    DriftTable
    """
    from labkit.drift import TABLE_COLUMNS, _table_from_rows

    if not isinstance(result, Mapping) or "data" not in result:
        raise TypeError(
            "from_alibi(): result must be the dict returned by an alibi-detect detector's predict(); got "
            f"{type(result).__name__}."
        )
    data = result["data"]
    meta = result.get("meta", {}) or {}
    if "p_val" not in data:
        raise ValueError("from_alibi(): result['data'] has no 'p_val'; call predict(..., return_p_val=True).")
    p = np.atleast_1d(np.asarray(data["p_val"], dtype=float)).ravel()
    dist = data.get("distance")
    stat = np.atleast_1d(np.asarray(dist, dtype=float)).ravel() if dist is not None else np.full(p.shape, np.nan)
    columns = list(columns)
    if len(columns) != p.size:
        raise ValueError(
            f"from_alibi(): got {len(columns)} column names for {p.size} feature-wise p-values; pass one name per "
            "feature, in the order of the array given to the detector."
        )
    thr = np.broadcast_to(np.asarray(data.get("threshold", np.nan), dtype=float), p.shape)
    name = meta.get("name", "")
    categorical = set(categorical or [])
    unknown = categorical - set(columns)
    if unknown:
        raise ValueError(f"from_alibi(): categorical column(s) {sorted(unknown)} are not in columns.")
    rows = []
    for j, col in enumerate(columns):
        if method is not None:
            mname = method
        elif name == "TabularDrift":
            mname = "chi_square" if col in categorical else "ks"
        else:
            mname = ALIBI_METHODS.get(name, name.lower() or "unknown")
        rows.append(
            {
                "column": col,
                "kind": _KIND_OF.get(mname, "unknown"),
                "method": mname,
                "statistic": stat[j],
                "p_value": p[j],
                "p_adjusted": np.nan,
                "threshold": thr[j],
                "drifted": bool(p[j] < thr[j]),
                "n_reference": pd.NA,
                "n_current": pd.NA,
                "n_dropped": pd.NA,
            }
        )
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return _table_from_rows(frame, drift_share=drift_share, correction=None, alpha=np.nan, source="alibi-detect")
