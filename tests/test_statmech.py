"""Tests for ``setol_theory.statmech`` (docs/simulations.md, "Analytic curves").

Every curve is checked by an independent route: the saddle-point equations re-evaluated here
with ``scipy.integrate.quad`` (not the module's quadrature), closed forms against numerical
maximisation, limits (``T -> 0``, ``beta -> 0`` at fixed ``alpha beta``) against the
corresponding special-case solvers, the training error against a numerical ``beta``-derivative
of the free energy, and published constants (EVdB; Gyorgyi 1990) with their quoted precision.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize
from scipy.special import log_ndtr, ndtr

from setol_theory import statmech as S
from setol_theory.statmech import _rs as S_rs


def dt(f, lo=-14.0, hi=14.0, points=(0.0,)):
    """``int Dt f(t)`` by adaptive quadrature (independent of the module's panels)."""
    g = lambda t: math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi) * f(t)  # noqa: E731
    return integrate.quad(g, lo, hi, points=list(points), limit=400, epsabs=1e-14,
                          epsrel=1e-12)[0]


# --------------------------------------------------------------------------------------------
# errors and entropies
# --------------------------------------------------------------------------------------------

def test_generalization_error_values():
    assert S.generalization_error(1.0) == 0.0
    assert S.generalization_error(0.0) == pytest.approx(0.5, abs=1e-15)
    assert S.generalization_error(-1.0) == pytest.approx(1.0, abs=1e-15)
    assert S.generalization_error(0.5) == pytest.approx(1.0 / 3.0, abs=1e-15)
    assert S.generalization_error(0.25, "linear") == 0.75
    assert S.accuracy(0.5) == pytest.approx(2.0 / 3.0, abs=1e-15)


def test_generalization_error_accurate_near_one():
    # arccos(1 - m)/pi = sqrt(2m)/pi (1 + m/12 + ...): the arcsin form keeps full precision
    for m in (1e-15, 1e-12, 1e-8):
        m = 1.0 - (1.0 - m)  # the representable distance to 1
        assert S.generalization_error(1.0 - m) == pytest.approx(
            math.sqrt(2 * m) / math.pi * (1 + m / 12), rel=1e-12)


@given(st.floats(0.0, 0.5))
@settings(max_examples=50, deadline=None)
def test_overlap_error_roundtrip(eps):
    # R = cos(pi eps) carries an absolute rounding error ~1e-16, i.e. ~1e-16/(pi^2 eps) in eps
    tol = 1e-15 + 2e-16 / (math.pi * max(math.sin(math.pi * eps), 1e-300))
    assert S.generalization_error(S.overlap_from_error(eps)) == pytest.approx(eps, abs=tol)
    assert S.generalization_error(S.overlap_from_error(eps, "linear"), "linear") == \
        pytest.approx(eps, abs=1e-15)


def test_entropies():
    assert S.entropy_ising(0.0) == pytest.approx(math.log(2), abs=1e-15)
    assert S.entropy_ising(1.0) == 0.0
    assert S.entropy_spherical(0.6) == pytest.approx(0.5 * math.log(0.64), abs=1e-15)
    r = np.linspace(-0.9, 0.9, 7)
    assert np.allclose(S.entropy_ising(r), S.entropy_ising(-r), atol=1e-15)


def test_bad_input():
    with pytest.raises(ValueError):
        S.generalization_error(1.5)
    with pytest.raises(ValueError):
        S.annealed_point(0.0, 1.0)
    with pytest.raises(ValueError):
        S.annealed_point(1.0, -0.1)
    with pytest.raises(ValueError):
        S.gibbs_rs_point(-1.0, 0.5)
    with pytest.raises(ValueError):
        S.gibbs_rs_point(1.0, 0.5, prior="potts")
    with pytest.raises(ValueError):
        S.annealed_point(1.0, 0.0, output="linear")
    with pytest.raises(TypeError):
        S.gibbs_rs_point("1", 0.5)


# --------------------------------------------------------------------------------------------
# annealed approximation (SST92 sec. II.D)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("load", [0.5, 2.0, 10.0, 100.0])
def test_annealed_version_space_cot_rule(load):
    """T = 0 spherical Boolean AA: maximiser satisfies cot(pi eps) = load/(pi (1 - eps))."""
    p = S.annealed_point(load, 0.0)
    e = p.eps_g
    assert math.cos(math.pi * e) / math.sin(math.pi * e) == pytest.approx(
        load / (math.pi * (1 - e)), rel=1e-8)
    assert e == pytest.approx(S.version_space_annealed_eps(load), rel=1e-9)


