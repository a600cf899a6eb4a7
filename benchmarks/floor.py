"""The floor: a hand-written server for one query, making the fewest calls a gateway could make.

It answers `PEER_QUERY` (100 orders with their buyer, product and the product's seller) over the example
services with the optimal plan, written by hand: orders, then catalog, then one accounts call carrying the
buyers' and the sellers' ids together — 1 / 1 / 1 calls, three sequential levels. It parses nothing, plans
nothing and validates nothing: what a gateway spends beyond it is the gateway's own cost. The answer is the same
JSON, byte for byte, that Funnel gives for the query (the peer benchmark checks it). It runs on the event loop
`funnel serve` runs on: uvloop when installed (`pip install -e ".[fast]"`), else asyncio's.

    python -m benchmarks.floor --orders URL --catalog URL --accounts URL [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final

import aiohttp
import orjson
from aiohttp import web

__all__ = ["PEER_QUERY", "create_app", "main"]

N: Final = 100
PEER_QUERY: Final = (
    f"{{ orders(first: {N}) {{ id quantity buyer {{ id name }} "
    "product { id name price seller { id name } } } }"
)
_ORDERS: Final = "query($n: Int!) { orders(first: $n) { id quantity buyerId productId } }"
_PRODUCTS: Final = "query($ids: [ID!]!) { productsByIds(ids: $ids) { id name price sellerId } }"

_URLS: Final = web.AppKey("urls", dict[str, str])
_HTTP: Final = web.AppKey("http", aiohttp.ClientSession)


async def _graphql(http: aiohttp.ClientSession, url: str, query: str, variables: dict[str, Any]) -> Any:
    body = orjson.dumps({"query": query, "variables": variables})
    async with http.post(url, data=body, headers={"content-type": "application/json"}) as response:
        return orjson.loads(await response.read())["data"]


async def _answer(request: web.Request) -> web.Response:
    urls = request.app[_URLS]
    http = request.app[_HTTP]
    orders = (await _graphql(http, urls["orders"], _ORDERS, {"n": N}))["orders"]
    product_ids = list(dict.fromkeys(o["productId"] for o in orders))
    products = (await _graphql(http, urls["catalog"], _PRODUCTS, {"ids": product_ids}))["productsByIds"]
    by_product = {p["id"]: p for p in products}
    account_ids = list(dict.fromkeys([o["buyerId"] for o in orders] + [p["sellerId"] for p in products]))
    async with http.get(urls["accounts"] + "/accounts", params={"ids": ",".join(account_ids)}) as response:
        accounts = {
            str(a["id"]): {"id": str(a["id"]), "name": a["name"]} for a in orjson.loads(await response.read())
        }
    data = [
        {
            "id": o["id"],
            "quantity": o["quantity"],
            "buyer": accounts.get(o["buyerId"]),
            "product": _product(by_product.get(o["productId"]), accounts),
        }
        for o in orders
    ]
    return web.Response(body=orjson.dumps({"data": {"orders": data}}), content_type="application/json")


def _product(product: Mapping[str, Any] | None, accounts: Mapping[str, Any]) -> dict[str, Any] | None:
    if product is None:
        return None
    return {
        "id": product["id"],
        "name": product["name"],
        "price": product["price"],
        "seller": accounts.get(product["sellerId"]),
    }


def create_app(urls: Mapping[str, str]) -> web.Application:
    """`urls`: orders' and catalog's GraphQL URLs, accounts' base URL."""
    app = web.Application()
    app[_URLS] = dict(urls)

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[_HTTP] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app[_HTTP].close()

    app.cleanup_ctx.append(session)
    app.router.add_post("/graphql", _answer)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__.splitlines()[0])
    for name in ("orders", "catalog", "accounts"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    async def serve() -> None:
        runner = web.AppRunner(create_app({n: getattr(args, n) for n in ("orders", "catalog", "accounts")}))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port)
        await site.start()
        port = runner.addresses[0][1]
        print(f"listening on http://127.0.0.1:{port}/graphql", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed, as `funnel serve` chooses (gateway.server.serving.event_loop_factory),
    written again here: importing the gateway would add its modules to the floor's memory, which is measured."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


if __name__ == "__main__":
    main()
