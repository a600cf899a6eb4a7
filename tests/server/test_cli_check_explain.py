"""`funnel check` (every problem at once, exit 1; one OK line, exit 0) and `funnel explain` (the plan, no calls)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"


def ok_line(config: str) -> str:
    """What `funnel check` prints for the example configuration, named as `config`."""
    sdl = (EXAMPLES / "gateway.graphql").read_text()
    fields = sdl.count("@remote(") + sdl.count("@batch(")
    return f"OK: {config} (schema gateway.graphql, 4 services, {fields} annotated fields)\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_ok(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES)
    assert run(capsys, "check", "--offline", "--config", "funnel.yaml") == (0, ok_line("funnel.yaml"), "")


def test_check_reports_every_config_problem_at_once(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    (workdir / "funnel.yaml").write_text(
        "schema: gateway.graphql\n"
        "batching: maybe\n"
        "services:\n"
        "  catalog:\n"
        "    url: catalog:4002\n"
        "    timeout_ms: -1\n"
        "  orders:\n"
        "    max_batch: 10\n"
        "server:\n"
        "  max_depth: 0\n"
        "  worker: 4\n"
    )
    assert run(capsys, "check", "--config", "funnel.yaml") == (
        1,
        "",
        "funnel.yaml:2: batching: batching must be true or false, got 'maybe'\n"
        "funnel.yaml:5: services.catalog.url: url must be an http(s) URL like http://host:port/path, got 'catalog:4002'\n"
        "funnel.yaml:6: services.catalog.timeout_ms: timeout_ms must be a positive integer, got -1\n"
        "funnel.yaml:7: services.orders: missing required key 'url'\n"
        "funnel.yaml:10: server.max_depth: max_depth must be a positive integer, got 0\n"
        "funnel.yaml:11: server.worker: unknown key 'worker' (allowed: batching_header, body_timeout_ms, browser_page, csrf_prevention, "
        "csrf_required_headers, debug_access, debug_plan, default_list_size, document_cache_bytes, "
        "drain_ms, header_timeout_ms, host, introspection, max_aliases, max_body_bytes, "
        "max_connections_per_address, max_cost, max_depth, max_response_bytes, max_root_fields, "
        "max_tokens, port, schema_poll_ms, shutdown_timeout_ms, watch_ms, workers)\n"
        "6 problems in funnel.yaml\n",
    )


def test_check_reports_every_annotation_problem_at_once(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    (workdir / "funnel.yaml").write_text(
        "schema: schema.graphql\n"
        "services:\n"
        "  catalog:\n"
        "    url: http://127.0.0.1:1/graphql\n"
        "  accounts:\n"
        "    url: http://127.0.0.1:1\n"
        "    protocol: rest\n"
    )
    (workdir / "schema.graphql").write_text(
        "type Query {\n"
        '  orders: [Order!]! @remote(service: "order")\n'
        '  account(id: ID!): Account @remote(service: "accounts", path: "/accounts/{accountId}")\n'
        "}\n"
        "type Order {\n"
        "  id: ID!\n"
        '  product: Product @batch(service: "catalog", key: "productId", field: "productsByIds", path: "/p")\n'
        '  buyer: Account @batch(service: "accounts", key: "buyerId", field: "accountsByIds")\n'
        "}\n"
        "type Product { id: ID! }\n"
        "type Account { id: ID! }\n"
    )
    schema = workdir / "schema.graphql"
    assert run(capsys, "check", "--config", "funnel.yaml") == (
        1,
        "",
        f"{schema}:2: Query.orders: unknown service 'order' (known: accounts, catalog)\n"
        f"{schema}:3: Query.account: @remote(path:) placeholder {{accountId}} is not an argument (arguments: id)\n"
        f"{schema}:7: Order.product: @batch: exactly one of field, entity, path is required (got field, path)\n"
        f"{schema}:7: Order.product: @batch(path:) needs a rest service; 'catalog' is graphql\n"
        f"{schema}:7: Order.product: key 'productId': Order has no field 'productId'\n"
        f"{schema}:8: Order.buyer: @batch(field:) needs a graphql service; 'accounts' is rest\n"
        f"{schema}:8: Order.buyer: key 'buyerId': Order has no field 'buyerId'\n"
        "7 problems in funnel.yaml\n",
    )


def test_check_missing_files(capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
    assert run(capsys, "check", "--config", "nope.yaml") == (
        1,
        "",
        "nope.yaml: cannot read the config file: No such file or directory\n1 problem in nope.yaml\n",
    )
    (workdir / "funnel.yaml").write_text("schema: gone.graphql\nservices:\n  a:\n    url: http://a\n")
    assert run(capsys, "check") == (
        1,
        "",
        f"funnel.yaml:1: schema: cannot read the schema file {workdir / 'gone.graphql'}: No such file or directory\n"
        "1 problem in funnel.yaml\n",
    )


EXPLAINED = """\
Plan (query)
  level 0
    #0 orders query
      { orders__1: orders(first: 3) { productId buyerId } }
  level 1
    #1 catalog Order.product ← productsByIds(ids:) after #0
      keys orders__1 → productId
      b1: productsByIds(ids: $k1) { id name }
    #3 accounts Order.buyer ← GET /accounts?ids= after #0
      keys orders__1 → buyerId
      { id name }
  level 2
    #2 reviews Product.reviews ← _entities(Product) select reviews after #1
      keys orders__1.product → id
      b2: _entities(representations: $k2) { ... on Product { reviews { rating } } }
