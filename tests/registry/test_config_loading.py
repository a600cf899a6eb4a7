"""registry.config: the YAML file, read with lines, checked completely, frozen."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from registry.bindings import SourceLocation
from registry.config import GatewayConfig, ServiceConfig, load_config, parse_config
from registry.errors import ConfigError, Problem

VALID = """\
schema: schema.graphql
batching: false
services:
  catalog:
    url: http://127.0.0.1:4002/graphql
    protocol: graphql
    timeout_ms: 250
    max_batch: 100
    headers:
      forward: [Authorization, X-Request-Id]
  inventory:
    url: https://inventory.internal/api
    protocol: rest
"""


NO_SERVICES = "services must name at least one service"
NOT_A_URL = "url must be an http(s) URL like http://host:port/path, got"


def problems_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> list[str]:
    """Load `text` as ./gateway.yaml (a relative name keeps the messages short) and return its problems."""
    (tmp_path / "gateway.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("gateway.yaml")
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(problem) for problem in caught.value.problems]


def test_valid_config_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "gateway.yaml"
    path.parent.mkdir()
    path.write_text(VALID)

    config = load_config(path)

    assert config == GatewayConfig(
        path=str(path),
        schema_path=str(tmp_path / "conf" / "schema.graphql"),
        schema_location=SourceLocation(str(path), 1),
        batching=False,
        services={
            "catalog": ServiceConfig(
                name="catalog",
                url="http://127.0.0.1:4002/graphql",
                protocol="graphql",
                timeout_ms=250,
                max_batch=100,
                forward_headers=("authorization", "x-request-id"),
                location=SourceLocation(str(path), 4),
            ),
            "inventory": ServiceConfig(
                name="inventory",
                url="https://inventory.internal/api",
                protocol="rest",
                location=SourceLocation(str(path), 11),
            ),
        },
    )
    assert list(config.services) == ["catalog", "inventory"]


def test_defaults_and_no_schema() -> None:
    config = parse_config("services:\n  catalog:\n    url: http://localhost:4002/graphql\n", "gateway.yaml")

    assert config.schema_path is None
    assert config.batching is True
    assert config.services["catalog"] == ServiceConfig(
        "catalog", "http://localhost:4002/graphql", location=SourceLocation("gateway.yaml", 2)
    )
    service = config.services["catalog"]
    assert (service.protocol, service.timeout_ms, service.max_batch, service.forward_headers) == (
        "graphql",
        1000,
        500,
        (),
    )


def test_result_is_frozen(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(VALID)
    config = load_config(path)

    assert isinstance(config.services, MappingProxyType)
    with pytest.raises(TypeError):
        config.services["x"] = config.services["catalog"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batching = True  # type: ignore[misc]
    assert isinstance(config.services["catalog"].forward_headers, tuple)


def test_schema_path_is_relative_to_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deploy").mkdir()
    text = VALID.replace("schema.graphql", "../sdl/schema.graphql")
    (tmp_path / "deploy" / "gateway.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)

    config = load_config("deploy/gateway.yaml")

    assert config.path == "deploy/gateway.yaml"
    assert config.schema_path == str(tmp_path / "sdl" / "schema.graphql")


def test_absolute_schema_path_is_kept() -> None:
    config = parse_config(VALID.replace("schema.graphql", "/srv/funnel/schema.graphql"), "/etc/gateway.yaml")
    assert config.schema_path == "/srv/funnel/schema.graphql"


def test_merge_keys_share_settings_between_services() -> None:
    text = """\
services:
  catalog: &defaults
    url: http://catalog:4002/graphql
    timeout_ms: 300
  orders:
    <<: *defaults
    url: http://orders:4003/graphql
