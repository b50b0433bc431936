r"""Matrix teacher-student model: Monte Carlo of student layers near a teacher (numba).

Theory: the SETOL matrix generalisation, arXiv:2507.17912 Sec. 5.1-5.3 and Apps. A.2-A.4;
HCIZ integrals: docs/hciz.md; layer quality: docs/quality.md.  The paper gives no simulation
protocol; the modelling choices made here are listed below and in ``docs/simulations.md``
("Matrix teacher-student model").

The measure
-----------
The paper's quality-squared generating function (Sec. 5.2.1, Sec. 5.3, Apps. A.3, A.6) is
``Gamma_N = (1/N) ln int dmu(S) exp(n beta Tr[T^T A_N T])``, ``A_N = S S^T / N``.  Writing
``A_N = O D O^T`` with a **fixed** student spectrum ``D`` (``N`` eigenvalues: "the student ESD
has the teacher's functional form", Sec. 5.3) and a Haar orientation ``O``, and the teacher's
correlation ``X_N = T T^T / N = sum_k lambda_k v_k v_k^T`` of rank ``K`` (its ECS), one has
``Tr[T^T A_N T] = N sum_k lambda_k u_k^T D u_k`` with ``u_k = O^T v_k`` an orthonormal
``N x K`` frame (a point of the Stiefel manifold).  So the student ensemble is

.. math::
    p(U) \propto \exp\Big(N \sum_{k=1}^K \theta_k\, u_k^T D u_k\Big), \qquad
    \theta_k = n\beta\,\lambda_k ,

over Haar-distributed frames ``U``, with ``theta_k = n beta lambda_k``.
The layer-quality observable (Sec. 5.2.1) is
``Q^2 = <Tr[R^T R]> = <(1/N) Tr[T^T A_N T]> = sum_k lambda_k <u_k^T D u_k>``.

Modelling choices (each a decision the paper leaves open)
---------------------------------------------------------
1. Real weights: orthogonal invariance, Dyson index ``beta_D = 1``.
2. The student spectrum ``D`` is fixed (quantiles ``ppf((i - 1/2)/N)`` of a law by default, or
   any given eigenvalues); only the orientation is sampled.  ``D`` is the spectrum of the
   ``N x N`` matrix ``A_N``; a rectangular ``N x M`` student would add ``N - M`` zeros.
3. The teacher enters only through its ``K`` ECS eigenvalues ``lambda_k`` (fixed as ``N``
   grows: the low-rank regime of Tanaka's theorem, App. A.6) and the product
   ``n beta`` (load times inverse temperature); the paper's ``n / N`` layer load and the
   ``det`` (TraceLog) Jacobian factor are not simulated -- the TraceLog condition is taken as
   holding (Sec. 5.2.4, Eq. (126)), and the IFA is implicit in fixing ``D``.
4. ``Gamma`` is normalised by ``N`` and the exponent carries ``N`` explicitly (the paper's
   ``n beta N Tr(A_N X_N)``, Sec. 5.3; docs/hciz.md), so the standard prediction is
   ``Gamma_inf = (1/2) sum_k F(2 n beta lambda_k)`` and
   ``Q^2_inf = sum_k lambda_k F'(2 n beta lambda_k)`` with ``F(s) = int_0^s R_D`` below the
   critical coupling and the edge-sticking form above it (Guionnet & Maida 2005; Tanaka 2008;
   :func:`setol_theory.rmt.hciz_lowrank_asymptotic`).
5. The paper's verbatim prediction ``Q^2 = sum_k G(lambda_k)``, ``G(lambda) =
   int_{lambda_min^ECS}^{lambda} Re R_D(z) dz`` (arXiv:2507.17912 Eq. (131);
   :func:`setol_theory.rmt.paper_gamma_inf`) is reported alongside; it does not depend on
   ``n beta`` and differs from the standard one (the paper's App. A.6 takes ``G(n beta lambda)
   = n beta G(lambda)``, true only for a constant R; docs/hciz.md), so it is a diagnostic,
   not a target.

Engine
------
Metropolis with Givens rotations of a random pair of rows of ``U`` by ``phi ~ U(-delta,
delta)`` (left multiplication by a rotation: Haar-invariant, symmetric, keeps the frame
orthonormal); a move costs ``O(K)``.  ``delta`` is tuned during burn-in; every 100 sweeps the
frame is re-orthonormalised (modified Gram-Schmidt) and ``u_k^T D u_k`` recomputed.  Half the
chains start from a Haar-random frame, half locked onto the top eigenvectors of ``D``; their
agreement is the equilibration check.  ``Gamma_N`` by thermodynamic integration of ``Q^2``
over ``n beta`` (Gauss-Legendre), testable against the exact finite-``N`` rank-one integral
(:func:`setol_theory.rmt.log_spherical_integral_exact`).

Assumptions to quote with every result (Sec. 5.2-5.3): annealed approximation, high T,
self-averaging / wide-layer limit, ECS, IFA, TraceLog, student ESD ~ teacher ESD.
"""

