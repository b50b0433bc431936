"""HCIZ checks of ``setol verify``: exact vs Haar Monte Carlo vs the large-N limit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import rmt as dens
from .. import rmt as hciz
from ._checks import Check

#: Sub-critical large-N convergence: fitted slope of |error| vs N within this of -1 (the
#: quantile spectra are deterministic; the deviation is the O(1/N^2) next order over N=25..200).
HCIZ_SLOPE_MARGIN = 0.15


#: Monte Carlo of HCIZ integrals: |exact - MC| within this many standard errors.
HCIZ_MC_Z = 4.0


def verify_hciz(seed: int = 0, sizes: Sequence[int] = (25, 50, 100, 200)
                ) -> tuple[list[Check], dict[str, Any]]:
    """HCIZ checks (docs/hciz.md): exact vs Haar Monte Carlo, and the large-N limit.

    * exact unitary HCIZ (Harish-Chandra determinant) vs Haar U(3) Monte Carlo, and the exact
      rank-one spherical integrals (beta = 1, 2) vs Monte Carlo: within 4 standard errors;
    * ``(1/N) log I_N(theta)`` of quantile spectra vs the Guionnet-Maida limit
      ``(beta/2) F(2 theta/beta)``: sub-critical error below ``2/N`` with fitted slope
      ``-1 +- 0.15``; super-critical (edge sticking) error, less the edge-gap term, below
      ``1.5 log(N)/N``.
    """

    out: list[Check] = []
    a, b = np.array([0.3, 1.0, 2.0]), np.array([-0.5, 0.2, 1.1])
    ex = hciz.log_hciz_exact_unitary(a, b, 1.0)
    mc = hciz.hciz_mc(a, b, 1.0, beta=2, n_samples=100_000, rng=seed)
    z = abs(mc.zscore(ex))
    out.append(Check("hciz", "exact U(3) HCIZ vs Haar MC", z, HCIZ_MC_Z, z <= HCIZ_MC_Z,
                     "|z-score|, 1e5 samples"))
    spec_a = np.array([-1.0, -0.2, 0.4, 0.9, 1.5])
    for beta in (1, 2):
        ex = hciz.log_spherical_integral_exact(spec_a, 0.8, beta=beta)
        mc = hciz.spherical_integral_mc(spec_a, 0.8, beta=beta, n_samples=100_000, rng=seed)
        z = abs(mc.zscore(ex))
        out.append(Check("hciz", f"rank-one exact vs MC (beta={beta})", z, HCIZ_MC_Z,
                         z <= HCIZ_MC_Z, "|z-score|, N=5, 1e5 samples"))
    conv: dict[str, Any] = {}
    cases = [("semicircle", dens.Wigner(1.0), 0.5, 2), ("MP q=1/2", dens.MarchenkoPastur(0.5),
             0.3, 2), ("semicircle", dens.Wigner(1.0), 0.25, 1),
             ("semicircle", dens.Wigner(1.0), 2.0, 2)]
    for label, model, theta, beta in cases:
        r = hciz.asymptotic_convergence(model, theta, sizes=sizes, beta=beta)
        key = f"{label}, theta={theta:g}, beta={beta}"
        conv[key] = {"sizes": [int(n) for n in r.sizes], "errors": r.errors.tolist(),
                     "edge_terms": r.edge_terms.tolist(), "phase": r.phase, "slope": r.slope}
        N = int(r.sizes[-1])
        if r.phase == "sub-critical":
            err = abs(float(r.errors[-1]))
            out.append(Check("hciz", f"large N {key}", err, 2.0 / N, err <= 2.0 / N,
                             f"N={N}, tol 2/N"))
            d = abs(r.slope + 1.0)
            out.append(Check("hciz", f"error slope {key}", d, HCIZ_SLOPE_MARGIN,
                             d <= HCIZ_SLOPE_MARGIN, f"slope {r.slope:+.3f}, theory -1"))
        else:
            err = abs(float(r.errors[-1] - r.edge_terms[-1]))
            tol = 1.5 * math.log(N) / N
            out.append(Check("hciz", f"large N {key}", err, tol, err <= tol,
                             f"edge sticking, N={N}, tol 1.5 log N/N"))
    return out, conv

