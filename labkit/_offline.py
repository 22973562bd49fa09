"""Keep the lab offline and quiet, without overriding a user's own settings (shared internal).

``import labkit`` calls :func:`apply`, which sets each of :data:`OFFLINE_DEFAULTS` that the user has
not set and records what the environment held before, so ``labkit doctor`` can tell a setting the
user made from a default labkit applied (:func:`user_settings`).
"""
import os

#: Environment variables labkit sets when they are not set already.
OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "1",  # Evidently telemetry off
    "TRANSFORMERS_VERBOSITY": "error",  # alibi-detect imports transformers, which prints an advisory
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # no download bar when a registered model is loaded  # MLflow 3 sends usage telemetry unless told (it reads DO_NOT_TRACK only as "true")
}
#: The defaults that keep the lab off the network (the others only keep it quiet).
NETWORK_VARIABLES = ("DO_NOT_TRACK", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "MLFLOW_DISABLE_TELEMETRY")

_before: dict = {}  # each default's value before the first apply() (None: unset)


def apply() -> dict:
    """Set each offline default unless the user already set that variable; return what was set."""
    if not _before:
        _before.update({name: os.environ.get(name) for name in OFFLINE_DEFAULTS})
    applied = {}
    for name, value in OFFLINE_DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = value
            applied[name] = value
    return applied


def user_settings() -> dict:
    """The offline variables the user had set before labkit applied its defaults, ``{name: value}``."""
    before = _before or {name: os.environ.get(name) for name in OFFLINE_DEFAULTS}
    return {name: value for name, value in before.items() if value is not None}
