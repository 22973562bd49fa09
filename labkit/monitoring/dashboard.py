"""The monitoring dashboard: matplotlib panels, ipywidgets controls and a single-file HTML export.

One panel per question an on-call engineer asks (the lecture's dashboard design): an executive
summary (error against the baseline, traffic, alerts, drift, data quality as ✓ fine / ⚠ watch /
❌ act), performance over time, the prediction distribution, a drift heatmap, data quality and
system health. Every function takes the frame of
:func:`labkit.monitoring.windows.windowed_metrics`; nothing here computes metrics, it only shows them.

>>> import pandas as pd
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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from labkit._validate import check_choice, check_int, check_number, fail

__all__ = ["METRICS", "STATUS_ICONS", "TITLE", "StatusLimits", "DashboardSummary", "summary", "plot_dashboard",
           "dashboard_widget", "export_html"]

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
TITLE = "Bike demand model: monitoring"


def _check_windows(windows, func: str) -> pd.DataFrame:
    expected = "the frame of labkit.monitoring.windows.windowed_metrics() (indexed by window start, with 'n')"
    if not isinstance(windows, pd.DataFrame) or not isinstance(windows.index, pd.DatetimeIndex):
        raise fail(func, "windows", expected, windows, "compute it with windowed_metrics(log, reference=...)", TypeError)
    if len(windows) == 0 or "n" not in windows.columns:
        raise fail(func, "windows", expected, windows, "replay some predictions, then use windowed_metrics()")
    return windows.sort_index()


def _drift_features(windows: pd.DataFrame) -> list[str]:
    return [c[len("drift_"):] for c in windows.columns if c.startswith("drift_")]


def _level(value: float, warn: float, alert: float) -> str:
    if value is None or not np.isfinite(value):
        return "ok"
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


@dataclass(frozen=True)
class StatusLimits:
    """Where the summary's icons turn ⚠ and ❌: the error as a multiple of the baseline, the largest
    drift score, and the share of missing or out-of-range inputs."""

    error_warn: float = 1.2
    error_alert: float = 1.5
    drift_warn: float = 0.1
    drift_alert: float = 0.25
    quality_warn: float = 0.01
    quality_alert: float = 0.05

    def __post_init__(self):
        for name in self.__dataclass_fields__:
            check_number(getattr(self, name), name, func="StatusLimits", low=0)


@dataclass(frozen=True)
class DashboardSummary:
    """The executive summary of the windows ``start`` .. ``end`` (window starts), each number with the
    windows it covers: ``current_error`` is the mean of the metric over the last labelled windows
    ``error_windows`` (NaN when none has labels), ``period_error`` over every labelled window shown,
    ``error_ratio`` the current error's multiple of the baseline. ``active_alerts`` is None while no
    rule exists. ``worst_feature``/``worst_drift``: the largest drift in the last window (``end``).
    ``quality``: the worst data-quality share of the period (missing values, out-of-range inputs or
    missing rows, ``quality_signal``) and its window ``quality_window``. ``status``: the icons."""

    start: pd.Timestamp
    end: pd.Timestamp
    current_error: float
    error_windows: tuple
    period_error: float
    baseline_error: float
    error_ratio: float
    predictions_served: int
    label_coverage: float
    active_alerts: int | None
    worst_feature: str | None
    worst_drift: float
    quality: float
    quality_signal: str
    quality_window: pd.Timestamp | None
    status: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The summary cards as a table: value, the windows it covers, status."""
        rows = [(label, value, note.replace("\n", " · "), icon) for label, value, note, icon in _cards(self)]
        return pd.DataFrame(rows, columns=["signal", "value", "windows", "status"]).set_index("signal")


def _span(first, last) -> str:
    return f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"


def _alert_icon(active: int | None) -> str:
    return "" if active is None else STATUS_ICONS["alert"] if active else STATUS_ICONS["ok"]


def _worst_quality(w: pd.DataFrame) -> tuple[float, str, pd.Timestamp | None]:
    """The worst data-quality share of any window: missing values, out-of-range inputs or missing rows."""
    shares = pd.DataFrame({
        "missing values": w.get("missing_share", pd.Series(np.nan, index=w.index)),
        "out of range": w.get("out_of_range_share", pd.Series(np.nan, index=w.index)),
        "missing rows": (1 - w.get("completeness", pd.Series(np.nan, index=w.index))).clip(lower=0),
    }, index=w.index).astype(float)
    if not shares.notna().any().any():
        return 0.0, "no signal", None
    signal = shares.max().idxmax()
    return float(shares[signal].max()), signal, shares[signal].idxmax()


