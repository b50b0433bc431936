"""Spectral models (limiting eigenvalue densities) as small objects.

Each model exposes ``pdf``, ``cdf``, ``ppf``, ``support``, ``moment`` and
``sample_eigenvalues``, in the spirit of ``scipy.stats`` distributions.

Conventions follow ``docs/glossary.md``: a layer ``W`` is ``N x M`` with
``N >= M``, ``X = W^T W / N`` and ``q = M / N = 1 / Q <= 1``.

Currently implemented: :class:`MarchenkoPastur` (used by the HTSR bulk fit).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["MarchenkoPastur"]

Array = NDArray[np.float64]

# Gauss-Legendre nodes on [-1, 1]; the CDF integrand below is analytic in theta,
# so 64 nodes integrate it to machine precision.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)


@dataclass(frozen=True)
class MarchenkoPastur:
    r"""Marchenko-Pastur law of the eigenvalues of ``X = W^T W / N``.

    ``W`` is ``N x M`` with i.i.d. entries of mean 0 and variance ``sigma2``,
    ``q = M / N`` in ``(0, 1]``.  The limiting density is

    .. math::
        \rho(\lambda) = \frac{\sqrt{(\lambda_+ - \lambda)(\lambda - \lambda_-)}}
                             {2\pi \sigma^2 q \lambda},
        \qquad \lambda_\pm = \sigma^2 (1 \pm \sqrt{q})^2 .

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
        return np.where(inside, val, 0.0)

    def cdf(self, x: ArrayLike) -> Array:
        r"""Distribution function, by Gauss-Legendre quadrature in the angle variable.

        With ``lambda = m - h cos(theta)``, ``m = (a+b)/2``, ``h = (b-a)/2`` the
        square-root edges become ``h sin(theta)`` and the integrand
        ``h^2 sin^2(theta) / (2 pi sigma2 q lambda(theta))`` is analytic, so a fixed
        64-point rule is exact to rounding.
        """
        x = np.asarray(x, dtype=np.float64)
        a, b = self.support()
        m, h = 0.5 * (a + b), 0.5 * (b - a)
        xc = np.clip(x, a, b)
        theta = np.arccos(np.clip((m - xc) / h, -1.0, 1.0))  # in [0, pi]
        # nodes mapped onto [0, theta] for every x (broadcast on a new last axis)
        t = 0.5 * theta[..., None] * (_GL_X + 1.0)
        lam = m - h * np.cos(t)
        with np.errstate(invalid="ignore", divide="ignore"):  # theta = 0 at x <= a (set below)
            integrand = h**2 * np.sin(t) ** 2 / (2.0 * np.pi * self.sigma2 * self.q * lam)
            val = 0.5 * theta * np.sum(_GL_W * integrand, axis=-1)
        val = np.where(x >= b, 1.0, np.where(x <= a, 0.0, val))
        return np.clip(val, 0.0, 1.0)

    def ppf(self, p: ArrayLike, *, tol: float = 1e-14) -> Array:
        """Quantile function (inverse CDF), by vectorised bisection to ``tol`` relative."""
        p = np.asarray(p, dtype=np.float64)
        if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
            raise ValueError("MarchenkoPastur.ppf: probabilities must lie in [0, 1]")
        lo = np.full(p.shape, self.lambda_minus)
        hi = np.full(p.shape, self.lambda_plus)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < p
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
            if np.all(hi - lo <= tol * self.lambda_plus):
                break
        return 0.5 * (lo + hi)

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
