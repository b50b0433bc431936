"""``setol quality``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ..options import AnalysisOptions, QualityOptions
from ._common import (
    EXIT_OK,
    CLIError,
    _check_html_figures,
    _check_outputs,
    _ensure_parent,
    _fmt,
    _resolve_source,
    about,
    name_width,
    options_from_args,
)


def cmd_quality(args: argparse.Namespace) -> int:
    """``setol quality``: per-layer SETOL quality of a model, or a model-derived curve."""
    import numpy as np

    from ..quality import quality_curve

    # ---- options: one QualityOptions, and the analysis options the quality needs
    qopts = options_from_args(QualityOptions, args)
    if args.curve_M < 10:
        raise CLIError(f"--curve-M must be >= 10, got {args.curve_M}")
    ecs, models = qopts.ecs, qopts.models
    common = {"models": models, "scale": qopts.scale, "detx_rule": qopts.detx_rule,
              "min_ecs": qopts.min_ecs, "K": qopts.K}
    widths = {m: max(6, len(m)) for m in models}

    def qcell(mq: Any, m: str) -> str:
        if mq is None:
            return "-".rjust(widths[m])
        if mq.log10_q is None:
            return ("n/a" if mq.status == "n/a" else "err").rjust(widths[m])
        return f"{mq.log10_q:.2f}".rjust(widths[m])

    def write_json(payload: dict[str, Any]) -> None:
        _ensure_parent(args.json)
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=1, allow_nan=False)

    _check_outputs(args, files=("json", "html"), dirs=("plot",))
    _check_html_figures(args)

    if args.curve and qopts.q_ci:
        raise CLIError("--q-ci gives intervals of the quality of a model's layers (or of "
                       "--esd FILE); it does not apply to --curve")

    # ---- quality vs the ECS edge of given ESDs
    if args.curve == "ecs":
        return _ecs_curves(args, qopts, widths, write_json)

    # ---- model-derived curve, no model file
    if args.curve:
        if args.path is not None:
            raise CLIError("--curve computes a model-derived curve on synthetic spectra; "
                           "do not pass a model PATH with it")
        if not isinstance(ecs, str):
            raise CLIError("--curve needs --ecs xmin or detx (a fixed lambda_min has no "
                           "meaning across synthetic spectra)")
        parts = args.alpha.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            lo_a, hi_a = float(parts[0]), float(parts[1])
            npts = int(parts[2]) if len(parts) == 3 else int(round((hi_a - lo_a) / 0.25)) + 1
        except ValueError:
            raise CLIError(f"--alpha must be A:B or A:B:N (e.g. 1.5:6), got {args.alpha!r}"
                           ) from None
        if not (math.isfinite(lo_a) and math.isfinite(hi_a) and lo_a < hi_a and npts >= 2):
            raise CLIError(f"--alpha A:B[:N] needs finite A < B and N >= 2, got {args.alpha!r}")
        if npts > 400:
            raise CLIError(f"--alpha: at most 400 points, got {npts}")
        alphas = np.linspace(lo_a, hi_a, npts)
        try:
            curve = quality_curve(args.curve, alphas, M=args.curve_M, ecs=ecs, seed=qopts.seed,
                                  **common)
        except ValueError as exc:
            raise CLIError(f"--curve {args.curve}: {exc}") from exc
        if not args.quiet:
            head = (f"{'alpha':>6} {'a_fit':>6} {'xmin':>8} {'l_detX':>8} {'dl/xmin':>8} "
                    f"{'M_ecs':>5} {'n_tail':>6} " + " ".join(m.rjust(widths[m]) for m in models))
            print(f"{curve.label}\n{head}\n{'-' * len(head)}")
            for i, a in enumerate(curve.alpha):
                vals = [curve.alpha_fit[i], curve.xmin[i], curve.lambda_min_detx[i],
                        curve.rel_delta_lambda_min[i]]
                if not np.isfinite(curve.num_ecs[i]):
                    print(f"{a:6.3f}  (no ECS)")
                    continue
                cells = [_fmt(float(v), s, w) for v, s, w in zip(
                    vals, (".3f", ".4g", ".4g", "+.3f"), (6, 8, 8, 8), strict=True)]
                qs = " ".join((f"{curve.log10_q[m][i]:.2f}" if np.isfinite(curve.log10_q[m][i])
                               else "-").rjust(widths[m]) for m in models)
                print(f"{a:6.3f} {' '.join(cells)} {int(curve.num_ecs[i]):5d} "
                      f"{int(curve.num_tail[i]):6d} {qs}")
            ca = curve.critical_alpha()
            print("\nDelta lambda_min changes sign at fitted alpha = "
                  + (f"{ca:.3f} (theory: 2)" if ca is not None else "- (no crossing in range)")
                  + f"; log10 Q on the {qopts.scale} scale")
        if getattr(args, "html", None):
            raise CLIError("--html reports a model's layers; with --curve use --json or --plot")
        if args.json:
            write_json({"curve": curve.to_dict(), "settings": {**common, "models": list(models),
                        "ecs": ecs, "family": args.curve, "M": args.curve_M, "seed": qopts.seed}})
        if args.plot:
            from ..report import plot_quality_curve

            out = Path(args.plot)
            out.mkdir(parents=True, exist_ok=True)
            plot_quality_curve(curve, out / f"quality_curve_{args.curve}.png")
        return EXIT_OK

    # ---- a real model
    from ..pipeline import LayerError, analyze

    esd = getattr(args, "esd", None)
    if esd and args.path:
        raise CLIError("--esd takes the eigenvalues from FILE: give no PATH with it")
    source = esd or _resolve_source(args.path, args.download)
    aopts = options_from_args(AnalysisOptions, args, normalization="N", traps=False)
    if not args.quiet:
        print(f"setol quality: {source}", file=sys.stderr)
    try:
        if esd:
            from ..pipeline import analyze_esd

            result = analyze_esd(source, aopts, N=args.esd_n, scale=args.esd_scale,
                                 quality=qopts, keep_evals=bool(args.plot or args.html))
        else:
            result = analyze(source, aopts, quality=qopts,
                             keep_evals=bool(args.plot or args.html),
                             on_error="record" if args.keep_going else "raise",
                             progress=not args.quiet)
        report = result.quality
    except LayerError as exc:
        raise CLIError(about(source, f"{exc} (use --keep-going to record it and go on)")
                       ) from exc
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        raise CLIError(about(source, str(exc))) from exc

    if not args.quiet:
        cols = [("alpha", 6, ".3f"), ("a_w", 7, ".3f"),
                ("M_ecs", 5, "d"), ("n_tail", 6, "d"), ("dl_min", 9, ".3g"), ("ERG", 7, ".1f")]
        fixed = sum(w + 1 for _, w, _ in cols) + sum(widths[m] + 1 for m in models)
        name_w = name_width(["layer", *(r.name for r in report.layers)], fixed)
        cols.insert(0, ("layer", name_w, "s"))
        head = " ".join(_fmt(h, "s", w) if s == "s" else h.rjust(w) for h, w, s in cols)
        head += " " + " ".join(m.rjust(widths[m]) for m in models)
        print(head)
        print("-" * len(head))
        for r in report.layers:
            if r.quality is None:
                print(f"{_fmt(r.name, 's', name_w)} {r.status}: {r.reason}")
                continue
            e = r.quality.ecs
            vals = [r.name, r.alpha, r.alpha_weighted, e.num_ecs, e.num_tail, e.delta_lambda_min,
                    e.erg_residual_at_xmin]
            line = " ".join(_fmt(v, s, w) for v, (_, w, s) in zip(vals, cols, strict=True))
            print(line + " " + " ".join(qcell(r.quality.models.get(m), m) for m in models))
        if qopts.q_ci > 0:
            _interval_table(report, models)
        print(f"\nECS rule {ecs!r}; log10 Q per model (Q^2 = sum_ECS G(lambda_i), "
              f"{qopts.scale} scale); ERG = sum of ln lambda over the power-law tail "
              "(sum(lambda) = M scale, 0 at the Ideal point); dl_min = xmin - lambda_min^detX "
              "(X = W^T W / N scale)")
        mq = report.model_quality()
        parts = []
        for m in models:
            d = mq.get(m, {})
            if d.get("log10_q") is None:
                parts.append(f"{m}=-")
                continue
            tag = "" if d["complete"] else f" ({d['num_layers']}/{len(report.with_quality)})"
            parts.append(f"{m}={d['log10_q']:.2f}{tag}")
        n_ok = len(report.with_quality)
        n_no = sum(1 for r in report.layers if r.status == "no-ecs")
        print(f"model quality log10 Q_NN = sum over the {n_ok} layers with an ECS"
              + (f" ({n_no} analysed layer(s) without one are left out)" if n_no else "")
              + ": " + " ".join(parts))
        cor = report.correlations()
        for key, label in (("erg_residual_at_xmin_vs_alpha", "ERG"),
                           ("rel_delta_lambda_min_vs_alpha", "Delta lambda_min / xmin")):
            c = cor[key]
            if c["pearson"] is None:
                print(f"{label} vs alpha: no correlation ({c['reason']})")
            else:
                print(f"{label} vs alpha across {c['n']} layers: Pearson r = "
                      f"{c['pearson']:+.3f}, Spearman rho = {c['spearman']:+.3f}")
    else:  # no table: a layer that could not be analysed still says why, on stderr
        for r in report.layers:
            if r.status not in ("ok", "filtered"):
                print(f"setol quality: {r.name}: {r.status}: {r.reason}", file=sys.stderr)
    payload = report.to_json_dict()
    curve = None
    if args.plot:
        from ..report import plot_ecs_esd, plot_erg_vs_alpha, plot_quality_vs_alpha, safe_filename

        out = Path(args.plot)
        (out / "esd").mkdir(parents=True, exist_ok=True)
        recs = report.with_quality
        for r in recs:
            assert r.quality is not None
            plot_ecs_esd(result.evals[r.name], r.quality.ecs,
                         out / "esd" / f"{safe_filename(r.name)}.png", name=r.name)
        alphas = np.array([r.alpha if r.alpha is not None else np.nan for r in recs])
        if recs and np.isfinite(alphas).any():
            top = float(np.nanmax(alphas))
            mm = int(np.median([r.M for r in recs]))
            curve = quality_curve("imp", np.geomspace(0.1, min(max(6.0, 1.5 * top), 16.0), 20),
                                  M=max(mm, 10), ecs=ecs if isinstance(ecs, str) else "detx",
                                  **common)
            payload["curve"] = curve.to_dict()
        logq = {m: np.array([r.quality.models[m].log10_q
                             if r.quality is not None and r.quality.models[m].log10_q is not None
                             else np.nan for r in recs]) for m in models}
        plot_quality_vs_alpha(alphas, logq, out / "quality_vs_alpha.png", curve=curve,
                              title=str(source))
        ergs = np.array([np.nan if r.quality is None or r.quality.ecs.erg_residual_at_xmin is None
                         else r.quality.ecs.erg_residual_at_xmin for r in recs])
        rel = np.array([np.nan if r.quality is None or r.quality.ecs.delta_lambda_min is None
                        else r.quality.ecs.delta_lambda_min / r.quality.ecs.xmin for r in recs])
        plot_erg_vs_alpha(alphas, ergs, rel, out / "erg_vs_alpha.png", curve=curve,
                          title=str(source))
        if not args.quiet:
            print(f"plots: {len(recs)} ESD figures in {out / 'esd'}, quality_vs_alpha.png, "
                  f"erg_vs_alpha.png in {out}", file=sys.stderr)
    if args.json:
        write_json(payload)
    if args.html:
        from ..report import write_analysis_report

        _ensure_parent(args.html)
        path = write_analysis_report(args.html, result, curve=curve,
                                     command="setol quality", figures=args.html_figures,
                                     max_figures=args.html_max_figures)
        print(f"report: {path}", file=sys.stderr)
    if not report.with_quality:
        raise CLIError(f"{source}: no layer has an effective correlation space "
                       "(reasons in the table above)")
    return EXIT_OK


def _interval_table(report: Any, models: tuple[str, ...]) -> None:
    """The ``--q-ci`` block: each layer's bootstrap interval ``[low, high]`` of log10 Q."""
    recs = report.with_quality
    if not recs:
        return
    w = {m: max(len(m), 13) for m in models}
    name_w = name_width(["layer", *(r.name for r in recs)], sum(w[m] + 1 for m in models))
    head = _fmt("layer", "s", name_w) + " " + " ".join(m.rjust(w[m]) for m in models)
    mq0 = next(iter(recs[0].quality.models.values()))
    print(f"\nlog10 Q: 95% bootstrap interval [low, high] from {mq0.ci_replicates} resamples "
          "of each ESD (percentiles; each resample refitted, ECS and model redone)")
    print(head)
    print("-" * len(head))
    missing = 0
    for r in recs:
        cells = []
        for m in models:
            mq = r.quality.models.get(m)
            if mq is None or mq.log10_q_ci_low is None or mq.log10_q_ci_high is None:
                missing += mq is not None and mq.ok
                cells.append("-".rjust(w[m]))
            else:
                cells.append(f"[{mq.log10_q_ci_low:.2f}, {mq.log10_q_ci_high:.2f}]".rjust(w[m]))
        print(_fmt(r.name, "s", name_w) + " " + " ".join(cells))
    if missing:
        print(f"{missing} interval(s) of a model with a value are missing: fewer than half of "
              "the resamples gave a value (ci_reason in --json)")
    lmax = [m for m in models if m in ("imp_gtable", "tpl", "emp_inv")]
    if lmax:
        print(f"{', '.join(lmax)}: the interval can be too narrow (these models follow "
              "lambda_max, whose bootstrap is not consistent; measured coverage of the 95% "
              "interval down to 0.5; docs/quality.md, 'Error bars')")


