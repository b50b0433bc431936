"""The paper's 3-layer MLP (MLP3): training with per-epoch layer spectra, ECS truncation test,
correlation traps, and LR / batch-size sweeps.

Protocol: ``shared/spec/empirical.md`` sections 1 and 2 (paper: sections/600-660,
appendix/A5_mlp3_details.tex; authors' code ``pytorch/models.py``, ``trainer.py``,
``train_models.py``, ``shuffled_accuracy.py``).

* Model (spec 1.1): ``in_dim -> widths[0] -> widths[1] -> n_classes`` with ReLU, Glorot-normal
  weights, zero biases; layers named ``fc1``, ``fc2``, ``out``.
* Training (spec 1.3): cross-entropy on logits (``reduction="mean"`` as the code,
  ``"sum"`` as the appendix), plain SGD (momentum 0, constant LR; Adam 1e-3 as an option),
  trained layers ``all`` / ``fc1`` / ``fc2`` (the others frozen at init, i.e. left out of the
  optimiser), early stopping on the epoch's running train loss (patience 3, min_delta 1e-4),
  a cap on the number of epochs. The **last** epoch run is analysed (as the authors' code),
  not the best one; ``config.json`` records this as ``final_weights: "last"``.
* Seeds (spec 1.4, without the code's quirk): the run seed fixes the init
  (``torch.Generator(seed)``), the split (``numpy default_rng([seed, 1])``) and the batch
  order of epoch ``e`` (``default_rng([seed, 2, e])``), so the init is shared by every
  hyperparameter setting and trained-layer choice of one seed, and a resumed run redoes
  exactly what an uninterrupted one would.
* Per epoch, including epoch 0 = init (spec 2.1, 2.2, 2.4): train/val/test loss and accuracy,
  errors and the generalisation gap; per layer with ``>= min_evals`` eigenvalues (``fc1``,
  ``fc2``; the 10-wide output layer is never analysed): alpha, alpha_hat, xmin, KS ``D``,
  tail size, lambda_max, the MP bulk edge and spikes, the detX ``lambda_min`` (both rules),
  ``Delta lambda_min = xmin - lambda_min^detX``, the ERG residual ``sum_{PL tail} ln lambda``,
  the ECS truncation test under both rules (``dE = E_truncated - E``, train/val/test), the
  correlation traps of the element-shuffled layer (count, lambda_max^rand, the JS distance
  between the two ESDs) and, when ``setol_theory.quality.layer_quality`` is available, the
  computational-R-transform quality ``Q^2`` (spec 2.3; model ``"emp"``, detX ECS).
* Eigenvalues are on the sigma^2 scale of the reference tool by default
  (``normalization="none"``: eigenvalues of ``W^T W``); ``"N"`` divides by ``N``.
  alpha, xmin ordering and the detX index are the same on both scales.

Output of a run (a directory): ``config.json``, ``epochs.csv`` (one row per epoch, appended
and flushed as soon as it is measured), ``checkpoint.pt`` (weights and early-stopping state of
the last measured epoch, ``torch.load(..., weights_only=True)``), ``run.log`` and, once
finished, ``done.json``. An interrupted run resumes from its checkpoint; a finished one is
skipped. Every row records the seconds spent on training, evaluation, layer analysis and the
truncation test; with ``threads > 1`` the layer analyses and trap tests of an epoch run on a
thread pool (numpy's OpenBLAS is held at one thread during a run, see
:class:`_NumpyBlasThreads`).
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import as_completed as futures_as_completed
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional as F

from setol_theory.htsr import correlation_traps, esd_metrics
from setol_theory.quality import detx_lambda_min, erg_metrics
from setol_theory.spectra import correlation_eigenvalues

from .data import DataSplit, load_dataset

__all__ = [
    "TRAINED_CHOICES",
    "MLP3Config",
    "MLP3",
    "RunResult",
    "LayerSpectrum",
    "layer_spectrum",
    "analyze_layer",
    "init_model",
    "train_run",
    "read_epoch_table",
    "check_epoch_table",
    "run_is_complete",
    "lr_grid",
    "bs_grid",
    "run_grid",
    "collect_runs",
]

Array = NDArray[np.float64]

#: Trained-layer choices (spec 1.4): every layer, or only FC1 / only FC2 (others frozen).
TRAINED_CHOICES: tuple[str, ...] = ("all", "fc1", "fc2")
#: Layer names in model order.
LAYER_NAMES: tuple[str, ...] = ("fc1", "fc2", "out")
#: Truncation rules of the ECS test (spec 2.2): power-law xmin, TraceLog/detX edge.
TRUNCATION_RULES: tuple[str, ...] = ("pl", "detx")

_NAN = float("nan")
_RUNTIME_KEYS = ("threads", "device")  # do not change what is computed; ignored on resume
_CONFIG_FILE, _TABLE_FILE, _CKPT_FILE, _DONE_FILE, _LOG_FILE = (
    "config.json", "epochs.csv", "checkpoint.pt", "done.json", "run.log")
_STRING_COLUMNS = ("status", "notes")


# ============================================================================================
# Configuration
# ============================================================================================
@dataclass(frozen=True)
class MLP3Config:
    """Everything that defines one MLP3 run (validated on construction).

    Attributes
    ----------
    lr, batch_size : float, int
        SGD learning rate (per trainable layer) and mini-batch size.
    layers : {"all", "fc1", "fc2"}
        Trained layers; the others stay at their initial weights.
    seed : int
        Fixes init, split and batch order.
    widths : (int, int)
        Hidden widths (300, 100 in the paper).
    dataset, data_path, n_train, n_test, val_fraction
        Data (:func:`simulations.data.load_dataset`); ``n_train``/``n_test`` default to the
        data set's (4,000 / 1,000 for the MNIST subset).
    max_epochs, patience, min_delta
        Early stopping on the running train loss, and the epoch cap.
    reduction : {"mean", "sum"}
        Cross-entropy reduction over a mini-batch (reported losses are per example).
    optimizer : {"sgd", "adam"}
    normalization : {"none", "N"}
        ESD of ``W^T W`` (sigma^2 scale, default) or ``W^T W / N``.
    min_evals, min_tail
        Layers with fewer eigenvalues are not analysed (the output layer); smallest PL tail.
    detx_rule : {"first_below", "closest"}
        detX rule used for ``detx_lambda_min``, ``Delta lambda_min`` and the detX truncation
        (the other rule's edge is recorded too).
    traps, truncation, quality : bool
        Switch the correlation-trap test, the ECS truncation test, the Q^2 column.
    device : {"auto", "cpu", "cuda"}
    threads : int
        torch intra-op threads.
    """

    lr: float = 0.01
    batch_size: int = 32
    layers: str = "all"
    seed: int = 1
    widths: tuple[int, int] = (300, 100)
    dataset: str = "mnist5k"
    data_path: str | None = None
    n_train: int | None = None
    n_test: int | None = None
    val_fraction: float = 0.0
    max_epochs: int = 200
    patience: int = 3
    min_delta: float = 1e-4
    reduction: str = "mean"
    optimizer: str = "sgd"
    normalization: str = "none"
    min_evals: int = 50
    min_tail: int = 10
    detx_rule: str = "first_below"
    traps: bool = True
    truncation: bool = True
    quality: bool = True
    device: str = "auto"
    threads: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.data_path is not None:
            object.__setattr__(self, "data_path", str(self.data_path))
        _check_config(self)

    @property
    def name(self) -> str:
        """Run directory name, e.g. ``all_lr0.01_bs32_s1``."""
        return f"{self.layers}_lr{self.lr:g}_bs{self.batch_size}_s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MLP3Config:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown MLP3 configuration keys: {', '.join(unknown)}")
        return cls(**d)


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _check_config(c: MLP3Config) -> None:
    """Data-independent checks; :func:`check_config_data` does those that need the data."""
    if not isinstance(c.lr, int | float) or not math.isfinite(c.lr) or c.lr <= 0:
        raise ValueError(f"learning rate must be a positive finite number, got {c.lr!r}")
    if not _is_int(c.batch_size) or c.batch_size < 1:
        raise ValueError(f"batch size must be an integer >= 1, got {c.batch_size!r}")
    if c.layers not in TRAINED_CHOICES:
        raise ValueError(f"layers must be one of {', '.join(TRAINED_CHOICES)}, got {c.layers!r}")
    if not _is_int(c.seed) or c.seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {c.seed!r}")
    if len(c.widths) != 2 or any(w < 1 for w in c.widths):
        raise ValueError(f"widths must be two positive integers (FC1, FC2), got {c.widths!r}")
    if not 0.0 <= c.val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {c.val_fraction!r}")
    for key in ("n_train", "n_test"):
        v = getattr(c, key)
        if v is not None and (not _is_int(v) or v < 1):
            raise ValueError(f"{key} must be a positive integer, got {v!r}")
    if not _is_int(c.max_epochs) or c.max_epochs < 1:
        raise ValueError(f"max_epochs must be an integer >= 1, got {c.max_epochs!r}")
    if not _is_int(c.patience) or c.patience < 1:
        raise ValueError(f"patience must be an integer >= 1, got {c.patience!r}")
    if not math.isfinite(c.min_delta) or c.min_delta < 0:
        raise ValueError(f"min_delta must be >= 0, got {c.min_delta!r}")
    if c.reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {c.reduction!r}")
    if c.optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {c.optimizer!r}")
    if c.normalization not in ("none", "N"):
        raise ValueError(f"normalization must be 'none' or 'N', got {c.normalization!r}")
    if c.detx_rule not in ("first_below", "closest"):
        raise ValueError(f"detx_rule must be 'first_below' or 'closest', got {c.detx_rule!r}")
    if not _is_int(c.min_tail) or c.min_tail < 2:
        raise ValueError(f"min_tail must be an integer >= 2, got {c.min_tail!r}")
    if not _is_int(c.min_evals) or c.min_evals < c.min_tail + 2:
        raise ValueError(
            f"min_evals must be an integer >= min_tail + 2 = {c.min_tail + 2} (the power-law "
            f"fit needs a tail of min_tail eigenvalues below the two largest), got {c.min_evals!r}"
        )
    if c.device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {c.device!r}")
    if not _is_int(c.threads) or c.threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {c.threads!r}")


def layer_shapes(config: MLP3Config, in_dim: int, n_classes: int = 10
                 ) -> dict[str, tuple[int, int]]:
    """``name -> (out, in)`` of the three weight matrices."""
    w1, w2 = config.widths
    return {"fc1": (w1, in_dim), "fc2": (w2, w1), "out": (n_classes, w2)}


def analysed_layers(config: MLP3Config, in_dim: int, n_classes: int = 10) -> list[str]:
    """The layers with at least ``min_evals`` eigenvalues (the output layer never)."""
    shapes = layer_shapes(config, in_dim, n_classes)
    return [n for n in ("fc1", "fc2") if min(shapes[n]) >= config.min_evals]


def check_config_data(config: MLP3Config, data: DataSplit) -> None:
    """The checks that need the data: batch size vs. training set, eigenvalue counts.

    Raises ValueError naming the argument, before any training.
    """
    if config.batch_size > data.n_train:
        raise ValueError(
            f"batch size {config.batch_size} is larger than the training set "
            f"({data.n_train} images)"
        )
    shapes = layer_shapes(config, data.in_dim, data.n_classes)
    for name in ("fc1", "fc2"):
        out_d, in_d = shapes[name]
        m = min(out_d, in_d)
        if m < config.min_evals:
            raise ValueError(
                f"widths {tuple(config.widths)}: layer {name} is {out_d} x {in_d} and has only "
                f"{m} eigenvalues, fewer than min_evals = {config.min_evals} needed for its "
                f"power-law fit; use wider layers or a smaller --min-evals "
                f"(>= {config.min_tail + 2})"
            )


# ============================================================================================
# Model
# ============================================================================================
class MLP3(nn.Module):
    """``in_dim -> w1 -> w2 -> n_classes`` with ReLU; layers ``fc1``, ``fc2``, ``out``."""

    def __init__(self, in_dim: int = 784, widths: Sequence[int] = (300, 100),
                 n_classes: int = 10) -> None:
        super().__init__()
        w1, w2 = (int(w) for w in widths)
        self.fc1 = nn.Linear(in_dim, w1)
        self.fc2 = nn.Linear(w1, w2)
        self.out = nn.Linear(w2, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))

    def linear_layers(self) -> dict[str, nn.Linear]:
        return {"fc1": self.fc1, "fc2": self.fc2, "out": self.out}


def init_model(config: MLP3Config, in_dim: int, n_classes: int = 10) -> MLP3:
    """MLP3 with Glorot/Xavier-normal weights and zero biases from ``config.seed`` only.

    ``std = sqrt(2 / (fan_in + fan_out))`` (Keras ``glorot_normal`` is truncated at 2 std; the
    paper's PyTorch code uses the untruncated normal, as here). The same seed gives the same
    initial weights for every LR, batch size and trained-layer choice.
    """
    model = MLP3(in_dim, config.widths, n_classes)
    g = torch.Generator().manual_seed(int(config.seed))
    with torch.no_grad():
        for lin in model.linear_layers().values():
            fan_out, fan_in = lin.weight.shape
            std = math.sqrt(2.0 / (fan_in + fan_out))
            lin.weight.normal_(0.0, std, generator=g)
            lin.bias.zero_()
    return model


def _set_trainable(model: MLP3, layers: str) -> list[nn.Parameter]:
    trained = LAYER_NAMES if layers == "all" else (layers,)
    params: list[nn.Parameter] = []
    for name, lin in model.linear_layers().items():
        on = name in trained
        for p in lin.parameters():
            p.requires_grad_(on)
            if on:
                params.append(p)
    return params


def _make_optimizer(config: MLP3Config, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.0, weight_decay=0.0)


# ============================================================================================
# Layer analysis (numpy, pure)
# ============================================================================================
@dataclass(frozen=True, eq=False)
class LayerSpectrum:
    """Eigen-decomposition of the smaller Gram matrix of a weight ``W`` (``out x in``).

    ``evals`` ascending on the ``normalization`` scale (numerically zero ones set to 0, as
    :func:`setol_theory.spectra.correlation_eigenvalues`); ``vecs[:, i]`` the eigenvector of
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

    The eigenvalues are those of :func:`setol_theory.spectra.correlation_eigenvalues`
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
    "alpha", "alpha_hat", "xmin", "D", "num_tail", "lambda_max", "mp_lambda_plus",
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
        "alpha": m.alpha, "alpha_hat": m.alpha_hat, "xmin": m.xmin, "D": m.D,
        "num_tail": float(m.num_tail), "lambda_max": m.lambda_max,
        "mp_lambda_plus": m.mp_lambda_plus, "num_spikes": float(m.num_spikes),
    }
    fit_ok = m.fit_status == "ok"
    if not fit_ok:
        why = f"power-law fit {m.fit_status}: {m.fit_reason}"
        for k in ("alpha", "alpha_hat", "xmin", "D", "delta_lambda_min", "erg"):
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
    ``sum(lambda) = M`` scale (:func:`setol_theory.quality.erg_metrics`; ~0 for an Ideal layer).

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


def _write_json(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
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
    _write_json(meta, cfg_path)

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
    _write_json(done, done_path)
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


# ============================================================================================
# Sweeps
# ============================================================================================
def lr_grid(factors: Iterable[float] = (1, 2, 4, 8, 16, 32), *, base_lr: float = 0.01,
            batch_size: int = 32, seeds: Iterable[int] = (1,),
            layers: Iterable[str] = ("all",), **common: Any) -> list[MLP3Config]:
    """LR sweep at fixed batch size (spec 1.4): ``lr = base_lr * factor``."""
    facs = list(factors)
    if not facs or any(not (math.isfinite(f) and f > 0) for f in facs):
        raise ValueError(f"LR factors must be positive, got {facs!r}")
    return [MLP3Config(lr=base_lr * f, batch_size=batch_size, seed=s, layers=lay, **common)
            for lay in layers for s in seeds for f in facs]


def bs_grid(batch_sizes: Iterable[int] = (4, 8, 16, 32), *, lr: float = 0.01,
            seeds: Iterable[int] = (1,), layers: Iterable[str] = ("all",),
            **common: Any) -> list[MLP3Config]:
    """Batch-size sweep at fixed LR (spec 1.4; the paper's sizes are 1..32)."""
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
    _write_json({"kind": kind, "base": base or {},
                 "runs": [{"name": c.name, **c.to_dict()} for c in configs]},
                out / "sweep.json")
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

