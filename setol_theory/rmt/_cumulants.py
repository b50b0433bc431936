"""Moments <-> free cumulants and the integrated R-transform."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


# --------------------------------------------------------------------------------------
# moments <-> free cumulants
# --------------------------------------------------------------------------------------
def _is_inexact(v: Any) -> bool:
    return isinstance(v, (float, complex, np.floating, np.complexfloating))


def _prepare(seq: ArrayLike | Sequence[Any], name: str) -> tuple[list[Any], bool, bool]:
    """Items of ``seq`` as Python scalars; flags (exact, sympy)."""
    if isinstance(seq, np.ndarray) and seq.dtype != object:
        items = [v.item() for v in seq.ravel()]
    else:
        items = list(seq)  # type: ignore[arg-type]
    if not items:
        raise ValueError(f"{name} must contain at least one entry")
    exact = not any(_is_inexact(v) for v in items)
    is_sympy = False
    if exact:
        for v in items:
            if isinstance(v, numbers.Rational) and not isinstance(v, (int, Fraction)):
                continue
            if not isinstance(v, (int, Fraction)):
                is_sympy = True
        items = [int(v) if isinstance(v, (bool, np.integer)) else v for v in items]
    else:
        is_c = any(isinstance(v, (complex, np.complexfloating)) for v in items)
        items = [complex(v) if is_c else float(v) for v in items]
        bad = [v for v in items if not np.isfinite(v)]
        if bad:
            raise ValueError(f"{name} must be finite, got {bad[0]!r}")
    return items, exact, is_sympy


def _moment_cumulant(seq: ArrayLike | Sequence[Any], to_cumulants: bool) -> NDArray[Any]:
    """Shared recursion of :func:`moments_to_free_cumulants` / :func:`free_cumulants_to_moments`."""
    items, exact, is_sympy = _prepare(seq, "moments" if to_cumulants else "free cumulants")
    n = len(items)
    if is_sympy:
        import sympy as sp

        simp: Callable[[Any], Any] = sp.expand
    else:
        def simp(v: Any) -> Any:
            return v
    one: Any = 1 if exact else (1.0 + 0j if isinstance(items[0], complex) else 1.0)
    zero: Any = 0 * one
    m: list[Any] = [one] + [None] * n
    kap: list[Any] = [None] * (n + 1)
    # P[s][j] = [z^j] M(z)^s with M(z) = sum_i m_i z^i; filled along diagonals s + j = N.
    P: list[list[Any]] = [[zero] * (n + 1) for _ in range(n + 1)]
    P[0][0] = one
    for N in range(1, n + 1):
        for s in range(1, N + 1):
            j = N - s
            acc = zero
            for i in range(j + 1):
                acc = acc + m[i] * P[s - 1][j - i]
            P[s][j] = simp(acc)
        acc = zero
        for s in range(1, N):
            acc = acc + kap[s] * P[s][N - s]
        if to_cumulants:
            m[N] = items[N - 1]
            kap[N] = simp(m[N] - acc)
        else:
            kap[N] = items[N - 1]
            m[N] = simp(kap[N] + acc)
    res = kap[1:] if to_cumulants else m[1:]
    if exact:
        out = np.empty(n, dtype=object)
        out[:] = res
        return out
    return np.asarray(res)


def moments_to_free_cumulants(m: ArrayLike | Sequence[Any]) -> NDArray[Any]:
    r"""Free cumulants ``kappa_1..kappa_n`` from moments ``m_1..m_n`` (``m_0 = 1`` implied).

    Solves the moment-cumulant relation (Mingo & Speicher 2017 [MS2017], prop. 2.17 and
    the functional form ``M(z) = 1 + sum_s kappa_s z^s M(z)^s``)

    ``m_N = sum_{s=1}^{N} kappa_s [z^{N-s}] M(z)^s,  M(z) = sum_{i>=0} m_i z^i``,

    for ``kappa_N`` (the ``s = N`` term is ``kappa_N`` itself), for any order, in ``O(n^3)``
    operations. It reproduces the paper's ``k1..k5`` (arXiv:2507.17912 Sec. 5.5, Eq. (162)).

    Parameters
    ----------
    m : sequence
        ``[m_1, ..., m_n]`` with ``m_0 = 1`` implied. Entries that are ``int``,
        ``fractions.Fraction``, sympy numbers or sympy expressions are combined exactly
        (no division occurs); any float or complex entry makes the computation floating point.

    Returns
    -------
    ndarray
        ``[kappa_1, ..., kappa_n]``: dtype object (same exact types) for exact input, float64
        or complex128 otherwise.
    """
    return _moment_cumulant(m, to_cumulants=True)


def free_cumulants_to_moments(kappa: ArrayLike | Sequence[Any]) -> NDArray[Any]:
    r"""Moments ``m_1..m_n`` (``m_0 = 1``) from free cumulants ``kappa_1..kappa_n``.

    Inverse of :func:`moments_to_free_cumulants` through the same recursion (sum over
    non-crossing partitions, Mingo & Speicher 2017, eq. 2.10). Exact for exact input.
    """
    return _moment_cumulant(kappa, to_cumulants=False)


# --------------------------------------------------------------------------------------
# integrated R-transform
# --------------------------------------------------------------------------------------
def integrated_r(
    r: Callable[[Any], Any],
    x: ArrayLike,
    lower: ArrayLike = 0.0,
    *,
    points: Sequence[float] | None = None,
    epsrel: float = 1e-12,
    limit: int = 200,
) -> Array:
    r"""``\int_lower^x Re R(w) dw`` by adaptive quadrature (docs/spectral_models.md, ``G_layer``).

    This is the paper's layer "generating function" ``G(lambda)`` (arXiv:2507.17912 Eq. (132),
    Sec. 5.3, and App. A.6.4), not the Stieltjes transform.

    Parameters
    ----------
    r : callable
        The R-transform, called with a float (its real part is integrated).
    x, lower : array_like
        Upper and lower limits (broadcast together).
    points : sequence of float, optional
        Break points (branch points, kinks) passed to :func:`scipy.integrate.quad` where they
        lie inside an interval.
    epsrel, limit : float, int
        Quadrature controls.

    Returns
    -------
    ndarray of float, the broadcast shape of ``x`` and ``lower``
    """
    xb, lb = np.broadcast_arrays(np.asarray(x, dtype=np.float64),
                                 np.asarray(lower, dtype=np.float64))
    if not (np.all(np.isfinite(xb)) and np.all(np.isfinite(lb))):
        raise ValueError("integration limits must be finite")
    out = np.empty(xb.shape)

    def f(t: float) -> float:
        return float(np.real(np.asarray(r(t))).ravel()[0])

    from scipy import integrate  # on first use: the HTSR analysis path never integrates

    for idx in np.ndindex(xb.shape):
        u, lo = float(xb[idx]), float(lb[idx])
        if u == lo:
            out[idx] = 0.0
            continue
        a, b = min(u, lo), max(u, lo)
        pts = [p for p in (points or ()) if a < p < b] or None
        val = integrate.quad(f, a, b, points=pts, epsabs=0.0, epsrel=epsrel, limit=limit)[0]
        out[idx] = val if u > lo else -val
    return out

