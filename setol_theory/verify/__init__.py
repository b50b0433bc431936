"""``setol verify``: every spectral model against its sympy derivation, identities and Monte Carlo;
HCIZ; CPU-vs-GPU agreement.
"""

from __future__ import annotations

from .._deprecated import moved_names
from ._checks import (
    Check,
    VerifyReport,
)
from ._gpu import (
    LSS_CONSTANT,
    TW_WINDOW,
    Agreement,
    agreement_checks,
    compare_spectra,
    gpu_checks,
    rmt_checks,
)
from ._hciz import (
    HCIZ_MC_Z,
    HCIZ_SLOPE_MARGIN,
    verify_hciz,
)
from ._models import (
    MC_CONSTANT,
    MODELS,
    SLOPE_MARGIN,
    TOL_IDENTITY,
    TOL_NUMERIC_INVERSION,
    ModelSpec,
    model_spec,
    verify,
)

__all__ = [
    "Agreement",
    "Check",
    "HCIZ_MC_Z",
    "HCIZ_SLOPE_MARGIN",
    "LSS_CONSTANT",
    "MC_CONSTANT",
    "MODELS",
    "ModelSpec",
    "SLOPE_MARGIN",
    "TOL_IDENTITY",
    "TOL_NUMERIC_INVERSION",
    "TW_WINDOW",
    "VerifyReport",
    "agreement_checks",
    "compare_spectra",
    "gpu_checks",
    "model_spec",
    "rmt_checks",
    "verify",
    "verify_hciz",
]


# Names that moved out of this package in 0.2 (docs/architecture.md).
__getattr__, __dir__ = moved_names(__name__, {
    "real_branch_domain": "setol_theory.rmt",
})
