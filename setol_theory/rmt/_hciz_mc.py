"""Haar Monte Carlo estimates of HCIZ and spherical integrals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._hciz_exact import _check_beta, _check_positive_int, _check_real, _check_spectrum

RngLike = np.random.Generator | int | None


# --------------------------------------------------------------------------------------------
# Haar Monte Carlo
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MCEstimate:
    r"""A Monte Carlo estimate of ``E[exp(X)]`` kept in the log domain.

    Attributes
    ----------
    log_mean : float
        ``log`` of the sample mean of ``exp(X)`` (log-mean-exp).
    log_stderr : float
        Standard error of ``log_mean`` by the delta method,
        ``se(mean(w)) / mean(w)`` with ``w = exp(X - max X)``.
    n_samples : int
        Number of samples.
    """

    log_mean: float
    log_stderr: float
    n_samples: int

    @property
    def mean(self) -> float:
        """The estimate ``mean(exp(X))`` (may overflow to ``inf`` for huge exponents)."""
        with np.errstate(over="ignore"):
            return float(np.exp(self.log_mean))

    @property
    def stderr(self) -> float:
        """Standard error of :attr:`mean` (``mean * log_stderr``)."""
        return self.mean * self.log_stderr

    def zscore(self, log_value: float) -> float:
        """``(log_mean - log_value) / log_stderr``: a reference value's distance in std errors."""
        return (self.log_mean - float(log_value)) / self.log_stderr


