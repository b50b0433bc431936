"""Matplotlib figures.  Only imported by the CLI or by users who ask for a plot.

Every function takes arrays / result objects, draws on a new figure, and either saves it
(``path`` given; the figure is closed) or returns it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .densities import MarchenkoPastur
from .htsr import LayerMetrics

__all__ = ["plot_layer_esd", "safe_filename"]


def _pyplot():
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


def plot_layer_esd(evals: NDArray[np.float64], m: LayerMetrics, path: str | Path | None = None):
    """ESD of one layer: log-log density with the power-law fit, and the MP fit of the bulk.

    Left panel: histogram of the eigenvalues on logarithmic bins (density), the fitted
    tail ``p(x) = (alpha - 1)/xmin (x/xmin)^(-alpha)`` scaled by the tail fraction, and
    ``xmin`` / ``lambda_max`` marked.  Right panel: linear histogram with the
    Marchenko-Pastur density of the bulk fit (``sigma2``, ``q = M/N``) and its edge.
    """
    plt = _pyplot()
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
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel(f"eigenvalue of X ({'W^T W / N' if m.normalization == 'N' else 'W^T W'})")
    ax1.set_ylabel("density")
    ax1.set_title(f"{m.name}\nN={m.N} M={m.M} alpha_hat={m.alpha_hat:.2f}", fontsize=9)
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
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return None
    return fig
