"""Per-layer analysis options of analyze-many tasks."""

from __future__ import annotations

import hashlib
import json
import numbers
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

# --------------------------------------------------------------------------------------------
# Settings and per-layer tasks (run on the workers)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerOptions:
    """The analysis settings of every task (the arguments of :func:`setol_theory.htsr.
    analyze` that are not the source; ``fit`` is a tuple of ``(name, value)`` pairs)."""

    layers: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    conv: str = "slices"
    min_evals: int = 2
    max_evals: int | None = None
    normalization: str = "N"
    traps: bool = True
    seed: int | None = 0
    fit: tuple[tuple[str, Any], ...] = ()
    method: str = "auto"
    device: str = "numpy"
    trap_shuffle: str = "auto"
    trap_scale: str = "variance"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (recorded in the results file and compared on resume)."""
        d = asdict(self)
        d["fit"] = dict(self.fit)
        d["layers"] = list(self.layers) if self.layers is not None else None
        d["kinds"] = list(self.kinds) if self.kinds is not None else None
        return json.loads(json.dumps(d))

    def token(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def _options(
    *, layers: str | Sequence[str] | None, kinds: Sequence[str] | None, conv: str,
    min_evals: int, max_evals: int | None, normalization: str, traps: bool,
    seed: int | None, fit_kwargs: dict[str, Any] | None, method: str, device: str,
    trap_shuffle: str, trap_scale: str = "variance",
) -> LayerOptions:
    return LayerOptions(
        layers=(layers,) if isinstance(layers, str) else (tuple(layers) if layers else None),
        kinds=(kinds,) if isinstance(kinds, str) else (tuple(kinds) if kinds else None),
        conv=conv, min_evals=min_evals, max_evals=max_evals, normalization=normalization,
        traps=traps, seed=seed, fit=tuple(sorted((fit_kwargs or {}).items())),
        method=method, device=device, trap_shuffle=trap_shuffle, trap_scale=trap_scale,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _validate(opts: LayerOptions) -> None:
    """Check the options where the run starts (not as a failure of every task).

    Raises ``ValueError`` naming the option.
    """
    from ..fit import fit_powerlaw
    from ..htsr import SHUFFLES, TRAP_SCALES
    from ..io import KINDS

    for pat in opts.layers or ():
        if not isinstance(pat, str):
            raise ValueError(f"layers: expected regular expressions (str), got {pat!r}")
        try:
            re.compile(pat)
        except re.error as exc:
            raise ValueError(f"layers: invalid regular expression {pat!r} ({exc})") from None
    unknown = [k for k in opts.kinds or () if k not in KINDS]
    if unknown:
        raise ValueError(f"kinds: unknown layer kind(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(KINDS)}")
    choices: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
        ("conv", opts.conv, ("slices", "reshape")),
        ("normalization", opts.normalization, ("N", "none")),
        ("method", opts.method, ("auto", "eigvalsh", "svd")),
        ("trap_shuffle", opts.trap_shuffle, SHUFFLES),
        ("trap_scale", opts.trap_scale, TRAP_SCALES),
    )
    for name, value, allowed in choices:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    for name, value in (("min_evals", opts.min_evals), ("max_evals", opts.max_evals)):
        if value is not None and not _is_int(value):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if opts.min_evals < 0 or (opts.max_evals is not None and opts.max_evals < opts.min_evals):
        raise ValueError(f"need 0 <= min_evals <= max_evals, got min_evals={opts.min_evals}, "
                         f"max_evals={opts.max_evals}")
    if opts.seed is not None and not (_is_int(opts.seed) and opts.seed >= 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {opts.seed!r}")
    dev = str(opts.device).strip().lower()
    if not (dev in ("numpy", "cpu", "torch", "torch-cpu", "torch:cpu", "auto", "cuda")
            or re.fullmatch(r"cuda:[0-9]+", dev)):
        raise ValueError(f"unknown device {opts.device!r}; use numpy, torch-cpu, cuda, "
                         "cuda:N or auto")
    import inspect

    params = set(inspect.signature(fit_powerlaw).parameters) - {"x"}
    bad = sorted(k for k, _ in opts.fit if k not in params)
    if bad:
        raise ValueError(f"fit_kwargs: unknown option(s) {', '.join(bad)}; known: "
                         f"{', '.join(sorted(params))}")
    min_tail = dict(opts.fit).get("min_tail")
    if min_tail is not None and not (_is_int(min_tail) and min_tail >= 2):
        raise ValueError(f"min_tail must be an integer >= 2, got {min_tail!r}")

