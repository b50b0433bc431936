"""Tensors from every supported source: a state dict, an ``nn.Module``, a
``.safetensors``/``.pt``/``.npz``/``.npy`` file or a Hugging-Face model directory.

``.pt``/``.pth``/``.bin``/``.ckpt`` files are pickles and are read only with
``torch.load(..., weights_only=True)``; ``.npz``/``.npy`` with ``allow_pickle=False``.  A corrupt
file gives one ``ValueError`` naming the file and tensor.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._tensor import (
    import_torch,
    is_tensor,
    np_category,
    torch_category,
    torch_dtype_name,
    torch_module,
    torch_to_numpy,
)
from ._record import _Tensor
from ._safetensors import _ST_DTYPE_NAMES, _ST_DTYPES, _ST_NUMPY, _SafetensorsFile

try:  # lzma-compressed zip members
    import lzma

    _LZMA_ERRORS: tuple[type[Exception], ...] = (lzma.LZMAError,)
except ImportError:  # pragma: no cover - Python built without lzma
    _LZMA_ERRORS = ()


_SAFETENSORS_SUFFIXES = (".safetensors",)


#: Suffixes of torch checkpoints (pickles, read with ``weights_only=True``).
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


_NUMPY_SUFFIXES = (".npz", ".npy")


# --------------------------------------------------------------------------------------------
# Sources -> stored tensors
# --------------------------------------------------------------------------------------------


def _numpy_tensor(name: str, arr: np.ndarray) -> _Tensor:
    def load() -> np.ndarray:
        if arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
            return arr.astype(np.float32 if arr.dtype.itemsize < 4 else np.float64)
        return arr

    return _Tensor(name, tuple(int(s) for s in arr.shape), np_category(arr.dtype),
                   str(arr.dtype), load)


def _torch_tensor(name: str, t: Any, kind: str | None = None) -> _Tensor:
    torch = import_torch()
    if isinstance(t, torch.nn.parameter.UninitializedParameter):
        return _Tensor(name, (), "float", "uninitialized", lambda: np.zeros(0), kind,
                       "uninitialized lazy parameter (run a forward pass first)")
    out = _Tensor(name, tuple(int(s) for s in t.shape), torch_category(t.dtype),
                  torch_dtype_name(t.dtype), lambda: torch_to_numpy(t), kind)
    if t.is_meta:
        out.skip_reason = "tensor on the meta device has no data"
    return out


def _value_tensor(name: str, value: Any) -> _Tensor:
    if is_tensor(value):
        return _torch_tensor(name, value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        return _Tensor(name, (), "other", type(value).__name__, lambda: np.zeros(0), "tensor",
                       f"cannot be converted to an array ({exc})")
    return _numpy_tensor(name, arr)


def _is_container_of_arrays(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and any(
        isinstance(v, (Mapping, np.ndarray)) or is_tensor(v) for v in value
    )


def _module_tensors(module: Any) -> Iterator[_Tensor]:
    """Weights of an ``nn.Module``: walk ``named_modules()`` and each module's own parameters."""
    torch = import_torch()
    nn = torch.nn
    seen: dict[int, str] = {}
    for mname, mod in module.named_modules():
        prefix = f"{mname}." if mname else ""
        known: dict[str, str]
        if isinstance(mod, nn.MultiheadAttention):
            known = dict.fromkeys(
                ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"),
                "attn_in_proj",
            )
        elif isinstance(mod, nn.Linear):
            known = {"weight": "linear"}
        elif isinstance(mod, (nn.Embedding, nn.EmbeddingBag)):
            known = {"weight": "embedding"}
        elif isinstance(mod, nn.modules.conv._ConvNd):
            known = {"weight": f"conv{len(mod.kernel_size)}d"}
        else:
            known = {}
        for pname, param in mod.named_parameters(recurse=False):
            full = prefix + pname
            kind = known.get(pname)
            if kind is None:
                rank = 0 if isinstance(param, nn.parameter.UninitializedParameter) else param.dim()
                if rank <= 1 or "bias" in pname:
                    kind = "vector"
                elif rank == 2:
                    kind = "matrix"
                else:
                    kind = "tensor"
            t = _torch_tensor(full, param, kind)
            if id(param) in seen:
                t.skip_reason = f"tied: same parameter as {seen[id(param)]!r}"
            else:
                seen[id(param)] = full
            yield t


