"""MLP3 measurements: per-layer spectra and metrics, the ECS truncation test, the epoch table.

* Layer analysis (numpy; arXiv:2507.17912 Sec. 6.1, 6.3-6.5): :func:`layer_spectrum` (ESD and
  eigenvectors), :func:`analyze_layer` (alpha, alpha_weighted on W^T W, xmin, KS ``D``, MP
  edge and spikes, detX ``lambda_min``, ``Delta lambda_min``, ERG residual, correlation traps
  with the JS distance of the shuffled ESDs, ``Q^2``); the columns are :data:`LAYER_COLUMNS`.
* ECS truncation test (arXiv:2507.17912 Sec. 6.2): the projection onto the eigenvectors kept
  under each rule of :data:`TRUNCATION_RULES` and the evaluation of the original and truncated
  models from one forward pass (``_evaluate``).
* Epoch table: :func:`table_columns`, the ``notes`` column, :func:`read_epoch_table`,
  :func:`check_epoch_table`, and ``_measure`` (one row: the analysis of the model's current
  weights, optionally on a thread pool).

Public names re-exported by :mod:`simulations.mlp3`; the training loop that calls ``_measure``
is in :mod:`simulations.mlp3._train`.
"""

from __future__ import annotations

import csv
import math
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional as F

from setol_theory.htsr import correlation_traps, detx_lambda_min, erg_metrics, esd_metrics
from setol_theory.linalg import correlation_eigenvalues

from ._model import _NAN, _TABLE_FILE, MLP3, MLP3Config

Array = NDArray[np.float64]

#: Truncation rules of the ECS test (arXiv:2507.17912 Sec. 6.2): power-law xmin, TraceLog/detX edge.
TRUNCATION_RULES: tuple[str, ...] = ("pl", "detx")

_STRING_COLUMNS = ("status", "notes")


# ============================================================================================
# Layer analysis (numpy, pure)
# ============================================================================================
@dataclass(frozen=True, eq=False)
class LayerSpectrum:
    """Eigen-decomposition of the smaller Gram matrix of a weight ``W`` (``out x in``).

    ``evals`` ascending on the ``normalization`` scale (numerically zero ones set to 0, as
    :func:`setol_theory.linalg.correlation_eigenvalues`); ``vecs[:, i]`` the eigenvector of
    ``evals[i]``: a left singular vector of ``W`` (``side="out"``, when ``out <= in``) or a
    right one (``side="in"``). ``W`` truncated to the eigenvalues ``>= lam`` is ``P W``
    (``side="out"``) or ``W P`` (``side="in"``) with ``P = V_k V_k^T``.
    """

    evals: Array
    vecs: Array
    side: str
    N: int
    M: int


