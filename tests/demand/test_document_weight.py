"""The document cache is bounded by what its documents hold, comments and strings included."""

from __future__ import annotations

from graphql import build_schema

from gateway.schema.documents import DocumentCache

SCHEMA = build_schema("type Query { a(s: String): Int }")


def test_a_document_that_is_mostly_comment_weighs_its_copy_of_the_comment_too() -> None:
    cache = DocumentCache(SCHEMA, max_bytes=10**9)
    comment = "#" + "x" * 100_000 + "\n"
    cache.get(comment + "{ a }")
    # the text, and the comment token's own copy of it
    assert cache.documents.weight >= 2 * 100_000
    string = '{ a(s: "' + "y" * 50_000 + '") }'
    before = cache.documents.weight
    cache.get(string)
    assert cache.documents.weight - before >= 2 * 50_000


def test_the_cache_keeps_within_its_bytes() -> None:
    cache = DocumentCache(SCHEMA, max_bytes=1_000_000)
    for n in range(40):
        cache.get(f"#{n}" + "x" * 100_000 + "\n{ a }")
        assert cache.documents.weight <= 1_000_000
    assert len(cache.documents) == 4  # each holds just over 200 KB
