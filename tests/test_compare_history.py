"""setol compare, setol history, to_dataframe() on every result, analyze-many --parquet."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import write_safetensors

from setol_theory.cli import main
from setol_theory.distributed import analyze_many, history, parse_step
from setol_theory.pipeline import analyze, compare

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(11)
    a = {"fc1.weight": rng.standard_t(3, size=(300, 120)), "fc2.weight": rng.normal(
        size=(200, 100)), "only_a.weight": rng.normal(size=(50, 40))}
    b = {"fc1.weight": a["fc1.weight"] + 0.5 * rng.standard_t(2.5, size=(300, 120)),
         "fc2.weight": a["fc2.weight"].copy(), "only_b.weight": rng.normal(size=(50, 40))}
    b["fc2.weight"][:5] *= 3.0
    return (write_safetensors(tmp_path / "a.safetensors", a),
            write_safetensors(tmp_path / "b.safetensors", b), a, b)


def test_compare_numbers_from_two_independent_analyses(pair):
    pa, pb, a, b = pair
    res = compare(pa, pb, traps=False)
    ra = {m.name: m for m in analyze(a, traps=False).layers}
    rb = {m.name: m for m in analyze(b, traps=False).layers}
    rows = {r["name"]: r for r in res.rows}
    for name in ("fc1.weight", "fc2.weight"):
        r = rows[name]
        assert r["d_alpha"] == pytest.approx(rb[name].alpha - ra[name].alpha, abs=1e-12)
        assert r["d_alpha_weighted"] == pytest.approx(
            rb[name].alpha_weighted - ra[name].alpha_weighted, abs=1e-12)
        assert r["d_log_norm"] == pytest.approx(rb[name].log_norm - ra[name].log_norm,
                                                abs=1e-12)
        want = np.linalg.norm(b[name] - a[name]) / np.linalg.norm(a[name])
        assert r["rel_dW_F"] == pytest.approx(want, rel=1e-12)
    assert rows["only_a.weight"]["status_b"] is None and rows["only_a.weight"]["d_alpha"] is None
    assert rows["only_b.weight"]["reason"] == "only in b"
    s = res.summary()
    assert (s["num_matched"], s["num_only_a"], s["num_only_b"]) == (2, 1, 1)


def test_compare_rename_and_identity(pair, tmp_path):
    pa, _, a, _ = pair
    renamed = write_safetensors(tmp_path / "r.safetensors",
                                {k.replace("fc", "dense"): v for k, v in a.items()})
    res = compare(pa, renamed, rename=[r"^dense=fc"], traps=False)
    for r in res.rows:
        assert r["d_alpha"] == 0.0 and r["rel_dW_F"] == 0.0 and r["d_log_norm"] == 0.0
    with pytest.raises(ValueError, match="REGEX=REPLACEMENT"):
        compare(pa, renamed, rename=["no-equals-sign"])


def test_compare_cli_outputs(pair, tmp_path, capsys):
    pa, pb, _, _ = pair
    js, cs, pl, html = (tmp_path / "c.json", tmp_path / "c.csv", tmp_path / "plots",
                        tmp_path / "c.html")
    assert main(["compare", str(pa), str(pb), "--no-traps", "--json", str(js), "--csv", str(cs),
                 "--plot", str(pl), "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "d_alpha" in out and "2 layers in both (1 only in A, 1 only in B)" in out
    data = json.loads(js.read_text())
    assert len(data["layers"]) == 4 and data["summary"]["num_matched"] == 2
    assert [r["name"] for r in csv.DictReader(cs.open())] == [r["name"] for r in data["layers"]]
    figs = sorted(p.name for p in pl.iterdir())
    assert figs == ["fc1.weight.png", "fc2.weight.png"]
    assert all((pl / f).read_bytes()[:8] == PNG for f in figs)
    text = html.read_text()
    assert "<html" in text and "d_alpha" in text and "data:image/png;base64" in text


def test_compare_no_common_layer(pair, tmp_path, capsys):
    pa, _, a, _ = pair
    other = write_safetensors(tmp_path / "o.safetensors", {"x.weight": a["fc2.weight"]})
    assert main(["compare", str(pa), str(other), "--quiet", "--no-traps"]) == 1
    assert "no layer name is in both models" in capsys.readouterr().err


@pytest.mark.parametrize("name, want", [
    ("checkpoint-1200", ("checkpoint", 1200)), ("step_00500", ("step", 500)),
    ("epoch=3", ("epoch", 3)), ("run1/epoch_2/step-700.safetensors", ("step", 700)),
    ("global_step42", ("step", 42)), ("ckpt12.pt", ("checkpoint", 12)),
    ("final.safetensors", None), ("model-7b", None),
])
def test_parse_step(name, want):
    assert parse_step(name) == want


@pytest.fixture
def run_dir(tmp_path):
    rng = np.random.default_rng(2)
    W0 = rng.normal(size=(150, 60))
    run = tmp_path / "run"
    run.mkdir()
    for k, step in enumerate((100, 1200, 300)):  # the file order is not the step order
        W = W0 + (k + 1) * 0.3 * rng.standard_t(3, size=W0.shape)
        write_safetensors(run / f"checkpoint-{step}.safetensors",
                          {"a.weight": W, "b.weight": W[:80, :50].copy()})
    out = tmp_path / "table.jsonl"
    many = analyze_many([str(run)], scheduler="serial", out=out, traps=False)
    return out, many


def test_history_and_dataframes(run_dir, tmp_path):
    pd = pytest.importorskip("pandas", reason="to_dataframe needs setol[pandas]")
    out, many = run_dir
    hist = history(out)
    assert hist.steps() == [100, 300, 1200]
    steps, alphas = hist.series("alpha", "a.weight")
    assert steps == [100, 300, 1200]
    want = {r["checkpoint"]: r["alpha"] for r in many.records if r["layer"] == "a.weight"}
    assert alphas == [want[f"checkpoint-{s}.safetensors"] for s in steps]
    df = hist.to_dataframe()
    assert list(df.columns[:6]) == ["model", "checkpoint", "step", "unit", "layer",
                                    "layer_index"]
    assert len(df) == 6 and set(df["unit"]) == {"checkpoint"}
    mdf = many.to_dataframe()
    assert list(mdf.columns) == many.columns() and len(mdf) == len(many.records)
    pq = tmp_path / "t.parquet"
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (setol[pandas])")
    many.to_parquet(pq)
    back = pd.read_parquet(pq)
    assert back["alpha"].tolist() == pytest.approx(mdf["alpha"].tolist(), nan_ok=True)


def test_history_refuses_names_without_steps(tmp_path):
    rows = [{"model": "m", "checkpoint": "final", "layer": "a", "status": "ok", "alpha": 2.0}]
    with pytest.raises(ValueError, match="checkpoint m/final: no step in its name"):
        history(rows)
    rows = [dict(rows[0], checkpoint="step_1"), dict(rows[0], checkpoint="epoch_1")]
    with pytest.raises(ValueError, match="have the same step 1"):
        history(rows)
    with pytest.raises(ValueError, match="unknown metric"):
        history(rows[:1], metrics=["alfa"])


def test_history_cli(run_dir, tmp_path, capsys):
    out, _ = run_dir
    js, cs, pl, html = (tmp_path / "h.json", tmp_path / "h.csv", tmp_path / "hp",
                        tmp_path / "h.html")
    assert main(["history", str(out), "--json", str(js), "--csv", str(cs), "--plot", str(pl),
                 "--html", str(html)]) == 0
    text = capsys.readouterr().out
    head = text.splitlines()[1].split()
    assert head == ["layer", "100", "300", "1200"]
    assert len(json.loads(js.read_text())["rows"]) == 6
    assert len(list(csv.DictReader(cs.open()))) == 6
    assert sorted(p.name for p in pl.iterdir()) == [
        "alpha.png", "alpha_weighted.png", "log_norm.png", "log_spectral_norm.png"]
    assert "data:image/png;base64" in html.read_text()
    assert main(["history", str(tmp_path / "missing.jsonl")]) == 1


def test_analyze_many_parquet(run_dir, tmp_path, capsys):
    pd = pytest.importorskip("pandas", reason="Parquet needs setol[pandas]")
    pytest.importorskip("pyarrow", reason="Parquet needs setol[pandas]")
    out, many = run_dir
    pq = tmp_path / "m.parquet"
    assert main(["analyze-many", str(out.parent / "run"), "--out", str(out), "--scheduler",
                 "serial", "--no-traps", "--parquet", str(pq), "--quiet"]) == 0
    df = pd.read_parquet(pq)
    assert len(df) == len(many.records) and "alpha" in df.columns


def test_to_dataframe_of_analysis_quality_and_comparison(pair):
    pd = pytest.importorskip("pandas", reason="to_dataframe needs setol[pandas]")
    from setol_theory import QualityOptions

    pa, pb, _, _ = pair
    res = analyze(pa, traps=False, quality=QualityOptions())
    df = res.to_dataframe()
    assert list(df["name"]) == [m.name for m in res.layers]
    assert df["alpha"].tolist() == pytest.approx([m.alpha for m in res.layers])
    qdf = res.quality.to_dataframe()
    assert len(qdf) == len(res.quality.layers) and "ecs.num_ecs" in qdf.columns
    assert any(c.startswith("quality.") for c in qdf.columns)
    cdf = compare(pa, pb, traps=False).to_dataframe()
    assert len(cdf) == 4 and isinstance(cdf, pd.DataFrame)
    assert cdf.loc[cdf["name"] == "only_b.weight", "reason"].item() == "only in b"
