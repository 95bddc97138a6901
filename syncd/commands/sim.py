"""``syncd sim serve``: the simulator's own CLI (``syncd.sim.serve``), which prints its banner
line itself; it reads no syncd configuration and opens no database."""

from __future__ import annotations

from syncd.commands.context import CommandContext
from syncd.sim import serve


def serve_command(ctx: CommandContext) -> int:
    """Serve the simulator on loopback until SIGINT/SIGTERM."""
    return serve.serve_command(ctx.args)
