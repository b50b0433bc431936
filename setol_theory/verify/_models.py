"""``setol verify``: the spectral models checked three ways, with a pass/fail table.

For every model of :mod:`setol_theory.rmt`:

* **sympy**: the library's closed forms (``G``, ``R``, integrated ``R``) against the
  expressions derived in :mod:`derivations`, at complex test points, to ``1e-12`` relative
  (both are closed forms in double precision: a few hundred ulps);
* **identities**: ``G(R(w) + 1/w) = w`` on the analytic domain of the real branch, and the
  moments -> free cumulants -> moments round trip (``1e-12``; ``1e-9`` where ``R`` is found by
  numerical inversion);
* **Monte Carlo**: the empirical Stieltjes transform of sampled spectra (and the ``R`` of the
  empirical spectrum, by numerical inversion) against the closed form on a grid off the real
  axis, for a ladder of sizes ``n/8 .. n``; the error is averaged over seeds, its decay rate in
  ``n`` is fitted, and it must match the theory: ``n^-1`` for matrix ensembles (eigenvalue
  rigidity: fluctuations of linear statistics are ``O(1/n)``, and so is the finite-size bias),
  ``n^-1/2`` for models sampled as i.i.d. eigenvalues (the central limit theorem).

The tolerances are stated in each row of the table (the slope: 3 standard errors of the
fit plus 0.1).  Plots: density vs. histogram of the
samples, and ``R`` on the real axis with the branch point / end of the real branch marked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import rmt as dens
from .. import rmt as free
from ..report import plot_hciz_convergence, plot_verify_model
from ..rmt import real_branch_domain
from ._checks import Check, VerifyReport
from ._hciz import verify_hciz

CArray = NDArray[np.complex128]


#: Closed form vs closed form (double precision, no cancellation at the chosen points).
TOL_IDENTITY = 1e-12


#: Where R comes from numerical inversion of G (root finder tolerance ~1e-14, times 1/G').
TOL_NUMERIC_INVERSION = 1e-9


#: Monte Carlo: error <= C * scale / n^rate at the largest n (C ~ 5: docs/spectral_models.md).
MC_CONSTANT = 5.0


#: Fitted slope must lie within 3 standard errors (of the fit over all seeds and sizes) plus
#: this margin (sub-leading finite-size corrections at the small sizes) of the theory.
SLOPE_MARGIN = 0.1


# --------------------------------------------------------------------------------------
# model registry
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """A model at default parameters and what can be checked for it."""

    name: str
    model: Any
    #: derivation module and result keys: {library method: derivation key}
    derivation: str | None
    symbols: dict[str, complex]
    sympy_keys: dict[str, str]
    #: sampler(n, rng) -> eigenvalues (about n of them); None when there is no ensemble
    sampler: Callable[[int, np.random.Generator], NDArray[np.float64]] | None = None
    #: expected decay exponent of the Monte Carlo error
    rate: float = 1.0
    has_moments: bool = True
    has_inversion: bool = True
    note: str = ""


def _mp_sampler(m: dens.MarchenkoPastur):
    return lambda n, rng: m.sample_eigenvalues(int(round(n / m.q)), rng)


def _imp_sampler(m: dens.InverseMarchenkoPastur):
    return lambda n, rng: m.sample_eigenvalues(int(round(n / m.q)), rng)


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model name (see :data:`MODELS`)."""
    if name == "mp":
        m = dens.MarchenkoPastur(q=0.5, sigma2=1.3)
        return ModelSpec(
            name, m, "mp_stieltjes_and_r", {"c": m.q, "sigma": math.sqrt(m.sigma2)},
            {"stieltjes": "G", "r_transform": "R", "integrated_r": "R_integrated"},
            sampler=_mp_sampler(m), rate=1.0,
        )
    if name == "imp":
        m = dens.InverseMarchenkoPastur.from_Q(4.0)  # kappa = 1.5
        return ModelSpec(
            name, m, "imp_r_transform", {"kappa": m.kappa},
            {"stieltjes": "G", "r_transform": "R", "integrated_r": "R_integrated"},
            sampler=_imp_sampler(m), rate=1.0,
        )
    if name == "wigner":
        m = dens.Wigner(sigma2=0.8)
        return ModelSpec(
            name, m, "semicircle_r", {"sigma": math.sqrt(m.sigma2)},
            {"stieltjes": "G", "r_transform": "R"},
            sampler=lambda n, rng: m.sample_eigenvalues(n, rng), rate=1.0,
        )
    if name == "free_cauchy":
        m = dens.FreeCauchy(a=0.5, gamma=0.7)
        return ModelSpec(
            name, m, "integrated_r", {"a": m.a, "gamma": m.gamma},
            {"stieltjes": "G_free_cauchy_stieltjes"},
            sampler=lambda n, rng: np.linalg.eigvalsh(m.sample_matrix(n, rng)), rate=0.5,
            has_moments=False, has_inversion=False,
            note="eigenvalues of O diag(Cauchy) O^T are i.i.d.: rate n^-1/2",
        )
    if name == "tpl":
        m = dens.TruncatedPowerLaw(alpha=2.0, lam_min=1.0, lam_max=20.0)
        return ModelSpec(
            name, m, "tpl_cumulants", {"a": m.lam_min, "b": m.lam_max},
            {"stieltjes": "G_alpha2"},
            sampler=lambda n, rng: m.sample_eigenvalues(n, rng), rate=0.5,
            note="i.i.d. draws by inverse CDF: rate n^-1/2",
        )
    if name == "levy":
        m = dens.LevyPowerLaw(a=0.3, b=0.8, alpha=1.5)
        return ModelSpec(
            name, m, "integrated_r", {"a": m.a, "b": m.b, "alpha": m.alpha},
            {"r_transform": "R_levy"}, has_moments=False, has_inversion=False,
            note="formal R-model: no density, no ensemble",
        )
    if name == "mw":
        m = dens.MultiplicativeWishart(eps=0.5, phi=1.2)
        return ModelSpec(
            name, m, "multiplicative_wishart_r", {"epsilon": m.eps, "phi": m.phi},
            {"r_transform": "R_paper", "integrated_r": "R_paper_integrated"},
            has_moments=False, has_inversion=False, note="paper Table 8 form; no density",
        )
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS[:-1])}")


