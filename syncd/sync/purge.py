"""Erasure on request and by age: ``syncd purge`` and the ``purge`` stream.

- ``erase_contact`` / ``erase_email``: an erasure request. Every conversation of the contact
  and everything about it (see ``syncd.sync.mirror.privacy``) and the contact's own row are removed,
  and the contact id, the address's hash and the erased conversations' ids go on the
  suppression list, so later syncs skip what the API still serves about them.
- ``erase_deleted_before``: conversations confirmed deleted before a moment.
- ``run_purge``: what ``syncd purge`` does, in one transaction holding the write lock.
- ``purge_pass``: the stream run by ``syncd sync`` and daily by the daemon: conversations
  confirmed deleted more than ``privacy.purge_deleted_after_days`` ago, and the retention of
  status history and status-count snapshots. Totals are kept in its ``sync_state`` row.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from syncd.config import PrivacySettings, Settings
from syncd.store.opening import write
from syncd.sync.context import SyncContext
from syncd.sync.mirror import Mirror, Removed, take_write_lock
from syncd.sync.privacy import CONTACT, CONVERSATION, EMAIL, Privacy
from syncd.sync.result import PassResult
from syncd.sync.rewrite import rewrite_stored
from syncd.sync.state import scope_key

STREAM = "purge"
INTERVAL_S = 86400.0
"""The daemon runs the purge stream daily; ``syncd sync`` runs it on every call."""


def _erase_with_suppression(
    conn: Connection,
    contact_ids: set[str],
    conversations: dict[str, tuple[str | None, str | None, bool]],
    at: datetime,
    *,
    naming: list[str],
    email_hash: str | None = None,
) -> Removed:
    removed = Mirror(conn).erase_conversations(conversations, naming=[*naming, *contact_ids])
    removed["contacts"] = Mirror(conn).erase_contacts(contact_ids)
    suppressed = Mirror(conn).suppress(CONTACT, contact_ids, at)
    if email_hash is not None:
        suppressed += Mirror(conn).suppress(EMAIL, [email_hash], at)
    live = {
        cid: (workspace, None if deleted else status)
        for cid, (workspace, status, deleted) in conversations.items()
    }
    suppressed += Mirror(conn).suppress(CONVERSATION, live, at, statuses=live)
    removed["privacy_suppressions"] = suppressed
    return removed


def erase_contact(conn: Connection, contact_id: str, at: datetime) -> Removed:
    """An erasure request by contact id (in the caller's transaction)."""
    conversations = Mirror(conn).conversations_of_contacts([contact_id])
    return _erase_with_suppression(conn, {contact_id}, conversations, at, naming=[])


def erase_email(conn: Connection, address: str, privacy: Privacy, at: datetime) -> Removed:
    """An erasure request by email address, clear or hashed in the mirror."""
    contact_ids = Mirror(conn).contact_ids_for_email(address, privacy)
    conversations = Mirror(conn).conversations_of_contacts(contact_ids)
    conversations.update(Mirror(conn).conversations_by_email(address, privacy))
    email_hash = privacy.hash_email(address)
    naming = [address.strip(), email_hash]
    return _erase_with_suppression(
        conn, contact_ids, conversations, at, naming=naming, email_hash=email_hash
    )


def erase_deleted_before(
    conn: Connection, cutoff: datetime, workspace_id: str | None = None
) -> Removed:
    """Conversations confirmed deleted before ``cutoff``, with everything about them."""
    return Mirror(conn).erase_conversations(Mirror(conn).deleted_before(cutoff, workspace_id))


def retention(
    conn: Connection, settings: PrivacySettings, now: datetime, workspace_id: str | None = None
) -> Removed:
    """What ``[privacy]`` says is old enough to go: deleted conversations, history, snapshots."""
    removed: Removed = Counter()
    if settings.purge_deleted_after_days > 0:
        cutoff = now - timedelta(days=settings.purge_deleted_after_days)
        removed.update(erase_deleted_before(conn, cutoff, workspace_id))
    for table, column, days in (
        ("conversation_status_history", "observed_at", settings.status_history_retention_days),
        ("status_count_snapshots", "taken_at", settings.status_snapshots_retention_days),
    ):
        if days > 0:
            removed[table] += Mirror(conn).trim_before(
                table, column, now - timedelta(days=days), workspace_id
            )
    return +removed


async def purge_pass(ctx: SyncContext, workspace_id: str | None) -> PassResult:
    """The ``purge`` stream: ``retention`` for the scope, its totals kept for ``syncd status``."""
    scope = scope_key(workspace_id)
    result = PassResult(STREAM, scope)
    now = ctx.clock()
    settings = ctx.settings.privacy

    def write(conn: Connection) -> Removed:
        removed = retention(conn, settings, now, workspace_id)
        state = Mirror(conn).read_state(scope, STREAM).state or {}
        totals: Counter[str] = Counter(state.get("purged_total") or {})
        totals.update(removed)
        detail: dict[str, Any] = {"purged_total": dict(totals), "purged_last": dict(removed)}
        Mirror(conn).record_success(scope, STREAM, now, state=detail)
        return removed

    removed = await ctx.write(write)
    result.purged = dict(removed)
    result.rows_seen = sum(removed.values())
    return result


def run_purge(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    contact: str | None = None,
    email: str | None = None,
    deleted_before: datetime | None = None,
) -> Counter[str]:
    """Erase what is asked (else rewrite every stored row by ``[privacy]``) in one transaction
    holding the write lock; rows removed (or rewritten) per table."""
    privacy = Privacy.from_settings(settings.privacy)

    def work(conn: Connection) -> Counter[str]:
        take_write_lock(conn)
        if contact:
            return erase_contact(conn, contact, now)
        if email:
            return erase_email(conn, email, privacy, now)
        if deleted_before is not None:
            return erase_deleted_before(conn, deleted_before)
        return rewrite_stored(conn, privacy, now)

    return write(engine, work)
