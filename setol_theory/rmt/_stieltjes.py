r"""Free-probability tools: Stieltjes transforms, R-transforms, free cumulants, free convolution.

Conventions (docs/spectral_models.md; the paper, arXiv:2507.17912 Sec. 5.4 (Modeling the
R-Transform) and App. A.7 (Existence of the Free R-Transform for Power-Law Spectra)):

* Stieltjes (Cauchy) transform with the **positive** sign convention,
  ``G(z) = \int rho(x) / (z - x) dx``, ``G(z) ~ 1/z`` at infinity, so ``Im G < 0`` for ``Im z > 0``
  and the density is ``rho(x) = -Im G(x + i0) / pi``.
* A *real* argument ``x`` of a Stieltjes transform is read as ``x + i0`` (the upper lip); the
  imaginary part ``-0.0`` is mapped to ``+0.0`` so that the result does not depend on the sign
  of a floating-point zero.
* Blue function ``B = G^{-1}`` (the branch with ``B(w) ~ 1/w`` at ``w -> 0``),
  ``R(w) = B(w) - 1/w = sum_{k>=1} kappa_k w^{k-1}``, equivalently ``G(R(w) + 1/w) = w``.
* Moments are given as ``m = [m_1, m_2, ...]`` with ``m_0 = 1`` implied (probability-normalised
  moments); free cumulants as ``kappa = [kappa_1, kappa_2, ...]``.

Textbook references: J. A. Mingo and R. Speicher, *Free Probability and Random Matrices*
(Springer 2017), ch. 2-3 (moment-cumulant formula, R-transform); M. Potters and J.-P. Bouchaud,
*A First Course in Random Matrix Theory* (CUP 2020), ch. 2-3 and 12 (Stieltjes transform,
R-transform, free addition); S. T. Belinschi and H. Bercovici, J. Anal. Math. 101, 357-365
(2007) (subordination fixed point used by :class:`FreeAdditiveConvolution`). Keys such as
[BB2007]: docs/references.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

CArray = NDArray[np.complex128]

StieltjesFn = Callable[[Any], Any]

_EPS = np.finfo(np.float64).eps


Branch = Literal["auto", "right", "left"]


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
def as_upper(z: ArrayLike) -> CArray:
    """Complex copy of ``z`` with every imaginary ``-0.0`` replaced by ``+0.0``.

    A real point is thereby read as ``x + i0`` (upper lip of a cut on the real axis), whatever
    the sign of its floating-point zero (``-0.0 + 0.0 == +0.0`` in IEEE arithmetic).
    """
    zc = np.array(z, dtype=np.complex128, copy=True)
    if np.any(~np.isfinite(zc)):
        raise ValueError("z must be finite (no NaN or Inf)")
    return zc.real + 1j * (zc.imag + 0.0)


def _check_evals(evals: ArrayLike, name: str = "evals") -> Array:
    ev = np.asarray(evals, dtype=np.float64).ravel()
    if ev.size == 0:
        raise ValueError(f"{name} must be a non-empty array of eigenvalues")
    if not np.all(np.isfinite(ev)):
        raise ValueError(f"{name} must be finite (no NaN or Inf)")
    return ev


def _log1p_c(u: CArray) -> CArray:
    """``log(1 + u)`` for complex ``u``, accurate for small ``|u|`` (principal branch)."""
    re = 0.5 * np.log1p(2.0 * u.real + u.real**2 + u.imag**2)
    return re + 1j * np.arctan2(u.imag, 1.0 + u.real)


# --------------------------------------------------------------------------------------
# Stieltjes transforms
# --------------------------------------------------------------------------------------
def stieltjes_samples(evals: ArrayLike, z: ArrayLike, *, chunk: int = 2**22) -> CArray:
    r"""Stieltjes transform of an empirical spectral distribution.

    ``G(z) = (1/M) sum_i 1 / (z - lambda_i)`` (normalised ESD, arXiv:2507.17912 Eq. (134);
    Potters & Bouchaud 2020, eq. 2.7).

    Parameters
    ----------
    evals : array_like, shape (M,)
        Eigenvalues ``lambda_i`` (finite, at least one).
    z : array_like of complex
        Evaluation points, any shape. A real ``z`` is a point of the real axis; it must not
        coincide with an eigenvalue (a pole of ``G``).
    chunk : int
        Largest ``len(z) * M`` block formed at once (memory bound).

    Returns
    -------
    ndarray of complex, shape of ``z``

    Raises
    ------
    ValueError
        Empty or non-finite ``evals``; ``z`` equal to an eigenvalue.
    """
    ev = _check_evals(evals)
    zc = as_upper(z)
    flat = zc.ravel()
    out = np.empty(flat.shape, dtype=np.complex128)
    step = max(1, chunk // ev.size)
    for s in range(0, flat.size, step):
        d = flat[s : s + step, None] - ev[None, :]
        if np.any(d == 0):
            raise ValueError("z coincides with an eigenvalue: G has a pole there")
        out[s : s + step] = np.mean(1.0 / d, axis=1)
    return out.reshape(zc.shape)


def stieltjes_density(
    pdf: Callable[[Any], Any],
    support: tuple[float, float],
    z: ArrayLike,
    *,
    epsrel: float = 1e-13,
    limit: int = 400,
) -> CArray:
    r"""Stieltjes transform of a density with compact support, by adaptive quadrature.

    ``G(z) = \int_lo^hi pdf(x) / (z - x) dx`` (positive convention, docs/spectral_models.md).
    For ``z`` close to the support (``lo < Re z < hi`` and ``|Im z| < hi - lo``) the first two
    Taylor terms of the density at ``x0 = Re z`` are subtracted and integrated in closed form,

    ``\int (c0 + c1 (x - x0)) / (z - x) dx = (c0 + c1 (z - x0)) L - c1 (hi - lo)``,
    ``L = log(z - lo) - log(z - hi)``,

    so that the remaining integrand is bounded and smooth at ``x0``; ``Im z -> 0`` then gives the
    boundary value ``G(x0 + i0) = PV - i pi pdf(x0)`` without loss of accuracy. The difference of
    principal logarithms has its cut exactly on ``[lo, hi]``.

    Parameters
    ----------
    pdf : callable
        Vectorised density (accepts float arrays), integrable on ``[lo, hi]``.
    support : (float, float)
        Finite ``lo < hi`` outside which ``pdf`` vanishes.
    z : array_like of complex
        Evaluation points; real points are read as ``x + i0``.
    epsrel, limit : float, int
        Passed to :func:`scipy.integrate.quad` (real and imaginary parts separately). At this
        tolerance QUADPACK's roundoff detector fires now and then although the result is
        accurate; its ``IntegrationWarning`` is silenced (the accuracy, ~1e-13 relative and
        ~1e-9 within 1e-6 of a square-root edge, is checked against closed forms in the tests).

    Returns
    -------
    ndarray of complex, shape of ``z``
    """
    lo, hi = float(support[0]), float(support[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"support must be a finite interval lo < hi, got {support!r}")
    zc = as_upper(z)
    out = np.empty(zc.shape, dtype=np.complex128)

    def f1(x: float) -> float:
        return float(pdf(np.asarray(x, dtype=np.float64)))

    from scipy import integrate  # on first use: the HTSR analysis path never integrates

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for idx, zi in np.ndenumerate(zc):
            out[idx] = _stieltjes_density_1(f1, lo, hi, zi, epsrel, limit)
    return out


def _stieltjes_density_1(f1: Callable[[float], float], lo: float, hi: float, zi: complex,
                         epsrel: float, limit: int) -> complex:
    """One point of :func:`stieltjes_density`."""
    from scipy import integrate
    width = hi - lo
    x0, eta = zi.real, zi.imag
    # absolute floor far below |G| ~ 1/(width + |z - centre|), so that epsrel governs
    kw: dict[str, Any] = dict(epsabs=1e-3 * epsrel / (width + abs(zi - 0.5 * (lo + hi))),
                              epsrel=epsrel, limit=limit)
    # break points graded geometrically towards the point of the support nearest to z, so that
    # the adaptive rule resolves the near-singular factor 1/(z - x) on every scale
    xc = min(max(x0, lo), hi)
    d = abs(zi - xc)
    pts = {xc} if lo < xc < hi else set()
    if d > 0:
        step = d
        while step < width:
            pts.update(p for p in (xc - step, xc + step) if lo < p < hi)
            step *= 4.0
    points = sorted(pts) or None
    if lo < x0 < hi and abs(eta) < width:
        h = min(1e-5 * width, 0.5 * (x0 - lo), 0.5 * (hi - x0))
        c0 = f1(x0)
        c1 = (f1(x0 + h) - f1(x0 - h)) / (2.0 * h)

        def rem(x: float) -> complex:
            return (f1(x) - c0 - c1 * (x - x0)) / (zi - x)

        re = integrate.quad(lambda x: rem(x).real, lo, hi, points=points, **kw)[0]
        im = 0.0 if eta == 0 else integrate.quad(lambda x: rem(x).imag, lo, hi,
                                                 points=points, **kw)[0]
        L = np.log(zi - lo) - np.log(zi - hi)
        return complex(re + 1j * im + (c0 + c1 * (zi - x0)) * L - c1 * width)
    re = integrate.quad(lambda x: (f1(x) / (zi - x)).real, lo, hi, points=points, **kw)[0]
    im = 0.0 if eta == 0 else integrate.quad(lambda x: (f1(x) / (zi - x)).imag, lo, hi,
                                             points=points, **kw)[0]
    return complex(re + 1j * im)


# --------------------------------------------------------------------------------------
# functional inverse of G (Blue function) and R
# --------------------------------------------------------------------------------------
def _illinois(f: Callable[[Array, NDArray[np.intp]], Array], a: Array, b: Array, fa: Array,
              fb: Array, maxiter: int) -> Array:
    """Vectorised Illinois (modified regula falsi) root of ``f`` on brackets ``[a, b]``.

    ``f(x, idx)`` evaluates the function of the points ``idx`` at ``x``. ``fa``, ``fb`` have
    opposite signs (or vanish). Stops when a bracket is a few ulps wide or ``f`` vanishes; after
    three iterations without halving the bracket a bisection step is taken, so convergence is
    guaranteed (at worst linearly).
    """
    a, b, fa, fb = a.copy(), b.copy(), fa.copy(), fb.copy()
    side = np.zeros(a.shape, dtype=np.int8)
    stall = np.zeros(a.shape, dtype=np.int8)
    done = (fa == 0) | (fb == 0)
    for _ in range(maxiter):
        done |= np.abs(b - a) <= 4.0 * _EPS * np.maximum(np.abs(a), np.abs(b))
        ia = np.flatnonzero(~done)
        if ia.size == 0:
            break
        aa, bb, ffa, ffb = a[ia], b[ia], fa[ia], fb[ia]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            xr = (aa * ffb - bb * ffa) / (ffb - ffa)
        bis = (stall[ia] >= 3) | ~(np.minimum(aa, bb) < xr) | ~(xr < np.maximum(aa, bb))
        xr = np.where(bis, 0.5 * (aa + bb), xr)
        fx = f(xr, ia)
        old_w = np.abs(bb - aa)
        same_a = np.sign(fx) == np.sign(ffa)
        na = np.where(same_a, xr, aa)
        nfa = np.where(same_a, fx, np.where(side[ia] == -1, 0.5 * ffa, ffa))
        nb = np.where(same_a, bb, xr)
        nfb = np.where(same_a, np.where(side[ia] == 1, 0.5 * ffb, ffb), fx)
        side[ia] = np.where(same_a, 1, -1)
        a[ia], b[ia], fa[ia], fb[ia] = na, nb, nfa, nfb
        stall[ia] = np.where((np.abs(nb - na) <= 0.5 * old_w) | bis, 0, stall[ia] + 1)
        done[ia[fx == 0]] = True
    return np.where(np.abs(fa) <= np.abs(fb), a, b)


def _newton_blue(G: StieltjesFn, w: CArray, mid: float, scale: float, maxiter: int) -> CArray:
    """Damped Newton for ``1/G(B) = 1/w`` at complex ``w``; NaN where it does not converge."""
    target = 1.0 / w
    B = target + mid
    sgn = -np.sign(w.imag)  # B lies in the half plane opposite to w

    def phi(x: CArray) -> CArray:
        return 1.0 / G(x) - tgt

    res = np.full(w.shape, np.nan + 0j)
    act = np.arange(w.size)
    for _ in range(maxiter):
        if act.size == 0:
            break
        tgt = target[act]
        x = B[act]
        p = phi(x)
        h = 1e-7 * (np.abs(x) + scale)
        dp = (phi(x + h) - phi(x - h)) / (2.0 * h)
        step = p / dp
        t = np.ones(x.shape)
        xn = x - step
        for _ in range(40):  # backtrack: stay in the right half plane, decrease |phi|
            bad = (np.sign(xn.imag) != sgn[act]) | ~(np.abs(phi(xn)) <= np.abs(p))
            if not bad.any():
                break
            t = np.where(bad, 0.5 * t, t)
            xn = x - t * step
        B[act] = xn
        conv = np.abs(t * step) <= 4.0 * _EPS * (np.abs(xn) + scale)
        fin = act[conv]
        res[fin] = B[fin]
        act = act[~conv]
    return res


def inverse_stieltjes(
    G: StieltjesFn,
    w: ArrayLike,
    support: tuple[float, float],
    *,
    branch: Branch = "auto",
    out_of_domain: Literal["raise", "nan"] = "raise",
    hard_edges: bool = False,
    maxiter: int = 200,
) -> CArray:
    r"""Blue function ``B(w) = G^{-1}(w)``: the point ``B`` off the support with ``G(B) = w``.

    Real ``w`` (docs/spectral_models.md): on the real axis right of the support ``G`` decreases from
    ``G(hi^+)`` to ``0^+``, left of it from ``0^-`` to ``G(lo^-)``. ``B`` is found on the branch

    * ``"right"``: ``B > hi`` (needs ``0 < w < G(hi^+)``),
    * ``"left"``: ``B < lo`` (needs ``G(lo^-) < w < 0``),
    * ``"auto"``: right for ``w > 0``, left for ``w < 0``,

    by a bracketing root finder (vectorised Illinois) on ``1/G(B) - 1/w``, which is monotone and
    nearly linear, inside the rigorous bracket ``B in [1/w + lo, 1/w + hi]`` (from
    ``1/(x - lo) <= G(x) <= 1/(x - hi)`` for ``x > hi`` and the mirror statement for ``x < lo``)
    intersected with the branch. Consequently ``R(w) = B(w) - 1/w`` lies in ``[lo, hi]``.

    Complex ``w`` (``Im w != 0``): damped Newton iteration on ``1/G(B) = 1/w`` started at
    ``1/w + (lo + hi)/2`` and kept in the half plane ``Im B * Im w < 0`` (``G`` maps the upper
    half plane into the lower one). It converges for ``w`` in the part of the range of ``G``
    near 0 on which ``B`` is univalent (Mingo & Speicher 2017, ch. 3; Potters & Bouchaud 2020,
    sec. 3.1).

    Parameters
    ----------
    G : callable
        Vectorised Stieltjes transform of a probability measure supported in ``support``;
        called with real arrays (points of the real axis off the support) and complex arrays.
    w : array_like
        Points of the ``w`` plane, nonzero and finite.
    support : (float, float)
        Finite interval ``[lo, hi]`` containing the support.
    branch : {"auto", "right", "left"}
        Branch for real ``w``; ignored for complex ``w``.
    out_of_domain : {"raise", "nan"}
        What to do for a real ``w`` that no point of its branch maps to (e.g. ``w > G(hi^+)``
        for Marchenko-Pastur) or a complex ``w`` where Newton does not converge.
    hard_edges : bool
        Declare that ``G`` diverges at both ends of the support (density positive there, or
        atoms). ``G`` is then evaluated at ``hi + delta`` / ``lo - delta``
        (``delta = 8 eps max(|lo|, |hi|, hi - lo, 1)``); a ``w`` beyond those values has its
        preimage within ``delta`` of the edge and ``B = hi + delta`` (``lo - delta``) is
        returned, exact to ``delta``. (For a truncated power law with a small edge density,
        ``G(hi + delta)`` is only logarithmically large.)
    maxiter : int
        Iteration cap of the root finders.

    Returns
    -------
    ndarray of complex, shape of ``w``
    """
    lo, hi = float(support[0]), float(support[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"support must be a finite interval lo <= hi, got {support!r}")
    if branch not in ("auto", "right", "left"):
        raise ValueError(f"branch must be 'auto', 'right' or 'left', got {branch!r}")
    if out_of_domain not in ("raise", "nan"):
        raise ValueError(f"out_of_domain must be 'raise' or 'nan', got {out_of_domain!r}")
    wc = as_upper(w)
    if np.any(wc == 0):
        raise ValueError("w = 0 has no preimage (B(w) ~ 1/w); R(0) = kappa_1 is the mean")
    flat = wc.ravel()
    out = np.full(flat.shape, np.nan + 0j)
    real = flat.imag == 0
    scale = max(abs(lo), abs(hi), hi - lo, 1.0)
    delta = 8.0 * _EPS * scale

    def Fr(x: Array) -> Array:
        return 1.0 / np.real(G(x))

    for right in (True, False):
        sel = real & ((flat.real > 0) if right else (flat.real < 0))
        if not sel.any():
            continue
        if branch == ("left" if right else "right"):
            raise ValueError(f"branch={branch!r} needs w of the other sign")
        ws = flat.real[sel]
        inv = 1.0 / ws
        if right:  # B in [max(hi, 1/w + lo), 1/w + hi]
            edge = hi + delta
            a = np.maximum(edge, inv + lo)
            b = np.maximum(inv + hi, a)
        else:  # B in [1/w + lo, min(lo, 1/w + hi)]
            edge = lo - delta
            b = np.minimum(edge, inv + hi)
            a = np.minimum(inv + lo, b)
        fa = Fr(a) - inv
        fb = Fr(b) - inv
        # analytically F(1/w + lo) <= 1/w <= F(1/w + hi); a violated end that is not the edge
        # is a rounding effect and is itself the root. A violated edge end means w lies beyond
        # G(edge): out of the branch's range, or (hard_edges) within delta of the edge.
        bad_a, bad_b = fa > 0, fb < 0
        round_a = bad_a & (a != edge) if right else bad_a
        round_b = bad_b if right else bad_b & (b != edge)
        beyond = (bad_a & ~round_a) | (bad_b & ~round_b)
        ok = ~beyond
        pinned = beyond & hard_edges
        ok |= pinned
        if not ok.all() and out_of_domain == "raise":
            bad = ws[~ok]
            g_edge = float(np.real(G(np.array([edge])))[0])
            raise ValueError(
                f"{bad.size} real w outside the range of G on the "
                f"{'right' if right else 'left'} branch (first: w = {bad[0]!r}); that branch "
                f"covers 0 < |w| < |G(edge)| = {abs(g_edge)!r}")
        res = np.full(ws.shape, np.nan)
        res[pinned] = edge
        res[round_a & ~beyond] = a[round_a & ~beyond]
        res[round_b & ~beyond] = b[round_b & ~beyond]
        solve = ok & ~pinned & ~round_a & ~round_b
        if solve.any():
            inv_ok = inv[solve]
            res[solve] = _illinois(lambda x, idx, t=inv_ok: Fr(x) - t[idx],
                                   a[solve], b[solve], fa[solve], fb[solve], maxiter)
        out[np.flatnonzero(sel)] = res

    cpx = ~real
    if cpx.any():
        val = _newton_blue(G, flat[cpx], 0.5 * (lo + hi), scale, maxiter)
        if out_of_domain == "raise" and np.any(np.isnan(val)):
            raise ValueError("Newton iteration for G(B) = w did not converge at some complex w "
                             "(outside the univalent range of G?)")
        out[np.flatnonzero(cpx)] = val
    return out.reshape(wc.shape)


def r_from_stieltjes(
    G: StieltjesFn,
    w: ArrayLike,
    support: tuple[float, float],
    *,
    mean: float | None = None,
    branch: Branch = "auto",
    out_of_domain: Literal["raise", "nan"] = "raise",
    hard_edges: bool = False,
) -> CArray:
    r"""R-transform by numerical inversion, ``R(w) = G^{-1}(w) - 1/w`` (docs/spectral_models.md).

    Parameters
    ----------
    G, w, support, branch, out_of_domain, hard_edges
        As in :func:`inverse_stieltjes`.
    mean : float, optional
        The mean ``kappa_1 = R(0)``, returned at ``w == 0`` (where the inversion has no
        preimage). Without it ``w == 0`` raises ``ValueError``.

    Returns
    -------
    ndarray of complex, shape of ``w``

    Notes
    -----
    ``B`` is computed to a few ulps, so the absolute error of ``R`` is about ``eps / |w|``; for
    ``|w| << 1`` the free-cumulant series (:func:`moments_to_free_cumulants`) is more accurate.
    """
    wc = as_upper(w)
    zero = wc == 0
    if zero.any() and mean is None:
        raise ValueError("R(0) = kappa_1 needs mean=...; w = 0 has no preimage under G")
    out = np.empty(wc.shape, dtype=np.complex128)
    if zero.any():
        out[zero] = mean
    nz = ~zero
    if nz.any():
        B = inverse_stieltjes(G, wc[nz], support, branch=branch, out_of_domain=out_of_domain,
                              hard_edges=hard_edges)
        out[nz] = B - 1.0 / wc[nz]
    return out

