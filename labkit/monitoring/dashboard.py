"""A monitoring dashboard: matplotlib panels, ipywidgets controls and a single-file HTML export.

The layout follows the lecture's dashboard design, one panel per question an on-call engineer asks:

1. **executive summary**: current vs baseline error, predictions served, active alerts, drift status
   (✓ fine, ⚠ watch, ❌ act);
2. **performance over time**: the chosen error metric per window against the baseline;
3. **data quality**: missing values, out-of-range inputs, feature freshness;
4. **drift heatmap**: drift score per feature (rows) and window (columns);
5. **prediction distribution**: the 5–95 % band and median of predictions, and the mean label;
6. **system health**: latency quantiles and throughput.

Every function takes the frame :func:`labkit.windows.windowed_metrics` returns (one row per window,
indexed by window start). Nothing here computes metrics; it only shows them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> w = pd.DataFrame({"n": [24, 24], "mae": [50.0, 60.0], "drift_temp": [0.05, 0.3]},
...                  index=pd.date_range("2012-01-01", periods=2, freq="D"))
>>> s = summary(w, baseline_mae=32.1)
>>> s.status["error"], s.status["drift"], s.predictions_served
('❌', '❌', 48)
"""
from __future__ import annotations

import base64
import html
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "METRICS",
    "STATUS_ICONS",
    "DashboardSummary",
    "summary",
    "plot_dashboard",
    "dashboard_widget",
    "export_html",
]

logger = logging.getLogger(__name__)

#: Performance metrics the dashboard can plot, with a label and whether higher is better.
METRICS = {
    "mae": ("MAE (rentals/hour)", False),
    "rmse": ("RMSE (rentals/hour)", False),
    "r2": ("R²", True),
    "bias": ("bias: mean(label − prediction)", None),
}
#: Traffic-light icons: fine, watch, act.
STATUS_ICONS = {"ok": "✓", "warn": "⚠", "alert": "❌"}


def _fail(argument, expected, got, fix, exc=ValueError):
    return exc(f"{argument}: expected {expected}, got {got}; {fix}")


def _check_windows(windows, needed: Sequence[str] = ("n",)) -> pd.DataFrame:
    if not isinstance(windows, pd.DataFrame):
        raise _fail("windows", "the DataFrame of labkit.windows.windowed_metrics()", f"<{type(windows).__name__}>",
                    "compute it with windowed_metrics(log, reference=...)", TypeError)
    if not isinstance(windows.index, pd.DatetimeIndex):
        raise _fail("windows", "a frame indexed by window start (DatetimeIndex)",
                    f"an index of type {type(windows.index).__name__}", "use the frame windowed_metrics() returns",
                    TypeError)
    if len(windows) == 0:
        raise _fail("windows", "at least one window", "an empty frame", "replay some predictions first")
    missing = [c for c in needed if c not in windows.columns]
    if missing:
        raise _fail("windows", f"the columns {list(needed)}", f"a frame without {missing}",
                    "use the frame windowed_metrics() returns")
    return windows.sort_index()


def _drift_features(windows: pd.DataFrame) -> list[str]:
    return [c[len("drift_"):] for c in windows.columns if c.startswith("drift_")]


def _level(value: float, warn: float, alert: float) -> str:
    if value is None or not np.isfinite(value):
        return "ok"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


