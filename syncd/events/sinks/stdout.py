"""Stdout sink: JSON lines on standard output, or one short readable line per event."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TextIO

from rich.console import COLOR_SYSTEMS, Console
from rich.segment import Segment
from rich.text import Text

from syncd.config import StdoutSinkSettings
from syncd.events.envelope import OutboxEvent
from syncd.events.sinks.base import RetryableDelivery, Sink

FIELD_CHARS = 60
_TYPE_STYLES = {
    "created": "green",
    "resolved": "blue",
    "deleted": "red",
    "received": "cyan",
    "sent": "magenta",
    "status_changed": "yellow",
    "changed": "yellow",
}


class StdoutSink(Sink):
    """Writes every event to standard output, flushed per batch.

    ``format="json"`` (the configured behaviour) writes each payload byte for byte plus a
    newline; ``format="pretty"`` (``syncd demo``) one short line per event, coloured on a TTY.
    """

    max_batch = 500

    def __init__(
        self,
        name: str = "stdout",
        *,
        format: Literal["json", "pretty"] = "json",
        stream: TextIO | None = None,
    ) -> None:
        self.name = name
        self.format = format
        self._stream = stream

    @classmethod
    def from_settings(cls, settings: StdoutSinkSettings) -> StdoutSink:
        """A sink configured by a ``type = "stdout"`` entry."""
        return cls(settings.name, format=settings.format)

    async def deliver(self, batch: Sequence[OutboxEvent]) -> None:
        """Write and flush the batch.

        :raises RetryableDelivery: standard output is closed or broken (e.g. a closed pipe).
        """
        if not batch:
            return
        # Looked up per call: the process (or a test) may swap sys.stdout.
        stream = self._stream or sys.stdout
        try:
            if self.format == "pretty":
                await asyncio.to_thread(_write_pretty, stream, batch)
            else:
                data = "".join(event.payload + "\n" for event in batch)
                await asyncio.to_thread(_write_exact, stream, data)
        except (OSError, ValueError) as exc:
            raise RetryableDelivery(f"stdout {self.name}: cannot write: {exc}") from None


def _write_exact(stream: TextIO, data: str) -> None:
    """Write UTF-8 bytes when the stream has a binary buffer (whatever its own encoding)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(data)
        stream.flush()
        return
    stream.flush()
    buffer.write(data.encode("utf-8"))
    buffer.flush()


def _write_pretty(stream: TextIO, batch: Sequence[OutboxEvent]) -> None:
    """One readable line per event: ANSI-styled on a terminal, plain text elsewhere."""
    if stream.isatty():
        stream.write(_styled(Console(file=stream, highlight=False, soft_wrap=True), batch))
    else:
        stream.write("".join(describe_event(event).plain + "\n" for event in batch))
    stream.flush()


def _styled(console: Console, batch: Sequence[OutboxEvent]) -> str:
    """The lines as rich renders them for ``console``'s terminal: never wrapped nor cropped
    (soft wrap), each span's style as ANSI codes (colours dropped under ``NO_COLOR``), the text
    itself never read as markup."""
    options = console.options.update(no_wrap=True, overflow="ignore")
    color_system = COLOR_SYSTEMS.get(console.color_system or "")
    parts: list[str] = []
    for event in batch:
        segments: Iterable[Segment] = console.render(describe_event(event), options)
        if console.no_color:
            segments = Segment.remove_color(segments)
        for text, style, _control in segments:
            parts.append(style.render(text, color_system=color_system) if style else text)
    return "".join(parts)


def describe_event(event: OutboxEvent) -> Text:
    """One short human line: time, type, subject and a few telling fields."""
    try:
        envelope: dict[str, Any] = json.loads(event.payload)
    except ValueError:
        envelope = {}
    data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
    changes = envelope.get("changes") if isinstance(envelope.get("changes"), dict) else {}
    timestamp = str(envelope.get("timestamp") or event.created_at.isoformat())
    style = _TYPE_STYLES.get(event.type.rpartition(".")[2], "white")
    line = Text.assemble(
        (timestamp[11:19] or "--:--:--", "dim"),
        "  ",
        (f"{event.type:<28}", f"bold {style}"),
        " ",
        (_short(event.subject_id or "-", 24), "dim"),
    )
    details = _details(event.type, data or {}, changes or {})
    if envelope.get("backfill"):
        details.append("(backfill)")
    if details:
        line.append("  " + "  ".join(details))
    return line


def _details(event_type: str, data: dict[str, Any], changes: dict[str, Any]) -> list[str]:
    kind = event_type.partition(".")[0]
    out: list[str] = []
    if kind == "status_counts":
        return [f"{status} {_pair(change)}" for status, change in sorted(changes.items())]
    if "status" in changes:
        out.append(f"status {_pair(changes['status'])}")
    elif kind != "message" and data.get("status"):
        out.append(f"status {_short(data['status'])}")
    if kind == "conversation":
        who = data.get("contactName") or data.get("contactEmail")
        if who:
            out.append(_short(who))
        moved = [name for name in changes if name != "status"]
        if moved and event_type == "conversation.updated":
            out.append("changed: " + _short(", ".join(moved)))
    elif kind == "message":
        out.append(_short(data.get("speaker") or data.get("direction") or ""))
        out.append(repr(_short(data.get("body") or "")))
    elif kind == "attachment":
        out.append(_short(data.get("fileName") or ""))
    elif kind == "attention_item":
        out.append(_short(data.get("type") or ""))
        if data.get("reason"):
            out.append(_short(data["reason"]))
    return [item for item in out if item and item != "''"]


def _pair(change: Any) -> str:
    if isinstance(change, list) and len(change) == 2:
        return f"{_short(change[0])} → {_short(change[1])}"
    return _short(change)


def _short(value: Any, limit: int = FIELD_CHARS) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
