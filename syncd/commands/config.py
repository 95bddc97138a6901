"""``syncd config check [--online]``: validate the configuration and print it, secrets masked.

Exit 0: valid and usable. Exit 2: invalid, or valid but syncd could not run with it
(``syncd.config.check.usability_problems``). ``--online`` also makes one authenticated request
(exit 1 when the API refuses it or cannot be reached).
"""

from __future__ import annotations

import asyncio
import sys

from syncd.commands.context import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandContext
from syncd.config import Settings, resolve_config_path
from syncd.config.check import check_online, config_warnings, render_report, usability_problems
from syncd.config.sources import setting_env_vars
from syncd.errors import SyncdError


def check_command(ctx: CommandContext) -> int:
    """Print the settings redacted (a ConfigError exits 2), then what would stop syncd from
    running with them."""
    path = resolve_config_path(ctx.config_path)
    settings = ctx.settings()
    _show_toml(render_report(settings, path, sorted(setting_env_vars(Settings))))
    for warning in config_warnings(settings, path):
        print(f"syncd: warning: {warning}", file=sys.stderr)
    problems = usability_problems(settings)
    for problem in problems:
        print(f"syncd: error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_USAGE
    if not getattr(ctx.args, "online", False):
        return EXIT_OK
    # The one line below says what went wrong; the client's own warning would repeat it.
    ctx.settings(log_level="error")
    try:
        asyncio.run(check_online(settings))
    except SyncdError as exc:
        print(f"syncd: online check failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"# online: {settings.api.base_url} accepted the key (GET /api/conversations)",
        file=sys.stderr,
    )
    return EXIT_OK


def _show_toml(text: str) -> None:
    """Plain text unless stdout is a terminal, then TOML syntax highlighting."""
    if not sys.stdout.isatty():
        sys.stdout.write(text)
        return
    from rich.console import Console
    from rich.syntax import Syntax

    Console().print(Syntax(text.rstrip("\n"), "toml", background_color="default"))
