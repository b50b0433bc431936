"""The HTML report in a real browser: headless Chromium driven by Playwright.

Needs the Python package ``playwright`` and a system Chromium (Debian's ``chromium``; the path
can be given in ``SETOL_CHROMIUM``). Playwright's own browser downloads are not used. Without
them the tests skip with the reason, unless ``SETOL_REQUIRE_BROWSER=1`` (set by ``.ci/run``),
which turns the skip into a failure so that CI cannot pass without running them.
``SETOL_SCREENSHOT_DIR`` keeps the screenshots (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from setol_theory import AnalysisOptions, QualityOptions, analyze
from setol_theory.report import write_analysis_report

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    env = os.environ.get("SETOL_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def _need_browser():
    why = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        why = "the Python package playwright is not installed (pip install playwright)"
    if why is None and _chromium() is None:
        why = "no system Chromium found (apt-get install chromium, or set SETOL_CHROMIUM)"
    if why is not None:
        if os.environ.get("SETOL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SETOL_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(),
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    rng = np.random.default_rng(7)
    model = {f"block.{i}.{kind}": rng.standard_t(df, size=(300, 120))
             for i, (kind, df) in enumerate([("heavy", 2.2), ("medium", 4.0), ("light", 30.0),
                                             ("heavier", 1.7)])}
    model["tiny"] = rng.standard_normal((4, 3))
    res = analyze(model, AnalysisOptions(traps=True), keep_evals=True,
                  quality=QualityOptions(models=("imp", "bs")))
    path = write_analysis_report(tmp_path_factory.mktemp("report") / "report.html", res,
                                 title="setol report: synthetic Student-t layers (browser test)")
    return path, res


class _Watch:
    """Console messages, page errors and every request of a page; requests other than the
    file itself and data: URLs are aborted (and recorded), so nothing reaches the network."""

    def __init__(self, page, own_url: str):
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.external: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

        def route(r):
            url = r.request.url
            if url == own_url or url.startswith("data:"):
                r.continue_()
            else:
                self.external.append(url)
                r.abort()

        page.route("**/*", route)


def _open(browser, path: Path, width: int = 1400, height: int = 1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    url = path.resolve().as_uri()
    watch = _Watch(page, url)
    page.goto(url, wait_until="load")
    return page, watch


def _column(page, name: str) -> list[str]:
    """The data-value of column ``name`` in the visible rows, in page order."""
    return page.evaluate(
        """(name) => {
            const heads = [...document.querySelectorAll('#rows thead th')].map(t => t.textContent);
            const i = heads.indexOf(name);
            return [...document.querySelectorAll('#rows tbody tr')].filter(r => !r.hidden)
                   .map(r => r.cells[i].getAttribute('data-value'));
        }""", name)


def _num(vals):
    return [float(v) if v not in ("", None) else None for v in vals]


def test_report_loads_without_errors_or_requests(browser, report, tmp_path):
    path, res = report
    page, watch = _open(browser, path)
    assert watch.errors == []
    assert [c for c in watch.console if c.startswith(("error", "warning"))] == []
    assert watch.external == []
    assert all(u == path.resolve().as_uri() or u.startswith("data:") for u in watch.requests)
    # every image decoded: one per analysed layer plus the quality figure
    imgs = page.evaluate("""() => [...document.images].map(
        i => [i.alt, i.complete && i.naturalWidth > 0])""")
    assert len(imgs) == len(res.analysed) + 1
    assert all(ok for _, ok in imgs), [a for a, ok in imgs if not ok]
    # every layer's figure loaded, found from the table link
    for m in res.analysed:
        fig_id = page.evaluate("""(k) => {
            const r = [...document.querySelectorAll('#rows tbody tr')]
                      .find(r => r.dataset.key === k);
            return r.querySelector('a').getAttribute('href').slice(1); }""", m.name)
        loaded = page.evaluate("""(id) => { const i = document.getElementById(id)
            .querySelector('img'); return i.complete && i.naturalWidth > 0; }""", fig_id)
        assert loaded, m.name
    out = Path(os.environ.get("SETOL_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / "report_top.png"))
    page.click("#rows tbody tr >> nth=0 >> a")  # jump to the first layer's figure
    page.screenshot(path=str(out / "report_figure.png"))
    assert (out / "report_top.png").stat().st_size > 10_000
    page.close()


def test_table_sorts(browser, report):
    path, res = report
    page, watch = _open(browser, path)
    page.click("#rows thead th:text-is('alpha')")
    vals = _num(_column(page, "alpha"))
    finite = [v for v in vals if v is not None]
    assert finite == sorted(finite) and len(finite) == len(res.analysed)
    assert vals[len(finite):] == [None] * (len(vals) - len(finite))  # missing values last
    page.click("#rows thead th:text-is('alpha')")
    vals = [v for v in _num(_column(page, "alpha")) if v is not None]
    assert vals == sorted(vals, reverse=True)
    assert page.get_attribute("#rows thead th:text-is('alpha')", "aria-sort") == "descending"
    page.click("#rows thead th:text-is('name')")
    names = _column(page, "name")
    assert names == sorted(names, key=str.lower)
    assert watch.errors == []
    page.close()


def test_table_filters(browser, report):
    path, res = report
    page, watch = _open(browser, path)
    page.fill("#filter", "heav")
    names = _column(page, "name")
    assert sorted(names) == sorted(m.name for m in res.layers if "heav" in m.name)
    assert page.text_content("#row-count").startswith(f"{len(names)} of {len(res.layers)}")
    page.fill("#filter", "")
    options = page.eval_on_selector_all("#verdict-filter option", "os => os.map(o => o.value)")
    assert "filtered" in options
    for v in options[1:]:
        page.select_option("#verdict-filter", v)
        verdicts = page.evaluate("""() => [...document.querySelectorAll('#rows tbody tr')]
            .filter(r => !r.hidden).map(r => r.dataset.verdict)""")
        assert verdicts and set(verdicts) == {v}
    page.select_option("#verdict-filter", "")
    assert len(_column(page, "name")) == len(res.layers)
    assert watch.errors == []
    page.close()


def test_json_block_parses_in_page(browser, report):
    path, res = report
    page, _ = _open(browser, path)
    n = page.evaluate("() => JSON.parse(document.getElementById('report-data').textContent)"
                      ".layers.length")
    assert n == len(res.layers)
    page.click("#data summary")
    assert page.is_visible("#json-text")
    page.close()


def test_request_watch_catches_an_external_reference(browser, tmp_path):
    """Negative control: a page that does reference a URL is caught (and aborted)."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
                   "</body></html>")
    page, watch = _open(browser, bad)
    assert watch.external == ["http://127.0.0.1:9/x.png"]
    page.close()


