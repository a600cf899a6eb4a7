"""examples/composed: the shop composed from the services' own schemas, with a gateway SDL of links only.

Its lock is what the services compose now; a gateway over the lock, and one composing at start-up, give the
same answers with the same downstream calls as the hand-written examples/gateway.graphql."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from graphql import print_schema

from examples.services.cluster import Cluster
from gateway.composition import compose
from gateway.gateway import Gateway
from registry.config import load_config

from .conftest import COMPOSED, ROOT, on_cluster

HAND_WRITTEN = ROOT / "examples" / "funnel.yaml"

# The tour's queries (README), and one for each link of the example.
QUERIES = [
    ("{ orders(first: 100) { id product { name } } }", None),
    ("{ orders(first: 10) { id product { name } buyer { name } } }", None),
    (
        "{ products(first: 30) { id name price seller { name email } "
        "reviews { rating body author { name orders { id quantity } } } } }",
        None,
    ),
    (
        "query One($id: ID!) { account(id: $id) { id name orders { id product { name seller { name } } } } }",
        {"id": "7"},
    ),
    ('{ shelves(count: 3, size: 2) { id name reviews { id } } product(id: "42") { name price } }', None),
    ('mutation { updatePrice(productId: "3", price: 12.5) { id name price seller { name } } }', None),
]


async def gateways(cluster: Cluster) -> tuple[Gateway, Gateway]:
    hand_written = Gateway.from_config(on_cluster(load_config(HAND_WRITTEN), cluster))
    composed = Gateway.from_config(on_cluster(load_config(COMPOSED / "funnel.yaml"), cluster))
    return hand_written, composed


async def test_the_lock_is_what_the_services_compose(cluster: Cluster) -> None:
    config = on_cluster(load_config(COMPOSED / "funnel.yaml"), cluster)
    composition = await compose(config)
    assert composition.sdl == (COMPOSED / "gateway.lock.graphql").read_text()
    assert composition.notes == ()


@pytest.mark.parametrize(("query", "variables"), QUERIES)
async def test_the_composed_gateway_answers_as_the_hand_written_one(
    cluster: Cluster, query: str, variables: dict[str, Any] | None
) -> None:
    hand_written, composed = await gateways(cluster)
    answers, calls = [], []
    async with hand_written, composed:
        for gateway in (hand_written, composed):
            await cluster.reset_stats()
            answers.append(await gateway.execute(query, variables))
            calls.append({name: (await cluster.stats(name))["requests"] for name in cluster.urls})
    assert "errors" not in answers[0]
    assert answers[1] == answers[0]
    assert calls[1] == calls[0]


async def test_composing_at_start_up_gives_the_lock_s_schema_and_bindings(cluster: Cluster) -> None:
    config = on_cluster(load_config(COMPOSED / "funnel.yaml"), cluster)
    from_lock = Gateway.from_config(config)
    # Composing asks the services, which run on this event loop: it runs in a thread of its own.
    live = await asyncio.to_thread(Gateway.from_config, dataclasses.replace(config, schema_lock=None))
    assert print_schema(live.schema) == print_schema(from_lock.schema)
    located = {b.coordinate: b for b in live._bindings}
    assert {c: dataclasses.replace(b, location=None) for c, b in located.items()} == {
        b.coordinate: dataclasses.replace(b, location=None) for b in from_lock._bindings
    }
    # A binding composed now points at the line that wrote it: the gateway SDL's, or the service's in the config.
    assert str(located[next(c for c in located if str(c) == "Order.product")].location) == (
        f"{COMPOSED / 'links.graphql'}:10"
    )
    assert str(located[next(c for c in located if str(c) == "Product.reviews")].location) == (
        f"{COMPOSED / 'funnel.yaml'}:24"
    )
    assert str(located[next(c for c in located if str(c) == "Query.products")].location) == (
        f"{COMPOSED / 'funnel.yaml'}:17"
    )


async def test_composing_inside_the_event_loop_is_refused_with_what_to_do(cluster: Cluster) -> None:
    config = dataclasses.replace(on_cluster(load_config(COMPOSED / "funnel.yaml"), cluster), schema_lock=None)
    with pytest.raises(RuntimeError) as raised:
        Gateway.from_config(config)
    assert str(raised.value) == (
        "composing the schema asks the services, which cannot be awaited here: call it in a thread "
        "(await asyncio.to_thread(Gateway.from_config, path)), or name a schema_lock"
    )