"""


def test_explain_prints_the_plan_without_calling_anything(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    # examples/funnel.yaml points at 127.0.0.1:4001-4004, where nothing need run: explain calls no service.
    (workdir / "query.graphql").write_text(
        "{ orders(first: 3) { product { name reviews { rating } } buyer { name } } }"
    )
    config = str(EXAMPLES / "funnel.yaml")
    assert run(capsys, "explain", "--config", config, "query.graphql") == (0, EXPLAINED, "")


def test_explain_with_operation_and_variables(capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
    (workdir / "q.graphql").write_text(
        "query A { __typename }\n"
        "query B($withBuyer: Boolean!) { orders(first: 2) { id buyer @include(if: $withBuyer) { name } } }\n"
    )

    def explain_b(variables: str) -> tuple[int, str, str]:
        config = str(EXAMPLES / "funnel.yaml")
        return run(
            capsys, "explain", "--config", config, "q.graphql", "--operation", "B", "--variables", variables
        )

    assert explain_b('{"withBuyer": false}') == (
        0,
        "Plan (query)\n  level 0\n    #0 orders query\n      { orders__1: orders(first: 2) { id } }\n",
        "",
    )
    assert explain_b('{"withBuyer": true}') == (
        0,
        "Plan (query)\n"
        "  level 0\n"
        "    #0 orders query\n"
        "      { orders__1: orders(first: 2) { id buyerId } }\n"
        "  level 1\n"
        "    #1 accounts Order.buyer ← GET /accounts?ids= after #0\n"
        "      keys orders__1 → buyerId\n"
        "      { id name }\n",
        "",
    )


@pytest.mark.parametrize(
    ("query", "extra", "message"),
    [
        ("{ nope }", [], "q.graphql:1:3: Cannot query field 'nope' on type 'Query'.\n"),
        ("{ orders(first: 1) { id }\n", [], "q.graphql:2:1: Syntax Error: Expected Name, found <EOF>.\n"),
        ("query A { __typename }", ["--operation", "B"], "q.graphql: Unknown operation named 'B'.\n"),
        ("{ __typename }", ["--variables", "[1]"], "error: --variables must be a JSON object\n"),
        (
            "{ __typename }",
            ["--variables", "{"],
            "error: --variables must be a JSON object, got invalid JSON\n",
        ),
    ],
)
def test_explain_errors(
    capsys: pytest.CaptureFixture[str], workdir: Path, query: str, extra: list[str], message: str
) -> None:
    (workdir / "q.graphql").write_text(query)
    assert run(capsys, "explain", "--config", str(EXAMPLES / "funnel.yaml"), "q.graphql", *extra) == (
        1,
        "",
        message,
    )


def test_explain_missing_query_file(capsys: pytest.CaptureFixture[str], workdir: Path) -> None:
    assert run(capsys, "explain", "--config", str(EXAMPLES / "funnel.yaml"), "missing.graphql") == (
        1,
        "",
        "error: cannot read missing.graphql: No such file or directory\n",
    )


def test_the_command_runs_as_funnel_and_as_python_m_gateway() -> None:
    funnel = Path(sys.executable).with_name("funnel")
    for command in ([str(funnel)], [sys.executable, "-m", "gateway"]):
        result = subprocess.run(
            [*command, "check", "--offline", "--config", "examples/funnel.yaml"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stdout, result.stderr) == (0, ok_line("examples/funnel.yaml"), "")


def test_no_command_prints_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: funnel [-h] COMMAND ...")
    for command in ("serve", "demo", "explain", "check"):
        assert f"\n    {command} " in err


def test_serve_help_says_the_config_decides_host_and_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal's width
    assert "(default: the config's server.port, 4000 when unset)" in text
    assert "(default: the config's server.host, 127.0.0.1 when unset)" in text
    assert "(default: 4000)" not in text
