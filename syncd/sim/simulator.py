"""``Simulator``: the simulated oHallo tenant, composed of parts around one ``SimState``.

``SimState`` (``syncd.sim.state``) holds the data, the lock, the clock and the RNG of live
changes; ``Mutations``, ``Actions`` and ``Edits`` change it; ``syncd.sim.activity`` draws random
changes. ``Simulator`` binds the parts' operations as its own, and queries and renders the state
here. Every public method takes the lock itself, so tests may call them from any thread while
the server thread serves.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable

from syncd.clock import Clock, utc_now
from syncd.sim import render
from syncd.sim.actions import Actions
from syncd.sim.activity import Activity, apply_random_activity
from syncd.sim.config import DETAIL_PARTS, SimConfig
from syncd.sim.edits import Edits
from syncd.sim.factory import stable_fraction
from syncd.sim.faults import FaultPlan
from syncd.sim.holds import HoldPlan, ResponseHold
from syncd.sim.listing import ListQuery, list_page
from syncd.sim.model import Conversation, JSONObject
from syncd.sim.mutations import Mutations
from syncd.sim.state import SimState


class Simulator:
    """The simulated tenant: generated from ``config.seed``, mutable, thread-safe."""

    def __init__(self, config: SimConfig | None = None, *, clock: Clock | None = None) -> None:
        self.state = state = SimState(
            config if config is not None else SimConfig(), clock if clock is not None else utc_now
        )
        # The state's fields and the parts' operations, bound once (docs/internals.md says what
        # each does); the fields are the state's own objects: change them in place, never rebind.
        self.config = state.config
        self.clock = state.clock
        self.lock = state.lock
        self.world = state.world
        self.actions = state.actions
        self.api_user_id = state.api_user_id
        self.now_ms = state.now_ms
        self.faults = FaultPlan(self.config)
        self.holds = HoldPlan()
        changes = Mutations(state)
        self.add_conversation = changes.add_conversation
        self.add_message = changes.add_message
        self.set_status = changes.set_status
        self.delete_conversation = changes.delete_conversation
        self.add_attachment = changes.add_attachment
        self.set_attachment_status = changes.set_attachment_status
        self.raise_attention_item = changes.raise_attention_item
        self.resolve_attention_item = changes.resolve_attention_item
        self.set_attention_item_status = changes.set_attention_item_status
        self.set_malformed = changes.set_malformed
        self.set_attention_item_malformed = changes.set_attention_item_malformed
        self.set_detail_missing = changes.set_detail_missing
        actions = Actions(state, changes)
        self.resolve = actions.resolve
        self.take_over = actions.take_over
        self.release = actions.release
        self.reply = actions.reply
        self.assign = actions.assign
        self.unassign = actions.unassign
        self.approve = actions.approve
        self.compose = actions.compose
        edits = Edits(state)
        self.edit_message = edits.edit_message
        self.delete_message = edits.delete_message
        self.message_conversation_id = edits.message_conversation_id
        self.set_outcome = edits.set_outcome
        self.set_state_summary = edits.set_state_summary
        self.set_context_entries = edits.set_context_entries
        self.add_context_entry = edits.add_context_entry
        self.update_contact = edits.update_contact
        self.rename_account = edits.rename_account
        self.rename_attachment = edits.rename_attachment
        self.set_attachment_stuck = edits.set_attachment_stuck
        self.stuck_attachment_ids = edits.stuck_attachment_ids

    # -- queries -------------------------------------------------------------------------------

    @property
    def tenant_id(self) -> str:
        """The tenant every object belongs to."""
        return self.world.tenant_id

    def workspace_ids(self) -> list[str]:
        """Every workspace, in creation order."""
        with self.lock:
            return list(self.world.workspaces)

    def channel_ids(self, workspace_id: str) -> dict[str, str]:
        """Channel type → channel id of a workspace."""
        with self.lock:
            return dict(self.state.workspace(workspace_id).channels)

    def conversation_ids(
        self,
        *,
        workspace_id: str | None = None,
        status: str | None = None,
        contact_id: str | None = None,
        account_id: str | None = None,
        q: str | None = None,
        human_managed: bool | None = None,
        has_attention: bool | None = None,
    ) -> list[str]:
        """Ids of live conversations matching the list filters, sorted by id."""
        query = ListQuery(
            workspace_id=workspace_id,
            status=status,
            contact_id=contact_id,
            account_id=account_id,
            q=q,
            human_managed=human_managed,
            has_attention=has_attention,
        )
        with self.lock:
            group = self.world.index.smallest(query.index_keys())
            return [
                cid
                for cid in group.by_id
                if query.matches(self.world, self.world.conversations[cid])
            ]

    def attention_item_ids(
        self,
        *,
        workspace_id: str | None = None,
        status: str | None = None,
        conversation_id: str | None = None,
    ) -> list[str]:
        """Ids of attention items matching the filters, in the order the API lists them."""
        with self.lock:
            world = self.world
            if conversation_id is not None:
                conversation = world.conversations.get(conversation_id)
                candidates: Iterable[str] = (
                    () if conversation is None else conversation.attention_ids
                )
            elif status is not None:
                candidates = world.attention_by_status.get(status, {})
            else:
                candidates = world.attention
            found = []
            for item_id in candidates:
                item = world.attention[item_id]
                if status is not None and item.status != status:
                    continue
                if workspace_id is not None and item.workspace_id != workspace_id:
                    continue
                found.append(item_id)
            return found

    def conversation(self, conversation_id: str) -> Conversation:
        """The internal record (read it under ``lock``; change it only through the methods)."""
        with self.lock:
            return self.state.conversation(conversation_id)

    def is_deleted(self, conversation_id: str) -> bool:
        """Whether the conversation existed and was deleted."""
        with self.lock:
            return conversation_id in self.world.deleted

    # -- rendering -----------------------------------------------------------------------------

    def list_row(self, conversation_id: str) -> JSONObject:
        """The list row as served (broken when ``set_malformed`` says so; no random faults)."""
        with self.lock:
            conversation = self.state.conversation(conversation_id)
            if conversation.malformed is not None:
                return render.malformed_row(self.world, conversation, conversation.malformed)
            return render.list_row(self.world, conversation)

    def list_conversations(self, query: ListQuery) -> JSONObject:
        """The ``GET /api/conversations`` body, random malformed rows included."""
        with self.lock:
            page = list_page(self.world, query, self.config.order)
            rows = []
            for conversation in page.conversations:
                kind = conversation.malformed
                if kind is None and self.faults.malformed_draw():
                    kind = render.MALFORMED_KINDS[int(stable_fraction(conversation.id) * 2)]
                if kind is None:
                    rows.append(render.list_row(self.world, conversation))
                else:
                    rows.append(render.malformed_row(self.world, conversation, kind))
            body: JSONObject = {"data": rows}
            if page.next_cursor is not None:
                body["nextCursor"] = page.next_cursor
            return body

    def detail(self, conversation_id: str) -> JSONObject:
        """``GET /api/conversations/{id}``, minus the parts whose upstream fetch "failed"."""
        with self.lock:
            conversation = self.state.conversation(conversation_id)
            return render.detail(self.world, conversation, self.missing_parts(conversation_id))

    def detail_body(self, conversation_id: str) -> bytes:
        """The detail as the server sends it: JSON, or truncated JSON when malformed."""
        with self.lock:
            conversation = self.state.conversation(conversation_id)
            body = json.dumps(self.detail(conversation_id), ensure_ascii=False).encode()
            if conversation.malformed is not None or self.faults.malformed_draw():
                return truncate_json(body)
            return body

    def missing_parts(self, conversation_id: str) -> frozenset[str]:
        """The detail parts left out of the next render (fixed per seed and version, or set)."""
        with self.lock:
            conversation = self.state.conversation(conversation_id)
            if conversation.missing_parts is not None:
                return conversation.missing_parts
            rate = self.config.detail_missing_rate
            if rate <= 0.0:
                return frozenset()
            seed, cid, version = self.config.seed, conversation.id, conversation.version
            return frozenset(
                part for part in DETAIL_PARTS if stable_fraction(seed, cid, version, part) < rate
            )

    def messages(self, conversation_id: str) -> list[JSONObject]:
        """``GET /api/conversations/{id}/messages``: chronological."""
        with self.lock:
            return [render.message(m) for m in self.state.conversation(conversation_id).messages]

    def attachments(self, conversation_id: str) -> list[JSONObject]:
        """``GET /api/conversations/{id}/attachments``."""
        with self.lock:
            return [
                render.attachment(a) for a in self.state.conversation(conversation_id).attachments
            ]

    def attention_item(self, item_id: str) -> JSONObject:
        """One attention item as the API renders it."""
        with self.lock:
            return render.attention_item(self.world, self.state.attention_item(item_id))

    def list_attention_items(
        self,
        *,
        workspace_id: str | None = None,
        status: str | None = None,
        conversation_id: str | None = None,
    ) -> list[JSONObject]:
        """The ``GET /api/attention-items`` body, random malformed rows included."""
        with self.lock:
            ids = self.attention_item_ids(
                workspace_id=workspace_id, status=status, conversation_id=conversation_id
            )
            rows = []
            for item_id in ids:
                item = self.world.attention[item_id]
                if item.malformed or self.faults.malformed_draw():
                    rows.append(render.malformed_attention_item(self.world, item))
                else:
                    rows.append(render.attention_item(self.world, item))
            return rows

    def status_counts(self, workspace_id: str) -> dict[str, int]:
        """Counts per status; an unknown workspace gets zeros (as the real API appears to)."""
        with self.lock:
            return render.status_counts(self.world, workspace_id)

    def apply_random_activity(
        self, rng: random.Random, kinds: Iterable[str] | None = None
    ) -> Activity:
        """One step of random activity (see ``syncd.sim.activity``; ``kinds``: only these,
        weighted among themselves; None: every kind); says what it did."""
        with self.lock:
            return apply_random_activity(self, rng, kinds)

    # -- faults and holds (shortcuts to ``faults`` and ``holds``) -----------------------------

    def fail_next(
        self, route: str, status: int = 500, times: int = 1, retry_after: float | None = None
    ) -> None:
        """See ``FaultPlan.fail_next``."""
        self.faults.fail_next(route, status, times, retry_after)

    def drop_next(self, route: str, times: int = 1) -> None:
        """See ``FaultPlan.drop_next``."""
        self.faults.drop_next(route, times)

    def malform_next(self, route: str, times: int = 1) -> None:
        """See ``FaultPlan.malform_next``."""
        self.faults.malform_next(route, times)

    def hold_next(self, route: str) -> ResponseHold:
        """Hold back the response of the next request of ``route`` (see ``syncd.sim.holds``)."""
        return self.holds.hold_next(route)


def truncate_json(body: bytes) -> bytes:
    """A JSON document cut in half: what a broken upstream hands back."""
    return body[: max(1, len(body) // 2)]


__all__ = ["Simulator", "truncate_json"]