"""
    orders = parse_config(text, "gateway.yaml").services["orders"]
    assert (orders.url, orders.timeout_ms) == ("http://orders:4003/graphql", 300)


def test_unknown_top_level_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = VALID + "tracing:\n  sample: 2\n"
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:14: tracing: unknown key 'tracing' "
        "(allowed: auth, batching, cache, compose, cors, merge_levels, observability, persisted_queries, rate_limit, redis, registry, resilience, schema, schema_lock, server, services, supergraph, supergraph_poll_ms)"
    ]


def test_unknown_service_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = VALID.replace("    max_batch: 100\n", "    max_batch: 100\n    retries: 3\n")
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:9: services.catalog.retries: unknown key 'retries' "
        "(allowed: connect_timeout_ms, expose, expose_errors, headers, health_path, instances, max_batch, max_keys, max_response_bytes, "
        "openapi, protocol, resilience, "
        "schema_file, timeout_ms, url)"
    ]


def test_unknown_headers_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = VALID.replace("      forward:", "      add: {x-a: b}\n      forward:")
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:10: services.catalog.headers.add: unknown key 'add' (allowed: forward)"
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("timeout_ms: fast", "timeout_ms must be a positive integer, got 'fast'"),
        ("timeout_ms: 0", "timeout_ms must be a positive integer, got 0"),
        ("timeout_ms: -5", "timeout_ms must be a positive integer, got -5"),
        ("timeout_ms: 1.5", "timeout_ms must be a positive integer, got 1.5"),
        ("timeout_ms: true", "timeout_ms must be a positive integer, got true"),
        ("timeout_ms: '100'", "timeout_ms must be a positive integer, got '100'"),
        ("timeout_ms:", "timeout_ms must be a positive integer, got null"),
        ("timeout_ms: [1]", "timeout_ms must be a positive integer, got a list"),
        ("max_batch: 0", "max_batch must be a positive integer, got 0"),
        ("protocol: grpc", "protocol must be one of graphql, rest, got 'grpc'"),
        ("protocol: GraphQL", "protocol must be one of graphql, rest, got 'GraphQL'"),
        ("url: ftp://catalog/graphql", f"{NOT_A_URL} 'ftp://catalog/graphql'"),
        ("url: http://", f"{NOT_A_URL} 'http://'"),
        ("url: catalog:4002", f"{NOT_A_URL} 'catalog:4002'"),
        ("url: http://catalog:port/", f"{NOT_A_URL} 'http://catalog:port/'"),
        ("headers: [authorization]", "headers must be a mapping, got a list"),
    ],
)
def test_wrong_service_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, expected: str
) -> None:
    key = line.partition(":")[0]
    text = f"services:\n  catalog:\n    url: http://catalog/graphql\n    {line}\n"
    if key == "url":
        text = f"services:\n  catalog:\n    {line}\n"
    line_number = 3 if key == "url" else 4
    assert problems_of(tmp_path, monkeypatch, text) == [
        f"gateway.yaml:{line_number}: services.catalog.{key}: {expected}"
    ]


def test_header_names_are_checked_per_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = """\
services:
  catalog:
    url: http://catalog/graphql
    headers:
      forward:
        - Authorization
        - x request id
        - 42
