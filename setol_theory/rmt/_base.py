"""The common interface of the spectral models (limiting eigenvalue densities).

Every model of :mod:`setol_theory.rmt` is a frozen dataclass with a uniform interface in the
spirit of ``scipy.stats``: ``pdf``, ``cdf``, ``ppf``, ``support``, ``moment`` / ``moments``,
``sample_eigenvalues`` / ``sample_matrix`` (where a matrix ensemble exists), ``stieltjes`` (G),
``r_transform`` (R), ``free_cumulants``, ``integrated_r`` (the paper's layer function
``int Re R``), ``inversion_domain`` and ``r_series_radius``. A method that does not exist for a
model raises ``NotImplementedError`` saying why; parameters are validated on construction
(``ValueError`` naming the parameter and its allowed range).

Conventions (docs/glossary.md, docs/spectral_models.md):

* a layer ``W`` is ``N x M`` with ``N >= M``, ``X = W^T W / N``, ``q = M / N = 1 / Q <= 1``;
* ``G(z) = int rho(x) / (z - x) dx`` (positive convention, ``G ~ 1/z``), so
  ``rho(x) = -Im G(x + i0) / pi``; a real ``z`` is read as ``x + i0``;
* ``R(w) = G^{-1}(w) - 1/w = sum_k kappa_k w^{k-1}``;
* branch cuts: for a real argument lying on a cut, ``side`` selects the boundary value:
  ``"upper"`` (default, the limit from ``Im > 0``), ``"lower"`` (from ``Im < 0``), ``"real"``
  (the real part, i.e. the mean of both lips -- what the paper integrates) or ``"raise"``.
  Off the cuts every function is on its principal (physical) sheet; ``stieltjes`` and
  ``r_transform`` always return complex arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._cumulants import integrated_r, moments_to_free_cumulants
from ._stieltjes import as_upper

CArray = NDArray[np.complex128]

Array = NDArray[np.float64]

CArray = NDArray[np.complex128]

Side = Literal["upper", "lower", "real", "raise"]

RNG = np.random.Generator | int | None


def real_branch_domain(m: Any) -> tuple[float, float]:
    """Real ``w`` interval on which ``G(R(w) + 1/w) = w`` (finite even at a hard edge).

    At a hard edge (truncated power law) ``G`` diverges only logarithmically, so the end of
    the branch is taken at ``G`` evaluated 5% of the support width beyond the edge.
    """
    w_lo, w_hi = m.inversion_domain()
    if not (math.isfinite(w_lo) and math.isfinite(w_hi)):
        a, b = m.support()
        if not math.isfinite(w_hi):
            w_hi = float(np.real(m.stieltjes(b + 0.05 * (b - a))))
        if not math.isfinite(w_lo):
            w_lo = float(np.real(m.stieltjes(a - 0.05 * (b - a)))) if a > -math.inf else -w_hi
    return w_lo, w_hi


_SIDES = ("upper", "lower", "real", "raise")


# Gauss-Legendre nodes on [-1, 1]; the CDF integrand below is analytic in theta,
# so 64 nodes integrate it to machine precision.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)


# 32-point rule for the panels of the truncated-power-law Stieltjes quadrature
_GL32_X, _GL32_W = np.polynomial.legendre.leggauss(32)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _param(cls: str, name: str, value: Any, lo: float = -math.inf, hi: float = math.inf,
           lo_open: bool = True, hi_open: bool = True, nonzero: bool = False) -> float:
    """Validate a real parameter; ``ValueError`` names it and its allowed range."""
    rng_txt = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if nonzero:
        rng_txt = "real and nonzero"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{cls}: {name} must be a real number in {rng_txt}, "
                         f"got {value!r}") from None
    ok = math.isfinite(v)
    ok = ok and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    ok = ok and not (nonzero and v == 0.0)
    if not ok:
        raise ValueError(f"{cls}: {name} must lie in {rng_txt}, got {value!r}")
    return v


def _check_side(side: str) -> None:
    if side not in _SIDES:
        raise ValueError(f"side must be one of {_SIDES}, got {side!r}")


def _select_lip(upper: CArray, side: str, where: str) -> CArray:
    """Boundary values on a cut from the upper-lip values (Schwarz reflection)."""
    if side == "upper":
        return upper
    if side == "lower":
        return np.conj(upper)
    if side == "real":
        return upper.real + 0j
    raise ValueError(f"{where}: a real argument lies on the branch cut; pass side='upper', "
                     "'lower' or 'real' to choose a boundary value")


def _rng(rng: RNG) -> np.random.Generator:
    return np.random.default_rng(rng)


def _nan_through(x: Array, val: Array) -> Array:
    """``val`` with NaN wherever the argument ``x`` is NaN (masks would map NaN to 0 or 1)."""
    return np.where(np.isnan(x), np.nan, val)


def _pos_int(name: str, n: Any) -> int:
    if int(n) != n or int(n) < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def _bisect_ppf(cdf: Callable[[Array], Array], p: ArrayLike, lo: float, hi: float,
                name: str, tol: float = 1e-14) -> Array:
    """Vectorised bisection for the quantile function of a continuous law on ``[lo, hi]``."""
    p = np.asarray(p, dtype=np.float64)
    if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
        raise ValueError(f"{name}.ppf: probabilities p must lie in [0, 1]")
    a = np.full(p.shape, lo)
    b = np.full(p.shape, hi)
    # relative to the quantile itself (tiny quantiles near an edge at 0 stay accurate), with
    # a floor for quantiles at 0 (e.g. the median of a symmetric law)
    floor = 1e-280 * max(abs(hi), abs(lo))
    for _ in range(400):
        mid = 0.5 * (a + b)
        below = cdf(mid) < p
        a = np.where(below, mid, a)
        b = np.where(below, b, mid)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
        if np.all((b - a <= tol * scale) | (p == 0.0) | (p == 1.0)):
            break
    return np.where(p == 0.0, lo, np.where(p == 1.0, hi, 0.5 * (a + b)))


def _poly_r(kappa: NDArray[Any], w: CArray) -> CArray:
    """Horner evaluation of ``sum_k kappa_k w^{k-1}``."""
    out = np.zeros(w.shape, dtype=np.complex128)
    for c in kappa[::-1]:
        out = out * w + complex(c)
    return out


class _SpectralModel:
    """Shared interface; methods a model does not have raise ``NotImplementedError``."""

    _no_density = "this model has no density"

    def _missing(self, what: str, why: str) -> NotImplementedError:
        return NotImplementedError(f"{type(self).__name__}.{what}: {why}")

    # -- distribution ------------------------------------------------------------------
    def support(self) -> tuple[float, float]:
        raise self._missing("support", self._no_density)

    def pdf(self, x: ArrayLike) -> Array:
        raise self._missing("pdf", self._no_density)

    def cdf(self, x: ArrayLike) -> Array:
        raise self._missing("cdf", self._no_density)

    def ppf(self, p: ArrayLike) -> Array:
        raise self._missing("ppf", self._no_density)

    def moment(self, k: int) -> float:
        raise self._missing("moment", self._no_density)

    def moments(self, k: int) -> Array:
        """Raw moments ``[m_1, ..., m_k]`` (``m_0 = 1``)."""
        return np.array([self.moment(j) for j in range(1, _pos_int("k", k) + 1)])

    def mean(self) -> float:
        """Mean eigenvalue ``m_1``."""
        return float(self.moment(1))

    def sample_eigenvalues(self, n: int, rng: RNG = None) -> Array:
        raise self._missing("sample_eigenvalues", "no sampler for this model")

    def sample_matrix(self, n: int, rng: RNG = None) -> Array:
        raise self._missing("sample_matrix", "no matrix ensemble for this model")

    # -- transforms --------------------------------------------------------------------
    def _stieltjes(self, z: CArray) -> CArray:
        raise self._missing("stieltjes", self._no_density)

    def _on_support(self, x: Array) -> NDArray[np.bool_]:
        lo, hi = self.support()
        return (x > lo) & (x < hi)

    def stieltjes(self, z: ArrayLike, *, side: Side = "upper") -> CArray:
        """Stieltjes transform ``G(z) = int rho(x)/(z - x) dx`` (docs/spectral_models.md).

        Vectorised over complex arrays; correct (physical) sheet everywhere off the support. A
        real ``z`` inside the support is a point of the cut: ``side`` picks the boundary value
        (default ``"upper"``: ``G(x + i0)``, with ``-Im G / pi`` the density).
        """
        _check_side(side)
        z0 = as_upper(z)
        zc = z0.reshape(-1)
        val = np.array(self._stieltjes(zc), dtype=np.complex128).reshape(-1)
        on = (zc.imag == 0) & self._on_support(zc.real)
        if on.any():
            val[on] = _select_lip(val[on], side, f"{type(self).__name__}.stieltjes")
        return val.reshape(z0.shape)

    def _r(self, w: CArray) -> CArray:
        raise self._missing("r_transform", "no R-transform for this model")

    def _on_r_cut(self, x: Array) -> NDArray[np.bool_]:
        return np.zeros(x.shape, dtype=bool)

    def r_transform(self, w: ArrayLike, *, side: Side = "upper") -> CArray:
        """R-transform ``R(w)`` on its principal branch (docs/spectral_models.md); vectorised.

        ``side`` selects the boundary value for a real ``w`` on a branch cut of ``R``.
        """
        _check_side(side)
        w0 = as_upper(w)
        wc = w0.reshape(-1)
        val = np.array(self._r(wc), dtype=np.complex128).reshape(-1)
        on = (wc.imag == 0) & self._on_r_cut(wc.real)
        if on.any():
            val[on] = _select_lip(val[on], side, f"{type(self).__name__}.r_transform")
        return val.reshape(w0.shape)

    def blue(self, w: ArrayLike, **kw: Any) -> CArray:
        """Blue function ``B(w) = R(w) + 1/w`` (the functional inverse of ``G`` on
        :meth:`inversion_domain`)."""
        wc = as_upper(w)
        if np.any(wc == 0):
            raise ValueError("B(w) = R(w) + 1/w has a pole at w = 0")
        return self.r_transform(wc, **kw) + 1.0 / wc

    def free_cumulants(self, k: int) -> NDArray[Any]:
        """Free cumulants ``[kappa_1, ..., kappa_k]`` from the moments ([MH2025] Sec. 5.5)."""
        return moments_to_free_cumulants(self.moments(_pos_int("k", k)))

    def r_series(self, w: ArrayLike, K: int = 5) -> CArray:
        """Truncated cumulant series ``sum_{k<=K} kappa_k w^{k-1}`` ([MH2025] Sec. 5.5)."""
        return _poly_r(self.free_cumulants(_pos_int("K", K)), as_upper(w))

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        """``int_lower^x Re R(w) dw``, the paper's layer function ``G(lambda)``
        (arXiv:2507.17912 Eq. (132); docs/spectral_models.md). Adaptive quadrature unless a
        model has a closed form."""
        return integrated_r(lambda t: self.r_transform(t, side="real"), x, lower)

    def inversion_domain(self) -> tuple[float, float]:
        raise self._missing("inversion_domain", "R is not the inverse of a real branch of G")

    @property
    def r_series_radius(self) -> float:
        raise self._missing("r_series_radius", "not known in closed form")

