"""HTSR metrics: MP bulk fit, spikes, correlation traps, layer metrics, heavy-tail truths."""

import math

import numpy as np
import pytest

from setol_theory.fit import fit_mp_bulk, tracy_widom_scale
from setol_theory.htsr import (
    analyze_matrix,
    correlation_traps,
    entry_variance,
    esd_metrics,
    trap_threshold,
    warning_label,
)
from setol_theory.pipeline import LayerError, analyze


def _gaussian(N, M, sigma2=1.0, seed=0):
    return np.random.default_rng(seed).normal(0.0, math.sqrt(sigma2), size=(N, M))


def _eig(W):
    N = max(W.shape)
    A = W if W.shape[0] >= W.shape[1] else W.T
    return np.linalg.eigvalsh(A.T @ A / N)


def _planted(N, M, thetas, seed=0):
    """Gaussian noise plus rank-one terms whose X-eigenvalues sit well above the MP edge."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(N, M))
    for theta in thetas:
        u = rng.normal(size=N)
        v = rng.normal(size=M)
        W += theta * (N * M) ** 0.25 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    return W


# ---------------------------------------------------------------- MP bulk fit
@pytest.mark.parametrize("N,M", [(2000, 500), (1536, 384), (400, 100)])
def test_mp_fit_recovers_variance_of_gaussian_layer(N, M):
    """sigma2 from the bulk median.  Eigenvalue rigidity makes the median fluctuate at
    O(1/M) (measured sd ~1.25/M over 20 seeds), so 5/M is a 4-sigma bound."""
    for seed in range(3):
        f = fit_mp_bulk(_eig(_gaussian(N, M, 0.7, seed)), N, M)
        assert f.converged
        assert abs(f.sigma2 / 0.7 - 1.0) < 5.0 / M
        assert f.lambda_plus == pytest.approx(f.sigma2 * (1 + math.sqrt(M / N)) ** 2, rel=1e-14)


def test_gaussian_layer_has_no_spikes():
    """TW margin at its 0.99 quantile: a pure-noise layer shows a spike in ~1% of draws."""
    counts = [fit_mp_bulk(_eig(_gaussian(1200, 300, seed=s)), 1200, 300).num_spikes
              for s in range(10)]
    assert sum(c > 0 for c in counts) <= 1


def test_planted_spikes_are_counted_and_bulk_is_unbiased():
    W = _planted(1600, 400, [3.0, 5.0, 8.0])
    f = fit_mp_bulk(_eig(W), 1600, 400)
    assert f.num_spikes == 3
    assert abs(f.sigma2 - 1.0) < 5.0 / 400 + 3.0 / 400  # noise + shift from removing 3 evals


def test_tracy_widom_scale_matches_johnstone():
    # Johnstone (2001): sigma_np = (sqrt(n) + sqrt(p)) (1/sqrt(n) + 1/sqrt(p))^(1/3) for W^T W
    n, p = 900, 100
    ref = (30 + 10) * (1 / 30 + 1 / 10) ** (1 / 3)
    assert tracy_widom_scale(1.0, n, p) * n == pytest.approx(ref)


def test_mp_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        fit_mp_bulk(np.array([1.0]), 10, 1)
    with pytest.raises(ValueError, match="N >= M"):
        fit_mp_bulk(np.ones(5), 3, 5)


# ---------------------------------------------------------------- correlation traps
def test_traps_absent_for_gaussian_and_for_spread_out_spikes():
    """Shuffling destroys low-rank structure spread over all entries: no trap."""
    assert correlation_traps(_gaussian(1200, 300), rng=1).num_traps == 0
    assert correlation_traps(_planted(1600, 400, [3.0, 5.0, 8.0]), rng=1).num_traps == 0


def test_traps_found_for_a_few_huge_entries():
    """k isolated huge entries survive any shuffle; each is a rank-one spike of size
    ~w^2/N = 3600/1600 = 2.25 above an MP edge of (1 + 1/2)^2 = 2.25 plus the noise -> k traps."""
    rng = np.random.default_rng(3)
    W = rng.normal(size=(1600, 400))
    W.flat[rng.choice(W.size, 4, replace=False)] = 60.0
    t = correlation_traps(W, rng=0)
    assert t.num_traps == 4
    assert t.lambda_max_rand > t.threshold_rand


def test_traps_are_reproducible_and_average_small_layers():
    W = _gaussian(200, 50, seed=4)
    a, b = correlation_traps(W, rng=7), correlation_traps(W, rng=7)
    assert a == b
    assert a.n_permutations == 5  # M < 100: five permutations, as in the paper's notebooks


# ---------------------------------------------------------------- per-layer metrics
def test_layer_metrics_against_independent_norms():
    rng = np.random.default_rng(5)
    W = rng.standard_t(df=3, size=(300, 700))  # wide: N = 700 after transposing
    m, ev = analyze_matrix(W, name="w", traps=False)
    N, M = 700, 300
    assert (m.N, m.M, m.num_evals) == (N, M, M)
    assert m.Q == pytest.approx(N / M)
    fro2 = np.sum(W.astype(np.float64) ** 2)
    spec2 = np.linalg.norm(W, 2) ** 2
    # the published metrics are on W^T W (squared singular values of W), the ESD on X = W^T W/N
    assert m.log_norm == pytest.approx(math.log10(fro2), rel=1e-12)
    assert m.log_spectral_norm == pytest.approx(math.log10(spec2), rel=1e-10)
    assert m.stable_rank == pytest.approx(fro2 / spec2, rel=1e-10)
    assert m.lambda_max == pytest.approx(spec2 / N, rel=1e-10)
    assert m.alpha_weighted == pytest.approx(m.alpha * math.log10(spec2), rel=1e-10)
    sv = np.linalg.svd(W, compute_uv=False)  # independent route: Schatten norm of W
    assert m.log_alpha_norm == pytest.approx(
        math.log10(np.sum(sv.astype(np.float64) ** (2 * m.alpha))), rel=1e-9)
    # Student-t(3) entries: the outliers continue the bulk, no MP softrank / spike count
    assert m.mp_status == "not-mp-like" and math.isnan(m.mp_softrank)


def test_normalization_none_scales_eigenvalues_but_not_alpha():
    W = np.random.default_rng(6).standard_t(df=2.5, size=(800, 200))
    a, _ = analyze_matrix(W, normalization="N", traps=False)
    b, _ = analyze_matrix(W, normalization="none", traps=False)
    assert b.lambda_max == pytest.approx(800 * a.lambda_max, rel=1e-12)
    assert b.xmin == pytest.approx(800 * a.xmin, rel=1e-12)
    assert b.alpha == pytest.approx(a.alpha, rel=1e-9)
    assert b.normalization == "none"
    # the published metrics are on W^T W under either normalization: one name, one meaning
    for k in ("alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm"):
        assert getattr(b, k) == pytest.approx(getattr(a, k), rel=1e-9), k


def test_every_record_column_is_in_the_registry_and_the_glossary():
    from dataclasses import fields
    from pathlib import Path

    from setol_theory.columns import COLUMNS, SCALES, glossary_table
    from setol_theory.htsr import LayerMetrics

    names = [f.name for f in fields(LayerMetrics)]
    assert names == list(COLUMNS)  # same columns, in table order
    assert all(c.scale in SCALES for c in COLUMNS.values())
    glossary = (Path(__file__).parents[1] / "docs" / "glossary.md").read_text()
    assert glossary_table() in glossary, "docs/glossary.md: regenerate the per-layer table"


def test_warning_labels():
    assert warning_label(7.0, True) == "under-trained"
    assert warning_label(1.5, True) == "over-trained"
    assert warning_label(3.0, True) == ""
    assert warning_label(float("nan"), False) == "no-fit"


# ------------------------------------------------------ ground truths from the literature
def _pareto_layer(N, M, mu, seed):
    """i.i.d. symmetric entries with P(|w| > x) = x^(-mu) for x >= 1."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=(N, M)) * (rng.pareto(mu, size=(N, M)) + 1.0)


