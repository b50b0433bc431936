"""Result containers of a model analysis: :class:`ModelAnalysis` (one record per layer)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..htsr import DetXResult, LayerMetrics
from ..util import nan_to_none as _nan_to_none

Array = NDArray[np.float64]

_NAN = float("nan")


# --------------------------------------------------------------------------------------
# Whole model
# --------------------------------------------------------------------------------------
#: Columns averaged in :meth:`ModelAnalysis.summary`.
SUMMARY_METRICS = ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "log_alpha_norm",
                   "stable_rank",
                   "mp_softrank", "num_spikes", "num_traps")


@dataclass
class ModelAnalysis:
    """Per-layer HTSR metrics of a model, with model-level averages.

    Attributes
    ----------
    layers : list of LayerMetrics
        One record per selected layer, in model order (analysed or with a reason).
    source : str
        Description of what was analysed (a path or a type name).
    settings : dict
        The options used (normalization, fit settings, seed...), recorded in every export.
    evals : dict
        ``name -> eigenvalues`` of the analysed layers (kept only when asked for).
    detx : dict
        ``name -> DetXResult``: each kept layer's detX edge (with ``evals``).
    quality : QualityReport or None
        The layers' SETOL quality, when :func:`analyze` was given quality options.
    """

    layers: list[LayerMetrics]
    source: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    evals: dict[str, Array] = field(default_factory=dict)
    detx: dict[str, DetXResult] = field(default_factory=dict)
    quality: Any = None

    @property
    def analysed(self) -> list[LayerMetrics]:
        return [m for m in self.layers if m.ok]

    def summary(self) -> dict[str, float]:
        """Model-level averages of :data:`SUMMARY_METRICS` over layers with a finite value.

        Also counts layers analysed, skipped and with a failed power-law fit.
        """
        out: dict[str, float] = {
            "num_layers": len(self.layers),
            "num_analysed": len(self.analysed),
            "num_skipped": sum(1 for m in self.layers if m.status == "skipped"),
            "num_filtered": sum(1 for m in self.layers if m.status == "filtered"),
            "num_fit_failed": sum(1 for m in self.analysed if m.fit_status != "ok"),
        }
        for key in SUMMARY_METRICS:
            vals = np.array([getattr(m, key) for m in self.analysed], dtype=float)
            vals = vals[np.isfinite(vals)]
            out[f"mean_{key}"] = float(vals.mean()) if vals.size else _NAN
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per layer, in order."""
        return [m.to_dict() for m in self.layers]

    def to_dataframe(self) -> Any:
        """The per-layer table as a pandas DataFrame, columns :func:`metric_names` in order
        (needs ``setol[pandas]``)."""
        from ..util import require

        pd = require("pandas", "ModelAnalysis.to_dataframe()")
        return pd.DataFrame.from_records(self.to_records(), columns=metric_names())

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict: source, settings, summary and layers (NaN -> None)."""
        return _nan_to_none(
            {
                "source": self.source,
                "settings": self.settings,
                "summary": self.summary(),
                "layers": self.to_records(),
            }
        )


def metric_names() -> list[str]:
    """Column names of :class:`LayerMetrics`, in table order."""
    return [f.name for f in fields(LayerMetrics)]
