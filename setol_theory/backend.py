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

import importlib.util
import math
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .spectra import (
    _check_values_numpy,
    _eigs_numpy,
    _is_tensor,
    _overflow_error,
    _torch_to_numpy,
    finalize_eigenvalues,
    gram_numpy,
    validate_matrix,
)

__all__ = [
    "DEVICES",
    "NUMPY",
    "PRECISIONS",
    "Agreement",
    "Backend",
    "DeviceError",
    "DeviceFallbackWarning",
    "Spectrum",
    "agreement_checks",
    "batched_eigenvalues",
    "compare_spectra",
    "cuda_available",
    "eigenvalue_error_bound",
    "eigenvalues",
    "gpu_checks",
    "resolve_backend",
    "rmt_checks",
]

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


class DeviceError(ValueError):
    """The requested device cannot be used (no torch, no CUDA device, bad device index)."""


class DeviceFallbackWarning(UserWarning):
    """``device="auto"`` found no CUDA device and falls back to the CPU."""


# --------------------------------------------------------------------------------------------
# Backend choice
# --------------------------------------------------------------------------------------------


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device (imports torch if it is installed)."""
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


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


def _require_torch(name: str) -> Any:
    try:
        import torch
    except ImportError as exc:
        raise DeviceError(f"device={name!r} needs torch (pip install torch)") from exc
    return torch


def _cuda_device(name: str) -> str:
    import torch

    count = torch.cuda.device_count()
    if name == "cuda":
        index = torch.cuda.current_device()
    else:
        try:
            index = int(name.split(":", 1)[1])
        except ValueError:
            raise DeviceError(f"device={name!r}: the CUDA index must be an integer "
                              "('cuda:0')") from None
    if not 0 <= index < count:
        raise DeviceError(f"device={name!r}: only {count} CUDA device(s) (0..{count - 1})")
    return f"cuda:{index}"


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
        As in :func:`setol_theory.spectra.correlation_eigenvalues`.
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
        ``TypeError`` that :func:`~setol_theory.spectra.correlation_eigenvalues` would raise
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
        As :func:`setol_theory.spectra.correlation_eigenvalues`.
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
        if _is_tensor(W):
            W = _torch_to_numpy(W)
        if self.check_values:
            _check_values_numpy(W, what)
        self._add_numpy(index, W, what, n, m, self.backend.precision, "")

    def _add_numpy(self, index: int, W: np.ndarray, what: str, n: int, m: int,
                   precision: str, fallback: str) -> None:
        N = max(n, m)
        if self.use_svd:
            lam = _eigs_numpy(W, what, n >= m, True)
            self._done(index, lam, N, what, "numpy", fallback, float(np.finfo(np.float64).eps))
            return
        with np.errstate(over="ignore", invalid="ignore"):
            if precision == "float64":
                G = gram_numpy(W)
            else:
                A = np.asarray(W if n >= m else W.T, dtype=np.float32)
                G = A.T @ A
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
        if not self.backend.is_cuda:
            return math.inf
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
        A = _torch_to_numpy(W) if _is_tensor(W) else W
        _check_values_numpy(A, what)
        self._add_numpy(index, A, what, n, m, "float64", reason)

    def add(self, index: int, W: Any, what: str) -> None:
        W, (n, m) = validate_matrix(W, what)
        N, M = max(n, m), min(n, m)
        on_device = _is_tensor(W) and str(W.device) == self.backend.device
        in_size = 0 if on_device else N * M * (W.element_size() if _is_tensor(W)
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
        if _is_tensor(W):
            T = W.detach()
        else:
            A = np.asarray(W)
            if any(s < 0 for s in A.strides):
                A = np.ascontiguousarray(A)
            if not A.dtype.isnative:  # torch.from_numpy rejects non-native byte order
                A = A.astype(A.dtype.newbyteorder("="))
            with warnings.catch_warnings():
                # read-only arrays (memory-mapped weights): the tensor is only read
                warnings.simplefilter("ignore", UserWarning)
                T = torch.from_numpy(A)
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


# --------------------------------------------------------------------------------------------
# CPU vs device agreement
# --------------------------------------------------------------------------------------------


def _check(model: str, check: str, error: float, tol: float, note: str = "") -> Any:
    from .verify import Check

    ok = bool(np.isfinite(error) and error <= tol)
    return Check(model, check, float(error), float(tol), ok, note)


@dataclass(frozen=True)
class _Derived:
    """Metrics of one spectrum that the agreement checks compare."""

    alpha: float
    xmin: float
    num_tail: int
    D: float
    detx_lambda_min: float
    num_ecs: int
    detx_residual: float
    erg: float
    fit_ok: bool


def _derived(ev: Array, min_tail: int) -> _Derived:
    from .htsr import _positive_evals
    from .powerlaw import fit_powerlaw
    from .quality import detx_lambda_min, erg_residual

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_powerlaw(_positive_evals(ev), min_tail=min_tail)
    d = detx_lambda_min(ev)
    ok = fit.status == "ok"
    return _Derived(
        alpha=float(fit.alpha), xmin=float(fit.xmin), num_tail=int(fit.n_tail) if ok else 0,
        D=float(fit.D), detx_lambda_min=d.lambda_min, num_ecs=d.num_ecs,
        detx_residual=d.residual, erg=erg_residual(ev, fit.xmin) if ok else math.nan,
        fit_ok=ok,
    )


@dataclass(frozen=True)
class Agreement:
    """Comparison of one layer's spectrum on two backends, with the derived tolerances.

    ``ratio[q] = error[q] / tol[q]`` for q in eigenvalues, alpha, xmin, detx_lambda_min,
    erg; ``<= 1`` passes. ``note[q]`` explains a discrete change accepted as a near-tie.
    """

    name: str
    N: int
    M: int
    error: dict[str, float] = field(default_factory=dict)
    tol: dict[str, float] = field(default_factory=dict)
    note: dict[str, str] = field(default_factory=dict)

    @property
    def ratio(self) -> dict[str, float]:
        return {k: (self.error[k] / self.tol[k] if self.tol[k] > 0 else
                    (0.0 if self.error[k] == 0 else math.inf)) for k in self.error}

    @property
    def ok(self) -> bool:
        return all(r <= 1.0 for r in self.ratio.values())


def compare_spectra(
    ref: Array, test: Array, N: int, M: int, *, name: str = "W",
    precision: str = "float64", ref_precision: str = "float64", min_tail: int = 10,
) -> Agreement:
    """Compare two computations of one spectrum and the metrics derived from it.

    Tolerances (``docs/scale.md``), with ``E = E_ref + E_test`` the sum of the
    :func:`eigenvalue_error_bound` of the two computations:

    * eigenvalues: ``max |lambda_ref - lambda_test| <= E``;
    * alpha: with the same ``xmin`` index, every tail eigenvalue moves by a relative
      ``delta <= E / xmin`` and ``alpha - 1 = n / sum ln(lambda_i / xmin)`` by at most
      ``2 (alpha - 1)^2 delta``;
    * xmin: the same eigenvalue index (equal tail size), value within ``E``. A different
      index is accepted only as a near-tie of the KS scan: the reference KS distance at the
      test's ``xmin`` is within ``4 n delta`` (each of the ``n`` tail terms of the CDF moves
      by ``<= (alpha - 1) delta + |d alpha| ln(lambda_max / xmin)``, bounded crudely) of the
      minimum; then alpha is compared with the reference fit at that ``xmin``;
    * detX lambda_min: the same index of the first negative partial sum ``S_k`` of
      ``ln lambda`` (rescaled to ``sum lambda = M``), value within ``E``; a different index
      only if ``|S_k|`` at the reference index is within the perturbation
      ``k E / lambda_min + k M E / sum lambda`` of zero;
    * ERG residual at xmin (``sum_{lambda >= xmin} ln lambda``, same scale): within
      ``n (E / xmin + M E / sum lambda)``.
    """
    ref = np.sort(np.asarray(ref, dtype=np.float64))
    test = np.sort(np.asarray(test, dtype=np.float64))
    lmax, tr = float(ref[-1]), float(ref.sum())
    E = (eigenvalue_error_bound(N, M, lmax, tr, ref_precision)
         + eigenvalue_error_bound(N, M, lmax, tr, precision))
    a, b = _derived(ref, min_tail), _derived(test, min_tail)
    err: dict[str, float] = {}
    tol: dict[str, float] = {}
    note: dict[str, str] = {}
    err["eigenvalues"] = float(np.max(np.abs(ref - test)))
    tol["eigenvalues"] = E
    # power-law tail
    if a.fit_ok and b.fit_ok:
        delta = E / a.xmin
        n = a.num_tail
        if a.num_tail == b.num_tail:
            err["xmin"], tol["xmin"] = abs(a.xmin - b.xmin), E
            err["alpha"] = abs(a.alpha - b.alpha)
            tol["alpha"] = 2.0 * (a.alpha - 1.0) ** 2 * delta
        else:
            from .powerlaw import fit_powerlaw

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                at = fit_powerlaw(ref[ref > 0], xmin=b.xmin, min_tail=2)
            err["xmin"], tol["xmin"] = abs(float(at.D) - a.D), 4.0 * n * delta
            note["xmin"] = (f"KS near-tie: n_tail {a.num_tail} vs {b.num_tail}, "
                            f"D {a.D:.3g} vs {float(at.D):.3g}")
            err["alpha"] = abs(float(at.alpha) - b.alpha)
            tol["alpha"] = 2.0 * (float(at.alpha) - 1.0) ** 2 * E / b.xmin
        err["erg"] = abs(a.erg - b.erg) if a.num_tail == b.num_tail else 0.0
        tol["erg"] = n * (E / a.xmin + M * E / tr)
    elif a.fit_ok != b.fit_ok:
        err["alpha"], tol["alpha"] = math.inf, 0.0
        note["alpha"] = "the power-law fit succeeded on one side only"
    # detX edge
    k = a.num_ecs
    if a.num_ecs == b.num_ecs:
        err["detx_lambda_min"], tol["detx_lambda_min"] = (
            abs(a.detx_lambda_min - b.detx_lambda_min), E)
    else:
        lam_min = max(min(a.detx_lambda_min, b.detx_lambda_min), np.finfo(float).tiny)
        err["detx_lambda_min"] = abs(a.detx_residual)
        tol["detx_lambda_min"] = k * E / lam_min + k * M * E / tr
        note["detx_lambda_min"] = f"detX near-tie: M_ECS {a.num_ecs} vs {b.num_ecs}"
    return Agreement(name, N, M, err, tol, note)


def _test_matrices(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    N, M = 2000, 500
    pareto = rng.pareto(1.5, size=(N, M)) * rng.choice([-1.0, 1.0], size=(N, M))
    return {
        "gaussian 2000x500": rng.standard_normal((N, M)),
        "pareto mu=1.5 2000x500": pareto,
        "student-t nu=3 1000x1000": rng.standard_t(3, size=(1000, 1000)),
        "gaussian wide 300x1200 float32": rng.standard_normal((300, 1200)).astype(np.float32),
    }


def agreement_checks(
    device: str | Backend = "cuda",
    *,
    matrices: Mapping[str, Any] | None = None,
    model: bool | str = True,
    precision: str = "float64",
    seed: int = 0,
    min_tail: int = 10,
) -> list[Any]:
    """CPU (numpy, float64) vs ``device``: eigenvalues, alpha, xmin, detX lambda_min, ERG.

    Parameters
    ----------
    device : str or Backend
        The backend under test (``"cuda"``; ``"torch-cpu"`` runs the same code path on the
        CPU).
    matrices : mapping name -> matrix, optional
        Default: Gaussian 2000 x 500, Pareto (``mu = 1.5``, heavy-tailed) 2000 x 500,
        Student-t (``nu = 3``) 1000 x 1000, and a wide float32 Gaussian 300 x 1200.
    model : bool or path
        Also compare every layer of the default real model (``True``, skipped with a note
        when it is not installed) or of the model at this path.
    precision : {"float64", "float32"}
        Precision on the device (the tolerances follow from it).
    seed : int
        Seed of the default matrices.

    Returns
    -------
    list of setol_theory.verify.Check
        For each matrix and quantity (one row per quantity for the model, its worst layer):
        the error, the tolerance of :func:`compare_spectra`, pass/fail.
    """
    b = resolve_backend(device, precision=precision)
    rows: list[Any] = []
    mats = dict(matrices) if matrices is not None else _test_matrices(seed)
    names = list(mats)
    ref = batched_eigenvalues(mats.values(), NUMPY, names=names)
    test = batched_eigenvalues(mats.values(), b, names=names)
    for name, r, t in zip(names, ref, test, strict=True):
        W = mats[name]
        N, M = max(np.shape(W)), min(np.shape(W))
        if isinstance(r, Exception) or isinstance(t, Exception):
            bad = r if isinstance(r, Exception) else t
            rows.append(_check(name, "eigenvalues", math.inf, 0.0, f"error: {bad}"))
            continue
        ag = compare_spectra(r.evals, t.evals, N, M, name=name, precision=b.precision,
                             min_tail=min_tail)
        for q in ag.error:
            rows.append(_check(name, f"{b.label} vs numpy: {q}", ag.error[q], ag.tol[q],
                               ag.note.get(q, "")))
    if model:
        rows.extend(_model_agreement(b, model, min_tail))
    return rows


def _model_agreement(b: Backend, model: bool | str, min_tail: int) -> list[Any]:
    from .spectra import default_model_path, iter_layers

    if model is True:
        try:
            path = default_model_path()
        except FileNotFoundError as exc:
            return [_check("default model", "agreement", 0.0, 0.0, f"skipped: {exc}")]
    else:
        path = model
    layers = [lay for lay in iter_layers(path) if lay.W is not None and lay.M >= 10]
    names = [lay.name for lay in layers]
    ref = batched_eigenvalues((lay.W for lay in layers), NUMPY, names=names)
    test = batched_eigenvalues((lay.W for lay in layers), b, names=names)
    worst: dict[str, tuple[float, Agreement]] = {}
    for lay, r, t in zip(layers, ref, test, strict=True):
        if isinstance(r, Exception) or isinstance(t, Exception):
            continue
        ag = compare_spectra(r.evals, t.evals, lay.N, lay.M, name=lay.name,
                             precision=b.precision, min_tail=min_tail)
        for q, ratio in ag.ratio.items():
            if q not in worst or ratio > worst[q][0]:
                worst[q] = (ratio, ag)
    label = f"model ({len(layers)} layers)"
    rows = []
    for q, (ratio, ag) in worst.items():
        rows.append(_check(label, f"{b.label} vs numpy: {q} (worst layer)", ag.error[q],
                           ag.tol[q], f"{ag.name}: error/tol = {ratio:.2g}"
                           + (f"; {ag.note[q]}" if q in ag.note else "")))
    return rows


# --------------------------------------------------------------------------------------------
# Random-matrix sanity on the device
# --------------------------------------------------------------------------------------------

#: Tracy-Widom (beta = 1) window used for an extreme eigenvalue: P(TW_1 < -7) ~ 1e-6 and
#: P(TW_1 > 6) ~ 6e-5 (left tail ~ exp(-|s|^3 / 24), right tail ~ exp(-2 s^{3/2} / 3)).
TW_WINDOW = (-7.0, 6.0)
#: Linear spectral statistics of an M x M Wishart matrix fluctuate by O(1) in the sum, so
#: their averages by O(1/M), and their finite-size bias is O(1/M) too (Bai & Silverstein,
#: Ann. Probab. 32, 553 (2004)); the constant is the one of ``setol verify`` (MC_CONSTANT).
LSS_CONSTANT = 5.0


def _lower_edge_scale(sigma2: float, N: int, M: int) -> float:
    """TW scale of the smallest eigenvalue of ``W^T W / N`` (soft edge, ``M < N``).

    Ma, Bernoulli 18, 322 (2012); Feldheim & Sodin, GAFA 20, 88 (2010):
    ``lambda_min ~ mu_- - s_- TW_1`` with ``s_- = (sqrt N - sqrt M)(1/sqrt M - 1/sqrt N)^{1/3}``
    (times ``sigma2 / N``).
    """
    sN, sM = math.sqrt(N), math.sqrt(M)
    return sigma2 * (sN - sM) * (1.0 / sM - 1.0 / sN) ** (1.0 / 3.0) / N


def _lss_checks(label: str, ev: np.ndarray, law: Any, M_eff: int, kmax: int = 4) -> list[Any]:
    """The Monte Carlo checks of ``setol verify`` on one sampled spectrum: the empirical
    Stieltjes transform on verify's grid (distances 0.2 and 0.5 of the support width) with
    verify's error measure, and the free cumulants 1..kmax from the moments."""
    from . import free
    from .verify import _rel_err, _z_grid

    z = _z_grid(law)
    rows = [_check(label, f"Stieltjes transform vs {type(law).__name__}",
                   _rel_err(free.stieltjes_samples(ev, z), law.stieltjes(z)),
                   LSS_CONSTANT / M_eff, f"tol = {LSS_CONSTANT:g}/M, as setol verify")]
    m = np.array([np.mean(ev**k) for k in range(1, kmax + 1)])
    kap = np.asarray(free.moments_to_free_cumulants(m), dtype=float)
    ref = np.asarray(law.free_cumulants(kmax), dtype=float)
    mom = np.array([law.moment(k) for k in range(1, kmax + 1)])
    # a cumulant of order k is a polynomial in m_1..m_k with O(1) coefficients: its
    # fluctuation is that of the moments, ~ k m_k / M
    err = np.abs(kap - ref) / (np.arange(1, kmax + 1) * mom)
    rows.append(_check(label, f"free cumulants 1..{kmax} (max |d kappa_k| / (k m_k))",
                       float(np.max(err)), LSS_CONSTANT / M_eff, f"tol = {LSS_CONSTANT:g}/M"))
    return rows


