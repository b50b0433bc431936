"""``setol simulate``: teacher-student Monte Carlo sweeps against the analytic curves.

``setol simulate perceptron --student spherical|ising --alpha 0.5:10:20 --T 0.5 --N 200
--chains 8 [--scheduler ADDR] [--out DIR]`` runs Gibbs-learning Monte Carlo on the grid
``alpha x T x N x seed`` (:mod:`simulations.perceptron` through :mod:`simulations.sweep`),
writes the incremental ``results.jsonl``, an aggregated ``table.csv`` (with the ``1/N``
extrapolation when several ``N`` are given and the analytic ``eps_g`` of the replica-symmetric
and annealed theories) and a figure of ``eps_g(alpha)`` with error bars over the analytic
curves.  ``setol simulate matrix ...`` does the same for the matrix teacher-student model
(:mod:`simulations.matrix_model`): measured ``Q^2`` against the HCIZ / integrated-R
prediction, with the fitted convergence rate in ``N``.

Bad input (``alpha <= 0``, ``T < 0``, ``N < 2``, ``P = round(alpha N) = 0``, non-integer
sizes, an unreachable scheduler) raises ``ValueError`` before any simulation starts.
:func:`register` adds the subcommand to an ``argparse`` sub-parser set.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..util import nan_to_none, write_json

# --------------------------------------------------------------------------------------------
# argument parsing helpers
# --------------------------------------------------------------------------------------------

def parse_grid(text: str, name: str, *, positive: bool = True, allow_zero: bool = False
               ) -> list[float]:
    """``"a:b:n"`` (``n`` points from ``a`` to ``b``), ``"a,b,c"`` or ``"a"`` -> floats.

    Repeated values are dropped (first occurrence kept): a duplicate would run, and pool,
    the same simulation twice."""
    text = str(text).strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            a, b = float(parts[0]), float(parts[1])
            n = int(parts[2])
            if n < 1:
                raise ValueError
            vals = list(np.linspace(a, b, n)) if n > 1 else [a]
        else:
            vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--{name}: expected START:STOP:NUM, a comma list or a number, got "
                         f"{text!r}") from None
    if not vals:
        raise ValueError(f"--{name}: no values in {text!r}")
    for v in vals:
        if not math.isfinite(v):
            raise ValueError(f"--{name}: values must be finite, got {v!r}")
        if positive and (v < 0 or (v == 0 and not allow_zero)):
            raise ValueError(f"--{name} must be {'>= 0' if allow_zero else '> 0'}, got {v:g}")
    return list(dict.fromkeys(float(v) for v in vals))


def parse_sizes(text: str, name: str = "N", minimum: int = 2) -> list[int]:
    """Comma list of integer sizes ``>= minimum`` (``"100.5"`` or ``"1e2"`` are errors);
    repeated sizes are dropped (first occurrence kept)."""
    out = []
    for v in str(text).split(","):
        v = v.strip()
        if not v:
            continue
        try:
            n = int(v)
        except ValueError:
            raise ValueError(f"--{name} must be an integer (or a comma list of integers), got "
                             f"{v!r}") from None
        if n < minimum:
            raise ValueError(f"--{name} must be >= {minimum}, got {n}")
        out.append(n)
    if not out:
        raise ValueError(f"--{name}: no sizes given")
    return list(dict.fromkeys(out))


def _positive_int(v: Any, name: str, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ValueError(f"--{name} must be an integer >= {minimum}, got {v!r}")
    return v


# --------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------

def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` (with ``perceptron`` and ``matrix``) to an argparse sub-parser set."""
    s = subparsers.add_parser(
        "simulate",
        help="teacher-student Monte Carlo (perceptron Gibbs learning, matrix model) "
             "against the analytic curves",
        description="Teacher-student simulations: numba Monte Carlo of Gibbs learning "
                    "compared with the replica-symmetric / annealed learning curves, and the "
                    "matrix teacher-student model compared with the HCIZ prediction.")
    ssub = s.add_subparsers(dest="simulate_command", metavar="MODEL")
    ssub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--chains", type=int, default=8,
                       help="independent replicates per point: data sets for the perceptron "
                            "(each with a teacher-start and a random-start chain), chains "
                            "for the matrix model (default 8)")
        p.add_argument("--sweeps", type=int, default=None, help="Monte Carlo sweeps per chain")
        p.add_argument("--seeds", type=int, default=1,
                       help="independent seeds per grid point (default 1)")
        p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
        p.add_argument("--scheduler", metavar="ADDR",
                       help="Dask scheduler address (tcp://host:port); default: local processes")
        p.add_argument("--connect-timeout", type=float, default=10.0, metavar="SEC",
                       help="seconds to wait for the scheduler (default 10)")
        p.add_argument("--workers", type=int, default=None,
                       help="local worker processes (default: CPU count; 1 = this process)")
        p.add_argument("--out", metavar="DIR", help="output directory (results.jsonl, "
                       "table.csv, summary.json, figure); a rerun resumes")
        p.add_argument("--plot", metavar="FILE", help="figure path (default DIR/<model>.png)")
        p.add_argument("--no-plot", action="store_true", help="no figure")
        p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report "
                       "(each point's equilibration verdict, the figure, the settings)")
        p.add_argument("--quiet", action="store_true", help="no table, no progress bar")

    p = ssub.add_parser(
        "perceptron", help="Gibbs learning of a perceptron: eps_g(alpha) vs theory",
        description="Metropolis sampling of exp(-E/T) over students (E = training errors, or "
                    "the squared loss with --output linear); eps_g = arccos(R)/pi per sweep; "
                    "several N give a 1/N extrapolation.")
    p.add_argument("--student", choices=["spherical", "ising"], default="spherical")
    p.add_argument("--output", choices=["boolean", "linear"], default="boolean",
                   help="sign perceptron (training errors) or linear (squared loss)")
    p.add_argument("--alpha", default="0.5:5:10", metavar="GRID",
                   help="loads alpha = P/N: START:STOP:NUM or a comma list (default 0.5:5:10)")
    p.add_argument("--T", default="0.5", metavar="LIST",
                   help="temperatures (comma list, >= 0; 0 = version space)")
    p.add_argument("--N", default="100", metavar="LIST", help="input sizes (comma list)")
    p.add_argument("--burn-in", type=int, default=None,
                   help="burn-in sweeps of the first run (default: a third of --sweeps; "
                        "extensions keep this fraction)")
    p.add_argument("--max-sweeps", type=int, default=200_000, metavar="S",
                   help="budget: a point extends itself until it is equilibrated or its "
                        "chains reach S sweeps (default 200000; = --sweeps: no extension)")
    p.add_argument("--max-seconds", type=float, default=None, metavar="SEC",
                   help="budget of engine seconds per point (default none)")
    p.add_argument("--tau-multiple", type=float, default=50.0, metavar="K",
                   help="equilibrated needs a window of >= K autocorrelation times of R and "
                        "the energy (default 50)")
    p.add_argument("--target-se", type=float, default=None, metavar="SE",
                   help="add data sets until the standard error of eps_g is <= SE (up to 16 "
                        "times --chains)")
    p.add_argument("--mover", choices=["auto", "metropolis", "heatbath", "meridian",
                                       "heatbath+meridian"], default="auto",
                   help="spherical-student moves (default auto = meridian: Metropolis pair "
                        "rotations + moves along the great circle through the teacher)")
    common(p)
    p.set_defaults(func=cmd_simulate_perceptron, sweeps_default=3000)

    m = ssub.add_parser(
        "matrix", help="matrix teacher-student model: measured Q^2 vs the HCIZ prediction",
        description="Student layers A_N = O D O^T with fixed spectrum D (quantiles of --law) "
                    "and orientation sampled with weight exp(n beta Tr[T^T A_N T]) for a "
                    "teacher with ECS eigenvalues --lambdas; Q^2 = <Tr R^T R> against "
                    "sum_k lambda_k F'(2 n beta lambda_k) and the paper's sum_k G(lambda_k).")
    m.add_argument("--law", choices=["mp", "wigner"], default="mp",
                   help="student spectral law (default Marchenko-Pastur)")
    m.add_argument("--q", type=float, default=0.5, help="MP aspect ratio (default 0.5)")
    m.add_argument("--sigma2", type=float, default=1.0, help="law variance (default 1)")
    m.add_argument("--lambdas", default="4,2,1,0.5,0.25", metavar="LIST",
                   help="teacher ECS eigenvalues (default 4,2,1,0.5,0.25: sum of logs = 0)")
    m.add_argument("--nbeta", default="0.08", metavar="GRID",
                   help="n * beta values: START:STOP:NUM or comma list (default 0.08)")
    m.add_argument("--N", default="32,64,128,256", metavar="LIST",
                   help="student sizes (comma list)")
    m.add_argument("--max-sweeps", type=int, default=200_000, metavar="S",
                   help="budget: a point extends itself until its random and locked starts "
                        "agree and it covers --tau-multiple autocorrelation times, or its "
                        "chains reach S sweeps (default 200000; = --sweeps: no extension)")
    m.add_argument("--max-seconds", type=float, default=None, metavar="SEC",
                   help="budget of engine seconds per point (default none)")
    m.add_argument("--tau-multiple", type=float, default=50.0, metavar="K",
                   help="equilibrated needs a window of >= K autocorrelation times of every "
                        "u_k^T D u_k (default 50)")
    common(m)
    m.set_defaults(func=cmd_simulate_matrix, sweeps_default=20000)

    a = ssub.add_parser(
        "matrix-annealed", help="matrix annealed Hamiltonian: closed form vs Monte Carlo",
        description="beta G_an(R) = 1/2 ln det[I + (2 beta/M)(I - R)] per example (Gaussian "
                    "features of variance 1/M) against a Monte Carlo average over data, the "
                    "paper's trace form and the large-M limit (beta/M) Tr(I - R).")
    a.add_argument("--M", default="1,8,64", metavar="LIST", help="feature dimensions")
    a.add_argument("--beta", type=float, default=2.0, help="inverse temperature (default 2)")
    a.add_argument("--r", default="-0.5:1:7", metavar="GRID",
                   help="mean eigenvalues of R (default -0.5:1:7)")
    a.add_argument("--n-data", type=int, default=200_000, help="data draws per point")
    a.add_argument("--plot", metavar="FILE", default="results/matrix-annealed.png")
    a.add_argument("--quiet", action="store_true", help="no table")
    a.set_defaults(func=cmd_simulate_matrix_annealed)

    t = ssub.add_parser(
        "theory", help="figure of the analytic learning curves (no simulation)",
        description="T = 0 replica-symmetric and annealed curves (spherical and Ising, with the "
                    "Ising transition and spinodal), the high-temperature limit, the linear "
                    "perceptron's annealed curves at finite beta, and Ising entropy landscapes "
                    "(docs/simulations.md, \"Analytic curves\").")
    t.add_argument("--plot", metavar="FILE", default="results/simulate-theory.png",
                   help="figure path (default results/simulate-theory.png)")
    t.add_argument("--quiet", action="store_true", help="no table")
    t.set_defaults(func=cmd_simulate_theory)
    return s


