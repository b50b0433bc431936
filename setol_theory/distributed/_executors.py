"""Executors of the per-layer tasks: serial (this process) or a Dask cluster."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ._tasks import _file_stamp

# --------------------------------------------------------------------------------------------
# Executors: in this process, or on a Dask cluster
# --------------------------------------------------------------------------------------------


class _Serial:
    """Runs the tasks in this process, in order."""

    def map_ordered(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                    ) -> list[Any]:
        out = []
        for a in args:
            try:
                out.append(fn(*a))
            except Exception as exc:  # recorded as a failure of that task
                out.append(exc)
        return out

    def as_completed(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                     ) -> Iterator[tuple[int, Any]]:
        for i, a in enumerate(args):
            try:
                yield i, fn(*a)
            except Exception as exc:
                yield i, exc


class _Dask:
    """Submits the tasks to a ``distributed.Client`` with deterministic keys."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _submit(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                ) -> list[Any]:
        return [self.client.submit(fn, *a, key=k, pure=False) for a, k in
                zip(args, keys, strict=True)]

    def map_ordered(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                    ) -> list[Any]:
        futures = self._submit(fn, args, keys)
        out: list[Any] = []
        for f in futures:
            try:
                out.append(f.result())
            except Exception as exc:
                out.append(exc)
        return out

    def as_completed(self, fn: Callable[..., Any], args: list[tuple[Any, ...]], keys: list[str]
                     ) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        futures = self._submit(fn, args, keys)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut, res in as_completed(futures, with_results=True, raise_errors=False):
            yield index[fut.key], _outcome(fut, res)
            fut.release()


def _outcome(fut: Any, res: Any) -> Any:
    """The result of a finished future, or its exception. ``as_completed(...,
    with_results=True, raise_errors=False)`` gives ``(type, exception, traceback)`` for a
    task that raised and a ``CancelledError`` for a cancelled one."""
    if fut.status == "finished":
        return res
    if fut.status == "error":
        if isinstance(res, tuple) and len(res) == 3 and isinstance(res[1], BaseException):
            return res[1]
        exc = fut.exception()
        if isinstance(exc, BaseException):
            return exc
    if isinstance(res, BaseException):
        return res
    return RuntimeError(f"task {fut.key} ended with status {fut.status!r}")


@contextmanager
def _executor(scheduler: Any, n_workers: int | None) -> Iterator[_Serial | _Dask]:
    """``"serial"``; ``"local"`` / None (a new LocalCluster); an address; or a Client."""
    if scheduler == "serial":
        yield _Serial()
        return
    from ..util import require

    require("distributed", "a Dask scheduler (scheduler='serial' runs without it)")
    from distributed import Client, LocalCluster
    if isinstance(scheduler, Client):
        yield _Dask(scheduler)
        return
    if scheduler in (None, "local"):
        import logging

        n = n_workers or max(1, min(os.cpu_count() or 1, 8))
        # CRITICAL: no "Compute Failed" log per failed task; the client reports failures
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=logging.CRITICAL) as cluster, \
                Client(cluster) as client:
            yield _Dask(client)
        return
    with Client(str(scheduler)) as client:
        yield _Dask(client)


def _task_key(kind: str, *parts: Any) -> str:
    h = hashlib.sha1(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]
    return f"setol-{kind}-{h}"


def _file_id(path: str, stamp: str | None = None) -> str:
    """Path and content stamp: part of the task keys (a changed file gets new keys)."""
    return f"{path}:{stamp if stamp is not None else _file_stamp(path)}"

