"""Benchmark the monitoring path: prediction logging, the 2012 replay and a dashboard redraw.

Run in one process (it writes only to a temporary folder):

    python benchmarks/bench_monitoring.py

Prints measured figures against the course's targets:

* logging: >= 100,000 records/s end to end (first ``log`` call until ``close`` returns with every
  record committed to SQLite), the caller's ``log`` p99 <= 10 µs, nothing lost with 8 threads x
  25,000 records;
* replaying 2012 through the logged model service with labels and metrics: a few seconds;
* a dashboard widget interaction: redrawn in under 200 ms.
"""
from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import threading
import time
import warnings

os.environ.setdefault("DO_NOT_TRACK", "1")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def bench_logging(folder: str, n: int, threads: int) -> tuple[float, float, float, int]:
    """Records/s end to end, log() p50 and p99 in µs, and the number of records missing afterwards."""
    from labkit.data import FEATURES
    from labkit.monitoring.prediction_log import PredictionLogger

    rows = [{k: (0.5 if k in ("temp", "atemp", "hum", "windspeed") else 3) for k in FEATURES} for _ in range(64)]
    path = os.path.join(folder, f"log_{threads}x{n}.sqlite")
    logger = PredictionLogger(path, features=FEATURES, model_version="bench")
    latencies: list = [None] * threads

    def work(t: int) -> None:
        clock, log = time.perf_counter, logger.log
        out = np.empty(n)
        for i in range(n):
            started = clock()
            log(rows[i & 63], 100.0 + i, latency_seconds=0.001)
            out[i] = clock() - started
        latencies[t] = out

    t0 = time.perf_counter()
    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    logger.close()
    elapsed = time.perf_counter() - t0
    with sqlite3.connect(path) as con:
        stored = con.execute("select count(*) from predictions").fetchone()[0]
    lat = np.concatenate(latencies)
    return n * threads / elapsed, np.percentile(lat, 50) * 1e6, np.percentile(lat, 99) * 1e6, n * threads - stored


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    folder = tempfile.mkdtemp(prefix="labkit-bench-")
    os.environ["LABKIT_ARTIFACTS"] = folder
    from labkit.monitoring import dashboard
    from labkit.baseline import get_baseline
    from labkit.monitoring.service import replay

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; temporary folder {folder}\n")
    print("Prediction logging (SQLite, WAL, background writer)")
    for n, threads in [(100_000, 1), (25_000, 8)]:
        bench_logging(folder, 2_000, threads)  # warm-up
        rate, p50, p99, lost = bench_logging(folder, n, threads)
        print(f"  {threads} thread(s) x {n:,}: {rate:,.0f} records/s end to end "
              f"(target >= 100,000: {rate / 100_000:.2f}x); log() p50 {p50:.1f} µs, p99 {p99:.1f} µs "
              f"(target <= 10 µs); records lost: {lost}")

    get_baseline()  # trains and caches the model in the temporary folder; not timed
    print("\nReplay of 2012 through the logged model service (366 daily requests, labels 2 days late)")
    started = time.perf_counter()
    run = replay(progress=False)
    replay_s = time.perf_counter() - started
    started = time.perf_counter()
    windows = run.windows()
    windows_s = time.perf_counter() - started
    run.service.close()
    print(f"  {run.n_predictions:,} predictions and {run.n_labels:,} labels: replay {replay_s:.2f} s, "
          f"daily windowed metrics {windows_s:.2f} s")

    print("\nDashboard widget: redraw after a control moves (PNG at 72 dpi)")
    box = dashboard.dashboard_widget(windows, baseline_mae=get_baseline().metrics["mae"])
    times = []
    for value in [300, 200, 120, 60, 30, 366, 250, 90, 45, 180]:
        box.controls["last"].value = value
        times.append(box.render_ms)
    for metric in ["rmse", "bias", "r2", "mae"]:
        box.controls["metric"].value = metric
        times.append(box.render_ms)
    for feature in box.controls["feature"].options[:6]:
        box.controls["feature"].value = feature
        times.append(box.render_ms)
    times = np.array(times)
    print(f"  {len(times)} interactions (window slider, metric, feature): median {np.median(times):.0f} ms, "
          f"p90 {np.percentile(times, 90):.0f} ms, max {times.max():.0f} ms "
          f"(target < 200 ms: median is {np.median(times) / 200:.2f}x the budget, max {times.max() / 200:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
