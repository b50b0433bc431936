"""The HTML report of one analysed model (``setol analyze --html``, ``setol quality --html``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._choices import HTML_FIGURES, HTML_MAX_FIGURES
from ..errors import OptionError
from ._html import ANALYZE_COLUMNS, PNG_COLORS, Section, png_bytes, verdict_class, write_html_report
from ._style import display_name
from ._verdict import layer_verdict


def _quality_columns(qrec: Mapping[str, Any], models: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"quality_status": qrec.get("status")}
    ecs = qrec.get("ecs") or {}
    out["ecs_rule"] = ecs.get("rule")
    out["num_ecs"] = ecs.get("num_ecs")
    out["erg_residual_at_xmin"] = ecs.get("erg_residual_at_xmin")
    q = qrec.get("quality") or {}
    for m in models:
        mq = q.get(m) or {}
        out[f"log10Q_{m}"] = mq.get("log10_q")
        if mq.get("ci_replicates"):
            lo, hi = mq.get("log10_q_ci_low"), mq.get("log10_q_ci_high")
            out[f"log10Q_{m}_ci"] = (f"[{lo:.3g}, {hi:.3g}]" if lo is not None
                                     and hi is not None else None)
    if qrec.get("status") not in ("ok", None) and qrec.get("reason"):
        out["quality_reason"] = qrec["reason"]
    return out


def analysis_rows(analysis: Any) -> list[dict[str, Any]]:
    """One plain dict per layer: the HTSR record, its verdict and reason, and (when the
    analysis carries a quality report) the ECS and ``log10Q_<model>`` columns."""
    rows = []
    qrecs: dict[str, dict[str, Any]] = {}
    models: Sequence[str] = ()
    if analysis.quality is not None:
        qj = analysis.quality.to_json_dict()
        models = list(qj.get("models") or ())
        qrecs = {r["name"]: r for r in qj["layers"]}
    for m in analysis.layers:
        rec = m.to_dict()
        rec["verdict"], rec["verdict_reason"] = layer_verdict(rec)
        if m.name in qrecs:
            rec.update(_quality_columns(qrecs[m.name], models))
        rows.append(rec)
    return rows


def _quality_section(analysis: Any, curve: Any, title: str) -> Section:
    from ._figures import plot_quality_vs_alpha

    report = analysis.quality
    qj = report.to_json_dict()
    recs = report.with_quality
    models = list(qj.get("models") or ())
    alphas = np.array([r.alpha if r.alpha is not None else np.nan for r in recs], dtype=float)
    logq = {m: np.array([r.quality.models[m].log10_q
                         if r.quality is not None and r.quality.models[m].log10_q is not None
                         else np.nan for r in recs], dtype=float) for m in models}
    figs = []
    if recs:
        fig = png_bytes(plot_quality_vs_alpha(alphas, logq, curve=curve, title=title))
        figs.append((fig, "log10 Q of each layer against its fitted alpha, one panel per "
                          "spectral model, with the model-derived curve."))
    paras = [
        "Each point is one layer: its SETOL quality log10 Q (Q^2 = sum over the effective "
        "correlation space of G(lambda_i), arXiv:2507.17912 Sec. 5.4) under one spectral model, "
        "against the layer's fitted power-law alpha. The line is the model-derived curve: the "
        "same quality computed on synthetic inverse-Marchenko-Pastur spectra whose fitted alpha "
        "spans the range (setol quality --curve imp). The dotted vertical line is alpha = 2, "
        "the Ideal point where the ECS and the power-law tail coincide (Sec. 6.3).",
        "Real layers are not expected on the curve: it is one synthetic family (inverse "
        "Marchenko-Pastur spectra with Q = 2 and one size M), while a layer has its own aspect "
        "ratio, ECS size and tail shape, and Q^2 is a sum over its ECS. Compare layers with "
        "each other, and read the curve for the trend in alpha, not as a fit.",
    ]
    mq = qj.get("model_quality") or {}
    rows = [[m, (qj["models"][m] or {}).get("description", ""),
             (qj["models"][m] or {}).get("source", ""),
             (mq.get(m) or {}).get("log10_q")] for m in models]
    return Section(title="Quality vs alpha", paragraphs=paras, figures=figs,
                   table_head=["model", "description", "source", "log10 Q_NN (sum over layers)"],
                   table_rows=rows, id="quality")


def analysis_warnings(analysis: Any, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Plain sentences about what the reader should know before trusting the table."""
    out = []
    s = analysis.summary()
    if s["num_skipped"]:
        out.append(f"{s['num_skipped']} layer(s) could not be analysed (reason in the table).")
    if s["num_filtered"]:
        out.append(f"{s['num_filtered']} layer(s) were outside min_evals/max_evals.")
    if s["num_fit_failed"]:
        out.append(f"{s['num_fit_failed']} layer(s) have no power-law fit (verdict no-fit).")
    bound = [r["name"] for r in rows if r.get("fit_bound_hit")]
    if bound:
        out.append(f"{len(bound)} layer(s) have alpha on the boundary of the search range: "
                   + ", ".join(bound[:5]) + (" ..." if len(bound) > 5 else ""))
    fall = [r["name"] for r in rows if r.get("eig_fallback")]
    if fall:
        out.append(f"{len(fall)} layer(s) had their eigenvalues computed on a fallback device.")
    labels: dict[str, list[str]] = {}
    for r in rows:
        if r.get("warning"):
            labels.setdefault(str(r["warning"]), []).append(str(r["name"]))
    for lab, names in sorted(labels.items()):
        out.append(f"{len(names)} layer(s) with warning '{lab}': " + ", ".join(names[:4])
                   + (" ..." if len(names) > 4 else ""))
    return out


