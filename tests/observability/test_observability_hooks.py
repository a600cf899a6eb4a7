"""The executor's hooks: what they are told, in which order, and that answers are the same with or without them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from examples.services.cluster import Cluster
from gateway.gateway import Gateway
from instrumentation.call import Call, CallRecord, GraphQLCall
from instrumentation.errors import DownstreamError
from instrumentation.hooks import ExecutionHooks, LevelGroup, combine_hooks, describe_fetches
from instrumentation.plan import Fetch
from registry.config import LoggingConfig, ObservabilityConfig, ServiceConfig
from tests.engine.conftest import EXAMPLE_SCHEMA, service_configs

from .conftest import distinct_products

CALL = GraphQLCall("orders", "{ orders { id } }", {})
DEEP = "{ orders(first: 20) { id product { name seller { name } reviews { rating } } buyer { name } } }"


class Recorder(ExecutionHooks):
    def __init__(self, events: list[tuple[Any, ...]], name: str) -> None:
        self.events = events
        self.name = name

    def level(self, group: LevelGroup) -> AbstractContextManager[None]:
        return self._around(("level", group.level, group.service, group.requested, group.distinct))

    def call(self, call: Call, fetches: tuple[Fetch, ...]) -> AbstractContextManager[None]:
        return self._around(("call", call.service, describe_fetches(fetches)))

    def called(
        self, call: Call, fetches: tuple[Fetch, ...], record: CallRecord, error: DownstreamError | None
    ) -> None:
        self.events.append((self.name, "called", record.service, record.keys, error is None))

    @contextmanager
    def _around(self, what: tuple[Any, ...]) -> Iterator[None]:
        self.events.append((self.name, "enter", *what))
        yield
        self.events.append((self.name, "exit", *what))


class CallsOnly(ExecutionHooks):
    def __init__(self) -> None:
        self.calls = 0

    def called(
        self, call: Call, fetches: tuple[Fetch, ...], record: CallRecord, error: DownstreamError | None
    ) -> None:
        self.calls += 1


def test_combining_hooks() -> None:
    assert combine_hooks() is None and combine_hooks(None, None) is None
    only = CallsOnly()
    assert combine_hooks(None, only) is only


def test_combined_hooks_that_wrap_nothing_add_no_context_manager() -> None:
    # As metrics with request logs: both count calls, neither opens a span around them.
    combined = combine_hooks(CallsOnly(), CallsOnly())
    assert combined is not None
    nothing = ExecutionHooks().call(CALL, ())
    assert combined.call(CALL, ()) is nothing
    assert combined.level(LevelGroup(0, "orders", ())) is nothing


async def test_hooks_see_every_group_and_call_nested_and_answers_do_not_change(cluster: Cluster) -> None:
    events: list[tuple[Any, ...]] = []
    counter = CallsOnly()
    hooks = combine_hooks(Recorder(events, "a"), counter, Recorder(events, "b"))
    assert hooks is not None
    plain = Gateway.from_sdl(EXAMPLE_SCHEMA.read_text(), service_configs(cluster))
    observed = Gateway.from_sdl(
        EXAMPLE_SCHEMA.read_text(),
        service_configs(cluster),
        observability=ObservabilityConfig(logging=LoggingConfig()),
    )
    observed.freeze()
    observed.runtime.observer.hooks = hooks  # type: ignore[union-attr]  # the recorders in place of the request log
    try:
        expected = await plain.run(DEEP)
        result = await observed.run(DEEP)
    finally:
        await plain.close()
        await observed.close()
    assert result.response() == expected.response()
    assert counter.calls == len(result.calls) == 5  # orders; catalog, accounts (buyers); accounts, reviews

    # Each call is inside its group; hooks nest in the order given (groups run concurrently: one at a time here).
    distinct = distinct_products(20)
    assert [e for e in events if "catalog" in e] == [
        ("a", "enter", "level", 1, "catalog", 20, distinct),
        ("b", "enter", "level", 1, "catalog", 20, distinct),
        ("a", "enter", "call", "catalog", "Order.product"),
        ("b", "enter", "call", "catalog", "Order.product"),
        ("a", "called", "catalog", distinct, True),
        ("b", "called", "catalog", distinct, True),
        ("b", "exit", "call", "catalog", "Order.product"),
        ("a", "exit", "call", "catalog", "Order.product"),
        ("b", "exit", "level", 1, "catalog", 20, distinct),
        ("a", "exit", "level", 1, "catalog", 20, distinct),
    ]
    levels = sorted((e[3], e[4]) for e in events if e[:3] == ("a", "enter", "level"))
    assert levels == [(0, "orders"), (1, "accounts"), (1, "catalog"), (2, "accounts"), (2, "reviews")]


def test_a_gateway_without_observability_has_no_hooks() -> None:
    services = {
        name: ServiceConfig(name, f"http://{name}:4000", protocol="rest" if name == "accounts" else "graphql")
        for name in ("accounts", "catalog", "orders", "reviews")
    }
    gateway = Gateway.from_sdl(EXAMPLE_SCHEMA.read_text(), services)
    gateway.freeze()
    assert gateway.observability.hooks is None and gateway.runtime.observer is None
