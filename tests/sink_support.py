"""Helpers for the sink tests (tests/test_sinks_*.py): outbox events as a sink receives them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from syncd.events.envelope import ChangeEvent, OutboxEvent

OBSERVED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def outbox_event(
    seq: int,
    event_type: str,
    subject_id: str,
    data: dict[str, Any],
    *,
    changes: dict[str, list[Any]] | None = None,
    backfill: bool = False,
    observed_at: datetime = OBSERVED_AT,
) -> OutboxEvent:
    """The outbox row of one change in workspace ``ws_1``, as the dispatcher hands it to a sink."""
    change = ChangeEvent(
        type=event_type,
        workspace_id="ws_1",
        subject_id=subject_id,
        data=data,
        changes=changes,
        backfill=backfill,
        observed_at=observed_at,
    )
    return OutboxEvent(
        seq=seq,
        id=change.id,
        type=change.type,
        workspace_id=change.workspace_id,
        subject_id=change.subject_id,
        created_at=change.observed_at,
        backfill=change.backfill,
        payload=change.to_json(),
    )
