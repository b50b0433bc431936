"""SETOL layer quality: ECS, TraceLog / detX condition, ERG, and the quality of a layer's ESD.

Contents (``shared/spec/theory.md`` sections 1.2, 2, 4; ``shared/spec/statmech.md`` 2):

* ECS edge by the TraceLog / detX condition and the ERG quantities (theory.md 1.2, 4.4;
  sections/530 eq. detX, sections/620, 630, appendix/A4_trace_log.tex):
  :func:`detx_lambda_min`, :func:`erg_residual`, :func:`erg_metrics`.
* ECS selection by rule (``"xmin"``, ``"detx"`` or a given edge): :func:`select_ecs`.
* The layer generating function ``G(lambda) = int_{lambda_min^ECS}^{lambda} Re R`` of each
  spectral model of the paper (``g_*`` functions) and the layer quality squared
  ``Q^2 = sum_{ECS} G(lambda_i)`` (``q2_*``; sections/540 eq. Q2_result, sections/550, 560,
  Gtable, Rtable); the whole pipeline for one ESD: :func:`layer_quality`; the model quality
  (product over layers = sum of ``log10 Q``): :func:`model_quality`.
* The intensive quantities of ``quality_table.tex`` (effective potential, self-overlap, free
  energy, quality generating function, ``Q-bar``): :func:`st_linear_quality_table` (the
  linear teacher-student perceptron, where every entry is defined) and
  :func:`layer_quality_table` (the SETOL layer, with the model choices listed).
* Model-derived quality curves on synthetic spectra (theory.md 4.5): :func:`synthetic_spectrum`,
  :func:`quality_curve`.
* Every analysed layer of a model (what ``setol quality`` prints): :func:`quality_report`.

Scale: ``det X_ECS = 1`` is not scale invariant.  The default ``normalization="frobenius_M"``
rescales the eigenvalues so that ``sum(lambda) = M`` (mean eigenvalue 1, i.e.
``||W||_F^2 = M``) before the condition is applied, as the paper's reference tool does;
results are reported on the input scale (``lambda_min``) and on the rescaled one.  The layer
quality is computed on the same ``sum(lambda) = M`` scale by default (``scale=``), the scale on
which the TraceLog condition that the derivation of ``Q^2`` relies on holds.

All reported log-qualities are base 10 (theory.md 4.2).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .densities import (
    EmpiricalSpectrum,
    FreeCauchy,
    InverseMarchenkoPastur,
    LevyPowerLaw,
    TruncatedPowerLaw,
    q2_levy_paper,
)
from .powerlaw import PowerLawBoundWarning, fit_powerlaw
from .spectra import zero_threshold

__all__ = [
    "DetXResult",
    "ERGResult",
    "rescale_frobenius_M",
    "tracelog_partial_sums",
    "detx_lambda_min",
    "erg_residual",
    "erg_metrics",
    # ECS selection
    "ECSError",
    "ECS",
    "select_ecs",
    # G functions and Q^2 per spectral model
    "QualityError",
    "NotApplicable",
    "integrate_re_r",
    "bulk_spikes_constant",
    "g_bulk_spikes",
    "q2_bulk_spikes",
    "fit_free_cauchy",
    "g_free_cauchy",
    "q2_free_cauchy",
    "levy_wigner_b",
    "g_levy_wigner",
    "q2_levy_wigner",
    "q2_levy_paper",
    "imp_kappa",
    "g_imp",
    "q2_imp",
    "imp_gtable_logq",
    "g_tpl",
    "q2_tpl",
    "g_series_from_cumulants",
    "g_empirical",
    "q2_empirical",
    "log10_quality",
    # pipeline
    "MODELS",
    "DEFAULT_MODELS",
    "ModelQuality",
    "LayerQuality",
    "layer_quality",
    "model_quality",
    "QualityRecord",
    "QualityReport",
    "quality_report",
    # quality table
    "QualityTable",
    "st_linear_quality_table",
    "layer_quality_table",
    # curves
    "CURVE_FAMILIES",
    "synthetic_spectrum",
    "QualityCurve",
    "quality_curve",
]

Array = NDArray[np.float64]

_RULES = ("first_below", "closest")
_NORMS = ("frobenius_M", "none")


def _as_spectrum(evals: ArrayLike, name: str = "evals") -> Array:
    x = np.asarray(evals)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real eigenvalues, got dtype {x.dtype}")
    x = x.astype(np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{name}: empty spectrum")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains {int(np.sum(~np.isfinite(x)))} non-finite values")
    if np.any(x < 0):
        raise ValueError(f"{name}: eigenvalues of X must be >= 0, min is {x.min():.3g}")
    return x


def rescale_frobenius_M(evals: ArrayLike) -> tuple[Array, float]:
    """Rescale a spectrum so that ``sum(lambda) = M`` (``||W||_F^2 = M``).

    Returns ``(rescaled, factor)`` with ``rescaled = factor * evals``
    (shared/spec/theory.md section 1.1, the ``"frobenius_M"`` decision; sections/620).
    """
    x = _as_spectrum(evals)
    total = float(x.sum())
    if total <= 0:
        raise ValueError("evals: all eigenvalues are zero, the spectrum cannot be rescaled")
    factor = x.size / total
    return x * factor, factor


def tracelog_partial_sums(evals: ArrayLike) -> tuple[Array, Array]:
    """Descending eigenvalues and ``S_k = sum_{i<=k} ln lambda_(i)``, ``k = 1..M``.

    ``S_k = ln det`` of the projection of ``X`` on its top ``k`` eigenvectors.
    Zero eigenvalues give ``S_k = -inf`` from their index on.
    """
    x = np.sort(_as_spectrum(evals))[::-1]
    with np.errstate(divide="ignore"):
        logs = np.log(x)
    return x, np.cumsum(logs)


@dataclass(frozen=True)
class DetXResult:
    """ECS edge from the TraceLog / detX condition ``sum_{ECS} ln lambda = 0``.

    Attributes
    ----------
    lambda_min : float
        ``lambda_min^{|detX|=1}`` on the input scale.
    lambda_min_rescaled : float
        The same eigenvalue on the rescaled scale used for the condition.
    num_ecs : int
        ``M_ECS``: eigenvalues in the ECS (``k``; the reference tool's ``detX_num``).
    residual : float
        ``S_k = ln det X_ECS`` on the rescaled scale (0 for an exact crossing).
    crossed : bool
        Whether ``S_k`` reached ``<= 0`` (no crossing: ``det X_ECS > 1`` for every ``k``).
    rule, normalization : str
        The options used.
    scale_factor : float
        Rescaled = ``scale_factor`` x input.
    """

    lambda_min: float
    lambda_min_rescaled: float
    num_ecs: int
    residual: float
    crossed: bool
    rule: str
    normalization: str
    scale_factor: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detx_lambda_min(
    evals: ArrayLike, *, rule: str = "first_below", normalization: str = "frobenius_M"
) -> DetXResult:
    """Lower ECS edge from the TraceLog / detX condition.

    With the eigenvalues sorted descending and ``S_k = sum_{i<=k} ln lambda_(i)``:

    * ``rule="first_below"`` (the paper's reference tool, shared/spec/empirical.md 2.1):
      the first ``k`` with ``S_k < 0`` (product of the ``k`` largest drops below 1);
      ``lambda_min = lambda_(k)``.
    * ``rule="closest"`` (shared/spec/theory.md 1.2): ``k = argmin_{k >= k_1} |S_k|`` with
      ``k_1`` the number of eigenvalues above 1 (searching after the peak of ``S_k``,
      which excludes the trivial ``k = 0``).

    If ``S_k > 0`` for every ``k`` there is no crossing: the ECS is the whole spectrum,
    ``crossed=False`` and ``lambda_min`` is the smallest eigenvalue.

    Parameters
    ----------
    evals : array
        Eigenvalues of ``X`` (any order, ``>= 0``).
    rule : {"first_below", "closest"}
    normalization : {"frobenius_M", "none"}
        ``"frobenius_M"`` rescales to ``sum(lambda) = M`` first (default); ``"none"`` applies
        the condition to the eigenvalues as given.
    """
    if rule not in _RULES:
        raise ValueError(f"rule must be one of {_RULES}, got {rule!r}")
    if normalization not in _NORMS:
        raise ValueError(f"normalization must be one of {_NORMS}, got {normalization!r}")
    x0 = x = _as_spectrum(evals)
    if normalization == "frobenius_M":
        x, factor = rescale_frobenius_M(x)
    else:
        factor = 1.0
    desc, S = tracelog_partial_sums(x)
    if rule == "first_below":
        # "< 0" up to the round-off of the partial sum (a few ulps of sum |ln lambda|),
        # so that an exact product of 1 is not a crossing
        with np.errstate(invalid="ignore", divide="ignore"):  # zero eigenvalues: ln 0 = -inf
            tol = 4 * np.finfo(np.float64).eps * np.cumsum(np.abs(np.log(desc)))
        below = np.flatnonzero(S < -np.nan_to_num(tol, posinf=0.0))
        crossed = below.size > 0
        idx = int(below[0]) if crossed else desc.size - 1
    else:
        k1 = int(np.sum(desc > 1.0))
        start = max(k1 - 1, 0)
        tail = np.abs(S[start:])
        idx = start + int(np.argmin(tail))
        crossed = bool(np.any(S[start:] <= 0))
        if not crossed:
            idx = desc.size - 1
    lam_r = float(desc[idx])
    return DetXResult(
        # the input eigenvalue itself (lam_r / factor can differ from it by an ulp, which
        # would drop it from a cut x >= lambda_min); the order is the same on both scales
        lambda_min=float(np.sort(x0)[::-1][idx]),
        lambda_min_rescaled=lam_r,
        num_ecs=idx + 1,
        residual=float(S[idx]),
        crossed=crossed,
        rule=rule,
        normalization=normalization,
        scale_factor=factor,
    )


def erg_residual(evals: ArrayLike, lambda_cut: float, *, normalization: str = "frobenius_M"
                 ) -> float:
    """``sum_{lambda_i >= lambda_cut} ln lambda_i = ln det X_ECS`` (theory.md 4.4).

    ``lambda_cut`` is on the input scale; with ``"frobenius_M"`` both the eigenvalues and the
    cut are rescaled so that ``sum(lambda) = M`` before the logs are taken.
    """
    if normalization not in _NORMS:
        raise ValueError(f"normalization must be one of {_NORMS}, got {normalization!r}")
    x = _as_spectrum(evals)
    factor = rescale_frobenius_M(x)[1] if normalization == "frobenius_M" else 1.0
    sel = x[x >= lambda_cut] * factor
    if sel.size == 0:
        return 0.0
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(sel)))


@dataclass(frozen=True)
class ERGResult:
    """ERG / TraceLog metrics of a layer (theory.md 4.4 names).

    ``erg_gap = lambda_min^PL - lambda_min^{|detX|=1}`` (sections/630's Delta lambda_min:
    positive when the power-law tail is the smaller set, -> 0+ as alpha -> 2).
    """

    xmin: float
    erg_lambda_min: float
    erg_gap: float
    erg_residual_at_xmin: float
    num_ecs_detx: int
    num_tail_pl: int
    detx: DetXResult

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("detx")
        return d


def erg_metrics(evals: ArrayLike, xmin: float, *, rule: str = "first_below",
                normalization: str = "frobenius_M") -> ERGResult:
    """ERG quantities given the power-law ``xmin`` (both on the input scale)."""
    if not math.isfinite(xmin):
        raise ValueError(f"xmin must be finite, got {xmin}")
    x = _as_spectrum(evals)
    d = detx_lambda_min(x, rule=rule, normalization=normalization)
    return ERGResult(
        xmin=float(xmin),
        erg_lambda_min=d.lambda_min,
        erg_gap=float(xmin) - d.lambda_min,
        erg_residual_at_xmin=erg_residual(x, xmin, normalization=normalization),
        num_ecs_detx=d.num_ecs,
        num_tail_pl=int(np.sum(x >= xmin)),
        detx=d,
    )


# ======================================================================================
# ECS selection
# ======================================================================================
#: Smallest ECS accepted by :func:`select_ecs` (fewer eigenvalues give no meaningful
#: spectral-model fit: the free-Cauchy width, the cumulants and the TPL need several).
DEFAULT_MIN_ECS = 5

_ECS_RULES = ("xmin", "detx")


class ECSError(ValueError):
    """The effective correlation space cannot be selected (the message says why)."""


@dataclass(frozen=True)
class ECS:
    """An effective correlation space (theory.md 1.2) and the TraceLog / ERG quantities.

    All eigenvalue-valued fields are on the scale of the eigenvalues given to
    :func:`select_ecs` (the input scale); the TraceLog quantities (``erg_*``) are on the
    ``sum(lambda) = M`` scale where the condition is defined.

    Attributes
    ----------
    rule : {"xmin", "detx", "value"}
        How the lower edge was chosen: the power-law ``xmin`` (PowerLaw model-selection rule),
        the TraceLog / detX condition (TraceLog rule), or a given value (sections/620).
    evals : ndarray
        The ``M_ECS`` eigenvalues of the ECS, descending (read-only).
    lambda_min : float
        ``lambda_min^ECS``, the smallest ECS eigenvalue.
    num_ecs : int
        ``M_ECS``.
    xmin, alpha : float or None
        Power-law fit of the tail (None when the fit failed and none was given).
    num_tail : int
        Eigenvalues ``>= xmin`` (0 without a fit).
    lambda_min_detx : float
        ``lambda_min^{|detX|=1}`` (:func:`detx_lambda_min`).
    num_ecs_detx : int
        Eigenvalues in the detX ECS.
    detx_crossed : bool
        Whether the detX condition has a solution (``sum ln lambda`` reaches 0).
    delta_lambda_min : float or None
        ``xmin - lambda_min_detx`` (sections/630 sign; None without a power-law fit).
    erg_residual : float
        ``sum_{ECS} ln lambda = ln det X_ECS`` on the ``sum(lambda) = M`` scale.
    erg_residual_at_xmin : float or None
        The same sum over the power-law tail (``~ 0`` for an Ideal layer, theory.md 4.4).
    scale_factor : float
        ``M / sum(lambda)``: eigenvalue on the ``sum(lambda) = M`` scale = factor x input.
    notes : tuple of str
        Caveats (failed fit, detX condition without a solution...).
    """

    rule: str
    evals: Array = field(repr=False)
    lambda_min: float
    num_ecs: int
    xmin: float | None
    alpha: float | None
    num_tail: int
    lambda_min_detx: float
    num_ecs_detx: int
    detx_crossed: bool
    delta_lambda_min: float | None
    erg_residual: float
    erg_residual_at_xmin: float | None
    scale_factor: float
    notes: tuple[str, ...] = ()

    @property
    def lambda_max(self) -> float:
        return float(self.evals[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain record without the eigenvalues."""
        d = {k: v for k, v in asdict(self).items() if k != "evals"}
        d["notes"] = list(self.notes)
        d["lambda_max"] = self.lambda_max
        return d


def _fit_tail(x: Array, xmin: float | None, alpha: float | None,
              fit_kwargs: dict[str, Any] | None) -> tuple[float | None, float | None, str]:
    """Power-law ``(xmin, alpha, note)``: given values, or a CSN fit of the positive values."""
    for name, v in (("xmin", xmin), ("alpha", alpha)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"a given {name} must be positive and finite, got {v!r}")
    if xmin is not None and alpha is not None:
        return float(xmin), float(alpha), ""
    if alpha is not None:
        raise ValueError("alpha was given without xmin: give both (a fit already made), or "
                         "xmin alone (alpha is then fitted at that xmin), or neither")
    pos = x[x > 0]
    kw = dict(fit_kwargs or {})
    if xmin is not None:
        kw["xmin"] = float(xmin)
    if pos.size < 2:
        note = "too few positive eigenvalues for a power-law fit"
        return (None if xmin is None else float(xmin)), None, note
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PowerLawBoundWarning)
        fit = fit_powerlaw(pos, **kw)
    if fit.status != "ok":
        return (None if xmin is None else float(xmin)), None, f"power-law fit failed: {fit.reason}"
    return float(fit.xmin), float(fit.alpha), ""


def select_ecs(
    evals: ArrayLike,
    rule: str | float = "detx",
    *,
    xmin: float | None = None,
    alpha: float | None = None,
    fit_kwargs: dict[str, Any] | None = None,
    detx_rule: str = "first_below",
    min_ecs: int = DEFAULT_MIN_ECS,
) -> ECS:
    """Select the effective correlation space (ECS) of a layer ESD.

    Rules (theory.md 1.2; sections/620 model-selection rules):

    * ``"xmin"``: ``lambda_min^ECS = xmin`` of the Clauset-Shalizi-Newman power-law fit
      (PowerLaw MSR); the ECS is the power-law tail.
    * ``"detx"``: ``lambda_min^ECS = lambda_min^{|detX|=1}``, the TraceLog condition
      ``sum_{ECS} ln lambda = 0`` on the ``sum(lambda) = M`` scale (:func:`detx_lambda_min`,
      ``detx_rule`` selects its index rule).
    * a number: the given ``lambda_min`` on the input scale.

    Whatever the rule, both edges are reported, with ``Delta lambda_min = xmin -
    lambda_min^{|detX|=1}`` (sections/630; -> 0+ as alpha -> 2) and the ERG residuals.

    Parameters
    ----------
    evals : array
        Eigenvalues of ``X`` (any order, ``>= 0``).
    rule : {"xmin", "detx"} or float
    xmin, alpha : float, optional
        A power-law fit already made (e.g. by :func:`setol_theory.htsr.analyze`); otherwise
        :func:`setol_theory.powerlaw.fit_powerlaw` is run on the positive eigenvalues
        (``fit_kwargs`` passed on).
    detx_rule : {"first_below", "closest"}
    min_ecs : int
        Smallest accepted ``M_ECS``.

    Returns
    -------
    ECS

    Raises
    ------
    ECSError
        The power-law fit failed under ``rule="xmin"``; the detX condition has no solution
        under ``rule="detx"``; the ECS is empty, has fewer than ``min_ecs`` eigenvalues or
        contains eigenvalues ``<= 0``.
    ValueError, TypeError
        Invalid spectrum (empty, NaN/Inf, negative, non-numeric) or options.
    """
    x = _as_spectrum(evals)
    if int(min_ecs) != min_ecs or min_ecs < 1:
        raise ValueError(f"min_ecs must be a positive integer, got {min_ecs!r}")
    value: float | None = None
    if isinstance(rule, str):
        if rule not in _ECS_RULES:
            raise ValueError(f"rule must be 'xmin', 'detx' or a positive number, got {rule!r}")
    elif isinstance(rule, bool) or not isinstance(rule, (int, float, np.integer, np.floating)):
        raise TypeError(f"rule must be 'xmin', 'detx' or a number, got {type(rule).__name__}")
    else:
        value = float(rule)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"a given lambda_min must be a positive finite number, got {rule!r}")
    notes: list[str] = []
    pl_xmin, pl_alpha, note = _fit_tail(x, xmin, alpha, fit_kwargs)
    if note:
        notes.append(note)
    # exact zeros (below M eps lambda_max: dead rows/columns, low-rank layers) would end the
    # TraceLog walk at ln 0; as in setol_theory.htsr the condition uses the M_+ positive
    # eigenvalues (a layer with k zero columns is an N x (M - k) layer)
    xpos = x[x > zero_threshold(x)] if x.max() > 0 else x
    if xpos.size < x.size:
        notes.append(f"{x.size - xpos.size} exact-zero eigenvalue(s) left out of the detX "
                     "condition")
    detx = detx_lambda_min(xpos, rule=detx_rule)
    desc = np.sort(xpos)[::-1]
    # the detX edge as the input eigenvalue itself (not rescaled and back, which can move it
    # by an ulp and drop it from its own ECS)
    lam_detx = float(desc[detx.num_ecs - 1])
    if not detx.crossed:
        notes.append("detX condition has no solution: sum ln lambda > 0 for every top-k set "
                     "(det X_ECS > 1); its edge is the smallest eigenvalue")
    if value is not None:
        cut, name = value, "value"
    elif rule == "xmin":
        if pl_xmin is None:
            raise ECSError(f"rule 'xmin' needs a power-law tail: {note}")
        cut, name = pl_xmin, "xmin"
    else:
        if not detx.crossed:
            raise ECSError("detX condition has no solution: the product of the top-k "
                           "eigenvalues (sum(lambda) = M scale) stays above 1 for every k")
        cut, name = lam_detx, "detx"
    # the detX ECS is the top-k set of the condition; the other rules cut at a value
    ecs = desc[:detx.num_ecs].copy() if name == "detx" else desc[desc >= cut]
    if ecs.size == 0:
        raise ECSError(f"the ECS is empty: lambda_min = {cut:.6g} is above lambda_max = "
                       f"{x.max():.6g}")
    if ecs[-1] <= 0:
        nz = int(np.sum(ecs <= 0))
        raise ECSError(f"the ECS contains {nz} eigenvalue(s) <= 0 (lambda_min^ECS = "
                       f"{ecs[-1]:.3g}): log-determinant and G functions are undefined")
    if ecs.size < min_ecs:
        raise ECSError(f"the ECS has {ecs.size} eigenvalue(s), fewer than min_ecs = {min_ecs} "
                       f"(rule {name!r}, lambda_min = {cut:.6g})")
    ecs.setflags(write=False)
    delta = None if pl_xmin is None else pl_xmin - lam_detx
    return ECS(
        rule=name,
        evals=ecs,
        lambda_min=float(ecs[-1]),
        num_ecs=int(ecs.size),
        xmin=pl_xmin,
        alpha=pl_alpha,
        num_tail=0 if pl_xmin is None else int(np.sum(x >= pl_xmin)),
        lambda_min_detx=lam_detx,
        num_ecs_detx=detx.num_ecs,
        detx_crossed=detx.crossed,
        delta_lambda_min=delta,
        erg_residual=detx.residual if name == "detx" else erg_residual(xpos, float(ecs[-1])),
        erg_residual_at_xmin=None if pl_xmin is None else erg_residual(xpos, pl_xmin),
        scale_factor=detx.scale_factor,
        notes=tuple(notes),
    )