@dataclass(frozen=True)
class DashboardSummary:
    """The executive-summary numbers (what the top panel shows).

    Attributes
    ----------
    as_of : pandas.Timestamp
        Start of the last window shown.
    current_error : float
        Mean of the metric over the last ``recent`` labelled windows (NaN when none has labels).
    baseline_error : float
    error_ratio : float
        ``current_error / baseline_error``.
    predictions_served : int
    label_coverage : float
        Labelled share of the predictions shown.
    active_alerts : int
    worst_feature : str or None
        Feature with the largest drift score in the last window.
    worst_drift : float
    status : dict
        ``{"error": icon, "drift": icon, "data quality": icon}`` with icons from :data:`STATUS_ICONS`.
    """

    as_of: pd.Timestamp
    current_error: float
    baseline_error: float
    error_ratio: float
    predictions_served: int
    label_coverage: float
    active_alerts: int
    worst_feature: str | None
    worst_drift: float
    status: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per headline number, for display."""
        rows = [
            ("current error", f"{self.current_error:.1f}", self.status.get("error", "")),
            ("baseline error", f"{self.baseline_error:.1f}", ""),
            ("error vs baseline", f"{self.error_ratio:.2f}×", self.status.get("error", "")),
            ("predictions served", f"{self.predictions_served:,}", ""),
            ("labels arrived", f"{self.label_coverage:.0%}", ""),
            ("active alerts", str(self.active_alerts), "❌" if self.active_alerts else "✓"),
            ("largest drift", f"{self.worst_feature or '-'} {self.worst_drift:.2f}", self.status.get("drift", "")),
            ("data quality", "", self.status.get("data quality", "")),
        ]
        return pd.DataFrame(rows, columns=["signal", "value", "status"]).set_index("signal")


def summary(windows: pd.DataFrame, *, baseline_mae: float, metric: str = "mae", recent: int = 7,
            active_alerts: int = 0, error_warn: float = 1.2, error_alert: float = 1.5,
            drift_warn: float = 0.1, drift_alert: float = 0.25, quality_warn: float = 0.01,
            quality_alert: float = 0.05) -> DashboardSummary:
    """Compute the executive summary of a windowed-metrics frame.

    Parameters
    ----------
    windows : pandas.DataFrame
        From :func:`labkit.windows.windowed_metrics`.
    baseline_mae : float
        The reference error (e.g. ``get_baseline().metrics["mae"]``); compared with ``metric``
        when the metric is an error (mae/rmse).
    metric : {"mae", "rmse"}, default "mae"
    recent : int, default 7
        Number of most recent *labelled* windows averaged into the current error.
    active_alerts : int, default 0
        Alerts firing now (e.g. from :class:`labkit.alerts.AlertHistory`).
    error_warn, error_alert : float
        Error ratios (current / baseline) for ⚠ and ❌.
    drift_warn, drift_alert : float
        Largest drift score in the last window for ⚠ and ❌.
    quality_warn, quality_alert : float
        Missing or out-of-range share in the last window for ⚠ and ❌.

    Returns
    -------
    DashboardSummary
    """
    w = _check_windows(windows, ["n"])
    if metric not in ("mae", "rmse"):
        raise _fail("metric", "'mae' or 'rmse' (an error comparable with baseline_mae)", repr(metric),
                    "use plot_dashboard(metric=...) to plot other metrics")
    if not (isinstance(baseline_mae, (int, float)) and np.isfinite(baseline_mae) and baseline_mae > 0):
        raise _fail("baseline_mae", "a positive number", repr(baseline_mae), "pass get_baseline().metrics['mae']")
    errors = w[metric].dropna() if metric in w.columns else pd.Series(dtype=float)
    current = float(errors.tail(recent).mean()) if len(errors) else float("nan")
    ratio = current / baseline_mae
    last = w.iloc[-1]
    features = _drift_features(w)
    drift_last = pd.Series({f: last[f"drift_{f}"] for f in features}, dtype=float).dropna()
    worst = (str(drift_last.idxmax()), float(drift_last.max())) if len(drift_last) else (None, float("nan"))
    quality = max(float(last.get("missing_share", 0) or 0), float(last.get("out_of_range_share", 0) or 0))
    n_total = int(w["n"].sum())
    labelled = int(w["n_labelled"].sum()) if "n_labelled" in w.columns else (int(w["n"][w[metric].notna()].sum())
                                                                            if metric in w.columns else 0)
    status = {
        "error": STATUS_ICONS[_level(ratio, error_warn, error_alert)],
        "drift": STATUS_ICONS[_level(worst[1], drift_warn, drift_alert)],
        "data quality": STATUS_ICONS[_level(quality, quality_warn, quality_alert)],
    }
    return DashboardSummary(
        as_of=w.index[-1], current_error=current, baseline_error=float(baseline_mae), error_ratio=ratio,
        predictions_served=n_total, label_coverage=labelled / n_total if n_total else float("nan"),
        active_alerts=int(active_alerts), worst_feature=worst[0], worst_drift=worst[1], status=status,
    )


def _select(windows: pd.DataFrame, last: int | None, start=None, end=None) -> pd.DataFrame:
    w = windows
    if start is not None:
        w = w[w.index >= pd.Timestamp(start)]
    if end is not None:
        w = w[w.index <= pd.Timestamp(end)]
    if last is not None:
        if not isinstance(last, (int, np.integer)) or last < 1:
            raise _fail("last", "a positive number of windows", repr(last), "pass e.g. last=30 or None for all")
        w = w.tail(int(last))
    if len(w) == 0:
        raise _fail("start/end", "a range that contains windows", f"{start}..{end}",
                    f"choose dates between {windows.index[0]:%Y-%m-%d} and {windows.index[-1]:%Y-%m-%d}")
    return w


def plot_dashboard(windows: pd.DataFrame, *, baseline_mae: float, metric: str = "mae", feature: str | None = None,
                   last: int | None = None, start=None, end=None, active_alerts: int = 0,
                   alert_times: Sequence | None = None, title: str = "Bike demand model: monitoring",
                   compact: bool = False):
    """Draw the six-panel dashboard and return the matplotlib Figure.

    Parameters
    ----------
    windows : pandas.DataFrame
        From :func:`labkit.windows.windowed_metrics`.
    baseline_mae : float
        The reference error, drawn as a line on the performance panel.
    metric : {"mae", "rmse", "r2", "bias"}, default "mae"
        Performance metric of panel 2.
    feature : str, optional
        Feature highlighted in the drift heatmap and whose freshness/missing share panel 3 shows
        (default: the feature with the largest drift in the shown period).
    last : int, optional
        Show only the last ``last`` windows (after ``start``/``end``).
    start, end : datetime-like, optional
        Period shown.
    active_alerts : int, default 0
        Shown in the summary.
    alert_times : list of datetime-like, optional
        Times at which alerts fired; marked on the performance panel.
    title : str
    compact : bool, default False
        Leave out the summary panel (the widget shows it as HTML), keep a legend on the performance
        panel only and draw fewer ticks: what :func:`dashboard_widget` redraws on every interaction.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if metric not in METRICS:
        raise _fail("metric", f"one of {list(METRICS)}", repr(metric), "pick a performance metric")
    w = _select(_check_windows(windows, ["n"]), last, start, end)
    features = _drift_features(w)
    if feature is not None and feature not in features:
        raise _fail("feature", f"one of the monitored features {features}", repr(feature),
                    "pick a feature that has a drift_<feature> column")
    drift = w[[f"drift_{f}" for f in features]].set_axis(features, axis=1) if features else pd.DataFrame(index=w.index)
    if feature is None and features:
        feature = str(drift.max().idxmax()) if drift.notna().any().any() else features[0]
    s = summary(w, baseline_mae=baseline_mae, active_alerts=active_alerts)

    x = w.index
    fig = plt.figure(figsize=_FIGSIZE[compact])
    grid, top = _layout(fig, compact)
    if not compact:
        # 1 - executive summary
        ax = fig.add_subplot(grid[0, :])
        ax.axis("off")
        drawable = {"❌": "✗"}  # matplotlib's default font has no ❌ glyph
        for i, (label, value, sub, icon) in enumerate(_cards(s)):
            cx = 0.1 + i * 0.2
            ax.text(cx, 0.88, label, ha="center", fontsize=10, color="#455a64", transform=ax.transAxes)
            ax.text(cx, 0.38, f"{value} {drawable.get(icon, icon)}".strip(), ha="center", fontsize=20,
                    weight="bold", color=_TONE[icon], transform=ax.transAxes)
            ax.text(cx, 0.02, sub, ha="center", fontsize=9, color="#607d8b", transform=ax.transAxes)
        ax.set_title(f"{title} · {x[0]:%Y-%m-%d} to {x[-1]:%Y-%m-%d}", fontsize=13, loc="left")
    panels = _Panels(fig, grid, top, w, baseline_mae=baseline_mae, alert_times=alert_times, compact=compact)
    panels.show(last=len(w), metric=metric, feature=feature)
    return fig


