"""Tests of setol_theory.fit: CSN power-law tail fits and the truncated power law.

Oracles used:

* an independent brute-force implementation (``_bruteforce_fit`` below: a Python loop over
  candidates, ``np.unique`` empirical CDF, ``(x/xmin)**(1-alpha)`` model CDF) -- agreement is
  to rounding (1e-12), since both compute the same quantities in a different order;
* the reference package ``powerlaw`` 2.0.0 called with ``parameter_ranges={'alpha': [1, 20]}``
  (its default ``[0, 3]`` clamps) and ``min_tail=2`` on our side (it has no minimum tail; its
  candidates already leave at least 3 points). Its closed-form alpha and our reverse-cumsum
  alpha differ only by summation order (~1e-15), and where it runs Nelder-Mead (alpha
  outside (1.5, 3]) the search starts at the closed-form optimum and returns it unchanged, so
  xmin must be identical, alpha within 1e-9 relative and D, sigma within 1e-12;
* closed forms and numerical quadrature (scipy.integrate.quad) for the likelihoods and
  normalisations;
* statistical recovery on synthetic samples with fixed seeds; tolerances are 3-4 asymptotic
  standard errors (a 3-sigma test would fail for ~0.3% of seeds, 4-sigma for ~0.006%).

The reference is slow (~1-2 s at n = 1e4 and at n = 1e3 when alpha > 3): the default run
keeps it to a few seconds; the n = 1e5 comparison needs SETOL_SLOW=1.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from setol_theory.fit import (
    DEFAULT_ALPHA_RANGE,
    PowerLawBoundWarning,
    PowerLawFit,
    TruncatedPowerLawFit,
    fit_powerlaw,
    fit_truncated_powerlaw,
    powerlaw_ccdf,
    powerlaw_pdf,
    truncated_powerlaw_pdf,
)
from setol_theory.fit._ks import _alphas_truncated
from setol_theory.fit._powerlaw import _scan_table, _truncated_alpha_brentq
from setol_theory.fit._truncated import _tpl_logz

REF_RANGES = {"alpha": [1, 20]}


# --------------------------------------------------------------------------------------
# Samples and independent oracles
# --------------------------------------------------------------------------------------
def pareto(alpha: float, n: int, rng: np.random.Generator, xmin: float = 1.0) -> np.ndarray:
    """Inverse-CDF sample of p(x) = (alpha-1)/xmin (x/xmin)^-alpha, x >= xmin."""
    return xmin * (1.0 - rng.random(n)) ** (-1.0 / (alpha - 1.0))


def truncated_pareto(alpha: float, n: int, rng, xmin: float, xmax: float) -> np.ndarray:
    """Inverse-CDF sample of the power law on [xmin, xmax] (any alpha != 1)."""
    b = alpha - 1.0
    r = rng.random(n)
    return xmin * (1.0 - r * (1.0 - (xmax / xmin) ** (-b))) ** (-1.0 / b)


def body_tail(n: int, alpha: float, rng, x0: float = 3.0, frac: float = 0.3) -> np.ndarray:
    """Lognormal body below x0 plus a power-law tail above x0: the xmin scan matters."""
    nt = int(frac * n)
    body = rng.lognormal(0.0, 0.5, 3 * n)
    body = body[body < x0][: n - nt]
    return np.concatenate([body, pareto(alpha, nt, rng, xmin=x0)])


def tpl_sample(alpha: float, lam: float, xmin: float, n: int, rng) -> np.ndarray:
    """Rejection sampling of x^-alpha e^(-lam x) on x >= xmin (alpha > 1): Pareto proposal,
    acceptance e^(-lam (x - xmin)) <= 1."""
    out: list[float] = []
    while len(out) < n:
        x = pareto(alpha, 2 * n, rng, xmin)
        out.extend(x[rng.random(2 * n) < np.exp(-lam * (x - xmin))].tolist())
    return np.asarray(out[:n])


def ks_bruteforce(x, xmin, alpha, ks="powerlaw", xmax=None) -> float:
    """KS distance straight from the definitions (np.unique empirical CDF)."""
    tail = np.sort(x[(x >= xmin) & ((x <= xmax) if xmax is not None else True)])
    n = tail.size
    u, idx, cnt = np.unique(tail, return_index=True, return_counts=True)
    if xmax is None:
        F = 1.0 - (u / xmin) ** (1.0 - alpha)
    else:
        F = (1.0 - (u / xmin) ** (1.0 - alpha)) / (1.0 - (xmax / xmin) ** (1.0 - alpha))
    D = np.max(np.abs(F - idx / n))
    if ks == "two_sided":
        D = max(D, np.max(np.abs(F - (idx + cnt) / n)))
    return float(D)


def alpha_closed_form(x, xmin) -> float:
    tail = x[x >= xmin]
    return 1.0 + tail.size / math.fsum(np.log(tail / xmin))


def _bruteforce_fit(x, min_tail=2, ks="powerlaw", alpha_range=DEFAULT_ALPHA_RANGE, xmax=None):
    """O(n^2) reference of the scan: candidates = unique positive values but the top two."""
    x = np.asarray(x, float)
    x = x[(x > 0) & ((x <= xmax) if xmax is not None else True)]
    best = (math.inf, None, None)
    for c in np.unique(x)[:-2]:
        tail = x[x >= c]
        if tail.size < min_tail:
            continue
        if xmax is None:
            a = alpha_closed_form(x, c)
        else:
            a = _truncated_alpha_brentq(float(np.mean(np.log(tail / c))), math.log(xmax / c))
        if not alpha_range[0] < a < alpha_range[1]:
            continue
        D = ks_bruteforce(x, c, a, ks, xmax)
        if D < best[0]:
            best = (D, float(c), a)
    return best


def ref_fit(x, **kw):
    import powerlaw

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = powerlaw.Fit(x, parameter_ranges=REF_RANGES, verbose=0, **kw)
        pl = r.power_law
        return r, pl


# --------------------------------------------------------------------------------------
# Agreement with the brute-force scan (exactness of the pruned compiled scan)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("ks", ["powerlaw", "two_sided"])
@pytest.mark.parametrize(
    "kind,seed",
    [("pareto", 0), ("pareto", 1), ("body_tail", 2), ("rounded", 3), ("exponential", 4),
     ("lognormal", 5)],
)
def test_scan_matches_bruteforce(kind, seed, ks):
    rng = np.random.default_rng(seed)
    n = 400
    x = {
        "pareto": lambda: pareto(2.3, n, rng),
        "body_tail": lambda: body_tail(n, 2.8, rng),
        "rounded": lambda: np.round(pareto(2.0, n, rng), 1),  # many duplicates
        "exponential": lambda: rng.exponential(1.0, n),
        "lognormal": lambda: rng.lognormal(0.0, 1.0, n),
    }[kind]()
    for min_tail in (2, 10, 50):
        fit = fit_powerlaw(x, min_tail=min_tail, ks=ks)
        D, xmin, alpha = _bruteforce_fit(x, min_tail=min_tail, ks=ks)
        assert fit.ok, fit.reason
        assert fit.xmin == xmin
        assert fit.alpha == pytest.approx(alpha, rel=1e-12)
        assert fit.D == pytest.approx(D, abs=1e-12)
        assert fit.n_tail == np.count_nonzero(x >= xmin)
        assert fit.sigma == pytest.approx((alpha - 1) / math.sqrt(fit.n_tail), rel=1e-12)


@pytest.mark.parametrize("ks", ["powerlaw", "two_sided"])
def test_scan_table_every_candidate_matches_bruteforce(ks):
    rng = np.random.default_rng(11)
    x = np.concatenate([np.round(pareto(2.5, 300, rng), 2), rng.uniform(0.2, 1.0, 100)])
    tab = _scan_table(x, ks=ks, min_tail=2)
    u = np.unique(x)
    np.testing.assert_array_equal(tab["xmin"], u[:-2])
    for xm, a, D in zip(tab["xmin"], tab["alpha"], tab["D"], strict=True):
        assert a == pytest.approx(alpha_closed_form(x, xm), rel=1e-12)
        assert D == pytest.approx(ks_bruteforce(x, xm, a, ks), abs=1e-12)


def test_scan_with_xmax_matches_bruteforce():
    rng = np.random.default_rng(7)
    x = body_tail(300, 2.2, rng)
    xmax = float(np.quantile(x, 0.97))
    fit = fit_powerlaw(x, xmax=xmax, min_tail=5)
    D, xmin, alpha = _bruteforce_fit(x, min_tail=5, xmax=xmax)
    assert fit.xmin == xmin
    assert fit.alpha == pytest.approx(alpha, rel=1e-10)
    assert fit.D == pytest.approx(D, abs=1e-10)
    assert fit.n_tail == np.count_nonzero((x >= xmin) & (x <= xmax))


# --------------------------------------------------------------------------------------
# Agreement with the reference package powerlaw 2.0.0
# --------------------------------------------------------------------------------------
def _assert_matches_reference(x, fit, r, pl):
    assert fit.xmin == r.xmin
    assert fit.alpha == pytest.approx(pl.alpha, rel=1e-9)
    assert fit.D == pytest.approx(pl.D, abs=1e-12)
    assert fit.sigma == pytest.approx(pl.standard_err, rel=1e-9)
    assert fit.n_tail == int(r.n)


@pytest.mark.parametrize(
    "alpha,n,seed",
    [(1.5, 100, 0), (2.5, 100, 0), (3.5, 100, 0), (4.5, 100, 0),
     (1.5, 300, 1), (2.5, 300, 1), (3.5, 300, 1), (4.5, 300, 1),
     (1.5, 1000, 2), (2.5, 1000, 2), (3.5, 1000, 2), (4.5, 1000, 2),
     (2.5, 10_000, 3)],
)
def test_matches_powerlaw_package_pareto(alpha, n, seed):
    x = pareto(alpha, n, np.random.default_rng(seed))
    r, pl = ref_fit(x)
    fit = fit_powerlaw(x, min_tail=2)
    _assert_matches_reference(x, fit, r, pl)


@pytest.mark.parametrize("alpha,n,seed,decimals", [(2.0, 2000, 0, None), (3.0, 1500, 1, None),
                                                   (2.5, 2000, 2, 1), (2.2, 500, 3, None)])
def test_matches_powerlaw_package_body_tail(alpha, n, seed, decimals):
    """Lognormal body + power-law tail (the scan matters); decimals: duplicated values."""
    x = body_tail(n, alpha, np.random.default_rng(seed))
    if decimals is not None:
        x = np.round(x, decimals)
    r, pl = ref_fit(x)
    fit = fit_powerlaw(x, min_tail=2)
    _assert_matches_reference(x, fit, r, pl)
    assert fit.xmin > 1.5  # the body was skipped
    # Candidate set and every candidate's D the reference computed (valid ones; for
    # invalid ones it evaluates a dummy CDF).
    tab = _scan_table(x, min_tail=2)
    res = r.xmin_fitting_results
    np.testing.assert_array_equal(tab["xmin"], res["xmins"])
    valid = res["valid_fits"]
    assert valid.sum() > 0.9 * valid.size
    np.testing.assert_allclose(tab["D"][valid], res["distances"][valid], rtol=0, atol=1e-12)
    np.testing.assert_allclose(tab["alpha"][valid], res["alphas"][valid], rtol=1e-9)


def test_matches_powerlaw_package_fixed_xmin_and_xmax():
    """Fixed xmin: identical to the reference. With xmax, powerlaw 2.0.0 keeps the
    *untruncated* closed-form alpha whenever it lies in (1.5, 3] (Power_Law.fit returns early
    without checking xmax), so it is not the MLE of the truncated model: we check that, and
    that our alpha has a strictly larger truncated likelihood (ours solves the score
    equation)."""
    rng = np.random.default_rng(5)
    x = body_tail(2000, 2.4, rng)
    r, pl = ref_fit(x, xmin=3.0)
    fit = fit_powerlaw(x, xmin=3.0)
    assert fit.alpha == pytest.approx(pl.alpha, rel=1e-12)
    assert fit.D == pytest.approx(pl.D, abs=1e-12)
    xmax = 60.0
    r, pl = ref_fit(x, xmin=3.0, xmax=xmax)
    fit = fit_powerlaw(x, xmin=3.0, xmax=xmax)
    tail = x[(x >= 3.0) & (x <= xmax)]
    assert pl.alpha == pytest.approx(alpha_closed_form(tail, 3.0), rel=1e-12)  # reference quirk

    def loglik(a):
        return float(np.sum(np.log(powerlaw_pdf(tail, a, 3.0, xmax))))

    assert loglik(fit.alpha) > loglik(float(pl.alpha))
    assert loglik(fit.alpha) > max(loglik(fit.alpha - 1e-4), loglik(fit.alpha + 1e-4))
    assert fit.D == pytest.approx(ks_bruteforce(x, 3.0, fit.alpha, xmax=xmax), abs=1e-12)


@pytest.mark.slow
def test_matches_powerlaw_package_1e5():
    x = pareto(2.5, 100_000, np.random.default_rng(9))
    r, pl = ref_fit(x)
    _assert_matches_reference(x, fit_powerlaw(x, min_tail=2), r, pl)


def test_reference_default_range_is_a_trap():
    """Documents the trap: powerlaw's default alpha range [0, 3] cannot return 4.5."""
    import powerlaw

    x = pareto(4.5, 300, np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_default = powerlaw.Fit(x, verbose=0).power_law.alpha
    fit = fit_powerlaw(x)
    assert ref_default <= 3.0
    assert abs(fit.alpha - 4.5) < 4 * fit.sigma


# --------------------------------------------------------------------------------------
# KS convention pinned on a hand-made sample
# --------------------------------------------------------------------------------------
def test_ks_convention_pinned():
    """Eight values where the two conventions select different xmin (min_tail=3).

    "powerlaw" (model vs j/n) picks xmin=1.2 with D=0.1464...; "two_sided" (also (j+1)/n)
    picks xmin=1.5; the reference package agrees with "powerlaw".
    """
    x = np.array([1.2, 1.3, 1.4, 1.5, 2.0, 2.8, 5.6, 9.6])
    a = fit_powerlaw(x, min_tail=3)
    b = fit_powerlaw(x, min_tail=3, ks="two_sided")
    assert a.ks == "powerlaw" and b.ks == "two_sided"
    assert a.xmin == 1.2
    assert b.xmin == 1.5
    assert a.D == pytest.approx(ks_bruteforce(x, 1.2, a.alpha), abs=1e-15)
    assert b.D == pytest.approx(ks_bruteforce(x, 1.5, b.alpha, "two_sided"), abs=1e-15)
    assert a.alpha == pytest.approx(alpha_closed_form(x, 1.2), rel=1e-14)
    r, pl = ref_fit(x)
    assert r.xmin == a.xmin
    assert pl.D == pytest.approx(a.D, abs=1e-14)
    # the two-sided statistic is never smaller at the same xmin
    assert fit_powerlaw(x, xmin=1.2, ks="two_sided", min_tail=3).D >= a.D


# --------------------------------------------------------------------------------------
# Fixed xmin, closed form, recovery
# --------------------------------------------------------------------------------------
def test_fixed_xmin_closed_form():
    rng = np.random.default_rng(3)
    x = body_tail(5000, 2.7, rng)
    for xmin in (3.0, 3.3371, float(np.sort(x)[-50])):  # 3.3371 is not a sample value
        fit = fit_powerlaw(x, xmin=xmin)
        a = alpha_closed_form(x, xmin)
        nt = int(np.count_nonzero(x >= xmin))
        assert fit.ok and fit.xmin_fixed
        assert fit.xmin == xmin
        assert fit.n_tail == nt
        assert fit.alpha == pytest.approx(a, rel=1e-13)
        assert fit.sigma == pytest.approx((a - 1) / math.sqrt(nt), rel=1e-13)
        assert fit.D == pytest.approx(ks_bruteforce(x, xmin, fit.alpha), abs=1e-13)
    # the scan's result is reproduced exactly by a fit at its xmin
    scan = fit_powerlaw(x)
    again = fit_powerlaw(x, xmin=scan.xmin)
    assert (again.alpha, again.D, again.sigma, again.n_tail) == (
        scan.alpha, scan.D, scan.sigma, scan.n_tail)


def test_recovers_true_alpha():
    rng = np.random.default_rng(2024)
    for alpha in (1.8, 2.7, 4.5):
        x = pareto(alpha, 200_000, rng)
        fit = fit_powerlaw(x, xmin=1.0)
        assert abs(fit.alpha - alpha) < 3 * fit.sigma
    # with the scan, on a body + tail sample: xmin near the true 3, alpha within 4 sigma
    x = body_tail(100_000, 2.5, rng)
    fit = fit_powerlaw(x)
    assert 2.5 < fit.xmin < 4.5
    assert abs(fit.alpha - 2.5) < 4 * fit.sigma


# --------------------------------------------------------------------------------------
# xmax (power law truncated to [xmin, xmax])
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.5, 1.0001, 2.2, 3.5])
def test_xmax_recovers_alpha(alpha):
    rng = np.random.default_rng(int(alpha * 1000))
    x = truncated_pareto(alpha, 50_000, rng, 1.0, 100.0)
    fit = fit_powerlaw(x, xmin=1.0, xmax=100.0, alpha_range=(-5.0, 20.0))
    assert fit.ok, fit.reason
    assert abs(fit.alpha - alpha) < 3 * fit.sigma
    # Score equation, independently: E_alpha[ln x] under the fitted truncated density
    # (quadrature) equals the sample mean of ln x.
    e_ln = quad(lambda v: math.log(v) * powerlaw_pdf(np.array([v]), fit.alpha, 1.0, 100.0)[0],
                1.0, 100.0, limit=200, epsabs=0, epsrel=1e-12)[0]
    assert e_ln == pytest.approx(float(np.mean(np.log(x))), rel=1e-9)
    # sigma is the inverse Fisher information: 1/sqrt(n Var[ln x])
    e_ln2 = quad(lambda v: math.log(v) ** 2 * powerlaw_pdf(np.array([v]), fit.alpha, 1.0,
                                                           100.0)[0],
                 1.0, 100.0, limit=200, epsabs=0, epsrel=1e-12)[0]
    assert fit.sigma == pytest.approx(1 / math.sqrt(x.size * (e_ln2 - e_ln**2)), rel=1e-6)