def summary(windows: pd.DataFrame, *, baseline_mae: float, metric: str = "mae", recent: int = 7,
            active_alerts: int | None = None, limits: StatusLimits | None = None) -> DashboardSummary:
    """The executive summary of a windowed-metrics frame.

    ``baseline_mae`` is the reference error (``get_baseline().metrics["mae"]``), compared with
    ``metric`` ("mae" or "rmse") over the last ``recent`` labelled windows; ``active_alerts`` is the
    number of alerts firing (None: no alert rules yet); ``limits`` sets where icons turn ⚠ and ❌.
    Data quality is the worst window of the period, so a card never shows ✓ while a window shown
    is out of bounds.
    """
    f, limits = "summary", limits if limits is not None else StatusLimits()
    w = _check_windows(windows, f)
    check_choice(metric, "metric", ("mae", "rmse"), func=f)
    check_number(baseline_mae, "baseline_mae", func=f, low=0, low_open=True, fix="pass get_baseline().metrics['mae']")
    check_int(recent, "recent", func=f, low=1)
    if active_alerts is not None:
        check_int(active_alerts, "active_alerts", func=f, low=0, fix="pass the number of alerts firing, or None")
    errors = (w[metric] if metric in w.columns else w["n"] * np.nan).dropna()
    current = float(errors.tail(recent).mean()) if len(errors) else float("nan")
    last = w.iloc[-1]
    drift_last = pd.Series({f: last[f"drift_{f}"] for f in _drift_features(w)}, dtype=float).dropna()
    worst = (str(drift_last.idxmax()), float(drift_last.max())) if len(drift_last) else (None, float("nan"))
    quality, signal, quality_window = _worst_quality(w)
    n_total = int(w["n"].sum())
    labelled = int(w["n_labelled"].sum()) if "n_labelled" in w.columns else int(w["n"].loc[errors.index].sum())
    status = {
        "error": STATUS_ICONS[_level(current / baseline_mae, limits.error_warn, limits.error_alert)],
        "drift": STATUS_ICONS[_level(worst[1], limits.drift_warn, limits.drift_alert)],
        "data quality": STATUS_ICONS[_level(quality, limits.quality_warn, limits.quality_alert)],
    }
    return DashboardSummary(
        start=w.index[0], end=w.index[-1], current_error=current,
        error_windows=(errors.tail(recent).index[0], errors.index[-1]) if len(errors) else (),
        period_error=float(errors.mean()) if len(errors) else float("nan"), baseline_error=float(baseline_mae),
        error_ratio=current / baseline_mae, predictions_served=n_total,
        label_coverage=labelled / n_total if n_total else float("nan"), active_alerts=active_alerts,
        worst_feature=worst[0], worst_drift=worst[1], quality=quality, quality_signal=signal,
        quality_window=quality_window, status=status)


def _default_feature(w: pd.DataFrame, features: list[str]) -> str | None:
    """The numerical feature that drifts most over the windows (calendar codes drift by construction)."""
    kinds = w.attrs.get("kinds") or {}
    numerical = [f for f in features if kinds.get(f) == "numerical"] or features
    drift = w[[f"drift_{f}" for f in numerical]].mean().set_axis(numerical) if numerical else pd.Series(dtype=float)
    return str(drift.idxmax()) if drift.notna().any() else (features[0] if features else None)


