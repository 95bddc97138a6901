"""``syncd sim serve``: the simulator alone, on loopback, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from syncd.errors import ConfigError, SyncdError
from syncd.logging import configure_logging
from syncd.sim.config import SimConfig
from syncd.sim.handlers import EXAMPLE_TOKEN
from syncd.sim.server import SimService
from syncd.sim.state import Simulator


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
