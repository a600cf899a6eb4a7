"""accounts: a REST/JSON service of 1,000 shop accounts.

``GET /accounts?ids=1,2,3`` answers a JSON array of ``{"id", "name", "email"}`` for the ids that exist, in
descending id order (deliberately not the order asked for); ``GET /accounts/{id}`` answers one account or 404.
``GET /openapi.json`` answers the OpenAPI 3 document of those two (``accounts.openapi.yaml``, as JSON).

Writes, for the REST contract's mutations: ``POST /accounts`` with a JSON body ``{"name", "email"}`` creates an
account (201, the account); ``PATCH /accounts/{id}`` changes the fields its body names (the account, or 404);
``DELETE /accounts/{id}`` removes one (204 No Content, or 404).

The same reads in an envelope, as many REST APIs answer: ``GET /v2/accounts?ids=`` answers
``{"items": [...], "count": n}`` and ``GET /v2/accounts/{id}`` answers ``{"data": {...}}``.

At ``/subgraph`` the same accounts as an Apollo Federation v2 subgraph (``SUBGRAPH_SDL``, GraphQL over HTTP):
``Account`` an entity keyed by id.
"""

from __future__ import annotations

import functools
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from ariadne import QueryType
from ariadne.contrib.federation import FederatedObjectType
from graphql import GraphQLResolveInfo, GraphQLSchema

from .common import (
    DB_KEY,
    STATS_KEY,
    Database,
    RequestError,
    app_options,
    create_service_app,
    fetch_by_ids,
    json_response,
    parse_id,
    run_service,
    service_parser,
)
from .graphql_http import SUBGRAPH_PATH, add_graphql_routes, federated_schema

__all__ = [
    "ACCOUNT_COUNT",
    "OPENAPI_FILE",
    "SUBGRAPH_SDL",
    "build_subgraph_schema",
    "create_app",
    "main",
    "openapi_document",
    "seed_accounts",
]

ACCOUNT_COUNT = 1000
OPENAPI_FILE = Path(__file__).with_name("accounts.openapi.yaml")
_SEED = 1001

_FIRST_NAMES = (
    "Ada", "Alan", "Barbara", "Claude", "Dennis", "Donald", "Edsger", "Frances", "Grace", "Guido",
    "Hedy", "Ivan", "John", "Ken", "Leslie", "Linus", "Margaret", "Niklaus", "Radia", "Shafi",
    "Sophie", "Tim", "Tony", "Whitfield", "Yukihiro",
)  # fmt: skip
_LAST_NAMES = (
    "Allen", "Backus", "Bell", "Cerf", "Dijkstra", "Floyd", "Goldwasser", "Hamilton", "Hoare", "Hopper",
    "Kahn", "Knuth", "Lamport", "Liskov", "Lovelace", "McCarthy", "Perlman", "Ritchie", "Shannon",
    "Sutherland", "Thompson", "Turing", "Wilson", "Wirth",
)  # fmt: skip

SUBGRAPH_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Account @key(fields: "id") {
  id: ID!
  name: String!
  email: String!
}