@pytest.mark.parametrize("mu", [1.0, 1.5])
def test_pareto_entries_give_alpha_one_plus_mu_over_two(mu):
    """ESD tail exponent of Levy-type matrices: alpha = 1 + mu/2 for mu < 2
    (Ben Arous & Guionnet 2008, arXiv:0707.2159; [BAG2008] in docs/references.md).

    Tolerance 0.15: the MLE standard error at n_tail ~ 10^2 is (alpha-1)/sqrt(n) ~ 0.05,
    and the finite-N bias (the tail only becomes exact as N -> infinity with fixed Q) is
    of the same order at N = 2000; averaged over 3 seeds the sampling part shrinks by sqrt 3.
    """
    alphas = []
    for seed in range(3):
        m, _ = analyze_matrix(_pareto_layer(2000, 1000, mu, seed), traps=False)
        assert m.fit_status == "ok"
        alphas.append(m.alpha)
    assert np.mean(alphas) == pytest.approx(1.0 + mu / 2.0, abs=0.15)
    assert all(warning_label(a, True) == "over-trained" for a in alphas)


def test_gaussian_layer_is_not_heavy_tailed():
    """A Gaussian layer follows MP: the 'tail' the scan finds is the hard edge, whose
    fitted exponent is far above the HTSR range, and nothing pokes out of the bulk."""
    for seed in range(3):
        m, _ = analyze_matrix(_gaussian(2000, 500, seed=seed), traps=True, seed=seed)
        assert m.alpha > 6.0 and m.warning == "under-trained"
        assert m.num_spikes == 0 and m.num_traps == 0
        assert m.mp_softrank > 0.95  # lambda_max sits at the MP edge
        assert m.mp_status == "ok"
        assert m.mp_softrank == pytest.approx(m.mp_lambda_plus / m.lambda_max, rel=1e-14)


