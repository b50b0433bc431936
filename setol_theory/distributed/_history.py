"""Each layer's metrics against the training step: :func:`history` on an analyze-many table.

The step of a checkpoint is read from its name (the checkpoint's path relative to its model
directory, as :func:`find_checkpoints` names it): a number after ``checkpoint``, ``ckpt``,
``global_step``, ``step``, ``iteration``, ``iter`` or ``epoch`` (joined by ``-``, ``_``, ``=``
or nothing: ``checkpoint-1200``, ``step_00500``, ``epoch=3``, ``ckpt12``); the last such word
in the name wins (``run3/epoch=2/step_500`` is step 500). A name without one of these words has
no step and is refused with its name (rename the files, or keep one model per table).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: ``(unit, number)`` words of :func:`parse_step`, in the order they are tried at a position.
_STEP = re.compile(
    r"(?<![A-Za-z])(?P<unit>checkpoint|ckpt|global_step|step|iteration|iter|epoch)"
    r"s?[-_=]?(?P<n>\d+)", re.IGNORECASE)

#: The metrics :func:`history` follows by default (docs/glossary.md).
DEFAULT_METRICS = ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm")


def parse_step(name: str) -> tuple[str, int] | None:
    """``(unit, step)`` of a checkpoint name, or None (see the module docstring).

    >>> parse_step("checkpoint-1200"), parse_step("run/step_00500.safetensors")
    (('checkpoint', 1200), ('step', 500))
    >>> parse_step("epoch=3"), parse_step("final") is None
    (('epoch', 3), True)
    """
    found = list(_STEP.finditer(name))
    if not found:
        return None
    m = found[-1]
    unit = m.group("unit").lower()
    unit = {"ckpt": "checkpoint", "iteration": "iter", "global_step": "step"}.get(unit, unit)
    return unit, int(m.group("n"))


@dataclass
class History:
    """Metric values per model, layer and step (the result of :func:`history`).

    Attributes
    ----------
    rows : list of dict
        One per (model, checkpoint, layer) of an analysed layer: ``model``, ``checkpoint``,
        ``step``, ``unit``, ``layer``, ``layer_index`` and each metric (``None`` where the
        analysis has no value), ordered by model, layer (model order) and step.
    metrics : tuple of str
    settings : dict
        The analysis settings of the table.
    """

    rows: list[dict[str, Any]]
    metrics: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows))

    def layers(self, model: str | None = None) -> list[str]:
        """Layer names in model order."""
        return list(dict.fromkeys(r["layer"] for r in self.rows
                                  if model is None or r["model"] == model))

    def steps(self, model: str | None = None) -> list[int]:
        return sorted({r["step"] for r in self.rows if model is None or r["model"] == model})

    def series(self, metric: str, layer: str, model: str | None = None
               ) -> tuple[list[int], list[float | None]]:
        """``(steps, values)`` of ``metric`` for one layer, in step order."""
        if metric not in self.metrics:
            raise ValueError(f"metric {metric!r} is not in this history ({self.metrics})")
        model = model if model is not None else self.models[0]
        pts = sorted((r["step"], r[metric]) for r in self.rows
                     if r["model"] == model and r["layer"] == layer)
        return [s for s, _ in pts], [v for _, v in pts]

    def wide(self, metric: str, model: str | None = None) -> list[dict[str, Any]]:
        """One row per layer, one column per step (``"step N"``): the table of the CLI."""
        model = model if model is not None else self.models[0]
        out = []
        for layer in self.layers(model):
            steps, vals = self.series(metric, layer, model)
            out.append({"name": layer, **{f"step {s}": v for s, v in
                                          zip(steps, vals, strict=True)}})
        return out

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def to_json_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "metrics": list(self.metrics),
                "rows": self.to_records()}

    def to_dataframe(self) -> Any:
        """The long table as a pandas DataFrame (needs ``setol[pandas]``)."""
        from ..util import require

        pd = require("pandas", "History.to_dataframe()")
        cols = ["model", "checkpoint", "step", "unit", "layer", "layer_index", *self.metrics]
        return pd.DataFrame.from_records(self.to_records(), columns=cols)


def history(table: str | os.PathLike[str] | Sequence[dict[str, Any]],
            metrics: Sequence[str] = DEFAULT_METRICS, *,
            settings: dict[str, Any] | None = None) -> History:
    """Each layer's ``metrics`` against the step parsed from the checkpoint names.

    Parameters
    ----------
    table : path or rows
        A results file of :func:`~setol_theory.distributed.analyze_many` (JSON lines), or
        its rows (:attr:`ManyAnalysis.records`).
    metrics : sequence of str
        Columns of the table to follow (default :data:`DEFAULT_METRICS`).

    Raises
    ------
    ValueError
        An unknown metric; a checkpoint name without a step (named); two checkpoints of one
        model with the same step; no analysed layer.
    """
    from ._table import read_table

    if isinstance(table, (str, os.PathLike)):
        settings, rows = read_table(table)
    else:
        rows = list(table)
    from ..htsr import LayerMetrics

    known = {f.name for f in LayerMetrics.__dataclass_fields__.values()}
    bad = [m for m in metrics if m not in known]
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; a column of the analyze table, such as "
                         f"{', '.join(DEFAULT_METRICS)}")
    steps: dict[tuple[str, str], tuple[str, int]] = {}
    for r in rows:
        key = (r["model"], r["checkpoint"])
        if key not in steps:
            parsed = parse_step(r["checkpoint"])
            if parsed is None:
                raise ValueError(
                    f"checkpoint {r['model']}/{r['checkpoint']}: no step in its name (expected "
                    "checkpoint-N, step_N, epoch=N, iter N, ... )")
            steps[key] = parsed
    seen: dict[tuple[str, int], str] = {}
    for (model, ck), (_, n) in steps.items():
        other = seen.setdefault((model, n), ck)
        if other != ck:
            raise ValueError(f"model {model}: checkpoints {other} and {ck} have the same step {n}")
    out = []
    for r in rows:
        if r.get("status") != "ok":
            continue
        unit, n = steps[(r["model"], r["checkpoint"])]
        out.append({"model": r["model"], "checkpoint": r["checkpoint"], "step": n,
                    "unit": unit, "layer": r["layer"], "layer_index": r.get("layer_index"),
                    **{m: r.get(m) for m in metrics}})
    if not out:
        raise ValueError("no analysed layer in the table")
    out.sort(key=lambda r: (r["model"], r["layer_index"] if r["layer_index"] is not None
                            else -1, r["layer"], r["step"]))
    return History(out, tuple(metrics), settings or {})
