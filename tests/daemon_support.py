"""Helpers for the daemon's end-to-end tests (tests/test_daemon_*.py).

``syncd run`` runs as a real subprocess (its own process group, output in files under the
test's tmp_path) with a TOML config written by ``write_config``; ``Processes`` starts them and
kills whatever is still running when the test ends, passed or failed. Waiting is always a bounded
poll (``wait_for``); nothing sleeps to synchronise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from conftest import SYNCD, subprocess_env

T = TypeVar("T")

# Looks like a real key (the simulator accepts it); long enough to be found if it ever leaks.
TOKEN = "sf_test_v1_DaemonTestKey0b7d2e4f9a1c"
START_TIMEOUT_S = 30.0


def wait_for(
    condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- configuration ------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | os.PathLike):
        return json.dumps(os.fspath(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def write_config(
    path: Path,
    *,
    base_url: str,
    db_url: str,
    sink_path: Path | None = None,
    **sections: Mapping[str, Any],
) -> Path:
    """A ``syncd run`` config: short intervals, any free health port, a file sink at ``sink_path``.

    ``sections`` override or add keys per section: ``sync={"workspaces": [...]}``.
    """
    config: dict[str, dict[str, Any]] = {
        "api": {
            "base_url": base_url,
            "token": TOKEN,
            "max_requests_per_s": 500,
            "max_concurrency": 8,
            "timeout_s": 10,
        },
        "database": {"url": db_url},
        "sync": {
            "poll_interval_s": 1,
            "attention_interval_s": 1,
            "status_counts_interval_s": 5,
            "reconcile_interval_s": 3600,
        },
        "daemon": {"shutdown_timeout_s": 5},
        "server": {"listen": "127.0.0.1:0"},
        "logging": {"level": "info", "format": "json"},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    lines: list[str] = []
    for name, values in config.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    if sink_path is not None:
        lines += ["[[sinks]]", 'name = "file"', 'type = "file"', f"path = {_toml_value(sink_path)}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- processes ----------------------------------------------------------------------------------


class Process:
    """A subprocess in its own process group, stdout and stderr in files."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], workdir: Path) -> None:
        self.name = name
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                argv, env=dict(env), cwd=workdir, stdout=out, stderr=err, start_new_session=True
            )
        self.pid = self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (a line being written is left for later)."""
        found = []
        for line in self.stderr().split("\n")[:-1]:
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    def events(self, name: str, **fields: Any) -> list[dict[str, Any]]:
        """Log lines of event ``name`` whose fields match ``fields``."""
        return [
            line
            for line in self.logs()
            if line.get("event") == name and all(line.get(k) == v for k, v in fields.items())
        ]

    def describe(self) -> str:
        """Exit state and the end of the output, for assertion messages."""
        state = "running" if self.running else f"exited {self.popen.returncode}"
        return f"{self.name} ({state}); stderr ends:\n{self.stderr()[-4000:]}"

    def signal(self, signum: int) -> None:
        if self.running:
            self.popen.send_signal(signum)

    def kill_group(self) -> None:
        """SIGKILL the whole process group (also what the test's cleanup does)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def wait_exit(self, timeout: float) -> int:
        """The exit code, or an AssertionError when it is still running after ``timeout``."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout} s") from None

    def stop(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; the exit code and the seconds it took."""
        started = time.monotonic()
        self.signal(signal.SIGTERM)
        code = self.wait_exit(timeout)
        return code, time.monotonic() - started


class Daemon(Process):
    """``syncd run -c CONFIG``: its health server's port and endpoints."""

    _port: int | None = None

    @property
    def port(self) -> int:
        """The health server's port, from its ``health_server_listening`` log line."""
        if self._port is None:

            def listening() -> int | None:
                assert self.running, self.describe()
                lines = self.events("health_server_listening")
                return int(lines[0]["port"]) if lines else None

            self._port = wait_for(listening, START_TIMEOUT_S, f"{self.name} to listen")
        return self._port

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=15)

    def readiness(self) -> tuple[int, dict[str, Any]]:
        response = self.get("/readyz")
        return response.status_code, response.json()

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        def ready() -> bool:
            assert self.running, self.describe()
            return self.readiness()[0] == 200

        wait_for(ready, timeout, f"{self.name} /readyz 200", interval=0.1)

    def errors(self) -> list[dict[str, Any]]:
        """Log lines at error level or above."""
        return [line for line in self.logs() if line.get("level") in ("error", "critical")]


