"""Goodness of fit of a layer's power-law tail and the plain verdict with its reason.

The likelihood-ratio tests and the bootstrap are :mod:`setol_theory.fit._gof`'s
([CSN2009] Sec. 4.1 and 5); this module runs them on a layer's tail and turns them into one
verdict (docs/htsr.md, "Goodness of fit and verdict").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import PowerLawBoundWarning
from ..fit import PowerLawFit, TruncatedPowerLawFit
from ..fit._gof import bootstrap_pvalue, compare_alternatives

Array = NDArray[np.float64]

_NAN = float("nan")

#: Smallest tail that is graded: below it the tests have no power and any exponent fits.
MIN_GRADED_TAIL: int = 20
#: Largest share of the spectrum a graded tail may cover: a "tail" that is most of the ESD
#: (a Gaussian 100 x 10 layer's whole spectrum) is the bulk, not a heavy tail.
MAX_TAIL_FRACTION: float = 0.5
#: Significance level of the tests (CSN: p < 0.1 rules the power law out).
P_LEVEL: float = 0.1

#: The verdicts, in the order they are decided.
VERDICTS: tuple[str, ...] = ("no fit", "tail too short", "tail is the bulk", "not tested",
                             "power law ruled out", "not heavy-tailed", "lognormal favoured",
                             "truncated power law favoured", "no better alternative",
                             "power law plausible")


@dataclass(frozen=True)
class GoodnessOfFit:
    """Goodness of fit of one layer's power-law tail (columns of the per-layer record)."""

    lr_lognormal: float = _NAN
    lr_lognormal_p: float = _NAN
    lr_exponential: float = _NAN
    lr_exponential_p: float = _NAN
    lr_tpl: float = _NAN
    lr_tpl_p: float = _NAN
    pl_bootstrap_p: float = _NAN
    verdict: str = "no fit"
    verdict_reason: str = ""


def goodness_of_fit(evals: Array, fit: PowerLawFit, *, lr: bool = True, tpl: bool = False,
                    bootstrap: int = 0, seed: int | None = 0,
                    tpl_fit: TruncatedPowerLawFit | None = None,
                    refit: Callable[[Array], PowerLawFit] | None = None) -> GoodnessOfFit:
    """Likelihood-ratio tests (and, with ``bootstrap > 0``, the CSN p-value) of ``fit`` on
    the positive eigenvalues ``evals``, and the verdict.

    The verdict is decided in the order of :data:`VERDICTS`: ``"no fit"`` (the fit failed),
    ``"tail too short"`` (fewer than :data:`MIN_GRADED_TAIL` eigenvalues), ``"tail is the
    bulk"`` (more than :data:`MAX_TAIL_FRACTION` of the spectrum), ``"not tested"`` (a fit
    with ``xmax``: the tests assume an untruncated law), ``"power law ruled out"``
    (bootstrap p < 0.1), then the first alternative favoured at p < 0.1 (exponential:
    ``"not heavy-tailed"``; lognormal; truncated power law), else ``"power law plausible"``
    when the bootstrap ran and passed (CSN's word for ``p >= 0.1``) and ``"no better
    alternative"`` without the bootstrap: the likelihood-ratio tests compare the power law with
    other laws, they do not say that it fits (a large KS distance can pass them all).
    The tests are not run on a tail that is not graded. ``tpl_fit``, the truncated power
    law already fitted on this tail (``fit="tpl"``), turns the test against it on and is
    reused. ``refit`` (``values -> PowerLawFit``) is how the bootstrap refits its samples
    (default: :func:`setol_theory.fit.fit_powerlaw` with the fit's ``min_tail`` and ``ks``);
    pass the finger handling used for ``fit``.
    """
    x = np.asarray(evals, dtype=np.float64)
    if fit.status != "ok":
        return GoodnessOfFit(verdict="no fit", verdict_reason=fit.reason)
    n_tail, n = int(fit.n_tail), int(x.size)
    if n_tail < MIN_GRADED_TAIL:
        return GoodnessOfFit(verdict="tail too short", verdict_reason=(
            f"{n_tail} eigenvalues in the tail, fewer than {MIN_GRADED_TAIL}: no test has "
            "power, any exponent fits"))
    if n_tail > MAX_TAIL_FRACTION * n:
        return GoodnessOfFit(verdict="tail is the bulk", verdict_reason=(
            f"the tail holds {n_tail} of {n} eigenvalues ({n_tail / n:.0%}): the fit covers "
            "the bulk, not a heavy tail"))
    if fit.xmax is not None:  # the tests and the bootstrap assume an untruncated power law
        return GoodnessOfFit(verdict="not tested", verdict_reason=(
            f"the fit is truncated at xmax = {fit.xmax:g}: the likelihood-ratio tests and the "
            "bootstrap assume an untruncated power law"))
    cols: dict[str, float] = {}
    parts: list[str] = []
    if bootstrap > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PowerLawBoundWarning)
            p_b = bootstrap_pvalue(x, fit.alpha, fit.xmin, fit.D, replicates=bootstrap,
                                   seed=seed, min_tail=fit.min_tail, ks=fit.ks, fit=refit)
        cols["pl_bootstrap_p"] = p_b
        parts.append(f"bootstrap p = {p_b:.2f} ({bootstrap} replicates)")
    tests = {}
    if lr:
        use_tpl = tpl or tpl_fit is not None
        alts = ("lognormal", "exponential") + (("truncated_power_law",) if use_tpl else ())
        tests = compare_alternatives(x, fit.xmin, fit.alpha, alts, tpl_fit=tpl_fit)
        for name, key in (("lognormal", "lr_lognormal"), ("exponential", "lr_exponential"),
                          ("truncated_power_law", "lr_tpl")):
            t = tests.get(name)
            if t is not None and t.status == "ok":
                cols[key], cols[key + "_p"] = t.R_normalized, t.p
                parts.append(f"vs {name.replace('_', ' ')}: R = {t.R_normalized:+.2f}, "
                             f"p = {t.p:.2g}")
            elif t is not None:
                parts.append(f"vs {name.replace('_', ' ')}: not tested ({t.reason})")
    summary = "; ".join(parts)
    if "pl_bootstrap_p" in cols and cols["pl_bootstrap_p"] < P_LEVEL:
        return GoodnessOfFit(**cols, verdict="power law ruled out", verdict_reason=summary)
    for name, verdict in (("exponential", "not heavy-tailed"),
                          ("lognormal", "lognormal favoured"),
                          ("truncated_power_law", "truncated power law favoured")):
        t = tests.get(name)
        if t is not None and t.favours == name:
            return GoodnessOfFit(**cols, verdict=verdict, verdict_reason=summary)
    bootstrapped = not math.isnan(cols.get("pl_bootstrap_p", _NAN))
    if not parts:
        summary = "no test run"
    elif bootstrapped or tests:
        summary = "no alternative favoured at p < 0.1: " + summary
    if not bootstrapped:
        summary += ("; plausibility not tested (the CSN bootstrap: --bootstrap K); "
                    f"KS D = {fit.D:.3f}")
        return GoodnessOfFit(**cols, verdict="no better alternative", verdict_reason=summary)
    return GoodnessOfFit(**cols, verdict="power law plausible", verdict_reason=summary)
