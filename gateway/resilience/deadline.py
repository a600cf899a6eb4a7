"""Deadlines: no downstream call outlives the client request it serves.

A request gets one absolute deadline when it starts (`request_deadline`: the configured `deadline_ms`, shortened
by the client's `funnel-timeout-ms` header); the executor stamps it on every call (`Call.deadline`), so a later
level gets only what the earlier ones left. Each layer that waits keeps it itself, with its own clear error: an
HTTP attempt's timeout is min(service timeout, time left), a retry never sleeps past it, the bulkhead never
queues past it. `DeadlineTransport`, the outermost layer, refuses a call whose time is already up and is the
backstop for any transport below that would ignore the deadline.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from typing import Any, Final

from instrumentation.call import Call, time_left
from instrumentation.errors import DeadlinePassed, DownstreamTimeout

from ..transport.base import Transport
from .window import Clock

__all__ = ["TIMEOUT_HEADER", "DeadlineTransport", "parse_timeout_ms", "request_deadline"]

TIMEOUT_HEADER: Final = "funnel-timeout-ms"

# The layers below time out at the deadline itself, each with a more precise error (BULKHEAD_FULL for a queue
# wait); the backstop fires a little later so that it never races them, and only catches a transport that
# ignores `Call.deadline`.
_BACKSTOP_GRACE_S: Final = 0.05


def request_deadline(
    deadline_ms: float, timeout_ms: float | None = None, *, now: float | None = None
) -> float:
    """When a request must be answered, on `time.monotonic()`: `deadline_ms` from now, or the client's
    `timeout_ms` when that is shorter (a client may ask for less time, never for more)."""
    budget = deadline_ms if timeout_ms is None else min(deadline_ms, timeout_ms)
    return (time.monotonic() if now is None else now) + budget / 1000


def parse_timeout_ms(value: str) -> float:
    """The `funnel-timeout-ms` header as milliseconds; ValueError, with a message for the client, when it is not a
    positive number."""
    try:
        ms = float(value.strip())
    except ValueError:
        ms = math.nan
    if not 0 < ms < math.inf:
        raise ValueError(f"{TIMEOUT_HEADER} must be a positive number of milliseconds, got {value!r}")
    return ms


class DeadlineTransport:
    """Fails a call whose deadline has passed without sending it; bounds the rest by the deadline."""

    def __init__(self, inner: Transport, *, clock: Clock = time.monotonic) -> None:
        self.inner = inner
        self._clock = clock

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        left = time_left(call, self._clock())
        if left is None:
            return await self.inner.send(call, headers)
        if left <= 0:
            raise DeadlinePassed.before(call)
        backstop = asyncio.timeout(left + _BACKSTOP_GRACE_S)
        try:
            async with backstop:
                return await self.inner.send(call, headers)
        except TimeoutError:
            if not backstop.expired():  # a TimeoutError of the transport's own, not ours
                raise
            message = f"{call.service}: no answer before the request deadline"
            raise DownstreamTimeout(message, service=call.service, call=call) from None

    async def close(self) -> None:
        await self.inner.close()
