"""Seeded bootstrap intervals of log10 Q (``quality_interval``, ``QualityOptions.q_ci``,
``setol quality --q-ci K``): reproducibility, coverage on a closed-form population value,
ties, degenerate ESDs, the record and the CLI."""

import json
import math

import numpy as np
import pytest

from setol_theory import AnalysisOptions, QualityOptions, analyze, quality_report
from setol_theory.cli import main
from setol_theory.errors import OptionError
from setol_theory.pipeline import analyze_esd
from setol_theory.quality import MODELS, layer_quality, quality_interval, resampled_quality


def _heavy(M=200, N=400, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_t(3.0, size=(N, M))
    return np.linalg.eigvalsh(W.T @ W / N)


def _pareto(rng, s, M):
    """i.i.d. Pareto eigenvalues, P(lambda > x) = x^-s for x >= 1."""
    return (1.0 - rng.random(M)) ** (-1.0 / s)


def test_replicate_procedure_is_the_pipelines():
    """On the ESD itself, one replicate's procedure gives the pipeline's log10 Q exactly."""
    layers = {"a.weight": np.random.default_rng(1).standard_t(3.0, size=(300, 120)),
              "b.weight": np.random.default_rng(2).standard_t(2.2, size=(200, 90))}
    cases = [(QualityOptions(), AnalysisOptions(traps=False, min_tail=8)),
             (QualityOptions(ecs="xmin"), AnalysisOptions(traps=False, min_tail=8)),
             (QualityOptions(ecs="xmin"), AnalysisOptions(traps=False, fingers="clip_xmax")),
             (QualityOptions(ecs="xmin"), AnalysisOptions(traps=False, fit="e_tpl"))]
    for q, a in cases:
        res = analyze(layers, a, quality=q, keep_evals=True)
        for r in res.quality.layers:
            got = resampled_quality(res.evals[r.name], ecs=q.ecs, fit_kwargs=a.fit_kwargs)
            for m, mq in r.quality.models.items():
                want = math.nan if mq.log10_q is None else mq.log10_q
                assert got[m] == want or (math.isnan(got[m]) and math.isnan(want)), (r.name, m)


def test_failed_htsr_fit_is_not_refitted_with_other_settings():
    """min_tail above the number of eigenvalues: the HTSR fit fails, and the quality (point and
    resamples) does not refit with the default min_tail behind the user's back."""
    layers = {"a.weight": np.random.default_rng(0).standard_t(3.0, size=(120, 50))}
    res = analyze(layers, AnalysisOptions(traps=False, min_tail=60),
                  quality=QualityOptions(models=("bs", "imp")), keep_evals=True)
    assert res.layers[0].fit_status == "failed"
    lq = res.quality.layers[0].quality
    assert lq.ecs.alpha is None and lq.models["imp"].status == "n/a"
    got = resampled_quality(res.evals["a.weight"], models=("bs", "imp"),
                            fit_kwargs={"min_tail": 60})
    assert got["bs"] == lq.models["bs"].log10_q and math.isnan(got["imp"])


@pytest.mark.parametrize("fit_opts", [{"fingers": "clip_xmax"}, {"fingers": "xmin_peak"},
                                      {"fit": "e_tpl"}])
def test_quality_report_intervals_repeat_the_finger_handling(fit_opts):
    """quality_report on kept eigenvalues refits the resamples as the analysis fitted (its
    fit/fingers settings, not only min_tail/xmax): the same intervals as the streaming
    pipeline with the same seed."""
    W = np.random.default_rng(1).standard_t(3.0, size=(300, 120))
    q = QualityOptions(q_ci=6, seed=2, models=("bs", "imp"))
    res = analyze({"a.weight": W}, AnalysisOptions(traps=False, **fit_opts), quality=q,
                  keep_evals=True)
    streamed = res.quality.to_json_dict()["layers"]
    assert quality_report(res, q).to_json_dict()["layers"] == streamed


def test_seeded_reproducible_and_seed_sensitive():
    ev = _heavy()
    models = ("bs", "fc", "imp", "emp")
    a = quality_interval(ev, replicates=40, seed=7, models=models)
    b = quality_interval(ev, replicates=40, seed=7, models=models)
    c = quality_interval(ev, replicates=40, seed=8, models=models)
    assert a == b
    assert all(a[m].ok for m in models)
    assert any((a[m].low, a[m].high) != (c[m].low, c[m].high) for m in models)


def test_interval_contains_point_estimate():
    ev = _heavy(seed=3)
    models = ("bs", "fc", "lw_paper", "imp", "imp_gtable", "tpl", "emp", "emp_inv")
    point = layer_quality(ev, models=models)
    ci = quality_interval(ev, replicates=100, seed=0, models=models)
    for m in models:
        c = ci[m]
        assert c.n_ok == c.replicates == 100 and c.n_no_ecs == 0 and c.reason == ""
        assert c.low <= point.models[m].log10_q <= c.high, (m, c, point.models[m].log10_q)
        assert c.low < c.high


def _coverage(s, M, reps, replicates, ecs=1.5):
    """Share of nominal 95% intervals of log10 Q_bs covering the population value, for i.i.d.
    Pareto(s) ESDs. bs: Q = sum_ECS lambda on the sum(lambda) = M scale, so log10 Q =
    log10(M share), share = int_t lambda dF / mean = t^(1-s) with t the edge: a fixed
    lambda_min (``ecs`` a number), or for the detX rule the root of int_t ln(lambda/mean) dF =
    0, t = mean e^(-1/s), mean = s/(s-1)."""
    t = float(ecs) if ecs != "detx" else s / (s - 1.0) * math.exp(-1.0 / s)
    theta = math.log10(M) + (1.0 - s) * math.log10(t)
    rng = np.random.default_rng(12345)
    hit = 0
    for r in range(reps):
        ci = quality_interval(_pareto(rng, s, M), replicates=replicates, seed=r, models=("bs",),
                              ecs=ecs)["bs"]
        hit += ci.low <= theta <= ci.high
    return hit / reps


def _band(reps, p=0.95):
    """Binomial tolerance of a measured coverage: 3 sqrt(p(1-p)/R)."""
    return 3 * math.sqrt(p * (1 - p) / reps)


def test_coverage_of_a_closed_form_population_value():
    """Fixed ECS edge: nominal coverage within the binomial band."""
    reps = 60
    cov = _coverage(2.5, 400, reps, 200)
    assert abs(cov - 0.95) <= _band(reps), cov


@pytest.fixture(scope="module")
def mp_population():
    """A population ESD: the eigenvalues of a Gaussian 2000 x 1000 layer (MP, q = 1/2)."""
    W = np.random.default_rng(0).normal(size=(2000, 1000))
    return np.linalg.eigvalsh(W.T @ W / 2000)


def _coverage_population(pop, n, reps, replicates):
    """Coverage, under the default detX rule, of log10 Q_bs of n i.i.d. draws from ``pop``.
    The population value is the plug-in one: the ECS share of the trace, share = Q_bs(pop) /
    M_pop (Q_bs = M share on the sum(lambda) = M scale), at size n: log10(n share)."""
    theta = resampled_quality(pop, models=("bs",))["bs"] - math.log10(pop.size) + math.log10(n)
    rng = np.random.default_rng(12345)
    hit = 0
    for r in range(reps):
        x = pop[rng.integers(0, pop.size, n)]
        ci = quality_interval(x, replicates=replicates, seed=r, models=("bs",))["bs"]
        hit += ci.low <= theta <= ci.high
    return hit / reps


def test_coverage_detx_rule_light_tailed_population(mp_population):
    """Default rule (detX edge) on a light-tailed (Marchenko-Pastur) population: nominal."""
    reps = 60
    cov = _coverage_population(mp_population, 300, reps, 200)
    assert abs(cov - 0.95) <= _band(reps), cov


@pytest.mark.slow
@pytest.mark.parametrize("s", [2.5, 4.0])
def test_coverage_of_a_closed_form_population_value_large(s):
    reps = 400
    cov = _coverage(s, 400, reps, 200)
    assert abs(cov - 0.95) <= _band(reps), cov


@pytest.mark.slow
def test_coverage_detx_rule_light_tailed_population_large(mp_population):
    reps = 300
    cov = _coverage_population(mp_population, 300, reps, 200)
    assert abs(cov - 0.95) <= _band(reps), cov


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="the percentile interval under the detX rule "
                   "under-covers for heavy-tailed Pareto ESDs (measured 0.77 at s = 2.5, "
                   "M = 400; docs/quality.md, 'Error bars')")