def rmt_checks(
    device: str | Backend = "cuda",
    *,
    n: int = 8192,
    batch: int = 64,
    batch_m: int = 1024,
    seed: int = 0,
) -> list[Any]:
    """Random-matrix sanity of the eigensolver on a device, at sizes a CPU reaches slowly.

    * One Gaussian ``4n x n`` matrix (``Q = 4``, ``sigma2 = 1``), generated on the device:
      the largest and smallest eigenvalues of ``X = W^T W / N`` within the Tracy-Widom
      window :data:`TW_WINDOW` of the Marchenko-Pastur edges (scales of Johnstone 2001 and
      Ma 2012); the empirical Stieltjes transform and the free cumulants 1..4 against the MP
      law; the same for the inverse-MP spectrum ``(1 - q) / lambda`` (the IMP checks of
      ``setol verify``, ``kappa = (Q - 1)/2``), tolerance ``5 / M``.
    * ``batch`` Gaussian ``4 batch_m x batch_m`` matrices solved in one batched eigvalsh:
      each largest eigenvalue in its TW window, the pooled Stieltjes transform vs MP, and
      the batched result equal to the one-by-one result (within :func:`eigenvalue_error_bound`).

    Sizes default to the GPU ones (``n = 8192``, 64 x 1024); the CPU tests use small ones.
    """
    from .densities import InverseMarchenkoPastur, MarchenkoPastur
    from .htsr import tracy_widom_scale

    b = resolve_backend(device)
    if b.kind != "torch":
        raise DeviceError("rmt_checks needs a torch backend ('cuda' or 'torch-cpu')")
    import torch

    dt = torch.float64 if b.precision == "float64" else torch.float32
    gen = torch.Generator(device=b.device).manual_seed(seed)
    rows: list[Any] = []
    N, M = 4 * n, n
    W = torch.randn(N, M, generator=gen, device=b.device, dtype=dt)
    (sp,) = batched_eigenvalues([W], b)
    del W
    if isinstance(sp, Exception):
        raise sp
    ev = sp.evals
    mp = MarchenkoPastur(M / N, 1.0)
    label = f"MP {N}x{M} on {b.label}"
    s_hi, s_lo = tracy_widom_scale(1.0, N, M), _lower_edge_scale(1.0, N, M)
    lo, hi = TW_WINDOW
    z_hi = (ev[-1] - mp.lambda_plus) / s_hi
    z_lo = (mp.lambda_minus - ev[0]) / s_lo
    rows.append(_check(label, "lambda_max - lambda_+ in TW units", abs(z_hi),
                       hi if z_hi > 0 else -lo, f"{z_hi:+.2f} (window {lo:g}..{hi:g})"))
    rows.append(_check(label, "lambda_- - lambda_min in TW units", abs(z_lo),
                       hi if z_lo > 0 else -lo, f"{z_lo:+.2f} (window {lo:g}..{hi:g})"))
    rows.extend(_lss_checks(label, ev, mp, M))
    imp = InverseMarchenkoPastur.from_Q(N / M)
    rows.extend(_lss_checks(f"IMP Q={N / M:g} {N}x{M} on {b.label}",
                            np.sort((1.0 - mp.q) / ev), imp, M, kmax=3))
    # batched
    Nb, Mb = 4 * batch_m, batch_m
    Ws = torch.randn(batch, Nb, Mb, generator=gen, device=b.device, dtype=dt)
    spectra = batched_eigenvalues(list(Ws), b, batch_bytes=batch * Mb * Mb * 8 + 1)
    single = batched_eigenvalues([Ws[0]], b)[0]
    del Ws
    evs = np.stack([s.evals for s in spectra if not isinstance(s, Exception)])
    label = f"MP batch {batch}x({Nb}x{Mb}) on {b.label}"
    mpb = MarchenkoPastur(Mb / Nb, 1.0)
    sb = tracy_widom_scale(1.0, Nb, Mb)
    zb = (evs[:, -1] - mpb.lambda_plus) / sb
    worst = float(zb[np.argmax(np.abs(zb))])
    rows.append(_check(label, "max |lambda_max - lambda_+| in TW units", abs(worst),
                       hi if worst > 0 else -lo, f"worst {worst:+.2f} of {len(evs)}"))
    rows.extend(_lss_checks(label, evs.ravel(), mpb, Mb))
    if not isinstance(single, Exception):
        e = eigenvalue_error_bound(Nb, Mb, float(evs[0, -1]), float(evs[0].sum()), b.precision)
        rows.append(_check(label, "batched vs one-by-one eigenvalues",
                           float(np.max(np.abs(single.evals - evs[0]))), 2 * e))
    return rows


