"""GraphQL over HTTP for the example services, plus the helpers their resolvers share.

``POST /graphql`` takes ``{"query", "variables", "operationName"}``; ``GET /graphql?query=...`` runs
queries (not mutations). Request errors (bad JSON, a missing query, a syntax or validation error, variables
of the wrong type) answer 4xx with ``{"errors": [...]}`` and no ``data``; field errors answer 200 with
``data`` and ``errors``.

Schemas are built with ariadne; execution calls graphql-core directly so that the service controls the
status codes, caches parsing and validation per query text, and never puts a stack trace in an answer.

Catalog, orders and accounts also answer as Apollo Federation v2 subgraphs at ``/subgraph`` (``SUBGRAPH_PATH``;
reviews is one at ``/graphql``), over the same database: ``federated_schema`` builds those schemas.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any, cast

import orjson
from aiohttp import web
from ariadne import SchemaBindable
from ariadne.contrib.federation import make_federated_schema
from ariadne.utils import type_get_extension
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLFieldResolver,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)

from .common import DB_KEY, STATS_KEY, RequestError, ServiceStats, json_response, parse_id
from .topology import GRAPHQL_PATH

__all__ = [
    "SCHEMA_KEY",
    "SUBGRAPH_PATH",
    "GraphQLContext",
    "GraphQLParams",
    "add_graphql_routes",
    "count_root_keys",
    "federated_schema",
    "fetch_page",
    "format_error",
    "graphql_params",
]

log = logging.getLogger("examples.services")

SCHEMA_KEY = web.AppKey("graphql_schema", GraphQLSchema)  # the schema at GRAPHQL_PATH
SUBGRAPH_PATH = "/subgraph"

# Root-field arguments that name what is looked up: a list counts its length, a single id counts one.
_KEY_LIST_ARGUMENTS = ("ids", "representations")
_KEY_ARGUMENT = "id"


@dataclass(frozen=True, slots=True)
class GraphQLContext:
    """``info.context`` in every resolver."""

    request: web.Request

    @property
    def app(self) -> web.Application:
        return self.request.app

    @property
    def db(self) -> sqlite3.Connection:
        return self.request.app[DB_KEY].conn

    @property
    def stats(self) -> ServiceStats:
        return self.request.app[STATS_KEY]


@dataclass(frozen=True, slots=True)
class GraphQLParams:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


# -------------------------------------------------------------------------------------------- request parsing


def _decode_json(text: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RequestError(400, f"{what} is not valid JSON") from None


def graphql_params(payload: object) -> GraphQLParams:
    """Check the shape of a GraphQL-over-HTTP request; every mistake is a 400 naming the culprit."""
    if not isinstance(payload, dict):
        raise RequestError(400, "Request body must be a JSON object")
    query = payload.get("query")
    if query is None:
        raise RequestError(400, "Missing 'query' in request")
    if not isinstance(query, str):
        raise RequestError(400, "'query' must be a string")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "'variables' must be a JSON object")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "'operationName' must be a string")
    return GraphQLParams(query, variables, operation_name)


async def _read_params(request: web.Request) -> GraphQLParams:
    if request.method == "GET":
        payload: dict[str, Any] = dict(request.query)
        if "variables" in payload:
            payload["variables"] = _decode_json(payload["variables"], "'variables'")
        return graphql_params(payload)
    return graphql_params(_decode_json(await request.read(), "Request body"))


# ------------------------------------------------------------------------------------------------- execution


@functools.lru_cache(maxsize=512)
def _prepare(schema: GraphQLSchema, query: str) -> DocumentNode | list[GraphQLError]:
    try:
        document = parse(query)
    except GraphQLError as error:
        return [error]
    errors = validate(schema, document)
    return errors if errors else document


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The spec's error shape; a resolver's unexpected exception is logged here and shown only as its kind."""
    original = error.original_error
    if error.path is not None and original is not None and not isinstance(original, GraphQLError):
        log.error("unexpected error resolving %s", error.path, exc_info=original)
        return {**error.formatted, "message": "Internal server error"}
    return dict(error.formatted)


def _errors_response(errors: list[GraphQLError], status: int) -> web.Response:
    return json_response({"errors": [format_error(e) for e in errors]}, status)


def _result_response(result: ExecutionResult) -> web.Response:
    errors = result.errors or []
    # Errors without a path never reached a field (unknown operation, variables that do not coerce):
    # the request itself was wrong, so there is no data to give.
    if result.data is None and errors and all(e.path is None for e in errors):
        return _errors_response(errors, 400)
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = [format_error(e) for e in errors]
    return json_response(body)


def _is_mutation(document: DocumentNode, operation_name: str | None) -> bool:
    operation = get_operation_ast(document, operation_name)
    return operation is not None and operation.operation is OperationType.MUTATION


