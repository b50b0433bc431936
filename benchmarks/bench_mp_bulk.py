"""The Marchenko-Pastur bulk fit's methods on planted truths (fit/_mp_bulk.py).

For Gaussian layers with k = 0 or 3 spikes (theta^2 = 3, 4.5, 6 times the BBP point) and for
heavy-tailed layers (Student-t with 2.5, 3, 5 degrees of freedom, Pareto entries with index 1.5
and 3), over several shapes and seeds, prints per method ("ks", "median"): the bias and RMSE
of sigma2 (relative; Gaussian rows), the share of draws with exactly the planted spike count,
the range of the rigidity-scaled bulk distance ks_scaled, the edge count n_edge, the share of
draws graded MP-like ("ok"), and the time per fit. The default method is the one with the
smaller sigma2 error; MP_KS_SCALED_MAX, EDGE_WINDOW_TW and MAX_EDGE_OUTLIERS were chosen from
these rows (Gaussian rows all ok, heavy-tailed rows with infinite fourth moment not ok).

    python benchmarks/bench_mp_bulk.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from setol_theory.fit import fit_mp_bulk


def planted(N: int, M: int, k: int, rng: np.random.Generator) -> np.ndarray:
    W = rng.standard_normal((N, M))
    q = M / N
    for j in range(k):
        u = rng.standard_normal(N)
        v = rng.standard_normal(M)
        theta = math.sqrt((3.0 + 1.5 * j) * math.sqrt(q))
        W += theta * math.sqrt(N) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    return W


def signs(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.choice([-1.0, 1.0], shape)


FAMILIES = {  # name -> (generator, planted spike count or None, true sigma2 or None)
    "gauss": (lambda N, M, r: planted(N, M, 0, r), 0, 1.0),
    "gauss+3": (lambda N, M, r: planted(N, M, 3, r), 3, 1.0),
    "t5": (lambda N, M, r: r.standard_t(5, (N, M)), None, None),
    "t3": (lambda N, M, r: r.standard_t(3, (N, M)), None, None),
    "t2.5": (lambda N, M, r: r.standard_t(2.5, (N, M)), None, None),
    "pareto3": (lambda N, M, r: r.pareto(3, (N, M)) * signs(r, (N, M)), None, None),
    "pareto1.5": (lambda N, M, r: r.pareto(1.5, (N, M)) * signs(r, (N, M)), None, None),
}
SHAPES = [(300, 100), (500, 100), (784, 300), (1536, 384), (600, 600)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args()
    print(f"{'family':10s} {'N x M':>10s} {'method':>6s} {'bias':>8s} {'rmse':>8s} "
          f"{'exact k':>7s} {'ks_scaled':>11s} {'n_edge':>7s} {'ok':>5s} {'ms/fit':>6s}")
    for fam, (gen, k, s2) in FAMILIES.items():
        for N, M in SHAPES:
            spectra = []
            for seed in range(args.seeds):
                W = gen(N, M, np.random.default_rng(1000 + seed))
                spectra.append(np.linalg.eigvalsh(W.T @ W / N))
            for method in ("ks", "median"):
                t0 = time.perf_counter()
                fits = [fit_mp_bulk(x, N, M, method=method) for x in spectra]
                ms = (time.perf_counter() - t0) / len(fits) * 1e3
                sig = np.array([f.sigma2 for f in fits])
                bias = f"{sig.mean() / s2 - 1:+.4f}" if s2 else "-"
                rmse = f"{math.sqrt(np.mean((sig / s2 - 1) ** 2)):.4f}" if s2 else "-"
                exact = f"{np.mean([f.num_spikes == k for f in fits]):.2f}" if k is not None \
                    else "-"
                sc = [f.ks_scaled for f in fits]
                ne = [f.n_edge for f in fits]
                ok = np.mean([f.ok for f in fits])
                print(f"{fam:10s} {f'{N}x{M}':>10s} {method:>6s} {bias:>8s} {rmse:>8s} "
                      f"{exact:>7s} {min(sc):5.2f}-{max(sc):<5.2f} {min(ne):3d}-{max(ne):<3d} "
                      f"{ok:5.2f} {ms:6.2f}", flush=True)


if __name__ == "__main__":
    main()
