"""Gram matrix of wide layers: setol's tiled / row-blocked path against one BLAS call.

For square layers of each width, float64 and float32 entries, prints the times of
(a)   one float64 BLAS call ``A.T @ A`` (for a float32 layer including the conversion to the
      float64 copy it needs: the copy the blocked path avoids),
(b)   :func:`setol_theory.linalg.gram_numpy` in float64 (the default precision: row blocks up to
      width 4096, 4096 x 4096 tiles beyond), and (b)/(a), target <= 1.5;
and for a float32 layer also
(a32) one float32 call ``W.T @ W``, and
(c)   ``gram_numpy(W, dtype=float32)`` (``--precision float32``), and (c)/(a32).
A float64 product of float32 data costs about twice a float32 one (half the flops per cycle),
so (b)/(a32) ~ 2 is the price of the default precision, not of the blocking.
Best of ``--repeat`` runs (1 above width 4096). Everything runs in this process with the same
BLAS threads; with OpenBLAS's AVX-512 (SkylakeX) kernels the one-call (a) itself crashes at
width ~16k (setol_theory/linalg/_eigen.py, ``_GRAM_TILE``).

    python benchmarks/bench_gram.py                      # widths 384 ... 16384 (~6 min)
    python benchmarks/bench_gram.py --widths 384,1024,4096
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from setol_theory.linalg import gram_numpy


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def row(M: int, dtype: type, rep: int, rng: np.random.Generator) -> str:
    W = rng.standard_normal((M, M), dtype=np.float32).astype(dtype)

    def one_call() -> None:
        A = W if W.dtype == np.float64 else W.astype(np.float64)
        A.T @ A

    t_a = best_of(one_call, rep)
    t_b = best_of(lambda: gram_numpy(W), rep)
    line = f"{M:6d} {np.dtype(dtype).name:>8} {t_a:9.3f}s {t_b:9.3f}s {t_b / t_a:7.2f}"
    if dtype == np.float32:
        t_a32 = best_of(lambda: W.T @ W, rep)
        t_c = best_of(lambda: gram_numpy(W, dtype=np.float32), rep)
        line += f" {t_a32:9.3f}s {t_c:9.3f}s {t_c / t_a32:8.2f}"
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="384,1024,2048,4096,8192,16384")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    rng = np.random.default_rng(0)
    print(f"{'width':>6} {'dtype':>8} {'(a) f64':>10} {'(b) setol':>10} {'(b)/(a)':>7} "
          f"{'(a32) f32':>10} {'(c) setol':>10} {'(c)/(a32)':>8}")
    for M in widths:
        rep = args.repeat if M <= 4096 else 1
        for dtype in (np.float64, np.float32):
            print(row(M, dtype, rep, rng), flush=True)


if __name__ == "__main__":
    main()
