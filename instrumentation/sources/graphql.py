"""GraphQL services: root fields forwarded as a document, and batch fields (`productsByIds(ids: [ID!]!)`).

Every batch of one service at one level goes in one document per chunk, each as an aliased root field
`b{id}: field(arg: $k{id}) { ... }`; answers are matched to keys by a field of each item, in any order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..call import GraphQLCall
from ..merge import Lookup, place_errors
from ..plan import BatchFetch, BatchRequest, RootFetch
from .base import CallContext, Part, Source, fail_keys, index_matched, request_error

__all__ = ["GraphQLSource"]


class GraphQLSource(Source):
    name = "graphql"
    selects = True
    one_request = True

    # -- planning -------------------------------------------------------------------------------------------

    def label(self, request: BatchRequest) -> str:
        return f"{request.field}({request.arg}:)"

    def root_label(self, fetch: RootFetch) -> str:
        return fetch.operation

    def document_field(self, fetch_id: int, request: BatchRequest, selection: str) -> str:
        """Alias and variable are named after the fetch, so that several batches share one document."""
        return f"b{fetch_id}: {request.field}({request.arg}: $k{fetch_id}) {selection}"

    # -- root fields ----------------------------------------------------------------------------------------

    def root_call(self, fetch: RootFetch, context: CallContext) -> GraphQLCall:
        variables = context.variables
        return GraphQLCall(
            fetch.service,
            fetch.query,
            {name: variables[name] for name in fetch.variables if name in variables},
            fetch.operation,
        )

    def index_root(self, fetch: RootFetch, answer: Any, root: dict[str, Any]) -> None:
        data = answer.get("data") if isinstance(answer, dict) else None
        if isinstance(data, dict):
            for key in fetch.keys:
                root[key] = data.get(key)
        errors = answer.get("errors") if isinstance(answer, dict) else None
        unplaced = place_errors(root, errors or (), fetch.service)
        if unplaced or not isinstance(data, dict):
            failed = request_error(unplaced, fetch.service)
            for key in fetch.keys:
                if root.get(key) is None:
                    root[key] = failed

    # -- batches --------------------------------------------------------------------------------------------

    def key_values(self, fetch: BatchFetch, keys: Sequence[Any]) -> Any:
        """The value of the keys variable `$k{id}`."""
        return list(keys)

    def part_field(self, part: Part) -> str:
        """The root field of the document that asks for one part's keys."""
        return part.fetches[0].document_field

    def batch_call(self, parts: Sequence[Part], context: CallContext, level: int, chunk: int) -> GraphQLCall:
        fetches = [p.fetches[0] for p in parts]
        variables: dict[str, Any] = {}
        definitions: dict[str, str] = {}
        for part, f in zip(parts, fetches, strict=True):
            variables[f"k{f.id}"] = self.key_values(f, part.keys)
            definitions[f"k{f.id}"] = f.key_type
            for name in f.variables:
                if name in context.variables:
                    variables[name] = context.variables[name]
        client = context.variable_definitions
        definitions.update((name, client[name]) for f in fetches for name in f.variables if name in client)
        query = "query(" + ", ".join(f"${n}: {t}" for n, t in definitions.items()) + ") { "
        query += " ".join(self.part_field(part) for part in parts) + " }"
        return GraphQLCall(
            fetches[0].service,
            query,
            variables,
            "query",
            keys=sum(len(p.keys) for p in parts),
            level=level,
            chunk=chunk,
        )

    def index(self, parts: Sequence[Part], answer: Any, lookups: Sequence[Lookup]) -> None:
        service = parts[0].fetches[0].service
        response: Mapping[str, Any] = answer if isinstance(answer, dict) else {}
        data = response.get("data")
        errors = response.get("errors") or []
        unplaced = place_errors(data, errors, service) if isinstance(data, dict) else list(errors)
        for part, lookup in zip(parts, lookups, strict=True):
            f = part.fetches[0]
            alias = f"b{f.id}"
            items = data.get(alias) if isinstance(data, dict) else None
            concerning = [e for e in errors if isinstance(e, dict) and (e.get("path") or [None])[0] == alias]
            if not isinstance(items, list):
                failed = request_error(concerning or unplaced or errors, service, items)
                fail_keys([part], [lookup], failed, keep=False)
                continue
            self.index_items(part, items, lookup, concerning or unplaced)

    def index_items(self, part: Part, items: list[Any], lookup: Lookup, errors: Sequence[Any]) -> None:
        """One batch field's items, matched by `request.match`; with errors, a key not in the answer failed."""
        index_matched(part, items, lookup, request_error(errors, part.fetches[0].service) if errors else None)
