"""Tests for ``simulations.sweep`` and ``setol simulate`` (``setol_theory.cli._simulate``).

Incremental saving and resuming, local processes and a Dask ``LocalCluster`` giving the same
records as an in-process run (seeded tasks are deterministic), clear errors before any work
for bad grids and unreachable schedulers, and the command end to end (table, summary, figure,
resume).
"""

from __future__ import annotations

import argparse
import csv
import json
import math

import numpy as np
import pytest

from setol_theory.cli._simulate import parse_grid, parse_sizes, register
from simulations import sweep as SW

TINY = dict(n_samples=2, n_sweeps=20, n_burn=5)


def _strip(rec):
    return {k: v for k, v in rec.items() if k not in ("seconds",)}


# --------------------------------------------------------------------------------------------
# tasks
# --------------------------------------------------------------------------------------------

def test_task_grid_and_keys():
    tasks = SW.perceptron_tasks([1.0, 2.0], [0.5, 1.0], [20, 40], seeds=[0, 1], **TINY)
    assert len(tasks) == 16 and len({t.key for t in tasks}) == 16
    t = SW.Task.make("perceptron", N=20, load=1.0, T=0.5, seed=0, **TINY, parallel=False)
    assert t.key == tasks[0].key  # stable, order independent
    assert json.loads(t.key.split(":", 1)[1])["N"] == 20


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(loads=[0.0]), ValueError, "alpha"),
    (dict(loads=[-1.0]), ValueError, "alpha"),
    (dict(temperatures=[-0.1]), ValueError, "temperature"),
    (dict(sizes=[1]), ValueError, "N"),
    (dict(sizes=[20.5]), TypeError, "integer"),
    (dict(loads=[0.01], sizes=[10]), ValueError, "P = round"),
    (dict(loads=[]), ValueError, "at least one"),
])
def test_task_grid_bad_input(kw, exc, msg):
    args = dict(loads=[1.0], temperatures=[1.0], sizes=[20])
    args.update(kw)
    with pytest.raises(exc, match=msg):
        SW.perceptron_tasks(**args)


# --------------------------------------------------------------------------------------------
# incremental results and resume
# --------------------------------------------------------------------------------------------

def test_interrupted_sweep_keeps_finished_and_resumes(tmp_path):
    tasks = SW.perceptron_tasks([1.0, 1.5, 2.0], [1.0], [16], **TINY)
    calls = []

    def flaky(task):
        calls.append(task.key)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run is interrupted during the third task
        return SW.run_task(task)

    with pytest.raises(KeyboardInterrupt):
        SW.run_sweep(tasks, tmp_path, workers=1, progress=False, func=flaky)
    assert len(SW.load_results(tmp_path)) == 2
    calls.clear()
    recs = SW.run_sweep(tasks, tmp_path, workers=1, progress=False, func=flaky)
    assert calls == [tasks[2].key]  # only the missing task ran
    assert [r["key"] for r in recs] == [t.key for t in tasks]
    assert len(SW.load_results(tmp_path)) == 3


def test_truncated_line_is_skipped(tmp_path):
    f = tmp_path / SW.RESULTS_FILE
    f.write_text(json.dumps({"key": "a", "x": 1}) + "\n" + '{"key": "b", "x"')
    assert [r["key"] for r in SW.load_results(tmp_path)] == ["a"]


def test_local_processes_and_dask_match_in_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    tasks = SW.perceptron_tasks([1.0, 2.0], [1.0], [16], **TINY)
    ref = [_strip(r) for r in SW.run_sweep(tasks, None, workers=1, progress=False)]
    procs = SW.run_sweep(tasks, tmp_path / "p", workers=2, progress=False)
    assert [_strip(r) for r in procs] == ref
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        viadask = SW.run_sweep(tasks, tmp_path / "d", scheduler=client, progress=False)
        assert [_strip(r) for r in viadask] == ref
        # the same cluster reached by its address
        again = SW.run_sweep(tasks, tmp_path / "a", scheduler=cluster.scheduler_address,
                             progress=False)
        assert [_strip(r) for r in again] == ref
    assert len(SW.load_results(tmp_path / "d")) == 2


