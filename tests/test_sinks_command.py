"""The command sink with real child processes (argv, stdin, env, exit codes, process groups)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sink_support import outbox_event
from structlog.testing import capture_logs

from syncd.config import CommandSinkSettings
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks import RetryableDelivery, build_sink
from syncd.events.sinks.command import OUTPUT_TAIL_BYTES, CommandSink

PY = sys.executable


def make_event(seq: int = 1, *, body: str = 'Grüße [bold]x[/bold] "quoted"') -> OutboxEvent:
    data = {"id": f"msg_{seq}", "direction": "inbound", "body": body}
    return outbox_event(seq, "message.received", f"msg_{seq}", data)


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def wait_until_gone(pid: int, limit_s: float = 10.0) -> bool:
    """Poll (bounded) until ``pid`` no longer runs; a zombie nobody reaps counts as gone."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.01)
    return False


def read_pids(path: Path) -> list[int]:
    assert path.exists(), "the script never got to write its pids (started too slowly?)"
    return [int(word) for word in path.read_text().split()]


RECORDER = """
import json, os, sys
data = sys.stdin.buffer.read()
with open(os.environ["OUT"], "w", encoding="utf-8") as out:
    json.dump({
        "stdin": data.decode("utf-8"),
        "argv": sys.argv[1:],
        "env": {k: v for k, v in os.environ.items() if k.startswith("SYNCD_")},
        "parent_env": os.environ.get("OTHER_TEST_MARKER"),
    }, out)
print("recorded", len(data))
"""


async def test_command_gets_payload_on_stdin_env_and_argv_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.json"
    monkeypatch.setenv("OUT", str(out))
    monkeypatch.setenv("OTHER_TEST_MARKER", "inherited")
    monkeypatch.setenv("SYNCD_API__TOKEN", "sf_live_v1_must_not_reach_hooks")
    args = ["two words", 'dq"uote', "sq'uote", "$HOME", "*", "a;b|c", ""]
    sink = CommandSink("cmd", [PY, script(tmp_path, "rec.py", RECORDER), *args])
    event = make_event()

    with capture_logs() as logs:
        await sink.deliver([event])

    got: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert got["stdin"] == event.payload
    assert got["argv"] == args
    assert got["env"]["SYNCD_EVENT_ID"] == event.id
    assert got["env"]["SYNCD_EVENT_TYPE"] == "message.received"
    assert got["env"]["SYNCD_WORKSPACE_ID"] == "ws_1"
    assert got["parent_env"] == "inherited"
    # syncd's own settings (the token among them) never reach a hook script
    assert set(got["env"]) == {"SYNCD_EVENT_ID", "SYNCD_EVENT_TYPE", "SYNCD_WORKSPACE_ID"}
    [output] = [entry for entry in logs if entry["event"] == "command_output"]
    assert output["sink"] == "cmd"
    assert output["event_id"] == event.id
    assert output["stdout"] == f"recorded {len(event.payload.encode())}\n"


async def test_nonzero_exit_is_retried_with_code_and_stderr_tail(tmp_path: Path) -> None:
    failing = (
        "import sys\nsys.stderr.write('noise\\n' * 500 + 'database is locked\\n')\nsys.exit(3)"
    )
    sink = CommandSink("cmd", [PY, script(tmp_path, "fail.py", failing)])
    with pytest.raises(RetryableDelivery) as caught:
        await sink.deliver([make_event()])
    message = str(caught.value)
    assert "exited with code 3" in message
    assert message.endswith("database is locked")
    assert len(message) < 700


async def test_killed_by_signal_is_named(tmp_path: Path) -> None:
    sink = CommandSink("cmd", ["/bin/sh", "-c", "kill -SEGV $$"])
    with pytest.raises(RetryableDelivery, match="killed by signal SIGSEGV"):
        await sink.deliver([make_event()])


async def test_missing_program_is_retried(tmp_path: Path) -> None:
    sink = CommandSink("cmd", [str(tmp_path / "no-such-program")])
    with pytest.raises(RetryableDelivery, match="cannot start"):
        await sink.deliver([make_event()])


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    sh = script(tmp_path, "hang.sh", f"sleep 1000 &\necho $$ $! > {pids}\nwait\n")
    sink = CommandSink("cmd", ["/bin/sh", sh], timeout_s=2)
    with pytest.raises(RetryableDelivery, match="no exit within 2 s"):
        await sink.deliver([make_event()])
    shell, grandchild = read_pids(pids)
    assert wait_until_gone(shell)
    assert wait_until_gone(grandchild)


