"""ECS selection, TraceLog (detX) / ERG, G functions and layer quality per spectral model,
quality tables and model-derived curves (docs/quality.md, docs/spectral_models.md;
arXiv:2507.17912 Sec. 5.2-5.5)."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize

from setol_theory import rmt as free
from setol_theory.htsr import (
    detx_lambda_min,
    erg_metrics,
    erg_residual,
    rescale_frobenius_M,
    tracelog_partial_sums,
)
from setol_theory.quality import (
    ECS,
    ECSError,
    QualityError,
    fit_free_cauchy,
    g_bulk_spikes,
    g_empirical,
    g_imp,
    g_levy_wigner,
    g_series_from_cumulants,
    g_tpl,
    imp_gtable_logq,
    integrate_re_r,
    layer_quality,
    layer_quality_table,
    log10_quality,
    model_quality,
    q2_bulk_spikes,
    q2_empirical,
    q2_free_cauchy,
    q2_imp,
    q2_levy_wigner,
    q2_tpl,
    quality_curve,
    select_ecs,
    st_linear_quality_table,
    synthetic_spectrum,
)
from setol_theory.rmt import (
    EmpiricalSpectrum,
    InverseMarchenkoPastur,
    LevyPowerLaw,
    MarchenkoPastur,
    TruncatedPowerLaw,
    q2_levy_paper,
)

SPEC = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.1])  # a small test spectrum


def test_partial_sums_of_spec_example():
    desc, S = tracelog_partial_sums(SPEC[::-1])
    np.testing.assert_array_equal(desc, SPEC)
    np.testing.assert_allclose(S[:5], np.log([4, 8, 8, 4, 1]), atol=1e-15)


def test_closest_rule_spec_example():
    d = detx_lambda_min(SPEC, rule="closest", normalization="none")
    assert (d.num_ecs, d.lambda_min, d.crossed) == (5, 0.25, True)
    assert d.residual == pytest.approx(0.0, abs=1e-15)


def test_first_below_rule_spec_example():
    """The reference tool stops at the first k whose product is < 1 (strictly)."""
    d = detx_lambda_min(SPEC, rule="first_below", normalization="none")
    assert (d.num_ecs, d.lambda_min) == (6, 0.1)
    assert d.residual == pytest.approx(math.log(0.1), rel=1e-14)


def test_scaling_moves_the_cutoff_without_rescaling_but_not_with_it():
    a = detx_lambda_min(SPEC, rule="closest", normalization="none")
    b = detx_lambda_min(2 * SPEC, rule="closest", normalization="none")
    assert b.num_ecs != a.num_ecs
    c = detx_lambda_min(SPEC, normalization="frobenius_M")
    d = detx_lambda_min(7.5 * SPEC, normalization="frobenius_M")
    assert c.num_ecs == d.num_ecs
    assert d.lambda_min == pytest.approx(7.5 * c.lambda_min, rel=1e-14)


def test_no_crossing():
    d = detx_lambda_min([5.0, 3.0, 2.0], normalization="none")
    assert not d.crossed and d.num_ecs == 3 and d.lambda_min == 2.0


def test_rescale_and_residual_against_direct_sum():
    rng = np.random.default_rng(0)
    x = rng.pareto(2.0, 500) + 0.01
    r, f = rescale_frobenius_M(x)
    assert r.sum() == pytest.approx(x.size, rel=1e-13)
    cut = np.quantile(x, 0.8)
    direct = np.sum(np.log(f * x[x >= cut]))
    assert erg_residual(x, cut) == pytest.approx(direct, rel=1e-13)
    d = detx_lambda_min(x)
    # the condition holds at the detX edge: S_{k-1} >= 0 > S_k for the first_below rule
    assert erg_residual(x, d.lambda_min) < 0
    assert erg_residual(x, np.sort(x)[::-1][d.num_ecs - 2]) >= 0


def test_erg_metrics_gap_sign():
    """A heavy tail (Pareto, alpha = 1 + mu) whose PL xmin is above the detX edge: gap > 0."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(0.05, 1.0, 800), 1.0 + rng.pareto(2.5, 200)])
    m = erg_metrics(x, xmin=1.0)
    assert m.erg_gap == pytest.approx(1.0 - m.erg_lambda_min, rel=1e-15)
    assert m.num_tail_pl == int(np.sum(x >= 1.0))


