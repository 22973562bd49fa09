"""Configure the lab's own JupyterLab for offline use (run once by ``make setup``).

JupyterLab asks the internet for news, for newer JupyterLab releases and, in its extension
manager, for PyPI listings. A classroom lab should do none of that. This writes two small
files inside the active environment (never into the user's home):

* ``<prefix>/share/jupyter/lab/settings/overrides.json``: front-end defaults (news and
  update checks off);
* ``<prefix>/etc/jupyter/jupyter_server_config.d/labkit-offline.json``: server-side settings
  (no news URL, never check for updates, read-only extension manager).

Run it again at any time: ``python -m labkit.setup_lab``; :func:`missing_settings` says which
files still lack the settings (``labkit doctor`` reports them).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["FRONTEND_OVERRIDES", "SERVER_CONFIG", "settings_files", "configure", "missing_settings", "main"]

FRONTEND_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"}}

SERVER_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly",
    }
}


def settings_files(prefix: str | Path | None = None) -> dict[Path, dict]:
    """The two settings files under ``prefix`` (default: the running environment) and what each must hold."""
    root = Path(prefix if prefix is not None else sys.prefix)
    return {
        root / "share" / "jupyter" / "lab" / "settings" / "overrides.json": FRONTEND_OVERRIDES,
        root / "etc" / "jupyter" / "jupyter_server_config.d" / "labkit-offline.json": SERVER_CONFIG,
    }


def _read(path: Path) -> dict:
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return current if isinstance(current, dict) else {}


def configure(prefix: str | Path | None = None) -> list[Path]:
    """Write the offline settings under ``prefix`` (default: the running environment), keeping other settings."""
    for path, update in settings_files(prefix).items():
        current = _read(path)
        for section, values in update.items():
            kept = current.get(section) if isinstance(current.get(section), dict) else {}
            current[section] = {**kept, **values}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    return list(settings_files(prefix))


def missing_settings(prefix: str | Path | None = None) -> list[Path]:
    """The settings files under ``prefix`` that do not (yet) hold every offline setting."""
    missing = []
    for path, wanted in settings_files(prefix).items():
        current = _read(path)
        if any(not isinstance(current.get(section), dict) or any(current[section].get(k) != v for k, v in values.items())
               for section, values in wanted.items()):
            missing.append(path)
    return missing


def main() -> int:
    for path in configure():
        print(f"labkit: offline JupyterLab settings written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
