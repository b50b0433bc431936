"""`setol analyze` end to end vs. bare eigenvalues of every layer, on the default model.

Prints (b)/(a): the cost of the whole HTSR analysis relative to computing the eigenvalues
alone (same process, same layers, best of ``--repeat`` runs), with and without the
correlation-trap test (which needs a second eigenvalue computation per layer).

    python benchmarks/bench_analyze.py [PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from setol_theory.io import default_model_path, iter_layers
from setol_theory.linalg import correlation_eigenvalues
from setol_theory.pipeline import analyze


def bare_eigenvalues(source, min_evals: int) -> int:
    n = 0
    for layer in iter_layers(source):
        if layer.W is not None and min(layer.W.shape) >= min_evals:
            correlation_eigenvalues(layer.W)
            n += 1
    return n


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", nargs="?", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    source = args.path or default_model_path()
    min_evals = 10
    analyze(source, min_evals=min_evals, traps=False)  # warm-up: numba compile, file cache
    n = bare_eigenvalues(source, min_evals)
    t_eig = best_of(lambda: bare_eigenvalues(source, min_evals), args.repeat)
    t_fast = best_of(lambda: analyze(source, min_evals=min_evals, traps=False), args.repeat)
    t_full = best_of(lambda: analyze(source, min_evals=min_evals, traps=True), args.repeat)
    print(f"model: {source}  ({n} layers with >= {min_evals} eigenvalues)")
    print(f"(a) bare eigenvalues          {t_eig:8.3f} s")
    print(f"(b) analyze, no traps         {t_fast:8.3f} s   (b)/(a) = {t_fast / t_eig:5.2f}")
    print(f"(c) analyze, with traps       {t_full:8.3f} s   (c)/(a) = {t_full / t_eig:5.2f}")


if __name__ == "__main__":
    main()
