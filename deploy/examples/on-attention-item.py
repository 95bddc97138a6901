#!/usr/bin/env python3
"""React to new oHallo attention items: a command sink for syncd (standard library only).

syncd runs this once per event with the event JSON on stdin. Configure it like this:

    [[sinks]]
    name = "attention"
    type = "command"
    argv = ["/usr/local/bin/on-attention-item.py"]
    events = ["attention_item.created"]
    backfill = "skip"          # don't announce the items that existed before syncd started
    timeout_s = 30

What it does: prints one line per new attention item to stdout (syncd logs it), and when
``ATTENTION_CHAT_WEBHOOK`` is set, posts ``{"text": ...}`` there (Slack, Mattermost and Teams
incoming webhooks accept that shape). Delivery is at least once, so the script remembers the
event ids it has handled in ``ATTENTION_STATE_FILE`` (default ``~/.cache/syncd-attention-seen``)
and skips a re-sent one. Exit 0 means "handled"; any other exit makes syncd retry later.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

SEEN_KEEP = 10_000  # how many handled event ids to remember


def main() -> int:
    event = json.load(sys.stdin)
    if event.get("type") != "attention_item.created":
        return 0  # not for us (check the sink's `events` patterns)
    seen_file = Path(
        os.environ.get("ATTENTION_STATE_FILE", "~/.cache/syncd-attention-seen")
    ).expanduser()
    seen = seen_file.read_text().split() if seen_file.exists() else []
    if event["id"] in seen:
        return 0  # a re-send of an event handled before

    item = event["data"]
    detail = item.get("reason") or json.dumps(item.get("context"), ensure_ascii=False)
    text = (
        f"New attention item ({item.get('type', 'unknown')}) in conversation "
        f"{item.get('conversationId', '?')}: {detail}"
    )
    print(text)
    webhook = os.environ.get("ATTENTION_CHAT_WEBHOOK")
    if webhook:
        if not webhook.startswith(("https://", "http://")):
            print("ATTENTION_CHAT_WEBHOOK must be an http(s) URL", file=sys.stderr)
            return 1
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            webhook,
            data=json.dumps({"text": text}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                response.read()
        except OSError as exc:
            print(f"chat webhook failed: {exc}", file=sys.stderr)
            return 1  # syncd retries this event later

    seen_file.parent.mkdir(parents=True, exist_ok=True)
    seen_file.write_text("\n".join([*seen[-SEEN_KEEP:], event["id"]]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
