"""Diagnose a student's environment in one screen: what is wrong and how to fix it.

:func:`run_checks` looks at the Python version (``requires-python`` in ``pyproject.toml``), the key
packages against ``requirements.lock``, the Jupyter kernel, the ipywidgets front-end, the data file's
checksum, the artifacts folder, Prometheus' ``promtool`` (optional) and the offline settings. Each
finding is a :class:`Diagnosis` with a status (``ok``, ``warn``, ``fail``) and, when it is not ``ok``,
the command that fixes it. Only *required* checks can fail; optional ones warn. From a shell::

    labkit doctor          # one screen; exit code 0 when every required check passes, else 1
    labkit doctor --json   # the same as JSON, for scripts

``labkit`` is the students' only console command (:func:`main`); the instructor's commands (sync,
release, grade) are ``labkit-instructor``, a separate package.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

import labkit
from labkit._validate import check_choice, fail
from labkit.paths import REPO_ROOT

__all__ = [
    "KEY_PACKAGES", "SUPPORTED_PYTHON", "Diagnosis", "check_artifacts", "check_data", "check_kernel",
    "check_offline", "check_packages", "check_promtool", "check_python", "check_widgets", "format_report",
    "read_lock", "run_checks", "to_json", "main",
]

#: Packages whose versions matter for the lab (distribution names as in requirements.lock).
KEY_PACKAGES = (
    "jupyterlab", "nbval", "pandas", "scikit-learn", "scipy", "matplotlib", "evidently", "alibi-detect",
    "ipywidgets", "numpy", "prometheus-client",
)
#: Used when ``pyproject.toml`` is not next to labkit (a non-editable install).
SUPPORTED_PYTHON = ">=3.10,<3.13"
#: The Python version requirements.lock was resolved for.
LOCKED_PYTHON = (3, 11)
_STATUSES = ("ok", "warn", "fail")
_REINSTALL = "pip install -r requirements.lock   (or start over: rm -rf .venv && make lab)"


@dataclass(frozen=True)
class Diagnosis:
    """The outcome of one check: its ``name``, ``status`` (ok, warn, fail), what was ``found``, what the lab
    ``expected`` and the ``fix`` (both "" when there is nothing to say). Only ``required`` checks decide
    the exit code; optional ones can warn but not fail."""

    name: str
    status: str
    found: str
    expected: str = ""
    fix: str = ""
    required: bool = True

    def __post_init__(self) -> None:
        check_choice(self.status, "status", _STATUSES, func="Diagnosis")
        if self.status == "fail" and not self.required:
            raise fail("Diagnosis", "status", "'ok' or 'warn' for an optional check (an optional check can warn "
                       "but not fail)", self.status, "pass required=True, or status='warn'")


def _supported_range(root: Path) -> str:
    pyproject = root / "pyproject.toml"
    try:
        import tomllib

        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["requires-python"]
    except (ImportError, OSError, KeyError, ValueError):
        return SUPPORTED_PYTHON


def check_python(version: Sequence[int] | None = None, *, supported: str | None = None) -> Diagnosis:
    """Python inside the supported range (fail) and the version the lock was made for (warn).

    Examples
    --------
    >>> check_python((3, 13, 0), supported=">=3.10,<3.13").status
    'fail'
    >>> check_python((3, 11, 9), supported=">=3.10,<3.13").status
    'ok'
    """
    from packaging.specifiers import SpecifierSet

    version = tuple(version if version is not None else sys.version_info[:3])
    supported = supported or _supported_range(REPO_ROOT)
    text = ".".join(map(str, version[:3]))
    found = f"{text} ({sys.executable})" if version[:3] == tuple(sys.version_info[:3]) else text
    if not SpecifierSet(supported).contains(text):
        return Diagnosis("Python", "fail", found, supported, "install Python 3.11 and recreate the environment: "
                         "rm -rf .venv && make lab PYTHON=python3.11")
    if tuple(version[:2]) != LOCKED_PYTHON:
        return Diagnosis(
            "Python", "warn", found, f"{supported}, best {'.'.join(map(str, LOCKED_PYTHON))}",
            "the lock was made for Python 3.11; if an install fails, use make lab PYTHON=python3.11",
            required=False,
        )
    return Diagnosis("Python", "ok", found, supported)


def read_lock(path: str | Path | None = None) -> dict[str, str]:
    """``requirements.lock`` as ``{normalised name: version}``; empty when the file is missing."""
    path = Path(path) if path is not None else REPO_ROOT / "requirements.lock"
    pins: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return pins
    for line in lines:
        line = line.split("#", 1)[0].strip()
        name, sep, version = line.partition("==")
        if sep:
            pins[canonicalize_name(name)] = version.strip()
    return pins


def check_packages(
    lock: Mapping[str, str] | None = None,
    *,
    packages: Sequence[str] = KEY_PACKAGES,
    version: Callable[[str], str] = importlib.metadata.version,
) -> list[Diagnosis]:
    """One diagnosis per key package: missing or another minor version fails, another patch warns.

    ``lock`` defaults to :func:`read_lock`; ``version`` (``importlib.metadata.version``) is replaceable in tests.
    """
    lock = read_lock() if lock is None else {canonicalize_name(k): v for k, v in lock.items()}
    out = []
    for name in packages:
        pinned = lock.get(canonicalize_name(name), "")
        try:
            installed = version(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(Diagnosis(name, "fail", "not installed", pinned or "installed", _REINSTALL))
            continue
        if not pinned:
            out.append(Diagnosis(name, "warn", installed, "not in requirements.lock",
                                 "run from the lab's folder, where requirements.lock is", required=False))
        elif installed == pinned:
            out.append(Diagnosis(name, "ok", installed, pinned))
        elif installed.split(".")[:2] != pinned.split(".")[:2]:
            out.append(Diagnosis(name, "fail", installed, pinned, _REINSTALL))
        else:
            out.append(Diagnosis(name, "warn", installed, pinned,
                                 f"results may differ slightly; {_REINSTALL}", required=False))
    return out


def check_kernel(kernel_name: str = "python3") -> Diagnosis:
    """The Jupyter kernel the notebooks ask for exists and starts this environment's Python."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return Diagnosis("Jupyter kernel", "fail", "jupyter_client not installed", kernel_name, _REINSTALL)
    fix = f"{sys.executable} -m ipykernel install --sys-prefix   (then choose 'Python 3 (ipykernel)')"
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        return Diagnosis("Jupyter kernel", "fail", f"no kernel named {kernel_name!r}", kernel_name, fix)
    except Exception as exc:  # a broken kernel.json
        return Diagnosis("Jupyter kernel", "fail", f"{kernel_name!r} unreadable ({exc})", kernel_name, fix)
    program = spec.argv[0] if spec.argv else ""
    # jupyter_client runs kernel specs whose program is plain "python" with its own interpreter
    if program in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}", "{python}"):
        return Diagnosis("Jupyter kernel", "ok", f"{kernel_name} -> this Python ({spec.resource_dir})", kernel_name)
    if _same_file(program, sys.executable):
        return Diagnosis("Jupyter kernel", "ok", f"{kernel_name} -> {program}", kernel_name)
    return Diagnosis(
        "Jupyter kernel", "warn", f"{kernel_name} starts {program}, not {sys.executable}",
        "this environment's Python",
        f"notebooks may not find labkit; remove the stray kernel with `jupyter kernelspec remove {kernel_name}` "
        f"(it lives in {spec.resource_dir}) or start JupyterLab with make lab",
        required=False,
    )


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).absolute() == Path(b).absolute() or os.path.samefile(a, b)
    except OSError:
        return False


