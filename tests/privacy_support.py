"""Helpers for the ``[privacy]`` tests: everything the database holds as text, and the
simulator's personal data to look for in it (message bodies, previews, contact addresses).

On SQLite the file's bytes are read after ``VACUUM`` (free pages would still hold erased rows);
on PostgreSQL every column of every table is read back as text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine, String, cast, select

from syncd.sim import Simulator
from syncd.store import tables
from syncd.store.engine import sqlite_file

KEY = "test-hash-key-0d5c1e"

PRIVATE = {"store_message_bodies": False, "hash_contact_emails": True, "hash_key": KEY}
"""Both settings on."""


def forms(text: str) -> set[str]:
    """The ways a text can be stored: as is, and JSON-escaped (ASCII or not); lowercased."""
    return {
        text.lower(),
        json.dumps(text)[1:-1].lower(),
        json.dumps(text, ensure_ascii=False)[1:-1].lower(),
    }


def bodies(sim: Simulator) -> set[str]:
    """Every message body and list preview the simulator serves (long enough to be telling)."""
    found: set[str] = set()
    with sim.lock:
        for conversation in sim.world.conversations.values():
            found.update(m.body for m in conversation.messages)
            found.add(conversation.preview)
    return {text for text in found if len(text) >= 12}


def emails(sim: Simulator, contact_ids: Iterable[str] | None = None) -> set[str]:
    """Contact addresses (of the given contacts, or of all)."""
    with sim.lock:
        contacts = sim.world.contacts
        chosen = contacts.values() if contact_ids is None else [contacts[c] for c in contact_ids]
        return {contact.email for contact in chosen if contact.email}


def stored_text(engine: Engine, exclude: Iterable[str] = ()) -> str:
    """Everything the database holds, as one lowercase text (but the ``exclude`` tables:
    then read column by column on SQLite too)."""
    url = engine.url
    skipped = set(exclude)
    if url.get_backend_name() == "sqlite" and not skipped:
        path = sqlite_file(url)
        assert path is not None
        with sqlite3.connect(path) as conn:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = Path(path).read_bytes()
        wal = Path(f"{path}-wal")
        if wal.exists():
            data += wal.read_bytes()
        return data.decode("utf-8", errors="replace").lower()
    parts: list[str] = []
    with engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            if table.name in skipped:
                continue
            for column in table.columns:
                values = conn.scalars(select(cast(column, String)))
                parts.extend(value for value in values if value is not None)
    return "\n".join(parts).lower()


def leaks(text: str, needles: Iterable[str]) -> list[str]:
    """The needles found in ``text`` in any stored form."""
    return sorted(needle for needle in needles if any(form in text for form in forms(needle)))
