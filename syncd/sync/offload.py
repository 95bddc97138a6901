"""Writing transactions in a worker process, so a long walk's writes never stall the event loop.

A reconcile walk of a large account (the backfill above all) spends about as much CPU writing
pages (loading what the mirror holds, diffing, building rows and events, the upserts) as it does
on HTTP. In one process both compete for one GIL: while the writing thread holds it, responses
wait, the request budget sits idle and the walk runs well below the ``max_concurrency`` it may
use (benchmarks/backfill.py). ``WriteOffload`` runs those transactions in one worker process
instead, with its own engine on the same database: the event loop keeps its interpreter to
itself and the two use two cores.

Nothing else changes: each unit of work is still one transaction that takes syncd's write lock
first (so it is serialised with every other writer, in this process or not), units run one at a
time in the order given, and the caller waits for each commit as before. Work is sent by value:
it must be a picklable callable (a module-level function, or ``functools.partial`` of one, over
plain data), and so must its result.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from syncd.config import Settings
from syncd.store.engine import create_engine_for, sqlite_file
from syncd.sync.mirror import take_write_lock

T = TypeVar("T")

_engine: Engine | None = None
"""The worker process's engine (set by ``_start_worker``)."""


def offloadable(url: URL) -> bool:
    """Whether another process can open this database (not an in-memory SQLite one)."""
    return url.get_backend_name() != "sqlite" or sqlite_file(url) is not None


def _start_worker(settings: Settings, url: str) -> None:
    """In the worker: logging as configured (secrets masked), and the engine."""
    global _engine
    from syncd.config.logs import configure_logging_for

    configure_logging_for(settings)
    _engine = create_engine_for(url)
    # What is loaded now (modules, the engine) lives as long as the worker: leave it out of
    # the garbage collector's full passes, which otherwise walk it again for every page.
    gc.collect()
    gc.freeze()


def _write_in_worker(work: Callable[[Connection], T]) -> tuple[T, float]:
    """In the worker: ``work`` in one writing transaction; its result and the CPU it took."""
    if _engine is None:
        raise RuntimeError("the write worker has no engine")
    cpu = time.thread_time()
    with _engine.begin() as conn:
        take_write_lock(conn)
        result = work(conn)
    return result, time.thread_time() - cpu


class WriteOffload:
    """One worker process that runs writing transactions, one at a time, in order.

    Started lazily by the first ``write``; ``close`` waits for the running unit and ends it.
    ``units`` counts the transactions it committed, ``cpu_s`` the CPU time they took there.
    """

    def __init__(self, settings: Settings, url: URL) -> None:
        if not offloadable(url):
            raise ValueError("an in-memory SQLite database cannot be shared with a worker")
        self._settings = settings
        self._url = url.render_as_string(hide_password=False)
        self._pool: ProcessPoolExecutor | None = None
        self.units = 0
        self.cpu_s = 0.0

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                # Not fork: the parent runs threads (the event loop's, the writer's) that a
                # forked child would inherit mid-operation.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self._settings, self._url),
            )
        return self._pool

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in the worker's writing transaction; return its result."""
        loop = asyncio.get_running_loop()
        outcome: tuple[T, float] = await loop.run_in_executor(
            self._executor(), _write_in_worker, work
        )
        result, cpu = outcome
        self.units += 1
        self.cpu_s += cpu
        return result

    async def close(self) -> None:
        """Wait for the unit in progress, then end the worker (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True)


def offload_for(settings: Settings, engine: Engine) -> WriteOffload | None:
    """A WriteOffload for ``engine``'s database, or None when it cannot be shared."""
    url: Any = engine.url
    return WriteOffload(settings, url) if offloadable(url) else None
