"""Funnel against @apollo/gateway over the same supergraph and the same Python subgraphs (the shop, and the
library): for every query of differential.yaml (shop) and differential_library.yaml the same `data` (compared as
JSON text, so field order counts), errors at the same paths and, subgraph by subgraph, no more calls nor
`_entities` representations from Funnel than from Apollo, as the subgraphs count them (but for the excess an
entry names as `known`, exactly; and where an entry says `data: differs`, different data).

Apollo runs under Node (scripts/federation/apollo_gateway.mjs), installed once into scripts/federation/node_modules;
without Node, npm or the registry the tests are skipped saying why (failed instead with FUNNEL_REQUIRE_APOLLO=1).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml

from gateway.gateway import Gateway

from . import test_library, test_supergraph
from .apollo import apollo_gateway, install_apollo, required
from .library import run_library
from .shop import Shop, run_shop
from .test_supergraph import calls


@dataclass(frozen=True)
class Federation:
    run: Callable[[], AbstractAsyncContextManager[Shop]]
    gateway_for: Callable[[Shop], Gateway]
    supergraph: Path
    corpus: dict[str, dict[str, Any]]
    features: tuple[str, ...]  # what its corpus is to exercise, as words its queries must hold


def corpus(name: str) -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(Path(__file__).with_name(name).read_text())
    return loaded


FEDERATIONS = {
    "shop": Federation(
        run_shop,
        test_supergraph.gateway_for,
        test_supergraph.SUPERGRAPH,
        corpus("differential.yaml"),
        ("variants", "shippingEstimate", "username", "mutation", "fragment", "__typename", "$", "@include"),
    ),
    "library": Federation(
        run_library,
        test_library.gateway_for,
        test_library.SUPERGRAPH,
        corpus("differential_library.yaml"),
        (
            "author",  # the nested key, from media
            "... on Member { login organization",  # the nested key, from search
            "editor",  # @provides
            "rating",  # the @interfaceObject
            "podcasts",
            "shippingCost",  # the nested @requires
            "search",  # the union
            "... on Media",
            "... on Podcast",
            "fullName",  # @shareable
            "minutes",  # @override
            "fragment",
            "__typename",
            ": ",  # aliases
            "$",
            "@include",
            "@skip",
        ),
    ),
}
CASES = [(federation, name) for federation, f in FEDERATIONS.items() for name in f.corpus]


@dataclass(frozen=True)
class Gateways:
    subgraphs: Shop
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
async def gateways(apollo_installed: None) -> AsyncIterator[dict[str, Gateways]]:
    """Every federation's subgraphs, Funnel and Apollo over them, started once for the module."""
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        started = {}
        for name, federation in FEDERATIONS.items():
            subgraphs = await stack.enter_async_context(federation.run())
            funnel = await stack.enter_async_context(federation.gateway_for(subgraphs))
            apollo = await stack.enter_async_context(apollo_gateway(federation.supergraph, subgraphs.urls))
            started[name] = Gateways(subgraphs, funnel, apollo, http)
        yield started


def numbers_as_floats(value: Any) -> Any:
    """`value` with every number a float: a Float that is whole is 3.0 from Python and 3 from JavaScript."""
    if isinstance(value, dict):
        return {key: numbers_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [numbers_as_floats(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def only_data(answer: dict[str, Any]) -> str:
    """The answer's `data` as JSON text, in the order the gateway wrote its fields; absent and null differ."""
    return json.dumps({key: numbers_as_floats(value) for key, value in answer.items() if key == "data"})


def where_errors_are(answer: dict[str, Any]) -> list[Any] | None:
    """The path of each of the answer's errors (None without `errors`): their messages are graphql-core's and
    graphql-js's, each worded its own way, and Apollo gives a subgraph's errors no locations."""
    if "errors" not in answer:
        return None
    return [error.get("path") for error in answer["errors"]]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("federation", "name"), CASES)
async def test_funnel_answers_as_apollo_does_with_no_more_subgraph_calls(
    gateways: dict[str, Gateways], federation: str, name: str
) -> None:
    case = FEDERATIONS[federation].corpus[name]
    started = gateways[federation]
    request = {
        "query": case["query"],
        "variables": case.get("variables"),
        "operationName": case.get("operation"),
    }
    subgraphs = started.subgraphs

    subgraphs.reset()
    async with started.http.post(started.apollo, json=request) as response:
        # json.loads keeps the order Apollo wrote the fields in.
        apollo = json.loads(await response.text())
    apollo_calls = calls(subgraphs)

    subgraphs.reset()
    funnel = await started.funnel.execute(case["query"], case.get("variables"), case.get("operation"))
    funnel_calls = calls(subgraphs)

    known = case.get("known", {})
    if known.get("data") == "differs":  # by design, and the test of that federation asserts Funnel's answer
        assert only_data(funnel) != only_data(apollo), f"{name}: the same data now: drop known.data"
    else:
        assert only_data(funnel) == only_data(apollo), f"{name}: Funnel {funnel}\nApollo {apollo}"
        assert where_errors_are(funnel) == where_errors_are(apollo), (
            f"{name}: Funnel {funnel}\nApollo {apollo}"
        )
    for index, what in enumerate(("calls", "representations")):
        more = {
            subgraph: [funnel_calls[subgraph][index], apollo_calls[subgraph][index]]
            for subgraph in funnel_calls
            if funnel_calls[subgraph][index] > apollo_calls[subgraph][index]
        }
        assert more == known.get(what, {}), f"{name}: {what} of each subgraph: [Funnel's, Apollo's]"


@pytest.mark.parametrize("federation", sorted(FEDERATIONS))
def test_the_corpus_covers_what_it_says(federation: str) -> None:
    cases = FEDERATIONS[federation].corpus
    queries = " ".join(case["query"] for case in cases.values())
    assert 15 <= len(cases) <= 40
    assert all(set(case) <= {"query", "variables", "operation", "known"} for case in cases.values())
    assert all(
        set(case.get("known", {})) <= {"why", "data", "calls", "representations"} for case in cases.values()
    )
    assert all("why" in case["known"] for case in cases.values() if "known" in case)
    assert [feature for feature in FEDERATIONS[federation].features if feature not in queries] == []
