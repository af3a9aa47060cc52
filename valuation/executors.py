"""Where blocks of samples run: in this process, in local processes, or on Dask.

An executor opens a session around a *payload* (the utility or arrays every block
needs), which is sent to each worker once: as the process pool's initializer
argument, or with Dask's `scatter(broadcast=True)`. Blocks are then submitted as
`fn(payload, *args)`. The engine keeps at most `capacity` blocks in flight, which
bounds memory, and reads results in submission order, so values never depend on
which worker ran which block. Only this module imports `distributed`, lazily.
"""

from __future__ import annotations

import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

BlockFn = Callable[..., Any]


class Job(Protocol):
    def result(self) -> Any: ...


class Session(ABC):
    """An open executor: the payload is already on the workers."""

    capacity: int

    @abstractmethod
    def submit(self, fn: BlockFn, *args: Any) -> Job: ...


class Executor(ABC):
    @abstractmethod
    def open(self, payload: Any) -> AbstractContextManager[Session]:
        """A context manager yielding a session with `payload` on every worker."""


class _Lazy:
    def __init__(self, fn: BlockFn, args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)


class _InlineSession(Session):
    capacity = 1

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def submit(self, fn: BlockFn, *args: Any) -> Job:
        return _Lazy(fn, (self.payload, *args))


_PAYLOAD: Any = None


def _set_payload(payload: Any) -> None:
    global _PAYLOAD
    _PAYLOAD = payload


def _call_with_payload(fn: BlockFn, *args: Any) -> Any:
    return fn(_PAYLOAD, *args)


class _PoolSession(Session):
    def __init__(self, pool: ProcessPoolExecutor, workers: int) -> None:
        self.pool = pool
        self.capacity = 2 * workers

    def submit(self, fn: BlockFn, *args: Any) -> Future[Any]:
        return self.pool.submit(_call_with_payload, fn, *args)


class LocalExecutor(Executor):
    """`n_jobs` = 1 runs blocks in this process; more uses a pool of processes
    (forkserver start method: safe after torch or OpenMP threads exist); -1 means
    one per CPU."""

    def __init__(self, n_jobs: int = 1) -> None:
        self.n_jobs = n_jobs

    def workers(self) -> int:
        return (os.cpu_count() or 1) if self.n_jobs == -1 else max(1, self.n_jobs)

    @contextmanager
    def open(self, payload: Any) -> Iterator[Session]:
        workers = self.workers()
        if workers == 1:
            yield _InlineSession(payload)
            return
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
        with ProcessPoolExecutor(
            workers, multiprocessing.get_context(method), _set_payload, (payload,)
        ) as pool:
            try:
                yield _PoolSession(pool, workers)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return f"LocalExecutor(n_jobs={self.n_jobs})"


def _apply(fn: BlockFn, payload: Any, *args: Any) -> Any:
    return fn(payload, *args)


class _DaskSession(Session):
    def __init__(self, client: Any, payload: Any) -> None:
        self.client = client
        self.payload = payload
        self.capacity = 2 * max(1, sum(client.nthreads().values()))

    def submit(self, fn: BlockFn, *args: Any) -> Job:
        return self.client.submit(_apply, fn, self.payload, *args, pure=False)  # type: ignore[no-any-return]


class DaskExecutor(Executor):
    """Blocks run on the Dask cluster whose scheduler listens at `scheduler_url`."""

    def __init__(self, scheduler_url: str) -> None:
        self.scheduler_url = scheduler_url

    @contextmanager
    def open(self, payload: Any) -> Iterator[Session]:
        from distributed import Client

        # distributed leaves Client's constructor, scatter and close unannotated
        client = Client(self.scheduler_url, set_as_default=False)  # type: ignore[no-untyped-call]
        try:
            remote = client.scatter(payload, broadcast=True, hash=False)  # type: ignore[no-untyped-call]
            yield _DaskSession(client, remote)
        finally:
            client.close()  # type: ignore[no-untyped-call]

    def __repr__(self) -> str:
        return f"DaskExecutor({self.scheduler_url!r})"
