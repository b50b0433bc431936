"""The resumable JSON-lines results table of :func:`analyze_many`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..htsr import LayerMetrics
from ..options import AnalysisOptions
from ._checkpoints import Checkpoint, _natural_key

try:  # POSIX
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    _fcntl = None  # type: ignore[assignment]


#: First line of a results file.
_FORMAT = "setol.analyze_many/1"


KEYS = ("model", "checkpoint", "layer")


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


@dataclass
class ManyAnalysis:
    """The results table of :func:`analyze_many`.

    Attributes
    ----------
    records : list of dict
        One row per layer: ``model``, ``checkpoint``, ``layer``, ``layer_index`` (position in
        the model), the columns of :class:`~setol_theory.htsr.LayerMetrics` (``name``
        dropped; NaN as ``None``) and ``file_id`` (the checkpoint's ``mtime_ns:size`` when
        the row was made), ordered by checkpoint (as :func:`find_checkpoints` sorts them)
        and layer (model order). Rows of earlier runs in the results file whose checkpoint
        is no longer found are kept; rows of a checkpoint that changed since are not.
    settings : dict
        The analysis settings (:meth:`setol_theory.options.AnalysisOptions.to_dict`).
    checkpoints : list of Checkpoint
    failed : list of dict
        Tasks that raised (keys, ``error``): not in ``records`` and not in the file, so a
        rerun retries them.
    computed, resumed : int
        Rows made in this run, and rows taken from the results file.
    changed : list of Checkpoint
        Checkpoints with rows in the results file made from another version of the file
        (rewritten under the same name): their rows were made again.
    unreadable : list of dict
        Files that cannot be read as checkpoints (``model``, ``checkpoint``, ``path``,
        ``error``): recorded in the results file and not tried again until they change.
    """

    records: list[dict[str, Any]]
    settings: dict[str, Any]
    checkpoints: list[Checkpoint] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    resumed: int = 0
    changed: list[Checkpoint] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def columns() -> list[str]:
        """Column names of the table (CSV), in order (``file_id`` is not one of them)."""
        return [*KEYS, "layer_index"] + [f.name for f in fields(LayerMetrics) if f.name != "name"]

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the table as CSV (``None`` as an empty cell)."""
        import csv

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns(), extrasaction="ignore")
            w.writeheader()
            w.writerows(self.records)

    def to_dataframe(self) -> Any:
        """The table as a pandas DataFrame, columns :meth:`columns` in order (``None`` as
        NaN in number columns; needs ``setol[pandas]``)."""
        from ..util import require

        pd = require("pandas", "ManyAnalysis.to_dataframe()")
        return pd.DataFrame.from_records(self.records, columns=self.columns())

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write the table as Parquet (needs ``setol[pandas]``: pandas and pyarrow)."""
        from ..util import require

        require("pyarrow", "writing Parquet (analyze-many --parquet)")
        self.to_dataframe().to_parquet(path, index=False)


def _row(ck: Checkpoint, index: int, record: dict[str, Any], stamp: str) -> dict[str, Any]:
    rec = dict(record)
    layer = rec.pop("name")
    return {"model": ck.model, "checkpoint": ck.checkpoint, "layer": layer,
            "layer_index": index, **rec, "file_id": stamp}


def _row_key(r: dict[str, Any]) -> tuple[str, str, int]:
    """A row's identity: checkpoint and position (layer names need not be unique)."""
    return r["model"], r["checkpoint"], r["layer_index"]


def _sort_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (_natural_key(r["model"]), _natural_key(r["checkpoint"]),
                                       r["layer_index"]))


