"""setol_theory.distributed: checkpoint discovery, analyze-many serial / on a LocalCluster /
resumed /
with a worker killed mid-run (all the same table), analyze --scheduler, and the CLI."""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from conftest import write_safetensors

from setol_theory.cli import main
from setol_theory.distributed import (
    ManyAnalysis,
    analyze_many,
    analyze_on_cluster,
    find_checkpoints,
    read_table,
)
from setol_theory.pipeline import analyze

pytest.importorskip("distributed")


def _model(rng, big=False):
    n = 900 if big else 300
    return {
        "fc1.weight": rng.standard_t(3, size=(n, 120)).astype(np.float32),
        "fc1.bias": np.zeros(n, np.float32),
        "fc2.weight": rng.normal(size=(120, 200)).astype(np.float32),
        "tiny.weight": rng.normal(size=(40, 3)).astype(np.float32),  # filtered (M = 3)
        "dead.weight": np.zeros((50, 20), np.float32),  # skipped: all zeros
    }


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Two runs of three epochs each (a training history)."""
    root = tmp_path_factory.mktemp("history")
    rng = np.random.default_rng(0)
    for run in ("runA", "runB"):
        (root / run).mkdir()
        for ep in (1, 2, 10):
            write_safetensors(root / run / f"epoch_{ep}.safetensors", _model(rng))
    return root


@pytest.fixture(scope="module")
def serial(history):
    return analyze_many(history, scheduler="serial", min_evals=10)


@pytest.fixture(scope="module")
def client():
    """A LocalCluster with 2 single-threaded worker processes, shared by the tests."""
    import logging

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as c:
        yield c


# ---------------------------------------------------------------------------- checkpoints
def test_find_checkpoints_dir_glob_file_and_shards(history, tmp_path):
    ck = find_checkpoints(history)
    assert [(c.model, c.checkpoint) for c in ck] == [
        (r, f"epoch_{e}.safetensors") for r in ("runA", "runB") for e in (1, 2, 10)]
    g = find_checkpoints(str(history / "run*" / "epoch_1*.safetensors"))
    assert [(c.model, c.checkpoint) for c in g] == [
        ("runA", "epoch_1.safetensors"), ("runA", "epoch_10.safetensors"),
        ("runB", "epoch_1.safetensors"), ("runB", "epoch_10.safetensors")]
    one = find_checkpoints(history / "runA" / "epoch_2.safetensors")
    assert [(c.model, c.checkpoint) for c in one] == [("runA", "epoch_2.safetensors")]
    sharded = tmp_path / "zoo" / "bert" / "ckpt-5"
    sharded.mkdir(parents=True)
    (sharded / "model.safetensors.index.json").write_text("{}")
    (sharded / "model-00001-of-00002.safetensors").write_bytes(b"")
    (tmp_path / "zoo" / "notes.txt").write_text("not weights")
    z = find_checkpoints(tmp_path / "zoo")
    assert [(c.model, c.checkpoint) for c in z] == [("bert", "ckpt-5")]
    with pytest.raises(FileNotFoundError, match="no such file"):
        find_checkpoints(tmp_path / "nope*")
    with pytest.raises(FileNotFoundError, match="no weights"):
        find_checkpoints(tmp_path / "zoo" / "notes.txt")


# ---------------------------------------------------------------------------- serial
def test_serial_table_equals_analyze_of_each_checkpoint(history, serial):
    assert len(serial.records) == 6 * 4 and not serial.failed
    assert list(serial.records[0])[:3] == ["model", "checkpoint", "layer"]
    for ck in serial.checkpoints:
        ref = analyze(ck.path, min_evals=10, on_error="record").to_json_dict()["layers"]
        rows = [r for r in serial.records
                if (r["model"], r["checkpoint"]) == (ck.model, ck.checkpoint)]
        assert [r["layer_index"] for r in rows] == list(range(4))
        assert [{"name": r["layer"], **{k: v for k, v in r.items() if k not in
                                       ("model", "checkpoint", "layer", "layer_index",
                                        "file_id")}}
                for r in rows] == ref
    status = {r["layer"]: r["status"] for r in serial.records}
    assert status == {"fc1.weight": "ok", "fc2.weight": "ok", "tiny.weight": "filtered",
                      "dead.weight": "skipped"}


def test_resume_after_a_killed_run(history, serial, tmp_path):
    out = tmp_path / "t.jsonl"
    full = analyze_many(history, scheduler="serial", min_evals=10, out=out)
    assert full.records == serial.records and full.computed == 24 and full.resumed == 0
    lines = out.read_bytes().splitlines(keepends=True)
    # a run killed after 9 rows, in the middle of writing the 10th
    out.write_bytes(b"".join(lines[:10]) + lines[10][:25])
    again = analyze_many(history, scheduler="serial", min_evals=10, out=out)
    assert again.records == serial.records
    assert (again.resumed, again.computed) == (9, 15)
    settings, rows = read_table(out)
    keys = [(r["model"], r["checkpoint"], r["layer"]) for r in rows]
    assert len(keys) == len(set(keys)) == 24
    assert settings["min_evals"] == 10
    with pytest.raises(ValueError, match="other settings"):
        analyze_many(history, scheduler="serial", min_evals=10, seed=1, out=out)
    fresh = analyze_many(history, scheduler="serial", min_evals=10, seed=1, out=out,
                         resume=False)
    assert fresh.computed == 24 and read_table(out)[0]["seed"] == 1
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(ValueError, match="not a results file"):
        analyze_many(history, scheduler="serial", out=tmp_path / "x.jsonl")


def test_csv_export(serial, tmp_path):
    serial.to_csv(tmp_path / "t.csv")
    import csv

    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(rows) == 24 and list(rows[0])[:5] == ["model", "checkpoint", "layer",
                                                     "layer_index", "kind"]
    assert list(rows[0]) == ManyAnalysis.columns()


# ---------------------------------------------------------------------------- Dask
def test_local_cluster_equals_serial(history, serial, client, tmp_path):
    out = tmp_path / "d.jsonl"
    dist = analyze_many(history, scheduler=client, min_evals=10, out=out)
    assert dist.records == serial.records and not dist.failed
    assert read_table(out)[1] == serial.records
    one = history / "runB" / "epoch_2.safetensors"
    a = analyze(one, min_evals=10, on_error="record", keep_evals=True)
    b = analyze_on_cluster(one, client, min_evals=10, on_error="record", keep_evals=True)
    assert b.to_json_dict()["layers"] == a.to_json_dict()["layers"]
    assert set(b.evals) == set(a.evals)
    for k in a.evals:
        np.testing.assert_array_equal(a.evals[k], b.evals[k])


def test_killed_worker_layers_are_retried_none_lost_or_duplicated(client, tmp_path):
    """SIGKILL a worker while it runs layer tasks: the scheduler re-runs them on the other
    worker (the nanny restarts the dead one); every layer is in the table once, equal to
    the serial result."""
    root = tmp_path / "h"
    root.mkdir()
    rng = np.random.default_rng(1)
    for ep in range(4):
        write_safetensors(root / f"epoch_{ep}.safetensors",
                          {f"l{i}.weight": rng.standard_t(3, size=(900, 300)).astype(np.float32)
                           for i in range(4)})
    ref = analyze_many(root, scheduler="serial", min_evals=10)
    pids = client.run(os.getpid)
    out = tmp_path / "k.jsonl"
    box = {}
    th = threading.Thread(target=lambda: box.update(
        res=analyze_many(root, scheduler=client, min_evals=10, out=out)))
    th.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and th.is_alive() and time.monotonic() < deadline:
        busy = {w: ks for w, ks in client.processing().items()
                if any(str(k).startswith("setol-layer-") for k in ks)}
        if busy:
            killed = next(iter(busy))
            in_flight = busy[killed]
            os.kill(pids[killed], signal.SIGKILL)
        else:
            time.sleep(0.01)
    th.join(timeout=120)
    assert killed is not None and in_flight, "no layer task was caught in flight"
    res = box["res"]
    assert not res.failed
    assert res.records == ref.records
    lines = out.read_text().splitlines()[1:]
    keys = [tuple(json.loads(ln)[k] for k in ("model", "checkpoint", "layer")) for ln in lines]
    assert len(keys) == len(set(keys)) == 16
    client.wait_for_workers(2, timeout=60)  # the nanny brought the worker back


# ---------------------------------------------------------------------------- CLI
def test_cli_analyze_many_serial_and_resume(history, serial, tmp_path, capsys):
    out, csv_path = tmp_path / "m.jsonl", tmp_path / "m.csv"
    args = ["analyze-many", str(history), "--out", str(out), "--scheduler", "serial"]
    assert main(args + ["--csv", str(csv_path)]) == 0
    text = capsys.readouterr().out
    assert "runA" in text and "epoch_10.safetensors" in text and "24 layers" in text
    assert read_table(out)[1] == serial.records and csv_path.exists()
    assert main(args + ["--quiet"]) == 0  # everything resumed
    assert main(args + ["--quiet", "--seed", "4"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err) and "other settings" in err[-1]
    assert main(["analyze-many", str(tmp_path / "none*"), "--out", str(out), "--quiet"]) == 1
    assert main(args[:2] + ["--out", str(out), "--workers", "0"]) == 1


def test_cli_analyze_scheduler_serial_equals_plain(history, tmp_path):
    f = history / "runA" / "epoch_1.safetensors"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["analyze", str(f), "--quiet", "--keep-going", "--json", str(a)]) == 0
    assert main(["analyze", str(f), "--quiet", "--keep-going", "--json", str(b),
                 "--scheduler", "serial"]) == 0
    assert json.loads(a.read_text())["layers"] == json.loads(b.read_text())["layers"]
    assert main(["analyze", str(f), "--quiet", "--scheduler", "serial"]) == 1  # dead.weight


# ---------------------------------------------------------------------------- review fixes
def _two_layers(path, seed, n=2, shape=(200, 60)):
    rng = np.random.default_rng(seed)
    return write_safetensors(path, {f"l{i}.weight": rng.standard_t(4, size=shape).astype(
        np.float32) for i in range(n)})


def _dup_pt(path):
    """A .pt whose flattened names collide: {'a': {'weight': W1}, 'a.weight': W2}."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    w1, w2 = (torch.from_numpy(rng.standard_t(3, size=(200, 100)).astype(np.float32))
              for _ in range(2))
    torch.save({"a": {"weight": w1}, "a.weight": w2}, path)
    return path


