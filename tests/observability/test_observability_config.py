"""The `observability:` section: its keys and checks (with line numbers), and what happens at start-up when a
feature is on but its package is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from gateway.gateway import Gateway
from gateway.observability import Observability
from gateway.observability.tracing import span_exporter
from registry.bindings import SourceLocation
from registry.config import LoggingConfig, ObservabilityConfig, TracingConfig, parse_config
from registry.errors import ConfigError
from tests.engine.conftest import EXAMPLE_SCHEMA

EXAMPLE_SERVICES = ("accounts", "catalog", "orders", "reviews")
SERVICES = """\
services:
  catalog:
    url: http://catalog:4002/graphql
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "funnel.yaml")
    return [str(p) for p in raised.value.problems]


def test_everything_is_off_without_the_section() -> None:
    config = parse_config(SERVICES, "funnel.yaml").observability
    assert config == ObservabilityConfig()
    assert (config.metrics, config.tracing.exporter, config.logging, config.active) == (
        False,
        "none",
        None,
        False,
    )


def test_the_section_read_whole() -> None:
    text = (
        SERVICES
        + """\
observability:
  metrics: true
  tracing:
    exporter: otlp
    endpoint: http://collector:4318/v1/traces
    service_name: shop-gateway
  logging:
    level: warning
    format: text
"""
    )
    config = parse_config(text, "funnel.yaml").observability
    assert config == ObservabilityConfig(
        metrics=True,
        tracing=TracingConfig("otlp", "http://collector:4318/v1/traces", "shop-gateway"),
        logging=LoggingConfig("warning", "text"),
        location=SourceLocation("funnel.yaml", 4),
    )
    assert config.active


def test_an_empty_logging_section_turns_request_logs_on_with_the_defaults() -> None:
    config = parse_config(SERVICES + "observability:\n  logging:\n", "funnel.yaml").observability
    assert config.logging == LoggingConfig("info", "json") and config.active


def test_every_problem_is_reported_with_its_line() -> None:
    text = (
        SERVICES
        + """\
observability:
  metrics: yes please
  tracing:
    exporter: jaeger
    sample: 0.5
  logging:
    level: loud
    format: xml
  profiling: true
"""
    )
    assert problems(text) == [
        "funnel.yaml:5: observability.metrics: metrics must be true or false, got 'yes please'",
        "funnel.yaml:7: observability.tracing.exporter: exporter must be one of none, console, otlp, got 'jaeger'",
        "funnel.yaml:8: observability.tracing.sample: unknown key 'sample' (allowed: endpoint, exporter, service_name)",
        "funnel.yaml:10: observability.logging.level: level must be one of debug, info, warning, error, got 'loud'",
        "funnel.yaml:11: observability.logging.format: format must be one of json, text, got 'xml'",
        "funnel.yaml:12: observability.profiling: unknown key 'profiling' (allowed: logging, metrics, tracing)",
    ]


def test_an_endpoint_needs_the_otlp_exporter() -> None:
    text = (
        SERVICES + "observability:\n  tracing:\n    exporter: console\n    endpoint: http://collector:4318\n"
    )
    assert problems(text) == [
        "funnel.yaml:5: observability.tracing: endpoint is only used by the otlp exporter (add `exporter: otlp`)"
    ]


def test_the_exporters() -> None:
    otlp = span_exporter(TracingConfig("otlp", "http://collector:4318/v1/traces"))
    assert isinstance(otlp, OTLPSpanExporter) and otlp._endpoint == "http://collector:4318/v1/traces"
    assert isinstance(span_exporter(TracingConfig("console")), ConsoleSpanExporter)
    otlp.shutdown()


def write_config(tmp_path: Path, observability: str) -> Path:
    path = tmp_path / "funnel.yaml"
    services = "".join(
        f"  {name}: {{url: 'http://{name}:4000/graphql', protocol: {'rest' if name == 'accounts' else 'graphql'}}}\n"
        for name in EXAMPLE_SERVICES
    )
    path.write_text(f"schema: {EXAMPLE_SCHEMA}\n" + observability + "services:\n" + services)
    return path


@pytest.mark.parametrize(
    ("section", "missing", "message"),
    [
        (
            "  metrics: true\n",
            "prometheus_client",
            'observability.metrics is on but prometheus-client is not installed: pip install -e ".[metrics]" in the checkout, or pip install prometheus-client',
        ),
        (
            "  tracing: {exporter: console}\n",
            "opentelemetry.sdk.trace",
            "observability.tracing.exporter is console but opentelemetry-sdk is not installed: "
            'pip install -e ".[tracing]" in the checkout, or pip install opentelemetry-sdk',
        ),
        (
            "  tracing: {exporter: otlp}\n",
            "opentelemetry.exporter.otlp.proto.http.trace_exporter",
            "observability.tracing.exporter is otlp but opentelemetry-exporter-otlp-proto-http is not installed: "
            'pip install -e ".[otlp]" in the checkout, or pip install opentelemetry-exporter-otlp-proto-http',
        ),
    ],
    ids=["metrics", "tracing", "otlp"],
)
def test_a_feature_on_without_its_package_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, missing: str, message: str
) -> None:
    config = write_config(tmp_path, "observability:\n" + section)
    monkeypatch.setitem(sys.modules, missing, None)  # what `import` finds for a package that is not there
    gateway = Gateway.from_config(config)
    with pytest.raises(ConfigError) as raised:
        gateway.freeze()
    assert [str(p) for p in raised.value.problems] == [f"{config}:2: {message}"]


def test_features_off_need_no_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("prometheus_client", "opentelemetry.sdk.trace"):
        monkeypatch.setitem(sys.modules, module, None)
    observability = Observability(ObservabilityConfig(logging=LoggingConfig()))
    assert observability.metrics is None and observability.tracing is None and observability.logs is not None
    assert Observability().hooks is None and not Observability().active
