r"""Monte Carlo of Gibbs learning in the teacher-student perceptron (numba, with a numpy reference).

Design: docs/simulations.md, "Monte Carlo of Gibbs learning"; model: the teacher-student
perceptron of arXiv:2507.17912 Sec. 4.3 and [EVdB2001] ch. 2 (docs/references.md).
The student ``J`` is
sampled from ``p(J) ~ prior(J) exp(-E(J)/T)`` over the spherical (``|J|^2 = N``) or Ising
(``J_i = +-1``) prior, for a data set ``xi_mu ~ N(0, I_N)``, ``mu = 1..P``, labelled by a
teacher ``B`` of the same prior.  Energies: number of training errors (Boolean output,
``y = sgn(B . xi)``) or ``1/2 sum_mu (h_mu - y_mu)^2`` (linear output, ``y = B . xi / sqrt N``),
with fields ``h = J . xi / sqrt N``.

The package is split by concept (private modules; import the public names from here):

* ``_problem`` -- input checks (:func:`check_sizes`), one data set :class:`PerceptronProblem`
  and :func:`make_problem`;
* ``_chains`` -- the Monte Carlo engine: numba Metropolis chains :func:`run_chains`
  with their traces :class:`ChainTraces`, and the numpy reference :func:`run_chain_reference`
  that reproduces them move by move;
* ``_stats`` -- autocorrelation time :func:`tau_int` and blocking error :func:`blocking_stderr`
  (Sokal 1997 [Sok1997]; Flyvbjerg & Petersen 1989 [FP1989]);
* ``_point`` -- one ``(N, load, T)`` point over many data sets, two starts per data set,
  equilibration check and error bars: :func:`simulate_point`, :class:`PerceptronPoint`
  (docs/simulations.md, "Monte Carlo of Gibbs learning");
* ``_finite_size`` -- the ``1/N`` extrapolation :func:`extrapolate_finite_size`,
  :class:`FiniteSizeFit` (docs/simulations.md, "Spherical student").

The import graph is ``_problem <- _chains <- _point`` with ``_stats`` (``<- _point``) and
``_finite_size`` beside them (no cycles; the private modules never import this ``__init__``).

References
----------
A. Engel and C. Van den Broeck, *Statistical Mechanics of Learning* (CUP 2001), ch. 2-4, 7.
H. S. Seung, H. Sompolinsky and N. Tishby, Phys. Rev. A 45, 6056 (1992).
"""

from __future__ import annotations

from ._chains import DRIFT_TOLERANCE, MOVERS, ChainTraces, run_chain_reference, run_chains
from ._finite_size import FiniteSizeFit, extrapolate_finite_size
from ._point import PerceptronPoint, simulate_point
from ._problem import PerceptronProblem, check_sizes, make_problem
from ._stats import blocking_stderr, extension_length, tau_int, tau_int_pooled

__all__ = [
    "PerceptronProblem",
    "make_problem",
    "ChainTraces",
    "run_chains",
    "run_chain_reference",
    "extension_length",
    "tau_int",
    "tau_int_pooled",
    "blocking_stderr",
    "PerceptronPoint",
    "simulate_point",
    "FiniteSizeFit",
    "extrapolate_finite_size",
    "check_sizes",
    "DRIFT_TOLERANCE",
    "MOVERS",
]
