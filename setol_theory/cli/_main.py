"""The ``setol`` command line.

``setol analyze [PATH]`` runs the HTSR layer analysis of a model (default: the packaged
all-MiniLM-L6-v2 weights).  Errors in the input give a one-line message on stderr and a
non-zero exit code, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from ..errors import MissingExtra
from ..options import AnalysisOptions, QualityOptions, add_arguments
from ._analyze import _add_analyze_many, cmd_analyze
from ._common import (
    EXIT_ERROR,
    EXIT_USAGE,
    CLIError,
    _os_message,
    add_download_argument,
    add_html_figure_arguments,
)
from ._compare import register as register_compare
from ._describe import register as register_describe
from ._mlp3 import register as register_mlp3
from ._quality import cmd_quality
from ._simulate import register as register_simulate
from ._verify import cmd_verify


def _version() -> str:
    """``setol X.Y.Z (Python ..., numpy ..., torch ...)``: the versions that decide results,
    read from the installed metadata (torch is not imported)."""
    import platform
    from importlib import metadata

    from .. import __version__

    def ver(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (f"setol {__version__} (Python {platform.python_version()}, numpy {ver('numpy')}, "
            f"scipy {ver('scipy')}, torch {ver('torch')})")


def _add_esd_arguments(parser: argparse.ArgumentParser) -> None:
    """``--esd FILE`` and its shape/scale flags (analyze and quality)."""
    parser.add_argument("--esd", metavar="FILE",
                        help="analyse eigenvalues instead of weights: a 1-D .npy, a one-column "
                        ".txt/.csv, a JSON list (or object of lists), or an .npz keyed by "
                        "layer name")
    parser.add_argument("--esd-n", type=int, metavar="N",
                        help="with --esd: the layers' larger dimension N (for Q, the MP bulk "
                        "and the WᵀW metrics of an X-scale ESD; without it they are reported "
                        "unavailable)")
    parser.add_argument("--esd-scale", choices=["WtW", "X"], default="WtW",
                        help="with --esd: eigenvalues of WᵀW (default; WeightWatcher's "
                        "get_ESD) or of X = WᵀW/N")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``setol`` (subcommands: analyze, verify, quality, simulate, mlp3).

    No parser accepts abbreviated options (``--layer`` is not ``--layers``)."""
    p = argparse.ArgumentParser(
        prog="setol",
        description="SETOL / HTSR toolkit: spectral analysis of neural-network layers.",
        allow_abbrev=False,
    )
    p.add_argument("--version", action="version", version=_version())
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser(
        "analyze",
        help="HTSR metrics (alpha, alpha_weighted, MP bulk, spikes, traps) of each layer",
        description=(
            "HTSR analysis of each layer: ESD of X = W^T W / N, power-law tail fit "
            "(alpha, xmin), alpha_weighted and log norms (on W^T W), Marchenko-Pastur "
            "bulk, spikes and correlation "
            "traps. PATH may be a .safetensors, .pt/.pth/.bin (loaded with weights_only), "
            ".npz file, a Hugging-Face model directory, a Hugging Face model id ORG/NAME[@REV] "
            "in the local cache, or a PEFT LoRA adapter directory (each adapted layer's "
            "dW = (lora_alpha/r) B A, analysed from its r x r problem; correlation traps are "
            "not counted for it); default: the packaged all-MiniLM-L6-v2 weights."
        ),
    )
    a.add_argument("path", nargs="?", help="model file or directory (default: all-MiniLM-L6-v2)")
    add_arguments(a, AnalysisOptions)
    a.add_argument("--scheduler", metavar="ADDRESS",
                   help="one task per layer on a Dask cluster: 'local' (a LocalCluster) or a "
                        "scheduler address such as tcp://host:8786 (the workers must see PATH)")
    a.add_argument("--workers", type=int, default=None, metavar="N",
                   help="with --scheduler local: number of worker processes")
    add_download_argument(a)
    a.add_argument("--base", metavar="MODEL",
                   help="analyse PATH relative to the base model MODEL (file, directory or "
                        "Hugging Face id): a PEFT adapter PATH gives the merged weights W + dW; "
                        "a fine-tuned model PATH gives each layer's W_ft - W_base (layers "
                        "missing from the base, reshaped or unchanged are recorded as skipped)")
    a.add_argument("--keep-going", action="store_true",
                   help="record layers that cannot be analysed (with the reason) and go on")
    a.add_argument("--json", metavar="FILE", help="write the per-layer records as JSON")
    a.add_argument("--csv", metavar="FILE", help="write the per-layer records as CSV")
    a.add_argument("--plot", metavar="DIR", help="write one ESD figure per layer into DIR")
    a.add_argument("--html", metavar="FILE",
                   help="write a self-contained HTML report (summary, sortable table with each "
                        "layer's verdict, one ESD figure per layer, column legend, JSON)")
    a.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    add_html_figure_arguments(a)
    _add_esd_arguments(a)
    a.set_defaults(func=cmd_analyze)
    _add_analyze_many(sub)
    register_describe(sub)
    register_compare(sub)

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
    add_arguments(q, QualityOptions)
    add_arguments(q, AnalysisOptions, only=("layers", "kinds", "min_evals", "min_tail"))
    add_download_argument(q)
    q.add_argument("--keep-going", action="store_true",
                   help="record layers that cannot be read or analysed and go on")
    q.add_argument("--curve", metavar="FAMILY", choices=["imp", "tpl", "student_t", "ecs"],
                   help="no model: theoretical (model-derived) quality curve on synthetic "
                        "spectra of this family (imp: inverse MP with kappa = alpha/2; tpl: "
                        "truncated power law; student_t: heavy-tailed Wishart); ecs (with "
                        "--esd FILE): log10 Q of each given ESD under each model as a function "
                        "of the ECS edge lambda_min, the PL xmin and detX edges marked (table, "
                        "--json, --plot DIR: ecs_curve_<name>.png)")
    q.add_argument("--alpha", default="0.2:6:24", metavar="A:B[:N]",
                   help="with --curve: N nominal alphas from A to B (default 0.2:6:24)")
    q.add_argument("--curve-M", type=int, default=384, metavar="M",
                   help="with --curve: eigenvalues per synthetic spectrum (default 384)")
    q.add_argument("--json", metavar="FILE", help="write the per-layer records (or curve) as JSON")
    q.add_argument("--plot", metavar="DIR",
                   help="write figures into DIR: esd/<layer>.png with both ECS edges, "
                        "quality_vs_alpha.png with the model-derived curve, erg_vs_alpha.png "
                        "(with --curve: quality_curve_<family>.png)")
    q.add_argument("--html", metavar="FILE",
                   help="write a self-contained HTML report (table with verdicts and log10 Q, "
                        "ESD figures, quality vs alpha with the model-derived curve, JSON)")
    q.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    add_html_figure_arguments(q)
    _add_esd_arguments(q)
    q.set_defaults(func=cmd_quality)
    register_mlp3(sub)
    register_simulate(sub)
    for parser in _all_parsers(p):
        parser.allow_abbrev = False
    return p


