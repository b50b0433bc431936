"""The columns of the per-layer record, defined once: name, definition, scale and source.

Every column of :class:`setol_theory.htsr.LayerMetrics` (one row of ``setol analyze``, of the
JSON/CSV exports and of ``analyze-many``'s table) has one entry in :data:`COLUMNS`.  The
glossary (docs/glossary.md, "The per-layer record"), the HTML report's legend and the tests read
it from here, so a column's meaning is written in one place.  This module imports nothing from
the rest of the library (it is light enough for the CLI).

Scales.  An eigenvalue-valued column is on one of two scales, and the registry says which:

* ``"WtW"``: eigenvalues of ``WᵀW`` (squared singular values of ``W``), whatever the analysis
  normalization: the published HTSR metrics (``alpha_weighted``, ``log_norm``,
  ``log_spectral_norm``, ``log_alpha_norm``), as defined in [MM2021], [MPM2021] and
  WeightWatcher [WW], so that they can be put beside published tables;
* ``"ESD"``: the ESD as analysed, recorded per row in the column ``normalization``:
  ``X = WᵀW / N`` (``"N"``, the default; the SETOL scale, arXiv:2507.17912 Sec. 2.1) or
  ``WᵀW`` (``"none"``);
* ``"scale-free"``: exponents, counts, ratios and distances, the same on both scales.

Keys of ``source`` are those of docs/references.md.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COLUMNS", "SCALES", "Column", "column", "glossary_table"]

#: The scale vocabulary of :attr:`Column.scale`.
SCALES: dict[str, str] = {
    "WtW": "eigenvalues of WᵀW (unnormalised; as published)",
    "ESD": "the ESD as analysed: X = WᵀW/N by default, WᵀW with normalization none "
           "(column `normalization`)",
    "scale-free": "does not depend on the eigenvalue scale",
    "": "not a number",
}


@dataclass(frozen=True)
class Column:
    """One column of the per-layer record.

    Attributes
    ----------
    name : str
        The column (field) name.
    definition : str
        What it is, as a formula where there is one (λ: the eigenvalues of the scale given).
    scale : str
        A key of :data:`SCALES`.
    source : str
        Where the quantity is defined: keys of docs/references.md and sections.
    missing : str
        When the value is missing (NaN / empty) and where the reason is given.
    """

    name: str
    definition: str
    scale: str
    source: str = ""
    missing: str = ""


_FIT_MISSING = "NaN when the power-law fit failed (fit_status, fit_reason)"

_C = Column
COLUMNS: dict[str, Column] = {c.name: c for c in (
    _C("name", "layer name (tensor name in the file, also for a pooled conv layer; with "
       "--no-pool conv slices get [i,j])", ""),
    _C("kind", "layer kind: linear, conv1d, conv2d, embedding, attention...; esd for an ESD "
       "given as input (--esd)", ""),
    _C("status", "ok (analysed), skipped (cannot be analysed) or filtered (size limits)", "",
       missing="reason says why a layer is not ok"),
    _C("reason", "why the layer was skipped or filtered; empty when ok", ""),
    _C("N", "larger dimension of W (W is N x M after transposing)", "scale-free",
       "[MH2025] Sec. 2.1", "0 for an ESD given without N (--esd without --esd-n)"),
    _C("M", "smaller dimension of W = number of eigenvalues", "scale-free",
       "[MH2025] Sec. 2.1"),
    _C("Q", "aspect ratio N / M (>= 1)", "scale-free", "[MH2025] Table 8",
       "NaN when N is not known"),
    _C("num_evals", "number of eigenvalues in the ESD (M; k·M for a conv layer pooled over k "
       "kernel positions)", "scale-free"),
    _C("normalization", "scale of the ESD columns: N (X = WᵀW/N) or none (WᵀW)", "",
       "docs/htsr.md"),
    _C("lambda_max", "largest eigenvalue λ_max of the ESD", "ESD"),
    _C("alpha", "power-law exponent α of the ESD tail, ρ(λ) ~ λ^-α for λ >= xmin "
       "(continuous MLE, KS-optimal xmin)", "scale-free", "[CSN2009] Sec. 3; [MM2021]",
       _FIT_MISSING),
    _C("alpha_weighted", "α · log10 λ_max, λ_max of WᵀW (WeightWatcher's alpha_weighted, "
       "the papers' α̂)", "WtW", "[MPM2021]; [WW]", _FIT_MISSING),
    _C("xmin", "start λ_min^PL of the power-law tail", "ESD", "[CSN2009] Sec. 3.3",
       _FIT_MISSING),
    _C("alpha_sigma", "standard error of α: (α - 1)/sqrt(num_tail)", "scale-free",
       "[CSN2009] Eq. (3.2)", _FIT_MISSING),
    _C("alpha_ci_low", "lower end of the seeded bootstrap 95% interval of α (resamples of the "
       "ESD refitted with the xmin scan)", "scale-free", "[CSN2009] Sec. 3.5",
       "NaN unless --alpha-ci K"),
    _C("alpha_ci_high", "upper end of that interval", "scale-free", "[CSN2009] Sec. 3.5",
       "NaN unless --alpha-ci K"),
    _C("D", "Kolmogorov-Smirnov distance between the tail and the fitted power law",
       "scale-free", "[CSN2009] Sec. 3.3", _FIT_MISSING),
    _C("num_tail", "number of eigenvalues >= xmin (0 when the fit failed)", "scale-free"),
    _C("fit_status", "ok or failed (power-law fit)", ""),
    _C("fit_reason", "why the fit failed, or what the alpha range changed", ""),
    _C("fit_bound_hit", "true when the alpha range (1, 20) decided the selected xmin",
       ""),
    _C("num_fingers", "number of top eigenvalues left out of the power-law fit by "
       "--fingers clip_xmax (0 otherwise)", "scale-free", "[WW] fix_fingers; docs/htsr.md"),
    _C("alpha_raw", "α of the plain power-law fit, before the finger handling", "scale-free",
       "[WW] raw_alpha", "NaN unless --fingers xmin_peak|clip_xmax (or --fit e_tpl)"),
    _C("tpl_alpha", "exponent α of the power law with exponential cutoff "
       "ρ(λ) ~ λ^-α e^(-Λλ) fitted by maximum likelihood on the same tail [xmin, xmax] "
       "(not the alpha column)", "scale-free", "[CSN2009] Sec. 5; [WW] fit='TPL'",
       "NaN unless --fit tpl|e_tpl, or when that fit failed"),
    _C("tpl_alpha_sigma", "standard error of tpl_alpha (inverse Fisher information)",
       "scale-free", "[CSN2009] Sec. 5", "as tpl_alpha"),
    _C("tpl_lambda", "cutoff rate Λ of that fit, in units of 1/λ on the ESD's scale (0: the "
       "pure power law is the maximum-likelihood fit)", "ESD", "[CSN2009] Sec. 5; [WW] Lambda",
       "as tpl_alpha"),
    _C("tpl_D", "Kolmogorov-Smirnov distance between the tail and that fit (same convention "
       "as D)", "scale-free", "[CSN2009] Sec. 3.3", "as tpl_alpha"),
    _C("lr_lognormal", "normalised log-likelihood ratio R/sqrt(n var) of the power law vs a "
       "lognormal fitted to the same tail (> 0 favours the power law)", "scale-free",
       "[CSN2009] Sec. 5; [ABP2014]", "NaN when the tail is not graded or with --no-lr-tests"),
    _C("lr_lognormal_p", "p-value of the sign of lr_lognormal (Vuong: erfc(|R|/sqrt 2))",
       "scale-free", "[CSN2009] Sec. 5", "as lr_lognormal"),
    _C("lr_exponential", "normalised log-likelihood ratio of the power law vs an exponential "
       "fitted to the same tail (> 0 favours the power law)", "scale-free",
       "[CSN2009] Sec. 5; [ABP2014]", "as lr_lognormal"),
    _C("lr_exponential_p", "p-value of the sign of lr_exponential", "scale-free",
       "[CSN2009] Sec. 5", "as lr_lognormal"),
    _C("lr_tpl", "normalised log-likelihood ratio of the power law vs a truncated power law "
       "x^-α e^-λx on the same tail (nested; < 0 favours the cutoff)", "scale-free",
       "[CSN2009] Sec. 5", "NaN unless --lr-tpl or --fit tpl|e_tpl"),
    _C("lr_tpl_p", "Wilks p-value of the nested test, chi2(1).sf(2|R|)", "scale-free",
       "[CSN2009] Sec. 5", "NaN unless --lr-tpl or --fit tpl|e_tpl"),
    _C("pl_bootstrap_p", "semi-parametric bootstrap p-value of the power-law fit (share of "
       "synthetic samples with a larger KS distance; < 0.1 rules the power law out)",
       "scale-free", "[CSN2009] Sec. 4.1", "NaN unless --bootstrap K"),
    _C("verdict", "plain verdict on the tail: power law plausible (the CSN bootstrap passed "
       "and no alternative is better), no better alternative (no alternative is better; "
       "without --bootstrap, plausibility not tested), lognormal favoured, not heavy-tailed "
       "(exponential favoured), truncated power law favoured, power law ruled out (bootstrap "
       "p < 0.1), tail too short (< 20 eigenvalues), tail is the bulk (> half the spectrum), "
       "not tested (a fit with --xmax), no fit",
       "", "docs/htsr.md", "verdict_reason says why"),
    _C("verdict_reason", "the numbers behind the verdict", ""),
    _C("log_norm", "log10 Σλ = log10 ‖W‖_F², λ of WᵀW", "WtW", "[MPM2021]; [WW]"),
    _C("log_spectral_norm", "log10 λ_max = log10 ‖W‖_2², λ of WᵀW", "WtW",
       "[MPM2021]; [WW]"),
    _C("log_alpha_norm", "log10 Σ λ^α (the Schatten α-norm of W to the power 2α), λ of WᵀW",
       "WtW", "[MPM2021]; [WW]", _FIT_MISSING),
    _C("stable_rank", "Σλ / λ_max", "scale-free", "[MPM2021]"),
    _C("num_zero_evals", "eigenvalues below M·eps·λ_max (exact zeros); left out of the MP "
       "fit and detX", "scale-free", "docs/htsr.md"),
    _C("mp_sigma2", "σ² (entry variance) of the Marchenko-Pastur law fitted to the bulk "
       "(KS-minimising, spikes removed)", "ESD", "[MP1967]; docs/htsr.md",
       "describes the ESD only when mp_status is ok"),
    _C("mp_lambda_plus", "MP bulk edge λ_+ = σ²(1 + sqrt(M/N))²", "ESD", "[MP1967]"),
    _C("mp_softrank", "λ_+ / λ_max", "scale-free", "[MM2021]; [WW]",
       "NaN unless mp_status is ok"),
    _C("num_spikes", "eigenvalues above the MP edge of the bulk plus the Tracy-Widom 0.99 "
       "margin (a pooled conv ESD of k slices: the largest of k, TW quantile 0.99^(1/k)): "
       "outliers of an MP bulk", "scale-free", "[Joh2001]; [Bor2010]; docs/htsr.md",
       "NaN unless mp_status is ok (a heavy-tailed ESD is not bulk + spikes)"),
    _C("mp_status", "ok: the bulk is MP-like (the MP curve and num_spikes apply; a pooled "
       "conv ESD is tested against the pooled null of its k slices); not-mp-like: "
       "heavy-tailed ESD, not bulk + spikes; too-small: fewer than 50 eigenvalues (or fewer "
       "than 8 per conv slice); unavailable: N not known (ESD input)", "", "docs/htsr.md",
       "mp_reason says why"),
    _C("mp_reason", "why mp_status is not ok (the distance or the edge count, and the limit)",
       ""),
    _C("mp_ks_distance", "KS distance between the bulk (eigenvalues below the spike "
       "threshold) and the fitted MP law", "scale-free", "[CSN2009] Sec. 3.3; docs/htsr.md"),
    _C("detx_lambda_min", "TraceLog/detX ECS edge: the k-th largest eigenvalue, k the first "
       "with Σ ln λ < 0 on the Σλ = M scale, reported on the ESD scale", "ESD",
       "[MH2025] Sec. 5.2-5.3, 6.3"),
    _C("delta_lambda_min", "xmin - detx_lambda_min", "ESD", "[MH2025] Eq. (164), Sec. 6.3",
       _FIT_MISSING),
    _C("num_ecs_detx", "number of eigenvalues in the detX ECS", "scale-free",
       "[MH2025] Sec. 5.2-5.3"),
    _C("num_traps", "eigenvalues of the element-shuffled W above its MP edge plus the TW "
       "margin (correlation traps)", "scale-free", "[MH2025] Sec. 3.3.1, 6.5",
       "NaN when the trap test is off (--no-traps)"),
    _C("lambda_max_rand", "largest eigenvalue of the shuffled W", "ESD",
       "[MH2025] Sec. 6.5", "NaN when the trap test is off"),
    _C("threshold_rand", "trap threshold: MP edge of the shuffled W plus the TW margin",
       "ESD", "docs/htsr.md", "NaN when the trap test is off"),
    _C("warning", "HTSR label from alpha: over-trained (α < 2), under-trained (α > 6), "
       "no-fit, or small-tail (verdict tail too short / tail is the bulk: not graded)", "",
       "[MH2025] Sec. 2.1, Table 1; [WW]"),
    _C("eig_device", "where the eigenvalues were computed", ""),
    _C("eig_fallback", "why another eigenvalue route was used, if one was", ""),
)}


def column(name: str) -> Column:
    """The registry entry of a column; ``KeyError`` naming the column if there is none."""
    try:
        return COLUMNS[name]
    except KeyError:
        raise KeyError(f"no column {name!r} in setol_theory.columns.COLUMNS") from None


def glossary_table() -> str:
    """The per-layer record as a Markdown table (the block of docs/glossary.md)."""
    lines = ["| column | definition | scale | source | missing when |", "|---|---|---|---|---|"]
    for c in COLUMNS.values():
        cells = (f"`{c.name}`", c.definition, c.scale or "-", c.source or "-", c.missing or "-")
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines)