def test_dask_failed_tasks_and_duplicate_names(client, tmp_path):
    """A task that raises on a worker is a failure with its message (not a crash), and
    layers with the same flattened name are told apart by their position."""
    from setol_theory.linalg import DeviceError

    root = tmp_path / "m"
    root.mkdir()
    f = _two_layers(root / "c.safetensors", 0)
    res = analyze_many(root, scheduler=client, min_evals=10, traps=False, device="cuda:99")
    assert len(res.failed) == 2 and not res.records
    assert all(e["error"].startswith("DeviceError: ") for e in res.failed)
    with pytest.raises(DeviceError):
        analyze_on_cluster(f, client, min_evals=10, traps=False, device="cuda:99",
                           on_error="record")
    dup = _dup_pt(tmp_path / "dup.pt")
    ref = analyze(dup, min_evals=10, on_error="record").to_json_dict()["layers"]
    assert [r["name"] for r in ref] == ["a.weight", "a.weight"]
    assert ref[0]["alpha"] != ref[1]["alpha"]
    got = analyze_on_cluster(dup, client, min_evals=10, on_error="record")
    assert got.to_json_dict()["layers"] == ref
    many = analyze_many(dup, scheduler=client, min_evals=10)
    assert [r["layer_index"] for r in many.records] == [0, 1]
    assert [r["alpha"] for r in many.records] == [r["alpha"] for r in ref]