def test_xmax_far_above_data_reduces_to_untruncated():
    x = body_tail(3000, 2.5, np.random.default_rng(8))
    plain = fit_powerlaw(x)
    trunc = fit_powerlaw(x, xmax=1e9 * float(x.max()))
    assert trunc.xmin == plain.xmin
    assert trunc.alpha == pytest.approx(plain.alpha, rel=1e-6)
    assert trunc.sigma == pytest.approx(plain.sigma, rel=1e-6)
    assert trunc.D == pytest.approx(plain.D, abs=1e-6)
    assert fit_powerlaw(x, xmax=np.inf) == plain


def test_xmax_excludes_data_above():
    x = body_tail(2000, 2.5, np.random.default_rng(9))
    xmax = float(np.quantile(x, 0.99))
    fit = fit_powerlaw(x, xmin=3.0, xmax=xmax)
    assert fit.n_tail == np.count_nonzero((x >= 3.0) & (x <= xmax))
    # data above xmax does not matter at all
    same = fit_powerlaw(np.concatenate([x, [10 * xmax, 1e6 * xmax]]), xmin=3.0, xmax=xmax)
    assert (same.alpha, same.D) == (fit.alpha, fit.D)


def test_truncated_alpha_solvers_agree():
    """Compiled warm-started Newton (scan) vs scipy brentq (final fit)."""
    rng = np.random.default_rng(1)
    U = rng.uniform(0.01, 40.0, 2000)
    tau = rng.uniform(0.001, 0.999, 2000)
    ntail = np.full(2000, 7, dtype=np.int64)
    a_newton = _alphas_truncated(tau * U * 7, ntail, U)
    a_brent = np.array([_truncated_alpha_brentq(t * u, u) for t, u in zip(tau, U, strict=True)])
    np.testing.assert_allclose(a_newton, a_brent, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# Density helpers
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha,xmax", [(2.5, None), (1.2, None), (2.5, 50.0), (0.3, 50.0),
                                        (1.0, 50.0), (-2.0, 8.0)])
