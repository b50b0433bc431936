"""Time-series statistics of Monte Carlo traces (Sokal 1997; Flyvbjerg & Petersen 1989): the
integrated autocorrelation time :func:`tau_int` (Sokal's automatic window, ``c = 5``) and the
blocking standard error :func:`blocking_stderr`.

References
----------
A. D. Sokal, *Monte Carlo methods in statistical mechanics* (Cargese lectures, 1996), sec. 3
(automatic windowing); H. Flyvbjerg and H. G. Petersen, J. Chem. Phys. 91, 461 (1989)
(blocking).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def tau_int(x: ArrayLike, c: float = 5.0) -> float:
    r"""Integrated autocorrelation time with Sokal's automatic window.

    ``tau = 1/2 + sum_{t=1}^{W} rho(t)`` with the smallest ``W >= c tau(W)`` (Sokal 1996,
    sec. 3; ``c = 5``).  A constant series returns ``0.5``.
    """
    a = np.asarray(x, dtype=np.float64)
    n = a.size
    if n < 4:
        return 0.5
    a = a - a.mean()
    var = float(a @ a) / n
    if var <= 1e-300:
        return 0.5
    m = 1 << (2 * n - 1).bit_length()
    fa = np.fft.rfft(a, m)
    acf = np.fft.irfft(fa * np.conj(fa), m)[:n] / (n * var)
    tau = 0.5
    for w in range(1, n):
        tau += acf[w]
        if w >= c * tau:
            break
    return float(max(tau, 0.5))


def tau_int_pooled(x: ArrayLike, c: float = 5.0) -> float:
    r"""Integrated autocorrelation time of ``C`` chains of the same process, shape ``(C, n)``:
    Sokal's automatic window (``c = 5``) on the mean over chains of their normalised
    autocorrelation functions (each chain about its own mean; constant chains left out).  Less
    noisy than per-chain estimates, whose maximum over many chains is biased upwards; the same
    pooling as Goodman & Weare's ensemble estimate (Foreman-Mackey et al. 2013, emcee).
    """
    a = np.atleast_2d(np.asarray(x, dtype=np.float64))
    C, n = a.shape
    if n < 4:
        return 0.5
    a = a - a.mean(axis=1, keepdims=True)
    var = np.einsum("cn,cn->c", a, a) / n
    ok = var > 1e-300
    if not np.any(ok):
        return 0.5
    a = a[ok]
    m = 1 << (2 * n - 1).bit_length()
    fa = np.fft.rfft(a, m, axis=1)
    acf = np.fft.irfft(fa * np.conj(fa), m, axis=1)[:, :n] / (n * var[ok][:, None])
    rho = acf.mean(axis=0)
    tau = 0.5
    for w in range(1, n):
        tau += rho[w]
        if w >= c * tau:
            break
    return float(max(tau, 0.5))


def extension_length(S: int, tau: float, gap_ok: bool, burn_frac: float, tau_multiple: float,
                     max_sweeps: int) -> int:
    """Length (sweeps per chain) to extend a run of ``S`` sweeps to: twice ``S`` (at least what
    the measured ``tau`` asks) while two starts disagree, else 1.2x the length whose window
    ``(1 - burn_frac) S`` covers ``tau_multiple`` times ``tau`` (at least 1.5 ``S``); never
    above ``max_sweeps``."""
    need = int(math.ceil(1.2 * tau_multiple * tau / (1.0 - burn_frac)))
    grow = max(2 * S, need) if not gap_ok else max(need, int(math.ceil(1.5 * S)))
    return min(grow, max_sweeps)


def blocking_stderr(x: ArrayLike, min_blocks: int = 16) -> float:
    """Standard error of the mean of a correlated series by blocking (Flyvbjerg & Petersen
    1989): the largest naive error over block lengths ``1, 2, 4, ...`` with at least
    ``min_blocks`` blocks."""
    a = np.asarray(x, dtype=np.float64)
    best = 0.0
    while a.size >= min_blocks:
        best = max(best, float(np.std(a, ddof=1) / math.sqrt(a.size)))
        a = 0.5 * (a[: a.size // 2 * 2:2] + a[1: a.size // 2 * 2:2])
    return best
