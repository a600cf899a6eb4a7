"""Small clients for the example services' tests."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp

__all__ = ["free_port", "free_port_block", "get_json", "graphql", "post_json"]


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def post_json(session: aiohttp.ClientSession, url: str, body: object) -> tuple[int, Any]:
    async with session.post(url, json=body) as response:
        return response.status, await response.json(content_type=None)


async def graphql(
    session: aiohttp.ClientSession, url: str, query: str, variables: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """POST a query to ``url`` (a service's /graphql); the status and the decoded answer."""
    return await post_json(session, url, {"query": query, "variables": variables})


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
