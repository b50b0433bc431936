"""Tests for ``setol_theory.rmt`` (HCIZ) (docs/hciz.md, with its convergence tolerances).

Every value is checked against an independent route: closed forms (N = 1, 2; Bessel / erfi for
beta = 1; the large-t Laplace limit), identities (shift, swap, permutation, t -> 0), other exact
algorithms (residues vs contour vs scipy's Opitz matrix exponential), Haar / Dirichlet / Gaussian
Monte Carlo (4 standard errors), and the large-N theorems (C/N, log N / N).

The spectral models used for the asymptotics (semicircle, Marchenko-Pastur, a point mass) are
written here, independently of ``densities.py``: the asymptotic routines are duck-typed.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special
from scipy.linalg import expm

from setol_theory import rmt as H

MC_SIGMAS = 4.0  # Haar MC agrees within 4 standard errors


# ------------------------------------------------------------------------------------------
# reference spectral models (independent of densities.py)
# ------------------------------------------------------------------------------------------

class Semicircle:
    """Wigner semicircle of variance ``s2``: ``R(w) = s2 w``, edges ``+-2 sqrt s2``."""

    def __init__(self, s2: float = 1.0):
        self.s2 = s2
        self.r = 2.0 * math.sqrt(s2)

    def support(self):
        return (-self.r, self.r)

    def stieltjes(self, z):
        z = np.asarray(z, dtype=complex)
        sq = np.sqrt(z - self.r) * np.sqrt(z + self.r)  # branch ~ z at infinity
        return (z - sq) / (2.0 * self.s2)

    def r_transform(self, w):
        return self.s2 * np.asarray(w)

    def integrated_r(self, x, lower=0.0):
        return self.s2 * (np.asarray(x) ** 2 - np.asarray(lower) ** 2) / 2.0

    def cdf(self, x):
        u = np.clip(np.asarray(x) / self.r, -1.0, 1.0)
        return 0.5 + (u * np.sqrt(1.0 - u * u) + np.arcsin(u)) / np.pi

    def ppf(self, p):
        return np.array([optimize.brentq(lambda x, pi=pi: float(self.cdf(x)) - pi,
                                         -self.r, self.r, xtol=1e-15)
                         for pi in np.atleast_1d(p)])


class MarchenkoPastur:
    """MP law of ``W^T W / N`` (ratio ``q``, unit variance): ``R(w) = 1 / (1 - q w)``."""

    def __init__(self, q: float):
        self.q = q
        self.lm, self.lp = (1 - math.sqrt(q)) ** 2, (1 + math.sqrt(q)) ** 2
        # CDF in the angle variable lambda = m - h cos(phi): smooth integrand
        m, h = (self.lm + self.lp) / 2, (self.lp - self.lm) / 2
        phi = np.linspace(0.0, np.pi, 40001)
        dens = h * h * np.sin(phi) ** 2 / (2 * np.pi * q * (m - h * np.cos(phi)))
        cdf = integrate.cumulative_simpson(dens, x=phi, initial=0.0)
        self._phi, self._cdf, self._m, self._h = phi, cdf / cdf[-1], m, h

    def support(self):
        return (self.lm, self.lp)

    def stieltjes(self, z):
        z = np.asarray(z, dtype=complex)
        sq = np.sqrt(z - self.lm) * np.sqrt(z - self.lp)
        return (z - (1 - self.q) - sq) / (2 * self.q * z)

    def r_transform(self, w):
        return 1.0 / (1.0 - self.q * np.asarray(w))

    def integrated_r(self, x, lower=0.0):
        q = self.q
        return (np.log1p(-q * np.asarray(lower)) - np.log1p(-q * np.asarray(x))) / q

    def ppf(self, p):
        return self._m - self._h * np.cos(np.interp(p, self._cdf, self._phi))


class PointMass:
    """``delta_c``: ``R(w) = c``, ``G(z) = 1/(z - c)`` (infinite at the edge: no sticking)."""

    def __init__(self, c: float):
        self.c = c

    def support(self):
        return (self.c, self.c)

    def stieltjes(self, z):
        z = complex(z)
        return complex(math.inf, 0.0) if z == self.c else 1.0 / (z - self.c)

    def r_transform(self, w):
        return self.c + 0.0 * np.asarray(w)

    def integrated_r(self, x, lower=0.0):
        return self.c * (np.asarray(x) - np.asarray(lower))


SC = Semicircle(1.0)


def midpoint_quantiles(model, n):
    return model.ppf((np.arange(1, n + 1) - 0.5) / n)


@cache
def sc_midpoint(n):
    return midpoint_quantiles(SC, n)


def sc_endpoint(n):
    """Quantiles ``(i - 1)/(N - 1)``: the extreme eigenvalues sit exactly on the edges."""
    return SC.ppf(np.arange(n) / (n - 1))


# ------------------------------------------------------------------------------------------
# exact unitary HCIZ: closed forms and identities
# ------------------------------------------------------------------------------------------

def test_n1_is_exponential():
    assert H.log_hciz_exact_unitary([0.7], [-1.3], 2.0) == pytest.approx(2.0 * 0.7 * -1.3,
                                                                           rel=1e-15)


@pytest.mark.parametrize("t", [0.7, -1.9, 12.0])
def test_n2_closed_form(t):
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal(2), rng.standard_normal(2)
    closed = ((np.exp(t * (a[0] * b[0] + a[1] * b[1])) - np.exp(t * (a[0] * b[1] + a[1] * b[0])))
              / (t * (a[1] - a[0]) * (b[1] - b[0])))
    # closed form in double precision: ~1e-15 relative, plus the cancellation of its numerator
    assert H.hciz_exact_unitary(a, b, t) == pytest.approx(closed, rel=1e-12)


def test_t_zero_and_identities():
    rng = np.random.default_rng(3)
    a, b, t, c = rng.standard_normal(5), rng.standard_normal(5), 1.3, 0.8
    v = H.log_hciz_exact_unitary(a, b, t)
    assert H.log_hciz_exact_unitary(a, b, 0.0) == 0.0
    # shift: A -> A + c I multiplies by exp(t c Tr B); machine precision on the log
    assert H.log_hciz_exact_unitary(a + c, b, t) == pytest.approx(v + t * c * b.sum(), abs=1e-13)
    # swap symmetry int exp(t Tr(A U B U*)) = int exp(t Tr(B U A U*)), and spectra order
    assert H.log_hciz_exact_unitary(b, a, t) == pytest.approx(v, abs=1e-13)
    assert H.log_hciz_exact_unitary(a[::-1], rng.permutation(b), t) == pytest.approx(v, abs=1e-13)
    # t -> -t equals b -> -b
    assert H.log_hciz_exact_unitary(a, -b, -t) == pytest.approx(v, abs=1e-13)
    # Jensen's lower bound and the rearrangement upper bound (strict for non-degenerate input)
    assert t * a.sum() * b.sum() / 5 < v < t * np.sort(a) @ np.sort(b)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-2, 2, allow_subnormal=False), min_size=1, max_size=4),
       st.floats(-2, 2, allow_subnormal=False).filter(lambda t: t == 0 or abs(t) > 1e-3),
       st.floats(-1, 1, allow_subnormal=False), st.randoms(use_true_random=False))
def test_property_shift_swap_permutation(a, t, c, rnd):
    a = np.array(a)
    b = np.array([rnd.uniform(-2, 2) for _ in a])
    if rnd.random() < 0.3:  # exercise exact ties in b
        b[: len(b) // 2 + 1] = b[0]
    v = H.log_hciz_exact_unitary(a, b, t)
    tol = 1e-11 * max(1.0, abs(v))
    assert math.isfinite(v)
    assert H.log_hciz_exact_unitary(b, a, t) == pytest.approx(v, abs=tol)
    assert H.log_hciz_exact_unitary(a[::-1], b, t) == pytest.approx(v, abs=tol)
    assert H.log_hciz_exact_unitary(a + c, b, t) == pytest.approx(v + t * c * b.sum(),
                                                                  abs=tol + 1e-12)


def test_all_equal_eigenvalues():
    rng = np.random.default_rng(4)
    b = rng.standard_normal(6)
    # A = c I: the integrand is constant, exp(t c Tr B); the fully confluent (one-cluster) formula
    assert H.log_hciz_exact_unitary(np.full(6, 0.3), b, 2.0) == pytest.approx(
        2.0 * 0.3 * b.sum(), abs=1e-13)
    assert H.log_hciz_exact_unitary(b, np.full(6, -0.4), 2.0) == pytest.approx(
        -2.0 * 0.4 * b.sum(), abs=1e-13)


def test_large_t_laplace_limit_where_naive_overflows():
    # sorted a, b with gaps 1: det[e^{t a_i b_j}] = e^{t sum a_i b_i} (1 + O(e^{-t})), so
    # log I = log prod p! + t sum a_i b_i - K log t - log Delta(a) - log Delta(b) + O(e^{-t})
    a = b = np.arange(5.0)
    t, n = 150.0, 5
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.linalg.det(np.exp(t * np.outer(a, b)))
    assert not np.isfinite(naive)  # the naive formula overflows
    lvdm = sum(math.log(a[j] - a[i]) for i in range(n) for j in range(i + 1, n))
    laplace = (sum(math.lgamma(p + 1) for p in range(1, n)) + t * (a @ b)
               - n * (n - 1) / 2 * math.log(t) - 2 * lvdm)
    v = H.log_hciz_exact_unitary(a, b, t)
    assert v == pytest.approx(laplace, rel=1e-14)
    with pytest.raises(OverflowError, match="log_hciz_exact_unitary"):
        H.hciz_exact_unitary(a, b, t)


def test_near_coincidence_resolved_by_precision_and_by_snapping():
    a = np.array([-0.4, 0.2, 0.9, 1.5])
    b0 = np.array([0.0, 0.0, 1.0, 2.0])  # exact tie: confluent formula
    exact = H.log_hciz_exact_unitary(a, b0, 1.1)
    t = 1.1
    for eps in (1e-3, 1e-6, 1e-9):
        b = b0.copy()
        b[1] = eps
        # mean-value bound: |d log I / d b_j| <= |t| max|a|
        bound = abs(t) * np.max(np.abs(a)) * eps
        near = H.log_hciz_exact_unitary(a, b, t, coincidence_rtol=0.0)  # by precision
        assert abs(near - exact) <= bound
        assert abs(near - exact) > 0.05 * bound  # first order: a real difference, not a copy
    b = b0.copy()
    b[1] = 1e-12  # within the default coincidence_rtol: snapped to the mean of the cluster
    snapped = H.log_hciz_exact_unitary(a, b, t)
    assert snapped == pytest.approx(H.log_hciz_exact_unitary(a, b, t, coincidence_rtol=0.0),
                                    abs=1e-14)


# ------------------------------------------------------------------------------------------
# rank one: full HCIZ (confluent) = residues = contour = Opitz = Dirichlet MC
# ------------------------------------------------------------------------------------------

def _opitz(x):
    """(N-1)! e[x] via scipy's expm of the bidiagonal Opitz matrix (independent route)."""
    n = len(x)
    Z = np.diag(x) + np.diag(np.ones(n - 1), 1)
    return math.log(expm(Z)[0, -1] * math.factorial(n - 1))


