"""The CUDA-only branches of setol_theory.linalg (the torch backend), run on the CPU by emulation.

``torch.cuda.{is_available, device_count, current_device, mem_get_info, memory_reserved,
memory_allocated, empty_cache}`` are replaced by recording fakes, and the engine runs on a
:class:`Backend` whose ``is_cuda`` is True while its tensors live on the CPU. This executes
the device choice, the memory budget (free + reserved - allocated), the batch limit, and the
out-of-memory recovery (empty_cache, retry, CPU fallback) exactly as on a CUDA machine.

What it cannot show: the numerics of cuBLAS / cuSOLVER (the solver here is LAPACK through
torch on the CPU), real allocator behaviour, or which errors a real device raises when it
runs out of memory. The ``gpu``-marked tests in test_backend.py cover those on a GPU.
"""

import gc
import weakref
from dataclasses import dataclass

import numpy as np
import pytest

from setol_theory import linalg as be_linalg
from setol_theory.linalg import (
    Backend,
    DeviceError,
    Spectrum,
    batched_eigenvalues,
    correlation_eigenvalues,
    cuda_available,
    eigenvalue_error_bound,
    resolve_backend,
)
from setol_theory.linalg import _backend as be_backend

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def _serial_torch():
    """One torch thread, as in test_backend.py (shared 2-core machines)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@dataclass(frozen=True)
class EmulatedCuda(Backend):
    """A CUDA backend for the engine's decisions whose tensors stay on the CPU."""

    kind: str = "torch"
    device: str = "cpu"
    requested: str = "cuda"

    @property
    def is_cuda(self) -> bool:
        return True


class FakeCuda:
    """Recording stand-ins for the torch.cuda functions the backend calls."""

    def __init__(self, free=10 * 2**30, total=80 * 2**30, reserved=0, allocated=0,
                 count=2, current=0):
        self.free, self.total = free, total
        self.reserved, self.allocated = reserved, allocated
        self.count, self.current = count, current
        self.calls = {"mem_get_info": [], "memory_reserved": [], "memory_allocated": [],
                      "empty_cache": 0}
        self.on_empty_cache = None

    def mem_get_info(self, device=None):
        self.calls["mem_get_info"].append(device)
        return self.free, self.total

    def memory_reserved(self, device=None):
        self.calls["memory_reserved"].append(device)
        return self.reserved

    def memory_allocated(self, device=None):
        self.calls["memory_allocated"].append(device)
        return self.allocated

    def empty_cache(self):
        self.calls["empty_cache"] += 1
        if self.on_empty_cache is not None:
            self.on_empty_cache()


