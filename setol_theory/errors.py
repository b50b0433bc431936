"""The exceptions and warnings of setol_theory, under one base each.

Every exception the library raises on purpose derives from :class:`SetolError` and every
warning it emits from :class:`SetolWarning`, so ``except SetolError`` catches them all.
Each class also keeps the builtin base it had before (``ValueError``, ``UserWarning``, ...),
so existing ``except ValueError`` handlers keep working.

The classes are defined here (this module imports nothing from setol_theory) and are
re-exported, unchanged, where they were defined before (``setol_theory.linalg.DeviceError``
is ``setol_theory.errors.DeviceError``).
"""

from __future__ import annotations

__all__ = [
    "SetolError",
    "SetolWarning",
    "DeviceError",
    "DeviceFallbackWarning",
    "PowerLawBoundWarning",
    "QualityError",
    "NotApplicable",
    "ECSError",
    "LayerError",
    "UnreadableCheckpoint",
    "CheckpointChanged",
    "SkippedPathWarning",
    "CLIError",
    "OptionError",
    "MissingExtra",
]


class SetolError(Exception):
    """Base class of every exception raised on purpose by setol_theory (and its simulations).

    Notes
    -----
    Never raised itself; catch it to handle any library error in one place.
    """


class SetolWarning(UserWarning):
    """Base class of every warning emitted by setol_theory.

    Notes
    -----
    Never emitted itself; ``warnings.simplefilter("ignore", SetolWarning)`` silences all
    library warnings.
    """


# --------------------------------------------------------------------------------------------
# linalg
# --------------------------------------------------------------------------------------------


class DeviceError(SetolError, ValueError):
    """The requested device cannot be used (no torch, no CUDA device, bad device index).

    Raised
    ------
    By :func:`setol_theory.linalg.resolve_backend` (and the analyses that take a
    ``device=``) when the device string names a device that torch or CUDA cannot provide,
    e.g. ``resolve_backend("cuda:x")``.
    """


class DeviceFallbackWarning(SetolWarning, UserWarning):
    """``device="auto"`` found no CUDA device and falls back to the CPU.

    Emitted
    -------
    By :func:`setol_theory.linalg.resolve_backend` with ``device="auto"`` when torch sees
    no CUDA device.
    """


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------


class PowerLawBoundWarning(SetolWarning, UserWarning):
    """The ``alpha_range`` constraint changed the outcome of a power-law fit.

    Emitted together with ``bound_hit=True`` in the result. Filter it with
    ``warnings.simplefilter("ignore", PowerLawBoundWarning)`` in batch analyses.

    Emitted
    -------
    By :func:`setol_theory.fit.fit_powerlaw` (and the truncated fits) when the best
    exponent lies on, or was clipped to, a bound of ``alpha_range``.
    """


# --------------------------------------------------------------------------------------------
# quality
# --------------------------------------------------------------------------------------------


class QualityError(SetolError, ValueError):
    """A layer quality cannot be computed (divergent integral, ``Q^2 <= 0``, bad input).

    Raised
    ------
    By the layer-quality models of :mod:`setol_theory.quality` when the eigenvalues are
    empty, not finite or not positive, or when the model integral diverges.
    """


class NotApplicable(QualityError):
    """The spectral model does not apply to this layer (e.g. Levy-Wigner with alpha > 2).

    Raised
    ------
    By the layer-quality models of :mod:`setol_theory.quality` when the layer's power-law
    fit failed or its exponent lies outside the model's range of validity.
    """


class ECSError(SetolError, ValueError):
    """The effective correlation space cannot be selected (the message says why).

    Raised
    ------
    By :func:`setol_theory.quality.select_ecs` when the ECS rule has no solution (no
    power-law tail, no detX crossing) or the ECS is empty, contains eigenvalues ``<= 0`` or
    has fewer than ``min_ecs`` eigenvalues.
    """


# --------------------------------------------------------------------------------------------
# pipeline / distributed
# --------------------------------------------------------------------------------------------


class LayerError(SetolError, ValueError):
    """A selected layer could not be analysed (raised when ``on_error="raise"``).

    Raised
    ------
    By :func:`setol_theory.pipeline.analyze` and :func:`setol_theory.distributed.analyze_many`
    with ``on_error="raise"`` when a layer is skipped (unreadable, too small, solver failure).
    """


class UnreadableCheckpoint(SetolError, ValueError):
    """The file cannot be read as a checkpoint (not weights, corrupt, refused pickle): the
    same on every try until the file changes.

    Raised
    ------
    By the per-checkpoint tasks of :mod:`setol_theory.distributed` when listing or reading
    the checkpoint's layers fails.
    """


class CheckpointChanged(SetolError, ValueError):
    """The checkpoint was rewritten while it was being analysed.

    Raised
    ------
    By the per-layer tasks of :mod:`setol_theory.distributed` when the file's stamp
    (``mtime_ns:size``) or its list of layers differs from the one recorded when it was
    listed.
    """


class SkippedPathWarning(SetolWarning, UserWarning):
    """A path under a searched directory that cannot be read (a broken symbolic link, a
    directory without read permission, a symbolic-link loop) was skipped.

    Emitted
    -------
    While :mod:`setol_theory.distributed` searches a directory tree for checkpoints.
    """


# --------------------------------------------------------------------------------------------
# cli
# --------------------------------------------------------------------------------------------


class CLIError(SetolError):
    """An error to report as one line with a non-zero exit code.

    Raised
    ------
    By the ``setol`` command-line interface (:mod:`setol_theory.cli`) for bad options or
    inputs; ``setol_theory.cli.main`` prints its message as one line and returns exit
    status 1.
    """


class OptionError(SetolError, ValueError):
    """An analysis or quality option has a value outside its domain.

    Raised
    ------
    By :class:`setol_theory.options.AnalysisOptions` and :class:`~setol_theory.options.
    QualityOptions` on construction (the message names the option), and by
    :func:`setol_theory.options.from_args` (the message names the CLI flag); by the HTML
    report's figure and PNG settings (:func:`setol_theory.report.write_analysis_report`).
    """


# --------------------------------------------------------------------------------------------
# packaging
# --------------------------------------------------------------------------------------------


class MissingExtra(SetolError, ImportError):
    """A feature needs an optional dependency that is not installed.

    The message is one line naming the feature, the missing package and the extra that
    installs it: ``"reading .pt files needs torch, which is not installed: pip install
    'setol[torch]'"``.

    Raised
    ------
    By :func:`setol_theory.util.require` wherever an optional dependency (torch, dask,
    huggingface_hub, pandas, pyarrow) is imported on first use.
    """

    def __init__(self, feature: str, package: str, extra: str) -> None:
        self.feature, self.package, self.extra = feature, package, extra
        super().__init__(
            f"{feature} needs {package}, which is not installed: pip install 'setol[{extra}]'",
            name=package,
        )

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        # picklable (Dask sends a worker's exception, with its context, to the client)
        return type(self), (self.feature, self.package, self.extra)
