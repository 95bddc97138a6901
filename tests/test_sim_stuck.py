"""Attachments that never settle (``stuck_attachment_rate``), and the guarantee that a seed's
generated data stays byte for byte what it was."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd.sim import SimConfig, Simulator


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make(seed: int = 4, conversations: int = 60, **config: Any) -> Simulator:
    return Simulator(
        SimConfig(seed=seed, conversations=conversations, detail_missing_rate=0.0, **config),
        clock=FrozenClock(),
    )


def digest(sim: Simulator) -> str:
    ids = sim.conversation_ids()
    everything = {
        "rows": [sim.list_row(cid) for cid in ids],
        "details": [sim.detail(cid) for cid in ids],
        "attachments": [sim.attachments(cid) for cid in ids],
        "attention": sim.list_attention_items(),
        "counts": [sim.status_counts(w) for w in sim.workspace_ids()],
    }
    text = json.dumps(everything, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_stuck_rate_is_validated() -> None:
    with pytest.raises(ValueError, match="stuck_attachment_rate"):
        SimConfig(stuck_attachment_rate=1.5)
    with pytest.raises(ValueError, match="stuck_attachment_rate"):
        SimConfig(stuck_attachment_rate=-0.1)


def test_stuckness_does_not_change_the_generated_data() -> None:
    digests = {digest(make(seed=5, conversations=150, stuck_attachment_rate=r)) for r in (0, 1)}
    assert len(digests) == 1
    assert digest(make(seed=5, conversations=150)) in digests


def test_the_rendered_data_of_a_seed_stays_what_it_was() -> None:
    """Pinned: a seed's data must not change when the simulator learns new tricks."""
    sim = Simulator(SimConfig(seed=5, conversations=40))
    ids = sim.conversation_ids()
    text = json.dumps(
        {
            "rows": [sim.list_row(c) for c in ids],
            "details": [sim.detail(c) for c in ids],
            "att": [sim.attachments(c) for c in ids],
            "attn": sim.list_attention_items(),
            "counts": [sim.status_counts(w) for w in sim.workspace_ids()],
            "api_user": sim.api_user_id,
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "4a80fc782ac9dbda6a02803865e82d8844c5b718773578ba151bf4089ed35621"
    )


def test_a_processing_attachment_of_the_first_conversations_is_always_stuck() -> None:
    sim = make(seed=9, conversations=300)
    stuck = sim.stuck_attachment_ids()
    second = list(sim.world.conversations.values())[1]  # in generation order
    assert [(a.status, a.stuck) for a in second.attachments] == [("processing", True)]
    assert make(seed=1, conversations=2).stuck_attachment_ids() == [second_of(seed=1)]
    by_id = sim.world.attachments
    assert all(by_id[a].status in ("pending", "processing") for a in stuck)
    unsettled = [a for a in by_id.values() if a.status in ("pending", "processing")]
    assert len(stuck) < len(unsettled)  # 5 %: some, not all
    assert make(seed=9, conversations=300, stuck_attachment_rate=0.0).stuck_attachment_ids() == []
    everything = make(seed=9, conversations=300, stuck_attachment_rate=1.0)
    assert len(everything.stuck_attachment_ids()) == len(unsettled)


def second_of(seed: int) -> str:
    sim = make(seed=seed, conversations=2)
    return list(sim.world.conversations.values())[1].attachments[0].id


def test_random_activity_never_settles_a_stuck_attachment() -> None:
    sim = make(seed=3, conversations=40, stuck_attachment_rate=1.0)
    stuck = {a: sim.world.attachments[a].status for a in sim.stuck_attachment_ids()}
    assert stuck
    rng = random.Random(2)
    kinds = kinds_seen(sim, rng, ["attachment_progress", "attachment_changed"], 300)
    assert "attachment_created" in kinds  # nothing else left to move
    assert {a: sim.world.attachments[a].status for a in stuck} == stuck
    target = next(iter(stuck))
    sim.set_attachment_stuck(target, False)
    for _ in range(40):
        sim.apply_random_activity(rng, ["attachment_progress"])
    assert sim.world.attachments[target].status in ("ready", "failed")
    sim.set_attachment_status(target, "processing")
    sim.set_attachment_stuck(target)
    assert target in sim.stuck_attachment_ids()
    sim.set_attachment_status(target, "ready")  # an explicit change still applies
    assert target not in sim.stuck_attachment_ids()


def kinds_seen(sim: Simulator, rng: random.Random, kinds: list[str], steps: int) -> set[str]:
    """The kinds ``steps`` steps of activity reported, the clock moving a second per step."""
    clock = sim.clock
    assert isinstance(clock, FrozenClock)
    seen = set()
    for _ in range(steps):
        seen.add(sim.apply_random_activity(rng, kinds).kind)
        clock.now += timedelta(seconds=1)
    return seen
