"""The self-contained HTML report, read with the standard-library HTML parser (no browser).

Checks what a reader relies on: every layer has a row and (when analysed) an embedded figure,
no element points outside the file, the JSON block holds every number of the table, each
column has a definition in the legend, and the page forbids network requests.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from setol_theory import AnalysisOptions, QualityOptions, analyze
from setol_theory.report import layer_verdict, render_html_report, write_analysis_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_URL_ATTRS = ("src", "href", "action", "data", "poster", "srcset", "formaction")


class _Page(HTMLParser):
    """Collects rows, images, links and scripts of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.imgs: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.heads: list[str] = []
        self.legend: list[str] = []
        self.ids: set[str] = set()
        self.csp = ""
        self.json_text = ""
        self._in_json = False
        self._in_legend_code = False
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for k in _URL_ATTRS:
            if a.get(k):
                self.urls.append(a[k])
        if a.get("style") and "url(" in a["style"]:
            self.urls.append(a["style"])
        if tag == "tr" and "data-key" in a:
            self.rows.append(a)
        if tag == "img":
            self.imgs.append(a)
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = a.get("content", "")
        if tag == "script" and a.get("id") == "report-data":
            self._in_json = True
        if tag == "th" and "data-col" in a:
            self._in_th = True
        if tag == "code":
            self._in_legend_code = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_json = False
        if tag == "th":
            self._in_th = False
        if tag == "code":
            self._in_legend_code = False

    def handle_data(self, data):
        if self._in_json:
            self.json_text += data
        if self._in_th:
            self.heads.append(data.strip())
        if self._in_legend_code:
            self.legend.append(data.strip())


def _parse(html: str) -> _Page:
    p = _Page()
    p.feed(html)
    p.close()
    return p


def _external(url: str) -> bool:
    """True for anything a browser would fetch from outside the file."""
    u = url.strip().lower()
    return not (u.startswith("#") or u.startswith("data:"))


@pytest.fixture(scope="module")
def small_model():
    """Four small layers: two heavy-tailed, one Gaussian, one too small (filtered)."""
    rng = np.random.default_rng(3)
    heavy = rng.standard_t(2.5, size=(300, 120))
    heavier = rng.standard_t(1.8, size=(240, 100))
    gauss = rng.standard_normal((200, 80))
    return {"block.0.heavy": heavy, "block.1.heavier": heavier, "block.2.gauss": gauss,
            "tiny": rng.standard_normal((5, 3))}


@pytest.fixture(scope="module")
def analysed(small_model):
    return analyze(small_model, AnalysisOptions(traps=True), keep_evals=True)


def _check_page(html: str, analysis) -> _Page:
    page = _parse(html)
    names = [m.name for m in analysis.layers]
    assert [r["data-key"] for r in page.rows] == names
    # every analysed layer has a figure, embedded as a decodable PNG
    figs = [i for i in page.imgs if i["alt"].startswith("figure of ")]
    assert sorted(i["alt"][len("figure of "):] for i in figs) == sorted(
        m.name for m in analysis.analysed)
    for img in page.imgs:
        assert img["src"].startswith("data:image/png;base64,")
        raw = base64.b64decode(img["src"].split(",", 1)[1], validate=True)
        assert raw.startswith(PNG_MAGIC)
    # nothing leaves the file; the policy forbids it anyway
    assert [u for u in page.urls if _external(u)] == []
    assert not re.search(r"https?://", html.split('id="report-data"')[0])
    assert "default-src 'none'" in page.csp
    # links inside the page point at existing anchors
    for u in page.urls:
        if u.startswith("#"):
            assert u[1:] in page.ids, u
    # JSON: every layer, with the numbers of the table
    data = json.loads(page.json_text)
    by_name = {r["name"]: r for r in data["layers"]}
    assert list(by_name) == names
    for m in analysis.analysed:
        assert by_name[m.name]["alpha"] == pytest.approx(m.alpha, rel=1e-12)
        assert by_name[m.name]["verdict"] == layer_verdict(m.to_dict())[0]
    # each column heading has a legend entry with a definition
    assert page.heads and set(page.heads) <= set(page.legend)
    assert "(no definition recorded" not in html
    return page


