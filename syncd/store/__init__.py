"""The database: tables, engines, upserts and migrations (see docs/internals.md)."""

from syncd.store.engine import DEFERRED, create_engine_for
from syncd.store.migrate import current_revision, ensure_schema, head_revision, upgrade
from syncd.store.upsert import replace_children, upsert_rows

__all__ = [
    "DEFERRED",
    "create_engine_for",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "replace_children",
    "upgrade",
    "upsert_rows",
]
