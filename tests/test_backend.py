"""setol_theory.linalg (backends): device choice, batched eigensolves, device memory fallback,
CPU-vs-device
agreement with derived tolerances, the fast trap shuffle, and the GPU checks of verify --gpu.

torch on the CPU ("torch-cpu") runs the same code path as CUDA, so every agreement test runs
here; the tests marked ``gpu`` repeat them on CUDA and are skipped without it.
"""

import subprocess
import sys
import warnings
from collections import Counter

import numpy as np
import pytest

from setol_theory.htsr import analyze_matrix, correlation_traps, permute_entries
from setol_theory.htsr._traps import _blocked_permutation
from setol_theory.linalg import (
    Backend,
    DeviceError,
    DeviceFallbackWarning,
    Spectrum,
    batched_eigenvalues,
    correlation_eigenvalues,
    cuda_available,
    eigenvalue_error_bound,
    eigenvalues,
    resolve_backend,
)
from setol_theory.pipeline import analyze
from setol_theory.verify import agreement_checks, compare_spectra, gpu_checks, rmt_checks


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def _serial_torch():
    """One torch thread (as OPENBLAS_NUM_THREADS=1 for numpy): on the shared 2-core machines
    two OpenMP threads under load make a 150 x 150 eigvalsh 10-100x slower."""
    if "torch" not in sys.modules:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            yield
            return
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _mats(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.standard_normal((300, 120)).astype(np.float32),
        "b": rng.standard_normal((120, 400)),  # wide; same M as "a": one batch on torch
        "c": rng.standard_t(3, size=(500, 120)),
        "d": rng.pareto(1.5, size=(400, 200)) * rng.choice([-1.0, 1.0], size=(400, 200)),
    }


def _bound(ref, N, M, precision="float64"):
    return eigenvalue_error_bound(N, M, ref[-1], ref.sum(), "float64") + eigenvalue_error_bound(
        N, M, ref[-1], ref.sum(), precision)


