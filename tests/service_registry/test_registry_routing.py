"""Registered instances are routed to: a second instance of a service of the config shares its calls, one of a
service that joined too; a removed one is no longer called (each service counts what it received)."""

from __future__ import annotations

from examples.services.cluster import Cluster

from .conftest import Extra, Serve, Served

INSTANCES = "/registry/services/{}/instances"
CALLS = 40


async def calls(served: Served, query: str) -> None:
    for _ in range(CALLS):
        answer = await served.query(query)
        assert "errors" not in answer, answer


async def test_an_instance_of_a_configured_service_shares_its_calls_until_it_leaves(
    serve: Serve, cluster: Cluster, extra_catalog: Extra
) -> None:
    served = await serve()
    before = served.gateway.current.id
    status, body = await served.call("POST", INSTANCES.format("catalog"), {"url": extra_catalog.url})
    assert (status, body["schema_version"]) == (201, before)  # an instance more: the same schema
    listed = await served.registry()
    [instance] = listed["services"]["catalog"]["instances"]
    assert instance["health"] == {"circuit": "closed", "healthy": True}

    await cluster.reset_stats()
    extra_catalog.reset()
    await calls(served, "{ product(id: 3) { name } }")
    first, second = (await cluster.stats("catalog"))["requests"], extra_catalog.requests()
    assert first + second == CALLS and first > 0 and second > 0, (first, second)

    status, _ = await served.call("DELETE", INSTANCES.format("catalog") + "/" + body["id"])
    assert status == 204
    await cluster.reset_stats()
    extra_catalog.reset()
    await calls(served, "{ product(id: 3) { name } }")
    assert ((await cluster.stats("catalog"))["requests"], extra_catalog.requests()) == (CALLS, 0)


async def test_a_service_that_joined_with_two_instances_is_served_by_both(
    serve: Serve, cluster: Cluster, extra_reviews: Extra
) -> None:
    served = await serve()
    for url in (cluster.graphql_url("reviews"), extra_reviews.url):
        status, body = await served.call("POST", INSTANCES.format("reviews"), {"url": url})
        assert status == 201, body
    await cluster.reset_stats()
    extra_reviews.reset()
    await calls(served, "{ reviews(first: 1) { rating } }")
    first, second = (await cluster.stats("reviews"))["requests"], extra_reviews.requests()
    assert first + second == CALLS and first > 0 and second > 0, (first, second)
