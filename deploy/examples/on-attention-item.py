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

What it does: prints one line per new attention item to stdout (syncd logs it at debug), and
when ``ATTENTION_CHAT_WEBHOOK`` is set, posts ``{"text": ...}`` there (Slack, Mattermost and
Teams incoming webhooks accept that shape). With ``ATTENTION_RESOLVE=1`` it then resolves the
item in oHallo with ``syncd api resolve-attention-item`` (the hook needs no key of its own:
syncd passes its config file as ``SYNCD_CONFIG``, and ``syncd api`` reads the key from there;
``ATTENTION_SYNCD`` names the ``syncd`` program when it is not on PATH, e.g.
``/opt/syncd/bin/syncd``). Delivery is at least once, so the script remembers the event ids it
has handled in ``ATTENTION_STATE_FILE`` (default ``~/.cache/syncd-attention-seen``) and skips a
re-sent one. Exit 0 means "handled"; any other exit makes syncd retry later.

In the container image this script is /usr/local/share/syncd/examples/on-attention-item.py.
"""

from __future__ import annotations

import json
import os
import subprocess
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

    if os.environ.get("ATTENTION_RESOLVE") == "1" and item.get("id"):
        syncd = os.environ.get("ATTENTION_SYNCD", "syncd")
        done = subprocess.run(  # argv, never a shell
            [syncd, "api", "resolve-attention-item", item["id"], "--reason", "reported to chat"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            # `syncd api` says what went wrong in one line; exit 1 makes syncd retry the event.
            print(done.stderr.strip() or f"syncd api exited {done.returncode}", file=sys.stderr)
            return 1

    seen_file.parent.mkdir(parents=True, exist_ok=True)
    seen_file.write_text("\n".join([*seen[-SEEN_KEEP:], event["id"]]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
