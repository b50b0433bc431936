"""HTSR metrics of one layer's ESD: alpha, alpha_hat, norms, stable rank, MP bulk and spikes, correlation traps, the TraceLog/detX condition and the ERG residual."""

from __future__ import annotations

from ._detx import (
    DetXResult,
    ERGResult,
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
    warning_label,
)
from ._traps import (
    BLOCKED_SHUFFLE_MIN,
    SHUFFLES,
    TRAP_SCALES,
    TrapResult,
    correlation_traps,
    entry_moments,
    entry_variance,
    permute_entries,
    trap_threshold,
)

__all__ = [
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
    "detx_lambda_min",
    "entry_moments",
    "entry_variance",
    "erg_metrics",
    "erg_residual",
    "esd_metrics",
    "permute_entries",
    "rescale_frobenius_M",
    "tracelog_partial_sums",
    "trap_threshold",
    "warning_label",
]
