"""Opening everything a sync needs from the settings, and closing it again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from syncd.api import OhalloClient
from syncd.config import Settings, secret_values
from syncd.logging import configure_logging
from syncd.store.opening import opened
from syncd.sync.context import SyncContext


def configure_for(settings: Settings, level: str | None = None) -> None:
    """Logging as the settings say (at ``level`` when given), with every configured secret
    masked."""
    configure_logging(
        level or settings.logging.level, settings.logging.format, secrets=secret_values(settings)
    )


@asynccontextmanager
async def open_sync(
    settings: Settings, client_options: dict[str, Any] | None = None, **context: Any
) -> AsyncIterator[SyncContext]:
    """Engine (migrated when ``database.auto_migrate``), API client, and the SyncContext."""
    settings.api.require_token()
    with opened(settings) as engine:
        async with OhalloClient.from_settings(settings.api, **(client_options or {})) as client:
            yield SyncContext(settings=settings, engine=engine, client=client, **context)