def test_annealed_asymptote_and_bias():
    """AA: eps ~ 1/alpha (EVdB sec. 2.3), above the exact RS ~0.625/alpha."""
    a = 1000.0
    assert a * S.version_space_annealed_eps(a) == pytest.approx(1.0, abs=0.01)
    assert S.version_space_annealed_eps(10.0) > S.gibbs_rs_point(10.0, 0.0).eps_g


@pytest.mark.parametrize("load,T", [(1.0, 0.5), (5.0, 2.0), (20.0, 0.1)])
def test_annealed_linear_stationarity(load, T):
    beta = 1 / T
    R = S.annealed_point(load, T, "spherical", "linear").R
    assert R / (1 - R * R) == pytest.approx(load * beta / (1 + 2 * beta * (1 - R)), rel=1e-9)


@pytest.mark.parametrize("output", ["boolean", "linear"])
def test_annealed_training_error_is_beta_derivative(output):
    load, T, h = 3.0, 0.7, 1e-5
    p = S.annealed_point(load, T, "spherical", output)
    beta = 1 / T
    d = (S.annealed_potential(p.R, 1 / (beta + h), output)
         - S.annealed_potential(p.R, 1 / (beta - h), output)) / (2 * h)
    assert p.eps_t == pytest.approx(d, rel=1e-7)


def test_annealed_ising_has_two_maxima_near_jump():
    p = S.annealed_point(1.2, 0.0, "ising")
    assert len(p.local_maxima) == 2 and p.local_maxima[-1] == 1.0


@pytest.mark.parametrize("prior,output", [("spherical", "boolean"), ("spherical", "linear"),
                                          ("ising", "linear")])
def test_annealed_tends_to_high_temperature(prior, output):
    """beta -> 0 at fixed load beta: AA -> high-T limit with an O(beta) correction."""
    at = 2.0
    target = S.high_temperature_point(at, prior, output).eps_g
    d = [abs(S.annealed_point(at / b, 1 / b, prior, output).eps_g - target)
         for b in (0.04, 0.01)]
    assert d[1] < 0.35 * d[0]  # ~ 1/4 for a linear correction
    assert d[1] < 0.01


# --------------------------------------------------------------------------------------------
# high temperature (SST92 sec. III)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prior,output", [("spherical", "boolean"), ("spherical", "linear"),
                                          ("ising", "linear")])
@pytest.mark.parametrize("at", [0.3, 1.0, 4.0])
def test_high_t_closed_forms_maximise(prior, output, at):
    p = S.high_temperature_point(at, prior, output)
    ent = S.entropy_spherical if prior == "spherical" else S.entropy_ising

    def neg(r):
        return -(ent(r) - at * S.generalization_error(r, output))

    res = optimize.minimize_scalar(neg, bounds=(0.0, 1.0 - 1e-12), method="bounded",
                                   options={"xatol": 1e-12})
    assert p.R == pytest.approx(res.x, abs=1e-6)
    assert p.eps_t == p.eps_g


def test_st_quality_is_linear_overlap():
    at = np.array([0.1, 1.0, 10.0])
    assert np.allclose(S.st_quality_high_t(at),
                       [S.high_temperature_point(a, "spherical", "linear").R for a in at],
                       atol=1e-15)
    assert np.allclose(1 - S.st_quality_high_t(at) - 1 / (2 * at) * 0, 1 - S.st_quality_high_t(
        at))
    assert S.st_quality_high_t(1e4) == pytest.approx(1 - 1 / (2e4), rel=1e-8)


def test_high_t_ising_transition_consistent_with_landscape():
    tr = S.ising_high_t_transition()
    assert tr.load_c < tr.load_spinodal
    assert S.high_temperature_point(tr.load_c * 0.99, "ising").R < 1.0
    assert S.high_temperature_point(tr.load_c * 1.01, "ising").R == 1.0


# --------------------------------------------------------------------------------------------
# replica symmetry, T = 0 (EVdB ch. 2, 7; Gyorgyi 1990)
# --------------------------------------------------------------------------------------------

def _I(R):
    s = math.sqrt(R)
    return dt(lambda t: math.exp(-0.5 * R * t * t - float(log_ndtr(s * t))))


@pytest.mark.parametrize("load", [0.3, 1.0, 4.0, 20.0])
def test_rs_spherical_zero_t_equation(load):
    """R / sqrt(1 - R) = (alpha/pi) int Dt exp(-R t^2/2) / H(-sqrt(R) t) (EVdB eq. 2.42)."""
    R = S.gibbs_rs_point(load, 0.0).R
    assert R / math.sqrt(1 - R) == pytest.approx(load / math.pi * _I(R), rel=1e-8)


def test_rs_spherical_asymptote():
    """eps_g ~ 0.625 / alpha for Gibbs learning (EVdB sec. 2.3; 0.624 in SST92)."""
    assert S.gibbs_asymptote_constant(1e3) == pytest.approx(0.625, abs=0.002)


