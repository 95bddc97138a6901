"""Which events a sink wants, and how it is delivered to: its ``[[sinks]]`` options as a value."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from syncd.config import SinkSettings
from syncd.events.envelope import EVENT_TYPES


def matches_any_event_type(pattern: str) -> bool:
    """Whether an event pattern (fnmatch, ``*`` crosses dots) selects at least one event type."""
    compiled = _compile((pattern,))
    return any(compiled.fullmatch(event_type) for event_type in EVENT_TYPES)


@lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    # fnmatch's "*" matches any characters, dots included: "attention_item.*", "*.created".
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns))


@dataclass(frozen=True, slots=True)
class SinkRule:
    """A sink's name, event patterns, backfill choice, ordering, attempt limit and start.

    ``start`` applies once, when the database first sees the sink: ``earliest`` (the default of
    a rule built in code) from the first stored event, ``latest`` (the default of a configured
    sink, docs/events.md) from the current end of the outbox.
    """

    name: str
    events: tuple[str, ...] = ("*",)
    backfill: Literal["deliver", "skip"] = "deliver"
    ordered: bool = True
    max_attempts: int = 8
    start: Literal["latest", "earliest"] = "earliest"
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError("a sink needs at least one event pattern")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        object.__setattr__(self, "_pattern", _compile(tuple(self.events)))

    @classmethod
    def from_settings(cls, settings: SinkSettings) -> SinkRule:
        """The rule of one ``[[sinks]]`` entry."""
        return cls(
            name=settings.name,
            events=tuple(settings.events),
            backfill=settings.backfill,
            ordered=settings.ordered,
            max_attempts=settings.max_attempts,
            start=settings.start,
        )

    def wants(self, event_type: str, backfill: bool) -> bool:
        """Whether an event of this type (and backfill flag) is delivered to the sink."""
        if backfill and self.backfill == "skip":
            return False
        return self._pattern.fullmatch(event_type) is not None
