"""What the client's read methods return around the models: pages, lists and status counts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, PrivateAttr, RootModel

from syncd.api.models import Attachment, AttentionItem, ConversationRow, MalformedRow, Message


class StatusCounts(RootModel[dict[str, int]]):
    """``status -> count`` for one workspace; unknown statuses are kept like the known ones."""

    model_config = ConfigDict(frozen=True)

    _raw: dict[str, Any] = PrivateAttr(default={})
    _malformed: tuple[MalformedRow, ...] = PrivateAttr(default=())

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object exactly as received."""
        return self._raw

    @property
    def malformed(self) -> tuple[MalformedRow, ...]:
        """Entries whose count was not an integer (left out of the counts)."""
        return self._malformed

    def __getitem__(self, status: str) -> int:
        """The count for ``status`` (KeyError when the server did not report it)."""
        return self.root[status]

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        """The statuses."""
        return iter(self.root)

    def __len__(self) -> int:
        """How many statuses are reported."""
        return len(self.root)

    def get(self, status: str, default: int | None = None) -> int | None:
        """The count for ``status``, or ``default``."""
        return self.root.get(status, default)

    def as_dict(self) -> dict[str, int]:
        """A plain copy of the counts."""
        return dict(self.root)


_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ItemList(Generic[_T]):
    """A bare-array response: the rows that parsed, and the ones that did not."""

    items: tuple[_T, ...]
    malformed: tuple[MalformedRow, ...] = ()
    raw: list[Any] = field(default_factory=list)

    def __iter__(self) -> Iterator[_T]:
        """The parsed rows."""
        return iter(self.items)

    def __len__(self) -> int:
        """How many rows parsed."""
        return len(self.items)


MessageList = ItemList[Message]
AttachmentList = ItemList[Attachment]
AttentionItemList = ItemList[AttentionItem]


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """One page of the conversation list, with the cursor it was fetched with (None: first)."""

    rows: tuple[ConversationRow, ...]
    malformed: tuple[MalformedRow, ...]
    next_cursor: str | None
    cursor: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[ConversationRow]:
        """The rows that parsed."""
        return iter(self.rows)

    def __len__(self) -> int:
        """How many rows parsed."""
        return len(self.rows)

    @property
    def seen_ids(self) -> frozenset[str]:
        """Every id on the page, malformed rows with an id included (for mark-and-sweep)."""
        ids = {row.id for row in self.rows}
        ids.update(bad.id for bad in self.malformed if bad.id is not None)
        return frozenset(ids)
