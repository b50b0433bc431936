"""Cost and coverage of the seeded bootstrap interval of log10 Q (``setol quality --q-ci K``).

Cost: for a MiniLM layer (384 eigenvalues, the packaged model) and a 4096-eigenvalue ESD
(``W^T W / N`` of a 8192 x 4096 Student-t matrix, seeded), in one process, the point estimate
(:func:`setol_theory.quality.resampled_quality` on the ESD itself: the power-law fit, the
ECS and the models, as the pipeline computes it) against one bootstrap replicate, per model
and for all models; prints milliseconds and the ratio replicate / point estimate.

Coverage (``--coverage``): how often the nominal 95 per cent interval of the ``bs`` model's
log10 Q covers its population value for i.i.d. Pareto ESDs (``P(lambda > x) = x^-s``,
``x >= 1``), where the population value has a closed form: ``log10 Q_bs = log10(M share)``
with ``share = c^(1 - s)`` for a fixed ECS edge ``c`` and ``share = t^(1 - s)``,
``t = mu e^(-1/s)`` (``mu = s/(s - 1)``, the root of ``int_t^inf ln(lambda/mu) dF = 0``) for
the detX edge. Also prints the ratio of the bootstrap standard deviation to the sampling
standard deviation (Monte Carlo over the repetitions).

    python benchmarks/bench_quality_ci.py [--replicates 50] [--repeat 3]
    python benchmarks/bench_quality_ci.py --coverage [--reps 200] [--replicates 200] [--M 400]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

from setol_theory.quality import MODELS, quality_interval, resampled_quality


def _esds() -> dict[str, np.ndarray]:
    from setol_theory.io import default_model_path
    from setol_theory.pipeline import analyze

    res = analyze(default_model_path(), traps=False, keep_evals=True,
                  layers=("encoder.layer.0.attention.self.query",))
    name = res.analysed[0].name
    rng = np.random.default_rng(0)
    W = rng.standard_t(3.0, size=(8192, 4096))
    big = np.linalg.eigvalsh(W.T @ W / W.shape[0])
    return {f"{name} (M={res.evals[name].size})": res.evals[name], "Student-t 8192x4096 (M=4096)":
            np.clip(big, 0.0, None)}


def _time(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cost(replicates: int, repeat: int) -> None:
    for label, ev in _esds().items():
        print(f"\n{label}: best of {repeat}; point = the point estimate, rep = one bootstrap "
              f"replicate (mean over {replicates})")
        print(f"{'models':>14} {'point ms':>9} {'rep ms':>9} {'rep/point':>9}")
        cheap = tuple(m for m in MODELS if m not in ("tpl", "emp_inv"))
        for models in [(m,) for m in MODELS] + [cheap, tuple(MODELS)]:
            point = _time(lambda models=models, ev=ev: resampled_quality(ev, models=models),
                          repeat)
            boot = _time(lambda models=models, ev=ev: quality_interval(
                ev, replicates=replicates, seed=0, models=models), repeat) / replicates
            name = models[0] if len(models) == 1 else "all" if len(models) == len(MODELS) \
                else "no tpl/emp_inv"
            print(f"{name:>14} {1e3 * point:9.2f} {1e3 * boot:9.2f} {boot / point:9.2f}")


def coverage(reps: int, replicates: int, M: int) -> None:
    print(f"bs model, i.i.d. Pareto ESDs, M = {M}, {reps} repetitions of {replicates} "
          "resamples; binomial 3-sigma band of the coverage: "
          f"+-{3 * math.sqrt(0.95 * 0.05 / reps):.3f}")
    print(f"{'s':>4} {'ECS':>8} {'cover':>6} {'theta<lo':>8} {'theta>hi':>8} {'boot sd':>8} "
          f"{'samp sd':>8} {'ratio':>6}")
    for s in (2.5, 4.0):
        mu = s / (s - 1.0)
        for ecs in (1.5, "detx"):
            t = mu * math.exp(-1.0 / s) if ecs == "detx" else float(ecs)
            theta = math.log10(M) + (1.0 - s) * math.log10(t)
            rng = np.random.default_rng(12345)
            hit = below = above = 0
            est, sds = [], []
            for r in range(reps):
                x = (1.0 - rng.random(M)) ** (-1.0 / s)
                est.append(resampled_quality(x, ecs=ecs, models=("bs",))["bs"])
                rb = np.random.default_rng(10_000 + r)
                vals = [resampled_quality(x[rb.integers(0, M, M)], ecs=ecs, models=("bs",))["bs"]
                        for _ in range(replicates)]
                lo, hi = np.percentile(vals, [2.5, 97.5])
                sds.append(float(np.std(vals)))
                hit += lo <= theta <= hi
                below += theta < lo
                above += theta > hi
            sd = float(np.std(est))
            print(f"{s:4.1f} {ecs!s:>8} {hit / reps:6.3f} {below:8d} {above:8d} "
                  f"{np.mean(sds):8.4f} {sd:8.4f} {np.mean(sds) / sd:6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=None,
                    help="resamples per interval (default 50 for cost, 200 for coverage)")
    ap.add_argument("--repeat", type=int, default=3, help="cost: best of this many runs")
    ap.add_argument("--coverage", action="store_true", help="measure coverage instead")
    ap.add_argument("--reps", type=int, default=200, help="coverage: repetitions")
    ap.add_argument("--M", type=int, default=400, help="coverage: eigenvalues per ESD")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.coverage:
        coverage(args.reps, args.replicates or 200, args.M)
    else:
        cost(args.replicates or 50, args.repeat)


if __name__ == "__main__":
    main()
