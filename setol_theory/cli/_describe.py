"""``setol describe``: names, shapes, dtypes, kinds and what ``analyze`` would do, from the
headers alone."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from ..options import AnalysisOptions, add_arguments
from ._common import (
    EXIT_OK,
    CLIError,
    Column,
    _check_outputs,
    _os_message,
    _resolve_source,
    about,
    add_download_argument,
    format_table,
    options_from_args,
)

#: The table of ``setol describe`` after the tensor name.
DESCRIBE_COLUMNS: list[Column] = [
    Column("action", "action", 10, "s"),
    Column("kind", "kind", 12, "s"),
    Column("dtype", "dtype", 8, "s"),
    Column("shape_text", "shape", 14, "s"),
    Column("num_evals", "M", 6, "d"),
    Column("reason", "reason", 40, "s"),
]

_OPTIONS = ("layers", "kinds", "conv", "pool", "min_evals", "max_evals")


def register(sub: Any) -> None:
    """The ``describe`` subcommand."""
    d = sub.add_parser(
        "describe",
        help="tensors of a model (names, shapes, dtypes, kinds) and what 'analyze' would "
             "analyse, filter or skip, from the file headers alone",
        description=(
            "List the tensors of a model without reading a weight (safetensors and sharded "
            "checkpoints from their JSON headers, .npz from the member headers; torch pickles "
            "are loaded): name, shape, dtype, kind, and what 'setol analyze' with the same "
            "--layers/--kinds/--conv/--min-evals/--max-evals would do: analyse; filter (too few "
            "or too many eigenvalues: a 'filtered' row); skip (cannot be analysed: a 'skipped' "
            "row, an error without --keep-going); ignore (biases, norm scales, index buffers: "
            "not layers, shown with --all); unselected (excluded by --layers/--kinds)."
        ),
    )
    d.add_argument("path", nargs="?", help="model file or directory (default: all-MiniLM-L6-v2)")
    add_arguments(d, AnalysisOptions, only=_OPTIONS)
    add_download_argument(d)
    d.add_argument("--all", action="store_true",
                   help="also list the ignored tensors (biases, norm scales, index buffers)")
    d.add_argument("--json", metavar="FILE", help="write every entry as JSON")
    d.add_argument("--quiet", action="store_true", help="no table")
    d.set_defaults(func=cmd_describe)


def cmd_describe(args: argparse.Namespace) -> int:
    """``setol describe``."""
    from ..io import describe_layers
    from ..util import write_json

    source = _resolve_source(args.path, args.download)
    opts = options_from_args(AnalysisOptions, args)
    _check_outputs(args, files=("json",))
    try:
        plans = list(describe_layers(
            source, layers=list(opts.layers) if opts.layers else None,
            kinds=list(opts.kinds) if opts.kinds else None, conv=opts.conv, pool=opts.pool,
            min_evals=opts.min_evals, max_evals=opts.max_evals))
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        raise CLIError(about(source, _os_message(exc))) from exc
    counts = Counter(p.action for p in plans)
    analysed = [p for p in plans if p.action == "analyse"]
    summary = {
        "num_tensors": len({p.base_name for p in plans}),
        **{f"num_{a}": counts.get(a, 0) for a in ("analyse", "filter", "skip", "ignore",
                                                  "unselected")},
        "num_params_analysed": sum(p.num_params for p in analysed),
        "num_params": sum(p.num_params for p in plans),
    }
    if not args.quiet:
        print(f"setol describe: {source}", file=sys.stderr)
        rows = [{**p.to_dict(), "shape_text": "x".join(map(str, p.shape)) or "scalar"}
                for p in plans if args.all or p.action != "ignore"]
        print(format_table(rows, DESCRIBE_COLUMNS, name_head="tensor"))
        print(f"\n{summary['num_tensors']} tensors: {summary['num_analyse']} matrices to "
              f"analyse ({summary['num_params_analysed'] / 1e6:.3g} M parameters), "
              f"{summary['num_filter']} filtered, {summary['num_skip']} skipped, "
              f"{summary['num_ignore']} not layers{'' if args.all else ' (--all lists them)'}"
              + (f", {summary['num_unselected']} not selected" if summary["num_unselected"]
                 else ""))
        if summary["num_skip"]:
            print("skipped matrices stop 'setol analyze' unless --keep-going is given")
    if args.json:
        write_json(args.json, {
            "source": str(source),
            "settings": {k: getattr(opts, k) for k in _OPTIONS},
            "summary": summary,
            "tensors": [p.to_dict() for p in plans],
        })
    return EXIT_OK
