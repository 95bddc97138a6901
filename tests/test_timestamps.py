"""API timestamps are read once, at validation: the JSON object keeps each one as a ``Stamp`` (the
text as sent, carrying the instant), which serialises as the text and which the sync's rows and
events use without reading it again."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sync_support import server_fixture, synced

from syncd.api.models import ConversationDetail, ConversationRow, utc_datetime
from syncd.sim import SimServer
from syncd.stamps import Stamp
from syncd.store import tables
from syncd.store.engine import dumps_json
from syncd.sync.observe import fingerprint_row

server = server_fixture(seed=5, conversations=12, messages_per_conversation=3)

DETAIL: dict[str, Any] = {
    "id": "c1",
    "status": "open",
    "lastActivityAt": "2026-03-01T10:00:00.000Z",
    "createdAt": "2026-02-28T09:00:00Z",
    "updatedAt": "2026-03-01T12:00:00.000+02:00",
    "history": [
        {"id": "m1", "body": "héllo", "sentAt": "2026-03-01T09:59:59.123Z"},
        {"id": "m2", "body": "again"},
    ],
    "attentionItems": [
        {"id": "a1", "createdAt": "2026-03-01T10:00:00Z", "resolvedAt": None, "extra": [1, 2]}
    ],
    "unknownField": {"kept": True},
}


def _stamps(value: Any) -> list[Stamp]:
    if isinstance(value, Stamp):
        return [value]
    if isinstance(value, dict):
        return [stamp for item in value.values() for stamp in _stamps(item)]
    if isinstance(value, list):
        return [stamp for item in value for stamp in _stamps(item)]
    return []


def test_validation_leaves_a_stamp_for_every_timestamp_with_the_instant_it_read() -> None:
    raw = copy.deepcopy(DETAIL)
    detail = ConversationDetail.from_raw(raw)
    assert detail.raw is raw
    assert raw == DETAIL  # equal, field by field, to the text as sent
    assert [str(stamp) for stamp in _stamps(raw)] == [
        "2026-03-01T10:00:00.000Z",
        "2026-02-28T09:00:00Z",
        "2026-03-01T12:00:00.000+02:00",
        "2026-03-01T09:59:59.123Z",
        "2026-03-01T10:00:00Z",
    ]
    assert raw["updatedAt"].instant == detail.updated_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert detail.history is not None
    assert raw["history"][0]["sentAt"].instant == detail.history[0].sent_at
    assert utc_datetime(raw["lastActivityAt"]) is raw["lastActivityAt"].instant


def test_a_stamped_object_serialises_byte_for_byte_as_the_one_sent() -> None:
    raw = copy.deepcopy(DETAIL)
    ConversationDetail.from_raw(raw)
    plain = json.dumps(DETAIL, ensure_ascii=False, separators=(",", ":"))
    assert dumps_json(raw) == plain  # the mirror's raw columns and the outbox
    assert json.dumps(raw, ensure_ascii=False, separators=(",", ":")) == plain
    assert fingerprint_row(raw) == fingerprint_row(DETAIL)


@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_a_stamp_keeps_its_instant_across_a_copy(clone: Callable[[Any], Any]) -> None:
    raw = {"id": "c1", "lastMessageAt": "2026-03-01T10:00:00Z"}
    ConversationRow.from_raw(raw)
    source = pickle.dumps(raw) if clone is pickle.loads else raw
    again = clone(source)["lastMessageAt"]
    assert type(again) is Stamp
    assert again == "2026-03-01T10:00:00Z"
    assert again.instant == datetime(2026, 3, 1, 10, tzinfo=UTC)


async def test_a_sync_into_an_empty_mirror_reads_no_api_timestamp_a_second_time(
    server: SimServer,
    db_url: str,
    engine: Engine,
    isolated_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import syncd.api.models as models

    reread: list[Any] = []
    rule = models._utc_datetime

    def counting(value: Any) -> datetime:
        reread.append(value)
        return rule(value)

    monkeypatch.setattr(models, "_utc_datetime", counting)
    async with synced(server, db_url):
        pass
    assert reread == []
    with engine.connect() as conn:
        for table, column in (
            (tables.conversations, tables.conversations.c.last_message_at),
            (tables.messages, tables.messages.c.sent_at),
            (tables.attention_items, tables.attention_items.c.created_at),
            (tables.attachments, tables.attachments.c.created_at),
        ):
            stamped = conn.scalar(select(func.count()).where(column.is_not(None)))
            assert stamped, f"{table.name}: no timestamp written, nothing was checked"
