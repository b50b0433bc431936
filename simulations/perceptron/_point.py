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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from setol_theory.statmech import generalization_error

from ._chains import DRIFT_TOLERANCE, ChainTraces, run_chains
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
from ._stats import blocking_stderr, tau_int


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
        ``|start_gap| <= 2 start_gap_se`` and every chain has run length
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
    after ``n_burn`` sweeps are pooled.  If the two starts disagree (mean ``R``
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
