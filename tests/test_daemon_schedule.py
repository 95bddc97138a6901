"""The daemon's pure decisions: when a starting daemon reconciles first, how it reads systemd's
notify environment. (The processes themselves: test_daemon_run.py and test_daemon_ha.py.)"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from syncd.daemon.notify import Notifier
from syncd.daemon.service import first_reconcile, jitter_for
from syncd.sync.state import StreamState

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0


def test_a_scope_never_reconciled_or_interrupted_reconciles_at_once() -> None:
    assert first_reconcile(StreamState(), HOUR, NOW) == NOW
    interrupted = StreamState(
        last_success_at=NOW - timedelta(minutes=5), pass_started_at=NOW - timedelta(minutes=1)
    )
    assert first_reconcile(interrupted, HOUR, NOW) == NOW


def test_restarts_do_not_postpone_the_next_reconcile() -> None:
    # Completed 50 minutes ago with a 60-minute interval: due in 10 minutes, not in an hour.
    recent = StreamState(last_success_at=NOW - timedelta(minutes=50))
    assert first_reconcile(recent, HOUR, NOW) == NOW + timedelta(minutes=10)
    overdue = StreamState(last_success_at=NOW - timedelta(hours=5))
    assert first_reconcile(overdue, HOUR, NOW) == NOW


@pytest.mark.parametrize(("interval", "jitter"), [(1, 0.1), (30, 3.0), (3600, 30.0)])
def test_jitter_is_a_tenth_of_the_interval_up_to_30_s(interval: float, jitter: float) -> None:
    assert jitter_for(interval) == pytest.approx(jitter)


def test_notifier_reads_the_systemd_environment() -> None:
    assert not Notifier({}).enabled
    assert Notifier({}).watchdog_interval_s is None
    assert not Notifier({}).ready("x"), "without a manager every call does nothing"
    abstract = Notifier({"NOTIFY_SOCKET": "@syncd-test", "WATCHDOG_USEC": "30000000"})
    assert abstract.enabled
    assert abstract.watchdog_interval_s == 15.0
    ours = {"NOTIFY_SOCKET": "/run/notify", "WATCHDOG_USEC": "4000000"}
    assert Notifier({**ours, "WATCHDOG_PID": str(os.getpid())}).watchdog_interval_s == 2.0
    assert Notifier({**ours, "WATCHDOG_PID": "1"}).watchdog_interval_s is None, "not for us"
    assert Notifier({**ours, "WATCHDOG_USEC": "soon"}).watchdog_interval_s is None