def _all_parsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``p`` and every sub-command parser below it."""
    out = [p]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                out += _all_parsers(sub)
    return out


def _command_parser(p: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The deepest sub-command parser that ``argv`` names (``setol mlp3 run`` -> its parser)."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for i, word in enumerate(argv):
                if word in action.choices:
                    return _command_parser(action.choices[word], argv[i + 1:])
    return p


_NEGATIVE_VALUE = re.compile(r"^-\.?\d")


def _join_negative_values(p: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``--alpha -1:2:3`` -> ``--alpha=-1:2:3``: argparse takes a value that starts with ``-``
    and is not a plain number for an option and fails with "expected one argument"."""
    parser = _command_parser(p, argv)
    takes_value = {opt for a in parser._actions if a.option_strings and a.nargs != 0
                   for opt in a.option_strings if opt.startswith("--")}
    out: list[str] = []
    for word in argv:
        if out and out[-1] in takes_value and _NEGATIVE_VALUE.match(word):
            out[-1] = f"{out[-1]}={word}"
        else:
            out.append(word)
    return out


def _unknown_option_error(p: argparse.ArgumentParser, argv: Sequence[str],
                          extras: Sequence[str]) -> None:
    """Exit with "unknown option --layerz (did you mean --layers?)" instead of argparse's
    "unrecognized arguments: --layerz PATH" (whose PATH was the typo'd option's value)."""
    import difflib

    parser = _command_parser(p, argv)
    known = [opt for a in parser._actions for opt in a.option_strings if opt.startswith("--")]
    for word in extras:
        if word.startswith("-"):
            opt = word.split("=", 1)[0]
            close = difflib.get_close_matches(opt, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            parser.error(f"unknown option {opt}{hint}")
    parser.error(f"unexpected argument(s): {' '.join(extras)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``setol`` console script; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = _join_negative_values(parser, argv)
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unknown_option_error(parser, argv, extras)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `setol describe | head`: the reader has gone, nothing to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except (CLIError, MissingExtra, ValueError, OSError) as exc:
        # bad input named by the command (subcommands raise ValueError with a clear message);
        # an output path that cannot be written (OSError: named with its path); a feature
        # whose optional dependency is not installed (MissingExtra: names the extra)
        if args.debug:
            raise
        print(f"setol {args.command}: error: {_os_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130
