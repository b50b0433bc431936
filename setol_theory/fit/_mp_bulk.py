"""Marchenko-Pastur fit of the bulk of an ESD, its distance to MP, and the spike count.

The entry variance ``sigma2`` is fitted to the eigenvalues below the MP edge (method ``"ks"``,
the default: the ``sigma2`` that minimises the Kolmogorov-Smirnov distance between the bulk and
the MP law, started from the median match; ``"median"``: the median of the bulk matched to the
MP median), iterated with the bulk set to a fixed point; eigenvalues above
``lambda_plus + TW1_Q99 * s_TW`` are spikes (Johnstone 2001, see docs/references.md).  A spike
count only means something when the rest of the ESD is an MP bulk: the fit reports the bulk's
KS distance to MP and a ``status`` (``"ok"``, ``"not-mp-like"``, ``"too-small"``) with the
reason; ``num_spikes`` is for ``status == "ok"`` only (docs/htsr.md, "Marchenko-Pastur bulk").
The pooled ESD of ``k`` conv kernel slices (``slices=k``) is fitted with one MP law, a spike
margin for the largest of ``k`` Tracy-Widom variables (:func:`spike_margin`) and a KS
acceptance calibrated on pooled Gaussian kernels (:func:`mp_ks_scale`,
:data:`POOLED_KS_SCALED_MAX`; docs/htsr.md, "Pooled conv ESDs").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..rmt import MarchenkoPastur

Array = NDArray[np.float64]


#: 0.99 quantile of the Tracy-Widom (beta = 1) law, used as the spike margin above the
#: MP edge.  Value from Bornemann, Markov Processes Relat. Fields 16, 803 (2010), Table 5
#: (F_1^{-1}(0.99) = 2.0234).
TW1_Q99 = 2.0234


# --------------------------------------------------------------------------------------
# Marchenko-Pastur bulk fit
# --------------------------------------------------------------------------------------
#: Methods of :func:`fit_mp_bulk` (``"ks"`` is the default: the smallest sigma2 error on the
#: planted truths of benchmarks/bench_mp_bulk.py).
MP_METHODS: tuple[str, ...] = ("ks", "median")

#: Fewest eigenvalues on which the MP shape of a bulk is checked; below it ``status`` is
#: ``"too-small"`` and no spike count is given (a layer with more eigenvalues whose bulk keeps
#: fewer than this is "not-mp-like").
MIN_MP_EVALS: int = 50

#: Fewest positive eigenvalues per slice for the pooled MP fit of a conv layer (the smallest
#: slice of the null calibration, benchmarks/bench_conv_mp.py --null); below it the analysis
#: reports ``mp_status = "too-small"``.
MIN_SLICE_EVALS: int = 8

#: Largest accepted rigidity-scaled KS distance ``D n / ln n`` of the bulk to its MP fit. The
#: eigenvalues of an MP (Wishart) matrix are rigid: their empirical CDF stays within
#: ``O(ln n / n)`` of the law (Erdos, Yau & Yin 2012, see docs/references.md), far inside the
#: ``1/sqrt(n)`` of an i.i.d. sample, so the distance is measured in units of ``ln n / n``.
#: Calibrated on planted truths (benchmarks/bench_mp_bulk.py): Gaussian layers with and without
#: spikes stay below 0.7; strongly heavy-tailed ones (Pareto index 1.5, Student-t 2.5 at
#: M >= 384) exceed 1. Milder heavy tails keep an MP-like bulk shape and are caught by the edge
#: test (:data:`EDGE_WINDOW_TW`).
MP_KS_SCALED_MAX: float = 1.0

#: Width, in Tracy-Widom units, of the window just above the spike threshold where separated
#: spikes are not expected: at 1536 x 384 a spike at ``theta^2 = 3 sqrt(q)`` (three times the
#: BBP point) lies about 39 units above the threshold, one at twice the BBP point about 13 (two
#: or more weaker spikes than that would be graded "not-mp-like"). More than
#: ``MAX_EDGE_OUTLIERS`` eigenvalues there mean the outliers continue the bulk (heavy-tailed
#: entries).
EDGE_WINDOW_TW: float = 10.0
MAX_EDGE_OUTLIERS: int = 1


#: Chance that a pure-noise layer (or pooled conv layer) shows one spike or more: the spike
#: threshold is the ``SPIKE_LEVEL`` quantile of the largest bulk eigenvalue.
SPIKE_LEVEL: float = 0.99


def spike_margin(slices: int = 1) -> float:
    """Spike margin above the MP edge, in Tracy-Widom units, for ``slices`` pooled matrices.

    The largest bulk eigenvalue of one ``N x M`` Gaussian matrix is ``lambda_+ + s_TW TW_1``
    ([Joh2001]); the largest of ``k`` independent ones is below ``lambda_+ + s_TW t`` with
    probability ``F_1(t)^k``.  The margin is ``t = F_1^{-1}(SPIKE_LEVEL^(1/k))``, so a pooled
    pure-noise conv layer shows a spike in 1% of draws, as a single matrix does
    (:data:`TW1_Q99` for ``k = 1``; 3.217 for ``k = 9``, 3.718 for 25, 4.442 for 121).
    """
    if slices == 1:
        return TW1_Q99
    from ..rmt import tracy_widom1_quantile

    return tracy_widom1_quantile(SPIKE_LEVEL ** (1.0 / slices))


#: Largest accepted KS distance of a pooled bulk (``k > 1`` matrices, conv kernel positions)
#: in units of :func:`mp_ks_scale`, and the floor ``B`` of that unit.  The pooled empirical
#: CDF is the mean of ``k`` independent rigid ones, each within ``O(ln M / M)`` of the law, so
#: its fluctuation is ``O(ln M / (M sqrt k))``; the finite-``M`` deviation of each slice's
#: spectrum from the MP law, of order ``1/M``, is the same in every slice and does not average
#: out (the floor ``B / M``).  Calibrated by Monte Carlo on pooled Gaussian kernels
#: (benchmarks/bench_conv_mp.py --null: 200 kernels per shape, k = 2..121, M = 8..512): the 0.99
#: quantile of the scaled distance lies in 0.64-0.86 for every shape with ``B = 0.4`` (without
#: the floor it grows with ``k``: 0.65 at ``k = 4`` to 1.12 at ``k = 121``); the limit 1.2 is
#: 1.4 times the largest of these quantiles, as the single-matrix limit 1.0 is 1.4-1.6 times
#: its own (0.62-0.7).
POOLED_KS_SCALED_MAX: float = 1.2
POOLED_KS_FLOOR: float = 0.4


def mp_ks_scale(n: int, slices: int = 1) -> float:
    """Unit of the scaled KS distance of a bulk of ``n`` eigenvalues pooled from ``slices``
    matrices (``m = n / slices`` eigenvalues each): ``ln(m) / m`` for one matrix (its rigidity
    scale, [EYY2012]), ``sqrt(ln(m)^2 / k + POOLED_KS_FLOOR^2) / m`` for ``k > 1``."""
    m = n / slices
    if m <= 1.0:
        return float("nan")
    if slices == 1:
        return math.log(m) / m
    return math.sqrt(math.log(m) ** 2 / slices + POOLED_KS_FLOOR ** 2) / m


def mp_ks_max(slices: int = 1) -> float:
    """Largest accepted scaled KS distance: :data:`MP_KS_SCALED_MAX` for one matrix,
    :data:`POOLED_KS_SCALED_MAX` for ``slices > 1``."""
    return MP_KS_SCALED_MAX if slices == 1 else POOLED_KS_SCALED_MAX


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
        Number of eigenvalues above ``threshold`` (a count of outliers above an MP bulk only when
        ``status == "ok"``; descriptive otherwise).
    n_bulk : int
        Number of eigenvalues at or below ``threshold`` (the bulk the fit used).
    iterations : int
        Fixed-point iterations used.
    converged : bool
        Whether the bulk set stopped changing.
    method : str
        ``"ks"`` or ``"median"``.
    n_edge : int
        Eigenvalues in ``(threshold, threshold + EDGE_WINDOW_TW * tw_scale]``.
    ks_distance : float
        KS distance between the bulk (eigenvalues <= ``threshold``) and the fitted MP law.
    ks_scaled : float
        ``ks_distance / mp_ks_scale(n_bulk, slices)``: the distance in units of the rigidity
        scale (``ln(n)/n`` for one matrix; :func:`mp_ks_scale` for pooled slices).
    status : str
        ``"ok"`` (the bulk is MP-like: ``ks_scaled <= mp_ks_max(slices)``), ``"not-mp-like"`` or
        ``"too-small"`` (fewer than ``MIN_MP_EVALS`` eigenvalues in all).
    reason : str
        Why the status is not ``"ok"``.
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
    method: str = "median"
    n_edge: int = 0
    ks_distance: float = float("nan")
    ks_scaled: float = float("nan")
    status: str = "ok"
    reason: str = field(default="")

    @property
    def ok(self) -> bool:
        """``True`` when the bulk is MP-like, i.e. ``num_spikes`` counts outliers of a bulk."""
        return self.status == "ok"


def _threshold(s: float, N: int, M: int, k: int, tw_quantile: float) -> float:
    """Spike threshold of a bulk with ``k`` spikes removed: MP edge of the ``(N-k) x (M-k)``
    noise compression (scale ``s``) plus ``tw_quantile`` of its Tracy-Widom scale."""
    qk = (M - k) / (N - k)
    return s * ((1.0 + math.sqrt(qk)) ** 2 + tw_quantile * tracy_widom_scale(1.0, N - k, M - k))


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
    method: str = "ks",
    tw_quantile: float | None = None,
    max_iter: int = 100,
    slices: int = 1,
) -> MPFit:
    """Fit the Marchenko-Pastur law to the bulk of an ESD, measure its distance, count spikes.

    The bulk is the set of eigenvalues at or below the spike threshold ``lambda_plus(sigma2) +
    tw_quantile * s_TW``.  ``method="median"`` chooses ``sigma2`` so that the median of the bulk
    equals the MP median, ``sigma2 = median(bulk) / median(MP(q, 1))``, and iterates the bulk
    set and ``sigma2`` to a fixed point from all eigenvalues.  ``method="ks"`` (default) starts
    there and then chooses ``sigma2`` minimising the KS distance between the bulk's empirical
    CDF and the MP CDF, again iterated with the bulk set.  Both are insensitive to a few spikes;
    the KS fit uses the whole bulk shape rather than one quantile, which lowers the error of
    ``sigma2`` on Gaussian layers (benchmarks/bench_mp_bulk.py).

    The KS distance of the final bulk to the fitted law decides whether the ESD is bulk +
    spikes at all (``status``): a heavy-tailed ESD has no MP bulk, and a spike count on it is
    meaningless (it grows with the layer).

    Parameters
    ----------
    evals : array
        Eigenvalues of ``X`` (any order), all ``>= 0``.
    N, M : int
        Layer dimensions with ``N >= M``; ``q = M / N``.
    method : {"ks", "median"}
        How ``sigma2`` is fitted.
    tw_quantile : float, optional
        Spike margin above ``lambda_plus`` in Tracy-Widom units (default
        :func:`spike_margin(slices) <spike_margin>`: a 1% chance that a pure-noise layer, or
        pooled conv layer, shows one spike).
    max_iter : int
        Maximum number of fixed-point iterations.
    slices : int
        Number ``k`` of independent ``N x M`` matrices whose eigenvalues were pooled into
        ``evals`` (a conv layer's kernel positions; default 1). ``N`` and ``M`` are one
        slice's. The pooled bulk is fitted with one ``sigma2`` and ``q = M/N`` (the union of
        ``k`` MP spectra with the same ``q`` and ``sigma2`` is MP-distributed), a spike count
        ``K`` corrects each slice's bulk by the mean count ``K / k``, the spike margin is
        :func:`spike_margin(k) <spike_margin>` (the largest of ``k`` Tracy-Widom variables),
        and the KS acceptance uses the pooled scale :func:`mp_ks_scale` and limit
        :data:`POOLED_KS_SCALED_MAX` (docs/htsr.md, "Conv layers").

    Returns
    -------
    MPFit

    Notes
    -----
    Cost: one sort, ``O(M)`` per KS evaluation (the unit MP CDF is tabulated once per ``q`` and
    interpolated), about 40 evaluations per fixed-point step.  The Tracy-Widom margin is exact
    for Gaussian noise.

    References
    ----------
    V. A. Marchenko and L. A. Pastur (1967); I. M. Johnstone (2001); L. Erdos, H.-T. Yau and
    J. Yin (2012) for the rigidity scale; J. Baik, G. Ben Arous and S. Peche (2005) for the
    BBP point (docs/references.md: [MP1967], [Joh2001], [EYY2012], [BBP2005]).
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    if x.size < 2:
        raise ValueError(f"fit_mp_bulk: need at least 2 eigenvalues, got {x.size}")
    if N < M:
        raise ValueError(f"fit_mp_bulk: expected N >= M, got N={N}, M={M}")
    if method not in MP_METHODS:
        raise ValueError(f"fit_mp_bulk: method must be one of {MP_METHODS}, got {method!r}")
    if slices < 1:
        raise ValueError(f"fit_mp_bulk: slices must be >= 1, got {slices}")
    if tw_quantile is None:
        tw_quantile = spike_margin(slices)
    q = M / N
    # A layer with k spikes: its other M - k eigenvalues interlace with those of the pure-noise
    # (N - k) x (M - k) compression of W (Cauchy interlacing), so the bulk is MP with
    # q_k = (M - k)/(N - k) and scale s = sigma2 (N - k)/N.  Fitting it with q = M/N instead
    # biases sigma2 by O(k/M) (4% for 3 spikes among 50 eigenvalues).
    # pooled slices (conv kernel positions): the k spikes are spread over the slices; each
    # slice's bulk is fitted with the mean count k / slices (first order in k / M)
    k: float = 0.0
    n_bulk = x.size
    converged = False
    it = 0
    s = float(np.median(x)) / _mp_unit_median(q)
    for it in range(1, max_iter + 1):
        if not s > 0.0:
            break
        new_n = int(np.searchsorted(x, _threshold(s, N, M, k, tw_quantile), side="right"))
        new_n = max(new_n, min(2, x.size))
        if new_n == n_bulk and it > 1:
            converged = True
            break
        n_bulk, k = new_n, (x.size - new_n) / slices
        s = float(np.median(x[:n_bulk])) / _mp_unit_median((M - k) / (N - k))
    if not s > 0.0:
        raise ValueError("fit_mp_bulk: the median eigenvalue is zero; the layer is rank deficient")
    if method == "ks":
        for _ in range(_KS_MAX_ITER):
            it += 1
            s = _ks_sigma2(x[:n_bulk], _mp_unit_cdf_table((M - k) / (N - k)), s)
            new_n = int(np.searchsorted(x, _threshold(s, N, M, k, tw_quantile), side="right"))
            new_n = max(new_n, min(2, x.size))
            converged = new_n == n_bulk
            if converged:
                break
            n_bulk, k = new_n, (x.size - new_n) / slices
    sigma2 = s * N / (N - k)
    mp = MarchenkoPastur(q, sigma2)
    tw = tracy_widom_scale(s, N - k, M - k)
    threshold = _threshold(s, N, M, k, tw_quantile)
    num_spikes = int(x.size - np.searchsorted(x, threshold, side="right"))
    bulk = x[: x.size - num_spikes]
    k_s = num_spikes / slices
    D = (_ks_distance(bulk, _mp_unit_cdf_table((M - k_s) / (N - k_s)), s) if bulk.size
         else float("nan"))
    scaled = D / mp_ks_scale(bulk.size, slices) if bulk.size > slices else float("nan")
    ks_max = mp_ks_max(slices)
    # outliers that continue the bulk: eigenvalues just above the threshold (within
    # EDGE_WINDOW_TW Tracy-Widom units), where separated spikes above the BBP point are not
    n_edge = int(np.searchsorted(x, threshold + EDGE_WINDOW_TW * tw, side="right")
                 - (x.size - num_spikes))
    status, reason = "ok", ""
    if x.size < MIN_MP_EVALS:
        status = "too-small"
        reason = (f"{x.size} eigenvalues: the MP shape of a bulk is not checked on fewer "
                  f"than {MIN_MP_EVALS}")
    elif bulk.size < MIN_MP_EVALS:
        status = "not-mp-like"
        reason = (f"heavy-tailed ESD, not bulk + spikes: {num_spikes} of {x.size} eigenvalues "
                  f"lie above the fitted MP edge (fewer than {MIN_MP_EVALS} left in the bulk)")
    elif not scaled <= ks_max and slices == 1:
        status = "not-mp-like"
        reason = (f"heavy-tailed ESD, not bulk + spikes: the bulk's KS distance to MP is "
                  f"{D:.3g} = {scaled:.2f} ln(n)/n > {MP_KS_SCALED_MAX:g} ln(n)/n "
                  f"(n = {bulk.size})")
    elif not scaled <= ks_max:
        status = "not-mp-like"
        reason = (f"heavy-tailed ESD, not bulk + spikes: the pooled bulk's KS distance to MP "
                  f"is {D:.3g} = {scaled:.2f} > {ks_max:g} units sqrt(ln(m)^2/k + "
                  f"{POOLED_KS_FLOOR:g}^2)/m (k = {slices} slices, m = {bulk.size / slices:.4g} "
                  f"bulk eigenvalues each)")
    elif n_edge > MAX_EDGE_OUTLIERS:
        status = "not-mp-like"
        reason = (f"heavy-tailed ESD, not bulk + spikes: {n_edge} eigenvalues lie just above "
                  f"the MP edge (within {EDGE_WINDOW_TW:g} Tracy-Widom units of the spike "
                  f"threshold): the outliers continue the bulk")
    return MPFit(
        sigma2=sigma2,
        q=q,
        lambda_plus=float(mp.lambda_plus),
        lambda_minus=float(mp.lambda_minus),
        tw_scale=tw,
        threshold=float(threshold),
        num_spikes=num_spikes,
        n_bulk=int(bulk.size),
        n_edge=n_edge,
        iterations=it,
        converged=converged,
        method=method,
        ks_distance=float(D),
        ks_scaled=float(scaled),
        status=status,
        reason=reason,
    )


