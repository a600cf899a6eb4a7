"""Transports taken out of use while calls may still be running on them: each is closed once it is idle.

A service or an instance removed at run time (the registry, a config change) must not cut the calls it is
serving: they finish, and the transport is closed after. Nothing tells a transport's caller when its last call
ends without a wrapper on every call's path, so the retired transport is looked at again every
`_POLL_S` until it is idle — a cost paid only while something is retiring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from registry.background import start_background, stop_background

from .base import Transport

__all__ = ["Retirements"]

_POLL_S: Final = 0.05


class Retirements:
    """The transports retired by one owner (a pool, the service clients), closed when idle or at `close()`."""

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[None], Transport] = {}
        self._left: list[Transport] = []  # retired with no event loop running: closed by close()

    def retire(self, transport: Transport, busy: Callable[[], bool]) -> None:
        """Close `transport` as soon as `busy()` is false; never blocks."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # at start-up, before serving: nothing can be in flight, but close() is async
            self._left.append(transport)
            return
        task = start_background(self._close_when_idle(transport, busy), "funnel-retiring-transport")
        self._tasks[task] = transport
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    @property
    def pending(self) -> int:
        """Transports retired and not yet closed."""
        return len(self._tasks) + len(self._left)

    async def _close_when_idle(self, transport: Transport, busy: Callable[[], bool]) -> None:
        while busy():
            await asyncio.sleep(_POLL_S)
        await transport.close()

    async def close(self) -> None:
        """Closes every retired transport now, idle or not (the owner is closing: so are its calls)."""
        tasks, self._tasks = self._tasks, {}
        for task in tasks:
            await stop_background(task)
        # Those still waiting (or cancelled while closing: closing again is harmless) are closed here.
        left = [t for task, t in tasks.items() if task.cancelled()] + self._left
        self._left = []
        results = await asyncio.gather(*(t.close() for t in left), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
