"""One task per layer: read one tensor of one checkpoint and analyse it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointChanged, MissingExtra, UnreadableCheckpoint
from ..htsr import LayerMetrics
from ..io import TORCH_SUFFIXES, Layer, load_torch_file
from ..options import AnalysisOptions
from ..pipeline import analyze_layers, in_size_range, pools_slices, select_layers
from ..util import nan_to_none as _nan_to_none
from ._checkpoints import WEIGHT_SUFFIXES


def _file_stamp(path: str) -> str:
    """The identity of a checkpoint's content: ``mtime_ns:size`` of a file; of a sharded
    model directory, a hash of those of its weights and index files. Recorded in every row
    (``file_id``) and checked by every task."""
    p = Path(path)
    try:
        if p.is_dir():
            parts = []
            for c in sorted(p.iterdir()):
                if (c.suffix in WEIGHT_SUFFIXES or c.name.endswith(".index.json")) \
                        and c.is_file():
                    st = c.stat()
                    parts.append(f"{c.name}:{st.st_mtime_ns}:{st.st_size}")
            return "dir:" + hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]
        st = p.stat()
    except OSError:
        return "missing"
    return f"{st.st_mtime_ns}:{st.st_size}"


def _check_stamp(path: str, stamp: str | None) -> None:
    if stamp is not None and _file_stamp(path) != stamp:
        raise CheckpointChanged(f"{path} changed while it was being analysed (rewritten by "
                                "another process?); run again to analyse the new version")




@lru_cache(maxsize=1)
def _cached_torch_file(path: str, mtime_ns: int, size: int) -> Any:
    """A torch checkpoint (loaded as ``iter_layers`` loads it: ``weights_only=True``, memory-
    mapped), kept for the next layer task of the same worker: one file per worker process."""

    obj = load_torch_file(Path(path))
    return dict(enumerate(obj)) if isinstance(obj, list | tuple) else obj


def _layer_source(path: str) -> Any:
    """What ``iter_layers`` reads for a checkpoint: the path, or a cached torch state."""
    p = Path(path)
    if p.is_file() and p.suffix in TORCH_SUFFIXES:
        st = p.stat()
        return _cached_torch_file(str(p), st.st_mtime_ns, st.st_size)
    return path


def _iter(path: str, opts: AnalysisOptions, layers: Sequence[str] | None = None
          ) -> Iterator[Layer]:
    return select_layers(_layer_source(path), opts, layers)


def _needs_eigenvalues(layer: Layer, opts: AnalysisOptions) -> bool:
    # a dense W or the factors of a low-rank (LoRA) layer
    return layer.ok and in_size_range(int(layer.M or 0), opts)


def _analyze(layers: Iterable[Layer], opts: AnalysisOptions
             ) -> Iterator[tuple[LayerMetrics, np.ndarray | None]]:
    return ((r.metrics, r.evals) for r in analyze_layers(layers, opts, on_error="record"))


def _read_layers(path: str, opts: AnalysisOptions) -> Iterator[Layer]:
    """The selected layers of a checkpoint; a file that cannot be read as one raises
    :class:`UnreadableCheckpoint`."""
    try:
        it = _iter(path, opts)
    except (ValueError, MissingExtra) as exc:
        # not weights, corrupt, refused pickle, a torch file without torch (bad options:
        # checked before)
        raise UnreadableCheckpoint(str(exc)) from None
    while True:
        try:
            layer = next(it)
        except StopIteration:
            return
        except ValueError as exc:  # a tensor that cannot be read
            raise UnreadableCheckpoint(str(exc)) from None
        yield layer


def list_layers(path: str, opts: AnalysisOptions, stamp: str | None = None
                ) -> list[tuple[str, dict[str, Any] | None]]:
    """``(layer name, record)`` of every selected layer of a checkpoint, in model order.

    The record is already final for layers that need no eigenvalues (skipped, filtered);
    ``None`` marks a layer for :func:`analyze_one_layer`. Runs on a worker. With ``stamp``
    (:func:`_file_stamp` taken by the client) a file changed since raises
    :class:`CheckpointChanged`; a file that is not a readable checkpoint raises
    :class:`UnreadableCheckpoint`.
    """
    _check_stamp(path, stamp)
    out: list[tuple[str, dict[str, Any] | None]] = []
    try:
        for layer in _read_layers(path, opts):
            if pools_slices(layer, opts):  # one task per conv layer: its pooled ESD
                if not out or out[-1] != (layer.base_name, None):
                    out.append((layer.base_name, None))
            elif _needs_eigenvalues(layer, opts):
                out.append((layer.name, None))
            else:
                ((m, _),) = list(_analyze([layer], opts))
                out.append((layer.name, _nan_to_none(m.to_dict())))
    except UnreadableCheckpoint:
        _check_stamp(path, stamp)  # a file being written is not unreadable
        raise
    _check_stamp(path, stamp)
    return out


def analyze_one_layer(path: str, name: str, opts: AnalysisOptions, keep_evals: bool = False,
                      occurrence: int = 0, stamp: str | None = None
                      ) -> tuple[dict[str, Any], list[float] | None]:
    """The record of one layer (and its eigenvalues if asked). Runs on a worker.

    The layer is the ``occurrence``-th (from 0) selected layer named ``name`` in model
    order: flattened names need not be unique (``{"a": {"weight": W1}, "a.weight": W2}``).
    Only the tensors of that name are read. With ``stamp`` a file changed since the listing
    raises :class:`CheckpointChanged`.
    """
    _check_stamp(path, stamp)
    patterns = [re.compile(p) for p in opts.layers] if opts.layers else None
    # read only the tensors that can hold the layer: those named `name`, or whose parts are
    # (a conv slice "w[0,1]", an attention part "in_proj_weight[q]")
    k = 0
    pooled: list[Layer] = []  # the slices of a conv layer analysed as one pooled ESD
    for layer in _iter(path, opts, layers=[r"\A" + re.escape(name) + r"\Z"]):
        # the user's filter, as iter_layers applies it (to the part or the tensor name)
        if patterns is not None and not any(p.search(layer.name) or p.search(layer.base_name)
                                            for p in patterns):
            continue
        if layer.base_name == name and pools_slices(layer, opts):
            pooled.append(layer)
            continue
        if layer.name != name:
            continue
        if k == occurrence:
            ((m, ev),) = list(_analyze([layer], opts))
            evals = ev.tolist() if keep_evals and ev is not None else None
            _check_stamp(path, stamp)
            return _nan_to_none(m.to_dict()), evals
        k += 1
    if pooled:
        ((m, ev),) = list(_analyze(pooled, opts))
        evals = ev.tolist() if keep_evals and ev is not None else None
        _check_stamp(path, stamp)
        return _nan_to_none(m.to_dict()), evals
    _check_stamp(path, stamp)
    raise CheckpointChanged(f"{path}: no layer named {name!r} (occurrence {occurrence}); "
                            "was the file changed?")

