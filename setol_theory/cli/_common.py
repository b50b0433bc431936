"""Helpers shared by the ``setol`` sub-commands: errors, the layer table, paths."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CLIError

#: Exit codes
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Column:
    """One column of a terminal table.

    ``key`` is the record's attribute (or dict key), ``head`` the header, ``width`` the fixed
    width of a number column, ``spec`` its format (``".3f"``, ``".4g"``, ``"d"``; ``"s"`` for
    text). Adding a column to ``setol analyze``'s table is one line in :data:`LAYER_COLUMNS`.
    ``zero_missing``: the record stores 0 for "not known" in this column (``N`` of an ESD
    given without N, see :mod:`setol_theory.columns`), so 0 prints as ``-``.
    """

    key: str
    head: str
    width: int
    spec: str
    zero_missing: bool = False


#: The columns of ``setol analyze``'s table after the layer name (which takes the rest of the
#: terminal width), in order; the last text column may run past the width.
LAYER_COLUMNS: list[Column] = [
    Column("N", "N", 6, "d", zero_missing=True),
    Column("M", "M", 6, "d"),
    Column("alpha", "alpha", 6, ".3f"),
    Column("alpha_sigma", "+-", 5, ".2f"),
    Column("alpha_weighted", "a_w", 7, ".3f"),
    Column("xmin", "xmin", 8, ".3g"),
    Column("lambda_max", "l_max", 8, ".3g"),
    Column("D", "KS_D", 5, ".3f"),
    Column("num_tail", "n_tail", 6, "d"),
    Column("num_spikes", "spikes", 6, ".0f"),
    Column("num_traps", "traps", 5, ".0f"),
    Column("verdict", "verdict", 28, "s"),
    Column("warning", "warning", 13, "s"),
]

def layer_columns(fit: str = "pl", fingers: str = "none") -> list[Column]:
    """:data:`LAYER_COLUMNS` with the columns of the fit options that were used: ``tpl_a``
    (tpl_alpha) and ``Lambda`` (tpl_lambda) after ``KS_D`` under ``--fit tpl|e_tpl``,
    ``a_raw`` (alpha before the finger handling) after ``+-`` and ``fing`` (num_fingers)
    after ``n_tail`` under ``--fingers``."""
    cols = list(LAYER_COLUMNS)

    def after(key: str, *new: Column) -> None:
        i = next(k for k, c in enumerate(cols) if c.key == key) + 1
        cols[i:i] = new

    if fit != "pl":
        after("D", Column("tpl_alpha", "tpl_a", 6, ".3f"),
              Column("tpl_lambda", "Lambda", 8, ".3g"))
    if fingers != "none" or fit == "e_tpl":
        after("alpha_sigma", Column("alpha_raw", "a_raw", 6, ".3f"))
    if fingers == "clip_xmax":
        after("num_tail", Column("num_fingers", "fing", 4, "d"))
    return cols


#: Narrowest name column: below this the names are elided to this width and the line runs
#: past the terminal width.
MIN_NAME_WIDTH = 20


def elide(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with ``…`` in the middle (the start and the end of
    a layer name carry its meaning: ``encoder.layer.11.attention.self.query.weight`` ->
    ``encoder.layer…self.query.weight``)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2 + (width - 1) % 2
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail:]


def _number(value: Any, spec: str, width: int) -> str:
    """A number in at most ``width`` characters: ``spec``, else fewer significant digits,
    else e-notation; ``-`` for a missing or non-finite value."""
    if value is None or isinstance(value, str):
        return "-" if value is None else value[:width]
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)[:width]
    if not math.isfinite(x):
        return "-"
    if spec == "d" or spec.endswith("d"):
        text = str(int(value))
        if len(text) <= width:
            return text
    else:
        text = format(x, spec)
        if len(text) <= width:
            return text
    for digits in range(max(width - 2, 1), 0, -1):
        for form in (f".{digits}g", f".{digits - 1}e" if digits > 1 else ".0e"):
            text = format(x, form).replace("e+0", "e+").replace("e-0", "e-")
            if len(text) <= width:
                return text
    return "#" * width


def _fmt(value: Any, spec: str, width: int) -> str:
    """One cell: text left-aligned and elided in the middle, numbers right-aligned in exactly
    ``width`` characters."""
    if spec == "s":
        return elide("-" if value is None else str(value), width).ljust(width)
    return _number(value, spec, width).rjust(width)


def _get(record: Any, key: str) -> Any:
    return record.get(key) if isinstance(record, dict) else getattr(record, key, None)


def _cell(record: Any, column: Column) -> Any:
    value = _get(record, column.key)
    return None if column.zero_missing and value == 0 else value


def table_width() -> int | None:
    """Characters per line for a table: ``$COLUMNS`` when set, the terminal's width when
    stdout is a terminal, else None (a file or a pipe: nothing is elided)."""
    import os
    import shutil

    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((100, 24)).columns
    return None


def name_width(names: Sequence[str], fixed: int, width: int | None | str = "auto") -> int:
    """Width of a table's name column: the longest name, or what ``fixed`` characters of
    other columns leave of ``width`` (``"auto"``: :func:`table_width`), at least
    :data:`MIN_NAME_WIDTH`."""
    if width == "auto":
        width = table_width()
    longest = max(map(len, names), default=0)
    return longest if width is None else max(MIN_NAME_WIDTH, min(longest, int(width) - fixed))


def format_table(records: Sequence[Any], columns: Sequence[Column] = LAYER_COLUMNS, *,
                 name_key: str = "name", name_head: str = "layer",
                 width: int | None | str = "auto") -> str:
    """A fixed-width text table of layer records (``LayerMetrics`` or dicts).

    The name column takes what the number columns leave of ``width`` (``"auto"``:
    :func:`table_width`; None: no limit) beside the number columns, at least
    :data:`MIN_NAME_WIDTH`; longer names are elided in the middle. Text columns at the end
    (the warning) are not counted and may run past ``width``. Numbers are right-aligned in
    their column's fixed width, whatever their size. A record whose ``status`` is not
    ``"ok"`` gets ``status: reason`` after its name.
    """
    if width == "auto":
        width = table_width()
    names = [str(_get(r, name_key)) for r in records]
    # text columns at the end (the warning) may run past the width: they are empty for most rows
    trailing = len(columns)
    while trailing > 0 and columns[trailing - 1].spec == "s":
        trailing -= 1
    fixed = sum(c.width + 1 for c in columns[:trailing])
    name_w = name_width([name_head, *names], fixed, width)
    head = " ".join([_fmt(name_head, "s", name_w)]
                    + [_fmt(c.head, "s", c.width) if c.spec == "s" else c.head.rjust(c.width)
                       for c in columns]).rstrip()
    lines = [head, "-" * min(len(head), width or len(head))]
    for r, name in zip(records, names, strict=True):
        status = _get(r, "status")
        if status not in (None, "ok"):
            lines.append(f"{_fmt(name, 's', name_w)} {status}: {_get(r, 'reason')}")
            continue
        cells = [_fmt(name, "s", name_w)]
        cells += [_fmt(_cell(r, c), c.spec, c.width) for c in columns[:trailing]]
        cells += [str(_get(r, c.key) or "") for c in columns[trailing:]]  # whole, not elided
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def _resolve_source(path: str | None, download: bool = False) -> Path:
    """The weights to read: the default model, an existing path, or a Hugging Face model id
    ``ORG/NAME[@REVISION]`` from the local cache (fetched only with ``download``)."""
    from ..io import default_model_path

    if path is None:
        try:
            return default_model_path()
        except FileNotFoundError as exc:
            raise CLIError(str(exc)) from exc
    p = Path(path)
    if p.exists():
        return p
    from ..io._hub import parse_hub_id, resolve_hub_id

    if parse_hub_id(path) is None:
        raise CLIError(f"{path}: no such file or directory")
    try:
        return resolve_hub_id(path, download=download)
    except FileNotFoundError as exc:
        raise CLIError(f"{exc} (no file or directory of that name either)") from exc


def add_download_argument(parser: argparse.ArgumentParser) -> None:
    """``--download``: let a Hugging Face model id be fetched when it is not in the cache."""
    parser.add_argument(
        "--download", action="store_true",
        help="PATH may be a Hugging Face model id ORG/NAME[@REVISION], read from the local "
             "cache (HF_HUB_CACHE / HF_HOME) offline; with --download a model missing from "
             "the cache is fetched (weights and configs only; needs setol[hf])")


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


#: What the flagged layers of --html-figures are, in setol analyze / quality.
FLAGGED_HELP = "bad or to-watch verdict, or a warning; worst first"


def add_html_figure_arguments(parser: argparse.ArgumentParser, flagged: str = FLAGGED_HELP,
                              what: str = "an ESD figure") -> None:
    """``--html-figures`` and ``--html-max-figures`` (analyze, quality, compare)."""
    from .._choices import HTML_FIGURES, HTML_MAX_FIGURES

    parser.add_argument(
        "--html-figures", choices=HTML_FIGURES, default="auto",
        help=f"which layers get {what} in the --html page: 'auto' (default) draws every "
             "layer when there are at most --html-max-figures of them, and beyond that only "
             f"the flagged ones ({flagged}; at most --html-max-figures), because each figure "
             "adds about 35 kB and a 1,000-layer page with all of them is about 35 MB; 'all', "
             "'flagged' or 'none' without a limit. The page names every layer left out; the "
             "table and the JSON keep every layer; --plot DIR writes every figure as a file")
    parser.add_argument(
        "--html-max-figures", type=int, default=HTML_MAX_FIGURES, metavar="N",
        help=f"the 'auto' limit of --html-figures (default {HTML_MAX_FIGURES}: the page of "
             "1,000 random 256x128 layers is about 6 MB, 3 of them the table and the JSON; "
             "docs/report.md)")


def _check_html_figures(args: argparse.Namespace) -> None:
    """Refuse a negative ``--html-max-figures``, and either flag without ``--html`` (it would
    do nothing), before any work is done."""
    from .._choices import HTML_MAX_FIGURES

    n = getattr(args, "html_max_figures", None)
    if n is not None and n < 0:
        raise CLIError(f"--html-max-figures must be >= 0, got {n}")
    given = [flag for flag, v, default in (
        ("--html-figures", getattr(args, "html_figures", "auto"), "auto"),
        ("--html-max-figures", n, HTML_MAX_FIGURES)) if v is not None and v != default]
    if given and not getattr(args, "html", None):
        verb = "applies" if len(given) == 1 else "apply"
        raise CLIError(f"{' and '.join(given)} only {verb} to the page of --html FILE, "
                       "which was not asked for")


def _check_outputs(args: argparse.Namespace, files: Sequence[str] = (),
                   dirs: Sequence[str] = ()) -> None:
    """Refuse output paths that cannot be written before any work is done: a file option
    naming a directory, a directory option naming a file, a parent that is a file or does
    not exist (a typo'd path is an error, not a new directory tree)."""
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
        parent = p.parent
        if not parent.is_dir():  # never create a directory the user did not ask for
            raise CLIError(f"{opt} {value}: directory {parent} does not exist")


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
