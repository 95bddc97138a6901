"""Freshness: how long each kind of change on the server takes to reach the mirror and the outbox,
and what an idle daemon costs — against the freshness contract (README.md, "How syncd finds
changes").

Set-up, once per list order (``--order``; default both, ``id`` then ``newest``): the simulator runs
in this process (``SimServer``, no random activity, ``--conversations`` of them in 2 workspaces,
history ending ``EPOCH_AGE`` ago so that some terminal conversations are *recent*, i.e. active
within ``refresh_recent_days``), so the benchmark changes its state directly; ``syncd run`` runs
as a subprocess on a temporary SQLite database with short intervals (printed; ``--quick`` halves
them), ``max_requests_per_s = 50`` (the backfill is quicker), debug logging (for the pass
durations), and one scope per workspace (``--whole-key``: ``sync.workspaces = []``, one scope).
After the backfill (``/readyz`` 200 and the reconcile complete), attention items that later
changes need are raised and waited for (not measured).

Live changes: ``--per-kind`` changes of every kind of the contract table, ``--spacing`` seconds
apart, kinds shuffled per round, each on a conversation (contact, account, item, attachment)
that no other change touches, so the changes are independent. Detail-only kinds alternate
between live and recent terminal conversations. Targets are taken off the *head page* (the
first 100 rows of the scope's unfiltered list in the run's order) where there are any: the head
read handles that page's rows even when the order is broken, so a change there is seen within a
poll whatever its kind, and the path the contract bounds would go untested. The new id of a
conversation created and closed between polls cannot be chosen: while the list is not
newest-first it is made again (at most 4 times in all) until one lands off the head page; every
one made is measured. For each change the database is polled every ``TICK_S`` (0.1 s) for

- *mirror*: its row in the mirror showing the new value (a new row, ``status``, ``body``,
  ``deleted_at``, ``outcome``, the ``raw`` ``updatedAt`` for an assignment — no API field shows
  the assignee —, a context entry, the contact's or account's field, ...), and
- *event*: its event in the ``events`` outbox (``subject_id`` and ``type``; for contact and
  account fields a ``conversation.updated`` of one of its conversations whose ``changes`` name
  the contact or account),

and, for the same contact and account changes, two more rows: ``conversations.contact_name`` /
``account_name`` (list-only columns: the API shows them in list rows, not in the detail) of
*every* recent conversation of that contact or account showing the new name, and a
``conversation.updated`` naming ``contactName`` / ``accountName`` for each of them;

and the time from the change on the server to each is printed, median and max over the changes
of the kind (the event is written in the same transaction as the row, so the two agree to the
0.1 s of a poll), against the *bound* of the contract row the kind belongs to, computed from the
configured intervals, as ``interval + allowance``: the allowance is the passes' own duration on
top of their interval, ``--allowance`` (default 1 s) per pass in the chain that must see the
change (1 for one pass; 3 for status counts → hot → heal, plus the status-counts job's jitter of
10 % of its interval). The passes' real durations are printed below the table (from the
daemon's ``pass_started``/``pass_finished`` debug log lines), with the runs APScheduler skipped
because the previous run of the job was still going. A kind whose max exceeds its bound, or one
never seen within bound + ``GRACE_S``, fails the run. *listed* (kinds bounded by more than a
poll whose change moves a list row): how many of the changes were, when made, in a list every
hot pass reads anyway — a live conversation's row (a status list; an account's rows, say) or one
on the head page; the others were found by the path of their contract row (refresh, head read
while newest-first, drift heal). Conversation deletions and any change to an
old (not recent) terminal conversation are bounded by ``reconcile_interval_s`` (an hour here) and
listed as not measured.

Idle cost: after the changes have settled (``2 * poll_interval_s``), nothing changes for
``--idle`` seconds (a multiple of every interval, so each pass runs a whole number of times),
and the simulator's request log in that window is compared, per scope and in total, with the
§6 idle formula: per poll interval Σ over non-terminal statuses max(1, ⌈n/100⌉) list pages + 1
head page; 2 attention lists per attention interval; 1 status-counts request per workspace per
its interval; the refresh share, recent conversations * 2 (detail + attachments) per
``refresh_interval_s``; and what the exponential backoff of unsettled attachments allows: from
each such conversation's ``attachments_check_at`` and ``attachments_backoff_s`` in the mirror at
the start of the window, re-reads at check_at, then every doubled backoff (``poll_interval_s`` up
to ``refresh_interval_s``), counted inside the window (an upper bound: a refresh's read of the
same list postpones the next one). The generated pending/processing attachments never settle
(there is no random activity), so every one of them is such an "unsettled" attachment. A
``/messages`` request (a detail whose ``history`` the simulator left out, 1 % of parts) is not
in the formula and counts against it. Pass: measured ≤ 1.1 x formula, per scope and in total.

Two checks of the event rules (docs/events.md) ride along: *events told twice* counts changes whose
event (same subject and type) was written again with the same ``changes`` (or a creation, deletion
or new message again); *events written while idle* counts the outbox rows of the idle window
(nothing changed, so 0). Both must be 0. *Events told in parts* (listed, not a failure) are one
change told by several observations, each with a different part of it (a contact's detail, then
its name in a list row).

Exit status 1 when a bound is exceeded, a change is never seen, the idle cost is above 1.1 x the
formula, an event is told twice or while idle, or the daemon fails (exit code, error log lines);
0 otherwise.

    python benchmarks/freshness.py [--quick] [--order id|newest|both] [--conversations 300]
                                   [--per-kind 3] [--spacing 0.5] [--idle 80] [--whole-key]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import Engine, create_engine, func, select

from syncd.sim import SimConfig, SimServer, Simulator
from syncd.sim.listing import ListQuery, list_page
from syncd.store import tables

TOKEN = "sf_test_v1_FreshnessBenchmarkKey0000"
TERMINAL = frozenset({"resolved", "closed", "abandoned"})
NON_TERMINAL = ("open", "in_progress", "awaiting_contact")
EPOCH_AGE = timedelta(days=3)
"""The generated history ends this long ago (it spans the 90 days before)."""
TICK_S = 0.1
GRACE_S = 15.0
"""How long past its bound a change is still waited for (to print how late it was)."""
START_TIMEOUT_S = 180.0
IDLE_LIMIT = 1.1


# --- intervals and the contract's bounds ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Intervals:
    """The ``[sync]`` intervals the daemon runs with (seconds)."""

    poll: float
    attention: float
    status_counts: float
    refresh: float
    reconcile: float
    recent_days: float = 7.0

    @property
    def recheck_max(self) -> float:
        """Ceiling of the unsettled attachments' backoff (syncd.sync.context.plan_options)."""
        return max(self.refresh or self.reconcile, self.poll)


