"""``[privacy]`` as pure code: the policy's transforms, the suppression rule, the planning that
applies them before comparing, the rewrite of stored envelopes, and the settings."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.config import load_settings, secret_values
from syncd.daemon.metrics import Metrics
from syncd.errors import ConfigError
from syncd.sync.observe import (
    ConversationObservation,
    PlanOptions,
    StoredConversation,
    StoredObject,
    plan_conversation,
)
from syncd.sync.privacy import Privacy, Suppressed
from syncd.sync.result import PassResult
from syncd.sync.rewrite import private_envelope

pytestmark = pytest.mark.usefixtures("isolated_config")

KEY = b"unit-key"
PRIVATE = Privacy(store_message_bodies=False, hash_contact_emails=True, key=KEY)
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def digest(address: str) -> str:
    return hmac.new(KEY, address.encode(), hashlib.sha256).hexdigest()


def test_the_same_address_always_gives_the_same_keyed_hash_whatever_its_case_and_spaces() -> None:
    assert PRIVATE.hash_email(" Jane.Doe@Example.COM\n") == digest("jane.doe@example.com")
    assert PRIVATE.hash_email("jane.doe@example.com") != Privacy(key=b"other").hash_email(
        "jane.doe@example.com"
    )


def test_a_message_loses_its_body_and_keeps_every_other_field() -> None:
    message = {"id": "m1", "body": "secret", "fromAddress": "a@b.c", "newField": 1}
    assert PRIVATE.message(message) == {
        "id": "m1",
        "body": None,
        "bodyOmitted": True,
        "fromAddress": digest("a@b.c"),
        "newField": 1,
    }
    assert Privacy().message(message) == message


def test_conversation_rows_lose_the_preview_and_hash_addresses_nested_too() -> None:
    row = {
        "id": "c1",
        "lastMessagePreview": "secret…",
        "contactEmail": "A@B.C",
        "contact": {"id": "k1", "email": "a@b.c", "firstName": "A"},
    }
    private = PRIVATE.conversation(row)
    assert "lastMessagePreview" not in private
    assert private["contactEmail"] == private["contact"]["email"] == digest("a@b.c")
    assert private["contact"]["firstName"] == "A"


def test_every_transform_is_idempotent() -> None:
    detail = {
        "id": "c1",
        "contactEmail": "a@b.c",
        "history": [{"id": "m", "body": "x", "fromAddress": "a@b.c"}],
        "attentionItems": [{"id": "i", "context": {"message": "help me", "channel": "chat"}}],
    }
    once = PRIVATE.detail(detail)
    assert PRIVATE.detail(once) == once
    assert once["attentionItems"][0]["context"] == {"channel": "chat", "messageOmitted": True}


def test_the_key_is_never_shown() -> None:
    assert "unit-key" not in repr(PRIVATE)


def test_suppression_covers_a_contact_by_id_or_by_address_hash_and_its_conversations() -> None:
    suppressed = Suppressed(
        contact_ids=frozenset({"k1"}),
        email_hashes=frozenset({PRIVATE.hash_email("x@y.z")}),
        conversation_ids=frozenset({"c9"}),
    )
    assert suppressed.covers_row("c1", {"contactId": "k1"})
    assert suppressed.covers_row("c9", None)
    assert not suppressed.covers_row("c2", {"contactId": "k2"})
    assert suppressed.covers("c3", [None, {"contact": {"id": "k3", "email": "X@y.z "}}], PRIVATE)
    assert suppressed.covers("c3", [{"contactEmail": PRIVATE.hash_email("x@y.z")}], PRIVATE)
    assert not suppressed.covers("c3", [{"contactEmail": "other@y.z"}], PRIVATE)
    assert not Suppressed()


def observation(body: str) -> ConversationObservation:
    message = {"id": "m1", "direction": "inbound", "body": body, "sentAt": "2026-01-01T00:00:00Z"}
    return ConversationObservation(
        conversation_id="c1",
        observed_at=AT,
        list_row={"id": "c1", "workspaceId": "w", "status": "open", "lastMessagePreview": body},
        fingerprint="f",
        detail={"id": "c1", "workspaceId": "w", "status": "open", "history": [message]},
        messages=[message],
        history_complete=True,
        attachments=[],
    )


def test_planning_applies_the_policy_before_comparing_so_an_edit_it_hides_tells_nothing() -> None:
    options = PlanOptions(privacy=PRIVATE)
    first = plan_conversation(None, observation("first words"), options=options)
    [message_row] = first.rows["messages"]
    assert message_row["body"] is None and message_row["raw"]["bodyOmitted"] is True
    assert first.rows["conversations"][0]["last_message_preview"] is None
    assert "lastMessagePreview" not in first.rows["conversations"][0]["raw"]
    assert all("first words" not in event.to_json() for event in first.events)

    stored = StoredConversation(
        data=first.rows["conversations"][0]["raw"],
        fingerprint="f",
        deleted=False,
        synced_at=AT,
        messages={"m1": StoredObject(message_row["raw"], AT)},
    )
    later = ConversationObservation(**{**_fields(observation("edited words")), "observed_at": AT})
    again = plan_conversation(stored, later, options=options)
    assert again.events == []
    assert "messages" not in again.rows


def _fields(obs: ConversationObservation) -> dict[str, object]:
    return {name: getattr(obs, name) for name in ConversationObservation.__dataclass_fields__}


def test_a_stored_envelope_is_reduced_in_its_data_and_changes() -> None:
    envelope = {
        "type": "message.updated",
        "data": {"id": "m1", "body": "new"},
        "changes": {"body": ["old", "new"], "channel": ["a", "b"]},
    }
    assert private_envelope(envelope, PRIVATE) == {
        "type": "message.updated",
        "data": {"id": "m1", "body": None, "bodyOmitted": True},
        "changes": {"channel": ["a", "b"]},
    }
    counts = {"type": "status_counts.changed", "data": {"open": 1}}
    assert private_envelope(counts, PRIVATE) == counts


def test_hashing_without_a_key_is_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"privacy\.hash_key"):
        load_settings(privacy={"hash_contact_emails": True})


def test_the_key_comes_from_a_file_and_is_masked_like_every_secret(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("file-key-123\n", encoding="utf-8")
    settings = load_settings(privacy={"hash_contact_emails": True, "hash_key_file": str(key_file)})
    assert Privacy.from_settings(settings.privacy).key == b"file-key-123"
    assert "file-key-123" in secret_values(settings)
    with pytest.raises(ConfigError, match=r"privacy\.hash_key_file"):
        load_settings(privacy={"hash_key_file": str(tmp_path / "missing")})


def test_the_purge_metric_counts_rows_per_table() -> None:

    metrics = Metrics()
    metrics.on_pass(PassResult("purge", "*", purged={"conversations": 2, "messages": 7}), 0.1)
    text = metrics.exposition().decode()
    assert 'syncd_rows_purged_total{table="conversations"} 2.0' in text
    assert 'syncd_rows_purged_total{table="messages"} 7.0' in text
