"""Changes a list row does not (fully) show: message edits and deletions, outcome, summary,
context entries, contacts, accounts, assignment, attachments and attention items after the fact
(stuck attachments: test_sim_stuck.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.sim import SimConfig, Simulator
from syncd.sim.listing import BadRequest, ListQuery, list_page
from syncd.sim.state import UnknownObject
from syncd.sim.world import preview_of


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def make(seed: int = 4, conversations: int = 60, **config: Any) -> Simulator:
    return Simulator(
        SimConfig(seed=seed, conversations=conversations, detail_missing_rate=0.0, **config),
        clock=FrozenClock(),
    )


def with_messages(sim: Simulator, at_least: int) -> str:
    return next(c for c in sim.conversation_ids() if len(sim.messages(c)) >= at_least)


def assert_touched_only(
    sim: Simulator, cid: str, before: dict[str, Any], row: dict[str, Any]
) -> dict[str, Any]:
    """updatedAt = lastActivityAt moved strictly forward; the list row is unchanged."""
    after = sim.detail(cid)
    assert parse(after["updatedAt"]) > parse(before["updatedAt"])
    assert after["lastActivityAt"] == after["updatedAt"]
    assert sim.list_row(cid) == row
    return after


# -- messages ------------------------------------------------------------------------------


def test_editing_an_older_message_changes_its_body_and_touches_only_the_detail() -> None:
    sim = make()
    cid = with_messages(sim, 3)
    before, row = sim.detail(cid), sim.list_row(cid)
    target = before["history"][0]
    assert sim.message_conversation_id(target["id"]) == cid
    sim.edit_message(target["id"], "Corrected text ✏️")
    after = assert_touched_only(sim, cid, before, row)
    assert after["history"][0] == {**target, "body": "Corrected text ✏️"}
    assert after["history"][1:] == before["history"][1:]
    assert sim.messages(cid)[0]["body"] == "Corrected text ✏️"


def test_editing_the_last_message_moves_the_preview_but_not_last_message_at() -> None:
    sim = make()
    cid = with_messages(sim, 2)
    row = sim.list_row(cid)
    sim.edit_message(sim.messages(cid)[-1]["id"], "Nouvelle version 📦", conversation_id=cid)
    after = sim.list_row(cid)
    assert after == {**row, "lastMessagePreview": "Nouvelle version 📦"}


def test_deleting_an_older_message_keeps_the_row_and_its_attachments() -> None:
    sim = make()
    cid = with_messages(sim, 3)
    before, row = sim.detail(cid), sim.list_row(cid)
    gone = before["history"][1]
    attachment = sim.add_attachment(cid, message_id=gone["id"], status="ready")
    sim.delete_message(gone["id"])
    after = assert_touched_only(sim, cid, before, row)
    assert gone["id"] not in {m["id"] for m in after["history"]}
    assert [m["id"] for m in sim.messages(cid)] == [m["id"] for m in after["history"]]
    assert len(after["history"]) == len(before["history"]) - 1
    assert attachment in {a["id"] for a in sim.attachments(cid)}  # documented: they stay
    with pytest.raises(UnknownObject):
        sim.edit_message(gone["id"], "too late")


def test_deleting_the_last_message_brings_back_the_previous_one_in_row_and_index() -> None:
    sim = make(conversations=80)
    cid = with_messages(sim, 2)
    messages = sim.messages(cid)
    sim.delete_message(messages[-1]["id"])
    row = sim.list_row(cid)
    previous = messages[-2]
    assert parse(row["lastMessageAt"]) == parse(previous["sentAt"])
    assert row["lastMessagePreview"] == preview_of(previous["body"])
    assert_newest_first_listing_is_consistent(sim)


def test_deleting_the_only_message_empties_the_preview_and_keeps_last_message_at() -> None:
    sim = make()
    cid = sim.add_conversation(body="only one")
    row = sim.list_row(cid)
    sim.delete_message(sim.messages(cid)[0]["id"])
    assert sim.messages(cid) == []
    assert sim.list_row(cid) == {**row, "lastMessagePreview": ""}
    assert_newest_first_listing_is_consistent(sim)


def assert_newest_first_listing_is_consistent(sim: Simulator) -> None:
    """Every status filter, paged newest first by keyset, equals a brute-force sort."""
    for status in (None, "open", "resolved"):
        seen: list[str] = []
        cursor = None
        while True:
            query = ListQuery(status=status, limit=7, cursor=cursor)
            page = list_page(sim.world, query, "newest")
            seen += [c.id for c in page.conversations]
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = sorted(
            (c for c in sim.world.conversations.values() if status in (None, c.status)),
            key=lambda c: (c.last_message_ms, c.id),
            reverse=True,
        )
        assert seen == [c.id for c in expected]


# -- detail-only fields ----------------------------------------------------------------------

DETAIL_ONLY: list[tuple[str, Callable[[Simulator, str], object], str, Any]] = [
    ("outcome", lambda sim, cid: sim.set_outcome(cid, "Refund issued 💶"), "outcome", None),
    ("summary", lambda sim, cid: sim.set_state_summary(cid, "Neu: wartet"), "stateSummary", None),
    (
        "context replaced",
        lambda sim, cid: sim.set_context_entries(cid, [{"type": "kb", "title": "配送"}]),
        "contextEntries",
        [{"type": "kb", "title": "配送"}],
    ),
    (
        "context added",
        lambda sim, cid: sim.add_context_entry(cid, {"type": "policy", "name": "x"}),
        "contextEntries",
        None,
    ),
    ("assign", lambda sim, cid: sim.assign(cid, "usr_new"), None, None),
    ("unassign", lambda sim, cid: (sim.assign(cid, "usr_x"), sim.unassign(cid)), None, None),
]


@pytest.mark.parametrize(
    ("name", "change", "field", "expected"), DETAIL_ONLY, ids=[c[0] for c in DETAIL_ONLY]
)
def test_detail_only_changes_touch_the_conversation_but_not_its_list_row(
    name: str, change: Callable[[Simulator, str], object], field: str | None, expected: Any
) -> None:
    sim = make()
    cid = sim.conversation_ids(status="resolved")[0]
    before, row = sim.detail(cid), sim.list_row(cid)
    change(sim, cid)
    after = assert_touched_only(sim, cid, before, row)
    moved = {key for key in after if after[key] != before[key]}
    assert moved == {"updatedAt", "lastActivityAt"} | ({field} if field else set())
    if expected is not None:
        assert after[field] == expected


def test_setting_the_same_value_again_is_a_no_op() -> None:
    sim = make()
    cid = sim.conversation_ids()[3]
    sim.set_outcome(cid, "done")
    sim.set_state_summary(cid, "same")
    sim.set_context_entries(cid, [{"a": 1}])
    stamp = sim.detail(cid)["updatedAt"]
    sim.set_outcome(cid, "done")
    sim.set_state_summary(cid, "same")
    sim.set_context_entries(cid, [{"a": 1}])
    assert sim.detail(cid)["updatedAt"] == stamp


def test_context_entries_are_copied_and_must_be_objects() -> None:
    sim = make()
    cid = sim.conversation_ids()[0]
    entry: dict[str, Any] = {"type": "kb", "tags": ["a"]}
    sim.set_context_entries(cid, [entry])
    entry["tags"].append("b")
    assert sim.detail(cid)["contextEntries"] == [{"type": "kb", "tags": ["a"]}]
    with pytest.raises(BadRequest):
        sim.set_context_entries(cid, ["not an object"])  # type: ignore[list-item]
    with pytest.raises(BadRequest):
        sim.add_context_entry(cid, 42)  # type: ignore[arg-type]


# -- contacts and accounts -------------------------------------------------------------------


def test_a_contact_change_shows_in_details_and_every_row_but_touches_nothing() -> None:
    sim = make(conversations=120)
    counts: dict[str, list[str]] = {}
    for cid in sim.conversation_ids():
        counts.setdefault(sim.conversation(cid).contact_id, []).append(cid)
    contact_id, cids = max(counts.items(), key=lambda item: len(item[1]))
    assert len(cids) >= 2
    stamps = {cid: sim.detail(cid)["updatedAt"] for cid in cids}
    sim.update_contact(contact_id, first_name="Zoë", last_name="山田", email="zoe@new.example")
    for cid in cids:
        detail, row = sim.detail(cid), sim.list_row(cid)
        assert detail["contact"] == {
            "id": contact_id,
            "firstName": "Zoë",
            "lastName": "山田",
            "email": "zoe@new.example",
        }
        assert (row["contactName"], row["contactEmail"]) == ("Zoë 山田", "zoe@new.example")
        assert detail["updatedAt"] == stamps[cid]
    assert set(sim.conversation_ids(q="ZOE@NEW")) == set(cids)
    sim.update_contact(contact_id, email=None)  # the others stay as they are
    row = sim.list_row(cids[0])
    assert "contactEmail" not in row
    assert row["contactName"] == "Zoë 山田"
    assert sim.world.find_contact(sim.conversation(cids[0]).workspace_id, "zoe@new.example") is None


def test_a_contact_found_by_its_new_address_when_composing() -> None:
    sim = make()
    cid = sim.conversation_ids()[0]
    contact_id = sim.conversation(cid).contact_id
    workspace = sim.conversation(cid).workspace_id
    sim.update_contact(contact_id, email="moved@example.dk")
    channel = sim.channel_ids(workspace)["email"]
    new = sim.compose(workspace, channel, "Hello", contact_email="MOVED@example.dk")
    assert sim.conversation(new).contact_id == contact_id


def test_renaming_an_account_shows_in_rows_and_details() -> None:
    sim = make()
    cid = next(c for c in sim.conversation_ids() if sim.conversation(c).account_id)
    account_id = sim.conversation(cid).account_id
    assert account_id is not None
    stamp = sim.detail(cid)["updatedAt"]
    sim.rename_account(account_id, "Ωμέγα Νέα")
    assert sim.list_row(cid)["accountName"] == "Ωμέγα Νέα"
    assert sim.detail(cid)["account"] == {"id": account_id, "name": "Ωμέγα Νέα"}
    assert sim.detail(cid)["updatedAt"] == stamp


UNKNOWN: list[Callable[[Simulator], object]] = [
    lambda sim: sim.edit_message("nope", "x"),
    lambda sim: sim.delete_message("nope"),
    lambda sim: sim.edit_message("nope", "x", conversation_id="nope"),
    lambda sim: sim.set_outcome("nope", "x"),
    lambda sim: sim.set_state_summary("nope", "x"),
    lambda sim: sim.set_context_entries("nope", []),
    lambda sim: sim.add_context_entry("nope", {}),
    lambda sim: sim.update_contact("nope", first_name="x"),
    lambda sim: sim.rename_account("nope", "x"),
    lambda sim: sim.rename_attachment("nope", "x.pdf"),
    lambda sim: sim.set_attachment_stuck("nope"),
    lambda sim: sim.set_attachment_status("nope", "ready"),
    lambda sim: sim.set_attention_item_status("nope", "acknowledged"),
    lambda sim: sim.add_attachment(sim.conversation_ids()[0], message_id="nope"),
]


@pytest.mark.parametrize("change", UNKNOWN)
def test_unknown_ids_raise_unknown_object(change: Callable[[Simulator], object]) -> None:
    with pytest.raises(UnknownObject):
        change(make(conversations=5))


# -- attachments and attention items ---------------------------------------------------------


def test_attachments_take_any_status_also_after_settling_and_a_new_name() -> None:
    sim = make()
    cid = with_messages(sim, 1)
    stamp, row = sim.detail(cid)["updatedAt"], sim.list_row(cid)
    attachment = sim.add_attachment(cid, status="ready")
    for status in ("failed", "processing", "quarantined", "ready"):
        sim.set_attachment_status(attachment, status)
        assert sim.attachments(cid)[-1]["status"] == status
    sim.rename_attachment(attachment, "v2-Rechnung_März.pdf")
    assert sim.attachments(cid)[-1]["fileName"] == "v2-Rechnung_März.pdf"
    assert (sim.detail(cid)["updatedAt"], sim.list_row(cid)) == (stamp, row)


def test_a_late_attachment_on_an_older_message() -> None:
    sim = make()
    cid = with_messages(sim, 3)
    first = sim.messages(cid)[0]["id"]
    stamp, row = sim.detail(cid)["updatedAt"], sim.list_row(cid)
    attachment = sim.add_attachment(cid, message_id=first, status="pending")
    listed = {a["id"]: a for a in sim.attachments(cid)}[attachment]
    assert (listed["messageId"], listed["status"]) == (first, "pending")
    assert (sim.detail(cid)["updatedAt"], sim.list_row(cid)) == (stamp, row)


def test_attention_items_raised_acknowledged_and_moved_between_statuses() -> None:
    sim = make()
    cid = sim.conversation_ids(has_attention=False)[0]
    item = sim.raise_attention_item(cid, "escalation", status="acknowledged")
    assert sim.attention_item(item)["status"] == "acknowledged"
    assert sim.attention_item(item)["resolvedAt"] is None
    assert item in sim.attention_item_ids(status="acknowledged")
    assert cid in sim.conversation_ids(has_attention=False)  # only open items count
    sim.set_attention_item_status(item, "open")
    assert cid in sim.conversation_ids(has_attention=True)
    sim.set_attention_item_status(item, "acknowledged")
    assert cid in sim.conversation_ids(has_attention=False)
    sim.set_attention_item_status(item, "dismissed")
    assert sim.attention_item(item)["resolvedAt"] is not None
    sim.set_attention_item_status(item, "open")
    assert sim.attention_item(item)["resolvedAt"] is None
