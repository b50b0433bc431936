"""Large-N limits of spherical and HCIZ integrals (Guionnet-Maida rate function)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from ._hciz_exact import (
    _check_beta,
    _check_positive_int,
    _check_real,
    _check_spectrum,
    log_spherical_integral_exact,
)

Array = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# large-N asymptotics
# --------------------------------------------------------------------------------------------

def _is_model(spectrum: Any) -> bool:
    return all(callable(getattr(spectrum, m, None))
               for m in ("stieltjes", "integrated_r", "support"))


def _empirical_rate(s: float, evals: Array) -> float:
    """``F(s)`` for the empirical measure ``(1/N) sum delta_{a_i}`` (no phase transition).

    ``B(s)`` solves ``mean(1/(B - a_i)) = s`` with ``B > max a`` (``s > 0``) or ``B < min a``
    (``s < 0``); ``F = s B - 1 - log|s| - mean(log|B - a_i|)``.  For ``|s| < 1e-4`` the free
    cumulant series ``sum_{k<=4} kappa_k s^k / k`` is used (error ``O(s^5)``), which avoids the
    cancellation of ``s B - 1`` against the logs.
    """
    if s == 0.0:
        return 0.0
    if s < 0:
        return _empirical_rate(-s, -evals)
    if s * float(np.max(np.abs(evals))) < 1e-4:
        m = [float(np.mean(evals ** k)) for k in range(1, 5)]
        k1 = m[0]
        k2 = m[1] - m[0] ** 2
        k3 = m[2] - 3 * m[0] * m[1] + 2 * m[0] ** 3
        k4 = m[3] - 4 * m[0] * m[2] - 2 * m[1] ** 2 + 10 * m[0] ** 2 * m[1] - 5 * m[0] ** 4
        return k1 * s + k2 * s ** 2 / 2 + k3 * s ** 3 / 3 + k4 * s ** 4 / 4
    amax = float(np.max(evals))
    gaps = amax - evals  # >= 0
    n = evals.size

    def g(logd: float) -> float:
        d = math.exp(logd)
        return float(np.mean(1.0 / (d + gaps))) - s

    # mean(1/(d + gaps)) lies between 1/(N d) and 1/d
    lo, hi = math.log(1.0 / (n * s)), math.log(1.0 / s)
    if g(lo) <= 0.0:  # only when all gaps vanish
        d = 1.0 / s
    elif g(hi) >= 0.0:
        d = 1.0 / s
    else:
        d = math.exp(optimize.brentq(g, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps))
    return s * (amax + d) - 1.0 - math.log(s) - float(np.mean(np.log(d + gaps)))


def _edge_stieltjes(spectrum: Any, edge: float, side: int) -> float:
    """``G(edge)`` (real), ``side * inf`` where ``G`` diverges at the edge."""
    g = complex(np.asarray(spectrum.stieltjes(edge)).reshape(()))
    if math.isnan(g.real):
        raise ValueError(f"the spectral model's stieltjes() returned NaN at the support edge "
                         f"{edge}")
    if math.isinf(g.real):
        return side * math.inf
    return g.real


def _model_rate(s: float, spectrum: Any) -> float:
    if s == 0.0:
        return 0.0
    lo, hi = (float(v) for v in spectrum.support())
    edge = hi if s > 0 else lo
    if not math.isfinite(edge):
        raise ValueError(f"the spectral model's support is unbounded on the side of s = {s}: "
                         f"the spherical integral diverges")
    g = _edge_stieltjes(spectrum, edge, 1 if s > 0 else -1)

    def ir(x: float) -> float:
        return float(np.real(np.asarray(spectrum.integrated_r(x, lower=0.0)).reshape(())))

    if not math.isfinite(g) or (s > 0 and s <= g) or (s < 0 and s >= g):
        return ir(s)
    # edge-sticking phase: B(s) is frozen at the edge; F is C^1 at s = g
    return ir(g) + edge * (s - g) - math.log(s / g)


def spherical_integral_rate(s: ArrayLike, spectrum: Any) -> float | Array:
    r"""The Guionnet-Maida function ``F(s)``, with its edge-sticking phase.

    For a probability measure ``mu`` with right edge ``lambda_+`` and ``g_+ = G(lambda_+)``:

    .. math::
        F(s) = \int_0^s R(w)\, dw \quad (0 \le s \le g_+), \qquad
        F(s) = F(g_+) + \lambda_+ (s - g_+) - \log(s / g_+) \quad (s > g_+),

    the second form being ``s lambda_+ - 1 - log s - int log(lambda_+ - x) dmu`` written so that
    only ``G``, ``R`` and the edge are needed (``F`` is ``C^1`` at ``g_+``); ``s < 0`` mirrors with
    the left edge.  Guionnet & Maida, J. Funct. Anal. 222, 435 (2005), Theorem 6 ([GM2005];
    docs/hciz.md).

    Parameters
    ----------
    s : float or array_like
        Argument (``s = 2 theta / beta``).
    spectrum : SpectralModel or array_like
        A model object (duck-typed: ``stieltjes``, ``integrated_r``, ``support``) or a 1-D array
        of eigenvalues (the empirical measure; then ``B(s)`` solves
        ``mean(1/(B - a_i)) = s``, ``B > max a``, and
        ``F(s) = s B - 1 - log s - mean(log(B - a_i))`` -- ``G`` has a pole at ``max a`` so there is
        no sticking phase at finite ``N``).

    Returns
    -------
    float or ndarray
    """
    if _is_model(spectrum):
        f: Callable[[float], float] = lambda v: _model_rate(v, spectrum)  # noqa: E731
    elif isinstance(spectrum, (np.ndarray, list, tuple)):
        evals = _check_spectrum(spectrum, "spectrum")
        f = lambda v: _empirical_rate(v, evals)  # noqa: E731
    else:
        raise TypeError("spectrum must be an array of eigenvalues or a spectral model with "
                        "stieltjes(z), integrated_r(x, lower) and support() methods, got "
                        f"{type(spectrum).__name__}")
    s_arr = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(s_arr)):
        raise ValueError("s must be finite")
    if s_arr.ndim == 0:
        return f(float(s_arr))
    return np.array([f(float(v)) for v in s_arr.ravel()]).reshape(s_arr.shape)


def critical_coupling(spectrum: Any, beta: int = 2) -> tuple[float, float]:
    """Couplings ``(theta_-, theta_+) = (beta/2) (G(lambda_-), G(lambda_+))`` of the phase change.

    For ``theta_- <= theta <= theta_+`` the rank-one limit is analytic
    (``(beta/2) int_0^{2 theta/beta} R``); outside, the largest (smallest) eigenvalue sticks to the
    edge.  ``+-inf`` when ``G`` diverges at the edge, e.g. for an empirical spectrum (array).
    """
    beta = _check_beta(beta)
    if _is_model(spectrum):
        lo, hi = (float(v) for v in spectrum.support())
        gm = _edge_stieltjes(spectrum, lo, -1) if math.isfinite(lo) else 0.0
        gp = _edge_stieltjes(spectrum, hi, 1) if math.isfinite(hi) else 0.0
        return beta / 2 * gm, beta / 2 * gp
    _check_spectrum(spectrum, "spectrum")
    return -math.inf, math.inf


def spherical_integral_asymptotic(theta: ArrayLike, spectrum: Any,
                                  beta: int = 2) -> float | Array:
    r"""``lim (1/N) log E_u exp(N theta <u, A u>) = (beta/2) F(2 theta / beta)``.

    Guionnet & Maida (2005) Theorem 6 ([GM2005]; docs/hciz.md); ``F`` is
    :func:`spherical_integral_rate` (both phases).  ``spectrum``: a model object or an
    eigenvalue array (empirical ``F``).
    """
    beta = _check_beta(beta)
    th = np.asarray(theta, dtype=np.float64)
    out = beta / 2 * np.asarray(spherical_integral_rate(2 * th / beta, spectrum))
    return float(out) if out.ndim == 0 else out


def hciz_lowrank_asymptotic(b: ArrayLike, spectrum: Any, beta: int = 2) -> float:
    r"""Finite-rank HCIZ limit ``lim (1/N) log E_U exp((beta N / 2) Tr(A U B U^*))``.

    ``B = diag(b_1, ..., b_K, 0, ..., 0)`` with ``K`` fixed as ``N -> inf``:

    .. math::
        \frac{\beta}{2} \sum_{k=1}^K F(b_k), \qquad F(s) = \int_0^s R_\mu(w)\,dw
        \ (|b_k| \text{ sub-critical}),

    with the edge-sticking continuation of :func:`spherical_integral_rate` per ``b_k`` beyond the
    critical value.  Tanaka, J. Phys.: Conf. Ser. 95, 012002 (2008); Guionnet & Maida (2005);
    the paper's App. A.6 and Sec. 5.3, Eq. (129) (arXiv:2507.17912); docs/hciz.md.  Mapping
    to the paper's exponent ``n beta N Tr(A_N X_N)``
    (``beta`` there is the inverse temperature): ``b_k = (2 n beta / beta_D) lambda_k``, so the
    R-integral's upper limit is the *scaled* eigenvalue (docs/hciz.md, :func:`paper_gamma_inf`).
    """
    beta = _check_beta(beta)
    b = _check_spectrum(b, "b")
    return float(beta / 2 * np.sum(spherical_integral_rate(b, spectrum)))


# --------------------------------------------------------------------------------------------
# convergence in N
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvergenceResult:
    r"""Exact ``(1/N) log I_N(theta)`` against its large-N limit, per ``N``.

    Attributes
    ----------
    sizes : ndarray of int
    exact : ndarray
        ``(1/N) log E_u exp(N theta <u, A_N u>)`` for the quantile spectra ``A_N``.
    asymptotic : float
        ``(beta/2) F(2 theta / beta)`` of the model.
    errors : ndarray
        ``exact - asymptotic``.
    edge_terms : ndarray
        Super-critical phase only (zeros otherwise): the part of the error due to the spectrum's
        extreme eigenvalue ``a_e`` not sitting on the model's edge ``lambda_e``,
        ``(beta/2) (s - g_e) (a_e - lambda_e)`` with ``s = 2 theta / beta`` (``dF/d lambda_e =
        s - g_e`` in the sticking phase).  For midpoint quantiles ``|a_e - lambda_e| ~ N^(-2/3)``,
        which dominates the ``O(log N / N)`` remainder ``errors - edge_terms`` at moderate N.
    slope, prefactor : float
        Least-squares fit ``|error| ~ prefactor * N^slope``.
    theta : float
    beta : int
    phase : str
        ``"sub-critical"`` or ``"super-critical"`` (edge-sticking).
    """

    sizes: NDArray[np.int64]
    exact: Array
    asymptotic: float
    errors: Array
    edge_terms: Array
    slope: float
    prefactor: float
    theta: float
    beta: int
    phase: str

    def table(self) -> str:
        """A plain-text table: ``N``, exact, error, ``N * error``, edge term."""
        lines = [f"theta = {self.theta:g}, beta = {self.beta} ({self.phase}); "
                 f"limit = {self.asymptotic:.10f}",
                 f"{'N':>6} {'(1/N) log I_N':>16} {'error':>12} {'N * error':>11} "
                 f"{'edge term':>12}"]
        for n, e, d, g in zip(self.sizes, self.exact, self.errors, self.edge_terms, strict=True):
            lines.append(f"{n:>6d} {e:>16.10f} {d:>12.3e} {n * d:>11.4f} {g:>12.3e}")
        lines.append(f"fit |error| ~ {self.prefactor:.3g} N^{self.slope:.3f}")
        return "\n".join(lines)


def asymptotic_convergence(spectrum: Any, theta: float,
                           sizes: Sequence[int] = (25, 50, 100, 200), *, beta: int = 2,
                           eigenvalues: Callable[[int], ArrayLike] | None = None
                           ) -> ConvergenceResult:
    r"""Convergence of the exact rank-one integral to the Guionnet-Maida limit.

    For each ``N`` in ``sizes`` take deterministic eigenvalues ``a_i = ppf((i - 1/2) / N)`` of the
    model (or ``eigenvalues(N)``), compute ``(1/N) log I_N(theta)`` exactly
    (:func:`log_spherical_integral_exact`) and compare with
    :func:`spherical_integral_asymptotic`.  Below the critical coupling the error is ``O(1/N)``
    (slope ``~ -1``); above it the largest eigenvalue's position and the sticking saddle give
    ``O(log N / N)`` and, for quantile spectra, an edge-gap term ``(s - g_+) (lambda_+ - a_max)``.

    Observed (``tests/test_hciz.py``, semicircle and Marchenko-Pastur): in the sub-critical
    phase ``N * (exact - (beta/2) F_N(s)) -> (1/2) log(1 - s^2 R'(s))``, ``s = 2 theta / beta``,
    with ``F_N`` the empirical ``F`` of the spectrum -- the steepest-descent constant of the
    contour integral of :func:`log_spherical_integral_exact` -- so ``N * errors`` tends to a
    constant; in the super-critical phase ``errors - edge_terms`` stays below
    ``1.5 log N / N``.

    Parameters
    ----------
    spectrum : SpectralModel
        Model with ``ppf`` (unless ``eigenvalues`` is given) and the asymptotic methods.
    theta : float
        Coupling (exponent ``N theta <u, A u>``).
    sizes : sequence of int
        Matrix sizes (at least two).
    beta : {1, 2}
        Dyson index (beta = 1 uses the contour integral; slower).
    eigenvalues : callable, optional
        ``N -> eigenvalues of A_N``.
    """
    beta = _check_beta(beta)
    theta = _check_real(theta, "theta")
    sizes_arr = np.array([_check_positive_int(n, "sizes", 2) for n in sizes], dtype=np.int64)
    if sizes_arr.size < 2:
        raise ValueError("sizes must hold at least two matrix sizes")
    if eigenvalues is None:
        ppf = getattr(spectrum, "ppf", None)
        if not callable(ppf):
            raise TypeError("spectrum has no ppf(); pass eigenvalues=callable(N) instead")

        def eigenvalues(n: int) -> ArrayLike:
            return ppf((np.arange(1, n + 1) - 0.5) / n)

    limit = float(spherical_integral_asymptotic(theta, spectrum, beta))
    lo, hi = critical_coupling(spectrum, beta)
    phase = "sub-critical" if lo <= theta <= hi else "super-critical"
    s = 2.0 * theta / beta
    exact = np.empty(sizes_arr.size)
    edge_terms = np.zeros(sizes_arr.size)
    for i, n in enumerate(sizes_arr):
        a = _check_spectrum(eigenvalues(int(n)), "eigenvalues(N)")
        if a.size != n:
            raise ValueError(f"eigenvalues({n}) returned {a.size} values")
        exact[i] = log_spherical_integral_exact(a, n * theta, beta) / n
        if phase == "super-critical":
            lam_lo, lam_hi = (float(v) for v in spectrum.support())
            if theta > 0:
                edge_terms[i] = beta / 2 * (s - 2 * hi / beta) * (float(np.max(a)) - lam_hi)
            else:
                edge_terms[i] = beta / 2 * (s - 2 * lo / beta) * (float(np.min(a)) - lam_lo)
    errors = exact - limit
    if np.any(errors == 0.0):
        slope, pref = -math.inf, 0.0
    else:
        slope, icpt = np.polyfit(np.log(sizes_arr), np.log(np.abs(errors)), 1)
        pref = math.exp(icpt)
    return ConvergenceResult(sizes=sizes_arr, exact=exact, asymptotic=limit, errors=errors,
                             edge_terms=edge_terms,
                             slope=float(slope), prefactor=float(pref), theta=theta, beta=beta,
                             phase=phase)


# --------------------------------------------------------------------------------------------
# the paper's form
# --------------------------------------------------------------------------------------------

def paper_gamma_inf(eigs_ecs: ArrayLike, g_layer: Any, n: float, beta: float, *,
                    lambda_min: float | None = None) -> float:
    r"""The paper's ``Gamma_inf = n beta sum_{i in ECS} G(lambda_i)`` (verbatim, no rescaling).

    The paper's Sec. 5.3, Eqs. (128)-(129), and Sec. 4.2.8, Eq. (75) (arXiv:2507.17912;
    App. A.6).  Here ``n`` is the training-set size and
    ``beta`` the **inverse temperature**, and ``G(lambda) = int_{lambda_min}^{lambda} Re R(z) dz``
    is the layer generating function.

    .. warning::
       docs/hciz.md: the standard theorem (:func:`hciz_lowrank_asymptotic`) applied to the
       paper's exponent ``n beta N Tr(A_N X_N)`` gives
       ``(beta_D / 2) sum_k F((2 n beta / beta_D) lambda_k)`` -- the eigenvalues enter *scaled*
       by ``n beta``.  The paper's step ``G(n beta lambda) = n beta G(lambda)`` holds only for a
       constant R-transform; otherwise the two differ.  The paper's App. A.6 writes the
       same result with ``n beta / 2``.  This function reproduces the paper; compare with the
       standard form to quantify the difference.

    Parameters
    ----------
    eigs_ecs : array_like
        ECS eigenvalues ``lambda_i``.
    g_layer : callable or SpectralModel
        ``G(lambda)``, or a model whose ``integrated_r(lambda, lower=lambda_min)`` is used.
    n, beta : float
        Load and inverse temperature.
    lambda_min : float, optional
        Lower ECS edge for a model ``g_layer`` (default ``min(eigs_ecs)``).
    """
    lam = _check_spectrum(eigs_ecs, "eigs_ecs")
    n = _check_real(n, "n")
    beta = _check_real(beta, "beta")
    if callable(getattr(g_layer, "integrated_r", None)):
        lo = float(np.min(lam)) if lambda_min is None else _check_real(lambda_min, "lambda_min")
        vals = [float(np.real(np.asarray(g_layer.integrated_r(v, lower=lo)).reshape(())))
                for v in lam]
    elif callable(g_layer):
        vals = [float(np.real(np.asarray(g_layer(v)).reshape(()))) for v in lam]
    else:
        raise TypeError("g_layer must be a callable G(lambda) or a model with integrated_r()")
    total = math.fsum(vals)
    if not math.isfinite(total):
        raise ValueError("paper_gamma_inf: G(lambda_i) is not finite for some ECS eigenvalue")
    return n * beta * total

