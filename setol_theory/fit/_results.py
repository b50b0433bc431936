"""Result objects of the power-law fits."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..errors import PowerLawBoundWarning as PowerLawBoundWarning  # re-exported

#: Default exponent window. HTSR exponents range from below 2 to above 6; the lower bound 1
#: is the normalisability limit of an untruncated power law (the closed-form MLE is always
#: above 1). ``powerlaw``'s default ``[0, 3]`` would clamp typical HTSR layers.
DEFAULT_ALPHA_RANGE: tuple[float, float] = (1.0, 20.0)


#: Default minimum number of points in the tail (avoids 2-3 point "fingers" winning the scan).
DEFAULT_MIN_TAIL: int = 10


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