def test_powerlaw_pdf_ccdf(alpha, xmax):
    xmin = 2.0
    upper = np.inf if xmax is None else xmax
    total = quad(lambda v: powerlaw_pdf(np.array([v]), alpha, xmin, xmax)[0], xmin, upper,
                 limit=200)[0]
    assert total == pytest.approx(1.0, rel=1e-9)
    for v in (2.0, 3.7, 7.9):
        tail = quad(lambda s: powerlaw_pdf(np.array([s]), alpha, xmin, xmax)[0], v, upper,
                    limit=200)[0]
        assert powerlaw_ccdf(np.array([v]), alpha, xmin, xmax)[0] == pytest.approx(
            tail, rel=1e-8, abs=1e-14)
    assert powerlaw_pdf(np.array([1.0]), alpha, xmin, xmax)[0] == 0.0
    assert powerlaw_ccdf(np.array([1.0]), alpha, xmin, xmax)[0] == 1.0


# --------------------------------------------------------------------------------------
# Truncated power law (power law with exponential cutoff)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "alpha,lam,xmax",
    [(2.5, 0.5, None), (1.7, 0.01, None), (0.5, 2.0, None), (1.0, 0.1, None),
     (3.0, 1e-4, None), (-1.5, 3.0, None), (2.5, 0.5, 20.0), (0.5, 0.0, 20.0),
     (1.5, 0.0, None)],
)
def test_truncated_powerlaw_normalisation(alpha, lam, xmax):
    """The mpmath incomplete-gamma normalisation integrates to 1 (quadrature, 1e-8)."""
    xmin = 1.5
    upper = np.inf if xmax is None else xmax

    def pdf(v):
        return truncated_powerlaw_pdf(np.array([v]), alpha, lam, xmin, xmax)[0]

    # split at a few scales so quad sees both the power-law and the exponential regime
    pts = [xmin, 3.0, 10.0, 100.0, 1e4]
    edges = [p for p in pts if p < upper] + [upper]
    total = sum(quad(pdf, a, b, limit=400, epsrel=1e-12)[0]
                for a, b in zip(edges[:-1], edges[1:], strict=True))
    assert total == pytest.approx(1.0, rel=1e-8)