FULL = Intervals(poll=4, attention=2, status_counts=10, refresh=40, reconcile=3600)
QUICK = Intervals(poll=2, attention=1, status_counts=5, refresh=20, reconcile=3600)


@dataclass(frozen=True, slots=True)
class Bound:
    """A contract bound: the interval(s) the contract names, and the passes' allowance on top."""

    interval_s: float
    allowance_s: float
    rule: str

    @property
    def total_s(self) -> float:
        return self.interval_s + self.allowance_s

    def text(self) -> str:
        return f"{self.interval_s:g}+{self.allowance_s:g} s"


RULES = ("poll", "attention", "attention_flash", "terminal", "created_closed", "refresh")
"""The contract rows, as the kinds of change below name them."""


def bound_for(rule: str, order: str, iv: Intervals, allowance_s: float = 1.0) -> Bound:
    """The contract's bound for a kind of change (README.md's table) with these intervals.

    ``terminal`` (activity on a terminal conversation) and ``created_closed`` (a conversation
    created and closed between two polls) are caught by the head read while the list is
    newest-first; otherwise by the refresh (recent conversations), resp. by a status-count drift
    that outlived a hot pass (counts pass → hot pass → heal: three passes, and the counts job's
    jitter of a tenth of its interval).
    """
    newest = order == "newest"
    if rule == "poll" or (rule in ("terminal", "created_closed") and newest):
        return Bound(iv.poll, allowance_s, "poll_interval_s")
    if rule == "attention":
        return Bound(iv.attention, allowance_s, "attention_interval_s")
    if rule in ("attention_flash", "refresh", "terminal"):
        return Bound(iv.refresh, allowance_s, "refresh_interval_s")
    if rule == "created_closed":
        jitter = min(iv.status_counts * 0.1, 30.0)
        return Bound(
            iv.status_counts + iv.poll,
            3 * allowance_s + jitter,
            "status_counts_interval_s + poll_interval_s",
        )
    raise ValueError(f"unknown rule {rule!r}")


# --- the idle formula ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopeLoad:
    """What the §6 idle formula needs to know about one scope (a workspace, or the whole key)."""

    scope: str
    workspaces: int
    hot_counts: Mapping[str, int]
    """Conversations per non-terminal status."""
    recent: int
    """Non-terminal conversations plus terminal ones active within ``refresh_recent_days``."""
    unsettled: Sequence[tuple[float, float]] = ()
    """Per conversation with unsettled attachments: (next check, epoch s; current backoff, s)."""


def backoff_reads(
    check_at: float, backoff_s: float, start: float, end: float, min_s: float, max_s: float
) -> int:
    """Re-reads of one conversation's unsettled attachments that its backoff allows in
    [start, end): at ``check_at`` (or at once, if overdue), then after each doubled backoff
    (at least ``min_s``, at most ``max_s``)."""
    at, backoff, reads = max(check_at, start), backoff_s, 0
    while at < end:
        reads += 1
        backoff = min(max(backoff * 2, min_s), max_s)
        at += backoff
    return reads


def idle_formula(load: ScopeLoad, iv: Intervals, start: float, window_s: float) -> dict[str, float]:
    """Requests the §6 formula allows one scope in an idle window, by part."""
    hot_passes = window_s / iv.poll
    refreshes = load.recent * window_s / iv.refresh if iv.refresh > 0 else 0.0
    backoff = sum(
        backoff_reads(check, backoff, start, start + window_s, iv.poll, iv.recheck_max)
        for check, backoff in load.unsettled
    )
    return {
        "status lists": hot_passes
        * sum(max(1, math.ceil(n / 100)) for n in load.hot_counts.values()),
        "head page": hot_passes,
        "attention": 2 * window_s / iv.attention,
        "status counts": load.workspaces * window_s / iv.status_counts,
        "details": refreshes,
        "attachments": refreshes + backoff,
        "messages": 0.0,
    }


PARTS = (
    "status lists",
    "head page",
    "attention",
    "status counts",
    "details",
    "attachments",
    "messages",
)


def classify(path_qs: str, route: str) -> tuple[str | None, str | None, str | None]:
    """(part, workspace, conversation) of one request of the simulator's log."""
    parts = urlsplit(path_qs)
    query = parse_qs(parts.query)
    workspace = query.get("workspaceId", [None])[0]
    segments = parts.path.strip("/").split("/")
    if route == "list_conversations":
        return ("status lists" if "status" in query else "head page"), workspace, None
    if route == "list_attention_items":
        return "attention", workspace, None
    if route == "status_counts":
        return "status counts", segments[2], None
    part = {
        "get_conversation": "details",
        "get_attachments": "attachments",
        "get_messages": "messages",
    }.get(route)
    return part, None, (segments[2] if part else None)


# --- the mirror, polled --------------------------------------------------------------------------


@dataclass(slots=True)
class Probe:
    """One change made on the server, and when the mirror and the outbox first showed it."""

    kind: str
    table: str
    column: str
    key: str
    check: Callable[[list[Mapping[str, Any]]], bool]
    event_types: frozenset[str]
    subjects: frozenset[str]
    event_check: Callable[[dict[str, Any]], bool] | None = None
    conversations: frozenset[str] = frozenset()
    """The conversations whose list rows the change moves (if it moves any)."""
    every_subject: bool = False
    """The event is there when each subject has one (else: when one of them has)."""
    told: set[str] = field(default_factory=set)
    listed: bool = False
    """One of them was in a list every hot pass reads when it was made: live (a status list),
    or on the first page of its scope's unfiltered list (the head read handles that page's rows
    even when the order is broken)."""
    made_at: float = 0.0
    seq0: int = 0
    mirror_at: float | None = None
    event_at: float | None = None

    @property
    def done(self) -> bool:
        return self.mirror_at is not None and self.event_at is not None


