"""Weights -> layer matrices -> eigenvalues.

This module is the input edge of the HTSR analysis. It turns model weights from many sources
into a stream of 2-D layer matrices (:func:`iter_layers`, one :class:`Layer` at a time) and turns
one matrix into its empirical spectral density (:func:`correlation_eigenvalues`).

Conventions (docs/htsr.md, "The matrix and its ESD"; arXiv:2507.17912 Sec. 2.1):

* A layer weight ``W`` is ``N x M`` with ``N >= M`` after transposition if needed; the
  correlation matrix is ``X = W^T W / N`` and its ``M`` eigenvalues form the ESD.
  ``normalization="none"`` drops the ``1/N`` (WeightWatcher's scale).
* :class:`Layer` keeps ``W`` in its stored orientation; only the eigenvalue routine transposes.

Loading untrusted weights safely (docs/htsr.md, "The matrix and its ESD", weight sources):

* ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt`` are pickles: they are read *only* with
  ``torch.load(path, map_location="cpu", weights_only=True)``; a file that needs arbitrary
  Python objects is refused with a ``ValueError`` (convert it to safetensors in a trusted
  environment).
* ``.safetensors`` is read by our own reader (no ``safetensors`` dependency): the header length,
  JSON, dtypes, shapes and offsets are all checked against the file size *before* any tensor is
  touched, and tensors are memory-mapped and materialised one at a time.
* ``.npz`` / ``.npy`` are read with ``allow_pickle=False``; a member's declared size is checked
  against the archive before it is read.

torch is never imported by importing this module: it is imported where a tensor, an
``nn.Module``, a torch checkpoint or ``backend="torch"`` is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Layer kinds reported in :attr:`Layer.kind`.
#:
#: ``linear``        2-D weight of ``nn.Linear`` (or a 2-D ``*weight`` tensor in a state dict)
#: ``conv1d/2d/3d``  convolution kernel ``(out, in, *k)`` (also transposed convs, stored layout)
#: ``embedding``     ``nn.Embedding`` / ``EmbeddingBag`` or a 2-D ``*embed*...weight`` tensor
#: ``attn_in_proj``  fused ``nn.MultiheadAttention.in_proj_weight`` (3E x E), or its q/k/v parts
#: ``matrix``        any other 2-D tensor (unknown module parameter, RNN weights, ...)
#: ``tensor``        a tensor of rank >= 3 with no matrix interpretation: always skipped
#: ``vector``        0-D/1-D tensors (biases, norm scales) and integer index buffers: not layers,
#:                   yielded (as skipped records) only with ``include_1d=True``
KINDS: tuple[str, ...] = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "embedding",
    "attn_in_proj",
    "matrix",
    "tensor",
    "vector",
)


# --------------------------------------------------------------------------------------------
# Layer record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Layer:
    """One layer matrix (or one record of a layer that cannot be analysed).

    Attributes
    ----------
    name : str
        Unique name: the tensor's name, with a suffix for parts of a tensor —
        ``"conv1.weight[1,2]"`` (kernel position of a conv slice), ``"attn.in_proj_weight[q]"``
        (q/k/v part of a fused attention projection).
    kind : str
        One of :data:`KINDS`.
    W : numpy.ndarray or None
        2-D float32 or float64 array in the stored orientation (half precision, bfloat16 and
        float8 are upcast exactly to float32); read-only, possibly a view of a memory-mapped
        file or of the module's parameter. ``None`` when the layer cannot be analysed.
    source_shape : tuple of int
        Shape of the stored tensor (e.g. ``(out, in, kh, kw)`` for every slice of a conv).
    skip_reason : str or None
        Why ``W`` is ``None`` (e.g. ``"integer dtype int8, not a float weight matrix"``).
    base_name : str
        Name of the stored tensor this matrix comes from (``name`` without the part suffix);
        group by it to pool the slices of a conv kernel.
    source_dtype : str
        dtype of the stored tensor (``"bfloat16"``, ``"float16"``, ``"float32"``, ...).
    matrix_shape : tuple of int or None
        Shape of this matrix (of the slice or part for conv kernels and fused projections),
        also when ``W`` is ``None`` because of its dtype or shape; ``None`` for records that
        are not matrices (biases, tensors without a matrix view, preset skips).
    factors : (B, A, s) or None
        A low-rank matrix ``s B A`` of shape ``matrix_shape`` (a LoRA update), given by its
        factors instead of ``W`` (which is then ``None``): its spectrum comes from the ``r x r``
        problem (:func:`setol_theory.linalg.lowrank_eigenvalues`), the product is never formed.

    Notes
    -----
    ``eq=False``: layers compare by identity (``W`` is an array, so field equality would be
    ambiguous), and ``repr`` shows the shape, not the numbers.
    """

    name: str
    kind: str
    W: np.ndarray | None
    source_shape: tuple[int, ...]
    skip_reason: str | None = None
    base_name: str = ""
    source_dtype: str = ""
    matrix_shape: tuple[int, ...] | None = None
    factors: tuple[np.ndarray, np.ndarray, float] | None = None

    @property
    def ok(self) -> bool:
        """True when ``W`` (or the low-rank ``factors``) is available for analysis."""
        return self.W is not None or self.factors is not None

    @property
    def _shape(self) -> tuple[int, ...] | None:
        if self.W is not None:
            return tuple(self.W.shape)
        return self.matrix_shape if self.factors is not None else None

    @property
    def N(self) -> int | None:
        """Larger dimension of ``W`` (``None`` if skipped)."""
        return None if self._shape is None else int(max(self._shape))

    @property
    def M(self) -> int | None:
        """Smaller dimension of ``W`` = number of eigenvalues (``None`` if skipped)."""
        return None if self._shape is None else int(min(self._shape))

    def __repr__(self) -> str:
        if self.factors is not None:
            body = f"low-rank {self.matrix_shape} rank {np.shape(self.factors[1])[0]}"
        elif self.W is None:
            body = f"skipped: {self.skip_reason!r}"
        else:
            body = f"W={tuple(self.W.shape)} {self.W.dtype}"
        return (
            f"Layer(name={self.name!r}, kind={self.kind!r}, {body}, "
            f"source_shape={self.source_shape}, source_dtype={self.source_dtype!r})"
        )

