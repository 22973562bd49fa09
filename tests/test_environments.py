"""The lab and test environments, and the class deployment, install exactly the locked versions.

requirements.lock (lab) and requirements-test.lock (lab + test tools) come from one resolution
(tools/lock.py); environment.yml and binder/ (repo2docker) install the lab one.
"""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLS = ("pytest-xdist", "hypothesis", "import-linter", "playwright", "distributed")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.strip().partition("==")
            assert sep and version, f"{path.name}: {line!r} is not an exact pin"
            pins[_norm(name)] = version
    return pins


def _top_level(path: Path) -> list[Requirement]:
    reqs = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(Requirement(line))
    return reqs


LAB = _pins(ROOT / "requirements.lock")
TEST = _pins(ROOT / "requirements-test.lock")


def test_every_lab_pin_is_in_the_test_lock_at_the_same_version():
    """One resolution: every lab pin is in the test lock at the same version."""
    differing = {n: (v, TEST.get(n)) for n, v in LAB.items() if TEST.get(n) != v}
    assert not differing, f"lab and test locks disagree (run `make lock`): {differing}"
    assert len(TEST) > len(LAB)


@pytest.mark.parametrize("tool", TEST_TOOLS)
def test_test_tools_are_only_in_the_test_environment(tool):
    assert _norm(tool) in TEST, f"{tool} is missing from requirements-test.lock"
    assert _norm(tool) not in LAB, f"{tool} is a test tool but requirements.lock (the lab) has it"


@pytest.mark.parametrize("infile, pins", [("requirements.in", LAB), ("requirements-test.in", TEST)])
def test_every_top_level_requirement_is_locked_within_its_specifier(infile, pins):
    for req in _top_level(ROOT / infile):
        assert _norm(req.name) in pins, f"{req.name} ({infile}) is not locked"
        assert pins[_norm(req.name)] in req.specifier, f"{req.name}=={pins[_norm(req.name)]} is outside {req}"


def test_the_lab_lock_is_closed_under_dependencies():
    """Each dependency of a lab package (as installed here) is itself in the lab lock."""
    missing = set()
    todo = [(r.name, tuple(r.extras)) for r in _top_level(ROOT / "requirements.in")]
    seen = set()
    while todo:
        name, extras = todo.pop()
        if (_norm(name), extras) in seen:
            continue
        seen.add((_norm(name), extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                if _norm(req.name) not in LAB:
                    missing.add(f"{req.name} (needed by {name})")
                todo.append((req.name, tuple(sorted(req.extras))))
    assert not missing, f"the lab lock lacks: {sorted(missing)} (run `make lock`)"


def test_environment_yml_installs_the_lab_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip == [{"pip": ["-r requirements.lock", "-e ."]}]


def test_repo2docker_config_pins_exactly_the_lab_lock_and_installs_labkit_without_deps():
    binder = ROOT / "binder"
    assert _pins(binder / "requirements.txt") == LAB, "binder/requirements.txt differs from requirements.lock (make lock)"
    assert not (binder / "environment.yml").exists(), "an environment.yml in binder/ would win over requirements.txt"
    header = (ROOT / "requirements.lock").read_text().splitlines()[0]
    python = (binder / "runtime.txt").read_text().strip()
    assert python == "python-3.11" and "Python 3.11" in header
    post = (binder / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post, "postBuild must install labkit without changing the pins"
    assert "labkit.setup_lab" in post, "postBuild must write the offline JupyterLab settings"
    assert (binder / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_make_lab_installs_only_the_lab_lock_and_make_test_adds_the_test_lock():
    makefile = (ROOT / "Makefile").read_text()
    lab_rule = makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    test_rule = makefile.split("$(TEST_STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "-r requirements.lock" in lab_rule and "requirements-test" not in lab_rule
    assert "-r requirements-test.lock" in test_rule and "-e instructor" in test_rule
    assert re.search(r"^lab: setup$", makefile, re.M)
    assert re.search(r"^test: \$\(TEST_STAMP\)$", makefile, re.M)
    assert "--progress-bar on" in lab_rule, "the first install must show its progress"