#: Names accepted by :func:`verify` and ``setol verify --model`` ("hciz": the HCIZ checks).
MODELS = ("mp", "imp", "wigner", "free_cauchy", "tpl", "levy", "mw", "hciz")


# --------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------
@cache
def _derivation(module: str):
    return import_module(f"derivations.{module}").derive()


def _rel_err(a: CArray, b: CArray) -> float:
    a, b = np.asarray(a, dtype=complex), np.asarray(b, dtype=complex)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def _z_grid(m: Any) -> CArray:
    """Test points off the real axis around the support (upper half plane), at distances
    0.2 and 0.5 of the support width, where a linear statistic fluctuates by O(1/(n d))."""
    try:
        lo, hi = m.support()
    except NotImplementedError:
        lo, hi = -1.0, 1.0
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = -3.0, 3.0
    width = hi - lo
    x = np.linspace(lo - 0.25 * width, hi + 0.25 * width, 9)
    return np.concatenate([x + 0.5j * width, x + 0.2j * width])


def _w_grid(m: Any, spec: ModelSpec) -> CArray:
    """Real test points of ``R``: well inside the real branch (10%-60% of the way to its
    ends), where the empirical inversion is not disturbed by the fluctuating edge
    eigenvalues; complex points for models without a real branch."""
    if spec.has_inversion:
        w_lo, w_hi = real_branch_domain(m)
        frac = np.linspace(0.1, 0.6, 6)
        return np.concatenate([frac * w_hi, frac[:3] * max(w_lo, -w_hi)]).astype(complex)
    return np.array([0.1 + 0.05j, 0.3 + 0.2j, -0.2 + 0.1j, 0.4j, 0.25 + 0.0j])