def test_analysis_report_parses(analysed, tmp_path):
    path = write_analysis_report(tmp_path / "r.html", analysed)
    html = path.read_text()
    page = _check_page(html, analysed)
    assert "tiny" in [r["data-key"] for r in page.rows]
    # verdict filter offered for each verdict present
    verdicts = {r["data-verdict"] for r in page.rows}
    assert "filtered" in verdicts
    for v in verdicts:
        assert f'<option value="{v}">' in html


def test_analysis_report_shows_the_fit_option_columns(small_model, tmp_path):
    """--fit tpl / --fingers add their columns (with definitions) to the report's table."""
    base = analyze(small_model, AnalysisOptions(traps=False), keep_evals=True)
    plain = write_analysis_report(tmp_path / "p.html", base).read_text()
    res = analyze(small_model, AnalysisOptions(traps=False, fit="tpl", fingers="clip_xmax"),
                  keep_evals=True)
    html = write_analysis_report(tmp_path / "t.html", res).read_text()
    page = _check_page(html, res)
    for col in ("tpl_alpha", "tpl_lambda", "tpl_D", "alpha_raw", "num_fingers"):
        assert col in page.heads
        assert col not in _check_page(plain, base).heads


def test_quality_report_has_quality_section(small_model, tmp_path):
    res = analyze(small_model, AnalysisOptions(traps=False), keep_evals=True,
                  quality=QualityOptions(models=("imp", "bs")))
    html = write_analysis_report(tmp_path / "q.html", res).read_text()
    page = _check_page(html, res)
    assert "quality" in page.ids
    assert {"log10Q_imp", "log10Q_bs", "num_ecs"} <= set(page.heads)
    data = json.loads(page.json_text)
    assert "quality" in data and "quality_curve" in data
    # the quality figure is there too (one image more than the layers)
    assert len(page.imgs) == len(res.analysed) + 1


def test_verdicts_follow_alpha_thresholds():
    assert layer_verdict({"status": "skipped", "reason": "all zeros"}) == ("skipped",
                                                                             "all zeros")
    assert layer_verdict({"status": "ok", "fit_status": "failed", "fit_reason": "x"})[0] == \
        "no-fit"
    assert layer_verdict({"status": "ok", "fit_status": "ok", "alpha": 6.5})[0] == \
        "under-trained"
    assert layer_verdict({"status": "ok", "fit_status": "ok", "alpha": 1.9})[0] == \
        "over-trained"
    assert layer_verdict({"status": "ok", "fit_status": "ok", "alpha": 4.0})[0] == "ok"
    # the library's own verdict wins
    assert layer_verdict({"verdict": "watch", "verdict_reason": "r", "alpha": 4.0}) == \
        ("watch", "r")


def test_generic_report_escapes_and_embeds(tmp_path):
    rows = [{"name": "<script>alert(1)</script>", "x": 1.5, "verdict": "ok"},
            {"name": "b", "x": float("nan"), "verdict": "bad"}]
    html = render_html_report(title="t </script>", rows=rows, data={"s": "</script><b>"},
                              definitions_given={"x": "a number"})
    assert "<script>alert(1)" not in html
    page = _parse(html)
    assert json.loads(page.json_text) == {"s": "</script><b>"}
    assert [r["data-key"] for r in page.rows] == [rows[0]["name"], "b"]
    assert "a number" in html


