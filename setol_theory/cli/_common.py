"""Helpers shared by the ``setol`` sub-commands: errors, the layer table, paths."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CLIError

#: Exit codes
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


_TABLE_COLUMNS = [
    ("name", "layer", 44, "s"),
    ("N", "N", 6, "d"),
    ("M", "M", 5, "d"),
    ("alpha", "alpha", 6, ".3f"),
    ("alpha_weighted", "a_w", 6, ".3f"),
    ("xmin", "xmin", 9, ".4g"),
    ("lambda_max", "l_max", 9, ".4g"),
    ("D", "KS_D", 6, ".3f"),
    ("num_tail", "n_tail", 6, "d"),
    ("num_spikes", "spikes", 6, "d"),
    ("num_traps", "traps", 5, ".0f"),
    ("warning", "warning", 13, "s"),
]


def _fmt(value: Any, spec: str, width: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        text = "-"
    elif spec == "s":
        text = str(value)
        if len(text) > width:
            text = "…" + text[-(width - 1):]
    else:
        text = format(value, spec)
    return text.rjust(width) if spec != "s" else text.ljust(width)


def format_table(records: Sequence[Any]) -> str:
    """A fixed-width text table of layer records (LayerMetrics)."""
    head = " ".join(_fmt(h, "s", w) if s == "s" else h.rjust(w) for _, h, w, s in _TABLE_COLUMNS)
    lines = [head, "-" * len(head)]
    for m in records:
        if not m.ok:
            lines.append(f"{_fmt(m.name, 's', 44)} {m.status}: {m.reason}")
            continue
        lines.append(" ".join(_fmt(getattr(m, k), s, w) for k, _, w, s in _TABLE_COLUMNS))
    return "\n".join(lines)


def _resolve_source(path: str | None) -> Path:
    from ..io import default_model_path

    if path is None:
        try:
            return default_model_path()
        except FileNotFoundError as exc:
            raise CLIError(str(exc)) from exc
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{path}: no such file or directory")
    return p


def options_from_args(cls: type[Any], args: argparse.Namespace, **fixed: Any) -> Any:
    """The options object of the parsed flags; a bad value is a one-line :class:`CLIError`
    naming the flag. ``--device cpu`` keeps its 0.1 meaning (torch on the CPU) with a
    warning."""
    from ..options import OptionError, from_args

    if getattr(args, "device", None) == "cpu":
        print("setol: warning: --device cpu is deprecated and means torch on the CPU: use "
              "--device torch-cpu (or numpy, the default)", file=sys.stderr)
        args.device = "torch-cpu"
    if getattr(args, "scale", None) == "N":
        print("setol: warning: --scale N is deprecated: use --scale input (the same: the ESD "
              "of X = W^T W / N)", file=sys.stderr)
        args.scale = "input"
    try:
        return from_args(cls, args, **fixed)
    except OptionError as exc:
        raise CLIError(str(exc)) from None


def _resolve_device(opts: Any, command: str) -> Any:
    """Resolve ``--device``/``--precision``: a clear error for cuda without CUDA, a warning
    line on stderr when ``auto`` falls back to the CPU."""
    import warnings

    from ..linalg import DeviceError, DeviceFallbackWarning, resolve_backend

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeviceFallbackWarning)
        try:
            backend = resolve_backend(opts.device, precision=opts.precision)
        except DeviceError as exc:
            msg = str(exc).split(": ", 1)[-1]
            raise CLIError(f"--device {opts.device}: {msg}") from exc
    for w in caught:
        if issubclass(w.category, DeviceFallbackWarning):
            print(f"setol {command}: warning: {w.message}", file=sys.stderr)
    return backend


def _ensure_parent(path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)


def _check_outputs(args: argparse.Namespace, files: Sequence[str] = (),
                   dirs: Sequence[str] = ()) -> None:
    """Refuse output paths that cannot be written before any work is done: a file option
    naming a directory, a directory option naming a file, a parent that is a file."""
    for dest, want_dir in [(d, False) for d in files] + [(d, True) for d in dirs]:
        value = getattr(args, dest, None)
        if not value:
            continue
        opt = "--" + dest.replace("_", "-")
        p = Path(value)
        if want_dir and p.exists() and not p.is_dir():
            raise CLIError(f"{opt} {value}: exists and is not a directory")
        if not want_dir and p.is_dir():
            raise CLIError(f"{opt} {value}: is a directory (give a file name)")
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise CLIError(f"{opt} {value}: {parent} is not a directory")
                break


def _os_message(exc: BaseException) -> str:
    """One line for an error; an OSError names its path(s)."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        names = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 else "")
        return f"{names}: {exc.strerror}"
    return str(exc)


def about(source: Any, message: str) -> str:
    """``"SOURCE: message"``, without naming the source twice when the message already
    starts with it."""
    text = str(source)
    return message if message.startswith(text) else f"{text}: {message}"
