"""Marchenko-Pastur law: identities (normalisation, moments, CDF/PPF) and a sampled ESD."""

import numpy as np
import pytest
from scipy import integrate, stats

from setol_theory.densities import MarchenkoPastur


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
