"""Running the simulator: ``SimService`` inside an event loop, ``SimServer`` in its own thread."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
from collections import Counter
from types import TracebackType

import structlog
from aiohttp import web

from syncd.sim.activity import run_activity
from syncd.sim.handlers import RequestRecord, RequestRecorder, build_app
from syncd.sim.simulator import Simulator

log = structlog.get_logger(__name__)

START_TIMEOUT_S = 30.0


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` (port 0: a free one)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


class SimService:
    """The HTTP server and the activity loop, running in the caller's event loop."""

    def __init__(self, sim: Simulator, recorder: RequestRecorder | None = None) -> None:
        self.sim = sim
        self.recorder = recorder if recorder is not None else RequestRecorder()
        self.host = ""
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._activity: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def open(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start serving on ``host:port`` and start the activity loop."""
        runner = web.AppRunner(
            build_app(self.sim, self.recorder),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=self.sim.config.shutdown_timeout_s,
        )
        await runner.setup()
        try:
            sock = _bind(host, port)
            self.host, self.port = sock.getsockname()[:2]
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        rng = random.Random(f"{self.sim.config.seed}:activity")
        self._activity = asyncio.create_task(run_activity(self.sim, rng), name="sim-activity")
        log.info("sim_started", url=self.base_url)

    async def close(self) -> None:
        """Stop the activity loop, release held responses, finish in-flight requests (bounded),
        close every socket."""
        if self._activity is not None:
            self._activity.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._activity
            self._activity = None
        self.sim.holds.release_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            log.info("sim_stopped", url=self.base_url)


class SimServer:
    """The simulator served from a background thread, for tests and benchmarks.

    ``with SimServer(Simulator(SimConfig(seed=7))) as server: httpx.get(server.base_url + ...)``
    """

    def __init__(self, simulator: Simulator | None = None) -> None:
        self.simulator = simulator if simulator is not None else Simulator()
        self.recorder = RequestRecorder()
        self._service: SimService | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SimServer:
        """Serve on ``host:port`` (0: a free port) until ``stop()``; returns self."""
        if self._thread is not None:
            raise RuntimeError("SimServer is already running")
        ready = threading.Event()
        self._error = None
        thread = threading.Thread(
            target=self._run, args=(host, port, ready), name="syncd-sim", daemon=True
        )
        thread.start()
        if not ready.wait(START_TIMEOUT_S):
            raise RuntimeError("SimServer did not start in time")
        if self._error is not None:
            thread.join()
            error, self._error = self._error, None
            raise error
        self._thread = thread
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (no-op when not running)."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        loop.call_soon_threadsafe(stopping.set)
        thread.join()
        self._thread = self._loop = self._stopping = self._service = None

    def __enter__(self) -> SimServer:
        return self if self._thread is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, host: str, port: int, ready: threading.Event) -> None:
        asyncio.run(self._serve(host, port, ready))

    async def _serve(self, host: str, port: int, ready: threading.Event) -> None:
        service = SimService(self.simulator, self.recorder)
        try:
            await service.open(host, port)
        except BaseException as exc:  # handed to start(), which raises it in the caller
            self._error = exc
            ready.set()
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._service = service
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            await service.close()

    # -- inspection ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._service is None:
            raise RuntimeError("SimServer is not running")
        return self._service.base_url

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._service is None:
            raise RuntimeError("SimServer is not running")
        return self._service.port

    @property
    def request_counts(self) -> Counter[str]:
        """Requests so far by route name (a copy), counted on arrival, faults included."""
        return self.recorder.counts()

    @property
    def request_log(self) -> list[RequestRecord]:
        """The most recent requests (up to 10,000), oldest first."""
        return self.recorder.log()

    def reset_counts(self) -> None:
        """Forget request counts and the request log."""
        self.recorder.reset()
