"""Small clients for the example services' tests."""

from __future__ import annotations

from typing import Any

import aiohttp

from examples.services.topology import free_port, free_port_block

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
