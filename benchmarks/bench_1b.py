"""A 1B-parameter checkpoint: synthetic Llama-family models, sharded bf16 safetensors, analysed.

Writes a synthetic checkpoint with the tensor shapes of a published 1.1B Llama-family model
(TinyLlama-1.1B: 22 blocks; q/o 2048 x 2048, grouped-query k/v 256 x 2048, gate/up 5632 x 2048,
down 2048 x 5632; token embeddings and an untied lm_head 32000 x 2048; RMSNorm vectors),
and two narrower members of the family (hidden 1024 and 1536, the same depth and ratios), as
bfloat16, sharded safetensors (<= 1 GiB shards) with a ``model.safetensors.index.json``.
Entries: Gaussian in even blocks, Student-t with 3 degrees of freedom (heavy-tailed) in odd
blocks and in the embeddings, scaled by 1/sqrt(fan-in). Then, per size, in a fresh process:

  (a)  the floor: float64 ``eigvalsh`` of every analysed layer's Gram matrix (the backend's
       eigenvalues, nothing else), timed once per distinct shape on its first layer and
       multiplied by the number of layers of that shape (all blocks share their shapes);
  (b)  ``analyze`` with the defaults (traps on) and (b0) ``--no-traps``: wall time, peak
       resident memory (``ru_maxrss`` of the process, imports included), (b)/(a);
  (c)  WeightWatcher 0.7.7 ``analyze()`` (defaults: alpha only, no randomisation) on the same
       directory, run by ``--ww-python`` (a venv that has it): wall time and peak RSS;
  (d)  ``setol analyze-many DIR --scheduler local --workers 2`` (two single-threaded Dask
       worker processes): wall time, and the largest peak RSS among the processes it started
       (``ru_maxrss`` of the children: the client or a worker).

The models use CPU seconds (one BLAS thread: the wall time of an idle core; the project
machine is shared and loaded, so its wall clock varies far more). The time model:
(b) ~ c * P^beta over the sizes (least squares in log-log), and the per-shape floor model
t = g N M^2 + e M^3 (Gram matrix + eigensolver, least squares over the distinct shapes of all
sizes), used with the measured (b)/(a) ratio to extrapolate to Llama-2 7B (32 blocks,
4096 / 11008, 32000 vocabulary) and Llama-2 70B (80 blocks, 8192 / 28672, grouped-query
k/v 1024 x 8192) in CPU-hours on one core.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_1b.py --dir /tmp/ckpt --json out.json \\
        --ww-python /work/wwvenv/bin/python --dask
    (docs/scale.md quotes its output; the checkpoints are deleted at the end unless --keep)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VOCAB = 32000
SHARD_BYTES = 1 << 30


@dataclass(frozen=True)
class Llama:
    """Shapes of a Llama-family decoder (``(out, in)`` as stored by Hugging Face)."""

    name: str
    hidden: int
    inter: int
    blocks: int
    kv: int
    vocab: int = VOCAB

    def tensors(self) -> list[tuple[str, tuple[int, ...]]]:
        h, f, kv = self.hidden, self.inter, self.kv
        out = [("model.embed_tokens.weight", (self.vocab, h))]
        for b in range(self.blocks):
            p = f"model.layers.{b}."
            a = p + "self_attn."
            out += [(a + "q_proj.weight", (h, h)), (a + "k_proj.weight", (kv, h)),
                    (a + "v_proj.weight", (kv, h)), (a + "o_proj.weight", (h, h)),
                    (p + "mlp.gate_proj.weight", (f, h)), (p + "mlp.up_proj.weight", (f, h)),
                    (p + "mlp.down_proj.weight", (h, f)),
                    (p + "input_layernorm.weight", (h,)),
                    (p + "post_attention_layernorm.weight", (h,))]
        out += [("model.norm.weight", (h,)), ("lm_head.weight", (self.vocab, h))]
        return out

    @property
    def params(self) -> int:
        return sum(math.prod(s) for _, s in self.tensors())

    def matrices(self) -> list[tuple[int, int]]:
        """``(N, M)`` of every 2-D tensor, ``N >= M``."""
        return [(max(s), min(s)) for _, s in self.tensors() if len(s) == 2]


SIZES = {
    "tiny": Llama("llama-tiny-smoke", 256, 704, 2, 32, vocab=4000),  # a smoke test of the script
    "0.3b": Llama("llama-h1024", 1024, 2816, 22, 128),
    "0.6b": Llama("llama-h1536", 1536, 4224, 22, 192),
    "1.1b": Llama("tinyllama-1.1b-shapes", 2048, 5632, 22, 256),
}
#: extrapolation targets (published configurations: Llama-2 7B and 70B, Touvron et al. 2023)
TARGETS = {
    "7b": Llama("llama-2-7b-shapes", 4096, 11008, 32, 4096),
    "70b": Llama("llama-2-70b-shapes", 8192, 28672, 80, 1024),
}


# ------------------------------------------------------------------------- the checkpoint


def _bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns, rounded to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
            >> np.uint32(16)).astype(np.uint16)


def _entries(name: str, shape: tuple[int, ...], rng: np.random.Generator,
             rows: int = 256):
    """The tensor's bf16 bytes, ``rows`` rows at a time (never the whole float32 tensor)."""
    if len(shape) == 1:
        yield _bf16_bits(1.0 + 0.1 * rng.standard_normal(shape)).tobytes()
        return
    n, m = shape
    heavy = "embed" in name or "lm_head" in name or (
        ".layers." in name and int(name.split(".layers.")[1].split(".")[0]) % 2 == 1)
    scale = 1.0 / math.sqrt(m)
    for i in range(0, n, rows):
        k = min(rows, n - i)
        x = rng.standard_t(3.0, (k, m)) if heavy else rng.standard_normal((k, m))
        yield _bf16_bits(x * scale).tobytes()


