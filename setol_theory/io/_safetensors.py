"""A safetensors reader with no dependency beyond numpy.

The header length, JSON, dtypes, shapes and offsets are all checked against the file size
before any tensor is touched; tensors are memory-mapped and materialised one at a time.
Format: https://github.com/huggingface/safetensors (README, "Format").
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_MAX_HEADER_BYTES = 100_000_000


# --------------------------------------------------------------------------------------------
# safetensors reader
# --------------------------------------------------------------------------------------------

# dtype -> (item size in bytes, category)
_ST_DTYPES: dict[str, tuple[int, str]] = {
    "F64": (8, "float"),
    "F32": (4, "float"),
    "F16": (2, "float"),
    "BF16": (2, "float"),
    "F8_E4M3": (1, "float"),
    "F8_E5M2": (1, "float"),
    "I64": (8, "integer"),
    "I32": (4, "integer"),
    "I16": (2, "integer"),
    "I8": (1, "integer"),
    "U64": (8, "integer"),
    "U32": (4, "integer"),
    "U16": (2, "integer"),
    "U8": (1, "integer"),
    "BOOL": (1, "boolean"),
}


_ST_NUMPY = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
    "BOOL": "?",
}


_ST_DTYPE_NAMES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "BOOL": "bool",
}


def _e4m3fn_table() -> np.ndarray:
    """float32 value of each of the 256 float8 e4m3fn codes (OCP FP8: bias 7, no inf)."""
    codes = np.arange(256)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exp = (codes >> 3) & 0xF
    man = codes & 0x7
    val = np.where(exp == 0, man / 8.0 * 2.0**-6, (1.0 + man / 8.0) * 2.0 ** (exp - 7.0))
    val = sign * val
    val[(exp == 0xF) & (man == 0x7)] = np.nan
    return val.astype(np.float32)


@dataclass(frozen=True)
class _STEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


class _SafetensorsFile:
    """A validated safetensors file; tensors are memory-mapped on demand.

    Every check is done in ``__init__`` from the header and the file size, before any tensor
    byte is read, so a truncated or hostile file fails with a ``ValueError`` naming it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        p = self.path
        size = p.stat().st_size
        if size < 8:
            raise ValueError(
                f"{p}: not a safetensors file: {size} bytes, shorter than the 8-byte header length"
            )
        with open(p, "rb") as f:
            (hlen,) = struct.unpack("<Q", f.read(8))
            if hlen > _MAX_HEADER_BYTES:
                raise ValueError(
                    f"{p}: header length {hlen} bytes exceeds the {_MAX_HEADER_BYTES}-byte limit "
                    "(corrupt or not a safetensors file)"
                )
            if 8 + hlen > size:
                raise ValueError(
                    f"{p}: header length {hlen} bytes exceeds the file size {size} bytes "
                    "(truncated or corrupt)"
                )
            raw = f.read(hlen)
        try:
            header = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{p}: header is not valid UTF-8 ({exc})") from None
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, duplicate key, nesting
            raise ValueError(f"{p}: header is not valid JSON ({exc})") from None
        if not isinstance(header, dict):
            raise ValueError(f"{p}: header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"{p}: __metadata__ is not a JSON object")
        self.metadata: dict[str, Any] = metadata
        self.data_start = 8 + hlen
        self.data_size = size - self.data_start
        entries: list[_STEntry] = []
        for name, info in header.items():
            entries.append(self._check_entry(name, info))
        entries.sort(key=lambda e: (e.begin, e.end, e.name))
        prev: _STEntry | None = None
        for e in entries:
            if prev is not None and e.begin < prev.end and e.begin != e.end:
                raise ValueError(
                    f"{p}: tensors {prev.name!r} and {e.name!r} overlap in the data buffer"
                )
            if e.begin != e.end:
                prev = e
        self.entries: dict[str, _STEntry] = {e.name: e for e in entries}  # file order
        self._buf: np.ndarray | None = None

    def _check_entry(self, name: str, info: Any) -> _STEntry:
        p = self.path
        if not isinstance(info, dict):
            raise ValueError(f"{p}: tensor {name!r}: header entry is not a JSON object")
        dtype, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in _ST_DTYPES:
            raise ValueError(f"{p}: tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise ValueError(f"{p}: tensor {name!r}: invalid shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_count(o) for o in offs)):
            raise ValueError(f"{p}: tensor {name!r}: invalid data_offsets {offs!r}")
        begin, end = offs
        if begin > end or end > self.data_size:
            raise ValueError(
                f"{p}: tensor {name!r}: data_offsets [{begin}, {end}] outside the "
                f"{self.data_size}-byte data buffer (truncated or corrupt)"
            )
        nbytes = math.prod(shape) * _ST_DTYPES[dtype][0]
        if end - begin != nbytes:
            raise ValueError(
                f"{p}: tensor {name!r}: data_offsets span {end - begin} bytes but dtype {dtype} "
                f"and shape {shape} need {nbytes}"
            )
        return _STEntry(name, dtype, tuple(shape), begin, end)

    def _buffer(self) -> np.ndarray:
        if self._buf is None:
            if self.data_size == 0:
                self._buf = np.zeros(0, dtype=np.uint8)
            else:
                mm = np.memmap(
                    self.path, dtype=np.uint8, mode="r", offset=self.data_start,
                    shape=(self.data_size,),
                )
                self._buf = np.asarray(mm)  # plain read-only ndarray view of the mapping
        return self._buf

    def _read(self, e: _STEntry) -> np.ndarray:
        """The bytes of one tensor read into a fresh buffer (not mapped: a converted tensor
        leaves no file pages in the process's resident memory)."""
        out = np.empty(e.end - e.begin, dtype=np.uint8)
        with open(self.path, "rb") as f:
            f.seek(self.data_start + e.begin)
            got = f.readinto(memoryview(out))
        if got != out.size:
            raise ValueError(f"{self.path}: tensor {e.name!r}: file shorter than its header says "
                             "(changed while being read?)")
        return out

    def load(self, name: str) -> np.ndarray:
        """The tensor as a numpy array: a zero-copy read-only view for native dtypes,
        a float32 copy for bfloat16 and float8 (numpy has no such dtypes; their bytes are
        read, not mapped, so the resident memory is the copy alone)."""
        e = self.entries[name]
        if e.dtype in _ST_NUMPY:
            raw = self._buffer()[e.begin:e.end]
            return raw.view(_ST_NUMPY[e.dtype]).reshape(e.shape)
        raw = self._read(e) if e.end > e.begin else np.zeros(0, dtype=np.uint8)
        if e.dtype == "BF16":  # bfloat16 = upper half of a float32
            bits = raw.view("<u2").astype(np.uint32) << 16
            return bits.view(np.float32).reshape(e.shape)
        if e.dtype == "F8_E5M2":  # e5m2 = upper byte of a float16
            half = (raw.astype(np.uint16) << 8).view(np.float16)
            return half.astype(np.float32).reshape(e.shape)
        if e.dtype == "F8_E4M3":
            return _e4m3fn_table()[raw].reshape(e.shape)
        raise AssertionError(e.dtype)  # pragma: no cover - dtypes checked in __init__


