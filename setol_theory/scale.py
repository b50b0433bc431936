"""Deprecated module: its names moved to ``setol_theory.distributed``.

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, _MOVED := {
    "Checkpoint": "setol_theory.distributed",
    "CheckpointChanged": "setol_theory.distributed",
    "KEYS": "setol_theory.distributed",
    "ManyAnalysis": "setol_theory.distributed",
    "SkippedPathWarning": "setol_theory.distributed",
    "UnreadableCheckpoint": "setol_theory.distributed",
    "WEIGHT_SUFFIXES": "setol_theory.distributed",
    "analyze_many": "setol_theory.distributed",
    "analyze_on_cluster": "setol_theory.distributed",
    "analyze_one_layer": "setol_theory.distributed",
    "find_checkpoints": "setol_theory.distributed",
    "list_layers": "setol_theory.distributed",
    "read_table": "setol_theory.distributed",
})

#: ``from setol_theory.scale import *`` still gives the 0.1 names (each with its warning).
__all__ = sorted(_MOVED)
