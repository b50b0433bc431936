"""Eigenvalues as input (io/_esd.py, pipeline/_esd.py, setol analyze|quality --esd)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from setol_theory import AnalysisOptions, QualityOptions, analyze
from setol_theory.io import read_esd
from setol_theory.pipeline import analyze_esd


def _layer(seed=0, N=900, M=300):
    return np.random.default_rng(seed).standard_t(2.5, size=(N, M))


def _wtw(W):
    return np.linalg.eigvalsh(W.T @ W)


def test_read_esd_formats_round_trip(tmp_path):
    ev = np.sort(np.random.default_rng(1).gamma(2.0, size=50))
    np.save(tmp_path / "a.npy", ev)
    text = "\n".join(repr(float(v)) for v in ev)
    (tmp_path / "b.txt").write_text("# eigenvalues\nlambda\n" + text)
    (tmp_path / "c.csv").write_text("\n".join(f"{float(v)!r}," for v in ev))
    (tmp_path / "d.json").write_text(json.dumps(ev.tolist()))
    (tmp_path / "e.json").write_text(json.dumps({"fc1": ev.tolist(), "fc2": ev[:20].tolist()}))
    np.savez(tmp_path / "f.npz", fc1=ev, fc2=ev[:20])
    for name in ("a.npy", "b.txt", "c.csv", "d.json"):
        got = read_esd(tmp_path / name)
        assert list(got) == [name.split(".")[0]]
        np.testing.assert_array_equal(next(iter(got.values())), ev)
    for name in ("e.json", "f.npz"):
        got = read_esd(tmp_path / name)
        assert list(got) == ["fc1", "fc2"] and got["fc2"].size == 20


@pytest.mark.parametrize("content,match", [
    (np.ones((3, 3)), "one-dimensional"), (np.array([1.0, -1.0, 2.0]), "negative"),
    (np.array([1.0, np.nan]), "NaN"), (np.array([1.0]), "at least 2"),
    (np.zeros(5), "all eigenvalues are zero")])
def test_read_esd_refuses_what_is_not_an_esd(tmp_path, content, match):
    np.save(tmp_path / "x.npy", content)
    with pytest.raises(ValueError, match=match):
        read_esd(tmp_path / "x.npy")


def test_read_esd_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_esd(tmp_path / "missing.npy")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(ValueError, match="unknown ESD file type"):
        read_esd(tmp_path / "x.parquet")
    (tmp_path / "two.csv").write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match="two.csv: line 1 has 2 columns"):
        read_esd(tmp_path / "two.csv")
    # rounding negatives (-M eps lambda_max) are zeros, not an error
    ev = np.array([-1e-18, 0.5, 2.0])
    assert read_esd_array(tmp_path, ev)[0] == 0.0


def read_esd_array(tmp_path, ev):
    np.save(tmp_path / "r.npy", ev)
    return read_esd(tmp_path / "r.npy")["r"]


def test_esd_records_equal_the_weight_records():
    """The pipeline's own X-scale eigenvalues given back as an ESD: every metric the same
    (bitwise), except what needs W (traps) and the bookkeeping columns."""
    W = _layer()
    ref = analyze({"w": W}, traps=False, keep_evals=True)
    got = analyze_esd({"w": ref.evals["w"]}, N=900, scale="X")
    a, b = ref.layers[0].to_dict(), got.layers[0].to_dict()
    skip = {"kind", "eig_device", "eig_fallback"}
    for k in a:
        if k in skip:
            continue
        same = (a[k] == b[k]) or (isinstance(a[k], float) and math.isnan(a[k])
                                  and math.isnan(b[k]))
        assert same, (k, a[k], b[k])
    # the WtW route (eigenvalues of W^T W, as WeightWatcher's get_ESD): equal to rounding
    wt = analyze_esd({"w": _wtw(W)}, N=900).layers[0]
    for k in ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "xmin",
              "mp_sigma2", "detx_lambda_min", "lr_lognormal"):
        assert getattr(wt, k) == pytest.approx(a[k], rel=1e-9), k
    assert wt.verdict == a["verdict"] and wt.mp_status == a["mp_status"]


@pytest.mark.parametrize("N", [900, None])
def test_setol_quality_of_an_esd_equals_that_of_its_weight_matrix(N):
    """Quality depends on the eigenvalues only (ECS on the sum(lambda) = M scale), so an ESD
    of W^T W, with or without N, gives the weight matrix's log10 Q for every model."""
    W = _layer(seed=3)
    q = QualityOptions()
    ref = analyze({"w": W}, AnalysisOptions(traps=False), quality=q).quality.layers[0]
    got = analyze_esd({"w": _wtw(W)}, N=N, quality=q).quality.layers[0]
    assert ref.status == got.status == "ok"
    for name, mq in ref.quality.models.items():
        other = got.quality.models[name]
        assert other.status == mq.status, name
        if mq.status == "ok":
            assert other.log10_q == pytest.approx(mq.log10_q, rel=1e-9, abs=1e-12), name


def test_without_n_what_needs_it_is_unavailable_with_the_reason():
    W = _layer(seed=4)
    m = analyze_esd(_wtw(W)).layers[0]  # WtW scale, no N: analysed on its own scale
    assert m.normalization == "none" and m.N == 0 and math.isnan(m.Q)
    assert m.mp_status == "unavailable" and "N not given" in m.mp_reason
    assert math.isnan(m.num_spikes) and math.isfinite(m.alpha_weighted)
    ref = analyze({"w": W}, traps=False).layers[0]
    assert m.alpha_weighted == pytest.approx(ref.alpha_weighted, rel=1e-9)
    x = analyze_esd(_wtw(W) / 900, scale="X").layers[0]  # X scale without N
    assert math.isnan(x.alpha_weighted) and math.isnan(x.log_norm) and math.isfinite(x.alpha)
    with pytest.raises(ValueError, match="smaller than"):
        analyze_esd(_wtw(W), N=100)


def test_cli_analyze_and_quality_take_esd(tmp_path):
    from setol_theory.cli import main

    W = _layer(seed=5)
    np.savez(tmp_path / "esds.npz", fc1=_wtw(W), fc2=_wtw(W[:, :150]))
    out = tmp_path / "a.json"
    assert main(["analyze", "--esd", str(tmp_path / "esds.npz"), "--esd-n", "900",
                 "--quiet", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["layers"]
    assert [r["name"] for r in rows] == ["fc1", "fc2"] and rows[0]["N"] == 900
    qout = tmp_path / "q.json"
    assert main(["quality", "--esd", str(tmp_path / "esds.npz"), "--quiet", "--json",
                 str(qout)]) == 0
    assert len(json.loads(qout.read_text())["layers"]) == 2
    assert main(["analyze", str(tmp_path / "esds.npz"), "--esd", str(tmp_path / "esds.npz"),
                 "--quiet"]) == 1


def test_analyze_table_prints_an_unknown_N_as_a_dash():
    """An ESD given without N stores N = 0 ("not known", see setol_theory.columns); the table
    prints "-" there, while a known N is printed as it is."""
    from setol_theory.cli._common import format_table

    rows = [{"name": "esd", "status": "ok", "N": 0, "M": 500, "alpha": 3.4},
            {"name": "w", "status": "ok", "N": 784, "M": 300, "alpha": 2.1}]
    lines = format_table(rows, width=None).splitlines()
    n_start = lines[0].index("     N")
    n_cell = [line[n_start:n_start + 6].strip() for line in lines[2:]]
    assert n_cell == ["-", "784"]
