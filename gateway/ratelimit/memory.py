"""Token buckets in this process, one per client, the least recently seen forgotten beyond `max_clients`."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from .bucket import Decision, refill

__all__ = ["MemoryBuckets"]

_MAX_CLIENTS: Final = 100_000  # a forgotten client starts again with a full bucket: a bound, not a loophole


class MemoryBuckets:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = _MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, when)

    async def take(self, client: str) -> Decision:
        return self.take_now(client)

    def take_now(self, client: str) -> Decision:
        now = self._clock()
        tokens, when = self._buckets.pop(client, (float(self.burst), now))
        tokens = refill(tokens, now - when, self.rate, self.burst)
        decision = Decision(True) if tokens >= 1 else Decision(False, (1 - tokens) / self.rate)
        self._buckets[client] = (tokens - 1 if decision.allowed else tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return decision

    async def close(self) -> None:
        return None
