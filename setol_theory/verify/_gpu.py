"""CPU-vs-GPU agreement checks and large random-matrix checks on a device (``setol verify --gpu``).

The eigenvalues of the same matrices are computed on the CPU (numpy, float64) and on the chosen
torch device; the derived HTSR quantities (alpha, detX edge, ERG) must agree within the
float32/float64 error bound of :func:`setol_theory.linalg.eigenvalue_error_bound`.  Large
Gaussian matrices check the Tracy-Widom window of the top eigenvalue and linear spectral
statistics against the Marchenko-Pastur law.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import rmt as free
from ..fit import fit_powerlaw, tracy_widom_scale
from ..htsr import detx_lambda_min, erg_residual, positive_evals
from ..io import default_model_path, iter_layers
from ..linalg import (
    NUMPY,
    Backend,
    DeviceError,
    batched_eigenvalues,
    eigenvalue_error_bound,
    resolve_backend,
)
from ..rmt import InverseMarchenkoPastur, MarchenkoPastur
from ._checks import Check
from ._models import _rel_err, _z_grid

Array = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# CPU vs device agreement
# --------------------------------------------------------------------------------------------


def _check(model: str, check: str, error: float, tol: float, note: str = "") -> Any:

    ok = bool(np.isfinite(error) and error <= tol)
    return Check(model, check, float(error), float(tol), ok, note)


@dataclass(frozen=True)
class _Derived:
    """Metrics of one spectrum that the agreement checks compare."""

    alpha: float
    xmin: float
    num_tail: int
    D: float
    detx_lambda_min: float
    num_ecs: int
    detx_residual: float
    erg: float
    fit_ok: bool


def _derived(ev: Array, min_tail: int) -> _Derived:

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_powerlaw(positive_evals(ev), min_tail=min_tail)
    d = detx_lambda_min(ev)
    ok = fit.status == "ok"
    return _Derived(
        alpha=float(fit.alpha), xmin=float(fit.xmin), num_tail=int(fit.n_tail) if ok else 0,
        D=float(fit.D), detx_lambda_min=d.lambda_min, num_ecs=d.num_ecs,
        detx_residual=d.residual, erg=erg_residual(ev, fit.xmin) if ok else math.nan,
        fit_ok=ok,
    )


@dataclass(frozen=True)
class Agreement:
    """Comparison of one layer's spectrum on two backends, with the derived tolerances.

    ``ratio[q] = error[q] / tol[q]`` for q in eigenvalues, alpha, xmin, detx_lambda_min,
    erg; ``<= 1`` passes. ``note[q]`` explains a discrete change accepted as a near-tie.
    """

    name: str
    N: int
    M: int
    error: dict[str, float] = field(default_factory=dict)
    tol: dict[str, float] = field(default_factory=dict)
    note: dict[str, str] = field(default_factory=dict)

    @property
    def ratio(self) -> dict[str, float]:
        return {k: (self.error[k] / self.tol[k] if self.tol[k] > 0 else
                    (0.0 if self.error[k] == 0 else math.inf)) for k in self.error}

    @property
    def ok(self) -> bool:
        return all(r <= 1.0 for r in self.ratio.values())


def compare_spectra(
    ref: Array, test: Array, N: int, M: int, *, name: str = "W",
    precision: str = "float64", ref_precision: str = "float64", min_tail: int = 10,
) -> Agreement:
    """Compare two computations of one spectrum and the metrics derived from it.

    Tolerances (``docs/scale.md``), with ``E = E_ref + E_test`` the sum of the
    :func:`eigenvalue_error_bound` of the two computations:

    * eigenvalues: ``max |lambda_ref - lambda_test| <= E``;
    * alpha: with the same ``xmin`` index, every tail eigenvalue moves by a relative
      ``delta <= E / xmin`` and ``alpha - 1 = n / sum ln(lambda_i / xmin)`` by at most
      ``2 (alpha - 1)^2 delta``;
    * xmin: the same eigenvalue index (equal tail size), value within ``E``. A different
      index is accepted only as a near-tie of the KS scan: the reference KS distance at the
      test's ``xmin`` is within ``4 n delta`` (each of the ``n`` tail terms of the CDF moves
      by ``<= (alpha - 1) delta + |d alpha| ln(lambda_max / xmin)``, bounded crudely) of the
      minimum; then alpha is compared with the reference fit at that ``xmin``;
    * detX lambda_min: the same index of the first negative partial sum ``S_k`` of
      ``ln lambda`` (rescaled to ``sum lambda = M``), value within ``E``; a different index
      only if ``|S_k|`` at the reference index is within the perturbation
      ``k E / lambda_min + k M E / sum lambda`` of zero;
    * ERG residual at xmin (``sum_{lambda >= xmin} ln lambda``, same scale): within
      ``n (E / xmin + M E / sum lambda)``.
    """
    ref = np.sort(np.asarray(ref, dtype=np.float64))
    test = np.sort(np.asarray(test, dtype=np.float64))
    lmax, tr = float(ref[-1]), float(ref.sum())
    E = (eigenvalue_error_bound(N, M, lmax, tr, ref_precision)
         + eigenvalue_error_bound(N, M, lmax, tr, precision))
    a, b = _derived(ref, min_tail), _derived(test, min_tail)
    err: dict[str, float] = {}
    tol: dict[str, float] = {}
    note: dict[str, str] = {}
    err["eigenvalues"] = float(np.max(np.abs(ref - test)))
    tol["eigenvalues"] = E
    # power-law tail
    if a.fit_ok and b.fit_ok:
        delta = E / a.xmin
        n = a.num_tail
        if a.num_tail == b.num_tail:
            err["xmin"], tol["xmin"] = abs(a.xmin - b.xmin), E
            err["alpha"] = abs(a.alpha - b.alpha)
            tol["alpha"] = 2.0 * (a.alpha - 1.0) ** 2 * delta
        else:

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                at = fit_powerlaw(ref[ref > 0], xmin=b.xmin, min_tail=2)
            err["xmin"], tol["xmin"] = abs(float(at.D) - a.D), 4.0 * n * delta
            note["xmin"] = (f"KS near-tie: n_tail {a.num_tail} vs {b.num_tail}, "
                            f"D {a.D:.3g} vs {float(at.D):.3g}")
            err["alpha"] = abs(float(at.alpha) - b.alpha)
            tol["alpha"] = 2.0 * (float(at.alpha) - 1.0) ** 2 * E / b.xmin
        err["erg"] = abs(a.erg - b.erg) if a.num_tail == b.num_tail else 0.0
        tol["erg"] = n * (E / a.xmin + M * E / tr)
    elif a.fit_ok != b.fit_ok:
        err["alpha"], tol["alpha"] = math.inf, 0.0
        note["alpha"] = "the power-law fit succeeded on one side only"
    # detX edge
    k = a.num_ecs
    if a.num_ecs == b.num_ecs:
        err["detx_lambda_min"], tol["detx_lambda_min"] = (
            abs(a.detx_lambda_min - b.detx_lambda_min), E)
    else:
        lam_min = max(min(a.detx_lambda_min, b.detx_lambda_min), np.finfo(float).tiny)
        err["detx_lambda_min"] = abs(a.detx_residual)
        tol["detx_lambda_min"] = k * E / lam_min + k * M * E / tr
        note["detx_lambda_min"] = f"detX near-tie: M_ECS {a.num_ecs} vs {b.num_ecs}"
    return Agreement(name, N, M, err, tol, note)


def _test_matrices(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    N, M = 2000, 500
    pareto = rng.pareto(1.5, size=(N, M)) * rng.choice([-1.0, 1.0], size=(N, M))
    return {
        "gaussian 2000x500": rng.standard_normal((N, M)),
        "pareto mu=1.5 2000x500": pareto,
        "student-t nu=3 1000x1000": rng.standard_t(3, size=(1000, 1000)),
        "gaussian wide 300x1200 float32": rng.standard_normal((300, 1200)).astype(np.float32),
    }


def agreement_checks(
    device: str | Backend = "cuda",
    *,
    matrices: Mapping[str, Any] | None = None,
    model: bool | str = True,
    precision: str = "float64",
    seed: int = 0,
    min_tail: int = 10,
) -> list[Any]:
    """CPU (numpy, float64) vs ``device``: eigenvalues, alpha, xmin, detX lambda_min, ERG.

    Parameters
    ----------
    device : str or Backend
        The backend under test (``"cuda"``; ``"torch-cpu"`` runs the same code path on the
        CPU).
    matrices : mapping name -> matrix, optional
        Default: Gaussian 2000 x 500, Pareto (``mu = 1.5``, heavy-tailed) 2000 x 500,
        Student-t (``nu = 3``) 1000 x 1000, and a wide float32 Gaussian 300 x 1200.
    model : bool or path
        Also compare every layer of the default real model (``True``, skipped with a note
        when it is not installed) or of the model at this path.
    precision : {"float64", "float32"}
        Precision on the device (the tolerances follow from it).
    seed : int
        Seed of the default matrices.

    Returns
    -------
    list of setol_theory.verify.Check
        For each matrix and quantity (one row per quantity for the model, its worst layer):
        the error, the tolerance of :func:`compare_spectra`, pass/fail.
    """
    b = resolve_backend(device, precision=precision)
    rows: list[Any] = []
    mats = dict(matrices) if matrices is not None else _test_matrices(seed)
    names = list(mats)
    ref = batched_eigenvalues(mats.values(), NUMPY, names=names)
    test = batched_eigenvalues(mats.values(), b, names=names)
    for name, r, t in zip(names, ref, test, strict=True):
        W = mats[name]
        N, M = max(np.shape(W)), min(np.shape(W))
        if isinstance(r, Exception) or isinstance(t, Exception):
            bad = r if isinstance(r, Exception) else t
            rows.append(_check(name, "eigenvalues", math.inf, 0.0, f"error: {bad}"))
            continue
        ag = compare_spectra(r.evals, t.evals, N, M, name=name, precision=b.precision,
                             min_tail=min_tail)
        for q in ag.error:
            rows.append(_check(name, f"{b.label} vs numpy: {q}", ag.error[q], ag.tol[q],
                               ag.note.get(q, "")))
    if model:
        rows.extend(_model_agreement(b, model, min_tail))
    return rows


def _model_agreement(b: Backend, model: bool | str, min_tail: int) -> list[Any]:

    if model is True:
        try:
            path = default_model_path()
        except FileNotFoundError as exc:
            return [_check("default model", "agreement", 0.0, 0.0, f"skipped: {exc}")]
    else:
        path = model
    layers = [lay for lay in iter_layers(path) if lay.W is not None and lay.M >= 10]
    names = [lay.name for lay in layers]
    ref = batched_eigenvalues((lay.W for lay in layers), NUMPY, names=names)
    test = batched_eigenvalues((lay.W for lay in layers), b, names=names)
    worst: dict[str, tuple[float, Agreement]] = {}
    for lay, r, t in zip(layers, ref, test, strict=True):
        if isinstance(r, Exception) or isinstance(t, Exception):
            continue
        ag = compare_spectra(r.evals, t.evals, lay.N, lay.M, name=lay.name,
                             precision=b.precision, min_tail=min_tail)
        for q, ratio in ag.ratio.items():
            if q not in worst or ratio > worst[q][0]:
                worst[q] = (ratio, ag)
    label = f"model ({len(layers)} layers)"
    rows = []
    for q, (ratio, ag) in worst.items():
        rows.append(_check(label, f"{b.label} vs numpy: {q} (worst layer)", ag.error[q],
                           ag.tol[q], f"{ag.name}: error/tol = {ratio:.2g}"
                           + (f"; {ag.note[q]}" if q in ag.note else "")))
    return rows


# --------------------------------------------------------------------------------------------
# Random-matrix sanity on the device
# --------------------------------------------------------------------------------------------

#: Tracy-Widom (beta = 1) window used for an extreme eigenvalue: P(TW_1 < -7) ~ 1e-6 and
#: P(TW_1 > 6) ~ 6e-5 (left tail ~ exp(-|s|^3 / 24), right tail ~ exp(-2 s^{3/2} / 3)).
TW_WINDOW = (-7.0, 6.0)


#: Linear spectral statistics of an M x M Wishart matrix fluctuate by O(1) in the sum, so
#: their averages by O(1/M), and their finite-size bias is O(1/M) too (Bai & Silverstein,
#: Ann. Probab. 32, 553 (2004)); the constant is the one of ``setol verify`` (MC_CONSTANT).
LSS_CONSTANT = 5.0


def _lower_edge_scale(sigma2: float, N: int, M: int) -> float:
    """TW scale of the smallest eigenvalue of ``W^T W / N`` (soft edge, ``M < N``).

    Ma, Bernoulli 18, 322 (2012); Feldheim & Sodin, GAFA 20, 88 (2010):
    ``lambda_min ~ mu_- - s_- TW_1`` with ``s_- = (sqrt N - sqrt M)(1/sqrt M - 1/sqrt N)^{1/3}``
    (times ``sigma2 / N``).
    """
    sN, sM = math.sqrt(N), math.sqrt(M)
    return sigma2 * (sN - sM) * (1.0 / sM - 1.0 / sN) ** (1.0 / 3.0) / N


def _lss_checks(label: str, ev: np.ndarray, law: Any, M_eff: int, kmax: int = 4) -> list[Any]:
    """The Monte Carlo checks of ``setol verify`` on one sampled spectrum: the empirical
    Stieltjes transform on verify's grid (distances 0.2 and 0.5 of the support width) with
    verify's error measure, and the free cumulants 1..kmax from the moments."""

    z = _z_grid(law)
    rows = [_check(label, f"Stieltjes transform vs {type(law).__name__}",
                   _rel_err(free.stieltjes_samples(ev, z), law.stieltjes(z)),
                   LSS_CONSTANT / M_eff, f"tol = {LSS_CONSTANT:g}/M, as setol verify")]
    m = np.array([np.mean(ev**k) for k in range(1, kmax + 1)])
    kap = np.asarray(free.moments_to_free_cumulants(m), dtype=float)
    ref = np.asarray(law.free_cumulants(kmax), dtype=float)
    mom = np.array([law.moment(k) for k in range(1, kmax + 1)])
    # a cumulant of order k is a polynomial in m_1..m_k with O(1) coefficients: its
    # fluctuation is that of the moments, ~ k m_k / M
    err = np.abs(kap - ref) / (np.arange(1, kmax + 1) * mom)
    rows.append(_check(label, f"free cumulants 1..{kmax} (max |d kappa_k| / (k m_k))",
                       float(np.max(err)), LSS_CONSTANT / M_eff, f"tol = {LSS_CONSTANT:g}/M"))
    return rows


