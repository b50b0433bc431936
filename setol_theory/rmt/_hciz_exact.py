r"""HCIZ (Harish-Chandra--Itzykson--Zuber) integrals: exact, Monte Carlo and large-N limits.

The SETOL layer quality is the large-N limit of an HCIZ-type integral (the paper,
arXiv:2507.17912 Sec. 5.2 (Quality Metrics of an Individual Layer as an HCIZ Integral),
Sec. 5.3, Eq. (129), and App. A.6 (Tanaka's Result)).  This module implements the standard
results that the paper relies on (docs/hciz.md; [HC1957], [IZ1980], [GM2005], [Tan2008] in
docs/references.md), each checked against an independent route in ``tests/test_hciz.py``:

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
  ``G(z) = int rho(x) / (z - x) dx`` (positive sign convention, docs/spectral_models.md).
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
from typing import Any, Literal, Protocol, runtime_checkable

import mpmath
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from scipy.special import gammaln

from ..util import real_number

Array = NDArray[np.float64]


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
    x = real_number(x, name)
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
    Harish-Chandra (1957), Itzykson & Zuber (1980) ([HC1957], [IZ1980]; docs/hciz.md):

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
    With ``x_i = t a_i`` (docs/hciz.md: ``|u_i|^2`` is Dirichlet(beta/2, ..., beta/2)):

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