# ======================================================================================
# Layer generating functions G(lambda) = int_{lambda_min}^{lambda} Re R  and  Q^2
# ======================================================================================
class QualityError(ValueError):
    """A layer quality cannot be computed (divergent integral, ``Q^2 <= 0``, bad input)."""


class NotApplicable(QualityError):
    """The spectral model does not apply to this layer (e.g. Levy-Wigner with alpha > 2)."""


def _positive(values: ArrayLike, name: str) -> Array:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise QualityError(f"{name}: no eigenvalues")
    if not np.all(np.isfinite(v)):
        raise QualityError(f"{name}: contains NaN or Inf")
    if np.any(v <= 0):
        raise QualityError(f"{name}: eigenvalues must be > 0 (min {v.min():.3g})")
    return v


def _lam_min(lambda_min: float, name: str = "lambda_min") -> float:
    lm = float(lambda_min)
    if not (math.isfinite(lm) and lm > 0):
        raise QualityError(f"{name} must be positive and finite, got {lambda_min!r} "
                           "(the G integrals start there)")
    return lm


def _finite(g: Array, what: str) -> Array:
    g = np.asarray(g, dtype=np.float64)
    if not np.all(np.isfinite(g)):
        raise QualityError(f"{what}: the integral is not finite for these parameters")
    return g


