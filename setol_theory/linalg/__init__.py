"""Eigenvalues of layer correlation matrices on numpy, torch-CPU or CUDA backends, batched, with
float32 error bounds.
"""

from __future__ import annotations

from ..errors import DeviceError, DeviceFallbackWarning
from ._backend import (
    DEVICES,
    NUMPY,
    PRECISIONS,
    Backend,
    Spectrum,
    batched_eigenvalues,
    eigenvalue_error_bound,
    eigenvalues,
    resolve_backend,
)
from ._device import cuda_available
from ._eigen import (
    available_memory_bytes,
    correlation_eigenvalues,
    eigen_memory_bytes,
    finalize_eigenvalues,
    gram_numpy,
    validate_matrix,
    zero_threshold,
)
from ._krylov import TopEigenvalues, krylov_error_bound, top_eigenvalues
from ._lowrank import lowrank_eigenvalues

__all__ = [
    "available_memory_bytes",
    "eigen_memory_bytes",
    "Backend",
    "DEVICES",
    "DeviceError",
    "DeviceFallbackWarning",
    "NUMPY",
    "PRECISIONS",
    "Spectrum",
    "batched_eigenvalues",
    "correlation_eigenvalues",
    "cuda_available",
    "eigenvalue_error_bound",
    "eigenvalues",
    "finalize_eigenvalues",
    "lowrank_eigenvalues",
    "gram_numpy",
    "krylov_error_bound",
    "resolve_backend",
    "TopEigenvalues",
    "top_eigenvalues",
    "validate_matrix",
    "zero_threshold",
]
