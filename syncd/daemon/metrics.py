"""Prometheus metrics of the daemon, in a registry of their own (tests make several)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from syncd.sync.result import PassResult
from syncd.sync.writer import Written

PASS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class _Freshness(Collector):
    """``syncd_seconds_since_last_success``, computed at scrape time."""

    def __init__(self, last_success: dict[tuple[str, str], float]) -> None:
        self._last_success = last_success

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "syncd_seconds_since_last_success",
            "Seconds since the last successful pass, per workspace and stream.",
            labels=["workspace", "stream"],
        )
        now = time.time()
        for (workspace, stream), when in sorted(self._last_success.items()):
            family.add_metric([workspace, stream], max(0.0, now - when))
        yield family


class Metrics:
    """Every metric syncd exports, and the hooks that feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.api_requests = Counter(
            "syncd_api_requests",
            "oHallo API requests by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=r,
        )
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
        self.last_success = Gauge(
            "syncd_pass_last_success_timestamp_seconds",
            "Unix time of the last successful pass.",
            ["workspace", "stream"],
            registry=r,
        )
        self.drift = Gauge(
            "syncd_status_count_drift",
            "API status count minus the mirror's, from the last status-counts pass.",
            ["workspace", "status"],
            registry=r,
        )
        self._last_success: dict[tuple[str, str], float] = {}
        self._drift_statuses: dict[str, set[str]] = {}
        r.register(_Freshness(self._last_success))

    # hooks -------------------------------------------------------------------------------

    def on_request(self, route: str, status: int | None, duration_s: float) -> None:
        """API client hook: one finished request (status None: no response)."""
        self.api_requests.labels(route, str(status) if status is not None else "error").inc()

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

    def on_pass(self, result: PassResult, duration_s: float) -> None:
        """A pass finished (or failed)."""
        self.pass_duration.labels(result.stream).observe(duration_s)
        if result.skipped:
            self.malformed_rows.labels(result.stream).inc(result.skipped)
        for table, count in result.purged.items():
            self.rows_purged.labels(table).inc(count)
        if not result.ok:
            self.pass_failures.labels(result.scope, result.stream).inc()
            return
        now = time.time()
        self.last_success.labels(result.scope, result.stream).set(now)
        self._last_success[(result.scope, result.stream)] = now
        if result.stream == "status_counts":
            seen = self._drift_statuses.setdefault(result.scope, set())
            for status in seen | set(result.drift):
                self.drift.labels(result.scope, status).set(result.drift.get(status, 0))
            seen.update(result.drift)

    def on_delivery(self, sink: str, outcome: str, count: int = 1) -> None:
        """Dispatcher hook: delivery attempts by outcome."""
        self.deliveries.labels(sink, outcome).inc(count)

    def set_sink_state(self, sinks: Iterable[dict[str, Any]]) -> None:
        """Backlog, dead letters and disabled flags from ``sink_status``."""
        for sink in sinks:
            name = str(sink.get("name"))
            self.outbox_backlog.labels(name).set(float(sink.get("backlog") or 0))
            self.dead_letters.labels(name).set(float(sink.get("dead_letters") or 0))
            self.sink_disabled.labels(name).set(1.0 if sink.get("disabled") else 0.0)

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
