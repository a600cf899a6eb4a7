"""The browser page at `GET /graphql`: one self-contained HTML file (no CDN), so it works offline."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from aiohttp import web

from .media import HTML

__all__ = ["CONTENT_SECURITY_POLICY", "PAGE_FILE", "page_response"]

PAGE_FILE: Final = Path(__file__).with_name("static") / "page.html"

# The page's script and style are inline and it talks only to the gateway: anything else it tried to load (a
# CDN, a font) would be refused, so a page that works here works on a machine without internet access.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@functools.cache
def _page() -> bytes:
    return PAGE_FILE.read_bytes()


def page_response() -> web.Response:
    return web.Response(
        body=_page(),
        content_type=HTML,
        charset="utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )
