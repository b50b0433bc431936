"""The spectral models' generating functions ``G(lambda)`` and ``Q^2 = sum_ECS G``.

Each model's ``G(lambda) = int_{lambda_min}^{lambda} Re R(z) dz`` (the paper's layer quality
as a sum over the ECS, arXiv:2507.17912; docs/quality.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import NotApplicable, QualityError
from ..rmt import (
    EmpiricalSpectrum,
    FreeCauchy,
    InverseMarchenkoPastur,
    LevyPowerLaw,
    TruncatedPowerLaw,
)
from ..util import plain

Array = NDArray[np.float64]


# ======================================================================================
# Layer generating functions G(lambda) = int_{lambda_min}^{lambda} Re R  and  Q^2
# ======================================================================================
def _positive(values: ArrayLike, name: str) -> Array:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise QualityError(f"{name}: no eigenvalues")
    if not np.all(np.isfinite(v)):
        raise QualityError(f"{name}: contains NaN or Inf")
    if np.any(v <= 0):
        raise QualityError(f"{name}: eigenvalues must be > 0 (min {v.min():.3g})")
    return v


def _lam_min(lambda_min: float, name: str = "lambda_min") -> float:
    lm = float(lambda_min)
    if not (math.isfinite(lm) and lm > 0):
        raise QualityError(f"{name} must be positive and finite, got {lambda_min!r} "
                           "(the G integrals start there)")
    return lm


def _finite(g: Array, what: str) -> Array:
    g = np.asarray(g, dtype=np.float64)
    if not np.all(np.isfinite(g)):
        raise QualityError(f"{what}: the integral is not finite for these parameters")
    return g


_GL_CACHE: dict[int, tuple[Array, Array]] = {}


def integrate_re_r(r: Callable[[Array], Any], lams: ArrayLike, lam_min: float, *,
                   method: str = "auto", rtol: float = 1e-12, nodes: int = 6,
                   max_ratio: float = 1.5) -> Array:
    """``int_{lam_min}^{lambda} Re r(w) dw`` for every ``lambda`` in ``lams``, vectorised.

    For R-transforms evaluated numerically (truncated power law, empirical ESD) a few
    vectorised calls of ``r`` are much cheaper than adaptive quadrature per eigenvalue.
    ``r`` must be smooth (real-analytic) on ``[lam_min, max(lams)]``: no branch point or pole
    inside.

    * ``method="chebyshev"``: with ``t = ln w`` the integrand ``Re r(e^t) e^t`` is interpolated
      at ``n = 16, 32, ..., 1024`` Chebyshev points until the last three coefficients are below
      ``rtol`` times the largest, then the Chebyshev series is integrated exactly
      (Trefethen, *Approximation Theory and Approximation Practice*, ch. 19).
    * ``method="panels"``: the interval is cut at every ``lambda`` and into geometric panels of
      ratio ``<= max_ratio``, with a ``nodes``-point Gauss-Legendre rule on each.
    * ``method="auto"`` (default): Chebyshev, falling back to panels when it does not converge.

    Parameters
    ----------
    r : callable
        Vectorised, called with 1-D float arrays; its real part is integrated.
    lams : array
        Upper limits, each ``>= lam_min``.
    lam_min : float
        Common lower limit, ``> 0``.
    """
    if method not in ("auto", "chebyshev", "panels"):
        raise ValueError(f"method must be 'auto', 'chebyshev' or 'panels', got {method!r}")
    lm = _lam_min(lam_min)
    lam = np.asarray(lams, dtype=np.float64)
    flat = lam.ravel()
    if flat.size == 0:
        return np.zeros(lam.shape)
    if not np.all(np.isfinite(flat)) or np.any(flat < lm):
        raise QualityError("integrate_re_r: every upper limit must be finite and >= lam_min")
    top = float(flat.max())
    if top == lm:
        return np.zeros(lam.shape)
    if method != "panels":
        out = _integrate_chebyshev(r, np.log(flat), math.log(lm), math.log(top), rtol)
        if out is not None:
            return out.reshape(lam.shape)
        if method == "chebyshev":
            raise QualityError("integrate_re_r: the Chebyshev interpolant of Re R did not "
                               "converge (is R smooth on the interval?)")
    return _integrate_panels(r, flat, lm, nodes, max_ratio).reshape(lam.shape)


def _integrate_chebyshev(r: Callable[[Array], Any], t: Array, t0: float, t1: float,
                         rtol: float) -> Array | None:
    cheb = np.polynomial.chebyshev.Chebyshev

    def f(tt: Array) -> Array:
        return np.real(np.asarray(r(np.exp(tt)))) * np.exp(tt)

    for deg in (16, 32, 64, 128, 256, 512, 1024):
        p = cheb.interpolate(f, deg, domain=[t0, t1])
        c = np.abs(p.coef)
        if not np.all(np.isfinite(c)):
            return None
        if c[-3:].max() <= rtol * max(c.max(), np.finfo(float).tiny):
            return p.integ(lbnd=t0)(t)
    return None


def _integrate_panels(r: Callable[[Array], Any], flat: Array, lm: float, nodes: int,
                      max_ratio: float) -> Array:
    if nodes not in _GL_CACHE:
        _GL_CACHE[nodes] = np.polynomial.legendre.leggauss(nodes)
    gx, gw = _GL_CACHE[nodes]
    brk = np.unique(np.concatenate([[lm], flat]))
    lo, hi = brk[:-1], brk[1:]
    nsub = np.maximum(1, np.ceil(np.log(hi / lo) / math.log(max_ratio))).astype(int)
    owner = np.repeat(np.arange(lo.size), nsub)  # panel -> break interval
    j = np.arange(owner.size) - np.repeat(np.cumsum(nsub) - nsub, nsub)
    ratio = hi[owner] / lo[owner]
    a = lo[owner] * ratio ** (j / nsub[owner])
    b = lo[owner] * ratio ** ((j + 1) / nsub[owner])
    b[np.cumsum(nsub) - 1] = hi  # exact interval ends
    half, mid = 0.5 * (b - a), 0.5 * (b + a)
    w = (mid[:, None] + half[:, None] * gx[None, :]).ravel()
    val = np.real(np.asarray(r(w))).reshape(a.size, nodes)
    panel = half * (val @ gw)
    per_interval = np.bincount(owner, weights=panel, minlength=lo.size)
    cum = np.concatenate([[0.0], np.cumsum(per_interval)])
    return cum[np.searchsorted(brk, flat)]


# -- Bulk + Spikes / discrete model ---------------------------------------------------------
_BS_VARIANTS = ("paper_text", "table")


def bulk_spikes_constant(ecs_evals: ArrayLike, variant: str = "paper_text") -> float:
    """The constant ``R`` of the discrete (Bulk+Spikes) model (arXiv:2507.17912 Sec. 5.4.3).

    ``"paper_text"``: ``R = sum_ECS lambda_i`` (Sec. 5.4.3 text, atom R-transforms added);
    ``"table"``: ``R = (1/M_ECS) sum_ECS lambda_i`` (Table 8).
    """
    if variant not in _BS_VARIANTS:
        raise ValueError(f"variant must be one of {_BS_VARIANTS}, got {variant!r}")
    ev = _positive(ecs_evals, "ecs_evals")
    return float(ev.sum() if variant == "paper_text" else ev.mean())


def g_bulk_spikes(lams: ArrayLike, lambda_min: float, c: float, *, exact: bool = False) -> Array:
    """``G_BS(lambda) = c (lambda - lambda_min)`` (``exact=True``) or ``c lambda``
    (``exact=False``, the paper's ``lambda_min ~ 0``) for the constant ``R = c``
    (arXiv:2507.17912 Sec. 5.4.3, Tables 8-9)."""
    lam = np.asarray(lams, dtype=np.float64)
    return c * (lam - _lam_min(lambda_min)) if exact else c * lam


def q2_bulk_spikes(ecs_evals: ArrayLike, lambda_min: float | None = None, *,
                   variant: str = "paper_text", exact: bool = False) -> float:
    """Bulk+Spikes layer quality squared ``Q^2 = sum_ECS G_BS(lambda_i)``.

    With the defaults (``variant="paper_text"``, ``exact=False``, our choice: docs/quality.md)
    ``Q^2 = (sum_ECS lambda)^2``, i.e. ``Q = sum_ECS lambda_i = Tr X_ECS``, the paper's Table 9
    Bulk+Spikes row ``log Q = log(sum lambda_i)`` (the paper calls this tail norm a
    Frobenius norm; it is the squared Frobenius norm of the projected W).
    ``lambda_min`` defaults to the smallest ECS eigenvalue (used only with ``exact=True``).
    """
    ev = _positive(ecs_evals, "ecs_evals")
    c = bulk_spikes_constant(ev, variant)
    lm = ev.min() if lambda_min is None else lambda_min
    return float(np.sum(g_bulk_spikes(ev, lm, c, exact=exact)))


# -- Free Cauchy ---------------------------------------------------------------------------
def fit_free_cauchy(ecs_evals: ArrayLike) -> FreeCauchy:
    """The free-Cauchy model of an ECS: ``a = median``, ``gamma = IQR / 2``.

    The paper gives no rule for ``a`` (its Sec. 5.4.4 calls it "a shift"). Our choice: the
    quantile estimators of a Cauchy law's location and half-width (for a Cauchy law the
    median is ``a`` and the interquartile range is ``2 gamma``), robust to the heavy tail.
    """
    ev = _positive(ecs_evals, "ecs_evals")
    q1, med, q3 = np.quantile(ev, [0.25, 0.5, 0.75])
    if not q3 > q1:
        raise QualityError("free Cauchy fit: the ECS eigenvalues have zero interquartile range")
    return FreeCauchy(float(med), float(0.5 * (q3 - q1)))


def g_free_cauchy(lams: ArrayLike, lambda_min: float, a: float) -> Array:
    """``Re G_FC(lambda) = a (lambda - lambda_min)`` for ``R = a + i gamma``
    (arXiv:2507.17912 Sec. 5.4.4, Table 8 free Cauchy row), via :meth:`FreeCauchy.integrated_r`."""
    return FreeCauchy(a, 1.0).integrated_r(np.asarray(lams, dtype=np.float64),
                                           _lam_min(lambda_min))


def q2_free_cauchy(ecs_evals: ArrayLike, lambda_min: float | None = None, *,
                   a: float | None = None) -> float:
    """Free-Cauchy ``Q^2 = a sum_ECS (lambda_i - lambda_min)`` (docs/quality.md, ``fc`` row).

    ``a`` defaults to the ECS median (:func:`fit_free_cauchy`); ``lambda_min`` to the smallest
    ECS eigenvalue. The paper's heuristic ``Q^2 ~ a lambda_max`` (``lambda_min ~ 0``, one
    dominant eigenvalue) is not applied.
    """
    ev = _positive(ecs_evals, "ecs_evals")
    av = fit_free_cauchy(ev).a if a is None else float(a)
    lm = ev.min() if lambda_min is None else lambda_min
    return float(np.sum(g_free_cauchy(ev, lm, av)))


# -- Levy-Wigner ---------------------------------------------------------------------------
def levy_wigner_b(alpha: float, m_ecs: int) -> float:
    """The paper's ``b = (alpha - 1)/M_ECS`` (with ``a = 0``): it makes the lower-limit-0 integral
    ``sum_ECS b lambda^{alpha-1}/(alpha-1)`` equal to the Schatten form
    ``(1/M_ECS) sum lambda^{alpha-1}`` of arXiv:2507.17912 Sec. 5.4.7."""
    if not alpha > 1:
        raise NotApplicable(f"Levy-Wigner needs alpha > 1, got {plain(alpha)!r}")
    return (float(alpha) - 1.0) / int(m_ecs)


def g_levy_wigner(lams: ArrayLike, lambda_min: float, alpha: float, *, a: float = 0.0,
                  b: float = 1.0) -> Array:
    """``G_LW(lambda) = a (lambda - lambda_min) + b (lambda^{alpha-1} - lambda_min^{alpha-1})
    / (alpha - 1)``, the true integral of ``R = a + b z^{alpha-2}`` (Table 8; our choice,
    docs/quality.md, where the paper's Sec. 5.4.7 writes ``b lambda^{alpha-2}/(alpha-2)``), via
    :meth:`LevyPowerLaw.integrated_r`; the model is defined for ``1 < alpha <= 2``."""
    if not 1.0 < alpha <= 2.0:
        raise NotApplicable(f"the Levy-Wigner model is for 1 < alpha <= 2 (alpha = alpha_Levy + "
                            f"1, arXiv:2507.17912 Table 8), got alpha = {alpha:.3g}")
    return LevyPowerLaw(a, b, alpha).integrated_r(np.asarray(lams, dtype=np.float64),
                                                   _lam_min(lambda_min))


def q2_levy_wigner(ecs_evals: ArrayLike, lambda_min: float | None, alpha: float, *,
                   a: float = 0.0, b: float | None = None) -> float:
    """Levy-Wigner ``Q^2 = sum_ECS G_LW(lambda_i)`` with the true integral from
    ``lambda_min`` (default: smallest ECS eigenvalue).

    Defaults ``a = 0``, ``b = (alpha - 1)/M_ECS`` (the paper's choice, :func:`levy_wigner_b`),
    so that ``Q^2 = q2_levy_paper(ecs, alpha) - lambda_min^{alpha - 1}``.
    """
    ev = _positive(ecs_evals, "ecs_evals")
    bv = levy_wigner_b(alpha, ev.size) if b is None else float(b)
    lm = ev.min() if lambda_min is None else lambda_min
    return float(np.sum(_finite(g_levy_wigner(ev, lm, alpha, a=a, b=bv), "Levy-Wigner G")))


# -- inverse Marchenko-Pastur --------------------------------------------------------------
def imp_kappa(alpha: float) -> float:
    """``kappa = alpha / 2``: the paper's empirical association ``alpha ~ 2 kappa``
    (arXiv:2507.17912 Sec. 5.4.5, Fig. 12(b); docs/quality.md)."""
    if not (math.isfinite(alpha) and alpha > 0):
        raise QualityError(
            f"IMP needs a positive alpha (kappa = alpha/2), got {plain(alpha)!r}")
    return 0.5 * float(alpha)


_IMP_FORMS = ("integral", "log")


def g_imp(lams: ArrayLike, lambda_min: float, kappa: float, *, form: str = "integral") -> Array:
    """IMP layer function (arXiv:2507.17912 Sec. 5.4.5, App. A.8; docs/spectral_models.md).

    ``form="integral"`` (default): ``int_{lambda_min}^{lambda} Re R`` with
    ``R(z) = (kappa - sqrt(kappa(kappa - 2z)))/z`` integrated piecewise across the branch point
    ``kappa/2`` (``Re R = kappa/z`` beyond it), :meth:`InverseMarchenkoPastur.integrated_r`.
    ``form="log"``: the paper's ``G_IMP = kappa (ln lambda - ln lambda_min)``, equal to the
    integral when ``lambda_min >= kappa/2``.
    """
    if form not in _IMP_FORMS:
        raise ValueError(f"form must be one of {_IMP_FORMS}, got {form!r}")
    lm = _lam_min(lambda_min)
    lam = np.asarray(lams, dtype=np.float64)
    if form == "log":
        return kappa * (np.log(lam) - math.log(lm))
    return InverseMarchenkoPastur(kappa).integrated_r(lam, lm)


def q2_imp(ecs_evals: ArrayLike, lambda_min: float | None = None, *, alpha: float | None = None,
           kappa: float | None = None, form: str = "integral") -> float:
    """IMP ``Q^2 = sum_ECS G_IMP(lambda_i)`` with ``kappa = alpha/2`` (the text derivation of
    arXiv:2507.17912 Sec. 5.4.5; our choice, docs/quality.md) unless ``kappa`` is given.

    The leading behaviour is ``Q^2 ~ (alpha/2) ln(lambda_max/lambda_min)``; the Table 9 row is
    :func:`imp_gtable_logq`.
    """
    ev = _positive(ecs_evals, "ecs_evals")
    if kappa is None:
        if alpha is None:
            raise QualityError("q2_imp needs alpha (kappa = alpha/2) or kappa")
        kappa = imp_kappa(alpha)
    lm = ev.min() if lambda_min is None else lambda_min
    return float(np.sum(_finite(g_imp(ev, lm, kappa, form=form), "IMP G")))


def imp_gtable_logq(lambda_max: float, lambda_min: float, alpha: float) -> float:
    """The paper's table value ``log10 Q = 2 alpha (log10 lambda_max - log10 lambda_min)``
    (arXiv:2507.17912 Table 9, IMP row, as printed; it disagrees with the text's ``alpha/2`` of
    Sec. 5.4.5, docs/quality.md).
    This is ``log10 Q`` itself, not ``Q^2``."""
    lm = _lam_min(lambda_min)
    if not (math.isfinite(lambda_max) and lambda_max >= lm):
        raise QualityError(
            f"lambda_max must be finite and >= lambda_min, got {plain(lambda_max)!r}")
    return 2.0 * float(alpha) * (math.log10(lambda_max) - math.log10(lm))


# -- truncated power law -------------------------------------------------------------------
def g_tpl(lams: ArrayLike, lambda_min: float, alpha: float, lambda_max: float) -> Array:
    """Truncated power-law layer function ``int_{lambda_min}^{lambda} Re R_TPL``
    (arXiv:2507.17912 App. A.7), ``rho = C x^{-alpha}`` on ``[lambda_min, lambda_max]``, ``R`` by
    numerical inversion of ``G`` (:class:`TruncatedPowerLaw`), integrated by :func:`integrate_re_r`.

    For ``lambda`` of the order of the eigenvalues, ``w = lambda`` lies far beyond the range of
    ``G`` near 0 (Eq. (132); docs/quality.md): the hard edge pins ``G^{-1}(w)`` at
    ``lambda_max`` and ``R(w) ~ lambda_max - 1/w``, so ``G ~ lambda_max (lambda - lambda_min) -
    ln(lambda / lambda_min)``. That is what the paper's prescription gives for this model.
    """
    lm = _lam_min(lambda_min)
    if not lambda_max > lm:
        raise QualityError(
            f"TPL needs lambda_max > lambda_min, got {plain(lambda_max)!r} <= {plain(lm)!r}")
    try:
        tpl = TruncatedPowerLaw(float(alpha), lm, float(lambda_max))
    except ValueError as exc:
        raise QualityError(str(exc)) from exc
    return integrate_re_r(tpl.r_transform, lams, lm)


def q2_tpl(ecs_evals: ArrayLike, lambda_min: float | None, alpha: float, *,
           lambda_max: float | None = None) -> float:
    """TPL ``Q^2 = sum_ECS G_TPL(lambda_i)`` with the model's ``alpha`` = the fitted HTSR
    alpha and its support ``[lambda_min^ECS, lambda_max]`` = the ECS range (our rule)."""
    ev = _positive(ecs_evals, "ecs_evals")
    lm = ev.min() if lambda_min is None else lambda_min
    lx = ev.max() if lambda_max is None else lambda_max
    return float(np.sum(_finite(g_tpl(ev, lm, alpha, lx), "TPL G")))


# -- empirical ESD: computational R-transform (free cumulants) and exact R ---------------------
def g_series_from_cumulants(kappas: ArrayLike, x: ArrayLike) -> Array:
    """``sum_{k=1}^{K} (kappa_k / k) x^k = int_0^x sum_k kappa_k w^{k-1} dw`` (Horner), the
    integrated truncated R series (arXiv:2507.17912 Eq. (163), Sec. 5.5)."""
    kap = np.real(np.asarray(kappas, dtype=np.complex128)).ravel()
    xv = np.asarray(x, dtype=np.float64)
    out = np.zeros(xv.shape)
    for k in range(kap.size, 0, -1):
        out = (out + kap[k - 1] / k) * xv
    return out


_EMP_METHODS = ("series", "inversion")


def g_empirical(lams: ArrayLike, ecs_evals: ArrayLike, *, method: str = "series", K: int = 5,
                moment_norm: str = "mean", standardize: bool = False, rescale: bool = True,
                exact: bool = False, lambda_min: float | None = None) -> Array:
    """Layer function of the empirical ECS spectrum.

    ``method="series"`` (arXiv:2507.17912 Sec. 5.5): free cumulants ``kappa_1..kappa_K`` of
    the ECS eigenvalues (``moment_norm="mean"``: normalised moments, our choice;
    ``"sum"``: the paper's ``Tr X^k``; ``standardize=True``: the paper's mean-centred and
    standardised eigenvalues), ``G(lambda) = sum_k (kappa_k/k)(lambda/M_ECS)^k`` (``rescale=False``
    drops the ``1/M_ECS``); lower limit 0 as in the paper, or ``lambda_min`` with
    ``exact=True``. The cumulants come from the (possibly standardised) values, ``G`` is
    evaluated at the ECS eigenvalues as given.

    ``method="inversion"`` (docs/spectral_models.md): the exact R of the normalised ECS ESD by
    inversion
    of ``G(z) = mean 1/(z - lambda_i)``, integrated from ``lambda_min`` (default: the smallest
    ECS eigenvalue) as in Eq. (132). As for the TPL, ``w = lambda`` is beyond the range of
    ``G`` near 0 and ``R(w) ~ lambda_max - 1/w`` there.
    """
    if method not in _EMP_METHODS:
        raise ValueError(f"method must be one of {_EMP_METHODS}, got {method!r}")
    ev = _positive(ecs_evals, "ecs_evals")
    lm = float(ev.min()) if lambda_min is None else _lam_min(lambda_min)
    lam = np.asarray(lams, dtype=np.float64)
    if method == "inversion":
        es = EmpiricalSpectrum(ev)
        return integrate_re_r(es.r_transform, lam, lm)
    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    try:
        es = EmpiricalSpectrum(ev, moment_norm=moment_norm, standardize=standardize)
    except ValueError as exc:
        raise QualityError(str(exc)) from exc
    kap = es.free_cumulants(int(K))
    scale = 1.0 / ev.size if rescale else 1.0
    g = g_series_from_cumulants(kap, lam * scale)
    if exact:
        g = g - g_series_from_cumulants(kap, np.asarray(lm * scale))
    return g


def q2_empirical(ecs_evals: ArrayLike, lambda_min: float | None = None, *,
                 method: str = "series", K: int = 5, moment_norm: str = "mean",
                 standardize: bool = False, rescale: bool = True, exact: bool = False) -> float:
    """Empirical ``Q^2 = sum_ECS G(lambda_i)`` (:func:`g_empirical`; the computational
    R-transform of arXiv:2507.17912 Sec. 5.5 for ``method="series"``)."""
    ev = _positive(ecs_evals, "ecs_evals")
    g = g_empirical(ev, ev, method=method, K=K, moment_norm=moment_norm,
                    standardize=standardize, rescale=rescale, exact=exact,
                    lambda_min=lambda_min)
    return float(np.sum(_finite(g, "empirical G")))


def log10_quality(q2: float) -> float:
    """``log10 Q = log10(Q^2) / 2``; ``QualityError`` when ``Q^2`` is not positive and finite
    (so that no NaN is passed on as a quality)."""
    v = float(q2)
    if not math.isfinite(v):
        raise QualityError(f"Q^2 = {v} is not finite")
    if v <= 0:
        raise QualityError(f"Q^2 = {v:.4g} <= 0: the layer quality Q = sqrt(Q^2) is undefined")
    return 0.5 * math.log10(v)

