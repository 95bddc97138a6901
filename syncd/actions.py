"""The oHallo actions of ``syncd api <action>`` (the command is ``syncd.commands.api``), for
scripts and event hooks.

They use the configured API key (a hook started by a command sink gets ``SYNCD_CONFIG``, so its
``syncd api`` reads the same settings; the key is never passed on the command line). The API's
JSON answer is printed on stdout. Exit codes: 0 done, 1 the API refused or failed (one line on
stderr: the HTTP status and the API's message), 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from syncd.api import OhalloClient
from syncd.api.http import path_segment
from syncd.config import Settings
from syncd.errors import ApiError, ConfigError

Action = Callable[[OhalloClient, argparse.Namespace], Awaitable[Any]]

# An action is a deliberate write a person or a hook asked for: retrying a refused one would
# repeat it, and waiting long would hold a hook up, so the client gives up quickly.
MAX_ATTEMPTS = 3


def _content(args: argparse.Namespace) -> str:
    """``--content TEXT``, or stdin for ``--content -``."""
    content: str = args.content
    if content == "-":
        content = sys.stdin.read()
    if not content.strip():
        raise ConfigError("--content: empty; give the text, or `-` to read it from stdin")
    return content


def _conversation(
    action: str, body: Callable[[argparse.Namespace], dict[str, Any]] | None = None
) -> Action:
    def perform(client: OhalloClient, args: argparse.Namespace) -> Awaitable[Any]:
        path = f"/api/conversations/{path_segment(args.id)}/{action}"
        return client.post_action(path, body(args) if body is not None else None)

    return perform


def _optional(**fields: str | None) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _compose(client: OhalloClient, args: argparse.Namespace) -> Awaitable[Any]:
    body = {
        "workspaceId": args.workspace,
        "channelId": args.channel,
        **_optional(
            contactEmail=args.contact_email,
            contactId=args.contact_id,
            contactPhone=args.contact_phone,
            contactName=args.contact_name,
            subject=args.subject,
        ),
        "content": _content(args),
    }
    return client.post_action("/api/conversations/compose", body)


def _resolve_item(client: OhalloClient, args: argparse.Namespace) -> Awaitable[Any]:
    path = f"/api/attention-items/{path_segment(args.id)}/resolve"
    return client.post_action(path, _optional(reason=args.reason))


# The bodies are the ones OhalloClient's named methods send (tests/test_api_client.py pins them).
ACTIONS: dict[str, Action] = {
    "reply": _conversation("reply", lambda a: {"content": _content(a)}),
    "resolve": _conversation("resolve", lambda a: _optional(outcome=a.outcome)),
    "take-over": _conversation("take-over"),
    "release": _conversation("release"),
    "assign": _conversation("assign", lambda a: {"userId": a.user}),
    "unassign": _conversation("unassign"),
    "approve": _conversation("approve"),
    "compose": _compose,
    "resolve-attention-item": _resolve_item,
}


async def perform(settings: Settings, args: argparse.Namespace) -> Any:
    """Perform the action ``args.api_action`` names; the API's JSON answer (an ApiError naming
    the action, the status and the API's message when it refuses or fails)."""
    action = ACTIONS[args.api_action]
    async with OhalloClient.from_settings(
        settings.api.model_copy(
            update={"max_attempts": min(settings.api.max_attempts, MAX_ATTEMPTS)}
        )
    ) as client:
        try:
            return await action(client, args)
        except ApiError as exc:
            raise ApiError(f"api {args.api_action}: {describe(exc)}", status=exc.status) from None


def describe(exc: ApiError) -> str:
    """The status and the API's message in one line (the message never holds the key)."""
    text = " ".join(str(exc).split())
    if exc.status is not None and str(exc.status) not in text:
        return f"HTTP {exc.status}: {text}"
    return text