async def test_timeout_kills_a_group_that_ignores_sigterm(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    sh = script(tmp_path, "stubborn.sh", f"trap '' TERM\nsleep 1000 &\necho $$ $! > {pids}\nwait\n")
    sink = CommandSink("cmd", ["/bin/sh", sh], timeout_s=2)
    with pytest.raises(RetryableDelivery, match="no exit within"):
        await sink.deliver([make_event()])
    shell, grandchild = read_pids(pids)
    assert wait_until_gone(shell)
    assert wait_until_gone(grandchild)


async def test_processes_left_behind_after_exit_are_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    sh = script(tmp_path, "leave.sh", f"sleep 1000 >/dev/null 2>&1 &\necho $! > {pids}\nexit 0\n")
    sink = CommandSink("cmd", ["/bin/sh", sh], timeout_s=30)
    with capture_logs() as logs:
        await sink.deliver([make_event()])
    [left] = read_pids(pids)
    assert wait_until_gone(left)
    assert any(entry["event"] == "command_left_processes_killed" for entry in logs)


async def test_megabytes_of_output_do_not_deadlock_and_stay_bounded(tmp_path: Path) -> None:
    noisy = (
        "import sys\n"
        "sys.stdin.read()\n"
        "sys.stderr.write('e' * (1 << 20) + 'END-ERR')\n"
        "sys.stdout.write('o' * (1 << 20) + 'END-OUT')\n"
    )
    sink = CommandSink("cmd", [PY, script(tmp_path, "noisy.py", noisy)], timeout_s=60)
    with capture_logs() as logs:
        await sink.deliver([make_event()])
    [output] = [entry for entry in logs if entry["event"] == "command_output"]
    assert output["stderr"].endswith("END-ERR")
    assert output["stdout"].endswith("END-OUT")
    assert len(output["stderr"]) <= OUTPUT_TAIL_BYTES + 1
    assert len(output["stdout"]) <= OUTPUT_TAIL_BYTES + 1


async def test_command_that_never_reads_stdin_still_delivers(tmp_path: Path) -> None:
    big = make_event(body="x" * (1 << 20))  # far more than a pipe buffer holds
    await CommandSink("cmd", ["/bin/true"]).deliver([big])
    await CommandSink("cmd", [PY, "-c", "import os; os.close(0)"]).deliver([big])


async def test_build_sink_makes_a_command_sink(tmp_path: Path) -> None:
    settings = CommandSinkSettings(name="cmd", type="command", argv=["/bin/true"], timeout_s=5)
    sink = build_sink(settings)
    assert isinstance(sink, CommandSink)
    assert sink.max_batch == 1
    async with sink:
        await sink.deliver([make_event(1), make_event(2)])


async def test_detached_process_holding_the_output_does_not_block_delivery(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    sh = script(tmp_path, "detach.sh", f"setsid sleep 1000 &\necho $! > {pids}\nexit 0\n")
    sink = CommandSink("cmd", ["/bin/sh", sh], timeout_s=1)
    try:
        with capture_logs() as logs:
            await sink.deliver([make_event()])  # exit 0 counts, once the timeout gave up waiting
    finally:
        for pid in read_pids(pids):
            os.kill(pid, signal.SIGKILL)
    [killed] = [entry for entry in logs if entry["event"] == "command_group_killed"]
    assert killed["program_exited"] is True


async def test_cancelled_delivery_kills_the_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    sh = script(
        tmp_path, "hang.sh", f"sleep 1000 &\necho $$ $! > {pids}.tmp\nmv {pids}.tmp {pids}\nwait\n"
    )
    task = asyncio.create_task(
        CommandSink("cmd", ["/bin/sh", sh], timeout_s=60).deliver([make_event()])
    )
    for _ in range(1000):  # bounded poll until the script has started
        if pids.exists():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    shell, grandchild = read_pids(pids)
    assert wait_until_gone(shell)
    assert wait_until_gone(grandchild)