@pytest.mark.parametrize("bad,exc", [([], ValueError), ([1.0, np.nan], ValueError),
                                     ([1.0, -1.0], ValueError), (["a"], TypeError)])
def test_bad_spectra(bad, exc):
    with pytest.raises(exc, match="evals"):
        detx_lambda_min(np.array(bad))


def test_bad_options():
    with pytest.raises(ValueError, match="rule"):
        detx_lambda_min(SPEC, rule="nope")
    with pytest.raises(ValueError, match="normalization"):
        detx_lambda_min(SPEC, normalization="N")


# ======================================================================================
# ECS selection, G functions, layer quality, quality table, model-derived curves
# ======================================================================================
@pytest.fixture(scope="module")
def imp_spectrum():
    """IMP(kappa = 1) at its quantiles: a deterministic ESD with a bulk and a PL-like tail."""
    return synthetic_spectrum("imp", 2.0, 384)


# -- select_ecs -----------------------------------------------------------------------
def test_select_ecs_rules_and_delta(imp_spectrum):
    x = imp_spectrum
    d = select_ecs(x, "detx")
    ref = detx_lambda_min(x)
    assert (d.rule, d.num_ecs) == ("detx", ref.num_ecs)
    assert d.lambda_min == ref.lambda_min == np.sort(x)[::-1][ref.num_ecs - 1]  # an eigenvalue
    assert d.num_ecs == int(np.sum(x >= d.lambda_min))
    assert np.all(np.diff(d.evals) <= 0) and d.evals[-1] == d.lambda_min
    assert d.delta_lambda_min == d.xmin - d.lambda_min_detx
    # first_below: the detX ECS is the first top set whose log-determinant is negative
    assert d.erg_residual == pytest.approx(erg_residual(x, d.lambda_min), rel=1e-12)
    assert d.erg_residual == ref.residual < 0
    p = select_ecs(x, "xmin")
    assert p.lambda_min == p.xmin and p.num_ecs == p.num_tail == int(np.sum(x >= p.xmin))
    assert p.erg_residual == p.erg_residual_at_xmin
    v = select_ecs(x, 1.5)
    assert v.rule == "value" and v.num_ecs == int(np.sum(x >= 1.5)) and v.lambda_min >= 1.5
    # a given fit is used as is
    g = select_ecs(x, "xmin", xmin=1.2, alpha=3.0)
    assert (g.xmin, g.alpha, g.num_ecs) == (1.2, 3.0, int(np.sum(x >= 1.2)))


