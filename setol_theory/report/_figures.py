"""Matplotlib figures.  Only imported by the CLI or by users who ask for a plot.

Every function takes arrays / result objects, draws on a new figure, and either saves it
(``path`` given; the figure is closed) or returns it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..htsr import LayerMetrics, tracelog_partial_sums
from ..rmt import MarchenkoPastur, real_branch_domain


def pyplot():
    """``matplotlib.pyplot``, imported on first use with a non-interactive backend.

    An interactive backend is replaced by ``Agg`` (figures are saved, never shown); a
    non-interactive one already chosen by the user (``agg``, ``pdf``, ``svg``, ``cairo``)
    is kept. Importing :mod:`setol_theory.report` does not import matplotlib.
    """
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        try:
            matplotlib.use("Agg")
        except Exception:  # pragma: no cover - backend already fixed by the user
            pass
    import matplotlib.pyplot as plt

    return plt


def safe_filename(name: str) -> str:
    """A file-system-safe version of a layer name."""
    keep = [c if c.isalnum() or c in "-_." else "_" for c in name]
    return "".join(keep).strip("._") or "layer"


def _save(fig, plt, path: str | Path | None, dpi: int = 100, tight: bool | None = True):
    if tight:
        fig.tight_layout()
    elif tight is False:  # fixed margins: tight_layout costs ~0.4 s per log-axes figure
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.86, wspace=0.25)
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return None
    return fig


#: Largest fraction of eigenvalues above lambda_+ for which the MP bulk is drawn when the
#: record has no ``mp_status`` (a bulk must hold most of the spectrum to be called one).
MP_MAX_SPIKE_FRACTION = 0.5


def mp_bulk_status(m: LayerMetrics) -> tuple[bool, str]:
    """Whether the layer's Marchenko-Pastur fit describes a bulk worth drawing, and why not.

    The record's own ``mp_status`` / ``mp_reason`` when the analysis wrote them (``"ok"``
    draws); otherwise the fit must exist and leave at most :data:`MP_MAX_SPIKE_FRACTION` of the
    eigenvalues above ``lambda_+`` (a layer whose "bulk" is a narrow peak beside the whole ESD
    has no bulk).
    """
    status = getattr(m, "mp_status", None)
    if status:  # "" = written by a version without the status: judge from the spikes
        return status == "ok", str(getattr(m, "mp_reason", "") or status)
    if not (np.isfinite(m.mp_sigma2) and m.M > 0):
        return False, "no MP fit"
    if not np.isfinite(m.num_spikes):
        return False, "no spike count"
    frac = m.num_spikes / max(m.num_evals or m.M, 1)
    if frac > MP_MAX_SPIKE_FRACTION:
        return False, (f"{m.num_spikes:.0f} of {m.num_evals or m.M} eigenvalues above lambda_+: "
                       "no bulk to fit")
    return True, ""


def plot_layer_esd(evals: NDArray[np.float64], m: LayerMetrics, path: str | Path | None = None):
    """ESD of one layer: log-log density with the power-law fit, and the bulk with its MP fit.

    Left panel: histogram of the eigenvalues on logarithmic bins (density), the fitted tail
    ``p(x) = (alpha - 1)/xmin (x/xmin)^(-alpha)`` scaled by the tail fraction, ``xmin``,
    ``lambda_max``, the detX edge (arXiv:2507.17912 Sec. 6.3) and, when the trap test ran, the
    largest eigenvalue of the element-shuffled layer and the trap threshold (Sec. 6.5;
    docs/htsr.md). The x range runs from the 1% quantile of the positive eigenvalues (the ones
    below are counted in the legend), so a few near-zero eigenvalues do not set the y range.
    The verdict, alpha with its standard error, the KS distance ``D`` and the tail size are
    written on the panel.
    Right panel: linear histogram of the bulk with the Marchenko-Pastur density of the fit
    (``sigma2``, ``q = M/N``) and its edge, only where :func:`mp_bulk_status` accepts the bulk;
    otherwise the reason is written instead.
    """
    from ._style import (
        HIST,
        LINES,
        SIZES,
        annotate,
        legend_below,
        robust_limits,
        style_axes,
        tidy_log_ticks,
    )

    plt = pyplot()
    x = np.sort(np.asarray(evals, dtype=float))
    pos = x[x > 0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=SIZES["pair"])
    scale = "W^T W / N" if m.normalization == "N" else "W^T W"
    lim = robust_limits(pos, q=0.01, log=True) if pos.size >= 2 else None
    if lim is not None:
        lo = max(lim[0], float(pos[0]))
        hi = float(pos[-1]) * 1.05
        shown = pos[pos >= lo]
        below = pos.size - shown.size
        bins = np.logspace(np.log10(lo), np.log10(hi), min(80, max(10, shown.size // 5)))
        # density normalised by ALL eigenvalues, so the fitted tail keeps its scale
        counts, edges = np.histogram(shown, bins=bins)
        ax1.bar(edges[:-1], counts / (x.size * np.diff(edges)), width=np.diff(edges),
                align="edge", label="ESD" + (f" ({below} eigenvalue(s) below the range)"
                                             if below else ""), **HIST)
        ax1.set_xlim(lo, hi)
    if m.fit_status == "ok" and np.isfinite(m.alpha):
        frac = m.num_tail / max(x.size, 1)
        xs = np.logspace(np.log10(m.xmin), np.log10(x[-1]), 100)
        ys = frac * (m.alpha - 1.0) / m.xmin * (xs / m.xmin) ** (-m.alpha)
        ax1.plot(xs, ys, **LINES["fit"], label=f"power-law fit, alpha = {m.alpha:.2f}")
        ax1.axvline(m.xmin, **LINES["xmin"], label=f"xmin = {m.xmin:.3g}")
    ax1.axvline(m.lambda_max, **LINES["lambda_max"], label=f"lambda_max = {m.lambda_max:.3g}")
    detx = getattr(m, "detx_lambda_min", np.nan)
    if np.isfinite(detx) and detx > 0:
        ax1.axvline(detx, **LINES["detx"], label=f"detX edge = {detx:.3g}")
    if np.isfinite(m.lambda_max_rand) and m.lambda_max_rand > 0:
        ax1.axvline(m.lambda_max_rand, **LINES["shuffled"],
                    label=f"lambda_max of shuffled W ({m.num_traps:g} traps)")
        if np.isfinite(m.threshold_rand):
            ax1.axvline(m.threshold_rand, **LINES["trap"], label="trap threshold")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    from ._verdict import layer_verdict

    verdict, why = layer_verdict(m.to_dict())
    if m.fit_status == "ok" and np.isfinite(m.alpha):
        stats = (f"alpha = {m.alpha:.2f} ± {m.alpha_sigma:.2f}, KS D = {m.D:.3f}, "
                 f"n_tail = {m.num_tail}")
    else:
        stats = why[:70]
    style_axes(ax1, xlabel=f"eigenvalue of X = {scale} (log scale)",
               ylabel="density (log scale)",
               title=f"{m.name}  (N = {m.N}, M = {m.M})\nverdict: {verdict}; {stats}")
    legend_below(ax1, ncol=2)

    tidy_log_ticks(ax1, "x")
    tidy_log_ticks(ax1, "y")
    ok, why_not = mp_bulk_status(m)
    if ok:
        mp = MarchenkoPastur(m.M / m.N, m.mp_sigma2)
        upper = max(mp.lambda_plus * 1.5, float(np.quantile(x, 0.9)))
        shown = x[x <= upper]
        _, edges, _ = ax2.hist(shown, bins=min(80, max(10, shown.size // 5)),
                               label=f"ESD up to {upper:.3g} ({x.size - shown.size} above)",
                               **HIST)
        grid = np.linspace(mp.lambda_minus, mp.lambda_plus, 400)
        width = edges[1] - edges[0]
        ax2.plot(grid, mp.pdf(grid) * x.size * width, **LINES["mp"],
                 label=f"Marchenko-Pastur, sigma^2 = {m.mp_sigma2:.3g}")
        ax2.axvline(mp.lambda_plus, **LINES["mp_edge"],
                    label=f"lambda_+ ({m.num_spikes:.0f} spikes above)")
        counts = np.histogram(shown, bins=edges)[0]
        top = robust_limits(counts, q=0.0)
        if top is not None:  # a spike of the MP density at 0 must not squash the histogram
            ax2.set_ylim(0, 1.3 * max(counts.max(), 1))
        legend_below(ax2, ncol=2)
        title = "bulk: Marchenko-Pastur fit"
    else:
        ax2.hist(x, bins=min(80, max(10, x.size // 5)), label="ESD", **HIST)
        annotate(ax2, f"MP bulk not drawn: {why_not}", loc="upper right")
        legend_below(ax2, ncol=1)
        title = "bulk (no acceptable Marchenko-Pastur fit)"
    style_axes(ax2, xlabel=f"eigenvalue of X = {scale} (linear scale)",
               ylabel="count of eigenvalues", title=title)
    return _save(fig, plt, path, dpi=100)


def plot_verify_model(model, name: str, samples, convergence, path: str | Path | None = None):
    """Figure of ``setol verify`` for one model.

    Left: density vs. histogram of the largest Monte Carlo sample (when the model has both).
    Middle: ``Re R(w)`` on the real axis with the end of the real branch of ``G^{-1}``
    (``G(lambda_+)``) and, where there is one, the branch point of ``R`` marked.
    Right: Monte Carlo error of ``G`` (and ``R``) vs. ``n`` on log-log axes with the
    theoretical rate.
    """
    from matplotlib.ticker import MaxNLocator, NullFormatter

    from ._style import HIST, LINES, PALETTE, legend_below, series_style

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8))
    ax = axes[0]
    try:
        lo, hi = model.support()
        if samples is not None:
            s = np.asarray(samples)
            if np.isfinite(lo) and np.isfinite(hi):
                ax.hist(s, bins=60, density=True, **HIST, label=f"{s.size} samples")
                grid = np.linspace(lo, hi, 400)[1:-1]
            else:
                q = np.quantile(s, [0.02, 0.98])
                shown = s[(s > q[0]) & (s < q[1])]
                counts, edges = np.histogram(shown, bins=60)
                # normalised by ALL samples, so the bars compare with the density
                ax.bar(edges[:-1], counts / (s.size * np.diff(edges)), width=np.diff(edges),
                       align="edge", **HIST, label="samples (2-98% quantiles shown)")
                grid = np.linspace(q[0], q[1], 400)
            ax.plot(grid, model.pdf(grid), **LINES["curve"], label="density (closed form)")
            legend_below(ax, ncol=1)
        ax.set_xlabel("eigenvalue lambda (linear scale)")
        ax.set_ylabel("density rho(lambda)")
    except NotImplementedError:
        ax.text(0.5, 0.5, "no density for this model", ha="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(f"{name}: density", fontsize=10)

    ax = axes[1]

    try:
        w_lo, w_hi = real_branch_domain(model)
        span = 1.6 * w_hi
    except NotImplementedError:
        w_hi, span = None, 1.0
    bp = getattr(model, "branch_point", None)
    if isinstance(bp, float):
        span = max(span, 1.6 * bp)
    w = np.linspace(-0.5 * span, span, 600)
    w = w[np.abs(w) > 1e-9]
    try:
        r = model.r_transform(w, side="upper")
        ax.plot(w, r.real, color=PALETTE["blue"], ls="-", lw=1.6, label="Re R(w)")
        if np.any(np.abs(r.imag) > 0):
            ax.plot(w, r.imag, color=PALETTE["sky"], ls="--", lw=1.6, label="Im R(w + i0)")
    except (ValueError, NotImplementedError) as exc:
        ax.text(0.5, 0.5, str(exc)[:60], ha="center", transform=ax.transAxes, fontsize=7)
    if w_hi is not None:
        ax.axvline(w_hi, **LINES["mp_edge"], label="G(lambda_+): end of real branch")
    if isinstance(bp, float):
        ax.axvline(bp, **LINES["xmin"], label=f"branch point {bp:.3g}")
    ax.set_xlabel("w (real axis, linear scale)")
    ax.set_ylabel("R(w)")
    ax.set_title(f"{name}: R on the real axis", fontsize=10)
    legend_below(ax, ncol=2)

    ax = axes[2]
    if convergence:
        n = np.asarray(convergence["sizes"], dtype=float)
        for i, key in enumerate(("err_G", "err_R")):
            if key in convergence:
                ax.loglog(n, convergence[key], **series_style(i),
                          label=key.replace("err_", "error of "))
        rate = convergence["rate"]
        ref = convergence["err_G"][0] * (n / n[0]) ** (-rate)
        ax.loglog(n, ref, **LINES["reference"], label=f"n^-{rate:g} (theory)")
        legend_below(ax, ncol=3)
        ax.set_xlabel("n (eigenvalues, log scale)")
        ax.xaxis.set_minor_formatter(NullFormatter())  # 3x10^2 and 4x10^2 labels collide
        ax.set_ylabel("Monte Carlo error (log scale)")
    else:
        ax.text(0.5, 0.5, "no Monte Carlo for this model", ha="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(f"{name}: Monte Carlo error", fontsize=10)
    for ax in axes[:2]:  # at most 6 ticks: long labels such as 0.0025 must not collide
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    for ax in axes:
        ax.tick_params(labelsize=8)
    return _save(fig, plt, path)


def plot_hciz_convergence(conv: dict, path: str | Path | None = None):
    """``|(1/N) log I_N - limit|`` vs ``N`` (log-log) for the cases of ``verify_hciz``, with
    the ``1/N`` reference; in the edge-sticking phase also the error less its edge-gap term."""
    from ._style import LINES, PALETTE, legend_below, series_style, style_axes

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 6.0))
    for i, (label, c) in enumerate(conv.items()):
        n = np.asarray(c["sizes"], dtype=float)
        err = np.abs(np.asarray(c["errors"]))
        st = series_style(i)
        ax.loglog(n, err, **st, label=f"{label} ({c['phase']})")
        if c["phase"] != "sub-critical":
            rem = np.abs(np.asarray(c["errors"]) - np.asarray(c["edge_terms"]))
            ax.loglog(n, rem, color=st["color"], marker=st["marker"], mfc="none", ls=":",
                      label=f"{label}, less the edge-gap term")
            ax.loglog(n, 1.5 * np.log(n) / n, color=PALETTE["grey"], ls=(0, (6, 2)),
                      label="1.5 log N / N")
    n = np.asarray(next(iter(conv.values()))["sizes"], dtype=float)
    ax.loglog(n, 0.15 / n, **LINES["reference"], label="0.15 / N")
    style_axes(ax, xlabel="N (log scale)",
               ylabel="|exact - asymptotic| of (1/N) log I_N (log scale)",
               title="Rank-one HCIZ: convergence to the Guionnet-Maida limit")
    legend_below(ax, ncol=2)
    return _save(fig, plt, path)


# --------------------------------------------------------------------------------------
# SETOL layer quality (setol quality)
# --------------------------------------------------------------------------------------
def plot_ecs_esd(evals: NDArray[np.float64], ecs, path: str | Path | None = None, *,
                 name: str = ""):
    """ESD of one layer with both ECS edges: the power-law ``xmin`` and the TraceLog/detX edge.

    Left: log-log histogram of the eigenvalues with the PL fit from ``xmin``, the ECS actually
    used shaded. Right: the TraceLog sum ``sum_{lambda_i >= lambda} ln lambda_i`` (on the
    ``sum(lambda) = M`` scale) against the cut ``lambda``; the detX edge is where it drops
    below 0 (arXiv:2507.17912 Eq. (126), Sec. 6.3). ``ecs`` is a
    :class:`setol_theory.quality.ECS`.
    """

    from ._style import HIST, LINES, PALETTE, SIZES, legend_below, style_axes

    plt = pyplot()
    x = np.sort(np.asarray(evals, dtype=float))
    pos = x[x > 0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=SIZES["pair"])
    if pos.size >= 2:
        bins = np.logspace(np.log10(pos[0]), np.log10(pos[-1]), min(80, max(10, pos.size // 5)))
        ax1.hist(pos, bins=bins, density=True, label="ESD", **HIST)
    ax1.axvspan(ecs.lambda_min, ecs.lambda_max, color=PALETTE["green"], alpha=0.12,
                label=f"ECS ({ecs.rule}), M_ECS={ecs.num_ecs}")
    if ecs.xmin is not None and ecs.alpha is not None:
        frac = ecs.num_tail / max(x.size, 1)
        xs = np.logspace(np.log10(ecs.xmin), np.log10(x[-1]), 100)
        ax1.plot(xs, frac * (ecs.alpha - 1.0) / ecs.xmin * (xs / ecs.xmin) ** (-ecs.alpha),
                 **LINES["fit"], label=f"power-law fit, alpha = {ecs.alpha:.2f}")
        ax1.axvline(ecs.xmin, **LINES["xmin"], label=f"xmin (PL) = {ecs.xmin:.3g}")
    ax1.axvline(ecs.lambda_min_detx, **LINES["detx"],
                label=f"detX edge = {ecs.lambda_min_detx:.3g}")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    dl = ecs.delta_lambda_min
    style_axes(ax1, xlabel="eigenvalue lambda of X (log scale)", ylabel="density (log scale)",
               title=f"{name}\nDelta lambda_min = xmin - lambda_detX = "
               + (f"{dl:.3g}" if dl is not None else "-"))
    legend_below(ax1, ncol=2)

    desc, S = tracelog_partial_sums(pos * ecs.scale_factor)
    ax2.plot(desc / ecs.scale_factor, S, color=PALETTE["black"], lw=1.2,
             label="TraceLog sum above the cut")
    ax2.axhline(0.0, color=PALETTE["grey"], lw=0.8)
    if ecs.xmin is not None:
        ax2.axvline(ecs.xmin, **LINES["xmin"], label="xmin (PL)")
    ax2.axvline(ecs.lambda_min_detx, **LINES["detx"], label="detX edge")
    ax2.set_xscale("log")
    style_axes(ax2, xlabel="cut lambda (scale of X, log scale)",
               ylabel="sum of ln lambda_i >= cut\n(sum lambda = M scale)",
               title="TraceLog condition: ln det X_ECS = 0")
    legend_below(ax2, ncol=3)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.32, top=0.86, wspace=0.28)
    return _save(fig, plt, path, dpi=90, tight=None)


def _curve_xy(curve, y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.asarray(curve.alpha_fit, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(a) & np.isfinite(y)
    order = np.argsort(a[ok])
    return a[ok][order], y[ok][order]


def _symlog_limits(values: NDArray[np.float64], linthresh: float,
                   pad: float = 0.08) -> tuple[float, float] | None:
    """y limits on a symlog axis holding every finite value, padded by ``pad`` of the span in
    the symlog coordinate, so no point sits on the frame."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    t = np.sign(v) * np.log10(1.0 + np.abs(v) / linthresh)
    lo, hi = float(t.min()), float(t.max())
    span = max(hi - lo, 0.5)
    lo, hi = lo - pad * span, hi + pad * span

    def back(u: float) -> float:
        return float(np.sign(u) * linthresh * (10 ** abs(u) - 1.0))

    return back(lo), back(hi)


