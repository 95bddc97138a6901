"""``/healthz``, ``/readyz`` and ``/metrics`` on ``server.listen``."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from syncd.errors import ConfigError, SyncdError

log = structlog.get_logger(__name__)

DB_CHECK_TIMEOUT_S = 5.0


class ListenError(SyncdError):
    """The health server's address is taken (exit 1: not a configuration problem)."""


@dataclass(frozen=True, slots=True)
class Readiness:
    """The verdict of ``/readyz``: ready, or not with the reasons.

    ``failing`` tells a daemon that cannot do its work (passes fail, the database is gone) from
    one that is still starting: ``/readyz`` answers 503 for both, with ``"state": "failing"`` or
    ``"starting"`` in the body.
    """

    ready: bool
    reasons: tuple[str, ...] = ()
    failing: bool = False


class HealthServer:
    """A small aiohttp server; what it reports comes from callables the daemon provides."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        readiness: Callable[[], Awaitable[Readiness]],
        metrics: Callable[[], Awaitable[bytes]],
    ) -> None:
        self._host, self._port = host, port
        self._readiness = readiness
        self._metrics = metrics
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        """Listen; a port in use is a ConfigError naming ``server.listen``."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            if exc.errno == errno.EADDRINUSE:
                # Not a config error: usually another syncd (or another program) runs there.
                raise ListenError(
                    f"cannot listen on {self._host}:{self._port}: the address is in use "
                    "(another `syncd run` already running? stop it, or set server.listen to "
                    "a free port)"
                ) from None
            raise ConfigError(
                f"server.listen: cannot listen on {self._host}:{self._port} ({exc.strerror}); "
                "choose an address of this host"
            ) from None
        server = site._server  # the bound socket tells the port when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("health_server_listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, _: web.Request) -> web.Response:
        try:
            verdict = await asyncio.wait_for(self._readiness(), DB_CHECK_TIMEOUT_S * 2)
        except TimeoutError:
            verdict = Readiness(False, ("readiness check timed out",), failing=True)
        body: dict[str, object] = {
            "status": "ready" if verdict.ready else "not ready",
            "reasons": verdict.reasons,
        }
        if not verdict.ready:
            body["state"] = "failing" if verdict.failing else "starting"
        return web.json_response(body, status=200 if verdict.ready else 503)

    async def _metrics_handler(self, _: web.Request) -> web.Response:
        body = await self._metrics()
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
