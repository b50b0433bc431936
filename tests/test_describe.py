"""``setol describe`` / ``io.describe_layers``: the same decisions as ``analyze``, from headers."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from conftest import write_safetensors

from setol_theory.cli import main
from setol_theory.io import describe_layers
from setol_theory.io._safetensors import _SafetensorsFile
from setol_theory.pipeline import analyze


@pytest.fixture
def mixed_model(tmp_path):
    rng = np.random.default_rng(0)
    return write_safetensors(tmp_path / "mixed.safetensors", {
        "fc1.weight": rng.normal(size=(60, 30)).astype(np.float32),
        "fc1.bias": np.zeros(60, dtype=np.float32),
        "tiny.weight": rng.normal(size=(2, 40)).astype(np.float32),    # 2 eigenvalues: filtered
        "quant.weight": rng.integers(-5, 5, size=(40, 20)).astype(np.int32),  # skipped
        "conv.weight": rng.normal(size=(16, 12, 2, 2)).astype(np.float32),  # 4 slices
        "position_ids": np.arange(12, dtype=np.int64)[None, :],          # index buffer
        "emb.embed_tokens.weight": rng.normal(size=(100, 24)),
    })


@pytest.mark.parametrize("pool", [True, False])
def test_describe_agrees_with_analyze(mixed_model, pool):
    plans = {p.name: p for p in describe_layers(mixed_model, min_evals=10, pool=pool)}
    res = analyze(mixed_model, min_evals=10, traps=False, on_error="record", pool=pool)
    status = {m.name: m.status for m in res.layers}
    want = {"ok": "analyse", "filtered": "filter", "skipped": "skip"}
    assert {n: want[s] for n, s in status.items()} == {
        n: p.action for n, p in plans.items() if p.action in ("analyse", "filter", "skip")}
    for m in res.layers:  # same shapes and reasons as the analysis records
        p = plans[m.name]
        assert (m.N, m.M) == (max(p.matrix_shape), min(p.matrix_shape))
        if m.status != "ok":
            assert m.reason == p.reason
    assert plans["fc1.bias"].action == "ignore" and plans["position_ids"].action == "ignore"
    assert plans["quant.weight"].reason == "integer dtype int32, not a float weight matrix"
    slices = [n for n in plans if n.startswith("conv.weight[")]
    if pool:  # one pooled ESD of the 4 kernel positions, as the analysis record
        assert slices == [] and plans["conv.weight"].num_evals == 4 * 12
        assert plans["conv.weight"].num_params == 16 * 12 * 2 * 2
        assert next(m for m in res.layers if m.name == "conv.weight").num_evals == 4 * 12
    else:
        assert slices == [
            "conv.weight[0,0]", "conv.weight[0,1]", "conv.weight[1,0]", "conv.weight[1,1]"]
        assert plans["conv.weight[0,1]"].num_params == 16 * 12
    assert plans["emb.embed_tokens.weight"].kind == "embedding"
    assert plans["emb.embed_tokens.weight"].dtype == "float64"


def test_describe_selection(mixed_model):
    plans = {p.name: p for p in describe_layers(mixed_model, layers="fc1", kinds=["linear"])}
    assert plans["fc1.weight"].action == "analyse"
    assert plans["conv.weight"].action == "unselected"  # kind conv2d, not listed per slice
    assert plans["tiny.weight"].action == "unselected"  # linear, but not matched by --layers


def test_describe_reads_no_weight(mixed_model, monkeypatch):
    def no_data(self, name):
        raise AssertionError(f"describe read the data of {name}")

    monkeypatch.setattr(_SafetensorsFile, "load", no_data)
    assert len(list(describe_layers(mixed_model))) == 7  # the conv slices pooled
    assert len(list(describe_layers(mixed_model, pool=False))) == 10


def _sparse_shard(path, name, shape):
    """A safetensors shard whose header declares a large float32 tensor; the data region is a
    hole in a sparse file (no disk space, no bytes read by a header-only reader)."""
    nbytes = int(np.prod(shape)) * 4
    head = json.dumps({name: {"dtype": "F32", "shape": list(shape),
                              "data_offsets": [0, nbytes]}}).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        f.truncate(8 + len(head) + nbytes)


def test_describe_sharded_checkpoint_from_headers(tmp_path, capsys):
    d = tmp_path / "big"
    d.mkdir()
    shards = {"model-00001-of-00002.safetensors": ("model.embed_tokens.weight", (128256, 4096)),
              "model-00002-of-00002.safetensors": ("lm_head.weight", (128256, 4096))}
    for fname, (name, shape) in shards.items():
        _sparse_shard(d / fname, name, shape)
    (d / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {name: fname for fname, (name, _) in shards.items()}}))
    js = tmp_path / "d.json"
    assert main(["describe", str(d), "--json", str(js)]) == 0  # 4.2 GB declared, none read
    out = capsys.readouterr().out
    assert "model.embed_tokens.weight" in out and "128256x4096" in out
    data = json.loads(js.read_text())
    assert data["summary"]["num_analyse"] == 2
    assert data["summary"]["num_params_analysed"] == 2 * 128256 * 4096
    assert {t["name"]: t["kind"] for t in data["tensors"]} == {
        "model.embed_tokens.weight": "embedding", "lm_head.weight": "linear"}


def test_describe_cli_table_and_errors(mixed_model, tmp_path, capsys):
    assert main(["describe", str(mixed_model)]) == 0
    out = capsys.readouterr().out
    assert "fc1.bias" not in out  # ignored tensors only with --all
    assert "integer dtype int32" in out and "--keep-going" in out
    assert main(["describe", str(mixed_model), "--all"]) == 0
    assert "fc1.bias" in capsys.readouterr().out
    assert main(["describe", str(tmp_path / "nope.safetensors")]) == 1
    assert capsys.readouterr().err.strip().endswith("no such file or directory")
