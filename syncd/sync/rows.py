"""API-shaped objects (camelCase) → mirror rows (snake_case columns): pure and generic.

A column is filled from the API field of the same name in camelCase (``last_message_at`` ←
``lastMessageAt``); a field the API left out becomes NULL. Values were validated by the client's
models before they get here, so timestamps parse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from syncd.store.tables import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy import Table

# Columns that are syncd's bookkeeping, never filled from an API field.
BOOKKEEPING = frozenset(
    {
        "raw",
        "synced_at",
        "deleted_at",
        "fingerprint",
        "detail_error",
        "attachments_pending",
        "last_listed_at",
        "refreshed_at",
        "attachments_check_at",
        "attachments_backoff_s",
    }
)


def camel(name: str) -> str:
    """``last_message_at`` → ``lastMessageAt``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """``lastMessageAt`` → ``last_message_at``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def parse_timestamp(value: Any) -> datetime | None:
    """An API timestamp (ISO-8601, with or without milliseconds, ``Z`` or offset) → aware UTC."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# Per table: (column, API field, is a timestamp) of every API-derived column, worked out once.
_API_FIELDS: dict[Table, tuple[tuple[str, str, bool], ...]] = {}


def _api_fields(table: Table) -> tuple[tuple[str, str, bool], ...]:
    fields = _API_FIELDS.get(table)
    if fields is None:
        fields = tuple(
            (column.name, camel(column.name), isinstance(column.type, UTCDateTime))
            for column in table.columns
            if column.name not in BOOKKEEPING
        )
        _API_FIELDS[table] = fields
    return fields


def api_columns(table: Table, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The table's API-derived columns filled from ``obj`` (absent field → None)."""
    values: dict[str, Any] = {}
    for name, field, timestamp in _api_fields(table):
        value = obj.get(field)
        values[name] = parse_timestamp(value) if timestamp else value
    return values


def mirror_row(
    table: Table, obj: Mapping[str, Any], synced_at: datetime, **extra: Any
) -> dict[str, Any]:
    """A full mirror row: API columns, ``raw`` = the object as received, ``synced_at``, extras."""
    row = api_columns(table, obj)
    row.update(extra)
    row["raw"] = dict(obj)
    row["synced_at"] = synced_at
    return row
