"""The paper's 3-layer MLP (MLP3): training with per-epoch layer spectra, ECS truncation test,
correlation traps, and LR / batch-size sweeps.

Protocol: docs/mlp3.md ("Model, training, seeds", "What is measured at every epoch"); paper:
arXiv:2507.17912 Sec. 6 (Empirical Studies) and App. A.5 (MLP3 Model Details); authors' code
``pytorch/models.py``, ``trainer.py``, ``train_models.py``, ``shuffled_accuracy.py`` of
https://github.com/charlesmartin14/SETOL_experiments ([SETOL-exp] in docs/references.md).

* Model (App. A.5, Table 10): ``in_dim -> widths[0] -> widths[1] -> n_classes`` with ReLU,
  Glorot-normal weights, zero biases; layers named ``fc1``, ``fc2``, ``out``.
* Training (App. A.5): cross-entropy on logits (``reduction="mean"`` as the code,
  ``"sum"`` as the appendix), plain SGD (momentum 0, constant LR; Adam 1e-3 as an option),
  trained layers ``all`` / ``fc1`` / ``fc2`` (the others frozen at init, i.e. left out of the
  optimiser), early stopping on the epoch's running train loss (patience 3, min_delta 1e-4),
  a cap on the number of epochs. The **last** epoch run is analysed (as the authors' code),
  not the best one; ``config.json`` records this as ``final_weights: "last"``.
* Seeds (docs/mlp3.md; without the code's quirk): the run seed fixes the init
  (``torch.Generator(seed)``), the split (``numpy default_rng([seed, 1])``) and the batch
  order of epoch ``e`` (``default_rng([seed, 2, e])``), so the init is shared by every
  hyperparameter setting and trained-layer choice of one seed, and a resumed run redoes
  exactly what an uninterrupted one would.
* Per epoch, including epoch 0 = init (Sec. 6.1-6.3, 6.5): train/val/test loss and accuracy,
  errors and the generalisation gap; per layer with ``>= min_evals`` eigenvalues (``fc1``,
  ``fc2``; the 10-wide output layer is never analysed): alpha, alpha_weighted, xmin, KS ``D``,
  tail size, lambda_max, the MP bulk edge and spikes, the detX ``lambda_min`` (both rules),
  ``Delta lambda_min = xmin - lambda_min^detX``, the ERG residual ``sum_{PL tail} ln lambda``,
  the ECS truncation test under both rules (``dE = E_truncated - E``, train/val/test), the
  correlation traps of the element-shuffled layer (count, lambda_max^rand, the JS distance
  between the two ESDs) and, when ``setol_theory.quality.layer_quality`` is available, the
  computational-R-transform quality ``Q^2`` (Sec. 6.4; model ``"emp"``, detX ECS).
* Eigenvalues are on the sigma^2 scale of the reference tool by default
  (``normalization="none"``: eigenvalues of ``W^T W``); ``"N"`` divides by ``N``.
  alpha, xmin ordering and the detX index are the same on both scales.

Output of a run (a directory): ``config.json``, ``epochs.csv`` (one row per epoch, appended
and flushed as soon as it is measured), ``checkpoint.pt`` (weights and early-stopping state of
the last measured epoch, ``torch.load(..., weights_only=True)``), ``run.log`` and, once
finished, ``done.json``. An interrupted run resumes from its checkpoint; a finished one is
skipped. Every row records the seconds spent on training, evaluation, layer analysis and the
truncation test; with ``threads > 1`` the layer analyses and trap tests of an epoch run on a
thread pool (numpy's OpenBLAS is held at one thread during a run).

Modules of this package (private; import the public names from :mod:`simulations.mlp3`):

* ``_model`` -- :class:`MLP3Config` and its checks, the model :class:`MLP3`,
  :func:`init_model`, trained-layer choice and optimiser, the run directory's file names;
* ``_analysis`` -- layer spectra and metrics (:func:`analyze_layer`), the ECS truncation test,
  the epoch table (:func:`table_columns`, :func:`read_epoch_table`, :func:`check_epoch_table`)
  and the measurement of one epoch;
* ``_train`` -- :func:`train_run` (training loop, checkpoints, resume), :class:`RunResult`,
  :func:`run_is_complete`, :func:`timing_line`;
* ``_runner`` -- :func:`lr_grid`, :func:`bs_grid`, :func:`run_grid` (local processes or Dask),
  :func:`collect_runs`, :func:`write_summary`;
* ``_plots`` -- the figures (:func:`plot_runs`, ``setol mlp3 plot``).

The import graph is ``_model <- _analysis <- _train <- _runner <- _plots`` (no cycles; the
private modules never import this ``__init__``).
"""

from __future__ import annotations

from setol_theory.util import require

# one line naming the extra (setol[torch]) instead of a traceback where torch is missing
require("torch", "the MLP3 simulations (setol mlp3)")
# ruff: noqa: E402

from ._analysis import (
    LAYER_COLUMNS,
    TRUNCATION_RULES,
    Array,
    LayerSpectrum,
    analyze_layer,
    check_epoch_table,
    layer_spectrum,
    read_epoch_table,
    table_columns,
)
from ._model import (
    LAYER_NAMES,
    MLP3,
    TRAINED_CHOICES,
    MLP3Config,
    analysed_layers,
    check_config_data,
    init_model,
    layer_shapes,
)
from ._plots import (
    FIGURES,
    plot_delta_lambda,
    plot_epochs,
    plot_error_vs_alpha,
    plot_overloading,
    plot_runs,
    plot_traps,
    plot_truncation,
    plot_vs_setting,
)
from ._runner import bs_grid, collect_runs, lr_grid, run_grid, write_summary
from ._train import RunResult, prepare_data, run_is_complete, timing_line, train_run

__all__ = [
    # configuration and model
    "TRAINED_CHOICES",
    "LAYER_NAMES",
    "MLP3Config",
    "MLP3",
    "check_config_data",
    "layer_shapes",
    "analysed_layers",
    "init_model",
    # layer analysis and the epoch table
    "Array",
    "LayerSpectrum",
    "layer_spectrum",
    "analyze_layer",
    "LAYER_COLUMNS",
    "TRUNCATION_RULES",
    "table_columns",
    "read_epoch_table",
    "check_epoch_table",
    # training
    "RunResult",
    "prepare_data",
    "train_run",
    "run_is_complete",
    "timing_line",
    # sweeps
    "lr_grid",
    "bs_grid",
    "run_grid",
    "collect_runs",
    "write_summary",
    # figures
    "FIGURES",
    "plot_runs",
    "plot_epochs",
    "plot_vs_setting",
    "plot_error_vs_alpha",
    "plot_truncation",
    "plot_delta_lambda",
    "plot_traps",
    "plot_overloading",
]
