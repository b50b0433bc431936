"""Finger handling of the power-law fit: :func:`xmin_peak_range` and :func:`clip_fingers`.

A *finger* is a small clump of the largest eigenvalues that sits apart from the rest of the
tail (finite-size effects, a few outlier directions).  The KS scan of
:func:`setol_theory.fit.fit_powerlaw` can then choose an ``xmin`` just below the clump, and
the exponent describes a handful of points instead of the tail.  ``min_tail`` (default 10)
already forbids the shortest such fits; the two methods here are WeightWatcher's
``fix_fingers`` modes [WW] (docs/htsr.md, "Fingers"):

* ``xmin_peak`` -- the scan only looks for ``xmin`` near the peak of the ESD on a log scale
  (:func:`xmin_peak_range`), which keeps a high clump from winning;
* ``clip_xmax`` -- the top eigenvalues are left out of the fit one by one, up to
  ``max_fingers``; the first clipping that lowers the exponent by more than
  ``finger_thresh`` is kept (:func:`clip_fingers`).

Differences from WeightWatcher 0.7.7 (read from its source, ``WeightWatcher.fit_powerlaw``
and ``RMT_Util.fit_clipped_powerlaw``) are listed in each function.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._choices import FINGER_MODES
from ._results import PowerLawBoundWarning, PowerLawFit

Array = NDArray[np.float64]

__all__ = ["DEFAULT_FINGER_THRESH", "DEFAULT_MAX_FINGERS", "FINGER_MODES", "FingerFit",
           "clip_fingers", "xmin_peak_range"]

#: Most eigenvalues :func:`clip_fingers` leaves out (WeightWatcher's ``max_fingers``).
DEFAULT_MAX_FINGERS: int = 10
#: Drop of the exponent that marks a finger (WeightWatcher's ``finger_thresh``).
DEFAULT_FINGER_THRESH: float = 1.0
#: Clipping stops once the exponent falls to this value (WeightWatcher's ``min_alpha``).
_MIN_ALPHA: float = 2.0
#: Bins of the log10 histogram whose fullest bin is the ESD's peak (WeightWatcher's 100).
_PEAK_BINS: int = 100


def xmin_peak_range(x: ArrayLike, *, bins: int = _PEAK_BINS, upper: float = 1.5,
                    lower: float = 0.95) -> tuple[float, float]:
    """The ``xmin`` search window of the ``xmin_peak`` finger handling.

    The peak of the ESD is the left edge ``x_peak`` of the fullest of ``bins`` equal bins of
    ``log10 x`` (positive values); the window is ``[lower x_peak, upper x_peak)``.

    WeightWatcher 0.7.7 computes the same ``x_peak`` and upper end ``1.5 x_peak``
    (``xmin_max``), but passes ``log10(0.95 x_peak)`` as the lower end, a logarithm beside a
    linear upper end; its window is therefore ``[log10(0.95 x_peak), 1.5 x_peak)``, which
    starts below the peak wherever ``x_peak > 0.1`` or so, and lower-end cut is rarely
    active. Here both ends are on the eigenvalue scale, as its documentation describes.

    Parameters
    ----------
    x : array_like
        The ESD (non-positive values are ignored).
    bins : int
        Number of histogram bins of ``log10 x``.
    upper, lower : float
        The window's ends in units of ``x_peak``.

    Returns
    -------
    (float, float)
    """
    arr = np.asarray(x, dtype=np.float64)
    pos = arr[arr > 0]
    if pos.size < 2:
        raise ValueError(f"xmin_peak needs at least 2 positive eigenvalues, got {pos.size}")
    counts, edges = np.histogram(np.log10(pos), bins=bins)
    peak = float(10.0 ** edges[int(np.argmax(counts))])
    return lower * peak, upper * peak


@dataclass(frozen=True)
class FingerFit:
    """Result of :func:`clip_fingers`.

    Attributes
    ----------
    fit : PowerLawFit
        The fit kept: on the values without the ``num_fingers`` largest ones, or the plain fit
        when no finger was found.
    raw : PowerLawFit
        The fit of all values.
    num_fingers : int
        How many of the largest values were left out (0: none).
    """

    fit: PowerLawFit
    raw: PowerLawFit
    num_fingers: int


def clip_fingers(x: ArrayLike, fit: Callable[[Array], PowerLawFit], *,
                 max_fingers: int = DEFAULT_MAX_FINGERS,
                 finger_thresh: float = DEFAULT_FINGER_THRESH) -> FingerFit:
    """The ``clip_xmax`` finger handling: refit without the ``k`` largest values.

    For ``k = 1, ..., max_fingers`` the values without their ``k`` largest are refitted with
    ``fit`` (the same power-law fit, ``xmin`` scan included, on a shorter sample: the clipped
    values are left out, the likelihood is not truncated). The first ``k`` whose exponent is
    below the unclipped one by more than ``finger_thresh`` is kept; clipping stops without a
    finger once an exponent reaches 2 or a refit fails. At most half of the values are
    clipped.

    WeightWatcher 0.7.7's ``fit_clipped_powerlaw`` tries ``k = 2, ..., max_fingers - 1`` and
    reports ``num_fingers = k - 1``; here every ``k`` from 1 is tried and ``num_fingers`` is
    the number of values left out.

    Parameters
    ----------
    x : array_like
        Positive values (the ESD).
    fit : callable
        ``fit(values) -> PowerLawFit``, e.g. ``lambda v: fit_powerlaw(v, min_tail=10)``.
    max_fingers : int
        Largest number of values left out.
    finger_thresh : float
        Drop of the exponent that marks a finger.
    """
    if isinstance(max_fingers, bool) or not isinstance(max_fingers, int | np.integer) \
            or max_fingers < 1:
        raise ValueError(f"max_fingers must be an integer >= 1, got {max_fingers!r}")
    thresh = float(finger_thresh)
    if not (math.isfinite(thresh) and thresh > 0):
        raise ValueError(f"finger_thresh must be positive, got {finger_thresh!r}")
    xs = np.sort(np.asarray(x, dtype=np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PowerLawBoundWarning)
        raw = fit(xs)
        if raw.status != "ok":
            return FingerFit(raw, raw, 0)
        for k in range(1, min(int(max_fingers), xs.size // 2) + 1):
            f = fit(xs[:-k])
            if f.status != "ok":
                break
            if f.alpha + thresh < raw.alpha:
                return FingerFit(f, raw, k)
            if f.alpha <= _MIN_ALPHA:
                break
    return FingerFit(raw, raw, 0)
