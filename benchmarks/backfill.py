"""Backfill throughput: a first ``syncd sync`` of a large account, into SQLite and PostgreSQL.

For each size (``--conversations 5000,20000``) a simulator runs in its own process
(``syncd sim serve --latency-ms 20 --messages 10``: every request answers after 20 ms), and for
each database a fresh mirror is filled by a child process running exactly what ``syncd sync``
runs (``sync_once``, then delivery; no sinks), with generous API limits (``max_requests_per_s``
100,000, ``max_concurrency`` 16 by default). The simulator, syncd and PostgreSQL are separate
processes, so none competes with another for its GIL; they do share the machine's cores.

    python benchmarks/backfill.py [--conversations 5000,20000] [--concurrency 16]
        [--databases sqlite,postgresql] [--postgres-url URL] [--messages 10] [--latency-ms 20]

Without ``--postgres-url`` a throwaway PostgreSQL server is started (``initdb`` in a temp dir,
loopback, ``synchronous_commit=off`` which, like syncd's SQLite ``synchronous=NORMAL``, may lose
the last commits in a power cut but never corrupts); with it, the URL's role must be allowed to
CREATE DATABASE (one database per run is created and dropped).

What is printed, per size and database:

* **wall time** of the sync (``sync_once`` + delivery; start-up and migrations excluded) and the
  **requests** it made (every HTTP attempt, counted by the client's ``on_request`` hook).
* **latency bound** = requests x latency / max_concurrency: the time the requests need when
  exactly ``max_concurrency`` of them are in flight at every moment and nothing else costs
  time; **ratio** = bound / wall (target: at least 90 %).
* **bare client**: the same number of GETs (conversation details and attachment lists) made by
  aiohttp alone -- no parsing, no database, exactly ``max_concurrency`` in flight -- against the
  same simulator, right after the syncd runs of that size: its ratio to the latency bound is
  the most any client reaches with this set-up on this machine (the simulator's own event loop
  and asyncio's millisecond timers make a request take ~22 ms, not 20).
* **in flight**: how many requests were open on average (the sum of every request's duration,
  sent to answered, over the wall time) and how long one took; against ``max_concurrency`` and
  the simulator's latency they show where the time went.
* **CPU** of each process during the sync: syncd (``time.process_time`` around the sync; its
  start-up, imports and migrations, from ``wait4``, shown apart), the simulator and the
  PostgreSQL server (from /proc, before/after), against the machine's cores x wall, and the
  load average before the run (other work on the machine). A long walk writes its pages in a
  worker process (syncd/sync/offload.py): its CPU is shown apart (``RUSAGE_CHILDREN``). The
  event loop is one thread under one GIL: its CPU time is a lower bound of the wall time.
* **rows written per second**, syncd against raw ``sqlite3.executemany`` of the same rows
  (target: at least 50 %). The comparison:

  - the rows: after the sync, every row of every mirror table and of the ``events`` outbox
    (events are written in the same transactions, so they are part of the write path), read
    back as stored (JSON as text, timestamps as SQLite's UTC text);
  - syncd's time: the CPU time (``time.thread_time`` of the writing thread) spent inside
    syncd's writing transactions (``SyncContext.write_now`` in the main process, and the same
    in the write worker, which reports it: reading what the mirror holds for the page, diffing,
    building rows and event envelopes, the upserts, the commit). CPU time, not wall time,
    because in the main process the writing thread shares the GIL with the event loop that is
    serving HTTP; its wall time would measure the interleaving, not the write path. The part
    the main process spent in ``Mirror.write_changes`` (upserts and outbox inserts alone) is shown
    too;
  - the reference: the same rows inserted with plain ``executemany`` (``INSERT``, no conflict
    handling, nothing to diff) into an empty SQLite file with the same schema (tables,
    indexes, ``metadata.create_all``) and the same pragmas (WAL, ``synchronous=NORMAL``), in as
    many transactions as syncd committed (each transaction takes an equal share of every
    table, as a page does), timed the same way (CPU time of the inserting thread; wall time
    shown too). On PostgreSQL the same rows are also inserted with raw psycopg
    ``executemany`` into an empty PostgreSQL database, for context.

* **peak RSS** of the syncd process: ``VmHWM`` (the high-water mark of its resident memory) read
  by the child from /proc/self/status as it ends. Not ``ru_maxrss`` from ``wait4`` or
  ``getrusage(RUSAGE_CHILDREN)``: Linux carries a process's maximum RSS across ``exec``, so a
  child's ``ru_maxrss`` is at least the parent's RSS when it forked (this script holds every row of
  the mirror for the reference run), and ``RUSAGE_CHILDREN`` is the maximum over all children
  waited for (the simulator holds the whole generated account). Target: it does not grow with
  the number of conversations (pages are streamed, not loaded whole); compare the two sizes.

The script exits 1 when a target is missed, after printing everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import pwd
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from syncd.sim.handlers import EXAMPLE_TOKEN
from syncd.store import tables
from syncd.store.engine import create_engine_for, dumps_json

LATENCY_RATIO_TARGET = 0.90
ROWS_RATIO_TARGET = 0.50
# Tables whose rows count as written: the mirror, and the outbox written in the same transactions.
WRITTEN_TABLES = (*(table.name for table in tables.MIRROR_TABLES), "events")
SIM_START_TIMEOUT_S = 300.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the child: one `syncd sync`, instrumented ----------------------------------------------------


def child_main(args: argparse.Namespace) -> int:
    """Run what ``syncd sync`` runs against ``--base-url`` into ``--database-url``; print JSON."""
    from syncd.commands.sync import deliver_after_sync
    from syncd.config import load_settings
    from syncd.config.logs import configure_logging_for
    from syncd.sync.context import SyncContext
    from syncd.sync.mirror import Mirror
    from syncd.sync.runner import sync_once
    from syncd.sync.session import open_sync

    timing: dict[str, float] = defaultdict(float)
    lock = threading.Lock()

    def timed(key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **kw: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                with lock:
                    timing[f"{key}_cpu_s"] += time.thread_time() - cpu
                    timing[f"{key}_wall_s"] += time.perf_counter() - wall
                    timing[f"{key}_calls"] += 1

        return wrapper

    # Benchmark-only instrumentation of the write path (the engine itself is unchanged).
    SyncContext.write_now = timed("write", SyncContext.write_now)  # type: ignore[method-assign]
    Mirror.write_changes = timed("apply", Mirror.write_changes)  # type: ignore[method-assign]

    requests: Counter[str] = Counter()

    in_flight_s = [0.0]

    def on_request(route: str, status: int | None, duration: float) -> None:
        requests[route] += 1
        in_flight_s[0] += duration
        if status is None or status >= 300:
            requests["(failed attempts)"] += 1

    settings = load_settings(
        api={
            "base_url": args.base_url,
            "token": EXAMPLE_TOKEN,
            "max_concurrency": args.concurrency,
            "max_requests_per_s": 100_000,
            "timeout_s": 60,
        },
        database={"url": args.database_url},
        events={"drain_timeout_s": 0},
        logging={"level": "warning"},
    )
    configure_logging_for(settings)

    async def run() -> dict[str, Any]:
        async with open_sync(settings, client_options={"on_request": on_request}) as ctx:
            started = time.perf_counter()
            cpu = time.process_time()
            results = await sync_once(ctx)
            await deliver_after_sync(ctx)
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu
            timing["write_cpu_s"] += ctx.offloaded_write_cpu_s
            timing["write_calls"] += ctx.offloaded_writes
            timing["offloaded_cpu_s"] = ctx.offloaded_write_cpu_s
            timing["offloaded_calls"] = ctx.offloaded_writes
        failed = [f"{r.stream} {r.scope}: {r.error}" for r in results if not r.ok]
        return {
            "wall_s": wall,
            "sync_cpu_s": cpu,
            "requests": dict(requests),
            "request_s": in_flight_s[0],
            "timing": dict(timing),
            "failed": failed,
            "passes": [[r.stream, r.rows_seen, r.details_fetched, r.events] for r in results],
        }

    report = asyncio.run(run())
    report["peak_rss_kb"] = peak_rss_kb()
    # The write worker (ended with its walk): its whole CPU time, and its peak RSS as the kernel
    # reports it for a child (at least this process's RSS when it was started; see above).
    worker = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["worker_cpu_s"] = worker.ru_utime + worker.ru_stime
    report["worker_max_rss_kb"] = worker.ru_maxrss
    print(json.dumps(report), flush=True)
    return 0


def peak_rss_kb() -> int:
    """This process's peak resident memory (``VmHWM``), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc/self/status")