def layer_spectrum(W: NDArray[np.floating], normalization: str = "none") -> LayerSpectrum:
    """ESD and eigenvectors of ``W`` from one float64 ``eigh`` of the ``M x M`` Gram matrix.

    The eigenvalues are those of :func:`setol_theory.linalg.correlation_eigenvalues`
    (method ``"eigvalsh"``, same zero threshold), obtained together with the vectors the
    truncation test needs.
    """
    A = np.asarray(W, dtype=np.float64)
    if A.ndim != 2 or min(A.shape) < 2:
        raise ValueError(f"expected a 2-D weight matrix with both sides >= 2, got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError("weights contain NaN or Inf")
    if not np.any(A):
        raise ValueError("weights are all zero")
    out_d, in_d = A.shape
    side = "out" if out_d <= in_d else "in"
    G = A @ A.T if side == "out" else A.T @ A
    lam, vecs = np.linalg.eigh(G)
    N, M = max(A.shape), min(A.shape)
    lmax = float(lam[-1])
    if not lmax > 0:
        raise ValueError("W^T W underflows to zero")
    lam = lam.copy()
    lam[lam <= M * np.finfo(np.float64).eps * lmax] = 0.0
    if normalization == "N":
        lam /= N
    elif normalization != "none":
        raise ValueError(f"normalization must be 'none' or 'N', got {normalization!r}")
    return LayerSpectrum(lam, vecs, side, N, M)


#: Per-layer columns of the epoch table, in order (prefixed ``fc1_``, ``fc2_``).
LAYER_COLUMNS: tuple[str, ...] = (
    "alpha", "alpha_weighted", "xmin", "D", "num_tail", "lambda_max", "mp_lambda_plus",
    "num_spikes", "detx_lambda_min", "detx_num", "delta_lambda_min",
    "detx_closest_lambda_min", "erg", "num_traps", "lambda_max_rand", "threshold_rand",
    "js_rand", "q2",
)


def _js_distance(a: Array, b: Array, bins: int = 40) -> float:
    """Jensen-Shannon distance (base 2) between two ESDs on common log-spaced bins."""
    from scipy.spatial.distance import jensenshannon

    a, b = a[a > 0], b[b > 0]
    if a.size == 0 or b.size == 0:
        return _NAN
    lo = math.log10(min(a.min(), b.min()))
    hi = math.log10(max(a.max(), b.max()))
    if not hi > lo:
        return 0.0
    edges = np.linspace(lo, hi, bins + 1)
    p, _ = np.histogram(np.log10(a), edges)
    q, _ = np.histogram(np.log10(b), edges)
    return float(jensenshannon(p, q, base=2))


def _q2_emp(evals: Array, alpha: float, xmin: float) -> tuple[float, str]:
    """Computational-R-transform ``Q^2`` (model ``"emp"``, detX ECS) when the library has it."""
    try:
        from setol_theory.quality import layer_quality
    except ImportError:
        return _NAN, "setol_theory.quality.layer_quality is not available"
    ok = math.isfinite(alpha) and math.isfinite(xmin)
    try:
        lq = layer_quality(evals, ecs="detx", models=("emp",),
                           alpha=alpha if ok else None, xmin=xmin if ok else None)
        m = lq.models["emp"]
    except (ValueError, ArithmeticError) as exc:  # no ECS, bad spectrum (the reason says)
        return _NAN, f"Q^2: {exc}"
    except (TypeError, KeyError, AttributeError) as exc:  # quality.py API not as expected
        return _NAN, f"Q^2 unavailable (setol_theory.quality.layer_quality: {exc!r})"
    if not m.ok or m.q2 is None or not math.isfinite(m.q2):
        return _NAN, f"Q^2 ({m.status}): {m.reason}"
    return float(m.q2), ""


_TRAP_KEYS = ("num_traps", "lambda_max_rand", "threshold_rand", "js_rand")


def _layer_metrics(W: NDArray[np.floating], normalization: str, min_tail: int, detx_rule: str,
                   quality: bool) -> tuple[dict[str, float], dict[str, str], LayerSpectrum]:
    """Everything of :func:`analyze_layer` except the trap test (no warning filters here: the
    caller sets them, this may run in a worker thread)."""
    spec = layer_spectrum(W, normalization)
    ev = spec.evals
    reasons: dict[str, str] = {}
    m = esd_metrics(ev, spec.N, spec.M, normalization="N" if normalization == "N" else "none",
                    fit_kwargs={"min_tail": min_tail})
    vals: dict[str, float] = {
        "alpha": m.alpha, "alpha_weighted": m.alpha_weighted, "xmin": m.xmin, "D": m.D,
        "num_tail": float(m.num_tail), "lambda_max": m.lambda_max,
        "mp_lambda_plus": m.mp_lambda_plus, "num_spikes": float(m.num_spikes),
    }
    if m.mp_status != "ok":  # no spike count without an MP bulk (docs/htsr.md)
        reasons["num_spikes"] = f"MP bulk {m.mp_status}: {m.mp_reason}"
    fit_ok = m.fit_status == "ok"
    if not fit_ok:
        why = f"power-law fit {m.fit_status}: {m.fit_reason}"
        for k in ("alpha", "alpha_weighted", "xmin", "D", "delta_lambda_min", "erg"):
            reasons[k] = why
    d = detx_lambda_min(ev, rule=detx_rule)
    d_closest = d if detx_rule == "closest" else detx_lambda_min(ev, rule="closest")
    vals["detx_lambda_min"] = d.lambda_min
    vals["detx_num"] = float(d.num_ecs)
    vals["detx_closest_lambda_min"] = d_closest.lambda_min
    vals["delta_lambda_min"] = m.xmin - d.lambda_min if fit_ok else _NAN
    vals["erg"] = (erg_metrics(ev, m.xmin, rule=detx_rule).erg_residual_at_xmin
                   if fit_ok else _NAN)
    if quality:
        vals["q2"], why = _q2_emp(ev, m.alpha, m.xmin)
        if why:
            reasons["q2"] = why
    else:
        vals["q2"] = _NAN
        reasons["q2"] = "quality switched off"
    return vals, reasons, spec


def _layer_traps(W: NDArray[np.floating], normalization: str,
                 rng: np.random.Generator | int | None) -> tuple[Any, list[Array]]:
    """:func:`setol_theory.htsr.correlation_traps` and the shuffled ESDs it computed."""
    shuffled: list[Array] = []

    def eig(A: Array) -> Array:
        s = correlation_eigenvalues(A, normalization=normalization)
        shuffled.append(s)
        return s

    return correlation_traps(W, normalization=normalization, rng=rng, eig=eig), shuffled


def _merge_traps(vals: dict[str, float], reasons: dict[str, str], ev: Array,
                 traps: tuple[Any, list[Array]] | BaseException | None) -> None:
    if traps is None:
        for k in _TRAP_KEYS:
            vals[k] = _NAN
            reasons[k] = "trap test switched off"
    elif isinstance(traps, BaseException):
        for k in _TRAP_KEYS:
            vals[k] = _NAN
            reasons[k] = f"trap test failed: {traps}"
    else:
        t, shuffled = traps
        vals["num_traps"] = t.num_traps
        vals["lambda_max_rand"] = t.lambda_max_rand
        vals["threshold_rand"] = t.threshold_rand
        vals["js_rand"] = float(np.mean([_js_distance(ev, s) for s in shuffled]))
    for k, v in vals.items():
        if not math.isfinite(v) and k not in reasons:
            reasons[k] = "not defined for this spectrum"


def analyze_layer(
    W: NDArray[np.floating],
    *,
    normalization: str = "none",
    min_tail: int = 10,
    detx_rule: str = "first_below",
    traps: bool = True,
    quality: bool = True,
    rng: np.random.Generator | int | None = 0,
) -> tuple[dict[str, float], dict[str, str], LayerSpectrum]:
    """HTSR / SETOL metrics of one layer for the epoch table.

    Returns ``(values, reasons, spectrum)``: ``values`` has every key of
    :data:`LAYER_COLUMNS`; ``reasons[key]`` says why ``values[key]`` is not finite.
    The power-law fit, MP bulk and detX edge are those of :func:`setol_theory.htsr.
    esd_metrics`; traps are :func:`setol_theory.htsr.correlation_traps` (the shuffled ESDs are
    kept for the JS distance); ``erg`` is ``sum_{lambda >= xmin} ln lambda`` on the
    ``sum(lambda) = M`` scale (:func:`setol_theory.htsr.erg_metrics`; ~0 for an Ideal layer).

    Raises ValueError when ``W`` has no spectrum (NaN/Inf, all zero).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        vals, reasons, spec = _layer_metrics(W, normalization, min_tail, detx_rule, quality)
        t = _layer_traps(W, normalization, rng) if traps else None
        _merge_traps(vals, reasons, spec.evals, t)
    return vals, reasons, spec


def _projection_basis(spec: LayerSpectrum, lam_min: float) -> tuple[str, torch.Tensor, int]:
    """``(mode, V, k)`` for truncating to eigenvalues ``>= lam_min``.

    ``mode == "keep"``: the truncated map is ``V V^T`` (``V`` the kept vectors); ``"drop"``:
    ``I - V V^T`` (``V`` the dropped ones) -- whichever basis is smaller.
    """
    keep = spec.evals >= lam_min
    k = int(keep.sum())
    if k <= spec.M - k:
        return "keep", torch.from_numpy(np.ascontiguousarray(spec.vecs[:, keep])), k
    return "drop", torch.from_numpy(np.ascontiguousarray(spec.vecs[:, ~keep])), k


def _project(z: torch.Tensor, mode: str, V: torch.Tensor) -> torch.Tensor:
    zv = (z @ V) @ V.T
    return zv if mode == "keep" else z - zv


# ============================================================================================
# Evaluation (original and truncated models from one forward pass)
# ============================================================================================
@dataclass
class _Truncation:
    layer: str
    rule: str
    side: str
    mode: str
    V: torch.Tensor
    k: int


def _evaluate(
    model: MLP3,
    X: torch.Tensor,
    y: torch.Tensor,
    truncs: Sequence[_Truncation],
    *,
    chunk: int = 16384,
) -> tuple[float, float, dict[tuple[str, str], float], float]:
    """Loss and accuracy of the model, accuracy of each truncated model, and the seconds spent
    on the truncated ones. Pre-activations of the original pass are reused: truncating ``fc_i``
    on its output side is ``z_i' = (z_i - b_i) P + b_i``."""
    n = int(y.shape[0])
    if n == 0:
        return _NAN, _NAN, {(t.layer, t.rule): _NAN for t in truncs}, 0.0
    lins = model.linear_layers()
    loss_sum = 0.0
    correct = 0
    tcorrect = {(t.layer, t.rule): 0 for t in truncs}
    t_trunc = 0.0
    with torch.no_grad():
        for s in range(0, n, chunk):
            xb, yb = X[s:s + chunk], y[s:s + chunk]
            z1 = lins["fc1"](xb)
            h1 = F.relu(z1)
            z2 = lins["fc2"](h1)
            h2 = F.relu(z2)
            logits = lins["out"](h2)
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
            t0 = time.perf_counter()
            for t in truncs:
                lin = lins[t.layer]
                V = t.V
                if t.layer == "fc1":
                    if t.side == "out":
                        z = _project(z1 - lin.bias, t.mode, V) + lin.bias
                    else:
                        z = F.linear(_project(xb, t.mode, V), lin.weight, lin.bias)
                    zz = lins["fc2"](F.relu(z))
                else:  # fc2
                    if t.side == "out":
                        zz = _project(z2 - lin.bias, t.mode, V) + lin.bias
                    else:
                        zz = F.linear(_project(h1, t.mode, V), lin.weight, lin.bias)
                out = lins["out"](F.relu(zz))
                tcorrect[(t.layer, t.rule)] += int((out.argmax(1) == yb).sum())
            t_trunc += time.perf_counter() - t0
    return loss_sum / n, correct / n, {k: v / n for k, v in tcorrect.items()}, t_trunc


# ============================================================================================
# Epoch table
# ============================================================================================
def table_columns(config: MLP3Config, layers: Sequence[str], has_val: bool) -> list[str]:
    """Column names of the epoch table of a run, in order."""
    sets = ("train", "val", "test") if has_val else ("train", "test")
    cols = ["epoch", "status", "train_loss", "train_acc", "train_eval_loss", "train_eval_acc"]
    if has_val:
        cols += ["val_loss", "val_acc"]
    cols += ["test_loss", "test_acc", "train_error", "test_error", "gap"]
    for name in layers:
        cols += [f"{name}_{c}" for c in LAYER_COLUMNS]
        if config.truncation:
            for rule in TRUNCATION_RULES:
                cols.append(f"{name}_rank_{rule}")
                cols += [f"{name}_dE_{s}_{rule}" for s in sets]
    cols += ["time_train", "time_eval", "time_analysis", "time_truncation", "notes"]
    return cols


def _format_notes(notes: dict[str, str]) -> str:
    return " | ".join(f"{k}: {' '.join(str(v).replace('|', '/').split())}"
                      for k, v in notes.items())


def _parse_notes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (text or "").split(" | "):
        if ": " in part:
            k, v = part.split(": ", 1)
            out[k.strip()] = v
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)  # round-trips exactly ("nan", "inf" for non-finite)
    return str(v)


