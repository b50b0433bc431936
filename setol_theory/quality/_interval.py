"""Seeded bootstrap intervals of the layer quality ``log10 Q``, one per spectral model."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import ECSError, PowerLawBoundWarning
from ..htsr import as_spectrum, positive_evals
from ..htsr._metrics import _power_law_refit
from ._ecs import DEFAULT_MIN_ECS, ECS
from ._registry import DEFAULT_MODELS, _check_models, layer_quality

Array = NDArray[np.float64]

__all__ = ["QualityInterval", "quality_interval", "resampled_quality"]


@dataclass(frozen=True)
class QualityInterval:
    """Percentile bootstrap interval of one model's ``log10 Q`` for one ESD.

    Attributes
    ----------
    model : str
    low, high : float
        The ``(1 - level)/2`` and ``(1 + level)/2`` percentiles of ``log10 Q`` over the
        resamples that gave a value; NaN when fewer than half of them did (``reason``).
    level : float
        Nominal coverage (0.95).
    replicates : int
        Resamples drawn.
    n_ok : int
        Resamples where the ECS was selected and the model gave a finite ``log10 Q``.
    n_no_ecs : int
        Resamples whose ECS could not be selected (``ECSError``: no detX crossing, ECS
        smaller than ``min_ecs``, no power-law tail under ``ecs="xmin"``).
    reason : str
        Why the interval is NaN; empty otherwise.
    """

    model: str
    low: float
    high: float
    level: float
    replicates: int
    n_ok: int
    n_no_ecs: int
    reason: str = ""

    @property
    def ok(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def powerlaw_kwargs(fit_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments of :func:`setol_theory.fit.fit_powerlaw` among the analysis's fit
    settings (``min_tail``, ``xmax``, ``ks``): what :func:`select_ecs` refits with when the
    layer's fit failed (``fit``, ``fingers`` and ``max_fingers`` belong to ``fit_tail``)."""
    return {k: v for k, v in (fit_kwargs or {}).items() if k in ("min_tail", "xmax", "ks")}


def resampled_quality(
    evals: ArrayLike,
    *,
    ecs: str | float = "detx",
    models: Iterable[str] = DEFAULT_MODELS,
    scale: str = "frobenius_M",
    K: int = 5,
    min_ecs: int = DEFAULT_MIN_ECS,
    detx_rule: str = "first_below",
    fit_kwargs: dict[str, Any] | None = None,
) -> dict[str, float]:
    """``log10 Q`` of one ESD under each model by the whole per-layer procedure.

    The procedure of :func:`setol_theory.pipeline.layer_record`: the power-law fit of the
    positive eigenvalues with the analysis's settings ``fit_kwargs``
    (:attr:`setol_theory.AnalysisOptions.fit_kwargs`: ``min_tail``, ``xmax``, the finger
    handling; the ``xmin`` scan included; the power-law part of
    :func:`setol_theory.fit.fit_tail`, whose alpha and ``xmin`` the HTSR record and the quality
    use), the ECS by the rule ``ecs`` (the detX edge computed afresh), then
    :func:`layer_quality`. Each bootstrap replicate of :func:`quality_interval` is this function
    on a resample.

    Returns
    -------
    dict
        ``model -> log10 Q`` (NaN where the model does not apply or fails).

    Raises
    ------
    ECSError
        The ECS cannot be selected.
    """
    x = np.sort(as_spectrum(evals))
    pos = positive_evals(x)
    alpha = xmin = None
    if pos.size >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PowerLawBoundWarning)
            # the power-law part of fit_tail, as esd_metrics and its bootstraps fit
            fit = _power_law_refit(fit_kwargs)(pos)
        if fit.status == "ok":
            alpha, xmin = float(fit.alpha), float(fit.xmin)
    lq = layer_quality(x, ecs=ecs, models=models, scale=scale, alpha=alpha, xmin=xmin,
                       fit_kwargs=powerlaw_kwargs(fit_kwargs), detx_rule=detx_rule,
                       min_ecs=min_ecs, K=K)
    return {m: math.nan if mq.log10_q is None else float(mq.log10_q)
            for m, mq in lq.models.items()}


