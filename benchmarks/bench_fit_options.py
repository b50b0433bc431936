"""Cost of the fit options (``--fingers``, ``--fit``) per layer, in one process.

``analyze`` of the packaged model (no traps) under each option, alternating with the default
(``--fit pl``, no finger handling) ``--repeat`` times; CPU seconds (``time.process_time``,
so other load on the machine counts less), median per option, the extra cost per layer and
the ratio to the default. Also the default tail fit (``fit.fit_tail``) against the bare
``fit.fit_powerlaw`` it wraps, on the same eigenvalues.

    python benchmarks/bench_fit_options.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from setol_theory.fit import fit_powerlaw, fit_tail
from setol_theory.io import default_model_path
from setol_theory.pipeline import analyze

_OPTIONS: dict[str, dict[str, str]] = {
    "--fingers xmin_peak": {"fingers": "xmin_peak"},
    "--fingers clip_xmax": {"fingers": "clip_xmax"},
    "--fit tpl": {"fit": "tpl"},
    "--fit e_tpl": {"fit": "e_tpl"},
}


def _cpu(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    path = default_model_path()
    base = analyze(path, traps=False, keep_evals=True)  # warm-up (numba, caches)
    n = sum(m.ok for m in base.layers)
    times: dict[str, list[float]] = {"default": [], **{k: [] for k in _OPTIONS}}
    for _ in range(args.repeat):
        for label, kw in _OPTIONS.items():
            times["default"].append(_cpu(lambda: analyze(path, traps=False)))
            times[label].append(_cpu(lambda kw=kw: analyze(path, traps=False, **kw)))
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"analyze of {path.name}, {n} layers, no traps; CPU seconds, median of "
          f"{len(times['default'])} (default) and {args.repeat} runs")
    for label, t in med.items():
        extra = (t - med["default"]) / n * 1e3
        print(f"  {label:22s} {t:7.3f} s   {extra:+8.2f} ms per layer   "
              f"x{t / med['default']:.2f} the default")
    pos = [e[e > 0] for e in base.evals.values()]
    reps = 20
    t_tail = _cpu(lambda: [fit_tail(p) for _ in range(reps) for p in pos])
    t_pl = _cpu(lambda: [fit_powerlaw(p) for _ in range(reps) for p in pos])
    print(f"default tail fit: fit_tail {t_tail / reps / len(pos) * 1e3:.3f} ms per layer, "
          f"fit_powerlaw {t_pl / reps / len(pos) * 1e3:.3f} ms (ratio {t_tail / t_pl:.2f})")


if __name__ == "__main__":
    main()
