"""A database problem reaching a command is one line ``syncd: ...`` on stderr, exit 1, never a
traceback, and never the password of ``database.url`` (``syncd.store.failures``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from syncd.cli import main
from syncd.logging import redact_registered

READERS = [["status"], ["status", "--json"], ["events", "list"], ["events", "list", "--json"]]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("syncd:")]
    return line


@pytest.mark.usefixtures("isolated_config")
@pytest.mark.parametrize("argv", READERS, ids=" ".join)
def test_a_file_that_is_not_a_database_is_one_line_naming_it(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 64)
    monkeypatch.setenv("SYNCD_DATABASE__URL", f"sqlite:///{garbage}")
    code, err = run(argv, capsys)
    assert code == 1
    line = one_line(err)
    assert "garbage.db" in line and "file is not a database" in line
    assert "database.url" in line  # the fix


@pytest.mark.usefixtures("isolated_config")
@pytest.mark.parametrize("argv", [*READERS, ["db", "current"], ["db", "upgrade"]], ids=" ".join)
def test_an_unreachable_postgresql_is_one_line_without_the_password(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    url = "postgresql://syncd:s3cret-pw@127.0.0.1:1/syncd?connect_timeout=5"
    monkeypatch.setenv("SYNCD_DATABASE__URL", url)
    code, err = run(argv, capsys)
    assert code == 1
    line = one_line(err)
    assert "127.0.0.1:1" in line and "syncd:***@" in line
    assert "s3cret-pw" not in err


@pytest.mark.usefixtures("isolated_config")
@pytest.mark.parametrize(
    ("argv", "table"),
    [(["status"], "sync_state"), (["events", "list"], "events")],
    ids=["status", "events list"],
)
def test_a_damaged_schema_is_one_line_not_a_traceback(
    argv: list[str],
    table: str,
    engine: Engine,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # At head by its revision, yet a table is gone: the read itself fails.
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))
    monkeypatch.setenv("SYNCD_DATABASE__URL", db_url)
    code, err = run(argv, capsys)
    assert code == 1
    line = one_line(err)
    assert line.startswith("syncd: cannot read on ") and table in line


@pytest.mark.usefixtures("isolated_config", "engine")
def test_a_database_error_escaping_the_store_seam_is_still_one_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import syncd.commands.status

    def broken(*_: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("disk I/O error"))

    monkeypatch.setattr(syncd.commands.status, "collect_status", broken)
    monkeypatch.setenv("SYNCD_DATABASE__URL", db_url)
    code, err = run(["status"], capsys)
    assert code == 1
    line = one_line(err)
    assert line.startswith("syncd: database error on ") and line.endswith(": disk I/O error")


@pytest.mark.usefixtures("isolated_config", "engine")
def test_every_command_that_loads_settings_masks_their_secrets_in_logs(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = f"plain-{uuid.uuid4().hex[:8]}"  # looks like no secret: masked only once registered
    assert token in str(redact_registered(f"a line holding {token}"))
    monkeypatch.setenv("SYNCD_API__TOKEN", token)
    monkeypatch.setenv("SYNCD_DATABASE__URL", db_url)
    code, _ = run(["status"], capsys)  # `syncd status` used to skip the logging set-up
    assert code == 0
    assert token not in str(redact_registered(f"a line holding {token}"))


@pytest.mark.usefixtures("isolated_config")
def test_a_database_error_inside_a_sync_pass_is_logged_in_one_line_without_a_traceback(
    engine: Engine,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sync_support import TOKEN

    from syncd.sim import SimConfig, SimServer, Simulator

    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE messages RENAME TO messages_gone"))
    with SimServer(Simulator(SimConfig(seed=3, conversations=5))) as server:
        monkeypatch.setenv("SYNCD_DATABASE__URL", db_url)
        monkeypatch.setenv("SYNCD_API__BASE_URL", server.base_url)
        monkeypatch.setenv("SYNCD_API__TOKEN", TOKEN)
        monkeypatch.setenv("SYNCD_LOGGING__FORMAT", "json")
        code, err = run(["sync"], capsys)
    assert code == 1
    assert "Traceback" not in err
    assert "pass_crashed" not in err
    failed = [line for line in err.splitlines() if '"pass_failed"' in line]
    assert failed and all(
        ("messages" in line and " on sqlite" in line) or " on postgresql" in line for line in failed
    )