async def _graphql_handler(request: web.Request, schema: GraphQLSchema) -> web.Response:
    params = await _read_params(request)
    prepared = _prepare(schema, params.query)
    if isinstance(prepared, list):
        return _errors_response(prepared, 400)
    if request.method == "GET" and _is_mutation(prepared, params.operation_name):
        raise RequestError(405, "Mutations must be sent with POST")
    result = execute(
        schema,
        prepared,
        context_value=GraphQLContext(request),
        variable_values=params.variables,
        operation_name=params.operation_name,
    )
    if isawaitable(result):
        result = await result
    return _result_response(result)


def add_graphql_routes(app: web.Application, schema: GraphQLSchema, path: str = GRAPHQL_PATH) -> None:
    if path == GRAPHQL_PATH:
        app[SCHEMA_KEY] = schema

    async def handler(request: web.Request) -> web.Response:
        return await _graphql_handler(request, schema)

    app.router.add_post(path, handler)
    app.router.add_get(path, handler)


# ---------------------------------------------------------------------------------------------- federation


def _entity(info: GraphQLResolveInfo, entity_types: dict[str, GraphQLObjectType], representation: Any) -> Any:
    """One entity, or the error for it alone: graphql-core turns an Exception list item into a null item
    with an error at ``["_entities", index]``."""
    typename = representation.get("__typename") if isinstance(representation, dict) else None
    if not isinstance(typename, str):
        return GraphQLError("Each representation must be an object with a string '__typename'")
    entity_type = entity_types.get(typename)
    if entity_type is None:
        known = ", ".join(sorted(entity_types))
        return GraphQLError(f"Unknown entity type '{typename}'; this subgraph resolves {known}")
    resolve_reference = type_get_extension(entity_type, "__resolve_reference__")
    try:
        entity = resolve_reference(entity_type, info, representation)
    except Exception as error:
        return error
    return None if entity is None else {**entity, "__typename": typename}


def _resolve_entities(_obj: None, info: GraphQLResolveInfo, representations: list[Any]) -> list[Any]:
    # Replaces ariadne's resolver, which fails the whole list on the first unknown __typename.
    # A type keyed here with `resolvable: false` (a reference to another subgraph's entity) has no resolver.
    union = cast(GraphQLUnionType, info.schema.get_type("_Entity"))
    entity_types = {t.name: t for t in union.types if type_get_extension(t, "__resolve_reference__")}
    return [_entity(info, entity_types, representation) for representation in representations]


def federated_schema(sdl: str, *bindables: SchemaBindable) -> GraphQLSchema:
    """An Apollo Federation v2 subgraph: ``_entities`` answers in representation order, a representation
    it cannot resolve is an error for that entity alone, and the root keys are counted (``count_root_keys``)."""
    schema = make_federated_schema(sdl, *bindables)
    query_type = cast(GraphQLObjectType, schema.query_type)
    query_type.fields["_entities"].resolve = _resolve_entities
    return count_root_keys(schema)


# ------------------------------------------------------------------------------------------ resolver helpers


def _keys_in(arguments: Mapping[str, Any]) -> int:
    keys = sum(len(arguments[name]) for name in _KEY_LIST_ARGUMENTS if isinstance(arguments.get(name), list))
    return keys + (1 if _KEY_ARGUMENT in arguments else 0)


def _counting(resolve: GraphQLFieldResolver) -> GraphQLFieldResolver:
    def resolve_and_count(obj: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        info.context.stats.keys += _keys_in(arguments)
        return resolve(obj, info, **arguments)

    return resolve_and_count


def count_root_keys(schema: GraphQLSchema) -> GraphQLSchema:
    """Make every root field that takes ``ids``, ``representations`` or ``id`` add what it asked for to
    ``stats.keys``: one rule for all services, and no per-field cost below the root."""
    for root in (schema.query_type, schema.mutation_type):
        for field in root.fields.values() if root is not None else ():
            takes_keys = any(name in field.args for name in (*_KEY_LIST_ARGUMENTS, _KEY_ARGUMENT))
            if takes_keys and field.resolve is not None:
                field.resolve = _counting(field.resolve)
    return schema


def fetch_page(
    conn: sqlite3.Connection, select: str, first: int, after: object = None
) -> list[dict[str, Any]]:
    """Rows of ``select`` (a ``SELECT ... FROM table`` with an ``id`` column) ordered by id, ``first`` of them
    after the id cursor ``after``."""
    if first < 0:
        raise GraphQLError(f"first must be non-negative, got {first}")
    cursor = 0
    if after is not None:
        parsed = parse_id(after)
        if parsed is None:
            raise GraphQLError(f"Invalid cursor '{after}': expected an id")
        cursor = parsed
    rows: list[dict[str, Any]] = conn.execute(
        f"{select} WHERE id > ? ORDER BY id LIMIT ?", (cursor, first)
    ).fetchall()
    return rows
