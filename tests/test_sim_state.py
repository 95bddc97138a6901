"""The ``Simulator`` in process: determinism, time, mutations, indexes, keyset paging, activity."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.sim.listing import ListQuery, list_page

AUTH = {"Authorization": "Bearer sf_test_v1_" + "s" * 32}


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def snapshot(sim: Simulator) -> dict[str, Any]:
    ids = sim.conversation_ids()
    return {
        "workspaces": sim.workspace_ids(),
        "rows": [sim.list_row(cid) for cid in ids],
        "details": [sim.detail(cid) for cid in ids],
        "attachments": [sim.attachments(cid) for cid in ids],
        "attention": sim.list_attention_items(),
        "counts": [sim.status_counts(w) for w in sim.workspace_ids()],
    }


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_the_same_seed_renders_identical_data_and_another_seed_does_not() -> None:
    def make(seed: int) -> Simulator:
        return Simulator(
            SimConfig(seed=seed, conversations=120, workspaces=3, messages_per_conversation=4)
        )

    first = snapshot(make(21))
    assert first == snapshot(make(21))
    assert first != snapshot(make(22))


def test_live_changes_are_deterministic_too() -> None:
    def run() -> dict[str, Any]:
        clock = FrozenClock(datetime(2026, 2, 1, tzinfo=UTC))
        sim = Simulator(SimConfig(seed=3, conversations=50), clock=clock)
        rng = random.Random(8)
        for _ in range(200):
            sim.apply_random_activity(rng)
            clock.now += timedelta(seconds=1)
        return snapshot(sim)

    assert run() == run()


def test_workspace_ids_are_opaque_uuids_or_ws_prefixed() -> None:
    workspaces = Simulator(SimConfig(workspaces=4, conversations=8)).workspace_ids()
    assert len(workspaces) == 4
    assert any(w.startswith("ws_") for w in workspaces)
    assert any(len(w) == 36 and w.count("-") == 4 for w in workspaces)


def approve_a_gate(sim: Simulator, cid: str) -> None:
    sim.raise_attention_item(cid, "approval_gate")
    sim.approve(cid)


CHANGES: list[tuple[str, Callable[[Simulator, str], object]]] = [
    ("inbound message", lambda sim, cid: sim.add_message(cid, "inbound")),
    ("outbound message", lambda sim, cid: sim.add_message(cid, "outbound")),
    ("status", lambda sim, cid: sim.set_status(cid, "snoozed")),
    ("status with message", lambda sim, cid: sim.set_status(cid, "closed", with_message=True)),
    ("take over", lambda sim, cid: sim.take_over(cid)),
    ("release", lambda sim, cid: sim.release(cid)),
    ("assign", lambda sim, cid: sim.assign(cid, "usr_1")),
    ("unassign", lambda sim, cid: sim.unassign(cid)),
    ("approve a gate", lambda sim, cid: approve_a_gate(sim, cid)),
    ("resolve", lambda sim, cid: sim.resolve(cid, "done")),
    ("reply", lambda sim, cid: sim.reply(cid, "hello")),
]


@pytest.mark.parametrize("precise", [True, False], ids=["with-ms", "whole-seconds"])
def test_every_mutation_moves_updated_at_strictly_forward_under_a_frozen_clock(
    precise: bool,
) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    sim = Simulator(SimConfig(seed=4, conversations=60), clock=clock)
    cid = next(c for c in sim.conversation_ids() if sim.conversation(c).precise is precise)
    seen = [sim.detail(cid)["updatedAt"]]
    for name, change in CHANGES:
        change(sim, cid)
        detail = sim.detail(cid)
        assert parse(detail["updatedAt"]) > parse(seen[-1]), name
        assert detail["lastActivityAt"] == detail["updatedAt"], name
        seen.append(detail["updatedAt"])
    assert all(("." in stamp) is precise for stamp in seen)
    sent = [parse(m["sentAt"]) for m in sim.messages(cid)]
    assert sent == sorted(sent)
    assert len(set(sent)) == len(sent)


def test_attachments_and_attention_items_leave_the_conversation_row_alone() -> None:
    sim = Simulator(SimConfig(seed=4, conversations=20))
    cid = sim.conversation_ids(has_attention=False)[0]
    before = sim.detail(cid)["updatedAt"], sim.list_row(cid)
    item = sim.raise_attention_item(cid, "human_requested", reason="Asked twice")
    assert cid in sim.conversation_ids(has_attention=True)
    attachment = sim.add_attachment(cid)
    sim.set_attachment_status(attachment, "ready")
    sim.resolve_attention_item(item)
    assert cid in sim.conversation_ids(has_attention=False)
    assert (sim.detail(cid)["updatedAt"], sim.list_row(cid)) == before
    assert sim.attention_item(item)["status"] == "resolved"
    assert sim.attachments(cid)[-1]["status"] == "ready"


def test_a_call_that_changes_nothing_leaves_updated_at_alone() -> None:
    sim = Simulator(SimConfig(seed=4, conversations=20))
    cid = sim.conversation_ids(human_managed=False, status="open")[0]
    sim.take_over(cid)
    assert sim.detail(cid)["humanManagingUserId"] == sim.api_user_id
    stamp = sim.detail(cid)["updatedAt"]
    sim.take_over(cid)
    sim.set_status(cid, "open")
    if sim.conversation(cid).assigned_user_id is None:
        sim.unassign(cid)
    gates = [
        item_id
        for item_id in sim.attention_item_ids(conversation_id=cid, status="open")
        if sim.attention_item(item_id)["type"] == "approval_gate"
    ]
    if not gates:
        sim.approve(cid)
    assert sim.detail(cid)["updatedAt"] == stamp
    sim.take_over(cid, user_id="usr_other")  # another human takes it: a change
    assert sim.detail(cid)["updatedAt"] != stamp


def test_voice_messages_are_all_inbound_with_a_caller_or_ai_speaker() -> None:
    sim = Simulator(SimConfig(seed=6, conversations=100))
    voice = [cid for cid in sim.conversation_ids() if sim.detail(cid)["channelType"] == "voice"]
    assert voice
    sim.add_message(voice[0], "outbound")
    sim.reply(voice[0], "human words")
    speakers: Counter[str] = Counter()
    for cid in voice:
        for message in sim.messages(cid):
            assert message["direction"] == "inbound"
            speakers[message["speaker"]] += 1
    assert set(speakers) == {"caller", "ai"}


def test_a_new_conversation_gets_a_contact_and_shows_in_lists_and_counts() -> None:
    sim = Simulator(SimConfig(seed=6, conversations=10))
    workspace = sim.workspace_ids()[1]
    before = sim.status_counts(workspace)["open"]
    cid = sim.add_conversation(workspace, channel_type="sms", body="Hej! 👋")
    assert sim.list_row(cid)["lastMessagePreview"] == "Hej! 👋"
    assert sim.status_counts(workspace)["open"] == before + 1
    assert cid in sim.conversation_ids(workspace_id=workspace, status="open")
    sim.set_status(cid, "snoozed")  # an undocumented status is counted as well
    assert sim.status_counts(workspace)["snoozed"] == 1


def brute_force(sim: Simulator, query: ListQuery) -> list[str]:
    return sorted(c.id for c in sim.world.conversations.values() if query.matches(sim.world, c))


def test_indexes_agree_with_a_brute_force_scan_after_random_activity() -> None:
    sim = Simulator(SimConfig(seed=8, conversations=200, workspaces=3))
    rng = random.Random(1)
    kinds = Counter(sim.apply_random_activity(rng).kind for _ in range(1500))
    assert {
        "inbound_message",
        "ai_reply",
        "status_change",
        "status_change_with_message",
        "attention_raised",
        "attention_resolved",
        "new_conversation",
        "deletion",
    } <= set(kinds)
    assert any(kind.startswith("attachment_") for kind in kinds)
    workspace = sim.workspace_ids()[2]
    queries = [
        ListQuery(),
        ListQuery(workspace_id=workspace),
        ListQuery(status="open"),
        ListQuery(workspace_id=workspace, status="awaiting_contact"),
        ListQuery(human_managed=True),
        ListQuery(has_attention=True),
        ListQuery(has_attention=False, status="in_progress"),
        ListQuery(q="müller"),
    ]
    for query in queries:
        expected = brute_force(sim, query)
        for order in ("id", "newest"):
            found: list[str] = []
            cursor = None
            while True:
                page = list_page(
                    sim.world, ListQuery(**{**_fields(query), "limit": 13, "cursor": cursor}), order
                )
                found.extend(c.id for c in page.conversations)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert sorted(found) == expected, (query, order)
            assert len(found) == len(set(found))


def _fields(query: ListQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in query.__slots__}


def test_newest_first_keyset_skips_a_row_that_moves_ahead_of_the_cursor() -> None:
    clock = FrozenClock(datetime(2026, 6, 1, tzinfo=UTC))
    sim = Simulator(SimConfig(seed=10, conversations=60, order="newest"), clock=clock)
    first = list_page(sim.world, ListQuery(limit=20), "newest")
    ordered = [c.id for c in first.conversations]
    everything = [c.id for c in list_page(sim.world, ListQuery(limit=100), "newest").conversations]
    mover = everything[40]  # on the third page, moves to the very top
    stayer = ordered[5]  # on the first page, also moves to the top
    sim.add_message(mover, "inbound")
    sim.add_message(stayer, "inbound")
    rest: list[str] = []
    cursor = first.next_cursor
    while cursor:
        page = list_page(sim.world, ListQuery(limit=20, cursor=cursor), "newest")
        rest.extend(c.id for c in page.conversations)
        cursor = page.next_cursor
    assert mover not in rest  # skipped, as a real keyset API would
    assert stayer not in rest  # not repeated
    assert sorted(ordered + rest + [mover]) == sorted(everything)


def test_paging_by_id_is_unaffected_by_rows_changing_between_pages() -> None:
    sim = Simulator(SimConfig(seed=10, conversations=60))
    first = list_page(sim.world, ListQuery(limit=20), "id")
    for cid in sim.conversation_ids()[30:40]:
        sim.add_message(cid, "inbound")
    rest = list_page(sim.world, ListQuery(limit=100, cursor=first.next_cursor), "id")
    assert [c.id for c in first.conversations + rest.conversations] == sim.conversation_ids()


def test_a_server_applies_activity_at_the_configured_rate() -> None:
    sim = Simulator(SimConfig(seed=12, conversations=50, activity_per_s=200))
    with SimServer(sim) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        initial = {
            row["id"]: row
            for row in client.get("/api/conversations", params={"limit": 100}).json()["data"]
        }
        deadline = time.monotonic() + 10
        changed = False
        while not changed and time.monotonic() < deadline:
            rows = client.get("/api/conversations", params={"limit": 100}).json()["data"]
            changed = any(initial.get(row["id"]) != row for row in rows) or len(rows) != len(
                initial
            )
        assert changed


def test_simulator_can_be_mutated_from_the_test_thread_while_serving() -> None:
    sim = Simulator(SimConfig(seed=13, conversations=30))
    with SimServer(sim) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        cid = sim.conversation_ids()[0]
        sim.set_status(cid, "closed")
        assert client.get(f"/api/conversations/{cid}").json()["status"] == "closed"
    assert not server.running


def test_server_restarts_and_reports_a_busy_port() -> None:
    server = SimServer(Simulator(SimConfig(seed=1, conversations=3)))
    server.start()
    port = server.port
    with pytest.raises(OSError):
        SimServer(Simulator(SimConfig(seed=1, conversations=3))).start(port=port)
    server.stop()
    server.stop()  # idempotent
    with server:
        assert httpx.get(f"{server.base_url}/api/attention-items", headers=AUTH).status_code == 200


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="order"):
        SimConfig(order="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fail_rate"):
        SimConfig(fail_rate=1.5)
    with pytest.raises(ValueError, match="workspaces"):
        SimConfig(workspaces=0)
