"""A walk's page writes in the write worker process end exactly as written in-process.

``OFFLOAD_FROM_PAGE`` is lowered so even a small walk hands its pages to the worker; the mirror and
the outbox must equal those of a walk that wrote every page in-process (same simulator seed), on
SQLite and on PostgreSQL. A failure in the worker fails the pass with its reason, and the walk
resumes from the last committed page.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, make_url, select
from sync_support import events, make_settings, mirror_snapshot, sync, wipe

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.store import tables
from syncd.sync import reconcile
from syncd.sync.offload import WriteOffload, offloadable
from syncd.sync.runner import sync_once
from syncd.sync.session import open_sync

pytestmark = pytest.mark.usefixtures("isolated_config")

CONVERSATIONS = 350  # four pages


def simulator() -> Simulator:
    return Simulator(SimConfig(seed=5, conversations=CONVERSATIONS, messages_per_conversation=3))


def outcome(engine: Engine) -> tuple[dict[str, list[tuple[Any, ...]]], Counter[tuple[str, str]]]:
    told = Counter((e["type"], e["subject_id"]) for e in events(engine))
    return mirror_snapshot(engine), told


async def backfill(db_url: str, *, offload_from: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """A first sync against a fresh simulator; returns the transactions the worker committed."""
    monkeypatch.setattr(reconcile, "OFFLOAD_FROM_PAGE", offload_from)
    with SimServer(simulator()) as server:
        async with open_sync(make_settings(server.base_url, db_url)) as ctx:
            await sync(ctx)
            return ctx.offloaded_writes


async def test_offloaded_walk_equals_the_in_process_walk(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await backfill(db_url, offload_from=10_000, monkeypatch=monkeypatch) == 0
    in_process = outcome(engine)
    wipe(engine)
    # The first page is written in-process, every later one (three or more) in the worker.
    assert await backfill(db_url, offload_from=1, monkeypatch=monkeypatch) >= 3
    offloaded = outcome(engine)
    assert offloaded[0] == in_process[0]
    assert offloaded[1] == in_process[1]
    assert sum(offloaded[1].values()) > CONVERSATIONS
    assert all(n == 1 for n in offloaded[1].values()), "nothing is told twice"


async def test_a_failing_worker_write_fails_the_pass_and_the_walk_resumes(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconcile, "OFFLOAD_FROM_PAGE", 2)
    # The third page is the worker's first unit; it fails there (the stand-in is pickled by
    # name and imported by the worker).
    monkeypatch.setattr(reconcile, "write_walked_page", _fails_on_third_page)
    with SimServer(simulator()) as server:
        settings = make_settings(server.base_url, db_url)
        async with open_sync(settings) as ctx:
            results = await sync_once(ctx)
        walk = next(r for r in results if r.stream == "reconcile")
        assert not walk.ok
        assert walk.error is not None and "disk on fire" in walk.error
        with engine.connect() as conn:
            state = conn.execute(
                tables.sync_state.select().where(tables.sync_state.c.stream == "reconcile")
            ).one()
        assert state.cursor is not None, "the first two pages' checkpoint is kept"
        monkeypatch.setattr(reconcile, "write_walked_page", _real_write_walked_page)
        async with open_sync(settings) as ctx:
            await sync(ctx)
    with engine.connect() as conn:
        mirrored = conn.scalar(select(func.count()).select_from(tables.conversations))
    assert mirrored == CONVERSATIONS


_real_write_walked_page = reconcile.write_walked_page


def _fails_on_third_page(conn: Connection, **page: Any) -> Any:
    """``write_walked_page``, failing for the third page (two pages, 200 rows, committed)."""
    committed = conn.scalar(select(func.count()).select_from(tables.conversations))
    if committed == 200:
        raise RuntimeError("disk on fire")
    return _real_write_walked_page(conn, **page)


def test_an_in_memory_database_is_never_offloaded(tmp_path: Path) -> None:
    assert not offloadable(make_url("sqlite://"))
    assert not offloadable(make_url("sqlite:///:memory:"))
    assert offloadable(make_url(f"sqlite:///{tmp_path / 'x.db'}"))
    assert offloadable(make_url("postgresql+psycopg://u@localhost/db"))
    with pytest.raises(ValueError, match="in-memory"):
        WriteOffload(make_settings("http://127.0.0.1:1", "sqlite://"), make_url("sqlite://"))
