"""Deprecated module: its names moved to ``setol_theory.rmt``.

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, _MOVED := {
    "Branch": "setol_theory.rmt",
    "FreeAdditiveConvolution": "setol_theory.rmt",
    "as_upper": "setol_theory.rmt",
    "free_additive_convolution": "setol_theory.rmt",
    "free_cumulants_to_moments": "setol_theory.rmt",
    "haar_orthogonal": "setol_theory.rmt",
    "integrated_r": "setol_theory.rmt",
    "inverse_stieltjes": "setol_theory.rmt",
    "moments_to_free_cumulants": "setol_theory.rmt",
    "r_from_stieltjes": "setol_theory.rmt",
    "sample_free_sum": "setol_theory.rmt",
    "stieltjes_density": "setol_theory.rmt",
    "stieltjes_samples": "setol_theory.rmt",
})

#: ``from setol_theory.free import *`` still gives the 0.1 names (each with its warning).
__all__ = sorted(_MOVED)
