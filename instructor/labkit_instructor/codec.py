"""Values as data: JSON nodes plus ``.npy``/Parquet blobs, never pickles.

The one encoder of the lab's recorded values (the way back is ``labkit.exercises.Bank.value``). It
writes the student banks, the grader's inputs and expected outputs, and the results a sandboxed
submission sends back. This module imports nothing from the instructor package, so the grader can
copy it into a sandbox without copying anything else.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BLOB_TAGS", "BankWriter", "blob_names", "encode", "npz_bytes", "npy_b64", "read_npy_b64"]

BLOB_TAGS = ("array", "frame", "series", "index")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BankWriter:
    """Encodes values into JSON nodes, collecting arrays and tables as blobs (deduplicated by content)."""

    def __init__(self) -> None:
        self.blobs: dict[str, np.ndarray] = {}

    def _blob(self, array: np.ndarray) -> str:
        name = "b" + hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()[:20]
        self.blobs[name] = array
        return name

    def _parquet(self, frame: pd.DataFrame) -> str:
        buffer = io.BytesIO()
        frame.set_axis([f"c{i}" for i in range(frame.shape[1])], axis=1).to_parquet(buffer, compression="zstd")
        return self._blob(np.frombuffer(buffer.getvalue(), dtype=np.uint8))

    def encode(self, value: Any) -> Any:
        """A JSON-able node for ``value``; TypeError for a kind of value the format does not hold."""
        if isinstance(value, np.generic) and not isinstance(value, (np.datetime64, np.timedelta64)):
            value = value.item()
        if value is None or isinstance(value, (bool, str, int)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, tuple):
            return {"$": "tuple", "v": [self.encode(v) for v in value]}
        if isinstance(value, Mapping):
            return {"$": "dict", "v": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, (pd.Timestamp, np.datetime64)) and not isinstance(value, pd.Timedelta):
            return {"$": "timestamp", "v": pd.Timestamp(value).isoformat()}
        if isinstance(value, (pd.Timedelta, np.timedelta64)):
            return {"$": "timedelta", "v": int(pd.Timedelta(value).value)}
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise TypeError(f"cannot record an object array ({value[:3]!r}...); use a typed array or a list")
            return {"$": "array", "v": self._blob(np.ascontiguousarray(value))}
        if isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
            return self._pandas(value)
        raise TypeError(f"cannot record a value of type {type(value).__name__}; the format holds numbers, text, "
                        "times, lists, tuples, dicts, NumPy arrays and pandas objects")

    def _pandas(self, value: pd.DataFrame | pd.Series | pd.Index) -> dict[str, Any]:
        frame = (value if isinstance(value, pd.DataFrame) else value.to_frame(name="c0")
                 if isinstance(value, pd.Series) else pd.DataFrame(index=value))
        node: dict[str, Any] = {"$": {pd.DataFrame: "frame", pd.Series: "series"}.get(type(value), "index"),
                                "v": self._parquet(frame)}
        if isinstance(value, pd.DataFrame):
            node["columns"] = self.encode(list(value.columns))
        if isinstance(value, pd.Series):
            node["name"] = self.encode(value.name)
        if getattr(frame.index, "freqstr", None):
            node["freq"] = frame.index.freqstr
        return node


def encode(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """``(node, blobs)`` for one value."""
    writer = BankWriter()
    return writer.encode(value), writer.blobs


def blob_names(node: Any) -> list[str]:
    """The blobs a node (or a whole bank) refers to."""
    if isinstance(node, list):
        return [n for x in node for n in blob_names(x)]
    if not isinstance(node, dict):
        return []
    if node.get("$") in BLOB_TAGS:
        return [node["v"]]
    return [n for k, x in node.items() if k != "$" for n in blob_names(x)]


def npz_bytes(blobs: Mapping[str, np.ndarray], names: list[str] | None = None) -> bytes:
    """A reproducible ``.npz`` (sorted members, fixed zip times) of the named blobs (all by default)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(set(blobs if names is None else names)):
            array_bytes = io.BytesIO()
            np.lib.format.write_array(array_bytes, blobs[name], allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, array_bytes.getvalue())
    return buffer.getvalue()


def npy_b64(array: np.ndarray) -> str:
    """One array as base64 text of its ``.npy`` bytes (for JSON lines)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def read_npy_b64(text: str) -> np.ndarray:
    """The way back from :func:`npy_b64` (never unpickles)."""
    return np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)


def dumps(node: Any) -> str:
    """Compact, deterministic JSON (no NaN: they are encoded as tagged floats)."""
    return json.dumps(node, sort_keys=False, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
