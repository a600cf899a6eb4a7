"""A bulkhead per service: at most `max_in_flight` calls at once, at most `max_queue` more waiting in line.

A slow service then holds a bounded number of the gateway's connections and tasks instead of all of them, and a
call that cannot get a slot fails clearly with BULKHEAD_FULL: at once when the line is full, or when its wait
reaches the request's deadline. Slots pass straight from a finishing call to the first in line (first come,
first served).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from instrumentation.call import Call, time_left
from instrumentation.errors import BulkheadFull
from registry.resilience import BulkheadPolicy

from ..transport.base import Transport
from .window import Clock

__all__ = ["Bulkhead"]


class Bulkhead:
    def __init__(self, inner: Transport, policy: BulkheadPolicy, *, clock: Clock = time.monotonic) -> None:
        self.inner = inner
        self.policy = policy
        self.in_flight = 0
        self.rejected = 0  # calls refused since start
        self._clock = clock
        self._line: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._line)

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        await self._acquire(call)
        try:
            return await self.inner.send(call, headers)
        finally:
            self._release()

    async def _acquire(self, call: Call) -> None:
        if self.in_flight < self.policy.max_in_flight and not self.waiting:
            self.in_flight += 1
            return
        if self.waiting >= self.policy.max_queue:
            raise self._full(
                call, f"too many calls in flight ({self.in_flight} running, {self.waiting} waiting)"
            )
        left = time_left(call, self._clock())
        if left is not None and left <= 0:
            raise self._out_of_time(call)
        waiter = asyncio.get_running_loop().create_future()
        self._line.append(waiter)
        wait = asyncio.timeout(left)
        try:
            async with wait:
                await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as we gave up: pass it on
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):  # _release may have taken it off the line already
                    self._line.remove(waiter)
            if isinstance(error, TimeoutError) and wait.expired():
                raise self._out_of_time(call) from None
            raise

    def _release(self) -> None:
        while self._line:
            waiter = self._line.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the first in line: in_flight stays the same
                return
        self.in_flight -= 1

    def _full(self, call: Call, why: str) -> BulkheadFull:
        self.rejected += 1
        return BulkheadFull(f"{call.service}: {why}", service=call.service, call=call)

    def _out_of_time(self, call: Call) -> BulkheadFull:
        return self._full(call, f"no free call slot before the request deadline ({self.in_flight} running)")

    async def close(self) -> None:
        await self.inner.close()
