"""Power-law tail fit (Clauset-Shalizi-Newman): :func:`fit_powerlaw`."""

from __future__ import annotations

import math
import operator
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..util import real_number
from ._ks import KSConvention, _alphas_truncated, _kfun, _ks_one, _ks_scan, _vfun
from ._results import DEFAULT_ALPHA_RANGE, DEFAULT_MIN_TAIL, PowerLawBoundWarning, PowerLawFit

_NAN = float("nan")


_KS_CONVENTIONS = ("powerlaw", "two_sided")


# Number of evenly spread candidates whose exact D seeds the pruning threshold.
_N_SEEDS = 32


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
    f = real_number(v, name)
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


def _check_xmin_range(xmin_range: Any, fixed: bool) -> tuple[float, float] | None:
    """``(lo, hi)`` as floats with ``0 <= lo < hi``, or ``None``."""
    if xmin_range is None:
        return None
    if fixed:
        raise ValueError("give xmin or xmin_range, not both")
    try:
        lo, hi = (float(v) for v in xmin_range)
    except (TypeError, ValueError):
        raise ValueError(f"xmin_range must be a pair (lo, hi), got {xmin_range!r}") from None
    if not (0.0 <= lo < hi) or math.isnan(hi):
        raise ValueError(f"xmin_range must satisfy 0 <= lo < hi, got {xmin_range!r}")
    return lo, hi


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
    xmin_range: tuple[float, float] | None = None,
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
    xmin_range : (float, float), optional
        Only candidates ``lo <= xmin < hi`` are scanned (``powerlaw``'s ``xmin=(lo, hi)``
        semantics); the tail still runs to ``xmax``. Used by the ``xmin_peak`` finger
        handling (:func:`setol_theory.fit.xmin_peak_range`). Not allowed with a fixed
        ``xmin``.

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
    xr = _check_xmin_range(xmin_range, fixed)
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
    if xr is not None:
        cand = cand[(xs[cand] >= xr[0]) & (xs[cand] < xr[1])]
        if cand.size == 0:
            return _failed(f"no candidate xmin in xmin_range=[{xr[0]:g}, {xr[1]:g}) leaves >= "
                           f"min_tail={mt} points in the tail", **common)
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

