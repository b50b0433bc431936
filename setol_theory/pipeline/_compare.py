"""Two models or checkpoints layer by layer: :func:`compare` -> :class:`Comparison`.

Both are analysed with the same options (:func:`~setol_theory.pipeline.analyze`); layers are
matched by name (``rename`` maps the names of ``b`` onto those of ``a``). Per matched layer:
``d_alpha = alpha_b - alpha_a``, ``d_alpha_weighted``, ``d_log_norm`` (each metric as defined
in docs/glossary.md, so the difference is on the same scale), and the relative Frobenius
distance ``rel_dW_F = ||W_b - W_a||_F / ||W_a||_F`` (float64; the two matrices must have the
same shape). A difference is ``None`` when either side has no value (the layer was skipped or
filtered, or its fit failed: see ``status_a`` / ``status_b`` and ``reason``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..options import AnalysisOptions
from ._analyze import analyze, resolve_options, select_layers
from ._results import ModelAnalysis

#: The metrics whose differences :func:`compare` reports (``d_<metric>`` = b - a).
COMPARED = ("alpha", "alpha_weighted", "log_norm")

#: The columns of a comparison row, in order.
COLUMNS = ("name", "status_a", "status_b", "alpha_a", "alpha_b", "d_alpha",
           "d_alpha_weighted", "d_log_norm", "rel_dW_F", "reason")


def _renamer(rename: Sequence[str] | Sequence[tuple[str, str]]) -> Any:
    pairs: list[tuple[re.Pattern[str], str]] = []
    for item in rename:
        pat, repl = item if isinstance(item, tuple) else (str(item).split("=", 1) + [""])[:2]
        if isinstance(item, str) and "=" not in item:
            raise ValueError(f"rename {item!r}: expected REGEX=REPLACEMENT")
        try:
            pairs.append((re.compile(pat), repl))
        except re.error as exc:
            raise ValueError(f"rename {pat!r}: invalid regular expression ({exc})") from None

    def apply(name: str) -> str:
        for pat, repl in pairs:
            name = pat.sub(repl, name)
        return name

    return apply


def _value(m: Any, key: str) -> float | None:
    v = getattr(m, key, None) if m is not None and m.status == "ok" else None
    return float(v) if v is not None and np.isfinite(v) else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


@dataclass
class Comparison:
    """The result of :func:`compare`.

    Attributes
    ----------
    a, b : ModelAnalysis
        The two analyses (``b``'s layer names as stored; rows use ``a``'s names).
    rows : list of dict
        One per layer of ``a`` or ``b`` (matched by name), keys :data:`COLUMNS`, in ``a``'s
        order then ``b``'s unmatched layers.
    """

    a: ModelAnalysis
    b: ModelAnalysis
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts and the mean of each difference over the layers where it is defined."""
        out: dict[str, Any] = {
            "num_layers": len(self.rows),
            "num_matched": sum(r["status_a"] is not None and r["status_b"] is not None
                               for r in self.rows),
            "num_only_a": sum(r["status_b"] is None for r in self.rows),
            "num_only_b": sum(r["status_a"] is None for r in self.rows),
        }
        for key in ("d_alpha", "d_alpha_weighted", "d_log_norm", "rel_dW_F"):
            vals = [r[key] for r in self.rows if r[key] is not None]
            out[f"mean_{key}"] = float(np.mean(vals)) if vals else None
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """The rows (copies)."""
        return [dict(r) for r in self.rows]

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready: both sources, the settings, the summary and the rows."""
        return {"a": self.a.source, "b": self.b.source, "settings": self.a.settings,
                "summary": self.summary(), "layers": self.to_records()}

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (needs ``setol[pandas]``)."""
        from ..util import require

        pd = require("pandas", "Comparison.to_dataframe()")
        return pd.DataFrame.from_records(self.to_records(), columns=list(COLUMNS))


