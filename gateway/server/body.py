"""The bodies of the endpoints that handle their own JSON (the registry's, cache invalidation): a request body
read up to a limit, before it is parsed; a JSON answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

__all__ = ["json_answer", "read_at_most"]


async def read_at_most(request: web.Request, limit: int) -> bytes:
    """The body, or its first `limit` bytes (a read returns what has arrived: several make up the body)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await request.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def json_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=dict(headers) if headers else None,
    )
