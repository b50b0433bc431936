"""Deprecated module: its names moved to ``setol_theory.report``.

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, _MOVED := {
    "plot_ecs_esd": "setol_theory.report",
    "plot_erg_vs_alpha": "setol_theory.report",
    "plot_hciz_convergence": "setol_theory.report",
    "plot_layer_esd": "setol_theory.report",
    "plot_quality_curve": "setol_theory.report",
    "plot_quality_vs_alpha": "setol_theory.report",
    "plot_verify_model": "setol_theory.report",
    "safe_filename": "setol_theory.report",
})

#: ``from setol_theory.plotting import *`` still gives the 0.1 names (each with its warning).
__all__ = sorted(_MOVED)
