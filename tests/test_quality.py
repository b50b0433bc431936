"""ECS / TraceLog (detX) / ERG quantities (theory.md 1.2 and 4.4)."""

import math

import numpy as np
import pytest

from setol_theory.quality import (
    detx_lambda_min,
    erg_metrics,
    erg_residual,
    rescale_frobenius_M,
    tracelog_partial_sums,
)

SPEC = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.1])  # theory.md 4.4 test spectrum


def test_partial_sums_of_spec_example():
    desc, S = tracelog_partial_sums(SPEC[::-1])
    np.testing.assert_array_equal(desc, SPEC)
    np.testing.assert_allclose(S[:5], np.log([4, 8, 8, 4, 1]), atol=1e-15)


def test_closest_rule_spec_example():
    d = detx_lambda_min(SPEC, rule="closest", normalization="none")
    assert (d.num_ecs, d.lambda_min, d.crossed) == (5, 0.25, True)
    assert d.residual == pytest.approx(0.0, abs=1e-15)


def test_first_below_rule_spec_example():
    """The reference tool stops at the first k whose product is < 1 (strictly)."""
    d = detx_lambda_min(SPEC, rule="first_below", normalization="none")
    assert (d.num_ecs, d.lambda_min) == (6, 0.1)
    assert d.residual == pytest.approx(math.log(0.1), rel=1e-14)


def test_scaling_moves_the_cutoff_without_rescaling_but_not_with_it():
    a = detx_lambda_min(SPEC, rule="closest", normalization="none")
    b = detx_lambda_min(2 * SPEC, rule="closest", normalization="none")
    assert b.num_ecs != a.num_ecs
    c = detx_lambda_min(SPEC, normalization="frobenius_M")
    d = detx_lambda_min(7.5 * SPEC, normalization="frobenius_M")
    assert c.num_ecs == d.num_ecs
    assert d.lambda_min == pytest.approx(7.5 * c.lambda_min, rel=1e-14)


def test_no_crossing():
    d = detx_lambda_min([5.0, 3.0, 2.0], normalization="none")
    assert not d.crossed and d.num_ecs == 3 and d.lambda_min == 2.0


def test_rescale_and_residual_against_direct_sum():
    rng = np.random.default_rng(0)
    x = rng.pareto(2.0, 500) + 0.01
    r, f = rescale_frobenius_M(x)
    assert r.sum() == pytest.approx(x.size, rel=1e-13)
    cut = np.quantile(x, 0.8)
    direct = np.sum(np.log(f * x[x >= cut]))
    assert erg_residual(x, cut) == pytest.approx(direct, rel=1e-13)
    d = detx_lambda_min(x)
    # the condition holds at the detX edge: S_{k-1} >= 0 > S_k for the first_below rule
    assert erg_residual(x, d.lambda_min) < 0
    assert erg_residual(x, np.sort(x)[::-1][d.num_ecs - 2]) >= 0


def test_erg_metrics_gap_sign():
    """A heavy tail (Pareto, alpha = 1 + mu) whose PL xmin is above the detX edge: gap > 0."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(0.05, 1.0, 800), 1.0 + rng.pareto(2.5, 200)])
    m = erg_metrics(x, xmin=1.0)
    assert m.erg_gap == pytest.approx(1.0 - m.erg_lambda_min, rel=1e-15)
    assert m.num_tail_pl == int(np.sum(x >= 1.0))


@pytest.mark.parametrize("bad,exc", [([], ValueError), ([1.0, np.nan], ValueError),
                                     ([1.0, -1.0], ValueError), (["a"], TypeError)])
def test_bad_spectra(bad, exc):
    with pytest.raises(exc, match="evals"):
        detx_lambda_min(np.array(bad))


def test_bad_options():
    with pytest.raises(ValueError, match="rule"):
        detx_lambda_min(SPEC, rule="nope")
    with pytest.raises(ValueError, match="normalization"):
        detx_lambda_min(SPEC, normalization="N")
