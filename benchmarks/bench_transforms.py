"""Vectorised evaluation of G (Stieltjes) and R on 10^6 complex points, per spectral model.

Prints ns per point for each model, and as a baseline measured in the same run the cost of
one complex ``numpy.sqrt`` on the same array (the elementary operation every closed form
needs), so the ratio says how many "square roots" a point costs.

    python benchmarks/bench_transforms.py [--points 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from setol_theory import rmt as dens
from setol_theory.rmt import real_branch_domain


def best(fn, repeat):
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


MODELS = {
    "MarchenkoPastur(q=0.5)": dens.MarchenkoPastur(0.5, 1.0),
    "InverseMarchenkoPastur(kappa=1.5)": dens.InverseMarchenkoPastur(1.5),
    "Wigner(1)": dens.Wigner(1.0),
    "FreeCauchy(0, 1)": dens.FreeCauchy(0.0, 1.0),
    "LevyPowerLaw(alpha=1.5)": dens.LevyPowerLaw(0.3, 0.8, 1.5),
    "MultiplicativeWishart": dens.MultiplicativeWishart(0.5, 1.2),
    "TruncatedPowerLaw(alpha=2)": dens.TruncatedPowerLaw(2.0, 1.0, 20.0),
    "TruncatedPowerLaw(alpha=2.5)": dens.TruncatedPowerLaw(2.5, 1.0, 20.0),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--r-points", type=int, default=100_000,
                    help="points for R of models whose R needs numerical inversion")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.points
    z = rng.uniform(-5, 25, n) + 1j * rng.uniform(0.01, 5, n)
    w = rng.uniform(-0.3, 0.3, n) + 1j * rng.uniform(0.001, 0.3, n)
    t_sqrt = best(lambda: np.sqrt(z), args.repeat)
    print(f"{n} complex points; baseline numpy.sqrt: {1e9 * t_sqrt / n:.1f} ns/point\n")
    print(f"{'model':<36} {'G ns/pt':>9} {'G/sqrt':>7} {'R ns/pt':>9} {'R/sqrt':>7}")
    for name, m in MODELS.items():
        try:
            tg = best(lambda m=m: m.stieltjes(z), args.repeat) / n
            g = f"{1e9 * tg:9.1f} {tg * n / t_sqrt:7.1f}"
        except NotImplementedError:
            g = f"{'-':>9} {'-':>7}"
        numeric_r = isinstance(m, dens.TruncatedPowerLaw)
        wr = w
        if numeric_r:  # R by numerical inversion of G on the real branch
            wr = np.linspace(0.01, 0.9, args.r_points) * real_branch_domain(m)[1]
        try:
            tr = best(lambda m=m, wr=wr: m.r_transform(wr), 1 if numeric_r else args.repeat)
            tr /= wr.size
            r = f"{1e9 * tr:9.1f} {tr * n / t_sqrt:7.1f}"
            if numeric_r:
                r += f"  (numerical inversion, {wr.size} real points)"
        except NotImplementedError:
            r = f"{'-':>9} {'-':>7}"
        print(f"{name:<36} {g} {r}")


if __name__ == "__main__":
    main()
