"""A real Funnel server with observability on (metrics, tracing into memory, JSON logs into a buffer), over the
example services running in-process on loopback."""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from examples.services.cluster import Cluster
from examples.services.orders import seed_orders
from gateway.gateway import Gateway
from gateway.observability import JsonFormatter, Observability
from gateway.server import create_app
from gateway.server.serving import listening
from registry.config import LoggingConfig, ObservabilityConfig, ServerConfig, ServiceConfig
from registry.resilience import GatewayResilience
from tests.engine.conftest import EXAMPLE_SCHEMA, service_configs

FLAT = "{ orders(first: 100) { id product { name price } } }"


def distinct_products(n: int) -> int:
    """Products among the first n orders, from the seeded data: the keys left after de-duplication."""
    return len({product for _, _, product, *_ in sorted(seed_orders())[:n]})


@dataclass
class Observed:
    """A server over the cluster, and what it observed."""

    url: str
    gateway: Gateway
    app: web.Application
    spans: InMemorySpanExporter

    @property
    def graphql(self) -> str:
        return self.url + "/graphql"

    def finished_spans(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())


StartObserved = Callable[..., Awaitable[Observed]]


@pytest.fixture
async def start_observed(cluster: Cluster) -> AsyncIterator[StartObserved]:
    """Start servers over the cluster with metrics, in-memory tracing and request logs on (each can be turned
    off); all stopped at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            *,
            services: dict[str, ServiceConfig] | None = None,
            metrics: bool = True,
            tracing: bool = True,
            logs: bool = True,
            batching: bool = True,
            resilience: GatewayResilience | None = None,
            **settings: Any,
        ) -> Observed:
            spans = InMemorySpanExporter()
            observability = Observability(
                ObservabilityConfig(metrics=metrics, logging=LoggingConfig() if logs else None),
                span_processor=SimpleSpanProcessor(spans) if tracing else None,
            )
            gateway = Gateway.from_sdl(
                EXAMPLE_SCHEMA.read_text(),
                services if services is not None else service_configs(cluster),
                path="gateway.graphql",
                batching=batching,
                resilience=resilience,
                observability=observability,
            )
            app = create_app(gateway, ServerConfig(**settings))
            url = await stack.enter_async_context(listening(app, "127.0.0.1", 0, shutdown_timeout_s=5))
            return Observed(url, gateway, app, spans)

        yield start


@pytest.fixture
async def observed(start_observed: StartObserved) -> Observed:
    return await start_observed()


class LogLines:
    """The lines the `funnel` loggers wrote, as JSON."""

    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def parsed(self, logger: str | None = None) -> list[dict[str, Any]]:
        lines = [orjson.loads(line) for line in self.text.splitlines() if line.strip()]
        return [line for line in lines if logger is None or line["logger"] == logger]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The `funnel` loggers at info level into a buffer, as JSON lines; restored afterwards."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("funnel")
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield LogLines(buffer)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


async def post(
    http: aiohttp.ClientSession, url: str, query: str, headers: dict[str, str] | None = None, **body: Any
) -> tuple[int, dict[str, Any], CIMultiDict[str]]:
    """POST a GraphQL request: (status, JSON body, response headers)."""
    async with http.post(url, json={"query": query, **body}, headers=headers) as response:
        return response.status, await response.json(), CIMultiDict(response.headers)


async def scrape(http: aiohttp.ClientSession, observed: Observed) -> dict[str, float]:
    """GET /metrics as {'name{label="value",...}': value}, labels sorted by name (as the client prints them)."""
    async with http.get(observed.url + "/metrics") as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def sample(samples: dict[str, float], name: str, **labels: str) -> float:
    """One sample by name and labels (0 when absent, as a counter not yet incremented reads)."""
    if labels:
        inside = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        name = f"{name}{{{inside}}}"
    return samples.get(name, 0.0)


def labelled(samples: dict[str, float], name: str) -> dict[str, float]:
    """Every sample of one metric name, by its label set."""
    pattern = re.compile(re.escape(name) + r"(\{.*\})?$")
    return {key: value for key, value in samples.items() if pattern.match(key)}
