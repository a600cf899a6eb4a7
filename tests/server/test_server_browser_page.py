"""The browser page in a real browser: headless Chromium opens GET /graphql and gets GraphiQL (vendored, served by
Funnel), completes a field from the schema, runs the tour's query, and Funnel's panel shows the plan and the calls,
with batching on and off side by side. The page loads nothing from anywhere but the gateway."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp

from examples.services.cluster import Cluster
from gateway.server.page import ASSETS, ASSETS_PATH, CONTENT_SECURITY_POLICY
from instrumentation.plan import print_plan

from .chromium import Page, chromium
from .conftest import Server, StartServer

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
TOUR_QUERY = "{ orders(first: 100) { id product { name } } }"
EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
RESPONSE = "document.querySelector('.graphiql-response .CodeMirror').CodeMirror"


async def open_graphiql(page: Page, url: str) -> None:
    await page.navigate(url)
    await page.wait_for("document.querySelector('.graphiql-query-editor .CodeMirror') !== null", 30)


async def completions(page: Page, before: str, after: str, key: str) -> list[str]:
    """Type `key` with the cursor between `before` and `after`; the completions GraphiQL offers (the schema is
    introspected once the page has loaded: tried until it is)."""
    line, column = before.count("\n"), len(before.rsplit("\n", 1)[-1])
    async with asyncio.timeout(30):
        while True:
            await page.evaluate(
                f"(() => {{ const cm = {EDITOR}; cm.setValue({json.dumps(before + after)});"
                f" cm.focus(); cm.setCursor({{line: {line}, ch: {column}}}); }})()"
            )
            for kind in ("keyDown", "keyUp"):
                await page.call(
                    "Input.dispatchKeyEvent", type=kind, key=key, text=key if kind == "keyDown" else ""
                )
            await asyncio.sleep(0.3)
            shown = await page.evaluate(
                "Array.from(document.querySelectorAll('.CodeMirror-hints li')).map(li => li.textContent)"
            )
            if shown:
                return list(shown)


async def run_query(page: Page, query: str) -> Any:
    await page.evaluate(f"{EDITOR}.setValue({json.dumps(query)})")
    await page.evaluate("document.querySelector('#funnel-last-run').dataset.seen = ''")
    await page.click(".graphiql-execute-button")
    await page.wait_for(f"{RESPONSE}.getValue().length > 0 && !document.querySelector('.graphiql-spinner')")
    return json.loads(await page.evaluate(f"{RESPONSE}.getValue()"))


def rows(selector: str) -> str:
    return (
        f"Array.from(document.querySelectorAll({selector!r}))"
        ".map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.textContent))"
    )


async def test_graphiql_completes_runs_and_shows_plan_and_calls(
    start_server: StartServer, cluster: Cluster, tmp_path: Path
) -> None:
    server = await start_server(batching_header=True, introspection=True)
    plan = print_plan(server.gateway.plan(TOUR_QUERY))
    async with chromium(tmp_path / "profile") as page:
        await page.call("Network.enable")
        await open_graphiql(page, server.graphql)
        assert await page.evaluate("document.title") == "Funnel"

        # schema-aware completion: the root fields with an "o", the one it starts first (GraphiQL's fuzzy order)
        assert await completions(page, "{ ", " }", "o") == ["orders", "product", "account", "products"]
        assert await completions(page, "{ or", " }", "d") == ["orders"]

        # the panel shows the plan of the query being written, asked of the server without running it
        await page.evaluate(f"{EDITOR}.setValue({json.dumps(TOUR_QUERY)})")
        await page.wait_for(f"document.querySelector('#funnel-plan').textContent === {json.dumps(plan)}")
        await cluster.reset_stats()

        answer = await run_query(page, TOUR_QUERY)
        orders = answer["data"]["orders"]
        assert [o["id"] for o in orders] == [str(i) for i in range(1, 101)]
        assert all(o["product"]["name"] for o in orders)
        await page.wait_for("document.querySelector('#funnel-last-run .funnel-calls') !== null")
        calls = await page.evaluate(rows("#funnel-last-run .funnel-call"))
        # service, level, keys, chunk, ms, outcome: two calls, the second with the 91 distinct product ids
        assert [(c[0], c[1], c[2], c[3], c[5]) for c in calls] == [
            ("orders", "0", "0", "0", "ok"),
            ("catalog", "1", "91", "0", "ok"),
        ]
        assert (await cluster.stats("catalog"))["requests"] == 1

        # batching on and off side by side (the server honours funnel-batching)
        await page.click("#funnel-compare-run")
        await page.wait_for("document.querySelectorAll('.funnel-side-by-side .funnel-calls').length === 2")
        on = await page.evaluate(rows("[data-mode=on] .funnel-group"))
        off = await page.evaluate(rows("[data-mode=off] .funnel-group"))
        # service, level, calls, keys
        assert [c[:4] for c in on] == [["orders", "0", "1", "0"], ["catalog", "1", "1", "91"]]
        assert [c[:4] for c in off] == [["orders", "0", "1", "0"], ["catalog", "1", "100", "100"]]
        assert (await cluster.stats("catalog"))["requests"] == 1 + 1 + 100  # counted by catalog itself

        requested = {
            e["params"]["request"]["url"]
            for e in page.events
            if e.get("method") == "Network.requestWillBeSent"
        }
    # the page, its scripts and styles, its POSTs (and fonts inlined as data: URLs): nothing from elsewhere
    assert {url for url in requested if not url.startswith("data:")} == {
        server.graphql,
        *(f"{server.url}{ASSETS_PATH}/{name}" for name in ASSETS),
    }


async def test_the_panel_offers_no_comparison_unless_the_server_allows_it(
    server: Server, tmp_path: Path
) -> None:
    async with chromium(tmp_path / "profile") as page:
        await open_graphiql(page, server.graphql)
        await page.wait_for("document.querySelector('#funnel-plan') !== null")
        assert await page.evaluate("document.querySelector('#funnel-compare-run')") is None


async def test_graphiql_shows_errors_from_the_gateway(server: Server, tmp_path: Path) -> None:
    async with chromium(tmp_path / "profile") as page:
        await open_graphiql(page, server.graphql)
        answer = await run_query(page, "{ nope }")
        assert answer == {
            "errors": [
                {
                    "message": "Cannot query field 'nope' on type 'Query'.",
                    "locations": [{"line": 1, "column": 3}],
                }
            ]
        }
        await page.wait_for("document.querySelector('#funnel-plan').textContent.length > 0")
        shown = await page.evaluate("document.querySelector('#funnel-plan').textContent")
        assert shown == "Cannot query field 'nope' on type 'Query'."


async def test_the_page_and_its_assets_come_from_the_gateway(
    server: Server, http: aiohttp.ClientSession
) -> None:
    async with http.get(server.graphql, headers={"Accept": BROWSER_ACCEPT}) as response:
        assert (response.status, response.content_type, response.charset) == (200, "text/html", "utf-8")
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        page = await response.text()
    assert "http:" not in page and "https:" not in page
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == [
        "data:,",
        f"{ASSETS_PATH}/graphiql.min.css",
        f"{ASSETS_PATH}/funnel.css",
        f"{ASSETS_PATH}/react.production.min.js",
        f"{ASSETS_PATH}/react-dom.production.min.js",
        f"{ASSETS_PATH}/graphiql.min.js",
        f"{ASSETS_PATH}/funnel.js",
    ]
    async with http.get(f"{server.url}{ASSETS_PATH}/graphiql.min.js") as response:
        assert (response.status, response.content_type) == (200, "text/javascript")
        body = await response.read()
    assert body.endswith(b'window.GraphiQL = __webpack_exports__["default"];\n/******/ })()\n;')
    assert b"sourceMappingURL" not in body
    for name in ("../page.py", "vendor%2FVERSIONS.json", "LICENSE.react"):
        async with http.get(f"{server.url}{ASSETS_PATH}/{name}") as response:
            assert response.status == 404, name


async def test_the_page_can_be_turned_off(start_server: StartServer, http: aiohttp.ClientSession) -> None:
    server = await start_server(browser_page=False)
    async with http.get(server.graphql, headers={"Accept": BROWSER_ACCEPT}) as response:
        assert (response.status, response.content_type) == (400, "application/json")
        assert await response.json() == {
            "errors": [{"message": 'The request has no "query": send the GraphQL document in "query".'}]
        }
    async with http.get(server.graphql, headers={"Accept": "text/html"}) as response:
        assert response.status == 406
    async with http.get(f"{server.url}{ASSETS_PATH}/graphiql.min.js") as response:
        assert response.status == 404


async def test_a_link_can_carry_the_query(server: Server, tmp_path: Path) -> None:
    async with chromium(tmp_path / "profile") as page:
        await open_graphiql(
            page, server.graphql + "?query=%7B%20__typename%20%7D&variables=%7B%22a%22%3A1%7D"
        )
        assert await page.evaluate(f"{EDITOR}.getValue()") == "{ __typename }"
        variables = "document.querySelector('.graphiql-editor-tool .CodeMirror').CodeMirror.getValue()"
        assert await page.evaluate(variables) == '{"a":1}'
