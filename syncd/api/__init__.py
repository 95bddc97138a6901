"""The async oHallo API client, its typed models, retry policy and request budget."""

from syncd.api.client import OhalloClient
from syncd.api.http import RequestHook, RetryHook, WaitHook
from syncd.api.limiter import ClientClock, Priority, RequestBudget, SystemClock
from syncd.api.models import (
    Account,
    ApiModel,
    Attachment,
    AttentionItem,
    Contact,
    ConversationDetail,
    ConversationRow,
    MalformedRow,
    Message,
)
from syncd.api.pagination import CursorWalk
from syncd.api.results import (
    AttachmentList,
    AttentionItemList,
    ConversationPage,
    ItemList,
    MessageList,
    StatusCounts,
)
from syncd.api.retry import RetryDecision, TransportFailure, retry_decision
from syncd.retry_after import parse_retry_after

__all__ = [
    "Account",
    "ApiModel",
    "Attachment",
    "AttachmentList",
    "AttentionItem",
    "AttentionItemList",
    "ClientClock",
    "Contact",
    "ConversationDetail",
    "ConversationPage",
    "ConversationRow",
    "CursorWalk",
    "ItemList",
    "MalformedRow",
    "Message",
    "MessageList",
    "OhalloClient",
    "Priority",
    "RequestBudget",
    "RequestHook",
    "RetryDecision",
    "RetryHook",
    "StatusCounts",
    "SystemClock",
    "TransportFailure",
    "WaitHook",
    "parse_retry_after",
    "retry_decision",
]
