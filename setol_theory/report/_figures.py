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


def _save(fig, plt, path: str | Path | None, dpi: int = 100, tight: bool = True):
    if tight:
        fig.tight_layout()
    else:  # fixed margins: tight_layout costs ~0.4 s per log-axes figure
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.86, wspace=0.25)
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return None
    return fig


def plot_layer_esd(evals: NDArray[np.float64], m: LayerMetrics, path: str | Path | None = None):
    """ESD of one layer: log-log density with the power-law fit, and the MP fit of the bulk.

    Left panel: histogram of the eigenvalues on logarithmic bins (density), the fitted
    tail ``p(x) = (alpha - 1)/xmin (x/xmin)^(-alpha)`` scaled by the tail fraction, and
    ``xmin`` / ``lambda_max`` marked, and, when the trap test ran, the largest eigenvalue
    of the element-shuffled layer and the trap threshold (arXiv:2507.17912 Sec. 6.5;
    docs/htsr.md).
    Right panel: linear histogram with the Marchenko-Pastur density of the bulk fit
    (``sigma2``, ``q = M/N``) and its edge.
    """
    plt = pyplot()
    x = np.sort(np.asarray(evals, dtype=float))
    pos = x[x > 0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    if pos.size >= 2:
        bins = np.logspace(np.log10(pos[0]), np.log10(pos[-1]), min(100, max(10, pos.size // 5)))
        ax1.hist(pos, bins=bins, density=True, color="C0", alpha=0.6, label="ESD")
    if m.fit_status == "ok" and np.isfinite(m.alpha):
        frac = m.num_tail / max(x.size, 1)
        xs = np.logspace(np.log10(m.xmin), np.log10(x[-1]), 100)
        ys = frac * (m.alpha - 1.0) / m.xmin * (xs / m.xmin) ** (-m.alpha)
        ax1.plot(xs, ys, "r-", lw=2, label=f"PL fit alpha={m.alpha:.2f}")
        ax1.axvline(m.xmin, color="r", ls="--", lw=1, label=f"xmin={m.xmin:.3g}")
    ax1.axvline(m.lambda_max, color="k", ls=":", lw=1, label="lambda_max")
    if np.isfinite(m.lambda_max_rand) and m.lambda_max_rand > 0:
        ax1.axvline(m.lambda_max_rand, color="m", ls="-.", lw=1,
                    label=f"lambda_max shuffled ({m.num_traps:g} traps)")
        if np.isfinite(m.threshold_rand):
            ax1.axvline(m.threshold_rand, color="m", ls=":", lw=1, label="trap threshold")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel(f"eigenvalue of X ({'W^T W / N' if m.normalization == 'N' else 'W^T W'})")
    ax1.set_ylabel("density")
    ax1.set_title(f"{m.name}\nN={m.N} M={m.M} alpha_weighted={m.alpha_weighted:.2f}", fontsize=9)
    ax1.legend(fontsize=8)

    if np.isfinite(m.mp_sigma2) and m.M > 0:
        mp = MarchenkoPastur(m.M / m.N, m.mp_sigma2)
        upper = max(mp.lambda_plus * 1.5, np.quantile(x, 0.9))
        shown = x[x <= upper]
        _, edges, _ = ax2.hist(shown, bins=min(80, max(10, shown.size // 5)), color="C0",
                               alpha=0.6, label="ESD (bulk region)")
        grid = np.linspace(mp.lambda_minus, mp.lambda_plus, 400)
        width = edges[1] - edges[0]
        ax2.plot(grid, mp.pdf(grid) * x.size * width, "g-", lw=2,
                 label=f"MP sigma2={m.mp_sigma2:.3g}")
        ax2.axvline(mp.lambda_plus, color="g", ls="--", lw=1,
                    label=f"lambda_+ ({m.num_spikes} spikes above)")
    ax2.set_xlabel("eigenvalue")
    ax2.set_ylabel("count")
    ax2.set_title("Marchenko-Pastur fit of the bulk", fontsize=9)
    ax2.legend(fontsize=8)
    return _save(fig, plt, path, dpi=110)


def plot_verify_model(model, name: str, samples, convergence, path: str | Path | None = None):
    """Figure of ``setol verify`` for one model.

    Left: density vs. histogram of the largest Monte Carlo sample (when the model has both).
    Middle: ``Re R(w)`` on the real axis with the end of the real branch of ``G^{-1}``
    (``G(lambda_+)``) and, where there is one, the branch point of ``R`` marked.
    Right: Monte Carlo error of ``G`` (and ``R``) vs. ``n`` on log-log axes with the
    theoretical rate.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    try:
        lo, hi = model.support()
        if samples is not None:
            s = np.asarray(samples)
            if np.isfinite(lo) and np.isfinite(hi):
                ax.hist(s, bins=60, density=True, alpha=0.5, label=f"{s.size} samples")
                grid = np.linspace(lo, hi, 400)[1:-1]
            else:
                q = np.quantile(s, [0.02, 0.98])
                shown = s[(s > q[0]) & (s < q[1])]
                counts, edges = np.histogram(shown, bins=60)
                # normalised by ALL samples, so the bars compare with the density
                ax.bar(edges[:-1], counts / (s.size * np.diff(edges)), width=np.diff(edges),
                       align="edge", alpha=0.5, label="samples (2-98% quantiles shown)")
                grid = np.linspace(q[0], q[1], 400)
            ax.plot(grid, model.pdf(grid), "r-", label="density")
            ax.legend(fontsize=8)
        ax.set_xlabel("eigenvalue")
    except NotImplementedError:
        ax.text(0.5, 0.5, "no density for this model", ha="center", transform=ax.transAxes)
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
        ax.plot(w, r.real, "b-", label="Re R(w)")
        if np.any(np.abs(r.imag) > 0):
            ax.plot(w, r.imag, "c--", label="Im R(w + i0)")
    except (ValueError, NotImplementedError) as exc:
        ax.text(0.5, 0.5, str(exc)[:60], ha="center", transform=ax.transAxes, fontsize=7)
    if w_hi is not None:
        ax.axvline(w_hi, color="g", ls=":", label="G(lambda_+): end of real branch")
    if isinstance(bp, float):
        ax.axvline(bp, color="r", ls="--", label=f"branch point {bp:.3g}")
    ax.set_xlabel("w (real)")
    ax.set_title(f"{name}: R on the real axis", fontsize=10)
    ax.legend(fontsize=7)

    ax = axes[2]
    if convergence:
        n = np.asarray(convergence["sizes"], dtype=float)
        for key, style in (("err_G", "o-"), ("err_R", "s-")):
            if key in convergence:
                ax.loglog(n, convergence[key], style, label=key.replace("err_", "error of "))
        rate = convergence["rate"]
        ref = convergence["err_G"][0] * (n / n[0]) ** (-rate)
        ax.loglog(n, ref, "k:", label=f"n^-{rate:g}")
        ax.legend(fontsize=8)
        ax.set_xlabel("n (eigenvalues)")
    else:
        ax.text(0.5, 0.5, "no Monte Carlo for this model", ha="center", transform=ax.transAxes)
    ax.set_title(f"{name}: Monte Carlo error", fontsize=10)
    return _save(fig, plt, path)


def plot_hciz_convergence(conv: dict, path: str | Path | None = None):
    """``|(1/N) log I_N - limit|`` vs ``N`` (log-log) for the cases of ``verify_hciz``, with
    the ``1/N`` reference; in the edge-sticking phase also the error less its edge-gap term."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, (label, c) in enumerate(conv.items()):
        n = np.asarray(c["sizes"], dtype=float)
        err = np.abs(np.asarray(c["errors"]))
        ax.loglog(n, err, "o-", color=f"C{i}", label=f"{label} ({c['phase']})")
        if c["phase"] != "sub-critical":
            rem = np.abs(np.asarray(c["errors"]) - np.asarray(c["edge_terms"]))
            ax.loglog(n, rem, "o--", color=f"C{i}", label="  same, less the edge-gap term")
            ax.loglog(n, 1.5 * np.log(n) / n, ":", color="gray", label="1.5 log N / N")
    n = np.asarray(next(iter(conv.values()))["sizes"], dtype=float)
    ax.loglog(n, 0.15 / n, "k:", label="0.15 / N")
    ax.set_xlabel("N")
    ax.set_ylabel("|exact - asymptotic|  of (1/N) log I_N")
    ax.set_title("Rank-one HCIZ: convergence to the Guionnet-Maida limit", fontsize=10)
    ax.legend(fontsize=7)
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

    plt = pyplot()
    x = np.sort(np.asarray(evals, dtype=float))
    pos = x[x > 0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    if pos.size >= 2:
        bins = np.logspace(np.log10(pos[0]), np.log10(pos[-1]), min(80, max(10, pos.size // 5)))
        ax1.hist(pos, bins=bins, density=True, color="C0", alpha=0.6, label="ESD")
    ax1.axvspan(ecs.lambda_min, ecs.lambda_max, color="C2", alpha=0.12,
                label=f"ECS ({ecs.rule}), M_ECS={ecs.num_ecs}")
    if ecs.xmin is not None and ecs.alpha is not None:
        frac = ecs.num_tail / max(x.size, 1)
        xs = np.logspace(np.log10(ecs.xmin), np.log10(x[-1]), 100)
        ax1.plot(xs, frac * (ecs.alpha - 1.0) / ecs.xmin * (xs / ecs.xmin) ** (-ecs.alpha),
                 "r-", lw=1.5, label=f"PL fit alpha={ecs.alpha:.2f}")
        ax1.axvline(ecs.xmin, color="r", ls="--", lw=1.5, label=f"xmin (PL) = {ecs.xmin:.3g}")
    ax1.axvline(ecs.lambda_min_detx, color="purple", ls="-.", lw=1.5,
                label=f"lambda_min^detX = {ecs.lambda_min_detx:.3g}")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("eigenvalue lambda")
    ax1.set_ylabel("density")
    dl = ecs.delta_lambda_min
    ax1.set_title(f"{name}\nDelta lambda_min = xmin - lambda_detX = "
                  + (f"{dl:.3g}" if dl is not None else "-"), fontsize=9)
    ax1.legend(fontsize=7)

    desc, S = tracelog_partial_sums(pos * ecs.scale_factor)
    ax2.plot(desc / ecs.scale_factor, S, "k-", lw=1)
    ax2.axhline(0.0, color="gray", lw=0.8)
    if ecs.xmin is not None:
        ax2.axvline(ecs.xmin, color="r", ls="--", lw=1.5, label="xmin (PL)")
    ax2.axvline(ecs.lambda_min_detx, color="purple", ls="-.", lw=1.5, label="detX edge")
    ax2.set_xscale("log")
    ax2.set_xlabel("cut lambda (input scale)")
    ax2.set_ylabel("sum_{lambda_i >= cut} ln lambda_i  (sum lambda = M)")
    ax2.set_title("TraceLog condition: ln det X_ECS = 0", fontsize=9)
    ax2.legend(fontsize=7)
    return _save(fig, plt, path, dpi=90, tight=False)


def _curve_xy(curve, y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.asarray(curve.alpha_fit, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(a) & np.isfinite(y)
    order = np.argsort(a[ok])
    return a[ok][order], y[ok][order]


def plot_quality_vs_alpha(alpha: NDArray[np.float64], log10_q: dict, path: str | Path | None
                          = None, *, curve=None, title: str = ""):
    """``log10 Q`` of each layer against its alpha, one panel per spectral model, with the
    model-derived curve (a :class:`setol_theory.quality.QualityCurve`, plotted against the
    fitted alpha of its synthetic spectra) and the alpha = 2 line."""
    plt = pyplot()
    names = list(log10_q)
    ncol = min(3, max(1, len(names)))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    a = np.asarray(alpha, dtype=float)
    for ax, m in zip(axes.ravel(), names, strict=False):
        y = np.asarray(log10_q[m], dtype=float)
        ok = np.isfinite(a) & np.isfinite(y)
        ax.plot(a[ok], y[ok], "o", ms=4, color="C0", label=f"layers ({ok.sum()})")
        if curve is not None and m in curve.log10_q:
            cx, cy = _curve_xy(curve, curve.log10_q[m])
            if cx.size:
                ax.plot(cx, cy, "-", color="C3", lw=1.5, label="model-derived (IMP spectra)")
        ax.axvline(2.0, color="gray", ls=":", lw=1)
        ax.set_xlabel("alpha (fitted)")
        ax.set_ylabel("log10 Q")
        ax.set_title(m, fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(f"SETOL layer quality vs alpha: {title}", fontsize=9)
    return _save(fig, plt, path)


def plot_erg_vs_alpha(alpha: NDArray[np.float64], erg: NDArray[np.float64],
                      rel_delta: NDArray[np.float64], path: str | Path | None = None, *,
                      curve=None, title: str = ""):
    """ERG quantities against alpha across layers: the TraceLog sum of the power-law tail
    (``ln det X_tail``, 0 for an Ideal layer) and ``Delta lambda_min / xmin`` (-> 0 as
    alpha -> 2, arXiv:2507.17912 Sec. 6.3), with the critical lines alpha = 2 and 0 and the
    model-derived curve if given. Symmetric-log y axes (the quantities span orders of magnitude)."""
    plt = pyplot()
    a = np.asarray(alpha, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    for ax, y, lab, key in ((axes[0], erg, "ERG: sum ln lambda over the PL tail",
                             "erg_residual_at_xmin"),
                            (axes[1], rel_delta, "Delta lambda_min / xmin",
                             "rel_delta_lambda_min")):
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(a) & np.isfinite(y)
        ax.plot(a[ok], y[ok], "o", ms=4, color="C0", label=f"layers ({ok.sum()})")
        if curve is not None:
            cx, cy = _curve_xy(curve, getattr(curve, key))
            if cx.size:
                ax.plot(cx, cy, "-", color="C3", lw=1.5, label="model-derived (IMP spectra)")
        ax.axvline(2.0, color="r", lw=0.8)
        ax.axhline(0.0, color="r", lw=0.8)
        ax.set_yscale("symlog", linthresh=1.0 if key == "erg_residual_at_xmin" else 0.1)
        ax.set_xlabel("alpha (fitted)")
        ax.set_ylabel(lab)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(f"ERG vs alpha: {title}", fontsize=9)
    return _save(fig, plt, path)


def plot_quality_curve(curve, path: str | Path | None = None):
    """A model-derived quality curve (:class:`setol_theory.quality.QualityCurve`): ``log10 Q``
    per model, ``Delta lambda_min / xmin`` with its zero crossing (the critical alpha), ECS and
    tail sizes, all against the fitted alpha; and the fitted against the nominal alpha."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0, 0]
    for m, y in curve.log10_q.items():
        cx, cy = _curve_xy(curve, y)
        if cx.size:
            ax.plot(cx, cy, ".-", lw=1.2, label=m)
    ax.axvline(2.0, color="gray", ls=":", lw=1)
    ax.set_xlabel("alpha (fitted)")
    ax.set_ylabel("log10 Q")
    ax.set_title(curve.label, fontsize=8)
    ax.legend(fontsize=7, ncol=2)

    ax = axes[0, 1]
    cx, cy = _curve_xy(curve, curve.rel_delta_lambda_min)
    ax.plot(cx, cy, "o-", ms=3, color="C0")
    ax.axhline(0.0, color="r", lw=0.8)
    ax.axvline(2.0, color="r", lw=0.8)
    ca = curve.critical_alpha()
    if ca is not None:
        ax.axvline(ca, color="purple", ls="--", lw=1, label=f"crossing at alpha = {ca:.2f}")
        ax.legend(fontsize=7)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("alpha (fitted)")
    ax.set_ylabel("Delta lambda_min / xmin")
    ax.set_title("ECS = PL tail where Delta lambda_min = 0", fontsize=9)

    ax = axes[1, 0]
    for key, lab in (("num_ecs", "M_ECS"), ("num_tail", "PL tail")):
        cx, cy = _curve_xy(curve, getattr(curve, key))
        ax.plot(cx, cy, ".-", label=lab)
    ax.axvline(2.0, color="gray", ls=":", lw=1)
    ax.set_xlabel("alpha (fitted)")
    ax.set_ylabel("eigenvalues")
    ax.legend(fontsize=7)

    ax = axes[1, 1]
    a = np.asarray(curve.alpha, dtype=float)
    af = np.asarray(curve.alpha_fit, dtype=float)
    ok = np.isfinite(af)
    ax.plot(a[ok], af[ok], "o-", ms=3)
    lim = [float(min(a.min(), np.nanmin(af) if ok.any() else a.min())),
           float(max(a.max(), np.nanmax(af) if ok.any() else a.max()))]
    ax.plot(lim, lim, "k:", lw=0.8, label="fitted = nominal")
    ax.set_xlabel(f"nominal alpha ({curve.family})")
    ax.set_ylabel("fitted alpha (power-law MLE)")
    ax.legend(fontsize=7)
    return _save(fig, plt, path)

