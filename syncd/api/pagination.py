"""Walking the conversation list's opaque cursors, refusing a cursor handed out twice."""

from __future__ import annotations

from syncd.errors import PaginationError


class CursorWalk:
    """The cursors of one walk over a list: ``advance`` returns the next one, or None at the end.

    ``nextCursor`` absent, null or empty ends the walk. A cursor seen before in the same walk
    (including the one the walk started from) raises ``PaginationError`` instead of looping.
    """

    def __init__(self, start_cursor: str | None = None, *, path: str | None = None) -> None:
        self._seen: set[str] = set()
        self._current = start_cursor or None
        self._done = False
        self._pages = 0
        self._path = path
        if self._current is not None:
            self._seen.add(self._current)

    @property
    def current(self) -> str | None:
        """The cursor to fetch the next page with (None: the first page)."""
        return self._current

    @property
    def done(self) -> bool:
        """Whether the last page has been seen."""
        return self._done

    @property
    def pages(self) -> int:
        """How many pages ``advance`` has accepted."""
        return self._pages

    def advance(self, next_cursor: str | None) -> str | None:
        """Accept the page fetched with ``current``; return the cursor of the next page, or None."""
        if self._done:
            raise RuntimeError("the walk is already complete")
        if next_cursor is not None and next_cursor in self._seen:
            raise PaginationError(
                f"pagination loop: the server repeated a cursor after {self._pages + 1} page(s)",
                path=self._path,
            )
        self._pages += 1
        if not next_cursor:
            self._done = True
            self._current = None
            return None
        self._seen.add(next_cursor)
        self._current = next_cursor
        return next_cursor
