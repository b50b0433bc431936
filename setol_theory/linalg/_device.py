"""Device selection for the torch backends: CUDA discovery and device errors."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from ..errors import DeviceError

# --------------------------------------------------------------------------------------------
# Backend choice
# --------------------------------------------------------------------------------------------


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device (imports torch if it is installed)."""
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _require_torch(name: str) -> Any:
    from ..util import MissingExtra, require

    try:
        return require("torch", f"device={name!r}")
    except MissingExtra as exc:  # "device='cuda': needs torch, ...": the CLI names the flag
        raise DeviceError(str(exc).replace(f"device={name!r} needs", f"device={name!r}: needs",
                                           1)) from None


def _cuda_device(name: str) -> str:
    import torch

    count = torch.cuda.device_count()
    if name == "cuda":
        index = torch.cuda.current_device()
    else:
        try:
            index = int(name.split(":", 1)[1])
        except ValueError:
            raise DeviceError(f"device={name!r}: the CUDA index must be an integer "
                              "('cuda:0')") from None
    if not 0 <= index < count:
        raise DeviceError(f"device={name!r}: only {count} CUDA device(s) (0..{count - 1})")
    return f"cuda:{index}"