def test_unreachable_scheduler_fails_before_work(tmp_path):
    tasks = SW.perceptron_tasks([1.0], [1.0], [16], **TINY)
    with pytest.raises(ValueError, match="cannot reach"):
        SW.run_sweep(tasks, tmp_path, scheduler="tcp://127.0.0.1:1", connect_timeout=0.5,
                     progress=False)
    assert SW.load_results(tmp_path) == []
    with pytest.raises(ValueError, match="invalid Dask scheduler address"):
        SW.connect_scheduler("not an address")


def test_aggregate_pools_seeds_and_extrapolates():
    def rec(N, seed, vals):
        return {"kind": "perceptron", "prior": "spherical", "output": "boolean", "T": 1.0,
                "load": 2.0, "N": N, "equilibrated": True, "tau_R": 1.0,
                "per_sample": {k: list(vals) for k in ("eps_g", "eps_t", "eps_test", "R", "q")}}

    recs = [rec(50, 0, [0.30, 0.32]), rec(50, 1, [0.31, 0.33]), rec(100, 0, [0.295, 0.305])]
    rows = SW.aggregate_perceptron(recs)
    r50 = [r for r in rows if r["N"] == 50][0]
    assert r50["n_samples"] == 4 and r50["eps_g"] == pytest.approx(0.315)
    assert r50["eps_g_se"] == pytest.approx(np.std([0.30, 0.32, 0.31, 0.33], ddof=1) / 2)
    inf = [r for r in rows if not math.isfinite(r["N"])][0]
    # two sizes: x_inf = 2 x_100 - x_50
    assert inf["eps_g"] == pytest.approx(2 * 0.3 - 0.315, abs=1e-12) and inf["dof"] == 0


def _prec(N, P, load, vals, key=None, seed=0):
    r = {"kind": "perceptron", "prior": "spherical", "output": "boolean", "T": 0.5,
         "load": P / N, "P": P, "N": N, "equilibrated": True, "tau_R": 1.0,
         "task": {"N": N, "load": load, "T": 0.5, "seed": seed},
         "per_sample": {k: list(vals) for k in ("eps_g", "eps_t", "eps_test", "R", "q")}}
    if key is not None:
        r["key"] = key
    return r


def test_aggregate_groups_by_requested_alpha():
    # alpha = 0.55: P = 11 at N = 20 (P/N = 0.55) but P = 16 at N = 30 (P/N = 0.533)
    rows = SW.aggregate_perceptron([_prec(20, 11, 0.55, [0.40, 0.42]),
                                    _prec(30, 16, 0.55, [0.41, 0.43])])
    assert [r["N"] for r in rows] == [20, 30, math.inf]
    assert all(r["load"] == 0.55 for r in rows)
    assert rows[1]["load_realised"] == pytest.approx(16 / 30) and rows[1]["P"] == 16


def test_aggregate_counts_a_repeated_record_once():
    r = _prec(20, 20, 1.0, [0.30, 0.34], key="perceptron:x")
    row = SW.aggregate_perceptron([r, dict(r), dict(r)])[0]
    assert row["n_samples"] == 2
    assert row["eps_g_se"] == pytest.approx(np.std([0.30, 0.34], ddof=1) / math.sqrt(2))


def test_task_grid_drops_duplicates_and_refuses_equal_P():
    assert len(SW.perceptron_tasks([1.0, 1.0], [0.5, 0.5], [10, 10], **TINY)) == 1
    assert len(SW.matrix_tasks([8, 8], [1.0, 1.0], lambdas=[1.0])) == 1
    with pytest.raises(ValueError, match="both give P = 10"):
        SW.perceptron_tasks([1.0, 1.04], [0.5], [10], **TINY)
    assert len(SW.perceptron_tasks([1.0, 1.04], [0.5], [50], **TINY)) == 2  # P = 50, 52


# --------------------------------------------------------------------------------------------
# setol simulate
# --------------------------------------------------------------------------------------------

