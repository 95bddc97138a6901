"""Fixtures shared by the whole suite: one database per test, on SQLite and on PostgreSQL.

``db_url`` (and ``engine`` on top of it) runs a test twice: on a fresh SQLite file and on a
fresh PostgreSQL database, both migrated to head. PostgreSQL is a throwaway server started
once per session (``initdb`` in a private temp dir, a free loopback port), or the server named
by ``$SYNCD_TEST_POSTGRES_URL`` (a role allowed to CREATE DATABASE). Missing server binaries
fail the PostgreSQL tests loudly: CI must run them (scripts/test installs the binaries). A
janitor process stops the server and removes its files even if the session is killed.

    def test_something(engine):                  # a migrated Engine, leak-checked
        with engine.begin() as conn: ...

    def test_cli(syncd_env, tmp_path):           # `syncd` subprocesses on the same database
        subprocess.run([*SYNCD, "sync"], env=syncd_env, cwd=tmp_path, check=True)

Helpers importable from tests (``from conftest import SYNCD, subprocess_env``): ``SYNCD``, the
argv prefix of this checkout's CLI, and ``subprocess_env(url)``.

Also: ``empty_db_url`` (a fresh database with no tables, both kinds), ``postgres_db_url`` (a
fresh migrated PostgreSQL database alone, for PostgreSQL-only tools) and ``isolated_config``
(in-process ``load_settings()`` sees no syncd.toml and no SYNCD_* variables).
``-m "not postgres"`` deselects the PostgreSQL half.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool, QueuePool

from syncd.store.engine import create_engine_for, create_private_file
from syncd.store.migrate import upgrade

# Hypothesis's per-example deadline is a timing assertion: on a loaded 2-core CI machine it fails
# examples that are correct, only slow. Properties here assert behaviour, never speed.
settings.register_profile("syncd", deadline=None)
settings.load_profile("syncd")

POSTGRES_URL_ENV = "SYNCD_TEST_POSTGRES_URL"
# Read once and removed: syncd rejects SYNCD_* variables that name no setting, and neither
# in-process config loading nor `syncd` subprocesses should see this one.
_EXTERNAL_POSTGRES = os.environ.pop(POSTGRES_URL_ENV, None)

SYNCD = [sys.executable, "-m", "syncd.cli"]
"""argv prefix running the syncd CLI of this checkout in a subprocess."""

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def url_string(url: URL) -> str:
    """A URL as a string with its password kept (``str(url)`` would mask it)."""
    return url.render_as_string(hide_password=False)


# --- PostgreSQL server ---------------------------------------------------------------------------


def _postgres_bin() -> Path:
    """The newest installed PostgreSQL server's bin directory, or fail the test loudly."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: install the "
            "'postgresql' package (scripts/test does), or set "
            f"{POSTGRES_URL_ENV} to a server; the PostgreSQL tests are not optional",
            pytrace=False,
        )
    return Path(max(found, key=lambda path: int(Path(path).parts[-3]))).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Stops the server and removes its directory once its stdin closes: when the fixture is done,
# or when the test session dies without running finalizers (SIGKILL, a CI timeout's SIGTERM).
_JANITOR = """
import shutil, subprocess, sys
sys.stdin.buffer.read()
subprocess.run(sys.argv[2:], capture_output=True, check=False)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


@contextlib.contextmanager
def _throwaway_postgres() -> Iterator[URL]:
    """Run a private PostgreSQL server (trust auth, loopback, fsync off) for as long as needed."""
    bindir = _postgres_bin()
    base = Path(tempfile.mkdtemp(prefix="syncd-test-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        postgres = pwd.getpwnam("postgres")
        os.chown(base, postgres.pw_uid, postgres.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = base / "data", base / "server.log"
    stop = [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
    janitor = subprocess.Popen(
        [sys.executable, "-c", _JANITOR, str(base), *stop],
        stdin=subprocess.PIPE,
        start_new_session=True,  # not hit by the Ctrl-C meant for pytest
    )

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*as_user, *argv], cwd=base, capture_output=True, text=True, check=False
        )

    try:
        init = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                   "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        if init.returncode != 0:
            pytest.fail(f"initdb failed:\n{init.stdout}{init.stderr}", pytrace=False)
        for _attempt in range(5):  # another process may grab the free port first
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off")  # fmt: skip
            start = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                        "-w", "-t", "60", "start")  # fmt: skip
            if start.returncode == 0:
                break
        else:
            server_log = log.read_text() if log.exists() else ""
            pytest.fail(f"pg_ctl start failed:\n{start.stdout}{start.stderr}\n{server_log}",
                        pytrace=False)  # fmt: skip
        yield URL.create(
            "postgresql+psycopg", username="postgres", host="127.0.0.1", port=port,
            database="postgres",
        )  # fmt: skip
    finally:
        assert janitor.stdin is not None
        janitor.stdin.close()
        janitor.wait(timeout=120)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[URL]:
    """URL of a PostgreSQL role that may create databases, on a server up for the session."""
    if _EXTERNAL_POSTGRES:
        url = make_url(_EXTERNAL_POSTGRES)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        yield url
        return
    with _throwaway_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_admin(postgres_admin_url: URL) -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the admin URL, for CREATE/DROP DATABASE."""
    engine = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: Engine, postgres_admin_url: URL) -> Iterator[str]:
    """A database migrated to head once per session, cloned for each test (fast)."""
    name = f"syncd_template_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine_for(postgres_admin_url.set(database=name))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    yield name
    with postgres_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, copied for each test (fast)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "syncd.db"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # the last connection checkpoints the WAL into the file
    return path


