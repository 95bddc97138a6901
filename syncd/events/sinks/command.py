"""Command sink: run a local program per event, the event JSON on its stdin (never a shell).

The program gets ``SYNCD_EVENT_ID``, ``SYNCD_EVENT_TYPE``, ``SYNCD_WORKSPACE_ID`` and, when syncd
runs with a config file, ``SYNCD_CONFIG`` (its absolute path, never a secret), so a hook's
``syncd api ...`` uses the same settings; syncd's other ``SYNCD_*`` variables (the token among
them) never reach it. Its output is logged at debug (it may hold personal data), and its first
lines at warning when it fails.

The program runs in a session (process group) of its own. When it has exited and closed its
output, anything it left running in that group is killed; on timeout the whole group gets
SIGTERM, then SIGKILL after a short grace. Either way nothing of it survives the delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog

from syncd.config import CONFIG_ENV_VAR, CommandSinkSettings, resolve_config_path
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks.base import RetryableDelivery, Sink

log = structlog.get_logger(__name__)

# Only the end of each output stream is kept (the rest is read and dropped).
OUTPUT_TAIL_BYTES = 64 * 1024
ERROR_TAIL_CHARS = 500
FAILURE_LINES = 5  # lines of each output stream logged at warning when the command fails
KILL_GRACE_S = 2.0
# SIGKILL to the group ends the command at once; this only bounds waiting for the child watcher.
REAP_TIMEOUT_S = 5.0


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment minus syncd's own settings (the API token, database URL and
    webhook secrets travel as ``SYNCD_*`` variables and must not reach a hook script)."""
    return {key: value for key, value in environ.items() if not key.startswith("SYNCD_")}


def hook_config_path() -> Path | None:
    """The config file syncd runs with, absolute (None: defaults and environment only)."""
    path = resolve_config_path(None)
    return path.resolve() if path is not None else None


