# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---
# %% [markdown]
# # A teacher–student learning curve against theory
#
# The statistical mechanics of learning that SETOL builds on ([MH2025] Sec. 4; [EVdB2001]
# ch. 2–4) predicts the generalization error `eps_g` of a student perceptron sampled from the
# Gibbs distribution at temperature T after learning `P = load · N` examples labelled by a
# teacher. `setol_theory.statmech` computes the replica-symmetric curve; `simulations.perceptron`
# samples students by Monte Carlo. At CI size (N = 100, 8 data sets, three loads) this takes
# about half a minute; `setol simulate` runs the same at any size (docs/simulations.md).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

from setol_theory.statmech import gibbs_learning_curve
from simulations.perceptron import simulate_point

out = Path(os.environ.get("SETOL_TUTORIAL_OUT") or tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)
T, N = 1.0, 100
loads = np.array([0.5, 1.0, 2.0])
theory = gibbs_learning_curve(loads, T)

# %% [markdown]
# ## Equilibration
#
# Each data set runs two Markov chains: one started from the teacher, one from a random
# student annealed from a high temperature. In equilibrium both give the same overlap `R` with
# the teacher. `simulate_point` extends the run by itself until the two starts agree within two
# standard errors *and* the measurement window covers at least 50 integrated autocorrelation
# times `tau` [Sok1997], or until its budget (`max_sweeps`) is spent; `equilibrated` says which.
# Autocorrelation grows with the load (`tau` is printed for each point), so larger loads and
# larger N need longer runs. A point that did not equilibrate is reported, not hidden: run it
# with a larger budget.

# %%
rows = []
for load in loads:
    p = simulate_point(N, float(load), T, n_samples=8, n_sweeps=1000, max_sweeps=8000,
                       seed=1)
    rows.append(p)
    print(f"load {load:4.1f}: eps_g = {p.eps_g:.4f} +/- {p.eps_g_se:.4f}   start gap "
          f"{p.start_gap:+.4f} +/- {p.start_gap_se:.4f}   tau = {max(p.tau_R, p.tau_E):5.1f} "
          f"sweeps, measured {p.n_sweeps - p.n_burn}   equilibrated: {p.equilibrated}")
assert all(p.equilibrated for p in rows)
print("theory (N -> infinity):", np.round(theory.eps_g, 4))

# %% [markdown]
# The simulation is at finite N: its difference to the N → ∞ theory is of order 1/N on top of
# the statistical error (docs/simulations.md, "Spherical student", extrapolates in 1/N).

# %%
sim = np.array([p.eps_g for p in rows])
se = np.array([p.eps_g_se for p in rows])
print("(simulation - theory) / standard error:", np.round((sim - theory.eps_g) / se, 2))
assert np.all(np.abs(sim - theory.eps_g) < 4 * se + 2.0 / N)
assert np.all(np.diff(sim) < 0)  # more examples, fewer errors

# %%
from setol_theory.report import pyplot  # noqa: E402
from setol_theory.report._style import LINES, legend_below, style_axes  # noqa: E402

plt = pyplot()
fig, ax = plt.subplots(figsize=(5.5, 4.6))
grid = np.linspace(0.25, 3, 30)
ax.plot(grid, gibbs_learning_curve(grid, T).eps_g, **LINES["curve"],
        label="replica-symmetric theory, N → ∞")
ax.errorbar(loads, sim, yerr=se, fmt="o", color="black", mfc="none", capsize=3,
            label=f"Monte Carlo, N = {N} (± 1 s.e.)")
style_axes(ax, xlabel="load P/N", ylabel="generalization error eps_g",
           title=f"Gibbs learning, spherical perceptron, T = {T:g}")
legend_below(ax, ncol=1)
fig.tight_layout()
fig.savefig(out / "teacher_student.png", dpi=100)
print("figure:", out / "teacher_student.png")
