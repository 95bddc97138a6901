"""The ``syncd`` command line: the parser, and ``main``, the one error boundary.

Every handler is ``handler(ctx: CommandContext) -> int`` (the exit code), imported only when it
runs. A ``ConfigError`` exits 2, any other ``SyncdError`` exits 1, each with one line on stderr
and no traceback; so does a database error that escaped ``syncd.store``'s translation.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from syncd import __version__
from syncd.commands.api import add_parsers as add_api_parsers
from syncd.commands.context import EXIT_FAILED, EXIT_USAGE, CommandContext, UsageError
from syncd.config import CONFIG_ENV_VAR, resolve_config_path
from syncd.errors import ConfigError, SyncdError
from syncd.logging import configure_logging
from syncd.sim.serve import add_serve_arguments
from syncd.store.failures import describe

Handler = Callable[[CommandContext], int]

CONFIG_HELP = "TOML config file (default: $SYNCD_CONFIG, else ./syncd.toml, else defaults)"


def _add_config(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a command's own -c overrides `syncd -c FILE COMMAND`, its absence does not.
    parser.add_argument(
        "-c", "--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP
    )


def _handler(parser: argparse.ArgumentParser, target: str) -> None:
    """Attach ``module:function`` as the parser's handler; imported only when it runs."""
    parser.set_defaults(handler=target)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (README.md lists the commands)."""
    parser = argparse.ArgumentParser(
        prog="syncd",
        description="Keeps a local SQL mirror of an oHallo account and emits change events.",
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.add_argument("-c", "--config", metavar="FILE", default=None, help=CONFIG_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run the daemon until SIGTERM/SIGINT")
    _add_config(run)
    _handler(run, "syncd.commands.run:run_command")

    sync = commands.add_parser("sync", help="one complete pass of every stream, then deliver")
    _add_config(sync)
    sync.add_argument("--full", action="store_true", help="include a full reconcile pass")
    sync.add_argument(
        "--deep",
        action="store_true",
        help="as --full, and re-read every conversation's detail and attachments (a repair tool)",
    )
    sync.add_argument(
        "--workspace",
        metavar="ID",
        action="append",
        dest="workspaces",
        help="only this workspace (repeatable)",
    )
    _handler(sync, "syncd.commands.sync:sync_command")

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    _add_config(upgrade)
    _handler(upgrade, "syncd.commands.db:upgrade_command")
    current = db_commands.add_parser("current", help="show the database's schema revision")
    _add_config(current)
    _handler(current, "syncd.commands.db:current_command")

    status = commands.add_parser("status", help="sync freshness, errors and outbox state")
    _add_config(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a stream is failing or stale or a sink is failing, stuck, disabled "
        "or has dead letters (0 when healthy); reads only",
    )
    _handler(status, "syncd.commands.status:status_command")

    events = commands.add_parser("events", help="stored events and their delivery")
    event_commands = events.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    listing = event_commands.add_parser("list", help="list stored events")
    _add_config(listing)
    listing.add_argument("--sink", metavar="NAME", help="only this sink's delivery state")
    listing.add_argument(
        "--status",
        choices=["pending", "delivered", "dead", "skipped"],
        help="only events in this state at a listed sink",
    )
    listing.add_argument(
        "--type",
        dest="types",
        action="append",
        metavar="TYPE",
        help="only this event type; a pattern as in a sink's `events` (repeatable)",
    )
    listing.add_argument("--since", metavar="TIME", help="only events since an ISO-8601 time")
    listing.add_argument(
        "--limit", type=int, default=100, help="the newest N events (default: %(default)s)"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    _handler(listing, "syncd.commands.events:list_command")
    replay = event_commands.add_parser("replay", help="deliver stored events again")
    _add_config(replay)
    replay.add_argument("--sink", metavar="NAME", required=True)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--since", metavar="TIME", help="ISO-8601 time")
    which.add_argument("--from-id", metavar="ID", help="an event id (evt_...)")
    which.add_argument("--dead", action="store_true", help="every dead letter of the sink")
    _handler(replay, "syncd.commands.events:replay_command")
    enable = event_commands.add_parser("enable", help="re-enable a sink disabled by a 410")
    _add_config(enable)
    enable.add_argument("--sink", metavar="NAME", required=True)
    _handler(enable, "syncd.commands.events:enable_command")

    purge = commands.add_parser("purge", help="erase personal data from the mirror and outbox")
    _add_config(purge)
    what = purge.add_mutually_exclusive_group(required=True)
    what.add_argument("--contact", metavar="ID", help="everything about this contact id")
    what.add_argument("--email", metavar="ADDRESS", help="everything about this email address")
    what.add_argument("--deleted-before", metavar="TIME", help="conversations deleted before")
    what.add_argument("--rewrite", action="store_true", help="apply [privacy] to stored data")
    purge.add_argument("--json", action="store_true", help="machine-readable output")
    _handler(purge, "syncd.commands.purge:purge_command")

    sim = commands.add_parser("sim", help="the oHallo API simulator")
    sim_commands = sim.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    serve = sim_commands.add_parser(
        "serve",
        help="serve the simulator on loopback",
        description=(
            "Serves a simulated oHallo API (any key starting with sf_live_v1_ or sf_test_v1_ "
            "is accepted) with live activity, to try syncd, your config and your hooks "
            "without an account. "
            "Ctrl-C stops it."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_serve_arguments(serve)
    _handler(serve, "syncd.commands.sim:serve_command")

    add_api_parsers(commands, _add_config, _handler)

    demo = commands.add_parser("demo", help="simulator + daemon + SQLite + stdout, no config")
    demo.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    demo.add_argument("--database", default="syncd-demo.db", metavar="FILE")
    demo.add_argument("--conversations", type=int, default=300)
    demo.add_argument("--seed", type=int, default=1)
    _handler(demo, "syncd.commands.demo:demo_command")

    config = commands.add_parser("config", help="configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_commands.add_parser(
        "check",
        help="validate and print, secrets redacted",
        description=(
            "Validates the configuration and prints it with secrets masked. Exit 0 valid, "
            "1 --online request refused, 2 invalid or unusable (no token, a command sink's "
            "program missing, a file sink's directory not writable, a pattern matching no "
            "event type)."
        ),
    )
    _add_config(check)
    check.add_argument(
        "--online", action="store_true", help="also make one authenticated API request"
    )
    _handler(check, "syncd.commands.config:check_command")

    return parser


def _resolve(target: str) -> Handler:
    module_name, _, function = target.partition(":")
    handler: Handler = getattr(importlib.import_module(module_name), function)
    return handler


def export_config_path(args: argparse.Namespace) -> None:
    """``-c FILE`` as ``$SYNCD_CONFIG`` (absolute): a SIGHUP reload and the hooks a command sink
    runs (their ``syncd api ...``) then read the same file, whatever their directory."""
    path = resolve_config_path(getattr(args, "config", None))
    if path is not None and getattr(args, "config", None) is not None:
        os.environ[CONFIG_ENV_VAR] = str(path.resolve())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``syncd`` console script (``syncd.cli:main``)."""
    args = build_parser().parse_args(argv)
    context = CommandContext(args)
    try:
        export_config_path(args)
        # Logs go to stderr from the first line on (stdout belongs to output and stdout sinks);
        # the context configures logging again with the settings' level and secrets.
        configure_logging()
        with context:
            return _resolve(args.handler)(context)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ConfigError as exc:
        return _fail(f"config error: {exc}", EXIT_USAGE)
    except SyncdError as exc:
        return _fail(str(exc), EXIT_FAILED)
    except SQLAlchemyError as exc:  # a gap in syncd.store's translation: still one line
        where = f" on {context.database}" if context.database else ""
        return _fail(f"database error{where}: {describe(exc)}", EXIT_FAILED)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int) -> int:
    print(f"syncd: {message}", file=sys.stderr)
    return code
