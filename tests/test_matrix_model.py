"""Tests for ``simulations.matrix_model`` (docs/simulations.md, "Matrix teacher-student model").

The Stiefel-manifold Monte Carlo is checked against the exact finite-N rank-one integral of
``setol_theory.rmt`` (HCIZ) (its theta-derivative, and the integral itself by thermodynamic
integration) within 4 standard errors; the matrix teacher-student quality against the
large-N HCIZ prediction as N grows (error ~ 1/N, fitted slope); the predictions against
independent routes (derivative of the asymptotic log-integral, closed forms of R).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from setol_theory import rmt as H
from simulations import matrix_model as MM

LAW = MM.make_law("mp", q=0.5)
N_EXACT = 32


def _exact_x(D, theta, h=1e-4):
    """d/dtheta (1/N) log E exp(N theta u^T D u), exact (real case) by central difference."""
    N = D.size
    lp = H.log_spherical_integral_exact(D, N * (theta + h), 1)
    lm = H.log_spherical_integral_exact(D, N * (theta - h), 1)
    return (lp - lm) / (2 * h * N)


@pytest.mark.parametrize("theta", [0.2, 0.8])  # below and above theta_c = 0.414
def test_rank_one_mc_matches_exact_finite_n(theta):
    D = MM.quantile_spectrum(LAW, N_EXACT)
    fs = MM.sample_frame(D, [theta], n_chains=16, n_sweeps=8000, seed=3)
    assert abs(fs.x[0] - _exact_x(D, theta)) < 4 * fs.x_se[0]
    assert fs.drift < 1e-10
    assert abs(fs.start_gap[0]) < 4 * fs.start_gap_se[0]


def test_sample_frame_verdict_fixed_length_and_self_extension():
    """A 20-sweep run cannot cover 50 tau (its window has 15 sweeps, tau >= 0.5): the verdict
    says so and what to change; with a budget the same chains extend themselves until both
    criteria hold, and the extended run still samples the exact finite-N law (4 se)."""
    D = MM.quantile_spectrum(LAW, N_EXACT)
    theta = 0.3
    short = MM.sample_frame(D, [theta], n_chains=8, n_sweeps=20, seed=5)
    assert not short.equilibrated and short.status == "not equilibrated"
    assert short.n_sweeps == 20 and short.window_taus < 50
    assert "tau_int < 50" in short.reason and "--max-sweeps >=" in short.advice
    need = int(short.advice.rsplit(">=", 1)[1].split()[0].rstrip(";"))
    assert need >= math.ceil(50 * short.tau.max() / 0.75)
    lines: list[str] = []
    ext = MM.sample_frame(D, [theta], n_chains=8, n_sweeps=20, seed=5, max_sweeps=50_000,
                          progress=lines.append)
    assert ext.equilibrated and ext.status == "equilibrated" and ext.reason == ""
    assert 20 < ext.n_sweeps <= 50_000 and lines and "extending to" in lines[0]
    assert (ext.n_sweeps - ext.n_burn) >= 50 * ext.tau.max() and ext.window_taus >= 50
    assert abs(ext.start_gap[0]) <= 3 * ext.start_gap_se[0]
    assert abs(ext.x[0] - _exact_x(D, theta)) < 4 * ext.x_se[0]
    assert ext.drift < 1e-10
    with pytest.raises(ValueError, match="max_sweeps"):
        MM.sample_frame(D, [theta], n_sweeps=100, max_sweeps=50)


def test_matrix_quality_carries_the_verdict():
    r = MM.matrix_quality(16, [1.0, 0.5], LAW, 0.1, n_chains=2, n_sweeps=20)
    d = r.to_dict()
    assert d["status"] == "not equilibrated" and d["n_sweeps"] == 20 and d["max_sweeps"] == 20
    assert "tau_int" in d["reason"] and "--max-sweeps" in d["advice"]
    assert math.isfinite(d["tau"])


def test_thermodynamic_integration_matches_exact_log_integral():
    D = MM.quantile_spectrum(LAW, N_EXACT)
    nb = 0.3
    g, se = MM.thermodynamic_integration(D, [1.0], nb, n_nodes=6, n_chains=8, n_sweeps=4000,
                                         seed=1)
    exact = H.log_spherical_integral_exact(D, N_EXACT * nb, 1) / N_EXACT
    # 6-node Gauss-Legendre on a smooth integrand: quadrature error far below the MC error
    assert abs(g - exact) < 4 * se


def test_rank_one_prediction_phases():
    tc = MM.critical_theta(LAW)
    q = 0.5
    assert tc == pytest.approx(0.5 / (math.sqrt(q) * (1 + math.sqrt(q))), rel=1e-12)
    th = np.array([0.1, 0.3])
    assert np.allclose(MM.rank_one_prediction(th, LAW), 1.0 / (1.0 - q * 2 * th), rtol=1e-12)
    # F is C^1 at the critical coupling: the derivative is continuous
    lo = MM.rank_one_prediction([tc * (1 - 1e-9)], LAW)[0]
    hi = MM.rank_one_prediction([tc * (1 + 1e-9)], LAW)[0]
    assert lo == pytest.approx(hi, rel=1e-6)
    # derivative of the library's asymptotic log-integral (independent route)
    for t in (0.2, 0.7):
        h = 1e-6
        d = (H.spherical_integral_asymptotic(t + h, LAW, 1)
             - H.spherical_integral_asymptotic(t - h, LAW, 1)) / (2 * h)
        assert MM.rank_one_prediction([t], LAW)[0] == pytest.approx(d, rel=1e-6)


def test_matrix_quality_predictions():
    lam = np.array([4.0, 2.0, 1.0, 0.5, 0.25])
    nb = 0.05
    r = MM.matrix_quality(16, lam, LAW, nb, n_chains=2, n_sweeps=50)
    h = 1e-6
    dg = (H.hciz_lowrank_asymptotic(2 * (nb + h) * lam, LAW, 1)
          - H.hciz_lowrank_asymptotic(2 * (nb - h) * lam, LAW, 1)) / (2 * h)
    assert r.Q2_standard == pytest.approx(dg, rel=1e-6)  # Q^2 = dGamma/d(n beta)
    assert math.isnan(r.Q2_paper) and "pole" in r.notes[0]  # MP R has a pole at 1/q = 2
    w = MM.make_law("wigner")
    rw = MM.matrix_quality(16, lam, w, nb, n_chains=2, n_sweeps=50)
    # semicircle R(z) = z: G(lambda) = (lambda^2 - lambda_min^2)/2, independent of n beta
    assert rw.Q2_paper == pytest.approx(float(np.sum((lam**2 - 0.25**2) / 2)), rel=1e-12)
    assert rw.gamma_paper == pytest.approx(nb * rw.Q2_paper, rel=1e-12)
    assert rw.Q2_standard == pytest.approx(2 * nb * float(lam @ lam), rel=1e-12)


def test_matrix_quality_converges_like_one_over_n():
    """Q^2_N -> Q^2_inf with |error| ~ N^-1 (sub-critical, quantile spectra)."""
    lam = np.array([4.0, 2.0, 1.0, 0.5, 0.25])  # sum of logs = 0: TraceLog holds
    conv = MM.matrix_convergence([32, 64, 128], lam, LAW, 0.08, n_chains=8, n_sweeps=12000,
                                 seed=7)
    assert all(p == "sub-critical" for p in conv.results[0].phases)
    assert np.all(conv.resolved)
    assert np.all(np.abs(np.diff(np.abs(conv.errors))) > 0) and \
        np.all(np.diff(np.abs(conv.errors)) < 0)
    assert -1.35 < conv.slope < -0.65, conv.table()
    assert "N^" in conv.table()


def test_bad_input():
    D = MM.quantile_spectrum(LAW, 8)
    with pytest.raises(ValueError, match="rank"):
        MM.sample_frame(D, np.ones(9) * 0.1)
    with pytest.raises(ValueError, match="> 0"):
        MM.matrix_quality(8, [1.0, -1.0], LAW, 0.1)
    with pytest.raises(ValueError, match="n_beta"):
        MM.matrix_quality(8, [1.0], LAW, 0.0)
    with pytest.raises(ValueError):
        MM.quantile_spectrum(LAW, 1)
    with pytest.raises(TypeError):
        MM.matrix_quality(8.5, [1.0], LAW, 0.1)
    with pytest.raises(ValueError, match="law"):
        MM.make_law("cauchy")
