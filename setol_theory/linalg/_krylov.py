"""The largest eigenvalues of ``X = W^T W / N`` by a Krylov method, without the Gram matrix.

The correlation-trap test needs only the eigenvalues of the shuffled layer above its MP edge:
none for most layers, a few at most.  The implicitly restarted Lanczos method (ARPACK's
``dsaupd`` through :func:`scipy.sparse.linalg.eigsh`) finds the top ``k`` of them from
products ``x -> W^T (W x) / N``, ``O(N M)`` each (two matrix-vector products on the smaller
``M x M`` side), instead of the ``O(N M^2)`` Gram matrix and the ``O(M^3)`` full eigensolver
(docs/scale.md, "The trap test by Lanczos").

Convergence criterion (ARPACK's): a Ritz pair ``(theta, v)`` is accepted when its residual
``||X v - theta v|| <= tol |theta|``.  The residuals are recomputed here from the returned
vectors, in float64, and returned with the values: for a symmetric ``X`` an eigenvalue lies
within ``||r||`` of every Ritz value, and the ``j``-th largest Ritz value is a lower bound of
the ``j``-th largest eigenvalue (Cauchy interlacing of the Rayleigh-Ritz projection; Parlett,
*The Symmetric Eigenvalue Problem*, 1998, Ch. 11 and 13).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

__all__ = ["TopEigenvalues", "krylov_error_bound", "top_eigenvalues"]


@dataclass(frozen=True)
class TopEigenvalues:
    """The ``k`` largest eigenvalues of ``X`` found by Lanczos.

    Attributes
    ----------
    values : ndarray
        Ritz values, largest first (float64, on the scale of the ESD).
    residuals : ndarray
        ``||X v_i - theta_i v_i||`` of each Ritz pair (float64 products, unit ``v_i``).
    matvec_error : float
        Bound on the error of one product ``X x`` (``||x|| = 1``) in the working precision
        (:func:`krylov_error_bound`); 0 in float64 (below the residuals).
    n_matvec : int
        Products ``X x`` used (one block product counts its columns).
    dtype : str
        Working precision of the products (``"float32"`` for a float32 or half layer).
    """

    values: Array
    residuals: Array
    matvec_error: float
    n_matvec: int
    dtype: str


def krylov_error_bound(N: int, M: int, trace: float, lambda_max: float, eps: float) -> float:
    """Bound on the round-off of one product ``X x = W^T (W x) / N`` with ``||x|| = 1``.

    ``u (sqrt(M) + sqrt(N)) sqrt(tr(X) lambda_max)``: ``W x`` is a sum of ``M`` terms per row,
    with error ``<~ sqrt(M) u |W| |x|`` in the probabilistic model of Higham & Mary (SIAM J.
    Sci. Comput. 41, A2815, 2019), whose norm is at most ``sqrt(M) u ||W||_F``; ``W^T y`` adds
    ``sqrt(N) u ||W||_F ||y||`` with ``||y|| <= ||W||_2``; and
    ``||W||_F ||W||_2 / N = sqrt(tr(X) lambda_max)``.  A Lanczos run on the computed products
    is a run on a matrix within this distance of ``X`` (Paige's analysis of Lanczos in finite
    precision; Parlett 1998, Ch. 13), so by Weyl's inequality the bound adds to every Ritz
    value's error.
    """
    return eps * (math.sqrt(M) + math.sqrt(N)) * math.sqrt(max(trace, 0.0) * max(lambda_max, 0.0))


def _working(W: np.ndarray) -> np.ndarray:
    """``W`` in its own precision when that is float32/float64, half precisions as float32
    (exact)."""
    if W.dtype in (np.float32, np.float64):
        return W
    return W.astype(np.float32)


def top_eigenvalues(
    W: Any,
    k: int,
    *,
    normalization: str = "N",
    tol: float = 1e-6,
    seed: int = 0,
    trace: float | None = None,
    maxiter: int | None = None,
) -> TopEigenvalues:
    """The ``k`` largest eigenvalues of ``X = W^T W / N`` (``"none"``: ``W^T W``) by Lanczos.

    Parameters
    ----------
    W : array, shape (n, m)
        Layer weights, float16/32/64; ``N = max(n, m)``, ``M = min(n, m)``; the operator acts
        on the ``M``-dimensional side (``W^T W`` or ``W W^T``, whichever is smaller), in the
        precision of ``W`` (float32 for half precisions), never forming the Gram matrix.
    k : int
        Number of eigenvalues, ``1 <= k < M``.
    normalization : {"N", "none"}
        Scale of the ESD, as in :func:`correlation_eigenvalues`.
    tol : float
        ARPACK's relative residual tolerance: a Ritz pair is accepted at
        ``||X v - theta v|| <= tol |theta|``.
    seed : int
        Seed of the start vector (reproducible).
    trace : float, optional
        ``tr(X)`` for the round-off bound (computed from ``W`` when not given).
    maxiter : int, optional
        ARPACK's restart limit (its default when None).

    Raises
    ------
    scipy.sparse.linalg.ArpackNoConvergence
        When ARPACK does not converge within ``maxiter`` restarts.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh  # on first use: the CLI stays light

    A = _working(np.asarray(W))
    if A.ndim != 2:
        raise ValueError(f"top_eigenvalues: expected a 2-D matrix, got shape {A.shape}")
    n, m = A.shape
    N, M = max(n, m), min(n, m)
    if not 1 <= k < M:
        raise ValueError(f"top_eigenvalues: need 1 <= k < M = {M}, got k = {k}")
    scale = 1.0 / N if normalization == "N" else 1.0
    tall = n >= m
    work = A.dtype
    count = [0]

    def matmat(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        count[0] += 1 if x.ndim == 1 else x.shape[1]
        xw = x.astype(work, copy=False)
        y = A.T @ (A @ xw) if tall else A @ (A.T @ xw)
        return y.astype(np.float64) * scale

    op = LinearOperator((M, M), matvec=matmat, matmat=matmat, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(M)
    vals, vecs = eigsh(op, k=k, which="LA", tol=tol, v0=v0, maxiter=maxiter)
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    vecs = vecs / np.linalg.norm(vecs, axis=0)
    # residuals in float64 products (the working-precision error is bounded separately)
    A64 = A.astype(np.float64, copy=False) if work == np.float64 else None
    if A64 is not None:
        XV = (A64.T @ (A64 @ vecs) if tall else A64 @ (A64.T @ vecs)) * scale
    else:
        XV = matmat(vecs)
    count[0] += k
    res = np.linalg.norm(XV - vecs * vals, axis=0)
    if trace is None:
        trace = float(np.einsum("ij,ij->", A, A, dtype=np.float64)) * scale
    eps = float(np.finfo(work).eps)
    err = 0.0 if work == np.float64 else krylov_error_bound(N, M, trace, float(vals[0]), eps)
    return TopEigenvalues(values=vals.astype(np.float64), residuals=res.astype(np.float64),
                          matvec_error=err, n_matvec=count[0], dtype=str(work))
