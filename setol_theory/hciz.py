"""Deprecated module: its names moved to ``setol_theory.rmt``.

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, _MOVED := {
    "ConvergenceResult": "setol_theory.rmt",
    "DEFAULT_COINCIDENCE_RTOL": "setol_theory.rmt",
    "DEFAULT_MAX_DPS": "setol_theory.rmt",
    "MCEstimate": "setol_theory.rmt",
    "SpectralModel": "setol_theory.rmt",
    "asymptotic_convergence": "setol_theory.rmt",
    "critical_coupling": "setol_theory.rmt",
    "haar_matrices": "setol_theory.rmt",
    "hciz_exact_unitary": "setol_theory.rmt",
    "hciz_lowrank_asymptotic": "setol_theory.rmt",
    "hciz_mc": "setol_theory.rmt",
    "log_hciz_exact_unitary": "setol_theory.rmt",
    "log_mean_exp": "setol_theory.rmt",
    "log_spherical_integral_exact": "setol_theory.rmt",
    "paper_gamma_inf": "setol_theory.rmt",
    "spherical_integral_asymptotic": "setol_theory.rmt",
    "spherical_integral_exact_orthogonal": "setol_theory.rmt",
    "spherical_integral_exact_unitary": "setol_theory.rmt",
    "spherical_integral_mc": "setol_theory.rmt",
    "spherical_integral_rate": "setol_theory.rmt",
})

#: ``from setol_theory.hciz import *`` still gives the 0.1 names (each with its warning).
__all__ = sorted(_MOVED)