class Mirror:
    """The daemon's database, read from this process (SQLAlchemy Core, syncd's tables)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        self.last_seq = 0

    def max_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.max(tables.events.c.seq))) or 0)

    def backfilled(self, scopes: Iterable[str]) -> bool:
        """Whether every scope's reconcile (the backfill) has completed."""
        s = tables.sync_state
        query = select(s.c.workspace_id, s.c.last_success_at, s.c.pass_started_at).where(
            s.c.stream == "reconcile"
        )
        with self.engine.connect() as conn:
            done = {
                r.workspace_id
                for r in conn.execute(query)
                if r.last_success_at and r.pass_started_at is None
            }
        return set(scopes) <= done

    def tick(self, probes: list[Probe]) -> None:
        """One look at the database: note the probes whose row or event is there now."""
        pending = [p for p in probes if not p.done]
        if not pending:
            return
        now = time.time()
        wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
        for probe in pending:
            if probe.mirror_at is None:
                wanted[(probe.table, probe.column)].add(probe.key)
        e = tables.events
        with self.engine.connect() as conn:
            rows_by: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
            for (name, column), keys in wanted.items():
                table = getattr(tables, name)
                query = select(table).where(table.c[column].in_(sorted(keys)))
                for row in conn.execute(query).mappings():
                    rows_by[(name, column, str(row[column]))].append(row)
            events = conn.execute(
                select(e.c.seq, e.c.type, e.c.subject_id, e.c.payload)
                .where(e.c.seq > self.last_seq)
                .order_by(e.c.seq)
            ).all()
        for probe in pending:
            if probe.mirror_at is None:
                rows = rows_by.get((probe.table, probe.column, probe.key), [])
                if rows and probe.check(rows):
                    probe.mirror_at = now
        by_subject: dict[str, list[Probe]] = defaultdict(list)
        for probe in pending:
            if probe.event_at is None:
                for subject in probe.subjects:
                    by_subject[subject].append(probe)
        for seq, kind, subject, payload in events:
            self.last_seq = max(self.last_seq, seq)
            for probe in by_subject.get(subject or "", ()):
                if (
                    probe.event_at is None
                    and seq > probe.seq0
                    and kind in probe.event_types
                    and (probe.event_check is None or probe.event_check(json.loads(payload)))
                ):
                    probe.told.add(subject)
                    if not probe.every_subject or probe.told >= probe.subjects:
                        probe.event_at = now

    def unsettled(self) -> dict[str, list[tuple[float, float]]]:
        """Per workspace, (check_at, backoff_s) of the conversations with unsettled attachments."""
        c = tables.conversations
        query = select(c.c.workspace_id, c.c.attachments_check_at, c.c.attachments_backoff_s).where(
            c.c.attachments_pending.is_(True), c.c.deleted_at.is_(None)
        )
        found: dict[str, list[tuple[float, float]]] = defaultdict(list)
        with self.engine.connect() as conn:
            for ws, check_at, backoff in conn.execute(query):
                at = check_at.replace(tzinfo=UTC).timestamp() if check_at else 0.0
                found[ws].append((at, float(backoff or 0.0)))
        return found


# --- the changes ---------------------------------------------------------------------------------


def row_is(column: str, value: Any) -> Callable[[list[Mapping[str, Any]]], bool]:
    return lambda rows: any(row[column] == value for row in rows)


def row_exists(rows: list[Mapping[str, Any]]) -> bool:
    return bool(rows)


def raw_is(name: str, value: Any) -> Callable[[list[Mapping[str, Any]]], bool]:
    return lambda rows: any((row["raw"] or {}).get(name) == value for row in rows)