def gpu_checks(
    device: str | Backend = "cuda",
    *,
    large: bool = True,
    model: bool | str = True,
    seed: int = 0,
) -> list[Any]:
    """Everything ``setol verify --gpu`` runs: agreement and random-matrix sanity on a device.

    * :func:`agreement_checks` in float64 (random, heavy-tailed, default model);
    * :func:`agreement_checks` of the float32 fast path against the float64 CPU result,
      with the float32 error bound (random and heavy-tailed matrices);
    * :func:`rmt_checks` at ``n = 8192`` and a batch of 64 x 1024 (``large=True``) or at
      ``n = 512`` and 8 x 128 (``large=False``, seconds on a CPU).

    Returns the rows as :class:`setol_theory.verify.Check`; ``device="cuda"`` raises
    :class:`DeviceError` on a machine without CUDA.
    """
    b = resolve_backend(device)
    b32 = Backend(b.kind, b.device, "float32", b.memory_limit, b.requested, b.note)
    rows = agreement_checks(b, model=model, seed=seed)
    rows += agreement_checks(b32, model=False, seed=seed)
    if large:
        rows += rmt_checks(b, n=8192, batch=64, batch_m=1024, seed=seed)
    else:
        rows += rmt_checks(b, n=512, batch=8, batch_m=128, seed=seed)
    return rows
