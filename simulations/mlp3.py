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

Modules (this one re-exports every name of them, public and private, so that
``simulations.mlp3.X`` keeps working):

* :mod:`simulations.mlp3_model` -- :class:`MLP3Config` and its checks, the model :class:`MLP3`,
  :func:`init_model`, trained-layer choice and optimiser, the run directory's file names;
* :mod:`simulations.mlp3_analysis` -- layer spectra and metrics (:func:`analyze_layer`), the
  ECS truncation test, the epoch table (:func:`table_columns`, :func:`read_epoch_table`,
  :func:`check_epoch_table`) and the measurement of one epoch;
* :mod:`simulations.mlp3_train` -- :func:`train_run` (training loop, checkpoints, resume),
  :class:`RunResult`, :func:`run_is_complete`, :func:`timing_line`;
* :mod:`simulations.mlp3_runner` -- :func:`lr_grid`, :func:`bs_grid`, :func:`run_grid` (local
  processes or Dask), :func:`collect_runs`, :func:`write_summary`.

The import graph is ``model <- analysis <- train <- runner <- mlp3`` (no cycles).
"""

from __future__ import annotations

from .mlp3_analysis import (
    _STRING_COLUMNS,
    _TRAP_KEYS,
    LAYER_COLUMNS,
    TRUNCATION_RULES,
    Array,
    LayerSpectrum,
    _call_now,
    _evaluate,
    _fmt,
    _format_notes,
    _js_distance,
    _layer_metrics,
    _layer_traps,
    _measure,
    _merge_traps,
    _parse_notes,
    _project,
    _projection_basis,
    _q2_emp,
    _Truncation,
    analyze_layer,
    check_epoch_table,
    layer_spectrum,
    read_epoch_table,
    table_columns,
)
from .mlp3_model import (
    _CKPT_FILE,
    _CONFIG_FILE,
    _DONE_FILE,
    _LOG_FILE,
    _NAN,
    _TABLE_FILE,
    LAYER_NAMES,
    MLP3,
    TRAINED_CHOICES,
    MLP3Config,
    _check_config,
    _is_int,
    _make_optimizer,
    _set_trainable,
    analysed_layers,
    check_config_data,
    init_model,
    layer_shapes,
)
from .mlp3_runner import (
    _grid_worker,
    _run_dask,
    bs_grid,
    collect_runs,
    lr_grid,
    run_grid,
    write_summary,
)
from .mlp3_train import (
    _RUNTIME_KEYS,
    RunResult,
    _atomic_torch_save,
    _config_mismatch,
    _diverged_row,
    _epoch_line,
    _Log,
    _NumpyBlasThreads,
    _require_pyarrow,
    _resolve_device,
    _tensors,
    _timing,
    _train_epoch,
    _train_run,
    _weights_finite,
    _write_json,
    _write_parquet,
    prepare_data,
    run_is_complete,
    timing_line,
    train_run,
)

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