def test_tpl_logz_matches_quadrature():
    import mpmath as mp

    for a, mu in [(2.5, 0.3), (1.1, 1e-3), (0.2, 5.0), (4.0, 20.0)]:
        ref = quad(lambda t, a=a, mu=mu: t ** (-a) * math.exp(-mu * t), 1.0, np.inf,
                   limit=400, epsrel=1e-13)[0]
        with mp.workdps(30):
            assert float(mp.exp(_tpl_logz(mp.mpf(a), mp.mpf(mu), mp.inf))) == pytest.approx(
                ref, rel=1e-9)


def test_truncated_powerlaw_recovers_parameters():
    rng = np.random.default_rng(0)
    alpha, lam = 1.7, 0.05
    x = tpl_sample(alpha, lam, 1.0, 5000, rng)
    fit = fit_truncated_powerlaw(x, xmin=1.0)
    assert fit.ok and fit.converged, fit.reason
    assert abs(fit.alpha - alpha) < 4 * fit.sigma_alpha
    assert abs(fit.lam - lam) < 4 * fit.sigma_lam
    assert fit.loglik_ratio_vs_powerlaw > 10  # the cutoff is obvious at n = 5000
    assert fit.p_value < 1e-6
    assert fit.loglik == pytest.approx(fit.loglik_powerlaw + fit.loglik_ratio_vs_powerlaw,
                                       rel=1e-12)
    # It is the maximum: perturbations lower the log-likelihood (computed independently from
    # the density helper).
    def loglik(a, lm):
        return float(np.sum(np.log(truncated_powerlaw_pdf(x, a, lm, 1.0))))

    assert loglik(fit.alpha, fit.lam) == pytest.approx(fit.loglik, rel=1e-10)
    best = loglik(fit.alpha, fit.lam)
    for da, dl in [(1e-3, 0), (-1e-3, 0), (0, 1e-4), (0, -1e-4), (1e-3, 1e-4)]:
        assert loglik(fit.alpha + da, fit.lam + dl) < best
    # power-law part agrees with fit_powerlaw at the same xmin
    assert fit.alpha_powerlaw == pytest.approx(fit_powerlaw(x, xmin=1.0).alpha, rel=1e-12)


