"""PEFT LoRA adapters (dW from the r x r problem), --base merged weights and fine-tune deltas.

Adapters and checkpoints are written by the test in the PEFT layout (keys
``base_model.model.<module>.lora_A.weight`` / ``.lora_B.weight``, adapter_config.json)."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest
from conftest import write_safetensors

from setol_theory.cli import main
from setol_theory.io import WithBase, describe_layers, iter_layers
from setol_theory.linalg import correlation_eigenvalues, lowrank_eigenvalues
from setol_theory.pipeline import analyze

EPS = np.finfo(np.float64).eps


def _close_to_dense(ev_lowrank, ev_dense):
    """Equal within the round-off of the dense eigensolver: M eps lambda_max (the zero
    threshold) times a small constant for the Gram product."""
    lam_max = ev_dense[-1]
    np.testing.assert_allclose(ev_lowrank, ev_dense, rtol=0, atol=8 * ev_dense.size * EPS * lam_max)


@pytest.mark.parametrize("out, inn, r", [(300, 200, 8), (120, 400, 16), (64, 64, 64)])
def test_lowrank_eigenvalues_equal_the_dense_ones(out, inn, r):
    rng = np.random.default_rng(out + r)
    B, A = rng.normal(size=(out, r)), rng.standard_t(3, size=(r, inn))
    s = 16 / r
    for norm in ("N", "none"):
        dense = correlation_eigenvalues(s * B @ A, normalization=norm)
        low = lowrank_eigenvalues(B, A, s, normalization=norm)
        assert low.shape == (min(out, inn),)
        assert np.count_nonzero(low) == min(r, out, inn)
        _close_to_dense(low, dense)


def test_lowrank_never_forms_the_product():
    rng = np.random.default_rng(0)
    out, inn, r = 4000, 3000, 8
    B, A = rng.normal(size=(out, r)), rng.normal(size=(r, inn))
    tracemalloc.start()
    lowrank_eigenvalues(B, A, 2.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the result (M float64) and the QR work arrays ((out + in) r): far below out * in * 8
    assert peak < 4 * (min(out, inn) + (out + inn) * r) * 8 < out * inn * 8 / 10


def _adapter(d, factors, *, r, alpha, extra=None, prefix="base_model.model."):
    d.mkdir()
    tensors = {}
    for module, (B, A) in factors.items():
        tensors[f"{prefix}{module}.lora_A.weight"] = A.astype(np.float32)
        tensors[f"{prefix}{module}.lora_B.weight"] = B.astype(np.float32)
    write_safetensors(d / "adapter_model.safetensors", tensors)
    (d / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": r, "lora_alpha": alpha, **(extra or {})}))
    return d


@pytest.fixture
def lora(tmp_path):
    rng = np.random.default_rng(7)
    mods = {"model.layers.0.q_proj": (rng.normal(size=(96, 8)), rng.normal(size=(8, 64))),
            "model.layers.0.v_proj": (rng.normal(size=(96, 8)), rng.normal(size=(8, 64)))}
    base = {f"{m}.weight": rng.standard_t(4, size=(96, 64)).astype(np.float32) for m in mods}
    base["model.layers.0.o_proj.weight"] = rng.normal(size=(64, 96)).astype(np.float32)
    base_path = write_safetensors(tmp_path / "base.safetensors", base)
    ad = _adapter(tmp_path / "adapter", mods, r=8, alpha=16,
                  extra={"alpha_pattern": {"v_proj": 4}})
    return ad, base_path, base, mods


def _f32(M):
    return np.asarray(M, np.float32).astype(np.float64)


def test_adapter_layers_are_low_rank_records(lora):
    ad, _, _, mods = lora
    layers = {lay.name: lay for lay in iter_layers(ad)}
    assert set(layers) == {f"{m}.weight" for m in mods}
    q = layers["model.layers.0.q_proj.weight"]
    assert q.W is None and q.ok and q.matrix_shape == (96, 64) and (q.N, q.M) == (96, 64)
    B, A, s = q.factors
    assert B.shape == (96, 8) and A.shape == (8, 64) and s == 16 / 8
    assert layers["model.layers.0.v_proj.weight"].factors[2] == 4 / 8  # alpha_pattern


def test_adapter_analysis_equals_the_dense_delta(lora):
    ad, _, _, mods = lora
    res = analyze(ad, keep_evals=True, traps=False, min_evals=10)
    dense = {f"{m}.weight": (16 / 8 if "q_" in m else 4 / 8) * _f32(B) @ _f32(A)
             for m, (B, A) in mods.items()}
    ref = analyze(dense, keep_evals=True, traps=False, min_evals=10)
    for m in res.layers:
        _close_to_dense(res.evals[m.name], ref.evals[m.name])
        r = {x.name: x for x in ref.layers}[m.name]
        assert (m.N, m.M, m.status) == (r.N, r.M, r.status)
        assert m.log_norm == pytest.approx(r.log_norm, rel=1e-9)


def test_rslora_scale(tmp_path):
    rng = np.random.default_rng(3)
    B, A = rng.normal(size=(50, 4)), rng.normal(size=(4, 40))
    ad = _adapter(tmp_path / "a", {"fc": (B, A)}, r=4, alpha=8, extra={"use_rslora": True})
    (lay,) = iter_layers(ad)
    assert lay.factors[2] == 8 / math.sqrt(4)


def test_merged_with_base_equals_w_plus_dw(lora):
    ad, base_path, base, mods = lora
    res = analyze(WithBase(ad, base_path), keep_evals=True, traps=False)
    want = dict(base)
    for m, (B, A) in mods.items():
        s = 16 / 8 if "q_" in m else 4 / 8
        want[f"{m}.weight"] = base[f"{m}.weight"].astype(np.float64) + s * _f32(B) @ _f32(A)
    ref = analyze(want, keep_evals=True, traps=False)
    assert [m.name for m in res.layers] == [m.name for m in ref.layers]  # every base layer
    for m in res.layers:
        np.testing.assert_allclose(res.evals[m.name], ref.evals[m.name], rtol=1e-9,
                                   atol=1e-12 * ref.evals[m.name][-1])


def test_fine_tune_delta(tmp_path):
    rng = np.random.default_rng(5)
    base = {"a.weight": rng.normal(size=(80, 40)), "b.weight": rng.normal(size=(60, 30)),
            "c.weight": rng.normal(size=(20, 20))}
    ft = {"a.weight": base["a.weight"] + 0.1 * rng.standard_t(3, size=(80, 40)),
          "b.weight": base["b.weight"].copy(),             # frozen: unchanged
          "c.weight": rng.normal(size=(20, 10)),            # reshaped
          "new.weight": rng.normal(size=(30, 30))}          # not in the base
    bp = write_safetensors(tmp_path / "base.safetensors", base)
    fp = write_safetensors(tmp_path / "ft.safetensors", ft)
    res = analyze(WithBase(fp, bp), keep_evals=True, traps=False, on_error="record")
    rec = {m.name: m for m in res.layers}
    dense = correlation_eigenvalues(ft["a.weight"] - base["a.weight"])
    np.testing.assert_allclose(res.evals["a.weight"], dense, rtol=1e-12, atol=0)
    assert rec["b.weight"].status == "skipped" and "unchanged" in rec["b.weight"].reason
    assert "differs from the base" in rec["c.weight"].reason
    assert "not in the base model" in rec["new.weight"].reason


def test_cli_adapter_and_base(lora, tmp_path, capsys):
    ad, base_path, _, _ = lora
    js = tmp_path / "a.json"
    assert main(["analyze", str(ad), "--json", str(js)]) == 0
    captured = capsys.readouterr()
    assert "PEFT LoRA adapter" in captured.err and "q_proj.weight" in captured.out
    layers = json.loads(js.read_text())["layers"]
    assert {r["name"] for r in layers} == {"model.layers.0.q_proj.weight",
                                           "model.layers.0.v_proj.weight"}
    assert all(r["num_traps"] is None for r in layers)  # no trap test without W
    js2 = tmp_path / "m.json"
    assert main(["analyze", str(ad), "--base", str(base_path), "--quiet", "--json",
                 str(js2)]) == 0
    assert len(json.loads(js2.read_text())["layers"]) == 3
    assert main(["describe", str(ad), "--quiet"]) == 0
    plans = list(describe_layers(ad))
    assert [p.matrix_shape for p in plans] == [(96, 64), (96, 64)]


def test_bad_adapters(tmp_path, capsys):
    d = tmp_path / "ia3"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    assert main(["analyze", str(d), "--quiet"]) == 1
    assert "PEFT type IA3 is not supported (LoRA adapters only)" in capsys.readouterr().err
    rng = np.random.default_rng(0)
    ad = _adapter(tmp_path / "dora", {"fc": (rng.normal(size=(20, 2)), rng.normal(size=(2, 20)))},
                  r=2, alpha=2, extra={"use_dora": True})
    (lay,) = iter_layers(ad)
    assert lay.W is None and lay.factors is None and "DoRA" in lay.skip_reason


def test_analyze_many_takes_an_adapter_directory_as_one_checkpoint(tmp_path):
    from setol_theory.distributed import analyze_many, history

    rng = np.random.default_rng(9)
    run = tmp_path / "run"
    run.mkdir()
    for step in (10, 20):
        _adapter(run / f"checkpoint-{step}", {"m.q_proj": (rng.normal(size=(60, 4)),
                                                           rng.normal(size=(4, 50)))},
                 r=4, alpha=8)
    res = analyze_many([str(run)], scheduler="serial", out=tmp_path / "t.jsonl", traps=False)
    assert [(r["checkpoint"], r["layer"]) for r in res.records] == [
        ("checkpoint-10", "m.q_proj.weight"), ("checkpoint-20", "m.q_proj.weight")]
    direct = analyze(run / "checkpoint-20", traps=False).layers[0]
    assert res.records[1]["log_norm"] == pytest.approx(direct.log_norm, rel=1e-12)
    assert history(tmp_path / "t.jsonl").steps() == [10, 20]
