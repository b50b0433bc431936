"""Tests for ``simulations.perceptron`` (docs/simulations.md, "Monte Carlo of Gibbs learning").

* The numba engine against the numpy reference (which recomputes every proposal's energy from
  scratch): same seed, same chain, for every prior / output and for ``T = 0`` with the
  version-space repair.
* Exactness of the sampler on systems small enough to enumerate (Ising) or to integrate by
  independent uniform sampling (sphere): thermal averages within 4 standard errors.
* The learning curve: simulated ``eps_g`` extrapolated in ``1/N`` against the replica-symmetric
  Gibbs-learning curve of ``setol_theory.statmech`` (spherical student at two temperatures,
  Ising student below its transition), within 3 combined standard errors; and a check that the
  same data reject a wrong temperature (the test has power).
* Statistics helpers against series with known answers.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from setol_theory import statmech as S
from simulations import perceptron as PM
from simulations.perceptron import _point

# --------------------------------------------------------------------------------------------
# problem
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prior", ["spherical", "ising"])
@pytest.mark.parametrize("output", ["boolean", "linear"])
def test_problem_layout(prior, output):
    p = PM.make_problem(40, 1.5, prior=prior, output=output, rng=3)
    assert (p.N, p.P) == (40, 60) and p.Z.shape == (40, 60) and p.Z.flags.c_contiguous
    assert float(p.B @ p.B) == pytest.approx(40.0, rel=1e-12)
    f = p.fields(p.B)
    if output == "boolean":
        assert np.all(f >= 0.0) and p.energy(p.B) == 0.0  # the teacher makes no error
        assert set(np.unique(p.y)) <= {-1.0, 1.0}
    else:
        assert np.allclose(f, 0.0, atol=1e-12)
    if prior == "ising":
        assert set(np.unique(p.B)) <= {-1.0, 1.0}


def test_problem_bad_input():
    with pytest.raises(ValueError, match="N"):
        PM.make_problem(1, 1.0)
    with pytest.raises(TypeError, match="integer"):
        PM.make_problem(10.5, 1.0)
    with pytest.raises(ValueError, match="> 0"):
        PM.make_problem(10, 0.0)
    with pytest.raises(ValueError, match="P = round"):
        PM.make_problem(10, 0.01)
    with pytest.raises(ValueError):
        PM.make_problem(10, P=0)
    with pytest.raises(ValueError, match="prior"):
        PM.make_problem(10, 1.0, prior="binary")


# --------------------------------------------------------------------------------------------
# engine vs numpy reference
# --------------------------------------------------------------------------------------------

CASES = [("spherical", "boolean", 2.0), ("spherical", "linear", 2.0), ("ising", "boolean", 2.0),
         ("ising", "linear", 1.0), ("spherical", "boolean", 0.0), ("ising", "boolean", 0.0)]


@pytest.mark.parametrize("prior,output,T", CASES)
@pytest.mark.parametrize("incremental", [False, True])
def test_engine_reproduces_reference_chain(prior, output, T, incremental):
    N = 16
    prob = PM.make_problem(N, 2.0, prior=prior, output=output, rng=11)
    J0 = _point._random_start(prior, N, np.random.default_rng(4))
    S_ = 160
    if T == 0.0:
        betas = np.full(S_, math.inf)
        betas[:40] = np.geomspace(0.5, 30.0, 40)  # annealed, then repaired into the version space
    else:
        betas = np.full(S_, 1.0 / T)
    kw = dict(n_burn=60, snap_every=7, drift_every=50)
    tr = PM.run_chains(prob, J0[None], betas, [2024], parallel=False, **kw)
    ref = PM.run_chain_reference(prob, J0, betas, 2024, incremental=incremental, **kw)
    assert np.array_equal(tr.acceptance, ref.acceptance)  # same moves accepted, sweep by sweep
    assert 0.0 < tr.acceptance.mean() < 1.0
    assert np.allclose(tr.E, ref.E, rtol=0, atol=1e-9)
    assert np.allclose(tr.J, ref.J, rtol=0, atol=1e-12)
    assert np.allclose(tr.snapshots, ref.snapshots, rtol=0, atol=1e-12)
    assert np.allclose(tr.R, ref.R, rtol=0, atol=1e-12)
    assert tr.delta[0] == pytest.approx(ref.delta[0], rel=1e-14)
    if T == 0.0 and prior == "spherical":
        assert np.all(tr.E[0, 40:] == 0.0)  # repaired into the version space once beta = inf
    # the engine's field bookkeeping stays within rounding
    assert tr.drift[0] < PM.DRIFT_TOLERANCE


def test_parallel_chains_equal_serial_chains():
    prob = PM.make_problem(24, 2.0, rng=5)
    rng = np.random.default_rng(1)
    J0 = np.stack([_point._random_start("spherical", 24, rng) for _ in range(4)])
    b = np.full(50, 1.5)
    a = PM.run_chains(prob, J0, b, [1, 2, 3, 4], n_burn=10, parallel=True)
    s = PM.run_chains(prob, J0, b, [1, 2, 3, 4], n_burn=10, parallel=False)
    assert np.array_equal(a.E, s.E) and np.array_equal(a.J, s.J)
    assert not np.array_equal(a.E[0], a.E[1])  # different seeds, different chains


def test_run_chains_bad_input():
    prob = PM.make_problem(10, 1.0, rng=0)
    with pytest.raises(ValueError, match="seeds"):
        PM.run_chains(prob, prob.B[None], np.ones(3), [-1])
    with pytest.raises(ValueError, match="weights"):
        PM.run_chains(prob, np.ones((1, 9)), np.ones(3), [1])
    with pytest.raises(ValueError, match="inverse temperatures"):
        PM.run_chains(prob, prob.B[None], -np.ones(3), [1])


# --------------------------------------------------------------------------------------------
# exactness on tiny systems
# --------------------------------------------------------------------------------------------

def _chain_means(prob, beta, n_chains=8, n_sweeps=6000, n_burn=500, seed=0,
                 mover="metropolis", teacher_start=False):
    rng = np.random.default_rng(seed)
    J0 = np.stack([prob.B if teacher_start else _point._random_start(prob.prior, prob.N, rng)
                   for _ in range(n_chains)])
    tr = PM.run_chains(prob, J0, np.full(n_sweeps, beta), np.arange(n_chains) + 100 * seed,
                       n_burn=n_burn, mover=mover)
    assert tr.drift.max() < PM.DRIFT_TOLERANCE
    mR, mE = tr.R[:, n_burn:].mean(axis=1), tr.E[:, n_burn:].mean(axis=1)
    return (mR.mean(), mR.std(ddof=1) / math.sqrt(n_chains),
            mE.mean(), mE.std(ddof=1) / math.sqrt(n_chains))


@pytest.mark.parametrize("output,T", [("boolean", 1.0), ("linear", 2.0)])
def test_ising_sampler_exact_by_enumeration(output, T):
    N, P = 8, 6
    prob = PM.make_problem(N, P=P, prior="ising", output=output, rng=7)
    states = np.array(list(itertools.product([-1.0, 1.0], repeat=N)))
    E = np.array([prob.energy(s) for s in states])
    w = np.exp(-(E - E.min()) / T)
    w /= w.sum()
    R_exact, E_exact = float(w @ (states @ prob.B) / N), float(w @ E)
    R, Rse, Em, Ese = _chain_means(prob, 1.0 / T)
    assert abs(R - R_exact) < 4 * Rse + 1e-12
    assert abs(Em - E_exact) < 4 * Ese + 1e-12


@pytest.mark.parametrize("mover", PM.MOVERS)
@pytest.mark.parametrize("output,T", [("boolean", 0.5), ("linear", 1.0), ("boolean", 0.0)])
def test_spherical_sampler_against_reweighted_uniform_sampling(output, T, mover):
    """N = 4, every mover (detailed balance): <R>, <E> against i.i.d. uniform points on the
    sphere reweighted by exp(-E/T) (T = 0: restricted to the version space)."""
    if output == "linear" and mover.startswith("heatbath"):
        pytest.skip("the heat-bath pair move is for Boolean output")
    N, P = 4, 5
    prob = PM.make_problem(N, P=P, prior="spherical", output=output, rng=9)
    rng = np.random.default_rng(123)
    Js = rng.standard_normal((400_000, N))
    Js *= math.sqrt(N) / np.linalg.norm(Js, axis=1, keepdims=True)
    f = Js @ prob.Z
    E = 0.5 * np.sum((f - prob.y) ** 2, axis=1) if output == "linear" else \
        np.sum(f < 0, axis=1).astype(float)
    w = np.exp(-(E - E.min()) / T) if T > 0 else (E == 0).astype(float)
    R = Js @ prob.B / N
    # self-normalised importance sampling with its delta-method standard error
    W = w.sum()
    R_ref, E_ref = float(w @ R / W), float(w @ E / W)
    R_ref_se = math.sqrt(float(np.sum(w**2 * (R - R_ref) ** 2))) / W
    E_ref_se = math.sqrt(float(np.sum(w**2 * (E - E_ref) ** 2))) / W
    Rm, Rse, Em, Ese = _chain_means(prob, math.inf if T == 0 else 1.0 / T, mover=mover,
                                    teacher_start=T == 0)
    assert abs(Rm - R_ref) < 4 * math.hypot(Rse, R_ref_se)
    assert abs(Em - E_ref) < 4 * math.hypot(Ese, E_ref_se) + 1e-12


# --------------------------------------------------------------------------------------------
# statistics helpers
# --------------------------------------------------------------------------------------------

def _ar1(rho, n, rng):
    x = np.empty(n)
    x[0] = rng.standard_normal()
    e = rng.standard_normal(n) * math.sqrt(1 - rho * rho)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + e[t]
    return x


def test_tau_int_and_blocking_on_ar1():
    rho = 0.8
    tau = (1 + rho) / (2 * (1 - rho))  # 4.5 for AR(1)
    rng = np.random.default_rng(0)
    x = _ar1(rho, 200_000, rng)
    # Sokal: relative error of tau ~ sqrt(2 (2W + 1) / n) with W ~ 5 tau, plus window bias
    assert PM.tau_int(x) == pytest.approx(tau, rel=0.08)
    assert PM.blocking_stderr(x) == pytest.approx(math.sqrt(2 * tau / x.size), rel=0.15)
    assert PM.tau_int(np.ones(100)) == 0.5
    white = rng.standard_normal(50_000)
    assert PM.tau_int(white) == pytest.approx(0.5, abs=0.05)


def test_tau_int_pooled_on_ar1_chains():
    rho = 0.9
    tau = (1 + rho) / (2 * (1 - rho))  # 9.5
    rng = np.random.default_rng(1)
    X = np.stack([_ar1(rho, 20_000, rng) for _ in range(10)])
    # 10 chains of 2e4: relative error ~ sqrt(2 (2W + 1) / 2e5), W ~ 5 tau
    assert PM.tau_int_pooled(X) == pytest.approx(tau, rel=0.08)
    assert PM.tau_int_pooled(np.ones((3, 50))) == 0.5


def test_movers_reject_what_they_cannot_do():
    prob = PM.make_problem(8, P=6, prior="ising", output="boolean", rng=0)
    with pytest.raises(ValueError, match="spherical"):
        PM.run_chains(prob, prob.B[None], np.full(3, 1.0), [0], mover="meridian")
    lin = PM.make_problem(8, P=6, prior="spherical", output="linear", rng=0)
    with pytest.raises(ValueError, match="Boolean"):
        PM.run_chains(lin, lin.B[None], np.full(3, 1.0), [0], mover="heatbath")
    with pytest.raises(ValueError, match="mover"):
        PM.run_chains(lin, lin.B[None], np.full(3, 1.0), [0], mover="hmc")


def test_finite_size_fit():
    n = np.array([25.0, 50.0, 100.0, 200.0])
    fit = PM.extrapolate_finite_size(n, 0.3 + 2.0 / n, np.full(4, 0.01))
    assert fit.x_inf == pytest.approx(0.3, abs=1e-12) and fit.a == pytest.approx(2.0, abs=1e-9)
    assert fit.chi2 == pytest.approx(0.0, abs=1e-18) and fit.dof == 2
    # error propagation: two sizes, x_inf = (N2 x2 - N1 x1)/(N2 - N1)
    f2 = PM.extrapolate_finite_size([50, 100], [0.4, 0.35], [0.01, 0.01])
    assert f2.x_inf == pytest.approx(0.3, abs=1e-12)
    assert f2.x_inf_se == pytest.approx(math.hypot(2 * 0.01, 0.01), rel=1e-12)
    with pytest.raises(ValueError):
        PM.extrapolate_finite_size([50, 50], [0.1, 0.1], [0.01, 0.01])
    with pytest.raises(ValueError):
        PM.extrapolate_finite_size([50, 100], [0.1, 0.1], [0.0, 0.01])


# --------------------------------------------------------------------------------------------
# learning curves: Monte Carlo vs replica theory
# --------------------------------------------------------------------------------------------

SIZES = (32, 64, 128)


def _extrapolated(prior, load, T, n_samples=12, n_sweeps=2500, n_burn=800, seed=0):
    pts = [PM.simulate_point(N, load, T, prior=prior, n_samples=n_samples, n_sweeps=n_sweeps,
                             n_burn=n_burn, seed=seed + N) for N in SIZES]
    fit = PM.extrapolate_finite_size([p.N for p in pts], [p.eps_g for p in pts],
                                     [p.eps_g_se for p in pts])
    return pts, fit


@pytest.fixture(scope="module")
def spherical_runs():
    return {T: _extrapolated("spherical", 2.0, T) for T in (0.5, 1.0)}


@pytest.mark.parametrize("T", [0.5, 1.0])
def test_spherical_gibbs_matches_rs_curve(spherical_runs, T):
    pts, fit = spherical_runs[T]
    rs = S.gibbs_rs_point(2.0, T, "spherical")
    assert abs(fit.x_inf - rs.eps_g) < 3 * fit.x_inf_se, (fit.x_inf, fit.x_inf_se, rs.eps_g)
    big = pts[-1]
    # thermal averages of the training error and replica overlap at the largest N agree too
    # (finite-size bias ~ c/N added with c = 1, the size of |a| seen for eps_g)
    assert abs(big.eps_t - rs.eps_t) < 4 * big.eps_t_se + 1.0 / big.N
    assert abs(big.q - rs.q) < 4 * big.q_se + 1.0 / big.N
    # the held-out error estimates the same eps_g
    assert abs(big.eps_test - big.eps_g) < 4 * math.hypot(big.eps_test_se, big.eps_g_se)
    # teacher and random starts agree (4 se: six such checks, se from 12 data sets ~ t(11))
    for p in pts:
        assert abs(p.start_gap) < 4 * p.start_gap_se
        assert p.drift < PM.DRIFT_TOLERANCE
        assert 0.15 < p.acceptance < 0.5


def test_curve_comparison_has_power(spherical_runs):
    """The same data reject the theory at the other temperature by many error bars."""
    _, fit = spherical_runs[1.0]
    wrong = S.gibbs_rs_point(2.0, 0.5, "spherical").eps_g
    assert abs(fit.x_inf - wrong) > 8 * fit.x_inf_se


def test_ising_gibbs_matches_rs_below_transition():
    T, load = 1.0, 1.0
    tr = S.ising_transition(T)
    assert load < 0.5 * tr.load_c  # well away from the first-order transition
    pts, fit = _extrapolated("ising", load, T, n_samples=12, n_sweeps=600, n_burn=200)
    rs = S.gibbs_rs_point(load, T, "ising")
    assert rs.branch == "poor"
    assert abs(fit.x_inf - rs.eps_g) < 3 * fit.x_inf_se, (fit.x_inf, fit.x_inf_se, rs.eps_g)
    for p in pts:
        assert abs(p.start_gap) < 4 * p.start_gap_se


def test_point_extends_itself_until_equilibrated():
    kw = dict(n_samples=8, n_sweeps=120, n_burn=40, seed=5)
    short = PM.simulate_point(48, 2.0, 0.5, **kw)  # no budget beyond the first run
    assert not short.equilibrated and short.status == "not equilibrated"
    assert "max_sweeps >=" in short.advice and short.reason
    lines = []
    ext = PM.simulate_point(48, 2.0, 0.5, max_sweeps=50_000, progress=lines.append, **kw)
    assert ext.equilibrated and ext.status == "equilibrated" and ext.reason == ""
    assert ext.n_sweeps > 120 and ext.n_burn == round(ext.n_sweeps * 40 / 120)
    assert ext.window_taus >= 50 and ext.n_sweeps - ext.n_burn >= 50 * max(ext.tau_R, ext.tau_E)
    assert abs(ext.start_gap) <= 2 * ext.start_gap_se
    assert lines and all("ETA" in ln and "sweeps" in ln for ln in lines)


def test_extension_sweep_counts_match_sweeps_run(monkeypatch):
    # the reported sweep count must be the number of sweeps every chain ran
    ran = []
    real = PM.run_chains

    def counting(prob, J0, sched, *a, **k):
        ran.append(np.asarray(sched).shape[-1])
        return real(prob, J0, sched, *a, **k)

    monkeypatch.setattr(_point, "run_chains", counting)  # looked up by simulate_point
    p = PM.simulate_point(20, 1.2, 0.5, n_samples=2, n_sweeps=30, n_burn=10, seed=0,
                          max_sweeps=400, parallel=False)
    assert sum(ran) == 2 * p.n_sweeps and ran[:2] == [30, 30]
    assert p.n_sweeps <= 400


@pytest.mark.parametrize("mover", PM.MOVERS)
def test_zero_t_repair_then_every_mover_keeps_fields_consistent(mover):
    """T = 0 random start: annealing, the repair into the version space (which moves J), then
    each mover; the incremental fields stay within the drift tolerance (the meridian move
    needs R of the repaired J)."""
    p = PM.simulate_point(50, 2.0, 0.0, n_samples=3, n_sweeps=400, n_burn=200, seed=1,
                          mover=mover)
    assert p.drift < PM.DRIFT_TOLERANCE and p.eps_t == 0.0


def test_target_se_adds_data_sets():
    p = PM.simulate_point(24, 1.0, 1.0, n_samples=4, n_sweeps=400, n_burn=100, seed=3,
                          max_sweeps=20_000, target_se=0.0012, max_samples=64)
    assert p.n_samples > 4 and len(p.per_sample["eps_g"]) == p.n_samples
    assert p.eps_g_se <= 0.0012 or p.n_samples == 64


def test_simulate_point_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        PM.simulate_point(50, 0.0, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        PM.simulate_point(50, -1.0, 1.0)
    with pytest.raises(ValueError, match="temperature"):
        PM.simulate_point(50, 1.0, -0.5)
    with pytest.raises(ValueError, match="N"):
        PM.simulate_point(1, 1.0, 1.0)
    with pytest.raises(TypeError, match="integer"):
        PM.simulate_point(50.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="P = round"):
        PM.simulate_point(10, 0.01, 1.0)
    with pytest.raises(ValueError, match="linear"):
        PM.simulate_point(10, 1.0, 0.0, output="linear")
    with pytest.raises(ValueError, match="n_burn"):
        PM.simulate_point(10, 1.0, 1.0, n_sweeps=10, n_burn=10)


@pytest.mark.slow
def test_spherical_zero_t_version_space_larger_sizes():
    """T = 0 Gibbs learning at N up to 400 against the exact RS curve."""
    pts = [PM.simulate_point(N, 2.0, 0.0, n_samples=20, n_sweeps=6000, n_burn=2000, seed=N)
           for N in (50, 100, 200, 400)]
    fit = PM.extrapolate_finite_size([p.N for p in pts], [p.eps_g for p in pts],
                                     [p.eps_g_se for p in pts])
    rs = S.gibbs_rs_point(2.0, 0.0)
    assert abs(fit.x_inf - rs.eps_g) < 3 * fit.x_inf_se
    for p in pts:
        assert p.eps_t == 0.0
        assert abs(p.q - p.R) < 4 * math.hypot(p.q_se, p.R_se) + 1.0 / p.N  # q = R at T = 0
