"""SETOL layer quality: the effective correlation space (ECS), the spectral models' generating
functions as a registry, layer quality, tables and curves.
"""

from __future__ import annotations

from .._deprecated import moved_names
from ._curves import (
    CURVE_FAMILIES,
    QualityCurve,
    QualityTable,
    layer_quality_table,
    quality_curve,
    st_linear_quality_table,
    synthetic_spectrum,
)
from ._ecs import (
    DEFAULT_MIN_ECS,
    ECS,
    ECSError,
    select_ecs,
)
from ._ecs_curve import ECSCurve, ecs_curve
from ._interval import QualityInterval, quality_interval, resampled_quality
from ._models import (
    NotApplicable,
    QualityError,
    bulk_spikes_constant,
    fit_free_cauchy,
    g_bulk_spikes,
    g_empirical,
    g_free_cauchy,
    g_imp,
    g_levy_wigner,
    g_series_from_cumulants,
    g_tpl,
    imp_gtable_logq,
    imp_kappa,
    integrate_re_r,
    levy_wigner_b,
    log10_quality,
    q2_bulk_spikes,
    q2_empirical,
    q2_free_cauchy,
    q2_imp,
    q2_levy_wigner,
    q2_tpl,
)
from ._registry import (
    DEFAULT_MODELS,
    MODELS,
    LayerQuality,
    ModelQuality,
    layer_quality,
    model_quality,
)

__all__ = [
    "CURVE_FAMILIES",
    "DEFAULT_MIN_ECS",
    "DEFAULT_MODELS",
    "ECS",
    "ECSCurve",
    "ECSError",
    "LayerQuality",
    "MODELS",
    "ModelQuality",
    "NotApplicable",
    "QualityCurve",
    "QualityError",
    "QualityInterval",
    "QualityTable",
    "bulk_spikes_constant",
    "ecs_curve",
    "fit_free_cauchy",
    "g_bulk_spikes",
    "g_empirical",
    "g_free_cauchy",
    "g_imp",
    "g_levy_wigner",
    "g_series_from_cumulants",
    "g_tpl",
    "imp_gtable_logq",
    "imp_kappa",
    "integrate_re_r",
    "layer_quality",
    "layer_quality_table",
    "levy_wigner_b",
    "log10_quality",
    "model_quality",
    "q2_bulk_spikes",
    "q2_empirical",
    "q2_free_cauchy",
    "q2_imp",
    "q2_levy_wigner",
    "q2_tpl",
    "quality_curve",
    "quality_interval",
    "resampled_quality",
    "select_ecs",
    "st_linear_quality_table",
    "synthetic_spectrum",
]



# Names that moved out of this package in 0.2 (docs/architecture.md).
__getattr__, __dir__ = moved_names(__name__, {
    "DetXResult": "setol_theory.htsr",
    "ERGResult": "setol_theory.htsr",
    "QualityRecord": "setol_theory.pipeline",
    "QualityReport": "setol_theory.pipeline",
    "detx_lambda_min": "setol_theory.htsr",
    "erg_metrics": "setol_theory.htsr",
    "erg_residual": "setol_theory.htsr",
    "q2_levy_paper": "setol_theory.rmt",
    "quality_report": "setol_theory.pipeline",
    "rescale_frobenius_M": "setol_theory.htsr",
    "tracelog_partial_sums": "setol_theory.htsr",
})