def test_rs_spherical_gardner_entropy_decreases():
    s = [S.gibbs_rs_point(a, 0.0).free_energy for a in (0.5, 1.0, 2.0, 4.0)]
    assert s[0] < 0 and np.all(np.diff(s) < 0)


@pytest.mark.parametrize("load", [0.5, 1.0])
def test_rs_ising_zero_t_equations(load):
    """R = int Dz tanh(sqrt(R^) z + R^), R^ = alpha I(R) / (pi sqrt(1 - R))  (Gyorgyi 1990)."""
    p = S.gibbs_rs_point(load, 0.0, "ising", "poor")
    rh = load * _I(p.R) / (math.pi * math.sqrt(1 - p.R))
    assert p.R_hat == pytest.approx(rh, rel=1e-8)
    zc = -rh / math.sqrt(rh)
    assert dt(lambda z: math.tanh(math.sqrt(rh) * z + rh), points=(zc,)) == pytest.approx(
        p.R, rel=1e-8)


def test_ising_zero_t_transition():
    """First-order transition at alpha_c = 1.245 (Gyorgyi 1990; Sompolinsky, Tishby & Seung
    1990: 1.24; EVdB sec. 7.2), poor branch metastable up to its spinodal."""
    tr = S.ising_transition(0.0)
    assert tr.load_c == pytest.approx(1.245, abs=0.001)
    assert tr.load_c < tr.load_spinodal < 1.6
    assert S.gibbs_rs_point(tr.load_c * 0.98, 0.0, "ising").branch == "poor"
    assert S.gibbs_rs_point(tr.load_c * 1.02, 0.0, "ising").branch == "perfect"
    with pytest.raises(ValueError):
        S.gibbs_rs_point(tr.load_spinodal * 1.02, 0.0, "ising", "poor")


def test_ising_landscape_maximum_is_the_saddle_point():
    load = 1.0
    p = S.gibbs_rs_point(load, 0.0, "ising", "poor")
    s = S.rs_entropy_landscape([p.R - 0.02, p.R, p.R + 0.02, 1.0], load)
    assert s[1] == pytest.approx(p.free_energy, abs=1e-9)
    assert s[1] > s[0] and s[1] > s[2] and s[3] == 0.0


def test_ising_zero_t_curve_branches():
    cur = S.gibbs_learning_curve([0.5, 1.0, 1.35, 1.6], 0.0, "ising")
    assert cur.branch == ("poor", "poor", "perfect", "perfect")
    assert np.isfinite(cur.eps_g_other[2])  # metastable poor state below the spinodal
    assert np.isnan(cur.eps_g_other[3])
    assert cur.eps_g[2] == 0.0


# --------------------------------------------------------------------------------------------
# replica symmetry, finite T
# --------------------------------------------------------------------------------------------

def _GE(q, R, beta):
    a, b = R / math.sqrt(q - R * R), math.sqrt(q / (1 - q))

    def L(x):
        return float(np.logaddexp(-beta, math.log(-math.expm1(-beta)) + log_ndtr(x)))

    return 2 * dt(lambda t: float(ndtr(a * t)) * L(b * t))


@pytest.mark.parametrize("q,R,beta", [(0.3, 0.4, 1.0), (0.5, 0.6, 2.0), (0.39, 0.42, 0.05),
                                      (0.999, 0.9994, 3.0)])
def test_energetic_conjugates_are_derivatives(q, R, beta):
    """R^ = alpha dG_E/dR, q^ = -2 alpha dG_E/dq (finite differences of an independent G_E)."""
    m = 1 - R
    stt = S_rs._State(m, (1 - q) / (m * (2 - m)))
    ge, rh, qh = S_rs._energetic(stt, beta)
    h = 1e-5 * min(1 - q, q - R * R)
    assert ge == pytest.approx(_GE(q, R, beta), rel=1e-9)
    assert rh == pytest.approx((_GE(q, R + h, beta) - _GE(q, R - h, beta)) / (2 * h), rel=1e-5)
    assert qh == pytest.approx(-2 * (_GE(q + h, R, beta) - _GE(q - h, R, beta)) / (2 * h),
                               rel=1e-5)


def test_finite_t_tends_to_zero_t():
    for prior, load in (("spherical", 2.0), ("ising", 1.0)):
        p = S.gibbs_rs_point(load, 0.05, prior, "poor" if prior == "ising" else "equilibrium")
        p0 = S.gibbs_rs_point(load, 0.0, prior, "poor" if prior == "ising" else "equilibrium")
        assert p.R == pytest.approx(p0.R, abs=1e-6)
        assert p.q == pytest.approx(p.R, abs=1e-6)  # Nishimori line q = R at T = 0


