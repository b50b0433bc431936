"""The analysis pipeline: weights -> layers -> eigenvalues -> HTSR metrics, streaming."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import LayerError
from ..htsr import (
    SHUFFLES,
    TRAP_SCALES,
    LayerMetrics,
    esd_metrics,
)
from ..htsr._traps import _n_permutations, _shuffle, _trap_null, _trap_result
from ..io import Layer, iter_layers
from ..linalg import Backend, Spectrum, batched_eigenvalues, resolve_backend
from ._results import ModelAnalysis

Array = NDArray[np.float64]


#: With torch, ``analyze`` hands the eigensolver up to this many layers (or bytes of layers)
#: at once; the backend batches those of equal size. The layers are views of the model
#: (memory-mapped or already in memory), so the buffer costs no copy. numpy gains nothing
#: from batching (LAPACK solves one matrix at a time), so there each layer is done as soon as
#: it is read, which keeps the progress bar and the memory use per layer.
_BUFFER_LAYERS = 64


_BUFFER_BYTES = 256 * 2**20


def _record_error(layer: Layer, exc: Exception, on_error: str, N: int, M: int) -> LayerMetrics:
    if on_error == "raise":
        raise LayerError(f"layer {layer.name!r}: {exc}") from exc
    return LayerMetrics(name=layer.name, kind=layer.kind, status="skipped", reason=str(exc),
                        N=N, M=M)


def analyze_layers(
    layers: Iterable[Layer],
    *,
    min_evals: int = 2,
    max_evals: int | None = None,
    normalization: str = "N",
    traps: bool = True,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
    method: str = "auto",
    device: str | Backend | None = None,
    on_error: str = "raise",
    trap_shuffle: str = "auto",
    batch_bytes: int | None = None,
    trap_scale: str = "variance",
) -> Iterable[tuple[LayerMetrics, Array | None]]:
    """HTSR metrics of a stream of layers, in order: ``(metrics, evals or None)`` per layer.

    The engine of :func:`analyze` (which documents the options), also used by
    :mod:`setol_theory.scale` for one layer per task. With a torch backend up to 64 layers
    (256 MiB) are read ahead and handed to :func:`setol_theory.backend.batched_eigenvalues`
    together, so layers with the same number of eigenvalues share one batched eigensolve; the
    shuffled copies of the correlation-trap test are made one at a time and batched the same
    way. With numpy each layer is analysed as soon as it is read. Each layer's
    result depends only on the layer and the options (the trap shuffle of every layer is
    seeded with ``seed``), so any grouping of layers gives the same records.
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    if normalization not in ("N", "none"):
        raise ValueError(f"normalization must be 'N' or 'none', got {normalization!r}")
    if min_evals < 0 or (max_evals is not None and max_evals < min_evals):
        raise ValueError(f"need 0 <= min_evals <= max_evals, got {min_evals}, {max_evals}")
    if trap_shuffle not in SHUFFLES:
        raise ValueError(f"trap_shuffle must be one of {SHUFFLES}, got {trap_shuffle!r}")
    if trap_scale not in TRAP_SCALES:
        raise ValueError(f"trap_scale must be one of {TRAP_SCALES}, got {trap_scale!r}")
    backend = resolve_backend(device)
    max_layers = _BUFFER_LAYERS if backend.kind == "torch" else 1
    # slots: a finished record, or a buffered layer waiting for its eigenvalues
    slots: list[tuple[LayerMetrics, Array | None] | Layer] = []
    buffered_bytes = 0

    def flush() -> Iterable[tuple[LayerMetrics, Array | None]]:
        todo = [(i, s) for i, s in enumerate(slots) if isinstance(s, Layer)]
        if todo:
            done = _analyze_buffer([s for _, s in todo], backend, method=method,
                                   normalization=normalization, traps=traps, seed=seed,
                                   fit_kwargs=fit_kwargs, on_error=on_error,
                                   trap_shuffle=trap_shuffle, batch_bytes=batch_bytes,
                                   trap_scale=trap_scale)
            for (i, _), res in zip(todo, done, strict=True):
                slots[i] = res
        out = list(slots)
        slots.clear()
        return out  # type: ignore[return-value]

    for layer in layers:
        if layer.W is not None:
            shape: tuple[int, ...] = tuple(int(s) for s in np.shape(layer.W))
        else:  # a matrix that cannot be analysed (dtype, 1-wide, empty) still has a shape
            shape = tuple(getattr(layer, "matrix_shape", None) or ())
        N, M = (max(shape), min(shape)) if len(shape) == 2 else (0, 0)
        in_range = min_evals <= M and (max_evals is None or M <= max_evals)
        if len(shape) == 2 and not in_range:
            limits = f"[{min_evals}, {max_evals if max_evals is not None else 'inf'}]"
            slots.append((LayerMetrics(
                name=layer.name, kind=layer.kind, status="filtered", N=N, M=M,
                reason=f"{M} eigenvalues, outside min_evals/max_evals {limits}"), None))
        elif layer.W is None:
            reason = layer.skip_reason or "not analysable"
            if on_error == "raise":
                raise LayerError(f"layer {layer.name!r}: {reason}")
            slots.append((LayerMetrics(name=layer.name, kind=layer.kind, status="skipped",
                                       reason=reason, N=N, M=M), None))
        else:
            slots.append(layer)
            buffered_bytes += int(layer.W.nbytes)
            n_buf = sum(isinstance(s, Layer) for s in slots)
            if n_buf >= max_layers or buffered_bytes >= _BUFFER_BYTES:
                yield from flush()
                buffered_bytes = 0
    yield from flush()


