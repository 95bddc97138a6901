"""Building a dispatcher from the settings, and the delivery step at the end of ``syncd sync``."""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Protocol, TextIO

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from syncd.clock import Clock, utc_now
from syncd.config import Settings, StdoutSinkSettings
from syncd.errors import SyncdError
from syncd.events.dispatcher import DeliveryHook, Dispatcher
from syncd.events.report import SinkReport
from syncd.events.rules import SinkRule
from syncd.events.sink_status import describe_delivery, sink_status
from syncd.events.sinks import Sink, build_sink
from syncd.store.engine import DEFERRED

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


def report_stream(settings: Settings) -> TextIO:
    """Where ``syncd sync`` prints its summary: stderr when a stdout sink owns stdout."""
    owns_stdout = any(isinstance(sink, StdoutSinkSettings) for sink in settings.sinks)
    return sys.stderr if owns_stdout else sys.stdout


async def deliver_after_sync(ctx: DeliveryContext) -> dict[str, SinkReport]:
    """Deliver pending events to every sink, retrying for at most ``events.drain_timeout_s``.

    Prints one line per sink; never raises for a delivery problem (the exit code of
    ``syncd sync`` reflects the sync only).
    """
    settings = ctx.settings
    if not settings.sinks:
        return {}
    reports: dict[str, SinkReport] = {}
    out = report_stream(settings)
    dispatcher, broken = build_dispatcher(ctx.engine, settings, clock=ctx.clock)
    try:
        async with dispatcher:
            reports = await dispatcher.drain(settings.events.drain_timeout_s)
            await dispatcher.prune()
        statuses = await asyncio.to_thread(_read_status, ctx.engine, settings)
    except (SQLAlchemyError, SyncdError) as exc:
        log.error("delivery_failed", error=str(exc))
        print(f"{LABEL:<14} FAILED: {exc}", file=out)
        return reports
    for status in statuses:
        name = status["name"]
        if name in broken:
            print(f"{LABEL:<14} {name}: not built: {broken[name]}", file=out)
            continue
        delivered = reports[name].delivered if name in reports else 0
        print(f"{LABEL:<14} {name}: {describe_delivery(delivered, status)}", file=out)
    return reports


def _read_status(engine: Engine, settings: Settings) -> list[dict[str, object]]:
    with engine.execution_options(**DEFERRED).connect() as conn, conn.begin():
        return sink_status(conn, settings)
