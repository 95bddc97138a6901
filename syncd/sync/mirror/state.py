"""``sync_state`` rows: per scope (a workspace id, or ``*`` for the whole key) and stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from syncd.store import tables
from syncd.store.upsert import upsert_rows
from syncd.sync.mirror._base import MirrorBase
from syncd.sync.state import BACKFILL, WHOLE_KEY
from syncd.sync.values import StreamState


class SyncStates(MirrorBase):
    """Reading and recording ``sync_state``."""

    __slots__ = ()

    def read_state(self, scope: str, stream: str) -> StreamState:
        """The stored state, or an empty one."""
        s = tables.sync_state
        row = (
            self.conn.execute(select(s).where(s.c.workspace_id == scope, s.c.stream == stream))
            .mappings()
            .first()
        )
        if row is None:
            return StreamState()
        fields = StreamState.__dataclass_fields__
        return StreamState(**{key: row[key] for key in fields if key in row})

    def stream_states(self, stream: str) -> list[tuple[str, StreamState]]:
        """Every scope's state of one stream, by scope."""
        s = tables.sync_state
        query = select(s).where(s.c.stream == stream).order_by(s.c.workspace_id)
        fields = StreamState.__dataclass_fields__
        return [
            (row["workspace_id"], StreamState(**{key: row[key] for key in fields if key in row}))
            for row in self.conn.execute(query).mappings()
        ]

    def write_state(self, scope: str, stream: str, **values: Any) -> None:
        """Upsert the given columns of one ``sync_state`` row (others keep their value)."""
        upsert_rows(
            self.conn,
            tables.sync_state,
            [{"workspace_id": scope, "stream": stream, **values}],
            guard=None,
        )

    def record_success(
        self, scope: str, stream: str, now: datetime, *, skipped: int = 0, **values: Any
    ) -> None:
        """A pass finished: success time, error cleared, skipped rows of this pass."""
        self.write_state(
            scope,
            stream,
            last_success_at=now,
            last_attempt_at=now,
            last_error=None,
            consecutive_failures=0,
            skipped_rows=skipped,
            **values,
        )

    def record_failure(self, scope: str, stream: str, now: datetime, error: str) -> None:
        """A pass failed: keep the error where ``syncd status`` shows it."""
        current = self.read_state(scope, stream)
        self.write_state(
            scope,
            stream,
            last_attempt_at=now,
            last_error=error[:2000],
            consecutive_failures=current.consecutive_failures + 1,
        )

    def backfill_complete(self, scope: str) -> bool:
        """Whether the first complete reconcile pass of this scope (or the whole key) finished."""
        s = tables.sync_state
        query = select(s.c.last_success_at).where(
            s.c.stream == "reconcile", s.c.workspace_id.in_([scope, WHOLE_KEY])
        )
        return any(value is not None for value in self.conn.scalars(query))

    def backfill_since(self, scope: str, now: datetime) -> datetime:
        """When the backfill of a scope began: the first time a pass asked while it was not
        complete (kept in the ``backfill`` row's watermark; call in a writing transaction)."""
        state = self.read_state(scope, BACKFILL)
        if state.watermark is not None:
            return state.watermark
        whole = self.read_state(WHOLE_KEY, BACKFILL).watermark
        if whole is not None:
            return whole
        self.write_state(scope, BACKFILL, watermark=now)
        return now
