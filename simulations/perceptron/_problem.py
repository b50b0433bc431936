"""The teacher-student perceptron problem (arXiv:2507.17912 Sec. 4.3; docs/simulations.md).

The student ``J`` learns from a data set ``xi_mu ~ N(0, I_N)``, ``mu = 1..P``, labelled by a
teacher ``B`` of the spherical (``|B|^2 = N``) or Ising (``B_i = +-1``) prior: ``y = sgn(B . xi)``
(Boolean output) or ``y = B . xi / sqrt N`` (linear output).  :func:`make_problem` draws one
such data set (a disorder sample), :class:`PerceptronProblem` holds it in the layout of the
engine (``Z[i, mu]``, see :mod:`simulations.perceptron._chains`); also the input checks shared
by the package (:func:`check_sizes`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from setol_theory.util import real_number

Array = NDArray[np.float64]
Prior = Literal["spherical", "ising"]
Output = Literal["boolean", "linear"]


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------

def _int(v: Any, name: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        if isinstance(v, float) and v.is_integer():
            raise TypeError(f"{name} must be an integer, got the float {v!r}")
        raise TypeError(f"{name} must be an integer, got {v!r}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


def check_sizes(N: Any, load: Any = None, P: Any = None) -> tuple[int, int]:
    """Validate ``N`` and the load (or ``P``); return ``(N, P)`` with ``P = round(load N)``.

    Raises ``TypeError`` for non-integer sizes and ``ValueError`` for ``N < 2``,
    ``load <= 0`` or ``P = 0`` (before any work is done).
    """
    N = _int(N, "N", 2)
    if P is not None:
        P = _int(P, "P", 1)
        return N, P
    if load is None:
        raise ValueError("give the load alpha = P/N or P")
    a = real_number(load, "load (alpha)")
    if not math.isfinite(a) or a <= 0.0:
        raise ValueError(f"load alpha = P/N must be > 0, got {load!r}")
    P = int(round(a * N))
    if P < 1:
        raise ValueError(f"load alpha = {a} at N = {N} gives P = round(alpha N) = 0 examples; "
                         f"increase alpha or N")
    return N, P


def _check_T(T: Any) -> float:
    t = real_number(T, "T")
    if not math.isfinite(t) or t < 0.0:
        raise ValueError(f"temperature T must be finite and >= 0, got {T!r}")
    return t


def _check_choice(v: str, name: str, choices: Sequence[str]) -> str:
    if v not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {v!r}")
    return v


# --------------------------------------------------------------------------------------------
# problem (one disorder sample)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PerceptronProblem:
    """One data set (disorder sample) of the teacher-student perceptron.

    Attributes
    ----------
    prior, output : str
    N, P : int
    B : ndarray, shape (N,)
        Teacher (``|B|^2 = N`` or ``+-1``).
    Z : ndarray, shape (N, P)
        ``Z[i, mu] = y_mu xi_mu,i / sqrt N`` (Boolean) or ``xi_mu,i / sqrt N`` (linear).
    y : ndarray, shape (P,)
        Labels: ``sgn(B . xi)`` (Boolean) or ``B . xi / sqrt N`` (linear).
    """

    prior: str
    output: str
    N: int
    P: int
    B: Array
    Z: Array
    y: Array

    @property
    def load(self) -> float:
        """``alpha = P / N``."""
        return self.P / self.N

    def fields(self, J: ArrayLike) -> Array:
        """``f`` of the engine for student ``J``: ``y h`` (Boolean) or ``h - y`` (linear)."""
        J = np.asarray(J, dtype=np.float64)
        f = np.zeros(self.P)
        for i in range(self.N):  # the engine's summation order
            f += J[i] * self.Z[i]
        return f - self.y if self.output == "linear" else f

    def energy(self, J: ArrayLike) -> float:
        """Training energy: number of errors or ``1/2 sum (h - y)^2``."""
        f = self.fields(J)
        return float(np.sum(f < 0.0)) if self.output == "boolean" else 0.5 * float(f @ f)


def _teacher(prior: str, N: int, rng: np.random.Generator) -> Array:
    if prior == "ising":
        return rng.choice(np.array([-1.0, 1.0]), size=N)
    b = rng.standard_normal(N)
    return b * (math.sqrt(N) / np.linalg.norm(b))


def make_problem(N: int, load: float | None = None, *, P: int | None = None,
                 prior: Prior = "spherical", output: Output = "boolean",
                 rng: np.random.Generator | int | None = None) -> PerceptronProblem:
    """Draw a teacher and ``P = round(load N)`` Gaussian examples.

    Parameters
    ----------
    N : int
        Input dimension, ``>= 2``.
    load : float, optional
        ``alpha = P/N`` (or give ``P``).
    prior : {"spherical", "ising"}
    output : {"boolean", "linear"}
    rng : Generator or int, optional
    """
    _check_choice(prior, "prior", ("spherical", "ising"))
    _check_choice(output, "output", ("boolean", "linear"))
    N, P = check_sizes(N, load, P)
    rng = np.random.default_rng(rng)
    B = _teacher(prior, N, rng)
    X = rng.standard_normal((P, N))
    hB = X @ B / math.sqrt(N)
    if output == "boolean":
        y = np.where(hB >= 0.0, 1.0, -1.0)
        Z = np.ascontiguousarray((X * y[:, None]).T / math.sqrt(N))
    else:
        y = hB
        Z = np.ascontiguousarray(X.T / math.sqrt(N))
    return PerceptronProblem(prior=prior, output=output, N=N, P=P, B=B, Z=Z, y=y)
