"""Many checkpoints at once: checkpoint discovery, per-layer tasks on serial or Dask executors, the
resumable JSON-lines table.
"""

from __future__ import annotations

from ._checkpoints import (
    WEIGHT_SUFFIXES,
    Checkpoint,
    SkippedPathWarning,
    find_checkpoints,
)
from ._history import DEFAULT_METRICS, History, history, parse_step
from ._many import (
    analyze_many,
    analyze_on_cluster,
)
from ._table import (
    KEYS,
    ManyAnalysis,
    read_table,
)
from ._tasks import (
    CheckpointChanged,
    UnreadableCheckpoint,
    analyze_one_layer,
    list_layers,
)

__all__ = [
    "DEFAULT_METRICS",
    "History",
    "history",
    "parse_step",
    "Checkpoint",
    "CheckpointChanged",
    "KEYS",
    "ManyAnalysis",
    "SkippedPathWarning",
    "UnreadableCheckpoint",
    "WEIGHT_SUFFIXES",
    "analyze_many",
    "analyze_on_cluster",
    "analyze_one_layer",
    "find_checkpoints",
    "list_layers",
    "read_table",
]
