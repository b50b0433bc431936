"""PEFT LoRA adapter directories and models relative to a base model.

* An adapter directory (``adapter_config.json`` + ``adapter_model.safetensors`` or
  ``adapter_model.bin``; the layout of [PEFT], docs/references.md) is read as one record per
  adapted module: ``dW = s B A`` with ``s = lora_alpha / r`` ([Hu2022]; ``lora_alpha /
  sqrt(r)`` with ``use_rslora`` [Kal2023]; ``rank_pattern`` / ``alpha_pattern`` per module),
  named like the base weight it changes (``model.layers.0.self_attn.q_proj.weight``). The
  record carries the factors, not the ``out x in`` product: its spectrum comes from the ``r x
  r`` problem (:func:`setol_theory.linalg.lowrank_eigenvalues`).
* :class:`WithBase` puts a model next to its base: an adapter over its base model gives the
  merged weights ``W + dW`` (every base tensor, the adapted ones merged); a full fine-tune over
  its base gives the per-layer difference ``W_ft - W_base`` (in float64).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._record import _Tensor

ADAPTER_CONFIG = "adapter_config.json"

_LORA_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+?)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")
_BASE_PREFIX = re.compile(r"^base_model\.model\.")


def is_adapter_dir(path: Any) -> bool:
    """Whether ``path`` is a PEFT adapter directory (holds ``adapter_config.json``)."""
    try:
        return Path(path).is_dir() and (Path(path) / ADAPTER_CONFIG).is_file()
    except (TypeError, OSError):
        return False


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """PEFT's ``rank_pattern`` / ``alpha_pattern`` lookup: a key matches the module name
    exactly or as its dotted suffix (a regular expression)."""
    for key, value in (patterns or {}).items():
        if module == key or re.match(rf"(.*\.)?(?:{key})$", module):
            return value
    return default


@dataclass(frozen=True)
class LoraConfig:
    """The fields of ``adapter_config.json`` that fix ``dW`` (see the module docstring)."""

    r: int
    lora_alpha: float
    use_rslora: bool = False
    rank_pattern: dict[str, int] | None = None
    alpha_pattern: dict[str, float] | None = None
    fan_in_fan_out: bool = False
    use_dora: bool = False

    def scale(self, module: str, r: int) -> float:
        """``s`` of ``dW = s B A`` for ``module`` whose factors have rank ``r``."""
        alpha = float(_pattern_value(self.alpha_pattern or {}, module, self.lora_alpha))
        return alpha / (math.sqrt(r) if self.use_rslora else r)


def read_adapter_config(d: Path) -> LoraConfig:
    """The LoRA settings of an adapter directory (one-line ``ValueError`` when unusable)."""
    path = d / ADAPTER_CONFIG
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: not a JSON object")
    kind = str(cfg.get("peft_type", "LORA")).upper()
    if kind != "LORA":
        raise ValueError(f"{path}: PEFT type {kind} is not supported (LoRA adapters only)")
    try:
        r, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: needs numeric 'r' and 'lora_alpha'") from None
    if r < 1 or not math.isfinite(alpha):
        raise ValueError(f"{path}: r = {r}, lora_alpha = {alpha}: not a LoRA configuration")
    return LoraConfig(r=r, lora_alpha=alpha, use_rslora=bool(cfg.get("use_rslora", False)),
                      rank_pattern=cfg.get("rank_pattern") or None,
                      alpha_pattern=cfg.get("alpha_pattern") or None,
                      fan_in_fan_out=bool(cfg.get("fan_in_fan_out", False)),
                      use_dora=bool(cfg.get("use_dora", False)))


def adapter_tensors(d: Path, read_file: Callable[[Path], Iterator[Any]]) -> Iterator[Any]:
    """Records (``_Tensor``) of an adapter directory: one per adapted module, with
    ``factors`` (``B``, ``A``, ``s``) and the shape of ``dW`` in the base weight's layout;
    tensors saved besides the LoRA pairs (``modules_to_save``, embedding LoRA) as their own
    records, the embedding ones skipped with the reason."""
    cfg = read_adapter_config(d)
    files = [d / "adapter_model.safetensors", d / "adapter_model.bin"]
    found = [f for f in files if f.is_file()]
    if not found:
        raise ValueError(f"{d}: adapter weights not found (adapter_model.safetensors or "
                         "adapter_model.bin)")
    stored = {t.name: t for t in read_file(found[0])}
    pairs: dict[str, dict[str, Any]] = {}
    others = []
    for name, t in stored.items():
        m = _LORA_KEY.match(name)
        if m is None:
            others.append(t)
        else:
            pairs.setdefault(m.group("module"), {})[m.group("ab")] = t
    for module, ab in pairs.items():
        name = f"{module}.weight"
        if set(ab) != {"A", "B"}:
            have = "".join(sorted(ab))
            yield _Tensor(name, (), "other", "lora", _no_dense, "linear",
                          f"lora_{have} without its lora_{'B' if have == 'A' else 'A'}")
            continue
        A, B = ab["A"], ab["B"]
        if len(A.shape) != 2 or len(B.shape) != 2 or A.shape[0] != B.shape[1]:
            yield _Tensor(name, (), "other", A.dtype, _no_dense, "linear",
                          f"lora_A {A.shape} and lora_B {B.shape} do not chain (conv LoRA "
                          "is not supported)")
            continue
        r = A.shape[0]
        out, inn = B.shape[0], A.shape[1]
        shape = (inn, out) if cfg.fan_in_fan_out else (out, inn)
        t = _Tensor(name, shape, A.category if A.category != "float" else B.category,
                    A.dtype, _no_dense, "linear")
        if cfg.use_dora:
            t.skip_reason = "DoRA adapter (use_dora): dW is not s B A, not supported"
        else:
            s = cfg.scale(module, r)
            t.factors = lambda A=A, B=B, s=s: (B.load(), A.load(), s)
        yield t
    for t in others:
        t.name = _BASE_PREFIX.sub("", t.name)
        if "lora_embedding_" in t.name:
            t.kind = "embedding"
            t.skip_reason = "LoRA of an embedding (lora_embedding_A/B) is not analysed"
        yield t


def _no_dense() -> np.ndarray:
    raise RuntimeError("a LoRA record is analysed from its factors; dW is never formed")


@dataclass(frozen=True)
class WithBase:
    """A model read relative to its ``base``.

    ``source`` a PEFT adapter directory: the merged model ``W + dW`` (every tensor of the
    base; the adapted ones with ``dW`` added). ``source`` a full model (a fine-tune): the
    per-layer difference ``W_source - W_base`` of the tensors both hold with the same shape
    (the others are skipped records naming the reason). Pass it wherever a weights source is
    taken (:func:`~setol_theory.io.iter_layers`, :func:`~setol_theory.pipeline.analyze`).
    """

    source: Any
    base: Any

    @property
    def mode(self) -> str:
        """``"merged"`` (adapter + base) or ``"delta"`` (fine-tune - base)."""
        return "merged" if is_adapter_dir(self.source) else "delta"

    def __str__(self) -> str:
        op = "+" if self.mode == "merged" else "-"
        return f"{self.source} {op} {self.base}"


def with_base_tensors(wb: WithBase, source_tensors: Callable[[Any], Iterator[Any]]
                      ) -> Iterator[Any]:
    """The records of :class:`WithBase`: merged or difference tensors, loaded on demand
    (``source_tensors`` reads the records of a plain source)."""
    _source_tensors = source_tensors
    base = {t.name: t for t in _source_tensors(wb.base)}
    if wb.mode == "merged":
        cfg = read_adapter_config(Path(wb.source))
        deltas = {t.name: t for t in adapter_tensors(Path(wb.source), source_tensors)}
        missing = [n for n, t in deltas.items() if t.factors is not None and n not in base]
        if missing:
            raise ValueError(f"{wb.source}: adapted weight {missing[0]!r} is not in the base "
                             f"{wb.base} ({len(missing)} missing)")
        for name, bt in base.items():
            d = deltas.get(name)
            if d is None or d.factors is None:
                yield bt if d is None else _Tensor(name, bt.shape, bt.category, bt.dtype,
                                                   bt.load, bt.kind, d.skip_reason)
                continue
            if tuple(bt.shape) != tuple(d.shape):
                yield _Tensor(name, bt.shape, bt.category, bt.dtype, bt.load, bt.kind,
                              f"adapter dW {d.shape} does not fit the base weight {bt.shape}")
                continue

            def merged(bt: Any = bt, d: Any = d) -> np.ndarray:
                B, A, s = d.factors()
                dW = s * (np.asarray(B, np.float64) @ np.asarray(A, np.float64))
                return np.asarray(bt.load(), np.float64) + (dW.T if cfg.fan_in_fan_out else dW)

            yield _Tensor(name, bt.shape, bt.category, bt.dtype, merged, bt.kind)
        return
    for t in _source_tensors(wb.source):
        bt = base.get(t.name)
        if t.skip_reason is not None:
            yield t
        elif bt is None:
            yield _Tensor(t.name, t.shape, t.category, t.dtype, t.load, t.kind,
                          f"not in the base model {wb.base}")
        elif tuple(bt.shape) != tuple(t.shape):
            yield _Tensor(t.name, t.shape, t.category, t.dtype, t.load, t.kind,
                          f"shape {t.shape} differs from the base's {bt.shape}")
        else:
            def delta(t: Any = t, bt: Any = bt) -> np.ndarray:
                d = np.asarray(t.load(), np.float64) - np.asarray(bt.load(), np.float64)
                if not np.any(d):
                    raise ValueError("unchanged: equal to the base weight (W_ft - W_base = 0)")
                return d

            cat = t.category if bt.category == t.category else "other"
            yield _Tensor(t.name, t.shape, cat, t.dtype, delta, t.kind)
