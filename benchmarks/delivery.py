"""Delivery throughput: events per second from the outbox to the file sink and to a webhook.

Fills a fresh outbox with realistic envelopes, then times the dispatcher delivering all of them
(reading, sending, committing positions and ``deliveries`` rows), once to a file sink and once
to a webhook receiver on loopback. Target: delivery is never the bottleneck of a sync, i.e. at
least 2,000 events/s to the file sink and 500 events/s to the webhook.

    python benchmarks/delivery.py [--events 20000] [--webhook-events 5000] [--database-url URL]

Without ``--database-url`` a temporary SQLite file is used; the PostgreSQL URL must name an
empty database (its tables are created and left behind).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from aiohttp import web
from sqlalchemy import Engine

from syncd.events.dispatcher import Dispatcher
from syncd.events.envelope import ChangeEvent
from syncd.events.outbox import append_events
from syncd.events.rules import SinkRule
from syncd.events.sinks import Sink
from syncd.events.sinks.file import FileSink
from syncd.events.sinks.webhook import WebhookSink
from syncd.logging import configure_logging
from syncd.store.engine import create_engine_for
from syncd.store.migrate import upgrade

FILE_TARGET = 2000.0
WEBHOOK_TARGET = 500.0


def fill_outbox(engine: Engine, count: int) -> None:
    """``count`` message events shaped like the API's, in chunks like a sync writes them."""
    moment = datetime.now(UTC)
    for start in range(0, count, 500):
        batch = [
            ChangeEvent(
                type="message.received",
                workspace_id="ws_bench",
                subject_id=f"msg_{n}",
                data={
                    "id": f"msg_{n}",
                    "conversationId": f"conv_{n // 10}",
                    "direction": "inbound",
                    "channel": "email",
                    "body": "Hallo, ich habe eine Frage zu meiner Rechnung. " * 4,
                    "sentAt": "2024-05-01T12:00:00.000Z",
                    "fromAddress": "kunde@example.org",
                },
                observed_at=moment,
            )
            for n in range(start, min(start + 500, count))
        ]
        with engine.begin() as conn:
            append_events(conn, batch)


async def time_delivery(engine: Engine, name: str, sink: Sink) -> tuple[int, float]:
    """Deliver the whole outbox to one fresh sink; (events delivered, seconds)."""
    async with Dispatcher(engine, [(SinkRule(name), sink)]) as dispatcher:
        started = time.perf_counter()
        report = (await dispatcher.deliver_due(force=True))[name]
        elapsed = time.perf_counter() - started
    if report.last_error:
        raise SystemExit(f"{name}: delivery failed: {report.last_error}")
    return report.delivered, elapsed


def serve_receiver(ports: Connection) -> None:
    """The webhook receiver process: aiohttp on 127.0.0.1, answering 204 to every POST."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hook", accept)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(serve())


@contextmanager
def receiver() -> Iterator[str]:
    """A webhook receiver in its own process (in this one it would compete for the GIL)."""
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=serve_receiver, args=(child,), daemon=True
    )
    process.start()
    try:
        if not parent.poll(60):
            raise SystemExit("the webhook receiver did not start")
        yield f"http://127.0.0.1:{parent.recv()}/hook"
    finally:
        process.terminate()
        process.join(30)


def report(label: str, delivered: int, elapsed: float, target: float) -> bool:
    rate = delivered / elapsed if elapsed else float("inf")
    verdict = "ok" if rate >= target else "BELOW TARGET"
    print(
        f"{label:<8} {delivered:>7} events in {elapsed:6.2f} s = {rate:8.0f} events/s "
        f"(target >= {target:.0f}): {verdict}"
    )
    return rate >= target


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events for the file sink")
    parser.add_argument("--webhook-events", type=int, default=5_000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    configure_logging("warning")
    with tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = create_engine_for(url)
        upgrade(engine)
        fill_outbox(engine, max(args.events, args.webhook_events))
        print(f"database {engine.dialect.name}, outbox filled")
        ok = report(
            "file",
            *await time_delivery(
                engine, "bench-file", FileSink("bench-file", Path(tmp) / "e.jsonl")
            ),
            FILE_TARGET,
        )
        with receiver() as hook_url:
            # The webhook gets only its share of the outbox: a sink that starts at a later seq.
            secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
            hook = WebhookSink("bench-hook", hook_url, [secret], timeout_s=15)
            total = max(args.events, args.webhook_events)
            with engine.begin() as conn:
                from syncd.events.ledger import ensure_states
                from syncd.store.tables import sink_state

                ensure_states(conn, ["bench-hook"])
                conn.execute(
                    sink_state.update()
                    .where(sink_state.c.sink == "bench-hook")
                    .values(position=total - args.webhook_events)
                )
            ok &= report(
                "webhook", *await time_delivery(engine, "bench-hook", hook), WEBHOOK_TARGET
            )
        engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
