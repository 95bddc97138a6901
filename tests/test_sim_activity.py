"""Random activity: every kind does what it says, alone or in the weighted mix, deterministically,
and the list indexes stay right through all of it."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from syncd.sim import Activity, SimConfig, SimServer, Simulator
from syncd.sim.activity import KINDS, TABLE, WEIGHTS
from syncd.sim.listing import ListQuery, list_page

AUTH = {"Authorization": "Bearer sf_test_v1_" + "k" * 32}
TERMINAL = {"resolved", "closed", "abandoned"}
ORIGINAL = (
    ("inbound_message", 24),
    ("ai_reply", 22),
    ("status_change", 8),
    ("status_change_with_message", 8),
    ("attachment_progress", 8),
    ("attention_raised", 8),
    ("attention_resolved", 8),
    ("new_conversation", 10),
    ("deletion", 1),
)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make(seed: int = 8, conversations: int = 200) -> Simulator:
    config = SimConfig(
        seed=seed, conversations=conversations, workspaces=3, detail_missing_rate=0.0
    )
    return Simulator(config, clock=FrozenClock())


def everything(sim: Simulator) -> dict[str, Any]:
    """The whole tenant as the API would show it, by conversation id."""
    with sim.lock:
        return {
            cid: {
                "row": sim.list_row(cid),
                "detail": sim.detail(cid),
                "attachments": {a["id"]: a for a in sim.attachments(cid)},
            }
            for cid in sim.conversation_ids()
        }


def step(sim: Simulator, rng: random.Random, kind: str) -> tuple[Activity, dict[str, Any]]:
    """One step of ``kind`` (the clock a second later); the state before it."""
    clock = sim.clock
    assert isinstance(clock, FrozenClock)
    clock.now += timedelta(seconds=1)
    before = everything(sim)
    return sim.apply_random_activity(rng, [kind]), before


def moved(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def check_message_edited(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    old, new = before[a.conversation_id], everything(sim)[a.conversation_id]
    olds = {m["id"]: m for m in old["detail"]["history"]}
    news = {m["id"]: m for m in new["detail"]["history"]}
    assert olds.keys() == news.keys()
    assert [i for i in olds if olds[i] != news[i]] == [a.object_id]
    assert moved(olds[a.object_id], news[a.object_id]) == {"body"}
    assert new["row"]["lastMessageAt"] == old["row"]["lastMessageAt"]


def check_message_deleted(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    old = before[a.conversation_id]["detail"]["history"]
    new = sim.messages(a.conversation_id)
    assert [m for m in old if m["id"] != a.object_id] == new
    assert len(new) == len(old) - 1


def check_detail_only(field: str | None) -> Callable[[Simulator, Activity, dict[str, Any]], None]:
    def check(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
        old, new = before[a.conversation_id], everything(sim)[a.conversation_id]
        assert new["row"] == old["row"]
        expected = {"updatedAt", "lastActivityAt"} | ({field} if field else set())
        assert moved(old["detail"], new["detail"]) == expected

    return check


def check_assignment(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    check_detail_only(None)(sim, a, before)
    assert sim.conversation(a.conversation_id).assigned_user_id == a.object_id


def check_contact_change(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    after = everything(sim)
    old, new = before[a.conversation_id], after[a.conversation_id]
    assert new["detail"]["contact"]["id"] == a.object_id
    assert moved(old["detail"], new["detail"]) == {"contact"}
    assert moved(old["row"], new["row"]) <= {"contactName", "contactEmail"}
    assert all(
        before[cid]["detail"]["updatedAt"] == after[cid]["detail"]["updatedAt"] for cid in after
    )


def check_terminal_move(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    old = before[a.conversation_id]["row"]["status"]
    new = sim.list_row(a.conversation_id)["status"]
    assert {old, new} <= TERMINAL
    assert old != new


def check_reply_on_terminal(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    assert before[a.conversation_id]["row"]["status"] in TERMINAL
    assert sim.list_row(a.conversation_id)["status"] == before[a.conversation_id]["row"]["status"]
    last = sim.messages(a.conversation_id)[-1]
    assert last["id"] == a.object_id
    assert last["direction"] == "inbound"


def check_created_and_closed(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    assert a.conversation_id not in before
    assert sim.list_row(a.conversation_id)["status"] in TERMINAL
    assert len(sim.messages(a.conversation_id)) == 1


def check_attachment_changed(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    old = before[a.conversation_id]["attachments"][a.object_id]
    new = everything(sim)[a.conversation_id]["attachments"][a.object_id]
    assert old["status"] in ("ready", "failed")
    assert moved(old, new) in ({"status"}, {"fileName"})
    assert (
        sim.detail(a.conversation_id)["updatedAt"]
        == before[a.conversation_id]["detail"]["updatedAt"]
    )


def check_late_attachment(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
    old, new = before[a.conversation_id], everything(sim)[a.conversation_id]
    assert a.object_id not in old["attachments"]
    assert new["attachments"][a.object_id]["messageId"] != new["detail"]["history"][-1]["id"]
    assert (new["row"], new["detail"]) == (old["row"], old["detail"])


def check_attention(
    status: str, *, new_item: bool
) -> Callable[[Simulator, Activity, dict[str, Any]], None]:
    def check(sim: Simulator, a: Activity, before: dict[str, Any]) -> None:
        assert a.object_id is not None
        item = sim.attention_item(a.object_id)
        assert item["status"] == status
        assert (item["resolvedAt"] is not None) == (status == "resolved")
        old_items = {i["id"]: i for i in before[a.conversation_id]["detail"]["attentionItems"]}
        if new_item:
            assert a.object_id not in old_items
        else:
            assert old_items[a.object_id]["status"] == "open"
        assert (
            sim.detail(a.conversation_id)["updatedAt"]
            == before[a.conversation_id]["detail"]["updatedAt"]
        )

    return check


CHECKS: dict[str, Callable[[Simulator, Activity, dict[str, Any]], None]] = {
    "message_edited": check_message_edited,
    "message_deleted": check_message_deleted,
    "assignment": check_assignment,
    "outcome_change": check_detail_only("outcome"),
    "summary_change": check_detail_only("stateSummary"),
    "context_change": check_detail_only("contextEntries"),
    "contact_change": check_contact_change,
    "terminal_move": check_terminal_move,
    "reply_on_terminal": check_reply_on_terminal,
    "created_and_closed": check_created_and_closed,
    "attachment_changed": check_attachment_changed,
    "late_attachment": check_late_attachment,
    "attention_acknowledged": check_attention("acknowledged", new_item=False),
    "attention_raised_acknowledged": check_attention("acknowledged", new_item=True),
    "attention_flash": check_attention("resolved", new_item=True),
}


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_each_new_kind_alone_does_what_it_says(kind: str) -> None:
    sim = make(conversations=80)
    rng = random.Random(kind)
    for _ in range(12):
        activity, before = step(sim, rng, kind)
        assert activity.kind == kind
        CHECKS[kind](sim, activity, before)


def test_the_original_kinds_keep_their_weights_and_the_new_ones_are_modest() -> None:
    assert tuple(zip(KINDS, WEIGHTS, strict=True))[: len(ORIGINAL)] == ORIGINAL
    assert set(KINDS) == {kind for kind, _ in ORIGINAL} | set(CHECKS)
    assert all(weight <= 2 for weight in WEIGHTS[len(ORIGINAL) :])
    assert len(TABLE) == len(KINDS) == len(set(KINDS))


def test_the_weighted_mix_produces_every_kind_and_keeps_the_indexes_right() -> None:
    sim = make(seed=8, conversations=200)
    rng = random.Random(1)
    clock = sim.clock
    assert isinstance(clock, FrozenClock)
    kinds: Counter[str] = Counter()
    for _ in range(4000):
        kinds[sim.apply_random_activity(rng).kind] += 1
        clock.now += timedelta(milliseconds=300)
    table = set(KINDS) - {"attachment_progress"}
    assert table <= set(kinds)
    assert any(kind.startswith("attachment_") and kind != "attachment_changed" for kind in kinds)
    assert kinds["inbound_message"] > 5 * kinds["message_deleted"]
    for status in (None, "open", "closed"):
        for order in ("id", "newest"):
            assert walk(sim, status, order) == brute_force(sim, status, order), (status, order)
    for conversation in sim.world.conversations.values():
        if conversation.messages:
            assert conversation.last_message_ms == conversation.messages[-1].sent_ms


def walk(sim: Simulator, status: str | None, order: str) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = list_page(sim.world, ListQuery(status=status, limit=23, cursor=cursor), order)  # type: ignore[arg-type]
        seen += [c.id for c in page.conversations]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def brute_force(sim: Simulator, status: str | None, order: str) -> list[str]:
    found = [c for c in sim.world.conversations.values() if status in (None, c.status)]
    if order == "id":
        return sorted(c.id for c in found)
    return [c.id for c in sorted(found, key=lambda c: (c.last_message_ms, c.id), reverse=True)]


def test_chosen_kinds_are_deterministic_and_validated() -> None:
    def run() -> list[Activity]:
        sim = make(seed=3, conversations=50)
        rng = random.Random(5)
        chosen = ["message_deleted", "terminal_move", "attention_flash"]
        return [sim.apply_random_activity(rng, chosen) for _ in range(60)]

    first = run()
    assert first == run()
    assert {a.kind for a in first} == {"message_deleted", "terminal_move", "attention_flash"}
    sim = make(conversations=5)
    assert sim.apply_random_activity(random.Random(1), "assignment").kind == "assignment"
    with pytest.raises(ValueError, match="unknown activity kinds"):
        sim.apply_random_activity(random.Random(1), ["nonsense"])
    with pytest.raises(ValueError, match="unknown activity kinds"):
        sim.apply_random_activity(random.Random(1), [])


def test_a_kind_without_anything_to_act_on_falls_back_and_says_so() -> None:
    sim = make(conversations=6)
    for cid in sim.conversation_ids():
        sim.set_status(cid, "open")
        for item in sim.attention_item_ids(conversation_id=cid, status="open"):
            sim.resolve_attention_item(item)
    rng = random.Random(3)
    assert sim.apply_random_activity(rng, ["terminal_move"]).kind == "status_change"
    for cid in sim.conversation_ids():
        sim.set_status(cid, "open")
    assert sim.apply_random_activity(rng, ["reply_on_terminal"]).kind == "inbound_message"
    assert sim.apply_random_activity(rng, ["attention_acknowledged"]).kind == "attention_raised"
    empty = Simulator(SimConfig(conversations=0))
    assert empty.apply_random_activity(rng, ["message_deleted"]).kind == "new_conversation"


def test_the_server_draws_only_the_configured_kinds() -> None:
    config = SimConfig(seed=4, conversations=30, activity_per_s=300, activity_kinds=("assignment",))
    assert SimConfig(activity_kinds=("terminal_move",)).activity_kinds == ("terminal_move",)
    with pytest.raises(ValueError, match="unknown activity kinds"):
        SimConfig(activity_kinds=("resolved",))
    sim = Simulator(config)
    count = len(sim.conversation_ids())
    with SimServer(sim) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        deadline = time.monotonic() + 10
        while len(sim.actions) < 20 and time.monotonic() < deadline:
            assert client.get("/api/attention-items").status_code == 200  # paces the polling
        sim.config.activity_per_s = 0.0
    assert len(sim.actions) >= 20
    assert {action.action for action in sim.actions} <= {"assign", "unassign"}
    assert len(sim.conversation_ids()) == count
