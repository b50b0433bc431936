"""Eigenvalues of one layer's correlation matrix ``X = W^T W / N`` with numpy or torch.

The ESD convention of the HTSR analysis (docs/htsr.md, "The matrix and its ESD"): a layer
weight ``W`` is ``N x M`` with ``N >= M`` after transposition; its ESD is the ``M``
eigenvalues of ``X = W^T W / N`` (``normalization="N"``) or of ``W^T W``
(``normalization="none"``, WeightWatcher's scale).  The Gram matrix is accumulated in blocks
of float64 so that float32/bf16 weights do not lose the small eigenvalues.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._tensor import (
    as_torch,
    dtype_problem,
    import_torch,
    is_tensor,
    np_category,
    shape_problem,
    torch_category,
    torch_dtype_name,
    torch_to_numpy,
)
from ._device import _cuda_device

_EPS = float(np.finfo(np.float64).eps)


def zero_threshold(evals: np.ndarray) -> float:
    """Eigenvalues at or below this value are numerically zero: ``M * eps * lambda_max``.

    ``eps`` is the float64 machine epsilon and ``M = len(evals)``. This is the relative
    threshold of docs/htsr.md ("The matrix and its ESD"); :func:`correlation_eigenvalues` sets
    eigenvalues at or below it to exactly 0.
    """
    evals = np.asarray(evals, dtype=np.float64)
    if evals.size == 0:
        return 0.0
    return float(evals.size * _EPS * np.max(evals))


def correlation_eigenvalues(
    W: Any,
    *,
    normalization: str = "N",
    method: str = "auto",
    backend: str = "numpy",
    device: str = "cpu",
    name: str | None = None,
) -> np.ndarray:
    """Eigenvalues of the layer correlation matrix ``X = W^T W / N`` (the ESD).

    ``W`` (``n x m``) is transposed if needed so that ``N = max(n, m) >= M = min(n, m)``; the
    ``M`` eigenvalues of the ``M x M`` matrix ``W^T W`` are returned, divided by ``N`` under
    the default normalization (docs/htsr.md, "The matrix and its ESD"; arXiv:2507.17912
    Sec. 2.1).

    Parameters
    ----------
    W : array_like or torch.Tensor
        Float matrix (float16/bfloat16/float32/float64), at least 2 x 2, finite, not all zero.
    normalization : {"N", "none"}
        ``"N"`` (theory, default): eigenvalues of ``W^T W / N``. ``"none"``: of ``W^T W``
        (WeightWatcher's scale).
    method : {"auto", "eigvalsh", "svd"}
        ``"eigvalsh"``: symmetric eigensolver on the float64 Gram matrix ``W^T W``.
        ``"svd"``: squared singular values of ``W`` in float64 (LAPACK gesdd); the small
        eigenvalues are accurate to ``eps * lambda_max`` instead of ``eps * kappa^2``.
        ``"auto"`` = ``"eigvalsh"``: measured on this project's CPU (numpy 2.4, OpenBLAS,
        float32 weights, Gram/float64 conversion included) eigvalsh is 2-5x faster —
        384x384 7.8 vs 18 ms, 1536x384 8.4 vs 43 ms, 3072x768 46 vs 206 ms,
        30522x384 84 vs 420 ms, 4096x4096 4.9 vs 16 s — and the HTSR tail fit uses the top of
        the spectrum, where both agree to ~1e-13 relative.
    backend : {"numpy", "torch"}
        ``"torch"`` runs the same float64 computation with ``torch.linalg`` on ``device``.
    device : str
        torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``); only with ``backend="torch"``.
    name : str, optional
        Layer name used in error messages.

    Returns
    -------
    numpy.ndarray
        The ``M`` eigenvalues, float64, ascending. Eigenvalues ``<= M * eps * lambda_max``
        (:func:`zero_threshold`; ``eps`` of float64) are set to exactly 0: the Gram matrix is
        positive semi-definite, so negative values are round-off, and values below the
        threshold cannot be resolved by the eigvalsh path (measured round-off on rank-deficient
        layers up to 30522 x 384: a few ``eps * lambda_max``, well under the threshold). Both
        methods therefore return the same exact zeros for a rank-deficient layer.

    Raises
    ------
    TypeError
        Non-float dtype (integer, boolean, complex, object).
    ValueError
        Not 2-D, empty, 1-wide (fewer than 2 eigenvalues), NaN/Inf entries, all zeros,
        over/underflow of the Gram matrix in float64, or a bad option.
    """
    what = f"layer {name!r}" if name else "W"
    if normalization not in ("N", "none"):
        raise ValueError(f"normalization must be 'N' or 'none', got {normalization!r}")
    if method not in ("auto", "eigvalsh", "svd"):
        raise ValueError(f"method must be 'auto', 'eigvalsh' or 'svd', got {method!r}")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    if backend == "numpy" and str(device) != "cpu":
        raise ValueError(f"device={device!r} needs backend='torch'")
    use_svd = method == "svd"

    W, (n, m) = validate_matrix(W, what)
    N = max(n, m)

    if backend == "torch":
        lam = _eigs_torch(W, what, n >= m, use_svd, str(device))
    else:
        if is_tensor(W):
            W = torch_to_numpy(W)
        _check_values_numpy(W, what)
        lam = _eigs_numpy(W, what, n >= m, use_svd)
    return finalize_eigenvalues(lam, N, normalization, what)


def validate_matrix(W: Any, what: str = "W") -> tuple[Any, tuple[int, int]]:
    """Check the dtype and shape of a layer matrix (not its values); return it and its shape.

    Parameters
    ----------
    W : array_like or torch.Tensor
        Candidate layer matrix. A non-tensor is converted with ``numpy.asarray`` (no copy).
    what : str
        How the matrix is named in error messages (``"layer 'fc.weight'"``).

    Returns
    -------
    W : numpy.ndarray or torch.Tensor
        The matrix (an array unless a tensor was given).
    shape : tuple of int
        ``(n, m)``.

    Raises
    ------
    TypeError
        Non-float dtype.
    ValueError
        Not 2-D, empty, or 1-wide.
    """
    if is_tensor(W):
        category, dtype_name = torch_category(W.dtype), torch_dtype_name(W.dtype)
    else:
        W = np.asarray(W)
        category, dtype_name = np_category(W.dtype), str(W.dtype)
    problem = dtype_problem(category, dtype_name)
    if problem is not None:
        raise TypeError(f"{what}: {problem}")
    shape = tuple(int(s) for s in W.shape)
    problem = shape_problem(shape)
    if problem is not None:
        raise ValueError(f"{what}: {problem}")
    return W, (shape[0], shape[1])


def finalize_eigenvalues(
    lam: np.ndarray, N: int, normalization: str, what: str = "W", eps: float = _EPS
) -> np.ndarray:
    """Zero threshold and normalization applied to the raw eigenvalues of ``W^T W``.

    Eigenvalues ``<= M * eps * lambda_max`` become exactly 0 (:func:`zero_threshold`; ``eps``
    is the unit round-off of the precision the spectrum was computed in, float64 by default),
    then the spectrum is divided by ``N`` under ``normalization="N"``. ``lam`` (ascending,
    float64) is modified in place and returned.

    Raises
    ------
    ValueError
        ``lambda_max`` is not positive (``W^T W`` underflowed to zero).
    """
    M = lam.size
    lam_max = float(lam[-1])
    if not lam_max > 0.0:
        raise ValueError(
            f"{what}: W^T W underflows to zero in float64 (entries too small, max |W| tiny)"
        )
    lam[lam <= M * eps * lam_max] = 0.0
    if normalization == "N":
        lam /= N
    return lam


def _check_values_numpy(W: np.ndarray, what: str) -> None:
    if not np.isfinite(W).all():
        n_nan = int(np.count_nonzero(np.isnan(W)))
        n_inf = int(np.count_nonzero(np.isinf(W)))
        raise ValueError(f"{what} contains {n_nan} NaN and {n_inf} Inf entries")
    if not np.any(W):
        raise ValueError(f"{what} is all zeros (shape {W.shape}): no spectrum to analyse")


def _overflow_error(what: str) -> ValueError:
    return ValueError(f"{what}: W^T W overflows float64 (entries too large)")


#: Above this size (bytes of the converted copy of ``W``) the Gram matrix of a layer whose dtype
#: differs from the product's is accumulated over row blocks instead of converting the whole
#: layer at once: the peak extra memory is one block instead of twice the layer.
_GRAM_DIRECT_BYTES = 32 * 2**20
#: Row blocks of the narrow path (``M <= _GRAM_TILE``): large enough that each block's product
#: is compute-bound (with the 8 MiB blocks of 0.1 every block of a 16384-wide float32 layer
#: re-read the whole 2 GiB Gram matrix).
_GRAM_BLOCK_BYTES = 64 * 2**20
#: Widest Gram matrix made by one BLAS call; wider ones are assembled from tiles of this side.
#: OpenBLAS 0.3.31's multithreaded ``dsyrk`` with its SkylakeX (AVX-512) kernels, which
#: OpenBLAS picks on AVX-512 CPUs, dies with SIGSEGV for outputs of side >= ~16,000 once the
#: inner dimension is >= 1024 (measured: 1024 x 16383 and 2048 x 16100 crash, 512 x 16383,
#: 2048 x 15000 and 12288 x 12288 do not; one thread, ``dgemm`` and ``ssyrk`` do not). Tiles of
#: 4096 keep every ``syrk`` far below that and cost 0.8-1.2x one call (benchmarks/bench_gram.py).
_GRAM_TILE = 4096
#: Bytes of one converted column panel in the tiled path (rows are chunked beyond it).
_GRAM_PANEL_BYTES = 512 * 2**20


def _as(A: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return A if A.dtype == dtype else np.asarray(A, dtype=dtype)


def gram_numpy(W: np.ndarray, out: np.ndarray | None = None,
               dtype: np.dtype | type = np.float64) -> np.ndarray:
    """The ``M x M`` Gram matrix ``W^T W`` (``W`` tall) or ``W W^T`` (``W`` wide) in ``dtype``.

    A narrow layer (``M <= 4096``) whose copy in ``dtype`` is small, or that is already in
    ``dtype``, is multiplied in one BLAS call (``syrk``); a larger one of another dtype is
    converted and accumulated over row blocks of 64 MiB (two held at a time), so that the
    float64 copy of a
    30522 x 384 float32 embedding is never made. A wider layer is assembled from tiles of at
    most 4096 x 4096 (``syrk`` on the diagonal, ``gemm`` off it; column panels converted
    chunk by chunk), which never calls a single very large ``syrk`` (a crash of OpenBLAS's
    multithreaded AVX-512 ``dsyrk``: see ``_GRAM_TILE``) and never holds a converted copy of
    the whole layer. Every route differs from the one-call product only by the round-off of
    the summation order (a few ``eps * ||W||_F^2``).

    Parameters
    ----------
    W : numpy.ndarray, shape (n, m)
        Float matrix.
    out : numpy.ndarray, optional
        Array of shape ``(M, M)`` and dtype ``dtype`` to write into.
    dtype : numpy dtype, default float64
        Precision of the products and of the result.

    Returns
    -------
    numpy.ndarray
        ``G``, ``M x M`` with ``M = min(n, m)``.
    """
    n, m = W.shape
    A = W if n >= m else W.T  # N x M view
    N, M = A.shape
    dt = np.dtype(dtype)
    if out is not None:
        if out.shape != (M, M) or out.dtype != dt:
            raise ValueError(f"out must be a {dt} array of shape ({M}, {M}), got {out.dtype} "
                             f"{out.shape}")
        if np.shares_memory(out, W):
            raise ValueError("out must not share memory with W")
    if M <= _GRAM_TILE:
        if A.dtype == dt or N * M * dt.itemsize <= _GRAM_DIRECT_BYTES:
            A = _as(A, dt)
            if out is None:
                return A.T @ A  # numpy uses BLAS syrk for A.T @ A
            return np.matmul(A.T, A, out=out)
        G = np.zeros((M, M), dt) if out is None else out
        if out is not None:
            G[...] = 0.0
        rows = max(1, _GRAM_BLOCK_BYTES // (dt.itemsize * M))
        for a in range(0, N, rows):
            B = _as(A[a:a + rows], dt)
            G += B.T @ B
        return G
    G = np.empty((M, M), dt) if out is None else out
    T = _GRAM_TILE
    # rows per chunk of a converted panel (a view needs no chunking)
    R = N if A.dtype == dt else max(1, _GRAM_PANEL_BYTES // (dt.itemsize * T))
    for i0 in range(0, M, T):
        i1 = min(i0 + T, M)
        whole_i = _as(A[:, i0:i1], dt) if R >= N else None  # converted once per row of tiles
        for k0 in range(i0, M, T):
            k1 = min(k0 + T, M)
            acc = None
            for r0 in range(0, N, R):
                Pi = whole_i if whole_i is not None else _as(A[r0:r0 + R, i0:i1], dt)
                if k0 == i0:
                    part = Pi.T @ Pi  # syrk on a <= 4096-wide tile
                else:
                    part = Pi.T @ _as(A[r0:r0 + R, k0:k1] if R < N else A[:, k0:k1], dt)
                acc = part if acc is None else acc + part
            G[i0:i1, k0:k1] = acc
            if k0 != i0:
                G[k0:k1, i0:i1] = acc.T
    return G


def eigen_memory_bytes(N: int, M: int, itemsize: int = 8, layer_itemsize: int = 8,
                       svd: bool = False) -> int:
    """Peak extra memory of the numpy eigenvalues of an ``N x M`` layer (``N >= M``), bytes.

    ``itemsize`` is the precision's (8: float64), ``layer_itemsize`` the stored layer's. The
    ``M x M`` Gram matrix and the copy LAPACK's ``syevd`` works on (numpy makes it), plus what
    :func:`gram_numpy` holds while it forms the Gram matrix: the converted layer (at most 32 MiB)
    or two row blocks (narrow path), or two converted panels and three tile-sized temporaries
    (tiled path). ``svd=True``: the converted layer and LAPACK's copy of it.
    """
    if svd:
        return 2 * N * M * 8 + M * 8
    gram = M * M * itemsize
    converting = layer_itemsize != itemsize
    if M <= _GRAM_TILE:
        if not converting:
            work = 0
        elif N * M * itemsize <= _GRAM_DIRECT_BYTES:
            work = N * M * itemsize
        else:
            rows = max(1, _GRAM_BLOCK_BYTES // (itemsize * M))
            work = 2 * min(N, rows) * M * itemsize  # the next block is made before the last goes
    else:
        T = _GRAM_TILE
        rows = N if not converting else min(N, max(1, _GRAM_PANEL_BYTES // (itemsize * T)))
        work = (2 * rows * T * itemsize if converting else 0) + 3 * T * T * itemsize
    return 2 * gram + work


def _cgroup_available(root: str = "/sys/fs/cgroup") -> int | None:
    """Memory left under this process's cgroup limit (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``), or None when there is no limit or no cgroup."""
    for limit_file, usage_file in (
        (f"{root}/memory.max", f"{root}/memory.current"),
        (f"{root}/memory/memory.limit_in_bytes", f"{root}/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file) as fh:
                text = fh.read().strip()
            if text == "max":
                return None
            limit = int(text)
            with open(usage_file) as fh:
                usage = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit >= 2**60:  # v1's "no limit"
            return None
        return max(0, limit - usage)
    return None


def available_memory_bytes() -> int | None:
    """Memory this process can still get: the smaller of the system's ``MemAvailable`` (Linux)
    and what is left under its cgroup limit (containers, batch schedulers), or None."""
    avail: int | None = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            avail = None
    cg = _cgroup_available()
    if cg is not None:
        avail = cg if avail is None else min(avail, cg)
    return avail


def _eigs_numpy(W: np.ndarray, what: str, tall: bool, use_svd: bool) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        if use_svd:
            A = np.asarray(W, dtype=np.float64)  # a copy unless W is already float64
            s = np.linalg.svd(A, compute_uv=False)  # descending
            lam = np.square(s)[::-1].copy()
        else:
            G = gram_numpy(W)  # M x M
            if not np.isfinite(G).all():
                raise _overflow_error(what)
            lam = np.linalg.eigvalsh(G)  # ascending
    if not np.isfinite(lam).all():
        raise _overflow_error(what)
    return lam


def _eigs_torch(W: Any, what: str, tall: bool, use_svd: bool, device: str) -> np.ndarray:
    torch = import_torch()
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r}: torch finds no CUDA device on this machine")

        device = _cuda_device(device)  # a clear error for a missing or malformed index
    T = as_torch(W, torch)
    # move first, then upcast on the device: half the bytes over PCIe for float32 weights
    T = T.to(device=device).to(torch.float64)
    n_nan = int(torch.isnan(T).sum().item())
    n_inf = int(torch.isinf(T).sum().item())
    if n_nan or n_inf:
        raise ValueError(f"{what} contains {n_nan} NaN and {n_inf} Inf entries")
    if not bool(torch.any(T != 0).item()):
        raise ValueError(f"{what} is all zeros (shape {tuple(T.shape)}): no spectrum to analyse")
    if use_svd:
        lam = torch.flip(torch.linalg.svdvals(T) ** 2, dims=(0,))
    else:
        G = T.mT @ T if tall else T @ T.mT
        if not bool(torch.isfinite(G).all().item()):
            raise _overflow_error(what)
        lam = torch.linalg.eigvalsh(G)
    out = lam.cpu().numpy().astype(np.float64, copy=True)
    if not np.isfinite(out).all():
        raise _overflow_error(what)
    return out

