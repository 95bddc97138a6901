"""``syncd api <action>``: one oHallo action with the configured key, for scripts and hooks.

The API's JSON answer is printed on stdout. Exit codes: 0 done, 1 the API refused or failed
(one line on stderr: the HTTP status and the API's message), 2 bad usage or config. The
actions themselves are ``syncd.actions``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

from syncd.actions import perform
from syncd.commands.context import EXIT_OK, CommandContext


def add_parsers(
    commands: Any,
    add_config: Callable[[argparse.ArgumentParser], None],
    set_handler: Callable[[argparse.ArgumentParser, str], None],
) -> None:
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
        set_handler(parser, "syncd.commands.api:api_command")
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


def api_command(ctx: CommandContext) -> int:
    """``syncd api ACTION``: perform it, print the API's answer."""
    # Errors only: a hook's stderr ends up in syncd's own log; the one error line says it all.
    settings = ctx.settings(log_level="error")
    settings.api.require_token()
    answer = asyncio.run(perform(settings, ctx.args))
    if answer is not None:
        print(json.dumps(answer, ensure_ascii=False))
    return EXIT_OK
