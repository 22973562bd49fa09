"""labkit.monitoring.dashboard: panels, summary, widget controls and the offline HTML export."""
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from labkit.monitoring import dashboard
from labkit.baseline import get_baseline, split_periods
from labkit.monitoring.windows import windowed_metrics


@pytest.fixture(scope="module")
def windows(hourly):
    model = get_baseline()
    _, _, production = split_periods(hourly)
    part = production[production["timestamp"] < "2012-03-01"]
    log = part[list(model.features)].assign(
        event_time=part["timestamp"].to_numpy(), prediction=model.predict(part), label=part["cnt"].astype(float),
        latency_seconds=np.linspace(0.001, 0.003, len(part)),
    )
    log.loc[log["event_time"] >= "2012-02-20", "label"] = np.nan  # labels not arrived yet
    return windowed_metrics(log, features=list(model.features), reference=model.reference)


def test_summary_reads_the_last_labelled_windows(windows):
    s = dashboard.summary(windows, baseline_mae=32.1)
    labelled = windows["mae"].dropna()
    assert s.current_error == pytest.approx(labelled.tail(7).mean())
    assert s.predictions_served == int(windows["n"].sum())
    assert 0 < s.label_coverage < 1
    assert set(s.status) == {"error", "drift", "data quality"}
    assert set(s.status.values()) <= set(dashboard.STATUS_ICONS.values())
    assert list(s.to_frame().columns) == ["value", "windows", "status"]
    assert s.error_windows == (labelled.tail(7).index[0], labelled.index[-1])
    assert s.period_error == pytest.approx(labelled.mean())
    assert (s.start, s.end) == (windows.index[0], windows.index[-1])


def test_status_levels():
    w = pd.DataFrame({"n": [24], "mae": [35.0], "drift_temp": [0.15], "missing_share": [0.0]},
                     index=pd.DatetimeIndex(["2012-01-01"]))
    s = dashboard.summary(w, baseline_mae=32.1)
    assert s.status == {"error": "✓", "drift": "⚠", "data quality": "✓"}
    limits = dashboard.StatusLimits(error_warn=1.0, error_alert=1.05, drift_alert=0.15)
    assert dashboard.summary(w, baseline_mae=32.1, limits=limits).status["error"] == "❌"
    with pytest.raises(ValueError, match=r"StatusLimits\(\): drift_warn: expected a finite number >= 0"):
        dashboard.StatusLimits(drift_warn=-1)


def test_no_check_mark_while_any_window_shown_is_out_of_bounds():
    """Issue 15: out of range all summer, or rows missing (an outage), is never summarised as ✓."""
    days = pd.date_range("2012-06-01", periods=5, freq="D")
    w = pd.DataFrame({"n": [24, 24, 1, 24, 24], "mae": 40.0, "missing_share": 0.0,
                      "out_of_range_share": [0.0, 0.0, 0.0, 0.0, 0.0], "completeness": [1, 1, 1 / 24, 1, 1]}, index=days)
    s = dashboard.summary(w, baseline_mae=32.1)
    assert s.status["data quality"] == "❌" and s.quality_signal == "missing rows"
    assert s.quality == pytest.approx(23 / 24) and s.quality_window == days[2]
    summer = w.assign(completeness=1.0, out_of_range_share=[0.0, 1.0, 0.9, 0.0, 0.0])
    s = dashboard.summary(summer, baseline_mae=32.1)
    assert (s.status["data quality"], s.quality_signal, s.quality_window) == ("❌", "out of range", days[1])
    assert dashboard.summary(summer.tail(2), baseline_mae=32.1).status["data quality"] == "✓"  # the period shown
    card = dashboard._cards(s)[-1]
    assert card == ("Bad data, worst window", "100%", "out of range\non 2012-06-02", "❌")  # 100% is the bad share


def test_alerts_say_no_rules_yet_until_rules_exist(windows):
    s = dashboard.summary(windows, baseline_mae=32.1)
    assert s.active_alerts is None and s.to_frame().loc["Active alerts", "value"] == "no rules yet"
    assert s.to_frame().loc["Active alerts", "status"] == ""
    assert dashboard._cards(s)[2] == ("Active alerts", "no rules yet", "now", "")
    assert dashboard._cards(dashboard.summary(windows, baseline_mae=32.1, active_alerts=0))[2][3] == "✓"
    assert dashboard._cards(dashboard.summary(windows, baseline_mae=32.1, active_alerts=2))[2][1:] == ("2", "now", "❌")
    box = dashboard.dashboard_widget(windows, baseline_mae=32.1)
    assert "no rules yet" in box.children[1].value and "❌" not in box.children[1].value  # ✗ draws in any font


def test_each_card_states_the_windows_it_covers(windows):
    s = dashboard.summary(windows, baseline_mae=32.1)
    error, served, _, drift_card, quality = dashboard._cards(s)
    first, last = s.error_windows
    assert f"{first:%m-%d} to {last:%m-%d}" in error[2] and f"whole period {s.period_error:.1f}" in error[2]
    assert f"{s.start:%Y-%m-%d} to {s.end:%Y-%m-%d}" in served[2]
    assert f"on {s.end:%Y-%m-%d}" in drift_card[2] and "last window" in drift_card[0]
    assert "worst window" in quality[0]


def test_default_feature_is_the_numerical_one_that_drifts_most(windows):
    weather = [f for f, kind in windows.attrs["kinds"].items() if kind == "numerical"]
    expected = windows[[f"drift_{f}" for f in weather]].mean().idxmax()[len("drift_"):]
    box = dashboard.dashboard_widget(windows, baseline_mae=32.1)
    assert box.controls["feature"].value == expected and expected in ("temp", "atemp", "hum", "windspeed")


