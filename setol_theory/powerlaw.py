"""Deprecated module: its names moved to ``setol_theory.fit``.

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, _MOVED := {
    "DEFAULT_ALPHA_RANGE": "setol_theory.fit",
    "DEFAULT_MIN_TAIL": "setol_theory.fit",
    "KSConvention": "setol_theory.fit",
    "PowerLawBoundWarning": "setol_theory.fit",
    "PowerLawFit": "setol_theory.fit",
    "TruncatedPowerLawFit": "setol_theory.fit",
    "fit_powerlaw": "setol_theory.fit",
    "fit_truncated_powerlaw": "setol_theory.fit",
    "powerlaw_ccdf": "setol_theory.fit",
    "powerlaw_pdf": "setol_theory.fit",
    "truncated_powerlaw_pdf": "setol_theory.fit",
})

#: ``from setol_theory.powerlaw import *`` still gives the 0.1 names (each with its warning).
__all__ = sorted(_MOVED)