_GL_CACHE: dict[int, tuple[Array, Array]] = {}


def integrate_re_r(r: Callable[[Array], Any], lams: ArrayLike, lam_min: float, *,
                   method: str = "auto", rtol: float = 1e-12, nodes: int = 6,
                   max_ratio: float = 1.5) -> Array:
    """``int_{lam_min}^{lambda} Re r(w) dw`` for every ``lambda`` in ``lams``, vectorised.

    For R-transforms evaluated numerically (truncated power law, empirical ESD) a few
    vectorised calls of ``r`` are much cheaper than adaptive quadrature per eigenvalue.
    ``r`` must be smooth (real-analytic) on ``[lam_min, max(lams)]``: no branch point or pole
    inside.

    * ``method="chebyshev"``: with ``t = ln w`` the integrand ``Re r(e^t) e^t`` is interpolated
      at ``n = 16, 32, ..., 1024`` Chebyshev points until the last three coefficients are below
      ``rtol`` times the largest, then the Chebyshev series is integrated exactly
      (Trefethen, *Approximation Theory and Approximation Practice*, ch. 19).
    * ``method="panels"``: the interval is cut at every ``lambda`` and into geometric panels of
      ratio ``<= max_ratio``, with a ``nodes``-point Gauss-Legendre rule on each.
    * ``method="auto"`` (default): Chebyshev, falling back to panels when it does not converge.

    Parameters
    ----------
    r : callable
        Vectorised, called with 1-D float arrays; its real part is integrated.
    lams : array
        Upper limits, each ``>= lam_min``.
    lam_min : float
        Common lower limit, ``> 0``.
    """
    if method not in ("auto", "chebyshev", "panels"):
        raise ValueError(f"method must be 'auto', 'chebyshev' or 'panels', got {method!r}")
    lm = _lam_min(lam_min)
    lam = np.asarray(lams, dtype=np.float64)
    flat = lam.ravel()
    if flat.size == 0:
        return np.zeros(lam.shape)
    if not np.all(np.isfinite(flat)) or np.any(flat < lm):
        raise QualityError("integrate_re_r: every upper limit must be finite and >= lam_min")
    top = float(flat.max())
    if top == lm:
        return np.zeros(lam.shape)
    if method != "panels":
        out = _integrate_chebyshev(r, np.log(flat), math.log(lm), math.log(top), rtol)
        if out is not None:
            return out.reshape(lam.shape)
        if method == "chebyshev":
            raise QualityError("integrate_re_r: the Chebyshev interpolant of Re R did not "
                               "converge (is R smooth on the interval?)")
    return _integrate_panels(r, flat, lm, nodes, max_ratio).reshape(lam.shape)


def _integrate_chebyshev(r: Callable[[Array], Any], t: Array, t0: float, t1: float,
                         rtol: float) -> Array | None:
    cheb = np.polynomial.chebyshev.Chebyshev

    def f(tt: Array) -> Array:
        return np.real(np.asarray(r(np.exp(tt)))) * np.exp(tt)

    for deg in (16, 32, 64, 128, 256, 512, 1024):
        p = cheb.interpolate(f, deg, domain=[t0, t1])
        c = np.abs(p.coef)
        if not np.all(np.isfinite(c)):
            return None
        if c[-3:].max() <= rtol * max(c.max(), np.finfo(float).tiny):
            return p.integ(lbnd=t0)(t)
    return None


def _integrate_panels(r: Callable[[Array], Any], flat: Array, lm: float, nodes: int,
                      max_ratio: float) -> Array:
    if nodes not in _GL_CACHE:
        _GL_CACHE[nodes] = np.polynomial.legendre.leggauss(nodes)
    gx, gw = _GL_CACHE[nodes]
    brk = np.unique(np.concatenate([[lm], flat]))
    lo, hi = brk[:-1], brk[1:]
    nsub = np.maximum(1, np.ceil(np.log(hi / lo) / math.log(max_ratio))).astype(int)
    owner = np.repeat(np.arange(lo.size), nsub)  # panel -> break interval
    j = np.arange(owner.size) - np.repeat(np.cumsum(nsub) - nsub, nsub)
    ratio = hi[owner] / lo[owner]
    a = lo[owner] * ratio ** (j / nsub[owner])
    b = lo[owner] * ratio ** ((j + 1) / nsub[owner])
    b[np.cumsum(nsub) - 1] = hi  # exact interval ends
    half, mid = 0.5 * (b - a), 0.5 * (b + a)
    w = (mid[:, None] + half[:, None] * gx[None, :]).ravel()
    val = np.real(np.asarray(r(w))).reshape(a.size, nodes)
    panel = half * (val @ gw)
    per_interval = np.bincount(owner, weights=panel, minlength=lo.size)
    cum = np.concatenate([[0.0], np.cumsum(per_interval)])
    return cum[np.searchsorted(brk, flat)]


# -- Bulk + Spikes / discrete model ---------------------------------------------------------
_BS_VARIANTS = ("paper_text", "table")


def bulk_spikes_constant(ecs_evals: ArrayLike, variant: str = "paper_text") -> float:
    """The constant ``R`` of the discrete (Bulk+Spikes) model (theory.md 2.2).

    ``"paper_text"``: ``R = sum_ECS lambda_i`` (sections/550 text, atom R-transforms added);
    ``"table"``: ``R = (1/M_ECS) sum_ECS lambda_i`` (Rtable).
    """
    if variant not in _BS_VARIANTS:
        raise ValueError(f"variant must be one of {_BS_VARIANTS}, got {variant!r}")
    ev = _positive(ecs_evals, "ecs_evals")
    return float(ev.sum() if variant == "paper_text" else ev.mean())


