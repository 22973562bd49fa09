"""Write the recorded banks students get: ``labkit/exercises/bank/NN.json`` and ``NN.npz``.

A bank holds, per exercise, what :mod:`labkit.exercises` needs to check a student's function and to
keep the notebook running without a reference implementation:

* title, graduated hints, tolerances, signature and the columns it reads;
* the visible cases: inputs and the reference's outputs (computed here, now);
* the fallback table: the reference's result for every call the solution notebook makes, recorded
  while the notebook runs (:func:`start_recording`, used by ``labkit-instructor sync --execute``);

and per self-checked question its choices, the answer as a salted hash and the explanations, each
sealed with its own choice. Values are stored as JSON plus ``.npy``/Parquet blobs, never pickled.
"""
from __future__ import annotations

import copy
import inspect
import json
import logging
import secrets
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

import numpy as np

from labkit.exercises import BANK_DIR, call_fingerprint, compare_values, digest, load_bank, seal, sketches_match
from labkit_instructor import codec
from labkit_instructor import exercises as key
from labkit_instructor.codec import BankWriter

logger = logging.getLogger(__name__)

__all__ = ["FORMAT", "BankWriter", "bank_files", "build_bank", "encode", "exercise_meta", "finish_recording",
           "read_recording", "start_recording", "write_bank"]

FORMAT = 1


