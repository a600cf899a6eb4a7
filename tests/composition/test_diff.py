"""`funnel diff OLD NEW`: graphql-core's breaking / dangerous / safe changes between schema files, annotated
schemas and locks (their annotations are not the clients' business) or supergraphs (their API schema); exit 1
on a breaking change, 2 when a file cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_ast_schema, parse, print_schema

from gateway.cli import main
from gateway.composition import read_schema_file, supergraph_api_document
from gateway.composition.diff import diff_schemas

from .conftest import COMPOSED, ROOT

OLD = """
type Query {
  products(first: Int!): [Product!]!
  product(id: ID!): Product
  legacy: String
}
type Product { id: ID! name: String price: Float! kind: Kind! }
enum Kind { BOOK TOY }
union Item = Product
input Filter { min: Float }
"""

NEW = """
type Query {
  products(first: Int!, after: ID): [Product!]!
  product(id: ID!, locale: String!): Product
  search(filter: Filter): [Item!]!
}
"A product."
type Product { id: ID! name: String! price: Int! kind: Kind! reviews: [Review!]! }
type Review { id: ID! }
enum Kind { BOOK TOY GAME }
union Item = Product | Review
input Filter { min: Float max: Float }
"""

SUPERGRAPH = """
schema
  @link(url: "https://specs.apollo.dev/link/v1.0")
  @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION)
  @link(url: "https://specs.apollo.dev/inaccessible/v0.2", for: SECURITY)
{
  query: Query
}

directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
directive @cached(ttl: Int) on FIELD

scalar join__FieldSet
enum join__Graph {
  CATALOG @join__graph(name: "catalog", url: "http://127.0.0.1:4002/graphql")
  REVIEWS @join__graph(name: "reviews", url: "http://127.0.0.1:4004/graphql")
}
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }

type Product @join__type(graph: CATALOG, key: "id") @join__type(graph: REVIEWS, key: "id") {
  id: ID!
  name: String! @join__field(graph: CATALOG)
  cost: Float @inaccessible @join__field(graph: CATALOG)
  reviews: [Review!]! @join__field(graph: REVIEWS)
}

type Secret @inaccessible @join__type(graph: CATALOG) { code: String }

type Review @join__type(graph: REVIEWS) {
  id: ID!
  rating: Int!
}

type Query @join__type(graph: CATALOG) @join__type(graph: REVIEWS) {
  products(first: Int!, debug: Boolean @inaccessible): [Product!]! @join__field(graph: CATALOG)
}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def files(tmp_path: Path, **texts: str) -> list[str]:
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    return [str(tmp_path / name) for name in texts]


def test_every_change_is_listed_by_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = files(tmp_path, **{"old.graphql": OLD, "new.graphql": NEW})
    assert run(capsys, "diff", old, new) == (
        1,
        "breaking   REQUIRED_ARG_ADDED          A required argument Query.product(locale:) was added.\n"
        "breaking   FIELD_CHANGED_KIND          Field Product.price changed type from Float! to Int!.\n"
        "breaking   FIELD_REMOVED               Field Query.legacy was removed.\n"
        "dangerous  OPTIONAL_ARG_ADDED          An optional argument Query.products(after:) was added.\n"
        "dangerous  OPTIONAL_INPUT_FIELD_ADDED  An optional field Filter.max was added.\n"
        "dangerous  VALUE_ADDED_TO_ENUM         Enum value Kind.GAME was added.\n"
        "dangerous  TYPE_ADDED_TO_UNION         Review was added to union type Item.\n"
        'safe       DESCRIPTION_CHANGED         Description of Product has changed to "A product.".\n'
        "safe       FIELD_CHANGED_KIND_SAFE     Field Product.name changed type from String to String!.\n"
        "safe       FIELD_ADDED                 Field Product.reviews was added.\n"
        "safe       FIELD_ADDED                 Field Query.search was added.\n"
        "safe       TYPE_ADDED                  Review was added.\n"
        "12 changes: 3 breaking, 4 dangerous, 5 safe\n",
        "",
    )


