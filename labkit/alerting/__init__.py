"""Alerting: :mod:`~labkit.alerting.rules` and their engine, :mod:`~labkit.alerting.notifiers`,
:mod:`~labkit.alerting.triggers` (the one retraining-trigger protocol of notebooks 05 and 06) and
:mod:`~labkit.alerting.prometheus` (the rules as a Prometheus rules file). Notes: ``docs/alerting.md``.
"""