def plot_dashboard(windows: pd.DataFrame, *, baseline_mae: float, metric: str = "mae", feature: str | None = None,
                   last: int | None = None, active_alerts: int | None = None, alert_times: Sequence | None = None,
                   compact: bool = False):
    """Draw the six-panel dashboard; return the matplotlib Figure.

    ``metric`` (a key of :data:`METRICS`) is drawn on the performance panel against the baseline;
    ``feature`` is highlighted in the drift heatmap and its freshness shown with data quality
    (default: the numerical feature with the largest drift); ``last`` keeps the last windows only
    (slice ``windows`` for another period); ``alert_times`` are marked on the performance panel.
    ``compact`` leaves out the summary panel and most legends: the figure the widget redraws.
    """
    import matplotlib.pyplot as plt

    f = "plot_dashboard"
    check_choice(metric, "metric", list(METRICS), func=f)
    w = _check_windows(windows, f)
    if last is not None:
        w = w.tail(check_int(last, "last", func=f, low=1, fix="pass e.g. last=30, or None for all windows"))
    features = _drift_features(w)
    if feature is not None:
        check_choice(feature, "feature", features, func=f)
    feature = feature or _default_feature(w, features)
    fig = plt.figure(figsize=_FIGSIZE[compact])
    grid, top = _layout(fig, compact)
    if not compact:  # 1 - executive summary
        ax = fig.add_subplot(grid[0, :])
        ax.axis("off")
        for i, (label, value, sub, icon) in enumerate(_cards(summary(w, baseline_mae=baseline_mae,
                                                                     active_alerts=active_alerts))):
            cx = 0.1 + i * 0.2
            ax.text(cx, 0.88, label, ha="center", fontsize=10, color="#455a64", transform=ax.transAxes)
            ax.text(cx, 0.45, f"{value} {_GLYPH.get(icon, icon)}".strip(), ha="center", fontsize=18,
                    weight="bold", color=_TONE[icon], transform=ax.transAxes)
            ax.text(cx, 0.02, sub, ha="center", fontsize=9, color="#607d8b", transform=ax.transAxes)
        ax.set_title(f"{TITLE} · {w.index[0]:%Y-%m-%d} to {w.index[-1]:%Y-%m-%d}", fontsize=13, loc="left")
    panels = _Panels(fig, grid, top, w, baseline_mae=baseline_mae, alert_times=alert_times, compact=compact)
    panels.show(last=len(w), metric=metric, feature=feature)
    return fig


_FIGSIZE = {True: (13, 7.0), False: (13, 8.8)}


def _layout(fig, compact: bool):
    """The grid and the row where panels 2-6 start (a fixed grid: a layout engine doubles the drawing time)."""
    if compact:
        return fig.add_gridspec(2, 3, left=0.07, right=0.95, top=0.95, bottom=0.08, hspace=0.38, wspace=0.32), 0
    return fig.add_gridspec(3, 3, height_ratios=[0.45, 1, 1], left=0.07, right=0.95, top=0.95, bottom=0.06,
                            hspace=0.38, wspace=0.32), 1


class _Panels:
    """Panels 2-6 on one figure, drawn once from every window; ``show()`` picks the windows, metric
    and feature on view by moving limits and swapping data. The widget keeps one alive (a redraw
    costs half a rebuild); :func:`plot_dashboard` uses it once, so both draw the same panels."""

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
        quality = {"missing values": column("missing_share"), "out of range": column("out_of_range_share"),
                   "missing rows": 1 - column("completeness")}  # the last one: outages, missing hours
        for label, values in quality.items():
            if np.isfinite(values).any():
                ax.plot(x, np.clip(values, 0, None), lw=1, label=label)
                self.quality_values.append(values)
        self.ages = {f: w[f"age_{f}"].to_numpy(dtype=float) / 3600 for f in self.features
                     if f"age_{f}" in w.columns and w[f"age_{f}"].notna().any()}
        self.age_axis = self.age_line = None
        if self.ages:
            self.age_axis = ax.twinx()
            (self.age_line,) = self.age_axis.plot(x, nan, color="#6a1b9a", lw=1, ls="--")
            self.age_axis.set_ylabel("hours", fontsize=8)
        _title(ax, "Data quality" + (" (missing values, out of range, missing rows)" if compact else ""), fontsize=10)
        if not compact:
            _legend(ax, fontsize=7, loc="upper left")
        ax.tick_params(axis="x", labelbottom=False)
        ax = self.health = fig.add_subplot(sub[1], sharex=self.quality)
        latency = {label: column(f"latency_{label}") * 1000 for label in ("p99", "p95", "p50")}
        same = np.allclose(latency["p99"], latency["p50"], equal_nan=True)  # one request per window
        self.latency_values = [latency["p50"]] if same else list(latency.values())
        for label, style in [("p50", "-")] if same else [("p99", ":"), ("p95", "--"), ("p50", "-")]:
            ax.plot(x, latency[label], lw=1.2, ls=style, label="p50 = p95 = p99" if same else label)
        ax.set_ylabel("latency (ms)", fontsize=8)
        _title(ax, "System health" + ((": one request per window" if same else " (p50 —, p95 --, p99 ··)")
                                      if compact else ""), fontsize=10)
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
        _fit_y(self.perf, self.metric_values[metric][visible], references, headroom=0.3)
        self.perf.legend(handles=shown, fontsize=8, loc="upper left")
        _title(self.perf, f"Performance: {label}")

        room = 0.0 if self.compact else 0.35  # the full figure's legends sit above the curves
        _fit_y(self.dist, *(v[visible] for v in self.dist_values), headroom=room)
        _fit_y(self.quality, *(v[visible] for v in self.quality_values), headroom=room)
        _fit_y(self.health, *(v[visible] for v in self.latency_values), headroom=room / 2)

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


