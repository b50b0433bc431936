"""Fits of an ESD: the power-law tail (Clauset-Shalizi-Newman), the truncated power law and the
Marchenko-Pastur bulk.
"""

from __future__ import annotations

from .._choices import FINGER_MODES, TAIL_FITS
from ._fingers import (
    DEFAULT_FINGER_THRESH,
    DEFAULT_MAX_FINGERS,
    FingerFit,
    clip_fingers,
    xmin_peak_range,
)
from ._ks import (
    KSConvention,
)
from ._mp_bulk import (
    MIN_SLICE_EVALS,
    POOLED_KS_FLOOR,
    POOLED_KS_SCALED_MAX,
    SPIKE_LEVEL,
    TW1_Q99,
    MPFit,
    fit_mp_bulk,
    mp_ks_max,
    mp_ks_scale,
    spike_margin,
    tracy_widom_scale,
)
from ._powerlaw import (
    fit_powerlaw,
    powerlaw_ccdf,
    powerlaw_pdf,
)
from ._results import (
    DEFAULT_ALPHA_RANGE,
    DEFAULT_MIN_TAIL,
    PowerLawBoundWarning,
    PowerLawFit,
    TruncatedPowerLawFit,
)
from ._tail import (
    TailFit,
    fit_tail,
)
from ._truncated import (
    fit_truncated_powerlaw,
    truncated_powerlaw_cdf,
    truncated_powerlaw_ks,
    truncated_powerlaw_pdf,
)

__all__ = [
    "DEFAULT_ALPHA_RANGE",
    "DEFAULT_FINGER_THRESH",
    "DEFAULT_MAX_FINGERS",
    "FINGER_MODES",
    "FingerFit",
    "TAIL_FITS",
    "TailFit",
    "clip_fingers",
    "fit_tail",
    "truncated_powerlaw_cdf",
    "truncated_powerlaw_ks",
    "xmin_peak_range",
    "DEFAULT_MIN_TAIL",
    "KSConvention",
    "MIN_SLICE_EVALS",
    "POOLED_KS_FLOOR",
    "POOLED_KS_SCALED_MAX",
    "SPIKE_LEVEL",
    "MPFit",
    "PowerLawBoundWarning",
    "PowerLawFit",
    "TW1_Q99",
    "TruncatedPowerLawFit",
    "fit_mp_bulk",
    "mp_ks_max",
    "mp_ks_scale",
    "fit_powerlaw",
    "fit_truncated_powerlaw",
    "powerlaw_ccdf",
    "powerlaw_pdf",
    "spike_margin",
    "tracy_widom_scale",
    "truncated_powerlaw_pdf",
]