#: Fixed-point steps of the KS refinement after the median match (each may move the bulk set:
#: on MP-like layers it settles in 1-2; on heavy-tailed ones the status is decided by then;
#: 3 steps cost ~1 ms per 384-wide layer, 6 cost ~3 ms with the same statuses on MiniLM).
_KS_MAX_ITER = 3
def median_fit_to_edge(evals: Array, N: int, M: int, *, tw_quantile: float = TW1_Q99,
                       max_iter: int = 100) -> tuple[float, float]:
    """``(sigma2, threshold)`` of the median match to the eigenvalues at or below the MP edge
    ``lambda_plus`` (no Tracy-Widom margin in the bulk set, no spike correction).

    The fit of setol 0.1 and 0.2's first releases, kept for the correlation-trap test's
    ``trap_scale="fit"`` (the paper's notebooks and WeightWatcher fit the shuffled ESD this
    way; docs/htsr.md measures its false-trap rate). :func:`fit_mp_bulk` is the bulk fit.
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    q = M / N
    unit_median = MarchenkoPastur(q, 1.0).median()
    factor = (1.0 + math.sqrt(q)) ** 2
    n_bulk = x.size
    sigma2 = float(np.median(x)) / unit_median
    for it in range(1, max_iter + 1):
        if sigma2 <= 0.0:
            break
        new_n = int(np.searchsorted(x, sigma2 * factor, side="right"))
        if new_n == n_bulk and it > 1:
            break
        n_bulk = max(new_n, 1)
        sigma2 = float(np.median(x[:n_bulk])) / unit_median
    if not sigma2 > 0.0:
        raise ValueError("the median eigenvalue is zero; the layer is rank deficient")
    return sigma2, sigma2 * factor + tw_quantile * tracy_widom_scale(sigma2, N, M)


_CDF_CACHE: dict[float, tuple[Array, Array]] = {}
_CACHE_MAX = 512
_TABLE_POINTS = 1024


def _mp_unit_median(q: float) -> float:
    """Median of MP(q, sigma2 = 1), from :func:`_mp_unit_cdf_table`."""
    lam, F = _mp_unit_cdf_table(q)
    return float(np.interp(0.5, F, lam))


def _mp_unit_cdf_table(q: float) -> tuple[Array, Array]:
    """``(lambda, F(lambda))`` of MP(q, sigma2 = 1) on a grid uniform in the angle variable.

    With ``lambda = m - h cos(theta)`` (``m``, ``h``: centre and half-width of the support), the
    square-root edges become ``h sin(theta)`` and ``dF = h^2 sin^2(theta) / (2 pi q lambda)
    dtheta`` is smooth, so a cumulative midpoint rule on 1024 angles is accurate to about
    1e-5 at ``q = 1`` and 1e-6 below (checked against :meth:`MarchenkoPastur.cdf` in the tests),
    far below any KS distance of a finite bulk; O(1024) work per ``q``, cached.
    """
    key = round(q, 12)
    if key not in _CDF_CACHE:
        if len(_CDF_CACHE) >= _CACHE_MAX:
            _CDF_CACHE.clear()
        sq = math.sqrt(q)
        a, b = (1.0 - sq) ** 2, (1.0 + sq) ** 2
        h = 0.5 * (b - a)
        dtheta = math.pi / _TABLE_POINTS
        mid = (np.arange(_TABLE_POINTS) + 0.5) * dtheta
        lam_mid = a + (b - a) * np.sin(0.5 * mid) ** 2  # = m - h cos(mid), exact near a = 0
        dF = h * h * np.sin(mid) ** 2 / (2.0 * math.pi * q * lam_mid) * dtheta
        F = np.concatenate(([0.0], np.cumsum(dF)))
        F /= F[-1]
        theta = np.arange(_TABLE_POINTS + 1) * dtheta
        lam = a + (b - a) * np.sin(0.5 * theta) ** 2
        _CDF_CACHE[key] = (lam, F)
    return _CDF_CACHE[key]


def _ks_distance(bulk: Array, table: tuple[Array, Array], sigma2: float) -> float:
    """Two-sided KS distance between the sorted ``bulk`` and MP(q, sigma2)."""
    lam, F1 = table
    F = np.interp(bulk / sigma2, lam, F1)
    n = bulk.size
    i = np.arange(n, dtype=np.float64)
    return float(max(np.max(F - i / n), np.max((i + 1.0) / n - F)))


def _ks_sigma2(bulk: Array, table: tuple[Array, Array], start: float) -> float:
    """The sigma2 minimising the KS distance of ``bulk`` to MP(q, sigma2): a grid search on
    ``log sigma2`` within a factor 2 of ``start``, refined four times around the best point
    (9 points a pass, evaluated in one vectorised call; final step 7e-4 in ``log sigma2``,
    below the statistical error of sigma2 for bulks of up to ~10^4 eigenvalues)."""
    lam, F1 = table
    n = bulk.size
    lo_gap = np.arange(n, dtype=np.float64) / n
    hi_gap = lo_gap + 1.0 / n
    c, half = math.log(start), math.log(2.0)
    for _ in range(5):
        t = np.linspace(c - half, c + half, 9)
        F = np.interp(np.outer(np.exp(-t), bulk), lam, F1)
        D = np.maximum((F - lo_gap).max(axis=1), (hi_gap - F).max(axis=1))
        c = float(t[int(np.argmin(D))])
        half = 2.0 * (t[1] - t[0])
    return math.exp(c)
