"""``setol compare A B`` and ``setol history TABLE.jsonl``."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from ..options import AnalysisOptions, add_arguments
from ._common import (
    EXIT_OK,
    CLIError,
    Column,
    _check_html_figures,
    _check_outputs,
    _os_message,
    _resolve_source,
    add_download_argument,
    add_html_figure_arguments,
    format_table,
    options_from_args,
)

#: The table of ``setol compare`` after the layer name (b - a).
COMPARE_COLUMNS: list[Column] = [
    Column("alpha_a", "alpha_a", 7, ".3f"),
    Column("alpha_b", "alpha_b", 7, ".3f"),
    Column("d_alpha", "d_alpha", 8, "+.3f"),
    Column("d_alpha_weighted", "d_a_w", 8, "+.3f"),
    Column("d_log_norm", "d_lnorm", 8, "+.3f"),
    Column("rel_dW_F", "rel_dW", 8, ".3g"),
    Column("reason", "note", 0, "s"),
]

_DEFINITIONS = {
    "d_alpha": "alpha of b minus alpha of a (power-law exponent of the ESD tail)",
    "d_alpha_weighted": "alpha_weighted of b minus that of a (alpha log10 lambda_max of W^T W)",
    "d_log_norm": "log_norm of b minus that of a (log10 ||W||_F^2)",
    "rel_dW_F": "||W_b - W_a||_F / ||W_a||_F (same shape only)",
}


def register(sub: Any) -> None:
    """The ``compare`` and ``history`` subcommands."""
    c = sub.add_parser(
        "compare",
        help="two models or checkpoints layer by layer: d_alpha, d_alpha_weighted, "
             "d_log_norm, relative ||dW||_F, ESD overlays",
        description=(
            "Analyse A and B with the same options and compare them layer by layer (matched "
            "by name; --rename maps B's names): d_alpha, d_alpha_weighted and d_log_norm "
            "(B - A, each metric as in 'setol analyze'), rel_dW = ||W_B - W_A||_F / ||W_A||_F. "
            "A and B may be files, directories or Hugging Face ids (as for 'analyze')."),
    )
    c.add_argument("a", metavar="A", help="the reference model (file, directory or HF id)")
    c.add_argument("b", metavar="B", help="the other model")
    c.add_argument("--rename", action="append", default=[], metavar="REGEX=REPL",
                   help="rewrite B's layer names before matching (re.sub, repeatable)")
    add_arguments(c, AnalysisOptions)
    add_download_argument(c)
    _outputs(c, plot_help="write one ESD overlay figure per matched layer into DIR")
    add_html_figure_arguments(c, flagged="largest |d_alpha| first",
                              what="an ESD overlay figure")
    c.set_defaults(func=cmd_compare)

    h = sub.add_parser(
        "history",
        help="each layer's metrics against the checkpoint step, from an analyze-many table",
        description=(
            "Read a results file of 'setol analyze-many' and follow each layer's metrics "
            "against the step parsed from the checkpoint names (checkpoint-1200, step_00500, "
            "epoch=3, ...): a table (one column per step) of --metric, figures of each metric "
            "against the step, and the long table as JSON / CSV."),
    )
    h.add_argument("table", metavar="TABLE", help="JSON-lines results file of analyze-many")
    h.add_argument("--metric", action="append", metavar="NAME",
                   help="metric to follow (repeatable; default alpha, alpha_weighted, "
                        "log_norm, log_spectral_norm); the table shows the first")
    h.add_argument("--model", metavar="NAME", help="the model of the table to show "
                   "(default: the first; JSON and CSV hold every model)")
    _outputs(h, plot_help="write one figure per metric (metric vs step) into DIR")
    h.set_defaults(func=cmd_history)


def _outputs(p: argparse.ArgumentParser, plot_help: str) -> None:
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    p.add_argument("--csv", metavar="FILE", help="write the rows as CSV")
    p.add_argument("--plot", metavar="DIR", help=plot_help)
    p.add_argument("--html", metavar="FILE",
                   help="write a self-contained HTML report (table, figures, JSON)")
    p.add_argument("--quiet", action="store_true", help="no table")


def _write_csv(path: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def cmd_compare(args: argparse.Namespace) -> int:
    """``setol compare A B``."""
    from ..pipeline import compare
    from ..pipeline._compare import COLUMNS
    from ..util import nan_to_none, write_json

    a = _resolve_source(args.a, args.download)
    b = _resolve_source(args.b, args.download)
    opts = options_from_args(AnalysisOptions, args)
    _check_outputs(args, files=("json", "csv", "html"), dirs=("plot",))
    _check_html_figures(args)
    if not args.quiet:
        print(f"setol compare: A = {a}\n               B = {b}", file=sys.stderr)
    try:
        res = compare(a, b, opts, rename=args.rename,
                      keep_evals=bool(args.plot or args.html), progress=not args.quiet)
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        raise CLIError(_os_message(exc)) from exc
    s = res.summary()
    if not args.quiet:
        print(format_table(res.rows, COMPARE_COLUMNS))

        def mean(key: str) -> str:
            v = s[f"mean_{key}"]
            return "-" if v is None else f"{v:+.3f}"

        print(f"\n{s['num_matched']} layers in both ({s['num_only_a']} only in A, "
              f"{s['num_only_b']} only in B); mean d_alpha = {mean('d_alpha')}, mean "
              f"d_alpha_weighted = {mean('d_alpha_weighted')}, mean d_log_norm = "
              f"{mean('d_log_norm')}; B - A")
    if args.json:
        write_json(args.json, nan_to_none(res.to_json_dict()))
    if args.csv:
        _write_csv(args.csv, res.rows, list(COLUMNS))
    matched = [r for r in res.rows if r["status_a"] == "ok" and r["status_b"] == "ok"]
    chosen, rule = _chosen_figures(matched, args)
    figures = _compare_figures(res, args, chosen) if (args.plot or args.html) else {}
    if args.html:
        from ..report import left_out_note, write_html_report

        left = [r["name"] for r in matched if r["name"] not in figures]
        note = left_out_note(
            len(matched), len(left), rule, how="setol compare ... --html-figures all for "
            "every matched layer in the page, or --plot DIR for one PNG file per layer",
            unit="matched layers")
        warnings = ([f"{len(left)} of {len(matched)} matched layer(s) have no figure in this "
                     "page (Per-layer figures says which and why)."] if left else [])
        write_html_report(args.html, title=f"compare: {Path(str(a)).name} vs {Path(str(b)).name}",
                          rows=res.rows, summary=s, settings=res.a.settings, figures=figures,
                          key="name", columns=list(COLUMNS), definitions_given=_DEFINITIONS,
                          data=nan_to_none(res.to_json_dict()), warnings=warnings,
                          figures_left_out=left,
                          figures_left_out_note=note)
    if s["num_matched"] == 0:
        raise CLIError("no layer name is in both models (use --rename REGEX=REPL to map B's "
                       "names onto A's)")
    return EXIT_OK


def _d_alpha_rank(row: dict[str, Any]) -> float | None:
    """Compare's flagged layers: a defined d_alpha, the largest |d_alpha| first."""
    d = row.get("d_alpha")
    return -abs(d) if isinstance(d, int | float) and d == d else None


