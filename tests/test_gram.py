"""Wide layers: the tiled / row-blocked Gram matrix, the OpenBLAS crash it avoids, the memory
check that skips a layer instead of an out-of-memory kill.

Tolerances: every route sums the same ``N`` products per entry in another order, so each entry
differs from the one-call float64 product by at most ``~N eps sqrt(G_ii G_jj)`` (Higham,
*Accuracy and Stability of Numerical Algorithms*, 2nd ed., Sec. 3.1, the bound gamma_N for a
dot product); the tests allow ``N eps`` per entry.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from setol_theory import analyze
from setol_theory.errors import LayerError
from setol_theory.linalg import _backend, _eigen, eigen_memory_bytes, gram_numpy

EPS = np.finfo(np.float64).eps


def _ref(W: np.ndarray) -> np.ndarray:
    A = (W if W.shape[0] >= W.shape[1] else W.T).astype(np.float64)
    return A.T @ A


def _assert_gram_close(G: np.ndarray, W: np.ndarray) -> None:
    ref = _ref(W)
    N = max(W.shape)
    d = np.sqrt(np.diag(ref))
    assert G.dtype == np.float64 and G.shape == ref.shape
    assert np.array_equal(G, G.T)
    assert np.max(np.abs(G - ref) / np.outer(d, d)) <= N * EPS


@pytest.mark.parametrize("shape", [(300, 200), (150, 260), (700, 130)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("tile, panel, block", [
    (64, 2**30, 2**30),        # tiles, whole panels
    (64, 64 * 8 * 30, 2**30),  # tiles, panels converted 30 rows at a time
    (4096, 2**30, 8 * 200 * 17),  # narrow path, 17-row blocks
])
def test_every_route_equals_the_one_call_product(monkeypatch, shape, dtype, tile, panel, block):
    monkeypatch.setattr(_eigen, "_GRAM_TILE", tile)
    monkeypatch.setattr(_eigen, "_GRAM_PANEL_BYTES", panel)
    monkeypatch.setattr(_eigen, "_GRAM_BLOCK_BYTES", block)
    monkeypatch.setattr(_eigen, "_GRAM_DIRECT_BYTES", 0)
    W = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    _assert_gram_close(gram_numpy(W), W)
    out = np.full((min(shape), min(shape)), np.nan)
    assert gram_numpy(W, out=out) is out
    _assert_gram_close(out, W)


def test_float32_product_route(monkeypatch):
    monkeypatch.setattr(_eigen, "_GRAM_TILE", 48)
    W = np.random.default_rng(2).standard_normal((400, 130)).astype(np.float32)
    G = gram_numpy(W, dtype=np.float32)
    ref = _ref(W)
    d = np.sqrt(np.diag(ref))
    assert G.dtype == np.float32
    assert np.max(np.abs(G - ref) / np.outer(d, d)) <= 400 * np.finfo(np.float32).eps


def test_eigenvalues_of_a_tiled_layer_match(monkeypatch):
    """The analysis of a layer wider than a tile gives the eigenvalues of the one-call path."""
    W = np.random.default_rng(3).standard_t(3.0, size=(500, 300))
    ref = analyze({"w": W}, traps=False, keep_evals=True)
    monkeypatch.setattr(_eigen, "_GRAM_TILE", 64)
    got = analyze({"w": W}, traps=False, keep_evals=True)
    lam, lam0 = got.evals["w"], ref.evals["w"]
    # eigenvalue perturbation <= ||dG||_2 <= M * N eps lambda_max (Weyl)
    assert np.max(np.abs(lam - lam0)) <= 300 * 500 * EPS * lam0[-1]
    assert got.layers[0].alpha == pytest.approx(ref.layers[0].alpha, rel=1e-9)


def test_memory_estimate():
    # float64 layer: the Gram matrix and LAPACK's copy
    assert eigen_memory_bytes(1000, 500) == 2 * 500 * 500 * 8
    # float32 layer: plus two converted panels
    assert eigen_memory_bytes(1000, 500, 8, 4) == 2 * 500 * 500 * 8 + 2 * 1000 * 500 * 8


def test_layer_too_large_for_the_memory_left_is_skipped(monkeypatch):
    """Never an out-of-memory kill: a layer whose eigenvalues would not fit is skipped."""
    monkeypatch.setattr(_backend, "available_memory_bytes", lambda: 3 * 2**20)
    monkeypatch.setattr(_backend, "_MEMORY_CHECK_MIN", 0)
    rng = np.random.default_rng(4)
    model = {"big.weight": rng.normal(size=(800, 600)), "small.weight": rng.normal(size=(80, 40))}
    res = analyze(model, traps=False, on_error="record")
    big, small = res.layers
    assert big.status == "skipped" and small.status == "ok"
    assert "need ~" in big.reason and "available" in big.reason and "600 x 600" in big.reason
    with pytest.raises(LayerError, match="600 x 600 Gram matrix"):
        analyze(model, traps=False)


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            return " avx512f" in fh.read()
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_16384_wide_layer_is_analysed_without_a_crash(dtype):
    """A 16384 x 16384 layer, float64 and float32, analysed end to end in a fresh process.

    On an AVX-512 CPU the process runs OpenBLAS's SkylakeX kernels, with which the plain
    ``W.T @ W`` of a float64 layer of this width dies with SIGSEGV (threaded dsyrk); the tiled
    Gram matrix never makes that call. Several minutes per dtype (the eigensolver)."""
    code = f"""
        import numpy as np
        from setol_theory import analyze
        W = np.random.default_rng(0).standard_t(4.0, size=(16384, 16384)).astype("{dtype}")
        res = analyze({{"wide.weight": W}}, traps=False)
        m = res.layers[0]
        print(m.status, m.M, m.num_evals, round(m.alpha, 3))
        """
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    if _has_avx512():
        env["OPENBLAS_CORETYPE"] = "SKYLAKEX"
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                         capture_output=True, text=True, timeout=3600)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert run.stdout.startswith("ok 16384 16384"), run.stdout
