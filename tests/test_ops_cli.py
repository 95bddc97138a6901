"""What an operator meets on day 30, through the real command line against the simulator.

- read-only commands (``status``, ``events list``, ``db current``) never create or migrate a
  database: a missing one is exit 2 naming ``database.url`` and the file; they say which
  database they read; a relative SQLite path in a config file resolves against its directory;
- ``syncd status --check``: exit 0 healthy, 1 not (a failing sink with dead letters);
- a sink added later with the default ``start = "latest"`` gets only new events, one with
  ``start = "earliest"`` every stored event;
- ``syncd events list --type --since`` with a header row;
- ``syncd config check``: exit 2 when syncd could not run with the config, each problem naming
  its sink; "did you mean"; query strings masked; ``--online``;
- a hook (deploy/examples/on-attention-item.py) acts on oHallo with ``syncd api`` through the
  ``SYNCD_CONFIG`` syncd hands it, without a key of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SYNCD
from daemon_support import read_sink
from sqlalchemy import Engine
from sync_support import (
    API_LIMITS,
    TOKEN,
    event_count,
    events,
    run_syncd,
    server_fixture,
    syncd_env,
)

from syncd.sim import SimServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_HOOK = ROOT / "deploy" / "examples" / "on-attention-item.py"

server = server_fixture(seed=21, conversations=30, detail_missing_rate=0.0)


def syncd(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    return subprocess.run(
        [*SYNCD, *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def api_section(server: SimServer, token: str = TOKEN) -> str:
    limits = "\n".join(f"{key} = {value}" for key, value in API_LIMITS.items())
    return f'[api]\nbase_url = "{server.base_url}"\ntoken = "{token}"\n{limits}\n'


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


# --- read-only commands ----------------------------------------------------------------------


def test_status_in_an_empty_directory_with_a_config_pointing_nowhere_exits_2_and_creates_nothing(
    tmp_path: Path,
) -> None:
    config_dir, empty = tmp_path / "etc", tmp_path / "empty"
    config_dir.mkdir()
    empty.mkdir()
    config = config_dir / "syncd.toml"
    config.write_text('[database]\nurl = "sqlite:///mirror/syncd.db"\n')
    expected = config_dir / "mirror" / "syncd.db"  # relative to the config file, not the cwd

    for args in (
        ["-c", str(config), "status"],  # -c before the command is accepted
        ["status", "-c", str(config)],
        ["status", "--check", "-c", str(config)],
        ["status", "--json", "-c", str(config)],
        ["events", "list", "-c", str(config)],
    ):
        result = syncd(*args, cwd=empty)
        assert result.returncode == 2, (args, result.stderr)
        assert "database.url" in result.stderr and str(expected) in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr

    current = syncd("db", "current", "-c", str(config), cwd=empty)
    assert current.returncode == 1
    assert "does not exist" in current.stdout and str(expected) in current.stdout

    # Without any config: the default ./syncd.db, not created either.
    default = syncd("status", cwd=empty)
    assert default.returncode == 2
    assert str(empty / "syncd.db") in default.stderr
    assert files_under(tmp_path) == [config]


def test_a_relative_sqlite_path_in_a_config_file_resolves_against_its_directory(
    server: SimServer, tmp_path: Path
) -> None:
    etc, elsewhere = tmp_path / "etc", tmp_path / "elsewhere"
    etc.mkdir()
    elsewhere.mkdir()
    config = etc / "syncd.toml"
    config.write_text(api_section(server) + '\n[database]\nurl = "sqlite:///data/mirror.db"\n')

    synced = syncd("sync", "-c", "../etc/syncd.toml", cwd=elsewhere)
    assert synced.returncode == 0, synced.stderr
    database = etc / "data" / "mirror.db"
    assert database.exists()
    assert files_under(elsewhere) == []

    status = syncd("-c", str(config), "status", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0] == f"database: sqlite:///{database}"
    assert "no sync has run yet" not in status.stdout


# --- status --check --------------------------------------------------------------------------


def test_status_check_is_0_when_healthy_and_1_naming_a_sink_with_dead_letters(
    server: SimServer, db_url: str, tmp_path: Path
) -> None:
    env = syncd_env(db_url, server.base_url)
    assert run_syncd(["sync"], env, tmp_path).returncode == 0

    healthy = run_syncd(["status", "--check"], env, tmp_path)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.splitlines()[-1] == "check: OK"
    assert healthy.stdout.startswith("database: ")

    config = tmp_path / "syncd.toml"
    config.write_text(
        '[[sinks]]\nname = "hook"\ntype = "command"\nargv = ["false"]\n'
        'ordered = false\nmax_attempts = 1\nstart = "earliest"\nevents = ["status_counts.*", '
        '"conversation.created"]\n'
    )
    assert run_syncd(["sync", "-c", str(config)], env, tmp_path).returncode == 0
    unhealthy = run_syncd(["status", "--check", "-c", str(config)], env, tmp_path)
    assert unhealthy.returncode == 1, unhealthy.stdout + unhealthy.stderr
    assert "check: UNHEALTHY" in unhealthy.stdout
    assert "sink hook: " in unhealthy.stdout and "dead letter" in unhealthy.stdout
    as_json = run_syncd(["status", "--check", "--json", "-c", str(config)], env, tmp_path)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert any(problem.startswith("sink hook: ") for problem in report["problems"])
    assert TOKEN not in unhealthy.stdout + unhealthy.stderr + as_json.stdout


# --- sink start ------------------------------------------------------------------------------


def test_a_sink_added_later_receives_only_new_events_unless_it_starts_earliest(
    server: SimServer, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    env = syncd_env(db_url, server.base_url)
    assert run_syncd(["sync"], env, tmp_path).returncode == 0  # three weeks of history
    stored = event_count(engine)
    assert stored > 30

    sim = server.simulator
    cid = sim.conversation_ids(status="open")[0]
    sim.reply(cid, "a change after the sinks were added")
    late, everything = tmp_path / "late.jsonl", tmp_path / "all.jsonl"
    config = tmp_path / "syncd.toml"
    config.write_text(
        f'[[sinks]]\nname = "late"\ntype = "file"\npath = "{late}"\n\n'
        f'[[sinks]]\nname = "all"\ntype = "file"\npath = "{everything}"\nstart = "earliest"\n'
    )
    assert run_syncd(["sync", "-c", str(config)], env, tmp_path).returncode == 0

    stored_ids = [event["id"] for event in events(engine)]
    new_ids = stored_ids[stored:]
    assert new_ids, "the reply made no event"
    assert [event["id"] for event in read_sink(late)] == new_ids
    assert any(event["type"] == "message.sent" for event in read_sink(late))
    assert [event["id"] for event in read_sink(everything)] == stored_ids


# --- events list -----------------------------------------------------------------------------


def test_events_list_filters_by_type_and_time_under_a_header_row(
    server: SimServer, db_url: str, tmp_path: Path
) -> None:
    env = syncd_env(db_url, server.base_url)
    assert run_syncd(["sync"], env, tmp_path).returncode == 0

    listed = run_syncd(
        ["events", "list", "--type", "conversation.*", "--limit", "5"], env, tmp_path
    )
    assert listed.returncode == 0, listed.stderr
    database, header, *rows = listed.stdout.splitlines()
    assert database.startswith("database: ")
    assert header.split() == ["SEQ", "ID", "CREATED", "TYPE", "SINK=DELIVERY"]
    assert len(rows) == 5
    assert all(row.split()[3].startswith("conversation.") for row in rows)
    assert header.index("TYPE") == rows[0].index("conversation.")  # the columns line up

    two = run_syncd(
        ["events", "list", "--type", "attention_item.created", "--type", "status_counts.*",
         "--json"],
        env,
        tmp_path,
    )  # fmt: skip
    kinds = {event["type"] for event in json.loads(two.stdout)}
    assert kinds and kinds <= {"attention_item.created", "status_counts.changed"}

    later = run_syncd(["events", "list", "--since", "2999-01-01T00:00:00Z"], env, tmp_path)
    assert later.returncode == 0 and "no events" in later.stdout

    typo = run_syncd(["events", "list", "--type", "conversaton.*"], env, tmp_path)
    assert typo.returncode == 2 and "matches no event type" in typo.stderr
    bad_time = run_syncd(["events", "list", "--since", "last week"], env, tmp_path)
    assert bad_time.returncode == 2 and "ISO-8601" in bad_time.stderr


# --- config check ----------------------------------------------------------------------------


def test_config_check_exits_2_when_syncd_could_not_run_and_names_each_sink(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = tmp_path / "syncd.toml"
    config.write_text(
        '[api]\ntoken = "sf_live_v1_ConfigCheckKey000000"\n\n'
        '[[sinks]]\nname = "crm"\ntype = "webhook"\n'
        'url = "https://hooks.example/in?token=hunter2&sig=s3cr3t"\n'
        'secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n'
        'events = ["attention_item.*", "conversaton.created"]\n\n'
        '[[sinks]]\nname = "hook"\ntype = "command"\nargv = ["/nonexistent/on-event.sh"]\n\n'
        '[[sinks]]\nname = "hook2"\ntype = "command"\nargv = ["no-such-program-xyz"]\n\n'
        f'[[sinks]]\nname = "archive"\ntype = "file"\npath = "{blocker}/sub/events.jsonl"\n'
    )
    config.chmod(0o600)
    result = syncd("config", "check", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("syncd: error: ")]
    assert len(errors) == 4, result.stderr
    assert any("sink crm: events: 'conversaton.created' matches no event type" in e for e in errors)
    assert any("sink hook: argv[0]: '/nonexistent/on-event.sh'" in e for e in errors)
    assert any("sink hook2: argv[0]: 'no-such-program-xyz'" in e and "PATH" in e for e in errors)
    assert any(
        f"sink archive: path: cannot create or write files in {blocker}" in e for e in errors
    )
    assert 'url = "https://hooks.example/in?token=***&sig=***"' in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr


def test_config_check_suggests_the_key_a_typo_meant_and_names_the_sink(tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text(
        "[sync]\npol_interval_s = 10\n\n"
        '[[sinks]]\nname = "archive"\ntype = "file"\npth = "/tmp/x.jsonl"\n'
    )
    result = syncd("config", "check", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "sync.pol_interval_s: unknown key" in result.stderr
    assert "(did you mean `poll_interval_s`?)" in result.stderr
    assert "sink archive: sinks[0].pth: unknown key" in result.stderr
    assert "(did you mean `path`?)" in result.stderr


def test_config_check_online_makes_one_authenticated_request(
    server: SimServer, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(api_section(server))
    bad.write_text(api_section(server, token="wrong-key-abcdef0123456789"))
    before = sum(server.request_counts.values())

    accepted = syncd("config", "check", "--online", "-c", str(good), cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted the key" in accepted.stderr
    assert sum(server.request_counts.values()) == before + 1

    refused = syncd("config", "check", "--online", "-c", str(bad), cwd=tmp_path)
    assert refused.returncode == 1
    (line,) = [line for line in refused.stderr.splitlines() if "online check" in line]
    assert "401" in line
    assert "wrong-key-abcdef0123456789" not in refused.stdout + refused.stderr


# --- hooks act with syncd api ----------------------------------------------------------------


def test_the_example_hook_resolves_the_items_it_reports_through_syncd_api(
    server: SimServer, tmp_path: Path
) -> None:
    sim = server.simulator
    open_items = sim.attention_item_ids(status="open")
    assert open_items
    database = tmp_path / "mirror.db"
    config = tmp_path / "syncd.toml"
    config.write_text(
        api_section(server)
        + f'\n[database]\nurl = "sqlite:///{database}"\n\n[events]\ndrain_timeout_s = 30\n\n'
        f'[[sinks]]\nname = "attention"\ntype = "command"\n'
        f'argv = ["{sys.executable}", "{EXAMPLE_HOOK}"]\nevents = ["attention_item.created"]\n'
    )
    config.chmod(0o600)
    env = {
        "ATTENTION_RESOLVE": "1",
        "ATTENTION_SYNCD": str(Path(sys.executable).parent / "syncd"),
        "ATTENTION_STATE_FILE": str(tmp_path / "seen"),
    }
    result = syncd("sync", "-c", str(config), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "delivered" in result.stdout
    still_open = set(sim.attention_item_ids(status="open")) & set(open_items)
    assert still_open == set(), result.stderr
    assert len((tmp_path / "seen").read_text().split()) >= len(open_items)  # every created item
    assert TOKEN not in result.stdout + result.stderr


def test_hook_output_is_debug_and_its_first_lines_a_warning_when_it_fails(
    server: SimServer, tmp_path: Path
) -> None:
    hook = tmp_path / "hook.py"
    hook.write_text(
        "import os, sys\n"
        "print('config', os.environ.get('SYNCD_CONFIG'))\n"
        "print('\\n'.join(f'line {n}' for n in range(50)), file=sys.stderr)\n"
        "sys.exit(4)\n"
    )
    config = tmp_path / "syncd.toml"
    config.write_text(
        api_section(server)
        + f'\n[database]\nurl = "sqlite:///{tmp_path / "m.db"}"\n\n[logging]\nformat = "json"\n\n'
        f'[[sinks]]\nname = "h"\ntype = "command"\nargv = ["{sys.executable}", "{hook}"]\n'
        'events = ["status_counts.changed", "attention_item.created"]\nmax_attempts = 1\n'
        "ordered = false\n"
    )
    result = syncd("sync", "-c", "syncd.toml", cwd=tmp_path, env={"SYNCD_LOG_LEVEL": "info"})
    assert result.returncode == 0, result.stderr
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert not [entry for entry in logs if entry["event"] == "command_output"]  # debug only
    failed = [entry for entry in logs if entry["event"] == "command_failed_output"]
    assert failed and failed[0]["level"] == "warning" and failed[0]["exit_code"] == 4
    assert failed[0]["stderr"] == "\n".join(f"line {n}" for n in range(5))
    assert failed[0]["stdout"] == f"config {config}"  # SYNCD_CONFIG: the absolute path
