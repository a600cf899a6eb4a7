"""A bounded hypothesis fuzz of the HTTP surface and of queries over the example schema, against a real server
with `funnel serve`'s defaults (authentication on, request logs on) over the real example services.

Whatever is sent: no 5xx, every answer of /graphql is JSON, no traceback in any log line, and no credential the
client sent — a bearer token, an API key, a cookie — in any log line or any answer.

The server runs on an event loop of its own thread so that hypothesis can drive plain synchronous tests; each
request is sent on a raw socket (malformed heads included) and read to the end within a time bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import logging
import re
import socket
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from examples.services.cluster import run_cluster
from gateway.gateway import Gateway
from gateway.observability import Observability
from gateway.server import create_app
from gateway.server.serving import listening
from registry.config import (
    APIKeyConfig,
    AuthConfig,
    JWTConfig,
    LoggingConfig,
    ObservabilityConfig,
    ServerConfig,
)
from tests.engine.conftest import EXAMPLE_SCHEMA, service_configs

from .conftest import SECRET, token

# Credentials the fuzzed requests carry: none of them may come back, or reach a log line.
API_KEY: Final = "fuzz-api-key-0d9c1f7e2b"
COOKIE: Final = "session=fuzz-cookie-5a8e3c"
CANARY_TOKEN: Final = token("fuzzer", "orders:read")
FORGED_TOKEN: Final = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.fuzz-forged-signature-77aa"
SECRETS: Final = (API_KEY, "fuzz-cookie-5a8e3c", CANARY_TOKEN, FORGED_TOKEN, "fuzz-forged-signature-77aa")
READ_TIMEOUT_S: Final = 5.0
STATUS_LINE: Final = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


@dataclass
class Edge:
    host: str
    port: int
    log: io.StringIO


class _EveryRecord(logging.Handler):
    """Every record of every logger, formatted with its traceback if it has one."""

    def __init__(self, buffer: io.StringIO) -> None:
        super().__init__(logging.DEBUG)
        self.buffer = buffer
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_:
            self.buffer.write(self.format(record) + "\n")


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    buffer = io.StringIO()
    handler = _EveryRecord(buffer)
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in ("funnel", "aiohttp")]
    saved = [(logger, logger.level) for logger in loggers]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    where: dict[str, Any] = {}

    async def serve() -> None:
        async with run_cluster() as cluster:
            gateway = Gateway.from_sdl(
                EXAMPLE_SCHEMA.read_text(),
                service_configs(cluster),
                path="gateway.graphql",
                observability=Observability(ObservabilityConfig(logging=LoggingConfig(level="debug"))),
            )
            auth = AuthConfig(
                jwt=JWTConfig(secret=SECRET, algorithms=("HS256",)),
                api_keys=(APIKeyConfig(key=API_KEY, subject="partner", scopes=("orders:read",)),),
            )
            # funnel serve's defaults, with short head and body timeouts so that a truncated body ends fast.
            config = ServerConfig(port=0, header_timeout_ms=1000, body_timeout_ms=1000)
            app = create_app(gateway, config, auth=auth)
            async with listening(app, "127.0.0.1", 0, shutdown_timeout_s=5) as url:
                host, port = url.removeprefix("http://").split(":")
                where["address"] = (host, int(port))
                started.set()
                await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        except BaseException as error:  # reported by the fixture below, not lost in the thread
            where["error"] = error
            started.set()

    thread = threading.Thread(target=run, name="fuzz-edge", daemon=True)
    thread.start()
    try:
        assert started.wait(30), "the server did not start within 30 s"
        if "error" in where:
            raise where["error"]
        host, port = where["address"]
        yield Edge(host, port, buffer)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
        root.removeHandler(handler)
        for logger, level in saved:
            logger.setLevel(level)


def exchange(edge: Edge, data: bytes) -> tuple[int, bytes, bytes]:
    """Send `data` on a fresh connection, read until the server closes it: (status, head, body)."""
    with socket.create_connection((edge.host, edge.port), timeout=READ_TIMEOUT_S) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(data)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while not _complete(answer, data.startswith(b"HEAD ")) and (chunk := connection.recv(1 << 16)):
                answer += chunk
    match = STATUS_LINE.match(answer)
    assert match is not None, f"no HTTP status line in {answer[:200]!r} for {data[:300]!r}"
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(match.group(1)), head, body


def _complete(answer: bytes, head_only: bool) -> bool:
    """Whether `answer` holds a whole response: its head, and as many body bytes as it declares."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator or head_only:
        return bool(separator)
    declared = re.search(rb"(?im)^content-length: *(\d+)", head)
    return declared is not None and len(body) >= int(declared.group(1))


