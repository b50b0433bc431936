"""Learning curves: the annealed, replica-symmetric and high-temperature generalization error vs
load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._annealed import (
    _PRIORS,
    _check_choice,
    _check_T,
    _loads,
    annealed_point,
    generalization_error,
    high_temperature_point,
)
from ._rs import IsingTransition, RSPoint, _ising_poor, _perfect, gibbs_rs_point, ising_transition

Array = NDArray[np.float64]

Prior = Literal["spherical", "ising"]

Output = Literal["boolean", "linear"]


# --------------------------------------------------------------------------------------------
# curves
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LearningCurve:
    """A learning curve over a grid of loads.

    Attributes
    ----------
    load : ndarray
        ``alpha = P/N`` (``alpha_t = alpha beta`` for ``method == "high_t"``).
    T : float
        Temperature (``inf`` for the high-temperature limit).
    prior, output, method : str
        ``method`` is ``"rs"`` (quenched replica-symmetric Gibbs learning), ``"annealed"`` or
        ``"high_t"``.
    R, q, eps_g, eps_t, free_energy : ndarray
        Thermodynamically stable branch (``q`` is ``nan`` where not defined).
    branch : tuple of str
        Branch label per load.
    R_other, eps_g_other : ndarray
        The other (metastable) branch where it exists, ``nan`` elsewhere (Ising).
    transition : IsingTransition or None
    source : str
        Citation of the equations.
    """

    load: Array
    T: float
    prior: str
    output: str
    method: str
    R: Array
    q: Array
    eps_g: Array
    eps_t: Array
    free_energy: Array
    branch: tuple[str, ...]
    R_other: Array
    eps_g_other: Array
    transition: IsingTransition | None = None
    source: str = ""

    def table(self) -> str:
        """Plain-text table of the curve."""
        lines = [f"{self.method} {self.prior} {self.output} T={self.T:g}  ({self.source})",
                 f"{'load':>9} {'R':>10} {'eps_g':>10} {'eps_t':>10} {'-beta f':>10} branch"]
        for k in range(self.load.size):
            lines.append(f"{self.load[k]:>9.4g} {self.R[k]:>10.6f} {self.eps_g[k]:>10.6f} "
                         f"{self.eps_t[k]:>10.6f} {self.free_energy[k]:>10.5f} "
                         f"{self.branch[k]}")
        if self.transition is not None:
            tr = self.transition
            lines.append(f"transition: load_c = {tr.load_c:.5g}, poor branch ends (spinodal) "
                         f"at {tr.load_spinodal:.5g}")
        return "\n".join(lines)


def _curve(load: Array, T: float, prior: str, output: str, method: str, pts: list,
           other: list, transition: IsingTransition | None, source: str) -> LearningCurve:
    nan = math.nan
    return LearningCurve(
        load=load, T=T, prior=prior, output=output, method=method,
        R=np.array([p.R for p in pts]), q=np.array([getattr(p, "q", nan) for p in pts]),
        eps_g=np.array([p.eps_g for p in pts]), eps_t=np.array([p.eps_t for p in pts]),
        free_energy=np.array([p.free_energy for p in pts]),
        branch=tuple(getattr(p, "branch", "annealed") for p in pts),
        R_other=np.array([o.R if o is not None else nan for o in other]),
        eps_g_other=np.array([o.eps_g if o is not None else nan for o in other]),
        transition=transition, source=source)


def gibbs_learning_curve(load: ArrayLike, T: float, prior: Prior = "spherical"
                         ) -> LearningCurve:
    r"""Quenched replica-symmetric Gibbs learning curve ``eps_g(load; T)``, Boolean output.

    Continuation in ``load`` (each solution starts the next solve, ``T > 0``).  For the Ising
    prior the stable state (poor branch or perfect state, the larger ``-beta f``) is reported
    in ``R``/``eps_g``, the other one (where it exists) in ``R_other``/``eps_g_other``, and the
    transition located by :func:`ising_transition` is attached.  Sources: EVdB
    ch. 2-4, 7; SST92 sec. V; Gyorgyi 1990.

    Parameters
    ----------
    load : array_like
        Loads ``alpha = P/N > 0``.
    T : float
        Temperature ``>= 0``.
    prior : {"spherical", "ising"}
    """
    _check_choice(prior, "prior", _PRIORS)
    loads = _loads(load)
    T = _check_T(T)
    src = ("EVdB ch. 2-4 (RS Gibbs learning), SST92 sec. V" if prior == "spherical" else
           "EVdB sec. 7.2, Gyorgyi 1990 (RS, binary weights)")
    sol: list[RSPoint | None] = [None] * loads.size
    guess = None
    for k in np.argsort(loads):
        a = float(loads[k])
        if prior == "spherical":
            p: RSPoint | None = gibbs_rs_point(a, T, prior, guess=guess)
            if T > 0.0 and p is not None and not p.converged:
                p = gibbs_rs_point(a, T, prior)
        else:
            p = _ising_poor(a, T, guess)
            if p is not None and guess is not None and T > 0.0 and p.R < guess[0] - 1e-9:
                p = _ising_poor(a, T, None)  # continuation jumped to the unstable root
        sol[k] = p
        guess = (p.R, p.q) if p is not None and T > 0.0 else None
    if prior == "spherical":
        bad = [float(loads[k]) for k in range(loads.size)
               if sol[k] is None or not sol[k].converged]  # type: ignore[union-attr]
        if bad:
            raise RuntimeError(f"RS solver did not converge at loads {bad}")
        return _curve(loads, T, prior, "boolean", "rs", sol, [None] * loads.size, None, src)
    pts, other = [], []
    for k in range(loads.size):
        poor, perfect = sol[k], _perfect(float(loads[k]), T)
        if poor is not None and poor.free_energy > 0.0:
            pts.append(poor)
            other.append(perfect)
        else:
            pts.append(perfect)
            other.append(poor)
    return _curve(loads, T, prior, "boolean", "rs", pts, other, ising_transition(T), src)


def annealed_learning_curve(load: ArrayLike, T: float, prior: Prior = "spherical",
                            output: Output = "boolean") -> LearningCurve:
    """Annealed-approximation learning curve (:func:`annealed_point` per load; SST92)."""
    loads = _loads(load)
    pts = [annealed_point(float(a), T, prior, output) for a in loads]
    other = []
    for p in pts:
        rest = [r for r in p.local_maxima if abs(r - p.R) > 1e-6]
        if prior == "ising" and p.R < 1.0 and not rest:
            rest = [1.0]
        other.append(None if not rest else _AnnealedOther(
            rest[-1], float(generalization_error(rest[-1], output))))
    return _curve(loads, float(T), prior, output, "annealed", pts, other, None,
                  "SST92 sec. II.D eq. (2.31)")


def high_temperature_curve(load_t: ArrayLike, prior: Prior = "spherical",
                           output: Output = "boolean") -> LearningCurve:
    """High-temperature learning curve vs ``load_t = load * beta`` (SST92 sec. III)."""
    loads = _loads(load_t, "load_t")
    pts = [high_temperature_point(float(a), prior, output) for a in loads]
    other = []
    for p in pts:
        rest = [r for r in p.local_maxima if abs(r - p.R) > 1e-6]
        if prior == "ising" and output == "boolean" and p.R < 1.0:
            rest = [1.0]
        other.append(None if not rest else _AnnealedOther(
            rest[-1], float(generalization_error(rest[-1], output))))
    return _curve(loads, math.inf, prior, output, "high_t", pts, other, None,
                  "SST92 sec. III; EVdB ch. 4")


@dataclass(frozen=True)
class _AnnealedOther:
    R: float
    eps_g: float


def gibbs_asymptote_constant(load: float = 1e3) -> float:
    """``load * eps_g`` of spherical T = 0 Gibbs learning at a large load (EVdB: ~0.625)."""
    return load * gibbs_rs_point(load, 0.0, "spherical").eps_g