def compare(a: Any, b: Any, options: AnalysisOptions | None = None, *,
            rename: Sequence[str] | Sequence[tuple[str, str]] = (), keep_evals: bool = False,
            on_error: str = "record", progress: bool = False, **changes: Any) -> Comparison:
    """Analyse ``a`` and ``b`` with the same options and compare them layer by layer.

    Parameters
    ----------
    a, b
        Weights sources (anything :func:`~setol_theory.pipeline.analyze` takes).
    options, **changes
        As :func:`~setol_theory.pipeline.analyze`.
    rename : sequence of ``"REGEX=REPLACEMENT"`` or (regex, replacement)
        Applied in order to ``b``'s layer names (``re.sub``) before matching them to ``a``'s.
    keep_evals : bool
        Keep both eigenvalue sets (for the ESD overlay figure).
    on_error : {"record", "raise"}
        A layer that cannot be analysed is a row with its reason (default) or an error.

    Returns
    -------
    Comparison
    """
    opts, _ = resolve_options(options, **changes)
    rename_b = _renamer(rename)
    ra = analyze(a, opts, keep_evals=keep_evals, on_error=on_error, progress=progress)
    rb = analyze(b, opts, keep_evals=keep_evals, on_error=on_error, progress=progress)
    by_b = {rename_b(m.name): m for m in rb.layers}
    fro = _relative_distances(a, b, opts, rename_b,
                              {m.name for m in ra.layers if m.status == "ok"} & set(by_b))
    rows = []
    names = [m.name for m in ra.layers] + [n for n in by_b if n not in
                                           {m.name for m in ra.layers}]
    by_a = {m.name: m for m in ra.layers}
    for name in names:
        ma, mb = by_a.get(name), by_b.get(name)
        row: dict[str, Any] = {
            "name": name, "status_a": None if ma is None else ma.status,
            "status_b": None if mb is None else mb.status,
            "alpha_a": _value(ma, "alpha"), "alpha_b": _value(mb, "alpha"),
        }
        for key in COMPARED:
            row[f"d_{key}"] = _diff(_value(ma, key), _value(mb, key))
        row["rel_dW_F"], why = fro.get(name, (None, ""))
        reasons = []
        if ma is None or mb is None:
            reasons.append("only in b" if ma is None else "only in a")
        for side, m in (("a", ma), ("b", mb)):
            if m is not None and m.status != "ok":
                reasons.append(f"{side} {m.status}: {m.reason}")
        if why:
            reasons.append(why)
        row["reason"] = "; ".join(reasons)
        rows.append(row)
    return Comparison(ra, rb, rows)


def _relative_distances(a: Any, b: Any, opts: AnalysisOptions, rename_b: Any,
                        names: set[str]) -> dict[str, tuple[float | None, str]]:
    """``||W_b - W_a||_F / ||W_a||_F`` of each matched layer (one pass over each source; b's
    matrices are held until a's counterpart comes by, memory-mapped where the format allows)."""
    held = {}
    for lay in select_layers(b, opts):
        n = rename_b(lay.name)
        if n in names and lay.W is not None:
            held[n] = lay.W
    out: dict[str, tuple[float | None, str]] = {}
    for lay in select_layers(a, opts):
        if lay.name not in held or lay.W is None:
            continue
        Wb = held.pop(lay.name)
        if np.shape(Wb) != np.shape(lay.W):
            out[lay.name] = (None, f"shapes differ: {np.shape(lay.W)} vs {np.shape(Wb)}")
            continue
        Wa = np.asarray(lay.W, dtype=np.float64)
        na = float(np.linalg.norm(Wa))
        d = float(np.linalg.norm(np.asarray(Wb, dtype=np.float64) - Wa))
        out[lay.name] = (d / na, "") if na > 0 else (None, "||W_a||_F = 0")
    return out


__all__ = ["COLUMNS", "COMPARED", "Comparison", "compare"]