def g_bulk_spikes(lams: ArrayLike, lambda_min: float, c: float, *, exact: bool = False) -> Array:
    """``G_BS(lambda) = c (lambda - lambda_min)`` (``exact=True``) or ``c lambda``
    (``exact=False``, the paper's ``lambda_min ~ 0``) for the constant ``R = c``
    (sections/550, Rtable; theory.md 2.2)."""
    lam = np.asarray(lams, dtype=np.float64)
    return c * (lam - _lam_min(lambda_min)) if exact else c * lam


def q2_bulk_spikes(ecs_evals: ArrayLike, lambda_min: float | None = None, *,
                   variant: str = "paper_text", exact: bool = False) -> float:
    """Bulk+Spikes layer quality squared ``Q^2 = sum_ECS G_BS(lambda_i)``.

    With the defaults (``variant="paper_text"``, ``exact=False``, theory.md 2.2 Decision)
    ``Q^2 = (sum_ECS lambda)^2``, i.e. ``Q = sum_ECS lambda_i = Tr X_ECS``, the Gtable
    Bulk+Spikes row ``log Q = log(sum lambda_i)`` (the paper calls this tail norm a
    Frobenius norm; it is the squared Frobenius norm of the projected W).
    ``lambda_min`` defaults to the smallest ECS eigenvalue (used only with ``exact=True``).
    """
    ev = _positive(ecs_evals, "ecs_evals")
    c = bulk_spikes_constant(ev, variant)
    lm = ev.min() if lambda_min is None else lambda_min
    return float(np.sum(g_bulk_spikes(ev, lm, c, exact=exact)))


# -- Free Cauchy ---------------------------------------------------------------------------
def fit_free_cauchy(ecs_evals: ArrayLike) -> FreeCauchy:
    """The free-Cauchy model of an ECS: ``a = median``, ``gamma = IQR / 2``.

    The paper gives no rule for ``a`` (sections/550 calls it "a shift"). Our choice: the
    quantile estimators of a Cauchy law's location and half-width (for a Cauchy law the
    median is ``a`` and the interquartile range is ``2 gamma``), robust to the heavy tail.
    """
    ev = _positive(ecs_evals, "ecs_evals")
    q1, med, q3 = np.quantile(ev, [0.25, 0.5, 0.75])
    if not q3 > q1:
        raise QualityError("free Cauchy fit: the ECS eigenvalues have zero interquartile range")
    return FreeCauchy(float(med), float(0.5 * (q3 - q1)))


def g_free_cauchy(lams: ArrayLike, lambda_min: float, a: float) -> Array:
    """``Re G_FC(lambda) = a (lambda - lambda_min)`` for ``R = a + i gamma`` (sections/550,
    Rtable FC row; theory.md 2.5), via :meth:`FreeCauchy.integrated_r`."""
    return FreeCauchy(a, 1.0).integrated_r(np.asarray(lams, dtype=np.float64),
                                           _lam_min(lambda_min))


def q2_free_cauchy(ecs_evals: ArrayLike, lambda_min: float | None = None, *,
                   a: float | None = None) -> float:
    """Free-Cauchy ``Q^2 = a sum_ECS (lambda_i - lambda_min)`` (theory.md 4.2 FC row).

    ``a`` defaults to the ECS median (:func:`fit_free_cauchy`); ``lambda_min`` to the smallest
    ECS eigenvalue. The paper's heuristic ``Q^2 ~ a lambda_max`` (``lambda_min ~ 0``, one
    dominant eigenvalue) is not applied.
    """
    ev = _positive(ecs_evals, "ecs_evals")
    av = fit_free_cauchy(ev).a if a is None else float(a)
    lm = ev.min() if lambda_min is None else lambda_min
    return float(np.sum(g_free_cauchy(ev, lm, av)))


# -- Levy-Wigner ---------------------------------------------------------------------------
def levy_wigner_b(alpha: float, m_ecs: int) -> float:
    """The paper's ``b = (alpha - 1)/M_ECS`` (with ``a = 0``): it makes the lower-limit-0 integral
    ``sum_ECS b lambda^{alpha-1}/(alpha-1)`` equal to the Schatten form
    ``(1/M_ECS) sum lambda^{alpha-1}`` of sections/550 (theory.md 2.6)."""
    if not alpha > 1:
        raise NotApplicable(f"Levy-Wigner needs alpha > 1, got {alpha!r}")
    return (float(alpha) - 1.0) / int(m_ecs)


def g_levy_wigner(lams: ArrayLike, lambda_min: float, alpha: float, *, a: float = 0.0,
                  b: float = 1.0) -> Array:
    """``G_LW(lambda) = a (lambda - lambda_min) + b (lambda^{alpha-1} - lambda_min^{alpha-1})
    / (alpha - 1)``, the true integral of ``R = a + b z^{alpha-2}`` (Rtable; theory.md 2.6
    Decision, where the paper writes ``b lambda^{alpha-2}/(alpha-2)``), via
    :meth:`LevyPowerLaw.integrated_r`; the model is defined for ``1 < alpha <= 2``."""
    if not 1.0 < alpha <= 2.0:
        raise NotApplicable(f"the Levy-Wigner model is for 1 < alpha <= 2 (alpha = alpha_Levy + "
                            f"1, Rtable), got alpha = {alpha:.3g}")
    return LevyPowerLaw(a, b, alpha).integrated_r(np.asarray(lams, dtype=np.float64),
                                                   _lam_min(lambda_min))


def q2_levy_wigner(ecs_evals: ArrayLike, lambda_min: float | None, alpha: float, *,
                   a: float = 0.0, b: float | None = None) -> float:
    """Levy-Wigner ``Q^2 = sum_ECS G_LW(lambda_i)`` with the true integral from
    ``lambda_min`` (default: smallest ECS eigenvalue).

    Defaults ``a = 0``, ``b = (alpha - 1)/M_ECS`` (the paper's choice, :func:`levy_wigner_b`),
    so that ``Q^2 = q2_levy_paper(ecs, alpha) - lambda_min^{alpha - 1}``.
    """
    ev = _positive(ecs_evals, "ecs_evals")
    bv = levy_wigner_b(alpha, ev.size) if b is None else float(b)
    lm = ev.min() if lambda_min is None else lambda_min
    return float(np.sum(_finite(g_levy_wigner(ev, lm, alpha, a=a, b=bv), "Levy-Wigner G")))


# -- inverse Marchenko-Pastur --------------------------------------------------------------
def imp_kappa(alpha: float) -> float:
    """``kappa = alpha / 2``: the paper's empirical association ``alpha ~ 2 kappa``
    (sections/550, fig kappa_vs_alpha; theory.md 2.4, 4.3)."""
    if not (math.isfinite(alpha) and alpha > 0):
        raise QualityError(f"IMP needs a positive alpha (kappa = alpha/2), got {alpha!r}")
    return 0.5 * float(alpha)


_IMP_FORMS = ("integral", "log")


def g_imp(lams: ArrayLike, lambda_min: float, kappa: float, *, form: str = "integral") -> Array:
    """IMP layer function (sections/550, appendix/A8_IMP; theory.md 2.4).

    ``form="integral"`` (default): ``int_{lambda_min}^{lambda} Re R`` with
    ``R(z) = (kappa - sqrt(kappa(kappa - 2z)))/z`` integrated piecewise across the branch point
    ``kappa/2`` (``Re R = kappa/z`` beyond it), :meth:`InverseMarchenkoPastur.integrated_r`.
    ``form="log"``: the paper's ``G_IMP = kappa (ln lambda - ln lambda_min)``, equal to the
    integral when ``lambda_min >= kappa/2``.
    """
    if form not in _IMP_FORMS:
        raise ValueError(f"form must be one of {_IMP_FORMS}, got {form!r}")
    lm = _lam_min(lambda_min)
    lam = np.asarray(lams, dtype=np.float64)
    if form == "log":
        return kappa * (np.log(lam) - math.log(lm))
    return InverseMarchenkoPastur(kappa).integrated_r(lam, lm)


def q2_imp(ecs_evals: ArrayLike, lambda_min: float | None = None, *, alpha: float | None = None,
           kappa: float | None = None, form: str = "integral") -> float:
    """IMP ``Q^2 = sum_ECS G_IMP(lambda_i)`` with ``kappa = alpha/2`` (the text derivation of
    sections/550, theory.md 4.2 Decision) unless ``kappa`` is given.

    The leading behaviour is ``Q^2 ~ (alpha/2) ln(lambda_max/lambda_min)``; the Gtable row is
    :func:`imp_gtable_logq`.
    """
    ev = _positive(ecs_evals, "ecs_evals")
    if kappa is None:
        if alpha is None:
            raise QualityError("q2_imp needs alpha (kappa = alpha/2) or kappa")
        kappa = imp_kappa(alpha)
    lm = ev.min() if lambda_min is None else lambda_min
    return float(np.sum(_finite(g_imp(ev, lm, kappa, form=form), "IMP G")))


def imp_gtable_logq(lambda_max: float, lambda_min: float, alpha: float) -> float:
    """The paper's table value ``log10 Q = 2 alpha (log10 lambda_max - log10 lambda_min)``
    (Gtable IMP row, as printed; it disagrees with the text's ``alpha/2``, theory.md 4.2, 6.3).
    This is ``log10 Q`` itself, not ``Q^2``."""
    lm = _lam_min(lambda_min)
    if not (math.isfinite(lambda_max) and lambda_max >= lm):
        raise QualityError(f"lambda_max must be finite and >= lambda_min, got {lambda_max!r}")
    return 2.0 * float(alpha) * (math.log10(lambda_max) - math.log10(lm))


