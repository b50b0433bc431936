"""setol vs WeightWatcher on the same model, column by column (docs/weightwatcher.md).

WeightWatcher is not a dependency of setol: it runs in its own interpreter (``--ww-python``, a
virtual environment with ``weightwatcher==0.7.7``, torch and safetensors), which writes its
table as JSON; setol runs here. Every 2-D tensor of the safetensors file becomes a bias-free
``torch.nn.Linear`` for WeightWatcher (``analyze(randomize=True, mp_fit=True, min_evals=10)``).

    python benchmarks/compare_weightwatcher.py --ww-python /path/to/wwvenv/bin/python [PATH]

Prints, per column, how many layers agree (within 1% relative, 0.01 absolute below 1, for real
numbers; equal for counts) and the layers that differ, with both values.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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
df = ww.WeightWatcher(model=model).analyze(randomize=True, mp_fit=True, min_evals=10)
rows = df.to_dict(orient="records")
for r in rows:
    r["name"] = r["name"].replace("__", ".")
json.dump({"version": ww.__version__, "rows": rows}, open(sys.argv[2], "w"), default=float)
'''

#: (setol column, WeightWatcher column, relative tolerance; 0: exact); xmin is compared on WᵀW.
COLUMNS = [("alpha", "alpha", 0.01), ("alpha_weighted", "alpha_weighted", 0.01),
           ("log_norm", "log_norm", 0.01), ("log_spectral_norm", "log_spectral_norm", 0.01),
           ("log_alpha_norm", "log_alpha_norm", 0.01), ("stable_rank", "stable_rank", 0.01),
           ("xmin", "xmin", 0.01), ("num_spikes", "num_spikes", 0),
           ("mp_softrank", "mp_softrank", 0.01), ("num_traps", "num_traps", 0)]


def weightwatcher_rows(python: str, path: Path) -> tuple[str, dict[str, dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ww.json"
        script = Path(tmp) / "ww_script.py"
        script.write_text(_WW_SCRIPT)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        subprocess.run([python, str(script), str(path), str(out)], check=True, env=env,
                       capture_output=True)
        data = json.loads(out.read_text())
    return data["version"], {r["name"]: r for r in data["rows"]}


def _agree(a: float | None, b: float | None, tol: float) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) \
            or (isinstance(b, float) and math.isnan(b)):
        return False
    return a == b if tol == 0 else abs(a - b) <= tol * max(1.0, abs(b))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=None, help="a .safetensors file (default: "
                    "the packaged all-MiniLM-L6-v2)")
    ap.add_argument("--ww-python", required=True, help="interpreter with weightwatcher")
    args = ap.parse_args()
    path = Path(args.path) if args.path else default_model_path()
    version, ww = weightwatcher_rows(args.ww_python, path)
    res = analyze(path, on_error="record")
    ours = {m.name: m.to_dict() for m in res.layers if m.ok}
    common = [n for n in ours if n in ww]
    print(f"WeightWatcher {version} vs setol on {path.name}: {len(common)} common layers "
          f"(only setol: {sorted(set(ours) - set(ww))}; only WeightWatcher: "
          f"{sorted(set(ww) - set(ours))})")
    for ours_key, ww_key, tol in COLUMNS:
        diffs = []
        for n in common:
            a = ours[n].get(ours_key)
            if ours_key == "xmin" and a is not None and ours[n]["normalization"] == "N":
                a = a * ours[n]["N"]
            b = ww[n].get(ww_key)
            if not _agree(a, b, tol):
                diffs.append(f"      {n}: setol {a!r}, WeightWatcher {b!r}")
        print(f"{ours_key:18s} agree {len(common) - len(diffs)}/{len(common)}")
        print("\n".join(diffs[:8]) + ("\n      ..." if len(diffs) > 8 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
