"""SIGHUP: a valid new configuration replaces the running one; an invalid one is refused and the
daemon carries on unchanged."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import Processes, read_sink, wait_for, write_config


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    with Processes(tmp_path) as started:
        yield started


def test_sighup_applies_a_valid_config_and_refuses_a_broken_one(
    tmp_path: Path, processes: Processes
) -> None:
    db_url = f"sqlite:///{tmp_path / 'mirror.db'}"
    _, base_url = processes.sim_serve(
        "--seed", "3", "--conversations", "20", "--messages", "2", "--activity-per-s", "0"
    )
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    config = write_config(
        tmp_path / "syncd.toml", base_url=base_url, db_url=db_url, sink_path=first
    )
    daemon = processes.daemon(config, db_url)
    daemon.wait_ready()
    wait_for(lambda: len(read_sink(first)) > 0, 30, "the backfill's events in the first sink")

    # A broken file: refused, logged with the key, and the daemon keeps serving.
    broken = config.read_text().replace("poll_interval_s = 1\n", "poll_interval_s = 0\n")
    assert "poll_interval_s = 0" in broken
    config.write_text(broken, encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: daemon.events("reload_refused"), 20, "the refusal to be logged")
    assert "poll_interval_s" in daemon.events("reload_refused")[0]["error"]
    assert daemon.running
    daemon.wait_ready()

    # A valid file with a second sink: applied without a restart; the new sink catches up.
    write_config(tmp_path / "syncd.toml", base_url=base_url, db_url=db_url, sink_path=first)
    config.write_text(
        config.read_text()
        + f'\n[[sinks]]\nname = "second"\ntype = "file"\npath = "{second}"\nstart = "earliest"\n',
        encoding="utf-8",
    )
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: daemon.events("config_reloaded"), 20, "the reload to be logged")
    wait_for(
        lambda: second.exists() and len(read_sink(second)) == len(read_sink(first)),
        30,
        "the new sink to receive every stored event",
    )
    assert [e["id"] for e in read_sink(second)] == [e["id"] for e in read_sink(first)]
    daemon.wait_ready()
    code, _ = daemon.stop(20)
    assert code == 0