def check_widgets(version: Callable[[str], str] = importlib.metadata.version) -> Diagnosis:
    """ipywidgets' JupyterLab front-end: ``jupyterlab_widgets`` installed, matching, its extension found."""
    fix = f"pip install jupyterlab_widgets=={read_lock().get('jupyterlab-widgets', '<version in requirements.lock>')}"
    try:
        widgets = version("ipywidgets")
    except importlib.metadata.PackageNotFoundError:
        return Diagnosis("widgets front-end", "fail", "ipywidgets not installed", "ipywidgets + jupyterlab_widgets",
                         _REINSTALL)
    try:
        front = version("jupyterlab_widgets")
    except importlib.metadata.PackageNotFoundError:
        return Diagnosis("widgets front-end", "fail", "jupyterlab_widgets not installed (widgets show as text)",
                         "jupyterlab_widgets", fix)
    pairs = {"8": "3", "7": "1"}  # ipywidgets major -> jupyterlab_widgets major
    if pairs.get(widgets.split(".")[0], front.split(".")[0]) != front.split(".")[0]:
        return Diagnosis("widgets front-end", "fail", f"ipywidgets {widgets} with jupyterlab_widgets {front}",
                         f"jupyterlab_widgets {pairs[widgets.split('.')[0]]}.x", fix)
    try:
        from jupyter_core.paths import jupyter_path

        places = [Path(p) for p in jupyter_path("labextensions")]
    except ImportError:
        places = [Path(sys.prefix) / "share" / "jupyter" / "labextensions"]
    for place in places:
        if (place / "@jupyter-widgets" / "jupyterlab-manager" / "package.json").is_file():
            return Diagnosis("widgets front-end", "ok", f"jupyterlab_widgets {front} ({place})", "")
    return Diagnosis("widgets front-end", "fail",
                     "the JupyterLab extension @jupyter-widgets/jupyterlab-manager is missing",
                     "an installed labextension", f"{fix} --force-reinstall")


