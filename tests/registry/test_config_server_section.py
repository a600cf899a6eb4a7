"""registry.config: the `server:` section and a service's `max_keys`."""

from __future__ import annotations

import pytest

from registry.config import ServerConfig, parse_config
from registry.errors import ConfigError

SERVICES = "services:\n  catalog:\n    url: http://catalog/graphql\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "funnel.yaml")
    return [str(problem) for problem in caught.value.problems]


def test_defaults_without_a_server_section() -> None:
    config = parse_config(SERVICES, "funnel.yaml")
    assert config.server == ServerConfig()
    assert config.server == ServerConfig(
        host="127.0.0.1",
        port=4000,
        max_body_bytes=1048576,
        max_depth=20,
        max_aliases=50,
        browser_page=True,
        debug_plan=False,
        shutdown_timeout_ms=10000,
        batching_header=False,
        drain_ms=0,
        workers=1,
    )
    assert config.services["catalog"].max_keys == 10000


def test_every_server_key() -> None:
    text = SERVICES + (
        "server:\n  host: 0.0.0.0\n  port: 8080\n  max_body_bytes: 2048\n  max_depth: 7\n  max_aliases: 3\n"
        "  browser_page: false\n  debug_plan: true\n  shutdown_timeout_ms: 500\n  batching_header: true\n"
        "  drain_ms: 1500\n  workers: 4\n"
    )
    assert parse_config(text, "funnel.yaml").server == ServerConfig(
        host="0.0.0.0",
        port=8080,
        max_body_bytes=2048,
        max_depth=7,
        max_aliases=3,
        browser_page=False,
        debug_plan=True,
        shutdown_timeout_ms=500,
        drain_ms=1500,
        workers=4,
        batching_header=True,
    )


def test_an_empty_server_section_keeps_the_defaults() -> None:
    assert parse_config(SERVICES + "server:\n", "funnel.yaml").server == ServerConfig()


def test_max_keys_per_service() -> None:
    config = parse_config(SERVICES + "    max_keys: 25\n", "funnel.yaml")
    assert config.services["catalog"].max_keys == 25


def test_every_wrong_server_value_is_reported_at_once_with_its_line() -> None:
    text = SERVICES + (
        "server:\n  port: 70000\n  max_depth: 0\n  browser_page: sometimes\n  host: ''\n  worker: 4\n"
        "  max_aliases: -1\n  workers: 0\n  drain_ms: -5\n"
    )
    assert problems(text) == [
        "funnel.yaml:5: server.port: port must be a port number (0 to 65535), got 70000",
        "funnel.yaml:6: server.max_depth: max_depth must be a positive integer, got 0",
        "funnel.yaml:7: server.browser_page: browser_page must be true or false, got 'sometimes'",
        "funnel.yaml:8: server.host: host must be a host name or address, got ''",
        "funnel.yaml:9: server.worker: unknown key 'worker' (allowed: batching_header, body_timeout_ms, browser_page, csrf_prevention, "
        "csrf_required_headers, debug_access, debug_plan, default_list_size, document_cache_bytes, "
        "drain_ms, header_timeout_ms, host, introspection, max_aliases, max_body_bytes, "
        "max_connections_per_address, max_cost, max_depth, max_response_bytes, max_root_fields, "
        "max_tokens, port, schema_poll_ms, shutdown_timeout_ms, watch_ms, workers)",
        "funnel.yaml:10: server.max_aliases: max_aliases must be a positive integer, got -1",
        "funnel.yaml:11: server.workers: workers must be a positive integer, got 0",
        "funnel.yaml:12: server.drain_ms: drain_ms must be an integer, 0 or more, got -5",
    ]


def test_server_must_be_a_mapping() -> None:
    assert problems(SERVICES + "server: [port]\n") == [
        "funnel.yaml:4: server: server must be a mapping, got a list"
    ]


def test_max_keys_must_be_a_positive_integer() -> None:
    assert problems(SERVICES + "    max_keys: 0\n") == [
        "funnel.yaml:4: services.catalog.max_keys: max_keys must be a positive integer, got 0"
    ]


def test_the_demand_and_exposure_keys() -> None:
    text = SERVICES + (
        "    max_response_bytes: 4096\n    expose_errors: true\n"
        "server:\n  max_tokens: 500\n  max_root_fields: 4\n  max_cost: 900\n  default_list_size: 7\n"
        "  max_response_bytes: 8192\n  document_cache_bytes: 65536\n  introspection: true\n"
    )
    config = parse_config(text, "funnel.yaml")
    assert config.server == ServerConfig(
        max_tokens=500,
        max_root_fields=4,
        max_cost=900,
        default_list_size=7,
        max_response_bytes=8192,
        document_cache_bytes=65536,
        introspection=True,
    )
    catalog = config.services["catalog"]
    assert (catalog.max_response_bytes, catalog.expose_errors) == (4096, True)


def test_the_defaults_are_strict() -> None:
    server = ServerConfig()
    assert (server.introspection, server.max_cost, server.max_tokens, server.max_root_fields) == (
        False,
        10_000,
        4000,
        30,
    )


@pytest.mark.parametrize(
    "header", ["host", "Content-Length", "transfer-encoding", "connection", "upgrade", "te"]
)
def test_hop_by_hop_headers_cannot_be_forwarded(header: str) -> None:
    text = SERVICES + f"    headers:\n      forward: [authorization, {header}]\n"
    assert problems(text) == [
        f"funnel.yaml:5: services.catalog.headers.forward[1]: forward[1]: {header.lower()} is a hop-by-hop or "
        "per-message header and cannot be forwarded"
    ]