type Query {
  account(id: ID!): Account
}
"""

_SCHEMA = ("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)",)
_SELECT = "SELECT id, name, email FROM accounts"


@functools.cache
def seed_accounts() -> tuple[tuple[int, str, str], ...]:
    """The seeded rows ``(id, name, email)``: the same on every machine."""
    rng = random.Random(_SEED)
    rows = []
    for account_id in range(1, ACCOUNT_COUNT + 1):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        rows.append((account_id, f"{first} {last}", f"{first}.{last}.{account_id}@example.com".lower()))
    return tuple(rows)


def _seed(conn: sqlite3.Connection) -> None:
    conn.executemany("INSERT INTO accounts (id, name, email) VALUES (?, ?, ?)", seed_accounts())


def _parse_id_list(raw: str) -> list[int]:
    if not raw.strip():
        return []
    ids = []
    for part in raw.split(","):
        account_id = parse_id(part)
        if account_id is None:
            raise RequestError(400, f"Invalid id '{part}' in 'ids': expected comma-separated integers")
        ids.append(account_id)
    return ids


def _by_ids(request: web.Request) -> list[Any]:
    raw = request.query.get("ids")
    if raw is None:
        raise RequestError(400, "Missing query parameter 'ids'")
    ids = _parse_id_list(raw)
    request.app[STATS_KEY].keys += len(ids)
    return fetch_by_ids(request.app[DB_KEY].conn, _SELECT, ids)


async def _accounts_by_ids(request: web.Request) -> web.Response:
    return json_response(_by_ids(request))


def _found(request: web.Request) -> Any:
    raw = request.match_info["id"]
    account_id = parse_id(raw)
    if account_id is None:
        raise RequestError(400, f"Invalid account id '{raw}': expected an integer")
    request.app[STATS_KEY].keys += 1
    row = request.app[DB_KEY].conn.execute(f"{_SELECT} WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        raise RequestError(404, f"Unknown account '{raw}'")
    return row


async def _account(request: web.Request) -> web.Response:
    return json_response(_found(request))


async def _fields(request: web.Request, required: bool) -> dict[str, str]:
    try:
        body = await request.json()
    except ValueError:
        raise RequestError(400, "Expected a JSON object body") from None
    if not isinstance(body, dict):
        raise RequestError(400, "Expected a JSON object body")
    fields = {name: body[name] for name in ("name", "email") if name in body}
    if any(not isinstance(value, str) for value in fields.values()):
        raise RequestError(400, "'name' and 'email' must be strings")
    if required and len(fields) != 2:
        raise RequestError(400, "Expected 'name' and 'email'")
    return fields


async def _create(request: web.Request) -> web.Response:
    fields = await _fields(request, required=True)
    conn = request.app[DB_KEY].conn
    cursor = conn.execute(
        "INSERT INTO accounts (name, email) VALUES (?, ?)", (fields["name"], fields["email"])
    )
    row = conn.execute(f"{_SELECT} WHERE id = ?", (cursor.lastrowid,)).fetchone()
    return json_response(row, status=201)


async def _update(request: web.Request) -> web.Response:
    row = _found(request)
    fields = await _fields(request, required=False)
    conn = request.app[DB_KEY].conn
    for name, value in fields.items():  # names from the fixed tuple in _fields, never from the request
        conn.execute(f"UPDATE accounts SET {name} = ? WHERE id = ?", (value, row["id"]))
    return json_response(conn.execute(f"{_SELECT} WHERE id = ?", (row["id"],)).fetchone())


async def _delete(request: web.Request) -> web.Response:
    row = _found(request)
    request.app[DB_KEY].conn.execute("DELETE FROM accounts WHERE id = ?", (row["id"],))
    return web.Response(status=204)


async def _enveloped_accounts(request: web.Request) -> web.Response:
    items = _by_ids(request)
    return json_response({"items": items, "count": len(items)})


async def _enveloped_account(request: web.Request) -> web.Response:
    return json_response({"data": _found(request)})


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI 3 document, from the file beside this module."""
    document: dict[str, Any] = yaml.safe_load(OPENAPI_FILE.read_text())
    return document


async def _openapi(_request: web.Request) -> web.Response:
    return json_response(openapi_document())


def _account_row(conn: sqlite3.Connection, raw: object) -> Any:
    account_id = parse_id(raw)
    return None if account_id is None else conn.execute(f"{_SELECT} WHERE id = ?", (account_id,)).fetchone()


_subgraph_query = QueryType()
_subgraph_query.set_field("account", lambda _obj, info, id: _account_row(info.context.db, id))
_account_entity = FederatedObjectType("Account")


@_account_entity.reference_resolver
def _resolve_account_reference(_obj: Any, info: GraphQLResolveInfo, representation: dict[str, Any]) -> Any:
    return _account_row(info.context.db, representation.get("id"))


@functools.cache
def build_subgraph_schema() -> GraphQLSchema:
    return federated_schema(SUBGRAPH_SDL, _subgraph_query, _account_entity)


def create_app(
    *, db_path: str | None = None, latency_ms: float = 0, max_concurrency: int | None = None
) -> web.Application:
    database = Database("accounts", "accounts", _SCHEMA, _seed, db_path)
    app = create_service_app(database, latency_ms=latency_ms, max_concurrency=max_concurrency)
    app.router.add_get("/accounts", _accounts_by_ids)
    app.router.add_get("/accounts/{id}", _account)
    app.router.add_post("/accounts", _create)
    app.router.add_patch("/accounts/{id}", _update)
    app.router.add_delete("/accounts/{id}", _delete)
    app.router.add_get("/v2/accounts", _enveloped_accounts)
    app.router.add_get("/v2/accounts/{id}", _enveloped_account)
    app.router.add_get("/openapi.json", _openapi)
    add_graphql_routes(app, build_subgraph_schema(), SUBGRAPH_PATH)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = service_parser("accounts", "The accounts example service (REST/JSON).").parse_args(argv)
    run_service("accounts", create_app(**app_options(args)), args)


if __name__ == "__main__":
    main()
