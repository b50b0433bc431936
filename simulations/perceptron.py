r"""Monte Carlo of Gibbs learning in the teacher-student perceptron (numba, with a numpy reference).

Spec: ``shared/spec/statmech.md`` part 3 (design) and 1.1 (model).  The student ``J`` is
sampled from ``p(J) ~ prior(J) exp(-E(J)/T)`` over the spherical (``|J|^2 = N``) or Ising
(``J_i = +-1``) prior, for a data set ``xi_mu ~ N(0, I_N)``, ``mu = 1..P``, labelled by a
teacher ``B`` of the same prior.  Energies: number of training errors (Boolean output,
``y = sgn(B . xi)``) or ``1/2 sum_mu (h_mu - y_mu)^2`` (linear output, ``y = B . xi / sqrt N``),
with fields ``h = J . xi / sqrt N``.

Engine (spec 3.2)
-----------------
* State: ``J`` and the fields ``f``: ``f_mu = y_mu h_mu`` (Boolean: an error is ``f < 0``) or
  ``f_mu = h_mu - y_mu`` (linear).  The data are stored once as ``Z[i, mu] = y_mu xi_mu,i /
  sqrt N`` (Boolean) or ``xi_mu,i / sqrt N`` (linear), row-contiguous, so a move touching
  ``J_i`` updates all ``P`` fields with one contiguous row: O(P) per move, never O(NP).
* Spherical moves: Givens rotation of a random pair ``(i, j)`` by ``phi ~ U(-delta, delta)``
  (norm-preserving, symmetric, measure-preserving: plain Metropolis is exact); ``delta`` is
  tuned during burn-in only, towards an acceptance of ``target_acceptance``.  One sweep =
  ``N // 2`` moves.  Ising moves: single spin flips, one sweep = ``N`` flips.
* Metropolis acceptance ``min(1, exp(-beta dE))``; ``T = 0`` (``beta = inf``) rejects every
  move that raises the energy (version-space sampling when started in the version space).
* ``T = 0`` random start (spec 3.2 option b): ``beta`` is annealed geometrically from 0.5 to 30
  over the first half of burn-in; a spherical Boolean chain that still has training errors
  when ``beta`` reaches ``inf`` is moved into the version space by deterministic relaxation
  steps (Agmon-Motzkin: ``J += (kappa - f_mu) Z[:, mu] / |Z[:, mu]|^2`` on the worst pattern,
  ``kappa = 1e-3``, renormalised) -- annealing alone left 1-10 errors at ``N = 100`` after
  500 sweeps -- and then equilibrates inside it for the rest of burn-in.  Ising chains are
  not repaired (their version space is not convex; a stuck chain shows as a start gap).
* Every ``drift_every`` sweeps the fields are recomputed from scratch, the largest drift is
  recorded (the driver raises if it exceeds ``1e-8``) and ``J`` is renormalised to the sphere.
* Random numbers: each chain seeds numba's Mersenne Twister with its own integer seed
  (``np.random.seed`` inside the jitted function keeps a per-thread state) and draws only
  uniform doubles, so the numpy reference :func:`run_chain_reference`, drawing from
  ``np.random.RandomState(seed).random_sample``, reproduces the numba chain exactly (same
  moves, same decisions; floating-point results equal to rounding).  The reference computes
  every proposal's energy from scratch (O(NP) per move), independently of the engine's
  incremental bookkeeping.
* Chains run in parallel with ``numba.prange`` (one chain per iteration: the result does not
  depend on the thread count).

Observables and error bars (spec 3.3, 3.4)
------------------------------------------
Per sweep: energy, overlap ``R = J . B / N``, acceptance; snapshots of ``J`` every
``snap_every`` measurement sweeps give the replica overlap ``q = J1 . J2 / N`` between the two
chains of one data set and a held-out error on ``P_test = 10 N`` fresh patterns.
:func:`simulate_point` runs, for each of ``n_samples`` data sets, one chain from the teacher and
one from a random start (annealed from ``beta = 0.5`` into the version space at ``T = 0``),
checks that the two starts agree (mean difference of ``R`` within 2 standard errors over the
data sets), reports Sokal's integrated autocorrelation time (automatic window, ``c = 5``), the
thermal (blocking) and disorder (between data sets) standard errors.
:func:`extrapolate_finite_size` fits ``x_N = x_inf + a / N`` by weighted least squares
(spec 3.5).

References
----------
A. Engel and C. Van den Broeck, *Statistical Mechanics of Learning* (CUP 2001), ch. 2-4, 7.
H. S. Seung, H. Sompolinsky and N. Tishby, Phys. Rev. A 45, 6056 (1992).
A. D. Sokal, *Monte Carlo methods in statistical mechanics* (Cargese lectures, 1996), sec. 3
(automatic windowing); H. Flyvbjerg and H. G. Petersen, J. Chem. Phys. 91, 461 (1989)
(blocking).
"""

