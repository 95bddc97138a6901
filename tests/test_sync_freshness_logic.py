"""The pure decisions behind the freshness contract: head read order, refresh share, drift,
attachment backoff, and the events of edits, deletions, stale observations and the backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from syncd.sync import diff, plan
from syncd.sync.observe import (
    ConversationObservation,
    PlanOptions,
    StoredConversation,
    StoredObject,
    attachment_state,
    plan_attention_items,
    plan_conversation,
    unsettled_since,
)

T0 = datetime(2026, 3, 15, 14, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- head read --------------------------------------------------------------------------------


def test_a_page_in_newest_first_order_continues_the_order() -> None:
    assert plan.continues_newest_first(None, [at(9), at(9), at(5), None, at(1)])
    assert plan.continues_newest_first(at(10), [at(10), at(3)])
    assert not plan.continues_newest_first(at(5), [at(6)]), "newer than the page before"
    assert not plan.continues_newest_first(None, [at(1), at(2)])
    assert plan.continues_newest_first(None, [None, None])


@given(st.lists(st.integers(0, 1000), max_size=30), st.integers(0, 1000))
def test_the_order_check_is_a_sort_assertion(values: list[int], before: int) -> None:
    stamps = [at(v) for v in values]
    expected = all(b <= a for a, b in zip([before, *values], values, strict=False))
    assert plan.continues_newest_first(at(before), stamps) == expected


def test_a_head_read_stops_at_the_page_that_reaches_below_the_previous_head() -> None:
    watermark = at(1000)
    assert plan.head_read_done([at(2000)], None, 300), "first read: one page"
    assert not plan.head_read_done([at(2000), at(800)], watermark, 300), "800 >= 1000 - 300"
    assert plan.head_read_done([at(2000), at(699)], watermark, 300)
    assert plan.head_read_done([at(1000), at(10)], watermark, 0), "idle: the first page does"
    assert not plan.head_read_done([None], watermark, 0)


# -- refresh share ----------------------------------------------------------------------------


@given(
    eligible=st.integers(0, 500),
    interval=st.floats(1, 3600),
    steps=st.lists(st.floats(0, 600), min_size=1, max_size=40),
)
def test_the_refresh_share_is_exact_over_time_and_never_bursts(
    eligible: int, interval: float, steps: list[float]
) -> None:
    credit = 0.0
    taken = 0
    owed = 0.0
    for elapsed in steps:
        take, credit = plan.refresh_share(eligible, elapsed, interval, credit)
        assert 0 <= take <= eligible
        assert 0 <= credit < 1.0 + 1e-9, "at most one conversation's worth carried over"
        taken += take
        owed += eligible * min(elapsed, interval) / interval
    assert abs(taken + credit - owed) < 1e-6 * max(1.0, owed), "exact in the long run"


def test_refresh_off_or_nothing_recent_reads_nothing() -> None:
    assert plan.refresh_share(100, 30, 0, 0.0) == (0, 0.0)
    assert plan.refresh_share(0, 30, 900, 0.5) == (0, 0.0)
    assert plan.refresh_share(90, 30, 900, 0.0) == (3, 0.0)


# -- drift --------------------------------------------------------------------------------------


def test_only_a_drift_that_lasted_the_same_way_is_real() -> None:
    assert plan.lasting_drift({"open": 1}, {}) == {}
    assert plan.lasting_drift({"open": 1}, {"open": 2}) == {"open": 2}
    assert plan.lasting_drift({"open": 1}, {"open": -1}) == {}, "changes in flight, both ways"
    assert plan.lasting_drift({"open": 1}, {"closed": -1}) == {}, "a new drift, not yet checked"
    assert plan.lasting_drift({"resolved": -1, "closed": 1}, {"resolved": -1, "closed": 1}) == {
        "resolved": -1,
        "closed": 1,
    }


# -- attachments --------------------------------------------------------------------------------


def test_unsettled_attachments_back_off_exponentially_and_a_change_resets_it() -> None:
    options = PlanOptions(recheck_min_s=30, recheck_max_s=900)
    state = attachment_state(True, True, None, T0, options)
    backoffs = [state.backoff_s]
    for _ in range(7):
        state = attachment_state(True, False, state.backoff_s, T0, options)
        backoffs.append(state.backoff_s)
    assert backoffs == [30, 60, 120, 240, 480, 900, 900, 900]
    assert state.check_at == T0 + timedelta(seconds=900)
    assert attachment_state(True, True, 900, T0, options).backoff_s == 30
    settled = attachment_state(False, True, 900, T0, options)
    assert (settled.pending, settled.check_at, settled.backoff_s) == (False, None, None)


def test_an_attachment_stuck_for_long_starts_its_backoff_at_the_ceiling() -> None:
    options = PlanOptions(recheck_min_s=30, recheck_max_s=900)
    fresh = attachment_state(True, True, None, T0, options, unsettled_since=at(-5))
    assert fresh.backoff_s == 30, "a fresh upload: one poll interval"
    waiting = attachment_state(True, True, None, T0, options, unsettled_since=at(-200))
    assert waiting.backoff_s == 200
    stuck = attachment_state(True, True, None, T0, options, unsettled_since=at(-86400))
    assert stuck.backoff_s == 900, "processing for a day: every refresh interval"
    assert unsettled_since([{"status": "ready", "createdAt": "2026-03-15T13:00:00Z"}]) is None
    assert unsettled_since(
        [
            {"status": "processing", "createdAt": "2026-03-15T13:00:00Z"},
            {"status": "pending", "createdAt": "2026-03-15T13:30:00Z"},
            {"status": "ready", "createdAt": "2026-03-15T13:59:00Z"},
        ]
    ) == at(-1800)
    assert unsettled_since([{"status": "pending", "createdAt": "garbage"}]) is None


# -- events -------------------------------------------------------------------------------------

MESSAGE = {"id": "m1", "direction": "inbound", "body": "hi", "sentAt": "2026-03-15T13:00:00Z"}
DETAIL = {"id": "c1", "workspaceId": "w", "status": "open", "createdAt": "2026-03-01T00:00:00Z"}


def stored(
    messages: dict[str, StoredObject] | None = None,
    attachments: dict[str, StoredObject] | None = None,
    items: dict[str, StoredObject] | None = None,
) -> StoredConversation:
    return StoredConversation(
        data=dict(DETAIL),
        fingerprint="f",
        deleted=False,
        synced_at=T0,
        messages=messages or {"m1": StoredObject(MESSAGE, T0)},
        attachments=attachments or {},
        attention_items=items or {},
    )


def observe(seconds: float, **fields: Any) -> ConversationObservation:
    values: dict[str, Any] = {
        "conversation_id": "c1",
        "observed_at": at(seconds),
        "detail": dict(DETAIL),
        "messages": [MESSAGE],
        "history_complete": True,
    }
    values.update(fields)
    return ConversationObservation(**values)


def kinds(events: list[Any]) -> list[tuple[str, str]]:
    return [(event.type, event.subject_id) for event in events]


def test_an_edited_message_is_told_with_its_changes_and_rewritten() -> None:
    edited = {**MESSAGE, "body": "hello"}
    changes = plan_conversation(stored(), observe(5, messages=[edited]), options=PlanOptions())
    (event,) = changes.events
    assert (event.type, event.changes) == ("message.updated", {"body": ["hi", "hello"]})
    assert event.data["conversationId"] == "c1"
    (row,) = changes.rows["messages"]
    assert row["body"] == "hello" and row["deleted_at"] is None


def test_a_message_missing_from_a_complete_history_is_deleted_once() -> None:
    changes = plan_conversation(stored(), observe(5, messages=[]), options=PlanOptions())
    assert kinds(changes.events) == [("message.deleted", "m1")]
    assert changes.events[0].changes is None
    (row,) = changes.rows["messages"]
    assert row["deleted_at"] == at(5) and row["body"] == "hi", "the row stays, marked"
    gone = stored({"m1": StoredObject(MESSAGE, T0, deleted=True)})
    assert plan_conversation(gone, observe(9, messages=[]), options=PlanOptions()).events == []


def test_an_incomplete_history_deletes_nothing() -> None:
    obs = observe(5, messages=[], history_complete=False)
    changes = plan_conversation(stored(), obs, options=PlanOptions())
    assert changes.events == [] and "messages" not in changes.rows


def test_an_unchanged_message_is_neither_told_nor_rewritten() -> None:
    changes = plan_conversation(stored(), observe(5), options=PlanOptions())
    assert changes.events == [] and "messages" not in changes.rows


def test_an_object_stored_from_a_newer_observation_is_left_alone() -> None:
    newer = {"a1": StoredObject({"id": "a1", "status": "resolved", "conversationId": "c1"}, at(10))}
    open_again = [{"id": "a1", "status": "open", "conversationId": "c1"}]
    changes = plan_attention_items(newer, open_again, "w", at(5), options=PlanOptions())
    assert changes.events == [] and changes.rows == {}, "a slow answer never reopens it"
    changes = plan_attention_items(newer, open_again, "w", at(10), options=PlanOptions())
    assert kinds(changes.events) == [("attention_item.updated", "a1")], "an equal time writes"

    attachment = {"id": "f1", "status": "processing"}
    ready = StoredObject({"id": "f1", "status": "ready"}, at(10))
    obs = observe(5, attachments=[attachment])
    changes = plan_conversation(stored(attachments={"f1": ready}), obs, options=PlanOptions())
    assert changes.events == [] and "attachments" not in changes.rows
    edited = observe(5, messages=[{**MESSAGE, "body": "old"}])
    newer_message = stored({"m1": StoredObject(MESSAGE, at(10))})
    assert plan_conversation(newer_message, edited, options=PlanOptions()).events == []


def test_only_objects_older_than_a_running_backfill_are_backfill_for_live_passes() -> None:
    options = PlanOptions(backfill_before=at(0))
    old_item = {"id": "a1", "status": "open", "createdAt": "2026-03-15T13:59:59Z"}
    new_item = {"id": "a2", "status": "open", "createdAt": "2026-03-15T14:00:01Z"}
    changes = plan_attention_items({}, [old_item, new_item], "w", at(5), options=options)
    assert [(e.subject_id, e.backfill) for e in changes.events] == [("a1", True), ("a2", False)]
    live = plan_attention_items({}, [old_item], "w", at(5), options=PlanOptions())
    assert [e.backfill for e in live.events] == [False], "after the backfill: live"
    walk = plan_attention_items({}, [new_item], "w", at(5), options=PlanOptions(backfill=True))
    assert [e.backfill for e in walk.events] == [True], "the backfill walk's own finds"


def test_only_creations_can_be_backfill() -> None:
    facts = diff.Observed(workspace_id="w", observed_at=at(5), backfill=True)
    edited = diff.message_events({"m1": MESSAGE}, [{**MESSAGE, "body": "x"}], "c1", facts)
    assert [(e.type, e.backfill) for e in edited] == [("message.updated", False)]
    assert not diff.Observed(
        workspace_id="w", observed_at=at(5), backfill=False, backfill_before=at(0)
    ).is_backfill("not a date")


def test_a_message_deleted_and_listed_again_is_told_as_new_again() -> None:
    gone = stored({"m1": StoredObject(MESSAGE, T0, deleted=True)})
    changes = plan_conversation(gone, observe(5), options=PlanOptions())
    assert kinds(changes.events) == [("message.received", "m1")]
    (row,) = changes.rows["messages"]
    assert row["deleted_at"] is None


def test_a_detail_read_without_attachments_is_not_a_refresh() -> None:
    before = StoredConversation(
        data=dict(DETAIL),
        fingerprint="f",
        deleted=False,
        synced_at=T0,
        messages={"m1": StoredObject(MESSAGE, T0)},
        refreshed_at=T0,
    )
    without = plan_conversation(before, observe(5), options=PlanOptions())
    assert without.rows["conversations"][0]["refreshed_at"] == T0
    with_them = plan_conversation(before, observe(5, attachments=[]), options=PlanOptions())
    assert with_them.rows["conversations"][0]["refreshed_at"] == at(5)
