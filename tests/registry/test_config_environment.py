"""registry.config from the environment: `${VAR}` and `${VAR:-default}` in the file, `FUNNEL_<SECTION>__<KEY>`
variables, the precedence flag > environment > file > default, and no value from the environment in a message.
The environment is passed as `environ=`: nothing here changes os.environ."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from registry.config import ServerConfig, parse_config
from registry.errors import ConfigError

from ..processes import start_child

FILE = "funnel.yaml"
SECRET = "s3cr3t-t0ken"
SCHEMA = Path(__file__).parents[2] / "examples" / "gateway.graphql"


def problems(text: str, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE, environ)
    return [str(problem) for problem in caught.value.problems]


def test_variables_fill_values_typed_as_the_yaml_would_type_them() -> None:
    text = (
        "services:\n"
        "  users:\n"
        "    url: ${USERS_URL}\n"
        "    timeout_ms: ${USERS_TIMEOUT_MS}\n"
        "  catalog:\n"
        "    url: http://${CATALOG_HOST}:4002/graphql\n"
        "server:\n"
        "  host: '${HOST}'\n"
        "  browser_page: ${PAGE}\n"
    )
    environ = {
        "USERS_URL": "http://users:4001/graphql",
        "USERS_TIMEOUT_MS": "250",
        "CATALOG_HOST": "catalog.internal",
        "HOST": "0.0.0.0",
        "PAGE": "false",
    }
    config = parse_config(text, FILE, environ)
    assert config.services["users"].url == "http://users:4001/graphql"
    assert config.services["users"].timeout_ms == 250
    assert config.services["catalog"].url == "http://catalog.internal:4002/graphql"
    assert config.server.host == "0.0.0.0"
    assert config.server.browser_page is False


def test_a_default_is_used_when_the_variable_is_unset_or_empty() -> None:
    text = "services:\n  a:\n    url: ${A_URL:-http://a:1/graphql}\n    max_batch: ${BATCH:-50}\n"
    assert parse_config(text, FILE, {}).services["a"].url == "http://a:1/graphql"
    config = parse_config(text, FILE, {"A_URL": "", "BATCH": "7"})
    assert (config.services["a"].url, config.services["a"].max_batch) == ("http://a:1/graphql", 7)


def test_a_quoted_value_stays_a_string() -> None:
    text = "services:\n  a:\n    url: http://a:1/graphql\nserver:\n  port: '${PORT}'\n"
    assert problems(text, {"PORT": "8080"}) == [
        "funnel.yaml:5: server.port: port must be a port number (0 to 65535), got '${PORT}' from the environment"
    ]


def test_an_unset_variable_is_named_with_its_line() -> None:
    text = "services:\n  users:\n    url: ${USERS_URL}\n  catalog:\n    url: ${CATALOG_URL:-http://c/graphql}\nserver:\n  port: ${PORT}\n"
    assert problems(text, {}) == [
        "funnel.yaml:3: services.users.url: the environment variable USERS_URL is not set (write ${USERS_URL:-default} to give it a default)",
        "funnel.yaml:7: server.port: the environment variable PORT is not set (write ${PORT:-default} to give it a default)",
    ]


def test_malformed_references_are_refused_and_a_doubled_dollar_is_literal() -> None:
    text = "services:\n  a:\n    url: http://a/${1X}\n  b:\n    url: http://b/${OPEN\n"
    assert problems(text, {}) == [
        "funnel.yaml:3: services.a.url: ${1X} is not a variable reference: write ${NAME} or ${NAME:-default} (and $${ for a literal ${)",
        "funnel.yaml:5: services.b.url: ${ is not a variable reference: write ${NAME} or ${NAME:-default} (and $${ for a literal ${)",
    ]
    config = parse_config("services:\n  a:\n    url: http://a/$${X}/graphql\n", FILE, {"X": "no"})
    assert config.services["a"].url == "http://a/${X}/graphql"


def test_a_value_from_the_environment_is_never_printed() -> None:
    text = "services:\n  a:\n    url: ${A_URL}\nredis:\n  url: ${REDIS_URL}\n"
    environ = {
        "A_URL": f"ftp://user:{SECRET}@a/graphql",
        "REDIS_URL": f"http://:{SECRET}@redis:6379",
        "FUNNEL_SERVICES__B__URL": f"nope://{SECRET}",
    }
    found = problems(text, environ)
    assert found == [
        "funnel.yaml:3: services.a.url: url must be an http(s) URL like http://host:port/path, got '${A_URL}' from the environment",
        "FUNNEL_SERVICES__B__URL: services.b.url: url must be an http(s) URL like http://host:port/path, got the value of FUNNEL_SERVICES__B__URL",
        "funnel.yaml:5: redis.url: url must be a Redis URL like redis://host:6379/0, got '${REDIS_URL}' from the environment",
    ]
    assert not any(SECRET in line for line in found)


SERVICES = "services:\n  catalog:\n    url: http://catalog:4002/graphql\n  user-api:\n    url: http://users:4001/graphql\n"


def test_funnel_variables_set_any_value_over_the_file() -> None:
    text = SERVICES + "server:\n  port: 4100\n  max_depth: 9\n"
    environ = {
        "FUNNEL_SERVER__PORT": "8080",
        "FUNNEL_BATCHING": "false",
        "FUNNEL_SERVICES__CATALOG__TIMEOUT_MS": "300",
        "FUNNEL_SERVICES__CATALOG__HEADERS__FORWARD": "[Authorization, X-Tenant]",
        "FUNNEL_SERVICES__USER_API__URL": "http://users.internal/graphql",  # `_` matches the `-` of user-api
        "FUNNEL_SERVICES__REVIEWS__URL": "http://reviews/graphql",  # a service the file does not have
        "FUNNEL_SERVICES__REVIEWS__RESILIENCE__RETRY__ATTEMPTS": "1",
        "FUNNEL_REDIS__URL": "redis://redis:6379/0",
        "FUNNEL_EXAMPLE_TRACE": "console",  # not a section of the file: another tool's, left alone
    }
    config = parse_config(text, FILE, environ)
    assert config.server.port == 8080
    assert config.server.max_depth == 9  # the file, where the environment says nothing
    assert config.batching is False
    assert config.services["catalog"].timeout_ms == 300
    assert config.services["catalog"].forward_headers == ("authorization", "x-tenant")
    assert config.services["user-api"].url == "http://users.internal/graphql"
    assert sorted(config.services) == ["catalog", "reviews", "user-api"]
    assert config.services["reviews"].resilience.retry.attempts == 1
    assert config.redis is not None and config.redis.url == "redis://redis:6379/0"


def test_precedence_environment_over_file_over_default() -> None:
    text = SERVICES + "server:\n  port: 4100\n"
    assert parse_config(SERVICES, FILE, {}).server.port == ServerConfig().port == 4000
    assert parse_config(text, FILE, {}).server.port == 4100
    assert parse_config(text, FILE, {"FUNNEL_SERVER__PORT": "4200"}).server.port == 4200


def test_a_wrong_funnel_variable_is_named() -> None:
    environ = {
        "FUNNEL_OBSERVABILITY__LOGGING__LEVELS": "debug",
        "FUNNEL_SERVER__MAX_DEPTH": "deep",
        "FUNNEL_SERVICES__NEW__TIMEOUT_MS": "5",
        "FUNNEL_SERVER____PORT": "1",
        "FUNNEL_SERVICES__CATALOG__HEADERS__FORWARD": "[unclosed",
    }
    assert problems(SERVICES, environ) == [
        "FUNNEL_SERVER____PORT: an empty name between '__' separators",
        "FUNNEL_SERVICES__CATALOG__HEADERS__FORWARD: its value starts like YAML flow syntax ([...] or {...}) but is not",
    ]
    del environ["FUNNEL_SERVER____PORT"], environ["FUNNEL_SERVICES__CATALOG__HEADERS__FORWARD"]
    assert problems(SERVICES, environ) == [
        "FUNNEL_SERVICES__NEW__TIMEOUT_MS: services.new: missing required key 'url'",
        "FUNNEL_OBSERVABILITY__LOGGING__LEVELS: observability.logging.levels: unknown key 'levels' (allowed: format, level)",
        "FUNNEL_SERVER__MAX_DEPTH: server.max_depth: max_depth must be a positive integer, got the value of FUNNEL_SERVER__MAX_DEPTH",
    ]


async def test_a_flag_wins_over_the_environment(tmp_path: Path) -> None:
    """`funnel serve --port 0` with FUNNEL_SERVER__PORT naming a port that is taken: the flag decides."""
    (tmp_path / FILE).write_text(
        f"schema: {SCHEMA}\n"
        "services:\n"
        "  accounts: {url: 'http://127.0.0.1:9/', protocol: rest}\n"
        "  catalog: {url: 'http://127.0.0.1:9/graphql'}\n"
        "  orders: {url: 'http://127.0.0.1:9/graphql'}\n"
        "  reviews: {url: 'http://127.0.0.1:9/graphql'}\n"
        "server:\n  port: 0\n"
    )
    funnel = str(Path(sys.executable).with_name("funnel"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"FUNNEL_SERVER__PORT": str(port)}
        async with start_child(funnel, "serve", cwd=tmp_path, env=env) as child:
            assert await child.exit_code() == 1  # the environment over the file's port 0
            assert child.errors() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
        async with start_child(funnel, "serve", "--port", "0", cwd=tmp_path, env=env) as child:
            line = await child.read_until("Funnel listening on ")
            assert f":{port}/" not in line
            assert await child.stop() == 0
