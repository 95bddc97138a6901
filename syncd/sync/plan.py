"""What to fetch next: pure decisions over what the list said and what the mirror holds."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from syncd.sync.values import RowMeta

# The documented non-terminal statuses; statuses seen in the mirror or in status counts join them.
DEFAULT_ACTIVE_STATUSES = ("open", "in_progress", "awaiting_contact")


def needs_detail(meta: RowMeta | None, fingerprint: str) -> bool:
    """Whether a listed row must be fetched in full: new, changed, deleted before, or failed."""
    if meta is None or meta.deleted or meta.detail_error is not None:
        return True
    return meta.fingerprint != fingerprint


def needs_attachments_only(meta: RowMeta | None, fingerprint: str, now: datetime) -> bool:
    """An unchanged row whose unsettled attachments are due for another look (backoff)."""
    return meta is not None and not needs_detail(meta, fingerprint) and meta.attachments_due(now)


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


def lasting_drift(first: Mapping[str, int], second: Mapping[str, int]) -> dict[str, int]:
    """The drift of ``second`` on the statuses that drifted the same way in ``first``.

    A conversation in flight between the status counts and the mirror (created just before
    the counts were read, say) makes one read drift; a drift that is still there, the same way,
    after a hot pass that started later is real.
    """
    return {
        status: delta
        for status, delta in second.items()
        if delta and (first.get(status, 0) > 0) == (delta > 0) and first.get(status, 0) != 0
    }


def should_heal(drift: Mapping[str, int], already_tried: Mapping[str, int] | None) -> bool:
    """Heal a drift once: not again while the same drift persists after the attempt.

    A drift healing cannot mend (a row that stays malformed is not mirrored, yet counted
    by the API) would otherwise cost a walk on every status-counts pass.
    """
    return bool(drift) and dict(drift) != dict(already_tried or {})


def is_due(last_success: datetime | None, interval_s: float, now: datetime) -> bool:
    """Whether a pass that last succeeded at ``last_success`` is due again."""
    return last_success is None or now - last_success >= timedelta(seconds=interval_s)


def continues_newest_first(previous: datetime | None, stamps: Sequence[datetime | None]) -> bool:
    """Whether a page's ``lastMessageAt`` values continue a newest-first order.

    ``previous`` is the last value of the page before (None on the first page); rows without
    a usable time are not evidence either way.
    """
    last = previous
    for stamp in stamps:
        if stamp is None:
            continue
        if last is not None and stamp > last:
            return False
        last = stamp
    return True


def head_read_done(
    page: Sequence[datetime | None], watermark: datetime | None, lookback_s: float
) -> bool:
    """Whether a head read may stop after this page: it reached below the previous head minus
    ``lookback_s``, so (the order being verified) every later page lies entirely before it.
    The first head read, with no watermark, reads one page."""
    if watermark is None:
        return True
    stamps = [stamp for stamp in page if stamp is not None]
    if not stamps:
        return False
    return min(stamps) < watermark - timedelta(seconds=lookback_s)


def refresh_share(
    eligible: int, elapsed_s: float, interval_s: float, credit: float
) -> tuple[int, float]:
    """How many conversations this refresh pass re-reads, and the credit carried over.

    Every eligible conversation once per ``interval_s``, spread evenly: ``eligible * elapsed
    / interval`` per pass, the fraction carried to the next pass so the long-run rate is exact.
    """
    if interval_s <= 0 or eligible <= 0:
        return 0, 0.0
    credit += eligible * min(max(elapsed_s, 0.0), interval_s) / interval_s
    take = math.floor(credit + 1e-9)  # 2.9 x 10 is 29, not 28.999...
    credit = max(0.0, credit - take)
    if take > eligible:
        take, credit = eligible, 0.0
    return take, credit