"""
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:7: services.catalog.headers.forward[1]: forward[1] must be an HTTP header name, "
        "got 'x request id'",
        "gateway.yaml:8: services.catalog.headers.forward[2]: forward[2] must be an HTTP header name, got 42",
    ]


def test_forward_must_be_a_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "services:\n  catalog:\n    url: http://c/\n    headers:\n      forward: authorization\n"
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:5: services.catalog.headers.forward: forward must be a list, got 'authorization'"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("schema: s.graphql\nservices: {}\n", f"gateway.yaml:2: services: {NO_SERVICES}"),
        ("schema: s.graphql\nservices:\n", f"gateway.yaml:2: services: {NO_SERVICES}"),
        ("services: [catalog]\n", "gateway.yaml:1: services: services must be a mapping, got a list"),
        ("schema: s.graphql\n", "gateway.yaml:1: missing required key 'services'"),
        ("", "gateway.yaml:1: missing required key 'services'"),
        ("- catalog\n", "gateway.yaml:1: the config file must be a mapping, got a list"),
        (
            "batching: maybe\nservices: {c: {url: http://c/}}\n",
            "gateway.yaml:1: batching: batching must be true or false, got 'maybe'",
        ),
        (
            "schema: ''\nservices: {c: {url: http://c/}}\n",
            "gateway.yaml:1: schema: schema must be a file name, got ''",
        ),
        (
            "services:\n  catalog:\n    protocol: rest\n",
            "gateway.yaml:2: services.catalog: missing required key 'url'",
        ),
        ("services:\n  catalog: 5\n", "gateway.yaml:2: services.catalog: catalog must be a mapping, got 5"),
        (
            "services:\n  cat.alog: {url: http://c/}\n",
            "gateway.yaml:2: services.cat.alog: "
            "service name must be letters, digits, '_' or '-', got 'cat.alog'",
        ),
        (
            "services:\n  c: {url: http://c/}\n  c: {url: http://d/}\n",
            "gateway.yaml:3: services.c: duplicate key 'c' (first at line 2)",
        ),
        ("services:\n  1: {url: http://c/}\n", "gateway.yaml:2: services: keys must be names, got 1"),
    ],
)
def test_structural_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    assert problems_of(tmp_path, monkeypatch, text) == [expected]


def test_yaml_syntax_error_names_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "services:\n  catalog:\n    url: http://c/\n    timeout_ms: [1, 2\n"
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:5: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence)"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = """\
schema: schema.graphql
batching: 1
listen: 8080
services:
  catalog:
    url: http://127.0.0.1:4002/graphql
    protocol: grpc
    timeout_ms: fast
    max_batch: 0
    headers:
      forward: [authorization]
      strip: [cookie]
  orders:
    protocol: rest
    timeout: 5
"""
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:2: batching: batching must be true or false, got 1",
        "gateway.yaml:3: listen: unknown key 'listen' "
        "(allowed: auth, batching, cache, compose, cors, merge_levels, observability, persisted_queries, rate_limit, redis, registry, resilience, schema, schema_lock, server, services, supergraph, supergraph_poll_ms)",
        "gateway.yaml:7: services.catalog.protocol: protocol must be one of graphql, rest, got 'grpc'",
        "gateway.yaml:8: services.catalog.timeout_ms: timeout_ms must be a positive integer, got 'fast'",
        "gateway.yaml:9: services.catalog.max_batch: max_batch must be a positive integer, got 0",
        "gateway.yaml:12: services.catalog.headers.strip: unknown key 'strip' (allowed: forward)",
        "gateway.yaml:15: services.orders.timeout: unknown key 'timeout' "
        "(allowed: connect_timeout_ms, expose, expose_errors, headers, health_path, instances, max_batch, max_keys, max_response_bytes, "
        "openapi, protocol, resilience, "
        "schema_file, timeout_ms, url)",
        "gateway.yaml:13: services.orders: missing required key 'url'",
    ]


def test_problems_carry_file_line_and_coordinate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gateway.yaml").write_text("services:\n  catalog:\n    url: http://c/\n    timeout_ms: x\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("gateway.yaml")
    assert caught.value.problems == (
        Problem(
            "timeout_ms must be a positive integer, got 'x'",
            file="gateway.yaml",
            line=4,
            coordinate="services.catalog.timeout_ms",
        ),
    )


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert [str(p) for p in caught.value.problems] == [
        f"{missing}: cannot read the config file: No such file or directory"
    ]


def test_health_path_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "services:\n  a:\n    url: http://a\n    protocol: rest\n    health_path: health\n"
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:5: services.a.health_path: health_path must be a path starting with /, like /health, "
        "got 'health'"
    ]
    (tmp_path / "ok.yaml").write_text(text.replace("health_path: health", "health_path: /status"))
    assert load_config(tmp_path / "ok.yaml").services["a"].health_path == "/status"
    (tmp_path / "default.yaml").write_text("services:\n  a:\n    url: http://a\n")
    assert load_config(tmp_path / "default.yaml").services["a"].health_path == "/health"