def _analyze_buffer(
    layers: list[Layer], backend: Backend, *, method: str, normalization: str, traps: bool,
    seed: int | None, fit_kwargs: dict[str, Any] | None, on_error: str, trap_shuffle: str,
    batch_bytes: int | None, trap_scale: str = "variance",
) -> list[tuple[LayerMetrics, Array | None]]:
    names = [lay.name for lay in layers]
    spectra = batched_eigenvalues((lay.W for lay in layers), backend,
                                  normalization=normalization, method=method, names=names,
                                  batch_bytes=batch_bytes)
    out: list[tuple[LayerMetrics, Array | None]] = []
    ok: list[int] = []
    for i, (layer, sp) in enumerate(zip(layers, spectra, strict=True)):
        shape = np.shape(layer.W)
        N, M = max(shape), min(shape)
        if isinstance(sp, Exception):
            out.append((_record_error(layer, sp, on_error, N, M), None))
            continue
        assert isinstance(sp, Spectrum)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m = esd_metrics(sp.evals, N, M, name=layer.name, kind=layer.kind,
                                normalization=normalization, fit_kwargs=fit_kwargs)
        except (ValueError, TypeError) as exc:
            out.append((_record_error(layer, exc, on_error, N, M), None))
            continue
        out.append((replace(m, eig_device=sp.device, eig_fallback=sp.fallback), sp.evals))
        ok.append(i)
    if not traps or not ok:
        return out
    counts = [_n_permutations(min(np.shape(layers[i].W)), None) for i in ok]
    nulls = {i: _trap_null(layers[i].W, normalization, trap_scale) for i in ok}

    def shuffled() -> Iterable[Array]:
        for i, n_perm in zip(ok, counts, strict=True):
            rng = np.random.default_rng(seed)
            for _ in range(n_perm):
                yield _shuffle(layers[i].W, rng, trap_shuffle, nulls[i][1])

    # the shuffled copies hold the entries of layers already checked (finite, not all zero)
    tspectra = batched_eigenvalues(shuffled(), backend, normalization=normalization,
                                   method=method, batch_bytes=batch_bytes, check_values=False)
    pos = 0
    for i, n_perm in zip(ok, counts, strict=True):
        part = tspectra[pos:pos + n_perm]
        pos += n_perm
        m, ev = out[i]
        if any(isinstance(sp, Exception) for sp in part):  # pragma: no cover - defensive
            continue
        N, M = m.N, m.M
        sigma2, mean = nulls[i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t = _trap_result([sp.evals for sp in part], N, M,  # type: ignore[union-attr]
                             sigma2, mean)
        out[i] = (replace(m, num_traps=t.num_traps, lambda_max_rand=t.lambda_max_rand,
                          threshold_rand=t.threshold_rand), ev)
    return out


def analyze(
    source: Any,
    *,
    layers: str | Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    conv: str = "slices",
    min_evals: int = 2,
    max_evals: int | None = None,
    normalization: str = "N",
    traps: bool = True,
    seed: int | None = 0,
    fit_kwargs: dict[str, Any] | None = None,
    eig_kwargs: dict[str, Any] | None = None,
    on_error: str = "raise",
    keep_evals: bool = False,
    progress: bool | Callable[[Iterable[Any]], Iterable[Any]] = False,
    device: str | Backend | None = None,
    trap_shuffle: str = "auto",
    batch_bytes: int | None = None,
    trap_scale: str = "variance",
) -> ModelAnalysis:
    """HTSR analysis of every selected layer of a model.

    Parameters
    ----------
    source
        Anything :func:`setol_theory.spectra.iter_layers` accepts: an array, a dict of
        arrays/tensors, a torch ``nn.Module`` or ``state_dict``, or a path to a
        ``.safetensors`` / ``.pt`` / ``.npz`` file or a Hugging-Face-style model directory.
    layers, kinds, conv
        Layer selection, passed to ``iter_layers`` (unselected layers are not listed).
    min_evals, max_evals
        Size limits on ``M``; layers outside them are listed with ``status="filtered"``.
    normalization : {"N", "none"}
        ESD scale (see module docstring).
    traps : bool
        Also count correlation traps (one extra eigenvalue computation per layer).
    seed : int or None
        Seed of the shuffles of the correlation-trap test.
    eig_kwargs : dict, optional
        ``method`` (``"auto"``/``"eigvalsh"``/``"svd"``) and, as before ``device`` existed,
        ``backend="torch"`` with ``device="cpu"|"cuda"``.
    on_error : {"raise", "record"}
        ``"raise"``: a layer that cannot be analysed raises :class:`LayerError` naming it.
        ``"record"``: it is recorded with ``status="skipped"`` and its reason.
    keep_evals : bool
        Keep every layer's eigenvalues in ``ModelAnalysis.evals`` (for plots).
    progress : bool or callable
        ``True`` shows a tqdm progress bar on stderr; a callable wraps the layer iterator.
    device : str or Backend, optional
        Where the eigenvalues are computed (:func:`setol_theory.backend.resolve_backend`):
        ``"numpy"`` (default), ``"torch-cpu"``, ``"cuda"``, ``"auto"``. A layer too large
        for the device memory is computed on the CPU and says so in ``eig_fallback``.
    trap_shuffle : {"auto", "numpy", "blocked"}
        Permutation method of the trap test (:func:`permute_entries`; same statistics).
    batch_bytes : int, optional
        Largest stack of Gram matrices per batched eigensolve (backend default).
    trap_scale : {"variance", "fit"}
        MP scale of the shuffled layer in the trap test: its exact entry variance (default)
        or a fit to the shuffled ESD as in WeightWatcher (:func:`correlation_traps`).

    Returns
    -------
    ModelAnalysis
    """
    eig_kwargs = dict(eig_kwargs or {})
    unknown = set(eig_kwargs) - {"method", "backend", "device"}
    if unknown:
        raise ValueError(f"eig_kwargs: unknown option(s) {sorted(unknown)}")
    method = eig_kwargs.get("method", "auto")
    if "backend" in eig_kwargs or "device" in eig_kwargs:
        if device is not None:
            raise ValueError("give the device either as device= or in eig_kwargs, not both")
        kind = eig_kwargs.get("backend", "numpy")
        dev = str(eig_kwargs.get("device", "cpu"))
        if kind not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch', got {kind!r}")
        if kind == "numpy" and dev != "cpu":
            raise ValueError(f"device={dev!r} needs backend='torch'")
        device = "numpy" if kind == "numpy" else ("torch-cpu" if dev == "cpu" else dev)
    backend = resolve_backend(device)
    it: Iterable[Any] = iter_layers(source, layers=layers, kinds=kinds, conv=conv)
    if progress is True:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="layers", unit="layer", leave=False)
    elif callable(progress):
        it = progress(it)
    records: list[LayerMetrics] = []
    kept: dict[str, Array] = {}
    for m, evals in analyze_layers(
        it, min_evals=min_evals, max_evals=max_evals, normalization=normalization,
        traps=traps, seed=seed, fit_kwargs=fit_kwargs, method=method, device=backend,
        on_error=on_error, trap_shuffle=trap_shuffle, batch_bytes=batch_bytes,
        trap_scale=trap_scale,
    ):
        records.append(m)
        if keep_evals and evals is not None:
            kept[m.name] = evals
    if not records:
        raise ValueError(f"no analysable layer found in {_describe(source)} with the given filters")
    settings = {
        "normalization": normalization,
        "conv": conv,
        "traps": traps,
        "seed": seed,
        "fit": dict(fit_kwargs or {}),
        "eig": eig_kwargs,
        "layers": layers,
        "kinds": list(kinds) if kinds else None,
        "min_evals": min_evals,
        "max_evals": max_evals,
        "device": backend.label,
        "trap_shuffle": trap_shuffle,
        "trap_scale": trap_scale,
    }
    if backend.note:
        settings["device_note"] = backend.note
    return ModelAnalysis(records, source=_describe(source), settings=settings, evals=kept)


def _describe(source: Any) -> str:
    if isinstance(source, str | bytes) or hasattr(source, "__fspath__"):
        return str(source)
    return type(source).__name__

