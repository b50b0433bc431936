"""HTSR metrics of one layer's ESD: alpha, alpha_weighted, norms, stable rank, MP bulk and spikes,
correlation traps, the TraceLog/detX condition and the ERG residual.
"""

from __future__ import annotations

from .._deprecated import moved_names
from ._detx import (
    DetXResult,
    ERGResult,
    as_spectrum,
    detx_lambda_min,
    erg_metrics,
    erg_residual,
    rescale_frobenius_M,
    tracelog_partial_sums,
)
from ._metrics import (
    ALPHA_OVERFIT,
    ALPHA_UNDERTRAINED,
    LayerMetrics,
    analyze_matrix,
    esd_metrics,
    layer_detx,
    log_alpha_norm,
    positive_evals,
    warning_label,
    wtw_factor,
)
from ._traps import (
    BLOCKED_SHUFFLE_MIN,
    SHUFFLES,
    TRAP_SCALES,
    TrapResult,
    correlation_traps,
    count_traps,
    entry_moments,
    entry_variance,
    n_permutations_for,
    permute_entries,
    shuffled_layer,
    trap_null_model,
    trap_threshold,
)

__all__ = [
    "as_spectrum",
    "ALPHA_OVERFIT",
    "ALPHA_UNDERTRAINED",
    "BLOCKED_SHUFFLE_MIN",
    "DetXResult",
    "ERGResult",
    "LayerMetrics",
    "SHUFFLES",
    "TRAP_SCALES",
    "TrapResult",
    "analyze_matrix",
    "correlation_traps",
    "count_traps",
    "n_permutations_for",
    "shuffled_layer",
    "trap_null_model",
    "detx_lambda_min",
    "entry_moments",
    "entry_variance",
    "erg_metrics",
    "erg_residual",
    "esd_metrics",
    "positive_evals",
    "layer_detx",
    "log_alpha_norm",
    "permute_entries",
    "rescale_frobenius_M",
    "tracelog_partial_sums",
    "trap_threshold",
    "warning_label",
    "wtw_factor",
]


# Names that moved out of this package in 0.2 (docs/architecture.md).
__getattr__, __dir__ = moved_names(__name__, {
    "LayerError": "setol_theory.pipeline",
    "MPFit": "setol_theory.fit",
    "ModelAnalysis": "setol_theory.pipeline",
    "SUMMARY_METRICS": "setol_theory.pipeline",
    "TW1_Q99": "setol_theory.fit",
    "analyze": "setol_theory.pipeline",
    "analyze_layers": "setol_theory.pipeline:legacy_analyze_layers",
    "fit_mp_bulk": "setol_theory.fit",
    "metric_names": "setol_theory.pipeline",
    "tracy_widom_scale": "setol_theory.fit",
})