def test_cli_analyze_html(tmp_path, small_model):
    from conftest import write_safetensors

    f = write_safetensors(tmp_path / "m.safetensors",
                          {k: v.astype(np.float32) for k, v in small_model.items()})
    out = tmp_path / "sub" / "report.html"
    out.parent.mkdir()  # an output into a missing directory is refused (tests/test_cli_polish.py)
    r = subprocess.run([sys.executable, "-m", "setol_theory.cli", "analyze", str(f), "--html",
                        str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"report: {out}" in r.stderr
    page = _parse(out.read_text())
    assert len(page.rows) == 4
    # the visible page names the model without the machine path (the JSON keeps the source)
    assert str(tmp_path) not in out.read_text().split('id="report-data"')[0]


def test_cli_quality_html_refuses_curve(tmp_path):
    r = subprocess.run([sys.executable, "-m", "setol_theory.cli", "quality", "--curve", "imp",
                        "--html", str(tmp_path / "x.html"), "--quiet"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode != 0
    assert "--html" in r.stderr
    assert not Path(tmp_path / "x.html").exists()


@pytest.mark.parametrize("model, args", [
    ("perceptron", ["--alpha", "1,2", "--N", "20,30", "--sweeps", "40", "--max-sweeps", "80"]),
    ("matrix", ["--N", "8,12", "--nbeta", "0.08", "--lambdas", "2,1", "--sweeps", "40"]),
])
def test_cli_simulate_html(tmp_path, model, args):
    """``setol simulate ... --html``: one row per point with its equilibration verdict, the
    figure embedded, a warning per point that is not equilibrated, the summary as JSON."""
    import html as _html

    from setol_theory.report._simulate_html import point_name

    out, report = tmp_path / "run", tmp_path / "sim.html"
    r = subprocess.run([sys.executable, "-m", "setol_theory.cli", "simulate", model, *args,
                        "--chains", "2", "--workers", "1", "--quiet", "--out", str(out),
                        "--html", str(report)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"report: {report}" in r.stderr
    text = report.read_text()
    page = _parse(text)
    summary = json.loads((out / "summary.json").read_text())
    # every point of the summary has a row, in order, with its verdict
    assert [row["data-key"] for row in page.rows] == [point_name(s) for s in summary["rows"]]
    for row, s in zip(page.rows, summary["rows"], strict=True):
        if s["N"] == "inf":
            assert row["data-verdict"] == "1/N extrapolation"
        else:
            assert row["data-verdict"] == ("equilibrated" if s["equilibrated"]
                                           else "not equilibrated")
    # a warning per point that is not equilibrated, with its reason and advice
    plain = _html.unescape(text)
    bad = [s for s in summary["rows"] if s["N"] != "inf" and not s["equilibrated"]]
    for s in bad:
        line = f"{point_name(s)}: not equilibrated: {s.get('reason') or 'no reason recorded'}"
        assert line in plain
        if s.get("advice"):
            assert f"to change: {s['advice']}" in plain
    n_points = sum(1 for s in summary["rows"] if s["N"] != "inf")
    assert f"{n_points - len(bad)} of {n_points}" in plain
    # the run's figure, embedded as a decodable PNG; nothing points outside the file
    assert len(page.imgs) == 1
    src = page.imgs[0]["src"]
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1], validate=True) == \
        (out / f"{model}.png").read_bytes()
    assert [u for u in page.urls if _external(u)] == []
    assert "default-src 'none'" in page.csp
    for u in page.urls:
        if u.startswith("#"):
            assert u[1:] in page.ids, u
    # the JSON is the summary; each column heading has a definition
    assert json.loads(page.json_text) == summary
    assert page.heads and set(page.heads) <= set(page.legend)
    assert "(no definition recorded" not in text


def test_simulate_report_verdicts(tmp_path):
    """Equilibrated points get no warning; a point without a recorded verdict says so; a
    missing figure is an error, not a report without it."""
    from setol_theory.report import write_simulate_report

    rows = [{"T": 0.5, "load": 1.0, "N": 50, "equilibrated": True, "eps_g": 0.3},
            {"T": 0.5, "load": 2.0, "N": 50, "equilibrated": False, "eps_g": 0.2,
             "reason": "window too short", "advice": "raise the budget"},
            {"T": 0.5, "load": 2.0, "N": 70, "eps_g": 0.2},
            {"T": 0.5, "load": 2.0, "N": "inf", "eps_g": 0.19}]
    summary = {"command": "simulate perceptron", "chains": 2, "rows": rows}
    text = write_simulate_report(tmp_path / "s.html", summary).read_text()
    page = _parse(text)
    assert [r["data-verdict"] for r in page.rows] == [
        "equilibrated", "not equilibrated", "no verdict recorded", "1/N extrapolation"]
    import html as _html

    plain = _html.unescape(text)
    assert "T=0.5 alpha=2 N=50: not equilibrated: window too short; to change: raise the " \
        "budget" in plain
    assert "T=0.5 alpha=1 N=50:" not in plain
    assert "1 of 3" in plain
    assert "linear fit in 1/N of 2 finite-N row(s); 2 of them not equilibrated" in plain
    assert page.imgs == []
    with pytest.raises(FileNotFoundError, match="missing.png"):
        write_simulate_report(tmp_path / "t.html", summary, figures=[tmp_path / "missing.png"])
