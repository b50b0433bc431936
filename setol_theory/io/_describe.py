"""What a model holds and what ``setol analyze`` would do with each tensor, from the headers alone.

:func:`describe_layers` walks the same stored-tensor records as :func:`~setol_theory.io.
iter_layers` (names, shapes, dtypes, kinds) and applies the same selection rules (name patterns,
kinds, conv slicing, the dtype and shape checks, the eigenvalue-count range), without reading a
single weight: a safetensors file or a sharded checkpoint is described from its JSON headers, an
``.npz`` from its member headers. Torch pickles (``.pt``/``.bin``) have no header: they are loaded
(memory-mapped where the format allows).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .._tensor import dtype_problem, shape_problem
from ._iter import _compile_patterns, _infer_kind, _matrix_parts
from ._layer import KINDS
from ._readers import _source_tensors

#: What ``setol analyze`` does with a described entry.
ACTIONS = ("analyse", "filter", "skip", "ignore", "unselected")


@dataclass(frozen=True)
class LayerPlan:
    """One stored tensor (or one matrix of it: a conv kernel position, a q/k/v block) and what
    the analysis would do with it.

    Attributes
    ----------
    name : str
        The matrix name as ``setol analyze`` reports it (``conv1.weight[0,1]``, ``...[q]``).
    base_name : str
        The stored tensor's name.
    kind : str
        Inferred (or known) kind, one of :data:`~setol_theory.io.KINDS`.
    shape : tuple of int
        The stored tensor's shape.
    dtype : str
        The stored dtype (``float32``, ``bfloat16``, ``int8`` ...).
    matrix_shape : tuple of int or None
        ``(N, M)`` of the matrix analysed (None when the tensor has no matrix view).
    num_evals : int or None
        ``min(matrix_shape)``: the number of eigenvalues of ``W^T W``.
    action : str
        ``"analyse"``; ``"filter"`` (outside ``min_evals``/``max_evals``: a ``filtered`` row);
        ``"skip"`` (selected but cannot be analysed: a ``skipped`` row with ``reason``);
        ``"ignore"`` (1-D tensors and index buffers: not layers, no row); ``"unselected"``
        (excluded by ``layers``/``kinds``: no row).
    reason : str
        Why, for every action but ``"analyse"``.
    """

    name: str
    base_name: str
    kind: str
    shape: tuple[int, ...]
    dtype: str
    matrix_shape: tuple[int, ...] | None
    num_evals: int | None
    action: str
    reason: str = ""

    @property
    def num_params(self) -> int:
        """Elements of the stored tensor (of this part, for a conv slice or q/k/v block)."""
        if self.name == self.base_name or not self.matrix_shape:  # whole (or pooled) tensor
            return math.prod(self.shape)
        return math.prod(self.matrix_shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (shapes as lists)."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["matrix_shape"] = None if self.matrix_shape is None else list(self.matrix_shape)
        return d


def describe_layers(
    source: Any,
    *,
    layers: str | Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    min_evals: int = 0,
    max_evals: int | None = None,
    conv: str = "slices",
    split_in_proj: bool = True,
    pool: bool = True,
) -> Iterator[LayerPlan]:
    """Every stored tensor of ``source`` and what the analysis would do with it, in file order.

    Parameters
    ----------
    source, layers, kinds, conv, split_in_proj
        As for :func:`~setol_theory.io.iter_layers`.
    min_evals, max_evals : int, optional
        The eigenvalue-count range of :class:`~setol_theory.options.AnalysisOptions`
        (``setol analyze``'s ``--min-evals`` default is 10): matrices outside it are
        ``"filter"``.
    pool : bool
        As the analysis option ``pool`` (default True, as there):
        with ``conv="slices"`` the analysable slices of a conv kernel are one entry named by
        the tensor, ``matrix_shape`` one slice's and ``num_evals`` the pooled count.

    Returns
    -------
    Iterator[LayerPlan]
        One entry per stored tensor, or per matrix for conv kernels (``conv="slices"``) and
        fused attention ``in_proj`` weights. No weight is read (see the module docstring
        for torch pickles).

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        As :func:`~setol_theory.io.iter_layers`: a missing, unknown or corrupt file.
    """
    if conv not in ("slices", "reshape"):
        raise ValueError(f"conv must be 'slices' or 'reshape', got {conv!r}")
    kind_list = None if kinds is None else ([kinds] if isinstance(kinds, str) else list(kinds))
    if kind_list is not None:
        unknown = [k for k in kind_list if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown layer kind(s) {unknown}; known: {', '.join(KINDS)}")
    patterns: list[re.Pattern[str]] | None = _compile_patterns(layers)
    tensors = _source_tensors(source)

    def selected(*names: str) -> bool:
        return patterns is None or any(p.search(n) for p in patterns for n in names)

    def gen() -> Iterator[LayerPlan]:
        for t in tensors:
            kind = t.kind or _infer_kind(t.name, t.shape, t.category)
            common = {"base_name": t.name, "kind": kind, "shape": tuple(t.shape),
                      "dtype": t.dtype}
            if kind == "vector":
                why = (f"{t.dtype} index buffer, not a weight"
                       if t.category in ("integer", "boolean")
                       else f"{len(t.shape)}-D tensor (bias or norm scale), not a matrix")
                yield LayerPlan(t.name, matrix_shape=None, num_evals=None, action="ignore",
                                reason=why, **common)
                continue
            if kind_list is not None and kind not in kind_list:
                yield LayerPlan(t.name, matrix_shape=None, num_evals=None,
                                action="unselected", reason=f"kind {kind} not in --kinds",
                                **common)
                continue
            reason = t.skip_reason
            if reason is None and kind == "tensor":
                reason = f"{len(t.shape)}-D tensor with no matrix interpretation"
            if reason is not None:
                action = "skip" if selected(t.name) else "unselected"
                yield LayerPlan(t.name, matrix_shape=None, num_evals=None, action=action,
                                reason=reason if action == "skip" else "name not in --layers",
                                **common)
                continue
            plans = list(parts(t, kind, common))
            if pool and conv == "slices" and kind.startswith("conv") and len(t.shape) >= 3:
                plans = _pooled(plans, t.name, common, min_evals, max_evals)
            yield from plans

    def parts(t: Any, kind: str, common: dict[str, Any]) -> Iterator[LayerPlan]:
        for pname, mshape, _ in _matrix_parts(t.name, kind, t.shape, conv, split_in_proj):
            m = min(mshape) if mshape else 0
            part = {**common, "matrix_shape": tuple(mshape), "num_evals": m}
            if not selected(pname, t.name):
                yield LayerPlan(pname, action="unselected", reason="name not in --layers",
                                **part)
            elif m < min_evals or (max_evals is not None and m > max_evals):
                hi = "inf" if max_evals is None else max_evals
                yield LayerPlan(pname, action="filter",
                                reason=f"{m} eigenvalues, outside min_evals/max_evals "
                                       f"[{min_evals}, {hi}]", **part)
            else:
                why = dtype_problem(t.category, t.dtype) or shape_problem(tuple(mshape))
                yield LayerPlan(pname, action="skip" if why else "analyse",
                                reason=why or "", **part)

    return gen()


def _pooled(plans: list[LayerPlan], name: str, common: dict[str, Any], min_evals: int,
            max_evals: int | None) -> list[LayerPlan]:
    """The plans of a conv tensor's slices with the analysable ones pooled into one entry
    (in the position of the first), as the analysis pools them: the size filter applies to
    the pooled number of eigenvalues."""
    ok = [p for p in plans if p.action in ("analyse", "filter")]
    if not ok:
        return plans
    n = sum(p.num_evals or 0 for p in ok)
    if n < min_evals or (max_evals is not None and n > max_evals):
        hi = "inf" if max_evals is None else max_evals
        action, why = "filter", (f"{n} eigenvalues (pooled over {len(ok)} kernel positions), "
                                 f"outside min_evals/max_evals [{min_evals}, {hi}]")
    else:
        action, why = "analyse", ""
    entry = LayerPlan(name, matrix_shape=ok[0].matrix_shape, num_evals=n, action=action,
                      reason=why, **common)
    first = plans.index(ok[0])
    return [*(p for p in plans[:first]), entry,
            *(p for p in plans[first + 1:] if p.action not in ("analyse", "filter"))]
