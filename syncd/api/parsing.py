"""Response bodies (already decoded JSON) to models: pure, row by row, never failing a whole list.

Each function raises ``MalformedResponse`` only when the top-level shape is not the documented
one; a bad row inside an otherwise good body lands in ``.malformed`` instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from syncd.api.models import (
    Attachment,
    AttentionItem,
    ConversationDetail,
    ConversationRow,
    MalformedRow,
    Message,
    describe_errors,
    parse_items,
)
from syncd.api.results import (
    AttachmentList,
    AttentionItemList,
    ConversationPage,
    ItemList,
    MessageList,
    StatusCounts,
)
from syncd.errors import MalformedResponse


def _shape_error(what: str, path: str | None) -> MalformedResponse:
    where = f"{path}: " if path else ""
    return MalformedResponse(f"{where}response is not {what}", path=path)


def parse_conversation_page(
    body: Any, cursor: str | None = None, *, path: str | None = None
) -> ConversationPage:
    """``{"data": [row...], "nextCursor"?}`` as a ConversationPage."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise _shape_error('an object with a "data" array', path)
    next_cursor = body.get("nextCursor")
    if isinstance(next_cursor, int) and not isinstance(next_cursor, bool):
        next_cursor = str(next_cursor)
    if next_cursor is not None and not isinstance(next_cursor, str):
        raise _shape_error("a page with a text nextCursor", path)
    rows, malformed = parse_items(ConversationRow, body["data"], "data")
    return ConversationPage(
        rows=rows,
        malformed=malformed,
        next_cursor=next_cursor or None,
        cursor=cursor,
        raw=body,
    )


def parse_conversation_detail(body: Any, *, path: str | None = None) -> ConversationDetail:
    """A conversation detail object; a detail that fails validation is a MalformedResponse."""
    if not isinstance(body, dict):
        raise _shape_error("a conversation object", path)
    try:
        return ConversationDetail.model_validate(body)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise MalformedResponse(
            f"{where}conversation does not validate ({describe_errors(exc)})", path=path
        ) from None


def _parse_array(model: type[Any], body: Any, what: str, path: str | None) -> ItemList[Any]:
    if not isinstance(body, list):
        raise _shape_error(f"an array of {what}", path)
    items, malformed = parse_items(model, body, "")
    return ItemList(items=items, malformed=malformed, raw=body)


def parse_messages(body: Any, *, path: str | None = None) -> MessageList:
    """The bare array of ``/messages``."""
    result: MessageList = _parse_array(Message, body, "messages", path)
    return result


def parse_attachments(body: Any, *, path: str | None = None) -> AttachmentList:
    """The bare array of ``/attachments``."""
    result: AttachmentList = _parse_array(Attachment, body, "attachments", path)
    return result


def parse_attention_items(body: Any, *, path: str | None = None) -> AttentionItemList:
    """The bare array of ``/attention-items``."""
    result: AttentionItemList = _parse_array(AttentionItem, body, "attention items", path)
    return result


def parse_status_counts(body: Any, *, path: str | None = None) -> StatusCounts:
    """``{status: count}``; an entry whose count is not an integer is left out as malformed."""
    if not isinstance(body, dict):
        raise _shape_error("an object of status counts", path)
    counts: dict[str, int] = {}
    malformed: list[MalformedRow] = []
    for status, count in body.items():
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            counts[status] = count
        else:
            malformed.append(
                MalformedRow(status, count, "count is not a non-negative integer", status)
            )
    result = StatusCounts(counts)
    result._raw = body
    result._malformed = tuple(malformed)
    return result