def test_coverage_detx_rule_pareto_heavy_tail():
    reps = 200
    cov = _coverage(2.5, 400, reps, 200, ecs="detx")
    assert abs(cov - 0.95) <= _band(reps), cov


def test_ties_in_resamples():
    """Resamples repeat eigenvalues: an ESD with heavy ties (each value 4 times) goes through
    the fit, the KS scan, the TraceLog walk and every model, as its point estimate does."""
    base = _heavy(M=60, seed=5)
    ev = np.repeat(base, 4)
    point = layer_quality(ev, models=tuple(MODELS))
    assert resampled_quality(ev) == pytest.approx(
        {m: (math.nan if mq.log10_q is None else mq.log10_q) for m, mq in point.models.items()},
        nan_ok=True)
    ci = quality_interval(ev, replicates=30, seed=1)
    for m, mq in point.models.items():
        if mq.ok and m != "lw":
            assert ci[m].ok and ci[m].n_no_ecs == 0, (m, ci[m])


def test_degenerate_esd_gives_nan_and_reason():
    ci = quality_interval([1.0, 2.0, 3.0, 4.0], replicates=20, seed=0, models=("bs", "imp"))
    for c in ci.values():
        assert math.isnan(c.low) and math.isnan(c.high) and not c.ok
        assert c.n_ok == 0 and c.n_no_ecs == 20
        assert "only 0 of 20 resamples" in c.reason and "20 without an ECS" in c.reason


