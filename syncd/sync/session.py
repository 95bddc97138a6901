"""Opening everything a sync needs from the settings, and closing it again."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine

from syncd.api import OhalloClient
from syncd.config import Settings
from syncd.store.opening import opened
from syncd.sync.context import SyncContext


@asynccontextmanager
async def open_sync(
    settings: Settings,
    client_options: dict[str, Any] | None = None,
    *,
    engine: Engine | None = None,
    **context: Any,
) -> AsyncIterator[SyncContext]:
    """Engine (migrated when ``database.auto_migrate``; ``engine``: the caller's, left open),
    API client, and the SyncContext."""
    settings.api.require_token()
    with contextlib.ExitStack() as stack:
        if engine is None:
            engine = stack.enter_context(opened(settings))
        async with OhalloClient.from_settings(settings.api, **(client_options or {})) as client:
            yield SyncContext(settings=settings, engine=engine, client=client, **context)
