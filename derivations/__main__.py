"""``python -m derivations [name ...]``: print the LaTeX of all (or the named) derivations."""

from __future__ import annotations

import sys
from importlib import import_module

from derivations import MODULES
from derivations._base import print_derivation


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        print(f"unknown derivation(s): {', '.join(unknown)}; known: {', '.join(MODULES)}",
              file=sys.stderr)
        return 2
    for name in names:
        print_derivation(import_module(f"derivations.{name}").derive())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
