"""``Simulator``: the simulated oHallo tenant — state, queries and rendering, behind one RLock.

Mutations live in ``syncd.sim.mutations`` (a mixin); every public method takes the lock itself,
so tests may call them from any thread while the server thread serves.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from syncd.sim import render
from syncd.sim.actions import ActionsMixin
from syncd.sim.activity import Activity, apply_random_activity
from syncd.sim.config import DETAIL_PARTS, SimConfig
from syncd.sim.edits import EditsMixin
from syncd.sim.factory import new_prefixed_id, stable_fraction
from syncd.sim.faults import FaultPlan
from syncd.sim.generator import generate_world
from syncd.sim.holds import HoldPlan, ResponseHold
from syncd.sim.listing import ListQuery, list_page
from syncd.sim.model import Conversation, JSONObject, to_ms
from syncd.sim.mutations import UnknownObject
from syncd.sim.world import World

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real time, aware UTC."""
    return datetime.now(UTC)


class Simulator(ActionsMixin, EditsMixin):
    """The simulated tenant: generated from ``config.seed``, mutable, thread-safe."""

    def __init__(self, config: SimConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config if config is not None else SimConfig()
        self.clock: Clock = clock if clock is not None else utc_now
        self.lock = threading.RLock()
        self.faults = FaultPlan(self.config)
        self.holds = HoldPlan()
        self.world: World = generate_world(self.config)
        self._rng = random.Random(f"{self.config.seed}:live")
        self.actions = []
        #: The user behind the API key: who takes a conversation over through the HTTP API.
        self.api_user_id = new_prefixed_id(random.Random(f"{self.config.seed}:user"), "usr")

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
            return dict(self._workspace(workspace_id).channels)

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
            return self._conversation(conversation_id)

    def is_deleted(self, conversation_id: str) -> bool:
        """Whether the conversation existed and was deleted."""
        with self.lock:
            return conversation_id in self.world.deleted

    def now_ms(self) -> int:
        """The clock's time in epoch milliseconds."""
        return to_ms(self.clock())

    # -- rendering -----------------------------------------------------------------------------

    def list_row(self, conversation_id: str) -> JSONObject:
        """The list row as served (broken when ``set_malformed`` says so; no random faults)."""
        with self.lock:
            conversation = self._conversation(conversation_id)
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
            conversation = self._conversation(conversation_id)
            return render.detail(self.world, conversation, self.missing_parts(conversation_id))

    def detail_body(self, conversation_id: str) -> bytes:
        """The detail as the server sends it: JSON, or truncated JSON when malformed."""
        with self.lock:
            conversation = self._conversation(conversation_id)
            body = json.dumps(self.detail(conversation_id), ensure_ascii=False).encode()
            if conversation.malformed is not None or self.faults.malformed_draw():
                return truncate_json(body)
            return body

    def missing_parts(self, conversation_id: str) -> frozenset[str]:
        """The detail parts left out of the next render (fixed per seed and version, or set)."""
        with self.lock:
            conversation = self._conversation(conversation_id)
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
            return [render.message(m) for m in self._conversation(conversation_id).messages]

    def attachments(self, conversation_id: str) -> list[JSONObject]:
        """``GET /api/conversations/{id}/attachments``."""
        with self.lock:
            return [render.attachment(a) for a in self._conversation(conversation_id).attachments]

    def attention_item(self, item_id: str) -> JSONObject:
        """One attention item as the API renders it."""
        with self.lock:
            return render.attention_item(self.world, self._attention_item(item_id))

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


__all__ = ["Clock", "Simulator", "UnknownObject", "truncate_json", "utc_now"]