def rmt_checks(
    device: str | Backend = "cuda",
    *,
    n: int = 8192,
    batch: int = 64,
    batch_m: int = 1024,
    seed: int = 0,
) -> list[Any]:
    """Random-matrix sanity of the eigensolver on a device, at sizes a CPU reaches slowly.

    * One Gaussian ``4n x n`` matrix (``Q = 4``, ``sigma2 = 1``), generated on the device:
      the largest and smallest eigenvalues of ``X = W^T W / N`` within the Tracy-Widom
      window :data:`TW_WINDOW` of the Marchenko-Pastur edges (scales of Johnstone 2001 and
      Ma 2012); the empirical Stieltjes transform and the free cumulants 1..4 against the MP
      law; the same for the inverse-MP spectrum ``(1 - q) / lambda`` (the IMP checks of
      ``setol verify``, ``kappa = (Q - 1)/2``), tolerance ``5 / M``.
    * ``batch`` Gaussian ``4 batch_m x batch_m`` matrices solved in one batched eigvalsh:
      each largest eigenvalue in its TW window, the pooled Stieltjes transform vs MP, and
      the batched result equal to the one-by-one result (within :func:`eigenvalue_error_bound`).

    Sizes default to the GPU ones (``n = 8192``, 64 x 1024); the CPU tests use small ones.
    """

    b = resolve_backend(device)
    if b.kind != "torch":
        raise DeviceError("rmt_checks needs a torch backend ('cuda' or 'torch-cpu')")
    import torch

    dt = torch.float64 if b.precision == "float64" else torch.float32
    gen = torch.Generator(device=b.device).manual_seed(seed)
    rows: list[Any] = []
    N, M = 4 * n, n
    W = torch.randn(N, M, generator=gen, device=b.device, dtype=dt)
    (sp,) = batched_eigenvalues([W], b)
    del W
    if isinstance(sp, Exception):
        raise sp
    ev = sp.evals
    mp = MarchenkoPastur(M / N, 1.0)
    label = f"MP {N}x{M} on {b.label}"
    s_hi, s_lo = tracy_widom_scale(1.0, N, M), _lower_edge_scale(1.0, N, M)
    lo, hi = TW_WINDOW
    z_hi = (ev[-1] - mp.lambda_plus) / s_hi
    z_lo = (mp.lambda_minus - ev[0]) / s_lo
    rows.append(_check(label, "lambda_max - lambda_+ in TW units", abs(z_hi),
                       hi if z_hi > 0 else -lo, f"{z_hi:+.2f} (window {lo:g}..{hi:g})"))
    rows.append(_check(label, "lambda_- - lambda_min in TW units", abs(z_lo),
                       hi if z_lo > 0 else -lo, f"{z_lo:+.2f} (window {lo:g}..{hi:g})"))
    rows.extend(_lss_checks(label, ev, mp, M))
    imp = InverseMarchenkoPastur.from_Q(N / M)
    rows.extend(_lss_checks(f"IMP Q={N / M:g} {N}x{M} on {b.label}",
                            np.sort((1.0 - mp.q) / ev), imp, M, kmax=3))
    # batched
    Nb, Mb = 4 * batch_m, batch_m
    Ws = torch.randn(batch, Nb, Mb, generator=gen, device=b.device, dtype=dt)
    spectra = batched_eigenvalues(list(Ws), b, batch_bytes=batch * Mb * Mb * 8 + 1)
    single = batched_eigenvalues([Ws[0]], b)[0]
    del Ws
    evs = np.stack([s.evals for s in spectra if not isinstance(s, Exception)])
    label = f"MP batch {batch}x({Nb}x{Mb}) on {b.label}"
    mpb = MarchenkoPastur(Mb / Nb, 1.0)
    sb = tracy_widom_scale(1.0, Nb, Mb)
    zb = (evs[:, -1] - mpb.lambda_plus) / sb
    worst = float(zb[np.argmax(np.abs(zb))])
    rows.append(_check(label, "max |lambda_max - lambda_+| in TW units", abs(worst),
                       hi if worst > 0 else -lo, f"worst {worst:+.2f} of {len(evs)}"))
    rows.extend(_lss_checks(label, evs.ravel(), mpb, Mb))
    if not isinstance(single, Exception):
        e = eigenvalue_error_bound(Nb, Mb, float(evs[0, -1]), float(evs[0].sum()), b.precision)
        rows.append(_check(label, "batched vs one-by-one eigenvalues",
                           float(np.max(np.abs(single.evals - evs[0]))), 2 * e))
    return rows


