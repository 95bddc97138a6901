"""Small asyncio building blocks of the passes: read-ahead, and gathering that cleans up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")


async def prefetch(source: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Yield ``source``'s items while already fetching the next one."""
    pending: asyncio.Task[T] = asyncio.ensure_future(anext(source))
    try:
        while True:
            try:
                item = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(source))
            yield item
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        elif not pending.cancelled():
            # A read-ahead that failed after the consumer stopped: its error is not ours to
            # raise (the walk already ended), but it must be retrieved, not logged as lost.
            pending.exception()


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run ``awaitables`` concurrently and return their results in order.

    Unlike ``asyncio.gather``, the first failure cancels the others and waits for them before
    it is raised, so no request outlives the pass that started it.
    """
    tasks = [asyncio.ensure_future(aw) for aw in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """``gather_all`` of two awaitables of different types."""
    results: list[Any] = await gather_all([first, second])
    return results[0], results[1]
