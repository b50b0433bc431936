"""Eigenvalues of ``X = dW^T dW / N`` for a low-rank ``dW = s B A`` from the ``r x r`` problem.

A LoRA update ([Hu2022], docs/references.md; PEFT [PEFT]) is ``dW = s B A`` with
``B`` (``out x r``), ``A`` (``r x in``) and ``s = lora_alpha / r`` (or ``lora_alpha / sqrt(r)``,
rank-stabilised). Its ``out x in`` product is never formed: with the thin QR factorisations
``B = Q_B R_B`` and ``A^T = Q_A R_A``, ``dW = Q_B (s R_B R_A^T) Q_A^T`` with orthonormal columns
in ``Q_B`` and ``Q_A``, so the singular values of ``dW`` are those of the ``r x r`` core
``s R_B R_A^T``, and the ``M = min(out, in)`` eigenvalues of ``dW^T dW`` are their squares
followed by ``M - r`` zeros. Cost ``O((out + in) r^2)`` time and memory instead of
``O(out * in * M)``.
"""

from __future__ import annotations

import numpy as np

from ._eigen import _EPS, finalize_eigenvalues


def lowrank_eigenvalues(B: np.ndarray, A: np.ndarray, scale: float = 1.0, *,
                        normalization: str = "N", name: str = "dW") -> np.ndarray:
    """The ESD of ``dW = scale * B @ A`` without forming ``dW``.

    Parameters
    ----------
    B : array, shape (out, r)
    A : array, shape (r, in)
    scale : float
        ``s`` of ``dW = s B A`` (LoRA: ``lora_alpha / r``).
    normalization : {"N", "none"}
        As :func:`correlation_eigenvalues`: divide by ``N = max(out, in)`` or not.
    name : str
        For the messages.

    Returns
    -------
    numpy.ndarray, shape (M,)
        Ascending float64 eigenvalues of ``dW^T dW`` (``/ N``), ``M = min(out, in)``; the
        ``M - rank`` zeros exact, the zero threshold of :func:`finalize_eigenvalues` applied.

    Raises
    ------
    ValueError
        Shapes that do not chain, non-finite entries, or ``dW = 0``.
    """
    B = np.asarray(B, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    if B.ndim != 2 or A.ndim != 2 or B.shape[1] != A.shape[0]:
        raise ValueError(f"{name}: B {B.shape} and A {A.shape} do not chain (out x r, r x in)")
    if not (np.isfinite(B).all() and np.isfinite(A).all() and np.isfinite(scale)):
        raise ValueError(f"{name}: non-finite entries in the low-rank factors")
    out, r = B.shape
    inn = A.shape[1]
    N, M = max(out, inn), min(out, inn)
    if min(N, M) < 2:
        raise ValueError(f"{name}: {out} x {inn} has fewer than 2 eigenvalues")
    R_B = np.linalg.qr(B, mode="r")   # (min(out, r), r)
    R_A = np.linalg.qr(A.T, mode="r")  # (min(in, r), r)
    core = float(scale) * (R_B @ R_A.T)
    s = np.linalg.svd(core, compute_uv=False)
    k = min(M, s.size)
    lam = np.zeros(M)
    lam[M - k:] = np.sort(s[:k] ** 2)
    # round-off of the small problem is that of r, not M: the threshold of an M-eigenvalue
    # spectrum (M eps lambda_max) is the larger one and is kept for agreement with dense W
    return finalize_eigenvalues(lam, N, normalization, what=name, eps=_EPS)