#: ``warning`` labels from alpha alone (arXiv:2507.17912 Sec. 2.1, Table 1): flagged before
#: the other labels (``small-tail``: a tail too short to grade).
_ALPHA_LABELS = ("over-trained", "under-trained")


def _flag_rank(row: Mapping[str, Any]) -> int | None:
    """How strongly a row asks to be looked at: 0 a bad verdict (power law ruled out, no
    fit...), 1 a verdict to watch (not heavy-tailed, lognormal favoured, under-trained...),
    2 only an alpha ``warning`` (over- or under-trained), 3 only another ``warning``
    (small-tail); ``None``: not flagged (a good or not-graded verdict and no warning)."""
    cls = verdict_class(str(row.get("verdict") or ""))
    if cls == "v-bad":
        return 0
    if cls == "v-warn":
        return 1
    if row.get("warning"):
        return 2 if row["warning"] in _ALPHA_LABELS else 3
    return None


#: What "flagged" means for the rows of an analysis (the default ``rank`` of select_figures).
FLAGGED_LAYERS = "whose verdict is bad or to watch, or that carry a warning"
FLAGGED_ORDER = ("worst first (a bad verdict, then a verdict to watch, then an over- or "
                 "under-trained warning, then another warning)")


def select_figures(rows: Sequence[Mapping[str, Any]], mode: str = "auto",
                   max_figures: int = HTML_MAX_FIGURES, *,
                   rank: Callable[[Mapping[str, Any]], float | None] = _flag_rank,
                   flagged: str = FLAGGED_LAYERS,
                   order: str = FLAGGED_ORDER) -> tuple[list[str], str]:
    """Which layers get a figure in the report, and in words which were left out by what rule.

    Parameters
    ----------
    rows : sequence of dict
        The rows of the analysed layers (``name``, ``verdict``, ``warning``), in table order.
    mode : {"auto", "all", "flagged", "none"}
        ``all``: every row; ``flagged``: the rows whose verdict is bad or to watch, or that
        carry a ``warning``; ``none``: no row; ``auto``: every row when there are at most
        ``max_figures``, otherwise the flagged rows, worst first (bad verdict, verdict to
        watch, over- or under-trained warning, another warning; table order within each), at
        most ``max_figures``.
    max_figures : int
        The ``auto`` limit (>= 0).
    rank : callable, optional
        ``row -> number or None``: ``None`` for a row that is not flagged, otherwise lower is
        worse (drawn first). Default: the verdict and warning order above (``setol compare``
        ranks by ``-|d_alpha|``).
    flagged, order : str
        What a flagged row is (after "the layers") and the order of ``rank``, in words, for
        ``rule``.

    Returns
    -------
    names : list of str
        The layers to draw, in table order.
    rule : str
        Empty when every row gets a figure; otherwise the rule that left the others out.
    """
    if mode not in HTML_FIGURES:
        raise OptionError(f"figures must be one of {', '.join(HTML_FIGURES)}, got {mode!r}")
    if max_figures < 0:
        raise OptionError(f"max_figures must be >= 0, got {max_figures}")
    names = [str(r["name"]) for r in rows]
    if mode == "all" or (mode == "auto" and len(rows) <= max_figures):
        return names, ""
    if mode == "none":
        return [], "no per-layer figures were asked for (figures 'none')"
    ranked = sorted((k, i) for i, r in enumerate(rows) if (k := rank(r)) is not None)
    if mode == "flagged":
        keep = {i for _, i in ranked}
        rule = f"figures only for the layers {flagged} (figures 'flagged')"
    else:
        keep = {i for _, i in ranked[:max_figures]}
        rule = (f"{len(rows)} layers, more than {max_figures}: figures only for the layers "
                f"{flagged}" + (f", the first {max_figures} of {len(ranked)}, {order}"
                                if len(ranked) > max_figures else "") + " (figures 'auto')")
    return [n for i, n in enumerate(names) if i in keep], rule


