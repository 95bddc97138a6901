"""``syncd run``: the daemon until SIGTERM/SIGINT (``syncd.daemon.main``)."""

from __future__ import annotations

import asyncio

from syncd.commands.context import CommandContext
from syncd.daemon.main import Daemon


def run_command(ctx: CommandContext) -> int:
    """Serve until stopped. The daemon opens the engine itself, once per configuration: a
    SIGHUP reload may point it at another database."""
    settings = ctx.settings()
    settings.api.require_token()
    return asyncio.run(Daemon(settings, config_path=ctx.config_path).run())
