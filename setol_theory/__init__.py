"""setol_theory: HTSR layer analysis and SETOL theory (no torch at import time)."""

__version__ = "0.1.0"
