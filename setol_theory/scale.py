"""Many models and checkpoints at once: one task per layer on a Dask cluster, one table.

:func:`analyze_many` analyses every layer of every checkpoint found in a directory, a glob or a
list of paths (a training history, a model zoo), one task per layer, on a
``dask.distributed`` cluster (a ``LocalCluster`` by default, or the scheduler at an address),
or in this process (``scheduler="serial"``). Each finished layer is appended at once to a
JSON-lines file, one record per line with the keys ``model``, ``checkpoint``, ``layer`` and the
columns of :class:`setol_theory.htsr.LayerMetrics`; a rerun with the same file and settings
skips the layers already there (resume). :func:`analyze_on_cluster` runs one model's
``setol analyze`` the same way (``setol analyze --scheduler``).

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
import os
import re
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
    "LayerOptions",
    "ManyAnalysis",
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
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def _is_model_dir(d: Path) -> bool:
    return any((d / f).is_file() for f in _INDEX_FILES)


def _scan(p: Path) -> list[Path]:
    """Checkpoint paths under ``p`` (a file, a sharded model directory, or a tree)."""
    if p.is_file():
        return [p] if p.suffix in WEIGHT_SUFFIXES else []
    if _is_model_dir(p):
        return [p]
    found: list[Path] = []
    for child in sorted(p.iterdir(), key=lambda c: _natural_key(c.name)):
        if child.name.startswith("."):
            continue
        found.extend(_scan(child))
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


def _iter(path: str, opts: LayerOptions) -> Iterator[Layer]:
    return iter_layers(_layer_source(path), layers=list(opts.layers) if opts.layers else None,
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


def list_layers(path: str, opts: LayerOptions) -> list[tuple[str, dict[str, Any] | None]]:
    """``(layer name, record)`` of every selected layer of a checkpoint, in model order.

    The record is already final for layers that need no eigenvalues (skipped, filtered);
    ``None`` marks a layer for :func:`analyze_one_layer`. Runs on a worker.
    """
    out: list[tuple[str, dict[str, Any] | None]] = []
    for layer in _iter(path, opts):
        if _needs_eigenvalues(layer, opts):
            out.append((layer.name, None))
        else:
            ((m, _),) = list(_analyze([layer], opts))
            out.append((layer.name, _nan_to_none(m.to_dict())))
    return out


def analyze_one_layer(path: str, name: str, opts: LayerOptions, keep_evals: bool = False
                      ) -> tuple[dict[str, Any], list[float] | None]:
    """The record of one layer (and its eigenvalues if asked). Runs on a worker."""
    for layer in _iter(path, opts):
        if layer.name == name:
            ((m, ev),) = list(_analyze([layer], opts))
            evals = ev.tolist() if keep_evals and ev is not None else None
            return _nan_to_none(m.to_dict()), evals
    raise LookupError(f"{path}: no layer named {name!r} (was the file changed?)")


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
            yield index[fut.key], res
            fut.release()


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
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield _Dask(client)
        return
    with Client(str(scheduler)) as client:
        yield _Dask(client)


def _task_key(kind: str, *parts: Any) -> str:
    h = hashlib.sha1(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]
    return f"setol-{kind}-{h}"


def _file_id(path: str) -> str:
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return path
    return f"{path}:{st.st_mtime_ns}:{st.st_size}"


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
        the model) and the columns of :class:`~setol_theory.htsr.LayerMetrics` (``name``
        dropped; NaN as ``None``), ordered by checkpoint (as :func:`find_checkpoints` sorts
        them) and layer (model order). Rows of earlier runs in the results file whose
        checkpoint is no longer found are kept.
    settings : dict
        The analysis settings (:meth:`LayerOptions.to_dict`).
    checkpoints : list of Checkpoint
    failed : list of dict
        Tasks that raised (keys, ``error``): not in ``records`` and not in the file, so a
        rerun retries them.
    computed, resumed : int
        Rows made in this run, and rows taken from the results file.
    """

    records: list[dict[str, Any]]
    settings: dict[str, Any]
    checkpoints: list[Checkpoint] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    resumed: int = 0

    @staticmethod
    def columns() -> list[str]:
        """Column names of the table, in order."""
        return [*KEYS, "layer_index"] + [f.name for f in fields(LayerMetrics) if f.name != "name"]

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the table as CSV (``None`` as an empty cell)."""
        import csv

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns(), extrasaction="ignore")
            w.writeheader()
            w.writerows(self.records)


def _row(ck: Checkpoint, index: int, record: dict[str, Any]) -> dict[str, Any]:
    rec = dict(record)
    layer = rec.pop("name")
    return {"model": ck.model, "checkpoint": ck.checkpoint, "layer": layer,
            "layer_index": index, **rec}


def _sort_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (_natural_key(r["model"]), _natural_key(r["checkpoint"]),
                                       r["layer_index"]))


def read_table(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Settings and rows of a results file of :func:`analyze_many`.

    Rows are sorted by model and checkpoint (numbers in names compared as numbers) and
    by ``layer_index`` (model order), as :attr:`ManyAnalysis.records`. A last line cut short
    (a run killed while writing) is ignored; a key written twice keeps its last row.

    Raises
    ------
    ValueError
        Not a results file of ``analyze_many``.
    """
    settings, rows, _ = _read(Path(path))
    return settings, _sort_rows(rows)