def changes_name(*prefixes: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: any(k.startswith(prefixes) for k in event.get("changes") or {})


class Bench:
    """The simulator, the targets not used yet, and the changes made so far."""

    def __init__(self, sim: Simulator, rng: random.Random, iv: Intervals, whole_key: bool) -> None:
        self.sim = sim
        self.whole_key = whole_key
        self.rng = rng
        self.used: set[str] = set()
        self.workspaces = sim.workspace_ids()
        self.open_items: list[str] = []
        self.acknowledged_items: list[str] = []
        self.marker = 0
        self.recent_ms = sim.now_ms() - int(iv.recent_days * 86_400_000)
        recent_ms = sim.now_ms() - int((iv.recent_days - 1) * 86_400_000)  # a day to spare
        with sim.lock:
            records = list(sim.world.conversations.values())
            self.pools = {
                "live": [c.id for c in records if c.status not in TERMINAL],
                "recent": [
                    c.id for c in records if c.status in TERMINAL and c.activity_ms >= recent_ms
                ],
            }
        for ids in self.pools.values():
            rng.shuffle(ids)
        self.head = self.head_page_ids()
        for ids in self.pools.values():  # off the head page first (stable: still shuffled)
            ids.sort(key=lambda cid: cid in self.head)

    def is_recent(self, cid: str) -> bool:
        """Non-terminal, or active within ``refresh_recent_days`` (what the refresh covers)."""
        with self.sim.lock:
            record = self.sim.conversation(cid)
            return record.status not in TERMINAL or record.activity_ms >= self.recent_ms

    def listed(self, conversations: Iterable[str]) -> bool:
        """Whether a hot pass reads one of these rows anyway (see ``Probe.listed``)."""
        ids = set(conversations)
        if not ids:
            return False
        with self.sim.lock:
            live = any(self.sim.conversation(cid).status not in TERMINAL for cid in ids)
        return live or bool(ids & self.head_page_ids())

    def head_page_ids(self) -> set[str]:
        """The conversations on the first page of each scope's unfiltered list (any order)."""
        scopes: list[str | None] = [None] if self.whole_key else list(self.workspaces)
        with self.sim.lock:
            return {
                c.id
                for scope in scopes
                for c in list_page(
                    self.sim.world, ListQuery(workspace_id=scope, limit=100), self.sim.config.order
                ).conversations
            }

    def mark(self, what: str) -> str:
        self.marker += 1
        return f"bench {what} {self.marker}"

    def take(self, pools: Sequence[str], want: Callable[[Any], bool] = lambda c: True) -> str:
        """A conversation no change touched yet, from the first pool that has one ``want``s."""
        with self.sim.lock:
            for pool in pools:
                for cid in self.pools[pool]:
                    if cid in self.used:
                        continue
                    record = self.sim.conversation(cid)
                    if len(record.messages) >= 2 and want(record):
                        self.used.add(cid)
                        return cid
        raise LookupError(f"no conversation left in {pools}")

    def reserve_all(self, attribute: str, value: str) -> None:
        """Keep every conversation of a contact or account away from the other changes."""
        with self.sim.lock:
            for record in self.sim.world.conversations.values():
                if getattr(record, attribute) == value:
                    self.used.add(record.id)


Plan = Callable[[], "Probe | list[Probe]"]
"""A change chosen (its targets reserved), to be made when called; returns its probe(s)."""


def detail_pools(round_index: int) -> tuple[str, ...]:
    """Detail-only kinds alternate between live and recent terminal conversations."""
    return ("recent", "live") if round_index % 2 else ("live", "recent")


def settled(record: Any) -> Any:
    return next((a for a in record.attachments if a.status in ("ready", "failed")), None)


def plan_kind(kind: str, b: Bench, i: int) -> Plan:
    """Choose the target of one change of ``kind`` (round ``i``) and return how to make it."""
    sim = b.sim
    conv = frozenset({"conversation.updated"})

    def probe(
        table: str,
        key: str,
        check: Any,
        types: Iterable[str],
        subjects: Iterable[str],
        column: str = "id",
        event_check: Any = None,
        rows: Iterable[str] = (),
    ) -> Probe:
        return Probe(
            kind,
            table,
            column,
            key,
            check,
            frozenset(types),
            frozenset(subjects),
            event_check,
            frozenset(rows),
        )

    if kind == "new conversation":
        ws = b.workspaces[i % len(b.workspaces)]

        def make() -> Probe:
            cid = sim.add_conversation(ws)
            b.used.add(cid)
            return probe(
                "conversations", cid, row_exists, ["conversation.created"], [cid], rows=[cid]
            )

        return make
    if kind in ("new message, live conversation", "new message, terminal conversation"):
        cid = b.take(["live"] if kind.endswith("live conversation") else ["recent"])

        def make() -> Probe:
            mid = sim.add_message(cid, "inbound")
            return probe("messages", mid, row_exists, ["message.received"], [mid], rows=[cid])

        return make
    if kind == "status change, live -> live":
        cid = b.take(["live"])

        def make() -> Probe:
            new = next(s for s in NON_TERMINAL if s != sim.conversation(cid).status)
            sim.set_status(cid, new)
            return probe(
                "conversations",
                cid,
                row_is("status", new),
                ["conversation.status_changed"],
                [cid],
                rows=[cid],
            )

        return make
    if kind == "status change, live -> resolved":
        cid = b.take(["live"])

        def make() -> Probe:
            sim.set_status(cid, "resolved")
            return probe(
                "conversations",
                cid,
                row_is("status", "resolved"),
                ["conversation.resolved"],
                [cid],
                rows=[cid],
            )

        return make
    if kind == "status change, resolved -> closed":
        cid = b.take(["recent"], lambda c: c.status == "resolved")

        def make() -> Probe:
            sim.set_status(cid, "closed")
            return probe(
                "conversations",
                cid,
                row_is("status", "closed"),
                ["conversation.status_changed"],
                [cid],
                rows=[cid],
            )

        return make
    if kind == "created and closed between polls":
        ws = b.workspaces[i % len(b.workspaces)]

        def make() -> list[Probe]:
            # Made again (at most 4 times) while the new id lands on the head page and the list
            # is not newest-first: the head read would see it, the drift rule would not be tried.
            made = []
            for _ in range(4):
                with sim.lock:  # one atomic step: no request sees it open
                    cid = sim.add_conversation(ws)
                    sim.set_status(cid, "abandoned")
                b.used.add(cid)
                made.append(
                    probe(
                        "conversations",
                        cid,
                        row_is("status", "abandoned"),
                        ["conversation.created"],
                        [cid],
                        rows=[cid],
                    )
                )
                if sim.config.order == "newest" or cid not in b.head_page_ids():
                    break
            return made

        return make
    if kind.startswith("message edited") or kind.startswith("message deleted"):
        last = "(last" in kind
        cid = b.take(["live"] if last else detail_pools(i))

        def make() -> Probe:
            messages = sim.conversation(cid).messages
            mid = messages[-1].id if last else messages[0].id
            if kind.startswith("message edited"):
                body = b.mark("edit")
                sim.edit_message(mid, body, conversation_id=cid)
                return probe(
                    "messages",
                    mid,
                    row_is("body", body),
                    ["message.updated"],
                    [mid],
                    rows=[cid] if last else [],
                )
            sim.delete_message(mid, conversation_id=cid)
            return probe(
                "messages",
                mid,
                lambda rows: rows[0]["deleted_at"] is not None,
                ["message.deleted"],
                [mid],
                rows=[cid] if last else [],
            )

        return make
    if kind.startswith("attention item"):
        return plan_attention(kind, b, i, probe)
    if kind == "assignment":
        cid = b.take(detail_pools(i))

        def make() -> Probe:
            sim.assign(cid, f"usr_bench_{i}")
            updated = sim.detail(cid)["updatedAt"]
            return probe("conversations", cid, raw_is("updatedAt", updated), conv, [cid])

        return make
    if kind in ("outcome", "state summary"):
        cid = b.take(detail_pools(i))

        def make() -> Probe:
            text = b.mark(kind)
            if kind == "outcome":
                sim.set_outcome(cid, text)
                return probe("conversations", cid, row_is("outcome", text), conv, [cid])
            sim.set_state_summary(cid, text)
            return probe("conversations", cid, row_is("state_summary", text), conv, [cid])

        return make
    if kind == "context entries":
        cid = b.take(detail_pools(i))

        def make() -> Probe:
            text = b.mark("context")
            sim.set_context_entries(cid, [{"key": "bench", "value": text}])
            return probe(
                "context_entries",
                cid,
                lambda rows: any((r["raw"] or {}).get("value") == text for r in rows),
                conv,
                [cid],
                column="conversation_id",
            )

        return make
    if kind == "contact field":
        # A contact of a recent terminal conversation, preferably one with no live conversation:
        # then no status list shows its rows (only the head read, or the refresh).
        with sim.lock:
            world = sim.world
            by_contact: dict[str, list[Any]] = defaultdict(list)
            for record in world.conversations.values():
                by_contact[record.contact_id].append(record)
        candidates = [
            cid
            for cid in b.pools["recent"]
            if cid not in b.used
            and all(r.id not in b.used for r in by_contact[sim.conversation(cid).contact_id])
        ]
        candidates.sort(
            key=lambda cid: (  # no live conversation, none on the head page first
                any(r.status not in TERMINAL for r in by_contact[sim.conversation(cid).contact_id]),
                any(r.id in b.head for r in by_contact[sim.conversation(cid).contact_id]),
            )
        )
        contact_id = sim.conversation(candidates[0]).contact_id
        conversations = [r.id for r in by_contact[contact_id]]
        b.reserve_all("contact_id", contact_id)

        def make() -> list[Probe]:
            name = b.mark("surname")
            sim.update_contact(contact_id, last_name=name)
            shown = sim.list_row(conversations[0])["contactName"]
            recent = [c for c in conversations if b.is_recent(c)]
            return [
                probe(
                    "contacts",
                    contact_id,
                    row_is("last_name", name),
                    conv,
                    conversations,
                    event_check=changes_name("contact"),
                    rows=conversations,
                ),
                list_only(
                    CONTACT_COLUMN,
                    "contact_id",
                    contact_id,
                    "contact_name",
                    "contactName",
                    shown,
                    recent,
                ),
            ]

        return make
    if kind == "account field":
        with sim.lock:
            records = list(sim.world.conversations.values())
        accounts = {sim.conversation(cid).account_id for cid in b.pools["recent"]} - {None}
        free = sorted(
            a for a in accounts if not any(r.id in b.used for r in records if r.account_id == a)
        )
        account_id = b.rng.choice(free)
        conversations = [r.id for r in records if r.account_id == account_id]
        b.reserve_all("account_id", account_id)

        def make() -> list[Probe]:
            name = b.mark("account")
            sim.rename_account(account_id, name)
            return [
                probe(
                    "accounts",
                    account_id,
                    row_is("name", name),
                    conv,
                    conversations,
                    event_check=changes_name("account"),
                    rows=conversations,
                ),
                list_only(
                    ACCOUNT_COLUMN,
                    "account_id",
                    account_id,
                    "account_name",
                    "accountName",
                    name,
                    [c for c in conversations if b.is_recent(c)],
                ),
            ]

        return make
    if kind == "attachment added late":
        cid = b.take(detail_pools(i))

        def make() -> Probe:
            first = sim.conversation(cid).messages[0].id
            aid = sim.add_attachment(cid, message_id=first, status="ready")
            return probe("attachments", aid, row_exists, ["attachment.created"], [aid])

        return make
    if kind in ("attachment status change after settling", "attachment renamed"):
        cid = b.take(detail_pools(i), lambda c: settled(c) is not None)

        def make() -> Probe:
            attachment = settled(sim.conversation(cid))
            aid = attachment.id
            if kind == "attachment renamed":
                name = b.mark("file").replace(" ", "-") + ".pdf"
                sim.rename_attachment(aid, name)
                return probe(
                    "attachments", aid, row_is("file_name", name), ["attachment.updated"], [aid]
                )
            new = "failed" if attachment.status == "ready" else "ready"
            sim.set_attachment_status(aid, new)
            return probe("attachments", aid, row_is("status", new), ["attachment.updated"], [aid])

        return make
    raise ValueError(f"unknown kind {kind!r}")


def list_only(
    kind: str, column: str, key: str, name: str, api_name: str, value: str, ids: list[str]
) -> Probe:
    """The list-only column (``contact_name``, ``account_name``) of every recent conversation of
    a changed contact or account, and a ``conversation.updated`` naming it for each."""
    wanted = frozenset(ids)

    def check(rows: list[Mapping[str, Any]]) -> bool:
        shown = {row["id"]: row[name] for row in rows if row["id"] in wanted}
        return set(shown) == wanted and all(v == value for v in shown.values())

    return Probe(
        kind,
        "conversations",
        column,
        key,
        check,
        frozenset({"conversation.updated"}),
        wanted,
        changes_name(api_name),
        every_subject=True,
        conversations=wanted,
    )


def plan_attention(kind: str, b: Bench, i: int, probe: Callable[..., Probe]) -> Plan:
    sim = b.sim
    transitions = {
        "attention item acknowledged": ("open", "acknowledged", "attention_item.updated"),
        "attention item resolved": ("open", "resolved", "attention_item.resolved"),
        "attention item dismissed": ("open", "dismissed", "attention_item.updated"),
        "attention item edited (acknowledged -> open)": (
            "acknowledged",
            "open",
            "attention_item.updated",
        ),
        "attention item acknowledged -> resolved": (
            "acknowledged",
            "resolved",
            "attention_item.resolved",
        ),
    }
    if kind in transitions:
        source, target, event = transitions[kind]
        queue = b.open_items if source == "open" else b.acknowledged_items
        aid = queue.pop()

        def make() -> Probe:
            if target == "resolved":
                sim.resolve_attention_item(aid)
            else:
                sim.set_attention_item_status(aid, target)
            return probe("attention_items", aid, row_is("status", target), [event], [aid])

        return make
    cid = b.take(["live"])
    status = "acknowledged" if kind.endswith("acknowledged") else "open"

    def make() -> Probe:
        if kind == "attention item created and closed between polls":
            with sim.lock:
                aid = sim.raise_attention_item(cid)
                sim.resolve_attention_item(aid)
            return probe(
                "attention_items",
                aid,
                row_is("status", "resolved"),
                ["attention_item.created"],
                [aid],
            )
        aid = sim.raise_attention_item(cid, status=status)
        return probe(
            "attention_items", aid, row_is("status", status), ["attention_item.created"], [aid]
        )

    return make


KINDS: tuple[tuple[str, str], ...] = (
    ("new conversation", "poll"),
    ("new message, live conversation", "poll"),
    ("status change, live -> live", "poll"),
    ("status change, live -> resolved", "poll"),
    ("message edited (last: preview moves)", "poll"),
    ("message deleted (last: lastMessageAt moves back)", "poll"),
    ("attention item created", "attention"),
    ("attention item created acknowledged", "attention"),
    ("attention item acknowledged", "attention"),
    ("attention item resolved", "attention"),
    ("attention item dismissed", "attention"),
    ("attention item edited (acknowledged -> open)", "attention"),
    ("attention item acknowledged -> resolved", "attention"),
    ("attention item created and closed between polls", "attention_flash"),
    ("new message, terminal conversation", "terminal"),
    ("created and closed between polls", "created_closed"),
    ("status change, resolved -> closed", "refresh"),
    ("assignment", "refresh"),
    ("outcome", "refresh"),
    ("state summary", "refresh"),
    ("context entries", "refresh"),
    ("contact field", "refresh"),
    ("account field", "refresh"),
    ("contact field: conversations.contact_name", "refresh"),
    ("account field: conversations.account_name", "refresh"),
    ("attachment added late", "refresh"),
    ("attachment status change after settling", "refresh"),
    ("attachment renamed", "refresh"),
    ("message edited (older)", "refresh"),
    ("message deleted (older)", "refresh"),
)
"""Every kind of change measured, with the contract row (``RULES``) that bounds it."""
RULE_OF = dict(KINDS)
NOT_MEASURED = ("conversation deleted", "any change to an old terminal conversation")
CONTACT_COLUMN = "contact field: conversations.contact_name"
ACCOUNT_COLUMN = "account field: conversations.account_name"
DERIVED = (CONTACT_COLUMN, ACCOUNT_COLUMN)
"""Measured on the change of the kind before the colon (no change of their own)."""
FIRST = ("contact field", "account field")
"""Planned first: they keep every conversation of their contact or account to themselves."""


# --- the daemon ----------------------------------------------------------------------------------


def write_config(
    path: Path, base_url: str, db_url: str, iv: Intervals, workspaces: list[str]
) -> None:
    path.write_text(
        f"""[api]
base_url = "{base_url}"
token = "{TOKEN}"
max_requests_per_s = 50

[database]
url = {json.dumps(db_url)}

[sync]
workspaces = {json.dumps(workspaces)}
poll_interval_s = {iv.poll}
attention_interval_s = {iv.attention}
status_counts_interval_s = {iv.status_counts}
refresh_interval_s = {iv.refresh}
refresh_recent_days = {iv.recent_days}
reconcile_interval_s = {iv.reconcile}

[server]
listen = "127.0.0.1:0"

[logging]
level = "debug"
format = "json"
""",
        encoding="utf-8",
    )


def log_lines(stderr: Path) -> list[dict[str, Any]]:
    found = []
    for line in stderr.read_text(encoding="utf-8", errors="replace").split("\n")[:-1]:
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def wait_ready(
    stderr: Path, process: subprocess.Popen[bytes], mirror: Mirror, scopes: list[str]
) -> float:
    """Seconds until ``/readyz`` answers 200 and every scope's backfill is complete."""
    started = time.monotonic()
    port = None
    while time.monotonic() - started < START_TIMEOUT_S:
        if process.poll() is not None:
            raise SystemExit(f"syncd run exited:\n{stderr.read_text()[-3000:]}")
        if port is None:
            lines = [x for x in log_lines(stderr) if x.get("event") == "health_server_listening"]
            port = int(lines[0]["port"]) if lines else None
        elif httpx.get(
            f"http://127.0.0.1:{port}/readyz", timeout=10
        ).status_code == 200 and mirror.backfilled(scopes):
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit("syncd run was not ready in time")


def pass_durations(lines: list[dict[str, Any]], since: datetime) -> dict[str, list[float]]:
    """Durations of the passes that started after ``since``, by stream (debug log lines)."""
    started: dict[tuple[Any, ...], datetime] = {}
    found: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        event = line.get("event")
        if event not in ("pass_started", "pass_finished"):
            continue
        key = (line.get("stream"), line.get("scope"), line.get("workspace"))
        at = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
        if event == "pass_started":
            started[key] = at
        elif key in started:
            begun = started.pop(key)
            if begun >= since:
                found[str(key[0])].append((at - begun).total_seconds())
    return found


# --- one run -------------------------------------------------------------------------------------


@dataclass(slots=True)
class RunResult:
    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def say(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)


def fmt(values: list[float]) -> str:
    if not values:
        return "    -  /    -  "
    return f"{statistics.median(values):5.1f} /{max(values):5.1f}"


def run_order(order: str, args: argparse.Namespace, iv: Intervals) -> bool:
    out = RunResult()
    rng = random.Random(args.seed)
    epoch = datetime.now(UTC) - EPOCH_AGE
    sim = Simulator(
        SimConfig(seed=args.seed, conversations=args.conversations, order=order, epoch=epoch)
    )
    workspaces = sim.workspace_ids()
    scopes = ["*"] if args.whole_key else list(workspaces)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(SimServer(sim))
        if args.keep:
            workdir = Path(tempfile.mkdtemp(prefix="syncd-freshness-"))
            out.say(f"   (work directory kept: {workdir})")
        else:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="syncd-freshness-"))
            )
        db_url = f"sqlite:///{workdir / 'mirror.db'}"
        config, stderr = workdir / "syncd.toml", workdir / "syncd.stderr"
        write_config(config, server.base_url, db_url, iv, [] if args.whole_key else workspaces)
        mirror = Mirror(db_url)
        with stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "syncd.cli", "run", "-c", str(config)],
                env=env,
                cwd=workdir,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        try:
            ok = measure(order, args, iv, sim, server, mirror, process, stderr, scopes, rng, out)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()
            mirror.engine.dispose()
        errors = [x for x in log_lines(stderr) if x.get("level") in ("error", "critical")]
        out.say(
            f"syncd run exited {code}; {len(errors)} error log lines"
            + (f" (first: {errors[0].get('event')} {errors[0].get('error', '')})" if errors else "")
        )
        return ok and code == 0 and not errors