# -- truncated power law -------------------------------------------------------------------
def g_tpl(lams: ArrayLike, lambda_min: float, alpha: float, lambda_max: float) -> Array:
    """Truncated power-law layer function ``int_{lambda_min}^{lambda} Re R_TPL`` (appendix/A7;
    theory.md 2.8), ``rho = C x^{-alpha}`` on ``[lambda_min, lambda_max]``, ``R`` by numerical
    inversion of ``G`` (:class:`TruncatedPowerLaw`), integrated by :func:`integrate_re_r`.

    For ``lambda`` of the order of the eigenvalues, ``w = lambda`` lies far beyond the range of
    ``G`` near 0 (theory.md 6.2): the hard edge pins ``G^{-1}(w)`` at ``lambda_max`` and
    ``R(w) ~ lambda_max - 1/w``, so ``G ~ lambda_max (lambda - lambda_min) - ln(lambda /
    lambda_min)``. That is what the paper's prescription gives for this model.
    """
    lm = _lam_min(lambda_min)
    if not lambda_max > lm:
        raise QualityError(f"TPL needs lambda_max > lambda_min, got {lambda_max!r} <= {lm!r}")
    try:
        tpl = TruncatedPowerLaw(float(alpha), lm, float(lambda_max))
    except ValueError as exc:
        raise QualityError(str(exc)) from exc
    return integrate_re_r(tpl.r_transform, lams, lm)


def q2_tpl(ecs_evals: ArrayLike, lambda_min: float | None, alpha: float, *,
           lambda_max: float | None = None) -> float:
    """TPL ``Q^2 = sum_ECS G_TPL(lambda_i)`` with the model's ``alpha`` = the fitted HTSR
    alpha and its support ``[lambda_min^ECS, lambda_max]`` = the ECS range (our rule)."""
    ev = _positive(ecs_evals, "ecs_evals")
    lm = ev.min() if lambda_min is None else lambda_min
    lx = ev.max() if lambda_max is None else lambda_max
    return float(np.sum(_finite(g_tpl(ev, lm, alpha, lx), "TPL G")))


# -- empirical ESD: computational R-transform (free cumulants) and exact R ---------------------
def g_series_from_cumulants(kappas: ArrayLike, x: ArrayLike) -> Array:
    """``sum_{k=1}^{K} (kappa_k / k) x^k = int_0^x sum_k kappa_k w^{k-1} dw`` (Horner), the
    integrated truncated R series (sections/560 eqn G_lambda_series; theory.md 2.9)."""
    kap = np.real(np.asarray(kappas, dtype=np.complex128)).ravel()
    xv = np.asarray(x, dtype=np.float64)
    out = np.zeros(xv.shape)
    for k in range(kap.size, 0, -1):
        out = (out + kap[k - 1] / k) * xv
    return out


_EMP_METHODS = ("series", "inversion")


def g_empirical(lams: ArrayLike, ecs_evals: ArrayLike, *, method: str = "series", K: int = 5,
                moment_norm: str = "mean", standardize: bool = False, rescale: bool = True,
                exact: bool = False, lambda_min: float | None = None) -> Array:
    """Layer function of the empirical ECS spectrum.

    ``method="series"`` (sections/560, theory.md 2.9): free cumulants ``kappa_1..kappa_K`` of
    the ECS eigenvalues (``moment_norm="mean"``: normalised moments, the spec's Decision;
    ``"sum"``: the paper's ``Tr X^k``; ``standardize=True``: the paper's mean-centred and
    standardised eigenvalues), ``G(lambda) = sum_k (kappa_k/k)(lambda/M_ECS)^k`` (``rescale=False``
    drops the ``1/M_ECS``); lower limit 0 as in the paper, or ``lambda_min`` with
    ``exact=True``. The cumulants come from the (possibly standardised) values, ``G`` is
    evaluated at the ECS eigenvalues as given.

    ``method="inversion"`` (theory.md 2.10): the exact R of the normalised ECS ESD by inversion
    of ``G(z) = mean 1/(z - lambda_i)``, integrated from ``lambda_min`` (default: the smallest
    ECS eigenvalue) as in sections/540. As for the TPL, ``w = lambda`` is beyond the range of
    ``G`` near 0 and ``R(w) ~ lambda_max - 1/w`` there.
    """
    if method not in _EMP_METHODS:
        raise ValueError(f"method must be one of {_EMP_METHODS}, got {method!r}")
    ev = _positive(ecs_evals, "ecs_evals")
    lm = float(ev.min()) if lambda_min is None else _lam_min(lambda_min)
    lam = np.asarray(lams, dtype=np.float64)
    if method == "inversion":
        es = EmpiricalSpectrum(ev)
        return integrate_re_r(es.r_transform, lam, lm)
    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    try:
        es = EmpiricalSpectrum(ev, moment_norm=moment_norm, standardize=standardize)
    except ValueError as exc:
        raise QualityError(str(exc)) from exc
    kap = es.free_cumulants(int(K))
    scale = 1.0 / ev.size if rescale else 1.0
    g = g_series_from_cumulants(kap, lam * scale)
    if exact:
        g = g - g_series_from_cumulants(kap, np.asarray(lm * scale))
    return g


def q2_empirical(ecs_evals: ArrayLike, lambda_min: float | None = None, *,
                 method: str = "series", K: int = 5, moment_norm: str = "mean",
                 standardize: bool = False, rescale: bool = True, exact: bool = False) -> float:
    """Empirical ``Q^2 = sum_ECS G(lambda_i)`` (:func:`g_empirical`; sections/560 computational
    R-transform for ``method="series"``)."""
    ev = _positive(ecs_evals, "ecs_evals")
    g = g_empirical(ev, ev, method=method, K=K, moment_norm=moment_norm,
                    standardize=standardize, rescale=rescale, exact=exact,
                    lambda_min=lambda_min)
    return float(np.sum(_finite(g, "empirical G")))


def log10_quality(q2: float) -> float:
    """``log10 Q = log10(Q^2) / 2``; ``QualityError`` when ``Q^2`` is not positive and finite
    (so that no NaN is passed on as a quality)."""
    v = float(q2)
    if not math.isfinite(v):
        raise QualityError(f"Q^2 = {v} is not finite")
    if v <= 0:
        raise QualityError(f"Q^2 = {v:.4g} <= 0: the layer quality Q = sqrt(Q^2) is undefined")
    return 0.5 * math.log10(v)


# ======================================================================================
# The pipeline for one layer and for a model
# ======================================================================================
@dataclass(frozen=True)
class _Ctx:
    """What a spectral model needs: the ECS on the quality scale and the layer's alpha."""

    ev: Array  # ECS eigenvalues on the quality scale, descending
    lambda_min: float
    alpha: float | None
    K: int


def _need_alpha(ctx: _Ctx) -> float:
    if ctx.alpha is None or not math.isfinite(ctx.alpha):
        raise NotApplicable("needs the power-law alpha, and the fit failed")
    return float(ctx.alpha)


