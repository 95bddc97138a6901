"""Logging as the settings say: their level and format, every configured secret masked."""

from __future__ import annotations

from syncd.config.secrets import secret_values
from syncd.config.settings import Settings
from syncd.logging import configure_logging


def configure_logging_for(settings: Settings, level: str | None = None) -> None:
    """``syncd.logging.configure_logging`` by ``settings`` (at ``level`` when given), with every
    secret they hold masked wherever it would appear."""
    configure_logging(
        level or settings.logging.level, settings.logging.format, secrets=secret_values(settings)
    )