@contextlib.contextmanager
def _postgres_database(admin: Engine, admin_url: URL, template: str | None) -> Iterator[str]:
    """A uniquely named database for one test, dropped (with any leftover session) after it."""
    name = f"syncd_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        # FILE_COPY (PostgreSQL 15+) clones a small database faster than logging it to the WAL.
        strategy = " STRATEGY FILE_COPY" if conn.dialect.server_version_info >= (15,) else ""
        clone = f' TEMPLATE "{template}"{strategy}' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{clone}'))
    try:
        yield url_string(admin_url.set(database=name))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- per-test databases --------------------------------------------------------------------------


@pytest.fixture(params=DATABASES)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database with no tables at all (SQLite file, or a PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mirror' / 'syncd.db'}"
        return
    admin = request.getfixturevalue("postgres_admin")
    with _postgres_database(admin, request.getfixturevalue("postgres_admin_url"), None) as url:
        yield url


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database migrated to head: run the test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "mirror" / "syncd.db"
        create_private_file(path)  # 0600 in a 0700 directory, as create_engine_for makes it
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin = request.getfixturevalue("postgres_admin")
    admin_url = request.getfixturevalue("postgres_admin_url")
    template = request.getfixturevalue("postgres_template")
    with _postgres_database(admin, admin_url, template) as url:
        yield url


@pytest.fixture
def postgres_db_url(
    postgres_admin: Engine, postgres_admin_url: URL, postgres_template: str
) -> Iterator[str]:
    """URL of a fresh PostgreSQL database migrated to head, for tests of PostgreSQL-only tools
    (mark them ``postgres``)."""
    with _postgres_database(postgres_admin, postgres_admin_url, postgres_template) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An Engine on ``db_url``; the test fails if it leaves a connection checked out."""
    engine = create_engine_for(db_url)
    yield engine
    pool = engine.pool
    leaked = pool.checkedout() if isinstance(pool, QueuePool) else 0
    engine.dispose()
    assert leaked == 0, f"{leaked} connection(s) never returned to the pool"


def subprocess_env(db_url: str) -> dict[str, str]:
    """Environment for a ``syncd`` subprocess: no outside SYNCD_* settings, ``db_url`` as its DB."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SYNCD_")}
    env["SYNCD_DATABASE__URL"] = db_url
    return env


@pytest.fixture
def syncd_env(db_url: str) -> dict[str, str]:
    """``subprocess_env`` for the test's database (run ``[*SYNCD, ...]`` with ``env=syncd_env``)."""
    return subprocess_env(db_url)


@pytest.fixture
def isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """In-process ``load_settings()`` sees no syncd.toml, $SYNCD_CONFIG or SYNCD_* variables."""
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return workdir


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A command run in-process (``syncd.cli.main``) configures logging for the whole process,
    its level included: put structlog and the stdlib root logger back after each test, so a
    later test's ``capture_logs`` sees every level again."""
    saved = structlog.get_config()
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    yield
    structlog.configure(**saved)
    root.setLevel(level)
    root.handlers[:] = handlers
