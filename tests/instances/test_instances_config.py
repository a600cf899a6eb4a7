"""`services.NAME.instances:` in the config file: the service's other instances beside its `url`."""

from __future__ import annotations

import pytest

from registry.config import RegistryHealthConfig, ServiceConfig, parse_config
from registry.errors import ConfigError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "funnel.yaml")
    return [str(p) for p in raised.value.problems]


def test_instances_beside_the_url_and_the_registry_health_checks() -> None:
    text = """services:
  catalog:
    url: http://catalog-1:4001/graphql
    instances:
      - http://catalog-2:4001/graphql
      - https://user:secret@catalog-3/graphql
  orders:
    url: http://orders:4002/graphql
registry:
  health: {interval_ms: 250, unhealthy_threshold: 3}
"""
    services = parse_config(text, "funnel.yaml").services
    assert services["catalog"].instances == (
        "http://catalog-1:4001/graphql",
        "http://catalog-2:4001/graphql",
        "https://user:secret@catalog-3/graphql",
    )
    assert services["catalog"].url == "http://catalog-1:4001/graphql"
    assert services["orders"].instances == ("http://orders:4002/graphql",)
    health = RegistryHealthConfig(interval_ms=250, unhealthy_threshold=3)
    assert services["catalog"].health == services["orders"].health == health


def test_without_instances_one_and_the_default_checks() -> None:
    service = parse_config("services:\n  catalog:\n    url: http://a/graphql\n", "funnel.yaml").services[
        "catalog"
    ]
    assert service.instances == ("http://a/graphql",) and service.other_instances == ()
    assert service.health == RegistryHealthConfig()
    assert ServiceConfig("x", "http://x").instances == ("http://x",)


def test_each_instance_is_checked_like_the_url_and_named_by_its_line() -> None:
    text = """services:
  catalog:
    url: http://a/graphql
    instances:
      - http://b/graphql
      - ftp://c/graphql
      - http://
      - 42
"""
    assert problems(text) == [
        "funnel.yaml:6: services.catalog.instances[1]: instances[1] must be an http(s) URL like"
        " http://host:port/path, got 'ftp://c/graphql'",
        "funnel.yaml:7: services.catalog.instances[2]: instances[2] must be an http(s) URL like"
        " http://host:port/path, got 'http://'",
        "funnel.yaml:8: services.catalog.instances[3]: instances[3] must be an http(s) URL like"
        " http://host:port/path, got 42",
    ]


def test_an_instance_listed_twice_or_the_url_again_is_refused() -> None:
    text = """services:
  catalog:
    url: http://a/graphql
    instances: [http://b/graphql, http://b/graphql]
  orders:
    url: http://o/graphql
    instances:
      - http://p/graphql
      - http://o/graphql
"""
    assert problems(text) == [
        "funnel.yaml:4: services.catalog.instances[1]: 'http://b/graphql' is listed twice",
        "funnel.yaml:9: services.orders.instances[1]: 'http://o/graphql' is the service's url already",
    ]


def test_instances_must_be_a_list() -> None:
    text = "services:\n  catalog:\n    url: http://a/graphql\n    instances: http://b/graphql\n"
    assert problems(text) == [
        "funnel.yaml:4: services.catalog.instances: instances must be a list, got 'http://b/graphql'"
    ]
