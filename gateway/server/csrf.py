"""CSRF prevention as Apollo Router does it: a request that a browser could send cross-site without a
preflight (a GET, or a POST whose Content-Type is missing or one of the three simple ones) is refused unless it
carries one of `server.csrf_required_headers`, which no page can add without a preflight.

Only requests a browser sent are held to it (they carry `Origin` or `Sec-Fetch-Site` other than same-origin
or none): GraphQL-over-HTTP clients that are not browsers keep GET queries as the specification describes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import orjson
from aiohttp import web

__all__ = ["csrf_middleware"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SIMPLE_TYPES: Final = frozenset(
    {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
_SAME_SITE: Final = frozenset({"same-origin", "none"})


def csrf_middleware(
    path: str, required_headers: Sequence[str]
) -> Callable[..., Awaitable[web.StreamResponse]]:
    required = tuple(required_headers)
    names = ", ".join(required)

    @web.middleware
    async def csrf(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path != path or request.method not in ("GET", "HEAD", "POST"):
            return await handler(request)
        fetch_site = request.headers.get("Sec-Fetch-Site")
        from_browser = "Origin" in request.headers or (
            fetch_site is not None and fetch_site not in _SAME_SITE
        )
        if not from_browser or any(name in request.headers for name in required):
            return await handler(request)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if request.method == "POST" and content_type not in _SIMPLE_TYPES:
            return await handler(request)  # a browser preflighted it: CORS decided
        message = (
            "Refused as a possible cross-site request forgery: send a POST with Content-Type: application/json,"
            f" or one of the headers {names} (server.csrf_prevention)."
        )
        body = {"errors": [{"message": message}]}
        return web.Response(body=orjson.dumps(body), status=400, content_type="application/json")

    return csrf
