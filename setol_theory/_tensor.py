"""Conversion of torch tensors to numpy without importing torch at import time.

torch is optional: it is looked up in ``sys.modules`` (a tensor can only exist if torch was
imported by the caller) and imported only where a torch file or device is asked for.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------
# Eigenvalues
# --------------------------------------------------------------------------------------------


def torch_module() -> Any | None:
    """The torch module if it is already imported (a tensor exists only if it is)."""
    return sys.modules.get("torch")


def is_tensor(x: Any) -> bool:
    torch = torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def import_torch(feature: str = "this operation") -> Any:
    """``import torch``, or :class:`~setol_theory.errors.MissingExtra` naming ``feature`` and
    the extra ``setol[torch]`` when torch is not installed."""
    from .util import require

    return require("torch", feature)


def np_category(dtype: np.dtype) -> str:
    if dtype.kind == "f":
        return "float"
    if dtype.kind in "iu":
        return "integer"
    if dtype.kind == "b":
        return "boolean"
    if dtype.kind == "c":
        return "complex"
    return "other"


def torch_category(dtype: Any) -> str:
    torch = import_torch()
    if dtype.is_floating_point:
        return "float"
    if dtype.is_complex:
        return "complex"
    if dtype == torch.bool:
        return "boolean"
    return "integer"  # int*, uint*, quantized qint*


def torch_dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def dtype_problem(category: str, dtype_name: str) -> str | None:
    """Reason why a dtype cannot hold a weight matrix, or None."""
    if category == "float":
        return None
    if category in ("integer", "boolean"):
        return f"{category} dtype {dtype_name}, not a float weight matrix"
    if category == "complex":
        return f"complex dtype {dtype_name} is not supported"
    return f"non-numeric dtype {dtype_name}, not a weight matrix"


def shape_problem(shape: tuple[int, ...]) -> str | None:
    """Reason why a 2-D shape has no spectrum, or None."""
    if len(shape) != 2:
        return f"expected a 2-D matrix, got shape {shape}"
    if min(shape) == 0:
        return f"empty matrix (shape {shape})"
    if min(shape) < 2:
        return f"1-wide matrix (shape {shape}) has fewer than 2 eigenvalues"
    return None


def torch_to_numpy(t: Any) -> np.ndarray:
    """A float32/float64 numpy array from a float tensor (half/bf16/fp8 upcast to float32)."""
    torch = import_torch()
    t = t.detach()
    if t.device.type != "cpu":
        t = t.to("cpu")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t.numpy()


def as_torch(W: Any, torch: Any) -> Any:
    """``W`` (a tensor, detached, or an array, shared without a copy where torch allows) as a
    CPU-side torch tensor: negative strides are made contiguous and non-native byte order
    native, which ``torch.from_numpy`` rejects."""
    if is_tensor(W):
        return W.detach()
    A = np.asarray(W)
    if any(s < 0 for s in A.strides):
        A = np.ascontiguousarray(A)
    if not A.dtype.isnative:
        A = A.astype(A.dtype.newbyteorder("="))
    with warnings.catch_warnings():
        # read-only arrays (memory-mapped weights): the tensor is only read, never written
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(A)
