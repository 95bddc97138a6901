"""What every pass needs: settings, the database, the API client, the clock, and hooks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine

from syncd.api import OhalloClient
from syncd.clock import Clock, utc_now
from syncd.config import Settings
from syncd.store.engine import DEFERRED
from syncd.store.failures import database_errors
from syncd.sync.mirror import Mirror, take_write_lock
from syncd.sync.privacy import Privacy
from syncd.sync.values import PlanOptions, Written

T = TypeVar("T")


def _ignore_written(_: Written) -> None:
    return None


def _ignore_progress(_scope: str, _rows: int) -> None:
    return None


@dataclass
class SyncContext:
    """Shared by the passes of one process.

    ``on_written`` is called after every committed write (metrics, waking the dispatcher);
    ``on_progress`` with the rows walked so far by a reconcile pass (progress display).
    """

    settings: Settings
    engine: Engine
    client: OhalloClient
    clock: Clock = utc_now
    on_written: Callable[[Written], None] = _ignore_written
    on_progress: Callable[[str, int], None] = _ignore_progress
    scheduled: bool = False
    """The daemon runs every stream on its own interval (``syncd sync`` runs each once)."""
    offloaded_writes: int = 0
    """Writing transactions committed by write worker processes (syncd/sync/offload.py)."""
    offloaded_write_cpu_s: float = 0.0
    """The CPU time those transactions took there."""
    _write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def terminal_statuses(self) -> frozenset[str]:
        return frozenset(self.settings.sync.terminal_statuses)

    def plan_options(
        self,
        *,
        backfill: bool = False,
        backfill_before: datetime | None = None,
        rewrite: bool = False,
    ) -> PlanOptions:
        """How this configuration's writes classify what they find (see ``PlanOptions``)."""
        sync = self.settings.sync
        ceiling = sync.refresh_interval_s or sync.reconcile_interval_s
        return PlanOptions(
            backfill=backfill,
            backfill_before=backfill_before,
            recheck_min_s=sync.poll_interval_s,
            recheck_max_s=max(ceiling, sync.poll_interval_s),
            rewrite=rewrite,
            privacy=Privacy.from_settings(self.settings.privacy),
        )

    async def live_options(self, scope: str) -> PlanOptions:
        """Options for every pass but the backfill walk: nothing they find is backfill, except
        what existed before a still running backfill began (see ``diff.Observed``)."""

        if await self.read(lambda conn: Mirror(conn).backfill_complete(scope)):
            return self.plan_options()
        now = self.clock()
        since = await self.write(lambda conn: Mirror(conn).backfill_since(scope, now))
        return self.plan_options(backfill_before=since)

    def write_now(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one writing transaction, holding the write lock (blocking); a database
        error is a ``StoreError`` (one line naming the database: no traceback in the logs)."""
        with (
            self._write_lock,
            database_errors("cannot write", self.engine),
            self.engine.begin() as conn,
        ):
            take_write_lock(conn)
            result = work(conn)
        if isinstance(result, Written):
            self.on_written(result)
        return result

    async def write(self, work: Callable[[Connection], T]) -> T:
        """``write_now`` in a worker thread, so the event loop keeps serving requests."""
        return await asyncio.to_thread(self.write_now, work)

    def read_now(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a read-only transaction (blocking)."""
        reader = self.engine.execution_options(**DEFERRED)
        with database_errors("cannot read", self.engine), reader.connect() as conn:
            return work(conn)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """``read_now`` in a worker thread."""
        return await asyncio.to_thread(self.read_now, work)
