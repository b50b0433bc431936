"""The tail fit of one ESD as ``setol analyze`` makes it: :func:`fit_tail`.

One function puts the fit options together: the power-law fit with its ``xmin`` scan
(:func:`setol_theory.fit.fit_powerlaw`), the finger handling (:mod:`._fingers`) and, on
request, the power law with exponential cutoff fitted on the same tail
(:func:`setol_theory.fit.fit_truncated_powerlaw`). ``fit="e_tpl"`` is WeightWatcher's
``E_TPL``: the truncated power law with the ``xmin_peak`` finger handling.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._choices import FINGER_MODES, TAIL_FITS
from ._fingers import (
    DEFAULT_FINGER_THRESH,
    DEFAULT_MAX_FINGERS,
    clip_fingers,
    xmin_peak_range,
)
from ._powerlaw import fit_powerlaw
from ._results import DEFAULT_MIN_TAIL, PowerLawBoundWarning, PowerLawFit, TruncatedPowerLawFit
from ._truncated import fit_truncated_powerlaw, truncated_powerlaw_ks

Array = NDArray[np.float64]

__all__ = ["TAIL_FITS", "TailFit", "fit_tail"]



@dataclass(frozen=True)
class TailFit:
    """Result of :func:`fit_tail`.

    Attributes
    ----------
    powerlaw : PowerLawFit
        The power-law fit (its ``xmin`` is the tail's, for every ``fit``).
    data : ndarray
        The values the power law was fitted to: the positive values, without the
        ``num_fingers`` largest under ``clip_xmax``. The goodness-of-fit tests use them.
    fit, fingers : str
        The options used (``fingers`` is ``"xmin_peak"`` under ``fit="e_tpl"``).
    num_fingers : int
        Largest values left out by ``clip_xmax`` (0 otherwise).
    alpha_raw : float
        Exponent of the plain power-law fit, before the finger handling (NaN with
        ``fingers="none"``).
    xmin_range : (float, float) or None
        The ``xmin`` window of ``xmin_peak``.
    tpl : TruncatedPowerLawFit or None
        The power law with exponential cutoff on ``[xmin, xmax]`` (``fit`` ``"tpl"`` or
        ``"e_tpl"``, and a power-law fit that succeeded).
    tpl_D : float
        KS distance of ``tpl`` on the tail (NaN without it).
    """

    powerlaw: PowerLawFit
    data: Array
    fit: str = "pl"
    fingers: str = "none"
    num_fingers: int = 0
    alpha_raw: float = math.nan
    xmin_range: tuple[float, float] | None = None
    tpl: TruncatedPowerLawFit | None = None
    tpl_D: float = math.nan


def _check(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def fit_tail(
    x: ArrayLike,
    *,
    fit: str = "pl",
    fingers: str = "none",
    max_fingers: int = DEFAULT_MAX_FINGERS,
    finger_thresh: float = DEFAULT_FINGER_THRESH,
    min_tail: int = DEFAULT_MIN_TAIL,
    xmax: float | None = None,
    ks: str = "powerlaw",
) -> TailFit:
    """Fit the tail of an ESD with the analysis' fit options.

    1. The power law (CSN scan of ``xmin``, ``min_tail``, ``xmax``) on the positive values;
       with ``fingers="xmin_peak"`` the scan is restricted to :func:`xmin_peak_range`, with
       ``"clip_xmax"`` the largest values are clipped by :func:`clip_fingers`.
    2. With ``fit="tpl"`` (or ``"e_tpl"``, which also sets ``fingers="xmin_peak"``), the
       power law with exponential cutoff :math:`x^{-\\alpha} e^{-\\Lambda x}` is fitted by
       maximum likelihood on the same tail ``[xmin, xmax]`` (CSN Sec. 5), and its KS distance
       computed. Its ``xmin`` is the power law's: WeightWatcher's ``fit="TPL"`` instead
       scans ``xmin`` with the truncated law itself (``powerlaw``'s
       ``xmin_distribution``), one cutoff fit per candidate.

    Parameters
    ----------
    x : array_like
        The ESD (non-positive values are ignored).
    fit : {"pl", "tpl", "e_tpl"}
    fingers : {"none", "xmin_peak", "clip_xmax"}
    max_fingers, finger_thresh
        Of ``clip_xmax`` (:func:`clip_fingers`).
    min_tail, xmax, ks
        Of :func:`setol_theory.fit.fit_powerlaw`.

    Returns
    -------
    TailFit

    Raises
    ------
    ValueError
        An unknown ``fit`` or ``fingers``, or ``fit="e_tpl"`` with ``fingers="clip_xmax"``
        (E_TPL is defined with ``xmin_peak``).
    """
    _check("fit", fit, TAIL_FITS)
    _check("fingers", fingers, FINGER_MODES)
    if fit == "e_tpl":
        if fingers == "clip_xmax":
            raise ValueError("fit='e_tpl' is the truncated power law with fingers='xmin_peak'; "
                             "it cannot be combined with fingers='clip_xmax'")
        fingers = "xmin_peak"
    arr = np.asarray(x, dtype=np.float64)
    pos = np.sort(arr[arr > 0])
    kw: dict[str, Any] = {"min_tail": min_tail, "xmax": xmax, "ks": ks}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PowerLawBoundWarning)
        data = pos
        num_fingers, alpha_raw, xr = 0, math.nan, None
        if fingers == "none":
            pl = fit_powerlaw(pos, **kw)
        elif fingers == "xmin_peak":
            raw = fit_powerlaw(pos, **kw)
            alpha_raw = raw.alpha
            if pos.size >= 2:
                xr = xmin_peak_range(pos)
                pl = fit_powerlaw(pos, xmin_range=xr, **kw)
            else:
                pl = raw
        else:
            ff = clip_fingers(pos, lambda v: fit_powerlaw(v, **kw), max_fingers=max_fingers,
                              finger_thresh=finger_thresh)
            pl, num_fingers, alpha_raw = ff.fit, ff.num_fingers, ff.raw.alpha
            data = pos[:pos.size - num_fingers]
    tpl, tpl_D = None, math.nan
    if fit != "pl" and pl.status == "ok":
        tpl = fit_truncated_powerlaw(data, xmin=pl.xmin, xmax=pl.xmax, min_tail=2)
        tpl_D = truncated_powerlaw_ks(data, tpl, ks=ks)
    return TailFit(powerlaw=pl, data=data, fit=fit, fingers=fingers, num_fingers=num_fingers,
                   alpha_raw=float(alpha_raw), xmin_range=xr, tpl=tpl, tpl_D=tpl_D)