def _check_sympy(spec: ModelSpec) -> list[Check]:
    import sympy as sp

    d = _derivation(spec.derivation)
    m = spec.model
    out = []
    for method, key in spec.sympy_keys.items():
        expr = d[key]
        syms = sorted(expr.free_symbols, key=str)
        free_names = [str(s) for s in syms]
        arg_name = next(n for n in free_names if n not in spec.symbols)
        f = sp.lambdify(syms, expr, modules="numpy")
        if method == "integrated_r":
            pts = np.real(_w_grid(m, spec))
            pts = pts[(pts != 0)]
            if isinstance(m, dens.InverseMarchenkoPastur):
                pts = pts[pts < 0.5 * m.kappa]  # the derived antiderivative: below the cut
            lib = m.integrated_r(pts, 0.0)
            args = [pts.astype(complex) if n == arg_name else spec.symbols[n]
                    for n in free_names]
            ref = np.real(f(*args))
        else:
            pts = _z_grid(m) if method == "stieltjes" else _w_grid(m, spec)
            pts = pts[pts.imag != 0] if method == "stieltjes" else pts
            lib = getattr(m, method)(pts)
            args = [pts if n == arg_name else spec.symbols[n] for n in free_names]
            ref = np.broadcast_to(np.asarray(f(*args), dtype=complex), pts.shape)
        err = _rel_err(lib, ref)
        out.append(Check(spec.name, f"sympy: {method} = {key}", err, TOL_IDENTITY,
                         err <= TOL_IDENTITY, f"derivations.{spec.derivation}"))
    return out


def _check_identities(spec: ModelSpec) -> list[Check]:
    m = spec.model
    out = []
    if spec.has_inversion:
        w = np.real(_w_grid(m, spec))
        w = w[w != 0]
        back = m.stieltjes(m.r_transform(w) + 1.0 / w)
        err = _rel_err(back, w)
        tol = TOL_NUMERIC_INVERSION if isinstance(m, dens.TruncatedPowerLaw) else TOL_IDENTITY
        out.append(Check(spec.name, "G(R(w) + 1/w) = w", err, tol, err <= tol,
                         "real branch, w in the inversion domain"))
    if spec.has_moments:
        k = 8
        mom = m.moments(k)
        kap = m.free_cumulants(k)
        back = free.free_cumulants_to_moments(kap)
        err = _rel_err(np.asarray(back, dtype=float), mom)
        out.append(Check(spec.name, "moments <-> free cumulants (k<=8)", err, TOL_IDENTITY,
                         err <= TOL_IDENTITY, "model cumulants -> moments"))
        kap2 = free.moments_to_free_cumulants(mom)
        err2 = _rel_err(np.asarray(kap2, dtype=float), np.asarray(kap, dtype=float))
        out.append(Check(spec.name, "moments -> free cumulants (k<=8)", err2, TOL_IDENTITY,
                         err2 <= TOL_IDENTITY, "vs the model's own cumulants"))
    if isinstance(m, dens.LevyPowerLaw | dens.MultiplicativeWishart):
        x = np.linspace(0.2, 0.6, 5)
        h = 1e-5
        deriv = (m.integrated_r(x + h) - m.integrated_r(x - h)) / (2 * h)
        err = _rel_err(deriv, np.real(m.r_transform(x)))
        out.append(Check(spec.name, "d/dx integrated_r = Re R", err, 1e-8, err <= 1e-8,
                         "central difference, h = 1e-5: error O(h^2)"))
    return out


