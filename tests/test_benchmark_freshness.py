"""The pure parts of benchmarks/freshness.py: the contract's bounds and the §6 idle formula."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "freshness.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("freshness_benchmark", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_bounds_follow_the_contract_table(bench: ModuleType) -> None:
    iv = bench.Intervals(poll=4, attention=2, status_counts=10, refresh=40, reconcile=3600)
    for order in ("id", "newest"):
        assert bench.bound_for("poll", order, iv).total_s == 5
        assert bench.bound_for("attention", order, iv).total_s == 3
        assert bench.bound_for("attention_flash", order, iv).total_s == 41
        assert bench.bound_for("refresh", order, iv).total_s == 41
    # Activity on terminal conversations: the head read while the list is newest-first...
    assert bench.bound_for("terminal", "newest", iv).total_s == 5
    assert bench.bound_for("created_closed", "newest", iv).total_s == 5
    # ... else the refresh, resp. a drift that outlived a hot pass: counts → hot → heal (three
    # passes' allowance) and the counts job's jitter (a tenth of its interval).
    assert bench.bound_for("terminal", "id", iv).total_s == 41
    created = bench.bound_for("created_closed", "id", iv, allowance_s=0.5)
    assert (created.interval_s, created.allowance_s) == (14, 2.5)
    assert {rule for _, rule in bench.KINDS} == set(bench.RULES)
    with pytest.raises(ValueError):
        bench.bound_for("reconcile", "id", iv)


def test_backoff_reads_double_up_to_the_ceiling(bench: ModuleType) -> None:
    # Due at 10 with a 4 s backoff: reads at 10, 18, 34, 66 (then 106: outside the window).
    assert bench.backoff_reads(10, 4, 0, 100, 4, 40) == 4
    # At the ceiling: every 40 s; an overdue check is read at once.
    assert bench.backoff_reads(-5, 40, 0, 100, 4, 40) == 3
    # Due after the window: nothing.
    assert bench.backoff_reads(120, 40, 0, 100, 4, 40) == 0


def test_idle_formula_by_part(bench: ModuleType) -> None:
    iv = bench.Intervals(poll=4, attention=2, status_counts=10, refresh=40, reconcile=3600)
    load = bench.ScopeLoad(
        "ws",
        1,
        {"open": 150, "in_progress": 0, "awaiting_contact": 100},
        recent=120,
        unsettled=[(10.0, 4.0)],
    )
    formula = bench.idle_formula(load, iv, 0.0, 80.0)
    assert formula == {
        "status lists": 20 * (2 + 1 + 1),  # max(1, ceil(n/100)) pages per status, 20 passes
        "head page": 20,
        "attention": 2 * 40,
        "status counts": 8,
        "details": 120 * 80 / 40,  # every recent conversation once per refresh interval
        "attachments": 120 * 80 / 40 + 4,  # + backoff reads at 10, 18, 34 and 66
        "messages": 0,
    }
    assert set(formula) == set(bench.PARTS)


def test_requests_are_classified_by_part_and_workspace(bench: ModuleType) -> None:
    classify = bench.classify
    assert classify(
        "/api/conversations?workspaceId=w1&status=open&limit=100", "list_conversations"
    ) == (
        "status lists",
        "w1",
        None,
    )
    assert classify("/api/conversations?workspaceId=w1&limit=100", "list_conversations") == (
        "head page",
        "w1",
        None,
    )
    assert classify("/api/attention-items?status=open", "list_attention_items") == (
        "attention",
        None,
        None,
    )
    assert classify("/api/workspaces/w2/conversations/status-counts", "status_counts") == (
        "status counts",
        "w2",
        None,
    )
    assert classify("/api/conversations/c1/attachments", "get_attachments") == (
        "attachments",
        None,
        "c1",
    )
    assert classify("/api/conversations/c1", "get_conversation") == ("details", None, "c1")