def _mark_tied_torch(tensors: list[_Tensor], values: list[Any]) -> None:
    """Mark state-dict entries that are the same storage view as an earlier entry."""
    seen: dict[tuple[Any, ...], str] = {}
    for t, v in zip(tensors, values, strict=True):
        if not is_tensor(v) or v.is_meta or v.numel() == 0 or t.skip_reason:
            continue
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape),
               tuple(v.stride()), v.dtype)
        if key in seen:
            t.skip_reason = f"tied: same tensor as {seen[key]!r}"
        else:
            seen[key] = t.name


def _state_dict_tensors(mapping: Mapping[Any, Any]) -> list[_Tensor]:
    tensors: list[_Tensor] = []
    values: list[Any] = []

    def walk(m: Mapping[Any, Any], prefix: str) -> None:
        for key, value in m.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                walk(value, name)
            elif isinstance(value, (list, tuple)) and _is_container_of_arrays(value):
                walk(dict(enumerate(value)), name)
            else:
                tensors.append(_value_tensor(name, value))
                values.append(value)

    walk(mapping, "")
    _mark_tied_torch(tensors, values)
    return tensors


def _safetensors_tensors(st: _SafetensorsFile) -> Iterator[_Tensor]:
    for e in st.entries.values():
        category = _ST_DTYPES[e.dtype][1]
        dtype = _ST_DTYPE_NAMES.get(e.dtype) or str(np.dtype(_ST_NUMPY[e.dtype]))

        def load(n: str = e.name) -> np.ndarray:
            arr = st.load(n)
            return arr.astype(np.float32) if arr.dtype == np.float16 else arr

        yield _Tensor(e.name, e.shape, category, dtype, load)


#: What zipfile / zlib / numpy's .npy reader raise on a corrupt archive or member: bad CRC,
#: bad zip structure (BadZipFile), bad deflate/lzma data, short reads (EOFError, OSError),
#: unsupported compression or "encrypted" flags (NotImplementedError / RuntimeError),
#: unparsable .npy headers (ValueError, struct.error; tokenize.TokenError or SyntaxError from
#: numpy's Python-2 header filter).
_NPY_READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError, struct.error,
    SyntaxError, tokenize.TokenError, OverflowError, *_LZMA_ERRORS,
)


#: ... and while parsing a header (at most numpy's 10 kB limit), parser stack overflows on a
#: hostile header such as ``----...1`` (MemoryError / RecursionError from ``ast.literal_eval``).
_NPY_HEADER_ERRORS = (*_NPY_READ_ERRORS, MemoryError, RecursionError)


#: What ``torch.load(weights_only=True)`` lets escape on a corrupt or truncated checkpoint
#: (besides ``pickle.UnpicklingError``): miniz/zip errors (RuntimeError, BadZipFile), short
#: reads (EOFError, OSError, struct.error), and from the legacy (non-zip) format and the
#: restricted unpickler IndexError / KeyError (bad memo or stack), AssertionError (storage key
#: missing), TypeError / AttributeError (a rebuild function given garbage arguments).
_TORCH_LOAD_ERRORS: tuple[type[Exception], ...] = (
    RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError, struct.error,
    AssertionError, AttributeError, TypeError, OverflowError, zipfile.BadZipFile, zlib.error,
)


