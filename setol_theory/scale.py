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
import hashlib
import json
import math
import numbers
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .htsr import LayerMetrics, ModelAnalysis, _nan_to_none, analyze_layers
from .spectra import Layer, iter_layers

__all__ = [
    "WEIGHT_SUFFIXES",
    "Checkpoint",
    "CheckpointChanged",
    "LayerOptions",
    "ManyAnalysis",
    "SkippedPathWarning",
    "UnreadableCheckpoint",
    "analyze_many",
    "analyze_on_cluster",
    "find_checkpoints",
    "read_table",
]

#: File suffixes taken as checkpoints when a directory or glob is searched.
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt", ".npz", ".npy")
_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
#: First line of a results file.
_FORMAT = "setol.analyze_many/1"
KEYS = ("model", "checkpoint", "layer")


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
    return any((d / f).is_file() for f in _INDEX_FILES)


class SkippedPathWarning(UserWarning):
    """A path under a searched directory that cannot be read (a broken symbolic link, a
    directory without read permission, a symbolic-link loop) was skipped."""


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
          and every sharded model directory (with a ``*.index.json``) as one checkpoint;
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


# --------------------------------------------------------------------------------------------
# Settings and per-layer tasks (run on the workers)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerOptions:
    """The analysis settings of every task (the arguments of :func:`setol_theory.htsr.
    analyze` that are not the source; ``fit`` is a tuple of ``(name, value)`` pairs)."""

    layers: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    conv: str = "slices"
    min_evals: int = 2
    max_evals: int | None = None
    normalization: str = "N"
    traps: bool = True
    seed: int | None = 0
    fit: tuple[tuple[str, Any], ...] = ()
    method: str = "auto"
    device: str = "numpy"
    trap_shuffle: str = "auto"
    trap_scale: str = "variance"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (recorded in the results file and compared on resume)."""
        d = asdict(self)
        d["fit"] = dict(self.fit)
        d["layers"] = list(self.layers) if self.layers is not None else None
        d["kinds"] = list(self.kinds) if self.kinds is not None else None
        return json.loads(json.dumps(d))

    def token(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def _options(
    *, layers: str | Sequence[str] | None, kinds: Sequence[str] | None, conv: str,
    min_evals: int, max_evals: int | None, normalization: str, traps: bool,
    seed: int | None, fit_kwargs: dict[str, Any] | None, method: str, device: str,
    trap_shuffle: str, trap_scale: str = "variance",
) -> LayerOptions:
    return LayerOptions(
        layers=(layers,) if isinstance(layers, str) else (tuple(layers) if layers else None),
        kinds=(kinds,) if isinstance(kinds, str) else (tuple(kinds) if kinds else None),
        conv=conv, min_evals=min_evals, max_evals=max_evals, normalization=normalization,
        traps=traps, seed=seed, fit=tuple(sorted((fit_kwargs or {}).items())),
        method=method, device=device, trap_shuffle=trap_shuffle, trap_scale=trap_scale,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _validate(opts: LayerOptions) -> None:
    """Check the options where the run starts (not as a failure of every task).

    Raises ``ValueError`` naming the option.
    """
    from .htsr import SHUFFLES, TRAP_SCALES
    from .powerlaw import fit_powerlaw
    from .spectra import KINDS

    for pat in opts.layers or ():
        if not isinstance(pat, str):
            raise ValueError(f"layers: expected regular expressions (str), got {pat!r}")
        try:
            re.compile(pat)
        except re.error as exc:
            raise ValueError(f"layers: invalid regular expression {pat!r} ({exc})") from None
    unknown = [k for k in opts.kinds or () if k not in KINDS]
    if unknown:
        raise ValueError(f"kinds: unknown layer kind(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(KINDS)}")
    choices: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
        ("conv", opts.conv, ("slices", "reshape")),
        ("normalization", opts.normalization, ("N", "none")),
        ("method", opts.method, ("auto", "eigvalsh", "svd")),
        ("trap_shuffle", opts.trap_shuffle, SHUFFLES),
        ("trap_scale", opts.trap_scale, TRAP_SCALES),
    )
    for name, value, allowed in choices:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    for name, value in (("min_evals", opts.min_evals), ("max_evals", opts.max_evals)):
        if value is not None and not _is_int(value):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if opts.min_evals < 0 or (opts.max_evals is not None and opts.max_evals < opts.min_evals):
        raise ValueError(f"need 0 <= min_evals <= max_evals, got min_evals={opts.min_evals}, "
                         f"max_evals={opts.max_evals}")
    if opts.seed is not None and not (_is_int(opts.seed) and opts.seed >= 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {opts.seed!r}")
    dev = str(opts.device).strip().lower()
    if not (dev in ("numpy", "cpu", "torch", "torch-cpu", "torch:cpu", "auto", "cuda")
            or re.fullmatch(r"cuda:[0-9]+", dev)):
        raise ValueError(f"unknown device {opts.device!r}; use numpy, torch-cpu, cuda, "
                         "cuda:N or auto")
    import inspect

    params = set(inspect.signature(fit_powerlaw).parameters) - {"x"}
    bad = sorted(k for k, _ in opts.fit if k not in params)
    if bad:
        raise ValueError(f"fit_kwargs: unknown option(s) {', '.join(bad)}; known: "
                         f"{', '.join(sorted(params))}")
    min_tail = dict(opts.fit).get("min_tail")
    if min_tail is not None and not (_is_int(min_tail) and min_tail >= 2):
        raise ValueError(f"min_tail must be an integer >= 2, got {min_tail!r}")


class UnreadableCheckpoint(ValueError):
    """The file cannot be read as a checkpoint (not weights, corrupt, refused pickle): the
    same on every try until the file changes."""


class CheckpointChanged(ValueError):
    """The checkpoint was rewritten while it was being analysed."""


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


_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


@lru_cache(maxsize=1)
def _cached_torch_file(path: str, mtime_ns: int, size: int) -> Any:
    """A torch checkpoint (loaded as ``iter_layers`` loads it: ``weights_only=True``, memory-
    mapped), kept for the next layer task of the same worker: one file per worker process."""
    from .spectra import _torch_load

    obj = _torch_load(Path(path))
    return dict(enumerate(obj)) if isinstance(obj, list | tuple) else obj


def _layer_source(path: str) -> Any:
    """What ``iter_layers`` reads for a checkpoint: the path, or a cached torch state."""
    p = Path(path)
    if p.is_file() and p.suffix in _TORCH_SUFFIXES:
        st = p.stat()
        return _cached_torch_file(str(p), st.st_mtime_ns, st.st_size)
    return path


def _iter(path: str, opts: LayerOptions, layers: Sequence[str] | None = None
          ) -> Iterator[Layer]:
    if layers is None:
        layers = list(opts.layers) if opts.layers else None
    return iter_layers(_layer_source(path), layers=layers,
                       kinds=list(opts.kinds) if opts.kinds else None, conv=opts.conv)


def _needs_eigenvalues(layer: Layer, opts: LayerOptions) -> bool:
    if layer.W is None:
        return False
    M = min(layer.W.shape)
    return opts.min_evals <= M <= (opts.max_evals if opts.max_evals is not None else M)


def _analyze(layers: Iterable[Layer], opts: LayerOptions
             ) -> Iterator[tuple[LayerMetrics, np.ndarray | None]]:
    return iter(analyze_layers(
        layers, min_evals=opts.min_evals, max_evals=opts.max_evals,
        normalization=opts.normalization, traps=opts.traps, seed=opts.seed,
        fit_kwargs=dict(opts.fit), method=opts.method, device=opts.device, on_error="record",
        trap_shuffle=opts.trap_shuffle, trap_scale=opts.trap_scale,
    ))


def _read_layers(path: str, opts: LayerOptions) -> Iterator[Layer]:
    """The selected layers of a checkpoint; a file that cannot be read as one raises
    :class:`UnreadableCheckpoint`."""
    try:
        it = _iter(path, opts)
    except ValueError as exc:  # not weights, corrupt, refused pickle (bad options: checked)
        raise UnreadableCheckpoint(str(exc)) from None
    while True:
        try:
            layer = next(it)
        except StopIteration:
            return
        except ValueError as exc:  # a tensor that cannot be read
            raise UnreadableCheckpoint(str(exc)) from None
        yield layer


def list_layers(path: str, opts: LayerOptions, stamp: str | None = None
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
            if _needs_eigenvalues(layer, opts):
                out.append((layer.name, None))
            else:
                ((m, _),) = list(_analyze([layer], opts))
                out.append((layer.name, _nan_to_none(m.to_dict())))
    except UnreadableCheckpoint:
        _check_stamp(path, stamp)  # a file being written is not unreadable
        raise
    _check_stamp(path, stamp)
    return out


def analyze_one_layer(path: str, name: str, opts: LayerOptions, keep_evals: bool = False,
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
    for layer in _iter(path, opts, layers=[r"\A" + re.escape(name) + r"\Z"]):
        if layer.name != name:
            continue
        # the user's filter, as iter_layers applies it (to the part or the tensor name)
        if patterns is not None and not any(p.search(layer.name) or p.search(layer.base_name)
                                            for p in patterns):
            continue
        if k == occurrence:
            ((m, ev),) = list(_analyze([layer], opts))
            evals = ev.tolist() if keep_evals and ev is not None else None
            _check_stamp(path, stamp)
            return _nan_to_none(m.to_dict()), evals
        k += 1
    _check_stamp(path, stamp)
    raise CheckpointChanged(f"{path}: no layer named {name!r} (occurrence {occurrence}); "
                            "was the file changed?")


# --------------------------------------------------------------------------------------------
# Executors: in this process, or on a Dask cluster
# --------------------------------------------------------------------------------------------


class _Serial:
    """Runs the tasks in this process, in order."""

    def map_ordered(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                    ) -> list[Any]:
        out = []
        for a in args:
            try:
                out.append(fn(*a))
            except Exception as exc:  # recorded as a failure of that task
                out.append(exc)
        return out

    def as_completed(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                     ) -> Iterator[tuple[int, Any]]:
        for i, a in enumerate(args):
            try:
                yield i, fn(*a)
            except Exception as exc:
                yield i, exc


class _Dask:
    """Submits the tasks to a ``distributed.Client`` with deterministic keys."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _submit(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                ) -> list[Any]:
        return [self.client.submit(fn, *a, key=k, pure=False) for a, k in
                zip(args, keys, strict=True)]

    def map_ordered(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                    ) -> list[Any]:
        futures = self._submit(fn, args, keys)
        out: list[Any] = []
        for f in futures:
            try:
                out.append(f.result())
            except Exception as exc:
                out.append(exc)
        return out

    def as_completed(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                     ) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        futures = self._submit(fn, args, keys)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut, res in as_completed(futures, with_results=True, raise_errors=False):
            yield index[fut.key], _outcome(fut, res)
            fut.release()


