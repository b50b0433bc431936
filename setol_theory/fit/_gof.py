"""Goodness of fit of a power-law tail: Vuong likelihood-ratio tests against lognormal,
exponential and truncated power law, and the semi-parametric bootstrap p-value.

Clauset, Shalizi & Newman (2009) [CSN2009]: Sec. 4.1 (the bootstrap: is a power law plausible
at all?) and Sec. 5 (likelihood ratios: is another heavy-tailed law better?).  The tests run on
the tail ``x >= xmin`` of a power-law fit (:func:`setol_theory.fit.fit_powerlaw`), with every
alternative fitted by maximum likelihood on that same tail, as the ``powerlaw`` package 2.0.0
[ABP2014] does in ``Fit.distribution_compare``; the ratio, its normalisation and the p-values
are computed with the same formulas (tests compare the two on shared samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._results import PowerLawFit, TruncatedPowerLawFit

Array = NDArray[np.float64]

__all__ = ["ALTERNATIVES", "LRTest", "alpha_interval", "bootstrap_pvalue",
           "compare_alternatives", "likelihood_ratio"]

#: The alternatives of :func:`compare_alternatives`, in table order.
ALTERNATIVES: tuple[str, ...] = ("lognormal", "exponential", "truncated_power_law")


@dataclass(frozen=True)
class LRTest:
    """Vuong likelihood-ratio test of the power law against one alternative on the same tail.

    Attributes
    ----------
    alternative : str
        ``"lognormal"``, ``"exponential"`` or ``"truncated_power_law"``.
    R : float
        ``sum(l_PL - l_alt)`` over the tail (natural log): > 0 favours the power law.
    R_normalized : float
        ``R / sqrt(n var(l_PL - l_alt))`` (Vuong's statistic, asymptotically N(0, 1) for
        non-nested models).
    p : float
        Significance of the sign of ``R``: ``erfc(|R_normalized| / sqrt 2)`` for non-nested
        alternatives, ``chi2(1).sf(2|R|)`` (Wilks) for the nested truncated power law.
    nested : bool
        Whether the power law is a special case of the alternative.
    params : tuple of float
        The alternative's fitted parameters: ``(mu, sigma)`` of ln x, ``(lambda,)``, or
        ``(alpha, lambda)``.
    status : str
        ``"ok"`` or ``"failed"`` (``reason``).
    reason : str
    """

    alternative: str
    R: float
    R_normalized: float
    p: float
    nested: bool
    params: tuple[float, ...] = ()
    status: str = "ok"
    reason: str = ""

    @property
    def favours(self) -> str:
        """``"power_law"``, the alternative, or ``""`` (no significant preference at 0.1)."""
        if self.status != "ok" or not self.p < 0.1:
            return ""
        return "power_law" if self.R > 0 else self.alternative


def likelihood_ratio(l1: ArrayLike, l2: ArrayLike, *, nested: bool = False
                     ) -> tuple[float, float, float]:
    """``(R, R_normalized, p)`` of two sets of pointwise log-likelihoods.

    The formulas of ``powerlaw.loglikelihood_ratio`` 2.0.0 (Vuong 1989; [CSN2009] Sec. 5 and
    App. C): ``R = sum(l1 - l2)``; ``var`` the population variance of ``l1 - l2``;
    ``p = erfc(|R| / sqrt(2 n var))``, or ``chi2(1).sf(2|R|)`` when ``nested``; ``-inf``
    log-likelihoods are replaced by ``ln(1e-307)`` first, as there.
    """
    a = np.array(l1, dtype=np.float64)
    b = np.array(l2, dtype=np.float64)
    n = a.size
    if n == 0:
        return 0.0, 0.0, 1.0
    floor = math.log(10.0 ** -307)
    a[a == -np.inf] = floor
    b[b == -np.inf] = floor
    d = a - b
    R = float(d.sum())
    var = float(np.mean((d - d.mean()) ** 2))
    # chi2(1).sf(x) = erfc(sqrt(x / 2)); math.erfc keeps the analysis free of scipy.stats
    p = math.erfc(math.sqrt(abs(R))) if nested else \
        math.erfc(abs(R) / math.sqrt(2.0 * n * var)) if var > 0 else 1.0
    Rn = R / math.sqrt(n * var) if var > 0 else math.copysign(math.inf, R) if R else 0.0
    return R, Rn, p


def _powerlaw_loglik(t: Array, alpha: float, xmin: float) -> Array:
    return math.log((alpha - 1.0) / xmin) - alpha * np.log(t / xmin)


def _exponential(t: Array, xmin: float) -> tuple[Array, tuple[float, ...]]:
    """Exponential on ``[xmin, inf)``: MLE ``lambda = 1/(mean - xmin)`` (closed form)."""
    lam = 1.0 / float(np.mean(t) - xmin)
    return math.log(lam) - lam * (t - xmin), (lam,)


def _erfcx(z: float) -> float:
    """Scaled complementary error function ``exp(z^2) erfc(z)`` (math only: ``math.erfc`` has
    full relative accuracy until it underflows near z = 26; beyond, the asymptotic series,
    whose first neglected term is below 1e-17 there)."""
    if z < 26.0:
        return math.exp(z * z) * math.erfc(z) if z > -26.0 else math.inf
    w = 1.0 / (2.0 * z * z)
    series = 1.0 - w * (1.0 - 3.0 * w * (1.0 - 5.0 * w * (1.0 - 7.0 * w)))
    return series / (z * math.sqrt(math.pi))


def _log_ndtr(a: float) -> float:
    """``ln Phi(a)`` of the standard normal, accurate in both tails (math only)."""
    z = -a / math.sqrt(2.0)
    if z < 1.0:
        return math.log(0.5 * math.erfc(z))
    return math.log(0.5 * _erfcx(z)) - z * z


def _lognormal(t: Array, xmin: float) -> tuple[Array, tuple[float, ...]]:
    """Lognormal truncated to ``[xmin, inf)``: MLE of ``(mu, sigma)`` of ``ln x``.

    In ``u = ln(x/xmin) >= 0`` the truncated lognormal is the exponential family
    ``p(u) = exp(-a u - b u^2) / Z(a, b)`` with ``b = 1/(2 sigma^2) > 0`` and
    ``a = (ln xmin - mu)/sigma^2``, ``ln Z = ln(sqrt(pi/b)/2) + ln erfcx(a/(2 sqrt b))``. Its
    negative log-likelihood is convex in ``(a, b)`` (the log-partition function of an
    exponential family), so a damped Newton method with the analytic gradient (``E[u]``,
    ``E[u^2]``) and a finite-difference Hessian finds the unique MLE in a few steps. The
    boundary ``b -> 0`` is the power law with ``alpha = 1 + a`` (``mu -> -inf, sigma -> inf``,
    where general-purpose searches stall): when the MLE lies there, the best lognormal is the
    power law itself and ``(-inf, inf)`` is returned.
    """
    u = np.log(t / xmin)
    n = u.size
    s1, s2 = float(u.sum()), float(np.sum(u * u))
    c0 = 0.5 * math.log(math.pi)
    mean_u, var_u = s1 / n, max(s2 / n - (s1 / n) ** 2, 1e-300)
    # below b_min the quadratic term changes ln p by < 1e-6 over the observed range of u: the
    # power-law limit (and the moments below stay free of cancellation, z <~ 1e4)
    b_min = 1e-6 / max(float(u.max()) ** 2, 1e-300)

    def fg(a: float, b: float) -> tuple[float, float, float]:
        # ln Z and its derivatives: E[u] = -d ln Z/da, E[u^2] = -d ln Z/db, with
        # d ln erfcx/dz = 2z - 2/(sqrt(pi) erfcx(z)), z = a/(2 sqrt b)
        rb = math.sqrt(b)
        z = a / (2.0 * rb)
        ex = _erfcx(z)
        if not (0.0 < ex < math.inf):
            return math.inf, 0.0, 0.0
        g = 2.0 * z - 2.0 / (math.sqrt(math.pi) * ex)
        eu = -g / (2.0 * rb)
        eu2 = (1.0 + z * g) / (2.0 * b)
        f = a * s1 + b * s2 + n * (c0 - math.log(2.0 * rb) + math.log(ex))
        return f, s1 - n * eu, s2 - n * eu2

    a, b = 1.0 / max(mean_u, 1e-300), max(0.5 / var_u, 10.0 * b_min)
    f, ga, gb = fg(a, b)
    for _ in range(200):
        # finite-difference Hessian of the analytic gradient; the step in b has a floor on the
        # data's scale (1/u_max^2), so that it stays far above the gradient's rounding noise
        ha = 1e-6 * max(abs(a), 1.0 / max(float(u.max()), 1e-300))
        hb = 1e-6 * (b + 1e-2 / max(float(u.max()) ** 2, 1e-300))
        _, ga1, gb1 = fg(a + ha, b)
        _, ga2, gb2 = fg(a, b + hb)
        H = np.array([[(ga1 - ga) / ha, (ga2 - ga) / hb], [(gb1 - gb) / ha, (gb2 - gb) / hb]])
        H = 0.5 * (H + H.T)
        grad = np.array([ga, gb])
        try:
            step = -np.linalg.solve(H, grad)
            if not float(step @ grad) < 0.0:
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            step = -grad / max(float(np.abs(np.diag(H)).max()), 1e-300)
        at_bound = b <= b_min * (1.0 + 1e-12) and gb > 0.0
        if at_bound:  # the bound is active: Newton in a alone
            step = np.array([-ga / H[0, 0] if H[0, 0] > 0 else -ga, 0.0])
        # trust region in b: at most a factor 10 down per step, so the bound b_min (the power
        # law) is approached, not jumped to from a poor start
        t_step = 1.0 if b + step[1] >= 0.1 * b else 0.9 * b / -step[1]
        while t_step > 1e-12:
            na, nb = a + t_step * step[0], max(b + t_step * step[1], b_min)
            nf, nga, ngb = fg(na, nb)
            if nf <= f + 1e-4 * t_step * float(grad @ step):
                break
            t_step *= 0.5
        else:
            break
        done = abs(f - nf) <= 1e-15 * max(abs(f), 1.0)
        a, b, f, ga, gb = na, nb, nf, nga, ngb
        if done or (abs(ga) < 1e-10 * n and (abs(gb) < 1e-10 * n or (b <= b_min and gb > 0))):
            break
    if b <= 1.000001 * b_min:  # the supremum is the power law itself (alpha = 1 + a)
        return np.full(n, np.nan), (-math.inf, math.inf)
    sigma = 1.0 / math.sqrt(2.0 * b)
    mu = math.log(xmin) - a * sigma * sigma
    y = np.log(t)
    zz = (y - mu) / sigma
    ll = (-0.5 * math.log(2.0 * math.pi) - y - math.log(sigma) - 0.5 * zz * zz
          - _log_ndtr((mu - math.log(xmin)) / sigma))
    return ll, (float(mu), float(sigma))


def _truncated(x: Array, t: Array, xmin: float, f: TruncatedPowerLawFit | None = None
               ) -> tuple[Array, tuple[float, ...]]:
    from ._truncated import fit_truncated_powerlaw

    if f is None or f.xmin != xmin or f.xmax is not None:
        f = fit_truncated_powerlaw(x, xmin=xmin, min_tail=2)
    if f.status != "ok":
        raise ValueError(f.reason)
    a, lam = f.alpha, f.lam
    if lam == 0.0:  # the power law itself is the MLE (KKT): identical log-likelihoods
        return _powerlaw_loglik(t, a, xmin), (a, 0.0)
    # ln p = -a ln(t) - lam t - ln Z, with ln Z from the fit's log-likelihood (the density's
    # normaliser does not depend on t)
    base = -a * np.log(t) - lam * t
    log_z = float(base.sum() - f.loglik) / t.size
    return base - log_z, (a, lam)


def compare_alternatives(x: ArrayLike, xmin: float, alpha: float,
                         alternatives: tuple[str, ...] = ALTERNATIVES, *,
                         tpl_fit: TruncatedPowerLawFit | None = None) -> dict[str, LRTest]:
    """Likelihood-ratio tests of the power law ``(alpha, xmin)`` against each alternative.

    Parameters
    ----------
    x : array_like
        The sample (e.g. eigenvalues); only the tail ``x >= xmin`` is used.
    xmin, alpha : float
        The power-law fit (:func:`fit_powerlaw`): the alternatives are fitted on the same tail.
    alternatives : tuple of str
        Among :data:`ALTERNATIVES`.
    tpl_fit : TruncatedPowerLawFit, optional
        The truncated power law already fitted on this tail (same ``xmin``, no ``xmax``):
        reused instead of fitted again.

    Returns
    -------
    dict
        ``name -> LRTest``; ``R > 0`` favours the power law (``powerlaw``'s
        ``distribution_compare('power_law', name, normalized_ratio=True)`` returns
        ``(R_normalized, p)``).
    """
    arr = np.asarray(x, dtype=np.float64)
    t = np.sort(arr[arr >= xmin])
    unknown = [a for a in alternatives if a not in ALTERNATIVES]
    if unknown:
        raise ValueError(f"unknown alternative(s) {unknown}; known: {ALTERNATIVES}")
    lpl = _powerlaw_loglik(t, alpha, xmin)
    out: dict[str, LRTest] = {}
    for name in alternatives:
        nested = name == "truncated_power_law"
        try:
            if t.size < 2 or t[0] == t[-1]:
                raise ValueError(f"{t.size} tail values, not enough distinct ones")
            if name == "exponential":
                lalt, params = _exponential(t, xmin)
            elif name == "lognormal":
                lalt, params = _lognormal(t, xmin)
            else:
                lalt, params = _truncated(arr, t, xmin, tpl_fit)
        except (ValueError, ArithmeticError) as exc:
            out[name] = LRTest(name, math.nan, math.nan, math.nan, nested, status="failed",
                               reason=str(exc))
            continue
        if (nested and params[1] == 0.0) or (name == "lognormal" and params[1] == math.inf):
            # the best alternative is the power law itself (lam = 0; sigma -> inf): a tie
            R, Rn, p = 0.0, 0.0, 1.0
        else:
            R, Rn, p = likelihood_ratio(lpl, lalt, nested=nested)
        out[name] = LRTest(name, R, Rn, p, nested, params)
    return out


def bootstrap_pvalue(x: ArrayLike, alpha: float, xmin: float, D: float, *,
                     replicates: int = 100, seed: int | None = 0, min_tail: int = 10,
                     ks: str = "powerlaw",
                     fit: Callable[[Array], PowerLawFit] | None = None) -> float:
    """CSN semi-parametric bootstrap p-value of a power-law fit ([CSN2009] Sec. 4.1).

    Each of ``replicates`` synthetic samples has the size ``n`` of ``x`` (positive values):
    ``n_tail ~ Binomial(n, n_tail_obs / n)`` points from the fitted power law above ``xmin``
    (inverse CDF ``xmin (1 - u)^(-1/(alpha - 1))``) and the rest drawn with replacement from
    the observed values below ``xmin``. Each is fitted like the data (the full ``xmin`` scan,
    same ``min_tail`` and KS convention); the p-value is the share of replicates whose KS
    distance is at least the observed ``D``. ``p < 0.1`` rules the power law out (CSN). The
    resolution is ``1/replicates`` (CSN use 2500 for two decimals). ``fit``, a callable
    ``values -> PowerLawFit``, replaces the default refit (a finger handling, for instance:
    the replicates must be fitted the way the data were).
    """
    from ._powerlaw import fit_powerlaw

    arr = np.asarray(x, dtype=np.float64)
    arr = arr[arr > 0]
    n = arr.size
    below = np.sort(arr[arr < xmin])
    n_tail = n - below.size
    rng = np.random.default_rng(seed)
    exceed = 0
    done = 0
    for _ in range(int(replicates)):
        k = int(rng.binomial(n, n_tail / n))
        if below.size == 0:
            k = n
        tail = xmin * (1.0 - rng.random(k)) ** (-1.0 / (alpha - 1.0))
        body = below[rng.integers(0, below.size, n - k)] if n - k > 0 else below[:0]
        sample = np.concatenate((body, tail))
        f = (fit(sample) if fit is not None
             else fit_powerlaw(sample, min_tail=min_tail, ks=ks))  # type: ignore[arg-type]
        if f.status != "ok":
            continue
        done += 1
        exceed += f.D >= D
    return exceed / done if done else math.nan


def alpha_interval(x: ArrayLike, *, replicates: int = 200, seed: int | None = 0,
                   level: float = 0.95, min_tail: int = 10, ks: str = "powerlaw",
                   xmax: float | None = None,
                   fit: Callable[[Array], PowerLawFit] | None = None) -> tuple[float, float]:
    """Seeded nonparametric bootstrap interval of the power-law exponent.

    ``replicates`` resamples of the positive values of ``x`` (with replacement, same size),
    each fitted with the full ``xmin`` scan (so the interval includes the uncertainty of
    ``xmin``, which the asymptotic ``alpha_sigma = (alpha - 1)/sqrt(n_tail)`` of [CSN2009]
    Eq. (3.2) leaves out); the ``(1 - level)/2`` and ``(1 + level)/2`` percentiles of the
    refitted exponents. NaN when fewer than half of the resamples could be fitted. ``fit``,
    a callable ``values -> PowerLawFit``, replaces the refit (``min_tail``, ``ks`` and
    ``xmax`` are then its business), so a finger handling is redone on every resample.
    """
    import warnings

    from ..errors import PowerLawBoundWarning
    from ._powerlaw import fit_powerlaw

    arr = np.asarray(x, dtype=np.float64)
    arr = arr[arr > 0]
    rng = np.random.default_rng(seed)
    alphas = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PowerLawBoundWarning)
        for _ in range(int(replicates)):
            sample = arr[rng.integers(0, arr.size, arr.size)]
            f = (fit(sample) if fit is not None else
                 fit_powerlaw(sample, min_tail=min_tail, ks=ks, xmax=xmax))  # type: ignore[arg-type]
            if f.status == "ok":
                alphas.append(f.alpha)
    if len(alphas) < max(2, replicates // 2):
        return math.nan, math.nan
    lo, hi = np.percentile(alphas, [50.0 * (1.0 - level), 50.0 * (1.0 + level)])
    return float(lo), float(hi)
