"""One self-contained HTML report: a summary, a sortable and filterable table, figures, a legend
of the columns and the JSON of every number shown.

The page is rendered with jinja2 from ``templates/report.html.j2`` (package data). Nothing in
it is fetched: CSS and JavaScript are inline, figures are PNG data URIs, and a
Content-Security-Policy forbids every request, so the file opens offline and can be mailed.

Two entry points:

* :func:`write_html_report` -- generic: any list of row dicts (layers, checkpoints, ...),
  optional per-row figures and extra sections. ``setol compare`` / ``setol history`` use it.
* :func:`write_analysis_report` -- a :class:`setol_theory.pipeline.ModelAnalysis` (``setol
  analyze`` / ``setol quality``): the HTSR table with each layer's verdict and reason, one ESD
  figure per layer, and with quality the quality-vs-alpha figure and the model table.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OptionError
from ..util import nan_to_none
from ._columns import definitions

#: Columns of the analyze table, in order (others stay in the JSON). A column absent from
#: every row is left out.
ANALYZE_COLUMNS = (
    "name", "kind", "verdict", "verdict_reason", "warning", "N", "M", "alpha", "alpha_sigma",
    "D", "xmin", "num_tail", "alpha_weighted", "log_norm", "log_spectral_norm", "stable_rank",
    "mp_sigma2", "mp_status", "num_spikes", "num_traps", "detx_lambda_min", "delta_lambda_min",
)
#: Columns shown as text (left-aligned, sorted alphabetically).
_TEXT_HINT = ("name", "kind", "status", "reason", "verdict", "verdict_reason", "warning",
              "fit_status", "fit_reason", "mp_status", "ecs_rule", "model", "checkpoint")
#: Columns whose cell wraps (long sentences).
_WRAP = ("verdict_reason", "reason", "fit_reason")


@dataclass
class Section:
    """An extra section of the report: paragraphs, an optional small table, figures.

    ``figures`` holds ``(png bytes or matplotlib Figure, caption)`` pairs.
    """

    title: str
    paragraphs: Sequence[str] = ()
    figures: Sequence[tuple[Any, str]] = ()
    table_head: Sequence[str] = ()
    table_rows: Sequence[Sequence[Any]] = ()
    id: str = ""


@dataclass
class _Col:
    name: str
    text: bool
    definition: str
    source: str = ""


@dataclass
class _Rendered:
    cells: list[dict[str, Any]] = field(default_factory=list)
    key: str = ""
    verdict: str = ""


#: Colours of the palette PNG a report embeds (``None``: matplotlib's RGBA PNG). A setol figure
#: has a few hundred to a few thousand distinct colours, nearly all anti-aliasing shades of the
#: dozen colours of the style; 256 palette entries chosen by Pillow's maximum-coverage
#: quantiser keep every channel within a few levels of 255 (checked in
#: tests/test_report_size.py) at about a third of the bytes.
PNG_COLORS: int | None = 256


def png_bytes(fig: Any, dpi: int = 100, colors: int | None = PNG_COLORS) -> bytes:
    """PNG bytes of a matplotlib figure (the figure is closed) or of PNG bytes (unchanged).

    Parameters
    ----------
    fig : matplotlib Figure or bytes
        The figure (closed here), or PNG bytes, returned as they are.
    dpi : int
        Resolution of the PNG (the figure's size in inches times ``dpi`` pixels).
    colors : int or None
        With an int (2-256): an 8-bit palette PNG of at most ``colors`` colours (Pillow's
        maximum-coverage quantiser, no dithering, ``optimize=True``), opaque RGB: the figure's
        white background carries no transparency. ``None``: matplotlib's RGBA PNG as it
        writes it (the report's encoding before palette PNGs; kept for comparisons).
    """
    if isinstance(fig, bytes | bytearray):
        return bytes(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    from ._figures import pyplot

    pyplot().close(fig)
    if colors is None:
        return buf.getvalue()
    return palette_png(buf.getvalue(), colors)


def palette_png(png: bytes, colors: int = 256) -> bytes:
    """``png`` re-encoded as an optimised palette PNG of at most ``colors`` colours (Pillow;
    see :func:`png_bytes`). An image with at most ``colors`` colours keeps them exactly."""
    if not 2 <= colors <= 256:
        raise OptionError(f"colors must be between 2 and 256, got {colors}")
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        rgb = im.convert("RGB")
    q = rgb.quantize(colors=colors, method=Image.Quantize.MAXCOVERAGE,
                     dither=Image.Dither.NONE)
    out = io.BytesIO()
    q.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _b64(fig: Any, colors: int | None = PNG_COLORS) -> str:
    return base64.b64encode(png_bytes(fig, colors=colors)).decode("ascii")


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if not math.isfinite(v):
            return "–"
        if v == 0:
            return "0"
        a = abs(v)
        return f"{v:.4g}" if 1e-3 <= a < 1e5 else f"{v:.3e}"
    if isinstance(v, dict | list | tuple):
        return json.dumps(nan_to_none(v))
    return str(v)


def _sort_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int | float):
        return repr(float(v)) if math.isfinite(float(v)) else ""
    return "" if v is None else str(v)


#: Verdicts shown in green: the tail fit holds (the record's goodness-of-fit verdict) or the
#: layer is in the alpha range of a well-trained layer (the report's own fallback).
_GOOD = ("ok", "good", "", "power law plausible", "no better alternative", "equilibrated")
#: Verdicts shown in grey: not graded.
_NOT_GRADED = ("skipped", "filtered", "n/a", "no-ecs", "not analysed", "tail too short",
               "tail is the bulk", "1/n extrapolation")


def verdict_class(v: str) -> str:
    """CSS class of a verdict (colour; the word itself carries the meaning)."""
    v = (v or "").lower()
    if v in _GOOD:
        return "v-ok"
    if v in _NOT_GRADED:
        return "v-na"
    if "fail" in v or "error" in v or v in ("no-fit", "no fit", "bad", "power law ruled out"):
        return "v-bad"
    return "v-warn"


def _is_text(name: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    if name in _TEXT_HINT:
        return True
    vals = [r.get(name) for r in rows if r.get(name) is not None]
    return bool(vals) and not all(isinstance(v, int | float) for v in vals)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", _fmt(v)))
    return out


def _anchor(i: int) -> str:
    return f"fig-{i}"


def render_html_report(*, title: str, rows: Sequence[Mapping[str, Any]],
                       summary: Mapping[str, Any] | None = None,
                       settings: Mapping[str, Any] | None = None,
                       warnings: Sequence[str] = (),
                       figures: Mapping[str, Any] | None = None,
                       key: str = "name", columns: Sequence[str] | None = None,
                       definitions_given: Mapping[str, Any] | None = None,
                       data: Any = None, sections: Sequence[Section] = (),
                       cards: Sequence[tuple[str, Any]] = (), subtitle: str = "",
                       table_title: str = "Layers", figures_title: str = "Per-layer figures",
                       figures_note: str = "",
                       figure_caption: Callable[[Mapping[str, Any]], str] | None = None,
                       figures_left_out: Sequence[str] = (), figures_left_out_note: str = "",
                       png_colors: int | None = PNG_COLORS) -> str:
    """The report as one HTML string (see :func:`write_html_report` for the arguments)."""
    import jinja2

    rows = [dict(r) for r in rows]
    if columns is None:
        seen: dict[str, None] = {}
        for r in rows:
            for k, v in r.items():
                if not isinstance(v, dict | list):
                    seen.setdefault(k, None)
        columns = list(seen)
    columns = [c for c in columns if any(c in r for r in rows)] or [key]
    defs = definitions(list(columns), dict(definitions_given or {}))
    cols = [_Col(c, _is_text(c, rows), *defs[c]) for c in columns]
    figures = dict(figures or {})
    fig_ids = {}
    fig_list = []
    for i, r in enumerate(rows):
        k = str(r.get(key, i))
        if k in figures:
            fig_ids[k] = _anchor(i)
            cap = figure_caption(r) if figure_caption else k
            fig_list.append({"id": _anchor(i), "key": k, "alt": f"figure of {k}",
                             "b64": _b64(figures[k], png_colors), "caption": cap})
    left_out = [str(k) for k in figures_left_out if str(k) not in figures]
    if left_out and not figures_left_out_note:
        raise OptionError("figures_left_out needs figures_left_out_note: the page must say why "
                         "and how to get them")
    table_rows = []
    for r in rows:
        k = str(r.get(key, ""))
        rr = _Rendered(key=k, verdict=str(r.get("verdict", "") or ""))
        for c in cols:
            v = r.get(c.name)
            cls = ["s"] if c.text else []
            if c.name in _WRAP:
                cls = ["wrap"]
            if c.name == "verdict":
                cls.append(verdict_class(str(v or "")))
            rr.cells.append({"text": _fmt(v) if v != "" else "", "sort": _sort_value(v),
                             "cls": " ".join(cls),
                             "link": fig_ids.get(k) if c.name == key else None})
        table_rows.append(rr)
    verdicts = Counter(r.verdict for r in table_rows if r.verdict)
    if data is None:
        data = {"summary": summary or {}, "settings": settings or {}, "rows": rows}
    payload = json.dumps(nan_to_none(data), indent=None, allow_nan=False, default=str)
    secs = []
    for j, s in enumerate(sections):
        secs.append({
            "id": s.id or f"section-{j}", "title": s.title, "paragraphs": list(s.paragraphs),
            "figures": [{"b64": _b64(f, png_colors), "caption": cap, "alt": cap or s.title}
                        for f, cap in s.figures],
            "table": ({"head": list(s.table_head), "rows": [[_fmt(c) for c in r]
                                                            for r in s.table_rows]}
                      if s.table_head else None),
        })
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("setol_theory.report", "templates"),
        autoescape=jinja2.select_autoescape(("html", "j2")),
        undefined=jinja2.StrictUndefined,
    )
    tpl = env.get_template("report.html.j2")
    from importlib import metadata

    try:
        version = metadata.version("setol")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = "?"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # the JSON goes into a <script type="application/json">: "</" must not end the element
    safe_payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")
    return tpl.render(
        title=title, subtitle=subtitle or f"setol {version}, written {stamp}",
        cards=[{"label": a, "value": _fmt(b)} for a, b in cards],
        summary=_flatten(summary or {}), settings=_flatten(settings or {}),
        warnings=list(warnings), verdict_counts=sorted(verdicts.items()),
        verdict_class=verdict_class, columns=cols, table_rows=table_rows,
        table_title=table_title, sections=secs, figures=fig_list,
        has_summary=bool(cards or summary or settings or warnings or verdicts),
        figures_title=figures_title, figures_note=figures_note, left_out=left_out,
        left_out_note=figures_left_out_note,
        legend=cols, data_json=jinja2.utils.markupsafe.Markup(safe_payload),
    )


def write_html_report(path: str | Path, *, title: str, rows: Sequence[Mapping[str, Any]],
                      summary: Mapping[str, Any] | None = None,
                      settings: Mapping[str, Any] | None = None,
                      warnings: Sequence[str] = (),
                      figures: Mapping[str, Any] | None = None,
                      key: str = "name", columns: Sequence[str] | None = None,
                      definitions_given: Mapping[str, Any] | None = None,
                      data: Any = None, sections: Sequence[Section] = (),
                      **kwargs: Any) -> Path:
    """Write a self-contained HTML report (no network: inline CSS/JS, figures as data URIs).

    Parameters
    ----------
    path : str or Path
        The ``.html`` file to write (its folder is created).
    title : str
        Page title (no machine paths: pass a model name).
    rows : sequence of dict
        One dict per table row (a layer, a checkpoint...). Rows with a ``"verdict"`` key get a
        verdict filter; nested values stay in the JSON only.
    summary, settings : dict, optional
        Shown as key/value tables (nested dicts flattened to ``a.b``).
    warnings : sequence of str
        Shown in the summary.
    figures : dict, optional
        ``row[key] -> PNG bytes or matplotlib Figure``: one figure per row, linked from the
        row's ``key`` cell.
    key : str
        The column naming a row (default ``"name"``).
    columns : sequence of str, optional
        Table columns in order (default: every scalar key of the rows).
    definitions_given : dict, optional
        ``column -> definition`` or ``(definition, source)`` for the legend; the library's
        column registry and the report's fallback cover the rest.
    data : object, optional
        What the JSON block holds (default: ``summary``, ``settings`` and ``rows``).
    sections : sequence of Section
        Extra sections (a summary figure, a model table...), after the table.
    **kwargs
        ``cards`` (``(label, value)`` pairs), ``subtitle``, ``table_title``,
        ``figures_title``, ``figures_note``, ``figure_caption`` (row -> caption);
        ``figures_left_out`` (the ``key`` of each row whose figure was not drawn) with
        ``figures_left_out_note`` (why, and how to get them: required with it), both shown
        in the figures section, the names in a folded list; ``png_colors`` (see
        :func:`png_bytes`; default :data:`PNG_COLORS`) for the figures given as matplotlib
        figures (PNG bytes are embedded as they are).

    Returns
    -------
    Path
        The file written.
    """
    html = render_html_report(title=title, rows=rows, summary=summary, settings=settings,
                              warnings=warnings, figures=figures, key=key, columns=columns,
                              definitions_given=definitions_given, data=data,
                              sections=sections, **kwargs)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
