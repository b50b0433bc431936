r"""Monte Carlo of the data average behind the matrix annealed Hamiltonian, and its figure.

The matrix-generalised linear teacher-student model (arXiv:2507.17912, appendix on the
annealed Hamiltonian, matrix case; :mod:`setol_theory.statmech` ``matrix_annealed_*``) averages
``exp(-beta xi^T (I - R) xi)`` over Gaussian feature vectors ``xi ~ N(0, I_M / M)``.
:func:`annealed_hamiltonian_mc` estimates ``beta G_an(R) = -ln E_xi[...]`` by sampling ``xi``
directly -- an independent route to the closed form ``1/2 ln det[I + (2 beta/M)(I - R_s)]``.
:func:`annealed_table` compares, for overlaps ``R = O diag(r) O^T`` with a random orientation
``O``, the Monte Carlo with the closed form, the paper's trace form and the large-``M`` limit;
:func:`plot_annealed` draws them (docs/simulations.md, "Matrix annealed Hamiltonian").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from setol_theory import statmech as sm

__all__ = ["annealed_hamiltonian_mc", "overlap_matrix", "annealed_table", "plot_annealed"]


def annealed_hamiltonian_mc(R: ArrayLike, beta: float, n_data: int = 200_000, seed: int = 0,
                            chunk: int = 50_000) -> tuple[float, float]:
    """``-ln mean_xi exp(-beta xi^T (I - R) xi)`` over ``n_data`` draws ``xi ~ N(0, I_M/M)``.

    Returns ``(estimate, standard error)``; the error is the delta-method
    ``std(w) / (sqrt(n) mean(w))`` of the log of the sample mean of the weights ``w``.
    """
    r = np.atleast_2d(np.asarray(R, dtype=np.float64))
    M = r.shape[0]
    if r.shape != (M, M):
        raise ValueError(f"R must be square, got shape {r.shape}")
    if n_data < 2:
        raise ValueError(f"n_data must be >= 2, got {n_data}")
    A = np.eye(M) - 0.5 * (r + r.T)
    rng = np.random.default_rng(seed)
    s1 = s2 = 0.0
    done = 0
    while done < n_data:
        m = min(chunk, n_data - done)
        xi = rng.standard_normal((m, M)) / math.sqrt(M)
        w = np.exp(-beta * np.einsum("ni,ij,nj->n", xi, A, xi))
        s1 += float(w.sum())
        s2 += float((w * w).sum())
        done += m
    mean = s1 / n_data
    var = max(s2 / n_data - mean * mean, 0.0) * n_data / (n_data - 1)
    return -math.log(mean), math.sqrt(var / n_data) / mean


def overlap_matrix(M: int, r: ArrayLike, seed: int = 0) -> np.ndarray:
    """``O diag(r_i) O^T`` with a Haar orthogonal ``O`` (``r`` broadcast to ``M`` values)."""
    rv = np.broadcast_to(np.asarray(r, dtype=np.float64), (M,))
    q, rr = np.linalg.qr(np.random.default_rng(seed).standard_normal((M, M)))
    q = q * np.sign(np.diag(rr))
    return (q * rv) @ q.T


def annealed_table(Ms: Sequence[int], beta: float, r_values: Sequence[float], *,
                   spread: float = 0.2, n_data: int = 200_000, seed: int = 0
                   ) -> list[dict[str, Any]]:
    """Rows ``(M, r, exact, trace form, large-M, MC, MC se, z)`` for overlaps whose
    eigenvalues are spread uniformly over ``r +- spread`` (clipped to ``[-1, 1]``; ``M = 1``
    uses ``r`` itself).  All values are ``beta G_an`` per example."""
    rows = []
    for M in Ms:
        for k, r in enumerate(r_values):
            ev = np.full(M, r) if M == 1 else np.clip(r + spread * np.linspace(-1, 1, M),
                                                     -1.0, 1.0)
            R = overlap_matrix(M, ev, seed=seed + k)
            ex = sm.matrix_annealed_hamiltonian(R, beta)
            mc, se = annealed_hamiltonian_mc(R, beta, n_data=n_data, seed=seed + 1000 * M + k)
            rows.append({"M": int(M), "r": float(r), "beta": float(beta), "exact": ex,
                         "trace_form": sm.matrix_annealed_trace_form(R, beta),
                         "large_M": sm.matrix_annealed_large_m(R, beta),
                         "mc": mc, "mc_se": se,
                         "z": (mc - ex) / se if se > 0 else (0.0 if abs(mc - ex) < 1e-12
                                                             else math.inf)})
    return rows


def plot_annealed(rows: list[dict[str, Any]], path: str | Path) -> None:
    """One panel per ``M``: ``beta G_an`` per example against the mean eigenvalue of ``R``
    (closed form, the paper's trace form, the large-``M`` limit, Monte Carlo over data)."""
    from setol_theory.report import pyplot

    plt = pyplot()
    Ms = sorted({r["M"] for r in rows})
    fig, axes = plt.subplots(1, len(Ms), figsize=(3.6 * len(Ms), 3.4), squeeze=False)
    for ax, M in zip(axes[0], Ms, strict=True):
        sub = sorted((r for r in rows if r["M"] == M), key=lambda r: r["r"])
        x = [r["r"] for r in sub]
        ax.plot(x, [r["exact"] for r in sub], "-", color="C0",
                label=r"exact $\frac{1}{2}\ln\mathrm{det}[I+\frac{2\beta}{M}(I-R)]$")
        ax.plot(x, [r["trace_form"] for r in sub], "--", color="C1",
                label=r"paper's trace form $\frac{1}{2}\ln[1+\frac{2\beta}{M}\mathrm{Tr}(I-R)]$")
        ax.plot(x, [r["large_M"] for r in sub], ":", color="C2",
                label=r"large $M$: $\frac{\beta}{M}\mathrm{Tr}(I-R)$")
        ax.errorbar(x, [r["mc"] for r in sub], yerr=[r["mc_se"] for r in sub], fmt="o",
                    mfc="none", color="k", ms=4, capsize=2, label="MC over data")
        ax.set_title(f"M = {M}, beta = {sub[0]['beta']:g}")
        ax.set_xlabel("mean eigenvalue of R")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(r"$\beta G_{an}(R)$ per example")
    axes[0][0].legend(fontsize=6.5)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=120)
    plt.close(fig)
