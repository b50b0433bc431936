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
import numbers
import operator
import warnings
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

try:  # numba is a declared dependency; the pure-Python fallback is correct but slow.
    from numba import njit as _numba_njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAVE_NUMBA = False


def _njit(func):  # type: ignore[no-untyped-def]
    """``numba.njit(cache=True)`` when numba is importable, else the plain function."""
    if HAVE_NUMBA:
        return _numba_njit(cache=True, nogil=True)(func)
    return func  # pragma: no cover


__all__ = [
    "DEFAULT_ALPHA_RANGE",
    "DEFAULT_MIN_TAIL",
    "PowerLawBoundWarning",
    "PowerLawFit",
    "TruncatedPowerLawFit",
    "fit_powerlaw",
    "fit_truncated_powerlaw",
    "powerlaw_ccdf",
    "powerlaw_pdf",
    "truncated_powerlaw_pdf",
]

#: Default exponent window. HTSR exponents range from below 2 to above 6; the lower bound 1
#: is the normalisability limit of an untruncated power law (the closed-form MLE is always
#: above 1). ``powerlaw``'s default ``[0, 3]`` would clamp typical HTSR layers.
DEFAULT_ALPHA_RANGE: tuple[float, float] = (1.0, 20.0)
#: Default minimum number of points in the tail (avoids 2-3 point "fingers" winning the scan).
DEFAULT_MIN_TAIL: int = 10

KSConvention = Literal["powerlaw", "two_sided"]
_KS_CONVENTIONS = ("powerlaw", "two_sided")
_NAN = float("nan")
# Number of evenly spread candidates whose exact D seeds the pruning threshold.
_N_SEEDS = 32


class PowerLawBoundWarning(UserWarning):
    """The ``alpha_range`` constraint changed the outcome of a power-law fit.

    Emitted together with ``bound_hit=True`` in the result. Filter it with
    ``warnings.simplefilter("ignore", PowerLawBoundWarning)`` in batch analyses.
    """


# ======================================================================================
# Result types
# ======================================================================================
def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(e) for e in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


class _ResultMixin:
    status: str

    @property
    def ok(self) -> bool:
        """``True`` when the fit succeeded (``status == "ok"``)."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """Fields as a dict of plain Python scalars/lists (JSON-serialisable; NaN stays NaN)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class PowerLawFit(_ResultMixin):
    """Result of :func:`fit_powerlaw`.

    Attributes
    ----------
    alpha : float
        Exponent of :math:`p(x) \\propto x^{-\\alpha}` on the tail (NaN if the fit failed).
    xmin : float
        Lower cutoff of the tail (selected or given; NaN if the fit failed).
    xmax : float or None
        Upper cutoff (``None``: untruncated power law).
    sigma : float
        Standard error of ``alpha``: :math:`(\\alpha-1)/\\sqrt{n_{tail}}` (CSN Sec. 3.1)
        without ``xmax``; with ``xmax`` the inverse square root of the Fisher information,
        :math:`1/\\sqrt{n_{tail}\\,\\mathrm{Var}_\\alpha[\\ln x]}` (which reduces to the former
        as ``xmax -> inf``).
    D : float
        KS distance of the fit, in the convention ``ks``.
    n_tail : int
        Number of points in ``[xmin, xmax]`` used by the fit (0 if the fit failed).
    n : int
        Number of values passed in ``x``.
    status : {"ok", "failed"}
        Whether a fit was made.
    reason : str
        Why the fit failed, or (for an ``ok`` fit with ``bound_hit``) what the bound changed;
        empty otherwise.
    bound_hit : bool
        ``True`` when ``alpha_range`` decided the outcome: either the smallest-``D``
        candidate (ignoring the range) has an exponent outside the range, so another
        ``xmin`` was selected (status ``ok``), or no candidate (or the given ``xmin``) gives
        an exponent inside the range (status ``failed``).
    ks : {"powerlaw", "two_sided"}
        KS convention used to compute ``D`` (and to select ``xmin``).
    alpha_range : tuple of float
        Exponent window used.
    min_tail : int
        Minimum tail size used.
    xmin_fixed : bool
        ``True`` if ``xmin`` was given (no scan).
    n_candidates : int
        Number of candidate ``xmin`` values that met ``min_tail`` (scan only; 1 if fixed).
    """

    alpha: float
    xmin: float
    xmax: float | None
    sigma: float
    D: float
    n_tail: int
    n: int
    status: str
    reason: str = ""
    bound_hit: bool = False
    ks: str = "powerlaw"
    alpha_range: tuple[float, float] = DEFAULT_ALPHA_RANGE
    min_tail: int = DEFAULT_MIN_TAIL
    xmin_fixed: bool = False
    n_candidates: int = 0


