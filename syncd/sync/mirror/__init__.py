"""The mirror as the sync engine sees it: every read and write of the mirror tables, by intent.

``Mirror(conn)`` works in the caller's transaction (``SyncContext.read``/``write`` open it);
the passes ask it "what is stored for these ids", "which conversations are due", "write this
plan", "record this pass" and build no SQL themselves. The generic upsert machinery stays in
``syncd.store``; the events outbox and the delivery ledger keep their own SQL
(``syncd.events.outbox``, ``syncd.events.ledger``), which ``write_changes`` calls.
"""

from __future__ import annotations

from syncd.sync.mirror.privacy import PrivacyRecords, Removed
from syncd.sync.mirror.reads import Reads
from syncd.sync.mirror.report import Report
from syncd.sync.mirror.state import SyncStates
from syncd.sync.mirror.writes import WRITE_LOCK_KEY, Writes, take_write_lock

__all__ = ["WRITE_LOCK_KEY", "Mirror", "Removed", "take_write_lock"]


class Mirror(Reads, Writes, SyncStates, PrivacyRecords, Report):
    """Every read and write of the mirror tables the sync engine does (one connection)."""

    __slots__ = ()
