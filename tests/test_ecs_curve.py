"""setol quality --esd FILE --curve ecs: log10 Q of an ESD as a function of the ECS edge."""

from __future__ import annotations

import json

import numpy as np
import pytest

from setol_theory.cli import main
from setol_theory.quality import ECSError, ecs_curve, layer_quality


@pytest.fixture(scope="module")
def esd():
    W = np.random.default_rng(0).standard_t(3, size=(400, 200))
    return np.linalg.eigvalsh(W.T @ W / 400)


def test_marked_edges_equal_the_layer_quality_of_both_rules(esd):
    c = ecs_curve(esd, name="t")
    marks = {c.marker(i): i for i in range(c.lambda_min.size) if c.marker(i)}
    assert set(marks) == {"xmin", "detX"}
    for rule, tag in (("xmin", "xmin"), ("detx", "detX")):
        ref = layer_quality(esd, ecs=rule, alpha=c.alpha)
        i = marks[tag]
        assert c.lambda_min[i] == ref.ecs.lambda_min
        assert c.num_ecs[i] == ref.ecs.num_ecs
        for m, mq in ref.models.items():
            got = c.log10_q[m][i]
            assert (np.isnan(got) and mq.log10_q is None) or got == mq.log10_q
    # every edge is an eigenvalue, the ECS grows along the curve and is lambda >= lambda_min
    assert np.all(np.isin(c.lambda_min, esd))
    assert np.all(np.diff(c.num_ecs) > 0)
    np.testing.assert_array_equal(c.num_ecs, (esd >= c.lambda_min[:, None]).sum(axis=1))
    # at an interior edge the quality is that of the ECS lambda >= lambda_min
    j = c.lambda_min.size // 2
    ref = layer_quality(esd, ecs=float(c.lambda_min[j]), alpha=c.alpha, models=["bs", "emp"])
    assert c.log10_q["bs"][j] == ref.models["bs"].log10_q
    assert c.log10_q["emp"][j] == ref.models["emp"].log10_q


def test_too_few_eigenvalues():
    with pytest.raises(ECSError, match="fewer than min_ecs"):
        ecs_curve(np.array([0.0, 1.0, 2.0]))


def test_cli_table_json_and_figure(esd, tmp_path, capsys):
    f = tmp_path / "esd.npy"
    np.save(f, esd * 400)  # WᵀW scale, as WeightWatcher's get_ESD
    out = tmp_path / "c.json"
    rc = main(["quality", "--esd", str(f), "--curve", "ecs", "--json", str(out),
               "--plot", str(tmp_path / "figs"), "--models", "bs,imp"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "log10 Q vs the ECS edge" in text and "xmin" in text and "detX" in text
    data = json.loads(out.read_text())
    (curve,) = data["curves"]
    ref = ecs_curve(esd * 400, models=["bs", "imp"])
    assert [r["log10_q_bs"] for r in curve["rows"]] == [r["log10_q_bs"] for r in ref.rows()]
    # quality is scale-free: the same curve as on the X = WᵀW/N scale, edges 400x
    x = ecs_curve(esd, models=["bs", "imp"])
    np.testing.assert_allclose([r["lambda_min"] for r in curve["rows"]], 400 * x.lambda_min,
                               rtol=1e-12)
    np.testing.assert_allclose([r["log10_q_imp"] for r in curve["rows"]], x.log10_q["imp"],
                               rtol=1e-9)
    assert (tmp_path / "figs" / "ecs_curve_esd.png").stat().st_size > 10_000


def test_cli_ecs_curve_needs_esd(capsys):
    assert main(["quality", "--curve", "ecs"]) != 0
    assert "--curve ecs takes the eigenvalues from --esd FILE" in capsys.readouterr().err
