"""The connection every part of ``Mirror`` works on (the caller's transaction)."""

from __future__ import annotations

from sqlalchemy import Connection


class MirrorBase:
    """Holds the connection; reads and writes run in the caller's transaction."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
