"""The Tracy-Widom law of the largest eigenvalue of a real (beta = 1) Wishart matrix.

:func:`tracy_widom1_cdf` evaluates ``F_1(s)`` as a Fredholm determinant by Bornemann's
Nystrom method (Bornemann 2010, see docs/references.md [Bor2010]); it needs scipy's Airy
function.  The spike thresholds of the HTSR analysis need only upper-tail quantiles, which
:func:`tracy_widom1_quantile` reads from a table of ``log10(1 - F_1)`` made by
:func:`tracy_widom1_cdf` (tests/test_conv_mp.py recomputes it), so the analysis loads no scipy.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

#: Grid of the tabulated upper tail: s = 1, 1.125, ..., 9.
_TW1_S0, _TW1_DS = 1.0, 0.125

#: log10(1 - F_1(s)) on the grid, from :func:`tracy_widom1_cdf` with 96 nodes
#: (accurate to ~1e-15 in F_1, i.e. to better than 1e-6 in these logarithms for s <= 9).
_TW1_LOG10_SF: Array = np.array([
    -1.313554, -1.390417, -1.469282, -1.550119, -1.632899, -1.717591, -1.804167, -1.892601,
    -1.982865, -2.074933, -2.168780, -2.264381, -2.361713, -2.460751, -2.561474, -2.663861,
    -2.767889, -2.873538, -2.980790, -3.089623, -3.200021, -3.311965, -3.425436, -3.540420,
    -3.656898, -3.774855, -3.894275, -4.015143, -4.137445, -4.261166, -4.386292, -4.512809,
    -4.640705, -4.769966, -4.900581, -5.032536, -5.165820, -5.300421, -5.436328, -5.573530,
    -5.712016, -5.851775, -5.992798, -6.135073, -6.278591, -6.423343, -6.569318, -6.716509,
    -6.864905, -7.014498, -7.165279, -7.317239, -7.470371, -7.624666, -7.780117, -7.936714,
    -8.094451, -8.253320, -8.413314, -8.574424, -8.736646, -8.899970, -9.064390, -9.229900,
    -9.396493,
])


def tracy_widom1_cdf(s: ArrayLike, nodes: int = 64) -> Array:
    """CDF of the Tracy-Widom law for beta = 1, ``F_1(s) = det(I - K_s)``.

    ``K_s`` is the operator on ``L^2(s, inf)`` with kernel ``K(x, y) = Ai((x + y)/2) / 2``
    (the Ferrari-Spohn / Sasamoto formula, as given in [Bor2010]), discretised by
    Gauss-Legendre quadrature after the map ``x = s + 10 tan(pi t / 2)``, ``t`` in ``(0, 1)``
    (Bornemann's Nystrom method for Fredholm determinants).
    With 64 nodes the error is at the level of rounding (1e-15) for ``-8 <= s <= 9``.

    Parameters
    ----------
    s : array_like
        Arguments.
    nodes : int
        Quadrature nodes.

    Returns
    -------
    array
        ``F_1(s)``, the shape of ``s``.

    References
    ----------
    F. Bornemann, "On the numerical evaluation of distributions in random matrix theory",
    Markov Processes Relat. Fields 16, 803 (2010) [Bor2010]; check values there: mean
    -1.2065335745820, variance 1.6077810345810, ``F_1^{-1}(0.99) = 2.0234`` (Table 5)
    (tests/test_conv_mp.py reproduces them to 1e-9).
    """
    from scipy.special import airy

    t, w = np.polynomial.legendre.leggauss(nodes)
    t, w = 0.5 * (t + 1.0), 0.5 * w
    u = 10.0 * np.tan(0.5 * math.pi * t)
    du = w * 5.0 * math.pi / np.cos(0.5 * math.pi * t) ** 2
    sw = np.sqrt(du)
    s_arr = np.asarray(s, dtype=np.float64)
    out = np.empty(s_arr.shape)
    for i, si in np.ndenumerate(s_arr):
        x = si + u
        K = 0.5 * airy(0.5 * (x[:, None] + x[None, :]))[0]
        out[i] = np.linalg.det(np.eye(nodes) - sw[:, None] * K * sw[None, :])
    return out


def tracy_widom1_quantile(p: float) -> float:
    """Upper quantile ``F_1^{-1}(p)`` of the Tracy-Widom law (beta = 1) for
    ``0.95 <= p <= 1 - 4e-10`` (``1 <= s <= 9``).

    Interpolated linearly in ``log10(1 - F_1)`` on a table at step 0.125 (:data:`_TW1_LOG10_SF`,
    from :func:`tracy_widom1_cdf`); error below 3e-4 (e.g. 2.02326 for p = 0.99, where
    [Bor2010] gives 2.0234).  Used for the spike margin of ``k`` pooled matrices at the level
    ``p = 0.99^(1/k)`` (docs/htsr.md, "Conv layers").

    Raises
    ------
    ValueError
        For ``p`` outside the tabulated range.
    """
    y = -math.log10(1.0 - p) if p < 1.0 else math.inf
    lo, hi = -_TW1_LOG10_SF[0], -_TW1_LOG10_SF[-1]
    if not lo <= y <= hi:
        raise ValueError(f"tracy_widom1_quantile: p = {p!r} outside the tabulated upper tail "
                         f"[{1 - 10 ** -lo:.4f}, 1 - {10 ** -hi:.1e}]")
    grid = _TW1_S0 + _TW1_DS * np.arange(_TW1_LOG10_SF.size)
    return float(np.interp(y, -_TW1_LOG10_SF, grid))
