"""Per-layer HTSR metrics of one ESD: :class:`LayerMetrics`, :func:`esd_metrics`,
:func:`analyze_matrix`.

Conventions (docs/glossary.md, docs/htsr.md): ``W`` is ``N x M`` with ``N >= M`` after
transposing; the ESD is the ``M`` eigenvalues of ``X = W^T W / N`` (``normalization="N"``) or
of ``W^T W`` (``normalization="none"``, WeightWatcher's scale).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._tensor import is_tensor
from ..fit import (
    MIN_SLICE_EVALS,
    MPFit,
    PowerLawBoundWarning,
    PowerLawFit,
    TailFit,
    fit_mp_bulk,
    fit_tail,
)
from ..linalg import correlation_eigenvalues, zero_threshold
from ._detx import DetXResult, detx_lambda_min
from ._traps import correlation_traps
from ._verdict import goodness_of_fit

Array = NDArray[np.float64]

_NAN = float("nan")


#: Alpha thresholds of the HTSR phenomenology (arXiv:2507.17912 Sec. 2.1, Table 1; docs/htsr.md).
ALPHA_OVERFIT = 2.0


ALPHA_UNDERTRAINED = 6.0


# --------------------------------------------------------------------------------------
# Per-layer metrics
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerMetrics:
    """HTSR metrics of one layer (one row of the ``setol analyze`` table).

    Every layer that was selected appears, analysed (``status == "ok"``) or not, with
    ``reason``: ``"skipped"`` (cannot be analysed: NaN/Inf, all zeros, integer dtype...) or
    ``"filtered"`` (outside the ``min_evals``/``max_evals`` limits).  Each field is defined,
    with its scale and source, in :data:`setol_theory.columns.COLUMNS` (docs/glossary.md):
    the published HTSR metrics (``alpha_weighted``, ``log_norm``, ``log_spectral_norm``,
    ``log_alpha_norm``) are on the eigenvalues of ``W^T W`` whatever ``normalization``; the
    eigenvalue-valued columns (``lambda_max``, ``xmin``, ``mp_*``, ``detx_lambda_min``...) are
    on the ESD's scale, ``normalization``.
    ``detx_lambda_min`` is the TraceLog/detX ECS edge (:func:`setol_theory.quality.
    detx_lambda_min`, rule ``first_below``, applied after rescaling to ``sum(lambda) = M``
    and reported on the ``normalization`` scale); ``delta_lambda_min = xmin -
    detx_lambda_min`` (arXiv:2507.17912 Eq. (164)). ``num_zero_evals`` eigenvalues are zero
    (below ``M eps lambda_max``); the MP fit and detX use the others. ``num_traps``,
    ``lambda_max_rand`` and ``threshold_rand`` are :class:`TrapResult`'s (NaN when the
    trap test was off).
    """

    name: str
    kind: str = ""
    status: str = "ok"
    reason: str = ""
    N: int = 0
    M: int = 0
    Q: float = _NAN
    num_evals: int = 0
    normalization: str = "N"
    lambda_max: float = _NAN
    alpha: float = _NAN
    alpha_weighted: float = _NAN
    xmin: float = _NAN
    alpha_sigma: float = _NAN
    alpha_ci_low: float = _NAN
    alpha_ci_high: float = _NAN
    D: float = _NAN
    num_tail: int = 0
    fit_status: str = ""
    fit_reason: str = ""
    fit_bound_hit: bool = False
    num_fingers: int = 0
    alpha_raw: float = _NAN
    tpl_alpha: float = _NAN
    tpl_alpha_sigma: float = _NAN
    tpl_lambda: float = _NAN
    tpl_D: float = _NAN
    lr_lognormal: float = _NAN
    lr_lognormal_p: float = _NAN
    lr_exponential: float = _NAN
    lr_exponential_p: float = _NAN
    lr_tpl: float = _NAN
    lr_tpl_p: float = _NAN
    pl_bootstrap_p: float = _NAN
    verdict: str = ""
    verdict_reason: str = ""
    log_norm: float = _NAN
    log_spectral_norm: float = _NAN
    log_alpha_norm: float = _NAN
    stable_rank: float = _NAN
    num_zero_evals: int = 0
    mp_sigma2: float = _NAN
    mp_lambda_plus: float = _NAN
    mp_softrank: float = _NAN
    num_spikes: float = _NAN
    mp_status: str = ""
    mp_reason: str = ""
    mp_ks_distance: float = _NAN
    detx_lambda_min: float = _NAN
    delta_lambda_min: float = _NAN
    num_ecs_detx: int = 0
    num_traps: float = _NAN
    lambda_max_rand: float = _NAN
    threshold_rand: float = _NAN
    warning: str = ""
    eig_device: str = ""
    eig_fallback: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """Plain record (NaN becomes ``None`` in :meth:`ModelAnalysis.to_json_dict`)."""
        return asdict(self)


def warning_label(alpha: float, fit_ok: bool) -> str:
    """HTSR verdict from alpha: ``"under-trained"`` (alpha > 6), ``"over-trained"`` (alpha < 2).

    A failed fit gives ``"no-fit"``; a layer in between gives ``""``.
    (WeightWatcher's labels; thresholds from arXiv:2507.17912 Sec. 2.1, Table 1, and
    docs/htsr.md, "Warnings".)
    """
    if not fit_ok or not np.isfinite(alpha):
        return "no-fit"
    if alpha > ALPHA_UNDERTRAINED:
        return "under-trained"
    if alpha < ALPHA_OVERFIT:
        return "over-trained"
    return ""


def wtw_factor(normalization: str, N: int) -> float:
    """The factor ``c`` with ``lambda(W^T W) = c * lambda(ESD)``: ``N`` for ``"N"``, 1 for
    ``"none"`` (docs/glossary.md, "Scales")."""
    if normalization == "N":
        return float(N)
    if normalization == "none":
        return 1.0
    raise ValueError(f"normalization must be 'N' or 'none', got {normalization!r}")


def log_alpha_norm(evals: Array, alpha: float, factor: float = 1.0) -> float:
    """``log10 sum (factor * lambda)^alpha`` without overflow (WeightWatcher's log_alpha_norm
    [WW], [MPM2021], with ``factor`` turning the ESD into the eigenvalues of ``W^T W``)."""
    lam = np.asarray(evals, dtype=np.float64)
    lam = lam[lam > 0]
    if lam.size == 0 or not math.isfinite(alpha):
        return _NAN
    z = alpha * (np.log(lam) + math.log(factor))
    zmax = float(z.max())
    return (zmax + math.log(float(np.exp(z - zmax).sum()))) / math.log(10.0)


def positive_evals(evals: Array) -> Array:
    """Eigenvalues above the relative zero threshold ``M * eps * lambda_max``."""
    return evals[evals > zero_threshold(evals)]


def layer_detx(evals: Array) -> DetXResult:
    """The TraceLog/detX edge of a layer's ESD, as the pipeline computes it once per layer.

    Exact zeros (below ``M * eps * lambda_max``) are left out: they are not part of the
    correlations, and ``ln 0`` would end every TraceLog walk (a layer with ``k`` zero columns is
    an ``N x (M - k)`` layer).  Rule ``first_below`` on the ``sum(lambda) = M_+`` scale
    (:func:`detx_lambda_min`).  :func:`esd_metrics` and
    :func:`setol_theory.quality.select_ecs` take the result instead of computing it again.
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    pos = positive_evals(x)
    return detx_lambda_min(x if pos.size == x.size else pos)


