"""In-flight de-duplication: identical downstream queries in flight share one call, counted by the services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from examples.services.cluster import Cluster, run_cluster
from gateway.cache import InflightTransport
from gateway.transport import MockTransport
from instrumentation.call import Call, GraphQLCall, RestCall
from instrumentation.errors import DownstreamTimeout
from registry.config import parse_config
from registry.errors import ConfigError

from .conftest import gateway_for

QUERY = "{ orders(first: 5) { id product { name } } }"


@pytest.fixture
async def slow_cluster() -> AsyncIterator[Cluster]:
    """Every service answers after 300 ms, so that requests started together are in flight together."""
    async with run_cluster(latency_ms=300) as cluster:
        yield cluster


async def requests(cluster: Cluster) -> dict[str, int]:
    return {name: (await cluster.stats(name))["requests"] for name in ("catalog", "orders")}


async def test_identical_requests_in_flight_share_each_downstream_call(slow_cluster: Cluster) -> None:
    async with gateway_for(slow_cluster) as gateway:
        alone = await gateway.execute(QUERY)
        await slow_cluster.reset_stats()
        answers = await asyncio.gather(*(gateway.execute(QUERY, request_id=f"r{i}") for i in range(3)))
        assert answers == [alone] * 3
        assert await requests(slow_cluster) == {"catalog": 1, "orders": 1}
        stacks: Any = gateway.clients.transports
        assert (stacks["orders"].inflight.shared, stacks["catalog"].inflight.shared) == (2, 2)


async def test_a_shared_answer_is_each_callers_own_copy(slow_cluster: Cluster) -> None:
    # The same orders call, then different selections below it: each request merges into its own objects.
    async with gateway_for(slow_cluster) as gateway:
        names, prices = await asyncio.gather(
            gateway.execute("{ orders(first: 3) { id product { name } } }"),
            gateway.execute("{ orders(first: 3) { id product { price } } }"),
        )
    assert [set(o["product"]) for o in names["data"]["orders"]] == [{"name"}] * 3
    assert [set(o["product"]) for o in prices["data"]["orders"]] == [{"price"}] * 3


async def test_different_forwarded_headers_are_different_calls(slow_cluster: Cluster) -> None:
    async with gateway_for(slow_cluster) as gateway:
        await slow_cluster.reset_stats()
        await asyncio.gather(
            gateway.execute(QUERY, headers={"Authorization": "Bearer alice"}),
            gateway.execute(QUERY, headers={"Authorization": "Bearer bob"}),
            gateway.execute(QUERY, headers={"Authorization": "Bearer bob"}),
        )
        # orders is told who asks: two callers, two calls; catalog is not: the same call for all three
        assert await requests(slow_cluster) == {"catalog": 1, "orders": 2}


async def test_mutations_are_never_shared(slow_cluster: Cluster) -> None:
    mutation = 'mutation { updatePrice(productId: "3", price: 9.5) { id price } }'
    async with gateway_for(slow_cluster) as gateway:
        await slow_cluster.reset_stats()
        answers = await asyncio.gather(gateway.execute(mutation), gateway.execute(mutation))
    assert answers == [{"data": {"updatePrice": {"id": "3", "price": 9.5}}}] * 2
    assert (await slow_cluster.stats("catalog"))["requests"] == 2


async def test_the_switch_turns_it_off_and_batching_off_is_never_shared(slow_cluster: Cluster) -> None:
    async with gateway_for(slow_cluster, "cache:\n  inflight: false\n") as gateway:
        await slow_cluster.reset_stats()
        await asyncio.gather(gateway.execute(QUERY), gateway.execute(QUERY))
        assert await requests(slow_cluster) == {"catalog": 2, "orders": 2}
    async with gateway_for(slow_cluster) as gateway:
        await slow_cluster.reset_stats()
        # one request with batching off: five orders, five product calls even where the products repeat
        await asyncio.gather(gateway.execute(QUERY, batching=False), gateway.execute(QUERY, batching=False))
        assert await requests(slow_cluster) == {"catalog": 10, "orders": 2}


async def test_the_config_key_is_checked() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "services:\n  a: {url: 'http://127.0.0.1:1/'}\ncache:\n  inflight: sometimes\n", "g.yaml"
        )
    assert str(caught.value) == "g.yaml:4: cache.inflight: inflight must be true or false, got 'sometimes'"


# -- the wrapper alone --------------------------------------------------------------------------------------


async def test_a_caller_giving_up_leaves_the_call_to_the_others_and_the_last_one_cancels_it() -> None:
    release = asyncio.Event()
    started = 0

    async def answer(call: Call, headers: Any) -> Any:
        nonlocal started
        started += 1
        await release.wait()
        return {"data": {"x": [1, 2]}}

    inner = MockTransport(answer)
    transport = InflightTransport(inner)
    call = RestCall("s", "/items", {"ids": "1,2"})
    first = asyncio.ensure_future(transport.send(call, {"x-request-id": "a"}))
    second = asyncio.ensure_future(transport.send(call, {"x-request-id": "b"}))
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0.01)
    release.set()
    assert await second == {"data": {"x": [1, 2]}}
    assert (started, transport.shared) == (1, 1)

    release.clear()
    lonely = asyncio.ensure_future(transport.send(call, {}))
    await asyncio.sleep(0.01)
    lonely.cancel()
    await asyncio.sleep(0.01)
    assert started == 2 and transport._flights == {}


async def test_a_failure_is_shared_too_and_the_next_call_is_sent_again() -> None:
    count = 0

    async def fail(call: Call, headers: Any) -> Any:
        nonlocal count
        count += 1
        await asyncio.sleep(0.01)
        raise DownstreamTimeout("s: no answer within 10 ms", service="s", call=call)

    transport = InflightTransport(MockTransport(fail))
    call = GraphQLCall("s", "{ a }", {"v": 1})
    results = await asyncio.gather(*(transport.send(call, {}) for _ in range(3)), return_exceptions=True)
    assert [str(r) for r in results] == ["s: no answer within 10 ms"] * 3 and count == 1
    with pytest.raises(DownstreamTimeout):
        await transport.send(call, {})
    assert count == 2


async def test_the_first_caller_answered_takes_the_answer_and_a_caller_after_its_end_sends_again() -> None:
    sent = 0

    async def answer(call: Call, headers: Any) -> Any:
        nonlocal sent
        sent += 1
        return {"data": {"x": [1, 2]}}  # at once: the call ends in its first step

    transport = InflightTransport(MockTransport(answer))
    call = GraphQLCall("s", "{ x }", {})
    first = asyncio.ensure_future(transport.send(call, {}))
    waiting = asyncio.ensure_future(transport.send(call, {}))
    await asyncio.sleep(0)  # both have joined the one call, which is about to run
    # Scheduled after the call's step and before its end is noted: the call is done, so it is not joined.
    late = asyncio.ensure_future(transport.send(call, {}))
    answers = [await first, await waiting, await late]
    answers[0]["data"]["x"].append(3)  # the first caller's to change: the others have their own objects
    assert answers == [{"data": {"x": [1, 2, 3]}}, {"data": {"x": [1, 2]}}, {"data": {"x": [1, 2]}}]
    assert (sent, transport.shared, transport._flights) == (2, 1, {})
