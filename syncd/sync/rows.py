"""API-shaped objects (camelCase) → mirror rows (snake_case columns): pure and generic.

A column is filled from the API field of the same name in camelCase (``last_message_at`` ←
``lastMessageAt``: the models' own alias rule); a field the API left out becomes NULL. The objects
are the JSON the client's models validated (or the mirror's ``raw``, which was), so a timestamp
column's text converts by the same rule the models applied (``syncd.api.models.utc_datetime``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic.alias_generators import to_camel

from syncd.api.models import utc_datetime
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


# Per table: (column, API field, is a timestamp) of every API-derived column, worked out once.
_API_FIELDS: dict[Table, tuple[tuple[str, str, bool], ...]] = {}


def _api_fields(table: Table) -> tuple[tuple[str, str, bool], ...]:
    fields = _API_FIELDS.get(table)
    if fields is None:
        fields = tuple(
            (column.name, to_camel(column.name), isinstance(column.type, UTCDateTime))
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
        values[name] = utc_datetime(value) if timestamp else value
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
