"""Figures of MLP3 runs and sweeps (``setol mlp3 plot``), in the layout of the paper's.

Each function reads what :mod:`simulations.mlp3` wrote (``config.json``, ``epochs.csv``,
``checkpoint.pt``, ``sweep.json``) and writes one PNG. :func:`plot_runs` writes them all.

* ``epochs``: alpha, alpha_weighted, ERG and Delta lambda_min of FC1 / FC2 vs epoch, one curve per
  setting (mean over seeds, band = 1 sd) -- arXiv:2507.17912 Sec. 6.1, 6.3.
* ``vs_setting``: final-epoch train/test error, alpha, alpha_weighted, Delta lambda_min, traps and
  Q^2 vs LR factor or batch size (mean +- sd over seeds) -- Sec. 6.1, 6.4.
* ``error_vs_alpha``: final-epoch train/test error vs alpha of FC1 / FC2 over all runs.
* ``truncation``: Delta E_train / Delta E_test of the ECS truncation test (POWERLAW and
  TRACELOG rules) vs epoch per setting -- Sec. 6.2.
* ``delta_lambda``: Delta lambda_min vs alpha, all epochs, final epochs marked; reference lines
  alpha = 2 and Delta lambda_min = 0 -- Sec. 6.3.
* ``traps``: ESD and element-shuffled ESD (log scale) of FC1 / FC2 at the final epoch of the
  two most extreme settings, with lambda_max^rand and the MP spike threshold -- Sec. 6.5.
* ``overloading``: train/test error vs alpha of the trained layer over all epochs (trajectories
  per setting), for FC1-only / FC2-only runs when present -- Sec. 6.6.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from setol_theory.report import pyplot

from ._analysis import layer_spectrum
from ._runner import collect_runs

__all__ = [
    "FIGURES",
    "plot_runs",
    "plot_epochs",
    "plot_vs_setting",
    "plot_error_vs_alpha",
    "plot_truncation",
    "plot_delta_lambda",
    "plot_traps",
    "plot_overloading",
]

_LAYERS = ("fc1", "fc2")


# --------------------------------------------------------------------------------------------
# Grouping
# --------------------------------------------------------------------------------------------
def _sweep_info(root: Path, runs: Sequence[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """``(kind, base)``: what the sweep varies (``"lr"``, ``"bs"`` or ``"run"``)."""
    try:
        info = json.loads((root / "sweep.json").read_text())
        return str(info.get("kind", "lr")), dict(info.get("base", {}))
    except (OSError, ValueError):
        pass
    lrs = {r["config"]["lr"] for r in runs}
    bss = {r["config"]["batch_size"] for r in runs}
    if len(lrs) > 1:
        return "lr", {"lr": min(lrs)}
    if len(bss) > 1:
        return "bs", {}
    return "run", {}


def _setting(run: dict[str, Any], kind: str, base: dict[str, Any]) -> float:
    c = run["config"]
    if kind == "lr":
        return round(c["lr"] / float(base.get("lr", 0.01)), 6)
    if kind == "bs":
        return float(c["batch_size"])
    return float(c["lr"])


def _label(kind: str, value: float) -> str:
    if kind == "lr":
        return f"LR x{value:g}"
    if kind == "bs":
        return f"BS {value:g}"
    return f"lr {value:g}"


def _groups(runs: Sequence[dict[str, Any]], kind: str, base: dict[str, Any]
            ) -> dict[float, list[dict[str, Any]]]:
    g: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        g[_setting(r, kind, base)].append(r)
    return dict(sorted(g.items()))


def _colors(n: int) -> list[Any]:
    plt = pyplot()
    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in (np.linspace(0.0, 0.9, n) if n > 1 else [0.3])]


def _col(rows: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([r.get(key, np.nan) for r in rows], dtype=float)


def _epoch_stats(runs: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, ...]:
    """Mean and sd over runs per epoch (runs that stopped earlier drop out)."""
    by_epoch: dict[int, list[float]] = defaultdict(list)
    for r in runs:
        for row in r["rows"]:
            v = row.get(key, np.nan)
            if isinstance(v, float) and math.isfinite(v):
                by_epoch[row["epoch"]].append(v)
    ep = np.array(sorted(by_epoch))
    mean = np.array([np.mean(by_epoch[e]) for e in ep])
    sd = np.array([np.std(by_epoch[e]) for e in ep])
    return ep, mean, sd


def _final(run: dict[str, Any], key: str) -> float:
    v = run["rows"][-1].get(key, np.nan)
    return float(v) if isinstance(v, float) else np.nan


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return path


def _spread(runs: Sequence[dict[str, Any]], what: str = "band = 1 sd") -> str:
    """How the seeds are summarised: "mean over N seeds, <what>", or "one seed (no spread)"
    when no setting has more than one seed."""
    per_setting: dict[Any, set[int]] = defaultdict(set)
    for r in runs:
        c = r["config"]
        per_setting[(c.get("lr"), c.get("batch_size"), c.get("layers"))].add(c["seed"])
    n = max((len(v) for v in per_setting.values()), default=0)
    return f"mean over {n} seeds, {what}" if n > 1 else "one seed per setting (no spread shown)"


def _title(kind: str, runs: Sequence[dict[str, Any]]) -> str:
    c = runs[0]["config"]
    seeds = sorted({r["config"]["seed"] for r in runs})
    fixed = (f"BS {c['batch_size']}" if kind == "lr" else f"LR {c['lr']:g}" if kind == "bs"
             else f"BS {c['batch_size']}")
    return (f"MLP3 {tuple(c['widths'])}, {c['dataset']}, trained: {c['layers']}, {fixed}, "
            f"seeds {seeds}")


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def plot_epochs(runs: Sequence[dict[str, Any]], kind: str, base: dict[str, Any], path: Path
                ) -> Path:
    """alpha, alpha_weighted, ERG and Delta lambda_min of FC1 / FC2 vs epoch, per setting."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    groups = _groups(runs, kind, base)
    metrics = [("alpha", r"$\alpha$"), ("alpha_weighted", r"$\hat\alpha$"),
               ("erg", r"ERG $\sum_{\lambda\geq\lambda_{min}^{PL}}\ln\lambda$"),
               ("delta_lambda_min", r"$\Delta\lambda_{min}=\lambda^{PL}-\lambda^{detX}$")]
    fig, axes = plt.subplots(2, 4, figsize=(17, 7), squeeze=False)
    for (val, grp), color in zip(groups.items(), _colors(len(groups)), strict=True):
        for i, layer in enumerate(_LAYERS):
            for j, (m, _) in enumerate(metrics):
                ep, mean, sd = _epoch_stats(grp, f"{layer}_{m}")
                if ep.size == 0:
                    continue
                ax = axes[i, j]
                ax.plot(ep, mean, color=color, lw=1.4, label=_label(kind, val))
                ax.fill_between(ep, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
    for i, layer in enumerate(_LAYERS):
        for j, (_, lab) in enumerate(metrics):
            ax = axes[i, j]
            ax.set_title(f"{layer.upper()}: {lab}", fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_ylabel(lab)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            if j == 0:
                ax.axhline(2.0, color="k", ls=":", lw=0.8)
            if j in (2, 3):
                ax.axhline(0.0, color="k", ls=":", lw=0.8)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(_title(kind, runs) + " -- " + _spread(runs), fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_vs_setting(runs: Sequence[dict[str, Any]], kind: str, base: dict[str, Any],
                    path: Path) -> Path:
    """Final-epoch errors and layer metrics vs LR factor or batch size (mean +- sd)."""
    plt = pyplot()
    groups = _groups(runs, kind, base)
    xs = np.array(list(groups))
    panels = [
        ("error", [("train_error", "train"), ("test_error", "test")]),
        (r"$\alpha$", [("fc1_alpha", "FC1"), ("fc2_alpha", "FC2")]),
        (r"$\hat\alpha$", [("fc1_alpha_weighted", "FC1"), ("fc2_alpha_weighted", "FC2")]),
        (r"$\Delta\lambda_{min}$", [("fc1_delta_lambda_min", "FC1"),
                                    ("fc2_delta_lambda_min", "FC2")]),
        ("correlation traps", [("fc1_num_traps", "FC1"), ("fc2_num_traps", "FC2")]),
        (r"$Q^2$ (computational R)", [("fc1_q2", "FC1"), ("fc2_q2", "FC2")]),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), squeeze=False)
    for ax, (title, series) in zip(axes.ravel(), panels, strict=True):
        for key, lab in series:
            vals = [[_final(r, key) for r in groups[x]] for x in xs]
            mean = np.array([np.nanmean(v) if np.isfinite(v).any() else np.nan for v in vals])
            sd = np.array([np.nanstd(v) if np.isfinite(v).any() else np.nan for v in vals])
            if np.isfinite(mean).any():
                ax.errorbar(xs, mean, yerr=sd, marker="o", capsize=3, label=lab)
        if title == r"$\alpha$":
            ax.axhline(2.0, color="k", ls=":", lw=0.8)
        if title.startswith(r"$\Delta"):
            ax.axhline(0.0, color="k", ls=":", lw=0.8)
        if title.startswith("$Q^2"):
            ax.set_yscale("log")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("LR factor" if kind == "lr" else "batch size" if kind == "bs" else "lr")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(_title(kind, runs) + " -- final epoch, " + _spread(runs, "bars = 1 sd"),
                 fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_error_vs_alpha(runs: Sequence[dict[str, Any]], kind: str, base: dict[str, Any],
                        path: Path) -> Path:
    """Final-epoch train / test error vs alpha of FC1 and FC2, one point per run."""
    plt = pyplot()
    groups = _groups(runs, kind, base)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), squeeze=False)
    for (val, grp), color in zip(groups.items(), _colors(len(groups)), strict=True):
        for ax, layer in zip(axes[0], _LAYERS, strict=True):
            a = [_final(r, f"{layer}_alpha") for r in grp]
            ax.scatter(a, [_final(r, "test_error") for r in grp], color=color, marker="o",
                       label=f"{_label(kind, val)} test")
            ax.scatter(a, [_final(r, "train_error") for r in grp], color=color, marker="x",
                       label=f"{_label(kind, val)} train")
    for ax, layer in zip(axes[0], _LAYERS, strict=True):
        ax.axvline(2.0, color="k", ls=":", lw=0.8)
        ax.set_xlabel(rf"$\alpha$ {layer.upper()} (final epoch)")
        ax.set_ylabel("error")
    axes[0, 1].legend(fontsize=7, ncol=2)
    fig.suptitle(_title(kind, runs), fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_truncation(runs: Sequence[dict[str, Any]], kind: str, base: dict[str, Any],
                    path: Path, *, skip_epochs: int = 0) -> Path:
    """Delta E = E(truncated) - E of the ECS truncation test vs epoch (PL and detX rules)."""
    plt = pyplot()
    groups = _groups(runs, kind, base)
    rules = (("pl", "POWERLAW rule"), ("detx", "TRACELOG (detX) rule"))
    fig, axes = plt.subplots(4, 2, figsize=(11, 13), squeeze=False)
    for (val, grp), color in zip(groups.items(), _colors(len(groups)), strict=True):
        for li, layer in enumerate(_LAYERS):
            for ri, (rule, _) in enumerate(rules):
                for si, s in enumerate(("train", "test")):
                    ep, mean, sd = _epoch_stats(grp, f"{layer}_dE_{s}_{rule}")
                    keep = ep >= skip_epochs
                    if not keep.any():
                        continue
                    ax = axes[2 * li + ri, si]
                    ax.plot(ep[keep], mean[keep], color=color, lw=1.3, label=_label(kind, val))
                    ax.fill_between(ep[keep], (mean - sd)[keep], (mean + sd)[keep],
                                    color=color, alpha=0.2, lw=0)
    for li, layer in enumerate(_LAYERS):
        for ri, (_, rname) in enumerate(rules):
            for si, s in enumerate(("train", "test")):
                ax = axes[2 * li + ri, si]
                ax.axhline(0.0, color="k", ls=":", lw=0.8)
                ax.set_title(f"{layer.upper()} truncated, {rname}: "
                             rf"$\Delta E_{{{s}}}$", fontsize=10)
                ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(_title(kind, runs) + "\nDelta E = error of the truncated model - error "
                 f"({_spread(runs)})", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_delta_lambda(runs: Sequence[dict[str, Any]], kind: str, base: dict[str, Any],
                      path: Path) -> Path:
    """Delta lambda_min vs alpha for FC1 / FC2: epochs >= 1 small, final epochs large."""
    plt = pyplot()
    groups = _groups(runs, kind, base)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), squeeze=False)
    for (val, grp), color in zip(groups.items(), _colors(len(groups)), strict=True):
        for ax, layer in zip(axes[0], _LAYERS, strict=True):
            for k, r in enumerate(grp):
                rows = [row for row in r["rows"] if row["epoch"] >= 1]
                ax.scatter(_col(rows, f"{layer}_alpha"), _col(rows, f"{layer}_delta_lambda_min"),
                           s=5, color=color, alpha=0.35)
                ax.scatter([_final(r, f"{layer}_alpha")],
                           [_final(r, f"{layer}_delta_lambda_min")], s=60, color=color,
                           edgecolor="k", label=_label(kind, val) if k == 0 else None)
    for ax, layer in zip(axes[0], _LAYERS, strict=True):
        ax.axvline(2.0, color="k", ls=":", lw=0.8)
        ax.axhline(0.0, color="k", ls=":", lw=0.8)
        ax.set_xlabel(rf"$\alpha$ {layer.upper()}")
        ax.set_ylabel(r"$\Delta\lambda_{min}=\lambda_{min}^{PL}-\lambda_{min}^{detX}$")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(_title(kind, runs) + " -- all epochs (dots), final epoch (circles)",
                 fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def _final_weights(run: dict[str, Any]) -> dict[str, np.ndarray] | None:
    import torch

    p = Path(run["dir"]) / "checkpoint.pt"
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError):
        return None
    sd = ck.get("model", {})
    out = {}
    for layer in _LAYERS:
        w = sd.get(f"{layer}.weight")
        if w is None:
            return None
        out[layer] = w.double().numpy()
    return out


def _analysed(run: dict[str, Any]) -> bool:
    """The run's last row has layer metrics (it did not diverge)."""
    last = run["rows"][-1]
    return all(math.isfinite(last.get(f"{lay}_lambda_max", np.nan)) for lay in _LAYERS)


def plot_traps(runs: Sequence[dict[str, Any]], kind: str, base: dict[str, Any], path: Path,
               *, n_settings: int = 3) -> Path:
    """ESD vs element-shuffled ESD at the final epoch of the most extreme settings that did
    not diverge (largest LR factors, smallest batch sizes), first seed of each."""
    plt = pyplot()
    groups = {k: [r for r in g if _analysed(r)]
              for k, g in _groups(runs, kind, base).items()}
    keys = [k for k, g in groups.items() if g]
    if not keys:
        raise ValueError("no run with analysed final weights to draw the trap figure from")
    pick = keys[::-1][:n_settings] if kind != "bs" else keys[:n_settings]
    fig, axes = plt.subplots(len(pick), 2, figsize=(11, 3.8 * len(pick)), squeeze=False)
    for i, val in enumerate(pick):
        run = sorted(groups[val], key=lambda r: r["config"]["seed"])[0]
        Ws = _final_weights(run)
        norm = run["config"].get("normalization", "none")
        for j, layer in enumerate(_LAYERS):
            ax = axes[i, j]
            if Ws is None:
                ax.text(0.5, 0.5, "no checkpoint", ha="center", transform=ax.transAxes)
                continue
            W = Ws[layer]
            ev = layer_spectrum(W, norm).evals
            rng = np.random.default_rng([run["config"]["seed"], 3, run["rows"][-1]["epoch"], j])
            Wr = rng.permutation(W.reshape(-1)).reshape(W.shape)
            evr = layer_spectrum(Wr, norm).evals
            pos = np.concatenate([ev[ev > 0], evr[evr > 0]])
            bins = np.logspace(np.log10(pos.min()), np.log10(pos.max()), 60)
            ax.hist(ev[ev > 0], bins=bins, alpha=0.55, label="ESD", color="C0")
            ax.hist(evr[evr > 0], bins=bins, alpha=0.55, label="shuffled W", color="C1")
            last = run["rows"][-1]
            lmr = last.get(f"{layer}_lambda_max_rand", np.nan)
            thr = last.get(f"{layer}_threshold_rand", np.nan)
            if math.isfinite(lmr):
                ax.axvline(lmr, color="C3", lw=1.5, label=r"$\lambda_{max}^{rand}$")
            if math.isfinite(thr):
                ax.axvline(thr, color="k", ls="--", lw=1, label="MP edge + TW margin")
            ax.set_xscale("log")
            ax.set_yscale("log")
            traps = last.get(f"{layer}_num_traps", np.nan)
            ax.set_title(f"{_label(kind, val)}, seed {run['config']['seed']}, "
                         f"{layer.upper()}, epoch {last['epoch']}: traps = {traps:g}",
                         fontsize=10)
            ax.set_xlabel(r"$\lambda$" + (r" ($\sigma^2$ scale)" if norm == "none" else ""))
            ax.legend(fontsize=8)
    fig.suptitle(_title(kind, runs) + " -- correlation traps", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_overloading(runs: Sequence[dict[str, Any]], kind: str, base: dict[str, Any],
                     path: Path) -> Path:
    """Train / test error vs alpha of the trained layer over all epochs, per setting."""
    plt = pyplot()
    by_layers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        by_layers[r["config"]["layers"]].append(r)
    choices = [c for c in ("fc1", "fc2") if c in by_layers] or ["all"]
    fig, axes = plt.subplots(len(choices), 2, figsize=(11, 4.2 * len(choices)), squeeze=False)
    for i, choice in enumerate(choices):
        layer = "fc1" if choice == "all" else choice
        grp_runs = by_layers.get(choice, runs)
        groups = _groups(grp_runs, kind, base)
        for (val, grp), color in zip(groups.items(), _colors(len(groups)), strict=True):
            for k, r in enumerate(grp):
                rows = [row for row in r["rows"] if row["epoch"] >= 1]
                a = _col(rows, f"{layer}_alpha")
                for j, s in enumerate(("train", "test")):
                    axes[i, j].plot(a, _col(rows, f"{s}_error"), color=color, lw=1,
                                    marker=".", ms=3,
                                    label=_label(kind, val) if k == 0 else None)
        for j, s in enumerate(("train", "test")):
            ax = axes[i, j]
            ax.axvline(2.0, color="k", ls=":", lw=0.8)
            ax.set_xlabel(rf"$\alpha$ {layer.upper()}")
            ax.set_ylabel(f"{s} error")
            ax.set_title(f"trained: {choice} -- {s} error along training", fontsize=10)
        axes[i, 0].legend(fontsize=8)
    fig.suptitle(_title(kind, runs) + " -- overloading / hysteresis view", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


#: Figure names accepted by :func:`plot_runs` (``figures=``) and ``setol mlp3 plot --figures``.
FIGURES: tuple[str, ...] = ("epochs", "vs_setting", "error_vs_alpha", "truncation",
                            "delta_lambda", "traps", "overloading")


def plot_runs(path: str | Path, out_dir: str | Path | None = None, *,
              prefix: str = "mlp3_", figures: Sequence[str] | None = None) -> list[Path]:
    """Figures of a run or sweep directory; returns the files written.

    ``figures`` selects among :data:`FIGURES` (default: all that apply: ``vs_setting`` and
    ``error_vs_alpha`` need a sweep, ``truncation`` the truncation columns). With several
    trained-layer choices in one sweep, the per-setting figures are drawn for each choice
    (file suffix ``_<layers>``); the overloading figure uses the FC1-only / FC2-only runs.
    """
    want = set(FIGURES if figures is None else figures)
    bad = sorted(want - set(FIGURES))
    if bad:
        raise ValueError(f"unknown figure(s) {', '.join(bad)}; choose from {', '.join(FIGURES)}")
    root = Path(path)
    runs = collect_runs(root)
    kind, base = _sweep_info(root, runs)
    out = Path(out_dir) if out_dir is not None else root / "figures"
    by_layers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        by_layers[r["config"]["layers"]].append(r)
    written: list[Path] = []
    for choice, grp in sorted(by_layers.items()):
        sfx = f"_{choice}" if len(by_layers) > 1 else ""
        has_trunc = any(f"{lay}_dE_test_pl" in grp[0]["rows"][0] for lay in _LAYERS)
        jobs = [("epochs", plot_epochs, True),
                ("vs_setting", plot_vs_setting, kind != "run"),
                ("error_vs_alpha", plot_error_vs_alpha, kind != "run"),
                ("truncation", plot_truncation, has_trunc),
                ("delta_lambda", plot_delta_lambda, True),
                ("traps", plot_traps, True)]
        for name, fn, applies in jobs:
            if name in want and applies:
                written.append(fn(grp, kind, base, out / f"{prefix}{name}{sfx}.png"))
    if "overloading" in want:
        written.append(plot_overloading(runs, kind, base, out / f"{prefix}overloading.png"))
    return written
