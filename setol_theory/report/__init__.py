"""Figures of the analyses (matplotlib, imported lazily) and the self-contained HTML report."""

from __future__ import annotations

from ._analysis_html import analysis_rows, left_out_note, select_figures, write_analysis_report
from ._compare import plot_esd_overlay, plot_history
from ._figures import (
    plot_ecs_curve,
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
from ._html import Section, palette_png, png_bytes, render_html_report, write_html_report
from ._simulate_html import write_simulate_report
from ._verdict import layer_verdict

__all__ = [
    "plot_esd_overlay",
    "plot_history",
    "Section",
    "analysis_rows",
    "layer_verdict",
    "left_out_note",
    "palette_png",
    "png_bytes",
    "select_figures",
    "render_html_report",
    "write_analysis_report",
    "write_simulate_report",
    "write_html_report",
    "plot_ecs_esd",
    "plot_erg_vs_alpha",
    "plot_hciz_convergence",
    "plot_layer_esd",
    "plot_ecs_curve",
    "plot_quality_curve",
    "plot_quality_vs_alpha",
    "plot_verify_model",
    "pyplot",
    "safe_filename",
]