@dataclass(frozen=True)
class TruncatedPowerLawFit(_ResultMixin):
    """Result of :func:`fit_truncated_powerlaw` (power law with exponential cutoff).

    The model is :math:`p(x) = x^{-\\alpha} e^{-\\lambda x} / Z` on ``[xmin, xmax]``
    (``xmax=None``: ``[xmin, inf)``), ``lambda >= 0``.

    Attributes
    ----------
    alpha, lam : float
        Maximum-likelihood exponent and cutoff rate ``lambda`` (units 1/x).
    xmin : float
        Lower cutoff (given).
    xmax : float or None
        Upper cutoff (given) or ``None``.
    sigma_alpha, sigma_lam : float
        Asymptotic standard errors from the inverse Fisher information (NaN for ``lam`` when
        the MLE lies on the boundary ``lam = 0``).
    loglik : float
        Log-likelihood of the tail under the fitted model (natural log, densities in 1/x).
    alpha_powerlaw, loglik_powerlaw : float
        Exponent and log-likelihood of the pure power law fitted to the same tail.
    loglik_ratio_vs_powerlaw : float
        ``loglik - loglik_powerlaw`` (>= 0: the models are nested, the power law being
        ``lam = 0``). Positive values favour the cutoff. ``powerlaw``'s
        ``distribution_compare('power_law', 'truncated_power_law')`` returns minus this.
    p_value : float
        Wilks p-value of the nested likelihood-ratio test, ``chi2(1).sf(2 R)`` (as in
        ``powerlaw`` with ``nested=True``). As ``lam = 0`` lies on the boundary of the
        parameter space the exact asymptotic null is the 50:50 mixture of chi2(0) and chi2(1),
        whose p-value is half of this one: the reported value is conservative.
    n_tail, n : int
        Points in the tail and values passed.
    status : {"ok", "failed"}
    reason : str
    converged : bool
        Whether the optimisation met its tolerances (``False`` only for failed fits).
    """

    alpha: float
    lam: float
    xmin: float
    xmax: float | None
    sigma_alpha: float
    sigma_lam: float
    loglik: float
    alpha_powerlaw: float
    loglik_powerlaw: float
    loglik_ratio_vs_powerlaw: float
    p_value: float
    n_tail: int
    n: int
    status: str
    reason: str = ""
    converged: bool = False


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


