r"""Analytic learning curves of the teacher-student (ST) perceptron.

The classical vector ST model that the SETOL paper starts from (arXiv:2507.17912 Sec. 4.1
(StatMech: the SMOG approach and the SETOL approach), Sec. 4.2 (Mathematical Preliminaries of
Statistical Mechanics), Sec. 4.3.2 and App. A.2; docs/simulations.md, "Analytic curves").
Textbook sources:
Engel & Van den Broeck, *Statistical Mechanics of Learning* (CUP 2001, "EVdB");
Seung, Sompolinsky & Tishby, Phys. Rev. A 45, 6056 (1992, "SST92");
G. Gyorgyi, Phys. Rev. A 41, 7097 (1990) (Ising student, first-order transition).

Contents
--------
==============================  ============================================================
error from the overlap          :func:`generalization_error` (``arccos(R)/pi`` Boolean,
                                ``1 - R`` linear), :func:`accuracy`, :func:`overlap_from_error`
entropies                       :func:`entropy_spherical`, :func:`entropy_ising` (EVdB)
annealed approximation          :func:`annealed_potential` (``beta G_an``),
                                :func:`annealed_landscape`, :func:`annealed_point`,
                                :func:`version_space_annealed_eps` (``cot(pi eps)`` rule),
                                :func:`annealed_learning_curve` (SST92 sec. II.D)
high-temperature limit          :func:`high_temperature_point`,
                                :func:`high_temperature_curve`, :func:`st_quality_high_t`
                                (SST92 sec. III)
replica-symmetric Gibbs         :func:`gibbs_rs_point`, :func:`gibbs_learning_curve`,
learning (quenched)             :func:`ising_transition`, :func:`rs_entropy_landscape`
                                (EVdB ch. 2-4, 7; Gyorgyi 1990; ``T = 0`` and finite ``T``)
==============================  ============================================================

Conventions (docs/simulations.md, notation)
-------------------------------------------
* ``load = alpha = P / N`` (called ``load`` in code so as not to clash with the HTSR power-law
  exponent ``alpha_pl``); ``T`` the temperature, ``beta = 1/T``; ``T = 0`` is Gibbs learning in
  the version space (``beta = inf``).
* ``prior``: ``"spherical"`` (``|J|^2 = N``) or ``"ising"`` (``J_i = +-1``); teacher of the same
  kind.  ``output``: ``"boolean"`` (``sgn`` perceptron, energy = number of training errors) or
  ``"linear"`` (energy ``1/2 sum (h - y)^2``, annealed / high-T only).
* Gaussian inputs, fields ``h = J . xi / sqrt(N)``; ``H(x) = (1/2) erfc(x/sqrt 2)`` so that
  ``H(-x) = ndtr(x)``; ``Dt`` is the standard normal measure.
* ``free_energy`` fields hold ``-beta f`` per weight (the quenched ``(1/N)[ln Z]``).  At
  ``T = 0`` this is the entropy of the version space (log Gardner volume per weight), measured
  against the uniform measure on the sphere (spherical) or the counting measure on
  ``{-1, 1}^N`` (Ising: ``ln 2`` at ``R = 0``).

Finite-temperature replica-symmetric equations (EVdB ch. 4; SST92 sec. V)
-------------------------------------------------------------------------
With replica overlap ``q`` and teacher overlap ``R``,
``-beta f = extr_{q, R} [G_S(q, R) + load * G_E(q, R)]`` where

.. math::
    G_E = 2 \int Dt\, H\!\Big(-\frac{R t}{\sqrt{q - R^2}}\Big)
          \ln\big[e^{-\beta} + (1 - e^{-\beta}) H(-\sqrt{q/(1-q)}\, t)\big],

``G_S = (1/2) ln(1 - q) + (q - R^2) / (2 (1 - q))`` (spherical) and
``G_S = extr_{q^, R^} [-q^ (1 - q)/2 - R^ R + int Dz ln 2cosh(sqrt(q^) z + R^)]`` (Ising,
teacher gauged to ``B = (1, ..., 1)``).  At ``T = 0`` Gibbs learning has ``q = R`` and the
equations reduce to the version-space ones (EVdB ch. 2, 7; Gyorgyi 1990).  Training error
``eps_t = -dG_E/dbeta`` at the saddle.
Replica symmetry is exact at ``T = 0`` (Nishimori line ``q = R``); at finite ``T`` with a
noiseless teacher it is an assumption (checked against Monte Carlo in ``tests/``).

Numerics: the ``Dt`` integrals use composite Gauss-Legendre panels on ``[-13, 13]`` weighted by
the normal density, refined (panel width = feature width) around every sharp feature of the
integrand (steps ``H(-a t)`` of width ``1/a``, ``tanh`` / ``sech^2`` of width ``1/sqrt(q^)``),
so the integrals stay accurate (~1e-12) as ``R -> 1``; logs of ``H`` use ``log_ndtr``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from ..util import real_number

Array = NDArray[np.float64]

Prior = Literal["spherical", "ising"]

Output = Literal["boolean", "linear"]


_PRIORS = ("spherical", "ising")


_OUTPUTS = ("boolean", "linear")


_SQRT2PI = math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------

def _check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _check_load(load: object, name: str = "load") -> float:
    v = real_number(load, name)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{name} = P/N must be a finite number > 0, got {load!r}")
    return v


def _check_T(T: object) -> float:
    v = real_number(T, "T")
    if math.isnan(v) or v < 0.0 or math.isinf(v):
        raise ValueError(f"temperature T must be finite and >= 0, got {T!r}")
    return v


def _beta(T: float) -> float:
    return math.inf if T == 0.0 else 1.0 / T


def _loads(load: ArrayLike, name: str = "load") -> Array:
    arr = np.atleast_1d(np.asarray(load, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of loads")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0):
        raise ValueError(f"{name} = P/N must be finite and > 0")
    return arr


# --------------------------------------------------------------------------------------------
# generalisation error and entropies
# --------------------------------------------------------------------------------------------

def generalization_error(R: ArrayLike, output: Output = "boolean") -> Array | float:
    r"""Generalisation error of a student with teacher overlap ``R``, Gaussian inputs.

    ``eps = arccos(R) / pi`` (Boolean; EVdB eq. (2.3)) or ``eps = 1 - R`` (linear output with
    loss ``(1/2)(y_S - y_T)^2`` normalised per example; SST92, paper arXiv:2507.17912
    Eq. (90)).  The paper's footnote 34 writes the Boolean case as ``1 - arccos(R)/pi``;
    that is the accuracy (docs/simulations.md).

    Parameters
    ----------
    R : float or array_like
        Overlap in ``[-1, 1]``.
    output : {"boolean", "linear"}

    Returns
    -------
    float or ndarray
    """
    _check_choice(output, "output", _OUTPUTS)
    r = np.asarray(R, dtype=np.float64)
    if np.any(np.abs(r) > 1.0 + 1e-12) or not np.all(np.isfinite(r)):
        raise ValueError("the overlap R must lie in [-1, 1]")
    r = np.clip(r, -1.0, 1.0)
    if output == "boolean":
        # arccos(R) = 2 arcsin(sqrt((1 - R)/2)): accurate for R -> 1
        out = 2.0 * np.arcsin(np.sqrt((1.0 - r) / 2.0)) / math.pi
    else:
        out = 1.0 - r
    return float(out) if out.ndim == 0 else out


def accuracy(R: ArrayLike, output: Output = "boolean") -> Array | float:
    """``1 - eps(R)``; the paper's self-overlap ``eta`` (``= R`` for the linear ST)."""
    eps = generalization_error(R, output)
    return 1.0 - eps


