"""Names, ports, URLs and command-line value types of the example services.

Stdlib only, so that the launcher spawns the services without first loading aiohttp or GraphQL itself.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Mapping

__all__ = [
    "DEFAULT_BASE_PORT",
    "DEFAULT_HOST",
    "GRAPHQL_PATH",
    "REGISTRY_TOKEN_ENV",
    "SERVICE_NAMES",
    "base_url",
    "default_port",
    "free_port",
    "free_port_block",
    "non_negative_float",
    "positive_int",
    "service_urls",
    "upstream_urls",
]

SERVICE_NAMES: tuple[str, ...] = ("accounts", "catalog", "orders", "reviews")
"""In port order: service ``i`` listens on ``base_port + i``."""

DEFAULT_BASE_PORT = 4001
DEFAULT_HOST = "127.0.0.1"
GRAPHQL_PATH = "/graphql"
# Where a service started with --registry finds the gateway's write token (its --registry-token-env default).
REGISTRY_TOKEN_ENV = "FUNNEL_REGISTRY_TOKEN"


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def default_port(name: str) -> int:
    return DEFAULT_BASE_PORT + SERVICE_NAMES.index(name)


def service_urls(base_port: int = DEFAULT_BASE_PORT, host: str = DEFAULT_HOST) -> dict[str, str]:
    """Service name -> base URL for services started from ``base_port``."""
    return {name: base_url(host, base_port + offset) for offset, name in enumerate(SERVICE_NAMES)}


def upstream_urls(base_urls: Mapping[str, str]) -> dict[str, str]:
    """orders' ``catalog_url`` (catalog's GraphQL endpoint) and ``accounts_url`` (accounts' base URL), from
    the services' base URLs (name -> URL)."""
    return {"catalog_url": base_urls["catalog"] + GRAPHQL_PATH, "accounts_url": base_urls["accounts"]}


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (closed again before returning)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _is_free(port: int, host: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port_block(count: int = 4, host: str = "127.0.0.1", attempts: int = 100) -> int:
    """The first of ``count`` consecutive free ports."""
    for _ in range(attempts):
        base = free_port(host)
        if base + count <= 65536 and all(_is_free(base + i, host) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found")
