"""Property: after every sync the mirror equals the simulator, and the outbox holds exactly the
events that the difference between the mirror before and the truth after calls for.

Random sequences of simulator mutations are interleaved with sync passes, in both list orders,
on SQLite and PostgreSQL. A step whose changes no list walk shows within one pass (a change
inside a conversation that stays terminal, its deletion, a take-over undone in the same step,
an attachment that settled) is followed by ``sync --deep``; every other step by a plain sync.
What the refresh stream and the attachment backoff catch over time is the subject of
``test_sync_property_refresh.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_support import (
    PLAIN,
    PRIVATE,
    PRIVATE_SETTINGS,
    STATUSES,
    TERMINAL,
    assert_mirror_equals_truth,
    expected_events,
    mirror,
    property_settings,
    property_simulator,
    read_events,
    reset,
    truth,
)

from syncd.config import Settings
from syncd.sim import SimServer, Simulator
from syncd.store.engine import create_engine_for
from syncd.sync.runner import sync_once
from syncd.sync.session import open_sync

# -- mutations --------------------------------------------------------------------------------

mutation = st.one_of(
    st.tuples(
        st.just("new_conversation"),
        st.integers(0, 1),
        st.sampled_from(["email", "chat", "voice", "sms", "whatsapp"]),
    ),
    st.tuples(
        st.just("message"), st.integers(0, 99), st.sampled_from(["inbound", "outbound", "ai"])
    ),
    st.tuples(st.just("status"), st.integers(0, 99), st.sampled_from(STATUSES), st.booleans()),
    st.tuples(st.just("take_over"), st.integers(0, 99)),
    st.tuples(st.just("release"), st.integers(0, 99)),
    st.tuples(st.just("attachment"), st.integers(0, 99)),
    st.tuples(st.just("attachment_ready"), st.integers(0, 99)),
    st.tuples(
        st.just("raise_attention"),
        st.integers(0, 99),
        st.sampled_from(["mcp_failure", "escalation", "approval_gate", "human_requested"]),
    ),
    st.tuples(st.just("resolve_attention"), st.integers(0, 99)),
    st.tuples(st.just("delete"), st.integers(0, 99)),
)


def apply(sim: Simulator, op: tuple[Any, ...], raised: set[str]) -> bool:
    """Apply one mutation; True when only a deep sync can see it at once.

    ``raised``: attention items raised in this step. One raised and resolved between two passes
    was never open for the attention pass to see; only a detail or the whole attention list
    (the reconcile) shows it.
    """
    live = sorted(sim.conversation_ids())
    kind = op[0]
    if kind == "new_conversation":
        workspace = sim.workspace_ids()[op[1] % len(sim.workspace_ids())]
        sim.add_conversation(workspace, channel_type=op[2])
        return False
    if kind in ("attachment_ready", "resolve_attention"):
        with sim.lock:
            if kind == "attachment_ready":
                pending = sorted(
                    a.id
                    for a in sim.world.attachments.values()
                    if a.status in ("pending", "processing") and a.conversation_id in live
                )
                if pending:
                    sim.set_attachment_status(pending[op[1] % len(pending)], "ready")
                    return True  # re-read by its backoff, or a refresh: later
            else:
                open_items = sim.attention_item_ids(status="open")
                if open_items:
                    item = sorted(open_items)[op[1] % len(open_items)]
                    sim.resolve_attention_item(item)
                    return item in raised
        return False
    if not live:
        return False
    cid = live[op[1] % len(live)]
    conversation = sim.conversation(cid)
    was_terminal = conversation.status in TERMINAL
    if kind == "message":
        voice = conversation.channel_type == "voice"
        if op[2] == "ai" or (voice and op[2] == "outbound"):
            sim.add_message(
                cid, "inbound" if voice else "outbound", speaker="ai" if voice else None
            )
        else:
            sim.add_message(cid, op[2], speaker="caller" if voice else None)
    elif kind == "status":
        sim.set_status(cid, op[2], with_message=op[3])
    elif kind == "take_over":
        sim.take_over(cid)
    elif kind == "release":
        sim.release(cid)
        return True  # after a take-over in the same step, the list row is as it was
    elif kind == "attachment":
        sim.add_message(
            cid, "inbound", speaker="caller" if conversation.channel_type == "voice" else None
        )
        sim.add_attachment(cid)
    elif kind == "raise_attention":
        raised.add(sim.raise_attention_item(cid, op[2]))
    elif kind == "delete":
        sim.delete_conversation(cid)
        return was_terminal
    still_terminal = sim.conversation(cid).status in TERMINAL
    return (
        was_terminal
        and still_terminal
        and kind in ("message", "status", "take_over", "release", "attachment")
    )


@pytest.mark.parametrize("private", [False, True], ids=["plain", "private"])
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    order=st.sampled_from(["id", "newest"]),
    configured=st.booleans(),
    steps=st.lists(st.lists(mutation, min_size=1, max_size=3), min_size=1, max_size=4),
)
def test_mirror_tracks_the_simulator_and_events_tell_every_change(
    db_url: str,
    private: bool,
    seed: int,
    order: str,
    configured: bool,
    steps: list[list[tuple[Any, ...]]],
) -> None:
    """``private``: with ``[privacy]`` on, the model's truth is reduced the same way."""
    privacy = PRIVATE if private else PLAIN
    engine = create_engine_for(db_url)
    try:
        reset(engine)
        sim = property_simulator(seed, order)
        with SimServer(sim) as server:
            workspaces = sim.workspace_ids() if configured else []
            config = property_settings(
                server.base_url,
                db_url,
                workspaces=workspaces,
                privacy=PRIVATE_SETTINGS if private else None,
            )
            last_seq = 0
            for index, step in enumerate([[], *steps]):
                needs_deep = False
                raised: set[str] = set()
                for op in step:
                    needs_deep |= apply(sim, op, raised)
                before = mirror(engine)
                results = asyncio.run(_sync(config, deep=needs_deep))
                assert all(r.ok for r in results), [r.error for r in results if not r.ok]
                assert_mirror_equals_truth(engine, sim, privacy)
                events = read_events(engine, last_seq)
                if events:
                    last_seq = events[-1]["seq"]
                got = Counter((e["type"], e["subject_id"]) for e in events)
                assert got == expected_events(before, mirror(engine)), f"step {index}: {step}"
                for event in events:
                    envelope = json.loads(event["payload"])
                    assert envelope["id"] == event["id"]
                    assert envelope["backfill"] is (index == 0) is event["backfill"]
                    about_new_object = event["type"].endswith((".created", ".deleted")) or (
                        event["type"].startswith("message.")
                    )
                    assert ("changes" in envelope) is not about_new_object
                    if event["type"].startswith("conversation.") and event["type"] != (
                        "conversation.deleted"
                    ):
                        want = truth(sim, privacy).conversations[event["subject_id"]]
                        assert envelope["data"] == want
                assert len({e["id"] for e in events}) == len(events)
    finally:
        engine.dispose()


async def _sync(config: Settings, *, deep: bool) -> list[Any]:
    async with open_sync(config) as ctx:
        return await sync_once(ctx, deep=deep)
