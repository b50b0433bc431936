"""Size and write time of the HTML report (``setol analyze --html``), old settings vs new.

"old" is the report as it was before palette PNGs and the figure policy: every analysed layer
drawn, matplotlib's RGBA PNG (``write_analysis_report(..., figures="all", png_colors=None)``);
"new" is the default (``figures="auto"``, 256-colour palette PNGs). Both are written in the
same run, on the same analysis, for

* the packaged all-MiniLM-L6-v2 (what ``make demo`` writes), and
* a synthetic model of ``--layers`` random 256x128 Student-t (nu = 3) matrices, analysed with
  ``traps=False``.

For each page: its bytes, and where they go (the embedded figures, the JSON data block, the
table; the rest is CSS, JavaScript, legend), the number of figures, and the write time (wall
and CPU seconds, ``time.process_time``; the machine is shared, so read the ratios). Drawing
every figure of the old 1,000-layer page takes a quarter of an hour: by default the old
synthetic page is measured on ``--old-sample`` layers and extrapolated (its non-figure bytes
measured on the whole model, plus the mean old figure times the number of layers; the line
says so); ``--old-full`` writes it whole.

    python benchmarks/bench_report_size.py [--layers 1000] [--old-sample 40] [--old-full]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from setol_theory.io import default_model_path
from setol_theory.pipeline import analyze
from setol_theory.report import plot_layer_esd, write_analysis_report
from setol_theory.report._html import png_bytes

_OLD = {"figures": "all", "png_colors": None}
_NEW: dict[str, object] = {}  # the defaults


def _parts(html: str) -> dict[str, int]:
    """Bytes of the page's parts: figures (img tags), JSON block, table section, the rest."""
    imgs = sum(len(m) for m in re.findall(r'<img [^>]*src="data:image/png;base64,[^"]*"[^>]*>',
                                          html))
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html,
                  re.S)
    js = len(m.group(1)) if m else 0
    a = html.find('<section id="layers">')
    table = html.find("</section>", a) - a if a >= 0 else 0
    total = len(html.encode("utf-8"))
    return {"total": total, "figures": imgs, "json": js, "table": table,
            "rest": total - imgs - js - table, "num_figures": html.count("<img ")}


def _write(path: Path, res, **kw) -> tuple[dict[str, int], float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    write_analysis_report(path, res, **kw)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return _parts(path.read_text(encoding="utf-8")), wall, cpu


def _mb(n: float) -> str:
    return f"{n / 1e6:8.2f} MB"


def _line(label: str, p: dict[str, int], wall: float, cpu: float) -> None:
    print(f"  {label:5s} {_mb(p['total'])}  figures {p['num_figures']:5d} ({_mb(p['figures'])})"
          f"  JSON {_mb(p['json'])}  table {_mb(p['table'])}  rest {_mb(p['rest'])}"
          f"  write {wall:6.1f} s wall, {cpu:6.1f} s CPU")


def _figure_bytes(res, k: int) -> tuple[float, float]:
    """Mean PNG bytes of the first ``k`` analysed layers' figures: RGBA (old), palette (new)."""
    old, new = [], []
    for m in res.analysed[:k]:
        old.append(len(png_bytes(plot_layer_esd(res.evals[m.name], m), colors=None)))
        new.append(len(png_bytes(plot_layer_esd(res.evals[m.name], m))))
    return float(np.mean(old)), float(np.mean(new))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=1000)
    ap.add_argument("--old-sample", type=int, default=40,
                    help="layers drawn to estimate the old synthetic page (default 40)")
    ap.add_argument("--old-full", action="store_true",
                    help="write the old synthetic page whole (slow: ~1 s per layer)")
    ap.add_argument("--out", default=None, help="keep the pages in this folder")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    out = Path(args.out or tempfile.mkdtemp(prefix="setol-report-size-"))
    out.mkdir(parents=True, exist_ok=True)

    res = analyze(default_model_path(), keep_evals=True)
    n = len(res.analysed)
    fo, fn = _figure_bytes(res, 12)
    print(f"one layer figure (MiniLM, mean of 12; PNG bytes, base64 adds 4/3): old RGBA "
          f"{fo / 1e3:.1f} kB, new palette {fn / 1e3:.1f} kB, new/old {fn / fo:.3f}")
    print(f"all-MiniLM-L6-v2: {n} analysed layers (make demo)")
    po, wo, co = _write(out / "minilm-old.html", res, **_OLD)
    _line("old", po, wo, co)
    pn, wn, cn = _write(out / "minilm-new.html", res, **_NEW)
    _line("new", pn, wn, cn)
    print(f"  new/old: size {pn['total'] / po['total']:.3f}, write time (CPU) {cn / co:.3f}")

    rng = np.random.default_rng(0)
    model = {f"block.{i}.weight": rng.standard_t(3.0, size=(256, 128)) / 16
             for i in range(args.layers)}
    t0 = time.perf_counter()
    syn = analyze(model, traps=False, keep_evals=True)
    print(f"synthetic: {args.layers} Student-t (nu = 3) layers of 256x128, traps=False "
          f"(analyze {time.perf_counter() - t0:.1f} s)")
    pn, wn, cn = _write(out / "synthetic-new.html", syn, **_NEW)
    if args.old_full:
        po, wo, co = _write(out / "synthetic-old.html", syn, **_OLD)
        _line("old", po, wo, co)
    else:
        k = min(args.old_sample, len(syn.analysed))
        pz, wz, cz = _write(out / "synthetic-nofig.html", syn, figures="none")
        w0, c0 = time.perf_counter(), time.process_time()
        ofig = [len(png_bytes(plot_layer_esd(syn.evals[m.name], m), colors=None))
                for m in syn.analysed[:k]]
        per_w = (time.perf_counter() - w0) / k
        per_c = (time.process_time() - c0) / k
        m_old = len(syn.analysed)
        tag = '<figure id="fig-0" data-key=""><img alt="figure of block.0.weight" src=""><' \
              'figcaption></figcaption></figure>'  # the markup around one figure (~ size)
        fig_b = m_old * (np.mean(ofig) * 4 / 3 + len(tag) + 80)
        po = {"total": int(pz["total"] + fig_b), "figures": int(fig_b), "json": pz["json"],
              "table": pz["table"], "rest": pz["rest"], "num_figures": m_old}
        wo, co = wz + m_old * per_w, cz + m_old * per_c
        print(f"  (old page estimated: {k} old figures drawn, mean {np.mean(ofig) / 1e3:.1f} "
              f"kB; non-figure parts measured on the whole model; --old-full writes it)")
        _line("old~", po, wo, co)
    _line("new", pn, wn, cn)
    print(f"  new/old: size {pn['total'] / po['total']:.3f}, write time (CPU) {cn / co:.3f}")
    print(f"pages in {out}")


if __name__ == "__main__":
    main()
