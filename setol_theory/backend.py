"""Deprecated module: its names moved to ``setol_theory.linalg``, ``setol_theory.verify``.

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, _MOVED := {
    "Agreement": "setol_theory.verify",
    "Backend": "setol_theory.linalg",
    "DEVICES": "setol_theory.linalg",
    "DeviceError": "setol_theory.linalg",
    "DeviceFallbackWarning": "setol_theory.linalg",
    "LSS_CONSTANT": "setol_theory.verify",
    "NUMPY": "setol_theory.linalg",
    "PRECISIONS": "setol_theory.linalg",
    "Spectrum": "setol_theory.linalg",
    "TW_WINDOW": "setol_theory.verify",
    "agreement_checks": "setol_theory.verify",
    "batched_eigenvalues": "setol_theory.linalg",
    "compare_spectra": "setol_theory.verify",
    "cuda_available": "setol_theory.linalg",
    "eigenvalue_error_bound": "setol_theory.linalg",
    "eigenvalues": "setol_theory.linalg",
    "gpu_checks": "setol_theory.verify",
    "resolve_backend": "setol_theory.linalg",
    "rmt_checks": "setol_theory.verify",
})

#: ``from setol_theory.backend import *`` still gives the 0.1 names (each with its warning).
__all__ = sorted(_MOVED)
