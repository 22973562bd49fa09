"""labkit doctor: each check reports what it found and, for every problem, how to fix it."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest
from packaging.utils import canonicalize_name

from labkit.doctor import (
    KEY_PACKAGES,
    Diagnosis,
    check_artifacts,
    check_data,
    check_kernel,
    check_offline,
    check_packages,
    check_promtool,
    check_python,
    check_widgets,
    format_report,
    read_lock,
    run_checks,
    to_json,
)
from labkit.setup_lab import configure


def fake_versions(**versions):
    def version(name):
        key = name.replace("-", "_")
        if key not in versions:
            raise importlib.metadata.PackageNotFoundError(name)
        return versions[key]

    return version


@pytest.mark.parametrize(
    ("version", "status"),
    [((3, 9, 18), "fail"), ((3, 10, 14), "warn"), ((3, 11, 9), "ok"), ((3, 12, 4), "warn"), ((3, 13, 0), "fail")],
    ids=["3.9", "3.10", "3.11", "3.12", "3.13"],
)
def test_python_version_against_the_supported_range(version, status):
    result = check_python(version, supported=">=3.10,<3.13")
    assert result.status == status
    if status == "fail":
        assert "python3.11" in result.fix and result.required


def test_the_supported_range_comes_from_pyproject():
    assert check_python().expected.startswith(">=3.10,<3.13")


def test_packages_against_the_lock():
    lock = {"pandas": "2.3.3", "numpy": "1.26.4", "scipy": "1.17.1", "nbval": "0.11.0"}
    results = {d.name: d for d in check_packages(
        lock, packages=["pandas", "numpy", "scipy", "nbval", "evidently"],
        version=fake_versions(pandas="2.3.3", numpy="2.0.1", scipy="1.17.0", evidently="0.7.23"),
    )}
    assert results["pandas"].status == "ok"
    assert results["numpy"].status == "fail" and results["numpy"].expected == "1.26.4"
    assert "pip install -r requirements.lock" in results["numpy"].fix
    assert results["scipy"].status == "warn" and not results["scipy"].required  # another patch release
    assert results["nbval"].status == "fail" and results["nbval"].found == "not installed"
    assert results["evidently"].status == "warn"  # not pinned in this (partial) lock


def test_the_lock_pins_every_key_package():
    lock = read_lock()
    assert all(canonicalize_name(p) in lock for p in KEY_PACKAGES)


def test_a_missing_widget_front_end_fails_with_its_fix():
    result = check_widgets(version=fake_versions(ipywidgets="8.1.9"))
    assert result.status == "fail" and "widgets show as text" in result.found
    assert result.fix.startswith("pip install jupyterlab_widgets==")
    mismatch = check_widgets(version=fake_versions(ipywidgets="8.1.9", jupyterlab_widgets="1.1.0"))
    assert mismatch.status == "fail" and mismatch.expected == "jupyterlab_widgets 3.x"


def test_a_stray_kernel_spec_is_reported(tmp_path, monkeypatch):
    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": ["/opt/other/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    result = check_kernel()
    assert result.status == "warn" and "/opt/other/bin/python" in result.found
    assert "jupyter kernelspec remove python3" in result.fix
    assert check_kernel("no-such-kernel").status == "fail"


def test_the_data_checksum(tmp_path):
    assert check_data().status == "ok"
    bad = tmp_path / "hour.csv"
    bad.write_text("instant,dteday\n1,2011-01-01\n")
    result = check_data(bad)
    assert result.status == "fail" and "truncated" in result.found
    assert "git checkout -- data/hour.csv" in result.fix
    assert check_data(tmp_path / "missing.csv").status == "fail"


def test_the_artifacts_folder_must_be_writable(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "runs"))
    assert check_artifacts().status == "ok"
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("LABKIT_ARTIFACTS", str(tmp_path / "file" / "runs"))
    result = check_artifacts()
    assert result.status == "fail" and "LABKIT_ARTIFACTS" in result.fix


def test_promtool_is_optional():
    result = check_promtool(which=lambda name: None)
    assert result.status == "warn" and not result.required and "apt-get install prometheus" in result.fix


def test_offline_settings(tmp_path):
    variables, lab = check_offline(prefix=tmp_path, env={"DO_NOT_TRACK": "0"})
    assert variables.status == "fail" and variables.required and "set by you: DO_NOT_TRACK=0" in variables.found
    assert "unset DO_NOT_TRACK" in variables.fix
    assert lab.status == "warn" and "labkit.setup_lab" in lab.fix
    configure(prefix=tmp_path)
    variables, lab = check_offline(prefix=tmp_path, env={})
    assert variables.status == "ok" and lab.status == "ok"
    assert variables.found.startswith("labkit's defaults on import: DO_NOT_TRACK=1")
    quiet = check_offline(prefix=tmp_path, env={"TRANSFORMERS_VERBOSITY": "info", "HF_HUB_OFFLINE": "true"})[0]
    assert quiet.status == "warn" and not quiet.required and "set by you: " in quiet.found


@pytest.mark.parametrize(("environment", "status", "found"), [
    ({}, "ok", "labkit's defaults on import: DO_NOT_TRACK=1, TRANSFORMERS_VERBOSITY=error, HF_HUB_OFFLINE=1, "
               "TRANSFORMERS_OFFLINE=1"),
    ({"DO_NOT_TRACK": "1"}, "ok", "set by you: DO_NOT_TRACK=1; labkit's defaults on import: TRANSFORMERS_VERBOSITY"),
    ({"HF_HUB_OFFLINE": "0"}, "fail", "set by you: HF_HUB_OFFLINE=0"),
], ids=["nothing-set", "user-set-the-default", "user-turned-downloads-on"])
def test_offline_check_sees_the_users_settings_not_labkits(environment, status, found):
    """In a fresh process labkit has applied its defaults by the time doctor runs; the check must still
    report what the user set (a check that read os.environ would say "ok, set" in all three cases)."""
    from labkit._offline import OFFLINE_DEFAULTS

    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_DEFAULTS} | environment
    code = ("import json, os, labkit.doctor as d; v = d.check_offline()[0]; "
            "print(json.dumps([v.status, v.found, os.environ['DO_NOT_TRACK']]))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    got_status, got_found, applied = json.loads(done.stdout)
    assert (got_status, applied) == (status, environment.get("DO_NOT_TRACK", "1"))
    assert got_found.startswith(found)


def test_an_optional_check_cannot_fail():
    with pytest.raises(ValueError, match=r"Diagnosis\(\): status: expected 'ok' or 'warn' for an optional check"):
        Diagnosis("promtool", "fail", "missing", required=False)


def test_the_whole_report_and_its_json():
    diagnoses = run_checks()
    names = [d.name for d in diagnoses]
    assert names[0] == "Python" and set(KEY_PACKAGES) <= set(names)
    assert {"Jupyter kernel", "widgets front-end", "data file", "promtool", "JupyterLab offline"} <= set(names)
    text = format_report(diagnoses)
    assert text.startswith("labkit doctor: labkit ")
    for d in diagnoses:
        if d.status != "ok":
            assert f"fix: {d.fix}" in text
    data = json.loads(to_json(diagnoses))
    assert data["ok"] == (not any(d.status == "fail" for d in diagnoses))
    assert len(data["checks"]) == len(diagnoses)