# --------------------------------------------------------------------------------------------
# perceptron
# --------------------------------------------------------------------------------------------

def _seeds(args: argparse.Namespace) -> list[int]:
    n = _positive_int(args.seeds, "seeds")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    return [args.seed + k for k in range(n)]


def _theory_perceptron(prior: str, output: str, T: float, loads: Sequence[float]
                       ) -> dict[str, Any]:
    from .. import statmech as sm

    loads = np.asarray(sorted(set(loads)), dtype=float)
    out: dict[str, Any] = {"load": loads}
    if output == "boolean":
        rs = sm.gibbs_learning_curve(loads, T, prior)
        out["rs"] = rs.eps_g
        out["rs_R"] = rs.R
        out["rs_other"] = rs.eps_g_other
        out["transition"] = rs.transition
    if not (output == "linear" and T == 0.0):
        out["annealed"] = sm.annealed_learning_curve(loads, T, prior, output).eps_g
    return out


def cmd_simulate_perceptron(args: argparse.Namespace) -> int:
    """Run the perceptron sweep, write the table / summary / figure; returns 0."""
    from simulations.sweep import (
        aggregate_perceptron,
        perceptron_tasks,
        run_sweep,
        run_task,
        run_task_with_progress,
    )

    loads = parse_grid(args.alpha, "alpha")
    temps = parse_grid(args.T, "T", allow_zero=True)
    sizes = parse_sizes(args.N)
    chains = _positive_int(args.chains, "chains", 2)
    sweeps = _positive_int(args.sweeps if args.sweeps is not None else args.sweeps_default,
                           "sweeps", 2)
    burn = sweeps // 3 if args.burn_in is None else args.burn_in
    if not isinstance(burn, int) or burn < 0 or burn >= sweeps:
        raise ValueError(f"--burn-in must be in [0, sweeps), got {burn}")
    max_sweeps = _positive_int(args.max_sweeps, "max-sweeps", 2)
    if max_sweeps < sweeps:
        raise ValueError(f"--max-sweeps ({max_sweeps}) must be >= --sweeps ({sweeps})")
    for name, v in (("max-seconds", args.max_seconds), ("target-se", args.target_se),
                    ("tau-multiple", args.tau_multiple)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ValueError(f"--{name} must be > 0, got {v}")
    if args.output == "linear" and 0.0 in temps:
        raise ValueError("--output linear needs T > 0 (its version space is the teacher)")
    if args.workers is not None:
        _positive_int(args.workers, "workers")
    tasks = perceptron_tasks(loads, temps, sizes, _seeds(args), prior=args.student,
                             output=args.output, n_samples=chains, n_sweeps=sweeps,
                             n_burn=burn, max_sweeps=max_sweeps, tau_multiple=args.tau_multiple,
                             mover=args.mover,
                             **({"max_seconds": args.max_seconds} if args.max_seconds else {}),
                             **({"target_se": args.target_se} if args.target_se else {}))
    out = Path(args.out or "results/simulate-perceptron")
    recs = run_sweep(tasks, out, scheduler=args.scheduler, workers=args.workers,
                     progress=not args.quiet, connect_timeout=args.connect_timeout,
                     func=run_task_with_progress if not args.quiet else run_task)
    rows = aggregate_perceptron(recs)
    try:
        theory = {T: _theory_perceptron(args.student, args.output, T,
                                        [r.get("load_realised", r["load"]) for r in rows
                                         if r["T"] == T] + [r["load"] for r in rows
                                                            if r["T"] == T])
                  for T in sorted({r["T"] for r in rows})}
    except (ValueError, RuntimeError, ArithmeticError) as exc:
        raise ValueError(f"the analytic (statmech) curve failed: {exc}; the Monte Carlo "
                         f"records are kept in {out / 'results.jsonl'}") from exc
    for r in rows:
        th = theory[r["T"]]
        # per-N rows: the theory at the simulated load P/N; N = inf rows: the requested alpha
        k = int(np.argmin(np.abs(th["load"] - r.get("load_realised", r["load"]))))
        r["eps_rs"] = float(th["rs"][k]) if "rs" in th else math.nan
        r["R_rs"] = float(th["rs_R"][k]) if "rs_R" in th else math.nan
        r["eps_annealed"] = float(th["annealed"][k]) if "annealed" in th else math.nan
        ref = r["eps_rs"] if math.isfinite(r["eps_rs"]) else r["eps_annealed"]
        r["z"] = (r["eps_g"] - ref) / r["eps_g_se"] if r.get("eps_g_se") else math.nan
    _write_table(out / "table.csv", rows)
    summary = {"command": "simulate perceptron", "student": args.student,
               "output": args.output, "loads": loads, "T": temps, "N": sizes,
               "chains": chains, "sweeps": sweeps, "burn_in": burn, "rows": rows,
               "transitions": {str(T): _tr(th.get("transition")) for T, th in theory.items()}}
    write_json(out / "summary.json", nan_to_none(summary, inf_strings=True))
    if not args.quiet:
        print(_perceptron_table(rows))
        print(_verdicts(rows, args.tau_multiple))
    if not args.no_plot:
        path = Path(args.plot) if args.plot else out / "perceptron.png"
        try:
            _plot_perceptron(rows, args.student, args.output, path)
        except (RuntimeError, ArithmeticError) as exc:
            raise ValueError(f"the figure's analytic curve failed: {exc}; table and summary "
                             f"are written to {out}") from exc
        if not args.quiet:
            print(f"figure: {path}", file=sys.stderr)
    _write_html(args, out, None if args.no_plot else path)
    return 0


def _write_html(args: argparse.Namespace, out: Path, figure: Path | None) -> None:
    """``--html FILE``: the report of the run's summary.json (report.write_simulate_report)."""
    if args.html:
        import json

        from ..report import write_simulate_report

        summary = json.loads((out / "summary.json").read_text())
        path = write_simulate_report(args.html, summary, figures=[figure] if figure else [])
        print(f"report: {path}", file=sys.stderr)


def _tr(tr: Any) -> Any:
    if tr is None:
        return None
    return {"load_c": tr.load_c, "load_spinodal": tr.load_spinodal}


def _perceptron_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'T':>6} {'alpha':>7} {'N':>6} {'eps_g':>8} {'+-':>7} {'eps_RS':>8} "
            f"{'eps_AA':>8} {'z':>6} {'eps_t':>7} {'R':>7} {'q':>7} {'tau':>6} {'sweeps':>7} "
            f"{'eq':>3}")
    lines = [head]
    def fmt(r: dict[str, Any], key: str, spec: str = ".4f") -> str:
        v = r.get(key, math.nan)
        return format(v, spec) if isinstance(v, (int, float)) and math.isfinite(v) else "-"

    for r in rows:
        n = "inf" if not math.isfinite(r["N"]) else str(int(r["N"]))

        def f(key: str, spec: str = ".4f", r: dict[str, Any] = r) -> str:
            return fmt(r, key, spec)

        lines.append(f"{r['T']:>6g} {r['load']:>7.3f} {n:>6} {f('eps_g'):>8} "
                     f"{f('eps_g_se'):>7} {f('eps_rs'):>8} {f('eps_annealed'):>8} "
                     f"{f('z', '.2f'):>6} {f('eps_t'):>7} {f('R'):>7} {f('q'):>7} "
                     f"{f('tau', '.0f'):>6} {f('n_sweeps', '.0f'):>7} "
                     f"{({True: 'y', False: 'n'}.get(r.get('equilibrated'), '-')):>3}")
    return "\n".join(lines)


