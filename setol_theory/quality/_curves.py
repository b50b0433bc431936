"""Quality tables and model-derived quality-vs-alpha curves on synthetic spectra."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..rmt import InverseMarchenkoPastur, TruncatedPowerLaw
from ..util import nan_to_none, plain
from ._ecs import DEFAULT_MIN_ECS, ECSError
from ._models import QualityError
from ._registry import DEFAULT_MODELS, _check_models, layer_quality

Array = NDArray[np.float64]


# ======================================================================================
# The intensive quantities of the paper's Table 5 (arXiv:2507.17912 Sec. 4.2.6)
# ======================================================================================
@dataclass(frozen=True)
class QualityTable:
    """Effective potential, self-overlap, free energy, quality generating function and model
    quality (arXiv:2507.17912 Table 5, Sec. 4.2.6; docs/quality.md, "The quality table").

    Attributes
    ----------
    epsilon : float
        Effective potential ``eps`` (average error).
    eta : float
        Self-overlap ``eta = 1 - eps`` (average accuracy).
    free_energy : float
        Average free energy per training example, ``F-bar = F / n`` with ``beta F = -ln Z_n``.
    gamma_q : float
        Quality generating function ``Gamma_Q-bar = 1 - F-bar`` (``Gamma_Q = n - F``).
    q_bar : float
        Model quality ``Q-bar = <eta>``.
    kinds : dict
        For each entry: ``"definition: ..."`` or ``"model choice: ..."``.
    extra : dict
        Further quantities of the construction (saddle point, entropy, ``Gamma_{Q^2}``...).
    """

    epsilon: float
    eta: float
    free_energy: float
    gamma_q: float
    q_bar: float
    kinds: dict[str, str]
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def st_linear_quality_table(load_t: float) -> QualityTable:
    """The quality table of the linear teacher-student perceptron (spherical prior, annealed
    approximation, high temperature), where every entry is defined.

    ``load_t = alpha beta`` (load times inverse temperature, SST92 sec. III). With the
    spherical entropy ``s(R) = ln(1 - R^2)/2`` and ``eps(R) = 1 - R`` (SST92; arXiv:2507.17912
    Eq. (90), Sec. 4.3.2), the saddle point ``R/(1 - R^2) = load_t`` gives
    ``R* = (sqrt(1 + 4 load_t^2) - 1)/(2 load_t)`` and

    * ``F-bar = min_R [eps(R) - s(R)/load_t] = eps(R*) - s(R*)/load_t`` (per example),
    * ``Gamma_Q-bar = 1 - F-bar = R* + s(R*)/load_t``,
    * ``Q-bar = <eta> = R*``, ``eps = 1 - R*`` (``~ 1/(2 load_t)`` at large load).

    ``d(load_t F-bar)/d load_t = eps`` (envelope theorem): the training / generalisation error
    follows from the free energy (arXiv:2507.17912 Table 5).
    """
    a = float(load_t)
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"load_t = alpha * beta must be positive and finite, got {load_t!r}")
    R = 2.0 * a / (1.0 + math.sqrt(1.0 + 4.0 * a * a))  # = (sqrt(1+4a^2) - 1)/(2a), stable
    s = 0.5 * math.log1p(-R * R)
    eps = 1.0 - R
    F = eps - s / a
    kinds = {
        "epsilon": "model choice: eps(R) = 1 - R, linear perceptron with Gaussian inputs "
                   "(SST92; arXiv:2507.17912 Sec. 4.3.2), at the saddle point R*",
        "eta": "definition: eta = 1 - eps (arXiv:2507.17912 Table 5)",
        "free_energy": "definition: beta F = -ln Z, F-bar = F/n; evaluated in the annealed "
                       "approximation at high T with the spherical entropy s(R) = ln(1-R^2)/2 "
                       "(model choice) by the saddle point",
        "gamma_q": "definition: Gamma_Q-bar = 1 - F-bar (arXiv:2507.17912 Table 5)",
        "q_bar": "definition: Q-bar = <eta> (thermal average = saddle point value R*)",
    }
    return QualityTable(epsilon=eps, eta=R, free_energy=F, gamma_q=1.0 - F, q_bar=R,
                        kinds=kinds, extra={"R_star": R, "entropy": s, "load_t": a,
                                            "beta_f_per_weight": a * eps - s})


def layer_quality_table(q2: float, *, load_t: float = 1.0, log_det: float = 0.0
                        ) -> QualityTable:
    """The quality table of a SETOL layer from its quality squared ``Q^2 = sum_ECS G``.

    ``load_t`` is the ``n beta`` of the layer generating function (per ``N``), ``log_det`` the
    ERG residual ``sum_ECS ln lambda`` (point estimate of ``ln det A_ECS``; 0 under the
    TraceLog condition). What is defined and what is a model choice:

    * ``Gamma_{Q^2} = load_t Q^2 + log_det/2`` -- the paper's large-N HCIZ result
      ``n beta sum G`` (arXiv:2507.17912 Sec. 5.3, paper form; docs/hciz.md) plus the Jacobian
      ``(N/2) ln det A`` of the change of measure (Sec. 5.2.2-5.2.4, App. A.4), averaged
      independently (IFA); ``Q^2 = d Gamma_{Q^2} / d load_t`` (definition, Sec. 5.3, Eq. (128)).
    * ``Q-bar = eta = sqrt(Q^2)`` -- model choice ``<Tr R> ~ sqrt(<Tr R^T R>)``
      (arXiv:2507.17912 App. A.3; docs/quality.md), ``eps = 1 - eta`` (definition with the linear ST
      ``eps(R) = 1 - R``).
    * ``Gamma_Q-bar = eta + s/load_t``, ``F-bar = 1 - Gamma_Q-bar = eps - s/load_t`` with the
      entropy ``s = log_det / 2`` -- the saddle-point form of the ST perceptron
      (:func:`st_linear_quality_table`) with ``ln det A_ECS / 2`` in the role of ``s(R)``
      (model choice). Under the TraceLog condition ``s = 0``, so ``F-bar = eps`` and
      ``Gamma_Q-bar = Q-bar``: the ERG step makes the free energy equal the effective potential.

    ``eps`` and ``eta`` are probabilities only when ``Q-bar <= 1``, which the G functions do
    not guarantee (the paper reports ``Q^2`` above 100%, arXiv:2507.17912 Sec. 6.4).
    """
    v = float(q2)
    if not (math.isfinite(v) and v > 0):
        raise QualityError(f"Q^2 must be positive and finite, got {q2!r}")
    a = float(load_t)
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"load_t = n beta must be positive and finite, got {load_t!r}")
    s = 0.5 * float(log_det)
    qb = math.sqrt(v)
    gam = qb + s / a
    kinds = {
        "epsilon": "definition: eps = 1 - eta (linear ST effective potential eps(R) = 1 - R)",
        "eta": "model choice: eta = <Tr R> ~ sqrt(Q^2) (arXiv:2507.17912 App. A.3)",
        "free_energy": "definition: F-bar = 1 - Gamma_Q-bar; Gamma_Q-bar = eta + s/load_t by "
                       "the ST saddle-point form with s = ln det X_ECS / 2 (model choice)",
        "gamma_q": "definition: Gamma_Q-bar = 1 - F-bar (arXiv:2507.17912 Table 5)",
        "q_bar": "definition: Q-bar = <eta>",
        "gamma_q2": "paper result: Gamma_{Q^2} = n beta sum_ECS G (arXiv:2507.17912 Sec. 5.3, "
                    "large N) + ln det A_ECS / 2 (Sec. 5.2 Jacobian, IFA)",
    }
    return QualityTable(epsilon=1.0 - qb, eta=qb, free_energy=1.0 - gam, gamma_q=gam,
                        q_bar=qb, kinds=kinds,
                        extra={"q2": v, "load_t": a, "entropy": s,
                               "gamma_q2": a * v + s})


# ======================================================================================
# Model-derived quality curves on synthetic spectra (docs/quality.md)
# ======================================================================================
CURVE_FAMILIES = ("imp", "tpl", "student_t")


def synthetic_spectrum(family: str, alpha: float, M: int = 384, *, Q: float = 2.0,
                       rng: np.random.Generator | int | None = 0) -> Array:
    """A synthetic layer ESD with power-law exponent ``alpha`` (nominal), ``M`` eigenvalues.

    * ``"imp"``: inverse Marchenko-Pastur with ``kappa = alpha/2`` (the paper's association,
      arXiv:2507.17912 Sec. 5.4.5), at the quantiles ``(i - 1/2)/M`` (deterministic, mean 1).
    * ``"tpl"``: truncated power law ``x^{-alpha}`` on ``[1, b]``, ``b = M^{1/(alpha-1)}`` (the
      typical largest of ``M`` Pareto draws; capped at ``alpha ln b <= 500``), at the
      quantiles. A spectrum without bulk.
    * ``"student_t"``: eigenvalues of ``W^T W / N`` for an ``N x M`` matrix (``N = Q M``) of
      i.i.d. Student-t entries with tail index ``mu = 2 (alpha - 1)`` (the Levy-regime relation
      ``alpha = 1 + mu/2`` of heavy-tailed Wishart matrices, exact for ``mu < 2``;
      Martin & Mahoney, JMLR 22 (2021) 165, sec. 3); random, seeded by ``rng``.

    The fitted alpha of these spectra differs from the nominal one (see :func:`quality_curve`).
    """
    if family not in CURVE_FAMILIES:
        raise ValueError(f"family must be one of {CURVE_FAMILIES}, got {family!r}")
    al = float(alpha)
    if not math.isfinite(al):
        raise ValueError(f"alpha must be finite, got {plain(alpha)!r}")
    if int(M) != M or M < 2:
        raise ValueError(f"M must be an integer >= 2, got {M!r}")
    M = int(M)
    p = (np.arange(M) + 0.5) / M
    if family == "imp":
        if not al > 0:
            raise ValueError(
                f"family 'imp' needs alpha > 0 (kappa = alpha/2), got {plain(alpha)!r}")
        return InverseMarchenkoPastur(0.5 * al).ppf(p)
    if not al > 1:
        raise ValueError(f"family {family!r} needs alpha > 1, got {plain(alpha)!r}")
    if family == "tpl":
        lnb = min(math.log(M) / (al - 1.0), 500.0 / al)
        return TruncatedPowerLaw(al, 1.0, math.exp(lnb)).ppf(p)
    if not (math.isfinite(Q) and Q >= 1):
        raise ValueError(f"Q = N/M must be >= 1, got {Q!r}")
    N = int(round(Q * M))
    g = np.random.default_rng(rng)
    W = g.standard_t(2.0 * (al - 1.0), size=(N, M))
    return np.sort(np.linalg.eigvalsh(W.T @ W / N))


@dataclass(frozen=True)
class QualityCurve:
    """Layer quality along a family of synthetic spectra -- **model-derived**, not a
    prediction of the paper (docs/quality.md, "Model-derived curves and the alpha = 2 critical
    point").

    Arrays are indexed like ``alpha`` (the family's nominal exponent); ``alpha_fit`` is the
    power-law fit of each synthetic spectrum (what the pipeline uses, and what a real layer
    would report). A point whose ECS could not be selected has NaN entries and its reason in
    ``reasons``; a model that failed at a point has NaN in ``log10_q[model]``.
    """

    family: str
    ecs_rule: str
    scale: str
    M: int
    alpha: Array
    alpha_fit: Array
    xmin: Array
    lambda_min_ecs: Array
    lambda_min_detx: Array
    delta_lambda_min: Array
    num_ecs: Array
    num_tail: Array
    erg_residual_at_xmin: Array
    log10_q: dict[str, Array]
    reasons: tuple[str, ...]
    label: str

    @property
    def rel_delta_lambda_min(self) -> Array:
        """``Delta lambda_min / xmin`` (scale free)."""
        return self.delta_lambda_min / self.xmin

    def critical_alpha(self) -> float | None:
        """The fitted alpha where ``Delta lambda_min`` changes sign from negative (below) to
        positive (above), by linear interpolation between neighbouring points in ``alpha_fit``
        order; None without such a crossing. The theory predicts 2 (arXiv:2507.17912 Sec. 2.1,
        Table 1; Sec. 5.4)."""
        ok = np.isfinite(self.alpha_fit) & np.isfinite(self.delta_lambda_min)
        a, d = self.alpha_fit[ok], self.rel_delta_lambda_min[ok]
        order = np.argsort(a)
        a, d = a[order], d[order]
        for i in range(a.size - 1):
            if d[i] < 0 <= d[i + 1]:
                return float(a[i] + (a[i + 1] - a[i]) * (-d[i]) / (d[i + 1] - d[i]))
        return None

    def to_dict(self) -> dict[str, Any]:
        def lst(v: Array) -> list[float | None]:
            return nan_to_none(np.asarray(v, dtype=float).tolist())

        return {
            "family": self.family, "ecs_rule": self.ecs_rule, "scale": self.scale,
            "M": self.M, "label": self.label, "critical_alpha": self.critical_alpha(),
            "alpha": lst(self.alpha), "alpha_fit": lst(self.alpha_fit), "xmin": lst(self.xmin),
            "lambda_min_ecs": lst(self.lambda_min_ecs),
            "lambda_min_detx": lst(self.lambda_min_detx),
            "delta_lambda_min": lst(self.delta_lambda_min),
            "rel_delta_lambda_min": lst(self.rel_delta_lambda_min),
            "num_ecs": lst(self.num_ecs), "num_tail": lst(self.num_tail),
            "erg_residual_at_xmin": lst(self.erg_residual_at_xmin),
            "log10_q": {k: lst(v) for k, v in self.log10_q.items()},
            "reasons": list(self.reasons),
        }


def quality_curve(
    family: str = "imp",
    alphas: ArrayLike = (1.5, 2.0, 3.0, 4.0, 6.0),
    *,
    M: int = 384,
    Q: float = 2.0,
    ecs: str | float = "detx",
    models: Iterable[str] = DEFAULT_MODELS,
    scale: str = "frobenius_M",
    detx_rule: str = "first_below",
    min_ecs: int = DEFAULT_MIN_ECS,
    K: int = 5,
    seed: int | None = 0,
) -> QualityCurve:
    """Model-derived quality curve: for each nominal ``alpha`` a synthetic spectrum
    (:func:`synthetic_spectrum`) goes through the whole pipeline of :func:`layer_quality`
    (power-law fit, ECS, ``log10 Q`` per model, with the *fitted* alpha as a real layer would).

    Along the ``"imp"`` family ``Delta lambda_min`` changes sign at a fitted alpha near 2
    (:meth:`QualityCurve.critical_alpha`): the PL tail and the detX ECS coincide there, the
    paper's Ideal point (arXiv:2507.17912 Sec. 6.3). The ``"tpl"`` family has no bulk, and then
    ``lambda_min^detX > lambda_min`` for every alpha (Jensen: ``mean ln lambda < ln mean
    lambda``), so ``Delta lambda_min < 0`` throughout.
    """
    names = _check_models(models)
    al = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if al.ndim != 1 or al.size == 0 or not np.all(np.isfinite(al)):
        raise ValueError("alphas must be a non-empty 1-D array of finite values")
    n = al.size
    cols = {k: np.full(n, np.nan) for k in (
        "alpha_fit", "xmin", "lambda_min_ecs", "lambda_min_detx", "delta_lambda_min",
        "num_ecs", "num_tail", "erg_residual_at_xmin")}
    logq = {m: np.full(n, np.nan) for m in names}
    reasons: list[str] = []
    seeds = np.random.SeedSequence(seed).spawn(n)
    for i, a in enumerate(al):
        ev = synthetic_spectrum(family, a, M, Q=Q, rng=np.random.default_rng(seeds[i]))
        try:
            lq = layer_quality(ev, ecs=ecs, models=names, scale=scale, detx_rule=detx_rule,
                               min_ecs=min_ecs, K=K)
        except ECSError as exc:
            reasons.append(f"alpha={a:g}: {exc}")
            continue
        e = lq.ecs
        for key, val in (("alpha_fit", e.alpha), ("xmin", e.xmin),
                         ("lambda_min_ecs", e.lambda_min), ("lambda_min_detx", e.lambda_min_detx),
                         ("delta_lambda_min", e.delta_lambda_min), ("num_ecs", e.num_ecs),
                         ("num_tail", e.num_tail),
                         ("erg_residual_at_xmin", e.erg_residual_at_xmin)):
            cols[key][i] = np.nan if val is None else val
        for m in names:
            v = lq.models[m].log10_q
            if v is not None:
                logq[m][i] = v
            else:
                reasons.append(f"alpha={a:g}, {m}: {lq.models[m].reason}")
    label = (f"model-derived: {family} spectra (M={M}"
             + (", kappa = alpha/2" if family == "imp" else "")
             + f"), ECS rule {ecs!r}, pipeline with fitted alpha")
    return QualityCurve(family=family, ecs_rule=str(ecs), scale=scale, M=int(M), alpha=al,
                        log10_q=logq, reasons=tuple(reasons), label=label, **cols)

