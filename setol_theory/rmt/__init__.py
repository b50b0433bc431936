"""Random-matrix theory: spectral models (Stieltjes and R-transforms), free probability and HCIZ
integrals.
"""

from __future__ import annotations

from ._base import (
    real_branch_domain,
)
from ._classical import (
    FreeCauchy,
    LevyPowerLaw,
    MultiplicativeWishart,
    Wigner,
    q2_levy_paper,
)
from ._convolution import (
    FreeAdditiveConvolution,
    free_additive_convolution,
    haar_orthogonal,
    sample_free_sum,
)
from ._cumulants import (
    free_cumulants_to_moments,
    integrated_r,
    moments_to_free_cumulants,
)
from ._empirical import (
    EmpiricalSpectrum,
)
from ._hciz_asymptotic import (
    ConvergenceResult,
    asymptotic_convergence,
    critical_coupling,
    hciz_lowrank_asymptotic,
    paper_gamma_inf,
    spherical_integral_asymptotic,
    spherical_integral_rate,
)
from ._hciz_exact import (
    DEFAULT_COINCIDENCE_RTOL,
    DEFAULT_MAX_DPS,
    SpectralModel,
    hciz_exact_unitary,
    log_hciz_exact_unitary,
    log_spherical_integral_exact,
    spherical_integral_exact_orthogonal,
    spherical_integral_exact_unitary,
)
from ._hciz_mc import (
    MCEstimate,
    haar_matrices,
    hciz_mc,
    log_mean_exp,
    spherical_integral_mc,
)
from ._mp import (
    InverseMarchenkoPastur,
    MarchenkoPastur,
)
from ._stieltjes import (
    Branch,
    as_upper,
    inverse_stieltjes,
    r_from_stieltjes,
    stieltjes_density,
    stieltjes_samples,
)
from ._tpl import (
    TruncatedPowerLaw,
    bare_power_law_stieltjes,
)

__all__ = [
    "Branch",
    "ConvergenceResult",
    "DEFAULT_COINCIDENCE_RTOL",
    "DEFAULT_MAX_DPS",
    "EmpiricalSpectrum",
    "FreeAdditiveConvolution",
    "FreeCauchy",
    "InverseMarchenkoPastur",
    "LevyPowerLaw",
    "MCEstimate",
    "MarchenkoPastur",
    "MultiplicativeWishart",
    "SpectralModel",
    "TruncatedPowerLaw",
    "Wigner",
    "as_upper",
    "asymptotic_convergence",
    "bare_power_law_stieltjes",
    "critical_coupling",
    "free_additive_convolution",
    "free_cumulants_to_moments",
    "haar_matrices",
    "haar_orthogonal",
    "hciz_exact_unitary",
    "hciz_lowrank_asymptotic",
    "hciz_mc",
    "integrated_r",
    "inverse_stieltjes",
    "log_hciz_exact_unitary",
    "log_mean_exp",
    "log_spherical_integral_exact",
    "moments_to_free_cumulants",
    "paper_gamma_inf",
    "q2_levy_paper",
    "r_from_stieltjes",
    "real_branch_domain",
    "sample_free_sum",
    "spherical_integral_asymptotic",
    "spherical_integral_exact_orthogonal",
    "spherical_integral_exact_unitary",
    "spherical_integral_mc",
    "spherical_integral_rate",
    "stieltjes_density",
    "stieltjes_samples",
]
