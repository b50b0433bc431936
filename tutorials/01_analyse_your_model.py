# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---
# %% [markdown]
# # Analyse your own model and read its verdicts
#
# `setol` reads a weights file (`.safetensors`, `.pt`, `.npz`, a Hugging Face model directory
# or a model id in the local Hugging Face cache), computes the eigenvalues of `X = WᵀW/N` for
# every layer, fits the power-law tail of each spectrum and gives each layer a verdict.
# Here: the packaged all-MiniLM-L6-v2 weights (a `.safetensors` file) and a small `.npz`
# file written on the spot. The same from the shell:
#
# ```bash
# setol analyze model.safetensors --html report.html
# setol analyze sentence-transformers/all-MiniLM-L6-v2     # from the local HF cache
# ```
#
# Runs in a few seconds (`python tutorials/01_analyse_your_model.py`).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

from setol_theory import AnalysisOptions, analyze
from setol_theory.io import default_model_path
from setol_theory.report import layer_verdict, write_analysis_report

out = Path(os.environ.get("SETOL_TUTORIAL_OUT") or tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## A safetensors file
#
# `layers=` selects layers by name (here the six matrices of the first transformer block, to
# keep the tutorial fast); `keep_evals=True` keeps the eigenvalues for the figures.

# %%
path = default_model_path()
block0 = tuple(f"encoder.layer.0.{n}.weight" for n in (
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "intermediate.dense", "output.dense"))
res = analyze(path, AnalysisOptions(layers=block0), keep_evals=True)
for m in res.layers:
    verdict, why = layer_verdict(m.to_dict())
    print(f"{m.name:45s} alpha = {m.alpha:5.2f} +/- {m.alpha_sigma:4.2f}  D = {m.D:.3f}  "
          f"{verdict} {m.warning}")
assert len(res.analysed) == 6

# %% [markdown]
# How to read it: **alpha** is the exponent of the power-law tail of the layer's eigenvalue
# density (ρ(λ) ~ λ^-α above `xmin`), `alpha_sigma` its standard error and `D` the
# Kolmogorov–Smirnov distance of the fit (small is good). The **verdict** says whether the tail
# is a power law at all: likelihood-ratio tests against a lognormal and an exponential tail
# ([CSN2009] Sec. 5), "tail too short" when too few eigenvalues make any test powerless;
# "no better alternative" when no tested law beats the power law (whether the power law
# itself fits is the CSN bootstrap's question: `--bootstrap 100` turns the verdict into
# "power law plausible" or "power law ruled out"). Only where the tail is a power law does
# alpha carry the HTSR reading: 2 <= alpha <= 6 a
# well-trained layer, alpha > 6 under-trained, alpha < 2 over-trained ([MH2025] Sec. 2.1,
# Table 1), which the column `warning` states. The whole table, with every column defined, is
# in the HTML report:

# %%
report = write_analysis_report(out / "block0.html", res)
print("report:", report)

# %% [markdown]
# ## Your own arrays
#
# Any `.npz` of 2-D arrays (or a dict of numpy arrays, a torch `state_dict`, an `nn.Module`)
# works the same way. A random Gaussian layer has no heavy tail: its alpha is large and the
# verdict says "not heavy-tailed"; a layer with Student-t entries has a power-law tail.

# %%
rng = np.random.default_rng(0)
npz = out / "mine.npz"
np.savez(npz, gaussian=rng.standard_normal((500, 200)), student_t=rng.standard_t(2.5, (500, 200)))
mine = analyze(npz)
for m in mine.layers:
    print(f"{m.name:10s} alpha = {m.alpha:5.2f}  verdict: {layer_verdict(m.to_dict())[0]}")
by = {m.name: m for m in mine.layers}
assert by["student_t"].alpha < by["gaussian"].alpha
assert layer_verdict(by["gaussian"].to_dict())[0] not in ("power law plausible",
                                                          "no better alternative")

# %% [markdown]
# ## A model id from the local Hugging Face cache (command line)
#
# `setol analyze ORG/NAME[@REVISION]` reads a model from the local Hugging Face cache
# (`HF_HUB_CACHE`, or `HF_HOME/hub`; needs `pip install 'setol[hf]'`) without any download
# unless `--download` is given. To run offline here, a cache is laid out by hand in the
# huggingface_hub layout (`models--ORG--NAME/snapshots/<commit>/`, `refs/main`), with the
# packaged weights linked in; the numbers equal those of the file analysed above.

# %%
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

if importlib.util.find_spec("huggingface_hub") is None:
    print("huggingface_hub is not installed (pip install 'setol[hf]'): section skipped")
else:
    cache = out / "hf-cache"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--my-org--minilm"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    if not (snap / "model.safetensors").exists():
        (snap / "model.safetensors").symlink_to(path)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    cmd = [sys.executable, "-m", "setol_theory.cli", "analyze", "my-org/minilm", "--quiet",
           "--layers", block0[0], "--json", str(out / "hub.json")]
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_CACHE": str(cache)})
    rec = json.loads((out / "hub.json").read_text())["layers"][0]
    print("setol analyze my-org/minilm:", rec["name"], "alpha =", round(rec["alpha"], 4))
    same = next(m for m in res.layers if m.name == rec["name"])
    assert abs(rec["alpha"] - same.alpha) < 1e-9

# %% [markdown]
# ## Eigenvalues only: an ESD file
#
# When only the eigenvalues are at hand (saved by another tool, or too large to ship the
# weights), `analyze_esd` (`setol analyze --esd FILE`) runs the same fit, verdict and quality
# on them. An `.npz` keyed by layer name holds one ESD per layer; `N` (the larger dimension)
# is needed for Q and the Marchenko–Pastur bulk, and `scale` says whether the numbers are
# eigenvalues of `WᵀW` (WeightWatcher's) or of `X = WᵀW/N`.

# %%
from setol_theory.pipeline import analyze_esd  # noqa: E402

arrays = np.load(npz)
esd_file = out / "esd.npz"
np.savez(esd_file, **{k: np.linalg.eigvalsh(v.T @ v) for k, v in arrays.items()})  # of WᵀW
from_esd = analyze_esd(esd_file, N=500, scale="WtW", keep_evals=True)
for m in from_esd.layers:
    print(f"{m.name:10s} alpha from the ESD = {m.alpha:5.2f} (from the weights: "
          f"{by[m.name].alpha:5.2f})")
    assert abs(m.alpha - by[m.name].alpha) < 1e-6 * by[m.name].alpha
print("report:", write_analysis_report(out / "esd.html", from_esd))
