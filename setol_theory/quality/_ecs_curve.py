"""The quality of one ESD as a function of the ECS edge: ``log10 Q(lambda_min)`` per model."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..util import nan_to_none
from ._ecs import DEFAULT_MIN_ECS, ECSError, select_ecs
from ._registry import DEFAULT_MODELS, _check_models, layer_quality

Array = NDArray[np.float64]

__all__ = ["ECSCurve", "ecs_curve"]


@dataclass(frozen=True)
class ECSCurve:
    """``log10 Q`` of one ESD under each spectral model, for a range of ECS edges.

    Attributes
    ----------
    name : str
    lambda_min : array
        The ECS edges ``lambda_min^ECS`` (input scale, descending: the ECS grows along the
        array); each is an eigenvalue of the ESD, the ECS is ``lambda >= lambda_min``.
    num_ecs : array of int
        Eigenvalues in each ECS.
    log10_q : dict
        ``model -> array`` of ``log10 Q`` (NaN where the model does not apply or fails).
    alpha : float or None
        The power-law alpha of the whole ESD (CSN fit), used by the models that need alpha
        at every edge, so that only ``lambda_min`` varies along the curve.
    xmin, lambda_min_detx : float or None
        The two marked edges: the power-law ``xmin`` and the TraceLog ``lambda_min^{|detX|=1}``
        (both also on the curve).
    scale : str
        Scale of the eigenvalues the models are evaluated on (:func:`layer_quality`).
    """

    name: str
    lambda_min: Array
    num_ecs: NDArray[np.int64]
    log10_q: dict[str, Array]
    alpha: float | None
    xmin: float | None
    lambda_min_detx: float
    scale: str

    def marker(self, i: int) -> str:
        """``"xmin"``, ``"detX"``, both or ``""`` for the ``i``-th edge."""
        tags = []
        if self.xmin is not None and self.lambda_min[i] == self.xmin:
            tags.append("xmin")
        if self.lambda_min[i] == self.lambda_min_detx:
            tags.append("detX")
        return "+".join(tags)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per edge: ``lambda_min``, ``num_ecs``, ``mark``, ``log10_q_<model>``."""
        return [{"lambda_min": float(lm), "num_ecs": int(n), "mark": self.marker(i),
                 **{f"log10_q_{m}": nan_to_none(float(v[i])) for m, v in self.log10_q.items()}}
                for i, (lm, n) in enumerate(zip(self.lambda_min, self.num_ecs, strict=True))]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": nan_to_none(self.alpha), "xmin": self.xmin,
                "lambda_min_detx": self.lambda_min_detx, "scale": self.scale,
                "rows": self.rows()}


def ecs_curve(
    evals: ArrayLike,
    *,
    name: str = "",
    models: Iterable[str] = DEFAULT_MODELS,
    num: int = 40,
    min_ecs: int = DEFAULT_MIN_ECS,
    scale: str = "frobenius_M",
    fit_kwargs: dict[str, Any] | None = None,
    detx_rule: str = "first_below",
    K: int = 5,
) -> ECSCurve:
    """``log10 Q`` of an ESD under each model as a function of the ECS edge ``lambda_min``.

    The edges are eigenvalues of the ESD: ``num`` ECS sizes spaced geometrically from
    ``min_ecs`` to all positive eigenvalues, plus the power-law ``xmin`` and the TraceLog
    ``lambda_min^{|detX|=1}`` (arXiv:2507.17912 Sec. 6.2's two model-selection rules). At each
    edge the quality is :func:`layer_quality` with ``ecs=lambda_min`` and the alpha of the
    whole ESD's power-law fit, so at the two marked edges the curve equals the layer quality
    under ``ecs="xmin"`` and ``ecs="detx"``.

    Raises
    ------
    ECSError
        Fewer than ``min_ecs`` positive eigenvalues.
    """
    names = _check_models(models)
    x = np.sort(np.asarray(evals, dtype=np.float64))
    pos = x[x > 0]
    if num < 2:
        raise ValueError(f"num must be >= 2, got {num}")
    if pos.size < max(min_ecs, 2):
        raise ECSError(f"{pos.size} positive eigenvalues: fewer than min_ecs = {min_ecs}")
    e = select_ecs(x, "detx", fit_kwargs=fit_kwargs, detx_rule=detx_rule, min_ecs=min_ecs)
    alpha = e.alpha if e.alpha is not None and math.isfinite(e.alpha) else None
    sizes = np.unique(np.geomspace(min_ecs, pos.size, num).round().astype(int))
    edges = set(pos[-sizes].tolist()) | {e.lambda_min_detx}
    if e.xmin is not None and math.isfinite(e.xmin):
        edges.add(float(e.xmin))
    lam = np.array(sorted(edges, reverse=True))
    lam = lam[(x >= lam[:, None]).sum(axis=1) >= min_ecs]
    logq = {m: np.full(lam.size, np.nan) for m in names}
    n_ecs = np.zeros(lam.size, dtype=np.int64)
    for i, lm in enumerate(lam):
        lq = layer_quality(x, ecs=float(lm), models=names, scale=scale, alpha=alpha,
                           fit_kwargs=fit_kwargs, detx_rule=detx_rule, min_ecs=min_ecs, K=K)
        n_ecs[i] = lq.ecs.num_ecs
        for m in names:
            v = lq.models[m].log10_q
            logq[m][i] = np.nan if v is None else v
    return ECSCurve(name=name, lambda_min=lam, num_ecs=n_ecs, log10_q=logq, alpha=alpha,
                    xmin=None if e.xmin is None else float(e.xmin),
                    lambda_min_detx=float(e.lambda_min_detx), scale=scale)
