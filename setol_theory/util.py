"""Small helpers shared by setol_theory and simulations: argument checks and JSON output.

Bottom layer: imports only :mod:`setol_theory.errors`.  ``require`` imports an optional
dependency or says, in one line, which extra installs it; ``real_number`` validates a scalar
argument;
``nan_to_none``, ``json_default`` and ``write_json`` write results as strict JSON (NaN as
``null``, numpy scalars and arrays as numbers and lists, atomic writes). ``njit_cached``
compiles a kernel with numba's on-disk cache, wherever one can be written.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MissingExtra

__all__ = ["MissingExtra", "NUMBA_FALLBACK_CACHE", "json_default", "nan_to_none", "njit_cached",
           "plain", "real_number", "require", "write_json"]

#: The extra of pyproject.toml that installs each optional dependency.
EXTRAS = {
    "torch": "torch",
    "dask": "dist",
    "distributed": "dist",
    "huggingface_hub": "hf",
    "pandas": "pandas",
    "pyarrow": "pandas",
}


def plain(x: Any) -> Any:
    """``x`` for a message: a numpy scalar as the Python number it holds, so that ``{x!r}``
    reads ``0.5``, not ``np.float64(0.5)`` (numpy >= 2 reprs); anything else unchanged."""
    return x.item() if isinstance(x, np.generic) else x


def require(module: str, feature: str) -> Any:
    """Import the optional dependency ``module`` (its top-level package name) on first use.

    Parameters
    ----------
    module : str
        ``"torch"``, ``"dask"``, ``"distributed"``, ``"huggingface_hub"``, ``"pandas"`` or
        ``"pyarrow"`` (a dotted name such as ``"dask.distributed"`` imports that module).
    feature : str
        What needs it, for the message (``"reading .pt files"``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingExtra
        When the package is not installed: one line naming ``feature``, the package and the
        extra (``pip install 'setol[torch]'``). An ``ImportError`` raised *inside* an
        installed package (a broken install) propagates unchanged.
    """
    import importlib

    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise
        raise MissingExtra(feature, top, EXTRAS.get(top, "all")) from None


#: Where :func:`njit_cached` keeps compiled kernels when numba finds no writable cache
#: directory of its own (``{tmp}`` is :func:`tempfile.gettempdir`, ``{uid}`` the user id).
NUMBA_FALLBACK_CACHE = "{tmp}/setol-numba-cache-{uid}"


def njit_cached(func: Callable[..., Any]) -> Callable[..., Any]:
    """``numba.njit(cache=True, nogil=True)(func)``; the plain function without numba.

    The compiled machine code goes to numba's on-disk cache, so a second process loads it
    instead of compiling (tests/test_imports.py checks the dispatcher's cache hits).  numba
    looks for a writable place in this order: ``NUMBA_CACHE_DIR``, the ``__pycache__`` next to
    the source, the user's cache directory (``~/.cache/numba``); when none is writable (a
    read-only install with a read-only home, as in some containers) it refuses ``cache=True``
    with a ``RuntimeError`` at decoration, i.e. at import.  Then the cache directory is set to
    :data:`NUMBA_FALLBACK_CACHE` (numba's ``config.CACHE_DIR``, the setting behind
    ``NUMBA_CACHE_DIR``, for the rest of the process), and failing that the kernel is compiled
    in every process (``cache=False``).
    """
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba is a declared dependency
        return func
    try:
        return njit(cache=True, nogil=True)(func)
    except RuntimeError as exc:
        if "cannot cache" not in str(exc):
            raise
    import tempfile

    from numba.core import config

    if not config.CACHE_DIR:
        config.CACHE_DIR = NUMBA_FALLBACK_CACHE.format(tmp=tempfile.gettempdir(),
                                                       uid=os.getuid())
        try:
            return njit(cache=True, nogil=True)(func)
        except RuntimeError as exc:
            if "cannot cache" not in str(exc):
                raise
    return njit(nogil=True)(func)


def real_number(x: Any, name: str) -> float:
    """``x`` as a Python float, checked to be a real number.

    Accepts any :class:`numbers.Real` (Python and numpy ints and floats) and 0-d real numpy
    arrays; NaN and infinities pass (the caller checks the range it needs).

    Raises
    ------
    TypeError
        For booleans, strings, complex numbers, sequences and anything else that is not a
        real number: ``"{name} must be a real number, got {x!r} of type {type}"``.
    """
    if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Real):
        if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "iuf":
            return float(x.item())
        raise TypeError(f"{name} must be a real number, got {x!r} of type {type(x).__name__}")
    return float(x)


def nan_to_none(obj: Any, *, inf_strings: bool = False) -> Any:
    """``obj`` with every non-finite float (NaN, +-Inf) replaced by ``None``, for JSON.

    Dicts, lists and tuples are walked recursively (tuples become lists); numpy scalars
    become Python scalars. Anything else is returned unchanged. With ``inf_strings=True``
    only NaN becomes ``None`` and +-Inf become the strings ``"inf"`` / ``"-inf"``.
    """
    if isinstance(obj, float) and not math.isfinite(obj):
        if inf_strings and not math.isnan(obj):
            return "inf" if obj > 0 else "-inf"
        return None
    if isinstance(obj, dict):
        return {k: nan_to_none(v, inf_strings=inf_strings) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [nan_to_none(v, inf_strings=inf_strings) for v in obj]
    if isinstance(obj, np.generic):
        return nan_to_none(obj.item(), inf_strings=inf_strings)
    return obj


def json_default(o: Any) -> Any:
    """``default=`` for :func:`json.dump`: numpy arrays become lists and numpy scalars Python
    scalars; anything else raises ``TypeError`` (``"not JSON serialisable: {type}"``)."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.integer | np.floating | np.bool_):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _json_default_or_str(o: Any) -> Any:
    try:
        return json_default(o)
    except TypeError:
        return str(o)


def write_json(path: str | os.PathLike[str], obj: Any, *,
               default: Callable[[Any], Any] = _json_default_or_str) -> None:
    """Write ``obj`` as JSON (``indent=1``) to ``path``, atomically.

    The parent directory is created; the text goes to ``path + ".tmp"`` first and then
    replaces ``path``, so a reader never sees a half-written file. ``default`` converts
    what :mod:`json` cannot write (default: numpy arrays and scalars as by
    :func:`json_default`, anything else as ``str(o)``). Non-finite floats are written as
    ``NaN`` / ``Infinity``: pass ``nan_to_none(obj)`` for strict JSON.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=default))
    os.replace(tmp, p)