def _verdict_legend(criterion: str, points: list[dict[str, Any]],
                    label: Callable[[dict[str, Any]], str]) -> str:
    """The equilibration legend (``criterion``, then "k of n points equilibrated") and, per
    point that is not equilibrated (named by ``label``), why and what to change."""
    bad = [r for r in points if not r.get("equilibrated")]
    lines = [f"{criterion}; {len(points) - len(bad)} of {len(points)} points equilibrated"]
    for r in bad:
        lines.append(f"  {label(r)}: not equilibrated: "
                     f"{r.get('reason') or 'no verdict recorded'}"
                     + (f"; to change: {r['advice']}" if r.get("advice") else ""))
    return "\n".join(lines)


def _verdicts(rows: list[dict[str, Any]], tau_multiple: float) -> str:
    """The perceptron's equilibration legend (the N = inf extrapolation rows are not points)."""
    return _verdict_legend(
        f"eq = y: teacher and random starts agree within 2 standard errors and the "
        f"measurement window covers >= {tau_multiple:g} autocorrelation times of R and "
        f"the energy", [r for r in rows if math.isfinite(r["N"])],
        lambda r: f"T={r['T']:g} alpha={r['load']:g} N={int(r['N'])}")


def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:  # an undefined number is an empty cell; its *_status column says why
            w.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v
                        for k, v in ((k, r.get(k, "")) for k in keys)})


