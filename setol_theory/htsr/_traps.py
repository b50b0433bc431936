"""Correlation traps: eigenvalues of the entry-shuffled layer above its MP edge.

Shuffling the entries of ``W`` destroys its correlations but keeps its entry distribution; a
large entry (or a block of correlated ones) survives the shuffle and shows as an eigenvalue of
the shuffled ``X`` above the Marchenko-Pastur edge plus the Tracy-Widom margin (the paper's
section on correlation traps, arXiv:2507.17912; docs/htsr.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _choices
from .._tensor import is_tensor, torch_to_numpy
from ..fit import TW1_Q99, tracy_widom_scale
from ..fit._mp_bulk import median_fit_to_edge
from ..linalg import (
    correlation_eigenvalues,
    eigenvalue_error_bound,
    eigenvalues,
    resolve_backend,
    top_eigenvalues,
)
from ..rmt import MarchenkoPastur
from ..util import njit_cached

try:  # numba is a declared dependency; without it the trap shuffle uses numpy's permutation
    from numba import njit as _numba_njit
except ImportError:  # pragma: no cover - exercised only without numba
    _numba_njit = None

Array = NDArray[np.float64]

_NAN = float("nan")


# --------------------------------------------------------------------------------------
# Correlation traps
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrapResult:
    """Spikes of the element-shuffled layer (correlation traps).

    Attributes
    ----------
    num_traps : float
        Mean number, over the permutations, of shuffled-ESD eigenvalues above the spike
        threshold of the shuffled layer's MP law (an integer when one permutation is used).
    lambda_max_rand : float
        Mean largest eigenvalue of the shuffled ESD.
    threshold_rand : float
        Spike threshold: MP edge ``lambda_plus`` plus the Tracy-Widom 0.99 margin.
    n_permutations : int
        Number of independent permutations (5 when ``M < 100``, as in the paper's notebooks).
    sigma2_rand : float
        Scale ``sigma^2`` of the MP law of the shuffled layer (in the units of the ESD).
    scale : str
        How ``sigma2_rand`` was obtained: ``"variance"`` or ``"fit"`` (see
        :func:`correlation_traps`).
    mean_removed : float
        Entry mean subtracted before the shuffle (``scale="variance"``), 0 for ``"fit"``.
    solver : str
        How the shuffled eigenvalues were found: ``"lanczos"`` (the top ones only,
        :func:`lanczos_trap_count`), ``"gram32"`` (all of them from a float32 Gram matrix,
        :func:`gram32_trap_count`) or ``"full"`` (all of them in float64).
    """

    num_traps: float
    lambda_max_rand: float
    threshold_rand: float
    n_permutations: int
    sigma2_rand: float = _NAN
    scale: str = "fit"
    mean_removed: float = 0.0
    solver: str = "full"


#: How :func:`correlation_traps` sets the MP scale of the shuffled layer.
TRAP_SCALES = _choices.TRAP_SCALES


def entry_moments(W: Array) -> tuple[float, float]:
    """Mean and population variance of all entries of ``W`` (float64, two passes).

    These are exactly the entry mean and variance of every element-wise shuffle of ``W`` (a
    shuffle rearranges the same multiset of values). Computed in chunks of 2^20 entries, so
    a large float32 or memory-mapped layer is never copied to float64 as a whole.
    """
    flat = np.asarray(W).reshape(-1)
    n = flat.size
    if n == 0:
        raise ValueError("entry_moments: empty matrix")
    step = 1 << 20
    total = 0.0
    for i in range(0, n, step):
        total += float(np.sum(flat[i:i + step], dtype=np.float64))
    mean = total / n
    ss = 0.0
    for i in range(0, n, step):
        c = flat[i:i + step].astype(np.float64) - mean
        ss += float(c @ c)
    return mean, ss / n


def entry_variance(W: Array) -> float:
    """Population variance of all entries of ``W`` (:func:`entry_moments`): the ``sigma^2``
    of the Marchenko-Pastur bulk of any element-wise shuffle of ``W`` (``normalization="N"``).
    """
    return entry_moments(W)[1]


def trap_threshold(sigma2: float, N: int, M: int, tw_quantile: float = TW1_Q99) -> float:
    """Spike threshold ``lambda_plus + t s_TW`` of an ``N x M`` MP law with scale ``sigma2``.

    ``lambda_plus = sigma2 (1 + sqrt(M/N))^2`` and ``s_TW`` is :func:`tracy_widom_scale`; the
    default ``t`` is the 0.99 quantile of TW_1, so a Gaussian layer exceeds it with
    probability about 1%.
    """
    return MarchenkoPastur(M / N, sigma2).lambda_plus + tw_quantile * tracy_widom_scale(
        sigma2, N, M)


#: Shuffle methods of :func:`permute_entries`.
SHUFFLES = _choices.TRAP_SHUFFLES

#: Eigenvalue routes of :func:`correlation_traps` (and ``AnalysisOptions.trap_solver``).
TRAP_SOLVERS = _choices.TRAP_SOLVERS


#: ``shuffle="auto"`` uses the blocked permutation from this many entries on (256 KiB of
#: float32, about the L2 cache: beyond it numpy's Fisher-Yates pays a cache miss per swap; the
#: blocked method is 2-3x faster at 1536 x 384 and 5x faster at 30522 x 384).
BLOCKED_SHUFFLE_MIN = 2**16


#: Entries per bucket of the blocked permutation (64 KiB of float32: an L2-resident shuffle).
_BUCKET = 2**14


def _njit(func):  # type: ignore[no-untyped-def]
    if _numba_njit is None:  # pragma: no cover
        return func
    return njit_cached(func)


@_njit
def _splitmix_bounded(state, m):  # type: ignore[no-untyped-def]
    """Next splitmix64 state and an unbiased integer in ``[0, m)`` (Lemire's rejection)."""
    m64 = np.uint64(m)
    thresh = (np.uint64(4294967296) - m64) % m64
    while True:
        state = state + np.uint64(0x9E3779B97F4A7C15)
        x = state
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
        p = (x >> np.uint64(32)) * m64
        if (p & np.uint64(0xFFFFFFFF)) >= thresh:
            return state, np.int64(p >> np.uint64(32))


@_njit
def _blocked_permutation(flat, seed, bucket):  # type: ignore[no-untyped-def]
    """Uniform random permutation of ``flat`` by the Rao-Sandelius method.

    Every entry draws one of ``K = ceil(n / bucket)`` buckets uniformly; the entries are
    scattered into their buckets (a sequential read and ``K`` sequential write streams), and
    every bucket is Fisher-Yates shuffled in cache. Given the bucket sizes, the assignment is
    a uniformly random partition and each bucket a uniformly random order, so the result is
    a uniformly random permutation (Rao, Sankhya A 23, 1961, [Rao1961]; Sandelius, J. R. Stat.
    Soc. B 24(2), 472-481, 1962, [San1962]; keys: docs/references.md). The bucket draws are
    replayed from the seed instead of being stored.
    Random numbers: splitmix64 (Steele, Lea & Flood, OOPSLA 2014) seeded from the caller's
    numpy Generator; bounded integers by Lemire's unbiased rejection (ACM TOMACS 29, 2019).
    """
    n = flat.size
    K = max(1, -(-n // bucket))
    starts = np.zeros(K + 1, np.int64)
    st = np.uint64(seed)
    for _ in range(n):
        st, k = _splitmix_bounded(st, K)
        starts[k + 1] += 1
    for b in range(K):
        starts[b + 1] += starts[b]
    pos = starts[:-1].copy()
    out = np.empty_like(flat)
    st = np.uint64(seed)
    for i in range(n):
        st, k = _splitmix_bounded(st, K)
        out[pos[k]] = flat[i]
        pos[k] += 1
    for b in range(K):
        s = starts[b]
        for i in range(starts[b + 1] - s - 1, 0, -1):
            st, j = _splitmix_bounded(st, i + 1)
            t = out[s + i]
            out[s + i] = out[s + j]
            out[s + j] = t
    return out


def permute_entries(
    W: Array, rng: np.random.Generator, *, method: str = "auto"
) -> Array:
    """A uniformly random rearrangement of the entries of ``W`` (same shape and dtype).

    Parameters
    ----------
    W : array
        Layer weights.
    rng : numpy.random.Generator
        Source of randomness (advanced by one draw for ``"blocked"``).
    method : {"auto", "numpy", "blocked"}
        ``"numpy"``: ``rng.permutation`` (Fisher-Yates; 15-30 ns per entry in cache, 85-140
        ns once ``W`` exceeds the caches: 0.7-1.6 s for the 30522 x 384 embedding of the
        default model). ``"blocked"``: the same distribution, a uniformly random
        permutation, by the cache-friendly Rao-Sandelius method (:func:`_blocked_permutation`;
        7-15 ns per entry, 0.13-0.19 s for that embedding; numba-compiled). ``"auto"``:
        ``"blocked"`` from :data:`BLOCKED_SHUFFLE_MIN` (65536) entries on, else ``"numpy"``
        (so small layers give the same numbers as before the blocked method existed). Both
        are exact uniform permutations driven by a seeded PRNG: for the same seed they give
        different permutations, not different statistics.
    """
    if method not in SHUFFLES:
        raise ValueError(f"shuffle must be one of {SHUFFLES}, got {method!r}")
    A = np.asarray(W)
    flat = A.reshape(-1)
    use_blocked = method == "blocked" or (method == "auto" and flat.size >= BLOCKED_SHUFFLE_MIN)
    if not use_blocked or _numba_njit is None:
        return rng.permutation(flat).reshape(A.shape)
    seed = int(rng.integers(0, 2**63 - 1))
    if flat.dtype in (np.float32, np.float64):
        out = _blocked_permutation(np.ascontiguousarray(flat), seed, _BUCKET)
    else:  # e.g. float16: permuted as float32 (exact) and converted back (exact)
        out = _blocked_permutation(flat.astype(np.float32), seed, _BUCKET).astype(flat.dtype)
    return out.reshape(A.shape)


def n_permutations_for(M: int, n_permutations: int | None) -> int:
    """Number of shuffles of the trap test: 5 below ``M = 100`` eigenvalues, else 1."""
    if n_permutations is None:
        return 5 if M < 100 else 1
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    return n_permutations


def count_traps(spectra: Sequence[Array], N: int, M: int,
                 sigma2: float | None = None, mean: float = 0.0) -> TrapResult:
    """Count the shuffled-ESD eigenvalues above the MP threshold (``sigma2`` None: fitted)."""
    if sigma2 is None:
        sigma2, threshold = median_fit_to_edge(np.concatenate(spectra), N, M)
        scale = "fit"
    else:
        threshold, scale = trap_threshold(sigma2, N, M), "variance"
    counts = [int(np.sum(s > threshold)) for s in spectra]
    return TrapResult(
        num_traps=float(np.mean(counts)),
        lambda_max_rand=float(np.mean([s.max() for s in spectra])),
        threshold_rand=float(threshold),
        n_permutations=len(spectra),
        sigma2_rand=float(sigma2),
        scale=scale,
        mean_removed=float(mean),
    )


#: The Lanczos route of the trap test computes this many top eigenvalues; when all of them
#: are above the threshold, the count needs the full spectrum.
LANCZOS_K = 4

#: When all ``LANCZOS_K`` are above the threshold (a heavy-tailed layer with many traps), Lanczos
#: is run once more for ``6 LANCZOS_K`` eigenvalues if that is at most ``M / 16``; the full
#: spectrum only beyond.  Measured on Student-t(3) layers (CPU s, one thread; k = 4 / 16 / 32
#: vs full): 5632 x 2048 with 20 traps 0.20 / 0.23 / 0.75 vs 1.09; 2048 x 2048 with 12 traps
#: 0.04 / 0.10 / 0.18 vs 0.67.
LANCZOS_RETRY_FACTOR = 6
LANCZOS_RETRY_MAX_FRACTION = 16

#: Smallest ``M`` for the Lanczos route (smaller layers use 5 shuffles and a full spectrum
#: costs less than the Krylov iteration's overhead there).
LANCZOS_MIN_M = 100

#: ARPACK's residual tolerance, as a fraction of the Tracy-Widom scale ``s_TW`` relative to
#: the threshold: a Ritz value is accepted when its residual is below ``0.01 s_TW``.
_TOL_FRACTION_OF_TW = 0.01


#: From this aspect ratio ``N / M`` on, :func:`fast_trap_count` uses the float32 Gram matrix
#: instead of Lanczos: ~60 matrix-vector passes over a tall layer (memory-bound once it
#: leaves the caches) cost more than one float32 ``syrk``.  Measured on this project's CPU,
#: one thread (Lanczos / float64 full / float32 full): 30522 x 384 0.47 / 0.23 / 0.09 s,
#: 2048 x 256 9.2 / 9.3 / 3.4 ms; 1536 x 384 9.6 / 18 / 15 ms, 4096 x 1024 0.10 / 0.31 /
#: 0.20 s, 5632 x 2048 0.37 / 2.3 / 1.2 s (docs/scale.md).
GRAM32_MIN_ASPECT = 8


def lanczos_applies(M: int, scale: str, n_permutations: int | None = None) -> bool:
    """Whether :func:`fast_trap_count` can replace the float64 full spectrum: the threshold
    must be known before the eigenvalues (``scale="variance"``), one shuffle (``M >= 100``)."""
    return (scale == "variance" and M >= LANCZOS_MIN_M
            and n_permutations_for(M, n_permutations) == 1)


def fast_trap_count(
    P: Array, N: int, M: int, sigma2: float, mean: float, *, normalization: str = "N",
    seed: int = 0,
) -> tuple[TrapResult | None, str]:
    """The trap count of one shuffled layer by the cheaper decided route, or ``(None,
    reason)``: Lanczos (:func:`lanczos_trap_count`) unless ``N >= 8 M``
    (:data:`GRAM32_MIN_ASPECT`), then the float32 Gram matrix (:func:`gram32_trap_count`).
    When the route cannot decide the count the caller computes the float64 full spectrum."""
    if N >= GRAM32_MIN_ASPECT * M:
        return gram32_trap_count(P, N, M, sigma2, mean, normalization=normalization)
    return lanczos_trap_count(P, N, M, sigma2, mean, normalization=normalization, seed=seed)


def gram32_trap_count(
    P: Array, N: int, M: int, sigma2: float, mean: float, *, normalization: str = "N",
    tw_quantile: float = TW1_Q99,
) -> tuple[TrapResult | None, str]:
    """The trap count of one shuffled layer from its spectrum in float32, where decided.

    The Gram matrix and the eigensolver in float32 (the numpy backend's
    ``precision="float32"``) have every eigenvalue within
    ``E = u (sqrt(N) tr(X) + M lambda_max)`` of the exact one, ``u = 2^-23``
    (:func:`setol_theory.linalg.eigenvalue_error_bound`; docs/scale.md, "Precision rule"),
    with ``tr(X) = M sigma^2`` exactly for the centred shuffle.  The count of eigenvalues
    above the threshold ``t`` is decided when none lies within ``E`` of ``t`` (Weyl's
    inequality); otherwise ``(None, reason)`` and the caller computes the float64 spectrum.
    ``lambda_max_rand`` is then within ``E`` of the float64 value.
    """
    t = trap_threshold(sigma2, N, M, tw_quantile)
    sp = eigenvalues(P, resolve_backend("numpy", precision="float32"),
                     normalization=normalization)
    ev = sp.evals
    lam_max = float(ev.max())
    E = eigenvalue_error_bound(N, M, lam_max, M * sigma2, "float32")
    if np.any(np.abs(ev - t) <= E):
        return None, "a float32 eigenvalue within the float32 error bound of the threshold"
    return TrapResult(num_traps=float(np.sum(ev > t)), lambda_max_rand=lam_max,
                      threshold_rand=float(t), n_permutations=1, sigma2_rand=float(sigma2),
                      scale="variance", mean_removed=float(mean), solver="gram32"), ""


def lanczos_trap_count(
    P: Array, N: int, M: int, sigma2: float, mean: float, *, normalization: str = "N",
    seed: int = 0, k: int = LANCZOS_K, tw_quantile: float = TW1_Q99,
) -> tuple[TrapResult | None, str]:
    """The trap count of one shuffled layer ``P`` from its top ``k`` eigenvalues (Lanczos).

    With ``scale="variance"`` the threshold ``t`` (:func:`trap_threshold`) is known before
    any eigenvalue, so only the eigenvalues above it matter.  :func:`top_eigenvalues` finds
    the ``k`` largest Ritz values ``theta_i`` with residuals ``r_i`` (ARPACK, tolerance
    ``0.01 s_TW / t``) and the round-off bound ``e`` of one product in the layer's precision.
    The count ``#{theta_i > t}`` is returned when it is decided: every ``theta_i`` farther
    than ``r_i + 2 e`` from ``t`` (an eigenvalue lies within ``r_i`` of each Ritz value of
    the computed operator, which is within ``e`` of ``X``; the residual itself is computed
    to ``e``) and fewer than ``k`` above ``t``; when all ``k`` are above, once more with
    ``6 k`` (if ``6 k <= M / 16``).  Otherwise ``(None, reason)``: the caller
    computes the full spectrum.  ``lambda_max_rand`` is ``theta_1`` (within ``r_1 + 2 e`` of
    the full spectrum's largest eigenvalue).

    What Lanczos cannot certify: it finds the top eigenvalues of the Krylov space of its
    start vector, and misses an eigenvalue only when that vector is (numerically) orthogonal
    to its eigenvector; the start vector is random (seeded), so this has probability zero in
    exact arithmetic.  Equality with the full-spectrum counts is tested on the calibration
    set of docs/htsr.md (tests/test_traps_lanczos.py).
    """
    from scipy.sparse.linalg import ArpackNoConvergence

    t = trap_threshold(sigma2, N, M, tw_quantile)
    tol = min(1e-3, _TOL_FRACTION_OF_TW * tracy_widom_scale(sigma2, N, M) / t)
    ks = [k] + [k2 for k2 in (k * LANCZOS_RETRY_FACTOR,) if k2 <= M // LANCZOS_RETRY_MAX_FRACTION]
    for kk in ks:
        try:
            top = top_eigenvalues(P, kk, normalization=normalization, tol=tol, seed=seed,
                                  trace=M * sigma2)
        except ArpackNoConvergence:
            return None, "Lanczos did not converge"
        theta, margin = top.values, top.residuals + 2.0 * top.matvec_error
        if np.any(np.abs(theta - t) <= margin):
            return None, "a Ritz value within its error of the threshold"
        count = int(np.sum(theta > t))
        if count < kk:
            break
    else:
        return None, f"all {ks[-1]} Lanczos eigenvalues above the threshold"
    return TrapResult(num_traps=float(count), lambda_max_rand=float(theta[0]),
                      threshold_rand=float(t), n_permutations=1, sigma2_rand=float(sigma2),
                      scale="variance", mean_removed=float(mean), solver="lanczos"), ""


def trap_null_model(W: Array, normalization: str, scale: str) -> tuple[float | None, float]:
    """``(sigma2, mean)`` of the shuffled layer's null model: MP scale in the ESD's units
    (None for ``scale="fit"``) and the entry mean removed before the shuffle (0 for "fit")."""
    if scale not in TRAP_SCALES:
        raise ValueError(f"trap scale must be one of {TRAP_SCALES}, got {scale!r}")
    if scale == "fit":
        return None, 0.0
    mean, var = entry_moments(W)
    return (var if normalization == "N" else var * max(np.shape(W))), mean


def shuffled_layer(W: Array, rng: np.random.Generator, method: str, mean: float) -> Array:
    """:func:`permute_entries` of ``W`` minus ``mean`` (subtracted in the fresh copy)."""
    P = permute_entries(W, rng, method=method)
    if mean != 0.0:
        np.subtract(P, mean, out=P, casting="unsafe")
    return P


def _as_matrix(W: Any) -> Array:
    """A numpy view of a weight matrix given as an array, a list or a torch tensor (bfloat16,
    float16 and grad-requiring or CUDA tensors included)."""

    return torch_to_numpy(W) if is_tensor(W) else np.asarray(W)


def correlation_traps(
    W: Array,
    *,
    normalization: str = "N",
    rng: np.random.Generator | int | None = 0,
    n_permutations: int | None = None,
    eig: Callable[[Array], Array] | None = None,
    shuffle: str = "auto",
    scale: str = "variance",
    solver: str = "auto",
) -> TrapResult:
    """Count correlation traps: spikes that survive an element-wise shuffle of ``W``.

    Shuffling all entries of ``W`` destroys the correlations between rows and columns but
    keeps the entry distribution; a Marchenko-Pastur bulk is expected unless a few very
    large entries create spikes of their own (arXiv:2507.17912 Sec. 3.3.1 and Sec. 6.5,
    Inducing a Correlation Trap; docs/htsr.md).  The eigenvalues of the shuffled ESD above the
    MP edge plus a Tracy-Widom 0.99 margin (:func:`trap_threshold`) are counted.

    The MP law of a shuffled matrix is known exactly: its entries are the entries of ``W``
    in random positions, so its scale is their variance (``scale="variance"``, the
    default).  Every shuffle also keeps the entry mean ``mu``, a rank-one term
    ``mu 1 1^T`` whose eigenvalue ``~ M mu^2`` leaves the bulk once ``|mu|`` is a few per
    cent of the entry standard deviation; it says nothing about large entries, so with
    ``"variance"`` the mean is subtracted before shuffling (``mean_removed``).
    ``scale="fit"`` instead fits the MP law to the shuffled, uncentred ESD
    (:func:`setol_theory.fit._mp_bulk.median_fit_to_edge`, median matching), as the
    paper's notebooks and WeightWatcher do.
    The fit's error (about 1.25/M relative) is not in the Tracy-Widom margin, so it flags
    Gaussian layers too often: measured over 200 Gaussian matrices per shape, 4.0% (784 x
    300), 3.0% (300 x 100), 5.0% (500 x 500), 1.0% (1536 x 384) of them had a "trap" with
    the fit against 1.0%, 0.0%, 1.5%, 0.5% with the exact variance (nominal: 1%).

    Parameters
    ----------
    W : array, shape (N, M) or (M, N)
        Layer weights.
    normalization : {"N", "none"}
        As in :func:`setol_theory.linalg.correlation_eigenvalues`.
    rng : Generator, int or None
        Seed of the permutations (results are reproducible for a fixed seed).
    n_permutations : int, optional
        Defaults to 5 when ``min(W.shape) < 100`` and 1 otherwise.
    eig : callable, optional
        Eigenvalue routine ``W -> evals`` (defaults to ``correlation_eigenvalues``).
    shuffle : {"auto", "numpy", "blocked"}
        How the entries are permuted (:func:`permute_entries`): the same uniform
        distribution over permutations, at different speeds.
    scale : {"variance", "fit"}
        MP scale of the shuffled layer: the exact entry variance (default) or a fit to the
        shuffled ESD (see above).
    solver : {"auto", "full"}
        ``"auto"``: :func:`fast_trap_count` (the top eigenvalues by Lanczos, or a float32
        spectrum for a tall layer) where that applies (``scale="variance"``, one shuffle,
        ``M >= 100``, no ``eig``: a caller that passes its own eigenvalue routine gets every
        shuffled spectrum from it), with the float64 full spectrum wherever it does not
        decide the count; ``"full"``: always the full spectrum.
    """
    W = _as_matrix(W)
    if W.ndim != 2:
        raise ValueError(f"correlation_traps: expected a 2-D matrix, got shape {W.shape}")
    N, M = max(W.shape), min(W.shape)
    sigma2, mean = trap_null_model(W, normalization, scale)
    n_permutations = n_permutations_for(M, n_permutations)
    if solver not in TRAP_SOLVERS:
        raise ValueError(f"solver must be one of {TRAP_SOLVERS}, got {solver!r}")
    rng = np.random.default_rng(rng)
    # (a constant layer has sigma2 = 0: no MP law, its shuffle is all zeros after centring)
    fast = solver == "auto" and eig is None and sigma2 is not None and sigma2 > 0
    eig = eig or (lambda A: correlation_eigenvalues(A, normalization=normalization))
    if fast and lanczos_applies(M, scale, n_permutations):
        P = shuffled_layer(W, rng, shuffle, mean)
        res, _ = fast_trap_count(P, N, M, sigma2, mean, normalization=normalization,
                                 seed=int(rng.integers(0, 2**63 - 1)))
        return res if res is not None else count_traps([eig(P)], N, M, sigma2, mean)
    spectra = [eig(shuffled_layer(W, rng, shuffle, mean)) for _ in range(n_permutations)]
    return count_traps(spectra, N, M, sigma2, mean)

