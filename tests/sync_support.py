"""Helpers for the sync engine's integration tests (tests/test_sync_*.py).

Real HTTP to an in-process ``SimServer`` on 127.0.0.1, a real database (``db_url``), no mocks:
settings for an in-process sync, the environment of a ``syncd sync`` subprocess, snapshots of
the mirror and of the outbox to compare, the request budget of README.md, bounded polling.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import SYNCD, subprocess_env
from sqlalchemy import Engine, func, select

from syncd.config import Settings, load_settings
from syncd.sim import SimConfig, SimServer, Simulator
from syncd.store import tables
from syncd.sync.context import SyncContext
from syncd.sync.plan import hot_statuses
from syncd.sync.result import PassResult
from syncd.sync.runner import sync_once
from syncd.sync.session import open_sync

# Looks like a real key (the simulator accepts it); long enough to be found if it ever leaks.
TOKEN = "sf_test_v1_IntegrationKey7f3a9c0d2e5b"
TERMINAL = ("resolved", "closed", "abandoned")
PAGE = 100

# Fast enough that the client's own budget never slows a test down.
API_LIMITS: dict[str, Any] = {"max_requests_per_s": 5000, "max_concurrency": 16, "timeout_s": 10}

# Columns that record when syncd looked, not what it saw: left out when mirrors are compared.
OBSERVATION_COLUMNS = frozenset(
    {
        "synced_at",
        "last_listed_at",
        "observed_at",
        "taken_at",
        "refreshed_at",
        "attachments_check_at",
        "attachments_backoff_s",
    }
)
MIRROR_TABLES = (
    "conversations",
    "contacts",
    "accounts",
    "messages",
    "attachments",
    "attention_items",
    "context_entries",
    "conversation_status_history",
    "status_count_snapshots",
)


# --- settings and running -----------------------------------------------------------------------


class StepClock:
    """A clock for ``SyncContext.clock`` that moves only when told (real time at the start)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(tz=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move on by ``seconds``; returns the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now


def make_settings(base_url: str, db_url: str, **sync: Any) -> Settings:
    """Settings for an in-process sync against the simulator (needs ``isolated_config``).

    The refresh stream is off unless ``refresh_interval_s`` is given: its share depends on the
    time between passes, and the tests that count requests need exact counts (the refresh
    tests drive it with a clock of their own).
    """
    sync.setdefault("refresh_interval_s", 0)
    return load_settings(
        api={"base_url": base_url, "token": TOKEN, **API_LIMITS},
        database={"url": db_url},
        sync=sync,
    )


async def sync(ctx: SyncContext, **options: Any) -> list[PassResult]:
    """``sync_once`` and a check that every pass succeeded."""
    results = await sync_once(ctx, **options)
    failed = [r for r in results if not r.ok]
    assert not failed, [f"{r.stream} {r.scope}: {r.error}" for r in failed]
    return results


@asynccontextmanager
async def synced(server: SimServer, db_url: str) -> AsyncIterator[SyncContext]:
    """A sync session against ``server`` (needs ``isolated_config``), after a first ``sync``."""
    async with open_sync(make_settings(server.base_url, db_url)) as ctx:
        await sync(ctx)
        yield ctx


def syncd_env(db_url: str, base_url: str, token: str = TOKEN, **extra: str) -> dict[str, str]:
    """Environment of a ``syncd`` subprocess pointed at the simulator and at ``db_url``."""
    env = subprocess_env(db_url)
    env.update(
        SYNCD_API__BASE_URL=base_url,
        SYNCD_API__TOKEN=token,
        SYNCD_API__MAX_REQUESTS_PER_S=str(API_LIMITS["max_requests_per_s"]),
        SYNCD_API__MAX_CONCURRENCY=str(API_LIMITS["max_concurrency"]),
        SYNCD_API__TIMEOUT_S=str(API_LIMITS["timeout_s"]),
        SYNCD_EVENTS__DRAIN_TIMEOUT_S="0",
    )
    env.update(extra)
    return env


def run_syncd(
    args: Sequence[str], env: Mapping[str, str], cwd: Any, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``syncd ARGS`` to completion, capturing its output."""
    return subprocess.run(
        [*SYNCD, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- the simulator ------------------------------------------------------------------------------


def settle_attachments(sim: Simulator) -> None:
    """Every attachment ``ready``: conversations with unsettled ones are re-read every pass."""
    with sim.lock:
        for attachment_id, attachment in list(sim.world.attachments.items()):
            if attachment.status != "ready":
                sim.set_attachment_status(attachment_id, "ready")


def server_fixture(**config: Any) -> Any:
    """A ``server`` fixture: for each test, a fresh ``Simulator(SimConfig(**config))`` with its
    attachments settled, served on 127.0.0.1.

    In a test module: ``server = server_fixture(seed=12, conversations=60)``.
    """

    @pytest.fixture
    def server() -> Iterator[SimServer]:
        sim = Simulator(SimConfig(**config))
        settle_attachments(sim)
        with SimServer(sim) as running:
            yield running

    return server


def conversations_in(sim: Simulator, status: str, workspace_id: str | None = None) -> list[str]:
    """Live conversation ids of one status (and workspace), sorted."""
    return sim.conversation_ids(status=status, workspace_id=workspace_id)


def status_counts(sim: Simulator, workspace_id: str | None) -> Counter[str]:
    """Per status, the simulator's live conversations in a workspace (None: all of them)."""
    workspaces = [workspace_id] if workspace_id is not None else sim.workspace_ids()
    total: Counter[str] = Counter()
    for workspace in workspaces:
        total.update({k: v for k, v in sim.status_counts(workspace).items() if v})
    return total


def idle_cost(sim: Simulator, workspaces: Sequence[str]) -> Counter[str]:
    """The cost goal of an idle ``syncd sync`` (status counts due), by route.

    Per scope (each configured workspace, or the whole key when none is configured): for each
    non-terminal status, max(1, ceil(n / 100)) list requests, plus one head page of the
    unfiltered list; two attention requests (open, acknowledged). Plus one status-counts
    request per workspace. (The refresh share and unsettled attachments come on top.)
    """
    scopes: list[str | None] = list(workspaces) or [None]
    cost: Counter[str] = Counter()
    for scope in scopes:
        counts = status_counts(sim, scope)
        for status in hot_statuses(counts, TERMINAL):
            cost["list_conversations"] += max(1, math.ceil(counts[status] / PAGE))
        cost["list_conversations"] += 1
        cost["list_attention_items"] += 2
    cost["status_counts"] += len(workspaces or sim.workspace_ids())
    return cost


# --- the database -------------------------------------------------------------------------------


def _comparable(value: Any) -> Any:
    return repr(value)


def mirror_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every mirror table's rows, sorted, without the columns that say when syncd looked."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name in MIRROR_TABLES:
            table = tables.metadata.tables[name]
            columns = [c for c in table.columns if c.name not in OBSERVATION_COLUMNS]
            rows = conn.execute(select(*columns)).all()
            snapshot[name] = sorted(
                (tuple((c.name, _comparable(v)) for c, v in zip(columns, row, strict=True)))
                for row in rows
            )
    return snapshot


def wipe(engine: Engine) -> None:
    """Delete every row syncd wrote (the schema and its revision stay)."""
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(table.delete())


def events(engine: Engine) -> list[dict[str, Any]]:
    """The outbox in delivery order."""
    e = tables.events
    with engine.connect() as conn:
        rows = conn.execute(select(e).order_by(e.c.seq)).mappings().all()
    return [dict(row) for row in rows]


def event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(tables.events)) or 0)


