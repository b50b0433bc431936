r"""HCIZ (Harish-Chandra--Itzykson--Zuber) integrals: exact, Monte Carlo and large-N limits.

The SETOL layer quality is the large-N limit of an HCIZ-type integral (the paper's
``sections/530_matgen_quality_metrics.tex``, ``sections/540`` eqn:tanaka_result and
``appendix/A6_tanaka.tex``).  This module implements the standard results that the paper relies
on (``shared/spec/theory.md`` section 3.2), each checked against an independent route in
``tests/test_hciz.py``:

==========================  ===========================================================
exact, beta = 2, full rank   :func:`log_hciz_exact_unitary` -- the Harish-Chandra (1957) /
                             Itzykson-Zuber (1980) determinant formula, in mpmath at a
                             precision chosen from the cancellation, confluent limits
                             for coincident eigenvalues
exact, rank one              :func:`log_spherical_integral_exact` -- beta = 2 as a divided
                             difference of ``exp`` (Dirichlet(1, ..., 1) weights); beta = 1
                             (and beta = 2) by a one-dimensional contour integral
Haar Monte Carlo             :func:`hciz_mc`, :func:`spherical_integral_mc`,
                             :func:`haar_matrices`, :func:`log_mean_exp`
large N                      :func:`spherical_integral_rate` (the function ``F`` of
                             Guionnet & Maida 2005, with the edge-sticking phase),
                             :func:`spherical_integral_asymptotic`,
                             :func:`hciz_lowrank_asymptotic` (Tanaka 2008),
                             :func:`critical_coupling`, :func:`asymptotic_convergence`
paper form                   :func:`paper_gamma_inf` (``n beta sum_i G(lambda_i)``)
==========================  ===========================================================

Conventions
-----------
* ``beta`` in this module is the **Dyson index** ``beta_D`` (1: real / orthogonal group,
  2: complex / unitary group), *not* the paper's inverse temperature, except in
  :func:`paper_gamma_inf`, which follows the paper's notation.
* Spectra are given as eigenvalue vectors; the integrals depend on the matrices only through
  them (unitary invariance of Haar measure), which the Monte Carlo routines can check by taking
  full matrices instead.
* ``F(s) = int_0^s R(w) dw`` is the integrated R-transform; ``G`` is the Stieltjes transform
  ``G(z) = int rho(x) / (z - x) dx`` (positive sign convention, spec section 2.1).
* Rank one: ``I_N(theta) = E_u exp(N theta <u, A u>)`` with ``u`` uniform on the unit sphere of
  ``R^N`` (beta = 1) or ``C^N`` (beta = 2); the exact routines take the exponent's coefficient
  ``t = N theta`` directly.

Any "spectral model" works with the asymptotic routines if it has ``stieltjes(z)``,
``integrated_r(x, lower=0.0)`` and ``support()`` (``densities.py`` models and
``free.FreeAdditiveConvolution`` do; duck typing, no import).  A plain array of eigenvalues is
treated as the empirical spectral distribution, for which ``F`` is computed directly.

References
----------
Harish-Chandra, Amer. J. Math. 79, 87 (1957).
C. Itzykson and J.-B. Zuber, J. Math. Phys. 21, 411 (1980).
A. Guionnet and M. Maida, J. Funct. Anal. 222, 435 (2005).
T. Tanaka, J. Phys.: Conf. Ser. 95, 012002 (2008).
F. Mezzadri, Notices AMS 54, 592 (2007) (Haar sampling by QR with the phase fix).
G. Opitz, Z. Angew. Math. Mech. 44, T52 (1964) (divided differences as a matrix function).
J. Abate and P. Valko, Int. J. Numer. Meth. Eng. 60, 979 (2004) (fixed Talbot contour).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import mpmath
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from scipy.special import gammaln

__all__ = [
    "SpectralModel",
    "MCEstimate",
    "ConvergenceResult",
    "log_hciz_exact_unitary",
    "hciz_exact_unitary",
    "log_spherical_integral_exact",
    "spherical_integral_exact_unitary",
    "spherical_integral_exact_orthogonal",
    "haar_matrices",
    "log_mean_exp",
    "hciz_mc",
    "spherical_integral_mc",
    "spherical_integral_rate",
    "critical_coupling",
    "spherical_integral_asymptotic",
    "hciz_lowrank_asymptotic",
    "asymptotic_convergence",
    "paper_gamma_inf",
]

Array = NDArray[np.float64]
RngLike = np.random.Generator | int | None

#: Default largest working precision (decimal digits) of the exact routines.  The exact
#: beta = 2 HCIZ determinant needs about ``(N^2 / 2) log10 N`` digits for spectra of unit spread,
#: so 3000 digits reach N ~ 60-65 (N = 60: ~2600 digits, ~50 s with verification in pure-Python
#: mpmath; N = 40: ~1050 digits, ~7 s; N = 70 raises).
DEFAULT_MAX_DPS = 3000

#: Eigenvalues closer than ``rtol * max|v|`` are merged (snapped to their mean) and treated as
#: exactly coincident by the confluent formulas.  The integrals are smooth symmetric functions
#: of the eigenvalues, so snapping a cluster to its mean changes them only at second order.
DEFAULT_COINCIDENCE_RTOL = 1e-10


@runtime_checkable
class SpectralModel(Protocol):
    """What the asymptotic routines need from a limiting spectral distribution ``mu``."""

    def stieltjes(self, z: Any) -> Any:  # pragma: no cover - protocol
        """``G(z) = int dmu(x) / (z - x)``; a real ``z`` outside the support gives a real value."""

    def integrated_r(self, x: Any, lower: Any = 0.0) -> Any:  # pragma: no cover - protocol
        """``int_lower^x R(w) dw``."""

    def support(self) -> tuple[float, float]:  # pragma: no cover - protocol
        """``(lambda_minus, lambda_plus)``, the edges of the support."""


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------

def _check_beta(beta: Any) -> int:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise TypeError(f"beta (Dyson index) must be 1 or 2, got {beta!r} of type "
                        f"{type(beta).__name__}")
    if beta not in (1, 2):
        raise ValueError(f"beta (Dyson index) must be 1 (orthogonal) or 2 (unitary), got {beta!r}")
    return int(beta)


def _check_real(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        if isinstance(x, np.ndarray) and x.ndim == 0 and np.isrealobj(x):
            x = x.item()
        else:
            raise TypeError(f"{name} must be a real number, got {x!r} of type {type(x).__name__}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return x


def _check_spectrum(v: ArrayLike, name: str) -> Array:
    try:
        arr = np.asarray(v)
    except Exception as exc:  # pragma: no cover - exotic containers
        raise TypeError(f"{name} must be a 1-D array of real eigenvalues") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or np.issubdtype(arr.dtype, np.bool_)):
        raise TypeError(f"{name} must be a 1-D array of real eigenvalues, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real eigenvalues, got complex dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (a list of eigenvalues), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (NaN or Inf)")
    return arr


def _check_positive_int(n: Any, name: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {n!r}")
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    return int(n)


# --------------------------------------------------------------------------------------------
# coincident eigenvalues
# --------------------------------------------------------------------------------------------

def _clusters(v: Array, rtol: float) -> tuple[Array, NDArray[np.intp]]:
    """Sorted distinct values (cluster means) and multiplicities of ``v``.

    Consecutive sorted values whose gap is ``<= rtol * max|v|`` form one cluster.
    """
    s = np.sort(v)
    scale = float(np.max(np.abs(s)))
    if s.size == 1 or scale == 0.0:
        return np.array([s.mean()]), np.array([s.size], dtype=np.intp)
    breaks = np.flatnonzero(np.diff(s) > rtol * scale) + 1
    groups = np.split(s, breaks)
    centres = np.array([g.mean() for g in groups])
    mult = np.array([g.size for g in groups], dtype=np.intp)
    return centres, mult


def _log_confluent_vandermonde(c: Array, m: NDArray[np.intp]) -> float:
    """``sum_{p<q} m_p m_q log(c_q - c_p)`` for ascending distinct ``c`` (float estimate)."""
    if c.size < 2:
        return 0.0
    d = c[None, :] - c[:, None]
    iu = np.triu_indices(c.size, 1)
    return float(np.sum((m[:, None] * m[None, :])[iu] * np.log(d[iu])))


def _mp_confluent_vandermonde(c: Sequence[mpmath.mpf], m: Sequence[int]) -> mpmath.mpf:
    """mpmath ``log prod_{p<q} (c_q - c_p)^{m_p m_q}`` (one log of an exact-range product)."""
    prod = mpmath.fprod((c[q] - c[p]) ** (m[p] * m[q])
                        for p in range(len(c)) for q in range(p + 1, len(c)))
    return mpmath.log(prod)


def _precision_error(what: str, n: int, need: float, max_dps: int) -> ValueError:
    return ValueError(
        f"{what}: N = {n} needs about {int(math.ceil(need))} significant decimal digits, more "
        f"than max_dps = {max_dps}; raise max_dps (cost grows ~ N^3 dps^1.6) or use the Monte "
        f"Carlo / asymptotic routines instead")


def _adaptive(evaluate: Callable[[int], mpmath.mpf | None], dps0: int, max_dps: int,
              verify: bool, what: str, n: int) -> float:
    """Evaluate at ``dps0`` and ``dps0 + guard``; raise the precision until the two agree.

    ``evaluate(dps)`` returns the log of a positive quantity, or ``None`` when the working
    precision was visibly insufficient (a non-positive determinant or sum).  Agreement is
    required to ``1e-15 max(1, |value|)``; the accepted (second) value then carries an error
    about ``10^-guard`` times smaller, because a precision deficit shows up as an error
    ``~10^(lost - dps)``.
    """
    dps = max(20, min(int(dps0), max_dps))
    while True:
        guard = max(10, dps // 10)
        if dps + guard > max_dps:
            dps = max(20, max_dps - guard)
        v1 = evaluate(dps)
        if v1 is not None and not verify:
            return float(v1)
        v2 = evaluate(dps + guard) if v1 is not None else None
        if v1 is not None and v2 is not None:
            if abs(v1 - v2) <= 1e-15 * max(1.0, abs(float(v2))):
                return float(v2)
        if dps + guard >= max_dps:
            raise _precision_error(what, n, dps + guard + 1, max_dps)
        dps = min(2 * dps, max_dps)


# --------------------------------------------------------------------------------------------
# exact beta = 2 HCIZ (Harish-Chandra / Itzykson-Zuber)
# --------------------------------------------------------------------------------------------

def _hciz_matrix(xc: Sequence[mpmath.mpf], xm: Sequence[int], bc: Sequence[mpmath.mpf],
                 bm: Sequence[int]) -> mpmath.matrix:
    r"""Confluent Harish-Chandra matrix at the current mpmath precision.

    Row ``(p, k)`` (cluster ``p`` of ``x``, derivative order ``k < m_p``), column ``(q, l)``:
    ``(1/(k! l!)) d^k/dx^k d^l/db^l exp(x b)`` at ``(x_p, b_q)``
    ``= exp(x_p b_q) sum_{r <= min(k, l)} x_p^(l-r) b_q^(k-r) / (r! (k-r)! (l-r)!)``.
    """
    n = int(sum(xm))
    M = mpmath.matrix(n, n)
    fac = [mpmath.factorial(j) for j in range(n)]
    i = 0
    for p, x in enumerate(xc):
        for k in range(xm[p]):
            j = 0
            for q, b in enumerate(bc):
                e = mpmath.exp(x * b)
                if xm[p] == 1 and bm[q] == 1:  # the common, non-confluent entry
                    M[i, j] = e
                    j += 1
                    continue
                for l in range(bm[q]):
                    s = mpmath.mpf(0)
                    for r in range(min(k, l) + 1):
                        s += x ** (l - r) * b ** (k - r) / (fac[r] * fac[k - r] * fac[l - r])
                    M[i, j] = e * s
                    j += 1
            i += 1
    return M


def log_hciz_exact_unitary(a: ArrayLike, b: ArrayLike, t: float = 1.0, *,
                           coincidence_rtol: float = DEFAULT_COINCIDENCE_RTOL,
                           max_dps: int = DEFAULT_MAX_DPS, verify: bool = True) -> float:
    r"""Log of the exact unitary HCIZ integral ``log int_{U(N)} exp(t Tr(A U B U^*)) dU``.

    ``dU`` is the normalised Haar measure on ``U(N)``; ``A = diag(a)``, ``B = diag(b)``.

    Parameters
    ----------
    a, b : array_like, shape (N,)
        Real eigenvalues of the two Hermitian matrices (any order, repeats allowed).
    t : float
        Coupling in the exponent.
    coincidence_rtol : float
        Eigenvalues of ``a`` (resp. ``b``) closer than ``coincidence_rtol * max|a|`` are merged
        into one cluster at their mean and treated by the confluent formula (see Notes).  ``0``
        merges only exact ties; near ties are then resolved by raising the precision.
    max_dps : int
        Largest working precision in decimal digits; a ``ValueError`` names it when the
        cancellation in the determinant needs more.
    verify : bool
        Re-evaluate at a higher precision and require agreement (default); ``False`` halves the
        cost and trusts the a-priori precision estimate.

    Returns
    -------
    float
        ``log I``; finite wherever the integral is, even when ``I`` itself overflows a double.

    Raises
    ------
    ValueError
        Non-finite ``a``, ``b`` or ``t``; ``len(a) != len(b)``; needed precision above
        ``max_dps``.

    Notes
    -----
    Harish-Chandra (1957), Itzykson & Zuber (1980); spec ``theory.md`` section 3.2 item 3:

    .. math::
        I = \Big(\prod_{p=1}^{N-1} p!\Big)\,
            \frac{\det[e^{t a_i b_j}]_{i,j}}{t^{N(N-1)/2}\,\Delta(a)\,\Delta(b)},
        \qquad \Delta(a) = \prod_{i<j} (a_j - a_i).

    *Evaluation.*  ``t`` is absorbed into ``x = t a``.  The determinant of exponentials is
    exponentially smaller than its entries (about ``(N^2/2) log10 N`` decimal digits cancel for
    spectra of unit spread), so it is computed with ``mpmath`` LU at a precision chosen from an
    estimate of the cancellation: digits lost ~ ``log10(N N! max_sigma prod_i |M_i,sigma(i)| /
    |det M|)`` (the largest Leibniz term, from an assignment problem on ``log |M_ij|``, against
    the determinant), with ``log |det M|`` bounded below through Jensen's inequality
    ``log I >= t Tr A Tr B / N``.  The estimate thus depends on ``N``, on the spread of
    ``t a_i b_j`` and on the eigenvalue gaps; when it exceeds ``max_dps`` the optimistic estimate
    (``log I`` replaced by its upper bound ``t max_sigma sum_i a_i b_sigma(i)``) is used as the
    starting point instead, and a ``ValueError`` is raised if even that exceeds ``max_dps``.
    The result is accepted only once a re-evaluation with more digits agrees (``verify``; the
    precision is doubled until it does), so the estimate affects the cost, not the accuracy.

    *Coincident eigenvalues* (confluent limit, no division by zero): for a cluster of ``m`` equal
    values ``c`` the ``m`` rows (columns) are replaced by the Taylor rows
    ``(1/k!) d^k/dc^k exp(c b_j)``, ``k = 0..m-1``, and ``Delta`` by the confluent Vandermonde
    ``prod_{p<q} (c_q - c_p)^{m_p m_q}``; this is the exact limit of the formula.  Examples:
    ``a = (c, ..., c)`` gives ``exp(t c Tr B)``; ``b = (1, 0, ..., 0)`` gives the rank-one
    spherical integral (:func:`log_spherical_integral_exact`).

    Examples
    --------
    >>> import numpy as np
    >>> a, b, t = np.array([0.0, 1.0]), np.array([0.5, 2.0]), 0.7
    >>> closed = (np.exp(t * (a @ b)) - np.exp(t * (a @ b[::-1]))) / (t * 1.0 * 1.5)
    >>> bool(np.isclose(hciz_exact_unitary(a, b, t), closed, rtol=1e-13))
    True
    """
    a = _check_spectrum(a, "a")
    b = _check_spectrum(b, "b")
    t = _check_real(t, "t")
    if a.size != b.size:
        raise ValueError(f"a and b must have the same length N, got {a.size} and {b.size}")
    coincidence_rtol = _check_real(coincidence_rtol, "coincidence_rtol")
    if coincidence_rtol < 0:
        raise ValueError(f"coincidence_rtol must be >= 0, got {coincidence_rtol}")
    max_dps = _check_positive_int(max_dps, "max_dps", 20)
    n = a.size
    if t == 0.0:
        return 0.0
    ac, am = _clusters(a, coincidence_rtol)
    bc, bm = _clusters(b, coincidence_rtol)
    if t < 0:  # keep x = t a ascending so that every factor below is positive
        ac, am = ac[::-1], am[::-1]
    xcf = t * ac

    # ---- a-priori precision estimate (float / low-precision arithmetic) ----
    lpf = float(np.sum(gammaln(np.arange(2, n + 1))))  # log prod_{p=1}^{N-1} p!
    log_vdm = _log_confluent_vandermonde(xcf, am) + _log_confluent_vandermonde(bc, bm)
    with mpmath.workdps(20):
        M0 = _hciz_matrix([mpmath.mpf(v) for v in xcf], list(am),
                          [mpmath.mpf(v) for v in bc], list(bm))
        logabs = np.array([[float(mpmath.log(abs(M0[i, j]))) if M0[i, j] != 0 else -1e300
                            for j in range(n)] for i in range(n)])
    rows, cols = optimize.linear_sum_assignment(logabs, maximize=True)
    log_big = math.log(n) + math.lgamma(n + 1) + float(logabs[rows, cols].sum())
    jensen = float(np.sum(t * a) * np.sum(b) / n)
    maxperm = float(np.sort(t * a) @ np.sort(b))
    lost_hi = (log_big - (jensen - lpf + log_vdm)) / math.log(10)
    lost_lo = (log_big - (maxperm - lpf + log_vdm)) / math.log(10)
    if lost_lo + 20 > max_dps:
        raise _precision_error("log_hciz_exact_unitary", n, lost_lo + 20, max_dps)

    am_l, bm_l = [int(v) for v in am], [int(v) for v in bm]

    def evaluate(dps: int) -> mpmath.mpf | None:
        with mpmath.workdps(dps):
            tt = mpmath.mpf(t)
            xc = [tt * mpmath.mpf(v) for v in ac]
            bcm = [mpmath.mpf(v) for v in bc]
            det = mpmath.det(_hciz_matrix(xc, am_l, bcm, bm_l))
            if not det > 0:
                return None
            lpf_mp = mpmath.fsum(mpmath.loggamma(p + 1) for p in range(1, n))
            return +(lpf_mp + mpmath.log(det) - _mp_confluent_vandermonde(xc, am_l)
                     - _mp_confluent_vandermonde(bcm, bm_l))

    dps0 = lost_hi if lost_hi + 25 <= max_dps else lost_lo
    return _adaptive(evaluate, math.ceil(max(dps0, 0.0)) + 25, max_dps, verify,
                     "log_hciz_exact_unitary", n)


def hciz_exact_unitary(a: ArrayLike, b: ArrayLike, t: float = 1.0, **kwargs: Any) -> float:
    """Exact unitary HCIZ integral ``int exp(t Tr(A U B U^*)) dU``.

    ``exp`` of :func:`log_hciz_exact_unitary` (same arguments); raises ``OverflowError`` when
    the value does not fit in a double -- use the log form then.
    """
    v = log_hciz_exact_unitary(a, b, t, **kwargs)
    try:
        return math.exp(v)
    except OverflowError:
        raise OverflowError(f"HCIZ integral exp({v:.6g}) overflows a double; use "
                            f"log_hciz_exact_unitary") from None


# --------------------------------------------------------------------------------------------
# exact rank one
# --------------------------------------------------------------------------------------------

def _residue_terms(xc: Sequence[mpmath.mpf], xm: Sequence[int]) -> list[mpmath.mpf]:
    r"""Residues of ``e^z / prod_q (z - x_q)^{m_q}`` at each cluster (current precision).

    At ``x_p``: the coefficient of ``u^{m_p - 1}`` in
    ``e^{x_p} e^u prod_{q != p} (d_q + u)^{-m_q}``, ``d_q = x_p - x_q``, obtained as the exponential
    of the power series of its logarithm
    ``u - sum_q m_q log d_q - sum_{k>=1} ((-1)^{k+1}/k) (sum_q m_q d_q^{-k}) u^k``.
    """
    out = []
    for p, xp in enumerate(xc):
        mp_ = xm[p]
        d = [xp - xq for q, xq in enumerate(xc) if q != p]
        mq = [xm[q] for q in range(len(xc)) if q != p]
        lead = mpmath.exp(xp) / mpmath.fprod(dq ** m for dq, m in zip(d, mq, strict=True))
        if mp_ == 1:
            out.append(lead)
            continue
        # f(u) = log of the normalised series (f_0 = 0)
        f = [mpmath.mpf(0)] * mp_
        f[1] += 1
        for k in range(1, mp_):
            s = mpmath.fsum(m * dq ** (-k) for dq, m in zip(d, mq, strict=True))
            f[k] -= (-1) ** (k + 1) * s / k
        h = [mpmath.mpf(1)] + [mpmath.mpf(0)] * (mp_ - 1)
        for j in range(1, mp_):
            h[j] = mpmath.fsum(k * f[k] * h[j - k] for k in range(1, j + 1)) / j
        out.append(lead * h[mp_ - 1])
    return out


def _log_spherical_residues(x: Array, rtol: float, max_dps: int, verify: bool) -> float:
    """``log((N-1)! e[x_1..x_N])`` (divided difference of exp) by residues."""
    n = x.size
    xc, xm = _clusters(x, rtol)
    xm_l = [int(v) for v in xm]
    # log-magnitudes of the residues (cluster level) against the Jensen lower bound
    # e[x] >= exp(mean x) / (N-1)!  of the result
    logs = []
    for p in range(xc.size):
        d = np.abs(np.delete(xc, p) - xc[p])
        logs.append(xc[p] - float(np.sum(np.delete(xm, p) * np.log(d))))
    lmax = max(logs)
    log_sum_abs = lmax + math.log(sum(math.exp(v - lmax) for v in logs))
    lost = (log_sum_abs - (float(np.mean(x)) - float(gammaln(n)))) / math.log(10)
    if lost - 20 > max_dps:  # optimistic: the residues' derivative factors are ignored
        raise _precision_error("log_spherical_integral_exact", n, lost, max_dps)

    def evaluate(dps: int) -> mpmath.mpf | None:
        with mpmath.workdps(dps):
            terms = _residue_terms([mpmath.mpf(v) for v in xc], xm_l)
            s = mpmath.fsum(terms)
            if not s > 0:
                return None
            return +(mpmath.log(s) + mpmath.loggamma(n))

    return _adaptive(evaluate, math.ceil(max(lost, 0.0)) + 25, max_dps, verify,
                     "log_spherical_integral_exact", n)


def _log_spherical_contour(x: Array, beta: int, dps: int) -> mpmath.mpf | None:
    """``log(Gamma(N beta / 2) (1/2 pi i) int e^z prod (z - x_i)^{-beta/2} dz)`` (fixed Talbot)."""
    n = x.size
    xmax = float(np.max(x))
    with mpmath.workdps(dps):
        y = [mpmath.mpf(v) - mpmath.mpf(xmax) for v in x]  # <= 0, exact to working precision
        half = mpmath.mpf(beta) / 2

        def laplace(z: Any) -> Any:
            return mpmath.exp(-half * mpmath.fsum(mpmath.log(z - yi) for yi in y))

        val = mpmath.invertlaplace(laplace, 1, method="talbot")
        if not val > 0:
            return None
        return +(mpmath.log(val) + xmax + mpmath.loggamma(half * n))


def log_spherical_integral_exact(a: ArrayLike, t: float, beta: int = 2, *,
                                 method: Literal["auto", "residues", "contour"] = "auto",
                                 coincidence_rtol: float = DEFAULT_COINCIDENCE_RTOL,
                                 max_dps: int = DEFAULT_MAX_DPS, verify: bool = True) -> float:
    r"""Log of the rank-one spherical integral ``log E_u exp(t <u, A u>)``, exactly.

    ``u`` is uniform on the unit sphere of ``R^N`` (``beta = 1``) or ``C^N`` (``beta = 2``);
    equivalently ``(|u_i|^2) ~ Dirichlet(beta/2, ..., beta/2)``.  With ``t = N theta`` this is the
    ``I_N(theta)`` of Guionnet & Maida (2005); it equals the HCIZ integral with
    ``B = diag(1, 0, ..., 0)``.

    Parameters
    ----------
    a : array_like, shape (N,)
        Eigenvalues of ``A``.
    t : float
        Coefficient of the exponent (``N theta``).
    beta : {1, 2}
        Dyson index.
    method : {"auto", "residues", "contour"}
        ``"residues"`` (beta = 2 only): the divided difference of ``exp`` as a sum of residues,
        confluent for coincident points.  ``"contour"``: the one-dimensional contour integral
        below (both beta).  ``"auto"``: residues for beta = 2, contour for beta = 1.
    coincidence_rtol, max_dps, verify
        As in :func:`log_hciz_exact_unitary` (``coincidence_rtol`` is used by the residues).

    Returns
    -------
    float
        ``log E_u exp(t <u, A u>)``.

    Notes
    -----
    With ``x_i = t a_i`` (spec ``theory.md`` section 3.2 items 4-5):

    * beta = 2: ``|u_i|^2 ~ Dirichlet(1, ..., 1)`` and
      ``E exp(<w, x>) = (N-1)! e[x_1, ..., x_N]`` (Hermite-Genocchi), the divided difference of
      ``exp`` -- equivalently the corner entry of ``expm`` of the bidiagonal Opitz matrix
      (``x`` on the diagonal, ones above).  It is summed as residues of
      ``e^z / prod (z - x_i)`` in mpmath at a precision set by the ratio of the sum of the
      residues' moduli to the Jensen lower bound ``exp(mean x) / (N-1)!``, then verified.
    * both beta (contour): from ``<g, A g> = r^2 <u, A u>`` with ``g`` standard Gaussian,
      ``r^2 ~ chi^2_{N beta}`` independent of ``u``, one gets
      ``E_u (z - <u, x>)^{-N beta/2} = prod_i (z - x_i)^{-beta/2}`` and Hankel's formula
      ``e^c / Gamma(nu) = (1/2 pi i) int_H e^z (z - c)^{-nu} dz`` gives

      .. math::
          E_u\, e^{t\langle u, A u\rangle} = \Gamma(N\beta/2)\,
          \frac{1}{2\pi i} \int_{H} e^{z} \prod_{i=1}^{N} (z - x_i)^{-\beta/2}\, dz,

      ``H`` a Hankel contour around ``(-inf, max x]`` -- an inverse Laplace transform at time
      1, evaluated with the fixed Talbot contour of Abate & Valko (2004) (``mpmath``), which
      is insensitive to coincident ``x_i``.  For beta = 2 it reduces to the residue sum; for
      beta = 1 there is no elementary closed form (confluent Lauricella function).  The
      contour is checked against Haar / Gaussian Monte Carlo in the tests.
    """
    a = _check_spectrum(a, "a")
    t = _check_real(t, "t")
    beta = _check_beta(beta)
    coincidence_rtol = _check_real(coincidence_rtol, "coincidence_rtol")
    if coincidence_rtol < 0:
        raise ValueError(f"coincidence_rtol must be >= 0, got {coincidence_rtol}")
    max_dps = _check_positive_int(max_dps, "max_dps", 20)
    if method not in ("auto", "residues", "contour"):
        raise ValueError(f"method must be 'auto', 'residues' or 'contour', got {method!r}")
    if method == "auto":
        method = "residues" if beta == 2 else "contour"
    if method == "residues" and beta != 2:
        raise ValueError("method='residues' exists for beta = 2 only (use 'contour' for beta = 1)")
    if t == 0.0:
        return 0.0
    x = t * a
    if method == "residues":
        return _log_spherical_residues(x, coincidence_rtol, max_dps, verify)
    n = a.size
    return _adaptive(lambda dps: _log_spherical_contour(x, beta, dps), 25, max_dps, verify,
                     "log_spherical_integral_exact", n)


def spherical_integral_exact_unitary(a: ArrayLike, t: float, **kwargs: Any) -> float:
    """``E_u exp(t <u, A u>)`` over the complex unit sphere (beta = 2), exactly.

    ``exp`` of :func:`log_spherical_integral_exact` with ``beta = 2``; ``OverflowError`` when it
    does not fit in a double.
    """
    return _exp_or_raise(log_spherical_integral_exact(a, t, 2, **kwargs))


def spherical_integral_exact_orthogonal(a: ArrayLike, t: float, **kwargs: Any) -> float:
    """``E_u exp(t <u, A u>)`` over the real unit sphere (beta = 1), by the contour integral.

    ``exp`` of :func:`log_spherical_integral_exact` with ``beta = 1``.
    """
    return _exp_or_raise(log_spherical_integral_exact(a, t, 1, **kwargs))


def _exp_or_raise(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:
        raise OverflowError(f"exp({v:.6g}) overflows a double; use the log_ function") from None


# --------------------------------------------------------------------------------------------
# Haar Monte Carlo
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MCEstimate:
    r"""A Monte Carlo estimate of ``E[exp(X)]`` kept in the log domain.

    Attributes
    ----------
    log_mean : float
        ``log`` of the sample mean of ``exp(X)`` (log-mean-exp).
    log_stderr : float
        Standard error of ``log_mean`` by the delta method,
        ``se(mean(w)) / mean(w)`` with ``w = exp(X - max X)``.
    n_samples : int
        Number of samples.
    """

    log_mean: float
    log_stderr: float
    n_samples: int

    @property
    def mean(self) -> float:
        """The estimate ``mean(exp(X))`` (may overflow to ``inf`` for huge exponents)."""
        with np.errstate(over="ignore"):
            return float(np.exp(self.log_mean))

    @property
    def stderr(self) -> float:
        """Standard error of :attr:`mean` (``mean * log_stderr``)."""
        return self.mean * self.log_stderr

    def zscore(self, log_value: float) -> float:
        """``(log_mean - log_value) / log_stderr``: a reference value's distance in std errors."""
        return (self.log_mean - float(log_value)) / self.log_stderr


