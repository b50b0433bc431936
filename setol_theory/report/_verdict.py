"""The verdict of one layer record: what to look at, and why."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# thresholds of the alpha verdict (arXiv:2507.17912 Sec. 2.1, Table 1), as htsr uses them
_ALPHA_LOW, _ALPHA_HIGH = 2.0, 6.0


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def layer_verdict(rec: Mapping[str, Any]) -> tuple[str, str]:
    """``(verdict, reason)`` of one layer record.

    The record's own ``verdict`` / ``verdict_reason`` when the library wrote them; otherwise
    derived here from its status, power-law fit and alpha: the status of a layer that was not
    analysed, ``"no-fit"`` with the fit's reason, ``"under-trained"`` (alpha > 6),
    ``"over-trained"`` (alpha < 2) or ``"ok"`` (arXiv:2507.17912 Sec. 2.1, Table 1).
    """
    if rec.get("verdict"):
        return str(rec["verdict"]), str(rec.get("verdict_reason") or rec.get("reason") or "")
    status = rec.get("status", "ok")
    if status != "ok":
        return str(status), str(rec.get("reason") or "")
    if rec.get("fit_status", "ok") not in ("ok", ""):
        return "no-fit", str(rec.get("fit_reason") or rec.get("fit_status"))
    a = rec.get("alpha")
    if not _finite(a):
        return "no-fit", "no finite alpha"
    if a > _ALPHA_HIGH:
        return "under-trained", f"alpha = {a:.2f} > {_ALPHA_HIGH:g}: the tail is too thin"
    if a < _ALPHA_LOW:
        return "over-trained", f"alpha = {a:.2f} < {_ALPHA_LOW:g}: very heavy tail (VHT)"
    return "ok", f"{_ALPHA_LOW:g} <= alpha = {a:.2f} <= {_ALPHA_HIGH:g}"
