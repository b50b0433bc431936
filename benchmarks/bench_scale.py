"""Analysis at the speed of the eigensolver: setol analyze vs bare eigenvalues vs WeightWatcher.

On the default real model (all-MiniLM-L6-v2) and on a synthetic model of 100 heavy-tailed
layers of mixed sizes up to 4096 x 1024, in one process:

  (a)  bare eigenvalues of every analysed layer (the same backend and batching as analyze);
  (a') the eigenvalue work of the analysis with traps: every layer once more per trap
       permutation (1, or 5 when M < 100), shuffling not included;
  (b)  ``setol analyze`` end to end (reading, eigenvalues, power-law fit, MP fit, detX,
       correlation traps), with the CLI defaults (min_evals = min_tail = 10); (b0) the same
       with --no-traps;
  (c)  WeightWatcher 0.7.x ``analyze()`` with the closest settings (randomize=True for the
       traps, mp_fit=True, detX=True, min_evals=10, plot=False), on the same weights given as
       a state dict of numpy arrays;
  (e)  (default model, numpy) ``setol analyze MODEL --json FILE`` end to end in a new process:
       imports, numba kernels loaded from the on-disk cache, reading, analysis, output;

and prints (b0)/(a), (b)/(a), (b)/(a'), (c)/(b), (e)/(a). Since the trap test takes the
shuffled layer's top eigenvalues by Lanczos (docs/scale.md), (a') is no longer the trap test's
eigenvalue work: it is kept as the cost of the old full-spectrum route. Layers whose alpha
differs between setol and WeightWatcher by more than 0.05 are listed with the reason
(diagnosed by refitting setol's power law at WeightWatcher's xmin). Peak resident memory of
``analyze`` is measured in a fresh process (peak RSS reset after the imports with
/proc/self/clear_refs) and compared with 3 x the largest layer + the model file.

WeightWatcher is not a dependency of setol: (c) is skipped with a message when it cannot be
imported. To include it, run this script with an interpreter that has it, e.g. a throwaway
venv that sees setol's venv (docs/scale.md):

    python -m venv /tmp/wwvenv
    echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \\
        > /tmp/wwvenv/lib/python3.11/site-packages/zz_setol.pth
    /tmp/wwvenv/bin/pip install weightwatcher==0.7.7
    OPENBLAS_NUM_THREADS=1 /tmp/wwvenv/bin/python benchmarks/bench_scale.py

Options: --device (numpy, torch-cpu, cuda, auto), --repeat, --no-synthetic, --no-ww,
--synthetic-layers N, --keep DIR (keep the synthetic model).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from setol_theory.io import default_model_path, iter_layers, read_safetensors
from setol_theory.linalg import batched_eigenvalues, resolve_backend
from setol_theory.pipeline import analyze

MIN_EVALS = 10
MIN_TAIL = 10
ALPHA_TOL = 0.05

# ------------------------------------------------------------------------------ models

#: (shape, count) of the synthetic model: 100 layers, 4096 x 1024 the largest
SYNTHETIC_SHAPES = [
    ((4096, 1024), 5), ((1024, 4096), 5), ((2048, 512), 10), ((3072, 768), 10),
    ((1024, 1024), 20), ((768, 768), 20), ((512, 2048), 10), ((256, 256), 20),
]


def write_synthetic(path: Path, n_layers: int = 100, seed: int = 0) -> Path:
    """A safetensors file of ``n_layers`` float32 layers: Student-t entries (df from 2.2 to
    30: from strongly heavy-tailed to nearly Gaussian) plus, for every other layer, a rank-8
    signal, scaled by 1/sqrt(M)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import write_safetensors

    rng = np.random.default_rng(seed)
    shapes = [s for s, c in SYNTHETIC_SHAPES for _ in range(c)]
    shapes = (shapes * (n_layers // len(shapes) + 1))[:n_layers]
    dfs = [2.2, 3.0, 4.0, 6.0, 12.0, 30.0]
    tensors = {}
    for i, (n, m) in enumerate(shapes):
        W = rng.standard_t(dfs[i % len(dfs)], size=(n, m))
        if i % 2:
            k = 8
            W += 3.0 * (rng.standard_normal((n, k)) @ rng.standard_normal((k, m))) / math.sqrt(k)
        tensors[f"layer{i:03d}.weight"] = (W / math.sqrt(min(n, m))).astype(np.float32)
    return write_safetensors(path, tensors)


def analysed_layers(source):
    return [lay for lay in iter_layers(source) if lay.W is not None and lay.M >= MIN_EVALS]


# ------------------------------------------------------------------------------ timings


#: CPU seconds of the last :func:`best_of` (its fastest run): with one BLAS thread the
#: process's CPU time is the wall time an idle machine would show, and on the shared, loaded
#: project machine it varies far less than the wall clock (docs/scale.md)
LAST_CPU: list[float] = [math.nan]
#: CPU seconds (user + system) of each `setol analyze` child process
CLI_CPU: list[float] = []


def best_of(fn, repeat: int) -> float:
    times, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    LAST_CPU[0] = min(cpus)
    return min(times)


def bare_eigenvalues(source, backend, copies: bool = False) -> int:
    """(a): eigenvalues of every analysed layer; copies=True: (a'), as often as the trap
    test needs them (the layer itself stands in for its shuffled copies: same cost)."""
    layers = analysed_layers(source)

    def mats():
        for lay in layers:
            yield lay.W
            if copies:
                for _ in range(5 if lay.M < 100 else 1):
                    yield lay.W

    res = batched_eigenvalues(mats(), backend)
    return len(res)


def setol_analyze(source, backend, traps: bool):
    return analyze(source, min_evals=MIN_EVALS, min_tail=MIN_TAIL,
                   traps=traps, backend=backend, on_error="record")


def ww_analyze(state: dict[str, np.ndarray]):
    import weightwatcher as ww

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        watcher = ww.WeightWatcher(model=state)
        return watcher.analyze(min_evals=MIN_EVALS, randomize=True, mp_fit=True, detX=True,
                               plot=False)


def ww_available() -> str | None:
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
                io.StringIO()):
            import weightwatcher
    except ImportError as exc:
        return f"weightwatcher is not importable ({exc})"
    return None if weightwatcher.__version__.startswith("0.7") else (
        f"weightwatcher {weightwatcher.__version__} is not 0.7.x")


# ------------------------------------------------------------------------------ memory

_MEM_CODE = r"""
import json, resource, sys
import numpy as np
from setol_theory.linalg import resolve_backend
from setol_theory.htsr import permute_entries
from setol_theory.pipeline import analyze

def status(field):
    with open("/proc/self/status") as fh:
        for ln in fh:
            if ln.startswith(field):
                return int(ln.split()[1]) * 1024
    return None

# warm-up: imports, numba kernels (loaded from the cache), LAPACK workspaces
rng = np.random.default_rng(0)
analyze({"w.weight": rng.standard_normal((200, 60))}, traps=True)
for dt in (np.float32, np.float64):
    permute_entries(np.zeros(2**20, dt), rng, method="blocked")
backend = resolve_backend(sys.argv[2])
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    reset = True
except OSError:
    reset = False
base = status("VmRSS:")
analyze(sys.argv[1], min_evals=10, min_tail=10, traps=True, backend=backend,
        on_error="record")
peak = status("VmHWM:") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak, "reset": reset}))
"""


def measure_memory(path: Path, device: str) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    out = subprocess.run([sys.executable, "-c", _MEM_CODE, str(path), device],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ alpha diff


def compare_alphas(result, ww_df) -> list[dict]:
    """Layers where |alpha_setol - alpha_ww| > ALPHA_TOL, with the reason."""
    evals = result.evals
    out = []
    ww_rows = {str(r["name"]): r for _, r in ww_df.iterrows()}
    for m in result.layers:
        key = m.name[:-len(".weight")] if m.name.endswith(".weight") else m.name
        r = ww_rows.get(key)
        if r is None or not m.ok:
            continue
        a_ww = float(r["alpha"])
        if math.isfinite(m.alpha) and abs(a_ww - m.alpha) <= ALPHA_TOL:
            continue
        ev = evals[m.name]
        N = m.N
        # WeightWatcher's xmin is an eigenvalue of W^T W (no 1/N): take setol's eigenvalue
        # nearest to it (they agree to ~1e-15 relative, but >= must not depend on round-off)
        xmin_ww = float(ev[np.argmin(np.abs(ev - float(r["xmin"]) / N))])
        tail = ev[ev >= xmin_ww]
        n_ww = tail.size
        # setol's MLE and KS distance (powerlaw convention) at WeightWatcher's xmin
        a_at = 1.0 + n_ww / float(np.sum(np.log(tail / xmin_ww))) if n_ww > 1 else math.nan
        cdf = 1.0 - (np.sort(tail) / xmin_ww) ** (1.0 - a_at)
        d_at = float(np.max(np.abs(cdf - np.arange(n_ww) / n_ww))) if n_ww > 1 else math.nan
        lo, hi = 1.0, 20.0  # setol's alpha range (powerlaw.DEFAULT_ALPHA_RANGE)
        if a_ww <= 0:
            reason = "WeightWatcher's fit failed (alpha = -1 sentinel)"
        elif not abs(a_at - a_ww) < 1e-3 * max(1.0, a_ww):
            reason = (f"different eigenvalues: the MLE at WW's xmin is {a_at:.3f} on setol's "
                      "eigenvalues (WW drops eigenvalues <= 1e-5 absolute; setol M eps lambda_max)")
        elif n_ww < MIN_TAIL:
            sig = (a_ww - 1) / math.sqrt(n_ww)
            reason = (f"WW's xmin leaves a tail of {n_ww} < {MIN_TAIL} eigenvalues (a 'finger', "
                      f"sigma = (alpha-1)/sqrt(n) = {sig:.1f}); setol's KS scan requires "
                      f">= {MIN_TAIL} (docs/htsr.md, \"Power-law fit\")")
        elif not lo < a_ww < hi:
            reason = (f"WW's KS-best xmin gives alpha = {a_ww:.1f}, outside setol's fit range "
                      f"({lo:g}, {hi:g}), which setol's scan excludes: the tail is no power law "
                      "(both are > 6, 'under-trained')")
        elif d_at < m.D - 1e-12:
            reason = (f"KS: WW's xmin (tail {n_ww}) has D = {d_at:.4f} < setol's {m.D:.4f}: a "
                      "candidate outside setol's set (setol skips the two largest eigenvalues)")
        else:
            reason = (f"KS near-tie: D {d_at:.4f} (WW xmin, tail {n_ww}) vs {m.D:.4f} "
                      f"(setol, tail {m.num_tail})")
        out.append({"layer": m.name, "setol": m.alpha, "ww": a_ww, "tail_setol": m.num_tail,
                    "tail_ww": n_ww, "reason": reason})
    return out


# ------------------------------------------------------------------------------ main


def cli_analyze(path: Path) -> None:
    """(e): ``setol analyze PATH --json FILE`` in a new process (CLI defaults, traps on)."""
    setol = Path(sys.executable).with_name("setol")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(setol), "analyze", str(path), "--json", f"{tmp}/out.json"],
                       check=True, capture_output=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CLI_CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


def run(label: str, path: Path, backend, device: str, repeat: int, with_ww: bool,
        cli: bool = False) -> dict:
    layers = analysed_layers(path)
    largest = max(lay.W.nbytes for lay in layers)
    size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.iterdir()))
    print(f"\n=== {label}: {path}\n    {len(layers)} layers with >= {MIN_EVALS} eigenvalues, "
          f"largest {max(layers, key=lambda x: x.W.nbytes).W.shape} "
          f"({largest / 2**20:.1f} MiB), file {size / 2**20:.1f} MiB, device {backend.label}")
    setol_analyze(path, backend, traps=True)  # warm-up: numba, file cache
    t_a = best_of(lambda: bare_eigenvalues(path, backend), repeat)
    c_a = LAST_CPU[0]
    t_a2 = best_of(lambda: bare_eigenvalues(path, backend, copies=True), repeat)
    c_a2 = LAST_CPU[0]
    t_b0 = best_of(lambda: setol_analyze(path, backend, traps=False), repeat)
    c_b0 = LAST_CPU[0]
    t_b = best_of(lambda: setol_analyze(path, backend, traps=True), repeat)
    c_b = LAST_CPU[0]
    t_cli = best_of(lambda: cli_analyze(path), repeat) if cli else math.nan
    print("     (wall clock, best of the runs; in brackets: CPU time of this process)")
    print(f"(a)  bare eigenvalues               {t_a:9.3f} s [{c_a:7.3f} s]")
    print(f"(a') eigenvalues incl. trap copies  {t_a2:9.3f} s [{c_a2:7.3f} s]")
    print(f"(b0) setol analyze --no-traps       {t_b0:9.3f} s [{c_b0:7.3f} s]   (b0)/(a)  = "
          f"{t_b0 / t_a:5.2f} [{c_b0 / c_a:5.2f}]")
    print(f"(b)  setol analyze                  {t_b:9.3f} s [{c_b:7.3f} s]   (b)/(a)   = "
          f"{t_b / t_a:5.2f} [{c_b / c_a:5.2f}]   (b)/(a') = {t_b / t_a2:5.2f}")
    if cli:
        c_cli = min(CLI_CPU)
        print(f"(e)  `setol analyze` (CLI, new process) {t_cli:7.3f} s [{c_cli:7.3f} s]   "
              f"(e)/(a) = {t_cli / t_a:5.2f} [{c_cli / c_a:5.2f}]   (imports, numba kernels "
              "from the cache, reading, analysis)")
    res = {"a": t_a, "a2": t_a2, "b0": t_b0, "b": t_b, "cli": t_cli,
           "cpu": {"a": c_a, "a2": c_a2, "b0": c_b0, "b": c_b}}
    if with_ww:
        state = {k: np.array(v) for k, v in read_safetensors(path) if np.ndim(v) == 2}
        t0 = time.perf_counter()
        df = ww_analyze(state)
        t_c = time.perf_counter() - t0
        res["c"] = t_c
        print(f"(c)  WeightWatcher analyze          {t_c:9.3f} s   (c)/(b)   = {t_c / t_b:5.1f}"
              "   (randomize, mp_fit, detX; 1 run)")
        full = analyze(path, min_evals=MIN_EVALS, min_tail=MIN_TAIL,
                       traps=False, backend=backend, keep_evals=True, on_error="record")
        diffs = compare_alphas(full, df)
        res["alpha_diffs"] = diffs
        n_cmp = sum(1 for m in full.layers if m.ok)
        print(f"     alpha: {len(diffs)} of {n_cmp} layers differ by > {ALPHA_TOL}")
        for d in diffs:
            print(f"     {d['layer']:<48} setol {d['setol']:7.3f} (tail {d['tail_setol']:4d})  "
                  f"WW {d['ww']:7.3f} (tail {d['tail_ww']:4d})\n        -> {d['reason']}")
    mem = measure_memory(path, device)
    extra = mem["peak"] - mem["base"]
    bound = 3 * largest + size
    res["memory"] = {**mem, "extra": extra, "bound": bound}
    print(f"memory: peak RSS {mem['peak'] / 2**20:.0f} MiB, {extra / 2**20:.0f} MiB above the "
          f"{mem['base'] / 2**20:.0f} MiB after imports; bound 3 x largest layer + model = "
          f"{bound / 2**20:.0f} MiB -> {'OK' if extra <= bound else 'EXCEEDED'}"
          + ("" if mem["reset"] else " (peak not reset: includes the imports)"))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model file (default: all-MiniLM-L6-v2)")
    ap.add_argument("--device", default="numpy")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--no-ww", action="store_true")
    ap.add_argument("--synthetic-layers", type=int, default=100)
    ap.add_argument("--keep", metavar="DIR", help="write the synthetic model into DIR")
    ap.add_argument("--json", metavar="FILE", help="write the numbers as JSON")
    args = ap.parse_args()
    backend = resolve_backend(args.device)
    why = "--no-ww" if args.no_ww else ww_available()
    if why:
        print(f"(c) WeightWatcher: skipped: {why}")
    with_ww = why is None
    results = {}
    path = Path(args.model) if args.model else default_model_path()
    results["default"] = run("default model", path, backend, args.device, args.repeat, with_ww,
                             cli=args.device == "numpy")
    if not args.no_synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(args.keep) if args.keep else Path(tmp)
            d.mkdir(parents=True, exist_ok=True)
            syn = d / "synthetic100.safetensors"
            if not syn.exists():
                write_synthetic(syn, args.synthetic_layers)
            results["synthetic"] = run(f"synthetic model ({args.synthetic_layers} layers)",
                                       syn, backend, args.device, 1, with_ww)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
