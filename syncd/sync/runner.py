"""One complete sync (``syncd sync``): every stream of every scope, failures kept per pass."""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, Sequence

import structlog
from sqlalchemy import Connection, select

from syncd.errors import AuthError, SyncdError
from syncd.store import tables
from syncd.sync import plan
from syncd.sync.attention import attention_pass
from syncd.sync.context import SyncContext
from syncd.sync.hot import hot_pass
from syncd.sync.reconcile import reconcile_pass
from syncd.sync.result import PassResult
from syncd.sync.state import read_state, record_failure, scope_key
from syncd.sync.status_counts import status_counts_pass

log = structlog.get_logger(__name__)

PassFn = Callable[[SyncContext, str | None], Awaitable[PassResult]]


def known_workspaces(conn: Connection) -> list[str]:
    """Workspaces seen in the mirror's conversations (the API has no list of workspaces)."""
    c = tables.conversations
    query = select(c.c.workspace_id).distinct().where(c.c.workspace_id.is_not(None))
    return sorted(conn.scalars(query))


async def run_pass(
    ctx: SyncContext, stream: str, scope: str | None, work: Callable[[], Awaitable[PassResult]]
) -> PassResult:
    """Run one pass; a failure is logged, recorded in ``sync_state`` and returned, not raised."""
    key = scope_key(scope)
    auth_failed = False
    try:
        result = await work()
    except SyncdError as exc:
        message = str(exc)
        auth_failed = isinstance(exc, AuthError)
        log.error("pass_failed", stream=stream, scope=key, error=message)
    except Exception as exc:  # a bug must not take the other passes down with it
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.error(
            "pass_crashed",
            stream=stream,
            scope=key,
            error=message,
            traceback=traceback.format_exc(),
        )
    else:
        log.info(
            "pass_done",
            stream=stream,
            scope=key,
            rows=result.rows_seen,
            details=result.details_fetched,
            events=result.events,
            skipped=result.skipped,
        )
        return result
    now = ctx.clock()
    await ctx.write(lambda conn: record_failure(conn, key, stream, now, message))
    failed = PassResult(stream, key).fail(message)
    failed.auth_failed = auth_failed
    return failed


def reconcile_due(conn: Connection, scope: str, interval_s: float, ctx: SyncContext) -> bool:
    """Never completed, unfinished, or older than the reconcile interval."""
    state = read_state(conn, scope, "reconcile")
    if state.pass_started_at is not None:
        return True
    return plan.is_due(state.last_success_at, interval_s, ctx.clock())


async def sync_once(
    ctx: SyncContext, *, full: bool = False, workspaces: Sequence[str] | None = None
) -> list[PassResult]:
    """Every stream once: reconcile first where due (the backfill), then hot and attention,
    then status counts; a status-count drift reconciles that scope at once (self-healing)."""
    configured = list(workspaces or ctx.settings.sync.workspaces)
    scopes: list[str | None] = list(configured) if configured else [None]
    interval = ctx.settings.sync.reconcile_interval_s
    results: list[PassResult] = []
    stopped: set[str] = set()

    async def run(stream: str, scope: str | None, fn: PassFn) -> PassResult:
        result = await run_pass(ctx, stream, scope, lambda: fn(ctx, scope))
        results.append(result)
        if result.auth_failed:
            stopped.add(scope_key(scope))
        return result

    reconciled: set[str] = set()
    for scope in scopes:
        key = scope_key(scope)
        due = full or await ctx.read(lambda conn, k=key: reconcile_due(conn, k, interval, ctx))  # type: ignore[misc]
        if due:
            await run("reconcile", scope, reconcile_pass)
            reconciled.add(key)
    for scope in scopes:
        if scope_key(scope) in stopped:
            continue
        await run("hot", scope, hot_pass)
        await run("attention", scope, attention_pass)
    counted = configured or await ctx.read(known_workspaces)
    for workspace in counted:
        scope = workspace if configured else None
        if scope_key(scope) in stopped:
            continue
        result = await run(
            "status_counts",
            workspace,
            lambda c, _s, w=workspace: status_counts_pass(c, w),  # type: ignore[misc]
        )
        if result.heal and scope_key(scope) not in reconciled:
            log.warning("status_count_drift", workspace=workspace, drift=result.drift)
            reconciled.add(scope_key(scope))
            await run("reconcile", scope, reconcile_pass)
    return results
