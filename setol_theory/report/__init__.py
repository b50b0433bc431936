"""Figures of the analyses (matplotlib, imported lazily)."""

from __future__ import annotations

from ._figures import (
    plot_ecs_esd,
    plot_erg_vs_alpha,
    plot_hciz_convergence,
    plot_layer_esd,
    plot_quality_curve,
    plot_quality_vs_alpha,
    plot_verify_model,
    pyplot,
    safe_filename,
)

__all__ = [
    "plot_ecs_esd",
    "plot_erg_vs_alpha",
    "plot_hciz_convergence",
    "plot_layer_esd",
    "plot_quality_curve",
    "plot_quality_vs_alpha",
    "plot_verify_model",
    "pyplot",
    "safe_filename",
]
