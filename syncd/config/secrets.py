"""Secrets in the settings: which values to mask everywhere, and the configuration as it may
be shown (``syncd config check``, errors): every secret ``***``, URL passwords and query values
masked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd.masking import MASK, redact
from syncd.urls import mask_url, strip_credentials

if TYPE_CHECKING:
    from syncd.config.settings import Settings


def secret_values(settings: Settings) -> list[str]:
    """Every secret in the settings, for ``syncd.logging`` to mask wherever it would appear."""
    found: list[str] = []
    if settings.api.token is not None:
        found.append(settings.api.token.get_secret_value())
    if settings.privacy.hash_key is not None:
        found.append(settings.privacy.hash_key.get_secret_value())
    password = _database_password(settings.database.url.get_secret_value())
    if password:
        found.append(password)
    for sink in settings.sinks:
        found.extend(sink.secret_values())
    return found


def _database_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    return make_url(url).password


def redacted_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, every secret shown as ``***``."""
    data: dict[str, Any] = _paths_as_text(redact(settings.model_dump(mode="python")))
    data["api"]["base_url"] = mask_url(settings.api.base_url, MASK)
    data["database"]["url"] = safe_database_url(settings.database.url.get_secret_value())
    # name and type first: they say which sink the block is.
    data["sinks"] = [
        {"name": sink.pop("name"), "type": sink.pop("type"), **sink} for sink in data["sinks"]
    ]
    for sink, entry in zip(data["sinks"], settings.sinks, strict=True):
        shown = entry.shown_url()
        if shown is not None:
            sink["url"] = shown
        if "headers" in sink:
            sink["headers"] = {name: MASK for name in sink["headers"]}
    return data


def safe_database_url(url: str) -> str:
    """The database URL with any password masked, for display."""
    return strip_credentials(url, mask=MASK)


def _paths_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _paths_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_paths_as_text(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
