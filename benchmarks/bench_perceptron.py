"""Speed of the Gibbs-learning Monte Carlo engine: local-field updates per second.

Prints, for each configuration, in one run (all measured here, no stored baseline):

* the numba engine on one thread (``run_chains(parallel=False)``, one chain),
* the numba engine with ``numba.prange`` over one chain per thread,
* the numpy reference (``run_chain_reference``: the same chain, each proposal's fields
  recomputed from scratch by a matrix-vector product -- the test oracle), and its incremental
  variant (``incremental=True``: the engine's O(P) update, vectorised over patterns),
* a plain numpy axpy loop ``h += a * Z[i]`` over rows of the same ``(N, P)`` data matrix
  (the memory-bound hardware yardstick of one field update),

and the ratios numba / numpy reference (both variants) and numba / axpy (per core).  A
local-field update is the recomputation of one ``h_mu`` in a move, ``P`` per attempted move.
Issue 6 targets: ``>= 50x`` the numpy reference and ``>= 30 %`` of the axpy yardstick per
core.

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_perceptron.py``
(``--quick`` for shorter timings).
"""

from __future__ import annotations

import argparse
import math
import time

import numba
import numpy as np

from simulations.perceptron import make_problem, run_chain_reference, run_chains


def _timed_numba(prob, J0, beta: float, seconds: float, parallel: bool, threads: int) -> float:
    """Updates per second of the numba engine, with sweeps scaled to last ``seconds``."""
    C = threads if parallel else 1
    J = np.repeat(J0[None], C, axis=0)
    run_chains(prob, J, np.full(2, beta), np.arange(C), parallel=parallel)  # compile / warm
    n = 4
    while True:
        tr = run_chains(prob, J, np.full(n, beta), np.arange(C), parallel=parallel,
                        snap_every=0)
        if tr.seconds > seconds or n > 1 << 20:
            return tr.field_updates / tr.seconds
        n = int(n * max(2.0, 1.2 * seconds / max(tr.seconds, 1e-4)))


def _timed_reference(prob, J0, beta: float, seconds: float, incremental: bool) -> float:
    n = 1
    while True:
        tr = run_chain_reference(prob, J0, np.full(n, beta), 1, snap_every=0,
                                 incremental=incremental)
        if tr.seconds > seconds:
            return tr.field_updates / tr.seconds
        n *= 2


def _timed_axpy(Z: np.ndarray, seconds: float) -> float:
    N, P = Z.shape
    h = np.zeros(P)
    a = 1e-3
    reps = 256
    while True:
        t0 = time.perf_counter()
        for k in range(reps):
            h += a * Z[k % N]
        dt = time.perf_counter() - t0
        if dt > seconds:
            return reps * P / dt
        reps *= 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter timings")
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    args = ap.parse_args()
    secs = 0.3 if args.quick else 1.5
    threads = max(1, args.threads)
    numba.set_num_threads(threads)
    configs = [("spherical", 200, 10.0, 2.0), ("ising", 200, 10.0, 2.0),
               ("spherical", 200, 1.0, 2.0), ("spherical", 400, 5.0, math.inf)]
    print(f"numba {numba.__version__}, numpy {np.__version__}, threads {threads}; "
          f"'upd/s' = local-field updates per second")
    head = (f"{'student':>9} {'N':>4} {'P':>5} {'T':>4} {'numba 1t':>9} {'numba par':>9} "
            f"{'numpy ref':>9} {'np incr':>9} {'axpy':>9} {'x ref':>6} {'x incr':>6} "
            f"{'/axpy':>6} {'par/core':>8}")
    print(head)
    for prior, N, load, T in configs:
        prob = make_problem(N, load, prior=prior, rng=0)
        beta = 1.0 / T if math.isfinite(T) else math.inf
        J0 = prob.B.copy()
        nb1 = _timed_numba(prob, J0, beta, secs, False, 1)
        nbp = _timed_numba(prob, J0, beta, secs, True, threads)
        ref = _timed_reference(prob, J0, beta, secs, False)
        inc = _timed_reference(prob, J0, beta, secs, True)
        axpy = _timed_axpy(prob.Z, secs)
        tl = f"{1 / beta:.1f}" if math.isfinite(beta) and beta > 0 else "0"
        print(f"{prior:>9} {N:>4d} {prob.P:>5d} {tl:>4} {nb1:>9.3g} {nbp:>9.3g} "
              f"{ref:>9.3g} {inc:>9.3g} {axpy:>9.3g} {nb1 / ref:>6.0f} {nb1 / inc:>6.1f} "
              f"{nb1 / axpy:>6.2f} {nbp / threads / axpy:>8.2f}")
    print("columns: x ref = numba 1 thread / numpy reference (target >= 50); x incr = numba / "
          "incremental numpy variant; /axpy = numba 1 thread / axpy yardstick (target >= "
          "0.30); par/core = numba parallel per thread / axpy")


if __name__ == "__main__":
    main()