# --- the ceiling: a bare HTTP client against the same simulator --------------------------------


@dataclass(frozen=True)
class Ceiling:
    """What a client doing nothing but HTTP reaches against the same simulator."""

    requests: int
    wall_s: float
    mean_request_ms: float
    ratio: float


def bare_client_ceiling(
    base_url: str, requests: int, concurrency: int, latency_ms: float
) -> Ceiling:
    """``requests`` GETs (details and attachment lists, as a backfill makes them) with aiohttp
    alone: no parsing, no database, exactly ``concurrency`` in flight. Its ratio to the latency
    bound is the most any client can reach with this simulator on this machine."""
    import aiohttp

    async def run() -> Ceiling:
        headers = {"Authorization": f"Bearer {EXAMPLE_TOKEN}"}
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            ids: list[str] = []
            cursor: str | None = None
            while len(ids) * 2 < requests:
                params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
                async with session.get(f"{base_url}/api/conversations", params=params) as r:
                    page = await r.json()
                ids += [row["id"] for row in page["data"]]
                cursor = page.get("nextCursor")
                if not cursor:
                    break
            paths = [
                f"/api/conversations/{cid}{suffix}"
                for cid in ids
                for suffix in ("", "/attachments")
            ]
            paths = (paths * (requests // max(1, len(paths)) + 1))[:requests]
            gate = asyncio.Semaphore(concurrency)
            took = 0.0

            async def get(path: str) -> None:
                nonlocal took
                async with gate:
                    sent = time.perf_counter()
                    async with session.get(base_url + path) as response:
                        await response.read()
                    took += time.perf_counter() - sent

            started = time.perf_counter()
            await asyncio.gather(*(get(path) for path in paths))
            wall = time.perf_counter() - started
        bound = len(paths) * latency_ms / 1000 / concurrency
        return Ceiling(len(paths), wall, 1000 * took / len(paths), bound / wall)

    return asyncio.run(run())


# --- processes: simulator, PostgreSQL, the child -----------------------------------------------


def proc_cpu_s(pid: int, *, with_children: bool = False) -> float:
    """User+system CPU seconds of a live process (and of its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLK_TCK


def children_of(pid: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(Path(stat).read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(Path(stat).parent.name))
    return found


def tree_cpu_s(pid: int | None) -> float:
    """CPU of a server process, its exited (reaped) children and its live children."""
    if pid is None:
        return 0.0
    total = proc_cpu_s(pid, with_children=True)
    for child in children_of(pid):
        with contextlib.suppress(OSError):
            total += proc_cpu_s(child)
    return total


@dataclass
class Sim:
    base_url: str
    pid: int


@contextlib.contextmanager
def simulator(conversations: int, messages: int, latency_ms: float, seed: int) -> Iterator[Sim]:
    """``syncd sim serve`` in its own process on a free loopback port."""
    argv = [sys.executable, "-m", "syncd.cli", "sim", "serve", "--port", "0", "--seed", str(seed),
            "--conversations", str(conversations), "--messages", str(messages),
            "--latency-ms", str(latency_ms), "--activity-per-s", "0"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["SYNCD_LOGGING__LEVEL"] = "warning"
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the banner, once the world is generated
        if "serving" not in line:
            raise SystemExit(f"the simulator did not start: {line!r}")
        base_url = line.split("serving ", 1)[1].split()[0]
        yield Sim(base_url, process.pid)
    finally:
        process.terminate()
        process.wait(60)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Postgres:
    admin_url: URL
    postmaster_pid: int | None  # None for a server we did not start (its CPU is not measured)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[Postgres]:
    """A private PostgreSQL server (initdb in a temp dir, trust auth, loopback)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        raise SystemExit("no PostgreSQL server binaries: install 'postgresql' or --postgres-url")
    bindir = Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent
    base = Path(tempfile.mkdtemp(prefix="syncd-bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        postgres = pwd.getpwnam("postgres")
        os.chown(base, postgres.pw_uid, postgres.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = base / "data"

    def run(*argv: str) -> None:
        done = subprocess.run([*as_user, *argv], cwd=base, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{argv[0]} failed:\n{done.stdout}{done.stderr}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c synchronous_commit=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
            "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        try:
            pid = int((data / "postmaster.pid").read_text().split()[0])
            url = URL.create(
                "postgresql+psycopg",
                username="postgres",
                host="127.0.0.1",
                port=port,
                database="postgres",
            )
            yield Postgres(url, pid)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def postgres_database(admin_url: URL) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"syncd_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class ChildRun:
    report: dict[str, Any]
    max_rss_kb: int
    cpu_s: float


def run_child(base_url: str, database_url: str, concurrency: int, workdir: Path) -> ChildRun:
    """The instrumented sync in a child process; its CPU time from wait4 (not the sim's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    argv = [sys.executable, __file__, "--child", "--base-url", base_url,
            "--database-url", database_url, "--concurrency", str(concurrency)]  # fmt: skip
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(argv, stdout=out, cwd=workdir, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if process.returncode != 0:
        raise SystemExit(f"the sync child failed ({process.returncode}):\n{output}")
    report = json.loads(output.strip().splitlines()[-1])
    if report["failed"]:
        raise SystemExit(f"sync passes failed: {report['failed']}")
    return ChildRun(report, report["peak_rss_kb"], usage.ru_utime + usage.ru_stime)


# --- rows: counting, reading back, raw executemany ---------------------------------------------


def count_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(
                conn.scalar(select(func.count()).select_from(tables.metadata.tables[name])) or 0
            )
            for name in WRITTEN_TABLES
        }


def _sqlite_value(value: Any) -> Any:
    """A value read from PostgreSQL as SQLite would store it."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, dict | list):
        return dumps_json(value)
    return value


def read_rows(engine: Engine) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every written row, as stored (SQLite values: JSON and timestamps as text)."""
    found = {}
    with engine.connect() as conn:
        for name in WRITTEN_TABLES:
            table = tables.metadata.tables[name]
            columns = [c.name for c in table.columns if not (name == "events" and c.name == "seq")]
            quoted = ", ".join(f'"{c}"' for c in columns)
            fetched = conn.exec_driver_sql(f'SELECT {quoted} FROM "{name}"').fetchall()
            if engine.dialect.name == "sqlite":
                rows = [tuple(row) for row in fetched]
            else:
                rows = [tuple(_sqlite_value(v) for v in row) for row in fetched]
            found[name] = (columns, rows)
    return found


@dataclass
class RawRun:
    rows: int
    cpu_s: float
    wall_s: float


def _shares(rows: Sequence[Any], parts: int) -> list[Sequence[Any]]:
    size, extra = divmod(len(rows), parts)
    out, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        out.append(rows[start:end])
        start = end
    return out


def raw_sqlite(
    data: dict[str, tuple[list[str], list[tuple[Any, ...]]]], transactions: int, path: Path
) -> RawRun:
    """The rows with plain sqlite3 executemany into an empty copy of the schema."""
    url = f"sqlite:///{path}"
    engine = create_engine_for(url)
    tables.metadata.create_all(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    plan = {name: _shares(rows, transactions) for name, (_, rows) in data.items()}
    statements = {
        name: f'INSERT INTO "{name}" ({", ".join(columns)}) VALUES '
        f"({', '.join('?' for _ in columns)})"
        for name, (columns, _) in data.items()
    }
    cpu, wall = time.thread_time(), time.perf_counter()
    for part in range(transactions):
        conn.execute("BEGIN IMMEDIATE")
        for name, shares in plan.items():
            if shares[part]:
                conn.executemany(statements[name], shares[part])
        conn.execute("COMMIT")
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    conn.close()
    return RawRun(sum(len(rows) for _, rows in data.values()), cpu, wall)


def raw_postgres(
    data: dict[str, tuple[list[str], list[tuple[Any, ...]]]], transactions: int, url: str
) -> RawRun:
    """The rows with plain psycopg executemany into an empty PostgreSQL copy of the schema."""
    import psycopg

    engine = create_engine_for(url)
    tables.metadata.create_all(engine)
    engine.dispose()
    bool_columns = {
        (t.name, c.name)
        for t in tables.metadata.tables.values()
        for c in t.columns
        if c.type.python_type is bool
    }
    plan = {}
    for name, (columns, rows) in data.items():
        flags = [(name, c) in bool_columns for c in columns]
        fixed = [
            tuple(
                bool(v) if flag and v is not None else v for v, flag in zip(row, flags, strict=True)
            )
            for row in rows
        ]
        plan[name] = _shares(fixed, transactions)
    statements = {
        name: f'INSERT INTO "{name}" ({", ".join(columns)}) VALUES '
        f"({', '.join('%s' for _ in columns)})"
        for name, (columns, _) in data.items()
    }
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        cpu, wall = time.thread_time(), time.perf_counter()
        for part in range(transactions):
            with conn.transaction(), conn.cursor() as cur:
                for name, shares in plan.items():
                    if shares[part]:
                        cur.executemany(statements[name], shares[part])
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    return RawRun(sum(len(rows) for _, rows in data.values()), cpu, wall)


# --- one measurement ----------------------------------------------------------------------------


@dataclass
class Measurement:
    size: int
    database: str
    wall_s: float
    requests: int
    bound_s: float
    rows: int
    write_cpu_s: float
    apply_cpu_s: float
    write_txns: int
    raw_cpu_s: float
    raw_wall_s: float
    raw_pg: RawRun | None
    rss_mb: float
    syncd_cpu_s: float
    startup_cpu_s: float
    sim_cpu_s: float
    pg_cpu_s: float
    load: float
    request_s: float
    concurrency: int
    offloaded_txns: int = 0
    offloaded_cpu_s: float = 0.0
    worker_cpu_s: float = 0.0
    worker_rss_mb: float = 0.0
    ceiling: Ceiling | None = None
    by_route: dict[str, int] = field(default_factory=dict)

    @property
    def latency_ratio(self) -> float:
        return self.bound_s / self.wall_s

    @property
    def syncd_rows_per_s(self) -> float:
        return self.rows / self.write_cpu_s

    @property
    def raw_rows_per_s(self) -> float:
        return self.rows / self.raw_cpu_s

    @property
    def rows_ratio(self) -> float:
        return self.syncd_rows_per_s / self.raw_rows_per_s


def measure(
    size: int,
    database: str,
    sim: Sim,
    database_url: str,
    pg_pid: int | None,
    args: argparse.Namespace,
    workdir: Path,
    raw_reference: dict[tuple[int, int], Any],
) -> Measurement:
    load = os.getloadavg()[0]
    sim_cpu, pg_cpu = proc_cpu_s(sim.pid), tree_cpu_s(pg_pid)
    child = run_child(sim.base_url, database_url, args.concurrency, workdir)
    sim_cpu, pg_cpu = proc_cpu_s(sim.pid) - sim_cpu, tree_cpu_s(pg_pid) - pg_cpu
    report = child.report
    engine = create_engine_for(database_url)
    try:
        counts = count_rows(engine)
        timing = report["timing"]
        txns = int(timing["write_calls"])
        key = (size, txns)
        if key not in raw_reference:  # the same rows for both databases (same simulator)
            data = read_rows(engine)
            raw_reference[key] = (
                data,
                raw_sqlite(data, txns, workdir / f"raw-{size}-{uuid.uuid4().hex[:6]}.db"),
            )
        data, raw = raw_reference[key]
        raw_pg = None
        if database == "postgresql" and args.raw_postgres:
            with postgres_database(make_url(database_url).set(database="postgres")) as url:
                raw_pg = raw_postgres(data, txns, url)
    finally:
        engine.dispose()
    requests = {k: v for k, v in report["requests"].items() if not k.startswith("(")}
    total = sum(requests.values())
    return Measurement(
        size=size,
        database=database,
        wall_s=report["wall_s"],
        requests=total,
        bound_s=total * args.latency_ms / 1000 / args.concurrency,
        rows=sum(counts.values()),
        write_cpu_s=timing["write_cpu_s"],
        apply_cpu_s=timing.get("apply_cpu_s", 0.0),
        write_txns=txns,
        raw_cpu_s=raw.cpu_s,
        raw_wall_s=raw.wall_s,
        raw_pg=raw_pg,
        rss_mb=child.max_rss_kb / 1024,
        syncd_cpu_s=report["sync_cpu_s"],
        startup_cpu_s=child.cpu_s - report["sync_cpu_s"] - report["worker_cpu_s"],
        sim_cpu_s=sim_cpu,
        pg_cpu_s=pg_cpu,
        load=load,
        request_s=report["request_s"],
        concurrency=args.concurrency,
        offloaded_txns=int(timing.get("offloaded_calls", 0)),
        offloaded_cpu_s=timing.get("offloaded_cpu_s", 0.0),
        worker_cpu_s=report["worker_cpu_s"],
        worker_rss_mb=report["worker_max_rss_kb"] / 1024,
        by_route=report["requests"],
    )


def print_measurement(m: Measurement) -> None:
    cores = os.cpu_count() or 1
    print(f"\n== {m.size:,} conversations -> {m.database}")
    print(f"  wall time         {m.wall_s:8.1f} s   (load average before the run {m.load:.1f})")
    routes = ", ".join(f"{k} {v:,}" for k, v in sorted(m.by_route.items()))
    print(f"  requests          {m.requests:8,}     ({routes})")
    print(
        f"  latency bound     {m.bound_s:8.1f} s   ratio {m.latency_ratio:6.1%} "
        f"(target >= {LATENCY_RATIO_TARGET:.0%})"
    )
    if m.ceiling is not None:
        c = m.ceiling
        print(
            f"  bare client       ratio {c.ratio:6.1%}  ({c.requests:,} GETs with aiohttp "
            f"alone, no parsing, no database: a request took {c.mean_request_ms:.1f} ms; "
            f"syncd reaches {m.latency_ratio / c.ratio:.0%} of it)"
        )
    print(
        f"  in flight         {m.request_s / m.wall_s:8.1f}     on average of {m.concurrency} "
        f"allowed; a request took {1000 * m.request_s / m.requests:.1f} ms on average, "
        f"sent to answered"
    )
    busy = m.syncd_cpu_s + m.sim_cpu_s + m.pg_cpu_s
    busy += m.worker_cpu_s
    print(
        f"  CPU               syncd {m.syncd_cpu_s:.1f} s (+{m.startup_cpu_s:.1f} s start-up) "
        f"+ its write worker {m.worker_cpu_s:.1f} s, simulator {m.sim_cpu_s:.1f} s, "
        f"PostgreSQL {m.pg_cpu_s:.1f} s = {busy:.1f} s of {cores} cores x {m.wall_s:.1f} s "
        f"= {cores * m.wall_s:.1f} s"
    )
    print(
        f"  rows written      {m.rows:8,}     in {m.write_txns} write transactions "
        f"({m.offloaded_txns} of them in the write worker), {m.write_cpu_s:.2f} s CPU "
        f"({m.offloaded_cpu_s:.2f} s in the worker; write_changes in the main process "
        f"{m.apply_cpu_s:.2f} s)"
    )
    print(
        f"  rows/s            syncd {m.syncd_rows_per_s:9,.0f}   raw sqlite3 executemany "
        f"{m.raw_rows_per_s:9,.0f} ({m.raw_cpu_s:.2f} s CPU, {m.raw_wall_s:.2f} s wall)   "
        f"ratio {m.rows_ratio:6.1%} (target >= {ROWS_RATIO_TARGET:.0%})"
    )
    if m.raw_pg is not None:
        pg_rate = m.raw_pg.rows / m.raw_pg.wall_s
        print(
            f"                    raw psycopg executemany {pg_rate:9,.0f} rows/s "
            f"({m.raw_pg.cpu_s:.2f} s CPU in this process, {m.raw_pg.wall_s:.2f} s wall)"
        )
    print(
        f"  peak RSS (syncd)  {m.rss_mb:8.1f} MB   (write worker: at most {m.worker_rss_mb:.1f} MB)"
    )


def summary(results: list[Measurement]) -> bool:
    ok = True
    print("\n== summary")
    print(
        f"  {'size':>7} {'database':<10} {'wall s':>7} {'requests':>9} {'bound s':>8} "
        f"{'ratio':>6} {'bare':>6} {'rows/s':>8} {'raw/s':>8} {'ratio':>6} {'RSS MB':>7} "
        f"{'syncd CPU s':>11}"
    )
    for m in results:
        print(
            f"  {m.size:>7,} {m.database:<10} {m.wall_s:7.1f} {m.requests:9,} {m.bound_s:8.1f} "
            f"{m.latency_ratio:6.1%} {m.ceiling.ratio if m.ceiling else float('nan'):6.1%} "
            f"{m.syncd_rows_per_s:8,.0f} {m.raw_rows_per_s:8,.0f} "
            f"{m.rows_ratio:6.1%} {m.rss_mb:7.1f} {m.syncd_cpu_s:11.1f}"
        )
        ok &= m.latency_ratio >= LATENCY_RATIO_TARGET and m.rows_ratio >= ROWS_RATIO_TARGET
    for database in sorted({m.database for m in results}):
        runs = sorted((m for m in results if m.database == database), key=lambda m: m.size)
        if len(runs) >= 2:
            small, large = runs[0], runs[-1]
            growth = large.rss_mb / small.rss_mb - 1
            flat = growth < 0.25
            ok &= flat
            print(
                f"  peak RSS {database}: {small.rss_mb:.0f} MB at {small.size:,}, "
                f"{large.rss_mb:.0f} MB at {large.size:,} conversations ({growth:+.0%}): "
                f"{'does not grow' if flat else 'GROWS'}"
            )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", default="5000,20000", help="sizes, comma-separated")
    parser.add_argument("--messages", type=int, default=10, help="messages per conversation")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16, help="api.max_concurrency")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", help="default: a throwaway server")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-raw-postgres", dest="raw_postgres", action="store_false",
        help="skip the raw psycopg reference",
    )  # fmt: skip
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args)

    sizes = [int(n) for n in args.conversations.split(",") if n.strip()]
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown databases {sorted(unknown)}: use sqlite and/or postgresql")
    print(
        f"backfill: {sizes} conversations x ~{args.messages} messages, latency "
        f"{args.latency_ms:g} ms, max_concurrency {args.concurrency}, {os.cpu_count()} cores",
        flush=True,
    )
    results: list[Measurement] = []
    with contextlib.ExitStack() as stack:
        pg: Postgres | None = None
        if "postgresql" in databases:
            if args.postgres_url:
                pg = Postgres(make_url(args.postgres_url), None)
            else:
                pg = stack.enter_context(throwaway_postgres())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="syncd-bench-")))
        for size in sizes:
            raw_reference: dict[tuple[int, int], Any] = {}
            ceiling: Ceiling | None = None
            with simulator(size, args.messages, args.latency_ms, args.seed) as sim:
                for database in databases:
                    with contextlib.ExitStack() as db_stack:
                        if database == "sqlite":
                            url = f"sqlite:///{workdir / f'mirror-{size}.db'}"
                            pg_pid = None
                        else:
                            assert pg is not None
                            url = db_stack.enter_context(postgres_database(pg.admin_url))
                            pg_pid = pg.postmaster_pid
                        m = measure(size, database, sim, url, pg_pid, args, workdir, raw_reference)
                    if ceiling is None:
                        ceiling = bare_client_ceiling(
                            sim.base_url, m.requests, args.concurrency, args.latency_ms
                        )
                    m.ceiling = ceiling
                    results.append(m)
                    print_measurement(m)
                    sys.stdout.flush()
    return 0 if summary(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
