"""The browser page in a real browser: headless Chromium opens GET /graphql, a query is typed and run with a
mouse click, and the answer is read from the page. The page loads nothing from anywhere but the gateway."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp

from examples.services.cluster import Cluster
from gateway.server.page import CONTENT_SECURITY_POLICY
from tests.engine.conftest import rows

from .chromium import chromium
from .conftest import Server, StartServer

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


async def test_a_person_runs_a_query_in_the_page(server: Server, cluster: Cluster, tmp_path: Path) -> None:
    (product,) = rows(cluster, "catalog", "SELECT id, name, price FROM products WHERE id = 7")
    async with chromium(tmp_path / "profile") as page:
        await page.call("Network.enable")
        await page.navigate(server.graphql)
        assert await page.evaluate("document.title") == "Funnel"

        await page.type_into("#query", "query Product($id: ID!) { product(id: $id) { id name price } }")
        await page.type_into("#variables", '{"id": "7"}')
        await page.click("#run")
        await page.wait_for("document.querySelector('#answer').dataset.state === 'done'")

        answer = json.loads(await page.evaluate("document.querySelector('#answer').textContent"))
        assert answer == {
            "data": {"product": {"id": "7", "name": product["name"], "price": product["price"]}}
        }
        status = await page.evaluate("document.querySelector('#status').textContent")
        assert re.fullmatch(r"200 OK · \d+ ms", status), status
        assert await page.evaluate("document.querySelector('#plan-output').textContent") == ""

        # with the box ticked, the page shows the plan and the calls (funnel-debug: plan)
        await page.click("#plan")
        await page.click("#run")
        await page.wait_for("document.querySelector('#answer').dataset.state === 'done'")
        shown = await page.evaluate("document.querySelector('#plan-output').textContent")
        assert shown.startswith("Plan (query)\n  level 0\n    #0 catalog query\n")
        assert "\n\n1 downstream calls\n  catalog level 0: 0 keys, chunk 0, " in shown

        requested = {
            e["params"]["request"]["url"]
            for e in page.events
            if e.get("method") == "Network.requestWillBeSent"
        }
        # the page itself, then its POSTs: nothing else, from nowhere else
        assert requested == {server.graphql}


async def test_the_page_shows_errors_from_the_gateway(server: Server, tmp_path: Path) -> None:
    async with chromium(tmp_path / "profile") as page:
        await page.navigate(server.graphql)
        await page.type_into("#query", "{ nope }")
        await page.click("#run")
        await page.wait_for("document.querySelector('#answer').dataset.state === 'done'")
        answer = json.loads(await page.evaluate("document.querySelector('#answer').textContent"))
        assert answer == {
            "errors": [
                {
                    "message": "Cannot query field 'nope' on type 'Query'.",
                    "locations": [{"line": 1, "column": 3}],
                }
            ]
        }
        status = await page.evaluate("document.querySelector('#status').textContent")
        assert re.fullmatch(r"400 Bad Request · \d+ ms", status), status


async def test_the_page_is_self_contained(server: Server, http: aiohttp.ClientSession) -> None:
    async with http.get(server.graphql, headers={"Accept": BROWSER_ACCEPT}) as response:
        assert (response.status, response.content_type, response.charset) == (200, "text/html", "utf-8")
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        page = await response.text()
    assert "http:" not in page and "https:" not in page
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == ["data:,"]  # the favicon, inline: nothing to fetch


async def test_the_page_can_be_turned_off(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    server = await start_server(browser_page=False)
    async with http.get(server.graphql, headers={"Accept": BROWSER_ACCEPT}) as response:
        assert (response.status, response.content_type) == (400, "application/json")
        assert await response.json() == {
            "errors": [{"message": 'The request has no "query": send the GraphQL document in "query".'}]
        }
    async with http.get(server.graphql, headers={"Accept": "text/html"}) as response:
        assert response.status == 406


async def test_a_link_can_carry_the_query(server: Server, tmp_path: Path) -> None:
    async with chromium(tmp_path / "profile") as page:
        await page.navigate(server.graphql + "?query=%7B%20__typename%20%7D&variables=%7B%7D")
        assert await page.evaluate("document.querySelector('#query').value") == "{ __typename }"
        assert await page.evaluate("document.querySelector('#variables').value") == "{}"