def _parser():
    p = argparse.ArgumentParser(prog="setol")
    sub = p.add_subparsers(dest="command")
    register(sub)
    return p


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def test_parse_helpers():
    assert parse_grid("0.5:10:20", "alpha")[-1] == 10.0 and len(parse_grid("1:2:3", "a")) == 3
    assert parse_grid("1,2.5", "alpha") == [1.0, 2.5]
    assert parse_grid("0,1", "T", allow_zero=True) == [0.0, 1.0]
    assert parse_sizes("100,200") == [100, 200]
    assert parse_grid("1,0.5,1", "alpha") == [1.0, 0.5]  # duplicates dropped, order kept
    assert parse_sizes("10,8,10") == [10, 8]
    for bad in ("0", "-1:2:3", "1:2", "a", "1:2:0", "nan"):
        with pytest.raises(ValueError):
            parse_grid(bad, "alpha")
    for bad in ("100.5", "1e2", "1", ""):
        with pytest.raises(ValueError):
            parse_sizes(bad)


def test_simulate_perceptron_end_to_end(tmp_path, capsys):
    out = tmp_path / "perc"
    argv = ["simulate", "perceptron", "--student", "spherical", "--alpha", "1:2:2", "--T", "1",
            "--N", "16,24", "--chains", "3", "--sweeps", "60", "--out", str(out),
            "--workers", "1"]
    assert _run(argv) == 0
    text = capsys.readouterr().out
    assert "eps_RS" in text and "inf" in text
    rows = list(csv.DictReader(open(out / "table.csv")))
    assert len(rows) == 6  # 2 loads x (2 sizes + extrapolation)
    assert {r["N"] for r in rows} == {"16", "24", "inf"}
    for r in rows:  # R is extrapolated like eps_g, next to its RS value
        assert float(r["R_rs"]) > 0 and float(r["R_se"]) > 0
    summ = json.load(open(out / "summary.json"))
    assert summ["student"] == "spherical" and len(summ["rows"]) == 6
    assert (out / "perceptron.png").stat().st_size > 10_000
    n = len(SW.load_results(out))
    assert _run(argv + ["--quiet", "--no-plot"]) == 0  # resumes: nothing new to run
    assert len(SW.load_results(out)) == n == 4
    for rec in SW.load_results(out):  # each record carries its equilibration verdict
        assert rec["status"] in ("equilibrated", "not equilibrated")
        assert rec["equilibrated"] == (rec["status"] == "equilibrated")
        assert rec["equilibrated"] or (rec["reason"] and rec["advice"])
        assert rec["mover"] == "meridian" and rec["max_sweeps"] == 200_000


def test_simulate_perceptron_prints_verdict_and_reason(tmp_path, capsys):
    argv = ["simulate", "perceptron", "--alpha", "2", "--T", "0.5", "--N", "24", "--chains",
            "3", "--sweeps", "40", "--max-sweeps", "40", "--out", str(tmp_path / "v"),
            "--workers", "1", "--no-plot"]
    assert _run(argv) == 0
    text = capsys.readouterr().out
    assert "0 of 1 points equilibrated" in text
    assert "not equilibrated:" in text and "to change: raise the budget: max_sweeps >=" in text
    with pytest.raises(ValueError, match="max-sweeps"):
        _run(argv[:-7] + ["--max-sweeps", "20", "--out", str(tmp_path / "w")])


def test_simulate_ising_and_matrix_end_to_end(tmp_path):
    assert _run(["simulate", "perceptron", "--student", "ising", "--alpha", "0.5", "--T", "1",
                 "--N", "16", "--chains", "2", "--sweeps", "30", "--out", str(tmp_path / "i"),
                 "--workers", "1", "--quiet"]) == 0
    out = tmp_path / "m"
    assert _run(["simulate", "matrix", "--law", "wigner", "--lambdas", "1,0.5", "--nbeta",
                 "0.1", "--N", "16,32", "--chains", "2", "--sweeps", "200", "--out", str(out),
                 "--workers", "1", "--quiet"]) == 0
    summ = json.load(open(out / "summary.json"))
    assert len(summ["rows"]) == 2 and "slope" in summ["convergence"][0]
    assert summ["rows"][0]["Q2_paper"] == pytest.approx((1 - 0.25) / 2 + 0.0, rel=1e-12)
    assert (out / "matrix.png").exists()


