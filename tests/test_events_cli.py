"""``syncd events list | replay | enable`` as subprocesses on the test database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import SYNCD
from dispatch_support import (
    T0,
    ScriptedSink,
    VirtualClock,
    append,
    append_many,
    change,
    dispatcher,
    poison,
    run_until_idle,
    state,
)
from sqlalchemy import Engine

from syncd.events.rules import SinkRule
from syncd.events.sinks import MemorySink, SinkGone
from syncd.events.sinks.file import FileSink


def write_config(tmp_path: Path, *, ordered: bool = False) -> tuple[Path, Path]:
    out = tmp_path / "events.jsonl"
    config = tmp_path / "syncd.toml"
    config.write_text(
        "[events]\ndrain_timeout_s = 0\n\n"
        f'[[sinks]]\nname = "out"\ntype = "file"\npath = "{out}"\n'
        f"ordered = {'true' if ordered else 'false'}\nmax_attempts = 2\n"
        # The tests store events before the sink is first seen: it must see those too.
        'start = "earliest"\n'
    )
    return config, out


def syncd(env: dict[str, str], config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, "events", *args, "-c", str(config)],
        env=env,
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


async def make_dead_letters(engine: Engine, dead: set[str]) -> None:
    sink = ScriptedSink(
        "out", max_batch=1, refuse=lambda e: poison(e.id)(e) if e.id in dead else None
    )
    clock = VirtualClock()
    async with dispatcher(
        engine, (SinkRule("out", ordered=False, max_attempts=2), sink), clock=clock
    ) as d:
        await run_until_idle(d, clock)


async def test_replay_dead_sends_the_dead_letters_again_and_list_shows_them_before(
    engine: Engine, syncd_env: dict[str, str], tmp_path: Path
) -> None:
    sent = append_many(engine, 6)
    await make_dead_letters(engine, {sent[1], sent[4]})
    config, out = write_config(tmp_path)

    listed = syncd(syncd_env, config, "list", "--sink", "out", "--status", "dead")
    assert listed.returncode == 0, listed.stderr
    assert sent[1] in listed.stdout and sent[4] in listed.stdout and sent[0] not in listed.stdout
    assert "receiver: 500" in listed.stdout

    replayed = syncd(syncd_env, config, "replay", "--sink", "out", "--dead")
    assert replayed.returncode == 0, replayed.stderr
    assert "2 dead letter(s) queued" in replayed.stdout
    assert "delivered 2, pending 0, dead 0" in replayed.stdout
    assert lines(out) == [sent[1], sent[4]]

    after = syncd(syncd_env, config, "list", "--sink", "out", "--status", "dead", "--json")
    assert json.loads(after.stdout) == []
    again = syncd(syncd_env, config, "replay", "--sink", "out", "--dead")
    assert again.returncode == 0 and "nothing to replay" in again.stdout


async def test_replay_from_id_rewinds_and_resends_everything_from_there_in_order(
    engine: Engine, syncd_env: dict[str, str], tmp_path: Path
) -> None:
    sent = append_many(engine, 5)
    config, out = write_config(tmp_path, ordered=True)
    clock = VirtualClock()
    async with dispatcher(engine, (SinkRule("out"), FileSink("out", out)), clock=clock) as d:
        await run_until_idle(d, clock)
    assert lines(out) == sent

    result = syncd(syncd_env, config, "replay", "--sink", "out", "--from-id", sent[2])
    assert result.returncode == 0, result.stderr
    assert "rewound" in result.stdout and "delivered 3" in result.stdout
    assert lines(out) == sent + sent[2:]

    missing = syncd(syncd_env, config, "replay", "--sink", "out", "--from-id", "evt_nope")
    assert missing.returncode == 1 and "no stored event evt_nope" in missing.stdout


async def test_replay_since_a_time_resends_the_events_observed_from_then_on(
    engine: Engine, syncd_env: dict[str, str], tmp_path: Path
) -> None:
    from datetime import timedelta

    early = append(engine, [change(n, at=T0 - timedelta(days=2)) for n in range(3)])
    late = append(engine, [change(n, at=T0) for n in range(3, 5)])
    config, out = write_config(tmp_path, ordered=True)
    clock = VirtualClock()
    async with dispatcher(engine, (SinkRule("out"), FileSink("out", out)), clock=clock) as d:
        await run_until_idle(d, clock)

    since = (T0 - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    result = syncd(syncd_env, config, "replay", "--sink", "out", "--since", since)
    assert result.returncode == 0, result.stderr
    assert lines(out) == early + late + late

    bad = syncd(syncd_env, config, "replay", "--sink", "out", "--since", "yesterday")
    assert bad.returncode == 2 and "ISO-8601" in bad.stderr


async def test_replay_never_moves_a_sink_forward_past_events_it_has_not_received(
    engine: Engine, syncd_env: dict[str, str], tmp_path: Path
) -> None:
    sent = append_many(engine, 3)
    config, _ = write_config(tmp_path, ordered=True)
    result = syncd(syncd_env, config, "replay", "--sink", "out", "--from-id", sent[2])
    assert result.returncode == 0 and "not received" in result.stdout
    assert state(engine, "out")["position"] == 0


async def test_replay_dead_makes_a_stuck_ordered_sink_retry_its_head_now(
    engine: Engine, syncd_env: dict[str, str], tmp_path: Path
) -> None:
    sent = append_many(engine, 2)
    sink = MemorySink("out")
    sink.fail_next(times=5)
    clock = VirtualClock()
    async with dispatcher(engine, (SinkRule("out", max_attempts=2), sink), clock=clock) as d:
        for _ in range(3):
            await d.deliver_due(clock.now, force=True)
    assert state(engine, "out")["head_attempts"] == 3
    config, out = write_config(tmp_path, ordered=True)
    result = syncd(syncd_env, config, "replay", "--sink", "out", "--dead")
    assert result.returncode == 0, result.stderr
    assert "retried now" in result.stdout
    assert lines(out) == sent


async def test_enable_re_enables_a_sink_disabled_by_a_410(
    engine: Engine, syncd_env: dict[str, str], tmp_path: Path
) -> None:
    append_many(engine, 2)
    sink = MemorySink("out")
    sink.fail_next(SinkGone("webhook out: the receiver answered 410 Gone"))
    async with dispatcher(engine, sink) as d:
        await d.deliver_due(force=True)
    assert state(engine, "out")["disabled_at"] is not None
    config, _ = write_config(tmp_path)

    listed = syncd(syncd_env, config, "list", "--json")
    assert [e["sinks"]["out"]["status"] for e in json.loads(listed.stdout)] == ["pending"] * 2

    enabled = syncd(syncd_env, config, "enable", "--sink", "out")
    assert enabled.returncode == 0, enabled.stderr
    assert "enabled" in enabled.stdout
    assert state(engine, "out")["disabled_at"] is None
    again = syncd(syncd_env, config, "enable", "--sink", "out")
    assert again.returncode == 0 and "was not disabled" in again.stdout


@pytest.mark.parametrize("command", [["enable"], ["replay", "--dead"], ["list"]])
def test_an_unknown_sink_is_a_usage_error_naming_the_configured_ones(
    syncd_env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    config, _ = write_config(tmp_path)
    result = syncd(syncd_env, config, *command, "--sink", "nope")
    assert result.returncode == 2
    assert "no such sink" in result.stderr and "out" in result.stderr
    assert "Traceback" not in result.stderr
