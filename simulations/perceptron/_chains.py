r"""Metropolis chains of Gibbs learning in the teacher-student perceptron: the numba engine
(:func:`run_chains`) and its numpy reference (:func:`run_chain_reference`).

Design: docs/simulations.md, "Monte Carlo of Gibbs learning"; model: arXiv:2507.17912
Sec. 4.3 and [EVdB2001] ch. 2 (docs/references.md).  The student ``J`` is
sampled from ``p(J) ~ prior(J) exp(-E(J)/T)`` over the spherical (``|J|^2 = N``) or Ising
(``J_i = +-1``) prior, for a data set ``xi_mu ~ N(0, I_N)``, ``mu = 1..P``, labelled by a
teacher ``B`` of the same prior.  Energies: number of training errors (Boolean output,
``y = sgn(B . xi)``) or ``1/2 sum_mu (h_mu - y_mu)^2`` (linear output, ``y = B . xi / sqrt N``),
with fields ``h = J . xi / sqrt N``.

Engine
------
* State: ``J`` and the fields ``f``: ``f_mu = y_mu h_mu`` (Boolean: an error is ``f < 0``) or
  ``f_mu = h_mu - y_mu`` (linear).  The data are stored once as ``Z[i, mu] = y_mu xi_mu,i /
  sqrt N`` (Boolean) or ``xi_mu,i / sqrt N`` (linear), row-contiguous, so a move touching
  ``J_i`` updates all ``P`` fields with one contiguous row: O(P) per move, never O(NP).
* Spherical moves: Givens rotation of a random pair ``(i, j)`` by ``phi ~ U(-delta, delta)``
  (norm-preserving, symmetric, measure-preserving: plain Metropolis is exact); ``delta`` is
  tuned during burn-in only, towards an acceptance of ``target_acceptance``.  One sweep =
  ``N // 2`` moves.  Ising moves: single spin flips, one sweep = ``N`` flips.
* Heat-bath spherical moves (``mover="heatbath"``, Boolean output): the rotation angle of the
  random pair is drawn from its exact conditional ``exp(-beta E(phi))`` on the whole great
  circle (:func:`_heatbath_pair`; ``E(phi)`` is piecewise constant between the angles where a
  pattern's field changes sign, found in one O(P) pass and sorted).  It leaves the Gibbs
  measure invariant for the same reason as Metropolis (rotations of a pair preserve the
  uniform measure on the sphere), costs about two passes over the two rows, and never rejects.
* Metropolis acceptance ``min(1, exp(-beta dE))``; ``T = 0`` (``beta = inf``) rejects every
  move that raises the energy (version-space sampling when started in the version space).
* ``T = 0`` random start: ``beta`` is annealed geometrically from 0.5 to 30
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
"""

# numba's nopython mode supports only the legacy np.random API (per-thread Mersenne Twister)
# ruff: noqa: NPY002

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._problem import Array, PerceptronProblem

#: largest tolerated difference between the incrementally updated and the recomputed fields
DRIFT_TOLERANCE = 1e-8

#: meridian moves never start or end closer than this to the teacher axis (``|sin theta|``)
MERIDIAN_MIN_SIN = 0.05

#: growth of rounding errors (the product of the factors ``|sin theta'/sin theta|`` of accepted
#: meridian moves over its running minimum) after which the fields of a chain with meridian
#: moves are recomputed from ``J`` (O(NP), about one sweep)
MERIDIAN_MAX_AMPLIFICATION = 1e3

