"""CORS: which browser origins may call the gateway, and the answer to their preflight. Only with a `cors:`
section; without one no CORS header is ever sent, so browsers keep other origins out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from registry.config import CorsConfig

__all__ = ["cors_middleware"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_EXPOSED = "x-request-id, retry-after"


def cors_middleware(config: CorsConfig) -> Callable[..., Awaitable[web.StreamResponse]]:
    origins = frozenset(config.origins)
    methods = frozenset(config.methods)
    headers = frozenset(h.lower() for h in config.headers)
    any_origin = "*" in origins

    def allowed(origin: str) -> bool:
        return any_origin or origin in origins

    def common(origin: str) -> dict[str, str]:
        answer = {"Access-Control-Allow-Origin": "*" if any_origin else origin, "Vary": "Origin"}
        if config.credentials:
            answer["Access-Control-Allow-Credentials"] = "true"
        return answer

    @web.middleware
    async def cors(request: web.Request, handler: _Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        method = request.headers.get("Access-Control-Request-Method")
        if request.method == "OPTIONS" and origin is not None and method is not None:
            requested = {
                h.strip().lower()
                for h in request.headers.get("Access-Control-Request-Headers", "").split(",")
            }
            requested.discard("")
            refused = None
            if not allowed(origin):
                refused = f"origin {origin[:200]!r} is not allowed (cors.origins)"
            elif method.upper() not in methods:
                refused = f"method {method[:40]!r} is not allowed (cors.methods)"
            elif not requested <= headers:
                names = ", ".join(sorted(requested - headers))[:200]
                refused = f"headers {names} are not allowed (cors.headers)"
            if refused is not None:
                body = {"errors": [{"message": f"CORS preflight refused: {refused}."}]}
                return web.Response(body=orjson.dumps(body), status=403, content_type="application/json")
            return web.Response(
                status=204,
                headers={
                    **common(origin),
                    "Access-Control-Allow-Methods": ", ".join(sorted(methods)),
                    "Access-Control-Allow-Headers": ", ".join(sorted(headers)),
                    "Access-Control-Max-Age": str(config.max_age_s),
                },
            )
        response = await handler(request)
        if origin is not None and allowed(origin):
            response.headers.update(common(origin))
            response.headers["Access-Control-Expose-Headers"] = _EXPOSED
        return response

    return cors
