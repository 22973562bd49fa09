"""Alerting: rules and their engine, notifiers, retraining triggers, the rules as Prometheus YAML.

* :mod:`labkit.alerting.rules`: alert rules evaluated with Prometheus semantics, the alert history;
* :mod:`labkit.alerting.notifiers`: console, file and webhook notifiers that never lose an alert;
* :mod:`labkit.alerting.triggers`: the one retraining-trigger protocol (notebooks 05 and 06);
* :mod:`labkit.alerting.prometheus`: the rules as a Prometheus rules file, and promtool.

Reference notes: ``docs/alerting.md``.
"""