def test_plot_has_six_panels_and_follows_controls(windows):
    fig = dashboard.plot_dashboard(windows, baseline_mae=32.1, feature="temp", metric="rmse", last=20)
    titles = " | ".join(ax.get_title(loc) for ax in fig.axes for loc in ("left", "center"))
    for word in ["monitoring", "Performance: RMSE", "Prediction distribution", "Drift per feature",
                 "Data quality", "System health"]:
        assert word in titles
    assert "2012-02-10" in fig.axes[0].get_title("left")  # the last 20 windows of Jan-Feb start on Feb 10


@pytest.mark.parametrize("kwargs, match", [
    ({"metric": "accuracy"}, "metric: expected one of"),
    ({"feature": "rain"}, r"feature: expected one of \['season', .*got 'rain'"),
    ({"last": 0}, "last: expected an int >= 1, got 0"),
], ids=["metric", "feature", "last"])
def test_bad_controls_are_explained(windows, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dashboard.plot_dashboard(windows, baseline_mae=32.1, **kwargs)


def test_bad_windows_are_explained():
    with pytest.raises(TypeError, match="windowed_metrics"):
        dashboard.summary([1, 2], baseline_mae=1.0)
    with pytest.raises(ValueError, match="baseline_mae: expected a finite number > 0"):
        dashboard.summary(pd.DataFrame({"n": [1]}, index=pd.DatetimeIndex(["2012-01-01"])), baseline_mae=0)


def test_widget_redraws_when_a_control_moves(windows):
    box = dashboard.dashboard_widget(windows, baseline_mae=32.1)
    assert set(box.controls) == {"last", "feature", "metric"}
    first = box.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    box.controls["last"].value = 10
    assert box.image.value != first, "moving the slider must redraw the dashboard"
    after_slider = box.image.value
    box.controls["metric"].value = "bias"
    assert box.image.value != after_slider
    assert box.render_ms > 0


def test_html_export_is_one_offline_file(windows, tmp_path):
    path = dashboard.export_html(windows, tmp_path / "dash" / "dashboard.html", baseline_mae=32.1)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("data:image/png;base64,") == 2
    assert not re.search(r"(src|href)=[\"']https?://", text), "the file must not load anything from the network"
    assert "Executive summary" in text and not list(path.parent.glob("*.tmp"))
    with pytest.raises(ValueError, match="ending in .html"):
        dashboard.export_html(windows, tmp_path / "x.png", baseline_mae=32.1)


def test_compact_figure_leaves_the_summary_to_html(windows):
    full = dashboard.plot_dashboard(windows, baseline_mae=32.1)
    compact = dashboard.plot_dashboard(windows, baseline_mae=32.1, compact=True)
    assert "monitoring" in full.axes[0].get_title("left")
    assert not any("monitoring" in ax.get_title("left") for ax in compact.axes)
    assert sum(ax.get_legend() is not None for ax in compact.axes) == 1  # only the performance panel
    box = dashboard.dashboard_widget(windows, baseline_mae=32.1)
    cards = box.children[1].value
    assert "Predictions served" in cards and f"{int(windows['n'].sum()):,}" in cards


def test_widget_redraws_one_kept_figure_fitted_to_the_windows_shown(windows):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    box = dashboard.dashboard_widget(windows, baseline_mae=32.1)
    performance, heatmap = box.figure.axes[0], box.figure.axes[2]
    assert plt.get_fignums() == before, "the widget's figure must not be a pyplot figure (it would show inline)"
    _, high_all = performance.get_ylim()
    box.controls["last"].value = 20  # the last 10 windows have no labels yet
    shown = windows["mae"].tail(20).dropna()
    low, high = performance.get_ylim()
    assert low <= min(shown.min(), 32.1) and high >= max(shown.max(), 1.5 * 32.1)
    assert high < high_all or shown.max() == windows["mae"].max(), "y limits follow the windows shown"
    line = performance.lines[0].get_ydata()[-20:]
    assert high - np.nanmax(line) >= 0.25 * (np.nanmax(line) - low), "room above the curves for the legend"
    assert len(shown) and heatmap.get_xlim() == (len(windows) - 20, len(windows))
    left, right = performance.get_xlim()
    first, last = matplotlib.dates.date2num([windows.index[-20], windows.index[-1]])
    assert left < first < last < right and (right - left) < 1.2 * (last - first), "x limits: the windows shown"
    box.controls["metric"].value = "r2"
    assert performance.get_title() == "Performance: R²"
    assert [line.get_visible() for line in performance.lines[1:3]] == [False, False], "MAE reference lines hidden"
    rows = [p.get_y() for p in heatmap.patches]
    box.controls["feature"].value = "hum"
    assert [p.get_y() for p in heatmap.patches] != rows, "the highlighted heatmap row follows the feature"
    assert plt.get_fignums() == before


def test_widget_and_static_figure_draw_the_same_panels(windows):
    box = dashboard.dashboard_widget(windows, baseline_mae=32.1)
    fig = dashboard.plot_dashboard(windows, baseline_mae=32.1, compact=True)
    assert [ax.get_title() for ax in box.figure.axes] == [ax.get_title() for ax in fig.axes]


@pytest.mark.parametrize("columns", [["n"], ["n", "mae"], ["n", "mae", "drift_temp"]])
def test_dashboard_draws_sparse_and_single_window_frames(columns):
    for periods in (1, 3):
        w = pd.DataFrame({"n": 24, "mae": 40.0, "drift_temp": 0.2}, index=pd.date_range("2012-01-01", periods=periods))
        w = w[columns]
        dashboard.plot_dashboard(w, baseline_mae=32.1)
        box = dashboard.dashboard_widget(w, baseline_mae=32.1)
        assert box.image.value[:4] == b"\x89PNG"
