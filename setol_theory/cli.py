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
    """The argument parser of ``setol`` (subcommands: analyze, verify)."""
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
    a.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="compute eigenvalues with torch on this device (default: numpy)")
    a.add_argument("--no-traps", action="store_true",
                   help="skip the correlation-trap test (halves the eigenvalue work)")
    a.add_argument("--seed", type=int, default=0, help="seed of the correlation-trap shuffles")
    a.add_argument("--keep-going", action="store_true",
                   help="record layers that cannot be analysed (with the reason) and go on")
    a.add_argument("--json", metavar="FILE", help="write the per-layer records as JSON")
    a.add_argument("--csv", metavar="FILE", help="write the per-layer records as CSV")
    a.add_argument("--plot", metavar="DIR", help="write one ESD figure per layer into DIR")
    a.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    a.set_defaults(func=cmd_analyze)

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
    v.set_defaults(func=cmd_verify)
    return p


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    try:
        report = verify(
            args.model, n=args.n, seeds=args.seeds, seed=args.seed, sympy=not args.no_sympy,
            plot_dir=args.plot, progress=lambda msg: print(msg, file=sys.stderr),
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
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


def cmd_analyze(args: argparse.Namespace) -> int:
    from .htsr import LayerError, analyze, metric_names

    source = _resolve_source(args.path)
    if args.min_evals < 1:
        raise CLIError(f"--min-evals must be >= 1, got {args.min_evals}")
    if args.min_tail < 2:
        raise CLIError(f"--min-tail must be >= 2, got {args.min_tail}")
    eig_kwargs: dict[str, Any] = {}
    if args.device is not None:
        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise CLIError("--device cuda: torch finds no CUDA device on this machine")
        eig_kwargs = {"backend": "torch", "device": args.device}
    if not args.quiet:
        print(f"setol analyze: {source}", file=sys.stderr)
    try:
        result = analyze(
            source,
            layers=args.layers,
            kinds=args.kinds,
            conv=args.conv,
            min_evals=args.min_evals,
            max_evals=args.max_evals,
            normalization=args.normalization,
            traps=not args.no_traps,
            seed=args.seed,
            fit_kwargs={"min_tail": args.min_tail},
            eig_kwargs=eig_kwargs,
            on_error="record" if args.keep_going else "raise",
            keep_evals=bool(args.plot),
            progress=not args.quiet,
        )
    except LayerError as exc:
        raise CLIError(f"{source}: {exc} (use --keep-going to record it and go on)") from exc
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        raise CLIError(f"{source}: {exc}") from exc

    if not args.quiet:
        print(format_table(result.layers))
        s = result.summary()
        print(
            f"\n{s['num_analysed']} of {s['num_layers']} layers analysed; "
            f"mean alpha = {s['mean_alpha']:.3f}, mean alpha_hat = {s['mean_alpha_hat']:.3f}, "
            f"mean log_norm = {s['mean_log_norm']:.3f}  (normalization={args.normalization})"
        )
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


def _ensure_parent(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``setol`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except CLIError as exc:
        if args.debug:
            raise
        print(f"setol {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