def log_mean_exp(x: ArrayLike) -> MCEstimate:
    """Log-mean-exp of samples ``x`` with its delta-method standard error.

    ``log_mean = m + log(mean(exp(x - m)))``, ``m = max x``; the standard error of the mean of
    ``w = exp(x - m)`` is ``std(w, ddof=1) / sqrt(n)`` and that of ``log_mean`` is its ratio to
    ``mean(w)``.  Needs at least two finite samples.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"log_mean_exp needs at least 2 samples, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("log_mean_exp: samples contain non-finite values")
    m = float(np.max(x))
    w = np.exp(x - m)
    wbar = float(np.mean(w))
    se = float(np.std(w, ddof=1)) / math.sqrt(x.size)
    return MCEstimate(log_mean=m + math.log(wbar), log_stderr=se / wbar, n_samples=int(x.size))


def haar_matrices(n: int, size: int, beta: int = 2, rng: RngLike = None) -> NDArray[Any]:
    """``size`` independent Haar-distributed ``n x n`` orthogonal (beta=1) or unitary (beta=2).

    QR of a Gaussian (real or complex) matrix with the columns of ``Q`` multiplied by the
    phases ``diag(R) / |diag(R)|`` (Mezzadri 2007): without this fix the LAPACK ``Q`` is not
    Haar.  Batched over a stack with ``numpy.linalg.qr``.

    Returns
    -------
    ndarray, shape (size, n, n)
        ``float64`` (beta = 1) or ``complex128`` (beta = 2).
    """
    n = _check_positive_int(n, "n")
    size = _check_positive_int(size, "size")
    beta = _check_beta(beta)
    rng = np.random.default_rng(rng)
    if beta == 2:  # (real, imag) pairs drawn per sample: the stream does not depend on batching
        g = rng.standard_normal((size, n, n, 2))
        z = (g[..., 0] + 1j * g[..., 1]) * math.sqrt(0.5)
    else:
        z = rng.standard_normal((size, n, n))
    q, r = np.linalg.qr(z)
    d = np.diagonal(r, axis1=-2, axis2=-1)
    return q * (d / np.abs(d))[..., None, :]


def _as_operator(v: ArrayLike, name: str, beta: int) -> tuple[NDArray[Any], bool]:
    """A spectrum (1-D, returns (evals, True)) or a Hermitian matrix (2-D, (matrix, False))."""
    arr = np.asarray(v)
    if arr.ndim == 2:
        if arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{name} must be a square matrix, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
        if np.iscomplexobj(arr) and beta == 1:
            raise TypeError(f"{name} is complex but beta = 1 (orthogonal) needs a real matrix")
        arr = arr.astype(np.complex128 if np.iscomplexobj(arr) else np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains non-finite values (NaN or Inf)")
        scale = max(1.0, float(np.max(np.abs(arr))))
        if np.max(np.abs(arr - arr.conj().T)) > 1e-10 * scale:
            raise ValueError(f"{name} must be Hermitian (symmetric for beta = 1)")
        return arr, False
    return _check_spectrum(arr, name), True


def _batches(n_samples: int, per_sample: int, batch_size: int | None) -> list[int]:
    if batch_size is None:
        batch_size = max(1, min(n_samples, 2_000_000 // max(per_sample, 1)))
    batch_size = _check_positive_int(batch_size, "batch_size")
    sizes = [batch_size] * (n_samples // batch_size)
    if n_samples % batch_size:
        sizes.append(n_samples % batch_size)
    return sizes


def hciz_mc(a: ArrayLike, b: ArrayLike, t: float = 1.0, beta: int = 2,
            n_samples: int = 100_000, rng: RngLike = None, *,
            batch_size: int | None = None) -> MCEstimate:
    r"""Haar Monte Carlo of the HCIZ integral ``E_U exp(t Tr(A U B U^*))``.

    ``U`` Haar on ``O(N)`` (``beta = 1``) or ``U(N)`` (``beta = 2``), sampled by
    :func:`haar_matrices`.

    Parameters
    ----------
    a, b : array_like
        Eigenvalues (shape ``(N,)``, then ``A = diag(a)``) or full Hermitian matrices
        (``(N, N)``; real symmetric for beta = 1).  Matrices make the invariance of the integral
        under ``A -> V A V^*`` testable.
    t : float
        Coupling.
    beta : {1, 2}
        Dyson index.
    n_samples : int
        Number of Haar samples (>= 2).
    rng : numpy.random.Generator or int or None
        Source of randomness (an int is a seed); reproducible, and the same samples are drawn
        whatever ``batch_size``.
    batch_size : int, optional
        Samples per vectorised batch (default: about 2e6 matrix entries per batch).

    Returns
    -------
    MCEstimate
        log-mean-exp with its standard error (``.mean``, ``.stderr`` give the plain values).
    """
    beta = _check_beta(beta)
    A, a_diag = _as_operator(a, "a", beta)
    B, b_diag = _as_operator(b, "b", beta)
    t = _check_real(t, "t")
    n_samples = _check_positive_int(n_samples, "n_samples", 2)
    n = A.shape[0]
    if B.shape[0] != n:
        raise ValueError(f"a and b must have the same size N, got {n} and {B.shape[0]}")
    rng = np.random.default_rng(rng)
    out = np.empty(n_samples)
    i = 0
    for size in _batches(n_samples, n * n, batch_size):
        U = haar_matrices(n, size, beta, rng)
        if a_diag and b_diag:
            P = np.abs(U) ** 2
            x = np.einsum("i,sij,j->s", A, P, B)
        else:
            Bm = np.diag(B) if b_diag else B
            Am = np.diag(A) if a_diag else A
            UBU = U @ Bm @ np.conj(np.swapaxes(U, -1, -2))
            x = np.real(np.einsum("ij,sji->s", Am, UBU))
        out[i:i + size] = t * x
        i += size
    return log_mean_exp(out)


def spherical_integral_mc(a: ArrayLike, t: float, beta: int = 2, n_samples: int = 100_000,
                          rng: RngLike = None, *, batch_size: int | None = None) -> MCEstimate:
    """Monte Carlo of the rank-one spherical integral ``E_u exp(t <u, A u>)``.

    ``u = g / |g|`` with ``g`` a real (beta = 1) or complex (beta = 2) standard Gaussian vector,
    which is uniform on the unit sphere; ``t = N theta`` in Guionnet-Maida's notation.
    """
    beta = _check_beta(beta)
    a = _check_spectrum(a, "a")
    t = _check_real(t, "t")
    n_samples = _check_positive_int(n_samples, "n_samples", 2)
    rng = np.random.default_rng(rng)
    n = a.size
    out = np.empty(n_samples)
    i = 0
    for size in _batches(n_samples, n, batch_size):
        g2 = (rng.standard_normal((size, n, beta)) ** 2).sum(axis=-1)  # |g_i|^2, per sample
        out[i:i + size] = t * (g2 @ a) / g2.sum(axis=1)
        i += size
    return log_mean_exp(out)

