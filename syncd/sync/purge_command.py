"""What ``syncd purge (--contact ID | --email ADDRESS | --deleted-before TIME | --rewrite)``
does (the command is ``syncd.commands.purge``).

One writing transaction (syncd's write lock held, so no sync writes in between), then one line
per table with the rows removed. The address or id given is never logged.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Connection, Engine

from syncd.config import Settings
from syncd.store.opening import write
from syncd.sync.mirror import take_write_lock
from syncd.sync.privacy import Privacy
from syncd.sync.purge import erase_contact, erase_deleted_before, erase_email
from syncd.sync.rewrite import rewrite_stored

ORDER = (
    "conversations",
    "messages",
    "attachments",
    "attention_items",
    "context_entries",
    "conversation_status_history",
    "contacts",
    "events",
)


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


def render(removed: Counter[str], *, rewrite: bool) -> str:
    """One line per table, the known tables first."""
    verb = "rewritten" if rewrite else "removed"
    lines = []
    for name in [*ORDER, *sorted(set(removed) - set(ORDER))]:
        if name == "privacy_suppressions":
            continue
        if name in ORDER or removed[name]:
            lines.append(f"{name:<28} {removed[name]} {verb}")
    if "privacy_suppressions" in removed:
        lines.append(f"{'privacy_suppressions':<28} {removed['privacy_suppressions']} added")
    return "\n".join(lines)
