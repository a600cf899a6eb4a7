"""A request body read up to a limit, for the endpoints that bound their own bodies before parsing them."""

from __future__ import annotations

from aiohttp import web

__all__ = ["read_at_most"]


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
