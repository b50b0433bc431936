"""Marchenko-Pastur and inverse Marchenko-Pastur spectral models."""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import comb

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._base import _GL_W, _GL_X, _bisect_ppf, _nan_through, _param, _pos_int, _SpectralModel
from ._cumulants import free_cumulants_to_moments
from ._stieltjes import as_upper

Array = NDArray[np.float64]

CArray = NDArray[np.complex128]

RNG = np.random.Generator | int | None


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

    Stieltjes transform and R-transform (Bai & Silverstein 2010, ch. 3;
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
    the paper, arXiv:2507.17912 Sec. 2.1 (The HTSR Setup), for the normalisation
    ``X = W^T W / N``.
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

    # -- free probability (Marchenko & Pastur 1967; docs/spectral_models.md) -----------
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
        """``kappa_j = q^{j-1} sigma2^j``, ``j = 1..k`` (derivations/mp_stieltjes_and_r.py)."""
        j = np.arange(1, _pos_int("k", k) + 1)
        return self.q ** (j - 1.0) * self.sigma2**j

    @property
    def r_series_radius(self) -> float:
        """Radius of convergence of the cumulant series: the pole ``1/(q sigma2)``."""
        return 1.0 / (self.q * self.sigma2)

    def inversion_domain(self) -> tuple[float, float]:
        """Real ``w`` on which ``G(R(w) + 1/w) = w``: ``(G(lambda_-^-), G(lambda_+^+))``.

        ``G(lambda_+) = 1/(sigma2 sqrt(q) (1 + sqrt q))``; ``G(lambda_-^-) =
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
        (derivations/mp_stieltjes_and_r.py). Intervals that contain the pole ``1/(q sigma2)``
        raise ValueError."""
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
    ``kappa = (Q - 1)/2`` (arXiv:2507.17912 Table 8, citing Bun's thesis [Bun2016]; keys:
    docs/references.md).

    * density ``rho(x) = kappa / (pi x^2) sqrt((x - x_-)(x_+ - x))``,
      ``x_pm = [kappa + 1 pm sqrt(2 kappa + 1)] / kappa`` (Bun, Bouchaud & Potters,
      Phys. Rep. 666, 1 (2017), sec. 4.2);
    * ``G(z) = (2 kappa + 1) / ((kappa + 1) z - kappa + kappa sqrt(z - x_+) sqrt(z - x_-))``
      (rationalised from ``[(kappa+1) z - kappa - kappa sqrt(.)sqrt(.)] / z^2``);
    * ``R(z) = (kappa - sqrt(kappa (kappa - 2 z))) / z = 2 kappa / (kappa + sqrt(kappa
      (kappa - 2 z)))`` (arXiv:2507.17912 Sec. 5.4.5 and App. A.8); the second, rationalised
      form has no cancellation at ``z = 0`` (``R(0) = 1``), so no series switch is needed;
    * free cumulants ``kappa_n = C_{n-1} / (2 kappa)^{n-1}`` (Catalan numbers ``C``).

    Branch point of ``R`` at ``z = kappa/2``, cut ``[kappa/2, +inf)`` (principal square root).
    For real ``z > kappa/2`` the boundary values are
    ``R(z pm i0) = (kappa pm i sqrt(kappa (2z - kappa))) / z``: ``side="upper"`` / ``"lower"``
    return them, ``side="real"`` returns ``Re R = kappa / z`` (the paper keeps the real part,
    App. A.6.4), ``side="raise"`` refuses. At ``z = kappa/2`` both lips give ``R = 2``.

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
        """IMP with ``kappa = (Q - 1)/2`` for the aspect ratio ``Q = N/M > 1`` (Table 8)."""
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
        """Branch point ``kappa/2`` of ``R`` (arXiv:2507.17912 App. A.8.1)."""
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
        """Raw moment from the free cumulants (exact recursion)."""
        if k < 0:
            raise ValueError(f"moment order must be >= 0, got {k}")
        if k == 0:
            return 1.0
        return float(free_cumulants_to_moments(self.free_cumulants(k))[-1])

    def mean(self) -> float:
        return 1.0

    def sample_matrix(self, N: int, rng: RNG = None) -> Array:
        """``Y = (1 - q) (W^T W / N)^{-1}`` for a standard Gaussian ``N x M`` ``W``,
        ``M = round(q N)`` (tested against the law in tests/test_densities.py)."""
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
        + 1) < kappa/2`` always (docs/spectral_models.md, "The inverse Marchenko-Pastur branch
        cut")."""
        g = self._stieltjes(np.array([self.x_minus, self.x_plus], dtype=np.complex128)).real
        return float(g[0]), float(g[1])

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        r"""``int_lower^x Re R`` in closed form (derivations/imp_r_transform.py).

        Antiderivative of ``Re R``: ``F(x) = 2 kappa ln(kappa + s) - 2 s - kappa ln(2 kappa)``,
        ``s = sqrt(kappa (kappa - 2x))``, for ``x <= kappa/2`` (equal to the alternative form
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

