"""The composition keys of the config: `compose` and `schema_lock` at the top; `schema_file`, `openapi` and
`expose` per service; each checked, and refused at its line where it cannot apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.bindings import SourceLocation
from registry.config import ExposedField, load_config

from .test_config_loading import problems_of

COMPOSED = """\
compose: true
schema: links.graphql
schema_lock: locks/gateway.lock.graphql
services:
  catalog:
    url: http://127.0.0.1:4002/graphql
    schema_file: catalog.graphql
    expose:
      - products
      - {shelves: productShelves}
  accounts:
    url: http://127.0.0.1:4001
    protocol: rest
    openapi: api/accounts.yaml
  remote:
    url: http://127.0.0.1:4003
    protocol: rest
    openapi: https://docs.example.com/openapi.json
"""


def test_composition_keys_are_read(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(COMPOSED)
    config = load_config(tmp_path / "gateway.yaml")
    assert (config.compose, config.schema_path, config.schema_lock) == (
        True,
        str(tmp_path / "links.graphql"),
        str(tmp_path / "locks" / "gateway.lock.graphql"),
    )
    catalog = config.services["catalog"]
    assert catalog.schema_file == str(tmp_path / "catalog.graphql")
    where = str(tmp_path / "gateway.yaml")
    assert catalog.expose == (
        ExposedField("products", "products", SourceLocation(where, 9)),
        ExposedField("shelves", "productShelves", SourceLocation(where, 10)),
    )
    assert config.services["accounts"].openapi == str(tmp_path / "api" / "accounts.yaml")
    assert config.services["remote"].openapi == "https://docs.example.com/openapi.json"  # a URL as it is
    assert (config.services["accounts"].expose, config.services["accounts"].schema_file) == (None, None)


def test_defaults_compose_nothing(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(
        "schema: s.graphql\nservices:\n  a:\n    url: http://127.0.0.1:1\n"
    )
    config = load_config(tmp_path / "gateway.yaml")
    assert (config.compose, config.schema_lock) == (False, None)
    assert (config.services["a"].schema_file, config.services["a"].openapi, config.services["a"].expose) == (
        None,
        None,
        None,
    )


def test_keys_that_cannot_apply_are_refused_at_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        COMPOSED.replace("compose: true\n", "")
        .replace(
            "    schema_file: catalog.graphql\n", "    schema_file: catalog.graphql\n    openapi: c.yaml\n"
        )
        .replace("    openapi: api/accounts.yaml\n", "    openapi: api/accounts.yaml\n    expose: [a]\n")
    )
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:2: schema_lock: schema_lock is the lock of a composed schema: add `compose: true`",
        "gateway.yaml:6: services.catalog.schema_file: schema_file is only used when the schema is composed: "
        "add `compose: true`",
        "gateway.yaml:7: services.catalog.openapi: openapi is for rest services; 'catalog' is graphql",
        "gateway.yaml:8: services.catalog.expose: expose is only used when the schema is composed: add `compose: true`",
        "gateway.yaml:15: services.accounts.expose: expose is for graphql services; 'accounts' is rest",
    ]


def test_expose_entries_are_names_or_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = COMPOSED.replace(
        "      - {shelves: productShelves}\n",
        "      - {shelves: productShelves}\n      - {a: b, c: d}\n      - 12\n      - products\n      - {x: my-field}\n",
    )
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:11: services.catalog.expose[2]: expose[2] must be a root field name or {field: new_name} "
        "(GraphQL names), got a mapping",
        "gateway.yaml:12: services.catalog.expose[3]: expose[3] must be a root field name or {field: new_name} "
        "(GraphQL names), got 12",
        "gateway.yaml:14: services.catalog.expose[5]: expose[5] must be a root field name or {field: new_name} "
        "(GraphQL names), got a mapping",
    ]
    text = COMPOSED.replace(
        "      - {shelves: productShelves}\n",
        "      - {shelves: productShelves}\n      - {items: products}\n",
    )
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:11: services.catalog.expose[2]: 'products' is exposed twice (first at line 9)"
    ]


def test_an_openapi_url_that_is_not_http_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = COMPOSED.replace("https://docs.example.com/openapi.json", "http://")
    assert problems_of(tmp_path, monkeypatch, text) == [
        "gateway.yaml:18: services.remote.openapi: openapi must be a file name or an http(s) URL like "
        "http://host:port/path, got 'http://'"
    ]
