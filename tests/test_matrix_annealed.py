"""Matrix annealed Hamiltonian (arXiv:2507.17912, appendix on the annealed Hamiltonian, matrix
case; docs/simulations.md, "Matrix annealed Hamiltonian"): its ``M = 1`` reduction to the
vector form (SST92 eq. C6) to 1e-12, the closed form against a Monte Carlo average over
Gaussian data (4 standard errors), the large-``M`` limit at its ``O(beta^2/M)`` rate, and the
paper's trace form (exact only at ``M = 1``)."""

from __future__ import annotations

import numpy as np
import pytest

from setol_theory import statmech as sm
from simulations.matrix_annealed import annealed_hamiltonian_mc, overlap_matrix


@pytest.mark.parametrize("beta", [0.1, 1.0, 7.5])
@pytest.mark.parametrize("R", [-0.9, 0.0, 0.3, 0.999])
def test_m1_reduces_to_vector_form(R, beta):
    vec = sm.annealed_potential(R, 1.0 / beta, "linear")
    assert abs(sm.matrix_annealed_hamiltonian([[R]], beta) - vec) < 1e-12
    assert abs(sm.matrix_annealed_hamiltonian(R, beta) - 0.5 * np.log1p(2 * beta * (1 - R))) \
        < 1e-12
    assert abs(sm.matrix_annealed_trace_form(R, beta) - vec) < 1e-12


@pytest.mark.parametrize("M", [3, 10])
def test_closed_form_matches_monte_carlo_over_data(M):
    rng = np.random.default_rng(M)
    R = 0.4 * rng.standard_normal((M, M)) / np.sqrt(M) + 0.3 * np.eye(M)  # not symmetric
    beta = 1.5
    mc, se = annealed_hamiltonian_mc(R, beta, n_data=200_000, seed=7)
    assert abs(mc - sm.matrix_annealed_hamiltonian(R, beta)) < 4 * se
    # the symmetric part alone enters
    assert sm.matrix_annealed_hamiltonian(R, beta) == pytest.approx(
        sm.matrix_annealed_hamiltonian(0.5 * (R + R.T), beta), abs=1e-13)


def test_large_m_limit_rate():
    beta = 2.0
    prev = None
    for M in (16, 64, 256):
        r = np.linspace(-0.5, 0.9, M)
        R = overlap_matrix(M, r, seed=1)
        gap = sm.matrix_annealed_large_m(R, beta) - sm.matrix_annealed_hamiltonian(R, beta)
        # second order of 1/2 sum ln(1 + x_i): M * gap -> beta^2 mean((1 - r)^2)
        assert M * gap == pytest.approx(beta**2 * np.mean((1 - r) ** 2), rel=4.0 * beta / M)
        if prev is not None:
            assert gap < prev / 3.0
        prev = gap


def test_trace_form_differs_from_exact_beyond_m1():
    R = overlap_matrix(64, 0.0, seed=2)
    ex = sm.matrix_annealed_hamiltonian(R, 2.0)
    assert abs(sm.matrix_annealed_trace_form(R, 2.0) - ex) > 0.5
    assert sm.matrix_annealed_hamiltonian(R, 0.0) == 0.0


def test_undefined_when_the_data_average_diverges():
    with pytest.raises(ValueError, match="diverges"):
        sm.matrix_annealed_hamiltonian([[3.0]], 1.0)  # 1 + 2(1 - 3) < 0
    with pytest.raises(ValueError, match="square"):
        sm.matrix_annealed_hamiltonian(np.ones((2, 3)), 1.0)
    with pytest.raises(ValueError, match="beta"):
        sm.matrix_annealed_hamiltonian(0.5, -1.0)
