"""The MP bulk status and spike count of pooled conv layers, setol vs WeightWatcher 0.7.7
(docs/weightwatcher.md, "Conv2d layers"; docs/htsr.md, "Conv layers").

A seeded model of bias-free ``Conv2d`` kernels with known content (Gaussian entries, Gaussian
with rank-one spikes planted in some slices, Student-t and Pareto entries) is written to an
``.npz``; WeightWatcher runs in its own interpreter (``--ww-python``: a virtual environment with
``weightwatcher==0.7.7`` and torch) with ``mp_fit=True``, once with its default
``conv2d_norm=True`` and once with ``conv2d_norm=False``; setol analyses the same file (pooled
conv ESDs, the default). Printed per layer: the planted truth, setol's ``mp_status``,
``num_spikes`` and ``mp_softrank`` (and the true ``mp_softrank`` of the Gaussian layers),
WeightWatcher's ``num_spikes`` and ``mp_softrank`` (both
settings), and WeightWatcher's spike threshold ``bulk_max + sqrt(TW)`` against setol's, both
divided by the mean eigenvalue (WeightWatcher rescales the ESD to mean 1 before its fit, so its
two settings must agree).

    python benchmarks/compare_ww_conv.py --ww-python /path/to/wwvenv/bin/python [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile

import numpy as np

from setol_theory.fit import fit_mp_bulk
from setol_theory.pipeline import analyze

_WW_SCRIPT = r'''
import json, sys
import numpy as np, torch, weightwatcher as ww
weights = np.load(sys.argv[1])
model = torch.nn.Module()
for k in weights.files:
    w = weights[k]
    conv = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], bias=False)
    conv.weight.data = torch.from_numpy(w.astype(np.float32).copy())
    model.add_module(k.replace(".", "__"), conv)
out = {}
for norm in (True, False):
    df = ww.WeightWatcher(model=model).analyze(randomize=False, mp_fit=True, min_evals=10,
                                               conv2d_norm=norm)
    out[str(norm)] = {r["name"].replace("__", "."): {c: r.get(c) for c in (
        "num_spikes", "mp_softrank", "sigma_mp", "bulk_max", "W_scale", "N", "M", "rf",
        "num_evals")}
        for r in df.to_dict(orient="records")}
json.dump(out, open(sys.argv[2], "w"))
'''

#: name -> (out, in, kh, kw, family, planted spikes {slice: count} or None)
LAYERS = {
    "gauss_a.weight": (64, 32, 3, 3, "gauss", {}),
    "gauss_b.weight": (128, 64, 3, 3, "gauss", {}),
    "gauss_spikes.weight": (256, 128, 3, 3, "gauss", {(0, 0): 1, (1, 1): 2, (2, 0): 1}),
    "gauss_5x5.weight": (128, 128, 5, 5, "gauss", {}),
    "gauss_1x3.weight": (512, 256, 1, 3, "gauss", {}),
    "t3.weight": (128, 64, 3, 3, "t3", None),
    "t2.5.weight": (256, 128, 3, 3, "t2.5", None),
    "pareto1.5.weight": (128, 64, 3, 3, "pareto1.5", None),
}


def kernel(out_ch: int, in_ch: int, kh: int, kw: int, family: str,
           spikes: dict[tuple[int, int], int] | None, rng: np.random.Generator) -> np.ndarray:
    """(out, in, kh, kw) kernel, entries of scale 0.05; planted spikes theta sqrt(N) u v^T
    (times 0.05) with theta^2 = 6, 7, ... times the BBP point sqrt(M/N)."""
    shape = (out_ch, in_ch, kh, kw)
    if family == "gauss":
        K = rng.standard_normal(shape)
    elif family.startswith("pareto"):
        K = rng.pareto(float(family[6:]), shape) * rng.choice([-1.0, 1.0], shape)
    else:
        K = rng.standard_t(float(family[1:]), shape)
    N, M = max(out_ch, in_ch), min(out_ch, in_ch)
    j = 0
    for (a, b), n in (spikes or {}).items():
        for _ in range(n):
            u, v = rng.standard_normal(out_ch), rng.standard_normal(in_ch)
            theta = math.sqrt((6.0 + j) * math.sqrt(M / N))
            K[:, :, a, b] += theta * math.sqrt(N) * np.outer(u / np.linalg.norm(u),
                                                             v / np.linalg.norm(v))
            j += 1
    return 0.05 * K


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ww-python", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    weights = {k: kernel(*v[:5], v[5], rng) for k, v in LAYERS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path, out = os.path.join(tmp, "conv_model.npz"), os.path.join(tmp, "ww.json")
        np.savez(path, **weights)
        subprocess.run([args.ww_python, "-c", _WW_SCRIPT, path, out], check=True,
                       env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        ww = json.load(open(out))
        res = analyze(path, traps=False, keep_evals=True)
    print(f"{'layer':20s} {'N x M x k':>12s} {'truth':>5s} {'mp_status':>11s} {'spikes':>6s} "
          f"{'softrank':>8s} {'true':>6s} | {'WW spikes':>9s} {'(no norm)':>9s} "
          f"{'WW softrank':>11s} {'(no norm)':>9s} | {'thr/mean setol':>14s} {'WW':>6s}")
    for m in res.layers:
        out_ch, in_ch, kh, kw, fam, spikes = LAYERS[m.name]
        truth = str(sum(spikes.values())) if spikes is not None else "-"
        w1, w0 = ww["True"][m.name], ww["False"][m.name]
        ev = res.evals[m.name]
        k = kh * kw
        thr = fit_mp_bulk(ev, m.N, m.M, slices=k).threshold / ev.mean()
        # the true mp_softrank of a Gaussian layer: lambda_+ of the entry variance 0.05^2
        true = (0.05**2 * (1 + math.sqrt(m.M / m.N)) ** 2 / m.lambda_max if fam == "gauss"
                else math.nan)
        # WeightWatcher's threshold on its mean-1 scale: bulk_max + sqrt(TW) (its mp_fit
        # returns bulk_max divided by W_scale^2, the mean-1 rescaling)
        Q = w1["N"] / w1["M"]
        bulk_max = w1["bulk_max"] * w1["W_scale"] ** 2
        tw = 1 / math.sqrt(Q) * bulk_max ** (2 / 3) * w1["M"] ** (-2 / 3)
        print(f"{m.name:20s} {f'{m.N}x{m.M}x{k}':>12s} {truth:>5s} {m.mp_status:>11s} "
              f"{m.num_spikes:6.0f} {m.mp_softrank:8.3f} {true:6.3f} | {w1['num_spikes']:9d} "
              f"{w0['num_spikes']:9d} {w1['mp_softrank']:11.3f} {w0['mp_softrank']:9.3f} | "
              f"{thr:14.3f} {bulk_max + math.sqrt(tw):6.3f}")
    print("WeightWatcher N, M, rf:", {k: (v["N"], v["M"], v["rf"]) for k, v in ww["True"].items()})


if __name__ == "__main__":
    main()
