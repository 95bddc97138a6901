"""Random activity: what a busy tenant does between two polls, one step at a time.

``apply_random_activity(sim, rng, kinds=None)`` performs one step and says what it did (``kinds``
limits the draw to some kinds, weighted among themselves: a benchmark drives one kind at a time);
``run_activity`` drives it at ``config.activity_per_s`` (drawing from ``config.activity_kinds``)
inside the server's event loop (both are re-read on every tick, so tests may turn activity on and
off, or change its kinds, while the server runs).
``TABLE`` is the single list of kinds, their weights and their steps.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import structlog

from syncd.sim import steps_conversations as conv
from syncd.sim import steps_objects as objs
from syncd.sim.picking import Activity, new_conversation

if TYPE_CHECKING:
    from syncd.sim.simulator import Simulator

log = structlog.get_logger(__name__)

Step = Callable[["Simulator", random.Random], Activity]

#: (kind, weight, step). The first nine are the original mix, in their original proportions.
TABLE: tuple[tuple[str, int, Step], ...] = (
    ("inbound_message", 24, conv.inbound_message),
    ("ai_reply", 22, conv.ai_reply),
    ("status_change", 8, conv.status_change),
    ("status_change_with_message", 8, conv.status_change_with_message),
    ("attachment_progress", 8, objs.attachment_progress),
    ("attention_raised", 8, objs.attention_raised),
    ("attention_resolved", 8, objs.attention_resolved),
    ("new_conversation", 10, new_conversation),
    ("deletion", 1, conv.deletion),
    ("message_edited", 2, conv.message_edited),
    ("message_deleted", 1, conv.message_deleted),
    ("assignment", 2, conv.assignment),
    ("outcome_change", 1, conv.outcome_change),
    ("summary_change", 1, conv.summary_change),
    ("context_change", 2, conv.context_change),
    ("contact_change", 1, conv.contact_change),
    ("terminal_move", 1, conv.terminal_move),
    ("reply_on_terminal", 2, conv.reply_on_terminal),
    ("created_and_closed", 1, conv.created_and_closed),
    ("attachment_changed", 1, objs.attachment_changed),
    ("late_attachment", 1, objs.late_attachment),
    ("attention_acknowledged", 2, objs.attention_acknowledged),
    ("attention_raised_acknowledged", 1, objs.attention_raised_acknowledged),
    ("attention_flash", 1, objs.attention_flash),
)
KINDS = tuple(kind for kind, _, _ in TABLE)
WEIGHTS = tuple(weight for _, weight, _ in TABLE)
STEPS: dict[str, Step] = {kind: step for kind, _, step in TABLE}
_CUMULATIVE = tuple(itertools.accumulate(WEIGHTS))

TICK_S = 0.05
MAX_STEPS_PER_TICK = 1000


def apply_random_activity(
    sim: Simulator, rng: random.Random, kinds: Iterable[str] | None = None
) -> Activity:
    """Perform one random step on ``sim`` (call with ``sim.lock`` held).

    ``kinds``: draw only among these (weighted as in ``TABLE``); None: every kind. A world
    without conversations always gets a new one.
    """
    if kinds is None:
        kind = rng.choices(KINDS, cum_weights=_CUMULATIVE)[0]
    else:
        chosen = check_kinds(kinds)
        kind = chosen[0] if len(chosen) == 1 else rng.choices(chosen, _weights(chosen))[0]
    if not sim.world.conversations:
        return new_conversation(sim, rng)
    return STEPS[kind](sim, rng)


def check_kinds(kinds: Iterable[str]) -> list[str]:
    """The kinds, deduplicated (one name alone is fine); ValueError for none or unknown ones."""
    chosen = [kinds] if isinstance(kinds, str) else list(dict.fromkeys(kinds))
    unknown = [kind for kind in chosen if kind not in STEPS]
    if unknown or not chosen:
        raise ValueError(f"unknown activity kinds {unknown}; choose among {', '.join(KINDS)}")
    return chosen


def _weights(chosen: list[str]) -> list[int]:
    weight = dict(zip(KINDS, WEIGHTS, strict=True))
    return [weight[kind] for kind in chosen]


async def run_activity(sim: Simulator, rng: random.Random) -> None:
    """Apply activity at ``sim.config.activity_per_s`` (of ``activity_kinds``) until cancelled."""
    loop = asyncio.get_running_loop()
    started, done, rate = loop.time(), 0, 0.0
    while True:
        await asyncio.sleep(TICK_S)
        current = sim.config.activity_per_s
        if current != rate:  # a new rate restarts the schedule
            started, done, rate = loop.time(), 0, current
        if rate <= 0.0:
            continue
        due = int((loop.time() - started) * rate) - done
        steps = min(due, MAX_STEPS_PER_TICK)
        for _ in range(steps):
            try:
                sim.apply_random_activity(rng, sim.config.activity_kinds)
            except Exception:  # a bug in one step must not stop the server's activity
                log.exception("sim_activity_failed")
        done += due


__all__ = [
    "KINDS",
    "STEPS",
    "TABLE",
    "WEIGHTS",
    "Activity",
    "apply_random_activity",
    "check_kinds",
    "run_activity",
]