def _fit_y(ax, *arrays, margin: float = 0.05, headroom: float = 0.0) -> None:
    """Set the y limits to the finite values of ``arrays`` (what autoscaling would do for the
    visible windows only) with a small margin."""
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays]) if arrays else np.array([])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        ax.set_ylim(0, 1)
        return
    lo, hi = float(values.min()), float(values.max())
    pad = (hi - lo) * margin if hi > lo else max(abs(hi), 1.0) * 0.1
    ax.set_ylim(lo - pad, hi + pad + (hi - lo + 2 * pad) * headroom)  # headroom: room for a legend



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


_TONE = {"✓": "#2e7d32", "⚠": "#ef6c00", "❌": "#c62828", "": "#37474f"}


def _title(ax, text: str, **kwargs) -> None:
    """A panel title at a fixed height: automatic placement measures every tick label on every draw."""
    ax.set_title(text, y=1.0, **kwargs)


def _legend(ax, **kwargs) -> None:
    """A legend when the panel has labelled lines (a frame without those columns has none)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


_GLYPH = {"❌": "✗"}  # what fonts without emoji (matplotlib's, headless browsers') can draw


def _cards(s: DashboardSummary) -> list[tuple[str, str, str, str]]:
    """The summary cards: (label, value, note saying which windows, status icon)."""
    recent = f"{s.error_windows[0]:%m-%d} to {s.error_windows[1]:%m-%d}" if s.error_windows else "none yet"
    quality = (f"{s.quality_signal}\non {s.quality_window:%Y-%m-%d}"
               if s.quality_window is not None else "no data-quality columns")
    return [
        ("Error, last labelled windows", f"{s.current_error:.1f}",
         f"{recent} · whole period {s.period_error:.1f}\nbaseline {s.baseline_error:.1f} · {s.error_ratio:.2f}×",
         s.status["error"]),
        ("Predictions served", f"{s.predictions_served:,}",
         f"{s.start:%Y-%m-%d} to {s.end:%Y-%m-%d}\nlabels arrived {s.label_coverage:.0%}", ""),
        ("Active alerts", "no rules yet" if s.active_alerts is None else str(s.active_alerts), "now",
         _alert_icon(s.active_alerts)),
        ("Largest drift, last window", f"{s.worst_drift:.2f}" if s.worst_feature else "-",
         f"{s.worst_feature or '-'} on {s.end:%Y-%m-%d}", s.status["drift"]),
        ("Bad data, worst window", f"{s.quality:.0%}" if s.quality_window is not None else "-", quality,
         s.status["data quality"]),
    ]


def _cards_html(s: DashboardSummary) -> str:
    """The summary cards as HTML (the widget shows them above the figure)."""
    cells = "".join(
        f"<div style='flex:1;text-align:center'><div style='color:#455a64'>{html.escape(label)}</div>"
        f"<div style='font-size:1.6em;font-weight:bold;color:{_TONE[icon]}'>"
        f"{html.escape(f'{value} {_GLYPH.get(icon, icon)}'.strip())}</div>"
        f"<div style='color:#607d8b;font-size:0.85em'>{html.escape(note).replace(chr(10), '<br>')}</div></div>"
        for label, value, note, icon in _cards(s))
    return (f"<div style='font-size:1.1em;margin:4px 0'>{html.escape(TITLE)} · {_span(s.start, s.end)}</div>"
            f"<div style='display:flex;gap:8px'>{cells}</div>")


def dashboard_widget(windows: pd.DataFrame, *, baseline_mae: float, alert_times: Sequence | None = None,
                     active_alerts: int | None = None):
    """The dashboard with controls for the windows shown, the feature and the metric.

    Returns an ``ipywidgets.VBox`` (controls, summary cards as HTML, a status line, the image). The
    compact figure of :func:`plot_dashboard` is drawn once; a moved control only changes limits and
    data before one redraw into a PNG. ``box.controls`` holds the controls (``last``, ``feature``,
    ``metric``), ``box.figure`` the figure, ``box.render_ms`` the last redraw time.
    """
    import ipywidgets as widgets
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w = _check_windows(windows, "dashboard_widget")
    summary(w, baseline_mae=baseline_mae)  # explains a bad baseline_mae before any widget is built
    features = _drift_features(w) or ["-"]
    default = _default_feature(w, _drift_features(w)) or "-"
    n = len(w)
    last = widgets.IntSlider(value=n, min=min(7, n), max=n, description="windows", continuous_update=False)
    feature = widgets.Dropdown(options=features, value=default, description="feature")
    metric = widgets.Dropdown(options=list(METRICS), value="mae", description="metric")
    image, cards, status = widgets.Image(format="png", layout=widgets.Layout(width="100%")), widgets.HTML(), widgets.HTML()
    fig = Figure(figsize=_FIGSIZE[True])  # not a pyplot figure: it must not be shown inline by itself
    FigureCanvasAgg(fig)
    grid, top = _layout(fig, compact=True)
    panels = _Panels(fig, grid, top, w, baseline_mae=baseline_mae, alert_times=alert_times, compact=True)

    def render(*_):
        started = time.perf_counter()
        cards.value = _cards_html(summary(w.tail(last.value), baseline_mae=baseline_mae, active_alerts=active_alerts))
        panels.show(last=last.value, metric=metric.value, feature=feature.value)
        image.value = _png_bytes(fig, dpi=72)
        box.render_ms = 1000 * (time.perf_counter() - started)
        status.value = (f"<small>{metric.value} · last {last.value} windows · feature {feature.value} · "
                        f"drawn in {box.render_ms:.0f} ms</small>")

    box = widgets.VBox([widgets.HBox([last, feature, metric]), cards, status, image])
    box.controls, box.image, box.figure = {"last": last, "feature": feature, "metric": metric}, image, fig
    for control in (last, feature, metric):
        control.observe(render, names="value")
    render()
    return box


def export_html(windows: pd.DataFrame, path, *, baseline_mae: float, alert_times: Sequence | None = None,
                active_alerts: int | None = None, metrics: Sequence[str] = ("mae", "bias")) -> Path:
    """Write the dashboard as one self-contained HTML file (images embedded, opens offline), atomically;
    one dashboard image per metric of ``metrics``. Returns the path."""
    import matplotlib.pyplot as plt

    w = _check_windows(windows, "export_html")
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise fail("export_html", "path", "a file name ending in .html", str(path),
                   "e.g. artifacts_dir('dashboard') / 'dashboard.html'")
    images = []
    for metric in metrics:
        fig = plot_dashboard(w, baseline_mae=baseline_mae, metric=metric, alert_times=alert_times,
                             active_alerts=active_alerts)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        images.append((metric, base64.b64encode(buffer.getvalue()).decode("ascii")))
    table = summary(w, baseline_mae=baseline_mae, active_alerts=active_alerts).to_frame().to_html(escape=True)
    recent = w.tail(14)[[c for c in ("n", "label_coverage", "mae", "bias", "n_drifted", "missing_share",
                                     "latency_p95") if c in w.columns]].round(3)
    body = [
        f"<h1>{html.escape(TITLE)}</h1>",
        f"<p>{w.index[0]:%Y-%m-%d} to {w.index[-1]:%Y-%m-%d} · {len(w)} windows · generated by labkit</p>",
        "<h2>Executive summary</h2>", table,
        *[f'<h2>Dashboard ({html.escape(METRICS[m][0])})</h2><img alt="dashboard {html.escape(m)}" '
          f'src="data:image/png;base64,{data}">' for m, data in images],
        "<h2>Last 14 windows</h2>", recent.to_html(escape=True),
    ]
    style = ("body{font-family:sans-serif;margin:2em;color:#263238}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #cfd8dc;padding:4px 8px;text-align:right}")
    document = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(TITLE)}</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(path)
    logger.info("dashboard written to %s (%.1f kB)", path, path.stat().st_size / 1e3)
    return path
