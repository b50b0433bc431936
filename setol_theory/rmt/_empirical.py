"""Spectral model of a finite set of eigenvalues (the empirical ESD)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._base import _check_side, _nan_through, _pos_int, _rng, _SpectralModel
from ._convolution import haar_orthogonal
from ._cumulants import integrated_r
from ._stieltjes import r_from_stieltjes, stieltjes_samples

Array = NDArray[np.float64]

CArray = NDArray[np.complex128]

Side = Literal["upper", "lower", "real", "raise"]

RNG = np.random.Generator | int | None


# --------------------------------------------------------------------------------------
# empirical spectrum
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class EmpiricalSpectrum(_SpectralModel):
    r"""An empirical spectral distribution (ESD), e.g. the ECS eigenvalues of a layer.

    ``G(z) = (1/M) sum_i 1/(z - lambda_i)`` by direct summation; ``R`` either by numerical
    inversion of ``G`` (exact R of the normalised ESD; docs/spectral_models.md) or by the
    free-cumulant series; free cumulants of any order from the moments (arXiv:2507.17912
    Sec. 5.5, Eqs. (162)-(163)).

    Parameters
    ----------
    evals : array_like
        Eigenvalues (finite, at least one).
    moment_norm : {"mean", "sum"}
        ``"mean"`` (default, our choice: docs/quality.md): ``m_k = (1/M) sum lambda_i^k``
        (``m_0 = 1``); ``"sum"``: the paper's literal ``m_k = sum lambda_i^k`` (``Tr X^k``), fed
        to the same cumulant formulas (reproduces its Sec. 5.5; not a valid moment sequence).
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
        O = haar_orthogonal(self.M, rng)
        return (O * self.values) @ O.T

    def _on_support(self, x: Array) -> NDArray[np.bool_]:
        return np.zeros(x.shape, dtype=bool)  # atoms are poles (raise), not cuts

    def _stieltjes(self, z: CArray) -> CArray:
        return stieltjes_samples(self.values, z)

    def r_transform(self, w: ArrayLike, *, side: Side = "upper",
                    method: Literal["inversion", "series"] = "inversion", K: int = 5) -> CArray:
        """``R(w)``: ``"inversion"`` (``G^{-1}(w) - 1/w``, docs/spectral_models.md; real ``w``
        on the branch right (``w > 0``) or left (``w < 0``) of the support, every real ``w``
        reachable since ``G`` has poles at the atoms; complex ``w`` by Newton) or ``"series"``
        (``sum_{k<=K} kappa_k w^{k-1}``). ``side`` is accepted for uniformity (no cut)."""
        _check_side(side)
        if method == "series":
            return self.r_series(w, K)
        if method != "inversion":
            raise ValueError(f"method must be 'inversion' or 'series', got {method!r}")
        return r_from_stieltjes(self._stieltjes, w, self.support(),
                                     mean=float(np.mean(self.values)), hard_edges=True)

    def g_series(self, lam: ArrayLike, K: int = 5, *, rescale: bool = True) -> Array:
        r"""The paper's layer series ``G(lambda) = sum_{k<=K} (kappa_k / k) (lambda/M_ECS)^k``
        (arXiv:2507.17912 Eq. (163), Sec. 5.5; ``= int_0^{lambda/M_ECS} R``).
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
        return integrated_r(lambda t: self.r_transform(t), x, lower)

    def inversion_domain(self) -> tuple[float, float]:
        """``(-inf, inf)``: ``G`` has poles at the extreme atoms."""
        return -math.inf, math.inf