def _chosen_figures(matched: list[dict[str, Any]], args: argparse.Namespace
                    ) -> tuple[set[str], str]:
    """The matched layers whose overlay goes into the --html page, and the rule (empty: all)."""
    if not args.html:
        return {r["name"] for r in matched}, ""
    from ..report import select_figures

    names, rule = select_figures(matched, args.html_figures, args.html_max_figures,
                                 rank=_d_alpha_rank, flagged="with a defined d_alpha",
                                 order="the largest |d_alpha| first")
    return set(names), rule


def _compare_figures(res: Any, args: argparse.Namespace,
                     chosen: set[str] | None = None) -> dict[str, Any]:
    """The overlay of each matched layer: every one into --plot DIR, the ``chosen`` ones (all
    by default) into the returned dict for the --html page."""
    from ..report import palette_png, plot_esd_overlay, png_bytes, safe_filename

    out: dict[str, Any] = {}
    by_a = {m.name: m for m in res.a.layers}
    by_b = {m.name: m for m in res.b.layers}
    rename = {r["name"]: r for r in res.rows}
    names_b = {n: n for n in by_b}
    if args.rename:
        from ..pipeline._compare import _renamer

        f = _renamer(args.rename)
        names_b = {f(n): n for n in by_b}
    if args.plot:
        Path(args.plot).mkdir(exist_ok=True)
    for name in rename:
        ma, mb = by_a.get(name), by_b.get(names_b.get(name, ""))
        if ma is None or mb is None or ma.status != "ok" or mb.status != "ok":
            continue
        wanted = chosen is None or name in chosen
        if not (args.plot or wanted):
            continue
        path = Path(args.plot) / f"{safe_filename(name)}.png" if args.plot else None
        fig = plot_esd_overlay(res.a.evals[ma.name], res.b.evals[mb.name], path, name=name,
                               label_a="A", label_b="B", xmin_a=ma.xmin, xmin_b=mb.xmin)
        if wanted:  # the page's palette PNG (the file in --plot DIR stays as written)
            out[name] = palette_png(path.read_bytes()) if path is not None else png_bytes(fig)
    return out