def _ecs_curves(args: argparse.Namespace, qopts: QualityOptions, widths: dict[str, int],
                write_json: Any) -> int:
    """``setol quality --esd FILE --curve ecs``: log10 Q of each ESD against the ECS edge."""
    import numpy as np

    from ..io import read_esd
    from ..quality import ECSError, ecs_curve

    if not getattr(args, "esd", None) or args.path:
        raise CLIError("--curve ecs takes the eigenvalues from --esd FILE (and no PATH)")
    if getattr(args, "html", None):
        raise CLIError("--html reports a model's layers; with --curve use --json or --plot")
    try:
        spectra = read_esd(args.esd)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from exc
    models = qopts.models
    curves = []
    for name, ev in spectra.items():
        try:
            curves.append(ecs_curve(ev, name=name, models=models, scale=qopts.scale,
                                    detx_rule=qopts.detx_rule, min_ecs=qopts.min_ecs,
                                    K=qopts.K, fit_kwargs={"min_tail": args.min_tail}
                                    if args.min_tail is not None else None))
        except (ECSError, ValueError) as exc:
            raise CLIError(f"--curve ecs: ESD {name!r}: {exc}") from exc
    if not args.quiet:
        for c in curves:
            alpha = "-" if c.alpha is None else f"{c.alpha:.3f}"
            head = (f"{'lambda_min':>11} {'M_ecs':>5} {'mark':>9} "
                    + " ".join(m.rjust(widths[m]) for m in models))
            print(f"{c.name}: log10 Q vs the ECS edge (alpha = {alpha}, {c.scale} scale; "
                  "lambda_min on the scale of the given eigenvalues)")
            print(f"{head}\n{'-' * len(head)}")
            for i, lm in enumerate(c.lambda_min):
                qs = " ".join((f"{c.log10_q[m][i]:.2f}" if np.isfinite(c.log10_q[m][i])
                               else "-").rjust(widths[m]) for m in models)
                print(f"{lm:11.5g} {int(c.num_ecs[i]):5d} {c.marker(i):>9} {qs}")
            print()
    if args.json:
        write_json({"curves": [c.to_dict() for c in curves],
                    "settings": {"models": list(models), "scale": qopts.scale,
                                 "detx_rule": qopts.detx_rule, "min_ecs": qopts.min_ecs,
                                 "esd": str(args.esd)}})
    if args.plot:
        from ..report import plot_ecs_curve, safe_filename

        out = Path(args.plot)
        out.mkdir(parents=True, exist_ok=True)
        for c in curves:
            plot_ecs_curve(c, out / f"ecs_curve_{safe_filename(c.name)}.png")
        if not args.quiet:
            print(f"plots: {len(curves)} ecs_curve_<name>.png in {out}", file=sys.stderr)
    return EXIT_OK