def plot_quality_vs_alpha(alpha: NDArray[np.float64], log10_q: dict, path: str | Path | None
                          = None, *, curve=None, title: str = ""):
    """``log10 Q`` of each layer against its alpha, one panel per spectral model, with the
    model-derived curve (a :class:`setol_theory.quality.QualityCurve`, plotted against the
    fitted alpha of its synthetic spectra) and the alpha = 2 line (the Ideal point,
    arXiv:2507.17912 Sec. 6.3).

    All panels share the alpha range. A panel where fewer than 3 layers have a value says how
    many do (the model does not apply to the others). The legend and a note on reading the
    curve sit under the panels: the curve is one synthetic family (inverse Marchenko-Pastur,
    one size), so layers are not expected on it. ``title`` is shortened to a model name
    (:func:`setol_theory.report._style.display_name`).
    """
    from matplotlib.lines import Line2D

    from ._style import FONT, LINES, PALETTE, display_name, robust_limits, style_axes

    plt = pyplot()
    names = list(log10_q)
    ncol = min(3, max(1, len(names)))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 3.3 * nrow + 1.0),
                             squeeze=False)
    a = np.asarray(alpha, dtype=float)
    xs_all = [a[np.isfinite(a)]]
    if curve is not None:
        xs_all.append(np.asarray(curve.alpha_fit, dtype=float))
    xlim = robust_limits(np.concatenate(xs_all), q=0.0, pad=0.06)
    n_total = int(np.isfinite(a).sum())
    for ax, m in zip(axes.ravel(), names, strict=False):
        y = np.asarray(log10_q[m], dtype=float)
        ok = np.isfinite(a) & np.isfinite(y)
        ax.plot(a[ok], y[ok], "o", ms=4, mfc="none", mew=1.1, color=PALETTE["black"])
        if curve is not None and m in curve.log10_q:
            cx, cy = _curve_xy(curve, curve.log10_q[m])
            if cx.size:
                ax.plot(cx, cy, **LINES["curve"])
        ax.axvline(2.0, **LINES["reference"])
        if xlim is not None:
            ax.set_xlim(*xlim)
        k = int(ok.sum())
        style_axes(ax, xlabel="alpha (power-law fit)", ylabel="log10 Q",
                   title=f"{m}: {k} of {n_total} layers")
        if k < 3:
            ax.text(0.5, 0.5, f"only {k} layer(s) have a value:\nthe model does not apply "
                    "to the others", transform=ax.transAxes, ha="center", va="center",
                    fontsize=FONT["legend"], color=PALETTE["grey"])
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="none", marker="o", mfc="none", color=PALETTE["black"],
                      label="layers of the model")]
    labels = ["layers of the model"]
    if curve is not None:
        handles.append(Line2D([], [], **LINES["curve"]))
        labels.append(f"model-derived curve ({curve.family} spectra, M = {curve.M})"
                      if hasattr(curve, "M") else "model-derived curve")
    handles.append(Line2D([], [], **LINES["reference"]))
    labels.append("alpha = 2 (Ideal point)")
    fig.legend(handles, labels, loc="lower center", ncol=len(handles), frameon=False,
               fontsize=FONT["legend"] + 0.5, bbox_to_anchor=(0.5, 0.0))
    if curve is not None:
        fig.text(0.5, 0.035, "The curve is one synthetic family at one size; Q^2 is a sum over "
                 "the ECS, so a layer's Q also depends on its ECS size and tail shape: read the "
                 "curve for the trend in alpha, not as a fit.", ha="center",
                 fontsize=FONT["legend"], color=PALETTE["grey"])
    name = display_name(title) if title else ""
    fig.suptitle("SETOL layer quality vs alpha" + (f": {name}" if name else ""),
                 fontsize=FONT["title"] + 1)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, plt, path, tight=None)


