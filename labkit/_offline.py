"""Keep the lab offline and quiet, without overriding a user's own settings."""
import os

#: Environment variables labkit sets when they are not set already.
OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "1",  # Evidently telemetry off
    "TRANSFORMERS_VERBOSITY": "error",  # alibi-detect imports transformers, which prints an advisory
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def apply() -> dict:
    """Set each offline default unless the user already set that variable; return what was set."""
    applied = {}
    for name, value in OFFLINE_DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = value
            applied[name] = value
    return applied