@pytest.mark.parametrize("a", [
    np.array([-0.9, -0.2, 0.1, 0.4, 1.3, 2.0]),
    np.array([0.1, 0.1, 0.1, 0.5, -0.3, -0.3]),  # coincident eigenvalues
])
@pytest.mark.parametrize("t", [1.7, -2.4])
def test_rank_one_routes_agree(a, t):
    e1 = np.zeros(a.size)
    e1[0] = 1.0
    ref = _opitz(t * a)  # expm is accurate to ~1e-15 relative in norm, entries here O(1)
    assert H.log_spherical_integral_exact(a, t) == pytest.approx(ref, abs=1e-12)
    assert H.log_spherical_integral_exact(a, t, 2, method="contour") == pytest.approx(ref,
                                                                                    abs=1e-12)
    # full HCIZ with b = (1, 0, ..., 0): N-1 coincident zeros through the confluent formula
    assert H.log_hciz_exact_unitary(a, e1, t) == pytest.approx(ref, abs=1e-12)


def test_rank_one_as_limit_of_distinct_b():
    # b = (1, eps, 2 eps, ...) -> (1, 0, ..., 0); |d log I/d b_j| <= |t| max|a|
    rng = np.random.default_rng(8)
    a, t, n = rng.standard_normal(5), 1.5, 5
    ref = H.log_spherical_integral_exact(a, t)
    diffs = []
    for eps in (1e-2, 1e-4, 1e-6):
        b = np.concatenate([[1.0], eps * np.arange(1, n)])
        d = H.log_hciz_exact_unitary(a, b, t, coincidence_rtol=0.0) - ref
        assert abs(d) <= abs(t) * np.max(np.abs(a)) * eps * n * (n - 1) / 2
        diffs.append(d / eps)
    # first-order approach: d/eps converges (Richardson-style check of the limit)
    assert diffs[2] == pytest.approx(diffs[1], rel=1e-3)


