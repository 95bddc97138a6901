"""The daemon's process — signals, reloads, health server, systemd notify (``syncd run``, whose
command is ``syncd.commands.run``).

SIGTERM/SIGINT stop scheduling, let running passes finish (their transaction commits or rolls
back), flush the sinks and exit 0 within ``daemon.shutdown_timeout_s``. SIGHUP re-reads the
configuration: when it is valid the running configuration is stopped the same graceful way and
the new one started (the health server keeps listening; changing ``server.listen`` needs a
restart); when it is not, the error is logged and the daemon carries on unchanged.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from syncd.config import Settings, load_settings, safe_database_url
from syncd.config.logs import configure_logging_for
from syncd.daemon.health import HealthServer, Readiness
from syncd.daemon.leases import Leases
from syncd.daemon.metrics import Metrics
from syncd.daemon.notify import Notifier
from syncd.daemon.progress import BackfillProgress
from syncd.daemon.service import Service
from syncd.errors import SyncdError, first_line
from syncd.freshness import PER_WORKSPACE, stream_intervals
from syncd.sync.mirror import Mirror
from syncd.sync.session import open_sync
from syncd.sync.state import scope_key

log = structlog.get_logger(__name__)


@dataclass
class Signals:
    """What the signal handlers asked for."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reload: asyncio.Event = field(default_factory=asyncio.Event)

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload.set)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)


class Daemon:
    """The process: one health server, a sequence of configurations (one per reload)."""

    def __init__(
        self,
        settings: Settings,
        *,
        config_path: str | None = None,
        notifier: Notifier | None = None,
        client_options: dict[str, Any] | None = None,
        on_service: Callable[[Service], None] | None = None,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.metrics = Metrics()
        self.signals = Signals()
        self.service: Service | None = None
        self.client_options = client_options or {}
        self.on_service = on_service
        self.health: HealthServer | None = None

    async def run(self, *, install_signals: bool = True) -> int:
        """Serve until stopped; returns the exit code."""
        loop = asyncio.get_running_loop()
        if install_signals:
            self.signals.install(loop)
        server = self.settings.server
        self.health = HealthServer(
            server.host, server.port, readiness=self._readiness, metrics=self._metrics
        )
        try:
            await self.health.start()
            while True:
                reload = await self._serve(self.settings)
                if not reload:
                    return 0
        finally:
            self.notifier.stopping()
            await self.health.stop()
            if install_signals:
                self.signals.uninstall(loop)

    async def _serve(self, settings: Settings) -> bool:
        """Run one configuration until stop (False) or a valid reload (True)."""
        options = {**self.metrics.client_hooks(), **self.client_options}
        progress = BackfillProgress()
        async with open_sync(
            settings, client_options=options, on_progress=progress.update, scheduled=True
        ) as ctx:
            leases = Leases(ctx.engine)
            leases.start()
            service = Service(ctx, metrics=self.metrics, notifier=self.notifier, leases=leases)
            try:
                await self._watch_streams(service)
                await service.start()
                self.service = service
                if self.on_service is not None:
                    self.on_service(service)
                self.notifier.ready(
                    f"serving {safe_database_url(settings.database.url.get_secret_value())}"
                )
                log.info(
                    "daemon_started",
                    scopes=[s or "*" for s in service.scopes],
                    database=safe_database_url(settings.database.url.get_secret_value()),
                )
                reload = await self._wait_for_signal()
                if reload is not None:
                    self.settings = reload
                log.info("daemon_stopping", reload=reload is not None)
                return reload is not None
            finally:
                self.service = None
                await service.stop(settings.daemon.shutdown_timeout_s)
                progress.close()
                leases.close()

    async def _watch_streams(self, service: Service) -> None:
        """Every stream's series from start-up: what the database knows, else never succeeded."""
        intervals = stream_intervals(service.settings)
        self.metrics.set_intervals(intervals)
        for scope in service.scopes:
            for stream in intervals:
                # The whole key's status counts are per workspace, known only once seen.
                if scope is not None or stream not in PER_WORKSPACE:
                    self.metrics.expect(scope_key(scope), stream)
        for record in await service.ctx.read(lambda conn: Mirror(conn).stream_records()):
            self.metrics.seed(
                record.workspace,
                record.stream,
                last_success=record.last_success_at.timestamp() if record.last_success_at else None,
                failures=record.consecutive_failures,
            )

    async def _wait_for_signal(self) -> Settings | None:
        """Block until SIGTERM/SIGINT (None) or a SIGHUP with a valid new configuration."""
        while True:
            stop = asyncio.ensure_future(self.signals.stop.wait())
            reload = asyncio.ensure_future(self.signals.reload.wait())
            _, pending = await asyncio.wait({stop, reload}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if self.signals.stop.is_set():
                return None
            self.signals.reload.clear()
            try:
                fresh = load_settings(self.config_path)
            except SyncdError as exc:
                log.error("reload_refused", error=str(exc))
                continue
            configure_logging_for(fresh)
            log.info("config_reloaded")
            return fresh

    async def _readiness(self) -> Readiness:
        service = self.service
        if service is None:
            return Readiness(False, ("starting or reloading",))
        return await service.readiness()

    async def _metrics(self) -> bytes:
        service = self.service
        if service is not None:
            try:
                await service.refresh_sink_metrics()
            except Exception as exc:  # /metrics must answer even when the database does not
                log.warning("sink_metrics_failed", error=first_line(exc))
        return self.metrics.exposition()
