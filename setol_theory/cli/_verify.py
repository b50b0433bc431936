"""``setol verify``."""

from __future__ import annotations

import argparse
import json
import sys

from ._common import EXIT_ERROR, EXIT_OK, CLIError, _check_outputs, _ensure_parent


def cmd_verify(args: argparse.Namespace) -> int:
    from ..verify import verify

    _check_outputs(args, files=("json",), dirs=("plot",))
    try:
        report = verify(
            args.model, n=args.n, seeds=args.seeds, seed=args.seed, sympy=not args.no_sympy,
            plot_dir=args.plot, progress=lambda msg: print(msg, file=sys.stderr),
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if args.gpu:
        from ..linalg import DeviceError
        from ..verify import gpu_checks

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

