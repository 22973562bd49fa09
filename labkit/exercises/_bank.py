"""The recorded banks ``bank/NN.json`` + ``bank/NN.npz``: per exercise its title, hints, tolerances, signature,
visible cases with expected outputs, and the fallback table (the reference's results for the calls the
solution notebook makes). Data only: JSON, ``.npy`` and Parquet, never pickles (see docs/exercises.md).
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import io
import json
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labkit._validate import fail

BANK_DIR = Path(__file__).with_name("bank")


class Bank:
    """One notebook's recorded bank: ``exercises`` and ``questions`` (dicts); :meth:`value` decodes."""

    def __init__(self, meta: Mapping, blobs: Mapping[str, np.ndarray]):
        self.exercises, self.questions, self.blobs = meta.get("exercises", {}), meta.get("questions", {}), blobs

    def value(self, node: Any) -> Any:
        """Decode one stored value (a fresh object each time, so a caller may change it freely)."""
        if isinstance(node, list):
            return [self.value(x) for x in node]
        if not isinstance(node, dict):
            return node
        tag, v = node["$"], node.get("v")
        simple = {"tuple": lambda: tuple(self.value(v)), "dict": lambda: {self.value(k): self.value(x) for k, x in v},
                  "array": lambda: self.blobs[v].copy(), "float": lambda: float(v)}
        simple.update(timedelta=lambda: pd.Timedelta(v), timestamp=lambda: pd.Timestamp(v))
        if tag in simple:
            return simple[tag]()
        frame = pd.read_parquet(io.BytesIO(self.blobs[v].tobytes()))
        frame.index = pd.DatetimeIndex(frame.index, freq=node["freq"]) if node.get("freq") else frame.index
        if tag == "frame":
            return frame.set_axis(self.value(node["columns"]), axis=1)
        return frame.iloc[:, 0].rename(self.value(node["name"])) if tag == "series" else frame.index


@functools.lru_cache(maxsize=None)
def load_bank(notebook: str, folder: Path | None = None) -> Bank | None:
    """The recorded bank of a notebook ("01") in ``folder`` (labkit's own by default; read once), or None."""
    path = Path(folder or BANK_DIR) / f"{notebook}.json"
    if not path.is_file():
        return None
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as npz:
        return Bank(json.loads(path.read_text(encoding="utf-8")), {name: npz[name] for name in npz.files})


def notebooks() -> list[str]:
    return sorted(p.stem for p in BANK_DIR.glob("*.json"))


def fingerprint(value: Any) -> tuple[str, list[float]]:
    """``(key, sketch)``: the key hashes structure, names, text, times and missing values; numbers go into the
    sketch (four weighted sums per array), so values that differ by rounding still match (:func:`sketches_match`).

    >>> (k1, s1), (k2, s2) = fingerprint({"x": [0.1 + 0.2, 2]}), fingerprint({"x": [0.3, 2.0]})
    >>> k1 == k2 and sketches_match(s1, s2)
    True
    """
    key, sketch = [], []
    _walk(value, key, sketch)
    return hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:32], sketch


def sketches_match(a: list[float], b: list[float], rtol: float = 1e-6) -> bool:
    """True when two sketches agree within ``rtol`` of each array's magnitude."""
    a, b = np.asarray(a, dtype=float).reshape(-1, 4), np.asarray(b, dtype=float).reshape(-1, 4)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rtol * np.maximum(a[:, 3:], b[:, 3:]) + 1e-9))


def _walk(value: Any, key: list[str], sketch: list[float]) -> None:
    if isinstance(value, pd.DataFrame):  # a table: its columns by name (in any order), then its index
        value = {**{f"column {c}": value[c].to_numpy() for c in value.columns}, "index": value.index}
    if isinstance(value, pd.Series):
        _array(value.index, key, sketch)
    if isinstance(value, (np.ndarray, pd.Index, pd.Series)):
        key.append(f"shape{np.shape(value)}")
        _array(value, key, sketch)
    elif isinstance(value, Mapping):
        key.append(f"map{len(value)}")
        for k in sorted(value, key=repr):
            key.append(repr(k))
            _walk(value[k], key, sketch)
    elif isinstance(value, (list, tuple)):
        key.append(f"seq{len(value)}")
        for item in value:
            _walk(item, key, sketch)
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        _array(np.array([value], dtype=float), key, sketch)
    else:
        key.append(f"{type(value).__name__}:{value!r}")


def _array(values: Any, key: list[str], sketch: list[float]) -> None:
    values = pd.Series(np.ravel(values) if isinstance(values, np.ndarray) else values)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        x = values.to_numpy(dtype=float, na_value=np.nan)
        odd = ~np.isfinite(x)
        key.append(f"num{x.size}:" + hashlib.sha256(np.where(odd, x, 0).tobytes()).hexdigest())
        x, w = np.where(odd, 0.0, x), np.arange(x.size)
        sketch += [x.sum(), x @ np.cos(0.7 * w), x @ np.sin(1.3 * w), np.abs(x).sum()]
    elif values.dtype.kind in "mM":
        key.append(f"{values.dtype}:" + hashlib.sha256(values.to_numpy().view("int64").tobytes()).hexdigest())
    else:
        text = "\x1e".join("<NA>" if m else repr(v) for v, m in zip(values, pd.isna(values).to_numpy()))
        key.append("obj:" + hashlib.sha256(text.encode()).hexdigest())


class ExerciseNotDoneError(LookupError):
    """A fallback was called with arguments the notebook never uses: the exercise must be done first."""


def call_fingerprint(exercise: Mapping, bound: Mapping[str, Any]) -> tuple[str, list[float]]:
    """The fingerprint of one call's bound arguments; of a table, only the columns the exercise reads."""
    shown = {}
    for name, value in bound.items():
        reads = exercise.get("reads", {}).get(name)
        if isinstance(value, pd.DataFrame) and reads is not None:  # "@arg": the column(s) named by argument arg
            named = [bound[c[1:]] if isinstance(c, str) and c.startswith("@") else c for c in reads]
            columns = [c for n in named for c in ([n] if isinstance(n, str) else n)]
            value = value[[c for c in columns if c in value.columns]]
        shown[name] = value
    return fingerprint(shown)


def make_fallback(exercise_id: str, exercise: Mapping, bank: Bank):
    """A function with the exercise's signature that returns the recorded result of each known call."""
    name = exercise_id.split(".", 1)[1]
    kind, empty = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty
    sig = inspect.Signature([inspect.Parameter(p["name"], kind, default=bank.value(p["default"]) if "default" in p
                                               else empty) for p in exercise["signature"]])
    table = exercise.get("fallback", [])

    def fallback(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        try:
            key, sketch = call_fingerprint(exercise, bound.arguments)
        except Exception:  # a column the exercise reads is missing, an argument of an odd kind, ...
            key, sketch = "", []
        for entry in table:
            if entry["key"] == key and sketches_match(entry["sketch"], sketch):
                return bank.value(entry["result"])
        raise fail(name, "arguments", f"one of the {len(table)} calls this notebook makes",
                   "<a call the notebook does not make>",
                   f"exercise {exercise_id} must be done first: make its check print ✅, then run this cell again",
                   ExerciseNotDoneError)

    fallback.__name__ = fallback.__qualname__ = name
    fallback.__signature__, fallback.labkit_fallback = sig, exercise_id
    fallback.__doc__ = f"Recorded results of {name}() for the calls this notebook makes (exercise {exercise_id})."
    return fallback
