"""Authentication: JWTs from a shared secret, a JWKS file or a JWKS URL; API keys; 401 with a challenge; the
verified claims forwarded in place of whatever the client sent."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from examples.services.cluster import Cluster
from examples.services.common import start_app
from gateway.auth.keys import JWKSURL, KeysUnavailable
from registry.config import APIKeyConfig, AuthConfig, JWTConfig
from tests.conftest import SEEN
from tests.engine.conftest import service_configs
from tests.server.conftest import StartServer

from .conftest import SECRET, token

QUERY = {"query": "{ orders(first: 1) { id } }"}
HS = AuthConfig(
    jwt=JWTConfig(secret=SECRET, algorithms=("HS256",), issuer="https://issuer", audience="funnel")
)


async def post(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None, body: Any = QUERY
) -> tuple[int, Any, Any]:
    async with http.post(url, json=body, headers=headers or {}) as response:
        return response.status, await response.json(), response.headers


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def unauthenticated(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]}


GOOD = {"iss": "https://issuer", "aud": "funnel"}
# alg "none", written by hand: the header and claims base64url-encoded, no signature
UNSIGNED = (
    base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    + "."
    + base64.urlsafe_b64encode(b'{"sub":"ada","exp":9999999999,"iss":"https://issuer","aud":"funnel"}')
    .rstrip(b"=")
    .decode()
    + "."
)


async def test_a_valid_token_is_accepted_and_a_bad_one_refused_with_a_challenge(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server(auth=HS)
    status, body, _ = await post(http, server.graphql, bearer(token(**GOOD)))
    assert status == 200 and body == {"data": {"orders": [{"id": "1"}]}}
    cases = {
        token(exp=int(time.time()) - 120, **GOOD): "the token has expired",
        token(iss="https://other", aud="funnel"): "the token is from another issuer",
        token(iss="https://issuer", aud="elsewhere"): "the token is for another audience",
        token(
            secret="another-secret-that-is-long-enough-for-hs256-hs384-and-hs512-too!", **GOOD
        ): "the token's signature does not verify",
        jwt.encode({"sub": "ada", "exp": int(time.time()) + 60, **GOOD}, SECRET, algorithm="HS512"): (
            "the token's algorithm is not allowed (allowed: HS256)"
        ),
        UNSIGNED: ("the token's algorithm is not allowed (allowed: HS256)"),
        jwt.encode({"sub": "ada", **GOOD}, SECRET, algorithm="HS256"): "the token has no 'exp' claim",
        "not-a-jwt": "the token is not a JWT",
    }
    for credential, reason in cases.items():
        status, body, headers = await post(http, server.graphql, bearer(credential))
        assert (status, body) == (401, unauthenticated(f"Invalid bearer token: {reason}.")), reason
        assert headers["WWW-Authenticate"] == 'Bearer realm="funnel", error="invalid_token"'
        assert credential not in json.dumps(body)


async def test_clock_skew_within_the_leeway_is_accepted(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    server = await start_server(auth=HS)  # leeway_s: 30 by default
    status, _, _ = await post(http, server.graphql, bearer(token(exp=int(time.time()) - 10, **GOOD)))
    assert status == 200


async def test_required_authentication_refuses_anonymous_callers(
    start_server: StartServer, http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    server = await start_server(auth=AuthConfig(required=True, jwt=HS.jwt))
    status, body, headers = await post(http, server.graphql)
    assert (status, body) == (401, unauthenticated("Authentication required."))
    assert headers["WWW-Authenticate"] == 'Bearer realm="funnel"'
    assert (await cluster.stats("orders"))["requests"] == 0
    async with http.get(server.url + "/health") as response:  # load balancers call it bare
        assert response.status == 200


async def test_api_keys(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    keys = (APIKeyConfig("k-123456", "ci", ("orders:read",)),)
    server = await start_server(auth=AuthConfig(required=True, api_keys=keys))
    status, body, _ = await post(http, server.graphql, {"x-api-key": "k-123456"})
    assert status == 200 and body == {"data": {"orders": [{"id": "1"}]}}
    status, body, headers = await post(http, server.graphql, {"x-api-key": "k-wrong"})
    assert (status, body) == (401, unauthenticated("Invalid API key in x-api-key."))
    assert headers["WWW-Authenticate"] == 'ApiKey realm="funnel", header="x-api-key", error="invalid_token"'


def rsa_jwks(kid: str) -> tuple[Any, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return key, {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}


async def test_a_jwks_file(start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    key, jwks = rsa_jwks("k1")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    server = await start_server(auth=AuthConfig(jwt=JWTConfig(jwks_file=str(path), algorithms=("RS256",))))
    signed = jwt.encode(
        {"sub": "ada", "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "k1"}
    )
    assert (await post(http, server.graphql, bearer(signed)))[0] == 200
    unknown = jwt.encode(
        {"sub": "ada", "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "k9"}
    )
    status, body, _ = await post(http, server.graphql, bearer(unknown))
    assert (status, body) == (
        401,
        unauthenticated("Invalid bearer token: no key verifies the token: no key with kid 'k9'."),
    )
    # The algorithm-confusion forgery: the public key used as an HMAC secret.
    forged = jwt.encode(
        {"sub": "ada", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256", headers={"kid": "k1"}
    )
    status, body, _ = await post(http, server.graphql, bearer(forged))
    assert (status, body) == (
        401,
        unauthenticated("Invalid bearer token: the token's algorithm is not allowed (allowed: RS256)."),
    )


async def test_a_jwks_url_is_fetched_at_start_up(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    key, jwks = rsa_jwks("k1")
    served = []

    async def keys(_request: web.Request) -> web.Response:
        served.append(1)
        return web.json_response(jwks)

    app = web.Application()
    app.router.add_get("/jwks.json", keys)
    runner, url = await start_app(app)
    try:
        auth = AuthConfig(jwt=JWTConfig(jwks_url=url + "/jwks.json", algorithms=("RS256",)))
        server = await start_server(auth=auth)
        signed = jwt.encode(
            {"sub": "ada", "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "k1"}
        )
        for _ in range(3):
            assert (await post(http, server.graphql, bearer(signed)))[0] == 200
        assert served == [1]  # once at start-up; the background refresh is minutes away
    finally:
        await runner.cleanup()


async def test_verified_claims_replace_what_the_client_sent(
    start_server: StartServer,
    http: aiohttp.ClientSession,
    cluster: Cluster,
    proxies: dict[str, tuple[str, web.Application]],
) -> None:
    url, proxy = proxies["orders"]
    services = service_configs(cluster, orders={"url": url + "/graphql", "forward_headers": ("x-claims",)})
    auth = AuthConfig(jwt=HS.jwt, claims_header="x-claims")
    server = await start_server(services=services, auth=auth)
    forged = {"x-claims": '{"sub": "admin"}'}
    assert (await post(http, server.graphql, forged))[0] == 200
    signed = token("ada", "orders:read", **GOOD)
    assert (await post(http, server.graphql, {**forged, **bearer(signed)}))[0] == 200
    anonymous, authenticated = proxy[SEEN]
    assert "x-claims" not in anonymous
    claims = json.loads(authenticated["x-claims"])
    assert (claims["sub"], claims["scope"], claims["iss"]) == ("ada", "orders:read", "https://issuer")


@pytest.mark.parametrize("path", ["/ready", "/graphql"])
async def test_debugging_details_are_for_authenticated_callers_by_default(
    start_server: StartServer, http: aiohttp.ClientSession, path: str
) -> None:
    server = await start_server(auth=HS, debug_access="authenticated")
    signed = bearer(token(**GOOD))
    if path == "/ready":
        async with http.get(server.url + path) as response:
            assert (response.status, await response.json()) == (200, {"status": "ready"})
        async with http.get(server.url + path, headers=signed) as response:
            assert set(await response.json()) == {"status", "services", "circuits", "schema"}
        return
    debug = {"funnel-debug": "plan"}
    status, body, _ = await post(http, server.graphql, debug)
    assert (status, body) == (200, {"data": {"orders": [{"id": "1"}]}})
    status, body, _ = await post(http, server.graphql, {**debug, **signed})
    assert status == 200 and set(body["extensions"]["funnel"]) == {"plan", "calls", "cost"}


async def test_a_key_rotated_in_at_the_jwks_url_is_picked_up_and_forged_kids_cannot_force_fetches() -> None:
    _, old_jwks = rsa_jwks("k1")
    _, new_jwks = rsa_jwks("k2")
    published = [old_jwks]

    async def keys(_request: web.Request) -> web.Response:
        return web.json_response(published[-1])

    app = web.Application()
    app.router.add_get("/jwks.json", keys)
    runner, url = await start_app(app)
    source = JWKSURL(url + "/jwks.json", refresh_s=300, timeout_s=2, min_refresh_s=0.2)
    try:
        await source.start()
        assert source.key_for("k1") is not None and source.fetches == 1
        published.append(new_jwks)  # the issuer rotates: k2 only
        with pytest.raises(KeysUnavailable, match="no key with kid 'k2'"):
            source.key_for("k2")  # wakes an early refresh, no sooner than min_refresh_s after the last
        for _ in range(100):  # bounded: 5 s at most
            if source.fetches == 2:
                break
            await asyncio.sleep(0.05)
        assert source.fetches == 2 and source.key_for("k2") is not None
        with pytest.raises(KeysUnavailable):
            source.key_for("k1")  # rotated out
        for _ in range(50):  # forged kids in a burst: at most one more fetch per min_refresh_s
            with pytest.raises(KeysUnavailable):
                source.key_for("forged")
        await asyncio.sleep(0.5)
        assert source.fetches == 3
    finally:
        await source.stop()
        await runner.cleanup()
