"""When a stream counts as stale: its configured interval, and the rule of three intervals.

(Not ``syncd.sync.freshness``, which measures the mirror's freshness per workspace.) One place
for ``syncd status --check``, ``/metrics`` (``syncd_stream_interval_seconds``, which
the alert rules compare ``syncd_seconds_since_last_success`` against) and readiness. A stream
with no entry here (a new one) has no staleness rule until it gets one.
"""

from __future__ import annotations

from syncd.config import Settings
from syncd.sync.streams import STREAMS

STALE_AFTER_INTERVALS = 3
"""A stream with no success for this many of its intervals is stale (``syncd status``)."""

PER_WORKSPACE = frozenset(stream.name for stream in STREAMS if stream.per_workspace)
"""Streams recorded per workspace even when the scope is the whole key (``*``)."""


def stream_intervals(settings: Settings) -> dict[str, float]:
    """The configured interval of every scheduled stream (``syncd.sync.streams``; one switched
    off is left out), in seconds: the streams whose freshness series exist from start-up and
    whose staleness is alerted on."""
    found = {stream.name: stream.interval_s(settings.sync) for stream in STREAMS}
    return {name: interval for name, interval in found.items() if interval > 0}


def stale_after(settings: Settings, stream: str) -> float | None:
    """Seconds without a success after which ``stream`` is stale (None: no rule for it)."""
    interval = stream_intervals(settings).get(stream)
    return None if interval is None else STALE_AFTER_INTERVALS * interval
