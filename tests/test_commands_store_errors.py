"""A database problem reaching a command is one line ``syncd: ...`` on stderr, exit 1, never a
traceback, and never the password of ``database.url`` (``syncd.store.failures``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from syncd.cli import main

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
