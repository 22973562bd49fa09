"""The lab stays offline: telemetry off without overriding the user, and no notebook opens a
connection to anything but loopback.

The notebooks themselves are guarded inside nbval's own run (root ``conftest.py`` puts
``tools/network_guard`` first on every notebook kernel's ``PYTHONPATH``), so each of the twelve runs
once. The tests here prove the guard blocks, that a notebook cell which reaches out fails even when it
swallows the error, and that every notebook is covered.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib

import nbformat

from labkit._offline import OFFLINE_DEFAULTS
from labkit.paths import REPO_ROOT

GUARD = REPO_ROOT / "tools" / "network_guard"
NOTEBOOKS = sorted(REPO_ROOT.glob("solutions/*.ipynb")) + sorted(REPO_ROOT.glob("notebooks/*.ipynb"))
REACH_OUT = "import socket\nsocket.create_connection(('93.184.216.34', 80), timeout=1)"


def _run(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_sets_offline_defaults():
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS}
    code = "import os, json, labkit; print(json.dumps({k: os.environ.get(k) for k in %r}))" % list(OFFLINE_DEFAULTS)
    assert json.loads(_run(code, env)) == OFFLINE_DEFAULTS


def test_import_keeps_the_users_own_settings_and_remembers_them():
    env = {**{k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS},
           "DO_NOT_TRACK": "0", "TRANSFORMERS_VERBOSITY": "info"}
    code = ("import os, json, labkit; from labkit._offline import user_settings; "
            "print(json.dumps([os.environ['DO_NOT_TRACK'], os.environ['TRANSFORMERS_VERBOSITY'], user_settings()]))")
    assert json.loads(_run(code, env)) == ["0", "info", {"DO_NOT_TRACK": "0", "TRANSFORMERS_VERBOSITY": "info"}]


def test_guard_really_blocks(tmp_path):
    log = tmp_path / "blocked.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(GUARD), os.environ.get("PYTHONPATH", "")]),
           "LABKIT_NET_GUARD_LOG": str(log)}
    code = ("import socket\n"
            "try:\n    socket.socket().connect(('93.184.216.34', 80))\n"
            "except OSError as e:\n    print('blocked' if 'network guard' in str(e) else 'other: %s' % e)\n"
            "try:\n    socket.getaddrinfo('pypi.org', 443)\n"
            "except OSError as e:\n    print('blocked' if 'network guard' in str(e) else 'other: %s' % e)\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
            "socket.create_connection(s.getsockname(), timeout=1); print('loopback ok')\n")
    assert _run(code, env).splitlines() == ["blocked", "blocked", "loopback ok"]
    assert [json.loads(line)["call"] for line in log.read_text().splitlines()] == ["connect", "getaddrinfo"]


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_notebook_that_reaches_out_fails_under_nbval():
    """The same conftest that guards the twelve notebooks, on two probe notebooks: one swallows the
    refused connection (as telemetry would) and must still fail; one talks to loopback only and passes."""
    probes = REPO_ROOT / "runs" / "pytest" / f"guard-probe-{os.getpid()}"
    probes.mkdir(parents=True, exist_ok=True)
    _notebook(probes / "reaches_out.ipynb", "x = 1",
              f"try:\n    {REACH_OUT.replace(chr(10), chr(10) + '    ')}\nexcept OSError:\n    pass  # silently")
    _notebook(probes / "loopback.ipynb", "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
              "socket.create_connection(s.getsockname(), timeout=1).close()")
    env = {**os.environ, "PYTEST_XDIST_WORKER": f"{probes.name}-run"}  # its own artifacts folder
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
                               str(probes)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(probes, ignore_errors=True)
        shutil.rmtree(probes.with_name(f"{probes.name}-run"), ignore_errors=True)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 failed, 2 passed" in out, out
    assert "FAILED runs/pytest/" in out and "reaches_out.ipynb::Cell 1" in out and "network guard" in out, out
    assert "93.184.216.34" in out


def test_every_notebook_runs_behind_the_guard():
    """nbval collects all twelve notebooks (testpaths), and the guard applies to every ``.ipynb`` item."""
    testpaths = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    assert {"solutions", "notebooks"} <= set(testpaths)
    assert len(NOTEBOOKS) == 12 and [p.name for p in NOTEBOOKS[:6]] == [p.name for p in NOTEBOOKS[6:]]
    conftest = (REPO_ROOT / "conftest.py").read_text()
    assert 'path.suffix == ".ipynb"' in conftest and "tools\" / \"network_guard\"" in conftest
    assert (GUARD / "sitecustomize.py").is_file()

