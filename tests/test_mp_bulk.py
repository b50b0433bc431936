"""The Marchenko-Pastur bulk fit on planted truths: exact spike counts and sigma2 within its
standard error on Gaussian layers with spikes above the BBP point, and no count ("not MP-like")
on heavy-tailed layers (fit/_mp_bulk.py; docs/htsr.md, "Marchenko-Pastur bulk")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from setol_theory.fit import fit_mp_bulk
from setol_theory.fit._mp_bulk import MIN_MP_EVALS, _mp_unit_cdf_table, _mp_unit_median
from setol_theory.htsr import esd_metrics
from setol_theory.rmt import MarchenkoPastur


def _eig(W):
    N = max(W.shape)
    return np.linalg.eigvalsh((W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T) / N)


def _spiked(N, M, k, seed, sigma2=1.0):
    """Gaussian N x M noise of variance sigma2 plus k rank-one terms of strength theta_j^2 =
    (3 + 1.5 j) sqrt(q) sigma2^2 on the X = W^T W / N scale, i.e. 3 to 3 + 1.5 (k-1) times the
    BBP threshold theta^2 = sqrt(q) (Baik, Ben Arous & Peche 2005): each gives one eigenvalue
    (1 + theta^2)(1 + q/theta^2) sigma2 outside the bulk."""
    rng = np.random.default_rng(seed)
    W = rng.normal(scale=math.sqrt(sigma2), size=(N, M))
    q = M / N
    for j in range(k):
        u = rng.normal(size=N)
        v = rng.normal(size=M)
        theta = math.sqrt((3.0 + 1.5 * j) * math.sqrt(q) * sigma2)
        W += theta * math.sqrt(N) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    return W


@pytest.mark.parametrize("q", [1.0, 0.5, 0.25, 0.01])
def test_unit_mp_table_matches_the_quadrature_cdf(q):
    """The tabulated CDF (midpoint rule in the angle variable) against MarchenkoPastur.cdf
    (64-point Gauss-Legendre, exact to rounding): within 2e-5 (the rule's O(h^2) error)."""
    lam, F = _mp_unit_cdf_table(q)
    mp = MarchenkoPastur(q, 1.0)
    x = np.linspace(lam[0], lam[-1], 2001)
    assert np.max(np.abs(np.interp(x, lam, F) - mp.cdf(x))) < 2e-5
    assert _mp_unit_median(q) == pytest.approx(mp.median(), abs=2e-5)


@pytest.mark.parametrize("N,M,k,sigma2", [(1536, 384, 3, 1.0), (784, 300, 1, 0.02),
                                          (1200, 600, 4, 1.0), (600, 600, 2, 3.0),
                                          (3000, 200, 2, 1.0)])
def test_planted_spikes_exact_count_and_sigma2_within_its_standard_error(N, M, k, sigma2):
    """Exactly k spikes and MP-like status for two seeds each; sigma2 within 3 standard errors,
    the standard error measured by Monte Carlo on 12 pure-noise layers of the same shape (an
    independent route: the sd of the estimator itself)."""
    null = [fit_mp_bulk(_eig(_spiked(N, M, 0, 100 + s, sigma2)), N, M).sigma2
            for s in range(12)]
    se = float(np.std(null, ddof=1))
    assert se < 0.05 * sigma2  # the estimator is informative
    for seed in (1, 2):
        f = fit_mp_bulk(_eig(_spiked(N, M, k, seed, sigma2)), N, M)
        assert f.status == "ok", f.reason
        assert f.num_spikes == k
        assert abs(f.sigma2 - sigma2) <= 3.0 * se, (f.sigma2, se)


@pytest.mark.parametrize("N,M", [(1536, 384), (784, 300), (600, 600)])
def test_gaussian_layer_is_mp_like_without_spikes(N, M):
    for seed in range(3):
        f = fit_mp_bulk(_eig(_spiked(N, M, 0, seed)), N, M)
        assert f.status == "ok" and f.num_spikes == 0
        assert f.ks_scaled < 1.0


@pytest.mark.parametrize("kind,N,M", [("t2.5", 1536, 384), ("t2.5", 784, 300),
                                      ("t3", 1536, 384), ("pareto1.5", 300, 100),
                                      ("pareto1.5", 1000, 500), ("pareto3", 784, 300)])
def test_heavy_tailed_layers_are_not_mp_like(kind, N, M):
    """Student-t (infinite fourth moment) and Pareto-entry layers: their outliers continue the
    bulk (or there is no MP bulk at all), so no spike count is given."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        if kind.startswith("t"):
            W = rng.standard_t(float(kind[1:]), size=(N, M))
        else:
            W = rng.pareto(float(kind[6:]), size=(N, M)) * rng.choice([-1.0, 1.0], (N, M))
        x = _eig(W)
        f = fit_mp_bulk(x, N, M)
        assert f.status == "not-mp-like", (kind, seed, f.ks_scaled, f.n_edge)
        assert "heavy-tailed" in f.reason
        m = esd_metrics(x, N, M)
        assert m.mp_status == "not-mp-like" and math.isnan(m.num_spikes)
        assert math.isnan(m.mp_softrank) and m.mp_reason == f.reason


@pytest.mark.parametrize("N,M", [(100, 10), (60, 20)])
def test_small_layers_are_not_graded_mp(N, M):
    x = _eig(np.random.default_rng(0).normal(size=(N, M)))
    f = fit_mp_bulk(x, N, M)
    assert f.status == "too-small" and str(MIN_MP_EVALS) in f.reason
    assert math.isnan(esd_metrics(x, N, M).num_spikes)


def test_median_method_is_the_alternative_and_both_agree_on_a_clean_bulk():
    N, M = 1536, 384
    x = _eig(_spiked(N, M, 2, 5))
    a, b = fit_mp_bulk(x, N, M, method="ks"), fit_mp_bulk(x, N, M, method="median")
    assert a.method == "ks" and b.method == "median"
    assert a.num_spikes == b.num_spikes == 2
    assert a.sigma2 == pytest.approx(b.sigma2, rel=0.02)
    with pytest.raises(ValueError, match="method"):
        fit_mp_bulk(x, N, M, method="kde")