_FIGSIZE = {True: (13, 7.0), False: (13, 8.8)}


def _layout(fig, compact: bool):
    """The dashboard's grid and the row where panels 2-6 start (row 0 holds the summary unless
    ``compact``). A fixed grid: a layout engine would double the drawing time."""
    if compact:
        return fig.add_gridspec(2, 3, left=0.07, right=0.95, top=0.95, bottom=0.08, hspace=0.38, wspace=0.32), 0
    return fig.add_gridspec(3, 3, height_ratios=[0.45, 1, 1], left=0.07, right=0.95, top=0.95, bottom=0.06,
                            hspace=0.38, wspace=0.32), 1


class _Panels:
    """Panels 2-6 of the dashboard on one figure: drawn once from every window, then ``show()`` picks
    the windows, metric and feature on view by moving limits and swapping data.

    The widget keeps one ``_Panels`` alive and calls ``show()`` on every interaction: a redraw of
    an existing figure costs about half of building it again (measured in
    ``benchmarks/bench_monitoring.py``). :func:`plot_dashboard` uses the same class once, so the
    static figure and the widget always draw the same panels.
    """

    def __init__(self, fig, grid, top: int, w: pd.DataFrame, *, baseline_mae: float,
                 alert_times: Sequence | None, compact: bool):
        from matplotlib import colors, ticker
        from matplotlib.patches import Rectangle

        self.x, self.compact, self.baseline_mae = w.index, compact, baseline_mae
        self.features = _drift_features(w)
        x = self.x
        nan = np.full(len(w), np.nan)
        column = lambda name: w[name].to_numpy(dtype=float) if name in w.columns else nan  # noqa: E731

        # 2 - performance over time (every metric's column is kept; show() swaps the line's data)
        ax = self.perf = fig.add_subplot(grid[top, :2])
        self.metric_values = {m: column(m) for m in METRICS}
        (self.perf_line,) = ax.plot(x, nan, marker=None if compact else ".", lw=1)
        self.reference_lines = {
            "mae": [ax.axhline(baseline_mae, color="k", ls="--", lw=1, label=f"baseline {baseline_mae:.1f}"),
                    ax.axhline(1.5 * baseline_mae, color="#c62828", ls=":", lw=1, label="1.5× baseline")],
            "bias": [ax.axhline(0, color="k", lw=1, label="_zero")],
        }
        for t in alert_times or ():
            t = pd.Timestamp(t)
            if x[0] <= t <= x[-1]:
                ax.axvline(t, color="#c62828", alpha=0.3, lw=1)
        ax.set_xlabel("")

        # 5 - prediction distribution
        ax = self.dist = fig.add_subplot(grid[top, 2])
        self.dist_values = [column(c) for c in ("pred_p05", "pred_p95", "pred_p50", "label_mean")]
        if {"pred_p05", "pred_p95"} <= set(w.columns):
            ax.fill_between(x, w["pred_p05"], w["pred_p95"], alpha=0.25, label="predictions 5–95 %")
        if "pred_p50" in w.columns:
            ax.plot(x, w["pred_p50"], lw=1, label="median prediction")
        if "label_mean" in w.columns:
            ax.plot(x, w["label_mean"], lw=1, color="k", label="mean label")
        # the compact figure has no legends: the title names the lines (short enough for the panel)
        _title(ax, "Predictions: 5–95 %, median, mean label" if compact else "Prediction distribution",
               fontsize=10 if compact else None)
        if not compact:
            _legend(ax, fontsize=7, loc="upper left")
        ax.tick_params(axis="x", labelrotation=30)

        # 4 - drift heatmap (columns are windows 0..n-1; show() moves the x limits)
        ax = self.heat = fig.add_subplot(grid[top + 1, :2])
        self.drift = w[[f"drift_{f}" for f in self.features]].to_numpy(dtype=float).T
        if self.features:
            self.image = ax.imshow(np.ma.masked_invalid(self.drift), aspect="auto", cmap="magma_r",
                                   norm=colors.Normalize(vmin=0, vmax=0.3),
                                   extent=(0, len(x), len(self.features), 0), interpolation="nearest")
            ax.set_yticks(np.arange(len(self.features)) + 0.5, self.features)
            self.highlight = ax.add_patch(Rectangle((0, 0), len(x), 1, fill=False, ec="#1565c0", lw=2))
            bar = fig.colorbar(self.image, ax=ax, label="drift score", fraction=0.03)
            bar.locator = ticker.MaxNLocator(3 if compact else 4)
            ax.grid(False)
        _title(ax, "Drift per feature and window (normed Wasserstein / Jensen–Shannon)")

        # 3 + 6 - data quality and system health, stacked in the last column
        sub = grid[top + 1, 2].subgridspec(2, 1, hspace=0.45)
        ax = self.quality = fig.add_subplot(sub[0])
        self.quality_values = []
        for name, label in [("missing_share", "missing"), ("out_of_range_share", "out of range")]:
            if name in w.columns:
                ax.plot(x, w[name], lw=1, label=label)
                self.quality_values.append(column(name))
        self.ages = {f: w[f"age_{f}"].to_numpy(dtype=float) / 3600 for f in self.features
                     if f"age_{f}" in w.columns and w[f"age_{f}"].notna().any()}
        self.age_axis = self.age_line = None
        if self.ages:
            self.age_axis = ax.twinx()
            (self.age_line,) = self.age_axis.plot(x, nan, color="#6a1b9a", lw=1, ls="--")
            self.age_axis.set_ylabel("hours", fontsize=8)
        _title(ax, "Data quality" + (" (missing, out of range)" if compact else ""), fontsize=10)
        if not compact:
            _legend(ax, fontsize=7, loc="upper left")
        ax.tick_params(axis="x", labelbottom=False)
        ax = self.health = fig.add_subplot(sub[1], sharex=self.quality)
        self.latency_values = []
        for name, label in [("latency_p50", "p50"), ("latency_p95", "p95"), ("latency_p99", "p99")]:
            if name in w.columns:
                ax.plot(x, w[name] * 1000, lw=1, label=label)
                self.latency_values.append(column(name) * 1000)
        ax.set_ylabel("latency (ms)", fontsize=8)
        _title(ax, "System health" + (" (p50, p95, p99)" if compact else ""), fontsize=10)
        if not compact:
            _legend(ax, fontsize=7, loc="upper left", ncols=3)
        ax.tick_params(axis="x", labelrotation=30)
        _fewer_ticks(fig, compact)

    def show(self, *, last: int, metric: str, feature: str | None) -> None:
        """Show the last ``last`` windows, ``metric`` on the performance panel and ``feature``
        highlighted (heatmap row, freshness line)."""
        n = len(self.x)
        first = n - min(max(int(last), 1), n)
        visible = slice(first, n)
        x = self.x[visible]
        lo, hi = x[0], x[-1]
        pad = (hi - lo) * 0.05 if hi > lo else pd.Timedelta(hours=12)  # matplotlib's default margin
        for ax in (self.perf, self.dist, self.quality):  # health shares its x axis with quality
            ax.set_xlim(lo - pad, hi + pad)

        label, _ = METRICS[metric]
        self.perf_line.set_ydata(self.metric_values[metric])
        self.perf_line.set_label(label)
        shown = [self.perf_line]
        for name, lines in self.reference_lines.items():
            for line in lines:
                line.set_visible(name == metric)
                if name == metric and not line.get_label().startswith("_"):
                    shown.append(line)
        references = {"mae": [self.baseline_mae, 1.5 * self.baseline_mae], "bias": [0.0]}.get(metric, [])
        _fit_y(self.perf, self.metric_values[metric][visible], references)
        self.perf.legend(handles=shown, fontsize=8, loc="upper left")
        _title(self.perf, f"Performance: {label}")

        _fit_y(self.dist, *(v[visible] for v in self.dist_values))
        _fit_y(self.quality, *(v[visible] for v in self.quality_values))
        _fit_y(self.health, *(v[visible] for v in self.latency_values))

        if self.features:
            self.heat.set_xlim(first, n)
            ticks = np.linspace(first, n - 1, min(n - first, 4 if self.compact else 8)).astype(int)
            self.heat.set_xticks(ticks + 0.5, [f"{self.x[i]:%m-%d}" for i in ticks])
            values = self.drift[:, visible]
            self.image.set_clim(0, max(0.3, float(np.nanmax(values)) if np.isfinite(values).any() else 0.3))
            self.highlight.set_visible(feature in self.features)
            if feature in self.features:
                self.highlight.set_y(self.features.index(feature))
        if self.age_axis is not None:
            age = self.ages.get(feature)
            self.age_axis.set_visible(age is not None)
            if age is not None:
                self.age_line.set_ydata(age)
                self.age_line.set_label(f"age of {feature} (h)")
                _fit_y(self.age_axis, age[visible])


