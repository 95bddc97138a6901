"""The stdout sink: exact JSON lines, and the readable one-line-per-event mode of `syncd demo`."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from sink_support import outbox_event

from syncd.config import StdoutSinkSettings
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks import build_sink
from syncd.events.sinks.stdout import StdoutSink


def make_event(
    event_type: str,
    subject_id: str,
    data: dict[str, Any],
    changes: dict[str, list[Any]] | None = None,
    *,
    backfill: bool = False,
) -> OutboxEvent:
    return outbox_event(
        1,
        event_type,
        subject_id,
        data,
        changes=changes,
        backfill=backfill,
        observed_at=datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC),
    )


EVENTS = [
    make_event("conversation.created", "conv_1", {"status": "open", "contactName": "Zoë"}),
    make_event(
        "conversation.resolved",
        "conv_1",
        {"status": "resolved"},
        {"status": ["open", "resolved"]},
    ),
    make_event("message.received", "msg_1", {"direction": "inbound", "body": "Hi [bold]x\nok"}),
    make_event(
        "attention_item.created",
        "att_1",
        {"type": "escalation", "status": "open"},
        backfill=True,
    ),
    make_event("status_counts.changed", "ws_1", {"open": 4}, {"open": [3, 4]}),
]


async def test_json_lines_are_the_exact_payloads(capsys: pytest.CaptureFixture[str]) -> None:
    await StdoutSink("out").deliver(EVENTS)
    assert capsys.readouterr().out == "".join(event.payload + "\n" for event in EVENTS)


async def test_empty_batch_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    await StdoutSink("out").deliver([])
    assert capsys.readouterr().out == ""


async def test_pretty_mode_prints_one_short_line_per_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await StdoutSink("out", format="pretty").deliver(EVENTS)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(EVENTS)
    created, resolved, message, attention, counts = lines
    assert created.startswith("12:34:56  conversation.created")
    assert "conv_1" in created
    assert "Zoë" in created
    assert "status open → resolved" in resolved
    assert "'Hi [bold]x ok'" in message
    assert "escalation" in attention
    assert "(backfill)" in attention
    assert "open 3 → 4" in counts
    assert all(len(line) < 160 for line in lines)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_pretty_mode_on_a_terminal_colours_but_never_interprets_markup() -> None:
    terminal = FakeTerminal()
    await StdoutSink("out", format="pretty", stream=terminal).deliver(EVENTS[2:3])
    text = terminal.getvalue()
    assert "\x1b[" in text  # styled
    assert "[bold]x" in text  # the message body is printed as is


async def test_build_sink_makes_a_json_stdout_sink(capsys: pytest.CaptureFixture[str]) -> None:
    sink = build_sink(StdoutSinkSettings(name="out", type="stdout"))
    assert isinstance(sink, StdoutSink)
    assert sink.max_batch > 1
    async with sink:
        await sink.deliver(EVENTS[:1])
    assert capsys.readouterr().out == EVENTS[0].payload + "\n"