def test_simulate_matrix_mp_one_size_prints_no_nan(tmp_path, capsys):
    """MP student at one size: the paper's sum G (pole of R inside the ECS) and the convergence
    rate (one size) are undefined -- each printed with its reason, never as nan."""
    out = tmp_path / "mp"
    assert _run(["simulate", "matrix", "--N", "20", "--chains", "2", "--sweeps", "200",
                 "--out", str(out), "--workers", "1", "--no-plot"]) == 0
    text = capsys.readouterr().out
    assert "nan" not in text.lower()
    assert "undefined" in text and "pole" in text and "needs at least two sizes" in text
    row = list(csv.DictReader(open(out / "table.csv")))[0]
    assert row["Q2_paper"] == "" and "pole" in row["Q2_paper_status"]


def test_simulate_matrix_says_why_a_point_is_not_equilibrated(tmp_path, capsys):
    """A budget equal to --sweeps (fixed length, too short for 50 tau): eq = n with one line per
    point naming the failed criterion and the budget to ask for; the default budget extends
    the same point until it is equilibrated."""
    base = ["simulate", "matrix", "--N", "16", "--chains", "4", "--sweeps", "20",
            "--workers", "1", "--no-plot"]
    assert _run(base + ["--max-sweeps", "20", "--out", str(tmp_path / "a")]) == 0
    text = capsys.readouterr().out
    assert "0 of 1 points equilibrated" in text
    bad = [ln for ln in text.splitlines() if "not equilibrated" in ln]
    assert len(bad) == 1 and "N=16" in bad[0] and "tau_int < 50" in bad[0]
    assert "to change: raise the budget: --max-sweeps >=" in bad[0]
    row = list(csv.DictReader(open(tmp_path / "a" / "table.csv")))[0]
    assert row["equilibrated"] == "False" and "--max-sweeps" in row["advice"]
    assert _run(base + ["--out", str(tmp_path / "b")]) == 0
    text = capsys.readouterr().out
    assert "1 of 1 points equilibrated" in text and "not equilibrated:" not in text
    row = list(csv.DictReader(open(tmp_path / "b" / "table.csv")))[0]
    assert row["equilibrated"] == "True" and int(row["n_sweeps"]) > 20