def _title(ax, text: str, **kwargs) -> None:
    """A panel title at a fixed height: automatic placement measures every tick label on every draw."""
    ax.set_title(text, y=1.0, **kwargs)


def _legend(ax, **kwargs) -> None:
    """A legend when the panel has labelled lines (a frame without those columns has none)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def _fit_y(ax, *arrays, margin: float = 0.05) -> None:
    """Set the y limits to the finite values of ``arrays`` (what autoscaling would do for the
    visible windows only) with a small margin."""
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays]) if arrays else np.array([])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        ax.set_ylim(0, 1)
        return
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * margin if hi > lo else max(abs(hi), 1.0) * 0.1
    ax.set_ylim(lo - pad, hi + pad)


_TONE = {"✓": "#2e7d32", "⚠": "#ef6c00", "❌": "#c62828", "": "#37474f"}


def _cards(s: DashboardSummary) -> list[tuple[str, str, str, str]]:
    """The summary cards: (label, value, note, status icon)."""
    return [
        ("Error (last 7 labelled)", f"{s.current_error:.1f}", f"baseline {s.baseline_error:.1f} · {s.error_ratio:.2f}×",
         s.status["error"]),
        ("Predictions served", f"{s.predictions_served:,}", f"labels arrived {s.label_coverage:.0%}", ""),
        ("Active alerts", str(s.active_alerts), "", "❌" if s.active_alerts else "✓"),
        ("Drift", f"{s.worst_drift:.2f}" if s.worst_feature else "-", f"largest: {s.worst_feature or '-'}",
         s.status["drift"]),
        ("Data quality", "", f"as of {s.as_of:%Y-%m-%d %H:%M}", s.status["data quality"]),
    ]


def _cards_html(s: DashboardSummary, title: str) -> str:
    """The summary cards as HTML (the widget shows them above the figure)."""
    cells = "".join(
        f"<div style='flex:1;text-align:center'><div style='color:#455a64'>{html.escape(label)}</div>"
        f"<div style='font-size:1.6em;font-weight:bold;color:{_TONE[icon]}'>{html.escape(f'{value} {icon}'.strip())}</div>"
        f"<div style='color:#607d8b;font-size:0.85em'>{html.escape(note)}</div></div>"
        for label, value, note, icon in _cards(s))
    return (f"<div style='font-size:1.1em;margin:4px 0'>{html.escape(title)} · {s.as_of:%Y-%m-%d}</div>"
            f"<div style='display:flex;gap:8px'>{cells}</div>")


def _fewer_ticks(fig, compact: bool = False) -> None:
    """Fewer tick labels: easier to read on small panels, and text is most of the drawing time."""
    from matplotlib import dates, ticker

    for ax in fig.axes:
        if isinstance(ax.xaxis.get_major_locator(), dates.AutoDateLocator):
            ax.xaxis.set_major_locator(dates.AutoDateLocator(minticks=2 if compact else 3, maxticks=4 if compact else 6))
        if isinstance(ax.yaxis.get_major_locator(), ticker.AutoLocator):
            ax.yaxis.set_major_locator(ticker.MaxNLocator(3 if compact else 4))


def _png_bytes(fig, dpi: int = 72) -> bytes:
    """The figure as PNG bytes: Agg draw, then a fast PNG encoding (fast compression)."""
    from PIL import Image

    fig.set_dpi(dpi)
    fig.canvas.draw()
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def dashboard_widget(windows: pd.DataFrame, *, baseline_mae: float, alert_times: Sequence | None = None,
                     active_alerts: int = 0):
    """Interactive dashboard: controls for the period shown, the feature and the metric.

    The summary cards are HTML; the five panels (the compact figure of :func:`plot_dashboard`) are
    drawn once into a figure the widget keeps, and a control that moves only changes limits and data
    before the figure is redrawn into an ``ipywidgets.Image`` (a PNG at 72 dpi).
    Returns an ``ipywidgets.VBox`` of the controls row, the cards, a status line and the image; the controls
    are also ``box.controls`` (``last``, ``feature``, ``metric``), the image ``box.image``, the
    matplotlib figure behind it ``box.figure`` (e.g. ``box.figure.savefig("view.png")``) and the
    last redraw time ``box.render_ms``.

    Parameters
    ----------
    windows, baseline_mae, alert_times, active_alerts
        As in :func:`plot_dashboard`.
    """
    import time

    import ipywidgets as widgets
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w = _check_windows(windows, ["n"])
    summary(w, baseline_mae=baseline_mae)  # explains a bad baseline_mae before any widget is built
    features = _drift_features(w)
    n = len(w)
    last = widgets.IntSlider(value=n, min=min(7, n), max=n, step=1, description="windows",
                             continuous_update=False)
    feature = widgets.Dropdown(options=features or ["-"], value=(features or ["-"])[0], description="feature")
    metric = widgets.Dropdown(options=list(METRICS), value="mae", description="metric")
    image = widgets.Image(format="png", layout=widgets.Layout(width="100%"))
    cards = widgets.HTML()
    status = widgets.HTML()

    # Not a pyplot figure: it lives as long as the widget and must not be shown inline by itself.
    fig = Figure(figsize=_FIGSIZE[True])
    FigureCanvasAgg(fig)
    grid, top = _layout(fig, compact=True)
    panels = _Panels(fig, grid, top, w, baseline_mae=baseline_mae, alert_times=alert_times, compact=True)

    def render(*_):
        started = time.perf_counter()
        cards.value = _cards_html(summary(w.tail(last.value), baseline_mae=baseline_mae, active_alerts=active_alerts),
                                  "Bike demand model: monitoring")
        panels.show(last=last.value, metric=metric.value, feature=feature.value if features else None)
        image.value = _png_bytes(fig, dpi=72)
        box.render_ms = 1000 * (time.perf_counter() - started)
        status.value = (f"<small>{metric.value} · last {last.value} windows · feature {feature.value} · "
                        f"drawn in {box.render_ms:.0f} ms</small>")

    box = widgets.VBox([widgets.HBox([last, feature, metric]), cards, status, image])
    box.controls = {"last": last, "feature": feature, "metric": metric}
    box.image = image
    box.figure = fig
    for control in (last, feature, metric):
        control.observe(render, names="value")
    render()
    return box


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def export_html(windows: pd.DataFrame, path, *, baseline_mae: float, alert_times: Sequence | None = None,
                active_alerts: int = 0, metrics: Sequence[str] = ("mae", "bias"),
                title: str = "Bike demand model: monitoring") -> Path:
    """Write the dashboard as one self-contained HTML file (images embedded; opens offline).

    Parameters
    ----------
    windows, baseline_mae, alert_times, active_alerts, title
        As in :func:`plot_dashboard`.
    path : str or pathlib.Path
        Target file (its folder is created). Written atomically.
    metrics : list of str, default ("mae", "bias")
        One dashboard image per metric.

    Returns
    -------
    pathlib.Path
    """
    import matplotlib.pyplot as plt

    w = _check_windows(windows, ["n"])
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise _fail("path", "a file name ending in .html", str(path), "e.g. artifacts_dir('dashboard') / 'dashboard.html'")
    s = summary(w, baseline_mae=baseline_mae, active_alerts=active_alerts)
    images = []
    for metric in metrics:
        fig = plot_dashboard(w, baseline_mae=baseline_mae, metric=metric, alert_times=alert_times,
                             active_alerts=active_alerts, title=title)
        images.append((metric, _png(fig)))
        plt.close(fig)
    table = s.to_frame().to_html(classes="summary", escape=True)
    recent = w.tail(14)[[c for c in ("n", "label_coverage", "mae", "bias", "n_drifted", "missing_share",
                                     "latency_p95") if c in w.columns]].round(3)
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{w.index[0]:%Y-%m-%d} to {w.index[-1]:%Y-%m-%d} · {len(w)} windows · generated by labkit.dashboard</p>",
        "<h2>Executive summary</h2>", table,
        *[f'<h2>Dashboard ({html.escape(METRICS[m][0])})</h2><img alt="dashboard {html.escape(m)}" '
          f'src="data:image/png;base64,{data}">' for m, data in images],
        "<h2>Last 14 windows</h2>", recent.to_html(escape=True),
    ]
    style = ("body{font-family:sans-serif;margin:2em;color:#263238}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #cfd8dc;padding:4px 8px;text-align:right}")
    document = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(path)
    logger.info("dashboard written to %s (%.1f kB)", path, path.stat().st_size / 1e3)
    return path
