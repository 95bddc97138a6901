"""The file sink on a real file system: appends, fsync per batch, mode 0600, torn-line repair."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sink_support import outbox_event
from structlog.testing import capture_logs

from syncd.config import FileSinkSettings
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks import RetryableDelivery, build_sink
from syncd.events.sinks.file import FileSink


def make_event(seq: int, body: str = "héllo ✓") -> OutboxEvent:
    data = {"id": f"msg_{seq}", "direction": "outbound", "body": body}
    return outbox_event(seq, "message.sent", f"msg_{seq}", data)


def lines_of(*events: OutboxEvent) -> bytes:
    return b"".join(event.payload.encode("utf-8") + b"\n" for event in events)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 0, so a 0600 file proves the sink asked for 0600 itself."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records which files os.fsync is called on (and still syncs them)."""
    calls: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


async def test_batches_are_appended_as_exact_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    first, second, third = make_event(1), make_event(2), make_event(3)
    async with FileSink("file", path) as sink:
        await sink.deliver([first, second])
        await sink.deliver([third])
    assert path.read_bytes() == lines_of(first, second, third)


async def test_each_batch_is_fsynced(tmp_path: Path, fsynced: list[str]) -> None:
    path = tmp_path / "events.jsonl"
    async with FileSink("file", path) as sink:
        await sink.deliver([make_event(1), make_event(2)])
        await sink.deliver([make_event(3)])
    assert fsynced.count(str(path)) == 2


async def test_new_file_and_directory_are_private(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "deep" / "events.jsonl"
    async with FileSink("file", path) as sink:
        await sink.deliver([make_event(1)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_start_truncates_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    complete = lines_of(make_event(1), make_event(2))
    path.write_bytes(complete + make_event(3).payload.encode()[:25])
    sink = FileSink("file", path)
    with capture_logs() as logs:
        await sink.start()
    assert path.read_bytes() == complete
    [entry] = [e for e in logs if e["event"] == "file_sink_torn_line_truncated"]
    assert entry["removed_bytes"] == 25
    resent = make_event(3)
    await sink.deliver([resent])
    assert path.read_bytes() == complete + lines_of(resent)


async def test_torn_line_longer_than_a_scan_chunk_is_cut_whole(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    complete = lines_of(make_event(1))
    path.write_bytes(complete + b"x" * 200_000)
    await FileSink("file", path).start()
    assert path.read_bytes() == complete


async def test_file_with_only_a_torn_line_becomes_empty(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"id":"evt_')
    await FileSink("file", path).start()
    assert path.read_bytes() == b""


async def test_intact_or_missing_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    await FileSink("file", path).start()
    assert not path.exists()
    path.write_bytes(lines_of(make_event(1)))
    before = path.read_bytes()
    with capture_logs() as logs:
        await FileSink("file", path).start()
    assert path.read_bytes() == before
    assert logs == []


async def test_deliver_without_start_still_repairs_first(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    first, second = make_event(1), make_event(2)
    path.write_bytes(lines_of(first) + b'{"torn')
    await FileSink("file", path).deliver([second])
    assert path.read_bytes() == lines_of(first, second)


async def test_unwritable_path_is_retried(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    sink = FileSink("file", tmp_path / "adir")
    with pytest.raises(RetryableDelivery, match="cannot"):
        await sink.deliver([make_event(1)])


async def test_build_sink_makes_a_batching_file_sink(tmp_path: Path) -> None:
    settings = FileSinkSettings(name="file", type="file", path=tmp_path / "out.jsonl")
    sink = build_sink(settings)
    assert isinstance(sink, FileSink)
    assert sink.max_batch > 1