def measure(
    order: str,
    args: argparse.Namespace,
    iv: Intervals,
    sim: Simulator,
    server: SimServer,
    mirror: Mirror,
    process: subprocess.Popen[bytes],
    stderr: Path,
    scopes: list[str],
    rng: random.Random,
    out: RunResult,
) -> bool:
    ok = True
    ready_s = wait_ready(stderr, process, mirror, scopes)
    live_since = datetime.now(UTC)
    out.say(
        f"== list order {order!r}: {args.conversations} conversations in "
        f"{len(sim.workspace_ids())} workspaces, {len(scopes)} scope(s); ready after "
        f"{ready_s:.1f} s (backfill + first hot pass)"
    )
    out.say(
        f"   intervals: poll {iv.poll:g} s, attention {iv.attention:g} s, status counts "
        f"{iv.status_counts:g} s, refresh {iv.refresh:g} s (recent: {iv.recent_days:g} days), "
        f"reconcile {iv.reconcile:g} s; allowance {args.allowance:g} s per pass"
    )
    b = Bench(sim, rng, iv, args.whole_key)

    # Attention items the transitions need, raised and mirrored before anything is measured.
    n = args.per_kind
    setup: list[tuple[str, str]] = []
    for status, count in (("open", 3 * n), ("acknowledged", 2 * n)):
        for _ in range(count):
            aid = sim.raise_attention_item(b.take(["live"]), status=status)
            (b.open_items if status == "open" else b.acknowledged_items).append(aid)
            setup.append((aid, status))
    deadline = time.monotonic() + 30
    a = tables.attention_items
    while True:
        with mirror.engine.connect() as conn:
            have = dict(
                conn.execute(
                    select(a.c.id, a.c.status).where(a.c.id.in_([aid for aid, _ in setup]))
                ).all()
            )
        if all(have.get(aid) == status for aid, status in setup):
            break
        if time.monotonic() > deadline:
            raise SystemExit("the set-up attention items never reached the mirror")
        time.sleep(TICK_S)

    # Choose every change's target first (contacts and accounts keep theirs to themselves).
    rounds: list[list[tuple[str, Plan]]] = [[] for _ in range(n)]
    for i in range(n):
        rounds[i].extend((k, plan_kind(k, b, i)) for k in FIRST)
    for i in range(n):
        rounds[i].extend(
            (k, plan_kind(k, b, i)) for k, _ in KINDS if k not in FIRST and k not in DERIVED
        )
    # ... and made in a shuffled order per round.
    for round_plans in rounds:
        rng.shuffle(round_plans)
    schedule = [p for round_plans in rounds for p in round_plans]

    probes: list[Probe] = []
    mirror.last_seq = mirror.max_seq()
    started = time.monotonic()
    next_change = started
    waiting_until = None
    while True:
        now = time.monotonic()
        if schedule and now >= next_change:
            kind, make = schedule.pop(0)
            seq0 = mirror.max_seq()
            made = make()
            made_at = time.time()
            for probe_ in made if isinstance(made, list) else [made]:
                probe_.made_at, probe_.seq0 = made_at, seq0
                probe_.listed = b.listed(probe_.conversations)
                probes.append(probe_)
            next_change += args.spacing
            continue
        mirror.tick(probes)
        if not schedule:
            if waiting_until is None:
                made = time.monotonic() - started
                out.say(
                    f"   {len(probes)} changes made over {made:.0f} s ({n} per kind, "
                    f"{args.spacing:g} s apart)"
                )
                longest = max(
                    bound_for(RULE_OF[p.kind], order, iv, args.allowance).total_s for p in probes
                )
                waiting_until = time.monotonic() + longest + GRACE_S
            if all(p.done for p in probes) or time.monotonic() > waiting_until:
                break
        time.sleep(TICK_S if not schedule else max(0.0, min(TICK_S, next_change - now)))

    # -- the table --------------------------------------------------------------------------
    out.say()
    out.say(
        f"   {'kind of change':<50} {'n':>2}  {'mirror med / max':>16}  "
        f"{'event med / max':>16}  {'bound':>9}  listed  contract row"
    )
    by_kind: dict[str, list[Probe]] = defaultdict(list)
    for p in probes:
        by_kind[p.kind].append(p)
    for kind, rule in KINDS:
        found = by_kind.get(kind, [])
        bound = bound_for(rule, order, iv, args.allowance)
        mirror_s = [p.mirror_at - p.made_at for p in found if p.mirror_at is not None]
        event_s = [p.event_at - p.made_at for p in found if p.event_at is not None]
        no_row = sum(p.mirror_at is None for p in found)
        no_event = sum(p.event_at is None for p in found)
        late = max([*mirror_s, *event_s], default=0.0) > bound.total_s
        verdict = "ok"
        if no_row or no_event:
            verdict = (
                f"FAILED ({no_row} of {len(found)} not in the mirror, {no_event} no event, "
                "by the end)"
            )
        elif late:
            verdict = "FAILED (late)"
        if verdict != "ok":
            ok = False
        moved = [p for p in found if p.conversations]
        listed = "-"
        if moved and rule != "poll":
            listed = f"{sum(p.listed for p in moved)}/{len(moved)}"
        out.say(
            f"   {kind:<50} {len(found):>2}  {fmt(mirror_s)} s  {fmt(event_s)} s  "
            f"{bound.text():>9}  {listed:>6}  {bound.rule}  {verdict}"
        )
    for kind in NOT_MEASURED:
        out.say(f"   {kind:<50}  -  not measured (reconcile_interval_s, {iv.reconcile:g} s)")

    lines = log_lines(stderr)
    durations = pass_durations(lines, live_since)
    skipped = Counter(
        str(x["event"]).split('"')[1].split(":")[0]
        for x in lines
        if "maximum number of running instances" in str(x.get("event", ""))
        and str(x["event"]).count('"') >= 2
        and datetime.fromisoformat(str(x["timestamp"]).replace("Z", "+00:00")) >= live_since
    )
    out.say()
    out.say(
        "   passes since ready (n, median / max s): "
        + "; ".join(
            f"{name} {len(values)}, {statistics.median(values):.2f} / {max(values):.2f}"
            for name, values in sorted(durations.items())
        )
    )
    if skipped:
        out.say(
            "   runs skipped (previous run still going): "
            + ", ".join(f"{name} {count}" for name, count in sorted(skipped.items()))
        )

    twice, parts = repeated_events(mirror, probes)
    out.say(
        f"   events told twice (the same change again): {len(twice)}"
        + "".join(f"\n     {x}" for x in twice)
    )
    out.say(
        f"   events told in parts (one change, several observations): {len(parts)}"
        + "".join(f"\n     {x}" for x in parts)
    )
    ok = ok and not twice

    # -- idle ------------------------------------------------------------------------------
    time.sleep(2 * iv.poll)
    window = args.idle
    loads = idle_loads(sim, mirror, iv, scopes)
    server.reset_counts()
    idle_seq = mirror.max_seq()
    start_wall, start_mono = time.time(), time.monotonic()
    time.sleep(window)
    end_mono = time.monotonic()
    e = tables.events
    with mirror.engine.connect() as conn:
        idle_events = Counter(
            dict(
                conn.execute(
                    select(e.c.type, func.count()).where(e.c.seq > idle_seq).group_by(e.c.type)
                ).all()
            )
        )
    log = [r for r in server.request_log if start_mono <= r.at < end_mono]
    measured: dict[str, Counter[str]] = defaultdict(Counter)
    for record in log:
        part, ws, cid = classify(record.path, record.route)
        if part is None:
            part = record.route
        if cid is not None:
            ws = sim.conversation(cid).workspace_id
        scope = "*" if scopes == ["*"] else (ws or "?")
        measured[scope][part] += 1
    out.say()
    out.say(f"   idle {window:g} s, requests per minute: measured / §6 formula")
    per_min = 60.0 / window
    total_measured = total_formula = 0.0
    for load in loads:
        formula = idle_formula(load, iv, start_wall, window)
        got = measured.get(load.scope, Counter())
        m, f = sum(got.values()), sum(formula.values())
        total_measured += m
        total_formula += f
        ratio = m / f if f else float("inf")
        verdict = "ok" if ratio <= IDLE_LIMIT else "FAILED"
        ok = ok and verdict == "ok"
        extra = sorted(set(got) - set(PARTS))
        out.say(
            f"   scope {load.scope}: {len(load.unsettled)} conversations with unsettled "
            f"attachments, {load.recent} recent, lists "
            + "+".join(f"{max(1, math.ceil(c / 100))}" for c in load.hot_counts.values())
            + " pages"
        )
        out.say(
            "     "
            + "  ".join(
                f"{part} {got.get(part, 0) * per_min:.1f}/{formula[part] * per_min:.1f}"
                for part in PARTS
            )
            + ("  " + "  ".join(f"{x} {got[x] * per_min:.1f}/0" for x in extra) if extra else "")
        )
        out.say(
            f"     total {m * per_min:.1f}/{f * per_min:.1f} per minute = {ratio:.2f} x "
            f"the formula (<= {IDLE_LIMIT}): {verdict}"
        )
    out.say(
        f"   events written while idle: {sum(idle_events.values())} (nothing changed: 0 expected)"
        + (f" {dict(idle_events)}" if idle_events else "")
    )
    ok = ok and not idle_events
    if len(loads) > 1:
        ratio = total_measured / total_formula
        verdict = "ok" if ratio <= IDLE_LIMIT else "FAILED"
        ok = ok and verdict == "ok"
        out.say(
            f"   all scopes: {total_measured * per_min:.1f}/{total_formula * per_min:.1f} "
            f"per minute = {ratio:.2f} x the formula: {verdict}"
        )
    return ok


