"""Cost and coverage of the seeded bootstrap interval of log10 Q (``setol quality --q-ci K``).

Cost: for a MiniLM layer (384 eigenvalues, the packaged model) and a 4096-eigenvalue ESD
(``W^T W / N`` of a 8192 x 4096 Student-t matrix, seeded), in one process, the point estimate
(:func:`setol_theory.quality.resampled_quality` on the ESD itself: the power-law fit, the
ECS and the models, as the pipeline computes it) against one bootstrap replicate, per model
and for all models; prints milliseconds and the ratio replicate / point estimate. Then the
whole packaged model: ``analyze`` with quality, with and without ``q_ci``.

Coverage (``--coverage``): how often the nominal 95 per cent interval covers a population
value, over ``--reps`` ESDs of ``--M`` i.i.d. eigenvalues each; also the ratio of the bootstrap
standard deviation to the sampling one (Monte Carlo over the repetitions).

* ``bs`` model, Pareto populations (``P(lambda > x) = x^-s``, ``x >= 1``): closed form
  ``log10 Q_bs = log10(M share)``, ``share = c^(1 - s)`` for a fixed ECS edge ``c`` and
  ``share = t^(1 - s)``, ``t = mu e^(-1/s)`` (``mu = s/(s - 1)``, the root of
  ``int_t^inf ln(lambda/mu) dF = 0``) for the detX edge.
* ``bs`` model, layer-ESD populations (the ESD of a Gaussian, Student-t(5), Student-t(3) and
  Student-t(2.5) 3000 x 1500 matrix, seeded): the plug-in value ``log10(M Q_bs(pop)/M_pop)``
  under the detX rule.
* ``--all-models``: every model under the detX rule (or ``--ecs xmin``) on the Student-t(3)
  and Student-t(2.5) populations, against the median of the sampling distribution (``--mc``
  independent draws): the target of the interval when the estimator's bias is small next to
  its spread.

    python benchmarks/bench_quality_ci.py [--replicates 50] [--repeat 3]
    python benchmarks/bench_quality_ci.py --coverage [--reps 200] [--replicates 200] [--M 400]
    python benchmarks/bench_quality_ci.py --coverage --all-models [--reps 100] [--replicates 100]
        [--ecs detx|xmin]
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


def _row(label: str, theta: float, draws, reps: int, replicates: int, ecs) -> None:
    hit = below = above = 0
    est, sds = [], []
    for r in range(reps):
        x = draws(r)
        est.append(resampled_quality(x, ecs=ecs, models=("bs",))["bs"])
        rb = np.random.default_rng(10_000 + r)
        vals = [resampled_quality(x[rb.integers(0, x.size, x.size)], ecs=ecs,
                                  models=("bs",))["bs"] for _ in range(replicates)]
        lo, hi = np.percentile(vals, [2.5, 97.5])
        sds.append(float(np.std(vals)))
        hit += lo <= theta <= hi
        below += theta < lo
        above += theta > hi
    sd = float(np.std(est))
    print(f"{label:>22} {hit / reps:6.3f} {below:8d} {above:8d} {np.mean(sds):8.4f} {sd:8.4f} "
          f"{np.mean(sds) / sd:6.2f}")


def _population(nu: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3000, 1500)) if nu == 0 else rng.standard_t(nu, size=(3000, 1500))
    return np.linalg.eigvalsh(W.T @ W / 3000)


def whole_model(replicates: int) -> None:
    """``analyze(..., quality=QualityOptions(q_ci=K))`` of the packaged model against ``q_ci=0``
    (traps off), in the same process: the cost of one replicate pass over every layer."""
    from setol_theory import AnalysisOptions, QualityOptions, analyze
    from setol_theory.io import default_model_path

    path, opts = default_model_path(), AnalysisOptions(traps=False)
    analyze(path, opts, quality=QualityOptions())  # warm-up
    cheap = tuple(m for m in MODELS if m not in ("tpl", "emp_inv"))
    for label, models in (("all models", tuple(MODELS)), ("no tpl/emp_inv", cheap)):
        times = []
        for k in (0, replicates):
            t0 = time.perf_counter()
            res = analyze(path, opts, quality=QualityOptions(models=models, q_ci=k))
            times.append(time.perf_counter() - t0)
        n = len(res.quality.with_quality)
        per = (times[1] - times[0]) / replicates
        print(f"whole packaged model ({n} layers with an ECS), {label}: analyze with quality "
              f"{times[0]:.2f} s; with --q-ci {replicates} {times[1]:.2f} s; one replicate "
              f"pass over all layers {per:.2f} s = {per / times[0]:.2f} x the analysis")


def coverage(reps: int, replicates: int, M: int) -> None:
    print(f"bs model, {reps} ESDs of M = {M} i.i.d. eigenvalues, {replicates} resamples each; "
          f"binomial 3-sigma band of the coverage: +-{3 * math.sqrt(0.95 * 0.05 / reps):.3f}")
    print(f"{'population, ECS rule':>22} {'cover':>6} {'theta<lo':>8} {'theta>hi':>8} "
          f"{'boot sd':>8} {'samp sd':>8} {'ratio':>6}")
    for s in (2.5, 4.0):
        mu = s / (s - 1.0)
        for ecs in (1.5, "detx"):
            t = mu * math.exp(-1.0 / s) if ecs == "detx" else float(ecs)
            theta = math.log10(M) + (1.0 - s) * math.log10(t)
            rng = np.random.default_rng(12345)
            _row(f"Pareto s={s}, {ecs}", theta,
                 lambda r, rng=rng, s=s: (1.0 - rng.random(M)) ** (-1.0 / s),
                 reps, replicates, ecs)
    for nu in (0.0, 5.0, 3.0, 2.5):
        pop = _population(nu)
        theta = (resampled_quality(pop, models=("bs",))["bs"] - math.log10(pop.size)
                 + math.log10(M))
        rng = np.random.default_rng(12345)
        _row(("Gaussian" if nu == 0 else f"Student-t({nu:g})") + ", detx", theta,
             lambda r, rng=rng, pop=pop: pop[rng.integers(0, pop.size, M)], reps, replicates,
             "detx")


def coverage_all_models(reps: int, replicates: int, M: int, mc: int, ecs: str = "detx"
                        ) -> None:
    print(f"every model, ECS rule {ecs}, {reps} ESDs of M = {M} i.i.d. draws from a layer ESD, "
          f"{replicates} resamples each; target: the median of {mc} independent draws' log10 Q; "
          f"band +-{3 * math.sqrt(0.95 * 0.05 / reps):.3f}")
    for nu in (3.0, 2.5):  # (on the Gaussian population tpl takes ~0.4 s per evaluation)
        pop = _population(nu)
        rng = np.random.default_rng(777)
        mcv = {m: [] for m in MODELS}
        for _ in range(mc):
            q = resampled_quality(pop[rng.integers(0, pop.size, M)], ecs=ecs)
            for m in MODELS:
                mcv[m].append(q[m])
        target = {m: float(np.nanmedian(v)) if np.isfinite(v).mean() > 0.5 else math.nan
                  for m, v in mcv.items()}
        hit = {m: 0 for m in MODELS}
        n_int = {m: 0 for m in MODELS}
        rng = np.random.default_rng(12345)
        for r in range(reps):
            ci = quality_interval(pop[rng.integers(0, pop.size, M)], replicates=replicates,
                                  seed=r, ecs=ecs)
            for m, c in ci.items():
                if c.ok and math.isfinite(target[m]):
                    n_int[m] += 1
                    hit[m] += c.low <= target[m] <= c.high
        name = "Gaussian" if nu == 0 else f"Student-t({nu:g})"
        print(f"{name}: " + "  ".join(
            f"{m} {hit[m] / n_int[m]:.3f}" if n_int[m] else f"{m} -" for m in MODELS)
            + "  (intervals given: " + ", ".join(f"{m} {n_int[m]}" for m in MODELS) + ")")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=None,
                    help="resamples per interval (default 50 for cost, 200 for coverage)")
    ap.add_argument("--repeat", type=int, default=3, help="cost: best of this many runs")
    ap.add_argument("--model-replicates", type=int, default=5,
                    help="cost: replicates for the whole packaged model (default 5)")
    ap.add_argument("--coverage", action="store_true", help="measure coverage instead")
    ap.add_argument("--reps", type=int, default=200, help="coverage: repetitions")
    ap.add_argument("--M", type=int, default=400, help="coverage: eigenvalues per ESD")
    ap.add_argument("--all-models", action="store_true",
                    help="coverage of every model against the sampling median")
    ap.add_argument("--mc", type=int, default=1000, help="--all-models: independent draws")
    ap.add_argument("--ecs", default="detx", choices=["detx", "xmin"],
                    help="--all-models: the ECS rule (default detx)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.coverage and args.all_models:
        coverage_all_models(args.reps, args.replicates or 100, args.M, args.mc, args.ecs)
    elif args.coverage:
        coverage(args.reps, args.replicates or 200, args.M)
    else:
        cost(args.replicates or 50, args.repeat)
        print()
        whole_model(args.model_replicates)


if __name__ == "__main__":
    main()