def write_checkpoint(cfg: Llama, out: Path, seed: int = 0) -> Path:
    """Sharded bf16 safetensors of ``cfg`` with ``model.safetensors.index.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in cfg.tensors():
        nbytes = 2 * math.prod(shape)
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    rng = np.random.default_rng(seed)
    weight_map = {}
    for k, shard in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, off = {}, 0
        for name, shape in shard:
            nb = 2 * math.prod(shape)
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + nb]}
            off += nb
            weight_map[name] = fname
        hb = json.dumps(header, separators=(",", ":")).encode()
        hb += b" " * (-len(hb) % 8)
        with open(out / fname, "wb") as f:
            f.write(len(hb).to_bytes(8, "little"))
            f.write(hb)
            for name, shape in shard:
                for chunk in _entries(name, shape, rng):
                    f.write(chunk)
    total = sum(2 * math.prod(s) for _, s in cfg.tensors())
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    return out


# ------------------------------------------------------------------------- measurements

_SETOL = r"""
import json, resource, sys, time
from collections import Counter
t0 = time.perf_counter()
from setol_theory.pipeline import analyze
from setol_theory.io import iter_layers
from setol_theory.linalg import batched_eigenvalues, resolve_backend
t_import = time.perf_counter() - t0
path, traps, floor = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
out = {"import_s": t_import}
if floor:
    backend = resolve_backend("numpy")
    shapes, count, first = {}, Counter(), {}
    for lay in iter_layers(path):
        if lay.W is None or min(lay.W.shape) < 10:
            continue
        key = (max(lay.W.shape), min(lay.W.shape))
        count[key] += 1
        if key not in shapes:
            t, c = time.perf_counter(), time.process_time()
            batched_eigenvalues([lay.W], backend)
            shapes[key] = (time.perf_counter() - t, time.process_time() - c)
    out["floor_s"] = sum(shapes[k][0] * c for k, c in count.items())
    out["floor_cpu_s"] = sum(shapes[k][1] * c for k, c in count.items())
    out["floor_shapes"] = [[k[0], k[1], shapes[k][1], count[k]] for k in shapes]
t, c = time.perf_counter(), time.process_time()
res = analyze(path, min_evals=10, traps=traps, on_error="record")
out["analyze_s"] = time.perf_counter() - t
out["analyze_cpu_s"] = time.process_time() - c
out["layers"] = sum(1 for m in res.layers if m.ok)
out["traps"] = float(sum(m.num_traps for m in res.layers if m.ok and m.num_traps == m.num_traps))
out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT " + json.dumps(out))
"""

_WW = r"""
import contextlib, io, json, logging, resource, sys, time, warnings
logging.disable(logging.CRITICAL)
warnings.simplefilter("ignore")
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    import weightwatcher as ww
t_import = time.perf_counter() - t0
t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    c = time.process_time()
    df = ww.WeightWatcher(model=sys.argv[1]).analyze(min_evals=10, plot=False)
