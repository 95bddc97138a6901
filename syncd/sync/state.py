"""``sync_state`` names: per scope (a workspace id, or ``*`` for the whole key) and stream.

The rows themselves are read and written through ``syncd.sync.mirror.Mirror``.
"""

from __future__ import annotations

from syncd.sync.values import StreamState

__all__ = ["BACKFILL", "HEAL", "STREAMS", "WHOLE_KEY", "StreamState", "scope_key"]

WHOLE_KEY = "*"
STREAMS = ("hot", "attention", "reconcile", "status_counts", "refresh", "heal", "head")
HEAL = "heal"
BACKFILL = "backfill"
"""The ``sync_state`` row whose watermark says when the backfill of a scope began."""


def scope_key(workspace_id: str | None) -> str:
    """The ``sync_state.workspace_id`` of a scope: the workspace, or ``*`` for the whole key."""
    return workspace_id if workspace_id is not None else WHOLE_KEY