@pytest.mark.parametrize("beta", [1, 2])
def test_rank_one_vs_dirichlet_mc(beta):
    # |u_i|^2 ~ Dirichlet(beta/2, ..., beta/2): sampled with numpy, not with the module
    rng = np.random.default_rng(20 + beta)
    a, t = np.array([-1.0, -0.3, 0.2, 0.8, 1.1]), 2.0
    w = rng.dirichlet(np.full(a.size, beta / 2), size=200_000)
    est = H.log_mean_exp(t * (w @ a))
    assert abs(est.zscore(H.log_spherical_integral_exact(a, t, beta))) < MC_SIGMAS


# ------------------------------------------------------------------------------------------
# beta = 1 rank one (contour integral): closed forms and Monte Carlo
# ------------------------------------------------------------------------------------------

def test_beta1_closed_forms():
    # N = 2: u = (cos phi, sin phi): E exp(t(a1 cos^2 + a2 sin^2)) = e^{t(a1+a2)/2} I0(t(a1-a2)/2)
    a1, a2, t = 0.3, -1.2, 2.5
    ref = t * (a1 + a2) / 2 + math.log(special.i0(t * (a1 - a2) / 2))
    assert H.log_spherical_integral_exact([a1, a2], t, 1) == pytest.approx(ref, abs=1e-13)
    # N = 3 (odd N: Hankel tail), a = (0, 0, 1): u_3 is uniform on [-1, 1] (Archimedes),
    # E exp(t u_3^2) = int_0^1 e^{t x^2} dx = sqrt(pi) erfi(sqrt t) / (2 sqrt t)
    t = 3.0
    ref = math.log(math.sqrt(math.pi) * special.erfi(math.sqrt(t)) / (2 * math.sqrt(t)))
    assert H.log_spherical_integral_exact([0.0, 0.0, 1.0], t, 1) == pytest.approx(ref, abs=1e-13)
    assert H.spherical_integral_exact_orthogonal([0.0, 1.0, 0.0], t) == pytest.approx(
        math.exp(ref), rel=1e-13)


