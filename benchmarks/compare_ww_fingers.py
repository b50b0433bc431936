"""setol's ``--fingers`` against WeightWatcher's ``fix_fingers`` on the same model
(docs/weightwatcher.md, "Fit options").

WeightWatcher runs in its own interpreter (``--ww-python``: a virtual environment with
``weightwatcher==0.7.7``, torch and safetensors). Its ``xmin_peak`` needs ``powerlaw`` < 2
(``pip install --target DIR powerlaw==1.5``; pass ``--ww-pythonpath DIR``). Every 2-D tensor
becomes a bias-free ``torch.nn.Linear`` there, as in benchmarks/compare_weightwatcher.py.

    python benchmarks/compare_ww_fingers.py --ww-python /path/to/wwvenv/bin/python \\
        --ww-pythonpath /path/to/powerlaw15 [PATH]

With ``--tpl`` it also runs WeightWatcher's ``fit='TPL'`` (slow: about 30 s per layer; it
needs ``powerlaw`` < 2 too) and compares the log-likelihood of its ``(alpha, Lambda)`` with
setol's maximum-likelihood cutoff fit at WeightWatcher's own ``xmin``.

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

from setol_theory.fit import fit_powerlaw, fit_truncated_powerlaw, truncated_powerlaw_pdf
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
      "clip_xmax": dict(fix_fingers="clip_xmax"),
      "tpl": dict(fit="TPL", pl_package="powerlaw")}[sys.argv[3]]
df = ww.WeightWatcher(model=model).analyze(randomize=False, mp_fit=False, min_evals=10, **kw)
rows = {r["name"].replace("__", "."): {"alpha": float(r["alpha"]), "xmin": float(r["xmin"]),
        "Lambda": float(r.get("Lambda", -1)), "num_fingers": int(r.get("num_fingers", 0))}
        for r in df.to_dict(orient="records")}
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


def _run_ww(args: argparse.Namespace, path: str, mode: str) -> dict:
    env = dict(os.environ, PYTHONPATH=args.ww_pythonpath)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ww.json")
        subprocess.run([args.ww_python, "-c", _WW_SCRIPT, path, out, mode], check=True,
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return json.load(open(out))


def _tpl(args: argparse.Namespace, path: str, base) -> None:
    ww = _run_ww(args, path, "tpl")
    higher = equal = lower = at_one = 0
    for name, w in ww.items():
        ev = base.evals.get(name)
        if ev is None:
            continue
        at_one += abs(w["alpha"] - 1.0) < 1e-3
        x = ev[ev > _WW_THRESH]
        t = x[x >= w["xmin"]]
        f = fit_truncated_powerlaw(x, xmin=w["xmin"])
        ll = np.log(truncated_powerlaw_pdf(t, f.alpha, f.lam, w["xmin"])).sum()
        ll_ww = np.log(truncated_powerlaw_pdf(t, w["alpha"], w["Lambda"], w["xmin"])).sum()
        higher += ll > ll_ww + 1e-6
        lower += ll < ll_ww - 1e-6
        equal += abs(ll - ll_ww) <= 1e-6
    print(f"fit='TPL': WeightWatcher's exponent is at powerlaw's bound alpha = 1 on {at_one} "
          f"of {len(ww)} layers; at its xmin, setol's (alpha, Lambda) has the higher "
          f"log-likelihood on {higher}, equal on {equal}, lower on {lower}")


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-3 * max(1.0, abs(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=None)
    ap.add_argument("--ww-python", required=True)
    ap.add_argument("--ww-pythonpath", default="", help="directory with powerlaw 1.5")
    ap.add_argument("--tpl", action="store_true", help="also compare fit='TPL' (slow)")
    args = ap.parse_args()
    path = args.path or str(default_model_path())
    warnings.simplefilter("ignore")
    base = analyze(path, traps=False, normalization="none", lr_tests=False, keep_evals=True)
    for mode in ("clip_xmax", "xmin_peak"):
        ww = _run_ww(args, path, mode)
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
    if args.tpl:
        _tpl(args, path, base)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
