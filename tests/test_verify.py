"""`setol verify`: the checks pass on the library and catch a broken formula."""

import dataclasses

import numpy as np
import pytest

from setol_theory import rmt as dens
from setol_theory import verify as V
from setol_theory.verify import _models as verify_models


def test_verify_small_run_passes_and_reports_every_kind_of_check(tmp_path):
    rep = V.verify(["mp", "imp", "levy"], n=256, seeds=3, plot_dir=tmp_path)
    assert rep.ok, rep.table()
    kinds = {c.check.split(":")[0].split(" ")[0] for c in rep.checks}
    assert {"sympy", "G(R(w)", "moments", "MC", "d/dx"} <= kinds
    assert {"mp", "imp"} <= set(rep.convergence)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "verify_imp.png", "verify_levy.png", "verify_mp.png"]
    assert "passed, 0 failed" in rep.table()


def test_verify_detects_a_wrong_stieltjes_transform(monkeypatch):
    """A G off by 5% must fail the sympy, identity and Monte Carlo checks (the MC tolerance
    at n = 256 is 5/256 ~ 2%)."""

    @dataclasses.dataclass(frozen=True)
    class BrokenMP(dens.MarchenkoPastur):
        def _stieltjes(self, z):
            return 1.05 * super()._stieltjes(z)

    real_spec = V.model_spec

    def spec(name):
        s = real_spec(name)
        if name == "mp":
            s = dataclasses.replace(s, model=BrokenMP(s.model.q, s.model.sigma2))
        return s

    monkeypatch.setattr(verify_models, "model_spec", spec)
    rep = V.verify(["mp"], n=256, seeds=2)
    failed = {c.check for c in rep.checks if not c.passed}
    assert not rep.ok
    assert "sympy: stieltjes = G" in failed
    assert "G(R(w) + 1/w) = w" in failed
    assert any(c.startswith("MC G at") for c in failed)


def test_mc_error_decays_like_one_over_n():
    rep = V.verify(["wigner"], n=512, seeds=4, sympy=False)
    conv = rep.convergence["wigner"]
    assert -1.3 <= conv["slope_G"] <= -0.7
    assert np.all(np.diff(conv["err_G"]) < 0) or conv["slope_G"] < -0.7


@pytest.mark.parametrize("kw,msg", [(dict(models=["nope"]), "unknown model"),
                                    (dict(n=10), "n must be"), (dict(seeds=0), "seeds")])
def test_verify_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        V.verify(**kw)


def test_cli_verify_exit_codes(tmp_path, capsys, monkeypatch):
    import json

    from setol_theory.cli import main

    js = tmp_path / "v.json"
    assert main(["verify", "--model", "levy", "--model", "mw", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "passed, 0 failed" in out
    assert {r["model"] for r in json.loads(js.read_text())["checks"]} == {"levy", "mw"}
    assert main(["verify", "--model", "bogus"]) == 1
    assert "unknown model" in capsys.readouterr().err
    # a failing check gives exit status 1
    real = V.verify

    def failing(*a, **k):
        rep = real(*a, **k)
        rep.checks.append(V.Check("x", "forced failure", 1.0, 0.0, False))
        return rep

    monkeypatch.setattr(V, "verify", failing)
    assert main(["verify", "--model", "levy"]) == 1


def test_verify_hciz_checks_pass_and_plot(tmp_path):
    rep = V.verify(["hciz"], plot_dir=tmp_path)
    assert rep.ok, rep.table()
    assert len(rep.checks) == 10
    assert any(c["phase"] == "super-critical" for c in rep.hciz.values())
    assert (tmp_path / "verify_hciz.png").exists()


def test_cli_verify_gpu_checks_on_torch_cpu_and_clear_error_without_cuda(capsys):
    torch = pytest.importorskip("torch", reason="the torch-cpu checks need torch (setol[torch])")

    from setol_theory.cli import main

    assert main(["verify", "--model", "levy", "--gpu", "torch-cpu"]) == 0
    assert "torch:cpu" in capsys.readouterr().out
    if not torch.cuda.is_available():
        assert main(["verify", "--model", "levy", "--gpu"]) == 1
        assert "no CUDA device" in capsys.readouterr().err
