"""Where the spectral work runs: numpy, torch on the CPU, or torch on a CUDA device.

One place chooses the backend (:func:`resolve_backend`), moves one layer at a time to the
device, picks the float precision, and batches the eigensolves of layers with the same number
of eigenvalues (attention heads, the q/k/v/o projections of every block, conv slices) into one
batched ``eigvalsh`` call (:func:`batched_eigenvalues`). It also holds the checks that the
device answer is the CPU answer (:func:`agreement_checks`), the random-matrix sanity checks at
sizes a CPU does not reach quickly (:func:`rmt_checks`), and :func:`gpu_checks`, which runs
both for ``setol verify --gpu``.

torch is imported lazily: importing this module does not import torch; resolving a torch
backend (``"torch-cpu"``, ``"cuda"``, ``"auto"``) or calling :func:`cuda_available` does.

Precision rule (``docs/scale.md``)
-----------------------------------
* **float64 (default)**: the Gram matrix ``G = W^T W`` and its eigenvalues are computed in
  float64 from the stored weights (float32/bfloat16/float16 are upcast exactly).
* **float32 (opt-in fast path)**: ``G`` and ``eigvalsh`` in float32. With ``u`` the unit
  round-off of the precision, every eigenvalue is within

  ``E = u * (sqrt(N) * tr(G) + M * lambda_max)``

  of the exact one (:func:`eigenvalue_error_bound`): Weyl's inequality with the probabilistic
  round-off bound of a length-``N`` dot product, ``|dG| <~ sqrt(N) u |W|^T |W|``, whose
  spectral norm is at most ``sqrt(N) u ||W||_F^2 = sqrt(N) u tr(G)`` (Higham & Mary, SIAM J.
  Sci. Comput. 41, A2815 (2019)), plus the backward error ``M u ||G||`` of a Householder
  eigensolver (Golub & Van Loan, 4th ed., sec. 8.3). In float32 ``E / lambda_max`` is about
  ``1e-4`` for a 4096 x 1024 layer: harmless for the top of the spectrum (alpha, lambda_max,
  the trap count, whose Tracy-Widom margin is ``~N^{-2/3} ~ 1e-3``), but it can move the
  bottom of the ESD and therefore the detX edge and log-determinants; use float32 only for
  the tail metrics, on devices whose float64 rate is low.
* Eigenvalues ``<= M * eps * lambda_max`` (``eps`` of the precision used) are set to 0.

Device memory
-------------
Before a layer is moved, the bytes it needs on the device (the stored layer, its upcast copy
and its Gram matrix) are compared with the free device memory (or ``memory_limit``). A layer
that does not fit, or whose computation raises a CUDA out-of-memory error, is computed on the
CPU with numpy instead, and :attr:`Spectrum.fallback` says so (``setol analyze`` records it in
the ``eig_fallback`` column).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._tensor import as_torch, is_tensor, torch_to_numpy
from ..errors import DeviceError, DeviceFallbackWarning
from ._device import (
    _cuda_device,
    _require_torch,
    cuda_available,
)
from ._eigen import (
    _check_values_numpy,
    _eigs_numpy,
    _overflow_error,
    available_memory_bytes,
    eigen_memory_bytes,
    finalize_eigenvalues,
    gram_numpy,
    validate_matrix,
)

Array = NDArray[np.float64]


#: Device names accepted by :func:`resolve_backend` (also ``"cuda:N"``; ``"cpu"`` = numpy).
DEVICES: tuple[str, ...] = ("numpy", "torch-cpu", "cuda", "auto")


#: Float precisions of the spectral computation.
PRECISIONS: tuple[str, ...] = ("float64", "float32")


_MiB = 2**20


#: Gram matrices stacked into one batched eigensolve, at most (torch on the CPU: batching
#: only saves Python overhead there, so the stack is kept small; CUDA: see
#: _TorchEngine._batch_limit). numpy solves each Gram matrix as soon as it is formed.
_CPU_BATCH_BYTES = 16 * _MiB


_CUDA_BATCH_BYTES = 1024 * _MiB


@dataclass(frozen=True)
class Backend:
    """A resolved compute backend (make one with :func:`resolve_backend`).

    Attributes
    ----------
    kind : {"numpy", "torch"}
        Library that runs the linear algebra.
    device : str
        ``"cpu"`` or a CUDA device ``"cuda:N"``.
    precision : {"float64", "float32"}
        Precision of the Gram matrix and the eigensolver (module docstring: precision rule).
    memory_limit : int or None
        Bytes of device memory a layer (and a batch) may use; ``None``: the free memory of
        the CUDA device, queried before each layer, and no limit on the CPU.
    requested : str
        What was asked for (``"auto"``, ``"cuda"``, ...).
    note : str
        Why the backend differs from the request (the ``auto`` fallback), else ``""``.
    """

    kind: str = "numpy"
    device: str = "cpu"
    precision: str = "float64"
    memory_limit: int | None = None
    requested: str = "numpy"
    note: str = ""

    @property
    def is_cuda(self) -> bool:
        """True for a CUDA device."""
        return self.device.startswith("cuda")

    @property
    def label(self) -> str:
        """Short name: ``"numpy"``, ``"torch:cpu"``, ``"torch:cuda:0"`` (+ ``"/float32"``)."""
        base = "numpy" if self.kind == "numpy" else f"torch:{self.device}"
        return base if self.precision == "float64" else f"{base}/{self.precision}"

    @property
    def eps(self) -> float:
        """Machine epsilon of :attr:`precision`."""
        return float(np.finfo(self.precision).eps)


#: The default backend: numpy on the CPU, float64.
NUMPY = Backend()


def resolve_backend(
    device: str | Backend | None = "numpy",
    *,
    precision: str = "float64",
    memory_limit: int | None = None,
) -> Backend:
    """Choose the backend for a device name.

    Parameters
    ----------
    device : str, Backend or None
        ``"numpy"`` / ``"cpu"`` / None: numpy on the CPU (the default; LAPACK through numpy
        is as fast as torch on a CPU). ``"torch-cpu"`` (or ``"torch"``): torch on the CPU
        (the stand-in for the CUDA code path in CPU-only tests). ``"cuda"`` / ``"cuda:N"``:
        torch on that CUDA device. ``"auto"``: the current CUDA device when there is one,
        else numpy on the CPU with a :class:`DeviceFallbackWarning`. A :class:`Backend` is
        returned unchanged.
    precision : {"float64", "float32"}
        See the module docstring (precision rule).
    memory_limit : int, optional
        Bytes a layer may use on the device (default: the free device memory).

    Returns
    -------
    Backend

    Raises
    ------
    DeviceError
        ``"cuda"`` without torch or without a CUDA device, or a CUDA index that does not
        exist.
    ValueError
        Unknown device name or precision, negative memory limit.
    """
    if isinstance(device, Backend):
        return device
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if memory_limit is not None and memory_limit <= 0:
        raise ValueError(f"memory_limit must be positive, got {memory_limit}")
    name = "numpy" if device is None else str(device).strip().lower()
    common = {"precision": precision, "memory_limit": memory_limit, "requested": name}
    if name in ("numpy", "cpu"):
        return Backend("numpy", "cpu", **common)
    if name in ("torch", "torch-cpu", "torch:cpu"):
        _require_torch(name)
        return Backend("torch", "cpu", **common)
    if name == "auto":
        if cuda_available():
            return Backend("torch", _cuda_device("cuda"), **common)
        note = ("device='auto': no CUDA device (torch.cuda.is_available() is False); "
                "using numpy on the CPU")
        warnings.warn(note, DeviceFallbackWarning, stacklevel=2)
        return Backend("numpy", "cpu", note=note, **common)
    if name == "cuda" or name.startswith("cuda:"):
        torch = _require_torch(name)
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device={name!r}: torch {torch.__version__} finds no CUDA device on this "
                "machine (use device='auto' to fall back to the CPU, or 'numpy')"
            )
        return Backend("torch", _cuda_device(name), **common)
    raise ValueError(f"unknown device {device!r}; use one of {', '.join(DEVICES)} or 'cuda:N'")


# --------------------------------------------------------------------------------------------
# Eigenvalues, batched
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Spectrum:
    """The eigenvalues of one layer and where they were computed.

    Attributes
    ----------
    evals : numpy.ndarray
        The ``M`` eigenvalues of ``W^T W`` (divided by ``N`` under ``normalization="N"``),
        float64, ascending, with the zero threshold applied.
    device : str
        :attr:`Backend.label` of where they were computed (``"numpy"`` after a fallback).
    fallback : str
        Why the layer was computed on the CPU instead of the requested device, else ``""``.
    """

    evals: Array
    device: str
    fallback: str = ""


def eigenvalue_error_bound(
    N: int, M: int, lambda_max: float, trace: float, precision: str = "float64"
) -> float:
    """Bound on the error of every computed eigenvalue of ``W^T W`` (on the scale given).

    ``E = u * (sqrt(N) * trace + M * lambda_max)`` with ``u`` the machine epsilon of
    ``precision``: the probabilistic round-off of the Gram matrix (``sqrt(N) u tr(G)``,
    Higham & Mary 2019) plus the backward error of the eigensolver (``M u lambda_max``),
    added by Weyl's inequality (module docstring). Two independent computations of the same
    spectrum (CPU and device) differ by at most ``2 E``.
    """
    u = float(np.finfo(precision).eps)
    return u * (math.sqrt(N) * float(trace) + M * float(lambda_max))


def batched_eigenvalues(
    mats: Iterable[Any],
    backend: Backend | str | None = None,
    *,
    normalization: str = "N",
    method: str = "auto",
    names: Sequence[str | None] | None = None,
    batch_bytes: int | None = None,
    check_values: bool = True,
) -> list[Spectrum | Exception]:
    """Eigenvalues of the correlation matrices of many layers, batched by size.

    The matrices are taken one at a time (``mats`` may be a generator, so only one layer
    need be in memory): each is checked, moved to the device, upcast, and reduced to its
    ``M x M`` Gram matrix there; Gram matrices of equal ``M`` are stacked and solved by one
    batched ``eigvalsh`` once the stack reaches ``batch_bytes`` (and at the end).
    ``method="svd"`` stacks the (transposed to tall) layers of equal shape for one batched
    ``svdvals`` on torch; numpy computes them one by one.

    Parameters
    ----------
    mats : iterable of array_like or torch.Tensor
        Layer matrices.
    backend : Backend or str, optional
        Default numpy; a string is passed to :func:`resolve_backend`.
    normalization, method
        As in :func:`setol_theory.linalg.correlation_eigenvalues`.
    names : sequence of str, optional
        Layer names for the error messages.
    batch_bytes : int, optional
        Largest stack of Gram matrices solved at once with torch (default 16 MiB on the
        CPU; on CUDA 1 GiB or a quarter of the free device memory, whichever is smaller).
        numpy solves each matrix as soon as its Gram matrix is formed (LAPACK would solve a
        stack one matrix at a time anyway), keeping one Gram matrix in memory.
    check_values : bool
        Check every matrix for NaN/Inf and all zeros (one pass over it; on CUDA two device
        synchronisations). ``False`` for matrices known to pass, such as the permuted copies
        of a layer already checked (the correlation-trap test); overflow of the Gram matrix
        is still detected.

    Returns
    -------
    list of Spectrum or Exception
        One entry per matrix, in order: the :class:`Spectrum`, or the ``ValueError`` /
        ``TypeError`` that :func:`~setol_theory.linalg.correlation_eigenvalues` would raise
        for it (bad dtype or shape, NaN/Inf, all zeros, overflow, underflow).

    Notes
    -----
    With the numpy backend in float64 the result is bitwise the one of
    ``correlation_eigenvalues`` (LAPACK solves a stack one matrix at a time).
    """
    b = resolve_backend(backend)
    if normalization not in ("N", "none"):
        raise ValueError(f"normalization must be 'N' or 'none', got {normalization!r}")
    if method not in ("auto", "eigvalsh", "svd"):
        raise ValueError(f"method must be 'auto', 'eigvalsh' or 'svd', got {method!r}")
    if batch_bytes is not None and batch_bytes < 0:
        raise ValueError(f"batch_bytes must be >= 0, got {batch_bytes}")
    engine: _Engine = (_TorchEngine if b.kind == "torch" else _Engine)(
        b, normalization, method == "svd", batch_bytes
    )
    engine.check_values = check_values
    count = 0
    for i, W in enumerate(mats):
        name = names[i] if names is not None and i < len(names) else None
        what = f"layer {name!r}" if name else "W"
        count += 1
        try:
            engine.add(i, W, what)
        except (TypeError, ValueError) as exc:
            engine.results[i] = exc
    engine.flush_all()
    return [engine.results[i] for i in range(count)]


def eigenvalues(
    W: Any,
    backend: Backend | str | None = None,
    *,
    normalization: str = "N",
    method: str = "auto",
    name: str | None = None,
) -> Spectrum:
    """Eigenvalues of one layer on a backend (:func:`batched_eigenvalues` of one matrix).

    Raises
    ------
    TypeError, ValueError
        As :func:`setol_theory.linalg.correlation_eigenvalues`.
    """
    (res,) = batched_eigenvalues([W], backend, normalization=normalization, method=method,
                                 names=[name])
    if isinstance(res, Exception):
        raise res
    return res


@dataclass
class _Pending:
    index: int
    N: int
    what: str
    mat: Any  # Gram matrix (eigvalsh) or tall layer (svd)


class _Engine:
    """numpy engine (and the CPU fallback of the torch engine)."""

    def __init__(self, backend: Backend, normalization: str, use_svd: bool,
                 batch_bytes: int | None) -> None:
        self.backend = backend
        self.normalization = normalization
        self.use_svd = use_svd
        self.batch_bytes = batch_bytes
        self.check_values = True
        self.results: dict[int, Spectrum | Exception] = {}
        self.groups: dict[tuple[int, ...], list[_Pending]] = {}
        self.group_bytes: dict[tuple[int, ...], int] = {}

    # -- numpy path ------------------------------------------------------------------
    def add(self, index: int, W: Any, what: str) -> None:
        W, (n, m) = validate_matrix(W, what)
        if is_tensor(W):
            W = torch_to_numpy(W)
        if self.check_values:
            _check_values_numpy(W, what)
        self._add_numpy(index, W, what, n, m, self.backend.precision, "")

    def _add_numpy(self, index: int, W: np.ndarray, what: str, n: int, m: int,
                   precision: str, fallback: str) -> None:
        N = max(n, m)
        _check_memory(what, N, min(n, m), 8 if precision == "float64" else 4,
                      int(np.dtype(W.dtype).itemsize), self.use_svd)
        if self.use_svd:
            lam = _eigs_numpy(W, what, n >= m, True)
            self._done(index, lam, N, what, "numpy", fallback, float(np.finfo(np.float64).eps))
            return
        with np.errstate(over="ignore", invalid="ignore"):
            G = gram_numpy(W, dtype=np.float64 if precision == "float64" else np.float32)
            if not np.isfinite(G).all():
                raise _overflow(what, precision)
        # numpy: LAPACK solves a stack one matrix at a time, so there is nothing to gain from
        # stacking on the CPU; solving at once keeps one Gram matrix in memory
        self._solve_numpy([_Pending(index, N, what, G)], fallback)

    def _solve_numpy(self, items: list[_Pending], fallback: str = "") -> None:
        for p in items:
            G, p.mat = p.mat, None
            with np.errstate(over="ignore", invalid="ignore"):
                lam = np.linalg.eigvalsh(G)
            label = "numpy" if G.dtype == np.float64 else f"numpy/{G.dtype}"
            self._done(p.index, np.array(lam, dtype=np.float64), p.N, p.what, label,
                       fallback, float(np.finfo(G.dtype).eps))

    def _done(self, index: int, lam: np.ndarray, N: int, what: str, device: str,
              fallback: str, eps: float) -> None:
        try:
            if not np.isfinite(lam).all():
                raise _overflow_error(what)
            ev = finalize_eigenvalues(lam, N, self.normalization, what, eps=eps)
        except ValueError as exc:
            self.results[index] = exc
            return
        self.results[index] = Spectrum(ev, device, fallback)

    def flush(self, key: tuple[int, ...]) -> None:  # pragma: no cover - numpy never groups
        items = self.groups.pop(key, [])
        self.group_bytes.pop(key, None)
        if items:
            self._solve_numpy(items)

    def flush_all(self) -> None:
        for key in list(self.groups):
            self.flush(key)


#: Fraction of the available memory a layer's eigenvalue computation may plan to use.
MEMORY_FRACTION = 0.9
#: Layers needing less than this are computed without looking at the free memory.
_MEMORY_CHECK_MIN = 64 * 2**20


def _check_memory(what: str, N: int, M: int, itemsize: int, layer_itemsize: int,
                  use_svd: bool) -> None:
    """Refuse, with a ValueError (the layer is skipped with this reason, or LayerError), a
    layer whose eigenvalues need more memory than the system has left: never an OOM kill."""
    need = eigen_memory_bytes(N, M, itemsize, layer_itemsize, svd=use_svd)
    if need < _MEMORY_CHECK_MIN:  # small layers: not worth a look at /proc/meminfo
        return
    avail = available_memory_bytes()
    if avail is not None and need > MEMORY_FRACTION * avail:
        what_needs = (f"the {N} x {M} layer in float64 and the SVD's copy" if use_svd else
                      f"the {M} x {M} Gram matrix, the eigensolver's copy and the blocks "
                      "that form it")
        raise ValueError(f"{what}: its eigenvalues need ~{_human(need)} of memory "
                         f"({what_needs}), {_human(avail)} available: not computed")


def _overflow(what: str, precision: str) -> ValueError:
    if precision == "float64":
        return _overflow_error(what)
    return ValueError(f"{what}: W^T W overflows {precision} (entries too large; use float64)")


def _human(nbytes: float) -> str:
    if nbytes >= 2**30:
        return f"{nbytes / 2**30:.2f} GiB"
    return f"{nbytes / _MiB:.1f} MiB" if nbytes >= _MiB else f"{nbytes / 1024:.0f} KiB"


def _device_eigvalsh(stack: Any) -> Any:
    """Batched symmetric eigensolver on the device (a seam for the out-of-memory tests)."""
    import torch

    return torch.linalg.eigvalsh(stack)


def _device_svdvals(stack: Any) -> Any:
    import torch

    return torch.linalg.svdvals(stack)


class _TorchEngine(_Engine):
    """torch engine: one layer at a time to the device, Gram there, batched eigvalsh."""

    def __init__(self, backend: Backend, normalization: str, use_svd: bool,
                 batch_bytes: int | None) -> None:
        super().__init__(backend, normalization, use_svd, batch_bytes)
        import torch

        self.torch = torch
        self.dtype = torch.float64 if backend.precision == "float64" else torch.float32
        self.itemsize = 8 if backend.precision == "float64" else 4

    def _available(self) -> float:
        if self.backend.memory_limit is not None:
            return float(self.backend.memory_limit)
        if not self.backend.is_cuda:  # torch on the CPU: the system's memory
            avail = available_memory_bytes()
            return math.inf if avail is None else MEMORY_FRACTION * avail
        torch = self.torch
        free, _total = torch.cuda.mem_get_info(self.backend.device)
        cached = torch.cuda.memory_reserved(self.backend.device) - torch.cuda.memory_allocated(
            self.backend.device)
        return 0.9 * float(free + max(cached, 0))

    def _batch_limit(self) -> int:
        if self.batch_bytes is not None:
            return self.batch_bytes
        if not self.backend.is_cuda and self.backend.memory_limit is None:
            return _CPU_BATCH_BYTES
        return int(min(_CUDA_BATCH_BYTES, self._available() / 4))

    def _is_oom(self, exc: BaseException) -> bool:
        """A device out-of-memory error: the caching allocator's ``OutOfMemoryError``, or the
        ``RuntimeError`` of an allocation made outside it (``CUDA error: out of memory``,
        ``CUSOLVER_STATUS_ALLOC_FAILED`` / ``CUBLAS_STATUS_ALLOC_FAILED`` of a handle or a
        library workspace)."""
        if isinstance(exc, self.torch.OutOfMemoryError):
            return True
        msg = str(exc)
        return isinstance(exc, RuntimeError) and ("out of memory" in msg
                                                  or "ALLOC_FAILED" in msg)

    def _free_cache(self) -> None:
        if self.backend.is_cuda:
            self.torch.cuda.empty_cache()

    def _to_cpu(self, index: int, W: Any, what: str, n: int, m: int, reason: str) -> None:
        """Compute this layer with numpy on the CPU (float64) and record why."""
        A = torch_to_numpy(W) if is_tensor(W) else W
        _check_values_numpy(A, what)
        self._add_numpy(index, A, what, n, m, "float64", reason)

    def add(self, index: int, W: Any, what: str) -> None:
        W, (n, m) = validate_matrix(W, what)
        N, M = max(n, m), min(n, m)
        on_device = is_tensor(W) and str(W.device) == self.backend.device
        in_size = 0 if on_device else N * M * (W.element_size() if is_tensor(W)
                                                else W.dtype.itemsize)
        need = in_size + (N * M + M * M) * self.itemsize
        avail = self._available()
        if need > avail:
            self._to_cpu(index, W, what, n, m,
                         f"needs ~{_human(need)} on {self.backend.device}, "
                         f"{_human(avail)} available: computed on the CPU (numpy)")
            return
        try:
            mat = self._prepare(W, what, n, m)
        except Exception as exc:
            if not self._is_oom(exc):
                raise
            mat = None
        if mat is None:
            # outside the except clause: its traceback no longer holds the device tensors of
            # _prepare, so empty_cache can return them
            self._free_cache()
            self._to_cpu(index, W, what, n, m,
                         f"out of memory on {self.backend.device} while moving the layer: "
                         "computed on the CPU (numpy)")
            return
        key = (N, M) if self.use_svd else (M,)
        self.groups.setdefault(key, []).append(_Pending(index, N, what, mat))
        self.group_bytes[key] = self.group_bytes.get(key, 0) + mat.numel() * self.itemsize
        if self.group_bytes[key] >= self._batch_limit():
            self.flush(key)

    def _prepare(self, W: Any, what: str, n: int, m: int) -> Any:
        torch = self.torch
        T = as_torch(W, torch)
        # move first, then upcast on the device: half the bytes over PCIe for float32 weights
        T = T.to(device=self.backend.device).to(self.dtype)
        if self.check_values:
            bad = ~torch.isfinite(T)
            if bool(bad.any().item()):
                n_nan = int(torch.isnan(T).sum().item())
                raise ValueError(f"{what} contains {n_nan} NaN and "
                                 f"{int(bad.sum().item()) - n_nan} Inf entries")
            del bad
            if not bool(torch.any(T != 0).item()):
                raise ValueError(f"{what} is all zeros (shape {(n, m)}): no spectrum to analyse")
        A = T if n >= m else T.mT
        if self.use_svd:
            return A.contiguous()
        G = A.mT @ A
        if not bool(torch.isfinite(G).all().item()):
            raise _overflow(what, self.backend.precision)
        return G

    def flush(self, key: tuple[int, ...]) -> None:
        items = self.groups.pop(key, [])
        self.group_bytes.pop(key, None)
        if items:
            self._solve_device(items)

    def _solve_device(self, items: list[_Pending]) -> None:
        torch = self.torch
        stack: Any = None
        lam: Any = None
        out: Any = None
        try:
            stack = torch.stack([p.mat for p in items])
            if self.use_svd:
                lam = torch.flip(_device_svdvals(stack) ** 2, dims=(-1,))
            else:
                lam = _device_eigvalsh(stack)
            out = lam.to("cpu", torch.float64).numpy()
        except Exception as exc:
            if not self._is_oom(exc):
                raise
        stack = lam = None
        if out is None:
            # out of memory. Recovery runs outside the except clause, with the stack dropped:
            # the traceback (frames of the solver) and the local would keep the whole failed
            # stack on the device during the one-by-one retry, and empty_cache could not
            # return it
            self._free_cache()
            if len(items) > 1:  # retry one by one
                for p in items:
                    self._solve_device([p])
                return
            p = items[0]
            # keep the precision of the Gram matrix: a float32 one is solved (and its zero
            # threshold set) in float32, as on the device and by the numpy float32 path
            A = p.mat.to("cpu").numpy()
            p.mat = None
            reason = (f"out of memory on {self.backend.device} in the eigensolver: "
                      "computed on the CPU (numpy)")
            if self.use_svd:
                s = np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)
                self._done(p.index, np.square(s)[::-1].copy(), p.N, p.what, "numpy", reason,
                           self.backend.eps)
            else:
                self._solve_numpy([_Pending(p.index, p.N, p.what, A)], reason)
            return
        for p in items:
            p.mat = None
        for p, row in zip(items, out, strict=True):
            self._done(p.index, np.array(row, dtype=np.float64), p.N, p.what,
                       self.backend.label, "", self.backend.eps)

