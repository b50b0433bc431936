"""MLP3 training: one run of :func:`train_run`, resumable, into a run directory.

The training loop (arXiv:2507.17912 App. A.5; docs/mlp3.md: seeded batch order, early
stopping on the running train loss, divergence check), one measured row per epoch (``_measure`` of
:mod:`simulations.mlp3._analysis`), the run directory (``config.json``, ``epochs.csv``,
``checkpoint.pt``, ``run.log``, ``done.json``) with resume and skip of finished runs,
:class:`RunResult`, the timing summary, and numpy's OpenBLAS held at one thread during a run
(:class:`_NumpyBlasThreads`). Public names re-exported by :mod:`simulations.mlp3`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from setol_theory.util import write_json

from ..data import DataSplit, load_dataset
from ._analysis import (
    _fmt,
    _format_notes,
    _measure,
    check_epoch_table,
    read_epoch_table,
    table_columns,
)
from ._model import (
    _CKPT_FILE,
    _CONFIG_FILE,
    _DONE_FILE,
    _LOG_FILE,
    _NAN,
    _TABLE_FILE,
    MLP3,
    MLP3Config,
    _make_optimizer,
    _set_trainable,
    analysed_layers,
    check_config_data,
    init_model,
)

_RUNTIME_KEYS = ("threads", "device")  # do not change what is computed; ignored on resume


# ============================================================================================
# One run
# ============================================================================================
@dataclass
class RunResult:
    """Outcome of :func:`train_run`: where it is, how it ended, and its epoch table."""

    run_dir: Path
    config: MLP3Config
    status: str  # "early_stop", "max_epochs", "diverged"
    epochs: int
    rows: list[dict[str, Any]] = field(repr=False)
    resumed_from: int | None = None
    skipped: bool = False

    @property
    def final(self) -> dict[str, Any]:
        return self.rows[-1]

    def timing(self) -> dict[str, float]:
        """Mean seconds per trained epoch (epochs >= 1) of training, evaluation and analysis."""
        return _timing(self.rows)


def _timing(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    tr = [r for r in rows if r["epoch"] >= 1]
    if not tr:
        return {}
    out = {k: float(np.mean([r[k] for r in tr]))
           for k in ("time_train", "time_eval", "time_analysis", "time_truncation")}
    out["analysis_over_train"] = out["time_analysis"] / out["time_train"]
    out["truncation_over_train"] = out["time_truncation"] / out["time_train"]
    return out


class _Log:
    def __init__(self, path: Path, echo: Callable[[str], None] | None) -> None:
        self.path, self.echo = path, echo

    def __call__(self, msg: str) -> None:
        with self.path.open("a") as fh:
            fh.write(msg + "\n")
        if self.echo is not None:
            self.echo(msg)


def _resolve_device(device: str) -> torch.device:
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda': torch finds no CUDA device on this machine")
        # needed by deterministic cuBLAS; must be set before the first cuBLAS call
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return torch.device("cuda")
    return torch.device("cpu")


def _config_mismatch(saved: dict[str, Any], config: MLP3Config) -> list[str]:
    cur = config.to_dict()
    keys = sorted((set(saved) | set(cur)) - set(_RUNTIME_KEYS))
    return [f"{k}: {saved.get(k)!r} (saved) vs {cur.get(k)!r}" for k in keys
            if saved.get(k) != cur.get(k)]


def run_is_complete(run_dir: str | Path, config: MLP3Config | None = None) -> bool:
    """True when ``run_dir`` holds a finished run (of ``config``, if given)."""
    d = Path(run_dir)
    try:
        done = json.loads((d / _DONE_FILE).read_text())
        saved = json.loads((d / _CONFIG_FILE).read_text())["config"]
    except (OSError, ValueError, KeyError):
        return False
    if config is not None and _config_mismatch(saved, config):
        return False
    rows = read_epoch_table(d / _TABLE_FILE) if (d / _TABLE_FILE).exists() else []
    return bool(rows) and rows[-1]["epoch"] == done.get("epochs") and not check_epoch_table(rows)


def _tensors(data: DataSplit, device: torch.device) -> dict[str, tuple[torch.Tensor, ...]]:
    def t(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(np.array(x, dtype=np.float32)).to(device),
                torch.from_numpy(np.array(y, dtype=np.int64)).to(device))

    out = {"train": t(data.X_train, data.y_train), "test": t(data.X_test, data.y_test)}
    if data.y_val.size:
        out["val"] = t(data.X_val, data.y_val)
    return out


def _diverged_row(epoch: int, columns: Sequence[str], train_stats: tuple[float, float],
                  time_train: float) -> dict[str, Any]:
    row: dict[str, Any] = {c: _NAN for c in columns}
    row.update(epoch=epoch, status="diverged", time_train=time_train, time_eval=0.0,
               time_analysis=0.0, time_truncation=0.0)
    row["train_loss"], row["train_acc"] = train_stats
    row["notes"] = _format_notes({"*": "training diverged: non-finite loss or weights; "
                                       "nothing measured"})
    return row


def _train_epoch(model: MLP3, opt: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor,
                 config: MLP3Config, epoch: int) -> tuple[float, float]:
    """One pass in the seeded batch order; returns the running loss per example and accuracy."""
    n = int(y.shape[0])
    perm = torch.from_numpy(np.random.default_rng([config.seed, 2, epoch]).permutation(n))
    perm = perm.to(X.device)
    bs = config.batch_size
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=X.device)
    correct = torch.zeros((), dtype=torch.int64, device=X.device)
    per_example = config.reduction == "mean"
    for s in range(0, n, bs):  # the last partial batch is kept
        idx = perm[s:s + bs]
        xb, yb = X[idx], y[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb, reduction=config.reduction)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            loss_sum += loss.detach().double() * (idx.numel() if per_example else 1)
            correct += (logits.argmax(1) == yb).sum()
    model.eval()
    return float(loss_sum) / n, int(correct) / n


class _NumpyBlasThreads:
    """Context manager: numpy's OpenBLAS limited to ``n`` threads (best effort, Linux).

    On 2 cores, OpenBLAS worker threads that spin after a numpy call compete with torch's
    OpenMP threads: measured here, a training epoch went from 0.12 s to over 2 s with
    ``OPENBLAS_NUM_THREADS=2``. The eigenproblems of the analysis are small (<= 300 x 300),
    one thread is enough for them. Without an OpenBLAS library found this does nothing.
    """

    _NAMES = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
              ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
              ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
              ("openblas_get_num_threads", "openblas_set_num_threads"))

    def __init__(self, n: int = 1) -> None:
        self.n = int(n)
        self._funcs: tuple[Any, Any] | None = None
        self._old: int | None = None

    @classmethod
    def _find(cls) -> tuple[Any, Any] | None:
        import ctypes

        try:
            with open("/proc/self/maps") as fh:
                paths = sorted({ln.split()[-1] for ln in fh
                                if "openblas" in ln.lower() and ".so" in ln})
        except OSError:
            return None
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for get, set_ in cls._NAMES:
                if hasattr(lib, get) and hasattr(lib, set_):
                    return getattr(lib, get), getattr(lib, set_)
        return None

    def __enter__(self) -> _NumpyBlasThreads:
        self._funcs = self._find()
        if self._funcs is not None:
            self._old = int(self._funcs[0]())
            self._funcs[1](self.n)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._funcs is not None and self._old is not None:
            self._funcs[1](self._old)


def _weights_finite(model: MLP3) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def prepare_data(config: MLP3Config) -> DataSplit:
    """Load and split the data of ``config`` and run every data-dependent check."""
    data = load_dataset(config.dataset, config.data_path, seed=config.seed,
                        n_train=config.n_train, n_test=config.n_test,
                        val_fraction=config.val_fraction)
    check_config_data(config, data)
    return data


def train_run(
    config: MLP3Config,
    run_dir: str | Path,
    *,
    resume: bool = True,
    overwrite: bool = False,
    log: Callable[[str], None] | None = print,
    callback: Callable[[dict[str, Any]], None] | None = None,
    data: DataSplit | None = None,
    parquet: bool = False,
) -> RunResult:
    """Train one MLP3 and measure every epoch; resumable.

    Parameters
    ----------
    config : MLP3Config
    run_dir : path
        Output directory (created). If it already holds this configuration: a finished run
        is returned as it is (``skipped=True``), an interrupted one continues from its last
        checkpoint (``resume=True``) -- the rows after the checkpoint are measured again, so
        the table equals that of an uninterrupted run.
    resume : bool
        False refuses an existing run directory unless ``overwrite``.
    overwrite : bool
        Start afresh even if ``run_dir`` holds a run (its files are replaced).
    log : callable or None
        Receives the run log lines (also appended to ``run.log``).
    callback : callable, optional
        Called with every new row after it is saved (an exception stops the run; what was
        saved stays).
    data : DataSplit, optional
        Pre-loaded data (must be what ``config`` asks for); loaded when omitted.
    parquet : bool
        Also write ``epochs.parquet`` at the end (needs pyarrow).

    Raises
    ------
    ValueError
        Bad configuration or data (before any training), or a run directory holding a
        different configuration.
    """
    pool = ThreadPoolExecutor(config.threads) if config.threads > 1 else None
    try:
        with _NumpyBlasThreads(1):
            return _train_run(config, run_dir, resume=resume, overwrite=overwrite, log=log,
                              callback=callback, data=data, parquet=parquet, pool=pool)
    finally:
        if pool is not None:
            pool.shutdown()


def _train_run(config: MLP3Config, run_dir: str | Path, *, resume: bool, overwrite: bool,
               log: Callable[[str], None] | None,
               callback: Callable[[dict[str, Any]], None] | None,
               data: DataSplit | None, parquet: bool,
               pool: ThreadPoolExecutor | None) -> RunResult:
    if parquet:
        _require_pyarrow()
    data = prepare_data(config) if data is None else data
    check_config_data(config, data)
    device = _resolve_device(config.device)
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    cfg_path, table_path, ckpt_path, done_path = (
        d / _CONFIG_FILE, d / _TABLE_FILE, d / _CKPT_FILE, d / _DONE_FILE)
    logger = _Log(d / _LOG_FILE, log)

    existing = cfg_path.exists() and not overwrite
    if existing:
        try:
            saved = json.loads(cfg_path.read_text())["config"]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{cfg_path}: unreadable run configuration ({exc}); "
                             "use overwrite to start afresh") from exc
        diff = _config_mismatch(saved, config)
        if diff:
            raise ValueError(f"{d} holds a run with another configuration ({'; '.join(diff)}); "
                             "choose another output directory or overwrite")
        if not resume:
            raise ValueError(f"{d} already holds this run; resume it or overwrite it")
        if run_is_complete(d, config):
            rows = read_epoch_table(table_path)
            done = json.loads(done_path.read_text())
            return RunResult(d, config, done["status"], done["epochs"], rows, skipped=True)
    else:
        for p in (table_path, ckpt_path, done_path):
            p.unlink(missing_ok=True)

    layers = analysed_layers(config, data.in_dim, data.n_classes)
    columns = table_columns(config, layers, bool(data.y_val.size))

    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    sets = _tensors(data, device)
    model = init_model(config, data.in_dim, data.n_classes).to(device)
    opt = _make_optimizer(config, _set_trainable(model, config.layers))
    best, wait = math.inf, 0
    rows: list[dict[str, Any]] = []
    start = 0
    resumed_from: int | None = None

    if existing and ckpt_path.exists() and table_path.exists():
        try:
            ck = torch.load(ckpt_path, map_location=device, weights_only=True)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise ValueError(f"{ckpt_path}: cannot resume from this checkpoint ({exc}); "
                             "use overwrite to start afresh") from exc
        best, wait = float(ck["best"]), int(ck["wait"])
        rows = [r for r in read_epoch_table(table_path) if r["epoch"] <= ck["epoch"]]
        if rows and list(rows[0]) != columns:
            raise ValueError(f"{table_path}: columns differ from this configuration's; "
                             "use overwrite to start afresh")
        if not rows or rows[-1]["epoch"] != ck["epoch"] or check_epoch_table(rows):
            raise ValueError(f"{d}: the epoch table does not match the checkpoint "
                             f"(epoch {ck['epoch']}); use overwrite to start afresh")
        start = int(ck["epoch"]) + 1
        resumed_from = int(ck["epoch"])
        status = str(ck.get("status", "trained"))
        logger(f"[{config.name}] resuming after epoch {resumed_from}")
    else:
        status = "trained"

    meta = {
        "config": config.to_dict(),
        "data": data.describe(),
        "layers_analysed": layers,
        "final_weights": "last",
        "eigenvalue_scale": ("sigma^2 (eigenvalues of W^T W)" if config.normalization == "none"
                             else "eigenvalues of W^T W / N"),
        "runtime": {"device": str(device), "threads": config.threads,
                    "torch": torch.__version__, "numpy": np.__version__},
    }
    write_json(cfg_path, meta, default=str)

    # rewrite the table with the rows kept (drops rows measured after the checkpoint)
    with table_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([_fmt(r[c]) for c in columns])

    def save(row: dict[str, Any], epoch: int, run_status: str) -> None:
        with table_path.open("a", newline="") as fh:
            csv.writer(fh).writerow([_fmt(row[c]) for c in columns])
            fh.flush()
        _atomic_torch_save({"epoch": epoch, "model": model.state_dict(),
                            "optimizer": opt.state_dict(), "best": best, "wait": wait,
                            "status": run_status}, ckpt_path)
        rows.append(row)
        if callback is not None:
            callback(row)

    if start == 0:
        logger(f"[{config.name}] {data.name}: {data.n_train} train / {data.y_val.size} val / "
               f"{data.y_test.size} test images, widths {config.widths}, trained layers "
               f"{config.layers}, lr {config.lr:g}, batch {config.batch_size}, device {device}")
        row = _measure(model, 0, config, layers, sets, None, 0.0, pool)
        save(row, 0, "trained")
        logger(_epoch_line(config, row, layers))
        start = 1

    stop = status if status in ("early_stop", "diverged") else ""
    for epoch in range(start, config.max_epochs + 1):
        if stop:
            break
        t0 = time.perf_counter()
        stats = _train_epoch(model, opt, sets["train"][0], sets["train"][1], config, epoch)
        t_train = time.perf_counter() - t0
        if not (math.isfinite(stats[0]) and _weights_finite(model)):
            stop = "diverged"
            save(_diverged_row(epoch, columns, stats, t_train), epoch, stop)
            logger(f"[{config.name}] epoch {epoch}: training diverged (loss {stats[0]})")
            break
        if stats[0] < best - config.min_delta:
            best, wait = stats[0], 0
        else:
            wait += 1
        if wait >= config.patience:
            stop = "early_stop"
        row = _measure(model, epoch, config, layers, sets, stats, t_train, pool)
        save(row, epoch, stop or "trained")
        logger(_epoch_line(config, row, layers))
    final_status = stop or "max_epochs"
    last = rows[-1]["epoch"]
    timing = _timing(rows)
    done = {"status": final_status, "epochs": last, "timing_per_epoch": timing,
            "final": {k: v for k, v in rows[-1].items() if k != "notes"}}
    if parquet:
        _write_parquet(rows, columns, d / "epochs.parquet")
    write_json(done_path, done, default=str)
    if timing:
        logger(f"[{config.name}] {final_status} after epoch {last}: " + timing_line(timing))
    return RunResult(d, config, final_status, last, rows, resumed_from=resumed_from)


def _epoch_line(config: MLP3Config, row: dict[str, Any], layers: Sequence[str]) -> str:
    parts = [f"[{config.name}] epoch {row['epoch']:3d}",
             f"loss {row['train_loss']:.4f}", f"train acc {row['train_eval_acc']:.4f}",
             f"test acc {row['test_acc']:.4f}"]
    for name in layers:
        parts.append(f"{name} alpha {row[f'{name}_alpha']:.2f} "
                     f"dlmin {row[f'{name}_delta_lambda_min']:.3g} "
                     f"traps {row[f'{name}_num_traps']:.0f}")
    if row["epoch"] > 0:
        tt = row["time_train"] if row["time_train"] > 0 else _NAN
        parts.append(f"train {tt:.3f} s, analysis {row['time_analysis']:.3f} s "
                     f"({100 * row['time_analysis'] / tt:.0f}%), truncation "
                     f"{row['time_truncation']:.3f} s ({100 * row['time_truncation'] / tt:.0f}%), "
                     f"eval {row['time_eval']:.3f} s")
    return " | ".join(parts)


def timing_line(t: dict[str, float]) -> str:
    """The run log's timing summary (mean seconds per trained epoch)."""
    return (f"per epoch: training {t['time_train']:.3f} s | layer analysis "
            f"{t['time_analysis']:.3f} s ({100 * t['analysis_over_train']:.1f}% of training) | "
            f"ECS truncation test {t['time_truncation']:.3f} s "
            f"({100 * t['truncation_over_train']:.1f}%) | evaluation {t['time_eval']:.3f} s")


def _require_pyarrow() -> None:
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise ValueError("Parquet output needs pyarrow (pip install pyarrow); the CSV table "
                         "is always written")


def _write_parquet(rows: Sequence[dict[str, Any]], columns: Sequence[str], path: Path
                   ) -> None:  # pragma: no cover - pyarrow is optional
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({c: [r[c] for r in rows] for c in columns}), path)
