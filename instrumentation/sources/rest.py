"""REST services: `GET {path}` for a root field, `GET {path}?{arg}=1,2,3` for a batch.

A root field's arguments fill the path's `{name}` placeholders and the rest go in the query string (a list
joined by commas). A batch answers a JSON array of objects, matched to keys by `request.match` in any order;
fields reading one endpoint (path, argument and match) share its keys: one request, not one per field.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from graphql import print_ast, value_from_ast

from ..call import RestCall
from ..errors import DownstreamBadResponse
from ..merge import Lookup, index_items
from ..plan import BatchFetch, BatchRequest, RootFetch
from .base import CallContext, Part, Source, fail_keys, unusable_answer

__all__ = ["RestSource"]


class RestSource(Source):
    name = "rest"

    # -- planning -------------------------------------------------------------------------------------------

    def label(self, request: BatchRequest) -> str:
        return f"GET {request.path}?{request.arg}="

    def root_label(self, fetch: RootFetch) -> str:
        args = ", ".join(f"{a.name}: {print_ast(a.value)}" for a in fetch.arguments)
        return f"(rest) GET {fetch.path}" + (f" [{args}]" if args else "") + f" → {', '.join(fetch.keys)}"

    # -- root fields ----------------------------------------------------------------------------------------

    def root_call(self, fetch: RootFetch, context: CallContext) -> RestCall:
        path, params = fetch.path, {}
        for argument in fetch.arguments:
            value = value_from_ast(argument.value, argument.type, dict(context.coerced_variables))
            if value is None:
                continue
            placeholder = "{" + argument.name + "}"
            if placeholder in path:
                path = path.replace(placeholder, str(value))
            else:
                params[argument.name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        return RestCall(fetch.service, path, params, keys=1)

    def index_root(self, fetch: RootFetch, answer: Any, root: dict[str, Any]) -> None:
        for key in fetch.keys:
            root[key] = answer

    # -- batches --------------------------------------------------------------------------------------------

    def share(self, fetch: BatchFetch) -> Hashable:
        request = fetch.request
        return (request.path, request.arg, request.match)

    def batch_call(self, parts: Sequence[Part], context: CallContext, level: int, chunk: int) -> RestCall:
        (part,) = parts  # one endpoint per request
        first = part.fetches[0]
        request = first.request
        keys = part.keys
        return RestCall(
            first.service,
            request.path or "",
            {request.arg: ",".join(map(str, keys))},
            len(keys),
            level,
            chunk,
        )

    def index(self, parts: Sequence[Part], answer: Any, lookups: Sequence[Lookup]) -> None:
        (part,), (lookup,) = parts, lookups
        first = part.fetches[0]
        request = first.request
        if not isinstance(answer, list):
            raise DownstreamBadResponse(
                f"{first.service}: expected a JSON array from GET {request.path}, got {type(answer).__name__}",
                service=first.service,
            )
        unusable = index_items(answer, request.match, first.one_to_many, lookup)
        if unusable:
            failed = unusable_answer(first.service, unusable, len(answer), request.match)
            fail_keys(parts, lookups, failed, keep=True)
