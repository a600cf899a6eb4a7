"""In-flight de-duplication: identical downstream queries sent while one is already on its way share its answer.

Identical means same service, same document (or REST path and parameters), same variables and same forwarded
headers; the gateway's own per-request headers (request id, trace context) are left out of the comparison, and
the shared call carries the first caller's. Mutations are never shared, nor are the calls of a request run with
batching off (`unshared()`): that is the N+1 baseline, whose calls are counted as they would be sent.

The call runs under its first caller's deadline; a caller that gives up (its own deadline, a cancelled request)
leaves the others waiting, and the call is cancelled only when nobody waits for it any more. Each caller gets
its own objects, since the executor merges into those it receives: the first caller answered takes the answer
itself, and the others copies of it as it was then (one JSON snapshot, decoded for each of them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import orjson

from instrumentation.call import Call, GraphQLCall

from ..transport.base import Transport

__all__ = ["PER_REQUEST_HEADERS", "InflightTransport", "unshared"]

# Headers the gateway adds to every call of a request: different for every request, so not part of "identical".
PER_REQUEST_HEADERS: Final = frozenset({"x-request-id", "traceparent", "tracestate", "baggage"})


_SHARING: ContextVar[bool] = ContextVar("funnel_inflight_sharing", default=True)


@contextlib.contextmanager
def unshared() -> Iterator[None]:
    """Within it (and the tasks started within it), every call is sent, identical or not."""
    token = _SHARING.set(False)
    try:
        yield
    finally:
        _SHARING.reset(token)


@dataclass(slots=True)
class _Flight:
    task: asyncio.Future[Any]
    waiters: int = 0
    joined: int = 0
    handed: bool = False  # the answer itself went to a caller (who may change it from then on)
    snapshot: bytes | None = None  # the answer as it was then, for the callers still waiting


def _plain(value: object) -> object:
    if isinstance(value, Mapping):  # variables are read-only mappings
        return dict(value)
    raise TypeError(type(value).__name__)


def _identity(call: Call, headers: Mapping[str, str]) -> bytes | None:
    """What makes two calls identical, as bytes; None for a call that cannot be compared (not JSON)."""
    forwarded = sorted((k.lower(), v) for k, v in headers.items() if k.lower() not in PER_REQUEST_HEADERS)
    if isinstance(call, GraphQLCall):
        what: list[Any] = [call.service, "graphql", call.query, call.variables, forwarded]
    else:
        what = [call.service, "rest", call.method, call.path, call.params, call.body, forwarded]
    try:
        return orjson.dumps(what, default=_plain, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None


class InflightTransport:
    """Wraps a service's transport; `shared` counts the calls answered by another caller's call."""

    def __init__(self, inner: Transport, *, enabled: bool = True) -> None:
        self.inner = inner
        self.enabled = enabled
        self.shared = 0
        self._flights: dict[bytes, _Flight] = {}

    async def send(self, call: Call, headers: Mapping[str, str]) -> Any:
        if not self.enabled or call.operation != "query" or not _SHARING.get():
            return await self.inner.send(call, headers)
        identity = _identity(call, headers)
        if identity is None:
            return await self.inner.send(call, headers)
        flight = self._flights.get(identity)
        if flight is None or flight.task.done():
            # A call that is done is not joined (between its end and `_end`): its answer may be a caller's own
            # already, changed by it.
            flight = _Flight(asyncio.ensure_future(self.inner.send(call, headers)))
            self._flights[identity] = flight
            flight.task.add_done_callback(lambda _: self._end(identity, flight))
        else:
            self.shared += 1
        flight.waiters += 1
        flight.joined += 1
        try:
            answer = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()
            raise
        finally:
            flight.waiters -= 1
        # Nobody joins a call that is done: the callers still waiting now are all that will come for it.
        self._end(identity, flight)
        if not flight.handed:
            flight.handed = True
            if flight.waiters:
                flight.snapshot = orjson.dumps(answer)
            return answer
        assert flight.snapshot is not None  # this caller was waiting when the answer was handed out
        return orjson.loads(flight.snapshot)

    def _end(self, identity: bytes, flight: _Flight) -> None:
        if self._flights.get(identity) is flight:
            del self._flights[identity]

    async def close(self) -> None:
        await self.inner.close()