def test_select_ecs_is_scale_covariant(imp_spectrum):
    a, b = select_ecs(imp_spectrum), select_ecs(7.0 * imp_spectrum)
    assert a.num_ecs == b.num_ecs and a.num_tail == b.num_tail
    assert b.delta_lambda_min == pytest.approx(7.0 * a.delta_lambda_min, rel=1e-12)
    assert b.erg_residual == pytest.approx(a.erg_residual, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("spectrum,rule,match", [
    (np.ones(20), "detx", "no solution"),  # S_k = 0 for every k: det X_ECS never < 1
    # exact zeros are left out: [4, 4] rescaled to sum 2 is [1, 1], S_k = 0 for every k
    (np.r_[4.0, 4.0, np.zeros(8)], "detx", "no solution"),
    (np.linspace(1, 2, 50), 2.5, "empty"),
    (np.linspace(1, 2, 50), 1.95, "fewer than min_ecs"),
    (np.full(30, 2.0), "xmin", "power-law"),  # no tail to fit
])
def test_select_ecs_errors(spectrum, rule, match):
    with pytest.raises(ECSError, match=match):
        select_ecs(spectrum, rule)


def test_select_ecs_bad_options():
    x = np.linspace(0.1, 3, 40)
    for bad, exc in (("bogus", ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                     (True, TypeError), ([1.0], TypeError)):
        with pytest.raises(exc):
            select_ecs(x, bad)
    with pytest.raises(ValueError, match="min_ecs"):
        select_ecs(x, min_ecs=0)
    with pytest.raises(ValueError, match="given xmin"):
        select_ecs(x, "xmin", xmin=float("nan"))
    with pytest.raises(ValueError, match="evals"):
        select_ecs([1.0, np.nan])


# -- integration helper ------------------------------------------------------------------
@pytest.mark.parametrize("method", ["chebyshev", "panels"])
def test_integrate_re_r_against_mp_closed_form(method):
    mp = MarchenkoPastur(0.5, 1.0)  # R = 1/(1 - w/2), pole at w = 2
    lam = np.array([0.06, 0.3, 0.9, 1.2, 1.5])
    got = integrate_re_r(mp.r_transform, lam, 0.05, method=method)
    np.testing.assert_allclose(got, mp.integrated_r(lam, 0.05), rtol=1e-11, atol=1e-14)
    assert integrate_re_r(mp.r_transform, [0.05, 0.05], 0.05).tolist() == [0.0, 0.0]
    with pytest.raises(QualityError, match=">= lam_min"):
        integrate_re_r(mp.r_transform, [0.01], 0.05)


# -- Bulk + Spikes -------------------------------------------------------------------------
def test_bulk_spikes_spec_identity_and_linearity():
    rng = np.random.default_rng(3)
    ev = 1.0 + rng.pareto(2.5, 40)
    s = ev.sum()
    assert q2_bulk_spikes(ev, exact=False) == pytest.approx(s * s, rel=1e-12)  # [MH2025] Table 9
    assert q2_bulk_spikes(ev, variant="table") == pytest.approx(s * s / ev.size, rel=1e-12)
    lm = ev.min()
    assert q2_bulk_spikes(ev, exact=True) == pytest.approx(s * (s - ev.size * lm), rel=1e-12)
    g = g_bulk_spikes(np.array([1.0, 2.0, 4.0]), 1.0, 3.0, exact=True)
    np.testing.assert_allclose(np.diff(g), [3.0, 6.0], rtol=1e-15)  # linear, slope c


# -- free Cauchy ---------------------------------------------------------------------------
def test_free_cauchy_quality_and_fit():
    ev = np.array([5.0, 3.0, 2.0, 1.5, 1.0])
    assert q2_free_cauchy(ev, 1.0, a=0.7) == pytest.approx(0.7 * (ev.sum() - 5 * 1.0), rel=1e-14)
    assert q2_free_cauchy(ev, a=2.0) == q2_free_cauchy(ev, 1.0, a=2.0)  # default lambda_min
    # quantile estimators of location / half-width: SE of the median pi gamma/(2 sqrt n),
    # of IQR/2 about the same; 4 standard errors. (|x| folds the mass below -a, 8e-4 here,
    # which moves the median by ~8e-4 pi gamma, far below the SE.)
    rng = np.random.default_rng(0)
    n, a, gam = 20000, 100.0, 0.5
    fc = fit_free_cauchy(np.abs(a + gam * rng.standard_cauchy(n)))
    se = np.pi * gam / (2 * np.sqrt(n))
    assert abs(fc.a - a) < 4 * se and abs(fc.gamma - gam) < 4 * 1.2 * se
    with pytest.raises(QualityError, match="interquartile"):
        fit_free_cauchy(np.full(8, 2.0))


# -- Levy-Wigner ---------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.3, 1.7, 2.0])
def test_levy_wigner_derivative_is_re_r(alpha):
    a, b, lm = 0.4, 1.3, 0.5
    R = LevyPowerLaw(a, b, alpha)
    lam = np.array([0.8, 2.0, 7.5])
    h = 1e-5 * lam
    dG = (g_levy_wigner(lam + h, lm, alpha, a=a, b=b)
          - g_levy_wigner(lam - h, lm, alpha, a=a, b=b)) / (2 * h)
    np.testing.assert_allclose(dG, R.r_transform(lam, side="real").real, rtol=1e-6)
    assert g_levy_wigner(lm, lm, alpha, a=a, b=b) == 0.0


def test_levy_wigner_paper_forms():
    lmax, alpha = 37.0, 1.6
    assert q2_levy_paper([lmax], alpha) == pytest.approx(lmax ** (alpha - 1), rel=1e-14)
    ev = np.array([9.0, 4.0, 3.0, 2.5, 2.0])
    # with the paper's b = (alpha-1)/M_ECS the true integral is the Schatten form minus the
    # lower limit's term
    assert q2_levy_wigner(ev, None, alpha) == pytest.approx(
        q2_levy_paper(ev, alpha) - 2.0 ** (alpha - 1), rel=1e-13)
    with pytest.raises(QualityError, match="1 < alpha <= 2"):
        q2_levy_wigner(ev, None, 2.5)


# -- inverse Marchenko-Pastur ---------------------------------------------------------------
@pytest.mark.parametrize("form", ["integral", "log"])
def test_imp_g_at_e2_lambda_min(form):
    kappa = 1.5
    lm = 0.9  # >= kappa/2: beyond the branch point, Re R = kappa/z
    assert g_imp(np.e**2 * lm, lm, kappa, form=form) == pytest.approx(2 * kappa, rel=1e-13)


def test_imp_integral_across_the_branch_point():
    kappa, lm = 1.5, 0.2  # lambda_min below the branch point kappa/2 = 0.75
    imp = InverseMarchenkoPastur(kappa)
    lam = np.array([0.5, 0.74, 0.76, 3.0])  # both sides of the cut
    h = 1e-6
    dG = (g_imp(lam + h, lm, kappa) - g_imp(lam - h, lm, kappa)) / (2 * h)
    np.testing.assert_allclose(dG, imp.r_transform(lam, side="real").real, rtol=1e-7)
    # below the cut R = 2 kappa/(kappa + s) <= 2 < kappa/z: the integral is below the log form
    assert g_imp(3.0, lm, kappa) < g_imp(3.0, lm, kappa, form="log")
    assert q2_imp([3.0, 1.0, 0.2], alpha=3.0) == pytest.approx(
        float(np.sum(g_imp(np.array([3.0, 1.0, 0.2]), 0.2, 1.5))), rel=1e-14)
    assert imp_gtable_logq(100.0, 1.0, 2.5) == pytest.approx(10.0, rel=1e-14)


# -- truncated power law -------------------------------------------------------------------
def test_tpl_quality_two_routes_and_edge_regime():
    a, b, alpha = 0.4, 40.0, 3.0
    tpl = TruncatedPowerLaw(alpha, a, b)
    lam = np.array([0.5, 2.0, 11.0, 40.0])
    g = g_tpl(lam, a, alpha, b)
    ref = free.integrated_r(lambda t: tpl.r_transform(t), lam[:2], a)  # adaptive quadrature
    np.testing.assert_allclose(g[:2], ref, rtol=1e-9)
    # w = lambda is far beyond G(b+) ~ 1/(b - m1): G^{-1}(w) is pinned at the hard edge b and
    # R(w) = b - 1/w (docs/quality.md), so G = b (lambda - a) - ln(lambda / a)
    np.testing.assert_allclose(g, b * (lam - a) - np.log(lam / a), rtol=1e-10)
    ev = np.array([40.0, 11.0, 2.0, 0.5, 0.4])
    assert q2_tpl(ev, None, alpha) == pytest.approx(float(np.sum(g_tpl(ev, 0.4, alpha, 40))))


# -- empirical: free-cumulant series and exact R ---------------------------------------------
@pytest.mark.parametrize("t", [0.02, 0.05, 0.1])
def test_cumulant_series_vs_mp_closed_form(t):
    """sum_k kappa_k t^k / k vs -(1/c) ln(1 - c sigma2 t)."""
    c, s2, K = 0.5, 1.0, 5
    mp = MarchenkoPastur(c, s2)
    exact = mp.integrated_r(t)
    # remainder sum_{k>K} c^{k-1} s2^k t^k / k <= s2 t (c s2 t)^K / ((K+1)(1 - c s2 t))
    bound = s2 * t * (c * s2 * t) ** K / ((K + 1) * (1 - c * s2 * t))
    err = abs(g_series_from_cumulants(mp.free_cumulants(K), t) - exact)
    assert err <= bound
    assert err >= 0.5 * bound * (K + 1) / (K + 2) * (1 - c * s2 * t)  # the bound is sharp
    # the same through an ESD: MP eigenvalues at the quantiles (M = 4000); their moments
    # differ from MP's by O(1/M)
    ev = mp.ppf((np.arange(4000) + 0.5) / 4000)
    g = g_empirical(t, ev, K=K, rescale=False)
    assert abs(g - exact) <= bound + 5 * t / ev.size


def test_empirical_series_matches_hand_computation():
    ev = np.array([6.0, 3.0, 2.0, 1.2, 1.0, 0.7])
    m = [np.mean(ev**k) for k in range(1, 6)]
    kap = free.moments_to_free_cumulants(m)
    by_hand = sum(sum(kap[k - 1] / k * (lam / ev.size) ** k for k in range(1, 6)) for lam in ev)
    assert q2_empirical(ev) == pytest.approx(by_hand, rel=1e-13)
    # single atom: kappa_1 = c, higher cumulants 0, so Q^2 = sum c (c / M) = c^2
    assert q2_empirical(np.full(7, 2.5)) == pytest.approx(2.5**2, rel=1e-13)
    # the paper's variants are reachable and differ
    assert q2_empirical(ev, moment_norm="sum") != q2_empirical(ev)
    assert q2_empirical(ev, standardize=True) != q2_empirical(ev)


def test_empirical_inversion_two_routes():
    ev = np.array([6.0, 3.0, 2.0, 1.2, 1.0, 0.7])
    es = EmpiricalSpectrum(ev)
    g = g_empirical(np.array([1.0, 3.0]), ev, method="inversion", lambda_min=0.7)
    ref = free.integrated_r(lambda t: es.r_transform(t), [1.0, 3.0], 0.7)
    np.testing.assert_allclose(g, ref, rtol=1e-9)


def test_log10_quality_refuses_non_positive():
    assert log10_quality(100.0) == pytest.approx(1.0)
    for bad in (0.0, -3.0, np.nan, np.inf):
        with pytest.raises(QualityError):
            log10_quality(bad)


# -- the pipeline ------------------------------------------------------------------------
def test_layer_quality_all_models(imp_spectrum):
    lq = layer_quality(imp_spectrum, name="imp")
    e = lq.ecs
    assert e.alpha > 2
    st = {m: r.status for m, r in lq.models.items()}
    assert st.pop("lw") == "n/a" and "1 < alpha <= 2" in lq.models["lw"].reason
    assert set(st.values()) == {"ok"}
    ev = e.evals * e.scale_factor
    lm = e.lambda_min * e.scale_factor
    assert lq.models["bs"].log10_q == pytest.approx(np.log10(ev.sum()), rel=1e-13)
    assert lq.models["imp"].q2 == pytest.approx(q2_imp(ev, lm, alpha=e.alpha), rel=1e-13)
    assert lq.models["imp_gtable"].log10_q == pytest.approx(
        imp_gtable_logq(ev[0], lm, e.alpha), rel=1e-13)
    for r in lq.models.values():
        assert r.log10_q is None or np.isfinite(r.log10_q)
        assert r.source


def test_layer_quality_scales(imp_spectrum):
    a = layer_quality(imp_spectrum)
    b = layer_quality(3.0 * imp_spectrum)  # frobenius_M: the quality scale is normalised
    for m in a.models:
        if a.models[m].ok:
            assert b.models[m].log10_q == pytest.approx(a.models[m].log10_q, rel=1e-9)
    c = layer_quality(3.0 * imp_spectrum, scale="input", models=["bs"])
    d = layer_quality(imp_spectrum, scale="input", models=["bs"])
    assert c.models["bs"].log10_q == pytest.approx(d.models["bs"].log10_q + np.log10(3.0))


def test_layer_quality_records_model_failures():
    x = np.r_[np.full(10, 5.0), np.linspace(0.1, 1.0, 90)]
    lq = layer_quality(x, ecs=5.0, models=["bs", "fc", "tpl", "imp"], alpha=3.0, xmin=1.0)
    assert lq.ecs.num_ecs == 10
    assert lq.models["bs"].ok and lq.models["fc"].status == "error"
    assert "interquartile" in lq.models["fc"].reason and lq.models["fc"].log10_q is None
    assert lq.models["tpl"].status == "error"  # lambda_max = lambda_min
    assert lq.models["imp"].status == "error"  # Q^2 = 0 for equal eigenvalues
    with pytest.raises(ValueError, match="unknown quality model"):
        layer_quality(x, models=["nope"])
    with pytest.raises(ECSError):
        layer_quality(np.ones(20))


def test_model_quality_is_the_product_over_layers(imp_spectrum):
    a = layer_quality(imp_spectrum, models=["bs", "lw"])
    b = layer_quality(synthetic_spectrum("imp", 0.4, 200), models=["bs", "lw"])
    assert b.ecs.alpha < 2 and b.models["lw"].ok
    mq = model_quality([a, b])
    assert mq["bs"]["log10_q"] == pytest.approx(a.models["bs"].log10_q + b.models["bs"].log10_q)
    assert mq["bs"]["complete"] and not mq["lw"]["complete"]
    assert (mq["lw"]["num_layers"], mq["lw"]["num_missing"]) == (1, 1)


# -- quality table -------------------------------------------------------------------------
@pytest.mark.parametrize("load_t", [0.3, 1.0, 5.0, 40.0])
def test_st_quality_table(load_t):
    t = st_linear_quality_table(load_t)
    R = t.q_bar
    assert R / (1 - R * R) == pytest.approx(load_t, rel=1e-12)  # saddle point
    assert t.gamma_q == pytest.approx(1 - t.free_energy, rel=1e-14)
    assert t.eta == pytest.approx(1 - t.epsilon, rel=1e-14)
    # F-bar is the minimum over R of eps(R) - s(R)/load_t (two routes)
    res = optimize.minimize_scalar(lambda r: (1 - r) - 0.5 * np.log1p(-r * r) / load_t,
                                   bounds=(0, 1 - 1e-12), method="bounded",
                                   options={"xatol": 1e-12})
    assert t.free_energy == pytest.approx(res.fun, rel=1e-9)
    # envelope theorem: d(load_t F-bar)/d load_t = eps
    h = 1e-5 * load_t
    d = ((load_t + h) * st_linear_quality_table(load_t + h).free_energy
         - (load_t - h) * st_linear_quality_table(load_t - h).free_energy) / (2 * h)
    assert d == pytest.approx(t.epsilon, rel=1e-6)


def test_st_quality_table_asymptote_and_kinds():
    assert 2 * 1e4 * st_linear_quality_table(1e4).epsilon == pytest.approx(1.0, rel=1e-4)
    kinds = st_linear_quality_table(1.0).kinds
    assert kinds["eta"].startswith("definition") and kinds["epsilon"].startswith("model choice")
    with pytest.raises(ValueError):
        st_linear_quality_table(0.0)


def test_layer_quality_table():
    t = layer_quality_table(0.64, load_t=2.0)
    assert (t.q_bar, t.eta) == (pytest.approx(0.8), pytest.approx(0.8))
    # TraceLog condition (log det = 0): free energy = effective potential, Gamma = Q-bar
    assert t.free_energy == pytest.approx(t.epsilon) and t.gamma_q == pytest.approx(t.q_bar)
    u = layer_quality_table(0.64, load_t=2.0, log_det=-1.0)
    assert u.gamma_q == pytest.approx(0.8 - 0.25) and u.free_energy == pytest.approx(0.45)
    # Q^2 = d Gamma_{Q^2} / d(n beta)
    g = [layer_quality_table(0.64, load_t=x, log_det=-1.0).extra["gamma_q2"] for x in (1.9, 2.1)]
    assert (g[1] - g[0]) / 0.2 == pytest.approx(0.64, rel=1e-12)
    assert "model choice" in t.kinds["eta"]
    with pytest.raises(QualityError):
        layer_quality_table(-1.0)


# -- synthetic spectra and the alpha = 2 critical point -----------------------------------
def test_synthetic_spectra():
    imp = synthetic_spectrum("imp", 3.0, 500)
    assert imp.mean() == pytest.approx(1.0, abs=2e-3)  # IMP has mean 1
    tpl = synthetic_spectrum("tpl", 2.5, 300)
    assert tpl.min() >= 1.0 and tpl.max() <= 300 ** (1 / 1.5)
    st1, st2 = (synthetic_spectrum("student_t", 1.8, 50, rng=4) for _ in range(2))
    np.testing.assert_array_equal(st1, st2)  # seeded
    for fam, a in (("imp", 0.0), ("tpl", 1.0), ("student_t", 0.5), ("nope", 2.0)):
        with pytest.raises(ValueError):
            synthetic_spectrum(fam, a)


def test_imp_family_critical_point_at_alpha_2():
    """Along IMP spectra (kappa = alpha/2) Delta lambda_min changes sign -- ECS = PL tail --
    at a fitted alpha within 3 standard errors (alpha - 1)/sqrt(n_tail) of 2."""
    c = quality_curve("imp", np.linspace(0.1, 3.0, 13), M=300, models=["bs", "imp"])
    ca = c.critical_alpha()
    assert ca is not None
    i = int(np.nanargmin(np.abs(c.alpha_fit - ca)))
    se = (ca - 1) / np.sqrt(c.num_tail[i])
    assert abs(ca - 2.0) < 3 * se
    rel = c.rel_delta_lambda_min
    assert np.all(rel[c.alpha_fit < 1.8] < 0) and np.all(rel[c.alpha_fit > 2.1] > 0)
    # at the crossing the detX ECS and the PL tail have about the same size
    assert abs(c.num_ecs[i] - c.num_tail[i]) < 0.1 * c.num_tail[i]


def test_heavy_tailed_wishart_critical_point():
    """Random heavy-tailed (Student-t) matrices: median Delta lambda_min / xmin over seeds is
    negative for fitted alpha well below 2, positive well above, and changes sign within the
    scatter of the fitted alpha around 2 (M = 200: spread of the crossing ~0.3)."""
    nominal = np.array([1.3, 1.5, 1.7, 1.9, 2.1, 2.3, 2.5])
    af, rd = [], []
    for k, a in enumerate(nominal):
        es = [select_ecs(synthetic_spectrum("student_t", a, 200, rng=100 * k + s), "xmin")
              for s in range(5)]
        af.append(np.median([e.alpha for e in es]))
        rd.append(np.median([e.delta_lambda_min / e.xmin for e in es]))
    af, rd = np.array(af), np.array(rd)
    assert np.all(rd[af < 1.6] < 0) and np.all(rd[af > 2.8] > 0)
    o = np.argsort(af)
    cross = [af[o[i]] + (af[o[i + 1]] - af[o[i]]) * -rd[o[i]] / (rd[o[i + 1]] - rd[o[i]])
             for i in range(len(o) - 1) if rd[o[i]] < 0 <= rd[o[i + 1]]]
    assert len(cross) >= 1 and 1.6 < cross[0] < 2.6


def test_tpl_family_has_no_crossing():
    """A spectrum without bulk: Jensen (mean ln < ln mean) puts the detX edge above the
    smallest eigenvalue, so Delta lambda_min < 0 at every alpha."""
    c = quality_curve("tpl", [1.5, 2.0, 3.0, 5.0], M=300, models=["bs"])
    assert c.critical_alpha() is None and np.all(c.rel_delta_lambda_min < 0)


def test_quality_curve_records_failures_and_serialises():
    c = quality_curve("imp", [1.0, 2.0], M=100, ecs="detx", min_ecs=99, models=["bs"])
    assert np.all(np.isnan(c.num_ecs)) and len(c.reasons) == 2
    assert "min_ecs" in c.reasons[0]
    d = c.to_dict()
    assert d["num_ecs"] == [None, None] and d["label"].startswith("model-derived")
    with pytest.raises(ValueError):
        quality_curve("imp", [])
    assert isinstance(select_ecs(synthetic_spectrum("imp", 2.0, 100)), ECS)


def test_integral_helper_matches_scipy_quad_on_imp():
    """integrate_re_r (Chebyshev) on the smooth part of Re R_IMP vs scipy.quad."""
    imp = InverseMarchenkoPastur(1.0)
    lam = np.array([0.8, 1.5, 4.0])
    got = integrate_re_r(lambda w: imp.r_transform(w, side="real"), lam, 0.6)
    ref = [integrate.quad(lambda w: 1.0 / w, 0.6, x)[0] for x in lam]  # Re R = kappa/w here
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_select_ecs_refuses_alpha_without_xmin_but_layer_quality_uses_it():
    x = np.random.default_rng(8).pareto(2.0, 400) + 1.0
    with pytest.raises(ValueError, match="alpha was given without xmin"):
        select_ecs(x, "detx", alpha=3.0)
    q = layer_quality(x, alpha=3.0, models=["imp"])
    assert q.ecs.alpha != 3.0  # the ECS keeps its own fit; the models get the given alpha
    assert q.models["imp"].params["kappa"] == pytest.approx(1.5)  # kappa = alpha / 2


def test_select_ecs_leaves_exact_zeros_out_of_detx_like_analyze():
    """A Gaussian 2000 x 500 layer with 100 dead columns: the detX edge and ERG residual equal
    those of the 2000 x 400 layer without them (and analyze's), with a note."""
    from setol_theory.htsr import analyze_matrix
    from setol_theory.linalg import correlation_eigenvalues

    W = np.random.default_rng(3).normal(size=(2000, 500))
    W[:, 400:] = 0.0
    full, live = correlation_eigenvalues(W), correlation_eigenvalues(W[:, :400])
    assert np.sum(full == 0) == 100
    a, b = select_ecs(full, "detx"), select_ecs(live, "detx")
    # the live block's eigenvalues agree to rounding (eigvalsh of 500 x 500 vs 400 x 400)
    assert a.lambda_min == pytest.approx(b.lambda_min, rel=1e-12) and a.num_ecs == b.num_ecs
    assert a.lambda_min > 0
    assert a.erg_residual == pytest.approx(b.erg_residual, rel=1e-12)
    assert any("100 exact-zero" in n for n in a.notes)
    m, _ = analyze_matrix(W, traps=False)
    assert m.detx_lambda_min == pytest.approx(a.lambda_min, rel=1e-12)