def test_simulate_matrix_annealed(tmp_path, capsys):
    png = tmp_path / "ann.png"
    assert _run(["simulate", "matrix-annealed", "--M", "1,4", "--r", "0:0.5:2", "--n-data",
                 "20000", "--plot", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 4
    for ln in lines:  # M = 1: exact = trace form = 1/2 ln(1 + 2 beta (1 - r))
        m, r, ex, _, _, z, tr, _ = (float(v) for v in ln.split())
        assert abs(z) < 4
        if m == 1:
            assert ex == pytest.approx(0.5 * math.log1p(4 * (1 - r)), abs=1e-5) and tr == ex
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize("extra,msg", [
    (["--alpha", "0"], "alpha"),
    (["--alpha=-1:2:3"], "alpha"),
    (["--T", "-0.5"], "T"),
    (["--N", "1"], "N"),
    (["--N", "100.5"], "integer"),
    (["--alpha", "0.01", "--N", "10"], "P = round"),
    (["--alpha", "1.0,1.04", "--N", "10"], "both give P"),
    (["--chains", "0"], "chains"),
    (["--output", "linear", "--T", "0"], "linear"),
    (["--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "0.5"], "cannot reach"),
])
def test_simulate_bad_input_fails_before_work(tmp_path, extra, msg):
    out = tmp_path / "o"
    argv = ["simulate", "perceptron", "--alpha", "1", "--N", "16", "--sweeps", "20",
            "--out", str(out), "--quiet", "--no-plot"] + extra
    with pytest.raises(ValueError, match=msg):
        _run(argv)
    assert not (out / SW.RESULTS_FILE).exists()


def test_setol_main_reports_simulate_errors_in_one_line(capsys):
    """Through the ``setol`` entry point once the lead has wired ``register`` in."""
    from setol_theory import cli

    parser = cli.build_parser()
    choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "simulate" not in choices.choices:
        pytest.skip("setol simulate is not wired into setol_theory.cli yet")
    rc = cli.main(["simulate", "perceptron", "--alpha", "0", "--quiet", "--no-plot"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "alpha" in err[0]


def test_theory_failure_is_one_line_error(tmp_path, capsys, monkeypatch):
    from setol_theory import statmech
    from setol_theory.cli import _simulate as cli_simulate

    def boom(*a, **k):
        raise OverflowError("math range error")

    monkeypatch.setattr(statmech, "gibbs_learning_curve", boom)
    rc = cli_simulate.main(["perceptron", "--alpha", "1", "--N", "10", "--chains", "2",
                            "--sweeps", "10", "--workers", "1", "--out", str(tmp_path / "o"),
                            "--quiet", "--no-plot"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "analytic" in err[0] and "math range" in err[0]
    assert (tmp_path / "o" / SW.RESULTS_FILE).exists()


# --------------------------------------------------------------------------------------------
# a new budget reuses the points that were equilibrated before the budget had a say
# --------------------------------------------------------------------------------------------

def _budget_tasks(kind, budget):
    if kind == "perceptron":
        return SW.perceptron_tasks([0.5, 3.0], [1.0], [16], n_samples=2, n_sweeps=20,
                                   max_sweeps=budget)
    return SW.matrix_tasks([16], [0.5, 4.0], law="mp", q=0.5, sigma2=1.0,
                           lambdas=(0.5, 1.0), n_chains=4, n_sweeps=20, max_sweeps=budget)


@pytest.mark.parametrize("kind, small, large", [("perceptron", 200, 1000),
                                                ("matrix", 1000, 4000)])
def test_raising_the_budget_reuses_equilibrated_points(tmp_path, kind, small, large):
    first = SW.run_sweep(_budget_tasks(kind, small), tmp_path, workers=1, progress=False)
    calls = []

    def counting(task):
        calls.append(task.key)
        return SW.run_task(task)

    tasks = _budget_tasks(kind, large)
    again = SW.run_sweep(tasks, tmp_path, workers=1, progress=False, func=counting)
    fresh = [SW.run_task(t) for t in tasks]  # what the new budget computes from scratch
    reused = rerun = 0
    for old, new, ref in zip(first, again, fresh, strict=True):
        if old["equilibrated"] and old["n_sweeps"] < small:
            # equilibrated before the small budget clipped anything: the large budget stops
            # at the same sweep with the same numbers, so the record is reused
            reused += 1
            assert new["key"] not in calls and new["reused_from"] == old["key"]
            assert ref["n_sweeps"] == old["n_sweeps"]
            blank = {"reused_from": None, "task": None, "key": None, "max_sweeps": None}
            assert _strip({**new, **blank}) == _strip({**ref, **blank})
        else:  # not equilibrated within the small budget: the large one runs it again
            rerun += 1
            assert new["key"] in calls and "reused_from" not in new
    assert reused >= 1 and rerun >= 1  # both branches are exercised by this grid
    # the reused records are in the file: a third run computes nothing
    calls.clear()
    SW.run_sweep(tasks, tmp_path, workers=1, progress=False, func=counting)
    assert calls == []


def test_reusable_rules():
    t = SW.Task.make("perceptron", N=16, load=1.0, T=1.0, seed=0, n_sweeps=20,
                     max_sweeps=1000)
    rec = {"kind": "perceptron", "key": "old", "equilibrated": True, "n_sweeps": 80,
           "max_sweeps": 500, "task": {**t.kwargs, "max_sweeps": 500}}
    assert SW.reusable(rec, t)
    assert not SW.reusable({**rec, "equilibrated": False}, t)
    # the old run's last extension was clipped by its budget: a larger budget would differ
    assert not SW.reusable({**rec, "n_sweeps": 500}, t)
    # the new budget is too small for the length the point needed
    small = SW.Task.make("perceptron", N=16, load=1.0, T=1.0, seed=0, n_sweeps=20,
                         max_sweeps=60)
    assert not SW.reusable(rec, small)
    # another point (seed) or a target_se run is never reused
    other = SW.Task.make("perceptron", N=16, load=1.0, T=1.0, seed=1, n_sweeps=20,
                         max_sweeps=1000)
    assert not SW.reusable(rec, other)
    se = {**rec, "task": {**rec["task"], "target_se": 0.01}}
    t_se = SW.Task.make("perceptron", **{**t.kwargs, "target_se": 0.01})
    assert not SW.reusable(se, t_se)