def gpu_checks(
    device: str | Backend = "cuda",
    *,
    large: bool = True,
    model: bool | str = True,
    seed: int = 0,
) -> list[Any]:
    """Everything ``setol verify --gpu`` runs: agreement and random-matrix sanity on a device.

    * :func:`agreement_checks` in float64 (random, heavy-tailed, default model);
    * :func:`agreement_checks` of the float32 fast path against the float64 CPU result,
      with the float32 error bound (random and heavy-tailed matrices);
    * :func:`rmt_checks` at ``n = 8192`` and a batch of 64 x 1024 (``large=True``) or at
      ``n = 512`` and 8 x 128 (``large=False``, seconds on a CPU).

    Returns the rows as :class:`setol_theory.verify.Check`; ``device="cuda"`` raises
    :class:`DeviceError` on a machine without CUDA.
    """
    b = resolve_backend(device)
    b32 = Backend(b.kind, b.device, "float32", b.memory_limit, b.requested, b.note)
    rows = agreement_checks(b, model=model, seed=seed)
    rows += agreement_checks(b32, model=False, seed=seed)
    if large:
        rows += rmt_checks(b, n=8192, batch=64, batch_m=1024, seed=seed)
    else:
        rows += rmt_checks(b, n=512, batch=8, batch_m=128, seed=seed)
    return rows

