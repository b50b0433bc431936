"""Marchenko-Pastur fit of the bulk of an ESD and the Tracy-Widom spike margin.

The entry variance ``sigma2`` is found by matching the median of the eigenvalues below the MP
edge to the MP median, iterated to a fixed point; eigenvalues above
``lambda_plus + TW1_Q99 * s_TW`` are spikes (Johnstone 2001, see docs/references.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..rmt import MarchenkoPastur

Array = NDArray[np.float64]


#: 0.99 quantile of the Tracy-Widom (beta = 1) law, used as the spike margin above the
#: MP edge.  Value from Bornemann, Markov Processes Relat. Fields 16, 803 (2010), Table 5
#: (F_1^{-1}(0.99) = 2.0234).
TW1_Q99 = 2.0234


# --------------------------------------------------------------------------------------
# Marchenko-Pastur bulk fit
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MPFit:
    """Marchenko-Pastur fit of the bulk of an ESD.

    Attributes
    ----------
    sigma2 : float
        Fitted entry variance (on the scale of the eigenvalues given).
    q : float
        ``M / N``.
    lambda_plus, lambda_minus : float
        Bulk edges ``sigma2 (1 +- sqrt q)^2``.
    tw_scale : float
        Tracy-Widom scale of the largest bulk eigenvalue at this size (:func:`tracy_widom_scale`).
    threshold : float
        Spike threshold ``lambda_plus + TW1_Q99 * tw_scale``.
    num_spikes : int
        Number of eigenvalues above ``threshold``.
    n_bulk : int
        Number of eigenvalues at or below ``lambda_plus`` used in the last iteration.
    iterations : int
        Fixed-point iterations used.
    converged : bool
        Whether the bulk set stopped changing.
    """

    sigma2: float
    q: float
    lambda_plus: float
    lambda_minus: float
    tw_scale: float
    threshold: float
    num_spikes: int
    n_bulk: int
    iterations: int
    converged: bool


def tracy_widom_scale(sigma2: float, N: int, M: int) -> float:
    """Scale of the fluctuations of the largest eigenvalue of ``W^T W / N`` at the MP edge.

    Johnstone (2001), Ann. Statist. 29, 295, Theorem 1: for ``W`` ``N x M`` Gaussian with
    variance ``sigma2``, ``lambda_max(W^T W) ~ mu + s TW_1`` with
    ``s = (sqrt N + sqrt M)(1/sqrt N + 1/sqrt M)^{1/3}`` (times ``sigma2``); divided by ``N``
    for ``X = W^T W / N``.  (Johnstone's ``N - 1`` is replaced by ``N``, an ``O(1/N)`` change.)
    """
    sN, sM = math.sqrt(N), math.sqrt(M)
    return sigma2 * (sN + sM) * (1.0 / sN + 1.0 / sM) ** (1.0 / 3.0) / N


def fit_mp_bulk(
    evals: Array,
    N: int,
    M: int,
    *,
    tw_quantile: float = TW1_Q99,
    max_iter: int = 100,
) -> MPFit:
    """Fit the Marchenko-Pastur law to the bulk of an ESD by median matching.

    The bulk is the set of eigenvalues at or below the MP edge ``lambda_plus(sigma2)``;
    ``sigma2`` is chosen so that the median of the bulk equals the MP median,
    ``sigma2 = median(bulk) / median(MP(q, 1))``.  Starting from all eigenvalues, the
    bulk set and ``sigma2`` are iterated to a fixed point.  The median makes the fit
    insensitive to a heavy tail or a few spikes, which would dominate a mean- or
    moment-based fit.

    Parameters
    ----------
    evals : array
        Eigenvalues of ``X`` (any order), all ``>= 0``.
    N, M : int
        Layer dimensions with ``N >= M``; ``q = M / N``.
    tw_quantile : float
        Spike margin above ``lambda_plus`` in Tracy-Widom units (default: the 0.99 quantile
        of TW_1, i.e. a 1% chance that a pure-noise layer shows one spike).
    max_iter : int
        Maximum number of fixed-point iterations.

    Returns
    -------
    MPFit

    Notes
    -----
    The Tracy-Widom margin is exact for Gaussian noise; for heavy-tailed noise the edge
    fluctuates more, so ``num_spikes`` is a descriptive count, not a test.
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    if x.size < 2:
        raise ValueError(f"fit_mp_bulk: need at least 2 eigenvalues, got {x.size}")
    if N < M:
        raise ValueError(f"fit_mp_bulk: expected N >= M, got N={N}, M={M}")
    q = M / N
    unit_median = _mp_unit_median(q)
    factor = (1.0 + math.sqrt(q)) ** 2
    n_bulk = x.size
    converged = False
    it = 0
    sigma2 = float(np.median(x)) / unit_median
    for it in range(1, max_iter + 1):
        if sigma2 <= 0.0:
            break
        new_n = int(np.searchsorted(x, sigma2 * factor, side="right"))
        if new_n == n_bulk and it > 1:
            converged = True
            break
        n_bulk = max(new_n, 1)
        sigma2 = float(np.median(x[:n_bulk])) / unit_median
    if not sigma2 > 0.0:
        raise ValueError("fit_mp_bulk: the median eigenvalue is zero; the layer is rank deficient")
    mp = MarchenkoPastur(q, sigma2)
    tw = tracy_widom_scale(sigma2, N, M)
    threshold = mp.lambda_plus + tw_quantile * tw
    num_spikes = int(x.size - np.searchsorted(x, threshold, side="right"))
    return MPFit(
        sigma2=sigma2,
        q=q,
        lambda_plus=mp.lambda_plus,
        lambda_minus=mp.lambda_minus,
        tw_scale=tw,
        threshold=threshold,
        num_spikes=num_spikes,
        n_bulk=n_bulk,
        iterations=it,
        converged=converged,
    )


_MEDIAN_CACHE: dict[float, float] = {}


def _mp_unit_median(q: float) -> float:
    key = round(q, 12)
    if key not in _MEDIAN_CACHE:
        _MEDIAN_CACHE[key] = MarchenkoPastur(q, 1.0).median()
    return _MEDIAN_CACHE[key]

