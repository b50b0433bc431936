"""The README's "Python API in ten lines" block runs as printed (on a small model file)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_api_block_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text.split("## The Python API in ten lines", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code_lines = [ln for ln in block.splitlines() if ln.strip()]
    assert len(code_lines) <= 14  # four imports and ten lines
    rng = np.random.default_rng(0)
    model = tmp_path / "model.npz"
    np.savez(model, a=rng.standard_t(2.5, (300, 120)), b=rng.standard_t(4.0, (256, 128)))
    code = "import numpy as np\n" + block.replace('"model.safetensors"', repr(str(model)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 10_000
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4
    # R of MP(q = 1/2, sigma^2 = 1) at w = 0.1, 0.5: 1 / (1 - w/2)
    assert "1.05263158" in lines[2] and "1.33333333" in lines[2]
