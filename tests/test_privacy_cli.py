"""``[privacy]`` and ``syncd purge`` as users run them: ``syncd`` subprocesses, the simulator.

With ``store_message_bodies = false`` and ``hash_contact_emails = true`` no message body or
contact address of the simulator is in the database (the SQLite file after ``VACUUM``, every
column on PostgreSQL) or the event file; ``syncd purge --email`` removes the contact's data and
later syncs keep it out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from privacy_support import KEY, bodies, emails, leaks, stored_text
from sqlalchemy import Engine
from sync_support import count_rows, run_syncd, settle_attachments, syncd_env

from syncd.sim import SimConfig, SimServer, Simulator


@pytest.fixture
def server() -> Iterator[SimServer]:
    sim = Simulator(SimConfig(seed=8, conversations=40, messages_per_conversation=3))
    settle_attachments(sim)
    with SimServer(sim) as running:
        yield running


def private_env(db_url: str, server: SimServer, tmp_path: Path) -> dict[str, str]:
    key_file = tmp_path / "hash-key"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    sinks = [{"name": "file", "type": "file", "path": str(tmp_path / "events.jsonl")}]
    return syncd_env(
        db_url,
        server.base_url,
        SYNCD_PRIVACY__STORE_MESSAGE_BODIES="false",
        SYNCD_PRIVACY__HASH_CONTACT_EMAILS="true",
        SYNCD_PRIVACY__HASH_KEY_FILE=str(key_file),
        SYNCD_SINKS=json.dumps(sinks),
        SYNCD_LOG_LEVEL="debug",
    )


def test_private_sync_then_purge_by_email_keeps_the_contact_out(
    server: SimServer, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    sim = server.simulator
    env = private_env(db_url, server, tmp_path)
    first = run_syncd(["sync"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    event_file = tmp_path / "events.jsonl"
    sent = event_file.read_text(encoding="utf-8").lower()
    assert sent.count("\n") > 100

    private = bodies(sim) | emails(sim)
    assert leaks(stored_text(engine), private) == []
    assert leaks(sent, private) == []
    assert KEY not in first.stdout + first.stderr

    with sim.lock:
        contact = next(
            c
            for c in sim.world.contacts.values()
            if c.email and any(v.contact_id == c.id for v in sim.world.conversations.values())
        )
    mine = [cid for cid in sim.conversation_ids() if sim.conversation(cid).contact_id == contact.id]
    assert contact.email is not None
    purged = run_syncd(["purge", "--email", contact.email.upper() + " "], env, tmp_path)
    assert purged.returncode == 0, purged.stderr
    lines = dict(line.split(maxsplit=1) for line in purged.stdout.splitlines())
    assert lines["conversations"] == f"{len(mine)} removed"
    assert lines["contacts"] == "1 removed"
    assert int(lines["messages"].split()[0]) > 0
    assert int(lines["events"].split()[0]) > 0
    assert contact.email.lower() not in (purged.stdout + purged.stderr).lower()

    names = {contact.id, *mine}
    assert leaks(stored_text(engine, exclude=("privacy_suppressions",)), names) == []

    # oHallo still serves the contact, with news: later syncs keep it out.
    sim.add_message(mine[0], "inbound")
    sim.add_conversation(contact_id=contact.id, channel_type="email")
    for args in (["sync"], ["sync", "--full"]):
        again = run_syncd(args, env, tmp_path)
        assert again.returncode == 0, again.stderr
    assert count_rows(engine, "conversations", contact_id=contact.id) == 0
    assert count_rows(engine, "contacts", id=contact.id) == 0
    assert leaks(stored_text(engine), bodies(sim) | emails(sim)) == []
    after = event_file.read_text(encoding="utf-8")
    assert contact.id not in after[len(sent) :]

    status = run_syncd(["status", "--json"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    privacy = json.loads(status.stdout)["privacy"]
    assert privacy["suppressed"]["contact"] == 1
    assert privacy["suppressed"]["email"] == 1
    assert privacy["suppressed"]["conversation"] == len(mine) + 1


def test_hashing_without_a_key_is_a_config_error_naming_the_key(
    server: SimServer, db_url: str, tmp_path: Path
) -> None:
    env = syncd_env(db_url, server.base_url, SYNCD_PRIVACY__HASH_CONTACT_EMAILS="true")
    done = run_syncd(["sync"], env, tmp_path)
    assert done.returncode == 2
    assert "privacy.hash_key" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_check_masks_the_hash_key(server: SimServer, db_url: str, tmp_path: Path) -> None:
    env = syncd_env(
        db_url,
        server.base_url,
        SYNCD_PRIVACY__HASH_CONTACT_EMAILS="true",
        SYNCD_PRIVACY__HASH_KEY=KEY,
    )
    done = run_syncd(["config", "check"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    assert "hash_key" in done.stdout
