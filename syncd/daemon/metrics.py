"""Prometheus metrics of the daemon, in a registry of their own (tests make several).

Every stream series exists from start-up: a stream that never succeeded is infinitely stale
(``syncd_seconds_since_last_success`` = +Inf, ``syncd_pass_last_success_timestamp_seconds`` = 0),
never absent, so an alert on staleness fires for a fresh install whose key is wrong. Each stream
also exports its configured interval (``syncd_stream_interval_seconds``, same labels), so the
alert rules compare against the configuration instead of constants. No ``*_created`` series
(``disable_created_metrics``): they double the series count and alert rules never use them.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from syncd import __version__
from syncd.sync.freshness import HeadRead, WorkspaceFreshness
from syncd.sync.result import PassResult
from syncd.sync.values import Written

PASS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
AUTH_STATUSES = ("401", "403")


@dataclass(slots=True)
class StreamHealth:
    """What the metrics know of one (workspace, stream)."""

    last_success: float | None = None  # Unix time; None: never succeeded
    consecutive_failures: int = 0
    auth_failed: bool = False
    running: bool = False


class _Streams(Collector):
    """The per-stream series, computed at scrape time from ``StreamHealth`` records."""

    def __init__(self, streams: dict[tuple[str, str], StreamHealth]) -> None:
        self._streams = streams
        self.intervals: dict[str, float] = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        labels = ["workspace", "stream"]
        age = GaugeMetricFamily(
            "syncd_seconds_since_last_success",
            "Seconds since the last successful pass (+Inf: none since the database was created).",
            labels=labels,
        )
        stamp = GaugeMetricFamily(
            "syncd_pass_last_success_timestamp_seconds",
            "Unix time of the last successful pass (0: never).",
            labels=labels,
        )
        interval = GaugeMetricFamily(
            "syncd_stream_interval_seconds",
            "The configured interval of the stream (alert thresholds are multiples of it).",
            labels=labels,
        )
        failures = GaugeMetricFamily(
            "syncd_stream_consecutive_failures",
            "Passes of the stream that failed in a row (0 after a success).",
            labels=labels,
        )
        auth = GaugeMetricFamily(
            "syncd_stream_auth_failed",
            "1 when the stream's last pass failed with 401/403 (wrong, revoked or narrow key).",
            labels=labels,
        )
        running = GaugeMetricFamily(
            "syncd_pass_running", "1 while a pass of the stream runs.", labels=labels
        )
        now = time.time()
        for (workspace, stream), health in sorted(self._streams.items()):
            key = [workspace, stream]
            last = health.last_success
            age.add_metric(key, math.inf if last is None else max(0.0, now - last))
            stamp.add_metric(key, last or 0.0)
            if stream in self.intervals:
                interval.add_metric(key, self.intervals[stream])
            failures.add_metric(key, float(health.consecutive_failures))
            auth.add_metric(key, 1.0 if health.auth_failed else 0.0)
            running.add_metric(key, 1.0 if health.running else 0.0)
        yield from (age, stamp, interval, failures, auth, running)


class Metrics:
    """Every metric syncd exports, and the hooks that feed them."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        build = Gauge(
            "syncd_build_info",
            "Always 1; the labels tell the running version.",
            ["version", "python_version"],
            registry=r,
        )
        build.labels(__version__, platform.python_version()).set(1)
        self.api_requests = Counter(
            "syncd_api_requests",
            "oHallo API requests by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.api_auth_errors = Counter(
            "syncd_api_auth_errors",
            "oHallo API answers 401 (key wrong or revoked) and 403 (scope or workspace refused).",
            ["status"],
            registry=r,
        )
        for status in AUTH_STATUSES:
            self.api_auth_errors.labels(status)  # exported as 0 from start-up
        self.api_retries = Counter(
            "syncd_api_retries",
            "Retried oHallo API requests by endpoint and reason.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.rate_limit_wait = Counter(
            "syncd_api_rate_limit_wait_seconds",
            "Seconds spent waiting for the request budget or a Retry-After.",
            registry=r,
        )
        self.pass_duration = Histogram(
            "syncd_pass_duration_seconds",
            "Duration of sync passes.",
            ["stream"],
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.pass_failures = Counter(
            "syncd_pass_failures", "Failed sync passes.", ["workspace", "stream"], registry=r
        )
        self.malformed_rows = Counter(
            "syncd_malformed_rows_skipped",
            "API rows skipped as malformed.",
            ["stream"],
            registry=r,
        )
        self.rows_upserted = Counter(
            "syncd_rows_upserted", "Mirror rows written, by table.", ["table"], registry=r
        )
        self.rows_purged = Counter(
            "syncd_rows_purged",
            "Rows removed by the purge stream ([privacy] retention), by table.",
            ["table"],
            registry=r,
        )
        self.events_emitted = Counter(
            "syncd_events_emitted",
            "Change events written to the outbox, by type.",
            ["type"],
            registry=r,
        )
        self.deliveries = Counter(
            "syncd_deliveries",
            "Delivery attempts by sink and outcome.",
            ["sink", "outcome"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "syncd_outbox_backlog",
            "Events waiting for delivery, per sink.",
            ["sink"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "syncd_dead_letters", "Dead-lettered events, per sink.", ["sink"], registry=r
        )
        self.sink_disabled = Gauge(
            "syncd_sink_disabled", "1 when a sink is disabled (410 Gone).", ["sink"], registry=r
        )
        self.sink_failing = Gauge(
            "syncd_sink_failing",
            "1 while the sink's next event has failed attempts (it is being retried).",
            ["sink"],
            registry=r,
        )
        self.sink_stuck = Gauge(
            "syncd_sink_stuck",
            "1 when an ordered sink's head event used up max_attempts (later events wait).",
            ["sink"],
            registry=r,
        )
        self.drift = Gauge(
            "syncd_status_count_drift",
            "API status count minus the mirror's that outlived a hot pass and a heal "
            "(0 when the last drift was changes in flight, or was mended).",
            ["workspace", "status"],
            registry=r,
        )
        self.heals = Counter(
            "syncd_drift_heals",
            "Status-count drifts checked after a hot pass: transient (changes in flight) "
            "or real (mended by walking the drifting statuses, else a reconcile).",
            ["workspace", "kind"],
            registry=r,
        )
        self.refresh_oldest_age = Gauge(
            "syncd_refresh_oldest_age_seconds",
            "Age of the oldest detail read among the recent conversations (the refresh "
            "stream keeps it under sync.refresh_interval_s); +Inf when one was never read.",
            ["workspace"],
            registry=r,
        )
        self.refresh_recent = Gauge(
            "syncd_refresh_recent_conversations",
            "Conversations the refresh stream keeps fresh (non-terminal or recently active).",
            ["workspace"],
            registry=r,
        )
        self.head_read_active = Gauge(
            "syncd_head_read_active",
            "1 while the unfiltered list proved newest-first at the last hot pass (terminal "
            "conversations' activity is then seen within one poll), else 0.",
            ["workspace"],
            registry=r,
        )
        self.attachments_unsettled = Gauge(
            "syncd_attachments_unsettled",
            "Conversations whose attachments have not settled (the backoff queue).",
            ["workspace"],
            registry=r,
        )
        self.attachments_due = Gauge(
            "syncd_attachments_recheck_due",
            "Of those, the ones whose backoff has run out (read by the next hot pass).",
            ["workspace"],
            registry=r,
        )
        self._streams: dict[tuple[str, str], StreamHealth] = {}
        self._drift_statuses: dict[str, set[str]] = {}
        self._stream_collector = _Streams(self._streams)
        r.register(self._stream_collector)

    # set-up ------------------------------------------------------------------------------

    def set_intervals(self, intervals: Mapping[str, float]) -> None:
        """The configured interval per stream (``syncd.freshness.stream_intervals``)."""
        self._stream_collector.intervals = dict(intervals)

    def expect(self, workspace: str, stream: str) -> None:
        """Export the stream's series from now on (never succeeded until told otherwise)."""
        self._streams.setdefault((workspace, stream), StreamHealth())
        self.pass_failures.labels(workspace, stream)  # 0 until the first failure
        self.malformed_rows.labels(stream)

    def seed(
        self, workspace: str, stream: str, *, last_success: float | None, failures: int = 0
    ) -> None:
        """What the database knows of a stream from earlier runs (read at start-up)."""
        health = self._streams.setdefault((workspace, stream), StreamHealth())
        if last_success is not None and (health.last_success or 0.0) < last_success:
            health.last_success = last_success
        health.consecutive_failures = max(health.consecutive_failures, failures)

    # hooks -------------------------------------------------------------------------------

    def on_request(self, route: str, status: int | None, duration_s: float) -> None:
        """API client hook: one finished request (status None: no response)."""
        label = str(status) if status is not None else "error"
        self.api_requests.labels(route, label).inc()
        if label in AUTH_STATUSES:
            self.api_auth_errors.labels(label).inc()

    def on_retry(self, route: str, reason: str) -> None:
        """API client hook: a request is being retried."""
        self.api_retries.labels(route, reason).inc()

    def on_rate_limit_wait(self, seconds: float) -> None:
        """API client hook: time spent waiting for budget."""
        self.rate_limit_wait.inc(max(0.0, seconds))

    def on_written(self, written: Written) -> None:
        """Sync hook: a committed write."""
        for table, count in written.rows.items():
            self.rows_upserted.labels(table).inc(count)
        for kind, count in written.event_types.items():
            self.events_emitted.labels(kind).inc(count)

    def on_pass_started(self, stream: str, workspace: str) -> None:
        """A pass starts (``syncd_pass_running``)."""
        self._streams.setdefault((workspace, stream), StreamHealth()).running = True

    def on_pass(self, result: PassResult, duration_s: float) -> None:
        """A pass finished (or failed)."""
        health = self._streams.setdefault((result.scope, result.stream), StreamHealth())
        health.running = False
        self.pass_duration.labels(result.stream).observe(duration_s)
        if result.skipped:
            self.malformed_rows.labels(result.stream).inc(result.skipped)
        for table, count in result.purged.items():
            self.rows_purged.labels(table).inc(count)
        if not result.ok:
            self.pass_failures.labels(result.scope, result.stream).inc()
            health.consecutive_failures += 1
            health.auth_failed = result.auth_failed
            return
        health.last_success = time.time()
        health.consecutive_failures = 0
        health.auth_failed = False
        if result.stream == "heal":
            if result.heal_kind is not None:
                self.heals.labels(result.scope, result.heal_kind).inc()
            seen = self._drift_statuses.setdefault(result.scope, set())
            for status in seen | set(result.drift):
                self.drift.labels(result.scope, status).set(result.drift.get(status, 0))
            seen.update(result.drift)

    def set_freshness(
        self, workspaces: Iterable[WorkspaceFreshness], heads: Iterable[HeadRead]
    ) -> None:
        """The mirror's freshness per workspace (``syncd.sync.freshness``), at scrape time."""
        for item in workspaces:
            name = item.workspace
            self.heals.labels(name, "transient")  # 0 until the first heal
            self.heals.labels(name, "real")
            self.refresh_recent.labels(name).set(item.recent_conversations)
            age = item.oldest_refresh_age_s
            if item.never_refreshed:
                age = math.inf
            self.refresh_oldest_age.labels(name).set(age if age is not None else 0.0)
            self.attachments_unsettled.labels(name).set(item.unsettled_attachments)
            self.attachments_due.labels(name).set(item.attachments_due)
        for head in heads:
            self.head_read_active.labels(head.scope).set(1.0 if head.active else 0.0)

    def on_delivery(self, sink: str, outcome: str, count: int = 1) -> None:
        """Dispatcher hook: delivery attempts by outcome."""
        self.deliveries.labels(sink, outcome).inc(count)

    def set_sink_state(self, sinks: Iterable[dict[str, Any]]) -> None:
        """Backlog, dead letters and failing/stuck/disabled flags from ``sink_status``."""
        for sink in sinks:
            name = str(sink.get("name"))
            disabled = bool(sink.get("disabled"))
            self.deliveries.labels(name, "delivered")  # 0 until the first delivery
            self.outbox_backlog.labels(name).set(float(sink.get("backlog") or 0))
            self.dead_letters.labels(name).set(float(sink.get("dead_letters") or 0))
            self.sink_disabled.labels(name).set(1.0 if disabled else 0.0)
            failing = sink.get("failing_since") is not None and not disabled
            self.sink_failing.labels(name).set(1.0 if failing else 0.0)
            self.sink_stuck.labels(name).set(1.0 if sink.get("stuck") else 0.0)

    def client_hooks(self) -> dict[str, Callable[..., None]]:
        """Keyword arguments wiring the API client to these metrics."""
        return {
            "on_request": self.on_request,
            "on_retry": self.on_retry,
            "on_rate_limit_wait": self.on_rate_limit_wait,
        }

    def exposition(self) -> bytes:
        """The text format for ``/metrics``."""
        return generate_latest(self.registry)
