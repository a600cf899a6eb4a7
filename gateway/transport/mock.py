"""A transport that answers from a function, for unit tests of a single module (as httpx.MockTransport)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from instrumentation.call import Call

__all__ = ["MockHandler", "MockTransport"]

# Returns the answer (or an awaitable of it), or raises a DownstreamError to simulate a failure.
MockHandler = Callable[[Call, Mapping[str, str]], Any | Awaitable[Any]]


class MockTransport:
    """Answers every call with `handler(call, headers)` and records what was sent.

    `calls[i]` was sent with `headers[i]`; keeping the calls in a list of their own lets a test compare them
    directly with the calls it expects.
    """

    def __init__(self, handler: MockHandler) -> None:
        self.handler = handler
        self.calls: list[Call] = []
        self.headers: list[dict[str, str]] = []
        self.closed = False

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        self.calls.append(call)
        self.headers.append(dict(headers))
        answer = self.handler(call, headers)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    async def close(self) -> None:
        self.closed = True