def read_epoch_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an ``epochs.csv``: numbers as floats (``epoch`` as int), strings as they are.

    A last line cut off by an interruption (fewer fields than the header) is dropped.
    """
    p = Path(path)
    if p.is_dir():
        p = p / _TABLE_FILE
    try:
        fh = p.open(newline="")
    except OSError as exc:
        raise ValueError(f"{p}: cannot be read ({exc.strerror or exc})") from exc
    rows: list[dict[str, Any]] = []
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return rows
        for rec in reader:
            if len(rec) != len(header):
                break  # a partially written last row
            row: dict[str, Any] = {}
            try:
                for k, v in zip(header, rec, strict=True):
                    if k in _STRING_COLUMNS:
                        row[k] = v
                    elif k == "epoch":
                        row[k] = int(v)
                    else:
                        row[k] = float(v)
            except ValueError:
                break
            rows.append(row)
    return rows


def check_epoch_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Invariants of an epoch table; returns the violations (empty when it is sound).

    * at least one row, the first is epoch 0 (the initial weights);
    * epochs increase by exactly 1 from row to row;
    * every numeric value is finite, or the row's ``notes`` give a reason for that column
      (key equal to the column, or a prefix ending in ``*`` such as ``fc1_*``).
    """
    problems: list[str] = []
    if not rows:
        return ["the table has no rows"]
    if rows[0].get("epoch") != 0:
        problems.append(f"first row is epoch {rows[0].get('epoch')!r}, not 0")
    for prev, cur in zip(rows, rows[1:], strict=False):
        if cur.get("epoch") != prev.get("epoch", -2) + 1:
            problems.append(f"epoch {cur.get('epoch')!r} follows {prev.get('epoch')!r}")
    for row in rows:
        notes = _parse_notes(row.get("notes", ""))
        prefixes = [k[:-1] for k in notes if k.endswith("*")]
        for k, v in row.items():
            if k in _STRING_COLUMNS or k == "epoch":
                continue
            if not isinstance(v, int | float) or isinstance(v, bool):
                problems.append(f"epoch {row.get('epoch')}: {k} is not a number ({v!r})")
                continue
            if math.isfinite(v) or k in notes or any(k.startswith(p) for p in prefixes):
                continue
            problems.append(f"epoch {row.get('epoch')}: {k} = {v} without a reason in notes")
    return problems


