"""Model weights in, layer matrices out: readers for safetensors, torch, npz and Hugging-Face
directories, and :func:`iter_layers`.
"""

from __future__ import annotations

from ._describe import ACTIONS, LayerPlan, describe_layers
from ._esd import ESD_SUFFIXES, read_esd
from ._iter import (
    default_model_path,
    iter_layers,
)
from ._layer import (
    KINDS,
    Layer,
)
from ._peft import WithBase, is_adapter_dir
from ._readers import TORCH_SUFFIXES, load_torch_file
from ._safetensors import (
    read_safetensors,
)

__all__ = [
    "ESD_SUFFIXES",
    "read_esd",
    "WithBase",
    "is_adapter_dir",
    "ACTIONS",
    "LayerPlan",
    "describe_layers",
    "TORCH_SUFFIXES",
    "load_torch_file",
    "KINDS",
    "Layer",
    "default_model_path",
    "iter_layers",
    "read_safetensors",
]
