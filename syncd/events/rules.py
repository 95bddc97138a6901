"""Which events a sink wants, and how it is delivered to: its ``[[sinks]]`` options as a value."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from syncd.config import SinkSettings


@lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    # fnmatch's "*" matches any characters, dots included: "attention_item.*", "*.created".
    return re.compile("|".join(f"(?:{fnmatch.translate(pattern)})" for pattern in patterns))


@dataclass(frozen=True, slots=True)
class SinkRule:
    """A sink's name, event patterns, backfill choice, ordering and attempt limit."""

    name: str
    events: tuple[str, ...] = ("*",)
    backfill: Literal["deliver", "skip"] = "deliver"
    ordered: bool = True
    max_attempts: int = 8
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
        )

    def wants(self, event_type: str, backfill: bool) -> bool:
        """Whether an event of this type (and backfill flag) is delivered to the sink."""
        if backfill and self.backfill == "skip":
            return False
        return self._pattern.fullmatch(event_type) is not None
