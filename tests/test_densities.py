"""Marchenko-Pastur law: identities (normalisation, moments, CDF/PPF) and a sampled ESD."""

import numpy as np
import pytest
from scipy import integrate, stats

from setol_theory.rmt import MarchenkoPastur


@pytest.mark.parametrize("q", [0.05, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("sigma2", [0.3, 1.0, 2.5])
def test_mp_moments_against_quadrature(q, sigma2):
    """Narayana moment formula vs. adaptive quadrature of the density (independent routes)."""
    mp = MarchenkoPastur(q, sigma2)
    a, b = mp.support()
    for k in range(0, 5):
        num, err = integrate.quad(lambda x, k=k: x**k * mp.pdf(x), a, b, limit=200)
        assert num == pytest.approx(mp.moment(k), rel=1e-9, abs=1e-12)
    assert mp.moment(1) == pytest.approx(sigma2, rel=1e-14)
    # variance of the MP law is q sigma^4
    assert mp.moment(2) - mp.moment(1) ** 2 == pytest.approx(q * sigma2**2, rel=1e-12)


@pytest.mark.parametrize("q", [0.1, 0.5, 1.0])
def test_mp_cdf_ppf_roundtrip(q):
    mp = MarchenkoPastur(q, 1.3)
    p = np.linspace(0.01, 0.99, 25)
    np.testing.assert_allclose(mp.cdf(mp.ppf(p)), p, atol=1e-12)
    a, b = mp.support()
    assert mp.cdf(a) == 0.0 and mp.cdf(b) == 1.0
    assert np.all(np.diff(mp.cdf(np.linspace(a, b, 200))) >= 0)


def test_mp_cdf_against_quadrature():
    mp = MarchenkoPastur(0.3, 0.8)
    a, b = mp.support()
    for x in np.linspace(a, b, 7)[1:-1]:
        ref = integrate.quad(mp.pdf, a, x, limit=200)[0]
        assert mp.cdf(x) == pytest.approx(ref, abs=1e-10)


def test_mp_matches_sampled_wishart_esd():
    """KS test of a Gaussian W's ESD against the MP CDF.

    Eigenvalues are not independent, so the KS p-value is not exact; the ESD converges at
    rate O(1/M) (rigidity), far faster than the i.i.d. 1/sqrt(M), so D << 1.36/sqrt(M).
    """
    mp = MarchenkoPastur(0.25, 1.7)
    ev = mp.sample_eigenvalues(2000, rng=1)
    D = stats.kstest(ev, mp.cdf).statistic
    assert D < 1.36 / np.sqrt(ev.size)
    assert ev.max() == pytest.approx(mp.lambda_plus, rel=0.02)


@pytest.mark.parametrize("bad", [dict(q=0.0), dict(q=1.5), dict(q=float("nan")),
                                 dict(q=0.5, sigma2=0.0), dict(q=0.5, sigma2=-1.0)])
def test_mp_rejects_bad_parameters(bad):
    with pytest.raises(ValueError, match="q|sigma2"):
        MarchenkoPastur(**bad)


# ======================================================================================
# Spectral models: G, R, free cumulants, branch cuts (docs/spectral_models.md)
# ======================================================================================
import math  # noqa: E402
from fractions import Fraction  # noqa: E402
from math import comb  # noqa: E402

from setol_theory import rmt as free  # noqa: E402
from setol_theory.rmt import (  # noqa: E402
    EmpiricalSpectrum,
    FreeCauchy,
    InverseMarchenkoPastur,
    LevyPowerLaw,
    MultiplicativeWishart,
    TruncatedPowerLaw,
    Wigner,
    bare_power_law_stieltjes,
    q2_levy_paper,
)

# points off the support used by several identities: both half planes, both sides, near the axis
Z_GRID = np.array([0.3 + 0.2j, -2 + 1j, 0.1 - 0.4j, 3 - 2j, 1 + 1e-12j, 1 - 1e-9j, 40 + 0.5j])


def _off_support(model, z):
    a, b = model.support()
    return z[~((z.imag == 0) & (z.real >= a) & (z.real <= b))]


# --------------------------------------------------------------------------------------
# Marchenko-Pastur (Marchenko & Pastur 1967; derivations/mp_stieltjes_and_r.py)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("q,sigma2", [(0.5, 1.3), (0.1, 0.7), (1.0, 1.0)])
def test_mp_blue_inverts_g_everywhere_off_the_support(q, sigma2):
    """R(G(z)) + 1/G(z) = z for z in both half planes and on the real axis outside the support
    (holds on the whole physical sheet, a check of the principal-root product); 1e-13."""
    mp = MarchenkoPastur(q, sigma2)
    a, b = mp.support()
    z = np.concatenate([Z_GRID, [b + 0.5, b + 10.0, -1.0, -100.0]]) * sigma2
    z = _off_support(mp, z)
    np.testing.assert_allclose(mp.blue(mp.stieltjes(z)), z, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("q,sigma2", [(0.5, 1.3), (0.1, 0.7), (1.0, 1.0)])
def test_mp_g_of_blue_is_identity_on_inversion_domain(q, sigma2):
    """G(R(w) + 1/w) = w for real w in (G(lambda_-^-), G(lambda_+^+)) and
    small complex w, 1e-12; just beyond G(lambda_+) it fails (the other root of the quadratic)."""
    mp = MarchenkoPastur(q, sigma2)
    w_lo, w_hi = mp.inversion_domain()
    assert w_hi == pytest.approx(1 / (sigma2 * math.sqrt(q) * (1 + math.sqrt(q))), rel=1e-15)
    assert w_hi == pytest.approx(mp.stieltjes(mp.lambda_plus).real, rel=1e-14)
    lo = max(w_lo, -10.0)
    w = np.concatenate([np.linspace(lo, 0, 12)[1:-1], np.linspace(0, w_hi, 12)[1:-1],
                        0.3 * w_hi * np.exp(1j * np.linspace(0.1, 6.2, 9))])
    np.testing.assert_allclose(mp.stieltjes(mp.blue(w)), w, rtol=1e-12)
    w_out = 1.2 * w_hi
    assert abs(mp.stieltjes(mp.blue(w_out)) - w_out) > 0.05 * w_hi


def test_mp_stieltjes_inversion_gives_density_and_lips():
    """-Im G(x + i0)/pi = density (the sign convention of docs/spectral_models.md), also
    at x + 1e-8 i; lower lip = conjugate; 'real' = PV; 'raise' refuses on the cut only."""
    mp = MarchenkoPastur(0.3, 0.8)
    a, b = mp.support()
    x = np.linspace(a, b, 21)[1:-1]
    np.testing.assert_allclose(-mp.stieltjes(x).imag / np.pi, mp.pdf(x), rtol=1e-13)
    np.testing.assert_allclose(-mp.stieltjes(x + 1e-8j).imag / np.pi, mp.pdf(x), rtol=1e-6)
    np.testing.assert_allclose(mp.stieltjes(x, side="lower"), np.conj(mp.stieltjes(x)))
    np.testing.assert_allclose(mp.stieltjes(x, side="real").imag, 0.0)
    np.testing.assert_allclose(mp.stieltjes(x - 1e-12j), mp.stieltjes(x, side="lower"),
                               rtol=1e-9)
    # a negative-zero imaginary part is still read as the upper lip
    assert mp.stieltjes(complex(1.0, -0.0)) == mp.stieltjes(1.0)
    with pytest.raises(ValueError, match="branch cut"):
        mp.stieltjes(x, side="raise")
    assert np.isfinite(mp.stieltjes(b + 1.0, side="raise"))  # off the cut: no refusal
    with pytest.raises(ValueError, match="side"):
        mp.stieltjes(1.0, side="left")


def test_mp_large_z_expansion_and_z_zero():
    """G(z) = 1/z + m1/z^2 + m2/z^3 + O(z^-4) (rationalised form, no cancellation), and
    G(0) = -E[1/lambda] = -1/(sigma2 (1 - q)) where the unrationalised form is 0/0."""
    mp = MarchenkoPastur(0.4, 1.5)
    z = np.array([1e3, -2e3j, 5e3 + 5e3j])
    ser = 1 / z + mp.moment(1) / z**2 + mp.moment(2) / z**3
    assert np.all(np.abs(mp.stieltjes(z) - ser) < 2 * mp.moment(3) / np.abs(z) ** 4)
    assert mp.stieltjes(0.0) == pytest.approx(-1 / (1.5 * 0.6), rel=1e-14)
    with pytest.raises(ValueError, match="z = 0"):
        MarchenkoPastur(1.0).stieltjes(0.0)


@pytest.mark.parametrize("q,sigma2", [(0.5, 1.3), (0.2, 2.0), (1.0, 0.5)])
def test_mp_free_cumulants_closed_form_vs_moment_recursion(q, sigma2):
    """kappa_k = q^{k-1} sigma2^k vs cumulants from the Narayana moments, order 12.

    Exactly in rationals; in floats the recursion cancels down from m_k ~ lambda_+^k to
    kappa_k, so its error is a few eps * m_k (absolute), not eps * kappa_k.
    """
    mp = MarchenkoPastur(q, sigma2)
    k_num = free.moments_to_free_cumulants(mp.moments(12))
    eps = np.finfo(float).eps
    assert np.all(np.abs(k_num - mp.free_cumulants(12)) <= 20 * eps * mp.moments(12))
    qf, sf = Fraction(q).limit_denominator(100), Fraction(sigma2).limit_denominator(100)
    m_exact = [sf**k * sum(qf**r * Fraction(comb(k, r) * comb(k, r + 1), k) for r in range(k))
               for k in range(1, 13)]
    assert list(free.moments_to_free_cumulants(m_exact)) == [qf ** (k - 1) * sf**k
                                                            for k in range(1, 13)]
    # cumulant series = closed form R inside the radius of convergence 1/(q sigma2)
    w = 0.2 * mp.r_series_radius * np.exp(1j * np.linspace(0, 6, 7))
    np.testing.assert_allclose(mp.r_series(w, 30), mp.r_transform(w), rtol=1e-14)


def test_mp_integrated_r_closed_form_and_pole():
    """int_0^t R = -(1/q) ln(1 - q sigma2 t) vs quadrature; pole refused."""
    mp = MarchenkoPastur(0.25, 2.0)
    t = np.array([0.3, 1.0, 1.9, -3.0])
    np.testing.assert_allclose(mp.integrated_r(t), -np.log(1 - 0.5 * t) / 0.25, rtol=1e-14)
    quad = [integrate.quad(lambda s: mp.r_transform(s).real, 0.1, ti)[0] for ti in t]
    np.testing.assert_allclose(mp.integrated_r(t, 0.1), quad, rtol=1e-12)
    with pytest.raises(ValueError, match="pole"):
        mp.integrated_r(2.5)
    with pytest.raises(ValueError, match="pole"):
        mp.r_transform(2.0)


def test_mp_sample_free_cumulants_converge():
    """ESD of W (N = 2000, M = 1000, 4 seeds) -> normalised moments
    -> kappa_k -> q^{k-1} sigma2^k, relative error C_k / N.

    C_k = bias + 4 standard errors of the 4-seed mean, both O(1/N): the exact
    E[m2] = sigma2^2 (1 + q + 1/N) gives a kappa_2 bias of 1/(qN) = 2/N; calibration runs (400
    seeds at N = 200, 20 seeds at N = 2000) gave per-seed sd * N = 1.8, 4.3, 10.4 and bias * N
    = 0, 1.5, 4.5 for k = 1, 2, 3. Hence C = (5, 12, 25).
    """
    q, s2, N = 0.5, 1.7, 2000
    mp = MarchenkoPastur(q, s2)
    k = np.mean([EmpiricalSpectrum(mp.sample_eigenvalues(N, seed)).free_cumulants(3)
                 for seed in range(4)], axis=0)
    rel = np.abs(k / mp.free_cumulants(3) - 1)
    assert np.all(rel < np.array([5, 12, 25]) / N), rel * N


def test_mp_stieltjes_matches_sample_and_pdf_at_one():
    """Sanity check: 4000 x 2000 Gaussian W, 2 seeds; G(-1), G(5),
    G(0.5 + 0.3i) vs the sample mean of 1/(z - lambda). A linear statistic fluctuates by
    ~1/(M d) (d = distance to the support; calibration sd * M * d ~ 0.5): tol 4/(M d).
    And -Im G(1 + i0)/pi = pdf(1)."""
    mp = MarchenkoPastur(0.5)
    M = 2000
    z = np.array([-1.0, 5.0, 0.5 + 0.3j])
    a, b = mp.support()
    d = np.array([a + 1.0, 5.0 - b, 0.3])
    g = np.mean([free.stieltjes_samples(mp.sample_eigenvalues(4000, s), z) for s in (11, 12)],
                axis=0)
    assert np.all(np.abs(g - mp.stieltjes(z)) < 4 / (M * d))
    assert -mp.stieltjes(1.0).imag / np.pi == pytest.approx(mp.pdf(1.0), rel=1e-14)


# --------------------------------------------------------------------------------------
# inverse Marchenko-Pastur (arXiv:2507.17912 Sec. 5.4.5, App. A.8; docs/spectral_models.md)
# --------------------------------------------------------------------------------------
def test_imp_parameters_and_edges():
    imp = InverseMarchenkoPastur.from_Q(4.0)
    assert imp.kappa == 1.5 and imp.q == 0.25 and imp.Q == 4.0
    assert imp.branch_point == 0.75
    k = 1.5
    assert imp.support() == pytest.approx(((k + 1 - 2) / k, (k + 1 + 2) / k), rel=1e-15)
    # x_- x_+ = 1 and the edges are the images (1-q)/lambda_-+ of the MP edges
    mp = MarchenkoPastur(0.25)
    assert imp.x_plus == pytest.approx(0.75 / mp.lambda_minus, rel=1e-14)
    assert imp.x_minus == pytest.approx(0.75 / mp.lambda_plus, rel=1e-14)
    for bad in (1.0, 0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"Q must lie in \(1, inf\)"):
            InverseMarchenkoPastur.from_Q(bad)
    for bad in (0.0, -1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="kappa"):
            InverseMarchenkoPastur(bad)


@pytest.mark.parametrize("kappa", [0.5, 1.5, 6.0])
def test_imp_density_normalised_moments_cdf(kappa):
    """Density integrates to 1; quadrature moments = moments from the Catalan cumulants
    (mean 1, variance 1/(2 kappa)); CDF (exact MP change of variables) vs quadrature."""
    imp = InverseMarchenkoPastur(kappa)
    a, b = imp.support()
    for k in range(5):
        num = integrate.quad(lambda x, k=k: x**k * imp.pdf(x), a, b, limit=200)[0]
        assert num == pytest.approx(imp.moment(k), rel=1e-9)
    assert imp.moment(1) == pytest.approx(1.0, rel=1e-15)
    assert imp.moment(2) - 1 == pytest.approx(1 / (2 * kappa), rel=1e-14)
    for x in np.linspace(a, b, 6)[1:-1]:
        assert imp.cdf(x) == pytest.approx(integrate.quad(imp.pdf, a, x, limit=200)[0], abs=1e-9)
    p = np.linspace(0.02, 0.98, 9)
    np.testing.assert_allclose(imp.cdf(imp.ppf(p)), p, atol=1e-12)


@pytest.mark.parametrize("kappa", [0.5, 1.5, 6.0])
def test_imp_stieltjes_identities(kappa):
    """Three routes to G: closed form; 1/z - (c/z^2) G_MP(c/z) (Y = c X^{-1}, c = 1 - q); and
    quadrature of the density (test_free). B(G(z)) = z on the whole sheet; -Im G/pi = pdf."""
    imp = InverseMarchenkoPastur(kappa)
    c = 1 - imp.q
    z = _off_support(imp, np.concatenate([Z_GRID, [-1.0, 0.05, imp.x_plus + 0.1, 30.0]]))
    via_mp = 1 / z - c / z**2 * MarchenkoPastur(imp.q).stieltjes(c / z)
    np.testing.assert_allclose(imp.stieltjes(z), via_mp, rtol=1e-12)
    np.testing.assert_allclose(imp.blue(imp.stieltjes(z)), z, rtol=1e-13, atol=1e-14)
    x = np.linspace(*imp.support(), 15)[1:-1]
    np.testing.assert_allclose(-imp.stieltjes(x).imag / np.pi, imp.pdf(x), rtol=1e-13)
    assert imp.stieltjes(0.0) == pytest.approx(-1 / c, rel=1e-14)  # -E[1/Y] = -E[X]/c
    w_lo, w_hi = imp.inversion_domain()
    w = np.concatenate([np.linspace(max(w_lo, -5), 0, 9)[1:-1], np.linspace(0, w_hi, 9)[1:-1]])
    np.testing.assert_allclose(imp.stieltjes(imp.blue(w)), w, rtol=1e-12)


def test_imp_edge_of_real_branch_lies_below_branch_point():
    """docs/spectral_models.md: for kappa = 1.5 the real R-branch reaches only
    w = G(x_+) = 2/3 < kappa/2; in general kappa sqrt(2k+1)/(sqrt(2k+1) + k + 1) < kappa/2."""
    assert InverseMarchenkoPastur(1.5).inversion_domain()[1] == pytest.approx(2 / 3, rel=1e-14)
    for k in (0.1, 0.5, 1.5, 10.0, 1e3):
        imp = InverseMarchenkoPastur(k)
        s = math.sqrt(2 * k + 1)
        assert imp.inversion_domain()[1] == pytest.approx(k * s / (s + k + 1), rel=1e-13)
        assert imp.inversion_domain()[1] < imp.branch_point


@pytest.mark.parametrize("kappa", [0.5, 1.5, 6.0])
def test_imp_r_forms_and_series(kappa):
    """The rationalised R equals the paper's (kappa - s)/z (1e-13 where the
    latter does not cancel) and the Catalan series for |z| < kappa/2 (error bounded by the
    first omitted term's geometric tail); R(0) = 1 with no 0/0, and tiny z matches
    1 + z/(2 kappa) where the paper's form loses all digits."""
    imp = InverseMarchenkoPastur(kappa)
    z = kappa * np.array([0.3, -2.0, 0.2 + 0.4j, -1 - 1j, 0.45, 3 + 1j])
    np.testing.assert_allclose(imp.r_transform(z), imp.r_closed_form(z), rtol=1e-13)
    zs = 0.25 * kappa * np.exp(1j * np.linspace(0, 6, 8))  # |z| = r/2: term ratio <= 1/2
    K = 45
    np.testing.assert_allclose(imp.r_series(zs, K), imp.r_transform(zs), rtol=1e-13)
    assert imp.r_transform(0.0) == 1.0
    tiny = 1e-9 * kappa
    assert imp.r_transform(tiny).real == pytest.approx(1 + tiny / (2 * kappa), rel=1e-15)
    assert abs(imp.r_closed_form(tiny).real - 1) > 1e-8  # the paper's form cancels here


def test_imp_r_on_both_lips_of_the_cut_and_at_the_branch_point():
    """For real z > kappa/2, R(z +- i0) = (kappa +- i sqrt(kappa(2z-kappa)))/z;
    side='upper' equals the principal value at z + 1e-12 i, 'lower' at z - 1e-12 i; both have
    Re R = kappa/z ('real'); below the branch point R is real and side-independent; at
    z = kappa/2 all sides give 2, and Re R is continuous through it."""
    k = 1.5
    imp = InverseMarchenkoPastur(k)
    x = np.array([0.76, 1.0, 2.0, 10.0])
    up, lo = imp.r_transform(x, side="upper"), imp.r_transform(x, side="lower")
    np.testing.assert_allclose(up, (k + 1j * np.sqrt(k * (2 * x - k))) / x, rtol=1e-15)
    np.testing.assert_allclose(lo, np.conj(up), rtol=0)
    np.testing.assert_allclose(imp.r_transform(x + 1e-12j), up, rtol=1e-9)
    np.testing.assert_allclose(imp.r_transform(x - 1e-12j), lo, rtol=1e-9)
    np.testing.assert_allclose(imp.r_transform(x, side="real"), k / x, rtol=1e-15)
    assert np.all(up.imag > 0)
    with pytest.raises(ValueError, match="branch cut"):
        imp.r_transform(x, side="raise")
    below = np.array([-3.0, 0.2, 0.74])
    for side in ("upper", "lower", "real", "raise"):
        r = imp.r_transform(below, side=side)
        assert np.all(r.imag == 0)
        assert imp.r_transform(0.75, side=side) == 2.0
    eps = 1e-10
    assert imp.r_transform(0.75 - eps).real == pytest.approx(2.0, abs=3 * math.sqrt(eps))
    assert imp.r_transform(0.75 + eps, side="real").real == pytest.approx(2.0, abs=3 * eps)


def test_imp_integrated_r():
    """G_IMP(e^2 lam_min) = 2 kappa for lam_min >= kappa/2 (App. A.8.3); the closed
    antiderivative differentiates to Re R on both sides of the branch point (central
    differences, h = 1e-5: error ~h^2 R''' ~ 1e-9); continuous there; equals quadrature across
    it; and differs from the alternative form kappa ln z - [2s + kappa ln((kappa-s)/(kappa+s))] by a
    constant on (0, kappa/2)."""
    k = 1.5
    imp = InverseMarchenkoPastur(k)
    for lam_min in (0.75, 1.0, 3.0):
        assert imp.integrated_r(math.e**2 * lam_min, lam_min) == pytest.approx(2 * k, rel=1e-14)
    h = 1e-5
    x = np.array([-2.0, 0.1, 0.5, 0.7, 0.8, 1.5, 6.0])
    fd = (imp.integrated_r(x + h) - imp.integrated_r(x - h)) / (2 * h)
    np.testing.assert_allclose(fd, imp.r_transform(x, side="real").real, rtol=1e-8)
    assert imp.integrated_r(0.75 + 1e-13, 0.75 - 1e-13) == pytest.approx(0.0, abs=1e-12)
    quad = integrate.quad(lambda t: imp.r_transform(t, side="real").real, 0.2, 3.0,
                          points=[0.75])[0]
    assert imp.integrated_r(3.0, 0.2) == pytest.approx(quad, rel=1e-12)
    z = np.array([0.05, 0.3, 0.7])
    s = np.sqrt(k * (k - 2 * z))
    spec = k * np.log(z) - (2 * s + k * np.log((k - s) / (k + s)))
    diff = imp.integrated_r(z) - spec
    np.testing.assert_allclose(diff, diff[0], rtol=1e-13)


def test_imp_monte_carlo_moments_edges_and_ks():
    """Y = (1-q)(W^T W/N)^{-1}, N = 4000, M = 1000 (q = 1/4, kappa = 3/2).

    Exact finite-N mean (N-M)/(N-M-1) (inverse-Wishart, E[(W^T W)^{-1}] = I/(N-M-1)): bias
    3.3e-4. Linear statistics fluctuate by O(1/M) (calibration, 10 seeds: sd(mean) = 0.87/M,
    sd(var) = 1.3/M, var bias ~1/M): tol 5/M for the mean, 7/M for the variance. The largest
    eigenvalue is within a few Tracy-Widom widths (sd 0.033 here) of x_+: tol 0.15. The ESD's KS
    distance is O(1/M) (rigidity), far below 1.36/sqrt(M)."""
    imp = InverseMarchenkoPastur(1.5)
    ev = imp.sample_eigenvalues(4000, rng=5)
    M = ev.size
    assert M == 1000
    assert abs(ev.mean() - 1) < 5 / M
    assert abs(ev.var() - 1 / (2 * 1.5)) < 7 / M
    assert abs(ev.max() - imp.x_plus) < 0.15 and abs(ev.min() - imp.x_minus) < 0.02
    assert stats.kstest(ev, imp.cdf).statistic < 1.36 / np.sqrt(M)
    Y = imp.sample_matrix(400, rng=5)
    assert Y.shape == (100, 100)
    np.testing.assert_allclose(Y, Y.T, atol=1e-12)


# --------------------------------------------------------------------------------------
# Wigner semicircle
# --------------------------------------------------------------------------------------
def test_wigner_density_moments_and_cdf():
    wg = Wigner(2.0)
    r = wg.radius
    for k in range(7):
        num = integrate.quad(lambda x, k=k: x**k * wg.pdf(x), -r, r, limit=200)[0]
        assert num == pytest.approx(wg.moment(k), rel=1e-9, abs=1e-12)
    assert wg.moment(4) == 2 * 4.0  # Catalan C_2 sigma^4
    for x in (-2.0, 0.0, 1.3):
        assert wg.cdf(x) == pytest.approx(integrate.quad(wg.pdf, -r, x)[0], abs=1e-12)
    p = np.linspace(0.01, 0.99, 11)
    np.testing.assert_allclose(wg.cdf(wg.ppf(p)), p, atol=1e-12)


def test_wigner_transform_identities():
    """G(R(w) + 1/w) = w on (-1/sigma, 1/sigma) and small complex w; B(G(z)) = z off the
    support; -Im G/pi = pdf; cumulants from Catalan moments = (0, sigma2, 0, ...)."""
    wg = Wigner(0.7)
    w_lo, w_hi = wg.inversion_domain()
    w = np.concatenate([np.linspace(w_lo, w_hi, 13)[1:-1], 0.5 * w_hi * np.exp(1j * np.arange(6))])
    w = w[w != 0]
    np.testing.assert_allclose(wg.stieltjes(wg.blue(w)), w, rtol=1e-12)
    z = _off_support(wg, np.concatenate([Z_GRID, [-3.0, 5.0]]))
    np.testing.assert_allclose(wg.blue(wg.stieltjes(z)), z, rtol=1e-13, atol=1e-14)
    x = np.linspace(-1.6, 1.6, 9)
    np.testing.assert_allclose(-wg.stieltjes(x).imag / np.pi, wg.pdf(x), rtol=1e-13)
    np.testing.assert_allclose(free.moments_to_free_cumulants(wg.moments(10)),
                               wg.free_cumulants(10), atol=1e-14)
    assert wg.integrated_r(2.0, 1.0) == pytest.approx(0.7 * 1.5, rel=1e-15)


def test_wigner_goe_sample():
    """GOE n = 2000 (2 seeds): G at z off the axis within 4/(n d) (linear-statistic
    fluctuation ~1/(n d)); sample kappa_2 within 6/n of sigma2 (bias O(1/n) from the GOE
    diagonal, fluctuation ~1.4/n per seed)."""
    wg = Wigner(1.3)
    n = 2000
    z = np.array([0.5 + 0.5j, -3.0 + 0.2j, 4.0])
    d = np.array([0.5, 0.2, 4.0 - wg.radius])
    evs = [wg.sample_eigenvalues(n, s) for s in (1, 2)]
    g = np.mean([free.stieltjes_samples(ev, z) for ev in evs], axis=0)
    assert np.all(np.abs(g - wg.stieltjes(z)) < 4 / (n * d))
    k2 = np.mean([EmpiricalSpectrum(ev).free_cumulants(2)[1] for ev in evs])
    assert abs(k2 / 1.3 - 1) < 6 / n


# --------------------------------------------------------------------------------------
# free Cauchy (arXiv:2507.17912 Sec. 5.4.4)
# --------------------------------------------------------------------------------------
def test_free_cauchy_distribution_and_stieltjes():
    fc = FreeCauchy(0.5, 2.0)
    assert integrate.quad(fc.pdf, -np.inf, np.inf)[0] == pytest.approx(1.0, rel=1e-12)
    p = np.linspace(0.05, 0.95, 7)
    np.testing.assert_allclose(fc.cdf(fc.ppf(p)), p, rtol=1e-14)
    for z in (1.0 + 1.0j, -3.0 + 0.1j, 2.0 - 0.5j):
        ref = integrate.quad(lambda x, z=z: (fc.pdf(x) / (z - x)).real, -np.inf, np.inf)[0] \
            + 1j * integrate.quad(lambda x, z=z: (fc.pdf(x) / (z - x)).imag, -np.inf, np.inf)[0]
        assert fc.stieltjes(z) == pytest.approx(ref, rel=1e-9)
    x = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(-fc.stieltjes(x).imag / np.pi, fc.pdf(x), rtol=1e-14)
    np.testing.assert_allclose(fc.stieltjes(x, side="lower"), np.conj(fc.stieltjes(x)))
    with pytest.raises(NotImplementedError, match="no moments"):
        fc.moment(1)
    with pytest.raises(NotImplementedError, match="analytic"):
        fc.free_cumulants(2)


def test_free_cauchy_r_both_half_planes_and_lips():
    """R = a - i gamma on Im w < 0 (where G(R + 1/w) = w holds for Im(1/w) > gamma), a + i gamma
    on Im w > 0; real w: 'upper' = paper's a + i gamma, 'lower' = a - i gamma, 'real' = a."""
    fc = FreeCauchy(0.5, 2.0)
    w = np.array([0.1 - 0.2j, -0.05 - 0.1j, 0.05 - 0.05j])
    np.testing.assert_allclose(fc.r_transform(w), 0.5 - 2j)
    np.testing.assert_allclose(fc.stieltjes(fc.blue(w)), w, rtol=1e-14)
    w_out = 0.2 - 0.05j  # Im(1/w) = 1.18 < gamma: B(w) is in the lower half plane, no identity
    assert abs(fc.stieltjes(fc.blue(w_out)) - w_out) > 0.1
    np.testing.assert_allclose(fc.r_transform(np.conj(w)), 0.5 + 2j)
    assert fc.r_transform(0.3) == 0.5 + 2j
    assert fc.r_transform(0.3, side="lower") == 0.5 - 2j
    assert fc.r_transform(0.3, side="real") == 0.5
    with pytest.raises(ValueError, match="branch cut"):
        fc.r_transform(0.3, side="raise")
    assert fc.integrated_r(3.0, 1.0) == pytest.approx(1.0, rel=1e-15)  # a (x - lower)


def test_free_cauchy_monte_carlo_g_at_i():
    """G(i) = mean of 1/(i - x) over n = 200000 Cauchy draws; |1/(i - x)| <= 1
    so the mean has finite variance: tol 4 standard errors (computed from the sample)."""
    fc = FreeCauchy(0.5, 2.0)
    x = fc.sample_eigenvalues(200_000, rng=3)
    f = 1 / (1j - x)
    se = np.sqrt(f.real.var() + f.imag.var()) / np.sqrt(x.size)
    assert abs(f.mean() - fc.stieltjes(1j)) < 4 * se
    assert np.median(x) == pytest.approx(0.5, abs=4 * np.pi * 2.0 / 2 / np.sqrt(x.size))


# --------------------------------------------------------------------------------------
# Levy / power law (arXiv:2507.17912 Sec. 5.4.7)
# --------------------------------------------------------------------------------------
def test_levy_r_principal_branch_both_lips_and_branch_point():
    lv = LevyPowerLaw(0.3, 1.2, 1.5)
    p = -0.5
    w = np.array([0.4, 2.0, 0.3 + 0.7j, -1 - 1j])
    np.testing.assert_allclose(lv.r_transform(w), 0.3 + 1.2 * np.exp(p * np.log(w)), rtol=1e-15)
    x = np.array([-0.5, -2.0])
    up = lv.r_transform(x, side="upper")
    np.testing.assert_allclose(up, 0.3 + 1.2 * np.abs(x) ** p * np.exp(1j * np.pi * p))
    np.testing.assert_allclose(lv.r_transform(x + 1e-13j), up, rtol=1e-11)
    np.testing.assert_allclose(lv.r_transform(x - 1e-13j), lv.r_transform(x, side="lower"),
                               rtol=1e-11)
    np.testing.assert_allclose(lv.r_transform(x, side="real"),
                               0.3 + 1.2 * np.abs(x) ** p * np.cos(np.pi * p), atol=1e-15)
    with pytest.raises(ValueError, match="branch point"):
        lv.r_transform(0.0)
    assert np.all(LevyPowerLaw(0.3, 1.2, 2.0).r_transform([-1.0, 0.0, 2j]) == 1.5)
    with pytest.raises(NotImplementedError, match="no density"):
        lv.pdf(1.0)
    with pytest.raises(NotImplementedError):
        lv.stieltjes(1j)


def test_levy_integrated_r_and_paper_q2():
    """d/dx G_LW = Re R (central differences, 1e-6) on both sides of 0;
    the exponent is alpha - 1 (the paper's alpha - 2 fails this check); q2_levy_paper on
    [lambda_max] is lambda_max^{alpha - 1}."""
    lv = LevyPowerLaw(0.3, 1.2, 1.6)
    h = 1e-6
    x = np.array([-3.0, -0.5, 0.5, 2.0, 7.0])
    fd = (lv.integrated_r(x + h, 0.1) - lv.integrated_r(x - h, 0.1)) / (2 * h)
    np.testing.assert_allclose(fd, lv.r_transform(x, side="real").real, rtol=1e-6)
    paper = 0.3 * x + 1.2 * np.abs(x) ** (1.6 - 2) / (1.6 - 2)  # Sec. 5.4.7 as printed
    fd_paper = (np.gradient(paper, x))
    assert not np.allclose(fd_paper, lv.r_transform(x, side="real").real, rtol=1e-2)
    assert lv.integrated_r(4.0) == pytest.approx(0.3 * 4 + 1.2 * 4**0.6 / 0.6, rel=1e-15)
    assert q2_levy_paper([9.0], 1.5) == pytest.approx(3.0, rel=1e-15)
    assert q2_levy_paper([1.0, 4.0], 1.5) == pytest.approx(1.5, rel=1e-15)
    for bad in (1.0, 2.5, float("nan")):
        with pytest.raises(ValueError, match=r"alpha must lie in \(1, 2\]"):
            LevyPowerLaw(0.0, 1.0, bad)
    with pytest.raises(ValueError, match="alpha"):
        q2_levy_paper([1.0], 1.0)
    with pytest.raises(ValueError, match="eigs"):
        q2_levy_paper([], 1.5)


# --------------------------------------------------------------------------------------
# multiplicative Wishart (arXiv:2507.17912 Sec. 5.4.6, Table 8)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("eps,phi", [(0.5, 1.5), (-0.8, 0.7), (2.0, -1.0)])
def test_mw_r_series_integral_and_poles(eps, phi):
    mw = MultiplicativeWishart(eps, phi)
    rad = mw.r_series_radius
    w = 0.4 * rad * np.exp(1j * np.linspace(0, 6, 7))
    np.testing.assert_allclose(mw.r_series(w, 60), mw.r_transform(w), rtol=1e-13, atol=1e-16)
    h = 1e-6 * rad
    x = rad * np.array([-0.7, -0.2, 0.3, 0.9, 1.5, 3.0])
    lower = np.where(x > rad, 1.2 * rad, -0.8 * rad)  # never across a pole (eps > 0)
    fd = (mw.integrated_r(x + h, lower) - mw.integrated_r(x - h, lower)) / (2 * h)
    np.testing.assert_allclose(fd, mw.r_transform(x).real, rtol=1e-6, atol=1e-9)
    quad = integrate.quad(lambda t: mw.r_transform(t).real, -0.5 * rad, 0.8 * rad)[0]
    assert mw.integrated_r(0.8 * rad, -0.5 * rad) == pytest.approx(quad, rel=1e-12)
    if eps > 0:
        with pytest.raises(ValueError, match="pole"):
            mw.integrated_r(1.5 * rad, 0.5 * rad)
        with pytest.raises(ValueError, match="pole"):
            mw.r_transform(rad)


def test_mw_is_not_the_r_transform_of_a_measure():
    """kappa_1 = kappa_2 = 0 but kappa_3 = eps phi/2: the formal moments have m2 = 0 and
    m3 != 0, violating m3^2 <= m2 m4 (Cauchy-Schwarz) -- so no density exists (read as
    printed it is not a spectrum at all; derivations/multiplicative_wishart_r.py)."""
    mw = MultiplicativeWishart(0.5, 1.5)
    k = mw.free_cumulants(7)
    np.testing.assert_allclose(k, [0, 0, 0.375, 0, 0.375 * 0.5625, 0, 0.375 * 0.5625**2])
    m = free.free_cumulants_to_moments(k)
    assert m[1] == 0.0 and m[2] ** 2 > m[1] * m[3]
    with pytest.raises(NotImplementedError, match="not the R-transform"):
        mw.pdf(0.0)
    for bad in (dict(eps=0.0, phi=1.0), dict(eps=1.0, phi=0.0), dict(eps=np.nan, phi=1.0)):
        with pytest.raises(ValueError, match="eps|phi"):
            MultiplicativeWishart(**bad)


# --------------------------------------------------------------------------------------
# truncated power law (arXiv:2507.17912 App. A.7)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [2.0, 3.0, 4.0])
@pytest.mark.parametrize("a,b", [(1.0, 10.0), (0.3, 2.0), (2.0, 1e4)])
def test_tpl_a7_cumulants_vs_moments(alpha, a, b):
    """The paper's closed-form (kappa_1, kappa_2) (App. A.7.8) = moment-based ones."""
    tpl = TruncatedPowerLaw(alpha, a, b)
    np.testing.assert_allclose(tpl.a7_free_cumulants(), tpl.free_cumulants(2), rtol=1e-12)
    C_spec = (alpha - 1) / (a ** (1 - alpha) - b ** (1 - alpha))
    assert tpl.C == pytest.approx(C_spec, rel=1e-13)


@pytest.mark.parametrize("alpha", [2.0, 2.5, 1.0, 0.4, 5.0])
def test_tpl_density_moments_cdf(alpha):
    tpl = TruncatedPowerLaw(alpha, 0.5, 20.0)
    a, b = tpl.support()
    for k in range(5):
        num = integrate.quad(lambda x, k=k: x**k * tpl.pdf(x), a, b, limit=200)[0]
        assert num == pytest.approx(tpl.moment(k), rel=1e-10)
    for x in (0.7, 3.0, 15.0):
        assert tpl.cdf(x) == pytest.approx(integrate.quad(tpl.pdf, a, x)[0], rel=1e-10)
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(tpl.cdf(tpl.ppf(p)), p, atol=1e-14)
    with pytest.raises(ValueError, match="alpha must be 2, 3 or 4"):
        TruncatedPowerLaw(2.5, 1, 2).a7_free_cumulants()


@pytest.mark.parametrize("alpha", [2.0, 2.5, 0.7])
def test_tpl_stieltjes_routes_agree(alpha):
    """G three ways: alpha = 2 closed form (corrected from App. A.7.6), the log-panel
    quadrature with pole subtraction, and adaptive quadrature of the density (free); also on
    and 1e-9 above the support, where -Im G/pi = pdf; large-z expansion."""
    tpl = TruncatedPowerLaw(alpha, 1.0, 100.0)
    z = np.array([0.3 + 0.2j, -2 + 1j, 500.0, -3.0, 50 - 0.4j, 50 + 1e-9j, 50.0, 1e5 + 1j,
                  0.1, 1.0001, 99.99 + 1e-3j, 0.5 - 0.2j])
    g = tpl.stieltjes(z)
    np.testing.assert_allclose(tpl.stieltjes_method(z, "quad"), g, rtol=1e-13)
    np.testing.assert_allclose(free.stieltjes_density(tpl.pdf, tpl.support(), z), g, rtol=1e-11)
    if alpha == 2.0:
        far = np.abs(z) > 0.5
        np.testing.assert_allclose(tpl.stieltjes_method(z[far], "closed"), g[far], rtol=1e-13)
    x = np.array([1.5, 10.0, 77.0])
    np.testing.assert_allclose(-tpl.stieltjes(x).imag / np.pi, tpl.pdf(x), rtol=1e-13)
    zl = np.array([1e4, -3e4j, 2e4 + 2e4j])
    ser = 1 / zl + tpl.moment(1) / zl**2 + tpl.moment(2) / zl**3
    assert np.all(np.abs(tpl.stieltjes(zl) - ser) < 2 * tpl.moment(3) / np.abs(zl) ** 4)
    with pytest.raises(ValueError, match="hard edges"):
        tpl.stieltjes(100.0)


def test_tpl_stieltjes_vs_mpmath():
    """Quadrature G for a non-integer alpha vs mpmath at 30 digits, including a point
    1e-6 from the support (the pole-subtraction regime)."""
    import mpmath as mpm

    mpm.mp.dps = 30
    tpl = TruncatedPowerLaw(2.7, 0.5, 40.0)
    C = mpm.mpf(tpl.C)
    for z in (3.0 + 1e-6j, 0.2 + 0.1j, -1.0, 41.0, 20.0 - 5.0j):
        ref = C * mpm.quad(lambda x, z=z: x ** mpm.mpf(-2.7) / (mpm.mpc(z) - x),
                           [0.5, 3.0, 40.0] if z.real == 3.0 else [0.5, 40.0])
        assert tpl.stieltjes(z) == pytest.approx(complex(ref), rel=1e-13)


def test_tpl_r_by_inversion_is_analytic_at_zero():
    """Truncation restores analyticity (App. A.7): the numerically inverted R matches its cumulant
    series from both sides of w = 0 with error ~ kappa_{K+1} w^K (K = 6 terms: checked against
    the next term, relative factor 4), R(0) = m1, R real in [a, b] for w > 0, and
    G(R(w) + 1/w) = w."""
    tpl = TruncatedPowerLaw(2.0, 1.0, 10.0)
    kap = tpl.free_cumulants(8)
    w = np.array([-0.02, -0.005, 0.005, 0.02])
    R = tpl.r_transform(w)
    err6 = np.abs(R - tpl.r_series(w, 6))
    next_term = np.abs(kap[6] * w**6) + np.abs(kap[7] * w**7)
    assert np.all(err6 < 4 * next_term + 1e-13 / np.abs(w))
    assert tpl.r_transform(0.0) == tpl.moment(1)
    w2 = np.array([-1.0, -0.1, 0.05, 0.1, 0.3])
    R2 = tpl.r_transform(w2)
    np.testing.assert_allclose(tpl.stieltjes(R2 + 1 / w2), w2, rtol=1e-11)
    assert np.all((R2.real >= 1.0) & (R2.real <= 10.0) & (R2.imag == 0))
    wc = np.array([0.05 + 0.05j, -0.1 - 0.02j, 0.01j])  # complex w: Newton branch of the inverse
    np.testing.assert_allclose(tpl.stieltjes(tpl.r_transform(wc) + 1 / wc), wc, rtol=1e-12)
    np.testing.assert_allclose(tpl.r_transform(wc[2:]), tpl.r_series(wc[2:], 8), rtol=1e-10)
    # integrated R (generic quadrature of the inverted R) = integral of the series, small x
    x = np.array([-0.01, 0.01])
    ser = sum(kap[k - 1] / k * x**k for k in range(1, 9))
    np.testing.assert_allclose(tpl.integrated_r(x), ser, rtol=1e-11)


def test_tpl_bare_tail_limit_of_a7():
    """As lam_max -> inf the alpha = 2 TPL's G tends to App. A.7.3's G_2 = 1/z + a ln(1 - z/a)/z^2;
    G_3, G_4 match quadrature of the bare tails (whose log at infinity forbids an R series)."""
    a = 1.0
    z = np.array([-2.0 + 1j, 0.5 + 0.5j, 3 - 1j])
    g_tpl = TruncatedPowerLaw(2.0, a, 1e12).stieltjes(z)
    np.testing.assert_allclose(g_tpl, bare_power_law_stieltjes(z, 2, a), rtol=1e-10)
    def bare(x, zi, al):
        return (al - 1) * a ** (al - 1) * x ** (-al) / (zi - x)

    for alpha in (3, 4):
        for zi in z:
            ref = integrate.quad(lambda x, zi=zi, al=alpha: bare(x, zi, al).real, a, np.inf)[0] \
                + 1j * integrate.quad(lambda x, zi=zi, al=alpha: bare(x, zi, al).imag, a,
                                      np.inf)[0]
            assert bare_power_law_stieltjes(zi, alpha, a) == pytest.approx(ref, rel=1e-8)


def test_tpl_monte_carlo_moments():
    """Inverse-CDF draws, n = 200000; sample moments within 5 standard
    errors (sd of x^k / sqrt(n), from the sample)."""
    tpl = TruncatedPowerLaw(2.5, 1.0, 50.0)
    x = tpl.sample_eigenvalues(200_000, rng=2)
    assert x.min() >= 1.0 and x.max() <= 50.0
    for k in (1, 2, 3):
        se = np.std(x**k) / np.sqrt(x.size)
        assert abs(np.mean(x**k) - tpl.moment(k)) < 5 * se
    assert stats.kstest(x, tpl.cdf).pvalue > 1e-3


def test_tpl_rejects_bad_parameters():
    for bad, name in ((dict(alpha=2.0, lam_min=0.0, lam_max=1.0), "lam_min"),
                      (dict(alpha=2.0, lam_min=2.0, lam_max=1.0), "lam_max"),
                      (dict(alpha=np.nan, lam_min=1.0, lam_max=2.0), "alpha"),
                      (dict(alpha=2.0, lam_min=1.0, lam_max=np.inf), "lam_max"),
                      (dict(alpha=400.0, lam_min=1.0, lam_max=100.0), "alpha")):
        with pytest.raises(ValueError, match=name):
            TruncatedPowerLaw(**bad)


# --------------------------------------------------------------------------------------
# empirical spectrum (arXiv:2507.17912 Sec. 5.5; docs/spectral_models.md)
# --------------------------------------------------------------------------------------
def test_empirical_single_atom():
    """An atom c repeated: kappa_1 = c, kappa_{>=2} = 0; the inverted
    R equals c for every real and complex w (G = 1/(z - c), B = 1/w + c)."""
    e = EmpiricalSpectrum([2.5] * 7)
    np.testing.assert_allclose(e.free_cumulants(6), [2.5, 0, 0, 0, 0, 0], atol=1e-13)
    w = np.array([-3.0, -0.1, 0.2, 5.0, 0.3 + 0.4j])
    np.testing.assert_allclose(e.r_transform(w), 2.5, rtol=1e-13)


def test_empirical_bernoulli_r_inversion_vs_closed_form():
    """Bernoulli(1/2) on {0, 1}: kappas 1/2, 1/4, 0, -1/16, 0; its exact
    R(w) = (w - 1 + sqrt(1 + w^2))/(2w) (from G = (1/z + 1/(z-1))/2) vs the inverted R on both
    real branches and at complex w (1e-12)."""
    e = EmpiricalSpectrum([0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(e.free_cumulants(5), [0.5, 0.25, 0, -1 / 16, 0], atol=1e-15)
    w = np.array([-5.0, -0.7, -0.01, 0.01, 0.4, 3.0, 0.2 + 0.3j, -0.1 - 0.5j])
    exact = (w - 1 + np.sqrt(1 + w * w)) / (2 * w)
    np.testing.assert_allclose(e.r_transform(w), exact, rtol=1e-12)
    np.testing.assert_allclose(e.r_transform(w[2:4], method="series", K=5), exact[2:4],
                               rtol=1e-9)
    with pytest.raises(ValueError, match="eigenvalue"):
        e.stieltjes(1.0)


def test_empirical_mp_sample_r_matches_closed_form():
    """Inverted R of MP samples (N = 2000, M = 1000) vs sigma2/(1 - q sigma2 w)
    at moderate w inside the inversion domain: O(1/M) (calibration: ~1.5e-3 at this size;
    tol 5/M); the series route agrees to the same order at small w."""
    mp = MarchenkoPastur(0.5)
    e = EmpiricalSpectrum(mp.sample_eigenvalues(2000, 1))
    w = np.array([-1.0, -0.3, 0.2, 0.5])
    assert np.max(np.abs(e.r_transform(w) - mp.r_transform(w))) < 5 / e.M
    ws = np.array([-0.1, 0.1])
    assert np.max(np.abs(e.r_transform(ws, method="series", K=8) - mp.r_transform(ws))) < 5 / e.M


def test_empirical_g_series_vs_mp_log():
    """With the MP cumulants, sum_k (kappa_k/k) t^k = -(1/q) ln(1 - q s2 t)
    up to the first omitted term (K = 5: error <= 2 kappa_6 t^6 / 6 for t <= radius / 4)."""
    mp = MarchenkoPastur(0.5, 1.2)
    ev = mp.ppf((np.arange(400) + 0.5) / 400)
    e = EmpiricalSpectrum(ev)
    kap_mp = mp.free_cumulants(6)
    t = np.array([0.05, 0.1, 0.3])

    def series(t, kap, K=5):
        return sum(kap[k - 1] / k * t**k for k in range(1, K + 1))

    exact = mp.integrated_r(t)
    assert np.all(np.abs(series(t, kap_mp) - exact) <= 2 * kap_mp[5] * t**6 / 6)
    # g_series is that series at lambda / M_ECS, with the ESD's own cumulants
    lam = t * e.M
    kap_e = e.free_cumulants(5)
    np.testing.assert_allclose(e.g_series(lam), series(t, kap_e), rtol=1e-14)
    np.testing.assert_allclose(e.g_series(t, rescale=False), e.integrated_r(t, method="series"),
                               rtol=1e-14)
    np.testing.assert_allclose(e.integrated_r(t, 0.0), free.integrated_r(e.r_transform, t),
                               rtol=1e-10)


def test_empirical_moment_conventions():
    """moment_norm='sum' reproduces the paper's un-normalised m_k = Tr X^k in the k1..k5 formulas
    (arXiv:2507.17912 Sec. 5.5, Eq. (162)); standardize=True forces kappa_1 = 0, kappa_2 = 1."""
    ev = np.array([0.5, 1.0, 2.0, 4.0])
    s = EmpiricalSpectrum(ev, moment_norm="sum")
    m1, m2 = ev.sum(), (ev**2).sum()
    np.testing.assert_allclose(s.free_cumulants(2), [m1, m2 - m1**2], rtol=1e-15)
    st = EmpiricalSpectrum(ev, standardize=True)
    np.testing.assert_allclose(st.free_cumulants(2), [0.0, 1.0], atol=1e-15)
    assert st.support()[0] == pytest.approx((0.5 - ev.mean()) / ev.std(), rel=1e-15)
    assert EmpiricalSpectrum(ev).cdf(1.0) == 0.5


@pytest.mark.parametrize("kwargs,match", [
    (dict(evals=[]), "at least one"),
    (dict(evals=[1.0, np.nan]), "finite"),
    (dict(evals=[1.0, 2.0], moment_norm="trace"), "moment_norm"),
    (dict(evals=[1.0, 1.0], standardize=True), "standard deviation"),
])
def test_empirical_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EmpiricalSpectrum(**kwargs)


# --------------------------------------------------------------------------------------
# uniform interface
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", [
    MarchenkoPastur(0.5), InverseMarchenkoPastur(1.0), Wigner(1.0),
    TruncatedPowerLaw(2.0, 1.0, 10.0), EmpiricalSpectrum([1.0, 2.0, 4.0])],
    ids=lambda m: type(m).__name__)
def test_models_vectorise_and_keep_shapes(model):
    z = np.array([[1 + 1j, -2.0], [30.0 - 1j, 0.5j]])
    g = model.stieltjes(z)
    assert g.shape == z.shape and g.dtype == np.complex128
    for zi, gi in zip(z.ravel(), g.ravel(), strict=True):
        assert model.stieltjes(zi) == pytest.approx(gi, rel=1e-14)
    w = np.array([[0.05, -0.05], [0.02 + 0.01j, 0.0]])
    r = model.r_transform(w)
    assert r.shape == w.shape and r.dtype == np.complex128
    assert r[1, 1] == pytest.approx(model.mean(), rel=1e-14)  # R(0) = kappa_1


@pytest.mark.parametrize("ctor,match", [
    (lambda: Wigner(0.0), r"sigma2 must lie in \(0, inf\)"),
    (lambda: Wigner(np.inf), "sigma2"),
    (lambda: FreeCauchy(0.0, -1.0), "gamma"),
    (lambda: FreeCauchy(np.nan, 1.0), "a must"),
    (lambda: LevyPowerLaw(np.inf, 1.0, 1.5), "a must"),
])
def test_bad_parameters_name_the_parameter(ctor, match):
    with pytest.raises(ValueError, match=match):
        ctor()


def test_methods_that_do_not_exist_say_why():
    with pytest.raises(NotImplementedError, match="point masses"):
        EmpiricalSpectrum([1.0]).pdf(1.0)
    with pytest.raises(NotImplementedError, match="MultiplicativeWishart.stieltjes"):
        MultiplicativeWishart(1.0, 1.0).stieltjes(1j)
    with pytest.raises(NotImplementedError, match="sample_matrix"):
        TruncatedPowerLaw(2.0, 1.0, 2.0).sample_matrix(3)


@pytest.mark.slow
def test_mp_kappa_error_scales_like_one_over_n():
    """Finite-size error of the sample kappa_2 (MP, q = 1/2; RMS over 30 seeds) against N =
    250..2000: fitted log-log slope -1 +- 0.3 (bias 2/N and sd 4.3/N are both O(1/N))."""
    mp = MarchenkoPastur(0.5)
    Ns = np.array([250, 500, 1000, 2000])
    err = []
    for N in Ns:
        k2 = [EmpiricalSpectrum(mp.sample_eigenvalues(N, s)).free_cumulants(2)[1]
              for s in range(30)]
        err.append(np.sqrt(np.mean((np.array(k2) - 0.5) ** 2)))
    assert np.polyfit(np.log(Ns), np.log(err), 1)[0] == pytest.approx(-1.0, abs=0.3)


# ---------------------------------------------------------------- edge accuracy (review)
def test_mp_cdf_and_ppf_at_the_hard_edge():
    """q = 1: F(x) = (2/pi) sqrt(x/sigma2) (1 - x/(24 sigma2) + O(x^2)) near the hard edge 0
    (rho = sqrt(4 - x)/(2 pi sqrt x) expanded). The cos form of the quadrature variable
    cancelled there (NaN at 1e-16, 1.0 at 1e-12)."""
    m = MarchenkoPastur(1.0)
    x = np.array([1e-16, 1e-12, 1e-10, 1e-6])
    ref = 2 / np.pi * np.sqrt(x) * (1 - x / 24)  # rho = sqrt(4 - x)/(2 pi sqrt x), expanded
    np.testing.assert_allclose(m.cdf(x), ref, rtol=1e-12)
    p = np.array([1e-9, 1e-6, 1e-3, 0.5])
    np.testing.assert_allclose(m.cdf(m.ppf(p)), p, rtol=1e-12)
    assert m.ppf(0.0) == 0.0 and m.ppf(1.0) == m.lambda_plus
    assert np.isfinite(MarchenkoPastur(1 - 1e-12).cdf(5e-25))


def test_imp_lower_edge_without_cancellation():
    """x_- x_+ = 1 exactly (x_- = kappa / (kappa + 1 + sqrt(2 kappa + 1))); the difference
    form lost all digits for small kappa (x_- = 0 at kappa = 1e-8)."""
    for k in (1e-8, 1e-6, 1e-3, 2.0):
        d = InverseMarchenkoPastur(k)
        assert d.x_minus * d.x_plus == pytest.approx(1.0, rel=1e-15)
        p = np.array([1e-6, 0.5, 1 - 1e-6])
        np.testing.assert_allclose(d.cdf(d.ppf(p)), p, rtol=1e-9)
    assert InverseMarchenkoPastur(1e-8).x_minus == pytest.approx(5e-9, rel=1e-7)


def test_nan_arguments_give_nan():
    for f in (MarchenkoPastur(0.5).pdf, MarchenkoPastur(0.5).cdf, Wigner(1.0).pdf,
              InverseMarchenkoPastur(1.0).pdf, TruncatedPowerLaw(2.5, 0.1, 10.0).pdf,
              EmpiricalSpectrum([1.0, 2.0, 3.0]).cdf):
        out = f(np.array([np.nan, 1.0]))
        assert np.isnan(out[0]) and np.isfinite(out[1])
