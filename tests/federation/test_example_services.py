"""The example services as a federation (examples/federation/services, composed from the subgraph schemas that
catalog, orders and accounts answer at /subgraph and reviews at /graphql): the same answers as the annotated
gateway over the same data, with the calls and keys counted by the services themselves."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import aiohttp
from graphql import GraphQLObjectType

from benchmarks.common import EXAMPLE_SCHEMA, federation_gateway, service_configs
from examples.services.cluster import Cluster
from gateway.gateway import Gateway

SCRIPTS = Path(__file__).parents[2] / "scripts" / "federation"
DEEP = "{ orders(first: 10) { id product { name seller { name } reviews { rating } } buyer { name } } }"


def writer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_subgraphs", SCRIPTS / "example_subgraphs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_subgraph_files_are_the_services_schemas() -> None:
    subgraphs = writer()
    for name, sdl in subgraphs.SUBGRAPHS.items():
        written = (subgraphs.FOLDER / f"{name}.graphql").read_text()
        assert written == subgraphs.HEADER + sdl.lstrip("\n"), f"{name}: run scripts/federation/compose.sh"


async def counted(cluster: Cluster, gateway: Gateway, query: str) -> tuple[str, dict[str, tuple[int, int]]]:
    before = {name: await cluster.stats(name) for name in cluster.urls}
    answer = await gateway.execute(query)
    after = {name: await cluster.stats(name) for name in cluster.urls}
    calls = {
        name: (after[name]["requests"] - before[name]["requests"], after[name]["keys"] - before[name]["keys"])
        for name in cluster.urls
    }
    return json.dumps(answer), calls


async def test_the_federation_answers_as_the_annotations_do(cluster: Cluster) -> None:
    annotated = Gateway.from_sdl(EXAMPLE_SCHEMA.read_text(), service_configs(cluster.urls))
    async with annotated, federation_gateway(cluster.urls) as federated:
        expected, annotation_calls = await counted(cluster, annotated, DEEP)
        answer, calls = await counted(cluster, federated, DEEP)
    assert answer == expected  # the same JSON text: field order too
    assert '"errors"' not in answer and json.loads(answer)["data"]["orders"][0]["buyer"]["name"]
    # One call per service, as with annotations; but catalog is sent the 10 products twice, in an `_entities`
    # for name and another for seller (differential.yaml's known excess).
    assert annotation_calls == {"accounts": (1, 19), "catalog": (1, 10), "orders": (1, 0), "reviews": (1, 10)}
    assert calls == annotation_calls


async def test_batching_off_is_one_call_per_parent_and_entity_field(cluster: Cluster) -> None:
    async with federation_gateway(cluster.urls, batching=False) as federated:
        answer, calls = await counted(cluster, federated, DEEP)
    assert '"errors"' not in answer
    # catalog: a call per order for its product's name and seller together, as the annotations make
    assert calls == {"accounts": (20, 20), "catalog": (10, 10), "orders": (1, 0), "reviews": (10, 10)}


async def test_a_subgraph_answers_each_representation_on_its_own(
    cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    query = "query ($r: [_Any!]!) { _entities(representations: $r) { ... on Product { name sellerId } } }"
    representations = [
        {"__typename": "Product", "id": "2"},
        {"__typename": "Product", "id": "9999"},
        {"__typename": "Account", "id": "1"},
    ]
    payload = {"query": query, "variables": {"r": representations}}
    async with http.post(cluster.urls["catalog"] + "/subgraph", json=payload) as response:
        assert response.status == 200
        body = await response.json()
    assert body["data"] == {"_entities": [{"name": "Quiet Bamboo Wallet", "sellerId": "303"}, None, None]}
    assert [(e["message"], e["path"]) for e in body["errors"]] == [
        ("Unknown entity type 'Account'; this subgraph resolves Product", ["_entities", 2])
    ]


def test_its_config_serves_the_services_at_their_default_ports() -> None:
    gateway = Gateway.from_config(writer().FOLDER / "funnel.yaml")
    assert {name: service.url for name, service in gateway.services.items()} == {
        "accounts": "http://127.0.0.1:4001/subgraph",
        "catalog": "http://127.0.0.1:4002/subgraph",
        "orders": "http://127.0.0.1:4003/subgraph",
        "reviews": "http://127.0.0.1:4004/graphql",
    }


def object_fields(gateway: Gateway) -> set[str]:
    schema = gateway.current.schema
    return {
        f"{type_.name}.{name}: {field.type}"
        for type_ in schema.type_map.values()
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__")
        for name, field in type_.fields.items()
    }


def test_the_federation_has_the_annotated_api_but_for_what_the_subgraphs_leave_out() -> None:
    urls = dict.fromkeys(("accounts", "catalog", "orders", "reviews"), "http://127.0.0.1:9")
    annotated = Gateway.from_sdl(EXAMPLE_SCHEMA.read_text(), service_configs(urls))
    annotated.freeze()
    federated = object_fields(federation_gateway(urls))
    assert sorted(object_fields(annotated) - federated) == [
        "Mutation.placeOrder: Order!",
        "Mutation.updatePrice: Product!",
        "Query.shelves: [[Product!]!]!",
        "Review.author: Account",
    ]
    assert sorted(federated - object_fields(annotated)) == ["Query.reviews: [Review!]!"]
