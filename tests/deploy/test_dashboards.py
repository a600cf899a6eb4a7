"""The Grafana dashboard and the Prometheus alert rules under deploy/ read only series that exist: every PromQL
expression is parsed (promql-parser), and every selector in it must find its metric — with the label values it
asks for by `=` — in the /metrics of a real `funnel serve` after a little traffic, with one worker and with two
(where the exposition is the sum of the workers' files)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from examples.services.cluster import Cluster

from ..processes import start_child
from ..server.conftest import cluster_config

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "funnel-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
FUNNEL = str(Path(sys.executable).with_name("funnel"))
QUERIES = [
    "{ orders(first: 5) { id buyer { name } product { name reviews { rating } } } }",
    "{ product(id: 1) { name } }",
    "{ nope }",  # invalid: an outcome of its own
]
Selector = tuple[str, dict[str, str], set[str]]  # metric, labels asked for with `=`, labels matched otherwise


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def alert_expressions() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def selectors(expression: str) -> Iterator[Selector]:
    # Grafana's $__rate_interval is not PromQL: Grafana puts a duration there.
    parsed = promql_parser.parse(expression.replace("$__rate_interval", "5m"))
    found: list[Selector] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            equal = {m.name: m.value for m in node.matchers.matchers if m.op == promql_parser.MatchOp.Equal}
            other = {m.name for m in node.matchers.matchers if m.op != promql_parser.MatchOp.Equal}
            assert node.name, f"a selector without a metric name in {expression}"
            found.append((node.name, equal, other))

    promql_parser.walk(parsed, visit)
    assert found, f"no series in {expression}"
    return iter(found)


def test_the_dashboard_and_the_rules_cover_what_matters() -> None:
    read = {name for e in dashboard_expressions() for name, _, _ in selectors(e)}
    for wanted in (
        "funnel_requests_total",
        "funnel_request_duration_seconds_bucket",
        "funnel_downstream_calls_total",
        "funnel_downstream_keys_requested_total",
        "funnel_downstream_batch_keys_bucket",
        "funnel_circuit_breaker_state",
        "funnel_cache_hits_total",
    ):
        assert wanted in read
    alerts = {
        rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    }
    assert alerts == {
        "FunnelCircuitBreakerOpen",
        "FunnelHighErrorRate",
        "FunnelDownstreamErrors",
        "FunnelShedding",
        "FunnelSchemaReloadRefused",
    }


def live_series(text: str) -> dict[str, list[dict[str, str]]]:
    """sample name -> the label sets it is exposed with."""
    series: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series.setdefault(sample.name, []).append(sample.labels)
    return series


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_every_series_queried_exists_in_a_live_metrics(
    tmp_path: Path, cluster: Cluster, workers: str
) -> None:
    config = tmp_path / "funnel.yaml"
    config.write_text(
        cluster_config(cluster, f"  port: 0\n  workers: {workers}\n", "observability:\n  metrics: true\n")
    )
    async with start_child(FUNNEL, "serve", "--config", str(config)) as child:
        url = (await child.read_until("Funnel listening on ")).split()[3].removesuffix("/graphql")
        for query in QUERIES * 3:
            async with aiohttp.ClientSession() as http, http.post(url + "/graphql", json={"query": query}):
                pass
        async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
            assert response.status == 200
            series = live_series(await response.text())
        await child.stop()

    missing = []
    for expression in dashboard_expressions() + alert_expressions():
        for name, equal, other in selectors(expression):
            label_sets = series.get(name, [])
            if not any(labels.items() >= equal.items() for labels in label_sets):
                one_line = " ".join(expression.split())
                missing.append(f"{name}{equal or ''} (in {one_line})")
            elif not all(any(label in labels for labels in label_sets) for label in other):
                missing.append(f"{name}: no series has the labels {sorted(other)}")
    assert missing == []