def encode(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """``(node, blobs)`` for one value (see :mod:`labkit_instructor.codec`)."""
    return codec.encode(value)


def _signature(exercise: key.Exercise, writer: BankWriter) -> list[dict[str, Any]]:
    params = []
    for p in inspect.signature(exercise.reference).parameters.values():
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise ValueError(f"{exercise.id}: the reference may only take plain parameters, not {p}")
        default = {} if p.default is p.empty else {"default": writer.encode(p.default)}
        params.append({"name": p.name, **default})
    return params


def exercise_meta(exercise: key.Exercise, writer: BankWriter, *, optional: bool = False) -> dict[str, Any]:
    """Everything the bank records about one exercise except its fallback table (``optional``: in the
    notebook's "Going further" section, so progress() does not count it)."""
    cases = []
    for number, case in enumerate(exercise.visible(), start=1):
        expected = exercise.reference(*copy.deepcopy(case.args), **copy.deepcopy(dict(case.kwargs)))
        cases.append({"label": case.label or f"#{number}", "args": writer.encode(list(case.args)),
                      "kwargs": writer.encode(dict(case.kwargs)), "expected": writer.encode(expected)})
    return {"title": exercise.title, "hints": list(exercise.hints), "rtol": exercise.rtol, "atol": exercise.atol,
            "signature": _signature(exercise, writer), "reads": dict(exercise.reads), "cases": cases,
            "optional": optional}


def _question_meta(question: key.Question, old: Mapping | None) -> dict[str, Any]:
    salt = (old or {}).get("salt") or secrets.token_hex(8)
    numeric = not question.choices
    answer = f"{float(question.answer):.{question.digits}g}" if numeric else str(question.answer).lower()
    if not numeric and answer not in question.choices:
        raise ValueError(f"{question.id}: the answer {answer!r} is not one of the choices {question.choices}")
    sealed = {}
    for choice, text in question.explanations.items():
        unlock = answer if choice == "right" else str(choice).lower()
        sealed[str(choice).lower()] = seal(text.encode(), f"{salt}|{question.id}|{unlock}").hex()
    meta = {"title": question.title, "kind": "number" if numeric else "choice", "choices": list(question.choices),
            "salt": salt, "digest": digest(question.id, answer, salt), "explanations": sealed, "wrong": question.wrong}
    return meta | ({"digits": question.digits} if numeric else {})


def build_bank(notebook: str, fallback: Mapping[str, list] | None = None, bank_dir: Path = BANK_DIR,
               optional: Set[str] = frozenset()) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The bank of one notebook as ``(meta, blobs)``.

    ``fallback`` maps exercise ids to recorded tables (``{"entries": [...], "blobs": {...}}`` from a
    recording run); without it, the tables already in ``bank_dir`` are kept. Question salts are kept
    too, so an unchanged question gives an unchanged bank.
    """
    writer = BankWriter()
    load_bank.cache_clear()  # the files may have changed since they were last read
    old = load_bank(notebook, Path(bank_dir))
    meta: dict[str, Any] = {"format": FORMAT, "notebook": notebook, "exercises": {}, "questions": {}}
    for exercise in key.exercises(notebook):
        entry = exercise_meta(exercise, writer, optional=exercise.id in optional)
        if fallback is not None:
            table = fallback.get(exercise.id, {"entries": [], "blobs": {}})
            entries, blobs = table["entries"], table["blobs"]
        else:
            previous = old.exercises.get(exercise.id, {}) if old else {}
            entries, blobs = previous.get("fallback", []), old.blobs if old else {}
        for item in entries:
            writer.blobs.update({name: blobs[name] for name in codec.blob_names(item["result"])})
        entry["fallback"] = list(entries)
        meta["exercises"][exercise.id] = entry
    for question in key.questions(notebook):
        meta["questions"][question.id] = _question_meta(question, old.questions.get(question.id) if old else None)
    return meta, writer.blobs


def bank_files(meta: Mapping, blobs: Mapping[str, np.ndarray]) -> tuple[str, bytes]:
    """The exact text of ``NN.json`` and bytes of ``NN.npz`` (reproducible: sorted, fixed zip times)."""
    text = json.dumps(meta, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    return text, codec.npz_bytes(blobs, codec.blob_names(meta))


def write_bank(notebook: str, meta: Mapping, blobs: Mapping[str, np.ndarray], bank_dir: Path = BANK_DIR,
               check: bool = False) -> list[Path]:
    """Write the two files of a bank when they differ; with ``check`` only list the ones that differ."""
    text, data = bank_files(meta, blobs)
    changed = []
    for path, payload in ((Path(bank_dir) / f"{notebook}.json", text.encode("utf-8")),
                          (Path(bank_dir) / f"{notebook}.npz", data)):
        if not path.is_file() or path.read_bytes() != payload:
            changed.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(payload)
    if changed and not check:
        load_bank.cache_clear()
    return changed


# --------------------------------------------------------------------------------------------------
# Recording the fallback tables while a solution notebook runs (inside its kernel)
# --------------------------------------------------------------------------------------------------
class _Recorder:
    def __init__(self, out: Path):
        self.out = Path(out)
        self.tables: dict[str, dict[str, Any]] = {}

    def wrap(self, exercise_id: str, function):
        exercise = key.get(exercise_id)
        bank_entry = {"reads": dict(exercise.reads)}
        table = self.tables.setdefault(exercise_id, {"entries": [], "writer": BankWriter()})
        sig = inspect.signature(exercise.reference)

        def recorded(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            k, sketch = call_fingerprint(bank_entry, bound.arguments)
            reference = exercise.reference(*copy.deepcopy(bound.args), **copy.deepcopy(bound.kwargs))
            result = function(*args, **kwargs)
            difference = compare_values(reference, result, rtol=exercise.rtol, atol=exercise.atol)
            if difference:
                raise RuntimeError(f"the solution's {exercise.name}() and the reference disagree on a call the "
                                   f"notebook makes: {difference}; fix one of them")
            if not any(e["key"] == k and sketches_match(e["sketch"], sketch) for e in table["entries"]):
                table["entries"].append({"key": k, "sketch": [float(x) for x in sketch],
                                         "result": table["writer"].encode(reference)})
            return result

        recorded.__name__ = recorded.__qualname__ = exercise.name
        return recorded

    def finish(self) -> None:
        meta = {i: {"entries": t["entries"]} for i, t in self.tables.items()}
        blobs = {name: a for t in self.tables.values() for name, a in t["writer"].blobs.items()}
        text, data = bank_files({"recorded": meta}, blobs)
        self.out.with_suffix(".json").write_text(text, encoding="utf-8")
        self.out.with_suffix(".npz").write_bytes(data)


_RECORDER: list[_Recorder] = []


def start_recording(out: str) -> None:
    """In a solution's kernel: wrap every function that passes ``check`` so that its calls are recorded.

    Called from a cell that ``sync --execute`` puts before the notebook's first cell; a cell after the
    last one calls :func:`finish_recording`, which writes ``out.json``/``out.npz`` for the parent.
    """
    import labkit.exercises as student

    recorder = _Recorder(Path(out))
    _RECORDER[:] = [recorder]
    real_check = student.check

    def check(exercise_id, candidate):
        function = real_check(exercise_id, candidate)
        return recorder.wrap(exercise_id, function) if function is candidate and callable(candidate) else function

    check.__doc__ = real_check.__doc__
    student.check = check


def finish_recording() -> None:
    _RECORDER[0].finish()


def read_recording(out: Path) -> dict[str, dict[str, Any]]:
    """The tables a recording run wrote: ``{exercise id: {"entries": [...], "blobs": {...}}}``."""
    out = Path(out)
    recorded = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["recorded"]
    with np.load(out.with_suffix(".npz"), allow_pickle=False) as npz:
        blobs = {name: npz[name] for name in npz.files}
    return {i: {"entries": t["entries"], "blobs": blobs} for i, t in recorded.items()}