#: spherical movers (docs/simulations.md, "Movers for the spherical student")
MOVERS = ("metropolis", "heatbath", "meridian", "heatbath+meridian")


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
def _heatbath_pair(Z, J, f, E, i, j, ups, dns, ends, ae, aw, expt):
    """Heat-bath move of a spherical Boolean student on the great circle of the pair
    ``(i, j)``: the rotation angle ``phi`` is drawn from the exact conditional
    ``p(phi) ~ exp(-beta E(phi))`` on ``[0, 2 pi)``.  Along the circle
    ``f_mu(phi) = a_mu + rho_mu cos(phi - psi_mu)``, so each pattern with ``|a| < rho`` enters
    the error set at ``psi + w`` and leaves it at ``psi - w`` (``w = arccos(-a/rho)``);
    ``E(phi)`` is piecewise constant between these angles.  An arc is picked with probability
    ``length * exp(-beta (E_arc - E_min))`` (``expt[k] = exp(-beta k)``, tabulated per sweep)
    and ``phi`` uniformly inside it.  ``ups, dns`` (size ``P``), ``ends, ae, aw`` (size
    ``2 P + 1``) are scratch.  Returns the new energy (``f`` and ``J`` updated in place)."""
    N, P = Z.shape
    ji = J[i]
    jj = J[j]
    nu = 0
    two_pi = 2.0 * math.pi
    for mu in range(P):
        zi = Z[i, mu]
        zj = Z[j, mu]
        b = ji * zi + jj * zj
        c = ji * zj - jj * zi
        a = f[mu] - b
        rho2 = b * b + c * c
        if a * a < rho2:
            rho = math.sqrt(rho2)
            psi = math.atan2(c, b)
            w = math.acos(-a / rho)
            up = psi + w  # in (-pi, 2 pi]
            if up < 0.0:
                up += two_pi
            elif up >= two_pi:
                up -= two_pi
            dn = psi - w  # in (-2 pi, pi]
            if dn < 0.0:
                dn += two_pi
            ups[nu] = up
            dns[nu] = dn
            nu += 1
    phi = 0.0
    if nu > 0:
        ups[:nu].sort()
        dns[:nu].sort()
        # walk the 2 nu events once: arc ends in ends[k], energies in ae[k]
        n_arc = 0
        e = E
        emin = E
        iu = 0
        idn = 0
        while iu < nu or idn < nu:
            if idn >= nu or (iu < nu and ups[iu] < dns[idn]):
                ends[n_arc] = ups[iu]
                iu += 1
                ae[n_arc] = e
                e += 1.0
            else:
                ends[n_arc] = dns[idn]
                idn += 1
                ae[n_arc] = e
                e -= 1.0
            if ae[n_arc] < emin:
                emin = ae[n_arc]
            n_arc += 1
        ends[n_arc] = two_pi
        ae[n_arc] = e
        n_arc += 1
        total = 0.0
        start = 0.0
        for k in range(n_arc):
            wk = (ends[k] - start) * expt[int(ae[k] - emin)]
            aw[k] = wk
            total += wk
            start = ends[k]
        target_w = np.random.random() * total
        acc_w = 0.0
        start = 0.0
        k = 0
        for k in range(n_arc):
            acc_w += aw[k]
            if acc_w >= target_w and aw[k] > 0.0:
                break
            start = ends[k]
        phi = start + np.random.random() * (ends[k] - start)
    else:
        phi = two_pi * np.random.random()  # no pattern changes sign: uniform on the circle
    c = math.cos(phi)
    s = math.sin(phi)
    dji = (c - 1.0) * ji - s * jj
    djj = s * ji + (c - 1.0) * jj
    J[i] = c * ji - s * jj
    J[j] = s * ji + c * jj
    cnt = 0.0
    for mu in range(P):
        v = f[mu] + dji * Z[i, mu] + djj * Z[j, mu]
        f[mu] = v
        if v < 0.0:
            cnt += 1.0
    return cnt


@nb.njit(cache=True)
def _meridian_move(t, y, B, J, f, fn, E, r, beta, dth, linear):
    """Metropolis move along the great circle through ``J`` and the teacher ``B``.

    With ``cos theta = R`` and ``J = sqrt(N) (cos theta b + sin theta e)`` (``b = B/sqrt N``,
    ``e`` the unit part of ``J`` orthogonal to ``B``), the uniform measure on the sphere
    restricted to this circle has density ``|sin theta|^(N-2)`` in ``theta``; the proposal
    ``theta' = theta + U(-dth, dth)`` is symmetric, so the acceptance is
    ``min(1, |sin theta'/sin theta|^(N-2) exp(-beta dE))``.  The fields along the circle are
    ``h(theta') = cos theta' t + sin theta' (h - R t)/sin theta`` with ``t_mu = B . Z_mu``
    precomputed: O(P) for the energy, O(N) for ``J`` on acceptance.  Returns
    ``(accepted, new E, new R, |sin theta'/sin theta|)``; on acceptance the new fields are in
    ``fn`` (rounding errors of ``h`` and ``J`` grow by the last factor: the caller recomputes
    the fields when their product exceeds ``MERIDIAN_MAX_AMPLIFICATION``)."""
    N = J.size
    P = f.size
    s0 = math.sqrt(max(1.0 - r * r, 0.0))
    th = math.acos(min(max(r, -1.0), 1.0)) + dth * (2.0 * np.random.random() - 1.0)
    c1 = math.cos(th)
    s1 = math.sin(th)
    # moves from or to |sin theta| < MERIDIAN_MIN_SIN are refused (a symmetric restriction, so
    # detailed balance holds): it bounds the 1/sin theta amplification of rounding errors
    if s0 < MERIDIAN_MIN_SIN or abs(s1) < MERIDIAN_MIN_SIN:
        return False, E, r, 1.0
    k = s1 / s0
    e = 0.0
    if linear:
        for mu in range(P):
            h = f[mu] + y[mu]
            v = c1 * t[mu] + k * (h - r * t[mu]) - y[mu]
            fn[mu] = v
            e += 0.5 * v * v
    else:
        for mu in range(P):
            v = c1 * t[mu] + k * (f[mu] - r * t[mu])
            fn[mu] = v
            if v < 0.0:
                e += 1.0
    de = e - E
    lr = (N - 2) * (math.log(abs(s1) + 1e-300) - math.log(s0))
    u = np.random.random()
    if math.isinf(beta):
        ok = de <= 0.0 and (lr >= 0.0 or u < math.exp(lr))
    else:
        x = lr - beta * de
        ok = x >= 0.0 or u < math.exp(x)
    if not ok:
        return False, E, r, 1.0
    for i in range(N):  # |J|^2 = N up to rounding (renormalised every drift_every sweeps)
        J[i] = c1 * B[i] + k * (J[i] - r * B[i])
    return True, e, c1, abs(k)


