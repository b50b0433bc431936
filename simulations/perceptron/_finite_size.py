"""Finite-size extrapolation (docs/simulations.md, "Spherical student"):
:func:`extrapolate_finite_size` fits ``x_N = x_inf + a / N`` by weighted least squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._problem import Array


@dataclass(frozen=True)
class FiniteSizeFit:
    """Weighted least-squares fit ``x_N = x_inf + a / N``.

    Attributes
    ----------
    x_inf, x_inf_se : float
    a, a_se : float
    chi2 : float
        Weighted residual sum of squares.
    dof : int
        Degrees of freedom (sizes - 2).
    sizes : ndarray
    values, errors : ndarray
    """

    x_inf: float
    x_inf_se: float
    a: float
    a_se: float
    chi2: float
    dof: int
    sizes: Array
    values: Array
    errors: Array


def extrapolate_finite_size(sizes: ArrayLike, values: ArrayLike, errors: ArrayLike
                            ) -> FiniteSizeFit:
    """Fit ``x_N = x_inf + a / N`` with weights ``1/errors^2``; parameter errors from the
    covariance ``(A^T W A)^{-1}`` (not rescaled by ``chi2``).

    Raises ``ValueError`` for fewer than two distinct sizes or non-positive errors.
    """
    n = np.asarray(sizes, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if not (n.shape == v.shape == e.shape) or n.ndim != 1:
        raise ValueError("sizes, values and errors must be 1-D arrays of equal length")
    if np.unique(n).size < 2:
        raise ValueError("finite-size extrapolation needs at least two distinct sizes")
    if np.any(~np.isfinite(e)) or np.any(e <= 0.0):
        raise ValueError("errors must be finite and > 0")
    A = np.stack([np.ones_like(n), 1.0 / n], axis=1)
    W = 1.0 / e**2
    cov = np.linalg.inv(A.T @ (A * W[:, None]))
    p = cov @ (A.T @ (W * v))
    res = v - A @ p
    return FiniteSizeFit(x_inf=float(p[0]), x_inf_se=float(math.sqrt(cov[0, 0])),
                         a=float(p[1]), a_se=float(math.sqrt(cov[1, 1])),
                         chi2=float(np.sum(W * res**2)), dof=int(n.size - 2), sizes=n,
                         values=v, errors=e)