def overlap_from_error(eps: ArrayLike, output: Output = "boolean") -> Array | float:
    """Inverse of :func:`generalization_error`: ``R = cos(pi eps)`` or ``1 - eps``."""
    _check_choice(output, "output", _OUTPUTS)
    e = np.asarray(eps, dtype=np.float64)
    out = np.cos(math.pi * e) if output == "boolean" else 1.0 - e
    return float(out) if out.ndim == 0 else out


def entropy_spherical(R: ArrayLike) -> Array | float:
    r"""``s(R) = (1/2) ln(1 - R^2)``: log-fraction of the sphere at overlap ``R``
    (EVdB eq. (2.16))."""
    r = np.asarray(R, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = 0.5 * np.log1p(-r * r)
    return float(out) if out.ndim == 0 else out


def entropy_ising(R: ArrayLike) -> Array | float:
    r"""``s(R) = -((1+R)/2) ln((1+R)/2) - ((1-R)/2) ln((1-R)/2)`` (EVdB eq. (7.4)).

    Counting measure on ``{-1, 1}^N``: ``s(0) = ln 2``, ``s(+-1) = 0``.
    """
    r = np.asarray(R, dtype=np.float64)
    p, m = (1.0 + r) / 2.0, (1.0 - r) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.where(p > 0, p * np.log(p), 0.0) - np.where(m > 0, m * np.log(m), 0.0)
    return float(out) if out.ndim == 0 else out


def _entropy(prior: str) -> Callable[[Array], Array]:
    return entropy_spherical if prior == "spherical" else entropy_ising  # type: ignore[return-value]


def _dentropy(prior: str, R: Array) -> Array:
    if prior == "spherical":
        return -R / (1.0 - R * R)
    return -np.arctanh(R)


# --------------------------------------------------------------------------------------------
# annealed approximation (SST92 sec. II.D; EVdB ch. 2)
# --------------------------------------------------------------------------------------------

def annealed_potential(R: ArrayLike, T: float, output: Output = "boolean") -> Array | float:
    r"""Annealed Hamiltonian per example times ``beta``, ``beta G_an(R)``.

    Boolean: ``beta G_an = -ln[1 - (1 - e^{-beta}) eps(R)]`` (SST92 eq. (2.31); paper
    arXiv:2507.17912 Eq. (43)); ``T = 0`` gives ``-ln(1 - eps)``.
    Linear: ``beta G_an = (1/2) ln[1 + 2 beta (1 - R)]`` (SST92 eq. (C6);
    arXiv:2507.17912 Eq. (175); infinite at ``T = 0`` unless ``R = 1``).
    """
    _check_choice(output, "output", _OUTPUTS)
    T = _check_T(T)
    beta = _beta(T)
    r = np.asarray(R, dtype=np.float64)
    if output == "boolean":
        eps = np.asarray(generalization_error(r, "boolean"))
        c = 1.0 if math.isinf(beta) else -math.expm1(-beta)
        with np.errstate(divide="ignore"):
            out = -np.log1p(-c * eps)
    else:
        if math.isinf(beta):
            out = np.where(r >= 1.0, 0.0, np.inf)
        else:
            out = 0.5 * np.log1p(2.0 * beta * (1.0 - r))
    return float(out) if np.ndim(out) == 0 else out


def _annealed_training(R: float, T: float, output: str) -> float:
    """``eps_t = d(beta G_an)/d beta`` at fixed ``R`` (SST92 sec. II.D)."""
    if T == 0.0:
        return 0.0
    beta = 1.0 / T
    if output == "boolean":
        eps = float(generalization_error(R, "boolean"))
        return math.exp(-beta) * eps / (1.0 + math.expm1(-beta) * eps)
    m = 1.0 - R
    return m / (1.0 + 2.0 * beta * m)


def annealed_landscape(R: ArrayLike, load: float, T: float, prior: Prior = "spherical",
                       output: Output = "boolean") -> Array | float:
    r"""``phi(R) = s(R) - load * beta G_an(R)``; ``-beta f_an = max_R phi``.

    SST92 sec. II.D; arXiv:2507.17912 Sec. 4.2.4 ("The Annealed Approximation").  For the
    Ising prior the landscape can have two maxima (an interior one and the endpoint
    ``R = 1``), which is the annealed first-order transition.
    """
    _check_choice(prior, "prior", _PRIORS)
    load = _check_load(load)
    r = np.asarray(R, dtype=np.float64)
    out = np.asarray(_entropy(prior)(r)) - load * np.asarray(annealed_potential(r, T, output))
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class AnnealedPoint:
    """Annealed (or high-temperature) saddle point at one load.

    Attributes
    ----------
    load, T : float
        ``alpha = P/N`` and the temperature (``load`` is ``alpha_t`` for the high-T limit).
    R : float
        Global maximiser ``R*`` of the landscape.
    eps_g, eps_t : float
        ``eps(R*)`` and the annealed training error ``d(beta G_an)/d beta`` at ``R*``.
    free_energy : float
        ``-beta f_an = phi(R*)``.
    local_maxima : tuple of float
        All local maxima of ``phi`` on ``[0, 1]`` (two for the Ising prior near its jump).
    """

    load: float
    T: float
    prior: str
    output: str
    R: float
    eps_g: float
    eps_t: float
    free_energy: float
    local_maxima: tuple[float, ...]


def _maximise(phi: Callable[[Array], Array], dphi: Callable[[Array], Array],
              include_one: bool) -> tuple[float, float, tuple[float, ...]]:
    """Global and local maxima of ``phi`` on ``[0, 1)`` (or ``[0, 1]``): grid, then brentq on
    ``phi'`` in each bracketing cell.  The endpoint ``R = 1`` counts when ``include_one``."""
    g = np.unique(np.concatenate([np.linspace(0.0, 1.0, 801)[:-1],
                                  1.0 - np.logspace(-14, -0.5, 400)]))
    if include_one:
        g = np.append(g, 1.0)
    vals = phi(g)
    maxima: list[float] = []
    for k in range(1, len(g) - 1):
        if vals[k] >= vals[k - 1] and vals[k] > vals[k + 1] and np.isfinite(vals[k]):
            lo, hi = g[k - 1], g[k + 1]
            dlo, dhi = dphi(np.array([lo]))[0], dphi(np.array([hi]))[0]
            if np.isfinite(dlo) and np.isfinite(dhi) and dlo > 0 > dhi:
                x = optimize.brentq(lambda v: dphi(np.array([v]))[0], lo, hi, xtol=1e-15,
                                    rtol=1e-15)
            else:  # no sign change of phi' resolved on the grid cell: maximise directly
                x = optimize.minimize_scalar(lambda v: -phi(np.array([v]))[0], bounds=(lo, hi),
                                             method="bounded", options={"xatol": 1e-14}).x
            maxima.append(float(x))
    if vals[0] > vals[1]:
        maxima.insert(0, 0.0)
    if include_one and vals[-1] >= vals[-2]:
        maxima.append(1.0)
    cvals = phi(np.asarray(maxima))
    best = int(np.nanargmax(cvals))
    return float(maxima[best]), float(cvals[best]), tuple(maxima)


def annealed_point(load: float, T: float, prior: Prior = "spherical",
                   output: Output = "boolean") -> AnnealedPoint:
    r"""Annealed-approximation saddle point ``R* = argmax_R [s(R) - load beta G_an(R)]``.

    SST92 sec. II.D, eqs. (2.31)-(2.35); arXiv:2507.17912 Sec. 4.2.4 and App. A.2.  Special
    cases with closed stationarity conditions, used in the tests: spherical Boolean ``T = 0``,
    ``cot(pi eps) = load / (pi (1 - eps))`` (:func:`version_space_annealed_eps`); spherical linear,
    ``R / (1 - R^2) = load beta / (1 + 2 beta (1 - R))``.

    Parameters
    ----------
    load : float
        ``alpha = P/N > 0``.
    T : float
        Temperature ``>= 0`` (linear output needs ``T > 0``).
    prior, output : str
    """
    _check_choice(prior, "prior", _PRIORS)
    _check_choice(output, "output", _OUTPUTS)
    load = _check_load(load)
    T = _check_T(T)
    if output == "linear" and T == 0.0:
        raise ValueError("the linear perceptron's annealed curve needs T > 0 (at T = 0 the "
                         "version space is the single point R = 1)")
    beta = _beta(T)

    def phi(r: Array) -> Array:
        return np.asarray(annealed_landscape(np.clip(r, 0.0, 1.0), load, T, prior, output))

    def dphi(r: Array) -> Array:
        r = np.asarray(r, dtype=np.float64)
        ds = _dentropy(prior, r)
        if output == "boolean":
            c = 1.0 if math.isinf(beta) else -math.expm1(-beta)
            eps = np.asarray(generalization_error(r, "boolean"))
            deps = -1.0 / (math.pi * np.sqrt(np.maximum(1.0 - r * r, 1e-300)))
            return ds - load * c * deps / (1.0 - c * eps)
        return ds + load * beta / (1.0 + 2.0 * beta * (1.0 - r))

    R, val, maxima = _maximise(phi, dphi, include_one=(prior == "ising"))
    return AnnealedPoint(load=load, T=T, prior=prior, output=output, R=R,
                         eps_g=float(generalization_error(R, output)),
                         eps_t=_annealed_training(R, T, output), free_energy=val,
                         local_maxima=maxima)


def version_space_annealed_eps(load: ArrayLike) -> Array | float:
    r"""Annealed estimate of Gibbs learning at ``T = 0``, spherical Boolean student.

    Root of ``cot(pi eps) = load / (pi (1 - eps))`` on ``(0, 1/2)`` (EVdB sec. 2.3, annealed
    Gardner volume).  Asymptote ``eps ~ 1/load`` (the exact RS value is
    ``~ 0.62 / load``).
    """
    a = _loads(load)
    out = np.empty_like(a)
    for k, v in enumerate(a):
        f = lambda e, v=v: math.cos(math.pi * e) * (1 - e) * math.pi \
            - v * math.sin(math.pi * e)  # noqa: E731
        out[k] = optimize.brentq(f, 1e-300, 0.5, xtol=1e-16, rtol=1e-15)
    return float(out[0]) if np.ndim(load) == 0 else out


# --------------------------------------------------------------------------------------------
# high-temperature limit (SST92 sec. III)
# --------------------------------------------------------------------------------------------

def high_temperature_point(load_t: float, prior: Prior = "spherical",
                           output: Output = "boolean") -> AnnealedPoint:
    r"""High-temperature limit ``beta -> 0``, ``load_t = load * beta`` fixed.

    ``beta f = min_R [load_t eps(R) - s(R)]`` (SST92 sec. III; EVdB ch. 4; paper
    arXiv:2507.17912 Eq. (49)).  Annealed = quenched and ``eps_t = eps_g`` here.
    Closed forms: spherical Boolean ``eps = arctan(pi / load_t) / pi``; spherical linear
    ``R = (sqrt(1 + 4 load_t^2) - 1) / (2 load_t)``; Ising linear ``R = tanh(load_t)``;
    Ising Boolean has a first-order jump to ``R = 1`` (returned as the global minimum, the
    interior one listed in ``local_maxima``).  ``load`` of the result holds ``load_t``.
    """
    _check_choice(prior, "prior", _PRIORS)
    _check_choice(output, "output", _OUTPUTS)
    at = _check_load(load_t, "load_t")
    if prior == "spherical" and output == "boolean":
        R = at / math.hypot(math.pi, at)
        eps = math.atan(math.pi / at) / math.pi
        val = 0.5 * math.log1p(-R * R) - at * eps
        return AnnealedPoint(at, math.inf, prior, output, R, eps, eps, val, (R,))
    if prior == "spherical":
        R = 2.0 * at / (math.sqrt(1.0 + 4.0 * at * at) + 1.0)
        val = 0.5 * math.log1p(-R * R) - at * (1.0 - R)
        return AnnealedPoint(at, math.inf, prior, output, R, 1.0 - R, 1.0 - R, val, (R,))
    if output == "linear":
        R = math.tanh(at)
        val = float(entropy_ising(R)) - at * (1.0 - R)
        return AnnealedPoint(at, math.inf, prior, output, R, 1.0 - R, 1.0 - R, val, (R,))

    def phi(r: Array) -> Array:
        return np.asarray(entropy_ising(r)) - at * np.asarray(generalization_error(r))

    def dphi(r: Array) -> Array:
        return -np.arctanh(r) + at / (math.pi * np.sqrt(np.maximum(1.0 - r * r, 1e-300)))

    R, val, maxima = _maximise(phi, dphi, include_one=True)
    eps = float(generalization_error(R))
    return AnnealedPoint(at, math.inf, prior, output, R, eps, eps, val, maxima)


def st_quality_high_t(load_t: ArrayLike) -> Array | float:
    r"""The paper's ST model quality ``Q_ST = 1 - eps_g = <R>`` of the linear perceptron in the
    annealed high-T limit: ``R = (sqrt(1 + 4 load_t^2) - 1) / (2 load_t)``
    (arXiv:2507.17912 Eq. (99), Sec. 4.3.2; docs/simulations.md, "Analytic curves")."""
    a = _loads(load_t, "load_t")
    out = 2.0 * a / (np.sqrt(1.0 + 4.0 * a * a) + 1.0)
    return float(out[0]) if np.ndim(load_t) == 0 else out


# --------------------------------------------------------------------------------------------
# Gaussian quadrature with refinement around sharp features
# --------------------------------------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(12)

