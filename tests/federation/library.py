"""The `library` federation of examples/federation/library: six Apollo Federation v2 subgraphs in Python
(ariadne.contrib.federation) over in-memory data, for what the `shop` does not have:

- accounts: `Member @key(fields: "login organization { id }")`, a nested key (one login in two organizations),
  and `Organization` with two keys, id and slug;
- media: `interface Media` with Book and Film, `Book.editor @provides(fields: "fullName")`;
- audio: Podcast, a kind of Media that media does not know, whose publisher audio knows by slug only, and
  `Film.minutes`, taken over from media by a
  progressive `@override(label:)` (audio has the recut's 96 minutes, media the old 95);
- ratings: `Media @interfaceObject` with `rating` for every kind of media;
- shipping: `Book.shippingCost @requires(fields: "dimensions { weight }")`, a nested requirement, and
  `Book.insurance @requires(fields: "price(currency: \"EUR\")")`, one with an argument;
- search: `union Result = Book | Member`, whose members' fields live in other subgraphs (and no films), and
  `Member.fullName @shareable` with accounts.

    async with run_library() as library:
        library.urls["media"]; library.stats["accounts"].entities
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

from ariadne import InterfaceType, QueryType, UnionType
from ariadne.contrib.federation import FederatedObjectType, make_federated_schema
from graphql import GraphQLSchema

from .shop import Shop, run_subgraphs

FIXTURES: Final = Path(__file__).parents[2] / "examples" / "federation" / "library"

ORGANIZATIONS: Final = {
    "1": {"id": "1", "slug": "analytical", "name": "Analytical Society"},
    "2": {"id": "2", "slug": "royal", "name": "Royal Society"},
}
MEMBERS: Final = [
    {"login": "ada", "organization": "1", "fullName": "Ada Lovelace"},
    {"login": "ada", "organization": "2", "fullName": "Augusta Ada King"},
    {"login": "alan", "organization": "1", "fullName": "Alan Turing"},
]
BOOKS: Final = {
    "b1": {
        "id": "b1",
        "title": "Notes",
        "pages": 120,
        "price": 1200,  # in US cents
        "dimensions": {"weight": 300, "height": 20},
        "author": ("ada", "1"),
        "editor": ("alan", "1"),
    },
    "b2": {
        "id": "b2",
        "title": "Engines",
        "pages": 340,
        "price": 2500,
        "dimensions": {"weight": 800, "height": 24},
        "author": ("ada", "2"),
        "editor": None,
    },
}
FILMS: Final = {"f1": {"id": "f1", "title": "Difference", "minutes": 95}}
PODCASTS: Final = {
    "p1": {"id": "p1", "title": "Engines of Thought", "episodes": 12, "publisher": {"slug": "royal"}}
}
EXCHANGE: Final = {"USD": 100, "EUR": 90}  # cents of the currency per 100 US cents
RATINGS: Final = {"b1": 4.5, "b2": 3.0, "f1": 4.0, "p1": 3.5}


def _member(login: str, organization: str) -> dict[str, Any] | None:
    return next((m for m in MEMBERS if (m["login"], m["organization"]) == (login, organization)), None)


def _reference(member: tuple[str, str]) -> dict[str, Any]:
    """A member as other subgraphs return it: its key only."""
    return {"login": member[0], "organization": {"id": member[1]}}


def _accounts() -> GraphQLSchema:
    query = QueryType()
    query.set_field("members", lambda *_: MEMBERS)
    member = FederatedObjectType("Member")

    @member.reference_resolver
    def resolve_member(_obj: Any, _info: Any, representation: dict[str, Any]) -> dict[str, Any] | None:
        return _member(representation["login"], representation["organization"]["id"])

    member.set_field("organization", lambda obj, _info: ORGANIZATIONS[obj["organization"]])
    organization = FederatedObjectType("Organization")

    @organization.reference_resolver
    def resolve_organization(_obj: Any, _info: Any, representation: dict[str, Any]) -> dict[str, Any] | None:
        # by either of its keys: id, or slug (what audio has)
        if "id" in representation:
            return ORGANIZATIONS.get(representation["id"])
        return next((o for o in ORGANIZATIONS.values() if o["slug"] == representation.get("slug")), None)

    return make_federated_schema((FIXTURES / "accounts.graphql").read_text(), query, member, organization)


def _media() -> GraphQLSchema:
    query = QueryType()
    query.set_field("catalog", lambda *_: [*BOOKS.values(), *FILMS.values()])
    query.set_field("featured", lambda *_: BOOKS["b1"])
    media = InterfaceType("Media", lambda obj, *_: "Book" if obj["id"] in BOOKS else "Film")
    book = FederatedObjectType("Book")
    book.reference_resolver(lambda _obj, _info, representation: BOOKS.get(representation["id"]))
    book.set_field("author", lambda obj, _info: _reference(obj["author"]))
    book.set_field("title", lambda obj, _info, upper=False: obj["title"].upper() if upper else obj["title"])
    book.set_field("price", lambda obj, _info, currency="USD": obj["price"] * EXCHANGE[currency] // 100)

    @book.field("editor")
    def resolve_editor(obj: Any, _info: Any) -> dict[str, Any] | None:
        # media knows its editors' full names (it @provides them): the gateway need not ask accounts.
        found = None if obj["editor"] is None else _member(*obj["editor"])
        return None if found is None else {**_reference(obj["editor"]), "fullName": found["fullName"]}

    film = FederatedObjectType("Film")
    film.reference_resolver(lambda _obj, _info, representation: FILMS.get(representation["id"]))
    return make_federated_schema((FIXTURES / "media.graphql").read_text(), query, media, book, film)


def _audio() -> GraphQLSchema:
    query = QueryType()
    query.set_field("podcasts", lambda *_: list(PODCASTS.values()))
    media = InterfaceType("Media", lambda *_: "Podcast")
    podcast = FederatedObjectType("Podcast")
    podcast.reference_resolver(lambda _obj, _info, representation: PODCASTS.get(representation["id"]))
    film = FederatedObjectType("Film")
    film.reference_resolver(lambda _obj, _info, representation: {"id": representation["id"], "minutes": 96})
    # ariadne's @override has no `label:` yet; the subgraph serves the same fields without it.
    sdl = (FIXTURES / "audio.graphql").read_text().replace(', label: "percent(10)"', "")
    return make_federated_schema(sdl, query, media, podcast, film)


def _ratings() -> GraphQLSchema:
    media = FederatedObjectType("Media")
    media.reference_resolver(
        lambda _obj, _info, representation: {
            "id": representation["id"],
            "rating": RATINGS[representation["id"]],
        }
    )
    return make_federated_schema((FIXTURES / "ratings.graphql").read_text(), media)


def _shipping() -> GraphQLSchema:
    book = FederatedObjectType("Book")
    book.reference_resolver(lambda _obj, _info, representation: representation)
    # Only from the weight the gateway sent along (@requires): shipping has no dimensions of its own.
    book.set_field("shippingCost", lambda obj, _info: 5 + obj["dimensions"]["weight"] // 100)
    # From the price in euros the gateway sent (a @requires with an argument): 1 %.
    book.set_field("insurance", lambda obj, _info: obj["price"] // 100)
    return make_federated_schema((FIXTURES / "shipping.graphql").read_text(), book)


def _search() -> GraphQLSchema:
    query = QueryType()

    @query.field("search")
    def resolve_search(*_: Any, term: str) -> list[dict[str, Any]]:
        books = [
            {"__typename": "Book", "id": b["id"]} for b in BOOKS.values() if term in str(b["title"]).lower()
        ]
        members = [
            {"__typename": "Member", **_reference((m["login"], m["organization"])), "fullName": m["fullName"]}
            for m in MEMBERS
            if term in m["login"]
        ]
        return books + members

    result = UnionType("Result", lambda obj, *_: obj["__typename"])
    book = FederatedObjectType("Book")
    book.reference_resolver(lambda _obj, _info, representation: {"id": representation["id"]})
    return make_federated_schema((FIXTURES / "search.graphql").read_text(), query, result, book)


@contextlib.asynccontextmanager
async def run_library() -> AsyncIterator[Shop]:
    schemas = {
        "accounts": _accounts(),
        "audio": _audio(),
        "media": _media(),
        "ratings": _ratings(),
        "search": _search(),
        "shipping": _shipping(),
    }
    async with run_subgraphs(schemas) as library:
        yield library