def write_analysis_report(path: str | Path, analysis: Any, *, title: str | None = None,
                          curve: Any = None, figures: bool | str = "auto",
                          max_figures: int = HTML_MAX_FIGURES,
                          png_colors: int | None = PNG_COLORS,
                          command: str = "setol analyze") -> Path:
    """Write the HTML report of a :class:`setol_theory.pipeline.ModelAnalysis`.

    Parameters
    ----------
    path : str or Path
        The ``.html`` file.
    analysis : ModelAnalysis
        Per-layer figures need its eigenvalues (``analyze(..., keep_evals=True)``); the
        quality section needs ``analysis.quality`` (``analyze(..., quality=...)``).
    title : str, optional
        Default: the model's file name (never the full machine path).
    curve : QualityCurve, optional
        Model-derived curve for the quality figure (computed here when the analysis has a
        quality report and no curve is given).
    figures : {"auto", "all", "flagged", "none"} or bool
        Which analysed layers get an ESD figure (they need the eigenvalues): see
        :func:`select_figures`; ``True`` is ``"all"``, ``False`` ``"none"``. The default
        ``"auto"`` draws every layer up to ``max_figures`` layers, and beyond that only the
        flagged ones, at most ``max_figures``, so a page of a 1,000-layer model stays a few
        MB (docs/report.md). The page names every layer left out, the rule, and how to get
        the figures; the table and the JSON keep every layer.
    max_figures : int
        The ``"auto"`` limit (default :data:`setol_theory._choices.HTML_MAX_FIGURES`).
    png_colors : int or None
        Palette size of the embedded PNGs (:func:`setol_theory.report.png_bytes`; ``None``:
        matplotlib's RGBA PNG, about three times the bytes).
    command : str
        The command that made the analysis (shown in the subtitle).

    Returns
    -------
    Path
        The file written.
    """
    from ._figures import plot_layer_esd

    name = display_name(analysis.source)
    rows = analysis_rows(analysis)
    summary = analysis.summary()
    mode = ("all" if figures else "none") if isinstance(figures, bool) else figures
    by_name = {str(r["name"]): r for r in rows}
    analysed = list(analysis.analysed)
    chosen, rule = select_figures([by_name[m.name] for m in analysed], mode, max_figures)
    wanted = set(chosen)
    figs: dict[str, Any] = {}
    no_evals = []
    for m in analysed:
        if m.name not in wanted:
            continue
        ev = analysis.evals.get(m.name)
        if ev is None:
            no_evals.append(m.name)
        else:  # closes the figure
            figs[m.name] = png_bytes(plot_layer_esd(ev, m), colors=png_colors)
    left_out = [m.name for m in analysed if m.name not in figs]
    left_note = left_out_note(len(analysed), len(left_out), rule, no_evals)
    sections = []
    if analysis.quality is not None:
        if curve is None:
            curve = default_quality_curve(analysis.quality)
        sections.append(_quality_section(analysis, curve, name))
    columns = list(ANALYZE_COLUMNS)
    fit_opts = analysis.settings or {}
    if fit_opts.get("fingers", "none") != "none" or fit_opts.get("fit") == "e_tpl":
        i = columns.index("alpha_sigma") + 1
        columns[i:i] = ["alpha_raw"] + (["num_fingers"] if fit_opts.get("fingers") ==
                                        "clip_xmax" else [])
    if fit_opts.get("fit", "pl") != "pl":
        i = columns.index("D") + 1
        columns[i:i] = ["tpl_alpha", "tpl_alpha_sigma", "tpl_lambda", "tpl_D"]
    if analysis.quality is not None:
        models = list(analysis.quality.to_json_dict().get("models") or ())
        ci = bool((analysis.quality.settings or {}).get("q_ci"))
        columns += ["num_ecs", "erg_residual_at_xmin"] + [
            c for m in models for c in (f"log10Q_{m}", *((f"log10Q_{m}_ci",) if ci else ()))]
    cards = [("layers analysed", f"{summary['num_analysed']} of {summary['num_layers']}"),
             ("mean alpha", summary["mean_alpha"]),
             ("mean alpha_weighted", summary.get("mean_alpha_weighted")),
             ("mean log_norm", summary["mean_log_norm"])]
    data: dict[str, Any] = analysis.to_json_dict()
    data["layers"] = rows
    if analysis.quality is not None:
        data["quality"] = analysis.quality.to_json_dict()
        if curve is not None:
            data["quality_curve"] = curve.to_dict()
    warnings = analysis_warnings(analysis, rows)
    if left_out:
        warnings.append(f"{len(left_out)} of {len(analysed)} analysed layer(s) have no figure "
                        "in this page (Per-layer figures says which and why); the table and "
                        "the JSON keep every layer.")
    return write_html_report(
        path, title=title or f"setol report: {name}", rows=rows, summary=summary,
        settings=analysis.settings, warnings=warnings, figures=figs,
        figures_left_out=left_out, figures_left_out_note=left_note, png_colors=png_colors,
        columns=columns, data=data, sections=sections, cards=cards,
        subtitle=f"{command} {name}",
        figures_note=("Each layer: the ESD on log-log axes with the power-law fit from xmin, "
                      "and the bulk on linear axes with the Marchenko-Pastur fit where the "
                      "bulk is acceptable (docs/htsr.md). Click a layer name in the table to "
                      "jump to its figure."),
        figure_caption=lambda r: f"{r['name']} — {r['verdict']}: {r['verdict_reason']}",
    )