# numba's nopython mode supports only the legacy np.random API (per-thread Mersenne Twister)
# ruff: noqa: NPY002

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numba as nb
import numpy as np
from numpy.typing import ArrayLike, NDArray

from setol_theory import rmt

from .perceptron import blocking_stderr, extension_length, tau_int_pooled

__all__ = [
    "ASSUMPTIONS",
    "quantile_spectrum",
    "FrameSample",
    "sample_frame",
    "critical_theta",
    "rank_one_prediction",
    "MatrixQuality",
    "matrix_quality",
    "thermodynamic_integration",
    "MatrixConvergence",
    "matrix_convergence",
    "fit_convergence",
    "make_law",
]

Array = NDArray[np.float64]

#: the paper's assumptions behind the matrix-model prediction (arXiv:2507.17912 Sec. 5.2-5.3)
ASSUMPTIONS = ("annealed approximation", "high temperature",
               "self-averaging / wide-layer limit at fixed layer load", "ECS", "IFA",
               "TraceLog (det A_ECS = 1)", "student ESD ~ teacher ESD")


# --------------------------------------------------------------------------------------------
# validation and spectra
# --------------------------------------------------------------------------------------------

def _int(v: Any, name: str, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


def _vec(v: ArrayLike, name: str) -> Array:
    a = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers")
    return a


def make_law(name: str, *, q: float = 0.5, sigma2: float = 1.0) -> Any:
    """Student law by name: ``"mp"`` (Marchenko-Pastur, ratio ``q``, variance ``sigma2``) or
    ``"wigner"`` (semicircle of variance ``sigma2``), from :mod:`setol_theory.rmt`."""
    if name == "mp":
        return rmt.MarchenkoPastur(q=q, sigma2=sigma2)
    if name == "wigner":
        return rmt.Wigner(sigma2=sigma2)
    raise ValueError(f"law must be 'mp' or 'wigner', got {name!r}")


def quantile_spectrum(law: Any, N: int) -> Array:
    """Deterministic spectrum ``a_i = ppf((i - 1/2) / N)``, ``i = 1..N`` (no sampling noise)."""
    N = _int(N, "N", 2)
    return np.asarray(law.ppf((np.arange(1, N + 1) - 0.5) / N), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# numba engine on the Stiefel manifold
# --------------------------------------------------------------------------------------------

@nb.njit(cache=True)
def _orthonormalise(U):
    N, k = U.shape
    for c in range(k):
        for p in range(c):
            d = 0.0
            for m in range(N):
                d += U[m, c] * U[m, p]
            for m in range(N):
                U[m, c] -= d * U[m, p]
        nrm = 0.0
        for m in range(N):
            nrm += U[m, c] * U[m, c]
        nrm = math.sqrt(nrm)
        for m in range(N):
            U[m, c] /= nrm


@nb.njit(cache=True)
def _quad_forms(D, U, x):
    N, k = U.shape
    for c in range(k):
        s = 0.0
        for m in range(N):
            s += D[m] * U[m, c] * U[m, c]
        x[c] = s


@nb.njit(cache=True)
def _frame_chain(D, theta, U, n_burn, delta, adapt, target, seed, x_out, acc_out):
    """One chain (in place on ``U``); returns ``(delta, largest drift of x)``."""
    np.random.seed(seed)
    N, k = U.shape
    x = np.empty(k)
    xr = np.empty(k)
    dx = np.empty(k)
    _quad_forms(D, U, x)
    n_sweeps = x_out.shape[0]
    moves = max(N // 2, 1)
    drift = 0.0
    for t in range(n_sweeps):
        acc = 0
        for _ in range(moves):
            i = int(np.random.random() * N)
            j = int(np.random.random() * (N - 1))
            if j >= i:
                j += 1
            phi = delta * (2.0 * np.random.random() - 1.0)
            c = math.cos(phi)
            s = math.sin(phi)
            ds = 0.0
            for col in range(k):
                a = U[i, col]
                b = U[j, col]
                a2 = c * a - s * b
                b2 = s * a + c * b
                d = D[i] * (a2 * a2 - a * a) + D[j] * (b2 * b2 - b * b)
                dx[col] = d
                ds += theta[col] * d
            ds *= N
            u = np.random.random()
            if ds >= 0.0 or u < math.exp(ds):
                for col in range(k):
                    a = U[i, col]
                    b = U[j, col]
                    U[i, col] = c * a - s * b
                    U[j, col] = s * a + c * b
                    x[col] += dx[col]
                acc += 1
        rate = acc / moves
        if adapt and t < n_burn:
            delta *= 1.0 + 0.5 * (rate - target)
            if delta > math.pi:
                delta = math.pi
            if delta < 1e-3:
                delta = 1e-3
        if (t + 1) % 100 == 0:
            _orthonormalise(U)
            _quad_forms(D, U, xr)
            for col in range(k):
                dd = abs(xr[col] - x[col])
                if dd > drift:
                    drift = dd
                x[col] = xr[col]
        for col in range(k):
            x_out[t, col] = x[col]
        acc_out[t] = rate
    return delta, drift


@nb.njit(cache=True, parallel=True)
def _frame_chains(D, theta, U, n_burn, delta, adapt, target, seeds, x_out, acc_out, d_out,
                  dr_out):
    for c in nb.prange(U.shape[0]):
        d, dr = _frame_chain(D, theta, U[c], n_burn, delta[c], adapt, target, seeds[c],
                             x_out[c], acc_out[c])
        d_out[c] = d
        dr_out[c] = dr


@dataclass(frozen=True)
class FrameSample:
    """Monte Carlo of ``<u_k^T D u_k>`` under ``exp(N sum_k theta_k u_k^T D u_k)``.

    Attributes
    ----------
    N : int
    theta : ndarray, shape (K,)
    x, x_se : ndarray, shape (K,)
        Mean over chains of each chain's time average, and its standard error over chains.
    tau : ndarray, shape (K,)
        Integrated autocorrelation time of each column, pooled over the chains (sweeps).
    start_gap, start_gap_se : ndarray, shape (K,)
        Random-start minus locked-start chain means, and error.
    equilibrated : bool
        Every ``|start_gap| <= 3 start_gap_se`` and the window ``[n_burn, n_sweeps)`` is
        ``>= tau_multiple`` times the largest ``tau``.
    acceptance, delta : float
    drift : float
        Largest correction of ``x`` at the re-orthonormalisations.
    n_chains, n_sweeps, n_burn : int
        Chains, sweeps per chain (after the extensions) and the burn-in left out.
    seconds : float
    status, reason, advice : str
        ``"equilibrated"`` / ``"not equilibrated"``, the failed criterion with its numbers,
        what to change (empty when equilibrated).
    max_sweeps : int
        The budget of sweeps per chain.
    window_taus : float
        Window length in units of the largest ``tau``.
    """

    N: int
    theta: Array
    x: Array
    x_se: Array
    tau: Array
    start_gap: Array
    start_gap_se: Array
    equilibrated: bool
    acceptance: float
    delta: float
    drift: float
    n_chains: int
    n_sweeps: int
    n_burn: int
    seconds: float
    status: str = "equilibrated"
    reason: str = ""
    advice: str = ""
    max_sweeps: int = 0
    window_taus: float = math.nan


def _haar_frame(N: int, k: int, rng: np.random.Generator) -> Array:
    Q, R = np.linalg.qr(rng.standard_normal((N, k)))
    return Q * np.sign(np.diag(R))


def _locked_frame(D: Array, theta: Array) -> Array:
    """Columns on the top eigenvectors of ``D``, the largest ``theta`` on the largest one."""
    N, k = D.size, theta.size
    U = np.zeros((N, k))
    top = np.argsort(D)[::-1][:k]
    for rank, col in enumerate(np.argsort(theta)[::-1]):
        U[top[rank], col] = 1.0
    return U


def sample_frame(D: ArrayLike, theta: ArrayLike, *, n_chains: int = 8, n_sweeps: int = 2000,
                 n_burn: int | None = None, seed: int = 0, delta: float = 1.0,
                 target_acceptance: float = 0.4, parallel: bool = True,
                 max_sweeps: int | None = None, max_seconds: float | None = None,
                 tau_multiple: float = 50.0,
                 progress: Callable[[str], None] | None = None) -> FrameSample:
    """Sample orthonormal frames ``U`` (``N x K``) with weight ``exp(N sum theta_k u_k^T D u_k)``.

    The chains first run ``n_sweeps``; while the random and locked starts disagree
    (``|gap| > 3 se`` in some column) or the window ``[burn, S)`` is shorter than
    ``tau_multiple`` pooled autocorrelation times of the slowest column, they are continued
    (the same growth rule as :func:`simulations.perceptron.simulate_point`: x2 while the starts
    disagree, else to 1.2x what the measured ``tau`` asks; burn-in kept at its fraction) until
    ``max_sweeps`` per chain or ``max_seconds`` engine seconds are spent.  The verdict is in
    ``equilibrated``, ``status``, ``reason`` and ``advice``.

    Parameters
    ----------
    D : array_like, shape (N,)
        Student spectrum (``N >= 2``).
    theta : array_like, shape (K,)
        Couplings, ``K <= N``.
    n_chains : int
        Independent chains (``>= 2``; half start Haar-random, half locked).
    n_sweeps, n_burn : int
        Sweeps per chain of the first run (``N // 2`` moves each) and its burn-in (default a
        quarter).
    seed : int
    delta, target_acceptance : float
        Initial rotation amplitude and the acceptance ``delta`` is tuned to in burn-in.
    max_sweeps : int, optional
        Budget of sweeps per chain (default ``n_sweeps``: fixed length, still with a verdict).
    max_seconds : float, optional
        Budget of engine seconds.
    tau_multiple : float
        Required window length in autocorrelation times (default 50).
    progress : callable, optional
        Called with one line per extension (the failed criterion, the new length, an ETA).
    """
    D = _vec(D, "D")
    th = _vec(theta, "theta")
    N, k = D.size, th.size
    if N < 2:
        raise ValueError("the student spectrum needs N >= 2 eigenvalues")
    if k > N:
        raise ValueError(f"rank K = {k} exceeds N = {N}")
    n_chains = _int(n_chains, "n_chains", 2)
    n_sweeps = _int(n_sweeps, "n_sweeps", 2)
    n_burn = n_sweeps // 4 if n_burn is None else _int(n_burn, "n_burn", 0)
    if n_burn >= n_sweeps:
        raise ValueError("n_burn leaves no measurement sweeps")
    max_sweeps = n_sweeps if max_sweeps is None else _int(max_sweeps, "max_sweeps", 2)
    if max_sweeps < n_sweeps:
        raise ValueError(f"max_sweeps ({max_sweeps}) must be >= n_sweeps ({n_sweeps})")
    rng = np.random.default_rng(_int(seed, "seed", 0))
    U = np.empty((n_chains, N, k))
    locked = np.arange(n_chains) % 2 == 1
    for c in range(n_chains):
        U[c] = _locked_frame(D, th) if locked[c] else _haar_frame(N, k, rng)
    d_out = np.empty(n_chains)
    dr_out = np.empty(n_chains)
    dl = np.full(n_chains, float(delta))
    secs = 0.0

    def run(n: int, burn: int, adapt: bool) -> tuple[Array, Array]:
        nonlocal secs
        seeds = rng.integers(0, 2**32, size=n_chains, dtype=np.int64)
        x_new = np.empty((n_chains, n, k))
        acc_new = np.empty((n_chains, n))
        t0 = time.perf_counter()
        if parallel:
            _frame_chains(D, th, U, burn, dl, adapt, target_acceptance, seeds, x_new, acc_new,
                          d_out, dr_out)
        else:
            for c in range(n_chains):
                d_out[c], dr_out[c] = _frame_chain(D, th, U[c], burn, dl[c], adapt,
                                                   target_acceptance, seeds[c], x_new[c],
                                                   acc_new[c])
        secs += time.perf_counter() - t0
        dl[:] = d_out
        return x_new, acc_new

    x_out, acc = run(n_sweeps, n_burn, True)
    drift = float(dr_out.max())
    burn_frac = n_burn / n_sweeps
    S = n_sweeps
    while True:
        burn = max(n_burn, int(round(burn_frac * S)))
        ev = _frame_stats(x_out[:, burn:, :], locked)
        tau = float(ev["tau"].max())
        meas = S - burn
        gap_ok = bool(np.all(np.abs(ev["gap"]) <= 3.0 * ev["gap_se"] + 1e-15))
        len_ok = meas >= tau_multiple * tau
        out_of_time = max_seconds is not None and secs >= max_seconds
        if (gap_ok and len_ok) or S >= max_sweeps or out_of_time:
            break
        S_new = extension_length(S, tau, gap_ok, burn_frac, tau_multiple, max_sweeps)
        if progress is not None:
            why = ("random and locked starts differ" if not gap_ok else
                   f"window {meas / tau:.0f} tau (tau {tau:.0f} sweeps) < {tau_multiple:g}")
            progress(f"matrix N={N} theta_max={float(th.max()):g}: {S} sweeps, {why}: "
                     f"extending to {S_new} (ETA {S_new - S} sweeps, "
                     f"~{secs / S * (S_new - S):.0f} s)")
        x_new, acc_new = run(S_new - S, 0, False)
        drift = max(drift, float(dr_out.max()))
        x_out = np.concatenate([x_out, x_new], axis=1)
        acc = np.concatenate([acc, acc_new], axis=1)
        S = S_new
    eq = gap_ok and len_ok
    reason, advice = _frame_verdict(ev, gap_ok, len_ok, meas, tau, tau_multiple, S,
                                    max_sweeps, out_of_time, max_seconds, burn_frac)
    return FrameSample(N=N, theta=th, x=ev["x"], x_se=ev["x_se"], tau=ev["tau"],
                       start_gap=ev["gap"], start_gap_se=ev["gap_se"], equilibrated=eq,
                       acceptance=float(acc[:, burn:].mean()), delta=float(dl.mean()),
                       drift=drift, n_chains=n_chains, n_sweeps=S, n_burn=burn, seconds=secs,
                       status="equilibrated" if eq else "not equilibrated", reason=reason,
                       advice=advice, max_sweeps=max_sweeps, window_taus=float(meas / tau))


def _frame_stats(xm: Array, locked: NDArray[np.bool_]) -> dict[str, Array]:
    """Chain means, their error, the random-minus-locked gap and the pooled ``tau`` per column
    of a window ``xm`` of shape ``(C, n, K)``."""
    n_chains, _, k = xm.shape
    means = xm.mean(axis=1)  # (C, K)
    x = means.mean(axis=0)
    x_se = means.std(axis=0, ddof=1) / math.sqrt(n_chains)
    tau = np.array([tau_int_pooled(xm[:, :, j]) for j in range(k)])
    g = means[~locked].mean(axis=0) - means[locked].mean(axis=0)
    na, nb_ = int((~locked).sum()), int(locked.sum())
    if na > 1 and nb_ > 1:
        g_se = np.sqrt(means[~locked].var(axis=0, ddof=1) / na
                       + means[locked].var(axis=0, ddof=1) / nb_)
    else:  # one chain per start: thermal errors from blocking
        g_se = np.array([math.hypot(blocking_stderr(xm[0, :, j]), blocking_stderr(xm[1, :, j]))
                         for j in range(k)])
    return {"x": x, "x_se": x_se, "tau": tau, "gap": g, "gap_se": g_se}


def _frame_verdict(ev: dict[str, Array], gap_ok: bool, len_ok: bool, meas: int, tau: float,
                   tau_multiple: float, S: int, max_sweeps: int, out_of_time: bool,
                   max_seconds: float | None, burn_frac: float) -> tuple[str, str]:
    """``(reason, advice)`` of a frame sample's verdict (both empty when it is equilibrated)."""
    reasons, advice = [], []
    budget = (f"the time budget ({max_seconds:g} s)" if out_of_time else
              f"the sweep budget ({max_sweeps} sweeps per chain)")
    need = int(math.ceil(1.2 * tau_multiple * tau / (1.0 - burn_frac)))
    if not gap_ok:
        z = np.abs(ev["gap"]) / np.where(ev["gap_se"] > 0, ev["gap_se"], np.nan)
        j = int(np.nanargmax(z)) if np.any(np.isfinite(z)) else 0
        reasons.append(f"random and locked starts disagree: <u^T D u> gap {ev['gap'][j]:.3g} "
                       f"= {z[j]:.1f} standard errors (> 3) in column {j} after {S} sweeps, "
                       f"{budget} spent")
        advice.append(f"raise the budget: --max-sweeps >= {max(2 * S, need)}"
                      if not len_ok else
                      "the window already covers the required autocorrelation times: the "
                      f"starts may sit in different states; more sweeps (> {2 * S}) only help "
                      "if the gap shrinks")
    if not len_ok:
        reasons.append(f"window {meas} sweeps = {meas / tau:.1f} tau_int < {tau_multiple:g} "
                       f"(tau {tau:.3g} sweeps), {budget} spent")
        if gap_ok:
            advice.append(f"raise the budget: --max-sweeps >= {need}")
    return "; ".join(reasons), "; ".join(dict.fromkeys(advice))


# --------------------------------------------------------------------------------------------
# large-N predictions
# --------------------------------------------------------------------------------------------

def critical_theta(law: Any) -> float:
    """``theta_c = G(lambda_+) / 2``: above it ``u`` sticks to the top of the spectrum
    (Guionnet & Maida 2005; :func:`setol_theory.rmt.critical_coupling` with ``beta_D = 1``)."""
    return float(rmt.critical_coupling(law, beta=1)[1])


def rank_one_prediction(theta: ArrayLike, law: Any, lambda_max: float | None = None) -> Array:
    r"""Large-N limit of ``<u^T D u>`` under ``exp(N theta u^T D u)``, real case.

    ``d/dtheta (1/2) F(2 theta) = R(2 theta)`` for ``theta <= theta_c`` and
    ``lambda_+ - 1/(2 theta)`` above (edge sticking; Guionnet & Maida 2005, Theorem 6;
    docs/hciz.md).  ``lambda_max`` replaces the law's edge ``lambda_+`` in the sticking phase
    (the finite-N top eigenvalue; docs/simulations.md, "Matrix teacher-student model").
    """
    th = _vec(theta, "theta")
    tc = critical_theta(law)
    edge = float(law.support()[1]) if lambda_max is None else float(lambda_max)
    out = np.empty_like(th)
    for i, t in enumerate(th):
        if t < 0:
            raise ValueError("theta must be >= 0")
        if t <= tc:
            out[i] = float(np.real(np.asarray(law.r_transform(2.0 * t)).reshape(())))
        else:
            out[i] = edge - 1.0 / (2.0 * t)
    return out


# --------------------------------------------------------------------------------------------
# the ST matrix quality
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MatrixQuality:
    """Measured layer quality of the matrix ST model against its predictions.

    Attributes
    ----------
    N : int
    n_beta : float
        ``n beta`` (load times inverse temperature).
    lambdas : ndarray
        Teacher ECS eigenvalues ``lambda_k`` (``theta_k = n beta lambda_k``).
    x, x_se : ndarray
        Measured ``<u_k^T D u_k>``.
    Q2, Q2_se : float
        Measured ``Q^2 = sum_k lambda_k <u_k^T D u_k> = <Tr[R^T R]>``.
    Q2_standard : float
        ``sum_k lambda_k F'(2 n beta lambda_k)`` (HCIZ / integrated-R, law's edge).
    Q2_standard_finite_edge : float
        Same, with the finite-N top eigenvalue of ``D`` in the sticking phase.
    Q2_paper : float
        ``sum_k G(lambda_k)``, ``G = int_{lambda_min}^{lambda} Re R`` (``nan`` when ``R`` is
        not integrable on the interval, e.g. the MP pole; the reason is in
        ``Q2_paper_status``).
    gamma_standard, gamma_paper : float
        ``(1/2) sum_k F(2 n beta lambda_k)`` and the paper's ``n beta sum_k G(lambda_k)``.
    phases : tuple of str
        ``"sub-critical"`` / ``"super-critical"`` per column.
    equilibrated : bool
    notes : tuple of str
    assumptions : tuple of str
    Q2_paper_status : str
        ``"ok"``, or why ``Q2_paper`` is undefined (e.g. the pole of the MP R-transform at
        ``z = 1/q`` inside the ECS eigenvalue range).
    status, reason, advice : str
        The equilibration verdict of :func:`sample_frame` (why not, what to change).
    tau : float
        Largest pooled autocorrelation time over the columns (sweeps).
    n_sweeps, max_sweeps : int
        Sweeps per chain actually run, and the budget.
    """

    N: int
    n_beta: float
    lambdas: Array
    x: Array
    x_se: Array
    Q2: float
    Q2_se: float
    Q2_standard: float
    Q2_standard_finite_edge: float
    Q2_paper: float
    gamma_standard: float
    gamma_paper: float
    phases: tuple[str, ...]
    equilibrated: bool
    seconds: float
    notes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ASSUMPTIONS
    Q2_paper_status: str = "ok"
    status: str = "equilibrated"
    reason: str = ""
    advice: str = ""
    tau: float = math.nan
    n_sweeps: int = 0
    max_sweeps: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, np.ndarray):
                d[k] = v.tolist()
            elif isinstance(v, tuple):
                d[k] = list(v)
        return d


def _paper_q2(lambdas: Array, law: Any, lambda_min: float) -> tuple[float, str]:
    try:
        vals = [float(np.real(np.asarray(law.integrated_r(v, lower=lambda_min)).reshape(())))
                for v in lambdas]
    except (ValueError, ZeroDivisionError) as exc:
        return math.nan, (f"paper G(lambda) undefined on the ECS [{lambda_min:g}, "
                          f"{float(lambdas.max()):g}]: {exc}")
    total = math.fsum(vals)
    if not math.isfinite(total):
        return math.nan, "paper G(lambda) is not finite on the ECS"
    return total, ""


def _standard_q2(n_beta: float, lambdas: Array, law: Any, lambda_max: float | None) -> float:
    return float(np.sum(lambdas * rank_one_prediction(n_beta * lambdas, law, lambda_max)))


def matrix_quality(N: int, lambdas: ArrayLike, law: Any, n_beta: float, *,
                   spectrum: ArrayLike | None = None, lambda_min: float | None = None,
                   n_chains: int = 8, n_sweeps: int = 2000, n_burn: int | None = None,
                   seed: int = 0, parallel: bool = True, max_sweeps: int | None = None,
                   max_seconds: float | None = None, tau_multiple: float = 50.0,
                   progress: Callable[[str], None] | None = None) -> MatrixQuality:
    """Measure ``Q^2 = <Tr[R^T R]>`` of the matrix ST ensemble and compare (module docstring).

    Parameters
    ----------
    N : int
        Student size (``A_N`` is ``N x N``), ``>= 2``.
    lambdas : array_like
        Teacher ECS eigenvalues ``lambda_k > 0`` (``K <= N``).
    law : spectral model
        Student law (``ppf``, ``r_transform``, ``integrated_r``, ``stieltjes``, ``support``).
    n_beta : float
        ``n beta > 0``.
    spectrum : array_like, optional
        Student eigenvalues (default: quantiles of ``law``).
    lambda_min : float, optional
        ECS edge for the paper's ``G`` (default ``min(lambdas)``).
    max_sweeps, max_seconds, tau_multiple, progress
        Equilibration budget and criterion of :func:`sample_frame` (default: fixed length
        ``n_sweeps``, still with its verdict).
    """
    N = _int(N, "N", 2)
    lam = _vec(lambdas, "lambdas")
    if np.any(lam <= 0):
        raise ValueError("teacher ECS eigenvalues must be > 0")
    if not isinstance(n_beta, numbers.Real) or not math.isfinite(n_beta) or n_beta <= 0:
        raise ValueError(f"n_beta must be a finite number > 0, got {n_beta!r}")
    D = quantile_spectrum(law, N) if spectrum is None else _vec(spectrum, "spectrum")
    if D.size != N:
        raise ValueError(f"spectrum has {D.size} eigenvalues, N = {N}")
    fs = sample_frame(D, n_beta * lam, n_chains=n_chains, n_sweeps=n_sweeps, n_burn=n_burn,
                      seed=seed, parallel=parallel, max_sweeps=max_sweeps,
                      max_seconds=max_seconds, tau_multiple=tau_multiple, progress=progress)
    lm = float(lam.min()) if lambda_min is None else float(lambda_min)
    q2p, note = _paper_q2(lam, law, lm)
    tc = critical_theta(law)
    phases = tuple("sub-critical" if n_beta * v <= tc else "super-critical" for v in lam)
    notes = [note] if note else []
    if any(p == "super-critical" for p in phases) and lam.size > 1:
        notes.append("several columns above the critical coupling compete for the top "
                     "eigenvectors of D at finite N")
    return MatrixQuality(
        N=N, n_beta=float(n_beta), lambdas=lam, x=fs.x, x_se=fs.x_se,
        Q2=float(lam @ fs.x), Q2_se=float(math.sqrt(np.sum((lam * fs.x_se) ** 2))),
        Q2_standard=_standard_q2(n_beta, lam, law, None),
        Q2_standard_finite_edge=_standard_q2(n_beta, lam, law, float(D.max())),
        Q2_paper=q2p,
        gamma_standard=rmt.hciz_lowrank_asymptotic(2.0 * n_beta * lam, law, beta=1),
        gamma_paper=n_beta * q2p if math.isfinite(q2p) else math.nan,
        phases=phases, equilibrated=fs.equilibrated, seconds=fs.seconds, notes=tuple(notes),
        Q2_paper_status=note or "ok", status=fs.status, reason=fs.reason, advice=fs.advice,
        tau=float(fs.tau.max()), n_sweeps=fs.n_sweeps, max_sweeps=fs.max_sweeps)


def thermodynamic_integration(D: ArrayLike, lambdas: ArrayLike, n_beta: float, *,
                              n_nodes: int = 8, **sample_kw: Any) -> tuple[float, float]:
    r"""``Gamma_N(n beta) = (1/N) ln E_U exp(N n beta sum_k lambda_k u_k^T D u_k)`` by
    thermodynamic integration: ``int_0^{n beta} Q^2(s) ds`` with ``n_nodes`` Gauss-Legendre
    nodes (``dGamma/ds = <sum lambda_k u_k^T D u_k>_s``).  Returns ``(Gamma, stderr)``."""
    lam = _vec(lambdas, "lambdas")
    xg, wg = np.polynomial.legendre.leggauss(_int(n_nodes, "n_nodes", 1))
    s = 0.5 * n_beta * (xg + 1.0)
    w = 0.5 * n_beta * wg
    vals, errs = [], []
    for k, sk in enumerate(s):
        kw = dict(sample_kw)
        kw["seed"] = int(kw.get("seed", 0)) * 1000 + k
        fs = sample_frame(D, sk * lam, **kw)
        vals.append(float(lam @ fs.x))
        errs.append(float(math.sqrt(np.sum((lam * fs.x_se) ** 2))))
    return float(w @ np.asarray(vals)), float(math.sqrt(np.sum((w * np.asarray(errs)) ** 2)))


# --------------------------------------------------------------------------------------------
# convergence in N
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MatrixConvergence:
    """``Q^2_N`` against the large-N prediction for growing ``N``.

    Attributes
    ----------
    sizes : ndarray of int
    results : tuple of MatrixQuality
    errors, errors_se : ndarray
        ``Q^2_N - Q^2_standard`` and its Monte Carlo error.
    slope, slope_se, prefactor : float
        Weighted fit ``|error| ~ prefactor N^slope`` (points with ``|error| < 2 se`` are
        flagged in ``resolved`` and left out).
    resolved : ndarray of bool
    """

    sizes: NDArray[np.int64]
    results: tuple[MatrixQuality, ...]
    errors: Array
    errors_se: Array
    slope: float
    slope_se: float
    prefactor: float
    resolved: NDArray[np.bool_]

    def table(self) -> str:
        r0 = self.results[0]
        lines = [f"matrix ST model: n_beta = {r0.n_beta:g}, lambdas = "
                 f"{np.array2string(r0.lambdas, precision=4)}; Q2_standard = "
                 f"{r0.Q2_standard:.6f}, Q2_paper = {r0.Q2_paper:.6g}",
                 f"{'N':>6} {'Q2 (MC)':>12} {'+-':>9} {'Q2_N - Q2_inf':>14} {'N * err':>9} "
                 f"{'equil':>6}"]
        for n, r, e, s in zip(self.sizes, self.results, self.errors, self.errors_se,
                              strict=True):
            lines.append(f"{n:>6d} {r.Q2:>12.6f} {s:>9.2e} {e:>14.3e} {n * e:>9.4f} "
                         f"{str(r.equilibrated):>6}")
        lines.append(f"fit |Q2_N - Q2_inf| ~ {self.prefactor:.3g} N^{self.slope:.3f} "
                     f"(+- {self.slope_se:.3f})")
        return "\n".join(lines)


def matrix_convergence(sizes: Sequence[int], lambdas: ArrayLike, law: Any, n_beta: float, *,
                       n_chains: int = 8, n_sweeps: int = 4000, seed: int = 0,
                       parallel: bool = True,
                       progress: Callable[[str], None] | None = None) -> MatrixConvergence:
    """:func:`matrix_quality` at each ``N`` and a power-law fit of the error in ``N``."""
    ns = np.array([_int(n, "sizes", 2) for n in sizes], dtype=np.int64)
    if ns.size < 2:
        raise ValueError("give at least two sizes")
    res = []
    for n in ns:
        r = matrix_quality(int(n), lambdas, law, n_beta, n_chains=n_chains, n_sweeps=n_sweeps,
                           seed=seed + int(n), parallel=parallel)
        res.append(r)
        if progress is not None:
            progress(f"N = {n}: Q2 = {r.Q2:.6f} +- {r.Q2_se:.1e} ({r.seconds:.1f} s)")
    err = np.array([r.Q2 - r.Q2_standard for r in res])
    se = np.array([r.Q2_se for r in res])
    slope, slope_se, pref, ok = fit_convergence(ns, err, se)
    return MatrixConvergence(sizes=ns, results=tuple(res), errors=err, errors_se=se,
                             slope=slope, slope_se=slope_se, prefactor=pref, resolved=ok)


def fit_convergence(sizes: ArrayLike, errors: ArrayLike, errors_se: ArrayLike
                    ) -> tuple[float, float, float, NDArray[np.bool_]]:
    """Weighted fit ``log|error| = log(prefactor) + slope log N`` over the sizes whose error is
    resolved (``|error| > 2 se``); weights ``(|error|/se)^2`` (delta method).

    Returns ``(slope, slope_se, prefactor, resolved)``; ``nan`` with fewer than two resolved
    sizes.
    """
    ns = np.asarray(sizes, dtype=np.float64)
    err = np.asarray(errors, dtype=np.float64)
    se = np.asarray(errors_se, dtype=np.float64)
    ok = np.abs(err) > 2.0 * se
    if ok.sum() < 2:
        return math.nan, math.nan, math.nan, ok
    x = np.log(ns[ok])
    y = np.log(np.abs(err[ok]))
    w = (np.abs(err[ok]) / np.maximum(se[ok], 1e-300)) ** 2
    A = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    p = cov @ (A.T @ (w * y))
    return float(p[1]), float(math.sqrt(cov[1, 1])), float(math.exp(p[0])), ok

