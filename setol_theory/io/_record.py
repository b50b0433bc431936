"""The record of one stored tensor, described before its data is read (shared by the readers
of :mod:`setol_theory.io`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


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
    # a low-rank record (LoRA dW = s B A): () -> (B, A, s); analysed without forming dW
    factors: Callable[[], tuple[np.ndarray, np.ndarray, float]] | None = None
