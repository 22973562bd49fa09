"""Configure the lab's own JupyterLab for offline use (run once by ``make setup``).

JupyterLab asks the internet for news, for newer JupyterLab releases and, in its extension
manager, for PyPI listings. A classroom lab should do none of that. This writes two small
files inside the active environment (never into the user's home):

* ``<prefix>/share/jupyter/lab/settings/overrides.json``: front-end defaults (news and
  update checks off);
* ``<prefix>/etc/jupyter/jupyter_server_config.d/labkit-offline.json``: server-side settings
  (no news URL, never check for updates, read-only extension manager).

Run it again at any time: ``python -m labkit.setup_lab``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["FRONTEND_OVERRIDES", "SERVER_CONFIG", "configure", "main"]

FRONTEND_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "checkForUpdates": False,
        "fetchNews": "false",
    }
}

SERVER_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly",
    }
}


def _merge_json(path: Path, update: dict) -> None:
    current = {}
    if path.exists():
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            current = {}
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            current[key] = {**current[key], **value}
        else:
            current[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")


def configure(prefix: str | Path | None = None) -> list[Path]:
    """Write the offline settings under ``prefix`` (default: the running environment)."""
    root = Path(prefix if prefix is not None else sys.prefix)
    overrides = root / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    server = root / "etc" / "jupyter" / "jupyter_server_config.d" / "labkit-offline.json"
    _merge_json(overrides, FRONTEND_OVERRIDES)
    _merge_json(server, SERVER_CONFIG)
    return [overrides, server]


def main() -> int:
    for path in configure():
        print(f"labkit: offline JupyterLab settings written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