@pytest.mark.parametrize("a,t", [(np.array([-1.0, 0.2, 0.5, 1.4]), 2.0),
                                 (np.array([-0.7, -0.1, 0.3, 0.9, 1.2]), -2.5)])
def test_beta1_contour_vs_monte_carlo(a, t):
    exact = H.log_spherical_integral_exact(a, t, 1)
    gauss = H.spherical_integral_mc(a, t, 1, 200_000, rng=5)
    assert abs(gauss.zscore(exact)) < MC_SIGMAS
    e1 = np.zeros(a.size)
    e1[0] = 1.0
    haar = H.hciz_mc(a, e1, t, 1, 50_000, rng=6)  # Haar O(N), first column
    assert abs(haar.zscore(exact)) < MC_SIGMAS


# ------------------------------------------------------------------------------------------
# Haar Monte Carlo
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", range(2, 9))
def test_exact_unitary_vs_haar_mc(n):
    rng = np.random.default_rng(100 + n)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    exact = H.log_hciz_exact_unitary(a, b, 1.0)
    est = H.hciz_mc(a, b, 1.0, 2, 200_000 if n <= 3 else 40_000, rng=rng)
    # issue 5 asks for 3 standard errors here (measured |z| <= 1.63 for N = 2..8)
    assert abs(est.zscore(exact)) < 3.0


def test_haar_moments_and_sign_fix():
    n, size = 4, 40_000
    O = H.haar_matrices(n, size, 1, rng=1)
    U = H.haar_matrices(n, size, 2, rng=2)
    assert np.allclose(O @ np.swapaxes(O, 1, 2), np.eye(n), atol=1e-12)
    assert np.allclose(U @ np.conj(np.swapaxes(U, 1, 2)), np.eye(n), atol=1e-12)

    def z(x, mu):
        return (np.mean(x) - mu) / (np.std(x) / math.sqrt(x.size))

    # Haar: E U_11 = 0, E U_11^4 = 3/(N(N+2)) (O(N)); E|U_11|^4 = 2/(N(N+1)), E U_11^2 = 0 (U(N))
    assert abs(z(O[:, 0, 0], 0.0)) < MC_SIGMAS
    assert abs(z(O[:, 0, 0] ** 4, 3 / (n * (n + 2)))) < MC_SIGMAS
    assert abs(z(np.abs(U[:, 0, 0]) ** 4, 2 / (n * (n + 1)))) < MC_SIGMAS
    assert abs(z(U[:, 0, 0].real, 0.0)) < MC_SIGMAS and abs(z(U[:, 0, 0].imag, 0.0)) < MC_SIGMAS
    assert abs(z((U[:, 0, 0] ** 2).real, 0.0)) < MC_SIGMAS
    # the same check detects the LAPACK Q without the sign fix (its Q_11 is always <= 0)
    raw, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((size, n, n)))
    assert abs(z(raw[:, 0, 0], 0.0)) > 10 * MC_SIGMAS