def read_table(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Settings and rows of a results file of :func:`analyze_many`.

    Rows are sorted by model and checkpoint (numbers in names compared as numbers) and
    by ``layer_index`` (model order), as :attr:`ManyAnalysis.records`. A last line cut short
    (a run killed while writing) is ignored; a key written twice keeps its last row; of a
    checkpoint analysed again after it changed, only the rows of the version written last
    are returned.

    Raises
    ------
    ValueError
        Not a results file of ``analyze_many`` (a bad line is named by its number).
    """
    p = Path(path)
    settings, rows, _, _ = _parse(p, p.read_bytes())
    return settings, _sort_rows(rows)


def _parse(path: Path, data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]],
                                             dict[tuple[str, str], dict[str, Any]], int]:
    """Settings, rows, unreadable-file records and the byte length of the complete lines of
    a results file (only the lines of the version of each checkpoint written last)."""
    good = data.rfind(b"\n") + 1  # bytes up to the last complete line
    try:
        lines = data[:good].decode().splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a results file of setol analyze-many (not text)"
                         ) from None
    if not lines:
        raise ValueError(f"{path}: empty results file")
    try:
        head = json.loads(lines[0])
    except json.JSONDecodeError:
        head = {}
    if not isinstance(head, dict) or head.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a results file of setol analyze-many")
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    unreadable: dict[tuple[str, str], dict[str, Any]] = {}
    current: dict[tuple[str, str], Any] = {}  # file_id of the last line of each checkpoint
    for n, ln in enumerate(lines[1:], start=2):
        if not ln.strip():
            continue
        try:
            r = json.loads(ln)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {n}: not valid JSON ({exc.msg}, column "
                             f"{exc.colno}); remove the line or start afresh (--restart)"
                             ) from None
        try:
            ck = (r["model"], r["checkpoint"])
            if "unreadable" in r:
                unreadable[ck] = r
            else:
                rows[_row_key(r)] = r
        except (KeyError, TypeError):
            raise ValueError(f"{path}, line {n}: not a row of setol analyze-many (needs "
                             "model, checkpoint, layer_index)") from None
        current[ck] = r.get("file_id")
    keep = [r for r in rows.values() if r.get("file_id") == current[(r["model"],
                                                                     r["checkpoint"])]]
    unr = {k: r for k, r in unreadable.items() if r.get("file_id") == current[k]}
    return head.get("settings"), keep, unr, good


def _settings_0_2(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A results header in the current layout, so that runs of older versions resume.

    0.1 nested ``fit: {min_tail}`` and ``eig: {method}``; 0.2 records the flat
    :class:`~setol_theory.options.AnalysisOptions` fields (where ``fit`` is the tail model,
    a string).  An option that a header does not record (it did not exist yet, or 0.1 left it
    out at its default) had its default value.
    """
    nested = [k for k in ("fit", "eig") if isinstance(old.get(k), dict)]
    out = {k: v for k, v in old.items() if k not in nested}
    for k in nested:
        out.update(old[k])
    defaults = AnalysisOptions().to_dict()
    for key in new:
        if key not in out and key in defaults:
            out[key] = defaults[key]
    return out


class _Writer:
    """Appends rows to the results file, flushing each line, holding an exclusive lock on
    it (``flock``; none where ``fcntl`` is missing) so that two runs cannot share it."""

    def __init__(self, path: Path | None, settings: dict[str, Any], resume: bool) -> None:
        self.fh = None
        self.existing: list[dict[str, Any]] = []
        self.unreadable: dict[tuple[str, str], dict[str, Any]] = {}
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+b")  # noqa: SIM115 - closed in close(); not truncated before the lock
        try:
            if _fcntl is not None:
                try:
                    _fcntl.flock(fh.fileno(), _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                except BlockingIOError:
                    raise ValueError(f"{path} is in use by another run of setol analyze-many; "
                                     "wait for it to end or use another output file") from None
                except OSError:  # pragma: no cover - a file system without locks
                    pass
            fh.seek(0)
            data = fh.read()
            if data and resume:
                old, rows, unreadable, good = _parse(path, data)
                old = _settings_0_2(old if isinstance(old, dict) else {}, settings)
                if old != settings:
                    diff = ", ".join(f"{k} {old.get(k, '(unset)')!r} -> {settings.get(k)!r}"
                                     for k in sorted(set(old) | set(settings))
                                     if old.get(k) != settings.get(k))
                    raise ValueError(f"{path} was written with other settings ({diff}); use "
                                     "another file, or start it afresh (resume=False; setol "
                                     "analyze-many --restart)")
                self.existing, self.unreadable = rows, unreadable
                fh.truncate(good)  # drop a line cut short by a killed run
            else:
                fh.truncate(0)
        except BaseException:
            fh.close()
            raise
        self.fh = fh
        if not (data and resume):
            self._line({"format": _FORMAT, "settings": settings})

    def _line(self, obj: dict[str, Any]) -> None:
        assert self.fh is not None
        self.fh.write((json.dumps(obj, allow_nan=False) + "\n").encode())
        self.fh.flush()

    def write(self, row: dict[str, Any]) -> None:
        if self.fh is not None:
            self._line(row)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()  # releases the lock
            self.fh = None