def test_esd_metrics_records_failed_fit_without_raising():
    ev = np.linspace(1.0, 2.0, 5)  # fewer eigenvalues than the minimum tail
    m = esd_metrics(ev, 50, 5)
    assert m.fit_status == "failed" and m.fit_reason
    assert math.isnan(m.alpha) and math.isnan(m.alpha_weighted) and m.warning == "no-fit"
    assert m.lambda_max == 2.0  # the ESD metrics are still computed


# ---------------------------------------------------------------- whole model
def test_analyze_records_every_layer_with_reason():
    rng = np.random.default_rng(8)
    good = rng.normal(size=(300, 100))
    bad = good.copy()
    bad[3, 4] = np.nan
    model = {"a.weight": good, "b.weight": bad, "c.weight": np.zeros((200, 50))}
    with pytest.raises(LayerError, match="b.weight"):
        analyze(model, traps=False)
    res = analyze(model, traps=False, on_error="record")
    assert [m.name for m in res.layers] == ["a.weight", "b.weight", "c.weight"]
    assert [m.status for m in res.layers] == ["ok", "skipped", "skipped"]
    assert "NaN" in res.layers[1].reason
    assert "zero" in res.layers[2].reason.lower()
    s = res.summary()
    assert s["num_analysed"] == 1 and s["num_skipped"] == 2
    assert s["mean_alpha"] == pytest.approx(res.layers[0].alpha)
    js = res.to_json_dict()
    assert js["layers"][1]["alpha"] is None  # NaN -> null in JSON
    assert js["settings"]["normalization"] == "N"


def test_size_filtered_layers_are_listed_not_dropped():
    rng = np.random.default_rng(9)
    model = {"big.weight": rng.normal(size=(300, 100)), "tiny.weight": rng.normal(size=(50, 3))}
    res = analyze(model, traps=False, min_evals=10)
    assert [(m.name, m.status) for m in res.layers] == [("big.weight", "ok"),
                                                       ("tiny.weight", "filtered")]
    assert "3 eigenvalues" in res.layers[1].reason
    assert res.summary()["num_filtered"] == 1


