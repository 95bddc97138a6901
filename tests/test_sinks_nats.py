"""The NATS sink against a real `nats-server -js` on 127.0.0.1 (started and stopped here)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.client import JetStreamContext
from sink_support import outbox_event
from structlog.testing import capture_logs

from syncd.config import NatsSinkSettings
from syncd.errors import ConfigError
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks import RetryableDelivery, build_sink
from syncd.events.sinks.nats import NatsSink, safe_url, subject_matches

STREAM = "SYNCD_TEST"


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None
    )
    if found is None:
        pytest.fail(
            "nats-server not found: install the 'nats-server' package (scripts/test does); "
            "the NATS sink tests are not optional",
            pytrace=False,
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, server: subprocess.Popen[bytes], limit_s: float = 20.0) -> bool:
    """Poll (bounded) until the server accepts connections; False if it died or never did."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.02)
    return False


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    """A JetStream-enabled nats-server on a free loopback port, for one test."""
    binary = nats_server_binary()
    log_path = tmp_path / "nats-server.log"
    for _attempt in range(3):  # another process may take the free port first
        port = free_port()
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(tmp_path / "js")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait_for_port(port, server):
            break
        server.kill()
        server.wait()
    else:
        pytest.fail(f"nats-server did not start:\n{log_path.read_text()}", pytrace=False)
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
async def jetstream(nats_url: str) -> AsyncIterator[JetStreamContext]:
    """An independent client, to look at what reached the server."""
    client = await nats.connect(nats_url)
    yield client.jetstream()
    await client.close()


def make_event(seq: int, event_type: str) -> OutboxEvent:
    return outbox_event(seq, event_type, f"obj_{seq}", {"id": f"obj_{seq}", "note": "ünïcode"})


async def test_events_land_once_each_on_their_subjects(
    nats_url: str, jetstream: JetStreamContext
) -> None:
    batch = [
        make_event(1, "conversation.created"),
        make_event(2, "message.received"),
        make_event(3, "attention_item.resolved"),
    ]
    with capture_logs() as logs:
        async with NatsSink("bus", nats_url, stream=STREAM, subject_prefix="acme.syncd") as sink:
            await sink.deliver(batch)
            await sink.deliver(batch)  # re-sent, as after a lost ack: duplicates are dropped
            await sink.deliver(batch[1:2])
    assert any(entry["event"] == "nats_stream_created" for entry in logs)

    info = await jetstream.stream_info(STREAM)
    assert info.config.subjects == ["acme.syncd.>"]
    assert info.state.messages == len(batch)
    stored = [await jetstream.get_msg(STREAM, seq) for seq in (1, 2, 3)]
    assert [msg.subject for msg in stored] == [
        "acme.syncd.conversation.created",
        "acme.syncd.message.received",
        "acme.syncd.attention_item.resolved",
    ]
    assert [msg.data for msg in stored] == [event.payload.encode() for event in batch]
    assert [(msg.headers or {}).get("Nats-Msg-Id") for msg in stored] == [e.id for e in batch]


async def test_existing_stream_is_reused(nats_url: str, jetstream: JetStreamContext) -> None:
    await jetstream.add_stream(name=STREAM, subjects=["syncd.>"], duplicate_window=60)
    event = make_event(1, "conversation.created")
    with capture_logs() as logs:
        async with NatsSink("bus", nats_url, stream=STREAM) as sink:
            await sink.deliver([event])
    assert not any(entry["event"] == "nats_stream_created" for entry in logs)
    assert not any(entry["event"] == "nats_stream_misses_subjects" for entry in logs)
    info = await jetstream.stream_info(STREAM)
    assert info.state.messages == 1
    assert info.config.duplicate_window == 60


async def test_stream_not_covering_the_subjects_is_reported(
    nats_url: str, jetstream: JetStreamContext
) -> None:
    await jetstream.add_stream(name=STREAM, subjects=["other.>"])
    with capture_logs() as logs:
        async with NatsSink("bus", nats_url, stream=STREAM) as sink:
            with pytest.raises(RetryableDelivery, match=r"syncd\.conversation\.created"):
                await sink.deliver([make_event(1, "conversation.created")])
    [warning] = [entry for entry in logs if entry["event"] == "nats_stream_misses_subjects"]
    assert "syncd.message.sent" in warning["missing"]


async def test_unreachable_server_is_retried_without_credentials_in_the_error() -> None:
    url = f"nats://syncd:hunter2secret@127.0.0.1:{free_port()}"
    sink = NatsSink("bus", url, reconnect_attempts=1)
    try:
        with pytest.raises(RetryableDelivery) as caught:
            await sink.start()
        with pytest.raises(RetryableDelivery):
            await sink.deliver([make_event(1, "conversation.created")])
    finally:
        await sink.close()
    assert "cannot connect" in str(caught.value)
    assert "hunter2secret" not in str(caught.value)


async def test_build_sink_makes_a_batching_nats_sink(nats_url: str) -> None:
    settings = NatsSinkSettings(name="bus", type="nats", url=nats_url, stream=STREAM)
    sink = build_sink(settings)
    assert isinstance(sink, NatsSink)
    assert sink.max_batch > 1
    await sink.close()


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("syncd.>", "syncd.message.sent", True),
        (">", "syncd.message.sent", True),
        ("syncd.*.sent", "syncd.message.sent", True),
        ("syncd.*", "syncd.message.sent", False),
        ("syncd.message.sent", "syncd.message.sent", True),
        ("syncd.>", "syncd", False),
        ("other.>", "syncd.message.sent", False),
    ],
)
def test_subject_patterns(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches


def test_safe_url_drops_credentials() -> None:
    assert safe_url("nats://u:p@h:4222,nats://h2:4222") == "nats://h:4222,nats://h2:4222"


def test_missing_nats_py_is_a_config_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "nats", None)  # as if nats-py were not installed
    with pytest.raises(ConfigError, match=r"pip install 'syncd\[nats\]'"):
        build_sink(NatsSinkSettings(name="bus", type="nats"))
