"""``setol mlp3``: the paper's 3-layer MLP experiments (run, sweep, plot).

Registered on the ``setol`` parser by :func:`register`. Nothing heavy (torch, matplotlib) is
imported until a subcommand runs. Bad input (unknown data path, unreadable files, LR <= 0,
batch size < 1 or larger than the training set, widths that leave too few eigenvalues) stops
with a one-line error before any training.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

_DEFAULT_LR_FACTORS = (1, 2, 4, 8, 16, 32)


_CI_BATCH_SIZES = (4, 8, 16, 32)


_PAPER_BATCH_SIZES = (1, 2, 4, 8, 16, 32)


def _add_common(p: argparse.ArgumentParser, *, sweep: bool) -> None:
    g = p.add_argument_group("model and training")
    if not sweep:
        g.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01)")
        g.add_argument("--bs", type=int, default=32, help="batch size (default 32)")
        g.add_argument("--layers", choices=["all", "fc1", "fc2"], default="all",
                       help="trained layers; the others stay at their init (default all)")
        g.add_argument("--seed", type=int, default=1,
                       help="fixes init, split and batch order (default 1)")
    g.add_argument("--widths", type=int, nargs=2, default=[300, 100], metavar=("W1", "W2"),
                   help="hidden widths (default 300 100)")
    g.add_argument("--max-epochs", type=int, default=None,
                   help="epoch cap (default 200; 1000 with sweep --full)")
    g.add_argument("--patience", type=int, default=3,
                   help="early stopping: epochs without a train-loss improvement (default 3)")
    g.add_argument("--min-delta", type=float, default=1e-4,
                   help="early stopping: smallest improvement that counts (default 1e-4)")
    g.add_argument("--reduction", choices=["mean", "sum"], default="mean",
                   help="cross-entropy over a batch: mean (authors' code) or sum (appendix)")
    g.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="torch device (default: cuda when present)")
    g.add_argument("--threads", type=int, default=None,
                   help="torch threads per run (default 2 for run, 1 for sweep)")
    d = p.add_argument_group("data")
    d.add_argument("--data", default=None, metavar="NAME",
                   help="mnist5k (default: 5,000 packaged MNIST digits), mnist, fashion-mnist, "
                        "cifar10 (need --data-path) or digits (needs scikit-learn)")
    d.add_argument("--data-path", default=None, metavar="PATH",
                   help="IDX files / torchvision root / cifar-10-batches-py / a mnist_5k CSV")
    d.add_argument("--n-train", type=int, default=None,
                   help="training images (default 4000 of the 5k subset, all otherwise)")
    d.add_argument("--n-test", type=int, default=None, help="test images (default 1000 / all)")
    d.add_argument("--val-fraction", type=float, default=None,
                   help="share of the training images held out as validation (default 0; "
                        "0.1 with --full)")
    a = p.add_argument_group("analysis")
    a.add_argument("--normalization", choices=["none", "N"], default="none",
                   help="ESD of W^T W (sigma^2 scale, default) or W^T W / N")
    a.add_argument("--min-evals", type=int, default=50,
                   help="analyse layers with at least this many eigenvalues (default 50)")
    a.add_argument("--min-tail", type=int, default=10, help="smallest power-law tail (10)")
    a.add_argument("--detx-rule", choices=["first_below", "closest"], default="first_below",
                   help="TraceLog/detX edge rule (default first_below, the reference tool's)")
    a.add_argument("--no-traps", action="store_true", help="skip the correlation-trap test")
    a.add_argument("--no-truncation", action="store_true", help="skip the ECS truncation test")
    a.add_argument("--no-quality", action="store_true", help="skip the Q^2 column")
    o = p.add_argument_group("output")
    o.add_argument("--out", default=None, metavar="DIR", help="output directory")
    o.add_argument("--overwrite", action="store_true",
                   help="start afresh even if DIR holds a run (default: resume / skip)")
    o.add_argument("--plot", action="store_true", help="write the figures into DIR/figures")
    o.add_argument("--quiet", action="store_true", help="no per-epoch log / progress bar")


def register(subparsers: Any) -> None:
    """Add ``setol mlp3 {run, sweep, plot}`` to the ``setol`` subparsers."""
    m = subparsers.add_parser(
        "mlp3",
        help="the paper's 3-layer MLP: training with per-epoch layer spectra, ECS truncation, "
             "correlation traps; LR / batch-size sweeps; figures",
        description="MLP3 experiments of the SETOL paper (arXiv:2507.17912 Sec. 6, App. A.5; "
                    "docs/mlp3.md): "
                    "train 784-300-100-10 MLPs on MNIST and measure every epoch.",
    )
    sub = m.add_subparsers(dest="mlp3_command", metavar="ACTION")
    sub.required = True

    r = sub.add_parser("run", help="train one MLP3 and measure every epoch",
                       description="Train one MLP3 (resumable) and write DIR/epochs.csv.")
    _add_common(r, sweep=False)
    r.add_argument("--parquet", action="store_true",
                   help="also write epochs.parquet (needs pyarrow)")
    r.set_defaults(func=_cmd_run)

    s = sub.add_parser(
        "sweep", help="LR or batch-size sweep (processes, or a Dask cluster), resumable",
        description="Run a grid of MLP3 trainings, one directory per run; finished runs are "
                    "skipped, interrupted ones resume.")
    s.add_argument("kind", choices=["lr", "bs"], help="what to sweep")
    s.add_argument("--values", type=float, nargs="+", default=None,
                   help="LR factors (lr sweep, default 1 2 4 8 16 32) or batch sizes "
                        "(bs sweep, default 4 8 16 32; 1..32 with --full)")
    s.add_argument("--lr", type=float, default=0.01,
                   help="base LR (lr sweep: lr x factor) or fixed LR (bs sweep); default 0.01")
    s.add_argument("--bs", type=int, default=32, help="fixed batch size of an lr sweep (32)")
    s.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="run seeds (default 1 2; 1..5 with --full)")
    s.add_argument("--layers", nargs="+", choices=["all", "fc1", "fc2"], default=None,
                   help="trained-layer choices (default all; all fc1 fc2 with --full)")
    s.add_argument("--workers", type=int, default=None,
                   help="local processes (default: CPU cores / threads)")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on this Dask scheduler (tcp://host:8786) instead of local "
                        "processes; DIR must be visible to the workers")
    s.add_argument("--full", action="store_true",
                   help="the paper's grid: 5 seeds, layers all/fc1/fc2, 6 settings, up to "
                        "1000 epochs, 10%% validation; needs full MNIST (--data mnist "
                        "--data-path DIR); meant for a GPU machine")
    _add_common(s, sweep=True)
    s.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("plot", help="figures of a run or sweep directory",
                       description="Write the MLP3 figures (PNG) of RUNDIR.")
    p.add_argument("rundir", help="a run directory or a sweep directory")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where to write the figures (default RUNDIR/figures)")
    p.add_argument("--prefix", default="mlp3_", help="file name prefix (default mlp3_)")
    p.add_argument("--figures", nargs="+", default=None, metavar="NAME",
                   help="only these figures: epochs, vs_setting, error_vs_alpha, truncation, "
                        "delta_lambda, traps, overloading (default: all that apply)")
    p.add_argument("--html", metavar="FILE",
                   help="also write a self-contained HTML report: one row per run (final "
                        "epoch), the figures, the epoch tables as JSON")
    p.set_defaults(func=_cmd_plot)


# --------------------------------------------------------------------------------------------
def _passive_openmp() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user set it (only effective before torch loads).

    On a 2-core machine shared with other work, torch's spinning OpenMP threads made a
    training epoch 10-25x slower (measured: 0.19 s passive vs 2.5-5 s spinning, 2 threads,
    load average 3); sweep worker processes inherit the setting.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _fail(exc: BaseException) -> Exception:
    from ._common import CLIError

    return CLIError(str(exc))


def _config_kwargs(args: argparse.Namespace, *, threads_default: int) -> dict[str, Any]:
    return dict(
        widths=tuple(args.widths),
        dataset=args.data or "mnist5k",
        data_path=args.data_path,
        n_train=args.n_train,
        n_test=args.n_test,
        val_fraction=0.0 if args.val_fraction is None else args.val_fraction,
        max_epochs=200 if args.max_epochs is None else args.max_epochs,
        patience=args.patience,
        min_delta=args.min_delta,
        reduction=args.reduction,
        optimizer=args.optimizer,
        normalization=args.normalization,
        min_evals=args.min_evals,
        min_tail=args.min_tail,
        detx_rule=args.detx_rule,
        traps=not args.no_traps,
        truncation=not args.no_truncation,
        quality=not args.no_quality,
        device=args.device,
        threads=threads_default if args.threads is None else args.threads,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    _passive_openmp()
    try:
        from simulations.mlp3 import MLP3Config, timing_line, train_run

        cfg = MLP3Config(lr=args.lr, batch_size=args.bs, layers=args.layers, seed=args.seed,
                         **_config_kwargs(args, threads_default=2))
        out = Path(args.out) if args.out else Path("results") / "mlp3" / cfg.name
        log = None if args.quiet else (lambda msg: print(msg, flush=True))
        res = train_run(cfg, out, overwrite=args.overwrite, log=log, parquet=args.parquet)
    except (ValueError, TypeError, OSError) as exc:
        raise _fail(exc) from exc
    if res.skipped and not args.quiet:
        print(f"{out}: already finished ({res.status} after epoch {res.epochs}); "
              "--overwrite to run it again")
    t = res.timing()
    if t and not args.quiet:
        print(timing_line(t))
    print(f"{out / 'epochs.csv'}: {len(res.rows)} rows (epochs 0..{res.epochs}), {res.status}")
    if args.plot:
        _plot(out, out / "figures", "mlp3_", quiet=args.quiet)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    _passive_openmp()
    try:
        from simulations.mlp3 import bs_grid, lr_grid, run_grid

        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        if args.full:
            if (args.data or "mnist5k") == "mnist5k" or not args.data_path:
                raise ValueError("--full is the paper's grid on full data: give --data mnist "
                                 "(or fashion-mnist, cifar10) and --data-path DIR")
            if args.max_epochs is None:
                args.max_epochs = 1000
            if args.val_fraction is None:
                args.val_fraction = 0.1
        seeds = args.seeds or ([1, 2, 3, 4, 5] if args.full else [1, 2])
        layers = args.layers or (["all", "fc1", "fc2"] if args.full else ["all"])
        common = _config_kwargs(args, threads_default=1)
        if args.kind == "lr":
            values = args.values or list(_DEFAULT_LR_FACTORS)
            configs = lr_grid(values, base_lr=args.lr, batch_size=args.bs, seeds=seeds,
                              layers=layers, **common)
            base = {"lr": args.lr, "batch_size": args.bs}
        else:
            values = args.values or list(_PAPER_BATCH_SIZES if args.full else _CI_BATCH_SIZES)
            bad = [v for v in values if v != int(v)]
            if bad:
                raise ValueError(f"batch sizes must be integers, got {bad}")
            configs = bs_grid([int(v) for v in values], lr=args.lr, seeds=seeds, layers=layers,
                              **common)
            base = {"lr": args.lr}
        out = Path(args.out) if args.out else Path("results") / f"mlp3-sweep-{args.kind}"
        print(f"mlp3 sweep {args.kind}: {len(configs)} runs into {out}", file=sys.stderr)
        results = run_grid(configs, out, kind=args.kind, base=base, workers=args.workers,
                           scheduler=args.scheduler, progress=not args.quiet,
                           overwrite=args.overwrite)
    except (ValueError, TypeError, OSError) as exc:
        raise _fail(exc) from exc
    failed = [r for r in results if r["status"] == "error"]
    for r in results:
        extra = r.get("error") or (f"epochs 0..{r['epochs']}" if "epochs" in r else "")
        print(f"{r['name']:32s} {r['status']:11s} {extra}")
    print(f"{out / 'summary.csv'}: final epoch of every run")
    if args.plot:
        _plot(out, out / "figures", "mlp3_", quiet=args.quiet)
    if failed:
        from ._common import CLIError

        raise CLIError(f"{len(failed)} of {len(results)} runs failed (see error.txt in their "
                       "directories)")
    return 0


def _plot(rundir: Path, out: Path, prefix: str, *, quiet: bool = False,
          figures: list[str] | None = None) -> list[Path]:
    try:
        from simulations.mlp3 import plot_runs

        paths = plot_runs(rundir, out, prefix=prefix, figures=figures)
    except (ValueError, OSError) as exc:
        raise _fail(exc) from exc
    if not quiet:
        for p in paths:
            print(p)
    return paths


def _cmd_plot(args: argparse.Namespace) -> int:
    rundir = Path(args.rundir)
    if not rundir.is_dir():
        raise _fail(ValueError(f"{rundir}: no such directory"))
    paths = _plot(rundir, Path(args.out) if args.out else rundir / "figures", args.prefix,
                  figures=args.figures)
    if args.html:
        print(f"report: {_html_report(rundir, paths, Path(args.html))}")
    return 0


#: Columns of the MLP3 report: one row per run, the final epoch.
_MLP3_COLUMNS = {
    "name": "run directory",
    "lr": "SGD learning rate",
    "batch_size": "mini-batch size",
    "layers": "trained layers (all, fc1, fc2)",
    "seed": "seed of init, split and batch order",
    "epoch": "last epoch measured",
    "train_error": "training error (fraction misclassified) at the last epoch",
    "test_error": "test error (fraction misclassified) at the last epoch",
    "fc1_alpha": "power-law alpha of FC1's ESD at the last epoch ([MH2025] Sec. 6.1)",
    "fc2_alpha": "power-law alpha of FC2's ESD at the last epoch",
    "fc1_delta_lambda_min": "xmin - lambda_min^detX of FC1 (0 at the ERG condition, Sec. 6.3)",
    "fc2_delta_lambda_min": "xmin - lambda_min^detX of FC2",
}


def _html_report(rundir: Path, figures: list[Path], out: Path) -> Path:
    """The HTML report of an MLP3 run or sweep directory (setol_theory.report)."""
    from simulations.mlp3 import collect_runs

    from ..report import Section, write_html_report

    runs = collect_runs(rundir)
    rows = []
    for r in runs:
        last = r["rows"][-1] if r["rows"] else {}
        row = {"name": r["name"]}
        row.update({k: r["config"].get(k) for k in ("lr", "batch_size", "layers", "seed")})
        row.update({k: last.get(k) for k in _MLP3_COLUMNS if k not in row})
        rows.append(row)
    seeds = {r["config"].get("seed") for r in runs}
    figs = Section(title="Figures", figures=[(p.read_bytes(), p.stem) for p in figures],
                   paragraphs=[f"{len(runs)} run(s), {len(seeds)} seed(s); docs/mlp3.md "
                               "explains each figure."], id="mlp3-figures")
    return write_html_report(out, title=f"setol mlp3: {rundir.name}", rows=rows,
                             columns=list(_MLP3_COLUMNS), definitions_given=_MLP3_COLUMNS,
                             sections=[figs], table_title="Runs (final epoch)",
                             data={"runs": [{"name": r["name"], "config": r["config"],
                                             "rows": r["rows"]} for r in runs]},
                             subtitle=f"setol mlp3 plot {rundir.name}")

