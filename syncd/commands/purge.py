"""``syncd purge (--contact ID | --email ADDRESS | --deleted-before TIME | --rewrite) [--json]``.

One line per table with the rows removed (``syncd.sync.purge_command`` does the work). The
address or id given is never logged.
"""

from __future__ import annotations

import json
import sys

from syncd.clock import utc_now
from syncd.commands.context import EXIT_OK, CommandContext, time_option
from syncd.sync.purge_command import render, run_purge


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
