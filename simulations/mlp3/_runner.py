"""MLP3 sweeps: LR and batch-size grids, the resumable grid runner, run collection and summary.

:func:`lr_grid`, :func:`bs_grid` ([MH2025] Sec. 6.1) build the configurations; :func:`run_grid` runs
them on local processes (``spawn``) or a Dask cluster, one run directory each, skipping
finished runs; :func:`collect_runs` reads run or sweep directories back (figures:
:mod:`simulations.mlp3._plots`) and :func:`write_summary` writes ``summary.csv``. The worker
entry point is ``simulations.mlp3._runner._grid_worker``. Public names re-exported by
:mod:`simulations.mlp3`.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as futures_as_completed
from pathlib import Path
from typing import Any

from setol_theory.util import write_json

from ..data import DataSplit
from ._analysis import _fmt, read_epoch_table
from ._model import _CONFIG_FILE, _DONE_FILE, _TABLE_FILE, MLP3Config, check_config_data
from ._train import prepare_data, run_is_complete, train_run


# ============================================================================================
# Sweeps
# ============================================================================================
def lr_grid(factors: Iterable[float] = (1, 2, 4, 8, 16, 32), *, base_lr: float = 0.01,
            batch_size: int = 32, seeds: Iterable[int] = (1,),
            layers: Iterable[str] = ("all",), **common: Any) -> list[MLP3Config]:
    """LR sweep at fixed batch size (arXiv:2507.17912 Sec. 6.1): ``lr = base_lr * factor``."""
    facs = list(factors)
    if not facs or any(not (math.isfinite(f) and f > 0) for f in facs):
        raise ValueError(f"LR factors must be positive, got {facs!r}")
    return [MLP3Config(lr=base_lr * f, batch_size=batch_size, seed=s, layers=lay, **common)
            for lay in layers for s in seeds for f in facs]


def bs_grid(batch_sizes: Iterable[int] = (4, 8, 16, 32), *, lr: float = 0.01,
            seeds: Iterable[int] = (1,), layers: Iterable[str] = ("all",),
            **common: Any) -> list[MLP3Config]:
    """Batch-size sweep at fixed LR (arXiv:2507.17912 Sec. 6.1; the paper's sizes are 1..32)."""
    sizes = list(batch_sizes)
    if not sizes:
        raise ValueError("no batch sizes given")
    return [MLP3Config(lr=lr, batch_size=b, seed=s, layers=lay, **common)
            for lay in layers for s in seeds for b in sizes]


def _grid_worker(cfg: dict[str, Any], run_dir: str, resume: bool) -> dict[str, Any]:
    """Run one grid point in a worker process (or Dask worker); never raises."""
    config = MLP3Config.from_dict(cfg)
    try:
        res = train_run(config, run_dir, resume=resume, log=None)
    except Exception as exc:  # reported per run, the sweep goes on
        msg = f"{type(exc).__name__}: {exc}"
        try:
            Path(run_dir, "error.txt").write_text(msg + "\n")
        except OSError:
            pass
        return {"name": config.name, "status": "error", "error": msg}
    return {"name": config.name, "status": res.status, "epochs": res.epochs,
            "skipped": res.skipped, "timing": res.timing()}


def run_grid(
    configs: Sequence[MLP3Config],
    out_dir: str | Path,
    *,
    kind: str = "lr",
    base: dict[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = True,
    progress: bool = True,
    scheduler_timeout: float = 20.0,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Run a grid of MLP3 configurations, each into ``out_dir/<config.name>``; resumable.

    Every configuration is checked against its data first (bad input stops the sweep before
    any training). Finished runs are skipped, interrupted ones continue. Runs go to a pool of
    local processes (``workers``, default: as many as CPU cores allow at ``config.threads``
    each; 1 runs them in this process) or, with ``scheduler`` (``"tcp://host:8786"``), to a
    Dask cluster (``out_dir`` must then be visible to the workers). A run that fails is
    reported (and ``error.txt`` written in its directory); the others go on.

    ``overwrite`` deletes the grid's run directories (after the checks) and runs everything
    afresh.

    Returns one record per configuration, in grid order, and writes ``sweep.json`` and
    ``summary.csv`` (the last epoch of every finished run) into ``out_dir``.
    """
    if not configs:
        raise ValueError("empty grid")
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError("the grid has duplicate runs")
    checked: dict[tuple[Any, ...], DataSplit] = {}
    for c in configs:
        key = (c.dataset, c.data_path, c.seed, c.n_train, c.n_test, c.val_fraction)
        if key not in checked:
            checked[key] = prepare_data(c)
        check_config_data(c, checked[key])
    checked.clear()
    out = Path(out_dir)
    if overwrite:
        import shutil

        for c in configs:
            shutil.rmtree(out / c.name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sweep.json", {"kind": kind, "base": base or {},
                                    "runs": [{"name": c.name, **c.to_dict()} for c in configs]},
               default=str)
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for c in configs:
        if resume and run_is_complete(out / c.name, c):
            results[c.name] = {"name": c.name, "status": "done", "skipped": True}
        else:
            todo.append(c)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(configs), initial=len(configs) - len(todo), desc="mlp3 sweep",
                   unit="run", file=sys.stderr)

    def finished(rec: dict[str, Any]) -> None:
        results[rec["name"]] = rec
        if bar is not None:
            bar.set_postfix_str(f"{rec['name']}: {rec['status']}", refresh=False)
            bar.update(1)

    payload = [(c.to_dict(), str(out / c.name), resume) for c in todo]
    if scheduler:
        _run_dask(payload, scheduler, finished, scheduler_timeout)
    else:
        threads = max(c.threads for c in todo) if todo else 1
        n = workers or max(1, (os.cpu_count() or 1) // threads)
        n = max(1, min(n, len(todo) or 1))
        if n == 1:
            for args in payload:
                finished(_grid_worker(*args))
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as ex:
                futs = [ex.submit(_grid_worker, *args) for args in payload]
                for f in futures_as_completed(futs):
                    finished(f.result())
    if bar is not None:
        bar.close()
    write_summary(out, configs)
    return [results[n] for n in names]


def _run_dask(payload: Sequence[tuple[Any, ...]], scheduler: str,
              finished: Callable[[dict[str, Any]], None], timeout: float = 20.0) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:
        raise ValueError("--scheduler needs dask[distributed] (pip install 'setol[dist]')") \
            from exc
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"cannot connect to the Dask scheduler {scheduler!r}: {exc}") from exc
    try:
        futs = [client.submit(_grid_worker, *args, pure=False) for args in payload]
        for f in as_completed(futs):
            finished(f.result())
    finally:
        client.close()


def collect_runs(path: str | Path) -> list[dict[str, Any]]:
    """Runs under ``path`` (a run directory or a sweep directory): one record per run with
    ``name``, ``dir``, ``config`` (dict), ``rows`` (epoch table) and ``done`` (or None)."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such directory")
    dirs = [p] if (p / _TABLE_FILE).exists() else sorted(
        q for q in p.iterdir() if q.is_dir() and (q / _TABLE_FILE).exists())
    if not dirs:
        raise ValueError(f"{p}: no MLP3 run found (no {_TABLE_FILE} here or in a subdirectory)")
    runs = []
    for q in dirs:
        try:
            meta = json.loads((q / _CONFIG_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{q / _CONFIG_FILE}: unreadable ({exc})") from exc
        rows = read_epoch_table(q / _TABLE_FILE)
        if not rows:
            continue
        try:
            done = json.loads((q / _DONE_FILE).read_text())
        except (OSError, ValueError):
            done = None
        runs.append({"name": q.name, "dir": q, "config": meta["config"], "meta": meta,
                     "rows": rows, "done": done})
    if not runs:
        raise ValueError(f"{p}: the runs found have empty tables")
    return runs


def write_summary(out_dir: str | Path, configs: Sequence[MLP3Config] | None = None) -> Path:
    """``summary.csv``: configuration and last epoch of every run in ``out_dir``."""
    out = Path(out_dir)
    names = None if configs is None else {c.name for c in configs}
    try:
        runs = collect_runs(out)
    except ValueError:
        runs = []
    recs = []
    for r in runs:
        if names is not None and r["name"] not in names:
            continue
        c = r["config"]
        rec = {"name": r["name"], "lr": c["lr"], "batch_size": c["batch_size"],
               "seed": c["seed"], "layers": c["layers"],
               "status": (r["done"] or {}).get("status", "incomplete")}
        rec.update({k: v for k, v in r["rows"][-1].items() if k not in ("status",)})
        recs.append(rec)
    path = out / "summary.csv"
    if recs:
        cols = list(recs[0])
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for rec in recs:
                w.writerow({k: _fmt(rec.get(k, "")) for k in cols})
    return path
