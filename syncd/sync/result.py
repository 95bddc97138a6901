"""What a pass reports back."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class PassResult:
    """The outcome of one pass over one scope (a workspace, or ``*`` for the whole key)."""

    stream: str
    scope: str
    ok: bool = True
    error: str | None = None
    rows_seen: int = 0
    details_fetched: int = 0
    skipped: int = 0
    events: int = 0
    drift: dict[str, int] = field(default_factory=dict)
    auth_failed: bool = False
    heal: bool = False
    """A heal pass could not mend a drift by walking: the scope wants a reconcile."""
    heal_kind: str | None = None
    """A heal pass's verdict on the drift it checked: ``transient`` or ``real``."""
    purged: dict[str, int] = field(default_factory=dict)
    """Rows a purge pass removed, per table."""

    def fail(self, error: str) -> PassResult:
        self.ok = False
        self.error = error
        return self
