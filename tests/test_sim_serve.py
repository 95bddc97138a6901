"""``syncd sim serve`` as a user runs it: a subprocess answering HTTP, exiting 0 on a signal."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

SERVE = [sys.executable, "-m", "syncd.cli", "sim", "serve"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(process: subprocess.Popen[str], port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.communicate()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port} after {timeout_s}s")


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_sim_serve_answers_http_and_exits_0_on_a_signal(stop_with: signal.Signals) -> None:
    port = free_port()
    args = [
        *SERVE,
        "--port",
        str(port),
        "--seed",
        "3",
        "--conversations",
        "25",
        "--workspaces",
        "2",
        "--messages",
        "3",
        "--order",
        "newest",
        "--activity-per-s",  # still: the count below is exact
        "0",
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(process, port)
        headers = {"Authorization": "Bearer sf_test_v1_curl00000000"}
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/conversations", headers=headers, params={"limit": 100}
        )
        assert response.status_code == 200
        assert len(response.json()["data"]) == 25
        assert httpx.get(f"http://127.0.0.1:{port}/api/conversations").status_code == 401
        process.send_signal(stop_with)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    assert f"http://127.0.0.1:{port}" in lines[0]
    assert re.search(r"sf_test_v1_\w+", lines[0])


def test_sim_serve_rejects_a_bad_rate_with_exit_2() -> None:
    result = subprocess.run(
        [*SERVE, "--port", "0", "--fail-rate", "3"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "fail_rate" in result.stderr
