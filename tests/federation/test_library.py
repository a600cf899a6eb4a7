"""The `library` federation (examples/federation/library): nested keys, a nested `@requires`, `@provides`,
`@interfaceObject`, and interfaces and unions whose types live in different subgraphs — its annotations, its
plans as snapshots, and its answers over six real Python subgraphs that count what they are asked."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.federation import annotate_supergraph, load_supergraph
from gateway.federation.annotate import EntityField, KeyChoice
from gateway.federation.field_set import FieldSetError, field_paths
from gateway.federation.load import CompositeKey
from gateway.gateway import Gateway
from instrumentation.plan import print_plan
from instrumentation.selection import step_key
from registry.errors import ConfigError

from ..processes import start_child
from ..snapshots import assert_snapshot, snapshot_names
from .library import FIXTURES, run_library
from .shop import Shop, counted, serve_subgraphs

SUPERGRAPH = FIXTURES / "supergraph.graphql"
PLANS = Path(__file__).parent / "plans" / "library"
FUNNEL = str(Path(sys.executable).with_name("funnel"))

CASES = {
    "nested_key": "{ catalog { ... on Book { author { fullName organization { name } } } } }",
    "provides": "{ featured { ... on Book { editor { fullName } author { fullName } } } }",
    "interface_object": "{ catalog { title rating } podcasts { title rating } }",
    "nested_requires_from_the_parent": "{ catalog { ... on Book { shippingCost } } }",
    "nested_requires_fetched_first": '{ search(term: "n") { ... on Book { shippingCost } } }',
    "union_across_subgraphs": (
        '{ search(term: "n") { __typename ... on Book { title } ... on Member { fullName organization { name } } } }'
    ),
    "own_types_only": "{ featured { __typename title ... on Podcast { episodes } ... on Film { minutes } } }",
}


@pytest.fixture
async def library() -> AsyncIterator[Shop]:
    async with run_library() as running:
        yield running


def gateway_for(library: Shop, *, batching: bool = True) -> Gateway:
    return serve_subgraphs(library, SUPERGRAPH, batching=batching)


def calls(library: Shop) -> dict[str, tuple[int, int]]:
    """Requests and `_entities` representations per subgraph, for those that were asked anything."""
    return counted(library, asked_only=True)


def test_field_sets_are_read_as_paths() -> None:
    assert field_paths("login organization { id }") == ("login", "organization.id")
    assert field_paths("a { b { c } d }") == ("a.b.c", "a.d")
    assert field_paths('id owner(first: 1) { id } price(currency: "EUR")') == (
        "id",
        "owner(first: 1).id",
        'price(currency: "EUR")',
    )
    with pytest.raises(FieldSetError) as raised:
        field_paths("id o: owner { id }")
    assert str(raised.value) == (
        'the field set "id o: owner { id }" has an alias, fragment or directive: not planned yet'
    )
    with pytest.raises(FieldSetError) as raised:
        field_paths("id {")
    assert str(raised.value) == 'the field set "id {" is not valid: Syntax Error: Expected Name, found <EOF>.'


def test_the_supergraph_becomes_annotations() -> None:
    sdl, _, representations = annotate_supergraph(SUPERGRAPH.read_text(), str(SUPERGRAPH))
    by_slug = (KeyChoice("accounts", ("slug",), ("audio",)),)  # audio has only the slug of an organization
    assert representations == {
        "Organization.id": EntityField(answered_by=("media", "search"), alternatives=by_slug),
        "Organization.slug": EntityField(answered_by=("audio",)),
        "Organization.name": EntityField(alternatives=by_slug),
        # search answers it too, for the members it returns (@shareable)
        "Member.fullName": EntityField(("login", "organization.id"), answered_by=("search",)),
        "Book.shippingCost": EntityField(("id", "dimensions.weight"), sends_required=True),
        "Book.insurance": EntityField(("id", 'price(currency: "EUR")'), sends_required=True),
    }
    annotated = {line.strip() for line in sdl.splitlines() if "rating" in line and "@batch" in line}
    # rating is the @interfaceObject's: asked of ratings about the interface, for every kind of media.
    assert annotated == {
        'rating: Float! @batch(service: "ratings", key: "id", match: "id", entity: "Media", select: "rating")'
    }


def test_a_nested_key_is_read_into_nested_objects() -> None:
    key = CompositeKey(("login", "organization.id"))
    assert key({"login": "ada", "organization": {"id": "2", "name": "x"}}) == {
        "login": "ada",
        "organization": {"id": "2"},
    }
    assert key({"login": "ada", "organization": None}) is None
    assert key({"login": "ada", "organization": {"id": None}}) is None
    assert key({"login": "ada"}) is None


@pytest.mark.parametrize("case", sorted(CASES))
def test_printed_plan(case: str) -> None:
    schema, bindings, services = load_supergraph(str(SUPERGRAPH))
    gateway = Gateway(schema, services, bindings)
    assert_snapshot(
        PLANS / f"{case}.txt", f"# {CASES[case]}\n" + print_plan(gateway.plan(CASES[case])) + "\n"
    )


def test_every_snapshot_belongs_to_a_case() -> None:
    assert snapshot_names(PLANS) == sorted(CASES)


async def test_a_nested_key_goes_out_nested_and_tells_one_login_in_two_organizations_apart(
    library: Shop,
) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(CASES["nested_key"])
    assert answer == {
        "data": {
            "catalog": [
                {"author": {"fullName": "Ada Lovelace", "organization": {"name": "Analytical Society"}}},
                {"author": {"fullName": "Augusta Ada King", "organization": {"name": "Royal Society"}}},
                {},
            ]
        }
    }
    # One call to accounts: the two members and their two organizations, in one document.
    assert calls(library) == {"accounts": (1, 4), "media": (1, 0)}
    sent = library.stats["media"].documents[0]
    assert sent == "query { catalog { __typename ... on Book { author { login organization { id } } } } }"
    # each member sent with its nested key, and told apart by it
    (members, organizations) = library.stats["accounts"].variables[0].values()
    assert members == [
        {"__typename": "Member", "login": "ada", "organization": {"id": "1"}},
        {"__typename": "Member", "login": "ada", "organization": {"id": "2"}},
    ]
    assert organizations == [
        {"__typename": "Organization", "id": "1"},
        {"__typename": "Organization", "id": "2"},
    ]


async def test_what_a_subgraph_provides_is_not_asked_again(library: Shop) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(CASES["provides"])
        assert answer == {
            "data": {
                "featured": {"editor": {"fullName": "Alan Turing"}, "author": {"fullName": "Ada Lovelace"}}
            }
        }
        # the editor's name comes from media (@provides); the author's from accounts, one representation
        assert calls(library) == {"accounts": (1, 1), "media": (1, 0)}
        library.reset()
        editor_only = await gateway.execute("{ featured { ... on Book { editor { fullName } } } }")
    assert editor_only == {"data": {"featured": {"editor": {"fullName": "Alan Turing"}}}}
    assert calls(library) == {"media": (1, 0)}


async def test_an_interface_object_answers_for_every_kind_of_media(library: Shop) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(CASES["interface_object"])
    assert answer == {
        "data": {
            "catalog": [
                {"title": "Notes", "rating": 4.5},
                {"title": "Engines", "rating": 3.0},
                {"title": "Difference", "rating": 4.0},
            ],
            "podcasts": [{"title": "Engines of Thought", "rating": 3.5}],
        }
    }
    # ratings is asked once, about four pieces of media, each sent as a Media, books, films and podcasts alike
    assert calls(library) == {"audio": (1, 0), "media": (1, 0), "ratings": (1, 4)}
    assert library.stats["ratings"].documents == [
        "query($k1: [_Any!]!) { b1: _entities(representations: $k1) { ... on Media { rating } } }"
    ]


async def test_a_nested_requirement_goes_with_the_key(library: Shop) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(CASES["nested_requires_from_the_parent"])
    assert answer == {"data": {"catalog": [{"shippingCost": 8}, {"shippingCost": 13}, {}]}}
    # media sends the weights with the books; shipping computes from what the gateway sends it
    assert calls(library) == {"media": (1, 0), "shipping": (1, 2)}
    assert library.stats["media"].documents == [
        "query { catalog { __typename ... on Book { id dimensions { weight } } } }"
    ]
    assert library.stats["shipping"].variables == [
        {
            "k1": [
                {"__typename": "Book", "id": "b1", "dimensions": {"weight": 300}},
                {"__typename": "Book", "id": "b2", "dimensions": {"weight": 800}},
            ]
        }
    ]


async def test_a_requirement_with_an_argument_is_asked_with_it_and_sent_by_name(library: Shop) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute("{ catalog { ... on Book { insurance price } } }")
        # 1 % of the price in euros: 1200 US cents are 1080 euro cents
        assert answer == {
            "data": {"catalog": [{"insurance": 10, "price": 1200}, {"insurance": 22, "price": 2500}, {}]}
        }
        assert calls(library) == {"media": (1, 0), "shipping": (1, 2)}
        key = step_key('price(currency: "EUR")')
        assert library.stats["media"].documents == [
            f'query {{ catalog {{ __typename ... on Book {{ id {key}: price(currency: "EUR") price }} }} }}'
        ]
        # the price in euros, sent under the field's name
        assert library.stats["shipping"].variables == [
            {
                "k1": [
                    {"__typename": "Book", "id": "b1", "price": 1080},
                    {"__typename": "Book", "id": "b2", "price": 2250},
                ]
            }
        ]
        library.reset()
        refused = await gateway.execute('{ search(term: "n") { ... on Book { insurance } } }')
    # search has only the books' ids: their price in euros would come from media first, not planned yet
    assert refused == {
        "errors": [
            {
                "message": 'Book.insurance @requires price(currency: "EUR"), with arguments, from another'
                " subgraph than the parent's: not planned yet"
            }
        ]
    }
    assert calls(library) == {}


async def test_a_nested_requirement_from_another_subgraph_is_fetched_first(library: Shop) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(CASES["nested_requires_fetched_first"])
    assert answer == {"data": {"search": [{"shippingCost": 8}, {"shippingCost": 13}, {}]}}
    # search knows only the books' ids: their weights come from media first, then shipping gets them
    assert calls(library) == {"media": (1, 2), "search": (1, 0), "shipping": (1, 2)}


async def test_a_union_whose_members_live_in_other_subgraphs(library: Shop) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(CASES["union_across_subgraphs"])
    assert answer == {
        "data": {
            "search": [
                {"__typename": "Book", "title": "Notes"},
                {"__typename": "Book", "title": "Engines"},
                {
                    "__typename": "Member",
                    "fullName": "Alan Turing",
                    "organization": {"name": "Analytical Society"},
                },
            ]
        }
    }
    # the members' names come from search (@shareable), their organizations' from accounts
    assert calls(library) == {"accounts": (1, 1), "media": (1, 2), "search": (1, 0)}


async def test_a_subgraph_is_asked_only_about_its_own_types(library: Shop) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(CASES["own_types_only"])
    assert answer == {"data": {"featured": {"__typename": "Book", "title": "Notes"}}}
    # Podcast is a Media of audio's: media has never heard of it, and its document does not name it
    assert library.stats["media"].documents == [
        "query { featured { __typename ... on Film { title id } ... on Book { title } } }"
    ]
    assert calls(library) == {"media": (1, 0)}


async def test_the_fields_of_one_entity_go_in_one_entities_field(library: Shop) -> None:
    query = '{ search(term: "n") { ... on Book { title pages dimensions { height } } } }'
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(query)
    assert answer == {
        "data": {
            "search": [
                {"title": "Notes", "pages": 120, "dimensions": {"height": 20}},
                {"title": "Engines", "pages": 340, "dimensions": {"height": 24}},
                {},
            ]
        }
    }
    # each book sent once, for its three fields
    assert calls(library) == {"media": (1, 2), "search": (1, 0)}
    assert library.stats["media"].documents == [
        "query($k1: [_Any!]!) { b1: _entities(representations: $k1)"
        " { ... on Book { title pages dimensions { height } } } }"
    ]


async def test_a_parent_is_sent_with_the_key_its_subgraph_has(library: Shop) -> None:
    query = (
        "{ podcasts { publisher { id name } } catalog { ... on Book { author { organization { name } } } } }"
    )
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(query)
    assert answer == {
        "data": {
            "podcasts": [{"publisher": {"id": "2", "name": "Royal Society"}}],
            "catalog": [
                {"author": {"organization": {"name": "Analytical Society"}}},
                {"author": {"organization": {"name": "Royal Society"}}},
                {},
            ],
        }
    }
    # audio knows publishers by slug, media organizations by id: one call to accounts, with each key
    assert calls(library) == {"accounts": (1, 3), "audio": (1, 0), "media": (1, 0)}
    assert library.stats["accounts"].variables == [
        {
            "k1": [{"__typename": "Organization", "slug": "royal"}],
            "k4": [{"__typename": "Organization", "id": "1"}, {"__typename": "Organization", "id": "2"}],
        }
    ]
    assert library.stats["accounts"].documents == [
        "query($k1: [_Any!]!, $k4: [_Any!]!) { b1: _entities(representations: $k1) { ... on Organization { id name } }"
        " b4: _entities(representations: $k4) { ... on Organization { name } } }"
    ]


async def test_a_progressive_override_is_taken_as_done(library: Shop) -> None:
    async with gateway_for(library) as gateway:
        answer = await gateway.execute("{ catalog { ... on Film { title minutes } } }")
    # audio's 96 minutes, not media's 95: `@override(from: "media", label: "percent(10)")` as if at 100%
    assert answer == {"data": {"catalog": [{}, {}, {"title": "Difference", "minutes": 96}]}}
    assert calls(library) == {"audio": (1, 1), "media": (1, 0)}
    assert library.stats["media"].documents == ["query { catalog { __typename ... on Film { title id } } }"]


async def test_fields_come_in_the_order_of_their_first_selection_across_fragments(library: Shop) -> None:
    # CollectFields: a field goes where its first selection is, whatever fragment that is in and whichever
    # subgraph answers it (@apollo/gateway moves rating and shippingCost before id: differential_library.yaml)
    query = (
        "{ featured { ... on Book { pages } title ... on Media { id }"
        " ... on Book { title rating shippingCost } __typename } }"
    )
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(query)
    assert json.dumps(answer) == json.dumps(
        {
            "data": {
                "featured": {
                    "pages": 120,
                    "title": "Notes",
                    "id": "b1",
                    "rating": 4.5,
                    "shippingCost": 8,
                    "__typename": "Book",
                }
            }
        }
    )
    assert calls(library) == {"media": (1, 0), "ratings": (1, 1), "shipping": (1, 1)}


async def test_aliases_are_the_answers_names_not_the_subgraphs(library: Shop) -> None:
    # each alias names a field a plan needs of a subgraph: the key ratings is sent (id), the weight shipping
    # requires (dimensions), the nested key (login, organization), the type media's answer is read by (__typename)
    query = (
        "{ catalog { id: title rating ... on Book { dimensions: pages shippingCost"
        " author { login: fullName organization: fullName } } }"
        " featured { kind: __typename __typename: title } }"
    )
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(query)
    assert json.dumps(answer) == json.dumps(
        {
            "data": {
                "catalog": [
                    {
                        "id": "Notes",
                        "rating": 4.5,
                        "dimensions": 120,
                        "shippingCost": 8,
                        "author": {"login": "Ada Lovelace", "organization": "Ada Lovelace"},
                    },
                    {
                        "id": "Engines",
                        "rating": 3.0,
                        "dimensions": 340,
                        "shippingCost": 13,
                        "author": {"login": "Augusta Ada King", "organization": "Augusta Ada King"},
                    },
                    {"id": "Difference", "rating": 4.0},
                ],
                "featured": {"kind": "Book", "__typename": "Notes"},
            }
        }
    )
    assert calls(library) == {"accounts": (1, 2), "media": (1, 0), "ratings": (1, 3), "shipping": (1, 2)}
    # the subgraphs are asked for the fields themselves, under no alias
    assert library.stats["media"].documents == [
        "query { catalog { __typename ... on Film { title id } ... on Book { title id pages dimensions { weight }"
        " author { login organization { id } } } } featured { __typename ... on Film { title } ... on Book"
        " { title } } }"
    ]


async def test_the_typename_of_an_interface_object_is_its_own_subgraphs(library: Shop) -> None:
    # ratings knows every kind of media as Media: the type comes from media and audio, not from ratings
    query = (
        "{ catalog { ... on Media { __typename rating } } podcasts { ... on Media { __typename rating } } }"
    )
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(query)
    assert json.dumps(answer) == json.dumps(
        {
            "data": {
                "catalog": [
                    {"__typename": "Book", "rating": 4.5},
                    {"__typename": "Book", "rating": 3.0},
                    {"__typename": "Film", "rating": 4.0},
                ],
                "podcasts": [{"__typename": "Podcast", "rating": 3.5}],
            }
        }
    )
    assert calls(library) == {"audio": (1, 0), "media": (1, 0), "ratings": (1, 4)}
    assert "__typename" not in library.stats["ratings"].documents[0]


async def test_an_entity_field_s_arguments_are_forwarded(library: Shop) -> None:
    query = '{ search(term: "n") { ... on Book { loud: title(upper: true) title } } }'
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(query)
    assert answer == {
        "data": {"search": [{"loud": "NOTES", "title": "Notes"}, {"loud": "ENGINES", "title": "Engines"}, {}]}
    }
    # both in one _entities field: each book sent once
    assert calls(library) == {"media": (1, 2), "search": (1, 0)}
    assert library.stats["media"].documents == [
        "query($k1: [_Any!]!) { b1: _entities(representations: $k1)"
        " { ... on Book { title__1: title(upper: true) title } } }"
    ]
    library.reset()
    query = 'query ($u: Boolean) { search(term: "e") { ... on Book { title(upper: $u) } } }'
    async with gateway_for(library) as gateway:
        answer = await gateway.execute(query, variables={"u": True})
    assert answer == {"data": {"search": [{"title": "NOTES"}, {"title": "ENGINES"}]}}
    assert library.stats["media"].documents == [
        "query($k1: [_Any!]!, $u: Boolean) { b1: _entities(representations: $k1)"
        " { ... on Book { title__1: title(upper: $u) } } }"
    ]


async def test_batching_off_is_one_call_per_parent_with_nested_keys(library: Shop) -> None:
    async with gateway_for(library, batching=False) as gateway:
        answer = await gateway.execute(CASES["nested_key"])
    assert answer["data"]["catalog"][1] == {
        "author": {"fullName": "Augusta Ada King", "organization": {"name": "Royal Society"}}
    }
    assert calls(library) == {"accounts": (4, 4), "media": (1, 0)}


def test_a_field_a_subgraph_returns_as_an_interface_object_is_refused() -> None:
    text = SUPERGRAPH.read_text().replace(
        "  podcasts: [Podcast!]! @join__field(graph: AUDIO)\n",
        "  podcasts: [Podcast!]! @join__field(graph: AUDIO)\n  topRated: [Media!]! @join__field(graph: RATINGS)\n",
    )
    assert text != SUPERGRAPH.read_text()
    with pytest.raises(ConfigError) as raised:
        annotate_supergraph(text, "library.graphql")
    assert [str(p) for p in raised.value.problems] == [
        "library.graphql: cannot serve Query.topRated: ratings returns Media as an @interfaceObject: not planned yet"
    ]


async def test_funnel_check_the_library_against_its_subgraphs(library: Shop, tmp_path: Path) -> None:
    services = "".join(f"  {name}: {{url: '{url}'}}\n" for name, url in library.urls.items())
    (tmp_path / "funnel.yaml").write_text(f"supergraph: {SUPERGRAPH}\nservices:\n{services}")
    async with start_child(FUNNEL, "check", "--config", "funnel.yaml", cwd=tmp_path) as child:
        line = await child.read_until("OK: ")
        assert await child.exit_code(timeout=60) == 0
    # Media.rating is the interface object's on every kind of media: not media's, and not reported as missing
    assert line.strip() == (
        f"OK: funnel.yaml (supergraph {os.path.relpath(SUPERGRAPH, tmp_path)}, 6 services, 22 annotated fields;"
        " checked against accounts, audio, media, ratings, search, shipping)"
    )


def test_funnel_check_and_explain_take_a_supergraph_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    assert main(["check", "--supergraph", str(SUPERGRAPH), "--offline"]) == 0
    relative = os.path.relpath(SUPERGRAPH)
    assert capsys.readouterr().out == (
        f"OK: {SUPERGRAPH} (supergraph {relative}, 6 services, 22 annotated fields)\n"
    )
    (tmp_path / "q.graphql").write_text(CASES["nested_requires_from_the_parent"])
    assert main(["explain", "--supergraph", str(SUPERGRAPH), str(tmp_path / "q.graphql")]) == 0
    # the plan of the snapshot, whose first line is the query
    snapshot = (PLANS / "nested_requires_from_the_parent.txt").read_text()
    assert capsys.readouterr().out == snapshot.split("\n", 1)[1]
