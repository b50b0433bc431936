"""Check that a refactor leaves every number the CLI writes unchanged.

Runs the same ``setol`` commands (``analyze``, ``quality``, ``analyze-many``) with the code of
a git revision (default: the commit before the architecture refactor) and with the working tree,
in the same run and with the same interpreter, and compares the JSON they write after dropping
the fields that legitimately differ between runs (paths of temporary files, timestamps, file
identities). Intended changes of definition since the reference revision are stated in
:data:`INTENDED`: the old output is translated by their rule before the comparison (so a changed
column is still checked, against what the new definition says it must be), and columns that are
new or whose method changed are listed, not compared. Exit status 1 on any other difference;
the differences are printed.

    python benchmarks/results_unchanged.py                 # against d4e0ca3
    python benchmarks/results_unchanged.py --ref HEAD~3    # against another revision
    python benchmarks/results_unchanged.py --quick         # a smaller set of commands

The old revision is checked out with ``git worktree`` into a temporary directory and imported
through ``PYTHONPATH`` ahead of the installed (editable) package.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REF = "d4e0ca3"

#: Keys whose values depend on where and when a run happens, not on the analysis.
VOLATILE = {"source", "checkpoint", "file_id", "path", "out", "json", "plot", "elapsed_s",
            "seconds", "wall_s", "created", "timestamp",
            # prose, not results: the quality models' descriptions and sources cite the paper
            # by section and equation since 0.2 (they named its LaTeX files before)
            "description"}

#: (name, argv after ``setol``); ``{D}`` is the checkpoint directory, ``{J}`` the JSON output.
COMMANDS = [
    ("analyze-default", ["analyze", "--quiet", "--json", "{J}"]),
    ("analyze-none-notraps", ["analyze", "--quiet", "--normalization", "none", "--no-traps",
                              "--min-tail", "5", "--json", "{J}"]),
    ("analyze-reshape-fit", ["analyze", "{D}/conv.npz", "--quiet", "--conv", "reshape",
                             "--trap-scale", "fit", "--seed", "3", "--min-evals", "4",
                             "--json", "{J}"]),
    ("quality-default", ["quality", "--quiet", "--json", "{J}"]),
    ("quality-xmin-N", ["quality", "--quiet", "--ecs", "xmin", "--scale", "N",
                        "--models", "imp,tpl,emp", "--K", "4", "--json", "{J}"]),
    ("quality-curve", ["quality", "--quiet", "--curve", "imp", "--alpha", "1.5:5:4",
                       "--json", "{J}"]),
    ("analyze-many-serial", ["analyze-many", "{D}", "--quiet", "--scheduler", "serial",
                             "--min-evals", "4", "--out", "{J}"]),
]
QUICK = {"analyze-default", "quality-default", "analyze-many-serial"}


def make_checkpoints(d: Path) -> None:
    """Write a small, fixed set of checkpoints (npz, safetensors, torch) into ``d``."""
    rng = np.random.default_rng(20261207)
    d.mkdir(parents=True, exist_ok=True)
    heavy = rng.standard_t(3.0, size=(300, 120))
    np.savez(d / "mlp.npz", **{"fc1.weight": heavy, "fc2.weight": rng.normal(size=(80, 300)),
                               "fc2.bias": rng.normal(size=80)})
    np.savez(d / "conv.npz", **{"conv.weight": rng.standard_t(4.0, size=(32, 16, 3, 3))})
    try:
        from safetensors.numpy import save_file
    except ImportError:  # safetensors is optional; write the format by hand
        save_file = None
    tensors = {"layer.0.weight": rng.standard_t(2.5, size=(200, 64)).astype(np.float32)}
    if save_file is not None:
        save_file(tensors, str(d / "small.safetensors"))
    else:
        _write_safetensors(tensors, d / "small.safetensors")


def _write_safetensors(tensors: dict[str, np.ndarray], path: Path) -> None:
    header, off, blobs = {}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def run(code_dir: Path, argv: list[str], out: Path, ckpt: Path) -> object:
    args = [a.replace("{D}", str(ckpt)).replace("{J}", str(out)) for a in argv]
    env = dict(os.environ, PYTHONPATH=str(code_dir), OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-c", "import sys; from setol_theory.cli import main; "
           "sys.exit(main(sys.argv[1:]))", *args]
    p = subprocess.run(cmd, cwd=code_dir, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{code_dir.name}: setol {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    text = out.read_text()
    if out.suffix == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        return sorted((r for r in rows if "layer" in r),
                      key=lambda r: (str(r.get("model")), str(r.get("layer"))))
    return json.loads(text)


#: The 0.1 settings block nested two options (``fit: {min_tail}``, ``eig: {method}``); 0.2
#: records the flat AnalysisOptions fields. Old blocks are flattened before comparison, and
#: options that 0.1 did not record at all (e.g. ``precision``) are listed, not compared.
NEW_KEYS: set[str] = set()


#: Intended differences of definition since the reference revision (docs/weightwatcher.md,
#: docs/glossary.md): what changed, and how the old value is translated (``None``: not
#: comparable, listed only).
INTENDED: dict[str, str] = {
    "alpha_hat": "removed: it was alpha * log10(lambda_max) of the ESD (X = WᵀW/N by default); "
                 "its published counterpart is alpha_weighted",
    "alpha_weighted": "new: alpha * log10(lambda_max of WᵀW) = alpha * log10(c lambda_max), "
                      "c = N (normalization N) or 1 (none); checked from the old alpha and "
                      "lambda_max",
    "log_norm": "now on WᵀW whatever the normalization: old + log10(c); checked",
    "log_spectral_norm": "now on WᵀW whatever the normalization: old + log10(c); checked",
    "log_alpha_norm": "new: log10 sum (c lambda)^alpha; not in the old output (listed)",
    "mp_sigma2": "method changed: KS-minimising MP fit with spikes removed (was the median "
                 "match); not compared",
    "mp_lambda_plus": "follows mp_sigma2; not compared",
    "mp_softrank": "follows mp_sigma2, and NaN unless mp_status is ok; not compared",
    "num_spikes": "NaN unless mp_status is ok (was a count on every layer); not compared",
    "mp_status": "new: ok / not-mp-like / too-small (listed)",
    "mp_reason": "new (listed)",
    "mp_ks_distance": "new (listed)",
    "lr_lognormal": "new (listed)", "lr_lognormal_p": "new (listed)",
    "lr_exponential": "new (listed)", "lr_exponential_p": "new (listed)",
    "lr_tpl": "new (listed)", "lr_tpl_p": "new (listed)", "pl_bootstrap_p": "new (listed)",
    "verdict": "new (listed)", "verdict_reason": "new (listed)",
    "alpha_ci_low": "new (listed; NaN unless --alpha-ci)",
    "alpha_ci_high": "new (listed; NaN unless --alpha-ci)",
    "log10_q_ci_low": "new, per quality model (listed; None unless --q-ci)",
    "log10_q_ci_high": "new, per quality model (listed; None unless --q-ci)",
    "ci_replicates": "new, per quality model (listed; 0 unless --q-ci)",
    "ci_n_ok": "new, per quality model (listed)", "ci_reason": "new, per quality model (listed)",
    "warning": "now 'small-tail' where the tail is too short or is the bulk (not graded); "
               "other values compared",
}
#: Columns whose method changed: dropped from both sides before the comparison (INTENDED).
CHANGED_METHOD = {"mp_sigma2", "mp_lambda_plus", "mp_softrank", "num_spikes",
                  "mean_mp_softrank", "mean_num_spikes"}
#: Keys translated from the old output by a formula: compared to 1e-12 relative, not bitwise.
TRANSLATED = {"alpha_weighted", "log_norm", "log_spectral_norm", "mean_alpha_weighted",
              "mean_log_norm", "mean_log_spectral_norm"}
#: Columns of the new output that the old one did not have (INTENDED says why); listed.
NEW_COLUMNS: set[str] = set()
_NEW_ONLY = {k for k, v in INTENDED.items() if v.startswith("new") and "checked" not in v}


def _translate_record(r: dict, normalization: str) -> dict:
    """An old per-layer record under the new definitions (INTENDED)."""
    if "alpha_hat" not in r:
        return r
    r = dict(r)
    r.pop("alpha_hat")
    c = float(r.get("N") or 1) if r.get("normalization", normalization) == "N" else 1.0
    lmax, alpha = r.get("lambda_max"), r.get("alpha")
    r["alpha_weighted"] = (alpha * math.log10(c * lmax)
                           if alpha is not None and lmax is not None else None)
    for k in ("log_norm", "log_spectral_norm"):
        if r.get(k) is not None:
            r[k] = r[k] + math.log10(c)
    return r


def translate_old(x: object) -> object:
    """The old JSON with every per-layer record (and the summary means) translated."""
    if isinstance(x, list):
        return [translate_old(v) for v in x]
    if not isinstance(x, dict):
        return x
    settings = x.get("settings") if isinstance(x.get("settings"), dict) else {}
    norm = settings.get("normalization") or (settings.get("htsr") or {}).get("normalization")
    x = {k: translate_old(v) if k != "layers" else v for k, v in x.items()}
    x = _translate_record(x, "N")
    if isinstance(x.get("layers"), list):
        x["layers"] = [_translate_record(r, norm or "N") if isinstance(r, dict) else r
                       for r in x["layers"]]
        summ = x.get("summary")
        if isinstance(summ, dict) and "mean_alpha_hat" in summ:
            summ = dict(summ)
            summ.pop("mean_alpha_hat")
            ok = [r for r in x["layers"] if r.get("status") == "ok"]
            for k in ("alpha_weighted", "log_norm", "log_spectral_norm"):
                vals = [r[k] for r in ok if r.get(k) is not None and math.isfinite(r[k])]
                summ[f"mean_{k}"] = sum(vals) / len(vals) if vals else None
            x["summary"] = summ
    return x


def canon_settings(d: dict, old: bool) -> dict:
    d = dict(d)
    if old:
        for group in ("fit", "eig"):
            if isinstance(d.get(group), dict):
                d.update(d.pop(group))
    return d


def clean(x: object, old: bool = False) -> object:
    if isinstance(x, dict):
        x = {k: (canon_settings(v, old) if k in ("settings", "htsr") and isinstance(v, dict)
                 else v) for k, v in x.items()}
        return {k: clean(v, old) for k, v in x.items()
                if k not in VOLATILE and k not in CHANGED_METHOD}
    if isinstance(x, list):
        return [clean(v, old) for v in x]
    return x


def diff(a: object, b: object, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in old" for k in sorted(set(a) - set(b))]
        for k in sorted(set(b) - set(a)):
            if where.endswith(".settings") or where.endswith(".htsr"):
                NEW_KEYS.add(k)  # an option 0.1 did not record
            elif k in _NEW_ONLY or k.removeprefix("mean_") in _NEW_ONLY:
                NEW_COLUMNS.add(k)  # a column the old code did not have (INTENDED)
            else:
                out.append(f"{where}.{k}: only in new")
        for k in sorted(set(a) & set(b)):
            out += diff(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [d for i, (u, v) in enumerate(zip(a, b, strict=True))
                for d in diff(u, v, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    key = where.rsplit(".", 1)[-1]
    if key == "warning" and b == "small-tail":  # INTENDED: a layer that is no longer graded
        return []
    if key in TRANSLATED and isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) else [
            f"{where}: {a!r} (old, translated) -> {b!r}"]
    return [] if a == b else [f"{where}: {a!r} -> {b!r}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default=DEFAULT_REF, help=f"old revision (default {DEFAULT_REF})")
    ap.add_argument("--quick", action="store_true", help="only " + ", ".join(sorted(QUICK)))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old),
                        args.ref], check=True)
        try:
            ckpt = tmp / "ckpt"
            make_checkpoints(ckpt)
            bad = 0
            for name, argv in COMMANDS:
                if args.quick and name not in QUICK:
                    continue
                suffix = ".jsonl" if argv[0] == "analyze-many" else ".json"
                a = clean(translate_old(run(old, argv, tmp / f"old-{name}{suffix}", ckpt)),
                          old=True)
                b = clean(run(ROOT, argv, tmp / f"new-{name}{suffix}", ckpt))
                d = diff(a, b)
                bad += bool(d)
                print(f"{name:24s} {'identical' if not d else f'{len(d)} differences'}")
                for line in d[:20]:
                    print("   ", line)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)
    if NEW_KEYS:
        print("options recorded now that the old settings block did not record: "
              + ", ".join(sorted(NEW_KEYS)))
    print("intended differences of definition (old output translated, see INTENDED):")
    for k, why in INTENDED.items():
        print(f"    {k}: {why}")
    if NEW_COLUMNS:
        print("new columns, not compared: " + ", ".join(sorted(NEW_COLUMNS)))
    print("all identical" if not bad else f"{bad} command(s) differ")
    return int(bool(bad))


if __name__ == "__main__":
    sys.exit(main())
