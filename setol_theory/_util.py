"""Small pure helpers shared across setol_theory (bottom layer: imports nothing from it)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def nan_to_none(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-Inf) replaced by ``None``, for JSON.

    Dicts, lists and tuples are walked recursively (tuples become lists); numpy scalars
    become Python scalars. Anything else is returned unchanged.
    """
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [nan_to_none(v) for v in obj]
    if isinstance(obj, np.generic):
        return nan_to_none(obj.item())
    return obj
