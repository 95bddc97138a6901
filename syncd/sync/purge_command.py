"""``syncd purge (--contact ID | --email ADDRESS | --deleted-before TIME | --rewrite)``.

One writing transaction (syncd's write lock held, so no sync writes in between), then one line
per table with the rows removed. The address or id given is never logged.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime

from syncd.clock import utc_now
from syncd.config import Settings, load_settings
from syncd.errors import ConfigError
from syncd.store.engine import create_engine_for
from syncd.store.migrate import ensure_schema
from syncd.sync.mirror import take_write_lock
from syncd.sync.privacy import Privacy
from syncd.sync.purge import erase_contact, erase_deleted_before, erase_email
from syncd.sync.rewrite import rewrite_stored
from syncd.sync.session import configure_for

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


def parse_time(value: str) -> datetime:
    """An ISO-8601 time (UTC when it names no zone), or a ConfigError saying so."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"--deleted-before {value!r}: not an ISO-8601 time (e.g. 2024-05-01T12:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run_purge(settings: Settings, args: argparse.Namespace, now: datetime) -> Counter[str]:
    """Do what the arguments ask, in one transaction; rows removed (or rewritten) per table."""
    privacy = Privacy.from_settings(settings.privacy)
    cutoff = parse_time(args.deleted_before) if args.deleted_before else None
    engine = create_engine_for(settings.database.url.get_secret_value())
    try:
        ensure_schema(settings, engine)
        with engine.begin() as conn:
            take_write_lock(conn)
            if args.contact:
                return erase_contact(conn, args.contact, now)
            if args.email:
                return erase_email(conn, args.email, privacy, now)
            if cutoff is not None:
                return erase_deleted_before(conn, cutoff)
            return rewrite_stored(conn, privacy, now)
    finally:
        engine.dispose()


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


def purge_command(args: argparse.Namespace) -> int:
    """Entry point of ``syncd purge``."""
    settings = load_settings(args.config)
    configure_for(settings)
    removed = run_purge(settings, args, utc_now())
    if args.json:
        print(json.dumps(dict(removed), sort_keys=True))
    else:
        print(render(removed, rewrite=bool(args.rewrite)))
    if (args.email or args.contact) and not (removed["contacts"] or removed["conversations"]):
        print("nothing about it in the mirror; it is suppressed all the same", file=sys.stderr)
    return 0