def test_mc_invariance_under_rotations():
    rng = np.random.default_rng(9)
    n = 3
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    V, W = H.haar_matrices(n, 2, 2, rng=rng)
    A, B = V @ np.diag(a) @ V.conj().T, W @ np.diag(b) @ W.conj().T
    exact = H.log_hciz_exact_unitary(a, b, 1.0)
    assert abs(H.hciz_mc(A, B, 1.0, 2, 100_000, rng=10).zscore(exact)) < MC_SIGMAS
    # beta = 1: rotated vs diagonal (two independent estimates)
    Vo, Wo = H.haar_matrices(n, 2, 1, rng=rng)
    rot = H.hciz_mc(Vo @ np.diag(a) @ Vo.T, Wo @ np.diag(b) @ Wo.T, 1.0, 1, 100_000, rng=11)
    dia = H.hciz_mc(a, b, 1.0, 1, 100_000, rng=12)
    se = math.hypot(rot.log_stderr, dia.log_stderr)
    assert abs(rot.log_mean - dia.log_mean) < MC_SIGMAS * se


def test_mc_reproducible_and_log_mean_exp():
    a, b = [0.1, 0.5, -0.3], [1.0, 0.0, 2.0]
    r1 = H.hciz_mc(a, b, 0.5, 2, 1000, rng=3)
    r2 = H.hciz_mc(a, b, 0.5, 2, 1000, rng=np.random.default_rng(3), batch_size=77)
    assert r1 == r2  # same stream whatever the batching
    s1 = H.spherical_integral_mc(a, 2.0, 1, 1000, rng=4)
    assert s1 == H.spherical_integral_mc(a, 2.0, 1, 1000, rng=4, batch_size=33)
    assert s1 != H.spherical_integral_mc(a, 2.0, 1, 1000, rng=5)
    x = np.random.default_rng(0).normal(size=5000)
    est = H.log_mean_exp(x)
    w = np.exp(x)
    assert est.log_mean == pytest.approx(math.log(w.mean()), abs=1e-14)
    assert est.stderr == pytest.approx(w.std(ddof=1) / math.sqrt(x.size), rel=1e-12)
    big = H.log_mean_exp(x + 5000.0)  # would overflow without the max shift
    assert big.log_mean == pytest.approx(est.log_mean + 5000.0, rel=1e-15)
    assert big.log_stderr == pytest.approx(est.log_stderr, rel=1e-10)


# ------------------------------------------------------------------------------------------
# large N
# ------------------------------------------------------------------------------------------

def test_rate_closed_forms_semicircle_and_phases():
    # semicircle (R(w) = w, g_+ = G(2) = 1): F = s^2/2 for |s| <= 1,
    # F = 2|s| - 1 - log|s| - int log(2 - x) dmu_sc = 2|s| - 3/2 - log|s| beyond
    for s in (0.3, -0.7, 1.0):
        assert H.spherical_integral_rate(s, SC) == pytest.approx(s * s / 2, rel=1e-13)
    for s in (1.5, -3.0):
        ref = 2 * abs(s) - 1.5 - math.log(abs(s))
        assert H.spherical_integral_rate(s, SC) == pytest.approx(ref, rel=1e-13)
    assert H.critical_coupling(SC, 2) == pytest.approx((-1.0, 1.0))
    assert H.critical_coupling(SC, 1) == pytest.approx((-0.5, 0.5))
    # limit (beta/2) F(2 theta / beta)
    assert H.spherical_integral_asymptotic(0.4, SC, 1) == pytest.approx(0.5 * 0.8 ** 2 / 2)
    assert H.spherical_integral_asymptotic(0.4, SC, 2) == pytest.approx(0.4 ** 2 / 2)


@pytest.mark.parametrize("q", [0.25, 0.5])
def test_rate_is_c1_at_both_edges(q):
    mp = MarchenkoPastur(q)
    gm, gp = H.critical_coupling(mp)
    assert gp == pytest.approx(1 / (math.sqrt(q) * (1 + math.sqrt(q))), rel=1e-12)
    assert gm == pytest.approx(-1 / (math.sqrt(q) * (1 - math.sqrt(q))), rel=1e-12)
    h = 1e-5
    for g in (gm, gp):
        f = [H.spherical_integral_rate(g + k * h, mp) for k in (-2, -1, 0, 1, 2)]
        left, right = (f[2] - f[0]) / (2 * h), (f[4] - f[2]) / (2 * h)
        # one-sided differences at step 2h: O(h F'') apart unless F' jumps
        assert right == pytest.approx(left, abs=20 * h * (1 + abs(1 / g)))
        assert left == pytest.approx(float(mp.r_transform(g)), abs=20 * h * (1 + abs(1 / g)))


