"""setol: statistical mechanics and random-matrix theory of deep learning.

The public API in a few lines (docs/architecture.md)::

    from setol_theory import AnalysisOptions, QualityOptions, analyze, quality_report
    res = analyze("model.safetensors", AnalysisOptions(min_tail=10), keep_evals=True)
    rep = quality_report(res, QualityOptions(ecs="detx"))
    res.to_dataframe()

Subpackages, bottom to top: ``io``, ``linalg``, ``fit``, ``rmt``, ``statmech`` -> ``htsr`` ->
``quality`` -> ``options`` -> ``pipeline`` -> ``report`` -> ``distributed``, ``verify`` -> ``cli``
(docs/architecture.md).
The names below are imported on first use, so ``import setol_theory`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_API = {
    "AnalysisOptions": "setol_theory.options",
    "QualityOptions": "setol_theory.options",
    "analyze": "setol_theory.pipeline",
    "analyze_layers": "setol_theory.pipeline",
    "quality_report": "setol_theory.pipeline",
    "ModelAnalysis": "setol_theory.pipeline",
    "QualityReport": "setol_theory.pipeline",
    "SetolError": "setol_theory.errors",
    "OptionError": "setol_theory.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'setol_theory' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