def plot_erg_vs_alpha(alpha: NDArray[np.float64], erg: NDArray[np.float64],
                      rel_delta: NDArray[np.float64], path: str | Path | None = None, *,
                      curve=None, title: str = ""):
    """ERG quantities against alpha across layers: the TraceLog sum of the power-law tail
    (``ln det X_tail``, 0 for an Ideal layer) and ``Delta lambda_min / xmin`` (-> 0 as
    alpha -> 2, arXiv:2507.17912 Sec. 6.3), with the critical lines alpha = 2 and 0 and the
    model-derived curve if given. Symmetric-log y axes (the quantities span orders of
    magnitude) whose limits hold every point with a margin (no point on the frame)."""
    from ._style import FONT, LINES, PALETTE, display_name, legend_below, style_axes

    plt = pyplot()
    a = np.asarray(alpha, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.6))
    for ax, y, lab, key in ((axes[0], erg, "ERG: sum of ln lambda, PL tail",
                             "erg_residual_at_xmin"),
                            (axes[1], rel_delta, "Delta lambda_min / xmin",
                             "rel_delta_lambda_min")):
        lin = 1.0 if key == "erg_residual_at_xmin" else 0.1
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(a) & np.isfinite(y)
        ax.plot(a[ok], y[ok], "o", ms=4, mfc="none", mew=1.1, color=PALETTE["black"],
                label=f"layers ({ok.sum()})")
        ys = [y[ok]]
        if curve is not None:
            cx, cy = _curve_xy(curve, getattr(curve, key))
            if cx.size:
                ax.plot(cx, cy, **LINES["curve"], label="model-derived (IMP spectra)")
                ys.append(cy)
        ax.axvline(2.0, **LINES["reference"], label="alpha = 2 (Ideal point)")
        ax.axhline(0.0, color=PALETTE["grey"], lw=0.8, ls="-")
        ax.set_yscale("symlog", linthresh=lin)
        lim = _symlog_limits(np.concatenate(ys), lin)
        if lim is not None:
            ax.set_ylim(*lim)
        style_axes(ax, xlabel="alpha (power-law fit)",
                   ylabel=f"{lab}\n(symlog scale, linear within +/-{lin:g})")
        legend_below(ax, ncol=3)
    if title:
        fig.suptitle(f"ERG vs alpha: {display_name(title)}", fontsize=FONT["title"] + 1)
    return _save(fig, plt, path)


