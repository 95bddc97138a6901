"""``syncd api <action>``: the oHallo actions for scripts and event hooks.

They use the configured API key (a hook started by a command sink gets ``SYNCD_CONFIG``, so its
``syncd api`` reads the same settings; the key is never passed on the command line). The API's
JSON answer is printed on stdout. Exit codes: 0 done, 1 the API refused or failed (one line on
stderr: the HTTP status and the API's message), 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from syncd.api import OhalloClient
from syncd.api.http import path_segment
from syncd.config import Settings, load_settings, secret_values
from syncd.errors import ApiError, ConfigError
from syncd.logging import configure_logging

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


def add_parsers(commands: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """``syncd api ACTION ...`` under ``commands`` (an argparse subparsers object)."""
    api = commands.add_parser(
        "api",
        help="oHallo actions (reply, resolve, ...) with the configured key, for scripts and hooks",
        description=(
            "Performs one oHallo action with the configured API key and prints the API's JSON "
            "answer. Exit 0 done, 1 refused or failed by the API, 2 bad usage or config."
        ),
    )
    actions = api.add_subparsers(dest="api_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, *, conversation: bool = True) -> Any:
        parser = actions.add_parser(name, help=help_text, description=help_text)
        add_config(parser)
        if conversation:
            parser.add_argument("id", metavar="ID", help="the conversation id")
        parser.set_defaults(handler="syncd.actions:api_command")
        return parser

    reply = action("reply", "send a reply over the conversation's channel (after take-over)")
    reply.add_argument("--content", required=True, metavar="TEXT", help="the text; - reads stdin")
    resolve = action("resolve", "mark the conversation resolved")
    resolve.add_argument("--outcome", metavar="TEXT", help="what the resolution was")
    action("take-over", "pause the AI: a person owns the conversation")
    action("release", "hand a taken-over conversation back to the AI")
    assign = action("assign", "put the conversation in a user's queue")
    assign.add_argument("--user", required=True, metavar="USER_ID", help="the user's id")
    action("unassign", "return the conversation to the shared queue")
    action("approve", "approve the guardrail-gated tool call; the AI resumes")
    compose = action("compose", "start an outbound conversation", conversation=False)
    compose.add_argument("--workspace", required=True, metavar="W", help="workspace id")
    compose.add_argument("--channel", required=True, metavar="C", help="channel id")
    contact = compose.add_mutually_exclusive_group(required=True)
    contact.add_argument("--contact-email", metavar="E")
    contact.add_argument("--contact-id", metavar="I")
    contact.add_argument("--contact-phone", metavar="P")
    compose.add_argument("--contact-name", metavar="N")
    compose.add_argument("--subject", metavar="S", help="the subject (e-mail channels)")
    compose.add_argument("--content", required=True, metavar="TEXT", help="the text; - reads stdin")
    item = action("resolve-attention-item", "resolve an attention item", conversation=False)
    item.add_argument("id", metavar="ID", help="the attention item id")
    item.add_argument("--reason", metavar="TEXT", help="why it is resolved")


def api_command(args: argparse.Namespace) -> int:
    """Entry point of ``syncd api ACTION``."""
    settings = load_settings(args.config)
    # Errors only: a hook's stderr ends up in syncd's own log; the one line below says it all.
    configure_logging("error", settings.logging.format, secret_values(settings))
    settings.api.require_token()
    answer = asyncio.run(_perform(settings, ACTIONS[args.api_action], args))
    if answer is not None:
        print(json.dumps(answer, ensure_ascii=False))
    return 0


async def _perform(settings: Settings, action: Action, args: argparse.Namespace) -> Any:
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
