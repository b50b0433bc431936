"""Parameter sweeps of the teacher-student simulations: local processes or a Dask cluster.

A sweep is a list of :class:`Task` objects (one Monte Carlo point each: perceptron
``(N, load, T, seed)`` or matrix model ``(N, n_beta, seed)``).  :func:`run_sweep` runs the
tasks that are not yet in the results file, in parallel

* on local processes (``concurrent.futures`` with the ``spawn`` start method, one numba thread
  per worker) by default, or in this process with ``workers=1``;
* on a ``dask.distributed`` cluster when a scheduler address (or a ``Client``) is given -- the
  address is checked before any work starts and an unreachable one is a ``ValueError``;

appending each finished record to a JSON-lines file as soon as it arrives (flushed and
fsync'ed), so an interrupted sweep keeps what finished and a rerun resumes with the rest; a
``tqdm`` progress bar counts the tasks.  :func:`aggregate_perceptron` pools the records of
several seeds and extrapolates ``eps_g`` in ``1/N`` (docs/simulations.md).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from setol_theory.util import json_default

__all__ = [
    "Task",
    "perceptron_tasks",
    "matrix_tasks",
    "run_task",
    "run_task_with_progress",
    "connect_scheduler",
    "run_sweep",
    "load_results",
    "aggregate_perceptron",
    "RESULTS_FILE",
    "BUDGET_KEYS",
    "reusable",
]

#: name of the incremental results file inside an output directory
RESULTS_FILE = "results.jsonl"

_KINDS = ("perceptron", "matrix")


@dataclass(frozen=True)
class Task:
    """One simulation point.

    Attributes
    ----------
    kind : {"perceptron", "matrix"}
    params : tuple of (str, value)
        Keyword arguments of :func:`simulations.perceptron.simulate_point` (``N``, ``load``,
        ``T`` and options) or of :func:`simulations.matrix_model.matrix_quality` (plus
        ``law``, ``q``, ``sigma2``), as sorted pairs of JSON-serialisable values.
    """

    kind: str
    params: tuple[tuple[str, Any], ...]

    @classmethod
    def make(cls, kind: str, **params: Any) -> Task:
        if kind not in _KINDS:
            raise ValueError(f"task kind must be one of {_KINDS}, got {kind!r}")
        return cls(kind, tuple(sorted((k, _plain(v)) for k, v in params.items())))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def key(self) -> str:
        """Stable identifier (kind + parameters as canonical JSON)."""
        return self.kind + ":" + json.dumps(self.kwargs, sort_keys=True, separators=(",", ":"))


#: Task parameters that only bound how long a run may extend itself (a point's budget).
BUDGET_KEYS: tuple[str, ...] = ("max_sweeps", "max_seconds")


def _budget_free_key(kind: str, kwargs: dict[str, Any]) -> str:
    """The task key without its budget (:data:`BUDGET_KEYS`)."""
    rest = {k: v for k, v in kwargs.items() if k not in BUDGET_KEYS}
    return kind + ":" + json.dumps(rest, sort_keys=True, separators=(",", ":"))


def reusable(rec: dict[str, Any], task: Task) -> bool:
    """Whether the finished record ``rec`` is what ``task`` would compute: the same point
    with another budget, equilibrated without the budget having a say.

    A seeded point extends itself from ``n_sweeps`` (doubling, or what its ``tau`` asks) and
    stops at the first length where it is equilibrated; the budget only clips the last
    extension (``min(grow, max_sweeps)``) or stops the run. So an equilibrated record whose
    final length stayed below its own budget (or never extended) is reached the same way
    under any budget that allows that length: the run with the new budget would stop at the
    same sweep with the same numbers. ``max_seconds`` plays no part in an equilibrated run
    unless ``target_se`` asked for more data sets (then the record is not reused).
    """
    old = rec.get("task")
    if not isinstance(old, dict) or rec.get("kind", "perceptron") != task.kind:
        return False
    new = task.kwargs
    if _budget_free_key(task.kind, old) != _budget_free_key(task.kind, new):
        return False
    if rec.get("equilibrated") is not True or old.get("target_se") is not None:
        return False
    try:
        S = int(rec["n_sweeps"])
        start = int(old.get("n_sweeps", new.get("n_sweeps", -1)))
        old_budget = int(rec["max_sweeps"])
    except (KeyError, TypeError, ValueError):
        return False
    new_budget = new.get("max_sweeps")
    new_budget = start if new_budget is None else int(new_budget)
    unclipped = S < old_budget or S == start
    return unclipped and S <= new_budget


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(_plain(x) for x in v)
    return v


def perceptron_tasks(loads: Iterable[float], temperatures: Iterable[float],
                     sizes: Iterable[int], seeds: Iterable[int] = (0,), **options: Any
                     ) -> list[Task]:
    """The grid ``loads x temperatures x sizes x seeds`` of perceptron points.

    ``options`` go to :func:`~simulations.perceptron.simulate_point` (``prior``, ``output``,
    ``n_samples``, ``n_sweeps``, ``n_burn``, ...).  Sizes, loads and temperatures are
    validated here, before any work: ``N >= 2`` integer, ``load > 0`` with
    ``round(load N) >= 1``, ``T >= 0``.
    """
    from .perceptron import check_sizes

    loads, temps, ns, sd = list(loads), list(temperatures), list(sizes), list(seeds)
    for name, seq in (("loads", loads), ("temperatures", temps), ("sizes", ns),
                      ("seeds", sd)):
        if not seq:
            raise ValueError(f"the sweep needs at least one value in {name}")
    for T in temps:
        if not isinstance(T, (int, float)) or isinstance(T, bool) or not math.isfinite(T) \
                or T < 0:
            raise ValueError(f"temperature T must be finite and >= 0, got {T!r}")
    for N in ns:
        by_p: dict[int, float] = {}
        for a in dict.fromkeys(loads):
            _, P = check_sizes(N, a)
            if P in by_p:
                raise ValueError(f"loads alpha = {by_p[P]:g} and {a:g} both give P = {P} "
                                 f"examples at N = {N}: the two points would be the same "
                                 f"simulation; drop one or change N")
            by_p[P] = a
    options.setdefault("parallel", False)
    tasks = [Task.make("perceptron", N=int(N), load=float(a), T=float(T), seed=int(s),
                       **options)
             for T in temps for a in loads for N in ns for s in sd]
    return _unique(tasks)


def _unique(tasks: list[Task]) -> list[Task]:
    """``tasks`` without repeated keys (duplicate grid values), first occurrence kept."""
    return list({t.key: t for t in reversed(tasks)}.values())[::-1]


def matrix_tasks(sizes: Iterable[int], n_betas: Iterable[float], seeds: Iterable[int] = (0,),
                 **options: Any) -> list[Task]:
    """The grid ``sizes x n_betas x seeds`` of matrix-model points (options of
    :func:`~simulations.matrix_model.matrix_quality` plus ``law``, ``q``, ``sigma2``)."""
    ns, nbs, sd = list(sizes), list(n_betas), list(seeds)
    for N in ns:
        if isinstance(N, bool) or not isinstance(N, (int, np.integer)):
            raise TypeError(f"matrix size N must be an integer, got {N!r}")
        if N < 2:
            raise ValueError(f"matrix size N must be >= 2, got {N}")
    for v in nbs:
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"n_beta must be > 0, got {v!r}")
    if not ns or not nbs:
        raise ValueError("the sweep needs at least one size and one n_beta")
    options.setdefault("parallel", False)
    return _unique([Task.make("matrix", N=int(N), n_beta=float(v), seed=int(s), **options)
                    for v in nbs for N in ns for s in sd])


def _print_progress(line: str) -> None:  # pragma: no cover - runs in the worker processes
    import sys

    print(f"  {line}", file=sys.stderr, flush=True)


def _reuse_other_budgets(tasks: list[Task], done: dict[str, dict[str, Any]]
                         ) -> list[dict[str, Any]]:
    """Records of ``done`` that answer a task of ``tasks`` run with another budget
    (:func:`reusable`), copied under the new task's key (with ``reused_from``, the old key)
    and added to ``done``."""
    by_point: dict[str, list[dict[str, Any]]] = {}
    for rec in done.values():
        old = rec.get("task")
        if isinstance(old, dict):
            key = _budget_free_key(rec.get("kind", "perceptron"), old)
            by_point.setdefault(key, []).append(rec)
    out = []
    for t in tasks:
        if t.key in done:
            continue
        for rec in by_point.get(_budget_free_key(t.kind, t.kwargs), ()):
            if reusable(rec, t):
                new = {**rec, "key": t.key, "task": t.kwargs,
                       "reused_from": rec.get("reused_from", rec["key"])}
                done[t.key] = new
                out.append(new)
                break
    return out


def run_task_with_progress(task: Task) -> dict[str, Any]:
    """:func:`run_task` printing each point's extensions (sweeps, the failed criterion, ETA)
    on stderr (top level, picklable)."""
    return run_task(task, progress=True)


def run_task(task: Task, progress: bool = False) -> dict[str, Any]:
    """Run one task (top level, picklable for process pools and Dask); returns its record."""
    kw = task.kwargs
    if task.kind == "perceptron":
        from .perceptron import simulate_point

        rec = simulate_point(**kw, progress=_print_progress if progress else None).to_dict()
    else:
        from .matrix_model import make_law, matrix_quality

        law = make_law(kw.pop("law", "mp"), q=kw.pop("q", 0.5), sigma2=kw.pop("sigma2", 1.0))
        lambdas = kw.pop("lambdas")
        rec = matrix_quality(kw.pop("N"), lambdas, law, kw.pop("n_beta"), **kw,
                             progress=_print_progress if progress else None).to_dict()
    rec["key"] = task.key
    rec["kind"] = task.kind
    rec["task"] = task.kwargs
    return rec


# --------------------------------------------------------------------------------------------
# schedulers
# --------------------------------------------------------------------------------------------

_ADDR = re.compile(r"^(?:[a-z][a-z0-9+.-]*://\S+|[^\s:/]+:\d{1,5})$")


def connect_scheduler(address: str, timeout: float = 10.0) -> Any:
    """A ``distributed.Client`` for ``address``; ``ValueError`` if it cannot be reached.

    The address is checked for form first (``scheme://...`` or ``host:port``), then a
    connection is
    attempted with ``timeout`` seconds -- all before any task is submitted.
    """
    if not isinstance(address, str) or not _ADDR.match(address.strip()):
        raise ValueError(f"invalid Dask scheduler address {address!r} (expected "
                         f"tcp://host:port or host:port)")
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - dask is a test/dist extra
        raise ValueError("--scheduler needs dask[distributed] (pip install 'setol[dist]')"
                         ) from exc
    if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"the scheduler timeout must be > 0 seconds, got {timeout!r}")
    try:
        return Client(address.strip(), timeout=f"{timeout}s")
    except Exception as exc:  # refused, timed out, or something else answering the port
        raise ValueError(f"cannot reach the Dask scheduler at {address!r}: "
                         f"{type(exc).__name__}: {exc}") from exc


def _worker_init() -> None:  # pragma: no cover - runs in the worker processes
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numba

    numba.set_num_threads(1)


# --------------------------------------------------------------------------------------------
# results file
# --------------------------------------------------------------------------------------------

def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines results file (a truncated last line, from an interrupted
    write, is skipped)."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_FILE
    if not p.exists():
        return []
    out = []
    with open(p) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def _append(path: Path, rec: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(rec, default=json_default) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def run_sweep(tasks: Sequence[Task], out: str | Path | None = None, *,
              scheduler: str | Any | None = None, workers: int | None = None,
              progress: bool = True, func: Callable[[Task], dict[str, Any]] = run_task,
              connect_timeout: float = 10.0) -> list[dict[str, Any]]:
    """Run ``tasks`` (skipping those already in ``out``) and return all their records.

    A task already in ``out`` with another budget (``max_sweeps``, ``max_seconds``) is not
    run again when its record was equilibrated before the budget had a say
    (:func:`reusable`): the record is copied under the new key, with ``reused_from``.

    Parameters
    ----------
    tasks : sequence of Task
    out : path, optional
        Directory (the file :data:`RESULTS_FILE` in it) or ``.jsonl`` file for incremental
        results; ``None`` keeps results in memory only.
    scheduler : str or distributed.Client, optional
        Dask scheduler address or client; default: local processes.
    workers : int, optional
        Local processes (default: ``os.cpu_count()``); ``1`` runs in this process.
    progress : bool
        Show a ``tqdm`` progress bar (on stderr), and a line there when points are reused.
    func : callable
        ``Task -> record`` (default :func:`run_task`; must be picklable for processes/Dask).
    connect_timeout : float
        Seconds to wait for the scheduler.

    Returns
    -------
    list of dict
        One record per task, in the order of ``tasks``.
    """
    tasks = list(tasks)
    for t in tasks:
        if not isinstance(t, Task):
            raise TypeError(f"tasks must be Task objects, got {type(t).__name__}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    client, own_client = None, False
    if scheduler is not None:  # before any work
        if isinstance(scheduler, str):
            client, own_client = connect_scheduler(scheduler, connect_timeout), True
        else:
            client = scheduler
    path: Path | None = None
    if out is not None:
        path = Path(out)
        if path.suffix != ".jsonl":
            path.mkdir(parents=True, exist_ok=True)
            path = path / RESULTS_FILE
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    if path is not None:
        for rec in load_results(path):
            if "key" in rec:
                done[rec["key"]] = rec
    reused = _reuse_other_budgets(tasks, done)
    if path is not None:
        for rec in reused:
            _append(path, rec)
    if reused and progress:
        import sys

        print(f"{len(reused)} of {len(tasks)} points reused from an earlier run with another "
              "budget (equilibrated before that budget had a say; docs/simulations.md)",
              file=sys.stderr)
    todo, seen = [], set()
    for t in tasks:
        if t.key not in done and t.key not in seen:
            todo.append(t)
            seen.add(t.key)
    from tqdm.auto import tqdm

    keys = {t.key for t in tasks}
    bar = tqdm(total=len(keys), initial=len(keys & set(done)), disable=not progress,
               desc="simulate", unit="task")

    def record(rec: dict[str, Any]) -> None:
        done[rec["key"]] = rec
        if path is not None:
            _append(path, rec)
        bar.update(1)

    try:
        if not todo:
            pass
        elif client is not None:
            from distributed import as_completed as dask_completed

            futs = [client.submit(func, t, pure=False) for t in todo]
            for fut in dask_completed(futs):
                record(fut.result())
        elif (workers or os.cpu_count() or 1) == 1 or len(todo) == 1:
            for t in todo:
                record(func(t))
        else:
            import multiprocessing as mp

            n = min(workers or os.cpu_count() or 1, len(todo))
            with ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init) as pool:
                futs = {pool.submit(func, t): t for t in todo}
                try:
                    for fut in as_completed(futs):
                        record(fut.result())
                except BaseException:
                    for f in futs:
                        f.cancel()
                    raise
    finally:
        bar.close()
        if own_client:
            client.close()
    return [done[t.key] for t in tasks]


# --------------------------------------------------------------------------------------------
# aggregation
# --------------------------------------------------------------------------------------------

def aggregate_perceptron(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pool perceptron records over seeds and extrapolate in ``1/N``.

    Groups by ``(prior, output, T, load)`` with ``load`` the *requested* alpha (the task's
    ``load``; records without a task fall back to the realised ``P/N``), so that one alpha run
    at several ``N`` (where ``round(alpha N) / N`` differs) stays one group.  Within a group,
    per ``N`` the per-data-set means of all seeds are pooled (mean and standard error over
    data sets); a record repeated (same task ``key``, e.g. a duplicated grid value) is counted
    once.  With two or more sizes :func:`~simulations.perceptron.extrapolate_finite_size`
    gives ``eps_g`` at ``N = inf``.

    Returns
    -------
    list of dict
        One row per ``(prior, output, T, load, N)`` (with ``P`` and the realised
        ``load_realised = P/N``) plus one with ``N = inf`` per group when extrapolated
        (``chi2``, ``dof`` and the slope ``a`` included; ``R`` and ``R_se`` extrapolated in
        ``1/N`` the same way when every size has an error).
    """
    from .perceptron import extrapolate_finite_size

    groups: dict[tuple, dict[int, list[dict[str, Any]]]] = {}
    seen: set[str] = set()
    for r in records:
        if r.get("kind", "perceptron") != "perceptron":
            continue
        key = r.get("key")
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        task = r.get("task") or {}
        load = float(task.get("load", r["load"]))
        g = (r["prior"], r["output"], float(r["T"]), round(load, 12))
        groups.setdefault(g, {}).setdefault(int(r["N"]), []).append(r)
    rows: list[dict[str, Any]] = []
    for (prior, output, T, load), by_n in sorted(groups.items()):
        sizes, vals, errs, rv, re = [], [], [], [], []
        for N in sorted(by_n):
            recs = by_n[N]
            row: dict[str, Any] = {"prior": prior, "output": output, "T": T, "load": load,
                                   "N": N, "P": int(recs[0]["P"]) if "P" in recs[0] else None,
                                   "load_realised": float(recs[0]["load"]),
                                   "n_samples": 0, "equilibrated": True}
            for q in ("eps_g", "eps_t", "eps_test", "R", "q"):
                v = np.concatenate([np.asarray(x["per_sample"][q], dtype=float) for x in recs])
                row[q] = float(v.mean())
                row[q + "_se"] = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 \
                    else math.nan
                row["n_samples"] = int(v.size)
            row["equilibrated"] = all(bool(x["equilibrated"]) for x in recs)
            row["tau_R"] = max(float(x["tau_R"]) for x in recs)
            row["tau_E"] = max(float(x.get("tau_E", math.nan)) for x in recs)
            row["tau"] = max(row["tau_R"], row["tau_E"])
            row["n_sweeps"] = max(int(x.get("n_sweeps", 0)) for x in recs) or math.nan
            row["status"] = "equilibrated" if row["equilibrated"] else "not equilibrated"
            row["reason"] = " | ".join(dict.fromkeys(
                x.get("reason", "") for x in recs if x.get("reason")))
            row["advice"] = " | ".join(dict.fromkeys(
                x.get("advice", "") for x in recs if x.get("advice")))
            rows.append(row)
            if math.isfinite(row["eps_g_se"]) and row["eps_g_se"] > 0:
                sizes.append(N)
                vals.append(row["eps_g"])
                errs.append(row["eps_g_se"])
                rv.append(row["R"])
                re.append(row["R_se"] if row["R_se"] > 0 else math.nan)
        if len(set(sizes)) >= 2:
            fit = extrapolate_finite_size(sizes, vals, errs)
            ext = {"prior": prior, "output": output, "T": T, "load": load,
                   "N": math.inf, "eps_g": fit.x_inf, "eps_g_se": fit.x_inf_se,
                   "a": fit.a, "a_se": fit.a_se, "chi2": fit.chi2, "dof": fit.dof}
            if all(math.isfinite(e) for e in re):  # R extrapolated the same way
                fr = extrapolate_finite_size(sizes, rv, re)
                ext["R"], ext["R_se"] = fr.x_inf, fr.x_inf_se
            rows.append(ext)
    return rows