_HOW = ("setol analyze (or quality) ... --html-figures all for every layer in the page (about "
        "35 kB each), --plot DIR for one PNG file per layer, or from Python "
        "write_analysis_report(path, analysis, figures='all')")


def left_out_note(n: int, k: int, rule: str, no_evals: Sequence[str] = (),
                  how: str = _HOW, unit: str = "analysed layers") -> str:
    """The sentence over the list of layers without a figure: ``k`` of ``n`` have none, the
    ``rule`` (:func:`select_figures`) and the layers without eigenvalues that left them out,
    and ``how`` to get them; ``unit`` names the rows. Empty when ``k`` is 0."""
    if not k:
        return ""
    why = []
    if rule:
        why.append(rule)
    if no_evals:
        why.append(f"{len(no_evals)} layer(s) have no eigenvalues in the analysis (analyze "
                   "with keep_evals=True)")
    return (f"{k} of {n} {unit} have no figure here: " + "; ".join(why) + ". To "
            f"get them: {how}. Their rows are in the table and in the JSON.")


def default_quality_curve(report: Any) -> Any:
    """The model-derived IMP curve the CLI draws: alpha from 0.1 to max(6, 1.5 max alpha),
    M = median M of the layers, the report's ECS rule and models; ``None`` without layers."""
    from ..quality import quality_curve

    recs = report.with_quality
    alphas = np.array([r.alpha if r.alpha is not None else np.nan for r in recs], dtype=float)
    if not recs or not np.isfinite(alphas).any():
        return None
    from ..options import QualityOptions

    s, d = report.settings, QualityOptions()
    ecs = s.get("ecs", d.ecs)
    top = float(np.nanmax(alphas))
    mm = int(np.median([r.M for r in recs]))
    return quality_curve("imp", np.geomspace(0.1, min(max(6.0, 1.5 * top), 16.0), 20),
                         M=max(mm, 10), ecs=ecs if isinstance(ecs, str) else "detx",
                         models=tuple(s.get("models") or d.models), scale=s.get("scale", d.scale),
                         detx_rule=s.get("detx_rule", d.detx_rule),
                         min_ecs=s.get("min_ecs", d.min_ecs), K=s.get("K", d.K))
