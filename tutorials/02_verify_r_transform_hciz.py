# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---
# %% [markdown]
# # Check an R-transform and an HCIZ integral numerically
#
# SETOL's layer quality is built from the R-transform of the layer's spectral density and from
# the large-N limit of an HCIZ integral ([MH2025] Sec. 5.2–5.4). Both can be checked on a
# computer. Runs in about ten seconds.

# %%
import numpy as np

from setol_theory.rmt import (
    MarchenkoPastur,
    log_spherical_integral_exact,
    spherical_integral_asymptotic,
    spherical_integral_mc,
)

# %% [markdown]
# ## The Marchenko–Pastur R-transform
#
# For the MP law of `X = WᵀW/N` with `q = M/N` and entry variance σ², the R-transform is
# `R(w) = σ² / (1 - q σ² w)` ([MP1967]; [PB2020] ch. 10); the library evaluates this closed
# form. Two checks that do not use it: the
# defining identity `G(R(w) + 1/w) = w`, with `G` the Stieltjes transform computed by the
# library, and `G` itself against the eigenvalues of a sampled Wishart matrix.

# %%
q, s2 = 0.5, 1.0
mp = MarchenkoPastur(q, s2)
w = np.linspace(0.05, 0.6, 12)
R = mp.r_transform(w)
closed = s2 / (1 - q * s2 * w)
print("max |R - closed form| =", np.max(np.abs(R - closed)))
assert np.allclose(R, closed, rtol=1e-10)
z = R + 1 / w
print("max |G(R(w) + 1/w) - w| =", np.max(np.abs(mp.stieltjes(z) - w)))
assert np.allclose(mp.stieltjes(z), w, rtol=1e-8)

# %%
rng = np.random.default_rng(1)
N, M = 4000, 2000
W = rng.standard_normal((N, M))
ev = np.linalg.eigvalsh(W.T @ W / N)
zs = np.array([3.5, 4.0, 5.0])                    # outside the support [0.086, 2.91]
G_emp = np.mean(1.0 / (zs[:, None] - ev[None, :]), axis=1)
print("G model    :", mp.stieltjes(zs))
print("G sampled  :", G_emp)
assert np.allclose(mp.stieltjes(zs), G_emp, atol=5e-3)   # finite-N error O(1/M)

# %% [markdown]
# ## A rank-one HCIZ integral and its Guionnet–Maïda limit
#
# `I_N(θ) = E_u exp(N θ <u, A u>)` over `u` uniform on the sphere. The library computes it
# exactly (a contour integral), by Monte Carlo, and in the large-N limit of Guionnet & Maïda
# ([GM2005] Theorem 6). Exact and Monte Carlo agree within the Monte Carlo error at small N;
# `(1/N) log I_N` approaches the limit as N grows (docs/hciz.md).

# %%
theta, beta = 0.2, 1
for N in (8, 32, 128):
    a = mp.ppf((np.arange(N) + 0.5) / N)            # a spectrum of size N following MP
    exact = log_spherical_integral_exact(a, N * theta, beta=beta) / N
    limit = spherical_integral_asymptotic(theta, mp, beta=beta)
    line = f"N = {N:4d}: (1/N) log I_N = {exact:.5f}, limit = {limit:.5f}"
    if N == 8:
        mc = spherical_integral_mc(a, N * theta, beta=beta, n_samples=200_000, rng=2)
        mc_log, mc_se = mc.log_mean / N, mc.log_stderr / N
        line += f", Monte Carlo {mc_log:.5f} +/- {mc_se:.5f}"
        assert abs(mc_log - exact) < 5 * mc_se
    print(line)
assert abs(exact - limit) < 0.01
