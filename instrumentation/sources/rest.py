"""REST services: `{method} {path}` for a root field, `GET {path}?{arg}=1,2,3` for a batch. The contract:

- A root field's arguments fill the path's `{name}` placeholders, each as exactly one percent-encoded path
  segment: a value that cannot be one (empty, `.`, `..`, holding `/` or a control character, also once
  percent-decoded) is refused with BAD_USER_INPUT at the field, and nothing is sent. The other arguments go in
  the query string with GET (a list joined by commas) or, with any other method, in a JSON object body.
- A root field answers its value: a JSON object (or a list for a list field), possibly inside an envelope named
  by `items:` (a dotted path, `data.account`). For a field that is not a list, 404 and 204 mean null.
- A batch answers a JSON array of objects (or an envelope around one), matched to keys by `request.match` in any
  order. Keys are sent joined by commas, each percent-encoded by the transport; a key holding the separator or a
  control character is refused (INVALID_KEY) and fails only its own parents. Fields reading one endpoint (path,
  argument, match and envelope) share its keys: one request, not one per field.
- Anything else (an object where a list is expected, a missing envelope) is DOWNSTREAM_BAD_RESPONSE naming the
  service, the request and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import Any
from urllib.parse import quote, unquote

from graphql import print_ast, value_from_ast

from ..call import RestCall
from ..errors import DownstreamBadResponse, DownstreamError, DownstreamHTTPError, NotSent
from ..merge import Lookup
from ..plan import BatchFetch, BatchRequest, RootFetch
from .base import CallContext, Part, Source, index_matched

__all__ = ["RestSource", "path_segment"]

_SEPARATOR = ","
_TEXT = frozenset({str})
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# What makes a key unsendable, found in one scan: most keys are fine, and a batch checks every key.
_UNSENDABLE = re.compile("[" + re.escape(_SEPARATOR) + "\x00-\x1f\x7f-\x9f]")
_ABSENT = frozenset({404, 204})  # 204 reaches here as a None answer; 404 as an HTTP error


class RestSource(Source):
    name = "rest"
    checks_keys = True

    # -- planning -------------------------------------------------------------------------------------------

    def label(self, request: BatchRequest) -> str:
        envelope = f" items {request.items}" if request.items else ""
        return f"GET {request.path}?{request.arg}={envelope}"

    def root_label(self, fetch: RootFetch) -> str:
        args = ", ".join(f"{a.name}: {print_ast(a.value)}" for a in fetch.arguments)
        envelope = f" items {fetch.items}" if fetch.items else ""
        return (
            f"(rest) {fetch.method} {fetch.path}"
            + (f" [{args}]" if args else "")
            + envelope
            + f" → {', '.join(fetch.keys)}"
        )

    # -- root fields ----------------------------------------------------------------------------------------

    def root_call(self, fetch: RootFetch, context: CallContext) -> RestCall:
        path, params = fetch.path, {}
        body: dict[str, Any] = {}
        for argument in fetch.arguments:
            value = value_from_ast(argument.value, argument.type, dict(context.coerced_variables))
            if value is None:
                continue
            placeholder = "{" + argument.name + "}"
            if placeholder in path:
                segment = path_segment(value)
                if segment is None:
                    raise NotSent(
                        f"{fetch.service}: argument '{argument.name}' cannot be sent as one path segment of"
                        f" {fetch.path}: {value!r} (empty, '.', '..', '/' or a control character)",
                        service=fetch.service,
                    )
                path = path.replace(placeholder, segment)
            elif fetch.method == "GET":
                params[argument.name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            else:
                body[argument.name] = value
        method = fetch.method
        return RestCall(
            fetch.service,
            path,
            params,
            keys=1,
            method=method,
            body=body if method != "GET" else None,
            operation=fetch.operation,
        )

    def absent(self, fetch: RootFetch, error: DownstreamError) -> bool:
        return fetch.expects != "list" and isinstance(error, DownstreamHTTPError) and error.status in _ABSENT

    def index_root(self, fetch: RootFetch, answer: Any, root: dict[str, Any]) -> None:
        value = None if answer is None and fetch.expects != "list" else self.unwrap(fetch, answer)
        for key in fetch.keys:
            root[key] = value

    def unwrap(self, fetch: RootFetch, answer: Any) -> Any:
        request = f"{fetch.method} {fetch.path}"
        value = _envelope(fetch.service, request, answer, fetch.items)
        if fetch.expects == "list" and not isinstance(value, list):
            raise _shape(fetch.service, request, fetch.items, "a JSON array", value)
        if fetch.expects == "object" and value is not None and not isinstance(value, dict):
            raise _shape(fetch.service, request, fetch.items, "a JSON object", value)
        return value

    # -- batches --------------------------------------------------------------------------------------------

    def invalid_key(self, fetch: BatchFetch, key: Any) -> str | None:
        text = key if key.__class__ is str else str(key)
        if text and _UNSENDABLE.search(text) is None:
            return None
        reason = None
        if not text:
            reason = "it is empty"
        elif _SEPARATOR in text:
            reason = f"it holds '{_SEPARATOR}', the separator of the keys"
        elif _has_control(text):
            reason = "it holds a control character"
        if reason is None:
            return None
        request = fetch.request
        return f"{fetch.service}: key {key!r} cannot be sent to GET {request.path}?{request.arg}=: {reason}"

    def all_sendable(self, fetch: BatchFetch, keys: Sequence[Any]) -> bool:
        # Text keys, none empty: joined, they hold one separator fewer than keys and no control character.
        if not keys or not set(map(type, keys)) <= _TEXT or "" in keys:
            return False
        joined = _SEPARATOR.join(keys)
        return joined.count(_SEPARATOR) == len(keys) - 1 and _CONTROL.search(joined) is None

    def share(self, fetch: BatchFetch) -> Hashable:
        request = fetch.request
        return (request.path, request.arg, request.match, request.items)

    def batch_call(self, parts: Sequence[Part], context: CallContext, level: int, chunk: int) -> RestCall:
        (part,) = parts  # one endpoint per request
        first = part.fetches[0]
        request = first.request
        keys = part.keys
        arg = _SEPARATOR.join(map(str, keys))
        return RestCall(first.service, request.path or "", {request.arg: arg}, len(keys), level, chunk)

    def index(self, parts: Sequence[Part], answer: Any, lookups: Sequence[Lookup]) -> None:
        (part,), (lookup,) = parts, lookups
        first = part.fetches[0]
        request = first.request
        described = f"GET {request.path}?{request.arg}="
        items = _envelope(first.service, described, answer, request.items)
        if not isinstance(items, list):
            raise _shape(first.service, described, request.items, "a JSON array", items)
        index_matched(part, items, lookup)


def path_segment(value: Any) -> str | None:
    """The value as exactly one percent-encoded path segment, or None when it cannot be one."""
    text = str(value)
    decoded = unquote(text)
    for form in (text, decoded):
        if form in ("", ".", "..") or "/" in form or "\\" in form or _has_control(form):
            return None
    return quote(text, safe="")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _envelope(service: str, request: str, answer: Any, items: str | None) -> Any:
    """The value at the dotted `items` path of the answer (the answer itself without one)."""
    if items is None:
        return answer
    value = answer
    for name in items.split("."):
        if not isinstance(value, dict) or name not in value:
            raise DownstreamBadResponse(
                f"{service}: {request} answered {_kind(answer)} without '{items}'; expected an object with"
                f" '{items}' (items: {items})",
                service=service,
            )
        value = value[name]
    return value


def _shape(service: str, request: str, items: str | None, expected: str, got: Any) -> DownstreamBadResponse:
    where = f" at '{items}'" if items else ""
    return DownstreamBadResponse(
        f"{service}: {request} answered {_kind(got)}{where}; expected {expected}", service=service
    )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if value is None:
        return "null"
    return f"a JSON {type(value).__name__}"
