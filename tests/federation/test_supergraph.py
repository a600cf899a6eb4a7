"""A Federation supergraph (composed from examples/federation/shop by scripts/federation/compose.sh) served
by Funnel: its annotations, its plans as snapshots, and its answers over three real Python subgraphs, with the
requests and `_entities` representations counted by the subgraphs themselves."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.services.common import start_app
from gateway.federation import annotate_supergraph, load_supergraph
from gateway.federation.annotate import EntityField
from gateway.federation.load import CompositeKey
from gateway.gateway import Gateway
from gateway.server import create_app
from gateway.server.app import WATCHER
from gateway.server.serving import listening
from instrumentation.plan import print_plan
from registry.config import GatewayConfig, ServerConfig, parse_config
from registry.errors import ConfigError

from ..processes import start_child
from ..snapshots import assert_snapshot, snapshot_names
from .shop import FIXTURES, Shop, counted, run_shop, serve_subgraphs

FUNNEL = str(Path(sys.executable).with_name("funnel"))

SUPERGRAPH = FIXTURES / "supergraph.graphql"
PLANS = Path(__file__).parent / "plans"

CASES = {
    "top_products": "{ topProducts(first: 3) { name price reviews { body author { name } } } }",
    "me": "{ me { name reviews { body product { name reviews { id } } } } }",
    "product_by_upc": '{ product(upc: "2") { upc name reviews { author { username } } } }',
    "composite_key": "{ topProducts(first: 3) { name variants { sku color stock } } }",
    "requires_from_the_parent": "{ topProducts(first: 3) { name shippingEstimate } }",
    "requires_fetched_first": "{ me { reviews { product { shippingEstimate } } } }",
}


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    async with run_shop() as running:
        yield running


def gateway_for(shop: Shop, *, batching: bool = True) -> Gateway:
    return serve_subgraphs(shop, SUPERGRAPH, batching=batching)


def calls(shop: Shop) -> dict[str, tuple[int, int]]:
    return counted(shop)


def test_the_supergraph_becomes_annotations() -> None:
    sdl, _, composite = annotate_supergraph(SUPERGRAPH.read_text(), str(SUPERGRAPH))
    # The SDL names the key's first field; the binding reads the whole representation (CompositeKey).
    assert composite == {
        "Variant.stock": EntityField(("productUpc", "sku")),
        "Variant.color": EntityField(("productUpc", "sku")),
        "Product.shippingEstimate": EntityField(("upc", "price"), sends_required=True),
    }
    annotated = [line.strip() for line in sdl.splitlines() if "@remote" in line or "@batch" in line]
    assert annotated == [
        'stock: Int! @batch(service: "inventory", key: "productUpc", match: "productUpc", entity: "Variant", select: "stock")',
        'color: String! @batch(service: "products", key: "productUpc", match: "productUpc", entity: "Variant", select: "color")',
        'price: Int! @batch(service: "products", key: "upc", match: "upc", entity: "Product", select: "price")',
        'shippingEstimate: Int! @batch(service: "inventory", key: "upc", match: "upc", entity: "Product", select: "shippingEstimate")',
        'name: String! @batch(service: "products", key: "upc", match: "upc", entity: "Product", select: "name")',
        'variants: [Variant!]! @batch(service: "products", key: "upc", match: "upc", entity: "Product", select: "variants")',
        'reviews: [Review!]! @batch(service: "reviews", key: "upc", match: "upc", entity: "Product", select: "reviews")',
        'topProducts(first: Int = 5): [Product!]! @remote(service: "products")',
        'product(upc: String!): Product @remote(service: "products")',
        'me: User @remote(service: "users")',
        'users: [User!]! @remote(service: "users")',
        'setPrice(upc: String!, price: Int!): Product @remote(service: "products")',
        'reviews: [Review!]! @batch(service: "reviews", key: "id", match: "id", entity: "User", select: "reviews")',
        'name: String! @batch(service: "users", key: "id", match: "id", entity: "User", select: "name")',
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_printed_plan(case: str) -> None:
    schema, bindings, services = load_supergraph(str(SUPERGRAPH))
    gateway = Gateway(schema, services, bindings)
    assert_snapshot(
        PLANS / f"{case}.txt", f"# {CASES[case]}\n" + print_plan(gateway.plan(CASES[case])) + "\n"
    )


def test_every_snapshot_belongs_to_a_case() -> None:
    assert snapshot_names(PLANS) == sorted(CASES)


TOP_PRODUCTS: dict[str, Any] = {
    "data": {
        "topProducts": [
            {
                "name": "Table",
                "price": 899,
                "reviews": [{"body": "Sturdy.", "author": {"name": "Ada Lovelace"}}],
            },
            {
                "name": "Couch",
                "price": 1299,
                "reviews": [
                    {"body": "Too soft.", "author": {"name": "Alan Turing"}},
                    {"body": "Fine.", "author": {"name": "Ada Lovelace"}},
                ],
            },
            {
                "name": "Chair",
                "price": 54,
                "reviews": [{"body": "Wobbles.", "author": {"name": "Alan Turing"}}],
            },
        ]
    }
}


async def test_one_call_per_subgraph_per_level_with_the_representations_deduplicated(shop: Shop) -> None:
    async with gateway_for(shop) as gateway:
        assert await gateway.execute(CASES["top_products"]) == TOP_PRODUCTS
        # products answers the root field with name and price itself; reviews gets the 3 products at once;
        # users the 2 distinct authors of the 4 reviews.
        assert calls(shop) == {"inventory": (0, 0), "products": (1, 0), "reviews": (1, 3), "users": (1, 2)}


async def test_a_subgraph_answers_the_fields_it_resolves_for_the_entities_it_returns(shop: Shop) -> None:
    async with gateway_for(shop) as gateway:
        answer = await gateway.execute(CASES["me"])
    assert answer == {
        "data": {
            "me": {
                "name": "Ada Lovelace",
                "reviews": [
                    {"body": "Sturdy.", "product": {"name": "Table", "reviews": [{"id": "1"}]}},
                    {"body": "Fine.", "product": {"name": "Couch", "reviews": [{"id": "2"}, {"id": "3"}]}},
                    {"body": "Bright.", "product": {"name": "Lamp", "reviews": [{"id": "5"}]}},
                ],
            }
        }
    }
    # Review.product's reviews come from reviews in the same call as the products themselves.
    assert calls(shop) == {"inventory": (0, 0), "products": (1, 3), "reviews": (1, 1), "users": (1, 0)}


async def test_a_field_every_subgraph_of_its_type_resolves_comes_with_the_parent(shop: Shop) -> None:
    async with gateway_for(shop) as gateway:
        answer = await gateway.execute(CASES["product_by_upc"])
    assert answer == {
        "data": {
            "product": {
                "upc": "2",
                "name": "Couch",
                "reviews": [{"author": {"username": "alan"}}, {"author": {"username": "ada"}}],
            }
        }
    }
    # username is @shareable in reviews and users: reviews answers it with the authors, users is not asked.
    assert calls(shop) == {"inventory": (0, 0), "products": (1, 0), "reviews": (1, 1), "users": (0, 0)}


async def test_batching_off_is_one_call_per_parent(shop: Shop) -> None:
    async with gateway_for(shop, batching=False) as gateway:
        assert await gateway.execute(CASES["top_products"]) == TOP_PRODUCTS
    assert calls(shop) == {"inventory": (0, 0), "products": (1, 0), "reviews": (3, 3), "users": (4, 4)}


async def test_a_missing_entity_is_null_and_the_rest_intact(shop: Shop) -> None:
    async with gateway_for(shop) as gateway:
        answer = await gateway.execute('{ product(upc: "9") { name } top: topProducts(first: 1) { upc } }')
    assert answer == {"data": {"product": None, "top": [{"upc": "1"}]}}


def test_a_config_names_the_supergraph_and_overrides_a_subgraph(tmp_path: Path) -> None:
    text = f"supergraph: {SUPERGRAPH}\nservices:\n  Reviews: {{url: 'http://127.0.0.1:9/graphql', timeout_ms: 250}}\n"
    config = parse_config(text, str(tmp_path / "funnel.yaml"))
    gateway = Gateway.from_config(config)
    assert {name: (s.url, s.timeout_ms) for name, s in gateway.services.items()} == {
        "inventory": ("http://127.0.0.1:4104/graphql", 1000),
        "products": ("http://127.0.0.1:4101/graphql", 1000),
        "reviews": ("http://127.0.0.1:9/graphql", 250),
        "users": ("http://127.0.0.1:4103/graphql", 1000),
    }


def test_a_supergraph_with_what_is_not_planned_yet_is_refused_naming_each_field() -> None:
    text = SUPERGRAPH.read_text().replace('key: "productUpc sku"', 'key: "productUpc s: sku"')
    assert text != SUPERGRAPH.read_text()
    with pytest.raises(ConfigError) as raised:
        annotate_supergraph(text, "shop.graphql")
    why = 'the field set "productUpc s: sku" has an alias, fragment or directive: not planned yet'
    assert [str(p) for p in raised.value.problems] == [
        f"shop.graphql: cannot serve Variant.stock: {why}",
        f"shop.graphql: cannot serve Variant.color: {why}",
    ]


async def test_a_key_of_two_fields_goes_whole_in_each_representation(shop: Shop) -> None:
    async with gateway_for(shop) as gateway:
        answer = await gateway.execute(CASES["composite_key"])
    assert answer == {
        "data": {
            "topProducts": [
                {
                    "name": "Table",
                    "variants": [
                        {"sku": "oak", "color": "brown", "stock": 3},
                        {"sku": "ash", "color": "white", "stock": 0},
                    ],
                },
                {"name": "Couch", "variants": [{"sku": "oak", "color": "grey", "stock": 7}]},
                {"name": "Chair", "variants": []},
            ]
        }
    }
    assert calls(shop) == {"inventory": (1, 3), "products": (1, 0), "reviews": (0, 0), "users": (0, 0)}
    entities = [d for d in shop.stats["inventory"].documents if "_entities" in d]
    assert len(entities) == 1


def test_a_composite_key_with_a_field_missing_is_not_sent() -> None:
    key = CompositeKey(("productUpc", "sku"))
    assert key({"productUpc": "1", "sku": "oak", "color": "x"}) == {"productUpc": "1", "sku": "oak"}
    assert key({"productUpc": "1", "sku": None}) is None


def test_supergraph_and_a_composition_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"supergraph: {SUPERGRAPH}\ncompose: true\n", str(tmp_path / "funnel.yaml"))
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path / 'funnel.yaml'}:2: compose: compose cannot be given with supergraph: nothing is composed"
    ]


async def test_funnel_serve_serves_a_supergraph_with_nothing_else(shop: Shop, tmp_path: Path) -> None:
    text = SUPERGRAPH.read_text()
    for name, port in (("products", 4101), ("reviews", 4102), ("users", 4103), ("inventory", 4104)):
        text = text.replace(f"http://127.0.0.1:{port}/graphql", shop.urls[name])
    (tmp_path / "supergraph.graphql").write_text(text)
    argv = [FUNNEL, "serve", "--supergraph", str(tmp_path / "supergraph.graphql"), "--port", "0"]
    async with start_child(*argv, cwd=tmp_path) as child, aiohttp.ClientSession() as http:
        url = (await child.read_until("Funnel listening on ")).split()[3]
        async with http.post(url, json={"query": CASES["top_products"]}) as response:
            assert (response.status, await response.json()) == (200, TOP_PRODUCTS)
        child.process.send_signal(signal.SIGTERM)
        assert await child.exit_code(timeout=30) == 0
    assert calls(shop) == {"inventory": (0, 0), "products": (1, 0), "reviews": (1, 3), "users": (1, 2)}


async def test_an_inaccessible_field_is_not_there_for_clients(shop: Shop, tmp_path: Path) -> None:
    text = SUPERGRAPH.read_text().replace(
        "name: String! @join__field(graph: PRODUCTS)",
        "name: String! @join__field(graph: PRODUCTS) @inaccessible",
    )
    assert text != SUPERGRAPH.read_text()
    sdl, _, _ = annotate_supergraph(text, "shop.graphql")
    assert 'name: String! @batch(service: "products"' not in sdl
    source = tmp_path / "supergraph.graphql"
    source.write_text(text)
    async with serve_subgraphs(shop, source) as gateway:
        answer = await gateway.execute("{ topProducts(first: 1) { price name } }")
    assert answer == {
        "errors": [
            {
                "message": "Cannot query field 'name' on type 'Product'.",
                "locations": [{"line": 1, "column": 33}],
            }
        ]
    }
    assert calls(shop)["products"] == (0, 0)


async def test_a_supergraph_at_a_url_is_polled_and_a_change_swapped_in(shop: Shop) -> None:
    text = SUPERGRAPH.read_text()
    for name, port in (("products", 4101), ("reviews", 4102), ("users", 4103), ("inventory", 4104)):
        text = text.replace(f"http://127.0.0.1:{port}/graphql", shop.urls[name])
    served = {"text": text}

    async def supergraph(_request: web.Request) -> web.Response:
        return web.Response(text=served["text"])

    registry = web.Application()
    registry.router.add_get("/supergraph.graphql", supergraph)
    runner, base = await start_app(registry)
    try:
        config = GatewayConfig(
            path=None, schema_path=None, supergraph=base + "/supergraph.graphql", supergraph_poll_ms=100
        )
        gateway = await asyncio.to_thread(Gateway.from_config, config)
        app = create_app(gateway, ServerConfig(port=0))  # schema_poll_ms: 30 s; the supergraph's 100 ms wins
        async with listening(app, "127.0.0.1", 0) as url, aiohttp.ClientSession() as http:
            query = {"query": "{ topProducts(first: 1) { name } }"}
            async with http.post(url + "/graphql", json=query) as response:
                assert await response.json() == {"data": {"topProducts": [{"name": "Table"}]}}
            served["text"] = text.replace(
                "name: String! @join__field(graph: PRODUCTS)",
                "name: String! @join__field(graph: PRODUCTS) @inaccessible",
            )
            watcher = app[WATCHER]
            async with asyncio.timeout(10):
                while not any(o.status == "applied" for o in watcher.outcomes):
                    await asyncio.sleep(0.02)
            async with http.post(url + "/graphql", json=query) as response:
                assert (await response.json())["errors"][0][
                    "message"
                ] == "Cannot query field 'name' on type 'Product'."
    finally:
        await runner.cleanup()


async def test_what_a_field_requires_is_sent_with_the_key(shop: Shop) -> None:
    async with gateway_for(shop) as gateway:
        answer = await gateway.execute(CASES["requires_from_the_parent"])
    # Table 899 and Couch 1299 ship in a day, Chair 54 in three: inventory knows only the prices it was sent.
    assert answer == {
        "data": {
            "topProducts": [
                {"name": "Table", "shippingEstimate": 1},
                {"name": "Couch", "shippingEstimate": 1},
                {"name": "Chair", "shippingEstimate": 3},
            ]
        }
    }
    # products answers the prices in its own call; inventory gets them in the representations.
    assert calls(shop) == {"inventory": (1, 3), "products": (1, 0), "reviews": (0, 0), "users": (0, 0)}


async def test_a_required_field_another_subgraph_has_is_fetched_first(shop: Shop) -> None:
    async with gateway_for(shop) as gateway:
        answer = await gateway.execute(CASES["requires_fetched_first"])
    assert answer == {
        "data": {
            "me": {
                "reviews": [
                    {"product": {"shippingEstimate": 1}},
                    {"product": {"shippingEstimate": 1}},
                    {"product": {"shippingEstimate": 3}},
                ]
            }
        }
    }
    # The products come from reviews (keys only): their prices from products first, then inventory; the price
    # asked only for the representations is not in the answer.
    assert calls(shop) == {"inventory": (1, 3), "products": (1, 3), "reviews": (1, 1), "users": (1, 0)}


def test_a_field_requiring_an_inaccessible_field_is_refused() -> None:
    text = SUPERGRAPH.read_text().replace(
        "price: Int! @join__field(graph: INVENTORY, external: true) @join__field(graph: PRODUCTS)",
        "price: Int! @join__field(graph: INVENTORY, external: true) @join__field(graph: PRODUCTS) @inaccessible",
    )
    assert text != SUPERGRAPH.read_text()
    with pytest.raises(ConfigError) as raised:
        annotate_supergraph(text, "shop.graphql")
    assert [str(p) for p in raised.value.problems] == [
        "shop.graphql: cannot serve Product.shippingEstimate: it @requires price, @inaccessible: not planned yet"
    ]


async def test_mutations_run_in_order_and_an_error_keeps_its_path(shop: Shop) -> None:
    mutation = (
        'mutation { a: setPrice(upc: "1", price: 10) { price shippingEstimate }'
        ' b: setPrice(upc: "1", price: 900) { price shippingEstimate } c: setPrice(upc: "9", price: 1) { price } }'
    )
    async with gateway_for(shop) as gateway:
        answer = await gateway.execute(mutation)
    assert answer["data"] == {
        "a": {"price": 10, "shippingEstimate": 3},
        "b": {"price": 900, "shippingEstimate": 1},
        "c": None,
    }
    assert answer["errors"] == [
        {
            "message": "no product 9",
            "locations": [{"line": 1, "column": mutation.index("c: setPrice") + 1}],
            "path": ["c"],
            "extensions": {"code": "DOWNSTREAM_ERROR", "service": "products"},
        }
    ]
    assert shop.stats["products"].requests == 1  # one document: products runs its mutation fields in order


STOCK_SDL = """extend type Product {
  stock: Int @batch(service: "stock", path: "/stock", key: "upc", match: "upc", select: "count")
}
"""


async def test_mixed_mode_brings_a_rest_service_into_the_federation(shop: Shop, tmp_path: Path) -> None:
    asked: list[str] = []

    async def stock(request: web.Request) -> web.Response:
        asked.append(request.query["ids"])
        return web.json_response(
            [{"upc": upc, "count": int(upc) * 2} for upc in request.query["ids"].split(",")]
        )

    app = web.Application()
    app.router.add_get("/stock", stock)
    runner, stock_url = await start_app(app)
    try:
        (tmp_path / "stock.graphql").write_text(STOCK_SDL)
        services = "".join(f"  {name}: {{url: '{url}'}}\n" for name, url in shop.urls.items())
        (tmp_path / "funnel.yaml").write_text(
            f"supergraph: {SUPERGRAPH}\nschema: stock.graphql\nservices:\n{services}"
            f"  stock: {{url: '{stock_url}', protocol: rest}}\n"
        )
        async with Gateway.from_config(tmp_path / "funnel.yaml") as gateway:
            answer = await gateway.execute("{ topProducts(first: 3) { name stock } }")
    finally:
        await runner.cleanup()
    assert answer == {
        "data": {
            "topProducts": [
                {"name": "Table", "stock": 2},
                {"name": "Couch", "stock": 4},
                {"name": "Chair", "stock": 6},
            ]
        }
    }
    assert asked == ["1,2,3"]  # one REST call for the level, as for any batched field
    assert calls(shop)["products"] == (1, 0)


def test_supergraph_poll_ms_without_a_supergraph_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        text = "services:\n  catalog: {url: 'http://127.0.0.1:9/graphql'}\nsupergraph_poll_ms: 500\n"
        parse_config(text, str(tmp_path / "funnel.yaml"))
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path / 'funnel.yaml'}:3: supergraph_poll_ms: supergraph_poll_ms needs supergraph: there is no"
        " supergraph to read again"
    ]


def test_a_problem_in_the_extension_names_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "stock.graphql").write_text(STOCK_SDL.replace('service: "stock"', 'service: "nope"'))
    (tmp_path / "funnel.yaml").write_text(f"supergraph: {SUPERGRAPH}\nschema: stock.graphql\n")
    with pytest.raises(ConfigError) as raised:
        Gateway.from_config(tmp_path / "funnel.yaml")
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path / 'stock.graphql'}:2: Product.stock: unknown service 'nope' (known: inventory, products, reviews, users)"
    ]


async def test_funnel_check_a_supergraph_against_its_subgraphs(shop: Shop, tmp_path: Path) -> None:
    services = "".join(f"  {name}: {{url: '{url}'}}\n" for name, url in shop.urls.items())
    (tmp_path / "funnel.yaml").write_text(f"supergraph: {SUPERGRAPH}\nservices:\n{services}")
    named = f"OK: funnel.yaml (supergraph {os.path.relpath(SUPERGRAPH, tmp_path)}, 4 services, 14 annotated fields"
    for extra, end in ((["--offline"], ")"), ([], "; checked against inventory, products, reviews, users)")):
        async with start_child(FUNNEL, "check", "--config", "funnel.yaml", *extra, cwd=tmp_path) as child:
            line = await child.read_until("OK: ")
            assert await child.exit_code(timeout=60) == 0
        assert line.strip() == named + end


def test_funnel_compose_says_a_supergraph_is_composed_already(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    config = str(SUPERGRAPH.with_name("funnel.yaml"))
    assert main(["compose", "--config", config, "--out", os.devnull]) == 1
    assert capsys.readouterr().err == (
        f"{config}: the config serves a supergraph, composed already: funnel compose is for `compose: true`\n"
        f"1 problem in {config}\n"
    )


FED1 = Path(__file__).parent / "fixtures" / "shop_fed1.graphql"


async def test_a_federation_1_supergraph_is_served_like_its_federation_2_twin(shop: Shop) -> None:
    async with serve_subgraphs(shop, FED1) as gateway:  # inventory is not in it: a service of its own, unused
        assert await gateway.execute(CASES["top_products"]) == TOP_PRODUCTS
        # Product.name and price are the owner's (join v0.1 `@join__owner`): products answers them itself
        assert calls(shop) == {"inventory": (0, 0), "products": (1, 0), "reviews": (1, 3), "users": (1, 2)}
        shop.reset()
        me = await gateway.execute("{ me { name reviews { product { name upc } } } }")
    assert me == {
        "data": {
            "me": {
                "name": "Ada Lovelace",
                "reviews": [
                    {"product": {"name": "Table", "upc": "1"}},
                    {"product": {"name": "Couch", "upc": "2"}},
                    {"product": {"name": "Lamp", "upc": "4"}},
                ],
            }
        }
    }
    # a review's product comes from reviews with its key (upc is reviews' too, as its @key), its name from products
    assert calls(shop) == {"inventory": (0, 0), "products": (1, 3), "reviews": (1, 1), "users": (1, 0)}
