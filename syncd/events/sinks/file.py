"""File sink: JSON lines appended to a file (mode 0600), flushed and fsynced per batch.

A batch is accepted once its lines are fsynced. A crash mid-write leaves a torn last line;
`start` truncates it back to the last complete line, and since that event's position was never
committed, the dispatcher sends it again. The file is opened per batch, so it may be rotated
(moved away) at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import structlog

from syncd.config import FileSinkSettings
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks.base import RetryableDelivery, Sink

log = structlog.get_logger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
_SCAN_CHUNK = 64 * 1024


class FileSink(Sink):
    """Appends each event's payload plus a newline to ``path``."""

    max_batch = 500

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        self.name = name
        self.path = Path(path)
        self._started = False

    @classmethod
    def from_settings(cls, settings: FileSinkSettings) -> FileSink:
        """A sink configured by a ``type = "file"`` entry."""
        return cls(settings.name, settings.path)

    async def start(self) -> None:
        """Truncate a torn last line left by a crash.

        :raises RetryableDelivery: the file exists but cannot be read or repaired.
        """
        try:
            removed = await asyncio.to_thread(repair_torn_line, self.path)
        except OSError as exc:
            raise RetryableDelivery(self._failure("cannot repair", exc)) from None
        if removed:
            log.warning(
                "file_sink_torn_line_truncated",
                sink=self.name,
                path=str(self.path),
                removed_bytes=removed,
            )
        self._started = True

    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        """Append the batch's lines and fsync them.

        :raises RetryableDelivery: the file could not be written or synced (nothing of the batch
            is left in the file then, as far as the file system lets us undo it).
        """
        if not batch:
            return
        if not self._started:
            await self.start()
        data = "".join(event.payload + "\n" for event in batch).encode("utf-8")
        try:
            await asyncio.to_thread(append_synced, self.path, data)
        except OSError as exc:
            raise RetryableDelivery(self._failure("cannot write", exc)) from None

    def _failure(self, what: str, exc: OSError) -> str:
        return f"file {self.name}: {what} {self.path}: {exc.strerror or exc}"


def repair_torn_line(path: Path) -> int:
    """Cut a last line that lacks its newline; returns how many bytes were removed."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return 0
        keep = _end_of_last_line(fd, size)
        os.ftruncate(fd, keep)
        os.fsync(fd)
        return size - keep
    finally:
        os.close(fd)


def _end_of_last_line(fd: int, size: int) -> int:
    """Offset just past the last newline before ``size`` (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - _SCAN_CHUNK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def append_synced(path: Path, data: bytes) -> None:
    """Append ``data`` and fsync; on failure, cut the file back to where it was."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    created = True
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE
        )
    except FileExistsError:
        created = False
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        before = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            # Leave no partial batch behind: it would glue onto the next line.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise
    finally:
        os.close(fd)
    if created:
        _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable (not possible on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
