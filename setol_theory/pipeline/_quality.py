"""Quality of every layer of an analysed model: :func:`quality_report`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..htsr import DetXResult, LayerMetrics
from ..options import AnalysisOptions, QualityOptions
from ..quality import (
    DEFAULT_MODELS,
    MODELS,
    ECSError,
    LayerQuality,
    layer_quality,
    model_quality,
    quality_interval,
)
from ..quality._interval import powerlaw_kwargs
from ..util import nan_to_none as _nan_to_none
from ._results import ModelAnalysis

#: The analysis settings that make its tail fit (:attr:`AnalysisOptions.fit_kwargs`).
_FIT_SETTINGS: tuple[str, ...] = ("min_tail", "xmax", "fit", "fingers", "max_fingers")

Array = NDArray[np.float64]


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
    alpha_weighted: float | None = None
    lambda_max: float | None = None
    quality: LayerQuality | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in (
            "name", "status", "reason", "N", "M", "alpha", "alpha_weighted", "lambda_max")}
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

    def to_dataframe(self) -> Any:
        """One row per layer, the nested ECS and per-model quality blocks flattened to
        dotted columns (``ecs.num_ecs``, ``quality.bs.log10_q``); needs ``setol[pandas]``."""
        from ..util import require

        pd = require("pandas", "QualityReport.to_dataframe()")
        return pd.json_normalize(_nan_to_none([r.to_dict() for r in self.layers]), sep=".")

    def to_json_dict(self) -> dict[str, Any]:
        return _nan_to_none({
            "source": self.source,
            "settings": self.settings,
            "models": {k: {"description": v[0], "source": v[1]} for k, v in MODELS.items()
                       if k in (self.settings.get("models") or DEFAULT_MODELS)},
            "model_quality": self.model_quality(),
            "correlations": self.correlations(),
            "layers": [r.to_dict() for r in self.layers],
        })


def _with_intervals(lq: LayerQuality, evals: Array, options: QualityOptions,
                    fit_kwargs: dict[str, Any] | None) -> LayerQuality:
    """``lq`` with the bootstrap interval of ``log10 Q`` of each model that has a value
    (:func:`setol_theory.quality.quality_interval`, ``options.q_ci`` resamples, seeded with
    ``options.seed``)."""
    ok = [name for name, mq in lq.models.items() if mq.ok]
    ci = quality_interval(evals, replicates=options.q_ci, seed=options.seed, ecs=options.ecs,
                          models=ok, scale=options.scale, K=options.K,
                          min_ecs=options.min_ecs, detx_rule=options.detx_rule,
                          fit_kwargs=fit_kwargs) if ok else {}
    models = {}
    for name, mq in lq.models.items():
        c = ci.get(name)
        if c is None:
            models[name] = replace(mq, ci_replicates=options.q_ci,
                                   ci_reason=f"no point estimate (model {mq.status})")
        else:
            models[name] = replace(mq, log10_q_ci_low=c.low if c.ok else None,
                                   log10_q_ci_high=c.high if c.ok else None,
                                   ci_replicates=c.replicates, ci_n_ok=c.n_ok,
                                   ci_reason=c.reason)
    return replace(lq, models=models)


def layer_record(m: LayerMetrics, evals: Array | None, options: QualityOptions,
                 detx: DetXResult | None = None,
                 fit_kwargs: dict[str, Any] | None = None) -> QualityRecord:
    """The quality record of one layer from its HTSR metrics and eigenvalues.

    The ECS reuses the layer's power-law fit (``alpha``, ``xmin``) and, when the rules agree,
    its detX edge (``detx``, from :func:`setol_theory.htsr.layer_detx`), so the quality and
    the HTSR numbers of a layer come from one computation.  A layer that was not analysed
    keeps its status and reason; one whose ECS cannot be selected gets ``status="no-ecs"``.
    With ``options.q_ci > 0`` each model's ``log10 Q`` gets its bootstrap interval.
    ``fit_kwargs`` are the analysis's power-law fit settings
    (:attr:`setol_theory.AnalysisOptions.fit_kwargs`): the resamples are refitted with them,
    and so is the ECS's own fit when the layer's HTSR fit failed (not the defaults).
    """
    base = {"name": m.name, "N": int(m.N), "M": int(m.M)}
    if not m.ok or evals is None:
        return QualityRecord(status=m.status, reason=m.reason, **base)
    fit_ok = m.fit_status == "ok"
    htsr = {"alpha": _num(m.alpha), "alpha_weighted": _num(m.alpha_weighted),
            "lambda_max": _num(m.lambda_max)}
    ecs = options.ecs
    try:
        lq = layer_quality(evals, ecs=ecs, models=options.models, scale=options.scale,
                           alpha=m.alpha if fit_ok else None, xmin=m.xmin if fit_ok else None,
                           name=m.name, detx_rule=options.detx_rule, min_ecs=options.min_ecs,
                           K=options.K, detx=detx, fit_kwargs=powerlaw_kwargs(fit_kwargs))
    except ECSError as exc:
        return QualityRecord(status="no-ecs", reason=str(exc), **base, **htsr)
    if options.q_ci > 0:
        lq = _with_intervals(lq, evals, options, fit_kwargs)
    return QualityRecord(status="ok", quality=lq, **base, **htsr)


def quality_report(analysis: ModelAnalysis, options: QualityOptions | None = None,
                   **changes: Any) -> QualityReport:
    """SETOL quality of every analysed layer of an HTSR analysis.

    Parameters
    ----------
    analysis : ModelAnalysis
        Made with ``keep_evals=True`` (its per-layer ``alpha``/``xmin`` and detX edges are
        reused, so both commands report the same fit).  To compute the quality while the
        layers stream by, without keeping the eigenvalues, pass ``quality=`` to
        :func:`setol_theory.analyze` instead.
    options : QualityOptions, optional
        ECS rule, scale, models (default ``QualityOptions()``).
    **changes
        :class:`QualityOptions` fields overriding ``options`` (``ecs="xmin"``).

    Returns
    -------
    QualityReport
        Layers whose ECS cannot be selected get ``status="no-ecs"`` and the reason; layers the
        HTSR analysis did not analyse keep its status and reason.
    """
    opts = options if options is not None else QualityOptions()
    if changes:
        opts = replace(opts, **changes)
    if not analysis.evals and analysis.analysed:
        raise ValueError("quality_report needs the eigenvalues: run analyze(..., "
                         "keep_evals=True), or analyze(..., quality=QualityOptions())")
    detx = getattr(analysis, "detx", None) or {}
    # the analysis's power-law fit settings, for the resamples of the log10 Q interval
    hs = dict(analysis.settings or {})
    fit_kwargs = AnalysisOptions(**{k: hs[k] for k in _FIT_SETTINGS if k in hs}).fit_kwargs
    recs = [layer_record(m, analysis.evals.get(m.name), opts, detx=detx.get(m.name),
                         fit_kwargs=fit_kwargs) for m in analysis.layers]
    settings = {**opts.to_dict(), "htsr": dict(analysis.settings or {})}
    return QualityReport(recs, source=str(analysis.source), settings=settings)
