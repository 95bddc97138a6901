"""Backfill progress: a rich progress display on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import sys
import time

import structlog
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

log = structlog.get_logger(__name__)

LOG_EVERY_S = 10.0


class BackfillProgress:
    """Fed with (scope, rows walked so far) by the reconcile pass."""

    def __init__(self, *, tty: bool | None = None) -> None:
        self._tty = sys.stderr.isatty() if tty is None else tty
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._last_log: dict[str, float] = {}

    def update(self, scope: str, rows: int) -> None:
        """Rows walked so far in ``scope``'s running reconcile pass."""
        if self._tty:
            if self._progress is None:
                self._progress = Progress(
                    SpinnerColumn(),
                    TextColumn("reconcile {task.fields[scope]}"),
                    TextColumn("{task.completed} conversations"),
                    TimeElapsedColumn(),
                    transient=True,
                )
                self._progress.start()
            if scope not in self._tasks:
                self._tasks[scope] = self._progress.add_task("reconcile", total=None, scope=scope)
            self._progress.update(self._tasks[scope], completed=rows)
            return
        now = time.monotonic()
        if now - self._last_log.get(scope, 0.0) >= LOG_EVERY_S:
            self._last_log[scope] = now
            log.info("reconcile_progress", scope=scope, conversations=rows)

    def close(self) -> None:
        """Remove the display."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
