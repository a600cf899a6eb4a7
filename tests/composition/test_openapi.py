"""OpenAPI 3 documents: read with bounds (size, depth, aliases, references), typed for GraphQL, and REST bindings
checked against them (`funnel check`), each mismatch at the binding's file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest
import yaml

from examples.services.accounts import OPENAPI_FILE, openapi_document
from examples.services.cluster import Cluster
from gateway.cli import main
from gateway.composition import compose, parse_openapi, read_openapi
from gateway.composition.openapi import MAX_DEPTH
from registry.errors import ConfigError

from .conftest import ROOT, write_config


def problems_of(data: bytes) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_openapi(data, "api.yaml")
    return [str(p) for p in raised.value.problems]


def test_the_accounts_document_gives_its_types_and_get_operations() -> None:
    document = parse_openapi(OPENAPI_FILE.read_bytes(), "accounts.openapi.yaml")
    assert [(o.operation_id, o.method, o.path) for o in document.operations] == [
        ("listAccounts", "GET", "/accounts"),
        ("getAccount", "GET", "/accounts/{id}"),
    ]
    ids = document.operations[0].parameters[0]
    assert (ids.name, ids.location, ids.required, ids.is_list, ids.exploded) == (
        "ids",
        "query",
        True,
        True,
        False,
    )
    assert document.type_sdl() == ("type Account {\n  id: ID!\n  name: String!\n  email: String!\n}", [])


async def test_the_service_serves_the_same_document(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    async with http.get(cluster.urls["accounts"] + "/openapi.json") as response:
        assert response.status == 200
        assert await response.json() == openapi_document() == yaml.safe_load(OPENAPI_FILE.read_text())
    document = await read_openapi(cluster.urls["accounts"] + "/openapi.json")
    assert document.operation("getAccount") is not None


def test_types_nullable_nested_left_out() -> None:
    document = parse_openapi(
        b"""
openapi: 3.1.0
paths:
  /items:
    get:
      operationId: items
      responses:
        "200":
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Item"}}
components:
  schemas:
    Item:
      allOf:
        - $ref: "#/components/schemas/Named"
        - type: object
          required: [size]
          properties:
            size: {type: [integer, "null"]}
            dims: {type: object, properties: {w: {type: number}}}
            parent: {$ref: "#/components/schemas/Item"}
            choice: {oneOf: [{type: string}, {type: integer}]}
            first-name: {type: string}
    Named:
      type: object
      required: [id]
      properties:
        id: {type: string}
        tags: {type: array, items: {type: string, nullable: true}}
