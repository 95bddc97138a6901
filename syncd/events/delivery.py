"""Building a dispatcher from the settings; the delivery step at the end of ``syncd sync`` and
after ``syncd events replay``. Results are returned as data: the commands print them."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from syncd.clock import Clock, utc_now
from syncd.config import Settings
from syncd.errors import SyncdError
from syncd.events.dispatcher import DeliveryHook, Dispatcher
from syncd.events.report import SinkReport
from syncd.events.rules import SinkRule
from syncd.events.sink_status import describe_delivery, sink_status
from syncd.events.sinks import Sink, build_sink
from syncd.store.opening import read

log = structlog.get_logger(__name__)

LABEL = "delivery"


class DeliveryContext(Protocol):
    """What the delivery step needs of its caller (``SyncContext`` has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def clock(self) -> Clock: ...


def build_dispatcher(
    engine: Engine,
    settings: Settings,
    *,
    only: str | None = None,
    clock: Clock = utc_now,
    rng: random.Random | None = None,
    on_delivery: DeliveryHook | None = None,
) -> tuple[Dispatcher, dict[str, str]]:
    """A dispatcher for the configured sinks (or sink ``only``), and the sinks it could not build.

    A sink that cannot be built (say, nats-py missing) is left out with its error; it still
    holds retention, so its events wait for it.
    """
    lanes: list[tuple[SinkRule, Sink]] = []
    broken: dict[str, str] = {}
    for entry in settings.sinks:
        if only is not None and entry.name != only:
            continue
        try:
            lanes.append((SinkRule.from_settings(entry), build_sink(entry)))
        except SyncdError as exc:
            broken[entry.name] = str(exc)
    dispatcher = Dispatcher(
        engine,
        lanes,
        clock=clock,
        rng=rng,
        retention_days=settings.events.retention_days,
        retained_for=[entry.name for entry in settings.sinks],
        on_delivery=on_delivery,
    )
    return dispatcher, broken


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What a delivery step did: a report per sink, and one summary line per sink."""

    reports: dict[str, SinkReport] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def delivery_line(name: str, text: str) -> str:
    """A sink's summary line: ``delivery       NAME: TEXT``."""
    return f"{LABEL:<14} {name}: {text}"


async def deliver_pending(ctx: DeliveryContext) -> DeliveryOutcome:
    """Deliver pending events to every sink, retrying for at most ``events.drain_timeout_s``.

    Never raises for a delivery problem (the exit code of ``syncd sync`` reflects the sync
    only): a failure of the whole step is one summary line.
    """
    settings = ctx.settings
    if not settings.sinks:
        return DeliveryOutcome()
    reports: dict[str, SinkReport] = {}
    dispatcher, broken = build_dispatcher(ctx.engine, settings, clock=ctx.clock)
    try:
        async with dispatcher:
            reports = await dispatcher.drain(settings.events.drain_timeout_s)
            await dispatcher.prune()
        statuses = await asyncio.to_thread(read_sink_status, ctx.engine, settings)
    except (SQLAlchemyError, SyncdError) as exc:
        log.error("delivery_failed", error=str(exc))
        return DeliveryOutcome(reports, [f"{LABEL:<14} FAILED: {exc}"])
    lines = []
    for status in statuses:
        name = str(status["name"])
        if name in broken:
            lines.append(delivery_line(name, f"not built: {broken[name]}"))
            continue
        delivered = reports[name].delivered if name in reports else 0
        lines.append(delivery_line(name, describe_delivery(delivered, status)))
    return DeliveryOutcome(reports, lines)


async def deliver_to(engine: Engine, settings: Settings, name: str) -> str:
    """Deliver sink ``name``'s pending events (for at most ``events.drain_timeout_s``); its
    summary line. A StoreError when the database fails, a SyncdError when the sink cannot be
    built."""
    dispatcher, broken = build_dispatcher(engine, settings, only=name)
    if broken:
        raise SyncdError(f"sink {name} cannot be built: {broken[name]}")
    async with dispatcher:
        reports = await dispatcher.drain(settings.events.drain_timeout_s)
    statuses = await asyncio.to_thread(read_sink_status, engine, settings)
    found = next(status for status in statuses if status["name"] == name)
    return delivery_line(name, describe_delivery(reports[name].delivered, found))


def read_sink_status(engine: Engine, settings: Settings) -> list[dict[str, object]]:
    """Every configured sink's delivery state, read in one transaction."""
    return read(engine, lambda conn: sink_status(conn, settings))