def _power_law_refit(fit_kwargs: dict[str, Any] | None) -> Callable[[Array], PowerLawFit]:
    """The power-law part of :func:`setol_theory.fit.fit_tail` with these settings (the
    finger handling included, no cutoff fit): how the bootstraps refit their samples."""
    kw = dict(fit_kwargs or {})
    if kw.pop("fit", "pl") == "e_tpl":
        kw["fingers"] = "xmin_peak"

    def refit(values: Array) -> PowerLawFit:
        return fit_tail(values, **kw).powerlaw

    return refit


def esd_metrics(
    evals: Array,
    N: int | None,
    M: int,
    *,
    name: str = "W",
    kind: str = "matrix",
    normalization: str = "N",
    fit_kwargs: dict[str, Any] | None = None,
    detx: DetXResult | None = None,
    gof_kwargs: dict[str, Any] | None = None,
    slices: int = 1,
) -> LayerMetrics:
    """Metrics computable from the ESD alone (everything except correlation traps).

    Parameters
    ----------
    evals : array, shape (M,)
        Eigenvalues of the layer correlation matrix.
    N, M : int
        Layer dimensions, ``N >= M``. ``N=None`` (an ESD given without its layer's shape):
        what needs ``N`` is reported as unavailable with the reason (``Q``, the MP bulk, and
        under ``normalization="N"`` the published ``W^T W`` metrics); ``N`` is recorded as 0.
    fit_kwargs : dict, optional
        Passed to :func:`setol_theory.fit.fit_tail` (``min_tail``, ``xmax``, ``ks``, ``fit``,
        ``fingers``, ``max_fingers``); :attr:`AnalysisOptions.fit_kwargs
        <setol_theory.options.AnalysisOptions.fit_kwargs>` gives the analysis' settings.
    detx : DetXResult, optional
        The layer's detX edge from :func:`layer_detx` (computed here when not given).
    gof_kwargs : dict, optional
        Passed to :func:`goodness_of_fit` (``lr``, ``tpl``, ``bootstrap``, ``seed``); default:
        the likelihood-ratio tests against lognormal and exponential, no bootstrap.
    slices : int
        Number of ``N x M`` matrices whose eigenvalues were pooled into ``evals`` (the kernel
        positions of a conv layer, ``slices * M`` eigenvalues; default 1). ``N`` and ``M`` are
        one slice's. A pooled ESD gets the pooled MP bulk fit
        (:func:`setol_theory.fit.fit_mp_bulk` with ``slices``; ``"too-small"`` below
        :data:`setol_theory.fit.MIN_SLICE_EVALS` positive eigenvalues per slice).
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    lambda_max = float(x[-1])
    pos = positive_evals(x)
    no_n = "N not given (an ESD without its layer's shape): the MP law needs q = M/N"
    wtw = wtw_factor(normalization, N) if N is not None or normalization == "none" else _NAN
    with warnings.catch_warnings():
        # recorded in the result as fit_bound_hit instead of one warning per layer
        warnings.simplefilter("ignore", PowerLawBoundWarning)
        tail: TailFit = fit_tail(pos, **(fit_kwargs or {}))
    refit = _power_law_refit(fit_kwargs)
    fit: PowerLawFit = tail.powerlaw
    tpl = tail.tpl if tail.tpl is not None and tail.tpl.status == "ok" else None
    fit_ok = fit.status == "ok"
    alpha = float(fit.alpha)
    total = float(x.sum())
    # exact zeros (dead rows/columns, low-rank layers) are not part of an MP bulk, and ln 0
    # ends every TraceLog walk: the MP fit and detX use the M_+ = pos.size positive
    # eigenvalues (a layer with k zero columns is an N x (M - k) layer for both)
    n_zero = int(x.size - pos.size)
    bulk = x if n_zero == 0 else pos
    # a pooled ESD (k conv slices): one MP law for the k slices' M_+ / k bulks each
    m_slice = bulk.size if slices == 1 else round(bulk.size / slices)
    small = (f"{m_slice} positive eigenvalues per slice ({slices} pooled conv slices): the "
             f"pooled MP fit is calibrated from {MIN_SLICE_EVALS}" if slices > 1
             and m_slice < MIN_SLICE_EVALS else "fewer than 2 positive eigenvalues")
    mp: MPFit | None = (fit_mp_bulk(bulk, N, m_slice, slices=slices)
                        if bulk.size >= 2 and N is not None and (
                            slices == 1 or m_slice >= MIN_SLICE_EVALS) else None)
    if detx is None:  # TraceLog condition on the sum(lambda) = M_+ scale
        detx = detx_lambda_min(bulk)
    gk = dict(gof_kwargs or {})
    ci_reps = int(gk.pop("alpha_ci", 0) or 0)
    ci = (_NAN, _NAN)
    if ci_reps > 0 and fit_ok:
        from ..fit._gof import alpha_interval

        ci = alpha_interval(pos, replicates=ci_reps, seed=gk.get("seed", 0), fit=refit)
    gof = goodness_of_fit(tail.data, fit, tpl_fit=tpl, refit=refit, **gk)
    label = warning_label(alpha, fit_ok)
    if gof.verdict in ("tail too short", "tail is the bulk"):
        label = "small-tail"  # never graded well-trained (or over/under-trained)
    return LayerMetrics(
        name=name,
        kind=kind,
        N=N or 0,
        M=M,
        Q=N / M if N else _NAN,
        num_evals=int(x.size),
        normalization=normalization,
        lambda_max=lambda_max,
        alpha=alpha,
        alpha_weighted=alpha * math.log10(wtw * lambda_max) if fit_ok else _NAN,
        xmin=float(fit.xmin),
        alpha_sigma=float(fit.sigma),
        alpha_ci_low=ci[0],
        alpha_ci_high=ci[1],
        D=float(fit.D),
        num_tail=int(fit.n_tail) if fit_ok else 0,
        fit_status=fit.status,
        fit_reason=fit.reason,
        fit_bound_hit=bool(fit.bound_hit),
        num_fingers=tail.num_fingers,
        alpha_raw=tail.alpha_raw,
        tpl_alpha=tpl.alpha if tpl else _NAN,
        tpl_alpha_sigma=tpl.sigma_alpha if tpl else _NAN,
        tpl_lambda=tpl.lam if tpl else _NAN,
        tpl_D=tail.tpl_D if tpl else _NAN,
        **asdict(gof),
        log_norm=math.log10(wtw * total),
        log_spectral_norm=math.log10(wtw * lambda_max),
        log_alpha_norm=log_alpha_norm(pos, alpha, wtw) if fit_ok else _NAN,
        stable_rank=total / lambda_max,
        num_zero_evals=n_zero,
        mp_sigma2=mp.sigma2 if mp else _NAN,
        mp_lambda_plus=mp.lambda_plus if mp else _NAN,
        mp_softrank=mp.lambda_plus / lambda_max if mp and mp.ok else _NAN,
        num_spikes=float(mp.num_spikes) if mp and mp.ok else _NAN,
        mp_status=mp.status if mp else "unavailable" if N is None else "too-small",
        mp_reason=mp.reason if mp else no_n if N is None else small,
        mp_ks_distance=mp.ks_distance if mp else _NAN,
        detx_lambda_min=detx.lambda_min,
        delta_lambda_min=float(fit.xmin) - detx.lambda_min if fit_ok else _NAN,
        num_ecs_detx=detx.num_ecs,
        warning=label,
    )


def analyze_matrix(
    W: Array,
    *,
    name: str = "W",
    kind: str = "matrix",
    normalization: str = "N",
    traps: bool = True,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
    eig_kwargs: dict[str, Any] | None = None,
    trap_scale: str = "variance",
) -> tuple[LayerMetrics, Array]:
    """All HTSR metrics of one weight matrix; returns ``(metrics, evals)``.

    Raises ``ValueError``/``TypeError`` (from the eigenvalue routine) on NaN/Inf, all-zero,
    1-wide, empty or non-float matrices.
    """

    if not is_tensor(W):  # tensors stay tensors for a torch eigensolver
        W = np.asarray(W)
    eig_kwargs = dict(eig_kwargs or {})
    evals = correlation_eigenvalues(W, normalization=normalization, **eig_kwargs)
    N, M = max(W.shape), min(W.shape)
    m = esd_metrics(
        evals, N, M, name=name, kind=kind, normalization=normalization, fit_kwargs=fit_kwargs
    )
    if traps:
        t = correlation_traps(
            W,
            normalization=normalization,
            rng=seed,
            # as the pipeline: the Lanczos / float32 route with numpy's eigvalsh, the full
            # spectrum with torch or the SVD
            eig=None if (eig_kwargs.get("backend", "numpy") == "numpy"
                         and eig_kwargs.get("method", "auto") != "svd") else (
                lambda A: correlation_eigenvalues(A, normalization=normalization,
                                                  **eig_kwargs)),
            scale=trap_scale,
        )
        m = replace(m, num_traps=t.num_traps, lambda_max_rand=t.lambda_max_rand,
                    threshold_rand=t.threshold_rand)
    return m, evals