def plot_quality_curve(curve, path: str | Path | None = None):
    """A model-derived quality curve (:class:`setol_theory.quality.QualityCurve`): ``log10 Q``
    per model, ``Delta lambda_min / xmin`` with its zero crossing (the critical alpha), ECS and
    tail sizes, all against the fitted alpha; and the fitted against the nominal alpha."""
    from ._style import LINES, PALETTE, legend_below, series_style, style_axes

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 9.5))
    ax = axes[0, 0]
    for i, (m, y) in enumerate(curve.log10_q.items()):
        cx, cy = _curve_xy(curve, y)
        if cx.size:
            ax.plot(cx, cy, **series_style(i), ms=3, lw=1.2, label=m)
    ax.axvline(2.0, **LINES["reference"], label="alpha = 2")
    style_axes(ax, xlabel="alpha (power-law fit)", ylabel="log10 Q",
               title="log10 Q of each spectral model")
    import textwrap

    fig.suptitle(textwrap.fill(curve.label, 120), fontsize=9)
    legend_below(ax, ncol=5)

    ax = axes[0, 1]
    cx, cy = _curve_xy(curve, curve.rel_delta_lambda_min)
    ax.plot(cx, cy, "o-", ms=3, color=PALETTE["black"], label="Delta lambda_min / xmin")
    ax.axhline(0.0, color=PALETTE["grey"], lw=0.8)
    ax.axvline(2.0, **LINES["reference"], label="alpha = 2")
    ca = curve.critical_alpha()
    if ca is not None:
        ax.axvline(ca, **LINES["detx"], label=f"crossing at alpha = {ca:.2f}")
    ax.set_yscale("symlog", linthresh=0.1)
    style_axes(ax, xlabel="alpha (power-law fit)",
               ylabel="Delta lambda_min / xmin (symlog)",
               title="ECS = PL tail where Delta lambda_min = 0")
    legend_below(ax, ncol=3)

    ax = axes[1, 0]
    for i, (key, lab) in enumerate((("num_ecs", "M_ECS"), ("num_tail", "PL tail"))):
        cx, cy = _curve_xy(curve, getattr(curve, key))
        ax.plot(cx, cy, **series_style(i), ms=3, label=lab)
    ax.axvline(2.0, **LINES["reference"], label="alpha = 2")
    style_axes(ax, xlabel="alpha (power-law fit)", ylabel="number of eigenvalues")
    legend_below(ax, ncol=3)

    ax = axes[1, 1]
    a = np.asarray(curve.alpha, dtype=float)
    af = np.asarray(curve.alpha_fit, dtype=float)
    ok = np.isfinite(af)
    ax.plot(a[ok], af[ok], "o-", ms=3, color=PALETTE["black"], label="synthetic spectra")
    lim = [float(min(a.min(), np.nanmin(af) if ok.any() else a.min())),
           float(max(a.max(), np.nanmax(af) if ok.any() else a.max()))]
    ax.plot(lim, lim, **LINES["reference"], label="fitted = nominal")
    style_axes(ax, xlabel=f"nominal alpha ({curve.family})",
               ylabel="fitted alpha (power-law MLE)")
    legend_below(ax, ncol=2)
    return _save(fig, plt, path)



