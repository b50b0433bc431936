"""Hugging Face model ids from the local cache (tiny caches built in a temporary directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_safetensors

from setol_theory.cli import main
from setol_theory.io._hub import parse_hub_id, resolve_hub_id

hub = pytest.importorskip("huggingface_hub", reason="model ids need setol[hf]")

H1, H2 = "1" * 40, "2" * 40


def _snapshot(cache, repo, commit, seed, refs=("main",)):
    """One snapshot of ``repo`` in the huggingface_hub cache layout."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    write_safetensors(snap / "model.safetensors", {
        "layer.0.dense.weight": rng.standard_t(3, size=(120, 60)).astype(np.float32)})
    (snap / "config.json").write_text("{}")
    (root / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (root / "refs" / ref).write_text(commit)
    return snap


@pytest.fixture
def cache(tmp_path, monkeypatch):
    c = tmp_path / "hub"
    _snapshot(c, "org/tiny", H1, seed=1)
    _snapshot(c, "org/tiny", H2, seed=2, refs=("v2",))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(c))
    return c


def test_parse_hub_id():
    assert parse_hub_id("org/name") == ("org/name", None)
    assert parse_hub_id("meta-llama/Llama-3.1-8B@v1.0") == ("meta-llama/Llama-3.1-8B", "v1.0")
    assert parse_hub_id(f"org/name@{H1}") == ("org/name", H1)
    for not_an_id in ("model.safetensors", "runs/ckpt.pt", "/abs/path", "a/b/c", "./x/y"):
        assert parse_hub_id(not_an_id) is None


def test_revisions_from_the_cache(cache):
    assert resolve_hub_id("org/tiny") == cache / "models--org--tiny" / "snapshots" / H1
    assert resolve_hub_id("org/tiny@v2").name == H2
    assert resolve_hub_id(f"org/tiny@{H2}").name == H2
    with pytest.raises(FileNotFoundError, match=r"org/tiny@v3: not in the Hugging Face cache"):
        resolve_hub_id("org/tiny@v3")


def _alphas(path):
    return {r["name"]: r["alpha"] for r in json.loads(path.read_text())["layers"]}


def test_analyze_model_id_equals_its_snapshot(cache, tmp_path, capsys):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    assert main(["analyze", "org/tiny", "--quiet", "--no-traps", "--json", str(a)]) == 0
    snap = cache / "models--org--tiny" / "snapshots"
    assert main(["analyze", str(snap / H1), "--quiet", "--no-traps", "--json", str(b)]) == 0
    assert _alphas(a) == _alphas(b)
    assert main(["analyze", "org/tiny@v2", "--quiet", "--no-traps", "--json", str(c)]) == 0
    assert _alphas(c) != _alphas(a)  # the other snapshot's weights
    assert main(["describe", "org/tiny@v2", "--quiet"]) == 0


def test_missing_model_is_one_line_without_download(cache, capsys, monkeypatch):
    calls = []
    real = hub.snapshot_download

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(hub, "snapshot_download", spy)
    assert main(["analyze", "org/absent", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"setol analyze: error: org/absent: not in the Hugging Face cache {cache} "
                   "(HF_HUB_CACHE or HF_HOME name another); add --download to fetch it (no "
                   "file or directory of that name either)")
    assert calls and all(c["local_files_only"] for c in calls)


def test_download_only_when_asked(cache, monkeypatch, capsys):
    calls = []

    def fake_download(repo, **kwargs):
        calls.append((repo, kwargs))
        return str(_snapshot(cache, repo, H1, seed=3))

    monkeypatch.setattr(hub, "snapshot_download", fake_download)
    assert main(["describe", "org/new", "--download", "--quiet"]) == 0
    ((repo, kw),) = calls
    assert repo == "org/new" and kw["local_files_only"] is False
    assert "*.safetensors" in kw["allow_patterns"]


def test_without_huggingface_hub_says_which_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    assert main(["analyze", "org/tiny", "--quiet"]) == 1
    assert capsys.readouterr().err.strip().endswith(
        "needs huggingface_hub, which is not installed: pip install 'setol[hf]'")


def test_hf_home_is_honoured(tmp_path):
    """huggingface_hub's own environment variables, in a fresh process: $HF_HOME/hub."""
    home = tmp_path / "hf_home"
    _snapshot(home / "hub", "org/tiny", H1, seed=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(home), HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-m", "setol_theory.cli", "describe", "org/tiny",
                        "--json", str(tmp_path / "d.json")], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["source"] == str(home / "hub" / "models--org--tiny" / "snapshots" / H1)
