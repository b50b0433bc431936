"""The fit options of the analysis: ``--fit pl|tpl|e_tpl`` and ``--fingers`` (issue 13, item 4).

Ground truths: a planted finger that wins the plain KS scan; samples of a power law with
exponential cutoff with known (alpha, Lambda); the ``powerlaw`` package's KS distance of the
truncated power law; quadrature of the density for its CDF; the scan table for the restricted
xmin scan.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
from scipy import integrate

from setol_theory import AnalysisOptions, OptionError, analyze
from setol_theory.fit import (
    clip_fingers,
    fit_powerlaw,
    fit_tail,
    fit_truncated_powerlaw,
    truncated_powerlaw_cdf,
    truncated_powerlaw_ks,
    truncated_powerlaw_pdf,
    xmin_peak_range,
)
from setol_theory.fit._powerlaw import _scan_table
from setol_theory.htsr import esd_metrics


def _fingered(seed: int) -> np.ndarray:
    """A bulk, a Pareto tail (alpha 2.5, 100 points) and a 12-point finger far above it."""
    rng = np.random.default_rng(seed)
    bulk = rng.uniform(0.2, 1.0, 300)
    tail = (1 - rng.random(100)) ** (-1 / 1.5)
    finger = 2 * tail.max() * (1 - rng.random(12)) ** (-1 / 7.0)
    return np.concatenate([bulk, tail, finger])


def _tpl_sample(rng: np.random.Generator, n: int, alpha: float, lam: float) -> np.ndarray:
    """x^-alpha e^(-lam x) on [1, inf) by rejection from the Pareto of exponent alpha."""
    out: list[np.ndarray] = []
    got = 0
    while got < n:
        v = (1 - rng.random(4 * n)) ** (-1 / (alpha - 1))
        keep = v[rng.random(v.size) < np.exp(-lam * (v - 1))]
        out.append(keep)
        got += keep.size
    return np.concatenate(out)[:n]


# --------------------------------------------------------------------------------------
# fit layer
# --------------------------------------------------------------------------------------
def test_xmin_range_scan_is_the_best_candidate_inside_the_range():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(0.1, 1, 200), (1 - rng.random(150)) ** (-1 / 1.7)])
    lo, hi = 0.5, 1.5
    table = _scan_table(x, min_tail=10)
    inside = (table["xmin"] >= lo) & (table["xmin"] < hi)
    best = table["xmin"][inside][np.argmin(table["D"][inside])]
    f = fit_powerlaw(x, xmin_range=(lo, hi))
    assert f.xmin == best
    assert lo <= f.xmin < hi
    assert f.alpha == fit_powerlaw(x, xmin=best).alpha


def test_xmin_range_errors():
    x = np.arange(1.0, 50.0)
    with pytest.raises(ValueError, match="not both"):
        fit_powerlaw(x, xmin=2.0, xmin_range=(1, 3))
    with pytest.raises(ValueError, match="lo < hi"):
        fit_powerlaw(x, xmin_range=(3, 1))
    f = fit_powerlaw(x, xmin_range=(1e6, 2e6))
    assert f.status == "failed" and "xmin_range" in f.reason


def test_xmin_peak_range_is_the_fullest_log_bin():
    rng = np.random.default_rng(0)
    x = np.exp(rng.normal(0.0, 1.0, 5000))  # lognormal: the log histogram peaks near 1
    lo, hi = xmin_peak_range(x)
    counts, edges = np.histogram(np.log10(x), bins=100)
    k = int(np.argmax(counts))
    assert lo == pytest.approx(0.95 * 10 ** edges[k], rel=1e-12)
    assert hi == pytest.approx(1.5 * 10 ** edges[k], rel=1e-12)
    # the peak of a lognormal(0, 1) is at 1 within a few bin widths (bin width 0.069 decades)
    assert abs(edges[k]) < 0.3
    with pytest.raises(ValueError, match="at least 2"):
        xmin_peak_range([1.0])


def test_a_finger_that_wins_the_plain_scan_is_handled_by_both_modes():
    won = 0
    for seed in range(40):
        x = _fingered(seed)
        plain = fit_tail(x).powerlaw
        if plain.n_tail != 12:  # the plain scan did not pick the finger on this draw
            continue
        won += 1
        assert plain.alpha > 6  # the finger's own exponent (7 + 1 = 8)
        for mode in ("xmin_peak", "clip_xmax"):
            t = fit_tail(x, fingers=mode)
            assert t.powerlaw.n_tail > 12, (seed, mode)
            assert t.powerlaw.alpha < 4, (seed, mode)
            assert t.alpha_raw == plain.alpha
        c = fit_tail(x, fingers="clip_xmax")
        assert 1 <= c.num_fingers <= 10
        assert c.data.size == x.size - c.num_fingers
        np.testing.assert_array_equal(c.data, np.sort(x)[:x.size - c.num_fingers])
    assert won >= 3  # the planted finger does fool the plain scan on several draws


def test_clip_fingers_leaves_a_fingerless_tail_alone():
    fingers = 0
    for seed in range(40):
        x = _fingered(seed)[:400]  # bulk + tail, no finger
        fingers += fit_tail(x, fingers="clip_xmax").num_fingers > 0
    assert fingers <= 2  # measured 0 of 40


def test_clip_fingers_rule():
    x = np.sort(_fingered(4))
    calls = []

    def fit(v):
        calls.append(v.size)
        return fit_powerlaw(v)

    r = clip_fingers(x, fit, max_fingers=10)
    k = r.num_fingers
    assert k >= 1
    assert calls[0] == x.size and calls[1:] == [x.size - j for j in range(1, k + 1)]
    assert r.fit.alpha + 1.0 < r.raw.alpha
    for j in range(1, k):  # no smaller clipping lowered alpha by more than 1
        assert fit_powerlaw(x[:-j]).alpha + 1.0 >= r.raw.alpha
    with pytest.raises(ValueError, match="max_fingers"):
        clip_fingers(x, fit, max_fingers=0)


def test_truncated_cdf_equals_quadrature_of_the_density():
    for a, lam, xmax in ((2.5, 0.3, None), (0.5, 0.3, 20.0), (-1.0, 2.0, None)):
        xs = np.array([1.0, 1.001, 1.5, 3.0, 10.0, 19.0])
        F = truncated_powerlaw_cdf(xs, a, lam, 1.0, xmax)

        def pdf(t, a=a, lam=lam, xmax=xmax):
            return truncated_powerlaw_pdf(np.array([t]), a, lam, 1.0, xmax)[0]

        for v, f in zip(xs, F, strict=True):
            q, _ = integrate.quad(pdf, 1.0, v, epsabs=1e-14, epsrel=1e-12)
            assert f == pytest.approx(q, abs=1e-11)
    assert truncated_powerlaw_cdf([0.5, 25.0], 0.5, 0.3, 1.0, 20.0).tolist() == [0.0, 1.0]


def test_truncated_ks_equals_powerlaw_package_at_its_parameters():
    powerlaw = pytest.importorskip("powerlaw")
    x = _tpl_sample(np.random.default_rng(1), 400, 1.8, 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = powerlaw.Fit(x, xmin=1.0, verbose=False).truncated_power_law
        D_ref, a_ref, lam_ref = t.D, t.alpha, t.Lambda
    f = fit_truncated_powerlaw(x, xmin=1.0)
    at_ref = dataclasses.replace(f, alpha=a_ref, lam=lam_ref)
    assert truncated_powerlaw_ks(x, at_ref) == pytest.approx(D_ref, rel=1e-9, abs=1e-12)
    # and the two maximum-likelihood fits agree within powerlaw's optimiser tolerance
    assert f.alpha == pytest.approx(a_ref, abs=1e-3)


def test_tpl_fit_recovers_alpha_and_lambda():
    """Monte Carlo: the fitted (alpha, Lambda) lie within 4 standard errors of the truth."""
    for seed, (a, lam) in enumerate(((1.8, 0.05), (2.5, 0.2), (1.5, 0.01))):
        rng = np.random.default_rng(10 + seed)
        x = np.concatenate([rng.uniform(0.05, 1.0, 300), _tpl_sample(rng, 600, a, lam)])
        t = fit_tail(x, fit="tpl")
        assert t.tpl is not None and t.tpl.status == "ok"
        assert abs(t.tpl.alpha - a) < 4 * t.tpl.sigma_alpha, (a, t.tpl.alpha)
        assert abs(t.tpl.lam - lam) < 4 * t.tpl.sigma_lam, (lam, t.tpl.lam)
        assert 0 < t.tpl_D < 0.1


def test_e_tpl_is_tpl_with_xmin_peak():
    x = _fingered(5)
    e = fit_tail(x, fit="e_tpl")
    t = fit_tail(x, fit="tpl", fingers="xmin_peak")
    assert e.fingers == "xmin_peak"
    assert e.powerlaw == t.powerlaw and e.tpl == t.tpl and e.tpl_D == t.tpl_D
    with pytest.raises(ValueError, match="clip_xmax"):
        fit_tail(x, fit="e_tpl", fingers="clip_xmax")
    with pytest.raises(ValueError, match="fit must be one of"):
        fit_tail(x, fit="TPL")


# --------------------------------------------------------------------------------------
# the record, the options, the CLI
# --------------------------------------------------------------------------------------
def test_record_columns_under_each_fit():
    x = _tpl_sample(np.random.default_rng(2), 300, 1.8, 0.05) / 400.0
    evals = np.concatenate([np.random.default_rng(3).uniform(1e-4, 2e-3, 500), x])
    pl = esd_metrics(evals, 1000, evals.size)
    assert math.isnan(pl.tpl_alpha) and math.isnan(pl.tpl_lambda) and math.isnan(pl.lr_tpl)
    assert pl.num_fingers == 0 and math.isnan(pl.alpha_raw)
    tp = esd_metrics(evals, 1000, evals.size, fit_kwargs={"fit": "tpl", "min_tail": 10})
    # the power-law columns do not change with --fit
    for k in ("alpha", "xmin", "D", "num_tail", "alpha_weighted", "alpha_sigma"):
        assert getattr(tp, k) == getattr(pl, k), k
    ref = fit_truncated_powerlaw(evals[evals > 0], xmin=pl.xmin)
    assert tp.tpl_alpha == ref.alpha and tp.tpl_lambda == ref.lam
    assert tp.tpl_alpha_sigma == ref.sigma_alpha
    # the likelihood-ratio test against the truncated law comes with --fit tpl, from the
    # same fit, and equals the one --lr-tpl computes
    lr = esd_metrics(evals, 1000, evals.size, gof_kwargs={"tpl": True})
    assert pl.verdict == "power law plausible" or not math.isnan(lr.lr_tpl)
    assert not math.isnan(tp.lr_tpl)
    assert tp.lr_tpl == pytest.approx(lr.lr_tpl, rel=1e-12)
    assert tp.lr_tpl_p == pytest.approx(lr.lr_tpl_p, rel=1e-12)


def test_fingers_in_the_record_and_the_bootstraps_refit_the_same_way():
    x = _fingered(4) / 1000.0
    m = esd_metrics(x, 2000, x.size, fit_kwargs={"fingers": "clip_xmax", "min_tail": 10},
                    gof_kwargs={"alpha_ci": 30, "bootstrap": 20, "seed": 1})
    plain = esd_metrics(x, 2000, x.size)
    assert m.num_fingers >= 1 and m.alpha_raw == plain.alpha
    assert m.alpha < 4 < plain.alpha
    # the interval is of the clipped procedure: it holds the reported alpha, not the raw one
    assert m.alpha_ci_low <= m.alpha <= m.alpha_ci_high < plain.alpha
    assert 0.0 <= m.pl_bootstrap_p <= 1.0


def test_options_validate_and_reach_the_fit():
    assert AnalysisOptions().fit_kwargs == {"min_tail": 10, "xmax": None}
    o = AnalysisOptions(fit="e_tpl")
    assert o.fit_kwargs["fit"] == "e_tpl"
    with pytest.raises(OptionError, match="fit must be one of pl, tpl, e_tpl"):
        AnalysisOptions(fit="TPL")
    with pytest.raises(OptionError, match="fingers must be one of"):
        AnalysisOptions(fingers="peak")
    with pytest.raises(OptionError, match="clip_xmax"):
        AnalysisOptions(fit="e_tpl", fingers="clip_xmax")
    with pytest.raises(OptionError, match="max_fingers"):
        AnalysisOptions(max_fingers=0, fingers="clip_xmax")
    # a finger budget without the finger mode that uses it would do nothing
    with pytest.raises(OptionError, match="only applies with fingers clip_xmax"):
        AnalysisOptions(max_fingers=20)
    assert AnalysisOptions(max_fingers=20, fingers="clip_xmax").fit_kwargs["max_fingers"] == 20


def test_analyze_with_fit_options_matches_esd_metrics():
    rng = np.random.default_rng(0)
    W = rng.standard_t(3, size=(300, 150))
    res = analyze({"fc": W}, traps=False, fit="tpl", fingers="clip_xmax", keep_evals=True)
    m = res.layers[0]
    ref = esd_metrics(res.evals["fc"], 300, 150,
                      fit_kwargs=AnalysisOptions(fit="tpl", fingers="clip_xmax").fit_kwargs)
    for k in ("alpha", "xmin", "tpl_alpha", "tpl_lambda", "tpl_D", "num_fingers",
              "alpha_raw"):
        a, b = getattr(m, k), getattr(ref, k)
        assert a == b or (math.isnan(a) and math.isnan(b)), k
    assert res.settings["fit"] == "tpl" and res.settings["fingers"] == "clip_xmax"


def test_cli_fit_options(tmp_path, capsys):
    from setol_theory.cli import main

    x = _tpl_sample(np.random.default_rng(4), 300, 1.8, 0.05)
    esd = np.concatenate([np.random.default_rng(5).uniform(0.05, 1, 200), x])
    path = tmp_path / "esd.npy"
    np.save(path, esd)
    out = tmp_path / "r.json"
    main(["analyze", "--esd", str(path), "--fit", "tpl", "--fingers", "clip_xmax",
          "--json", str(out)])
    table = capsys.readouterr().out
    head = table.splitlines()[0].split()
    for col in ("tpl_a", "Lambda", "a_raw", "fing"):
        assert col in head
    row = json.loads(out.read_text())["layers"][0]
    assert row["tpl_alpha"] is not None and row["tpl_lambda"] is not None
    main(["analyze", "--esd", str(path)])
    head = capsys.readouterr().out.splitlines()[0].split()
    assert "tpl_a" not in head and "fing" not in head
    for bad, msg, expected in ((["--fit", "xx"], "invalid choice", 2),
                               (["--fit", "e_tpl", "--fingers", "clip_xmax"], "clip_xmax", 1),
                               (["--max-fingers", "0", "--fingers", "clip_xmax"],
                                "--max-fingers must be", 1),
                               (["--max-fingers", "5"], "only applies with --fingers", 1)):
        try:
            code = main(["analyze", "--esd", str(path), *bad])
        except SystemExit as exc:
            code = exc.code
        assert code == expected
        err = capsys.readouterr().err.strip().splitlines()
        assert msg in err[-1]


@pytest.mark.parametrize("c", [1.0 / 768.0, 3072.0])
def test_fit_options_are_scale_equivariant(c):
    """--normalization none vs N multiplies the ESD by N: the exponents, the finger count and
    the tail are unchanged, xmin, the xmin_peak window and 1/Lambda scale by c (floating
    rounding of the rescaled values only)."""
    for seed in (4, 5, 20):  # draws where the planted finger wins the plain scan
        x = _fingered(seed)
        for kw in ({"fit": "e_tpl"}, {"fit": "tpl", "fingers": "clip_xmax"}):
            a, b = fit_tail(x, **kw), fit_tail(c * x, **kw)
            assert a.num_fingers == b.num_fingers and a.fingers == b.fingers
            assert a.powerlaw.n_tail == b.powerlaw.n_tail
            assert b.powerlaw.alpha == pytest.approx(a.powerlaw.alpha, rel=1e-9)
            assert b.powerlaw.xmin == pytest.approx(c * a.powerlaw.xmin, rel=1e-12)
            if a.xmin_range is not None:
                assert b.xmin_range == pytest.approx(tuple(c * v for v in a.xmin_range),
                                                     rel=1e-12)
            assert (a.alpha_raw == pytest.approx(b.alpha_raw, rel=1e-9)
                    or math.isnan(a.alpha_raw) and math.isnan(b.alpha_raw))
            assert a.tpl is not None and b.tpl is not None
            assert b.tpl.alpha == pytest.approx(a.tpl.alpha, rel=1e-6, abs=1e-9)
            assert b.tpl.lam * c == pytest.approx(a.tpl.lam, rel=1e-6, abs=1e-12)
            assert b.tpl_D == pytest.approx(a.tpl_D, rel=1e-6)


def test_truncated_cdf_against_the_closed_form_at_100_digits():
    """The quadrature CDF against E_a(mu) - r^(1-a) E_a(mu r), evaluated by mpmath at 100
    digits (no cancellation left), over random exponents -20..6 (a negative exponent is a
    valid fit with a cutoff), cutoff rates and xmax: absolute error below 1e-12."""
    mp = pytest.importorskip("mpmath")
    from setol_theory.fit._truncated import _tpl_logz

    rng = np.random.default_rng(0)
    for trial in range(24):
        a, lam = rng.uniform(-20, 6), 10 ** rng.uniform(-4, 2)
        xmin = 10 ** rng.uniform(-3, 2)
        xmax = None if trial % 3 else xmin * 10 ** rng.uniform(0.2, 4)
        if lam * xmin < 1e-3 and a <= 1.05 and xmax is None:
            continue
        x = np.sort(xmin * np.exp(rng.exponential(rng.uniform(0.05, 3), 40)))
        with mp.workdps(100):
            R = mp.inf if xmax is None else mp.mpf(xmax) / xmin
            am, mu = mp.mpf(a), mp.mpf(lam) * xmin
            lz = _tpl_logz(am, mu, R)
            ref = [0.0 if v <= xmin else 1.0 if xmax is not None and v >= xmax else
                   float(mp.re(mp.exp(_tpl_logz(am, mu, mp.mpf(v) / xmin) - lz))) for v in x]
        F = truncated_powerlaw_cdf(x, a, lam, xmin, xmax)
        np.testing.assert_allclose(F, ref, rtol=0, atol=1e-12, err_msg=str((a, lam, xmin, xmax)))


def test_truncated_normaliser_survives_cancellation():
    """With xmax, small mu and a negative exponent, E_a(mu) and R^(1-a) E_a(mu R) agree in
    their first ~45 digits: the normaliser is recomputed with more digits (checked against
    scipy's quadrature of the integrand)."""
    mp = pytest.importorskip("mpmath")
    from setol_theory.fit._truncated import _tpl_logz

    a, mu, R = -12.0, 0.0014, 2.08
    with mp.workdps(30):
        z = float(mp.exp(_tpl_logz(mp.mpf(a), mp.mpf(mu), mp.mpf(R))))
    q, _ = integrate.quad(lambda t: t ** (-a) * math.exp(-mu * t), 1.0, R, epsrel=1e-13)
    assert z == pytest.approx(q, rel=1e-10)
