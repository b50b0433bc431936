"""Deprecated module: its names moved to ``setol_theory.rmt``.

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, _MOVED := {
    "EmpiricalSpectrum": "setol_theory.rmt",
    "FreeCauchy": "setol_theory.rmt",
    "InverseMarchenkoPastur": "setol_theory.rmt",
    "LevyPowerLaw": "setol_theory.rmt",
    "MarchenkoPastur": "setol_theory.rmt",
    "MultiplicativeWishart": "setol_theory.rmt",
    "TruncatedPowerLaw": "setol_theory.rmt",
    "Wigner": "setol_theory.rmt",
    "bare_power_law_stieltjes": "setol_theory.rmt",
    "q2_levy_paper": "setol_theory.rmt",
})

#: ``from setol_theory.densities import *`` still gives the 0.1 names (each with its warning).
__all__ = sorted(_MOVED)
