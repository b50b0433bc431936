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
    gram = 500 * 500 * 8
    # float64 layer: the Gram matrix and LAPACK's copy
    assert eigen_memory_bytes(1000, 500) == 2 * gram
    # small float32 layer: plus its float64 copy
    assert eigen_memory_bytes(1000, 500, 8, 4) == 2 * gram + 1000 * 500 * 8
    # a float32 embedding 30522 x 384: two 64 MiB row blocks, not a copy of the layer
    rows = (64 * 2**20) // (8 * 384)
    assert eigen_memory_bytes(30522, 384, 8, 4) == 2 * 384 * 384 * 8 + 2 * rows * 384 * 8
    # tiled float64 layer: three tile temporaries; float32: plus two converted panels
    T = 4096
    assert eigen_memory_bytes(8192, 8192) == 2 * 8192**2 * 8 + 3 * T * T * 8
    rows = (512 * 2**20) // (8 * T)
    assert eigen_memory_bytes(40000, 8192, 8, 4) == (2 * 8192**2 * 8 + 2 * rows * T * 8
                                                      + 3 * T * T * 8)
    # SVD: the float64 layer and LAPACK's copy
    assert eigen_memory_bytes(1000, 500, svd=True) == 2 * 1000 * 500 * 8 + 500 * 8


def test_memory_estimate_bounds_the_measured_peak():
    """The estimate is an upper bound of what the numpy route really allocates (tracemalloc
    sees numpy's buffers), and not more than twice it."""
    import tracemalloc

    from setol_theory.linalg import batched_eigenvalues

    for shape, dtype in [((3000, 400), np.float32), ((900, 700), np.float64)]:
        W = np.random.default_rng(5).standard_normal(shape).astype(dtype)
        tracemalloc.start()
        batched_eigenvalues([W])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        est = eigen_memory_bytes(*shape, 8, np.dtype(dtype).itemsize)
        assert peak <= est <= 2 * peak + 2**20, (shape, dtype, peak, est)


def test_out_is_checked(monkeypatch):
    W = np.random.default_rng(6).standard_normal((100, 40))
    with pytest.raises(ValueError, match="shape"):
        gram_numpy(W, out=np.empty((45, 45)))
    with pytest.raises(ValueError, match="float64"):
        gram_numpy(W, out=np.empty((40, 40), dtype=np.int64))
    S = np.random.default_rng(7).standard_normal((40, 40))
    with pytest.raises(ValueError, match="share memory"):
        gram_numpy(S, out=S)


def test_cgroup_limit(tmp_path):
    from setol_theory.linalg._eigen import _cgroup_available

    assert _cgroup_available(str(tmp_path)) is None  # no cgroup files
    (tmp_path / "memory.max").write_text("max\n")
    assert _cgroup_available(str(tmp_path)) is None  # no limit
    (tmp_path / "memory.max").write_text(str(4 * 2**30))
    (tmp_path / "memory.current").write_text(str(3 * 2**30))
    assert _cgroup_available(str(tmp_path)) == 2**30


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
    pytest.importorskip("torch")
    # torch on the CPU: the same memory, the same refusal (after its fallback to numpy)
    res = analyze(model, traps=False, on_error="record", device="torch-cpu")
    assert [m.status for m in res.layers] == ["skipped", "ok"]


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


@pytest.mark.slow
@pytest.mark.skipif(not _has_avx512(), reason="needs an AVX-512 CPU (OpenBLAS SkylakeX kernels)")
def test_control_the_plain_product_crashes_under_skylakex():
    """The negative control of the test above: in the same environment the one-call
    ``A.T @ A`` of a float64 2048 x 16100 matrix (threaded dsyrk) dies with SIGSEGV. If this
    starts failing, OpenBLAS has fixed the bug (then ``_GRAM_TILE`` may be revisited)."""
    code = """
        import numpy as np
        A = np.random.default_rng(0).standard_normal((2048, 16100))
        A.T @ A
        print("no crash")
        """
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OPENBLAS_CORETYPE="SKYLAKEX")
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == -11, (run.returncode, run.stdout, run.stderr[-500:])
