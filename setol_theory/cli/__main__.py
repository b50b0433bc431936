"""``python -m setol_theory.cli``: the ``setol`` command."""

import sys

from . import main

sys.exit(main())
