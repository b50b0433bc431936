"""Eigenvalues as input: the HTSR metrics and SETOL quality of given ESDs (``--esd FILE``).

A user with eigenvalues in hand (from a paper, from WeightWatcher's ``get_ESD``, from a GPU
job) gets the same per-layer records as from the weights: the ESD goes through the same
:func:`setol_theory.htsr.esd_metrics`, detX edge and :func:`layer_record` as the eigenvalues
the pipeline computes itself. What needs the weight matrix (the correlation-trap test) or its
shape (``Q``, the MP bulk, the published ``WᵀW`` metrics of an ESD given on the ``X = WᵀW/N``
scale) is reported as unavailable, with the reason, when ``N`` is not given.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..htsr import DetXResult, LayerMetrics, esd_metrics, layer_detx
from ..io import read_esd
from ..io._esd import check_esd
from ..options import AnalysisOptions, OptionError, QualityOptions
from ._analyze import LayerResult, _finish, in_size_range, resolve_options
from ._quality import QualityRecord, QualityReport
from ._results import ModelAnalysis

Array = NDArray[np.float64]

__all__ = ["ESD_SCALES", "analyze_esd"]

#: Scales of a given ESD: eigenvalues of ``WᵀW`` (squared singular values; WeightWatcher's
#: ``get_ESD``) or of ``X = WᵀW / N`` (setol's default ESD).
ESD_SCALES: tuple[str, ...] = ("WtW", "X")


def _spectra(source: Any) -> tuple[dict[str, Array], str]:
    if isinstance(source, str | Path):
        return read_esd(source), str(source)
    if isinstance(source, Mapping):
        return {str(k): check_esd(v, f"ESD {k!r}") for k, v in source.items()}, "mapping"
    return {"esd": check_esd(source, "ESD")}, type(source).__name__


def analyze_esd(
    source: Any,
    options: AnalysisOptions | None = None,
    *,
    N: int | Mapping[str, int] | None = None,
    scale: str = "WtW",
    quality: QualityOptions | None = None,
    keep_evals: bool = False,
    **changes: Any,
) -> ModelAnalysis:
    """HTSR metrics (and, with ``quality``, SETOL quality) of ESDs given as eigenvalues.

    Parameters
    ----------
    source
        A path (a 1-D ``.npy``, a one-column ``.txt``/``.csv``, a JSON list or object, an
        ``.npz`` keyed by layer name: :func:`setol_theory.io.read_esd`), a mapping ``name ->
        eigenvalues``, or one 1-D array.
    options : AnalysisOptions, optional
        As for :func:`analyze`; ``normalization`` is the scale of the records (the ESD is
        converted when ``N`` allows it), ``min_evals``/``max_evals`` filter, the fit and
        goodness-of-fit options apply; there is no trap test (no weight matrix).
    N : int or mapping, optional
        The larger dimension of each layer (one number for all, or per name). Without it
        ``Q``, the MP bulk (``mp_status="unavailable"``) and, for an ``"X"``-scale ESD, the
        published ``WᵀW`` metrics are NaN with the reason; a ``"WtW"`` ESD is then analysed on
        its own scale (``normalization="none"`` in the record).
    scale : {"WtW", "X"}
        What the numbers are: eigenvalues of ``WᵀW`` (default) or of ``X = WᵀW / N``.
    quality, keep_evals, **changes
        As for :func:`analyze`.

    Returns
    -------
    ModelAnalysis
        One record per ESD; the SETOL quality of an ESD equals that of the weight matrix it
        came from (the quality uses the eigenvalues only; tested).
    """
    if scale not in ESD_SCALES:
        raise OptionError(f"scale must be one of {', '.join(ESD_SCALES)}, got {scale!r}")
    opts, _ = resolve_options(options, **changes)
    spectra, desc = _spectra(source)
    records: list[LayerMetrics] = []
    kept: dict[str, Array] = {}
    kept_detx: dict[str, DetXResult] = {}
    qrecs: list[QualityRecord] = []
    for name, ev in spectra.items():
        n_layer = N.get(name) if isinstance(N, Mapping) else N
        M = int(ev.size)
        if n_layer is not None:
            if int(n_layer) < M:
                raise ValueError(f"ESD {name!r}: N = {n_layer} is smaller than its {M} "
                                 "eigenvalues (N >= M)")
            n_layer = int(n_layer)
        res = _one(name, ev, M, n_layer, scale, opts, quality)
        records.append(res.metrics)
        if keep_evals and res.evals is not None:
            kept[name] = res.evals
            if res.detx is not None:
                kept_detx[name] = res.detx
        if res.quality is not None:
            qrecs.append(res.quality)
    settings: dict[str, Any] = {**opts.to_dict(), "traps": False, "device": "input",
                                "esd_input": {"scale": scale, "N": dict(N) if isinstance(
                                    N, Mapping) else N}}
    report = None
    if quality is not None:
        report = QualityReport(qrecs, source=desc,
                               settings={**quality.to_dict(), "htsr": settings})
    return ModelAnalysis(records, source=desc, settings=settings, evals=kept, detx=kept_detx,
                         quality=report)


def _one(name: str, ev: Array, M: int, N: int | None, scale: str, opts: AnalysisOptions,
         quality: QualityOptions | None) -> LayerResult:
    if not in_size_range(M, opts):
        hi = opts.max_evals if opts.max_evals is not None else "inf"
        m = LayerMetrics(name=name, kind="esd", status="filtered", N=N or 0, M=M,
                         reason=f"{M} eigenvalues, outside min_evals/max_evals "
                                f"[{opts.min_evals}, {hi}]")
        return _finish(m, None, None, quality)
    # the ESD on the records' scale: convert where N allows it, else keep the given scale
    norm = opts.normalization
    x = ev
    if scale == "WtW":
        if norm == "N":
            x, norm = (ev / N, "N") if N is not None else (ev, "none")
    elif norm == "none":
        x, norm = (ev * N, "none") if N is not None else (ev, "N")
    detx = layer_detx(x)
    m = esd_metrics(x, N, M, name=name, kind="esd", normalization=norm,
                    fit_kwargs=opts.fit_kwargs, gof_kwargs=opts.gof_kwargs, detx=detx)
    return _finish(m, x, detx, quality, opts.fit_kwargs)
