"""The house rules of docs/ARCHITECTURE.md, checked: one-way imports without cycles (import-linter),
no private names across modules, small signatures, and a student package a student can read."""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import labkit
from labkit.paths import REPO_ROOT

LABKIT = REPO_ROOT / "labkit"
INSTRUCTOR = REPO_ROOT / "instructor"
MAX_LINES = 12_000
MAX_PARAMS = 8
#: Shared internals any module may import (through their public names only).
SHARED_PRIVATE_MODULES = {"labkit._validate", "labkit._windows", "labkit._offline"}
#: Private modules and the one public module that owns each.
PRIVATE_MODULE_OWNERS = {"labkit._drift_engine": "labkit.drift"}


def _modules(root: Path, package: str):
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [package, *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def test_import_contract_holds():
    """import-linter: the layers of docs/ARCHITECTURE.md, no cycles, labkit never imports the instructor package."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(INSTRUCTOR)])}
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _private_imports(module: str, path: Path):
    """(line, statement) for each import of another module's private name, or of a private module
    that is neither shared, owned by ``module``, nor inside ``module``'s own subpackage."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            if not target.startswith("labkit"):
                continue
            for alias in node.names:
                if not alias.name.startswith("_"):
                    ok = _may_import_module(module, target)
                elif _is_module(f"{target}.{alias.name}"):
                    ok = _may_import_module(module, f"{target}.{alias.name}")
                else:
                    ok = False  # a private name of another module
                if not ok:
                    yield node.lineno, f"from {target} import {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("labkit") and not _may_import_module(module, alias.name):
                    yield node.lineno, f"import {alias.name}"


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _may_import_module(importer: str, target: str) -> bool:
    parts = target.split(".")
    private = [i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__")]
    if not private:
        return True
    first = ".".join(parts[: private[0] + 1])
    if len(private) > 1:
        return False
    if first in SHARED_PRIVATE_MODULES or PRIVATE_MODULE_OWNERS.get(first) == importer:
        return True
    parent = ".".join(parts[: private[0]])
    # a private module of one's own subpackage (labkit.exercises._compare inside labkit.exercises)
    return parent != "labkit" and (importer == parent or importer.startswith(parent + "."))


@pytest.mark.parametrize("module,path", list(_modules(LABKIT, "labkit")), ids=lambda v: str(v))
def test_no_private_names_across_modules(module, path):
    bad = list(_private_imports(module, path))
    assert not bad, f"{module} imports private names of other modules: {bad}"


def _public_callables():
    for info in pkgutil.walk_packages(labkit.__path__, "labkit."):
        if any(p.startswith("_") for p in info.name.split(".")[1:]):
            continue
        mod = importlib.import_module(info.name)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and obj.__module__ == mod.__name__:
                yield f"{info.name}.{name}", obj
            elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
                for meth_name, meth in vars(obj).items():
                    if meth_name.startswith("_") and meth_name != "__init__":
                        continue
                    func = meth.__func__ if isinstance(meth, (staticmethod, classmethod)) else meth
                    if not inspect.isfunction(func):
                        continue
                    if meth_name == "__init__" and dataclasses.is_dataclass(obj) and func.__code__.co_filename == "<string>":
                        continue
                    yield f"{info.name}.{name}.{meth_name}", func


def _n_params(func) -> int:
    params = list(inspect.signature(func).parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    return len([p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)])


def test_no_public_function_takes_more_than_eight_parameters():
    too_many = {name: _n_params(f) for name, f in _public_callables() if _n_params(f) > MAX_PARAMS}
    assert not too_many, f"public functions with more than {MAX_PARAMS} parameters: {too_many}"


def test_student_package_stays_readable_in_size():
    """`wc -l labkit/**/*.py` including docstrings."""
    total = sum(len(p.read_text().splitlines()) for p in LABKIT.rglob("*.py"))
    assert total <= MAX_LINES, f"labkit has {total} lines (limit {MAX_LINES})"
