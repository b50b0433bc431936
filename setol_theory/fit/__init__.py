"""Fits of an ESD: the power-law tail (Clauset-Shalizi-Newman), the truncated power law and the
Marchenko-Pastur bulk.
"""

from __future__ import annotations

from ._ks import (
    KSConvention,
)
from ._mp_bulk import (
    TW1_Q99,
    MPFit,
    fit_mp_bulk,
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
from ._truncated import (
    fit_truncated_powerlaw,
    truncated_powerlaw_pdf,
)

__all__ = [
    "DEFAULT_ALPHA_RANGE",
    "DEFAULT_MIN_TAIL",
    "KSConvention",
    "MPFit",
    "PowerLawBoundWarning",
    "PowerLawFit",
    "TW1_Q99",
    "TruncatedPowerLawFit",
    "fit_mp_bulk",
    "fit_powerlaw",
    "fit_truncated_powerlaw",
    "powerlaw_ccdf",
    "powerlaw_pdf",
    "tracy_widom_scale",
    "truncated_powerlaw_pdf",
]