def _fit_slope(sizes: Sequence[int], errs: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Least-squares slope of ``log err`` vs ``log n`` over every (size, seed) pair, and its
    standard error from the residual scatter."""
    x = np.concatenate([np.full(len(e), math.log(n)) for n, e in zip(sizes, errs, strict=True)])
    y = np.log(np.concatenate([np.asarray(e, dtype=float) for e in errs]))
    coef = np.polyfit(x, y, 1)
    slope = float(coef[0])
    resid = y - np.polyval(coef, x)
    sxx = float(np.sum((x - x.mean()) ** 2))
    se = float(math.sqrt(np.sum(resid**2) / max(len(x) - 2, 1) / sxx))
    return slope, se


def _check_monte_carlo(spec: ModelSpec, n: int, seeds: int, rng_seed: int,
                       samples_out: dict[str, Any]) -> tuple[list[Check], dict[str, Any]]:
    m = spec.model
    sizes = [max(16, n // 8), max(32, n // 4), max(64, n // 2), n]
    z = _z_grid(m)
    G_true = m.stieltjes(z)
    w = np.real(_w_grid(m, spec))
    w = w[(w > 0)] if spec.has_inversion else w
    R_true = np.real(m.r_transform(w)) if spec.has_inversion else None
    errG, errR, counts, allG, allR = [], [], [], [], []
    rng = np.random.default_rng(rng_seed)
    if spec.rate < 1.0:  # i.i.d. sampling is cheap and noisier: more seeds for a stable slope
        seeds = max(seeds, 16)
    last = None
    for size in sizes:
        eg, er = [], []
        for _ in range(seeds):
            ev = spec.sampler(size, rng)
            eg.append(_rel_err(free.stieltjes_samples(ev, z), G_true))
            if spec.has_inversion:
                R_emp = np.real(dens.EmpiricalSpectrum(ev).r_transform(w))
                er.append(_rel_err(R_emp, R_true))
            last = ev
        counts.append(len(last))
        allG.append(eg)
        if er:
            allR.append(er)
        errG.append(float(np.sqrt(np.mean(np.square(eg)))))  # RMS over seeds
        if er:
            errR.append(float(np.sqrt(np.mean(np.square(er)))))
    samples_out[spec.name] = last
    out = []
    conv: dict[str, Any] = {"sizes": counts, "err_G": errG, "rate": spec.rate}
    n_last = counts[-1]
    for label, errs, per_seed in (("G", errG, allG), ("R", errR, allR)):
        if not errs:
            continue
        slope, se = _fit_slope(counts, per_seed)
        conv[f"slope_{label}"] = slope
        conv[f"slope_se_{label}"] = se
        conv[f"err_{label}"] = errs
        tol = MC_CONSTANT / n_last**spec.rate
        out.append(Check(spec.name, f"MC {label} at n={n_last} (RMS, {seeds} seeds)", errs[-1], tol,
                         errs[-1] <= tol, f"tol = {MC_CONSTANT:g}/n^{spec.rate:g}"))
        margin = 3.0 * se + SLOPE_MARGIN
        ok = abs(slope + spec.rate) <= margin
        out.append(Check(spec.name, f"MC {label} error slope vs n", abs(slope + spec.rate),
                         margin, ok, f"slope {slope:+.2f} +- {se:.2f}, theory {-spec.rate:+.2f}"))
    return out, conv


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------
def verify(
    models: Sequence[str] | None = None,
    *,
    n: int = 1000,
    seeds: int = 4,
    seed: int = 0,
    sympy: bool = True,
    monte_carlo: bool = True,
    plot_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Run the checks for ``models`` (default: all of :data:`MODELS`).

    Parameters
    ----------
    models : sequence of str, optional
        Names from :data:`MODELS`.
    n : int
        Largest Monte Carlo size (number of eigenvalues); the ladder is ``n/8, n/4, n/2, n``.
    seeds : int
        Independent samples per size (errors are averaged over them).
    seed : int
        Seed of the random generator (results are reproducible).
    sympy, monte_carlo : bool
        Switch the derivation and Monte Carlo checks on or off.
    plot_dir : path, optional
        Write the figures there.
    progress : callable, optional
        Called with a short message before each model.
    """
    names = list(models) if models else list(MODELS)
    bad = [x for x in names if x not in MODELS]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; choose from {', '.join(MODELS)}")
    if n < 64:
        raise ValueError(f"n must be >= 64 for the size ladder n/8..n, got {n}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    report = VerifyReport()
    samples: dict[str, Any] = {}
    for i, name in enumerate(names):
        if progress:
            progress(f"[{i + 1}/{len(names)}] {name}")
        if name == "hciz":
            checks, conv = verify_hciz(seed)
            report.checks += checks
            report.hciz = conv
            continue
        spec = model_spec(name)
        if sympy and spec.derivation:
            report.checks += _check_sympy(spec)
        report.checks += _check_identities(spec)
        if monte_carlo and spec.sampler is not None:
            checks, conv = _check_monte_carlo(spec, n, seeds, seed + i, samples)
            report.checks += checks
            report.convergence[name] = conv
    if plot_dir is not None:

        out = Path(plot_dir)
        out.mkdir(parents=True, exist_ok=True)
        if report.hciz:

            plot_hciz_convergence(report.hciz, out / "verify_hciz.png")
        for name in names:
            if name == "hciz":
                continue
            spec = model_spec(name)
            plot_verify_model(spec.model, name, samples.get(name),
                              report.convergence.get(name), out / f"verify_{name}.png")
    return report