@pytest.fixture
def fake_cuda(monkeypatch):
    fake = FakeCuda()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: fake.count)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: fake.current)
    for name in ("mem_get_info", "memory_reserved", "memory_allocated", "empty_cache"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    return fake


def _bound(ref, N, M, precision="float64"):
    return (eigenvalue_error_bound(N, M, ref[-1], ref.sum(), "float64")
            + eigenvalue_error_bound(N, M, ref[-1], ref.sum(), precision))


def _assert_matches_numpy(W, r, device):
    ref = correlation_eigenvalues(W)
    assert isinstance(r, Spectrum) and r.device == device
    assert np.max(np.abs(r.evals - ref)) <= _bound(ref, max(W.shape), min(W.shape))


# ---------------------------------------------------------------------------- device choice
def test_auto_picks_the_current_cuda_device(fake_cuda, recwarn):
    assert cuda_available()
    b = resolve_backend("auto")
    assert (b.kind, b.device, b.label, b.is_cuda, b.note) == (
        "torch", "cuda:0", "torch:cuda:0", True, "")
    assert not [w for w in recwarn if issubclass(w.category, be_linalg.DeviceFallbackWarning)]
    assert resolve_backend("cuda").device == "cuda:0"
    fake_cuda.current = 1  # "cuda" and "auto" follow torch.cuda.current_device()
    assert resolve_backend("auto").device == "cuda:1"
    assert resolve_backend("cuda", precision="float32").label == "torch:cuda:1/float32"
    assert resolve_backend("CUDA:0").device == "cuda:0"


def test_bad_cuda_index_is_a_clear_device_error(fake_cuda):
    with pytest.raises(DeviceError, match=r"'cuda:3': only 2 CUDA device\(s\) \(0\.\.1\)"):
        resolve_backend("cuda:3")
    with pytest.raises(DeviceError, match="only 2"):
        resolve_backend("cuda:-1")
    with pytest.raises(DeviceError, match="index must be an integer"):
        resolve_backend("cuda:x")
    fake_cuda.current = 5  # a current device beyond the count (CUDA_VISIBLE_DEVICES change)
    with pytest.raises(DeviceError, match="only 2"):
        resolve_backend("auto")


# ---------------------------------------------------------------------------- memory budget
def test_budget_is_free_plus_cached_and_sends_an_oversize_layer_to_the_cpu(fake_cuda):
    """available = 0.9 (free + reserved - allocated): the medium layer fits only thanks to
    the cached bytes, the big one does not fit and is computed by numpy, recorded."""
    rng = np.random.default_rng(0)
    small, medium, big = (rng.standard_normal(s) for s in [(60, 20), (300, 100), (600, 200)])
    # need = N M 8 (input) + (N M + M^2) 8: 22 400, 560 000, 2 240 000 bytes
    fake_cuda.free, fake_cuda.reserved, fake_cuda.allocated = 500_000, 900_000, 100_000
    avail = 0.9 * (500_000 + 900_000 - 100_000)  # 1.17 MB; 0.9 * free alone is 450 kB
    b = EmulatedCuda()
    res = batched_eigenvalues([small, medium, big], b, names=["s", "m", "b"])
    for W, r in zip([small, medium], res[:2], strict=True):
        _assert_matches_numpy(W, r, "torch:cpu")
        assert r.fallback == ""
    r = res[2]
    assert r.device == "numpy" and "computed on the CPU" in r.fallback
    assert f"{be_backend._human(avail)} available" in r.fallback and "needs ~2.1 MiB" in r.fallback
    np.testing.assert_array_equal(r.evals, correlation_eigenvalues(big))
    assert fake_cuda.calls["mem_get_info"] and set(fake_cuda.calls["mem_get_info"]) == {"cpu"}
    assert len(fake_cuda.calls["memory_reserved"]) == len(fake_cuda.calls["mem_get_info"])
    assert len(fake_cuda.calls["memory_allocated"]) == len(fake_cuda.calls["mem_get_info"])
    # without the cached bytes the medium layer falls back too
    fake_cuda.reserved = fake_cuda.allocated = 0
    r_med = batched_eigenvalues([medium], b)[0]
    assert r_med.device == "numpy"
    assert f"{be_backend._human(0.9 * 500_000)} available" in r_med.fallback
    # allocated > reserved (cannot happen, but is clamped): no negative cache
    fake_cuda.free, fake_cuda.allocated = 1_000_000, 5_000_000
    assert be_backend._TorchEngine(b, "N", False, None)._available() == pytest.approx(900_000)


def test_batch_limit_follows_the_free_device_memory(fake_cuda, monkeypatch):
    """On CUDA a batch is flushed at min(1 GiB, available / 4) bytes of Gram matrices."""
    calls = []
    real = be_backend._device_eigvalsh
    monkeypatch.setattr(be_backend, "_device_eigvalsh",
                        lambda s: calls.append(s.shape[0]) or real(s))
    rng = np.random.default_rng(1)
    mats = [rng.standard_normal((300, 100)) for _ in range(12)]  # Gram: 80 000 bytes each
    b = EmulatedCuda()
    fake_cuda.free, fake_cuda.reserved, fake_cuda.allocated = 1_000_000, 600_000, 100_000
    res = batched_eigenvalues(mats, b)  # limit 0.9 * 1.5e6 / 4 = 337 500: 5 per batch
    assert calls == [5, 5, 2]
    for W, r in zip(mats, res, strict=True):
        _assert_matches_numpy(W, r, "torch:cpu")
    calls.clear()
    fake_cuda.reserved = fake_cuda.allocated = 0  # limit 225 000: 3 per batch
    batched_eigenvalues(mats, b)
    assert calls == [3, 3, 3, 3]
    calls.clear()
    fake_cuda.free = 1 << 40  # plenty: capped at 1 GiB, one batch
    batched_eigenvalues(mats, b)
    assert calls == [12]
    # an explicit memory_limit replaces the device query
    fake_cuda.calls["mem_get_info"].clear()
    calls.clear()
    batched_eigenvalues(mats, EmulatedCuda(memory_limit=1_300_000))  # limit 325 000
    assert calls == [5, 5, 2] and fake_cuda.calls["mem_get_info"] == []


# ---------------------------------------------------------------------------- out of memory
def test_oom_in_the_eigensolver_empties_the_cache_and_falls_back(fake_cuda, monkeypatch):
    def always_oom(stack):
        raise torch.OutOfMemoryError("CUDA out of memory (emulated)")

    monkeypatch.setattr(be_backend, "_device_eigvalsh", always_oom)
    rng = np.random.default_rng(2)
    mats = [rng.standard_normal((300, 100)), rng.standard_normal((100, 250)),
            rng.standard_t(3, (400, 100))]
    res = batched_eigenvalues(mats, EmulatedCuda(), batch_bytes=1 << 30)
    for W, r in zip(mats, res, strict=True):
        _assert_matches_numpy(W, r, "numpy")
        assert "out of memory on cpu in the eigensolver" in r.fallback
    # one empty_cache for the batch of 3, then one per single-layer retry
    assert fake_cuda.calls["empty_cache"] == 4


def test_oom_retry_runs_after_the_failed_stack_is_released(fake_cuda, monkeypatch):
    """The one-by-one retry must not run while the failed batch is still referenced (by a
    local or by the exception's traceback): empty_cache could not free it."""
    real = be_backend._device_eigvalsh
    refs = []

    def batch_oom(stack):
        if stack.shape[0] > 1:
            refs.append(weakref.ref(stack))
            raise torch.OutOfMemoryError("CUDA out of memory (emulated)")
        gc.collect()
        assert refs and refs[0]() is None, "the failed stack is still alive during the retry"
        return real(stack)

    def check_released():
        gc.collect()
        assert refs[0]() is None, "empty_cache called while the failed stack is alive"

    fake_cuda.on_empty_cache = check_released
    monkeypatch.setattr(be_backend, "_device_eigvalsh", batch_oom)
    rng = np.random.default_rng(3)
    mats = [rng.standard_normal((200, 80)) for _ in range(3)]
    res = batched_eigenvalues(mats, EmulatedCuda(), batch_bytes=1 << 30)
    assert len(refs) == 1 and fake_cuda.calls["empty_cache"] == 1
    for W, r in zip(mats, res, strict=True):
        _assert_matches_numpy(W, r, "torch:cpu")
        assert r.fallback == ""


def test_oom_while_moving_the_layer(fake_cuda, monkeypatch):
    """OOM inside _prepare (transfer / upcast / Gram): the cache is emptied after the
    device tensors of the failed attempt are released, and numpy computes the layer."""
    refs = []

    def prepare_oom(self, W, what, n, m):
        T = torch.as_tensor(np.asarray(W)).to(torch.float64)  # "on the device"
        refs.append(weakref.ref(T))
        raise torch.OutOfMemoryError("CUDA out of memory (emulated)")

    def check_released():
        gc.collect()
        assert refs[-1]() is None, "empty_cache called while the failed tensor is alive"

    fake_cuda.on_empty_cache = check_released
    monkeypatch.setattr(be_backend._TorchEngine, "_prepare", prepare_oom)
    W = np.random.default_rng(4).standard_normal((250, 90))
    r = batched_eigenvalues([W], EmulatedCuda())[0]
    assert r.device == "numpy" and "while moving the layer" in r.fallback
    np.testing.assert_array_equal(r.evals, correlation_eigenvalues(W))
    assert fake_cuda.calls["empty_cache"] == 1


@pytest.mark.parametrize("message", [
    "CUDA error: out of memory",
    "cusolver error: CUSOLVER_STATUS_ALLOC_FAILED, when calling `cusolverDnCreate(handle)`",
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
])
def test_runtime_error_oom_from_cuda_libraries_also_falls_back(fake_cuda, monkeypatch,
                                                               message):
    def lib_oom(stack):
        raise RuntimeError(message)

    monkeypatch.setattr(be_backend, "_device_eigvalsh", lib_oom)
    W = np.random.default_rng(5).standard_normal((200, 60))
    r = batched_eigenvalues([W], EmulatedCuda())[0]
    _assert_matches_numpy(W, r, "numpy")
    assert fake_cuda.calls["empty_cache"] == 1


def test_other_device_errors_are_not_swallowed(fake_cuda, monkeypatch):
    def broken(stack):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(be_backend, "_device_eigvalsh", broken)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        batched_eigenvalues([np.random.default_rng(6).standard_normal((50, 20))],
                            EmulatedCuda())
    assert fake_cuda.calls["empty_cache"] == 0


def test_float32_oom_fallback_keeps_the_float32_zero_threshold(fake_cuda, monkeypatch):
    """A float32 Gram matrix solved on the CPU after an OOM is thresholded with the float32
    epsilon, like the device result: the null space of a rank-deficient layer is 0 in
    both (with the float64 epsilon its float32 noise would survive as tiny eigenvalues)."""
    rng = np.random.default_rng(7)
    W = rng.standard_normal((400, 60)) @ rng.standard_normal((60, 150))  # rank 60, M = 150
    b = EmulatedCuda(precision="float32")
    on_device = batched_eigenvalues([W], b)[0]
    assert on_device.device == "torch:cpu/float32"

    def always_oom(stack):
        raise torch.OutOfMemoryError("CUDA out of memory (emulated)")

    monkeypatch.setattr(be_backend, "_device_eigvalsh", always_oom)
    fb = batched_eigenvalues([W], b)[0]
    assert "out of memory" in fb.fallback and fb.device == "numpy/float32"
    assert fb.evals.dtype == np.float64
    assert np.count_nonzero(fb.evals == 0) == np.count_nonzero(on_device.evals == 0) == 90
    ref = correlation_eigenvalues(W)
    assert np.max(np.abs(fb.evals - ref)) <= _bound(ref, 400, 150, "float32")
    # the svd path after an OOM: float64 singular values of the float32 layer
    monkeypatch.setattr(be_backend, "_device_svdvals", always_oom)
    sv = batched_eigenvalues([W], b, method="svd")[0]
    assert sv.device == "numpy" and sv.evals.dtype == np.float64
    assert np.max(np.abs(sv.evals - ref)) <= _bound(ref, 400, 150, "float32")


def test_torch_cpu_never_touches_the_cuda_allocator(fake_cuda, monkeypatch):
    """The real torch-cpu backend (is_cuda False) neither queries nor empties CUDA memory."""
    def always_oom(stack):
        raise torch.OutOfMemoryError("CUDA out of memory (emulated)")

    monkeypatch.setattr(be_backend, "_device_eigvalsh", always_oom)
    W = np.random.default_rng(8).standard_normal((100, 40))
    r = batched_eigenvalues([W], "torch-cpu")[0]
    assert r.device == "numpy"
    assert fake_cuda.calls["empty_cache"] == 0 and fake_cuda.calls["mem_get_info"] == []


# ---------------------------------------------------------------------------- end to end
def test_analyze_on_emulated_cuda_records_the_memory_fallback(fake_cuda):
    from setol_theory.pipeline import analyze

    rng = np.random.default_rng(9)
    model = {"small.weight": rng.standard_normal((120, 40)),
             "big.weight": rng.standard_normal((600, 200))}
    fake_cuda.free = 1_000_000  # 900 kB available: the big layer (2.2 MB) does not fit
    res = analyze(model, device=EmulatedCuda(), traps=True, keep_evals=True)
    rec = {m.name: m for m in res.layers}
    assert rec["small.weight"].eig_device == "torch:cpu" and not rec["small.weight"].eig_fallback
    assert rec["big.weight"].eig_device == "numpy"
    assert "available" in rec["big.weight"].eig_fallback
    np.testing.assert_array_equal(res.evals["big.weight"],
                                  correlation_eigenvalues(model["big.weight"]))
    assert fake_cuda.calls["mem_get_info"]


def test_gpu_checks_small_on_emulated_cuda(fake_cuda):
    """The verify --gpu path with the CUDA memory queries live: every check passes."""
    from setol_theory.verify import gpu_checks

    rows = gpu_checks(EmulatedCuda(), large=False, model=False)
    assert rows and all(r.passed for r in rows), [r for r in rows if not r.passed]
    assert any("float32" in r.check for r in rows)
    assert fake_cuda.calls["mem_get_info"]
