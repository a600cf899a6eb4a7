"""The shape of a document, measured before validation."""

from __future__ import annotations

from graphql import get_introspection_query, parse

from gateway.demand import QueryShape, measure


def test_measure() -> None:
    assert measure(parse("{ a }")) == QueryShape(1, 0, 1)
    assert measure(parse("{ a { b { c } } d: e }")) == QueryShape(3, 1, 2)
    assert measure(parse("query A { a } query B { x: a { y: b { z: c } } }")) == QueryShape(3, 3, 1)
    assert measure(parse("{ ... on Query { a { ...F } } } fragment F on A { b { c } }")) == QueryShape(
        3, 0, 1
    )
    # A fragment is measured once however often it is spread; its aliases count at every spread.
    chain = "{ ...F0 } " + " ".join(
        f"fragment F{i} on Q {{ a: x {{ ...F{i + 1} }} b: y {{ ...F{i + 1} }} }}" for i in range(30)
    )
    chain += " fragment F30 on Q { z }"
    assert measure(parse(chain)) == QueryShape(31, 2**31 - 2, 2)


def test_the_standard_introspection_query_is_within_the_default_depth() -> None:
    assert measure(parse(get_introspection_query())).depth <= 20


def test_an_unvalidated_document_is_measured_without_looping() -> None:
    # A fragment spreading itself (validation refuses it later) and an unknown fragment count once, then nothing.
    document = parse("{ ...F ...Nowhere } fragment F on Query { a: x { ...F } }")
    assert measure(document) == QueryShape(1, 1, 1)


def test_root_fields_count_through_fragments_and_introspection_is_noticed() -> None:
    document = parse("{ a b ... on Query { c } ...F } fragment F on Query { d { __schema { e } } }")
    assert measure(document) == QueryShape(3, 0, 4, True)
    assert measure(parse("{ __typename }")).introspection is False
