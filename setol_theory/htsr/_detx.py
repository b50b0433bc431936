"""TraceLog / detX condition and the ERG residual of an ESD.

The ECS lower edge of the detX condition is the ``lambda_min`` at which the partial sums of
``ln lambda_i`` over the largest eigenvalues (on the scale ``sum lambda = M``) change sign
(the paper's TraceLog condition, arXiv:2507.17912; docs/quality.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._choices import DETX_RULES

Array = NDArray[np.float64]


_RULES = DETX_RULES


_NORMS = ("frobenius_M", "none")


def as_spectrum(evals: ArrayLike, name: str = "evals") -> Array:
    """``evals`` as a checked 1-D float64 array (real, finite, >= 0, non-empty).

    Raises ``TypeError``/``ValueError`` naming ``name``.
    """
    x = np.asarray(evals)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real eigenvalues, got dtype {x.dtype}")
    x = x.astype(np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{name}: empty spectrum")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: contains {int(np.sum(~np.isfinite(x)))} non-finite values")
    if np.any(x < 0):
        raise ValueError(f"{name}: eigenvalues of X must be >= 0, min is {x.min():.3g}")
    return x


def rescale_frobenius_M(evals: ArrayLike) -> tuple[Array, float]:
    """Rescale a spectrum so that ``sum(lambda) = M`` (``||W||_F^2 = M``).

    Returns ``(rescaled, factor)`` with ``rescaled = factor * evals``
    (the ``"frobenius_M"`` scale, our choice: docs/quality.md, "ECS selection and the ERG
    quantities"; arXiv:2507.17912 Sec. 6.2).
    """
    x = as_spectrum(evals)
    total = float(x.sum())
    if total <= 0:
        raise ValueError("evals: all eigenvalues are zero, the spectrum cannot be rescaled")
    factor = x.size / total
    return x * factor, factor


def tracelog_partial_sums(evals: ArrayLike) -> tuple[Array, Array]:
    """Descending eigenvalues and ``S_k = sum_{i<=k} ln lambda_(i)``, ``k = 1..M``.

    ``S_k = ln det`` of the projection of ``X`` on its top ``k`` eigenvectors.
    Zero eigenvalues give ``S_k = -inf`` from their index on.
    """
    x = np.sort(as_spectrum(evals))[::-1]
    with np.errstate(divide="ignore"):
        logs = np.log(x)
    return x, np.cumsum(logs)


@dataclass(frozen=True)
class DetXResult:
    """ECS edge from the TraceLog / detX condition ``sum_{ECS} ln lambda = 0``.

    Attributes
    ----------
    lambda_min : float
        ``lambda_min^{|detX|=1}`` on the input scale.
    lambda_min_rescaled : float
        The same eigenvalue on the rescaled scale used for the condition.
    num_ecs : int
        ``M_ECS``: eigenvalues in the ECS (``k``; the reference tool's ``detX_num``).
    residual : float
        ``S_k = ln det X_ECS`` on the rescaled scale (0 for an exact crossing).
    crossed : bool
        Whether ``S_k`` reached ``<= 0`` (no crossing: ``det X_ECS > 1`` for every ``k``).
    rule, normalization : str
        The options used.
    scale_factor : float
        Rescaled = ``scale_factor`` x input.
    """

    lambda_min: float
    lambda_min_rescaled: float
    num_ecs: int
    residual: float
    crossed: bool
    rule: str
    normalization: str
    scale_factor: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def detx_lambda_min(
    evals: ArrayLike, *, rule: str = "first_below", normalization: str = "frobenius_M"
) -> DetXResult:
    """Lower ECS edge from the TraceLog / detX condition.

    With the eigenvalues sorted descending and ``S_k = sum_{i<=k} ln lambda_(i)``:

    * ``rule="first_below"`` (the paper's reference tool, WeightWatcher [WW]; docs/htsr.md):
      the first ``k`` with ``S_k < 0`` (product of the ``k`` largest drops below 1);
      ``lambda_min = lambda_(k)``.
    * ``rule="closest"`` (docs/quality.md): ``k = argmin_{k >= k_1} |S_k|`` with
      ``k_1`` the number of eigenvalues above 1 (searching after the peak of ``S_k``,
      which excludes the trivial ``k = 0``).

    If ``S_k > 0`` for every ``k`` there is no crossing: the ECS is the whole spectrum,
    ``crossed=False`` and ``lambda_min`` is the smallest eigenvalue.

    Parameters
    ----------
    evals : array
        Eigenvalues of ``X`` (any order, ``>= 0``).
    rule : {"first_below", "closest"}
    normalization : {"frobenius_M", "none"}
        ``"frobenius_M"`` rescales to ``sum(lambda) = M`` first (default); ``"none"`` applies
        the condition to the eigenvalues as given.
    """
    if rule not in _RULES:
        raise ValueError(f"rule must be one of {_RULES}, got {rule!r}")
    if normalization not in _NORMS:
        raise ValueError(f"normalization must be one of {_NORMS}, got {normalization!r}")
    x0 = x = as_spectrum(evals)
    if normalization == "frobenius_M":
        x, factor = rescale_frobenius_M(x)
    else:
        factor = 1.0
    desc, S = tracelog_partial_sums(x)
    if rule == "first_below":
        # "< 0" up to the round-off of the partial sum (a few ulps of sum |ln lambda|),
        # so that an exact product of 1 is not a crossing
        with np.errstate(invalid="ignore", divide="ignore"):  # zero eigenvalues: ln 0 = -inf
            tol = 4 * np.finfo(np.float64).eps * np.cumsum(np.abs(np.log(desc)))
        below = np.flatnonzero(S < -np.nan_to_num(tol, posinf=0.0))
        crossed = below.size > 0
        idx = int(below[0]) if crossed else desc.size - 1
    else:
        k1 = int(np.sum(desc > 1.0))
        start = max(k1 - 1, 0)
        tail = np.abs(S[start:])
        idx = start + int(np.argmin(tail))
        crossed = bool(np.any(S[start:] <= 0))
        if not crossed:
            idx = desc.size - 1
    lam_r = float(desc[idx])
    return DetXResult(
        # the input eigenvalue itself (lam_r / factor can differ from it by an ulp, which
        # would drop it from a cut x >= lambda_min); the order is the same on both scales
        lambda_min=float(np.sort(x0)[::-1][idx]),
        lambda_min_rescaled=lam_r,
        num_ecs=idx + 1,
        residual=float(S[idx]),
        crossed=crossed,
        rule=rule,
        normalization=normalization,
        scale_factor=factor,
    )


def erg_residual(evals: ArrayLike, lambda_cut: float, *, normalization: str = "frobenius_M"
                 ) -> float:
    """``sum_{lambda_i >= lambda_cut} ln lambda_i = ln det X_ECS`` (arXiv:2507.17912 Eq. (126)).

    ``lambda_cut`` is on the input scale; with ``"frobenius_M"`` both the eigenvalues and the
    cut are rescaled so that ``sum(lambda) = M`` before the logs are taken.
    """
    if normalization not in _NORMS:
        raise ValueError(f"normalization must be one of {_NORMS}, got {normalization!r}")
    x = as_spectrum(evals)
    factor = rescale_frobenius_M(x)[1] if normalization == "frobenius_M" else 1.0
    sel = x[x >= lambda_cut] * factor
    if sel.size == 0:
        return 0.0
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(sel)))


@dataclass(frozen=True)
class ERGResult:
    """ERG / TraceLog metrics of a layer (names as in docs/quality.md).

    ``erg_gap = lambda_min^PL - lambda_min^{|detX|=1}`` (arXiv:2507.17912 Eq. (164), Sec. 6.3:
    positive when the power-law tail is the smaller set, -> 0+ as alpha -> 2).
    """

    xmin: float
    erg_lambda_min: float
    erg_gap: float
    erg_residual_at_xmin: float
    num_ecs_detx: int
    num_tail_pl: int
    detx: DetXResult

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("detx")
        return d


def erg_metrics(evals: ArrayLike, xmin: float, *, rule: str = "first_below",
                normalization: str = "frobenius_M") -> ERGResult:
    """ERG quantities given the power-law ``xmin`` (both on the input scale)."""
    if not math.isfinite(xmin):
        raise ValueError(f"xmin must be finite, got {xmin}")
    x = as_spectrum(evals)
    d = detx_lambda_min(x, rule=rule, normalization=normalization)
    return ERGResult(
        xmin=float(xmin),
        erg_lambda_min=d.lambda_min,
        erg_gap=float(xmin) - d.lambda_min,
        erg_residual_at_xmin=erg_residual(x, xmin, normalization=normalization),
        num_ecs_detx=d.num_ecs,
        num_tail_pl=int(np.sum(x >= xmin)),
        detx=d,
    )