def _outcome(fut: Any, res: Any) -> Any:
    """The result of a finished future, or its exception. ``as_completed(...,
    with_results=True, raise_errors=False)`` gives ``(type, exception, traceback)`` for a
    task that raised and a ``CancelledError`` for a cancelled one."""
    if fut.status == "finished":
        return res
    if fut.status == "error":
        if isinstance(res, tuple) and len(res) == 3 and isinstance(res[1], BaseException):
            return res[1]
        exc = fut.exception()
        if isinstance(exc, BaseException):
            return exc
    if isinstance(res, BaseException):
        return res
    return RuntimeError(f"task {fut.key} ended with status {fut.status!r}")


@contextmanager
def _executor(scheduler: Any, n_workers: int | None) -> Iterator[_Serial | _Dask]:
    """``"serial"``; ``"local"`` / None (a new LocalCluster); an address; or a Client."""
    if scheduler == "serial":
        yield _Serial()
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("a Dask scheduler needs dask.distributed: pip install "
                          "'dask[distributed]' (or use scheduler='serial')") from exc
    if isinstance(scheduler, Client):
        yield _Dask(scheduler)
        return
    if scheduler in (None, "local"):
        import logging

        n = n_workers or max(1, min(os.cpu_count() or 1, 8))
        # CRITICAL: no "Compute Failed" log per failed task; the client reports failures
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=logging.CRITICAL) as cluster, \
                Client(cluster) as client:
            yield _Dask(client)
        return
    with Client(str(scheduler)) as client:
        yield _Dask(client)


