"""setol's ``--fingers`` against WeightWatcher's ``fix_fingers`` on the same model
(docs/weightwatcher.md, "Fit options").

WeightWatcher runs in its own interpreter (``--ww-python``: a virtual environment with
``weightwatcher==0.7.7``, torch and safetensors). Its ``xmin_peak`` needs ``powerlaw`` < 2
(``pip install --target DIR powerlaw==1.5``; pass ``--ww-pythonpath DIR``). Every 2-D tensor
becomes a bias-free ``torch.nn.Linear`` there, as in benchmarks/compare_weightwatcher.py.

    python benchmarks/compare_ww_fingers.py --ww-python /path/to/wwvenv/bin/python \\
        --ww-pythonpath /path/to/powerlaw15 [PATH]

For each mode it prints on how many layers alpha (and ``num_fingers``) agree, then the same
count for setol's fit run with WeightWatcher's rules (``emulated``): clip ``k = 2..9``
eigenvalues and report ``k - 1``; a peak over ``λ > 1e-5`` with the window
``[log10(0.95 λ_peak), 1.5 λ_peak]`` minus its largest candidate; no minimum tail. Agreement
of the emulation on every layer shows that the differences are those rules.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

from setol_theory.fit import fit_powerlaw
from setol_theory.io import default_model_path
from setol_theory.pipeline import analyze

_WW_SCRIPT = r'''
import json, sys
import numpy as np, torch, weightwatcher as ww
from safetensors.numpy import load_file
sd = load_file(sys.argv[1])
model = torch.nn.Module()
for k, v in sd.items():
    if v.ndim == 2 and min(v.shape) >= 2:
        lin = torch.nn.Linear(v.shape[1], v.shape[0], bias=False)
        lin.weight.data = torch.from_numpy(v.astype(np.float32).copy())
        model.add_module(k.replace(".", "__"), lin)
kw = {"xmin_peak": dict(fix_fingers="xmin_peak", pl_package="powerlaw"),
      "clip_xmax": dict(fix_fingers="clip_xmax")}[sys.argv[3]]
df = ww.WeightWatcher(model=model).analyze(randomize=False, mp_fit=False, min_evals=10, **kw)
rows = {r["name"].replace("__", "."): {"alpha": float(r["alpha"]),
        "num_fingers": int(r.get("num_fingers", 0))} for r in df.to_dict(orient="records")}
json.dump(rows, open(sys.argv[2], "w"))
'''

_WW_THRESH = 1e-5  # WeightWatcher's EVALS_THRESH (absolute, on the WᵀW scale)


def _ww_peak_rule(x: np.ndarray) -> float:
    counts, edges = np.histogram(np.log10(x), bins=100)
    peak = 10 ** edges[int(np.argmax(counts))]
    lo, hi = np.log10(0.95 * peak), 1.5 * peak
    u = np.unique(x[(x >= lo) & (x <= hi)])
    return fit_powerlaw(x, xmin_range=(max(lo, 0.0), u[-1]), min_tail=2).alpha


def _ww_clip_rule(x: np.ndarray) -> tuple[float, int]:
    first = fit_powerlaw(x, min_tail=2)
    for idx in range(2, 10):
        g = fit_powerlaw(x[:-idx], min_tail=2)
        if g.alpha + 1.0 < first.alpha:
            return g.alpha, idx - 1
        if g.alpha <= 2.0:
            break
    return first.alpha, 0


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-3 * max(1.0, abs(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=None)
    ap.add_argument("--ww-python", required=True)
    ap.add_argument("--ww-pythonpath", default="", help="directory with powerlaw 1.5")
    args = ap.parse_args()
    path = args.path or str(default_model_path())
    warnings.simplefilter("ignore")
    base = analyze(path, traps=False, normalization="none", lr_tests=False, keep_evals=True)
    env = dict(os.environ, PYTHONPATH=args.ww_pythonpath)
    for mode in ("clip_xmax", "xmin_peak"):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "ww.json")
            subprocess.run([args.ww_python, "-c", _WW_SCRIPT, path, out, mode], check=True,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ww = json.load(open(out))
        ours = {m.name: m for m in analyze(path, traps=False, normalization="none",
                                           lr_tests=False, fingers=mode).layers if m.ok}
        same = same_k = emulated = n = 0
        for name, m in ours.items():
            if name not in ww:
                continue
            n += 1
            w = ww[name]
            same += _close(m.alpha, w["alpha"])
            same_k += m.num_fingers == w["num_fingers"]
            ev = base.evals[name]
            x = np.sort(ev[ev > _WW_THRESH])
            if mode == "xmin_peak":
                emulated += _close(_ww_peak_rule(x), w["alpha"])
            else:
                a, k = _ww_clip_rule(x)
                emulated += _close(a, w["alpha"]) and k == w["num_fingers"]
        fingers = f", num_fingers on {same_k}" if mode == "clip_xmax" else ""
        print(f"{mode}: setol = WeightWatcher: alpha on {same} of {n} layers{fingers}; "
              f"setol's fit with WeightWatcher's rules = WeightWatcher on {emulated} of {n}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
