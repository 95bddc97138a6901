"""``Stamp``: an API timestamp exactly as the API sent it, carrying the instant read from it.

The sync works on the API's JSON objects as received (docs/internals.md, syncd/api), so a
timestamp stays text there: the mirror's ``raw``, fingerprints and events keep the bytes the API
sent. Validation reads each timestamp once (``syncd.api.models``) and leaves a ``Stamp`` in the
object in place of the text: a ``str`` equal to it, serialised as it, that also carries the
aware UTC ``instant`` — so the mirror's rows and the events' ``backfill`` flag use the instant
without reading the text again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class Stamp(str):
    """A timestamp's text as sent; ``instant`` is the aware UTC moment it names (made by
    ``stamp``)."""

    instant: datetime

    def __reduce__(self) -> tuple[Any, ...]:
        # The worker process of a large write (sync/offload.py) receives rows by pickle.
        return (stamp, (str(self), self.instant))


_new_str = str.__new__


def stamp(text: str, instant: datetime) -> Stamp:
    """A ``Stamp`` of ``text`` naming ``instant`` (built without a Python ``__new__``: validation
    makes one per timestamp of every row)."""
    made: Stamp = _new_str(Stamp, text)
    made.instant = instant
    return made