def repeated_events(mirror: Mirror, probes: list[Probe]) -> tuple[list[str], list[str]]:
    """Events written more than once for one change (same subject and type after it): told
    *twice* (the same ``changes`` again, or a creation or deletion again), or told *in parts*
    (each a different part of the change, from different observations)."""
    watched: dict[tuple[str, str], tuple[str, int]] = {}
    for probe in probes:
        for subject in probe.subjects:
            for kind in probe.event_types:
                watched.setdefault((subject, kind), (probe.kind, probe.seq0))
    if not watched:
        return [], []
    e = tables.events
    with mirror.engine.connect() as conn:
        rows = conn.execute(
            select(e.c.seq, e.c.type, e.c.subject_id, e.c.payload).where(
                e.c.seq > min(seq0 for _, seq0 in watched.values())
            )
        ).all()
    told: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for seq, kind, subject, payload in rows:
        found = watched.get((subject or "", kind))
        if found is not None and seq > found[1]:
            told[(subject, kind)].append(json.loads(payload).get("changes") or {})
    twice, parts = [], []
    for (subject, kind), changes in sorted(told.items()):
        if len(changes) < 2:
            continue
        label = f"{watched[(subject, kind)][0]}: {kind} {subject[:8]}"
        keys = [sorted(c) for c in changes]
        if not all(changes) or any(changes.count(c) > 1 for c in changes):
            twice.append(f"{label} {keys}")
        else:
            parts.append(f"{label} {' then '.join('+'.join(k) for k in keys)}")
    return twice, parts