# ---------------------------------------------------------------------------- imports
def test_import_does_not_import_torch():
    code = ("import sys, setol_theory, setol_theory.linalg, setol_theory.htsr, "
            "setol_theory.distributed\n"
            "from setol_theory.linalg import resolve_backend, batched_eigenvalues\n"
            "import numpy as np\n"
            "resolve_backend('numpy'); batched_eigenvalues([np.eye(3) + 1])\n"
            "assert 'torch' not in sys.modules\n"
            "assert 'distributed' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- device choice
def test_resolve_names():
    assert resolve_backend() == Backend()
    assert resolve_backend("cpu").kind == "numpy" and resolve_backend(None).label == "numpy"
    b = resolve_backend("numpy", precision="float32", memory_limit=10)
    assert b.label == "numpy/float32" and b.eps == np.finfo(np.float32).eps
    assert resolve_backend(b) is b
    with pytest.raises(ValueError, match="unknown device"):
        resolve_backend("tpu")
    with pytest.raises(ValueError, match="precision"):
        resolve_backend("numpy", precision="float16")
    with pytest.raises(ValueError, match="memory_limit"):
        resolve_backend("numpy", memory_limit=0)


def test_resolve_torch_cpu(torch):
    b = resolve_backend("torch-cpu")
    assert (b.kind, b.device, b.label, b.is_cuda) == ("torch", "cpu", "torch:cpu", False)


@pytest.mark.skipif(cuda_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error_and_auto_falls_back():
    pytest.importorskip("torch", reason="the no-CUDA messages need torch (without torch: "
                                        "tests/test_packaging.py)")
    with pytest.raises(DeviceError, match="finds no CUDA device"):
        resolve_backend("cuda")
    with pytest.raises(DeviceError, match="finds no CUDA device"):
        resolve_backend("cuda:1")
    with pytest.warns(DeviceFallbackWarning, match="no CUDA device"):
        b = resolve_backend("auto")
    assert b.kind == "numpy" and "auto" in b.note
    with pytest.warns(DeviceFallbackWarning):
        res = analyze({"w.weight": _mats()["a"]}, device="auto", traps=False)
    assert res.settings["device"] == "numpy" and "no CUDA" in res.settings["device_note"]


@pytest.mark.skipif(cuda_available(), reason="this machine has CUDA")
def test_cli_device_cuda_and_auto_without_cuda(tmp_path, capsys):
    pytest.importorskip("torch", reason="the no-CUDA messages need torch (without torch: "
                                        "tests/test_packaging.py)")
    from conftest import write_safetensors

    from setol_theory.cli import main

    f = write_safetensors(tmp_path / "m.safetensors", {"fc.weight": _mats()["c"]})
    assert main(["analyze", str(f), "--device", "cuda", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device cuda" in err[0] and "no CUDA device" in err[0]
    assert main(["analyze", str(f), "--device", "auto", "--quiet", "--no-traps"]) == 0
    assert "warning: device='auto': no CUDA device" in capsys.readouterr().err


# ---------------------------------------------------------------------------- batched eigs
def test_numpy_batched_is_bitwise_correlation_eigenvalues_and_errors_stay_in_place():
    mats = _mats()
    bad = [np.full((4, 3), np.nan), np.zeros((5, 5)), np.ones((4, 3), dtype=np.int32),
           np.full((4, 3), 1e200)]
    items = list(mats.values()) + bad
    names = list(mats) + ["nan", "zero", "int", "huge"]
    res = batched_eigenvalues((m for m in items), names=names)  # a generator is fine
    for W, r in zip(mats.values(), res, strict=False):
        assert isinstance(r, Spectrum) and r.device == "numpy" and r.fallback == ""
        np.testing.assert_array_equal(r.evals, correlation_eigenvalues(W))
    for r, cls, msg in zip(res[4:], [ValueError, ValueError, TypeError, ValueError],
                           ["'nan' contains 12 NaN", "all zeros", "integer dtype",
                            "overflows float64"], strict=True):
        assert isinstance(r, cls) and msg in str(r)
    with pytest.raises(ValueError, match="all zeros"):
        eigenvalues(np.zeros((3, 3)))
    for W in mats.values():
        np.testing.assert_array_equal(
            eigenvalues(W, normalization="none", method="svd").evals,
            correlation_eigenvalues(W, normalization="none", method="svd"))


@pytest.mark.parametrize("method", ["eigvalsh", "svd"])
def test_torch_cpu_batched_agrees_with_numpy_within_the_bound(torch, method):
    """The torch path (the CUDA code path, on the CPU) vs numpy: every eigenvalue within
    2 E, E = u (sqrt(N) tr G + M lambda_max) (eigenvalue_error_bound)."""
    mats = _mats(1)
    tensors = [torch.from_numpy(np.asarray(W)) for W in mats.values()]
    for src in (list(mats.values()), tensors):
        res = batched_eigenvalues(src, "torch-cpu", method=method, batch_bytes=1 << 30)
        for W, r in zip(mats.values(), res, strict=True):
            ref = correlation_eigenvalues(W, method=method)
            N, M = max(W.shape), min(W.shape)
            assert r.device == "torch:cpu"
            assert np.max(np.abs(r.evals - ref)) <= _bound(ref, N, M)
    errs = batched_eigenvalues([torch.full((3, 3), float("inf")), torch.zeros(3, 3)],
                               "torch-cpu")
    assert "contains 0 NaN and 9 Inf" in str(errs[0]) and "all zeros" in str(errs[1])


def test_torch_path_takes_non_native_byte_order(torch):
    """torch.from_numpy rejects a big-endian array (an .npy written on such a machine); the
    torch path converts it instead of reporting the layer as an error."""
    W = np.random.default_rng(11).standard_normal((80, 30))
    swapped = W.astype(W.dtype.newbyteorder("S"))
    assert not swapped.dtype.isnative
    ref = correlation_eigenvalues(W)
    for r in batched_eigenvalues([swapped, swapped.astype(">f4")], "torch-cpu"):
        assert isinstance(r, Spectrum) and r.device == "torch:cpu"
        assert np.max(np.abs(r.evals - ref)) <= _bound(ref, 80, 30, "float32")


def test_batching_groups_by_eigenvalue_count(torch, monkeypatch):
    """Layers with the same M share one batched eigvalsh call (whatever their N)."""

    from setol_theory.linalg import _backend as be

    calls = []
    real = be._device_eigvalsh
    monkeypatch.setattr(be, "_device_eigvalsh", lambda s: calls.append(tuple(s.shape)) or real(s))
    mats = list(_mats(2).values())  # M = 120, 120, 120, 200
    res = batched_eigenvalues(mats, "torch-cpu", batch_bytes=1 << 30)
    assert sorted(calls) == [(1, 200, 200), (3, 120, 120)]
    calls.clear()
    batched_eigenvalues(mats, "torch-cpu", batch_bytes=0)  # no batching
    assert len(calls) == 4
    assert all(isinstance(r, Spectrum) for r in res)


@pytest.mark.parametrize("device", ["numpy", "torch-cpu"])
def test_float32_fast_path_within_its_bound(torch, device):
    b = resolve_backend(device, precision="float32")
    mats = _mats(3)
    for W, r in zip(mats.values(), batched_eigenvalues(mats.values(), b), strict=True):
        ref = correlation_eigenvalues(W)
        N, M = max(W.shape), min(W.shape)
        err = np.max(np.abs(r.evals - ref))
        assert err <= _bound(ref, N, M, "float32")
        assert err > 1e3 * _bound(ref, N, M)  # it is a float32 result: coarser than float64
        assert r.device.endswith("/float32")


def test_layer_too_large_for_device_memory_falls_back_and_is_recorded(torch):
    """memory_limit stands in for the free CUDA memory: the 30x... layer that does not fit
    is computed by numpy on the CPU, the one that fits on the device."""
    rng = np.random.default_rng(4)
    small, big = rng.standard_normal((60, 20)), rng.standard_normal((600, 200))
    b = resolve_backend("torch-cpu", memory_limit=200_000)
    r_small, r_big = batched_eigenvalues([small, big], b)
    assert r_small.device == "torch:cpu" and r_small.fallback == ""
    assert r_big.device == "numpy" and "computed on the CPU" in r_big.fallback
    np.testing.assert_array_equal(r_big.evals, correlation_eigenvalues(big))
    res = analyze({"small.weight": small, "big.weight": big}, device=b, traps=True)
    rec = {m.name: m for m in res.layers}
    assert rec["small.weight"].eig_device == "torch:cpu"
    assert rec["big.weight"].eig_device == "numpy"
    assert "available" in rec["big.weight"].eig_fallback


def test_out_of_memory_in_the_eigensolver(torch, monkeypatch):
    """A CUDA OOM (simulated) in a batch: retried one layer at a time; a layer that still
    does not fit is solved on the CPU and the fallback recorded."""
    from setol_theory.linalg import _backend as be

    real = be._device_eigvalsh

    def batch_oom(stack):
        if stack.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(stack)

    mats = list(_mats(5).values())[:3]
    monkeypatch.setattr(be, "_device_eigvalsh", batch_oom)
    res = batched_eigenvalues(mats, "torch-cpu", batch_bytes=1 << 30)
    assert [r.device for r in res] == ["torch:cpu"] * 3 and not any(r.fallback for r in res)

    def always_oom(stack):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(be, "_device_eigvalsh", always_oom)
    res = batched_eigenvalues(mats, "torch-cpu", batch_bytes=1 << 30)
    for W, r in zip(mats, res, strict=True):
        assert r.device == "numpy" and "out of memory" in r.fallback
        ref = correlation_eigenvalues(W)
        assert np.max(np.abs(r.evals - ref)) <= _bound(ref, max(W.shape), min(W.shape))


# ---------------------------------------------------------------------------- agreement
def test_agreement_checks_torch_cpu_pass():
    pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    mats = {"gauss 600x200": rng.standard_normal((600, 200)),
            "pareto 600x200": rng.pareto(1.5, (600, 200)) * rng.choice([-1, 1], (600, 200)),
            "student-t float32 200x500": rng.standard_t(3, (200, 500)).astype(np.float32)}
    rows = agreement_checks("torch-cpu", matrices=mats, model=False)
    quantities = {r.check.rsplit(": ", 1)[1] for r in rows}
    assert quantities == {"eigenvalues", "alpha", "xmin", "detx_lambda_min", "erg"}
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]
    rows32 = agreement_checks(resolve_backend("torch-cpu", precision="float32"),
                              matrices=mats, model=False)
    assert all(r.passed for r in rows32), [r for r in rows32 if not r.passed]


@pytest.mark.model
def test_agreement_on_the_default_model_torch_cpu():
    pytest.importorskip("torch")
    rows = agreement_checks("torch-cpu", matrices={}, model=True)
    assert rows and all(r.passed for r in rows), [r for r in rows if not r.passed]
    assert all(r.model.startswith("model (") for r in rows)


def test_compare_spectra_tolerances_catch_a_real_difference():
    rng = np.random.default_rng(7)
    W = rng.standard_t(3, size=(800, 300))
    ev = correlation_eigenvalues(W)
    same = compare_spectra(ev, ev.copy(), 800, 300)
    assert same.ok and set(same.ratio.values()) == {0.0}
    bumped = ev.copy()
    bumped[-5:] *= 1 + 1e-9  # far beyond float64 round-off, far below any physics
    bad = compare_spectra(ev, bumped, 800, 300)
    assert not bad.ok and bad.ratio["eigenvalues"] > 1


def test_analyze_torch_cpu_agrees_with_numpy(torch):
    """analyze() on the torch path vs numpy: spectra, alpha, xmin, detX, ERG within the
    derived tolerances (compare_spectra), and the same tail sizes and trap counts."""
    rng = np.random.default_rng(8)
    model = {f"l{i}.weight": rng.standard_t(4, size=(400, 150)).astype(np.float32)
             for i in range(3)}
    model["wide.weight"] = rng.standard_normal((120, 500)).astype(np.float32)
    a = analyze(model, traps=True, keep_evals=True)
    b = analyze(model, device="torch-cpu", traps=True, keep_evals=True)
    for x, y in zip(a.layers, b.layers, strict=True):
        assert (x.eig_device, y.eig_device) == ("numpy", "torch:cpu")
        ag = compare_spectra(a.evals[x.name], b.evals[y.name], x.N, x.M)
        assert ag.ok, ag
        assert y.num_tail == x.num_tail and y.num_traps == x.num_traps
        assert abs(y.alpha - x.alpha) <= ag.tol["alpha"]
        assert abs(y.detx_lambda_min - x.detx_lambda_min) <= ag.tol["detx_lambda_min"]


# ---------------------------------------------------------------------------- analyze engine
def test_analyze_equals_analyze_matrix_layer_by_layer():
    """The batched engine gives exactly the per-layer results (same eigenvalues, same trap
    seeds), including a layer above the blocked-shuffle threshold."""
    rng = np.random.default_rng(9)
    model = {"a.weight": rng.standard_t(3, (300, 80)), "b.weight": rng.standard_normal((90, 300)),
             "big.weight": rng.standard_t(4, (2048, 512)).astype(np.float32)}
    res = analyze(model, traps=True, seed=5)
    for m in res.layers:
        ref, _ = analyze_matrix(model[m.name], name=m.name, kind=m.kind, seed=5)
        assert m.to_dict() == {**ref.to_dict(), "eig_device": "numpy", "eig_fallback": ""}


def test_permutations_are_uniform_and_reproducible():
    x = np.arange(5, dtype=np.float64)
    counts = Counter(tuple(_blocked_permutation(x, s, 2).astype(int)) for s in range(24000))
    # 120 permutations, 200 expected each: chi-square with 119 d.o.f., 99.9% point 170
    chi2 = sum((c - 200) ** 2 / 200 for c in counts.values()) + 200 * (120 - len(counts))
    assert len(counts) == 120 and chi2 < 170
    # positions are uniform for a larger array split into many buckets
    y = np.arange(64, dtype=np.float32)
    first = Counter(int(_blocked_permutation(y, s, 4)[0]) for s in range(6400))
    assert sum((c - 100) ** 2 / 100 for c in first.values()) < 110  # 63 d.o.f., 99.9%: 104
    W = np.random.default_rng(0).standard_normal((1100, 1000)).astype(np.float32)
    a = permute_entries(W, np.random.default_rng(3))  # >= 2**20 entries: blocked
    b = permute_entries(W, np.random.default_rng(3), method="blocked")
    np.testing.assert_array_equal(a, b)
    assert a.dtype == W.dtype and a.shape == W.shape
    np.testing.assert_array_equal(np.sort(a, axis=None), np.sort(W, axis=None))
    small = W[:100, :50]  # below the threshold: numpy's permutation, as before
    np.testing.assert_array_equal(permute_entries(small, np.random.default_rng(1)),
                                  np.random.default_rng(1).permutation(small.reshape(-1))
                                  .reshape(small.shape))
    with pytest.raises(ValueError, match="shuffle"):
        permute_entries(W, np.random.default_rng(), method="fast")


def test_blocked_shuffle_keeps_the_trap_statistics():
    """A few huge entries are traps under either permutation method (htsr tests' setup)."""
    rng = np.random.default_rng(3)
    W = rng.normal(size=(1600, 700))  # 1.1e6 entries: "auto" is blocked
    W.flat[rng.choice(W.size, 4, replace=False)] = 80.0
    for shuffle in ("numpy", "blocked", "auto"):
        assert correlation_traps(W, rng=0, shuffle=shuffle).num_traps == 4
    G = rng.normal(size=(1600, 700))
    assert correlation_traps(G, rng=0, shuffle="blocked").num_traps == 0


# ---------------------------------------------------------------------------- RMT on a device
def test_rmt_checks_small_on_torch_cpu():
    pytest.importorskip("torch")
    rows = rmt_checks("torch-cpu", n=256, batch=4, batch_m=64, seed=0)
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]
    assert any("IMP" in r.model for r in rows) and any("batch" in r.model for r in rows)
    with pytest.raises(DeviceError, match="torch backend"):
        rmt_checks("numpy")


def test_gpu_checks_small_on_torch_cpu():
    pytest.importorskip("torch")
    rows = gpu_checks("torch-cpu", large=False, model=False)
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]
    assert any("float32" in r.check for r in rows)


# ---------------------------------------------------------------------------- CUDA
@pytest.mark.gpu
def test_cuda_gpu_checks(capsys):
    """setol verify --gpu: agreement (random, heavy-tailed, default model; float64 and the
    float32 fast path) and random-matrix sanity at 32768 x 8192 and 64 x (4096 x 1024)."""
    from setol_theory.verify import VerifyReport

    rows = gpu_checks("cuda")
    with capsys.disabled():
        print("\n" + VerifyReport(checks=rows).table())
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


@pytest.mark.gpu
def test_cuda_analyze_matches_numpy():
    """analyze() on CUDA vs numpy, with the derived tolerances of compare_spectra."""
    model = {f"{k}.weight": W for k, W in _mats(10).items()}
    res_cpu = analyze(model, traps=True, keep_evals=True)
    res_gpu = analyze(model, device="cuda", traps=True, keep_evals=True)
    for x, y in zip(res_cpu.layers, res_gpu.layers, strict=True):
        assert y.eig_device.startswith("torch:cuda") and not y.eig_fallback
        ag = compare_spectra(res_cpu.evals[x.name], res_gpu.evals[y.name], x.N, x.M)
        print(x.name, {q: f"{r:.2g}" for q, r in ag.ratio.items()})
        assert ag.ok, ag
        assert y.num_tail == x.num_tail and y.num_traps == x.num_traps
        assert abs(y.alpha - x.alpha) <= ag.tol["alpha"]


@pytest.mark.gpu
def test_cuda_memory_fallback_and_auto():
    b = resolve_backend("cuda", memory_limit=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto must not warn on a CUDA machine
        assert resolve_backend("auto").is_cuda
    r = eigenvalues(np.random.default_rng(0).standard_normal((600, 200)), b)
    assert r.device == "numpy" and "cuda" in r.fallback
