# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---
# %% [markdown]
# # SETOL quality of a given ESD, and the model-derived quality curves
#
# The SETOL layer quality ([MH2025] Sec. 5.2–5.4) needs only a layer's eigenvalues:
#
# 1. the effective correlation space (ECS): the eigenvalues above `lambda_min`, chosen by the
#    power-law `xmin` or by the TraceLog/detX condition `sum_ECS ln lambda = 0` (Sec. 6.3);
# 2. for each spectral model, `G(lambda_i) = ∫ Re R` from `lambda_min` to `lambda_i`, and
#    `Q² = sum_ECS G(lambda_i)`; the report gives `log10 Q`.
#
# Here the ESD is an array (say, eigenvalues saved from another tool); the same works on any
# eigenvalues `setol analyze` keeps. About ten seconds.

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

from setol_theory.fit import fit_powerlaw
from setol_theory.quality import MODELS, layer_quality, quality_curve
from setol_theory.report import plot_quality_curve

out = Path(os.environ.get("SETOL_TUTORIAL_OUT") or tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## One ESD
#
# A heavy-tailed ESD: the eigenvalues of `WᵀW/N` for a 600 x 300 matrix with Student-t
# entries (2.2 degrees of freedom). Its power-law fit gives alpha; the detX rule the ECS.

# %%
rng = np.random.default_rng(0)
W = rng.standard_t(2.2, size=(600, 300))
evals = np.linalg.eigvalsh(W.T @ W / 600)
fit = fit_powerlaw(evals[evals > 0])
print(f"alpha = {fit.alpha:.2f}, xmin = {fit.xmin:.3g}, tail of {fit.n_tail} eigenvalues")

lq = layer_quality(evals, ecs="detx", models=("bs", "imp", "tpl", "emp"), alpha=fit.alpha,
                   xmin=fit.xmin)
e = lq.ecs
print(f"ECS: {e.num_ecs} eigenvalues above lambda_min = {e.lambda_min:.3g} "
      f"(detX edge; PL xmin = {e.xmin:.3g}, Delta lambda_min = {e.delta_lambda_min:.3g})")
for name, mq in lq.models.items():
    value = f"{mq.log10_q:.3f}" if mq.log10_q is not None else f"n/a ({mq.reason})"
    print(f"  {name:4s} log10 Q = {value:10s}  {MODELS[name][0]}")
assert lq.models["bs"].log10_q is not None

# %% [markdown]
# `bs` (Bulk+Spikes) is the simplest model: its quality is the trace of the ECS, `Q = Tr X_ECS`
# (the model table above). An independent check is the trace itself on the quality scale
# (`sum(lambda) = M`).

# %%
x = evals * (evals.size / evals.sum())                  # the sum(lambda) = M scale
ecs_vals = x[evals >= e.lambda_min]
print("log10 Tr X_ECS =", np.log10(ecs_vals.sum()), " bs:", lq.models["bs"].log10_q)
assert abs(np.log10(ecs_vals.sum()) - lq.models["bs"].log10_q) < 1e-9

# %% [markdown]
# ## Model-derived curves
#
# How does `log10 Q` move with alpha for spectra whose shape is known? `quality_curve` draws
# synthetic inverse-Marchenko–Pastur spectra (kappa = alpha/2, [MH2025] Sec. 5.4.5), fits each
# one exactly as a real layer is fitted, and evaluates every model. `Delta lambda_min / xmin`
# changes sign near alpha = 2, where the ECS and the power-law tail coincide (Sec. 6.3).

# %%
curve = quality_curve("imp", np.geomspace(0.2, 6.0, 12), M=200, ecs="detx",
                      models=("bs", "imp", "tpl"))
ca = curve.critical_alpha()
print("Delta lambda_min / xmin changes sign at fitted alpha =", ca)
plot_quality_curve(curve, out / "quality_curve_imp.png")
print("figure:", out / "quality_curve_imp.png")
assert ca is not None and 1.5 < ca < 2.5
