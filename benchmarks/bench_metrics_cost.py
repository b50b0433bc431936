"""Cost of the per-layer metrics against a reference revision: ``analyze`` of the packaged
model with the code of ``--ref`` and with the working tree, alternating, in fresh processes.

Prints the best-of-``--repeat`` wall time of each, their ratio, and the same with the
optional goodness-of-fit work (``--bootstrap K``, ``--lr-tpl``) on the working tree, per
analysed layer. The default analysis (traps on, likelihood-ratio tests on, no bootstrap)
should not be slower than the reference's (issue 13); timings on a shared machine are noisy,
so compare the ratio, measured in one run.

    python benchmarks/bench_metrics_cost.py [--ref a7b89ae] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_SNIPPET = (
    "import sys, time, warnings; warnings.simplefilter('ignore');"
    "from setol_theory.pipeline import analyze; from setol_theory.io import default_model_path;"
    "p = default_model_path(); kw = eval(sys.argv[1]); analyze(p, **kw);"
    "t = time.perf_counter(); r = analyze(p, **kw); dt = time.perf_counter() - t;"
    "print(dt, sum(m.ok for m in r.layers))"
)


def timed(code_dir: Path, kwargs: str) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(code_dir), OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _SNIPPET, kwargs], cwd=code_dir, env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="a7b89ae")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old),
                        args.ref], check=True)
        try:
            t_old, t_new = [], []
            for _ in range(args.repeat):
                t_old.append(timed(old, "{}")[0])
                t_new.append(timed(ROOT, "{}")[0])
                t_old.append(timed(old, "{'traps': False}")[0])
                t_new.append(timed(ROOT, "{'traps': False}")[0])
            # pairs: default, no traps
            for label, k in (("default", 0), ("--no-traps", 1)):
                a, b = min(t_old[k::2]), min(t_new[k::2])
                print(f"{label:12s} {args.ref}: {a:.3f} s   working tree: {b:.3f} s   "
                      f"ratio {b / a:.3f}")
            base, n = timed(ROOT, "{'traps': False}")
            for kw in ("{'traps': False, 'lr_tests': False}",
                       "{'traps': False, 'bootstrap': 100}",
                       "{'traps': False, 'lr_tpl': True}"):
                t, n = timed(ROOT, kw)
                print(f"{kw:40s} {t:.3f} s  ({(t - base) / n * 1e3:+.1f} ms per layer vs "
                      f"--no-traps, {n} layers)")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)


if __name__ == "__main__":
    main()
