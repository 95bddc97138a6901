"""One running configuration of the daemon: the scheduled passes and the dispatcher.

Per scope (a configured workspace, or the whole key) every stream of ``syncd.sync.streams``
runs on an APScheduler interval trigger (the reconcile and status counts with jitter; the hot,
refresh and attention passes without, their interval being a freshness bound), never two runs
of one job at once (``max_instances=1``, ``coalesce``). The API client's priority budget keeps a
running backfill from starving the hot and attention passes. The dispatcher is woken as soon as
a pass commits events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text

from syncd.clock import Clock, utc_now
from syncd.config import Settings
from syncd.daemon.health import Readiness
from syncd.daemon.leases import Leases
from syncd.daemon.metrics import Metrics
from syncd.daemon.notify import Notifier
from syncd.events.delivery import build_dispatcher
from syncd.events.dispatcher import Dispatcher
from syncd.events.sink_status import sink_status
from syncd.sync.context import SyncContext
from syncd.sync.freshness import head_reads, workspace_freshness
from syncd.sync.mirror import Mirror
from syncd.sync.result import PassResult
from syncd.sync.runner import reconcile_due, run_pass
from syncd.sync.state import scope_key
from syncd.sync.streams import STREAMS, Stream, heal_after_hot, workspaces_of
from syncd.sync.values import StreamState, Written

log = structlog.get_logger(__name__)


def jitter_for(interval_s: float) -> float:
    """Up to 10% of the interval, at most 30 s: spreads load without hurting freshness."""
    return min(interval_s * 0.1, 30.0)


def first_reconcile(state: StreamState, interval_s: float, now: datetime) -> datetime:
    """When a starting daemon runs a scope's reconcile first: now when it never completed or
    was interrupted, else one interval after the last complete one (restarts more frequent than
    the interval must not postpone it for ever)."""
    last = state.last_success_at
    if state.pass_started_at is not None or last is None:
        return now
    return max(now, last + timedelta(seconds=interval_s))


class Service:
    """The scheduled work of one configuration; ``start`` then ``stop``."""

    def __init__(
        self,
        ctx: SyncContext,
        *,
        metrics: Metrics,
        notifier: Notifier,
        leases: Leases,
        clock: Clock = utc_now,
    ) -> None:
        self.ctx = ctx
        self.settings: Settings = ctx.settings
        self.metrics = metrics
        self.notifier = notifier
        self.leases = leases
        self.clock = clock
        configured = list(self.settings.sync.workspaces)
        self.configured = configured
        self.scopes: list[str | None] = list(configured) if configured else [None]
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.dispatcher: Dispatcher
        self.dispatcher, broken = build_dispatcher(
            ctx.engine, self.settings, on_delivery=metrics.on_delivery
        )
        for name, error in broken.items():
            log.error("sink_unusable", sink=name, error=error)
        self._dispatcher_stop = asyncio.Event()
        self._dispatcher_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[object]] = set()
        self._stopping = False
        self._active: set[tuple[str, str]] = set()  # (stream, scope) of the running passes
        self._healing: set[str] = set()  # scopes whose heals run
        self._heals: set[asyncio.Future[None]] = set()
        self._standby: set[str] = set()  # scopes another instance owned at our last try
        self._last_hot: dict[str, float] = {}
        self._hot_error: dict[str, str] = {}  # scope -> error of its last hot pass, if it failed
        self._started = time.monotonic()
        ctx.on_written = self._on_written

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the dispatcher, arm every job (first runs now), start the scheduler."""
        await self.dispatcher.start()
        self._dispatcher_task = asyncio.create_task(self.dispatcher.run(self._dispatcher_stop))
        sync = self.settings.sync
        now = datetime.now(tz=self.scheduler.timezone)
        for scope in self.scopes:
            key = scope_key(scope)
            for stream in STREAMS:
                interval = stream.interval_s(sync)
                if interval <= 0:
                    continue
                first = now
                if stream.name == "reconcile":
                    state = await self.ctx.read(
                        lambda conn, k=key: Mirror(conn).read_state(k, "reconcile")  # type: ignore[misc]
                    )
                    first = first_reconcile(state, interval, now)
                elif stream.per_workspace:
                    # After the first hot pass has had a moment: its counts compare with a mirror
                    # that the hot pass just brought up to date.
                    first = now + timedelta(seconds=min(5.0, sync.poll_interval_s))
                job = self._job(stream, scope)
                self._add(f"{stream.name}:{key}", interval, job, first, jitter=stream.jittered)
        watchdog = self.notifier.watchdog_interval_s
        if watchdog:
            self.scheduler.add_job(
                self._watchdog,
                IntervalTrigger(seconds=watchdog),
                id="watchdog",
                max_instances=1,
                coalesce=True,
                next_run_time=now,
            )
        self.scheduler.start()

    async def stop(self, timeout_s: float) -> None:
        """Stop scheduling, let running passes finish (cancel them at the deadline), flush."""
        deadline = time.monotonic() + timeout_s * 0.6
        self._stopping = True
        if self.scheduler.running:
            # Paused, not shut down: APScheduler's asyncio executor cancels the running jobs
            # on shutdown, which would cut every pass short instead of letting it finish.
            self.scheduler.pause()
        pending = {task for task in self._running if not task.done()}
        if pending:
            log.info("waiting_for_passes", count=len(pending))
            _, still = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            for task in still:
                task.cancel()
            if still:
                log.warning("passes_cancelled_at_shutdown", count=len(still))
                await asyncio.wait(still, timeout=timeout_s * 0.2)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._dispatcher_stop.set()
        if self._dispatcher_task is not None:
            try:
                await asyncio.wait_for(self._dispatcher_task, timeout=timeout_s * 0.2)
            except TimeoutError:
                log.warning("dispatcher_stop_timed_out")
        await self.dispatcher.close()

    # -- jobs ------------------------------------------------------------------------------

    def _add(
        self,
        job_id: str,
        interval_s: float,
        job: Callable[[], Awaitable[None]],
        first: datetime,
        *,
        jitter: bool = True,
    ) -> None:
        self.scheduler.add_job(
            job,
            IntervalTrigger(seconds=interval_s, jitter=jitter_for(interval_s) if jitter else None),
            id=job_id,
            name=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(interval_s)),
            next_run_time=first,
        )

    def _job(self, stream: Stream, scope: str | None) -> Callable[[], Awaitable[None]]:
        assert stream.run is not None
        run = stream.run

        async def per_workspace() -> None:
            for workspace in await self.ctx.read(lambda conn: workspaces_of(conn, scope)):
                await self._run(
                    stream.name,
                    scope,
                    lambda w=workspace: run(self.ctx, w),  # type: ignore[misc]
                    label=workspace,
                )

        async def job() -> None:
            started = self.ctx.clock()
            result = await self._run(stream.name, scope, lambda: run(self.ctx, scope))
            if stream.name == "hot" and result is not None and result.ok:
                self._heal_after_hot(scope, started)

        return self._tracked(stream.name, scope, per_workspace if stream.per_workspace else job)

    def _heal_after_hot(self, scope: str | None, hot_started: datetime) -> None:
        """The drift rule of ``syncd.sync.streams``, in a task of its own so a heal's walk never
        holds up the next hot pass; a drift walking could not mend asks for the reconcile."""
        key = scope_key(scope)
        if ("reconcile", key) in self._active or key in self._healing:
            return  # a reconcile is walking (drift is expected meanwhile), or a heal runs

        async def run(
            stream: str, workspace: str, work: Callable[[], Awaitable[PassResult]]
        ) -> PassResult | None:
            return await self._run(stream, scope, work, label=workspace)

        async def heal() -> None:
            self._healing.add(key)
            try:
                if await heal_after_hot(self.ctx, scope, hot_started, run):
                    log.warning("status_count_drift_reconcile", scope=key)
                    self.reconcile_now(scope)
            finally:
                self._healing.discard(key)

        task = asyncio.ensure_future(self._tracked("heal", scope, heal)())
        self._heals.add(task)
        task.add_done_callback(self._heals.discard)

    def _tracked(
        self, stream: str, scope: str | None, job: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """The job, known to ``stop`` from its first await to its end.

        A job cancelled at the shutdown deadline ends quietly (its transaction rolled back or
        committed, the reconcile checkpoint tells where to resume): no traceback from the
        scheduler for an expected outcome.
        """

        async def tracked() -> None:
            if self._stopping:
                return
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                log.warning("pass_cancelled_at_shutdown", stream=stream, scope=scope_key(scope))
            finally:
                if task is not None:
                    self._running.discard(task)

        return tracked

    async def _watchdog(self) -> None:
        # A coroutine, so it runs on the event loop: the ping proves the loop is alive (a plain
        # function would run in the thread pool, and stall when the pool is busy).
        self.notifier.watchdog()

    async def _reconcile_if_due(self, scope: str | None) -> None:
        key, interval = scope_key(scope), self.settings.sync.reconcile_interval_s
        due = await self.ctx.read(lambda conn: reconcile_due(conn, key, interval, self.ctx))
        if due:
            log.info("reconcile_due_on_takeover", scope=key)
            self.reconcile_now(scope)

    def reconcile_now(self, scope: str | None) -> None:
        """Self-healing: run the scope's reconcile pass as soon as possible."""
        job = self.scheduler.get_job(f"reconcile:{scope_key(scope)}")
        if job is not None:
            job.modify(next_run_time=datetime.now(tz=self.scheduler.timezone))

    async def _run(
        self,
        stream: str,
        scope: str | None,
        work: Callable[[], Awaitable[PassResult]],
        *,
        label: str | None = None,
    ) -> PassResult | None:
        key = scope_key(scope)
        if not await asyncio.to_thread(self.leases.owns, key):
            log.debug("pass_skipped_not_owner", stream=stream, scope=key)
            self._standby.add(key)
            return None
        if self._stopping:
            return None
        if key in self._standby:
            # Taken over from an instance that stopped or died, maybe in the middle of the
            # backfill: this instance's reconcile job is scheduled as a standby's (an interval
            # away), so resume an unfinished or overdue reconcile now.
            self._standby.discard(key)
            if stream != "reconcile":
                await self._reconcile_if_due(scope)
        # Start and end of every pass, at debug level: shows which instance ran what, when.
        log.debug("pass_started", stream=stream, scope=key, workspace=label)
        started = time.monotonic()
        self._active.add((stream, key))
        self.metrics.on_pass_started(stream, label or key)
        try:
            result = await run_pass(self.ctx, stream, label or scope, work)
        finally:
            self._active.discard((stream, key))
            log.debug("pass_finished", stream=stream, scope=key, workspace=label)
        self.metrics.on_pass(result, time.monotonic() - started)
        if result.ok and stream == "hot":
            self._last_hot[key] = time.monotonic()
            self._hot_error.pop(key, None)
        elif stream == "hot":
            self._hot_error[key] = result.error or "failed"
        state = "ok" if result.ok else f"failed: {result.error}"
        self.notifier.status(f"{stream} {result.scope}: {state} at {self.clock():%H:%M:%S}Z")
        return result

    def _on_written(self, written: Written) -> None:
        self.metrics.on_written(written)
        if written.events:
            self.dispatcher.wake()

    # -- health ----------------------------------------------------------------------------

    async def readiness(self) -> Readiness:
        """Database reachable, and every owned scope's hot pass fresh (< 3 poll intervals)."""
        reasons: list[str] = []
        failing = False
        try:
            await asyncio.wait_for(
                self.ctx.read(lambda conn: conn.execute(text("SELECT 1"))), timeout=5
            )
        except Exception as exc:
            reasons.append(f"database unreachable: {type(exc).__name__}")
            failing = True
        limit = 3 * self.settings.sync.poll_interval_s
        now = time.monotonic()
        owned = self.leases.held()
        for scope in self.scopes:
            key = scope_key(scope)
            if owned != {"*"} and key not in owned:
                continue  # another instance serves it
            last = self._last_hot.get(key)
            error = self._hot_error.get(key)
            cause = f"; failing: {error}" if error else ""
            if last is None and error:
                reasons.append(f"{key}: failing: hot pass failed ({error})")
                failing = True
            elif last is None:
                if now - self._started > limit:
                    reasons.append(f"{key}: no successful hot pass since start")
                    failing = True
                else:
                    reasons.append(f"{key}: starting (first hot pass not done yet)")
            elif now - last > limit:
                reasons.append(f"{key}: last successful hot pass {now - last:.0f}s ago{cause}")
                failing = True
        return Readiness(not reasons, tuple(reasons), failing=failing)

    async def refresh_sink_metrics(self) -> None:
        """Backlog and dead letters per sink, and the mirror's freshness, for ``/metrics``."""
        sinks = await self.ctx.read(lambda conn: sink_status(conn, self.settings))
        self.metrics.set_sink_state(sinks)
        now = self.ctx.clock()
        workspaces, heads = await self.ctx.read(
            lambda conn: (workspace_freshness(conn, self.settings, now), head_reads(conn))
        )
        self.metrics.set_freshness(workspaces, heads)
