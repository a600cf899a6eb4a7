"""Schema + query → printed plan. The expected plans live in tests/instrumentation/plans/<case>.txt.

To write new plans, or accept changed ones after reviewing the diff:
FUNNEL_UPDATE_SNAPSHOTS=1 pytest tests/instrumentation. Without it a missing snapshot is a failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.gateway import Gateway
from instrumentation.plan import print_plan
from registry.config import ServiceConfig

from ..snapshots import assert_snapshot, snapshot_names

HERE = Path(__file__).parent
SERVICES = [
    ServiceConfig("orders", "http://127.0.0.1:9/graphql"),
    ServiceConfig("catalog", "http://127.0.0.1:9/graphql"),
    ServiceConfig("accounts", "http://127.0.0.1:9", protocol="rest"),
    ServiceConfig("reviews", "http://127.0.0.1:9/graphql"),
]

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "flat": ("{ orders(first: 100) { id product { name price } } }", {}),
    "deep": ("{ orders(first: 100) { id product { name seller { name } } buyer { name } } }", {}),
    "federation_select": ("{ orders(first: 5) { product { reviews { rating } } } }", {}),
    "aliases_different_selections": (
        "{ orders(first: 3) { a: product { name } b: product { price seller { name } } } }",
        {},
    ),
    "two_root_fields_one_binding": (
        "{ orders(first: 2) { product { name } } recent { product { price } } }",
        {},
    ),
    "same_field_two_arguments": ("{ a: orders(first: 1) { id } b: orders(first: 2) { quantity } }", {}),
    "interface_fragments": (
        "{ feed { id ... on Order { buyer { name } product { name } } ...P } } fragment P on Product { seller { name } }",
        {},
    ),
    "union_fragments": (
        '{ search(text: "x") { __typename ... on Product { name seller { name } } ... on Order { buyer { name } } } }',
        {},
    ),
    "list_of_lists": ("{ shelves { name seller { name } } }", {}),
    "dotted_federation_key": ("{ reviews(first: 10) { rating product { name } } }", {}),
    "one_to_many_from_rest_root": (
        "query($id: ID!) { account(id: $id) { name orders { id product { name } } } }",
        {"id": "7"},
    ),
    "skip_true": (
        "query($noBuyer: Boolean!) { orders(first: 2) { id buyer @skip(if: $noBuyer) { name } } }",
        {"noBuyer": True},
    ),
    "skip_false": (
        "query($noBuyer: Boolean!) { orders(first: 2) { id buyer @skip(if: $noBuyer) { name } } }",
        {"noBuyer": False},
    ),
    "variables_forwarded": ("query($n: Int!) { orders(first: $n) { id } }", {"n": 3}),
    # a and b go in one document (orders runs them in order), then catalog's, then c in a call of its own
    "mutations_of_one_service_in_a_row": (
        "mutation { a: placeOrder(buyerId: 1, productId: 2, quantity: 3) { id }"
        " b: placeOrder(buyerId: 1, productId: 3, quantity: 1) { id } r: restock(productId: 2) { name }"
        " c: placeOrder(buyerId: 2, productId: 2, quantity: 1) { id product { name } } }",
        {},
    ),
    "mutation": (
        "mutation { placeOrder(buyerId: 1, productId: 2, quantity: 3) { id product { name } } }",
        {},
    ),
    "typename_only_batch": ("{ orders(first: 1) { product { __typename } } }", {}),
}


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    gateway = Gateway.from_sdl((HERE / "schema.graphql").read_text(), SERVICES, path="schema.graphql")
    gateway.freeze()
    return gateway


@pytest.mark.parametrize("case", sorted(CASES))
def test_printed_plan(gateway: Gateway, case: str) -> None:
    query, variables = CASES[case]
    printed = (
        f"# {query}\n# variables: {variables}\n" + print_plan(gateway.plan(query, None, variables)) + "\n"
    )
    assert_snapshot(HERE / "plans" / f"{case}.txt", printed)


def test_every_snapshot_belongs_to_a_case() -> None:
    assert snapshot_names(HERE / "plans") == sorted(CASES)


def test_plans_are_cached_per_query_and_condition_values(gateway: Gateway) -> None:
    query, _ = CASES["skip_true"]
    first = gateway.plan(query, None, {"noBuyer": True})
    assert gateway.plan(query, None, {"noBuyer": True}) is first
    assert gateway.plan(query, None, {"noBuyer": False}) is not first
