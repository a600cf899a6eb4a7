"""registry.client against a real gateway: it registers, keeps its lease, registers again when the
registry lost it, leaves on stop; a refusal stops it with the gateway's message. An example service started with
`--registry` joins and leaves the same way."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from examples.services.cluster import Cluster
from registry.client import RegistrationRefused, RegistryClient

from ..processes import start_child
from .conftest import REGISTRY, TOKEN, Serve, Served

REVIEWED = "{ product(id: 2) { name reviews { rating } } }"


async def instances(served: Served) -> list[str]:
    return [i["id"] for i in (await served.registry())["services"].get("reviews", {}).get("instances", [])]


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


async def test_the_client_registers_renews_comes_back_and_leaves(serve: Serve, cluster: Cluster) -> None:
    served = await serve()
    before = served.gateway.current.id
    client = RegistryClient(served.base, "reviews", cluster.graphql_url("reviews"), token=TOKEN, ttl_s=1)
    await client.start()
    try:

        async def registered() -> bool:
            return client.registration is not None

        await until(registered)
        assert client.registration is not None
        first = client.registration.id
        assert client.registration.schema_version == served.gateway.current.id != before
        await asyncio.sleep(1.5)  # past its first lease: the heartbeats kept it
        assert await instances(served) == [first]
        assert "errors" not in await served.query(REVIEWED)

        # The registry forgets it (as a Redis that lost its data might): the next heartbeat registers again.
        status, _ = await served.call("DELETE", f"/registry/services/reviews/instances/{first}")
        assert status == 204

        async def back() -> bool:
            return await instances(served) == [first]

        await until(back)
    finally:
        await client.stop()
    assert await instances(served) == []
    assert served.gateway.current.id == before


async def test_a_refused_client_stops_with_the_gateways_message(serve: Serve, cluster: Cluster) -> None:
    served = await serve()
    client = RegistryClient(served.base, "reviews", cluster.graphql_url("reviews"), token="wrong", ttl_s=1)
    await client.start()
    try:

        async def refused() -> bool:
            return client.refused is not None

        await until(refused)
    finally:
        await client.stop()
    assert isinstance(client.refused, RegistrationRefused)
    assert (client.refused.status, client.refused.message) == (
        403,
        "The token is neither registry.token nor the token of registry.tokens for this service.",
    )
    assert "wrong" not in str(client.refused)
    assert await instances(served) == []


async def test_an_example_service_joins_with_registry_and_leaves_on_sigterm(serve: Serve) -> None:
    served = await serve(REGISTRY.replace("ttl_s: 10", "ttl_s: 2"))
    command = (sys.executable, "-m", "examples.services.reviews", "--port", "0", "--registry", served.base)
    async with start_child(*command) as child:  # the token is not in $FUNNEL_REGISTRY_TOKEN
        assert await child.exit_code() == 1
        assert child.errors() == "reviews: --registry needs the token in $FUNNEL_REGISTRY_TOKEN\n"
    async with start_child(
        *command, "--registry-token-env", "REVIEWS_TOKEN", env={"REVIEWS_TOKEN": TOKEN}
    ) as child:
        await child.read_until("reviews listening on ")

        async def joined() -> bool:
            return len(await instances(served)) == 1

        await until(joined)
        answer = await served.query(REVIEWED)
        assert "errors" not in answer, answer
        assert await child.stop(signal.SIGTERM) == 0
    assert await instances(served) == []
    assert (await served.query(REVIEWED))["errors"][0][
        "message"
    ] == "Cannot query field 'reviews' on type 'Product'."
