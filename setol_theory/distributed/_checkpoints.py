"""Many models and checkpoints at once: one task per layer on a Dask cluster, one table.

:func:`analyze_many` analyses every layer of every checkpoint found in a directory, a glob or a
list of paths (a training history, a model zoo), one task per layer, on a
``dask.distributed`` cluster (a ``LocalCluster`` by default, or the scheduler at an address),
or in this process (``scheduler="serial"``). Each finished layer is appended at once to a
JSON-lines file, one record per line with the keys ``model``, ``checkpoint``, ``layer`` and the
columns of :class:`setol_theory.htsr.LayerMetrics`; a rerun with the same file and settings
skips the layers already there (resume), except those of a checkpoint rewritten since (each
row records the file's ``mtime_ns:size`` as ``file_id``). The file is locked (``flock``)
while a run writes it. Layer tasks are identified by their position in the checkpoint's
listing (flattened names need not be unique) and read only their own tensor.
:func:`analyze_on_cluster` runs one model's ``setol analyze`` the same way
(``setol analyze --scheduler``).

Every record depends only on the layer and the settings (the trap shuffle of every layer is
seeded with the same ``seed``), so the table is the same serial, distributed, resumed or
with workers lost mid-run: a task whose worker dies is re-run by the scheduler on another
worker (up to ``distributed.scheduler.allowed-failures`` times), and a record is written once
per key, when its result arrives.

The workers must see the checkpoint paths (shared storage on a real cluster) and have setol
installed. dask is imported only when a cluster is used.
"""

from __future__ import annotations

import glob
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SkippedPathWarning

#: File suffixes taken as checkpoints when a directory or glob is searched.
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".npz", ".npy")


_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Checkpoint:
    """One weights file or model directory, with its keys in the results table.

    Attributes
    ----------
    model : str
        The first path component below the search root (the run or model directory), or
        the root's name for files directly in it.
    checkpoint : str
        The path below the model directory (``"epoch_10.safetensors"``,
        ``"ckpt-100/model.safetensors"``).
    path : str
        Absolute path of the file or directory.
    """

    model: str
    checkpoint: str
    path: str


def _natural_key(text: str) -> tuple[Any, ...]:
    # ASCII digits only: str.isdigit() is also true for "²" or "①", which int() refuses.
    # re.split with one group alternates text, number, text, ...: the types line up.
    parts = re.split(r"([0-9]+)", text)
    return tuple(int(t) if i % 2 else t for i, t in enumerate(parts))


def _is_model_dir(d: Path) -> bool:
    """A sharded model directory (an index file) or a PEFT adapter directory
    (``adapter_config.json``): one checkpoint, not a tree of files."""
    return any((d / f).is_file() for f in (*_INDEX_FILES, "adapter_config.json"))


def _scan(p: Path, _seen: set[str] | None = None) -> list[Path]:
    """Checkpoint paths under ``p`` (a file, a sharded model directory, or a tree).

    Unreadable entries below ``p`` (broken links, unreadable or already visited
    directories) are skipped with a :class:`SkippedPathWarning`.
    """
    if p.is_file():
        return [p] if p.suffix in WEIGHT_SUFFIXES else []
    if not p.is_dir():
        if p.is_symlink():
            warnings.warn(f"{p}: broken symbolic link, skipped", SkippedPathWarning,
                          stacklevel=2)
        return []  # a socket, a FIFO, a device: not a checkpoint
    if _is_model_dir(p):
        return [p]
    seen = set() if _seen is None else _seen
    real = os.path.realpath(p)
    if real in seen:  # a symbolic link back to a directory already searched
        warnings.warn(f"{p}: directory already searched (symbolic-link loop?), skipped",
                      SkippedPathWarning, stacklevel=2)
        return []
    seen.add(real)
    try:
        children = sorted(p.iterdir(), key=lambda c: _natural_key(c.name))
    except OSError as exc:
        if _seen is None:  # the source itself
            raise
        warnings.warn(f"{p}: cannot be listed ({exc.strerror or exc}), skipped",
                      SkippedPathWarning, stacklevel=2)
        return []
    found: list[Path] = []
    for child in children:
        if child.name.startswith("."):
            continue
        found.extend(_scan(child, seen))
    return found


def _keys(path: Path, root: Path) -> tuple[str, str]:
    rel = path.relative_to(root)
    parts = rel.parts
    if len(parts) <= 1:
        return (root.name or str(root)), rel.as_posix()
    return parts[0], Path(*parts[1:]).as_posix()


def find_checkpoints(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
                     ) -> list[Checkpoint]:
    """The checkpoints named by a directory, a glob, a file, or a list of them.

    Parameters
    ----------
    sources
        * a directory: every weights file (:data:`WEIGHT_SUFFIXES`) below it, recursively,
          and every sharded model directory (with a ``*.index.json``) or PEFT adapter
          directory (with ``adapter_config.json``) as one checkpoint;
        * a glob (``"runs/*/epoch_*.safetensors"``, ``**`` allowed): its matches, each
          scanned as above; the keys are relative to the deepest common directory;
        * a file.

    Returns
    -------
    list of Checkpoint
        Sorted by model, then checkpoint, with numbers in names compared as numbers
        (``epoch_2`` before ``epoch_10``); duplicates removed.

    Raises
    ------
    FileNotFoundError
        A source that neither exists nor matches anything, or no checkpoint at all.
    ValueError
        Two checkpoints with the same keys.

    Warns
    -----
    SkippedPathWarning
        For each entry below a searched directory that cannot be read (a broken symbolic
        link, a directory without permission, a symbolic-link loop): it is skipped.
    """
    items = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    out: dict[str, Checkpoint] = {}
    for src in items:
        p = Path(src)
        if p.exists():
            paths = _scan(p.resolve())
            root = p.resolve() if p.is_dir() else p.resolve().parent
        else:
            matches = sorted(glob.glob(str(src), recursive=True))
            if not matches:
                raise FileNotFoundError(f"{src}: no such file or directory, and no glob match")
            resolved = [Path(m).resolve() for m in matches]
            paths = [q for m in resolved for q in _scan(m)]
            root = Path(os.path.commonpath([str(m.parent) for m in resolved]))
        for q in paths:
            model, ckpt = _keys(q, root)
            out.setdefault(str(q), Checkpoint(model, ckpt, str(q)))
    if not out:
        raise FileNotFoundError(f"no weights files ({', '.join(WEIGHT_SUFFIXES)}) in "
                                f"{', '.join(str(s) for s in items)}")
    ckpts = sorted(out.values(), key=lambda c: (_natural_key(c.model), _natural_key(c.checkpoint)))
    seen: dict[tuple[str, str], str] = {}
    for c in ckpts:
        other = seen.setdefault((c.model, c.checkpoint), c.path)
        if other != c.path:
            raise ValueError(f"{other} and {c.path} have the same keys model={c.model!r}, "
                             f"checkpoint={c.checkpoint!r}; analyse them separately")
    return ckpts