@pytest.mark.parametrize("prior", ["spherical", "ising"])
def test_finite_t_tends_to_high_t(prior):
    at = 1.0
    target = S.high_temperature_point(at, prior).eps_g
    d = [abs(S.gibbs_rs_point(at / b, 1 / b, prior, "poor" if prior == "ising" else
                              "equilibrium").eps_g - target) for b in (0.1, 0.025)]
    assert d[1] < 0.4 * d[0] and d[1] < 2e-3


@pytest.mark.parametrize("prior,load,T", [("spherical", 2.0, 0.5), ("ising", 1.0, 1.0)])
def test_training_error_is_free_energy_derivative(prior, load, T):
    """eps_t = -(1/alpha) d(-beta f)/d beta (numerical derivative through re-solved saddles)."""
    br = "poor" if prior == "ising" else "equilibrium"
    p = S.gibbs_rs_point(load, T, prior, br)
    beta, h = 1 / T, 1e-4
    fp = S.gibbs_rs_point(load, 1 / (beta + h), prior, br, guess=(p.R, p.q)).free_energy
    fm = S.gibbs_rs_point(load, 1 / (beta - h), prior, br, guess=(p.R, p.q)).free_energy
    assert p.eps_t == pytest.approx(-(fp - fm) / (2 * h) / load, rel=1e-5)


def test_spherical_curve_continuation_matches_points():
    loads = np.array([0.5, 1.0, 2.0, 5.0])
    cur = S.gibbs_learning_curve(loads, 0.5, "spherical")
    for a, e in zip(loads, cur.eps_g, strict=True):
        assert e == pytest.approx(S.gibbs_rs_point(float(a), 0.5).eps_g, abs=1e-9)
    assert np.all(np.diff(cur.eps_g) < 0)
    assert np.all(cur.eps_t < cur.eps_g)
    assert "RS" in cur.table() or "rs" in cur.table()


def test_ising_finite_t_transition_moves_up_with_t():
    tr0 = S.ising_transition(0.0)
    tr1 = S.ising_transition(1.0)
    assert tr1.load_c > tr0.load_c and tr1.load_spinodal > tr1.load_c
    # continuation at T -> 0 reproduces the T = 0 solver
    assert S.ising_transition(0.05).load_c == pytest.approx(tr0.load_c, abs=1e-4)


@pytest.mark.slow
def test_ising_finite_t_transition_tends_to_high_t():
    hi = S.ising_high_t_transition()
    d = [abs(S.ising_transition(T).load_c / T - hi.load_c) for T in (10.0, 40.0)]
    assert d[1] < 0.4 * d[0]


# --- regression: tiny T (beta > 710) and tiny load at T = 0 -----------------------------------

def test_x_star_no_overflow_at_large_beta():
    # H(-x*) = 1/(e^beta - 1); beyond beta ~ 710 e^beta overflows a float
    for beta in (5.0, 50.0, 800.0, 1e4):
        xs = S_rs._x_star(beta)
        assert math.isfinite(xs)
        assert math.isclose(log_ndtr(xs), -beta - math.log(-math.expm1(-beta)), rel_tol=1e-9)


@pytest.mark.parametrize("prior", ["spherical", "ising"])
def test_tiny_temperature_approaches_zero_t(prior):
    # the T > 0 equations differ from T = 0 only by terms O(e^{-beta}) (beta >= 1000 here),
    # so up to solver precision (residuals < 1e-8) the curves must agree; tolerance 1e-6
    if prior == "spherical":
        loads = np.array([0.5, 1.0])
        ref = S.gibbs_learning_curve(loads, 0.0, prior).eps_g
        for T in (1e-3, 1e-4):
            got = S.gibbs_learning_curve(loads, T, prior).eps_g
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(got, ref, atol=1e-6)
    else:
        ref = S.gibbs_rs_point(1.0, 0.0, prior, branch="poor")
        for T in (1e-3, 1e-4):
            got = S.gibbs_rs_point(1.0, T, prior, branch="poor", guess=(ref.R, ref.q))
            assert math.isfinite(got.eps_g)
            assert abs(got.eps_g - ref.eps_g) < 1e-6


@pytest.mark.parametrize("prior", ["spherical", "ising"])
def test_zero_t_small_load(prior):
    # small-load limit: R ~ R^ ~ 2 load / pi (I(0) = 2), eps_g = 1/2 - R/pi + ...
    loads = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4]
    eps = []
    for a in loads:
        p = S.gibbs_rs_point(a, 0.0, prior)
        assert p.branch != "perfect"
        assert p.converged
        assert math.isclose(p.R, 2.0 * a / math.pi, rel_tol=1e-4)
        eps.append(p.eps_g)
    assert np.all(np.diff(eps) < 0.0)
    assert 0.5 - eps[0] < 1e-8