def idle_loads(sim: Simulator, mirror: Mirror, iv: Intervals, scopes: list[str]) -> list[ScopeLoad]:
    """The formula's inputs per scope: the simulator's counts, the mirror's backoff state."""
    unsettled = mirror.unsettled()
    recent_ms = sim.now_ms() - int(iv.recent_days * 86_400_000)
    loads = []
    for scope in scopes:
        workspaces = sim.workspace_ids() if scope == "*" else [scope]
        hot = {
            status: sum(
                len(sim.conversation_ids(workspace_id=w, status=status)) for w in workspaces
            )
            for status in NON_TERMINAL
        }
        with sim.lock:
            recent = sum(
                1
                for c in sim.world.conversations.values()
                if c.workspace_id in workspaces
                and (c.status not in TERMINAL or c.activity_ms >= recent_ms)
            )
        pending = [x for w in workspaces for x in unsettled.get(w, [])]
        loads.append(ScopeLoad(scope, len(workspaces), hot, recent, pending))
    return loads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="halved intervals, one change per kind, 40 s idle"
    )
    parser.add_argument("--order", choices=("id", "newest", "both"), default="both")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--per-kind", type=int, help="changes per kind (default 3; quick 1)")
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between changes")
    parser.add_argument("--idle", type=float, help="idle seconds (default 80; quick 40)")
    parser.add_argument(
        "--allowance",
        type=float,
        default=1.0,
        help="seconds allowed per pass on top of the contract's interval",
    )
    parser.add_argument(
        "--whole-key",
        action="store_true",
        help="sync.workspaces = [] (one scope) instead of one per workspace",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)
    iv = QUICK if args.quick else FULL
    if args.per_kind is None:
        args.per_kind = 1 if args.quick else 3
    if args.idle is None:
        args.idle = 40.0 if args.quick else 80.0
    orders = ["id", "newest"] if args.order == "both" else [args.order]
    results = {order: run_order(order, args, iv) for order in orders}
    print()
    for order, ok in results.items():
        print(f"list order {order!r}: {'ok' if ok else 'FAILED'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
