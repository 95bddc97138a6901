"""``syncd api <action>`` as a script or hook runs it: a subprocess with the
configured key, against the simulator over real HTTP. Every action changes the simulator's
state; a refusal is exit 1 with one line (status and message), bad usage exit 2; the key never
appears in the output."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SYNCD

from syncd.sim import SimConfig, SimServer, Simulator

TOKEN = "sf_test_v1_ApiCliKey5d1e8b2c7a90"


@pytest.fixture
def server() -> Iterator[SimServer]:
    sim = Simulator(SimConfig(seed=8, conversations=20, detail_missing_rate=0.0))
    with SimServer(sim) as running:
        yield running


def api(
    server: SimServer, tmp_path: Path, *args: str, stdin: str | None = None, token: str = TOKEN
) -> subprocess.CompletedProcess[str]:
    """``syncd api ARGS`` with a config file holding the key (as a hook's SYNCD_CONFIG would)."""
    config = tmp_path / "syncd.toml"
    config.write_text(f'[api]\nbase_url = "{server.base_url}"\ntoken = "{token}"\n')
    config.chmod(0o600)
    env = {
        "PATH": "/usr/bin:/bin",
        "SYNCD_CONFIG": str(config),
        "SYNCD_DATABASE__URL": f"sqlite:///{tmp_path / 'never-created.db'}",
    }
    return subprocess.run(
        [*SYNCD, "api", *args],
        env=env,
        cwd=tmp_path,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def done(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert TOKEN not in result.stdout
    return json.loads(result.stdout)


def test_every_action_changes_the_simulators_state(server: SimServer, tmp_path: Path) -> None:
    sim = server.simulator
    cid = sim.conversation_ids(status="open", human_managed=False)[0]
    before = len(sim.messages(cid))

    assert done(api(server, tmp_path, "take-over", cid)) == {"ok": True}
    assert sim.conversation(cid).human_user_id is not None

    done(api(server, tmp_path, "reply", cid, "--content", "Bonjour, je regarde ça 👀"))
    assert len(sim.messages(cid)) == before + 1
    assert sim.messages(cid)[-1]["body"] == "Bonjour, je regarde ça 👀"

    done(api(server, tmp_path, "reply", cid, "--content", "-", stdin="from stdin\nline 2\n"))
    assert sim.messages(cid)[-1]["body"] == "from stdin\nline 2\n"

    done(api(server, tmp_path, "assign", cid, "--user", "usr_42"))
    assert sim.conversation(cid).assigned_user_id == "usr_42"
    done(api(server, tmp_path, "unassign", cid))
    assert sim.conversation(cid).assigned_user_id is None

    done(api(server, tmp_path, "release", cid))
    assert sim.conversation(cid).human_user_id is None

    gate = sim.raise_attention_item(cid, "approval_gate")
    done(api(server, tmp_path, "approve", cid))
    assert sim.attention_item(gate)["status"] == "resolved"

    item = sim.raise_attention_item(cid, "mcp_failure")
    done(api(server, tmp_path, "resolve-attention-item", item, "--reason", "fixed by hand"))
    assert sim.attention_item(item)["status"] == "resolved"

    done(api(server, tmp_path, "resolve", cid, "--outcome", "Refund issued"))
    assert sim.conversation(cid).status == "resolved"
    assert sim.conversation(cid).outcome == "Refund issued"

    workspace = sim.workspace_ids()[0]
    channel = next(iter(sim.channel_ids(workspace).values()))
    count = len(sim.conversation_ids())
    answer = done(
        api(
            server,
            tmp_path,
            "compose",
            "--workspace",
            workspace,
            "--channel",
            channel,
            "--contact-email",
            "new.customer@example.com",
            "--contact-name",
            "New Customer",
            "--subject",
            "Your order",
            "--content",
            "Hello!",
        )
    )
    assert len(sim.conversation_ids()) == count + 1
    assert answer["conversationId"] in sim.conversation_ids()
    assert not (tmp_path / "never-created.db").exists()  # actions never touch the mirror


def test_an_unknown_id_is_exit_1_with_one_line_naming_the_status(
    server: SimServer, tmp_path: Path
) -> None:
    result = api(server, tmp_path, "resolve", "conv_does_not_exist")
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("syncd: api resolve: ") and "404" in line


def test_a_refused_key_is_exit_1_with_one_line_and_no_key(
    server: SimServer, tmp_path: Path
) -> None:
    cid = server.simulator.conversation_ids()[0]
    wrong = "wrong-key-0123456789abcdef"
    result = api(server, tmp_path, "take-over", cid, token=wrong)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("syncd: api take-over: ") and "401" in line
    assert wrong not in result.stdout + result.stderr
    assert server.simulator.conversation(cid).human_user_id is None


@pytest.mark.parametrize(
    "args",
    [
        ["reply", "c1"],  # --content missing
        ["compose", "--workspace", "w", "--channel", "c", "--content", "x"],  # no contact
        ["nonsense", "c1"],
    ],
)
def test_bad_usage_is_exit_2(server: SimServer, tmp_path: Path, args: list[str]) -> None:
    result = api(server, tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert sum(server.request_counts.values()) == 0


def test_empty_content_from_stdin_is_exit_2(server: SimServer, tmp_path: Path) -> None:
    cid = server.simulator.conversation_ids()[0]
    result = api(server, tmp_path, "reply", cid, "--content", "-", stdin="")
    assert result.returncode == 2
    assert "--content" in result.stderr


def test_no_key_is_exit_2_naming_the_setting(server: SimServer, tmp_path: Path) -> None:
    result = api(server, tmp_path, "release", "c1", token="")
    assert result.returncode == 2
    assert "api.token" in result.stderr