@pytest.mark.parametrize("kw, match", [({"replicates": 0}, "replicates"),
                                       ({"replicates": 2.5}, "replicates"),
                                       ({"level": 1.0}, "level")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        quality_interval(_heavy(M=50), **{"replicates": 5, **kw})


def test_options_validate_and_default_off():
    assert QualityOptions().q_ci == 0 and QualityOptions().seed == 0
    assert QualityOptions(q_ci=np.int64(5)).q_ci == 5
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(OptionError, match="q_ci"):
            QualityOptions(q_ci=bad)
    with pytest.raises(OptionError, match="seed"):
        QualityOptions(seed=-2)


def test_record_json_and_dataframe():
    evs = {"ht": _heavy(M=150, N=300, seed=1), "ht2": _heavy(M=120, N=240, seed=2)}
    q = QualityOptions(q_ci=30, seed=4, models=("bs", "lw", "imp"))
    res = analyze_esd(evs, AnalysisOptions(), N=None, scale="X", quality=q, keep_evals=True)
    data = res.quality.to_json_dict()
    assert data["settings"]["q_ci"] == 30 and data["settings"]["seed"] == 4
    for rec in data["layers"]:
        for d in rec["quality"].values():
            assert d["ci_replicates"] == 30
            if d["status"] == "ok":
                assert d["log10_q_ci_low"] <= d["log10_q"] <= d["log10_q_ci_high"]
                assert d["ci_n_ok"] >= 15 and d["ci_reason"] == ""
            else:  # lw: alpha > 2 here
                assert d["log10_q_ci_low"] is None and "no point estimate" in d["ci_reason"]
    # the same intervals from quality_report on kept eigenvalues, and with the same seed
    later = quality_report(res, q)
    assert later.to_json_dict()["layers"] == data["layers"]
    pd = pytest.importorskip("pandas")
    df = res.quality.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert {"quality.bs.log10_q_ci_low", "quality.bs.log10_q_ci_high",
            "quality.bs.ci_n_ok"} <= set(df.columns)
    # off by default: no interval, no replicate
    off = analyze_esd(evs, AnalysisOptions(), scale="X", quality=QualityOptions(models=("bs",)))
    d = off.quality.to_json_dict()["layers"][0]["quality"]["bs"]
    assert d["ci_replicates"] == 0 and d["log10_q_ci_low"] is None


def test_cli_q_ci_table_and_json(tmp_path, capsys):
    f = tmp_path / "esd.npy"
    np.save(f, _heavy(M=150, N=300, seed=1))
    js, html = tmp_path / "q.json", tmp_path / "q.html"
    rc = main(["quality", "--esd", str(f), "--esd-scale", "X", "--models", "bs,imp",
               "--q-ci", "25", "--seed", "3", "--json", str(js), "--html", str(html)])
    assert rc == 0
    page = html.read_text()
    assert "log10Q_imp_ci" in page and "seeded bootstrap 95% interval" in page
    out = capsys.readouterr().out
    assert "95% bootstrap interval [low, high] from 25 resamples" in out
    d = json.loads(js.read_text())
    rec = d["layers"][0]["quality"]
    for m in ("bs", "imp"):
        lo, hi = rec[m]["log10_q_ci_low"], rec[m]["log10_q_ci_high"]
        assert f"[{lo:.2f}, {hi:.2f}]" in out
        assert f"[{lo:.3g}, {hi:.3g}]" in page
    assert d["settings"]["q_ci"] == 25 and d["settings"]["seed"] == 3


@pytest.mark.parametrize("value, code, msg", [("-3", 1, "--q-ci must be an integer >= 0"),
                                              ("abc", 2, "--q-ci: invalid int value"),
                                              ("5 --curve imp", 1, "does not apply to --curve")])
def test_cli_bad_q_ci_is_one_line(value, code, msg, capsys):
    try:
        rc = main(["quality", "--q-ci", *value.split(), "--quiet"])
    except SystemExit as exc:  # argparse: usage, then one error line
        rc = exc.code
    assert rc == code
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err) and msg in err[-1]
    if code == 1:
        assert len(err) == 1
