"""As an operator runs them: `funnel serve` with an `observability:` section (JSON request lines on stderr,
/metrics), and an example service started with `--trace console` printing its span under the caller's trace."""

from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
import orjson

from examples.services.cluster import Cluster
from tests.engine.conftest import EXAMPLE_SCHEMA
from tests.processes import start_child

FUNNEL = str(Path(sys.executable).with_name("funnel"))
TOKEN = "secret-token-123"


async def test_funnel_serve_logs_json_lines_and_serves_metrics(
    tmp_path: Path, cluster: Cluster, http: aiohttp.ClientSession
) -> None:
    config = tmp_path / "funnel.yaml"
    config.write_text(
        f"schema: {EXAMPLE_SCHEMA}\n"
        "services:\n"
        f"  accounts: {{url: '{cluster.urls['accounts']}', protocol: rest}}\n"
        f"  catalog: {{url: '{cluster.graphql_url('catalog')}', headers: {{forward: [authorization]}}}}\n"
        f"  orders: {{url: '{cluster.graphql_url('orders')}', headers: {{forward: [authorization]}}}}\n"
        f"  reviews: {{url: '{cluster.graphql_url('reviews')}'}}\n"
        "observability:\n"
        "  metrics: true\n"
        "  logging: {level: info, format: json}\n"
    )
    async with start_child(FUNNEL, "serve", "--config", str(config), "--port", "0") as child:
        line = await child.read_until("Funnel listening on ")
        url = line.split()[3]
        headers = {"authorization": f"Bearer {TOKEN}", "x-request-id": "cli-1"}
        query = {"query": "query Top { orders(first: 5) { id product { name } } }"}
        async with http.post(url, json=query, headers=headers) as response:
            assert response.status == 200 and response.headers["x-request-id"] == "cli-1"
        async with http.get(url.replace("/graphql", "/metrics")) as response:
            metrics = await response.text()
        assert 'funnel_requests_total{operation="Top",outcome="ok"} 1.0' in metrics
        assert await child.stop() == 0
        stderr = child.errors()
    lines = [orjson.loads(text) for text in stderr.splitlines() if text.startswith("{")]
    [request] = [entry for entry in lines if entry.get("logger") == "funnel.requests"]
    assert request["request_id"] == "cli-1" and request["operation"] == "Top" and request["calls"] == 2
    assert TOKEN not in stderr


async def test_an_example_service_traced_to_the_console_joins_the_callers_trace(
    http: aiohttp.ClientSession,
) -> None:
    trace_id, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    command = (sys.executable, "-m", "examples.services.catalog", "--port", "0", "--trace", "console")
    async with start_child(*command, cwd=Path(__file__).parents[2]) as child:
        url = (await child.read_until("catalog listening on ")).split()[3]
        headers = {"traceparent": f"00-{trace_id}-{caller}-01"}
        query = {"query": "{ product(id: 1) { name } }"}
        async with http.post(url + "/graphql", json=query, headers=headers) as response:
            assert response.status == 200
        await child.read_until(f'"trace_id": "0x{trace_id}"')
        await child.read_until(f'"parent_id": "0x{caller}"')