""",
        "api.yaml",
    )
    sdl, notes = document.type_sdl()
    assert sdl == (
        "type Item {\n  id: ID!\n  tags: [String]\n  size: Int\n  dims: ItemDims\n  parent: Item\n}\n\n"
        "type ItemDims {\n  w: Float\n}"
    )
    assert [str(n) for n in notes] == [
        "api.yaml: Item.choice is left out: the property has no GraphQL type (oneOf, anyOf or no type)",
        "api.yaml: Item.first-name is left out: the property is not a GraphQL name",
    ]


def test_reading_is_bounded() -> None:
    deep = b"openapi: 3.0.0\nx: " + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"\n"
    assert problems_of(deep) == [f"api.yaml: the OpenAPI document is nested deeper than {MAX_DEPTH}"]
    laughs = b"openapi: 3.0.0\na: &a [x, x]\nb: &b [*a, *a]\n"
    assert problems_of(laughs) == ["api.yaml:3: invalid YAML: YAML aliases are not allowed here"]
    assert problems_of(b'{"openapi": "2.0"}') == [
        "api.yaml: not an OpenAPI 3 document (it needs `openapi: 3.x`)"
    ]
    assert problems_of(b'{"openapi": 3') == [
        "api.yaml: invalid JSON: unexpected end of data: line 1 column 14 (char 13)"
    ]
    outside = b'openapi: 3.0.0\npaths:\n  /a:\n    $ref: "https://example.com/a.yaml"\n'
    assert problems_of(outside) == [
        "api.yaml: $ref 'https://example.com/a.yaml': only references inside the document (#/...) are read"
    ]
    loop = b'openapi: 3.0.0\npaths:\n  /a: {$ref: "#/paths/~1b"}\n  /b: {$ref: "#/paths/~1a"}\n'
    assert problems_of(loop) == ["api.yaml: a $ref chain is longer than 32"]


async def test_a_document_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        await read_openapi(str(tmp_path / "missing.yaml"))
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path / 'missing.yaml'}: cannot read the OpenAPI document: No such file or directory"
    ]
    with pytest.raises(ConfigError) as raised:
        await read_openapi("http://127.0.0.1:9/openapi.json")
    assert [str(p) for p in raised.value.problems] == [
        "http://127.0.0.1:9/openapi.json: cannot read the OpenAPI document: GET http://127.0.0.1:9/openapi.json: "
        "cannot connect"
    ]


def test_funnel_check_compares_rest_bindings_with_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", examples, ignore=shutil.ignore_patterns("*.sqlite3", "__pycache__"))
    document = yaml.safe_load(OPENAPI_FILE.read_text())
    document["paths"]["/accounts"]["get"]["parameters"][0]["explode"] = True
    document["components"]["schemas"]["Account"]["properties"].pop("email")
    document["paths"]["/users/{id}"] = document["paths"].pop("/accounts/{id}")
    (examples / "services" / "accounts.openapi.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.chdir(examples)
    assert main(["check", "--config", "funnel.yaml"]) == 1
    out, err = capsys.readouterr()
    schema = examples / "gateway.graphql"
    exploded = (
        "query parameter 'ids' of GET /accounts (listAccounts) is exploded (ids=1&ids=2); Funnel sends ids=1,2: "
        "declare `explode: false`"
    )
    no_email = "Account.email is not in the answer of GET /accounts (listAccounts) (properties: id, name)"
    assert (out, err) == (
        "",
        f"{schema}:9: Query.account: GET /accounts/{{id}} is not in {examples / 'services' / 'accounts.openapi.yaml'} "
        "(GET paths: /accounts, /users/{id})\n"
        f"{schema}:25: Order.buyer: {exploded}\n"
        f"{schema}:25: Order.buyer: {no_email}\n"
        f"{schema}:33: Product.seller: {exploded}\n"
        f"{schema}:33: Product.seller: {no_email}\n"
        f"{schema}:42: Review.author: {exploded}\n"
        f"{schema}:42: Review.author: {no_email}\n"
        "7 problems in funnel.yaml\n",
    )


async def composed_rest(tmp_path: Path, links: str) -> list[str]:
    """Compose the accounts service alone, from its document (nothing is called), with these links."""
    config = write_config(
        tmp_path,
        "compose: true\nschema: links.graphql\nservices:\n  accounts:\n    url: http://127.0.0.1:9\n"
        f"    protocol: rest\n    openapi: {OPENAPI_FILE}\n",
        **{"links.graphql": links},
    )
    try:
        composition = await compose(config)
    except ConfigError as error:
        return [str(p).replace(str(tmp_path) + "/", "") for p in error.problems]
    return composition.sdl.splitlines()


async def test_operation_ids_become_paths_in_the_composed_schema(tmp_path: Path) -> None:
    lines = await composed_rest(
        tmp_path,
        "extend type Query {\n"
        '  account(id: ID!): Account @remote(service: "accounts", operation: "getAccount")\n'
        "}\n"
        "extend type Account {\n"
        '  friend: Account @batch(service: "accounts", key: "id", operation: "listAccounts")\n'
        "}\n",
    )
    assert lines[lines.index("type Query {") :] == [
        "type Query {",
        '  account(id: ID!): Account @remote(service: "accounts", path: "/accounts/{id}")',
        "}",
        "",
        "type Account {",
        "  email: String!  # accounts",
        '  friend: Account @batch(service: "accounts", key: "id", path: "/accounts")',
        "  id: ID!  # accounts",
        "  name: String!  # accounts",
        "}",
    ]


MISMATCHED = (
    "extend type Query {\n"
    '  a(id: ID!): Account @remote(service: "accounts", operation: "getAcount")\n'
    '  b(id: ID!): Account @remote(service: "accounts", operation: "getAccount", path: "/x")\n'
    '  c(id: ID!, first: Int): Account @remote(service: "accounts", operation: "getAccount")\n'
    "}\n"
    "extend type Account {\n"
    '  friend: Account @batch(service: "accounts", key: "id", operation: "listAccounts", match: "uid")\n'
    "}\n"
)


async def test_operations_that_cannot_back_a_binding_are_refused_at_their_lines(tmp_path: Path) -> None:
    assert await composed_rest(tmp_path, MISMATCHED) == [
        "links.graphql:2: a: accounts has no operation 'getAcount' (operations: getAccount, listAccounts)",
        "links.graphql:3: b: @remote: give operation or path, not both",
    ]
    # Once the operations resolve, the bindings are checked against them.
    resolved = "\n".join(line for line in MISMATCHED.split("\n") if not line.startswith(("  a(", "  b(")))
    assert await composed_rest(tmp_path, resolved) == [
        "links.graphql:2: Query.c: GET /accounts/{id} (getAccount) takes no query parameter 'first' "
        "(query parameters: none)",
        "links.graphql:5: Account.friend: the items of GET /accounts (listAccounts) have no property 'uid' (match:)",
    ]