def _m_bs(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    c = bulk_spikes_constant(ctx.ev, "paper_text")
    return q2_bulk_spikes(ctx.ev, ctx.lambda_min), {"R": c, "variant": "paper_text",
                                                     "exact": False}


def _m_fc(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    fc = fit_free_cauchy(ctx.ev)
    return q2_free_cauchy(ctx.ev, ctx.lambda_min, a=fc.a), {"a": fc.a, "gamma": fc.gamma}


def _m_lw(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    al = _need_alpha(ctx)
    if not 1.0 < al <= 2.0:
        raise NotApplicable(f"Levy-Wigner is the model for 1 < alpha <= 2; alpha = {al:.3g}")
    b = levy_wigner_b(al, ctx.ev.size)
    return q2_levy_wigner(ctx.ev, ctx.lambda_min, al, a=0.0, b=b), {"a": 0.0, "b": b,
                                                                     "alpha": al}


def _m_lw_paper(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    al = _need_alpha(ctx)
    if not al > 1:
        raise NotApplicable(f"the Schatten form needs alpha > 1, got {al:.3g}")
    return q2_levy_paper(ctx.ev, al), {"alpha": al}


def _m_imp(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    k = imp_kappa(_need_alpha(ctx))
    return q2_imp(ctx.ev, ctx.lambda_min, kappa=k), {"kappa": k, "branch_point": 0.5 * k}


def _m_imp_gtable(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    al = _need_alpha(ctx)
    logq = imp_gtable_logq(float(ctx.ev[0]), ctx.lambda_min, al)
    return 10.0 ** (2.0 * logq) if logq < 150 else math.inf, {"alpha": al, "log10_q": logq}


def _m_tpl(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    al = _need_alpha(ctx)
    lx = float(ctx.ev[0])
    return q2_tpl(ctx.ev, ctx.lambda_min, al, lambda_max=lx), {
        "alpha": al, "lam_min": ctx.lambda_min, "lam_max": lx}


def _m_emp(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    es = EmpiricalSpectrum(ctx.ev)
    kap = [float(k) for k in np.real(np.asarray(es.free_cumulants(ctx.K), dtype=complex))]
    return q2_empirical(ctx.ev, ctx.lambda_min, method="series", K=ctx.K), {
        "K": ctx.K, "moment_norm": "mean", "standardize": False, "rescale": True,
        "cumulants": kap}


def _m_emp_inv(ctx: _Ctx) -> tuple[float, dict[str, Any]]:
    return q2_empirical(ctx.ev, ctx.lambda_min, method="inversion"), {}


#: The spectral models of the quality table: name -> (description, source, function).
MODELS: dict[str, tuple[str, str, Callable[[_Ctx], tuple[float, dict[str, Any]]]]] = {
    "bs": ("Bulk+Spikes, R = sum_ECS lambda, lambda_min ~ 0: Q = Tr X_ECS",
           "sections/550 (text), Gtable BS row; theory.md 2.2", _m_bs),
    "fc": ("free Cauchy R = a + i gamma, a = ECS median: Q^2 = a sum (lambda - lambda_min)",
           "sections/550, Rtable FC row; theory.md 2.5, 4.2", _m_fc),
    "lw": ("Levy-Wigner R = b z^(alpha-2), b = (alpha-1)/M_ECS, true integral (1<alpha<=2)",
           "Rtable LW row; theory.md 2.6 Decision", _m_lw),
    "lw_paper": ("Levy-Wigner Schatten form Q^2 = mean_ECS lambda^(alpha-1)",
                 "sections/550, Gtable LW row; theory.md 2.6", _m_lw_paper),
    "imp": ("inverse MP, kappa = alpha/2, int Re R across the branch point kappa/2",
            "sections/550, appendix/A8_IMP; theory.md 2.4, 4.2 Decision", _m_imp),
    "imp_gtable": ("inverse MP, Gtable as printed: log10 Q = 2 alpha log10(lmax/lmin)",
                   "Gtable IMP row; theory.md 4.2 Decision, 6.3", _m_imp_gtable),
    "tpl": ("truncated power law (alpha, [lambda_min^ECS, lambda_max]), R by inversion",
            "appendix/A7_RTransform; theory.md 2.8", _m_tpl),
    "emp": ("computational R-transform: free cumulants k1..kK, G = sum k_k/k (lambda/M)^k",
            "sections/560 eqn G_lambda_series; theory.md 2.9", _m_emp),
    "emp_inv": ("exact R of the ECS ESD (inversion of G), int_{lambda_min} Re R",
                "theory.md 2.10, sections/540", _m_emp_inv),
}

#: Models computed by default (all of them).
DEFAULT_MODELS: tuple[str, ...] = tuple(MODELS)

_SCALES = ("frobenius_M", "input")


@dataclass(frozen=True)
class ModelQuality:
    """The quality of one layer under one spectral model.

    ``status`` is ``"ok"`` (``q2`` and ``log10_q`` set), ``"n/a"`` (the model does not apply,
    e.g. Levy-Wigner for alpha > 2) or ``"error"`` (``reason`` says why: divergent integral,
    ``Q^2 <= 0``...); ``q2``/``log10_q`` are then None, never NaN.
    """

    model: str
    status: str
    reason: str = ""
    q2: float | None = None
    log10_q: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["q2"] is not None and not math.isfinite(d["q2"]):
            d["q2"] = None  # only log10_q is representable (imp_gtable)
        return d


@dataclass(frozen=True)
class LayerQuality:
    """SETOL quality of one layer ESD under several spectral models.

    Attributes
    ----------
    name : str
    ecs : ECS
        The effective correlation space (input scale) with the TraceLog/ERG quantities.
    scale : {"frobenius_M", "input"}
        Scale of the eigenvalues the G functions were evaluated on.
    scale_factor : float
        Quality-scale eigenvalue = ``scale_factor`` x input eigenvalue.
    models : dict
        ``name -> ModelQuality``.
    """

    name: str
    ecs: ECS
    scale: str
    scale_factor: float
    models: dict[str, ModelQuality]

    def log10_q(self, model: str) -> float | None:
        return self.models[model].log10_q if model in self.models else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scale": self.scale, "scale_factor": self.scale_factor,
                "ecs": self.ecs.to_dict(),
                "quality": {k: v.to_dict() for k, v in self.models.items()}}


def _check_models(models: Iterable[str]) -> tuple[str, ...]:
    out = tuple(models)
    bad = [m for m in out if m not in MODELS]
    if bad or not out:
        raise ValueError(f"unknown quality model(s) {bad or out!r}; choose from {list(MODELS)}")
    return out


def _run_model(name: str, ctx: _Ctx) -> ModelQuality:
    _, source, fn = MODELS[name]
    try:
        q2, params = fn(ctx)
        logq = params.pop("log10_q", None)
        logq = log10_quality(q2) if logq is None else float(logq)
    except NotApplicable as exc:
        return ModelQuality(name, "n/a", str(exc), source=source)
    except (QualityError, ValueError, ArithmeticError, NotImplementedError) as exc:
        return ModelQuality(name, "error", str(exc), source=source)
    return ModelQuality(name, "ok", "", float(q2), logq, params, source)


def layer_quality(
    evals: ArrayLike,
    *,
    ecs: str | float | ECS = "detx",
    models: Iterable[str] = DEFAULT_MODELS,
    scale: str = "frobenius_M",
    alpha: float | None = None,
    xmin: float | None = None,
    name: str = "",
    fit_kwargs: dict[str, Any] | None = None,
    detx_rule: str = "first_below",
    min_ecs: int = DEFAULT_MIN_ECS,
    K: int = 5,
) -> LayerQuality:
    """SETOL layer quality of an ESD (theory.md 4.1 pipeline).

    1. ECS by ``ecs`` (:func:`select_ecs`; or an :class:`ECS` already selected);
    2. eigenvalues to the quality ``scale``: ``"frobenius_M"`` (default: ``sum(lambda) = M``
       over the whole layer, the scale of the TraceLog condition; our choice, theory.md 1.1
       leaves it open) or ``"input"``;
    3. for each model ``G(lambda_i) = int_{lambda_min^ECS}^{lambda_i} Re R``,
       ``Q^2 = sum_ECS G(lambda_i)``, ``log10 Q`` (see :data:`MODELS` for each model's
       formula, parameter rule and source).

    Models that need alpha use ``alpha`` (the HTSR fit) or the ECS's fit. A model that does not
    apply or fails is recorded with its reason; the ECS itself failing raises
    :class:`ECSError`.
    """
    names = _check_models(models)
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {_SCALES}, got {scale!r}")
    if isinstance(ecs, ECS):
        e = ecs
    else:
        # a given alpha alone is for the models; the ECS's own fit is kept for the record
        e = select_ecs(evals, ecs, xmin=xmin, alpha=alpha if xmin is not None else None,
                       fit_kwargs=fit_kwargs, detx_rule=detx_rule, min_ecs=min_ecs)
    factor = e.scale_factor if scale == "frobenius_M" else 1.0
    a = alpha if alpha is not None else e.alpha
    ctx = _Ctx(ev=e.evals * factor, lambda_min=e.lambda_min * factor,
               alpha=None if a is None or not math.isfinite(a) else float(a), K=int(K))
    res = {m: _run_model(m, ctx) for m in names}
    return LayerQuality(name=name, ecs=e, scale=scale, scale_factor=factor, models=res)


def model_quality(layers: Sequence[LayerQuality], models: Iterable[str] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Model quality ``Q^NN = prod_L Q_L`` per spectral model, as ``log10 Q^NN = sum_L log10
    Q_L`` (sections/530), over the layers where that model gave a quality.

    Returns ``model -> {"log10_q", "num_layers", "num_missing", "complete"}``; ``complete`` is
    False when some layers had no quality (the product then covers a subset).
    """
    names = _check_models(models) if models is not None else tuple(
        dict.fromkeys(m for lq in layers for m in lq.models))
    out: dict[str, dict[str, Any]] = {}
    for m in names:
        vals = [lq.models[m].log10_q for lq in layers
                if m in lq.models and lq.models[m].log10_q is not None]
        miss = len(layers) - len(vals)
        out[m] = {"log10_q": float(np.sum(vals)) if vals else None, "num_layers": len(vals),
                  "num_missing": miss, "complete": miss == 0 and bool(vals)}
    return out


# ======================================================================================
# The intensive quantities of quality_table.tex
# ======================================================================================
@dataclass(frozen=True)
class QualityTable:
    """Effective potential, self-overlap, free energy, quality generating function and model
    quality (sections/quality_table.tex; shared/spec/statmech.md 2.2).

    Attributes
    ----------
    epsilon : float
        Effective potential ``eps`` (average error).
    eta : float
        Self-overlap ``eta = 1 - eps`` (average accuracy).
    free_energy : float
        Average free energy per training example, ``F-bar = F / n`` with ``beta F = -ln Z_n``.
    gamma_q : float
        Quality generating function ``Gamma_Q-bar = 1 - F-bar`` (``Gamma_Q = n - F``).
    q_bar : float
        Model quality ``Q-bar = <eta>``.
    kinds : dict
        For each entry: ``"definition: ..."`` or ``"model choice: ..."``.
    extra : dict
        Further quantities of the construction (saddle point, entropy, ``Gamma_{Q^2}``...).
    """

    epsilon: float
    eta: float
    free_energy: float
    gamma_q: float
    q_bar: float
    kinds: dict[str, str]
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def st_linear_quality_table(load_t: float) -> QualityTable:
    """The quality table of the linear teacher-student perceptron (spherical prior, annealed
    approximation, high temperature), where every entry is defined.

    ``load_t = alpha beta`` (load times inverse temperature, statmech.md 1.3). With the
    spherical entropy ``s(R) = ln(1 - R^2)/2`` and ``eps(R) = 1 - R`` (SST92; sections/432
    eq. LinearPerceptronError), the saddle point ``R/(1 - R^2) = load_t`` gives
    ``R* = (sqrt(1 + 4 load_t^2) - 1)/(2 load_t)`` and

    * ``F-bar = min_R [eps(R) - s(R)/load_t] = eps(R*) - s(R*)/load_t`` (per example),
    * ``Gamma_Q-bar = 1 - F-bar = R* + s(R*)/load_t``,
    * ``Q-bar = <eta> = R*``, ``eps = 1 - R*`` (``~ 1/(2 load_t)`` at large load).

    ``d(load_t F-bar)/d load_t = eps`` (envelope theorem): the training / generalisation error
    follows from the free energy (statmech.md 2.2).
    """
    a = float(load_t)
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"load_t = alpha * beta must be positive and finite, got {load_t!r}")
    R = 2.0 * a / (1.0 + math.sqrt(1.0 + 4.0 * a * a))  # = (sqrt(1+4a^2) - 1)/(2a), stable
    s = 0.5 * math.log1p(-R * R)
    eps = 1.0 - R
    F = eps - s / a
    kinds = {
        "epsilon": "model choice: eps(R) = 1 - R, linear perceptron with Gaussian inputs "
                   "(SST92; sections/432), at the saddle point R*",
        "eta": "definition: eta = 1 - eps (quality_table.tex)",
        "free_energy": "definition: beta F = -ln Z, F-bar = F/n; evaluated in the annealed "
                       "approximation at high T with the spherical entropy s(R) = ln(1-R^2)/2 "
                       "(model choice) by the saddle point",
        "gamma_q": "definition: Gamma_Q-bar = 1 - F-bar (quality_table.tex)",
        "q_bar": "definition: Q-bar = <eta> (thermal average = saddle point value R*)",
    }
    return QualityTable(epsilon=eps, eta=R, free_energy=F, gamma_q=1.0 - F, q_bar=R,
                        kinds=kinds, extra={"R_star": R, "entropy": s, "load_t": a,
                                            "beta_f_per_weight": a * eps - s})


def layer_quality_table(q2: float, *, load_t: float = 1.0, log_det: float = 0.0
                        ) -> QualityTable:
    """The quality table of a SETOL layer from its quality squared ``Q^2 = sum_ECS G``.

    ``load_t`` is the ``n beta`` of the layer generating function (per ``N``), ``log_det`` the
    ERG residual ``sum_ECS ln lambda`` (point estimate of ``ln det A_ECS``; 0 under the
    TraceLog condition). What is defined and what is a model choice:

    * ``Gamma_{Q^2} = load_t Q^2 + log_det/2`` -- the paper's large-N HCIZ result
      ``n beta sum G`` (sections/540, paper form, theory.md 6.1) plus the Jacobian
      ``(N/2) ln det A`` of the change of measure (sections/530, statmech.md 2.5), averaged
      independently (IFA); ``Q^2 = d Gamma_{Q^2} / d load_t`` (definition, sections/540).
    * ``Q-bar = eta = sqrt(Q^2)`` -- model choice ``<Tr R> ~ sqrt(<Tr R^T R>)``
      (appendix/A3_quality; theory.md 4.5), ``eps = 1 - eta`` (definition with the linear ST
      ``eps(R) = 1 - R``).
    * ``Gamma_Q-bar = eta + s/load_t``, ``F-bar = 1 - Gamma_Q-bar = eps - s/load_t`` with the
      entropy ``s = log_det / 2`` -- the saddle-point form of the ST perceptron
      (:func:`st_linear_quality_table`) with ``ln det A_ECS / 2`` in the role of ``s(R)``
      (model choice). Under the TraceLog condition ``s = 0``, so ``F-bar = eps`` and
      ``Gamma_Q-bar = Q-bar``: the ERG step makes the free energy equal the effective potential.

    ``eps`` and ``eta`` are probabilities only when ``Q-bar <= 1``, which the G functions do
    not guarantee (the paper reports ``Q^2`` above 100%, sections/640).
    """
    v = float(q2)
    if not (math.isfinite(v) and v > 0):
        raise QualityError(f"Q^2 must be positive and finite, got {q2!r}")
    a = float(load_t)
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"load_t = n beta must be positive and finite, got {load_t!r}")
    s = 0.5 * float(log_det)
    qb = math.sqrt(v)
    gam = qb + s / a
    kinds = {
        "epsilon": "definition: eps = 1 - eta (linear ST effective potential eps(R) = 1 - R)",
        "eta": "model choice: eta = <Tr R> ~ sqrt(Q^2) (appendix/A3_quality)",
        "free_energy": "definition: F-bar = 1 - Gamma_Q-bar; Gamma_Q-bar = eta + s/load_t by "
                       "the ST saddle-point form with s = ln det X_ECS / 2 (model choice)",
        "gamma_q": "definition: Gamma_Q-bar = 1 - F-bar (quality_table.tex)",
        "q_bar": "definition: Q-bar = <eta>",
        "gamma_q2": "paper result: Gamma_{Q^2} = n beta sum_ECS G (sections/540, large N) "
                    "+ ln det A_ECS / 2 (sections/530 Jacobian, IFA)",
    }
    return QualityTable(epsilon=1.0 - qb, eta=qb, free_energy=1.0 - gam, gamma_q=gam,
                        q_bar=qb, kinds=kinds,
                        extra={"q2": v, "load_t": a, "entropy": s,
                               "gamma_q2": a * v + s})


# ======================================================================================
# Model-derived quality curves on synthetic spectra (theory.md 4.5)
# ======================================================================================
CURVE_FAMILIES = ("imp", "tpl", "student_t")


def synthetic_spectrum(family: str, alpha: float, M: int = 384, *, Q: float = 2.0,
                       rng: np.random.Generator | int | None = 0) -> Array:
    """A synthetic layer ESD with power-law exponent ``alpha`` (nominal), ``M`` eigenvalues.

    * ``"imp"``: inverse Marchenko-Pastur with ``kappa = alpha/2`` (the paper's association,
      sections/550), at the quantiles ``(i - 1/2)/M`` (deterministic, mean 1).
    * ``"tpl"``: truncated power law ``x^{-alpha}`` on ``[1, b]``, ``b = M^{1/(alpha-1)}`` (the
      typical largest of ``M`` Pareto draws; capped at ``alpha ln b <= 500``), at the
      quantiles. A spectrum without bulk.
    * ``"student_t"``: eigenvalues of ``W^T W / N`` for an ``N x M`` matrix (``N = Q M``) of
      i.i.d. Student-t entries with tail index ``mu = 2 (alpha - 1)`` (the Levy-regime relation
      ``alpha = 1 + mu/2`` of heavy-tailed Wishart matrices, exact for ``mu < 2``;
      Martin & Mahoney, JMLR 22 (2021) 165, sec. 3); random, seeded by ``rng``.

    The fitted alpha of these spectra differs from the nominal one (see :func:`quality_curve`).
    """
    if family not in CURVE_FAMILIES:
        raise ValueError(f"family must be one of {CURVE_FAMILIES}, got {family!r}")
    al = float(alpha)
    if not math.isfinite(al):
        raise ValueError(f"alpha must be finite, got {alpha!r}")
    if int(M) != M or M < 2:
        raise ValueError(f"M must be an integer >= 2, got {M!r}")
    M = int(M)
    p = (np.arange(M) + 0.5) / M
    if family == "imp":
        if not al > 0:
            raise ValueError(f"family 'imp' needs alpha > 0 (kappa = alpha/2), got {alpha!r}")
        return InverseMarchenkoPastur(0.5 * al).ppf(p)
    if not al > 1:
        raise ValueError(f"family {family!r} needs alpha > 1, got {alpha!r}")
    if family == "tpl":
        lnb = min(math.log(M) / (al - 1.0), 500.0 / al)
        return TruncatedPowerLaw(al, 1.0, math.exp(lnb)).ppf(p)
    if not (math.isfinite(Q) and Q >= 1):
        raise ValueError(f"Q = N/M must be >= 1, got {Q!r}")
    N = int(round(Q * M))
    g = np.random.default_rng(rng)
    W = g.standard_t(2.0 * (al - 1.0), size=(N, M))
    return np.sort(np.linalg.eigvalsh(W.T @ W / N))


@dataclass(frozen=True)
class QualityCurve:
    """Layer quality along a family of synthetic spectra -- **model-derived**, not a
    prediction of the paper (theory.md 4.5).

    Arrays are indexed like ``alpha`` (the family's nominal exponent); ``alpha_fit`` is the
    power-law fit of each synthetic spectrum (what the pipeline uses, and what a real layer
    would report). A point whose ECS could not be selected has NaN entries and its reason in
    ``reasons``; a model that failed at a point has NaN in ``log10_q[model]``.
    """

    family: str
    ecs_rule: str
    scale: str
    M: int
    alpha: Array
    alpha_fit: Array
    xmin: Array
    lambda_min_ecs: Array
    lambda_min_detx: Array
    delta_lambda_min: Array
    num_ecs: Array
    num_tail: Array
    erg_residual_at_xmin: Array
    log10_q: dict[str, Array]
    reasons: tuple[str, ...]
    label: str

    @property
    def rel_delta_lambda_min(self) -> Array:
        """``Delta lambda_min / xmin`` (scale free)."""
        return self.delta_lambda_min / self.xmin

    def critical_alpha(self) -> float | None:
        """The fitted alpha where ``Delta lambda_min`` changes sign from negative (below) to
        positive (above), by linear interpolation between neighbouring points in ``alpha_fit``
        order; None without such a crossing. The theory predicts 2 (theory.md 4.3)."""
        ok = np.isfinite(self.alpha_fit) & np.isfinite(self.delta_lambda_min)
        a, d = self.alpha_fit[ok], self.rel_delta_lambda_min[ok]
        order = np.argsort(a)
        a, d = a[order], d[order]
        for i in range(a.size - 1):
            if d[i] < 0 <= d[i + 1]:
                return float(a[i] + (a[i + 1] - a[i]) * (-d[i]) / (d[i + 1] - d[i]))
        return None

    def to_dict(self) -> dict[str, Any]:
        def lst(v: Array) -> list[float | None]:
            return [float(x) if np.isfinite(x) else None for x in np.asarray(v, dtype=float)]

        return {
            "family": self.family, "ecs_rule": self.ecs_rule, "scale": self.scale,
            "M": self.M, "label": self.label, "critical_alpha": self.critical_alpha(),
            "alpha": lst(self.alpha), "alpha_fit": lst(self.alpha_fit), "xmin": lst(self.xmin),
            "lambda_min_ecs": lst(self.lambda_min_ecs),
            "lambda_min_detx": lst(self.lambda_min_detx),
            "delta_lambda_min": lst(self.delta_lambda_min),
            "rel_delta_lambda_min": lst(self.rel_delta_lambda_min),
            "num_ecs": lst(self.num_ecs), "num_tail": lst(self.num_tail),
            "erg_residual_at_xmin": lst(self.erg_residual_at_xmin),
            "log10_q": {k: lst(v) for k, v in self.log10_q.items()},
            "reasons": list(self.reasons),
        }


def quality_curve(
    family: str = "imp",
    alphas: ArrayLike = (1.5, 2.0, 3.0, 4.0, 6.0),
    *,
    M: int = 384,
    Q: float = 2.0,
    ecs: str | float = "detx",
    models: Iterable[str] = DEFAULT_MODELS,
    scale: str = "frobenius_M",
    detx_rule: str = "first_below",
    min_ecs: int = DEFAULT_MIN_ECS,
    K: int = 5,
    seed: int | None = 0,
) -> QualityCurve:
    """Model-derived quality curve: for each nominal ``alpha`` a synthetic spectrum
    (:func:`synthetic_spectrum`) goes through the whole pipeline of :func:`layer_quality`
    (power-law fit, ECS, ``log10 Q`` per model, with the *fitted* alpha as a real layer would).

    Along the ``"imp"`` family ``Delta lambda_min`` changes sign at a fitted alpha near 2
    (:meth:`QualityCurve.critical_alpha`): the PL tail and the detX ECS coincide there, the
    paper's Ideal point (sections/630). The ``"tpl"`` family has no bulk, and then
    ``lambda_min^detX > lambda_min`` for every alpha (Jensen: ``mean ln lambda < ln mean
    lambda``), so ``Delta lambda_min < 0`` throughout.
    """
    names = _check_models(models)
    al = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if al.ndim != 1 or al.size == 0 or not np.all(np.isfinite(al)):
        raise ValueError("alphas must be a non-empty 1-D array of finite values")
    n = al.size
    cols = {k: np.full(n, np.nan) for k in (
        "alpha_fit", "xmin", "lambda_min_ecs", "lambda_min_detx", "delta_lambda_min",
        "num_ecs", "num_tail", "erg_residual_at_xmin")}
    logq = {m: np.full(n, np.nan) for m in names}
    reasons: list[str] = []
    seeds = np.random.SeedSequence(seed).spawn(n)
    for i, a in enumerate(al):
        ev = synthetic_spectrum(family, a, M, Q=Q, rng=np.random.default_rng(seeds[i]))
        try:
            lq = layer_quality(ev, ecs=ecs, models=names, scale=scale, detx_rule=detx_rule,
                               min_ecs=min_ecs, K=K)
        except ECSError as exc:
            reasons.append(f"alpha={a:g}: {exc}")
            continue
        e = lq.ecs
        for key, val in (("alpha_fit", e.alpha), ("xmin", e.xmin),
                         ("lambda_min_ecs", e.lambda_min), ("lambda_min_detx", e.lambda_min_detx),
                         ("delta_lambda_min", e.delta_lambda_min), ("num_ecs", e.num_ecs),
                         ("num_tail", e.num_tail),
                         ("erg_residual_at_xmin", e.erg_residual_at_xmin)):
            cols[key][i] = np.nan if val is None else val
        for m in names:
            v = lq.models[m].log10_q
            if v is not None:
                logq[m][i] = v
            else:
                reasons.append(f"alpha={a:g}, {m}: {lq.models[m].reason}")
    label = (f"model-derived: {family} spectra (M={M}"
             + (", kappa = alpha/2" if family == "imp" else "")
             + f"), ECS rule {ecs!r}, pipeline with fitted alpha")
    return QualityCurve(family=family, ecs_rule=str(ecs), scale=scale, M=int(M), alpha=al,
                        log10_q=logq, reasons=tuple(reasons), label=label, **cols)


# ======================================================================================
# Whole model: quality of every analysed layer of an HTSR analysis
# ======================================================================================
@dataclass(frozen=True)
class QualityRecord:
    """One layer of a :class:`QualityReport`: its HTSR numbers and its quality (or why not).

    ``status`` is ``"ok"`` (``quality`` set), ``"no-ecs"`` (the ECS could not be selected:
    ``reason``) or the HTSR status of a layer that was not analysed (``"skipped"``,
    ``"filtered"``).
    """

    name: str
    status: str
    reason: str = ""
    N: int = 0
    M: int = 0
    alpha: float | None = None
    alpha_hat: float | None = None
    lambda_max: float | None = None
    quality: LayerQuality | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in (
            "name", "status", "reason", "N", "M", "alpha", "alpha_hat", "lambda_max")}
        if self.quality is not None:
            q = self.quality.to_dict()
            d.update({"scale": q["scale"], "scale_factor": q["scale_factor"], "ecs": q["ecs"],
                      "quality": q["quality"]})
        return d


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _correlation(x: Sequence[float | None], y: Sequence[float | None]) -> dict[str, Any]:
    from scipy import stats

    pairs = [(a, b) for a, b in zip(x, y, strict=True) if a is not None and b is not None]
    if len(pairs) < 3:
        return {"n": len(pairs), "pearson": None, "spearman": None,
                "reason": "fewer than 3 layers with both values"}
    a, b = np.array(pairs).T
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"n": len(pairs), "pearson": None, "spearman": None,
                "reason": "one of the two quantities is constant"}
    return {"n": len(pairs), "pearson": float(stats.pearsonr(a, b)[0]),
            "spearman": float(stats.spearmanr(a, b)[0])}


@dataclass
class QualityReport:
    """SETOL quality of the layers of a model (what ``setol quality`` reports).

    Attributes
    ----------
    layers : list of QualityRecord
    source : str
    settings : dict
    """

    layers: list[QualityRecord]
    source: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def with_quality(self) -> list[QualityRecord]:
        return [r for r in self.layers if r.quality is not None]

    def model_quality(self) -> dict[str, dict[str, Any]]:
        """:func:`model_quality` over the layers that have an ECS."""
        lqs = [r.quality for r in self.with_quality if r.quality is not None]
        names = self.settings.get("models") or DEFAULT_MODELS
        return model_quality(lqs, names) if lqs else {}

    def correlations(self) -> dict[str, dict[str, Any]]:
        """Pearson and Spearman correlations across layers between alpha and the ERG
        quantities: ``erg_residual_at_xmin`` (ln det of the power-law tail), ``delta_lambda_min``
        and ``delta_lambda_min / xmin``."""
        recs = self.with_quality
        alpha = [_num(r.alpha) for r in recs]
        out = {}
        for key in ("erg_residual_at_xmin", "delta_lambda_min", "rel_delta_lambda_min"):
            vals = []
            for r in recs:
                e = r.quality.ecs if r.quality is not None else None
                if e is None:
                    vals.append(None)
                elif key == "rel_delta_lambda_min":
                    ok = e.delta_lambda_min is not None and e.xmin
                    vals.append(_num(e.delta_lambda_min / e.xmin) if ok else None)
                else:
                    vals.append(_num(getattr(e, key)))
            out[f"{key}_vs_alpha"] = _correlation(alpha, vals)
        return out

    def to_json_dict(self) -> dict[str, Any]:
        return _none_for_nan({
            "source": self.source,
            "settings": self.settings,
            "models": {k: {"description": v[0], "source": v[1]} for k, v in MODELS.items()
                       if k in (self.settings.get("models") or DEFAULT_MODELS)},
            "model_quality": self.model_quality(),
            "correlations": self.correlations(),
            "layers": [r.to_dict() for r in self.layers],
        })


def _none_for_nan(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _none_for_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_none_for_nan(v) for v in obj]
    if isinstance(obj, np.generic):
        return _none_for_nan(obj.item())
    return obj


def quality_report(
    analysis: Any,
    *,
    ecs: str | float = "detx",
    models: Iterable[str] = DEFAULT_MODELS,
    scale: str = "frobenius_M",
    detx_rule: str = "first_below",
    min_ecs: int = DEFAULT_MIN_ECS,
    K: int = 5,
) -> QualityReport:
    """Layer quality of every analysed layer of an HTSR analysis.

    ``analysis`` is a :class:`setol_theory.htsr.ModelAnalysis` made with ``keep_evals=True``
    (its per-layer ``alpha``/``xmin`` are reused, so both commands report the same fit).
    Layers whose ECS cannot be selected get ``status="no-ecs"`` and the reason; layers the
    HTSR analysis did not analyse keep its status and reason.
    """
    names = _check_models(models)
    if not getattr(analysis, "evals", None) and getattr(analysis, "analysed", None):
        raise ValueError("quality_report needs the eigenvalues: run analyze(..., "
                         "keep_evals=True)")
    recs: list[QualityRecord] = []
    for m in analysis.layers:
        base = {"name": m.name, "N": int(m.N), "M": int(m.M)}
        if not m.ok:
            recs.append(QualityRecord(status=m.status, reason=m.reason, **base))
            continue
        fit_ok = m.fit_status == "ok"
        htsr = {"alpha": _num(m.alpha), "alpha_hat": _num(m.alpha_hat),
                "lambda_max": _num(m.lambda_max)}
        try:
            lq = layer_quality(analysis.evals[m.name], ecs=ecs, models=names, scale=scale,
                               alpha=m.alpha if fit_ok else None,
                               xmin=m.xmin if fit_ok else None, name=m.name,
                               detx_rule=detx_rule, min_ecs=min_ecs, K=K)
        except ECSError as exc:
            recs.append(QualityRecord(status="no-ecs", reason=str(exc), **base, **htsr))
            continue
        recs.append(QualityRecord(status="ok", quality=lq, **base, **htsr))
    settings = {"ecs": ecs, "models": list(names), "scale": scale, "detx_rule": detx_rule,
                "min_ecs": min_ecs, "K": K,
                "htsr": dict(getattr(analysis, "settings", {}) or {})}
    return QualityReport(recs, source=str(getattr(analysis, "source", "")), settings=settings)
