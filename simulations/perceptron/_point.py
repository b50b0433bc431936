"""Gibbs learning at one ``(N, load, T)`` over many data sets: :func:`simulate_point` and its
result :class:`PerceptronPoint`.

Observables and error bars (docs/simulations.md, "Monte Carlo of Gibbs learning")
--------------------------------------------------------------------------------
Per sweep: energy, overlap ``R = J . B / N``, acceptance; snapshots of ``J`` every
``snap_every`` measurement sweeps give the replica overlap ``q = J1 . J2 / N`` between the two
chains of one data set and a held-out error on ``P_test = 10 N`` fresh patterns.
:func:`simulate_point` runs, for each of ``n_samples`` data sets, one chain from the teacher and
one from a random start (annealed from ``beta = 0.5`` into the version space at ``T = 0``),
checks that the two starts agree (mean difference of ``R`` within 2 standard errors over the
data sets), reports Sokal's integrated autocorrelation time (automatic window, ``c = 5``), the
thermal (blocking) and disorder (between data sets) standard errors
(:mod:`simulations.perceptron._stats`).  The ``1/N`` extrapolation of the points is in
:mod:`simulations.perceptron._finite_size`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from setol_theory.statmech import generalization_error

from ._chains import DRIFT_TOLERANCE, MOVERS, run_chains
from ._problem import (
    Array,
    Output,
    Prior,
    _check_choice,
    _check_T,
    _int,
    _teacher,
    check_sizes,
    make_problem,
)
from ._stats import blocking_stderr, extension_length, tau_int_pooled


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
        ``|start_gap| <= 2 start_gap_se`` and the measurement window covers
        ``>= tau_multiple`` integrated autocorrelation times of the slowest observable
        (``max(tau_R, tau_E)``) -- the verdict; ``status``, ``reason`` and ``advice`` say why
        and what to change when it is ``False``.
    status, reason, advice : str
        ``"equilibrated"`` / ``"not equilibrated"``; the failed criterion with its numbers
        (empty when equilibrated); what to change (a larger ``max_sweeps``, or metastability).
    tau_R, tau_E : float
        Integrated autocorrelation time (sweeps) on the final window, pooled over all chains
        (:func:`~simulations.perceptron.tau_int_pooled`).
    tau_multiple : float
        Required window length in units of ``max(tau_R, tau_E)``.
    window_taus : float
        ``(n_sweeps - n_burn) / max(tau_R, tau_E)``.
    max_sweeps : int
        Budget of sweeps per chain the run could extend to.
    mover : str
        Spherical mover used (:data:`simulations.perceptron.MOVERS`; ``"flip"`` for Ising).
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
    status: str
    reason: str
    advice: str
    tau_R: float
    tau_E: float
    tau_multiple: float
    window_taus: float
    max_sweeps: int
    mover: str
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


#: snapshots kept per chain (older ones are dropped as burn-in grows; the stride doubles)
_MAX_SNAPS = 400


class _DataSet:
    """Two chains (teacher start, random start) on one data set, extendable in place."""

    def __init__(self, ss: np.random.SeedSequence, N: int, P: int, prior: str, output: str,
                 beta: float, n_sweeps: int, n_burn: int, delta: float, snap_every: int,
                 mover: str, parallel: bool) -> None:
        self.rng = np.random.default_rng(ss)
        self.prob = make_problem(N, P=P, prior=prior, output=output, rng=self.rng)
        self.beta, self.mover, self.parallel = beta, mover, parallel
        J0 = np.stack([self.prob.B, _random_start(prior, N, self.rng)])
        sched = np.stack([np.full(n_sweeps, beta), _anneal_schedule(beta, n_sweeps, n_burn)])
        seeds = ss.generate_state(2, dtype=np.uint32).astype(np.int64)
        tr = run_chains(self.prob, J0, sched, seeds, n_burn=n_burn, delta=delta,
                        snap_every=snap_every, parallel=parallel, mover=self._mover())
        self.test_seed = int(self.rng.integers(0, 2**63))
        self.R, self.E, self.acc = [tr.R], [tr.E], [tr.acceptance]
        self.snaps = [(n_burn + np.arange(tr.snapshots.shape[1]) * snap_every, tr.snapshots)]
        self.J, self.delta, self.dth = tr.J, tr.delta, tr.dth
        self.drift = float(tr.drift.max())
        self.updates, self.seconds, self.S = tr.field_updates, tr.seconds, n_sweeps

    def _mover(self) -> str:
        return "metropolis" if self.mover == "flip" else self.mover

    def extend(self, n: int, snap_every: int) -> None:
        seeds = self.rng.integers(0, 2**32, size=2, dtype=np.int64)
        tr = run_chains(self.prob, self.J, np.full((2, n), self.beta), seeds, n_burn=0,
                        delta=self.delta, dth=self.dth, adapt=False, snap_every=snap_every,
                        parallel=self.parallel, mover=self._mover())
        self.R.append(tr.R)
        self.E.append(tr.E)
        self.acc.append(tr.acceptance)
        self.snaps.append((self.S + np.arange(tr.snapshots.shape[1]) * snap_every,
                           tr.snapshots))
        self.J = tr.J
        self.drift = max(self.drift, float(tr.drift.max()))
        self.updates += tr.field_updates
        self.seconds += tr.seconds
        self.S += n

    def window(self, burn: int) -> tuple[Array, Array, Array, Array]:
        """``R``, ``E``, acceptance traces from sweep ``burn`` on and the snapshots there
        (older snapshots are dropped for good)."""
        R = np.concatenate(self.R, axis=1)
        E = np.concatenate(self.E, axis=1)
        A = np.concatenate(self.acc, axis=1)
        self.R, self.E, self.acc = [R], [E], [A]
        idx = np.concatenate([i for i, _ in self.snaps])
        sn = np.concatenate([x for _, x in self.snaps], axis=1)
        keep = idx >= burn
        self.snaps = [(idx[keep], sn[:, keep])]
        return R[:, burn:], E[:, burn:], A[:, burn:], sn[:, keep]


def _stride(S_new: int, burn_frac: float, snap_every: int) -> int:
    """Snapshot stride so that a window of ``(1 - burn_frac) S_new`` sweeps keeps about
    ``_MAX_SNAPS`` snapshots (never below ``snap_every``)."""
    return max(snap_every, int(math.ceil((1.0 - burn_frac) * S_new / _MAX_SNAPS)))


def simulate_point(N: int, load: float, T: float, *, prior: Prior = "spherical",
                   output: Output = "boolean", n_samples: int = 16, n_sweeps: int = 2000,
                   n_burn: int | None = None, seed: int = 0, delta: float = 1.5,
                   test_factor: int = 10, snap_every: int = 10, max_sweeps: int | None = None,
                   max_seconds: float | None = None, tau_multiple: float = 50.0,
                   target_se: float | None = None, max_samples: int | None = None,
                   mover: str = "auto", parallel: bool = True,
                   progress: Callable[[str], None] | None = None) -> PerceptronPoint:
    """Gibbs-learning Monte Carlo at one ``(N, load, T)`` over ``n_samples`` data sets, run
    until it is equilibrated or its budget is spent.

    For each data set (seeded by ``SeedSequence([seed, N, P, T]).spawn``: points of one grid
    draw independent data) two chains run, one from the
    teacher and one from a random student (annealed from ``beta = 0.5`` over the first half of
    burn-in, repaired into the version space at ``T = 0``).  The first ``n_sweeps`` sweeps
    include ``n_burn`` of burn-in; the run is then **extended** (all chains continued, the
    burn-in kept at the same fraction ``n_burn / n_sweeps`` of the run) until

    * the two starts agree: ``|<R>_teacher - <R>_random|`` averaged over data sets within 2
      standard errors, and
    * the measurement window covers ``>= tau_multiple`` integrated autocorrelation times of the
      slowest observable (``max(tau_R, tau_E)``, largest over chains),

    or ``max_sweeps`` sweeps per chain (default ``n_sweeps``: no extension) or ``max_seconds``
    are reached.  Each extension at least doubles the run when the starts disagree, else
    grows it to the length the measured ``tau`` asks for (x 1.2), and at least by half (short
    windows underestimate ``tau``).  With ``target_se`` data
    sets are added (up to ``max_samples``, default ``16 n_samples``) until the standard error
    of ``eps_g`` is below it.  :class:`PerceptronPoint` carries the verdict, its reason and
    what to change.

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
        Sweeps per chain of the first run and its burn-in (default half).
    seed : int
        Master seed.
    delta : float
        Initial rotation amplitude (radians).
    test_factor : int
        Held-out examples per weight for ``eps_test``.
    snap_every : int
        Smallest snapshot period (sweeps) for ``q`` and ``eps_test``.
    max_sweeps : int, optional
        Budget of sweeps per chain (``>= n_sweeps``).
    max_seconds : float, optional
        Budget of engine seconds for the point (checked between extensions).
    tau_multiple : float
        Required window length in autocorrelation times (default 50).
    target_se : float, optional
        Wanted standard error of ``eps_g``.
    max_samples : int, optional
        Most data sets ``target_se`` may use.
    mover : str
        ``"auto"`` (``"meridian"`` for the spherical student; docs/simulations.md, "Movers for
        the spherical student") or one of :data:`simulations.perceptron.MOVERS`.
    parallel : bool
        Run each data set's two chains with ``numba.prange``.
    progress : callable, optional
        Called with one line per extension (sweeps so far, the failed criterion, the new
        length and an ETA in sweeps and seconds).
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
    max_sweeps = n_sweeps if max_sweeps is None else _int(max_sweeps, "max_sweeps", n_sweeps)
    if max_seconds is not None and not (max_seconds > 0):
        raise ValueError(f"max_seconds must be > 0, got {max_seconds!r}")
    if not (math.isfinite(tau_multiple) and tau_multiple > 0):
        raise ValueError(f"tau_multiple must be > 0, got {tau_multiple!r}")
    if target_se is not None and not (math.isfinite(target_se) and target_se > 0):
        raise ValueError(f"target_se must be > 0, got {target_se!r}")
    max_samples = 16 * n_samples if max_samples is None else \
        _int(max_samples, "max_samples", n_samples)
    if prior == "ising":
        mover = "flip"
    elif mover == "auto":
        mover = "meridian"
    elif mover not in MOVERS:
        raise ValueError(f"mover must be 'auto' or one of {', '.join(MOVERS)}; got {mover!r}")
    beta = math.inf if T == 0.0 else 1.0 / T
    burn_frac = n_burn / n_sweeps
    label = f"N={N} alpha={P / N:g} T={T:g}"
    # the point's own entropy: one --seed across a grid must not give every (N, alpha, T) the
    # same random numbers (their errors would be correlated from point to point)
    seqs = iter(np.random.SeedSequence([seed, N, P, int(round(T * 1e9))]).spawn(max_samples))

    def new_set(S: int) -> _DataSet:
        ds = _DataSet(next(seqs), N, P, prior, output, beta, n_sweeps, n_burn, delta,
                      snap_every, mover, parallel)
        if S > n_sweeps:
            ds.extend(S - n_sweeps, _stride(S, burn_frac, snap_every))
        return ds

    t_start = time.perf_counter()
    sets = [new_set(n_sweeps) for _ in range(n_samples)]
    S = n_sweeps
    while True:
        burn = max(n_burn, int(round(burn_frac * S)))
        ev = _evaluate(sets, burn, N, P, output, test_factor)
        tau = max(ev["tau_R"], ev["tau_E"])
        meas = S - burn
        gap_ok = (abs(ev["gap"]) <= 2.0 * ev["gap_se"]) if np.isfinite(ev["gap_se"]) and \
            ev["gap_se"] > 0 else abs(ev["gap"]) < 1e-12
        len_ok = meas >= tau_multiple * tau
        se_ok = target_se is None or ev["eps_g_se"] <= target_se
        spent = time.perf_counter() - t_start
        out_of_time = max_seconds is not None and spent >= max_seconds
        if gap_ok and len_ok and not se_ok and len(sets) < max_samples and not out_of_time:
            want = int(math.ceil(len(sets) * (ev["eps_g_se"] / target_se) ** 2 * 1.1))
            add = min(max(want - len(sets), 1), max_samples - len(sets))
            if progress is not None:
                progress(f"{label}: eps_g se {ev['eps_g_se']:.2g} > target {target_se:g}: "
                         f"adding {add} data sets to {len(sets)} (ETA {add * S} sweeps x 2 "
                         f"chains, ~{spent / len(sets) * add:.0f} s)")
            sets.extend(new_set(S) for _ in range(add))
            continue
        if (gap_ok and len_ok) or S >= max_sweeps or out_of_time:
            break
        S_new = extension_length(S, tau, gap_ok, burn_frac, tau_multiple, max_sweeps)
        why = (f"start gap {abs(ev['gap']) / ev['gap_se']:.1f} se" if not gap_ok and
               np.isfinite(ev["gap_se"]) and ev["gap_se"] > 0 else
               ("starts differ" if not gap_ok else
                f"window {meas / tau:.0f} tau (tau_R {ev['tau_R']:.0f}, tau_E "
                f"{ev['tau_E']:.0f} sweeps) < {tau_multiple:g}"))
        if progress is not None:
            eta = spent / S * (S_new - S)
            progress(f"{label}: {S} sweeps, {why}: extending to {S_new} (ETA {S_new - S} "
                     f"sweeps, ~{eta:.0f} s)")
        stride = _stride(S_new, burn_frac, snap_every)
        for ds in sets:
            ds.extend(S_new - S, stride)
        S = S_new
    drift = max(ds.drift for ds in sets)
    if drift > DRIFT_TOLERANCE:
        raise RuntimeError(f"local-field drift {drift:.3g} exceeds {DRIFT_TOLERANCE} (N = {N}, "
                           f"P = {P}): the incremental updates are inconsistent")
    reason, advice = _verdict(ev, gap_ok, len_ok, se_ok, meas, tau, tau_multiple, S,
                              max_sweeps, out_of_time, max_seconds, burn_frac, target_se,
                              len(sets), max_samples)
    eq = gap_ok and len_ok
    arr = ev["per"]
    return PerceptronPoint(
        N=N, P=P, load=P / N, T=T, prior=prior, output=output, n_samples=len(sets),
        n_sweeps=S, n_burn=burn,
        R=float(arr["R"].mean()), R_se=_sem(arr["R"]),
        eps_g=float(arr["eps_g"].mean()), eps_g_se=_sem(arr["eps_g"]),
        eps_t=float(arr["eps_t"].mean()), eps_t_se=_sem(arr["eps_t"]),
        eps_test=float(arr["eps_test"].mean()), eps_test_se=_sem(arr["eps_test"]),
        q=float(arr["q"].mean()), q_se=_sem(arr["q"]),
        eps_g_thermal_se=ev["therm"], start_gap=ev["gap"], start_gap_se=ev["gap_se"],
        equilibrated=bool(eq), status="equilibrated" if eq else "not equilibrated",
        reason=reason, advice=advice, tau_R=ev["tau_R"], tau_E=ev["tau_E"],
        tau_multiple=float(tau_multiple), window_taus=float(meas / tau),
        max_sweeps=max_sweeps, mover=mover, acceptance=ev["acceptance"], delta=ev["delta"],
        drift=drift, field_updates=sum(ds.updates for ds in sets),
        seconds=sum(ds.seconds for ds in sets), seed=seed,
        per_sample={k: [float(x) for x in v] for k, v in arr.items()})


def _evaluate(sets: list[_DataSet], burn: int, N: int, P: int, output: str,
              test_factor: int) -> dict[str, Any]:
    """Per-data-set means over the window ``[burn, S)``, the start gap, the largest
    ``tau_int`` of ``R`` and ``E``, acceptance and the thermal error."""
    keys = ("R", "eps_g", "eps_t", "eps_test", "q", "gap")
    per: dict[str, list[float]] = {k: [] for k in keys}
    taus_R, taus_E, accs, deltas, therm = [], [], [], [], []
    for ds in sets:
        Rm, Em, Am, snaps = ds.window(burn)
        eg = np.asarray(generalization_error(np.clip(Rm, -1.0, 1.0), output))
        per["R"].append(float(Rm.mean()))
        per["eps_g"].append(float(eg.mean()))
        per["eps_t"].append(float(Em.mean()) / P)
        per["gap"].append(float(Rm[0].mean() - Rm[1].mean()))
        per["q"].append(float(np.mean(np.sum(snaps[0] * snaps[1], axis=1))) / N)
        # held-out error on fresh patterns (the same test set at every evaluation)
        Xt = np.random.default_rng(ds.test_seed).standard_normal((test_factor * N, N))
        hT = Xt @ ds.prob.B / math.sqrt(N)
        hS = np.einsum("pn,ckn->ckp", Xt, snaps) / math.sqrt(N)
        if output == "boolean":
            per["eps_test"].append(float(np.mean((hS >= 0) != (hT >= 0))))
        else:
            per["eps_test"].append(float(np.mean(0.5 * (hS - hT) ** 2)))
        taus_R.append(Rm)
        taus_E.append(Em)
        for c in range(2):
            therm.append(blocking_stderr(eg[c]) / math.sqrt(2.0))
        accs.append(float(Am.mean()))
        deltas.append(float(ds.delta.mean()))
    arr = {k: np.asarray(v) for k, v in per.items()}
    return {"per": arr, "gap": float(arr["gap"].mean()), "gap_se": _sem(arr["gap"]),
            "tau_R": tau_int_pooled(np.concatenate(taus_R)),
            "tau_E": tau_int_pooled(np.concatenate(taus_E)),
            "eps_g_se": _sem(arr["eps_g"]), "therm": float(np.median(therm)),
            "acceptance": float(np.mean(accs)), "delta": float(np.mean(deltas))}


def _verdict(ev: dict[str, Any], gap_ok: bool, len_ok: bool, se_ok: bool, meas: int,
             tau: float, tau_multiple: float, S: int, max_sweeps: int, out_of_time: bool,
             max_seconds: float | None, burn_frac: float, target_se: float | None,
             n_sets: int, max_samples: int) -> tuple[str, str]:
    """``(reason, advice)`` of a point's verdict (both empty when all criteria hold)."""
    reasons, advice = [], []
    budget = (f"the time budget ({max_seconds:g} s)" if out_of_time else
              f"the sweep budget ({max_sweeps} sweeps per chain)")
    need = int(math.ceil(1.2 * tau_multiple * tau / (1.0 - burn_frac)))
    if not gap_ok:
        z = abs(ev["gap"]) / ev["gap_se"] if ev["gap_se"] > 0 else math.inf
        reasons.append(f"teacher and random starts disagree: <R> gap {ev['gap']:.3g} = "
                       f"{z:.1f} standard errors (> 2) after {S} sweeps, {budget} spent")
        if len_ok:
            advice.append("the window already covers the required autocorrelation times: "
                          "the two starts may sit in different states (metastability, e.g. "
                          "an Ising student near its first-order transition); more sweeps "
                          f"(max_sweeps > {2 * S}) only help if the gap shrinks")
        else:
            advice.append(f"raise the budget: max_sweeps >= {max(2 * S, need)}")
    if not len_ok:
        reasons.append(f"window {meas} sweeps = {meas / tau:.1f} tau_int < {tau_multiple:g} "
                       f"(tau_R {ev['tau_R']:.0f}, tau_E {ev['tau_E']:.0f} sweeps)")
        if gap_ok:
            advice.append(f"raise the budget: max_sweeps >= {need}")
    if not se_ok and target_se is not None:
        reasons.append(f"eps_g standard error {ev['eps_g_se']:.2g} > target {target_se:g} "
                       f"with {n_sets} data sets")
        advice.append(f"raise max_samples above {max_samples}")
    return "; ".join(reasons), "; ".join(dict.fromkeys(advice))
