"""Wigner semicircle, free Cauchy, Levy power law and multiplicative Wishart spectral models."""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._base import _bisect_ppf, _nan_through, _param, _pos_int, _rng, _SpectralModel
from ._convolution import haar_orthogonal

Array = NDArray[np.float64]

CArray = NDArray[np.complex128]

RNG = np.random.Generator | int | None


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
    r"""Free Cauchy (FC) model, the paper's ``alpha = 2`` R-model (arXiv:2507.17912 Sec. 5.4.4).

    The Cauchy law centred at ``a`` with half-width ``gamma``:
    ``rho(x) = gamma / (pi ((x - a)^2 + gamma^2))``, ``G(z) = 1/(z - a + i gamma)`` for
    ``Im z > 0`` and ``1/(z - a - i gamma)`` for ``Im z < 0`` (the whole real axis is the
    support). Its R-transform is not analytic at 0: ``R(w) = a - i gamma`` for ``Im w < 0``
    (the range of ``G`` on the upper half plane) and ``a + i gamma`` for ``Im w > 0``. On the real
    axis ``side="upper"`` gives the paper's ``a + i gamma``, ``"lower"`` ``a - i gamma``,
    ``"real"`` ``a`` (Table 8 of the paper; Mingo & Speicher 2017, ex. 3.13). No moments exist.

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
        O = haar_orthogonal(n, g)
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
        """``Re int_lower^x R = a (x - lower)`` (the paper's ``G_FC``, Sec. 5.4.4)."""
        return self.a * (np.asarray(x, dtype=np.float64) - np.asarray(lower, dtype=np.float64))


# --------------------------------------------------------------------------------------
# Levy / general power law
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LevyPowerLaw(_SpectralModel):
    r"""Levy-Wigner / general power-law R-model ``R(z) = a + b z^{alpha - 2}`` (Table 8).

    ``alpha`` is the HTSR exponent, ``alpha = alpha_l + 1`` with the Levy index ``alpha_l``
    (arXiv:2507.17912 Table 8 caption), ``1 < alpha <= 2``; ``alpha = 2`` is the free-Cauchy
    case (constant R). ``z^p`` is on its principal branch: cut ``(-inf, 0]``, branch point
    ``z = 0`` where ``R`` diverges for ``alpha < 2``. On the negative axis
    ``z^p = |z|^p e^{pm i pi p}`` on the upper / lower lip, real part ``|z|^p cos(pi p)``.

    The paper calls this a formal model; no density, Stieltjes transform or sampler is claimed
    (arXiv:2507.17912 Sec. 5.4.7).

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

    _no_density = "formal R-model (arXiv:2507.17912 Table 8, Sec. 5.4.7); no density is claimed"

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

        (our choice, docs/quality.md: the true antiderivative, where the paper's Sec. 5.4.7
        writes ``b lambda^{alpha-2}/(alpha-2)``). For negative limits ``Re x^{alpha-1} =
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

    (arXiv:2507.17912 Sec. 5.4.7, final Schatten-type form; Table 9.) ``alpha`` is the HTSR
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
    r"""Multiplicative-Wishart R-model ``R(z) = eps phi z^2 / (2 - eps phi^2 z^2)`` (Table 8).

    Poles at ``z = pm sqrt(2/eps)/phi`` (real for ``eps > 0``, imaginary for ``eps < 0``).
    Only ``R``, its cumulant series and its integral exist here. ``R`` is **not** the
    R-transform of any probability measure: ``kappa_1 = kappa_2 = 0`` (variance 0 forces a
    point mass, whose R vanishes) while ``kappa_3 = eps phi / 2 != 0``; so no density is
    offered (derivations/multiplicative_wishart_r.py; arXiv:2507.17912 Sec. 5.4.6, Table 8).

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

    _no_density = ("Table 8 gives only R; with kappa_2 = 0 != kappa_3 it is not the R-transform "
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
        ``c = phi sqrt(eps/2)`` (derivations/multiplicative_wishart_r.py; ``arctan(d z)/(phi d)``,
        ``d = phi sqrt(-eps/2)`` for ``eps < 0``). Intervals containing a real pole raise
        ValueError; beyond the poles ``Re artanh(y) = ln|(1+y)/(1-y)|/2`` is used."""
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

