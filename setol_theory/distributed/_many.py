""":func:`analyze_many` and :func:`analyze_on_cluster`: many layers, many checkpoints, one table."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LayerError
from ..htsr import LayerMetrics
from ..options import AnalysisOptions
from ..pipeline import ModelAnalysis, resolve_options
from ._checkpoints import Checkpoint, find_checkpoints
from ._executors import _executor, _file_id, _task_key
from ._table import ManyAnalysis, _row, _row_key, _sort_rows, _Writer
from ._tasks import (
    CheckpointChanged,
    UnreadableCheckpoint,
    _file_stamp,
    analyze_one_layer,
    list_layers,
)


def _worker_options(options: AnalysisOptions | None, changes: dict[str, Any]
                    ) -> AnalysisOptions:
    """The options of every task, checked here, where the run starts (not in every task)."""
    opts, backend = resolve_options(options, **changes)
    if backend is not None:
        raise ValueError("the device is resolved on each worker: give device='cuda' (or "
                         "'auto', 'torch-cpu', 'numpy'), not a resolved Backend")
    return opts


def analyze_many(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    options: AnalysisOptions | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    scheduler: Any = "local",
    n_workers: int | None = None,
    resume: bool = True,
    progress: bool = False,
    **changes: Any,
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
    options : AnalysisOptions, optional
        As in :func:`setol_theory.analyze`; ``**changes`` override its fields (``device`` is
        resolved on each worker: ``"auto"`` uses a worker's GPU where it has one). Layers
        that cannot be analysed are recorded with their reason (``on_error="record"``).
        Checked before anything runs.

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
    opts = _worker_options(options, changes)
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

    # disable=None: no bar when stderr is not a terminal (a log file gets no \r artefacts)
    return tqdm(total=total, desc="layers", unit="layer", leave=False, disable=None)


def _metrics(record: dict[str, Any]) -> LayerMetrics:
    kw = {}
    for f in fields(LayerMetrics):
        v = record.get(f.name)
        kw[f.name] = math.nan if v is None and f.type in ("float", float) else v
    return LayerMetrics(**{k: v for k, v in kw.items() if v is not None})


def analyze_on_cluster(
    source: str | os.PathLike[str],
    scheduler: Any = "local",
    options: AnalysisOptions | None = None,
    *,
    n_workers: int | None = None,
    on_error: str = "raise",
    keep_evals: bool = False,
    progress: bool = False,
    **changes: Any,
) -> ModelAnalysis:
    """:func:`setol_theory.analyze` of one model file or directory, one task per layer.

    The result equals ``analyze(source, ...)`` with the same options, layer by layer.
    ``on_error="raise"`` raises :class:`setol_theory.errors.LayerError` for the first layer
    (in model order) that could not be analysed, after all tasks ran.
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    path = str(Path(source).resolve())
    opts = _worker_options(options, changes)
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
    settings = {**opts.to_dict(),
                "scheduler": scheduler if isinstance(scheduler, str) else (
                    "local" if scheduler is None else "client")}
    return ModelAnalysis(records, source=str(source), settings=settings, evals=evals)

