"""The HTML report of a ``setol simulate`` run (perceptron or matrix model).

One row per simulated point with its equilibration verdict, the reason and the advice the
sweep recorded, the run's figure(s), its settings, a warning per point that is not
equilibrated, and the whole ``summary.json`` as the page's JSON. Built on
:func:`setol_theory.report.write_html_report`; it reads the summary dict only, so it imports
nothing from the simulations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._html import Section, write_html_report

#: Verdicts of a simulated point (``verdict`` column).
EQUILIBRATED = "equilibrated"
NOT_EQUILIBRATED = "not equilibrated"
NO_VERDICT = "no verdict recorded"
EXTRAPOLATED = "1/N extrapolation"

#: Grid keys naming a point, in order.
_GRID = ("T", "load", "n_beta", "N")

#: Table columns per command (a column absent from every row is left out).
_COLUMNS: dict[str, tuple[str, ...]] = {
    "simulate perceptron": (
        "name", "verdict", "verdict_reason", "advice", "T", "load", "N", "P", "eps_g",
        "eps_g_se", "eps_rs", "eps_annealed", "z", "eps_t", "R", "R_rs", "q", "tau",
        "n_sweeps"),
    "simulate matrix": (
        "name", "verdict", "verdict_reason", "advice", "n_beta", "N", "Q2", "Q2_se",
        "Q2_standard", "error", "Q2_paper", "Q2_paper_status", "phases"),
}

#: ``column -> (definition, source)``; sources are keys of docs/references.md or docs pages.
DEFINITIONS: dict[str, tuple[str, str]] = {
    "name": ("the simulated point: its grid values", ""),
    "verdict": ("equilibration of the point: 'equilibrated' (teacher- and random-start chains "
                "agree and the measurement window covers enough autocorrelation times), 'not "
                "equilibrated', or '1/N extrapolation' for an N = inf row fitted from the "
                "finite-N rows", "docs/simulations.md"),
    "verdict_reason": ("why the point is not equilibrated, as recorded by the sweep (empty "
                       "when it is)", "docs/simulations.md"),
    "advice": ("what to change so that the point equilibrates (a larger sweep budget, ...)",
               "docs/simulations.md"),
    "T": ("temperature of the Gibbs distribution exp(-E/T)", "[EVdB2001]"),
    "load": ("load alpha = P/N (training examples per weight) requested", "[EVdB2001]"),
    "N": ("input dimension (inf: extrapolation in 1/N of the finite-N rows)", ""),
    "P": ("number of training examples", ""),
    "eps_g": ("generalisation error arccos(R)/pi, mean over chains and the measurement window",
              "[EVdB2001]"),
    "eps_g_se": ("standard error of eps_g (between independent data sets)", ""),
    "eps_rs": ("replica-symmetric Gibbs-learning eps_g at this load and T", "[EVdB2001]"),
    "eps_annealed": ("annealed-approximation eps_g at this load and T", "[EVdB2001]"),
    "z": ("(eps_g - eps_rs) / eps_g_se (eps_annealed where RS is undefined)", ""),
    "eps_t": ("training error (fraction of training examples misclassified)", ""),
    "R": ("teacher-student overlap R = w.w_T / (|w| |w_T|)", "[EVdB2001]"),
    "R_rs": ("replica-symmetric R at this load and T", "[EVdB2001]"),
    "q": ("overlap between two students of the same data set", "[EVdB2001]"),
    "tau": ("integrated autocorrelation time (sweeps), the larger of those of R and E", ""),
    "n_sweeps": ("Monte Carlo sweeps per chain run for this point", ""),
    "n_beta": ("the product n beta in the matrix model's weight exp(n beta N Tr(A_N X_N))",
               "docs/simulations.md"),
    "Q2": ("Monte Carlo layer quality squared Q^2 (inverse-variance mean over seeds)",
           "[MH2025] Sec. 5"),
    "Q2_se": ("standard error of Q2", ""),
    "Q2_standard": ("Q^2 of the large-N HCIZ prediction", "[MH2025] Sec. 5; [GM2005]"),
    "error": ("Q2 - Q2_standard (finite-N error)", ""),
    "Q2_paper": ("Q^2 from the paper's sum of G(lambda) over the ECS (missing where it is "
                 "undefined; Q2_paper_status says why)", "[MH2025] Sec. 5"),
    "Q2_paper_status": ("'ok' or why Q2_paper is undefined", ""),
    "phases": ("phase of each teacher eigenvalue (sub-/super-critical)", "[GM2005]"),
}


def _num(v: Any) -> float:
    """A number of summary.json (``"inf"`` strings and ``None`` included) as a float."""
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def point_name(row: Mapping[str, Any]) -> str:
    """``"T=0.5 alpha=2 N=100"``: the grid values of a simulated point."""
    parts = []
    for k in _GRID:
        if k in row:
            v = _num(row[k])
            label = "alpha" if k == "load" else k
            parts.append(f"{label}={'inf' if math.isinf(v) else format(v, 'g')}")
    return " ".join(parts) or "point"


def point_verdict(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(verdict, reason, advice)`` of one row of a simulate summary."""
    if math.isinf(_num(row.get("N"))):
        return EXTRAPOLATED, "linear fit in 1/N of the finite-N rows of this grid point", ""
    eq = row.get("equilibrated")
    reason = str(row.get("reason") or "")
    advice = str(row.get("advice") or "")
    if eq is True:
        return EQUILIBRATED, "", ""
    if eq is False:
        return NOT_EQUILIBRATED, reason or "no reason recorded", advice
    return NO_VERDICT, reason, advice