@nb.njit(cache=True)
def _chain(Z, y, B, J, betas, ising, linear, delta, seed, n_burn, adapt, target,
           snap_every, drift_every, E_out, R_out, acc_out, snaps, heatbath=False,
           meridian=False, dth=0.05, meridian_every=1):
    """One Metropolis chain (in place on ``J``); returns ``(delta, max drift, dth)``.

    Boolean spherical chains at ``beta = inf`` that still have training errors when the
    schedule first reaches ``inf`` are moved into the version space by :func:`_repair`.
    With ``meridian`` one in ``meridian_every`` pair moves is preceded by a
    :func:`_meridian_move` (step ``dth``, tuned in burn-in like ``delta``).
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
    ups = np.empty(P)
    dns = np.empty(P)
    ends = np.empty(2 * P + 1)
    ae = np.empty(2 * P + 1)
    aw = np.empty(2 * P + 1)
    expt = np.zeros(P + 1)
    tB = np.zeros(P)
    amp = 1.0
    amp_min = 1.0
    r_cur = 0.0
    if meridian:
        for i in range(N):
            bi = B[i]
            r_cur += J[i] * bi
            for mu in range(P):
                tB[mu] += bi * Z[i, mu]
        r_cur /= N
    for t in range(n_sweeps):
        beta = betas[t]
        if heatbath and (t == 0 or beta != betas[t - 1]):
            expt[0] = 1.0
            for k in range(1, P + 1):
                expt[k] = 0.0 if math.isinf(beta) else math.exp(-beta * k)
        if (not linear) and (not ising) and E > 0.0 and math.isinf(beta) \
                and (t == 0 or not math.isinf(betas[t - 1])):
            _repair(Z, J, f, 1e-3, 100 * (N + P))
            E = _energy(f, linear)
            r_cur = 0.0
            for i in range(N):
                r_cur += J[i] * B[i]
            r_cur /= N
        acc = 0
        acc_m = 0
        for mv in range(moves):
            if meridian and mv % meridian_every == 0:
                ok, E, r_new, amp_k = _meridian_move(tB, y, B, J, f, fn, E, r_cur, beta, dth,
                                                     linear)
                if ok:
                    f, fn = fn, f
                    r_cur = r_new
                    acc_m += 1
                    # an error made after the running minimum of the product of the factors
                    # has grown by at most amp / amp_min since (the factors nearly telescope)
                    amp *= amp_k
                    amp_min = min(amp_min, amp)
                    if amp > MERIDIAN_MAX_AMPLIFICATION * amp_min:  # fresh fields from J
                        nrm = 0.0
                        for i in range(N):
                            nrm += J[i] * J[i]
                        sc = math.sqrt(N / nrm)
                        r_cur = 0.0
                        for i in range(N):
                            J[i] *= sc
                            r_cur += J[i] * B[i]
                        r_cur /= N
                        _recompute(Z, y, J, f, linear)
                        E = _energy(f, linear)
                        amp = 1.0
                        amp_min = 1.0
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
            elif heatbath:
                i = int(np.random.random() * N)
                j = int(np.random.random() * (N - 1))
                if j >= i:
                    j += 1
                ji = J[i]
                jj = J[j]
                E = _heatbath_pair(Z, J, f, E, i, j, ups, dns, ends, ae, aw, expt)
                r_cur += ((J[i] - ji) * B[i] + (J[j] - jj) * B[j]) / N
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
                    r_cur += (dji * B[i] + djj * B[j]) / N
                    f, fn = fn, f
                    E += de
                    acc += 1
        rate = acc / moves
        if adapt and (not ising) and (not heatbath) and t < n_burn:
            delta *= 1.0 + 0.5 * (rate - target)
            if delta > math.pi:
                delta = math.pi
            if delta < 1e-3:
                delta = 1e-3
        if adapt and meridian and t < n_burn:
            dth *= 1.0 + 0.5 * (acc_m / ((moves + meridian_every - 1) // meridian_every) - 0.4)
            dth = min(max(dth, 1e-5), 1.0)
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
            amp = 1.0
            amp_min = 1.0
        r = 0.0
        for i in range(N):
            r += J[i] * B[i]
        r_cur = r / N
        E_out[t] = E
        R_out[t] = r / N
        acc_out[t] = rate
        if t >= n_burn and snap_every > 0 and (t - n_burn) % snap_every == 0 \
                and k_snap < snaps.shape[0]:
            snaps[k_snap, :] = J
            k_snap += 1
    return delta, drift, dth


@nb.njit(cache=True, parallel=True)
def _run_chains(Z, y, B, J, betas, ising, linear, delta, seeds, n_burn, adapt, target,
                snap_every, drift_every, E_out, R_out, acc_out, snaps, delta_out, drift_out,
                heatbath, meridian, dth, dth_out, meridian_every):
    for c in nb.prange(J.shape[0]):
        d, dr, dm = _chain(Z, y, B, J[c], betas[c], ising, linear, delta[c], seeds[c], n_burn,
                           adapt, target, snap_every, drift_every, E_out[c], R_out[c],
                           acc_out[c], snaps[c], heatbath, meridian, dth[c], meridian_every)
        delta_out[c] = d
        drift_out[c] = dr
        dth_out[c] = dm


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
    dth: Array | None = None


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
               parallel: bool = True, mover: str = "metropolis",
               dth: float | ArrayLike = 0.05, meridian_every: int = 4) -> ChainTraces:
    """Run ``C`` Metropolis (or heat-bath) chains on one data set with the numba engine.

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
        Tune ``delta`` during burn-in towards this acceptance (``0.2-0.5``; docs/simulations.md).
    snap_every, drift_every : int
        Snapshot period after burn-in; drift-check / renormalisation period.
    parallel : bool
        ``numba.prange`` over chains (else a plain loop, one thread).
    mover : {"metropolis", "heatbath", "meridian", "heatbath+meridian"}
        Spherical moves: Metropolis Givens rotations by ``U(-delta, delta)``, or heat-bath
        rotations (the angle drawn from its exact conditional on the pair's great circle;
        Boolean output only; ``delta`` is then unused); ``+meridian`` (``"meridian"`` =
        Metropolis pairs + meridian) adds after each pair move a Metropolis move along the
        great circle through ``J`` and the teacher (:func:`_meridian_move`).  Ising chains
        always flip spins.
    dth : float or array_like
        Initial meridian step (radians), tuned in burn-in towards acceptance 0.4.
    meridian_every : int
        One meridian move per this many pair moves (default 4: the shortest
        ``max(tau_R, tau_E)`` in seconds measured, docs/simulations.md).
    """
    if mover not in MOVERS:
        raise ValueError(f"mover must be one of {', '.join(MOVERS)}; got {mover!r}")
    heatbath = mover.startswith("heatbath")
    meridian = mover.endswith("meridian")
    if heatbath and (problem.prior != "spherical" or problem.output != "boolean"):
        raise ValueError("the heat-bath mover needs a spherical student with Boolean output")
    if meridian and problem.prior != "spherical":
        raise ValueError("meridian moves need a spherical student")
    if isinstance(meridian_every, bool) or not isinstance(meridian_every, int) \
            or meridian_every < 1:
        raise ValueError(f"meridian_every must be an integer >= 1, got {meridian_every!r}")
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
    dm = np.broadcast_to(np.asarray(dth, dtype=np.float64), (C,)).copy()
    dm_out = np.empty(C)
    ising = problem.prior == "ising"
    linear = problem.output == "linear"
    t0 = time.perf_counter()
    if parallel:
        _run_chains(problem.Z, problem.y, problem.B, J, b, ising, linear, dl, sd, n_burn, adapt,
                    target_acceptance, snap_every, drift_every, E, R, acc, snaps, d_out, dr_out,
                    heatbath, meridian, dm, dm_out, meridian_every)
    else:
        for c in range(C):
            d_out[c], dr_out[c], dm_out[c] = _chain(
                problem.Z, problem.y, problem.B, J[c], b[c], ising, linear, dl[c], sd[c],
                n_burn, adapt, target_acceptance, snap_every, drift_every, E[c], R[c], acc[c],
                snaps[c], heatbath, meridian, dm[c], meridian_every)
    secs = time.perf_counter() - t0
    moves = N if ising else max(N // 2, 1)
    return ChainTraces(E=E, R=R, acceptance=acc, snapshots=snaps, J=J, delta=d_out,
                       drift=dr_out, n_burn=n_burn,
                       field_updates=C * S * problem.P * (
                           moves + (-(-moves // meridian_every) if meridian else 0)),
                       seconds=secs, dth=dm_out)


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
