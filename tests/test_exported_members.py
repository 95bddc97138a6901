"""The public Python API is exactly what ``syncd.__all__`` says (httpx's habit)."""

from __future__ import annotations

import syncd


def test_public_api_is_pinned() -> None:
    assert syncd.__all__ == ["ChangeEvent", "OhalloClient", "__version__"]
    for name in syncd.__all__:
        assert getattr(syncd, name) is not None


def test_public_names_live_where_their_docs_say() -> None:
    assert syncd.OhalloClient.__module__ == "syncd.api.client"
    assert syncd.ChangeEvent.__module__ == "syncd.events.envelope"
