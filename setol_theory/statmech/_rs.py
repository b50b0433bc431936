"""Replica-symmetric (RS) saddle points of Gibbs learning of the teacher-student perceptron."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from scipy.special import expit, log_ndtr, ndtr, ndtri_exp

from ._annealed import (
    _GL_W,
    _GL_X,
    _PRIORS,
    _SQRT2PI,
    AnnealedPoint,
    _beta,
    _check_choice,
    _check_load,
    _check_T,
    entropy_ising,
    generalization_error,
    high_temperature_point,
)

Array = NDArray[np.float64]

Prior = Literal["spherical", "ising"]


_SPAN = 13.0


_BASE = np.linspace(-_SPAN, _SPAN, 53)  # panels of width 0.5


def _normal_rule(features: Sequence[tuple[float, float]] = ()) -> tuple[Array, Array]:
    """Nodes and weights of ``int Dt f(t)``; panels refined to width ``w`` on ``c +- 16 w``."""
    parts = [_BASE]
    for c, w in features:
        if not (math.isfinite(c) and math.isfinite(w)) or w >= 0.5 or abs(c) > _SPAN + 16 * w:
            continue
        w = max(w, 1e-9)
        lo, hi = max(c - 16.0 * w, -_SPAN), min(c + 16.0 * w, _SPAN)
        if hi > lo:
            parts.append(np.linspace(lo, hi, 33))
    b = np.unique(np.concatenate(parts))
    mid, half = (b[1:] + b[:-1]) / 2.0, (b[1:] - b[:-1]) / 2.0
    t = (mid[:, None] + half[:, None] * _GL_X).ravel()
    w = (half[:, None] * _GL_W).ravel() * np.exp(-0.5 * t * t) / _SQRT2PI
    return t, w


def _log1m_exp(beta: float) -> float:
    """``ln(1 - e^{-beta})`` (0 at ``beta = inf``)."""
    return 0.0 if math.isinf(beta) else math.log(-math.expm1(-beta))


def _L(x: Array, beta: float) -> Array:
    """``ln[e^{-beta} + (1 - e^{-beta}) H(-x)]`` (``log_ndtr`` at ``beta = inf``)."""
    if math.isinf(beta):
        return log_ndtr(x)
    return np.logaddexp(-beta, _log1m_exp(beta) + log_ndtr(x))


def _x_star(beta: float) -> float:
    """Where ``(1 - e^{-beta}) H(-x) = e^{-beta}`` (the soft step of ``_L``); ``nan`` if none."""
    if math.isinf(beta) or beta <= math.log(2.0):
        return math.nan
    # H(-x) = 1/(e^beta - 1) = e^{-beta}/(1 - e^{-beta}), in log space (no overflow as T -> 0)
    return float(ndtri_exp(-beta - _log1m_exp(beta)))


# --------------------------------------------------------------------------------------------
# replica-symmetric energetic part
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _State:
    """``(q, R)`` through ``m = 1 - R`` and ``w = (1 - q) / (1 - R^2)`` (no cancellation)."""

    m: float
    w: float

    @property
    def R(self) -> float:
        return 1.0 - self.m

    @property
    def omR2(self) -> float:
        return self.m * (2.0 - self.m)

    @property
    def omq(self) -> float:
        return self.w * self.omR2

    @property
    def qmR2(self) -> float:
        return (1.0 - self.w) * self.omR2

    @property
    def q(self) -> float:
        return 1.0 - self.omq


def _energetic(st: _State, beta: float) -> tuple[float, float, float]:
    """``(G_E, R^_E / load, q^_E / load)``: the energetic term and its conjugates.

    ``R^ = load dG_E/dR``, ``q^ = -2 load dG_E/dq`` (saddle point of ``G_S + load G_E``).
    ``G_E = 2 int Dt H(-a t) L(b t)``, ``a = R / sqrt(q - R^2)``, ``b = sqrt(q / (1 - q))``;
    its ``a``- and ``b``-derivatives are rewritten with ``phi(t) phi(c t)`` combined into one
    Gaussian so that only one factor can be sharp.
    """
    R, q, qmR2, omq = st.R, st.q, st.qmR2, st.omq
    a = R / math.sqrt(qmR2)
    b = math.sqrt(q / omq)
    xs = _x_star(beta)
    # G_E (value)
    t, w = _normal_rule([(0.0, 1.0 / max(a, 1e-300)), (0.0, 1.0 / max(b, 1e-300)),
                         (xs / b if b > 0 else math.nan, 1.0 / max(b, 1e-300))])
    ge = 2.0 * float(np.dot(w, ndtr(a * t) * _L(b * t, beta)))
    # dG_E/da = 2/(sqrt(2 pi)(1 + a^2)) int Ds s L(b s / c_a)
    ca = math.sqrt(1.0 + a * a)
    k = b / ca
    t, w = _normal_rule([(0.0, 1.0 / max(k, 1e-300)), (xs / k if k > 0 else math.nan,
                                                       1.0 / max(k, 1e-300))])
    ga = 2.0 / (_SQRT2PI * ca * ca) * float(np.dot(w, t * _L(k * t, beta)))
    # dG_E/db = 2 int Dt H(-a t) t L'(b t); L'(x) = (1 - e^{-beta}) phi(x) / Phi_beta(x) and
    # phi(t) phi(b t) = phi(c_b t) / sqrt(2 pi):
    #   = 2/(sqrt(2 pi)(1 + b^2)) int Ds s H(-a s / c_b) (1 - e^{-beta}) / Phi_beta(b s / c_b)
    cb = math.sqrt(1.0 + b * b)
    ka, kb = a / cb, b / cb
    t, w = _normal_rule([(0.0, 1.0 / max(ka, 1e-300)), (0.0, 1.0 / max(kb, 1e-300)),
                         (xs / kb if kb > 0 else math.nan, 1.0 / max(kb, 1e-300))])
    ratio = np.exp(_log1m_exp(beta) - _L(kb * t, beta))
    gb = 2.0 / (_SQRT2PI * cb * cb) * float(np.dot(w, t * ndtr(ka * t) * ratio))
    da_dR = q / qmR2**1.5
    da_dq = -R / (2.0 * qmR2**1.5)
    db_dq = 1.0 / (2.0 * math.sqrt(q) * omq**1.5)
    r_hat = ga * da_dR
    q_hat = -2.0 * (ga * da_dq + gb * db_dq)
    return ge, r_hat, q_hat


def _training_error(st: _State, beta: float) -> float:
    """``eps_t = -dG_E/dbeta = 2 int Dt H(-a t) e^{-beta} H(b t) / [e^{-beta} + ...]``."""
    if math.isinf(beta):
        return 0.0
    a = st.R / math.sqrt(st.qmR2)
    b = math.sqrt(st.q / st.omq)
    xs = _x_star(beta)
    t, w = _normal_rule([(0.0, 1.0 / max(a, 1e-300)), (0.0, 1.0 / max(b, 1e-300)),
                         (xs / b if b > 0 else math.nan, 1.0 / max(b, 1e-300))])
    f = ndtr(a * t) * np.exp(-beta + log_ndtr(-b * t) - _L(b * t, beta))
    return 2.0 * float(np.dot(w, f))


# --------------------------------------------------------------------------------------------
# entropic parts
# --------------------------------------------------------------------------------------------

def _ising_moments(q_hat: float, r_hat: float) -> tuple[float, float, float]:
    """``(1 - R, 1 - q, int Dz ln 2cosh x)`` with ``x = sqrt(q^) z + R^`` (accurate as R -> 1)."""
    s = math.sqrt(max(q_hat, 0.0))
    feats = [(-r_hat / s, 1.0 / s)] if s > 0 else []
    t, w = _normal_rule(feats)
    x = s * t + r_hat
    m = float(np.dot(w, 2.0 * expit(-2.0 * x)))
    omq = float(np.dot(w, 4.0 * expit(2.0 * x) * expit(-2.0 * x)))
    lc = float(np.dot(w, np.abs(x) + np.log1p(np.exp(-2.0 * np.abs(x)))))
    return m, omq, lc


def _entropic_update(prior: str, q_hat: float, r_hat: float) -> tuple[float, float]:
    """``(1 - R, 1 - q)`` that make ``G_S`` stationary at the conjugates ``(q^, R^)``."""
    if prior == "spherical":
        s = max(q_hat + r_hat * r_hat, 0.0)
        omq = 2.0 / (1.0 + math.sqrt(1.0 + 4.0 * s))
        return 1.0 - r_hat * omq, omq
    m, omq, _ = _ising_moments(q_hat, r_hat)
    return m, omq


def _entropic_value(prior: str, st: _State, q_hat: float, r_hat: float) -> float:
    if prior == "spherical":
        return 0.5 * math.log(st.omq) + st.qmR2 / (2.0 * st.omq)
    _, _, lc = _ising_moments(q_hat, r_hat)
    return -q_hat * st.omq / 2.0 - r_hat * st.R + lc


# --------------------------------------------------------------------------------------------
# T = 0 (version space, q = R): EVdB ch. 2, 7; Gyorgyi 1990
# --------------------------------------------------------------------------------------------

def _I0(R: float) -> float:
    """``int Dt exp(-R t^2/2) / H(-sqrt(R) t)`` (EVdB eq. (2.42))."""
    t, w = _normal_rule()
    return float(np.dot(w, np.exp(-0.5 * R * t * t - log_ndtr(math.sqrt(R) * t))))


def _r_hat_energetic0(m: float, load: float) -> float:
    """``R^ = load I(R) / (pi sqrt(1 - R))`` (Gyorgyi 1990), ``m = 1 - R``."""
    return load * _I0(1.0 - m) / (math.pi * math.sqrt(m))


def _ge0(m: float) -> float:
    """``G_E(R, R) = 2 int Dt H(-k t) ln H(-k t)``, ``k = sqrt(R/(1-R))`` (T = 0)."""
    R = 1.0 - m
    k = math.sqrt(R / m)
    t, w = _normal_rule([(0.0, 1.0 / max(k, 1e-300))])
    x = k * t
    return 2.0 * float(np.dot(w, ndtr(x) * log_ndtr(x)))


def _m_of_rhat0(prior: str, r_hat: float) -> float:
    """``1 - R`` on the Nishimori line at conjugate ``R^``: ``1/(1 + R^)`` (spherical) or
    ``1 - int Dz tanh(sqrt(R^) z + R^)`` (Ising)."""
    if prior == "spherical":
        return 1.0 / (1.0 + r_hat)
    return _ising_moments(r_hat, r_hat)[0]


def _ising_r_hat_entropic(m: float) -> float:
    """``R^`` with ``int Dz tanh(sqrt(R^) z + R^) = R = 1 - m`` (Nishimori line)."""
    def f(lx: float) -> float:
        mm = _ising_moments(math.exp(lx), math.exp(lx))[0]
        return math.log(max(mm, 1e-300)) - math.log(m)

    return math.exp(optimize.brentq(f, -60.0, math.log(150.0), xtol=1e-13))


def _zero_t_entropy(prior: str, m: float, load: float, r_hat: float | None = None
                    ) -> tuple[float, float]:
    """RS entropy ``s(R)`` on the line ``q = R`` (stationary in the conjugate) and ``R^``."""
    if prior == "spherical":
        R = 1.0 - m
        return 0.5 * math.log(m) + R / 2.0 + load * _ge0(m), R / m
    rh = _ising_r_hat_entropic(m) if r_hat is None else r_hat
    _, _, lc = _ising_moments(rh, rh)
    return -rh * (2.0 - m) / 2.0 + lc + load * _ge0(m), rh


def _zero_t_residual(prior: str, log_rhat: float, load: float) -> float:
    """``ln R^ - ln R^_E(R(R^))``: zero at the T = 0 saddle points.

    Along increasing ``R^`` (increasing ``R``) the RS entropy has ``ds/dR = (R^_E - R^)/2``,
    so a stable (locally maximal) saddle point is a ``-`` to ``+`` crossing of the residual.
    """
    m = _m_of_rhat0(prior, math.exp(log_rhat))
    if m <= 0.0:
        return math.inf
    return log_rhat - math.log(_r_hat_energetic0(m, load))


#: scan grids in ln R^ (spherical: 1 - R = 1/(1 + R^) down to 1e-14; Ising: 1 - R ~ e^{-R^/2})
_LRH_GRID = {"spherical": np.linspace(-14.0, math.log(1e14), 200),
             "ising": np.linspace(-14.0, math.log(120.0), 120)}


def _zero_t_stable_roots(prior: str, load: float) -> list[float]:
    """``R^`` of every locally stable T = 0 saddle point, by scan + brentq in ``ln R^``.

    At small load the root sits at ``R^ ~ 2 load / pi`` (``R ~ R^`` and ``I(0) = 2``), so the
    scan is extended below the fixed grid to ``ln(load) - 10``.
    """
    grid = _LRH_GRID[prior]
    lo = math.log(load) - 10.0
    if lo < grid[0]:
        n_extra = max(2, int(math.ceil((grid[0] - lo) * 4.0)))
        grid = np.concatenate([np.linspace(lo, grid[0], n_extra, endpoint=False), grid])
    vals = np.array([_zero_t_residual(prior, float(v), load) for v in grid])
    roots = []
    for k in range(len(grid) - 1):
        if vals[k] < 0.0 <= vals[k + 1]:
            lr = optimize.brentq(lambda v: _zero_t_residual(prior, v, load), grid[k],
                                 grid[k + 1], xtol=1e-14, rtol=1e-14)
            roots.append(math.exp(lr))
    return roots


# --------------------------------------------------------------------------------------------
# finite T: 2-D saddle point
# --------------------------------------------------------------------------------------------

_M_FLOOR = 1e-12  # 1 - R below this: the iteration is running to the perfect state R = 1


def _residual(x: Array, prior: str, load: float, beta: float) -> Array:
    m, w = float(expit(x[0])), float(expit(x[1]))
    if not (_M_FLOOR < m < 1.0 and 0.0 < w < 1.0):
        return np.array([1e3, 1e3])
    st = _State(m, w)
    _, rh, qh = _energetic(st, beta)
    m_new, omq_new = _entropic_update(prior, load * qh, load * rh)
    return np.array([(m - m_new) / m, (st.omq - omq_new) / st.omq])


def _fixed_point(x: Array, prior: str, load: float, beta: float, n: int,
                 damping: float = 0.5) -> Array | None:
    """Damped iteration ``(q, R) -> entropic(energetic(q, R))``; ``None`` if it runs to R = 1."""
    for _ in range(n):
        st = _State(float(expit(x[0])), float(expit(x[1])))
        _, rh, qh = _energetic(st, beta)
        m_new, omq_new = _entropic_update(prior, load * qh, load * rh)
        if m_new < _M_FLOOR:
            return None
        m_new = min(m_new, 1.0 - 1e-15)
        w_new = min(max(omq_new / (m_new * (2.0 - m_new)), 1e-15), 1.0 - 1e-12)
        x_new = np.array([math.log(m_new / (1.0 - m_new)), math.log(w_new / (1.0 - w_new))])
        x = (1.0 - damping) * x_new + damping * x
    return x


def _solve(prior: str, load: float, beta: float, x0: Array, n_fixed: int = 20
           ) -> tuple[Array, bool, float] | None:
    """Fixed-point warm-up then hybrid Powell; ``None`` when the iteration runs to ``R = 1``."""
    x = _fixed_point(np.asarray(x0, dtype=np.float64), prior, load, beta, n_fixed)
    if x is None:
        return None
    sol = optimize.root(_residual, x, args=(prior, load, beta), method="hybr",
                        options={"xtol": 1e-13})
    res = float(np.max(np.abs(_residual(sol.x, prior, load, beta))))
    if res > 1e-9:  # retry after more, heavily damped iterations
        x = _fixed_point(x, prior, load, beta, 200, damping=0.7)
        if x is None:
            return None
        sol = optimize.root(_residual, x, args=(prior, load, beta), method="hybr",
                            options={"xtol": 1e-13})
        res = float(np.max(np.abs(_residual(sol.x, prior, load, beta))))
    return sol.x, res < 1e-8, res


def _x_from(R: float, q: float) -> Array:
    m = 1.0 - R
    w = (1.0 - q) / (m * (2.0 - m))
    w = min(max(w, 1e-12), 1 - 1e-12)
    return np.array([math.log(m / (1 - m)), math.log(w / (1 - w))])


# --------------------------------------------------------------------------------------------
# public RS API
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RSPoint:
    """Replica-symmetric saddle point of Gibbs learning at one ``(load, T)``.

    Attributes
    ----------
    load, T : float
    prior : str
    branch : str
        ``"single"`` (spherical), ``"poor"`` (Ising, interior ``R < 1`` solution) or
        ``"perfect"`` (Ising ``R = q = 1``: the student equals the teacher; ``-beta f = 0``).
    R, q : float
        Teacher and replica overlaps.
    eps_g, eps_t : float
        ``arccos(R)/pi`` and the training error.
    free_energy : float
        ``-beta f`` per weight (entropy of the version space at ``T = 0``).
    R_hat, q_hat : float
        Conjugate order parameters (``inf`` for the perfect state).
    residual : float
        Largest relative residual of the saddle-point equations.
    converged : bool
    """

    load: float
    T: float
    prior: str
    branch: str
    R: float
    q: float
    eps_g: float
    eps_t: float
    free_energy: float
    R_hat: float
    q_hat: float
    residual: float
    converged: bool


def _point_from_state(prior: str, load: float, T: float, st: _State, branch: str,
                      res: float, ok: bool) -> RSPoint:
    beta = _beta(T)
    ge, rh, qh = _energetic(st, beta)
    rh, qh = load * rh, load * qh
    fe = _entropic_value(prior, st, qh, rh) + load * ge
    return RSPoint(load=load, T=T, prior=prior, branch=branch, R=st.R, q=st.q,
                   eps_g=2.0 * math.asin(math.sqrt(st.m / 2.0)) / math.pi,
                   eps_t=_training_error(st, beta), free_energy=fe, R_hat=rh, q_hat=qh,
                   residual=res, converged=ok)


def _zero_t_point(prior: str, load: float, r_hat: float, branch: str) -> RSPoint:
    m = _m_of_rhat0(prior, r_hat)
    s, rh = _zero_t_entropy(prior, m, load, r_hat if prior == "ising" else None)
    res = abs(_zero_t_residual(prior, math.log(r_hat), load))
    return RSPoint(load=load, T=0.0, prior=prior, branch=branch, R=1.0 - m, q=1.0 - m,
                   eps_g=2.0 * math.asin(math.sqrt(m / 2.0)) / math.pi, eps_t=0.0,
                   free_energy=s, R_hat=rh, q_hat=rh, residual=res, converged=res < 1e-8)


def _perfect(load: float, T: float) -> RSPoint:
    return RSPoint(load=load, T=T, prior="ising", branch="perfect", R=1.0, q=1.0, eps_g=0.0,
                   eps_t=0.0, free_energy=0.0, R_hat=math.inf, q_hat=math.inf, residual=0.0,
                   converged=True)


def _ising_poor(load: float, T: float, guess: tuple[float, float] | None) -> RSPoint | None:
    """The Ising poor branch at ``(load, T)``, or ``None`` beyond its spinodal."""
    if T == 0.0:
        roots = _zero_t_stable_roots("ising", load)
        return _zero_t_point("ising", load, roots[0], "poor") if roots else None
    x0 = _x_from(*guess) if guess is not None else _x_from(0.05, 0.01)
    out = _solve("ising", load, 1.0 / T, x0, n_fixed=40 if guess is None else 5)
    if out is None:
        return None
    x, ok, res = out
    st = _State(float(expit(x[0])), float(expit(x[1])))
    if not ok or st.m < 1e-6:
        return None
    return _point_from_state("ising", load, T, st, "poor", res, ok)


def gibbs_rs_point(load: float, T: float, prior: Prior = "spherical",
                   branch: Literal["equilibrium", "poor", "perfect"] = "equilibrium",
                   guess: tuple[float, float] | None = None) -> RSPoint:
    r"""Replica-symmetric Gibbs-learning saddle point of the Boolean perceptron.

    ``T = 0``: ``R / sqrt(1 - R) = (load / pi) int Dt exp(-R t^2/2) / H(-sqrt(R) t)``
    (spherical, EVdB eq. (2.42)); Ising: ``R = int Dz tanh(sqrt(R^) z + R^)``,
    ``R^ = (load / (pi sqrt(1 - R))) int Dt exp(-R t^2/2) / H(-sqrt(R) t)`` (Gyorgyi 1990;
    EVdB sec. 7.2), solved by a scan in ``ln R^`` and ``brentq``.  ``T > 0``: the
    two-parameter ``(q, R)`` equations of the module docstring (EVdB ch. 4; SST92 sec. V),
    solved by damped fixed-point iteration followed by ``scipy.optimize.root`` (hybrid Powell).

    Ising student: besides the interior ("poor") solution, the perfect state ``R = q = 1``
    (student = teacher, zero energy, ``-beta f = 0``) is a locally stable solution at every
    ``T``: near ``R = 1`` the energy cost ``~ load sqrt(1 - R)`` beats the entropy gain
    ``~ (1 - R) ln(1/(1 - R))`` (the RS iteration runs to ``R = 1`` super-exponentially).  The
    equilibrium state is the one with the larger ``-beta f``; the jump is first order
    (:func:`ising_transition`).

    Parameters
    ----------
    load : float
        ``alpha = P/N > 0``.
    T : float
        Temperature ``>= 0``.
    prior : {"spherical", "ising"}
    branch : {"equilibrium", "poor", "perfect"}
        Ising only: which state to return.  ``"poor"`` raises ``ValueError`` beyond the poor
        branch's spinodal.
    guess : (R, q), optional
        Starting point for ``T > 0`` (continuation in load).

    Returns
    -------
    RSPoint
    """
    _check_choice(prior, "prior", _PRIORS)
    _check_choice(branch, "branch", ("equilibrium", "poor", "perfect"))
    load = _check_load(load)
    T = _check_T(T)
    if prior == "ising":
        if branch == "perfect":
            return _perfect(load, T)
        poor = _ising_poor(load, T, guess)
        if branch == "poor":
            if poor is None:
                raise ValueError(f"the Ising poor-generalisation branch does not exist at "
                                 f"load {load}, T {T} (beyond its spinodal)")
            return poor
        return poor if poor is not None and poor.free_energy > 0.0 else _perfect(load, T)
    if T == 0.0:
        roots = _zero_t_stable_roots(prior, load)
        if len(roots) != 1:
            raise RuntimeError(f"expected one T = 0 saddle point at load {load}, found "
                               f"{len(roots)}")
        return _zero_t_point(prior, load, roots[0], "single")
    x0 = _x_from(*guess) if guess is not None else _x_from(0.05, 0.01)
    out = _solve(prior, load, 1.0 / T, x0, n_fixed=40 if guess is None else 5)
    if out is None:
        raise RuntimeError(f"RS iteration diverged at load {load}, T {T}")
    x, ok, res = out
    st = _State(float(expit(x[0])), float(expit(x[1])))
    return _point_from_state(prior, load, T, st, "single", res, ok)


def rs_entropy_landscape(R: ArrayLike, load: float, prior: Prior = "ising") -> Array:
    r"""RS entropy at fixed overlap on the Nishimori line ``q = R`` (``T = 0``).

    ``s(R) = G_S(R) + load * 2 int Dt H(-k t) ln H(-k t)``, ``k = sqrt(R / (1 - R))``, with
    ``G_S = (1/2) ln(1 - R) + R/2`` (spherical) or
    ``G_S = -R^ (1 + R)/2 + int Dz ln 2cosh(sqrt(R^) z + R^)``, ``R^`` from
    ``int Dz tanh(sqrt(R^) z + R^) = R`` (Ising).  Its stationary points are the T = 0 saddle
    points; for the Ising prior the interior maximum competes with ``s(1) = 0`` (the
    first-order transition; Gyorgyi 1990; EVdB sec. 7.2; docs/simulations.md).
    """
    _check_choice(prior, "prior", _PRIORS)
    load = _check_load(load)
    r = np.atleast_1d(np.asarray(R, dtype=np.float64))
    if np.any(r <= 0.0) or np.any(r > 1.0):
        raise ValueError("R must lie in (0, 1]")
    out = np.array([(0.0 if prior == "ising" else -math.inf) if v == 1.0 else
                    _zero_t_entropy(prior, 1.0 - float(v), load)[0] for v in r])
    return out


# --------------------------------------------------------------------------------------------
# Ising transition
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IsingTransition:
    """First-order learning transition of the Ising (binary-weight) student (RS).

    Attributes
    ----------
    T : float
    load_c : float
        Thermodynamic transition: the poor branch's ``-beta f`` crosses that of the perfect
        state, ``0`` (at ``T = 0``: the poor branch's entropy crosses zero).
    load_spinodal : float
        Largest load at which the poor branch exists (it is metastable on
        ``(load_c, load_spinodal)``; the perfect state is locally stable at every load).
    """

    T: float
    load_c: float
    load_spinodal: float


def _bisect_existence(exists: Callable[[float], bool], lo: float, hi: float,
                      rtol: float = 1e-6) -> float:
    """Boundary between ``exists(lo)`` and ``not exists(hi)`` by bisection."""
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if exists(mid):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _ising_branch_continuation(T: float, start: float = 0.25) -> list[RSPoint]:
    """Follow the T > 0 poor branch upward in load, shrinking the step at failures until it is
    below ``1e-6`` relative; the last point is at the spinodal (to that tolerance)."""
    p = _ising_poor(start, T, None)
    if p is None:
        raise RuntimeError(f"no Ising poor branch even at load {start}, T {T}")
    path = [p]
    step = 0.25
    while step > 1e-6 * path[-1].load:
        last = path[-1]
        nxt = _ising_poor(last.load + step, T, (last.R, last.q))
        if nxt is not None and last.R <= nxt.R < last.R + 0.03:
            path.append(nxt)
            step = min(step * 1.3, 0.1)
        else:
            step /= 3.0
        if path[-1].load > 1e4:
            raise RuntimeError("the Ising poor branch did not end below load 1e4")
    return path


@lru_cache(maxsize=64)
def _ising_transition_cached(T: float) -> IsingTransition:
    return _ising_transition(T)


def ising_transition(T: float = 0.0) -> IsingTransition:
    r"""First-order transition and spinodal of the Ising student (RS, Boolean output).

    ``T = 0``: ``load_c`` where the poor branch's RS entropy crosses zero (Gyorgyi 1990 and
    Sompolinsky, Tishby & Seung 1990: ``alpha_c ~ 1.245``; EVdB sec. 7.2); the spinodal where
    the stable root of the saddle-point equation disappears (bisection on its existence).
    ``T > 0``: ``-beta f`` of the poor branch against the perfect state's ``0``; the branch is
    followed by continuation in load up to its spinodal.  Results are cached per ``T``.
    """
    return _ising_transition_cached(_check_T(T))


def _ising_transition(T: float) -> IsingTransition:
    """Uncached :func:`ising_transition`."""
    if T == 0.0:
        def exists(a: float) -> bool:
            return _ising_poor(a, 0.0, None) is not None

        lo, hi = 0.25, 0.5
        while exists(hi):
            lo, hi = hi, hi * 1.5
        sp = _bisect_existence(exists, lo, hi)
        a_top = sp * (1.0 - 1e-6)
        if gibbs_rs_point(a_top, 0.0, "ising", "poor").free_energy > 0.0:
            return IsingTransition(T=T, load_c=sp, load_spinodal=sp)
        ac = optimize.brentq(lambda a: gibbs_rs_point(a, 0.0, "ising", "poor").free_energy,
                             0.25, a_top, xtol=1e-10, rtol=1e-10)
        return IsingTransition(T=T, load_c=ac, load_spinodal=sp)
    path = _ising_branch_continuation(T)
    sp = path[-1].load
    fes = np.array([p.free_energy for p in path])
    if fes[-1] > 0.0:  # the poor branch stays stable up to its spinodal
        return IsingTransition(T=T, load_c=sp, load_spinodal=sp)
    k = int(np.flatnonzero(fes <= 0.0)[0]) - 1
    lo, hi = path[k], path[k + 1]

    def fe(a: float) -> float:
        if a >= hi.load:
            return hi.free_energy
        return gibbs_rs_point(a, T, "ising", "poor", guess=(lo.R, lo.q)).free_energy

    ac = optimize.brentq(fe, lo.load, hi.load, xtol=1e-10, rtol=1e-10)
    return IsingTransition(T=T, load_c=ac, load_spinodal=sp)


def ising_high_t_transition() -> IsingTransition:
    r"""High-temperature limit of the Ising transition, in ``load_t = load * beta``.

    ``min_{R<1}[load_t eps(R) - s(R)] = 0`` at ``load_c`` (SST92 sec. III);
    the interior minimum disappears at ``load_spinodal``.  ``T`` of the result is ``inf``.
    """
    def interior(at: float) -> AnnealedPoint | None:
        p = high_temperature_point(at, "ising", "boolean")
        inner = [r for r in p.local_maxima if r < 1.0]
        if not inner:
            return None
        r = inner[-1]
        return AnnealedPoint(at, math.inf, "ising", "boolean", r, 0.0, 0.0,
                             float(entropy_ising(r) - at * generalization_error(r)), ())

    lo, hi = 0.5, 1.0
    while interior(hi) is not None:
        lo, hi = hi, hi * 1.5
    sp = _bisect_existence(lambda a: interior(a) is not None, lo, hi, 1e-9)
    ac = optimize.brentq(lambda a: interior(a).free_energy,  # type: ignore[union-attr]
                         0.5, sp * (1 - 1e-7), xtol=1e-12)
    return IsingTransition(T=math.inf, load_c=ac, load_spinodal=sp)