def _exc_text(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` of a library exception on one line, at most ``limit`` characters."""
    msg = " ".join(str(exc).split())
    if len(msg) > limit:
        msg = msg[: limit - 3] + "..."
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


@contextlib.contextmanager
def _corrupt_as_value_error(
    path: Path, what: str, errors: tuple[type[Exception], ...]
) -> Iterator[None]:
    """Re-raise ``errors`` from reading ``path`` as ``ValueError("{path}: {what}corrupt or
    unreadable ...")`` (``what`` names the member/tensor, e.g. ``"tensor 'a' (member 'a.npy'):
    "``). A missing file stays a ``FileNotFoundError``."""
    try:
        yield
    except FileNotFoundError:
        raise
    except errors as exc:
        raise ValueError(f"{path}: {what}corrupt or unreadable ({_exc_text(exc)})") from exc


def _zip_declared_count(path: Path) -> int | None:
    """Member count declared by the zip end-of-central-directory record (None if unknown)."""
    end_rec_data = getattr(zipfile, "_EndRecData", None)  # private, but in every CPython 3
    index = getattr(zipfile, "_ECD_ENTRIES_TOTAL", None)
    if end_rec_data is None or index is None:  # pragma: no cover
        return None
    with open(path, "rb") as f:
        rec = end_rec_data(f)
    return int(rec[index]) if rec else None


def _npz_tensors(path: Path) -> Iterator[_Tensor]:
    """Members of an ``.npz``, headers checked against the archive before any data is read.

    Every read (the listing, each member's header, and each member's data when the layer is
    loaded) turns a corrupt archive into a ``ValueError`` naming the file and the member.
    """
    with _corrupt_as_value_error(path, "archive: ", _NPY_READ_ERRORS):
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
        declared = _zip_declared_count(path)
    if declared is not None and declared != len(infos):
        # zipfile stops at the central directory's byte size without checking the count: a
        # corrupt entry length would silently hide the members after it
        raise ValueError(
            f"{path}: archive: corrupt: the end record lists {declared} members but the "
            f"central directory holds {len(infos)} readable entries"
        )
    for info in infos:
        if not info.filename.endswith(".npy"):
            yield _Tensor(info.filename, (), "other", "unknown", lambda: np.zeros(0), "tensor",
                          "archive member is not a .npy array")
            continue
        name = info.filename[: -len(".npy")]
        where = f"tensor {name!r} (member {info.filename!r}): "
        try:
            with _corrupt_as_value_error(path, where, _NPY_HEADER_ERRORS):
                with zipfile.ZipFile(path) as zf, zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            if any(d < 0 for d in shape):
                raise ValueError(f"{path}: {where}header declares a negative dimension {shape}")
        except ValueError as exc:  # one unreadable member: a skipped record, the rest is read
            yield _Tensor(name, (), "other", "unknown", lambda: np.zeros(0), "tensor", str(exc))
            continue
        if dtype.hasobject:
            yield _Tensor(name, tuple(shape), "other", str(dtype), lambda: np.zeros(0), "tensor",
                          "object array refused (allow_pickle=False)")
            continue
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:
            yield _Tensor(name, (), "other", str(dtype), lambda: np.zeros(0), "tensor",
                          f"{path}: {where}header declares {nbytes} bytes but the member "
                          f"holds {info.file_size} (truncated or corrupt)")
            continue

        def load(info: zipfile.ZipInfo = info, where: str = where) -> np.ndarray:
            with _corrupt_as_value_error(path, where, _NPY_HEADER_ERRORS):
                with zipfile.ZipFile(path) as zf, zf.open(info) as f:
                    arr = np.lib.format.read_array(f, allow_pickle=False)
            if arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
                arr = arr.astype(np.float32 if arr.dtype.itemsize < 4 else np.float64)
            return arr

        yield _Tensor(name, tuple(int(s) for s in shape), np_category(dtype), str(dtype), load)


def load_torch_file(path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers (``weights_only=True``)."""
    torch = import_torch(f"reading the torch checkpoint {path}")
    import pickle
    import warnings

    try:
        with warnings.catch_warnings():
            # torch warns (UserWarning) about pickles and its weights_only default before it
            # refuses: the refusal below says what matters in one line
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(
                path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
            )
    except pickle.UnpicklingError as exc:
        text = str(exc)
        marker = "WeightsUnpickler error:"
        detail = text[text.index(marker) + len(marker):] if marker in text else text
        detail = detail.split("Check the documentation of torch.load")[0]
        detail = " ".join(detail.split())
        if "Unsupported global" in detail or "is blocked" in detail:
            import re

            found = re.search(r"GLOBAL (\S+)", detail) or re.search(r"(\S+) is blocked", detail)
            what = f" ({found.group(1)})" if found else ""
            raise ValueError(
                f"{path}: refused: holds Python objects{what} besides tensors, which "
                "weights_only=True does not load; convert it to .safetensors where you trust it"
            ) from None
        raise ValueError(
            f"{path}: corrupt or unreadable torch checkpoint: torch.load(weights_only=True) "
            f"failed ({_exc_text(pickle.UnpicklingError(detail))})"
        ) from exc
    except FileNotFoundError:
        raise
    except _TORCH_LOAD_ERRORS as exc:
        raise ValueError(
            f"{path}: corrupt or unreadable torch checkpoint ({_exc_text(exc)})"
        ) from exc


def _torch_file_tensors(path: Path) -> list[_Tensor]:
    obj = load_torch_file(path)
    if is_tensor(obj):
        return [_torch_tensor("W", obj)]
    if isinstance(obj, Mapping):
        tensors = _state_dict_tensors(obj)
    elif isinstance(obj, (list, tuple)):
        tensors = _state_dict_tensors(dict(enumerate(obj)))
    else:
        raise ValueError(f"{path}: checkpoint holds a {type(obj).__name__}, not tensors")
    if not tensors:
        raise ValueError(f"{path}: checkpoint holds no tensors")
    return tensors


def _index_shards(index: Path) -> tuple[list[Path], dict[str, str]]:
    """Shard files named by a Hugging-Face ``*.index.json`` (checked: plain names, existing)."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{index}: not valid JSON ({exc})") from None
    wmap = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(wmap, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in wmap.items()
    ):
        raise ValueError(f"{index}: no valid 'weight_map' (tensor name -> shard file)")
    shards: list[Path] = []
    for fname in sorted(set(wmap.values())):
        if Path(fname).name != fname or fname in (".", ".."):
            raise ValueError(f"{index}: shard {fname!r} is not a plain file name")
        shard = index.parent / fname
        if not shard.is_file():
            raise FileNotFoundError(f"{shard}: shard listed in {index.name} is missing")
        shards.append(shard)
    return shards, wmap


def _directory_tensors(d: Path) -> Iterator[_Tensor]:
    """A Hugging-Face model directory: safetensors (sharded or not), else pytorch_model.bin;
    a PEFT adapter directory (``adapter_config.json``): one low-rank record per module."""
    from ._peft import adapter_tensors, is_adapter_dir

    if is_adapter_dir(d):
        return adapter_tensors(d, _path_tensors)
    index = d / "model.safetensors.index.json"
    if index.is_file():
        files, wmap = _index_shards(index)
    else:
        files, wmap = sorted(d.glob("*.safetensors")), {}
    if files:
        opened = [_SafetensorsFile(f) for f in files]
        owner: dict[str, Path] = {}
        for st in opened:
            for n in st.entries:
                if n in owner:
                    raise ValueError(
                        f"{d}: tensor {n!r} is in both {owner[n].name} and {st.path.name}"
                    )
                owner[n] = st.path
        for n, fname in wmap.items():
            if n not in owner or owner[n].name != fname:
                raise ValueError(f"{index}: tensor {n!r} is not in its shard {fname}")
        return (t for st in opened for t in _safetensors_tensors(st))
    bin_index = d / "pytorch_model.bin.index.json"
    if bin_index.is_file():
        shards, _ = _index_shards(bin_index)
        return (t for shard in shards for t in _torch_file_tensors(shard))
    if (d / "pytorch_model.bin").is_file():
        return iter(_torch_file_tensors(d / "pytorch_model.bin"))
    raise ValueError(
        f"{d}: no weights found: expected *.safetensors (optionally sharded with "
        "model.safetensors.index.json) or pytorch_model.bin"
    )


def _path_tensors(p: Path) -> Iterator[_Tensor]:
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    if p.is_dir():
        return _directory_tensors(p)
    if p.stat().st_size == 0:
        raise ValueError(f"{p}: empty file (0 bytes)")
    suffix = p.suffix.lower()
    if suffix in _SAFETENSORS_SUFFIXES:
        return _safetensors_tensors(_SafetensorsFile(p))
    if suffix == ".npz":
        if not zipfile.is_zipfile(p):
            raise ValueError(f"{p}: not a valid .npz (zip) archive")
        return _npz_tensors(p)
    if suffix == ".npy":
        with _corrupt_as_value_error(p, ".npy file: ", _NPY_HEADER_ERRORS):
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        return iter([_numpy_tensor(p.stem, np.asarray(arr))])
    if suffix in TORCH_SUFFIXES:
        return iter(_torch_file_tensors(p))
    known = ", ".join(_SAFETENSORS_SUFFIXES + _NUMPY_SUFFIXES + TORCH_SUFFIXES)
    raise ValueError(f"{p}: unknown weights file type {suffix!r} (expected one of {known}, "
                     "or a model directory)")


def _source_tensors(source: Any) -> Iterator[_Tensor]:
    from ._peft import WithBase, with_base_tensors

    if isinstance(source, WithBase):
        return with_base_tensors(source, _source_tensors)
    if isinstance(source, (str, os.PathLike)):
        return _path_tensors(Path(source))
    if isinstance(source, np.ndarray):
        return iter([_numpy_tensor("W", source)])
    torch = torch_module()
    if torch is not None:
        if isinstance(source, torch.nn.Module):
            return _module_tensors(source)
        if isinstance(source, torch.Tensor):
            return iter([_torch_tensor("W", source)])
    if isinstance(source, Mapping):
        return iter(_state_dict_tensors(source))
    raise TypeError(
        f"unsupported weights source of type {type(source).__name__}: expected an array, a "
        "mapping of arrays/tensors, an nn.Module, or a path"
    )