def check_data(path: str | Path | None = None) -> Diagnosis:
    """The data file exists and has the canonical size and SHA-256."""
    from labkit.data import EXPECTED_SHA256, DataFileError, verify_data

    try:
        found = verify_data(path)
    except DataFileError as exc:
        problem, _, fix = str(exc).partition(" Fix: ")  # labkit's errors end with how to fix them
        from labkit.data import DATA_ENV_VAR

        if path is None and os.environ.get(DATA_ENV_VAR):
            fix = f"unset {DATA_ENV_VAR} to use the lab's own data/hour.csv, or fix that copy. {fix}"
        return Diagnosis("data file", "fail", problem, f"sha256 {EXPECTED_SHA256[:12]}…", fix)
    return Diagnosis("data file", "ok", f"{found} (checksum ok)", "")


def check_artifacts() -> Diagnosis:
    """The artifacts folder (``runs/`` or ``$LABKIT_ARTIFACTS``) can be written."""
    from labkit.paths import artifacts_dir

    try:
        folder = artifacts_dir()
        probe = folder / f".doctor-{uuid.uuid4().hex}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        return Diagnosis("artifacts folder", "fail", f"not writable ({exc})", "a writable folder",
                         "run the lab from a folder you own, or set LABKIT_ARTIFACTS=/some/writable/folder")
    return Diagnosis("artifacts folder", "ok", f"{folder} (writable)", "")


def check_promtool(which: Callable[[str], str | None] = shutil.which) -> Diagnosis:
    """Prometheus' promtool on PATH (optional)."""
    path = which("promtool")
    if path is None:
        return Diagnosis("promtool", "warn", "not found (optional)", "promtool on PATH",
                         "only the alerting-rule tests and a real Prometheus need it: sudo apt-get install prometheus "
                         "(Debian/Ubuntu) or brew install prometheus (macOS)", required=False)
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
        first = (out.stdout or out.stderr).strip().splitlines()[:1]
        found = f"{first[0].split(' (')[0]} ({path})" if first else path
    except (OSError, subprocess.TimeoutExpired):
        found = path
    return Diagnosis("promtool", "ok", found, "", required=False)