def events_after(engine: Engine, count: int) -> list[dict[str, Any]]:
    """Events written after the first ``count``."""
    return events(engine)[count:]


def find_conversation(engine: Engine, conversation_id: str) -> dict[str, Any] | None:
    """The mirror's row of a conversation, or None."""
    c = tables.conversations
    with engine.connect() as conn:
        row = conn.execute(select(c).where(c.c.id == conversation_id)).mappings().first()
    return dict(row) if row is not None else None


def conversation(engine: Engine, conversation_id: str) -> dict[str, Any]:
    """The mirror's row of a conversation that must be there."""
    row = find_conversation(engine, conversation_id)
    assert row is not None, f"conversation {conversation_id} is not in the mirror"
    return row


def count_rows(engine: Engine, table: str, **where: Any) -> int:
    t = tables.metadata.tables[table]
    query = select(func.count()).select_from(t)
    for column, value in where.items():
        query = query.where(t.c[column] == value)
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)


def mirror_status_counts(engine: Engine, workspace_id: str) -> Counter[str]:
    """Live, announced conversations of a workspace per status."""
    c = tables.conversations
    query = (
        select(c.c.status, func.count())
        .where(
            c.c.workspace_id == workspace_id,
            c.c.deleted_at.is_(None),
            c.c.fingerprint.is_not(None),
        )
        .group_by(c.c.status)
    )
    with engine.connect() as conn:
        return Counter({str(status): int(n) for status, n in conn.execute(query)})


def types_of(rows: Iterable[Mapping[str, Any]]) -> Counter[str]:
    return Counter(str(row["type"]) for row in rows)
