"""``syncd status [--json] [--check]``: reads only (``syncd.status`` gathers and renders)."""

from __future__ import annotations

import json
import sys

from syncd.commands.context import EXIT_FAILED, EXIT_OK, CommandContext
from syncd.status import collect_status, render_text, render_verdict


def status_command(ctx: CommandContext) -> int:
    """Print the status; with ``--check`` exit 1 when it names a problem."""
    args = ctx.args
    status = collect_status(ctx.engine("existing"), ctx.settings())
    if args.json:
        json.dump(status, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(render_text(status))
    if not getattr(args, "check", False):
        return EXIT_OK
    if not args.json:
        print(render_verdict(status["problems"]))
    return EXIT_FAILED if status["problems"] else EXIT_OK
