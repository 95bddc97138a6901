"""``syncd purge (--contact ID | --email ADDRESS | --deleted-before TIME | --rewrite) [--json]``.

One line per table with the rows removed (``syncd.sync.purge.run_purge`` does the work). The
address or id given is never logged.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from syncd.clock import utc_now
from syncd.commands.context import EXIT_OK, CommandContext, time_option
from syncd.sync.purge import run_purge

ORDER = (
    "conversations",
    "messages",
    "attachments",
    "attention_items",
    "context_entries",
    "conversation_status_history",
    "contacts",
    "events",
)


def purge_command(ctx: CommandContext) -> int:
    """Erase (or rewrite) in one transaction, then print what it did per table."""
    args = ctx.args
    settings = ctx.settings()
    cutoff = time_option("--deleted-before", args.deleted_before) if args.deleted_before else None
    removed = run_purge(
        ctx.engine(),
        settings,
        utc_now(),
        contact=args.contact,
        email=args.email,
        deleted_before=cutoff,
    )
    if args.json:
        print(json.dumps(dict(removed), sort_keys=True))
    else:
        print(render(removed, rewrite=bool(args.rewrite)))
    if (args.email or args.contact) and not (removed["contacts"] or removed["conversations"]):
        print("nothing about it in the mirror; it is suppressed all the same", file=sys.stderr)
    return EXIT_OK


def render(removed: Counter[str], *, rewrite: bool) -> str:
    """One line per table, the known tables first."""
    verb = "rewritten" if rewrite else "removed"
    lines = []
    for name in [*ORDER, *sorted(set(removed) - set(ORDER))]:
        if name == "privacy_suppressions":
            continue
        if name in ORDER or removed[name]:
            lines.append(f"{name:<28} {removed[name]} {verb}")
    if "privacy_suppressions" in removed:
        lines.append(f"{'privacy_suppressions':<28} {removed['privacy_suppressions']} added")
    return "\n".join(lines)
