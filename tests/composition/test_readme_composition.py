"""README.md's section on composition shows what the code does: its config composes (against the example
services), and the `funnel diff` it shows is the command's output, word for word."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from examples.services.accounts import OPENAPI_FILE
from examples.services.cluster import Cluster
from gateway.cli import main
from gateway.composition import compose

from .conftest import COMPOSED, ROOT, on_cluster, write_config

SECTION = (
    (ROOT / "README.md").read_text().split("## The schema from the services\n", 1)[1].split("\n## ", 1)[0]
)


def block(kind: str) -> str:
    (found,) = re.findall(rf"```{kind}\n(.*?)```", SECTION, re.DOTALL)
    return found


async def test_the_readme_config_composes(tmp_path: Path, cluster: Cluster) -> None:
    folder = tmp_path / "composed"
    folder.mkdir()
    (tmp_path / "services").mkdir()
    shutil.copy(OPENAPI_FILE, tmp_path / "services")
    config = write_config(
        folder, block("yaml"), **{"links.graphql": (COMPOSED / "links.graphql").read_text()}
    )
    sdl = (await compose(on_cluster(config, cluster))).sdl
    mutation = sdl[sdl.index("type Mutation {") : sdl.index("}", sdl.index("type Mutation {")) + 1]
    assert mutation == (
        "type Mutation {\n"
        '  order(buyerId: ID!, productId: ID!, quantity: Int!): Order! @remote(service: "orders", field: "placeOrder")\n'
        '  updatePrice(productId: ID!, price: Float!): Product! @remote(service: "catalog")\n'
        "}"
    )


async def test_the_readme_diff_is_the_command_s_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    command, *output = block("console").splitlines()
    prompt = "$ .venv/bin/funnel "
    assert command.startswith(prompt)
    monkeypatch.chdir(ROOT)
    assert await asyncio.to_thread(main, command[len(prompt) :].split()) == 0
    assert capsys.readouterr().out.splitlines() == output
