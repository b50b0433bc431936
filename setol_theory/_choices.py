"""The allowed values of the settings, stated once, where every layer can read them.

The modules that implement a setting import its vocabulary from here (``htsr`` the trap
scales and shuffles, ``htsr`` the detX rules, ``quality`` the model names and the smallest
ECS), and so does :mod:`setol_theory.options`, which builds the CLI flags from them without
importing the numerical layers (numba, scipy): ``setol --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["DETX_RULES", "FINGER_MODES", "HTML_FIGURES", "HTML_MAX_FIGURES", "MIN_ECS",
           "QUALITY_MODELS", "TAIL_FITS", "TRAP_SCALES", "TRAP_SHUFFLES", "TRAP_SOLVERS"]

#: Tail models of the analysis: the power law; also the power law with exponential cutoff on
#: the same tail; the latter with the ``xmin_peak`` finger handling (WeightWatcher's E_TPL).
TAIL_FITS: tuple[str, ...] = ("pl", "tpl", "e_tpl")
#: Finger handling of the power-law fit: none, or WeightWatcher's ``fix_fingers`` modes.
FINGER_MODES: tuple[str, ...] = ("none", "xmin_peak", "clip_xmax")

#: MP scale of the shuffled layer in the correlation-trap test: its exact entry variance, or a
#: fit to the shuffled ESD (WeightWatcher's choice).
TRAP_SCALES: tuple[str, ...] = ("variance", "fit")
#: Permutation methods of the trap test (same statistics; "blocked" streams large layers).
TRAP_SHUFFLES: tuple[str, ...] = ("auto", "numpy", "blocked")
#: Eigenvalue route of the trap test: Lanczos for the top eigenvalues where it applies
#: ("auto"), or always the full spectrum of the shuffled layer ("full").
TRAP_SOLVERS: tuple[str, ...] = ("auto", "full")
#: Index rules of the TraceLog/detX edge: the first k with sum ln lambda < 0 (the reference
#: tool), or the k closest to 0 after the peak.
DETX_RULES: tuple[str, ...] = ("first_below", "closest")
#: The quality models of :data:`setol_theory.quality.MODELS`, in table order (the registry
#: checks at import that its keys are exactly these).
QUALITY_MODELS: tuple[str, ...] = ("bs", "fc", "lw", "lw_paper", "imp", "imp_gtable", "tpl",
                                   "emp", "emp_inv")
#: Smallest accepted effective correlation space (eigenvalues).
MIN_ECS: int = 5

#: Which layers get an ESD figure in the HTML report (``--html-figures``): every layer up to
#: :data:`HTML_MAX_FIGURES` and beyond that the flagged ones (at most that many); every
#: analysed layer; the layers whose verdict or warning flags them; none.
HTML_FIGURES: tuple[str, ...] = ("auto", "all", "flagged", "none")
#: The ``auto`` limit of figures in one report (``--html-max-figures``): 100 figures of about
#: 35 kB each (palette PNG, base64) keep a 1,000-layer page about 6 MB
#: (benchmarks/bench_report_size.py).
HTML_MAX_FIGURES: int = 100