def test_detx_columns_match_quality_module():
    from setol_theory.htsr import detx_lambda_min

    W = _pareto_layer(600, 300, 1.5, seed=2)
    m, ev = analyze_matrix(W, traps=False)
    d = detx_lambda_min(ev)
    assert m.detx_lambda_min == d.lambda_min and m.num_ecs_detx == d.num_ecs
    assert m.delta_lambda_min == pytest.approx(m.xmin - d.lambda_min, rel=1e-15)


# ---------------------------------------------------------------- trap threshold scale
def test_entry_variance_is_the_population_variance_in_chunks(tmp_path):
    rng = np.random.default_rng(11)
    W = (rng.normal(size=(1100, 1000)) * 0.3 + 0.05).astype(np.float32)  # > 2^20 entries
    ref = np.var(W.astype(np.float64))
    assert entry_variance(W) == pytest.approx(ref, rel=1e-12)
    path = tmp_path / "w.npy"
    np.save(path, W)
    assert entry_variance(np.load(path, mmap_mode="r")) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match="empty"):
        entry_variance(np.zeros((0, 3)))


def test_trap_threshold_uses_the_exact_variance_in_both_normalizations():
    W = _gaussian(900, 300, sigma2=0.5, seed=2)
    t = correlation_traps(W, rng=0)
    assert t.scale == "variance"
    assert t.sigma2_rand == pytest.approx(np.var(W), rel=1e-12)
    assert t.threshold_rand == pytest.approx(trap_threshold(np.var(W), 900, 300), rel=1e-14)
    u = correlation_traps(W, rng=0, normalization="none")
    assert u.sigma2_rand == pytest.approx(900 * np.var(W), rel=1e-12)
    assert u.threshold_rand == pytest.approx(900 * t.threshold_rand, rel=1e-12)
    assert u.lambda_max_rand == pytest.approx(900 * t.lambda_max_rand, rel=1e-10)
    f = correlation_traps(W, rng=0, scale="fit")
    assert f.scale == "fit" and f.sigma2_rand != t.sigma2_rand
    with pytest.raises(ValueError, match="trap scale"):
        correlation_traps(W, scale="median")


def test_trap_false_positive_rate_on_gaussian_layers_is_nominal():
    """The TW 0.99 margin above the exact MP edge: about 1% of Gaussian layers show a 'trap'
    (measured 0.5% at 150 x 150 over 2,000 matrices). Bound for 600 seeded layers: <= 12,
    P(X >= 13 | p = 0.01) = 0.011. The fitted MP scale flags this shape at 6.35% (measured):
    expected 38 of 600, so the same layers must show >= 20 with ``scale="fit"``
    (P(X < 20 | p = 0.0635) ~ 1e-3) -- the reason ``"variance"`` is the default."""
    mats = [_gaussian(150, 150, seed=1000 + s) for s in range(600)]
    var = sum(correlation_traps(W, rng=s).num_traps > 0 for s, W in enumerate(mats))
    fit = sum(correlation_traps(W, rng=s, scale="fit").num_traps > 0 for s, W in enumerate(mats))
    assert var <= 12
    assert fit >= 20


def test_trap_scale_is_passed_through_analyze():
    W = _gaussian(400, 120, seed=9)
    a = analyze({"w": W}, trap_scale="fit")
    b = analyze({"w": W})
    assert a.settings["trap_scale"] == "fit" and b.settings["trap_scale"] == "variance"
    ref_fit = correlation_traps(W, rng=0, scale="fit")
    ref_var = correlation_traps(W, rng=0)
    assert a.layers[0].lambda_max_rand == pytest.approx(ref_fit.lambda_max_rand, rel=1e-12)
    assert b.layers[0].num_traps == ref_var.num_traps
    assert b.layers[0].threshold_rand == pytest.approx(ref_var.threshold_rand, rel=1e-12)
    assert a.layers[0].threshold_rand == pytest.approx(ref_fit.threshold_rand, rel=1e-12)
    assert math.isnan(analyze({"w": W}, traps=False).layers[0].threshold_rand)
    with pytest.raises(ValueError, match="trap_scale"):
        analyze({"w": W}, trap_scale="bogus")


