"""systemd's notify protocol (sd_notify): READY, STATUS, WATCHDOG, STOPPING over a datagram.

A few lines over ``$NOTIFY_SOCKET`` (the protocol is a stable, documented text format); without
the variable every call does nothing, so the daemon runs the same outside systemd.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    """Sends notifications to the service manager, when there is one."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        self._address = address or None
        self._watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if usec and usec.isdigit() and (not pid or pid == str(os.getpid())):
            self._watchdog_s = int(usec) / 1_000_000

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half the manager's watchdog timeout (None: no watchdog)."""
        return self._watchdog_s / 2 if self._watchdog_s else None

    def notify(self, **fields: str) -> bool:
        """Send ``KEY=value`` lines; False when nobody listens or the send failed."""
        if self._address is None:
            return False
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(message.encode())
        except OSError as exc:
            log.warning("sd_notify_failed", error=str(exc))
            return False
        return True

    def ready(self, status: str) -> bool:
        """READY=1 with a status line."""
        return self.notify(ready="1", status=status)

    def status(self, text: str) -> bool:
        """A STATUS= line (shown by ``systemctl status``)."""
        return self.notify(status=text)

    def watchdog(self) -> bool:
        """WATCHDOG=1: the loop is alive."""
        return self.notify(watchdog="1")

    def stopping(self) -> bool:
        """STOPPING=1."""
        return self.notify(stopping="1", status="stopping")
