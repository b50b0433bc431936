"""Definitions of the report's columns: one line each, with its source.

The per-layer HTSR columns are defined once, in :data:`setol_theory.columns.COLUMNS`; this
module only adds the columns the report itself derives (the verdict while the record has none,
the quality columns).
Sources are keys of docs/references.md ([MH2025] is arXiv:2507.17912).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Fallback definitions: ``column -> (definition, source)``.
FALLBACK: dict[str, tuple[str, str]] = {
    "verdict": ("what to look at in this layer: 'under-trained' (alpha > 6), "
                "'over-trained' (alpha < 2), 'no-fit' (power-law fit failed), 'ok' "
                "(2 <= alpha <= 6), or the status of a layer that was not analysed",
                "[MH2025] Sec. 2.1, Table 1"),
    "verdict_reason": ("the rule or message behind the verdict", ""),
    # quality columns (setol quality)
    "ecs_rule": ("how the effective correlation space (ECS) was chosen: power-law xmin, the "
                 "detX edge, or a given lambda_min", "[MH2025] Sec. 5.2.3, 6.2"),
    "num_ecs": ("eigenvalues in the ECS", "[MH2025] Sec. 6.2"),
    "erg_residual_at_xmin": ("ERG: sum of ln lambda over the power-law tail on the "
                             "sum(lambda) = M scale (0 at the Ideal point)", "[MH2025] Sec. 6.3"),
    "log10_q": ("layer quality log10 Q with Q^2 = sum over the ECS of G(lambda_i), per spectral "
                "model (log10Q_<model> columns)", "[MH2025] Sec. 5.4; docs/quality.md"),
}


def _registry() -> dict[str, tuple[str, str]]:
    """``name -> (definition with its scale, source)`` from :data:`setol_theory.columns.COLUMNS`."""
    from ..columns import COLUMNS, SCALES

    out: dict[str, tuple[str, str]] = {}
    for name, c in COLUMNS.items():
        text = c.definition
        if c.scale in ("WtW", "ESD"):
            text += f" [scale: {SCALES[c.scale]}]"
        if getattr(c, "missing", ""):
            text += f" Missing: {c.missing}"
        out[name] = (text, c.source)
    return out


def definitions(names: list[str], given: dict[str, Any] | None = None
                ) -> dict[str, tuple[str, str]]:
    """``name -> (definition, source)`` for each column: ``given`` first, then the library's
    registry, then :data:`FALLBACK`; a ``log10Q_<model>`` column is defined from the model
    registry; an unknown column says so."""
    reg = _registry()
    out: dict[str, tuple[str, str]] = {}
    for n in names:
        if given and n in given:
            v = given[n]
            out[n] = (v, "") if isinstance(v, str) else (str(v[0]), str(v[1]))
        elif n in reg:
            out[n] = reg[n]
        elif n in FALLBACK:
            out[n] = FALLBACK[n]
        elif n.startswith("log10Q_") and n.endswith("_ci"):
            out[n] = (f"seeded bootstrap 95% interval [low, high] of log10 Q under model "
                      f"{n[len('log10Q_'):-len('_ci')]!r}: percentiles over resamples of the "
                      "ESD, each refitted (xmin scan, ECS, model); empty when fewer than half "
                      "of the resamples gave a value (setol quality --q-ci K)",
                      "[ET1993] ch. 13; docs/quality.md")
        elif n.startswith("log10Q_"):
            out[n] = _quality_definition(n[len("log10Q_"):])
        else:
            out[n] = ("(no definition recorded for this column)", "")
    return out


def _quality_definition(model: str) -> tuple[str, str]:
    try:
        quality = importlib.import_module("setol_theory.quality")
        desc, source, _ = quality.MODELS[model]
    except (ImportError, KeyError, AttributeError, ValueError):
        return (f"log10 Q of the layer under the spectral model {model!r}", "docs/quality.md")
    return (f"log10 Q under model {model!r}: {desc}", str(source))
