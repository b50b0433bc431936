"""Conv layers: one pooled ESD per layer (the default) or one record per kernel position.

Ground truth: a conv kernel built slice by slice as ``W_ij = U_ij diag(s_ij) V_ij^T`` with
Haar-random orthogonal ``U, V`` and chosen singular values, so every slice's eigenvalues are
known exactly (``s_ij^2 / N``) and the pooled ESD must be their union.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from setol_theory import AnalysisOptions, analyze
from setol_theory.fit import fit_powerlaw
from setol_theory.options import add_arguments, from_args


def _haar(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """n x m with orthonormal columns (QR of a Gaussian matrix, signs fixed: Haar)."""
    q, r = np.linalg.qr(rng.standard_normal((n, m)))
    return q * np.sign(np.diag(r))


def _kernel(seed: int = 0, out_ch: int = 120, in_ch: int = 60, k: tuple[int, int] = (3, 3)
            ) -> tuple[np.ndarray, dict[tuple[int, int], np.ndarray]]:
    """A (out, in, kh, kw) kernel and each slice's exact eigenvalues of W^T W / N."""
    rng = np.random.default_rng(seed)
    W = np.empty((out_ch, in_ch, *k))
    evals = {}
    for idx in np.ndindex(*k):
        lam = rng.pareto(2.0, size=in_ch) + 1.0  # heavy-tailed eigenvalues of W^T W / N
        s = np.sqrt(lam * out_ch)
        W[:, :, idx[0], idx[1]] = (_haar(rng, out_ch, in_ch) * s) @ _haar(rng, in_ch, in_ch).T
        evals[idx] = np.sort(lam)
    return W, evals


def test_pooled_esd_is_the_union_of_the_slices_and_metrics_are_computed_on_it():
    W, per_slice = _kernel()
    union = np.sort(np.concatenate(list(per_slice.values())))
    res = analyze({"conv.weight": W}, AnalysisOptions(traps=False), keep_evals=True)
    assert [m.name for m in res.layers] == ["conv.weight"]
    m = res.layers[0]
    assert (m.kind, m.N, m.M, m.num_evals) == ("conv2d", 120, 60, 9 * 60)
    ev = res.evals["conv.weight"]
    # eigenvalues of a 120 x 60 float64 matrix: accurate to a few eps * lambda_max
    np.testing.assert_allclose(ev, union, rtol=0, atol=1e3 * np.finfo(float).eps * union[-1])
    fit = fit_powerlaw(union)
    assert m.alpha == pytest.approx(fit.alpha, rel=1e-9)
    assert m.xmin == pytest.approx(fit.xmin, rel=1e-9)
    assert m.num_tail == fit.n_tail
    assert m.lambda_max == pytest.approx(union[-1], rel=1e-12)
    # published conventions on W^T W: the per-slice N restores the scale
    assert m.log_norm == pytest.approx(math.log10(120 * union.sum()), rel=1e-12)
    assert m.alpha_weighted == pytest.approx(fit.alpha * math.log10(120 * union[-1]), rel=1e-9)
    assert m.stable_rank == pytest.approx(union.sum() / union[-1], rel=1e-12)
    # heavy-tailed (Pareto) slice spectra: the pooled MP fit finds no bulk (tests/test_conv_mp.py)
    assert m.mp_status == "not-mp-like" and "heavy-tailed" in m.mp_reason
    assert math.isnan(m.num_spikes)


def test_no_pool_gives_one_record_per_kernel_position_with_its_own_esd():
    W, per_slice = _kernel(seed=1)
    res = analyze({"conv.weight": W}, AnalysisOptions(traps=False, pool=False), keep_evals=True)
    names = [m.name for m in res.layers]
    assert names == [f"conv.weight[{i},{j}]" for i, j in np.ndindex(3, 3)]
    for (i, j), lam in per_slice.items():
        np.testing.assert_allclose(res.evals[f"conv.weight[{i},{j}]"], lam, rtol=0,
                                   atol=1e3 * np.finfo(float).eps * lam[-1])
        assert res.layers[3 * i + j].num_evals == 60


