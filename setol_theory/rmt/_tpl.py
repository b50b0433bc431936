"""Truncated power-law spectral model (its Stieltjes and R-transforms)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._base import _GL32_W, _GL32_X, _nan_through, _param, _pos_int, _rng, _SpectralModel
from ._stieltjes import _log1p_c, as_upper, r_from_stieltjes

Array = NDArray[np.float64]

CArray = NDArray[np.complex128]

RNG = np.random.Generator | int | None


# --------------------------------------------------------------------------------------
# truncated power law
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TruncatedPowerLaw(_SpectralModel):
    r"""Truncated power law ``rho(x) = C x^{-alpha}`` on ``[lam_min, lam_max]`` (arXiv:2507.17912
    App. A.7).

    ``C = (alpha - 1)/(a^{1-alpha} - b^{1-alpha})`` (``1/ln(b/a)`` at ``alpha = 1``),
    ``a = lam_min``, ``b = lam_max``. All moments are finite
    (``m_k = C (b^{k+1-alpha} - a^{k+1-alpha})/(k+1-alpha)``), so ``G`` is analytic at infinity
    and ``R`` has a convergent cumulant series: truncation restores the analyticity that the
    bare tail lacks (App. A.7; compare :func:`bare_power_law_stieltjes`). The density is positive at
    both hard edges, so ``G(b^+) = +inf`` and ``G(a^-) = -inf``: every real ``w != 0`` has a real
    preimage and ``R`` is real-analytic on the whole real axis.

    * ``G``: closed form for ``alpha = 2`` (corrected from App. A.7.6)
      ``G(z) = C [(1/z)(1/a - 1/b) + (1/z^2)(ln(b/a) + ln((z-a)/(z-b)))]``; otherwise (and near
      ``z = 0``) composite Gauss-Legendre quadrature in ``ln x`` with the pole subtracted,
      ``G = C [z^{-alpha} ln((z-a)/(z-b)) - int (x^{-alpha} - z^{-alpha})/(x - z) dx]``,
      accurate to ~1e-14 relative also next to the support.
    * ``R``: numerical inversion of ``G`` on the real axis
      (:func:`setol_theory.inverse_stieltjes`), ``R(0) = m_1``; complex ``w`` near 0 by
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
        """Normalisation ``C`` (App. A.7.2), computed as ``a^{alpha-1} / phi(1 - alpha)``."""
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
        """``m_k = a^k phi(k + 1 - alpha) / phi(1 - alpha)`` (App. A.7.4, stable form;
        ``C ln(b/a)`` when ``k + 1 = alpha``)."""
        if k < 0:
            raise ValueError(f"moment order must be >= 0, got {k}")
        return float(self.lam_min**k * self._phi(k + 1.0 - self.alpha)
                     / self._phi(1.0 - self.alpha))

    def a7_free_cumulants(self) -> tuple[float, float]:
        """The paper's closed-form ``(kappa_1, kappa_2)`` for ``alpha = 2, 3, 4``
        (arXiv:2507.17912 App. A.7.8)."""
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
        """``n`` i.i.d. draws by inverse CDF."""
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
        out = np.where(far, _log1p_c(np.where(far, u, 0.0)), np.log(z - a) - np.log(z - b))
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
        return r_from_stieltjes(self._stieltjes_real_ok, w, self.support(),
                                     mean=self.moment(1), hard_edges=True)

    def _stieltjes_real_ok(self, z: ArrayLike) -> CArray:
        return self._stieltjes(as_upper(z))

    def inversion_domain(self) -> tuple[float, float]:
        """``(-inf, inf)``: ``G`` diverges at both hard edges."""
        return -math.inf, math.inf


def bare_power_law_stieltjes(z: ArrayLike, alpha: int, a: float) -> CArray:
    r"""App. A.7.3's Stieltjes transforms of the bare tails ``(alpha-1) a^{alpha-1} x^{-alpha}`` on
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

