"""The outbox dispatcher: reads ``events`` in ``seq`` order for every sink, from its own position.

Per sink, one round (``deliver_due``) sends the events after the sink's position in batches of
at most ``sink.max_batch``, passing over events the sink does not want, and commits the position
only after the sink acknowledged (a crash re-sends, with the same event id; it never skips).

A failed attempt stops that sink at its head event until ``next_attempt_at`` (the backoff
schedule, honouring ``Retry-After``); while the head is failing it is sent alone. After
``max_attempts`` an **unordered** sink parks the event as a dead letter and goes on; an
**ordered** sink never skips: it keeps retrying the head at the longest interval and shows as
stuck in ``syncd status`` until the receiver takes it (or ``syncd events replay --dead`` asks
for an immediate retry). A ``SinkGone`` (webhook 410) disables the sink.

``deliver_due(now)`` is one round at a given time (tests drive virtual time with it), ``drain``
is what ``syncd sync`` does after a pass, ``run`` is the daemon's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Concatenate, ParamSpec, TypeVar

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from syncd.backoff import DEFAULT_BACKOFF, BackoffPolicy
from syncd.clock import Clock, utc_now
from syncd.errors import SyncdError
from syncd.events import ledger
from syncd.events.envelope import OutboxEvent
from syncd.events.report import SinkReport
from syncd.events.retention import prune_events
from syncd.events.rules import SinkRule
from syncd.events.sinks.base import RetryableDelivery, Sink, SinkGone
from syncd.store.engine import DEFERRED

log = structlog.get_logger(__name__)

P = ParamSpec("P")
DeliveryHook = Callable[[str, str, int], None]
"""Called with (sink, outcome, count) for ``delivered``, ``failed`` and ``dead`` (metrics)."""
T = TypeVar("T")

FETCH_SIZE = 500
"""Events read from the outbox per query."""
COMMIT_EVERY = 200
"""Acknowledged events per position commit (at most this many are re-sent after a crash)."""
REPLAY_BATCH = 100
"""Queued dead letters taken per round."""
IDLE_POLL_S = 30.0
"""The daemon looks for events committed by other processes at least this often."""
STALL_WAIT_S = 1.0
"""Pause when work is due but a round could do nothing (another process holds the sink)."""
RETENTION_EVERY_S = 3600.0
"""How often the daemon prunes the outbox."""


@dataclass(slots=True)
class _Lane:
    rule: SinkRule
    sink: Sink
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Dispatcher:
    """Delivers the outbox to a set of sinks; the sinks are owned (started, closed) by it."""

    def __init__(
        self,
        engine: Engine,
        sinks: Sequence[tuple[SinkRule, Sink]],
        *,
        clock: Clock = utc_now,
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
        rng: random.Random | None = None,
        fetch_size: int = FETCH_SIZE,
        commit_every: int = COMMIT_EVERY,
        retention_days: float | None = None,
        retained_for: Sequence[str] = (),
        on_delivery: DeliveryHook | None = None,
    ) -> None:
        names = [rule.name for rule, _ in sinks]
        if len(set(names)) != len(names):
            raise ValueError("sink names must be unique")
        self._engine = engine
        self._lanes = [_Lane(rule, sink) for rule, sink in sinks]
        self._names = names
        self._clock = clock
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._fetch_size = fetch_size
        self._commit_every = commit_every
        self._retention_days = retention_days
        # Every configured sink holds retention, also one that could not be built.
        self._retained_for = list(retained_for) or names
        self._on_delivery = on_delivery
        self._stopping = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def rules(self) -> list[SinkRule]:
        """The rules of the dispatcher's sinks."""
        return [lane.rule for lane in self._lanes]

    async def start(self) -> None:
        """Create the sinks' state rows and start every sink (a failing start is retried later)."""
        latest = [lane.rule.name for lane in self._lanes if lane.rule.start == "latest"]
        await self._write(
            ledger.ensure_states, [lane.rule.name for lane in self._lanes], at_latest=latest
        )
        for lane in self._lanes:
            try:
                await lane.sink.start()
            except Exception as exc:  # deliver() retries the preparation
                log.warning("sink_start_failed", sink=lane.rule.name, error=_failure_text(exc))

    async def close(self) -> None:
        """Close every sink."""
        self._stopping = True
        for lane in self._lanes:
            try:
                await lane.sink.close()
            except Exception as exc:
                log.warning("sink_close_failed", sink=lane.rule.name, error=_describe(exc))

    async def __aenter__(self) -> Dispatcher:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def wake(self) -> None:
        """New events were committed: start a round now (safe to call from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
            loop.call_soon_threadsafe(self._wake.set)

    async def deliver_due(
        self, now: datetime | None = None, *, force: bool = False
    ) -> dict[str, SinkReport]:
        """One round for every sink: send what is due at ``now`` (``force``: ignore backoff)."""
        at: Clock = (lambda: now) if now is not None else self._clock
        reports = await asyncio.gather(*(self._round(lane, at, force) for lane in self._lanes))
        return {report.sink: report for report in reports}

    async def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due (None: every sink is caught up or disabled)."""
        return await self._read(ledger.next_due, self._names, self._clock())

    async def drain(
        self,
        timeout_s: float,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> dict[str, SinkReport]:
        """Try everything now, then keep retrying on the schedule for at most ``timeout_s``."""
        deadline = monotonic() + timeout_s
        reports = await self.deliver_due(force=True)
        while not self._stopping:
            due = await self.next_due()
            if due is None:
                break
            wait = max(0.0, (due - self._clock()).total_seconds())
            if monotonic() + wait > deadline:
                break
            if wait > 0:
                await sleep(wait)
            latest = await self.deliver_due()
            for name, report in latest.items():
                reports[name].merge(report)
            if not any(report.progressed for report in latest.values()):
                # Due, yet nothing could be done (another process is delivering): don't spin.
                if monotonic() + STALL_WAIT_S > deadline:
                    break
                await sleep(STALL_WAIT_S)
        return reports

    async def run(self, stop: asyncio.Event) -> None:
        """The daemon's loop: rounds until ``stop`` is set, sleeping until due or woken."""
        self._loop = asyncio.get_running_loop()
        last_prune = -RETENTION_EVERY_S
        while not stop.is_set():
            self._wake.clear()
            wait = IDLE_POLL_S
            try:
                reports = await self.deliver_due()
                if time.monotonic() - last_prune >= RETENTION_EVERY_S:
                    last_prune = time.monotonic()
                    await self.prune()
                due = await self.next_due()
                if due is not None:
                    wait = min(wait, max(0.0, (due - self._clock()).total_seconds()))
                    if wait == 0 and not any(r.progressed for r in reports.values()):
                        wait = STALL_WAIT_S
            except (SQLAlchemyError, SyncdError) as exc:  # the database is away: keep going
                log.error("dispatcher_round_failed", error=_describe(exc))
                wait = STALL_WAIT_S * 5
            except Exception as exc:  # a bug: keep the daemon alive, but show where it is
                log.error("dispatcher_round_crashed", error=_describe(exc), exc_info=exc)
                wait = STALL_WAIT_S * 5
            if wait > 0:
                await self._sleep(stop, wait)

    async def prune(self) -> int:
        """Prune the outbox as ``events.retention_days`` allows; return how many events went."""
        if self._retention_days is None:
            return 0
        return await self._write(
            prune_events, self._retained_for, self._retention_days, self._clock()
        )

    # --- one sink ---------------------------------------------------------------------------

    async def _round(self, lane: _Lane, at: Clock, force: bool) -> SinkReport:
        report = SinkReport(lane.rule.name)
        async with lane.lock:
            await self._deliver_replays(lane, at, force, report)
            if not report.disabled:
                await self._deliver_stream(lane, at, force, report)
        return report

    async def _deliver_stream(
        self, lane: _Lane, at: Clock, force: bool, report: SinkReport
    ) -> None:
        state = await self._read(ledger.read_state, lane.rule.name)
        if state.disabled_at is not None:
            report.disabled = True
            return
        if not force and state.next_attempt_at is not None and state.next_attempt_at > at():
            return
        position: int | None = state.position
        attempts = state.head_attempts
        while position is not None and not self._stopping:
            chunk = await self._read(ledger.events_after, position, self._fetch_size)
            if not chunk:
                return
            position, attempts = await self._deliver_chunk(
                lane, chunk, position, attempts, at, report
            )

    async def _deliver_chunk(
        self,
        lane: _Lane,
        chunk: Sequence[OutboxEvent],
        position: int,
        attempts: int,
        at: Clock,
        report: SinkReport,
    ) -> tuple[int | None, int]:
        """Deliver one chunk; the new (position, head attempts), or (None, _) to stop."""
        rule, sink, name = lane.rule, lane.sink, lane.rule.name
        committed = cursor = position
        done: list[tuple[OutboxEvent, int]] = []

        async def commit() -> bool:
            nonlocal committed, done
            if cursor == committed:
                return True
            moved = await self._write(
                ledger.advance, name, expected=committed, position=cursor, delivered=done, now=at()
            )
            if not moved:
                log.warning("sink_position_moved_elsewhere", sink=name, expected=committed)
                return False
            report.delivered += len(done)
            self._count(name, "delivered", len(done))
            committed, done = cursor, []
            return True

        index = 0
        while index < len(chunk) and not self._stopping:
            limit = 1 if attempts else max(1, sink.max_batch)
            batch: list[OutboxEvent] = []
            end = cursor
            while index < len(chunk) and len(batch) < limit:
                event = chunk[index]
                if rule.wants(event.type, event.backfill):
                    batch.append(event)
                else:
                    report.passed_over += 1
                end = event.seq
                index += 1
            if batch:
                try:
                    await sink.deliver(batch)
                except Exception as exc:
                    if not await commit():
                        return None, 0
                    return await self._failed(lane, exc, committed, batch, attempts + 1, at, report)
                done.extend((event, attempts + 1) for event in batch)
                attempts = 0
            cursor = end
            if len(done) >= self._commit_every and not await commit():
                return None, 0
        return (cursor if await commit() else None), attempts

    async def _failed(
        self,
        lane: _Lane,
        exc: Exception,
        position: int,
        batch: Sequence[OutboxEvent],
        attempt: int,
        at: Clock,
        report: SinkReport,
    ) -> tuple[int | None, int]:
        rule, name, head = lane.rule, lane.rule.name, batch[0]
        error, retry_after = _failure(name, exc)
        report.failed_attempts += 1
        report.last_error = error
        now = at()
        self._count(name, "failed", 1)
        if isinstance(exc, SinkGone):
            await self._write(
                ledger.record_gone, name, position=position, head=head, attempt=attempt,
                error=error, now=now,
            )  # fmt: skip
            report.disabled = True
            log.error("sink_disabled", sink=name, event_id=head.id, error=error)
            return None, 0
        if not rule.ordered and attempt >= rule.max_attempts and len(batch) == 1:
            dead = await self._write(
                ledger.record_dead, name, position=position, head=head, attempt=attempt,
                error=error, now=now,
            )  # fmt: skip
            if not dead:
                return None, 0
            report.dead += 1
            self._count(name, "dead", 1)
            log.warning("event_dead_lettered", sink=name, event_id=head.id, attempts=attempt)
            return head.seq, 0
        delay = self._backoff.delay(attempt, retry_after=retry_after, rng=self._rng)
        await self._write(
            ledger.record_failure, name, position=position, head=head, attempt=attempt,
            error=error, now=now, next_attempt_at=now + timedelta(seconds=delay),
        )  # fmt: skip
        log.warning(
            "delivery_failed" if attempt < rule.max_attempts else "sink_stuck",
            sink=name,
            event_id=head.id,
            attempt=attempt,
            retry_in_s=round(delay, 1),
            error=error,
        )
        return None, 0

    async def _deliver_replays(
        self, lane: _Lane, at: Clock, force: bool, report: SinkReport
    ) -> None:
        name = lane.rule.name
        state = await self._read(ledger.read_state, name)
        if state.disabled_at is not None:
            report.disabled = True
            return
        replays = await self._read(
            ledger.due_replays, name, now=at(), force=force, limit=REPLAY_BATCH
        )
        for replay in replays:
            if self._stopping:
                return
            attempt = replay.attempts + 1
            try:
                await lane.sink.deliver([replay.event])
            except Exception as exc:
                error, retry_after = _failure(name, exc)
                report.failed_attempts += 1
                report.last_error = error
                now = at()
                self._count(name, "failed", 1)
                if isinstance(exc, SinkGone):
                    await self._write(ledger.disable, name, error=error, now=now)
                    report.disabled = True
                    return
                next_at = None
                if attempt < lane.rule.max_attempts:
                    delay = self._backoff.delay(attempt, retry_after=retry_after, rng=self._rng)
                    next_at = now + timedelta(seconds=delay)
                else:
                    report.dead += 1
                    self._count(name, "dead", 1)
                await self._write(
                    ledger.finish_replay, name, replay, attempt=attempt, now=now, error=error,
                    next_attempt_at=next_at,
                )  # fmt: skip
            else:
                report.delivered += 1
                self._count(name, "delivered", 1)
                await self._write(ledger.finish_replay, name, replay, attempt=attempt, now=at())

    def _count(self, sink: str, outcome: str, count: int) -> None:
        if self._on_delivery is not None and count:
            try:
                self._on_delivery(sink, outcome, count)
            except Exception as exc:  # metrics must never break delivery
                log.warning("delivery_hook_failed", error=_describe(exc))

    # --- database ---------------------------------------------------------------------------

    async def _read(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        def call() -> T:
            with self._engine.execution_options(**DEFERRED).connect() as conn, conn.begin():
                return work(conn, *args, **kwargs)

        return await asyncio.to_thread(call)

    async def _write(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        def call() -> T:
            with self._engine.begin() as conn:
                return work(conn, *args, **kwargs)

        return await asyncio.to_thread(call)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)


def _failure(sink: str, exc: Exception) -> tuple[str, float | None]:
    """The error text and Retry-After of a failed attempt (an unexpected error is a bug)."""
    if isinstance(exc, RetryableDelivery):
        return exc.reason, exc.retry_after
    if isinstance(exc, SinkGone):
        return exc.reason, None
    log.error("sink_raised_unexpectedly", sink=sink, exc_info=exc)
    return f"sink {sink}: unexpected {_describe(exc)}", None


def _failure_text(exc: Exception) -> str:
    return exc.reason if isinstance(exc, RetryableDelivery | SinkGone) else _describe(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
