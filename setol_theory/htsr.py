"""HTSR layer metrics: power-law tail, norms, Marchenko-Pastur bulk, spikes, correlation traps.

The functions here are pure: they take a weight matrix or its eigenvalues and return small
frozen dataclasses.  :func:`analyze` is the one entry point that walks a whole model (through
:func:`setol_theory.spectra.iter_layers`) and collects one record per layer, analysed or
with the reason it was not.

Conventions (``docs/glossary.md``, ``shared/spec/htsr.md``): ``W`` is ``N x M`` with
``N >= M`` after transposing; the ESD is the ``M`` eigenvalues of ``X = W^T W / N``
(``normalization="N"``) or of ``W^T W`` (``normalization="none"``, WeightWatcher's scale).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .backend import Backend, Spectrum, batched_eigenvalues, resolve_backend
from .densities import MarchenkoPastur
from .powerlaw import PowerLawBoundWarning, PowerLawFit, fit_powerlaw
from .quality import detx_lambda_min
from .spectra import Layer, correlation_eigenvalues, iter_layers, zero_threshold

try:  # numba is a declared dependency; without it the trap shuffle uses numpy's permutation
    from numba import njit as _numba_njit
except ImportError:  # pragma: no cover - exercised only without numba
    _numba_njit = None

__all__ = [
    "TW1_Q99",
    "MPFit",
    "TrapResult",
    "LayerMetrics",
    "ModelAnalysis",
    "fit_mp_bulk",
    "tracy_widom_scale",
    "correlation_traps",
    "esd_metrics",
    "analyze_matrix",
    "analyze_layers",
    "analyze",
    "permute_entries",
    "entry_variance",
    "entry_moments",
    "trap_threshold",
    "TRAP_SCALES",
    "warning_label",
]

Array = NDArray[np.float64]
_NAN = float("nan")

#: 0.99 quantile of the Tracy-Widom (beta = 1) law, used as the spike margin above the
#: MP edge.  Value from Bornemann, Markov Processes Relat. Fields 16, 803 (2010), Table 5
#: (F_1^{-1}(0.99) = 2.0234).
TW1_Q99 = 2.0234

#: Alpha thresholds of the HTSR phenomenology (shared/spec/htsr.md, sections/210).
ALPHA_OVERFIT = 2.0
ALPHA_UNDERTRAINED = 6.0


# --------------------------------------------------------------------------------------
# Marchenko-Pastur bulk fit
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MPFit:
    """Marchenko-Pastur fit of the bulk of an ESD.

    Attributes
    ----------
    sigma2 : float
        Fitted entry variance (on the scale of the eigenvalues given).
    q : float
        ``M / N``.
    lambda_plus, lambda_minus : float
        Bulk edges ``sigma2 (1 +- sqrt q)^2``.
    tw_scale : float
        Tracy-Widom scale of the largest bulk eigenvalue at this size (:func:`tracy_widom_scale`).
    threshold : float
        Spike threshold ``lambda_plus + TW1_Q99 * tw_scale``.
    num_spikes : int
        Number of eigenvalues above ``threshold``.
    n_bulk : int
        Number of eigenvalues at or below ``lambda_plus`` used in the last iteration.
    iterations : int
        Fixed-point iterations used.
    converged : bool
        Whether the bulk set stopped changing.
    """

    sigma2: float
    q: float
    lambda_plus: float
    lambda_minus: float
    tw_scale: float
    threshold: float
    num_spikes: int
    n_bulk: int
    iterations: int
    converged: bool


def tracy_widom_scale(sigma2: float, N: int, M: int) -> float:
    """Scale of the fluctuations of the largest eigenvalue of ``W^T W / N`` at the MP edge.

    Johnstone (2001), Ann. Statist. 29, 295, Theorem 1: for ``W`` ``N x M`` Gaussian with
    variance ``sigma2``, ``lambda_max(W^T W) ~ mu + s TW_1`` with
    ``s = (sqrt N + sqrt M)(1/sqrt N + 1/sqrt M)^{1/3}`` (times ``sigma2``); divided by ``N``
    for ``X = W^T W / N``.  (Johnstone's ``N - 1`` is replaced by ``N``, an ``O(1/N)`` change.)
    """
    sN, sM = math.sqrt(N), math.sqrt(M)
    return sigma2 * (sN + sM) * (1.0 / sN + 1.0 / sM) ** (1.0 / 3.0) / N


def fit_mp_bulk(
    evals: Array,
    N: int,
    M: int,
    *,
    tw_quantile: float = TW1_Q99,
    max_iter: int = 100,
) -> MPFit:
    """Fit the Marchenko-Pastur law to the bulk of an ESD by median matching.

    The bulk is the set of eigenvalues at or below the MP edge ``lambda_plus(sigma2)``;
    ``sigma2`` is chosen so that the median of the bulk equals the MP median,
    ``sigma2 = median(bulk) / median(MP(q, 1))``.  Starting from all eigenvalues, the
    bulk set and ``sigma2`` are iterated to a fixed point.  The median makes the fit
    insensitive to a heavy tail or a few spikes, which would dominate a mean- or
    moment-based fit.

    Parameters
    ----------
    evals : array
        Eigenvalues of ``X`` (any order), all ``>= 0``.
    N, M : int
        Layer dimensions with ``N >= M``; ``q = M / N``.
    tw_quantile : float
        Spike margin above ``lambda_plus`` in Tracy-Widom units (default: the 0.99 quantile
        of TW_1, i.e. a 1% chance that a pure-noise layer shows one spike).
    max_iter : int
        Maximum number of fixed-point iterations.

    Returns
    -------
    MPFit

    Notes
    -----
    The Tracy-Widom margin is exact for Gaussian noise; for heavy-tailed noise the edge
    fluctuates more, so ``num_spikes`` is a descriptive count, not a test.
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    if x.size < 2:
        raise ValueError(f"fit_mp_bulk: need at least 2 eigenvalues, got {x.size}")
    if N < M:
        raise ValueError(f"fit_mp_bulk: expected N >= M, got N={N}, M={M}")
    q = M / N
    unit_median = _mp_unit_median(q)
    factor = (1.0 + math.sqrt(q)) ** 2
    n_bulk = x.size
    converged = False
    it = 0
    sigma2 = float(np.median(x)) / unit_median
    for it in range(1, max_iter + 1):
        if sigma2 <= 0.0:
            break
        new_n = int(np.searchsorted(x, sigma2 * factor, side="right"))
        if new_n == n_bulk and it > 1:
            converged = True
            break
        n_bulk = max(new_n, 1)
        sigma2 = float(np.median(x[:n_bulk])) / unit_median
    if not sigma2 > 0.0:
        raise ValueError("fit_mp_bulk: the median eigenvalue is zero; the layer is rank deficient")
    mp = MarchenkoPastur(q, sigma2)
    tw = tracy_widom_scale(sigma2, N, M)
    threshold = mp.lambda_plus + tw_quantile * tw
    num_spikes = int(x.size - np.searchsorted(x, threshold, side="right"))
    return MPFit(
        sigma2=sigma2,
        q=q,
        lambda_plus=mp.lambda_plus,
        lambda_minus=mp.lambda_minus,
        tw_scale=tw,
        threshold=threshold,
        num_spikes=num_spikes,
        n_bulk=n_bulk,
        iterations=it,
        converged=converged,
    )


_MEDIAN_CACHE: dict[float, float] = {}


def _mp_unit_median(q: float) -> float:
    key = round(q, 12)
    if key not in _MEDIAN_CACHE:
        _MEDIAN_CACHE[key] = MarchenkoPastur(q, 1.0).median()
    return _MEDIAN_CACHE[key]


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
    """

    num_traps: float
    lambda_max_rand: float
    threshold_rand: float
    n_permutations: int
    sigma2_rand: float = _NAN
    scale: str = "fit"
    mean_removed: float = 0.0


#: How :func:`correlation_traps` sets the MP scale of the shuffled layer.
TRAP_SCALES = ("variance", "fit")


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
SHUFFLES = ("auto", "numpy", "blocked")
#: ``shuffle="auto"`` uses the blocked permutation from this many entries on (256 KiB of
#: float32, about the L2 cache: beyond it numpy's Fisher-Yates pays a cache miss per swap; the
#: blocked method is 2-3x faster at 1536 x 384 and 5x faster at 30522 x 384).
BLOCKED_SHUFFLE_MIN = 2**16
#: Entries per bucket of the blocked permutation (64 KiB of float32: an L2-resident shuffle).
_BUCKET = 2**14


def _njit(func):  # type: ignore[no-untyped-def]
    if _numba_njit is None:  # pragma: no cover
        return func
    return _numba_njit(cache=True, nogil=True)(func)


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
    a uniformly random permutation (Rao, Sankhya 23, 1961; Sandelius, Ann. Math. Statist. 33,
    1962). The bucket draws are replayed from the seed instead of being stored.
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


def _n_permutations(M: int, n_permutations: int | None) -> int:
    if n_permutations is None:
        return 5 if M < 100 else 1
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    return n_permutations


def _trap_result(spectra: Sequence[Array], N: int, M: int,
                 sigma2: float | None = None, mean: float = 0.0) -> TrapResult:
    """Count the shuffled-ESD eigenvalues above the MP threshold (``sigma2`` None: fitted)."""
    if sigma2 is None:
        mp = fit_mp_bulk(np.concatenate(spectra), N, M)
        threshold, sigma2, scale = mp.threshold, mp.sigma2, "fit"
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


def _trap_null(W: Array, normalization: str, scale: str) -> tuple[float | None, float]:
    """``(sigma2, mean)`` of the shuffled layer's null model: MP scale in the ESD's units
    (None for ``scale="fit"``) and the entry mean removed before the shuffle (0 for "fit")."""
    if scale not in TRAP_SCALES:
        raise ValueError(f"trap scale must be one of {TRAP_SCALES}, got {scale!r}")
    if scale == "fit":
        return None, 0.0
    mean, var = entry_moments(W)
    return (var if normalization == "N" else var * max(np.shape(W))), mean


def _shuffle(W: Array, rng: np.random.Generator, method: str, mean: float) -> Array:
    """:func:`permute_entries` of ``W`` minus ``mean`` (subtracted in the fresh copy)."""
    P = permute_entries(W, rng, method=method)
    if mean != 0.0:
        np.subtract(P, mean, out=P, casting="unsafe")
    return P


def _as_matrix(W: Any) -> Array:
    """A numpy view of a weight matrix given as an array, a list or a torch tensor (bfloat16,
    float16 and grad-requiring or CUDA tensors included)."""
    from .spectra import _is_tensor, _torch_to_numpy

    return _torch_to_numpy(W) if _is_tensor(W) else np.asarray(W)


def correlation_traps(
    W: Array,
    *,
    normalization: str = "N",
    rng: np.random.Generator | int | None = 0,
    n_permutations: int | None = None,
    eig: Callable[[Array], Array] | None = None,
    shuffle: str = "auto",
    scale: str = "variance",
) -> TrapResult:
    """Count correlation traps: spikes that survive an element-wise shuffle of ``W``.

    Shuffling all entries of ``W`` destroys the correlations between rows and columns but
    keeps the entry distribution; a Marchenko-Pastur bulk is expected unless a few very
    large entries create spikes of their own (sections/650_empirical_corr_trap.tex;
    shared/spec/empirical.md section 2.4).  The eigenvalues of the shuffled ESD above the
    MP edge plus a Tracy-Widom 0.99 margin (:func:`trap_threshold`) are counted.

    The MP law of a shuffled matrix is known exactly: its entries are the entries of ``W``
    in random positions, so its scale is their variance (``scale="variance"``, the
    default).  Every shuffle also keeps the entry mean ``mu``, a rank-one term
    ``mu 1 1^T`` whose eigenvalue ``~ M mu^2`` leaves the bulk once ``|mu|`` is a few per
    cent of the entry standard deviation; it says nothing about large entries, so with
    ``"variance"`` the mean is subtracted before shuffling (``mean_removed``).
    ``scale="fit"`` instead fits the MP law to the shuffled, uncentred ESD
    (:func:`fit_mp_bulk`, median matching), as the paper's notebooks and WeightWatcher do.
    The fit's error (about 1.25/M relative) is not in the Tracy-Widom margin, so it flags
    Gaussian layers too often: measured over 200 Gaussian matrices per shape, 4.0% (784 x
    300), 3.0% (300 x 100), 5.0% (500 x 500), 1.0% (1536 x 384) of them had a "trap" with
    the fit against 1.0%, 0.0%, 1.5%, 0.5% with the exact variance (nominal: 1%).

    Parameters
    ----------
    W : array, shape (N, M) or (M, N)
        Layer weights.
    normalization : {"N", "none"}
        As in :func:`setol_theory.spectra.correlation_eigenvalues`.
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
    """
    W = _as_matrix(W)
    if W.ndim != 2:
        raise ValueError(f"correlation_traps: expected a 2-D matrix, got shape {W.shape}")
    N, M = max(W.shape), min(W.shape)
    sigma2, mean = _trap_null(W, normalization, scale)
    n_permutations = _n_permutations(M, n_permutations)
    rng = np.random.default_rng(rng)
    eig = eig or (lambda A: correlation_eigenvalues(A, normalization=normalization))
    spectra = [eig(_shuffle(W, rng, shuffle, mean)) for _ in range(n_permutations)]
    return _trap_result(spectra, N, M, sigma2, mean)


# --------------------------------------------------------------------------------------
# Per-layer metrics
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerMetrics:
    """HTSR metrics of one layer (one row of the ``setol analyze`` table).

    Every layer that was selected appears, analysed (``status == "ok"``) or not, with
    ``reason``: ``"skipped"`` (cannot be analysed: NaN/Inf, all zeros, integer dtype...) or
    ``"filtered"`` (outside the ``min_evals``/``max_evals`` limits).  Metric names follow
    ``shared/spec/htsr.md``; eigenvalue-scale quantities use ``normalization``.
    ``detx_lambda_min`` is the TraceLog/detX ECS edge (:func:`setol_theory.quality.
    detx_lambda_min`, rule ``first_below``, applied after rescaling to ``sum(lambda) = M``
    and reported on the ``normalization`` scale); ``delta_lambda_min = xmin -
    detx_lambda_min`` (sections/630). ``num_zero_evals`` eigenvalues are exactly zero
    (below ``M eps lambda_max``); the MP fit and detX use the others. ``num_traps``,
    ``lambda_max_rand`` and ``threshold_rand`` are :class:`TrapResult`'s (NaN when the
    trap test was off).
    """

    name: str
    kind: str = ""
    status: str = "ok"
    reason: str = ""
    N: int = 0
    M: int = 0
    Q: float = _NAN
    num_evals: int = 0
    normalization: str = "N"
    lambda_max: float = _NAN
    alpha: float = _NAN
    alpha_hat: float = _NAN
    xmin: float = _NAN
    alpha_sigma: float = _NAN
    D: float = _NAN
    num_tail: int = 0
    fit_status: str = ""
    fit_reason: str = ""
    fit_bound_hit: bool = False
    log_norm: float = _NAN
    log_spectral_norm: float = _NAN
    stable_rank: float = _NAN
    num_zero_evals: int = 0
    mp_sigma2: float = _NAN
    mp_lambda_plus: float = _NAN
    mp_softrank: float = _NAN
    num_spikes: int = 0
    detx_lambda_min: float = _NAN
    delta_lambda_min: float = _NAN
    num_ecs_detx: int = 0
    num_traps: float = _NAN
    lambda_max_rand: float = _NAN
    threshold_rand: float = _NAN
    warning: str = ""
    eig_device: str = ""
    eig_fallback: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """Plain record (NaN becomes ``None`` in :meth:`ModelAnalysis.to_json_dict`)."""
        return asdict(self)


def warning_label(alpha: float, fit_ok: bool) -> str:
    """HTSR verdict from alpha: ``"under-trained"`` (alpha > 6), ``"over-trained"`` (alpha < 2).

    A failed fit gives ``"no-fit"``; a layer in between gives ``""``.
    (WeightWatcher's labels; thresholds from sections/210 and shared/spec/htsr.md.)
    """
    if not fit_ok or not np.isfinite(alpha):
        return "no-fit"
    if alpha > ALPHA_UNDERTRAINED:
        return "under-trained"
    if alpha < ALPHA_OVERFIT:
        return "over-trained"
    return ""


def _positive_evals(evals: Array) -> Array:
    """Eigenvalues above the relative zero threshold ``M * eps * lambda_max``."""
    return evals[evals > zero_threshold(evals)]


def esd_metrics(
    evals: Array,
    N: int,
    M: int,
    *,
    name: str = "W",
    kind: str = "matrix",
    normalization: str = "N",
    fit_kwargs: dict[str, Any] | None = None,
) -> LayerMetrics:
    """Metrics computable from the ESD alone (everything except correlation traps).

    Parameters
    ----------
    evals : array, shape (M,)
        Eigenvalues of the layer correlation matrix.
    N, M : int
        Layer dimensions, ``N >= M``.
    fit_kwargs : dict, optional
        Passed to :func:`setol_theory.powerlaw.fit_powerlaw` (``min_tail``, ``xmax``, ``ks``...).
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    lambda_max = float(x[-1])
    pos = _positive_evals(x)
    with warnings.catch_warnings():
        # recorded in the result as fit_bound_hit instead of one warning per layer
        warnings.simplefilter("ignore", PowerLawBoundWarning)
        fit: PowerLawFit = fit_powerlaw(pos, **(fit_kwargs or {}))
    fit_ok = fit.status == "ok"
    alpha = float(fit.alpha)
    total = float(x.sum())
    # exact zeros (dead rows/columns, low-rank layers) are not part of an MP bulk, and ln 0
    # ends every TraceLog walk: the MP fit and detX use the M_+ = pos.size positive
    # eigenvalues (a layer with k zero columns is an N x (M - k) layer for both)
    n_zero = int(x.size - pos.size)
    bulk = x if n_zero == 0 else pos
    mp: MPFit | None = fit_mp_bulk(bulk, N, bulk.size) if bulk.size >= 2 else None
    detx = detx_lambda_min(bulk)  # TraceLog condition on the sum(lambda) = M_+ scale
    return LayerMetrics(
        name=name,
        kind=kind,
        N=N,
        M=M,
        Q=N / M,
        num_evals=int(x.size),
        normalization=normalization,
        lambda_max=lambda_max,
        alpha=alpha,
        alpha_hat=alpha * math.log10(lambda_max) if fit_ok else _NAN,
        xmin=float(fit.xmin),
        alpha_sigma=float(fit.sigma),
        D=float(fit.D),
        num_tail=int(fit.n_tail) if fit_ok else 0,
        fit_status=fit.status,
        fit_reason=fit.reason,
        fit_bound_hit=bool(fit.bound_hit),
        log_norm=math.log10(total),
        log_spectral_norm=math.log10(lambda_max),
        stable_rank=total / lambda_max,
        num_zero_evals=n_zero,
        mp_sigma2=mp.sigma2 if mp else _NAN,
        mp_lambda_plus=mp.lambda_plus if mp else _NAN,
        mp_softrank=mp.lambda_plus / lambda_max if mp else _NAN,
        num_spikes=mp.num_spikes if mp else 0,
        detx_lambda_min=detx.lambda_min,
        delta_lambda_min=float(fit.xmin) - detx.lambda_min if fit_ok else _NAN,
        num_ecs_detx=detx.num_ecs,
        warning=warning_label(alpha, fit_ok),
    )


def analyze_matrix(
    W: Array,
    *,
    name: str = "W",
    kind: str = "matrix",
    normalization: str = "N",
    traps: bool = True,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
    eig_kwargs: dict[str, Any] | None = None,
    trap_scale: str = "variance",
) -> tuple[LayerMetrics, Array]:
    """All HTSR metrics of one weight matrix; returns ``(metrics, evals)``.

    Raises ``ValueError``/``TypeError`` (from the eigenvalue routine) on NaN/Inf, all-zero,
    1-wide, empty or non-float matrices.
    """
    from .spectra import _is_tensor

    if not _is_tensor(W):  # tensors stay tensors for a torch eigensolver
        W = np.asarray(W)
    eig_kwargs = dict(eig_kwargs or {})
    evals = correlation_eigenvalues(W, normalization=normalization, **eig_kwargs)
    N, M = max(W.shape), min(W.shape)
    m = esd_metrics(
        evals, N, M, name=name, kind=kind, normalization=normalization, fit_kwargs=fit_kwargs
    )
    if traps:
        t = correlation_traps(
            W,
            normalization=normalization,
            rng=seed,
            eig=lambda A: correlation_eigenvalues(A, normalization=normalization, **eig_kwargs),
            scale=trap_scale,
        )
        m = replace(m, num_traps=t.num_traps, lambda_max_rand=t.lambda_max_rand,
                    threshold_rand=t.threshold_rand)
    return m, evals


# --------------------------------------------------------------------------------------
# Whole model
# --------------------------------------------------------------------------------------
#: Columns averaged in :meth:`ModelAnalysis.summary`.
SUMMARY_METRICS = ("alpha", "alpha_hat", "log_norm", "log_spectral_norm", "stable_rank",
                   "mp_softrank", "num_spikes", "num_traps")


@dataclass
class ModelAnalysis:
    """Per-layer HTSR metrics of a model, with model-level averages.

    Attributes
    ----------
    layers : list of LayerMetrics
        One record per selected layer, in model order (analysed or with a reason).
    source : str
        Description of what was analysed (a path or a type name).
    settings : dict
        The options used (normalization, fit settings, seed...), recorded in every export.
    evals : dict
        ``name -> eigenvalues`` of the analysed layers (kept only when asked for).
    """

    layers: list[LayerMetrics]
    source: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    evals: dict[str, Array] = field(default_factory=dict)

    @property
    def analysed(self) -> list[LayerMetrics]:
        return [m for m in self.layers if m.ok]

    def summary(self) -> dict[str, float]:
        """Model-level averages of :data:`SUMMARY_METRICS` over layers with a finite value.

        Also counts layers analysed, skipped and with a failed power-law fit.
        """
        out: dict[str, float] = {
            "num_layers": len(self.layers),
            "num_analysed": len(self.analysed),
            "num_skipped": sum(1 for m in self.layers if m.status == "skipped"),
            "num_filtered": sum(1 for m in self.layers if m.status == "filtered"),
            "num_fit_failed": sum(1 for m in self.analysed if m.fit_status != "ok"),
        }
        for key in SUMMARY_METRICS:
            vals = np.array([getattr(m, key) for m in self.analysed], dtype=float)
            vals = vals[np.isfinite(vals)]
            out[f"mean_{key}"] = float(vals.mean()) if vals.size else _NAN
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per layer, in order."""
        return [m.to_dict() for m in self.layers]

    def to_dataframe(self):  # pragma: no cover - optional dependency
        """The per-layer table as a pandas DataFrame (needs ``pandas``)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from exc
        return pd.DataFrame.from_records(self.to_records())

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict: source, settings, summary and layers (NaN -> None)."""
        return _nan_to_none(
            {
                "source": self.source,
                "settings": self.settings,
                "summary": self.summary(),
                "layers": self.to_records(),
            }
        )


def metric_names() -> list[str]:
    """Column names of :class:`LayerMetrics`, in table order."""
    return [f.name for f in fields(LayerMetrics)]


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, np.generic):
        return _nan_to_none(obj.item())
    return obj


class LayerError(ValueError):
    """A selected layer could not be analysed (raised when ``on_error="raise"``)."""


#: With torch, ``analyze`` hands the eigensolver up to this many layers (or bytes of layers)
#: at once; the backend batches those of equal size. The layers are views of the model
#: (memory-mapped or already in memory), so the buffer costs no copy. numpy gains nothing
#: from batching (LAPACK solves one matrix at a time), so there each layer is done as soon as
#: it is read, which keeps the progress bar and the memory use per layer.
_BUFFER_LAYERS = 64
_BUFFER_BYTES = 256 * 2**20


def _record_error(layer: Layer, exc: Exception, on_error: str, N: int, M: int) -> LayerMetrics:
    if on_error == "raise":
        raise LayerError(f"layer {layer.name!r}: {exc}") from exc
    return LayerMetrics(name=layer.name, kind=layer.kind, status="skipped", reason=str(exc),
                        N=N, M=M)


def analyze_layers(
    layers: Iterable[Layer],
    *,
    min_evals: int = 2,
    max_evals: int | None = None,
    normalization: str = "N",
    traps: bool = True,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
    method: str = "auto",
    device: str | Backend | None = None,
    on_error: str = "raise",
    trap_shuffle: str = "auto",
    batch_bytes: int | None = None,
    trap_scale: str = "variance",
) -> Iterable[tuple[LayerMetrics, Array | None]]:
    """HTSR metrics of a stream of layers, in order: ``(metrics, evals or None)`` per layer.

    The engine of :func:`analyze` (which documents the options), also used by
    :mod:`setol_theory.scale` for one layer per task. With a torch backend up to 64 layers
    (256 MiB) are read ahead and handed to :func:`setol_theory.backend.batched_eigenvalues`
    together, so layers with the same number of eigenvalues share one batched eigensolve; the
    shuffled copies of the correlation-trap test are made one at a time and batched the same
    way. With numpy each layer is analysed as soon as it is read. Each layer's
    result depends only on the layer and the options (the trap shuffle of every layer is
    seeded with ``seed``), so any grouping of layers gives the same records.
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    if normalization not in ("N", "none"):
        raise ValueError(f"normalization must be 'N' or 'none', got {normalization!r}")
    if min_evals < 0 or (max_evals is not None and max_evals < min_evals):
        raise ValueError(f"need 0 <= min_evals <= max_evals, got {min_evals}, {max_evals}")
    if trap_shuffle not in SHUFFLES:
        raise ValueError(f"trap_shuffle must be one of {SHUFFLES}, got {trap_shuffle!r}")
    if trap_scale not in TRAP_SCALES:
        raise ValueError(f"trap_scale must be one of {TRAP_SCALES}, got {trap_scale!r}")
    backend = resolve_backend(device)
    max_layers = _BUFFER_LAYERS if backend.kind == "torch" else 1
    # slots: a finished record, or a buffered layer waiting for its eigenvalues
    slots: list[tuple[LayerMetrics, Array | None] | Layer] = []
    buffered_bytes = 0

    def flush() -> Iterable[tuple[LayerMetrics, Array | None]]:
        todo = [(i, s) for i, s in enumerate(slots) if isinstance(s, Layer)]
        if todo:
            done = _analyze_buffer([s for _, s in todo], backend, method=method,
                                   normalization=normalization, traps=traps, seed=seed,
                                   fit_kwargs=fit_kwargs, on_error=on_error,
                                   trap_shuffle=trap_shuffle, batch_bytes=batch_bytes,
                                   trap_scale=trap_scale)
            for (i, _), res in zip(todo, done, strict=True):
                slots[i] = res
        out = list(slots)
        slots.clear()
        return out  # type: ignore[return-value]

    for layer in layers:
        if layer.W is not None:
            shape: tuple[int, ...] = tuple(int(s) for s in np.shape(layer.W))
        else:  # a matrix that cannot be analysed (dtype, 1-wide, empty) still has a shape
            shape = tuple(getattr(layer, "matrix_shape", None) or ())
        N, M = (max(shape), min(shape)) if len(shape) == 2 else (0, 0)
        in_range = min_evals <= M and (max_evals is None or M <= max_evals)
        if len(shape) == 2 and not in_range:
            limits = f"[{min_evals}, {max_evals if max_evals is not None else 'inf'}]"
            slots.append((LayerMetrics(
                name=layer.name, kind=layer.kind, status="filtered", N=N, M=M,
                reason=f"{M} eigenvalues, outside min_evals/max_evals {limits}"), None))
        elif layer.W is None:
            reason = layer.skip_reason or "not analysable"
            if on_error == "raise":
                raise LayerError(f"layer {layer.name!r}: {reason}")
            slots.append((LayerMetrics(name=layer.name, kind=layer.kind, status="skipped",
                                       reason=reason, N=N, M=M), None))
        else:
            slots.append(layer)
            buffered_bytes += int(layer.W.nbytes)
            n_buf = sum(isinstance(s, Layer) for s in slots)
            if n_buf >= max_layers or buffered_bytes >= _BUFFER_BYTES:
                yield from flush()
                buffered_bytes = 0
    yield from flush()


def _analyze_buffer(
    layers: list[Layer], backend: Backend, *, method: str, normalization: str, traps: bool,
    seed: int | None, fit_kwargs: dict[str, Any] | None, on_error: str, trap_shuffle: str,
    batch_bytes: int | None, trap_scale: str = "variance",
) -> list[tuple[LayerMetrics, Array | None]]:
    names = [lay.name for lay in layers]
    spectra = batched_eigenvalues((lay.W for lay in layers), backend,
                                  normalization=normalization, method=method, names=names,
                                  batch_bytes=batch_bytes)
    out: list[tuple[LayerMetrics, Array | None]] = []
    ok: list[int] = []
    for i, (layer, sp) in enumerate(zip(layers, spectra, strict=True)):
        shape = np.shape(layer.W)
        N, M = max(shape), min(shape)
        if isinstance(sp, Exception):
            out.append((_record_error(layer, sp, on_error, N, M), None))
            continue
        assert isinstance(sp, Spectrum)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m = esd_metrics(sp.evals, N, M, name=layer.name, kind=layer.kind,
                                normalization=normalization, fit_kwargs=fit_kwargs)
        except (ValueError, TypeError) as exc:
            out.append((_record_error(layer, exc, on_error, N, M), None))
            continue
        out.append((replace(m, eig_device=sp.device, eig_fallback=sp.fallback), sp.evals))
        ok.append(i)
    if not traps or not ok:
        return out
    counts = [_n_permutations(min(np.shape(layers[i].W)), None) for i in ok]
    nulls = {i: _trap_null(layers[i].W, normalization, trap_scale) for i in ok}

    def shuffled() -> Iterable[Array]:
        for i, n_perm in zip(ok, counts, strict=True):
            rng = np.random.default_rng(seed)
            for _ in range(n_perm):
                yield _shuffle(layers[i].W, rng, trap_shuffle, nulls[i][1])

    # the shuffled copies hold the entries of layers already checked (finite, not all zero)
    tspectra = batched_eigenvalues(shuffled(), backend, normalization=normalization,
                                   method=method, batch_bytes=batch_bytes, check_values=False)
    pos = 0
    for i, n_perm in zip(ok, counts, strict=True):
        part = tspectra[pos:pos + n_perm]
        pos += n_perm
        m, ev = out[i]
        if any(isinstance(sp, Exception) for sp in part):  # pragma: no cover - defensive
            continue
        N, M = m.N, m.M
        sigma2, mean = nulls[i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t = _trap_result([sp.evals for sp in part], N, M,  # type: ignore[union-attr]
                             sigma2, mean)
        out[i] = (replace(m, num_traps=t.num_traps, lambda_max_rand=t.lambda_max_rand,
                          threshold_rand=t.threshold_rand), ev)
    return out


def analyze(
    source: Any,
    *,
    layers: str | Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    conv: str = "slices",
    min_evals: int = 2,
    max_evals: int | None = None,
    normalization: str = "N",
    traps: bool = True,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
    eig_kwargs: dict[str, Any] | None = None,
    on_error: str = "raise",
    keep_evals: bool = False,
    progress: bool | Callable[[Iterable[Any]], Iterable[Any]] = False,
    device: str | Backend | None = None,
    trap_shuffle: str = "auto",
    batch_bytes: int | None = None,
    trap_scale: str = "variance",
) -> ModelAnalysis:
    """HTSR analysis of every selected layer of a model.

    Parameters
    ----------
    source
        Anything :func:`setol_theory.spectra.iter_layers` accepts: an array, a dict of
        arrays/tensors, a torch ``nn.Module`` or ``state_dict``, or a path to a
        ``.safetensors`` / ``.pt`` / ``.npz`` file or a Hugging-Face-style model directory.
    layers, kinds, conv
        Layer selection, passed to ``iter_layers`` (unselected layers are not listed).
    min_evals, max_evals
        Size limits on ``M``; layers outside them are listed with ``status="filtered"``.
    normalization : {"N", "none"}
        ESD scale (see module docstring).
    traps : bool
        Also count correlation traps (one extra eigenvalue computation per layer).
    seed : int or None
        Seed of the shuffles of the correlation-trap test.
    eig_kwargs : dict, optional
        ``method`` (``"auto"``/``"eigvalsh"``/``"svd"``) and, as before ``device`` existed,
        ``backend="torch"`` with ``device="cpu"|"cuda"``.
    on_error : {"raise", "record"}
        ``"raise"``: a layer that cannot be analysed raises :class:`LayerError` naming it.
        ``"record"``: it is recorded with ``status="skipped"`` and its reason.
    keep_evals : bool
        Keep every layer's eigenvalues in ``ModelAnalysis.evals`` (for plots).
    progress : bool or callable
        ``True`` shows a tqdm progress bar on stderr; a callable wraps the layer iterator.
    device : str or Backend, optional
        Where the eigenvalues are computed (:func:`setol_theory.backend.resolve_backend`):
        ``"numpy"`` (default), ``"torch-cpu"``, ``"cuda"``, ``"auto"``. A layer too large
        for the device memory is computed on the CPU and says so in ``eig_fallback``.
    trap_shuffle : {"auto", "numpy", "blocked"}
        Permutation method of the trap test (:func:`permute_entries`; same statistics).
    batch_bytes : int, optional
        Largest stack of Gram matrices per batched eigensolve (backend default).
    trap_scale : {"variance", "fit"}
        MP scale of the shuffled layer in the trap test: its exact entry variance (default)
        or a fit to the shuffled ESD as in WeightWatcher (:func:`correlation_traps`).

    Returns
    -------
    ModelAnalysis
    """
    eig_kwargs = dict(eig_kwargs or {})
    unknown = set(eig_kwargs) - {"method", "backend", "device"}
    if unknown:
        raise ValueError(f"eig_kwargs: unknown option(s) {sorted(unknown)}")
    method = eig_kwargs.get("method", "auto")
    if "backend" in eig_kwargs or "device" in eig_kwargs:
        if device is not None:
            raise ValueError("give the device either as device= or in eig_kwargs, not both")
        kind = eig_kwargs.get("backend", "numpy")
        dev = str(eig_kwargs.get("device", "cpu"))
        if kind not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {kind!r}")
        if kind == "numpy" and dev != "cpu":
            raise ValueError(f"device={dev!r} needs backend='torch'")
        device = "numpy" if kind == "numpy" else ("torch-cpu" if dev == "cpu" else dev)
    backend = resolve_backend(device)
    it: Iterable[Any] = iter_layers(source, layers=layers, kinds=kinds, conv=conv)
    if progress is True:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="layers", unit="layer", leave=False)
    elif callable(progress):
        it = progress(it)
    records: list[LayerMetrics] = []
    kept: dict[str, Array] = {}
    for m, evals in analyze_layers(
        it, min_evals=min_evals, max_evals=max_evals, normalization=normalization,
        traps=traps, seed=seed, fit_kwargs=fit_kwargs, method=method, device=backend,
        on_error=on_error, trap_shuffle=trap_shuffle, batch_bytes=batch_bytes,
        trap_scale=trap_scale,
    ):
        records.append(m)
        if keep_evals and evals is not None:
            kept[m.name] = evals
    if not records:
        raise ValueError(f"no analysable layer found in {_describe(source)} with the given filters")
    settings = {
        "normalization": normalization,
        "conv": conv,
        "traps": traps,
        "seed": seed,
        "fit": dict(fit_kwargs or {}),
        "eig": eig_kwargs,
        "layers": layers,
        "kinds": list(kinds) if kinds else None,
        "min_evals": min_evals,
        "max_evals": max_evals,
        "device": backend.label,
        "trap_shuffle": trap_shuffle,
        "trap_scale": trap_scale,
    }
    if backend.note:
        settings["device_note"] = backend.note
    return ModelAnalysis(records, source=_describe(source), settings=settings, evals=kept)


def _describe(source: Any) -> str:
    if isinstance(source, str | bytes) or hasattr(source, "__fspath__"):
        return str(source)
    return type(source).__name__