def check(edge: Edge, request: bytes, status: int, head: bytes, body: bytes) -> None:
    assert status < 500, f"{status} for {request[:300]!r}: {body[:300]!r}"
    for secret in SECRETS:
        assert secret.encode() not in head + body, f"{secret!r} in the answer to {request[:300]!r}"
    log = edge.log.getvalue()
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
    for secret in SECRETS:
        assert secret not in log, f"{secret!r} in a log line after {request[:300]!r}"


def request_bytes(method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


# -- the HTTP surface -----------------------------------------------------------------------------------------

_TEXT = st.text(string.printable.replace("\r", "").replace("\n", ""), max_size=40)
_QUERY_TEXTS = st.sampled_from(
    [
        "{ orders(first: 2) { id product { name } } }",
        "{ __typename }",
        "{ __schema { types { name } } }",
        'mutation { updatePrice(productId: "1", price: 2) { id } }',
        "{ orders(first: 1000000) { id } }",
        "{ " + "a: __typename " * 60 + "}",
        '{ account(id: "../stats") { id } }',
        "query Q($n: Int!) { orders(first: $n) { id } }",
        "{",
        "",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_GRAPHQL_BODY = st.fixed_dictionaries(
    {"query": _QUERY_TEXTS | _TEXT},
    optional={"variables": _JSON, "operationName": _JSON, "extensions": _JSON},
)
_CREDENTIALS = st.sampled_from(
    [
        [],
        [("Authorization", f"Bearer {CANARY_TOKEN}")],
        [("Authorization", f"Bearer {FORGED_TOKEN}")],
        [("Authorization", f"Basic {API_KEY}")],
        [("X-Api-Key", API_KEY)],
        [("X-Api-Key", API_KEY + "-wrong")],
        [("Cookie", COOKIE), ("Authorization", f"Bearer {CANARY_TOKEN}")],
        # A head aiohttp cannot parse, holding the credentials: the 400 must echo and log none of them.
        [("Authorization", f"Bearer {CANARY_TOKEN}"), ("X-Long", "x" * 9000)],
        [("Cookie", COOKIE + "\x01"), ("X-Api-Key", API_KEY)],
    ]
)
_HEADER_VALUES: Final = {
    "Content-Type": [
        "application/json",
        "application/graphql-response+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
    ],
    "Accept": [
        "application/json",
        "application/graphql-response+json",
        "text/html",
        "*/*",
        "image/png",
        "application/json;q=0",
    ],
    "Content-Encoding": ["gzip", "deflate", "br", "identity", "x-unknown"],
    "X-Request-Id": ["abc-123", "../../etc/passwd", "x" * 300],
    "Funnel-Debug": ["plan", "explain", "nonsense"],
    "Funnel-Timeout-Ms": ["10", "-1", "1e9", "abc"],
    "Funnel-Batching": ["on", "off", "maybe"],
    "Origin": ["https://evil.example", "null"],
    "Sec-Fetch-Site": ["cross-site", "same-origin"],
    "Transfer-Encoding": ["chunked"],
}


@st.composite
def http_requests(draw: st.DrawFn) -> bytes:
    method = draw(
        st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "BREW"])
    )
    path = draw(
        st.sampled_from(
            ["/graphql", "/graphql", "/health", "/ready", "/metrics", "/graphiql/../../etc/passwd", "/nope"]
        )
    )
    if draw(st.booleans()):
        query = draw(_QUERY_TEXTS | _TEXT)
        path += (
            "?query="
            + quote(query)
            + draw(st.sampled_from(["", "&variables=%7B", "&variables=%7B%7D", "&x=%ZZ"]))
        )
    headers = list(draw(_CREDENTIALS))
    for name in draw(st.lists(st.sampled_from(sorted(_HEADER_VALUES)), max_size=4, unique=True)):
        headers.append((name, draw(st.sampled_from(_HEADER_VALUES[name]) | _TEXT)))
    kind = draw(st.sampled_from(["graphql", "graphql", "json", "bytes", "none"]))
    if kind == "graphql":
        body = json.dumps(draw(_GRAPHQL_BODY)).encode()  # the standard library writes integers of any size
    elif kind == "json":
        body = json.dumps(draw(_JSON)).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = b""
    encodings = {value for name, value in headers if name == "Content-Encoding"}
    if "gzip" in encodings and draw(st.booleans()):
        body = gzip.compress(body)  # sometimes valid, sometimes not
    if any(name == "Transfer-Encoding" for name, _ in headers):
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if draw(st.booleans()) else b"zz\r\n" + body
    else:
        declared = len(body) + draw(st.sampled_from([0, 0, 0, 0, 5, -1])) if body else 0
        headers.append(("Content-Length", str(max(declared, 0))))  # 5 more: a truncated body (body timeout)
    headers.append(("Connection", "close"))
    return request_bytes(method, path, headers, body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=http_requests())
def test_the_http_surface(edge: Edge, request: bytes) -> None:
    status, head, body = exchange(edge, request)
    event(f"HTTP {status}")
    check(edge, request, status, head, body)
    if (
        request.startswith((b"GET /graphql", b"POST /graphql"))
        and status != 200
        and b"HEAD " not in request[:5]
    ):
        assert b"application/json" in head.lower() or b"graphql-response+json" in head.lower(), head
        errors = orjson.loads(body)["errors"]
        assert errors and all(isinstance(e["message"], str) and e["message"] for e in errors)


# -- queries over the example schema --------------------------------------------------------------------------

_HOSTILE_STRINGS = st.sampled_from(
    ["1", "5", "../stats", "5/../../stats", "%2e%2e/stats", "5?x=1", "5\n", "5#frag", "5,6", "", "\x00", "é"]
) | st.text(max_size=12)
_ARGUMENT_VALUES = st.one_of(
    _HOSTILE_STRINGS.map(lambda s: orjson.dumps(s).decode()),
    st.integers(-(2**40), 2**40).map(str),
    st.sampled_from(["null", "true", "1.5", "[1, 2]", "{a: 1}", "$missing"]),
)


def _argument(name: str) -> st.SearchStrategy[str]:
    """Mostly a value of the argument's type (so that most queries run), sometimes anything at all."""
    typed = (
        st.integers(-5, 300).map(str)
        if name in ("first", "count", "size")
        else _HOSTILE_STRINGS.map(lambda v: orjson.dumps(v).decode())
    )
    return st.integers(0, 19).flatmap(lambda n: _ARGUMENT_VALUES if n == 0 else typed)


# The example schema's fields by type, as (name, arguments, type of its selection or None for a leaf).
_Field = tuple[str, tuple[str, ...], str | None]
_FIELDS: Final[dict[str, list[_Field]]] = {
    "Query": [
        ("orders", ("first", "after"), "Order"),
        ("products", ("first", "after"), "Product"),
        ("account", ("id",), "Account"),
        ("product", ("id",), "Product"),
        ("shelves", ("count", "size"), "Product"),
        ("__typename", (), None),
    ],
    "Order": [("id", (), None), ("product", (), "Product"), ("buyer", (), "Account"), ("quantity", (), None)],
    "Product": [
        ("id", (), None),
        ("name", (), None),
        ("price", (), None),
        ("seller", (), "Account"),
        ("reviews", (), "Review"),
    ],
    "Account": [("id", (), None), ("name", (), None), ("email", (), None), ("orders", (), "Order")],
    "Review": [("id", (), None), ("rating", (), None), ("body", (), None), ("author", (), "Account")],
}


@st.composite
def selections(draw: st.DrawFn, type_name: str, depth: int) -> str:
    """A selection on `type_name`, mostly valid: every response key distinct, composite fields selected into
    (down to depth 4), arguments of their types; now and then an argument left out or of another type."""
    choices = _FIELDS[type_name] if depth < 4 else [f for f in _FIELDS[type_name] if f[2] is None]
    fields = []
    for index in range(draw(st.integers(1, 3))):
        name, arguments, inner = draw(st.sampled_from(choices))
        given: list[str] = list(arguments)
        if arguments and draw(st.integers(0, 19)) == 0:  # required ones too
            given = draw(st.lists(st.sampled_from(arguments), unique=True))
        args = "(" + ", ".join(f"{a}: {draw(_argument(a))}" for a in given) + ")" if given else ""
        selection = " " + draw(selections(inner, depth + 1)) if inner is not None else ""
        fields.append(f"f{index}: {name}{args}{selection}")
    return "{ " + " ".join(fields) + " }"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=selections("Query", 0), token_kind=st.sampled_from(["none", "canary", "key"]))
def test_queries_over_the_example_schema(edge: Edge, query: str, token_kind: str) -> None:
    body = orjson.dumps({"query": query})
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    if token_kind == "canary":
        headers.append(("Authorization", f"Bearer {CANARY_TOKEN}"))
    elif token_kind == "key":
        headers.append(("X-Api-Key", API_KEY))
    request = request_bytes("POST", "/graphql", headers, body)
    status, head, answer = exchange(edge, request)
    codes = {
        (e.get("extensions") or {}).get("code", "request error")
        for e in orjson.loads(answer).get("errors", ())
    }
    event(", ".join(sorted(codes)) or "no errors")
    check(edge, request, status, head, answer)
    assert status == 200, (status, answer[:300])
    parsed = orjson.loads(answer)
    assert "data" in parsed or parsed.get("errors"), parsed
    for error in parsed.get("errors", ()):
        assert isinstance(error["message"], str) and error["message"], error
        # a field's error says where it is; a request error (syntax, validation, a limit) has no path
        if "data" in parsed and parsed["data"] is not None:
            assert "path" in error or "locations" in error, error
