"""Eigenvalues as input: read one or many ESDs from a file (``setol analyze --esd FILE``).

Formats: a 1-D ``.npy``; a one-column ``.txt`` / ``.csv`` (``#`` comments and one header line
allowed); a ``.json`` list of numbers, or an object ``{"layer name": [numbers], ...}``; an
``.npz`` with one 1-D array per layer name (``allow_pickle=False``). Every ESD must be finite and
non-negative (eigenvalues of ``WᵀW``): tiny negatives from rounding, down to ``-M eps
lambda_max``, are set to 0; anything else is refused with a message naming the file and layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

__all__ = ["ESD_SUFFIXES", "check_esd", "read_esd"]

#: The file types :func:`read_esd` reads.
ESD_SUFFIXES: tuple[str, ...] = (".npy", ".txt", ".csv", ".json", ".npz")


def check_esd(values: object, where: str) -> Array:
    """One ESD as a sorted float64 array, checked: 1-D, at least 2 values, finite, >= 0 up to
    rounding (``-M eps lambda_max``, set to 0). ``where`` names it in the error message."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: not a list of numbers") from None
    if x.ndim != 1:
        raise ValueError(f"{where}: an ESD is one-dimensional, got shape {x.shape}")
    if x.size < 2:
        raise ValueError(f"{where}: {x.size} eigenvalue(s); an ESD needs at least 2")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{where}: contains NaN or Inf")
    x = np.sort(x)
    tol = x.size * np.finfo(np.float64).eps * max(float(x[-1]), 0.0)
    if x[0] < -tol:
        raise ValueError(f"{where}: negative eigenvalue {x[0]:.6g}; the ESD of WᵀW is "
                         "non-negative")
    if not x[-1] > 0:
        raise ValueError(f"{where}: all eigenvalues are zero")
    x[x < 0] = 0.0
    return x


def _text_column(path: Path) -> Array:
    rows: list[str] = []
    for line in path.read_text().splitlines():
        s = line.split("#", 1)[0].strip()
        if s:
            rows.append(s)
    if rows:
        try:
            float(rows[0].split(",")[0])
        except ValueError:
            rows = rows[1:]  # one header line
    values = []
    for i, r in enumerate(rows):
        cells = [c for c in r.replace(",", " ").split() if c]
        if len(cells) != 1:
            raise ValueError(f"{path}: line {i + 1} has {len(cells)} columns; an ESD file has "
                             "one number per line")
        try:
            values.append(float(cells[0]))
        except ValueError:
            raise ValueError(f"{path}: line {i + 1}: {cells[0]!r} is not a number") from None
    return np.asarray(values, dtype=np.float64)


def read_esd(path: str | Path) -> dict[str, Array]:
    """The ESD(s) in ``path``: ``{layer name: sorted eigenvalues}``.

    A file with one ESD gives it the file's stem as its name. Raises ``FileNotFoundError`` or a
    one-line ``ValueError`` naming the file (and layer) for anything it cannot use.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix not in ESD_SUFFIXES:
        raise ValueError(f"{p}: unknown ESD file type {suffix!r}; use one of "
                         f"{', '.join(ESD_SUFFIXES)}")
    try:
        if suffix == ".npy":
            raw: dict[str, object] = {p.stem: np.load(p, allow_pickle=False)}
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
        elif suffix == ".json":
            data = json.loads(p.read_text())
            if isinstance(data, dict):
                raw = dict(data)
            elif isinstance(data, list):
                raw = {p.stem: data}
            else:
                raise ValueError(f"{p}: expected a JSON list of numbers or an object of lists")
        else:
            raw = {p.stem: _text_column(p)}
    except (OSError, EOFError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: cannot read it as {suffix} ({exc})") from None
    if not raw:
        raise ValueError(f"{p}: no ESD in the file")
    return {name: check_esd(v, f"{p} [{name}]" if len(raw) > 1 else str(p))
            for name, v in raw.items()}