def test_truncated_powerlaw_vs_powerlaw_package():
    """Same log-likelihood ratio as powerlaw's nested comparison (opposite sign convention);
    it optimises with Nelder-Mead tol=1e-4, so agreement to 1e-4 relative."""
    import powerlaw

    x = tpl_sample(2.5, 0.5, 1.0, 2000, np.random.default_rng(1))
    fit = fit_truncated_powerlaw(x, xmin=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = powerlaw.Fit(x, xmin=1.0, parameter_ranges={"alpha": [-5, 20]}, verbose=0)
        R, p = r.distribution_compare("power_law", "truncated_power_law")
    assert R < 0 < fit.loglik_ratio_vs_powerlaw
    assert fit.loglik_ratio_vs_powerlaw == pytest.approx(-R, rel=1e-4)
    assert fit.p_value == pytest.approx(p, rel=1e-2, abs=1e-12)
    assert fit.alpha == pytest.approx(r.truncated_power_law.alpha, rel=1e-3)
    assert fit.lam == pytest.approx(r.truncated_power_law.Lambda, rel=1e-3)


def test_truncated_powerlaw_boundary_and_xmax():
    rng = np.random.default_rng(4)
    x = pareto(3.5, 3000, rng)
    # force the KKT condition at lam = 0: mean(x) >= E_pl[x] = (a-1)/(a-2)
    x = np.concatenate([x, [300.0]])
    a_pl = alpha_closed_form(x, 1.0)
    assert np.mean(x) >= (a_pl - 1) / (a_pl - 2)
    fit = fit_truncated_powerlaw(x, xmin=1.0)
    assert fit.ok and fit.lam == 0.0
    assert fit.loglik_ratio_vs_powerlaw == 0.0 and fit.p_value == 1.0
    assert fit.alpha == pytest.approx(a_pl, rel=1e-13)
    # with xmax both models are normalised on [xmin, xmax]
    y = tpl_sample(1.5, 0.02, 1.0, 4000, rng)
    fit = fit_truncated_powerlaw(y, xmin=1.0, xmax=200.0)
    assert fit.ok, fit.reason
    tail = y[y <= 200.0]
    assert fit.n_tail == tail.size
    ll = float(np.sum(np.log(truncated_powerlaw_pdf(tail, fit.alpha, fit.lam, 1.0, 200.0))))
    assert ll == pytest.approx(fit.loglik, rel=1e-10)
    assert fit.alpha_powerlaw == pytest.approx(
        fit_powerlaw(y, xmin=1.0, xmax=200.0).alpha, rel=1e-12)


# --------------------------------------------------------------------------------------
# Failures and bad arguments
# --------------------------------------------------------------------------------------
def _assert_failed(fit):
    assert fit.status == "failed" and not fit.ok
    assert fit.reason
    assert math.isnan(fit.alpha) and math.isnan(fit.xmin) and math.isnan(fit.D)
    assert math.isnan(fit.sigma) and fit.n_tail == 0


def test_failure_statuses():
    _assert_failed(fit_powerlaw([1.0, 2.0, 3.0, 4.0, 5.0]))  # 5 < min_tail
    _assert_failed(fit_powerlaw(np.full(100, 3.0)))  # constant
    _assert_failed(fit_powerlaw(np.repeat([1.0, 2.0], 50)))  # two distinct values
    _assert_failed(fit_powerlaw(-np.arange(1.0, 100.0)))  # nothing positive
    _assert_failed(fit_powerlaw(np.arange(1.0, 100.0), xmin=500.0))  # empty tail
    _assert_failed(fit_powerlaw(np.arange(1.0, 100.0), xmin=95.0))  # 5 points < 10
    fit = fit_powerlaw(np.concatenate([np.arange(1.0, 50.0), np.full(20, 80.0)]), xmin=80.0)
    _assert_failed(fit)  # all tail values equal xmin
    assert "equal" in fit.reason
    fit = fit_powerlaw([1.0, 2.0, 3.0], min_tail=10)
    assert fit.n == 3 and "min_tail" in fit.reason
    # non-positive values are ignored, not fatal
    x = pareto(2.5, 500, np.random.default_rng(0))
    assert fit_powerlaw(np.concatenate([x, [0.0, -1e-12, -3.0]])).alpha == fit_powerlaw(x).alpha
    tfit = fit_truncated_powerlaw([1.0, 2.0, 3.0], xmin=1.0)
    assert tfit.status == "failed" and math.isnan(tfit.alpha) and tfit.reason
    tfit = fit_truncated_powerlaw(np.full(50, 2.0), xmin=2.0)
    assert tfit.status == "failed" and "equal" in tfit.reason


def test_bound_hit():
    """A range that excludes the true exponent (the powerlaw-default-[0, 3] trap, here
    (1, 4) on a lognormal body + alpha = 4.5 tail) makes the scan pick a body candidate:
    flagged, with a warning."""
    x = body_tail(3000, 4.5, np.random.default_rng(0))
    free = fit_powerlaw(x)
    assert not free.bound_hit and free.alpha > 4.0 and free.xmin > 2.5
    with pytest.warns(PowerLawBoundWarning):
        fit = fit_powerlaw(x, alpha_range=(1.0, 4.0))
    assert fit.ok and fit.bound_hit and "alpha_range" in fit.reason
    assert 1.0 < fit.alpha < 4.0 and fit.xmin != free.xmin
    y = pareto(4.5, 2000, np.random.default_rng(0))  # no candidate has alpha < 4
    with pytest.warns(PowerLawBoundWarning):
        fit = fit_powerlaw(y, alpha_range=(1.0, 4.0))
    _assert_failed(fit)
    assert fit.bound_hit and "no candidate" in fit.reason
    with pytest.warns(PowerLawBoundWarning):
        fit = fit_powerlaw(x, xmin=1.0, alpha_range=(5.0, 20.0))
    _assert_failed(fit)
    assert fit.bound_hit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = fit_powerlaw(pareto(2.5, 1000, np.random.default_rng(1)))
    assert clean.ok and not clean.bound_hit and clean.reason == ""


@pytest.mark.parametrize(
    "args,kwargs,exc,match",
    [
        ((np.array([1.0, np.nan, 2.0]),), {}, ValueError, "x contains NaN"),
        ((np.array([1.0, np.inf, 2.0]),), {}, ValueError, "x contains NaN"),
        ((np.array([]),), {}, ValueError, "x is empty"),
        ((np.array(["1", "2"]),), {}, TypeError, "x must be"),
        ((np.array([1 + 1j, 2.0]),), {}, TypeError, "x must be"),
        ((np.array([True, False]),), {}, TypeError, "x must be"),
        ((np.ones((3, 3)),), {}, ValueError, "x must be one-dimensional"),
        ((np.arange(1.0, 50.0),), {"min_tail": 1}, ValueError, "min_tail"),
        ((np.arange(1.0, 50.0),), {"min_tail": 2.5}, TypeError, "min_tail"),
        ((np.arange(1.0, 50.0),), {"xmin": 5.0, "xmax": 5.0}, ValueError, "xmax"),
        ((np.arange(1.0, 50.0),), {"xmin": 0.0}, ValueError, "xmin"),
        ((np.arange(1.0, 50.0),), {"xmin": float("nan")}, ValueError, "xmin"),
        ((np.arange(1.0, 50.0),), {"xmax": -1.0}, ValueError, "xmax"),
        ((np.arange(1.0, 50.0),), {"ks": "kuiper"}, ValueError, "ks"),
        ((np.arange(1.0, 50.0),), {"alpha_range": (3.0, 1.0)}, ValueError, "alpha_range"),
        ((np.arange(1.0, 50.0),), {"alpha_range": 3.0}, ValueError, "alpha_range"),
    ],
)
def test_bad_arguments_raise(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fit_powerlaw(*args, **kwargs)


def test_truncated_bad_arguments_raise():
    x = np.arange(1.0, 50.0)
    with pytest.raises(ValueError, match="xmin"):
        fit_truncated_powerlaw(x, xmin=-1.0)
    with pytest.raises(ValueError, match="xmax"):
        fit_truncated_powerlaw(x, xmin=5.0, xmax=2.0)
    with pytest.raises(ValueError, match="x contains NaN"):
        fit_truncated_powerlaw(np.array([1.0, np.nan]), xmin=1.0)
    with pytest.raises(ValueError, match="lam"):
        truncated_powerlaw_pdf(x, 2.0, -1.0, 1.0)


# --------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------
def test_result_objects():
    fit = fit_powerlaw(pareto(2.5, 500, np.random.default_rng(0)))
    assert isinstance(fit, PowerLawFit) and fit.ok
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.alpha = 3.0  # type: ignore[misc]
    d = fit.to_dict()
    assert d["alpha"] == fit.alpha and d["alpha_range"] == [1.0, 20.0] and d["ks"] == "powerlaw"
    assert set(d) >= {"alpha", "xmin", "xmax", "sigma", "D", "n_tail", "n", "status", "reason",
                      "bound_hit", "ks"}
    json.dumps(d)
    failed = fit_powerlaw(np.full(30, 1.0))
    json.dumps(failed.to_dict())
    tfit = fit_truncated_powerlaw(pareto(2.5, 300, np.random.default_rng(0)), xmin=1.0)
    assert isinstance(tfit, TruncatedPowerLawFit)
    assert set(tfit.to_dict()) >= {"alpha", "lam", "xmin", "loglik", "loglik_ratio_vs_powerlaw",
                                   "p_value", "status", "reason"}


# --------------------------------------------------------------------------------------
# Properties (hypothesis)
# --------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    alpha=st.floats(1.3, 6.0),
    n=st.integers(15, 400),
    c=st.sampled_from([2.0**-20, 0.125, 1e-3, 7.3, 1e5, 2.0**30]),
    ks=st.sampled_from(["powerlaw", "two_sided"]),
)
def test_scale_invariance(seed, alpha, n, c, ks):
    """Fitting c*x gives the same alpha and D, and xmin*c. Rounding can swap candidates whose
    D are tied to ~1e-15; then the other candidate's D must be within 1e-12 of the optimum."""
    x = pareto(alpha, n, np.random.default_rng(seed))
    f1 = fit_powerlaw(x, ks=ks, min_tail=5)
    f2 = fit_powerlaw(c * x, ks=ks, min_tail=5)
    assert f1.status == f2.status
    if not f1.ok:
        return
    assert f2.D == pytest.approx(f1.D, abs=1e-12)
    if f2.xmin == pytest.approx(c * f1.xmin, rel=1e-14):
        assert f2.alpha == pytest.approx(f1.alpha, rel=1e-10)
        assert f2.n_tail == f1.n_tail
    else:  # near-tie
        alt = fit_powerlaw(c * x, ks=ks, min_tail=5, xmin=c * f1.xmin)
        assert alt.D == pytest.approx(f2.D, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(st.floats(0.01, 1e3, allow_nan=False), min_size=12, max_size=200),
    ks=st.sampled_from(["powerlaw", "two_sided"]),
)
def test_scan_properties(data, ks):
    """Permutation invariance, D in [0, 1], xmin a sample value, and the scan picks the
    candidate with the smallest D among those meeting min_tail (checked by brute force)."""
    x = np.asarray(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PowerLawBoundWarning)
        fit = fit_powerlaw(x, ks=ks, min_tail=3)
        rev = fit_powerlaw(x[::-1].copy(), ks=ks, min_tail=3)
    assert repr(fit) == repr(rev)  # repr: NaN fields compare equal
    D, xmin, alpha = _bruteforce_fit(x, min_tail=3, ks=ks)
    if fit.ok:
        assert 0.0 <= fit.D <= 1.0
        assert fit.xmin in x
        assert fit.D == pytest.approx(D, abs=1e-12)
    else:
        assert xmin is None or fit.bound_hit
