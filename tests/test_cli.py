"""The `setol` command line: outputs, plots, and one-line errors with non-zero exit codes."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_safetensors

from setol_theory.cli import main


@pytest.fixture
def small_model(tmp_path):
    rng = np.random.default_rng(0)
    return write_safetensors(tmp_path / "m.safetensors", {
        "fc1.weight": rng.standard_t(3, size=(300, 120)).astype(np.float32),
        "fc1.bias": np.zeros(300, dtype=np.float32),
        "fc2.weight": rng.normal(size=(120, 400)).astype(np.float32),
    })


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "setol_theory.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "analyze" in out


def test_analyze_writes_json_csv_and_plots(small_model, tmp_path, capsys):
    js, cs, pl = tmp_path / "o.json", tmp_path / "o.csv", tmp_path / "plots"
    rc = main(["analyze", str(small_model), "--json", str(js), "--csv", str(cs),
               "--plot", str(pl), "--quiet"])
    assert rc == 0
    data = json.loads(js.read_text())
    names = [r["name"] for r in data["layers"]]
    assert names == ["fc1.weight", "fc2.weight"]  # biases are not layers
    assert data["layers"][0]["N"] == 300 and data["layers"][0]["M"] == 120
    assert data["settings"]["normalization"] == "N"
    rows = list(csv.DictReader(cs.open()))
    assert [r["name"] for r in rows] == names
    assert float(rows[1]["alpha"]) == pytest.approx(data["layers"][1]["alpha"])
    assert sorted(p.name for p in pl.iterdir()) == ["fc1.weight.png", "fc2.weight.png"]


def test_analyze_trap_scale_option(small_model, tmp_path, capsys):
    out = {}
    for scale in ("variance", "fit"):
        js = tmp_path / f"{scale}.json"
        assert main(["analyze", str(small_model), "--trap-scale", scale, "--quiet",
                     "--json", str(js)]) == 0
        out[scale] = json.loads(js.read_text())
        assert out[scale]["settings"]["trap_scale"] == scale
    # the variance rule's threshold is the exact MP edge of the layer's entry variance
    from setol_theory.htsr import trap_threshold

    var = float(np.var(np.asarray(
        np.random.default_rng(0).standard_t(3, size=(300, 120)).astype(np.float32),
        dtype=np.float64)))
    assert out["variance"]["layers"][0]["threshold_rand"] == pytest.approx(
        trap_threshold(var, 300, 120), rel=1e-10)
    assert out["fit"]["layers"][0]["threshold_rand"] != out["variance"]["layers"][0][
        "threshold_rand"]
    with pytest.raises(SystemExit):
        main(["analyze", str(small_model), "--trap-scale", "median"])


def test_analyze_prints_table(small_model, capsys):
    assert main(["analyze", str(small_model), "--no-traps"]) == 0
    out = capsys.readouterr().out
    assert "fc1.weight" in out and "alpha" in out and "2 of 2 layers analysed" in out


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_missing_path(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.safetensors"), "--quiet"]) == 1
    assert "no such file" in _err(capsys)


def test_corrupt_safetensors(tmp_path, small_model, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(small_model.read_bytes()[:1000])  # truncated
    assert main(["analyze", str(bad), "--quiet"]) == 1
    assert "bad.safetensors" in _err(capsys)


def test_nan_layer_stops_or_is_recorded(tmp_path, capsys):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(200, 80))
    w2 = w.copy()
    w2[0, 0] = np.inf
    f = write_safetensors(tmp_path / "n.safetensors", {"ok.weight": w, "inf.weight": w2})
    assert main(["analyze", str(f), "--quiet", "--no-traps"]) == 1
    msg = _err(capsys)
    assert "inf.weight" in msg and "Inf" in msg
    js = tmp_path / "n.json"
    assert main(["analyze", str(f), "--quiet", "--no-traps", "--keep-going",
                 "--json", str(js)]) == 0
    layers = json.loads(js.read_text())["layers"]
    assert [(r["name"], r["status"]) for r in layers] == [("ok.weight", "ok"),
                                                         ("inf.weight", "skipped")]


def test_no_analysable_layer(tmp_path, capsys):
    f = write_safetensors(tmp_path / "z.safetensors", {"z.weight": np.zeros((50, 20))})
    assert main(["analyze", str(f), "--quiet", "--keep-going"]) == 1
    assert "no layer could be analysed" in _err(capsys)
    f2 = write_safetensors(tmp_path / "b.safetensors", {"bias": np.zeros(50)})
    assert main(["analyze", str(f2), "--quiet"]) == 1
    assert "no analysable layer" in _err(capsys)


@pytest.mark.model
def test_default_model_end_to_end(tmp_path):
    """`setol analyze` with no argument: the packaged all-MiniLM-L6-v2 weights."""
    js = tmp_path / "d.json"
    assert main(["analyze", "--quiet", "--no-traps", "--json", str(js)]) == 0
    data = json.loads(js.read_text())
    names = [r["name"] for r in data["layers"]]
    # 6 blocks x (q, k, v, attention output, intermediate, output) + word/position embeddings
    assert sum(".attention.self.query.weight" in n for n in names) == 6
    assert any("word_embeddings" in n for n in names)
    status = {r["name"]: r["status"] for r in data["layers"]}
    # token_type_embeddings is 2 x 384: 2 eigenvalues, below --min-evals 10, listed as filtered
    assert status.pop("embeddings.token_type_embeddings.weight") == "filtered"
    assert set(status.values()) == {"ok"}
    alphas = np.array([r["alpha"] for r in data["layers"] if r["alpha"] is not None])
    assert alphas.size >= 36 and np.all((alphas > 1.0) & (alphas < 20.0))


# ---------------------------------------------------------------- output paths, analyze-many
@pytest.mark.parametrize("argv, opt", [
    (["analyze", "{m}", "--no-traps", "--json", "{dir}"], "--json"),
    (["analyze", "{m}", "--no-traps", "--csv", "{dir}"], "--csv"),
    (["analyze", "{m}", "--no-traps", "--plot", "{file}"], "--plot"),
    (["analyze", "{m}", "--no-traps", "--json", "{file}/x.json"], "--json"),
    (["analyze-many", "{m}", "--out", "{tmp}/o.jsonl", "--scheduler", "serial",
      "--csv", "{dir}"], "--csv"),
    (["analyze-many", "{m}", "--out", "{dir}", "--scheduler", "serial"], "--out"),
    (["quality", "{m}", "--plot", "{file}"], "--plot"),
    (["verify", "--json", "{dir}"], "--json"),
])
def test_bad_output_paths_one_line(tmp_path, small_model, capsys, argv, opt):
    d = tmp_path / "adir"
    d.mkdir()
    f = tmp_path / "afile"
    f.write_text("x")
    args = [a.format(m=small_model, dir=d, file=f, tmp=tmp_path) for a in argv]
    if argv[0] != "verify":
        args.append("--quiet")
    assert main(args) == 1
    msg = _err(capsys)
    assert msg.startswith(f"setol {argv[0]}: error: {opt} ") and str(tmp_path) in msg


def test_oserror_is_one_line_naming_the_path(monkeypatch, capsys):
    from setol_theory.cli import _main as cli

    def boom(args):
        raise IsADirectoryError(21, "Is a directory", "/some/where")

    monkeypatch.setattr(cli, "cmd_verify", boom)
    assert main(["verify"]) == 1
    assert _err(capsys) == "setol verify: error: /some/where: Is a directory"


@pytest.mark.parametrize("extra, match", [
    (["--layers", "["], "invalid regular expression"),
    (["--max-evals", "3"], "--max-evals (3) must be >= --min-evals (10)"),
    (["--kinds", "bogus"], "unknown layer kind"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
])
def test_analyze_many_bad_options_write_nothing(tmp_path, small_model, capsys, extra, match):
    out = tmp_path / "o.jsonl"
    base = ["analyze-many", str(small_model), "--out", str(out), "--scheduler", "serial",
            "--quiet", "--no-traps"]
    assert main(base + extra) == 1
    assert match in _err(capsys) and not out.exists()
    assert main(base) == 0  # the corrected command is not refused


def test_analyze_many_unreadable_file_is_a_warning(tmp_path, small_model, capsys):
    root = tmp_path / "ckpt"
    root.mkdir()
    (root / "model.safetensors").write_bytes(small_model.read_bytes())
    (root / "training_args.bin").write_text("not a state dict")
    out = tmp_path / "o.jsonl"
    args = ["analyze-many", str(root), "--out", str(out), "--scheduler", "serial",
            "--no-traps"]
    for _ in range(2):  # recorded, then not tried again: exit 0 both times
        assert main(args) == 0
        cap = capsys.readouterr()
        assert "Traceback" not in cap.err
        assert "warning: not a readable checkpoint" in cap.err and "training_args.bin" in cap.err
        assert "not a readable checkpoint" in cap.out and "retry" not in cap.err
