"""The analysis pipeline: weights -> layers -> eigenvalues -> metrics -> ECS -> quality.

One pass over the layers, streaming: each layer is read, its eigenvalues computed (batched
with torch), its HTSR metrics, detX edge and (when asked) its ECS and quality computed from
those same eigenvalues, and the eigenvalues dropped unless ``keep_evals``.  Each quantity is
computed once: the detX edge of :func:`setol_theory.htsr.layer_detx` feeds both the metrics
(``delta_lambda_min``) and the ECS.  The serial path here, the process pool and the Dask
tasks of :mod:`setol_theory.distributed` all run :func:`analyze_layers`, so their records are
the same.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._deprecated import warn_deprecated
from ..errors import LayerError
from ..htsr import (
    DetXResult,
    LayerMetrics,
    count_traps,
    esd_metrics,
    fast_trap_count,
    lanczos_applies,
    layer_detx,
    n_permutations_for,
    shuffled_layer,
    trap_null_model,
)
from ..io import Layer, iter_layers
from ..linalg import (
    Backend,
    Spectrum,
    batched_eigenvalues,
    lowrank_eigenvalues,
    resolve_backend,
)
from ..options import AnalysisOptions, OptionError, QualityOptions
from ._quality import QualityRecord, QualityReport, layer_record
from ._results import ModelAnalysis

Array = NDArray[np.float64]

__all__ = ["LayerResult", "analyze", "analyze_layers", "in_size_range", "resolve_options",
           "select_layers"]

#: With torch, ``analyze`` hands the eigensolver up to this many layers (or bytes of layers)
#: at once; the backend batches those of equal size. The layers are views of the model
#: (memory-mapped or already in memory), so the buffer costs no copy. numpy gains nothing
#: from batching (LAPACK solves one matrix at a time), so there each layer is done as soon as
#: it is read, which keeps the progress bar and the memory use per layer.
_BUFFER_LAYERS = 64
_BUFFER_BYTES = 256 * 2**20

_FIELDS = frozenset(f.name for f in fields(AnalysisOptions))


@dataclass(frozen=True)
class LayerResult:
    """What the pipeline yields per layer: the metrics and, for analysed layers, the
    eigenvalues, the detX edge and (with quality options) the quality record."""

    metrics: LayerMetrics
    evals: Array | None = None
    detx: DetXResult | None = None
    quality: QualityRecord | None = None


def resolve_options(options: AnalysisOptions | None = None, /, **changes: Any
                    ) -> tuple[AnalysisOptions, Backend | None]:
    """``options`` with ``changes`` applied, and a resolved backend if one was passed.

    ``changes`` are :class:`~setol_theory.options.AnalysisOptions` fields.  The 0.1 keyword
    arguments still work for one release with a ``DeprecationWarning``: ``fit_kwargs``
    (only ``min_tail`` is an analysis option), ``eig_kwargs`` (``method``; ``backend`` and
    ``device``) and ``device=<Backend>`` (now ``backend=``).
    """
    if options is None:
        options = AnalysisOptions()
    if not isinstance(options, AnalysisOptions):
        raise TypeError(f"options must be an AnalysisOptions, got {type(options).__name__}")
    backend = changes.pop("backend", None)
    if isinstance(changes.get("device"), Backend):
        backend = changes.pop("device")
    legacy = {k: changes.pop(k) for k in ("fit_kwargs", "eig_kwargs") if k in changes}
    for key, value in legacy.items():
        warn_deprecated(f"{key}= is deprecated: give AnalysisOptions fields (min_tail=, "
                        "method=, device=) instead")
        value = dict(value or {})
        if key == "fit_kwargs":
            extra = sorted(set(value) - {"min_tail"})
            if extra:
                raise OptionError(f"fit_kwargs: unknown option(s) {', '.join(extra)}; the "
                                  "analysis takes min_tail (other power-law settings: call "
                                  "setol_theory.fit.fit_powerlaw on the eigenvalues)")
            for k, v in value.items():
                if k in changes and changes[k] != v:
                    raise OptionError(f"{k} given twice with different values: {changes[k]!r} "
                                      f"and fit_kwargs[{k!r}] = {v!r}")
                changes[k] = v
        else:
            unknown = sorted(set(value) - {"method", "backend", "device"})
            if unknown:
                raise OptionError(f"eig_kwargs: unknown option(s) {unknown}")
            for k, v in (("method", value.get("method")),):
                if v is not None:
                    if k in changes and changes[k] != v:
                        raise OptionError(f"{k} given twice with different values: "
                                          f"{changes[k]!r} and eig_kwargs[{k!r}] = {v!r}")
                    changes[k] = v
            if "backend" in value or "device" in value:
                kind, dev = value.get("backend", "numpy"), str(value.get("device", "cpu"))
                if kind not in ("numpy", "torch"):
                    raise OptionError(f"backend must be 'numpy' or 'torch', got {kind!r}")
                if kind == "numpy" and dev != "cpu":
                    raise OptionError(f"device={dev!r} needs backend='torch'")
                changes["device"] = "numpy" if kind == "numpy" else (
                    "torch-cpu" if dev == "cpu" else dev)
    unknown = sorted(set(changes) - _FIELDS)
    if unknown:
        raise TypeError(f"unknown analysis option(s) {', '.join(unknown)}; the options are "
                        f"{', '.join(sorted(_FIELDS))}")
    if changes:
        options = replace(options, **changes)
    return options, backend


def select_layers(source: Any, options: AnalysisOptions,
                  layers: Sequence[str] | None = None) -> Iterator[Layer]:
    """The layers of ``source`` that ``options`` select (``layers`` patterns, ``kinds``,
    ``conv``), in model order; ``layers`` overrides the name patterns (a task reading one
    layer). The size filter is applied by :func:`analyze_layers` (:func:`in_size_range`)."""
    if layers is None:
        layers = list(options.layers) if options.layers else None
    return iter_layers(source, layers=layers,
                       kinds=list(options.kinds) if options.kinds else None, conv=options.conv)


def in_size_range(M: int, options: AnalysisOptions) -> bool:
    """Whether a matrix with ``M`` eigenvalues is analysed (``min_evals <= M <= max_evals``)."""
    return options.min_evals <= M and (options.max_evals is None or M <= options.max_evals)


def _layer_message(name: str, reason: str) -> str:
    """``"layer 'name': reason"``, naming the layer once."""
    head = f"layer {name!r}"
    return reason if reason.startswith(head) else f"{head}: {reason}"


def _record_error(layer: Layer, exc: Exception, on_error: str, N: int, M: int) -> LayerMetrics:
    if on_error == "raise":
        raise LayerError(_layer_message(layer.name, str(exc))) from exc
    return LayerMetrics(name=layer.name, kind=layer.kind, status="skipped", reason=str(exc),
                        N=N, M=M)


def analyze_layers(
    layers: Iterable[Layer],
    options: AnalysisOptions | None = None,
    *,
    quality: QualityOptions | None = None,
    on_error: str = "raise",
    backend: Backend | None = None,
    batch_bytes: int | None = None,
    **changes: Any,
) -> Iterator[LayerResult]:
    """The pipeline over a stream of layers, in order: one :class:`LayerResult` per layer.

    The engine of :func:`analyze` (which documents the arguments), and of the per-layer tasks
    of :mod:`setol_theory.distributed`. With a torch backend up to 64 layers (256 MiB) are
    read ahead and handed to :func:`setol_theory.linalg.batched_eigenvalues` together, so
    layers with the same number of eigenvalues share one batched eigensolve; the shuffled
    copies of the correlation-trap test are made one at a time and batched the same way. With
    numpy each layer is analysed as soon as it is read. Each layer's result depends only on
    the layer and the options (the trap shuffle of every layer is seeded with ``seed``), so
    any grouping of layers gives the same records.  ``**changes`` override fields of
    ``options`` as in :func:`analyze`.
    """
    opts, given = resolve_options(options, **changes)
    backend = backend or given
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    if backend is None:
        backend = resolve_backend(opts.device, precision=opts.precision)
    max_layers = _BUFFER_LAYERS if backend.kind == "torch" else 1
    # slots: a finished result, or a buffered layer waiting for its eigenvalues
    slots: list[LayerResult | Layer] = []
    buffered_bytes = 0

    def flush() -> Iterator[LayerResult]:
        todo = [(i, s) for i, s in enumerate(slots) if isinstance(s, Layer)]
        if todo:
            done = _analyze_buffer([s for _, s in todo], backend, opts, quality, on_error,
                                   batch_bytes)
            for (i, _), res in zip(todo, done, strict=True):
                slots[i] = res
        out = list(slots)
        slots.clear()
        return iter(out)  # type: ignore[arg-type]

    lo, hi = opts.min_evals, opts.max_evals
    pool = opts.pool and opts.conv == "slices"
    for layer in (_group_slices(layers, opts) if pool else layers):
        if isinstance(layer, list):  # the slices of one conv layer: one pooled ESD
            yield from flush()
            buffered_bytes = 0
            yield _pooled_result(layer, backend, opts, quality, on_error, batch_bytes)
            continue
        if layer.W is not None:
            shape: tuple[int, ...] = tuple(int(s) for s in np.shape(layer.W))
        else:  # a matrix that cannot be analysed (dtype, 1-wide, empty) still has a shape
            shape = tuple(getattr(layer, "matrix_shape", None) or ())
        N, M = (max(shape), min(shape)) if len(shape) == 2 else (0, 0)
        if len(shape) == 2 and not in_size_range(M, opts):
            limits = f"[{lo}, {hi if hi is not None else 'inf'}]"
            m = LayerMetrics(name=layer.name, kind=layer.kind, status="filtered", N=N, M=M,
                             reason=f"{M} eigenvalues, outside min_evals/max_evals {limits}")
            slots.append(_finish(m, None, None, quality))
        elif not layer.ok:
            reason = layer.skip_reason or "not analysable"
            if on_error == "raise":
                raise LayerError(_layer_message(layer.name, reason))
            m = LayerMetrics(name=layer.name, kind=layer.kind, status="skipped",
                             reason=reason, N=N, M=M)
            slots.append(_finish(m, None, None, quality))
        else:
            slots.append(layer)
            buffered_bytes += int(layer.W.nbytes) if layer.W is not None else 0
            n_buf = sum(isinstance(s, Layer) for s in slots)
            if n_buf >= max_layers or buffered_bytes >= _BUFFER_BYTES:
                yield from flush()
                buffered_bytes = 0
    yield from flush()


def pools_slices(layer: Layer, opts: AnalysisOptions) -> bool:
    """Whether ``layer`` is an analysable conv kernel slice that ``opts`` pool with the other
    slices of its tensor (``pool`` and ``conv="slices"``; one record named ``base_name``, whose
    size filter applies to the pooled number of eigenvalues, as WeightWatcher's)."""
    return (opts.pool and opts.conv == "slices" and layer.kind.startswith("conv")
            and layer.W is not None and layer.name != layer.base_name)


def _group_slices(layers: Iterable[Layer], opts: AnalysisOptions
                  ) -> Iterator[Layer | list[Layer]]:
    """The layers, with the consecutive analysable slices of each conv kernel (same
    ``base_name``) gathered into one list."""
    group: list[Layer] = []
    for layer in layers:
        if pools_slices(layer, opts):
            if group and group[0].base_name != layer.base_name:
                yield group
                group = []
            group.append(layer)
            continue
        if group:
            yield group
            group = []
        yield layer
    if group:
        yield group


def _pooled_result(slices: list[Layer], backend: Backend, opts: AnalysisOptions,
                   quality: QualityOptions | None, on_error: str, batch_bytes: int | None
                   ) -> LayerResult:
    """One record for the slices of a conv kernel: the metrics of their pooled ESD.

    The pooled ESD is the union of the ``k`` slices' eigenvalues (each on the ESD scale of its
    own ``N x M`` matrix, ``N`` the larger side), WeightWatcher's default for conv layers.
    ``num_traps`` is the sum of the slices' counts (each slice shuffled on its own),
    ``lambda_max_rand`` and ``threshold_rand`` the largest over the slices.
    """
    base = slices[0]
    N, M = max(np.shape(base.W)), min(np.shape(base.W))
    if not in_size_range(len(slices) * M, opts):
        lo, hi = opts.min_evals, opts.max_evals
        m = LayerMetrics(name=base.base_name, kind=base.kind, status="filtered", N=N, M=M,
                         reason=f"{len(slices) * M} eigenvalues (pooled over {len(slices)} "
                                f"kernel positions), outside min_evals/max_evals "
                                f"[{lo}, {hi if hi is not None else 'inf'}]")
        return _finish(m, None, None, quality)
    parts = _analyze_buffer(slices, backend, opts, None, on_error, batch_bytes)
    bad = [r for r in parts if r.evals is None]
    if bad:  # on_error="record": the pooled layer is skipped with the first slice's reason
        m = LayerMetrics(name=base.base_name, kind=base.kind, status="skipped",
                         reason=bad[0].metrics.reason, N=N, M=M)
        return _finish(m, None, None, quality)
    evals = np.sort(np.concatenate([r.evals for r in parts if r.evals is not None]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            detx = layer_detx(evals)
            m = esd_metrics(evals, N, M, name=base.base_name, kind=base.kind,
                            normalization=opts.normalization, fit_kwargs=opts.fit_kwargs,
                            gof_kwargs=opts.gof_kwargs, detx=detx, slices=len(slices))
    except (ValueError, TypeError) as exc:
        return _finish(_record_error(base, exc, on_error, N, M), None, None, quality)
    first = parts[0].metrics
    m = replace(m, eig_device=first.eig_device, eig_fallback=first.eig_fallback)
    if opts.traps:
        m = replace(m, num_traps=float(sum(r.metrics.num_traps for r in parts)),
                    lambda_max_rand=max(r.metrics.lambda_max_rand for r in parts),
                    threshold_rand=max(r.metrics.threshold_rand for r in parts))
    return _finish(m, evals, detx, quality, opts.fit_kwargs)


def legacy_analyze_layers(layers: Iterable[Layer], *, on_error: str = "raise",
                          batch_bytes: int | None = None, **changes: Any
                          ) -> Iterator[tuple[LayerMetrics, Array | None]]:
    """The 0.1 ``setol_theory.htsr.analyze_layers``: ``(metrics, evals or None)`` pairs.

    Deprecated (removed in 0.3): use :func:`analyze_layers`, which yields
    :class:`LayerResult` records (metrics, eigenvalues, detX edge, quality).
    """
    for r in analyze_layers(layers, on_error=on_error, batch_bytes=batch_bytes, **changes):
        yield r.metrics, r.evals


def _finish(m: LayerMetrics, evals: Array | None, detx: DetXResult | None,
            quality: QualityOptions | None, fit_kwargs: dict[str, Any] | None = None
            ) -> LayerResult:
    """The last steps of one layer: ECS and quality from the same eigenvalues and detX
    (``fit_kwargs``: the analysis's power-law fit settings, for the log10 Q interval)."""
    rec = layer_record(m, evals, quality, detx=detx, fit_kwargs=fit_kwargs) \
        if quality is not None else None
    return LayerResult(m, evals, detx, rec)


def _analyze_buffer(layers: list[Layer], backend: Backend, opts: AnalysisOptions,
                    quality: QualityOptions | None, on_error: str, batch_bytes: int | None,
                    ) -> list[LayerResult]:
    dense = [lay for lay in layers if lay.W is not None]
    spectra = iter(batched_eigenvalues((lay.W for lay in dense), backend,
                                       normalization=opts.normalization, method=opts.method,
                                       names=[lay.name for lay in dense],
                                       batch_bytes=batch_bytes))
    out: list[tuple[LayerMetrics, Array | None, DetXResult | None]] = []
    ok: list[int] = []
    for i, layer in enumerate(layers):
        sp = next(spectra) if layer.W is not None else _lowrank_spectrum(layer, opts)
        N, M = int(layer.N or 0), int(layer.M or 0)
        if isinstance(sp, Exception):
            out.append((_record_error(layer, sp, on_error, N, M), None, None))
            continue
        assert isinstance(sp, Spectrum)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                detx = layer_detx(sp.evals)
                m = esd_metrics(sp.evals, N, M, name=layer.name, kind=layer.kind,
                                normalization=opts.normalization, fit_kwargs=opts.fit_kwargs,
                                gof_kwargs=opts.gof_kwargs,
                                detx=detx)
        except (ValueError, TypeError) as exc:
            out.append((_record_error(layer, exc, on_error, N, M), None, None))
            continue
        out.append((replace(m, eig_device=sp.device, eig_fallback=sp.fallback), sp.evals,
                    detx))
        if layer.W is not None:  # the trap test shuffles the entries of W: dense layers only
            ok.append(i)
    if opts.traps and ok:
        _add_traps(layers, out, ok, backend, opts, batch_bytes)
    return [_finish(m, ev, dx, quality, opts.fit_kwargs) for m, ev, dx in out]


def _lowrank_spectrum(layer: Layer, opts: AnalysisOptions) -> Spectrum | Exception:
    """The spectrum of a low-rank layer ``s B A`` from its ``r x r`` problem (on the CPU)."""
    assert layer.factors is not None
    B, A, s = layer.factors
    try:
        return Spectrum(lowrank_eigenvalues(B, A, s, normalization=opts.normalization,
                                            name=layer.name), "numpy (low rank)")
    except ValueError as exc:
        return exc


def _add_traps(layers: list[Layer], out: list[tuple[LayerMetrics, Array | None, Any]],
               ok: list[int], backend: Backend, opts: AnalysisOptions,
               batch_bytes: int | None) -> None:
    """The correlation-trap test of the analysed layers, shuffled copies batched.

    On numpy (``method`` not ``"svd"``, ``trap_solver="auto"``) with
    ``trap_scale="variance"`` a layer with one shuffle (``M >= 100``) gets its count from
    :func:`setol_theory.htsr.fast_trap_count` (the shuffled layer's top eigenvalues by
    Lanczos, or its float32 spectrum when tall); the layers where that does not decide the
    count, and every other layer, get the full spectrum, batched as before.
    """
    counts = {i: n_permutations_for(min(np.shape(layers[i].W)), None) for i in ok}
    nulls = {i: trap_null_model(layers[i].W, opts.normalization, opts.trap_scale) for i in ok}
    lanczos = backend.kind == "numpy" and opts.trap_solver == "auto" and opts.method != "svd"
    # shuffled copies whose full spectrum is needed, in order: (layer index, copy)
    full: list[tuple[int, Array]] = []

    def shuffled() -> Iterator[tuple[int, Array]]:
        for i in ok:
            rng = np.random.default_rng(opts.seed)
            m = out[i][0]
            sigma2, mean = nulls[i]
            if (lanczos and sigma2 is not None and sigma2 > 0
                    and lanczos_applies(m.M, opts.trap_scale)):
                P = shuffled_layer(layers[i].W, rng, opts.trap_shuffle, mean)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    t, _ = fast_trap_count(P, m.N, m.M, sigma2, mean,
                                           normalization=opts.normalization,
                                           seed=int(rng.integers(0, 2**63 - 1)))
                if t is not None:
                    _set_traps(out, i, t)
                    continue
                yield i, P
                continue
            for _ in range(counts[i]):
                yield i, shuffled_layer(layers[i].W, rng, opts.trap_shuffle, mean)

    def copies() -> Iterator[Array]:
        for i, P in shuffled():
            full.append((i, np.empty(0)))  # the copy itself is not kept
            yield P

    # the shuffled copies hold the entries of layers already checked (finite, not all zero)
    tspectra = batched_eigenvalues(copies(), backend, normalization=opts.normalization,
                                   method=opts.method, batch_bytes=batch_bytes,
                                   check_values=False)
    parts: dict[int, list[Any]] = {}
    for (i, _), sp in zip(full, tspectra, strict=True):
        parts.setdefault(i, []).append(sp)
    for i, part in parts.items():
        m = out[i][0]
        if any(isinstance(sp, Exception) for sp in part):  # pragma: no cover - defensive
            continue
        sigma2, mean = nulls[i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t = count_traps([sp.evals for sp in part], m.N, m.M,  # type: ignore[union-attr]
                            sigma2, mean)
        _set_traps(out, i, t)


def _set_traps(out: list[tuple[LayerMetrics, Array | None, Any]], i: int, t: Any) -> None:
    m, ev, dx = out[i]
    out[i] = (replace(m, num_traps=t.num_traps, lambda_max_rand=t.lambda_max_rand,
                      threshold_rand=t.threshold_rand), ev, dx)


def analyze(
    source: Any,
    options: AnalysisOptions | None = None,
    *,
    quality: QualityOptions | None = None,
    on_error: str = "raise",
    keep_evals: bool = False,
    progress: bool | Callable[[Iterable[Any]], Iterable[Any]] = False,
    batch_bytes: int | None = None,
    **changes: Any,
) -> ModelAnalysis:
    """HTSR analysis (and, with ``quality``, SETOL quality) of every selected layer of a model.

    Parameters
    ----------
    source
        Anything :func:`setol_theory.io.iter_layers` accepts: an array, a dict of
        arrays/tensors, a torch ``nn.Module`` or ``state_dict``, or a path to a
        ``.safetensors`` / ``.pt`` / ``.npz`` file or a Hugging-Face-style model directory.
    options : AnalysisOptions, optional
        The analysis options (layer selection, ESD scale, device, fit, traps); default
        ``AnalysisOptions()``.
    quality : QualityOptions, optional
        Also select each layer's ECS and compute its quality, from the same eigenvalues and
        detX edge, as the layers stream by; the result's ``quality`` holds the report.
    on_error : {"raise", "record"}
        ``"raise"``: a layer that cannot be analysed raises :class:`LayerError` naming it.
        ``"record"``: it is recorded with ``status="skipped"`` and its reason.
    keep_evals : bool
        Keep every layer's eigenvalues (and detX edge) in the result (for plots, and for
        :func:`quality_report` later).
    progress : bool or callable
        ``True`` shows a tqdm progress bar on stderr; a callable wraps the layer iterator.
    batch_bytes : int, optional
        Largest stack of Gram matrices per batched eigensolve (backend default).
    **changes
        :class:`AnalysisOptions` fields that override ``options`` (``min_tail=5``); and
        ``backend=`` a resolved :class:`setol_theory.linalg.Backend`.

    Returns
    -------
    ModelAnalysis

    Examples
    --------
    >>> import numpy as np
    >>> from setol_theory import AnalysisOptions, analyze
    >>> W = np.random.default_rng(0).standard_t(3, size=(400, 200))
    >>> res = analyze({"fc": W}, AnalysisOptions(traps=False))
    >>> res.layers[0].status
    'ok'
    """
    opts, backend = resolve_options(options, **changes)
    if quality is not None and not isinstance(quality, QualityOptions):
        raise TypeError(f"quality must be a QualityOptions, got {type(quality).__name__}")
    if backend is None:
        backend = resolve_backend(opts.device, precision=opts.precision)
    it: Iterable[Any] = select_layers(source, opts)
    if progress is True:
        from tqdm.auto import tqdm

        # disable=None: no bar when stderr is not a terminal (a log file gets no \r artefacts)
        it = tqdm(it, desc="layers", unit="layer", leave=False, disable=None)
    elif callable(progress):
        it = progress(it)
    records: list[LayerMetrics] = []
    kept: dict[str, Array] = {}
    kept_detx: dict[str, DetXResult] = {}
    qrecs: list[QualityRecord] = []
    for r in analyze_layers(it, opts, quality=quality, on_error=on_error, backend=backend,
                            batch_bytes=batch_bytes):
        records.append(r.metrics)
        if keep_evals and r.evals is not None:
            kept[r.metrics.name] = r.evals
            if r.detx is not None:
                kept_detx[r.metrics.name] = r.detx
        if r.quality is not None:
            qrecs.append(r.quality)
    if not records:
        raise ValueError(f"no analysable layer found in {_describe(source)} with the given filters")
    settings: dict[str, Any] = {**opts.to_dict(), "device": backend.label}
    if backend.note:
        settings["device_note"] = backend.note
    desc = _describe(source)
    report = None
    if quality is not None:
        report = QualityReport(qrecs, source=desc,
                               settings={**quality.to_dict(), "htsr": settings})
    return ModelAnalysis(records, source=desc, settings=settings, evals=kept, detx=kept_detx,
                         quality=report)


def _describe(source: Any) -> str:
    if isinstance(source, str | bytes) or hasattr(source, "__fspath__"):
        return str(source)
    return type(source).__name__

