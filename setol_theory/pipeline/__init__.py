"""One pipeline from weights to quality: layer -> eigenvalues -> metrics -> ECS -> quality,
streaming, each quantity computed once.
"""

from __future__ import annotations

from ._analyze import (
    LayerError,
    LayerResult,
    analyze,
    analyze_layers,
    in_size_range,
    legacy_analyze_layers,
    pools_slices,
    resolve_options,
    select_layers,
)
from ._compare import Comparison, compare
from ._esd import ESD_SCALES, analyze_esd
from ._quality import (
    QualityRecord,
    QualityReport,
    layer_record,
    quality_report,
)
from ._results import (
    SUMMARY_METRICS,
    ModelAnalysis,
    metric_names,
)

__all__ = [
    "ESD_SCALES",
    "analyze_esd",
    "Comparison",
    "compare",
    "LayerResult",
    "layer_record",
    "resolve_options",
    "LayerError",
    "ModelAnalysis",
    "QualityRecord",
    "QualityReport",
    "SUMMARY_METRICS",
    "analyze",
    "analyze_layers",
    "in_size_range",
    "pools_slices",
    "select_layers",
    "legacy_analyze_layers",
    "metric_names",
    "quality_report",
]
