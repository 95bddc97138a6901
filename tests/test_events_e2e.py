"""``syncd sync`` end to end with sinks: one file line per outbox event, and a command sink run
once, with the event on stdin, when the simulator raises a new attention item."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import SYNCD
from sqlalchemy import Engine, select

from syncd.sim import EXAMPLE_TOKEN, SimConfig, SimServer, Simulator
from syncd.store.tables import events

HOOK = """
import json, os, sys
event = sys.stdin.read()
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"stdin": event, "type": os.environ["SYNCD_EVENT_TYPE"],
                          "id": os.environ["SYNCD_EVENT_ID"]}) + "\\n")
"""


def write_config(tmp_path: Path, base_url: str) -> Path:
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK, encoding="utf-8")
    config = tmp_path / "syncd.toml"
    config.write_text(
        f"""
[api]
base_url = "{base_url}"
max_requests_per_s = 1000

[[sinks]]
name = "archive"
type = "file"
path = "{tmp_path / "events.jsonl"}"

[[sinks]]
name = "pager"
type = "command"
argv = ["{sys.executable}", "{hook}", "{tmp_path / "hook.jsonl"}"]
events = ["attention_item.created"]
backfill = "skip"
""",
        encoding="utf-8",
    )
    return config


def run_sync(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, "sync", "-c", str(config)],
        env={**env, "SYNCD_API__TOKEN": EXAMPLE_TOKEN},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stored_payloads(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(events.c.payload).order_by(events.c.seq)))


def test_file_sink_gets_every_event_and_a_new_attention_item_runs_the_command_once(
    tmp_path: Path, syncd_env: dict[str, str], engine: Engine
) -> None:
    sim = Simulator(SimConfig(seed=5, conversations=40, workspaces=1))
    with SimServer(sim) as server:
        config = write_config(tmp_path, server.base_url)
        first = run_sync(config, syncd_env)
        assert first.returncode == 0, first.stderr
        lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
        assert lines == stored_payloads(engine)  # one line per outbox event, byte for byte
        assert lines, "the backfill produced events"
        assert not (tmp_path / "hook.jsonl").exists()  # backfill skipped by the pager

        conversation = sorted(sim.conversation_ids())[0]
        item = sim.raise_attention_item(conversation, "escalation")
        second = run_sync(config, syncd_env)
        assert second.returncode == 0, second.stderr

    runs = [json.loads(line) for line in (tmp_path / "hook.jsonl").read_text().splitlines()]
    assert len(runs) == 1
    event = json.loads(runs[0]["stdin"])
    assert runs[0]["type"] == event["type"] == "attention_item.created"
    assert event["data"]["id"] == item and event["id"] == runs[0]["id"]
    assert event["backfill"] is False
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == stored_payloads(engine)
