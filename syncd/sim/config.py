"""The simulator's settings: data size, list order, activity and fault rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

ListOrder = Literal["id", "newest"]

#: Generated history ends here unless ``SimConfig.epoch`` says otherwise; fixed so that a seed
#: alone decides every byte of the generated data.
DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

#: The nested detail fields that may be missing when the server's upstream fetch "failed".
DETAIL_PARTS = ("contact", "account", "history", "contextEntries", "attentionItems")


@dataclass(slots=True)
class SimConfig:
    """What to generate and how the server misbehaves; every rate is a probability in [0, 1]."""

    seed: int = 1
    workspaces: int = 2
    conversations: int = 200
    messages_per_conversation: int = 6
    order: ListOrder = "id"
    activity_per_s: float = 0.0
    #: The activity kinds the server's activity loop draws from (None: all, weighted).
    activity_kinds: tuple[str, ...] | None = None
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_s: float = 1.0
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    #: Chance that one nested detail part is missing, per part and conversation version.
    detail_missing_rate: float = 0.01
    #: Chance that a pending/processing attachment never settles under random activity.
    stuck_attachment_rate: float = 0.05
    #: When true, a reply to a conversation that was not taken over is refused with 409.
    strict_reply: bool = False
    #: End of the generated history (the generated timestamps lie in the 90 days before it).
    epoch: datetime = field(default=DEFAULT_EPOCH)
    #: How long ``SimServer.stop()`` waits for requests still in flight.
    shutdown_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.order not in ("id", "newest"):
            raise ValueError(f"order must be 'id' or 'newest', not {self.order!r}")
        if self.workspaces < 1:
            raise ValueError("workspaces must be at least 1")
        if self.conversations < 0 or self.messages_per_conversation < 1:
            raise ValueError("conversations must be >= 0 and messages_per_conversation >= 1")
        for name in (
            "fail_rate",
            "rate_limit_rate",
            "drop_rate",
            "malformed_rate",
            "detail_missing_rate",
            "stuck_attachment_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value!r}")
        if self.activity_kinds is not None:
            from syncd.sim.activity import check_kinds  # the table lives there

            self.activity_kinds = tuple(check_kinds(self.activity_kinds))
        if self.epoch.tzinfo is None:
            raise ValueError("epoch must be an aware datetime")
