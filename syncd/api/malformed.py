"""Logging the rows an API answer had that syncd could not read (the rule: logged with
what identifies them, then skipped)."""

from __future__ import annotations

from typing import Any

import structlog

from syncd.api.models import MalformedRow

log = structlog.get_logger("syncd.api.client")

PREVIEW_CHARS = 60  # of a row's lastMessagePreview, to find a row that has no id


def log_malformed(route: str, path: str, rows: tuple[MalformedRow, ...]) -> None:
    """One ``row_malformed`` warning per row: its id, or for a row without one its
    ``lastMessageAt``, the start of its ``lastMessagePreview``, workspace and status."""
    for row in rows:
        log.warning(
            "row_malformed",
            route=route,
            id=row.id,
            path=f"{path} {row.path}",
            error=row.error,
            **_identifying(row),
        )


def _identifying(row: MalformedRow) -> dict[str, Any]:
    """For a row without a usable id, what lets an operator find it in oHallo anyway."""
    if row.id is not None or not isinstance(row.raw, dict):
        return {}
    found: dict[str, Any] = {}
    for key, field in (
        ("lastMessageAt", "last_message_at"),
        ("workspaceId", "workspace_id"),
        ("status", "status"),
    ):
        if isinstance(row.raw.get(key), str | int | float):
            found[field] = row.raw[key]
    preview = row.raw.get("lastMessagePreview")
    if isinstance(preview, str):
        found["last_message_preview"] = preview[:PREVIEW_CHARS]
    return found