class CommandSink(Sink):
    """Runs ``argv`` once per event; exit code 0 means delivered."""

    max_batch = 1

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        config_path: Path | None = None,
    ) -> None:
        if not argv:
            raise ValueError("argv must name a program")
        self.name = name
        self._argv = list(argv)
        self._timeout_s = timeout_s
        self._config_path = config_path

    @classmethod
    def from_settings(cls, settings: CommandSinkSettings) -> CommandSink:
        """A sink configured by a ``type = "command"`` entry (its hooks get ``SYNCD_CONFIG``)."""
        return cls(
            settings.name,
            settings.argv,
            timeout_s=settings.timeout_s,
            config_path=hook_config_path(),
        )

    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        """Run the command for every event in turn.

        :raises RetryableDelivery: the program could not start, exited non-zero, was killed by a
            signal, or did not finish within ``timeout_s``.
        """
        for event in batch:
            await self._run(event)

    async def _run(self, event: OutboxEvent) -> None:
        env = {
            **child_environment(os.environ),
            "SYNCD_EVENT_ID": event.id,
            "SYNCD_EVENT_TYPE": event.type,
            "SYNCD_WORKSPACE_ID": event.workspace_id or "",
        }
        if self._config_path is not None:
            env[CONFIG_ENV_VAR] = str(self._config_path)
        loop = asyncio.get_running_loop()
        try:
            transport, child = await loop.subprocess_exec(
                lambda: _Child(loop),
                *self._argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise RetryableDelivery(
                f"command {self.name}: cannot start {self._argv[0]!r}: {exc.strerror or exc}"
            ) from None
        ended = False
        try:
            stdin = transport.get_pipe_transport(0)
            assert isinstance(stdin, asyncio.WriteTransport)
            # Buffered by the transport and written as the program reads; a program that exits
            # without reading just breaks the pipe, which the transport absorbs.
            stdin.write(event.payload.encode("utf-8"))
            stdin.close()
            timed_out = False
            try:
                async with asyncio.timeout(self._timeout_s):
                    # Exited, and every process holding its output has closed it.
                    await asyncio.shield(child.finished)
            except TimeoutError:
                timed_out = True
            returncode = transport.get_returncode()
            await self._end_group(transport, child, event, forceful=timed_out)
            ended = True
        finally:
            if not ended:  # cancelled (shutdown): no grace, but reaped before the loop may end
                _signal_group(transport.get_pid(), signal.SIGKILL)
                await _reaped(child)
            transport.close()
        if child.stdout.total or child.stderr.total:
            log.debug(
                "command_output",
                sink=self.name,
                event_id=event.id,
                stdout=child.stdout.text(),
                stderr=child.stderr.text(),
            )
        if returncode != 0:
            log.warning(
                "command_failed_output",
                sink=self.name,
                event_id=event.id,
                exit_code=returncode,
                stdout=_first_lines(child.stdout.text()),
                stderr=_first_lines(child.stderr.text()),
            )
        self._judge(event, returncode, child.stderr)

    def _judge(self, event: OutboxEvent, returncode: int | None, stderr: _Tail) -> None:
        where = f"command {self.name}: event {event.id}"
        if returncode is None:
            raise RetryableDelivery(
                f"{where}: no exit within {self._timeout_s:g} s; its process group was killed"
                f"; stderr tail: {stderr.tail(ERROR_TAIL_CHARS)}"
            )
        if returncode == 0:
            log.debug("command_delivered", sink=self.name, event_id=event.id)
            return
        if returncode < 0:
            try:
                how = f"was killed by signal {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"was killed by signal {-returncode}"
        else:
            how = f"exited with code {returncode}"
        raise RetryableDelivery(f"{where}: {how}; stderr tail: {stderr.tail(ERROR_TAIL_CHARS)}")

    async def _end_group(
        self,
        transport: asyncio.SubprocessTransport,
        child: _Child,
        event: OutboxEvent,
        *,
        forceful: bool,
    ) -> None:
        """Leave nothing of the command's process group running, and reap the command."""
        pgid = transport.get_pid()  # start_new_session: the child leads its own group
        if forceful:
            # Late; with program_exited=True it exited but something it left behind still
            # holds its output open.
            log.warning(
                "command_group_killed",
                sink=self.name,
                event_id=event.id,
                timeout_s=self._timeout_s,
                program_exited=transport.get_returncode() is not None,
            )
            _signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KILL_GRACE_S):
                    await asyncio.shield(child.finished)
        if _signal_group(pgid, signal.SIGKILL) and not forceful:
            log.warning("command_left_processes_killed", sink=self.name, event_id=event.id)
        try:
            async with asyncio.timeout(REAP_TIMEOUT_S):
                await asyncio.shield(child.exited)
        except TimeoutError:
            log.error("command_not_reaped", sink=self.name, event_id=event.id, pid=pgid)


async def _reaped(child: _Child) -> None:
    """Wait (bounded) for a killed command to be reaped; a second cancellation ends the wait,
    and the first one goes on when the caller's ``finally`` ends."""
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        async with asyncio.timeout(REAP_TIMEOUT_S):
            await asyncio.shield(child.exited)


def _signal_group(pgid: int, signum: signal.Signals) -> bool:
    """Send a signal to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group id was reused by someone else's process
        return False
    return True


class _Child(asyncio.SubprocessProtocol):
    """Collects the output tails and tells when the command exited and its pipes closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stdout = _Tail()
        self.stderr = _Tail()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        chunk = data.encode() if isinstance(data, str) else data
        (self.stdout if fd == 1 else self.stderr).add(chunk)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


class _Tail:
    """The last OUTPUT_TAIL_BYTES of an output stream, and how much came in total."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._buffer += chunk
        if len(self._buffer) > OUTPUT_TAIL_BYTES:
            del self._buffer[:-OUTPUT_TAIL_BYTES]

    def text(self) -> str:
        """The kept tail as text, marked when the start was dropped."""
        text = self._buffer.decode("utf-8", errors="replace")
        return "…" + text if self.total > len(self._buffer) else text

    def tail(self, chars: int) -> str:
        """The last ``chars`` characters on one line, for an error message."""
        text = " ".join(self.text().split())
        if not text:
            return "(empty)"
        return text if len(text) <= chars else "…" + text[-chars:]


def _first_lines(text: str) -> str:
    """The first lines of a hook's output (what a warning shows of it)."""
    return "\n".join(text.splitlines()[:FAILURE_LINES])
