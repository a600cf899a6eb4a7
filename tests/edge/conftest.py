"""Servers of tests/server, credentials for them, and raw-socket helpers for the edge's tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt

from tests.server.conftest import server, start_server

__all__ = ["SECRET", "raw_exchange", "server", "start_server", "token"]

SECRET = "a-test-secret-that-is-long-enough-for-hs256-hs384-and-hs512-too!"


def token(subject: str = "ada", scopes: str = "", *, secret: str = SECRET, **claims: Any) -> str:
    payload: dict[str, Any] = {"sub": subject, "exp": int(time.time()) + 600, **claims}
    if scopes:
        payload["scope"] = scopes
    return jwt.encode(payload, secret, algorithm=claims.pop("alg", "HS256") if "alg" in claims else "HS256")


async def raw_exchange(url: str, data: bytes, *, timeout_s: float = 5.0) -> bytes:
    """Send `data` on a fresh connection to the server at `url` and read until it closes (bounded in time)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(timeout_s):
            return await reader.read(1 << 16)
    finally:
        writer.close()