def read_safetensors(
    path: str | os.PathLike[str], *, names: Sequence[str] | None = None
) -> Iterator[tuple[str, np.ndarray]]:
    """Read a ``.safetensors`` file lazily, one tensor at a time.

    The whole header is validated when this function is called (not at the first ``next``):
    header length against the file size (and a 100 MB cap), UTF-8 JSON without duplicate keys,
    known dtypes, non-negative integer shapes, offsets inside the data buffer, non-overlapping,
    and ``end - begin == prod(shape) * itemsize``.

    Parameters
    ----------
    path : path-like
        The file.
    names : sequence of str, optional
        Only these tensors, in this order (default: all, in storage order).

    Yields
    ------
    (name, array)
        Native dtypes (F64, F32, F16, integers, BOOL) come as read-only views of a memory map
        (F16 stays float16); BF16, F8_E4M3 (e4m3fn) and F8_E5M2 are converted exactly to
        float32.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Corrupt, truncated or hostile file (the message names the file and the problem).
    KeyError
        A requested name is not in the file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    st = _SafetensorsFile(p)
    selected = list(st.entries) if names is None else list(names)
    missing = [n for n in selected if n not in st.entries]
    if missing:
        raise KeyError(f"{p}: no tensor named {missing[0]!r}")

    def gen() -> Iterator[tuple[str, np.ndarray]]:
        for n in selected:
            yield n, st.load(n)

    return gen()

