"""Benchmark: setol_theory.fit._powerlaw.fit_powerlaw vs the reference powerlaw.Fit (2.0.0).

Run ``python benchmarks/bench_powerlaw.py`` (``--help`` for options). For each sample size
both fits run on the same sample in the same process with matching settings
(``powerlaw.Fit(x, parameter_ranges={'alpha': [1, 20]}).power_law.alpha`` and
``fit_powerlaw(x, min_tail=2)``; the reference has no minimum tail size). Times are the best
of ``--repeats`` runs (``--ref-repeats`` for the reference; a single run from n = 1e5 on,
where it takes minutes). numba kernels are compiled/loaded before timing. Nothing is
asserted on timings; the table reports whether xmin and alpha agree.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from setol_theory.fit import PowerLawBoundWarning, fit_powerlaw, fit_truncated_powerlaw


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def make_sample(kind: str, n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "pareto":
        return (1.0 - rng.random(n)) ** (-1.0 / (alpha - 1.0))
    # lognormal body below 3 plus a power-law tail above 3 (30% of the points)
    nt = int(0.3 * n)
    body = rng.lognormal(0.0, 0.5, 3 * n)
    body = body[body < 3.0][: n - nt]
    return np.concatenate([body, 3.0 * (1.0 - rng.random(nt)) ** (-1.0 / (alpha - 1.0))])


def reference_fit(x: np.ndarray) -> tuple[float, float]:
    import powerlaw

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = powerlaw.Fit(x, parameter_ranges={"alpha": [1, 20]}, verbose=0)
        return float(r.xmin), float(r.power_law.alpha)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument("--max-ref-n", type=int, default=100_000,
                   help="skip the reference above this n (it takes minutes at 1e5)")
    p.add_argument("--repeats", type=int, default=5, help="repeats of our fit (best of)")
    p.add_argument("--ref-repeats", type=int, default=3,
                   help="repeats of the reference below n = 1e5 (one run from 1e5 on)")
    p.add_argument("--kind", choices=["pareto", "body_tail"], default="pareto")
    p.add_argument("--alpha", type=float, default=2.5, help="true tail exponent")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    warnings.simplefilter("ignore", PowerLawBoundWarning)
    import numba
    import powerlaw

    print(f"python {platform.python_version()}, numpy {np.__version__}, numba "
          f"{numba.__version__}, powerlaw {powerlaw.__version__}, {os.cpu_count()} CPUs")
    print(f"sample: {args.kind}, alpha = {args.alpha}, seed = {args.seed}; "
          f"ours: best of {args.repeats}")
    # warm-up: compile (or load from the numba cache) every kernel signature used below
    w = make_sample("pareto", 500, 2.5, np.random.default_rng(1))
    t0 = time.perf_counter()
    fit_powerlaw(w, min_tail=2)
    fit_powerlaw(w, ks="two_sided")
    fit_powerlaw(w, xmax=float(w.max()))
    fit_powerlaw(w, xmin=1.0)
    fit_truncated_powerlaw(w, xmin=1.0)  # imports mpmath/scipy.optimize
    print(f"numba warm-up (compile or cache load): {time.perf_counter() - t0:.2f} s\n")

    header = (f"{'n':>8} {'ours ms':>9} {'2-sided':>9} {'xmax ms':>9} {'ref s':>9} "
              f"{'ratio':>8} {'xmin eq':>8} {'|da|/a':>9} {'TPL s':>7}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(args.seed)
    for n in args.sizes:
        x = make_sample(args.kind, n, args.alpha, rng)
        t_ours, fit = best_time(lambda x=x: fit_powerlaw(x, min_tail=2), args.repeats)
        t_two, _ = best_time(lambda x=x: fit_powerlaw(x, min_tail=2, ks="two_sided"),
                             args.repeats)
        xmax = float(np.quantile(x, 0.999))
        t_xmax, _ = best_time(lambda x=x, xmax=xmax: fit_powerlaw(x, min_tail=2, xmax=xmax),
                              args.repeats)
        assert fit.ok, fit.reason  # type: ignore[union-attr]
        t_tpl, _ = best_time(
            lambda x=x, f=fit: fit_truncated_powerlaw(x, xmin=f.xmin),  # type: ignore[misc]
            1)
        if n <= args.max_ref_n:
            reps = 1 if n >= 100_000 else args.ref_repeats
            if n >= 100_000:
                print(f"  (reference at n = {n}: one run, this takes minutes...)", flush=True)
            t_ref, (rx, ra) = best_time(lambda x=x: reference_fit(x), reps)
            same_x = "yes" if rx == fit.xmin else "NO"  # type: ignore[union-attr]
            da = abs(fit.alpha - ra) / ra  # type: ignore[union-attr]
            ref_cols = f"{t_ref:9.3f} {t_ref / t_ours:7.0f}x {same_x:>8} {da:9.1e}"
        else:
            ref_cols = f"{'skipped':>9} {'-':>8} {'-':>8} {'-':>9}"
        print(f"{n:>8} {1e3 * t_ours:9.2f} {1e3 * t_two:9.2f} {1e3 * t_xmax:9.2f} {ref_cols} "
              f"{t_tpl:7.2f}", flush=True)
    print("\nours/2-sided/xmax: fit_powerlaw with ks='powerlaw'/'two_sided'/xmax=99.9% "
          "quantile; ref: powerlaw.Fit(...).power_law.alpha; ratio = ref / ours;\n"
          "TPL: fit_truncated_powerlaw at our xmin (single run).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