# numba's nopython mode supports only the legacy np.random API (per-thread Mersenne Twister)
# ruff: noqa: NPY002

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numba as nb
import numpy as np
from numpy.typing import ArrayLike, NDArray

from setol_theory.statmech import generalization_error

__all__ = [
    "PerceptronProblem",
    "make_problem",
    "ChainTraces",
    "run_chains",
    "run_chain_reference",
    "tau_int",
    "blocking_stderr",
    "PerceptronPoint",
    "simulate_point",
    "FiniteSizeFit",
    "extrapolate_finite_size",
    "check_sizes",
    "DRIFT_TOLERANCE",
]

Array = NDArray[np.float64]
Prior = Literal["spherical", "ising"]
Output = Literal["boolean", "linear"]

#: largest tolerated difference between the incrementally updated and the recomputed fields
DRIFT_TOLERANCE = 1e-8


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


def _real(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {v!r}")
    return float(v)


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
    a = _real(load, "load (alpha)")
    if not math.isfinite(a) or a <= 0.0:
        raise ValueError(f"load alpha = P/N must be > 0, got {load!r}")
    P = int(round(a * N))
    if P < 1:
        raise ValueError(f"load alpha = {a} at N = {N} gives P = round(alpha N) = 0 examples; "
                         f"increase alpha or N")
    return N, P


def _check_T(T: Any) -> float:
    t = _real(T, "T")
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
    """Draw a teacher and ``P = round(load N)`` Gaussian examples (spec 3.1).

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


# --------------------------------------------------------------------------------------------
# numba engine
# --------------------------------------------------------------------------------------------

@nb.njit(cache=True)
def _recompute(Z: Array, y: Array, J: Array, f: Array, linear: bool) -> None:
    f[:] = 0.0
    N, P = Z.shape
    for i in range(N):
        ji = J[i]
        for mu in range(P):
            f[mu] += ji * Z[i, mu]
    if linear:
        for mu in range(P):
            f[mu] -= y[mu]


@nb.njit(cache=True)
def _energy(f: Array, linear: bool) -> float:
    e = 0.0
    if linear:
        for mu in range(f.size):
            e += 0.5 * f[mu] * f[mu]
    else:
        for mu in range(f.size):
            if f[mu] < 0.0:
                e += 1.0
    return e


@nb.njit(cache=True)
def _repair(Z, J, f, margin, max_steps):
    """Relaxation (Agmon-Motzkin) steps into the version space (Boolean, spherical):
    ``J += (margin - f_mu) Z[:, mu] / |Z[:, mu]|^2`` for the worst pattern, renormalise,
    recompute; until no training error.  Deterministic.  Returns the number of steps."""
    N, P = Z.shape
    y0 = np.zeros(P)
    for step in range(max_steps):
        worst = 0
        for mu in range(P):
            if f[mu] < f[worst]:
                worst = mu
        if f[worst] >= 0.0:
            return step
        nz = 0.0
        for i in range(N):
            nz += Z[i, worst] * Z[i, worst]
        g = (margin - f[worst]) / nz
        for i in range(N):
            J[i] += g * Z[i, worst]
        nrm = 0.0
        for i in range(N):
            nrm += J[i] * J[i]
        sc = math.sqrt(N / nrm)
        for i in range(N):
            J[i] *= sc
        _recompute(Z, y0, J, f, False)
    return max_steps


@nb.njit(cache=True)
def _chain(Z, y, B, J, betas, ising, linear, delta, seed, n_burn, adapt, target,
           snap_every, drift_every, E_out, R_out, acc_out, snaps):
    """One Metropolis chain (in place on ``J``); returns ``(delta, max drift)``.

    Boolean spherical chains at ``beta = inf`` that still have training errors when the
    schedule first reaches ``inf`` are moved into the version space by :func:`_repair`.
    """
    np.random.seed(seed)
    N, P = Z.shape
    f = np.empty(P)
    fn = np.empty(P)
    _recompute(Z, y, J, f, linear)
    E = _energy(f, linear)
    n_sweeps = betas.size
    moves = N if ising else max(N // 2, 1)
    drift = 0.0
    k_snap = 0
    for t in range(n_sweeps):
        beta = betas[t]
        if (not linear) and (not ising) and E > 0.0 and math.isinf(beta) \
                and (t == 0 or not math.isinf(betas[t - 1])):
            _repair(Z, J, f, 1e-3, 100 * (N + P))
            E = _energy(f, linear)
        acc = 0
        for _ in range(moves):
            if ising:
                i = int(np.random.random() * N)
                dji = -2.0 * J[i]
                de = 0.0
                if linear:
                    for mu in range(P):
                        v = f[mu] + dji * Z[i, mu]
                        fn[mu] = v
                        de += 0.5 * (v * v - f[mu] * f[mu])
                else:
                    cnt = 0.0
                    for mu in range(P):
                        v = f[mu] + dji * Z[i, mu]
                        fn[mu] = v
                        if v < 0.0:
                            cnt += 1.0
                    de = cnt - E
                u = np.random.random()
                if de <= 0.0 or u < math.exp(-beta * de):
                    J[i] += dji
                    f, fn = fn, f
                    E += de
                    acc += 1
            else:
                i = int(np.random.random() * N)
                j = int(np.random.random() * (N - 1))
                if j >= i:
                    j += 1
                phi = delta * (2.0 * np.random.random() - 1.0)
                c = math.cos(phi)
                s = math.sin(phi)
                ji = J[i]
                jj = J[j]
                dji = (c - 1.0) * ji - s * jj
                djj = s * ji + (c - 1.0) * jj
                de = 0.0
                if linear:
                    for mu in range(P):
                        v = f[mu] + dji * Z[i, mu] + djj * Z[j, mu]
                        fn[mu] = v
                        de += 0.5 * (v * v - f[mu] * f[mu])
                else:
                    cnt = 0.0
                    for mu in range(P):
                        v = f[mu] + dji * Z[i, mu] + djj * Z[j, mu]
                        fn[mu] = v
                        if v < 0.0:
                            cnt += 1.0
                    de = cnt - E
                u = np.random.random()
                if de <= 0.0 or u < math.exp(-beta * de):
                    J[i] = c * ji - s * jj
                    J[j] = s * ji + c * jj
                    f, fn = fn, f
                    E += de
                    acc += 1
        rate = acc / moves
        if adapt and (not ising) and t < n_burn:
            delta *= 1.0 + 0.5 * (rate - target)
            if delta > math.pi:
                delta = math.pi
            if delta < 1e-3:
                delta = 1e-3
        if drift_every > 0 and (t + 1) % drift_every == 0:
            if not ising:
                nrm = 0.0
                for i in range(N):
                    nrm += J[i] * J[i]
                sc = math.sqrt(N / nrm)
                for i in range(N):
                    J[i] *= sc
            _recompute(Z, y, J, fn, linear)
            for mu in range(P):
                d = abs(fn[mu] - f[mu])
                if d > drift:
                    drift = d
            f, fn = fn, f
            E = _energy(f, linear)
        r = 0.0
        for i in range(N):
            r += J[i] * B[i]
        E_out[t] = E
        R_out[t] = r / N
        acc_out[t] = rate
        if t >= n_burn and snap_every > 0 and (t - n_burn) % snap_every == 0 \
                and k_snap < snaps.shape[0]:
            snaps[k_snap, :] = J
            k_snap += 1
    return delta, drift


@nb.njit(cache=True, parallel=True)
def _run_chains(Z, y, B, J, betas, ising, linear, delta, seeds, n_burn, adapt, target,
                snap_every, drift_every, E_out, R_out, acc_out, snaps, delta_out, drift_out):
    for c in nb.prange(J.shape[0]):
        d, dr = _chain(Z, y, B, J[c], betas[c], ising, linear, delta[c], seeds[c], n_burn,
                       adapt, target, snap_every, drift_every, E_out[c], R_out[c],
                       acc_out[c], snaps[c])
        delta_out[c] = d
        drift_out[c] = dr


@dataclass(frozen=True)
class ChainTraces:
    """Per-sweep traces of ``C`` chains on one data set.

    Attributes
    ----------
    E, R, acceptance : ndarray, shape (C, S)
        Energy, overlap with the teacher and acceptance rate after each of ``S`` sweeps.
    snapshots : ndarray, shape (C, K, N)
        ``J`` every ``snap_every`` sweeps after burn-in.
    J : ndarray, shape (C, N)
        Final states.
    delta : ndarray, shape (C,)
        Final rotation amplitude (spherical).
    drift : ndarray, shape (C,)
        Largest ``|f - f_recomputed|`` seen at the drift checks.
    n_burn : int
    field_updates : int
        Local-field updates done (``P`` per attempted move).
    seconds : float
    """

    E: Array
    R: Array
    acceptance: Array
    snapshots: Array
    J: Array
    delta: Array
    drift: Array
    n_burn: int
    field_updates: int
    seconds: float


def _betas_array(betas: ArrayLike, C: int) -> Array:
    b = np.asarray(betas, dtype=np.float64)
    if b.ndim == 1:
        b = np.broadcast_to(b, (C, b.size))
    if b.ndim != 2 or b.shape[0] != C or b.shape[1] < 1:
        raise ValueError(f"betas must have shape (S,) or ({C}, S)")
    if np.any(np.isnan(b)) or np.any(b < 0.0):
        raise ValueError("inverse temperatures must be >= 0 (inf for T = 0)")
    return np.ascontiguousarray(b)


def _seeds(seeds: ArrayLike, C: int) -> NDArray[np.int64]:
    s = np.atleast_1d(np.asarray(seeds)).astype(np.int64)
    if s.shape != (C,) or np.any(s < 0) or np.any(s >= 2**32):
        raise ValueError(f"seeds must be {C} integers in [0, 2^32)")
    return s


def _n_snaps(S: int, n_burn: int, snap_every: int) -> int:
    return 0 if snap_every <= 0 or S <= n_burn else (S - n_burn - 1) // snap_every + 1


def run_chains(problem: PerceptronProblem, J0: ArrayLike, betas: ArrayLike, seeds: ArrayLike,
               *, n_burn: int = 0, delta: float | ArrayLike = 1.5, adapt: bool = True,
               target_acceptance: float = 0.3, snap_every: int = 10, drift_every: int = 100,
               parallel: bool = True) -> ChainTraces:
    """Run ``C`` Metropolis chains on one data set with the numba engine.

    Parameters
    ----------
    problem : PerceptronProblem
    J0 : array_like, shape (C, N)
        Starting students (copied).
    betas : array_like, shape (S,) or (C, S)
        Inverse temperature of every sweep (``inf`` for ``T = 0``); ``S`` sweeps in all.
    seeds : array_like of int, shape (C,)
        One seed in ``[0, 2^32)`` per chain.
    n_burn : int
        Sweeps before the measurement window (``delta`` adapts only there).
    delta : float or array_like
        Initial Givens rotation amplitude in radians (spherical).
    adapt, target_acceptance : bool, float
        Tune ``delta`` during burn-in towards this acceptance (``0.2-0.5``, spec 3.2).
    snap_every, drift_every : int
        Snapshot period after burn-in; drift-check / renormalisation period.
    parallel : bool
        ``numba.prange`` over chains (else a plain loop, one thread).
    """
    J = np.array(J0, dtype=np.float64, ndmin=2, copy=True)
    C, N = J.shape
    if N != problem.N:
        raise ValueError(f"J0 has {N} weights, the problem N = {problem.N}")
    b = _betas_array(betas, C)
    S = b.shape[1]
    sd = _seeds(seeds, C)
    dl = np.broadcast_to(np.asarray(delta, dtype=np.float64), (C,)).copy()
    K = _n_snaps(S, n_burn, snap_every)
    E = np.empty((C, S))
    R = np.empty((C, S))
    acc = np.empty((C, S))
    snaps = np.zeros((C, K, N))
    d_out = np.empty(C)
    dr_out = np.empty(C)
    ising = problem.prior == "ising"
    linear = problem.output == "linear"
    t0 = time.perf_counter()
    if parallel:
        _run_chains(problem.Z, problem.y, problem.B, J, b, ising, linear, dl, sd, n_burn, adapt,
                    target_acceptance, snap_every, drift_every, E, R, acc, snaps, d_out, dr_out)
    else:
        for c in range(C):
            d_out[c], dr_out[c] = _chain(problem.Z, problem.y, problem.B, J[c], b[c], ising,
                                         linear, dl[c], sd[c], n_burn, adapt,
                                         target_acceptance, snap_every, drift_every, E[c], R[c],
                                         acc[c], snaps[c])
    secs = time.perf_counter() - t0
    moves = N if ising else max(N // 2, 1)
    return ChainTraces(E=E, R=R, acceptance=acc, snapshots=snaps, J=J, delta=d_out,
                       drift=dr_out, n_burn=n_burn, field_updates=C * S * moves * problem.P,
                       seconds=secs)


# --------------------------------------------------------------------------------------------
# numpy reference
# --------------------------------------------------------------------------------------------

def run_chain_reference(problem: PerceptronProblem, J0: ArrayLike, betas: ArrayLike, seed: int,
                        *, n_burn: int = 0, delta: float = 1.5, adapt: bool = True,
                        target_acceptance: float = 0.3, snap_every: int = 10,
                        drift_every: int = 100, incremental: bool = False) -> ChainTraces:
    """The same Metropolis chain as :func:`run_chains`, in plain numpy (slow, for the tests).

    Draws the same uniform numbers in the same order (``np.random.RandomState(seed)``) and
    applies the same moves and acceptance rule, so it reproduces the numba chain move by move.
    By default (``incremental=False``) every proposal's energy is computed **from scratch**,
    ``f = J' Z`` (a matrix-vector product, O(NP) per move): an independent check of the
    engine's incremental field bookkeeping.  ``incremental=True`` instead updates the fields
    like the engine, vectorised over the ``P`` patterns (O(P) per move, for benchmarks).
    Returns :class:`ChainTraces` with ``C = 1`` (``drift`` is the engine-style drift check for
    the incremental variant and ``0`` otherwise).
    """
    rs = np.random.RandomState(_seeds(seed, 1)[0])
    J = np.array(J0, dtype=np.float64, copy=True).reshape(-1)
    N, P = problem.N, problem.P
    if J.size != N:
        raise ValueError(f"J0 has {J.size} weights, the problem N = {N}")
    b = _betas_array(betas, 1)[0]
    S = b.size
    Z = problem.Z
    ising = problem.prior == "ising"
    linear = problem.output == "linear"

    def fields(v: Array) -> Array:
        f0 = v @ Z
        return f0 - problem.y if linear else f0

    def energy(f0: Array) -> float:
        return 0.5 * float(f0 @ f0) if linear else float(np.count_nonzero(f0 < 0.0))

    f = problem.fields(J) if incremental else fields(J)
    E = energy(f)
    moves = N if ising else max(N // 2, 1)
    K = _n_snaps(S, n_burn, snap_every)
    E_out, R_out, acc_out = np.empty(S), np.empty(S), np.empty(S)
    snaps = np.zeros((K, N))
    drift, k_snap = 0.0, 0
    t0 = time.perf_counter()
    for t in range(S):
        beta = b[t]
        if not linear and not ising and E > 0.0 and math.isinf(beta) \
                and (t == 0 or not math.isinf(b[t - 1])):
            f = problem.fields(J)  # the engine's _repair, step by step
            for _ in range(100 * (N + P)):
                worst = int(np.argmin(f))
                if f[worst] >= 0.0:
                    break
                col = Z[:, worst]
                g = (1e-3 - f[worst]) / _seq_sq(col)
                J += g * col
                J *= math.sqrt(N / _seq_sq(J))
                f = problem.fields(J)
            f = f if incremental else fields(J)
            E = energy(f)
        acc = 0
        for _ in range(moves):
            Jn = J.copy()
            if ising:
                i = int(rs.random_sample() * N)
                dji = -2.0 * J[i]
                Jn[i] += dji
                fn = f + dji * Z[i] if incremental else fields(Jn)
            else:
                i = int(rs.random_sample() * N)
                j = int(rs.random_sample() * (N - 1))
                if j >= i:
                    j += 1
                phi = delta * (2.0 * rs.random_sample() - 1.0)
                c, s = math.cos(phi), math.sin(phi)
                ji, jj = J[i], J[j]
                Jn[i], Jn[j] = c * ji - s * jj, s * ji + c * jj
                if incremental:
                    dji = (c - 1.0) * ji - s * jj
                    djj = s * ji + (c - 1.0) * jj
                    fn = f + dji * Z[i] + djj * Z[j]
                else:
                    fn = fields(Jn)
            En = energy(fn)
            de = En - E
            u = rs.random_sample()
            if de <= 0.0 or u < math.exp(-beta * de):
                J, f, E = Jn, fn, En
                acc += 1
        rate = acc / moves
        if adapt and not ising and t < n_burn:
            delta = min(max(delta * (1.0 + 0.5 * (rate - target_acceptance)), 1e-3), math.pi)
        if drift_every > 0 and (t + 1) % drift_every == 0:
            if not ising:
                J *= math.sqrt(N / _seq_sq(J))
            if incremental:
                fr = problem.fields(J)
                drift = max(drift, float(np.max(np.abs(fr - f))))
                f = fr
            else:
                f = fields(J)
            E = energy(f)
        E_out[t], R_out[t], acc_out[t] = E, float(J @ problem.B) / N, rate
        if t >= n_burn and snap_every > 0 and (t - n_burn) % snap_every == 0 and k_snap < K:
            snaps[k_snap] = J
            k_snap += 1
    secs = time.perf_counter() - t0
    return ChainTraces(E=E_out[None], R=R_out[None], acceptance=acc_out[None],
                       snapshots=snaps[None], J=J[None], delta=np.array([delta]),
                       drift=np.array([drift]), n_burn=n_burn, field_updates=S * moves * P,
                       seconds=secs)


def _seq_sq(x: Array) -> float:
    s = 0.0
    for v in x.tolist():
        s += v * v
    return s


# --------------------------------------------------------------------------------------------
# time-series statistics
# --------------------------------------------------------------------------------------------

def tau_int(x: ArrayLike, c: float = 5.0) -> float:
    r"""Integrated autocorrelation time with Sokal's automatic window.

    ``tau = 1/2 + sum_{t=1}^{W} rho(t)`` with the smallest ``W >= c tau(W)`` (Sokal 1996,
    sec. 3; ``c = 5``).  A constant series returns ``0.5``.
    """
    a = np.asarray(x, dtype=np.float64)
    n = a.size
    if n < 4:
        return 0.5
    a = a - a.mean()
    var = float(a @ a) / n
    if var <= 1e-300:
        return 0.5
    m = 1 << (2 * n - 1).bit_length()
    fa = np.fft.rfft(a, m)
    acf = np.fft.irfft(fa * np.conj(fa), m)[:n] / (n * var)
    tau = 0.5
    for w in range(1, n):
        tau += acf[w]
        if w >= c * tau:
            break
    return float(max(tau, 0.5))


def blocking_stderr(x: ArrayLike, min_blocks: int = 16) -> float:
    """Standard error of the mean of a correlated series by blocking (Flyvbjerg & Petersen
    1989): the largest naive error over block lengths ``1, 2, 4, ...`` with at least
    ``min_blocks`` blocks."""
    a = np.asarray(x, dtype=np.float64)
    best = 0.0
    while a.size >= min_blocks:
        best = max(best, float(np.std(a, ddof=1) / math.sqrt(a.size)))
        a = 0.5 * (a[: a.size // 2 * 2:2] + a[1: a.size // 2 * 2:2])
    return best


# --------------------------------------------------------------------------------------------
# one (N, load, T) point over many data sets
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PerceptronPoint:
    """Gibbs-learning Monte Carlo at one ``(N, load, T)``, averaged over data sets.

    Attributes
    ----------
    N, P : int
    load, T : float
        ``load = P / N`` actually used.
    prior, output : str
    n_samples, n_sweeps, n_burn : int
    R, eps_g, eps_t, eps_test, q : float
        Disorder averages of the per-data-set thermal means over both starts (``eps_g`` from
        ``R`` per sweep; ``eps_test`` on ``10 N`` fresh patterns; ``q`` between the two
        chains of a data set).
    R_se, eps_g_se, eps_t_se, eps_test_se, q_se : float
        Standard errors over data sets (disorder + thermal noise).
    eps_g_thermal_se : float
        Typical thermal (blocking) standard error of one data set's ``eps_g``.
    start_gap, start_gap_se : float
        Mean over data sets of ``<R>_teacher-start - <R>_random-start`` and its error.
    equilibrated : bool
        ``|start_gap| <= 2 start_gap_se`` (spec 3.4) and every chain has run length
        ``>= 50 tau_int``.
    tau_R, tau_E : float
        Largest integrated autocorrelation time over chains (sweeps).
    acceptance, delta : float
        Mean acceptance in the measurement window; mean final rotation amplitude.
    drift : float
        Largest field drift seen (must be ``< 1e-8``).
    per_sample : dict of list
        Per-data-set means (``R``, ``eps_g``, ``eps_t``, ``eps_test``, ``q``, ``gap``).
    field_updates : int
    seconds : float
    seed : int
    """

    N: int
    P: int
    load: float
    T: float
    prior: str
    output: str
    n_samples: int
    n_sweeps: int
    n_burn: int
    R: float
    R_se: float
    eps_g: float
    eps_g_se: float
    eps_t: float
    eps_t_se: float
    eps_test: float
    eps_test_se: float
    q: float
    q_se: float
    eps_g_thermal_se: float
    start_gap: float
    start_gap_se: float
    equilibrated: bool
    tau_R: float
    tau_E: float
    acceptance: float
    delta: float
    drift: float
    field_updates: int
    seconds: float
    seed: int
    per_sample: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-python record (JSON serialisable)."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, (np.floating, np.integer, np.bool_)):
                d[k] = v.item()
        return d


def _random_start(prior: str, N: int, rng: np.random.Generator) -> Array:
    return _teacher(prior, N, rng)


def _anneal_schedule(beta: float, n_sweeps: int, n_burn: int) -> Array:
    """Random-start schedule: geometric ramp from ``min(beta, 0.5)`` to ``beta`` (``30`` then
    ``inf`` at ``T = 0``) over the first half of burn-in."""
    b = np.full(n_sweeps, beta)
    ramp = n_burn // 2
    if ramp < 2:
        return b
    top = 30.0 if math.isinf(beta) else beta
    start = min(top, 0.5)
    b[:ramp] = np.geomspace(start, top, ramp)
    return b


def _sem(v: Array) -> float:
    return float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan


def simulate_point(N: int, load: float, T: float, *, prior: Prior = "spherical",
                   output: Output = "boolean", n_samples: int = 16, n_sweeps: int = 2000,
                   n_burn: int | None = None, seed: int = 0, delta: float = 1.5,
                   test_factor: int = 10, snap_every: int = 10, max_extensions: int = 0,
                   parallel: bool = True) -> PerceptronPoint:
    """Gibbs-learning Monte Carlo at one ``(N, load, T)`` over ``n_samples`` data sets.

    For each data set (seeded by ``SeedSequence(seed).spawn``) two chains run in parallel,
    one from the teacher and one from a random student (annealed from ``beta = 0.5`` over the
    first half of burn-in, repaired into the version space at ``T = 0``); their measurements
    after ``n_burn`` sweeps are pooled.  If the two starts disagree (spec 3.4: mean ``R``
    difference over data sets beyond 2 standard errors) and ``max_extensions > 0``, every chain
    is continued for another ``n_sweeps - n_burn`` sweeps, the earlier ones counted as burn-in,
    until they agree or the extensions are used up (then ``equilibrated`` is ``False``).  See
    :class:`PerceptronPoint` for what is reported.

    Parameters
    ----------
    N : int
        Input dimension ``>= 2``.
    load : float
        ``alpha = P/N > 0`` (``P = round(alpha N) >= 1``).
    T : float
        Temperature ``>= 0``.
    prior, output : str
    n_samples : int
        Data sets (disorder samples), ``>= 2`` for error bars.
    n_sweeps, n_burn : int
        Sweeps per chain in all and of burn-in (default half).
    seed : int
        Master seed.
    delta : float
        Initial rotation amplitude (radians).
    test_factor : int
        Held-out examples per weight for ``eps_test``.
    snap_every : int
        Snapshot period (sweeps) for ``q`` and ``eps_test``.
    max_extensions : int
        Burn-in extensions allowed while the two starts disagree.
    parallel : bool
        Run each data set's two chains with ``numba.prange``.
    """
    _check_choice(prior, "prior", ("spherical", "ising"))
    _check_choice(output, "output", ("boolean", "linear"))
    N, P = check_sizes(N, load)
    T = _check_T(T)
    if output == "linear" and T == 0.0:
        raise ValueError("the linear perceptron needs T > 0 (its version space is B itself)")
    n_samples = _int(n_samples, "n_samples", 1)
    n_sweeps = _int(n_sweeps, "n_sweeps", 2)
    n_burn = n_sweeps // 2 if n_burn is None else _int(n_burn, "n_burn", 0)
    if n_burn >= n_sweeps:
        raise ValueError(f"n_burn = {n_burn} leaves no measurement sweeps (n_sweeps = "
                         f"{n_sweeps})")
    seed = _int(seed, "seed", 0)
    max_extensions = _int(max_extensions, "max_extensions", 0)
    beta = math.inf if T == 0.0 else 1.0 / T
    sched = np.stack([np.full(n_sweeps, beta), _anneal_schedule(beta, n_sweeps, n_burn)])
    meas = n_sweeps - n_burn
    runs = []  # (problem, rng, traces) per data set
    for ss in np.random.SeedSequence(seed).spawn(n_samples):
        rng = np.random.default_rng(ss)
        prob = make_problem(N, P=P, prior=prior, output=output, rng=rng)
        J0 = np.stack([prob.B, _random_start(prior, N, rng)])
        seeds = ss.generate_state(2, dtype=np.uint32).astype(np.int64)
        tr = run_chains(prob, J0, sched, seeds, n_burn=n_burn, delta=delta,
                        snap_every=snap_every, parallel=parallel)
        runs.append((prob, rng, tr, tr.field_updates, tr.seconds))
    burn_total = n_burn
    for ext in range(max_extensions + 1):
        gaps = np.array([tr.R[0, tr.n_burn:].mean() - tr.R[1, tr.n_burn:].mean()
                         for _, _, tr, _, _ in runs])
        gse = _sem(gaps)
        if ext == max_extensions or (np.isfinite(gse) and abs(gaps.mean()) <= 2.0 * gse):
            break
        burn_total += meas  # the last measurement window (meas sweeps) becomes burn-in
        new = []
        for prob, rng, tr, upd, secs in runs:  # continue: the last window becomes burn-in
            seeds = rng.integers(0, 2**32, size=2, dtype=np.int64)
            t2 = run_chains(prob, tr.J, np.full((2, meas), beta), seeds, n_burn=0,
                            delta=tr.delta, adapt=False, snap_every=snap_every,
                            parallel=parallel)
            t2 = ChainTraces(E=t2.E, R=t2.R, acceptance=t2.acceptance,
                             snapshots=t2.snapshots, J=t2.J, delta=t2.delta,
                             drift=np.maximum(t2.drift, tr.drift), n_burn=0,
                             field_updates=t2.field_updates, seconds=t2.seconds)
            new.append((prob, rng, t2, upd + t2.field_updates, secs + t2.seconds))
        runs = new
    keys = ("R", "eps_g", "eps_t", "eps_test", "q", "gap")
    per: dict[str, list[float]] = {k: [] for k in keys}
    taus_R, taus_E, accs, deltas, therm = [], [], [], [], []
    drift, updates, secs = 0.0, 0, 0.0
    for prob, rng, tr, upd, sec in runs:
        nb_ = tr.n_burn
        drift = max(drift, float(tr.drift.max()))
        updates += upd
        secs += sec
        Rm = tr.R[:, nb_:]
        eg = np.asarray(generalization_error(np.clip(Rm, -1.0, 1.0), output))
        per["R"].append(float(Rm.mean()))
        per["eps_g"].append(float(eg.mean()))
        per["eps_t"].append(float(tr.E[:, nb_:].mean()) / P)
        per["gap"].append(float(Rm[0].mean() - Rm[1].mean()))
        snaps = tr.snapshots
        per["q"].append(float(np.mean(np.sum(snaps[0] * snaps[1], axis=1))) / N)
        # held-out error on fresh patterns
        Xt = rng.standard_normal((test_factor * N, N))
        hT = Xt @ prob.B / math.sqrt(N)
        hS = np.einsum("pn,ckn->ckp", Xt, snaps) / math.sqrt(N)
        if output == "boolean":
            per["eps_test"].append(float(np.mean((hS >= 0) != (hT >= 0))))
        else:
            per["eps_test"].append(float(np.mean(0.5 * (hS - hT) ** 2)))
        for c in range(2):
            taus_R.append(tau_int(Rm[c]))
            taus_E.append(tau_int(tr.E[c, nb_:]))
            therm.append(blocking_stderr(eg[c]) / math.sqrt(2.0))
        accs.append(float(tr.acceptance[:, nb_:].mean()))
        deltas.append(float(tr.delta.mean()))
    if drift > DRIFT_TOLERANCE:
        raise RuntimeError(f"local-field drift {drift:.3g} exceeds {DRIFT_TOLERANCE} (N = {N}, "
                           f"P = {P}): the incremental updates are inconsistent")
    arr = {k: np.asarray(v) for k, v in per.items()}
    gap, gap_se = float(arr["gap"].mean()), _sem(arr["gap"])
    tau_R, tau_E = float(max(taus_R)), float(max(taus_E))
    long_enough = meas >= 50.0 * max(tau_R, tau_E)
    eq_ok = (abs(gap) <= 2.0 * gap_se) if np.isfinite(gap_se) and gap_se > 0 else \
        abs(gap) < 1e-12
    return PerceptronPoint(
        N=N, P=P, load=P / N, T=T, prior=prior, output=output, n_samples=n_samples,
        n_sweeps=burn_total + meas, n_burn=burn_total,
        R=float(arr["R"].mean()), R_se=_sem(arr["R"]),
        eps_g=float(arr["eps_g"].mean()), eps_g_se=_sem(arr["eps_g"]),
        eps_t=float(arr["eps_t"].mean()), eps_t_se=_sem(arr["eps_t"]),
        eps_test=float(arr["eps_test"].mean()), eps_test_se=_sem(arr["eps_test"]),
        q=float(arr["q"].mean()), q_se=_sem(arr["q"]),
        eps_g_thermal_se=float(np.median(therm)),
        start_gap=gap, start_gap_se=gap_se, equilibrated=bool(eq_ok and long_enough),
        tau_R=tau_R, tau_E=tau_E, acceptance=float(np.mean(accs)),
        delta=float(np.mean(deltas)), drift=drift, field_updates=updates, seconds=secs,
        seed=seed, per_sample={k: [float(x) for x in v] for k, v in per.items()})


# --------------------------------------------------------------------------------------------
# finite-size extrapolation
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FiniteSizeFit:
    """Weighted least-squares fit ``x_N = x_inf + a / N`` (spec 3.5).

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
