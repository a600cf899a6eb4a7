"""Persisted queries over HTTP: Apollo's APQ protocol (GET and POST, memory and Redis shared by replicas) and
trusted documents (both manifest formats, file and URL, and the mode where only they run)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples.services.cluster import Cluster
from examples.services.common import start_app
from gateway.persisted import parse_manifest
from gateway.redis_connection import connect
from registry.config import RedisConfig
from registry.errors import ConfigError
from tests.redis_server import RedisServer

from .conftest import Serve, config_for

QUERY = '{ product(id: "7") { id name } }'
DIGEST = hashlib.sha256(QUERY.encode()).hexdigest()
OTHER = '{ product(id: "8") { id } }'
NOT_FOUND = {
    "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
}


def extensions(digest: str = DIGEST, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def get(http: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, Any]:
    async with http.get(url, params=params, headers={"accept": "application/json"}) as response:
        return response.status, await response.json()


async def product_7(http: aiohttp.ClientSession, url: str) -> Any:
    return (await post(http, url, {"query": QUERY}))[1]


async def test_the_apq_round_trip_over_post_and_get(
    cluster: Cluster, serve: Serve, http: aiohttp.ClientSession
) -> None:
    async with serve(config_for(cluster)) as url:
        expected = await product_7(http, url)
        assert expected["data"]["product"]["id"] == "7"
        # 1. the hash alone: unknown, the client is told to send the text
        assert await post(http, url, {"extensions": extensions()}) == (200, NOT_FOUND)
        assert await get(http, url, extensions=json.dumps(extensions())) == (200, NOT_FOUND)
        # 2. the hash with the text: checked, registered and run
        assert await post(http, url, {"query": QUERY, "extensions": extensions()}) == (200, expected)
        # 3. the hash alone now runs, by POST and by GET
        assert await post(http, url, {"extensions": extensions()}) == (200, expected)
        assert await get(http, url, extensions=json.dumps(extensions())) == (200, expected)


async def test_a_hash_that_is_not_the_texts_is_refused_and_registers_nothing(
    cluster: Cluster, serve: Serve, http: aiohttp.ClientSession
) -> None:
    async with serve(config_for(cluster)) as url:
        wrong = await post(http, url, {"query": OTHER, "extensions": extensions()})
        assert wrong == (
            400,
            {
                "errors": [
                    {
                        "message": "persistedQuery.sha256Hash is not the SHA-256 of the query text.",
                        "extensions": {"code": "BAD_PERSISTED_QUERY"},
                    }
                ]
            },
        )
        assert await post(http, url, {"extensions": extensions()}) == (200, NOT_FOUND)


@pytest.mark.parametrize(
    ("persisted", "message"),
    [
        ("yes", 'extensions.persistedQuery must be an object like {"version": 1, "sha256Hash": "…"}.'),
        ({"version": 2, "sha256Hash": DIGEST}, "Unsupported persisted query version 2: only version 1 is."),
        (
            {"version": 1, "sha256Hash": "abc"},
            "extensions.persistedQuery.sha256Hash must be 64 lower-case hexadecimal digits.",
        ),
        ({"version": 1}, "extensions.persistedQuery.sha256Hash must be 64 lower-case hexadecimal digits."),
    ],
)
async def test_a_malformed_persisted_query_is_a_clear_400(
    cluster: Cluster, serve: Serve, http: aiohttp.ClientSession, persisted: Any, message: str
) -> None:
    async with serve(config_for(cluster)) as url:
        answer = await post(http, url, {"extensions": {"persistedQuery": persisted}})
    assert answer == (400, {"errors": [{"message": message, "extensions": {"code": "BAD_PERSISTED_QUERY"}}]})


async def test_apq_off_says_so(cluster: Cluster, serve: Serve, http: aiohttp.ClientSession) -> None:
    async with serve(config_for(cluster, "persisted_queries:\n  apq: false\n")) as url:
        answer = await post(http, url, {"extensions": extensions()})
        assert answer == (
            400,
            {
                "errors": [
                    {
                        "message": "PersistedQueryNotSupported",
                        "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
                    }
                ]
            },
        )
        # the text with its hash still runs (not registered)
        assert (await post(http, url, {"query": QUERY, "extensions": extensions()}))[0] == 200


async def test_a_hash_registered_through_one_replica_runs_on_another_through_redis(
    cluster: Cluster, serve: Serve, http: aiohttp.ClientSession, redis: RedisServer
) -> None:
    shared = f"redis:\n  url: {redis.url}\npersisted_queries:\n  redis: true\n"
    async with serve(config_for(cluster, shared)) as first, serve(config_for(cluster, shared)) as second:
        expected = await product_7(http, first)
        assert await post(http, second, {"extensions": extensions()}) == (200, NOT_FOUND)
        assert await post(http, first, {"query": QUERY, "extensions": extensions()}) == (200, expected)
        assert await post(http, second, {"extensions": extensions()}) == (200, expected)
        # Redis gone: each replica still has what it registered or read itself
        await redis.stop()
        assert await post(http, second, {"extensions": extensions()}) == (200, expected)
        other = {"extensions": extensions(hashlib.sha256(OTHER.encode()).hexdigest())}
        assert await post(http, second, other) == (200, NOT_FOUND)


async def test_a_text_in_redis_that_is_not_its_hashs_is_not_run(
    cluster: Cluster, serve: Serve, http: aiohttp.ClientSession, redis: RedisServer
) -> None:
    shared = f"redis:\n  url: {redis.url}\n  prefix: 'pq:'\npersisted_queries:\n  redis: true\n"
    async with serve(config_for(cluster, shared)) as url:
        client = connect(RedisConfig(redis.url))
        try:  # the layout of gateway.cache.redis_cache: a hash per group, 8 bytes of expiry in front
            await client.hset(f"pq:apq:{DIGEST}", "", (2**62).to_bytes(8, "big") + OTHER.encode())
        finally:
            await client.aclose()
        assert await post(http, url, {"extensions": extensions()}) == (200, NOT_FOUND)


# -- trusted documents -----------------------------------------------------------------------------------------

APOLLO_MANIFEST = {
    "format": "apollo-persisted-query-manifest",
    "version": 1,
    "operations": [{"id": DIGEST, "name": "Product7", "type": "query", "body": QUERY}],
}
GUILD_MANIFEST = {"product-7": QUERY}


@pytest.fixture
async def manifest_url() -> AsyncIterator[str]:
    """The Guild-format manifest served over HTTP on loopback."""
    app = web.Application()

    async def manifest(_request: web.Request) -> web.Response:
        return web.json_response(GUILD_MANIFEST)

    app.router.add_get("/manifest.json", manifest)
    runner, url = await start_app(app)
    try:
        yield url + "/manifest.json"
    finally:
        await runner.cleanup()


async def test_only_trusted_documents_run_from_an_apollo_manifest_file(
    cluster: Cluster, serve: Serve, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(APOLLO_MANIFEST))
    async with serve(config_for(cluster)) as open_url:
        expected = await product_7(http, open_url)
    config = config_for(cluster, f"persisted_queries:\n  manifest: {path}\n  only_trusted: true\n")
    async with serve(config) as url:
        assert await post(http, url, {"extensions": extensions()}) == (200, expected)
        assert await post(http, url, {"query": QUERY}) == (200, expected)  # the text of a trusted document
        assert await post(http, url, {"query": OTHER}) == (
            403,
            {
                "errors": [
                    {
                        "message": "Only trusted documents run here: this query is not in the manifest.",
                        "extensions": {"code": "QUERY_NOT_IN_SAFELIST"},
                    }
                ]
            },
        )
        other_digest = hashlib.sha256(OTHER.encode()).hexdigest()
        not_in_list = {
            "errors": [
                {
                    "message": f"No trusted document has the id '{other_digest}'.",
                    "extensions": {"code": "PERSISTED_QUERY_NOT_IN_LIST"},
                }
            ]
        }
        # neither by hash alone nor by registering it: nothing new is trusted
        assert await post(http, url, {"extensions": extensions(other_digest)}) == (404, not_in_list)
        assert await post(http, url, {"query": OTHER, "extensions": extensions(other_digest)}) == (
            404,
            not_in_list,
        )


async def test_a_guild_manifest_from_a_url_runs_by_document_id_and_apq_still_works_beside_it(
    cluster: Cluster, serve: Serve, http: aiohttp.ClientSession, manifest_url: str
) -> None:
    async with serve(config_for(cluster, f"persisted_queries:\n  manifest: {manifest_url}\n")) as url:
        expected = await product_7(http, url)
        assert await post(http, url, {"documentId": "product-7"}) == (200, expected)
        assert await get(http, url, documentId="product-7") == (200, expected)
        assert await post(http, url, {"documentId": "nope"}) == (
            404,
            {
                "errors": [
                    {
                        "message": "No trusted document has the id 'nope'.",
                        "extensions": {"code": "PERSISTED_QUERY_NOT_IN_LIST"},
                    }
                ]
            },
        )
        assert (await post(http, url, {"query": OTHER}))[0] == 200  # not only_trusted: anything else runs too


def test_manifests_are_checked() -> None:
    assert parse_manifest(json.dumps(APOLLO_MANIFEST).encode()).documents == {DIGEST: QUERY}
    bad_id = {**APOLLO_MANIFEST, "operations": [{"id": "x" * 64, "body": QUERY}]}
    for data, message in [
        (b"[1]", "must be a JSON object"),
        (b"{", "not JSON (line 1, column 2)"),
        (json.dumps({"a": 1}).encode(), "document 'a' must be the document's text"),
        (
            json.dumps({**APOLLO_MANIFEST, "version": 2}).encode(),
            "format must be 'apollo-persisted-query-manifest' with version 1",
        ),
        (json.dumps(bad_id).encode(), "operations[0].id is not the sha256 of its body"),
    ]:
        with pytest.raises(ValueError) as caught:
            parse_manifest(data)
        assert str(caught.value) == message


async def test_an_unusable_manifest_stops_start_up_naming_the_config_line(
    cluster: Cluster, serve: Serve, tmp_path: Path
) -> None:
    config = config_for(cluster, f"persisted_queries:\n  manifest: {tmp_path / 'missing.json'}\n")
    with pytest.raises(ConfigError) as caught:
        async with serve(config):
            pass
    assert str(caught.value) == (
        f"{Path.cwd() / 'gateway.yaml'}:11: persisted_queries.manifest: cannot use {tmp_path / 'missing.json'}: "
        "No such file or directory"
    )