def _plot_perceptron(rows: list[dict[str, Any]], prior: str, output: str, path: Path) -> None:
    """Left: eps_g(alpha) with error bars over the analytic curves; right (several N): eps_g
    against 1/N with the weighted 1/N fits and the RS value at 1/N = 0."""
    from .. import statmech as sm
    from ..report import pyplot

    plt = pyplot()
    multi = any(not math.isfinite(r["N"]) for r in rows)
    fig, axes = plt.subplots(1, 2 if multi else 1, figsize=(11.5 if multi else 6.4, 4.6),
                             squeeze=False)
    ax = axes[0, 0]
    temps = sorted({r["T"] for r in rows})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    theory: dict[float, Any] = {}
    for ci, T in enumerate(temps):
        col = colors[ci % len(colors)]
        sub = [r for r in rows if r["T"] == T]
        loads = sorted({r["load"] for r in sub})
        grid = np.linspace(min(loads) * 0.8, max(loads) * 1.1, 40)
        if output == "boolean":
            cur = sm.gibbs_learning_curve(grid, T, prior)
            theory[T] = sm.gibbs_learning_curve(np.asarray(loads), T, prior)
            ax.plot(grid, cur.eps_g, "-", color=col, lw=1.5, label=f"RS Gibbs, T={T:g}")
            if prior == "ising" and np.any(np.isfinite(cur.eps_g_other)):
                ax.plot(grid, cur.eps_g_other, ":", color=col, lw=1.0,
                        label=f"metastable branch, T={T:g}")
            if cur.transition is not None and math.isfinite(cur.transition.load_c):
                ax.axvline(cur.transition.load_c, color=col, ls="-.", lw=0.8)
        if not (output == "linear" and T == 0.0):
            ann = sm.annealed_learning_curve(grid, T, prior, output)
            ax.plot(grid, ann.eps_g, "--", color=col, lw=1.0, alpha=0.7,
                    label=f"annealed, T={T:g}")
        ninf = [r for r in sub if not math.isfinite(r["N"])]
        finite = [r for r in sub if math.isfinite(r["N"])]
        nmax = max(r["N"] for r in finite)
        big = [r for r in finite if r["N"] == nmax]
        ax.errorbar([r["load"] for r in big], [r["eps_g"] for r in big],
                    yerr=[r["eps_g_se"] for r in big], fmt="o", mfc="none", color=col, ms=5,
                    capsize=2, label=f"MC N={int(nmax)}, T={T:g}")
        bad = [r for r in finite if not r.get("equilibrated", True)]
        if bad:  # any size: marked, so no unequilibrated point passes for a result
            ax.plot([r["load"] for r in bad], [r["eps_g"] for r in bad], "x", color="r", ms=8,
                    label=f"not equilibrated (some N), T={T:g}")
        if ninf:
            ax.errorbar([r["load"] for r in ninf], [r["eps_g"] for r in ninf],
                        yerr=[r["eps_g_se"] for r in ninf], fmt="s", color=col, ms=4,
                        capsize=2, label=f"MC 1/N-extrapolated, T={T:g}")
        if multi:
            bx = axes[0, 1]
            for li, a in enumerate(loads):
                pts = sorted((r for r in finite if r["load"] == a), key=lambda r: r["N"])
                ext = [r for r in ninf if r["load"] == a]
                if not ext:
                    continue
                x = np.array([1.0 / r["N"] for r in pts])
                bx.errorbar(x, [r["eps_g"] for r in pts], yerr=[r["eps_g_se"] for r in pts],
                            fmt="o", mfc="none", color=col, ms=4, capsize=2)
                xs = np.linspace(0.0, x.max(), 10)
                bx.plot(xs, ext[0]["eps_g"] + ext[0]["a"] * xs, "-", color=col, lw=0.8)
                bx.errorbar([0.0], [ext[0]["eps_g"]], yerr=[ext[0]["eps_g_se"]], fmt="s",
                            color=col, ms=4, capsize=2)
                if T in theory:
                    k = int(np.argmin(np.abs(theory[T].load - a)))
                    bx.plot([0.0], [theory[T].eps_g[k]], "*", color="k", ms=8,
                            label="RS theory" if (ci, li) == (0, 0) else None)
                bx.annotate(f"alpha={a:g}", (x.max(), pts[-1 if x[0] < x[-1] else 0]["eps_g"]),
                            fontsize=6, xytext=(3, 0), textcoords="offset points")
            bx.set_xlabel("1 / N")
            bx.set_ylabel(r"$\epsilon_g$")
            bx.set_title(r"finite-size extrapolation $\epsilon_N = \epsilon_\infty + a/N$")
            bx.grid(alpha=0.3)
            bx.legend(fontsize=7)
    ax.set_xlabel(r"load $\alpha = P/N$")
    ax.set_ylabel(r"$\epsilon_g$")
    ax.set_title(f"Gibbs learning, {prior} student, {output} output")
    ax.legend(fontsize=6.5)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# analytic curves