def check_offline(prefix: str | Path | None = None, env: Mapping[str, str] | None = None) -> list[Diagnosis]:
    """The offline variables the *user* set, and the JupyterLab settings of :mod:`labkit.setup_lab`.

    ``env`` is what the user set before ``import labkit`` applied its defaults (default: what
    :func:`labkit._offline.user_settings` recorded), so a default labkit applied itself is reported
    as labkit's, not as the user's. A network variable the user turned off (``DO_NOT_TRACK=0``) fails:
    the lab is no longer offline.
    """
    from labkit._offline import NETWORK_VARIABLES, OFFLINE_DEFAULTS, user_settings
    from labkit.setup_lab import missing_settings

    env = user_settings() if env is None else {k: env[k] for k in OFFLINE_DEFAULTS if k in env}
    online = [k for k in NETWORK_VARIABLES if k in env and env[k].strip().lower() not in ("1", "true", "yes", "on")]
    other = [k for k in OFFLINE_DEFAULTS if k in env and k not in NETWORK_VARIABLES and env[k] != OFFLINE_DEFAULTS[k]]
    mine = ", ".join(f"{k}={v}" for k, v in env.items())
    labkits = ", ".join(f"{k}={v}" for k, v in OFFLINE_DEFAULTS.items() if k not in env)
    found = "; ".join(filter(None, [mine and f"set by you: {mine}", labkits and f"labkit's defaults on import: {labkits}"]))
    wanted = ", ".join(f"{k}={v}" for k, v in OFFLINE_DEFAULTS.items())
    if online:
        out = [Diagnosis("offline variables", "fail", found, wanted,
                         f"unset {' '.join(online)} (labkit then sets them) to keep telemetry and downloads off")]
    elif other:
        out = [Diagnosis("offline variables", "warn", found, wanted,
                         f"unset {' '.join(other)} to silence the libraries' advisories", required=False)]
    else:
        out = [Diagnosis("offline variables", "ok", found, "")]
    problems = [str(path) for path in missing_settings(prefix)]
    if problems:
        out.append(Diagnosis(
            "JupyterLab offline", "warn", "news/update checks not switched off: " + ", ".join(problems),
            "labkit.setup_lab settings", f"{sys.executable} -m labkit.setup_lab", required=False,
        ))
    else:
        out.append(Diagnosis("JupyterLab offline", "ok", "news and update checks off", ""))
    return out


def run_checks() -> list[Diagnosis]:
    """Every check, in the order :func:`format_report` shows them."""
    out = [check_python()]
    out += check_packages()
    out += [check_kernel(), check_widgets(), check_data(), check_artifacts(), check_promtool()]
    out += check_offline()
    return out


def format_report(diagnoses: Sequence[Diagnosis]) -> str:
    """The one-screen text report: a line per check, a ``fix:`` line under each problem, a verdict."""
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    width = max((len(d.name) for d in diagnoses), default=10)
    lines = [
        f"labkit doctor: labkit {labkit.__version__} at {REPO_ROOT}",
        f"  on {platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "",
    ]
    for d in diagnoses:
        wanted = f"   (want {d.expected})" if d.expected and d.status != "ok" else ""
        lines.append(f"  {marks[d.status]}  {d.name:<{width}}  {d.found}{wanted}")
        if d.fix and d.status != "ok":
            lines.append(f"        {'':<{width}}  fix: {d.fix}")
    failures = sum(d.status == "fail" for d in diagnoses)
    warnings = sum(d.status == "warn" for d in diagnoses)
    lines.append("")
    if failures:
        lines.append(f"{failures} problem{'s' if failures != 1 else ''} to fix"
                     f"{f' and {warnings} warning(s)' if warnings else ''}: apply the fix lines above, then run "
                     "labkit doctor again.")
    else:
        lines.append("All required checks passed" + (f" ({warnings} warning(s), optional)." if warnings else "."))
    return "\n".join(lines)


def to_json(diagnoses: Sequence[Diagnosis]) -> str:
    """The report as JSON: ``{"ok": bool, "labkit": ..., "python": ..., "checks": [...]}``."""
    return json.dumps(
        {
            "ok": not any(d.status == "fail" for d in diagnoses),
            "labkit": labkit.__version__,
            "python": sys.executable,
            "checks": [asdict(d) for d in diagnoses],
        },
        indent=2,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``labkit`` command: ``labkit doctor [--json]``. Exit code 0 when every required check passed
    (warnings allowed), 1 when one failed, 2 on a usage error."""
    parser = argparse.ArgumentParser(prog="labkit", description="Model Monitoring Lab: student tools.",
                                     epilog="Instructors: see labkit-instructor --help.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="diagnose this environment, with a fix for each problem",
                                 description="Check this environment against what the lab needs.",
                                 epilog="Exit codes: 0 every required check passed, 1 a required check failed.")
    doctor.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    diagnoses = run_checks()
    print(to_json(diagnoses) if args.json else format_report(diagnoses))
    return 1 if any(d.status == "fail" for d in diagnoses) else 0


if __name__ == "__main__":
    raise SystemExit(main())