def log_mean_exp(x: ArrayLike) -> MCEstimate:
    """Log-mean-exp of samples ``x`` with its delta-method standard error.

    ``log_mean = m + log(mean(exp(x - m)))``, ``m = max x``; the standard error of the mean of
    ``w = exp(x - m)`` is ``std(w, ddof=1) / sqrt(n)`` and that of ``log_mean`` is its ratio to
    ``mean(w)``.  Needs at least two finite samples.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"log_mean_exp needs at least 2 samples, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("log_mean_exp: samples contain non-finite values")
    m = float(np.max(x))
    w = np.exp(x - m)
    wbar = float(np.mean(w))
    se = float(np.std(w, ddof=1)) / math.sqrt(x.size)
    return MCEstimate(log_mean=m + math.log(wbar), log_stderr=se / wbar, n_samples=int(x.size))


def haar_matrices(n: int, size: int, beta: int = 2, rng: RngLike = None) -> NDArray[Any]:
    """``size`` independent Haar-distributed ``n x n`` orthogonal (beta=1) or unitary (beta=2).

    QR of a Gaussian (real or complex) matrix with the columns of ``Q`` multiplied by the
    phases ``diag(R) / |diag(R)|`` (Mezzadri 2007): without this fix the LAPACK ``Q`` is not
    Haar.  Batched over a stack with ``numpy.linalg.qr``.

    Returns
    -------
    ndarray, shape (size, n, n)
        ``float64`` (beta = 1) or ``complex128`` (beta = 2).
    """
    n = _check_positive_int(n, "n")
    size = _check_positive_int(size, "size")
    beta = _check_beta(beta)
    rng = np.random.default_rng(rng)
    if beta == 2:  # (real, imag) pairs drawn per sample: the stream does not depend on batching
        g = rng.standard_normal((size, n, n, 2))
        z = (g[..., 0] + 1j * g[..., 1]) * math.sqrt(0.5)
    else:
        z = rng.standard_normal((size, n, n))
    q, r = np.linalg.qr(z)
    d = np.diagonal(r, axis1=-2, axis2=-1)
    return q * (d / np.abs(d))[..., None, :]


def _as_operator(v: ArrayLike, name: str, beta: int) -> tuple[NDArray[Any], bool]:
    """A spectrum (1-D, returns (evals, True)) or a Hermitian matrix (2-D, (matrix, False))."""
    arr = np.asarray(v)
    if arr.ndim == 2:
        if arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{name} must be a square matrix, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
        if np.iscomplexobj(arr) and beta == 1:
            raise TypeError(f"{name} is complex but beta = 1 (orthogonal) needs a real matrix")
        arr = arr.astype(np.complex128 if np.iscomplexobj(arr) else np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains non-finite values (NaN or Inf)")
        scale = max(1.0, float(np.max(np.abs(arr))))
        if np.max(np.abs(arr - arr.conj().T)) > 1e-10 * scale:
            raise ValueError(f"{name} must be Hermitian (symmetric for beta = 1)")
        return arr, False
    return _check_spectrum(arr, name), True


def _batches(n_samples: int, per_sample: int, batch_size: int | None) -> list[int]:
    if batch_size is None:
        batch_size = max(1, min(n_samples, 2_000_000 // max(per_sample, 1)))
    batch_size = _check_positive_int(batch_size, "batch_size")
    sizes = [batch_size] * (n_samples // batch_size)
    if n_samples % batch_size:
        sizes.append(n_samples % batch_size)
    return sizes


def hciz_mc(a: ArrayLike, b: ArrayLike, t: float = 1.0, beta: int = 2,
            n_samples: int = 100_000, rng: RngLike = None, *,
            batch_size: int | None = None) -> MCEstimate:
    r"""Haar Monte Carlo of the HCIZ integral ``E_U exp(t Tr(A U B U^*))``.

    ``U`` Haar on ``O(N)`` (``beta = 1``) or ``U(N)`` (``beta = 2``), sampled by
    :func:`haar_matrices`.

    Parameters
    ----------
    a, b : array_like
        Eigenvalues (shape ``(N,)``, then ``A = diag(a)``) or full Hermitian matrices
        (``(N, N)``; real symmetric for beta = 1).  Matrices make the invariance of the integral
        under ``A -> V A V^*`` testable.
    t : float
        Coupling.
    beta : {1, 2}
        Dyson index.
    n_samples : int
        Number of Haar samples (>= 2).
    rng : numpy.random.Generator or int or None
        Source of randomness (an int is a seed); reproducible, and the same samples are drawn
        whatever ``batch_size``.
    batch_size : int, optional
        Samples per vectorised batch (default: about 2e6 matrix entries per batch).

    Returns
    -------
    MCEstimate
        log-mean-exp with its standard error (``.mean``, ``.stderr`` give the plain values).
    """
    beta = _check_beta(beta)
    A, a_diag = _as_operator(a, "a", beta)
    B, b_diag = _as_operator(b, "b", beta)
    t = _check_real(t, "t")
    n_samples = _check_positive_int(n_samples, "n_samples", 2)
    n = A.shape[0]
    if B.shape[0] != n:
        raise ValueError(f"a and b must have the same size N, got {n} and {B.shape[0]}")
    rng = np.random.default_rng(rng)
    out = np.empty(n_samples)
    i = 0
    for size in _batches(n_samples, n * n, batch_size):
        U = haar_matrices(n, size, beta, rng)
        if a_diag and b_diag:
            P = np.abs(U) ** 2
            x = np.einsum("i,sij,j->s", A, P, B)
        else:
            Bm = np.diag(B) if b_diag else B
            Am = np.diag(A) if a_diag else A
            UBU = U @ Bm @ np.conj(np.swapaxes(U, -1, -2))
            x = np.real(np.einsum("ij,sji->s", Am, UBU))
        out[i:i + size] = t * x
        i += size
    return log_mean_exp(out)


def spherical_integral_mc(a: ArrayLike, t: float, beta: int = 2, n_samples: int = 100_000,
                          rng: RngLike = None, *, batch_size: int | None = None) -> MCEstimate:
    """Monte Carlo of the rank-one spherical integral ``E_u exp(t <u, A u>)``.

    ``u = g / |g|`` with ``g`` a real (beta = 1) or complex (beta = 2) standard Gaussian vector,
    which is uniform on the unit sphere; ``t = N theta`` in Guionnet-Maida's notation.
    """
    beta = _check_beta(beta)
    a = _check_spectrum(a, "a")
    t = _check_real(t, "t")
    n_samples = _check_positive_int(n_samples, "n_samples", 2)
    rng = np.random.default_rng(rng)
    n = a.size
    out = np.empty(n_samples)
    i = 0
    for size in _batches(n_samples, n, batch_size):
        g2 = (rng.standard_normal((size, n, beta)) ** 2).sum(axis=-1)  # |g_i|^2, per sample
        out[i:i + size] = t * (g2 @ a) / g2.sum(axis=1)
        i += size
    return log_mean_exp(out)


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
    the left edge.  Guionnet & Maida, J. Funct. Anal. 222, 435 (2005), Theorem 6; spec
    ``theory.md`` section 3.2 item 1.

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

    Guionnet & Maida (2005) Theorem 6 (spec ``theory.md`` section 3.2 item 1); ``F`` is
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
    the paper's ``appendix/A6_tanaka.tex`` and ``sections/540`` (eqn:tanaka_result); spec
    ``theory.md`` section 3.2 item 2.  Mapping to the paper's exponent ``n beta N Tr(A_N X_N)``
    (``beta`` there is the inverse temperature): ``b_k = (2 n beta / beta_D) lambda_k``, so the
    R-integral's upper limit is the *scaled* eigenvalue (spec section 6.1).
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

    The paper's ``sections/540`` (eqn:tanaka_result, IZG_generate_Q2) and ``sections/420``
    (eqn:hciz_tanaka); spec ``theory.md`` section 3.1.  Here ``n`` is the training-set size and
    ``beta`` the **inverse temperature**, and ``G(lambda) = int_{lambda_min}^{lambda} Re R(z) dz``
    is the layer generating function.

    .. warning::
       Spec section 6.1: the standard theorem (:func:`hciz_lowrank_asymptotic`) applied to the
       paper's exponent ``n beta N Tr(A_N X_N)`` gives
       ``(beta_D / 2) sum_k F((2 n beta / beta_D) lambda_k)`` -- the eigenvalues enter *scaled*
       by ``n beta``.  The paper's step ``G(n beta lambda) = n beta G(lambda)`` holds only for a
       constant R-transform; otherwise the two differ.  ``appendix/A6_tanaka.tex`` writes the
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
