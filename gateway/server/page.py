"""The browser page at `GET /graphql`: GraphiQL itself, with Funnel's panel as a GraphiQL plugin.

GraphiQL 3.8.3 and React 18.3.1 are vendored in `static/vendor/` (their licences beside them; re-vendored at the
pinned versions by `scripts/vendor_graphiql.py`) and served by Funnel under `/graphiql/`, so the page needs
nothing but the gateway: it works offline, and its Content-Security-Policy refuses anything else. The panel
(`static/funnel.js`) shows the plan of the query being written (asked with `funnel-debug: explain`, nothing run)
and, after a run, every downstream call with its keys and time per service and level; where the server honours
`funnel-batching` (`server.batching_header`), it runs the query with batching on and off side by side.
"""

from __future__ import annotations

import functools
from html import escape
from pathlib import Path
from typing import Final

from aiohttp import web

from registry.config import ServerConfig

from .media import HTML

__all__ = ["ASSETS", "ASSETS_PATH", "CONTENT_SECURITY_POLICY", "STATIC", "add_page_routes", "page_response"]

STATIC: Final = Path(__file__).with_name("static")
ASSETS_PATH: Final = "/graphiql"

# name under ASSETS_PATH -> (file under STATIC, media type): only these are served, so no path can escape.
ASSETS: Final = {
    "react.production.min.js": ("vendor/react.production.min.js", "text/javascript"),
    "react-dom.production.min.js": ("vendor/react-dom.production.min.js", "text/javascript"),
    "graphiql.min.js": ("vendor/graphiql.min.js", "text/javascript"),
    "graphiql.min.css": ("vendor/graphiql.min.css", "text/css"),
    "funnel.js": ("funnel.js", "text/javascript"),
    "funnel.css": ("funnel.css", "text/css"),
}

# Scripts and styles come from the gateway itself (React sets inline style attributes; GraphiQL's fonts are
# data: URLs) and the page talks only to the gateway: anything else it tried to load (a CDN, a font) would be
# refused, so a page that works here works on a machine without internet access.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src data:; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Funnel</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/graphiql.min.css">
<link rel="stylesheet" href="{assets}/funnel.css">
</head>
<body>
<div id="graphiql" data-endpoint="{endpoint}" data-batching-header="{batching_header}">Loading GraphiQL…</div>
<script src="{assets}/react.production.min.js"></script>
<script src="{assets}/react-dom.production.min.js"></script>
<script src="{assets}/graphiql.min.js"></script>
<script src="{assets}/funnel.js"></script>
</body>
</html>
"""


@functools.cache
def _page(batching_header: bool) -> bytes:
    text = _PAGE.format(
        assets=ASSETS_PATH,
        endpoint=escape("/graphql"),
        batching_header="true" if batching_header else "false",
    )
    return text.encode()


def page_response(settings: ServerConfig) -> web.Response:
    return web.Response(
        body=_page(settings.batching_header),
        content_type=HTML,
        charset="utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


@functools.cache
def _asset(name: str) -> bytes:
    return (STATIC / ASSETS[name][0]).read_bytes()


async def _serve_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    # The vendored files change only with Funnel's version; an hour keeps reloads cheap without going stale long.
    return web.Response(
        body=_asset(name),
        content_type=ASSETS[name][1],
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def add_page_routes(router: web.UrlDispatcher) -> None:
    """GET /graphiql/{name}: the page's scripts and styles."""
    router.add_get(ASSETS_PATH + "/{name}", _serve_asset)