# ============================================================================================
# Measurements of one epoch
# ============================================================================================
def _measure(
    model: MLP3,
    epoch: int,
    config: MLP3Config,
    layers: Sequence[str],
    sets: dict[str, tuple[torch.Tensor, ...]],
    train_stats: tuple[float, float] | None,
    time_train: float,
    pool: ThreadPoolExecutor | None = None,
) -> dict[str, Any]:
    """One row of the epoch table (the analysis of the model's current weights).

    With ``pool`` the layer analyses and trap tests run concurrently on its threads (numpy's
    LAPACK and the numba power-law scan release the GIL).
    """
    notes: dict[str, str] = {}
    row: dict[str, Any] = {"epoch": epoch, "status": "init" if epoch == 0 else "trained"}
    t0 = time.perf_counter()
    truncs: list[_Truncation] = []
    lins = model.linear_layers()
    layer_vals: dict[str, dict[str, float]] = {}
    submit = pool.submit if pool is not None else _call_now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        jobs = {}
        for li, name in enumerate(layers):
            W = lins[name].weight.detach().to("cpu").numpy()
            rng = np.random.default_rng([config.seed, 3, epoch, li])
            jobs[name] = (
                submit(_layer_metrics, W, config.normalization, config.min_tail,
                       config.detx_rule, config.quality),
                submit(_layer_traps, W, config.normalization, rng) if config.traps else None,
            )
        results = {}
        for name, (fm, ft) in jobs.items():
            tr = None if ft is None else (ft.exception() or ft.result())
            results[name] = (fm.exception() or fm.result(), tr)
        for name, (main, tr) in results.items():
            if isinstance(main, BaseException):
                if not isinstance(main, ValueError | TypeError | np.linalg.LinAlgError):
                    raise main
                layer_vals[name] = {c: _NAN for c in LAYER_COLUMNS}
                notes[f"{name}_*"] = f"layer not analysed: {main}"
                continue
            vals, reasons, spec = main
            if isinstance(tr, BaseException) and not isinstance(tr, ValueError | TypeError):
                raise tr
            _merge_traps(vals, reasons, spec.evals, tr)
            layer_vals[name] = vals
            for k, why in reasons.items():
                notes[f"{name}_{k}"] = why
            if config.truncation:
                for rule in TRUNCATION_RULES:
                    lam = vals["xmin"] if rule == "pl" else vals["detx_lambda_min"]
                    if not math.isfinite(lam):
                        why = "no ECS edge: " + reasons.get("xmin", "edge not finite")
                        for col in [f"rank_{rule}", *(f"dE_{s}_{rule}" for s in sets)]:
                            notes[f"{name}_{col}"] = why
                        continue
                    mode, V, k = _projection_basis(spec, lam)
                    ref = lins[name].weight
                    truncs.append(_Truncation(name, rule, spec.side, mode,
                                              V.to(device=ref.device, dtype=ref.dtype), k))
    t_spectral = time.perf_counter() - t0

    t1 = time.perf_counter()
    evals_: dict[str, tuple[float, float, dict[tuple[str, str], float]]] = {}
    t_trunc = 0.0
    for s, (X, y) in sets.items():
        loss, acc, tacc, tt = _evaluate(model, X, y, truncs)
        evals_[s] = (loss, acc, tacc)
        t_trunc += tt
    t_eval = time.perf_counter() - t1 - t_trunc

    tl, ta = evals_["train"][:2]
    if train_stats is None:  # epoch 0: no batches yet, the running values are the evaluation
        row["train_loss"], row["train_acc"] = tl, ta
    else:
        row["train_loss"], row["train_acc"] = train_stats
    row["train_eval_loss"], row["train_eval_acc"] = tl, ta
    if "val" in sets:
        row["val_loss"], row["val_acc"] = evals_["val"][:2]
    row["test_loss"], row["test_acc"] = evals_["test"][:2]
    row["train_error"] = 1.0 - ta
    row["test_error"] = 1.0 - evals_["test"][1]
    row["gap"] = row["test_error"] - row["train_error"]
    for k in ("train_loss", "train_eval_loss", "test_loss", "val_loss"):
        if k in row and not math.isfinite(row[k]):
            notes[k] = "loss overflowed (weights too large)"

    by_key = {(t.layer, t.rule): t for t in truncs}
    for name in layers:
        for c in LAYER_COLUMNS:
            row[f"{name}_{c}"] = float(layer_vals[name][c])
        if not config.truncation:
            continue
        for rule in TRUNCATION_RULES:
            t = by_key.get((name, rule))
            row[f"{name}_rank_{rule}"] = float(t.k) if t is not None else _NAN
            for s in sets:
                if t is None:
                    row[f"{name}_dE_{s}_{rule}"] = _NAN
                else:  # truncated error minus original error = acc - acc_truncated
                    row[f"{name}_dE_{s}_{rule}"] = evals_[s][1] - evals_[s][2][(name, rule)]
    row["time_train"] = time_train
    row["time_eval"] = t_eval
    row["time_analysis"] = t_spectral
    row["time_truncation"] = t_trunc
    row["notes"] = _format_notes(notes)
    return row


def _call_now(fn: Callable[..., Any], *args: Any) -> Future:
    """A finished Future of ``fn(*args)`` (the sequential stand-in for ``pool.submit``)."""
    f: Future = Future()
    try:
        f.set_result(fn(*args))
    except Exception as exc:  # handed to the caller through the Future, as pool.submit does
        f.set_exception(exc)
    return f