def test_empirical_rate_identities():
    # point mass: R = c, F(s) = c s on both branches (series |s| < 1e-4, root-finding beyond)
    for s in (-2.0, -1e-6, 1e-6, 0.5, 30.0):
        assert H.spherical_integral_rate(s, [0.7]) == pytest.approx(0.7 * s, rel=1e-12)
        assert H.spherical_integral_rate(s, PointMass(0.7)) == pytest.approx(0.7 * s, rel=1e-12)
    evals = np.array([-1.0, 0.2, 0.3, 1.7, 2.5])
    # F'(s) = R(s) and G(R(s) + 1/s) = s for the empirical G
    for s in (-3.0, -0.4, 0.2, 1.0, 6.0):
        h = 1e-5 * max(1.0, abs(s))
        dF = (H.spherical_integral_rate(s + h, evals) - H.spherical_integral_rate(s - h, evals))
        z = dF / (2 * h) + 1 / s
        assert np.mean(1 / (z - evals)) == pytest.approx(s, rel=1e-7)
    # the two branches join: series below |s| max|a| = 1e-4, root-finding above
    s0 = 1e-4 / 2.5
    lo, hi = (H.spherical_integral_rate(s0 * (1 + d), evals) for d in (-1e-9, 1e-9))
    assert hi == pytest.approx(lo, rel=1e-8)
    assert H.critical_coupling(evals) == (-math.inf, math.inf)


def test_subcritical_convergence_rate_beta2():
    # docs/hciz.md: exact rank one at N = 25..200, deterministic semicircle quantiles, error ~ C/N
    res = H.asymptotic_convergence(SC, 0.5, (25, 50, 100, 200), beta=2, eigenvalues=sc_midpoint)
    assert res.phase == "sub-critical"
    assert np.all(np.abs(res.errors) < 2.0 / res.sizes)
    # local slope -1 - O(1/N): the 1/N^2 terms shift a fit over N = 25..200 by a few percent
    assert -1.15 < res.slope < -0.85


def test_subcritical_convergence_rate_beta1():
    res = H.asymptotic_convergence(SC, 0.25, (25, 50, 100, 200), beta=1, eigenvalues=sc_midpoint)
    assert res.phase == "sub-critical"
    assert np.all(np.abs(res.errors) < 2.0 / res.sizes)
    assert -1.15 < res.slope < -0.85


@pytest.mark.parametrize("beta,theta,model", [(2, 0.5, "sc"), (1, 0.3, "sc"), (2, -2.0, "mp"),
                                              (2, 0.3, "mp")])
def test_subcritical_second_order_term(beta, theta, model):
    # Steepest descent on the contour integral (both beta) gives
    # log I_N = N (beta/2) F_N(s) + (1/2) log(1 - s^2 R'(s)) + O(1/N),  s = 2 theta / beta,
    # with F_N the empirical F of the spectrum: N * error -> (1/2) log(1 - s^2 R'(s)).
    mdl = SC if model == "sc" else MarchenkoPastur(0.5)
    s = 2 * theta / beta
    rprime = 1.0 if model == "sc" else 0.5 / (1 - 0.5 * s) ** 2
    c = 0.5 * math.log(1 - s * s * rprime)
    for n in (100, 200):
        a = sc_midpoint(n) if model == "sc" else midpoint_quantiles(mdl, n)
        err = (H.log_spherical_integral_exact(a, n * theta, beta)
               - n * H.spherical_integral_asymptotic(theta, a, beta))
        assert abs(err - c) < 2.0 / n  # the next order, O(1/N); observed ~0.4/N to 1.5/N


def test_supercritical_within_log_n_over_n():
    # docs/hciz.md: above the critical coupling the error is O(log N / N), tolerance 1.5 log N / N.
    # With the top eigenvalue on the edge (a_max = lambda_+):
    res = H.asymptotic_convergence(SC, 2.0, (25, 50, 100, 200), beta=2, eigenvalues=sc_endpoint)
    assert res.phase == "super-critical"
    assert np.all(np.abs(res.errors) < 1.5 * np.log(res.sizes) / res.sizes)
    # against the empirical F of the same spectra (no edge approximation at all)
    for n, ex in zip(res.sizes, res.exact, strict=True):
        emp = H.spherical_integral_asymptotic(2.0, sc_endpoint(int(n)), 2)
        assert abs(ex - emp) < 1.5 * math.log(n) / n


