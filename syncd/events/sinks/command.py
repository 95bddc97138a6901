"""Command sink: run a local program per event, the event JSON on its stdin (never a shell).

The program runs in a session (process group) of its own. When it has exited and closed its
output, anything it left running in that group is killed; on timeout the whole group gets
SIGTERM, then SIGKILL after a short grace. Either way nothing of it survives the delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from typing import Any

import structlog

from syncd.config import CommandSinkSettings
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks.base import RetryableDelivery, Sink

log = structlog.get_logger(__name__)

# Only the end of each output stream is kept (the rest is read and dropped).
OUTPUT_TAIL_BYTES = 64 * 1024
ERROR_TAIL_CHARS = 500
KILL_GRACE_S = 2.0
# After SIGKILL to the group the pipes close at once, unless a process that left the group
# (setsid) still holds them; then we stop waiting for them.
REAP_TIMEOUT_S = 5.0
_READ_CHUNK = 64 * 1024


class CommandSink(Sink):
    """Runs ``argv`` once per event; exit code 0 means delivered."""

    max_batch = 1

    def __init__(self, name: str, argv: Sequence[str], *, timeout_s: float = 30.0) -> None:
        if not argv:
            raise ValueError("argv must name a program")
        self.name = name
        self._argv = list(argv)
        self._timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: CommandSinkSettings) -> CommandSink:
        """A sink configured by a ``type = "command"`` entry."""
        return cls(settings.name, settings.argv, timeout_s=settings.timeout_s)

    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        """Run the command for every event in turn.

        :raises RetryableDelivery: the program could not start, exited non-zero, was killed by a
            signal, or did not finish within ``timeout_s``.
        """
        for event in batch:
            await self._run(event)

    async def _run(self, event: OutboxEvent) -> None:
        env = {
            **os.environ,
            "SYNCD_EVENT_ID": event.id,
            "SYNCD_EVENT_TYPE": event.type,
            "SYNCD_WORKSPACE_ID": event.workspace_id or "",
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise RetryableDelivery(
                f"command {self.name}: cannot start {self._argv[0]!r}: {exc.strerror or exc}"
            ) from None
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdout, stderr = _Tail(), _Tail()
        tasks = [
            asyncio.create_task(_feed(proc.stdin, event.payload.encode("utf-8"))),
            asyncio.create_task(stdout.drain(proc.stdout)),
            asyncio.create_task(stderr.drain(proc.stderr)),
        ]
        timed_out = False
        try:
            async with asyncio.timeout(self._timeout_s):
                # The pipes reach EOF once every process holding them has exited.
                await asyncio.gather(*tasks)
                await proc.wait()
        except TimeoutError:
            timed_out = True
        finally:
            exited_in_time = proc.returncode
            await self._end_group(proc, event, forceful=timed_out or proc.returncode is None)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if stdout.total or stderr.total:
            log.info(
                "command_output",
                sink=self.name,
                event_id=event.id,
                stdout=stdout.text(),
                stderr=stderr.text(),
            )
        self._judge(event, exited_in_time, stderr)

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
        self, proc: asyncio.subprocess.Process, event: OutboxEvent, *, forceful: bool
    ) -> None:
        """Leave nothing of the command running, and reap it."""
        pgid = proc.pid  # start_new_session: the child leads its own group
        if forceful:
            # Late, or cancelled; with program_exited=True it exited but something it left
            # behind still holds its output open.
            log.warning(
                "command_group_killed",
                sink=self.name,
                event_id=event.id,
                timeout_s=self._timeout_s,
                program_exited=proc.returncode is not None,
            )
            _signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KILL_GRACE_S):
                    await proc.wait()
        if _signal_group(pgid, signal.SIGKILL) and not forceful:
            log.warning("command_left_processes_killed", sink=self.name, event_id=event.id)
        try:
            async with asyncio.timeout(REAP_TIMEOUT_S):
                await proc.wait()
        except TimeoutError:
            log.error("command_pipes_held_open", sink=self.name, event_id=event.id, pgid=pgid)
            transport: Any = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()


def _signal_group(pgid: int, signum: signal.Signals) -> bool:
    """Send a signal to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # the group id was reused by someone else's process
        return False
    return True


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Write the event and close stdin; a program that never reads it is fine."""
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    stdin.close()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        await stdin.wait_closed()


class _Tail:
    """Reads a stream to its end, keeping only the last OUTPUT_TAIL_BYTES."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.total = 0

    async def drain(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(_READ_CHUNK):
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
