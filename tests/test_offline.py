"""The lab stays offline: telemetry off without overriding the user, and no notebook opens a
connection to anything but loopback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from labkit.paths import REPO_ROOT
from labkit._offline import OFFLINE_DEFAULTS

GUARD = textwrap.dedent('''
    """Installed as sitecustomize by tests/test_offline.py: refuse and record non-loopback connections."""
    import ipaddress, json, os, socket

    _LOG = os.environ.get("LABKIT_NET_GUARD_LOG")

    def _local(host):
        if host in ("localhost", "", None):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False

    def _refuse(what, target):
        if _LOG:
            with open(_LOG, "a") as fh:
                fh.write(json.dumps({"call": what, "target": repr(target)}) + "\\n")
        raise OSError(f"network guard: {what} to {target!r} blocked (the lab must run offline)")

    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse("connect", address)
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse("connect_ex", address)
        return _connect_ex(self, address)

    def sendto(self, data, *args):
        address = args[-1]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse("sendto", address)
        return _sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if not _local(name):
            _refuse("getaddrinfo", name)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo
''')


def _run(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_sets_offline_defaults():
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS}
    code = "import os, json, labkit; print(json.dumps({k: os.environ.get(k) for k in %r}))" % list(OFFLINE_DEFAULTS)
    assert json.loads(_run(code, env)) == OFFLINE_DEFAULTS


def test_import_keeps_the_users_own_settings():
    env = {**os.environ, "DO_NOT_TRACK": "0", "TRANSFORMERS_VERBOSITY": "info"}
    code = "import os, labkit; print(os.environ['DO_NOT_TRACK'], os.environ['TRANSFORMERS_VERBOSITY'])"
    assert _run(code, env) == "0 info"


@pytest.fixture
def network_guard(tmp_path, monkeypatch):
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "blocked.jsonl"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(guard_dir), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("LABKIT_NET_GUARD_LOG", str(log))
    return log


def test_guard_really_blocks(network_guard):
    code = ("import socket\n"
            "try:\n    socket.create_connection(('93.184.216.34', 80), timeout=1)\n"
            "except OSError as e:\n    print('blocked' if 'network guard' in str(e) else 'other: %s' % e)\n")
    assert _run(code, dict(os.environ)) == "blocked"
    assert len(network_guard.read_text().splitlines()) == 1


# Notebooks that import the heavy libraries (Evidently, alibi-detect) belong here as they land.
# 03 imports Evidently and alibi-detect and runs them; 05 sends notifications (dry-run, loopback).
OFFLINE_NOTEBOOKS = ["solutions/03_detect_drift.ipynb", "solutions/05_alerting.ipynb"]


@pytest.mark.parametrize("relpath", OFFLINE_NOTEBOOKS)
def test_notebook_runs_without_network(relpath, network_guard, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "runs"))
    # Import the libraries a learner meets too, so their import-time behaviour is covered.
    path = REPO_ROOT / relpath
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import evidently, alibi_detect.cd"))
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    blocked = network_guard.read_text() if network_guard.exists() else ""
    assert blocked == "", f"{relpath} tried to reach the network:\n{blocked}"
