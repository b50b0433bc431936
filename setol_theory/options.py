"""The options of a job, declared once: :class:`AnalysisOptions` and :class:`QualityOptions`.

Each option is one dataclass field with its default, its allowed values and its help text.
The Python API (:func:`setol_theory.analyze`, :func:`setol_theory.quality_report`),
``analyze-many`` and its Dask tasks take the frozen object; the CLI builds its argparse
flags from the same fields (:func:`add_arguments`) and its values back into the object
(:func:`from_args`).  Validation happens once, in ``__post_init__``: a bad value raises
:class:`OptionError` (a ``ValueError``) naming the option.

A new option goes here, as one field (docs/architecture.md, "Adding an option"); the
pipeline reads it from the object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any

from ._choices import (
    DETX_RULES,
    FINGER_MODES,
    MIN_ECS,
    QUALITY_MODELS,
    TAIL_FITS,
    TRAP_SCALES,
    TRAP_SHUFFLES,
    TRAP_SOLVERS,
)
from ._deprecated import warn_deprecated
from .errors import OptionError
from .io import KINDS
from .linalg import PRECISIONS

__all__ = [
    "AnalysisOptions",
    "OptionError",
    "QualityOptions",
    "add_arguments",
    "from_args",
]

#: Devices of the eigenvalue computation (and ``"cuda:N"``): numpy's LAPACK on the CPU, torch on
#: the CPU, torch on a CUDA device, or the GPU when there is one and numpy otherwise.
DEVICES = ("numpy", "torch-cpu", "cuda", "auto")
#: Eigenvalue routes: ``eigvalsh`` of the Gram matrix, squared singular values, or the faster
#: one for the shape (:func:`setol_theory.linalg.correlation_eigenvalues`).
METHODS = ("auto", "eigvalsh", "svd")
CONVS = ("slices", "reshape")
NORMALIZATIONS = ("N", "none")
SCALES = ("frobenius_M", "input")


def _opt(default: Any, help: str, *, choices: Sequence[str] | None = None,
         metavar: str | None = None, flag: str | None = None, repeat: bool = False,
         cli: bool = True) -> Any:
    """A dataclass field carrying what the CLI needs to build its flag."""
    meta = {"help": help, "choices": tuple(choices) if choices else None, "metavar": metavar,
            "flag": flag, "repeat": repeat, "cli": cli}
    return field(default=default, metadata=meta)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise OptionError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _check_int(name: str, value: Any, lo: int, *, none_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    if not _is_int(value) or value < lo:
        raise OptionError(f"{name} must be an integer >= {lo}, got {value!r}")


def _plain_ints(obj: Any, names: Sequence[str]) -> None:
    """numpy integers to Python ints (the options go to JSON)."""
    for name in names:
        v = getattr(obj, name)
        if _is_int(v):
            object.__setattr__(obj, name, int(v))


def _as_tuple(name: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    out = tuple(value)
    if not out:
        return None
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise OptionError(f"{name}: expected strings, got {bad[0]!r}")
    return out


class _Options:
    """What both option objects share: dict form, a resume token, CLI round trip."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options (lists for tuples); ``type(self)(**d)`` rebuilds the object."""
        d = asdict(self)  # type: ignore[call-overload]
        return json.loads(json.dumps({k: list(v) if isinstance(v, tuple) else v
                                      for k, v in d.items()}))

    def token(self) -> str:
        """A short hash of :meth:`to_dict`: equal tokens, equal results (resume check)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def replace(self, **changes: Any) -> Any:
        """A copy with some options changed (validated again)."""
        return replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class AnalysisOptions(_Options):
    """How ``setol analyze`` reads the layers and computes each layer's HTSR metrics.

    Every field is one option, with one name and one default, used by the Python API, the
    CLI (``--min-evals`` for ``min_evals``), ``analyze-many`` and the Dask tasks.  Options
    that do not change a result (progress bars, keeping the eigenvalues, what to do on a bad
    layer) are arguments of :func:`setol_theory.analyze`, not fields here.

    Examples
    --------
    >>> from setol_theory import AnalysisOptions
    >>> AnalysisOptions(min_tail=5, traps=False).min_evals
    10
    """

    # which layers
    layers: tuple[str, ...] | None = _opt(
        None, "only layers whose name matches REGEX (repeatable)", metavar="REGEX",
        repeat=True)
    kinds: tuple[str, ...] | None = _opt(
        None, "only layers of this kind: " + ", ".join(KINDS) + " (repeatable)",
        metavar="KIND", repeat=True, choices=KINDS)
    conv: str = _opt("slices", "conv kernels: one matrix per kernel position, or (out, in*k) "
                     "reshape", choices=CONVS)
    pool: bool = _opt(True, "with --conv slices, analyse each kernel position's matrix as its "
                      "own layer instead of one pooled ESD per conv layer (the union of all "
                      "slices' eigenvalues: the default, as in WeightWatcher >= 0.4, so conv "
                      "rows compare with its tables; --no-pool matches its pool=False and the "
                      "per-slice rows of WeightWatcher 0.2.x; docs/htsr.md, 'Conv layers')",
                      flag="--no-pool")
    min_evals: int = _opt(10, "do not analyse matrices with fewer than K eigenvalues "
                          "(default 10; they are listed as filtered)", metavar="K")
    max_evals: int | None = _opt(None, "do not analyse matrices with more than K eigenvalues",
                                 metavar="K")
    # the ESD
    normalization: str = _opt("N", "ESD of X = W^T W / N (the theory's scale, default) or of "
                              "W^T W (none: WeightWatcher's scale)", choices=NORMALIZATIONS)
    device: str = _opt("numpy", "where the eigenvalues are computed: numpy (LAPACK, default), "
                       "torch-cpu, cuda, cuda:N, or auto (the GPU if there is one, else numpy "
                       "with a warning)", metavar="DEVICE")
    precision: str = _opt("float64", "precision of the Gram matrix and eigensolver (float32 is "
                          "a fast path for the tail metrics, see docs/scale.md)",
                          choices=PRECISIONS)
    method: str = _opt("auto", "eigenvalue route: eigvalsh of the Gram matrix, squared "
                       "singular values (svd), or the faster one for the shape (auto)",
                       choices=METHODS)
    # the power-law fit
    min_tail: int = _opt(10, "smallest power-law tail the xmin scan may choose (default 10)",
                         metavar="K")
    xmax: float | None = _opt(None, "upper cutoff of the power-law fit, on the ESD's scale "
                              "(eigenvalues above it are left out and the likelihood is "
                              "truncated there; default: none, the tail runs to lambda_max)",
                              metavar="X")
    fit: str = _opt("pl", "tail model: the power law (pl, default); also the power law with "
                    "exponential cutoff x^-alpha e^(-Lambda x) fitted on the same tail (tpl: "
                    "columns tpl_alpha, tpl_lambda, tpl_D and the likelihood-ratio test "
                    "against it; about 0.2 s per layer on MiniLM); or tpl with --fingers xmin_peak "
                    "(e_tpl, WeightWatcher's E_TPL). alpha stays the power law's "
                    "(docs/htsr.md, 'Fit options')", choices=TAIL_FITS)
    fingers: str = _opt("none", "finger handling of the power-law fit, as WeightWatcher's "
                        "fix_fingers: none (default), xmin_peak (xmin searched in [0.95, 1.5) "
                        "x the peak of the log ESD) or clip_xmax (refit without the top k "
                        "eigenvalues, k = 1..--max-fingers, keeping the first that lowers "
                        "alpha by more than 1; columns num_fingers, alpha_raw)",
                        choices=FINGER_MODES)
    max_fingers: int = _opt(10, "most top eigenvalues --fingers clip_xmax may leave out "
                            "(default 10, WeightWatcher's)", metavar="K")
    # goodness of fit of the power law (docs/htsr.md, "Goodness of fit and verdict")
    lr_tests: bool = _opt(True, "skip the likelihood-ratio tests of the power law against "
                          "lognormal and exponential (the verdict then rests on the tail size "
                          "alone)", flag="--no-lr-tests")
    lr_tpl: bool = _opt(False, "also test the power law against a truncated power law "
                        "(nested likelihood ratio; about 1 s per layer)")
    alpha_ci: int = _opt(0, "seeded bootstrap 95 per cent interval of alpha from K resamples "
                         "of the ESD, each refitted with the xmin scan (default 0: off; about "
                         "1 ms per resample at 384 eigenvalues)", metavar="K")
    bootstrap: int = _opt(0, "CSN bootstrap p-value of each power-law fit from K synthetic "
                          "samples (default 0: off; about 1 ms per replicate for a layer of "
                          "384 eigenvalues, seeded by --seed)", metavar="K")
    # correlation traps
    traps: bool = _opt(True, "skip the correlation-trap test (a shuffled copy of each layer: "
                       "about 0.4-1x the layer's own eigenvalue work by Lanczos, 5 full "
                       "shuffled spectra below 100 eigenvalues; docs/scale.md)",
                       flag="--no-traps")
    seed: int | None = _opt(0, "seed of the correlation-trap shuffles (default 0; None in the "
                            "Python API: a fresh seed each run, not reproducible)",
                            metavar="SEED")
    trap_scale: str = _opt("variance", "MP scale of the shuffled layer in the trap test: its "
                           "exact entry variance (default) or a fit to the shuffled ESD "
                           "(WeightWatcher)", choices=TRAP_SCALES)
    trap_shuffle: str = _opt("auto", "permutation method of the trap test (same statistics)",
                             choices=TRAP_SHUFFLES, cli=False)
    trap_solver: str = _opt("auto", "eigenvalue route of the trap test: Lanczos for the top "
                            "eigenvalues where it applies (numpy, trap_scale='variance', "
                            "M >= 100), or the full spectrum (same counts)",
                            choices=TRAP_SOLVERS, cli=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", _as_tuple("layers", self.layers))
        object.__setattr__(self, "kinds", _as_tuple("kinds", self.kinds))
        for pat in self.layers or ():
            try:
                re.compile(pat)
            except re.error as exc:
                raise OptionError(f"layers: invalid regular expression {pat!r} ({exc})") \
                    from None
        unknown = [k for k in self.kinds or () if k not in KINDS]
        if unknown:
            raise OptionError(f"kinds: unknown layer kind(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(KINDS)}")
        for name, allowed in (("conv", CONVS), ("normalization", NORMALIZATIONS),
                              ("precision", PRECISIONS), ("method", METHODS),
                              ("trap_scale", TRAP_SCALES), ("trap_shuffle", TRAP_SHUFFLES),
                              ("trap_solver", TRAP_SOLVERS)):
            _check_choice(name, getattr(self, name), allowed)
        _check_int("min_evals", self.min_evals, 0)
        _check_int("max_evals", self.max_evals, 0, none_ok=True)
        if self.max_evals is not None and self.max_evals < self.min_evals:
            raise OptionError(f"max_evals ({self.max_evals}) must be >= min_evals "
                              f"({self.min_evals})")
        _check_int("min_tail", self.min_tail, 2)
        if self.xmax is not None:
            try:
                xmax = float(self.xmax)
            except (TypeError, ValueError):
                raise OptionError(f"xmax must be a positive number, got {self.xmax!r}") \
                    from None
            if isinstance(self.xmax, bool) or not (math.isfinite(xmax) and xmax > 0):
                raise OptionError(f"xmax must be a positive number, got {self.xmax!r}")
            object.__setattr__(self, "xmax", xmax)
        _check_choice("fit", self.fit, TAIL_FITS)
        _check_choice("fingers", self.fingers, FINGER_MODES)
        _check_int("max_fingers", self.max_fingers, 1)
        if self.max_fingers != 10 and self.fingers != "clip_xmax":
            raise OptionError(f"max_fingers ({self.max_fingers}) only applies with fingers "
                              f"clip_xmax (fingers is {self.fingers})")
        if self.fit == "e_tpl" and self.fingers == "clip_xmax":
            raise OptionError("fit e_tpl is the truncated power law with fingers xmin_peak; "
                              "it cannot be combined with fingers clip_xmax")
        _check_int("seed", self.seed, 0, none_ok=True)
        _check_int("bootstrap", self.bootstrap, 0)
        _check_int("alpha_ci", self.alpha_ci, 0)
        _plain_ints(self, ("min_evals", "max_evals", "min_tail", "seed", "bootstrap",
                           "alpha_ci", "max_fingers"))
        for name in ("traps", "lr_tests", "lr_tpl"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(f"{name} must be True or False, got {getattr(self, name)!r}")
        dev = str(self.device).strip().lower() if isinstance(self.device, str) else None
        if dev == "cpu":
            warn_deprecated("device='cpu' is ambiguous and deprecated: use 'numpy' (LAPACK, "
                            "what it meant in the Python API) or 'torch-cpu'")
            dev = "numpy"
        if dev is None or not (dev in DEVICES or re.fullmatch(r"cuda:[0-9]+", dev)):
            raise OptionError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got "
                              f"{self.device!r}")
        object.__setattr__(self, "device", dev)

    @property
    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`setol_theory.fit.fit_tail` set by these options."""
        kw: dict[str, Any] = {"min_tail": self.min_tail, "xmax": self.xmax}
        if self.fit != "pl":
            kw["fit"] = self.fit
        if self.fingers != "none":
            kw["fingers"] = self.fingers
            kw["max_fingers"] = self.max_fingers
        return kw

    @property
    def gof_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`setol_theory.htsr.goodness_of_fit` set by these options
        (the bootstrap is seeded with ``seed``)."""
        return {"lr": self.lr_tests, "tpl": self.lr_tpl, "bootstrap": self.bootstrap,
                "seed": self.seed, "alpha_ci": self.alpha_ci}


def _ecs_value(value: Any) -> str | float:
    if isinstance(value, str) and value in ("xmin", "detx"):
        return value
    if isinstance(value, bool):
        raise OptionError(f"ecs must be xmin, detx or a positive number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"ecs must be xmin, detx or a positive number, got {value!r}") \
            from None
    if not (math.isfinite(v) and v > 0):
        raise OptionError(f"ecs as a number must be a positive finite lambda_min, got {value!r}")
    return v


@dataclass(frozen=True)
class QualityOptions(_Options):
    """How ``setol quality`` selects each layer's ECS and which spectral models it evaluates.

    Examples
    --------
    >>> from setol_theory import QualityOptions
    >>> QualityOptions(ecs="xmin", models=("imp", "tpl")).models
    ('imp', 'tpl')
    """

    ecs: str | float = _opt("detx", "ECS lower edge: power-law xmin, TraceLog/detX condition "
                            "(default), or a positive lambda_min on the X = W^T W / N scale",
                            metavar="xmin|detx|VALUE")
    detx_rule: str = _opt("first_below", "detX index rule: first k with sum ln lambda < 0 "
                          "(reference tool, default) or the k closest to 0 after the peak",
                          choices=DETX_RULES)
    scale: str = _opt("frobenius_M", "eigenvalue scale of the G functions: sum(lambda) = M "
                      "(frobenius_M, default; the TraceLog scale) or the ESD as analysed "
                      "(input: X = W^T W / N; N is its deprecated 0.1 spelling)",
                      choices=(*SCALES, "N"), metavar="{frobenius_M,input}")
    models: tuple[str, ...] = _opt(QUALITY_MODELS, "comma-separated spectral models (default: "
                                   "all): " + ",".join(QUALITY_MODELS), metavar="LIST")
    K: int = _opt(5, "free cumulants in the 'emp' series (default 5; arXiv:2507.17912 Sec. 5.5, "
                  "Eq. (163))", metavar="K", flag="--K")
    min_ecs: int = _opt(MIN_ECS, f"smallest accepted ECS (default {MIN_ECS} "
                        "eigenvalues)", metavar="K")
    q_ci: int = _opt(0, "seeded bootstrap 95 per cent interval of each layer's log10 Q per "
                     "model from K resamples of the ESD, each redone whole (power-law refit "
                     "with the xmin scan, ECS, model; docs/quality.md, 'Error bars'; default "
                     "0: off; one resample of every layer of all-MiniLM-L6-v2 costs about "
                     "1.4 s with all models, 0.05 s without tpl and emp_inv)", metavar="K")
    seed: int | None = _opt(0, "seed of the --q-ci resamples (the same for every layer) and of "
                            "--curve student_t (default 0; None in the Python API: a fresh "
                            "seed each run, not reproducible)", metavar="SEED")

    def __post_init__(self) -> None:
        object.__setattr__(self, "ecs", _ecs_value(self.ecs))
        models = self.models
        if isinstance(models, str):
            models = tuple(m.strip() for m in models.split(",") if m.strip())
        models = tuple(models)
        bad = [m for m in models if not isinstance(m, str)]
        if bad:
            raise OptionError(f"models: expected model names (str), got {bad[0]!r}")
        if not models:
            raise OptionError("models: give at least one model")
        unknown = [m for m in models if m not in QUALITY_MODELS]
        if unknown:
            raise OptionError(f"models: unknown model(s) {', '.join(unknown)}; "
                              f"known: {', '.join(QUALITY_MODELS)}")
        object.__setattr__(self, "models", models)
        if self.scale == "N":  # the 0.1 CLI spelling
            warn_deprecated("scale='N' is deprecated: use 'input' (the ESD as analysed, "
                            "X = W^T W / N)")
            object.__setattr__(self, "scale", "input")
        _check_choice("detx_rule", self.detx_rule, DETX_RULES)
        _check_choice("scale", self.scale, SCALES)
        _check_int("K", self.K, 1)
        _check_int("min_ecs", self.min_ecs, 1)
        _check_int("q_ci", self.q_ci, 0)
        _check_int("seed", self.seed, 0, none_ok=True)
        _plain_ints(self, ("K", "min_ecs", "q_ci", "seed"))


# --------------------------------------------------------------------------------------------
# The CLI edge: argparse flags from the fields, and the object from the parsed flags
# --------------------------------------------------------------------------------------------


def _flag(f: Any) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type[_Options],
                  only: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> None:
    """Add one flag per option of ``cls`` (defaults, choices and help from its fields).

    The flag's default is ``None`` (or the option's default for booleans), so
    :func:`from_args` can tell what the user gave; the help text states the real default.
    """
    for f in fields(cls):  # type: ignore[arg-type]
        meta = f.metadata
        if not meta.get("cli", True) or f.name in exclude or (only and f.name not in only):
            continue
        help_text = meta["help"]
        if "default" not in help_text and f.default is not None \
                and not isinstance(f.default, bool):
            shown = ",".join(f.default) if isinstance(f.default, tuple) else f.default
            help_text += f" (default: {shown})"
        kw: dict[str, Any] = {"dest": f.name, "help": help_text}
        if isinstance(f.default, bool):
            kw["action"] = "store_false" if f.default else "store_true"
            kw["default"] = f.default
        else:
            kw["default"] = None
            if meta.get("repeat"):
                kw["action"] = "append"
            elif _is_int(f.default) or f.name in ("max_evals",):
                kw["type"] = int
            elif f.name in ("xmax",):
                kw["type"] = float
            if meta.get("choices") and not meta.get("repeat"):
                kw["choices"] = list(meta["choices"])
            if meta.get("metavar"):
                kw["metavar"] = meta["metavar"]
        parser.add_argument(_flag(f), **kw)


def from_args(cls: type[Any], args: argparse.Namespace, **overrides: Any) -> Any:
    """The options object of parsed CLI flags (flags not given keep the option's default).

    Raises :class:`OptionError` naming the flag (``--min-tail must be ...``).
    """
    values: dict[str, Any] = {}
    for f in fields(cls):
        v = getattr(args, f.name, None)
        if v is not None and f.default is not MISSING:
            values[f.name] = v
    values.update(overrides)
    try:
        return cls(**values)
    except OptionError as exc:
        msg = str(exc)
        for f in fields(cls):  # name the flags, not the fields
            msg = re.sub(rf"(?<![\w-]){f.name}(?![\w(])", _flag(f), msg)
        raise OptionError(msg) from None
