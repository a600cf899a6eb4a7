"""Request ids: take the client's `x-request-id` or make one, answer with it, and send it to every service.

One id follows a request through the gateway's logs, its response and every downstream call, so that a line in
a service's log can be traced back to the client request that caused it.

A client's id is taken only if it looks like an id (a short token of letters, digits and `-._:+=@`, with no
`..`): it goes into log lines, other services' headers and whatever they build from it (file names, URLs), so a
value that could forge a log line, smuggle a header or climb a path is replaced by a fresh one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

from aiohttp import web

__all__ = [
    "REQUEST_ID_HEADER",
    "accept_request_id",
    "current_request_id",
    "new_request_id",
    "request_id_middleware",
    "using_request_id",
]

REQUEST_ID_HEADER: Final = "x-request-id"
_ACCEPTED: Final = re.compile(r"(?!.*\.\.)[A-Za-z0-9._:+=@-]{1,128}")

# The id of the request being answered, for whatever logs on its behalf (a downstream failure deep in the
# executor); set by the server's middleware and by the gateway while it runs a request.
_CURRENT: ContextVar[str | None] = ContextVar("funnel_request_id", default=None)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(headers: Mapping[str, str]) -> str:
    """The client's `x-request-id` when it is a plausible id, else a new one."""
    given = headers.get(REQUEST_ID_HEADER)
    if given is not None and _ACCEPTED.fullmatch(given):
        return given
    return new_request_id()


def current_request_id() -> str | None:
    return _CURRENT.get()


@contextmanager
def using_request_id(request_id: str | None) -> Iterator[None]:
    token = _CURRENT.set(request_id)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@web.middleware
async def request_id_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Outermost: every answer carries the id, errors and 404s included."""
    request_id = accept_request_id(request.headers)
    with using_request_id(request_id):
        try:
            response = await handler(request)
        except web.HTTPException as error:  # raised rather than returned: it is the response
            error.headers[REQUEST_ID_HEADER] = request_id
            raise
    response.headers[REQUEST_ID_HEADER] = request_id
    return response
