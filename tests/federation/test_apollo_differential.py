"""Funnel against @apollo/gateway over the same supergraph and the same Python shop subgraphs: for every query of
differential.yaml the same `data` (compared as JSON text, so field order counts) and, subgraph by subgraph, no
more calls nor `_entities` representations from Funnel than from Apollo, as the subgraphs count them (but for the
excess an entry names as `known`, exactly).

Apollo runs under Node (scripts/federation/apollo_gateway.mjs), installed once into scripts/federation/node_modules;
without Node, npm or the registry the tests are skipped saying why (failed instead with FUNNEL_REQUIRE_APOLLO=1).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml

from gateway.gateway import Gateway

from .apollo import apollo_gateway, install_apollo, required
from .shop import Shop, run_shop
from .test_supergraph import SUPERGRAPH, calls, gateway_for

CORPUS: dict[str, dict[str, Any]] = yaml.safe_load(
    (Path(__file__).with_name("differential.yaml")).read_text()
)


@dataclass(frozen=True)
class Gateways:
    shop: Shop
    funnel: Gateway
    apollo: str
    http: aiohttp.ClientSession


@pytest.fixture(scope="module")
def apollo_installed() -> None:
    reason = install_apollo()
    if reason is not None:
        if required():
            pytest.fail(f"FUNNEL_REQUIRE_APOLLO=1 but {reason}")
        pytest.skip(reason)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateways(apollo_installed: None) -> AsyncIterator[Gateways]:
    async with (
        run_shop() as shop,
        gateway_for(shop) as funnel,
        apollo_gateway(SUPERGRAPH, shop.urls) as apollo,
        aiohttp.ClientSession() as http,
    ):
        yield Gateways(shop, funnel, apollo, http)


def only_data(answer: dict[str, Any]) -> str:
    """The answer's `data` as JSON text, in the order the gateway wrote its fields; absent and null differ."""
    return json.dumps({key: value for key, value in answer.items() if key == "data"})


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", list(CORPUS))
async def test_funnel_answers_as_apollo_does_with_no_more_subgraph_calls(
    gateways: Gateways, name: str
) -> None:
    case = CORPUS[name]
    request = {
        "query": case["query"],
        "variables": case.get("variables"),
        "operationName": case.get("operation"),
    }
    shop = gateways.shop

    shop.reset()
    async with gateways.http.post(gateways.apollo, json=request) as response:
        # json.loads keeps the order Apollo wrote the fields in.
        apollo = json.loads(await response.text())
    apollo_calls = calls(shop)

    shop.reset()
    funnel = await gateways.funnel.execute(case["query"], case.get("variables"), case.get("operation"))
    funnel_calls = calls(shop)

    assert only_data(funnel) == only_data(apollo), f"{name}: Funnel {funnel}\nApollo {apollo}"
    assert ("errors" in funnel) == ("errors" in apollo), f"{name}: Funnel {funnel}\nApollo {apollo}"
    known = case.get("known", {})
    for index, what in enumerate(("calls", "representations")):
        more = {
            subgraph: [funnel_calls[subgraph][index], apollo_calls[subgraph][index]]
            for subgraph in funnel_calls
            if funnel_calls[subgraph][index] > apollo_calls[subgraph][index]
        }
        assert more == known.get(what, {}), f"{name}: {what} of each subgraph: [Funnel's, Apollo's]"


def test_the_corpus_covers_what_it_says() -> None:
    queries = " ".join(case["query"] for case in CORPUS.values())
    assert 15 <= len(CORPUS) <= 40
    assert all(set(case) <= {"query", "variables", "operation", "known"} for case in CORPUS.values())
    for feature in (
        "variants",
        "shippingEstimate",
        "username",
        "mutation",
        "fragment",
        "__typename",
        "$",
        "@include",
    ):
        assert feature in queries, feature
