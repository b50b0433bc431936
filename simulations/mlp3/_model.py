"""MLP3 configuration and model: :class:`MLP3Config` (validated on construction), the data
checks, the network :class:`MLP3`, its seeded Glorot-normal initialisation, the trained-layer
choice and the optimiser; also the file names of a run directory.

Protocol: arXiv:2507.17912 App. A.5, Table 10, Sec. 6; docs/mlp3.md (see :mod:`simulations.mlp3`,
which re-exports the public names here). The measurements are in
:mod:`simulations.mlp3._analysis`, the training loop in :mod:`simulations.mlp3._train`, the sweeps
in :mod:`simulations.mlp3._runner`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data import DataSplit

#: Trained-layer choices (docs/mlp3.md): every layer, or only FC1 / only FC2 (others frozen).
TRAINED_CHOICES: tuple[str, ...] = ("all", "fc1", "fc2")
#: Layer names in model order.
LAYER_NAMES: tuple[str, ...] = ("fc1", "fc2", "out")

_NAN = float("nan")
#: Files of a run directory (written by :mod:`simulations.mlp3._train`).
_CONFIG_FILE, _TABLE_FILE, _CKPT_FILE, _DONE_FILE, _LOG_FILE = (
    "config.json", "epochs.csv", "checkpoint.pt", "done.json", "run.log")


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
