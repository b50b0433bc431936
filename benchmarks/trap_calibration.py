"""Calibration of the correlation-trap test: false-positive rate and power of both MP scales.

False positives: Gaussian (or Student-t, uniform) ``N x M`` matrices have no trap, so the
fraction flagged estimates the test's size (nominal 1%, the Tracy-Widom 0.99 margin). A
shuffled i.i.d. matrix is another i.i.d. matrix, so the shuffle is skipped here and the
thresholds are applied to the matrix itself. Power: one planted entry of size ``w`` in a
784 x 300 Gaussian layer, through :func:`setol_theory.htsr._traps.correlation_traps`.

    OPENBLAS_NUM_THREADS=1 python benchmarks/trap_calibration.py --reps 1000
    (docs/htsr.md quotes --reps 1000; the "fast" columns check the analysis's Lanczos /
    float32 route of the trap test against the full spectrum on every matrix with M >= 100)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from setol_theory.fit._mp_bulk import median_fit_to_edge
from setol_theory.htsr import (
    correlation_traps,
    entry_moments,
    fast_trap_count,
    lanczos_applies,
    trap_threshold,
)

SHAPES = [(784, 300), (300, 100), (1536, 384), (500, 500), (2000, 200), (3000, 1000),
          (150, 150), (200, 200)]


def _sample(rng: np.random.Generator, dist: str, N: int, M: int) -> np.ndarray:
    if dist == "gauss":
        return rng.standard_normal((N, M))
    if dist == "t5":
        return rng.standard_t(5, (N, M))
    return rng.uniform(-1.0, 1.0, (N, M))


def false_positive_rates(dist: str, N: int, M: int, reps: int, seed: int
                         ) -> tuple[float, float, float, dict[str, int]]:
    """Fractions of trap-free matrices flagged by the fitted and by the exact-variance rule
    (full float64 spectrum, and the fast route of the analysis: Lanczos or a float32 Gram
    matrix with the float64 fallback), and how the fast route went: counts of
    "lanczos"/"gram32"/"fallback" and "differ" (matrices whose count differs from the
    full-spectrum count; the fast route is exact, so this must be 0)."""
    rng = np.random.default_rng(seed)
    fit = var = fast = 0
    routes = {"lanczos": 0, "gram32": 0, "fallback": 0, "differ": 0}
    for _ in range(reps):
        W = _sample(rng, dist, N, M)
        ev = np.linalg.eigvalsh(W.T @ W / N)
        fit += ev[-1] > median_fit_to_edge(ev, N, M)[1]
        mean, s2 = entry_moments(W)
        t = trap_threshold(s2, N, M)
        var += ev[-1] > t
        if not lanczos_applies(M, "variance"):
            continue
        res, _ = fast_trap_count(W - mean, N, M, s2, mean, seed=int(rng.integers(2**62)))
        ev_c = np.linalg.eigvalsh((W - mean).T @ (W - mean) / N)
        n_full = int(np.sum(ev_c > t))
        if res is None:
            routes["fallback"] += 1
            n_fast = n_full
        else:
            routes[res.solver] += 1
            n_fast = int(res.num_traps)
        fast += n_fast > 0
        routes["differ"] += n_fast != n_full
    return fit / reps, var / reps, fast / reps, routes


def power(w: float, reps: int) -> tuple[float, float]:
    """Fractions of 784 x 300 Gaussian layers with one entry ``w`` flagged (variance, fit)."""
    hits = {"variance": 0, "fit": 0}
    for s in range(reps):
        rng = np.random.default_rng(s)
        W = rng.normal(size=(784, 300))
        W.flat[rng.integers(W.size)] = w
        for scale in hits:
            hits[scale] += correlation_traps(W, rng=s, scale=scale).num_traps > 0
    return hits["variance"] / reps, hits["fit"] / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200, help="matrices per shape (default 200)")
    ap.add_argument("--dists", nargs="+", default=["gauss", "t5", "uniform"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shapes", nargs="+", default=[f"{n}x{m}" for n, m in SHAPES],
                    help="N x M shapes, e.g. 784x300 (default: the calibration set)")
    ap.add_argument("--no-power", action="store_true", help="skip the planted-entry power")
    args = ap.parse_args()
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes]
    se = 100 * np.sqrt(0.01 * 0.99 / args.reps)
    print(f"false-positive rate (nominal 1%, binomial s.e. at 1%: {se:.2f}%)")
    print("(variance: full float64 spectrum of the matrix as drawn; fast: the analysis's route "
          "for M >= 100 on the centred matrix,\n Lanczos or float32 Gram, float64 fallback; "
          "differ: matrices where the fast count != the full count)")
    print(f"{'entries':8s} {'N x M':>12s} {'fit':>8s} {'variance':>9s} {'fast':>8s} "
          f"{'lanczos':>8s} {'gram32':>7s} {'fallback':>8s} {'differ':>6s} {'time':>6s}")
    for dist in args.dists:
        for N, M in shapes:
            t0 = time.perf_counter()
            fit, var, fast, r = false_positive_rates(dist, N, M, args.reps, args.seed)
            print(f"{dist:8s} {f'{N} x {M}':>12s} {100 * fit:7.2f}% {100 * var:8.2f}% "
                  f"{100 * fast:7.2f}% {r['lanczos']:8d} {r['gram32']:7d} {r['fallback']:8d} "
                  f"{r['differ']:6d} {time.perf_counter() - t0:5.0f}s", flush=True)
    if args.no_power:
        return
    print("\npower: one entry w in a 784 x 300 Gaussian layer")
    for w in (20.0, 25.0, 30.0, 40.0):
        pv, pf = power(w, max(args.reps // 4, 20))
        print(f"w = {w:4.0f}: variance {100 * pv:5.1f}%  fit {100 * pf:5.1f}%", flush=True)


if __name__ == "__main__":
    main()
