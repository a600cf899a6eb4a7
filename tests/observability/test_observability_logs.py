"""Log lines: one JSON line per request with the required fields, one per failed downstream call, and never a
forwarded `authorization` value — not even when a service echoes it back in its error."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from examples.services.cluster import Cluster
from examples.services.common import start_app
from gateway.observability import TextFormatter, configure_logging
from gateway.observability.logs import DOWNSTREAM_LOGGER, FIELDS, REQUEST_LOGGER, secrets_of
from registry.config import LoggingConfig
from tests.engine.conftest import service_configs

from .conftest import FLAT, LogLines, StartObserved, distinct_products, post

TOKEN = "secret-token-123"
AUTHORIZATION = {"authorization": f"Bearer {TOKEN}"}
REQUEST_FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "trace_id",
    "operation",
    "outcome",
    "duration_ms",
    "calls",
    "downstream",
    "errors",
    "error_codes",
}


@pytest.fixture
async def echoing_service() -> AsyncIterator[str]:
    """A GraphQL service that fails every call with HTTP 500, quoting the authorization it was sent."""

    async def fail(request: web.Request) -> web.Response:
        said = request.headers.get("authorization", "nothing")
        body = {"errors": [{"message": f"credentials {said} refused; token {said.split()[-1]} unknown"}]}
        return web.json_response(body, status=500)

    app = web.Application()
    app.router.add_post("/graphql", fail)
    runner, url = await start_app(app)
    try:
        yield url + "/graphql"
    finally:
        await runner.cleanup()


async def test_one_json_line_per_request_with_every_field_and_no_secret(
    start_observed: StartObserved, http: aiohttp.ClientSession, cluster: Cluster, log_lines: LogLines
) -> None:
    services = service_configs(
        cluster,
        orders={"forward_headers": ("authorization",)},
        catalog={"forward_headers": ("authorization",)},
    )
    observed = await start_observed(services=services)
    query = FLAT.replace("{ orders", "query Flat { orders", 1)
    headers = {**AUTHORIZATION, "x-request-id": "req-7"}
    status, body, _ = await post(http, observed.graphql, query, headers=headers)
    assert status == 200 and "errors" not in body

    [line] = log_lines.parsed(REQUEST_LOGGER)
    assert set(line) == REQUEST_FIELDS
    [request_span] = [s for s in observed.finished_spans() if s.name == "query Flat"]
    assert line["level"] == "info" and line["message"] == "request"
    assert line["request_id"] == "req-7"
    assert line["trace_id"] == format(request_span.context.trace_id, "032x")
    assert line["operation"] == "Flat" and line["outcome"] == "ok"
    assert line["duration_ms"] > 0
    assert line["calls"] == 2 and line["errors"] == 0 and line["error_codes"] == []
    assert {
        name: {k: v for k, v in entry.items() if k != "ms"} for name, entry in line["downstream"].items()
    } == {
        "orders": {"calls": 1, "keys": 0, "failed": 0},
        "catalog": {"calls": 1, "keys": distinct_products(100), "failed": 0},
    }
    assert all(entry["ms"] > 0 for entry in line["downstream"].values())
    assert TOKEN not in log_lines.text


async def test_a_failed_call_logs_its_own_line_scrubbed_of_the_token_it_echoes(
    start_observed: StartObserved,
    http: aiohttp.ClientSession,
    cluster: Cluster,
    log_lines: LogLines,
    echoing_service: str,
) -> None:
    services = service_configs(
        cluster, catalog={"url": echoing_service, "forward_headers": ("authorization",)}
    )
    observed = await start_observed(services=services)
    status, body, _ = await post(
        http, observed.graphql, "{ orders(first: 3) { id product { name } } }", headers=AUTHORIZATION
    )
    assert status == 200
    # The client sees the service and the code, not what the service said; the log line has it, scrubbed.
    assert body["errors"][0]["message"] == "catalog: the service answered with an HTTP error"
    assert TOKEN not in str(body)

    [failure] = log_lines.parsed(DOWNSTREAM_LOGGER)
    assert failure["level"] == "warning" and failure["message"] == "downstream call failed"
    assert failure["service"] == "catalog" and failure["binding"] == "Order.product"
    assert failure["outcome"] == "DOWNSTREAM_HTTP_ERROR" and failure["status"] == 500
    assert (failure["plan_level"], failure["chunk"], failure["keys"]) == (1, 0, 3)
    assert failure["error"] == "catalog: HTTP 500: credentials [redacted] refused; token [redacted] unknown"
    [request] = log_lines.parsed(REQUEST_LOGGER)
    assert failure["request_id"] == request["request_id"] and failure["trace_id"] == request["trace_id"]
    assert request["outcome"] == "partial"
    assert request["errors"] == 3 and request["error_codes"] == ["DOWNSTREAM_HTTP_ERROR"]  # one per order
    assert {k: v for k, v in request["downstream"]["catalog"].items() if k != "ms"} == {
        "calls": 1,
        "keys": 3,
        "failed": 1,
    }
    assert TOKEN not in log_lines.text


async def test_a_rejected_request_is_logged_with_its_status(
    start_observed: StartObserved, http: aiohttp.ClientSession, log_lines: LogLines
) -> None:
    observed = await start_observed()
    async with http.post(
        observed.graphql, data=b"{", headers={"Content-Type": "application/json", **AUTHORIZATION}
    ) as response:
        assert response.status == 400
        request_id = response.headers["x-request-id"]
    [line] = log_lines.parsed(REQUEST_LOGGER)
    assert (line["outcome"], line["status"], line["request_id"]) == ("rejected", 400, request_id)
    assert TOKEN not in log_lines.text


def test_secrets_are_the_credential_values_and_their_tokens() -> None:
    headers = {"Authorization": "Bearer abcdef123", "Cookie": "a=1", "X-Other": "Bearer visible-value"}
    lowered = {name.lower(): value for name, value in headers.items()}
    assert secrets_of(lowered) == ("Bearer abcdef123", "abcdef123")  # "a=1" is too short to redact safely


def test_text_format_and_configure_logging() -> None:
    stream = io.StringIO()
    handler = configure_logging(LoggingConfig(level="warning", format="text"), stream)
    logger = logging.getLogger("funnel")
    try:
        assert logger.level == logging.WARNING and logger.propagate is False
        assert isinstance(handler.formatter, TextFormatter)
        logging.getLogger(REQUEST_LOGGER).info(
            "request", extra={FIELDS: {"outcome": "ok"}}
        )  # below the level
        logging.getLogger(DOWNSTREAM_LOGGER).warning(
            "downstream call failed", extra={FIELDS: {"service": "catalog", "keys": 3, "status": None}}
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    [line] = stream.getvalue().splitlines()
    assert line.endswith(
        " warning funnel.downstream: downstream call failed service=catalog keys=3 status=null"
    )


def test_json_format_puts_the_fields_beside_the_message() -> None:
    stream = io.StringIO()
    handler = configure_logging(LoggingConfig(), stream)
    try:
        logging.getLogger(REQUEST_LOGGER).info("request", extra={FIELDS: {"outcome": "ok", "calls": 2}})
    finally:
        logger = logging.getLogger("funnel")
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    line = orjson.loads(stream.getvalue())
    assert line["time"].endswith("Z")
    assert {k: v for k, v in line.items() if k != "time"} == {
        "level": "info",
        "logger": REQUEST_LOGGER,
        "message": "request",
        "outcome": "ok",
        "calls": 2,
    }
