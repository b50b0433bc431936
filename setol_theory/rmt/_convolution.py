"""Free additive convolution (subordination) and Haar-rotated sampling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._cumulants import free_cumulants_to_moments
from ._stieltjes import _check_evals, as_upper

Array = NDArray[np.float64]

CArray = NDArray[np.complex128]

StieltjesFn = Callable[[Any], Any]


# --------------------------------------------------------------------------------------
# Haar rotations and free addition
# --------------------------------------------------------------------------------------
def haar_orthogonal(n: int, rng: np.random.Generator | int | None = None) -> Array:
    """Haar-distributed ``n x n`` orthogonal matrix: QR of a Gaussian matrix with the signs of
    ``diag(R)`` moved into ``Q`` (F. Mezzadri, Notices AMS 54, 592 (2007), [Mez2007]).
    """
    if int(n) < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(rng)
    Z = rng.standard_normal((int(n), int(n)))
    Qm, Rm = np.linalg.qr(Z)
    return Qm * np.where(np.diag(Rm) < 0, -1.0, 1.0)


def sample_free_sum(evals_a: ArrayLike, evals_b: ArrayLike,
                    rng: np.random.Generator | int | None = None) -> Array:
    """Eigenvalues of ``diag(a) + O diag(b) O^T`` with Haar ``O``: asymptotically free addition.

    ``a`` and ``b`` are in generic position, so the ESD converges to ``mu_a [+] mu_b``
    (Voiculescu; Mingo & Speicher 2017, ch. 4).
    """
    a = _check_evals(evals_a, "evals_a")
    b = _check_evals(evals_b, "evals_b")
    if a.size != b.size:
        raise ValueError(f"evals_a and evals_b must have equal length, got {a.size}, {b.size}")
    O = haar_orthogonal(a.size, rng)
    H = (O * b) @ O.T
    H[np.diag_indices_from(H)] += a
    return np.linalg.eigvalsh(0.5 * (H + H.T))


def _subordination(Ga: StieltjesFn, Gb: StieltjesFn, z: CArray, scale: float,
                   w0: CArray | None = None, n_fixed: int = 60, maxiter: int = 100) -> CArray:
    r"""Subordination function ``omega_1(z)`` of ``mu_a [+] mu_b`` for ``Im z >= 0``.

    ``omega_1`` is the fixed point of ``f_z(w) = z + h_b(z + h_a(w))``, ``h = 1/G - id``
    (Belinschi & Bercovici 2007 [BB2007], thm 4.1), and ``G_{a [+] b}(z) = G_a(omega_1(z))``. A few
    plain iterations (a contraction of the upper half plane) are followed by damped Newton steps
    (derivative by central differences; only the convergence rate depends on it).
    """
    def f(w: CArray, zz: CArray) -> CArray:
        u = zz + 1.0 / Ga(w) - w
        return zz + 1.0 / Gb(u) - u

    w = z.copy() if w0 is None else w0.copy()
    if w0 is None:
        w = w + 1j * scale
        for _ in range(n_fixed):
            w = f(w, z)
    act = np.arange(z.size)
    for _ in range(maxiter):
        if act.size == 0:
            break
        x, zz = w[act], z[act]
        psi = f(x, zz) - x
        h = 1e-7 * (np.abs(x) + scale)
        dpsi = (f(x + h, zz) - f(x - h, zz)) / (2.0 * h) - 1.0
        step = psi / dpsi
        t = np.ones(x.shape)
        xn = x - step
        for _ in range(40):
            bad = (xn.imag < 0) | ~(np.abs(f(xn, zz) - xn) <= np.abs(psi))
            if not bad.any():
                break
            t = np.where(bad, 0.5 * t, t)
            xn = x - t * step
        xn = xn.real + 1j * np.maximum(xn.imag, 0.0)
        w[act] = xn
        conv = np.abs(t * step) <= 1e-14 * (np.abs(xn) + scale)
        act = act[~conv]
    return w


@dataclass(frozen=True, eq=False)
class FreeAdditiveConvolution:
    r"""Free additive convolution ``mu_a [+] mu_b`` of two spectral models.

    The law of ``A + U B U^T`` for large, asymptotically free ``A``, ``B`` (Haar ``U``):
    ``R_{a [+] b} = R_a + R_b`` (Voiculescu; Mingo & Speicher 2017, thm 3.27; Potters &
    Bouchaud 2020, ch. 12).

    ``stieltjes`` uses the subordination fixed point (Belinschi & Bercovici 2007), which needs
    only the Stieltjes transforms of the two models, so it works for models whose R-transform is
    known only numerically; ``r_transform`` and ``free_cumulants`` add those of the models.

    Parameters
    ----------
    a, b : spectral models
        Objects with ``stieltjes`` (and ``r_transform``, ``free_cumulants``, ``support``,
        ``ppf`` for the methods that use them), e.g. those of :mod:`setol_theory.rmt`.
    """

    a: Any
    b: Any

    def _scale(self) -> float:
        try:
            lo, hi = self.support()
            if np.isfinite(lo) and np.isfinite(hi):
                return max(hi - lo, 1e-3 * max(abs(lo), abs(hi)), 1e-12)
        except NotImplementedError:
            pass
        return 1.0

    def support(self) -> tuple[float, float]:
        """An interval containing the support: ``[lo_a + lo_b, hi_a + hi_b]`` (Weyl)."""
        la, ha = self.a.support()
        lb, hb = self.b.support()
        return la + lb, ha + hb

    def stieltjes(self, z: ArrayLike) -> CArray:
        """``G(z)`` for ``Im z != 0`` and, for real ``z``, the boundary value ``G(x + i0)``.

        Real points are reached by continuation ``z = x + i eta``, ``eta = s 10^{-k}``, ending
        with Newton at ``eta = 0`` (``s`` the width of :meth:`support`).
        """
        zc = as_upper(z)
        flat = zc.ravel()
        out = np.empty(flat.shape, dtype=np.complex128)
        s = self._scale()
        Ga, Gb = self.a.stieltjes, self.b.stieltjes
        up = flat.imag > 0
        if up.any():
            out[up] = Ga(_subordination(Ga, Gb, flat[up], s))
        dn = flat.imag < 0
        if dn.any():
            zu = np.conj(flat[dn])
            out[dn] = np.conj(Ga(_subordination(Ga, Gb, zu, s)))
        re = flat.imag == 0
        if re.any():
            x = flat.real[re]
            w = _subordination(Ga, Gb, x + 1j * s, s)
            for k in range(1, 15):
                w = _subordination(Ga, Gb, x + 1j * s * 10.0**-k, s, w0=w)
            w = _subordination(Ga, Gb, x + 0j, s, w0=w)
            out[re] = Ga(w)
        return out.reshape(zc.shape)

    def pdf(self, x: ArrayLike) -> Array:
        """Density ``-Im G(x + i0) / pi`` (sign convention of docs/spectral_models.md)."""
        xr = np.asarray(x, dtype=np.float64)
        return np.maximum(-np.imag(self.stieltjes(xr)) / np.pi, 0.0)

    def r_transform(self, w: ArrayLike, **kw: Any) -> CArray:
        """``R_a(w) + R_b(w)``; keyword arguments (e.g. ``side``) go to both models."""
        return np.asarray(self.a.r_transform(w, **kw)) + np.asarray(self.b.r_transform(w, **kw))

    def free_cumulants(self, k: int) -> NDArray[Any]:
        """``kappa_j(a) + kappa_j(b)``, ``j = 1..k`` (free cumulants are additive)."""
        return np.asarray(self.a.free_cumulants(k)) + np.asarray(self.b.free_cumulants(k))

    def moments(self, k: int) -> NDArray[Any]:
        """Moments ``m_1..m_k`` from the summed free cumulants."""
        return free_cumulants_to_moments(self.free_cumulants(k))

    def moment(self, k: int) -> float:
        """Raw moment ``m_k`` (``m_0 = 1``)."""
        if k < 0:
            raise ValueError(f"moment order k must be >= 0, got {k}")
        return 1.0 if k == 0 else float(np.real(self.moments(k)[-1]))

    def integrated_r(self, x: ArrayLike, lower: ArrayLike = 0.0) -> Array:
        """``int_lower^x Re(R_a + R_b)``: the sum of the models' integrated R-transforms."""
        return np.asarray(self.a.integrated_r(x, lower)) + np.asarray(
            self.b.integrated_r(x, lower))

    def sample_eigenvalues(self, n: int, rng: np.random.Generator | int | None = None) -> Array:
        """Eigenvalues of ``diag(a) + O diag(b) O^T``, ``a``, ``b`` the ``(i + 1/2)/n``
        quantiles of the two models (needs ``ppf``), ``O`` Haar of size ``n``."""
        p = (np.arange(n) + 0.5) / n
        return sample_free_sum(self.a.ppf(p), self.b.ppf(p), rng)


def free_additive_convolution(a: Any, b: Any) -> FreeAdditiveConvolution:
    """``mu_a [+] mu_b`` as a :class:`FreeAdditiveConvolution` (see there)."""
    for name, m in (("a", a), ("b", b)):
        if not callable(getattr(m, "stieltjes", None)):
            raise TypeError(f"model {name} must provide stieltjes(z), got {type(m).__name__}")
    return FreeAdditiveConvolution(a, b)

