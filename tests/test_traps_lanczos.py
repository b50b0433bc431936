"""The trap test's fast routes (Lanczos, float32 Gram) against the float64 full spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from setol_theory.htsr import (
    GRAM32_MIN_ASPECT,
    LANCZOS_K,
    correlation_traps,
    entry_moments,
    fast_trap_count,
    gram32_trap_count,
    lanczos_trap_count,
    trap_threshold,
)
from setol_theory.linalg import krylov_error_bound, top_eigenvalues
from setol_theory.options import AnalysisOptions, OptionError
from setol_theory.pipeline import analyze


@pytest.mark.parametrize("shape,dtype,norm", [
    ((600, 200), np.float64, "N"), ((200, 600), np.float32, "N"),
    ((500, 500), np.float32, "none"), ((2000, 150), np.float64, "none"),
])
def test_top_eigenvalues_match_the_full_spectrum(shape, dtype, norm):
    rng = np.random.default_rng(1)
    W = (rng.standard_t(3, shape)).astype(dtype)
    N, M = max(shape), min(shape)
    W64 = W.astype(np.float64)
    G = W64.T @ W64 if shape[0] >= shape[1] else W64 @ W64.T
    ev = np.sort(np.linalg.eigvalsh(G / (N if norm == "N" else 1.0)))[::-1]
    top = top_eigenvalues(W, 5, normalization=norm, tol=1e-8, seed=3)
    assert top.values.shape == (5,) and np.all(np.diff(top.values) <= 0)
    assert top.dtype == np.dtype(dtype).name
    # every Ritz value is within its residual (+ the working-precision bound) of the
    # eigenvalue of the same rank; float64 round-off of the reference: M eps lambda_max
    slack = top.residuals + 2 * top.matvec_error + 10 * M * np.finfo(float).eps * ev[0]
    assert np.all(np.abs(top.values - ev[:5]) <= slack)
    assert np.all(top.values <= ev[:5] + slack)  # interlacing: Ritz values are lower bounds
    assert (top.matvec_error == 0.0) == (dtype == np.float64)


def test_krylov_error_bound_covers_a_float32_product():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((3000, 400)).astype(np.float32)
    N, M = W.shape
    x = rng.standard_normal(M)
    x /= np.linalg.norm(x)
    exact = W.astype(np.float64).T @ (W.astype(np.float64) @ x) / N
    approx = (W.T @ (W @ x.astype(np.float32))).astype(np.float64) / N
    X = W.astype(np.float64).T @ W.astype(np.float64) / N
    bound = krylov_error_bound(N, M, float(np.trace(X)), float(np.linalg.eigvalsh(X)[-1]),
                               float(np.finfo(np.float32).eps))
    err = np.linalg.norm(approx - exact)
    assert 0 < err <= bound


def test_top_eigenvalues_rejects_bad_k():
    with pytest.raises(ValueError, match="1 <= k < M"):
        top_eigenvalues(np.ones((10, 4)), 4)


def _sample(rng, dist, N, M):
    if dist == "gauss":
        return rng.standard_normal((N, M))
    if dist == "t5":
        return rng.standard_t(5, (N, M))
    return rng.uniform(-1.0, 1.0, (N, M))


# the calibration set of docs/htsr.md (benchmarks/trap_calibration.py), layers with M >= 100
# (one shuffle: the Lanczos route applies), and its planted-trap power matrices
CALIBRATION = [(784, 300), (300, 100), (1536, 384), (500, 500), (2000, 200), (150, 150),
               (200, 200)]


@pytest.mark.parametrize("N,M", CALIBRATION)
def test_trap_counts_equal_the_full_spectrum_on_the_calibration_set(N, M):
    """Gaussian, Student-t (5) and uniform entries (the calibration set, where t5 has
    traps in 10-30% of the layers), plus planted entries of size 20-40 (one or several):
    the fast route gives the full-spectrum count on every matrix."""
    rng = np.random.default_rng(N + M)
    routes = set()
    for dist in ("gauss", "t5", "uniform"):
        for rep in range(4):
            W = _sample(rng, dist, N, M)
            if rep >= 2:  # planted large entries: 1 or 6 of size 20-40
                for _ in range(1 if rep == 2 else 6):
                    W.flat[rng.integers(W.size)] = rng.uniform(20.0, 40.0)
            auto = correlation_traps(W, rng=rep, solver="auto")
            full = correlation_traps(W, rng=rep, solver="full")
            routes.add(auto.solver)
            assert full.solver == "full"
            assert auto.num_traps == full.num_traps, (dist, rep)
            assert auto.threshold_rand == pytest.approx(full.threshold_rand, rel=1e-12)
            if auto.solver != "full":  # lambda_max within the route's error
                s2 = full.sigma2_rand
                assert abs(auto.lambda_max_rand - full.lambda_max_rand) <= (
                    1e-6 * full.lambda_max_rand + 2e-7 * (np.sqrt(N) * M * s2 + M * full.
                                                          lambda_max_rand))
    expected = "gram32" if N >= GRAM32_MIN_ASPECT * M else "lanczos"
    assert expected in routes
    if expected == "lanczos" and 6 * LANCZOS_K > M // 16:
        assert "full" in routes  # 6 planted entries: LANCZOS_K all above, no second run


def test_many_traps_fall_back_to_the_full_spectrum():
    rng = np.random.default_rng(5)
    N, M = 800, 300
    W = rng.standard_normal((N, M))
    W.flat[rng.choice(W.size, 2 * LANCZOS_K, replace=False)] = 60.0
    mean, s2 = entry_moments(W)
    res, why = lanczos_trap_count(W - mean, N, M, s2, mean)
    assert res is None and f"all {LANCZOS_K}" in why  # 6 k = 24 > M / 16: no second run
    # a wider layer gets the second run (6 k = 24 <= 1200 / 16) and decides 8 traps
    W2 = rng.standard_normal((1300, 1200))
    W2.flat[rng.choice(W2.size, 2 * LANCZOS_K, replace=False)] = 90.0
    mean2, s22 = entry_moments(W2)
    res2, _ = lanczos_trap_count(W2 - mean2, 1300, 1200, s22, mean2)
    ev = np.linalg.eigvalsh((W2 - mean2).T @ (W2 - mean2) / 1300)
    assert res2 is not None and res2.num_traps == np.sum(ev > trap_threshold(s22, 1300, 1200))
    assert res2.num_traps >= LANCZOS_K
    assert correlation_traps(W, rng=0).num_traps == correlation_traps(
        W, rng=0, solver="full").num_traps >= LANCZOS_K


def test_undecided_counts_fall_back(monkeypatch):
    """A threshold placed on an eigenvalue (within the route's error) is never decided."""
    import setol_theory.htsr._traps as traps

    rng = np.random.default_rng(6)
    for N, M in ((900, 300), (3000, 200)):
        W = rng.standard_normal((N, M))
        ev = np.linalg.eigvalsh(W.T @ W / N)
        monkeypatch.setattr(traps, "trap_threshold", lambda *a, _t=float(ev[-2]): _t)
        res, why = fast_trap_count(W, N, M, 1.0, 0.0)
        assert res is None and "threshold" in why


def test_gram32_route_counts_and_bound():
    rng = np.random.default_rng(7)
    N, M = 4000, 250
    W = rng.standard_normal((N, M)).astype(np.float32)
    W.flat[rng.integers(W.size)] = 80.0
    mean, s2 = entry_moments(W)
    res, _ = gram32_trap_count(W - np.float32(mean), N, M, s2, mean)
    assert res is not None and res.solver == "gram32"
    W64 = W.astype(np.float64) - mean
    ev = np.linalg.eigvalsh(W64.T @ W64 / N)
    assert res.num_traps == np.sum(ev > trap_threshold(s2, N, M)) == 1


def test_pipeline_trap_solver_gives_the_same_records():
    rng = np.random.default_rng(8)
    model = {}
    for i, (n, m) in enumerate([(900, 300), (300, 1200), (3000, 200), (400, 60), (500, 500)]):
        W = rng.standard_t(4, (n, m)).astype(np.float32)
        W.flat[rng.choice(W.size, i, replace=False)] = 40.0
        model[f"l{i}.weight"] = W
    a = analyze(model, traps=True)
    b = analyze(model, traps=True, trap_solver="full")
    for x, y in zip(a.layers, b.layers, strict=True):
        assert x.num_traps == y.num_traps
        assert x.threshold_rand == y.threshold_rand
        assert x.lambda_max_rand == pytest.approx(y.lambda_max_rand, rel=1e-3)
        assert x.alpha == y.alpha
    assert sum(m.num_traps for m in a.layers) > 0


def test_trap_solver_option_is_checked():
    with pytest.raises(OptionError, match="trap_solver"):
        AnalysisOptions(trap_solver="lanczos-please")
    with pytest.raises(ValueError, match="solver"):
        correlation_traps(np.ones((5, 5)) + np.eye(5), solver="nope")


def test_a_constant_layer_keeps_its_old_record():
    """sigma^2 = 0 (all entries equal): no MP law; the trap count stays undefined (NaN), as
    with the full spectrum, instead of an error from the Lanczos route."""
    W = np.full((300, 150), 0.5)
    a = analyze({"w.weight": W}, traps=True, on_error="record").layers[0]
    b = analyze({"w.weight": W}, traps=True, trap_solver="full", on_error="record").layers[0]
    assert a.status == b.status == "ok"
    assert np.isnan(a.num_traps) and np.isnan(b.num_traps)