def test_duplicate_layer_names_serial(tmp_path):
    dup = _dup_pt(tmp_path / "dup.pt")
    ref = analyze(dup, min_evals=10, on_error="record").to_json_dict()["layers"]
    got = analyze_on_cluster(dup, "serial", min_evals=10, on_error="record")
    assert got.to_json_dict()["layers"] == ref
    out = tmp_path / "d.jsonl"
    many = analyze_many(dup, scheduler="serial", min_evals=10, out=out)
    assert [r["alpha"] for r in many.records] == [r["alpha"] for r in ref]
    assert [r["layer_index"] for r in read_table(out)[1]] == [0, 1]
    again = analyze_many(dup, scheduler="serial", min_evals=10, out=out)
    assert (again.resumed, again.computed) == (2, 0) and again.records == many.records


def test_layer_task_reads_only_its_tensor(tmp_path, monkeypatch):
    """The task of layer k loads one tensor, not the k before it (quadratic otherwise)."""
    from setol_theory.distributed import _tasks as scale_distributed
    from setol_theory.io import _safetensors as spectra
    from setol_theory.options import AnalysisOptions

    if not hasattr(spectra, "_SafetensorsFile"):
        pytest.skip("safetensors reader internals changed")
    f = _two_layers(tmp_path / "c.safetensors", 1, n=6, shape=(40, 20))
    opts = AnalysisOptions(min_evals=10, traps=False)
    loads = []
    orig = spectra._SafetensorsFile.load
    monkeypatch.setattr(spectra._SafetensorsFile, "load",
                        lambda self, name: loads.append(name) or orig(self, name))
    rec, _ = scale_distributed.analyze_one_layer(str(f), "l5.weight", opts)
    assert rec["name"] == "l5.weight" and loads == ["l5.weight"]


