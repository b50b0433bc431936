"""Every tutorial (tutorials/*.py, jupytext percent scripts) runs to the end at its CI size.

Each runs in a fresh interpreter, as a reader would run it (``python tutorials/NN_name.py``);
the tutorials assert their own claims (numbers against theory, verdicts), so a tutorial that
stops agreeing with the library fails here. Each takes well under a minute on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("[0-9]*.py"))


def test_tutorials_found():
    assert len(TUTORIALS) >= 4


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    env = {**os.environ, "SETOL_TUTORIAL_OUT": str(tmp_path), "MPLBACKEND": "Agg",
           "OPENBLAS_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=240)
    took = time.perf_counter() - t0
    assert r.returncode == 0, f"{path.name} failed after {took:.0f} s:\n{r.stdout[-3000:]}\n" \
                              f"{r.stderr[-3000:]}"
    print(f"{path.name}: {took:.1f} s")
