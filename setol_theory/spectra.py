"""Deprecated module: its names moved to ``setol_theory.io``, ``setol_theory.linalg``.

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, _MOVED := {
    "KINDS": "setol_theory.io",
    "Layer": "setol_theory.io",
    "correlation_eigenvalues": "setol_theory.linalg",
    "default_model_path": "setol_theory.io",
    "finalize_eigenvalues": "setol_theory.linalg",
    "gram_numpy": "setol_theory.linalg",
    "iter_layers": "setol_theory.io",
    "read_safetensors": "setol_theory.io",
    "validate_matrix": "setol_theory.linalg",
    "zero_threshold": "setol_theory.linalg",
})

#: ``from setol_theory.spectra import *`` still gives the 0.1 names (each with its warning).
__all__ = sorted(_MOVED)
