"""The registry of quality models and the quality of one layer under each."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._choices import QUALITY_MODELS
from ..htsr import DetXResult
from ..rmt import EmpiricalSpectrum, q2_levy_paper
from ._ecs import DEFAULT_MIN_ECS, ECS, select_ecs
from ._models import (
    NotApplicable,
    QualityError,
    bulk_spikes_constant,
    fit_free_cauchy,
    imp_gtable_logq,
    imp_kappa,
    levy_wigner_b,
    log10_quality,
    q2_bulk_spikes,
    q2_empirical,
    q2_free_cauchy,
    q2_imp,
    q2_levy_wigner,
    q2_tpl,
)

Array = NDArray[np.float64]


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
           "arXiv:2507.17912 Sec. 5.4.3 (text), Table 9 Bulk+Spikes row; docs/quality.md", _m_bs),
    "fc": ("free Cauchy R = a + i gamma, a = ECS median: Q^2 = a sum (lambda - lambda_min)",
           "arXiv:2507.17912 Sec. 5.4.4, Table 8 free Cauchy row; docs/quality.md", _m_fc),
    "lw": ("Levy-Wigner R = b z^(alpha-2), b = (alpha-1)/M_ECS, true integral (1<alpha<=2)",
           "arXiv:2507.17912 Sec. 5.4.7, Table 8 Levy row; integral corrected: docs/quality.md",
           _m_lw),
    "lw_paper": ("Levy-Wigner Schatten form Q^2 = mean_ECS lambda^(alpha-1)",
                 "arXiv:2507.17912 Sec. 5.4.7, Table 9 Levy-Wigner row", _m_lw_paper),
    "imp": ("inverse MP, kappa = alpha/2, int Re R across the branch point kappa/2",
            "arXiv:2507.17912 Sec. 5.4.5, App. A.8; docs/spectral_models.md; docs/quality.md "
            "(our choice)", _m_imp),
    "imp_gtable": ("inverse MP, Table 9 as printed: log10 Q = 2 alpha log10(lmax/lmin)",
                   "arXiv:2507.17912 Table 9 IMP row (vs Sec. 5.4.5); docs/quality.md",
                   _m_imp_gtable),
    "tpl": ("truncated power law (alpha, [lambda_min^ECS, lambda_max]), R by inversion",
            "arXiv:2507.17912 App. A.7 (truncated power law); docs/quality.md", _m_tpl),
    "emp": ("computational R-transform: free cumulants k1..kK, G = sum k_k/k (lambda/M)^k",
            "arXiv:2507.17912 Sec. 5.5, Eq. (163); docs/quality.md", _m_emp),
    "emp_inv": ("exact R of the ECS ESD (inversion of G), int_{lambda_min} Re R",
                "ours: numerical inversion of G (docs/spectral_models.md); "
                "arXiv:2507.17912 Eq. (132)", _m_emp_inv),
}


#: Models computed by default (all of them).
if tuple(MODELS) != QUALITY_MODELS:  # pragma: no cover - a model added in one place only
    raise ImportError("quality.MODELS and setol_theory._choices.QUALITY_MODELS list different "
                      "models: add a new model to both")
DEFAULT_MODELS: tuple[str, ...] = tuple(MODELS)


_SCALES = ("frobenius_M", "input")


@dataclass(frozen=True)
class ModelQuality:
    """The quality of one layer under one spectral model.

    ``status`` is ``"ok"`` (``q2`` and ``log10_q`` set), ``"n/a"`` (the model does not apply,
    e.g. Levy-Wigner for alpha > 2) or ``"error"`` (``reason`` says why: divergent integral,
    ``Q^2 <= 0``...); ``q2``/``log10_q`` are then None, never NaN.

    ``log10_q_ci_low``/``log10_q_ci_high``: the seeded bootstrap interval of ``log10_q``
    (:func:`quality_interval`, 95 per cent) when one was asked for (``ci_replicates`` > 0):
    ``ci_n_ok`` of the ``ci_replicates`` resamples gave a value; None with ``ci_reason`` when
    fewer than half did or the model has no point estimate.
    """

    model: str
    status: str
    reason: str = ""
    q2: float | None = None
    log10_q: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    log10_q_ci_low: float | None = None
    log10_q_ci_high: float | None = None
    ci_replicates: int = 0
    ci_n_ok: int = 0
    ci_reason: str = ""

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
    detx: DetXResult | None = None,
) -> LayerQuality:
    """SETOL layer quality of an ESD (docs/quality.md, "From the HCIZ integral to Q²").

    1. ECS by ``ecs`` (:func:`select_ecs`; or an :class:`ECS` already selected);
    2. eigenvalues to the quality ``scale``: ``"frobenius_M"`` (default: ``sum(lambda) = M``
       over the whole layer, the scale of the TraceLog condition; our choice, docs/quality.md:
       the paper leaves it open) or ``"input"``;
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
                       fit_kwargs=fit_kwargs, detx_rule=detx_rule, min_ecs=min_ecs,
                       detx=detx)
    factor = e.scale_factor if scale == "frobenius_M" else 1.0
    a = alpha if alpha is not None else e.alpha
    ctx = _Ctx(ev=e.evals * factor, lambda_min=e.lambda_min * factor,
               alpha=None if a is None or not math.isfinite(a) else float(a), K=int(K))
    res = {m: _run_model(m, ctx) for m in names}
    return LayerQuality(name=name, ecs=e, scale=scale, scale_factor=factor, models=res)


def model_quality(layers: Sequence[LayerQuality], models: Iterable[str] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Model quality ``Q^NN = prod_L Q_L`` per spectral model, as ``log10 Q^NN = sum_L log10
    Q_L`` (arXiv:2507.17912 Sec. 5.2), over the layers where that model gave a quality.

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

