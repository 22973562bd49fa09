"""Read a submitted notebook without running it: each exercise's code, the imports, the written answers.

The grader never trusts what a notebook printed, displayed or saved. It reads the code statically:

* for each exercise, the top-level ``def`` (and ``class``) statements of the cell that calls
  ``check("<id>", ...)``, with their decorators, exactly as the student wrote them;
* the notebook's top-level ``import`` statements (all cells, in order);
* the text of the ``answer``-tagged markdown cells (the written answers).

Nothing else of the notebook runs when its exercises are graded: an assignment to ``check``, a
``display(..., raw=True)`` or a file write in another cell has no effect on the score.
:func:`findings` reads the code for signs of an attempt to cheat, which the gradebook flags.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ANSWER_PLACEHOLDER", "Extracted", "answers", "check_ids", "extract", "findings", "notebook_number",
           "read_notebook_bytes"]

ANSWER_PLACEHOLDER = "**Your answer:** _write it here_"
_CHECK = re.compile(r"""\bcheck\(\s*(["'])(?P<id>[A-Za-z0-9_.\-]+)\1""")
#: Code that only makes sense as an attempt to cheat or to reach outside the sandbox: (pattern, finding).
_SUSPICIOUS = (
    (re.compile(r"vnd\.labkit\.check"), "writes check records by hand (the checker's MIME type appears in the code)"),
    (re.compile(r"\.__globals__"), "reaches into a function's globals (e.g. to patch the checker)"),
    (re.compile(r"\blabkit_instructor\b"), "imports the instructor package (reference implementations)"),
    (re.compile(r"\blabkit\.exercises\.(_check|_bank|_compare)\b|\bexercises\._\w+"),
     "touches the checker's internals"),
    (re.compile(r"/proc/[^\s\"']*(environ|cmdline)"), "reads another process's environment or command line"),
    (re.compile(r"\bsetrlimit\b|\bprlimit\b"), "changes its resource limits"),
    (re.compile(r"start_new_session|\bsetsid\b|\bsetpgrp\b|\bdaemonize\b"),
     "starts a process meant to outlive the grader"),
    (re.compile(r"\bos\.kill\(|\bsignal\.SIGKILL\b|\bkillpg\b"), "sends signals to other processes"),
    (re.compile(r"executed\.ipynb|outcome\.json|gradebook\.csv"), "writes files the grader produces"),
    (re.compile(r"labkit/exercises/[\w/.]*\.py|site-packages"), "writes to or reads installed packages"),
)


@dataclass(frozen=True)
class Extracted:
    """What the grader takes from one notebook.

    ``imports`` are its top-level import statements (source text); ``code`` maps each exercise id to the
    source of the definitions in its cell ("" when the notebook has no cell checking it); ``problems``
    lists cells that could not be read (a syntax error, for example).
    """

    imports: tuple[str, ...]
    code: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def read_notebook_bytes(data: bytes) -> dict:
    """The notebook JSON of a submission; ValueError with a plain message when it is not one."""
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a notebook: invalid JSON ({str(exc)[:80]})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a notebook: no list of cells")
    return nb


def _cells(nb: Mapping, kind: str) -> list[dict]:
    return [c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == kind]


def _source(cell: Mapping) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _python(source: str) -> str:
    """IPython syntax (magics, shell escapes) turned into plain Python, as the kernel would."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython ships with the lab
        return source
    return TransformerManager().transform_cell(source)


def check_ids(nb: Mapping) -> list[str]:
    """The exercise ids a notebook checks, in cell order."""
    return list(dict.fromkeys(m.group("id") for c in _cells(nb, "code") for m in _CHECK.finditer(_source(c))))


def extract(nb: Mapping, exercise_ids: Sequence[str]) -> Extracted:
    """Each exercise's definitions and the notebook's imports (see the module docstring).

    >>> nb = {"cells": [{"cell_type": "code", "source": "import numpy as np\\nx = 1"},
    ...                 {"cell_type": "code", "source": "def f(v):\\n    return np.sum(v)\\n\\nf = check('01.f', f)"}]}
    >>> got = extract(nb, ["01.f", "01.g"])
    >>> got.imports, got.code["01.f"], got.code["01.g"]
    (('import numpy as np',), 'def f(v):\\n    return np.sum(v)', '')
    """
    imports: list[str] = []
    code = {i: "" for i in exercise_ids}
    problems: list[str] = []
    for index, cell in enumerate(_cells(nb, "code")):
        text = _python(_source(cell))
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            problems.append(f"code cell {index + 1}: syntax error on line {exc.lineno}: {exc.msg}")
            continue
        imports += [ast.get_source_segment(text, node) or "" for node in tree.body
                    if isinstance(node, (ast.Import, ast.ImportFrom))]
        checked = [i for i in dict.fromkeys(m.group("id") for m in _CHECK.finditer(text)) if i in code]
        defs = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for exercise_id in checked:
            code[exercise_id] = "\n\n".join(_segment(text, node) for node in defs)
    return Extracted(tuple(imports), code, tuple(problems))


def _segment(text: str, node: ast.AST) -> str:
    """A definition's source with its decorators."""
    lines = text.splitlines()
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[first - 1: node.end_lineno])


def answers(nb: Mapping) -> list[str]:
    """The written answers: the text of each ``answer``-tagged markdown cell ("" for the untouched placeholder)."""
    found = []
    for cell in _cells(nb, "markdown"):
        tags = cell.get("metadata", {}).get("tags", []) if isinstance(cell.get("metadata"), dict) else []
        if isinstance(tags, list) and "answer" in tags:
            text = _source(cell).strip()
            found.append("" if text == ANSWER_PLACEHOLDER else text)
    return found


def findings(nb: Mapping) -> list[str]:
    """Signs of an attempt to cheat or to reach outside the sandbox, found in the code (for the gradebook)."""
    code = "\n".join(_source(c) for c in _cells(nb, "code"))
    return [meaning for pattern, meaning in _SUSPICIOUS if pattern.search(code)]


def notebook_number(nb: Mapping, expected: Mapping[str, Sequence[str]]) -> str | None:
    """The notebook whose exercises this one checks most (None when it checks none of them)."""
    found = set(check_ids(nb))
    scores = {number: len(found & set(ids)) for number, ids in expected.items()}
    best = max(scores, key=lambda n: (scores[n], n), default=None)
    return best if best is not None and scores[best] > 0 else None
