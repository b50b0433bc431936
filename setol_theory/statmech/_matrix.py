r"""Annealed Hamiltonian of the matrix-generalised linear teacher-student model.

Source: arXiv:2507.17912, appendix "Summary of the Statistical Mechanics of Generalization",
subsection "Annealed Hamiltonian for the Single Layer Matrix-Generalized ST Error"; the vector
case is SST92 eq. (C6) [SST1992] (docs/references.md; docs/simulations.md, "Matrix annealed
Hamiltonian").

Model.  Student ``S`` and teacher ``T`` are ``N x M`` matrices with overlap ``R = S^T T / N``
(``M x M``); a training example is a feature vector ``xi in R^M`` with i.i.d.
``N(0, sigma^2)`` entries, ``sigma^2 = 1/M`` (so ``E|xi|^2 = 1``), and its error is the
quadratic form ``e(xi) = xi^T (I_M - R) xi``.  The annealed Hamiltonian per example is

.. math::
    \beta G_{an}(R) = -\ln \mathbb{E}_\xi\, e^{-\beta\, \xi^T (I - R) \xi}
                   = \tfrac12 \ln\det\!\big[I_M + \tfrac{2\beta}{M}(I_M - R_s)\big],

a Gaussian integral; ``R_s = (R + R^T)/2`` because a quadratic form only sees the symmetric
part (the paper writes ``R``; for symmetric ``R`` the two agree).  It exists when the matrix in
the determinant is positive definite (otherwise the data average diverges).

* ``M = 1`` (a single column, ``S, T`` are ``N``-vectors -- the perceptron): it is
  ``1/2 ln[1 + 2 beta (1 - R)]``, SST92 eq. (C6), the paper's "Gan2" form, for every ``N``.
* Large ``M`` at fixed eigenvalue distribution of ``R_s``:
  ``beta G_an -> (beta / M) Tr(I - R_s)`` with corrections ``O(beta^2 / M)``: with
  ``sigma^2 = 1/M`` the per-example Hamiltonian becomes the high-temperature form at every
  ``beta``.  The paper's own "large-N" step, ``det(I + eps Omega) ~ 1 + eps Tr Omega``, gives
  :func:`matrix_annealed_trace_form` ``1/2 ln[1 + (2 beta/M) Tr(I - R)]``; it equals the exact
  value at ``M = 1`` only, and differs from it at ``O(1)`` when ``beta Tr(I - R)/M`` is not
  small (``eps Tr Omega = 2 beta Tr(I - R)/M`` is then not small).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

__all__ = [
    "matrix_annealed_hamiltonian",
    "matrix_annealed_trace_form",
    "matrix_annealed_large_m",
]


def _overlap(R: ArrayLike) -> Array:
    r = np.asarray(R, dtype=np.float64)
    if r.ndim == 0:
        r = r.reshape(1, 1)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise ValueError(f"R must be a square M x M overlap matrix (or a scalar), got shape "
                         f"{np.shape(R)}")
    if not np.all(np.isfinite(r)):
        raise ValueError("R has NaN or infinite entries")
    return 0.5 * (r + r.T)


def _beta(beta: float) -> float:
    b = float(beta)
    if not math.isfinite(b) or b < 0.0:
        raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
    return b


def matrix_annealed_hamiltonian(R: ArrayLike, beta: float) -> float:
    r"""``beta G_an(R) = 1/2 ln det[I_M + (2 beta / M)(I_M - R_s)]`` per training example.

    Parameters
    ----------
    R : array_like, shape (M, M) or scalar
        Student-teacher overlap ``S^T T / N`` (only its symmetric part enters).
    beta : float
        Inverse temperature ``>= 0``.

    Returns
    -------
    float
        ``-ln E_xi exp(-beta xi^T (I - R) xi)`` for ``xi ~ N(0, I_M / M)`` (module docstring;
        arXiv:2507.17912, appendix on the annealed Hamiltonian, matrix case).

    Raises
    ------
    ValueError
        When ``I + (2 beta/M)(I - R_s)`` is not positive definite: the data average diverges
        and no annealed Hamiltonian exists.
    """
    rs = _overlap(R)
    b = _beta(beta)
    M = rs.shape[0]
    A = np.eye(M) + (2.0 * b / M) * (np.eye(M) - rs)
    ev = np.linalg.eigvalsh(A)
    if ev.min() <= 0.0:
        raise ValueError(f"I + (2 beta/M)(I - R) has eigenvalue {ev.min():.3g} <= 0 (beta = "
                         f"{b:g}): the Gaussian data average diverges, G_an is undefined")
    return float(0.5 * np.sum(np.log(ev)))


def matrix_annealed_trace_form(R: ArrayLike, beta: float) -> float:
    r"""The paper's trace approximation ``1/2 ln[1 + (2 beta/M) Tr(I_M - R)]``.

    ``det(I + eps Omega) ~ 1 + eps Tr Omega`` (arXiv:2507.17912, appendix on the annealed
    Hamiltonian, "Large-N Approximation"); exact for ``M = 1``, accurate only while
    ``2 beta Tr(I - R)/M`` is small (compare :func:`matrix_annealed_hamiltonian`).
    """
    rs = _overlap(R)
    b = _beta(beta)
    M = rs.shape[0]
    x = 1.0 + (2.0 * b / M) * float(np.trace(np.eye(M) - rs))
    if x <= 0.0:
        raise ValueError(f"1 + (2 beta/M) Tr(I - R) = {x:.3g} <= 0: the trace form is "
                         f"undefined")
    return 0.5 * math.log(x)


def matrix_annealed_large_m(R: ArrayLike, beta: float) -> float:
    r"""Large-``M`` limit ``beta G_an -> (beta/M) Tr(I_M - R)`` (first order of
    ``1/2 sum ln(1 + 2 beta (1 - r_i)/M)`` in ``1/M``, ``r_i`` the eigenvalues of ``R_s``;
    also the high-temperature form ``beta (1 - Tr R / M)``)."""
    rs = _overlap(R)
    b = _beta(beta)
    M = rs.shape[0]
    return b * float(np.trace(np.eye(M) - rs)) / M
