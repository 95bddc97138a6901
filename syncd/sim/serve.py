"""``syncd sim serve``: the simulator alone, on loopback, until SIGINT/SIGTERM.

A test bed for a config and hooks: it answers like the oHallo API (any key starting with
``sf_live_v1_`` or ``sf_test_v1_`` is accepted), and by default something happens every few
seconds (new messages, status changes, attention items), so a running ``syncd run`` has events
to deliver. ``--activity-per-s 0`` keeps it still (benchmarks, exact tests).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from syncd.errors import ConfigError, SyncdError
from syncd.logging import configure_logging
from syncd.sim.config import SimConfig
from syncd.sim.handlers import EXAMPLE_TOKEN
from syncd.sim.server import SimService
from syncd.sim.simulator import Simulator

DEFAULT_ACTIVITY_PER_S = 0.5
"""Live changes per second by default: a hook sees an event every few seconds."""


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    """The options of ``syncd sim serve`` (the parser shows every default in its help)."""
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--port", type=int, default=8765, help="port to listen on (0: any free port)"
    )
    serve.add_argument(
        "--seed", type=int, default=1, help="random seed: the same seed, the same data"
    )
    serve.add_argument("--workspaces", type=int, default=2, help="number of workspaces")
    serve.add_argument(
        "--conversations", type=int, default=200, help="conversations generated at start"
    )
    serve.add_argument("--messages", type=int, default=6, help="messages per conversation (mean)")
    serve.add_argument(
        "--activity-per-s",
        type=float,
        default=DEFAULT_ACTIVITY_PER_S,
        metavar="N",
        help="live changes per second (new messages, status changes, attention items, new "
        "conversations); 0 keeps the data still",
    )
    serve.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before every answer, in ms"
    )
    serve.add_argument(
        "--fail-rate", type=float, default=0.0, help="share of requests answered 5xx (0..1)"
    )
    serve.add_argument(
        "--rate-limit-rate",
        type=float,
        default=0.0,
        help="share of requests answered 429 with Retry-After (0..1)",
    )
    serve.add_argument(
        "--drop-rate", type=float, default=0.0, help="share of connections dropped (0..1)"
    )
    serve.add_argument(
        "--malformed-rate",
        type=float,
        default=0.0,
        help="share of list rows served broken (no id, wrong types) (0..1)",
    )
    serve.add_argument(
        "--order",
        choices=["id", "newest"],
        default="id",
        help="list order: keyset by id, or newest first",
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The ``SimConfig`` the command line asks for (ConfigError naming the bad option)."""
    try:
        return SimConfig(
            seed=args.seed,
            workspaces=args.workspaces,
            conversations=args.conversations,
            messages_per_conversation=args.messages,
            order=args.order,
            activity_per_s=args.activity_per_s,
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            rate_limit_rate=args.rate_limit_rate,
            drop_rate=args.drop_rate,
            malformed_rate=args.malformed_rate,
        )
    except ValueError as exc:
        raise ConfigError(f"syncd sim serve: {exc}") from None


def serve_command(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; prints one line with the URL and an example token."""
    config = config_from_args(args)
    configure_logging()  # structlog to stderr: stdout is the banner's alone
    return asyncio.run(_serve(config, args.host, args.port))


async def _serve(config: SimConfig, host: str, port: int) -> int:
    service = SimService(Simulator(config))
    try:
        await service.open(host, port)
    except OSError as exc:
        raise SyncdError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        print(
            f"syncd sim: serving {service.base_url} "
            f"(token: {EXAMPLE_TOKEN}; try: curl -H 'Authorization: Bearer {EXAMPLE_TOKEN}' "
            f"{service.base_url}/api/conversations)",
            flush=True,
        )
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await service.close()
    return 0
