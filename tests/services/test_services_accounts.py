from __future__ import annotations

import aiohttp
import pytest

from examples.services import accounts
from examples.services.common import DB_KEY

from .conftest import Serve
from .helpers import get_json

SEEDED = {row[0]: {"id": row[0], "name": row[1], "email": row[2]} for row in accounts.seed_accounts()}


@pytest.fixture
async def url(serve: Serve) -> str:
    return await serve(accounts.create_app())


async def test_batch_answers_known_ids_with_integer_ids(http: aiohttp.ClientSession, url: str) -> None:
    status, body = await get_json(http, f"{url}/accounts?ids=2,5000,1,3")
    assert status == 200
    assert sorted(body, key=lambda account: account["id"]) == [SEEDED[1], SEEDED[2], SEEDED[3]]
    assert all(type(account["id"]) is int for account in body)


async def test_batch_does_not_answer_in_request_order(http: aiohttp.ClientSession, url: str) -> None:
    _, body = await get_json(http, f"{url}/accounts?ids=1,2,3")
    assert [account["id"] for account in body] == [3, 2, 1]


async def test_batch_of_every_account(http: aiohttp.ClientSession, url: str) -> None:
    ids = ",".join(str(i) for i in range(1, 1101))
    status, body = await get_json(http, f"{url}/accounts?ids={ids}")
    assert status == 200
    assert {account["id"] for account in body} == set(range(1, 1001))


async def test_batch_tolerates_duplicates_and_empty_list(http: aiohttp.ClientSession, url: str) -> None:
    _, body = await get_json(http, f"{url}/accounts?ids=4,4,4")
    assert body == [SEEDED[4]]
    assert await get_json(http, f"{url}/accounts?ids=") == (200, [])


async def test_single_account(http: aiohttp.ClientSession, url: str) -> None:
    assert await get_json(http, f"{url}/accounts/7") == (200, SEEDED[7])
    assert await get_json(http, f"{url}/accounts/5000") == (404, {"error": "Unknown account '5000'"})


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/accounts?ids=1,x", 400, "Invalid id 'x' in 'ids': expected comma-separated integers"),
        ("/accounts?ids=1,,2", 400, "Invalid id '' in 'ids': expected comma-separated integers"),
        ("/accounts?ids=-1", 400, "Invalid id '-1' in 'ids': expected comma-separated integers"),
        ("/accounts", 400, "Missing query parameter 'ids'"),
        ("/accounts/abc", 400, "Invalid account id 'abc': expected an integer"),
        ("/nowhere", 404, "Not Found"),
    ],
)
async def test_bad_input_is_a_json_error(
    http: aiohttp.ClientSession, url: str, path: str, status: int, message: str
) -> None:
    assert await get_json(http, url + path) == (status, {"error": message})


async def test_wrong_method_is_a_json_405(http: aiohttp.ClientSession, url: str) -> None:
    async with http.put(f"{url}/accounts?ids=1") as response:
        assert response.status == 405
        assert await response.json() == {"error": "Method Not Allowed"}
        assert "GET" in response.headers["Allow"]


async def test_unexpected_error_is_a_500_without_trace(serve: Serve, http: aiohttp.ClientSession) -> None:
    app = accounts.create_app()
    url = await serve(app)
    app[DB_KEY].conn.close()  # every query now raises sqlite3.ProgrammingError
    async with http.get(f"{url}/accounts/1") as response:
        assert response.status == 500
        assert await response.text() == '{"error":"Internal server error"}'
