"""The connection level, over raw sockets: malformed requests and unreadable bodies answered with a quiet 4xx
that echoes nothing and logs no credential; slow clients bounded by the head and body timeouts and by the
connections one address may hold, and unable to fill the shedder's in-flight slots. Every wait is bounded."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from registry.resilience import GatewayResilience
from tests.server.conftest import StartServer

from .conftest import raw_exchange

CREDENTIALS = (b"Bearer SECRET-TOKEN-123", b"session=SECRET-COOKIE-456")
MALFORMED = b'{"errors":[{"message":"Malformed HTTP request: a header too long, a control character, or bad framing."}]}'


def status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /graphql?query={__typename} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer SECRET-TOKEN-123\r\n"
        b"Cookie: session=SECRET-COOKIE-456" + b"a" * 9000 + b"\r\n\r\n",
        b"GET /graphql?query={__typename} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer SECRET-TOKEN-123\x01\r\n"
        b"Cookie: session=SECRET-COOKIE-456\r\n\r\n",
    ],
    ids=["header-over-8-kb", "control-character"],
)
async def test_a_malformed_header_is_a_quiet_400(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    server = await start_server()
    with caplog.at_level(logging.DEBUG):
        answer = await raw_exchange(server.url, request_bytes)
    assert status_and_body(answer) == (400, MALFORMED)
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert not any(secret.decode() in logged or secret in answer for secret in CREDENTIALS)
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decode_is_a_quiet_400(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, encoding: str
) -> None:
    server = await start_server()
    body = b"this is not compressed at all"
    request = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: %s\r\n"
        b"Authorization: Bearer SECRET-TOKEN-123\r\nContent-Length: %d\r\n\r\n%s"
        % (encoding.encode(), len(body), body)
    )
    with caplog.at_level(logging.DEBUG):
        answer = await raw_exchange(server.url, request)
    assert status_and_body(answer) == (
        400,
        b'{"errors":[{"message":"The body cannot be read: its Content-Encoding does not decode or its framing is broken."}]}',
    )
    assert "Traceback" not in caplog.text and "SECRET-TOKEN-123" not in caplog.text


async def test_a_client_closing_mid_body_logs_no_error(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, http: aiohttp.ClientSession
) -> None:
    server = await start_server()
    host, port = server.url.removeprefix("http://").split(":")
    with caplog.at_level(logging.INFO):
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.transport.abort()
        async with http.get(server.url + "/health") as response:  # the server carries on
            assert response.status == 200
        await asyncio.sleep(0.1)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_slow_body_times_out_with_408(start_server: StartServer) -> None:
    server = await start_server(body_timeout_ms=200)
    request = b'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"q'
    assert status_and_body(await raw_exchange(server.url, request)) == (
        408,
        b'{"errors":[{"message":"The body did not arrive within 200 ms (server.body_timeout_ms)."}]}',
    )


@pytest.mark.parametrize(
    "request_line", [b"GET /health", b"GET /graphql?query={__typename}", b"PUT /graphql"]
)
async def test_an_unread_body_holds_its_connection_no_longer_than_the_body_timeout(
    start_server: StartServer, request_line: bytes
) -> None:
    # Answered without reading the body; what is left of it is drained before the connection closes, and a
    # body that never comes must not hold the connection for aiohttp's own 10 s.
    server = await start_server(body_timeout_ms=200)
    request = request_line + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    start = time.monotonic()
    try:
        writer.write(request)
        async with asyncio.timeout(5):
            answer = await reader.read()  # to the end: until the server closes the connection
    finally:
        writer.close()
    assert status_and_body(answer)[0] in (200, 405) and time.monotonic() - start < 2


async def test_a_slow_head_times_out_with_408(start_server: StartServer) -> None:
    server = await start_server(header_timeout_ms=200)
    assert status_and_body(await raw_exchange(server.url, b"POST /graphql HTTP/1.1\r\nHost: x\r\n")) == (
        408,
        b'{"errors":[{"message":"The request head did not arrive in time (server.header_timeout_ms)."}]}',
    )


async def test_slow_bodies_cannot_fill_the_in_flight_slots(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    # The case, scaled down: more slow bodies than in-flight slots; a well-behaved request still runs.
    server = await start_server(resilience=GatewayResilience(max_in_flight_requests=2), body_timeout_ms=5000)
    host, port = server.url.removeprefix("http://").split(":")
    slow = []
    try:
        for _ in range(6):
            _reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"'
            )
            await writer.drain()
            slow.append(writer)
        await asyncio.sleep(0.2)
        async with http.post(server.graphql, json={"query": "{ __typename }"}) as response:
            assert (response.status, await response.json()) == (200, {"data": {"__typename": "Query"}})
    finally:
        for writer in slow:
            writer.close()


async def test_one_address_may_hold_only_so_many_connections(start_server: StartServer) -> None:
    server = await start_server(max_connections_per_address=3)
    host, port = server.url.removeprefix("http://").split(":")
    held = [await asyncio.open_connection(host, int(port)) for _ in range(3)]
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(5):
            assert await reader.read(100) == b""  # closed at once, nothing read or answered
        writer.close()
    finally:
        for _, held_writer in held:
            held_writer.close()
    await asyncio.sleep(0.1)
    answer = await raw_exchange(server.url, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_and_body(answer)[0] == 200