def cmd_history(args: argparse.Namespace) -> int:
    """``setol history TABLE``."""
    from ..distributed import DEFAULT_METRICS, history
    from ..util import nan_to_none, write_json

    metrics = tuple(args.metric) if args.metric else DEFAULT_METRICS
    _check_outputs(args, files=("json", "csv", "html"), dirs=("plot",))
    if not Path(args.table).is_file():
        raise CLIError(f"{args.table}: no such file")
    try:
        hist = history(args.table, metrics)
    except (ValueError, OSError) as exc:
        raise CLIError(f"{args.table}: {_os_message(exc)}") from exc
    model = args.model or hist.models[0]
    if model not in hist.models:
        raise CLIError(f"--model {model}: not in the table (models: {', '.join(hist.models)})")
    steps = hist.steps(model)
    if not args.quiet:
        cols = [Column(f"step {s}", str(s), 7, ".3f") for s in steps]
        print(f"{metrics[0]} of each layer of {model} against the {hist.rows[0]['unit']} "
              f"({len(steps)} checkpoints)")
        print(format_table(hist.wide(metrics[0], model), cols))
    if args.json:
        write_json(args.json, nan_to_none(hist.to_json_dict()))
    if args.csv:
        _write_csv(args.csv, hist.rows, ["model", "checkpoint", "step", "unit", "layer",
                                         "layer_index", *metrics])
    figures: dict[str, Any] = {}
    if args.plot or args.html:
        from ..report import plot_history

        if args.plot:
            Path(args.plot).mkdir(exist_ok=True)
        for metric in metrics:
            path = Path(args.plot) / f"{metric}.png" if args.plot else None
            fig = plot_history(hist, metric, path, model=model)
            figures[metric] = path.read_bytes() if path is not None else fig
    if args.html:
        from ..report import write_html_report

        rows = [{"name": m, "model": model, "num_layers": len(hist.layers(model)),
                 "first_step": steps[0], "last_step": steps[-1]} for m in metrics]
        write_html_report(args.html, title=f"history: {model}", rows=rows,
                          summary={"models": ", ".join(hist.models), "checkpoints": len(steps)},
                          settings=hist.settings, figures=figures, key="name",
                          data=nan_to_none(hist.to_json_dict()))
    return EXIT_OK
