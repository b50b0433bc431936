"""Griffe extension for the docs build: Sphinx roles in docstrings as code.

setol's docstrings cite other objects with Sphinx roles (``:func:`analyze```,
``:class:`ECS```), which mkdocstrings would print literally. This rewrites each role to inline
code (`` `analyze` ``) before the docstring is parsed. Used by mkdocs.yml only.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`~?([^`]+)`")


class SphinxRoles(Extension):
    """Replace ``:role:`target``` by ```target``` in every docstring."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        doc = getattr(obj, "docstring", None)
        if doc is not None and ":" in doc.value:
            doc.value = _ROLE.sub(lambda m: f"`{m.group(1)}`", doc.value)
