"""Monitoring a model in production: log predictions, serve the model, windowed metrics, Prometheus, a dashboard.

* :mod:`labkit.monitoring.prediction_log`: asynchronous prediction and label logging (SQLite);
* :mod:`labkit.monitoring.service`: the model behind a predict call, and a replay of 2012 through it;
* :mod:`labkit.monitoring.windows`: the lecture's four signal families per time window;
* :mod:`labkit.monitoring.exporter`: the same signals as Prometheus metrics;
* :mod:`labkit.monitoring.dashboard`: matplotlib panels, ipywidgets controls, an HTML export.

Reference notes (guarantees, measurements, the metric contract): ``docs/monitoring.md``.
"""
