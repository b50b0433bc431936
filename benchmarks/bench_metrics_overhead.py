"""Per-layer cost of issue 13's default metrics, in one process: ``analyze`` of the packaged
model (no traps) with the KS MP-bulk fit and the likelihood-ratio tests, against the same
analysis with the median MP fit (the pre-issue-13 cost) and ``lr_tests=False``, alternating,
``--repeat`` times each; prints best and median wall times and the difference per layer.

    python benchmarks/bench_metrics_overhead.py [--repeat 12]
"""

from __future__ import annotations

import argparse
import time
import warnings

import setol_theory.htsr._metrics as metrics
from setol_theory.io import default_model_path
from setol_theory.pipeline import analyze


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=12)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    path = default_model_path()
    n = sum(m.ok for m in analyze(path, traps=False).layers)  # warm-up (numba, caches)
    ks_fit = metrics.fit_mp_bulk

    def median_fit(evals, N, M):
        return ks_fit(evals, N, M, method="median")

    runs = {"default (KS MP fit, LR tests)": ({}, ks_fit),
            "median MP fit, no LR tests": ({"lr_tests": False}, median_fit)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeat):
        for label, (kw, fit) in runs.items():
            metrics.fit_mp_bulk = fit
            t0 = time.perf_counter()
            analyze(path, traps=False, **kw)
            times[label].append(time.perf_counter() - t0)
    metrics.fit_mp_bulk = ks_fit
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    for label, v in times.items():
        print(f"{label:32s} best {min(v):.3f} s   median {med[label]:.3f} s")
    a, b = runs
    print(f"difference of medians: {(med[a] - med[b]) / n * 1e3:+.2f} ms per layer ({n} layers)")


if __name__ == "__main__":
    main()