def quality_interval(
    evals: ArrayLike,
    *,
    replicates: int = 200,
    seed: int | None = 0,
    level: float = 0.95,
    ecs: str | float | ECS = "detx",
    models: Iterable[str] = DEFAULT_MODELS,
    scale: str = "frobenius_M",
    K: int = 5,
    min_ecs: int = DEFAULT_MIN_ECS,
    detx_rule: str = "first_below",
    fit_kwargs: dict[str, Any] | None = None,
) -> dict[str, QualityInterval]:
    """Seeded nonparametric bootstrap interval of ``log10 Q`` under each spectral model.

    Each of the ``replicates`` resamples draws ``M`` eigenvalues from the ESD with
    replacement (``numpy.random.default_rng(seed)``; zeros included, the same size) and redoes
    the whole per-layer procedure (:func:`resampled_quality`: power-law refit with the
    ``xmin`` scan, the ECS by the same rule, the model), so the interval includes the
    uncertainty of ``xmin``, of the ECS edge and of alpha, as the interval of alpha
    (``setol_theory.fit._gof.alpha_interval``) does. The interval is the ``(1 - level)/2`` and
    ``(1 + level)/2`` percentiles of the resampled ``log10 Q`` (Efron & Tibshirani 1993
    [ET1993], ch. 13, the percentile interval).

    It describes the sampling of the eigenvalues as independent draws from the layer's ESD:
    not the choice of spectral model, not the ECS rule, and not the repulsion between the
    eigenvalues of one matrix (which the iid resampling ignores). A resample whose ECS cannot
    be selected, or where the model does not apply or fails, gives no value; they are
    counted (``n_ok``, ``n_no_ecs``) and the interval is NaN with the reason when fewer than
    half of the resamples gave a value. Resamples have tied eigenvalues; the fit, the
    TraceLog walk and the models take ties.

    Parameters
    ----------
    evals : array
        Eigenvalues of the layer (any order, ``>= 0``).
    replicates : int
        Number of resamples (``>= 1``).
    seed : int or None
        Seed of ``numpy.random.default_rng``: the same seed gives the same interval.
    level : float
        Nominal coverage, ``0 < level < 1``.
    ecs, models, scale, K, min_ecs, detx_rule
        As for :func:`layer_quality`; an :class:`ECS` already selected gives its rule (a
        fixed ``lambda_min`` is re-applied as the value rule).
    fit_kwargs : dict, optional
        Keyword arguments of the power-law fit (``min_tail``, ``xmax``), as the analysis used.

    Returns
    -------
    dict
        ``model -> QualityInterval``.
    """
    names = _check_models(models)
    if isinstance(replicates, bool) or int(replicates) != replicates or replicates < 1:
        raise ValueError(f"replicates must be a positive integer, got {replicates!r}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    rule: str | float = ecs
    if isinstance(ecs, ECS):
        rule = ecs.rule if ecs.rule in ("xmin", "detx") else ecs.lambda_min
    x = np.asarray(as_spectrum(evals), dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = int(replicates)
    vals = {m: np.full(n, np.nan) for m in names}
    no_ecs = 0
    kw = {"ecs": rule, "models": names, "scale": scale, "K": K, "min_ecs": min_ecs,
          "detx_rule": detx_rule, "fit_kwargs": fit_kwargs}
    with warnings.catch_warnings():
        # a model's numerical integral may warn on an odd resample: it is counted, not shown
        warnings.simplefilter("ignore", RuntimeWarning)
        for b in range(n):
            xb = x[rng.integers(0, x.size, x.size)]
            try:
                q = resampled_quality(xb, **kw)  # type: ignore[arg-type]
            except ECSError:
                no_ecs += 1
                continue
            for m in names:
                vals[m][b] = q[m]
    out: dict[str, QualityInterval] = {}
    need = max(2, (n + 1) // 2)
    pct = [50.0 * (1.0 - level), 50.0 * (1.0 + level)]
    for m in names:
        v = vals[m][np.isfinite(vals[m])]
        if v.size < need:
            reason = (f"only {v.size} of {n} resamples gave a value ({no_ecs} without an "
                      f"ECS, {n - no_ecs - v.size} where the model did not apply or failed); "
                      f"an interval needs at least {need}")
            out[m] = QualityInterval(m, math.nan, math.nan, float(level), n, int(v.size),
                                     no_ecs, reason)
            continue
        lo, hi = np.percentile(v, pct)
        out[m] = QualityInterval(m, float(lo), float(hi), float(level), n, int(v.size), no_ecs)
    return out