class Processes:
    """Starts subprocesses for one test and kills every one still running at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Process] = []

    def daemon(
        self,
        config: Path,
        db_url: str,
        name: str = "daemon",
        env: Mapping[str, str] | None = None,
    ) -> Daemon:
        """``syncd run -c config`` (no SYNCD_* from outside; the database named by ``db_url``)."""
        environment = {**subprocess_env(db_url), **(env or {})}
        for variable in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            if env is None or variable not in env:
                environment.pop(variable, None)
        process = Daemon(name, [*SYNCD, "run", "-c", str(config)], environment, self.workdir)
        self.started.append(process)
        return process

    def sim_serve(self, *args: str) -> tuple[Process, str]:
        """``syncd sim serve --port 0 ARGS``; the process and its base URL."""
        env = subprocess_env("sqlite:///unused.db")
        process = Process("sim", [*SYNCD, "sim", "serve", "--port", "0", *args], env, self.workdir)
        self.started.append(process)

        def banner() -> str | None:
            assert process.running, process.describe()
            found = re.search(r"serving (http://\S+)", process.stdout())
            return found.group(1) if found else None

        return process, wait_for(banner, START_TIMEOUT_S, "syncd sim serve to listen")

    def close(self) -> None:
        for process in self.started:
            if process.running:
                process.kill_group()

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# --- the file sink ------------------------------------------------------------------------------


class SinkWatcher:
    """Reads a file sink as it grows and notes when each line appeared (``time.time()``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.lines: list[dict[str, Any]] = []
        self.seen_at: list[float] = []

    def poll(self) -> list[dict[str, Any]]:
        """Read what was appended since the last poll; returns the new complete lines."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        now = time.time()
        self._offset += len(chunk)
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        new = [json.loads(line) for line in complete]
        self.lines.extend(new)
        self.seen_at.extend([now] * len(new))
        return new


class Watching:
    """``SinkWatcher.poll`` every ``interval`` seconds in a thread, while in the ``with``."""

    def __init__(self, watcher: SinkWatcher, interval: float = 0.01) -> None:
        self.watcher = watcher
        self.interval = interval
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sink-watcher", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self.lock:
                self.watcher.poll()

    def __enter__(self) -> Watching:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        with self.lock:
            self.watcher.poll()


def read_sink(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a file sink."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


# --- systemd notify -----------------------------------------------------------------------------


class NotifyListener:
    """A datagram socket standing in for systemd's ``$NOTIFY_SOCKET``; read in a thread.

    Read continuously: a notify socket's queue is short, and a sender blocks when it is full.
    """

    def __init__(self, directory: Path) -> None:
        path = directory / "notify.sock"
        if len(os.fsencode(path)) < 100:
            self.address, bind_to = str(path), str(path)
        else:  # sockaddr_un holds ~107 bytes; a long tmp dir gets the abstract namespace
            name = f"syncd-test-{os.getpid()}-{time.monotonic_ns()}"
            self.address, bind_to = f"@{name}", f"\0{name}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(
                line.partition("=")[::2] for line in data.decode().split("\n") if "=" in line
            )
            with self._lock:
                self.messages.append((time.monotonic(), fields))

    def received(self, key: str, value: str | None = None) -> list[tuple[float, dict[str, str]]]:
        """Messages carrying ``key`` (with ``value``, when given)."""
        with self._lock:
            return [
                (at, fields)
                for at, fields in self.messages
                if key in fields and (value is None or fields[key] == value)
            ]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sock.close()


@contextlib.contextmanager
def notify_listener(directory: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(directory)
    try:
        yield listener
    finally:
        listener.close()
