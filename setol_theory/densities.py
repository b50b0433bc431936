r"""Spectral models (limiting eigenvalue densities) as small objects.

One frozen dataclass per model, with a uniform interface in the spirit of ``scipy.stats``:
``pdf``, ``cdf``, ``ppf``, ``support``, ``moment`` / ``moments``, ``sample_eigenvalues`` /
``sample_matrix`` (where a matrix ensemble exists), ``stieltjes`` (G), ``r_transform`` (R),
``free_cumulants``, ``integrated_r`` (the paper's layer function ``int Re R``),
``inversion_domain`` and ``r_series_radius``. A method that does not exist for a model raises
``NotImplementedError`` saying why; parameters are validated on construction (``ValueError``
naming the parameter and its allowed range).

Conventions (``docs/glossary.md``, ``shared/spec/theory.md`` sections 1 and 2):

* a layer ``W`` is ``N x M`` with ``N >= M``, ``X = W^T W / N``, ``q = M / N = 1 / Q <= 1``;
* ``G(z) = int rho(x) / (z - x) dx`` (positive convention, ``G ~ 1/z``), so
  ``rho(x) = -Im G(x + i0) / pi``; a real ``z`` is read as ``x + i0``;
* ``R(w) = G^{-1}(w) - 1/w = sum_k kappa_k w^{k-1}``;
* branch cuts: for a real argument lying on a cut, ``side`` selects the boundary value:
  ``"upper"`` (default, the limit from ``Im > 0``), ``"lower"`` (from ``Im < 0``), ``"real"``
  (the real part, i.e. the mean of both lips -- what the paper integrates) or ``"raise"``.
  Off the cuts every function is on its principal (physical) sheet; ``stieltjes`` and
  ``r_transform`` always return complex arrays.

Models: :class:`MarchenkoPastur`, :class:`InverseMarchenkoPastur`, :class:`Wigner`,
:class:`FreeCauchy`, :class:`LevyPowerLaw`, :class:`MultiplicativeWishart`,
:class:`TruncatedPowerLaw`, :class:`EmpiricalSpectrum`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from math import comb
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import free
from .free import as_upper

__all__ = [
    "MarchenkoPastur",
    "InverseMarchenkoPastur",
    "Wigner",
    "FreeCauchy",
    "LevyPowerLaw",
    "MultiplicativeWishart",
    "TruncatedPowerLaw",
    "EmpiricalSpectrum",
    "q2_levy_paper",
    "bare_power_law_stieltjes",
]

Array = NDArray[np.float64]
CArray = NDArray[np.complex128]
Side = Literal["upper", "lower", "real", "raise"]
RNG = np.random.Generator | int | None

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
        """Stieltjes transform ``G(z) = int rho(x)/(z - x) dx`` (theory.md 2.1).

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
        """R-transform ``R(w)`` on its principal branch (theory.md 2.1); vectorised.

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
        """Free cumulants ``[kappa_1, ..., kappa_k]`` from the moments (theory.md 2.9)."""
        return free.moments_to_free_cumulants(self.moments(_pos_int("k", k)))

    def r_series(self, w: ArrayLike, K: int = 5) -> CArray:
        """Truncated cumulant series ``sum_{k<=K} kappa_k w^{k-1}`` (theory.md 2.9)."""
        return _poly_r(self.free_cumulants(_pos_int("K", K)), as_upper(w))

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        """``int_lower^x Re R(w) dw``, the paper's layer function ``G(lambda)`` (theory.md 2.1;
        ``sections/540`` eqn generating_function_A). Adaptive quadrature unless a model has a
        closed form."""
        return free.integrated_r(lambda t: self.r_transform(t, side="real"), x, lower)

    def inversion_domain(self) -> tuple[float, float]:
        raise self._missing("inversion_domain", "R is not the inverse of a real branch of G")

    @property
    def r_series_radius(self) -> float:
        raise self._missing("r_series_radius", "not known in closed form")


# --------------------------------------------------------------------------------------
# Marchenko-Pastur
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarchenkoPastur(_SpectralModel):
    r"""Marchenko-Pastur law of the eigenvalues of ``X = W^T W / N``.

    ``W`` is ``N x M`` with i.i.d. entries of mean 0 and variance ``sigma2``,
    ``q = M / N`` in ``(0, 1]``.  The limiting density is

    .. math::
        \rho(\lambda) = \frac{\sqrt{(\lambda_+ - \lambda)(\lambda - \lambda_-)}}
                             {2\pi \sigma^2 q \lambda},
        \qquad \lambda_\pm = \sigma^2 (1 \pm \sqrt{q})^2 .

    Stieltjes transform and R-transform (theory.md 2.3; Bai & Silverstein 2010, ch. 3;
    Potters & Bouchaud 2020, sec. 4.2):
    ``G(z) = [z - sigma2 (1-q) - sqrt(z - lambda_+) sqrt(z - lambda_-)] / (2 q sigma2 z)``,
    ``R(w) = sigma2 / (1 - q sigma2 w)``, ``kappa_k = q^{k-1} sigma2^k``.

    Parameters
    ----------
    q : float
        Aspect ratio ``M / N`` (``1 / Q`` in the paper), ``0 < q <= 1``.
    sigma2 : float
        Variance of the matrix entries, ``> 0``.

    References
    ----------
    V. A. Marchenko and L. A. Pastur, Math. USSR-Sbornik 1, 457 (1967);
    the paper's ``sections/210_htsr_setup.tex`` for the normalisation ``X = W^T W / N``.
    """

    q: float
    sigma2: float = 1.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.q) or not 0.0 < self.q <= 1.0:
            raise ValueError(f"MarchenkoPastur: q = M/N must lie in (0, 1], got {self.q!r}")
        if not np.isfinite(self.sigma2) or self.sigma2 <= 0.0:
            raise ValueError(f"MarchenkoPastur: sigma2 must be positive, got {self.sigma2!r}")

    @property
    def lambda_minus(self) -> float:
        """Lower bulk edge ``sigma2 (1 - sqrt q)^2``."""
        return self.sigma2 * (1.0 - np.sqrt(self.q)) ** 2

    @property
    def lambda_plus(self) -> float:
        """Upper bulk edge ``sigma2 (1 + sqrt q)^2``."""
        return self.sigma2 * (1.0 + np.sqrt(self.q)) ** 2

    def support(self) -> tuple[float, float]:
        """Return ``(lambda_minus, lambda_plus)``."""
        return self.lambda_minus, self.lambda_plus

    def pdf(self, x: ArrayLike) -> Array:
        """Density at ``x`` (zero outside the support)."""
        x = np.asarray(x, dtype=np.float64)
        a, b = self.support()
        inside = (x > a) & (x < b)
        xs = np.where(inside, x, 0.5 * (a + b))
        val = np.sqrt((b - xs) * (xs - a)) / (2.0 * np.pi * self.sigma2 * self.q * xs)
        return _nan_through(x, np.where(inside, val, 0.0))

    def cdf(self, x: ArrayLike) -> Array:
        r"""Distribution function, by Gauss-Legendre quadrature in the angle variable.

        With ``lambda = m - h cos(theta) = a + 2 h sin^2(theta/2)``, ``m = (a+b)/2``,
        ``h = (b-a)/2`` the square-root edges become ``h sin(theta)`` and the integrand
        ``h^2 sin^2(theta) / (2 pi sigma2 q lambda(theta))`` is analytic, so a fixed
        64-point rule is exact to rounding. ``theta = 2 arcsin(sqrt((x-a)/(b-a)))`` and the
        ``sin^2`` form of ``lambda`` keep full relative accuracy at the lower edge, also at
        the hard edge ``a = 0`` of ``q = 1`` (``F(x) ~ (2/pi) sqrt(x/sigma2)``).
        """
        x = np.asarray(x, dtype=np.float64)
        a, b = self.support()
        h = 0.5 * (b - a)
        xc = np.clip(x, a, b)
        theta = 2.0 * np.arcsin(np.sqrt(np.clip((xc - a) / (b - a), 0.0, 1.0)))  # [0, pi]
        # nodes mapped onto [0, theta] for every x (broadcast on a new last axis)
        t = 0.5 * theta[..., None] * (_GL_X + 1.0)
        lam = a + 2.0 * h * np.sin(0.5 * t) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):  # theta = 0 at x <= a (set below)
            integrand = h**2 * np.sin(t) ** 2 / (2.0 * np.pi * self.sigma2 * self.q * lam)
            val = 0.5 * theta * np.sum(_GL_W * integrand, axis=-1)
        val = np.where(x >= b, 1.0, np.where(x <= a, 0.0, val))
        return np.clip(val, 0.0, 1.0)

    def ppf(self, p: ArrayLike, *, tol: float = 1e-14) -> Array:
        """Quantile function (inverse CDF), by vectorised bisection to ``tol`` relative to the
        quantile itself (so tiny quantiles near a hard edge ``lambda_- = 0`` stay accurate)."""
        p = np.asarray(p, dtype=np.float64)
        if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
            raise ValueError("MarchenkoPastur.ppf: probabilities must lie in [0, 1]")
        lo = np.full(p.shape, self.lambda_minus)
        hi = np.full(p.shape, self.lambda_plus)
        for _ in range(400):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < p
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
            if np.all((hi - lo <= tol * hi) | (p == 0.0) | (p == 1.0)):
                break
        out = 0.5 * (lo + hi)
        return np.where(p == 0.0, self.lambda_minus, np.where(p == 1.0, self.lambda_plus, out))

    def moment(self, k: int) -> float:
        r"""Raw moment ``E[lambda^k] = sigma2^k sum_{r=0}^{k-1} q^r N(k, r+1)``.

        ``N(k, j) = C(k, j) C(k, j-1) / k`` are the Narayana numbers
        (Bai & Silverstein, *Spectral Analysis of Large Dimensional Random Matrices*, 2010,
        eq. 3.1.6).
        """
        if k < 0:
            raise ValueError(f"moment order must be >= 0, got {k}")
        if k == 0:
            return 1.0
        s = sum(self.q**r * comb(k, r) * comb(k, r + 1) / k for r in range(k))
        return float(self.sigma2**k * s)

    def mean(self) -> float:
        """Mean eigenvalue, ``sigma2``."""
        return self.sigma2

    def median(self) -> float:
        """Median eigenvalue."""
        return float(self.ppf(0.5))

    def sample_matrix(self, N: int, rng: np.random.Generator | int | None = None) -> Array:
        """A Gaussian ``N x M`` matrix (``M = round(q N)``) whose ESD follows this law."""
        rng = np.random.default_rng(rng)
        M = max(1, int(round(self.q * N)))
        return rng.normal(0.0, np.sqrt(self.sigma2), size=(N, M))

    def sample_eigenvalues(self, N: int, rng: np.random.Generator | int | None = None) -> Array:
        """Eigenvalues of ``W^T W / N`` for a Gaussian ``W`` of :meth:`sample_matrix`."""
        W = self.sample_matrix(N, rng)
        return np.linalg.eigvalsh(W.T @ W / N)

    # -- free probability (theory.md 2.3) ----------------------------------------------
    def _stieltjes(self, z: CArray) -> CArray:
        # rationalised form 2 / (z - s2(1-q) + sqrt(z-l+) sqrt(z-l-)): no 0/0 at z = 0 and no
        # cancellation at large |z|; the product of principal roots ~ z off the cut.
        a, b = self.support()
        den = z - self.sigma2 * (1.0 - self.q) + np.sqrt(z - b) * np.sqrt(z - a)
        if np.any(den == 0):
            raise ValueError("MarchenkoPastur.stieltjes: G diverges at z = 0 (hard edge, q = 1)")
        return 2.0 / den

    def _r(self, w: CArray) -> CArray:
        den = 1.0 - self.q * self.sigma2 * w
        if np.any(den == 0):
            raise ValueError(f"MarchenkoPastur.r_transform: R has a pole at w = "
                             f"1/(q sigma2) = {1.0 / (self.q * self.sigma2)!r}")
        return self.sigma2 / den

    def free_cumulants(self, k: int) -> Array:
        """``kappa_j = q^{j-1} sigma2^j``, ``j = 1..k`` (theory.md 2.3)."""
        j = np.arange(1, _pos_int("k", k) + 1)
        return self.q ** (j - 1.0) * self.sigma2**j

    @property
    def r_series_radius(self) -> float:
        """Radius of convergence of the cumulant series: the pole ``1/(q sigma2)``."""
        return 1.0 / (self.q * self.sigma2)

    def inversion_domain(self) -> tuple[float, float]:
        """Real ``w`` on which ``G(R(w) + 1/w) = w``: ``(G(lambda_-^-), G(lambda_+^+))``.

        ``G(lambda_+) = 1/(sigma2 sqrt(q) (1 + sqrt q))`` (theory.md 2.3); ``G(lambda_-^-) =
        -1/(sigma2 sqrt(q) (1 - sqrt q))`` (``-inf`` for ``q = 1``). Beyond these edges the
        closed-form ``R`` continues analytically but ``R(w) + 1/w`` is the other root of the
        quadratic, not a preimage under ``G``.
        """
        sq = np.sqrt(self.q)
        w_hi = 1.0 / (self.sigma2 * sq * (1.0 + sq))
        w_lo = -math.inf if self.q == 1.0 else -1.0 / (self.sigma2 * sq * (1.0 - sq))
        return w_lo, w_hi

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        """``int_lower^x R = -(1/q) [ln|1 - q sigma2 x| - ln|1 - q sigma2 lower|]``
        (theory.md 2.3). Intervals that contain the pole ``1/(q sigma2)`` raise ValueError."""
        xb, lb = np.broadcast_arrays(np.asarray(x, dtype=np.float64),
                                     np.asarray(lower, dtype=np.float64))
        c = self.q * self.sigma2
        pole = 1.0 / c
        if np.any((np.minimum(xb, lb) <= pole) & (pole <= np.maximum(xb, lb))):
            raise ValueError(f"MarchenkoPastur.integrated_r: the interval contains the pole of R "
                             f"at w = {pole!r}")
        return -(np.log(np.abs(1.0 - c * xb)) - np.log(np.abs(1.0 - c * lb))) / self.q


# --------------------------------------------------------------------------------------
# inverse Marchenko-Pastur
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InverseMarchenkoPastur(_SpectralModel):
    r"""Inverse Marchenko-Pastur (IMP) law, the paper's IMP R-model.

    The law of ``Y = (1 - q) X^{-1}``, ``X`` Marchenko-Pastur with ``sigma2 = 1`` and ratio
    ``q = 1/(2 kappa + 1)``; mean 1, variance ``1/(2 kappa)``. With ``Q = N/M``,
    ``kappa = (Q - 1)/2`` (``sections/Rtable.tex``, citing Bun's thesis).

    * density ``rho(x) = kappa / (pi x^2) sqrt((x - x_-)(x_+ - x))``,
      ``x_pm = [kappa + 1 pm sqrt(2 kappa + 1)] / kappa`` (Bun, Bouchaud & Potters,
      Phys. Rep. 666, 1 (2017), sec. 4.2);
    * ``G(z) = (2 kappa + 1) / ((kappa + 1) z - kappa + kappa sqrt(z - x_+) sqrt(z - x_-))``
      (rationalised from ``[(kappa+1) z - kappa - kappa sqrt(.)sqrt(.)] / z^2``);
    * ``R(z) = (kappa - sqrt(kappa (kappa - 2 z))) / z = 2 kappa / (kappa + sqrt(kappa
      (kappa - 2 z)))`` (``sections/550``, ``appendix/A8_IMP.tex``); the second, rationalised
      form has no cancellation at ``z = 0`` (``R(0) = 1``), so no series switch is needed;
    * free cumulants ``kappa_n = C_{n-1} / (2 kappa)^{n-1}`` (Catalan numbers ``C``).

    Branch point of ``R`` at ``z = kappa/2``, cut ``[kappa/2, +inf)`` (principal square root).
    For real ``z > kappa/2`` the boundary values are
    ``R(z pm i0) = (kappa pm i sqrt(kappa (2z - kappa))) / z``: ``side="upper"`` / ``"lower"``
    return them, ``side="real"`` returns ``Re R = kappa / z`` (the paper keeps the real part,
    ``appendix/A64``), ``side="raise"`` refuses. At ``z = kappa/2`` both lips give ``R = 2``.

    Parameters
    ----------
    kappa : float
        ``kappa > 0``.
    """

    kappa: float

    def __post_init__(self) -> None:
        _param("InverseMarchenkoPastur", "kappa", self.kappa, 0.0, math.inf)

    @classmethod
    def from_Q(cls, Q: float) -> InverseMarchenkoPastur:
        """IMP with ``kappa = (Q - 1)/2`` for the aspect ratio ``Q = N/M > 1`` (Rtable)."""
        Qv = _param("InverseMarchenkoPastur.from_Q", "Q", Q, 1.0, math.inf)
        return cls((Qv - 1.0) / 2.0)

    @property
    def q(self) -> float:
        """``q = M/N = 1/(2 kappa + 1)``."""
        return 1.0 / (2.0 * self.kappa + 1.0)

    @property
    def Q(self) -> float:
        """``Q = N/M = 2 kappa + 1``."""
        return 2.0 * self.kappa + 1.0

    @property
    def branch_point(self) -> float:
        """Branch point ``kappa/2`` of ``R`` (``sections/550``, ``appendix/A8``)."""
        return 0.5 * self.kappa

    @property
    def x_minus(self) -> float:
        k = self.kappa  # = 1 / x_plus, without the cancellation of (k + 1 - sqrt(2k+1))/k
        return k / (k + 1.0 + math.sqrt(2.0 * k + 1.0))

    @property
    def x_plus(self) -> float:
        k = self.kappa
        return (k + 1.0 + math.sqrt(2.0 * k + 1.0)) / k

    def support(self) -> tuple[float, float]:
        """``(x_-, x_+)``."""
        return self.x_minus, self.x_plus

    def _mp(self) -> MarchenkoPastur:
        return MarchenkoPastur(self.q, 1.0)

    def pdf(self, x: ArrayLike) -> Array:
        """Density ``kappa/(pi x^2) sqrt((x - x_-)(x_+ - x))`` on the support, else 0."""
        x = np.asarray(x, dtype=np.float64)
        a, b = self.support()
        inside = (x > a) & (x < b)
        xs = np.where(inside, x, 0.5 * (a + b))
        val = self.kappa / (np.pi * xs**2) * np.sqrt((xs - a) * (b - xs))
        return _nan_through(x, np.where(inside, val, 0.0))

    def cdf(self, x: ArrayLike) -> Array:
        """``P(Y <= y) = 1 - F_MP((1 - q)/y)`` (exact change of variables)."""
        x = np.asarray(x, dtype=np.float64)
        a, b = self.support()
        xs = np.clip(x, a, b)
        val = 1.0 - self._mp().cdf((1.0 - self.q) / xs)
        return np.where(x <= a, 0.0, np.where(x >= b, 1.0, val))

    def ppf(self, p: ArrayLike) -> Array:
        """Quantile function, by bisection on :meth:`cdf`."""
        a, b = self.support()
        return _bisect_ppf(self.cdf, p, a, b, "InverseMarchenkoPastur")

    def free_cumulants(self, k: int) -> Array:
        """``kappa_n = C_{n-1} / (2 kappa)^{n-1}`` (series of R; ``C`` Catalan)."""
        n = np.arange(1, _pos_int("k", k) + 1)
        cat = np.array([comb(2 * (j - 1), j - 1) / j for j in n], dtype=np.float64)
        return cat / (2.0 * self.kappa) ** (n - 1.0)

    def moment(self, k: int) -> float:
        """Raw moment from the free cumulants (exact recursion, theory.md 2.9)."""
        if k < 0:
            raise ValueError(f"moment order must be >= 0, got {k}")
        if k == 0:
            return 1.0
        return float(free.free_cumulants_to_moments(self.free_cumulants(k))[-1])

    def mean(self) -> float:
        return 1.0

    def sample_matrix(self, N: int, rng: RNG = None) -> Array:
        """``Y = (1 - q) (W^T W / N)^{-1}`` for a standard Gaussian ``N x M`` ``W``,
        ``M = round(q N)`` (theory.md 2.4 test a)."""
        W = self._mp().sample_matrix(N, rng)
        return (1.0 - self.q) * np.linalg.inv(W.T @ W / N)

    def sample_eigenvalues(self, N: int, rng: RNG = None) -> Array:
        """Eigenvalues of :meth:`sample_matrix` (computed as ``(1 - q) / eig(W^T W / N)``)."""
        ev = self._mp().sample_eigenvalues(N, rng)
        return np.sort((1.0 - self.q) / ev)

    def _stieltjes(self, z: CArray) -> CArray:
        k = self.kappa
        a, b = self.support()
        return (2.0 * k + 1.0) / ((k + 1.0) * z - k + k * np.sqrt(z - b) * np.sqrt(z - a))

    def _on_r_cut(self, x: Array) -> NDArray[np.bool_]:
        return x > 0.5 * self.kappa

    def _r(self, w: CArray) -> CArray:
        k = self.kappa
        out = 2.0 * k / (k + np.sqrt(k * (k - 2.0 * w)))
        cut = (w.imag == 0) & (w.real > 0.5 * k)
        if cut.any():
            x = w.real[cut]
            out[cut] = (k + 1j * np.sqrt(k * (2.0 * x - k))) / x  # upper lip, w = x + i0
        return out

    def r_closed_form(self, w: ArrayLike) -> CArray:
        """The paper's unrationalised ``(kappa - sqrt(kappa(kappa - 2w)))/w`` (principal root),
        for comparison; it cancels catastrophically for ``|w| << kappa``."""
        wc = as_upper(w)
        if np.any(wc == 0):
            raise ValueError("r_closed_form is 0/0 at w = 0; use r_transform")
        k = self.kappa
        return (k - np.sqrt(k * (k - 2.0 * wc))) / wc

    @property
    def r_series_radius(self) -> float:
        """``kappa/2``: the branch point limits the cumulant series."""
        return 0.5 * self.kappa

    def inversion_domain(self) -> tuple[float, float]:
        """``(G(x_-^-), G(x_+^+))``; ``G(x_+) = kappa sqrt(2kappa+1)/(sqrt(2kappa+1) + kappa
        + 1) < kappa/2`` always (theory.md section 6 item 2)."""
        g = self._stieltjes(np.array([self.x_minus, self.x_plus], dtype=np.complex128)).real
        return float(g[0]), float(g[1])

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        r"""``int_lower^x Re R`` in closed form (theory.md 2.4).

        Antiderivative of ``Re R``: ``F(x) = 2 kappa ln(kappa + s) - 2 s - kappa ln(2 kappa)``,
        ``s = sqrt(kappa (kappa - 2x))``, for ``x <= kappa/2`` (equal to the spec's
        ``kappa ln x - [2s + kappa ln((kappa - s)/(kappa + s))]`` up to the constant, but
        regular at ``x = 0`` and valid for ``x < 0``), and ``F(x) = kappa ln x`` for
        ``x >= kappa/2`` (``Re R = kappa/x``); both equal ``kappa ln(kappa/2)`` at the branch
        point. For ``lower >= kappa/2``: ``kappa ln(x / lower)``, the paper's ``G_IMP``.
        """
        xb, lb = np.broadcast_arrays(np.asarray(x, dtype=np.float64),
                                     np.asarray(lower, dtype=np.float64))
        if not (np.all(np.isfinite(xb)) and np.all(np.isfinite(lb))):
            raise ValueError("InverseMarchenkoPastur.integrated_r: limits must be finite")
        return self._F_re(xb) - self._F_re(lb)

    def _F_re(self, x: Array) -> Array:
        k = self.kappa
        below = x <= 0.5 * k
        xs = np.where(below, x, 0.5 * k)
        s = np.sqrt(k * (k - 2.0 * xs))
        f_below = 2.0 * k * np.log(k + s) - 2.0 * s - k * np.log(2.0 * k)
        xa = np.where(below, 0.5 * k, x)
        return np.where(below, f_below, k * np.log(xa))


# --------------------------------------------------------------------------------------
# Wigner semicircle
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wigner(_SpectralModel):
    r"""Wigner semicircle law of variance ``sigma2`` on ``[-2 sigma, 2 sigma]``.

    ``rho(x) = sqrt(4 sigma2 - x^2) / (2 pi sigma2)``,
    ``G(z) = (z - sqrt(z - 2sigma) sqrt(z + 2sigma)) / (2 sigma2)``, ``R(w) = sigma2 w``,
    ``kappa = (0, sigma2, 0, ...)``, ``m_{2k} = C_k sigma2^k`` (Catalan)
    (Mingo & Speicher 2017, ch. 1-2; Potters & Bouchaud 2020, sec. 2.2).

    Parameters
    ----------
    sigma2 : float
        Variance, ``> 0``.
    """

    sigma2: float = 1.0

    def __post_init__(self) -> None:
        _param("Wigner", "sigma2", self.sigma2, 0.0, math.inf)

    @property
    def radius(self) -> float:
        return 2.0 * math.sqrt(self.sigma2)

    def support(self) -> tuple[float, float]:
        return -self.radius, self.radius

    def pdf(self, x: ArrayLike) -> Array:
        x = np.asarray(x, dtype=np.float64)
        r = self.radius
        return _nan_through(x, np.where(
            np.abs(x) < r, np.sqrt(np.maximum(r * r - x * x, 0.0)) / (2.0 * np.pi * self.sigma2),
            0.0))

    def cdf(self, x: ArrayLike) -> Array:
        """``1/2 + x sqrt(4 sigma2 - x^2)/(4 pi sigma2) + arcsin(x / (2 sigma))/pi``."""
        x = np.asarray(x, dtype=np.float64)
        r = self.radius
        xc = np.clip(x, -r, r)
        val = 0.5 + xc * np.sqrt(r * r - xc * xc) / (4.0 * np.pi * self.sigma2) \
            + np.arcsin(xc / r) / np.pi
        return np.clip(val, 0.0, 1.0)

    def ppf(self, p: ArrayLike) -> Array:
        return _bisect_ppf(self.cdf, p, -self.radius, self.radius, "Wigner")

    def moment(self, k: int) -> float:
        if k < 0:
            raise ValueError(f"moment order must be >= 0, got {k}")
        if k % 2:
            return 0.0
        j = k // 2
        return float(comb(2 * j, j) // (j + 1) * self.sigma2**j)

    def sample_matrix(self, n: int, rng: RNG = None) -> Array:
        """GOE matrix ``sigma (A + A^T)/sqrt(2n)``, ``A`` standard Gaussian ``n x n``
        (off-diagonal variance ``sigma2 / n``)."""
        n = _pos_int("n", n)
        A = _rng(rng).standard_normal((n, n))
        return math.sqrt(self.sigma2) * (A + A.T) / math.sqrt(2.0 * n)

    def sample_eigenvalues(self, n: int, rng: RNG = None) -> Array:
        return np.linalg.eigvalsh(self.sample_matrix(n, rng))

    def _stieltjes(self, z: CArray) -> CArray:
        r = self.radius
        return 2.0 / (z + np.sqrt(z - r) * np.sqrt(z + r))

    def _r(self, w: CArray) -> CArray:
        return self.sigma2 * w

    def free_cumulants(self, k: int) -> Array:
        out = np.zeros(_pos_int("k", k))
        if k >= 2:
            out[1] = self.sigma2
        return out

    @property
    def r_series_radius(self) -> float:
        return math.inf

    def inversion_domain(self) -> tuple[float, float]:
        """``(-1/sigma, 1/sigma) = (G(-2 sigma), G(2 sigma))``."""
        g = 1.0 / math.sqrt(self.sigma2)
        return -g, g

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        x = np.asarray(x, dtype=np.float64)
        lower = np.asarray(lower, dtype=np.float64)
        return 0.5 * self.sigma2 * (x * x - lower * lower)


# --------------------------------------------------------------------------------------
# free Cauchy
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FreeCauchy(_SpectralModel):
    r"""Free Cauchy (FC) model, the paper's ``alpha = 2`` R-model (``sections/550``, Rtable).

    The Cauchy law centred at ``a`` with half-width ``gamma``:
    ``rho(x) = gamma / (pi ((x - a)^2 + gamma^2))``, ``G(z) = 1/(z - a + i gamma)`` for
    ``Im z > 0`` and ``1/(z - a - i gamma)`` for ``Im z < 0`` (the whole real axis is the
    support). Its R-transform is not analytic at 0: ``R(w) = a - i gamma`` for ``Im w < 0``
    (the range of ``G`` on the upper half plane) and ``a + i gamma`` for ``Im w > 0``. On the real
    axis ``side="upper"`` gives the paper's ``a + i gamma``, ``"lower"`` ``a - i gamma``,
    ``"real"`` ``a`` (theory.md 2.5; Mingo & Speicher 2017, ex. 3.13). No moments exist.

    Parameters
    ----------
    a : float
        Centre (any real).
    gamma : float
        Half-width, ``> 0``.
    """

    a: float = 0.0
    gamma: float = 1.0

    def __post_init__(self) -> None:
        _param("FreeCauchy", "a", self.a)
        _param("FreeCauchy", "gamma", self.gamma, 0.0, math.inf)

    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    def pdf(self, x: ArrayLike) -> Array:
        x = np.asarray(x, dtype=np.float64)
        return self.gamma / (np.pi * ((x - self.a) ** 2 + self.gamma**2))

    def cdf(self, x: ArrayLike) -> Array:
        x = np.asarray(x, dtype=np.float64)
        return 0.5 + np.arctan((x - self.a) / self.gamma) / np.pi

    def ppf(self, p: ArrayLike) -> Array:
        p = np.asarray(p, dtype=np.float64)
        if np.any((p <= 0) | (p >= 1) | ~np.isfinite(p)):
            raise ValueError("FreeCauchy.ppf: probabilities p must lie in (0, 1)")
        return self.a + self.gamma * np.tan(np.pi * (p - 0.5))

    def moment(self, k: int) -> float:
        if k == 0:
            return 1.0
        raise self._missing("moment", "the Cauchy law has no moments of order >= 1")

    def free_cumulants(self, k: int) -> NDArray[Any]:
        raise self._missing("free_cumulants",
                            "no moments, and R is not analytic at w = 0 (a -+ i gamma)")

    def sample_eigenvalues(self, n: int, rng: RNG = None) -> Array:
        """``n`` i.i.d. Cauchy draws (inverse CDF)."""
        u = _rng(rng).random(_pos_int("n", n))
        return np.sort(self.ppf(np.clip(u, 1e-300, 1.0 - 1e-16)))

    def sample_matrix(self, n: int, rng: RNG = None) -> Array:
        """``O diag(c) O^T`` with i.i.d. Cauchy ``c`` and Haar ``O``: a rotation-invariant
        ensemble whose ESD tends to the Cauchy law."""
        g = _rng(rng)
        c = self.sample_eigenvalues(n, g)
        O = free.haar_orthogonal(n, g)
        return (O * c) @ O.T

    def _on_support(self, x: Array) -> NDArray[np.bool_]:
        return np.ones(x.shape, dtype=bool)

    def _stieltjes(self, z: CArray) -> CArray:
        s = np.where(z.imag < 0, -1.0, 1.0)  # real z -> upper lip
        return 1.0 / (z - self.a + 1j * s * self.gamma)

    def _on_r_cut(self, x: Array) -> NDArray[np.bool_]:
        return np.ones(x.shape, dtype=bool)

    def _r(self, w: CArray) -> CArray:
        s = np.where(w.imag < 0, -1.0, 1.0)  # real w -> upper lip a + i gamma
        return self.a + 1j * s * self.gamma + 0.0 * w

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        """``Re int_lower^x R = a (x - lower)`` (theory.md 2.5, ``G_FC``)."""
        return self.a * (np.asarray(x, dtype=np.float64) - np.asarray(lower, dtype=np.float64))


# --------------------------------------------------------------------------------------
# Levy / general power law
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LevyPowerLaw(_SpectralModel):
    r"""Levy-Wigner / general power-law R-model ``R(z) = a + b z^{alpha - 2}`` (Rtable).

    ``alpha`` is the HTSR exponent, ``alpha = alpha_l + 1`` with the Levy index ``alpha_l``
    (``sections/550``, Rtable caption), ``1 < alpha <= 2``; ``alpha = 2`` is the free-Cauchy
    case (constant R). ``z^p`` is on its principal branch: cut ``(-inf, 0]``, branch point
    ``z = 0`` where ``R`` diverges for ``alpha < 2``. On the negative axis
    ``z^p = |z|^p e^{pm i pi p}`` on the upper / lower lip, real part ``|z|^p cos(pi p)``.

    The paper calls this a formal model; no density, Stieltjes transform or sampler is claimed
    (theory.md 2.6).

    Parameters
    ----------
    a, b : float
        Real coefficients.
    alpha : float
        HTSR exponent in ``(1, 2]``.
    """

    a: float
    b: float
    alpha: float

    def __post_init__(self) -> None:
        _param("LevyPowerLaw", "a", self.a)
        _param("LevyPowerLaw", "b", self.b)
        _param("LevyPowerLaw", "alpha", self.alpha, 1.0, 2.0, hi_open=False)

    _no_density = "formal R-model (Rtable); no density is claimed (theory.md 2.6)"

    @property
    def alpha_levy(self) -> float:
        """Levy index ``alpha_l = alpha - 1``."""
        return self.alpha - 1.0

    def free_cumulants(self, k: int) -> NDArray[Any]:
        raise self._missing("free_cumulants", "R is not analytic at w = 0 (z^(alpha-2))")

    def _on_r_cut(self, x: Array) -> NDArray[np.bool_]:
        if self.alpha == 2.0:
            return np.zeros(x.shape, dtype=bool)
        return x < 0

    def _r(self, w: CArray) -> CArray:
        p = self.alpha - 2.0
        if p == 0.0:
            return self.a + self.b + 0.0 * w
        if np.any(w == 0):
            raise ValueError("LevyPowerLaw.r_transform: w = 0 is the branch point of z^(alpha-2)"
                             " (R diverges there for alpha < 2)")
        out = np.exp(p * np.log(w))
        neg = (w.imag == 0) & (w.real < 0)
        if neg.any():
            out[neg] = np.abs(w.real[neg]) ** p * np.exp(1j * np.pi * p)  # upper lip
        return self.a + self.b * out

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        r"""``int_lower^x Re R = a (x - lower) + b [Re x^{alpha-1} - Re lower^{alpha-1}]/(alpha-1)``

        (theory.md 2.6 Decision; the true antiderivative, where the paper writes
        ``b lambda^{alpha-2}/(alpha-2)``). For negative limits ``Re x^{alpha-1} =
        |x|^{alpha-1} cos(pi (alpha-1))`` (same on both lips).
        """
        xb = np.asarray(x, dtype=np.float64)
        lb = np.asarray(lower, dtype=np.float64)
        e = self.alpha - 1.0

        def rp(t: Array) -> Array:
            return np.where(t >= 0, 1.0, math.cos(math.pi * e)) * np.abs(t) ** e

        return self.a * (xb - lb) + self.b * (rp(xb) - rp(lb)) / e


def q2_levy_paper(eigs: ArrayLike, alpha: float) -> float:
    r"""The paper's Levy-Wigner layer quality ``Q^2_LW = (1/M_ECS) sum_i lambda_i^{alpha - 1}``.

    (``sections/550`` final Schatten-type form; theory.md 2.6 and 4.2.) ``alpha`` is the HTSR
    exponent (``> 1``; the LW model itself is meant for ``alpha <= 2``).
    """
    ev = np.asarray(eigs, dtype=np.float64).ravel()
    if ev.size == 0 or not np.all(np.isfinite(ev)) or np.any(ev <= 0):
        raise ValueError("q2_levy_paper: eigs must be a non-empty array of positive finite values")
    al = _param("q2_levy_paper", "alpha", alpha, 1.0, math.inf)
    return float(np.mean(ev ** (al - 1.0)))


# --------------------------------------------------------------------------------------
# multiplicative Wishart
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MultiplicativeWishart(_SpectralModel):
    r"""Multiplicative-Wishart R-model ``R(z) = eps phi z^2 / (2 - eps phi^2 z^2)`` (Rtable).

    Poles at ``z = pm sqrt(2/eps)/phi`` (real for ``eps > 0``, imaginary for ``eps < 0``).
    Only ``R``, its cumulant series and its integral exist here. ``R`` is **not** the
    R-transform of any probability measure: ``kappa_1 = kappa_2 = 0`` (variance 0 forces a
    point mass, whose R vanishes) while ``kappa_3 = eps phi / 2 != 0``; so no density is
    offered (theory.md 2.7).

    Parameters
    ----------
    eps, phi : float
        Real, nonzero.
    """

    eps: float
    phi: float

    def __post_init__(self) -> None:
        _param("MultiplicativeWishart", "eps", self.eps, nonzero=True)
        _param("MultiplicativeWishart", "phi", self.phi, nonzero=True)

    _no_density = ("Rtable gives only R; with kappa_2 = 0 != kappa_3 it is not the R-transform "
                   "of a probability measure")

    @property
    def poles(self) -> tuple[complex, complex]:
        """The two poles ``pm sqrt(2/eps)/phi`` (complex for ``eps < 0``)."""
        p = complex(np.sqrt(complex(2.0 / self.eps)) / self.phi)
        return p, -p

    @property
    def r_series_radius(self) -> float:
        return math.sqrt(2.0 / abs(self.eps)) / abs(self.phi)

    def _r(self, w: CArray) -> CArray:
        den = 2.0 - self.eps * self.phi**2 * w * w
        if np.any(den == 0):
            raise ValueError(f"MultiplicativeWishart.r_transform: R has poles at w = "
                             f"+-{self.r_series_radius!r}")
        return self.eps * self.phi * w * w / den

    def free_cumulants(self, k: int) -> Array:
        """Taylor coefficients of R: ``kappa_{3+2j} = (eps phi/2)(eps phi^2/2)^j``, else 0."""
        out = np.zeros(_pos_int("k", k))
        for n in range(3, k + 1, 2):
            j = (n - 3) // 2
            out[n - 1] = 0.5 * self.eps * self.phi * (0.5 * self.eps * self.phi**2) ** j
        return out

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        r"""``int_lower^x R = F(x) - F(lower)``, ``F(z) = -z/phi + artanh(c z)/(phi c)``,
        ``c = phi sqrt(eps/2)`` (theory.md 2.7; ``arctan(d z)/(phi d)``, ``d = phi sqrt(-eps/2)``
        for ``eps < 0``). Intervals containing a real pole raise ValueError; beyond the poles
        ``Re artanh(y) = ln|(1+y)/(1-y)|/2`` is used."""
        xb, lb = np.broadcast_arrays(np.asarray(x, dtype=np.float64),
                                     np.asarray(lower, dtype=np.float64))
        phi, eps = self.phi, self.eps
        if eps > 0:
            c = phi * math.sqrt(eps / 2.0)
            pole = 1.0 / abs(c)
            lo, hi = np.minimum(xb, lb), np.maximum(xb, lb)
            if np.any(((lo <= pole) & (pole <= hi)) | ((lo <= -pole) & (-pole <= hi))):
                raise ValueError(f"MultiplicativeWishart.integrated_r: the interval contains a "
                                 f"pole of R at w = +-{pole!r}")

            def F(t: Array) -> Array:
                y = c * t
                return -t / phi + 0.5 * np.log(np.abs((1.0 + y) / (1.0 - y))) / (phi * c)
        else:
            d = phi * math.sqrt(-eps / 2.0)

            def F(t: Array) -> Array:
                return -t / phi + np.arctan(d * t) / (phi * d)
        return F(xb) - F(lb)


# --------------------------------------------------------------------------------------
# truncated power law
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TruncatedPowerLaw(_SpectralModel):
    r"""Truncated power law ``rho(x) = C x^{-alpha}`` on ``[lam_min, lam_max]`` (appendix/A7).

    ``C = (alpha - 1)/(a^{1-alpha} - b^{1-alpha})`` (``1/ln(b/a)`` at ``alpha = 1``),
    ``a = lam_min``, ``b = lam_max``. All moments are finite
    (``m_k = C (b^{k+1-alpha} - a^{k+1-alpha})/(k+1-alpha)``), so ``G`` is analytic at infinity
    and ``R`` has a convergent cumulant series: truncation restores the analyticity that the
    bare tail lacks (A7; compare :func:`bare_power_law_stieltjes`). The density is positive at
    both hard edges, so ``G(b^+) = +inf`` and ``G(a^-) = -inf``: every real ``w != 0`` has a real
    preimage and ``R`` is real-analytic on the whole real axis.

    * ``G``: closed form for ``alpha = 2`` (theory.md 2.8, corrected from A7)
      ``G(z) = C [(1/z)(1/a - 1/b) + (1/z^2)(ln(b/a) + ln((z-a)/(z-b)))]``; otherwise (and near
      ``z = 0``) composite Gauss-Legendre quadrature in ``ln x`` with the pole subtracted,
      ``G = C [z^{-alpha} ln((z-a)/(z-b)) - int (x^{-alpha} - z^{-alpha})/(x - z) dx]``,
      accurate to ~1e-14 relative also next to the support.
    * ``R``: numerical inversion of ``G`` on the real axis
      (:func:`setol_theory.free.inverse_stieltjes`), ``R(0) = m_1``; complex ``w`` near 0 by
      Newton. The edge divergence of ``G`` is only logarithmic (``~ C b^{-alpha} ln(1/(B-b))``):
      beyond ``w ~ G(b + 8 eps b)`` the preimage lies within ``8 eps b`` of ``b`` and
      ``R = b - 1/w`` is returned (exact to that distance; ``hard_edges`` of the inverse).

    Parameters
    ----------
    alpha : float
        Exponent (any real; ``|alpha| ln(b/a) <= 600`` to stay in floating-point range).
    lam_min, lam_max : float
        ``0 < lam_min < lam_max < inf``.
    """

    alpha: float
    lam_min: float
    lam_max: float

    def __post_init__(self) -> None:
        al = _param("TruncatedPowerLaw", "alpha", self.alpha)
        a = _param("TruncatedPowerLaw", "lam_min", self.lam_min, 0.0, math.inf)
        b = _param("TruncatedPowerLaw", "lam_max", self.lam_max, a, math.inf)
        if abs(al) * math.log(b / a) > 600.0:
            raise ValueError("TruncatedPowerLaw: |alpha| ln(lam_max/lam_min) must be <= 600, got "
                             f"{abs(al) * math.log(b / a)!r}")

    @property
    def L(self) -> float:
        """``ln(lam_max / lam_min)``."""
        return math.log(self.lam_max / self.lam_min)

    def _phi(self, u: float) -> float:
        """``(exp(u L) - 1)/u`` (``= L`` at ``u = 0``)."""
        return self.L if u == 0.0 else math.expm1(u * self.L) / u

    @property
    def C(self) -> float:
        """Normalisation ``C`` (A7), computed as ``a^{alpha-1} / phi(1 - alpha)``."""
        return self.lam_min ** (self.alpha - 1.0) / self._phi(1.0 - self.alpha)

    def support(self) -> tuple[float, float]:
        return self.lam_min, self.lam_max

    def pdf(self, x: ArrayLike) -> Array:
        x = np.asarray(x, dtype=np.float64)
        a, b = self.support()
        inside = (x >= a) & (x <= b)
        xs = np.where(inside, x, a)
        return _nan_through(x, np.where(inside, self.C * xs ** (-self.alpha), 0.0))

    def cdf(self, x: ArrayLike) -> Array:
        """``F(x) = phi_x(1 - alpha) / phi(1 - alpha)`` with ``phi_x(u) = ((x/a)^u - 1)/u``."""
        x = np.asarray(x, dtype=np.float64)
        a, b = self.support()
        xs = np.clip(x, a, b)
        lx = np.log(xs / a)
        s = 1.0 - self.alpha
        num = lx if s == 0.0 else np.expm1(s * lx) / s
        return np.clip(num / self._phi(s), 0.0, 1.0)

    def ppf(self, p: ArrayLike) -> Array:
        """Closed-form inverse CDF ``x = a exp(log1p(p s phi(s)) / s)``, ``s = 1 - alpha``."""
        p = np.asarray(p, dtype=np.float64)
        if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
            raise ValueError("TruncatedPowerLaw.ppf: probabilities p must lie in [0, 1]")
        s = 1.0 - self.alpha
        if s == 0.0:
            lx = p * self.L
        else:
            lx = np.log1p(p * s * self._phi(s)) / s
        return np.clip(self.lam_min * np.exp(lx), self.lam_min, self.lam_max)

    def moment(self, k: int) -> float:
        """``m_k = a^k phi(k + 1 - alpha) / phi(1 - alpha)`` (A7 moment formula, stable form;
        ``C ln(b/a)`` when ``k + 1 = alpha``)."""
        if k < 0:
            raise ValueError(f"moment order must be >= 0, got {k}")
        return float(self.lam_min**k * self._phi(k + 1.0 - self.alpha)
                     / self._phi(1.0 - self.alpha))

    def a7_free_cumulants(self) -> tuple[float, float]:
        """The paper's closed-form ``(kappa_1, kappa_2)`` for ``alpha = 2, 3, 4`` (A7; theory.md
        section 5 table)."""
        a, b = self.lam_min, self.lam_max
        if self.alpha == 2.0:
            C2 = a * b / (b - a)
            k1 = C2 * math.log(b / a)
            return k1, C2 * (b - a) - k1**2
        if self.alpha == 3.0:
            C3 = 2.0 * a * a * b * b / (b * b - a * a)
            k1 = 2.0 * a * b / (a + b)
            return k1, C3 * math.log(b / a) - k1**2
        if self.alpha == 4.0:
            C4 = 3.0 * a**3 * b**3 / (b**3 - a**3)
            k1 = 3.0 * a * b * (b * b - a * a) / (2.0 * (b**3 - a**3))
            return k1, C4 * (1.0 / a - 1.0 / b) - k1**2
        raise ValueError(f"TruncatedPowerLaw.a7_free_cumulants: alpha must be 2, 3 or 4, "
                         f"got {self.alpha!r}")

    def sample_eigenvalues(self, n: int, rng: RNG = None) -> Array:
        """``n`` i.i.d. draws by inverse CDF (theory.md 2.8 test c)."""
        return np.sort(self.ppf(_rng(rng).random(_pos_int("n", n))))

    # -- Stieltjes ---------------------------------------------------------------------
    def _log_ratio(self, z: CArray) -> CArray:
        """``ln((z - a)/(z - b))``, principal, cut exactly on ``[a, b]``; upper lip for real
        points inside; ``log1p`` form far from the support."""
        a, b = self.support()
        if np.any((z.imag == 0) & ((z.real == a) | (z.real == b))):
            raise ValueError("TruncatedPowerLaw.stieltjes: G diverges logarithmically at the "
                             "hard edges lam_min, lam_max")
        u = (b - a) / (z - b)
        far = np.abs(u) < 0.5
        out = np.where(far, free._log1p_c(np.where(far, u, 0.0)), np.log(z - a) - np.log(z - b))
        cut = (z.imag == 0) & (z.real > a) & (z.real < b)
        if cut.any():
            x = z.real[cut]
            out[cut] = np.log((x - a) / (b - x)) - 1j * np.pi
        return out

    def _stieltjes_alpha2(self, z: CArray) -> CArray:
        a, b = self.support()
        return self.C * ((1.0 / a - 1.0 / b) / z + (self.L + self._log_ratio(z)) / z**2)

    def _nodes(self) -> tuple[Array, Array]:
        """Composite Gauss-Legendre nodes in ``ln x``: panels of width <= 1 (32 nodes each)."""
        npan = max(1, math.ceil(self.L))
        edges = np.linspace(math.log(self.lam_min), math.log(self.lam_max), npan + 1)
        h = 0.5 * np.diff(edges)
        t = (0.5 * (edges[:-1] + edges[1:]))[:, None] + h[:, None] * _GL32_X
        wts = h[:, None] * _GL32_W
        return t.ravel(), wts.ravel()

    def _stieltjes_quad(self, z: CArray) -> CArray:
        a, b = self.support()
        al, C = self.alpha, self.C
        t, wt = self._nodes()  # t = ln x, dx = x dt
        x = np.exp(t)
        out = np.empty(z.shape, dtype=np.complex128)
        absz = np.abs(z)
        sub = (z.real > 0) & (absz >= 0.5 * a) & (absz <= 2.0 * b)
        wx = wt * x
        step = max(1, 2**20 // t.size)
        flat, fsub, fout = z.ravel(), sub.ravel(), out.ravel()
        for s0 in range(0, flat.size, step):
            zz, ss = flat[s0 : s0 + step], fsub[s0 : s0 + step]
            res = np.empty(zz.shape, dtype=np.complex128)
            if (~ss).any():  # plain rule: the pole is >= ln 2 away in ln x
                zn = zz[~ss]
                res[~ss] = C * ((wx * x ** (-al))[None, :] / (zn[:, None] - x[None, :])).sum(1)
            if ss.any():  # pole subtracted: the remainder is analytic in a wide strip
                zs = zz[ss]
                lz = np.log(zs)
                ell = t[None, :] - lz[:, None]
                small = np.abs(ell) < 1e-8
                ells = np.where(small, 1.0, ell)
                hval = np.where(small, -al + 0.5 * al * (al + 1.0) * ell,
                                np.expm1(-al * ells) / np.expm1(ells))
                integ = np.exp((-al - 1.0) * lz) * (wx[None, :] * hval).sum(1)
                res[ss] = C * (np.exp(-al * lz) * self._log_ratio(zs) - integ)
            fout[s0 : s0 + step] = res
        return out

    def _stieltjes(self, z: CArray) -> CArray:
        return self.stieltjes_method(z, "auto")

    def stieltjes_method(self, z: ArrayLike, method: Literal["auto", "closed", "quad"]
                         ) -> CArray:
        """``G(z)`` by a chosen route: ``"closed"`` (``alpha = 2`` only), ``"quad"``, or
        ``"auto"`` (closed form for ``alpha = 2`` except ``|z| < a/2`` where its ``1/z^2`` terms
        cancel; quadrature otherwise). Real ``z`` inside the support gives ``G(x + i0)``."""
        zc = as_upper(z)
        if method == "closed" or (method == "auto" and self.alpha == 2.0):
            if self.alpha != 2.0:
                raise ValueError("TruncatedPowerLaw: the closed-form G needs alpha = 2")
            if method == "closed":
                return self._stieltjes_alpha2(zc)
            near0 = np.abs(zc) < 0.5 * self.lam_min
            out = np.empty(zc.shape, dtype=np.complex128)
            if near0.any():
                out[near0] = self._stieltjes_quad(zc[near0])
            if (~near0).any():
                out[~near0] = self._stieltjes_alpha2(zc[~near0])
            return out
        if method not in ("auto", "quad"):
            raise ValueError(f"method must be 'auto', 'closed' or 'quad', got {method!r}")
        return self._stieltjes_quad(zc)

    # -- R -----------------------------------------------------------------------------
    def _r(self, w: CArray) -> CArray:
        return free.r_from_stieltjes(self._stieltjes_real_ok, w, self.support(),
                                     mean=self.moment(1), hard_edges=True)

    def _stieltjes_real_ok(self, z: ArrayLike) -> CArray:
        return self._stieltjes(as_upper(z))

    def inversion_domain(self) -> tuple[float, float]:
        """``(-inf, inf)``: ``G`` diverges at both hard edges."""
        return -math.inf, math.inf


def bare_power_law_stieltjes(z: ArrayLike, alpha: int, a: float) -> CArray:
    r"""A7's Stieltjes transforms of the bare tails ``(alpha-1) a^{alpha-1} x^{-alpha}`` on
    ``[a, inf)``, ``alpha = 2, 3, 4``:
    ``G_2 = 1/z + a ln(1 - z/a)/z^2``, ``G_3 = 1/z + 2a/z^2 + 2a^2 ln(1 - z/a)/z^3``,
    ``G_4 = 1/z + 3a/(2z^2) + 3a^2/z^3 + 3a^3 ln(1 - z/a)/z^4`` (principal log, cut
    ``[a, inf)``). The ``ln`` at infinity is what prevents an R-transform series."""
    zc = as_upper(z)
    av = _param("bare_power_law_stieltjes", "a", a, 0.0, math.inf)
    lg = np.log(1.0 - zc / av)
    cut = (zc.imag == 0) & (zc.real > av)
    if cut.any():  # upper lip z = x + i0: 1 - z/a = -(x/a - 1) - i0
        lg[cut] = np.log(zc.real[cut] / av - 1.0) - 1j * np.pi
    if alpha == 2:
        return 1.0 / zc + av * lg / zc**2
    if alpha == 3:
        return 1.0 / zc + 2.0 * av / zc**2 + 2.0 * av**2 * lg / zc**3
    if alpha == 4:
        return 1.0 / zc + 1.5 * av / zc**2 + 3.0 * av**2 / zc**3 + 3.0 * av**3 * lg / zc**4
    raise ValueError(f"bare_power_law_stieltjes: alpha must be 2, 3 or 4, got {alpha!r}")


# --------------------------------------------------------------------------------------
# empirical spectrum
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class EmpiricalSpectrum(_SpectralModel):
    r"""An empirical spectral distribution (ESD), e.g. the ECS eigenvalues of a layer.

    ``G(z) = (1/M) sum_i 1/(z - lambda_i)`` by direct summation; ``R`` either by numerical
    inversion of ``G`` (theory.md 2.10; exact R of the normalised ESD) or by the free-cumulant
    series; free cumulants of any order from the moments (theory.md 2.9, ``sections/560``).

    Parameters
    ----------
    evals : array_like
        Eigenvalues (finite, at least one).
    moment_norm : {"mean", "sum"}
        ``"mean"`` (default, the spec's Decision): ``m_k = (1/M) sum lambda_i^k`` (``m_0 = 1``);
        ``"sum"``: the paper's literal ``m_k = sum lambda_i^k`` (``Tr X^k``), fed to the same
        cumulant formulas (reproduces ``sections/560``; not a valid moment sequence).
    standardize : bool
        Replace the eigenvalues by ``(lambda - mean)/std`` (population std) first, the paper's
        "mean-centred and normalised" variant (forces ``kappa_1 = 0``, ``kappa_2 = 1``).

    Notes
    -----
    ``moment_norm`` affects moments, cumulants, ``r_series``, ``g_series`` and
    ``r_transform(method="series")``; ``stieltjes`` and ``r_transform(method="inversion")`` always
    use the normalised ESD of the (possibly standardised) values.
    """

    evals: Any
    moment_norm: Literal["mean", "sum"] = "mean"
    standardize: bool = False
    values: Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ev = np.asarray(self.evals, dtype=np.float64).ravel()
        if ev.size == 0:
            raise ValueError("EmpiricalSpectrum: evals must contain at least one eigenvalue")
        if not np.all(np.isfinite(ev)):
            raise ValueError("EmpiricalSpectrum: evals must be finite (no NaN or Inf)")
        if self.moment_norm not in ("mean", "sum"):
            raise ValueError(f"EmpiricalSpectrum: moment_norm must be 'mean' or 'sum', "
                             f"got {self.moment_norm!r}")
        if self.standardize:
            sd = float(np.std(ev))
            if not sd > 0:
                raise ValueError("EmpiricalSpectrum: standardize=True needs evals with "
                                 "positive standard deviation")
            ev = (ev - ev.mean()) / sd
        ev = np.sort(ev)
        ev.setflags(write=False)
        object.__setattr__(self, "values", ev)

    @property
    def M(self) -> int:
        """Number of eigenvalues (``M_ECS`` when the ESD is an ECS)."""
        return int(self.values.size)

    def support(self) -> tuple[float, float]:
        return float(self.values[0]), float(self.values[-1])

    def pdf(self, x: ArrayLike) -> Array:
        raise self._missing("pdf", "an ESD is a sum of point masses (no density)")

    def cdf(self, x: ArrayLike) -> Array:
        """Empirical distribution function ``#{lambda_i <= x} / M``."""
        x = np.asarray(x, dtype=np.float64)
        return _nan_through(x, np.searchsorted(self.values, x, side="right") / self.M)

    def moment(self, k: int) -> float:
        if k < 0:
            raise ValueError(f"moment order must be >= 0, got {k}")
        s = float(np.sum(self.values**k))
        return s / self.M if self.moment_norm == "mean" else s

    def sample_eigenvalues(self, n: int, rng: RNG = None) -> Array:
        """``n`` i.i.d. draws from the ESD."""
        return np.sort(_rng(rng).choice(self.values, size=_pos_int("n", n), replace=True))

    def sample_matrix(self, n: int | None = None, rng: RNG = None) -> Array:
        """``O diag(lambda) O^T`` with Haar ``O`` (size ``M``; ``n`` must be ``None`` or ``M``)."""
        if n is not None and n != self.M:
            raise ValueError(f"EmpiricalSpectrum.sample_matrix: n must be None or M = {self.M}")
        O = free.haar_orthogonal(self.M, rng)
        return (O * self.values) @ O.T

    def _on_support(self, x: Array) -> NDArray[np.bool_]:
        return np.zeros(x.shape, dtype=bool)  # atoms are poles (raise), not cuts

    def _stieltjes(self, z: CArray) -> CArray:
        return free.stieltjes_samples(self.values, z)

    def r_transform(self, w: ArrayLike, *, side: Side = "upper",
                    method: Literal["inversion", "series"] = "inversion", K: int = 5) -> CArray:
        """``R(w)``: ``"inversion"`` (``G^{-1}(w) - 1/w``, theory.md 2.10; real ``w`` on the
        branch right (``w > 0``) or left (``w < 0``) of the support, every real ``w`` reachable
        since ``G`` has poles at the atoms; complex ``w`` by Newton) or ``"series"``
        (``sum_{k<=K} kappa_k w^{k-1}``). ``side`` is accepted for uniformity (no cut)."""
        _check_side(side)
        if method == "series":
            return self.r_series(w, K)
        if method != "inversion":
            raise ValueError(f"method must be 'inversion' or 'series', got {method!r}")
        return free.r_from_stieltjes(self._stieltjes, w, self.support(),
                                     mean=float(np.mean(self.values)), hard_edges=True)

    def g_series(self, lam: ArrayLike, K: int = 5, *, rescale: bool = True) -> Array:
        r"""The paper's layer series ``G(lambda) = sum_{k<=K} (kappa_k / k) (lambda/M_ECS)^k``
        (``sections/560`` eqn G_lambda_series; ``= int_0^{lambda/M_ECS} R``, theory.md 2.9).
        ``rescale=False`` drops the ``1/M_ECS``."""
        kap = np.real(np.asarray(self.free_cumulants(_pos_int("K", K)), dtype=np.complex128))
        x = np.asarray(lam, dtype=np.float64) / (self.M if rescale else 1.0)
        out = np.zeros(x.shape)
        for k in range(K, 0, -1):
            out = (out + kap[k - 1] / k) * x
        return out

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0, *,
                     method: Literal["inversion", "series"] = "inversion", K: int = 5) -> Array:
        """``int_lower^x Re R`` with R from ``method`` (quadrature of the inverted R, or the
        exact integral of the ``K``-term series)."""
        if method == "series":
            kap = np.real(np.asarray(self.free_cumulants(_pos_int("K", K)),
                                     dtype=np.complex128))
            xb = np.asarray(x, dtype=np.float64)
            lb = np.asarray(lower, dtype=np.float64)
            return sum(kap[k - 1] / k * (xb**k - lb**k) for k in range(1, K + 1))
        return free.integrated_r(lambda t: self.r_transform(t), x, lower)

    def inversion_domain(self) -> tuple[float, float]:
        """``(-inf, inf)``: ``G`` has poles at the extreme atoms."""
        return -math.inf, math.inf
