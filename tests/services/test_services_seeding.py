"""Each service's SQLite file: deterministic seeding, reuse of an existing file, a database without a path in memory."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from aiohttp import web

from examples.services import accounts, catalog, orders, reviews
from examples.services.common import DB_KEY

FACTORIES: dict[str, Callable[..., web.Application]] = {
    "accounts": accounts.create_app,
    "catalog": catalog.create_app,
    "orders": orders.create_app,
    "reviews": reviews.create_app,
}
TABLES = {"accounts": "accounts", "catalog": "products", "orders": "orders", "reviews": "reviews"}


def seeded_dump(name: str, path: Path) -> list[str]:
    database = FACTORIES[name](db_path=str(path))[DB_KEY]
    database.open()
    database.close()
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_two_fresh_databases_are_identical(name: str, tmp_path: Path) -> None:
    first = seeded_dump(name, tmp_path / "first.sqlite3")
    second = seeded_dump(name, tmp_path / "second.sqlite3")
    assert first == second
    assert sum(line.startswith(f'INSERT INTO "{TABLES[name]}"') for line in first) > 0


def test_row_counts(tmp_path: Path) -> None:
    counts = {}
    for name, table in TABLES.items():
        database = FACTORIES[name](db_path=str(tmp_path / f"{name}.sqlite3"))[DB_KEY]
        counts[name] = database.open().execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]
        database.close()
    assert counts == {
        "accounts": 1000,
        "catalog": 500,
        "orders": 10_000,
        "reviews": len(reviews.seed_reviews()),
    }


def test_seeding_ten_thousand_orders_is_fast(tmp_path: Path) -> None:
    orders.seed_orders.cache_clear()  # include generating the rows, not only inserting them
    database = orders.create_app(db_path=str(tmp_path / "orders.sqlite3"))[DB_KEY]
    start = time.perf_counter()
    database.open()
    elapsed = time.perf_counter() - start
    database.close()
    assert elapsed < 1.0


def test_an_existing_database_is_reused_not_reseeded(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    database = catalog.create_app(db_path=str(path))[DB_KEY]
    database.open().execute("UPDATE products SET price = 1.5 WHERE id = 1")
    database.close()
    again = catalog.create_app(db_path=str(path))[DB_KEY]
    assert again.open().execute("SELECT price FROM products WHERE id = 1").fetchone() == {"price": 1.5}
    again.close()
    assert path.exists()


def test_a_database_without_a_path_lives_in_memory(tmp_path: Path) -> None:
    database = accounts.create_app()[DB_KEY]
    conn = database.open()
    try:
        assert conn.execute("PRAGMA database_list").fetchall() == [{"seq": 0, "name": "main", "file": ""}]
        assert conn.execute("SELECT count(*) AS n FROM accounts").fetchone() == {"n": 1000}
    finally:
        database.close()
    assert database.path is None
