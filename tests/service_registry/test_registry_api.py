"""The registry's HTTP API on a real gateway over the example services: registering, renewing, leaving and
expiring change what the gateway serves and routes (counted by the services); every refusal is exact and
changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from examples.services import reviews
from examples.services.cluster import Cluster
from examples.services.common import start_app
from examples.services.reviews import SDL as REVIEWS_SDL
from examples.services.topology import free_port
from gateway.registry import Instance
from gateway.server.app import WATCHER
from gateway.server.registry_api import REGISTRY as REGISTRY_KEY

from .conftest import AUTH, CATALOG_TOKEN, REGISTRY, TOKEN, Extra, Serve, Served

INSTANCES = "/registry/services/{}/instances"
REVIEWED = "{ product(id: 2) { name reviews { rating } } }"
UNKNOWN_REVIEWS = "Cannot query field 'reviews' on type 'Product'."


async def register(served: Served, name: str, body: dict[str, Any], headers: Any = None) -> tuple[int, Any]:
    return await served.call("POST", INSTANCES.format(name), body, headers)


def error_message(body: Any) -> str:
    assert list(body) in (["errors"], ["errors", "problems"]), body
    [error] = body["errors"]
    return str(error["message"])


async def reviews_count(cluster: Cluster) -> int:
    return (await cluster.stats("reviews"))["requests"]


async def test_a_service_joins_is_served_and_leaves(serve: Serve, cluster: Cluster) -> None:
    served = await serve()
    before = served.gateway.current.id
    assert (await served.query(REVIEWED))["errors"][0]["message"] == UNKNOWN_REVIEWS

    url = cluster.graphql_url("reviews")
    status, body = await register(served, "reviews", {"url": url})
    assert status == 201, body
    assert body == {
        "service": "reviews",
        "id": body["id"],
        "ttl_s": 10,
        "schema_version": served.gateway.current.id,
    }
    assert body["schema_version"] != before
    registered = await served.registry()
    assert registered["version"] == 1 and registered["schema_version"] == body["schema_version"]
    [instance] = registered["services"]["reviews"]["instances"]
    assert (instance["id"], instance["url"], instance["schema"]) == (body["id"], url, "introspect")
    assert 9 < instance["expires_in_s"] <= 10

    await cluster.reset_stats()
    answer = await served.query(REVIEWED)
    assert "errors" not in answer, answer
    assert answer["data"]["product"]["name"]
    assert await reviews_count(cluster) == 1  # one _entities call

    # The same URL again: an update (200), not another instance; the schema is the same.
    status, again = await register(served, "reviews", {"url": url})
    assert (status, again["id"], again["schema_version"]) == (200, body["id"], body["schema_version"])

    status, renewed = await served.call("PUT", INSTANCES.format("reviews") + "/" + body["id"], {"ttl_s": 5})
    assert (status, renewed) == (200, {"service": "reviews", "id": body["id"], "ttl_s": 5})

    status, _ = await served.call("DELETE", INSTANCES.format("reviews") + "/" + body["id"])
    assert status == 204
    assert served.gateway.current.id == before
    await cluster.reset_stats()
    assert (await served.query(REVIEWED))["errors"][0]["message"] == UNKNOWN_REVIEWS
    assert await reviews_count(cluster) == 0
    assert (await served.registry())["services"] == {}

    status, gone = await served.call("PUT", INSTANCES.format("reviews") + "/" + body["id"])
    assert status == 404
    assert error_message(gone) == (
        f"No instance {body['id']} of reviews is registered (it expired, or was removed): register it again."
    )


async def test_an_instance_that_stops_renewing_expires(serve: Serve, cluster: Cluster) -> None:
    served = await serve()
    before = served.gateway.current.id
    status, body = await register(served, "reviews", {"url": cluster.graphql_url("reviews"), "ttl_s": 1})
    assert status == 201, body
    assert "errors" not in await served.query(REVIEWED)
    async with asyncio.timeout(10):
        while served.gateway.current.id != before:
            await asyncio.sleep(0.05)
    assert (await served.query(REVIEWED))["errors"][0]["message"] == UNKNOWN_REVIEWS
    assert (await served.registry())["services"] == {}


async def test_a_federation_contribution_is_composed_without_asking_the_instance(
    serve: Serve, cluster: Cluster
) -> None:
    served = await serve()
    await cluster.reset_stats()
    schema = {"kind": "federation", "sdl": REVIEWS_SDL}
    status, body = await register(
        served, "reviews", {"url": cluster.graphql_url("reviews"), "schema": schema}
    )
    assert status == 201, body
    assert await reviews_count(cluster) == 0  # not introspected
    answer = await served.query("{ reviews(first: 2) { rating } }")
    assert len(answer["data"]["reviews"]) == 2
    assert await reviews_count(cluster) == 1


async def test_a_contribution_that_breaks_composition_is_refused_with_its_problems(
    serve: Serve, cluster: Cluster
) -> None:
    served = await serve()
    before = served.gateway.current.id
    broken = "type Product { id: ID! name: Int! }\ntype Query { cheap: [Product!]! }\n"
    status, body = await register(
        served, "discounts", {"url": cluster.graphql_url("reviews"), "schema": {"kind": "sdl", "sdl": broken}}
    )
    assert status == 422
    assert error_message(body) == (
        "The schema of discounts does not compose with the gateway's: nothing was registered and the schema "
        "served is unchanged (3 problems)."
    )
    assert body["problems"] == [
        "Product.name: catalog has String! but discounts has Int!",
        "Product.price: discounts returns Product (through Query.cheap) without this field, which only catalog "
        'has: link it in the gateway schema, e.g. extend type Product { price: Float! @batch(service: "catalog", '
        "key: ..., field: ...) }",
        "Product.sellerId: discounts returns Product (through Query.cheap) without this field, which only "
        "catalog has: link it in the gateway schema, e.g. extend type Product { sellerId: ID! @batch(service: "
        '"catalog", key: ..., field: ...) }',
    ]
    assert served.gateway.current.id == before
    assert (await served.registry())["services"] == {}
    answer = await served.query("{ product(id: 1) { id } }")
    assert answer == {"data": {"product": {"id": "1"}}}


async def test_credentials_missing_wrong_or_for_another_service(serve: Serve, cluster: Cluster) -> None:
    served = await serve()
    registration = {"url": cluster.graphql_url("reviews")}
    status, body = await register(served, "reviews", registration, headers={})
    assert status == 401
    assert error_message(body) == "POST /registry/... needs a token: Authorization: Bearer ..."
    async with served.http.post(served.base + INSTANCES.format("reviews"), json=registration) as response:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="funnel registry"'
    wrong = "The token is neither registry.token nor the token of registry.tokens for this service."
    status, body = await register(served, "reviews", registration, {"Authorization": "Bearer nope"})
    assert (status, error_message(body)) == (403, wrong)
    # catalog's own token is good for catalog only.
    own = {"Authorization": f"Bearer {CATALOG_TOKEN}"}
    status, body = await register(served, "reviews", registration, own)
    assert (status, error_message(body)) == (403, wrong)
    assert TOKEN not in str(body) and CATALOG_TOKEN not in str(body)
    assert (await served.registry())["services"] == {}
    status, body = await register(served, "catalog", {"url": cluster.graphql_url("catalog") + "/"}, own)
    assert status == 201, body

    async with served.http.get(served.base + "/registry") as response:
        assert response.status == 401
    async with served.http.get(served.base + "/registry", headers={"Authorization": "Bearer x"}) as response:
        assert response.status == 403
    async with served.http.get(served.base + "/registry", headers=AUTH) as response:
        assert response.status == 200


async def test_registration_is_off_without_a_write_token(serve: Serve, cluster: Cluster) -> None:
    served = await serve('  allowed_urls: ["http://127.0.0.1:*"]\n')
    status, body = await register(served, "reviews", {"url": cluster.graphql_url("reviews")})
    assert status == 404
    assert error_message(body) == (
        "Registration is off: neither registry.token (nor token_env) nor registry.tokens is set, so no service "
        "may register."
    )
    async with served.http.get(served.base + "/registry") as response:  # no read_token: reads are open
        assert (await response.json())["services"] == {}


async def test_bad_registrations_are_refused_and_change_nothing(serve: Serve, cluster: Cluster) -> None:
    served = await serve()
    url = cluster.graphql_url("reviews")
    cases: list[tuple[str, Any, int, str]] = [
        (
            "reviews",
            {"url": "http://10.0.0.7:4004/graphql"},
            422,
            "The instance URL 'http://10.0.0.7:4004/graphql' is refused: it matches no entry of "
            "registry.allowed_urls. Allowed: http://127.0.0.1:*.",
        ),
        (
            "reviews",
            {"url": "http://user:pw@127.0.0.1:4004/graphql"},
            422,
            "The instance URL 'http://user:pw@127.0.0.1:4004/graphql' is refused: it carries user information "
            "(a credential has no place in an instance URL). Allowed: http://127.0.0.1:*.",
        ),
        (
            "reviews",
            {"url": "file:///etc/passwd"},
            422,
            "The instance URL 'file:///etc/passwd' is refused: its scheme must be http or https. "
            "Allowed: http://127.0.0.1:*.",
        ),
        (
            "bad name!",
            {"url": url},
            422,
            "The service name 'bad name!' is not one: letters, digits, '_' or '-', starting with a letter or "
            "'_', at most 64 characters.",
        ),
        (
            "reviews",
            {"url": url, "color": "red"},
            422,
            "Unknown key color: use url, protocol, health_path, schema, ttl_s.",
        ),
        ("reviews", {"url": url, "ttl_s": 0}, 422, "ttl_s must be a whole number of seconds from 1 to 3600."),
        (
            "reviews",
            {"url": url, "schema": {"kind": "wsdl"}},
            422,
            "schema.kind must be one of sdl, federation, introspect, got 'wsdl'.",
        ),
        (
            "reviews",
            {"url": url, "protocol": "rest"},
            422,
            "reviews is not in the config: a service joins at run time as a GraphQL service only.",
        ),
        (
            "catalog",
            {"url": url, "schema": {"kind": "sdl", "sdl": "type Query { a: Int }"}},
            422,
            "catalog is named in the config, which says where its schema comes from: an instance of it adds an "
            "instance only (leave schema out, or give kind introspect).",
        ),
        ("reviews", [1, 2], 422, "The body must be a JSON object."),
    ]
    for name, body, status, message in cases:
        got_status, got = await register(served, name, body)
        assert (got_status, error_message(got)) == (status, message), (name, body)
    async with served.http.post(
        served.base + INSTANCES.format("reviews"), data=b"{not json", headers=AUTH
    ) as response:
        assert (response.status, error_message(await response.json())) == (400, "The body is not JSON.")
    huge = b"x" * (256 * 1024 + 64 * 1024 + 1)
    async with served.http.post(
        served.base + INSTANCES.format("reviews"), data=huge, headers=AUTH
    ) as response:
        assert response.status == 413
        assert (
            error_message(await response.json()) == f"The body is larger than {256 * 1024 + 64 * 1024} bytes."
        )
    registered = await served.registry()
    assert (registered["version"], registered["services"]) == (0, {})


async def test_counts_are_bounded(serve: Serve, cluster: Cluster) -> None:
    served = await serve(REGISTRY.replace("max_services: 3", "max_services: 1"))
    schema = {"kind": "federation", "sdl": REVIEWS_SDL}
    reviews = cluster.graphql_url("reviews")
    assert (await register(served, "reviews", {"url": reviews, "schema": schema}))[0] == 201
    assert (await register(served, "reviews", {"url": reviews + "/", "schema": schema}))[0] == 201
    status, body = await register(served, "reviews", {"url": reviews + "//", "schema": schema})
    assert (status, error_message(body)) == (
        409,
        "reviews has 2 instances registered already (registry.max_instances).",
    )
    status, body = await register(served, "other", {"url": reviews, "schema": schema})
    assert (status, error_message(body)) == (
        409,
        "1 services are registered already (registry.max_services): other cannot join.",
    )
    assert len((await served.registry())["services"]["reviews"]["instances"]) == 2


async def test_ready_and_metrics_show_the_registry(serve: Serve, cluster: Cluster) -> None:
    served = await serve(REGISTRY + "observability:\n  metrics: true\n")
    assert (await register(served, "reviews", {"url": cluster.graphql_url("reviews")}))[0] == 201
    async with served.http.get(served.base + "/ready") as response:
        ready = await response.json()
    assert ready["registry"] == {"backend": "memory", "available": True, "version": 1}
    async with served.http.get(served.base + "/metrics") as response:
        text = await response.text()
    assert 'funnel_registry_instances{service="reviews"} 1.0' in text
    assert "funnel_registry_available 1.0" in text


async def test_a_hand_written_schema_takes_instances_of_its_services_only(
    serve: Serve, cluster: Cluster, extra_catalog: Extra
) -> None:
    schema = 'type Product { id: ID! name: String! }\ntype Query { product(id: ID!): Product @remote(service: "catalog") }\n'
    served = await serve(REGISTRY, **{"gateway.graphql": schema})
    status, body = await register(served, "reviews", {"url": cluster.graphql_url("reviews")})
    assert (status, error_message(body)) == (
        422,
        "reviews is not in the config, and only a composed schema (compose: true) takes in services that join "
        "at run time: this gateway's schema is written by hand.",
    )
    status, body = await register(served, "catalog", {"url": extra_catalog.url})
    assert status == 201, body
    assert body["schema_version"] == served.gateway.current.id
    assert await served.query("{ product(id: 1) { id } }") == {"data": {"product": {"id": "1"}}}


async def test_a_schema_poll_keeps_the_registered_services(serve: Serve, cluster: Cluster) -> None:
    served = await serve(REGISTRY + "server:\n  schema_poll_ms: 50\n")
    before = served.gateway.current.id
    status, body = await register(served, "reviews", {"url": cluster.graphql_url("reviews")})
    assert status == 201, body
    watcher = served.app[WATCHER]
    async with asyncio.timeout(10):  # the services' schemas composed again, twice: the registered one too
        while len(watcher.outcomes) < 2:
            await asyncio.sleep(0.02)
    assert {o.status for o in watcher.outcomes} == {"unchanged"}, (watcher.outcomes, body, before)
    assert served.gateway.current.id == body["schema_version"]
    assert "errors" not in await served.query(REVIEWED)


async def test_a_large_contribution_arrives_whole(serve: Serve, cluster: Cluster) -> None:
    served = await serve()
    about = "A shelf of the store, described at length. " * 5000
    sdl = f'"""{about}"""\ntype Shelf {{ id: ID! label: String }}\ntype Query {{ shelf: Shelf }}\n'
    assert 200_000 < len(sdl) < 256 * 1024
    schema = {"kind": "sdl", "sdl": sdl}
    status, body = await register(
        served, "shelves", {"url": cluster.graphql_url("reviews"), "schema": schema}
    )
    assert status == 201, body
    shelf = served.gateway.schema.get_type("Shelf")
    assert shelf is not None and shelf.description == about
    too_big = {"kind": "sdl", "sdl": sdl + "#" * (256 * 1024 - len(sdl) + 1)}
    status, body = await register(
        served, "shelves", {"url": cluster.graphql_url("reviews"), "schema": too_big}
    )
    assert (status, error_message(body)) == (
        413,
        f"schema.sdl is {256 * 1024 + 1} bytes, more than {256 * 1024} (registry.max_schema_bytes).",
    )


async def test_a_state_that_did_not_compose_is_tried_again(serve: Serve, tmp_path: Path) -> None:
    """As another replica's registration might: stored, but its instance does not answer here yet."""
    served = await serve()
    composer = served.app[REGISTRY_KEY]
    port = free_port()
    await composer.store.put(Instance("reviews", f"http://127.0.0.1:{port}/graphql"), ttl_s=60)
    async with asyncio.timeout(10):
        while composer.last is None or composer.last.status != "refused":
            await asyncio.sleep(0.02)
    assert composer.last.problems == (
        f"reviews: cannot read its schema: POST http://127.0.0.1:{port}/graphql: cannot connect",
    )
    assert (await served.query(REVIEWED))["errors"][0]["message"] == UNKNOWN_REVIEWS
    runner, _ = await start_app(reviews.create_app(db_path=str(tmp_path / "late.sqlite3")), "127.0.0.1", port)
    try:
        async with asyncio.timeout(10):
            while "errors" in await served.query(REVIEWED):
                await asyncio.sleep(0.05)
        assert composer.last.status == "applied"
    finally:
        await runner.cleanup()