def test_resume_recomputes_a_rewritten_checkpoint(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    a = _two_layers(root / "a.safetensors", 0)
    b = _two_layers(root / "b.safetensors", 1)
    out = tmp_path / "t.jsonl"
    first = analyze_many(root, scheduler="serial", min_evals=10, out=out)
    assert first.computed == 4 and not first.changed
    # b rewritten under the same name: other weights, one layer fewer
    _two_layers(b, 2, n=1)
    st = b.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = analyze_many(root, scheduler="serial", min_evals=10, out=out)
    assert [c.checkpoint for c in again.changed] == ["b.safetensors"]
    assert (again.resumed, again.computed) == (2, 1)
    ref_b = analyze(b, min_evals=10).to_json_dict()["layers"]
    rows_b = [r for r in again.records if r["checkpoint"] == "b.safetensors"]
    assert [r["alpha"] for r in rows_b] == [r["alpha"] for r in ref_b]
    assert read_table(out)[1] == again.records  # the old rows of b are not read back
    ref_a = analyze(a, min_evals=10).to_json_dict()["layers"]
    assert [r["alpha"] for r in again.records[:2]] == [r["alpha"] for r in ref_a]
    third = analyze_many(root, scheduler="serial", min_evals=10, out=out)
    assert (third.resumed, third.computed, third.changed) == (3, 0, [])


def test_results_file_locked_and_bad_lines_named(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    root = tmp_path / "r"
    root.mkdir()
    _two_layers(root / "a.safetensors", 0)
    out = tmp_path / "t.jsonl"
    analyze_many(root, scheduler="serial", min_evals=10, traps=False, out=out)
    before = out.read_bytes()
    with open(out, "rb") as other:  # another run holds the file
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        for resume in (True, False):
            with pytest.raises(ValueError, match="in use by another run"):
                analyze_many(root, scheduler="serial", min_evals=10, traps=False, out=out,
                             resume=resume)
    assert out.read_bytes() == before
    lines = before.decode().splitlines(keepends=True)
    out.write_text(lines[0] + lines[1][:20] + "\n" + lines[2])
    with pytest.raises(ValueError, match=r"t\.jsonl, line 2: not valid JSON"):
        read_table(out)
    with pytest.raises(ValueError, match=r"line 2"):
        analyze_many(root, scheduler="serial", min_evals=10, traps=False, out=out)


@pytest.mark.parametrize("bad, match", [
    ({"layers": "["}, "invalid regular expression"),
    ({"max_evals": 3}, r"max_evals \(3\) must be >= min_evals \(10\)"),
    ({"kinds": ["bogus"]}, "unknown layer kind"),
    ({"seed": -1}, "seed must be"),
    ({"min_tail": 1}, "min_tail must be an integer >= 2"),
    ({"fit_kwargs": {"min_tial": 5}}, "unknown option"),
])
def test_bad_options_refused_before_the_results_file(tmp_path, bad, match):
    root = tmp_path / "r"
    root.mkdir()
    _two_layers(root / "a.safetensors", 0)
    out = tmp_path / "t.jsonl"
    with pytest.raises(ValueError, match=match):
        analyze_many(root, scheduler="serial", min_evals=10, out=out, **bad)
    assert not out.exists()
    with pytest.raises(ValueError, match=match):
        analyze_on_cluster(root / "a.safetensors", "serial", min_evals=10, **bad)


def test_unreadable_file_recorded_not_retried(tmp_path, monkeypatch):

    root = tmp_path / "ckpt-5"
    root.mkdir()
    _two_layers(root / "model.safetensors", 0)
    junk = root / "training_args.bin"
    junk.write_bytes(b"not a checkpoint at all")
    out = tmp_path / "t.jsonl"
    res = analyze_many(root, scheduler="serial", min_evals=10, traps=False, out=out)
    assert not res.failed and res.computed == 2
    assert [u["checkpoint"] for u in res.unreadable] == ["training_args.bin"]
    assert "training_args.bin" in res.unreadable[0]["error"]
    from setol_theory.distributed import _many as scale_distributed

    listed = []
    orig = scale_distributed.list_layers
    monkeypatch.setattr(scale_distributed, "list_layers",
                        lambda p, *a: listed.append(p) or orig(p, *a))
    again = analyze_many(root, scheduler="serial", min_evals=10, traps=False, out=out)
    assert [u["checkpoint"] for u in again.unreadable] == ["training_args.bin"]
    assert not again.failed and str(junk) not in listed
    junk.write_bytes(b"still not a checkpoint, but changed")
    third = analyze_many(root, scheduler="serial", min_evals=10, traps=False, out=out)
    assert str(junk) in listed and len(third.unreadable) == 1
    assert read_table(out)[1] == third.records


def test_find_checkpoints_odd_names_and_broken_links(tmp_path):
    from setol_theory.distributed import SkippedPathWarning

    for d in ("²", "b", "run_10", "run_9"):
        (tmp_path / d).mkdir()
        _two_layers(tmp_path / d / "e.safetensors", 0, n=1, shape=(20, 10))
    (tmp_path / "b" / "gone.safetensors").symlink_to(tmp_path / "nowhere.safetensors")
    (tmp_path / "b" / "loop").symlink_to(tmp_path / "b")
    with pytest.warns(SkippedPathWarning) as rec:
        ck = find_checkpoints(tmp_path)
    msgs = sorted(str(w.message) for w in rec)
    assert "gone.safetensors: broken symbolic link" in msgs[0]
    assert "loop: directory already searched" in msgs[1]
    assert [c.model for c in ck] == ["b", "run_9", "run_10", "²"]


def test_checkpoint_changed_mid_run_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from setol_theory.distributed import CheckpointChanged
    from setol_theory.distributed import _many as scale_distributed

    f = _two_layers(tmp_path / "c.safetensors", 0)
    orig = scale_distributed.list_layers

    def listing_then_rewrite(path, *a):
        out = orig(path, *a)
        write_safetensors(f, {"renamed.weight": np.ones((30, 20), np.float32)})
        return out

    monkeypatch.setattr(scale_distributed, "list_layers", listing_then_rewrite)
    with pytest.raises(CheckpointChanged, match="changed while it was being analysed"):
        analyze_on_cluster(f, "serial", min_evals=10, traps=False)
    _two_layers(f, 0)
    assert main(["analyze", str(f), "--scheduler", "serial", "--quiet", "--no-traps"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err) and "changed while it was being analysed" in err[-1]
