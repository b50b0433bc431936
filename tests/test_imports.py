"""The analysis path loads only what it uses, and numba kernels come from the on-disk cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: never loaded by the CLI or the HTSR analysis unless a command needs them (figures,
#: verify, simulations, torch files or devices, Dask, sympy/mpmath derivations and HCIZ)
HEAVY = ("scipy.integrate", "scipy.special", "scipy.optimize", "scipy.stats", "sympy",
         "mpmath", "matplotlib", "torch", "dask")

_REPORT = """
import json, sys
print("MODULES " + json.dumps(sorted(m for m in sys.modules
                                     if m.split('.')[0] in ('scipy', 'sympy', 'mpmath', 'torch',
                                                            'dask', 'matplotlib', 'numba'))))
"""


def _run(code: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> str:
    full_env = dict(os.environ, OPENBLAS_NUM_THREADS="1", **(env or {}))
    for key in drop:
        full_env.pop(key, None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=full_env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _loaded(stdout: str) -> set[str]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("MODULES "))
    return set(json.loads(line[len("MODULES "):]))


def _heavy(mods: set[str]) -> list[str]:
    return sorted(h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in mods))


def test_cli_and_analysis_imports_are_light():
    mods = _loaded(_run("import setol_theory.cli, setol_theory.pipeline, setol_theory.htsr\n"
                        + _REPORT))
    assert _heavy(mods) == []
    assert "scipy.sparse.linalg" not in mods  # the trap test's Lanczos: on first use


def test_an_analysis_with_traps_loads_no_heavy_module(tmp_path):
    """`setol analyze` end to end (the CLI's main, traps on, a layer large enough for the
    Lanczos route and the blocked shuffle)."""
    code = f"""
import numpy as np
from setol_theory.cli import main
rng = np.random.default_rng(0)
np.savez({str(tmp_path / 'm.npz')!r}, a=rng.standard_t(4, (600, 300)),
         b=rng.standard_normal((3000, 200)), c=rng.standard_normal((120, 40)))
assert main(["analyze", {str(tmp_path / 'm.npz')!r}, "--json",
             {str(tmp_path / 'out.json')!r}]) == 0
""" + _REPORT
    mods = _loaded(_run(code))
    assert _heavy(mods) == []
    assert "scipy.sparse.linalg" in mods  # the route was taken


_KERNELS = """
import json
import numpy as np
import setol_theory.fit._ks as ks
import setol_theory.htsr._traps as traps
from setol_theory.pipeline import analyze
rng = np.random.default_rng(0)
analyze({"w.weight": rng.standard_t(3, (700, 200)).astype(np.float32)}, traps=True)
stats = {}
for mod in (ks, traps):
    for name, obj in vars(mod).items():
        if hasattr(obj, "stats") and hasattr(obj, "signatures") and obj.signatures:
            stats[mod.__name__ + "." + name] = [sum(obj.stats.cache_hits.values()),
                                                sum(obj.stats.cache_misses.values())]
print("STATS " + json.dumps(stats))
"""


def _stats(stdout: str) -> dict[str, list[int]]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("STATS "))
    return json.loads(line[len("STATS "):])


def test_a_second_process_loads_the_numba_kernels_from_the_cache(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = _stats(_run(_KERNELS, env))
    assert {"setol_theory.fit._ks._ks_scan",
            "setol_theory.htsr._traps._blocked_permutation"} <= set(first)
    assert any(miss for _, miss in first.values())  # compiled and written by the first run
    second = _stats(_run(_KERNELS, env))
    # the entry points come from the cache; the kernels they call are compiled into them, so
    # a cached caller never compiles (nor loads) its callees on their own
    assert {"setol_theory.fit._ks._ks_scan",
            "setol_theory.htsr._traps._blocked_permutation"} <= set(second) <= set(first)
    for name, (hits, misses) in second.items():
        assert hits >= 1 and misses == 0, (name, hits, misses)


_NO_LOCATOR = """
import numba.core.caching as caching
# a read-only install and a read-only home: numba's in-tree and user-wide caches unusable
for name in ("InTreeCacheLocator", "UserWideCacheLocator"):
    cls = getattr(caching, name, None) or getattr(caching, "_" + name)
    cls.from_function = classmethod(lambda cls, f, p: None)
"""


def test_kernels_are_cached_where_numba_finds_no_writable_place(tmp_path):
    env, drop = {"TMPDIR": str(tmp_path)}, ("NUMBA_CACHE_DIR",)
    first = _stats(_run(_NO_LOCATOR + _KERNELS, env, drop))
    second = _stats(_run(_NO_LOCATOR + _KERNELS, env, drop))
    cache = tmp_path / f"setol-numba-cache-{os.getuid()}"
    assert any(cache.rglob("*.nbi")), "nothing written to the fallback cache"
    assert any(miss for _, miss in first.values())
    for name, (hits, misses) in second.items():
        assert hits >= 1 and misses == 0, (name, hits, misses)


def test_njit_cached_without_any_cache_compiles(monkeypatch):
    numba = pytest.importorskip("numba")
    from numba.core import caching, config

    from setol_theory.util import njit_cached

    for name in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator"):
        cls = getattr(caching, name, None) or getattr(caching, "_" + name)
        monkeypatch.setattr(cls, "from_function", classmethod(lambda cls, f, p: None))
    monkeypatch.setattr(config, "CACHE_DIR", "")

    def add1(x):  # pragma: no cover - compiled
        return x + 1

    f = njit_cached(add1)
    assert isinstance(f, numba.core.registry.CPUDispatcher) and f(2) == 3
    assert config.CACHE_DIR  # the fallback directory was tried
