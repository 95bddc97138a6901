"""What a dispatcher round did per sink (printed by ``syncd sync``, exported as metrics)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SinkReport:
    """What happened to one sink in one or more rounds."""

    sink: str
    delivered: int = 0
    passed_over: int = 0
    failed_attempts: int = 0
    dead: int = 0
    last_error: str | None = None
    disabled: bool = False

    @property
    def progressed(self) -> bool:
        """Whether anything moved (or was tried)."""
        return bool(self.delivered or self.passed_over or self.failed_attempts or self.dead)

    def merge(self, other: SinkReport) -> None:
        """Add a later round's figures."""
        self.delivered += other.delivered
        self.passed_over += other.passed_over
        self.failed_attempts += other.failed_attempts
        self.dead += other.dead
        self.last_error = other.last_error or (None if other.delivered else self.last_error)
        self.disabled = other.disabled
