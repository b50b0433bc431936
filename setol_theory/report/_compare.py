"""Figures of ``setol compare`` (the ESDs of one layer in two models) and ``setol history``
(a metric of every layer against the training step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._figures import _save, pyplot
from ._style import (
    FONT,
    HIST,
    LINES,
    PALETTE,
    SIZES,
    legend_below,
    series_style,
    style_axes,
)


def plot_esd_overlay(evals_a: ArrayLike, evals_b: ArrayLike, path: str | Path | None = None,
                     *, name: str, label_a: str = "a", label_b: str = "b",
                     xmin_a: float | None = None, xmin_b: float | None = None) -> Any:
    """The ESDs of one layer in two models: histograms of ``log10 lambda`` (left) and the
    empirical complementary CDFs on log-log axes (right), the power-law ``xmin`` of each as a
    vertical line. Zero eigenvalues (low-rank layers) are left out and counted in the legend.

    Returns the figure when ``path`` is None, else writes a PNG and returns None.
    """
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=SIZES["pair"])
    sides = [(np.asarray(evals_a, float), label_a, xmin_a, 0),
             (np.asarray(evals_b, float), label_b, xmin_b, 1)]
    pos_all = np.concatenate([e[e > 0] for e, *_ in sides])
    if pos_all.size == 0:
        raise ValueError(f"{name}: no positive eigenvalue on either side")
    edges = np.linspace(np.log10(pos_all.min()), np.log10(pos_all.max()), 60)
    for ev, label, xmin, i in sides:
        st = series_style(i)
        pos = np.sort(ev[ev > 0])
        zeros = ev.size - pos.size
        lab = f"{label} (M={ev.size}" + (f", {zeros} zero)" if zeros else ")")
        if i == 0:
            ax.hist(np.log10(pos), bins=edges, density=True, alpha=0.55, label=lab, **HIST)
        else:
            ax.hist(np.log10(pos), bins=edges, density=True, histtype="step", lw=1.6,
                    color=st["color"], ls=st["ls"], label=lab)
        ccdf = 1.0 - np.arange(pos.size) / pos.size
        bx.step(pos, ccdf, where="post", color=st["color"], ls=st["ls"], lw=1.5, label=lab)
        if xmin is not None and np.isfinite(xmin) and xmin > 0:
            for axis, x in ((ax, np.log10(xmin)), (bx, xmin)):
                axis.axvline(x, color=st["color"], ls=LINES["xmin"]["ls"], lw=1.0,
                             label=f"xmin {label}" if axis is bx else None)
    bx.set_xscale("log")
    bx.set_yscale("log")
    style_axes(ax, xlabel="log10 eigenvalue of X = W^T W / N", ylabel="density",
               title=f"{name}: ESD")
    style_axes(bx, xlabel="eigenvalue of X = W^T W / N (log)",
               ylabel="fraction >= lambda (log)", title=f"{name}: tail (CCDF)")
    legend_below(ax)
    legend_below(bx)
    return _save(fig, plt, path)


def plot_history(hist: Any, metric: str, path: str | Path | None = None, *,
                 model: str | None = None, max_labelled: int = 8) -> Any:
    """``metric`` of every layer against the step (one model of a :class:`History`): each
    layer a thin line, the median over layers bold; with at most ``max_labelled`` layers each
    is drawn in its own colour, dash and marker and labelled."""
    plt = pyplot()
    model = model if model is not None else hist.models[0]
    layers = hist.layers(model)
    fig, ax = plt.subplots(figsize=SIZES["panel"])
    by_step: dict[int, list[float]] = {}
    unit = next((r["unit"] for r in hist.rows if r["model"] == model), "step")
    for i, layer in enumerate(layers):
        steps, vals = hist.series(metric, layer, model)
        y = np.array([np.nan if v is None else v for v in vals], dtype=float)
        for s, v in zip(steps, y, strict=True):
            if np.isfinite(v):
                by_step.setdefault(s, []).append(float(v))
        if len(layers) <= max_labelled:
            ax.plot(steps, y, lw=1.2, ms=4, label=layer, **series_style(i))
        else:
            ax.plot(steps, y, color="#b0b0b0", lw=0.7)
    if by_step:
        xs = sorted(by_step)
        ax.plot(xs, [np.median(by_step[s]) for s in xs], color=PALETTE["grey"], lw=4.0,
                alpha=0.6, zorder=1, label=f"median over {len(layers)} layers")
    style_axes(ax, xlabel=f"{unit} (from the checkpoint names)", ylabel=metric,
               title=f"{model}: {metric} per layer")
    legend_below(ax, ncol=1 if len(layers) <= 4 else 2)
    ax.tick_params(labelsize=FONT["tick"])
    return _save(fig, plt, path)
