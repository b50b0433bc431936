"""Definitions of the report's columns: one line each, with its source.

The per-layer HTSR columns are defined once, next to the metrics (``setol_theory.htsr``'s column
registry, when it exists); this module only adds the columns the report itself derives (the
quality columns, the verdict) and a fallback for records written before that registry existed.
Sources are keys of docs/references.md ([MH2025] is arXiv:2507.17912).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Fallback definitions: ``column -> (definition, source)``.
FALLBACK: dict[str, tuple[str, str]] = {
    "name": ("layer name in the weights file", ""),
    "kind": ("layer kind inferred from the name and shape (linear, conv, embedding, ...)", ""),
    "status": ("'ok' (analysed), 'skipped' (cannot be analysed) or 'filtered' (outside "
               "min_evals/max_evals); the reason says why", ""),
    "reason": ("why a layer was skipped or filtered", ""),
    "verdict": ("what to look at in this layer: 'under-trained' (alpha > 6), "
                "'over-trained' (alpha < 2), 'no-fit' (power-law fit failed), 'ok' "
                "(2 <= alpha <= 6), or the status of a layer that was not analysed",
                "[MH2025] Sec. 2.1, Table 1"),
    "verdict_reason": ("the rule or message behind the verdict", ""),
    "N": ("larger dimension of the weight matrix W (N x M, N >= M)", "[MH2025] Sec. 2.1"),
    "M": ("smaller dimension of W = number of eigenvalues of X = W^T W / N",
          "[MH2025] Sec. 2.1"),
    "Q": ("aspect ratio N / M (>= 1)", "[MH2025] Table 8"),
    "num_evals": ("eigenvalues computed (M)", ""),
    "normalization": ("eigenvalue scale: 'N' for X = W^T W / N, 'none' for W^T W", ""),
    "lambda_max": ("largest eigenvalue of X", "[MH2025] Sec. 2.1"),
    "alpha": ("power-law exponent of the ESD tail, rho(lambda) ~ lambda^-alpha for lambda >= "
              "xmin (maximum likelihood, KS-optimal xmin)", "[MH2025] Sec. 2.1; [CSN2009]"),
    "alpha_hat": ("alpha * log10(lambda_max) (WeightWatcher's alpha_weighted)",
                  "[MH2025] App. A.1; [MPM2021]"),
    "xmin": ("start of the power-law tail (minimises the KS distance D)", "[CSN2009]"),
    "alpha_sigma": ("standard error of alpha, (alpha - 1) / sqrt(n_tail)", "[CSN2009] Eq. 3.2"),
    "D": ("Kolmogorov-Smirnov distance between the tail and the fitted power law "
          "(0 = perfect; above ~0.1 the fit is poor)", "[CSN2009]"),
    "num_tail": ("eigenvalues >= xmin (the fitted tail)", "[CSN2009]"),
    "fit_status": ("'ok' or why the power-law fit failed", ""),
    "fit_reason": ("why the power-law fit failed", ""),
    "fit_bound_hit": ("the fitted alpha sits on the boundary of the search range", ""),
    "log_norm": ("log10 of the squared Frobenius norm, log10 sum(lambda)", "[MPM2021]"),
    "log_spectral_norm": ("log10 lambda_max", "[MPM2021]"),
    "stable_rank": ("sum(lambda) / lambda_max", "[MPM2021]"),
    "num_zero_evals": ("eigenvalues that are zero (below M eps lambda_max); left out of the MP "
                       "fit and detX", ""),
    "mp_sigma2": ("entry variance sigma^2 of the Marchenko-Pastur fit of the bulk", "[MP1967]"),
    "mp_lambda_plus": ("MP bulk edge lambda_+ = sigma^2 (1 + sqrt(M/N))^2", "[MP1967]"),
    "mp_softrank": ("lambda_+ / lambda_max", "[MPM2021]"),
    "num_spikes": ("eigenvalues above lambda_+ plus the Tracy-Widom margin", "[Joh2001]"),
    "detx_lambda_min": ("TraceLog/detX edge: the lambda where sum of ln lambda_i over the "
                        "eigenvalues above it drops below 0 (sum(lambda) = M scale)",
                        "[MH2025] Sec. 6.3"),
    "delta_lambda_min": ("xmin - detx_lambda_min (0 at the Ideal point alpha = 2)",
                         "[MH2025] Sec. 6.3"),
    "num_ecs_detx": ("eigenvalues above the detX edge", "[MH2025] Sec. 6.3"),
    "num_traps": ("eigenvalues of the element-shuffled W above its MP threshold "
                  "(correlation traps)", "[MH2025] Sec. 6.5"),
    "lambda_max_rand": ("largest eigenvalue of the element-shuffled W", "[MH2025] Sec. 6.5"),
    "threshold_rand": ("trap threshold: lambda_+ of the shuffled layer's MP law plus the "
                       "Tracy-Widom margin", "[MH2025] Sec. 6.5"),
    "warning": ("HTSR label from alpha: under-trained (alpha > 6) or over-trained (alpha < 2)",
                "[MH2025] Sec. 2.1"),
    "eig_device": ("where the eigenvalues were computed", ""),
    "eig_fallback": ("why the eigenvalues were computed elsewhere than asked", ""),
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
    """The column registry of ``setol_theory.htsr`` (``COLUMNS``) when it exists.

    Accepts ``{name: (definition, source)}``, ``{name: definition}`` or ``{name: obj}`` with
    ``definition``/``source`` attributes or keys.
    """
    try:
        htsr = importlib.import_module("setol_theory.htsr")
    except ImportError:  # pragma: no cover
        return {}
    reg = getattr(htsr, "COLUMNS", None)
    if not isinstance(reg, dict):
        return {}
    out: dict[str, tuple[str, str]] = {}
    for name, v in reg.items():
        if isinstance(v, str):
            out[name] = (v, "")
        elif isinstance(v, tuple | list) and v:
            out[name] = (str(v[0]), str(v[1]) if len(v) > 1 else "")
        elif isinstance(v, dict):
            out[name] = (str(v.get("definition", "")), str(v.get("source", "")))
        else:
            out[name] = (str(getattr(v, "definition", v)), str(getattr(v, "source", "")))
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