def plot_ecs_curve(curve, path: str | Path | None = None):
    """``log10 Q`` of one ESD under each spectral model against the ECS edge ``lambda_min``
    (:class:`setol_theory.quality.ECSCurve`), the power-law ``xmin`` and the TraceLog detX
    edge marked; below, the ECS size."""
    from ._style import LINES, annotate, legend_below, series_style, style_axes

    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 7.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    lam = np.asarray(curve.lambda_min, dtype=float)
    spans = {}
    for i, (m, y) in enumerate(curve.log10_q.items()):
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(y)
        if ok.any():
            ax.plot(lam[ok], y[ok], **series_style(i), ms=3, lw=1.2, label=m)
            spans[m] = (float(y[ok].min()), float(y[ok].max()))
    notes = []
    if len(spans) >= 3:  # a model far above the others is cut, not allowed to flatten them
        his = sorted(hi for _, hi in spans.values())
        lo, cap = min(a for a, _ in spans.values()), his[-2]
        pad = 0.08 * (cap - lo) or 0.5
        cut = [f"{m} (max {hi:.3g})" for m, (_, hi) in spans.items() if hi > cap + 3 * pad]
        if cut:
            ax.set_ylim(lo - pad, cap + 3 * pad)
            notes.append("off scale: " + ", ".join(cut))
    missing = [m for m in curve.log10_q if m not in spans]
    if missing:
        notes.append("no value (not applicable or failed): " + ", ".join(missing))
    if notes:
        annotate(ax, "\n".join(notes), loc="upper left", width=60)
    for a in (ax, ax2):
        if curve.xmin is not None:
            a.axvline(curve.xmin, **LINES["xmin"],
                      label=f"PL xmin = {curve.xmin:.3g}" if a is ax else None)
        a.axvline(curve.lambda_min_detx, **LINES["detx"],
                  label=f"detX lambda_min = {curve.lambda_min_detx:.3g}" if a is ax else None)
        a.set_xscale("log")
    alpha = "-" if curve.alpha is None else f"{curve.alpha:.2f}"
    style_axes(ax, xlabel="", ylabel=f"log10 Q ({curve.scale} scale)",
               title=f"{curve.name}: layer quality vs ECS edge (alpha = {alpha})")
    legend_below(ax, ncol=4)
    ax2.plot(lam, curve.num_ecs, "o-", ms=3, color="black")
    style_axes(ax2, xlabel="ECS edge lambda_min (scale of the given eigenvalues)",
               ylabel="M_ECS")
    return _save(fig, plt, path)
