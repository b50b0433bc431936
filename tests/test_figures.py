"""Every figure kind rendered on small data, and the style rules checked on the figure objects:
labelled axes, titles without machine paths, legends off the data, distinguishable lines,
robust axis limits, the MP curve only where the bulk is acceptable."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from setol_theory import AnalysisOptions, QualityOptions, analyze
from setol_theory.report import (
    plot_ecs_esd,
    plot_erg_vs_alpha,
    plot_hciz_convergence,
    plot_layer_esd,
    plot_quality_curve,
    plot_quality_vs_alpha,
    plot_verify_model,
    pyplot,
)
from setol_theory.report._figures import mp_bulk_status
from setol_theory.report._style import display_name, robust_limits


@pytest.fixture(scope="module")
def layers():
    rng = np.random.default_rng(0)
    model = {"heavy": rng.standard_t(2.5, size=(400, 150)),
             "gauss": rng.standard_normal((300, 120))}
    res = analyze(model, AnalysisOptions(traps=True), keep_evals=True,
                  quality=QualityOptions(models=("imp", "bs", "lw")))
    return res


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]


def _check_common(fig, forbidden_path: str = "site-packages"):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in _visible_axes(fig):
        assert ax.get_xlabel().strip(), ax.get_title()
        assert ax.get_ylabel().strip(), ax.get_title()
        leg = ax.get_legend()
        if leg is not None:  # legends sit off the data
            lb = leg.get_window_extent(renderer)
            ab = ax.get_window_extent(renderer)
            assert not lb.overlaps(ab), ax.get_title()
    titles = [ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text()
                                                    if fig._suptitle else ""]
    for t in titles:
        assert forbidden_path not in t, t


def _vlines(ax):
    """Vertical lines of an axes: (label, dash pattern)."""
    out = []
    for ln in ax.get_lines():
        x = np.asarray(ln.get_xdata(), dtype=float)
        if x.size == 2 and x[0] == x[1]:
            out.append((ln.get_label(), ln.get_linestyle(), tuple(ln._dash_pattern[1] or ())))
    return out


def test_layer_esd_lines_distinct_and_verdict_shown(layers):
    m = next(x for x in layers.layers if x.name == "heavy")
    fig = plot_layer_esd(layers.evals["heavy"], m)
    _check_common(fig)
    ax1 = fig.axes[0]
    v = _vlines(ax1)
    assert len(v) >= 4  # xmin, lambda_max, detX edge, shuffled lambda_max (+ threshold)
    patterns = [p[1:] for p in v]
    assert len(set(patterns)) == len(patterns), v  # greyscale-safe: every dash differs
    assert "verdict:" in ax1.get_title() and "KS D" in ax1.get_title()
    pyplot().close(fig)


def test_layer_esd_mp_only_when_bulk_acceptable(layers):
    m = next(x for x in layers.layers if x.name == "gauss")
    ok, _ = mp_bulk_status(m)
    assert ok  # a Gaussian layer is all bulk
    fig = plot_layer_esd(layers.evals["gauss"], m)
    labels = [ln.get_label() for ln in fig.axes[1].get_lines()]
    assert any(lab.startswith("Marchenko-Pastur") for lab in labels)
    pyplot().close(fig)
    # the same layer marked as having no MP-like bulk: no MP curve, the reason instead
    bad = dataclasses.replace(m, mp_status="not-mp-like", mp_reason="no bulk: test reason")
    ok, why = mp_bulk_status(bad)
    assert not ok and "no bulk" in why
    fig = plot_layer_esd(layers.evals["gauss"], bad)
    labels = [ln.get_label() for ln in fig.axes[1].get_lines()]
    assert not any(lab.startswith("Marchenko-Pastur") for lab in labels)
    assert any("MP bulk not drawn" in t.get_text() for t in fig.axes[1].texts)
    _check_common(fig)
    pyplot().close(fig)


def test_layer_esd_y_range_not_set_by_one_tiny_eigenvalue(layers):
    m = next(x for x in layers.layers if x.name == "heavy")
    ev = np.sort(layers.evals["heavy"])
    fig = plot_layer_esd(ev, m)
    top = fig.axes[0].get_ylim()[1]
    pyplot().close(fig)
    ev2 = ev.copy()
    ev2[0] = ev[0] * 1e-6  # one near-zero eigenvalue
    fig = plot_layer_esd(ev2, m)
    top2 = fig.axes[0].get_ylim()[1]
    pyplot().close(fig)
    assert top2 < 3 * top


def test_quality_figures(layers):
    from setol_theory.report._analysis_html import default_quality_curve

    rep = layers.quality
    curve = default_quality_curve(rep)
    recs = rep.with_quality
    alpha = np.array([r.alpha for r in recs], dtype=float)
    logq = {m: np.array([r.quality.models[m].log10_q if r.quality.models[m].log10_q
                         is not None else np.nan for r in recs]) for m in ("imp", "bs", "lw")}
    logq["lw"][:] = np.nan
    logq["lw"][0] = 0.1  # a single point: the panel must say so
    fig = plot_quality_vs_alpha(alpha, logq, curve=curve,
                                title="/home/someone/.venv/lib/site-packages/pkg/m.safetensors")
    _check_common(fig, forbidden_path="/home/someone")
    assert "pkg/m.safetensors" in fig._suptitle.get_text()
    lw_ax = fig.axes[2]
    assert any("only 1 layer" in t.get_text() for t in lw_ax.texts)
    legend_labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("alpha = 2" in t for t in legend_labels)
    pyplot().close(fig)

    erg = np.array([r.quality.ecs.erg_residual_at_xmin for r in recs], dtype=float)
    erg[0] = -1025.0  # an outlier must not sit on the frame
    rel = np.array([0.5, -10.0])
    fig = plot_erg_vs_alpha(alpha, erg, rel, curve=curve, title="x")
    _check_common(fig)
    lo, hi = fig.axes[0].get_ylim()
    assert lo < -1025.0 * 1.05 and hi > np.nanmax(erg)
    pyplot().close(fig)

    fig = plot_ecs_esd(layers.evals["heavy"], recs[0].quality.ecs, name="heavy")
    _check_common(fig)
    pyplot().close(fig)
    fig = plot_quality_curve(curve)
    _check_common(fig)
    pyplot().close(fig)


def test_verify_figures():
    from setol_theory.rmt import MarchenkoPastur

    model = MarchenkoPastur(0.5, 1.0)
    samples = model.sample_eigenvalues(400, rng=np.random.default_rng(1))
    conv = {"sizes": [50, 100, 200, 400], "err_G": [0.1, 0.07, 0.05, 0.035],
            "err_R": [0.2, 0.14, 0.1, 0.07], "rate": 0.5}
    fig = plot_verify_model(model, "mp", samples, conv)
    _check_common(fig)
    for ax in fig.axes:  # ticks do not collide
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(r) for t in ax.get_xticklabels() if t.get_text()]
        for b1, b2 in zip(boxes, boxes[1:], strict=False):
            assert not b1.overlaps(b2)
    pyplot().close(fig)
    hc = {"beta=1": {"sizes": [4, 8, 16], "errors": [0.1, 0.05, 0.025], "phase": "sub-critical",
                     "edge_terms": [0, 0, 0]}}
    fig = plot_hciz_convergence(hc)
    _check_common(fig)
    pyplot().close(fig)


def test_style_helpers():
    assert display_name("/a/b/site-packages/pkg/model/m.safetensors") == "pkg/model/m.safetensors"
    assert display_name("/x/y/run3/m.pt") == "run3/m.pt"
    assert display_name("dict") == "dict"
    v = np.r_[np.linspace(1, 2, 200), 1e-9]
    lo, hi = robust_limits(v, q=0.01, log=True)
    assert lo > 0.5 and hi < 3