@pytest.mark.parametrize("beta,theta,model", [(2, 2.0, "sc"), (1, 1.5, "sc"), (2, -7.0, "mp")])
def test_supercritical_midpoint_quantiles_edge_term(beta, theta, model):
    # Midpoint quantiles leave a gap lambda_+ - a_max ~ N^(-2/3) at the edge; dF/d lambda_edge =
    # s - g_edge in the sticking phase, so the error contains (beta/2)(s - g_e)(a_e - lambda_e).
    # After removing it the remainder is within 1.5 log N / N (docs/hciz.md).
    mdl = SC if model == "sc" else MarchenkoPastur(0.5)
    res = H.asymptotic_convergence(mdl, theta, (50, 100, 200), beta=beta)
    assert res.phase == "super-critical"
    assert np.all(np.abs(res.errors - res.edge_terms) < 1.5 * np.log(res.sizes) / res.sizes)
    assert np.all(np.sign(res.edge_terms) == -1.0)  # the gap always lowers the finite-N value


def test_lowrank_tanaka_rank_two():
    # rank-2 B = diag(b1, b2, 0, ...): (1/N) log E exp(N Tr(A U B U*)) (beta = 2)
    #   -> F(b1) + F(b2) (Tanaka 2008), sub-critical b_k < g_+ = 1; error ~ C/N
    b12 = np.array([0.4, 0.7])
    limit = H.hciz_lowrank_asymptotic(b12, SC, 2)
    assert limit == pytest.approx((0.4 ** 2 + 0.7 ** 2) / 2, rel=1e-14)
    sizes = np.array([8, 16, 32])
    errs = []
    for n in sizes:
        b = np.zeros(n)
        b[:2] = b12
        errs.append(H.log_hciz_exact_unitary(sc_midpoint(int(n)), b, float(n)) / n - limit)
    errs = np.abs(errs)
    assert np.all(errs < 2.0 / sizes)
    slope = np.polyfit(np.log(sizes), np.log(errs), 1)[0]
    assert -1.2 < slope < -0.8


def test_asymptotic_convergence_result_and_table():
    res = H.asymptotic_convergence(SC, 0.3, (20, 40), eigenvalues=sc_midpoint)
    assert res.sizes.tolist() == [20, 40] and res.asymptotic == pytest.approx(0.045)
    assert res.errors == pytest.approx(res.exact - res.asymptotic)
    assert np.all(res.edge_terms == 0.0)
    text = res.table()
    assert "sub-critical" in text and "N^" in text and len(text.splitlines()) == 5
    with pytest.raises(TypeError, match="ppf"):
        H.asymptotic_convergence(PointMass(1.0), 0.3)
    with pytest.raises(ValueError, match="sizes"):
        H.asymptotic_convergence(SC, 0.3, (20,), eigenvalues=sc_midpoint)


