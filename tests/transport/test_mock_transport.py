"""MockTransport: answers from a function and records what it was sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from gateway.transport import MockTransport, Transport
from instrumentation.call import Call, GraphQLCall, RestCall
from instrumentation.errors import DownstreamTimeout

CALL = GraphQLCall(service="catalog", query="{ x }", variables={})


async def test_sync_handler_answers_and_calls_are_recorded() -> None:
    transport = MockTransport(lambda call, headers: {"data": {"x": headers.get("authorization")}})
    rest = RestCall(service="catalog", path="/items", params={"ids": "1"})

    first = await transport.send(CALL, {"authorization": "t"})
    await transport.send(rest, {})

    assert first == {"data": {"x": "t"}}
    assert transport.calls == [CALL, rest]
    assert transport.headers == [{"authorization": "t"}, {}]


async def test_async_handler_is_awaited() -> None:
    async def handler(call: Call, headers: Mapping[str, str]) -> Any:
        return [call.service]

    assert await MockTransport(handler).send(CALL, {}) == ["catalog"]


async def test_handler_errors_reach_the_caller_and_the_call_is_still_recorded() -> None:
    def handler(call: Call, headers: Mapping[str, str]) -> Any:
        raise DownstreamTimeout("catalog: no answer within 1000 ms", service="catalog", call=call)

    transport = MockTransport(handler)

    with pytest.raises(DownstreamTimeout, match="no answer"):
        await transport.send(CALL, {})
    assert transport.calls == [CALL]


async def test_close_is_recorded() -> None:
    transport: Transport = MockTransport(lambda call, headers: None)
    await transport.close()
    assert isinstance(transport, MockTransport) and transport.closed
