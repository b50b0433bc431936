"""Old import paths that keep working for one release, with a ``DeprecationWarning``.

setol 0.2 split the flat modules of 0.1 (``spectra``, ``backend``, ``powerlaw``, ``densities``,
``free``, ``hciz``, ``scale``, ``plotting``) into subpackages and moved a few names between
``htsr``, ``quality`` and the pipeline.  The old paths resolve lazily, at attribute access, so
that importing an old module never imports the layers above it; docs/architecture.md lists
every moved name.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved_names", "warn_deprecated"]

#: The release in which the old paths are removed.
REMOVED_IN = "0.3"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _outside_caller_level() -> int:
    """``stacklevel`` for :func:`warnings.warn` that names the first frame outside setol_theory
    (and outside ``dataclasses``, which runs ``__post_init__``): the user's line."""
    frame = sys._getframe(2)  # the caller of warn_deprecated
    level = 2
    while frame is not None:
        raw = frame.f_code.co_filename
        name = os.path.abspath(raw)
        if not (raw.startswith("<") or name.startswith(_PACKAGE_DIR)
                or name.endswith("dataclasses.py")):
            return level
        frame = frame.f_back
        level += 1
    return 2


def warn_deprecated(message: str) -> None:
    """A ``DeprecationWarning`` attributed to the user's code, however deep in setol it is
    raised (so Python's default filters show it once per calling line)."""
    warnings.warn(message, DeprecationWarning, stacklevel=_outside_caller_level())


def moved_names(
    module: str, moved: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` (PEP 562) for names moved out of ``module``.

    Parameters
    ----------
    module : str
        The old module's ``__name__``.
    moved : mapping of str to str
        Old name -> the module that now defines it, or ``"module:attribute"`` where the old
        name is served by an adapter with the 0.1 behaviour.

    Returns
    -------
    (getattr, dir) : the two module-level hooks.
    """

    def __getattr__(name: str) -> Any:
        target = moved.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, _, attr = target.partition(":")
        # `from package import name` first probes hasattr(package, name) from importlib's
        # bootstrap, then takes the attribute: warn once, on the real access
        if not sys._getframe(1).f_code.co_filename.startswith("<frozen importlib"):
            warnings.warn(
                f"{module}.{name} moved to {target}.{name}; the old path is removed in setol "
                f"{REMOVED_IN}",
                DeprecationWarning,
                stacklevel=2,
            )
        return getattr(importlib.import_module(target), attr or name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[module])) | set(moved))

    __getattr__.moved = dict(moved)  # type: ignore[attr-defined]
    return __getattr__, __dir__