# ------------------------------------------------------------------------------------------
# paper form
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("beta_d", [1, 2])
def test_paper_gamma_inf_matches_standard_form_for_constant_r(beta_d):
    # For constant R = c the paper's n beta sum G(lambda_i) (lambda_min = 0) equals Tanaka's
    # (beta_D/2) sum F(2 n beta lambda_i / beta_D); only then (docs/hciz.md).
    eigs, n, beta, c = np.array([0.5, 1.0, 3.0]), 7.0, 0.3, 1.7
    paper = H.paper_gamma_inf(eigs, PointMass(c), n, beta, lambda_min=0.0)
    assert paper == pytest.approx(n * beta * c * eigs.sum(), rel=1e-14)
    standard = H.hciz_lowrank_asymptotic(2 * n * beta * eigs / beta_d, PointMass(c), beta_d)
    assert standard == pytest.approx(paper, rel=1e-13)
    # callable G and the default lower limit min(eigs)
    assert H.paper_gamma_inf(eigs, lambda x: x * x, 2.0, 0.5) == pytest.approx(
        np.sum(eigs ** 2), rel=1e-14)
    assert H.paper_gamma_inf(eigs, PointMass(c), 1.0, 1.0) == pytest.approx(
        c * np.sum(eigs - 0.5), rel=1e-14)


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,exc,match", [
    (lambda: H.log_hciz_exact_unitary([1.0, np.nan], [0.0, 1.0]), ValueError, "a contains"),
    (lambda: H.log_hciz_exact_unitary([1.0, 2.0], [0.0, np.inf]), ValueError, "b contains"),
    (lambda: H.log_hciz_exact_unitary([1.0, 2.0], [0.0, 1.0], np.nan), ValueError, "t must"),
    (lambda: H.log_hciz_exact_unitary([1.0, 2.0], [0.0, 1.0, 2.0]), ValueError, "same length"),
    (lambda: H.log_hciz_exact_unitary([1.0, 2.0], [0.0, 1.0], "1"), TypeError, "t must"),
    (lambda: H.log_hciz_exact_unitary([1j, 2.0], [0.0, 1.0]), TypeError, "a must"),
    (lambda: H.log_hciz_exact_unitary([], []), ValueError, "a is empty"),
    (lambda: H.log_hciz_exact_unitary(np.eye(2), [0.0, 1.0]), ValueError, "a must be 1-D"),
    (lambda: H.log_hciz_exact_unitary(np.linspace(0, 1, 30), np.linspace(0, 1, 30),
                                      max_dps=100), ValueError, "max_dps = 100"),
    (lambda: H.log_spherical_integral_exact([1.0, 2.0], 1.0, 3), ValueError, "beta"),
    (lambda: H.log_spherical_integral_exact([1.0, 2.0], 1.0, "2"), TypeError, "beta"),
    (lambda: H.log_spherical_integral_exact([1.0, 2.0], 1.0, 1, method="residues"),
     ValueError, "residues"),
    (lambda: H.hciz_mc([1.0, 2.0], [1.0], 1.0), ValueError, "same size"),
    (lambda: H.hciz_mc([[1.0, 2.0], [0.0, 1.0]], [1.0, 0.0], 1.0), ValueError, "Hermitian"),
    (lambda: H.hciz_mc([1.0, 2.0], [1.0, 0.0], 1.0, 2, 1), ValueError, "n_samples"),
    (lambda: H.hciz_mc(np.eye(2) * 1j, [1.0, 0.0], 1.0, 1), TypeError, "beta = 1"),
    (lambda: H.spherical_integral_mc([1.0, np.inf], 1.0), ValueError, "a contains"),
    (lambda: H.haar_matrices(3, 2, beta=True), TypeError, "beta"),
    (lambda: H.spherical_integral_rate(0.5, "semicircle"), TypeError, "spectrum"),
    (lambda: H.spherical_integral_rate(np.nan, SC), ValueError, "finite"),
    (lambda: H.hciz_lowrank_asymptotic([0.5, np.nan], SC), ValueError, "b contains"),
    (lambda: H.paper_gamma_inf([1.0], 3.0, 1.0, 1.0), TypeError, "g_layer"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_unbounded_support_diverges():
    class HeavyTail(Semicircle):
        def support(self):
            return (0.0, math.inf)

    with pytest.raises(ValueError, match="unbounded"):
        H.spherical_integral_rate(0.5, HeavyTail())


def test_exact_unitary_n30_high_precision_path():
    # ~500 digits: swap symmetry a <-> b and the confluent rank-one case against the residues
    a, b = sc_midpoint(30), midpoint_quantiles(MarchenkoPastur(0.5), 30)
    v = H.log_hciz_exact_unitary(a, b, 1.0)
    assert H.log_hciz_exact_unitary(b, a, 1.0) == pytest.approx(v, abs=1e-12)
    e1 = np.zeros(30)
    e1[-1] = 1.0
    assert H.log_hciz_exact_unitary(a, e1, 9.0) == pytest.approx(
        H.log_spherical_integral_exact(a, 9.0), abs=1e-12)


# ------------------------------------------------------------------------------------------
# slow (SETOL_SLOW=1)
# ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_slow_exact_unitary_n40_swap():
    # ~1050 digits, ~6 s per evaluation in pure-Python mpmath
    a, b = sc_midpoint(40), midpoint_quantiles(MarchenkoPastur(0.5), 40)
    assert H.log_hciz_exact_unitary(a, b, 1.0) == pytest.approx(
        H.log_hciz_exact_unitary(b, a, 1.0), abs=1e-12)


@pytest.mark.slow
def test_slow_subcritical_convergence_to_large_n():
    res = H.asymptotic_convergence(SC, 0.5, (25, 50, 100, 200, 400, 800), beta=2,
                                   eigenvalues=sc_midpoint)
    assert np.all(np.abs(res.errors) < 2.0 / res.sizes)
    assert -1.1 < res.slope < -0.9
    res = H.asymptotic_convergence(SC, 0.25, (50, 100, 200, 400), beta=1,
                                   eigenvalues=sc_midpoint)
    assert np.all(np.abs(res.errors) < 2.0 / res.sizes)
    assert -1.1 < res.slope < -0.9
