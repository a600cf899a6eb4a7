"""`funnel compose` writes the lock, `funnel check` says whether it is still what the services compose, and
`funnel serve` serves the lock without calling any service at start-up, or composes at start-up without one."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import aiohttp
import pytest

from examples.services.accounts import OPENAPI_FILE, seed_accounts
from examples.services.catalog import seed_products
from examples.services.cluster import Cluster
from examples.services.reviews import seed_reviews
from gateway.cli import main

from ..processes import start_child
from .conftest import COMPOSED

FUNNEL = str(Path(sys.executable).with_name("funnel"))
LOCK = (COMPOSED / "gateway.lock.graphql").read_text()
QUERY = {"query": '{ product(id: "7") { name seller { name } reviews { rating } } }'}


@pytest.fixture
def composed_dir(tmp_path: Path, cluster: Cluster) -> Path:
    """A copy of examples/composed whose services are the cluster's, with port 0 for the gateway."""
    folder = tmp_path / "composed"
    shutil.copytree(COMPOSED, folder)
    (tmp_path / "services").mkdir()
    shutil.copy(OPENAPI_FILE, tmp_path / "services")
    text = (folder / "funnel.yaml").read_text()
    # In one pass: a port the cluster got may begin like an example port still to be replaced (40031).
    example = {
        f"http://127.0.0.1:{4001 + i}": name
        for i, name in enumerate(("accounts", "catalog", "orders", "reviews"))
    }
    text = re.sub(r"http://127\.0\.0\.1:400[1-4]\b", lambda m: cluster.urls[example[m[0]]], text)
    (folder / "funnel.yaml").write_text(text + "server:\n  port: 0\n")
    return folder


async def funnel(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command run in a thread: it composes with asyncio.run, while this loop serves the cluster."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_compose_writes_the_lock_and_check_says_it_is_up_to_date(
    composed_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(composed_dir)
    (composed_dir / "gateway.lock.graphql").unlink()
    assert await funnel(capsys, "compose", "--config", "funnel.yaml") == (
        0,
        f"wrote {composed_dir / 'gateway.lock.graphql'} (composed from 4 services)\n",
        "",
    )
    assert (composed_dir / "gateway.lock.graphql").read_text() == LOCK
    assert await funnel(capsys, "compose", "--config", "funnel.yaml") == (
        0,
        f"unchanged {composed_dir / 'gateway.lock.graphql'} (composed from 4 services)\n",
        "",
    )
    assert await funnel(capsys, "compose", "--config", "funnel.yaml", "--out", "-") == (0, LOCK, "")
    assert await funnel(capsys, "check", "--config", "funnel.yaml") == (
        0,
        "OK: funnel.yaml (composed, lock gateway.lock.graphql up to date, 4 services, 13 annotated fields; checked against catalog, orders, reviews)\n",
        "",
    )


async def test_check_reports_a_lock_the_services_no_longer_compose(
    composed_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(composed_dir)
    (composed_dir / "gateway.lock.graphql").write_text(LOCK.replace("  price: Float!  # catalog\n", ""))
    assert await funnel(capsys, "check", "--config", "funnel.yaml") == (
        1,
        "",
        f"{composed_dir / 'gateway.lock.graphql'}: the services now compose another schema than this lock: "
        "1 change (safe: Field Product.price was added.); run `funnel compose`\n"
        "1 problem in funnel.yaml\n",
    )


async def test_compose_refuses_a_config_that_does_not_compose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "funnel.yaml"
    config.write_text("schema: schema.graphql\nservices:\n  a:\n    url: http://127.0.0.1:9/graphql\n")
    assert await funnel(capsys, "compose", "--config", str(config)) == (
        1,
        "",
        f"{config}: the config does not compose its schema (add `compose: true`)\n1 problem in {config}\n",
    )


@pytest.mark.parametrize("with_lock", [True, False], ids=["lock", "live"])
async def test_serve_from_the_lock_calls_no_service_at_start_up(
    composed_dir: Path, cluster: Cluster, http: aiohttp.ClientSession, with_lock: bool
) -> None:
    config = composed_dir / "funnel.yaml"
    if not with_lock:
        config.write_text(config.read_text().replace("schema_lock: gateway.lock.graphql\n", ""))
    await cluster.reset_stats()
    async with start_child(FUNNEL, "serve", "--config", str(config)) as child:
        url = (await child.read_until("Funnel listening on ")).split()[3]
        at_start = {name: (await cluster.stats(name))["requests"] for name in cluster.urls}
        # Composing asks each GraphQL service for its schema, and the Federation subgraph for its SDL too;
        # accounts' document is a file.
        assert at_start == (
            {name: 0 for name in cluster.urls}
            if with_lock
            else {"accounts": 0, "catalog": 1, "orders": 1, "reviews": 2}
        )
        async with http.post(url, json=QUERY) as response:
            assert response.status == 200
            body = await response.json()
        assert await child.stop() == 0
    assert body == {"data": {"product": expected_product(7)}}


def expected_product(product_id: int) -> dict[str, object]:
    """What QUERY answers, from the services' seeded rows."""
    _, name, _, seller = seed_products()[product_id - 1]
    ratings = [{"rating": rating} for _, product, rating, _, _ in seed_reviews() if product == product_id]
    return {"name": name, "seller": {"name": seed_accounts()[seller - 1][1]}, "reviews": ratings}
