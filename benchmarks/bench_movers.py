"""Movers of the spherical student: integrated autocorrelation times per sweep and per second.

For each configuration ``(N, alpha, T)`` and each mover of
:func:`simulations.perceptron.run_chains` (``metropolis``: Givens rotations of a random pair,
``heatbath``: the pair's rotation angle drawn from its exact conditional, ``meridian``:
Metropolis pairs plus Metropolis moves along the great circle through ``J`` and the teacher,
``heatbath+meridian``; ``meridian/k``: one meridian move per ``k`` pair moves), one chain per
data set starts at the teacher (an equilibrium state,
docs/simulations.md) on ``--sets`` data sets, all movers on the same data sets and in the same
process, interleaved, so the load of a shared machine hits them alike.  Printed per mover:
``tau_R`` and ``tau_E`` (Sokal, ``c = 5``; mean over data sets) in sweeps and in seconds
(``tau x seconds per sweep``), seconds per sweep and local-field updates per second (``P`` per
pair move, ``P`` more per meridian move).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_movers.py`` (``--quick``: fewer
sweeps).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from simulations.perceptron import MOVERS, make_problem, run_chains, tau_int

#: (mover, one meridian move per this many pair moves)
VARIANTS = tuple((m, 1) for m in MOVERS) + (("meridian", 2), ("meridian", 4))

CONFIGS = ((100, 1.0, 0.5), (100, 5.0, 0.5), (100, 2.0, 0.0), (200, 3.0, 0.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweeps", type=int, default=12000)
    ap.add_argument("--sets", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--movers", default="", help="comma list (default: all)")
    ap.add_argument("--configs", default="", help="N:alpha:T,... (default: the built-in four)")
    args = ap.parse_args()
    S = 3000 if args.quick else args.sweeps
    burn = S // 5
    print(f"{'N':>4} {'alpha':>5} {'T':>4} {'mover':>18} {'tau_R':>7} {'tau_E':>7} "
          f"{'s/sweep':>9} {'tau_R s':>8} {'tau_E s':>8} {'upd/s':>8}")
    configs = [tuple(float(v) for v in c.split(":")) for c in args.configs.split(",") if c] \
        or CONFIGS
    for N, load, T in configs:
        N = int(N)
        beta = math.inf if T == 0 else 1.0 / T
        res = {v: {"tR": [], "tE": [], "sec": 0.0, "upd": 0} for v in VARIANTS}
        for k in range(args.sets):
            prob = make_problem(N, load=load, prior="spherical", output="boolean", rng=k)
            for m, every in VARIANTS:
                if args.movers and m not in args.movers.split(","):
                    continue
                run_chains(prob, prob.B[None], np.full(2, beta), [k], mover=m, parallel=False)
                tr = run_chains(prob, prob.B[None], np.full(S, beta), [k], n_burn=burn,
                                mover=m, parallel=False, delta=0.7, meridian_every=every)
                r = res[(m, every)]
                r["tR"].append(tau_int(tr.R[0, burn:]))
                r["tE"].append(tau_int(tr.E[0, burn:]))
                r["sec"] += tr.seconds
                r["upd"] += tr.field_updates
        for (m0, every), r in res.items():
            if not r["tR"]:
                continue
            m = m0 if every == 1 else f"{m0}/{every}"
            sps = r["sec"] / (args.sets * S)
            tR, tE = float(np.mean(r["tR"])), float(np.mean(r["tE"]))
            print(f"{N:>4} {load:>5g} {T:>4g} {m:>18} {tR:>7.1f} {tE:>7.1f} {sps:>9.2e} "
                  f"{tR * sps:>8.4f} {tE * sps:>8.4f} {r['upd'] / r['sec']:>8.2e}")


if __name__ == "__main__":
    main()
