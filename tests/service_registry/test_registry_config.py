"""The `registry:` section of the config file."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from gateway.registry import MemoryStore, RedisStore, make_store
from registry.bindings import SourceLocation
from registry.config import RegistryConfig, RegistryHealthConfig, parse_config
from registry.errors import ConfigError

SERVICES = "services:\n  catalog:\n    url: http://127.0.0.1:4002/graphql\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(SERVICES + text, "gateway.yaml")
    return [str(p) for p in raised.value.problems]


def test_defaults_memory_and_writes_off() -> None:
    config = parse_config(SERVICES, "gateway.yaml")
    assert config.registry == RegistryConfig()
    assert config.registry.token is None and config.registry.allowed_urls == ()
    assert isinstance(make_store(config.registry, config.redis), MemoryStore)


def test_a_full_section() -> None:
    text = """registry:
  backend: redis
  url: redis://127.0.0.1:6390/0
  ttl_s: 5
  token_env: REGISTRY_TOKEN
  tokens: {catalog: catalog-secret}
  read_token: reader
  allowed_urls: ["http://127.0.0.1:*", "https://*.svc.cluster.local"]
  max_services: 3
  health: {interval_ms: 200, unhealthy_threshold: 3}
"""
    registry = parse_config(SERVICES + text, "gateway.yaml").registry
    assert (registry.backend, registry.url, registry.ttl_s) == ("redis", "redis://127.0.0.1:6390/0", 5)
    assert (registry.token_env, dict(registry.service_tokens)) == (
        "REGISTRY_TOKEN",
        {"catalog": "catalog-secret"},
    )
    assert registry.allowed_urls == ("http://127.0.0.1:*", "https://*.svc.cluster.local")
    assert registry.health == RegistryHealthConfig(interval_ms=200, unhealthy_threshold=3)
    assert "catalog-secret" not in repr(registry) and "reader" not in repr(registry)
    store = make_store(registry, None)
    assert isinstance(store, RedisStore) and store.config.url == "redis://127.0.0.1:6390/0"


def test_bad_values_name_their_line() -> None:
    assert problems(
        "registry:\n  backend: etcd\n  allowed_urls: [ftp://x]\n  token: a\n  token_env: B\n"
    ) == [
        "gateway.yaml:5: registry.backend: backend must be one of memory, redis, got 'etcd'",
        "gateway.yaml:6: registry.allowed_urls[0]: allowed_urls[0] must be a URL pattern like http://127.0.0.1:* or "
        "https://*.example.com, got 'ftp://x'",
    ]
    assert problems("registry:\n  token: a\n  token_env: B\n") == [
        "gateway.yaml:4: registry: token and token_env are two ways to give one token: keep one"
    ]
    assert problems("registry:\n  backend: redis\n") == [
        "gateway.yaml:4: registry: backend: redis needs a url, or the redis: section"
    ]


def test_the_readme_section_s_yaml_is_read_as_it_says(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## The registry\n", 1)[1].split("\n## ", 1)[0]
    (text,) = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    monkeypatch.setenv("REVIEWS_REGISTRY_TOKEN", "reviews-secret")
    assert parse_config(SERVICES + text, "gateway.yaml").registry == replace(
        RegistryConfig(),
        backend="redis",
        url="redis://127.0.0.1:6379/0",
        token_env="FUNNEL_REGISTRY_TOKEN",
        service_tokens=MappingProxyType({"reviews": "reviews-secret"}),
        read_token_env="FUNNEL_REGISTRY_READ_TOKEN",
        allowed_urls=("http://127.0.0.1:*", "https://*.svc.cluster.local"),
        location=SourceLocation("gateway.yaml", 4),
    )
