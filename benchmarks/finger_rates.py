"""What ``--fingers`` does on a planted finger and on layers without one (docs/htsr.md,
"Fingers and xmax").

1. The planted finger of tests/test_fit_options.py (a 12-point clump above a Pareto tail of
   100 eigenvalues over a uniform bulk of 300), 40 draws: on the draws where the plain scan
   picks the clump, alpha and the tail under each mode against the plain fit of the same
   draw without the clump.
2. How often ``clip_xmax`` reports ``num_fingers > 0`` where there is no finger: random
   Gaussian and Student-t layers (ESD of ``W^T W / N``), and the fingerless Pareto sample;
   and the verdict / warning of the Gaussian layers under each mode.

    python benchmarks/finger_rates.py [--draws 40]
"""

from __future__ import annotations

import argparse
import collections
import warnings

import numpy as np

from setol_theory.fit import fit_tail
from setol_theory.htsr import esd_metrics, positive_evals


def _fingered(rng: np.random.Generator) -> np.ndarray:
    bulk = rng.uniform(0.2, 1.0, 300)
    tail = (1 - rng.random(100)) ** (-1 / 1.5)
    finger = 2 * tail.max() * (1 - rng.random(12)) ** (-1 / 7.0)
    return np.concatenate([bulk, tail, finger])


def _esd(W: np.ndarray) -> np.ndarray:
    return positive_evals(np.linalg.eigvalsh(W.T @ W / W.shape[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=40)
    n = ap.parse_args().draws
    warnings.simplefilter("ignore")
    print("planted finger: draws where the plain scan picks the 12-point clump")
    for seed in range(n):
        x = _fingered(np.random.default_rng(seed))
        plain = fit_tail(x).powerlaw
        if plain.n_tail != 12:
            continue
        ref = fit_tail(x[:400]).powerlaw
        row = [f"seed {seed:2d}: plain alpha {plain.alpha:5.2f}; without the clump "
               f"{ref.alpha:.2f} +- {ref.sigma:.2f} (tail {ref.n_tail})"]
        for mode in ("xmin_peak", "clip_xmax"):
            t = fit_tail(x, fingers=mode)
            row.append(f"{mode} {t.powerlaw.alpha:.2f} (tail {t.powerlaw.n_tail} of "
                       f"{t.data.size}, fingers {t.num_fingers})")
        print("  " + "; ".join(row))
    layers = {
        "Gaussian 600x200": lambda r: _esd(r.standard_normal((600, 200))),
        "Student-t(4) 600x200": lambda r: _esd(r.standard_t(4, size=(600, 200))),
        "Student-t(3) 300x100": lambda r: _esd(r.standard_t(3, size=(300, 100))),
        "Pareto sample (no clump)": lambda r: _fingered(r)[:400],
    }
    print(f"clip_xmax on layers without a finger ({n} draws each)")
    for name, make in layers.items():
        ks = [fit_tail(make(np.random.default_rng(s)), fingers="clip_xmax").num_fingers
              for s in range(n)]
        print(f"  {name:26s} num_fingers > 0 on {sum(k > 0 for k in ks)} of {n} "
              f"(k = {sorted(k for k in ks if k)})")
    print("Gaussian 600x200: (verdict, warning) counts")
    for fk in ({}, {"fingers": "clip_xmax"}, {"fingers": "xmin_peak"}):
        c: collections.Counter[tuple[str, str]] = collections.Counter()
        for s in range(n):
            x = _esd(np.random.default_rng(s).standard_normal((600, 200)))
            m = esd_metrics(x, 600, 200, fit_kwargs={"min_tail": 10, **fk})
            c[(m.verdict, m.warning)] += 1
        print(f"  {fk.get('fingers', 'none'):9s} {dict(c)}")


if __name__ == "__main__":
    main()