# --------------------------------------------------------------------------------------------

def cmd_simulate_theory(args: argparse.Namespace) -> int:
    """Draw the analytic curves of docs/simulations.md ("Analytic curves") into one figure."""
    from .. import statmech as sm
    from ..report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(2, 2, figsize=(11, 8.5))
    # (a) T = 0
    a = np.geomspace(0.1, 100.0, 60)
    sph = sm.gibbs_learning_curve(a, 0.0, "spherical")
    ax[0, 0].loglog(a, sph.eps_g, "-", color="C0", label="spherical, RS (exact)")
    ax[0, 0].loglog(a, sm.version_space_annealed_eps(a), "--", color="C0",
                    label="spherical, annealed")
    ai = np.geomspace(0.1, 4.0, 50)
    isi = sm.gibbs_learning_curve(ai, 0.0, "ising")
    poor = np.where(np.array(isi.branch) == "poor", isi.eps_g, isi.eps_g_other)
    stable = np.array(isi.branch) == "poor"
    ax[0, 0].loglog(ai[stable], poor[stable], "-", color="C1", label="Ising, RS poor branch")
    ax[0, 0].loglog(ai[~stable], poor[~stable], ":", color="C1", label="Ising, metastable")
    tr = isi.transition
    ax[0, 0].axvline(tr.load_c, color="C1", lw=0.8, ls="-.",
                     label=f"Ising alpha_c = {tr.load_c:.4f} (to R = 1)")
    ax[0, 0].axvline(tr.load_spinodal, color="C1", lw=0.8, ls=(0, (1, 3)),
                     label=f"spinodal {tr.load_spinodal:.4f}")
    ann_i = sm.annealed_learning_curve(ai, 0.0, "ising")
    ax[0, 0].loglog(ai, np.maximum(ann_i.eps_g, 1e-4), "--", color="C1", alpha=0.7,
                    label="Ising, annealed")
    ax[0, 0].loglog(a[a > 3], 1.0 / a[a > 3], "k:", lw=0.8, label="1/alpha")
    c = sm.gibbs_asymptote_constant(1e3)
    ax[0, 0].loglog(a[a > 3], c / a[a > 3], "k-.", lw=0.8, label=f"{c:.3f}/alpha")
    ax[0, 0].set(xlabel="alpha = P/N", ylabel="eps_g", title="Gibbs learning at T = 0",
                 ylim=(3e-3, 0.6))
    # (b) high T
    at = np.geomspace(0.05, 30.0, 80)
    for prior, output, st in (("spherical", "boolean", "C0-"), ("spherical", "linear", "C0--"),
                              ("ising", "boolean", "C1-"), ("ising", "linear", "C1--")):
        cur = sm.high_temperature_curve(at, prior, output)
        ax[0, 1].loglog(at, np.maximum(cur.eps_g, 1e-4), st, label=f"{prior}, {output}")
    ax[0, 1].loglog(at, 1 - sm.st_quality_high_t(at), "k:", lw=0.8,
                    label="1 - Q_ST (linear, paper)")
    hi = sm.ising_high_t_transition()
    ax[0, 1].axvline(hi.load_c, color="C1", lw=0.8, ls="-.",
                     label=f"Ising jump alpha_t = {hi.load_c:.4f}")
    ax[0, 1].set(xlabel="alpha_t = alpha beta", ylabel="eps_g = eps_t",
                 title="high-temperature limit", ylim=(1e-3, 1.0))
    # (c) linear AA at finite beta -> high T
    at2 = np.geomspace(0.05, 20.0, 50)
    ax[1, 0].loglog(at2, sm.high_temperature_curve(at2, "spherical", "linear").eps_g, "k-",
                    lw=2, label="high-T limit")
    for k, beta in enumerate((2.0, 0.5, 0.1)):
        cur = sm.annealed_learning_curve(at2 / beta, 1.0 / beta, "spherical", "linear")
        ax[1, 0].loglog(at2, cur.eps_g, "-", color=f"C{k + 2}", label=f"eps_g, beta={beta:g}")
        ax[1, 0].loglog(at2, cur.eps_t, "--", color=f"C{k + 2}", label=f"eps_t, beta={beta:g}")
    ax[1, 0].set(xlabel="alpha beta", ylabel="error",
                 title="linear perceptron, annealed, spherical")
    # (d) Ising landscapes
    R = np.linspace(0.02, 0.999, 120)
    for k, load in enumerate((0.8, 1.1, tr.load_c, 1.4, 1.6)):
        s_r = sm.rs_entropy_landscape(R, load, "ising")
        ax[1, 1].plot(R, s_r, color=f"C{k}", label=f"alpha = {load:.3f}")
    ax[1, 1].axhline(0.0, color="k", lw=0.8)
    ax[1, 1].set(xlabel="R", ylabel="RS entropy s(R) (q = R)",
                 title="Ising student, T = 0 (s(1) = 0: perfect state)", ylim=(-0.3, 0.5))
    for x in ax.ravel():
        x.grid(alpha=0.3)
        x.legend(fontsize=7)
    fig.tight_layout()
    path = Path(args.plot)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    if not args.quiet:
        print(f"Ising T = 0: alpha_c = {tr.load_c:.5f}, spinodal = {tr.load_spinodal:.5f}; "
              f"high T: alpha_t,c = {hi.load_c:.5f}, spinodal = {hi.load_spinodal:.5f}; "
              f"spherical T = 0: alpha eps_g -> {c:.5f}")
        print(f"figure: {path}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------
# matrix model
# --------------------------------------------------------------------------------------------

def cmd_simulate_matrix_annealed(args: argparse.Namespace) -> int:
    """Table and figure of the matrix annealed Hamiltonian against its Monte Carlo."""
    from simulations.matrix_annealed import annealed_table, plot_annealed

    Ms = parse_sizes(args.M, "M", minimum=1)
    rv = parse_grid(args.r, "r", positive=False)
    if any(abs(v) > 1 for v in rv):
        raise ValueError("--r: overlap eigenvalues must lie in [-1, 1]")
    if not math.isfinite(args.beta) or args.beta < 0:
        raise ValueError(f"--beta must be finite and >= 0, got {args.beta}")
    rows = annealed_table(Ms, args.beta, rv, n_data=_positive_int(args.n_data, "n-data", 2))
    if not args.quiet:
        print(f"{'M':>4} {'r':>6} {'exact':>9} {'MC':>9} {'+-':>8} {'z':>6} {'trace':>9} "
              f"{'large-M':>9}")
        for r in rows:
            print(f"{r['M']:>4d} {r['r']:>6.3g} {r['exact']:>9.5f} {r['mc']:>9.5f} "
                  f"{r['mc_se']:>8.1e} {r['z']:>6.2f} {r['trace_form']:>9.5f} "
                  f"{r['large_M']:>9.5f}")
    plot_annealed(rows, args.plot)
    if not args.quiet:
        print(f"figure: {args.plot}", file=sys.stderr)
    return 0


def cmd_simulate_matrix(args: argparse.Namespace) -> int:
    """Run the matrix-model sweep; print the convergence table and slope; returns 0."""
    from simulations.matrix_model import ASSUMPTIONS, fit_convergence, make_law
    from simulations.sweep import matrix_tasks, run_sweep, run_task, run_task_with_progress

    sizes = parse_sizes(args.N)
    nbetas = parse_grid(args.nbeta, "nbeta")
    lambdas = parse_grid(args.lambdas, "lambdas")
    chains = _positive_int(args.chains, "chains", 2)
    sweeps = _positive_int(args.sweeps if args.sweeps is not None else args.sweeps_default,
                           "sweeps", 2)
    if not math.isfinite(args.sigma2) or args.sigma2 <= 0:
        raise ValueError(f"--sigma2 must be > 0, got {args.sigma2}")
    make_law(args.law, q=args.q, sigma2=args.sigma2)  # validates q
    max_sweeps = _positive_int(args.max_sweeps, "max-sweeps", 2)
    if max_sweeps < sweeps:
        raise ValueError(f"--max-sweeps ({max_sweeps}) must be >= --sweeps ({sweeps})")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise ValueError(f"--max-seconds must be > 0, got {args.max_seconds}")
    if not math.isfinite(args.tau_multiple) or args.tau_multiple <= 0:
        raise ValueError(f"--tau-multiple must be > 0, got {args.tau_multiple}")
    for N in sizes:
        if len(lambdas) > N:
            raise ValueError(f"{len(lambdas)} teacher eigenvalues exceed N = {N}")
    if args.workers is not None:
        _positive_int(args.workers, "workers")
    tasks = matrix_tasks(sizes, nbetas, _seeds(args), law=args.law, q=args.q,
                         sigma2=args.sigma2, lambdas=lambdas, n_chains=chains,
                         n_sweeps=sweeps, max_sweeps=max_sweeps, max_seconds=args.max_seconds,
                         tau_multiple=args.tau_multiple)
    out = Path(args.out or "results/simulate-matrix")
    recs = run_sweep(tasks, out, scheduler=args.scheduler, workers=args.workers,
                     progress=not args.quiet, connect_timeout=args.connect_timeout,
                     func=run_task_with_progress if not args.quiet else run_task)
    rows, fits = [], []
    for nb in nbetas:
        per_n = []
        for N in sizes:
            rs = list({r.get("key", id(r)): r for r in recs
                       if r["N"] == N and abs(r["n_beta"] - nb) < 1e-12}.values())
            q2 = np.array([r["Q2"] for r in rs])
            se = np.array([r["Q2_se"] for r in rs])
            w = 1.0 / se**2
            mean, err = float(np.sum(w * q2) / w.sum()), float(1.0 / math.sqrt(w.sum()))
            row = {"n_beta": nb, "N": N, "Q2": mean, "Q2_se": err,
                   "Q2_standard": rs[0]["Q2_standard"],
                   "Q2_standard_finite_edge": rs[0]["Q2_standard_finite_edge"],
                   "Q2_paper": rs[0]["Q2_paper"],
                   "Q2_paper_status": _paper_status(rs[0]),
                   "gamma_standard": rs[0]["gamma_standard"],
                   "gamma_paper": rs[0]["gamma_paper"],
                   "error": mean - rs[0]["Q2_standard"],
                   "equilibrated": all(bool(r["equilibrated"]) for r in rs),
                   "tau": max(float(r.get("tau", math.nan)) for r in rs),
                   "n_sweeps": max(int(r.get("n_sweeps", 0)) for r in rs),
                   "reason": " | ".join(dict.fromkeys(r.get("reason", "") for r in rs
                                                      if r.get("reason"))),
                   "advice": " | ".join(dict.fromkeys(r.get("advice", "") for r in rs
                                                      if r.get("advice"))),
                   "phases": ";".join(rs[0]["phases"]), "notes": " | ".join(rs[0]["notes"])}
            rows.append(row)
            per_n.append(row)
        slope, slope_se, pref, ok = fit_convergence([r["N"] for r in per_n],
                                                    [r["error"] for r in per_n],
                                                    [r["Q2_se"] for r in per_n])
        resolved = [int(r["N"]) for r, o in zip(per_n, ok, strict=True) if o]
        fits.append({"n_beta": nb, "slope": slope, "slope_se": slope_se, "prefactor": pref,
                     "resolved_sizes": resolved,
                     "status": "ok" if math.isfinite(slope) else
                     _convergence_status(per_n, resolved)})
    _write_table(out / "table.csv", rows)
    write_json(out / "summary.json", nan_to_none({
        "command": "simulate matrix", "law": args.law, "q": args.q, "sigma2": args.sigma2,
        "lambdas": lambdas, "n_beta": nbetas, "N": sizes, "chains": chains, "sweeps": sweeps,
        "max_sweeps": max_sweeps, "tau_multiple": args.tau_multiple,
        "rows": rows, "convergence": fits,
        "assumptions": list(ASSUMPTIONS)}, inf_strings=True))
    if not args.quiet:
        print(f"{'n_beta':>7} {'N':>6} {'Q2 (MC)':>11} {'+-':>8} {'Q2_inf':>10} "
              f"{'Q2_N-Q2_inf':>12} {'Q2_paper':>10} {'tau':>6} {'sweeps':>7} {'eq':>3}")
        for r in rows:
            paper = (f"{r['Q2_paper']:>10.5g}" if math.isfinite(r["Q2_paper"])
                     else f"{'undefined':>10}")
            print(f"{r['n_beta']:>7.4g} {r['N']:>6d} {r['Q2']:>11.5f} {r['Q2_se']:>8.1e} "
                  f"{r['Q2_standard']:>10.5f} {r['error']:>12.3e} {paper} "
                  f"{r['tau']:>6.0f} {r['n_sweeps']:>7d} "
                  f"{('y' if r['equilibrated'] else 'n'):>3}")
        print(_matrix_verdicts(rows, args.tau_multiple))
        for f in fits:
            if math.isfinite(f["slope"]):
                print(f"n_beta = {f['n_beta']:g}: |Q2_N - Q2_inf| ~ {f['prefactor']:.3g} "
                      f"N^{f['slope']:.3f} (+- {f['slope_se']:.3f})")
            else:
                print(f"n_beta = {f['n_beta']:g}: convergence rate not fitted: {f['status']}")
        statuses = {r["Q2_paper_status"] for r in rows if r["Q2_paper_status"] != "ok"}
        for st in sorted(statuses):
            print(f"Q2_paper: {st}")
        notes = {n for r in rows for n in r["notes"].split(" | ") if n and n not in statuses}
        for n in sorted(notes):
            print(f"note: {n}")
    if not args.no_plot:
        path = Path(args.plot) if args.plot else out / "matrix.png"
        _plot_matrix(rows, fits, path, args.law)
        if not args.quiet:
            print(f"figure: {path}", file=sys.stderr)
    _write_html(args, out, None if args.no_plot else path)
    return 0


def _matrix_verdicts(rows: list[dict[str, Any]], tau_multiple: float) -> str:
    """The matrix model's equilibration legend."""
    return _verdict_legend(
        f"eq = y: random-start and locked-start chains agree within 3 standard errors and "
        f"the measurement window covers >= {tau_multiple:g} autocorrelation times of every "
        f"u_k^T D u_k", rows, lambda r: f"n_beta={r['n_beta']:g} N={int(r['N'])}")


def _paper_status(rec: dict[str, Any]) -> str:
    """Why the paper's ``sum G(lambda)`` is undefined (``"ok"`` when it is a number)."""
    v = rec.get("Q2_paper")
    if v is not None and math.isfinite(float(v)):
        return "ok"
    st = rec.get("Q2_paper_status")
    if st and st != "ok":
        return str(st)
    return next((n for n in rec.get("notes", ()) if "paper G" in n), "undefined")


def _convergence_status(per_n: list[dict[str, Any]], resolved: list[int]) -> str:
    """Why ``|Q2_N - Q2_inf| ~ N^s`` cannot be fitted (it needs two resolved sizes)."""
    sizes = [int(r["N"]) for r in per_n]
    if len(sizes) < 2:
        return (f"needs at least two sizes (--N {sizes[0]} gives one; e.g. --N "
                f"{sizes[0]},{2 * sizes[0]},{4 * sizes[0]})")
    return (f"needs at least two sizes whose error |Q2_N - Q2_inf| exceeds 2 standard errors "
            f"(resolved: {resolved or 'none'} of {sizes}); run more --sweeps / --chains")


def _plot_matrix(rows: list[dict[str, Any]], fits: list[dict[str, Any]], path: Path,
                 law: str) -> None:
    from ..report import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ci, f in enumerate(fits):
        col = colors[ci % len(colors)]
        sub = [r for r in rows if r["n_beta"] == f["n_beta"]]
        ns = np.array([r["N"] for r in sub], dtype=float)
        axes[0].errorbar(ns, [r["Q2"] for r in sub], yerr=[r["Q2_se"] for r in sub], fmt="o",
                         color=col, capsize=2, label=f"MC, n beta = {f['n_beta']:g}")
        axes[0].axhline(sub[0]["Q2_standard"], color=col, ls="-", lw=1,
                        label=f"HCIZ limit, n beta = {f['n_beta']:g}")
        if math.isfinite(sub[0]["Q2_paper"]):
            axes[0].axhline(sub[0]["Q2_paper"], color=col, ls="--", lw=1,
                            label="paper sum_ECS G(lambda_i)")
        err = np.abs([r["error"] for r in sub])
        axes[1].errorbar(ns, err, yerr=[r["Q2_se"] for r in sub], fmt="o", color=col,
                         capsize=2, label=f"n beta = {f['n_beta']:g}")
        if math.isfinite(f["slope"]):
            axes[1].plot(ns, f["prefactor"] * ns ** f["slope"], "-", color=col, lw=1,
                         label=f"fit N^{f['slope']:.2f}")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("N")
    axes[0].set_ylabel(r"$Q^2 = \langle \mathrm{Tr}\, R^T R \rangle$")
    axes[0].set_title(f"matrix ST model ({law} student)")
    axes[0].legend(fontsize=7)
    axes[1].set_xscale("log")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("N")
    axes[1].set_ylabel(r"$|Q^2_N - Q^2_\infty|$")
    axes[1].legend(fontsize=7)
    sizes = sorted({int(r["N"]) for r in rows})
    for a in axes:
        a.grid(alpha=0.3)
        a.set_xticks(sizes)
        a.set_xticklabels([str(n) for n in sizes])
        a.minorticks_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m setol_theory.cli simulate perceptron|matrix ...``: the ``setol simulate``
    command without the ``setol`` entry point (bad input: one line on stderr, exit 1)."""
    p = argparse.ArgumentParser(prog="setol")
    register(p.add_subparsers(dest="command"))
    args = p.parse_args(["simulate", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except ValueError as exc:  # statmech RuntimeError/OverflowError are re-raised as ValueError
        print(f"setol simulate: error: {exc}", file=sys.stderr)
        return 1
