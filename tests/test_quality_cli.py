"""`setol quality`: per-layer table, JSON, figures, model-derived curves, one-line errors."""

import json
import math

import numpy as np
import pytest
from conftest import write_safetensors

from setol_theory.cli import main
from setol_theory.pipeline import analyze
from setol_theory.quality import MODELS, layer_quality

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    rng = np.random.default_rng(0)
    return write_safetensors(tmp_path_factory.mktemp("m") / "m.safetensors", {
        "ht.weight": rng.standard_t(2.5, size=(300, 120)).astype(np.float32),  # alpha > 2
        "vht.weight": rng.standard_t(1.2, size=(240, 80)).astype(np.float32),  # alpha < 2
        "g.weight": rng.normal(size=(400, 120)).astype(np.float32),
        "tiny.weight": rng.normal(size=(10, 3)).astype(np.float32),  # filtered
    })


@pytest.fixture(scope="module")
def small_run(small_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("q")
    js, plots = out / "q.json", out / "plots"
    rc = main(["quality", str(small_model), "--json", str(js), "--plot", str(plots), "--quiet"])
    return rc, json.loads(js.read_text()), plots


def _err(capsys):
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert "Traceback" not in cap.err and len(lines) == 1, cap.err
    return lines[0]


def test_json_records(small_run, small_model):
    rc, data, _ = small_run
    assert rc == 0
    layers = {r["name"]: r for r in data["layers"]}
    assert list(layers) == ["ht.weight", "vht.weight", "g.weight", "tiny.weight"]
    assert layers["tiny.weight"]["status"] == "filtered" and "quality" not in layers["tiny.weight"]
    assert data["settings"]["ecs"] == "detx" and data["settings"]["scale"] == "frobenius_M"
    ref = analyze(small_model, traps=False, keep_evals=True, min_evals=10)
    for m in ref.analysed:
        r = layers[m.name]
        assert r["status"] == "ok" and r["alpha"] == m.alpha
        assert r["alpha_weighted"] == m.alpha_weighted
        e = r["ecs"]
        assert e["rule"] == "detx" and e["num_ecs"] == e["num_ecs_detx"] == m.num_ecs_detx
        assert e["lambda_min"] == e["lambda_min_detx"] == m.detx_lambda_min
        assert e["delta_lambda_min"] == pytest.approx(m.xmin - m.detx_lambda_min, rel=1e-12)
        assert e["erg_residual"] < 0  # first_below: the first top set with ln det X_ECS < 0
        assert set(r["quality"]) == set(MODELS)
        # the same numbers as the library
        lq = layer_quality(ref.evals[m.name], alpha=m.alpha, xmin=m.xmin)
        for k, q in r["quality"].items():
            assert q["status"] == lq.models[k].status
            if q["status"] == "ok":
                assert q["log10_q"] == pytest.approx(lq.models[k].log10_q, rel=1e-12)
            else:
                assert q["log10_q"] is None and q["reason"]
    # Levy-Wigner only where 1 < alpha <= 2
    for r in layers.values():
        if "quality" in r:
            assert (r["quality"]["lw"]["status"] == "ok") == (1 < r["alpha"] <= 2)
    assert layers["vht.weight"]["alpha"] < 2 < layers["ht.weight"]["alpha"]


def test_json_model_quality_and_correlations(small_run):
    _, data, _ = small_run
    ok = [r for r in data["layers"] if r["status"] == "ok"]
    for m, d in data["model_quality"].items():
        vals = [r["quality"][m]["log10_q"] for r in ok if r["quality"][m]["log10_q"] is not None]
        assert d["log10_q"] == pytest.approx(sum(vals), rel=1e-12)
        assert d["complete"] == (len(vals) == len(ok))
    c = data["correlations"]["erg_residual_at_xmin_vs_alpha"]
    assert c["n"] == 3 and -1 <= c["pearson"] <= 1
    assert data["models"]["imp"]["source"].startswith("arXiv:2507.17912 Sec. 5.4.5")


def test_plots_written(small_run):
    _, data, plots = small_run
    names = sorted(p.name for p in (plots / "esd").iterdir())
    assert names == ["g.weight.png", "ht.weight.png", "vht.weight.png"]
    for f in [plots / "quality_vs_alpha.png", plots / "erg_vs_alpha.png",
              *(plots / "esd").iterdir()]:
        assert f.read_bytes()[:8] == PNG
    assert data["curve"]["label"].startswith("model-derived")


def test_table_and_summary(small_model, capsys):
    assert main(["quality", str(small_model), "--models", "bs,imp,lw"]) == 0
    out = capsys.readouterr().out
    assert "ht.weight" in out and "imp" in out and "tpl" not in out.split("\n")[0]
    assert "filtered" in out and "model quality log10 Q_NN" in out and "ERG vs alpha" in out


def test_ecs_rules(small_model, tmp_path):
    js = tmp_path / "x.json"
    assert main(["quality", str(small_model), "--ecs", "xmin", "--json", str(js), "--quiet",
                 "--models", "bs"]) == 0
    for r in json.loads(js.read_text())["layers"]:
        if r["status"] == "ok":
            assert r["ecs"]["rule"] == "xmin" and r["ecs"]["num_ecs"] == r["ecs"]["num_tail"]
            assert r["ecs"]["lambda_min"] == r["ecs"]["xmin"]
    assert main(["quality", str(small_model), "--ecs", "2.0", "--json", str(js), "--quiet",
                 "--models", "bs", "--min-ecs", "3"]) == 0
    recs = json.loads(js.read_text())["layers"]
    got = [r for r in recs if r["status"] == "ok"]
    assert got and all(r["ecs"]["rule"] == "value" and r["ecs"]["lambda_min"] >= 2.0
                       for r in got)


def test_layers_without_ecs_are_reported(small_model, tmp_path, capsys):
    js = tmp_path / "n.json"
    assert main(["quality", str(small_model), "--min-ecs", "60", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "vht.weight" in out and "no-ecs: the ECS has" in out and "left out" in out
    rec = {r["name"]: r for r in json.loads(js.read_text())["layers"]}["vht.weight"]
    assert rec["status"] == "no-ecs" and "min_ecs = 60" in rec["reason"]
    # no layer at all: one-line error, exit 1
    assert main(["quality", str(small_model), "--min-ecs", "1000", "--quiet"]) == 1
    *reasons, last = capsys.readouterr().err.strip().splitlines()
    assert "no layer has an effective correlation space" in last
    # --quiet: no table, but each layer's reason on its own line
    assert reasons and all(r.startswith("setol quality: ") and ": no-ecs: " in r
                           for r in reasons)


def test_curve_mode(tmp_path, capsys):
    js, pl = tmp_path / "c.json", tmp_path / "cp"
    assert main(["quality", "--curve", "imp", "--alpha", "0.1:3:9", "--curve-M", "200",
                 "--models", "bs,imp", "--json", str(js), "--plot", str(pl)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model-derived: imp spectra") and "changes sign at fitted alpha" in out
    c = json.loads(js.read_text())["curve"]
    assert len(c["alpha"]) == 9 and c["alpha"][0] == 0.1 and c["alpha"][-1] == 3.0
    assert abs(c["critical_alpha"] - 2.0) < 0.3
    assert set(c["log10_q"]) == {"bs", "imp"}
    assert (pl / "quality_curve_imp.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("argv,needle", [
    (["--ecs", "bogus"], "--ecs must be xmin, detx or a positive number"),
    (["--ecs", "-1"], "--ecs as a number must be a positive"),
    (["--ecs", "nan"], "--ecs as a number must be a positive"),
    (["--models", "bs,nope"], "unknown model(s) nope"),
    (["--min-ecs", "0"], "--min-ecs must be an integer >= 1"),
    (["--K", "0"], "--K must be an integer >= 1"),
])
def test_bad_options(small_model, capsys, argv, needle):
    assert main(["quality", str(small_model), *argv, "--quiet"]) == 1
    assert needle in _err(capsys)


@pytest.mark.parametrize("argv,needle", [
    (["--alpha", "1:x"], "--alpha must be A:B or A:B:N"),
    (["--alpha", "3:1"], "finite A < B"),
    (["--alpha", "1:2:1"], "N >= 2"),
    (["--curve", "tpl", "--alpha", "0.5:2"], "needs alpha > 1"),
    (["--ecs", "0.5"], "--curve needs --ecs xmin or detx"),
])
def test_bad_curve_options(capsys, argv, needle):
    args = ["quality", "--quiet", *argv]
    if "--curve" not in argv:
        args += ["--curve", "imp"]
    assert main(args) == 1
    assert needle in _err(capsys)


def test_curve_with_model_path_and_missing_path(small_model, tmp_path, capsys):
    assert main(["quality", str(small_model), "--curve", "imp"]) == 1
    assert "do not pass a model PATH" in _err(capsys)
    assert main(["quality", str(tmp_path / "none.safetensors"), "--quiet"]) == 1
    assert "no such file" in _err(capsys)


def test_bad_layer_stops_or_is_recorded(tmp_path, capsys):
    rng = np.random.default_rng(1)
    w = rng.standard_t(3, size=(200, 80))
    bad = w.copy()
    bad[0, 0] = np.nan
    f = write_safetensors(tmp_path / "b.safetensors", {"ok.weight": w, "nan.weight": bad})
    assert main(["quality", str(f), "--quiet"]) == 1
    msg = _err(capsys)
    assert "nan.weight" in msg and "--keep-going" in msg
    js = tmp_path / "b.json"
    assert main(["quality", str(f), "--quiet", "--keep-going", "--json", str(js)]) == 0
    recs = {r["name"]: r for r in json.loads(js.read_text())["layers"]}
    assert recs["nan.weight"]["status"] == "skipped" and recs["ok.weight"]["status"] == "ok"


@pytest.mark.model
def test_default_model(tmp_path, capsys):
    js = tmp_path / "d.json"
    assert main(["quality", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "layer.5.output.dense.weight" in out and "Spearman" in out
    data = json.loads(js.read_text())
    ok = [r for r in data["layers"] if r["status"] == "ok"]
    assert len(ok) == 39 and len(data["layers"]) == 40  # token_type_embeddings is filtered
    for r in ok:
        e, q = r["ecs"], r["quality"]
        assert e["num_ecs"] == e["num_ecs_detx"] >= 5 and e["erg_residual"] < 0
        assert e["delta_lambda_min"] == pytest.approx(e["xmin"] - e["lambda_min_detx"],
                                                      rel=1e-12)
        # alpha_weighted on W^T W: lambda_max of the ESD X = W^T W / N times N
        assert r["alpha_weighted"] == pytest.approx(
            r["alpha"] * math.log10(r["lambda_max"] * r["N"]))
        assert (q["lw"]["status"] == "ok") == (r["alpha"] <= 2)
        for k in ("bs", "fc", "lw_paper", "imp", "imp_gtable", "tpl", "emp", "emp_inv"):
            assert q[k]["status"] == "ok" and math.isfinite(q[k]["log10_q"])
    assert data["model_quality"]["imp"]["complete"]
    c = data["correlations"]["erg_residual_at_xmin_vs_alpha"]
    assert c["n"] == 39 and c["spearman"] is not None
