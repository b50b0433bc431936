r"""Continuous power-law tail fits for eigenvalue spectra (HTSR).

The fit follows Clauset, Shalizi & Newman, "Power-law distributions in empirical data",
SIAM Review 51, 661-703 (2009), hereafter CSN:

* for a fixed lower cutoff ``xmin`` the exponent is the continuous maximum-likelihood
  estimate, CSN eq. (3.1), :math:`\hat\alpha = 1 + n\,[\sum_i \ln(x_i/x_{\min})]^{-1}`, with
  standard error :math:`\sigma = (\hat\alpha - 1)/\sqrt{n}` (CSN Sec. 3.1). The discrete
  estimators of CSN Sec. 3 (e.g. the ``xmin - 1/2`` approximation, eq. (3.7)) are not used:
  eigenvalues are continuous.
* ``xmin`` is the candidate that minimises the Kolmogorov-Smirnov (KS) distance between the
  tail's empirical CDF and the fitted model (CSN Sec. 3.3).

Conventions mirrored from the ``powerlaw`` package 2.0.0 (Alstott et al.), so that our
``xmin``/``alpha`` agree with it exactly when it is called with
``parameter_ranges={'alpha': [1, 20]}`` (never with its default ``[0, 3]``, which clamps
alpha and thereby distorts the xmin scan too):

* candidates ``xmin`` are the distinct positive values of the sample except the two largest
  (``powerlaw`` keeps values ``< max(x)``, takes unique values, then drops the last one);
* the empirical CDF of the tail above a candidate, at each distinct tail value ``u``, is the
  fraction of tail points *strictly below* ``u`` (``j/n`` for the ``j``-th sorted point,
  ``j = 0..n-1``; for duplicated values the first index of the group). ``D`` is the largest
  ``|F_model(u) - F_emp(u)|`` over the distinct tail values. ``ks="two_sided"`` also compares
  with the fraction of tail points ``<= u`` (the usual two-sided KS statistic
  ``sup |F - F_n|``);
* candidates whose exponent is not strictly inside ``alpha_range`` are not eligible; ties in
  ``D`` go to the smallest ``xmin``.

Differences from ``powerlaw`` 2.0.0 (deliberate):

* ``powerlaw`` uses the closed-form MLE only when it lies in ``(1.5, 3]`` and otherwise runs
  Nelder-Mead (``tol=1e-4``) started at the closed form, which in practice returns the
  starting point unchanged; it then also rejects fits within 0.01 of a range bound. We always
  use the closed form and only the strict range test.
* with ``xmax``, ``powerlaw`` keeps the *untruncated* closed form whenever it lies in
  ``(1.5, 3]``, which is not the MLE of the truncated model; we solve the truncated score
  equation.
* a minimum tail size ``min_tail`` (default 10; ``powerlaw`` has none: use ``min_tail=2`` to
  reproduce its candidate set, whose tails have at least 3 points anyway).
* ``powerlaw`` returns NaN when there are fewer than two candidates; we fit a single one.
* ``powerlaw`` discards non-positive values only when an exact zero is present; we never use a
  non-positive value (it can never be in a tail ``x >= xmin > 0``).

The KS scan over all candidates runs in a numba-compiled kernel (no Python loop over
candidates); a naive evaluation costs ``O(n^2)``. Each candidate's ``D`` is computed exactly
by bisecting its tail with a monotonicity bound (model and empirical CDF are both
non-decreasing, so the deviation inside a block is bounded by values at its end points;
blocks that cannot beat the running maximum are skipped). A candidate is abandoned as soon as
its running maximum exceeds the smallest ``D`` found so far (it cannot be the arg-min); the
arg-max of the previous candidate is evaluated first, which usually settles that at once. The
arg-min and its ``D`` are exact; the scan of 1e5 values takes tens of milliseconds.

With ``xmax`` the model is the power law truncated to ``[xmin, xmax]``; its MLE has no closed
form and solves the score equation ``E_alpha[ln x] = mean(ln x)`` (scipy ``brentq``).

The power law with exponential cutoff (``fit_truncated_powerlaw``),
:math:`p(x) \propto x^{-\alpha} e^{-\lambda x}` on ``x >= xmin``, is normalised with the
generalised exponential integral :math:`E_\alpha(\mu) = \int_1^\infty t^{-\alpha} e^{-\mu t} dt`
(:math:`= \mu^{\alpha-1}\Gamma(1-\alpha, \mu)`, an upper incomplete gamma function with a
negative first argument when ``alpha > 1``, which scipy's ``gammaincc`` does not cover),
evaluated with ``mpmath``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..util import njit_cached

try:  # numba is a declared dependency; the pure-Python fallback is correct but slow.
    from numba import njit as _numba_njit  # noqa: F401 - sets HAVE_NUMBA

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAVE_NUMBA = False


def _njit(func):  # type: ignore[no-untyped-def]
    """``numba.njit(cache=True)`` when numba is importable, else the plain function
    (:func:`setol_theory.util.njit_cached`: a cache directory wherever one is writable)."""
    return njit_cached(func)


KSConvention = Literal["powerlaw", "two_sided"]


# ======================================================================================
# Scalar kernels (numba-compiled; also valid plain Python)
# ======================================================================================
# k(y) = 1/y - 1/expm1(y) is E[u]/U for the density of u = ln(x/xmin) on [0, U] that is
# proportional to exp(-b u), with y = b U, b = alpha - 1. Near 0 it is the Bernoulli series
# 1/2 - sum_m B_2m y^(2m-1)/(2m)!; v(y) = -k'(y) = Var[u]/U^2.
_KC = (
    1.0 / 12.0,
    -1.0 / 720.0,
    1.0 / 30240.0,
    -1.0 / 1209600.0,
    1.0 / 47900160.0,
    -691.0 / 1307674368000.0,
    1.0 / 74724249600.0,
    -3617.0 / 10670622842880000.0,
)


_K1, _K2, _K3, _K4, _K5, _K6, _K7, _K8 = _KC


@_njit
def _kfun(y: float) -> float:
    """E[u]/U, see above (accurate for all real y, no overflow)."""
    if abs(y) < 0.5:
        z = y * y
        s = _K8
        s = s * z + _K7
        s = s * z + _K6
        s = s * z + _K5
        s = s * z + _K4
        s = s * z + _K3
        s = s * z + _K2
        s = s * z + _K1
        return 0.5 - y * s
    if y > 0.0:
        e = math.exp(-y)
        return 1.0 / y - e / (-math.expm1(-y))
    return 1.0 / y - 1.0 / math.expm1(y)


@_njit
def _vfun(y: float) -> float:
    """Var[u]/U^2 = 1/y^2 - 1/(4 sinh^2(y/2)) (accurate for all real y, no overflow)."""
    if abs(y) < 0.5:
        z = y * y
        s = 15.0 * _K8
        s = s * z + 13.0 * _K7
        s = s * z + 11.0 * _K6
        s = s * z + 9.0 * _K5
        s = s * z + 7.0 * _K4
        s = s * z + 5.0 * _K3
        s = s * z + 3.0 * _K2
        return s * z + _K1
    e = math.exp(-abs(y))
    d = -math.expm1(-abs(y))
    return 1.0 / (y * y) - e / (d * d)


@_njit
def _solve_k(tau: float, y0: float) -> float:
    """Root y of k(y) = tau for 0 < tau < 1 (safeguarded Newton from ``y0`` if it is
    finite); NaN outside."""
    if not (tau > 0.0 and tau < 1.0):
        return math.nan
    sign = 1.0
    if tau > 0.5:  # k(-y) = 1 - k(y)
        tau = 1.0 - tau
        sign = -1.0
        y0 = -y0
    if tau == 0.5:
        return 0.0
    lo = 0.0
    hi = 2.0 / tau  # k(y) < 1/y for y > 0, so k(2/tau) < tau/2
    y = min(hi, 12.0 * (0.5 - tau))
    if y0 > lo and y0 < hi:
        y = y0
    for _ in range(200):
        f = _kfun(y) - tau
        if f > 0.0:
            lo = y
        else:
            hi = y
        v = _vfun(y)
        ynew = y + f / v if v > 0.0 else 0.5 * (lo + hi)
        if not (ynew > lo and ynew < hi):
            ynew = 0.5 * (lo + hi)
        if abs(ynew - y) <= 1e-15 * max(1.0, abs(y)) or hi - lo <= 1e-15 * max(1.0, hi):
            y = ynew
            break
        y = ynew
    return sign * y


@_njit
def _model_cdf(u: float, b: float, U: float, trunc: bool) -> float:
    """Power-law CDF at u = ln(x/xmin): b = alpha - 1, U = ln(xmax/xmin) if ``trunc``."""
    if not trunc:
        return -math.expm1(-b * u)
    if b == 0.0:
        return u / U
    if b > 0.0:
        return math.expm1(-b * u) / math.expm1(-b * U)
    # b < 0: rescale to avoid overflow of exp(-b U)
    return math.exp(b * (U - u)) * math.expm1(b * u) / math.expm1(b * U)


@_njit
def _push(sa: NDArray[np.int64], sb: NDArray[np.int64], sfa: NDArray[np.float64],
          sfb: NDArray[np.float64], top: int, ja: int, jb: int, fa: float, fb: float) -> int:
    """Push the index interval ``[ja, jb]`` with its model-CDF values on the explicit stack of
    :func:`_ks_one`; returns the new stack height."""
    sa[top] = ja
    sb[top] = jb
    sfa[top] = fa
    sfb[top] = fb
    return top + 1


@_njit
def _ks_one(
    L: NDArray[np.float64],
    first: NDArray[np.int64],
    nxt: NDArray[np.int64],
    i: int,
    lx: float,
    b: float,
    U: float,
    trunc: bool,
    two_sided: bool,
    threshold: float,
    hint: int,
    sa: NDArray[np.int64],
    sb: NDArray[np.int64],
    sfa: NDArray[np.float64],
    sfb: NDArray[np.float64],
) -> tuple[float, bool, int]:
    """KS distance of the tail ``L[i:]`` (sorted logs) against the model with cutoff ``lx``.

    Returns ``(D, True, j)`` with the exact D (attained at index ``j``) if
    ``D <= threshold``; otherwise ``(d, False, j)`` with some ``d > threshold`` (a lower bound
    on D, attained at ``j``) as soon as one is found. ``hint``: an index evaluated first (the
    arg-max of a neighbouring candidate), which usually settles a pruning at once.
    ``first[j]``/``nxt[j]``: index of the first element of j's group of equal values / one
    past its last. Empirical CDF: ``(first[j]-i)/n_i`` ("powerlaw") and also
    ``(nxt[j]-i)/n_i`` ("two_sided").
    """
    n = L.shape[0]
    inv = 1.0 / (n - i)
    ja = i
    jb = n - 1
    fa = _model_cdf(L[ja] - lx, b, U, trunc)
    fb = _model_cdf(L[jb] - lx, b, U, trunc)
    # point deviations at both ends
    running = -1.0
    jrun = ja
    if hint > ja and hint < jb:
        fh = _model_cdf(L[hint] - lx, b, U, trunc)
        running = abs(fh - (first[hint] - i) * inv)
        if two_sided:
            d = abs(fh - (nxt[hint] - i) * inv)
            if d > running:
                running = d
        jrun = hint
        if running > threshold:
            return running, False, jrun
    ea = (first[ja] - i) * inv
    d = abs(fa - ea)
    if two_sided:
        d2 = abs(fa - (nxt[ja] - i) * inv)
        if d2 > d:
            d = d2
    if d > running:
        running = d
        jrun = ja
    eb = (first[jb] - i) * inv
    d = abs(fb - eb)
    if two_sided:
        d2 = abs(fb - (nxt[jb] - i) * inv)
        if d2 > d:
            d = d2
    if d > running:
        running = d
        jrun = jb
    if running > threshold:
        return running, False, jrun
    top = _push(sa, sb, sfa, sfb, 0, ja, jb, fa, fb)
    while top > 0:
        top -= 1
        ja = sa[top]
        jb = sb[top]
        fa = sfa[top]
        fb = sfb[top]
        if jb - ja < 2:
            continue
        # bound on |F - E| strictly inside (ja, jb): F in [fa, fb], E in [E_left(ja), E(jb)]
        lo_e = (first[ja] - i) * inv
        hi_e = ((nxt[jb] if two_sided else first[jb]) - i) * inv
        bound = max(fb - lo_e, hi_e - fa)
        if bound <= running:
            continue
        mid = (ja + jb) >> 1
        fm = _model_cdf(L[mid] - lx, b, U, trunc)
        em = (first[mid] - i) * inv
        d = abs(fm - em)
        if two_sided:
            d2 = abs(fm - (nxt[mid] - i) * inv)
            if d2 > d:
                d = d2
        if d > running:
            running = d
            jrun = mid
            if running > threshold:
                return running, False, jrun
        # children bounds; push the more promising child last (explored first)
        hi_m = ((nxt[mid] if two_sided else first[mid]) - i) * inv
        b1 = max(fm - lo_e, hi_m - fa)
        b2 = max(fb - em, hi_e - fm)
        if b1 <= b2:
            if b1 > running and mid - ja >= 2:
                top = _push(sa, sb, sfa, sfb, top, ja, mid, fa, fm)
            if b2 > running and jb - mid >= 2:
                top = _push(sa, sb, sfa, sfb, top, mid, jb, fm, fb)
        else:
            if b2 > running and jb - mid >= 2:
                top = _push(sa, sb, sfa, sfb, top, mid, jb, fm, fb)
            if b1 > running and mid - ja >= 2:
                top = _push(sa, sb, sfa, sfb, top, ja, mid, fa, fm)
    return running, True, jrun


@_njit
def _ks_scan(
    L: NDArray[np.float64],
    first: NDArray[np.int64],
    nxt: NDArray[np.int64],
    cand: NDArray[np.int64],
    b: NDArray[np.float64],
    U: NDArray[np.float64],
    trunc: bool,
    two_sided: bool,
    threshold: float,
    prune: bool,
    n_seeds: int,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """KS distances of many candidates (index ``cand[k]`` with ``b[k]``, ``U[k]``).

    Returns ``(D, exact)``. With ``prune`` a candidate is abandoned once its running maximum
    exceeds the smallest exact D so far (or the initial ``threshold``); then ``D[k]`` is only
    a lower bound and ``exact[k]`` is False. Every candidate whose D is <= the final minimum
    is computed exactly, so the first arg-min over exact entries is the true arg-min.
    """
    m = cand.shape[0]
    D = np.full(m, np.nan)
    exact = np.zeros(m, dtype=np.bool_)
    sa = np.empty(160, dtype=np.int64)
    sb = np.empty(160, dtype=np.int64)
    sfa = np.empty(160, dtype=np.float64)
    sfb = np.empty(160, dtype=np.float64)
    if m == 0:
        return D, exact
    thr = threshold if prune else np.inf
    stride = max(1, m // max(1, n_seeds)) if prune else 1
    hint = -1
    for sweep in range(2):
        step = stride if sweep == 0 else 1
        for k in range(0, m, step):
            if sweep == 1 and not np.isnan(D[k]):
                continue
            i = cand[k]
            d, ok, hint = _ks_one(
                L, first, nxt, i, L[i], b[k], U[k], trunc, two_sided, thr, hint,
                sa, sb, sfa, sfb
            )
            D[k] = d
            exact[k] = ok
            if ok and prune and d < thr:
                thr = d
        if not prune:
            break
    return D, exact


@_njit
def _alphas_truncated(
    S: NDArray[np.float64], ntail: NDArray[np.int64], U: NDArray[np.float64]
) -> NDArray[np.float64]:
    """MLE exponents of power laws truncated to [x_i, xmax]: solve U k(bU) = S/n."""
    m = S.shape[0]
    out = np.empty(m)
    b_prev = math.nan  # warm start from the neighbouring candidate
    for k in range(m):
        tau = S[k] / ntail[k] / U[k]
        y = _solve_k(tau, b_prev * U[k])
        out[k] = 1.0 + y / U[k]
        if math.isfinite(y):
            b_prev = y / U[k]
    return out

