"""Analytic statistical mechanics of teacher-student learning: annealed, replica-symmetric and
high-temperature learning curves.
"""

from __future__ import annotations

from ._annealed import (
    AnnealedPoint,
    Output,
    Prior,
    accuracy,
    annealed_landscape,
    annealed_point,
    annealed_potential,
    entropy_ising,
    entropy_spherical,
    generalization_error,
    high_temperature_point,
    overlap_from_error,
    st_quality_high_t,
    version_space_annealed_eps,
)
from ._curves import (
    LearningCurve,
    annealed_learning_curve,
    gibbs_asymptote_constant,
    gibbs_learning_curve,
    high_temperature_curve,
)
from ._matrix import (
    matrix_annealed_hamiltonian,
    matrix_annealed_large_m,
    matrix_annealed_trace_form,
)
from ._rs import (
    IsingTransition,
    RSPoint,
    gibbs_rs_point,
    ising_high_t_transition,
    ising_transition,
    rs_entropy_landscape,
)

__all__ = [
    "Output",
    "Prior",
    "AnnealedPoint",
    "IsingTransition",
    "LearningCurve",
    "RSPoint",
    "accuracy",
    "annealed_landscape",
    "annealed_learning_curve",
    "annealed_point",
    "annealed_potential",
    "entropy_ising",
    "entropy_spherical",
    "generalization_error",
    "gibbs_asymptote_constant",
    "gibbs_learning_curve",
    "gibbs_rs_point",
    "high_temperature_curve",
    "high_temperature_point",
    "matrix_annealed_hamiltonian",
    "matrix_annealed_large_m",
    "matrix_annealed_trace_form",
    "ising_high_t_transition",
    "ising_transition",
    "overlap_from_error",
    "rs_entropy_landscape",
    "st_quality_high_t",
    "version_space_annealed_eps",
]