out = {"import_s": t_import, "analyze_s": time.perf_counter() - t, "layers": int(len(df)),
       "analyze_cpu_s": time.process_time() - c,
       "version": ww.__version__,
       "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
print("RESULT " + json.dumps(out))
"""


def _child(cmd: list[str], log) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        log(f"    failed ({p.returncode}): {p.stderr[-2000:]}")
        return {"error": p.stderr[-2000:], "wall_s": wall}
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    res = json.loads(line[-1][7:]) if line else {}
    res["wall_s"] = wall
    return res


def run_dask(path: Path, tmp: Path, log) -> dict:
    setol = Path(sys.executable).with_name("setol")
    out = tmp / "many.jsonl"
    out.unlink(missing_ok=True)
    code = ("import resource, subprocess, sys, time, json\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "w = time.perf_counter() - t\n"
            "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
            "print(p.stderr[-1500:], file=sys.stderr)\n"
            "print('RESULT ' + json.dumps({'analyze_s': w, 'rc': p.returncode, "
            "'peak_rss_children': r}))\n")
    res = _child([sys.executable, "-c", code, str(setol), "analyze-many", str(path), "--out",
                  str(out), "--scheduler", "local", "--workers", "2", "--min-evals", "10"], log)
    if out.exists():
        res["rows"] = sum(1 for _ in open(out)) - 1
    return res


def fit_power(ps: list[float], ts: list[float]) -> tuple[float, float]:
    """``t = c P^beta`` by least squares in log-log: ``(c, beta)``."""
    beta, logc = np.polyfit(np.log(ps), np.log(ts), 1)
    return float(math.exp(logc)), float(beta)


def fit_floor(rows: list[list[float]]) -> tuple[float, float]:
    """``t = g N M^2 + e M^3`` (seconds) by non-negative least squares over timed shapes."""
    from scipy.optimize import nnls

    A = np.array([[n * m * m, m ** 3] for n, m, _, _ in rows], dtype=float)
    b = np.array([t for _, _, t, _ in rows])
    w = 1.0 / b  # relative errors: every shape counts alike
    (g, e), _ = nnls(A * w[:, None], b * w)
    return float(g), float(e)


def floor_model(cfg: Llama, g: float, e: float) -> float:
    return sum(g * n * m * m + e * m ** 3 for n, m in cfg.matrices() if m >= 10)


def fit_models(results: dict, log) -> None:
    """Fit and print the time models (module docstring) from ``results``; stores them under
    ``results["model"]``."""
    ok = {k: v for k, v in results["sizes"].items() if "analyze_s" in v.get("setol", {})}
    if len(ok) >= 2:
        c, beta = fit_power([v["params"] for v in ok.values()],
                            [v["setol"]["analyze_cpu_s"] for v in ok.values()])
        rows = [row for v in ok.values() for row in v["setol"]["floor_shapes"]]
        g, e = fit_floor(rows)
        ratio = max(v["setol"]["analyze_cpu_s"] / v["setol"]["floor_cpu_s"] for v in ok.values())
        log(f"\ntime model (CPU seconds, one thread): analyze = {c:.3g} s * P^{beta:.3f} "
            f"(P parameters; least squares over {len(ok)} sizes)")
        log(f"floor model: t = {g:.3g} N M^2 + {e:.3g} M^3 s per layer (NNLS over "
            f"{len(rows)} timed shapes); analysis = floor x {ratio:.2f} (largest measured ratio)")
        results["model"] = {"c": c, "beta": beta, "g": g, "e": e, "ratio": ratio,
                            "extrapolation": {}}
        for key, cfg in TARGETS.items():
            fl = floor_model(cfg, g, e)
            pw = c * cfg.params ** beta
            results["model"]["extrapolation"][key] = {
                "params": cfg.params, "floor_s": fl, "analyze_s_floor_model": fl * ratio,
                "analyze_s_power_law": pw}
            log(f"  {key} ({cfg.params / 1e9:.2f} B): floor {fl / 3600:.2f} CPU-h, analysis "
                f"{fl * ratio / 3600:.2f} CPU-h (floor model x ratio); power law "
                f"{pw / 3600:.2f} CPU-h   (one core)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, required=True, help="where to write the checkpoints")
    ap.add_argument("--sizes", nargs="+", default=["0.3b", "0.6b", "1.1b"], choices=list(SIZES))
    ap.add_argument("--ww-python", help="python of a venv with weightwatcher 0.7.7")
    ap.add_argument("--ww-sizes", nargs="+", default=["1.1b"], choices=list(SIZES))
    ap.add_argument("--dask", action="store_true", help="also analyze-many with 2 workers")
    ap.add_argument("--dask-sizes", nargs="+", default=["1.1b"], choices=list(SIZES))
    ap.add_argument("--no-traps-run", action="store_true", help="also time --no-traps")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoints")
    ap.add_argument("--no-setol", action="store_true",
                    help="skip (a)/(b) (e.g. to run (c) or (d) in another process)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--fit", nargs="+", type=Path, metavar="JSON",
                    help="only fit the time models to the results of earlier runs")
    args = ap.parse_args()
    if args.fit:
        merged: dict = {"sizes": {}}
        for f in args.fit:
            for k, v in json.loads(f.read_text())["sizes"].items():
                merged["sizes"].setdefault(k, {}).update(v)
        fit_models(merged, print)
        if args.json:
            args.json.write_text(json.dumps(merged, indent=1))
        return

    def log(msg: str) -> None:
        print(msg, flush=True)

    results: dict = {"sizes": {}, "machine": os.uname().nodename,
                     "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
    for key in args.sizes:
        cfg = SIZES[key]
        d = args.dir / cfg.name
        log(f"\n=== {key}: {cfg.name}, {cfg.params / 1e9:.3f} B parameters, "
            f"{len(cfg.matrices())} matrices, bf16")
        t = time.perf_counter()
        if not (d / "model.safetensors.index.json").exists():
            write_checkpoint(cfg, d)
        disk = sum(p.stat().st_size for p in d.iterdir())
        log(f"    checkpoint {d} ({disk / 2**30:.2f} GiB, "
            f"{len(list(d.glob('*.safetensors')))} shards), written in "
            f"{time.perf_counter() - t:.0f} s")
        r: dict = {"params": cfg.params, "disk_bytes": disk}
        if not args.no_setol:
            r["setol"] = _child([sys.executable, "-c", _SETOL, str(d), "1", "1"], log)
        s = r.get("setol", {})
        if "analyze_s" in s:
            log("     (wall clock; in brackets: CPU time of the process)")
            log(f"(a)  floor (float64 eigvalsh, by shape)  {s['floor_s']:9.1f} s "
                f"[{s['floor_cpu_s']:8.1f} s]")
            log(f"(b)  setol analyze (traps)             {s['analyze_s']:9.1f} s "
                f"[{s['analyze_cpu_s']:8.1f} s]   (b)/(a) = "
                f"{s['analyze_s'] / s['floor_s']:.2f} "
                f"[{s['analyze_cpu_s'] / s['floor_cpu_s']:.2f}]   peak RSS "
                f"{s['peak_rss'] / 2**30:.2f} GiB   {s['layers']} layers, "
                f"{s['traps']:.0f} traps")
        if args.no_traps_run:
            r["setol_no_traps"] = _child([sys.executable, "-c", _SETOL, str(d), "0", "0"], log)
            s0 = r["setol_no_traps"]
            if "analyze_s" in s0 and "floor_s" in s:
                log(f"(b0) setol analyze --no-traps          {s0['analyze_s']:9.1f} s   "
                    f"(b0)/(a) = {s0['analyze_s'] / s['floor_s']:.2f}   peak RSS "
                    f"{s0['peak_rss'] / 2**30:.2f} GiB")
        if args.ww_python and key in args.ww_sizes:
            r["ww"] = _child([args.ww_python, "-c", _WW, str(d)], log)
            w = r["ww"]
            if "analyze_s" in w and "analyze_s" in s:
                log(f"(c)  WeightWatcher {w['version']} analyze()  {w['analyze_s']:9.1f} s "
                    f"[{w['analyze_cpu_s']:8.1f} s]   (c)/(b) = "
                    f"{w['analyze_s'] / s['analyze_s']:.2f} "
                    f"[{w['analyze_cpu_s'] / s['analyze_cpu_s']:.2f}]   peak RSS "
                    f"{w['peak_rss'] / 2**30:.2f} GiB   {w['layers']} layers")
        if args.dask and key in args.dask_sizes:
            r["dask"] = run_dask(d, args.dir, log)
            k = r["dask"]
            if "analyze_s" in k and "analyze_s" in s:
                log(f"(d)  analyze-many, 2 Dask workers      {k['analyze_s']:9.1f} s   "
                    f"(d)/(b) = {k['analyze_s'] / s['analyze_s']:.2f}   rc {k['rc']}, "
                    f"{k.get('rows')} rows, largest worker/client peak RSS "
                    f"{k['peak_rss_children'] / 2**30:.2f} GiB")
        results["sizes"][key] = r
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        if not args.keep:
            shutil.rmtree(d)

    fit_models(results, log)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
