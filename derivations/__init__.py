"""Symbolic (sympy) derivations of every closed form the library uses.

One module per result; each exposes ``derive() -> Derivation`` (a small dataclass of sympy
objects plus the names of the consistency checks asserted while deriving) and prints LaTeX
when run as ``python -m derivations.<name>``; ``python -m derivations`` prints them all.

Modules import sympy only (architecture rule); numeric comparison with ``setol_theory`` lives
in ``tests/test_derivations.py``.
"""

from __future__ import annotations

MODULES = (
    "mp_stieltjes_and_r",        # MP: cavity -> quadratic -> G, Blue, R, cumulants, int R
    "semicircle_r",              # Wigner: G, R = sigma^2 w
    "imp_r_transform",           # inverse MP: R from G of the inverse matrix, branch point
    "moment_cumulant",           # moments <-> free cumulants to order 6 (functional eq., NC)
    "multiplicative_wishart_r",  # paper Table 8, MW row: origin (rank-one free Poisson), integrals
    "integrated_r",              # int R for every model of the quality table
    "tpl_cumulants",             # truncated power law: moments, kappa_1,2 (App. A.7), G for alpha=2
)

__all__ = ["MODULES", "derive_all"]


def derive_all() -> dict:
    """Run every derivation; returns ``{module name: Derivation}``."""
    from importlib import import_module

    return {name: import_module(f"derivations.{name}").derive() for name in MODULES}