def _task_key(kind: str, *parts: Any) -> str:
    h = hashlib.sha1(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]
    return f"setol-{kind}-{h}"


def _file_id(path: str, stamp: str | None = None) -> str:
    """Path and content stamp: part of the task keys (a changed file gets new keys)."""
    return f"{path}:{stamp if stamp is not None else _file_stamp(path)}"


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


@dataclass
class ManyAnalysis:
    """The results table of :func:`analyze_many`.

    Attributes
    ----------
    records : list of dict
        One row per layer: ``model``, ``checkpoint``, ``layer``, ``layer_index`` (position in
        the model), the columns of :class:`~setol_theory.htsr.LayerMetrics` (``name``
        dropped; NaN as ``None``) and ``file_id`` (the checkpoint's ``mtime_ns:size`` when
        the row was made), ordered by checkpoint (as :func:`find_checkpoints` sorts them)
        and layer (model order). Rows of earlier runs in the results file whose checkpoint
        is no longer found are kept; rows of a checkpoint that changed since are not.
    settings : dict
        The analysis settings (:meth:`LayerOptions.to_dict`).
    checkpoints : list of Checkpoint
    failed : list of dict
        Tasks that raised (keys, ``error``): not in ``records`` and not in the file, so a
        rerun retries them.
    computed, resumed : int
        Rows made in this run, and rows taken from the results file.
    changed : list of Checkpoint
        Checkpoints with rows in the results file made from another version of the file
        (rewritten under the same name): their rows were made again.
    unreadable : list of dict
        Files that cannot be read as checkpoints (``model``, ``checkpoint``, ``path``,
        ``error``): recorded in the results file and not tried again until they change.
    """

    records: list[dict[str, Any]]
    settings: dict[str, Any]
    checkpoints: list[Checkpoint] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    resumed: int = 0
    changed: list[Checkpoint] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def columns() -> list[str]:
        """Column names of the table (CSV), in order (``file_id`` is not one of them)."""
        return [*KEYS, "layer_index"] + [f.name for f in fields(LayerMetrics) if f.name != "name"]

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the table as CSV (``None`` as an empty cell)."""
        import csv

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns(), extrasaction="ignore")
            w.writeheader()
            w.writerows(self.records)


def _row(ck: Checkpoint, index: int, record: dict[str, Any], stamp: str) -> dict[str, Any]:
    rec = dict(record)
    layer = rec.pop("name")
    return {"model": ck.model, "checkpoint": ck.checkpoint, "layer": layer,
            "layer_index": index, **rec, "file_id": stamp}


def _row_key(r: dict[str, Any]) -> tuple[str, str, int]:
    """A row's identity: checkpoint and position (layer names need not be unique)."""
    return r["model"], r["checkpoint"], r["layer_index"]


