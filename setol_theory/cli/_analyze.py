"""``setol analyze`` and ``setol analyze-many``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from ..options import AnalysisOptions, add_arguments
from ._common import (
    EXIT_OK,
    CLIError,
    _check_html_figures,
    _check_outputs,
    _ensure_parent,
    _fmt,
    _os_message,
    _resolve_device,
    _resolve_source,
    about,
    format_table,
    layer_columns,
    options_from_args,
)


def cmd_analyze(args: argparse.Namespace) -> int:
    from ..distributed import CheckpointChanged
    from ..io import is_adapter_dir
    from ..pipeline import LayerError, analyze, metric_names

    if getattr(args, "esd", None):
        if args.path or args.base or args.scheduler:
            raise CLIError("--esd takes the eigenvalues from FILE: give no PATH, --base or "
                           "--scheduler with it")
        source: Any = args.esd
    else:
        source = _resolve_source(args.path, args.download)
    delta = False
    if args.base:
        from ..io import WithBase

        if args.scheduler:
            raise CLIError("--base is not available with --scheduler")
        source = WithBase(source, _resolve_source(args.base, args.download))
        delta = source.mode == "delta"
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    opts = options_from_args(AnalysisOptions, args)
    _check_outputs(args, files=("json", "csv", "html"), dirs=("plot",))
    _check_html_figures(args)
    # a fine-tune's unchanged (frozen) layers are recorded, not an error
    run = {"on_error": "record" if args.keep_going or delta else "raise",
           "keep_evals": bool(args.plot or args.html), "progress": not args.quiet}
    if not args.quiet:
        what = ""
        if args.base:
            what = (" (the merged weights W + dW)" if not delta
                    else " (per layer W_ft - W_base)")
        elif is_adapter_dir(source):
            what = " (PEFT LoRA adapter: dW = s B A per module, from the r x r problem)"
        print(f"setol analyze: {source}{what}", file=sys.stderr)
    try:
        if args.scheduler:
            from ..distributed import analyze_on_cluster

            # the device is resolved on each worker (a worker may have the GPU the client lacks)
            if opts.precision != "float64":
                raise CLIError("--precision float32 is not available with --scheduler")
            result = analyze_on_cluster(source, args.scheduler, opts, n_workers=args.workers,
                                        **run)
        elif getattr(args, "esd", None):
            from ..pipeline import analyze_esd

            result = analyze_esd(source, opts, N=args.esd_n, scale=args.esd_scale,
                                 keep_evals=run["keep_evals"])
        else:
            backend = _resolve_device(opts, "analyze")
            result = analyze(source, opts, backend=backend, **run)
    except LayerError as exc:
        raise CLIError(about(source, f"{exc} (use --keep-going to record it and go on)")
                       ) from exc
    except CheckpointChanged as exc:  # names the file
        raise CLIError(str(exc)) from exc
    except (ValueError, TypeError, FileNotFoundError, OSError, TimeoutError) as exc:
        raise CLIError(about(source, _os_message(exc))) from exc

    if not args.quiet:
        print(format_table(result.layers, layer_columns(opts.fit, opts.fingers)))
        s = result.summary()
        print(
            f"\n{s['num_analysed']} of {s['num_layers']} layers analysed; "
            f"mean alpha = {s['mean_alpha']:.3f}, "
            f"mean alpha_weighted = {s['mean_alpha_weighted']:.3f}, "
            f"mean log_norm = {s['mean_log_norm']:.3f}  (WᵀW scale)"
        )
        fallbacks = [m for m in result.layers if m.eig_fallback]
        for m in fallbacks:
            print(f"{m.name}: {m.eig_fallback}", file=sys.stderr)
    else:  # no table: a layer that could not be analysed still says why, on stderr
        for m in result.layers:
            if m.status not in ("ok", "filtered"):
                print(f"setol analyze: {m.name}: {m.status}: {m.reason}", file=sys.stderr)
    if args.json:
        _ensure_parent(args.json)
        with open(args.json, "w") as fh:
            json.dump(result.to_json_dict(), fh, indent=1)
    if args.csv:
        _ensure_parent(args.csv)
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=metric_names())
            w.writeheader()
            w.writerows(result.to_records())
    if args.plot:
        from ..report import plot_layer_esd, safe_filename

        out = Path(args.plot)
        out.mkdir(parents=True, exist_ok=True)
        for m in result.analysed:
            plot_layer_esd(result.evals[m.name], m, out / f"{safe_filename(m.name)}.png")
        if not args.quiet:
            print(f"plots: {len(result.analysed)} figures in {out}", file=sys.stderr)
    if args.html:
        from ..report import write_analysis_report

        _ensure_parent(args.html)
        path = write_analysis_report(args.html, result, command="setol analyze",
                                     figures=args.html_figures,
                                     max_figures=args.html_max_figures)
        print(f"report: {path}", file=sys.stderr)
    if not result.analysed:
        where = ("on the lines above; layers outside --min-evals/--max-evals are filtered "
                 "without a line" if args.quiet else "in the table above")
        raise CLIError(f"{source}: no layer could be analysed (reasons {where})")
    return EXIT_OK


def _add_analyze_many(sub: Any) -> None:
    """The ``analyze-many`` subcommand."""
    m = sub.add_parser(
        "analyze-many",
        help="HTSR metrics of every layer of many checkpoints (one Dask task per layer)",
        description=(
            "Analyse every checkpoint found in the SOURCEs (directories, searched "
            "recursively for .safetensors/.pt/.pth/.bin/.ckpt/.npz files and sharded model "
            "directories; globs such as 'runs/*/epoch_*.safetensors'; files), one task per "
            "layer on a Dask cluster (a LocalCluster by default). Each layer's row (keys "
            "model, checkpoint, layer, then the columns of 'setol analyze') is appended to "
            "the JSON-lines file --out as soon as it is done; rerunning the same command "
            "resumes, skipping the layers already in the file. Layers that cannot be "
            "analysed are recorded with their reason."
        ),
    )
    m.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="directory, glob or weights file (repeatable)")
    m.add_argument("--out", required=True, metavar="FILE",
                   help="JSON-lines results file (created, or resumed when it exists)")
    m.add_argument("--csv", metavar="FILE", help="also write the whole table as CSV")
    m.add_argument("--parquet", metavar="FILE",
                   help="also write the whole table as Parquet (needs setol[pandas])")
    m.add_argument("--restart", action="store_true",
                   help="start --out afresh instead of resuming it")
    m.add_argument("--scheduler", default="local", metavar="ADDRESS",
                   help="'local' (default: a LocalCluster), a scheduler address such as "
                        "tcp://host:8786, or 'serial' (this process, no Dask)")
    m.add_argument("--workers", type=int, default=None, metavar="N",
                   help="with --scheduler local: worker processes (default: CPU count, <= 8)")
    add_arguments(m, AnalysisOptions, exclude=("precision",))
    m.add_argument("--quiet", action="store_true", help="no summary, no progress bar")
    m.set_defaults(func=cmd_analyze_many)


def cmd_analyze_many(args: argparse.Namespace) -> int:
    """``setol analyze-many``: many checkpoints, one task per layer, one table."""
    import warnings

    from ..distributed import SkippedPathWarning, analyze_many

    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    opts = options_from_args(AnalysisOptions, args)
    if args.scheduler in ("serial", "local"):  # the workers are on this machine: check here
        _resolve_device(opts, "analyze-many")
    _check_outputs(args, files=("out", "csv", "parquet"))
    if args.parquet:  # before the work: say now that the extra is missing
        from ..util import require

        require("pyarrow", "analyze-many --parquet")
        require("pandas", "analyze-many --parquet")
    if not args.quiet:
        print(f"setol analyze-many: {', '.join(args.sources)} -> {args.out} "
              f"(scheduler {args.scheduler})", file=sys.stderr)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SkippedPathWarning)
            try:
                res = analyze_many(
                    args.sources, opts, out=args.out, scheduler=args.scheduler,
                    n_workers=args.workers, resume=not args.restart, progress=not args.quiet,
                )
            finally:
                for w in caught:
                    if issubclass(w.category, SkippedPathWarning):
                        print(f"setol analyze-many: warning: {w.message}", file=sys.stderr)
                    else:
                        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except (ValueError, TypeError, FileNotFoundError, OSError, TimeoutError, ImportError) as exc:
        raise CLIError(_os_message(exc)) from exc
    if args.csv:
        res.to_csv(args.csv)
    if args.parquet:
        res.to_parquet(args.parquet)
    for u in res.unreadable:
        print(f"setol analyze-many: warning: not a readable checkpoint, skipped (not tried "
              f"again until the file changes): {u['error']}", file=sys.stderr)
    if not args.quiet:
        head = f"{'model':<20} {'checkpoint':<36} {'layers':>6} {'ok':>4} {'alpha':>6} {'a_w':>6}"
        print(head)
        print("-" * len(head))
        unreadable = {(u["model"], u["checkpoint"]) for u in res.unreadable}
        for ck in res.checkpoints:
            rows = [r for r in res.records
                    if r["model"] == ck.model and r["checkpoint"] == ck.checkpoint]
            ok = [r for r in rows if r["status"] == "ok"]
            alphas = [r["alpha"] for r in ok if r["alpha"] is not None]
            ahats = [r["alpha_weighted"] for r in ok if r["alpha_weighted"] is not None]
            mean_a = sum(alphas) / len(alphas) if alphas else None
            mean_h = sum(ahats) / len(ahats) if ahats else None
            if not rows and (ck.model, ck.checkpoint) in unreadable:
                print(f"{_fmt(ck.model, 's', 20)} {_fmt(ck.checkpoint, 's', 36)} "
                      "not a readable checkpoint (warning above)")
                continue
            print(f"{_fmt(ck.model, 's', 20)} {_fmt(ck.checkpoint, 's', 36)} {len(rows):6d} "
                  f"{len(ok):4d} {_fmt(mean_a, '.3f', 6)} {_fmt(mean_h, '.3f', 6)}")
        print(f"\n{len(res.checkpoints)} checkpoints, {len(res.records)} layers: "
              f"{res.computed} computed, {res.resumed} from {args.out}, "
              f"{len(res.failed)} failed -> {args.out}")
        if res.changed:
            names = ", ".join(f"{c.model}/{c.checkpoint}" for c in res.changed[:5])
            more = f" and {len(res.changed) - 5} more" if len(res.changed) > 5 else ""
            print(f"{len(res.changed)} checkpoint(s) changed since their rows in {args.out} "
                  f"were made, analysed again: {names}{more}")
        if res.unreadable:
            print(f"{len(res.unreadable)} file(s) are not readable checkpoints (skipped, "
                  "reasons above)")
    if res.failed:
        first = res.failed[0]
        raise CLIError(f"{len(res.failed)} task(s) failed (first: {first['model']}/"
                       f"{first['checkpoint']} {first['layer']}: {first['error']}); run the "
                       "same command again to retry them")
    if not any(r["status"] == "ok" for r in res.records):
        raise CLIError("no layer could be analysed")
    return EXIT_OK

