"""One complete sync (``syncd sync``): every stream of every scope, failures kept per pass."""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, Sequence

import structlog
from sqlalchemy import Connection

from syncd.errors import AuthError, SyncdError
from syncd.sync import plan
from syncd.sync.context import SyncContext
from syncd.sync.mirror import Mirror
from syncd.sync.reconcile import reconcile_pass
from syncd.sync.result import PassResult
from syncd.sync.state import scope_key
from syncd.sync.streams import STREAMS, Stream, heal_after_hot, workspaces_of

log = structlog.get_logger(__name__)


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
    await ctx.write(lambda conn: Mirror(conn).record_failure(key, stream, now, message))
    failed = PassResult(stream, key).fail(message)
    failed.auth_failed = auth_failed
    return failed


def reconcile_due(conn: Connection, scope: str, interval_s: float, ctx: SyncContext) -> bool:
    """Never completed, unfinished, or older than the reconcile interval."""
    state = Mirror(conn).read_state(scope, "reconcile")
    if state.pass_started_at is not None:
        return True
    return plan.is_due(state.last_success_at, interval_s, ctx.clock())


async def sync_once(
    ctx: SyncContext,
    *,
    full: bool = False,
    deep: bool = False,
    workspaces: Sequence[str] | None = None,
) -> list[PassResult]:
    """Every stream of ``syncd.sync.streams.STREAMS`` once per scope, in the table's order:
    the reconcile where due (the backfill; always with ``full``/``deep``), status counts,
    hot (then heal, for a drift the counts showed that outlived it), refresh, attention, purge."""
    configured = list(workspaces or ctx.settings.sync.workspaces)
    scopes: list[str | None] = list(configured) if configured else [None]
    results: list[PassResult] = []
    for scope in scopes:
        results += await _sync_scope(ctx, scope, full=full, deep=deep)
    return results


async def _sync_scope(
    ctx: SyncContext, scope: str | None, *, full: bool, deep: bool
) -> list[PassResult]:
    """The streams of one scope; a 401/403 stops the scope (no retry storm)."""
    key = scope_key(scope)
    sync = ctx.settings.sync
    results: list[PassResult] = []
    reconciled = False

    async def run(
        stream: str, label: str | None, work: Callable[[], Awaitable[PassResult]]
    ) -> PassResult:
        result = await run_pass(ctx, stream, label, work)
        results.append(result)
        return result

    async def reconcile() -> None:
        nonlocal reconciled
        reconciled = True
        await run("reconcile", scope, lambda: reconcile_pass(ctx, scope, deep=deep))

    for stream in STREAMS:
        if any(result.auth_failed for result in results):
            break
        if stream.name == "reconcile":
            if (
                full
                or deep
                or await ctx.read(lambda c: reconcile_due(c, key, sync.reconcile_interval_s, ctx))
            ):
                await reconcile()
            continue
        if stream.interval_s(sync) <= 0:
            continue
        if stream.per_workspace:
            for workspace in await ctx.read(lambda conn: workspaces_of(conn, scope)):
                await run(stream.name, workspace, _bound(stream, ctx, workspace))
            continue
        started = ctx.clock()
        result = await run(stream.name, scope, _bound(stream, ctx, scope))
        wants_reconcile = stream.name == "hot" and result.ok
        if wants_reconcile and await heal_after_hot(ctx, scope, started, run) and not reconciled:
            await reconcile()
    return results


def _bound(
    stream: Stream, ctx: SyncContext, scope: str | None
) -> Callable[[], Awaitable[PassResult]]:
    assert stream.run is not None
    run = stream.run
    return lambda: run(ctx, scope)