def test_no_breaking_change_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = files(
        tmp_path,
        **{"old.graphql": OLD, "new.graphql": OLD.replace("legacy: String", "legacy: String\n  extra: Int")},
    )
    assert run(capsys, "diff", old, new) == (
        0,
        "safe       FIELD_ADDED                 Field Query.extra was added.\n1 change: 0 breaking, 0 dangerous, 1 safe\n",
        "",
    )
    assert run(capsys, "diff", old, old) == (0, "no changes\n", "")


def test_the_hand_written_schema_and_the_composed_lock_differ_only_in_descriptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hand_written, lock = str(ROOT / "examples" / "gateway.graphql"), str(COMPOSED / "gateway.lock.graphql")
    code, out, err = run(capsys, "diff", hand_written, lock)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        'safe       DESCRIPTION_CHANGED         Description of field Order.createdAt has changed to "ISO-8601, UTC.".',
        "safe       DESCRIPTION_CHANGED         Description of field Order.unitPrice has changed to \"The product's "
        'price when the order was placed.".',
        'safe       DESCRIPTION_CHANGED         Description of field Query.orders has changed to "Orders ordered by '
        'id; after is the id of the last order of the previous page.".',
        'safe       DESCRIPTION_CHANGED         Description of field Query.products has changed to "Products ordered '
        'by id; after is the id of the last product of the previous page.".',
        'safe       DESCRIPTION_CHANGED         Description of field Query.shelves has changed to "The first count * '
        'size products by id, as count shelves of size products: a list of lists.".',
        "5 changes: 0 breaking, 0 dangerous, 5 safe",
    ]


def test_a_supergraph_is_compared_by_its_api_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert print_schema(build_ast_schema(supergraph_api_document(parse(SUPERGRAPH)))) == (
        "directive @cached(ttl: Int) on FIELD\n\n"
        "type Product {\n  id: ID!\n  name: String!\n  reviews: [Review!]!\n}\n\n"
        "type Review {\n  id: ID!\n  rating: Int!\n}\n\n"
        "type Query {\n  products(first: Int!): [Product!]!\n}"
    )
    plain = "directive @cached(ttl: Int) on FIELD\ntype Query { products(first: Int!): [Product!]! }\n"
    plain += "type Product { id: ID! name: String! }\n"
    supergraph, schema = files(tmp_path, **{"supergraph.graphql": SUPERGRAPH, "plain.graphql": plain})
    assert run(capsys, "diff", supergraph, schema) == (
        1,
        "breaking   FIELD_REMOVED               Field Product.reviews was removed.\n"
        "breaking   TYPE_REMOVED                Review was removed.\n"
        "2 changes: 2 breaking, 0 dangerous, 0 safe\n",
        "",
    )


def test_annotations_are_not_part_of_the_client_schema(tmp_path: Path) -> None:
    annotated = read_schema_file(str(ROOT / "examples" / "gateway.graphql"))
    assert [d.name for d in annotated.directives] == ["include", "skip", "deprecated", "specifiedBy", "oneOf"]
    lock = read_schema_file(str(COMPOSED / "gateway.lock.graphql"))
    assert diff_schemas(annotated, lock).breaking == ()


def test_a_file_that_cannot_be_read_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken, invalid = files(
        tmp_path,
        **{"broken.graphql": "type Query {\n  a: String\n", "invalid.graphql": "type Query { a: Strin }\n"},
    )
    assert run(capsys, "diff", broken, invalid) == (
        2,
        "",
        f"{broken}:3: Syntax Error: Expected Name, found <EOF>.\n"
        f"{invalid}:1: Unknown type 'Strin'. Did you mean 'String'?\n",
    )
    assert run(capsys, "diff", str(tmp_path / "gone.graphql"), broken)[2].startswith(
        f"{tmp_path / 'gone.graphql'}: cannot read the schema: No such file or directory\n"
    )
