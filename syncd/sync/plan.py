"""What to fetch next: pure decisions over what the list said and what the mirror holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from syncd.sync.writer import RowMeta

# The documented non-terminal statuses; statuses seen in the mirror or in status counts join them.
DEFAULT_ACTIVE_STATUSES = ("open", "in_progress", "awaiting_contact")


def needs_detail(meta: RowMeta | None, fingerprint: str) -> bool:
    """Whether a listed row must be fetched in full: new, changed, deleted before, or failed."""
    if meta is None or meta.deleted or meta.detail_error is not None:
        return True
    return meta.fingerprint != fingerprint


def needs_attachments_only(meta: RowMeta | None, fingerprint: str) -> bool:
    """An unchanged row whose attachments were not all settled last time."""
    return meta is not None and not needs_detail(meta, fingerprint) and meta.attachments_pending


def hot_statuses(known: Iterable[str | None], terminal: Iterable[str]) -> list[str]:
    """Statuses the hot pass lists: documented non-terminal ones plus any seen, minus terminal."""
    terminal_set = set(terminal)
    statuses = {*DEFAULT_ACTIVE_STATUSES, *(status for status in known if status)}
    return sorted(statuses - terminal_set)


def count_drift(api: Mapping[str, int], mirror: Mapping[str, int]) -> dict[str, int]:
    """Per status, API count minus mirror count, for the statuses where they differ."""
    return {
        status: api.get(status, 0) - mirror.get(status, 0)
        for status in sorted(api.keys() | mirror.keys())
        if api.get(status, 0) != mirror.get(status, 0)
    }


def should_heal(drift: Mapping[str, int], already_tried: Mapping[str, int] | None) -> bool:
    """Reconcile for a drift once: not again while the same drift persists after the attempt.

    A drift a reconcile cannot heal (a row that stays malformed is not mirrored, yet counted
    by the API) would otherwise cost a full reconcile on every status-counts pass.
    """
    return bool(drift) and dict(drift) != dict(already_tried or {})


def is_due(last_success: datetime | None, interval_s: float, now: datetime) -> bool:
    """Whether a pass that last succeeded at ``last_success`` is due again."""
    return last_success is None or now - last_success >= timedelta(seconds=interval_s)