def _sort_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (_natural_key(r["model"]), _natural_key(r["checkpoint"]),
                                       r["layer_index"]))


def read_table(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Settings and rows of a results file of :func:`analyze_many`.

    Rows are sorted by model and checkpoint (numbers in names compared as numbers) and
    by ``layer_index`` (model order), as :attr:`ManyAnalysis.records`. A last line cut short
    (a run killed while writing) is ignored; a key written twice keeps its last row; of a
    checkpoint analysed again after it changed, only the rows of the version written last
    are returned.

    Raises
    ------
    ValueError
        Not a results file of ``analyze_many`` (a bad line is named by its number).
    """
    p = Path(path)
    settings, rows, _, _ = _parse(p, p.read_bytes())
    return settings, _sort_rows(rows)


def _parse(path: Path, data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]],
                                             dict[tuple[str, str], dict[str, Any]], int]:
    """Settings, rows, unreadable-file records and the byte length of the complete lines of
    a results file (only the lines of the version of each checkpoint written last)."""
    good = data.rfind(b"\n") + 1  # bytes up to the last complete line
    try:
        lines = data[:good].decode().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a results file of setol analyze-many (not text)"
                         ) from None
    if not lines:
        raise ValueError(f"{path}: empty results file")
    try:
        head = json.loads(lines[0])
    except json.JSONDecodeError:
        head = {}
    if not isinstance(head, dict) or head.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a results file of setol analyze-many")
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    unreadable: dict[tuple[str, str], dict[str, Any]] = {}
    current: dict[tuple[str, str], Any] = {}  # file_id of the last line of each checkpoint
    for n, ln in enumerate(lines[1:], start=2):
        if not ln.strip():
            continue
        try:
            r = json.loads(ln)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {n}: not valid JSON ({exc.msg}, column "
                             f"{exc.colno}); remove the line or start afresh (--restart)"
                             ) from None
        try:
            ck = (r["model"], r["checkpoint"])
            if "unreadable" in r:
                unreadable[ck] = r
            else:
                rows[_row_key(r)] = r
        except (KeyError, TypeError):
            raise ValueError(f"{path}, line {n}: not a row of setol analyze-many (needs "
                             "model, checkpoint, layer_index)") from None
        current[ck] = r.get("file_id")
    keep = [r for r in rows.values() if r.get("file_id") == current[(r["model"],
                                                                     r["checkpoint"])]]
    unr = {k: r for k, r in unreadable.items() if r.get("file_id") == current[k]}
    return head.get("settings"), keep, unr, good


try:  # POSIX
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    _fcntl = None  # type: ignore[assignment]


class _Writer:
    """Appends rows to the results file, flushing each line, holding an exclusive lock on
    it (``flock``; none where ``fcntl`` is missing) so that two runs cannot share it."""

    def __init__(self, path: Path | None, settings: dict[str, Any], resume: bool) -> None:
        self.fh = None
        self.existing: list[dict[str, Any]] = []
        self.unreadable: dict[tuple[str, str], dict[str, Any]] = {}
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+b")  # noqa: SIM115 - closed in close(); not truncated before the lock
        try:
            if _fcntl is not None:
                try:
                    _fcntl.flock(fh.fileno(), _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                except BlockingIOError:
                    raise ValueError(f"{path} is in use by another run of setol analyze-many; "
                                     "wait for it to end or use another output file") from None
                except OSError:  # pragma: no cover - a file system without locks
                    pass
            fh.seek(0)
            data = fh.read()
            if data and resume:
                old, rows, unreadable, good = _parse(path, data)
                if old != settings:
                    old = old if isinstance(old, dict) else {}
                    diff = sorted(k for k in set(old) | set(settings)
                                  if old.get(k) != settings.get(k))
                    raise ValueError(f"{path} was written with other settings "
                                     f"({', '.join(diff)}); use another file, or start it "
                                     "afresh (resume=False; setol analyze-many --restart)")
                self.existing, self.unreadable = rows, unreadable
                fh.truncate(good)  # drop a line cut short by a killed run
            else:
                fh.truncate(0)
        except BaseException:
            fh.close()
            raise
        self.fh = fh
        if not (data and resume):
            self._line({"format": _FORMAT, "settings": settings})

    def _line(self, obj: dict[str, Any]) -> None:
        assert self.fh is not None
        self.fh.write((json.dumps(obj, allow_nan=False) + "\n").encode())
        self.fh.flush()

    def write(self, row: dict[str, Any]) -> None:
        if self.fh is not None:
            self._line(row)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()  # releases the lock
            self.fh = None


def analyze_many(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str] | None = None,
    scheduler: Any = "local",
    n_workers: int | None = None,
    resume: bool = True,
    progress: bool = False,
    layers: str | Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    conv: str = "slices",
    min_evals: int = 2,
    max_evals: int | None = None,
    normalization: str = "N",
    traps: bool = True,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
    method: str = "auto",
    device: str = "numpy",
    trap_shuffle: str = "auto",
    trap_scale: str = "variance",
) -> ManyAnalysis:
    """HTSR analysis of many checkpoints, one task per layer, streamed into one table.

    Parameters
    ----------
    sources
        Directory, glob, file, or a list of them (:func:`find_checkpoints`).
    out : path, optional
        JSON-lines results file: a header line with the settings, then one row per layer,
        appended as each layer finishes. With ``resume=True`` an existing file with the same
        settings is continued (its layers are not recomputed, except those of a checkpoint
        whose file changed since: ``mtime_ns:size``, recorded in each row as ``file_id``);
        other settings raise ``ValueError``. ``resume=False`` starts the file afresh. The
        file is locked while the run lasts: a second run on it raises ``ValueError``.
    scheduler : str or distributed.Client
        ``"local"`` (default: a ``LocalCluster`` with ``n_workers`` single-threaded worker
        processes, default ``min(cpu_count, 8)``), a scheduler address
        (``"tcp://host:8786"``), a ``Client``, or ``"serial"`` (this process, no Dask).
    progress : bool
        tqdm progress bar over the layer tasks (stderr).
    layers, kinds, conv, min_evals, max_evals, normalization, traps, seed, fit_kwargs, \
method, device, trap_shuffle, trap_scale
        As in :func:`setol_theory.htsr.analyze` (``device`` is resolved on each worker:
        ``"auto"`` uses a worker's GPU where it has one). Layers that cannot be analysed are
        recorded with their reason (``on_error="record"``). Checked before anything runs.

    Returns
    -------
    ManyAnalysis
        The whole table (rows of earlier runs included), ordered by checkpoint and layer.
        Files that cannot be read as checkpoints are in ``unreadable`` (and in the results
        file, so that a rerun does not try them again until they change).

    Raises
    ------
    FileNotFoundError
        No checkpoint found.
    ValueError
        Bad options; ``out`` written with other settings, not a results file, or in use by
        another run.
    """
    opts = _options(layers=layers, kinds=kinds, conv=conv, min_evals=min_evals,
                    max_evals=max_evals, normalization=normalization, traps=traps, seed=seed,
                    fit_kwargs=fit_kwargs, method=method, device=device,
                    trap_shuffle=trap_shuffle, trap_scale=trap_scale)
    _validate(opts)
    ckpts = find_checkpoints(sources)
    settings = opts.to_dict()
    writer = _Writer(Path(out) if out is not None else None, settings, resume)
    stamps = {c.path: _file_stamp(c.path) for c in ckpts}
    found = {(c.model, c.checkpoint): c for c in ckpts}
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    changed: dict[tuple[str, str], Checkpoint] = {}
    for r in writer.existing:
        ck = found.get((r["model"], r["checkpoint"]))
        if ck is not None and r.get("file_id") != stamps[ck.path]:
            changed[(ck.model, ck.checkpoint)] = ck  # made from another version of the file
        else:
            rows[_row_key(r)] = r
    resumed = len(rows)
    unreadable: list[dict[str, Any]] = []
    to_list: list[Checkpoint] = []
    for ck in ckpts:
        u = writer.unreadable.get((ck.model, ck.checkpoint))
        if u is not None and u.get("file_id") == stamps[ck.path]:
            unreadable.append({"model": ck.model, "checkpoint": ck.checkpoint,
                               "path": ck.path, "error": u["unreadable"]})
        else:
            to_list.append(ck)
    failed: list[dict[str, Any]] = []
    computed = 0
    try:
        with _executor(scheduler, n_workers) as ex:
            listing_keys = [_task_key("list", _file_id(c.path, stamps[c.path]), opts.token())
                            for c in to_list]
            listings = ex.map_ordered(list_layers,
                                      [(c.path, opts, stamps[c.path]) for c in to_list],
                                      listing_keys)
            todo: list[tuple[Checkpoint, str, int, int]] = []
            for ck, listing in zip(to_list, listings, strict=True):
                if isinstance(listing, UnreadableCheckpoint):
                    unreadable.append({"model": ck.model, "checkpoint": ck.checkpoint,
                                       "path": ck.path, "error": str(listing)})
                    writer.write({"model": ck.model, "checkpoint": ck.checkpoint,
                                  "unreadable": str(listing), "file_id": stamps[ck.path]})
                    continue
                if isinstance(listing, BaseException):
                    failed.append({"model": ck.model, "checkpoint": ck.checkpoint, "layer": "",
                                   "error": f"{type(listing).__name__}: {listing}"})
                    continue
                seen: dict[str, int] = {}
                for index, (name, rec) in enumerate(listing):
                    occurrence = seen.get(name, 0)
                    seen[name] = occurrence + 1
                    key = (ck.model, ck.checkpoint, index)
                    if key in rows and rows[key]["layer"] == name:
                        continue
                    if rec is not None:
                        rows[key] = _row(ck, index, rec, stamps[ck.path])
                        writer.write(rows[key])
                        computed += 1
                    else:
                        todo.append((ck, name, index, occurrence))
            args = [(ck.path, name, opts, False, occ, stamps[ck.path])
                    for ck, name, _, occ in todo]
            keys = [_task_key("layer", _file_id(ck.path, stamps[ck.path]), index, name, occ,
                              opts.token()) for ck, name, index, occ in todo]
            bar = _progress(progress, len(todo))
            try:
                for i, res in ex.as_completed(analyze_one_layer, args, keys):
                    ck, name, index, _ = todo[i]
                    key = (ck.model, ck.checkpoint, index)
                    if isinstance(res, BaseException):
                        failed.append({"model": ck.model, "checkpoint": ck.checkpoint,
                                       "layer": name, "error": f"{type(res).__name__}: {res}"})
                    elif res[0]["name"] != name:  # pragma: no cover - defensive
                        failed.append({"model": ck.model, "checkpoint": ck.checkpoint,
                                       "layer": name, "error": f"the task returned layer "
                                       f"{res[0]['name']!r}"})
                    else:
                        rows[key] = _row(ck, index, res[0], stamps[ck.path])
                        writer.write(rows[key])
                        computed += 1
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
    finally:
        writer.close()
    ordered = _sort_rows(rows.values())
    return ManyAnalysis(ordered, settings, ckpts, failed, computed, resumed=resumed,
                        changed=list(changed.values()), unreadable=unreadable)


def _progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="layers", unit="layer", leave=False)


def _metrics(record: dict[str, Any]) -> LayerMetrics:
    kw = {}
    for f in fields(LayerMetrics):
        v = record.get(f.name)
        kw[f.name] = math.nan if v is None and f.type in ("float", float) else v
    return LayerMetrics(**{k: v for k, v in kw.items() if v is not None})


def analyze_on_cluster(
    source: str | os.PathLike[str],
    scheduler: Any = "local",
    *,
    n_workers: int | None = None,
    layers: str | Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    conv: str = "slices",
    min_evals: int = 2,
    max_evals: int | None = None,
    normalization: str = "N",
    traps: bool = True,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
    method: str = "auto",
    device: str = "numpy",
    trap_shuffle: str = "auto",
    trap_scale: str = "variance",
    on_error: str = "raise",
    keep_evals: bool = False,
    progress: bool = False,
) -> ModelAnalysis:
    """:func:`setol_theory.htsr.analyze` of one model file or directory, one task per layer.

    The result equals ``analyze(source, ...)`` with the same options, layer by layer.
    ``on_error="raise"`` raises :class:`setol_theory.htsr.LayerError` for the first layer
    (in model order) that could not be analysed, after all tasks ran.
    """
    from .htsr import LayerError, _describe

    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    path = str(Path(source).resolve())
    opts = _options(layers=layers, kinds=kinds, conv=conv, min_evals=min_evals,
                    max_evals=max_evals, normalization=normalization, traps=traps, seed=seed,
                    fit_kwargs=fit_kwargs, method=method, device=device,
                    trap_shuffle=trap_shuffle, trap_scale=trap_scale)
    _validate(opts)
    stamp = _file_stamp(path)
    fid = _file_id(path, stamp)
    with _executor(scheduler, n_workers) as ex:
        (listing,) = ex.map_ordered(list_layers, [(path, opts, stamp)],
                                    [_task_key("list", fid, opts.token())])
        if isinstance(listing, BaseException):
            raise listing
        todo: list[tuple[int, str, int]] = []  # (index, name, occurrence)
        seen: dict[str, int] = {}
        for i, (name, rec) in enumerate(listing):
            occurrence = seen.get(name, 0)
            seen[name] = occurrence + 1
            if rec is None:
                todo.append((i, name, occurrence))
        args = [(path, name, opts, keep_evals, occ, stamp) for _, name, occ in todo]
        keys = [_task_key("layer", fid, i, name, occ, opts.token(), keep_evals)
                for i, name, occ in todo]
        results: dict[int, Any] = {}
        bar = _progress(progress, len(todo))
        for j, res in ex.as_completed(analyze_one_layer, args, keys):
            results[todo[j][0]] = res
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    records: list[LayerMetrics] = []
    evals: dict[str, np.ndarray] = {}
    for i, (name, rec) in enumerate(listing):
        if rec is None:
            res = results[i]
            if isinstance(res, BaseException):
                raise res
            rec, ev = res
            if rec["name"] != name:  # pragma: no cover - defensive
                raise CheckpointChanged(f"{path}: layer {i} is {rec['name']!r}, listed as "
                                        f"{name!r}; was the file changed?")
            if ev is not None:
                evals[name] = np.asarray(ev, dtype=np.float64)
        m = _metrics(rec)
        if on_error == "raise" and m.status == "skipped":
            raise LayerError(f"layer {m.name!r}: {m.reason}")
        records.append(m)
    if not records:
        raise ValueError(f"no analysable layer found in {path} with the given filters")
    settings = {
        "normalization": normalization, "conv": conv, "traps": traps, "seed": seed,
        "fit": dict(fit_kwargs or {}), "eig": {"method": method}, "layers": layers,
        "kinds": list(kinds) if kinds else None, "min_evals": min_evals,
        "max_evals": max_evals, "device": device, "trap_shuffle": trap_shuffle,
        "trap_scale": trap_scale,
        "scheduler": scheduler if isinstance(scheduler, str) else (
            "local" if scheduler is None else "client"),
    }
    return ModelAnalysis(records, source=_describe(source), settings=settings, evals=evals)