def simulate_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summary's rows with ``name``, ``verdict``, ``verdict_reason`` and ``advice``; an
    N = inf row notes how many of the finite-N rows it uses are not equilibrated."""
    rows = [dict(r) for r in summary.get("rows", ())]
    out = []
    for r in rows:
        verdict, reason, advice = point_verdict(r)
        if verdict == EXTRAPOLATED:
            same = [s for s in rows if not math.isinf(_num(s.get("N")))
                    and all(s.get(k) == r.get(k) for k in _GRID if k != "N" and k in r)]
            bad = [s for s in same if s.get("equilibrated") is not True]
            reason = (f"linear fit in 1/N of {len(same)} finite-N row(s)"
                      + (f"; {len(bad)} of them not equilibrated" if bad else ""))
        rec = {**r, "name": point_name(r), "verdict": verdict, "verdict_reason": reason,
               "advice": advice}
        for k in ("N",):  # summary.json writes inf as "inf"
            if isinstance(rec.get(k), str) and math.isinf(_num(rec[k])):
                rec[k] = math.inf
        out.append(rec)
    return out


def write_simulate_report(path: str | Path, summary: Mapping[str, Any], *,
                          figures: Sequence[str | Path] = ()) -> Path:
    """Write the HTML report of a ``setol simulate`` summary.

    Parameters
    ----------
    path : str or Path
        The ``.html`` file to write (its folder is created).
    summary : dict
        The run's ``summary.json`` content: ``command``, the settings and ``rows`` (one per
        simulated point, with ``equilibrated`` and, where recorded, ``reason``/``advice``).
    figures : sequence of path
        PNG files of the run (embedded; a missing file is an error).

    Returns
    -------
    Path
        The file written.
    """
    command = str(summary.get("command", "simulate"))
    rows = simulate_rows(summary)
    points = [r for r in rows if r["verdict"] != EXTRAPOLATED]
    eq = [r for r in points if r["verdict"] == EQUILIBRATED]
    warnings = [f"{r['name']}: {r['verdict']}"
                + (f": {r['verdict_reason']}" if r["verdict_reason"] else "")
                + (f"; to change: {r['advice']}" if r["advice"] else "")
                for r in points if r["verdict"] != EQUILIBRATED]
    for f in summary.get("convergence", ()) or ():
        if f.get("status", "ok") != "ok":
            warnings.append(f"n_beta={_num(f.get('n_beta')):g}: convergence rate not fitted: "
                            f"{f['status']}")
    settings = {k: v for k, v in summary.items()
                if k not in ("rows", "convergence", "transitions", "command")}
    paths = [Path(p) for p in figures]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"figure {p} not found; cannot embed it in the report")
    sections = []
    if paths:
        sections.append(Section(title="Figures", id="simulate-figures",
                                figures=[(p.read_bytes(), p.stem) for p in paths],
                                paragraphs=["docs/simulations.md explains the figure; points "
                                            "that are not equilibrated are marked in it."]))
    conv = summary.get("convergence") or ()
    if conv:
        sections.append(Section(
            title="Convergence in N", id="convergence",
            paragraphs=["|Q2_N - Q2_inf| ~ prefactor N^slope, fitted per n_beta over the "
                        "resolved sizes."],
            table_head=("n_beta", "slope", "slope_se", "prefactor", "resolved_sizes", "status"),
            table_rows=[[f.get(k) for k in ("n_beta", "slope", "slope_se", "prefactor",
                                            "resolved_sizes", "status")] for f in conv]))
    columns = _COLUMNS.get(command, tuple(DEFINITIONS))
    return write_html_report(
        path, title=f"setol {command}", rows=rows, settings=settings, warnings=warnings,
        columns=list(columns), definitions_given=DEFINITIONS, data=dict(summary),
        sections=sections, table_title="Simulated points",
        cards=[("points", len(points)), ("equilibrated", f"{len(eq)} of {len(points)}")])
