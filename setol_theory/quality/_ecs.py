"""The effective correlation space (ECS) of a layer: its tail eigenvalues and lower edge."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._choices import MIN_ECS
from ..errors import ECSError
from ..fit import PowerLawBoundWarning, fit_powerlaw
from ..htsr import DetXResult, as_spectrum, detx_lambda_min, erg_residual
from ..linalg import zero_threshold

Array = NDArray[np.float64]


# ======================================================================================
# ECS selection
# ======================================================================================
#: Smallest ECS accepted by :func:`select_ecs` (fewer eigenvalues give no meaningful
#: spectral-model fit: the free-Cauchy width, the cumulants and the TPL need several).
DEFAULT_MIN_ECS = MIN_ECS


_ECS_RULES = ("xmin", "detx")


@dataclass(frozen=True)
class ECS:
    """An effective correlation space (docs/quality.md) and the TraceLog / ERG quantities.

    All eigenvalue-valued fields are on the scale of the eigenvalues given to
    :func:`select_ecs` (the input scale); the TraceLog quantities (``erg_*``) are on the
    ``sum(lambda) = M`` scale where the condition is defined.

    Attributes
    ----------
    rule : {"xmin", "detx", "value"}
        How the lower edge was chosen: the power-law ``xmin`` (PowerLaw model-selection rule),
        the TraceLog / detX condition (TraceLog rule), or a given value (arXiv:2507.17912
        Sec. 6.2).
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
        ``xmin - lambda_min_detx`` (sign of arXiv:2507.17912 Eq. (164); None without a fit).
    erg_residual : float
        ``sum_{ECS} ln lambda = ln det X_ECS`` on the ``sum(lambda) = M`` scale.
    erg_residual_at_xmin : float or None
        The same sum over the power-law tail (``~ 0`` for an Ideal layer, docs/quality.md).
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
    detx: DetXResult | None = None,
) -> ECS:
    """Select the effective correlation space (ECS) of a layer ESD.

    Rules (docs/quality.md, "ECS selection and the ERG quantities"; the model-selection rules
    of arXiv:2507.17912 Sec. 6.2):

    * ``"xmin"``: ``lambda_min^ECS = xmin`` of the Clauset-Shalizi-Newman power-law fit
      (PowerLaw MSR); the ECS is the power-law tail.
    * ``"detx"``: ``lambda_min^ECS = lambda_min^{|detX|=1}``, the TraceLog condition
      ``sum_{ECS} ln lambda = 0`` on the ``sum(lambda) = M`` scale (:func:`detx_lambda_min`,
      ``detx_rule`` selects its index rule).
    * a number: the given ``lambda_min`` on the input scale.

    Whatever the rule, both edges are reported, with ``Delta lambda_min = xmin -
    lambda_min^{|detX|=1}`` (arXiv:2507.17912 Eq. (164), Sec. 6.3; -> 0+ as alpha -> 2) and the
    ERG residuals.

    Parameters
    ----------
    evals : array
        Eigenvalues of ``X`` (any order, ``>= 0``).
    rule : {"xmin", "detx"} or float
    xmin, alpha : float, optional
        A power-law fit already made (e.g. by :func:`setol_theory.analyze`); otherwise
        :func:`setol_theory.fit.fit_powerlaw` is run on the positive eigenvalues
        (``fit_kwargs`` passed on).
    detx_rule : {"first_below", "closest"}
    min_ecs : int
        Smallest accepted ``M_ECS``.
    detx : DetXResult, optional
        The detX edge of these eigenvalues already computed with ``detx_rule``
        (:func:`setol_theory.htsr.layer_detx`); used instead of computing it again.

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
    x = as_spectrum(evals)
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
    if detx is None or detx.rule != detx_rule:  # else: the pipeline's, computed once
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