def _read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """Settings, rows and the byte length of the complete lines of a results file."""
    data = path.read_bytes()
    good = data.rfind(b"\n") + 1  # bytes up to the last complete line
    lines = data[:good].decode().splitlines()
    if not lines:
        raise ValueError(f"{path}: empty results file")
    try:
        head = json.loads(lines[0])
    except json.JSONDecodeError:
        head = {}
    if not isinstance(head, dict) or head.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a results file of setol analyze-many")
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for ln in lines[1:]:
        if ln.strip():
            r = json.loads(ln)
            rows[tuple(r[k] for k in KEYS)] = r
    return head["settings"], list(rows.values()), good


class _Writer:
    """Appends rows to the results file, flushing each line."""

    def __init__(self, path: Path | None, settings: dict[str, Any], resume: bool) -> None:
        self.fh = None
        self.existing: dict[tuple[str, ...], dict[str, Any]] = {}
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > 0 and resume:
            old, rows, good = _read(path)
            if old != settings:
                diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
                raise ValueError(f"{path} was written with other settings ({', '.join(diff)}); "
                                 "use another file, or start it afresh (resume=False; "
                                 "setol analyze-many --restart)")
            self.existing = {tuple(r[k] for k in KEYS): r for r in rows}
            self.fh = open(path, "r+b")  # noqa: SIM115 - closed in close()
            self.fh.truncate(good)  # drop a line cut short by a killed run
            self.fh.seek(good)
        else:
            self.fh = open(path, "wb")  # noqa: SIM115
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
            self.fh.close()
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
        settings is continued (its layers are not recomputed); other settings raise
        ``ValueError``. ``resume=False`` starts the file afresh.
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
        recorded with their reason (``on_error="record"``).

    Returns
    -------
    ManyAnalysis
        The whole table (rows of earlier runs included), ordered by checkpoint and layer.

    Raises
    ------
    FileNotFoundError
        No checkpoint found.
    ValueError
        ``out`` written with other settings; bad options.
    """
    ckpts = find_checkpoints(sources)
    opts = _options(layers=layers, kinds=kinds, conv=conv, min_evals=min_evals,
                    max_evals=max_evals, normalization=normalization, traps=traps, seed=seed,
                    fit_kwargs=fit_kwargs, method=method, device=device,
                    trap_shuffle=trap_shuffle, trap_scale=trap_scale)
    settings = opts.to_dict()
    writer = _Writer(Path(out) if out is not None else None, settings, resume)
    rows: dict[tuple[str, ...], dict[str, Any]] = dict(writer.existing)
    failed: list[dict[str, Any]] = []
    computed = 0
    try:
        with _executor(scheduler, n_workers) as ex:
            listing_keys = [_task_key("list", _file_id(c.path), opts.token()) for c in ckpts]
            listings = ex.map_ordered(list_layers, [(c.path, opts) for c in ckpts],
                                      listing_keys)
            todo: list[tuple[Checkpoint, str, int]] = []
            for ck, listing in zip(ckpts, listings, strict=True):
                if isinstance(listing, BaseException):
                    failed.append({"model": ck.model, "checkpoint": ck.checkpoint, "layer": "",
                                   "error": f"{type(listing).__name__}: {listing}"})
                    continue
                for index, (name, rec) in enumerate(listing):
                    key = (ck.model, ck.checkpoint, name)
                    if key in rows:
                        continue
                    if rec is not None:
                        rows[key] = _row(ck, index, rec)
                        writer.write(rows[key])
                        computed += 1
                    else:
                        todo.append((ck, name, index))
            args = [(ck.path, name, opts) for ck, name, _ in todo]
            keys = [_task_key("layer", _file_id(ck.path), name, opts.token())
                    for ck, name, _ in todo]
            bar = _progress(progress, len(todo))
            try:
                for i, res in ex.as_completed(analyze_one_layer, args, keys):
                    ck, name, index = todo[i]
                    key = (ck.model, ck.checkpoint, name)
                    if isinstance(res, BaseException):
                        failed.append({"model": ck.model, "checkpoint": ck.checkpoint,
                                       "layer": name, "error": f"{type(res).__name__}: {res}"})
                    elif key not in rows:  # a key is written once
                        rows[key] = _row(ck, index, res[0])
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
    return ManyAnalysis(ordered, settings, ckpts, failed, computed,
                        resumed=len(writer.existing))


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
    with _executor(scheduler, n_workers) as ex:
        (listing,) = ex.map_ordered(list_layers, [(path, opts)],
                                    [_task_key("list", _file_id(path), opts.token())])
        if isinstance(listing, BaseException):
            raise listing
        todo = [i for i, (_, rec) in enumerate(listing) if rec is None]
        args = [(path, listing[i][0], opts, keep_evals) for i in todo]
        keys = [_task_key("layer", _file_id(path), listing[i][0], opts.token(), keep_evals)
                for i in todo]
        results: dict[int, Any] = {}
        bar = _progress(progress, len(todo))
        for j, res in ex.as_completed(analyze_one_layer, args, keys):
            results[todo[j]] = res
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
