"""Background tasks owned by something with a lifetime (an app's cleanup context, a key set's start and stop):
started, then cancelled and awaited, so that none outlives its owner or dies unawaited.

    async with background(self._run(), "funnel-schema-watcher"):
        yield

    self._task = start_background(self._run(), "funnel-jwks-refresh")
    ...
    await stop_background(self._task)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

__all__ = ["background", "start_background", "stop_background"]


def start_background(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(work, name=name)


async def stop_background(task: asyncio.Task[None] | None) -> None:
    """Cancel the task and wait until it has ended (its own failure, if any, is not raised here)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def background(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[asyncio.Task[None]]:
    """`work` runs while the block does."""
    task = start_background(work, name)
    try:
        yield task
    finally:
        await stop_background(task)
