"""Sorted indexes over conversations, so a list page costs O(page + skipped rows), not a sort.

Every conversation is filed under a set of keys (``("status", "open")``, ``("workspaceId", ...)``,
and ``ALL``). Each key holds the member ids twice: sorted by id (keyset by id) and sorted by
``(lastMessageAt, id)`` (read backwards for newest first). Changes are incremental ``bisect``
insertions and deletions.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Hashable, Iterable, Iterator

IndexKey = tuple[str, Hashable]
RecencyKey = tuple[int, str]

ALL: IndexKey = ("*", None)


class OrderedIds:
    """The members of one index key, in both list orders."""

    __slots__ = ("by_id", "by_recency")

    def __init__(self) -> None:
        self.by_id: list[str] = []
        self.by_recency: list[RecencyKey] = []

    def __len__(self) -> int:
        return len(self.by_id)

    def add(self, cid: str, ms: int) -> None:
        """File one member."""
        insort(self.by_id, cid)
        insort(self.by_recency, (ms, cid))

    def remove(self, cid: str, ms: int) -> None:
        """Unfile one member (it must be there)."""
        del self.by_id[bisect_left(self.by_id, cid)]
        del self.by_recency[bisect_left(self.by_recency, (ms, cid))]

    def after_id(self, last_id: str | None) -> Iterator[str]:
        """Members with an id greater than ``last_id``, ascending."""
        start = 0 if last_id is None else bisect_right(self.by_id, last_id)
        ids = self.by_id
        for position in range(start, len(ids)):
            yield ids[position]

    def before_recency(self, last: RecencyKey | None) -> Iterator[str]:
        """Members strictly older than ``last`` in (lastMessageAt, id) order, newest first."""
        keys = self.by_recency
        start = len(keys) if last is None else bisect_left(keys, last)
        for position in range(start - 1, -1, -1):
            yield keys[position][1]


class ConversationIndex:
    """Index keys → ``OrderedIds``, maintained per conversation by ``put``/``discard``."""

    def __init__(self) -> None:
        self._groups: dict[IndexKey, OrderedIds] = {ALL: OrderedIds()}
        self._entries: dict[str, tuple[frozenset[IndexKey], int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, cid: object) -> bool:
        return cid in self._entries

    def put(self, cid: str, keys: Iterable[IndexKey], ms: int) -> None:
        """File (or re-file) a conversation under ``keys`` with recency ``ms``."""
        new_keys = frozenset(keys) | {ALL}
        old = self._entries.get(cid)
        if old == (new_keys, ms):
            return
        if old is not None:
            self._unfile(cid, *old)
        for key in new_keys:
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = OrderedIds()
            group.add(cid, ms)
        self._entries[cid] = (new_keys, ms)

    def load(self, entries: Iterable[tuple[str, Iterable[IndexKey], int]]) -> None:
        """Bulk ``put`` into an empty index: append everything, sort once."""
        if self._entries:
            raise RuntimeError("load() needs an empty index")
        for cid, keys, ms in entries:
            new_keys = frozenset(keys) | {ALL}
            for key in new_keys:
                group = self._groups.get(key)
                if group is None:
                    group = self._groups[key] = OrderedIds()
                group.by_id.append(cid)
                group.by_recency.append((ms, cid))
            self._entries[cid] = (new_keys, ms)
        for group in self._groups.values():
            group.by_id.sort()
            group.by_recency.sort()

    def discard(self, cid: str) -> None:
        """Forget a conversation (no-op when unknown)."""
        old = self._entries.pop(cid, None)
        if old is not None:
            self._unfile(cid, *old)

    def _unfile(self, cid: str, keys: frozenset[IndexKey], ms: int) -> None:
        for key in keys:
            group = self._groups[key]
            group.remove(cid, ms)
            if not group and key != ALL:
                del self._groups[key]

    def smallest(self, keys: Iterable[IndexKey]) -> OrderedIds:
        """The smallest group among ``keys`` (``ALL`` when there are none; empty if unknown)."""
        best = self._groups[ALL]
        for key in keys:
            group = self._groups.get(key)
            if group is None:
                return OrderedIds()
            if len(group) < len(best):
                best = group
        return best
