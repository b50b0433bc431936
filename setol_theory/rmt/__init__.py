"""Random-matrix theory: spectral models (Stieltjes and R-transforms), free probability and HCIZ
integrals.

The names are imported from their submodules on first use (PEP 562), so that a module needing
only the Marchenko-Pastur law (the HTSR analysis path) does not load the HCIZ integrals
(mpmath, scipy.optimize, scipy.special) or the quadratures (scipy.integrate).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the static view of the lazy names below
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
    from ._tracy_widom import (
        tracy_widom1_cdf,
        tracy_widom1_quantile,
    )

#: public name -> submodule of this package that defines it
_LAZY = {
    "Branch": "_stieltjes",
    "ConvergenceResult": "_hciz_asymptotic",
    "DEFAULT_COINCIDENCE_RTOL": "_hciz_exact",
    "DEFAULT_MAX_DPS": "_hciz_exact",
    "EmpiricalSpectrum": "_empirical",
    "FreeAdditiveConvolution": "_convolution",
    "FreeCauchy": "_classical",
    "InverseMarchenkoPastur": "_mp",
    "LevyPowerLaw": "_classical",
    "MCEstimate": "_hciz_mc",
    "MarchenkoPastur": "_mp",
    "MultiplicativeWishart": "_classical",
    "SpectralModel": "_hciz_exact",
    "TruncatedPowerLaw": "_tpl",
    "Wigner": "_classical",
    "as_upper": "_stieltjes",
    "asymptotic_convergence": "_hciz_asymptotic",
    "bare_power_law_stieltjes": "_tpl",
    "critical_coupling": "_hciz_asymptotic",
    "free_additive_convolution": "_convolution",
    "free_cumulants_to_moments": "_cumulants",
    "haar_matrices": "_hciz_mc",
    "haar_orthogonal": "_convolution",
    "hciz_exact_unitary": "_hciz_exact",
    "hciz_lowrank_asymptotic": "_hciz_asymptotic",
    "hciz_mc": "_hciz_mc",
    "integrated_r": "_cumulants",
    "inverse_stieltjes": "_stieltjes",
    "log_hciz_exact_unitary": "_hciz_exact",
    "log_mean_exp": "_hciz_mc",
    "log_spherical_integral_exact": "_hciz_exact",
    "moments_to_free_cumulants": "_cumulants",
    "paper_gamma_inf": "_hciz_asymptotic",
    "q2_levy_paper": "_classical",
    "r_from_stieltjes": "_stieltjes",
    "real_branch_domain": "_base",
    "sample_free_sum": "_convolution",
    "spherical_integral_asymptotic": "_hciz_asymptotic",
    "spherical_integral_exact_orthogonal": "_hciz_exact",
    "spherical_integral_exact_unitary": "_hciz_exact",
    "spherical_integral_mc": "_hciz_mc",
    "spherical_integral_rate": "_hciz_asymptotic",
    "stieltjes_density": "_stieltjes",
    "stieltjes_samples": "_stieltjes",
    "tracy_widom1_cdf": "_tracy_widom",
    "tracy_widom1_quantile": "_tracy_widom",
}

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
    "tracy_widom1_cdf",
    "tracy_widom1_quantile",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
