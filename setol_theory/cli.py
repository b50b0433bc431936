"""The ``setol`` command line.

``setol analyze [PATH]`` runs the HTSR layer analysis of a model (default: the packaged
all-MiniLM-L6-v2 weights).  Errors in the input give a one-line message on stderr and a
non-zero exit code, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

#: Exit codes
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

_TABLE_COLUMNS = [
    ("name", "layer", 44, "s"),
    ("N", "N", 6, "d"),
    ("M", "M", 5, "d"),
    ("alpha", "alpha", 6, ".3f"),
    ("alpha_hat", "a_hat", 6, ".3f"),
    ("xmin", "xmin", 9, ".4g"),
    ("lambda_max", "l_max", 9, ".4g"),
    ("D", "KS_D", 6, ".3f"),
    ("num_tail", "n_tail", 6, "d"),
    ("num_spikes", "spikes", 6, "d"),
    ("num_traps", "traps", 5, ".0f"),
    ("warning", "warning", 13, "s"),
]


class CLIError(Exception):
    """An error to report as one line with a non-zero exit code."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``setol`` (subcommands: analyze, verify, quality, simulate, mlp3)."""
    p = argparse.ArgumentParser(
        prog="setol",
        description="SETOL / HTSR toolkit: spectral analysis of neural-network layers.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser(
        "analyze",
        help="HTSR metrics (alpha, alpha_hat, MP bulk, spikes, traps) of each layer of a model",
        description=(
            "HTSR analysis of each layer: ESD of X = W^T W / N, power-law tail fit "
            "(alpha, xmin), alpha_hat, norms, Marchenko-Pastur bulk, spikes and correlation "
            "traps. PATH may be a .safetensors, .pt/.pth/.bin (loaded with weights_only), "
            ".npz file or a Hugging-Face model directory; default: the packaged "
            "all-MiniLM-L6-v2 weights."
        ),
    )
    a.add_argument("path", nargs="?", help="model file or directory (default: all-MiniLM-L6-v2)")
    a.add_argument("--layers", action="append", metavar="REGEX",
                   help="only layers whose name matches REGEX (repeatable)")
    a.add_argument("--kinds", action="append", metavar="KIND",
                   help="only layers of this kind: linear, conv1d, conv2d, embedding, "
                        "attn_in_proj, matrix (repeatable)")
    a.add_argument("--conv", choices=["slices", "reshape"], default="slices",
                   help="conv kernels: one matrix per kernel position, or (out, in*k) reshape")
    a.add_argument("--min-evals", type=int, default=10, metavar="K",
                   help="do not analyse matrices with fewer than K eigenvalues (default 10; "
                        "they are listed as filtered)")
    a.add_argument("--max-evals", type=int, default=None, metavar="K",
                   help="do not analyse matrices with more than K eigenvalues")
    a.add_argument("--normalization", choices=["N", "none"], default="N",
                   help="ESD of W^T W / N (theory, default) or W^T W (WeightWatcher scale)")
    a.add_argument("--min-tail", type=int, default=10,
                   help="smallest power-law tail the xmin scan may choose (default 10)")
    a.add_argument("--device", choices=["cpu", "cuda", "auto"], default=None,
                   help="compute eigenvalues with torch on this device (default: numpy); "
                        "auto: the GPU if there is one, else numpy with a warning")
    a.add_argument("--precision", choices=["float64", "float32"], default="float64",
                   help="precision of the Gram matrix and eigensolver (default float64; "
                        "float32 is a fast path for the tail metrics, see docs/scale.md)")
    a.add_argument("--scheduler", metavar="ADDRESS",
                   help="one task per layer on a Dask cluster: 'local' (a LocalCluster) or a "
                        "scheduler address such as tcp://host:8786 (the workers must see PATH)")
    a.add_argument("--workers", type=int, default=None, metavar="N",
                   help="with --scheduler local: number of worker processes")
    a.add_argument("--no-traps", action="store_true",
                   help="skip the correlation-trap test (halves the eigenvalue work)")
    a.add_argument("--seed", type=int, default=0, help="seed of the correlation-trap shuffles")
    a.add_argument("--trap-scale", choices=["variance", "fit"], default="variance",
                   help="MP scale of the shuffled layer in the trap test: its exact entry "
                        "variance (default) or a fit to the shuffled ESD (WeightWatcher)")
    a.add_argument("--keep-going", action="store_true",
                   help="record layers that cannot be analysed (with the reason) and go on")
    a.add_argument("--json", metavar="FILE", help="write the per-layer records as JSON")
    a.add_argument("--csv", metavar="FILE", help="write the per-layer records as CSV")
    a.add_argument("--plot", metavar="DIR", help="write one ESD figure per layer into DIR")
    a.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    a.set_defaults(func=cmd_analyze)
    _add_analyze_many(sub)

    v = sub.add_parser(
        "verify",
        help="check every spectral model: closed form vs sympy, identities, Monte Carlo",
        description=(
            "For each spectral model: the closed forms of G and R against the sympy "
            "derivations, the identities G(R(w)+1/w) = w and moments <-> free cumulants, and "
            "Monte Carlo (sampled spectra of size n/8..n) with the fitted error rate in n. "
            "Prints a table; exit status 1 when any check fails."
        ),
    )
    v.add_argument("--model", action="append", metavar="NAME",
                   help="only this model (repeatable): mp, imp, wigner, free_cauchy, tpl, "
                        "levy, mw, hciz (the HCIZ integrals)")
    v.add_argument("--n", type=int, default=1000, help="largest Monte Carlo size (default 1000)")
    v.add_argument("--seeds", type=int, default=4, help="samples per size (default 4)")
    v.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    v.add_argument("--no-sympy", action="store_true", help="skip the sympy derivations")
    v.add_argument("--plot", metavar="DIR", help="write one figure per model into DIR")
    v.add_argument("--json", metavar="FILE", help="write the checks as JSON")
    v.add_argument("--gpu", nargs="?", const="cuda", metavar="DEVICE",
                   help="also run the GPU spectral checks (CPU vs device agreement of "
                        "eigenvalues, alpha, xmin, detX; MP/IMP sanity at large sizes) on "
                        "DEVICE (default cuda; 'torch-cpu' runs them small on the CPU)")
    v.set_defaults(func=cmd_verify)

    q = sub.add_parser(
        "quality",
        help="SETOL layer quality: ECS (PL xmin / TraceLog detX), ERG, log10 Q per spectral model",
        description=(
            "SETOL quality of each layer: HTSR fit (alpha, xmin), the effective correlation "
            "space (ECS) by the power-law xmin, the TraceLog/detX condition or a given "
            "lambda_min, Delta lambda_min = xmin - lambda_min^detX, the ERG residual, and the "
            "layer quality log10 Q with Q^2 = sum_ECS int_{lambda_min}^{lambda_i} Re R under "
            "each spectral model (bs, fc, lw, lw_paper, imp, imp_gtable, tpl, emp, emp_inv; "
            "see docs/quality.md). PATH as for 'analyze' (default: the packaged "
            "all-MiniLM-L6-v2). With --curve FAMILY no model is read: a model-derived curve "
            "of the quality vs alpha on synthetic spectra is computed instead."
        ),
    )
    q.add_argument("path", nargs="?", help="model file or directory (default: all-MiniLM-L6-v2)")
    q.add_argument("--ecs", default="detx", metavar="xmin|detx|VALUE",
                   help="ECS lower edge: power-law xmin, TraceLog/detX condition (default), "
                        "or a positive lambda_min on the X = W^T W / N scale")
    q.add_argument("--detx-rule", choices=["first_below", "closest"], default="first_below",
                   help="detX index rule: first k with sum ln lambda < 0 (reference tool, "
                        "default) or the k closest to 0 after the peak")
    q.add_argument("--scale", choices=["frobenius_M", "N"], default="frobenius_M",
                   help="eigenvalue scale of the G functions: sum(lambda) = M (default; the "
                        "TraceLog scale) or X = W^T W / N")
    q.add_argument("--models", metavar="LIST",
                   help="comma-separated spectral models (default: all): "
                        "bs,fc,lw,lw_paper,imp,imp_gtable,tpl,emp,emp_inv")
    q.add_argument("--K", type=int, default=5,
                   help="free cumulants in the 'emp' series (default 5, sections/560)")
    q.add_argument("--min-ecs", type=int, default=5, metavar="K",
                   help="smallest accepted ECS (default 5 eigenvalues)")
    q.add_argument("--layers", action="append", metavar="REGEX",
                   help="only layers whose name matches REGEX (repeatable)")
    q.add_argument("--kinds", action="append", metavar="KIND",
                   help="only layers of this kind (repeatable; as for 'analyze')")
    q.add_argument("--min-evals", type=int, default=10, metavar="K",
                   help="do not analyse matrices with fewer than K eigenvalues (default 10)")
    q.add_argument("--min-tail", type=int, default=10,
                   help="smallest power-law tail the xmin scan may choose (default 10)")
    q.add_argument("--keep-going", action="store_true",
                   help="record layers that cannot be read or analysed and go on")
    q.add_argument("--curve", metavar="FAMILY", choices=["imp", "tpl", "student_t"],
                   help="no model: theoretical (model-derived) quality curve on synthetic "
                        "spectra of this family (imp: inverse MP with kappa = alpha/2; tpl: "
                        "truncated power law; student_t: heavy-tailed Wishart)")
    q.add_argument("--alpha", default="0.2:6:24", metavar="A:B[:N]",
                   help="with --curve: N nominal alphas from A to B (default 0.2:6:24)")
    q.add_argument("--curve-M", type=int, default=384, metavar="M",
                   help="with --curve: eigenvalues per synthetic spectrum (default 384)")
    q.add_argument("--seed", type=int, default=0, help="with --curve student_t: random seed")
    q.add_argument("--json", metavar="FILE", help="write the per-layer records (or curve) as JSON")
    q.add_argument("--plot", metavar="DIR",
                   help="write figures into DIR: esd/<layer>.png with both ECS edges, "
                        "quality_vs_alpha.png with the model-derived curve, erg_vs_alpha.png "
                        "(with --curve: quality_curve_<family>.png)")
    q.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    q.set_defaults(func=cmd_quality)
    from simulations.cli_mlp3 import register as _reg_mlp3
    _reg_mlp3(sub)
    from simulations.cli_simulate import register as _reg_sim
    _reg_sim(sub)
    return p


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    _check_outputs(args, files=("json",), dirs=("plot",))
    try:
        report = verify(
            args.model, n=args.n, seeds=args.seeds, seed=args.seed, sympy=not args.no_sympy,
            plot_dir=args.plot, progress=lambda msg: print(msg, file=sys.stderr),
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if args.gpu:
        from .backend import DeviceError, gpu_checks

        try:
            report.checks.extend(gpu_checks(args.gpu, large=args.gpu != "torch-cpu"))
        except DeviceError as exc:
            raise CLIError(f"--gpu {args.gpu}: {exc}") from exc
    print(report.table())
    if args.json:
        _ensure_parent(args.json)
        with open(args.json, "w") as fh:
            json.dump({"checks": report.to_records(), "convergence": report.convergence}, fh,
                      indent=1)
    return EXIT_OK if report.ok else EXIT_ERROR


def _fmt(value: Any, spec: str, width: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        text = "-"
    elif spec == "s":
        text = str(value)
        if len(text) > width:
            text = "…" + text[-(width - 1):]
    else:
        text = format(value, spec)
    return text.rjust(width) if spec != "s" else text.ljust(width)


def format_table(records: Sequence[Any]) -> str:
    """A fixed-width text table of layer records (LayerMetrics)."""
    head = " ".join(_fmt(h, "s", w) if s == "s" else h.rjust(w) for _, h, w, s in _TABLE_COLUMNS)
    lines = [head, "-" * len(head)]
    for m in records:
        if not m.ok:
            lines.append(f"{_fmt(m.name, 's', 44)} {m.status}: {m.reason}")
            continue
        lines.append(" ".join(_fmt(getattr(m, k), s, w) for k, _, w, s in _TABLE_COLUMNS))
    return "\n".join(lines)


def _resolve_source(path: str | None) -> Path:
    from .spectra import default_model_path

    if path is None:
        try:
            return default_model_path()
        except FileNotFoundError as exc:
            raise CLIError(str(exc)) from exc
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{path}: no such file or directory")
    return p


def _device_name(args: argparse.Namespace) -> str:
    """The backend device name for ``--device`` (``cpu`` means torch on the CPU, as before)."""
    return {None: "numpy", "cpu": "torch-cpu"}.get(args.device, args.device)


def _resolve_device(args: argparse.Namespace, command: str) -> Any:
    """Resolve ``--device``/``--precision``: a clear error for cuda without CUDA, a warning
    line on stderr when ``auto`` falls back to the CPU."""
    import warnings

    from .backend import DeviceError, DeviceFallbackWarning, resolve_backend

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeviceFallbackWarning)
        try:
            backend = resolve_backend(_device_name(args), precision=args.precision)
        except DeviceError as exc:
            msg = str(exc).split(": ", 1)[-1]
            raise CLIError(f"--device {args.device}: {msg}") from exc
    for w in caught:
        if issubclass(w.category, DeviceFallbackWarning):
            print(f"setol {command}: warning: {w.message}", file=sys.stderr)
    return backend


def cmd_analyze(args: argparse.Namespace) -> int:
    from .htsr import LayerError, analyze, metric_names
    from .scale import CheckpointChanged

    source = _resolve_source(args.path)
    if args.min_evals < 1:
        raise CLIError(f"--min-evals must be >= 1, got {args.min_evals}")
    if args.min_tail < 2:
        raise CLIError(f"--min-tail must be >= 2, got {args.min_tail}")
    if args.workers is not None and args.workers < 1:
        raise CLIError(f"--workers must be >= 1, got {args.workers}")
    _check_common_options(args)
    _check_outputs(args, files=("json", "csv"), dirs=("plot",))
    options: dict[str, Any] = {
        "layers": args.layers, "kinds": args.kinds, "conv": args.conv,
        "min_evals": args.min_evals, "max_evals": args.max_evals,
        "normalization": args.normalization, "traps": not args.no_traps, "seed": args.seed,
        "trap_scale": args.trap_scale, "fit_kwargs": {"min_tail": args.min_tail},
        "on_error": "record" if args.keep_going else "raise",
        "keep_evals": bool(args.plot), "progress": not args.quiet,
    }
    if not args.quiet:
        print(f"setol analyze: {source}", file=sys.stderr)
    try:
        if args.scheduler:
            from .scale import analyze_on_cluster

            # the device is resolved on each worker (a worker may have the GPU the client lacks)
            if args.precision != "float64":
                raise CLIError("--precision float32 is not available with --scheduler")
            result = analyze_on_cluster(source, args.scheduler, n_workers=args.workers,
                                        device=_device_name(args), **options)
        else:
            backend = _resolve_device(args, "analyze")
            result = analyze(source, device=backend, **options)
    except LayerError as exc:
        raise CLIError(f"{source}: {exc} (use --keep-going to record it and go on)") from exc
    except CheckpointChanged as exc:  # names the file
        raise CLIError(str(exc)) from exc
    except (ValueError, TypeError, FileNotFoundError, OSError, TimeoutError) as exc:
        raise CLIError(f"{source}: {_os_message(exc)}") from exc

    if not args.quiet:
        print(format_table(result.layers))
        s = result.summary()
        print(
            f"\n{s['num_analysed']} of {s['num_layers']} layers analysed; "
            f"mean alpha = {s['mean_alpha']:.3f}, mean alpha_hat = {s['mean_alpha_hat']:.3f}, "
            f"mean log_norm = {s['mean_log_norm']:.3f}  (normalization={args.normalization})"
        )
        fallbacks = [m for m in result.layers if m.eig_fallback]
        for m in fallbacks:
            print(f"{m.name}: {m.eig_fallback}", file=sys.stderr)
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
        from .plotting import plot_layer_esd, safe_filename

        out = Path(args.plot)
        out.mkdir(parents=True, exist_ok=True)
        for m in result.analysed:
            plot_layer_esd(result.evals[m.name], m, out / f"{safe_filename(m.name)}.png")
        if not args.quiet:
            print(f"plots: {len(result.analysed)} figures in {out}", file=sys.stderr)
    if not result.analysed:
        raise CLIError(f"{source}: no layer could be analysed (reasons in the table above)")
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
    m.add_argument("--restart", action="store_true",
                   help="start --out afresh instead of resuming it")
    m.add_argument("--scheduler", default="local", metavar="ADDRESS",
                   help="'local' (default: a LocalCluster), a scheduler address such as "
                        "tcp://host:8786, or 'serial' (this process, no Dask)")
    m.add_argument("--workers", type=int, default=None, metavar="N",
                   help="with --scheduler local: worker processes (default: CPU count, <= 8)")
    m.add_argument("--layers", action="append", metavar="REGEX",
                   help="only layers whose name matches REGEX (repeatable)")
    m.add_argument("--kinds", action="append", metavar="KIND",
                   help="only layers of this kind (repeatable; as for 'analyze')")
    m.add_argument("--conv", choices=["slices", "reshape"], default="slices",
                   help="conv kernels: one matrix per kernel position, or (out, in*k) reshape")
    m.add_argument("--min-evals", type=int, default=10, metavar="K",
                   help="do not analyse matrices with fewer than K eigenvalues (default 10)")
    m.add_argument("--max-evals", type=int, default=None, metavar="K",
                   help="do not analyse matrices with more than K eigenvalues")
    m.add_argument("--normalization", choices=["N", "none"], default="N",
                   help="ESD of W^T W / N (default) or W^T W (WeightWatcher scale)")
    m.add_argument("--min-tail", type=int, default=10,
                   help="smallest power-law tail the xmin scan may choose (default 10)")
    m.add_argument("--no-traps", action="store_true", help="skip the correlation-trap test")
    m.add_argument("--seed", type=int, default=0, help="seed of the correlation-trap shuffles")
    m.add_argument("--trap-scale", choices=["variance", "fit"], default="variance",
                   help="MP scale of the shuffled layer in the trap test: its exact entry "
                        "variance (default) or a fit to the shuffled ESD (WeightWatcher)")
    m.add_argument("--device", choices=["cpu", "cuda", "auto"], default=None,
                   help="eigenvalues with torch on this device on each worker (default numpy)")
    m.add_argument("--quiet", action="store_true", help="no summary, no progress bar")
    m.set_defaults(func=cmd_analyze_many)


def cmd_analyze_many(args: argparse.Namespace) -> int:
    """``setol analyze-many``: many checkpoints, one task per layer, one table."""
    import warnings

    from .scale import SkippedPathWarning, analyze_many

    for opt, val, lo in (("--min-evals", args.min_evals, 1), ("--min-tail", args.min_tail, 2),
                         ("--workers", args.workers, 1)):
        if val is not None and val < lo:
            raise CLIError(f"{opt} must be >= {lo}, got {val}")
    _check_common_options(args)
    _check_outputs(args, files=("out", "csv"))
    if not args.quiet:
        print(f"setol analyze-many: {', '.join(args.sources)} -> {args.out} "
              f"(scheduler {args.scheduler})", file=sys.stderr)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SkippedPathWarning)
            try:
                res = analyze_many(
                    args.sources, out=args.out, scheduler=args.scheduler,
                    n_workers=args.workers, resume=not args.restart, progress=not args.quiet,
                    layers=args.layers, kinds=args.kinds, conv=args.conv,
                    min_evals=args.min_evals, max_evals=args.max_evals,
                    normalization=args.normalization, traps=not args.no_traps, seed=args.seed,
                    fit_kwargs={"min_tail": args.min_tail}, device=_device_name(args),
                    trap_scale=args.trap_scale,
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
    for u in res.unreadable:
        print(f"setol analyze-many: warning: not a readable checkpoint, skipped (not tried "
              f"again until the file changes): {u['error']}", file=sys.stderr)
    if not args.quiet:
        head = f"{'model':<20} {'checkpoint':<36} {'layers':>6} {'ok':>4} {'alpha':>6} {'a_hat':>6}"
        print(head)
        print("-" * len(head))
        unreadable = {(u["model"], u["checkpoint"]) for u in res.unreadable}
        for ck in res.checkpoints:
            rows = [r for r in res.records
                    if r["model"] == ck.model and r["checkpoint"] == ck.checkpoint]
            ok = [r for r in rows if r["status"] == "ok"]
            alphas = [r["alpha"] for r in ok if r["alpha"] is not None]
            ahats = [r["alpha_hat"] for r in ok if r["alpha_hat"] is not None]
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


def cmd_quality(args: argparse.Namespace) -> int:
    """``setol quality``: per-layer SETOL quality of a model, or a model-derived curve."""
    import numpy as np

    from .quality import DEFAULT_MODELS, MODELS, quality_curve, quality_report

    # ---- options
    ecs: str | float
    if args.ecs in ("xmin", "detx"):
        ecs = args.ecs
    else:
        try:
            ecs = float(args.ecs)
        except ValueError:
            raise CLIError(f"--ecs must be xmin, detx or a positive number, got {args.ecs!r}"
                           ) from None
        if not (math.isfinite(ecs) and ecs > 0):
            raise CLIError(f"--ecs VALUE must be a positive finite lambda_min, got {args.ecs!r}")
    models: tuple[str, ...] = DEFAULT_MODELS
    if args.models is not None:
        models = tuple(m.strip() for m in args.models.split(",") if m.strip())
        bad = [m for m in models if m not in MODELS]
        if bad or not models:
            raise CLIError(f"--models: unknown model(s) {', '.join(bad) or '(none given)'}; "
                           f"choose from {','.join(MODELS)}")
    for opt, val, lo in (("--K", args.K, 1), ("--min-ecs", args.min_ecs, 1),
                         ("--min-evals", args.min_evals, 1), ("--min-tail", args.min_tail, 2),
                         ("--curve-M", args.curve_M, 10)):
        if val < lo:
            raise CLIError(f"{opt} must be >= {lo}, got {val}")
    scale = "input" if args.scale == "N" else "frobenius_M"
    common = {"models": models, "scale": scale, "detx_rule": args.detx_rule,
              "min_ecs": args.min_ecs, "K": args.K}
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

    _check_outputs(args, files=("json",), dirs=("plot",))

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
            curve = quality_curve(args.curve, alphas, M=args.curve_M, ecs=ecs, seed=args.seed,
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
                  + f"; log10 Q on the {args.scale} scale")
        if args.json:
            write_json({"curve": curve.to_dict(), "settings": {**common, "models": list(models),
                        "ecs": ecs, "family": args.curve, "M": args.curve_M, "seed": args.seed}})
        if args.plot:
            from .plotting import plot_quality_curve

            out = Path(args.plot)
            out.mkdir(parents=True, exist_ok=True)
            plot_quality_curve(curve, out / f"quality_curve_{args.curve}.png")
        return EXIT_OK

    # ---- a real model
    from .htsr import LayerError, analyze

    source = _resolve_source(args.path)
    if not args.quiet:
        print(f"setol quality: {source}", file=sys.stderr)
    try:
        result = analyze(
            source, layers=args.layers, kinds=args.kinds, min_evals=args.min_evals,
            normalization="N", traps=False, fit_kwargs={"min_tail": args.min_tail},
            on_error="record" if args.keep_going else "raise", keep_evals=True,
            progress=not args.quiet,
        )
        report = quality_report(result, ecs=ecs, **common)
    except LayerError as exc:
        raise CLIError(f"{source}: {exc} (use --keep-going to record it and go on)") from exc
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        raise CLIError(f"{source}: {exc}") from exc

    if not args.quiet:
        cols = [("layer", 34, "s"), ("alpha", 6, ".3f"), ("a_hat", 7, ".3f"),
                ("M_ecs", 5, "d"), ("n_tail", 6, "d"), ("dl_min", 9, ".3g"), ("ERG", 7, ".1f")]
        head = " ".join(_fmt(h, "s", w) if s == "s" else h.rjust(w) for h, w, s in cols)
        head += " " + " ".join(m.rjust(widths[m]) for m in models)
        print(head)
        print("-" * len(head))
        for r in report.layers:
            if r.quality is None:
                print(f"{_fmt(r.name, 's', 34)} {r.status}: {r.reason}")
                continue
            e = r.quality.ecs
            vals = [r.name, r.alpha, r.alpha_hat, e.num_ecs, e.num_tail, e.delta_lambda_min,
                    e.erg_residual_at_xmin]
            line = " ".join(_fmt(v, s, w) for v, (_, w, s) in zip(vals, cols, strict=True))
            print(line + " " + " ".join(qcell(r.quality.models.get(m), m) for m in models))
        print(f"\nECS rule {ecs!r}; log10 Q per model (Q^2 = sum_ECS G(lambda_i), "
              f"{args.scale} scale); ERG = sum of ln lambda over the power-law tail "
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
    payload = report.to_json_dict()
    if args.plot:
        from .plotting import (
            plot_ecs_esd,
            plot_erg_vs_alpha,
            plot_quality_vs_alpha,
            safe_filename,
        )

        out = Path(args.plot)
        (out / "esd").mkdir(parents=True, exist_ok=True)
        recs = report.with_quality
        for r in recs:
            assert r.quality is not None
            plot_ecs_esd(result.evals[r.name], r.quality.ecs,
                         out / "esd" / f"{safe_filename(r.name)}.png", name=r.name)
        alphas = np.array([r.alpha if r.alpha is not None else np.nan for r in recs])
        curve = None
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
    if not report.with_quality:
        raise CLIError(f"{source}: no layer has an effective correlation space "
                       "(reasons in the table above)")
    return EXIT_OK


def _ensure_parent(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)


def _check_common_options(args: argparse.Namespace) -> None:
    """Options of analyze / analyze-many that would otherwise fail in every layer."""
    if args.seed < 0:
        raise CLIError(f"--seed must be >= 0, got {args.seed}")
    if args.max_evals is not None and args.max_evals < args.min_evals:
        raise CLIError(f"--max-evals ({args.max_evals}) must be >= --min-evals "
                       f"({args.min_evals})")


def _check_outputs(args: argparse.Namespace, files: Sequence[str] = (),
                   dirs: Sequence[str] = ()) -> None:
    """Refuse output paths that cannot be written before any work is done: a file option
    naming a directory, a directory option naming a file, a parent that is a file."""
    for dest, want_dir in [(d, False) for d in files] + [(d, True) for d in dirs]:
        value = getattr(args, dest, None)
        if not value:
            continue
        opt = "--" + dest.replace("_", "-")
        p = Path(value)
        if want_dir and p.exists() and not p.is_dir():
            raise CLIError(f"{opt} {value}: exists and is not a directory")
        if not want_dir and p.is_dir():
            raise CLIError(f"{opt} {value}: is a directory (give a file name)")
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise CLIError(f"{opt} {value}: {parent} is not a directory")
                break


def _os_message(exc: BaseException) -> str:
    """One line for an error; an OSError names its path(s)."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        names = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 else "")
        return f"{names}: {exc.strerror}"
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``setol`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except (CLIError, ValueError, OSError) as exc:
        # bad input named by the command (subcommands raise ValueError with a clear message);
        # an output path that cannot be written (OSError: named with its path)
        if args.debug:
            raise
        print(f"setol {args.command}: error: {_os_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
