"""The async oHallo client: one method per endpoint of the API, all sharing one request budget.

Every method takes ``priority=`` (see ``Priority``); the defaults: attention list ATTENTION, list
pages and status counts HOT, detail/messages/attachments DETAIL, actions ATTENTION (a person is
waiting). A reconcile passes ``Priority.RECONCILE`` itself.

Retries: GETs are retried on 429, 5xx, timeouts and network errors. POST actions are not
idempotent, so they are retried only when the server cannot have acted: on 429 and when the
connection was never made (``httpx.ConnectError``, connect/pool timeouts); a 5xx, a read timeout or
a dropped connection after sending raises at once.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import replace
from types import TracebackType
from typing import Any, Protocol, Self, TypedDict, TypeVar, Unpack

import structlog
from pydantic.alias_generators import to_camel

from syncd.api.http import HttpCore, HttpOptions, path_segment
from syncd.api.limiter import Priority, RequestBudget
from syncd.api.malformed import log_malformed
from syncd.api.models import ConversationDetail, MalformedRow
from syncd.api.pagination import CursorWalk
from syncd.api.parsing import (
    parse_attachments,
    parse_attention_items,
    parse_conversation_detail,
    parse_conversation_page,
    parse_messages,
    parse_status_counts,
)
from syncd.api.results import (
    AttachmentList,
    AttentionItemList,
    ConversationPage,
    MessageList,
    StatusCounts,
)
from syncd.config import ApiSettings
from syncd.errors import ApiError

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE = 100


class _WithMalformed(Protocol):
    @property
    def malformed(self) -> tuple[MalformedRow, ...]: ...


_Read = TypeVar("_Read", bound=_WithMalformed)


class ConversationFilters(TypedDict, total=False):
    """The filters of ``GET /api/conversations`` (None: not filtered on)."""

    workspace_id: str | None
    status: str | None
    contact_id: str | None
    account_id: str | None
    q: str | None
    human_managed: bool | None
    has_attention: bool | None


def conversation_params(
    filters: ConversationFilters, limit: int | None, cursor: str | None
) -> dict[str, Any]:
    """The query parameters of one list page (``limit`` 1..100; None values are not sent)."""
    if limit is not None and not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    params = {to_camel(name): filters.get(name) for name in ConversationFilters.__annotations__}
    return {**params, "limit": limit, "cursor": cursor}


class OhalloClient:
    """Async client for the oHallo REST API (``async with OhalloClient(...) as api:``).

    ``options`` (or keywords naming its fields, which override it) say how to talk HTTP.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        options: HttpOptions | None = None,
        **overrides: Any,
    ) -> None:
        options = replace(options or HttpOptions(), **overrides)
        self._core = HttpCore(base_url, token, options)

    @classmethod
    def from_settings(cls, api: ApiSettings, **overrides: Any) -> Self:
        """A client configured from ``[api]``; ``overrides`` (HttpOptions fields) add hooks,
        a transport or a clock."""
        options = HttpOptions(
            timeout_s=api.timeout_s,
            max_concurrency=api.max_concurrency,
            max_requests_per_s=api.max_requests_per_s,
            max_attempts=api.max_attempts,
        )
        return cls(api.base_url, api.require_token(), options, **overrides)

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._core.base_url

    @property
    def budget(self) -> RequestBudget:
        """The request budget every call of this client shares."""
        return self._core.budget

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._core.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- reads -------------------------------------------------------------------------------

    async def _read(
        self,
        route: str,
        path: str,
        parse: Callable[[Any], _Read],
        priority: Priority,
        params: dict[str, Any] | None = None,
    ) -> _Read:
        """One GET: the request, its body validated by ``parse``, a warning per malformed row."""
        body = await self._core.request("GET", path, route, priority=priority, params=params)
        result = parse(body)
        log_malformed(route, path, result.malformed)
        return result

    async def list_conversations(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        priority: Priority = Priority.HOT,
        **filters: Unpack[ConversationFilters],
    ) -> ConversationPage:
        """One page of ``GET /api/conversations`` (``limit`` 1..100; server default 50)."""
        path = "/api/conversations"
        params = conversation_params(filters, limit, cursor)
        return await self._read(
            "list_conversations",
            path,
            lambda body: parse_conversation_page(body, cursor, path=path),
            priority,
            params,
        )

    async def iter_conversation_pages(
        self,
        *,
        limit: int | None = MAX_PAGE_SIZE,
        start_cursor: str | None = None,
        priority: Priority = Priority.HOT,
        **filters: Unpack[ConversationFilters],
    ) -> AsyncGenerator[ConversationPage, None]:
        """Every page from ``start_cursor`` (None: the first) to the last.

        Raises ``PaginationError`` before yielding a page whose ``nextCursor`` was already seen
        in this walk, so a checkpointed ``next_cursor`` never leads into a loop.
        """
        walk = CursorWalk(start_cursor, path="/api/conversations")
        while True:
            page = await self.list_conversations(
                limit=limit, cursor=walk.current, priority=priority, **filters
            )
            next_cursor = walk.advance(page.next_cursor)
            yield page
            if next_cursor is None:
                return

    async def get_conversation(
        self, conversation_id: str, *, priority: Priority = Priority.DETAIL
    ) -> ConversationDetail:
        """``GET /api/conversations/{id}``; NotFound when it does not exist."""
        path = f"/api/conversations/{path_segment(conversation_id)}"
        return await self._read(
            "get_conversation",
            path,
            lambda body: parse_conversation_detail(body, path=path),
            priority,
        )

    async def get_messages(
        self, conversation_id: str, *, priority: Priority = Priority.DETAIL
    ) -> MessageList:
        """``GET /api/conversations/{id}/messages``, chronological."""
        path = f"/api/conversations/{path_segment(conversation_id)}/messages"
        return await self._read(
            "get_messages", path, lambda body: parse_messages(body, path=path), priority
        )

    async def get_attachments(
        self, conversation_id: str, *, priority: Priority = Priority.DETAIL
    ) -> AttachmentList:
        """``GET /api/conversations/{id}/attachments``."""
        path = f"/api/conversations/{path_segment(conversation_id)}/attachments"
        return await self._read(
            "get_attachments", path, lambda body: parse_attachments(body, path=path), priority
        )

    async def list_attention_items(
        self,
        *,
        workspace_id: str | None = None,
        status: str | None = None,
        conversation_id: str | None = None,
        priority: Priority = Priority.ATTENTION,
    ) -> AttentionItemList:
        """``GET /api/attention-items`` (unpaginated; a server may ignore the filters)."""
        path = "/api/attention-items"
        params = {"workspaceId": workspace_id, "status": status, "conversationId": conversation_id}
        return await self._read(
            "list_attention_items",
            path,
            lambda body: parse_attention_items(body, path=path),
            priority,
            params,
        )

    async def get_status_counts(
        self, workspace_id: str, *, priority: Priority = Priority.HOT
    ) -> StatusCounts:
        """``GET /api/workspaces/{id}/conversations/status-counts``."""
        path = f"/api/workspaces/{path_segment(workspace_id)}/conversations/status-counts"
        return await self._read(
            "status_counts", path, lambda body: parse_status_counts(body, path=path), priority
        )

    # -- actions (POST; see the module docstring for why they are rarely retried) --------------

    async def _action(
        self, path: str, action: str, priority: Priority, body: dict[str, Any] | None = None
    ) -> Any:
        result = await self._core.request(
            "POST",
            path,
            f"post_{action}",
            priority=priority,
            json_body=body,
            idempotent=False,
            allow_empty=True,
        )
        if isinstance(result, dict) and result.get("ok") is False:
            error = result.get("error")
            text = self._core.redact(error) if isinstance(error, str) else "ok: false"
            raise ApiError(f"POST {path}: {text}", path=path)
        return result

    async def post_action(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST an action to ``path`` (``/api/...``) and return the API's decoded answer."""
        return await self._action(
            path, path.rstrip("/").rpartition("/")[2], Priority.ATTENTION, body
        )

    def _conversation_path(self, conversation_id: str, action: str) -> str:
        return f"/api/conversations/{path_segment(conversation_id)}/{action}"

    async def reply(
        self, conversation_id: str, content: str, *, priority: Priority = Priority.ATTENTION
    ) -> None:
        """Send a human reply over the original channel (the conversation must be taken over)."""
        path = self._conversation_path(conversation_id, "reply")
        await self._action(path, "reply", priority, {"content": content})

    async def resolve(
        self,
        conversation_id: str,
        outcome: str | None = None,
        *,
        priority: Priority = Priority.ATTENTION,
    ) -> None:
        """Mark the conversation resolved, optionally with an outcome."""
        body = {} if outcome is None else {"outcome": outcome}
        await self._action(
            self._conversation_path(conversation_id, "resolve"), "resolve", priority, body
        )

    async def take_over(
        self, conversation_id: str, *, priority: Priority = Priority.ATTENTION
    ) -> None:
        """Pause the AI: a human owns the conversation."""
        path = self._conversation_path(conversation_id, "take-over")
        await self._action(path, "take_over", priority)

    async def release(
        self, conversation_id: str, *, priority: Priority = Priority.ATTENTION
    ) -> None:
        """Hand a taken-over conversation back to the AI."""
        await self._action(self._conversation_path(conversation_id, "release"), "release", priority)

    async def compose(
        self,
        workspace_id: str,
        channel_id: str,
        content: str,
        *,
        contact_email: str | None = None,
        contact_id: str | None = None,
        contact_phone: str | None = None,
        contact_name: str | None = None,
        subject: str | None = None,
        priority: Priority = Priority.ATTENTION,
    ) -> str | None:
        """Start an outbound conversation; its id, or None when the server answers only ok."""
        contacts = {
            "contactEmail": contact_email,
            "contactId": contact_id,
            "contactPhone": contact_phone,
        }
        given = {key: value for key, value in contacts.items() if value is not None}
        if len(given) != 1:
            raise ValueError("pass exactly one of contact_email, contact_id, contact_phone")
        body: dict[str, Any] = {"workspaceId": workspace_id, "channelId": channel_id, **given}
        if contact_name is not None:
            body["contactName"] = contact_name
        if subject is not None:
            body["subject"] = subject
        body["content"] = content
        result = await self._action("/api/conversations/compose", "compose", priority, body)
        if isinstance(result, dict):
            new_id = result.get("conversationId")
            if isinstance(new_id, str) and new_id:
                return new_id
        return None

    async def assign(
        self, conversation_id: str, user_id: str, *, priority: Priority = Priority.ATTENTION
    ) -> None:
        """Put the conversation in a user's queue."""
        path = self._conversation_path(conversation_id, "assign")
        await self._action(path, "assign", priority, {"userId": user_id})

    async def unassign(
        self, conversation_id: str, *, priority: Priority = Priority.ATTENTION
    ) -> None:
        """Return the conversation to the shared queue."""
        path = self._conversation_path(conversation_id, "unassign")
        await self._action(path, "unassign", priority)

    async def approve(
        self, conversation_id: str, *, priority: Priority = Priority.ATTENTION
    ) -> None:
        """Approve a guardrail-gated tool call; the AI resumes."""
        path = self._conversation_path(conversation_id, "approve")
        await self._action(path, "approve", priority)

    async def resolve_attention_item(
        self,
        item_id: str,
        reason: str | None = None,
        *,
        priority: Priority = Priority.ATTENTION,
    ) -> None:
        """Resolve an attention item (NotFound when it is not in this tenant)."""
        path = f"/api/attention-items/{path_segment(item_id)}/resolve"
        body = {} if reason is None else {"reason": reason}
        await self._action(path, "resolve_attention_item", priority, body)