# ---------------------------------------------------------------- review fixes
def test_mean_offset_is_not_a_trap_with_the_variance_rule():
    """A shuffle keeps the entry mean mu: a rank-one spike ~ M mu^2 = 400 * 0.15^2 = 9 far
    above the edge (1 + sqrt(1/3))^2 = 2.5. The variance rule removes it (no trap); the
    WeightWatcher-style fit keeps it (one 'trap')."""
    W = _gaussian(1200, 400, seed=21) + 0.15
    t = correlation_traps(W, rng=0)
    assert t.mean_removed == pytest.approx(W.mean(), rel=1e-12)
    assert t.num_traps == 0 and t.lambda_max_rand < t.threshold_rand
    f = correlation_traps(W, rng=0, scale="fit")
    assert f.mean_removed == 0.0 and f.num_traps == 1
    # analyze uses the same null model
    assert analyze({"w": W}).layers[0].num_traps == 0


def test_zero_eigenvalues_are_left_out_of_the_mp_fit_and_detx():
    """100 dead columns of a 2000 x 500 Gaussian layer: an N x 400 noise layer with 100
    exact zeros. Before, the zeros made 18 'spikes' and put the detX edge at 0."""
    W = _gaussian(2000, 500, seed=3)
    W[:, 400:] = 0.0
    m, _ = analyze_matrix(W, traps=False)
    ref, _ = analyze_matrix(W[:, :400], traps=False)
    assert m.num_zero_evals == 100 and ref.num_zero_evals == 0
    assert m.num_spikes == ref.num_spikes == 0
    assert m.mp_sigma2 == pytest.approx(ref.mp_sigma2, rel=1e-12)
    assert m.detx_lambda_min == pytest.approx(ref.detx_lambda_min, rel=1e-12)
    assert m.detx_lambda_min > 0
    # a rank-20 layer (480 zeros) is analysed, not rejected for a zero median
    rng = np.random.default_rng(4)
    low = rng.normal(size=(1000, 20)) @ rng.normal(size=(20, 500))
    lm, _ = analyze_matrix(low, traps=False)
    assert lm.ok and lm.num_zero_evals == 480 and np.isfinite(lm.mp_sigma2)


def test_one_wide_layer_is_filtered_by_min_evals_not_fatal():
    rng = np.random.default_rng(5)
    model = {"head.weight": rng.normal(size=(1, 300)), "fc.weight": rng.normal(size=(300, 100))}
    res = analyze(model, traps=False, min_evals=10)
    st = {m.name: (m.status, m.M) for m in res.layers}
    assert st == {"head.weight": ("filtered", 1), "fc.weight": ("ok", 100)}
    with pytest.raises(LayerError, match="1-wide"):
        analyze(model, traps=False, min_evals=0)
    rec = analyze(model, traps=False, min_evals=0, on_error="record").layers[0]
    assert rec.status == "skipped" and (rec.N, rec.M) == (300, 1)


def test_max_evals_zero_is_a_limit():
    res = analyze({"w": _gaussian(50, 20)}, traps=False, min_evals=0, max_evals=0)
    assert res.layers[0].status == "filtered"


def test_analyze_matrix_accepts_tensors_and_lists():
    torch = pytest.importorskip("torch")
    W = _gaussian(300, 100, seed=6)
    ref, _ = analyze_matrix(W.astype(np.float32), traps=True)
    lin = torch.nn.Linear(100, 300, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W.astype(np.float32)))
    m, _ = analyze_matrix(lin.weight, traps=True)  # requires grad
    assert m.alpha == pytest.approx(ref.alpha, rel=1e-10) and m.num_traps == ref.num_traps
    b, _ = analyze_matrix(torch.from_numpy(W).to(torch.bfloat16), traps=True)
    assert b.ok and np.isfinite(b.lambda_max_rand)
    lst, _ = analyze_matrix(W.tolist(), traps=True)
    assert lst.lambda_max == pytest.approx(analyze_matrix(W, traps=False)[0].lambda_max)
