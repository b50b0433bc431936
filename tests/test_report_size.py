"""Size of the HTML report: palette PNGs and the figure policy for many-layer models.

A page embeds every figure as a base64 PNG; with one figure per layer, the page of a large
model grows by one figure per layer. Checked here: the palette PNG keeps the colours of the
figure style; the policy (``figures="auto"``, ``max_figures``) draws at most ``max_figures``
figures, flagged layers first, and the page names every layer left out; the table and the
JSON keep every layer; every image still decodes. Sizes are asserted on bytes, never on time.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from test_report_html import PNG_MAGIC, _parse

from setol_theory import analyze
from setol_theory.errors import OptionError
from setol_theory.report import plot_layer_esd, write_analysis_report
from setol_theory.report._analysis_html import select_figures
from setol_theory.report._html import palette_png, png_bytes, render_html_report, verdict_class
from setol_theory.report._style import HIST, PALETTE

#: Bytes of one layer's table row plus its JSON record, an upper bound (measured: ~3.1 kB for
#: the default columns at 1,000 layers, benchmarks/bench_report_size.py).
ROW_BYTES = 4_000
#: Bytes of one embedded layer figure (base64 palette PNG and its markup), an upper bound
#: (measured: 31-35 kB; the RGBA PNG of the same figure: ~100 kB).
FIGURE_BYTES = 50_000


def _rgb(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def _hex(h: str) -> np.ndarray:
    h = h.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)])


@pytest.fixture(scope="module")
def one_layer():
    rng = np.random.default_rng(11)
    res = analyze({"w": rng.standard_t(2.5, size=(300, 120))}, traps=True, keep_evals=True)
    return res.evals["w"], res.layers[0]


def test_palette_png_keeps_the_figure(one_layer):
    """The palette PNG of a layer figure: at most 256 colours, each pixel within a few levels
    of the RGBA original, every colour of the style that the figure uses still there, and
    well under half the bytes."""
    from PIL import Image

    ev, m = one_layer
    old = png_bytes(plot_layer_esd(ev, m), colors=None)
    new = png_bytes(plot_layer_esd(ev, m))
    assert new.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(new)) as im:
        assert im.mode == "P" and len(im.getcolors(256) or ()) <= 256
    a, b = _rgb(old), _rgb(new)
    assert a.shape == b.shape
    err = np.abs(a - b).max(axis=2)
    # a channel moves by at most 1/16 of its range anywhere, by less almost everywhere
    assert err.max() <= 16 and np.percentile(err, 99) <= 8
    used = 0
    for name, colour in {**PALETTE, "hist": HIST["color"], "hist_edge": HIST["edgecolor"]}.items():
        c = _hex(colour)
        mask = (a == c).all(axis=2)
        if mask.sum() >= 20:  # the colour is drawn (a line, the bars), not only blended
            used += 1
            assert np.abs(b[mask] - c).max() <= 8, name
    assert used >= 4  # the check saw the bars, the fit and the vertical lines
    assert len(new) < 0.5 * len(old)


def test_palette_png_is_exact_for_few_colours():
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(200, 3))
    a = colours[rng.integers(0, 200, size=(40, 50))].astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    assert np.array_equal(_rgb(palette_png(buf.getvalue())), a)
    with pytest.raises(OptionError, match="colors"):
        palette_png(buf.getvalue(), colors=300)


def _rows(verdicts: list[str], warnings: list[str] | None = None) -> list[dict[str, str]]:
    warnings = warnings or [""] * len(verdicts)
    return [{"name": f"l{i}", "verdict": v, "warning": w}
            for i, (v, w) in enumerate(zip(verdicts, warnings, strict=True))]


def test_select_figures_policy():
    good, bad, watch, na = ("power law plausible", "power law ruled out", "not heavy-tailed",
                            "tail too short")
    rows = _rows([good, bad, watch, na, good, bad], ["", "", "", "small-tail", "", ""])
    names = [r["name"] for r in rows]
    assert select_figures(rows, "auto", max_figures=6) == (names, "")
    assert select_figures(rows, "all", max_figures=0) == (names, "")
    none, why = select_figures(rows, "none")
    assert none == [] and "none" in why
    flagged, why = select_figures(rows, "flagged")
    assert flagged == ["l1", "l2", "l3", "l5"] and "flagged" in why
    # auto beyond the limit: the worst first (bad verdicts, then to watch, then warnings),
    # returned in table order
    assert select_figures(rows, "auto", max_figures=2)[0] == ["l1", "l5"]
    picked, why = select_figures(rows, "auto", max_figures=3)
    assert picked == ["l1", "l2", "l5"]
    assert "the first 3 of 4, worst first" in why and "6 layers" in why
    assert select_figures(rows, "auto", max_figures=5)[0] == ["l1", "l2", "l3", "l5"]
    # an alpha label comes before a small-tail label, whatever the table order
    rows = _rows([good, na, good], ["", "small-tail", "over-trained"])
    assert select_figures(rows, "auto", max_figures=1)[0] == ["l2"]
    assert select_figures(rows, "flagged")[0] == ["l1", "l2"]
    with pytest.raises(OptionError, match="figures must be one of"):
        select_figures(rows, "some")
    with pytest.raises(OptionError, match="max_figures"):
        select_figures(rows, "auto", max_figures=-1)


def test_left_out_needs_a_note():
    with pytest.raises(OptionError, match="note"):
        render_html_report(title="t", rows=[{"name": "a"}], figures_left_out=["a"])


@pytest.fixture(scope="module")
def many_layers():
    """300 small Student-t layers (nu = 3): a mix of verdicts, many flagged."""
    rng = np.random.default_rng(5)
    model = {f"block.{i}.weight": rng.standard_t(3.0, size=(96, 48)) for i in range(300)}
    return analyze(model, traps=False, keep_evals=True)


def _imgs_decode(page) -> None:
    for img in page.imgs:
        assert img["src"].startswith("data:image/png;base64,")
        raw = base64.b64decode(img["src"].split(",", 1)[1], validate=True)
        assert raw.startswith(PNG_MAGIC)
        _rgb(raw)  # Pillow decodes it whole


def test_many_layer_page_stays_small_and_says_what_it_left_out(many_layers, tmp_path):
    res, k = many_layers, 5
    n = len(res.analysed)
    assert n == 300
    html = write_analysis_report(tmp_path / "r.html", res, max_figures=k).read_text()
    page = _parse(html)
    figs = [i["alt"][len("figure of "):] for i in page.imgs if i["alt"].startswith("figure of ")]
    assert len(figs) == k
    _imgs_decode(page)
    # the table and the JSON keep every layer
    assert [r["data-key"] for r in page.rows] == [m.name for m in res.layers]
    data = json.loads(page.json_text)
    assert [r["name"] for r in data["layers"]] == [m.name for m in res.layers]
    # the drawn layers are flagged ones, and the page names every layer left out, the rule
    # and how to get the figures
    by_name = {r["name"]: r for r in data["layers"]}
    assert all(verdict_class(by_name[f]["verdict"]) in ("v-bad", "v-warn")
               or by_name[f]["warning"] for f in figs)
    assert f"{n - k} of {n} analysed layers have no figure here" in html
    assert "--html-figures all" in html and "--plot DIR" in html
    names = re.search(r'<p class="note names">(.*?)</p>', html, re.S).group(1).split(", ")
    assert sorted(names + figs) == sorted(m.name for m in res.analysed)
    assert f"{n - k} of {n} analysed layer(s) have no figure in this page" in html
    # a layer without a figure has no link; a drawn one links to its figure
    for f in figs:
        assert re.search(rf'<a href="#fig-\d+">{re.escape(f)}</a>', html)
    assert '<a href="#fig-' not in html.split(f'data-key="{names[0]}"')[1].split("</tr>")[0]
    # the size: the rows, plus at most k figures
    assert len(html.encode()) <= n * ROW_BYTES + k * FIGURE_BYTES
    empty = write_analysis_report(tmp_path / "n.html", res, figures="none").read_text()
    assert "<img " not in empty and f"{n} of {n} analysed layers have no figure" in empty
    assert len(html.encode()) - len(empty.encode()) <= k * FIGURE_BYTES


def test_cli_html_figures(tmp_path):
    from conftest import write_safetensors

    rng = np.random.default_rng(2)
    f = write_safetensors(tmp_path / "m.safetensors", {
        f"l{i}": rng.standard_t(2.0 + i, size=(120, 60)).astype(np.float32) for i in range(3)})
    out = tmp_path / "r.html"
    base = [sys.executable, "-m", "setol_theory.cli", "analyze", str(f), "--html", str(out),
            "--quiet", "--no-traps"]
    r = subprocess.run(base + ["--html-figures", "none"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "<img " not in html and "3 of 3 analysed layers have no figure here" in html
    r = subprocess.run(base + ["--html-max-figures", "-1"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode != 0 and "--html-max-figures must be >= 0" in r.stderr
    # without --html the flags would do nothing: refused in one line, before any work
    r = subprocess.run([sys.executable, "-m", "setol_theory.cli", "analyze", str(f),
                        "--html-figures", "none", "--quiet"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "setol analyze: error: --html-figures only applies to the page of --html FILE, which "
        "was not asked for"]
    r = subprocess.run([sys.executable, "-m", "setol_theory.cli", "analyze", "--help"],
                       capture_output=True, text=True, timeout=300)
    assert "--html-figures" in r.stdout and "(default" in r.stdout


@pytest.mark.slow
def test_thousand_layer_page_default_size(tmp_path):
    """The stated bound (docs/report.md): the default page of 1,000 random 256x128 layers is
    under 8 MB (about 93 MB with every figure as RGBA PNG)."""
    rng = np.random.default_rng(0)
    model = {f"block.{i}.weight": rng.standard_t(3.0, size=(256, 128)) / 16
             for i in range(1000)}
    res = analyze(model, traps=False, keep_evals=True)
    path = write_analysis_report(tmp_path / "r.html", res)
    assert path.stat().st_size < 8e6
    page = _parse(path.read_text())
    assert len(page.imgs) == 100 and len(page.rows) == 1000
    _imgs_decode(page)


def test_compare_html_figure_policy(tmp_path):
    """setol compare --html: beyond --html-max-figures, the overlays of the layers whose alpha
    changed most; the page names the others; --plot DIR still gets every overlay."""
    from conftest import write_safetensors

    from setol_theory.cli import main
    from setol_theory.pipeline import compare

    rng = np.random.default_rng(4)
    a = {f"l{i}": rng.standard_t(3.0, size=(120, 60)) for i in range(6)}
    b = {k: v + (0.2 + 0.3 * i) * rng.standard_t(2.0, size=v.shape)
         for i, (k, v) in enumerate(a.items())}
    pa = write_safetensors(tmp_path / "a.safetensors", a)
    pb = write_safetensors(tmp_path / "b.safetensors", b)
    html, plots = tmp_path / "c.html", tmp_path / "plots"
    assert main(["compare", str(pa), str(pb), "--no-traps", "--quiet", "--html", str(html),
                 "--html-max-figures", "2", "--plot", str(plots)]) == 0
    page = _parse(html.read_text())
    drawn = sorted(i["alt"][len("figure of "):] for i in page.imgs)
    rows = compare(pa, pb, traps=False).rows
    top = sorted(r["name"] for r in sorted(rows, key=lambda r: -abs(r["d_alpha"]))[:2])
    assert drawn == top
    _imgs_decode(page)
    text = html.read_text()
    assert "4 of 6 matched layers have no figure here" in text and "--html-figures all" in text
    assert len(list(plots.iterdir())) == 6
    assert len(page.rows) == 6 and len(json.loads(page.json_text)["layers"]) == 6