# ======================================================================================
# Argument validation
# ======================================================================================
def _as_sample(x: ArrayLike, name: str = "x") -> NDArray[np.float64]:
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def _as_real(v: Any, name: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    f = float(v)
    if math.isnan(f):
        raise ValueError(f"{name} is NaN")
    return f


def _check_xmin_xmax(xmin: Any, xmax: Any) -> tuple[float | None, float | None]:
    xmin_f = None
    if xmin is not None:
        xmin_f = _as_real(xmin, "xmin")
        if not (0.0 < xmin_f < math.inf):
            raise ValueError(f"xmin must be positive and finite, got {xmin_f}")
    xmax_f = None
    if xmax is not None:
        xmax_f = _as_real(xmax, "xmax")
        if xmax_f <= 0.0:
            raise ValueError(f"xmax must be positive, got {xmax_f}")
        if xmax_f == math.inf:
            xmax_f = None
    if xmin_f is not None and xmax_f is not None and xmax_f <= xmin_f:
        raise ValueError(f"xmax ({xmax_f}) must be greater than xmin ({xmin_f})")
    return xmin_f, xmax_f


def _check_min_tail(min_tail: Any) -> int:
    if isinstance(min_tail, (bool, np.bool_)):
        raise TypeError("min_tail must be an integer, got bool")
    try:
        mt = operator.index(min_tail)
    except TypeError:
        raise TypeError(f"min_tail must be an integer, got {type(min_tail).__name__}") from None
    if mt < 2:
        raise ValueError(f"min_tail must be >= 2, got {mt}")
    return int(mt)


def _check_alpha_range(alpha_range: Any) -> tuple[float, float]:
    try:
        lo, hi = alpha_range
    except (TypeError, ValueError):
        raise ValueError(
            f"alpha_range must be a pair (low, high), got {alpha_range!r}"
        ) from None
    lo_f = _as_real(lo, "alpha_range[0]")
    hi_f = _as_real(hi, "alpha_range[1]")
    if not lo_f < hi_f:
        raise ValueError(f"alpha_range must satisfy low < high, got {alpha_range!r}")
    return lo_f, hi_f


# ======================================================================================
# Power-law helpers
# ======================================================================================
def powerlaw_pdf(
    x: ArrayLike, alpha: float, xmin: float, xmax: float | None = None
) -> NDArray[np.float64]:
    r"""Density of the continuous power law on ``[xmin, xmax]`` (CSN Sec. 2 for no xmax).

    :math:`p(x) = \frac{\alpha-1}{x_{\min}} (x/x_{\min})^{-\alpha}` for ``x >= xmin``
    (``alpha > 1``); with ``xmax`` the density is renormalised to ``[xmin, xmax]`` (any
    ``alpha``). Zero outside the support.

    Parameters
    ----------
    x : array_like
        Points.
    alpha : float
        Exponent.
    xmin : float
        Lower cutoff, > 0.
    xmax : float, optional
        Upper cutoff, > xmin.

    Returns
    -------
    ndarray of float
    """
    xmin_f, xmax_f = _check_xmin_xmax(xmin, xmax)
    assert xmin_f is not None
    a = _as_real(alpha, "alpha")
    xa = np.asarray(x, dtype=np.float64)
    b = a - 1.0
    if xmax_f is None:
        if b <= 0.0:
            raise ValueError("alpha must be > 1 for a power law without xmax")
        log_norm = math.log(b / xmin_f)
    else:
        U = math.log(xmax_f / xmin_f)
        # 1 / integral_1^R t^-alpha dt, R = e^U, written without overflow for either sign of b
        if b == 0.0:
            log_norm = -math.log(xmin_f * U)
        elif b > 0.0:
            log_norm = math.log(b / (xmin_f * -math.expm1(-b * U)))
        else:
            log_norm = b * U + math.log(-b / (xmin_f * -math.expm1(b * U)))
    inside = xa >= xmin_f
    if xmax_f is not None:
        inside &= xa <= xmax_f
    t = np.where(inside, xa / xmin_f, 1.0)
    with np.errstate(under="ignore", over="ignore"):
        out = np.where(inside, np.exp(log_norm - a * np.log(t)), 0.0)
    return out


def powerlaw_ccdf(
    x: ArrayLike, alpha: float, xmin: float, xmax: float | None = None
) -> NDArray[np.float64]:
    r"""Complementary CDF :math:`P(X > x)` of the continuous power law.

    :math:`(x/x_{\min})^{1-\alpha}` for ``x >= xmin`` and 1 below (``alpha > 1``); with
    ``xmax`` the law truncated to ``[xmin, xmax]`` (0 above ``xmax``).

    Parameters
    ----------
    x : array_like
    alpha : float
    xmin : float
    xmax : float, optional

    Returns
    -------
    ndarray of float
    """
    xmin_f, xmax_f = _check_xmin_xmax(xmin, xmax)
    assert xmin_f is not None
    a = _as_real(alpha, "alpha")
    b = a - 1.0
    if xmax_f is None and b <= 0.0:
        raise ValueError("alpha must be > 1 for a power law without xmax")
    xa = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.log(np.maximum(xa, xmin_f) / xmin_f)
    if xmax_f is None:
        return np.exp(-b * u)
    U = math.log(xmax_f / xmin_f)
    return 1.0 - _trunc_cdf_np(np.minimum(u, U), b, U)


def _trunc_cdf_np(u: NDArray[np.float64], b: float, U: float) -> NDArray[np.float64]:
    """Vectorised :func:`_model_cdf` for the power law truncated to ``[0, U]`` in ``u``."""
    if b == 0.0:
        return u / U
    if b > 0.0:
        return np.expm1(-b * u) / math.expm1(-b * U)
    return np.exp(b * (U - u)) * np.expm1(b * u) / math.expm1(b * U)


# ======================================================================================
# Power-law fit
# ======================================================================================
def _failed(reason: str, *, n: int, xmax: float | None, ks: str, ar: tuple[float, float],
            min_tail: int, fixed: bool, bound_hit: bool = False,
            n_candidates: int = 0) -> PowerLawFit:
    return PowerLawFit(
        alpha=_NAN, xmin=_NAN, xmax=xmax, sigma=_NAN, D=_NAN, n_tail=0, n=n, status="failed",
        reason=reason, bound_hit=bound_hit, ks=ks, alpha_range=ar, min_tail=min_tail,
        xmin_fixed=fixed, n_candidates=n_candidates,
    )


def _group_index(xs: NDArray[np.float64]) -> tuple[NDArray[np.int64], ...]:
    """starts (first index of each distinct value), first[j], nxt[j] for sorted ``xs``."""
    n = xs.shape[0]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(xs[1:], xs[:-1], out=new[1:])
    starts = np.flatnonzero(new).astype(np.int64)
    counts = np.diff(np.append(starts, n))
    first = np.repeat(starts, counts)
    nxt = np.repeat(np.append(starts[1:], n).astype(np.int64), counts)
    return starts, first, nxt


def _truncated_alpha_brentq(ubar: float, U: float) -> float:
    """Exponent of the power law truncated to [xmin, xmin e^U] whose E[ln(x/xmin)] = ubar.

    Solves the score equation :math:`U k((\\alpha-1)U) = \\bar u` with scipy ``brentq`` on a
    bracket that always contains the (unique) root.
    """
    from scipy.optimize import brentq

    tau = ubar / U
    if not (0.0 < tau < 1.0):
        return _NAN
    if tau == 0.5:
        return 1.0
    if tau < 0.5:
        lo, hi = 0.0, 2.0 / tau
    else:
        lo, hi = -2.0 / (1.0 - tau), 0.0
    y = brentq(lambda v: _kfun(v) - tau, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps,
               maxiter=500)
    return 1.0 + y / U


def _fit_at(xs: NDArray[np.float64], L: NDArray[np.float64], first: NDArray[np.int64],
            nxt: NDArray[np.int64], xmin: float, xmax: float | None,
            two_sided: bool) -> tuple[float, float, float, int, str]:
    """Exponent, sigma, D and tail size at a given xmin (data sorted, <= xmax, > 0)."""
    i = int(np.searchsorted(xs, xmin, side="left"))
    nt = xs.shape[0] - i
    if nt == 0:
        return _NAN, _NAN, _NAN, 0, f"no data point >= xmin={xmin:g}"
    tail = xs[i:]
    ssum = float(np.sum(np.log(tail / xmin)))  # same expression as CSN (3.1) / powerlaw
    if not ssum > 0.0:
        return _NAN, _NAN, _NAN, nt, (
            f"all {nt} tail values are equal to xmin={xmin:g}: the exponent is undefined"
        )
    if xmax is None:
        alpha = 1.0 + nt / ssum
        sigma = (alpha - 1.0) / math.sqrt(nt)
        U = math.inf
    else:
        U = math.log(xmax / xmin)
        alpha = _truncated_alpha_brentq(ssum / nt, U)
        if not math.isfinite(alpha):
            return _NAN, _NAN, _NAN, nt, "the truncated-power-law score equation has no root"
        y = (alpha - 1.0) * U
        sigma = 1.0 / math.sqrt(nt * U * U * _vfun(y))
    sa = np.empty(160, dtype=np.int64)
    sb = np.empty(160, dtype=np.int64)
    sfa = np.empty(160, dtype=np.float64)
    sfb = np.empty(160, dtype=np.float64)
    D, _, _ = _ks_one(L, first, nxt, i, math.log(xmin), alpha - 1.0,
                      U if xmax is not None else 0.0, xmax is not None, two_sided, math.inf,
                      -1, sa, sb, sfa, sfb)
    return alpha, sigma, float(D), nt, ""


def _candidate_alphas(L: NDArray[np.float64], cand: NDArray[np.int64],
                      xmax: float | None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """MLE exponents of all candidates (sorted logs ``L``, candidate indices ``cand``).

    Uses ``S_j = sum_{k>j} (L_k - L_j)``, accumulated from the top with non-negative
    increments (no cancellation): ``S_j = S_{j+1} + (n-1-j) (L_{j+1} - L_j)``. Without
    ``xmax``: CSN eq. (3.1), ``alpha = 1 + n_j / S_j``; with ``xmax``: root of the truncated
    score equation per candidate (compiled safeguarded Newton). Also returns
    ``U = ln(xmax / x_j)`` (zeros without ``xmax``).
    """
    npos = L.shape[0]
    incr = np.arange(npos - 1, 0, -1, dtype=np.float64) * np.diff(L)
    S_all = np.zeros(npos)
    S_all[:-1] = np.cumsum(incr[::-1])[::-1]
    S = S_all[cand]
    ntail = npos - cand
    if xmax is None:
        with np.errstate(divide="ignore"):
            return 1.0 + ntail / S, np.zeros(cand.shape[0])
    U = math.log(xmax) - L[cand]
    return _alphas_truncated(S, ntail, U), U


def _scan_table(x: ArrayLike, *, xmax: float | None = None, min_tail: int = 2,
                ks: KSConvention = "powerlaw") -> dict[str, NDArray[Any]]:
    """Diagnostics: every candidate's ``xmin``, ``alpha``, ``n_tail`` and exact ``D``.

    No pruning (``O(n^1.5)``-ish, slower than the fit); for tests and plots of D vs xmin.
    """
    arr = _as_sample(x)
    _, xmax_f = _check_xmin_xmax(None, xmax)
    mt = _check_min_tail(min_tail)
    keep = arr > 0.0
    if xmax_f is not None:
        keep &= arr <= xmax_f
    xs = np.sort(arr[keep])
    if xs.size == 0:
        empty = np.empty(0)
        return {"xmin": empty, "alpha": empty, "n_tail": empty.astype(np.int64), "D": empty}
    L = np.log(xs)
    starts, first, nxt = _group_index(xs)
    cand = starts[:-2]
    cand = cand[xs.size - cand >= mt]
    alphas, U = _candidate_alphas(L, cand, xmax_f)
    D, _ = _ks_scan(L, first, nxt, cand, alphas - 1.0, U, xmax_f is not None,
                    ks == "two_sided", math.inf, False, 0)
    return {"xmin": xs[cand], "alpha": alphas, "n_tail": xs.size - cand, "D": D}


def fit_powerlaw(
    x: ArrayLike,
    *,
    xmin: float | None = None,
    xmax: float | None = None,
    min_tail: int = DEFAULT_MIN_TAIL,
    ks: KSConvention = "powerlaw",
    alpha_range: tuple[float, float] = DEFAULT_ALPHA_RANGE,
) -> PowerLawFit:
    r"""Fit a continuous power law to the tail of a positive sample (CSN 2009).

    For every candidate ``xmin`` (distinct positive values of ``x`` except the two largest,
    as in ``powerlaw`` 2.0.0) with at least ``min_tail`` points ``x >= xmin``, the exponent is
    the MLE of CSN eq. (3.1),

    .. math:: \hat\alpha = 1 + n\Big[\sum_{x_i \ge x_{\min}} \ln\frac{x_i}{x_{\min}}\Big]^{-1},

    computed for all candidates at once from one reverse cumulative sum (``O(n log n)``
    including the sort), and ``D`` is the KS distance between the tail's empirical CDF and
    :math:`1 - (x/x_{\min})^{1-\hat\alpha}` (CSN Sec. 3.3). The selected ``xmin`` minimises
    ``D`` over candidates whose exponent lies strictly inside ``alpha_range`` (first one on
    ties). The final ``alpha``/``sigma``/``D`` are recomputed at that ``xmin`` exactly as for
    a fixed ``xmin``, so ``fit_powerlaw(x, xmin=fit.xmin)`` reproduces them.

    Parameters
    ----------
    x : array_like, shape (n,)
        Sample (e.g. eigenvalues). Integer or float, finite. Non-positive values are ignored
        (they can never lie in a tail ``x >= xmin > 0``).
    xmin : float, optional
        Fixed lower cutoff (> 0): no scan. Need not be a sample value.
    xmax : float, optional
        Upper cutoff: values above it are excluded, and the likelihood and model CDF use the
        power law truncated to ``[xmin, xmax]`` (MLE by ``brentq`` on the score equation).
    min_tail : int, default 10
        Minimum number of points in ``[xmin, xmax]``. ``powerlaw`` has no such limit; use
        ``min_tail=2`` to reproduce its candidate set.
    ks : {"powerlaw", "two_sided"}, default "powerlaw"
        KS convention. ``"powerlaw"``: compare the model CDF at each distinct tail value
        with the fraction of tail points strictly below it (``j/n``, ``j = 0..n-1``), as
        ``powerlaw`` and WeightWatcher do. ``"two_sided"``: also with the fraction ``<=`` it
        (``(j+1)/n``), the usual two-sided statistic. They can select different ``xmin``.
    alpha_range : (float, float), default (1, 20)
        Candidates whose exponent is not strictly inside this window are not eligible
        (``powerlaw`` semantics for ``parameter_ranges``). If that changes the selected
        ``xmin`` (or no candidate / the given ``xmin`` is eligible) ``bound_hit`` is set and
        a :class:`PowerLawBoundWarning` is emitted.

    Returns
    -------
    PowerLawFit
        ``status == "ok"`` or ``"failed"`` (NaN values and a ``reason``) for data on which
        no fit can be made: too few points, all values equal, no eligible candidate, ...

    Raises
    ------
    TypeError
        Non-numeric ``x`` (bool, complex, object, strings) or non-integer ``min_tail``.
    ValueError
        ``x`` empty, not 1-D or containing NaN/Inf; ``xmin``/``xmax`` not positive; ``xmax <=
        xmin``; ``min_tail < 2``; bad ``alpha_range`` or ``ks``.

    References
    ----------
    A. Clauset, C. R. Shalizi, M. E. J. Newman, "Power-law distributions in empirical data",
    SIAM Review 51(4), 661-703 (2009), doi:10.1137/070710111.
    """
    arr = _as_sample(x)
    xmin_f, xmax_f = _check_xmin_xmax(xmin, xmax)
    mt = _check_min_tail(min_tail)
    if ks not in _KS_CONVENTIONS:
        raise ValueError(f"ks must be one of {_KS_CONVENTIONS}, got {ks!r}")
    lo, hi = _check_alpha_range(alpha_range)
    ar = (lo, hi)
    two_sided = ks == "two_sided"
    n = int(arr.size)
    fixed = xmin_f is not None
    common = dict(n=n, xmax=xmax_f, ks=ks, ar=ar, min_tail=mt, fixed=fixed)

    keep = arr > 0.0
    if xmax_f is not None:
        keep &= arr <= xmax_f
    xs = np.sort(arr[keep])
    npos = int(xs.size)
    where = "positive values" + (f" <= xmax={xmax_f:g}" if xmax_f is not None else "")
    if npos < mt:
        return _failed(f"only {npos} {where}; min_tail={mt}", **common)
    if xs[0] == xs[-1]:
        return _failed(f"all {npos} {where} are equal ({xs[0]:g}): no power-law tail",
                       **common)
    L = np.log(xs)
    starts, first, nxt = _group_index(xs)

    if fixed:
        assert xmin_f is not None
        alpha, sigma, D, nt, why = _fit_at(xs, L, first, nxt, xmin_f, xmax_f, two_sided)
        if nt < mt:
            return _failed(f"only {nt} {where} are >= xmin={xmin_f:g}; min_tail={mt}",
                           **common)
        if why:
            return _failed(why, **common)
        if not lo < alpha < hi:
            msg = f"alpha={alpha:.6g} at xmin={xmin_f:g} is outside alpha_range={ar}"
            warnings.warn(msg, PowerLawBoundWarning, stacklevel=2)
            return _failed(msg, bound_hit=True, n_candidates=1, **common)
        return PowerLawFit(alpha=alpha, xmin=xmin_f, xmax=xmax_f, sigma=sigma, D=D,
                           n_tail=nt, n=n, status="ok", reason="", bound_hit=False, ks=ks,
                           alpha_range=ar, min_tail=mt, xmin_fixed=True, n_candidates=1)

    # ---- scan -----------------------------------------------------------------------
    cand = starts[:-2]  # powerlaw 2.0.0: unique values < max(x), minus the last one
    ntail = npos - cand
    cand = cand[ntail >= mt]
    ntail = ntail[ntail >= mt]
    m = int(cand.size)
    if m == 0:
        n_unique = int(starts.size)
        return _failed(
            f"no candidate xmin leaves >= min_tail={mt} points in the tail ({n_unique} "
            f"distinct {where}; the two largest distinct values are never candidates)",
            **common)
    alphas, U = _candidate_alphas(L, cand, xmax_f)
    finite = np.isfinite(alphas)
    inrange = finite & (alphas > lo) & (alphas < hi)
    b = alphas - 1.0
    trunc = xmax_f is not None

    idx_in = np.flatnonzero(inrange)
    best_k = -1
    D_best = math.inf
    if idx_in.size:
        D_in, ex_in = _ks_scan(L, first, nxt, cand[idx_in], b[idx_in], U[idx_in], trunc,
                               two_sided, math.inf, True, _N_SEEDS)
        Dm = np.where(ex_in, D_in, np.inf)
        kk = int(np.argmin(Dm))
        best_k = int(idx_in[kk])
        D_best = float(Dm[kk])
    # Would a candidate outside alpha_range have won? (only the answer matters: prune at D*)
    idx_out = np.flatnonzero(finite & ~inrange)
    beaten_by: tuple[float, float] | None = None
    if idx_out.size:
        D_out, ex_out = _ks_scan(L, first, nxt, cand[idx_out], b[idx_out], U[idx_out], trunc,
                                 two_sided, D_best, True, _N_SEEDS)
        better = ex_out & (D_out < D_best)
        if better.any():
            kk = int(np.argmin(np.where(better, D_out, np.inf)))
            beaten_by = (float(xs[cand[idx_out[kk]]]), float(alphas[idx_out[kk]]))
    if best_k < 0:
        reason = f"no candidate xmin gives an exponent inside alpha_range={ar}"
        if beaten_by is not None:
            reason += f" (best-KS candidate: xmin={beaten_by[0]:g}, alpha={beaten_by[1]:.6g})"
        warnings.warn(reason, PowerLawBoundWarning, stacklevel=2)
        return _failed(reason, bound_hit=True, n_candidates=m, **common)

    xmin_sel = float(xs[cand[best_k]])
    alpha, sigma, D, nt, why = _fit_at(xs, L, first, nxt, xmin_sel, xmax_f, two_sided)
    if why:  # pragma: no cover - a candidate always has a non-degenerate tail
        return _failed(why, n_candidates=m, **common)
    reason = ""
    bound_hit = beaten_by is not None
    if bound_hit:
        assert beaten_by is not None
        reason = (
            f"alpha_range={ar} excluded the smallest-D candidate xmin={beaten_by[0]:g} "
            f"(alpha={beaten_by[1]:.6g}); selected xmin={xmin_sel:g} instead"
        )
        warnings.warn(reason, PowerLawBoundWarning, stacklevel=2)
    return PowerLawFit(alpha=alpha, xmin=xmin_sel, xmax=xmax_f, sigma=sigma, D=D, n_tail=nt,
                       n=n, status="ok", reason=reason, bound_hit=bound_hit, ks=ks,
                       alpha_range=ar, min_tail=mt, xmin_fixed=False, n_candidates=m)


# ======================================================================================
# Power law with exponential cutoff ("truncated power law")
# ======================================================================================
_MP_DPS = 30


def _tpl_logz(a: Any, mu: Any, R: Any) -> Any:
    """ln Z(a, mu) with Z = int_1^R t^-a e^(-mu t) dt (mpmath numbers; R may be mp.inf).

    ``Z = E_a(mu) - R^(1-a) E_a(mu R)`` with the generalised exponential integral
    ``E_a(z) = z^(a-1) Gamma(1-a, z)`` (mpmath ``expint``), valid for any real a when
    ``mu > 0``; at ``mu = 0`` the power-law normalisation.
    """
    import mpmath as mp

    if mu == 0:
        b = a - 1
        if R == mp.inf:
            if b <= 0:
                return mp.inf
            return -mp.log(b)
        lr = mp.log(R)
        if b == 0:
            return mp.log(lr)
        return mp.log(-mp.expm1(-b * lr) / b)
    z = mp.expint(a, mu)
    if R != mp.inf:
        z = z - mp.power(R, 1 - a) * mp.expint(a, mu * R)
    return mp.log(z)


def truncated_powerlaw_pdf(
    x: ArrayLike, alpha: float, lam: float, xmin: float, xmax: float | None = None
) -> NDArray[np.float64]:
    r"""Density :math:`x^{-\alpha} e^{-\lambda x}/Z` on ``[xmin, xmax]`` (0 elsewhere).

    :math:`Z = x_{\min}^{1-\alpha}\,[E_\alpha(\mu) - R^{1-\alpha} E_\alpha(\mu R)]` with
    :math:`\mu = \lambda x_{\min}`, :math:`R = x_{\max}/x_{\min}` (no second term without
    ``xmax``) and :math:`E_\alpha(z) = z^{\alpha-1}\Gamma(1-\alpha, z)` computed with mpmath.

    Parameters
    ----------
    x : array_like
    alpha : float
        Exponent (any real if ``lam > 0``; ``> 1`` if ``lam == 0`` and no ``xmax``).
    lam : float
        Cutoff rate, >= 0.
    xmin : float
    xmax : float, optional

    Returns
    -------
    ndarray of float
    """
    import mpmath as mp

    xmin_f, xmax_f = _check_xmin_xmax(xmin, xmax)
    assert xmin_f is not None
    a = _as_real(alpha, "alpha")
    lm = _as_real(lam, "lam")
    if lm < 0:
        raise ValueError(f"lam must be >= 0, got {lm}")
    with mp.workdps(_MP_DPS):
        R = mp.inf if xmax_f is None else mp.mpf(xmax_f) / xmin_f
        logz = _tpl_logz(mp.mpf(a), mp.mpf(lm) * xmin_f, R)
        if logz == mp.inf:
            raise ValueError("alpha must be > 1 when lam == 0 and there is no xmax")
        # log of the normaliser of the density in x: ln xmin + ln Z_t
        log_norm = float(logz) + math.log(xmin_f)
    xa = np.asarray(x, dtype=np.float64)
    inside = xa >= xmin_f
    if xmax_f is not None:
        inside &= xa <= xmax_f
    t = np.where(inside, xa / xmin_f, 1.0)
    with np.errstate(under="ignore"):
        logp = -a * np.log(t) - lm * xmin_f * (t - 1.0) - lm * xmin_f - log_norm
        return np.where(inside, np.exp(logp), 0.0)


def _tpl_derivs(a: float, mu: float, R: Any) -> tuple[NDArray[np.float64],
                                                      NDArray[np.float64]]:
    """Gradient and Hessian of ln Z_t in (a, mu) (mpmath differentiation at 30 digits).

    The gradient is ``-(E[ln t], E[t])`` and the Hessian the covariance matrix of
    ``(ln t, t)`` under the model (an exponential family with natural parameters (a, mu)).
    Forward differences in ``mu`` near ``mu = 0``, where ``E_a`` has a branch point.
    """
    import mpmath as mp

    with mp.workdps(_MP_DPS):
        am = mp.mpf(a)
        mm = mp.mpf(mu)
        kw: dict[str, Any] = {"direction": 1} if mu < 1e-8 else {}

        def f(aa: Any, uu: Any) -> Any:
            return _tpl_logz(aa, uu, R)

        d = {o: float(mp.re(mp.diff(f, (am, mm), o, **kw)))
             for o in ((1, 0), (0, 1), (2, 0), (1, 1), (0, 2))}
    grad = np.array([d[(1, 0)], d[(0, 1)]])
    hess = np.array([[d[(2, 0)], d[(1, 1)]], [d[(1, 1)], d[(0, 2)]]])
    return grad, hess


def _tpl_mean_t0(a: Any, R: Any) -> Any:
    """E[t] of the pure power law (mu = 0) on [1, R] (inf for a <= 2 without R)."""
    import mpmath as mp

    if R == mp.inf and a <= 2:
        return mp.inf
    return mp.exp(_tpl_logz(a - 1, mp.mpf(0), R) - _tpl_logz(a, mp.mpf(0), R))


def _tpl_inner_mu(a: Any, m2: float, s0: float, R: Any) -> tuple[Any, float, bool]:
    """argmin over mu >= 0 of ``mu m2 + ln Z_t(a, mu)`` (convex in mu) for fixed a.

    Returns ``(mu, s, ok)`` with ``s = ln mu`` (``-inf`` when ``mu = 0``). The interior
    minimum solves ``E_{a,mu}[t] = Z(a-1, mu)/Z(a, mu) = m2``; it is found by safeguarded
    Newton in ``s`` on ``ln E[t] - ln m2`` (decreasing in s, derivative
    ``-mu Var[t]/E[t]`` with ``E[t^2] = Z(a-2, mu)/Z(a, mu)``): only generalised exponential
    integrals, no numerical differentiation. Call inside ``mpmath.workdps``.
    """
    import mpmath as mp

    if _tpl_mean_t0(a, R) <= m2:
        return mp.mpf(0), -math.inf, True
    lm2 = math.log(m2)
    lo, hi = -math.inf, math.inf
    sv = s0
    for _ in range(200):
        mu = mp.exp(mp.mpf(sv))
        z0 = _tpl_logz(a, mu, R)
        z1 = _tpl_logz(a - 1, mu, R)
        z2 = _tpl_logz(a - 2, mu, R)
        le = z1 - z0  # ln E[t]
        r = float(le) - lm2
        if r > 0.0:
            lo = max(lo, sv)  # E[t] too large: increase mu
        else:
            hi = min(hi, sv)
        var_over_mean = float(mp.exp(z2 - z1) - mp.exp(le))  # Var[t]/E[t] = E[t^2]/E[t] - E[t]
        slope = -float(mu) * var_over_mean
        step = -r / slope if slope < 0.0 else math.copysign(4.0, r)
        step = max(-4.0, min(4.0, step))
        s_new = sv + step
        if not lo < s_new < hi:
            if math.isfinite(lo) and math.isfinite(hi):
                s_new = 0.5 * (lo + hi)
        if abs(s_new - sv) <= 1e-13 * max(1.0, abs(sv)):
            return mp.exp(mp.mpf(s_new)), s_new, True
        sv = s_new
    return mp.exp(mp.mpf(sv)), sv, False


def fit_truncated_powerlaw(
    x: ArrayLike,
    *,
    xmin: float,
    xmax: float | None = None,
    min_tail: int = DEFAULT_MIN_TAIL,
    max_iter: int = 100,
) -> TruncatedPowerLawFit:
    r"""MLE of a power law with exponential cutoff on the tail ``x >= xmin``.

    Model :math:`p(x) = x^{-\alpha} e^{-\lambda x} / Z(\alpha, \lambda)` on ``[xmin, xmax]``
    with ``lambda >= 0`` (CSN Sec. 5 / Table 2.1). In ``t = x/xmin`` and
    ``mu = lambda xmin`` the mean negative log-likelihood is

    .. math:: g(\alpha, \mu) = \alpha\,\overline{\ln t} + \mu\,\bar t + \ln Z_t(\alpha, \mu)
              + \ln x_{\min},

    a convex function (``ln Z_t`` is the log-partition function of an exponential family), so
    the MLE is unique. If the pure power law (``mu = 0``) satisfies the KKT condition
    :math:`\partial g/\partial\mu = \bar t - E[t] \ge 0`, it is the MLE (``lam = 0``).
    Otherwise the convex profile :math:`\min_{\mu\ge0} g(\alpha, \mu)` is minimised over
    ``alpha`` with scipy's Brent method, the inner problem being the moment condition
    :math:`E_{\alpha,\mu}[t] = Z_t(\alpha-1,\mu)/Z_t(\alpha,\mu) = \bar t`, with
    :math:`Z_t = E_\alpha(\mu) - R^{1-\alpha}E_\alpha(\mu R)` from mpmath. Standard errors
    come from the Fisher information (covariance of ``(ln t, t)``, the Hessian of
    ``ln Z_t``). The nested likelihood-ratio test against the pure power law at the
    same ``xmin`` (and ``xmax``) gives ``loglik_ratio_vs_powerlaw`` and ``p_value``
    (CSN Sec. 5).

    Parameters
    ----------
    x : array_like, shape (n,)
        Sample; values outside ``[xmin, xmax]`` are ignored.
    xmin : float
        Lower cutoff, > 0 (e.g. ``fit_powerlaw(x).xmin``).
    xmax : float, optional
        Upper cutoff (> xmin): both models are then normalised on ``[xmin, xmax]``.
    min_tail : int, default 10
        Minimum number of points in the tail.
    max_iter : int, default 100
        Maximum iterations of the outer (Brent) search over alpha.

    Returns
    -------
    TruncatedPowerLawFit
        ``status == "failed"`` with NaNs and a ``reason`` when the tail is too small, all
        equal, or the iteration does not converge.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, as for :func:`fit_powerlaw`.
    """
    import mpmath as mp
    from scipy.optimize import minimize_scalar
    from scipy.stats import chi2

    arr = _as_sample(x)
    if xmin is None:
        raise ValueError("xmin is required (e.g. fit_powerlaw(x).xmin)")
    xmin_f, xmax_f = _check_xmin_xmax(xmin, xmax)
    assert xmin_f is not None
    mt = _check_min_tail(min_tail)
    if isinstance(max_iter, (bool, np.bool_)) or not isinstance(max_iter, numbers.Integral):
        raise TypeError(f"max_iter must be an integer, got {type(max_iter).__name__}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    it_max = int(max_iter)
    n = int(arr.size)

    def failed(reason: str, nt: int = 0) -> TruncatedPowerLawFit:
        return TruncatedPowerLawFit(
            alpha=_NAN, lam=_NAN, xmin=xmin_f, xmax=xmax_f, sigma_alpha=_NAN, sigma_lam=_NAN,
            loglik=_NAN, alpha_powerlaw=_NAN, loglik_powerlaw=_NAN,
            loglik_ratio_vs_powerlaw=_NAN, p_value=_NAN, n_tail=nt, n=n, status="failed",
            reason=reason, converged=False)

    keep = arr >= xmin_f
    if xmax_f is not None:
        keep &= arr <= xmax_f
    t = arr[keep] / xmin_f
    nt = int(t.size)
    if nt < mt:
        return failed(f"only {nt} values in the tail x >= xmin={xmin_f:g}; min_tail={mt}", nt)
    lt = np.log(t)
    m1 = float(np.mean(lt))
    m2 = float(np.mean(t))
    if not m1 > 0.0:
        return failed(f"all {nt} tail values are equal to xmin={xmin_f:g}", nt)
    lxmin = math.log(xmin_f)

    # Pure power law at the same cutoffs.
    if xmax_f is None:
        a_pl = 1.0 + 1.0 / m1
        R: Any = mp.inf
    else:
        a_pl = _truncated_alpha_brentq(m1, math.log(xmax_f / xmin_f))
        R = mp.mpf(xmax_f) / xmin_f
        if not math.isfinite(a_pl):
            return failed("the power-law score equation has no root", nt)

    with mp.workdps(_MP_DPS):
        g_pl = mp.mpf(a_pl) * m1 + _tpl_logz(mp.mpf(a_pl), mp.mpf(0), R)
    loglik_pl = -nt * (float(g_pl) + lxmin)

    # KKT at mu = 0: dg/dmu = mean(t) - E_pl[t] >= 0  =>  lam = 0 is the MLE.
    if xmax_f is None:
        e_t = (a_pl - 1.0) / (a_pl - 2.0) if a_pl > 2.0 else math.inf
    else:
        with mp.workdps(_MP_DPS):
            zr = _tpl_logz(mp.mpf(a_pl) - 1, mp.mpf(0), R) - _tpl_logz(mp.mpf(a_pl), 0, R)
            e_t = float(mp.exp(zr))
    if m2 >= e_t:
        sig_a = (a_pl - 1.0) / math.sqrt(nt)
        if xmax_f is not None:
            U = math.log(xmax_f / xmin_f)
            sig_a = 1.0 / math.sqrt(nt * U * U * _vfun((a_pl - 1.0) * U))
        return TruncatedPowerLawFit(
            alpha=a_pl, lam=0.0, xmin=xmin_f, xmax=xmax_f, sigma_alpha=sig_a, sigma_lam=_NAN,
            loglik=loglik_pl, alpha_powerlaw=a_pl, loglik_powerlaw=loglik_pl,
            loglik_ratio_vs_powerlaw=0.0, p_value=1.0, n_tail=nt, n=n, status="ok",
            reason="", converged=True)

    # Interior optimum (mu > 0). The profile p(a) = min_{mu >= 0} g(a, mu) of the jointly
    # convex g is convex, hence unimodal: Brent's method on a, the inner convex problem in
    # mu solved by _tpl_inner_mu (moment condition E[t] = mean(t)). Values are taken
    # relative to the power-law optimum in mpmath, so that a flat profile is resolved far
    # below the double-precision rounding of g itself.
    state: dict[str, Any] = {"s": -math.log(m2), "ok": True}

    def profile(a_val: float) -> float:
        with mp.workdps(_MP_DPS):
            am = mp.mpf(a_val)
            mu_mp, s_new, ok = _tpl_inner_mu(am, m2, state["s"], R)
            state["ok"] = state["ok"] and ok
            if math.isfinite(s_new):
                state["s"] = s_new
            g_val = am * m1 + mu_mp * m2 + _tpl_logz(am, mu_mp, R)
            return float(g_val - g_pl)

    try:
        res = minimize_scalar(profile, bracket=(a_pl, a_pl - 0.25), method="brent",
                              options={"xtol": 1e-10, "maxiter": it_max})
    except (ValueError, ZeroDivisionError, OverflowError, ArithmeticError) as exc:
        return failed(f"optimisation of (alpha, lambda) failed: {exc}", nt)
    if not (bool(res.success) and state["ok"]):
        return failed("optimisation of (alpha, lambda) did not converge", nt)
    a_star = float(res.x)
    with mp.workdps(_MP_DPS):
        mu_mp, _, ok = _tpl_inner_mu(mp.mpf(a_star), m2, state["s"], R)
        gfun = mp.mpf(a_star) * m1 + mu_mp * m2 + _tpl_logz(mp.mpf(a_star), mu_mp, R)
    mu_star = float(mu_mp)
    if not ok or not mu_star > 0.0:
        return failed("optimisation of (alpha, lambda) did not converge", nt)
    theta = np.array([a_star, mu_star])
    _, hess = _tpl_derivs(theta[0], theta[1], R)
    a_hat, mu_hat = float(theta[0]), float(theta[1])
    loglik = -nt * (float(gfun) + lxmin)
    with mp.workdps(_MP_DPS):
        lr = max(nt * float(g_pl - gfun), 0.0)
    p = float(chi2.sf(2.0 * lr, 1))
    try:
        cov = np.linalg.inv(hess) / nt
        sig_a = math.sqrt(cov[0, 0]) if cov[0, 0] > 0 else _NAN
        sig_l = math.sqrt(cov[1, 1]) / xmin_f if cov[1, 1] > 0 else _NAN
    except np.linalg.LinAlgError:  # pragma: no cover
        sig_a = sig_l = _NAN
    return TruncatedPowerLawFit(
        alpha=a_hat, lam=mu_hat / xmin_f, xmin=xmin_f, xmax=xmax_f, sigma_alpha=sig_a,
        sigma_lam=sig_l, loglik=loglik, alpha_powerlaw=a_pl, loglik_powerlaw=loglik_pl,
        loglik_ratio_vs_powerlaw=lr, p_value=p, n_tail=nt, n=n, status="ok", reason="",
        converged=True)