def test_pool_leaves_reshape_and_linear_layers_alone_and_keeps_model_order():
    W, _ = _kernel(seed=2, out_ch=40, in_ch=20, k=(2, 2))
    rng = np.random.default_rng(3)
    src = {"a.weight": rng.standard_normal((50, 30)), "conv.weight": W,
           "b.weight": rng.standard_normal((60, 30))}
    pooled = analyze(src, traps=False)
    assert [m.name for m in pooled.layers] == ["a.weight", "conv.weight", "b.weight"]
    reshaped = analyze(src, traps=False, conv="reshape")
    assert [(m.name, m.N, m.M) for m in reshaped.layers][1] == ("conv.weight", 80, 40)
    flat = analyze(src, traps=False, pool=False)
    assert len(flat.layers) == 2 + 4
    # the linear layers' records do not depend on the conv setting
    for a, b in ((pooled.layers[0], flat.layers[0]), (pooled.layers[2], flat.layers[-1])):
        assert (a.name, a.alpha, a.log_norm) == (b.name, b.alpha, b.log_norm)


def test_pooled_traps_are_the_sum_of_the_slices_counts():
    W, _ = _kernel(seed=4, out_ch=40, in_ch=20, k=(2, 2))
    W[5, 3, 0, 0] = 30.0 * W[:, :, 0, 0].std()  # one huge entry: a trap wherever it lands
    pooled = analyze({"conv.weight": W}).layers[0]
    slices = analyze({"conv.weight": W}, pool=False).layers
    assert pooled.num_traps == sum(s.num_traps for s in slices)
    assert pooled.num_traps >= 1  # the huge entry of slice [0,0] stays a trap when shuffled
    assert pooled.lambda_max_rand == max(s.lambda_max_rand for s in slices)


def test_no_pool_flag():
    p = argparse.ArgumentParser()
    add_arguments(p, AnalysisOptions)
    assert from_args(AnalysisOptions, p.parse_args([])).pool is True
    assert from_args(AnalysisOptions, p.parse_args(["--no-pool"])).pool is False


def test_analyze_many_pools_like_analyze(tmp_path):
    from setol_theory.distributed import analyze_many

    W, _ = _kernel(seed=5, out_ch=40, in_ch=20, k=(2, 2))
    lin = np.random.default_rng(6).standard_normal((50, 30))
    np.savez(tmp_path / "model.npz", **{"conv.weight": W, "fc.weight": lin})
    one = analyze(tmp_path / "model.npz", traps=False)
    for pool in (True, False):
        ref = analyze(tmp_path / "model.npz", traps=False, pool=pool)
        many = analyze_many([str(tmp_path / "model.npz")], scheduler="serial", traps=False,
                            pool=pool)
        got = [(r["layer"], r["alpha"], r["log_norm"], r["num_evals"]) for r in many.records]
        assert got == [(m.name, m.alpha, m.log_norm, m.num_evals) for m in ref.layers]
    assert [m.name for m in one.layers] == ["conv.weight", "fc.weight"]


def test_size_filter_applies_to_the_pooled_esd():
    """A first conv layer (3 input channels): 3 eigenvalues per slice, 27 pooled. As in
    WeightWatcher, min_evals/max_evals apply to the pooled count."""
    from setol_theory.io import describe_layers

    W = np.random.default_rng(7).standard_t(3, size=(16, 3, 3, 3))
    src = {"conv.weight": W}
    (m,) = analyze(src, traps=False, min_evals=10, min_tail=5).layers
    assert (m.name, m.status, m.num_evals) == ("conv.weight", "ok", 27)
    slices = analyze(src, traps=False, min_evals=10, pool=False).layers
    assert len(slices) == 9 and {s.status for s in slices} == {"filtered"}
    (f,) = analyze(src, traps=False, min_evals=30).layers
    assert f.status == "filtered" and "27 eigenvalues (pooled over 9 kernel positions)" in f.reason
    (p,) = describe_layers(src, min_evals=30)
    assert (p.name, p.action, p.reason) == ("conv.weight", "filter", f.reason)
    (p,) = describe_layers(src, min_evals=10)
    assert (p.name, p.action, p.num_evals) == ("conv.weight", "analyse", 27)