def test_report_with_figures_left_out(browser, tmp_path):
    """A many-layer page under the figure policy: the figures drawn all decode, the layers
    left out have rows without a link, and the page says which were left out and why."""
    rng = np.random.default_rng(9)
    model = {f"block.{i}.weight": rng.standard_t(2.0 + (i % 4), size=(120, 60))
             for i in range(24)}
    res = analyze(model, AnalysisOptions(traps=False), keep_evals=True)
    path = write_analysis_report(tmp_path / "many.html", res, max_figures=3)
    page, watch = _open(browser, path)
    assert watch.errors == [] and watch.external == []
    imgs = page.evaluate("""() => [...document.images].map(
        i => i.complete && i.naturalWidth > 0)""")
    assert len(imgs) == 3 and all(imgs)
    links = page.evaluate("""() => [...document.querySelectorAll('#rows tbody tr')]
        .map(r => r.querySelector('a') !== null)""")
    assert len(links) == 24 and sum(links) == 3
    assert page.is_visible("#figures-left-out")
    assert "21 of 24 analysed layers have no figure here" in page.text_content(
        "#figures-left-out")
    page.click("#figures details summary")
    listed = page.text_content("#figures details .names").split(", ")
    assert len(listed) == 21
    # the table still filters every layer (none was dropped)
    n = page.evaluate("() => JSON.parse(document.getElementById('report-data').textContent)"
                      ".layers.length")
    assert n == 24
    page.close()
