"""deploy/compose.yaml: two gateway replicas, Redis, the example services and haproxy, wired together. Checked
here without a container engine: each replica's environment, over the examples' config it mounts, makes a
gateway pointed at the services container's ports and at Redis; haproxy's defaults name the two replicas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gateway.gateway import Gateway
from registry.config import load_config

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def test_the_pieces_are_there() -> None:
    assert set(SERVICES) == {"gateway-1", "gateway-2", "lb", "services", "redis"}
    assert SERVICES["gateway-1"] == SERVICES["gateway-2"]  # one definition, two replicas
    assert SERVICES["gateway-1"]["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in SERVICES["lb"]["volumes"]


def test_haproxy_sends_to_both_replicas_by_their_compose_names() -> None:
    config = (DEPLOY / "haproxy.cfg").read_text()
    servers = re.findall(
        r'^\s+server (\S+) "\$\{FUNNEL_GATEWAY_\d-(\S+):4000\}" check$', config, re.MULTILINE
    )
    assert servers == [("gateway-1", "gateway-1"), ("gateway-2", "gateway-2")]
    assert re.search(r'^\s+bind "\$\{FUNNEL_LB_BIND-:4000\}"$', config, re.MULTILINE)
    assert SERVICES["lb"]["ports"] == ["4000:4000"]


def test_a_replicas_environment_makes_a_gateway_over_the_services_container() -> None:
    gateway = SERVICES["gateway-1"]
    (mount,) = gateway["volumes"]
    assert mount.startswith("../examples:/etc/funnel:ro")
    environment = {key: str(value) for key, value in gateway["environment"].items()}
    config = load_config(ROOT / "examples" / "funnel.yaml", environ=environment)

    base_port = int(SERVICES["services"]["command"][SERVICES["services"]["command"].index("--base-port") + 1])
    ports = {
        name: base_port + offset for offset, name in enumerate(["accounts", "catalog", "orders", "reviews"])
    }
    for name, service in config.services.items():
        assert service.url.startswith(f"http://services:{ports[name]}"), service.url
    assert config.redis is not None and config.redis.url == "redis://redis:6379/0"
    assert config.cache.redis and config.persisted_queries.redis and config.observability.metrics
    assert config.server.drain_ms == 3000
    Gateway.from_config(config).freeze()
